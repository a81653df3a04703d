/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_nscd.c: common/store/nscd.h against a fake nscd, a thread that
 * listens on a socket in a temporary directory (passed to mk_nscd_invalidate_group)
 * and plays one daemon: glibc's nscd (answers an int32), unscd (reads the
 * request and closes), a wedged one (never answers), one that closes
 * without reading, one that answers half an int32, one whose listen queue
 * is full. Checks the exact bytes a daemon receives and the result, whose
 * errno says why the call returned (the answer, the peer's close, no
 * socket, the deadline); how fast it returned is asserted only under
 * MKIO_TIMED=1 (make bench), never by a plain run. SIGPIPE keeps its
 * default action: a send that raised it would kill this program. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "store/nscd.h"
#include "testutil.h"

/* The socket every call talks to: the fake daemon's, set by setup. */
static const char *socket_path;

enum daemon_mode {
    DAEMON_ANSWER,          /* glibc nscd: read the request, answer `answer` */
    DAEMON_UNSCD,           /* read the request, close without an answer */
    DAEMON_SILENT,          /* read the request, never answer (until the client leaves) */
    DAEMON_CLOSE_UNREAD,    /* accept and close at once, request unread */
    DAEMON_SHORT_ANSWER,    /* read the request, answer two bytes, close */
};

/* The fixture: a temporary directory (testutil.h) holding the socket. */
struct fake_daemon {
    struct tu_tmpdir tmp;
    const char *dir;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd;
    enum daemon_mode mode;
    int32_t answer;
    pthread_t thread;
    /* what the daemon saw */
    int accepted;
    unsigned char got[64];
    size_t got_len;
    int client_cloexec;         /* every other socket of this process is close-on-exec */
    int64_t client_left_ms;     /* when the client closed, for DAEMON_SILENT */
};

/* The request nscd -i group sends: glibc nscd/nscd-client.h, host order. */
static size_t expected_request(unsigned char out[18])
{
    const int32_t header[3] = { 2, 10, 6 };
    memcpy(out, header, sizeof(header));
    memcpy(out + sizeof(header), "group", 6);
    return 18;
}

/* Whether every socket of this process but the daemon's own two is
 * close-on-exec: the one left is the client's, inside the call. */
static int other_sockets_cloexec(int listen_fd, int conn_fd)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int ok = 1;

    if (!d)
        return 0;
    while ((e = readdir(d))) {
        struct stat st;
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == listen_fd || fd == conn_fd || fd == dirfd(d))
            continue;
        if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
            ok = 0;
    }
    closedir(d);
    return ok;
}

/* Reads until the full request (18 bytes), the end of stream or 1 s. */
static void daemon_read_request(struct fake_daemon *fd_, int conn)
{
    int64_t deadline = tu_now_ms() + 1000;

    while (fd_->got_len < 18 && tu_now_ms() < deadline) {
        struct pollfd p = { .fd = conn, .events = POLLIN };
        if (poll(&p, 1, (int)(deadline - tu_now_ms())) <= 0)
            break;
        ssize_t n = read(conn, fd_->got + fd_->got_len, sizeof(fd_->got) - fd_->got_len);
        if (n <= 0)
            break;
        fd_->got_len += (size_t)n;
    }
}

static void *daemon_main(void *arg)
{
    struct fake_daemon *d = arg;
    struct pollfd p = { .fd = d->listen_fd, .events = POLLIN };
    int conn;

    if (poll(&p, 1, 3000) != 1)
        return NULL;
    conn = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return NULL;
    d->accepted = 1;
    d->client_cloexec = other_sockets_cloexec(d->listen_fd, conn);

    switch (d->mode) {
    case DAEMON_CLOSE_UNREAD:
        /* Let the request arrive first, so that the close finds it unread. */
        usleep(20 * 1000);
        break;
    case DAEMON_ANSWER:
        daemon_read_request(d, conn);
        (void)!write(conn, &d->answer, sizeof(d->answer));
        break;
    case DAEMON_UNSCD:
        daemon_read_request(d, conn);
        break;
    case DAEMON_SHORT_ANSWER:
        daemon_read_request(d, conn);
        (void)!write(conn, "\0\0", 2);
        break;
    case DAEMON_SILENT: {
        char c;
        daemon_read_request(d, conn);
        /* Wait for the client to give up (at most 3 s). */
        p = (struct pollfd){ .fd = conn, .events = POLLIN };
        if (poll(&p, 1, 3000) == 1 && read(conn, &c, 1) == 0)
            d->client_left_ms = tu_now_ms();
        break;
    }
    }
    close(conn);
    return NULL;
}

static int bind_socket(const char *path, int backlog)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, backlog) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int setup(void **state)
{
    struct fake_daemon *d = tu_fixture_new(sizeof(*d));

    if (!d)
        return -1;
    d->dir = d->tmp.path;
    d->listen_fd = -1;
    if ((size_t)snprintf(d->path, sizeof(d->path), "%s/socket", d->dir) >= sizeof(d->path)) {
        fprintf(stderr, "test_nscd: %s is too long for a socket path\n", d->dir);
        tu_fixture_free(d);
        return -1;
    }
    socket_path = d->path;
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    struct fake_daemon *d = *state;

    socket_path = NULL;
    if (d->listen_fd >= 0)
        close(d->listen_fd);
    return tu_fixture_free(d);
}

static void daemon_start(struct fake_daemon *d, enum daemon_mode mode, int32_t answer)
{
    d->mode = mode;
    d->answer = answer;
    d->listen_fd = bind_socket(d->path, 8);
    assert_true(d->listen_fd >= 0);
    assert_int_equal(pthread_create(&d->thread, NULL, daemon_main, d), 0);
}

static void daemon_join(struct fake_daemon *d)
{
    pthread_join(d->thread, NULL);
}

static void assert_request_seen(const struct fake_daemon *d)
{
    unsigned char want[18];
    size_t want_len = expected_request(want);

    assert_true(d->accepted);
    assert_int_equal(d->got_len, want_len);
    assert_memory_equal(d->got, want, want_len);
}

/* ---- glibc nscd ---- */

static void test_nscd_answer_zero(void **state)
{
    struct fake_daemon *d = *state;
    int64_t t0;
    int r;

    daemon_start(d, DAEMON_ANSWER, 0);
    t0 = tu_now_ms();
    errno = EBADF;
    r = mk_nscd_invalidate_group(socket_path);
    assert_int_equal(errno, EBADF);          /* the caller's errno is kept */
    tu_at_most_ms("nscd answered", tu_now_ms() - t0, 100, 0);
    daemon_join(d);
    assert_int_equal(r, 0);
    assert_request_seen(d);
    assert_true(d->client_cloexec);
}

static void test_nscd_answer_einval(void **state)
{
    struct fake_daemon *d = *state;

    daemon_start(d, DAEMON_ANSWER, EINVAL);
    assert_int_equal(mk_nscd_invalidate_group(socket_path), -EINVAL);
    daemon_join(d);
    assert_request_seen(d);
}

static void test_nscd_answer_garbage(void **state)
{
    struct fake_daemon *d = *state;

    daemon_start(d, DAEMON_ANSWER, -7);
    assert_int_equal(mk_nscd_invalidate_group(socket_path), -EPROTO);
    daemon_join(d);
    assert_request_seen(d);
}

static void test_nscd_short_answer(void **state)
{
    struct fake_daemon *d = *state;

    daemon_start(d, DAEMON_SHORT_ANSWER, 0);
    assert_int_equal(mk_nscd_invalidate_group(socket_path), -EPROTO);
    daemon_join(d);
    assert_request_seen(d);
}

/* ---- unscd: reads the request, closes without an answer ---- */

static void test_unscd_close_after_request(void **state)
{
    struct fake_daemon *d = *state;

    daemon_start(d, DAEMON_UNSCD, 0);
    assert_int_equal(mk_nscd_invalidate_group(socket_path), 0);
    daemon_join(d);
    assert_request_seen(d);
}

/* ---- no daemon: 0 at once ---- */

/* The call returned RESULT for want of a daemon, without waiting: a wait
 * would have ended in -ETIMEDOUT (the result says why it returned). Under
 * MKIO_TIMED=1 (make bench) it also returned within 50 ms of T0. */
static void assert_at_once(int result, int want, int64_t t0)
{
    assert_int_equal(result, want);
    tu_at_most_ms("no daemon to tell", tu_now_ms() - t0, 50, 0);
}

static void test_no_socket(void **state)
{
    int64_t t0 = tu_now_ms();

    /* dir exists, no socket */
    assert_at_once(mk_nscd_invalidate_group(socket_path), 0, t0);
}

static void test_no_directory(void **state)
{
    struct fake_daemon *d = *state;
    char path[160];
    int64_t t0 = tu_now_ms();

    snprintf(path, sizeof(path), "%s/nscd/socket", d->dir);
    socket_path = path;
    assert_at_once(mk_nscd_invalidate_group(socket_path), 0, t0);
}

/* A socket left by a daemon that died: ECONNREFUSED. */
static void test_stale_socket(void **state)
{
    struct fake_daemon *d = *state;
    int fd = bind_socket(d->path, 8);
    int64_t t0;

    assert_true(fd >= 0);
    close(fd);
    t0 = tu_now_ms();
    assert_at_once(mk_nscd_invalidate_group(socket_path), 0, t0);
}

static void test_regular_file(void **state)
{
    struct fake_daemon *d = *state;
    int fd = open(d->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(mk_nscd_invalidate_group(socket_path), 0);
}

/* ---- a daemon that misbehaves: bounded, a clear error ---- */

static void test_silent_daemon_bounded(void **state)
{
    struct fake_daemon *d = *state;
    int64_t t0, took;
    int r;

    daemon_start(d, DAEMON_SILENT, 0);
    t0 = tu_now_ms();
    r = mk_nscd_invalidate_group(socket_path);
    took = tu_now_ms() - t0;
    daemon_join(d);
    /* It returned because its deadline passed (-ETIMEDOUT), and not
     * before it (a lower bound holds on any machine). */
    assert_int_equal(r, -ETIMEDOUT);
    assert_true(took >= MK_NSCD_TIMEOUT_MS - 10);
    tu_at_most_ms("silent daemon, call cut at its timeout", took, MK_NSCD_TIMEOUT_MS + 150, 0);
    assert_request_seen(d);
    /* The client hung up when it gave up (the daemon saw the end of the
     * stream within its 3 s wait): no descriptor left behind. */
    assert_true(d->client_left_ms != 0);
    assert_true(d->client_left_ms >= t0 + MK_NSCD_TIMEOUT_MS - 10);
    tu_at_most_ms("silent daemon, client gone", d->client_left_ms - t0, MK_NSCD_TIMEOUT_MS + 200, 0);
}

static void test_close_unread(void **state)
{
    struct fake_daemon *d = *state;
    int64_t t0 = tu_now_ms();
    int r;

    daemon_start(d, DAEMON_CLOSE_UNREAD, 0);
    r = mk_nscd_invalidate_group(socket_path);
    daemon_join(d);
    /* It returned because the peer closed, not at its deadline. */
    assert_true(r == -ECONNRESET || r == -EPIPE);
    tu_at_most_ms("daemon closed unread", tu_now_ms() - t0, MK_NSCD_TIMEOUT_MS, 0);
    assert_true(d->accepted);
}

/* A listen queue that is full (nobody accepts): -EAGAIN at once, no wait. */
static void test_listen_queue_full(void **state)
{
    struct fake_daemon *d = *state;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fillers[16];
    int n = 0;
    int64_t t0;

    d->listen_fd = bind_socket(d->path, 0);
    assert_true(d->listen_fd >= 0);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", d->path);
    for (; n < 16; n++) {
        fillers[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(fillers[n] >= 0);
        if (connect(fillers[n], (struct sockaddr *)&addr, sizeof(addr)) != 0) {
            assert_int_equal(errno, EAGAIN);
            close(fillers[n]);
            break;
        }
    }
    assert_true(n < 16);
    t0 = tu_now_ms();
    assert_at_once(mk_nscd_invalidate_group(socket_path), -EAGAIN, t0);
    while (n-- > 0)
        close(fillers[n]);
}

static void test_path_too_long(void **state)
{
    char path[200];
    int64_t t0 = tu_now_ms();

    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    socket_path = path;
    assert_at_once(mk_nscd_invalidate_group(socket_path), -ENAMETOOLONG, t0);
}

/* Calls leave no descriptor open, whatever the outcome. */
static void test_no_descriptor_leak(void **state)
{
    struct fake_daemon *d = *state;
    int before = dup(0), after;

    close(before);
    for (int i = 0; i < 20; i++)
        assert_int_equal(mk_nscd_invalidate_group(socket_path), 0);
    d->listen_fd = bind_socket(d->path, 32);
    assert_true(d->listen_fd >= 0);
    for (int i = 0; i < 3; i++)     /* queued, never accepted */
        assert_int_equal(mk_nscd_invalidate_group(socket_path), -ETIMEDOUT);
    close(d->listen_fd);
    d->listen_fd = -1;
    after = dup(0);
    close(after);
    assert_int_equal(after, before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nscd_answer_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nscd_answer_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nscd_answer_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nscd_short_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unscd_close_after_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regular_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_daemon_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_unread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_descriptor_leak, setup, teardown),
    };

    signal(SIGPIPE, SIG_DFL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
