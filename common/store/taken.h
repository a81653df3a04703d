/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/taken.h: the names and gids an assignment may not use
 * (grouppolicy.h, invariant 3), as hashed sets built once per assignment:
 * /etc/group's and the pins', the ones organizations of the store hold
 * and the retired gids; and the oracle of other group sources, asked with
 * an organization's own current entry left out.
 *
 * Open addressing, linear probing, at most half full; sized once for what
 * the assignment will add (mk_taken_build), so that growing is rare.
 * gid 0 is kept apart (0 marks an empty slot). A name slot keeps the
 * name's hash, so that a probe compares strings only when hashes match and
 * growing never hashes a name again.
 *
 * Error convention: functions that add return 0 or -ENOMEM; the oracle's
 * answers 1, 0 or a negative errno.
 */
#ifndef MK_TAKEN_H
#define MK_TAKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/config.h"
#include "store/grouppolicy.h"
#include "store/storefile.h"

struct mk_taken_gids {
    gid_t *slots;
    size_t cap, n;
    bool has_zero;
};

struct mk_taken_name_slot {
    const char *name;     /* borrowed: they outlive the assignment (see graveyard) */
    uint64_t hash;
};

struct mk_taken_names {
    struct mk_taken_name_slot *slots;
    size_t cap, n;
};

/* Names and gids no new assignment may use (mk_taken_has_name,
 * mk_taken_has_gid: either set of each kind), and those organizations
 * hold. The store's names and gids go into the held sets only: one insert
 * per organization rather than two. */
struct mk_taken {
    struct mk_taken_names names;      /* /etc/group, pins */
    struct mk_taken_gids gids;        /* /etc/group, pins */
    struct mk_taken_names held_names; /* organizations in the store */
    struct mk_taken_gids held_gids;   /* organizations in the store, and retired */
    uint64_t in_range;                /* taken gids (both sets, once each) inside gid_range */
    gid_t gid_min, gid_max;
    char **graveyard;            /* group names taken away: the sets still point at them */
    size_t graveyard_n, graveyard_cap;
    const struct mk_storefile *store;  /* whose strings the graveyard's are */
    const struct mk_group_oracle *oracle;  /* may be NULL */
};

/* An organization's own current entry (what groups.db publishes for it,
 * and our NSS module answers): the name and gid it held when this run
 * began asking. */
struct mk_taken_own {
    const char *name;  /* NULL: none */
    gid_t gid;
};

/* Builds t for an assignment over s: every name and gid of etc and of the
 * pins, every group and gid the store holds and every retired gid (the
 * store's and the configuration's `retired`); t's
 * oracle is left NULL for the caller to set. 0 or -ENOMEM (t is then
 * partly built: mk_taken_free). */
int mk_taken_build(struct mk_taken *t, const struct mk_storefile *s, const struct mk_config *cfg,
                   const struct mk_local_groups *etc);
void mk_taken_free(struct mk_taken *t);

bool mk_taken_gids_has(const struct mk_taken_gids *t, gid_t gid);
bool mk_taken_names_has(const struct mk_taken_names *t, const char *name);

/* Whether name (gid) is taken: in either set of its kind. */
bool mk_taken_has_name(const struct mk_taken *t, const char *name);
bool mk_taken_has_gid(const struct mk_taken *t, gid_t gid);

/* Takes gid as a local or pinned one; 0 or -ENOMEM. */
int mk_taken_take_gid(struct mk_taken *t, gid_t gid);

/* Holds name (may be NULL) and gid for an organization; 0 or -ENOMEM. */
int mk_taken_hold(struct mk_taken *t, const char *name, gid_t gid);

/* o's own current entry (o may be NULL: none). */
struct mk_taken_own mk_taken_own_of(const struct mk_storefile_org *o);

/* Whether t's oracle gives gid to a group other than own: 1 with its name
 * in other (size bytes), 0, or a negative errno. */
int mk_taken_oracle_gid(const struct mk_taken *t, struct mk_taken_own own, gid_t gid,
                        char *other, size_t size);

/* The same for a name: 1 with the other group's gid in *other. */
int mk_taken_oracle_name(const struct mk_taken *t, struct mk_taken_own own, const char *name,
                         gid_t *other);

#endif
