/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/testutil.c: the helpers the unit tests share (testutil.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "testutil.h"

/* Makes PARENT/NAME.XXXXXX and opens it (tu_tmpdir_make). */
static int tu_tmpdir_make_in(struct tu_tmpdir *d, const char *parent, const char *name)
{
    int n;

    d->fd = -1;
    n = snprintf(d->path, sizeof(d->path), "%s/%s.XXXXXX", parent, name);
    if (n < 0 || (size_t)n >= sizeof(d->path)) {
        d->path[0] = '\0';
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!mkdtemp(d->path)) {
        d->path[0] = '\0';
        return -1;
    }
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0) {
        int e = errno;
        rmdir(d->path);
        d->path[0] = '\0';
        errno = e;
        return -1;
    }
    return 0;
}

int tu_tmpdir_make(struct tu_tmpdir *d, const char *name)
{
    const char *tmp = getenv("TMPDIR");

    return tu_tmpdir_make_in(d, tmp && *tmp ? tmp : "/tmp", name);
}

int tu_tmpdir_make_tmpfs(struct tu_tmpdir *d, const char *name)
{
    if (access("/dev/shm", W_OK) == 0)
        return tu_tmpdir_make_in(d, "/dev/shm", name);
    return tu_tmpdir_make(d, name);
}

void *tu_fixture_new(size_t size)
{
    struct tu_tmpdir *d;

    if (size < sizeof(*d) || !(d = calloc(1, size)))
        return NULL;
    if (tu_tmpdir_make(d, program_invocation_short_name) != 0) {
        free(d);
        return NULL;
    }
    return d;
}

int tu_fixture_free(void *fixture)
{
    int rc;

    if (!fixture)
        return 0;
    rc = tu_tmpdir_remove(fixture);
    free(fixture);
    return rc;
}

int tu_tmpdir_setup(void **state)
{
    *state = tu_fixture_new(sizeof(struct tu_tmpdir));
    return *state ? 0 : -1;
}

int tu_tmpdir_teardown(void **state)
{
    return tu_fixture_free(*state);
}

char *tu_path_ok(const char *dir, const char *name)
{
    char *p = NULL;

    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

void tu_pathf_ok(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        fail_msg("a path of %d bytes does not fit in %zu", n, size);
}

int tu_tmpdir_remove(struct tu_tmpdir *d)
{
    int rc = 0;

    if (d->fd >= 0) {
        if (tu_empty_dir_at(d->fd) != 0)
            rc = -1;
        close(d->fd);
        d->fd = -1;
    }
    if (d->path[0]) {
        if (tu_remove_tree(d->path) != 0)
            rc = -1;
        d->path[0] = '\0';
    }
    return rc;
}

static int tu_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

int tu_remove_tree(const char *path)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, tu_remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int tu_empty_dir_at(int dirfd)
{
    int fd = dup(dirfd), rc = 0;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    rewinddir(d);
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd, e->d_name, 0) == 0)
            continue;
        if (errno != EISDIR) {
            rc = -1;
            continue;
        }
        int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            if (tu_empty_dir_at(sub) != 0)
                rc = -1;
            close(sub);
        }
        if (unlinkat(dirfd, e->d_name, AT_REMOVEDIR) != 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

char *tu_read_file_at(int dirfd, const char *name, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    size_t used = 0, cap = 4096;
    char *buf = NULL;

    if (fd < 0)
        return NULL;
    buf = malloc(cap);
    if (!buf)
        goto fail;
    for (;;) {
        if (cap - used < 2) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger)
                goto fail;
            buf = bigger;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + used, cap - used - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        used += (size_t)got;
    }
    close(fd);
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
fail: {
        int e = errno;
        free(buf);
        close(fd);
        errno = e;
        return NULL;
    }
}

char *tu_read_file(const char *path, size_t *len)
{
    return tu_read_file_at(AT_FDCWD, path, len);
}

char *tu_read_file_ok(int dirfd, const char *name, size_t *len)
{
    char *text = tu_read_file_at(dirfd, name, len);

    if (!text)
        fail_msg("cannot read %s: %s", name, strerror(errno));
    return text;
}

void tu_read_file_buf_ok(int dirfd, const char *name, char *out, size_t size)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    ssize_t got;

    assert_true(fd >= 0);
    got = read(fd, out, size - 1);
    assert_true(got >= 0);
    out[got] = '\0';
    close(fd);
}

int tu_write_file_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    const char *p = data;

    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        p += w;
        len -= (size_t)w;
    }
    if (fchmod(fd, mode) != 0)
        goto fail;
    return close(fd) == 0 ? 0 : -1;
fail: {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
}

int tu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    return tu_write_file_at(AT_FDCWD, path, data, len, mode);
}

void tu_write_file_ok(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
    if (tu_write_file_at(dirfd, name, data, len, mode) != 0)
        fail_msg("cannot write %s: %s", name, strerror(errno));
}

void tu_write_text_ok(int dirfd, const char *name, const char *text, mode_t mode)
{
    tu_write_file_ok(dirfd, name, text, strlen(text), mode);
}

void tu_locale_make_ok(struct tu_tmpdir *d, const char *input, const char *charmap, const char *name)
{
    char cmd[PATH_MAX + 256];

    assert_int_equal(tu_tmpdir_make(d, "locale"), 0);
    snprintf(cmd, sizeof(cmd), "localedef -i '%s' -f '%s' '%s/%s' >/dev/null 2>&1", input, charmap,
             d->path, name);
    if (system(cmd) != 0)
        fail_msg("cannot build the locale %s with localedef (is Debian's locales package installed?)",
                 name);
    assert_int_equal(setenv("LOCPATH", d->path, 1), 0);
    if (!setlocale(LC_ALL, name))
        fail_msg("setlocale(LC_ALL, %s) failed with LOCPATH=%s", name, d->path);
}

void tu_locale_drop_ok(struct tu_tmpdir *d)
{
    setlocale(LC_ALL, "C");
    unsetenv("LOCPATH");
    assert_int_equal(tu_tmpdir_remove(d), 0);
}

int64_t tu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_next_tick(void)
{
    int64_t start = mk_clock_tick(), deadline = tu_now_ms() + 10000;

    while (mk_clock_tick() == start) {
        if (tu_now_ms() > deadline)
            fail_msg("CLOCK_MONOTONIC_COARSE did not move for 10 s");
        usleep(200);
    }
}

void tu_child_exit(int code)
{
    close_range(3, ~0u, 0);
    _exit(code);
}

int tu_fork_run(int (*fn)(void *arg), void *arg)
{
    int status;
    pid_t pid;

    fflush(NULL);   /* nothing buffered is written twice */
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        tu_child_exit(fn(arg));
    while (waitpid(pid, &status, 0) != pid)
        if (errno != EINTR)
            return -1;
    return status;
}

void tu_fork_expect_exit(int (*fn)(void *arg), void *arg, int exit_code)
{
    int status = tu_fork_run(fn, arg);

    assert_true(status != -1);
    if (!WIFEXITED(status))
        fail_msg("child did not exit (wait status 0x%x), expected exit %d", status, exit_code);
    assert_int_equal(WEXITSTATUS(status), exit_code);
}

int tu_wait_ok(pid_t pid)
{
    int status;
    pid_t got;

    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    assert_int_equal(got, pid);
    return status;
}

int tu_wait_or_kill(pid_t pid, int polls, int *status)
{
    for (int n = 0; n < polls; n++) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid)
            return 0;
        if (got < 0 && errno != EINTR)
            fail_msg("waitpid(%d): %s", (int)pid, strerror(errno));
        usleep(1000);
    }
    kill(pid, SIGKILL);
    tu_wait_ok(pid);
    return -1;
}

int tu_timed(void)
{
    const char *v = getenv("MKIO_TIMED");

    return v && strcmp(v, "1") == 0;
}

void tu_fork_expect_signal(int (*fn)(void *arg), void *arg, int sig)
{
    int status = tu_fork_run(fn, arg);

    assert_true(status != -1);
    if (!WIFSIGNALED(status))
        fail_msg("child was not killed (wait status 0x%x), expected signal %d", status, sig);
    assert_int_equal(WTERMSIG(status), sig);
}

void tu_at_most_ms(const char *claim, int64_t value_ms, int64_t limit_ms, int64_t hang_ms)
{
    const char *log = getenv("MKIO_TIMED_LOG");
    int ok = value_ms < limit_ms;
    FILE *f;

    /* The claim is a literal of the test's, never a quote or a backslash. */
    if (log && *log && (f = fopen(log, "ae"))) {
        fprintf(f, "{\"test\": \"%s.%s\", \"claim\": \"%s\", \"value\": %.4f, "
                   "\"kind\": \"at most\", \"limit\": %.4f, \"ok\": %s}\n",
                program_invocation_short_name, claim, claim, (double)value_ms / 1000.0,
                (double)limit_ms / 1000.0, ok ? "true" : "false");
        fclose(f);
    }
    if (tu_timed() && !ok)
        fail_msg("%s: %lld ms, limit %lld ms", claim, (long long)value_ms, (long long)limit_ms);
    if (!tu_timed() && hang_ms > 0 && value_ms >= hang_ms)
        fail_msg("%s: %lld ms, more than the %lld ms only a hang takes", claim, (long long)value_ms,
                 (long long)hang_ms);
}
