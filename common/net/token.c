/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/token.c: reading tokens from files (invariant 5).
 *
 * MK_ERR_IO means only "there is no such file", so callers can tell a user
 * without a token (nothing to do) from a token file that is refused (a
 * failure to report). Every other problem is MK_ERR_USAGE naming the file.
 * Buffers that held a token are wiped before they are freed.
 */
#include "net/token.h"
#include "base/fileio.h"
#include "base/trust.h"
#include "base/text.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

void mk_token_free(char *token)
{
    if (!token)
        return;
    explicit_bzero(token, strlen(token));
    free(token);
}

static bool token_bytes_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

mk_status mk_token_check_value(const char *token, mk_error *err)
{
    if (!token || !*token)
        return mk_error_set(err, MK_ERR_USAGE, "the token is empty");
    size_t len = strlen(token);
    if (len > MK_TOKEN_MAX_BYTES)
        return mk_error_set(err, MK_ERR_USAGE, "the token is longer than %d bytes", MK_TOKEN_MAX_BYTES);
    if (!token_bytes_ok(token, len))
        return mk_error_set(err, MK_ERR_USAGE,
                            "the token holds characters a token cannot have (printable ASCII only, "
                            "no spaces)");
    return MK_OK;
}

/* Opens name relative to dirfd without following a final symlink, checks the
 * file and reads the token. shown is the path used in messages. */
static mk_status token_read_at(int dirfd, const char *name, const char *shown, uid_t owner,
                               char **token, mk_error *err)
{
    int fd = -1;
    char *buf = NULL;
    size_t used = 0;
    struct stat sb;
    mk_status st = MK_OK;

    *token = NULL;
    /* O_NONBLOCK: a FIFO planted at the path must not hang a login. */
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            st = mk_error_set(err, MK_ERR_IO, "no token file at %s", shown);
        else if (errno == ELOOP)
            st = mk_error_set(err, MK_ERR_USAGE, "%s is a symbolic link, refused", shown);
        else
            st = mk_error_set(err, MK_ERR_USAGE, "cannot open the token file %s: %s", shown,
                              strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) < 0) {
        st = mk_error_set(err, MK_ERR_USAGE, "cannot stat the token file %s: %s", shown, strerror(errno));
        goto out;
    }
    /* Readable by its owner alone: a token is a secret. */
    unsigned problems = mk_trust_problems(&sb, S_IFREG, owner, S_IRWXG | S_IRWXO);
    if (problems & MK_TRUST_KIND) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s is not a regular file, refused", shown);
        goto out;
    }
    if (problems & MK_TRUST_OWNER) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s is owned by uid %lu, expected %lu", shown,
                          (unsigned long)sb.st_uid, (unsigned long)owner);
        goto out;
    }
    if (problems & MK_TRUST_MODE) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s has mode %04o; it must be 0600", shown,
                          (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    /* The bound is checked again while reading: a file that grew after
     * fstat is caught, and no copy of the token is left in freed memory. */
    int r = mk_fileio_read_secret(fd, MK_TOKEN_MAX_BYTES, &buf, &used);
    if (r == -EFBIG) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s is larger than %d bytes, refused", shown,
                          MK_TOKEN_MAX_BYTES);
        goto out;
    }
    if (r == -ENOMEM) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", shown);
        goto out;
    }
    if (r < 0) {
        st = mk_error_set(err, MK_ERR_USAGE, "cannot read the token file %s: %s", shown,
                          strerror(-r));
        goto out;
    }
    size_t len = used;
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
    }
    if (len == 0) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s is empty, refused", shown);
        goto out;
    }
    if (!token_bytes_ok(buf, len)) {
        st = mk_error_set(err, MK_ERR_USAGE,
                          "%s holds characters a token cannot have (one line of printable ASCII "
                          "without spaces)", shown);
        goto out;
    }
    *token = malloc(len + 1);
    if (!*token) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", shown);
        goto out;
    }
    memcpy(*token, buf, len);
    (*token)[len] = '\0';
out:
    if (buf) {
        explicit_bzero(buf, used + 1);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    return st;
}

mk_status mk_token_read_file(const char *path, uid_t owner, char **token, mk_error *err)
{
    if (!path || !*path || !token)
        return mk_error_set(err, MK_ERR_USAGE, "no token file path given");
    return token_read_at(AT_FDCWD, path, path, owner, token, err);
}

/* Walks rel (a/b/file) below home, each directory opened with O_NOFOLLOW so a
 * symlinked ~/.config cannot redirect the read; then reads the file. */
static mk_status token_read_below_home(const char *home, const char *rel, const char *full,
                                       uid_t owner, char **token, mk_error *err)
{
    int dirfd = -1;
    char *work = NULL;
    mk_status st = MK_OK;

    /* O_PATH: walking needs only search rights (homes are often 0711). */
    dirfd = open(home, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        if (errno == ENOENT)
            st = mk_error_set(err, MK_ERR_IO, "no token file at %s (no home directory %s)", full, home);
        else
            st = mk_error_set(err, MK_ERR_USAGE, "cannot open the home directory %s: %s", home,
                              strerror(errno));
        goto out;
    }
    work = strdup(rel);
    if (!work) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", full);
        goto out;
    }
    char *component = work;
    char *slash;
    while ((slash = strchr(component, '/')) != NULL) {
        *slash = '\0';
        int next = openat(dirfd, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int saved = errno;
            struct stat sb;
            /* For a symlink O_DIRECTORY|O_NOFOLLOW reports ENOTDIR; say what it really is. */
            if ((saved == ENOTDIR || saved == ELOOP) &&
                fstatat(dirfd, component, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
                st = mk_error_set(err, MK_ERR_USAGE, "%s/%.*s is a symbolic link, refused", home,
                                  (int)(slash - work), rel);
            else if (saved == ENOENT)
                st = mk_error_set(err, MK_ERR_IO, "no token file at %s", full);
            else if (saved == ENOTDIR)
                st = mk_error_set(err, MK_ERR_USAGE, "%s/%.*s is not a directory, refused", home,
                                  (int)(slash - work), rel);
            else
                st = mk_error_set(err, MK_ERR_USAGE, "cannot open %s/%.*s: %s", home,
                                  (int)(slash - work), rel, strerror(saved));
            goto out;
        }
        close(dirfd);
        dirfd = next;
        component = slash + 1;
    }
    st = token_read_at(dirfd, component, full, owner, token, err);
out:
    free(work);
    if (dirfd >= 0)
        close(dirfd);
    return st;
}

static char *token_join(const char *dir, const char *name)
{
    char *out = NULL;
    size_t len = strlen(dir);
    const char *sep = (len > 0 && dir[len - 1] == '/') ? "" : "/";
    if (asprintf(&out, "%s%s%s", dir, sep, name) < 0)
        return NULL;
    return out;
}

mk_status mk_token_for_user(const struct mk_config *cfg, const struct passwd *pw,
                            char **token, char **source, mk_error *err)
{
    char *root_path = NULL;
    char *user_path = NULL;
    mk_status st = MK_OK;
    bool switched = false;
    uid_t old_fsuid = 0;
    gid_t old_fsgid = 0;

    if (source)
        *source = NULL;
    if (!token || !cfg || !pw || !pw->pw_name)
        return mk_error_set(err, MK_ERR_USAGE, "no user given for the token");
    *token = NULL;
    const char *user = pw->pw_name;
    /* A user name (text.h) that is not a dot file either: "." and ".."
     * would name a directory. */
    if (!mk_user_name_valid(user) || user[0] == '.') {
        char shown[72];
        return mk_error_set(err, MK_ERR_USAGE, "the user name \"%s\" cannot name a token file",
                            mk_text_sanitize(user, shown, sizeof(shown)));
    }

    root_path = cfg->token_dir ? token_join(cfg->token_dir, user) : NULL;
    if (cfg->token_dir && !root_path) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory finding the token of %s", user);
        goto out;
    }
    if (root_path) {
        st = mk_token_read_file(root_path, 0, token, err);
        if (st != MK_ERR_IO && source) {
            *source = root_path;
            root_path = NULL;
        }
        /* A refused root-owned file is a failure: do not fall back past it. */
        if (st != MK_ERR_IO)
            goto out;
    }

    if (!cfg->user_token_path || !*cfg->user_token_path || !pw->pw_dir || pw->pw_dir[0] != '/') {
        st = mk_error_set(err, MK_ERR_IO, "no token for %s (no %s, and no usable home directory)",
                          user, root_path ? root_path : "token_dir");
        goto out;
    }
    user_path = token_join(pw->pw_dir, cfg->user_token_path);
    if (!user_path) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory finding the token of %s", user);
        goto out;
    }
    if (geteuid() == 0) {
        /* Read the user's file with the user's rights: root must not be
         * tricked into reading what the user could not. Per-thread. */
        old_fsgid = (gid_t)setfsgid(pw->pw_gid);
        old_fsuid = (uid_t)setfsuid(pw->pw_uid);
        switched = true;
        if ((uid_t)setfsuid((uid_t)-1) != pw->pw_uid || (gid_t)setfsgid((gid_t)-1) != pw->pw_gid) {
            st = mk_error_set(err, MK_ERR_USAGE, "cannot take the file-system identity of %s", user);
            goto out;
        }
    }
    st = token_read_below_home(pw->pw_dir, cfg->user_token_path, user_path, pw->pw_uid, token, err);
    if (st == MK_ERR_IO)
        st = mk_error_set(err, MK_ERR_IO, "no token for %s (neither %s nor %s exists)", user,
                          root_path ? root_path : "token_dir", user_path);
    if (st != MK_ERR_IO && source) {
        *source = user_path;
        user_path = NULL;
    }
out:
    if (switched) {
        setfsuid(old_fsuid);
        setfsgid(old_fsgid);
    }
    if (st != MK_OK && *token) {
        mk_token_free(*token);
        *token = NULL;
    }
    free(root_path);
    free(user_path);
    return st;
}

bool mk_token_source_root_held(const struct mk_config *cfg, const char *path)
{
    if (!cfg || !cfg->token_dir || !*cfg->token_dir || !path)
        return false;
    size_t len = strlen(cfg->token_dir);
    while (len > 1 && cfg->token_dir[len - 1] == '/')
        len--;
    return strncmp(path, cfg->token_dir, len) == 0 && path[len] == '/' &&
           path[len + 1] && !strchr(path + len + 1, '/');
}

void mk_token_remedy(const struct mk_config *cfg, const char *user, const char *path, char *buf,
                     size_t size)
{
    if (!size)
        return;
    if (mk_token_source_root_held(cfg, path))
        snprintf(buf, size, "your administrator must run `mkio-orgs login --user %s` with a new "
                 "token (logins read %s before your own token file)", user ? user : "USER", path);
    else
        snprintf(buf, size, "make a new one in the MK.IO web app (profile menu, \"Your personal "
                 "API tokens\") and run `mkio-orgs login`");
}

/* Sorting the listing (MK_TOKEN_DIR_SORTED). */
static int token_cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens the directory as flags ask: O_NOFOLLOW with MK_TOKEN_DIR_NOFOLLOW;
 * with MK_TOKEN_DIR_TRUSTED root must own it and nobody else write it. */
static int token_dir_open(const char *dir, unsigned flags, struct stat *st, DIR **out)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
                  (flags & MK_TOKEN_DIR_NOFOLLOW ? O_NOFOLLOW : 0));

    *out = NULL;
    if (fd < 0)
        return -errno;
    if (flags & MK_TOKEN_DIR_TRUSTED) {
        if (fstat(fd, st) != 0)
            memset(st, 0, sizeof(*st));
        else if (mk_trust_problems(st, S_IFDIR, 0, S_IWGRP | S_IWOTH) == 0)
            goto trusted;
        close(fd);
        return -EPERM;
    }
trusted:
    if (!(*out = fdopendir(fd))) {
        int e = errno;
        close(fd);
        return -e;
    }
    return 0;
}

int mk_token_dir_list(const char *dir, unsigned flags, char ***names, size_t *count,
                      struct stat *st)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;
    int r;

    *names = NULL;
    *count = 0;
    if ((r = token_dir_open(dir, flags, st, &d)) < 0)
        return r;
    while ((de = readdir(d))) {
        bool kind_ok = de->d_type == DT_REG || de->d_type == DT_UNKNOWN ||
                       (de->d_type == DT_LNK && (flags & MK_TOKEN_DIR_LINKS));
        if (de->d_name[0] == '.' || !kind_ok)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(v, cap * sizeof(*v));
            if (!grown)
                goto nomem;
            v = grown;
        }
        if (!(v[n] = strdup(de->d_name)))
            goto nomem;
        n++;
    }
    closedir(d);
    if (n && (flags & MK_TOKEN_DIR_SORTED))
        qsort(v, n, sizeof(*v), token_cmp_name);
    *names = v;
    *count = n;
    return 0;
nomem:
    closedir(d);
    mk_token_dir_list_free(v, n);
    return -ENOMEM;
}

void mk_token_dir_list_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
