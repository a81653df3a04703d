/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/http.h: the only HTTP speaker of the project, and the one place its
 * policy lives (docs/ARCHITECTURE.md, invariant 6):
 *   - TLS verification always on (ca_file from the configuration, else the
 *     system store); https only, http only to a loopback address;
 *   - connect timeout, and one total budget for a whole operation, retries
 *     and back-off included;
 *   - retries with exponential back-off and jitter on transport errors, 429,
 *     502, 503, 504, honouring Retry-After; no retry of any other status;
 *     POST is retried only when the request cannot have reached the server
 *     (connect failure) or the server said so (429, 503);
 *   - a cap on the response size; redirects are never followed;
 *   - connections are reused across requests of one mk_http;
 *   - one request path: mk_http_do is mk_http_do_many with one request, and
 *     the test seams (mk_http_set_transport, mk_http_set_sleep) drive that
 *     same path;
 *   - no process-global libcurl set-up or tear-down, no signals
 *     (CURLOPT_NOSIGNAL);
 *   - no ambient configuration (invariant 2): the proxy is cfg->proxy or
 *     none, whatever the environment says, unless the caller opts in with
 *     mk_http_allow_env_proxy; no .netrc; the Authorization header goes to
 *     the API only, never to a proxy;
 *   - cleanup never waits for a name resolution still running
 *     (CURLOPT_QUICK_EXIT), so a freed client costs no time past the budget.
 *
 * Descriptors and exec. In a program that links the client (the login helper,
 * mkio-orgs, the tests), every socket the client or libcurl makes while a
 * thread is in a call of this client is close-on-exec from the moment it is
 * made: connections, libcurl 7.88's multi wake-up socketpair, its threaded
 * resolver's socketpair (whose write end outlives a freed client while the
 * resolver thread still waits for DNS) and its IPv6 probe socket; glibc's
 * resolver sockets are close-on-exec by glibc. So another thread of the
 * program may fork and exec at any time, during a name resolution too, and
 * the child gets no socket, pipe or eventfd of ours. The socket interposer
 * (common/net/interpose/socket_cloexec.c, which defines socket() and
 * socketpair() for the program, and connect() for mk_http_preconnect) does it; it is not in libmkio-net.a, and
 * the programs that want it link it (mkio-login-refresh, mkio-orgs, the
 * tests of descriptors). A program or shared library without it gets only
 * the connections' SOCK_CLOEXEC.
 * Left as they are, and what a child exec'd at that instant may hold:
 * OpenSSL opens its configuration (once per process) and ca_file (each
 * new TLS context) read-only without O_CLOEXEC and closes them right after
 * reading; libcurl keeps SSLKEYLOGFILE open for the life of the process
 * when that variable is set (root contexts scrub it, below).
 *
 * Milliseconds are int64_t throughout (a 32-bit long holds 24 days, and
 * a Retry-After may say three years).
 *
 * What libcurl 7.88 and its TLS layer read from the environment without an
 * option to stop them (SSLKEYLOGFILE above all, read once when libcurl first
 * starts) is removed by mk_http_scrub_environment, which root contexts call
 * before their first client.
 *
 * Error convention (docs/ARCHITECTURE.md, "Error conventions"), as in all
 * of net/: a function returning mk_status returns MK_OK or the failure with
 * err set by mk_error_set (status and message); mk_http_do_many reports
 * each request in statuses[] and errs[].
 */
#ifndef MK_HTTP_H
#define MK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/config.h"
#include "base/mk_error.h"

struct mk_http_request {
    const char *method;  /* "GET", "POST", "PATCH", "DELETE" */
    const char *path;    /* "/api/v1/..." with query string, already escaped */
    const char *body;    /* JSON text, or NULL for none */
};

struct mk_http_response {
    long status;             /* final HTTP status */
    char *body;              /* NUL-terminated, may be "" */
    size_t body_len;
    char content_type[128];  /* "" when the answer had none */
    int64_t retry_after_ms;  /* from Retry-After, -1 when absent */
};

typedef struct mk_http mk_http;

/* A client for cfg->base_url sending `Authorization: Bearer <token>`. The
 * token is copied; cfg must outlive the client. The budget clock starts here
 * (see mk_http_set_budget_ms). */
mk_status mk_http_new(const struct mk_config *cfg, const char *token,
                      mk_http **out, mk_error *err);
void mk_http_free(mk_http *http);

/* Lets this client take its proxy from the environment as libcurl reads it
 * (http_proxy, https_proxy, all_proxy and no_proxy, upper case too except
 * HTTP_PROXY) when cfg->proxy is empty, and lets no_proxy apply to
 * cfg->proxy when it is set. Off by default: the client then uses cfg->proxy,
 * or no proxy at all, whatever the environment holds. Only for a program run
 * by an unprivileged user for themself (mkio-orgs); never as root, never in
 * PAM, the login helper or sync. */
void mk_http_allow_env_proxy(mk_http *http, bool allow);

/* The configuration the client was made with. */
const struct mk_config *mk_http_config(const mk_http *http);

/* Removes from the process environment what libcurl, OpenSSL or the resolver
 * would read to send a request elsewhere, trust other certificates or write
 * secrets to a file: every variable named *_proxy (any case, no_proxy too),
 * SSLKEYLOGFILE, CURL_CA_BUNDLE, CURL_HOME, CURL_SSL_BACKEND, SSL_CERT_FILE,
 * SSL_CERT_DIR, OPENSSL_CONF, OPENSSL_ENGINES, OPENSSL_MODULES,
 * OPENSSL_ia32cap, RES_OPTIONS, LOCALDOMAIN and HOSTALIASES. For root
 * contexts (sync; the login helper, as defence): call it before any thread
 * starts and before the first mk_http_new of the process, since libcurl
 * reads SSLKEYLOGFILE when it first starts. It changes `environ`, so it is
 * not thread-safe. */
void mk_http_scrub_environment(void);

/* Restarts the budget: every request from now on must end within ms. */
void mk_http_set_budget_ms(mk_http *http, int64_t ms);
/* Milliseconds left of the budget (0 when spent). */
int64_t mk_http_remaining_ms(const mk_http *http);

/* One logical request, retried per the policy inside the remaining budget:
 * mk_http_do_many with n = 1. MK_OK means an HTTP answer was received (any
 * status: the caller judges it); resp then owns a body to release with
 * mk_http_response_clear. Transport failure or a budget spent gives
 * MK_ERR_UNAVAILABLE; a response over the size cap, MK_ERR_PROTOCOL; a
 * request without a method or a path starting with '/', MK_ERR_USAGE. */
mk_status mk_http_do(mk_http *http, const struct mk_http_request *req,
                     struct mk_http_response *resp, mk_error *err);

/* n requests at once on one curl multi handle, connections shared and
 * reused: up to 24 in flight over HTTP/1.1 (a connection each), up to 100
 * once the server is known to multiplex (h2 streams on one connection;
 * net/http_easy.h says how), each a series of attempts under the same
 * retry policy, all inside the one budget: a request that waits for its
 * retry does not hold up the others, and one that fails does not end them.
 * statuses[i] and errs[i] (errs may be NULL) say how request i ended;
 * resps[i] as for mk_http_do. Returns MK_OK when every request got an HTTP
 * answer, else the first failure in the order of reqs. */
mk_status mk_http_do_many(mk_http *http, const struct mk_http_request *reqs,
                          size_t n, struct mk_http_response *resps,
                          mk_status *statuses, mk_error *errs);

void mk_http_response_clear(struct mk_http_response *resp);

/* One attempt of a request, as it ended, for a trace (mkio-orgs
 * --verbose). Never a header: the token is not in it (invariant 5). */
struct mk_http_trace {
    const char *method;
    const char *path;        /* as sent, with its query string */
    long status;             /* the HTTP status, 0 when no answer came */
    const char *body;        /* the answer's body ("" or NULL without one) */
    const char *failure;     /* why no answer came, else NULL */
    int64_t ms;              /* how long the attempt took */
    unsigned attempt;        /* 1 for the first */
};

/* Calls fn after every attempt of every client of the process (fn NULL:
 * none, the default). Set it before the first client and before any
 * thread starts; fn may be called from several threads at once. */
typedef void (*mk_http_trace_fn)(void *ctx, const struct mk_http_trace *trace);
void mk_http_set_trace(mk_http_trace_fn fn, void *ctx);

/* Whether the calling thread is inside a call of this client (libcurl may
 * be making descriptors): what the socket interposer asks. */
bool mk_http_thread_inside(void);

/* Asks the client to open, when it opens its next connection, up to count
 * more TCP connections to the same address (at most the HTTP/1.1
 * connection cap less that one), for the requests of a later
 * mk_http_do_many to take instead of opening their own: their TCP
 * handshake is then made while the first request is in flight. Nothing is
 * pre-connected through a proxy, through the test seam, once the server
 * is known to multiplex (h2), or in a program without the socket
 * interposer. Sockets not taken are closed when the run that took some
 * ends, or when the client is freed (net/http_preconnect.c says how). */
void mk_http_preconnect(mk_http *http, size_t count);
/* How many sockets this client pre-connected, and how many of them a
 * request took (for tests and diagnostics). */
void mk_http_preconnect_counts(const mk_http *http, size_t *opened, size_t *used);

/* Defined by the socket interposer: its presence tells the client that
 * connect() is the interposer's, which asks mk_http_connect_skip. */
extern const bool mk_http_connect_interposed;
/* Whether connect(fd) is libcurl's on a socket of the pre-connected pool,
 * already connecting: the interposer's connect() then returns 0 without a
 * system call (once). */
bool mk_http_connect_skip(int fd);

/* Test seam: route every attempt to fn instead of the network, on the same
 * path (scheduling, retries, budget) as libcurl's transfers: the requests
 * of one call run in rounds, each round giving one attempt to every request
 * that is due, in the order of reqs. fn returns MK_OK with a response,
 * MK_ERR_PROTOCOL for an answer over the size cap, or MK_ERR_UNAVAILABLE
 * for a simulated transport error; then err->code says which: "connect"
 * (the request never reached the server, so even a POST may be retried),
 * "timeout" (no answer in time), anything else (it may have been received).
 * libcurl's failures are classified the same way. */
typedef mk_status (*mk_http_transport_fn)(void *ctx, const struct mk_http_request *req,
                                          struct mk_http_response *resp, mk_error *err);
void mk_http_set_transport(mk_http *http, mk_http_transport_fn fn, void *ctx);
/* Test seam: replace sleeping (ms to wait) so unit tests run instantly. The
 * client's clock then counts ms as passed, so the budget is spent as by a
 * real sleep. With the transport seam set too, the clock moves only by
 * those ms (a simulation: the schedule does not depend on the machine's
 * speed). fn NULL restores real sleeping. */
typedef void (*mk_http_sleep_fn)(void *ctx, int64_t ms);
void mk_http_set_sleep(mk_http *http, mk_http_sleep_fn fn, void *ctx);

/* --- Policy as pure functions, unit tested one by one --- */

/* 429, 502, 503, 504. */
bool mk_http_status_retryable(long status);

/* Delay before retry number `attempt` (1 for the first retry): exponential
 * from 200 ms doubling, capped at 5 s, with jitter (a random 32-bit value)
 * taking it anywhere from half to the full delay; at least retry_after_ms
 * when that is >= 0. Returns -1 when no retry should happen: attempt beyond
 * cfg->retries, or the delay plus a minimal request time would not fit in
 * remaining_ms. */
int64_t mk_http_backoff_ms(const struct mk_config *cfg, unsigned attempt,
                           int64_t retry_after_ms, uint32_t jitter, int64_t remaining_ms);

/* Retry-After as delta-seconds or an HTTP-date (relative to now), in ms,
 * at most three years; -1 when absent or invalid. */
int64_t mk_http_parse_retry_after(const char *value, int64_t now_epoch_s);

#endif
