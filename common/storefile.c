/* common/storefile.c: store.json in memory and on disk, and the trust
 * checks of the state directory (see storefile.h). */
#include "storefile.h"
#include "text.h"

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

static void storefile_user_clear_orgs(struct mk_storefile_user *u)
{
    for (size_t i = 0; i < u->org_count; i++)
        free(u->orgs[i]);
    free(u->orgs);
    u->orgs = NULL;
    u->org_count = 0;
}

static void storefile_org_free(struct mk_storefile_org *o)
{
    free(o->id);
    free(o->name);
    free(o->group);
}

void mk_storefile_free(struct mk_storefile *s)
{
    for (size_t i = 0; i < s->org_count; i++)
        storefile_org_free(&s->orgs[i]);
    free(s->orgs);
    free(s->retired);
    for (size_t i = 0; i < s->user_count; i++) {
        free(s->users[i].name);
        storefile_user_clear_orgs(&s->users[i]);
    }
    free(s->users);
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

ssize_t mk_storefile_find_org(const struct mk_storefile *s, const char *id)
{
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
    if (s->org_count != before)
        qsort(s->orgs, s->org_count, sizeof(*s->orgs), storefile_cmp_org);
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
 * JSON (RFC 8259) and ignores keys it does not know. A syntax error stops
 * it; a schema error (a field of the wrong type, a missing field) is
 * remembered, the rest still parsed, so that a file of another version is
 * reported as such. */
struct jp {
    const char *p, *end;
    const char *schema_err;   /* first schema error, or NULL */
    int depth;
};

#define JP_MAX_DEPTH 64

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

static void jp_schema(struct jp *j, const char *what)
{
    if (!j->schema_err)
        j->schema_err = what;
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

/* A string; *out malloc'd (NUL-terminated; an escaped NUL ends it early,
 * which every later check then sees), or only skipped when out is NULL.
 * -1 on a syntax error, -2 on memory failure. */
static int jp_string(struct jp *j, char **out)
{
    const char *start;
    char *buf = NULL;
    size_t o = 0;

    if (out)
        *out = NULL;
    if (!jp_take(j, '"'))
        return -1;
    start = j->p;
    if (out) {
        /* The raw text bounds the decoded bytes (an escape never grows). */
        const char *q = start;
        while (q < j->end && *q != '"')
            q += *q == '\\' && q + 1 < j->end ? 2 : 1;
        if (!(buf = malloc((size_t)(q - start) + 1)))
            return -2;
    }
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20)
            goto bad;
        if (c != '\\') {
            if (buf)
                buf[o++] = (char)c;
            j->p++;
            continue;
        }
        if (j->end - j->p < 2)
            goto bad;
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
                goto bad;
            j->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && j->end - j->p >= 6 && j->p[0] == '\\' &&
                j->p[1] == 'u' && jp_hex4(j->p + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                j->p += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd;   /* a lone surrogate: the repair shows it as such */
            }
            if (buf) {
                if (cp < 0x80) {
                    buf[o++] = (char)cp;
                } else if (cp < 0x800) {
                    buf[o++] = (char)(0xc0 | cp >> 6);
                    buf[o++] = (char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                    buf[o++] = (char)(0xe0 | cp >> 12);
                    buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    buf[o++] = (char)(0x80 | (cp & 0x3f));
                } else {
                    buf[o++] = (char)(0xf0 | cp >> 18);
                    buf[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                    buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    buf[o++] = (char)(0x80 | (cp & 0x3f));
                }
            }
            continue;
        }
        default:
            goto bad;
        }
        if (buf)
            buf[o++] = (char)c;
    }
    if (j->p >= j->end)
        goto bad;
    j->p++;
    if (buf) {
        buf[o] = '\0';
        *out = buf;
    }
    return 0;
bad:
    free(buf);
    return -1;
}

/* A number that is an integer (no fraction, no exponent, fits int64). A
 * number of another form is a schema error (*ok false), not a syntax one. */
static int jp_int(struct jp *j, int64_t *out, bool *ok)
{
    bool neg = false, overflow = false, integral = true;
    uint64_t v = 0;

    jp_ws(j);
    if (j->p < j->end && *j->p == '-') {
        neg = true;
        j->p++;
    }
    if (j->p >= j->end || !mk_ascii_digit(*j->p))
        return -1;
    if (*j->p == '0' && j->p + 1 < j->end && mk_ascii_digit(j->p[1]))
        return -1;
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
            return -1;
        while (j->p < j->end && mk_ascii_digit(*j->p))
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        integral = false;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || !mk_ascii_digit(*j->p))
            return -1;
        while (j->p < j->end && mk_ascii_digit(*j->p))
            j->p++;
    }
    *ok = integral && !overflow && v <= (uint64_t)INT64_MAX + neg;
    if (*ok)
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static bool jp_literal(struct jp *j, const char *word)
{
    size_t len = strlen(word);
    jp_ws(j);
    if ((size_t)(j->end - j->p) >= len && memcmp(j->p, word, len) == 0) {
        j->p += len;
        return true;
    }
    return false;
}

static int jp_skip(struct jp *j);

/* Calls each(j, key, ctx) for every member of an object, positioned at its
 * value, which each must consume. */
static int jp_object(struct jp *j, int (*each)(struct jp *, const char *, void *), void *ctx)
{
    int r;
    if (++j->depth > JP_MAX_DEPTH || !jp_take(j, '{'))
        return -1;
    if (jp_take(j, '}'))
        goto done;
    do {
        char *key;
        if ((r = jp_string(j, &key)) != 0)
            return r;
        if (!jp_take(j, ':')) {
            free(key);
            return -1;
        }
        r = each(j, key, ctx);
        free(key);
        if (r != 0)
            return r;
    } while (jp_take(j, ','));
    /* (Keys are malloc'd like any string: simple, and not what costs.) */
    if (!jp_take(j, '}'))
        return -1;
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
        return -1;
    switch (*j->p) {
    case '{':
        return jp_object(j, jp_skip_member, NULL);
    case '[':
        if (++j->depth > JP_MAX_DEPTH)
            return -1;
        j->p++;
        if (!jp_take(j, ']')) {
            do {
                if (jp_skip(j) != 0)
                    return -1;
            } while (jp_take(j, ','));
            if (!jp_take(j, ']'))
                return -1;
        }
        j->depth--;
        return 0;
    case '"':
        return jp_string(j, NULL);
    case 't':
        return jp_literal(j, "true") ? 0 : -1;
    case 'f':
        return jp_literal(j, "false") ? 0 : -1;
    case 'n':
        return jp_literal(j, "null") ? 0 : -1;
    default:
        return jp_int(j, &v, &ok);
    }
}

static bool jp_peek(struct jp *j, char c)
{
    jp_ws(j);
    return j->p < j->end && *j->p == c;
}

/* An integer field: a schema error if it is any other value. */
static int jp_int_field(struct jp *j, int64_t *out, bool *seen, const char *what)
{
    bool ok = false;
    jp_ws(j);
    if (j->p < j->end && (*j->p == '-' || mk_ascii_digit(*j->p))) {
        if (jp_int(j, out, &ok) != 0)
            return -1;
    } else if (jp_skip(j) != 0) {
        return -1;
    }
    if (!ok)
        jp_schema(j, what);
    *seen = ok;
    return 0;
}

/* A string or null field; anything else is a schema error. */
static int jp_nullable_string(struct jp *j, char **out, bool *seen, const char *what)
{
    free(*out);
    *out = NULL;
    *seen = true;
    if (jp_literal(j, "null"))
        return 0;
    if (jp_peek(j, '"'))
        return jp_string(j, out);
    jp_schema(j, what);
    return jp_skip(j);
}

struct jp_org {
    char *name, *group;
    int64_t gid, first_seen;
    bool pinned;
    bool has_name, has_group, has_gid, gid_null, has_pinned, has_first_seen, gid_bad;
};

static int jp_org_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_org *o = ctx;
    if (strcmp(key, "name") == 0)
        return jp_nullable_string(j, &o->name, &o->has_name, "an organization name is not a string");
    if (strcmp(key, "group") == 0)
        return jp_nullable_string(j, &o->group, &o->has_group,
                                  "an organization has a bad group name or gid");
    if (strcmp(key, "gid") == 0) {
        o->has_gid = true;
        if (jp_literal(j, "null")) {
            o->gid_null = true;
            return 0;
        }
        bool ok;
        int r = jp_int_field(j, &o->gid, &ok, "an organization has a bad group name or gid");
        o->gid_bad = !ok;
        return r;
    }
    if (strcmp(key, "pinned") == 0) {
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
    if (strcmp(key, "first_seen") == 0)
        return jp_int_field(j, &o->first_seen, &o->has_first_seen,
                            "an organization entry lacks a field");
    return jp_skip(j);
}


struct jp_ctx {
    struct mk_storefile *s;
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
    if (!mk_org_id_canonical(key, id)) {
        jp_schema(j, "a bad organization entry");
        goto out;
    }
    if (!o.has_name || !o.has_group || !o.has_pinned || !o.has_first_seen) {
        jp_schema(j, "an organization entry lacks a field");
        goto out;
    }
    if (o.group ? (!mk_group_name_valid(o.group) || !o.has_gid || o.gid_null || o.gid_bad ||
                   !storefile_gid_ok(o.gid))
                : (o.has_gid && !o.gid_null)) {
        jp_schema(j, o.group ? "an organization has a bad group name or gid"
                             : "an organization has a gid but no group name");
        goto out;
    }
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
    if (!(org->id = strdup(id)) || (o.name && !(org->name = mk_display_name_repair(o.name)))) {
        c->nomem = true;
        r = -2;
    }
out:
    free(o.name);
    free(o.group);
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
    return jp_take(j, ']') ? 0 : -1;
}

struct jp_user {
    struct jp_ctx *c;
    struct mk_storefile_user *u;
    bool has_refreshed, has_orgs;
};

static int jp_user_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_user *pu = ctx;
    struct mk_storefile_user *u = pu->u;
    if (strcmp(key, "refreshed") == 0)
        return jp_int_field(j, &u->refreshed, &pu->has_refreshed, "a bad user entry");
    if (strcmp(key, "orgs") != 0)
        return jp_skip(j);
    if (!jp_peek(j, '[') || pu->has_orgs) {
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
        if ((r = jp_string(j, &id)) != 0) {
            pu->c->nomem = r == -2;
            return r;
        }
        if (u->org_count == cap) {
            cap = cap ? cap * 2 : 4;
            char **v = reallocarray(u->orgs, cap, sizeof(*v));
            if (!v) {
                free(id);
                pu->c->nomem = true;
                return -2;
            }
            u->orgs = v;
        }
        u->orgs[u->org_count++] = id;
    } while (jp_take(j, ','));
    return jp_take(j, ']') ? 0 : -1;
}

static int jp_users_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_ctx *c = ctx;
    struct mk_storefile *s = c->s;
    if (!mk_user_name_valid(key) || !jp_peek(j, '{')) {
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
    if (!(u->name = strdup(key))) {
        c->nomem = true;
        return -2;
    }
    struct jp_user pu = { c, u, false, false };
    int r = jp_object(j, jp_user_member, &pu);
    if (r == 0 && (!pu.has_refreshed || !pu.has_orgs))
        jp_schema(j, "a bad user entry");
    return r;
}

static int jp_root_member(struct jp *j, const char *key, void *ctx)
{
    struct jp_ctx *c = ctx;
    if (strcmp(key, "version") == 0)
        return jp_int_field(j, &c->version, &c->has_version, "no version");
    if (strcmp(key, "organizations") == 0) {
        if (!jp_peek(j, '{')) {
            jp_schema(j, "missing organizations, retired_gids or users");
            return jp_skip(j);
        }
        c->has_orgs = true;
        return jp_object(j, jp_orgs_member, c);
    }
    if (strcmp(key, "retired_gids") == 0)
        return jp_retired(j, c);
    if (strcmp(key, "users") == 0) {
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
        storefile_org_free(o);
    }
    s->org_count = k;
    return MK_OK;
}

struct storefile_claim {
    const char *name;
    gid_t gid;
};

static int storefile_cmp_claim_name(const void *a, const void *b)
{
    return strcmp(((const struct storefile_claim *)a)->name,
                  ((const struct storefile_claim *)b)->name);
}

static int storefile_cmp_claim_gid(const void *a, const void *b)
{
    return storefile_cmp_gid(&((const struct storefile_claim *)a)->gid,
                             &((const struct storefile_claim *)b)->gid);
}

/* No two organizations share a group name or a gid, and no organization
 * holds a retired gid: assignment relies on it. Sorted once, then
 * neighbours compared. */
static mk_status storefile_check_unique(const struct mk_storefile *s, const char *path,
                                        mk_error *err)
{
    struct storefile_claim *c = calloc(s->org_count ? s->org_count : 1, sizeof(*c));
    size_t n = 0;
    mk_status st = MK_OK;

    if (!c)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    for (size_t i = 0; i < s->org_count; i++) {
        if (!s->orgs[i].group)
            continue;
        if (mk_storefile_is_retired(s, s->orgs[i].gid))
            goto shared;
        c[n].name = s->orgs[i].group;
        c[n].gid = s->orgs[i].gid;
        n++;
    }
    qsort(c, n, sizeof(*c), storefile_cmp_claim_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(c[i - 1].name, c[i].name) == 0)
            goto shared;
    qsort(c, n, sizeof(*c), storefile_cmp_claim_gid);
    for (size_t i = 1; i < n; i++)
        if (c[i - 1].gid == c[i].gid)
            goto shared;
    goto out;
shared:
    st = store_corrupt(err, path, "two organizations share a group name or a gid");
out:
    free(c);
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
    for (size_t i = 0; i < s->user_count; i++) {
        struct mk_storefile_user *u = &s->users[i];
        size_t k = 0;
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
                free(u->orgs[n]);
                continue;
            }
            u->orgs[k++] = u->orgs[n];
        }
        u->org_count = k;
    }
    return MK_OK;
}

static mk_status storefile_parse(struct mk_storefile *s, const char *text, size_t len,
                                 const char *path, const struct mk_log_sink *sink, mk_error *err)
{
    struct jp j = { text, text + len, NULL, 0 };
    struct jp_ctx c = { .s = s };
    size_t k = 0;
    mk_status st;
    int r;

    jp_ws(&j);
    if (!jp_peek(&j, '{')) {
        r = jp_skip(&j);
        if (r == -2 || c.nomem)
            goto nomem;
        return store_corrupt(err, path, r == 0 ? "no version" : "not valid JSON");
    }
    r = jp_object(&j, jp_root_member, &c);
    if (r == -2 || c.nomem)
        goto nomem;
    if (r != 0)
        return store_corrupt(err, path, "not valid JSON");
    jp_ws(&j);
    if (j.p != j.end)
        return store_corrupt(err, path, "text after the JSON object");
    if (!c.has_version)
        return store_corrupt(err, path, "no version");
    if (c.version != STORE_VERSION)
        return mk_error_set(err, MK_ERR_IO, "%s has version %" PRId64 ", this program knows only "
                            "version %d; it is left untouched", path, c.version, STORE_VERSION);
    if (j.schema_err)
        return store_corrupt(err, path, j.schema_err);
    if (!c.has_orgs || !c.has_retired || !c.has_users)
        return store_corrupt(err, path, "missing organizations, retired_gids or users");

    if (s->retired_count > 1)
        qsort(s->retired, s->retired_count, sizeof(*s->retired), storefile_cmp_gid);
    for (size_t i = 0; i < s->retired_count; i++)
        if (k == 0 || s->retired[k - 1] != s->retired[i])
            s->retired[k++] = s->retired[i];
    s->retired_count = k;
    /* Organizations: appended, sorted once, duplicates merged. */
    for (size_t i = 1; i < s->org_count; i++) {
        /* A file this module wrote is in order already: sort only if not. */
        if (storefile_cmp_org_load(&s->orgs[i - 1], &s->orgs[i]) > 0) {
            qsort(s->orgs, s->org_count, sizeof(*s->orgs), storefile_cmp_org_load);
            break;
        }
    }
    if ((st = storefile_merge_duplicates(s, path, sink, err)) != MK_OK)
        return st;
    if ((st = storefile_check_users(s, path, err)) != MK_OK)
        return st;
    return storefile_check_unique(s, path, err);
nomem:
    return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
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
    if (st == MK_OK && text)
        st = storefile_parse(s, text, len, path, sink, err);
    free(text);
    if (st != MK_OK)
        mk_storefile_free(s);
    return st;
}


/* ---- saving ---- */

struct storefile_text {
    char *v;
    size_t n, cap;
    bool failed;
};

static void text_add(struct storefile_text *t, const char *s, size_t len)
{
    if (t->failed)
        return;
    if (t->n + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->n + len + 1)
            cap *= 2;
        char *v = realloc(t->v, cap);
        if (!v) {
            t->failed = true;
            return;
        }
        t->v = v;
        t->cap = cap;
    }
    memcpy(t->v + t->n, s, len);
    t->n += len;
    t->v[t->n] = '\0';
}

static void text_put(struct storefile_text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void text_int(struct storefile_text *t, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    text_add(t, p, (size_t)(buf + sizeof(buf) - p));
}

/* A JSON string: '"', '\\' and control characters escaped; the rest (valid
 * UTF-8: names are repaired, ids and group names ASCII) as it is. */
static void text_string(struct storefile_text *t, const char *s)
{
    const char *run = s;
    text_add(t, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        char esc[8];
        text_add(t, run, (size_t)(s - run));
        snprintf(esc, sizeof(esc), c == '"' ? "\\\"" : c == '\\' ? "\\\\" : "\\u%04x", c);
        text_put(t, esc);
        run = s + 1;
    }
    text_add(t, run, (size_t)(s - run));
    text_add(t, "\"", 1);
}

static void text_nullable(struct storefile_text *t, const char *s)
{
    if (s)
        text_string(t, s);
    else
        text_put(t, "null");
}

char *mk_storefile_serialize(const struct mk_storefile *s)
{
    struct storefile_text t = { 0 };

    text_put(&t, "{\n  \"version\": ");
    text_int(&t, STORE_VERSION);
    text_put(&t, ",\n  \"organizations\": {");
    for (size_t i = 0; i < s->org_count; i++) {
        const struct mk_storefile_org *o = &s->orgs[i];
        text_put(&t, i ? ",\n    " : "\n    ");
        text_string(&t, o->id);
        text_put(&t, ": {\n      \"name\": ");
        text_nullable(&t, o->name);
        text_put(&t, ",\n      \"group\": ");
        text_nullable(&t, o->group);
        text_put(&t, ",\n      \"gid\": ");
        if (o->group)
            text_int(&t, o->gid);
        else
            text_put(&t, "null");
        text_put(&t, o->pinned ? ",\n      \"pinned\": true" : ",\n      \"pinned\": false");
        text_put(&t, ",\n      \"first_seen\": ");
        text_int(&t, o->first_seen);
        text_put(&t, "\n    }");
    }
    text_put(&t, s->org_count ? "\n  },\n  \"retired_gids\": [" : "},\n  \"retired_gids\": [");
    for (size_t i = 0; i < s->retired_count; i++) {
        text_put(&t, i ? ", " : "");
        text_int(&t, s->retired[i]);
    }
    text_put(&t, "],\n  \"users\": {");
    for (size_t i = 0; i < s->user_count; i++) {
        const struct mk_storefile_user *u = &s->users[i];
        text_put(&t, i ? ",\n    " : "\n    ");
        text_string(&t, u->name);
        text_put(&t, ": {\n      \"refreshed\": ");
        text_int(&t, u->refreshed);
        text_put(&t, ",\n      \"orgs\": [");
        for (size_t k = 0; k < u->org_count; k++) {
            text_put(&t, k ? ", " : "");
            text_string(&t, u->orgs[k]);
        }
        text_put(&t, "]\n    }");
    }
    text_put(&t, s->user_count ? "\n  }\n}\n" : "}\n}\n");
    if (t.failed) {
        free(t.v);
        return NULL;
    }
    return t.v;
}
