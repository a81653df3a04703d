/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/json_scan.c: the tokens of one JSON text, read in place
 * (see json_scan.h). */
#include "store/json_scan.h"

#include <stdlib.h>

static int json_scan_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (mk_ascii_digit(c))
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t json_scan_utf8(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string, decoded into j->buf (NUL-terminated, *len bytes, no NUL
 * inside: "\u0000" is refused), valid until the next string. -1 on a
 * syntax error, -2 on memory failure. */
int mk_json_scan_string(struct mk_json_scan *j, size_t *len)
{
    const char *start, *q;
    size_t o = 0;

    if (!mk_json_scan_take(j, '"'))
        return mk_json_scan_bad(j, "not valid JSON");
    /* The raw text bounds the decoded bytes: no escape decodes longer. */
    start = j->p;
    bool plain = true;   /* no escape, no control character: copied as is */
    for (q = start; q < j->end && *q != '"'; q++) {
        if ((unsigned char)*q < 0x20)
            plain = false;
        else if (*q == '\\') {
            plain = false;
            if (q + 1 < j->end)
                q++;
        }
    }
    if ((size_t)(q - start) + 1 > j->buf_cap) {
        size_t cap = j->buf_cap ? j->buf_cap : 256;
        while (cap < (size_t)(q - start) + 1)
            cap *= 2;
        char *v = realloc(j->buf, cap);
        if (!v)
            return -2;
        j->buf = v;
        j->buf_cap = cap;
    }
    if (plain && q < j->end) {
        o = (size_t)(q - start);
        memcpy(j->buf, start, o);
        j->p = q;
    }
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20)
            return mk_json_scan_bad(j, "a control character inside a string");
        if (c != '\\') {
            j->buf[o++] = (char)c;
            j->p++;
            continue;
        }
        if (j->end - j->p < 2)
            return mk_json_scan_bad(j, "not valid JSON");
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"': case '\\': case '/': c = (unsigned char)e; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (j->end - j->p < 4 || json_scan_hex4(j->p, &cp) != 0)
                return mk_json_scan_bad(j, "a bad \\u escape");
            j->p += 4;
            if (cp == 0)
                return mk_json_scan_bad(j, "a string holds \\u0000");
            if (cp >= 0xd800 && cp <= 0xdbff && j->end - j->p >= 6 && j->p[0] == '\\' &&
                j->p[1] == 'u' && json_scan_hex4(j->p + 2, &lo) == 0 && lo >= 0xdc00 &&
                lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                j->p += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd;   /* a lone surrogate: shown as bad text is */
            }
            o += json_scan_utf8(cp, j->buf + o);
            continue;
        }
        default:
            return mk_json_scan_bad(j, "a bad escape in a string");
        }
        j->buf[o++] = (char)c;
    }
    if (j->p >= j->end)
        return mk_json_scan_bad(j, "not valid JSON");
    j->p++;
    j->buf[o] = '\0';
    if (len)
        *len = o;
    return 0;
}

/* A number that is an integer (no fraction, no exponent, fits int64). A
 * number of another form is a schema error (*ok false), not a syntax one;
 * a leading zero ("01") or a lone '-' is a syntax error. */
static int mk_json_scan_int(struct mk_json_scan *j, int64_t *out, bool *ok)
{
    bool neg = false, overflow = false, integral = true;
    uint64_t v = 0;

    *ok = false;
    mk_json_scan_ws(j);
    if (j->p < j->end && *j->p == '-') {
        neg = true;
        j->p++;
    }
    if (j->p >= j->end || !mk_ascii_digit(*j->p))
        return mk_json_scan_bad(j, "not valid JSON");
    if (*j->p == '0' && j->p + 1 < j->end && mk_ascii_digit(j->p[1]))
        return mk_json_scan_bad(j, "a number with a leading zero");
    while (j->p < j->end && mk_ascii_digit(*j->p)) {
        unsigned d = (unsigned)(*j->p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (j->p < j->end && *j->p == '.') {
        integral = false;
        j->p++;
        if (j->p >= j->end || !mk_ascii_digit(*j->p))
            return mk_json_scan_bad(j, "not valid JSON");
        while (j->p < j->end && mk_ascii_digit(*j->p))
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        integral = false;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || !mk_ascii_digit(*j->p))
            return mk_json_scan_bad(j, "not valid JSON");
        while (j->p < j->end && mk_ascii_digit(*j->p))
            j->p++;
    }
    *ok = integral && !overflow && v <= (uint64_t)INT64_MAX + neg;
    if (*ok)
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* The literal word (true, false, null), whole: "nullx" is no literal. */
bool mk_json_scan_literal(struct mk_json_scan *j, const char *word)
{
    size_t len = strlen(word);
    mk_json_scan_ws(j);
    if ((size_t)(j->end - j->p) >= len && memcmp(j->p, word, len) == 0 &&
        (j->end - j->p == (ptrdiff_t)len || !mk_ascii_alnum((unsigned char)j->p[len]))) {
        j->p += len;
        return true;
    }
    return false;
}

/* Calls each(j, key, ctx) for every member of an object, positioned at its
 * value, which each must consume. key is NULL when it is longer than
 * MK_JSON_SCAN_KEY_MAX bytes: no name the schema knows. */
int mk_json_scan_object(struct mk_json_scan *j,
                        int (*each)(struct mk_json_scan *, const char *, void *), void *ctx)
{
    char key[MK_JSON_SCAN_KEY_MAX + 1];
    int r;

    if (++j->depth > MK_JSON_SCAN_MAX_DEPTH)
        return mk_json_scan_bad(j, "nested too deeply");
    if (!mk_json_scan_take(j, '{'))
        return mk_json_scan_bad(j, "not valid JSON");
    if (mk_json_scan_take(j, '}'))
        goto done;
    do {
        size_t len;
        if ((r = mk_json_scan_string(j, &len)) != 0)
            return r;
        if (len <= MK_JSON_SCAN_KEY_MAX)
            memcpy(key, j->buf, len + 1);
        if (!mk_json_scan_take(j, ':'))
            return mk_json_scan_bad(j, "not valid JSON");
        if ((r = each(j, len <= MK_JSON_SCAN_KEY_MAX ? key : NULL, ctx)) != 0)
            return r;
    } while (mk_json_scan_take(j, ','));
    if (!mk_json_scan_take(j, '}'))
        return mk_json_scan_bad(j, "not valid JSON");
done:
    j->depth--;
    return 0;
}

static int json_scan_skip_member(struct mk_json_scan *j, const char *key, void *ctx)
{
    return mk_json_scan_skip(j);
}

/* Any value, checked and skipped. */
int mk_json_scan_skip(struct mk_json_scan *j)
{
    int64_t v;
    bool ok;
    mk_json_scan_ws(j);
    if (j->p >= j->end)
        return mk_json_scan_bad(j, "not valid JSON");
    switch (*j->p) {
    case '{':
        return mk_json_scan_object(j, json_scan_skip_member, NULL);
    case '[':
        if (++j->depth > MK_JSON_SCAN_MAX_DEPTH)
            return mk_json_scan_bad(j, "nested too deeply");
        j->p++;
        if (!mk_json_scan_take(j, ']')) {
            int r;
            do {
                if ((r = mk_json_scan_skip(j)) != 0)
                    return r;
            } while (mk_json_scan_take(j, ','));
            if (!mk_json_scan_take(j, ']'))
                return mk_json_scan_bad(j, "not valid JSON");
        }
        j->depth--;
        return 0;
    case '"':
        return mk_json_scan_string(j, NULL);
    case 't':
        return mk_json_scan_literal(j, "true") ? 0 : mk_json_scan_bad(j, "not valid JSON");
    case 'f':
        return mk_json_scan_literal(j, "false") ? 0 : mk_json_scan_bad(j, "not valid JSON");
    case 'n':
        return mk_json_scan_literal(j, "null") ? 0 : mk_json_scan_bad(j, "not valid JSON");
    default:
        return mk_json_scan_int(j, &v, &ok);
    }
}

/* Whether key is one the schema knows in this object for the first time:
 * bit is its flag in *seen. The second time is a schema error. */
bool mk_json_scan_first(struct mk_json_scan *j, unsigned *seen, unsigned bit)
{
    if (*seen & bit) {
        mk_json_scan_schema(j, "a member appears twice in one object");
        return false;
    }
    *seen |= bit;
    return true;
}

/* An integer field: a schema error if it is any other value. *ok says
 * whether it was an integer. */
int mk_json_scan_int_field(struct mk_json_scan *j, int64_t *out, bool *ok, const char *what)
{
    *ok = false;
    mk_json_scan_ws(j);
    if (j->p < j->end && (*j->p == '-' || mk_ascii_digit(*j->p))) {
        if (mk_json_scan_int(j, out, ok) != 0)
            return -1;
    } else if (mk_json_scan_skip(j) != 0) {
        return -1;
    }
    if (!*ok)
        mk_json_scan_schema(j, what);
    return 0;
}
