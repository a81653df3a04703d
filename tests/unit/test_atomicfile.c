/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_atomicfile.c: common/base/atomicfile.h alone (lock, temporary
 * file, fsync, rename, directory fsync, replaced-file descriptor, stale
 * temporary files), plus the group-file writer's use of the replaced-file
 * descriptor (mk_groupfile_publish_at). Runs as root or not: every fault is
 * one root cannot bypass (a directory at the target name, a file-size
 * limit, a name too long for a temporary file). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/atomicfile.h"
#include "groupfile/writer.h"
#include "groupfile/reader.h"
#include "testutil.h"

/* The directory's entries other than . and .., sorted, joined by spaces. */
static void list_dir(int dirfd, char *out, size_t size)
{
    int fd = dup(dirfd);
    DIR *d = fdopendir(fd);
    char *names[64];
    size_t n = 0, used = 0;
    struct dirent *e;

    assert_non_null(d);
    rewinddir(d);
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        assert_true(n < 64);
        names[n] = strdup(e->d_name);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + used, size - used, "%s%s", i ? " " : "", names[i]);
        assert_true(w >= 0 && (size_t)w < size - used);
        used += (size_t)w;
        free(names[i]);
    }
}

/* Creates the file with the requested mode, whatever the umask, with the
 * bytes given, and leaves nothing else in the directory. */
static void test_replace_creates_with_mode(void **state)
{
    struct tu_tmpdir *f = *state;
    char buf[256];
    struct stat st;
    mode_t old_umask = umask(077);
    int replaced = 42;

    assert_int_equal(mk_atomicfile_replace(f->fd, "data", 0644, "hello\n", 6, &replaced), 0);
    assert_int_equal(replaced, -1);   /* nothing was replaced */
    assert_int_equal(fstatat(f->fd, "data", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);
    tu_read_file_buf_ok(f->fd, "data", buf, sizeof(buf));
    assert_string_equal(buf, "hello\n");

    assert_int_equal(mk_atomicfile_replace(f->fd, "secret", 0600, "s", 1, NULL), 0);
    assert_int_equal(fstatat(f->fd, "secret", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* Empty data, NULL pointer: an empty file. */
    assert_int_equal(mk_atomicfile_replace(f->fd, "empty", 0640, NULL, 0, NULL), 0);
    assert_int_equal(fstatat(f->fd, "empty", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    umask(old_umask);

    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, "data empty secret");
}

/* Over an existing file: the new bytes and mode, a new inode, no temporary
 * file left. */
static void test_replace_over_existing(void **state)
{
    struct tu_tmpdir *f = *state;
    char buf[256];
    struct stat before, after;

    tu_write_text_ok(f->fd, "data", "old content\n", 0600);
    assert_int_equal(fstatat(f->fd, "data", &before, 0), 0);
    assert_int_equal(mk_atomicfile_replace(f->fd, "data", 0644, "new\n", 4, NULL), 0);
    assert_int_equal(fstatat(f->fd, "data", &after, 0), 0);
    assert_true(before.st_ino != after.st_ino);
    assert_int_equal(after.st_mode & 07777, 0644);
    tu_read_file_buf_ok(f->fd, "data", buf, sizeof(buf));
    assert_string_equal(buf, "new\n");
    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, "data");
}

/* Without fsync (advisory files): still a replacement through a temporary
 * file and a rename. A reader that had the old file open keeps its bytes,
 * one that opens the name after sees the new ones whole, no temporary file
 * is left; a failure leaves the old file and no temporary file either. */
static void test_replace_without_fsync_is_still_atomic(void **state)
{
    struct tu_tmpdir *f = *state;
    char buf[256];
    struct stat before, after;
    int replaced = -1;

    tu_write_text_ok(f->fd, "record", "old record\n", 0600);
    assert_int_equal(fstatat(f->fd, "record", &before, 0), 0);
    int reader = openat(f->fd, "record", O_RDONLY);
    assert_true(reader >= 0);
    assert_int_equal(mk_atomicfile_replace_flags(f->fd, "record", 0644, "new record\n", 11,
                                                 &replaced, MK_ATOMICFILE_NO_FSYNC), 0);
    assert_int_equal(fstatat(f->fd, "record", &after, 0), 0);
    assert_true(before.st_ino != after.st_ino);
    assert_int_equal(after.st_mode & 07777, 0644);
    tu_read_file_buf_ok(f->fd, "record", buf, sizeof(buf));
    assert_string_equal(buf, "new record\n");
    ssize_t got = pread(reader, buf, sizeof(buf) - 1, 0);
    assert_int_equal(got, 11);
    buf[got] = '\0';
    assert_string_equal(buf, "old record\n");
    close(reader);
    /* The replaced descriptor is handed back as without the flag. */
    assert_true(replaced >= 0);
    struct stat old_st;
    assert_int_equal(fstat(replaced, &old_st), 0);
    assert_true(old_st.st_ino == before.st_ino);
    close(replaced);
    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, "record");

    /* A directory at the name: refused, nothing left behind. */
    assert_int_equal(mkdirat(f->fd, "taken", 0755), 0);
    assert_true(mk_atomicfile_replace_flags(f->fd, "taken", 0644, "x", 1, NULL,
                                            MK_ATOMICFILE_NO_FSYNC) < 0);
    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, "record taken");
    assert_int_equal(mk_atomicfile_replace_flags(f->fd, "a/b", 0644, "x", 1, NULL,
                                                 MK_ATOMICFILE_NO_FSYNC), -EINVAL);
}

/* The descriptor handed back is the replaced file: its old inode, unlinked,
 * still holding the old bytes, and writable (the group-file writer sets a
 * flag in it). */
static void test_replaced_descriptor_is_old_inode(void **state)
{
    struct tu_tmpdir *f = *state;
    struct stat old_st, fd_st, new_st;
    char buf[64];
    int replaced = -1;

    tu_write_text_ok(f->fd, "data", "OLD!", 0644);
    assert_int_equal(fstatat(f->fd, "data", &old_st, 0), 0);
    assert_int_equal(mk_atomicfile_replace(f->fd, "data", 0644, "NEW!", 4, &replaced), 0);
    assert_true(replaced >= 0);
    assert_int_equal(fstat(replaced, &fd_st), 0);
    assert_int_equal(fd_st.st_ino, old_st.st_ino);
    assert_int_equal(fd_st.st_dev, old_st.st_dev);
    assert_int_equal(fd_st.st_nlink, 0);
    assert_int_equal(pread(replaced, buf, 4, 0), 4);
    assert_memory_equal(buf, "OLD!", 4);
    assert_int_equal(pwrite(replaced, "x", 1, 0), 1);
    assert_true((fcntl(replaced, F_GETFD) & FD_CLOEXEC) != 0);
    close(replaced);

    assert_int_equal(fstatat(f->fd, "data", &new_st, 0), 0);
    assert_true(new_st.st_ino != old_st.st_ino);
    tu_read_file_buf_ok(f->fd, "data", buf, sizeof(buf));
    assert_string_equal(buf, "NEW!");
}

/* A directory at the target name makes the rename fail: the directory and
 * what it holds are untouched, the error is returned, no temporary file is
 * left, and there is no replaced descriptor. */
static void test_replace_fails_on_directory(void **state)
{
    struct tu_tmpdir *f = *state;
    char buf[256];
    struct stat st;
    int replaced = 42, sub, r;

    assert_int_equal(mkdirat(f->fd, "data", 0755), 0);
    sub = openat(f->fd, "data", O_RDONLY | O_DIRECTORY);
    assert_true(sub >= 0);
    tu_write_text_ok(sub, "inside", "keep", 0644);

    r = mk_atomicfile_replace(f->fd, "data", 0644, "new", 3, &replaced);
    assert_true(r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST);
    assert_int_equal(replaced, -1);
    assert_int_equal(fstatat(f->fd, "data", &st, 0), 0);
    assert_true(S_ISDIR(st.st_mode));
    tu_read_file_buf_ok(sub, "inside", buf, sizeof(buf));
    assert_string_equal(buf, "keep");
    close(sub);
    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, "data");
}

/* In a child under a 1 KiB file-size limit: replacing "data" with 8 KiB
 * fails with -EFBIG and reports no replaced descriptor. Exits 0 if so. */
static int replace_over_fsize_limit(void *arg)
{
    struct tu_tmpdir *f = arg;
    static char big[8192];
    struct rlimit rl = { 1024, RLIM_INFINITY };
    int replaced = 42, r;

    memset(big, 'n', sizeof(big));
    signal(SIGXFSZ, SIG_IGN);
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 10;
    rl.rlim_cur = 1024;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 11;
    r = mk_atomicfile_replace(f->fd, "data", 0644, big, sizeof(big), &replaced);
    if (r != -EFBIG)
        return 12;
    if (replaced != -1)
        return 13;
    return 0;
}

/* A write that fails half-way (the file-size limit, which binds root too)
 * leaves the old file as it was and no temporary file. Run in a child so
 * that the limit does not outlive the test. */
static void test_replace_failed_write_keeps_old(void **state)
{
    struct tu_tmpdir *f = *state;
    char buf[256];
    struct stat before, after;

    tu_write_text_ok(f->fd, "data", "the old, good file\n", 0644);
    assert_int_equal(fstatat(f->fd, "data", &before, 0), 0);
    tu_fork_expect_exit(replace_over_fsize_limit, f, 0);

    assert_int_equal(fstatat(f->fd, "data", &after, 0), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    tu_read_file_buf_ok(f->fd, "data", buf, sizeof(buf));
    assert_string_equal(buf, "the old, good file\n");
    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, "data");
}

/* A name that leaves no room for .tmp.XXXXXX within NAME_MAX fails before
 * anything is created; bad arguments are refused. The old file stays. */
static void test_replace_refuses_bad_names(void **state)
{
    struct tu_tmpdir *f = *state;
    char name[251], buf[512];

    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    tu_write_text_ok(f->fd, name, "old", 0644);
    assert_int_equal(mk_atomicfile_replace(f->fd, name, 0644, "new", 3, NULL), -ENAMETOOLONG);
    tu_read_file_buf_ok(f->fd, name, buf, sizeof(buf));
    assert_string_equal(buf, "old");

    assert_int_equal(mk_atomicfile_replace(f->fd, "a/b", 0644, "x", 1, NULL), -EINVAL);
    assert_int_equal(mk_atomicfile_replace(f->fd, "", 0644, "x", 1, NULL), -EINVAL);
    assert_int_equal(mk_atomicfile_replace(f->fd, NULL, 0644, "x", 1, NULL), -EINVAL);
    assert_int_equal(mk_atomicfile_replace(-1, "x", 0644, "x", 1, NULL), -EINVAL);
    assert_int_equal(mk_atomicfile_replace(f->fd, "x", 0644, NULL, 1, NULL), -EINVAL);
    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, name);
}

/* NAME.tmp. followed by exactly six letters or digits, and the store's
 * older .NAME.XXXXXX; nothing else. */
static void test_is_temp_shapes(void **state)
{
    (void)state;
    assert_true(mk_atomicfile_is_temp("groups.db.tmp.abc123", "groups.db"));
    assert_true(mk_atomicfile_is_temp("groups.db.tmp.ZZZZZZ", "groups.db"));
    assert_true(mk_atomicfile_is_temp("groups.db.tmp.000000", "groups.db"));
    assert_true(mk_atomicfile_is_temp(".store.json.Ab12cD", "store.json"));

    assert_false(mk_atomicfile_is_temp("groups.db", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.tmp.", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.tmp.abc12", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.tmp.abc1234", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.tmp.abc-12", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.tmp.abc12.", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.tmp.abc1\xc3\xa9", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.TMP.abc123", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.bak.abc123", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.dbx.tmp.abc123", "groups.db"));
    assert_false(mk_atomicfile_is_temp("xgroups.db.tmp.abc123", "groups.db"));
    assert_false(mk_atomicfile_is_temp("store.json.tmp.abc123", "groups.db"));
    assert_false(mk_atomicfile_is_temp("groups.db.tmp.abc123", "groups"));
    assert_false(mk_atomicfile_is_temp(".groups.db.abc123", "groups"));
    assert_false(mk_atomicfile_is_temp(".store.json.Ab12c", "store.json"));
    assert_false(mk_atomicfile_is_temp(".store.json", "store.json"));
    assert_false(mk_atomicfile_is_temp("", "store.json"));
}

struct captured {
    int notices, warnings;
};

static void capture(void *ctx, int priority, const char *message)
{
    struct captured *c = ctx;
    (void)message;
    if (priority == MK_LOG_NOTICE)
        c->notices++;
    else
        c->warnings++;
}

/* Removes the temporary files of the names given, every one of them, and
 * nothing else: not the files themselves, not near misses, not another
 * name's temporary files. Each removal is one notice to the sink. */
static void test_remove_stale_only_temps(void **state)
{
    struct tu_tmpdir *f = *state;
    static const char *const keep[] = {
        "groups.db", "store.json", "lock", "groups.db.tmp.abc12", "groups.db.tmp.abc1234",
        "groups.db.bak", "other.tmp.abc123", "groups.db.tmp.ab-123", ".store.json",
    };
    static const char *const stale[] = {
        "groups.db.tmp.abc123", "groups.db.tmp.XYZ789", "store.json.tmp.q1w2e3",
        ".store.json.Ab12cD",
    };
    const char *const names[] = { "groups.db", "store.json" };
    struct captured c = { 0, 0 };
    struct mk_log_sink sink = { capture, &c };
    char buf[512], want[512] = "";

    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        tu_write_text_ok(f->fd, keep[i], "keep", 0644);
    for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
        tu_write_text_ok(f->fd, stale[i], "stale", 0600);

    mk_atomicfile_remove_stale(f->fd, f->path, names, 2, &sink);
    assert_int_equal(c.notices, 4);
    assert_int_equal(c.warnings, 0);
    list_dir(f->fd, buf, sizeof(buf));
    /* keep[], sorted */
    strcpy(want, ".store.json groups.db groups.db.bak groups.db.tmp.ab-123 "
                 "groups.db.tmp.abc12 groups.db.tmp.abc1234 lock other.tmp.abc123 store.json");
    assert_string_equal(buf, want);

    /* A second pass finds nothing; a NULL sink is allowed. */
    mk_atomicfile_remove_stale(f->fd, f->path, names, 2, NULL);
    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

/* While another process holds the lock, taking it waits the timeout and
 * answers -EWOULDBLOCK; once that process is gone it is taken at the first
 * try (a timeout of 0). Two descriptors of one process exclude each other
 * too. The one clock reading is a lower bound (it waited its timeout rather
 * than giving up at once), which no load can break; how fast a lock is
 * taken is no business of make check. */
static void test_lock_times_out_while_held(void **state)
{
    struct tu_tmpdir *f = *state;
    int ready[2], release[2], status, fd, fd2;
    int64_t start;
    char byte;
    pid_t pid;

    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    tu_write_text_ok(f->fd, "lock", "", 0600);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int cfd = openat(f->fd, "lock", O_RDWR | O_CLOEXEC);
        char b = 'r';
        close(ready[0]);
        close(release[1]);
        if (cfd < 0 || mk_atomicfile_lock(cfd, 1000) != 0)
            tu_child_exit(1);
        if (write(ready[1], &b, 1) != 1)
            tu_child_exit(2);
        if (read(release[0], &b, 1) < 0)   /* until the parent says so, or dies */
            tu_child_exit(3);
        tu_child_exit(0);
    }
    close(ready[1]);
    close(release[0]);
    assert_int_equal(read(ready[0], &byte, 1), 1);

    fd = openat(f->fd, "lock", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    start = tu_now_ms();
    assert_int_equal(mk_atomicfile_lock(fd, 200), -EWOULDBLOCK);
    assert_true(tu_now_ms() - start >= 200);

    assert_int_equal(write(release[1], "x", 1), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(mk_atomicfile_lock(fd, 0), 0);

    /* Another open of the same file, in this process, waits as well. */
    fd2 = openat(f->fd, "lock", O_RDWR | O_CLOEXEC);
    assert_true(fd2 >= 0);
    assert_int_equal(mk_atomicfile_lock(fd2, 50), -EWOULDBLOCK);
    close(fd);
    assert_int_equal(mk_atomicfile_lock(fd2, 50), 0);
    close(fd2);
    close(ready[0]);
    close(release[1]);
}

/* A lock that is released while a caller waits is taken before the
 * timeout. The holder keeps it until told, so the lock is known to be held
 * when the wait starts; it lets go 150 ms after being told, while the
 * caller waits. */
static void test_lock_taken_when_released(void **state)
{
    struct tu_tmpdir *f = *state;
    int status, fd, ready[2], release[2];
    char byte;
    pid_t pid;

    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    tu_write_text_ok(f->fd, "lock", "", 0600);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int cfd = openat(f->fd, "lock", O_RDWR | O_CLOEXEC);
        struct timespec hold = { 0, 150L * 1000 * 1000 };
        char b = 'r';
        close(ready[0]);
        close(release[1]);
        if (cfd < 0 || flock(cfd, LOCK_EX) != 0 || write(ready[1], &b, 1) != 1)
            tu_child_exit(1);
        if (read(release[0], &b, 1) < 0)
            tu_child_exit(2);
        nanosleep(&hold, NULL);
        tu_child_exit(0);   /* the lock goes with the process */
    }
    close(ready[1]);
    close(release[0]);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    fd = openat(f->fd, "lock", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(mk_atomicfile_lock(fd, 0), -EWOULDBLOCK);
    assert_int_equal(write(release[1], "x", 1), 1);
    assert_int_equal(mk_atomicfile_lock(fd, 30000), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fd);
    close(ready[0]);
    close(release[1]);
}

/* same: exact bytes, except an ignored range; missing or not a regular file
 * (a FIFO must not block) is "not the same". */
static void test_same(void **state)
{
    struct tu_tmpdir *f = *state;

    assert_int_equal(mk_atomicfile_same(f->fd, "data", "abcdef", 6, 0, 0), 0);
    tu_write_text_ok(f->fd, "data", "abcdef", 0644);
    assert_int_equal(mk_atomicfile_same(f->fd, "data", "abcdef", 6, 0, 0), 1);
    assert_int_equal(mk_atomicfile_same(f->fd, "data", "abcdeF", 6, 0, 0), 0);
    assert_int_equal(mk_atomicfile_same(f->fd, "data", "abcde", 5, 0, 0), 0);
    assert_int_equal(mk_atomicfile_same(f->fd, "data", "abXXef", 6, 2, 2), 1);
    assert_int_equal(mk_atomicfile_same(f->fd, "data", "aXXXef", 6, 2, 2), 0);
    assert_int_equal(mkfifoat(f->fd, "fifo", 0600), 0);
    assert_int_equal(mk_atomicfile_same(f->fd, "fifo", "", 0, 0, 0), 0);
    assert_int_equal(symlinkat("data", f->fd, "link"), 0);
    assert_true(mk_atomicfile_same(f->fd, "link", "abcdef", 6, 0, 0) != 1);
}

/* The group-file writer's use of the replaced descriptor: publishing an
 * encoded image marks the file it replaced as recycled (through a
 * descriptor opened before the rename), leaves the new one unmarked and
 * byte for byte the image, and refuses bytes that are not a group file. */
static void test_groupfile_publish_marks_replaced(void **state)
{
    struct tu_tmpdir *f = *state;
    static const char *const members[] = { "alice", "bob" };
    const struct mk_group_entry groups[] = {
        { "mk-one-11111111", 70001, members, 2 },
        { "mk-two-22222222", 70002, members, 1 },
    };
    unsigned char *img = NULL, head[MKGF_FLAGS_OFFSET + 4], zeros[MKGF_HEADER_SIZE];
    uint32_t flags;
    size_t size = 0;
    char buf[256];
    int old;

    assert_int_equal(mk_groupfile_encode(groups, 2, &img, &size), 0);
    assert_int_equal(mk_groupfile_publish_at(f->fd, "groups.db", img, size), 0);
    assert_int_equal(mk_atomicfile_same(f->fd, "groups.db", img, size, 0, 0), 1);
    old = openat(f->fd, "groups.db", O_RDONLY | O_CLOEXEC);
    assert_true(old >= 0);

    assert_int_equal(mk_groupfile_publish_at(f->fd, "groups.db", img, size), 0);
    assert_int_equal(pread(old, head, sizeof(head), 0), (ssize_t)sizeof(head));
    memcpy(&flags, head + MKGF_FLAGS_OFFSET, 4);
    assert_true((le32toh(flags) & MKGF_FLAG_RECYCLED) != 0);
    close(old);
    assert_int_equal(mk_atomicfile_same(f->fd, "groups.db", img, size, 0, 0), 1);

    memset(zeros, 0, sizeof(zeros));
    assert_int_equal(mk_groupfile_publish_at(f->fd, "groups.db", zeros, sizeof(zeros)),
                     -EINVAL);
    assert_int_equal(mk_groupfile_publish_at(f->fd, "groups.db", img, 8), -EINVAL);
    assert_int_equal(mk_groupfile_publish_at(f->fd, "groups.db", NULL, size), -EINVAL);
    assert_int_equal(mk_atomicfile_same(f->fd, "groups.db", img, size, 0, 0), 1);
    free(img);
    list_dir(f->fd, buf, sizeof(buf));
    assert_string_equal(buf, "groups.db");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replace_creates_with_mode, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_replace_over_existing, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_replace_without_fsync_is_still_atomic, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_replaced_descriptor_is_old_inode, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_replace_fails_on_directory, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_replace_failed_write_keeps_old, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_replace_refuses_bad_names, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test(test_is_temp_shapes),
        cmocka_unit_test_setup_teardown(test_remove_stale_only_temps, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_lock_times_out_while_held, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_lock_taken_when_released, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_same, tu_tmpdir_setup, tu_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_groupfile_publish_marks_replaced, tu_tmpdir_setup, tu_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
