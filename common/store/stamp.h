/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/stamp.h: what a user's last write saw (issue 18), so that
 * a login that changes nothing is told so without loading store.json.
 *
 * A write of one user (write.h) that ends with everything in place leaves
 * state_dir/stamps/USER: the identities of store.json and groups.db as it
 * left them, of the /etc/group it read (its bytes' hash too: a file edited
 * in place within one timestamp tick keeps its times), a digest of the
 * configuration it applied and of the user's organizations it was given,
 * the user's refreshed time, the earliest time any other user's
 * memberships were last known good (max_stale), and the group and gid of
 * each of the user's organizations. While all of that still holds, the
 * same user's write with the same organizations would find store.json and
 * groups.db as they are: the write checks the stamp and only what can
 * change without any file changing (the other group sources about the
 * user's groups, and time against max_stale), and writes nothing. Any
 * other write that replaces store.json or groups.db, or an edit of
 * /etc/group or of the configuration, makes every stamp disagree, so the
 * next write of each user takes the whole path once. A write that takes
 * the stamp logs nothing: the warnings about stale users, unfit groups and
 * the like are the compile's, and the last one that compiled gave them.
 *
 * Stamps are advice like the refresh records (invariant 4's exception):
 * replaced atomically without fsync, under the store's lock, one temporary
 * name per user (atomicfile.h, MK_ATOMICFILE_LOCKED). A stamp lost, torn
 * by a crash, unreadable or not believed (trust.h) only costs one whole
 * write.
 *
 * Error convention: 0 or a negative errno (reading: 1 read, 0 none).
 */
#ifndef MK_STAMP_H
#define MK_STAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/log.h"
#include "store/config.h"
#include "store/store.h"

#define MK_STAMP_DIR "stamps"

/* What changes when a file is written or replaced; all zero: missing. */
struct mk_stamp_id {
    uint64_t dev, ino, size;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
    uint64_t hash;   /* of the bytes, for /etc/group only (else 0) */
};

struct mk_stamp_org {
    char *group;
    gid_t gid;
};

struct mk_stamp {
    struct mk_stamp_id store, groups, etc;
    uint64_t config;      /* mk_stamp_config_digest */
    uint64_t input;       /* mk_stamp_input_digest */
    int64_t refreshed;    /* the user's refreshed time in store.json */
    int64_t oldest_good;  /* the earliest known-good time of the other users whose
                           * groups are published (0: none, or max_stale 0) */
    struct mk_stamp_org *orgs;   /* the user's organizations, in id order */
    size_t org_count;
};

/* name in dirfd (not followed); 0 (missing: all zero) or a negative errno. */
int mk_stamp_id_at(int dirfd, const char *name, struct mk_stamp_id *out);

/* path's identity and the hash of its bytes (up to 64 MiB); 0 or a negative
 * errno. */
int mk_stamp_id_file(const char *path, struct mk_stamp_id *out);

bool mk_stamp_id_equal(const struct mk_stamp_id *a, const struct mk_stamp_id *b);

/* Everything of cfg that a write reads: group_prefix, gid_range, pins
 * (and which came from ids_file), retired gids, max_stale, userdb_export,
 * state_dir. A field the write comes to read goes in here too. */
uint64_t mk_stamp_config_digest(const struct mk_config *cfg);

/* The organizations a write is given (canonical, sorted, unique), ids and
 * display names. */
uint64_t mk_stamp_input_digest(const struct mk_membership *in, size_t n);

/* Reads user's stamp in state_dir: 1 read into out (mk_stamp_free), 0
 * none or not usable, -ENOMEM. Under the store's lock: removes what a
 * killed writer of this user's stamp left. */
int mk_stamp_read(const char *state_dir, const char *user, struct mk_stamp *out);

/* Replaces user's stamp with st (the stamps directory made when missing);
 * under the store's lock. 0 or a negative errno. */
int mk_stamp_write(const char *state_dir, const char *user, const struct mk_stamp *st);

/* Removes the temporary files of stamps that killed writers left (a
 * user's own go with their next stamp); under the store's lock. Each
 * removal is a notice to sink. */
void mk_stamp_sweep(const char *state_dir, const struct mk_log_sink *sink);

void mk_stamp_free(struct mk_stamp *st);

#endif
