/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/compile.h: the compiled view of the store: which
 * organizations have members, and the groups groups.db holds (and
 * `mkio-orgs status` shows), sorted by name. Both the write and the read
 * select through here, so that they always agree.
 *
 * Error convention: allocation failure is a NULL result; nothing else
 * fails. Pointers in the results borrow from the store.
 */
#ifndef MK_COMPILE_H
#define MK_COMPILE_H

#include <stdbool.h>
#include <stddef.h>

#include "groupfile/writer.h"
#include "store/config.h"
#include "store/grouppolicy.h"
#include "store/storefile.h"

struct mk_compile_members {
    const char **v;  /* user names, borrowed from the store */
    size_t n;
};

/* Members of every organization of s (indexed like s->orgs, with one more
 * entry holding the block all the others point into), sorted because the
 * users are; users with skip[u] (skip may be NULL) are left out. NULL on
 * memory failure. */
struct mk_compile_members *mk_compile_members_build(const struct mk_storefile *s,
                                                    const bool *skip);
/* Frees m, built for count organizations (m may be NULL). */
void mk_compile_members_free(struct mk_compile_members *m, size_t count);

/* The groups of the compiled file: organizations with members whose group
 * is active (mk_policy_org_active; notes may be NULL), sorted by name
 * (strcmp), with the index in s->orgs of each in *index (malloc'd; index
 * may be NULL). NULL on memory failure. */
struct mk_group_entry *mk_compile_entries(const struct mk_storefile *s,
                                          const struct mk_compile_members *m,
                                          const struct mk_config *cfg,
                                          const struct mk_local_groups *etc,
                                          struct mk_policy_notes *notes, size_t **index,
                                          size_t *count);

#endif
