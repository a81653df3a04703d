/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config_parse.c: the text of mkio.conf, line by line, into
 * struct mk_config (mk_config_parse_string, store/config.h).
 *
 * Parsing works on a deep copy of the caller's struct and swaps it in only
 * when the whole text parsed and validated, so a bad file never leaves a
 * half-applied configuration behind. A line is parsed into its member by
 * the syntax of its type; whether the value is allowed is the key table's
 * question (config_check, config_fields.c), asked once the text is read.
 */
#include "store/config.h"
#include "store/config_fields.h"
#include "store/config_values.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"

/* ---- one line ----------------------------------------------------------- */

struct config_parser {
    const char *name;     /* file name for messages */
    size_t line;
    size_t first_line[CONFIG_FIELDS_MAX]; /* 0: not seen yet in this text */
    bool ids;             /* an ids file: pin and retired lines only */
    struct mk_config_pin_index pins; /* the pins so far (config_pins.h) */
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
    if (p->ids) {
        /* The ids file repeats what mkio.conf pins (an export of a host that
         * has the pin): the same pin is mkio.conf's; another is refused. */
        ssize_t at = config_pin_index_find(&p->pins, cfg->pins, org_id);
        const struct mk_pin *old = at >= 0 ? &cfg->pins[at] : NULL;
        bool conf_pin = old && (size_t)(old - cfg->pins) < cfg->ids_pins_from;
        if (conf_pin && strcmp(old->group_name, name) == 0 && old->gid == gid)
            return MK_OK;
        if (conf_pin)
            return config_line_error(p, "pin: organization %s is pinned in %s as %s (gid %lu), "
                                     "here as %s (gid %" PRIu64 "); refused (make them agree)",
                                     org_id, cfg->source ? cfg->source : "the configuration",
                                     old->group_name, (unsigned long)old->gid, name, gid);
    }
    if (!config_add_pin(cfg, org_id, name, (gid_t)gid))
        return config_nomem(p);
    if (config_pin_problem(cfg, cfg->pin_count - 1, &p->pins, why, sizeof(why)))
        return config_line_error(p, "pin: %s", why);
    return MK_OK;
}

/* Notes the line being parsed as where base_url came from ("FILE line N"),
 * which doctor shows. False on memory. */
static bool config_note_origin(const struct config_parser *p, struct mk_config *cfg)
{
    char origin[PATH_MAX + 32];
    snprintf(origin, sizeof(origin), "%s line %zu", p->name, p->line);
    return config_strdup(&cfg->base_url_origin, origin);
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
        if (!f->proxy_url && !config_note_origin(p, cfg))
            return config_nomem(p);
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
    while (k < config_field_count && strcmp(key_text, config_fields[k].key) != 0)
        k++;
    if (k == config_field_count) {
        if (!*key_text)
            return config_line_error(p, "a value without a key (key = value)");
        return config_line_error(p, "unknown key \"" CONFIG_QUOTE "\" (see the sample mkio.conf for "
                                 "the keys there are)", key_text);
    }
    const struct config_field *f = &config_fields[k];
    if (p->ids && f->type != CONFIG_PINS && strcmp(f->key, "retired") != 0)
        return config_line_error(p, "%s does not belong in an ids file (only pin and retired "
                                 "lines; set it in mkio.conf)", key_text);
    if (!f->repeatable && p->first_line[k])
        return config_line_error(p, "%s is given again, first on line %zu (each key once, except "
                                 "pin and the list keys)", key_text, p->first_line[k]);
    if (!p->first_line[k])
        p->first_line[k] = p->line;
    if (!*value && !f->empty_ok)
        return config_line_error(p, "%s has no value (%s)", key_text, f->takes);
    mk_status st = config_apply(p, cfg, f, value);
    /* Where the key came from, for doctor (mk_config_key_origin). */
    if (st == MK_OK && !config_origin_note(cfg, k, p->name, p->line))
        return config_nomem(p);
    return st;
}

mk_status mk_config_parse_string(const char *text, const char *name,
                                 struct mk_config *cfg, mk_error *err)
{
    return mk_config_parse_string_with(text, name, NULL, cfg, err);
}

/* The text onto a copy of cfg, validated, swapped in whole; ids: an ids
 * file (mk_config_parse_ids_string), whose name does not become the
 * configuration's source. */
static mk_status config_parse_text(const char *text, const char *name,
                                   const struct mk_config_url_rules *rules, bool ids,
                                   struct mk_config *cfg, mk_error *err)
{
    struct mk_config work;
    struct config_parser p = { .name = name ? name : "(string)", .ids = ids, .err = err };
    char *copy = NULL;
    mk_status st = MK_OK;

    if (!text || !cfg)
        return mk_error_set(err, MK_ERR_USAGE, "%s: no configuration text", p.name);
    if (!config_fill(&work, cfg))
        return mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", p.name);
    copy = strdup(text);
    if (!copy || (!ids && !config_strdup(&work.source, p.name))) {
        st = mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", p.name);
        goto out;
    }
    if (ids)
        work.ids_pins_from = work.pin_count;
    /* The pins the text adds to are in the parser's index too. */
    for (size_t i = 0; i < work.pin_count; i++) {
        enum config_pin_clash clash;
        size_t other;
        if (config_pin_index_add(&p.pins, work.pins, i, &clash, &other) < 0) {
            st = mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", p.name);
            goto out;
        }
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
    /* An ids file's own problems (a pin outside gid_range) name it. */
    char *source = work.source;
    if (ids) {
        work.ids_pins_to = work.pin_count;
        work.source = (char *)p.name;
    }
    st = config_check(&work, rules ? rules : &mk_config_url_syntax, ids ? NULL : p.first_line,
                      err);
    work.source = source;
    if (st != MK_OK)
        goto out;
    mk_config_free(cfg);
    *cfg = work;
    memset(&work, 0, sizeof(work));
    /* For mk_config_pin_for; without it (memory) the pins are scanned. */
    cfg->pin_index = config_pin_index_build(cfg);
out:
    free(copy);
    config_pin_index_clear(&p.pins);
    mk_config_free(&work);
    return st;
}

mk_status mk_config_parse_string_with(const char *text, const char *name,
                                      const struct mk_config_url_rules *rules,
                                      struct mk_config *cfg, mk_error *err)
{
    return config_parse_text(text, name, rules, false, cfg, err);
}

mk_status mk_config_parse_ids_string(const char *text, const char *name,
                                     struct mk_config *cfg, mk_error *err)
{
    return config_parse_text(text, name, NULL, true, cfg, err);
}
