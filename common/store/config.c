/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config.c: /etc/mkio/mkio.conf into struct mk_config.
 *
 * One table (config_fields) names every key with the member it fills, its
 * default, its range and what it takes; defaults, the deep copy, freeing,
 * parsing and the checks all walk it, so a new key is one line there and
 * one member in config.h. Each rule is written once: a line is parsed into
 * the member (syntax only), and config_field_ok judges the member, for a
 * parsed file and for a struct the caller filled (mk_config_validate).
 *
 * Parsing works on a deep copy of the caller's struct and swaps it in only
 * when the whole text parsed and validated, so a bad file never leaves a
 * half-applied configuration behind. Nothing here depends on the locale:
 * identities, numbers and letters follow common/base/text.h.
 */
#include "store/config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/text.h"

#define CONFIG_MAX_FILE_BYTES (1024 * 1024)
#define CONFIG_MAX_PREFIX 16
#define CONFIG_MAX_WORD 512 /* longer than any id, user name or domain a list takes */
/* How much of a bad value an error message quotes. */
#define CONFIG_QUOTE "%.64s"
/* A reason, as long as an mk_error can say. */
#define CONFIG_WHY_MAX sizeof(((mk_error *)0)->message)

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

/* Lists hold canonical forms (text.h ids, lowercase domains), so membership
 * is an exact comparison. */
static bool config_list_contains(char *const *list, size_t count, const char *item)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i], item) == 0)
            return true;
    return false;
}

/* "4M", "512K", "100000": bytes, or false when malformed or above SIZE_MAX. */
static bool config_parse_size(const char *s, uint64_t *out)
{
    size_t len = strlen(s);
    uint64_t mult = 1, v;
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
    if (!mk_parse_u64(digits, SIZE_MAX / mult, &v))
        return false;
    *out = v * mult;
    return true;
}

static bool config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (mk_ascii_case_equal(s, yes[i])) {
            *out = true;
            return true;
        }
        if (mk_ascii_case_equal(s, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* A DNS name as written in a URL or an accept_inviter_domains entry:
 * ASCII letters, digits, '-' and '.', no empty label, not starting with
 * '.' or '-', not ending with '.'. */
static bool config_absolute_path_ok(const char *s)
{
    return s && s[0] == '/' && strlen(s) < PATH_MAX;
}

static bool config_absolute_path_or_empty_ok(const char *s)
{
    return !s || !*s || config_absolute_path_ok(s);
}

/* A path below the home directory: no leading '/', no empty, "." or ".."
 * component, so it cannot climb out of the home. */
static bool config_relative_path_ok(const char *s)
{
    if (!s || !*s || s[0] == '/' || strlen(s) >= PATH_MAX)
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

static bool config_group_prefix_ok(const char *s)
{
    return mk_group_name_valid_len(s, CONFIG_MAX_PREFIX);
}

static bool config_auth_header_ok(const char *s)
{
    return s && (strcmp(s, "authorization") == 0 || strcmp(s, "x-mkio-token") == 0);
}

/* List words: each checks one word and writes the form the list keeps. */
static bool config_word_org_id(const char *in, char *out, size_t out_len)
{
    char id[MK_ORG_ID_MAX + 1];
    if (!mk_org_id_canonical(in, id) || strlen(id) >= out_len)
        return false;
    memcpy(out, id, strlen(id) + 1);
    return true;
}

static bool config_word_domain(const char *in, char *out, size_t out_len)
{
    size_t len = strlen(in);
    if (!mk_dns_name_valid(in, len) || len >= out_len)
        return false;
    for (size_t i = 0; i <= len; i++)
        out[i] = (char)mk_ascii_tolower((unsigned char)in[i]);
    return true;
}

static bool config_word_user(const char *in, char *out, size_t out_len)
{
    size_t len = strlen(in);
    if (!mk_user_name_valid(in) || len >= out_len)
        return false;
    memcpy(out, in, len + 1);
    return true;
}

/* A PAM service name (text.h). */
static bool config_word_service(const char *in, char *out, size_t out_len)
{
    size_t len = strlen(in);
    if (!mk_service_name_valid(in) || len >= out_len)
        return false;
    memcpy(out, in, len + 1);
    return true;
}

bool mk_config_gid_reserved(unsigned long gid)
{
    if (gid <= 65535UL)
        return true; /* system 0-999, regular 1000-60000, systemd and nobody 60001-65535 */
    if (gid >= 200000UL && gid <= 2000200000UL)
        return true; /* SSSD's default id mapping (200000-2000200000), which also holds
                      * systemd-nspawn's container ranges (524288-1879048191) */
    return gid >= 2147483648UL;
}

/* NULL when FIRST-LAST is a usable gid_range, else why not. */
static const char *config_gid_range_problem(uint64_t lo, uint64_t hi)
{
    if (lo > hi)
        return "FIRST-LAST with FIRST <= LAST";
    if ((lo >= 65536 && hi <= 199999) || (lo >= 2000200001 && hi <= 2147483647))
        return NULL;
    if (hi >= 200000 && lo <= 2000200000)
        return "it overlaps a reserved range, SSSD's default id-mapping range "
               "200000-2000200000 (which holds the container ranges 524288-1879048191): the "
               "whole range must lie inside 65536-199999 or 2000200001-2147483647";
    return "it overlaps a reserved range (0-65535, or 2^31 and above): the whole range must "
           "lie inside 65536-199999 or 2000200001-2147483647";
}

/* ---- URLs: the reader checks their syntax; net/url.h the rest ----------- */

/* What this reader checks of a URL by itself (it links libc alone, and the
 * login gate, which never connects, reads the configuration with these
 * rules only): a scheme it could name and no space or control character.
 * Every program that connects passes net/url.h's mk_url_rules, which split
 * the URL with libcurl (docs/ARCHITECTURE.md, "Layers"). */
static mk_status config_check_url_lightly(const char *url, const char *what, const char *starts,
                                          const char *const *schemes, size_t n_schemes,
                                          mk_error *err)
{
    bool known = false;
    for (size_t i = 0; url && i < n_schemes; i++) {
        size_t len = strlen(schemes[i]);
        known = known || (mk_ascii_case_equal_n(url, schemes[i], len) &&
                          strncmp(url + len, "://", 3) == 0 && url[len + 3] != '\0');
    }
    for (const unsigned char *p = (const unsigned char *)url; known && *p; p++)
        known = *p > 0x20 && *p < 0x7f;
    if (!known)
        return mk_error_set(err, MK_ERR_USAGE, "the %s must start with %s and hold no space or "
                            "control character", what, starts);
    return MK_OK;
}

static mk_status config_syntax_base_url(const char *url, mk_error *err)
{
    static const char *const schemes[] = { "https", "http" };
    return config_check_url_lightly(url, "base URL", "https:// (or http://)", schemes, 2, err);
}

static mk_status config_syntax_proxy_url(const char *url, mk_error *err)
{
    static const char *const schemes[] = { "http", "https", "socks5", "socks5h" };
    return config_check_url_lightly(url, "proxy URL", "http://, https://, socks5:// or socks5h://",
                                    schemes, 4, err);
}
const struct mk_config_url_rules mk_config_url_syntax = {
    .base_url = config_syntax_base_url,
    .proxy = config_syntax_proxy_url,
};


/* Stores url without trailing slashes, so paths can be appended as-is. */
static bool config_set_base_url(struct mk_config *cfg, const char *url)
{
    char *copy = strdup(url);
    if (!copy)
        return false;
    size_t len = strlen(copy);
    const char *sep = strstr(copy, "://");
    size_t keep = sep ? (size_t)(sep - copy) + 4 : 0; /* "https://h": never below one host byte */
    while (len > keep && copy[len - 1] == '/')
        copy[--len] = '\0';
    free(cfg->base_url);
    cfg->base_url = copy;
    return true;
}

/* Seconds with decimals ("2.5"), or a number with one suffix: s, m, h or d
 * ("90s", "5m", "1.5h", "30d"). Milliseconds into *ms; false when malformed
 * or beyond 10,000 days. */
static bool config_parse_duration(const char *value, int64_t *ms)
{
    static const struct { char suffix; int64_t unit; } units[] = {
        { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
    };
    static const int64_t max_seconds = 10000LL * 86400;
    size_t len = strlen(value);
    int64_t unit = 1;
    char number[64];
    for (size_t i = 0; len > 1 && i < sizeof(units) / sizeof(units[0]); i++)
        if (value[len - 1] == units[i].suffix) {
            unit = units[i].unit;
            len--;
        }
    if (len == 0 || len >= sizeof(number))
        return false;
    memcpy(number, value, len);
    number[len] = '\0';
    int64_t in_ms;
    if (!mk_parse_seconds_ms(number, 0, max_seconds / unit * 1000, &in_ms))
        return false;
    *ms = in_ms * unit;
    return true;
}

/* ---- the table of keys -------------------------------------------------- */

enum config_type {
    CONFIG_TEXT,      /* char *, judged by text_ok */
    CONFIG_URL,       /* char *, judged by the caller's mk_config_url_rules */
    CONFIG_SECONDS,   /* int64_t milliseconds, written as seconds ("2.5"), or with a
                       * suffix s, m, h or d ("5m", "30d") */
    CONFIG_NUMBER,    /* an unsigned integer member (unsigned, size_t, uid_t) */
    CONFIG_SIZE,      /* size_t bytes, written with an optional K or M suffix */
    CONFIG_BOOL,      /* bool: yes/no, true/false, on/off, 1/0 */
    CONFIG_GID_RANGE, /* gid_min (member) and gid_max (member2): FIRST-LAST */
    CONFIG_LIST,      /* char ** (member) and its size_t count (member2) */
    CONFIG_PINS,      /* struct mk_pin * (member) and its size_t count (member2) */
};

struct config_field {
    const char *key;
    enum config_type type;
    size_t offset, size;  /* the member of struct mk_config */
    size_t offset2;       /* gid_max, or a list's count */
    bool repeatable;      /* LIST and PINS: each line adds */
    bool empty_ok;        /* "key =": no value (TEXT, URL) or nothing added (LIST) */
    const char *def_text; /* TEXT and URL default; LIST: its default entries, space-separated */
    uint64_t def, def2;   /* SECONDS, NUMBER, SIZE, BOOL; GID_RANGE: FIRST and LAST */
    uint64_t min, max;    /* SECONDS, NUMBER, SIZE: the range, checked in config_field_ok */
    const char *takes;    /* what the key takes, quoted in every message about it */
    bool (*text_ok)(const char *value);                      /* TEXT (value may be NULL) */
    bool proxy_url;                                          /* URL: proxy, not base_url */
    bool (*word)(const char *in, char *out, size_t out_len); /* LIST: checks, writes the kept form */
};

#define CONFIG_MEMBER(m) .offset = offsetof(struct mk_config, m), .size = sizeof(((struct mk_config *)0)->m)
#define CONFIG_MEMBER2(m) .offset2 = offsetof(struct mk_config, m)

static const struct config_field config_fields[] = {
    { .key = "base_url", .type = CONFIG_URL, CONFIG_MEMBER(base_url),
      .def_text = "https://app.mk.io",
      .takes = "https://HOST[:PORT][/PATH], or http:// only to a loopback address" },
    { .key = "ca_file", .type = CONFIG_TEXT, CONFIG_MEMBER(ca_file), .empty_ok = true,
      .text_ok = config_absolute_path_or_empty_ok,
      .takes = "an absolute path, or empty for the system's CA store" },
    { .key = "proxy", .type = CONFIG_URL, CONFIG_MEMBER(proxy), .empty_ok = true,
      .proxy_url = true, .takes = "SCHEME://HOST:PORT, or empty for none" },
    { .key = "connect_timeout", .type = CONFIG_SECONDS, CONFIG_MEMBER(connect_timeout_ms),
      .def = 3000, .min = 100, .max = 60000, .takes = "seconds from 0.1 to 60, decimals allowed" },
    { .key = "time_budget", .type = CONFIG_SECONDS, CONFIG_MEMBER(budget_ms),
      .def = 5000, .min = 500, .max = 300000, .takes = "seconds from 0.5 to 300, decimals allowed" },
    { .key = "retries", .type = CONFIG_NUMBER, CONFIG_MEMBER(retries),
      .def = 3, .min = 0, .max = 10, .takes = "a whole number from 0 to 10" },
    { .key = "max_response_size", .type = CONFIG_SIZE, CONFIG_MEMBER(max_response_bytes),
      .def = 4UL << 20, .min = 1UL << 10, .max = 64UL << 20,
      .takes = "bytes from 1K to 64M, with an optional K or M suffix" },
    { .key = "max_list_size", .type = CONFIG_SIZE, CONFIG_MEMBER(max_list_bytes),
      .def = 16UL << 20, .min = 64UL << 10, .max = 1024UL << 20,
      .takes = "bytes from 64K to 1024M, with an optional K or M suffix" },
    { .key = "max_list_records", .type = CONFIG_NUMBER, CONFIG_MEMBER(max_list_records),
      .def = 10000, .min = 1, .max = 1000000, .takes = "a whole number from 1 to 1000000" },
    { .key = "token_warn_days", .type = CONFIG_NUMBER, CONFIG_MEMBER(token_warn_days),
      .def = 14, .min = 0, .max = 365, .takes = "a whole number of days from 0 (never) to 365" },
    { .key = "auth_header", .type = CONFIG_TEXT, CONFIG_MEMBER(auth_header),
      .def_text = "authorization", .text_ok = config_auth_header_ok,
      .takes = "authorization (Authorization: Bearer TOKEN) or x-mkio-token (legacy tokens)" },
    { .key = "refresh_interval", .type = CONFIG_SECONDS, CONFIG_MEMBER(refresh_interval_ms),
      .def = 300000, .min = 0, .max = 7 * 86400000LL,
      .takes = "a time from 0 to 7d: seconds, or a number with a suffix s, m, h or d" },
    { .key = "login_refresh_interval", .type = CONFIG_SECONDS, CONFIG_MEMBER(login_refresh_interval_ms),
      .def = 0, .min = 0, .max = 7 * 86400000LL,
      .takes = "a time from 0 to 7d: seconds, or a number with a suffix s, m, h or d" },
    { .key = "login_services", .type = CONFIG_LIST, CONFIG_MEMBER(login_services),
      CONFIG_MEMBER2(login_service_count), .repeatable = true, .empty_ok = true,
      .def_text = MK_CONFIG_DEFAULT_LOGIN_SERVICES, .word = config_word_service,
      .takes = "a PAM service name (letters, digits, '.', '_', '+' and '-', at most 64 bytes)" },
    { .key = "max_stale", .type = CONFIG_SECONDS, CONFIG_MEMBER(max_stale_ms),
      .def = 30 * 86400000LL, .min = 0, .max = 3650 * 86400000LL,
      .takes = "a time from 0 (no bound) to 3650d: seconds, or a number with a suffix s, m, h or d" },
    { .key = "token_dir", .type = CONFIG_TEXT, CONFIG_MEMBER(token_dir),
      .def_text = "/etc/mkio/tokens", .text_ok = config_absolute_path_ok, .takes = "an absolute path" },
    { .key = "user_token", .type = CONFIG_TEXT, CONFIG_MEMBER(user_token_path),
      .def_text = ".config/mkio/token", .text_ok = config_relative_path_ok,
      .takes = "a file path relative to the home directory, without \".\", \"..\" or empty components" },
    { .key = "gid_range", .type = CONFIG_GID_RANGE, CONFIG_MEMBER(gid_min), CONFIG_MEMBER2(gid_max),
      .def = 2000200001, .def2 = 2147483646,
      .takes = "FIRST-LAST, the whole range inside 65536-199999 or 2000200001-2147483647" },
    { .key = "group_prefix", .type = CONFIG_TEXT, CONFIG_MEMBER(group_prefix),
      .def_text = "mk-", .text_ok = config_group_prefix_ok,
      .takes = "non-empty, [a-z_][a-z0-9_-]*, at most 16 characters" },
    { .key = "pin", .type = CONFIG_PINS, CONFIG_MEMBER(pins), CONFIG_MEMBER2(pin_count),
      .repeatable = true,
      .takes = "pin = ORG_ID GROUP_NAME GID: an organization id of letters, digits and '-', "
               "a group name [a-z_][a-z0-9_-]* of at most 32 characters, a gid inside gid_range" },
    { .key = "accept_invites", .type = CONFIG_BOOL, CONFIG_MEMBER(accept_invites), .def = 1,
      .takes = "yes/no, true/false, on/off, 1/0" },
    { .key = "accept_orgs", .type = CONFIG_LIST, CONFIG_MEMBER(accept_orgs), CONFIG_MEMBER2(accept_org_count),
      .repeatable = true, .empty_ok = true, .word = config_word_org_id,
      .takes = "an organization id (letters, digits and '-', at least one letter or digit, "
               "at most 128 characters)" },
    { .key = "accept_inviter_domains", .type = CONFIG_LIST, CONFIG_MEMBER(accept_inviter_domains),
      CONFIG_MEMBER2(accept_inviter_domain_count), .repeatable = true, .empty_ok = true,
      .word = config_word_domain, .takes = "a domain (a DNS name such as example.com, without '@')" },
    { .key = "min_uid", .type = CONFIG_NUMBER, CONFIG_MEMBER(min_uid),
      .def = 1000, .min = 0, .max = 4294967294U, .takes = "a uid from 0 to 4294967294" },
    { .key = "ignore_users", .type = CONFIG_LIST, CONFIG_MEMBER(ignore_users), CONFIG_MEMBER2(ignore_user_count),
      .repeatable = true, .empty_ok = true, .def_text = "root", .word = config_word_user,
      .takes = "a user name (no ':', ',', '/', space or control character, at most 256 bytes)" },
    { .key = "state_dir", .type = CONFIG_TEXT, CONFIG_MEMBER(state_dir),
      .def_text = "/var/lib/mkio", .text_ok = config_absolute_path_ok, .takes = "an absolute path" },
};

#define CONFIG_FIELD_COUNT (sizeof(config_fields) / sizeof(config_fields[0]))

/* The members a field names, typed. */
static void *config_member(const struct mk_config *cfg, size_t offset)
{
    return (char *)cfg + offset;
}

static char **config_text(const struct mk_config *cfg, const struct config_field *f)
{
    return config_member(cfg, f->offset);
}

static size_t *config_count(const struct mk_config *cfg, const struct config_field *f)
{
    return config_member(cfg, f->offset2);
}

/* An unsigned member of f->size bytes (unsigned, uid_t, size_t). */
static uint64_t config_number_get(const struct mk_config *cfg, const struct config_field *f)
{
    const void *at = config_member(cfg, f->offset);
    if (f->size == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, at, sizeof(v));
        return v;
    }
    uint64_t v;
    memcpy(&v, at, sizeof(v));
    return v;
}

/* False when v does not fit the member. */
static bool config_number_set(struct mk_config *cfg, const struct config_field *f, uint64_t v)
{
    void *at = config_member(cfg, f->offset);
    if (f->size == sizeof(uint32_t)) {
        if (v > UINT32_MAX)
            return false;
        uint32_t v32 = (uint32_t)v;
        memcpy(at, &v32, sizeof(v32));
        return true;
    }
    memcpy(at, &v, sizeof(v));
    return true;
}

/* ---- defaults, copy, free ----------------------------------------------- */

void mk_config_free(struct mk_config *cfg)
{
    if (!cfg)
        return;
    for (size_t k = 0; k < CONFIG_FIELD_COUNT; k++) {
        const struct config_field *f = &config_fields[k];
        switch (f->type) {
        case CONFIG_TEXT:
        case CONFIG_URL:
            free(*config_text(cfg, f));
            break;
        case CONFIG_LIST:
            config_list_free(config_member(cfg, f->offset), config_count(cfg, f));
            break;
        case CONFIG_PINS:
            for (size_t i = 0; i < cfg->pin_count; i++) {
                free(cfg->pins[i].org_id);
                free(cfg->pins[i].group_name);
            }
            free(cfg->pins);
            break;
        case CONFIG_SECONDS:
        case CONFIG_NUMBER:
        case CONFIG_SIZE:
        case CONFIG_BOOL:
        case CONFIG_GID_RANGE:
            break;
        }
    }
    free(cfg->source);
    memset(cfg, 0, sizeof(*cfg));
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

/* Sets or copies one field: from src when src is not NULL, else f's
 * default. dst's field must be empty (zeroed). False on memory. */
static bool config_field_fill(struct mk_config *dst, const struct mk_config *src,
                              const struct config_field *f)
{
    switch (f->type) {
    case CONFIG_TEXT:
    case CONFIG_URL:
        return config_strdup(config_text(dst, f), src ? *config_text(src, f) : f->def_text);
    case CONFIG_SECONDS: {
        int64_t ms = (int64_t)f->def;
        if (src)
            memcpy(&ms, config_member(src, f->offset), sizeof(ms));
        memcpy(config_member(dst, f->offset), &ms, sizeof(ms));
        return true;
    }
    case CONFIG_NUMBER:
    case CONFIG_SIZE:
        return config_number_set(dst, f, src ? config_number_get(src, f) : f->def);
    case CONFIG_BOOL:
        *(bool *)config_member(dst, f->offset) = src ? *(bool *)config_member(src, f->offset) : f->def != 0;
        return true;
    case CONFIG_GID_RANGE:
        *(gid_t *)config_member(dst, f->offset) = src ? *(gid_t *)config_member(src, f->offset) : (gid_t)f->def;
        *(gid_t *)config_member(dst, f->offset2) = src ? *(gid_t *)config_member(src, f->offset2) : (gid_t)f->def2;
        return true;
    case CONFIG_LIST: {
        char ***list = config_member(dst, f->offset);
        size_t *count = config_count(dst, f);
        if (!src) {
            for (const char *d = f->def_text; d && *d;) {
                size_t n = strcspn(d, " ");
                char word[CONFIG_MAX_WORD];
                if (n > 0 && n < sizeof(word)) {
                    memcpy(word, d, n);
                    word[n] = '\0';
                    if (!config_list_add(list, count, word))
                        return false;
                }
                d += n + (d[n] == ' ');
            }
            return true;
        }
        char **from = *(char ***)config_member(src, f->offset);
        for (size_t i = 0; i < *config_count(src, f); i++)
            if (!config_list_add(list, count, from[i]))
                return false;
        return true;
    }
    case CONFIG_PINS:
        for (size_t i = 0; src && i < src->pin_count; i++)
            if (!config_add_pin(dst, src->pins[i].org_id, src->pins[i].group_name, src->pins[i].gid))
                return false;
        return true;
    }
    return false;
}

/* Defaults (src NULL) or a deep copy of src; on failure dst is left zeroed. */
static bool config_fill(struct mk_config *dst, const struct mk_config *src)
{
    bool ok = true;

    memset(dst, 0, sizeof(*dst));
    for (size_t k = 0; ok && k < CONFIG_FIELD_COUNT; k++)
        ok = config_field_fill(dst, src, &config_fields[k]);
    ok = ok && config_strdup(&dst->source, src ? src->source : CONFIG_SOURCE_DEFAULTS);
    if (!ok)
        mk_config_free(dst);
    return ok;
}

mk_status mk_config_defaults(struct mk_config *cfg, mk_error *err)
{
    if (!config_fill(cfg, NULL))
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading the configuration");
    return MK_OK;
}

/* ---- the checks: each rule once ----------------------------------------- */

/* Whether pin i is well formed and clashes with no pin before it. NULL
 * when it is fine, else why not (in why, why_len bytes). */
static const char *config_pin_problem(const struct mk_config *cfg, size_t i, char *why, size_t why_len)
{
    const struct mk_pin *pin = &cfg->pins[i];

    if (!pin->org_id || !mk_org_id_valid(pin->org_id))
        snprintf(why, why_len, "\"" CONFIG_QUOTE "\" is not an organization id in canonical form "
                 "(lowercase letters, digits and '-')", pin->org_id ? pin->org_id : "");
    else if (!pin->group_name || !mk_group_name_valid(pin->group_name))
        snprintf(why, why_len, "\"" CONFIG_QUOTE "\" is not a portable group name "
                 "([a-z_][a-z0-9_-]*, at most %d characters)",
                 pin->group_name ? pin->group_name : "", MK_GROUP_NAME_MAX);
    else if (mk_config_gid_reserved(pin->gid))
        snprintf(why, why_len, "gid %lu is in a reserved range (gids 65536-199999 or "
                 "2000200001-2147483647, inside gid_range)", (unsigned long)pin->gid);
    else
        why[0] = '\0';
    for (size_t j = 0; !why[0] && j < i; j++) {
        const struct mk_pin *old = &cfg->pins[j];
        if (strcmp(old->org_id, pin->org_id) == 0)
            snprintf(why, why_len, "organization %s is already pinned (one pin per organization)",
                     pin->org_id);
        else if (strcmp(old->group_name, pin->group_name) == 0)
            snprintf(why, why_len, "group name %s is already pinned to organization %s "
                     "(each pin needs its own name)", pin->group_name, old->org_id);
        else if (old->gid == pin->gid)
            snprintf(why, why_len, "gid %lu is already pinned to organization %s "
                     "(each pin needs its own gid)", (unsigned long)pin->gid, old->org_id);
    }
    return why[0] ? why : NULL;
}

/* Whether the value of f in cfg is allowed: the one place each key's rule
 * (range, path form, URL, canonical list entries, pins) is checked. NULL
 * when it is, else why not (in why). */
static const char *config_field_problem(const struct mk_config *cfg, const struct config_field *f,
                                        const struct mk_config_url_rules *rules, char *why,
                                        size_t why_len)
{
    mk_error url_err;

    why[0] = '\0';
    switch (f->type) {
    case CONFIG_TEXT: {
        const char *v = *config_text(cfg, f);
        if (!f->text_ok(v))
            snprintf(why, why_len, "\"" CONFIG_QUOTE "\" is not allowed (%s)", v ? v : "", f->takes);
        break;
    }
    case CONFIG_URL: {
        const char *v = *config_text(cfg, f);
        mk_status (*check)(const char *, mk_error *) = f->proxy_url ? rules->proxy : rules->base_url;
        if ((v || !f->empty_ok) && check(v, &url_err) != MK_OK)
            snprintf(why, why_len, "%s", url_err.message);
        break;
    }
    case CONFIG_SECONDS: {
        int64_t ms;
        memcpy(&ms, config_member(cfg, f->offset), sizeof(ms));
        if (ms < (int64_t)f->min || ms > (int64_t)f->max)
            snprintf(why, why_len, "%" PRId64 ".%03" PRId64 " seconds is not allowed (%s)",
                     ms / 1000, ms % 1000 < 0 ? -(ms % 1000) : ms % 1000, f->takes);
        break;
    }
    case CONFIG_NUMBER:
    case CONFIG_SIZE: {
        uint64_t v = config_number_get(cfg, f);
        if (v < f->min || v > f->max)
            snprintf(why, why_len, "%" PRIu64 " is not allowed (%s)", v, f->takes);
        break;
    }
    case CONFIG_BOOL:
        break;
    case CONFIG_GID_RANGE: {
        gid_t lo = *(gid_t *)config_member(cfg, f->offset), hi = *(gid_t *)config_member(cfg, f->offset2);
        const char *problem = config_gid_range_problem(lo, hi);
        if (problem)
            snprintf(why, why_len, "%lu-%lu is not allowed (%s)", (unsigned long)lo,
                     (unsigned long)hi, problem);
        break;
    }
    case CONFIG_LIST: {
        char **list = *(char ***)config_member(cfg, f->offset);
        char kept[CONFIG_MAX_WORD];
        for (size_t i = 0; !why[0] && i < *config_count(cfg, f); i++)
            if (!f->word(list[i], kept, sizeof(kept)) || strcmp(kept, list[i]) != 0)
                snprintf(why, why_len, "\"" CONFIG_QUOTE "\" is not %s", list[i], f->takes);
        break;
    }
    case CONFIG_PINS:
        for (size_t i = 0; !why[0] && i < cfg->pin_count; i++)
            config_pin_problem(cfg, i, why, why_len);
        break;
    }
    return why[0] ? why : NULL;
}

/* Every field's rule, then what no single key can say. lines, when not
 * NULL, gives the line that set each field (0: none), for messages. */
static mk_status config_check(const struct mk_config *cfg, const struct mk_config_url_rules *rules,
                              const size_t *lines, mk_error *err)
{
    const char *src = cfg->source ? cfg->source : CONFIG_SOURCE_DEFAULTS;
    char why[CONFIG_WHY_MAX];

    for (size_t k = 0; k < CONFIG_FIELD_COUNT; k++) {
        const struct config_field *f = &config_fields[k];
        if (!config_field_problem(cfg, f, rules, why, sizeof(why)))
            continue;
        if (lines && lines[k] && !f->repeatable)
            return mk_error_set(err, MK_ERR_USAGE, "%s:%zu: %s: %s", src, lines[k], f->key, why);
        return mk_error_set(err, MK_ERR_USAGE, "%s: %s: %s", src, f->key, why);
    }
    if (cfg->connect_timeout_ms > cfg->budget_ms)
        return mk_error_set(err, MK_ERR_USAGE,
                            "%s: connect_timeout (%" PRId64 ".%03" PRId64 "s) is longer than time_budget "
                            "(%" PRId64 ".%03" PRId64 "s) (connect_timeout must not exceed time_budget)",
                            src, cfg->connect_timeout_ms / 1000, cfg->connect_timeout_ms % 1000,
                            cfg->budget_ms / 1000, cfg->budget_ms % 1000);
    for (size_t i = 0; i < cfg->pin_count; i++) {
        const struct mk_pin *pin = &cfg->pins[i];
        /* Pinned gids live in the same range the store allocates from, so
         * that a fleet's whole mkio gid space is one documented block. */
        if (pin->gid < cfg->gid_min || pin->gid > cfg->gid_max)
            return mk_error_set(err, MK_ERR_USAGE,
                                "%s: pin for %s has gid %lu outside gid_range %lu-%lu "
                                "(pinned gids must lie inside gid_range)", src, pin->org_id,
                                (unsigned long)pin->gid, (unsigned long)cfg->gid_min,
                                (unsigned long)cfg->gid_max);
    }
    return MK_OK;
}

mk_status mk_config_validate_with(const struct mk_config *cfg,
                                 const struct mk_config_url_rules *rules, mk_error *err)
{
    return config_check(cfg, rules ? rules : &mk_config_url_syntax, NULL, err);
}

mk_status mk_config_validate(const struct mk_config *cfg, mk_error *err)
{
    return mk_config_validate_with(cfg, NULL, err);
}

/* ---- one line ----------------------------------------------------------- */

struct config_parser {
    const char *name;     /* file name for messages */
    size_t line;
    size_t first_line[CONFIG_FIELD_COUNT]; /* 0: not seen yet in this text */
    mk_error *err;
};

static mk_status config_line_error(const struct config_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static mk_status config_line_error(const struct config_parser *p, const char *fmt, ...)
{
    char what[600];
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

static mk_status config_bad_value(const struct config_parser *p, const struct config_field *f,
                                  const char *value)
{
    return config_line_error(p, "%s: \"" CONFIG_QUOTE "\" is not allowed (%s)", f->key, value, f->takes);
}

/* Each space-separated word of value into f's list, in its kept form, once. */
static mk_status config_parse_words(struct config_parser *p, struct mk_config *cfg,
                                    const struct config_field *f, char *value)
{
    char *save = NULL;
    char kept[CONFIG_MAX_WORD];

    for (char *w = strtok_r(value, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (!f->word(w, kept, sizeof(kept)))
            return config_line_error(p, "%s: \"" CONFIG_QUOTE "\" is not %s", f->key, w, f->takes);
        char ***list = config_member(cfg, f->offset);
        size_t *count = config_count(cfg, f);
        if (!config_list_contains(*list, *count, kept) && !config_list_add(list, count, kept))
            return config_nomem(p);
    }
    return MK_OK;
}

static mk_status config_parse_pin(struct config_parser *p, struct mk_config *cfg,
                                  const struct config_field *f, char *value)
{
    char *save = NULL;
    char *id = strtok_r(value, " \t", &save);
    char *name = id ? strtok_r(NULL, " \t", &save) : NULL;
    char *gid_text = name ? strtok_r(NULL, " \t", &save) : NULL;
    char *extra = gid_text ? strtok_r(NULL, " \t", &save) : NULL;
    char org_id[MK_ORG_ID_MAX + 1], why[CONFIG_WHY_MAX];
    uint64_t gid;

    if (!gid_text || extra)
        return config_line_error(p, "pin: expected three fields (%s)", f->takes);
    if (!mk_org_id_canonical(id, org_id))
        return config_line_error(p, "pin: \"" CONFIG_QUOTE "\" is not an organization id (%s)", id, f->takes);
    if (!mk_parse_u64(gid_text, UINT64_MAX, &gid))
        return config_line_error(p, "pin: \"" CONFIG_QUOTE "\" is not a number (%s)", gid_text, f->takes);
    /* Before it is narrowed to a gid_t (the same rule config_pin_problem applies). */
    if (gid > ULONG_MAX || mk_config_gid_reserved((unsigned long)gid))
        return config_line_error(p, "pin: gid %" PRIu64 " is in a reserved range (gids 65536-199999 or "
                                 "2000200001-2147483647, inside gid_range)", gid);
    if (!config_add_pin(cfg, org_id, name, (gid_t)gid))
        return config_nomem(p);
    if (config_pin_problem(cfg, cfg->pin_count - 1, why, sizeof(why)))
        return config_line_error(p, "pin: %s", why);
    return MK_OK;
}

/* Parses value into f's member: the syntax of its type only. Whether the
 * value is allowed is config_field_problem's question, asked once the whole
 * text is read. */
static mk_status config_apply(struct config_parser *p, struct mk_config *cfg,
                              const struct config_field *f, char *value)
{
    uint64_t n = 0;
    int64_t ms = 0;

    switch (f->type) {
    case CONFIG_TEXT:
        return config_strdup(config_text(cfg, f), *value ? value : NULL) ? MK_OK : config_nomem(p);
    case CONFIG_URL:
        if (!*value)
            return config_strdup(config_text(cfg, f), NULL) ? MK_OK : config_nomem(p);
        if (!f->proxy_url)
            return config_set_base_url(cfg, value) ? MK_OK : config_nomem(p);
        return config_strdup(config_text(cfg, f), value) ? MK_OK : config_nomem(p);
    case CONFIG_SECONDS:
        if (!config_parse_duration(value, &ms))
            return config_bad_value(p, f, value);
        memcpy(config_member(cfg, f->offset), &ms, sizeof(ms));
        return MK_OK;
    case CONFIG_NUMBER:
        if (!mk_parse_u64(value, UINT64_MAX, &n) || !config_number_set(cfg, f, n))
            return config_bad_value(p, f, value);
        return MK_OK;
    case CONFIG_SIZE:
        if (!config_parse_size(value, &n) || !config_number_set(cfg, f, n))
            return config_bad_value(p, f, value);
        return MK_OK;
    case CONFIG_BOOL:
        if (!config_parse_bool(value, config_member(cfg, f->offset)))
            return config_bad_value(p, f, value);
        return MK_OK;
    case CONFIG_GID_RANGE: {
        char *dash = strchr(value, '-');
        uint64_t lo, hi;
        if (!dash)
            return config_bad_value(p, f, value);
        *dash = '\0';
        bool ok = mk_parse_u64(value, UINT32_MAX, &lo) && mk_parse_u64(dash + 1, UINT32_MAX, &hi);
        *dash = '-';
        if (!ok)
            return config_bad_value(p, f, value);
        *(gid_t *)config_member(cfg, f->offset) = (gid_t)lo;
        *(gid_t *)config_member(cfg, f->offset2) = (gid_t)hi;
        return MK_OK;
    }
    case CONFIG_LIST:
        return config_parse_words(p, cfg, f, value);
    case CONFIG_PINS:
        return config_parse_pin(p, cfg, f, value);
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

    size_t k = 0;
    while (k < CONFIG_FIELD_COUNT && strcmp(key_text, config_fields[k].key) != 0)
        k++;
    if (k == CONFIG_FIELD_COUNT) {
        if (!*key_text)
            return config_line_error(p, "a value without a key (key = value)");
        return config_line_error(p, "unknown key \"" CONFIG_QUOTE "\" (see the sample mkio.conf for "
                                 "the keys there are)", key_text);
    }
    const struct config_field *f = &config_fields[k];
    if (!f->repeatable && p->first_line[k])
        return config_line_error(p, "%s is given again, first on line %zu (each key once, except "
                                 "pin and the list keys)", key_text, p->first_line[k]);
    if (!p->first_line[k])
        p->first_line[k] = p->line;
    if (!*value && !f->empty_ok)
        return config_line_error(p, "%s has no value (%s)", key_text, f->takes);
    return config_apply(p, cfg, f, value);
}

mk_status mk_config_parse_string(const char *text, const char *name,
                                 struct mk_config *cfg, mk_error *err)
{
    return mk_config_parse_string_with(text, name, NULL, cfg, err);
}

mk_status mk_config_parse_string_with(const char *text, const char *name,
                                      const struct mk_config_url_rules *rules,
                                      struct mk_config *cfg, mk_error *err)
{
    struct mk_config work;
    struct config_parser p = { .name = name ? name : "(string)", .err = err };
    char *copy = NULL;
    mk_status st = MK_OK;

    if (!text || !cfg)
        return mk_error_set(err, MK_ERR_USAGE, "%s: no configuration text", p.name);
    if (!config_fill(&work, cfg))
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
    st = config_check(&work, rules ? rules : &mk_config_url_syntax, p.first_line, err);
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
    return mk_config_load_with(path, NULL, cfg, err);
}

mk_status mk_config_load_with(const char *path, const struct mk_config_url_rules *rules,
                              struct mk_config *cfg, mk_error *err)
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
    st = mk_config_parse_string_with(text, file, rules, cfg, err);
out:
    free(text);
    if (st != MK_OK)
        mk_config_free(cfg);
    return st;
}

mk_status mk_config_apply_env(struct mk_config *cfg, const struct mk_config_url_rules *rules,
                              mk_error *err)
{
    mk_error url_err;
    /* secure_getenv: a setuid caller never takes its server from the user. */
    const char *url = secure_getenv("MKIO_BASE_URL");

    if (!url || !*url)
        return MK_OK;
    if ((rules ? rules : &mk_config_url_syntax)->base_url(url, &url_err) != MK_OK)
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
    return config_list_contains(cfg->ignore_users, cfg->ignore_user_count, user);
}

bool mk_config_invite_allowed(const struct mk_config *cfg, const char *org_id,
                              const char *inviter_email, const char **why)
{
    const char *reason = NULL;
    char id[MK_ORG_ID_MAX + 1];

    if (!cfg->accept_invites) {
        reason = "invite acceptance is turned off";
    } else if (!org_id || !*org_id) {
        reason = "the invite names no organization";
    } else if (!mk_org_id_canonical(org_id, id)) {
        reason = "the invite's organization id is not one (letters, digits and '-')";
    } else if (cfg->accept_org_count > 0 &&
               !config_list_contains(cfg->accept_orgs, cfg->accept_org_count, id)) {
        reason = "the organization is not in accept_orgs";
    } else if (cfg->accept_inviter_domain_count > 0) {
        const char *at = inviter_email ? strrchr(inviter_email, '@') : NULL;
        bool listed = false;
        for (size_t i = 0; at && i < cfg->accept_inviter_domain_count; i++)
            listed = listed || mk_ascii_case_equal(cfg->accept_inviter_domains[i], at + 1);
        if (!at || !at[1])
            reason = "the inviter's email is unknown and accept_inviter_domains is set";
        else if (!listed)
            reason = "the inviter's email domain is not in accept_inviter_domains";
    }
    if (why)
        *why = reason;
    return reason == NULL;
}

const struct mk_pin *mk_config_pin_for(const struct mk_config *cfg, const char *org_id)
{
    char id[MK_ORG_ID_MAX + 1];

    if (!mk_org_id_canonical(org_id, id))
        return NULL;
    for (size_t i = 0; i < cfg->pin_count; i++)
        if (strcmp(cfg->pins[i].org_id, id) == 0)
            return &cfg->pins[i];
    return NULL;
}
