/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/fileio.c: reading a whole file, bounded (see fileio.h). */
#include "base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Frees buf (cap + 1 bytes), wiped first when wipe says it held a secret. */
static void fileio_free(char *buf, size_t cap, bool wipe)
{
    if (buf && wipe)
        explicit_bzero(buf, cap + 1);
    free(buf);
}

/* A larger buffer for what is read: realloc, or with wipe a new buffer the
 * bytes are copied to and the old one wiped, so no copy is left in freed
 * memory. NULL when out of memory (buf is then kept). */
static char *fileio_grow(char *buf, size_t got, size_t cap, size_t more, bool wipe)
{
    char *bigger;

    if (!wipe)
        return realloc(buf, more + 1);
    if (!(bigger = malloc(more + 1)))
        return NULL;
    memcpy(bigger, buf, got);
    fileio_free(buf, cap, true);
    return bigger;
}

/* The first buffer holds what fstat says is left plus one byte, so that a file
 * that does not change is read in one pass and its end seen at once;
 * what grows is read by doubling, up to max + 1 bytes (one more than max
 * says the file is too large). */
static int fileio_read(int fd, size_t max, bool wipe, char **data, size_t *len)
{
    struct stat st;
    size_t cap = 4096, got = 0, limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
    char *buf = NULL;
    int r = 0;

    *data = NULL;
    *len = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        off_t at = lseek(fd, 0, SEEK_CUR);
        off_t left = at >= 0 && st.st_size > at ? st.st_size - at : 0;
        if ((uintmax_t)left > max)
            return -EFBIG;
        cap = (size_t)left + 1;
    }
    if (cap > limit)
        cap = limit;
    if (!(buf = malloc(cap + 1)))
        return -ENOMEM;
    for (;;) {
        if (got == cap) {
            if (cap >= limit) {
                r = -EFBIG;
                goto out;
            }
            size_t more = cap > limit / 2 ? limit : cap * 2;
            char *bigger = fileio_grow(buf, got, cap, more, wipe);
            if (!bigger) {
                r = -ENOMEM;
                goto out;
            }
            buf = bigger;
            cap = more;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > max) {
        r = -EFBIG;
        goto out;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    buf = NULL;
out:
    fileio_free(buf, cap, wipe);
    return r;
}

int mk_fileio_read_all(int fd, size_t max, char **data, size_t *len)
{
    return fileio_read(fd, max, false, data, len);
}

int mk_fileio_read_secret(int fd, size_t max, char **data, size_t *len)
{
    return fileio_read(fd, max, true, data, len);
}

int mk_fileio_read_path(const char *path, bool follow, size_t max, char **data, size_t *len)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW);
    int fd, r;
    struct stat st;

    *data = NULL;
    *len = 0;
    fd = open(path, flags);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0)
        r = -errno;
    else if (!S_ISREG(st.st_mode))
        r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    else
        r = mk_fileio_read_all(fd, max, data, len);
    close(fd);
    return r;
}
