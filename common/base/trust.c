/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/trust.c: owner and mode checks of directories and files that
 * root believes, opened without following links (see trust.h). */
#include "base/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What kind of file st is, for messages. */
const char *mk_trust_file_kind(const struct stat *st)
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

/* The refusal of what is not a regular file where one must be.
 * A link's target may be the real file, so it is not simply removed. */
static mk_status trust_refuse_kind(const char *path, const char *kind, mk_error *err)
{
    return mk_error_set(err, MK_ERR_IO, "%s is %s, not a regular file; nothing was read or "
                        "written: %s", path, kind,
                        strcmp(kind, "a symbolic link") == 0
                        ? "put the file itself there (owned by root) or remove the link"
                        : "remove it");
}

/* Whoever else can write there decides what root believes (which groups it
 * compiles, which token it sends): hence one MK_ERR_IO naming path, what is
 * wrong and the fix, in the words of the chown and chmod that fix it. */
mk_status mk_trust_check(const char *path, const struct stat *st, const struct mk_trust_dir *dir,
                         mk_error *err)
{
    uid_t euid = geteuid();
    bool owner_ok = st->st_uid == 0 || st->st_uid == euid;
    bool group_w = st->st_mode & S_IWGRP, other_w = st->st_mode & S_IWOTH;
    char owner[48], chown_cmd[48], problem[96], fix[1024];

    if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
        if (dir)
            return mk_error_set(err, MK_ERR_IO, "%s %s is %s, not a directory; it must be a "
                                "directory owned by root and not writable by group or others%s%s%s",
                                dir->what, path, mk_trust_file_kind(st),
                                S_ISLNK(st->st_mode) ? " (" : "",
                                S_ISLNK(st->st_mode) ? dir->link_fix : "",
                                S_ISLNK(st->st_mode) ? ")" : "");
        return trust_refuse_kind(path, mk_trust_file_kind(st), err);
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

/* Every later step goes through the descriptor, so a directory swapped in
 * afterwards is never used. A directory made here is 0755: the state
 * directory's groups.db is read by the NSS module as any user. */
mk_status mk_trust_open_dir(const char *dir, const struct mk_trust_dir *names, bool create,
                            int *fd_out, mk_error *err)
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
        return mk_error_set(err, MK_ERR_USAGE, "%s path is too long", names->what);
    memcpy(path, dir, len);
    path[len] = '\0';
    if (create) {
        if (mkdir(path, 0755) == 0)
            created = true;
        else if (errno != EEXIST)
            return mk_error_set(err, MK_ERR_IO, "cannot create %s %s: %s", names->what,
                                path, strerror(errno));
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && !create)
            return MK_OK;
        /* Say what is there; a directory that appeared since is still an error. */
        if ((e == ELOOP || e == ENOTDIR) && lstat(path, &st) == 0 &&
            (status = mk_trust_check(path, &st, names, err)) != MK_OK)
            return status;
        return mk_error_set(err, MK_ERR_IO, "cannot open %s %s: %s", names->what,
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
    if ((status = mk_trust_check(path, &st, names, err)) != MK_OK)
        goto out;
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return status;
}

/* O_NONBLOCK: opening a FIFO must not wait for a writer; ENXIO (a FIFO or
 * socket nobody has open) and ELOOP (a link) are named as such. */
mk_status mk_trust_openat(int dfd, const char *name, const char *path, int flags, int *fd_out,
                          mk_error *err)
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
            return trust_refuse_kind(path, e == ELOOP ? "a symbolic link" : "a FIFO or socket",
                                     err);
        return mk_error_set(err, MK_ERR_IO, "cannot open %s: %s", path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        status = mk_error_set(err, MK_ERR_IO, "cannot examine %s: %s", path, strerror(errno));
        goto out;
    }
    if ((status = mk_trust_check(path, &st, NULL, err)) != MK_OK)
        goto out;
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return status;
}
