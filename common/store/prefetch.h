/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/prefetch.h: the other group sources' answers about every
 * published group, asked before the store's lock is taken (for
 * mk_store_publish).
 *
 * Publish re-checks every published group: two lookups each, which through
 * NSS can take a fraction of a millisecond apiece (more with a remote
 * source). They are made before the lock is taken, from the store as it
 * reads then, so that logins never wait behind them; under the lock the
 * policy takes these answers and asks NSS itself only about what they do
 * not cover (a group given since, a new gid).
 *
 * Nothing here fails: what cannot be asked or kept is left to the live
 * oracle.
 */
#ifndef MK_PREFETCH_H
#define MK_PREFETCH_H

#include <stddef.h>
#include <sys/types.h>

#include "store/config.h"
#include "store/grouppolicy.h"

struct mk_prefetch_answer {
    gid_t gid;
    char *name;
    int r;      /* the oracle's answer: 1 found (name or gid filled), 0 none, < 0 failed */
};

struct mk_prefetch {
    struct mk_prefetch_answer *by_gid, *by_name;
    size_t gid_count, name_count;
    const struct mk_group_oracle *live;
};

/* Asks live about every group of the store (in cfg->state_dir) that has a
 * member. Best effort: a store that cannot be read now leaves pf empty
 * (the locked write then says why); memory failure too (the locked write
 * asks live itself). */
void mk_prefetch_build(const struct mk_config *cfg, const struct mk_group_oracle *live,
                       struct mk_prefetch *pf);

/* An oracle that answers from pf and asks pf->live about the rest; valid
 * while pf is. */
struct mk_group_oracle mk_prefetch_oracle(struct mk_prefetch *pf);

void mk_prefetch_free(struct mk_prefetch *pf);

#endif
