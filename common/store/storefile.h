/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/storefile.h: store.json, the membership store's one source of
 * truth, in memory and on disk; and the checks that decide whether a file
 * in the state directory may be believed at all.
 *
 * store.json holds every organization ever seen (its canonical id, last
 * display name, group name and gid, kept for good), the gids retired from
 * organizations (never given again), and each local user's joined
 * organizations. It never holds a token. Loading bounds and repairs every
 * field (display names through mk_display_name_repair; ids canonicalized,
 * two ids that become one keep the first and retire the other's gid) and
 * refuses anything else as corrupt, leaving the file untouched: it holds
 * the gid history. Pure data and JSON; the policy that assigns names and
 * gids is grouppolicy.h, the writing store.c over atomicfile.h.
 *
 * Trust: a state directory or file is believed only when root (or, not
 * running as root, the effective user) owns it and neither group nor
 * others can write it; a file must be regular. Everything is opened
 * without following a link or waiting on a FIFO, then checked.
 */
#ifndef MK_STOREFILE_H
#define MK_STOREFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/log.h"
#include "base/mk_error.h"

#define MK_STOREFILE_NAME "store.json"

struct mk_storefile_org {
    char *id;          /* canonical (mk_org_id_canonical) */
    char *name;        /* display name, repaired; may be NULL */
    char *group;       /* NULL: no group assigned (now) */
    gid_t gid;         /* 0 exactly when group is NULL */
    bool pinned;
    int64_t first_seen;
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

/* Opens the state directory dir without following a link at its last
 * component and checks that it may be believed; with create, makes it
 * (0755) when missing, else a missing one gives MK_OK and *fd -1. */
mk_status mk_storefile_open_dir(const char *dir, bool create, int *fd, mk_error *err);

/* Opens name in the state directory dirfd (path for messages) with flags
 * (O_RDONLY, O_RDWR | O_CREAT, ...) and checks it before a byte is read.
 * Without O_CREAT a missing file gives MK_OK and *fd -1. */
mk_status mk_storefile_open(int dirfd, const char *name, const char *path, int flags, int *fd,
                            mk_error *err);

/* Loads store.json from dirfd (dir for messages) into s; a missing file is
 * an empty store. What loading repaired is reported to sink. */
mk_status mk_storefile_load(int dirfd, const char *dir, struct mk_storefile *s,
                            const struct mk_log_sink *sink, mk_error *err);

/* Parses text[0..len) (any bytes; no terminating NUL needed) as the
 * contents of store.json into s, exactly as mk_storefile_load does; path
 * names the file in messages. On failure s is empty and err says why,
 * naming path. For tests and the fuzz target: the loader is this over the
 * file's bytes. */
mk_status mk_storefile_parse_buffer(const char *text, size_t len, const char *path,
                                    struct mk_storefile *s, const struct mk_log_sink *sink,
                                    mk_error *err);

/* The JSON text of s (malloc'd, ends with a newline), NULL on memory
 * failure. The same store gives the same bytes. */
char *mk_storefile_serialize(const struct mk_storefile *s);

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

/* Adds gid to the retired gids; 0 or -ENOMEM. */
int mk_storefile_retire(struct mk_storefile *s, gid_t gid);
bool mk_storefile_is_retired(const struct mk_storefile *s, gid_t gid);

#endif
