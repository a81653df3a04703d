/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config_fields.h: the key table of mkio.conf and what walks
 * it (config_fields.c), for the line parser (config_parse.c) and the entry
 * points (config.c). Internal to the configuration reader: the rest of the
 * tree includes store/config.h.
 */
#ifndef MK_CONFIG_FIELDS_H
#define MK_CONFIG_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/config.h"
#include "store/config_pins.h"
#include "base/mk_error.h"

#define CONFIG_MAX_WORD 512 /* longer than any id, user name or domain a list takes */
/* How much of a bad value an error message quotes. */
#define CONFIG_QUOTE "%.64s"
/* A reason, as long as an mk_error can say. */
#define CONFIG_WHY_MAX sizeof(((mk_error *)0)->message)
/* At least the number of keys (checked where the table is defined), for
 * arrays indexed like config_fields. */
#define CONFIG_FIELDS_MAX 64

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

/* Every key, in the order of mkio.conf(5); config_field_count entries. */
extern const struct config_field config_fields[];
extern const size_t config_field_count;

/* The members a field names, typed. */
static inline void *config_member(const struct mk_config *cfg, size_t offset)
{
    return (char *)cfg + offset;
}

static inline char **config_text(const struct mk_config *cfg, const struct config_field *f)
{
    return config_member(cfg, f->offset);
}

static inline size_t *config_count(const struct mk_config *cfg, const struct config_field *f)
{
    return config_member(cfg, f->offset2);
}


/* False when v does not fit the member. */
bool config_number_set(struct mk_config *cfg, const struct config_field *f, uint64_t v);

/* The source of a configuration no file was read into (mk_config.source). */
#define CONFIG_SOURCE_DEFAULTS "(defaults)"

/* *dst = a copy of src (NULL: none), the old value freed; false on memory. */
bool config_strdup(char **dst, const char *src);
/* A list of strings and its count: add a copy of item (false on memory),
 * free the whole list, ask whether item is in it. */
bool config_list_add(char ***list, size_t *count, const char *item);
bool config_list_contains(char *const *list, size_t count, const char *item);
/* Appends a pin (copies of org_id and name); false on memory. */
bool config_add_pin(struct mk_config *cfg, const char *org_id, const char *name, gid_t gid);

/* Where each key came from (mk_config.key_origins) and the drop-ins read
 * (config_keys.c): note that line `line` of file `name` set key k (added
 * to its lines when f is repeatable, else replacing them), copy both from
 * src into dst (whose own are empty), add a drop-in's name, free them. The
 * first three are false on memory. */
bool config_origin_note(struct mk_config *cfg, size_t k, const char *name, size_t line);
bool config_origins_copy(struct mk_config *dst, const struct mk_config *src);
bool config_dropin_add(struct mk_config *cfg, const char *path);
void config_origins_free(struct mk_config *cfg);

/* An unsigned member of f->size bytes (unsigned, uid_t, size_t). */
uint64_t config_number_get(const struct mk_config *cfg, const struct config_field *f);

/* Defaults (src NULL) or a deep copy of src; on failure dst is left zeroed. */
bool config_fill(struct mk_config *dst, const struct mk_config *src);

/* Whether pin i is well formed and clashes with no pin before it. NULL
 * when it is fine, else why not (in why, why_len bytes). */
const char *config_pin_problem(const struct mk_config *cfg, size_t i,
                               struct mk_config_pin_index *index, char *why, size_t why_len);
/* Every field's rule, then what no single key can say. lines, when not
 * NULL, gives the line that set each field (0: none), for messages. */
mk_status config_check(const struct mk_config *cfg, const struct mk_config_url_rules *rules,
                       const size_t *lines, mk_error *err);

#endif
