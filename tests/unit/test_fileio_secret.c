/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_fileio_secret.c: mk_fileio_read_secret (base/fileio.h),
 * the bounded whole-file read for a token: the same answers as
 * mk_fileio_read_all (the bytes and a NUL, the bound, a pipe that makes the
 * buffer grow, -EFBIG with nothing returned, a bad descriptor). That freed
 * buffers are wiped is not observable from here; the sanitizer build
 * checks that the copy made while growing is right. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"

static int file_with(const char *data, size_t len)
{
    char path[] = "/tmp/test_fileio_secret.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static void test_file_and_bound(void **state)
{
    char *data;
    size_t len;
    int fd = file_with("token-value\n", 12);

    assert_int_equal(mk_fileio_read_secret(fd, 12, &data, &len), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(data, "token-value\n", 13);
    free(data);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    data = (char *)1;
    assert_int_equal(mk_fileio_read_secret(fd, 11, &data, &len), -EFBIG);
    assert_null(data);
    assert_int_equal(len, 0);
    close(fd);
}

/* A pipe starts from a small buffer: every growth copies what was read. */
static void test_growing(void **state)
{
    char big[50000], *data;
    size_t len;
    int p[2];

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('A' + i % 23);
    assert_int_equal(pipe(p), 0);
    for (size_t at = 0; at < sizeof(big); at += 10000)
        assert_int_equal(write(p[1], big + at, 10000), 10000);
    close(p[1]);
    /* The pipe holds 64 KiB at most by default: all of it written first. */
    assert_int_equal(mk_fileio_read_secret(p[0], sizeof(big), &data, &len), 0);
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(data, big, sizeof(big));
    assert_int_equal(data[len], '\0');
    free(data);
    close(p[0]);

    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], big, 20000), 20000);
    close(p[1]);
    assert_int_equal(mk_fileio_read_secret(p[0], 19999, &data, &len), -EFBIG);
    assert_null(data);
    close(p[0]);
}

static void test_bad_descriptor(void **state)
{
    char *data = (char *)1;
    size_t len = 3;
    assert_int_equal(mk_fileio_read_secret(-1, 10, &data, &len), -EBADF);
    assert_null(data);
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_and_bound),
        cmocka_unit_test(test_growing),
        cmocka_unit_test(test_bad_descriptor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
