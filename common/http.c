/* common/http.c: the HTTP client and its whole policy (see http.h).
 *
 * One logical request is a series of attempts. Every attempt is classified
 * into an outcome (an answer, a connect failure, a failure after the request
 * may have reached the server, a fatal failure) and one function,
 * http_retry_delay, decides from the outcome whether and when to try again.
 * mk_http_do drives the attempts on one reused easy handle; mk_http_do_many
 * drives up to HTTP_MAX_IN_FLIGHT at once on a multi handle whose easy
 * handles share connections, DNS and TLS sessions.
 */
#include "http.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define HTTP_BACKOFF_BASE_MS 200L
#define HTTP_BACKOFF_CAP_MS 5000L
/* The least time worth starting an attempt with; a retry that would leave
 * less than this of the budget is not made. */
#define HTTP_MIN_ATTEMPT_MS 100L
/* Concurrent requests of mk_http_do_many: enough that a login with many
 * invites waits about two round trips, not one per invite. */
#define HTTP_MAX_IN_FLIGHT 16
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
    char message[CURL_ERROR_SIZE + 64];
};

struct mk_http {
    const struct mk_config *cfg;
    char *base_url;          /* without trailing '/' */
    char *auth_header;       /* "Authorization: Bearer <token>", wiped on free */
    size_t auth_header_len;
    bool allow_http;
    bool allow_env_proxy;    /* mk_http_allow_env_proxy */
    CURL *easy;
    CURLSH *share;
    CURLM *multi;
    long deadline_ms;        /* CLOCK_MONOTONIC */
    long budget_ms;          /* the budget as set, for messages */
    uint64_t rng;
    mk_http_transport_fn transport;
    void *transport_ctx;
    mk_http_sleep_fn sleep_fn;
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
    long retry_after_ms;
    char errbuf[CURL_ERROR_SIZE];
};

static long http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static uint32_t http_next_jitter(mk_http *http)
{
    /* splitmix64: enough to spread clients apart, seeded per client. */
    uint64_t z = (http->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void http_default_sleep(void *ctx, long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- pure policy ---- */

bool mk_http_status_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

long mk_http_backoff_ms(const struct mk_config *cfg, unsigned attempt,
                        long retry_after_ms, uint32_t jitter, long remaining_ms)
{
    if (attempt == 0 || attempt > cfg->retries)
        return -1;
    long delay = HTTP_BACKOFF_BASE_MS;
    for (unsigned i = 1; i < attempt && delay < HTTP_BACKOFF_CAP_MS; i++)
        delay *= 2;
    if (delay > HTTP_BACKOFF_CAP_MS)
        delay = HTTP_BACKOFF_CAP_MS;
    long half = delay / 2;
    delay = half + (long)(jitter % (uint32_t)(delay - half + 1));
    if (retry_after_ms >= 0 && retry_after_ms > delay)
        delay = retry_after_ms;
    if (remaining_ms < 0 || delay > remaining_ms - HTTP_MIN_ATTEMPT_MS)
        return -1;
    return delay;
}

static const char *const http_months[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", parsed by hand because
 * strptime's %a and %b follow the caller's locale. */
static bool http_parse_imf_date(const char *s, time_t *out)
{
    const char *comma = strchr(s, ',');
    if (!comma || comma - s != 3)
        return false;
    int day, year, hour, min, sec, used = 0;
    char mon[4];
    if (sscanf(comma + 1, " %2d %3s %4d %2d:%2d:%2d GMT%n", &day, mon, &year, &hour, &min,
               &sec, &used) != 6 || used == 0)
        return false;
    const char *rest = comma + 1 + used;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest != '\0')
        return false;
    int month = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, http_months[i]) == 0)
            month = i;
    if (month < 0 || day < 1 || day > 31 || year < 1970 || hour > 23 || min > 59 || sec > 60)
        return false;
    struct tm tm = { .tm_year = year - 1900, .tm_mon = month, .tm_mday = day,
                     .tm_hour = hour, .tm_min = min, .tm_sec = sec };
    *out = timegm(&tm);
    return *out != (time_t)-1;
}

long mk_http_parse_retry_after(const char *value, long now_epoch_s)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value == '\0')
        return -1;
    if (isdigit((unsigned char)*value)) {
        long seconds = 0;
        const char *p = value;
        for (; isdigit((unsigned char)*p); p++) {
            /* A huge value only has to be too long to wait for. */
            if (seconds < 100000000L)
                seconds = seconds * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0')
            return -1;
        return seconds * 1000L;
    }
    time_t when;
    if (!http_parse_imf_date(value, &when))
        return -1;
    if ((long)when <= now_epoch_s)
        return 0;
    long delta = (long)when - now_epoch_s;
    if (delta > 100000000L)
        delta = 100000000L;
    return delta * 1000L;
}

/* ---- client lifetime ---- */

static curl_socket_t http_open_socket(void *ctx, curlsocktype purpose,
                                      struct curl_sockaddr *address)
{
    /* libcurl 7.88 opens its sockets without SOCK_CLOEXEC; a PAM module or
     * tool that forks and execs must not leak them. */
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

/* A multi handle whose descriptors are close-on-exec. libcurl 7.88 makes
 * a multi handle's wake-up socketpair without SOCK_CLOEXEC and offers no
 * option for it, so the descriptors that appear while it is made are
 * marked. Every transfer runs on this one multi handle (curl_easy_perform
 * would make a hidden one of its own). */
static CURLM *http_multi_new(void)
{
    enum { HTTP_FD_TRACK = 4096 };
    uint8_t before[HTTP_FD_TRACK / 8];
    DIR *dir;
    struct dirent *e;

    memset(before, 0, sizeof(before));
    dir = opendir("/proc/self/fd");
    while (dir && (e = readdir(dir))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd >= 0 && fd < HTTP_FD_TRACK && fd != dirfd(dir))
            before[fd / 8] |= (uint8_t)(1u << (fd % 8));
    }
    if (dir)
        closedir(dir);
    CURLM *multi = curl_multi_init();
    dir = multi ? opendir("/proc/self/fd") : NULL;
    while (dir && (e = readdir(dir))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd < 0 || fd >= HTTP_FD_TRACK || fd == dirfd(dir)
            || (before[fd / 8] & (1u << (fd % 8))))
            continue;
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    if (dir)
        closedir(dir);
    return multi;
}

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
    rc = mk_config_check_base_url(cfg->base_url, err);
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
    if (asprintf(&http->auth_header, "Authorization: Bearer %s", token) < 0)
        http->auth_header = NULL;
    if (!http->base_url || !http->auth_header) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    http->auth_header_len = strlen(http->auth_header);
    http->allow_http = strncasecmp(http->base_url, "http://", 7) == 0;
    if (getrandom(&http->rng, sizeof(http->rng), GRND_NONBLOCK) != (ssize_t)sizeof(http->rng))
        http->rng = (uint64_t)http_now_ms() ^ ((uint64_t)(uintptr_t)http << 16);
    http->sleep_fn = http_default_sleep;
    mk_http_set_budget_ms(http, cfg->budget_ms);

    http->easy = curl_easy_init();
    http->share = curl_share_init();
    http->multi = http_multi_new();
    if (!http->easy || !http->share || !http->multi) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "could not set up libcurl");
        goto out;
    }
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
    if (http->multi)
        curl_multi_cleanup(http->multi);
    if (http->easy)
        curl_easy_cleanup(http->easy);
    if (http->share)
        curl_share_cleanup(http->share);
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
    return *name_len >= 6 && strncasecmp(eq - 6, "_proxy", 6) == 0;
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

void mk_http_set_budget_ms(mk_http *http, long ms)
{
    if (ms < 0)
        ms = 0;
    http->budget_ms = ms;
    http->deadline_ms = http_now_ms() + ms;
}

long mk_http_remaining_ms(const mk_http *http)
{
    long left = http->deadline_ms - http_now_ms();
    return left > 0 ? left : 0;
}

void mk_http_set_transport(mk_http *http, mk_http_transport_fn fn, void *ctx)
{
    http->transport = fn;
    http->transport_ctx = ctx;
}

void mk_http_set_sleep(mk_http *http, mk_http_sleep_fn fn, void *ctx)
{
    http->sleep_fn = fn ? fn : http_default_sleep;
    http->sleep_ctx = fn ? ctx : NULL;
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
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
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
        x->retry_after_ms = mk_http_parse_retry_after(value, (long)time(NULL));
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
    long remaining = mk_http_remaining_ms(http);
    long connect_ms = http->cfg->connect_timeout_ms;

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
    HTTP_SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    HTTP_SET(CURLOPT_TIMEOUT_MS, remaining);
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
static long http_retry_delay(mk_http *http, const struct mk_http_request *req,
                             const struct http_outcome *o, const struct mk_http_response *resp,
                             unsigned retry)
{
    bool post = strcmp(req->method, "POST") == 0;
    long retry_after = -1;

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
                           long started_ms, mk_error *err)
{
    if (o->kind == HTTP_TOO_BIG)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the answer is larger than max_response_size (%zu bytes)",
                            http->cfg->max_response_bytes);
    if (o->timed_out || (attempts == 0) || mk_http_remaining_ms(http) == 0)
        return mk_error_set(err, MK_ERR_UNAVAILABLE,
                            "no answer from %s within the %.1f s time budget",
                            http->base_url, (double)http->budget_ms / 1000.0);
    double took = (double)(http_now_ms() - started_ms) / 1000.0;
    return mk_error_set(err, MK_ERR_UNAVAILABLE, "could not reach %s: %s (%u attempt%s in %.1f s)",
                        http->base_url, o->message, attempts, attempts == 1 ? "" : "s", took);
}

/* curl_easy_perform on the client's multi handle. */
static CURLcode http_perform(mk_http *http, CURL *easy)
{
    CURLcode code = CURLE_FAILED_INIT;
    bool done = false;

    if (curl_multi_add_handle(http->multi, easy) != CURLM_OK)
        return CURLE_FAILED_INIT;
    while (!done) {
        int running = 0, left;
        CURLMsg *msg;
        if (curl_multi_perform(http->multi, &running) != CURLM_OK)
            break;
        while ((msg = curl_multi_info_read(http->multi, &left))) {
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
                code = msg->data.result;
                done = true;
            }
        }
        /* curl's own TIMEOUT_MS ends the transfer at the budget. */
        if (!done && curl_multi_poll(http->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            break;
    }
    curl_multi_remove_handle(http->multi, easy);
    return code;
}

static void http_attempt_easy(mk_http *http, const struct mk_http_request *req,
                              struct mk_http_response *resp, struct http_outcome *o)
{
    struct http_xfer x = { 0 };
    struct curl_slist *headers = NULL;
    mk_error e;

    http_xfer_reset(&x, http->cfg->max_response_bytes);
    if (http_setup_easy(http, http->easy, req, &x, &headers, &e) != MK_OK) {
        memset(o, 0, sizeof(*o));
        o->kind = HTTP_FATAL;
        snprintf(o->message, sizeof(o->message), "%.300s", e.message);
        goto out;
    }
    CURLcode code = http_perform(http, http->easy);
    http_finish_easy(http, http->easy, code, &x, resp, o);
out:
    /* The handle keeps pointers to these; drop them before freeing. */
    curl_easy_setopt(http->easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_easy_setopt(http->easy, CURLOPT_ERRORBUFFER, (char *)NULL);
    curl_easy_setopt(http->easy, CURLOPT_POSTFIELDS, (char *)NULL);
    http_wipe_headers(headers);
    free(x.body);
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

mk_status mk_http_do(mk_http *http, const struct mk_http_request *req,
                     struct mk_http_response *resp, mk_error *err)
{
    struct http_outcome o = { .kind = HTTP_TRANSIENT, .timed_out = true };
    long started = http_now_ms();
    unsigned attempts = 0;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after_ms = -1;
    if (!http_request_valid(req, err))
        return MK_ERR_USAGE;
    for (;;) {
        if (mk_http_remaining_ms(http) <= 0) {
            o.kind = HTTP_TRANSIENT;
            o.timed_out = true;
            break;
        }
        if (http->transport)
            http_attempt_seam(http, req, resp, &o);
        else
            http_attempt_easy(http, req, resp, &o);
        attempts++;
        long delay = http_retry_delay(http, req, &o, resp, attempts);
        if (delay < 0)
            break;
        mk_http_response_clear(resp);
        if (delay > 0)
            http->sleep_fn(http->sleep_ctx, delay);
    }
    if (o.kind == HTTP_ANSWER && attempts > 0)
        return MK_OK;
    mk_http_response_clear(resp);
    return http_fail(http, &o, attempts, started, err);
}

/* ---- many at once ---- */

enum http_job_state { HTTP_JOB_WAITING, HTTP_JOB_RUNNING, HTTP_JOB_DONE };

struct http_job {
    enum http_job_state state;
    unsigned attempts;
    long not_before_ms;
    struct http_outcome outcome;
};

struct http_slot {
    CURL *easy;
    size_t job;          /* index of the job it runs */
    bool busy;
    struct http_xfer x;
    struct curl_slist *headers;
};

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

static mk_status http_job_end(mk_http *http, struct http_job *job, long started,
                              struct mk_http_response *resp, mk_error *err)
{
    job->state = HTTP_JOB_DONE;
    if (job->outcome.kind == HTTP_ANSWER && job->attempts > 0)
        return MK_OK;
    mk_http_response_clear(resp);
    return http_fail(http, &job->outcome, job->attempts, started, err);
}

static mk_status http_do_many_curl(mk_http *http, const struct mk_http_request *reqs, size_t n,
                                   struct mk_http_response *resps, mk_status *statuses,
                                   mk_error *errs)
{
    mk_status rc = MK_OK;
    size_t slot_count = n < HTTP_MAX_IN_FLIGHT ? n : HTTP_MAX_IN_FLIGHT;
    struct http_slot slots[HTTP_MAX_IN_FLIGHT];
    struct http_job *jobs = calloc(n, sizeof(*jobs));
    long started = http_now_ms();
    size_t done = 0;

    memset(slots, 0, sizeof(slots));
    if (!jobs) {
        rc = MK_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < slot_count; i++) {
        slots[i].easy = curl_easy_init();
        if (!slots[i].easy) {
            rc = MK_ERR_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        jobs[i].outcome.kind = HTTP_TRANSIENT;
        jobs[i].outcome.timed_out = true;
        if (statuses[i] != MK_OK) {  /* refused by http_request_valid */
            jobs[i].state = HTTP_JOB_DONE;
            done++;
        }
    }

    while (done < n) {
        long now = http_now_ms();
        if (mk_http_remaining_ms(http) <= 0) {
            for (size_t s = 0; s < slot_count; s++) {
                if (!slots[s].busy)
                    continue;
                curl_multi_remove_handle(http->multi, slots[s].easy);
                jobs[slots[s].job].attempts++;
                jobs[slots[s].job].outcome.kind = HTTP_TRANSIENT;
                jobs[slots[s].job].outcome.timed_out = true;
                http_slot_release(&slots[s]);
            }
            for (size_t i = 0; i < n; i++) {
                if (jobs[i].state == HTTP_JOB_DONE)
                    continue;
                jobs[i].outcome.timed_out = true;
                if (jobs[i].outcome.kind == HTTP_ANSWER)
                    jobs[i].outcome.kind = HTTP_TRANSIENT;
                statuses[i] = http_job_end(http, &jobs[i], started, &resps[i],
                                           errs ? &errs[i] : NULL);
                done++;
            }
            break;
        }
        /* Start what may start. */
        for (size_t i = 0; i < n; i++) {
            if (jobs[i].state != HTTP_JOB_WAITING || jobs[i].not_before_ms > now)
                continue;
            struct http_slot *slot = NULL;
            for (size_t s = 0; s < slot_count && !slot; s++)
                if (!slots[s].busy)
                    slot = &slots[s];
            if (!slot)
                break;
            mk_error e;
            http_xfer_reset(&slot->x, http->cfg->max_response_bytes);
            slot->job = i;
            slot->busy = true;
            if (http_setup_easy(http, slot->easy, &reqs[i], &slot->x, &slot->headers, &e) != MK_OK
                || curl_multi_add_handle(http->multi, slot->easy) != CURLM_OK) {
                http_slot_release(slot);
                jobs[i].outcome.kind = HTTP_FATAL;
                snprintf(jobs[i].outcome.message, sizeof(jobs[i].outcome.message),
                         "could not start the request");
                jobs[i].attempts++;
                statuses[i] = http_job_end(http, &jobs[i], started, &resps[i],
                                           errs ? &errs[i] : NULL);
                done++;
                continue;
            }
            jobs[i].state = HTTP_JOB_RUNNING;
        }

        int running = 0;
        curl_multi_perform(http->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(http->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct http_slot *slot = NULL;
            for (size_t s = 0; s < slot_count && !slot; s++)
                if (slots[s].busy && slots[s].easy == msg->easy_handle)
                    slot = &slots[s];
            if (!slot)
                continue;
            CURLcode code = msg->data.result;
            size_t i = slot->job;
            curl_multi_remove_handle(http->multi, slot->easy);
            http_finish_easy(http, slot->easy, code, &slot->x, &resps[i], &jobs[i].outcome);
            http_slot_release(slot);
            jobs[i].attempts++;
            long delay = http_retry_delay(http, &reqs[i], &jobs[i].outcome, &resps[i],
                                          jobs[i].attempts);
            if (delay >= 0) {
                mk_http_response_clear(&resps[i]);
                jobs[i].state = HTTP_JOB_WAITING;
                jobs[i].not_before_ms = http_now_ms() + delay;
                continue;
            }
            statuses[i] = http_job_end(http, &jobs[i], started, &resps[i],
                                       errs ? &errs[i] : NULL);
            done++;
        }
        if (done >= n)
            break;

        /* Wait for traffic, or until the next retry is due. */
        long wait = mk_http_remaining_ms(http);
        now = http_now_ms();
        for (size_t i = 0; i < n; i++)
            if (jobs[i].state == HTTP_JOB_WAITING) {
                long until = jobs[i].not_before_ms - now;
                if (until < wait)
                    wait = until < 0 ? 0 : until;
            }
        if (wait > 1000)
            wait = 1000;
        if (running > 0)
            curl_multi_poll(http->multi, NULL, 0, (int)wait, NULL);
        else if (wait > 0)
            http->sleep_fn(http->sleep_ctx, wait);
    }
out:
    for (size_t s = 0; s < slot_count; s++) {
        if (slots[s].busy)
            curl_multi_remove_handle(http->multi, slots[s].easy);
        http_slot_release(&slots[s]);
        if (slots[s].easy)
            curl_easy_cleanup(slots[s].easy);
    }

    if (rc != MK_OK) {
        for (size_t i = 0; i < n; i++) {
            if (jobs && jobs[i].state == HTTP_JOB_DONE)
                continue;
            statuses[i] = mk_error_set(errs ? &errs[i] : NULL, rc, "could not set up libcurl");
        }
    }
    free(jobs);
    return rc;
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
    if (http->transport) {
        /* The seam is a plain function: run the requests one by one. */
        for (size_t i = 0; i < n; i++)
            if (statuses[i] == MK_OK)
                statuses[i] = mk_http_do(http, &reqs[i], &resps[i], errs ? &errs[i] : NULL);
    } else if (n > 0) {
        http_do_many_curl(http, reqs, n, resps, statuses, errs);
    }
    for (size_t i = 0; i < n; i++)
        if (statuses[i] != MK_OK)
            return statuses[i];
    return MK_OK;
}
