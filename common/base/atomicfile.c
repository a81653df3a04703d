/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/atomicfile.c: lock, temporary file, fsync, rename, directory fsync
 * (see atomicfile.h). */
#include "base/atomicfile.h"
#include "base/clock.h"
#include "base/tempname.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ATOMIC_TEMP_INFIX ".tmp."
#define ATOMIC_TEMP_TRIES 100
#define ATOMIC_LOCK_POLL_NS (5L * 1000 * 1000)
#define ATOMIC_NAME_MAX 255

int mk_atomicfile_lock(int fd, long timeout_ms)
{
    int64_t start = mk_clock_ms();

    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        /* Two readings in whole milliseconds can be one more apart than
         * the time that passed: only a difference above timeout_ms means
         * that all of it has surely passed. */
        if (mk_clock_elapsed_ms(start) > timeout_ms)
            return -EWOULDBLOCK;
        struct timespec pause = { 0, ATOMIC_LOCK_POLL_NS };
        nanosleep(&pause, NULL);
    }
}

static int atomic_write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The one temporary name of a writer that holds the lock
 * (MK_ATOMICFILE_LOCKED): MK_TEMPNAME_RANDOM characters that
 * mk_tempname_is_suffix accepts. */
#define ATOMIC_LOCKED_SUFFIX "000000"

/* Creates NAME.tmp.XXXXXX in dirfd; its name in tmp. Returns the
 * descriptor or a negative errno. locked: NAME.tmp.000000, a file left
 * there by a killed writer removed first (the lock says none is alive). */
static int atomic_temp_create(int dirfd, const char *name, bool locked, char *tmp,
                              size_t tmp_size)
{
    char suffix[MK_TEMPNAME_RANDOM + 1];

    for (int i = 0; i < ATOMIC_TEMP_TRIES; i++) {
        int fd, n;
        if (locked) {
            n = snprintf(tmp, tmp_size, "%s" ATOMIC_TEMP_INFIX ATOMIC_LOCKED_SUFFIX, name);
            if (n < 0 || (size_t)n >= tmp_size)
                return -ENAMETOOLONG;
            if (unlinkat(dirfd, tmp, 0) != 0 && errno != ENOENT)
                return -errno;
            fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            return fd >= 0 ? fd : -errno;
        }
        mk_tempname_suffix(suffix);
        n = snprintf(tmp, tmp_size, "%s" ATOMIC_TEMP_INFIX "%s", name, suffix);
        if (n < 0 || (size_t)n >= tmp_size)
            return -ENAMETOOLONG;
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

/* Puts the temporary file tmp at name, in one step a reader cannot see
 * halfway. With sync (the store's files), a rename. Without (advisory
 * files), over a regular file, an exchange of the two names and an unlink
 * of the old file (now at tmp; a writer killed in between leaves it as a
 * stale temporary file, removed under the lock): on ext4 a rename over a
 * file starts the new file's writeback at once (auto_da_alloc, its guard
 * for writers that skip fsync) and costs about 0.3 ms more, which is the
 * guarantee such a caller gave up. A rename otherwise (no file there yet,
 * or a file system without RENAME_EXCHANGE). */
static int atomic_into_place(int dirfd, const char *tmp, const char *name, bool sync)
{
    struct stat st;

    if (!sync && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
        if (renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) == 0) {
            (void)unlinkat(dirfd, tmp, 0);
            return 0;
        }
        if (errno != EINVAL && errno != ENOSYS && errno != ENOENT)
            return -errno;
    }
    return renameat(dirfd, tmp, dirfd, name) == 0 ? 0 : -errno;
}

int mk_atomicfile_replace(int dirfd, const char *name, mode_t mode, const void *data,
                          size_t len, int *replaced)
{
    return mk_atomicfile_replace_flags(dirfd, name, mode, data, len, replaced, 0);
}

int mk_atomicfile_replace_flags(int dirfd, const char *name, mode_t mode, const void *data,
                                size_t len, int *replaced, unsigned flags)
{
    bool sync = !(flags & MK_ATOMICFILE_NO_FSYNC);
    char tmp[ATOMIC_NAME_MAX + 1] = "";
    int fd = -1, old = -1, r;

    if (replaced)
        *replaced = -1;
    if (dirfd < 0 || !name || !*name || strchr(name, '/') || (len > 0 && !data))
        return -EINVAL;
    if ((fd = atomic_temp_create(dirfd, name, flags & MK_ATOMICFILE_LOCKED, tmp,
                                 sizeof(tmp))) < 0) {
        r = fd;
        fd = -1;
        tmp[0] = '\0';
        goto out;
    }
    if (fchmod(fd, mode) != 0) {
        r = -errno;
        goto out;
    }
    if ((r = atomic_write_all(fd, data, len)) < 0)
        goto out;
    if (sync && fsync(fd) != 0) {
        r = -errno;
        goto out;
    }
    r = close(fd);
    fd = -1;
    if (r != 0) {
        r = -errno;
        goto out;
    }
    /* Opened before the rename, so it is the file readers may have mapped. */
    if (replaced)
        old = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if ((r = atomic_into_place(dirfd, tmp, name, sync)) < 0)
        goto out;
    tmp[0] = '\0';
    /* The new file is in place even if the directory fsync fails. */
    r = !sync || fsync(dirfd) == 0 ? 0 : -EIO;
    if (replaced) {
        *replaced = old;
        old = -1;
    }
out:
    if (tmp[0])
        unlinkat(dirfd, tmp, 0);
    if (fd >= 0)
        close(fd);
    if (old >= 0)
        close(old);
    return r;
}

/* Whether buf[0..n), at offset at of a file, equals data there, but for
 * the ignored bytes [ignore_off, ignore_end). */
static bool atomicfile_chunk_same(const unsigned char *buf, size_t n, size_t at,
                             const unsigned char *data, size_t ignore_off, size_t ignore_end)
{
    size_t end = at + n;
    if (end <= ignore_off || at >= ignore_end)
        return memcmp(buf, data + at, n) == 0;
    size_t a = ignore_off > at ? ignore_off - at : 0;          /* bytes before the hole */
    size_t b = ignore_end < end ? end - ignore_end : 0;        /* bytes after it */
    return memcmp(buf, data + at, a) == 0 && memcmp(buf + n - b, data + end - b, b) == 0;
}

/* A megabyte at a time with memcmp: the store's files are tens of
 * megabytes at 100,000 organizations, and a refresh that changes nothing
 * compares both. Read, not mapped: a file truncated under a mapping would
 * kill the writer. */
int mk_atomicfile_same(int dirfd, const char *name, const void *data, size_t len,
                       size_t ignore_off, size_t ignore_len)
{
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = NULL;
    struct stat st;
    size_t at = 0;
    int r = 1;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != (uint64_t)len) {
        r = 0;
        goto out;
    }
    if (!(buf = malloc(len < CHUNK ? (len ? len : 1) : CHUNK))) {
        r = -ENOMEM;
        goto out;
    }
    while (at < len) {
        ssize_t got = read(fd, buf, len - at < CHUNK ? len - at : CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r = -errno;
            goto out;
        }
        if (got == 0 || !atomicfile_chunk_same(buf, (size_t)got, at, data, ignore_off,
                                          ignore_off + ignore_len)) {
            r = 0;   /* differs, or shrank while we read */
            goto out;
        }
        at += (size_t)got;
    }
out:
    free(buf);
    close(fd);
    return r;
}

bool mk_atomicfile_is_temp(const char *entry, const char *name)
{
    size_t len = strlen(name), infix = strlen(ATOMIC_TEMP_INFIX);

    if (strncmp(entry, name, len) == 0 && strncmp(entry + len, ATOMIC_TEMP_INFIX, infix) == 0)
        return mk_tempname_is_suffix(entry + len + infix);
    if (entry[0] == '.' && strncmp(entry + 1, name, len) == 0 && entry[len + 1] == '.')
        return mk_tempname_is_suffix(entry + len + 2);
    return false;
}

void mk_atomicfile_remove_stale(int dirfd, const char *dir, const char *const *names,
                                size_t n, const struct mk_log_sink *sink)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        mk_log(sink, MK_LOG_WARNING, "cannot list %s to remove stale temporary files: %s",
               dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d))) {
        bool temp = false;
        for (size_t i = 0; i < n && !temp; i++)
            temp = mk_atomicfile_is_temp(e->d_name, names[i]);
        if (!temp)
            continue;
        if (unlinkat(dirfd, e->d_name, 0) == 0)
            mk_log(sink, MK_LOG_NOTICE, "removed %s/%s, left by an interrupted write",
                   dir, e->d_name);
        else if (errno != ENOENT)
            mk_log(sink, MK_LOG_WARNING, "cannot remove the stale temporary file %s/%s: %s",
                   dir, e->d_name, strerror(errno));
    }
    closedir(d);
}
