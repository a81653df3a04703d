/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/userstate.h: each user's refresh record (issue 10).
 *
 * When a user's refresh (a login, an account check or sync) was last tried,
 * when one last succeeded, and why the last one failed. One small file per
 * user, state_dir/users/USER ("users" is made 0755 when missing), replaced
 * atomically but without fsync (advice: a crash may lose the latest
 * record, which costs one refresh), trusted like the store (trust.h:
 * owned by root, or by the effective user when not root, not writable by
 * group or others, opened without following links; anything else is
 * MK_ERR_IO naming the path and the fix). It lives apart from store.json so that a refresh that changes
 * no membership rewrites neither store.json nor groups.db.
 *
 * Callers use it to decide whether an account check needs the API at all
 * (refresh_interval), which users sync takes first (oldest attempt first),
 * and which users are stale (max_stale): their groups leave groups.db.
 * The record is advice, never a secret: it holds times and an error text
 * (sanitized, at most 255 bytes), no token.
 *
 * Error convention: functions that can fail return an mk_status and fill
 * err (MK_ERR_IO, MK_ERR_BUSY, MK_ERR_NOMEM, MK_ERR_USAGE).
 */
#ifndef MK_USERSTATE_H
#define MK_USERSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"
#include "store/config.h"
#include "base/mk_error.h"

struct mk_user_state {
    int64_t last_attempt;  /* Unix seconds of the last refresh tried; 0: never */
    int64_t last_success;  /* Unix seconds of the last successful one; 0: never */
    char last_error[256];  /* why the last attempt failed (sanitized); "" when it succeeded */
};

/* The record of user (a valid user name, text.h). A user without one, or a
 * state_dir without a users directory, reads as all zero: MK_OK. A record
 * that cannot be parsed reads as all zero too (the next attempt replaces
 * it). MK_ERR_IO when the directory or file may not be believed. */
mk_status mk_user_state_read(const struct mk_config *cfg, const char *user,
                             struct mk_user_state *out, mk_error *err);

/* Records an attempt at now (Unix seconds): a success sets last_success and
 * clears the error; a failure keeps last_success and records error (any
 * text; sanitized and cut here). Creates state_dir and users when missing.
 * Writers of records take turns (a lock on state_dir/users.lock, a 0600
 * file of root's that no user can open, so no user can hold it; at most a
 * second's wait, MK_ERR_BUSY after). A record's temporary file has one
 * name per user (USER.tmp.000000), so what a killed writer left is removed
 * by that user's next record, without listing the directory: a record's
 * cost does not grow with the number of users. */
mk_status mk_user_state_record(const struct mk_config *cfg, const char *user, int64_t now,
                               bool success, const char *error, mk_error *err);

/* Removes every user's temporary record files (USER.tmp.XXXXXX) under the
 * writers' lock (MK_ERR_BUSY after a second): what killed writers of
 * other versions left, or a user's who never logs in again. Each removal
 * is a notice to sink. mk_store_publish calls it (sync's end), so no
 * leftover outlives a sync. A missing directory is MK_OK. */
mk_status mk_user_state_sweep(const struct mk_config *cfg, const struct mk_log_sink *sink,
                              mk_error *err);

struct mk_user_state_entry {
    char *user;
    struct mk_user_state state;
    char *refused;   /* NULL; or why the record may not be believed (naming its
                      * path and the fix), and state is all zero */
};

/* Every user with a record, sorted by user name. Entries whose name is not
 * a valid user name (text.h), temporary files and records that cannot be
 * parsed are left out; a record that may not be believed (not root's,
 * writable by group or others, a link) is listed with refused set, so that
 * callers that show records can say so. A missing directory gives none;
 * one that may not be believed is MK_ERR_IO. */
mk_status mk_user_state_list(const struct mk_config *cfg, struct mk_user_state_entry **out,
                             size_t *count, mk_error *err);
void mk_user_state_list_free(struct mk_user_state_entry *list, size_t count);

/* When the user's memberships were last known good: the later of the
 * record's last_success and store_refreshed (the store's time of the user's
 * last change, which was a success too; 0 when unknown). 0: never known. */
int64_t mk_user_state_known_good(const struct mk_user_state *st, int64_t store_refreshed);

/* Whether a user whose memberships were last known good at known_good
 * (mk_user_state_known_good) is stale at now under cfg->max_stale_ms: never
 * when max_stale is 0 or known_good is 0 (nothing says how old the data
 * is, e.g. a store from before records existed). */
bool mk_user_state_stale(const struct mk_config *cfg, int64_t known_good, int64_t now);

/* Whether a refresh may be skipped: the last success is younger than
 * interval_ms at now (interval_ms 0: never skipped). */
bool mk_user_state_fresh(const struct mk_user_state *st, int64_t interval_ms, int64_t now);

#endif
