/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_fileio.c: common/base/fileio.h, a whole file read with a
 * bound: the bytes and a NUL after them, the bound itself allowed and one
 * byte more refused (-EFBIG), an empty file, a pipe (no size to go by),
 * reading from the current offset, NUL bytes kept, a bad descriptor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "testutil.h"

static char tmpl[] = "/tmp/test_fileio.XXXXXX";

/* A file holding data[0..len), opened for reading (unlinked already). */
static int file_with(const char *data, size_t len)
{
    char path[sizeof(tmpl)];
    memcpy(path, tmpl, sizeof(tmpl));
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static void test_reads_the_whole_file(void **state)
{
    char *data = (char *)1;
    size_t len = 99;
    int fd = file_with("hello\nworld\n", 12);

    assert_int_equal(mk_fileio_read_all(fd, 1024, &data, &len), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(data, "hello\nworld\n", 13);   /* with its NUL */
    free(data);
    close(fd);
}

/* max bytes exactly is fine; one more is -EFBIG, and nothing is returned. */
static void test_bound(void **state)
{
    char *data;
    size_t len;
    int fd = file_with("0123456789", 10);

    assert_int_equal(mk_fileio_read_all(fd, 10, &data, &len), 0);
    assert_int_equal(len, 10);
    free(data);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    data = (char *)1;
    len = 5;
    assert_int_equal(mk_fileio_read_all(fd, 9, &data, &len), -EFBIG);
    assert_null(data);
    assert_int_equal(len, 0);
    close(fd);
}

static void test_empty_file(void **state)
{
    char *data = NULL;
    size_t len = 99;
    int fd = file_with("", 0);

    assert_int_equal(mk_fileio_read_all(fd, 0, &data, &len), 0);
    assert_non_null(data);
    assert_int_equal(len, 0);
    assert_int_equal(data[0], '\0');
    free(data);
    close(fd);
}

/* A pipe has no size: read to its end, bounded all the same. */
static void test_pipe(void **state)
{
    char big[20000], *data;
    size_t len;
    int p[2];

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], big, sizeof(big)), (ssize_t)sizeof(big));
    close(p[1]);
    assert_int_equal(mk_fileio_read_all(p[0], sizeof(big), &data, &len), 0);
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(data, big, sizeof(big));
    assert_int_equal(data[len], '\0');
    free(data);
    close(p[0]);

    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], big, sizeof(big)), (ssize_t)sizeof(big));
    close(p[1]);
    assert_int_equal(mk_fileio_read_all(p[0], sizeof(big) - 1, &data, &len), -EFBIG);
    assert_null(data);
    close(p[0]);
}

/* From the current offset; NUL bytes inside are kept. */
static void test_offset_and_nul_bytes(void **state)
{
    char *data;
    size_t len;
    int fd = file_with("abc\0def", 7);

    assert_int_equal(lseek(fd, 2, SEEK_SET), 2);
    assert_int_equal(mk_fileio_read_all(fd, 5, &data, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "c\0def", 6);
    free(data);
    close(fd);
}

static void test_bad_descriptor(void **state)
{
    char *data = (char *)1;
    size_t len = 3;
    assert_int_equal(mk_fileio_read_all(-1, 10, &data, &len), -EBADF);
    assert_null(data);
    assert_int_equal(len, 0);
}

/* By path: a regular file is read whole; a directory, a FIFO and (unless
 * followed) a symbolic link are refused before a byte is read. */
static void test_by_path(void **state)
{
    struct tu_tmpdir *d = *state;
    char *file = tu_path_ok(d->path, "f"), *dir = tu_path_ok(d->path, "d");
    char *fifo = tu_path_ok(d->path, "p"), *link = tu_path_ok(d->path, "l");
    char *data = NULL;
    size_t len = 0;

    assert_int_equal(tu_write_file(file, "abc", 3, 0644), 0);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink(file, link), 0);
    assert_int_equal(mk_fileio_read_path(file, false, 16, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_string_equal(data, "abc");
    free(data);
    assert_int_equal(mk_fileio_read_path(file, false, 2, &data, &len), -EFBIG);
    assert_null(data);
    assert_int_equal(mk_fileio_read_path(dir, false, 16, &data, &len), -EISDIR);
    assert_int_equal(mk_fileio_read_path(fifo, false, 16, &data, &len), -EINVAL);
    assert_int_equal(mk_fileio_read_path(link, false, 16, &data, &len), -ELOOP);
    assert_int_equal(mk_fileio_read_path(link, true, 16, &data, &len), 0);
    assert_string_equal(data, "abc");
    free(data);
    assert_int_equal(mk_fileio_read_path("/nonexistent/x", true, 16, &data, &len), -ENOENT);
    assert_null(data);
    assert_int_equal(len, 0);
    free(file);
    free(dir);
    free(fifo);
    free(link);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_the_whole_file),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_offset_and_nul_bytes),
        cmocka_unit_test(test_bad_descriptor),
        cmocka_unit_test_setup_teardown(test_by_path, tu_tmpdir_setup, tu_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
