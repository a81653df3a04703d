/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config_fields.c: the table of mkio.conf's keys.
 *
 * One table (config_fields) names every key with the member it fills, its
 * default, its range and what it takes; defaults, the deep copy, freeing,
 * parsing (config_parse.c) and the checks all walk it, so a new key is one
 * line here and one member in config.h. Each rule is written once: a line
 * is parsed into the member (syntax only), and config_field_problem judges
 * the member, for a parsed file and for a struct the caller filled
 * (mk_config_validate). tests/man-check reads the keys from this file.
 */
#include "store/config_fields.h"
#include "store/config_values.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"

/* ---- small helpers ------------------------------------------------------ */

bool config_strdup(char **dst, const char *src)
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

/* The arrays of lists and pins grow by doubling: they are reallocated when
 * their count is 0 or a power of two (to twice that), so an ids file's
 * 100,000 pins cost no quadratic copying. Every list and pin array is made
 * by these two functions (a parse or a deep copy), so the allocated size is
 * always the next power of two. */
static bool config_array_full(size_t count)
{
    return (count & (count - 1)) == 0;
}

static size_t config_array_grown(size_t count)
{
    return count ? count * 2 : 1;
}

bool config_list_add(char ***list, size_t *count, const char *item)
{
    char *copy = strdup(item);
    if (!copy)
        return false;
    char **grown = *list;
    if (config_array_full(*count))
        grown = realloc(*list, config_array_grown(*count) * sizeof(**list));
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
bool config_list_contains(char *const *list, size_t count, const char *item)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i], item) == 0)
            return true;
    return false;
}

/* "4M", "512K", "100000": bytes, or false when malformed or above SIZE_MAX. */

/* ---- the table of keys -------------------------------------------------- */


#define CONFIG_MEMBER(m) .offset = offsetof(struct mk_config, m), .size = sizeof(((struct mk_config *)0)->m)
#define CONFIG_MEMBER2(m) .offset2 = offsetof(struct mk_config, m)

const struct config_field config_fields[] = {
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
      .takes = "FIRST-LAST, the whole range inside 65536-199999 or 2000200001-2147483647 "
               "(in a user namespace also inside 1000-60000 and its gid map)" },
    { .key = "group_prefix", .type = CONFIG_TEXT, CONFIG_MEMBER(group_prefix),
      .def_text = "mk-", .text_ok = config_group_prefix_ok,
      .takes = "non-empty, [a-z_][a-z0-9_-]*, at most 16 characters" },
    { .key = "pin", .type = CONFIG_PINS, CONFIG_MEMBER(pins), CONFIG_MEMBER2(pin_count),
      .repeatable = true,
      .takes = "pin = ORG_ID GROUP_NAME GID: an organization id of letters, digits and '-', "
               "a group name [a-z_][a-z0-9_-]* of at most 32 characters, a gid inside gid_range" },
    { .key = "ids_file", .type = CONFIG_TEXT, CONFIG_MEMBER(ids_file), .empty_ok = true,
      .text_ok = config_absolute_path_or_empty_ok,
      .takes = "an absolute path to a file of pin and retired lines, or empty for none" },
    { .key = "retired", .type = CONFIG_LIST, CONFIG_MEMBER(retired), CONFIG_MEMBER2(retired_count),
      .repeatable = true, .empty_ok = true, .word = config_word_gid,
      .takes = "a gid from 1 to 4294967294 that no organization is given" },
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
    { .key = "userdb_export", .type = CONFIG_BOOL, CONFIG_MEMBER(userdb_export), .def = 0,
      .takes = "yes/no, true/false, on/off, 1/0" },
};

const size_t config_field_count = sizeof(config_fields) / sizeof(config_fields[0]);
_Static_assert(sizeof(config_fields) / sizeof(config_fields[0]) <= CONFIG_FIELDS_MAX,
               "CONFIG_FIELDS_MAX (config_fields.h) is below the number of keys");

/* An unsigned member of f->size bytes (unsigned, uid_t, size_t). */
uint64_t config_number_get(const struct mk_config *cfg, const struct config_field *f)
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
bool config_number_set(struct mk_config *cfg, const struct config_field *f, uint64_t v)
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
    for (size_t k = 0; k < config_field_count; k++) {
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
    free(cfg->base_url_origin);
    config_origins_free(cfg);
    config_pin_index_free(cfg->pin_index);
    memset(cfg, 0, sizeof(*cfg));
}

bool config_add_pin(struct mk_config *cfg, const char *org_id, const char *name, gid_t gid)
{
    struct mk_pin pin = { .gid = gid };
    pin.org_id = strdup(org_id);
    pin.group_name = strdup(name);
    struct mk_pin *grown = NULL;
    if (pin.org_id && pin.group_name)
        grown = config_array_full(cfg->pin_count)
                    ? realloc(cfg->pins, config_array_grown(cfg->pin_count) * sizeof(*cfg->pins))
                    : cfg->pins;
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
        dst->ids_pins_from = src ? src->ids_pins_from : 0;
        dst->ids_pins_to = src ? src->ids_pins_to : 0;
        return true;
    }
    return false;
}

/* Defaults (src NULL) or a deep copy of src; on failure dst is left zeroed. */
bool config_fill(struct mk_config *dst, const struct mk_config *src)
{
    bool ok = true;

    memset(dst, 0, sizeof(*dst));
    for (size_t k = 0; ok && k < config_field_count; k++)
        ok = config_field_fill(dst, src, &config_fields[k]);
    ok = ok && config_strdup(&dst->source, src ? src->source : CONFIG_SOURCE_DEFAULTS);
    ok = ok && config_strdup(&dst->base_url_origin, src ? src->base_url_origin : NULL);
    ok = ok && (!src || config_origins_copy(dst, src));
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
const char *config_pin_problem(const struct mk_config *cfg, size_t i,
                               struct mk_config_pin_index *index, char *why, size_t why_len)
{
    const struct mk_pin *pin = &cfg->pins[i];
    enum config_pin_clash clash = CONFIG_PIN_NEW;
    size_t j = 0;

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
    /* Against the pins before it, through the index (O(1) a pin: an ids
     * file may pin 100,000 organizations). */
    if (!why[0] && config_pin_index_add(index, cfg->pins, i, &clash, &j) < 0)
        snprintf(why, why_len, "out of memory");
    const struct mk_pin *old = &cfg->pins[j];
    if (why[0])
        ;
    else if (clash == CONFIG_PIN_SAME_ID)
        snprintf(why, why_len, "organization %s is already pinned (one pin per organization)",
                 pin->org_id);
    else if (clash == CONFIG_PIN_SAME_NAME)
        snprintf(why, why_len, "group name %s is already pinned to organization %s "
                 "(each pin needs its own name)", pin->group_name, old->org_id);
    else if (clash == CONFIG_PIN_SAME_GID)
        snprintf(why, why_len, "gid %lu is already pinned to organization %s "
                 "(each pin needs its own gid)", (unsigned long)pin->gid, old->org_id);
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
        bool userns;
        const char *problem = config_gid_range_problem_in(lo, hi, rules->gid_map, &userns);
        if (problem)
            snprintf(why, why_len, "%lu-%lu is not allowed (%s%s)", (unsigned long)lo,
                     (unsigned long)hi, problem,
                     userns ? "; in this user namespace also a range inside 1000-60000 that its "
                              "gid map covers: mkio-orgs doctor proposes one" : "");
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
    case CONFIG_PINS: {
        struct mk_config_pin_index index = { 0 };
        for (size_t i = 0; !why[0] && i < cfg->pin_count; i++)
            config_pin_problem(cfg, i, &index, why, why_len);
        config_pin_index_clear(&index);
        break;
    }
    }
    return why[0] ? why : NULL;
}

/* Every field's rule, then what no single key can say. lines, when not
 * NULL, gives the line that set each field (0: none), for messages. */
mk_status config_check(const struct mk_config *cfg, const struct mk_config_url_rules *rules,
                              const size_t *lines, mk_error *err)
{
    const char *src = cfg->source ? cfg->source : CONFIG_SOURCE_DEFAULTS;
    char why[CONFIG_WHY_MAX];

    for (size_t k = 0; k < config_field_count; k++) {
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

mk_status mk_config_validate(const struct mk_config *cfg, const struct mk_config_url_rules *rules,
                            mk_error *err)
{
    return config_check(cfg, rules ? rules : &mk_config_url_syntax, NULL, err);
}
