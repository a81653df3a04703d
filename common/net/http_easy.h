/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/http_easy.h: one attempt on a libcurl easy handle
 * (http_easy.c): the options it is given, the data its callbacks collect
 * and the outcome it ends in. Internal to the HTTP client (net/http.h);
 * it also defines the client's state, struct mk_http, which the engine
 * (http.c) and the attempts share.
 */
#ifndef MK_HTTP_EASY_H
#define MK_HTTP_EASY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "net/http.h"

/* Requests in flight at once in one mk_http_do_many (docs/ARCHITECTURE.md,
 * "What fast means"):
 * - over HTTP/1.1 each request in flight holds a connection of its own:
 *   at most HTTP_MAX_IN_FLIGHT of them (and never more connections to the
 *   host, CURLMOPT_MAX_HOST_CONNECTIONS), enough that a login's 20
 *   accepts and its list fit one wave (16 left a second wave: a round trip
 *   more), and a first refresh's connections may be made while the list
 *   is in flight (HTTP_PRECONNECT_MAX, http_preconnect.c);
 * - over a multiplexed connection (h2), at most HTTP_MAX_STREAMS streams
 *   (CURLMOPT_MAX_CONCURRENT_STREAMS; the server's SETTINGS may lower it,
 *   and then libcurl queues the rest or opens another connection within
 *   the same connection cap), so a login's accepts all go at once. It is
 *   also the memory bound of a run: at most that many transfers (an easy
 *   handle and an answer of at most max_response_size each) at a time,
 *   however many requests the run has.
 * A run uses the multiplexed cap once an answer of this client came over
 * HTTP/2 (struct mk_http's multiplexed); until then, the HTTP/1.1 one, and
 * CURLOPT_PIPEWAIT makes the first requests wait for the first connection
 * to say whether it multiplexes rather than open one each. */
#define HTTP_MAX_IN_FLIGHT 24
#define HTTP_MAX_STREAMS 100
/* At most this many connections pre-connected (http_preconnect.c): with
 * the first request's own connection, the HTTP/1.1 connection cap. */
#define HTTP_PRECONNECT_MAX (HTTP_MAX_IN_FLIGHT - 1)

enum http_outcome_kind {
    HTTP_ANSWER,    /* an HTTP status was received */
    HTTP_CONNECT,   /* the request cannot have reached the server */
    HTTP_TRANSIENT, /* sent or partly sent; may have reached the server */
    HTTP_FATAL,     /* retrying cannot help (TLS, bad URL, ...) */
    HTTP_TOO_BIG,   /* the answer passed the size cap */
};

struct http_outcome {
    enum http_outcome_kind kind;
    bool timed_out;
    bool tls_refused;        /* the server's certificate did not verify (fatal) */
    char message[CURL_ERROR_SIZE + 64];
};

struct mk_http {
    const struct mk_config *cfg;
    char *base_url;          /* without trailing '/' */
    char *auth_header;       /* "Authorization: Bearer <token>", wiped on free */
    size_t auth_header_len;
    bool allow_http;
    bool allow_env_proxy;    /* mk_http_allow_env_proxy */
    CURL *easy[HTTP_MAX_STREAMS]; /* made when first needed, reused */
    bool multiplexed;        /* the last answer came over HTTP/2 (see HTTP_MAX_STREAMS) */
    /* The pool of pre-connected sockets (http_preconnect.c). */
    size_t pre_want;         /* how many the next first connection opens */
    int pre_fd[HTTP_PRECONNECT_MAX];
    size_t pre_count;
    struct sockaddr_storage pre_addr; /* where they go */
    unsigned pre_addrlen;
    int pre_taken;           /* handed to libcurl, its connect() not yet made; -1 */
    bool pre_run_used;       /* the current run took from the pool */
    size_t pre_opened, pre_used; /* mk_http_preconnect_counts */
    CURLSH *share;
    CURLM *multi;
    int64_t deadline_ms;     /* on http_now_ms's clock */
    int64_t budget_ms;       /* the budget as set, for messages */
    int64_t skipped_ms;      /* time the sleep seam stood for: see http_sleep */
    int64_t simulated_base_ms; /* with both seams set: the clock's start (see http_now_ms) */
    uint64_t rng;
    mk_http_transport_fn transport;
    void *transport_ctx;
    mk_http_sleep_fn sleep_fn; /* NULL: really sleep */
    void *sleep_ctx;
};

/* What one transfer collects through the curl callbacks. */
struct http_xfer {
    char *body;
    size_t len;
    size_t cap;
    size_t limit;
    bool too_big;
    char content_type[128];
    int64_t retry_after_ms;
    char errbuf[CURL_ERROR_SIZE];
};

/* Empties x (its body freed) for a transfer of at most limit bytes. */
void http_xfer_reset(struct http_xfer *x, size_t limit);
/* Frees a header list, wiping each header (one holds the token). */
void http_wipe_headers(struct curl_slist *headers);
/* Sets every option of one attempt of req on easy, into x; *headers gets
 * the list to free with http_wipe_headers once the transfer is done. The
 * options that matter for safety are set each time, so a reused handle
 * never carries over state. MK_ERR_NOMEM or MK_ERR_USAGE with err set. */
mk_status http_setup_easy(mk_http *http, CURL *easy, const struct mk_http_request *req,
                          struct http_xfer *x, struct curl_slist **headers, mk_error *err);
/* Turns the end of a curl transfer into an outcome, and on an answer moves
 * the collected data into resp. */
void http_finish_easy(mk_http *http, CURL *easy, CURLcode code, struct http_xfer *x,
                      struct mk_http_response *resp, struct http_outcome *o);

/* The pool (http_preconnect.c): sets on easy the callbacks through which
 * libcurl opens (SOCK_CLOEXEC), connects and closes its sockets, taking
 * them from the pool when it can, and, while a pool is wanted, those that
 * open it when the first connection is made; and closes the sockets still
 * in the pool. */
CURLcode http_pre_setup(mk_http *http, CURL *easy);
void http_pre_close_all(mk_http *http);


#endif
