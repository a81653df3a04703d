/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/stale.h: stale users (max_stale, store.h): whose memberships
 * every compile of groups.db leaves out, from each user's refresh record
 * (userstate.h) and the store's refreshed times.
 *
 * Error convention: loading returns 0 or -ENOMEM (a record that cannot be
 * believed is a warning to the sink, never an error); the rest cannot
 * fail.
 */
#ifndef MK_STALE_H
#define MK_STALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "store/config.h"
#include "store/storefile.h"
#include "store/userstate.h"

/* Every user's refresh record, read once per compile (one directory
 * scan), sorted by user name. */
struct mk_stale_records {
    struct mk_user_state_entry *v;
    size_t n;
};

/* Reads the records into rec; with max_stale 0 nothing is read. Records
 * that cannot be believed are reported to sink and read as none (the
 * store's times decide). 0 or -ENOMEM. */
int mk_stale_records_load(const struct mk_config *cfg, struct mk_stale_records *rec,
                          const struct mk_log_sink *sink);
void mk_stale_records_free(struct mk_stale_records *rec);

/* Which users of s are stale at now: stale[u] (indexed like s->users),
 * with when[u] the time each was last known good. except (may be NULL) is
 * the user being written now: a successful refresh, never stale. Both
 * arrays hold s->user_count entries, zeroed by the caller. */
void mk_stale_find(const struct mk_config *cfg, const struct mk_storefile *s,
                   const struct mk_stale_records *rec, const char *except, int64_t now,
                   bool *stale, int64_t *when);

/* Whether user, as s and its record have it before this write, is stale. */
bool mk_stale_user(const struct mk_config *cfg, const struct mk_storefile *s,
                   const struct mk_stale_records *rec, const char *user, int64_t now);

/* One warning per stale user: who, and since when. */
void mk_stale_log(const struct mk_storefile *s, const bool *stale, const int64_t *when,
                  const struct mk_log_sink *sink);

#endif
