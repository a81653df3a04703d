/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/fileio.c: reading a whole file, bounded (see fileio.h). */
#include "base/fileio.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first buffer holds what fstat says is left plus one byte, so that a file
 * that does not change is read in one pass and its end seen at once;
 * what grows is read by doubling, up to max + 1 bytes (one more than max
 * says the file is too large). */
int mk_fileio_read_all(int fd, size_t max, char **data, size_t *len)
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
            char *bigger = realloc(buf, more + 1);
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
    free(buf);
    return r;
}
