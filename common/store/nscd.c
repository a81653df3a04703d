/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/nscd.c: see nscd.h. */
#include "store/nscd.h"
#include "base/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* From glibc's nscd/nscd-client.h (and unscd's copy of it). */
enum {
    NSCD_VERSION = 2,
    NSCD_INVALIDATE = 10,
};

/* Waits until fd is ready for events or the deadline passes: 0 ready,
 * -ETIMEDOUT, or another negative errno. */
static int nscd_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - mk_clock_ms();
        struct pollfd p = { .fd = fd, .events = events };
        int n;

        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;           /* ready, or an error the next call reports */
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* Connects without blocking. An AF_UNIX connect either completes at once or
 * fails (EAGAIN when the listen queue is full); EINPROGRESS, or EINTR (after
 * which the connection goes on by itself), is waited for all the same. */
static int nscd_connect(int fd, const struct sockaddr_un *addr, int64_t deadline_ms)
{
    int r;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    r = nscd_wait(fd, POLLOUT, deadline_ms);
    if (r < 0)
        return r;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        return -errno;
    return soerr ? -soerr : 0;
}

static int nscd_send_all(int fd, const unsigned char *buf, size_t len, int64_t deadline_ms)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = nscd_wait(fd, POLLOUT, deadline_ms);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Reads the int32 answer. An end of stream before its first byte is
 * unscd's "done" (see nscd.h): *answered stays 0. */
static int nscd_recv_answer(int fd, int32_t *answer, int *answered, int64_t deadline_ms)
{
    unsigned char buf[sizeof(int32_t)];
    size_t got = 0;

    *answered = 0;
    while (got < sizeof(buf)) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0)
            return got == 0 ? 0 : -EPROTO;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = nscd_wait(fd, POLLIN, deadline_ms);
        if (r < 0)
            return r;
    }
    memcpy(answer, buf, sizeof(*answer));
    *answered = 1;
    return 0;
}

static int nscd_invalidate(const char *socket_path, const char *database)
{
    const int64_t deadline_ms = mk_clock_ms() + MK_NSCD_TIMEOUT_MS;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    unsigned char request[3 * sizeof(int32_t) + 16];
    const int32_t header[3] = { NSCD_VERSION, NSCD_INVALIDATE, (int32_t)strlen(database) + 1 };
    const size_t request_len = sizeof(header) + (size_t)header[2];
    int32_t answer = 0;
    int answered = 0;
    int fd = -1;
    int r;

    if (strlen(socket_path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    if (request_len > sizeof(request))
        return -EINVAL;
    memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
    memcpy(request, header, sizeof(header));
    memcpy(request + sizeof(header), database, (size_t)header[2]);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    r = nscd_connect(fd, &addr, deadline_ms);
    if (r == -ENOENT || r == -ECONNREFUSED) {
        r = 0;                  /* no daemon: nothing to invalidate */
        goto out;
    }
    if (r < 0)
        goto out;
    /* One piece: unscd drops a client whose request trickles in. */
    r = nscd_send_all(fd, request, request_len, deadline_ms);
    if (r < 0)
        goto out;
    r = nscd_recv_answer(fd, &answer, &answered, deadline_ms);
    if (r < 0 || !answered)
        goto out;
    if (answer == 0)
        r = 0;
    else if (answer > 0 && answer < 4096)
        r = -answer;            /* nscd's own errno, e.g. EINVAL */
    else
        r = -EPROTO;
out:
    close(fd);
    return r;
}

int mk_nscd_invalidate_group(const char *socket_path)
{
    int saved_errno = errno;
    int r = nscd_invalidate(socket_path ? socket_path : MK_NSCD_SOCKET, "group");
    errno = saved_errno;
    return r;
}
