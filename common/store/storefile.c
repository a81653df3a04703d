/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/storefile.c: store.json in memory and on disk, and the trust
 * checks of the state directory (see storefile.h). */
#include "store/storefile.h"
#include "base/hash.h"
#include "base/text.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_VERSION 1
#define STORE_MAX_BYTES (256L * 1024 * 1024)

/* ---- trust: who may decide what root compiles ---- */

/* What kind of file st is, for messages. */
static const char *store_file_kind(const struct stat *st)
{
    if (S_ISLNK(st->st_mode))
        return "a symbolic link";
    if (S_ISFIFO(st->st_mode))
        return "a FIFO";
    if (S_ISSOCK(st->st_mode))
        return "a socket";
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        return "a device";
    if (S_ISDIR(st->st_mode))
        return "a directory";
    if (S_ISREG(st->st_mode))
        return "a regular file";
    return "an unknown kind of file";
}

/* The refusal of a file in the state directory that is not a regular file.
 * A link's target may be the real store.json, so it is not simply removed. */
static mk_status store_refuse_kind(const char *path, const char *kind, mk_error *err)
{
    return mk_error_set(err, MK_ERR_IO, "%s is %s, not a regular file; nothing was read or "
                        "written: %s", path, kind,
                        strcmp(kind, "a symbolic link") == 0
                        ? "put the file itself there (owned by root) or remove the link"
                        : "remove it");
}

/* Whether the store may believe what st describes: a directory (dir) or a
 * regular file that root owns (or, when not running as root, the effective
 * user: tests and a private store) and that neither group nor others can
 * write. Otherwise one MK_ERR_IO naming path, what is wrong and the fix:
 * whoever else can write there decides which groups root compiles. */
static mk_status store_check_trusted(const char *path, const struct stat *st, bool dir,
                                     mk_error *err)
{
    uid_t euid = geteuid();
    bool owner_ok = st->st_uid == 0 || st->st_uid == euid;
    bool group_w = st->st_mode & S_IWGRP, other_w = st->st_mode & S_IWOTH;
    char owner[48], chown_cmd[48], problem[96], fix[1024];

    if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
        if (dir)
            return mk_error_set(err, MK_ERR_IO, "the state directory %s is %s, not a directory; "
                                "it must be a directory owned by root and not writable by group "
                                "or others%s", path, store_file_kind(st),
                                S_ISLNK(st->st_mode) ? " (set state_dir to the directory itself)"
                                                     : "");
        return store_refuse_kind(path, store_file_kind(st), err);
    }
    if (owner_ok && !group_w && !other_w)
        return MK_OK;
    if (euid == 0) {
        snprintf(owner, sizeof(owner), "root");
        snprintf(chown_cmd, sizeof(chown_cmd), "chown root:root");
    } else {
        snprintf(owner, sizeof(owner), "uid %u or root", (unsigned)euid);
        snprintf(chown_cmd, sizeof(chown_cmd), "chown %u", (unsigned)euid);
    }
    if (!owner_ok)
        snprintf(problem, sizeof(problem), "owned by uid %u%s", (unsigned)st->st_uid,
                 group_w || other_w ? " and " : "");
    else
        problem[0] = '\0';
    if (group_w || other_w) {
        size_t len = strlen(problem);
        snprintf(problem + len, sizeof(problem) - len, "writable by %s",
                 group_w && other_w ? "group and others" : group_w ? "group" : "others");
    }
    if (!owner_ok)
        snprintf(fix, sizeof(fix), "%s %s%s", chown_cmd, path, group_w || other_w ? "; " : "");
    else
        fix[0] = '\0';
    if (group_w || other_w) {
        size_t len = strlen(fix);
        snprintf(fix + len, sizeof(fix) - len, "chmod %s %s", dir ? "0755" : "go-w", path);
    }
    return mk_error_set(err, MK_ERR_IO, "%s is %s; it must be owned by %s and not writable by "
                        "group or others (%s)", path, problem, owner, fix);
}

/* Opens the state directory without following a link at its last component
 * and checks it (store_check_trusted); every later step goes through the
 * descriptor, so a directory swapped in afterwards is never used. create:
 * make it 0755 when missing (the NSS module reads groups.db as any user).
 * Without create a missing directory gives MK_OK and *fd_out -1. */
mk_status mk_storefile_open_dir(const char *dir, bool create, int *fd_out, mk_error *err)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    struct stat st;
    bool created = false;
    mk_status status;
    int fd;

    *fd_out = -1;
    /* A trailing slash would make open() follow a link there after all. */
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len >= sizeof(path))
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    memcpy(path, dir, len);
    path[len] = '\0';
    if (create) {
        if (mkdir(path, 0755) == 0)
            created = true;
        else if (errno != EEXIST)
            return mk_error_set(err, MK_ERR_IO, "cannot create the state directory %s: %s",
                                path, strerror(errno));
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && !create)
            return MK_OK;
        /* Say what is there; a directory that appeared since is still an error. */
        if ((e == ELOOP || e == ENOTDIR) && lstat(path, &st) == 0 &&
            (status = store_check_trusted(path, &st, true, err)) != MK_OK)
            return status;
        return mk_error_set(err, MK_ERR_IO, "cannot open the state directory %s: %s",
                            path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        status = mk_error_set(err, MK_ERR_IO, "cannot examine %s: %s", path, strerror(errno));
        goto out;
    }
    /* Set explicitly rather than left to the umask; only a directory we own. */
    if (created && st.st_uid == geteuid() && (st.st_mode & 07777) != 0755) {
        if (fchmod(fd, 0755) != 0) {
            status = mk_error_set(err, MK_ERR_IO, "cannot set the mode of %s: %s",
                                  path, strerror(errno));
            goto out;
        }
        st.st_mode = (st.st_mode & ~(mode_t)07777) | 0755;
    }
    if ((status = store_check_trusted(path, &st, true, err)) != MK_OK)
        goto out;
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return status;
}

/* Opens name in the state directory dfd (path is for messages) with flags,
 * never following a link and never waiting on a FIFO, and checks that what it
 * opened is a regular file it may trust (store_check_trusted) before anything
 * is read. Without O_CREAT a missing file gives MK_OK and *fd_out -1. */
mk_status mk_storefile_open(int dfd, const char *name, const char *path, int flags,
                            int *fd_out, mk_error *err)
{
    struct stat st;
    mk_status status;
    int fd = openat(dfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);

    *fd_out = -1;
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && !(flags & O_CREAT))
            return MK_OK;
        if (e == ELOOP || e == ENXIO)
            return store_refuse_kind(path, e == ELOOP ? "a symbolic link" : "a FIFO or socket",
                                     err);
        return mk_error_set(err, MK_ERR_IO, "cannot open %s: %s", path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        status = mk_error_set(err, MK_ERR_IO, "cannot examine %s: %s", path, strerror(errno));
        goto out;
    }
    if ((status = store_check_trusted(path, &st, false, err)) != MK_OK)
        goto out;
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return status;
}


/* ---- store.json ---- */

/* Reads the whole file name of dfd (checked by store_open_file). A missing
 * file gives MK_OK with *data NULL. */
static mk_status store_read_file(int dfd, const char *name, const char *path, char **data,
                                 size_t *len, mk_error *err)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    mk_status status;
    int fd;

    *data = NULL;
    *len = 0;
    if ((status = mk_storefile_open(dfd, name, path, O_RDONLY, &fd, err)) != MK_OK || fd < 0)
        return status;
    if (fstat(fd, &st) != 0) {
        status = mk_error_set(err, MK_ERR_IO, "cannot examine %s: %s", path, strerror(errno));
        goto out;
    }
    if (st.st_size > STORE_MAX_BYTES) {
        status = mk_error_set(err, MK_ERR_IO, "%s is larger than %ld bytes; not touching it",
                              path, STORE_MAX_BYTES);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        status = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            status = mk_error_set(err, MK_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return status;
}

static mk_status store_corrupt(mk_error *err, const char *path, const char *what)
{
    return mk_error_set(err, MK_ERR_IO, "%s is corrupt (%s); it holds the gid history, so it is "
                        "left untouched: an administrator must look at it", path, what);
}

/* ---- the store in memory ---- */

void mk_storefile_free_string(const struct mk_storefile *s, char *str)
{
    if (str && !(s->strings && str >= s->strings && str < s->strings + s->strings_size))
        free(str);
}

/* A copy of str[0..len) (no NUL inside) among s's strings: in the block
 * while it has room below limit (the loader makes sure that it always
 * has), else malloc'd. NULL on memory failure. */
static char *storefile_strndup(struct mk_storefile *s, const char *str, size_t len,
                               size_t limit)
{
    char *copy;
    if (s->strings && limit <= s->strings_size && s->strings_used < limit &&
        limit - s->strings_used > len) {
        copy = s->strings + s->strings_used;
        s->strings_used += len + 1;
    } else if (!(copy = malloc(len + 1))) {
        return NULL;
    }
    memcpy(copy, str, len);
    copy[len] = '\0';
    return copy;
}

static void storefile_user_clear_orgs(const struct mk_storefile *s, struct mk_storefile_user *u)
{
    for (size_t i = 0; i < u->org_count; i++)
        mk_storefile_free_string(s, u->orgs[i]);
    free(u->orgs);
    u->orgs = NULL;
    u->org_count = 0;
}

static void storefile_org_free(const struct mk_storefile *s, struct mk_storefile_org *o)
{
    mk_storefile_free_string(s, o->id);
    free(o->name);
    mk_storefile_free_string(s, o->group);
}

void mk_storefile_free(struct mk_storefile *s)
{
    for (size_t i = 0; i < s->org_count; i++)
        storefile_org_free(s, &s->orgs[i]);
    free(s->orgs);
    free(s->retired);
    for (size_t i = 0; i < s->user_count; i++) {
        mk_storefile_free_string(s, s->users[i].name);
        storefile_user_clear_orgs(s, &s->users[i]);
    }
    free(s->users);
    free(s->org_slots);
    free(s->strings);
    memset(s, 0, sizeof(*s));
}

/* Bisects orgs[0..hi), which must be sorted. */
static size_t storefile_org_lower(const struct mk_storefile *s, size_t hi, const char *id)
{
    size_t lo = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->orgs[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t storefile_hash(const char *str);

/* (Re)builds the id index over s->orgs; without memory, there is none and
 * lookups bisect. Linear: every login's write looks up each user's
 * organizations (at load and to list members), which bisecting with
 * strcmp made the largest part of the write after parsing. */
static void storefile_index_orgs(struct mk_storefile *s)
{
    size_t cap = 16;
    while (cap < s->org_count * 2)
        cap *= 2;
    if (cap != s->org_slots_cap || !s->org_slots) {
        free(s->org_slots);
        s->org_slots = calloc(cap, sizeof(*s->org_slots));
        s->org_slots_cap = s->org_slots ? cap : 0;
    } else {
        memset(s->org_slots, 0, cap * sizeof(*s->org_slots));
    }
    s->org_slots_count = 0;
    if (!s->org_slots || s->org_count >= UINT32_MAX)
        return;
    for (size_t i = 0; i < s->org_count; i++) {
        uint64_t h = storefile_hash(s->orgs[i].id);
        size_t k = (size_t)h & (cap - 1);
        while (s->org_slots[k])
            k = (k + 1) & (cap - 1);
        s->org_slots[k] = (h & 0xffffffff00000000ull) | (uint64_t)(i + 1);
    }
    s->org_slots_count = s->org_count;
}

void mk_storefile_prefetch_org(const struct mk_storefile *s, const char *id)
{
    if (s->org_slots && s->org_slots_count == s->org_count)
        __builtin_prefetch(&s->org_slots[(size_t)storefile_hash(id) & (s->org_slots_cap - 1)]);
}

ssize_t mk_storefile_find_org(const struct mk_storefile *s, const char *id)
{
    if (s->org_slots && s->org_slots_count == s->org_count) {
        uint64_t h = storefile_hash(id), tag = h & 0xffffffff00000000ull;
        size_t mask = s->org_slots_cap - 1;
        for (size_t k = (size_t)h & mask; s->org_slots[k]; k = (k + 1) & mask) {
            uint64_t v = s->org_slots[k];
            size_t i = (size_t)(v & 0xffffffffu) - 1;
            if ((v & 0xffffffff00000000ull) == tag && strcmp(s->orgs[i].id, id) == 0)
                return (ssize_t)i;
        }
        return -1;
    }
    size_t i = storefile_org_lower(s, s->org_count, id);
    return i < s->org_count && strcmp(s->orgs[i].id, id) == 0 ? (ssize_t)i : -1;
}

static int storefile_org_grow(struct mk_storefile *s, size_t more)
{
    if (s->org_count + more <= s->org_cap)
        return 0;
    size_t cap = s->org_cap ? s->org_cap : 16;
    while (cap < s->org_count + more)
        cap *= 2;
    struct mk_storefile_org *v = reallocarray(s->orgs, cap, sizeof(*v));
    if (!v)
        return -ENOMEM;
    s->orgs = v;
    s->org_cap = cap;
    return 0;
}

static int storefile_cmp_org(const void *a, const void *b)
{
    return strcmp(((const struct mk_storefile_org *)a)->id,
                  ((const struct mk_storefile_org *)b)->id);
}

int mk_storefile_add_orgs(struct mk_storefile *s, const char *const *ids, size_t n, int64_t now)
{
    size_t before = s->org_count;
    if (storefile_org_grow(s, n) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t at = storefile_org_lower(s, before, ids[i]);
        /* Only the sorted part is searched: the caller's ids are unique. */
        if (at < before && strcmp(s->orgs[at].id, ids[i]) == 0)
            continue;
        struct mk_storefile_org *o = &s->orgs[s->org_count];
        memset(o, 0, sizeof(*o));
        if (!(o->id = strdup(ids[i])))
            return -ENOMEM;
        o->first_seen = now;
        s->org_count++;
    }
    if (s->org_count == before)
        return 0;
    /* The new ones (few: one login's) sorted, then merged from the back:
     * linear, where sorting the whole store again was not. */
    size_t added = s->org_count - before;
    if (added > 1)
        qsort(s->orgs + before, added, sizeof(*s->orgs), storefile_cmp_org);
    struct mk_storefile_org *tail = malloc(added * sizeof(*tail));
    if (!tail) {
        qsort(s->orgs, s->org_count, sizeof(*s->orgs), storefile_cmp_org);
        storefile_index_orgs(s);
        return 0;
    }
    memcpy(tail, s->orgs + before, added * sizeof(*tail));
    size_t a = before, b = added, out = s->org_count;
    while (b > 0) {
        if (a > 0 && strcmp(s->orgs[a - 1].id, tail[b - 1].id) > 0)
            s->orgs[--out] = s->orgs[--a];
        else
            s->orgs[--out] = tail[--b];
    }
    free(tail);
    storefile_index_orgs(s);
    return 0;
}

struct mk_storefile_user *mk_storefile_user_get(struct mk_storefile *s, const char *name)
{
    size_t lo = 0, hi = s->user_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->users[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->user_count && strcmp(s->users[lo].name, name) == 0)
        return &s->users[lo];
    if (s->user_count == s->user_cap) {
        size_t cap = s->user_cap ? s->user_cap * 2 : 16;
        struct mk_storefile_user *v = reallocarray(s->users, cap, sizeof(*v));
        if (!v)
            return NULL;
        s->users = v;
        s->user_cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    memmove(s->users + lo + 1, s->users + lo, (s->user_count - lo) * sizeof(*s->users));
    memset(&s->users[lo], 0, sizeof(s->users[lo]));
    s->users[lo].name = copy;
    s->user_count++;
    return &s->users[lo];
}

static size_t storefile_retired_lower(const struct mk_storefile *s, gid_t gid)
{
    size_t lo = 0, hi = s->retired_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->retired[mid] < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool mk_storefile_is_retired(const struct mk_storefile *s, gid_t gid)
{
    size_t i = storefile_retired_lower(s, gid);
    return i < s->retired_count && s->retired[i] == gid;
}

/* Retiring is rare (a pin moved, a group dropped): a sorted insert. */
int mk_storefile_retire(struct mk_storefile *s, gid_t gid)
{
    size_t i = storefile_retired_lower(s, gid);
    if (i < s->retired_count && s->retired[i] == gid)
        return 0;
    if (s->retired_count == s->retired_cap) {
        size_t cap = s->retired_cap ? s->retired_cap * 2 : 16;
        gid_t *v = reallocarray(s->retired, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->retired = v;
        s->retired_cap = cap;
    }
    memmove(s->retired + i + 1, s->retired + i, (s->retired_count - i) * sizeof(*s->retired));
    s->retired[i] = gid;
    s->retired_count++;
    return 0;
}

static int storefile_cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

static int storefile_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int storefile_cmp_user(const void *a, const void *b)
{
    return strcmp(((const struct mk_storefile_user *)a)->name,
                  ((const struct mk_storefile_user *)b)->name);
}

/* By id; of two entries that are one canonical id, the one first seen
 * (then the smaller gid) comes first and is kept, whatever the file's
 * order. */
static int storefile_cmp_org_load(const void *a, const void *b)
{
    const struct mk_storefile_org *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    if (x->first_seen != y->first_seen)
        return x->first_seen < y->first_seen ? -1 : 1;
    return storefile_cmp_gid(&x->gid, &y->gid);
}

/* ---- loading ---- */

static bool storefile_gid_ok(int64_t gid)
{
    return gid > 0 && gid < (int64_t)UINT32_MAX;
}

/* store.json is read by a small parser of exactly its schema rather than
 * through a JSON object tree: at 100,000 organizations, building and freeing
 * the tree cost ten times the rest of a login's write. It accepts strict
 * JSON (RFC 8259) and ignores members it does not know, with these choices
 * where the RFC leaves one:
 *   - "\u0000" is refused: no string of the store may hold a NUL (it would
 *     cut the string short in C), and the writer never writes one;
 *   - a lone surrogate ("\ud800" not followed by a low one, or a low one
 *     alone) becomes U+FFFD, as display-name repair shows bad text; in an
 *     id, a group or a user name that makes it invalid, hence refused;
 *   - a member the schema knows that appears twice in one object is
 *     refused (which one did the writer mean?); organizations whose keys are
 *     one canonical id are merged (storefile_merge_duplicates), and a user
 *     named twice is refused;
 *   - nesting deeper than JP_MAX_DEPTH is refused, whatever the member.
 * A syntax error stops it, with the first reason; a schema error (a field
 * of the wrong type, a missing field) is remembered, the rest still
 * parsed, so that a file of another version is reported as such.
 *
 * Strings are decoded into one scratch buffer that grows as needed (keys
 * into a bounded one on the stack): only what is kept is copied out, so a
 * member costs no allocation of its own. */
struct jp {
    const char *p, *end;
    const char *schema_err;   /* first schema error, or NULL */
    const char *syntax_err;   /* why parsing stopped, or NULL: "not valid JSON" */
    int depth;
    char *buf;                /* the last string decoded, NUL-terminated */
    size_t buf_cap;
    struct mk_storefile *s;   /* where kept strings go (jp_keep) */
    const char *start;        /* the text's first byte */
    bool in_place;            /* s->strings is the text itself */
};

/* A string to keep, copied among the store's strings. When they are the
 * text being parsed, a copy goes only below what was parsed: each kept
 * string is decoded from its own string of the text, already passed and at
 * least two bytes (its quotes) longer, so their copies never reach it. */
static char *jp_keep(struct jp *j, const char *str, size_t len)
{
    return storefile_strndup(j->s, str, len,
                             j->in_place ? (size_t)(j->p - j->start) : j->s->strings_size);
}

#define JP_MAX_DEPTH 64
/* The longest key worth decoding: user names are the longest keys that
 * mean something. A longer key is no id, no user and no member name. */
#define JP_KEY_MAX MK_USER_NAME_MAX

static void jp_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool jp_take(struct jp *j, char c)
{
    jp_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static bool jp_peek(struct jp *j, char c)
{
    jp_ws(j);
    return j->p < j->end && *j->p == c;
}

static void jp_schema(struct jp *j, const char *what)
{
    if (!j->schema_err)
        j->schema_err = what;
}

/* A syntax error: -1, and the first reason kept. */
static int jp_bad(struct jp *j, const char *why)
{
    if (!j->syntax_err)
        j->syntax_err = why;
    return -1;
}

static int jp_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (mk_ascii_digit(c))
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t jp_utf8(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string, decoded into j->buf (NUL-terminated, *len bytes, no NUL
 * inside: "\u0000" is refused), valid until the next string. -1 on a
 * syntax error, -2 on memory failure. */
static int jp_string(struct jp *j, size_t *len)
{
    const char *start, *q;
    size_t o = 0;

    if (!jp_take(j, '"'))
        return jp_bad(j, "not valid JSON");
    /* The raw text bounds the decoded bytes: no escape decodes longer. */
    start = j->p;
    bool plain = true;   /* no escape, no control character: copied as is */
    for (q = start; q < j->end && *q != '"'; q++) {
        if ((unsigned char)*q < 0x20)
            plain = false;
        else if (*q == '\\') {
            plain = false;
            if (q + 1 < j->end)
                q++;
        }
    }
    if ((size_t)(q - start) + 1 > j->buf_cap) {
        size_t cap = j->buf_cap ? j->buf_cap : 256;
        while (cap < (size_t)(q - start) + 1)
            cap *= 2;
        char *v = realloc(j->buf, cap);
        if (!v)
            return -2;
        j->buf = v;
        j->buf_cap = cap;
    }
    if (plain && q < j->end) {
        o = (size_t)(q - start);
        memcpy(j->buf, start, o);
        j->p = q;
    }
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20)
            return jp_bad(j, "a control character inside a string");
        if (c != '\\') {
            j->buf[o++] = (char)c;
            j->p++;
            continue;
        }
        if (j->end - j->p < 2)
            return jp_bad(j, "not valid JSON");
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"': case '\\': case '/': c = (unsigned char)e; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (j->end - j->p < 4 || jp_hex4(j->p, &cp) != 0)
                return jp_bad(j, "a bad \\u escape");
            j->p += 4;
            if (cp == 0)
                return jp_bad(j, "a string holds \\u0000");
            if (cp >= 0xd800 && cp <= 0xdbff && j->end - j->p >= 6 && j->p[0] == '\\' &&
                j->p[1] == 'u' && jp_hex4(j->p + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                j->p += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd;   /* a lone surrogate: shown as bad text is */
            }
            o += jp_utf8(cp, j->buf + o);
            continue;
        }
        default:
            return jp_bad(j, "a bad escape in a string");
        }
        j->buf[o++] = (char)c;
    }
    if (j->p >= j->end)
        return jp_bad(j, "not valid JSON");
    j->p++;
    j->buf[o] = '\0';
    if (len)
        *len = o;
    return 0;
}

/* A string, copied among the store's strings (mk_storefile_free_string). */
static int jp_string_dup(struct jp *j, char **out)
{
    size_t len;
    int r = jp_string(j, &len);
    *out = NULL;
    if (r != 0)
        return r;
    if (!(*out = jp_keep(j, j->buf, len)))
        return -2;
    return 0;
}

/* A number that is an integer (no fraction, no exponent, fits int64). A
 * number of another form is a schema error (*ok false), not a syntax one;
 * a leading zero ("01") or a lone '-' is a syntax error. */
static int jp_int(struct jp *j, int64_t *out, bool *ok)
{
    bool neg = false, overflow = false, integral = true;
    uint64_t v = 0;

    *ok = false;
    jp_ws(j);
    if (j->p < j->end && *j->p == '-') {
        neg = true;
        j->p++;
    }
    if (j->p >= j->end || !mk_ascii_digit(*j->p))
        return jp_bad(j, "not valid JSON");
    if (*j->p == '0' && j->p + 1 < j->end && mk_ascii_digit(j->p[1]))
        return jp_bad(j, "a number with a leading zero");
    while (j->p < j->end && mk_ascii_digit(*j->p)) {
        unsigned d = (unsigned)(*j->p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (j->p < j->end && *j->p == '.') {
        integral = false;
        j->p++;
        if (j->p >= j->end || !mk_ascii_digit(*j->p))
            return jp_bad(j, "not valid JSON");
        while (j->p < j->end && mk_ascii_digit(*j->p))
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        integral = false;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || !mk_ascii_digit(*j->p))
            return jp_bad(j, "not valid JSON");
        while (j->p < j->end && mk_ascii_digit(*j->p))
            j->p++;
    }
    *ok = integral && !overflow && v <= (uint64_t)INT64_MAX + neg;
    if (*ok)
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* The literal word (true, false, null), whole: "nullx" is no literal. */
static bool jp_literal(struct jp *j, const char *word)
{
    size_t len = strlen(word);
    jp_ws(j);
    if ((size_t)(j->end - j->p) >= len && memcmp(j->p, word, len) == 0 &&
        (j->end - j->p == (ptrdiff_t)len || !mk_ascii_alnum((unsigned char)j->p[len]))) {
        j->p += len;
        return true;
    }
    return false;
}

static int jp_skip(struct jp *j);

/* Calls each(j, key, ctx) for every member of an object, positioned at its
 * value, which each must consume. key is NULL when it is longer than
 * JP_KEY_MAX bytes: no name the schema knows. */
static int jp_object(struct jp *j, int (*each)(struct jp *, const char *, void *), void *ctx)
{
    char key[JP_KEY_MAX + 1];
    int r;

    if (++j->depth > JP_MAX_DEPTH)
        return jp_bad(j, "nested too deeply");
    if (!jp_take(j, '{'))
        return jp_bad(j, "not valid JSON");
    if (jp_take(j, '}'))
        goto done;
    do {
        size_t len;
        if ((r = jp_string(j, &len)) != 0)
            return r;
        if (len <= JP_KEY_MAX)
            memcpy(key, j->buf, len + 1);
        if (!jp_take(j, ':'))
            return jp_bad(j, "not valid JSON");
        if ((r = each(j, len <= JP_KEY_MAX ? key : NULL, ctx)) != 0)
            return r;
    } while (jp_take(j, ','));
    if (!jp_take(j, '}'))
        return jp_bad(j, "not valid JSON");
done:
    j->depth--;
    return 0;
}

static int jp_skip_member(struct jp *j, const char *key, void *ctx)
{
    return jp_skip(j);
}

/* Any value, checked and skipped. */
static int jp_skip(struct jp *j)
{
    int64_t v;
    bool ok;
    jp_ws(j);
    if (j->p >= j->end)
        return jp_bad(j, "not valid JSON");
    switch (*j->p) {
    case '{':
        return jp_object(j, jp_skip_member, NULL);
    case '[':
        if (++j->depth > JP_MAX_DEPTH)
            return jp_bad(j, "nested too deeply");
        j->p++;
        if (!jp_take(j, ']')) {
            int r;
            do {
                if ((r = jp_skip(j)) != 0)
                    return r;
            } while (jp_take(j, ','));
            if (!jp_take(j, ']'))
                return jp_bad(j, "not valid JSON");
        }
        j->depth--;
        return 0;
    case '"':
        return jp_string(j, NULL);
    case 't':
        return jp_literal(j, "true") ? 0 : jp_bad(j, "not valid JSON");
    case 'f':
        return jp_literal(j, "false") ? 0 : jp_bad(j, "not valid JSON");
    case 'n':
        return jp_literal(j, "null") ? 0 : jp_bad(j, "not valid JSON");
    default:
        return jp_int(j, &v, &ok);
    }
}

/* Whether key is word: the first bytes decide most keys without a call
 * (a store holds a million keys at 100,000 organizations). */
static inline bool jp_key_is(const char *key, const char *word)
{
    return key[0] == word[0] && strcmp(key, word) == 0;
}

/* Whether key is one the schema knows in this object for the first time:
 * bit is its flag in *seen. The second time is a schema error. */
static bool jp_first(struct jp *j, unsigned *seen, unsigned bit)
{
    if (*seen & bit) {
        jp_schema(j, "a member appears twice in one object");
        return false;
    }
    *seen |= bit;
    return true;
}

/* An integer field: a schema error if it is any other value. *ok says
 * whether it was an integer. */
static int jp_int_field(struct jp *j, int64_t *out, bool *ok, const char *what)
{
    *ok = false;
    jp_ws(j);
    if (j->p < j->end && (*j->p == '-' || mk_ascii_digit(*j->p))) {
        if (jp_int(j, out, ok) != 0)
            return -1;
    } else if (jp_skip(j) != 0) {
        return -1;
    }
    if (!*ok)
        jp_schema(j, what);
    return 0;
}

/* A string or null field; anything else is a schema error. */
static int jp_nullable_string(struct jp *j, char **out, const char *what)
{
    mk_storefile_free_string(j->s, *out);
    *out = NULL;
    if (jp_literal(j, "null"))
        return 0;
    if (jp_peek(j, '"'))
        return jp_string_dup(j, out);
    jp_schema(j, what);
    return jp_skip(j);
}

enum {
    JP_NAME = 1, JP_GROUP = 2, JP_GID = 4, JP_PINNED = 8, JP_FIRST_SEEN = 16,
    JP_REFRESHED = 32, JP_ORGS = 64,
    JP_VERSION = 128, JP_ORGANIZATIONS = 256, JP_RETIRED = 512, JP_USERS = 1024,
};

struct jp_org {
    char *name, *group;
    int64_t gid, first_seen;
    unsigned seen;
    bool pinned, has_pinned, has_first_seen, gid_null, gid_bad;
};

static int jp_org_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_org *o = ctx;
    if (!key)
        return jp_skip(j);
    if (jp_key_is(key, "name")) {
        /* Repaired straight from the decoded text: one copy. */
        jp_first(j, &o->seen, JP_NAME);
        free(o->name);
        o->name = NULL;
        if (jp_literal(j, "null"))
            return 0;
        if (!jp_peek(j, '"')) {
            jp_schema(j, "an organization name is not a string");
            return jp_skip(j);
        }
        int r = jp_string(j, NULL);
        if (r == 0 && !(o->name = mk_display_name_repair(j->buf)))
            r = -2;
        return r;
    }
    if (jp_key_is(key, "group")) {
        jp_first(j, &o->seen, JP_GROUP);
        return jp_nullable_string(j, &o->group, "an organization has a bad group name or gid");
    }
    if (jp_key_is(key, "gid")) {
        jp_first(j, &o->seen, JP_GID);
        if (jp_literal(j, "null")) {
            o->gid_null = true;
            return 0;
        }
        bool ok;
        int r = jp_int_field(j, &o->gid, &ok, "an organization has a bad group name or gid");
        o->gid_bad = !ok;
        return r;
    }
    if (jp_key_is(key, "pinned")) {
        jp_first(j, &o->seen, JP_PINNED);
        o->has_pinned = true;
        if (jp_literal(j, "true"))
            o->pinned = true;
        else if (jp_literal(j, "false"))
            o->pinned = false;
        else {
            o->has_pinned = false;
            return jp_skip(j);
        }
        return 0;
    }
    if (jp_key_is(key, "first_seen")) {
        jp_first(j, &o->seen, JP_FIRST_SEEN);
        return jp_int_field(j, &o->first_seen, &o->has_first_seen,
                            "an organization entry lacks a field");
    }
    return jp_skip(j);
}

struct jp_ctx {
    struct mk_storefile *s;
    unsigned seen;
    bool has_version, has_orgs, has_retired, has_users;
    int64_t version;
    bool nomem;
};

/* One organization entry: checked, bounded and repaired here, once. */
static int jp_orgs_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_ctx *c = ctx;
    struct mk_storefile *s = c->s;
    struct jp_org o = { 0 };
    char id[MK_ORG_ID_MAX + 1];
    int r;

    if (!jp_peek(j, '{')) {
        jp_schema(j, "a bad organization entry");
        return jp_skip(j);
    }
    if ((r = jp_object(j, jp_org_member, &o)) != 0)
        goto out;
    if (!key || !mk_org_id_canonical(key, id)) {
        jp_schema(j, "a bad organization entry");
        goto out;
    }
    if (!(o.seen & JP_NAME) || !(o.seen & JP_GROUP) || !o.has_pinned || !o.has_first_seen) {
        jp_schema(j, "an organization entry lacks a field");
        goto out;
    }
    if (o.group ? (!mk_group_name_valid(o.group) || !(o.seen & JP_GID) || o.gid_null ||
                   o.gid_bad || !storefile_gid_ok(o.gid))
                : ((o.seen & JP_GID) && !o.gid_null)) {
        jp_schema(j, o.group ? "an organization has a bad group name or gid"
                             : "an organization has a gid but no group name");
        goto out;
    }
    if (j->schema_err)
        goto out;   /* the load fails: nothing worth keeping */
    if (storefile_org_grow(s, 1) != 0) {
        c->nomem = true;
        r = -2;
        goto out;
    }
    struct mk_storefile_org *org = &s->orgs[s->org_count];
    memset(org, 0, sizeof(*org));
    s->org_count++;
    org->first_seen = o.first_seen;
    org->pinned = o.pinned;
    org->gid = o.group ? (gid_t)o.gid : 0;
    org->group = o.group;
    o.group = NULL;
    org->name = o.name;
    o.name = NULL;
    if (!(org->id = jp_keep(j, id, strlen(id)))) {
        c->nomem = true;
        r = -2;
    }
out:
    free(o.name);
    mk_storefile_free_string(s, o.group);
    return r;
}

static int jp_retired(struct jp *j, struct jp_ctx *c)
{
    struct mk_storefile *s = c->s;
    if (!jp_peek(j, '[')) {
        jp_schema(j, "missing organizations, retired_gids or users");
        return jp_skip(j);
    }
    c->has_retired = true;
    j->p++;
    if (jp_take(j, ']'))
        return 0;
    do {
        int64_t gid = 0;
        bool ok;
        if (jp_int_field(j, &gid, &ok, "a bad retired gid") != 0)
            return -1;
        if (!ok || !storefile_gid_ok(gid)) {
            jp_schema(j, "a bad retired gid");
            continue;
        }
        if (s->retired_count == s->retired_cap) {
            size_t cap = s->retired_cap ? s->retired_cap * 2 : 16;
            gid_t *v = reallocarray(s->retired, cap, sizeof(*v));
            if (!v) {
                c->nomem = true;
                return -2;
            }
            s->retired = v;
            s->retired_cap = cap;
        }
        s->retired[s->retired_count++] = (gid_t)gid;
    } while (jp_take(j, ','));
    return jp_take(j, ']') ? 0 : jp_bad(j, "not valid JSON");
}

struct jp_user {
    struct jp_ctx *c;
    struct mk_storefile_user *u;
    unsigned seen;
    bool has_refreshed, has_orgs;
};

static int jp_user_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_user *pu = ctx;
    struct mk_storefile_user *u = pu->u;
    if (!key)
        return jp_skip(j);
    if (jp_key_is(key, "refreshed")) {
        jp_first(j, &pu->seen, JP_REFRESHED);
        return jp_int_field(j, &u->refreshed, &pu->has_refreshed, "a bad user entry");
    }
    if (!jp_key_is(key, "orgs"))
        return jp_skip(j);
    if (!jp_first(j, &pu->seen, JP_ORGS) || !jp_peek(j, '[')) {
        jp_schema(j, "a bad user entry");
        return jp_skip(j);
    }
    pu->has_orgs = true;
    j->p++;
    if (jp_take(j, ']'))
        return 0;
    size_t cap = 0;
    do {
        char *id = NULL;
        int r;
        if (!jp_peek(j, '"')) {
            jp_schema(j, "a user belongs to an unknown organization");
            if (jp_skip(j) != 0)
                return -1;
            continue;
        }
        if ((r = jp_string_dup(j, &id)) != 0) {
            pu->c->nomem = r == -2;
            return r;
        }
        if (u->org_count == cap) {
            cap = cap ? cap * 2 : 4;
            char **v = reallocarray(u->orgs, cap, sizeof(*v));
            if (!v) {
                mk_storefile_free_string(pu->c->s, id);
                pu->c->nomem = true;
                return -2;
            }
            u->orgs = v;
        }
        u->orgs[u->org_count++] = id;
    } while (jp_take(j, ','));
    return jp_take(j, ']') ? 0 : jp_bad(j, "not valid JSON");
}

static int jp_users_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_ctx *c = ctx;
    struct mk_storefile *s = c->s;
    if (!key || !mk_user_name_valid(key) || !jp_peek(j, '{')) {
        jp_schema(j, "a bad user entry");
        return jp_skip(j);
    }
    if (s->user_count == s->user_cap) {
        size_t cap = s->user_cap ? s->user_cap * 2 : 16;
        struct mk_storefile_user *v = reallocarray(s->users, cap, sizeof(*v));
        if (!v) {
            c->nomem = true;
            return -2;
        }
        s->users = v;
        s->user_cap = cap;
    }
    struct mk_storefile_user *u = &s->users[s->user_count];
    memset(u, 0, sizeof(*u));
    s->user_count++;
    if (!(u->name = jp_keep(j, key, strlen(key)))) {
        c->nomem = true;
        return -2;
    }
    struct jp_user pu = { c, u, 0, false, false };
    int r = jp_object(j, jp_user_member, &pu);
    if (r == 0 && (!pu.has_refreshed || !pu.has_orgs))
        jp_schema(j, "a bad user entry");
    return r;
}

static int jp_root_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_ctx *c = ctx;
    if (!key)
        return jp_skip(j);
    if (jp_key_is(key, "version")) {
        jp_first(j, &c->seen, JP_VERSION);
        return jp_int_field(j, &c->version, &c->has_version, "no version");
    }
    if (jp_key_is(key, "organizations")) {
        jp_first(j, &c->seen, JP_ORGANIZATIONS);
        if (!jp_peek(j, '{')) {
            jp_schema(j, "missing organizations, retired_gids or users");
            return jp_skip(j);
        }
        c->has_orgs = true;
        return jp_object(j, jp_orgs_member, c);
    }
    if (jp_key_is(key, "retired_gids")) {
        jp_first(j, &c->seen, JP_RETIRED);
        return jp_retired(j, c);
    }
    if (jp_key_is(key, "users")) {
        jp_first(j, &c->seen, JP_USERS);
        if (!jp_peek(j, '{')) {
            jp_schema(j, "missing organizations, retired_gids or users");
            return jp_skip(j);
        }
        c->has_users = true;
        return jp_object(j, jp_users_member, c);
    }
    return jp_skip(j);
}

/* Two keys of store.json that are one canonical id (an older writer kept
 * the API's spelling): the first (storefile_cmp_org_load) kept, the other merged into it and its gid
 * retired, so that it is never given to anyone else (invariant 3). */
static mk_status storefile_merge_duplicates(struct mk_storefile *s, const char *path,
                                            const struct mk_log_sink *sink, mk_error *err)
{
    size_t k = 0;
    for (size_t i = 0; i < s->org_count; i++) {
        struct mk_storefile_org *o = &s->orgs[i];
        if (k == 0 || strcmp(s->orgs[k - 1].id, o->id) != 0) {
            s->orgs[k++] = *o;
            continue;
        }
        struct mk_storefile_org *keep = &s->orgs[k - 1];
        if (o->group && !(keep->group && keep->gid == o->gid)) {
            mk_log(sink, MK_LOG_WARNING, "%s: organization %s appears twice (in another case); "
                   "group %s (gid %u) of the second entry retired", path, o->id, o->group,
                   (unsigned)o->gid);
            if (mk_storefile_retire(s, o->gid) != 0)
                return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
        }
        if (!keep->name) {
            keep->name = o->name;
            o->name = NULL;
        }
        if (o->first_seen < keep->first_seen)
            keep->first_seen = o->first_seen;
        storefile_org_free(s, o);
    }
    s->org_count = k;
    return MK_OK;
}

static uint64_t storefile_hash(const char *str)
{
    return mk_hash_mix(mk_fnv1a_str(str));
}

/* No two organizations share a group name or a gid, and no organization
 * holds a retired gid: assignment relies on it. Two hash sets, at most
 * half full, filled once: linear in the number of organizations. */
static mk_status storefile_check_unique(const struct mk_storefile *s, const char *path,
                                        mk_error *err)
{
    size_t cap = 16;
    const char **names;
    gid_t *gids;
    mk_status st = MK_OK;

    while (cap < s->org_count * 2)
        cap *= 2;
    names = calloc(cap, sizeof(*names));
    gids = calloc(cap, sizeof(*gids));
    if (!names || !gids) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (size_t i = 0; i < s->org_count; i++) {
        const struct mk_storefile_org *o = &s->orgs[i];
        size_t k;
        if (!o->group)
            continue;
        if (mk_storefile_is_retired(s, o->gid))
            goto shared;
        for (k = storefile_hash(o->group) & (cap - 1); names[k]; k = (k + 1) & (cap - 1))
            if (strcmp(names[k], o->group) == 0)
                goto shared;
        names[k] = o->group;
        /* gid 0 never has a group (storefile_gid_ok): 0 marks a free slot. */
        for (k = (size_t)(o->gid * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1); gids[k];
             k = (k + 1) & (cap - 1))
            if (gids[k] == o->gid)
                goto shared;
        gids[k] = o->gid;
    }
    goto out;
shared:
    st = store_corrupt(err, path, "two organizations share a group name or a gid");
out:
    free(names);
    free(gids);
    return st;
}

/* Each user's organizations: canonical, known, sorted, unique. */
static mk_status storefile_check_users(struct mk_storefile *s, const char *path, mk_error *err)
{
    for (size_t i = 1; i < s->user_count; i++) {
        if (storefile_cmp_user(&s->users[i - 1], &s->users[i]) > 0) {
            qsort(s->users, s->user_count, sizeof(*s->users), storefile_cmp_user);
            break;
        }
    }
    for (size_t i = 1; i < s->user_count; i++)
        if (strcmp(s->users[i - 1].name, s->users[i].name) == 0)
            return store_corrupt(err, path, "a user appears twice");
    enum { AHEAD = 8 };
    for (size_t i = 0; i < s->user_count; i++) {
        struct mk_storefile_user *u = &s->users[i];
        size_t k = 0;
        if (i + AHEAD < s->user_count && s->users[i + AHEAD].org_count)
            mk_storefile_prefetch_org(s, s->users[i + AHEAD].orgs[0]);
        for (size_t n = 0; n < u->org_count; n++) {
            char id[MK_ORG_ID_MAX + 1];
            if (!mk_org_id_canonical(u->orgs[n], id) || mk_storefile_find_org(s, id) < 0)
                return store_corrupt(err, path, "a user belongs to an unknown organization");
            memcpy(u->orgs[n], id, strlen(id) + 1);   /* the same length */
        }
        if (u->org_count > 1)
            qsort(u->orgs, u->org_count, sizeof(*u->orgs), storefile_cmp_str);
        for (size_t n = 0; n < u->org_count; n++) {
            if (k > 0 && strcmp(u->orgs[k - 1], u->orgs[n]) == 0) {
                mk_storefile_free_string(s, u->orgs[n]);
                continue;
            }
            u->orgs[k++] = u->orgs[n];
        }
        u->org_count = k;
    }
    return MK_OK;
}

static mk_status storefile_parse_text(struct jp *j, struct mk_storefile *s, const char *path,
                                      const struct mk_log_sink *sink, mk_error *err)
{
    struct jp_ctx c = { .s = s };
    size_t k = 0;
    mk_status st;
    int r;

    jp_ws(j);
    if (j->p == j->end)
        return store_corrupt(err, path, "empty");
    if (!jp_peek(j, '{')) {
        r = jp_skip(j);
        if (r == -2 || c.nomem)
            goto nomem;
        return store_corrupt(err, path, r == 0 ? "no version"
                                                : j->syntax_err ? j->syntax_err : "not valid JSON");
    }
    r = jp_object(j, jp_root_member, &c);
    if (r == -2 || c.nomem)
        goto nomem;
    if (r != 0)
        return store_corrupt(err, path, j->syntax_err ? j->syntax_err : "not valid JSON");
    jp_ws(j);
    if (j->p != j->end)
        return store_corrupt(err, path, "text after the JSON object");
    if (!c.has_version)
        return store_corrupt(err, path, "no version");
    if (c.version != STORE_VERSION)
        return mk_error_set(err, MK_ERR_IO, "%s has version %" PRId64 ", this program knows only "
                            "version %d; it is left untouched", path, c.version, STORE_VERSION);
    if (j->schema_err)
        return store_corrupt(err, path, j->schema_err);
    if (!c.has_orgs || !c.has_retired || !c.has_users)
        return store_corrupt(err, path, "missing organizations, retired_gids or users");

    /* What this module wrote is in order already: sort only if not. */
    for (size_t i = 1; i < s->retired_count; i++) {
        if (s->retired[i - 1] > s->retired[i]) {
            qsort(s->retired, s->retired_count, sizeof(*s->retired), storefile_cmp_gid);
            break;
        }
    }
    for (size_t i = 0; i < s->retired_count; i++)
        if (k == 0 || s->retired[k - 1] != s->retired[i])
            s->retired[k++] = s->retired[i];
    s->retired_count = k;
    /* Organizations: appended, sorted once, duplicates merged. */
    for (size_t i = 1; i < s->org_count; i++) {
        if (storefile_cmp_org_load(&s->orgs[i - 1], &s->orgs[i]) > 0) {
            qsort(s->orgs, s->org_count, sizeof(*s->orgs), storefile_cmp_org_load);
            break;
        }
    }
    if ((st = storefile_merge_duplicates(s, path, sink, err)) != MK_OK)
        return st;
    storefile_index_orgs(s);
    if ((st = storefile_check_users(s, path, err)) != MK_OK)
        return st;
    return storefile_check_unique(s, path, err);
nomem:
    return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
}

/* Parses text[0..len). With own, text is a malloc'd buffer of len + 1
 * bytes that s takes (freed with it, or on failure): the kept strings are
 * copied into what was parsed of it, where they are near one another and
 * cost no allocation. Without, they go to a block of their own. */
static mk_status storefile_parse(struct mk_storefile *s, char *own, const char *text, size_t len,
                                 const char *path, const struct mk_log_sink *sink, mk_error *err)
{
    struct jp j = { .p = text, .end = text + len, .s = s, .start = text, .in_place = own };
    mk_status st;

    /* Every string kept is decoded from a string of the text, no longer
     * than it with its quotes: the text's length bounds them all. */
    if (own) {
        s->strings = own;
        s->strings_size = len + 1;
    } else if (len > 0 && (s->strings = malloc(len + 1))) {
        s->strings_size = len + 1;
    }
    st = storefile_parse_text(&j, s, path, sink, err);
    free(j.buf);
    return st;
}

mk_status mk_storefile_parse_buffer(const char *text, size_t len, const char *path,
                                    struct mk_storefile *s, const struct mk_log_sink *sink,
                                    mk_error *err)
{
    mk_status st;

    memset(s, 0, sizeof(*s));
    if (len > (size_t)STORE_MAX_BYTES)
        return mk_error_set(err, MK_ERR_IO, "%s is larger than %ld bytes; not touching it",
                            path, STORE_MAX_BYTES);
    st = storefile_parse(s, NULL, text ? text : "", text ? len : 0, path, sink, err);
    if (st != MK_OK)
        mk_storefile_free(s);
    return st;
}

mk_status mk_storefile_load(int dirfd, const char *dir, struct mk_storefile *s,
                            const struct mk_log_sink *sink, mk_error *err)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    mk_status st;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, MK_STOREFILE_NAME);

    memset(s, 0, sizeof(*s));
    if (n < 0 || (size_t)n >= sizeof(path))
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    st = store_read_file(dirfd, MK_STOREFILE_NAME, path, &text, &len, err);
    if (st == MK_OK && text) {
        st = storefile_parse(s, text, text, len, path, sink, err);   /* s takes text */
        text = NULL;
    }
    free(text);
    if (st != MK_OK)
        mk_storefile_free(s);
    return st;
}


/* ---- saving ---- */

/* The text is laid out in one buffer: each entry first reserves what it can
 * take at most (an escaped byte takes six), then is written without a
 * check per byte. At 100,000 organizations the file is tens of megabytes;
 * appending field by field through realloc checks cost more than the rest
 * of the write. */
struct storefile_text {
    char *v;
    size_t n, cap;
    bool failed;
};

static char *text_reserve(struct storefile_text *t, size_t more)
{
    if (t->failed)
        return NULL;
    if (more > SIZE_MAX / 2 - t->n) {
        t->failed = true;
        return NULL;
    }
    if (t->n + more + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 65536;
        while (cap < t->n + more + 1)
            cap *= 2;
        char *v = realloc(t->v, cap);
        if (!v) {
            t->failed = true;
            return NULL;
        }
        t->v = v;
        t->cap = cap;
    }
    return t->v + t->n;
}

static char *put_mem(char *o, const char *s, size_t len)
{
    memcpy(o, s, len);
    return o + len;
}

#define PUT_LIT(o, lit) put_mem((o), (lit), sizeof(lit) - 1)

static char *put_int(char *o, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return put_mem(o, p, (size_t)(buf + sizeof(buf) - p));
}

/* A JSON string of s[0..len) (at most 6 * len + 2 bytes): '"', '\\' and
 * control characters escaped; the rest (valid UTF-8: names are repaired,
 * ids and group names ASCII) as it is. */
static char *put_string(char *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s, *end = s + len;
    *o++ = '"';
    for (; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        o = put_mem(o, run, (size_t)(s - run));
        run = s + 1;
        *o++ = '\\';
        if (c == '"' || c == '\\') {
            *o++ = (char)c;
            continue;
        }
        o = PUT_LIT(o, "u00");
        *o++ = hex[c >> 4];
        *o++ = hex[c & 0xf];
    }
    o = put_mem(o, run, (size_t)(end - run));
    *o++ = '"';
    return o;
}

static char *put_nullable(char *o, const char *s, size_t len)
{
    return s ? put_string(o, s, len) : PUT_LIT(o, "null");
}

/* Bytes an entry's fixed text and numbers take at most, strings aside. */
#define TEXT_ENTRY_FIXED 256

/* One organization or user per line: readable and diffable by an admin,
 * and a third the bytes of one member per line, which every login reads. */
char *mk_storefile_serialize(const struct mk_storefile *s)
{
    struct storefile_text t = { 0 };
    char *o;

    /* A loaded store's text is about as long as the file it came from:
     * reserved at once rather than grown through a dozen reallocs. */
    if (!(o = text_reserve(&t, s->strings_size + s->strings_size / 4 + TEXT_ENTRY_FIXED)))
        return NULL;
    if (!(o = text_reserve(&t, TEXT_ENTRY_FIXED)))
        return NULL;
    o = PUT_LIT(o, "{\n  \"version\": ");
    o = put_int(o, STORE_VERSION);
    o = PUT_LIT(o, ",\n  \"organizations\": {");
    t.n = (size_t)(o - t.v);
    for (size_t i = 0; i < s->org_count; i++) {
        const struct mk_storefile_org *org = &s->orgs[i];
        size_t id_len = strlen(org->id), name_len = org->name ? strlen(org->name) : 0;
        size_t group_len = org->group ? strlen(org->group) : 0;
        if (!(o = text_reserve(&t, TEXT_ENTRY_FIXED + 6 * (id_len + name_len + group_len))))
            goto fail;
        o = i ? PUT_LIT(o, ",\n    ") : PUT_LIT(o, "\n    ");
        o = put_string(o, org->id, id_len);
        o = PUT_LIT(o, ": {\"name\": ");
        o = put_nullable(o, org->name, name_len);
        o = PUT_LIT(o, ", \"group\": ");
        o = put_nullable(o, org->group, group_len);
        o = PUT_LIT(o, ", \"gid\": ");
        o = org->group ? put_int(o, org->gid) : PUT_LIT(o, "null");
        o = org->pinned ? PUT_LIT(o, ", \"pinned\": true")
                        : PUT_LIT(o, ", \"pinned\": false");
        o = PUT_LIT(o, ", \"first_seen\": ");
        o = put_int(o, org->first_seen);
        o = PUT_LIT(o, "}");
        t.n = (size_t)(o - t.v);
    }
    if (!(o = text_reserve(&t, TEXT_ENTRY_FIXED)))
        goto fail;
    o = s->org_count ? PUT_LIT(o, "\n  },\n  \"retired_gids\": [")
                     : PUT_LIT(o, "},\n  \"retired_gids\": [");
    t.n = (size_t)(o - t.v);
    for (size_t i = 0; i < s->retired_count; i++) {
        if (!(o = text_reserve(&t, 32)))
            goto fail;
        o = i ? PUT_LIT(o, ", ") : o;
        o = put_int(o, s->retired[i]);
        t.n = (size_t)(o - t.v);
    }
    if (!(o = text_reserve(&t, TEXT_ENTRY_FIXED)))
        goto fail;
    o = PUT_LIT(o, "],\n  \"users\": {");
    t.n = (size_t)(o - t.v);
    for (size_t i = 0; i < s->user_count; i++) {
        const struct mk_storefile_user *u = &s->users[i];
        size_t name_len = strlen(u->name);
        if (!(o = text_reserve(&t, TEXT_ENTRY_FIXED + 6 * name_len)))
            goto fail;
        o = i ? PUT_LIT(o, ",\n    ") : PUT_LIT(o, "\n    ");
        o = put_string(o, u->name, name_len);
        o = PUT_LIT(o, ": {\"refreshed\": ");
        o = put_int(o, u->refreshed);
        o = PUT_LIT(o, ", \"orgs\": [");
        t.n = (size_t)(o - t.v);
        for (size_t k = 0; k < u->org_count; k++) {
            size_t id_len = strlen(u->orgs[k]);
            if (!(o = text_reserve(&t, 8 + 6 * id_len)))
                goto fail;
            o = k ? PUT_LIT(o, ", ") : o;
            o = put_string(o, u->orgs[k], id_len);
            t.n = (size_t)(o - t.v);
        }
        if (!(o = text_reserve(&t, 16)))
            goto fail;
        o = PUT_LIT(o, "]}");
        t.n = (size_t)(o - t.v);
    }
    if (!(o = text_reserve(&t, 16)))
        goto fail;
    o = s->user_count ? PUT_LIT(o, "\n  }\n}\n") : PUT_LIT(o, "}\n}\n");
    *o = '\0';
    return t.v;
fail:
    free(t.v);
    return NULL;
}
