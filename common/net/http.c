/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/http.c: the HTTP client and its whole policy (see http.h).
 *
 * One logical request is a series of attempts. Every attempt is classified
 * into an outcome (an answer, a connect failure, a failure after the request
 * may have reached the server, a fatal failure) and one function,
 * http_retry_delay, decides from the outcome whether and when to try again.
 * One engine, http_run, drives n requests (mk_http_do is n = 1) on the
 * client's multi handle, whose easy handles share connections, DNS and TLS
 * sessions: up to HTTP_MAX_IN_FLIGHT at once over HTTP/1.1 (a connection
 * each), up to HTTP_MAX_STREAMS once the server is known to multiplex (h2,
 * all on one connection: see http_easy.h); or one attempt at a time
 * through the test seam, with the same scheduling, retries and budget.
 *
 * Its other files: http_easy.c (one attempt on a libcurl easy handle),
 * http_policy.c (the retry policy as pure functions). The socket
 * interposer that makes libcurl's own descriptors close-on-exec is
 * interpose/socket_cloexec.c, linked by the programs that want it.
 */
#include "net/http.h"
#include "net/http_easy.h"
#include "net/url.h"
#include "base/text.h"
#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

/* The longest single wait for traffic, so that the loop looks at the clock
 * and the retry schedule at least this often. */
#define HTTP_POLL_MAX_MS INT64_C(1000)

/* The client's clock: CLOCK_MONOTONIC, plus whatever the test seam's sleep
 * stood for, so that a test's instant sleep spends the budget as a real
 * one would. With both seams set (nothing real happens), the clock moves
 * only by those sleeps: a test's schedule is the same however slowly the
 * machine runs it (valgrind). */
static int64_t http_now_ms(const mk_http *http)
{
    if (http->transport && http->sleep_fn)
        return http->simulated_base_ms + http->skipped_ms;
    return mk_clock_ms() + http->skipped_ms;
}

/* Starts the simulated clock where the real one is, when a seam changes. */
static void http_seams_changed(mk_http *http)
{
    http->simulated_base_ms = mk_clock_ms();
}

static uint32_t http_next_jitter(mk_http *http)
{
    /* splitmix64: enough to spread clients apart, seeded per client. */
    uint64_t z = (http->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* Waits ms, or lets the test seam stand for it and moves the clock on. */
static void http_sleep(mk_http *http, int64_t ms)
{
    if (ms <= 0)
        return;
    if (http->sleep_fn) {
        http->sleep_fn(http->sleep_ctx, ms);
        http->skipped_ms += ms;
        return;
    }
    struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* How deep the calling thread is inside this client (libcurl may be
 * making descriptors): what the socket interposer asks. */
static __thread unsigned http_cloexec_depth;

bool mk_http_thread_inside(void)
{
    return http_cloexec_depth > 0;
}

/* ---- client lifetime ---- */

mk_status mk_http_new(const struct mk_config *cfg, const char *token,
                      mk_http **out, mk_error *err)
{
    mk_status rc;
    mk_http *http = NULL;

    *out = NULL;
    if (!cfg || !cfg->base_url) {
        rc = mk_error_set(err, MK_ERR_USAGE, "no base_url configured");
        goto out;
    }
    if (!token || !*token) {
        rc = mk_error_set(err, MK_ERR_USAGE, "no token given");
        goto out;
    }
    if (strpbrk(token, "\r\n")) {
        rc = mk_error_set(err, MK_ERR_USAGE, "the token holds a line break");
        goto out;
    }
    rc = mk_url_check_base(cfg->base_url, err);
    if (rc != MK_OK)
        goto out;

    http = calloc(1, sizeof(*http));
    if (!http) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    http->cfg = cfg;
    http->pre_taken = -1;
    http->base_url = strdup(cfg->base_url);
    if (http->base_url) {
        size_t n = strlen(http->base_url);
        while (n > 0 && http->base_url[n - 1] == '/')
            http->base_url[--n] = '\0';
    }
    /* auth_header = x-mkio-token: the legacy header MK.IO still takes for
     * old tokens (docs/mkio-api.md, second edition); Authorization otherwise. */
    int n = cfg->auth_header && strcmp(cfg->auth_header, "x-mkio-token") == 0
                ? asprintf(&http->auth_header, "x-mkio-token: %s", token)
                : asprintf(&http->auth_header, "Authorization: Bearer %s", token);
    if (n < 0)
        http->auth_header = NULL;
    if (!http->base_url || !http->auth_header) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    http->auth_header_len = strlen(http->auth_header);
    http->allow_http = mk_ascii_case_equal_n(http->base_url, "http://", 7);
    if (getrandom(&http->rng, sizeof(http->rng), GRND_NONBLOCK) != (ssize_t)sizeof(http->rng))
        http->rng = (uint64_t)mk_clock_ms() ^ ((uint64_t)(uintptr_t)http << 16);
    mk_http_set_budget_ms(http, cfg->budget_ms);

    /* The first easy handle starts libcurl (and OpenSSL) in this process;
     * the multi handle makes its wake-up socketpair. */
    http_cloexec_depth++;
    http->easy[0] = curl_easy_init();
    http->share = curl_share_init();
    http->multi = curl_multi_init();
    http_cloexec_depth--;
    if (!http->easy[0] || !http->share || !http->multi) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "could not set up libcurl");
        goto out;
    }
    /* Keep a connection per handle between runs: libcurl's default (four
     * per easy handle added) shrinks as a run's handles are removed. Never
     * more than HTTP_MAX_IN_FLIGHT connections to the server, and at most
     * HTTP_MAX_STREAMS streams on a multiplexed one (http_easy.h). */
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_IN_FLIGHT);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HTTP_MAX_IN_FLIGHT);
    curl_multi_setopt(http->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)HTTP_MAX_STREAMS);
    curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = http;
    http = NULL;
    rc = MK_OK;
out:
    mk_http_free(http);
    return rc;
}

static void http_wipe_free(char *s, size_t len)
{
    if (!s)
        return;
    explicit_bzero(s, len);
    free(s);
}

void mk_http_free(mk_http *http)
{
    if (!http)
        return;
    http_cloexec_depth++;
    if (http->multi)
        curl_multi_cleanup(http->multi);
    for (size_t i = 0; i < HTTP_MAX_STREAMS; i++)
        if (http->easy[i])
            curl_easy_cleanup(http->easy[i]);
    if (http->share)
        curl_share_cleanup(http->share);
    http_pre_close_all(http);
    http_cloexec_depth--;
    http_wipe_free(http->auth_header, http->auth_header_len);
    free(http->base_url);
    explicit_bzero(http, sizeof(*http));
    free(http);
}
void mk_http_allow_env_proxy(mk_http *http, bool allow)
{
    http->allow_env_proxy = allow;
}

const struct mk_config *mk_http_config(const mk_http *http)
{
    return http->cfg;
}

void mk_http_set_budget_ms(mk_http *http, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    http->budget_ms = ms;
    http->deadline_ms = http_now_ms(http) + ms;
}

int64_t mk_http_remaining_ms(const mk_http *http)
{
    int64_t left = http->deadline_ms - http_now_ms(http);
    return left > 0 ? left : 0;
}

void mk_http_set_transport(mk_http *http, mk_http_transport_fn fn, void *ctx)
{
    http->transport = fn;
    http->transport_ctx = ctx;
    http_seams_changed(http);
}

void mk_http_set_sleep(mk_http *http, mk_http_sleep_fn fn, void *ctx)
{
    http->sleep_fn = fn;
    http->sleep_ctx = fn ? ctx : NULL;
    http_seams_changed(http);
}

void mk_http_response_clear(struct mk_http_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
    resp->retry_after_ms = -1;
}

/* One attempt through the test seam. */
static void http_attempt_seam(mk_http *http, const struct mk_http_request *req,
                              struct mk_http_response *resp, struct http_outcome *o)
{
    mk_error e;
    mk_error_clear(&e);
    memset(o, 0, sizeof(*o));
    mk_http_response_clear(resp);
    mk_status rc = http->transport(http->transport_ctx, req, resp, &e);
    if (rc == MK_OK) {
        o->kind = HTTP_ANSWER;
        if (!resp->body) {
            resp->body = strdup("");
            resp->body_len = 0;
            if (!resp->body) {
                o->kind = HTTP_FATAL;
                snprintf(o->message, sizeof(o->message), "out of memory");
            }
        }
        return;
    }
    mk_http_response_clear(resp);
    snprintf(o->message, sizeof(o->message), "%.300s", e.message[0] ? e.message : "transport error");
    /* The seam's convention: err->code "connect" for a request that cannot
     * have reached the server, "timeout" for no answer in time. */
    if (rc == MK_ERR_UNAVAILABLE && strcmp(e.code, "connect") == 0)
        o->kind = HTTP_CONNECT;
    else if (rc == MK_ERR_UNAVAILABLE) {
        o->kind = HTTP_TRANSIENT;
        o->timed_out = strcmp(e.code, "timeout") == 0;
    } else if (rc == MK_ERR_PROTOCOL)
        o->kind = HTTP_TOO_BIG;
    else
        o->kind = HTTP_FATAL;
}

/* Delay before the next attempt (attempt number `retry`, 1 for the first
 * retry), or -1 when the outcome is final. */
static int64_t http_retry_delay(mk_http *http, const struct mk_http_request *req,
                                const struct http_outcome *o,
                                const struct mk_http_response *resp, unsigned retry)
{
    bool post = strcmp(req->method, "POST") == 0;
    int64_t retry_after = -1;

    switch (o->kind) {
    case HTTP_ANSWER:
        if (!mk_http_status_retryable(resp->status))
            return -1;
        /* A POST may have created something; repeat it only when the server
         * says it did not act. */
        if (post && resp->status != 429 && resp->status != 503)
            return -1;
        retry_after = resp->retry_after_ms;
        break;
    case HTTP_CONNECT:
        break;
    case HTTP_TRANSIENT:
        if (post)
            return -1;
        break;
    case HTTP_FATAL:
    case HTTP_TOO_BIG:
        return -1;
    }
    return mk_http_backoff_ms(http->cfg, retry, retry_after, http_next_jitter(http),
                              mk_http_remaining_ms(http));
}

/* When base_url is http:// and the failure is what a TLS server does to a
 * plain request (it resets the connection, or answers with a TLS record
 * that libcurl takes for HTTP/0.9 or a weird reply), the advice for it:
 * the scheme is probably wrong. "" otherwise. */
static void http_scheme_advice(const mk_http *http, const char *why, char *out, size_t size)
{
    static const char *const tls_signs[] = {
        "reset by peer", "HTTP/0.9", "Weird server reply", "Empty reply from server",
    };
    out[0] = '\0';
    if (strncmp(http->base_url, "http://", 7) != 0)
        return;
    for (size_t i = 0; i < sizeof(tls_signs) / sizeof(tls_signs[0]); i++) {
        if (!strstr(why, tls_signs[i]))
            continue;
        const char *from = http->cfg->base_url_origin;
        snprintf(out, size, "; the server seems to speak TLS: base_url's scheme is probably "
                 "wrong (https://%s, not http://; base_url is set %s%s)", http->base_url + 7,
                 from ? "in " : "by default", from ? from : "");
        if (from && strcmp(from, "MKIO_BASE_URL") == 0)
            snprintf(out, size, "; the server seems to speak TLS: the scheme of MKIO_BASE_URL is "
                     "probably wrong (https://%s, not http://)", http->base_url + 7);
        return;
    }
}

/* The final word on a request whose last attempt did not get an answer. */
static mk_status http_fail(mk_http *http, const struct http_outcome *o, unsigned attempts,
                           int64_t started_ms, mk_error *err)
{
    if (o->kind == HTTP_TOO_BIG)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the answer is larger than max_response_size (%zu bytes)",
                            http->cfg->max_response_bytes);
    if (o->tls_refused) {
        const char *ca = http->cfg->ca_file, *src = http->cfg->source;
        src = src ? src : "the configuration";
        if (ca && *ca)
            return mk_error_set(err, MK_ERR_USAGE,
                                "the TLS certificate of %s did not verify (%s): ca_file = %s "
                                "in %s must hold the CA that signed it",
                                http->base_url, o->message, ca, src);
        return mk_error_set(err, MK_ERR_USAGE,
                            "the TLS certificate of %s did not verify (%s) against the system's "
                            "CA store: set ca_file in %s to the CA that signed it",
                            http->base_url, o->message, src);
    }
    if (o->timed_out || (attempts == 0) || mk_http_remaining_ms(http) == 0)
        return mk_error_set(err, MK_ERR_UNAVAILABLE,
                            "no answer from %s within the %" PRId64 ".%d s time budget",
                            http->base_url, http->budget_ms / 1000,
                            (int)(http->budget_ms % 1000 / 100));
    /* Tenths written with '.' whatever the locale: no floating point. */
    int64_t took = http_now_ms(http) - started_ms;
    took = took < 0 ? 0 : took;
    char advice[PATH_MAX + 160];
    http_scheme_advice(http, o->message, advice, sizeof(advice));
    return mk_error_set(err, MK_ERR_UNAVAILABLE,
                        "could not reach %s: %s (%u attempt%s in %" PRId64 ".%d s)%s",
                        http->base_url, o->message, attempts, attempts == 1 ? "" : "s",
                        took / 1000, (int)(took % 1000 / 100), advice);
}

static bool http_request_valid(const struct mk_http_request *req, mk_error *err)
{
    if (!req || !req->method || !req->path || req->path[0] != '/') {
        mk_error_set(err, MK_ERR_USAGE, "bad request: a method and a path starting with / are needed");
        return false;
    }
    if (strpbrk(req->path, " \r\n") || strpbrk(req->method, " \r\n")) {
        mk_error_set(err, MK_ERR_USAGE, "bad request: the path holds spaces or line breaks");
        return false;
    }
    return true;
}

/* ---- the one engine: n logical requests, each a series of attempts ---- */

enum http_job_state { HTTP_JOB_WAITING, HTTP_JOB_RUNNING, HTTP_JOB_DONE };

struct http_job {
    enum http_job_state state;
    unsigned attempts;
    int64_t not_before_ms;        /* a waiting job starts no sooner */
    int64_t attempt_started_ms;   /* when its last attempt started (the trace) */
    struct http_outcome outcome;  /* of its last attempt */
};

/* One of the client's easy handles and the transfer it runs. */
struct http_slot {
    CURL *easy;
    size_t job;
    bool busy;
    struct http_xfer x;
    struct curl_slist *headers;
};

struct http_run {
    mk_http *http;
    const struct mk_http_request *reqs;
    struct mk_http_response *resps;
    mk_status *statuses;
    mk_error *errs;               /* may be NULL */
    size_t n;
    size_t done;
    int64_t started_ms;
    struct http_job *jobs;
    struct http_slot *slots;      /* min(n, HTTP_MAX_STREAMS); none through the seam */
    size_t slot_count;
    size_t busy;                  /* slots running a transfer */
    int running;                  /* transfers libcurl still runs */
};

static void http_run_end(struct http_run *run, size_t i)
{
    struct http_job *job = &run->jobs[i];
    job->state = HTTP_JOB_DONE;
    run->done++;
    if (job->outcome.kind == HTTP_ANSWER && job->attempts > 0) {
        run->statuses[i] = MK_OK;
        return;
    }
    mk_http_response_clear(&run->resps[i]);
    run->statuses[i] = http_fail(run->http, &job->outcome, job->attempts, run->started_ms,
                                 run->errs ? &run->errs[i] : NULL);
}

/* The process's trace (mk_http_set_trace): NULL, or called per attempt. */
static mk_http_trace_fn http_trace_fn;
static void *http_trace_ctx;

void mk_http_set_trace(mk_http_trace_fn fn, void *ctx)
{
    http_trace_fn = fn;
    http_trace_ctx = ctx;
}

/* Tells the trace how the last attempt of job i ended. */
static void http_run_trace(const struct http_run *run, size_t i, const char *failure)
{
    const struct http_job *job = &run->jobs[i];
    const struct mk_http_response *resp = &run->resps[i];
    bool answer = job->outcome.kind == HTTP_ANSWER && !failure;
    struct mk_http_trace trace = {
        .method = run->reqs[i].method, .path = run->reqs[i].path,
        .status = answer ? resp->status : 0, .body = answer ? resp->body : NULL,
        .failure = answer ? NULL : failure ? failure : job->outcome.message,
        .ms = http_now_ms(run->http) - job->attempt_started_ms, .attempt = job->attempts,
    };
    http_trace_fn(http_trace_ctx, &trace);
}

/* After an attempt of job i: schedule the next one, or end the request. */
static void http_run_attempted(struct http_run *run, size_t i)
{
    struct http_job *job = &run->jobs[i];
    job->attempts++;
    if (http_trace_fn)
        http_run_trace(run, i, NULL);
    int64_t delay = http_retry_delay(run->http, &run->reqs[i], &job->outcome, &run->resps[i],
                                     job->attempts);
    if (delay < 0) {
        http_run_end(run, i);
        return;
    }
    mk_http_response_clear(&run->resps[i]);
    job->state = HTTP_JOB_WAITING;
    job->not_before_ms = http_now_ms(run->http) + delay;
}

static void http_slot_release(struct http_slot *s)
{
    if (s->easy) {
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
        curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, (char *)NULL);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, (char *)NULL);
    }
    http_wipe_headers(s->headers);
    s->headers = NULL;
    free(s->x.body);
    memset(&s->x, 0, sizeof(s->x));
    s->busy = false;
}

/* How many transfers may run at once now: the multiplexed cap once this
 * client has had an answer over HTTP/2, else one per connection
 * (http_easy.h). */
static size_t http_run_cap(const struct http_run *run)
{
    size_t cap = run->http->multiplexed ? HTTP_MAX_STREAMS : HTTP_MAX_IN_FLIGHT;
    return cap < run->slot_count ? cap : run->slot_count;
}

/* A slot's slot->busy and the run's count of busy slots, together. */
static void http_run_release(struct http_run *run, struct http_slot *slot)
{
    if (slot->busy)
        run->busy--;
    http_slot_release(slot);
}

/* Starts job i on a free easy handle (made now if it is the handle's
 * first use); false when the run already has as many transfers as it may
 * (http_run_cap). */
static bool http_run_start_curl(struct http_run *run, size_t i)
{
    mk_http *http = run->http;
    struct http_slot *slot = NULL;
    mk_error e;

    if (run->busy >= http_run_cap(run))
        return false;
    for (size_t s = 0; s < run->slot_count && !slot; s++) {
        if (run->slots[s].busy)
            continue;
        slot = &run->slots[s];
        if (!slot->easy)
            slot->easy = http->easy[s] = curl_easy_init();
    }
    if (!slot)
        return false;
    http_xfer_reset(&slot->x, http->cfg->max_response_bytes);
    slot->job = i;
    slot->busy = true;
    run->busy++;
    if (!slot->easy
        || http_setup_easy(http, slot->easy, &run->reqs[i], &slot->x, &slot->headers, &e) != MK_OK
        || curl_multi_add_handle(http->multi, slot->easy) != CURLM_OK) {
        http_run_release(run, slot);
        memset(&run->jobs[i].outcome, 0, sizeof(run->jobs[i].outcome));
        run->jobs[i].outcome.kind = HTTP_FATAL;
        snprintf(run->jobs[i].outcome.message, sizeof(run->jobs[i].outcome.message),
                 "could not start the request");
        http_run_attempted(run, i);
        return true;
    }
    run->jobs[i].state = HTTP_JOB_RUNNING;
    return true;
}

/* Starts every waiting job that is due: through the seam, one attempt
 * each, at once; on libcurl, as many as there are free handles. */
static void http_run_start_due(struct http_run *run)
{
    mk_http *http = run->http;
    int64_t now = http_now_ms(http);

    for (size_t i = 0; i < run->n; i++) {
        struct http_job *job = &run->jobs[i];
        if (job->state != HTTP_JOB_WAITING || job->not_before_ms > now)
            continue;
        job->attempt_started_ms = now;
        if (http->transport) {
            http_attempt_seam(http, &run->reqs[i], &run->resps[i], &job->outcome);
            http_run_attempted(run, i);
        } else if (!http_run_start_curl(run, i)) {
            return;
        }
    }
}

/* Lets libcurl move its transfers on, and judges those that ended. */
static void http_run_collect(struct http_run *run)
{
    mk_http *http = run->http;
    CURLMsg *msg;
    int left;

    run->running = 0;
    curl_multi_perform(http->multi, &run->running);
    while ((msg = curl_multi_info_read(http->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct http_slot *slot = NULL;
        for (size_t s = 0; s < run->slot_count && !slot; s++)
            if (run->slots[s].busy && run->slots[s].easy == msg->easy_handle)
                slot = &run->slots[s];
        if (!slot)
            continue;
        CURLcode code = msg->data.result;
        size_t i = slot->job;
        curl_multi_remove_handle(http->multi, slot->easy);
        http_finish_easy(http, slot->easy, code, &slot->x, &run->resps[i], &run->jobs[i].outcome);
        if (run->jobs[i].outcome.kind == HTTP_ANSWER) {
            long version = 0;
            curl_easy_getinfo(slot->easy, CURLINFO_HTTP_VERSION, &version);
            http->multiplexed = version == CURL_HTTP_VERSION_2_0 || version == CURL_HTTP_VERSION_3;
            if (http->multiplexed)
                http_pre_close_all(http); /* one connection serves all */
        }
        http_run_release(run, slot);
        http_run_attempted(run, i);
    }
}

/* The budget is spent: every request still open ends now. */
static void http_run_expire(struct http_run *run)
{
    for (size_t s = 0; s < run->slot_count; s++) {
        struct http_slot *slot = &run->slots[s];
        if (!slot->busy)
            continue;
        curl_multi_remove_handle(run->http->multi, slot->easy);
        run->jobs[slot->job].attempts++;
        run->jobs[slot->job].outcome.kind = HTTP_TRANSIENT;
        if (http_trace_fn)
            http_run_trace(run, slot->job, "no answer within time_budget");
        http_run_release(run, slot);
    }
    for (size_t i = 0; i < run->n; i++) {
        struct http_job *job = &run->jobs[i];
        if (job->state == HTTP_JOB_DONE)
            continue;
        job->outcome.timed_out = true;
        if (job->outcome.kind == HTTP_ANSWER)
            job->outcome.kind = HTTP_TRANSIENT;
        http_run_end(run, i);
    }
}

/* Waits for traffic, or until the next retry is due, within the budget.
 * A due job waits for traffic only while the run has all the transfers it
 * may have (http_run_cap). */
static void http_run_wait(struct http_run *run)
{
    mk_http *http = run->http;
    int64_t now = http_now_ms(http);
    int64_t wait = mk_http_remaining_ms(http);
    bool blocked = !http->transport && run->busy >= http_run_cap(run);
    for (size_t i = 0; i < run->n; i++) {
        const struct http_job *job = &run->jobs[i];
        if (job->state != HTTP_JOB_WAITING || (blocked && job->not_before_ms <= now))
            continue;
        int64_t until = job->not_before_ms - now;
        if (until < wait)
            wait = until < 0 ? 0 : until;
    }
    if (run->running > 0) {
        if (wait > HTTP_POLL_MAX_MS)
            wait = HTTP_POLL_MAX_MS;
        curl_multi_poll(http->multi, NULL, 0, (int)wait, NULL);
    } else {
        http_sleep(http, wait);
    }
}

/* The run's slots, one per transfer it may ever have at once, with the
 * client's easy handles: those a run can use at once (http_run_cap) made
 * now, once per client and kept; a slot beyond them gets its handle when
 * first used (a run that finds the server multiplexes). */
static mk_status http_run_prepare(struct http_run *run)
{
    mk_http *http = run->http;

    if (http->transport)
        return MK_OK;
    size_t count = run->n < HTTP_MAX_STREAMS ? run->n : HTTP_MAX_STREAMS;
    run->slots = calloc(count, sizeof(*run->slots));
    if (!run->slots)
        return MK_ERR_NOMEM;
    run->slot_count = count;
    for (size_t s = 0; s < run->slot_count; s++) {
        if (!http->easy[s] && s < http_run_cap(run))
            http->easy[s] = curl_easy_init();
        if (!http->easy[s] && s < http_run_cap(run))
            return MK_ERR_NOMEM;
        run->slots[s].easy = http->easy[s];
    }
    return MK_OK;
}

/* The one engine behind mk_http_do and mk_http_do_many. Requests whose
 * statuses[i] is not MK_OK on entry are left as they are. */
static void http_run_all(mk_http *http, const struct mk_http_request *reqs, size_t n,
                         struct mk_http_response *resps, mk_status *statuses, mk_error *errs)
{
    struct http_run run = {
        .http = http, .reqs = reqs, .resps = resps, .statuses = statuses, .errs = errs,
        .n = n, .started_ms = http_now_ms(http),
    };

    http_cloexec_depth++;
    run.jobs = calloc(n, sizeof(*run.jobs));
    mk_status rc = run.jobs ? http_run_prepare(&run) : MK_ERR_NOMEM;
    if (rc != MK_OK) {
        for (size_t i = 0; i < n; i++)
            if (statuses[i] == MK_OK)
                statuses[i] = mk_error_set(errs ? &errs[i] : NULL, rc, "could not set up libcurl");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        run.jobs[i].outcome.kind = HTTP_TRANSIENT;
        run.jobs[i].outcome.timed_out = true;
        if (statuses[i] != MK_OK) {
            run.jobs[i].state = HTTP_JOB_DONE;
            run.done++;
        }
    }
    while (run.done < n) {
        if (mk_http_remaining_ms(http) <= 0) {
            http_run_expire(&run);
            break;
        }
        http_run_start_due(&run);
        if (!http->transport)
            http_run_collect(&run);
        if (run.done < n)
            http_run_wait(&run);
    }
out:
    for (size_t s = 0; s < run.slot_count; s++) {
        if (run.slots[s].busy)
            curl_multi_remove_handle(http->multi, run.slots[s].easy);
        http_slot_release(&run.slots[s]);
    }
    /* What the pool still holds after the run that drew from it will not
     * be needed (http_preconnect.c). */
    if (http->pre_run_used)
        http_pre_close_all(http);
    http->pre_run_used = false;
    free(run.slots);
    free(run.jobs);
    http_cloexec_depth--;
}

mk_status mk_http_do_many(mk_http *http, const struct mk_http_request *reqs,
                          size_t n, struct mk_http_response *resps,
                          mk_status *statuses, mk_error *errs)
{
    for (size_t i = 0; i < n; i++) {
        memset(&resps[i], 0, sizeof(resps[i]));
        resps[i].retry_after_ms = -1;
        if (errs)
            mk_error_clear(&errs[i]);
        statuses[i] = http_request_valid(&reqs[i], errs ? &errs[i] : NULL) ? MK_OK : MK_ERR_USAGE;
    }
    if (n > 0)
        http_run_all(http, reqs, n, resps, statuses, errs);
    for (size_t i = 0; i < n; i++)
        if (statuses[i] != MK_OK)
            return statuses[i];
    return MK_OK;
}

mk_status mk_http_do(mk_http *http, const struct mk_http_request *req,
                     struct mk_http_response *resp, mk_error *err)
{
    mk_status status;
    mk_http_do_many(http, req, 1, resp, &status, err);
    return status;
}
