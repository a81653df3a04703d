/* common/http.h: the only HTTP speaker of the project, and the one place its
 * policy lives (invariant 6 of the architecture brief):
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
 *   - no process-global libcurl set-up or tear-down, no signals
 *     (CURLOPT_NOSIGNAL), close-on-exec descriptors only;
 *   - no ambient configuration (invariant 2): the proxy is cfg->proxy or
 *     none, whatever the environment says, unless the caller opts in with
 *     mk_http_allow_env_proxy; no .netrc; the Authorization header goes to
 *     the API only, never to a proxy;
 *   - cleanup never waits for a name resolution still running
 *     (CURLOPT_QUICK_EXIT), so a freed client costs no time past the budget.
 *
 * What libcurl 7.88 and its TLS layer read from the environment without an
 * option to stop them (SSLKEYLOGFILE above all, read once when libcurl first
 * starts) is removed by mk_http_scrub_environment, which root contexts call
 * before their first client.
 */
#ifndef MK_HTTP_H
#define MK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mk_error.h"

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
    long retry_after_ms;     /* from Retry-After, -1 when absent */
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
void mk_http_set_budget_ms(mk_http *http, long ms);
/* Milliseconds left of the budget (0 when spent). */
long mk_http_remaining_ms(const mk_http *http);

/* One logical request, retried per the policy inside the remaining budget.
 * MK_OK means an HTTP answer was received (any status: the caller judges it);
 * resp then owns a body to release with mk_http_response_clear. Transport
 * failure or a budget spent gives MK_ERR_UNAVAILABLE; a response over the
 * size cap, MK_ERR_PROTOCOL. */
mk_status mk_http_do(mk_http *http, const struct mk_http_request *req,
                     struct mk_http_response *resp, mk_error *err);

/* n requests at once (curl multi, connections shared and reused), each with
 * the same retry policy, all inside the one budget. statuses[i] and errs[i]
 * (errs may be NULL) say how request i ended; resps[i] as for mk_http_do.
 * Returns MK_OK when every request got an HTTP answer, else the first failure. */
mk_status mk_http_do_many(mk_http *http, const struct mk_http_request *reqs,
                          size_t n, struct mk_http_response *resps,
                          mk_status *statuses, mk_error *errs);

void mk_http_response_clear(struct mk_http_response *resp);

/* Test seam: route requests to fn instead of the network. The retry and
 * budget policy still applies around it. fn returns MK_OK with a response,
 * or MK_ERR_UNAVAILABLE for a simulated transport error; then err->code says
 * which: "connect" (the request never reached the server, so even a POST may
 * be retried), "timeout" (no answer in time), anything else (it may have been
 * received). The real transport sets the same codes. */
typedef mk_status (*mk_http_transport_fn)(void *ctx, const struct mk_http_request *req,
                                          struct mk_http_response *resp, mk_error *err);
void mk_http_set_transport(mk_http *http, mk_http_transport_fn fn, void *ctx);
/* Test seam: replace sleeping (ms to wait) so unit tests run instantly. */
typedef void (*mk_http_sleep_fn)(void *ctx, long ms);
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
long mk_http_backoff_ms(const struct mk_config *cfg, unsigned attempt,
                        long retry_after_ms, uint32_t jitter, long remaining_ms);

/* Retry-After as delta-seconds or an HTTP-date (relative to now), in ms;
 * -1 when absent or invalid. */
long mk_http_parse_retry_after(const char *value, long now_epoch_s);

#endif
