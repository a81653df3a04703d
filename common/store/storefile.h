/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/storefile.h: store.json's contents in memory, the membership
 * store's one source of truth.
 *
 * store.json holds every organization ever seen (its canonical id, last
 * display name, group name and gid, kept for good, and the last renames
 * and gid moves of its group), the gids retired from
 * organizations (never given again), and each local user's joined
 * organizations. It never holds a token. This is the model: sorted arrays,
 * an id index, the strings of a loaded store in one block, and the checks a
 * loaded store must pass. Its text (parsing, serializing, loading from the
 * state directory) is store_json.h; the policy that assigns names and gids
 * is grouppolicy.h, the writing write.h over atomicfile.h. Files in the
 * state directory are opened and checked through trust.h (owned by root,
 * or by the effective user when not root, not writable by group or others,
 * no links, no FIFOs), with the names of MK_STOREFILE_STATE_DIR.
 *
 * Error convention: functions that can fail for a reason worth a sentence
 * return an mk_status and fill err (MK_ERR_IO for a corrupt store,
 * MK_ERR_NOMEM); the small mutators return 0 or -ENOMEM.
 */
#ifndef MK_STOREFILE_H
#define MK_STOREFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/log.h"
#include "base/mk_error.h"
#include "base/trust.h"

#define MK_STOREFILE_NAME "store.json"

/* How trust.h's messages name the state directory. */
#define MK_STOREFILE_STATE_DIR \
    (&(const struct mk_trust_dir){ "the state directory", "set state_dir to the directory itself" })

/* How many renames and gid moves store.json keeps per organization: the
 * newest, oldest first. */
#define MK_STOREFILE_HISTORY_MAX 5

/* One rename or gid move of an organization's group (history.h records
 * them), kept in store.json so that `mkio-orgs explain` and `status` can
 * say later what the printed-once warning said. Strings malloc'd. */
struct mk_storefile_event {
    int64_t time;
    char *old_group;
    gid_t old_gid;
    char *new_group;   /* NULL: the organization was left with no group */
    gid_t new_gid;     /* 0 exactly when new_group is NULL */
    char *reason;      /* words: what the write warned of */
};

struct mk_storefile_org {
    char *id;          /* canonical (mk_org_id_canonical) */
    char *name;        /* display name, repaired; may be NULL */
    char *group;       /* NULL: no group assigned (now) */
    gid_t gid;         /* 0 exactly when group is NULL */
    bool pinned;
    int64_t first_seen;
    struct mk_storefile_event *history;  /* oldest first, at most MK_STOREFILE_HISTORY_MAX */
    size_t history_count;
};

struct mk_storefile_user {
    char *name;
    int64_t refreshed;  /* when its organizations last changed */
    char **orgs;        /* sorted, unique, each an id in the store */
    size_t org_count;
};

struct mk_storefile {
    struct mk_storefile_org *orgs;    /* sorted by id */
    size_t org_count, org_cap;
    gid_t *retired;                   /* sorted, unique */
    size_t retired_count, retired_cap;
    struct mk_storefile_user *users;  /* sorted by name */
    size_t user_count, user_cap;
    /* Private to storefile.c: a hash of the organizations' ids (each slot
     * the id's hash's high half and its index + 1), built by the loader and
     * mk_storefile_add_orgs for mk_storefile_find_org. NULL, or built for
     * another org_count: find_org bisects instead. */
    uint64_t *org_slots;
    size_t org_slots_cap, org_slots_count;
    /* Private: one block holding the strings loaded with the store (ids,
     * group names, user names, users' organization ids), freed at once.
     * Any of those strings is given back with mk_storefile_free_string. */
    char *strings;
    size_t strings_size, strings_used;
};

void mk_storefile_free(struct mk_storefile *s);

/* Frees str, a string of s (an id, a group name, a user name or a user's
 * organization id) that is being replaced or dropped: loaded ones are part
 * of a block mk_storefile_free frees, others were malloc'd. */
void mk_storefile_free_string(const struct mk_storefile *s, char *str);

/* Index of the organization with this canonical id, or -1. */
ssize_t mk_storefile_find_org(const struct mk_storefile *s, const char *id);

/* A hint that mk_storefile_find_org(s, id) comes soon: the index's slot is
 * asked for from memory now. Loops over many ids call it a few ids ahead,
 * so that each lookup does not wait for its own cache miss. */
void mk_storefile_prefetch_org(const struct mk_storefile *s, const char *id);

/* Adds the ids (canonical) not in s yet as blank organizations first seen
 * at now, appending and sorting once. Indexes and pointers into s->orgs
 * are invalidated. 0 or -ENOMEM. */
int mk_storefile_add_orgs(struct mk_storefile *s, const char *const *ids, size_t n, int64_t now);

/* The user's entry, created empty when missing (NULL on memory failure). */
struct mk_storefile_user *mk_storefile_user_get(struct mk_storefile *s, const char *name);

/* Appends a copy of e (its strings copied) to o's history, the oldest
 * dropped past MK_STOREFILE_HISTORY_MAX. 0 or -ENOMEM (o unchanged). */
int mk_storefile_add_event(struct mk_storefile_org *o, const struct mk_storefile_event *e);

/* Frees the strings of e and zeroes it. */
void mk_storefile_event_clear(struct mk_storefile_event *e);

/* Adds gid to the retired gids; 0 or -ENOMEM. */
int mk_storefile_retire(struct mk_storefile *s, gid_t gid);
bool mk_storefile_is_retired(const struct mk_storefile *s, gid_t gid);

/* A copy of str[0..len) (no NUL inside) among s's strings, for loaders:
 * in the block of loaded strings while it has room below limit bytes from
 * its start, else malloc'd. NULL on memory failure. */
char *mk_storefile_strndup(struct mk_storefile *s, const char *str, size_t len, size_t limit);

/* Room for more organizations at the end of s->orgs (a loader appends,
 * then mk_storefile_finish_load sorts). 0 or -ENOMEM. */
int mk_storefile_reserve_orgs(struct mk_storefile *s, size_t more);

/* Whether gid may be a group's gid in the store: 1 to 2^32 - 2. */
bool mk_storefile_gid_ok(int64_t gid);

/* After a loader appended what it read, in any order: sorts the retired
 * gids, the organizations and the users; merges organizations that are one
 * canonical id (the first seen kept, the other's gid retired, with a
 * warning to sink); builds the id index; checks that each user's
 * organizations are known (canonical, sorted, unique after) and that no
 * two organizations share a group name or a gid and none holds a retired
 * gid. MK_OK, MK_ERR_IO (corrupt, naming path) or MK_ERR_NOMEM. */
mk_status mk_storefile_finish_load(struct mk_storefile *s, const char *path,
                                   const struct mk_log_sink *sink, mk_error *err);

/* MK_ERR_IO: path is corrupt (what), left untouched. */
mk_status mk_storefile_corrupt(mk_error *err, const char *path, const char *what);

#endif
