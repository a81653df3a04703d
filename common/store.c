/* common/store.c: the membership store (invariants 3 and 4).
 *
 * cfg->state_dir holds store.json (the history of every organization ever
 * seen, with its group name and gid, and each user's joined organizations),
 * store.lock (flock, one fresh descriptor per call) and groups.db (compiled
 * for the NSS module from store.json). store.json never holds a token.
 *
 * A gid once given to an organization is never given to another: it stays in
 * the organization's record for good, and a gid a pin moved away from is kept
 * in retired_gids. A corrupt store.json is never overwritten.
 *
 * Nothing in state_dir is trusted unless root (or, not running as root, the
 * effective user) owns it and nobody else can write it: the directory is
 * opened once without following a link, checked, and every file is reached
 * through that descriptor and checked again after opening (store_open_dir,
 * store_open_file). Entries of store.json are still re-checked against the
 * configuration before they are compiled (store_org_fits).
 */
#include "store.h"
#include "groupfile.h"
#include "tempname.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define STORE_VERSION 1
#define STORE_FILE "store.json"
#define STORE_LOCK_FILE "store.lock"
#define STORE_GROUP_FILE "groups.db"
#define STORE_MAX_BYTES (256L * 1024 * 1024)
#define STORE_NAME_MAX 32          /* portable group name length */
#define STORE_USER_MAX 256
#define STORE_ORG_ID_MAX 128
#define STORE_DISPLAY_MAX 256      /* display names are kept for people only */
#define STORE_FRAGMENT_SHORT 8
#define STORE_SUFFIX_MAX 9999
#define STORE_LOCK_POLL_NS (5L * 1000 * 1000)
/* store.json's temporary files: "." STORE_FILE "." and six letters or digits
 * (the mkstemp shape, which earlier versions used). */
#define STORE_TEMP_PREFIX "." STORE_FILE "."
#define STORE_TEMP_TRIES 100

static char store_etc_group_path[PATH_MAX] = "/etc/group";

void mk_store_set_etc_group_path(const char *path)
{
    snprintf(store_etc_group_path, sizeof(store_etc_group_path), "%s",
             path ? path : "/etc/group");
}

/* ---- small sets, sorted arrays searched by bisection ---- */

struct gid_set {
    gid_t *v;
    size_t n, cap;
};

struct name_set {
    char **v;   /* owned copies */
    size_t n, cap;
};

static size_t gid_set_lower(const struct gid_set *s, gid_t gid)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid] < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool gid_set_has(const struct gid_set *s, gid_t gid)
{
    size_t i = gid_set_lower(s, gid);
    return i < s->n && s->v[i] == gid;
}

static int gid_set_add(struct gid_set *s, gid_t gid)
{
    size_t i = gid_set_lower(s, gid);
    if (i < s->n && s->v[i] == gid)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        gid_t *v = reallocarray(s->v, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof(*s->v));
    s->v[i] = gid;
    s->n++;
    return 0;
}

/* How many members of s lie in [lo, hi]. */
static uint64_t gid_set_count_in(const struct gid_set *s, gid_t lo, gid_t hi)
{
    size_t a = gid_set_lower(s, lo);
    size_t b = a;
    while (b < s->n && s->v[b] <= hi)
        b++;
    return b - a;
}

static void gid_set_free(struct gid_set *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static size_t name_set_lower(const struct name_set *s, const char *name)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->v[mid], name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool name_set_has(const struct name_set *s, const char *name)
{
    size_t i = name_set_lower(s, name);
    return i < s->n && strcmp(s->v[i], name) == 0;
}

static int name_set_add(struct name_set *s, const char *name)
{
    size_t i = name_set_lower(s, name);
    if (i < s->n && strcmp(s->v[i], name) == 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = reallocarray(s->v, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof(*s->v));
    s->v[i] = copy;
    s->n++;
    return 0;
}

static void name_set_free(struct name_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* ---- the store in memory ---- */

struct store_org {
    char *id;
    char *name;        /* display name, may be NULL */
    char *group;       /* NULL: no group assigned yet */
    gid_t gid;         /* 0 exactly when group is NULL */
    bool pinned;
    int64_t first_seen;
};

struct store_user {
    char *name;
    int64_t refreshed;
    char **orgs;       /* sorted, unique, each an id in the store */
    size_t org_count;
};

struct store {
    struct store_org *orgs;    /* sorted by id */
    size_t org_count, org_cap;
    struct gid_set retired;
    struct store_user *users;  /* sorted by name */
    size_t user_count, user_cap;
};

static void store_user_clear_orgs(struct store_user *u)
{
    for (size_t i = 0; i < u->org_count; i++)
        free(u->orgs[i]);
    free(u->orgs);
    u->orgs = NULL;
    u->org_count = 0;
}

static void store_free(struct store *s)
{
    for (size_t i = 0; i < s->org_count; i++) {
        free(s->orgs[i].id);
        free(s->orgs[i].name);
        free(s->orgs[i].group);
    }
    free(s->orgs);
    gid_set_free(&s->retired);
    for (size_t i = 0; i < s->user_count; i++) {
        free(s->users[i].name);
        store_user_clear_orgs(&s->users[i]);
    }
    free(s->users);
    memset(s, 0, sizeof(*s));
}

/* Index of the org with this id, or where it would be inserted. */
static size_t store_org_lower(const struct store *s, const char *id)
{
    size_t lo = 0, hi = s->org_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->orgs[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct store_org *store_org_find(const struct store *s, const char *id)
{
    size_t i = store_org_lower(s, id);
    return i < s->org_count && strcmp(s->orgs[i].id, id) == 0 ? &s->orgs[i] : NULL;
}

/* Inserts a blank org (id copied) and returns it; pointers to other orgs
 * are invalidated. NULL on memory failure. */
static struct store_org *store_org_insert(struct store *s, const char *id)
{
    size_t i = store_org_lower(s, id);
    if (s->org_count == s->org_cap) {
        size_t cap = s->org_cap ? s->org_cap * 2 : 16;
        struct store_org *v = reallocarray(s->orgs, cap, sizeof(*v));
        if (!v)
            return NULL;
        s->orgs = v;
        s->org_cap = cap;
    }
    char *copy = strdup(id);
    if (!copy)
        return NULL;
    memmove(s->orgs + i + 1, s->orgs + i, (s->org_count - i) * sizeof(*s->orgs));
    memset(&s->orgs[i], 0, sizeof(s->orgs[i]));
    s->orgs[i].id = copy;
    s->org_count++;
    return &s->orgs[i];
}

static size_t store_user_lower(const struct store *s, const char *name)
{
    size_t lo = 0, hi = s->user_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->users[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct store_user *store_user_get(struct store *s, const char *name)
{
    size_t i = store_user_lower(s, name);
    if (i < s->user_count && strcmp(s->users[i].name, name) == 0)
        return &s->users[i];
    if (s->user_count == s->user_cap) {
        size_t cap = s->user_cap ? s->user_cap * 2 : 16;
        struct store_user *v = reallocarray(s->users, cap, sizeof(*v));
        if (!v)
            return NULL;
        s->users = v;
        s->user_cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    memmove(s->users + i + 1, s->users + i, (s->user_count - i) * sizeof(*s->users));
    memset(&s->users[i], 0, sizeof(s->users[i]));
    s->users[i].name = copy;
    s->user_count++;
    return &s->users[i];
}

/* ---- validation of names that come from outside ---- */

static bool store_user_name_ok(const char *user)
{
    size_t len = user ? strlen(user) : 0;
    if (len == 0 || len > STORE_USER_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++) {
        if (*p == ':' || *p == ',' || *p == '/' || isspace(*p) || *p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

/* Ids are [A-Za-z0-9-]; at least one letter or digit, so that a derived
 * group name always carries an id fragment. */
bool mk_store_org_id_valid(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    bool alnum = false;
    if (len == 0 || len > STORE_ORG_ID_MAX)
        return false;
    for (const char *p = id; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            alnum = true;
        else if (*p != '-')
            return false;
    }
    return alnum;
}

/* [a-z_][a-z0-9_-]*, at most 32 characters. */
static bool store_group_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > STORE_NAME_MAX)
        return false;
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    }
    return true;
}

static bool store_gid_ok(int64_t gid)
{
    return gid > 0 && gid < (int64_t)UINT32_MAX;
}

/* A copy of a display name safe to keep: valid UTF-8 (bad bytes become '?'),
 * at most STORE_DISPLAY_MAX bytes, cut at a character boundary. */
static char *store_display_copy(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    char *out = malloc(STORE_DISPLAY_MAX + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    while (*p) {
        size_t len = 0;
        if (*p < 0x80)
            len = 1;
        else if (*p >= 0xc2 && *p <= 0xdf)
            len = 2;
        else if (*p >= 0xe0 && *p <= 0xef)
            len = 3;
        else if (*p >= 0xf0 && *p <= 0xf4)
            len = 4;
        bool valid = len > 0;
        for (size_t k = 1; valid && k < len; k++)
            valid = (p[k] & 0xc0) == 0x80;
        /* Overlong three/four-byte forms, surrogates and code points above U+10FFFF. */
        if (valid && len == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0)))
            valid = false;
        if (valid && len == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90)))
            valid = false;
        if (!valid)
            len = 1;
        if (o + len > STORE_DISPLAY_MAX)
            break;
        if (valid)
            memcpy(out + o, p, len);
        else
            out[o] = '?';
        o += len;
        p += len;
    }
    out[o] = '\0';
    return out;
}

/* ---- files ---- */

static int store_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

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
static mk_status store_open_dir(const char *dir, bool create, int *fd_out, mk_error *err)
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
static mk_status store_open_file(int dfd, const char *name, const char *path, int flags,
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

static long store_elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* Takes the store lock on a fresh descriptor (so that threads of one process
 * serialize too), polling until timeout_ms. Returns the descriptor in *fd. */
static mk_status store_lock(int dfd, const char *dir, long timeout_ms, int *fd_out,
                            mk_error *err)
{
    char path[PATH_MAX];
    struct timespec start;
    int fd = -1;
    mk_status st;

    if (store_path(path, sizeof(path), dir, STORE_LOCK_FILE) != 0)
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    if ((st = store_open_file(dfd, STORE_LOCK_FILE, path, O_RDWR | O_CREAT, &fd, err)) != MK_OK)
        return st;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            st = mk_error_set(err, MK_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
            goto out;
        }
        if (store_elapsed_ms(&start) >= timeout_ms) {
            st = mk_error_set(err, MK_ERR_BUSY, "the membership store is locked by another process");
            goto out;
        }
        struct timespec pause = { 0, STORE_LOCK_POLL_NS };
        nanosleep(&pause, NULL);
    }
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return st;
}

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
    if ((status = store_open_file(dfd, name, path, O_RDONLY, &fd, err)) != MK_OK || fd < 0)
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

static int store_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Whether a name in the state directory is one of store.json's temporary
 * files (STORE_TEMP_PREFIX and six letters or digits). */
static bool store_is_temp(const char *name)
{
    size_t len = strlen(STORE_TEMP_PREFIX);
    if (strncmp(name, STORE_TEMP_PREFIX, len) != 0)
        return false;
    name += len;
    return mk_tempname_is_suffix(name);
}

/* Writes data to a new temporary file in dfd (mode 0644, fsync'd) and puts
 * its name in tmp. The caller renames or unlinks it. */
static mk_status store_write_temp(int dfd, const char *dir, const char *data, size_t len,
                                  char *tmp, size_t tmp_size, mk_error *err)
{
    char suffix[MK_TEMPNAME_RANDOM + 1];
    mk_status st = MK_OK;
    int fd = -1, r = 0;

    for (int i = 0; i < STORE_TEMP_TRIES && fd < 0; i++) {
        mk_tempname_suffix(suffix);
        snprintf(tmp, tmp_size, STORE_TEMP_PREFIX "%s", suffix);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        st = mk_error_set(err, MK_ERR_IO, "cannot create a temporary file in %s: %s",
                          dir, strerror(errno));
        tmp[0] = '\0';
        return st;
    }
    if (fchmod(fd, 0644) != 0 || (r = store_write_all(fd, data, len)) != 0 || fsync(fd) != 0) {
        st = mk_error_set(err, MK_ERR_IO, "cannot write %s/%s: %s", dir, tmp,
                          strerror(r ? -r : errno));
        goto out;
    }
out:
    if (close(fd) != 0 && st == MK_OK)
        st = mk_error_set(err, MK_ERR_IO, "cannot write %s/%s: %s", dir, tmp, strerror(errno));
    if (st != MK_OK) {
        unlinkat(dfd, tmp, 0);
        tmp[0] = '\0';
    }
    return st;
}

/* Removes the temporary files of store.json and groups.db that writers
 * killed between creating and renaming them left behind. Only under the
 * lock, when no live writer has one. Failures are logged, not returned: a
 * stray file costs space, never correctness. */
static void store_remove_stale_temps(int dfd, const char *dir)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        syslog(LOG_WARNING, "mkio: cannot list %s to remove stale temporary files: %s",
               dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d))) {
        if (!store_is_temp(e->d_name) && !mk_groupfile_is_temp(e->d_name, STORE_GROUP_FILE))
            continue;
        if (unlinkat(dfd, e->d_name, 0) == 0)
            syslog(LOG_NOTICE, "mkio: removed %s/%s, left by an interrupted write",
                   dir, e->d_name);
        else if (errno != ENOENT)
            syslog(LOG_WARNING, "mkio: cannot remove the stale temporary file %s/%s: %s",
                   dir, e->d_name, strerror(errno));
    }
    closedir(d);
}

/* ---- /etc/group ---- */

struct etc_groups {
    struct name_set names;
    struct gid_set gids;
};

static void etc_groups_free(struct etc_groups *etc)
{
    name_set_free(&etc->names);
    gid_set_free(&etc->gids);
}

/* Every name and gid of the local group file. fgetgrent_r: several threads
 * of one process may be here at once. */
static mk_status etc_groups_read(struct etc_groups *etc, mk_error *err)
{
    const char *path = store_etc_group_path;
    size_t size = 4096;
    char *buf = NULL;
    mk_status st = MK_OK;
    FILE *f = fopen(path, "re");

    memset(etc, 0, sizeof(*etc));
    if (!f)
        return mk_error_set(err, MK_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    buf = malloc(size);
    if (!buf)
        goto nomem;
    for (;;) {
        struct group gr, *res = NULL;
        long pos = ftell(f);
        int r = fgetgrent_r(f, &gr, buf, size, &res);
        if (r == ERANGE) {
            /* The entry did not fit: grow and read the same line again. */
            char *bigger = size < (1u << 24) ? realloc(buf, size * 2) : NULL;
            if (!bigger || pos < 0 || fseek(f, pos, SEEK_SET) != 0) {
                free(bigger ? bigger : buf);
                buf = NULL;
                st = mk_error_set(err, MK_ERR_IO, "cannot read %s: an entry is too long", path);
                goto out;
            }
            buf = bigger;
            size *= 2;
            continue;
        }
        if (r == ENOENT || !res)
            break;
        if (r != 0) {
            st = mk_error_set(err, MK_ERR_IO, "cannot read %s: %s", path, strerror(r));
            goto out;
        }
        if (name_set_add(&etc->names, gr.gr_name) != 0 || gid_set_add(&etc->gids, gr.gr_gid) != 0)
            goto nomem;
    }
    goto out;
nomem:
    st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
out:
    free(buf);
    fclose(f);
    if (st != MK_OK)
        etc_groups_free(etc);
    return st;
}

/* ---- store.json ---- */

static mk_status store_corrupt(mk_error *err, const char *path, const char *what)
{
    return mk_error_set(err, MK_ERR_IO, "%s is corrupt (%s); it holds the gid history, so it is "
                        "left untouched: an administrator must look at it", path, what);
}

static bool json_get_int(json_object *obj, const char *key, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    errno = 0;
    *out = json_object_get_int64(v);
    return errno == 0;
}

static mk_status store_parse_org(struct store *s, const char *id, json_object *val,
                                 const char *path, mk_error *err)
{
    json_object *name, *group, *pinned;
    int64_t gid = 0, first_seen = 0;
    struct store_org *org;

    if (!mk_store_org_id_valid(id) || !json_object_is_type(val, json_type_object))
        return store_corrupt(err, path, "a bad organization entry");
    if (!json_object_object_get_ex(val, "name", &name) ||
        !json_object_object_get_ex(val, "group", &group) ||
        !json_object_object_get_ex(val, "pinned", &pinned) ||
        !json_object_is_type(pinned, json_type_boolean) ||
        !json_get_int(val, "first_seen", &first_seen))
        return store_corrupt(err, path, "an organization entry lacks a field");
    if (name && !json_object_is_type(name, json_type_string))
        return store_corrupt(err, path, "an organization name is not a string");
    if (group) {
        if (!json_object_is_type(group, json_type_string) ||
            !store_group_name_ok(json_object_get_string(group)) ||
            !json_get_int(val, "gid", &gid) || !store_gid_ok(gid))
            return store_corrupt(err, path, "an organization has a bad group name or gid");
    } else {
        json_object *g;
        if (json_object_object_get_ex(val, "gid", &g) && g)
            return store_corrupt(err, path, "an organization has a gid but no group name");
    }
    if (store_org_find(s, id))
        return store_corrupt(err, path, "an organization appears twice");
    org = store_org_insert(s, id);
    if (!org)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    org->first_seen = first_seen;
    org->pinned = json_object_get_boolean(pinned);
    org->gid = (gid_t)gid;
    if (name && !(org->name = strdup(json_object_get_string(name))))
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    if (group && !(org->group = strdup(json_object_get_string(group))))
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    return MK_OK;
}

static int store_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static mk_status store_parse_user(struct store *s, const char *name, json_object *val,
                                  const char *path, mk_error *err)
{
    json_object *orgs;
    int64_t refreshed;
    struct store_user *u;
    size_t n;

    if (!store_user_name_ok(name) || !json_object_is_type(val, json_type_object) ||
        !json_get_int(val, "refreshed", &refreshed) ||
        !json_object_object_get_ex(val, "orgs", &orgs) ||
        !json_object_is_type(orgs, json_type_array))
        return store_corrupt(err, path, "a bad user entry");
    u = store_user_get(s, name);
    if (!u)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    u->refreshed = refreshed;
    n = json_object_array_length(orgs);
    if (n == 0)
        return MK_OK;
    u->orgs = calloc(n, sizeof(*u->orgs));
    if (!u->orgs)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    for (size_t i = 0; i < n; i++) {
        json_object *id = json_object_array_get_idx(orgs, i);
        if (!json_object_is_type(id, json_type_string) ||
            !store_org_find(s, json_object_get_string(id)))
            return store_corrupt(err, path, "a user belongs to an unknown organization");
        if (!(u->orgs[i] = strdup(json_object_get_string(id))))
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
        u->org_count++;
    }
    qsort(u->orgs, u->org_count, sizeof(*u->orgs), store_cmp_str);
    for (size_t i = 1; i < u->org_count; i++) {
        if (strcmp(u->orgs[i - 1], u->orgs[i]) == 0)
            return store_corrupt(err, path, "a user lists an organization twice");
    }
    return MK_OK;
}

/* No two organizations share a group name or a gid, and no organization holds
 * a retired gid: assignment relies on it. */
static mk_status store_check_unique(const struct store *s, const char *path, mk_error *err)
{
    struct name_set names = { 0 };
    struct gid_set gids = { 0 };
    mk_status st = MK_OK;

    for (size_t i = 0; i < s->org_count; i++) {
        const struct store_org *o = &s->orgs[i];
        if (!o->group)
            continue;
        if (name_set_has(&names, o->group) || gid_set_has(&gids, o->gid) ||
            gid_set_has(&s->retired, o->gid)) {
            st = store_corrupt(err, path, "two organizations share a group name or a gid");
            goto out;
        }
        if (name_set_add(&names, o->group) != 0 || gid_set_add(&gids, o->gid) != 0) {
            st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
            goto out;
        }
    }
out:
    name_set_free(&names);
    gid_set_free(&gids);
    return st;
}

static mk_status store_parse(struct store *s, const char *text, size_t len, const char *path,
                             mk_error *err)
{
    json_tokener *tok = json_tokener_new();
    json_object *root = NULL, *orgs, *retired, *users;
    int64_t version;
    mk_status st = MK_OK;

    if (!tok)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    root = json_tokener_parse_ex(tok, text, (int)len);
    if (!root || json_tokener_get_error(tok) != json_tokener_success) {
        st = store_corrupt(err, path, "not valid JSON");
        goto out;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (!isspace((unsigned char)text[i])) {
            st = store_corrupt(err, path, "text after the JSON object");
            goto out;
        }
    }
    if (!json_object_is_type(root, json_type_object) || !json_get_int(root, "version", &version)) {
        st = store_corrupt(err, path, "no version");
        goto out;
    }
    if (version != STORE_VERSION) {
        st = mk_error_set(err, MK_ERR_IO, "%s has version %" PRId64 ", this program knows only "
                          "version %d; it is left untouched", path, version, STORE_VERSION);
        goto out;
    }
    if (!json_object_object_get_ex(root, "organizations", &orgs) ||
        !json_object_is_type(orgs, json_type_object) ||
        !json_object_object_get_ex(root, "retired_gids", &retired) ||
        !json_object_is_type(retired, json_type_array) ||
        !json_object_object_get_ex(root, "users", &users) ||
        !json_object_is_type(users, json_type_object)) {
        st = store_corrupt(err, path, "missing organizations, retired_gids or users");
        goto out;
    }
    json_object_object_foreach(orgs, id, oval) {
        if ((st = store_parse_org(s, id, oval, path, err)) != MK_OK)
            goto out;
    }
    for (size_t i = 0; i < json_object_array_length(retired); i++) {
        json_object *g = json_object_array_get_idx(retired, i);
        int64_t gid;
        errno = 0;
        if (!json_object_is_type(g, json_type_int) || (gid = json_object_get_int64(g), errno) ||
            !store_gid_ok(gid)) {
            st = store_corrupt(err, path, "a bad retired gid");
            goto out;
        }
        if (gid_set_add(&s->retired, (gid_t)gid) != 0) {
            st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
            goto out;
        }
    }
    json_object_object_foreach(users, uname, uval) {
        if ((st = store_parse_user(s, uname, uval, path, err)) != MK_OK)
            goto out;
    }
    st = store_check_unique(s, path, err);
out:
    json_object_put(root);
    json_tokener_free(tok);
    return st;
}

/* Loads store.json from the state directory dfd (dir for messages); a
 * missing file is an empty store. */
static mk_status store_load(int dfd, const char *dir, struct store *s, mk_error *err)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    mk_status st;

    memset(s, 0, sizeof(*s));
    if (store_path(path, sizeof(path), dir, STORE_FILE) != 0)
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    st = store_read_file(dfd, STORE_FILE, path, &text, &len, err);
    if (st == MK_OK && text)
        st = store_parse(s, text, len, path, err);
    free(text);
    if (st != MK_OK)
        store_free(s);
    return st;
}

/* Adds key: value to obj, dropping value on failure. */
static bool json_add(json_object *obj, const char *key, json_object *value)
{
    if (!value)
        return false;
    if (json_object_object_add(obj, key, value) != 0) {
        json_object_put(value);
        return false;
    }
    return true;
}

/* JSON null for a NULL value. */
static bool json_add_nullable_string(json_object *obj, const char *key, const char *value)
{
    if (!value)
        return json_object_object_add(obj, key, NULL) == 0;
    return json_add(obj, key, json_object_new_string(value));
}

static bool json_append(json_object *arr, json_object *value)
{
    if (!value)
        return false;
    if (json_object_array_add(arr, value) != 0) {
        json_object_put(value);
        return false;
    }
    return true;
}

/* The JSON text of the store, or NULL on memory failure; free() it. */
static char *store_serialize(const struct store *s)
{
    json_object *root = json_object_new_object();
    json_object *orgs = json_object_new_object();
    json_object *retired = json_object_new_array();
    json_object *users = json_object_new_object();
    char *text = NULL;
    bool ok = root && orgs && retired && users;

    for (size_t i = 0; ok && i < s->org_count; i++) {
        const struct store_org *o = &s->orgs[i];
        json_object *e = json_object_new_object();
        ok = e && json_add_nullable_string(e, "name", o->name) &&
             json_add_nullable_string(e, "group", o->group) &&
             (o->group ? json_add(e, "gid", json_object_new_int64(o->gid))
                       : json_object_object_add(e, "gid", NULL) == 0) &&
             json_add(e, "pinned", json_object_new_boolean(o->pinned)) &&
             json_add(e, "first_seen", json_object_new_int64(o->first_seen));
        if (!ok || !json_add(orgs, o->id, e)) {
            if (!ok)
                json_object_put(e);
            ok = false;
        }
    }
    for (size_t i = 0; ok && i < s->retired.n; i++)
        ok = json_append(retired, json_object_new_int64(s->retired.v[i]));
    for (size_t i = 0; ok && i < s->user_count; i++) {
        const struct store_user *u = &s->users[i];
        json_object *e = json_object_new_object();
        json_object *list = json_object_new_array();
        ok = e && list;
        for (size_t k = 0; ok && k < u->org_count; k++)
            ok = json_append(list, json_object_new_string(u->orgs[k]));
        ok = ok && json_add(e, "refreshed", json_object_new_int64(u->refreshed));
        if (ok) {
            ok = json_add(e, "orgs", list);
            list = NULL;
        }
        json_object_put(list);
        if (!ok || !json_add(users, u->name, e)) {
            if (!ok)
                json_object_put(e);
            ok = false;
        }
    }
    if (ok) {
        ok = json_add(root, "version", json_object_new_int(STORE_VERSION)) &&
             json_add(root, "organizations", orgs);
        orgs = NULL;
        ok = ok && json_add(root, "retired_gids", retired);
        retired = NULL;
        ok = ok && json_add(root, "users", users);
        users = NULL;
    }
    if (ok) {
        const char *str = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t len = str ? strlen(str) : 0;
        text = str ? malloc(len + 2) : NULL;
        if (text) {
            memcpy(text, str, len);
            text[len] = '\n';
            text[len + 1] = '\0';
        }
    }
    json_object_put(orgs);
    json_object_put(retired);
    json_object_put(users);
    json_object_put(root);
    return text;
}

/* ---- names and gids (invariant 3) ---- */

/* FNV-1a 64: the same organization id gives the same gid on every machine. */
static uint64_t store_fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ASCII letters lowercased, digits and '_' kept, every run of anything else
 * one '-', no '-' at either end. out has room for strlen(display) + 1. */
static void store_sanitize_display(const char *display, char *out)
{
    size_t o = 0;
    bool dash = false;
    for (const unsigned char *p = (const unsigned char *)display; p && *p; p++) {
        unsigned char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            if (dash && o > 0)
                out[o++] = '-';
            dash = false;
            out[o++] = (char)c;
        } else {
            dash = true;
        }
    }
    out[o] = '\0';
}

/* The id's letters (lowercased) and digits. */
static void store_id_fragment(const char *id, char *out)
{
    size_t o = 0;
    for (const char *p = id; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            out[o++] = (char)(*p - 'A' + 'a');
        else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            out[o++] = *p;
    }
    out[o] = '\0';
}

/* prefix + display + "-" + fragment[0, frag_len) (+ "-" suffix), at most 32
 * characters: the display part is cut, never the fragment. False when even
 * prefix and fragment do not fit. */
static bool store_build_name(const char *prefix, const char *display, const char *fragment,
                             size_t frag_len, unsigned suffix, char out[STORE_NAME_MAX + 1])
{
    char tail[STORE_ORG_ID_MAX + 16];
    size_t prefix_len = strlen(prefix), display_len = strlen(display), tail_len, room, take;
    int n = suffix ? snprintf(tail, sizeof(tail), "%.*s-%u", (int)frag_len, fragment, suffix)
                   : snprintf(tail, sizeof(tail), "%.*s", (int)frag_len, fragment);

    if (n < 0 || (size_t)n >= sizeof(tail))
        return false;
    tail_len = (size_t)n;
    if (prefix_len + tail_len > STORE_NAME_MAX)
        return false;
    room = STORE_NAME_MAX - prefix_len - tail_len;
    take = room >= 2 ? (display_len < room - 1 ? display_len : room - 1) : 0;
    while (take > 0 && display[take - 1] == '-')
        take--;
    /* Lengths were checked above: the total is at most STORE_NAME_MAX. */
    memcpy(out, prefix, prefix_len);
    out += prefix_len;
    if (take > 0) {
        memcpy(out, display, take);
        out += take;
        *out++ = '-';
    }
    memcpy(out, tail, tail_len + 1);
    return true;
}

/* Names and gids no new assignment may use, and those organizations hold. */
struct store_taken {
    struct name_set names;      /* /etc/group, organizations, pins */
    struct gid_set gids;        /* /etc/group, organizations, retired, pins */
    struct name_set held_names; /* organizations in the store */
    struct gid_set held_gids;   /* organizations in the store, and retired */
};

static void store_taken_free(struct store_taken *t)
{
    name_set_free(&t->names);
    gid_set_free(&t->gids);
    name_set_free(&t->held_names);
    gid_set_free(&t->held_gids);
}

static int store_taken_hold(struct store_taken *t, const char *name, gid_t gid)
{
    if ((name && (name_set_add(&t->names, name) != 0 || name_set_add(&t->held_names, name) != 0)) ||
        gid_set_add(&t->gids, gid) != 0 || gid_set_add(&t->held_gids, gid) != 0)
        return -ENOMEM;
    return 0;
}

static int store_taken_build(struct store_taken *t, const struct store *s,
                             const struct mk_config *cfg, const struct etc_groups *etc)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < etc->names.n; i++) {
        if (name_set_add(&t->names, etc->names.v[i]) != 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < etc->gids.n; i++) {
        if (gid_set_add(&t->gids, etc->gids.v[i]) != 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->pin_count; i++) {
        if (name_set_add(&t->names, cfg->pins[i].group_name) != 0 ||
            gid_set_add(&t->gids, cfg->pins[i].gid) != 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < s->retired.n; i++) {
        if (store_taken_hold(t, NULL, s->retired.v[i]) != 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < s->org_count; i++) {
        if (s->orgs[i].group && store_taken_hold(t, s->orgs[i].group, s->orgs[i].gid) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* The derived name of an organization: the 8-character id fragment, longer
 * fragments when taken, then numbered. MK_ERR_USAGE when nothing fits. */
static mk_status store_derive_name(const struct store_org *o, const char *prefix,
                                   const struct store_taken *t, char out[STORE_NAME_MAX + 1],
                                   mk_error *err)
{
    static const size_t lengths[] = { STORE_FRAGMENT_SHORT, 12, 16, SIZE_MAX };
    char display[STORE_DISPLAY_MAX + 1];
    char fragment[STORE_ORG_ID_MAX + 1];
    char first[STORE_NAME_MAX + 1] = "";
    size_t frag_len, last_len = 0;

    store_sanitize_display(o->name ? o->name : "", display);
    store_id_fragment(o->id, fragment);
    frag_len = strlen(fragment);
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        size_t len = lengths[i] < frag_len ? lengths[i] : frag_len;
        if (len == last_len)
            continue;
        last_len = len;
        if (!store_build_name(prefix, display, fragment, len, 0, out))
            continue;
        if (!first[0])
            memcpy(first, out, sizeof(first));
        if (!name_set_has(&t->names, out))
            goto found;
    }
    frag_len = frag_len < STORE_FRAGMENT_SHORT ? frag_len : STORE_FRAGMENT_SHORT;
    for (unsigned suffix = 2; suffix <= STORE_SUFFIX_MAX; suffix++) {
        if (!store_build_name(prefix, display, fragment, frag_len, suffix, out))
            break;
        if (!name_set_has(&t->names, out))
            goto found;
    }
    return mk_error_set(err, MK_ERR_USAGE, "no free group name for organization %s", o->id);
found:
    if (strcmp(first, out) != 0)
        syslog(LOG_WARNING, "mkio: organization %s: group name %s is taken; using %s",
               o->id, first, out);
    return MK_OK;
}

/* gid_min + FNV-1a(id) mod the range size, probing upwards (wrapping inside
 * the range) past every gid that is taken. */
static mk_status store_derive_gid(const struct store_org *o, const struct mk_config *cfg,
                                  const struct store_taken *t, gid_t *out, mk_error *err)
{
    uint64_t span = (uint64_t)cfg->gid_max - cfg->gid_min + 1;
    uint64_t offset = store_fnv1a(o->id) % span;
    gid_t first = (gid_t)(cfg->gid_min + offset);

    if (gid_set_count_in(&t->gids, cfg->gid_min, cfg->gid_max) >= span)
        return mk_error_set(err, MK_ERR_USAGE, "gid range exhausted: organization %s gets no "
                            "group (widen gid_range)", o->id);
    for (uint64_t step = 0; step < span; step++) {
        gid_t gid = (gid_t)(cfg->gid_min + (offset + step) % span);
        if (gid_set_has(&t->gids, gid))
            continue;
        if (gid != first)
            syslog(LOG_WARNING, "mkio: organization %s: gid %u is taken; using %u",
                   o->id, (unsigned)first, (unsigned)gid);
        *out = gid;
        return MK_OK;
    }
    return mk_error_set(err, MK_ERR_USAGE, "gid range exhausted: organization %s gets no "
                        "group (widen gid_range)", o->id);
}

/* Whether o's group is one this configuration could have given it: exactly
 * the pin for its id, or a name with group_prefix and a gid inside
 * gid_range. Whoever could write store.json before its owner was checked
 * decided what it says; only entries that fit are compiled. */
static bool store_org_fits(const struct store_org *o, const struct mk_config *cfg)
{
    const struct mk_pin *pin = mk_config_pin_for(cfg, o->id);
    const char *prefix = cfg->group_prefix;
    size_t prefix_len = prefix ? strlen(prefix) : 0;

    if (!o->group)
        return false;
    if (pin && strcmp(o->group, pin->group_name) == 0 && o->gid == pin->gid)
        return true;
    return prefix_len > 0 && strncmp(o->group, prefix, prefix_len) == 0 && o->group[prefix_len] &&
           o->gid >= cfg->gid_min && o->gid <= cfg->gid_max;
}

/* Takes away every unpinned group that does not fit (store_org_fits): a
 * store written by someone else, or group_prefix or gid_range changed since.
 * The gid is retired rather than forgotten, so it is still never given to
 * another organization (invariant 3); a joined organization then gets a new
 * group as if never seen. Pinned entries are store_assign's business. */
static int store_drop_unfit(struct store *s, const struct mk_config *cfg)
{
    for (size_t i = 0; i < s->org_count; i++) {
        struct store_org *o = &s->orgs[i];
        if (!o->group || o->pinned || store_org_fits(o, cfg))
            continue;
        syslog(LOG_WARNING, "mkio: organization %s: group %s (gid %u) in the store has neither "
               "the prefix %s with a gid in %u-%u nor a pin; left out, gid retired",
               o->id, o->group, (unsigned)o->gid, cfg->group_prefix,
               (unsigned)cfg->gid_min, (unsigned)cfg->gid_max);
        if (gid_set_add(&s->retired, o->gid) != 0)
            return -ENOMEM;
        free(o->group);
        o->group = NULL;
        o->gid = 0;
    }
    return 0;
}

static int store_retire(struct store *s, struct store_taken *t, struct store_org *o)
{
    if (!o->group)
        return 0;
    syslog(LOG_NOTICE, "mkio: organization %s: gid %u retired (group %s)",
           o->id, (unsigned)o->gid, o->group);
    if (gid_set_add(&s->retired, o->gid) != 0 || store_taken_hold(t, NULL, o->gid) != 0)
        return -ENOMEM;
    free(o->group);
    o->group = NULL;
    o->gid = 0;
    o->pinned = false;
    return 0;
}

/* Why a pin cannot be applied to o now, or NULL when it can. */
static const char *store_pin_blocked(const struct store_org *o, const struct mk_pin *pin,
                                     const struct etc_groups *etc, const struct store_taken *t)
{
    if (name_set_has(&etc->names, pin->group_name))
        return "the name is a local group";
    if (gid_set_has(&etc->gids, pin->gid))
        return "the gid is a local group's";
    if (name_set_has(&t->held_names, pin->group_name) &&
        !(o->group && strcmp(o->group, pin->group_name) == 0))
        return "another organization holds the name";
    if (gid_set_has(&t->held_gids, pin->gid) && o->gid != pin->gid)
        return "the gid belongs or belonged to another organization";
    return NULL;
}

/* Gives o its group: the pin when there is one it may take, else the
 * name and gid it already has, else derived ones. A failure to find a free
 * name or gid leaves o without a group and sets *org_err (the first only). */
static mk_status store_assign(struct store *s, struct store_org *o, const struct mk_config *cfg,
                              const struct etc_groups *etc, struct store_taken *t,
                              mk_error *org_err, mk_status *org_status, mk_error *err)
{
    const struct mk_pin *pin = mk_config_pin_for(cfg, o->id);
    char name[STORE_NAME_MAX + 1];
    gid_t gid = 0;
    char *copy;
    mk_error local;
    mk_status st;

    if (pin) {
        const char *why;
        if (o->pinned && o->group && strcmp(o->group, pin->group_name) == 0 && o->gid == pin->gid)
            return MK_OK;
        why = store_pin_blocked(o, pin, etc, t);
        if (why) {
            syslog(LOG_WARNING, "mkio: organization %s: pinned group %s (gid %u) not applied: "
                   "%s; the organization gets no group", o->id, pin->group_name,
                   (unsigned)pin->gid, why);
            return MK_OK;
        }
        if (!(copy = strdup(pin->group_name)))
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        if (o->gid != pin->gid && store_retire(s, t, o) != 0) {
            free(copy);
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        }
        free(o->group);
        o->group = copy;
        o->gid = pin->gid;
        o->pinned = true;
        if (store_taken_hold(t, o->group, o->gid) != 0)
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        return MK_OK;
    }
    if (o->group && !o->pinned)
        return MK_OK;
    /* The pin is gone: only a pin gives a bare name, so derive a new one. */
    if (o->group && store_retire(s, t, o) != 0)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    mk_error_clear(&local);
    st = store_derive_name(o, cfg->group_prefix, t, name, &local);
    if (st == MK_OK)
        st = store_derive_gid(o, cfg, t, &gid, &local);
    if (st != MK_OK) {
        syslog(LOG_ERR, "mkio: %s", local.message);
        if (*org_status == MK_OK) {
            *org_status = st;
            if (org_err)
                *org_err = local;
        }
        return MK_OK;
    }
    if (!(o->group = strdup(name)))
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    o->gid = gid;
    o->pinned = false;
    if (store_taken_hold(t, o->group, o->gid) != 0)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    return MK_OK;
}

/* ---- the compiled view: organizations with members and a group ---- */

struct store_members {
    const char **v;  /* user names, borrowed from the store */
    size_t n, cap;
};

static void store_members_free(struct store_members *m, size_t count)
{
    for (size_t i = 0; m && i < count; i++)
        free(m[i].v);
    free(m);
}

/* Members of every organization (indexed like s->orgs), sorted because the
 * users are. */
static struct store_members *store_members_build(const struct store *s)
{
    struct store_members *m = calloc(s->org_count ? s->org_count : 1, sizeof(*m));
    if (!m)
        return NULL;
    for (size_t u = 0; u < s->user_count; u++) {
        for (size_t k = 0; k < s->users[u].org_count; k++) {
            struct store_members *e = &m[store_org_lower(s, s->users[u].orgs[k])];
            if (e->n == e->cap) {
                size_t cap = e->cap ? e->cap * 2 : 4;
                const char **v = reallocarray(e->v, cap, sizeof(*v));
                if (!v) {
                    store_members_free(m, s->org_count);
                    return NULL;
                }
                e->v = v;
                e->cap = cap;
            }
            e->v[e->n++] = s->users[u].name;
        }
    }
    return m;
}

/* Whether o is a group of the compiled file: it has a group that matches its
 * pin (or it has none and no pin), that fits the configuration
 * (store_org_fits; the writer has dropped the others already, the reader of
 * `status` has not), and local groups win over it. */
static bool store_org_active(const struct store_org *o, const struct mk_config *cfg,
                             const struct etc_groups *etc, bool log)
{
    const struct mk_pin *pin;
    if (!o->group)
        return false;
    pin = mk_config_pin_for(cfg, o->id);
    if (pin ? !(o->pinned && strcmp(pin->group_name, o->group) == 0 && pin->gid == o->gid)
            : o->pinned)
        return false;
    if (!store_org_fits(o, cfg)) {
        if (log)
            syslog(LOG_WARNING, "mkio: organization %s: group %s (gid %u) does not fit "
                   "group_prefix and gid_range; left out", o->id, o->group, (unsigned)o->gid);
        return false;
    }
    if (name_set_has(&etc->names, o->group) || gid_set_has(&etc->gids, o->gid)) {
        if (log)
            syslog(LOG_WARNING, "mkio: organization %s: group %s (gid %u) clashes with a local "
                   "group, which wins; left out", o->id, o->group, (unsigned)o->gid);
        return false;
    }
    return true;
}

static int store_cmp_org_group(const void *a, const void *b, void *ctx)
{
    const struct store *s = ctx;
    return strcmp(s->orgs[*(const size_t *)a].group, s->orgs[*(const size_t *)b].group);
}

/* The groups of the compiled file, sorted by name, with the index in s->orgs
 * of each in *index (malloc'd, may be NULL). Pointers borrow from s and m. */
static struct mk_group_entry *store_entries(const struct store *s, const struct store_members *m,
                                            const struct mk_config *cfg,
                                            const struct etc_groups *etc, bool log,
                                            size_t **index, size_t *count)
{
    struct mk_group_entry *e = calloc(s->org_count ? s->org_count : 1, sizeof(*e));
    size_t *idx = calloc(s->org_count ? s->org_count : 1, sizeof(*idx));
    size_t n = 0;

    if (!e || !idx) {
        free(e);
        free(idx);
        return NULL;
    }
    for (size_t i = 0; i < s->org_count; i++) {
        if (m[i].n > 0 && store_org_active(&s->orgs[i], cfg, etc, log))
            idx[n++] = i;
    }
    qsort_r(idx, n, sizeof(*idx), store_cmp_org_group, (void *)s);
    for (size_t i = 0; i < n; i++) {
        e[i].name = s->orgs[idx[i]].group;
        e[i].gid = s->orgs[idx[i]].gid;
        e[i].members = m[idx[i]].v;
        e[i].member_count = m[idx[i]].n;
    }
    if (index)
        *index = idx;
    else
        free(idx);
    *count = n;
    return e;
}

/* ---- entry points ---- */

static mk_status store_check_config(const struct mk_config *cfg, mk_error *err)
{
    const char *prefix = cfg ? cfg->group_prefix : NULL;
    if (!cfg || !cfg->state_dir || !cfg->state_dir[0])
        return mk_error_set(err, MK_ERR_USAGE, "no state directory configured");
    if (!prefix || !prefix[0] || strlen(prefix) > STORE_NAME_MAX - STORE_FRAGMENT_SHORT - 4 ||
        !store_group_name_ok(prefix))
        return mk_error_set(err, MK_ERR_USAGE, "group_prefix must be 1 to %d characters of "
                            "[a-z0-9_-], starting with a letter or '_'",
                            STORE_NAME_MAX - STORE_FRAGMENT_SHORT - 4);
    if (cfg->gid_min == 0 || cfg->gid_max < cfg->gid_min || cfg->gid_max == (gid_t)-1)
        return mk_error_set(err, MK_ERR_USAGE, "bad gid range %u-%u",
                            (unsigned)cfg->gid_min, (unsigned)cfg->gid_max);
    return MK_OK;
}

static int store_cmp_membership(const void *a, const void *b)
{
    return strcmp(((const struct mk_membership *)a)->org_id,
                  ((const struct mk_membership *)b)->org_id);
}

/* orgs, validated, sorted by id, duplicates merged (the first display name
 * given wins). *out is malloc'd; its strings borrow from orgs. */
static mk_status store_input(const struct mk_membership *orgs, size_t n,
                             struct mk_membership **out, size_t *count, mk_error *err)
{
    struct mk_membership *v;
    size_t k = 0;

    *out = NULL;
    *count = 0;
    if (n == 0)
        return MK_OK;
    if (!orgs)
        return mk_error_set(err, MK_ERR_USAGE, "no organizations given");
    for (size_t i = 0; i < n; i++) {
        if (!mk_store_org_id_valid(orgs[i].org_id))
            return mk_error_set(err, MK_ERR_USAGE, "organization %zu: an id must be 1 to %d "
                                "characters of [A-Za-z0-9-] with a letter or digit",
                                i + 1, STORE_ORG_ID_MAX);
    }
    v = malloc(n * sizeof(*v));
    if (!v)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    memcpy(v, orgs, n * sizeof(*v));
    qsort(v, n, sizeof(*v), store_cmp_membership);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1].org_id, v[i].org_id) == 0) {
            if (!v[k - 1].org_name)
                v[k - 1].org_name = v[i].org_name;
            continue;
        }
        v[k++] = v[i];
    }
    *out = v;
    *count = k;
    return MK_OK;
}

/* Puts the user's organizations into s, adding organizations not seen before
 * and refreshing display names. */
static mk_status store_apply_user(struct store *s, const char *user,
                                  const struct mk_membership *in, size_t n, time_t now,
                                  mk_error *err)
{
    struct store_user *u;
    char **ids = n ? calloc(n, sizeof(*ids)) : NULL;
    mk_status st = MK_OK;

    if (n && !ids)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        struct store_org *o = store_org_find(s, in[i].org_id);
        if (!o) {
            if (!(o = store_org_insert(s, in[i].org_id)))
                goto nomem;
            o->first_seen = now;
        }
        if (in[i].org_name) {
            char *name = store_display_copy(in[i].org_name);
            if (!name)
                goto nomem;
            free(o->name);
            o->name = name;
        }
        if (!(ids[i] = strdup(in[i].org_id)))
            goto nomem;
    }
    if (!(u = store_user_get(s, user)))
        goto nomem;
    store_user_clear_orgs(u);
    u->orgs = ids;
    u->org_count = n;
    u->refreshed = now;
    return MK_OK;
nomem:
    st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return st;
}

mk_status mk_store_set_user(const struct mk_config *cfg, const char *user,
                            const struct mk_membership *orgs, size_t n,
                            long lock_timeout_ms, mk_error *err)
{
    struct store s = { 0 };
    struct etc_groups etc = { 0 };
    struct store_taken taken = { 0 };
    struct store_members *members = NULL;
    struct mk_group_entry *entries = NULL;
    struct mk_membership *in = NULL;
    size_t in_count = 0, entry_count = 0;
    char *text = NULL;
    char tmp[64] = "", path[PATH_MAX], db_path[PATH_MAX];
    int dir_fd = -1, lock_fd = -1, r;
    mk_error org_err;
    mk_status org_status = MK_OK;
    mk_status st;

    mk_error_clear(err);
    mk_error_clear(&org_err);
    if ((st = store_check_config(cfg, err)) != MK_OK)
        return st;
    if (!store_user_name_ok(user))
        return mk_error_set(err, MK_ERR_USAGE, "invalid user name: 1 to %d bytes without ':', "
                            "',', '/', spaces or control characters", STORE_USER_MAX);
    if ((st = store_input(orgs, n, &in, &in_count, err)) != MK_OK)
        return st;
    if (store_path(path, sizeof(path), cfg->state_dir, STORE_FILE) != 0 ||
        store_path(db_path, sizeof(db_path), cfg->state_dir, STORE_GROUP_FILE) != 0) {
        st = mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
        goto out;
    }
    if ((st = store_open_dir(cfg->state_dir, true, &dir_fd, err)) != MK_OK)
        goto out;
    if ((st = store_lock(dir_fd, cfg->state_dir, lock_timeout_ms, &lock_fd, err)) != MK_OK)
        goto out;
    if ((st = store_load(dir_fd, cfg->state_dir, &s, err)) != MK_OK)
        goto out;
    if ((st = etc_groups_read(&etc, err)) != MK_OK)
        goto out;
    if (store_drop_unfit(&s, cfg) != 0) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = store_apply_user(&s, user, in, in_count, time(NULL), err)) != MK_OK)
        goto out;

    if (store_taken_build(&taken, &s, cfg, &etc) != 0 || !(members = store_members_build(&s))) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Only joined organizations become groups; in id order, so that two
     * machines given the same history make the same choices. */
    for (size_t i = 0; i < s.org_count; i++) {
        if (members[i].n == 0)
            continue;
        st = store_assign(&s, &s.orgs[i], cfg, &etc, &taken, &org_err, &org_status, err);
        if (st != MK_OK)
            goto out;
    }
    entries = store_entries(&s, members, cfg, &etc, true, NULL, &entry_count);
    text = store_serialize(&s);
    if (!entries || !text) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Everything was checked and computed: the first change to the directory
     * is removing what killed writers left. */
    store_remove_stale_temps(dir_fd, cfg->state_dir);
    /* store.json is complete on disk before groups.db changes, and is put in
     * place only once groups.db is: a failure at any step keeps both. */
    if ((st = store_write_temp(dir_fd, cfg->state_dir, text, strlen(text), tmp, sizeof(tmp),
                               err)) != MK_OK)
        goto out;
    r = mk_groupfile_write_at(dir_fd, STORE_GROUP_FILE, entries, entry_count);
    if (r < 0) {
        st = mk_error_set(err, MK_ERR_IO, "cannot write %s: %s", db_path, strerror(-r));
        goto out;
    }
    if (renameat(dir_fd, tmp, dir_fd, STORE_FILE) != 0) {
        st = mk_error_set(err, MK_ERR_IO, "cannot replace %s: %s", path, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    if (fsync(dir_fd) != 0) {
        st = mk_error_set(err, MK_ERR_IO, "cannot sync %s: %s", cfg->state_dir, strerror(errno));
        goto out;
    }
    if (org_status != MK_OK) {
        /* Written; one organization could not get a group. */
        if (err)
            *err = org_err;
        st = org_status;
    }
out:
    if (tmp[0])
        unlinkat(dir_fd, tmp, 0);
    if (lock_fd >= 0)
        close(lock_fd);
    if (dir_fd >= 0)
        close(dir_fd);
    free(text);
    free(entries);
    store_members_free(members, s.org_count);
    store_taken_free(&taken);
    etc_groups_free(&etc);
    store_free(&s);
    free(in);
    return st;
}

static char **store_strv_dup(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = strdup(v[i]))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static mk_status store_view_fill(const struct store *s, const struct mk_group_entry *entries,
                                 const size_t *index, size_t entry_count,
                                 struct mk_store_view *out)
{
    out->groups = calloc(entry_count ? entry_count : 1, sizeof(*out->groups));
    out->users = calloc(s->user_count ? s->user_count : 1, sizeof(*out->users));
    if (!out->groups || !out->users)
        return MK_ERR_NOMEM;
    for (size_t i = 0; i < entry_count; i++) {
        struct mk_store_group *g = &out->groups[i];
        const struct store_org *o = &s->orgs[index[i]];
        out->group_count++;
        g->gid = o->gid;
        g->pinned = o->pinned;
        if (!(g->org_id = strdup(o->id)) || (o->name && !(g->org_name = strdup(o->name))) ||
            !(g->group_name = strdup(o->group)) ||
            !(g->members = store_strv_dup(entries[i].members, entries[i].member_count)))
            return MK_ERR_NOMEM;
        g->member_count = entries[i].member_count;
    }
    for (size_t i = 0; i < s->user_count; i++) {
        struct mk_store_user *u = &out->users[i];
        out->user_count++;
        u->refreshed = (time_t)s->users[i].refreshed;
        if (!(u->user = strdup(s->users[i].name)) ||
            !(u->org_ids = store_strv_dup((const char *const *)s->users[i].orgs,
                                          s->users[i].org_count)))
            return MK_ERR_NOMEM;
        u->org_count = s->users[i].org_count;
    }
    return MK_OK;
}

mk_status mk_store_read(const struct mk_config *cfg, struct mk_store_view *out, mk_error *err)
{
    struct store s = { 0 };
    struct etc_groups etc = { 0 };
    struct store_members *members = NULL;
    struct mk_group_entry *entries = NULL;
    size_t *index = NULL;
    size_t entry_count = 0;
    int dir_fd = -1;
    mk_status st;

    mk_error_clear(err);
    if (!out)
        return mk_error_set(err, MK_ERR_USAGE, "no view to fill");
    memset(out, 0, sizeof(*out));
    if (!cfg || !cfg->state_dir || !cfg->state_dir[0])
        return mk_error_set(err, MK_ERR_USAGE, "no state directory configured");
    /* The same checks as the writer: what status shows is believed too. */
    if ((st = store_open_dir(cfg->state_dir, false, &dir_fd, err)) != MK_OK)
        goto out;
    if (dir_fd >= 0 && (st = store_load(dir_fd, cfg->state_dir, &s, err)) != MK_OK)
        goto out;
    /* The same selection as groups.db: local groups win there too. */
    if ((st = etc_groups_read(&etc, err)) != MK_OK)
        goto out;
    members = store_members_build(&s);
    entries = members ? store_entries(&s, members, cfg, &etc, false, &index, &entry_count) : NULL;
    if (!entries || store_view_fill(&s, entries, index, entry_count, out) != MK_OK) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
out:
    if (st != MK_OK)
        mk_store_view_free(out);
    if (dir_fd >= 0)
        close(dir_fd);
    free(entries);
    free(index);
    store_members_free(members, s.org_count);
    etc_groups_free(&etc);
    store_free(&s);
    return st;
}

void mk_store_view_free(struct mk_store_view *view)
{
    if (!view)
        return;
    for (size_t i = 0; i < view->group_count; i++) {
        struct mk_store_group *g = &view->groups[i];
        free(g->org_id);
        free(g->org_name);
        free(g->group_name);
        for (size_t k = 0; g->members && k < g->member_count; k++)
            free(g->members[k]);
        free(g->members);
    }
    free(view->groups);
    for (size_t i = 0; i < view->user_count; i++) {
        struct mk_store_user *u = &view->users[i];
        free(u->user);
        for (size_t k = 0; u->org_ids && k < u->org_count; k++)
            free(u->org_ids[k]);
        free(u->org_ids);
    }
    free(view->users);
    memset(view, 0, sizeof(*view));
}
