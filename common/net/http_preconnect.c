/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/http_preconnect.c: TCP connections opened ahead of the
 * requests that will need them (mk_http_preconnect, net/http.h).
 *
 * When a client was asked to, the first connection libcurl opens (the
 * list's) makes the pool: up to that many non-blocking TCP connections to
 * the very address libcurl just chose, made like libcurl's own (the
 * open-socket callback, http_easy.c: SOCK_CLOEXEC; libcurl then sets its
 * options, TCP_NODELAY and the rest, on whichever socket it is handed). A
 * later connection to the same address takes one from the pool instead of a
 * new socket, so its TCP handshake was done while the list was in flight:
 * an accept's connection costs TLS and the request, not TCP too.
 *
 * libcurl 7.88 cannot take a connected socket: CURL_SOCKOPT_ALREADY_CONNECTED
 * makes it call connect() anyway and fail with EISCONN (curl issue 10626,
 * fixed in 8.0). So the socket interposer (interpose/socket_cloexec.c)
 * defines connect() too, and lets the one connect() libcurl makes on a
 * socket of the pool succeed without a system call (mk_http_connect_skip);
 * libcurl then waits for the socket to be writable and reads SO_ERROR, as
 * after any non-blocking connect, so a connection still being made, or one
 * that failed, is handled (and retried) as libcurl's own. A program without
 * the interposer never pre-connects.
 *
 * Never with a proxy (the pool would go to the API, not the proxy, or
 * would have to know the proxy's choice), never through the test seam, and
 * never once the server is known to multiplex: over h2 every request shares
 * the one connection, and the pool is closed when the first answer says so.
 * The pool's sockets a run did not use are closed when the run that took
 * from it ends, and all of them when the client is freed.
 */
#include "net/http_easy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

/* Defined by the socket interposer, when the program links it. */
#pragma weak mk_http_connect_interposed

/* The socket of the pool libcurl is about to connect() on this thread. */
static __thread int http_connect_skip_fd = -1;

bool mk_http_connect_skip(int fd)
{
    if (fd < 0 || fd != http_connect_skip_fd)
        return false;
    http_connect_skip_fd = -1;
    return true;
}

void mk_http_preconnect(mk_http *http, size_t count)
{
    http->pre_want = count < HTTP_PRECONNECT_MAX ? count : HTTP_PRECONNECT_MAX;
}

void mk_http_preconnect_counts(const mk_http *http, size_t *opened, size_t *used)
{
    *opened = http->pre_opened;
    *used = http->pre_used;
}

void http_pre_close_all(mk_http *http)
{
    while (http->pre_count > 0)
        close(http->pre_fd[--http->pre_count]);
}

/* Whether this client may pre-connect now (see the top of this file). */
static bool http_pre_allowed(const mk_http *http)
{
    if (!&mk_http_connect_interposed || http->transport || http->multiplexed)
        return false;
    if (http->allow_env_proxy || (http->cfg->proxy && *http->cfg->proxy))
        return false;
    return true;
}

/* Whether a and b name the same address and port (the rest of a
 * sockaddr, sin_zero or an IPv6 scope, may differ with where it came from). */
static bool http_pre_same(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (b->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (b->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port
               && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

/* Opens the pool to ip:port, what mk_http_preconnect asked, once. */
static void http_pre_fill(mk_http *http, const char *ip, long port)
{
    size_t want = http->pre_want;
    struct sockaddr_storage *ss = &http->pre_addr;

    http->pre_want = 0;
    memset(ss, 0, sizeof(*ss));
    if (!ip || port <= 0 || port > 65535 || !http_pre_allowed(http))
        return;
    if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        ss->ss_family = AF_INET;
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
        http->pre_addrlen = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        ss->ss_family = AF_INET6;
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
        http->pre_addrlen = sizeof(struct sockaddr_in6);
    } else {
        return;
    }
    while (http->pre_count < want) {
        int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return;
        if (connect(fd, (const struct sockaddr *)ss, http->pre_addrlen) != 0
            && errno != EINPROGRESS) {
            close(fd);
            return;
        }
        http->pre_fd[http->pre_count++] = fd;
        http->pre_opened++;
    }
}

/* A socket of the pool for a connection to a, or -1. One the server has
 * closed or written to (POLLIN), or that failed, is closed and passed over;
 * one still connecting is fine (libcurl waits for it). */
static int http_pre_take(mk_http *http, const struct curl_sockaddr *a)
{
    if (http->pre_count == 0 || a->socktype != SOCK_STREAM
        || !http_pre_same(&http->pre_addr, &a->addr))
        return -1;
    while (http->pre_count > 0) {
        int fd = http->pre_fd[--http->pre_count];
        struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
        if (poll(&p, 1, 0) >= 0 && !(p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))) {
            http->pre_used++;
            http->pre_run_used = true;
            http->pre_taken = fd;
            return fd;
        }
        close(fd);
    }
    return -1;
}

/* libcurl's open-socket callback: a socket of the pool for a connection
 * to its address, else a new one with SOCK_CLOEXEC. */
static curl_socket_t http_pre_open_socket(void *clientp, curlsocktype purpose,
                                   struct curl_sockaddr *address)
{
    mk_http *http = clientp;
    int fd = -1;

    if (purpose == CURLSOCKTYPE_IPCXN && http_pre_allowed(http))
        fd = http_pre_take(http, address);
    if (fd >= 0)
        return fd;
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* libcurl's debug callback, on the first request only: its TLS layer's
 * "ALPN: server accepted h2" says the connection multiplexes, and nothing
 * is pre-connected. Every other line is dropped (nothing is printed). */
static int http_pre_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *clientp)
{
    static const char h2[] = "ALPN: server accepted h2";
    mk_http *http = clientp;

    (void)easy;
    if (type == CURLINFO_TEXT && size >= sizeof(h2) - 1 && memcmp(data, h2, sizeof(h2) - 1) == 0)
        http->pre_want = 0;
    return 0;
}

/* libcurl's pre-request callback: the first request's connection is made
 * (TCP and TLS, ALPN known) and the request about to go: the pool opens
 * now, to the address that connection reached, and its handshakes run
 * while the request is in flight. */
static int http_pre_prereq(void *clientp, char *primary_ip, char *local_ip,
                           int primary_port, int local_port)
{
    mk_http *http = clientp;

    (void)local_ip;
    (void)local_port;
    if (http->pre_want > 0)
        http_pre_fill(http, primary_ip, primary_port);
    return CURL_PREREQFUNC_OK;
}


/* libcurl's sockopt callback, just before its connect(): a socket of the
 * pool is marked for mk_http_connect_skip. */
static int http_pre_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    mk_http *http = clientp;

    (void)purpose;
    if (fd >= 0 && fd == http->pre_taken) {
        http->pre_taken = -1;
        http_connect_skip_fd = fd;
    }
    return CURL_SOCKOPT_OK;
}

/* libcurl's close-socket callback: no mark outlives its socket. */
static int http_pre_close_socket(void *clientp, curl_socket_t fd)
{
    (void)clientp;
    if (fd == http_connect_skip_fd)
        http_connect_skip_fd = -1;
    return close(fd);
}

CURLcode http_pre_setup(mk_http *http, CURL *easy)
{
    bool want = http->pre_want > 0 && http_pre_allowed(http);
    CURLcode c = curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, http_pre_open_socket);
#define HTTP_PRE_SET(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(easy, opt, val); } while (0)
    HTTP_PRE_SET(CURLOPT_OPENSOCKETDATA, http);
    HTTP_PRE_SET(CURLOPT_SOCKOPTFUNCTION, http_pre_sockopt);
    HTTP_PRE_SET(CURLOPT_SOCKOPTDATA, http);
    HTTP_PRE_SET(CURLOPT_CLOSESOCKETFUNCTION, http_pre_close_socket);
    HTTP_PRE_SET(CURLOPT_CLOSESOCKETDATA, http);
    HTTP_PRE_SET(CURLOPT_DEBUGFUNCTION, want ? http_pre_debug : NULL);
    HTTP_PRE_SET(CURLOPT_DEBUGDATA, want ? http : NULL);
    HTTP_PRE_SET(CURLOPT_VERBOSE, want ? 1L : 0L);
    HTTP_PRE_SET(CURLOPT_PREREQFUNCTION, want ? http_pre_prereq : NULL);
    HTTP_PRE_SET(CURLOPT_PREREQDATA, want ? http : NULL);
#undef HTTP_PRE_SET
    return c;
}
