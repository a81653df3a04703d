/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_token_dir.c: mk_token_dir_list (net/token.h), the one
 * listing of the token directory that doctor and sync share: dot files and
 * directories skipped, links only with MK_TOKEN_DIR_LINKS, sorting with
 * MK_TOKEN_DIR_SORTED, a link at the directory refused with
 * MK_TOKEN_DIR_NOFOLLOW and followed without, an owner or mode that may not
 * be believed refused with MK_TOKEN_DIR_TRUSTED (-EPERM and the stat), a
 * missing directory -ENOENT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/token.h"
#include "testutil.h"

static int setup(void **state)
{
    struct tu_tmpdir *d = calloc(1, sizeof(*d));
    if (!d || tu_tmpdir_make(d, "test_token_dir") != 0)
        return -1;
    /* Regular files, a dot file, a directory, a link. */
    tu_write_text_ok(d->fd, "carol", "t\n", 0600);
    tu_write_text_ok(d->fd, "alice", "t\n", 0600);
    tu_write_text_ok(d->fd, ".hidden", "t\n", 0600);
    assert_int_equal(mkdirat(d->fd, "subdir", 0700), 0);
    assert_int_equal(symlinkat("alice", d->fd, "bob"), 0);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct tu_tmpdir *d = *state;
    int r = tu_tmpdir_remove(d);
    free(d);
    return r;
}

static bool listed(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* What sync asks for (no flags): regular files only, in directory order. */
static void test_plain(void **state)
{
    struct tu_tmpdir *d = *state;
    char **names = (char **)1;
    size_t n = 99;

    assert_int_equal(mk_token_dir_list(d->path, 0, &names, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_true(listed(names, n, "alice"));
    assert_true(listed(names, n, "carol"));
    mk_token_dir_list_free(names, n);
}

/* What doctor asks for: links too, sorted, the directory checked. The
 * temporary directory is the test's own, mode 0700: believed as root. */
static void test_doctor_flags(void **state)
{
    struct tu_tmpdir *d = *state;
    unsigned all = MK_TOKEN_DIR_NOFOLLOW | MK_TOKEN_DIR_TRUSTED | MK_TOKEN_DIR_LINKS |
                   MK_TOKEN_DIR_SORTED;
    char **names;
    size_t n;
    struct stat st;

    if (geteuid() != 0)
        skip();
    assert_int_equal(mk_token_dir_list(d->path, all, &names, &n, &st), 0);
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "alice");
    assert_string_equal(names[1], "bob");
    assert_string_equal(names[2], "carol");
    mk_token_dir_list_free(names, n);
}

/* Writable by group: -EPERM with the stat for the message; by others too. */
static void test_untrusted_directory(void **state)
{
    struct tu_tmpdir *d = *state;
    char **names = (char **)1;
    size_t n = 99;
    struct stat st;

    assert_int_equal(fchmod(d->fd, 0770), 0);
    assert_int_equal(mk_token_dir_list(d->path, MK_TOKEN_DIR_TRUSTED, &names, &n, &st), -EPERM);
    assert_null(names);
    assert_int_equal(n, 0);
    assert_int_equal(st.st_mode & 07777, 0770);
    assert_int_equal(fchmod(d->fd, 0702), 0);
    assert_int_equal(mk_token_dir_list(d->path, MK_TOKEN_DIR_TRUSTED, &names, &n, &st), -EPERM);
    /* Without the flag the same directory is listed. */
    assert_int_equal(mk_token_dir_list(d->path, 0, &names, &n, NULL), 0);
    assert_int_equal(n, 2);
    mk_token_dir_list_free(names, n);
    assert_int_equal(fchmod(d->fd, 0700), 0);
}

/* A link at the directory: refused with NOFOLLOW, followed without. */
static void test_link_to_directory(void **state)
{
    struct tu_tmpdir *d = *state;
    char link[PATH_MAX + 8], **names;
    size_t n;

    snprintf(link, sizeof(link), "%s/link", d->path);
    assert_int_equal(symlinkat(d->path, d->fd, "link"), 0);
    /* O_DIRECTORY | O_NOFOLLOW: Linux says ENOTDIR for a link (ELOOP on some
     * kernels); either way nothing behind it is listed. */
    int r = mk_token_dir_list(link, MK_TOKEN_DIR_NOFOLLOW, &names, &n, NULL);
    assert_true(r == -ENOTDIR || r == -ELOOP);
    assert_null(names);
    assert_int_equal(mk_token_dir_list(link, 0, &names, &n, NULL), 0);
    assert_int_equal(n, 2);
    mk_token_dir_list_free(names, n);
}

static void test_missing(void **state)
{
    struct tu_tmpdir *d = *state;
    char path[PATH_MAX + 8], **names = (char **)1;
    size_t n = 99;

    snprintf(path, sizeof(path), "%s/none", d->path);
    assert_int_equal(mk_token_dir_list(path, MK_TOKEN_DIR_NOFOLLOW, &names, &n, NULL), -ENOENT);
    assert_null(names);
    assert_int_equal(n, 0);
    snprintf(path, sizeof(path), "%s/alice", d->path);
    assert_int_equal(mk_token_dir_list(path, 0, &names, &n, NULL), -ENOTDIR);
}

/* An empty directory: no names, NULL. */
static void test_empty(void **state)
{
    struct tu_tmpdir *d = *state;
    char path[PATH_MAX + 8], **names = (char **)1;
    size_t n = 99;

    snprintf(path, sizeof(path), "%s/subdir", d->path);
    assert_int_equal(mk_token_dir_list(path, MK_TOKEN_DIR_SORTED, &names, &n, NULL), 0);
    assert_null(names);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doctor_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_to_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
