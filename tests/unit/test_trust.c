/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_trust.c: common/base/trust.h, whether a directory or a
 * file may be believed: a good directory and file (made when asked, 0755
 * and 0600), missing ones, what group or others can write, another owner
 * (as root only), symbolic links, a FIFO (refused without waiting for a
 * writer), the wrong kind of file; each refusal MK_ERR_IO naming the path
 * and the fix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/trust.h"
#include "testutil.h"

static const struct mk_trust_dir names = { "the test directory", "name the directory itself" };

/* Each test's directory (testutil.h), first, and sub in it. */
struct fx {
    struct tu_tmpdir tmp;
    const char *dir;
    char sub[128];
};

static int setup(void **state)
{
    struct fx *f = tu_fixture_new(sizeof(*f));
    assert_non_null(f);
    f->dir = f->tmp.path;
    tu_pathf_ok(f->sub, sizeof(f->sub), "%s/sub", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    tu_fixture_free(*state);
    return 0;
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("\"%s\" does not contain \"%s\"", text, part);
}

/* A directory made here is 0755 whatever the umask; a file 0600; both are
 * believed, and their descriptors are close-on-exec. */
static void test_good_directory_and_file(void **state)
{
    struct fx *f = *state;
    struct stat st;
    mk_error err;
    int dfd, fd;
    mode_t old = umask(077);

    assert_int_equal(mk_trust_open_dir(f->sub, &names, true, &dfd, &err), MK_OK);
    umask(old);
    assert_true(dfd >= 0);
    assert_int_equal(fstat(dfd, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_true(fcntl(dfd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(mk_trust_openat(dfd, "file", "sub/file", O_RDWR | O_CREAT, &fd, &err), MK_OK);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    /* Opened again, now that both exist; a trailing slash changes nothing. */
    close(dfd);
    char slash[160];
    snprintf(slash, sizeof(slash), "%s//", f->sub);
    assert_int_equal(mk_trust_open_dir(slash, &names, false, &dfd, &err), MK_OK);
    assert_true(dfd >= 0);
    assert_int_equal(mk_trust_openat(dfd, "file", "sub/file", O_RDONLY, &fd, &err), MK_OK);
    assert_true(fd >= 0);
    close(fd);
    close(dfd);
}

/* Missing, and not to be made: MK_OK and no descriptor. */
static void test_missing_is_no_descriptor(void **state)
{
    struct fx *f = *state;
    mk_error err;
    int dfd = 7, fd = 7;

    assert_int_equal(mk_trust_open_dir(f->sub, &names, false, &dfd, &err), MK_OK);
    assert_int_equal(dfd, -1);
    assert_int_equal(mk_trust_open_dir(f->dir, &names, false, &dfd, &err), MK_OK);
    assert_int_equal(mk_trust_openat(dfd, "none", "none", O_RDONLY, &fd, &err), MK_OK);
    assert_int_equal(fd, -1);
    close(dfd);
}

/* What group or others can write is refused, with the chmod that fixes it. */
static void test_writable_by_group_or_others(void **state)
{
    struct fx *f = *state;
    char path[160];
    mk_error err;
    int dfd, fd = 7;

    assert_int_equal(mkdir(f->sub, 0755), 0);
    assert_int_equal(chmod(f->sub, 0757), 0);
    assert_int_equal(mk_trust_open_dir(f->sub, &names, false, &dfd, &err), MK_ERR_IO);
    assert_int_equal(dfd, -1);
    assert_contains(err.message, f->sub);
    assert_contains(err.message, "writable by others");
    assert_contains(err.message, "chmod 0755");
    assert_int_equal(chmod(f->sub, 0755), 0);

    assert_int_equal(mk_trust_open_dir(f->sub, &names, false, &dfd, &err), MK_OK);
    snprintf(path, sizeof(path), "%s/file", f->sub);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(mk_trust_openat(dfd, "file", path, O_RDONLY, &fd, &err), MK_ERR_IO);
    assert_int_equal(fd, -1);
    assert_contains(err.message, path);
    assert_contains(err.message, "writable by group");
    assert_contains(err.message, "chmod go-w");
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(mk_trust_openat(dfd, "file", path, O_RDONLY, &fd, &err), MK_ERR_IO);
    assert_contains(err.message, "writable by group and others");
    close(dfd);
}

/* Another owner than root or the effective user (only root can make one). */
static void test_other_owner(void **state)
{
    struct fx *f = *state;
    char path[160];
    mk_error err;
    int dfd, fd = 7;

    if (geteuid() != 0)
        skip();
    assert_int_equal(mk_trust_open_dir(f->dir, &names, false, &dfd, &err), MK_OK);
    snprintf(path, sizeof(path), "%s/file", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(chown(path, 12345, 0), 0);
    assert_int_equal(mk_trust_openat(dfd, "file", path, O_RDONLY, &fd, &err), MK_ERR_IO);
    assert_int_equal(fd, -1);
    assert_contains(err.message, "owned by uid 12345");
    assert_contains(err.message, "chown root:root");
    close(dfd);
}

/* A link is never followed, at the directory or the file. */
static void test_symbolic_links(void **state)
{
    struct fx *f = *state;
    char link[160], target[200];
    mk_error err;
    int dfd, fd = 7;

    assert_int_equal(mkdir(f->sub, 0755), 0);
    snprintf(link, sizeof(link), "%s/link", f->dir);
    assert_int_equal(symlink(f->sub, link), 0);
    assert_int_equal(mk_trust_open_dir(link, &names, false, &dfd, &err), MK_ERR_IO);
    assert_int_equal(dfd, -1);
    assert_contains(err.message, "the test directory");
    assert_contains(err.message, "is a symbolic link, not a directory");
    assert_contains(err.message, "(name the directory itself)");
    /* A trailing slash would follow it: it is ignored. */
    snprintf(target, sizeof(target), "%s/", link);
    assert_int_equal(mk_trust_open_dir(target, &names, false, &dfd, &err), MK_ERR_IO);

    assert_int_equal(mk_trust_open_dir(f->dir, &names, false, &dfd, &err), MK_OK);
    snprintf(target, sizeof(target), "%s/real", f->dir);
    close(open(target, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(symlinkat("real", dfd, "file"), 0);
    assert_int_equal(mk_trust_openat(dfd, "file", "dir/file", O_RDONLY, &fd, &err), MK_ERR_IO);
    assert_int_equal(fd, -1);
    assert_contains(err.message, "dir/file is a symbolic link, not a regular file");
    assert_contains(err.message, "remove the link");
    close(dfd);
}

/* A FIFO is refused at once, whether anyone writes to it or not. */
static void test_fifo_refused_without_waiting(void **state)
{
    struct fx *f = *state;
    char path[160];
    mk_error err;
    int dfd, fd = 7;

    assert_int_equal(mk_trust_open_dir(f->dir, &names, false, &dfd, &err), MK_OK);
    snprintf(path, sizeof(path), "%s/fifo", f->dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(mk_trust_openat(dfd, "fifo", path, O_RDONLY, &fd, &err), MK_ERR_IO);
    assert_int_equal(fd, -1);
    assert_contains(err.message, "a FIFO");
    assert_contains(err.message, "not a regular file");
    assert_int_equal(mk_trust_openat(dfd, "fifo", path, O_WRONLY, &fd, &err), MK_ERR_IO);
    assert_contains(err.message, "a FIFO");
    close(dfd);
}

/* A file where a directory must be, and a directory where a file must. */
static void test_wrong_kind(void **state)
{
    struct fx *f = *state;
    struct stat st;
    mk_error err;
    int dfd, fd = 7;

    close(open(f->sub, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(mk_trust_open_dir(f->sub, &names, false, &dfd, &err), MK_ERR_IO);
    assert_contains(err.message, "is a regular file, not a directory");
    assert_int_equal(mk_trust_open_dir(f->dir, &names, false, &dfd, &err), MK_OK);
    assert_int_equal(mkdirat(dfd, "d", 0755), 0);
    assert_int_equal(mk_trust_openat(dfd, "d", "d", O_RDONLY, &fd, &err), MK_ERR_IO);
    assert_contains(err.message, "d is a directory, not a regular file");
    close(dfd);

    assert_int_equal(lstat("/dev/null", &st), 0);
    assert_string_equal(mk_trust_file_kind(&st), "a device");
    assert_int_equal(mk_trust_check("/dev/null", &st, NULL, &err), MK_ERR_IO);
    assert_int_equal(stat("/", &st), 0);
    assert_string_equal(mk_trust_file_kind(&st), "a directory");
    assert_int_equal(mk_trust_check("/", &st, &names, &err), MK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_directory_and_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_is_no_descriptor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writable_by_group_or_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symbolic_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_refused_without_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_kind, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
