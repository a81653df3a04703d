/* common/config.c: /etc/mkio/mkio.conf into struct mk_config.
 *
 * Parsing works on a deep copy of the caller's struct and swaps it in only
 * when the whole text parsed and validated, so a bad file never leaves a
 * half-applied configuration behind.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_FILE_BYTES (1024 * 1024)
#define CONFIG_MAX_PREFIX 16
#define CONFIG_MAX_GROUP_NAME 32
#define CONFIG_MAX_ORG_ID 128
#define CONFIG_MIN_LIST_BYTES (64UL * 1024)
#define CONFIG_MAX_LIST_BYTES (1024UL * 1024 * 1024)
#define CONFIG_MAX_LIST_RECORDS 1000000UL
/* How much of a bad value an error message quotes. */
#define CONFIG_QUOTE "%.64s"

#define CONFIG_SOURCE_DEFAULTS "(defaults)"

/* ---- small helpers ------------------------------------------------------ */

static bool config_strdup(char **dst, const char *src)
{
    char *copy = NULL;

    if (src) {
        copy = strdup(src);
        if (!copy)
            return false;
    }
    free(*dst);
    *dst = copy;
    return true;
}

static bool config_list_add(char ***list, size_t *count, const char *item)
{
    char *copy = strdup(item);
    if (!copy)
        return false;
    char **grown = realloc(*list, (*count + 1) * sizeof(**list));
    if (!grown) {
        free(copy);
        return false;
    }
    grown[*count] = copy;
    *list = grown;
    (*count)++;
    return true;
}

static void config_list_free(char ***list, size_t *count)
{
    for (size_t i = 0; i < *count; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *count = 0;
}

static bool config_list_contains_nocase(char *const *list, size_t count, const char *item)
{
    for (size_t i = 0; i < count; i++)
        if (strcasecmp(list[i], item) == 0)
            return true;
    return false;
}

static bool config_is_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow. */
static bool config_parse_ulong(const char *s, unsigned long *out)
{
    if (!config_is_digits(s))
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Seconds with optional decimals ("3", "0.25") into milliseconds; digits
 * beyond the third decimal are dropped. */
static bool config_parse_seconds(const char *s, long *ms_out)
{
    const char *p = s;
    long whole = 0;
    size_t int_digits = 0;

    while (isdigit((unsigned char)*p)) {
        if (++int_digits > 6)
            return false;
        whole = whole * 10 + (*p - '0');
        p++;
    }
    if (int_digits == 0)
        return false;
    long frac = 0;
    if (*p == '.') {
        p++;
        size_t frac_digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (frac_digits < 3)
                frac = frac * 10 + (*p - '0');
            frac_digits++;
            p++;
        }
        if (frac_digits == 0)
            return false;
        for (; frac_digits < 3; frac_digits++)
            frac *= 10;
    }
    if (*p)
        return false;
    *ms_out = whole * 1000 + frac;
    return true;
}

/* "4M", "512K", "100000": bytes. */
static bool config_parse_size(const char *s, unsigned long *out)
{
    size_t len = strlen(s);
    unsigned long mult = 1;
    char digits[32];

    if (len == 0 || len >= sizeof(digits))
        return false;
    memcpy(digits, s, len + 1);
    char last = digits[len - 1];
    if (last == 'K' || last == 'k')
        mult = 1024;
    else if (last == 'M' || last == 'm')
        mult = 1024 * 1024;
    if (mult != 1)
        digits[len - 1] = '\0';
    unsigned long v;
    if (!config_parse_ulong(digits, &v) || v > ULONG_MAX / mult)
        return false;
    *out = v * mult;
    return true;
}

static bool config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* [a-z_][a-z0-9_-]*: a name every POSIX tool accepts as a group name. */
static bool config_portable_name(const char *s, size_t max_len)
{
    size_t len = strlen(s);
    if (len == 0 || len > max_len)
        return false;
    if (!(islower((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(islower(c) || isdigit(c) || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool config_org_id_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > CONFIG_MAX_ORG_ID)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-'))
            return false;
    }
    return true;
}

static bool config_domain_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '.'))
            return false;
        if (c == '.' && s[i + 1] == '.')
            return false;
    }
    return true;
}

static bool config_user_name_ok(const char *s)
{
    if (!*s || strlen(s) > 256)
        return false;
    for (; *s; s++)
        if (*s == ':' || *s == '/' || *s == ',')
            return false;
    return true;
}

static bool config_absolute_path_ok(const char *s)
{
    return s[0] == '/' && strlen(s) < PATH_MAX;
}

/* A path below the home directory: no leading '/', no empty, "." or ".."
 * component, so it cannot climb out of the home. */
static bool config_relative_path_ok(const char *s)
{
    if (!*s || s[0] == '/' || strlen(s) >= PATH_MAX)
        return false;
    const char *p = s;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!slash)
            break;
        p = slash + 1;
        if (!*p)
            return false; /* trailing slash: names a directory, not a file */
    }
    return true;
}

bool mk_config_gid_reserved(unsigned long gid)
{
    if (gid <= 65535UL)
        return true; /* system 0-999, regular 1000-60000, systemd and nobody 60001-65535 */
    if (gid >= 524288UL && gid <= 1879048191UL)
        return true; /* systemd-nspawn container ranges */
    return gid >= 2147483648UL;
}

static bool config_gid_range_ok(unsigned long lo, unsigned long hi)
{
    if (lo > hi)
        return false;
    return (lo >= 65536UL && hi <= 524287UL) ||
           (lo >= 1879048192UL && hi <= 2147483647UL);
}

/* ---- base_url ----------------------------------------------------------- */

static bool config_host_is_loopback(const char *host, size_t len)
{
    if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
        return true;
    if (len == 5 && memcmp(host, "[::1]", 5) == 0)
        return true;
    /* 127.a.b.c, each part 0-255 */
    char buf[16];
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    unsigned parts[4];
    int used = 0;
    if (sscanf(buf, "%3u.%3u.%3u.%3u%n", &parts[0], &parts[1], &parts[2], &parts[3], &used) != 4 ||
        (size_t)used != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isdigit((unsigned char)buf[i]) || buf[i] == '.'))
            return false;
    return parts[0] == 127 && parts[1] <= 255 && parts[2] <= 255 && parts[3] <= 255;
}

static bool config_hostname_ok(const char *h, size_t len)
{
    if (len == 0 || len > 253 || h[0] == '.' || h[0] == '-' || h[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!(isalnum(c) || c == '-' || c == '.'))
            return false;
        if (c == '.' && i + 1 < len && h[i + 1] == '.')
            return false;
    }
    return true;
}

static bool config_ipv6_literal_ok(const char *h, size_t len)
{
    /* "[...]" with hex digits, ':' and '.' (v4-mapped) inside */
    if (len < 4 || h[0] != '[' || h[len - 1] != ']')
        return false;
    for (size_t i = 1; i + 1 < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!(isxdigit(c) || c == ':' || c == '.'))
            return false;
    }
    return memchr(h, ':', len) != NULL;
}

/* RFC 3986 pchar plus '/': what a base path may hold. */
static bool config_path_char_ok(unsigned char c)
{
    return isalnum(c) || strchr("-._~!$&'()*+,;=:@/%", c) != NULL;
}

/* The host and optional port of a URL's authority (what lies between "//"
 * and the path). NULL when both are fine, else what is wrong, for a message
 * ("has a bad port ..."). *host_len gets the host's length (an IPv6 literal
 * keeps its brackets); *has_port, when not NULL, whether a port was given. */
static const char *config_authority_problem(const char *auth, size_t auth_len,
                                            size_t *host_len, bool *has_port)
{
    const char *port = NULL;

    *host_len = 0;
    if (has_port)
        *has_port = false;
    if (auth_len == 0)
        return "has no host";
    if (memchr(auth, '@', auth_len))
        return "must not carry a user name or password";
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', auth_len);
        if (!close)
            return "has an unclosed '['";
        *host_len = (size_t)(close - auth) + 1;
        if (*host_len < auth_len) {
            if (auth[*host_len] != ':')
                return "has a bad host";
            port = auth + *host_len + 1;
        }
        if (!config_ipv6_literal_ok(auth, *host_len))
            return "has a bad IPv6 address";
    } else {
        const char *colon = memchr(auth, ':', auth_len);
        *host_len = colon ? (size_t)(colon - auth) : auth_len;
        if (colon)
            port = colon + 1;
        if (!config_hostname_ok(auth, *host_len))
            return "has a bad host name";
    }
    if (port) {
        size_t port_len = (size_t)(auth + auth_len - port);
        unsigned long v = 0;
        bool ok = port_len > 0 && port_len <= 5;
        for (size_t i = 0; ok && i < port_len; i++) {
            if (!isdigit((unsigned char)port[i]))
                ok = false;
            else
                v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (!ok || v == 0 || v > 65535)
            return "has a bad port (a number from 1 to 65535)";
        if (has_port)
            *has_port = true;
    }
    return NULL;
}

mk_status mk_config_check_base_url(const char *url, mk_error *err)
{
    static const char allowed[] =
        "https://HOST[:PORT][/PATH], or http:// only to 127.x.x.x, [::1] or localhost";
    const char *rest;
    bool https;

    if (!url || !*url)
        return mk_error_set(err, MK_ERR_USAGE, "the base URL is empty (%s)", allowed);
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f)
            return mk_error_set(err, MK_ERR_USAGE,
                                "the base URL holds a space, a control or a non-ASCII character (%s)",
                                allowed);
    }
    if (strncasecmp(url, "https://", 8) == 0) {
        https = true;
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        https = false;
        rest = url + 7;
    } else {
        return mk_error_set(err, MK_ERR_USAGE, "the base URL must start with https:// (%s)", allowed);
    }
    if (strpbrk(url, "?#"))
        return mk_error_set(err, MK_ERR_USAGE,
                            "the base URL must not have a query or a fragment (%s)", allowed);

    size_t auth_len = strcspn(rest, "/");
    const char *path = rest + auth_len;
    size_t host_len;
    const char *problem = config_authority_problem(rest, auth_len, &host_len, NULL);
    if (problem)
        return mk_error_set(err, MK_ERR_USAGE, "the base URL %s (%s)", problem, allowed);
    for (const char *p = path; *p; p++)
        if (!config_path_char_ok((unsigned char)*p))
            return mk_error_set(err, MK_ERR_USAGE, "the base URL has a bad character in its path (%s)",
                                allowed);
    if (!https && !config_host_is_loopback(rest, host_len))
        return mk_error_set(err, MK_ERR_USAGE,
                            "the base URL uses http:// to a host that is not loopback (%s)", allowed);
    return MK_OK;
}

mk_status mk_config_check_proxy_url(const char *url, mk_error *err)
{
    static const char allowed[] =
        "http://HOST:PORT, https://HOST:PORT, socks5://HOST:PORT or socks5h://HOST:PORT";
    static const char *const schemes[] = { "http://", "https://", "socks5://", "socks5h://" };
    const char *rest = NULL;

    if (!url || !*url)
        return mk_error_set(err, MK_ERR_USAGE, "the proxy URL is empty (%s)", allowed);
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f)
            return mk_error_set(err, MK_ERR_USAGE,
                                "the proxy URL holds a space, a control or a non-ASCII character (%s)",
                                allowed);
    }
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]) && !rest; i++)
        if (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0)
            rest = url + strlen(schemes[i]);
    if (!rest)
        return mk_error_set(err, MK_ERR_USAGE, "the proxy URL has an unknown scheme (%s)", allowed);
    size_t auth_len = strcspn(rest, "/?#");
    /* Nothing after the port but an optional "/": a path, query or
     * fragment means nothing to a proxy and would only hide a typo. */
    if (rest[auth_len] && strcmp(rest + auth_len, "/") != 0)
        return mk_error_set(err, MK_ERR_USAGE,
                            "the proxy URL must not have a path, a query or a fragment (%s)", allowed);
    size_t host_len;
    bool has_port;
    const char *problem = config_authority_problem(rest, auth_len, &host_len, &has_port);
    if (problem)
        return mk_error_set(err, MK_ERR_USAGE, "the proxy URL %s (%s)", problem, allowed);
    /* libcurl's default proxy port is 1080 whatever the scheme: ask for it. */
    if (!has_port)
        return mk_error_set(err, MK_ERR_USAGE, "the proxy URL has no port (%s)", allowed);
    return MK_OK;
}

/* Stores url without trailing slashes, so paths can be appended as-is. */
static bool config_set_base_url(struct mk_config *cfg, const char *url)
{
    char *copy = strdup(url);
    if (!copy)
        return false;
    size_t len = strlen(copy);
    size_t scheme = strncasecmp(copy, "https://", 8) == 0 ? 8 : 7;
    while (len > scheme + 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    free(cfg->base_url);
    cfg->base_url = copy;
    return true;
}

/* ---- defaults, copy, free ----------------------------------------------- */

void mk_config_free(struct mk_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->base_url);
    free(cfg->ca_file);
    free(cfg->proxy);
    free(cfg->token_dir);
    free(cfg->user_token_path);
    free(cfg->group_prefix);
    for (size_t i = 0; i < cfg->pin_count; i++) {
        free(cfg->pins[i].org_id);
        free(cfg->pins[i].group_name);
    }
    free(cfg->pins);
    config_list_free(&cfg->accept_orgs, &cfg->accept_org_count);
    config_list_free(&cfg->accept_inviter_domains, &cfg->accept_inviter_domain_count);
    config_list_free(&cfg->ignore_users, &cfg->ignore_user_count);
    free(cfg->state_dir);
    free(cfg->source);
    memset(cfg, 0, sizeof(*cfg));
}

mk_status mk_config_defaults(struct mk_config *cfg, mk_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->connect_timeout_ms = 3000;
    cfg->budget_ms = 5000;
    cfg->retries = 3;
    cfg->max_response_bytes = 4UL * 1024 * 1024;
    cfg->max_list_bytes = 16UL * 1024 * 1024;
    cfg->max_list_records = 10000;
    cfg->gid_min = 1900000000;
    cfg->gid_max = 1999999999;
    cfg->accept_invites = true;
    cfg->min_uid = 1000;
    cfg->ca_file = NULL; /* empty: the system's CA store */
    cfg->proxy = NULL;   /* empty: no proxy */
    if (!config_strdup(&cfg->base_url, "https://app.mk.io") ||
        !config_strdup(&cfg->token_dir, "/etc/mkio/tokens") ||
        !config_strdup(&cfg->user_token_path, ".config/mkio/token") ||
        !config_strdup(&cfg->group_prefix, "mk-") ||
        !config_strdup(&cfg->state_dir, "/var/lib/mkio") ||
        !config_strdup(&cfg->source, CONFIG_SOURCE_DEFAULTS) ||
        !config_list_add(&cfg->ignore_users, &cfg->ignore_user_count, "root")) {
        mk_config_free(cfg);
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading the configuration");
    }
    return MK_OK;
}

static bool config_copy_list(char ***dst, size_t *dst_count, char *const *src, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!config_list_add(dst, dst_count, src[i]))
            return false;
    return true;
}

static bool config_add_pin(struct mk_config *cfg, const char *org_id, const char *name, gid_t gid)
{
    struct mk_pin pin = { .gid = gid };
    pin.org_id = strdup(org_id);
    pin.group_name = strdup(name);
    struct mk_pin *grown = NULL;
    if (pin.org_id && pin.group_name)
        grown = realloc(cfg->pins, (cfg->pin_count + 1) * sizeof(*cfg->pins));
    if (!grown) {
        free(pin.org_id);
        free(pin.group_name);
        return false;
    }
    grown[cfg->pin_count++] = pin;
    cfg->pins = grown;
    return true;
}

/* Deep copy; on failure dst is left zeroed. */
static bool config_copy(struct mk_config *dst, const struct mk_config *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->connect_timeout_ms = src->connect_timeout_ms;
    dst->budget_ms = src->budget_ms;
    dst->retries = src->retries;
    dst->max_response_bytes = src->max_response_bytes;
    dst->max_list_bytes = src->max_list_bytes;
    dst->max_list_records = src->max_list_records;
    dst->gid_min = src->gid_min;
    dst->gid_max = src->gid_max;
    dst->accept_invites = src->accept_invites;
    dst->min_uid = src->min_uid;
    bool ok = config_strdup(&dst->base_url, src->base_url) &&
              config_strdup(&dst->ca_file, src->ca_file) &&
              config_strdup(&dst->proxy, src->proxy) &&
              config_strdup(&dst->token_dir, src->token_dir) &&
              config_strdup(&dst->user_token_path, src->user_token_path) &&
              config_strdup(&dst->group_prefix, src->group_prefix) &&
              config_strdup(&dst->state_dir, src->state_dir) &&
              config_strdup(&dst->source, src->source) &&
              config_copy_list(&dst->accept_orgs, &dst->accept_org_count,
                               src->accept_orgs, src->accept_org_count) &&
              config_copy_list(&dst->accept_inviter_domains, &dst->accept_inviter_domain_count,
                               src->accept_inviter_domains, src->accept_inviter_domain_count) &&
              config_copy_list(&dst->ignore_users, &dst->ignore_user_count,
                               src->ignore_users, src->ignore_user_count);
    for (size_t i = 0; ok && i < src->pin_count; i++)
        ok = config_add_pin(dst, src->pins[i].org_id, src->pins[i].group_name, src->pins[i].gid);
    if (!ok)
        mk_config_free(dst);
    return ok;
}

/* ---- one line ----------------------------------------------------------- */

enum config_key {
    KEY_BASE_URL,
    KEY_CA_FILE,
    KEY_PROXY,
    KEY_CONNECT_TIMEOUT,
    KEY_TIME_BUDGET,
    KEY_RETRIES,
    KEY_MAX_RESPONSE_SIZE,
    KEY_MAX_LIST_SIZE,
    KEY_MAX_LIST_RECORDS,
    KEY_TOKEN_DIR,
    KEY_USER_TOKEN,
    KEY_GID_RANGE,
    KEY_GROUP_PREFIX,
    KEY_PIN,
    KEY_ACCEPT_INVITES,
    KEY_ACCEPT_ORGS,
    KEY_ACCEPT_INVITER_DOMAINS,
    KEY_MIN_UID,
    KEY_IGNORE_USERS,
    KEY_STATE_DIR,
    KEY_COUNT
};

static const struct {
    const char *name;
    bool repeatable;
} config_keys[KEY_COUNT] = {
    [KEY_BASE_URL] = { "base_url", false },
    [KEY_CA_FILE] = { "ca_file", false },
    [KEY_PROXY] = { "proxy", false },
    [KEY_CONNECT_TIMEOUT] = { "connect_timeout", false },
    [KEY_TIME_BUDGET] = { "time_budget", false },
    [KEY_RETRIES] = { "retries", false },
    [KEY_MAX_RESPONSE_SIZE] = { "max_response_size", false },
    [KEY_MAX_LIST_SIZE] = { "max_list_size", false },
    [KEY_MAX_LIST_RECORDS] = { "max_list_records", false },
    [KEY_TOKEN_DIR] = { "token_dir", false },
    [KEY_USER_TOKEN] = { "user_token", false },
    [KEY_GID_RANGE] = { "gid_range", false },
    [KEY_GROUP_PREFIX] = { "group_prefix", false },
    [KEY_PIN] = { "pin", true },
    [KEY_ACCEPT_INVITES] = { "accept_invites", false },
    [KEY_ACCEPT_ORGS] = { "accept_orgs", true },
    [KEY_ACCEPT_INVITER_DOMAINS] = { "accept_inviter_domains", true },
    [KEY_MIN_UID] = { "min_uid", false },
    [KEY_IGNORE_USERS] = { "ignore_users", true },
    [KEY_STATE_DIR] = { "state_dir", false },
};

struct config_parser {
    const char *name;     /* file name for messages */
    size_t line;
    size_t first_line[KEY_COUNT]; /* 0: not seen yet in this text */
    mk_error *err;
};

static mk_status config_line_error(const struct config_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static mk_status config_line_error(const struct config_parser *p, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mk_error_set(p->err, MK_ERR_USAGE, "%s:%zu: %s", p->name, p->line, what);
}

static mk_status config_nomem(const struct config_parser *p)
{
    return mk_error_set(p->err, MK_ERR_NOMEM, "%s:%zu: out of memory", p->name, p->line);
}

/* Calls fn for each space-separated word of value; stops at the first error. */
typedef mk_status (*config_word_fn)(struct config_parser *p, struct mk_config *cfg, const char *word);

static mk_status config_each_word(struct config_parser *p, struct mk_config *cfg, char *value,
                                  config_word_fn fn)
{
    char *save = NULL;
    for (char *w = strtok_r(value, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        mk_status st = fn(p, cfg, w);
        if (st != MK_OK)
            return st;
    }
    return MK_OK;
}

static mk_status config_add_accept_org(struct config_parser *p, struct mk_config *cfg, const char *w)
{
    if (!config_org_id_ok(w))
        return config_line_error(p, "accept_orgs: \"" CONFIG_QUOTE "\" is not an organization id "
                                 "(letters, digits and '-', at most %d characters)", w, CONFIG_MAX_ORG_ID);
    if (config_list_contains_nocase(cfg->accept_orgs, cfg->accept_org_count, w))
        return MK_OK;
    return config_list_add(&cfg->accept_orgs, &cfg->accept_org_count, w) ? MK_OK : config_nomem(p);
}

static mk_status config_add_domain(struct config_parser *p, struct mk_config *cfg, const char *w)
{
    if (!config_domain_ok(w))
        return config_line_error(p, "accept_inviter_domains: \"" CONFIG_QUOTE "\" is not a domain "
                                 "(a DNS name such as example.com, without '@')", w);
    if (config_list_contains_nocase(cfg->accept_inviter_domains, cfg->accept_inviter_domain_count, w))
        return MK_OK;
    if (!config_list_add(&cfg->accept_inviter_domains, &cfg->accept_inviter_domain_count, w))
        return config_nomem(p);
    char *stored = cfg->accept_inviter_domains[cfg->accept_inviter_domain_count - 1];
    for (char *c = stored; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    return MK_OK;
}

static mk_status config_add_ignore_user(struct config_parser *p, struct mk_config *cfg, const char *w)
{
    if (!config_user_name_ok(w))
        return config_line_error(p, "ignore_users: \"" CONFIG_QUOTE "\" is not a user name "
                                 "(no ':', ',' or '/', at most 256 bytes)", w);
    for (size_t i = 0; i < cfg->ignore_user_count; i++)
        if (strcmp(cfg->ignore_users[i], w) == 0)
            return MK_OK;
    return config_list_add(&cfg->ignore_users, &cfg->ignore_user_count, w) ? MK_OK : config_nomem(p);
}

static mk_status config_parse_pin(struct config_parser *p, struct mk_config *cfg, char *value)
{
    static const char allowed[] =
        "pin = ORG_ID GROUP_NAME GID: an organization id of letters, digits and '-', "
        "a group name [a-z_][a-z0-9_-]* of at most 32 characters, a gid inside gid_range";
    char *save = NULL;
    char *id = strtok_r(value, " \t", &save);
    char *name = id ? strtok_r(NULL, " \t", &save) : NULL;
    char *gid_text = name ? strtok_r(NULL, " \t", &save) : NULL;
    char *extra = gid_text ? strtok_r(NULL, " \t", &save) : NULL;
    unsigned long gid;

    if (!gid_text || extra)
        return config_line_error(p, "pin: expected three fields (%s)", allowed);
    if (!config_org_id_ok(id))
        return config_line_error(p, "pin: \"" CONFIG_QUOTE "\" is not an organization id (%s)", id, allowed);
    if (!config_portable_name(name, CONFIG_MAX_GROUP_NAME))
        return config_line_error(p, "pin: \"" CONFIG_QUOTE "\" is not a portable group name (%s)",
                                 name, allowed);
    if (!config_parse_ulong(gid_text, &gid))
        return config_line_error(p, "pin: \"" CONFIG_QUOTE "\" is not a number (%s)", gid_text, allowed);
    if (mk_config_gid_reserved(gid))
        return config_line_error(p, "pin: gid %lu is in a reserved range (gids 65536-524287 or "
                                 "1879048192-2147483647, inside gid_range)", gid);
    for (size_t i = 0; i < cfg->pin_count; i++) {
        const struct mk_pin *old = &cfg->pins[i];
        if (strcasecmp(old->org_id, id) == 0)
            return config_line_error(p, "pin: organization %s is already pinned (one pin per organization)", id);
        if (strcmp(old->group_name, name) == 0)
            return config_line_error(p, "pin: group name %s is already pinned to organization %s "
                                     "(each pin needs its own name)", name, old->org_id);
        if (old->gid == (gid_t)gid)
            return config_line_error(p, "pin: gid %lu is already pinned to organization %s "
                                     "(each pin needs its own gid)", gid, old->org_id);
    }
    return config_add_pin(cfg, id, name, (gid_t)gid) ? MK_OK : config_nomem(p);
}

static mk_status config_apply_key(struct config_parser *p, struct mk_config *cfg,
                                  enum config_key key, char *value)
{
    unsigned long n;
    long ms;
    mk_error url_err;

    switch (key) {
    case KEY_BASE_URL:
        if (mk_config_check_base_url(value, &url_err) != MK_OK)
            return config_line_error(p, "base_url: %s", url_err.message);
        return config_set_base_url(cfg, value) ? MK_OK : config_nomem(p);
    case KEY_CA_FILE:
        if (!*value)
            return config_strdup(&cfg->ca_file, NULL) ? MK_OK : config_nomem(p);
        if (!config_absolute_path_ok(value))
            return config_line_error(p, "ca_file: \"" CONFIG_QUOTE "\" is not an absolute path "
                                     "(an absolute path, or empty for the system's CA store)", value);
        return config_strdup(&cfg->ca_file, value) ? MK_OK : config_nomem(p);
    case KEY_PROXY:
        if (!*value)
            return config_strdup(&cfg->proxy, NULL) ? MK_OK : config_nomem(p);
        if (mk_config_check_proxy_url(value, &url_err) != MK_OK)
            return config_line_error(p, "proxy: %s", url_err.message);
        return config_strdup(&cfg->proxy, value) ? MK_OK : config_nomem(p);
    case KEY_CONNECT_TIMEOUT:
        if (!config_parse_seconds(value, &ms) || ms < 100 || ms > 60000)
            return config_line_error(p, "connect_timeout: \"" CONFIG_QUOTE "\" is not allowed "
                                     "(seconds from 0.1 to 60, decimals allowed)", value);
        cfg->connect_timeout_ms = ms;
        return MK_OK;
    case KEY_TIME_BUDGET:
        if (!config_parse_seconds(value, &ms) || ms < 500 || ms > 300000)
            return config_line_error(p, "time_budget: \"" CONFIG_QUOTE "\" is not allowed "
                                     "(seconds from 0.5 to 300, decimals allowed)", value);
        cfg->budget_ms = ms;
        return MK_OK;
    case KEY_RETRIES:
        if (!config_parse_ulong(value, &n) || n > 10)
            return config_line_error(p, "retries: \"" CONFIG_QUOTE "\" is not allowed "
                                     "(a whole number from 0 to 10)", value);
        cfg->retries = (unsigned)n;
        return MK_OK;
    case KEY_MAX_RESPONSE_SIZE:
        if (!config_parse_size(value, &n) || n < 1024UL || n > 64UL * 1024 * 1024)
            return config_line_error(p, "max_response_size: \"" CONFIG_QUOTE "\" is not allowed "
                                     "(bytes from 1K to 64M, with an optional K or M suffix)", value);
        cfg->max_response_bytes = n;
        return MK_OK;
    case KEY_MAX_LIST_SIZE:
        if (!config_parse_size(value, &n) || n < CONFIG_MIN_LIST_BYTES || n > CONFIG_MAX_LIST_BYTES)
            return config_line_error(p, "max_list_size: \"" CONFIG_QUOTE "\" is not allowed "
                                     "(bytes from 64K to 1024M, with an optional K or M suffix)", value);
        cfg->max_list_bytes = n;
        return MK_OK;
    case KEY_MAX_LIST_RECORDS:
        if (!config_parse_ulong(value, &n) || n < 1 || n > CONFIG_MAX_LIST_RECORDS)
            return config_line_error(p, "max_list_records: \"" CONFIG_QUOTE "\" is not allowed "
                                     "(a whole number from 1 to 1000000)", value);
        cfg->max_list_records = n;
        return MK_OK;
    case KEY_TOKEN_DIR:
    case KEY_STATE_DIR: {
        if (!config_absolute_path_ok(value))
            return config_line_error(p, "%s: \"" CONFIG_QUOTE "\" is not an absolute path "
                                     "(an absolute path)", config_keys[key].name, value);
        char **dst = key == KEY_TOKEN_DIR ? &cfg->token_dir : &cfg->state_dir;
        return config_strdup(dst, value) ? MK_OK : config_nomem(p);
    }
    case KEY_USER_TOKEN:
        if (!config_relative_path_ok(value))
            return config_line_error(p, "user_token: \"" CONFIG_QUOTE "\" is not allowed (a file path "
                                     "relative to the home directory, without \".\", \"..\" or empty "
                                     "components)", value);
        return config_strdup(&cfg->user_token_path, value) ? MK_OK : config_nomem(p);
    case KEY_GID_RANGE: {
        char *dash = strchr(value, '-');
        unsigned long lo, hi;
        if (!dash)
            return config_line_error(p, "gid_range: \"" CONFIG_QUOTE "\" is not a range (FIRST-LAST)", value);
        *dash = '\0';
        bool ok = config_parse_ulong(value, &lo) && config_parse_ulong(dash + 1, &hi);
        *dash = '-';
        if (!ok)
            return config_line_error(p, "gid_range: \"" CONFIG_QUOTE "\" is not a range (FIRST-LAST)", value);
        if (lo > hi)
            return config_line_error(p, "gid_range: %lu is above %lu (FIRST-LAST with FIRST <= LAST)", lo, hi);
        if (!config_gid_range_ok(lo, hi))
            return config_line_error(p, "gid_range: %lu-%lu overlaps a reserved range (the whole range "
                                     "inside 65536-524287 or 1879048192-2147483647)", lo, hi);
        cfg->gid_min = (gid_t)lo;
        cfg->gid_max = (gid_t)hi;
        return MK_OK;
    }
    case KEY_GROUP_PREFIX:
        if (!config_portable_name(value, CONFIG_MAX_PREFIX))
            return config_line_error(p, "group_prefix: \"" CONFIG_QUOTE "\" is not allowed "
                                     "(non-empty, [a-z_][a-z0-9_-]*, at most %d characters)",
                                     value, CONFIG_MAX_PREFIX);
        return config_strdup(&cfg->group_prefix, value) ? MK_OK : config_nomem(p);
    case KEY_PIN:
        return config_parse_pin(p, cfg, value);
    case KEY_ACCEPT_INVITES: {
        bool b;
        if (!config_parse_bool(value, &b))
            return config_line_error(p, "accept_invites: \"" CONFIG_QUOTE "\" is not a boolean "
                                     "(yes/no, true/false, on/off, 1/0)", value);
        cfg->accept_invites = b;
        return MK_OK;
    }
    case KEY_ACCEPT_ORGS:
        return config_each_word(p, cfg, value, config_add_accept_org);
    case KEY_ACCEPT_INVITER_DOMAINS:
        return config_each_word(p, cfg, value, config_add_domain);
    case KEY_IGNORE_USERS:
        return config_each_word(p, cfg, value, config_add_ignore_user);
    case KEY_MIN_UID:
        if (!config_parse_ulong(value, &n) || n >= UINT32_MAX)
            return config_line_error(p, "min_uid: \"" CONFIG_QUOTE "\" is not allowed "
                                     "(a uid from 0 to 4294967294)", value);
        cfg->min_uid = (uid_t)n;
        return MK_OK;
    case KEY_COUNT:
        break;
    }
    return config_line_error(p, "internal error: unhandled key");
}

static char *config_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        s[--len] = '\0';
    return s;
}

static mk_status config_parse_line(struct config_parser *p, struct mk_config *cfg, char *raw)
{
    for (const char *c = raw; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        if ((ch < 0x20 && ch != '\t' && !(ch == '\r' && c[1] == '\0')) || ch == 0x7f)
            return config_line_error(p, "holds a control character (printable text only)");
    }
    char *line = config_trim(raw);
    if (!*line || *line == '#')
        return MK_OK;

    char *eq = strchr(line, '=');
    if (!eq)
        return config_line_error(p, "expected \"key = value\" (a setting, a comment starting with '#', "
                                 "or a blank line)");
    *eq = '\0';
    char *key_text = config_trim(line);
    char *value = config_trim(eq + 1);

    enum config_key key = KEY_COUNT;
    for (int k = 0; k < KEY_COUNT; k++)
        if (strcmp(key_text, config_keys[k].name) == 0)
            key = (enum config_key)k;
    if (key == KEY_COUNT) {
        if (!*key_text)
            return config_line_error(p, "a value without a key (key = value)");
        return config_line_error(p, "unknown key \"" CONFIG_QUOTE "\" (see the sample mkio.conf for "
                                 "the keys there are)", key_text);
    }
    if (!config_keys[key].repeatable && p->first_line[key])
        return config_line_error(p, "%s is given again, first on line %zu (each key once, except "
                                 "pin and the list keys)", key_text, p->first_line[key]);
    if (!p->first_line[key])
        p->first_line[key] = p->line;
    /* ca_file empty means the system store, proxy empty no proxy; an empty
     * list adds nothing. */
    if (!*value && key != KEY_CA_FILE && key != KEY_PROXY && key != KEY_ACCEPT_ORGS && key != KEY_ACCEPT_INVITER_DOMAINS &&
        key != KEY_IGNORE_USERS)
        return config_line_error(p, "%s has no value (see the sample mkio.conf for what it takes)",
                                 key_text);
    return config_apply_key(p, cfg, key, value);
}

mk_status mk_config_parse_string(const char *text, const char *name,
                                 struct mk_config *cfg, mk_error *err)
{
    struct mk_config work;
    struct config_parser p = { .name = name ? name : "(string)", .err = err };
    char *copy = NULL;
    mk_status st = MK_OK;

    if (!text || !cfg)
        return mk_error_set(err, MK_ERR_USAGE, "%s: no configuration text", p.name);
    if (!config_copy(&work, cfg))
        return mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", p.name);
    copy = strdup(text);
    if (!copy || !config_strdup(&work.source, p.name)) {
        st = mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", p.name);
        goto out;
    }
    char *line = copy;
    while (line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        p.line++;
        st = config_parse_line(&p, &work, line);
        if (st != MK_OK)
            goto out;
        line = nl ? nl + 1 : NULL;
    }
    st = mk_config_validate(&work, err);
    if (st != MK_OK)
        goto out;
    mk_config_free(cfg);
    *cfg = work;
    memset(&work, 0, sizeof(work));
out:
    free(copy);
    mk_config_free(&work);
    return st;
}

/* ---- whole-config checks ------------------------------------------------ */

mk_status mk_config_validate(const struct mk_config *cfg, mk_error *err)
{
    const char *src = cfg->source ? cfg->source : CONFIG_SOURCE_DEFAULTS;
    mk_error url_err;

    if (mk_config_check_base_url(cfg->base_url, &url_err) != MK_OK)
        return mk_error_set(err, MK_ERR_USAGE, "%s: base_url: %s", src, url_err.message);
    if (cfg->connect_timeout_ms < 100 || cfg->connect_timeout_ms > 60000)
        return mk_error_set(err, MK_ERR_USAGE, "%s: connect_timeout is out of range (0.1 to 60 seconds)", src);
    if (cfg->budget_ms < 500 || cfg->budget_ms > 300000)
        return mk_error_set(err, MK_ERR_USAGE, "%s: time_budget is out of range (0.5 to 300 seconds)", src);
    if (cfg->connect_timeout_ms > cfg->budget_ms)
        return mk_error_set(err, MK_ERR_USAGE,
                            "%s: connect_timeout (%ld.%03lds) is longer than time_budget (%ld.%03lds) "
                            "(connect_timeout must not exceed time_budget)", src,
                            cfg->connect_timeout_ms / 1000, cfg->connect_timeout_ms % 1000,
                            cfg->budget_ms / 1000, cfg->budget_ms % 1000);
    if (cfg->retries > 10)
        return mk_error_set(err, MK_ERR_USAGE, "%s: retries is out of range (0 to 10)", src);
    if (cfg->max_response_bytes < 1024 || cfg->max_response_bytes > 64UL * 1024 * 1024)
        return mk_error_set(err, MK_ERR_USAGE, "%s: max_response_size is out of range (1K to 64M)", src);
    if (cfg->max_list_bytes < CONFIG_MIN_LIST_BYTES || cfg->max_list_bytes > CONFIG_MAX_LIST_BYTES)
        return mk_error_set(err, MK_ERR_USAGE, "%s: max_list_size is out of range (64K to 1024M)", src);
    if (cfg->max_list_records < 1 || cfg->max_list_records > CONFIG_MAX_LIST_RECORDS)
        return mk_error_set(err, MK_ERR_USAGE, "%s: max_list_records is out of range (1 to 1000000)", src);
    if (cfg->proxy && *cfg->proxy && mk_config_check_proxy_url(cfg->proxy, &url_err) != MK_OK)
        return mk_error_set(err, MK_ERR_USAGE, "%s: proxy: %s", src, url_err.message);
    if (!cfg->token_dir || !config_absolute_path_ok(cfg->token_dir))
        return mk_error_set(err, MK_ERR_USAGE, "%s: token_dir must be an absolute path", src);
    if (!cfg->state_dir || !config_absolute_path_ok(cfg->state_dir))
        return mk_error_set(err, MK_ERR_USAGE, "%s: state_dir must be an absolute path", src);
    if (cfg->ca_file && *cfg->ca_file && !config_absolute_path_ok(cfg->ca_file))
        return mk_error_set(err, MK_ERR_USAGE, "%s: ca_file must be an absolute path or empty", src);
    if (!cfg->user_token_path || !config_relative_path_ok(cfg->user_token_path))
        return mk_error_set(err, MK_ERR_USAGE,
                            "%s: user_token must be a path relative to the home, without \"..\"", src);
    if (!cfg->group_prefix || !config_portable_name(cfg->group_prefix, CONFIG_MAX_PREFIX))
        return mk_error_set(err, MK_ERR_USAGE,
                            "%s: group_prefix must be non-empty, [a-z_][a-z0-9_-]*, at most %d characters",
                            src, CONFIG_MAX_PREFIX);
    if (!config_gid_range_ok(cfg->gid_min, cfg->gid_max))
        return mk_error_set(err, MK_ERR_USAGE,
                            "%s: gid_range %lu-%lu is not allowed (FIRST <= LAST, the whole range inside "
                            "65536-524287 or 1879048192-2147483647)", src,
                            (unsigned long)cfg->gid_min, (unsigned long)cfg->gid_max);
    for (size_t i = 0; i < cfg->pin_count; i++) {
        const struct mk_pin *pin = &cfg->pins[i];
        if (!pin->org_id || !config_org_id_ok(pin->org_id) || !pin->group_name ||
            !config_portable_name(pin->group_name, CONFIG_MAX_GROUP_NAME))
            return mk_error_set(err, MK_ERR_USAGE, "%s: pin %zu has a bad organization id or group name",
                                src, i + 1);
        if (mk_config_gid_reserved(pin->gid))
            return mk_error_set(err, MK_ERR_USAGE, "%s: pin for %s has gid %lu in a reserved range",
                                src, pin->org_id, (unsigned long)pin->gid);
        /* Pinned gids live in the same range the store allocates from, so
         * that a fleet's whole mkio gid space is one documented block. */
        if (pin->gid < cfg->gid_min || pin->gid > cfg->gid_max)
            return mk_error_set(err, MK_ERR_USAGE,
                                "%s: pin for %s has gid %lu outside gid_range %lu-%lu "
                                "(pinned gids must lie inside gid_range)", src, pin->org_id,
                                (unsigned long)pin->gid, (unsigned long)cfg->gid_min,
                                (unsigned long)cfg->gid_max);
        for (size_t j = 0; j < i; j++) {
            const struct mk_pin *old = &cfg->pins[j];
            if (strcasecmp(old->org_id, pin->org_id) == 0 || strcmp(old->group_name, pin->group_name) == 0 ||
                old->gid == pin->gid)
                return mk_error_set(err, MK_ERR_USAGE,
                                    "%s: pins for %s and %s share an organization id, a name or a gid "
                                    "(each pin needs its own)", src, old->org_id, pin->org_id);
        }
    }
    return MK_OK;
}

/* ---- files and environment ---------------------------------------------- */

/* Reads the whole file into a NUL-terminated buffer after the ownership and
 * mode checks; symlinks are followed on purpose (config management often
 * links /etc/mkio/mkio.conf), and the checks apply to the file reached. */
static mk_status config_read_file(const char *path, bool missing_ok, char **text, bool *missing,
                                  mk_error *err)
{
    int fd = -1;
    char *buf = NULL;
    mk_status st = MK_OK;
    struct stat sb;

    *text = NULL;
    *missing = false;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok) {
            *missing = true;
            goto out;
        }
        if (errno == ENOENT)
            st = mk_error_set(err, MK_ERR_IO, "%s: no such file (give an existing configuration file)", path);
        else
            st = mk_error_set(err, MK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) < 0) {
        st = mk_error_set(err, MK_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s: is not a regular file (the configuration must be a "
                          "regular file)", path);
        goto out;
    }
    if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s: is writable by group or others (mode %04o); "
                          "refused (make it 0644 or stricter)", path, (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    if (geteuid() == 0 && sb.st_uid != 0) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s: is owned by uid %lu, not root; refused (it must be "
                          "owned by root)", path, (unsigned long)sb.st_uid);
        goto out;
    }
    if (sb.st_size > CONFIG_MAX_FILE_BYTES) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s: is larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    buf = malloc(CONFIG_MAX_FILE_BYTES + 2);
    if (!buf) {
        st = mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, buf + used, CONFIG_MAX_FILE_BYTES + 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = mk_error_set(err, MK_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > CONFIG_MAX_FILE_BYTES) {
            st = mk_error_set(err, MK_ERR_USAGE, "%s: is larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
            goto out;
        }
    }
    buf[used] = '\0';
    if (memchr(buf, '\0', used)) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s: holds a NUL byte (a text file is expected)", path);
        goto out;
    }
    *text = buf;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return st;
}

mk_status mk_config_load(const char *path, struct mk_config *cfg, mk_error *err)
{
    char *text = NULL;
    bool missing = false;
    const char *file = path ? path : MK_CONFIG_DEFAULT_PATH;

    mk_status st = mk_config_defaults(cfg, err);
    if (st != MK_OK)
        return st;
    st = config_read_file(file, path == NULL, &text, &missing, err);
    if (st != MK_OK || missing)
        goto out;
    st = mk_config_parse_string(text, file, cfg, err);
out:
    free(text);
    if (st != MK_OK)
        mk_config_free(cfg);
    return st;
}

mk_status mk_config_apply_env(struct mk_config *cfg, mk_error *err)
{
    mk_error url_err;
    /* secure_getenv: a setuid caller never takes its server from the user. */
    const char *url = secure_getenv("MKIO_BASE_URL");

    if (!url || !*url)
        return MK_OK;
    if (mk_config_check_base_url(url, &url_err) != MK_OK)
        return mk_error_set(err, MK_ERR_USAGE, "MKIO_BASE_URL: %s", url_err.message);
    if (!config_set_base_url(cfg, url))
        return mk_error_set(err, MK_ERR_NOMEM, "MKIO_BASE_URL: out of memory");
    return MK_OK;
}

/* ---- questions the other parts ask -------------------------------------- */

bool mk_config_user_ignored(const struct mk_config *cfg, const char *user, uid_t uid)
{
    if (!user || uid < cfg->min_uid)
        return true;
    for (size_t i = 0; i < cfg->ignore_user_count; i++)
        if (strcmp(cfg->ignore_users[i], user) == 0)
            return true;
    return false;
}

bool mk_config_invite_allowed(const struct mk_config *cfg, const char *org_id,
                              const char *inviter_email, const char **why)
{
    const char *reason = NULL;

    if (!cfg->accept_invites) {
        reason = "invite acceptance is turned off";
    } else if (!org_id || !*org_id) {
        reason = "the invite names no organization";
    } else if (cfg->accept_org_count > 0 &&
               !config_list_contains_nocase(cfg->accept_orgs, cfg->accept_org_count, org_id)) {
        reason = "the organization is not in accept_orgs";
    } else if (cfg->accept_inviter_domain_count > 0) {
        const char *at = inviter_email ? strrchr(inviter_email, '@') : NULL;
        if (!at || !at[1])
            reason = "the inviter's email is unknown and accept_inviter_domains is set";
        else if (!config_list_contains_nocase(cfg->accept_inviter_domains,
                                              cfg->accept_inviter_domain_count, at + 1))
            reason = "the inviter's email domain is not in accept_inviter_domains";
    }
    if (why)
        *why = reason;
    return reason == NULL;
}

const struct mk_pin *mk_config_pin_for(const struct mk_config *cfg, const char *org_id)
{
    if (!org_id)
        return NULL;
    for (size_t i = 0; i < cfg->pin_count; i++)
        if (strcasecmp(cfg->pins[i].org_id, org_id) == 0)
            return &cfg->pins[i];
    return NULL;
}
