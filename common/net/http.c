/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/http.c: the HTTP client and its whole policy (see http.h).
 *
 * One logical request is a series of attempts. Every attempt is classified
 * into an outcome (an answer, a connect failure, a failure after the request
 * may have reached the server, a fatal failure) and one function,
 * http_retry_delay, decides from the outcome whether and when to try again.
 * One engine, http_run, drives n requests (mk_http_do is n = 1): up to
 * HTTP_MAX_IN_FLIGHT at once on the client's multi handle, whose easy
 * handles share connections, DNS and TLS sessions, or one attempt at a time
 * through the test seam, with the same scheduling, retries and budget.
 *
 * This file also defines socket() and socketpair() for the program it is
 * linked into, so that what libcurl 7.88 creates on our threads is
 * close-on-exec from its creation (see "close-on-exec" below).
 */
#include "net/http.h"
#include "net/url.h"
#include "base/text.h"
#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define HTTP_BACKOFF_BASE_MS INT64_C(200)
#define HTTP_BACKOFF_CAP_MS INT64_C(5000)
/* The least time worth starting an attempt with; a retry that would leave
 * less than this of the budget is not made. */
#define HTTP_MIN_ATTEMPT_MS INT64_C(100)
/* Concurrent requests of one mk_http_do_many: enough that a login with many
 * invites waits about two round trips, not one per invite. */
#define HTTP_MAX_IN_FLIGHT 16
/* The longest single wait for traffic, so that the loop looks at the clock
 * and the retry schedule at least this often. */
#define HTTP_POLL_MAX_MS INT64_C(1000)
#define HTTP_USER_AGENT "mkio-orgs/0.1"

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
    CURL *easy[HTTP_MAX_IN_FLIGHT]; /* made when first needed, reused */
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

/* A value of ms for libcurl's long options and poll's int timeout; a
 * 32-bit long holds 24 days. */
static long http_ms_to_long(int64_t ms)
{
    if (ms < 0)
        return 0;
    return ms > INT32_MAX ? (long)INT32_MAX : (long)ms;
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

/* ---- pure policy ---- */

bool mk_http_status_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

int64_t mk_http_backoff_ms(const struct mk_config *cfg, unsigned attempt,
                           int64_t retry_after_ms, uint32_t jitter, int64_t remaining_ms)
{
    if (attempt == 0 || attempt > cfg->retries)
        return -1;
    int64_t delay = HTTP_BACKOFF_BASE_MS;
    for (unsigned i = 1; i < attempt && delay < HTTP_BACKOFF_CAP_MS; i++)
        delay *= 2;
    if (delay > HTTP_BACKOFF_CAP_MS)
        delay = HTTP_BACKOFF_CAP_MS;
    int64_t half = delay / 2;
    delay = half + (int64_t)(jitter % (uint32_t)(delay - half + 1));
    if (retry_after_ms >= 0 && retry_after_ms > delay)
        delay = retry_after_ms;
    if (remaining_ms < 0 || delay > remaining_ms - HTTP_MIN_ATTEMPT_MS)
        return -1;
    return delay;
}

static const char *const http_months[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Skips spaces and tabs. */
static const char *http_skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* min_digits to max_digits ASCII digits at *p into *out; advances *p. */
static bool http_take_digits(const char **p, int min_digits, int max_digits, int *out)
{
    int n = 0, v = 0;
    while (n < max_digits && mk_ascii_digit((*p)[n])) {
        v = v * 10 + ((*p)[n] - '0');
        n++;
    }
    if (n < min_digits)
        return false;
    *p += n;
    *out = v;
    return true;
}

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", parsed by hand because
 * strptime's %a and %b follow the caller's locale (and sscanf is not the
 * project's way with numbers). Blanks between the parts are tolerated. */
static bool http_parse_imf_date(const char *s, time_t *out)
{
    const char *comma = strchr(s, ',');
    int day, year, hour, min, sec, month = -1;
    const char *p;

    if (!comma || comma - s != 3)
        return false;
    p = http_skip_blanks(comma + 1);
    if (!http_take_digits(&p, 1, 2, &day))
        return false;
    p = http_skip_blanks(p);
    for (int i = 0; i < 12; i++)
        if (strncmp(p, http_months[i], 3) == 0)
            month = i;
    if (month < 0)
        return false;
    p = http_skip_blanks(p + 3);
    if (!http_take_digits(&p, 4, 4, &year))
        return false;
    p = http_skip_blanks(p);
    if (!http_take_digits(&p, 2, 2, &hour) || *p++ != ':' ||
        !http_take_digits(&p, 2, 2, &min) || *p++ != ':' ||
        !http_take_digits(&p, 2, 2, &sec))
        return false;
    p = http_skip_blanks(p);
    if (strncmp(p, "GMT", 3) != 0 || *http_skip_blanks(p + 3) != '\0')
        return false;
    if (day < 1 || day > 31 || year < 1970 || hour > 23 || min > 59 || sec > 60)
        return false;
    struct tm tm = { .tm_year = year - 1900, .tm_mon = month, .tm_mday = day,
                     .tm_hour = hour, .tm_min = min, .tm_sec = sec };
    *out = timegm(&tm);
    return *out != (time_t)-1;
}

/* A Retry-After beyond this many seconds (three years) only has to be too
 * long to wait for. */
#define HTTP_RETRY_AFTER_MAX_S INT64_C(100000000)

int64_t mk_http_parse_retry_after(const char *value, int64_t now_epoch_s)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value == '\0')
        return -1;
    if (mk_ascii_digit(*value)) {
        int64_t seconds = 0;
        const char *p = value;
        for (; mk_ascii_digit(*p); p++) {
            if (seconds < HTTP_RETRY_AFTER_MAX_S)
                seconds = seconds * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0')
            return -1;
        return seconds * 1000;
    }
    time_t when;
    if (!http_parse_imf_date(value, &when))
        return -1;
    if ((int64_t)when <= now_epoch_s)
        return 0;
    int64_t delta = (int64_t)when - now_epoch_s;
    if (delta > HTTP_RETRY_AFTER_MAX_S)
        delta = HTTP_RETRY_AFTER_MAX_S;
    return delta * 1000;
}

/* ---- close-on-exec ----
 *
 * libcurl 7.88 creates descriptors without close-on-exec and offers no
 * option for them (curl issue 13618, fixed in 8.8): the multi handle's
 * wake-up socketpair (curl_multi_init), the threaded resolver's socketpair
 * (one per name resolution, its write end kept by a resolver thread that
 * CURLOPT_QUICK_EXIT leaves running past the budget) and the IPv6 probe
 * socket (once per multi handle, before the first resolution). A host
 * process whose other thread forks and execs would hand them to the child,
 * and marking them afterwards (fcntl, or scanning /proc/self/fd) leaves a
 * window and may mark another thread's descriptor.
 *
 * libcurl makes all three on the thread that calls it, through socket()
 * and socketpair(). These definitions take the place of libc's in the
 * program this file is linked into (libcurl's calls bind to the
 * executable's symbols first) and add SOCK_CLOEXEC while the calling
 * thread is inside this client (http_cloexec_depth > 0); any other call
 * passes through unchanged. glibc's own sockets (DNS, nscd) are made with
 * SOCK_CLOEXEC by glibc, which calls the system directly. Connections are
 * also opened by http_open_socket with SOCK_CLOEXEC, which holds even where
 * these definitions do not take effect (a shared library). */
static __thread unsigned http_cloexec_depth;

int socket(int domain, int type, int protocol)
{
    if (http_cloexec_depth > 0)
        type |= SOCK_CLOEXEC;
    return (int)syscall(SYS_socket, domain, type, protocol);
}

int socketpair(int domain, int type, int protocol, int fds[2])
{
    if (http_cloexec_depth > 0)
        type |= SOCK_CLOEXEC;
    return (int)syscall(SYS_socketpair, domain, type, protocol, fds);
}

static curl_socket_t http_open_socket(void *ctx, curlsocktype purpose,
                                      struct curl_sockaddr *address)
{
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
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
    http->base_url = strdup(cfg->base_url);
    if (http->base_url) {
        size_t n = strlen(http->base_url);
        while (n > 0 && http->base_url[n - 1] == '/')
            http->base_url[--n] = '\0';
    }
    /* auth_header = x-mkio-token: the legacy header MK.IO still takes for
     * old tokens (mkio-api.md, second edition); Authorization otherwise. */
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
     * per easy handle added) shrinks as a run's handles are removed. */
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_IN_FLIGHT);
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
    for (size_t i = 0; i < HTTP_MAX_IN_FLIGHT; i++)
        if (http->easy[i])
            curl_easy_cleanup(http->easy[i]);
    if (http->share)
        curl_share_cleanup(http->share);
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

/* Read with plain getenv by libcurl 7.88 (SSLKEYLOGFILE, CURL_SSL_BACKEND),
 * OpenSSL 3 (only the SSL_ and OPENSSL_ ones, and those through
 * secure_getenv, so a setuid caller is safe but root's own environment is
 * not) or glibc's resolver, with no option to turn them off; plus the two
 * the curl program reads, CURL_CA_BUNDLE and CURL_HOME, should a later
 * libcurl take them up. The *_proxy names are matched by their ending. */
static const char *const http_scrubbed_names[] = {
    "SSLKEYLOGFILE",                 /* appends every TLS session key there */
    "CURL_SSL_BACKEND", "CURL_CA_BUNDLE", "CURL_HOME",
    "SSL_CERT_FILE", "SSL_CERT_DIR", /* OpenSSL's default trust store */
    "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES", "OPENSSL_ia32cap",
    "RES_OPTIONS", "LOCALDOMAIN", "HOSTALIASES",
};

/* Whether the name of a NAME=VALUE entry ends in "_proxy", in any case;
 * *name_len gets the name's length. */
static bool http_env_is_proxy(const char *entry, size_t *name_len)
{
    const char *eq = strchr(entry, '=');
    if (!eq)
        return false; /* getenv never sees an entry without '=' */
    *name_len = (size_t)(eq - entry);
    return *name_len >= 6 && mk_ascii_case_equal_n(eq - 6, "_proxy", 6);
}

void mk_http_scrub_environment(void)
{
    for (size_t i = 0; i < sizeof(http_scrubbed_names) / sizeof(http_scrubbed_names[0]); i++)
        unsetenv(http_scrubbed_names[i]);
    /* unsetenv changes environ: look again from the start after each one.
     * Each round removes at least one entry, so this ends. */
    for (bool again = true; again;) {
        again = false;
        for (char **e = environ; e && *e; e++) {
            size_t n;
            if (!http_env_is_proxy(*e, &n))
                continue;
            char *name = strndup(*e, n);
            if (!name)
                return; /* CURLOPT_PROXY still ignores these variables */
            unsetenv(name);
            free(name);
            again = true;
            break;
        }
    }
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

/* ---- curl plumbing ---- */

static size_t http_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_xfer *x = userdata;
    size_t n = size * nmemb;
    if (n > x->limit - x->len) {
        x->too_big = true;
        return 0;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + n + 1)
            cap *= 2;
        char *grown = realloc(x->body, cap);
        if (!grown)
            return 0;
        x->body = grown;
        x->cap = cap;
    }
    memcpy(x->body + x->len, data, n);
    x->len += n;
    x->body[x->len] = '\0';
    return n;
}

/* Value of header `name` in a raw header line, trimmed, or NULL. */
static bool http_header_value(const char *line, size_t len, const char *name,
                              char *out, size_t out_size)
{
    size_t nlen = strlen(name);
    if (len <= nlen || !mk_ascii_case_equal_n(line, name, nlen) || line[nlen] != ':')
        return false;
    const char *v = line + nlen + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (vlen >= out_size)
        vlen = out_size - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return true;
}

static size_t http_header_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct http_xfer *x = userdata;
    size_t n = size * nmemb;
    char value[128];

    /* A new status line (after a 100 Continue, say) starts a new answer. */
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        x->content_type[0] = '\0';
        x->retry_after_ms = -1;
    } else if (http_header_value(data, n, "Content-Type", value, sizeof(value))) {
        snprintf(x->content_type, sizeof(x->content_type), "%s", value);
    } else if (http_header_value(data, n, "Retry-After", value, sizeof(value))) {
        x->retry_after_ms = mk_http_parse_retry_after(value, (int64_t)time(NULL));
    }
    return n;
}

static void http_xfer_reset(struct http_xfer *x, size_t limit)
{
    free(x->body);
    memset(x, 0, sizeof(*x));
    x->limit = limit;
    x->retry_after_ms = -1;
}

static void http_wipe_headers(struct curl_slist *headers)
{
    for (struct curl_slist *h = headers; h; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(headers);
}

static struct curl_slist *http_build_headers(const mk_http *http, bool with_body)
{
    struct curl_slist *list = NULL, *next;
    const char *fixed[] = {
        "Accept: application/json",
        /* No "Expect: 100-continue" round trip for larger bodies. */
        "Expect:",
        with_body ? "Content-Type: application/json" : NULL,
    };
    next = curl_slist_append(list, http->auth_header);
    if (!next)
        goto fail;
    list = next;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (!fixed[i])
            continue;
        next = curl_slist_append(list, fixed[i]);
        if (!next)
            goto fail;
        list = next;
    }
    return list;
fail:
    http_wipe_headers(list);
    return NULL;
}

/* Sets every option of one attempt on easy. The options that matter for
 * safety are set each time, so a reused handle never carries over state. */
static mk_status http_setup_easy(mk_http *http, CURL *easy, const struct mk_http_request *req,
                                 struct http_xfer *x, struct curl_slist **headers,
                                 mk_error *err)
{
    mk_status rc;
    char *url = NULL;
    int64_t remaining = mk_http_remaining_ms(http);
    int64_t connect_ms = http->cfg->connect_timeout_ms;

    if (connect_ms <= 0 || connect_ms > remaining)
        connect_ms = remaining;
    if (asprintf(&url, "%s%s", http->base_url, req->path) < 0) {
        url = NULL;
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    *headers = http_build_headers(http, req->body != NULL);
    if (!*headers) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    const char *protocols = http->allow_http ? "http,https" : "https";
    CURLcode c = CURLE_OK;
    /* curl copies the URL, so url can go once set. */
#define HTTP_SET(opt, val) do { if (c == CURLE_OK) c = curl_easy_setopt(easy, opt, val); } while (0)
    HTTP_SET(CURLOPT_URL, url);
    HTTP_SET(CURLOPT_PROTOCOLS_STR, protocols);
    HTTP_SET(CURLOPT_REDIR_PROTOCOLS_STR, protocols);
    HTTP_SET(CURLOPT_FOLLOWLOCATION, 0L);
    HTTP_SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
    HTTP_SET(CURLOPT_NOSIGNAL, 1L);
    HTTP_SET(CURLOPT_SSL_VERIFYPEER, 1L);
    HTTP_SET(CURLOPT_SSL_VERIFYHOST, 2L);
    HTTP_SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (http->cfg->ca_file && *http->cfg->ca_file)
        HTTP_SET(CURLOPT_CAINFO, http->cfg->ca_file);
    /* No ambient configuration: the configured proxy, else none (an empty
     * string stops libcurl reading http_proxy and the others), unless this
     * client may take them from its environment; no_proxy likewise. */
    const char *proxy = http->cfg->proxy && *http->cfg->proxy ? http->cfg->proxy
                        : http->allow_env_proxy ? NULL : "";
    HTTP_SET(CURLOPT_PROXY, proxy);
    HTTP_SET(CURLOPT_NOPROXY, http->allow_env_proxy ? NULL : "");
    HTTP_SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
    HTTP_SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
    /* The token in HTTPHEADER goes to the API, never in a CONNECT. */
    HTTP_SET(CURLOPT_HEADEROPT, (long)CURLHEADER_SEPARATE);
    HTTP_SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    /* Freeing the client must not wait for a name resolution still running
     * in libcurl's resolver thread (glibc may take 10 s and more for a name
     * nobody answers): the thread is left to end on its own. */
    HTTP_SET(CURLOPT_QUICK_EXIT, 1L);
    HTTP_SET(CURLOPT_CONNECTTIMEOUT_MS, http_ms_to_long(connect_ms));
    HTTP_SET(CURLOPT_TIMEOUT_MS, http_ms_to_long(remaining));
    HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)http->cfg->max_response_bytes);
    HTTP_SET(CURLOPT_WRITEFUNCTION, http_write_cb);
    HTTP_SET(CURLOPT_WRITEDATA, x);
    HTTP_SET(CURLOPT_HEADERFUNCTION, http_header_cb);
    HTTP_SET(CURLOPT_HEADERDATA, x);
    HTTP_SET(CURLOPT_ERRORBUFFER, x->errbuf);
    HTTP_SET(CURLOPT_OPENSOCKETFUNCTION, http_open_socket);
    HTTP_SET(CURLOPT_USERAGENT, HTTP_USER_AGENT);
    HTTP_SET(CURLOPT_HTTPHEADER, *headers);
    HTTP_SET(CURLOPT_SHARE, http->share);
    HTTP_SET(CURLOPT_HTTPGET, 1L);
    HTTP_SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    if (req->body) {
        HTTP_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
        HTTP_SET(CURLOPT_POSTFIELDS, req->body);
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
        HTTP_SET(CURLOPT_CUSTOMREQUEST, req->method);
    else if (strcmp(req->method, "POST") == 0 && !req->body)
        HTTP_SET(CURLOPT_CUSTOMREQUEST, "POST");
#undef HTTP_SET
    if (c != CURLE_OK) {
        rc = mk_error_set(err, MK_ERR_USAGE, "could not set up the request: %s",
                          curl_easy_strerror(c));
        goto out;
    }
    rc = MK_OK;
out:
    free(url);
    return rc;
}

/* Turns the end of a curl transfer into an outcome, and on an answer moves
 * the collected data into resp. */
static void http_finish_easy(mk_http *http, CURL *easy, CURLcode code, struct http_xfer *x,
                             struct mk_http_response *resp, struct http_outcome *o)
{
    memset(o, 0, sizeof(*o));
    if (code == CURLE_OK) {
        mk_http_response_clear(resp);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
        if (!x->body)
            x->body = strdup("");
        resp->body = x->body;
        resp->body_len = x->len;
        x->body = NULL;
        x->len = x->cap = 0;
        snprintf(resp->content_type, sizeof(resp->content_type), "%s", x->content_type);
        resp->retry_after_ms = x->retry_after_ms;
        o->kind = resp->body ? HTTP_ANSWER : HTTP_FATAL;
        if (!resp->body)
            snprintf(o->message, sizeof(o->message), "out of memory");
        return;
    }
    const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
    snprintf(o->message, sizeof(o->message), "%s", why);
    if (x->too_big || code == CURLE_FILESIZE_EXCEEDED) {
        o->kind = HTTP_TOO_BIG;
        return;
    }
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        o->kind = HTTP_CONNECT;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        o->timed_out = true;
        o->kind = HTTP_TRANSIENT;
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        o->kind = HTTP_TRANSIENT;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        /* A configuration matter, not the network's: never retried. */
        o->tls_refused = true;
        o->kind = HTTP_FATAL;
        break;
    default:
        o->kind = HTTP_FATAL;
        break;
    }
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
    return mk_error_set(err, MK_ERR_UNAVAILABLE,
                        "could not reach %s: %s (%u attempt%s in %" PRId64 ".%d s)",
                        http->base_url, o->message, attempts, attempts == 1 ? "" : "s",
                        took / 1000, (int)(took % 1000 / 100));
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
    struct http_slot slots[HTTP_MAX_IN_FLIGHT];
    size_t slot_count;            /* 0 through the test seam */
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

/* After an attempt of job i: schedule the next one, or end the request. */
static void http_run_attempted(struct http_run *run, size_t i)
{
    struct http_job *job = &run->jobs[i];
    job->attempts++;
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

/* Starts job i on a free easy handle; false when none is free. */
static bool http_run_start_curl(struct http_run *run, size_t i)
{
    mk_http *http = run->http;
    struct http_slot *slot = NULL;
    mk_error e;

    for (size_t s = 0; s < run->slot_count && !slot; s++)
        if (!run->slots[s].busy)
            slot = &run->slots[s];
    if (!slot)
        return false;
    http_xfer_reset(&slot->x, http->cfg->max_response_bytes);
    slot->job = i;
    slot->busy = true;
    if (http_setup_easy(http, slot->easy, &run->reqs[i], &slot->x, &slot->headers, &e) != MK_OK
        || curl_multi_add_handle(http->multi, slot->easy) != CURLM_OK) {
        http_slot_release(slot);
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
        http_slot_release(slot);
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
        http_slot_release(slot);
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
 * A due job waits for traffic only while every handle is busy. */
static void http_run_wait(struct http_run *run)
{
    mk_http *http = run->http;
    int64_t now = http_now_ms(http);
    int64_t wait = mk_http_remaining_ms(http);
    bool blocked = !http->transport;

    for (size_t s = 0; s < run->slot_count && blocked; s++)
        blocked = run->slots[s].busy;
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

/* Every handle the run needs, made once per client and kept. */
static mk_status http_run_prepare(struct http_run *run)
{
    mk_http *http = run->http;

    if (http->transport)
        return MK_OK;
    run->slot_count = run->n < HTTP_MAX_IN_FLIGHT ? run->n : HTTP_MAX_IN_FLIGHT;
    for (size_t s = 0; s < run->slot_count; s++) {
        if (!http->easy[s])
            http->easy[s] = curl_easy_init();
        if (!http->easy[s])
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
