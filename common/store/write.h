/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/write.h: the store's one write path (invariants 3 and 4),
 * behind mk_store_set_user and mk_store_publish (store.h).
 *
 * A write is a sequence of named phases over one struct (write.c): lock
 * (open and check the state directory and its lock file, take the lock),
 * for a user the shortcut (their stamp says the write would change
 * nothing: done, store.json not even read; stamp.h), load (store.json, /etc/group, the users' records, unfit groups dropped,
 * the user's organizations put in), select (stale users left out, joined
 * organizations, what is asked about again), assign (names and gids, the
 * groups of groups.db), then groups.db encoded on a second thread while
 * store.json is recorded, then the publish of groups.db and the word to
 * nscd, and last, with userdb_export, the export of the published groups
 * to systemd's user database (userdb.h; a failure there is a warning),
 * and the user's stamp for their next write.
 *
 * Error convention: the mk_status values of store.h, err filled.
 */
#ifndef MK_WRITE_H
#define MK_WRITE_H

#include <stddef.h>

#include "base/log.h"
#include "base/mk_error.h"
#include "store/config.h"
#include "store/grouppolicy.h"
#include "store/store.h"
#include "store/store_env.h"

/* Under the lock (waiting at most lock_timeout_ms): load store.json, with
 * user put the user's organizations orgs[0..n) in (ids in any case), assign
 * asking oracle about other groups, record store.json if its bytes change,
 * then publish groups.db if its bytes change. Without user (publish)
 * nothing of a user changes: store.json is rewritten only when the policy
 * changed an assignment. env gives the clock, /etc/group and nscd's
 * socket (NULL: production); the oracle is passed apart, since publish
 * wraps it in the answers it asked for before the lock (prefetch.h).
 * Renames and gid moves are kept in the organizations' history
 * (history.h). With user and change (may be NULL), *change says which of
 * the user's groups were added and removed (store.h). */
mk_status mk_write_store(const struct mk_config *cfg, const struct mk_store_env *env,
                         const char *user, const struct mk_membership *orgs, size_t n,
                         const struct mk_group_oracle *oracle, long lock_timeout_ms,
                         const struct mk_log_sink *sink, struct mk_store_change *change,
                         mk_error *err);

#endif
