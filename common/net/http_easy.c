/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/http_easy.c: one attempt of the HTTP client on a libcurl
 * easy handle: its options (the policy of net/http.h that libcurl
 * enforces: TLS, protocols, proxy, timeouts, size cap), the callbacks that
 * collect the answer, and the classification of how the transfer ended.
 */
#include "net/http_easy.h"
#include "base/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#define HTTP_USER_AGENT "mkio-orgs/0.1"

/* A value of ms for libcurl's long options and poll's int timeout; a
 * 32-bit long holds 24 days. */
static long http_ms_to_long(int64_t ms)
{
    if (ms < 0)
        return 0;
    return ms > INT32_MAX ? (long)INT32_MAX : (long)ms;
}

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

void http_xfer_reset(struct http_xfer *x, size_t limit)
{
    free(x->body);
    memset(x, 0, sizeof(*x));
    x->limit = limit;
    x->retry_after_ms = -1;
}

void http_wipe_headers(struct curl_slist *headers)
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
mk_status http_setup_easy(mk_http *http, CURL *easy, const struct mk_http_request *req,
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
    /* Connections are opened with SOCK_CLOEXEC (which holds even in a
     * program without the socket interposer), or taken from the pool of
     * pre-connected ones (http_preconnect.c). */
    if (c == CURLE_OK)
        c = http_pre_setup(http, easy);
    HTTP_SET(CURLOPT_USERAGENT, HTTP_USER_AGENT);
    HTTP_SET(CURLOPT_HTTPHEADER, *headers);
    HTTP_SET(CURLOPT_SHARE, http->share);
    /* A request waits for a connection still being made to say whether it
     * multiplexes (h2) rather than open one of its own: a login's accepts
     * then all share one connection (http_easy.h). Only TLS says (ALPN):
     * over plain http (loopback only) libcurl 7.88 never learns, and every
     * request would wait for the one connection in turn. */
    HTTP_SET(CURLOPT_PIPEWAIT, http->allow_http ? 0L : 1L);
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
void http_finish_easy(mk_http *http, CURL *easy, CURLcode code, struct http_xfer *x,
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
