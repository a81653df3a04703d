/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/history.h: the renames and gid moves a write makes, kept
 * in store.json (storefile.h: each organization's history, the last
 * MK_STOREFILE_HISTORY_MAX) so that what the write warned of once can be
 * shown later (`mkio-orgs explain`, `status`).
 *
 * The write takes a snapshot of every organization's group before the
 * policy runs (mk_policy_drop_unfit, mk_policy_assign: grouppolicy.h) and
 * compares after: an organization that had a group and now has another
 * name, another gid or none gets an event, its reason the policy's last
 * note about that organization, in words. Cheap at any store size: a pointer and
 * a gid per organization, names compared only where the pointer or the gid
 * changed.
 *
 * Error convention: 0 or -ENOMEM.
 */
#ifndef MK_HISTORY_H
#define MK_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/grouppolicy.h"
#include "store/storefile.h"

struct mk_history_snapshot {
    const char **group;  /* indexed like s->orgs; NULL: none */
    gid_t *gid;
    char **owned;        /* copies of names that the policy might free */
    size_t owned_count;
    size_t n;
};

/* What every organization of s has now. s->orgs must not be added to or
 * reordered before mk_history_record. */
int mk_history_snapshot_take(const struct mk_storefile *s, struct mk_history_snapshot *snap);

/* An event at now for every organization whose group changed since snap
 * (see above), its reason drawn from notes. */
int mk_history_record(struct mk_storefile *s, const struct mk_history_snapshot *snap,
                      const struct mk_policy_notes *notes, int64_t now);

void mk_history_snapshot_free(struct mk_history_snapshot *snap);

#endif
