/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config_keys.c: where each key of a configuration came from
 * (the file and line that set it, the main file or a drop-in) and its
 * value as text, for reports: mk_config_key_* (store/config.h) and the
 * bookkeeping the parser and the copy do (config_fields.h).
 */
#include "store/config_fields.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- origins ------------------------------------------------------------ */

bool config_origin_note(struct mk_config *cfg, size_t k, const char *name, size_t line)
{
    char where[PATH_MAX + 32];
    if (k >= config_field_count)
        return true;
    if (!cfg->key_origins) {
        cfg->key_origins = calloc(config_field_count, sizeof(*cfg->key_origins));
        if (!cfg->key_origins)
            return false;
    }
    char **slot = &cfg->key_origins[k];
    if (config_fields[k].repeatable && *slot)
        snprintf(where, sizeof(where), "%s, %s:%zu", *slot, name, line);
    else
        snprintf(where, sizeof(where), "%s:%zu", name, line);
    return config_strdup(slot, where);
}

bool config_origins_copy(struct mk_config *dst, const struct mk_config *src)
{
    if (src->key_origins) {
        dst->key_origins = calloc(config_field_count, sizeof(*dst->key_origins));
        if (!dst->key_origins)
            return false;
        for (size_t k = 0; k < config_field_count; k++)
            if (!config_strdup(&dst->key_origins[k], src->key_origins[k]))
                return false;
    }
    for (size_t i = 0; i < src->dropin_count; i++)
        if (!config_dropin_add(dst, src->dropins[i]))
            return false;
    return true;
}

bool config_dropin_add(struct mk_config *cfg, const char *path)
{
    char *copy = strdup(path);
    char **grown = copy ? realloc(cfg->dropins, (cfg->dropin_count + 1) * sizeof(*grown)) : NULL;
    if (!grown) {
        free(copy);
        return false;
    }
    grown[cfg->dropin_count++] = copy;
    cfg->dropins = grown;
    return true;
}

void config_origins_free(struct mk_config *cfg)
{
    for (size_t k = 0; cfg->key_origins && k < config_field_count; k++)
        free(cfg->key_origins[k]);
    free(cfg->key_origins);
    cfg->key_origins = NULL;
    for (size_t i = 0; i < cfg->dropin_count; i++)
        free(cfg->dropins[i]);
    free(cfg->dropins);
    cfg->dropins = NULL;
    cfg->dropin_count = 0;
}

/* ---- the questions ------------------------------------------------------ */

size_t mk_config_key_count(void)
{
    return config_field_count;
}

const char *mk_config_key_name(size_t i)
{
    return i < config_field_count ? config_fields[i].key : NULL;
}

const char *mk_config_key_origin(const struct mk_config *cfg, size_t i)
{
    return cfg->key_origins && i < config_field_count ? cfg->key_origins[i] : NULL;
}

/* Appends printf output to buf (len bytes, used so far in *at), cutting. */
static void keys_put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void keys_put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    if (*at >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
    *at = n < 0 ? len : *at + (size_t)n;
}

/* Milliseconds as seconds, as a configuration line writes them: "5",
 * "2.5", "0.125". */
static void keys_put_seconds(char *buf, size_t len, size_t *at, int64_t ms)
{
    keys_put(buf, len, at, "%" PRId64, ms / 1000);
    if (ms % 1000 == 0)
        return;
    char frac[8];
    snprintf(frac, sizeof(frac), "%03" PRId64, ms % 1000);
    for (size_t n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
        frac[n - 1] = '\0';
    keys_put(buf, len, at, ".%s", frac);
}

void mk_config_key_value(const struct mk_config *cfg, size_t i, char *buf, size_t len)
{
    size_t at = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    if (i >= config_field_count)
        return;
    const struct config_field *f = &config_fields[i];
    switch (f->type) {
    case CONFIG_TEXT:
    case CONFIG_URL: {
        const char *text = *config_text(cfg, f);
        keys_put(buf, len, &at, "%s", text ? text : "");
        break;
    }
    case CONFIG_SECONDS: {
        int64_t ms;
        memcpy(&ms, config_member(cfg, f->offset), sizeof(ms));
        keys_put_seconds(buf, len, &at, ms);
        break;
    }
    case CONFIG_NUMBER:
    case CONFIG_SIZE:
        keys_put(buf, len, &at, "%" PRIu64, config_number_get(cfg, f));
        break;
    case CONFIG_BOOL:
        keys_put(buf, len, &at, "%s", *(bool *)config_member(cfg, f->offset) ? "yes" : "no");
        break;
    case CONFIG_GID_RANGE:
        keys_put(buf, len, &at, "%lu-%lu", (unsigned long)*(gid_t *)config_member(cfg, f->offset),
                 (unsigned long)*(gid_t *)config_member(cfg, f->offset2));
        break;
    case CONFIG_LIST: {
        char **list = *(char ***)config_member(cfg, f->offset);
        for (size_t w = 0; w < *config_count(cfg, f); w++)
            keys_put(buf, len, &at, "%s%s", w ? " " : "", list[w]);
        break;
    }
    case CONFIG_PINS:
        for (size_t p = 0; p < cfg->pin_count; p++)
            keys_put(buf, len, &at, "%s%s %s %lu", p ? ", " : "", cfg->pins[p].org_id,
                     cfg->pins[p].group_name, (unsigned long)cfg->pins[p].gid);
        break;
    }
    if (at >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
}
