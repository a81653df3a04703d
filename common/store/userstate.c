/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/userstate.c: each user's refresh record (see userstate.h).
 *
 * The file, state_dir/users/USER, is four lines:
 *
 *     mkio-user-state 1
 *     attempt UNIX_SECONDS
 *     success UNIX_SECONDS
 *     error TEXT
 *
 * TEXT is sanitized (text.h) and has no newline. Anything else reads as
 * no record.
 */
#include "store/userstate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomicfile.h"
#include "base/fileio.h"
#include "base/trust.h"
#include "store/storefile.h"
#include "base/text.h"

#define USERSTATE_DIR "users"
#define USERSTATE_LOCK "users.lock"
#define USERSTATE_MAGIC "mkio-user-state 1"
#define USERSTATE_MAX_FILE 1024
/* How long a record waits for another writer of records (each holds the
 * lock for one small write). */
#define USERSTATE_LOCK_TIMEOUT_MS 1000

/* Opens state_dir/users (create: making state_dir and it when missing);
 * *fd -1 when missing and !create. path receives the directory's path.
 * With state_out, *state_out is state_dir's descriptor when *fd is one
 * (the caller closes it), else -1. */
static mk_status userstate_open_dir(const struct mk_config *cfg, bool create, int *fd,
                                    char *path, size_t path_len, int *state_out, mk_error *err)
{
    int state_fd = -1;
    mk_status st;

    *fd = -1;
    if (state_out)
        *state_out = -1;
    if ((size_t)snprintf(path, path_len, "%s/" USERSTATE_DIR, cfg->state_dir) >= path_len)
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    /* state_dir first: it must be believed before anything under it is. */
    st = mk_trust_open_dir(cfg->state_dir, MK_STOREFILE_STATE_DIR, create, &state_fd, err);
    if (st != MK_OK)
        return st;
    if (state_fd < 0)
        return MK_OK;
    st = mk_trust_open_dir(path, MK_STOREFILE_STATE_DIR, create, fd, err);
    if (st == MK_OK && *fd >= 0 && state_out)
        *state_out = state_fd;
    else
        close(state_fd);
    return st;
}

/* Takes the record writers' lock, state_dir/users.lock, waiting at most
 * USERSTATE_LOCK_TIMEOUT_MS; *lock_fd holds it (the caller closes it).
 * The lock is a file only its owner can open (made 0600, narrowed to 0600
 * if found wider): flock needs no more than an open descriptor, so a lock
 * on anything a user can open (the 0755 users directory, a 0644 file) lets
 * any user stall every login's record and lose it. */
static mk_status userstate_lock(int state_fd, const struct mk_config *cfg, int *lock_fd,
                                mk_error *err)
{
    char path[PATH_MAX];
    struct stat st;
    mk_status status;

    *lock_fd = -1;
    if ((size_t)snprintf(path, sizeof(path), "%s/" USERSTATE_LOCK, cfg->state_dir) >= sizeof(path))
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    status = mk_trust_openat(state_fd, USERSTATE_LOCK, path, O_RDWR | O_CREAT, lock_fd, err);
    if (status != MK_OK)
        return status;
    if (fstat(*lock_fd, &st) != 0 || ((st.st_mode & 077) && fchmod(*lock_fd, 0600) != 0)) {
        int e = errno;
        close(*lock_fd);
        *lock_fd = -1;
        return mk_error_set(err, MK_ERR_IO, "cannot make %s mode 0600: %s", path, strerror(e));
    }
    int r = mk_atomicfile_lock(*lock_fd, USERSTATE_LOCK_TIMEOUT_MS);
    if (r == 0)
        return MK_OK;
    close(*lock_fd);
    *lock_fd = -1;
    return mk_error_set(err, r == -EWOULDBLOCK ? MK_ERR_BUSY : MK_ERR_IO, "cannot lock %s: %s",
                        path, r == -EWOULDBLOCK ? "another refresh holds it" : strerror(-r));
}

static void userstate_remove_temps(int dirfd, const char *dir, const struct mk_log_sink *sink);

static bool userstate_number(const char *line, const char *key, int64_t *out)
{
    size_t klen = strlen(key);
    uint64_t v;
    if (strncmp(line, key, klen) != 0 || line[klen] != ' ' ||
        !mk_parse_u64(line + klen + 1, INT64_MAX, &v))
        return false;
    *out = (int64_t)v;
    return true;
}

/* Parses text (NUL-terminated) into out; false (out zeroed) when malformed. */
static bool userstate_parse(char *text, struct mk_user_state *out)
{
    char *lines[4];
    char *p = text;
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < 4; i++) {
        char *nl = strchr(p, '\n');
        if (!nl)
            return false;
        *nl = '\0';
        lines[i] = p;
        p = nl + 1;
    }
    if (*p != '\0' || strcmp(lines[0], USERSTATE_MAGIC) != 0 ||
        !userstate_number(lines[1], "attempt", &out->last_attempt) ||
        !userstate_number(lines[2], "success", &out->last_success) ||
        strncmp(lines[3], "error", 5) != 0 || (lines[3][5] != ' ' && lines[3][5] != '\0')) {
        memset(out, 0, sizeof(*out));
        return false;
    }
    mk_text_sanitize(lines[3][5] ? lines[3] + 6 : "", out->last_error, sizeof(out->last_error));
    return true;
}

/* Reads name in dirfd (path for messages) into out; missing, malformed or
 * larger than a record can be (USERSTATE_MAX_FILE bytes or more) reads as
 * zero. */
static mk_status userstate_read_at(int dirfd, const char *name, const char *path,
                                   struct mk_user_state *out, mk_error *err)
{
    char *text = NULL;
    int fd = -1, r;
    mk_status st;
    size_t len = 0;

    memset(out, 0, sizeof(*out));
    if ((st = mk_trust_openat(dirfd, name, path, O_RDONLY, &fd, err)) != MK_OK)
        return st;
    if (fd < 0)
        return MK_OK;
    r = mk_fileio_read_all(fd, USERSTATE_MAX_FILE - 1, &text, &len);
    close(fd);
    if (r == -EFBIG)
        return MK_OK;
    if (r == -ENOMEM)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    if (r < 0)
        return mk_error_set(err, MK_ERR_IO, "cannot read %s: %s", path, strerror(-r));
    if (strlen(text) == len)
        userstate_parse(text, out);
    free(text);
    return MK_OK;
}

mk_status mk_user_state_read(const struct mk_config *cfg, const char *user,
                             struct mk_user_state *out, mk_error *err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    int dirfd;
    mk_status st;

    memset(out, 0, sizeof(*out));
    if (!mk_user_name_valid(user))
        return mk_error_set(err, MK_ERR_USAGE, "not a valid user name");
    if ((st = userstate_open_dir(cfg, false, &dirfd, dir, sizeof(dir), NULL, err)) != MK_OK ||
        dirfd < 0)
        return st;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, user) >= sizeof(path)) {
        close(dirfd);
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    }
    st = userstate_read_at(dirfd, user, path, out, err);
    close(dirfd);
    return st;
}

mk_status mk_user_state_record(const struct mk_config *cfg, const char *user, int64_t now,
                               bool success, const char *error, mk_error *err)
{
    char dir[PATH_MAX], path[PATH_MAX], text[USERSTATE_MAX_FILE];
    struct mk_user_state old;
    int dirfd = -1, state_fd = -1, lock = -1;
    mk_status st;

    if (!mk_user_name_valid(user))
        return mk_error_set(err, MK_ERR_USAGE, "not a valid user name");
    if ((st = userstate_open_dir(cfg, true, &dirfd, dir, sizeof(dir), &state_fd, err)) != MK_OK)
        return st;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, user) >= sizeof(path)) {
        st = mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
        goto out;
    }
    /* Writers of records take turns on users.lock, so the record's one
     * temporary name (MK_ATOMICFILE_LOCKED, below) is free to reuse: what
     * a killed writer left there is removed by this user's next record,
     * in O(1) whatever the number of users (the directory is not listed;
     * mk_user_state_sweep lists it, for what other versions left). */
    if ((st = userstate_lock(state_fd, cfg, &lock, err)) != MK_OK)
        goto out;
    if ((st = userstate_read_at(dirfd, user, path, &old, err)) != MK_OK)
        goto out;
    char clean[256];
    mk_text_sanitize(success ? "" : (error && *error ? error : "failed"), clean, sizeof(clean));
    for (char *c = clean; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    int len = snprintf(text, sizeof(text), USERSTATE_MAGIC "\nattempt %" PRId64 "\nsuccess %" PRId64
                       "\nerror%s%s\n", now, success ? now : old.last_success,
                       clean[0] ? " " : "", clean);
    /* Replaced atomically (a reader sees the old record or the new one),
     * but not fsync'd, neither the file nor the directory: the record is
     * advice, and the two fsyncs were most of a login's local cost. What a
     * crash can lose is the latest record (old bytes, or an empty file
     * that reads as no record): it costs the user one refresh that the
     * gate would have skipped, and until that refresh max_stale judges
     * them by the store's own time of their last change. store.json and
     * groups.db, which the groups depend on, keep both fsyncs
     * (docs/ARCHITECTURE.md, invariant 4). */
    int rc = mk_atomicfile_replace_flags(dirfd, user, 0644, text, (size_t)len, NULL,
                                         MK_ATOMICFILE_NO_FSYNC | MK_ATOMICFILE_LOCKED);
    if (rc < 0)
        st = mk_error_set(err, MK_ERR_IO, "cannot write %s: %s", path, strerror(-rc));
out:
    if (lock >= 0)
        close(lock);
    if (state_fd >= 0)
        close(state_fd);
    if (dirfd >= 0)
        close(dirfd);
    return st;
}

mk_status mk_user_state_sweep(const struct mk_config *cfg, const struct mk_log_sink *sink,
                              mk_error *err)
{
    char dir[PATH_MAX];
    int dirfd = -1, state_fd = -1, lock = -1;
    mk_status st;

    if ((st = userstate_open_dir(cfg, false, &dirfd, dir, sizeof(dir), &state_fd, err)) != MK_OK ||
        dirfd < 0)
        return st;
    /* Under users.lock no record is being written: every temporary file
     * is a killed writer's. */
    if ((st = userstate_lock(state_fd, cfg, &lock, err)) == MK_OK)
        userstate_remove_temps(dirfd, dir, sink);
    if (lock >= 0)
        close(lock);
    close(state_fd);
    close(dirfd);
    return st;
}

/* Whether entry is USER.tmp.XXXXXX, a replacement in flight or one a
 * killed writer left (atomicfile.h), for whatever USER. */
static bool userstate_is_temp(const char *entry)
{
    size_t len = strlen(entry), suffix = strlen(".tmp.XXXXXX");
    char user[MK_USER_NAME_MAX + 1];

    if (len <= suffix || len - suffix > MK_USER_NAME_MAX)
        return false;
    memcpy(user, entry, len - suffix);
    user[len - suffix] = '\0';
    return mk_atomicfile_is_temp(entry, user);
}

/* Removes every USER.tmp.XXXXXX in dirfd (dir names it in messages);
 * only under users.lock. Failures go to sink. */
static void userstate_remove_temps(int dirfd, const char *dir, const struct mk_log_sink *sink)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *ent;

    if (!d) {
        mk_log(sink, MK_LOG_WARNING, "cannot list %s to remove stale temporary files: %s", dir,
               strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((ent = readdir(d)) != NULL) {
        if (!userstate_is_temp(ent->d_name))
            continue;
        if (unlinkat(dirfd, ent->d_name, 0) == 0)
            mk_log(sink, MK_LOG_NOTICE, "removed %s/%s, left by an interrupted write", dir,
                   ent->d_name);
        else if (errno != ENOENT)
            mk_log(sink, MK_LOG_WARNING, "cannot remove the stale temporary file %s/%s: %s",
                   dir, ent->d_name, strerror(errno));
    }
    closedir(d);
}

static int userstate_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mk_user_state_entry *)a)->user,
                  ((const struct mk_user_state_entry *)b)->user);
}

mk_status mk_user_state_list(const struct mk_config *cfg, struct mk_user_state_entry **out,
                             size_t *count, mk_error *err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct mk_user_state_entry *list = NULL;
    size_t n = 0, cap = 0;
    int dirfd, listfd;
    mk_status st;
    DIR *d;

    *out = NULL;
    *count = 0;
    if ((st = userstate_open_dir(cfg, false, &dirfd, dir, sizeof(dir), NULL, err)) != MK_OK ||
        dirfd < 0)
        return st;
    listfd = dup(dirfd);
    if (listfd < 0 || !(d = fdopendir(listfd))) {
        int e = errno;
        if (listfd >= 0)
            close(listfd);
        close(dirfd);
        return mk_error_set(err, MK_ERR_IO, "cannot list %s: %s", dir, strerror(e));
    }
    st = MK_OK;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        struct mk_user_state state;
        mk_error one = { 0 };
        if (!mk_user_name_valid(ent->d_name) || ent->d_name[0] == '.' ||
            userstate_is_temp(ent->d_name))
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name) >= sizeof(path))
            continue;
        bool believed = userstate_read_at(dirfd, ent->d_name, path, &state, &one) == MK_OK;
        if (believed && state.last_attempt == 0 && state.last_success == 0)
            continue;   /* missing by now, or not a record */
        if (!believed && one.status != MK_ERR_IO)
            continue;
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 16;
            struct mk_user_state_entry *grown = realloc(list, grown_cap * sizeof(*list));
            if (!grown) {
                st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
                break;
            }
            list = grown;
            cap = grown_cap;
        }
        list[n].refused = NULL;
        if (!(list[n].user = strdup(ent->d_name)) ||
            (!believed && !(list[n].refused = strdup(one.message)))) {
            free(list[n].user);
            st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            break;
        }
        list[n++].state = state;
    }
    closedir(d);
    close(dirfd);
    if (st != MK_OK) {
        mk_user_state_list_free(list, n);
        return st;
    }
    if (n > 1)
        qsort(list, n, sizeof(*list), userstate_entry_cmp);
    *out = list;
    *count = n;
    return MK_OK;
}

void mk_user_state_list_free(struct mk_user_state_entry *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++) {
        free(list[i].user);
        free(list[i].refused);
    }
    free(list);
}

int64_t mk_user_state_known_good(const struct mk_user_state *st, int64_t store_refreshed)
{
    int64_t t = st ? st->last_success : 0;
    return store_refreshed > t ? store_refreshed : t;
}

bool mk_user_state_stale(const struct mk_config *cfg, int64_t known_good, int64_t now)
{
    if (cfg->max_stale_ms <= 0 || known_good <= 0)
        return false;
    return (now - known_good) * 1000 > cfg->max_stale_ms;
}

bool mk_user_state_fresh(const struct mk_user_state *st, int64_t interval_ms, int64_t now)
{
    if (interval_ms <= 0 || st->last_success <= 0 || st->last_success > now)
        return false;
    return (now - st->last_success) * 1000 < interval_ms;
}
