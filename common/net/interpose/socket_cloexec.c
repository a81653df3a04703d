/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/interpose/socket_cloexec.c: socket() and socketpair() for the
 * program it is linked into, so that what libcurl 7.88 creates while a
 * thread is inside the HTTP client (net/http.h, "Descriptors and exec") is
 * close-on-exec from its creation; and connect(), so that libcurl 7.88 can
 * take a socket the client pre-connected (net/http_preconnect.c).
 *
 * Why it exists: libcurl 7.88 creates descriptors without close-on-exec and
 * offers no option for them (curl issue 13618, fixed in 8.8): the multi
 * handle's wake-up socketpair (curl_multi_init), the threaded resolver's
 * socketpair (one per name resolution, its write end kept by a resolver
 * thread that CURLOPT_QUICK_EXIT leaves running past the budget) and the
 * IPv6 probe socket (once per multi handle, before the first resolution).
 * A program whose other thread forks and execs would hand them to the
 * child, and marking them afterwards (fcntl, or scanning /proc/self/fd)
 * leaves a window and may mark another thread's descriptor.
 *
 * libcurl makes all three on the thread that calls it, through socket()
 * and socketpair(). These definitions take the place of libc's in the
 * executable this file is linked into (libcurl's calls bind to the
 * executable's symbols first) and add SOCK_CLOEXEC while the calling
 * thread is inside the client (mk_http_thread_inside); any other call
 * passes through unchanged. glibc's own sockets (DNS, nscd) are made with
 * SOCK_CLOEXEC by glibc, which calls the system directly.
 *
 * It is not part of libmkio-net.a: replacing two libc functions is the
 * choice of a program, not of a library. The Makefile links it into
 * mkio-login-refresh, mkio-orgs and the tests that check descriptors
 * (test_http, tests/tools/http-fork-exec); a program without it still gets
 * close-on-exec connections (the client opens them with SOCK_CLOEXEC), only
 * not libcurl's internal socketpairs.
 */
#include "net/http.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int socket(int domain, int type, int protocol)
{
    if (mk_http_thread_inside())
        type |= SOCK_CLOEXEC;
    return (int)syscall(SYS_socket, domain, type, protocol);
}

/* Says that connect() below is this file's (net/http.h). */
const bool mk_http_connect_interposed = true;

/* libcurl's connect() on a socket the client pre-connected succeeds as if
 * it had just started (net/http_preconnect.c); every other passes through. */
int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (mk_http_thread_inside() && mk_http_connect_skip(fd))
        return 0;
    return (int)syscall(SYS_connect, fd, addr, len);
}

int socketpair(int domain, int type, int protocol, int fds[2])
{
    if (mk_http_thread_inside())
        type |= SOCK_CLOEXEC;
    return (int)syscall(SYS_socketpair, domain, type, protocol, fds);
}
