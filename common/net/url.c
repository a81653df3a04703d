/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/url.c: what a URL the client connects to must be. libcurl's
 * curl_url() splits it; the project keeps its own rules (net/url.h). */
#include "net/url.h"

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"

/* 127.0.0.0/8 written as a dotted quad, [::1], or localhost. */
static bool url_host_is_loopback(const char *host)
{
    if (mk_ascii_case_equal(host, "localhost") || strcmp(host, "[::1]") == 0)
        return true;
    unsigned parts = 0;
    uint64_t v;
    char part[4];
    const char *p = host;
    for (;;) {
        size_t n = strcspn(p, ".");
        if (n == 0 || n >= sizeof(part))
            return false;
        memcpy(part, p, n);
        part[n] = '\0';
        if (!mk_parse_u64(part, 255, &v) || (parts == 0 && v != 127))
            return false;
        parts++;
        if (!p[n])
            break;
        p += n + 1;
    }
    return parts == 4;
}

/* RFC 3986 pchar plus '/': what a base path may hold. */
static bool url_path_ok(const char *path)
{
    for (const char *p = path; *p; p++)
        if (!(mk_ascii_alnum(*p) || strchr("-._~!$&'()*+,;=:@/%", *p)))
            return false;
    return true;
}

/* The parts of a URL libcurl reads (NULL when absent; free with
 * url_parts_free). */
struct url_parts {
    char *scheme, *user, *password, *options, *host, *port, *path, *query, *fragment;
};

static void url_parts_free(struct url_parts *u)
{
    char **parts[] = { &u->scheme, &u->user, &u->password, &u->options, &u->host,
                       &u->port, &u->path, &u->query, &u->fragment };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        curl_free(*parts[i]);
        *parts[i] = NULL;
    }
}

/* What curl_url_set's answer rc says is wrong with a URL, NULL for none. */
static const char *url_set_problem(CURLUcode rc)
{
    switch (rc) {
    case CURLUE_OK:
        return NULL;
    case CURLUE_OUT_OF_MEMORY:
        return "cannot be checked (out of memory)";
    case CURLUE_NO_HOST:
        return "has no host";
    case CURLUE_BAD_PORT_NUMBER:
        return "has a bad port (a number from 1 to 65535)";
    case CURLUE_BAD_IPV6:
        return "has a bad IPv6 address or an unclosed '['";
    case CURLUE_BAD_SCHEME:
    case CURLUE_BAD_SLASHES:
        return "has an unknown scheme";
    case CURLUE_BAD_LOGIN:
    case CURLUE_BAD_USER:
    case CURLUE_BAD_PASSWORD:
        return "must not carry a user name or password";
    default:
        return "has a bad host";
    }
}

/* Splits url with curl_url() and applies what every URL of mkio.conf must
 * be: printable ASCII, one of schemes, no user name, password or login
 * options, no query or fragment, a DNS name or an IPv6 literal as host,
 * a port (when given) from 1 to 65535. libcurl is lenient where a typo
 * should be an error (it reads "https:///x" as host x, "127.1" as
 * 127.0.0.1, drops an empty port, decodes "%41" in a host), so the host it
 * will connect to must also be the host as written. NULL when all holds
 * (u filled), else what is wrong, for a message that never repeats the URL
 * (it may carry a password). */
static const char *url_split(const char *url, const char *const *schemes, size_t n_schemes,
                                    struct url_parts *u)
{
    static const struct {
        CURLUPart part;
        size_t offset;
    } parts[] = {
        { CURLUPART_SCHEME, offsetof(struct url_parts, scheme) },
        { CURLUPART_USER, offsetof(struct url_parts, user) },
        { CURLUPART_PASSWORD, offsetof(struct url_parts, password) },
        { CURLUPART_OPTIONS, offsetof(struct url_parts, options) },
        { CURLUPART_HOST, offsetof(struct url_parts, host) },
        { CURLUPART_PORT, offsetof(struct url_parts, port) },
        { CURLUPART_PATH, offsetof(struct url_parts, path) },
        { CURLUPART_QUERY, offsetof(struct url_parts, query) },
        { CURLUPART_FRAGMENT, offsetof(struct url_parts, fragment) },
    };
    const char *problem = NULL;
    CURLU *h = NULL;

    memset(u, 0, sizeof(*u));
    if (!url || !*url)
        return "is empty";
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return "holds a space, a control or a non-ASCII character";
    h = curl_url();
    if (!h)
        return "cannot be checked (out of memory)";
    CURLUcode rc = curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    problem = url_set_problem(rc);
    if (problem)
        goto out;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char **dst = (char **)((char *)u + parts[i].offset);
        rc = curl_url_get(h, parts[i].part, dst, 0);
        if (rc == CURLUE_OUT_OF_MEMORY) {
            problem = "cannot be checked (out of memory)";
            goto out;
        }
    }
    bool known = false;
    for (size_t i = 0; u->scheme && i < n_schemes; i++)
        known = known || strcmp(u->scheme, schemes[i]) == 0;
    if (!known) {
        problem = "has an unknown scheme";
    } else if (u->user || u->password || u->options) {
        problem = "must not carry a user name or password";
    } else if (u->query) {
        problem = "must not have a query";
    } else if (u->fragment) {
        problem = "must not have a fragment";
    } else if (!u->host || !*u->host) {
        problem = "has no host";
    } else if (u->host[0] != '[' && !mk_dns_name_valid(u->host, strlen(u->host))) {
        problem = "has a bad host name";
    } else {
        /* The host as written: right after "SCHEME://" (the scheme has no
         * ':' and curl accepted it, so the first ':' ends it). */
        const char *written = strchr(url, ':');
        size_t host_len = strlen(u->host);
        char after = '\0';
        if (written && strncmp(written, "://", 3) == 0 &&
            mk_ascii_case_equal_n(written + 3, u->host, host_len))
            after = written[3 + host_len];
        else
            after = '!';
        if (after != '\0' && after != '/' && after != ':')
            problem = "has a host that is not written plainly (a name, a dotted quad or [IPv6])";
        else if ((after == ':') != (u->port != NULL))
            problem = "has a bad port (a number from 1 to 65535)";
    }
    if (!problem && u->port) {
        uint64_t port;
        if (!mk_parse_u64(u->port, 65535, &port) || port == 0)
            problem = "has a bad port (a number from 1 to 65535)";
    }
out:
    curl_url_cleanup(h);
    if (problem)
        url_parts_free(u);
    return problem;
}

/* Whether a URL path ends with /api/v1 (any case, trailing '/' ignored). */
static bool url_path_ends_with_api(const char *path)
{
    static const char api[] = "/api/v1";
    size_t len = path ? strlen(path) : 0;
    while (len > 0 && path[len - 1] == '/')
        len--;
    return len >= sizeof(api) - 1 &&
           mk_ascii_case_equal_n(path + len - (sizeof(api) - 1), api, sizeof(api) - 1);
}

mk_status mk_url_check_base(const char *url, mk_error *err)
{
    static const char allowed[] =
        "https://HOST[:PORT][/PATH], or http:// only to 127.x.x.x, [::1] or localhost";
    static const char *const schemes[] = { "https", "http" };
    struct url_parts u;
    const char *problem = url_split(url, schemes, 2, &u);

    if (problem && strcmp(problem, "has an unknown scheme") == 0)
        return mk_error_set(err, MK_ERR_USAGE, "the base URL must start with https:// (%s)", allowed);
    if (problem)
        return mk_error_set(err, MK_ERR_USAGE, "the base URL %s (%s)", problem, allowed);
    if (!url_path_ok(u.path ? u.path : ""))
        problem = "has a bad character in its path";
    /* The client adds /api/v1 to every call: a base URL that already ends
     * with it would make every call "no such path". */
    else if (url_path_ends_with_api(u.path))
        problem = "ends with /api/v1, which every call adds: give the site alone, "
                  "e.g. https://app.mk.io";
    /* The project's own rule: plain http only where no network is crossed. */
    else if (strcmp(u.scheme, "http") == 0 && !url_host_is_loopback(u.host))
        problem = "uses http:// to a host that is not loopback";
    url_parts_free(&u);
    if (problem)
        return mk_error_set(err, MK_ERR_USAGE, "the base URL %s (%s)", problem, allowed);
    return MK_OK;
}

mk_status mk_url_check_proxy(const char *url, mk_error *err)
{
    static const char allowed[] =
        "http://HOST:PORT, https://HOST:PORT, socks5://HOST:PORT or socks5h://HOST:PORT";
    static const char *const schemes[] = { "http", "https", "socks5", "socks5h" };
    struct url_parts u;
    const char *problem = url_split(url, schemes, 4, &u);

    if (problem)
        return mk_error_set(err, MK_ERR_USAGE, "the proxy URL %s (%s)", problem, allowed);
    /* Nothing after the port but an optional "/": a path means nothing to
     * a proxy and would only hide a typo. libcurl's default proxy port is
     * 1080 whatever the scheme: ask for it. */
    if (u.path && strcmp(u.path, "/") != 0)
        problem = "must not have a path, a query or a fragment";
    else if (!u.port)
        problem = "has no port";
    url_parts_free(&u);
    if (problem)
        return mk_error_set(err, MK_ERR_USAGE, "the proxy URL %s (%s)", problem, allowed);
    return MK_OK;
}

const struct mk_config_url_rules mk_url_rules = {
    .base_url = mk_url_check_base,
    .proxy = mk_url_check_proxy,
};
