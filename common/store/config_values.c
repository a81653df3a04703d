/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config_values.c: the syntax of one value (sizes, booleans,
 * durations, paths, list entries, gid ranges, URLs), each rule written
 * once; the key table (config_fields.c) names which key takes which.
 * Nothing here depends on the locale (common/base/text.h).
 */
#include "store/config_values.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/gidmap.h"
#include "base/text.h"

#define CONFIG_MAX_PREFIX 16

bool config_parse_size(const char *s, uint64_t *out)
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

bool config_parse_bool(const char *s, bool *out)
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
bool config_absolute_path_ok(const char *s)
{
    return s && s[0] == '/' && strlen(s) < PATH_MAX;
}

bool config_absolute_path_or_empty_ok(const char *s)
{
    return !s || !*s || config_absolute_path_ok(s);
}

/* A path below the home directory: no leading '/', no empty, "." or ".."
 * component, so it cannot climb out of the home. */
bool config_relative_path_ok(const char *s)
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

bool config_group_prefix_ok(const char *s)
{
    return mk_group_name_valid_len(s, CONFIG_MAX_PREFIX);
}

bool config_auth_header_ok(const char *s)
{
    return s && (strcmp(s, "authorization") == 0 || strcmp(s, "x-mkio-token") == 0);
}

/* List words: each checks one word and writes the form the list keeps. */
bool config_word_org_id(const char *in, char *out, size_t out_len)
{
    char id[MK_ORG_ID_MAX + 1];
    if (!mk_org_id_canonical(in, id) || strlen(id) >= out_len)
        return false;
    memcpy(out, id, strlen(id) + 1);
    return true;
}

bool config_word_gid(const char *in, char *out, size_t out_len)
{
    uint64_t gid;
    if (!mk_parse_u64(in, 4294967294U, &gid) || gid == 0)
        return false;
    return (size_t)snprintf(out, out_len, "%" PRIu64, gid) < out_len;
}

bool config_word_domain(const char *in, char *out, size_t out_len)
{
    size_t len = strlen(in);
    if (!mk_dns_name_valid(in, len) || len >= out_len)
        return false;
    for (size_t i = 0; i <= len; i++)
        out[i] = (char)mk_ascii_tolower((unsigned char)in[i]);
    return true;
}

bool config_word_user(const char *in, char *out, size_t out_len)
{
    size_t len = strlen(in);
    if (!mk_user_name_valid(in) || len >= out_len)
        return false;
    memcpy(out, in, len + 1);
    return true;
}

/* A PAM service name (text.h). */
bool config_word_service(const char *in, char *out, size_t out_len)
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

const char *config_gid_range_problem_in(uint64_t lo, uint64_t hi, const char *gid_map,
                                        bool *in_userns)
{
    const char *problem = config_gid_range_problem(lo, hi);
    struct mk_gidmap map;

    *in_userns = false;
    if (!problem || lo > hi)
        return problem;
    /* Outside a user namespace (or no map to read): invariant 3 alone. */
    if (mk_gidmap_read(gid_map, &map) < 0 || map.all)
        return problem;
    *in_userns = true;
    if (lo >= MK_CONFIG_USERNS_GID_FIRST && hi <= MK_CONFIG_USERNS_GID_LAST &&
        mk_gidmap_covers(&map, (uint32_t)lo, (uint32_t)hi))
        return NULL;
    return problem;
}

/* The widest part of lo..hi that map covers, clipped to at most 10000 gids
 * (from its top when from_top): false when the map has none of it. */
static bool config_propose_in(const struct mk_gidmap *map, uint64_t lo, uint64_t hi,
                              bool from_top, gid_t *out_lo, gid_t *out_hi)
{
    uint64_t best_lo = 0, best_hi = 0;
    bool found = false;

    for (size_t i = 0; i < map->count; i++) {
        uint64_t a = map->extents[i].first, b = a + map->extents[i].count - 1;
        if (a < lo)
            a = lo;
        if (b > hi)
            b = hi;
        if (a > b || (found && b - a <= best_hi - best_lo))
            continue;
        best_lo = a;
        best_hi = b;
        found = true;
    }
    if (!found)
        return false;
    if (best_hi - best_lo >= 10000) {
        if (from_top)
            best_lo = best_hi - 9999;
        else
            best_hi = best_lo + 9999;
    }
    *out_lo = (gid_t)best_lo;
    *out_hi = (gid_t)best_hi;
    return true;
}

bool mk_config_gid_range_propose(const struct mk_gidmap *map, gid_t *lo, gid_t *hi)
{
    if (map->all) {
        *lo = 2000200001;
        *hi = 2147483646;
        return true;
    }
    return config_propose_in(map, 2000200001, 2147483646, false, lo, hi) ||
           config_propose_in(map, 65536, 199999, false, lo, hi) ||
           config_propose_in(map, MK_CONFIG_USERNS_GID_FIRST, MK_CONFIG_USERNS_GID_LAST - 1, true,
                             lo, hi);
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
bool config_set_base_url(struct mk_config *cfg, const char *url)
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
bool config_parse_duration(const char *value, int64_t *ms)
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
