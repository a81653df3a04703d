/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/store.h: the membership store (invariants 3 and 4).
 *
 * State lives in cfg->state_dir: the store proper (every organization ever
 * seen with its group name and gid, kept for good; each local user's joined
 * organizations and when they were last refreshed), a lock file, and the
 * compiled group file, state_dir/groups.db. The shipped NSS module reads
 * only MK_GROUPFILE_DEFAULT_PATH (/var/lib/mkio/groups.db), so a state_dir
 * other than /var/lib/mkio is for tests and private stores. Writes are
 * serialized by the lock and atomic; a failed write leaves the last good
 * data.
 *
 * Root compiles groups.db from what is in state_dir, so only what root owns
 * is believed. state_dir must be a directory (not a symbolic link) owned by
 * root and not writable by group or others; store.json and store.lock must
 * be regular files (not links, FIFOs, ...) owned by root and not writable by
 * group or others. Not running as root (tests, a private store), the
 * effective user may own them instead of root. Files are opened without
 * following links or waiting on a FIFO and checked before a byte is read.
 * Anything else is refused with MK_ERR_IO and one message naming the path
 * and the fix; nothing is written then. Both entry points check.
 *
 * Entries of store.json are checked again before they are compiled: an
 * organization's group must be exactly its pin, or have group_prefix and a
 * gid inside gid_range. The writer takes such a group away (its gid is
 * retired, so it is still never given to another organization; a joined
 * organization gets a new group) and says so; the reader leaves it out of
 * the view. Before writing, under the lock, the writer removes the
 * temporary files that killed writers left in state_dir.
 *
 * A write records before it publishes: store.json (with every gid given)
 * is in place and synced before groups.db changes, so a writer killed at
 * any step never leaves a gid in groups.db that the history lacks. A file
 * whose bytes would not change is not rewritten (same inode, same mtime);
 * a user's write that would change nothing is told so from the stamp of
 * their last write without loading store.json (stamp.h).
 * Right after groups.db is replaced (not when it is unchanged), when it is
 * the file the NSS module reads (MK_GROUPFILE_DEFAULT_PATH, compared by
 * device and inode), a running nscd or unscd is told to drop its group
 * cache (nscd.h); a failure there is a warning to the sink. With
 * userdb_export, the published groups are then written to systemd's user
 * database (userdb.h, env->userdb_dir): by a write that changed store.json
 * or groups.db, and by every publish; a failure there is a warning too.
 *
 * store.json also keeps, per organization, the last renames and gid moves
 * of its group (history.h: when, old and new name and gid, why), which
 * mk_store_read gives in the view's histories.
 *
 * Organization ids are canonical (mk_org_id_canonical, lowercase):
 * "ABC" and "abc" are one organization. The parts: storefile.h (store.json
 * in memory) and store_json.h (its text), trust.h (the checks),
 * grouppolicy.h (names and gids), write.h (the write), atomicfile.h.
 * Nothing here logs by itself: warnings go to the caller's sink (log.h).
 *
 * Every entry point takes env (store_env.h): NULL in production; tests pass
 * their clock, NSS oracle, /etc/group and nscd socket.
 *
 * Error convention (docs/ARCHITECTURE.md, "Error conventions"): the
 * store's entry points, and every function of the store layer that can
 * fail for a reason worth a sentence, return an mk_status and fill err;
 * its small helpers (storefile.h's mutators, stale.h's loading) and the
 * lower primitives they use (atomicfile.h, nscd.h, fileio.h) return 0 or a
 * negative errno. Each header says which.
 */
#ifndef MK_STORE_H
#define MK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "store/config.h"
#include "store/store_env.h"
#include "base/log.h"
#include "base/mk_error.h"

struct mk_membership {
    const char *org_id;
    const char *org_name; /* display name, may be NULL */
};

/* Stale users (max_stale): every compile of groups.db (mk_store_set_user,
 * mk_store_publish) reads each user's refresh record (userstate.h) once and
 * leaves out the memberships of users whose memberships were last known
 * good (mk_user_state_known_good: the later of the record's last success
 * and the store's refreshed time) longer than max_stale ago, with one
 * warning per such user naming it and since when. store.json keeps their
 * memberships; the user's next successful refresh (mk_store_set_user for
 * that user, which counts as known good now and, for a stale user, moves
 * its refreshed time even when its organizations did not change, so that
 * later compiles keep them) publishes them again. A
 * record that cannot be believed is reported and the store's time alone
 * decides. */

/* Replaces user's joined organizations with orgs[0..n) (ids in any case,
 * each valid by mk_org_id_valid once canonical: callers holding ids from
 * the API skip the others rather than fail the whole user), assigns names
 * and gids to organizations not seen before, and recompiles the group
 * file. Waits at most lock_timeout_ms for the lock (MK_ERR_BUSY after).
 * Warnings ("gid taken, using ...") go to sink (may be NULL).
 * MK_ERR_USAGE with "gid range exhausted" (or "no free group name") means
 * everything was written but that organization got no group. MK_ERR_IO
 * after store.json was recorded means groups.db is the old one: the next
 * write publishes it. */
mk_status mk_store_set_user(const struct mk_config *cfg, const struct mk_store_env *env,
                            const char *user, const struct mk_membership *orgs, size_t n,
                            long lock_timeout_ms, const struct mk_log_sink *sink, mk_error *err);

/* What one user's write changed for them: the group names groups.db gave
 * the user before and gives after (a stale user had none before), compared.
 * Each list sorted, strings malloc'd. */
struct mk_store_change {
    char **added;
    size_t added_count;
    char **removed;
    size_t removed_count;
};

void mk_store_change_free(struct mk_store_change *change);

/* change as words for log lines, "+NAME ... -NAME ..." (added first), in
 * buf (cut short to fit size); "" when nothing changed. Returns buf. */
char *mk_store_change_format(const struct mk_store_change *change, char *buf, size_t size);

/* mk_store_set_user, telling in *change (may be NULL) which groups the
 * user gained and lost; change is filled once groups.db is in place (also
 * with the MK_ERR_USAGE of an organization that got no group), else left
 * empty. */
mk_status mk_store_set_user_changes(const struct mk_config *cfg, const struct mk_store_env *env,
                                    const char *user, const struct mk_membership *orgs,
                                    size_t n, long lock_timeout_ms,
                                    const struct mk_log_sink *sink,
                                    struct mk_store_change *change, mk_error *err);

/* Recompiles groups.db from store.json under the lock (waiting at most
 * lock_timeout_ms, MK_ERR_BUSY after) and replaces it only when its bytes
 * change; no user's organizations change. store.json is rewritten only when
 * an assignment had to change (then, as always, before groups.db). For
 * callers that changed what groups.db depends on without a membership
 * change: a user turned stale after a failed refresh, the end of a sync.
 * Every published group is checked again against the other group sources
 * (the oracle, below); those lookups are made before the lock is
 * taken, so that logins do not wait behind them at any store size.
 * Warnings go to sink; the status values are those of mk_store_set_user. */
mk_status mk_store_publish(const struct mk_config *cfg, const struct mk_store_env *env,
                           long lock_timeout_ms, const struct mk_log_sink *sink, mk_error *err);

/* What the store holds, for `mkio-orgs status`. */
struct mk_store_group {
    char *org_id;
    char *org_name;    /* last display name seen, may be NULL */
    char *group_name;
    gid_t gid;
    int pinned;        /* name and gid come from a pin in the configuration */
    char **members;    /* local users who joined it, sorted */
    size_t member_count;
};

struct mk_store_user {
    char *user;
    time_t refreshed;  /* when mk_store_set_user last changed this user's organizations
                        * (a refresh that changes nothing writes nothing) */
    char **org_ids;    /* sorted; a stale user's too */
    size_t org_count;
    int stale;         /* no successful refresh for longer than max_stale: its
                        * memberships are left out of groups.db (and of groups) */
    int64_t known_good; /* with max_stale set, when its memberships were last known
                         * good (mk_user_state_known_good), 0 when unknown; 0 too
                         * with max_stale 0 */
};

/* One rename or gid move of an organization's group, as store.json keeps
 * it (the last MK_STOREFILE_HISTORY_MAX per organization, storefile.h). */
struct mk_store_event {
    time_t time;
    char *old_group;
    gid_t old_gid;
    char *new_group;   /* NULL: the organization was left with no group */
    gid_t new_gid;     /* 0 with new_group NULL */
    char *reason;      /* in words: what the write warned of then */
};

struct mk_store_history {
    char *org_id;
    char *org_name;    /* may be NULL */
    struct mk_store_event *events;  /* oldest first */
    size_t event_count;
};

struct mk_store_view {
    struct mk_store_group *groups; /* sorted by group name; exactly what a write compiles
                                    * into groups.db from the store now: organizations
                                    * with members who are not stale (as of now), and a
                                    * group that local groups and pins do not override.
                                    * groups.db holds the same unless something changed
                                    * since the last write (a user turned stale, a local
                                    * group added), which the next write or publish
                                    * applies; `mkio-orgs status --verify` compares them */
    size_t group_count;
    struct mk_store_user *users;   /* sorted by user name */
    size_t user_count;
    struct mk_store_history *histories; /* organizations whose group was ever renamed
                                         * or moved (or taken away), sorted by id */
    size_t history_count;
};

/* The history of the organization org_id (canonical) in view, or NULL. */
const struct mk_store_history *mk_store_view_history(const struct mk_store_view *view,
                                                     const char *org_id);

/* Reads the store without taking the write lock (it is replaced atomically),
 * with the same ownership checks as the writer (MK_ERR_IO). A store that
 * does not exist yet, or a state_dir that does not, reads as empty. */
mk_status mk_store_read(const struct mk_config *cfg, const struct mk_store_env *env,
                        struct mk_store_view *out, mk_error *err);
void mk_store_view_free(struct mk_store_view *view);

/* Other sources of groups (invariant 3). Before a name or gid is given to an
 * organization or a pin applied, the writer asks the system's NSS
 * (getgrnam_r, getgrgid_r: every source nsswitch.conf names; env->nss
 * instead when a test gives one) and skips what another group has; an
 * answer that is the organization's own current entry does not count.
 * mk_store_set_user asks again about the user's organizations (and what it
 * assigns), mk_store_publish about every published one: a group whose gid
 * another source (or /etc/group) has since taken moves to a new gid, the
 * old one retired, with a warning naming both groups; a pin that clashes
 * is not applied (or withdrawn), with a warning naming the other group.
 * See mk_policy_assign (grouppolicy.h) for the rules. */

#endif
