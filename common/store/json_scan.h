/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/json_scan.h: the tokens of one JSON text (RFC 8259), read
 * in place, for the store.json parser (store_json.h).
 *
 * store.json is read by a small parser of exactly its schema rather than
 * through a JSON object tree: at 100,000 organizations, building and
 * freeing the tree cost ten times the rest of a login's write. This is its
 * lower half: whitespace, strings, integers, literals, objects and values
 * skipped, over a text that need not end in a NUL. It accepts strict JSON,
 * with these choices where the RFC leaves one:
 *   - "\u0000" is refused: no string may hold a NUL (it would cut the
 *     string short in C);
 *   - a lone surrogate ("\ud800" not followed by a low one, or a low one
 *     alone) becomes U+FFFD, as display-name repair shows bad text;
 *   - nesting deeper than MK_JSON_SCAN_MAX_DEPTH is refused, whatever the
 *     member.
 * A syntax error stops the parse, with the first reason (syntax_err); a
 * schema error (a field of the wrong type, a missing field) is remembered
 * (schema_err) and the rest still parsed, so that a file of another version
 * is reported as such.
 *
 * Strings are decoded into one scratch buffer that grows as needed (keys
 * into a bounded one on the stack): only what the caller keeps is copied
 * out, so a member costs no allocation of its own.
 *
 * Error convention: functions returning int give 0, -1 on a syntax error
 * (syntax_err says why) or -2 on memory failure; what a callback returns
 * other than 0 stops the parse and is returned. libc only.
 */
#ifndef MK_JSON_SCAN_H
#define MK_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/text.h"

struct mk_json_scan {
    const char *p, *end;
    const char *schema_err;   /* first schema error, or NULL */
    const char *syntax_err;   /* why parsing stopped, or NULL: "not valid JSON" */
    int depth;
    char *buf;                /* the last string decoded, NUL-terminated; the caller frees it */
    size_t buf_cap;
};

#define MK_JSON_SCAN_MAX_DEPTH 64
/* The longest key worth decoding: user names are the longest keys that
 * mean something. A longer key is no id, no user and no member name. */
#define MK_JSON_SCAN_KEY_MAX MK_USER_NAME_MAX

/* The small steps every member takes, inline: a store holds a million
 * keys at 100,000 organizations. */

static inline void mk_json_scan_ws(struct mk_json_scan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static inline bool mk_json_scan_take(struct mk_json_scan *j, char c)
{
    mk_json_scan_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static inline bool mk_json_scan_peek(struct mk_json_scan *j, char c)
{
    mk_json_scan_ws(j);
    return j->p < j->end && *j->p == c;
}

static inline void mk_json_scan_schema(struct mk_json_scan *j, const char *what)
{
    if (!j->schema_err)
        j->schema_err = what;
}

/* A syntax error: -1, and the first reason kept. */
static inline int mk_json_scan_bad(struct mk_json_scan *j, const char *why)
{
    if (!j->syntax_err)
        j->syntax_err = why;
    return -1;
}

/* Whether key is word: the first bytes decide most keys without a call
 * (a store holds a million keys at 100,000 organizations). */
static inline bool mk_json_scan_key_is(const char *key, const char *word)
{
    return key[0] == word[0] && strcmp(key, word) == 0;
}

/* A string, decoded into j->buf (NUL-terminated, *len bytes when len is
 * not NULL, no NUL inside: "\u0000" is refused), valid until the next
 * string. -1 on a syntax error, -2 on memory failure. */
int mk_json_scan_string(struct mk_json_scan *j, size_t *len);


/* The literal word (true, false, null), whole: "nullx" is no literal. */
bool mk_json_scan_literal(struct mk_json_scan *j, const char *word);

/* Any value, checked and skipped. */
int mk_json_scan_skip(struct mk_json_scan *j);

/* Calls each(j, key, ctx) for every member of an object, positioned at its
 * value, which each must consume. key is NULL when it is longer than
 * MK_JSON_SCAN_KEY_MAX bytes: no name the schema knows. */
int mk_json_scan_object(struct mk_json_scan *j,
                        int (*each)(struct mk_json_scan *, const char *, void *), void *ctx);

/* Whether key is one the schema knows in this object for the first time:
 * bit is its flag in *seen. The second time is a schema error. */
bool mk_json_scan_first(struct mk_json_scan *j, unsigned *seen, unsigned bit);

/* An integer field: a schema error (what) if it is any other value. *ok
 * says whether it was an integer. 0, or -1 on a syntax error. */
int mk_json_scan_int_field(struct mk_json_scan *j, int64_t *out, bool *ok, const char *what);

#endif
