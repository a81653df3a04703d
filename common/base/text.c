/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/text.c: the output sanitizer and the vocabulary (see text.h). */
#include "base/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The one UTF-8 decoder of the project: RFC 3629's shortest forms only,
 * no surrogates, nothing past U+10FFFF. */
size_t mk_utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c;
    size_t len;
    uint32_t v, min;

    if (left == 0)
        return 0;
    c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (left < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* Code points a terminal, a log reader or a bidi-aware viewer would act on. */
bool mk_text_char_unsafe(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x200e || cp == 0x200f || cp == 0x061c || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x200b || cp == 0xfeff;
}

char *mk_text_sanitize(const char *in, char *out, size_t out_len)
{
    if (!out || out_len == 0)
        return out;
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t left = strlen((const char *)s);
    size_t j = 0;

    while (left > 0) {
        uint32_t cp = 0;
        size_t len = mk_utf8_decode(s, left, &cp);
        if (len == 0 || mk_text_char_unsafe(cp)) {
            if (j + 1 >= out_len)
                break;
            out[j++] = '?';
            len = len ? len : 1;
        } else {
            if (j + len >= out_len)
                break;
            memcpy(out + j, s, len);
            j += len;
        }
        s += len;
        left -= len;
    }
    out[j] = '\0';
    return out;
}

char *mk_text_sanitize_dup(const char *in)
{
    /* Every input byte becomes at most one output byte. */
    size_t len = strlen(in ? in : "") + 1;
    char *out = malloc(len);
    return out ? mk_text_sanitize(in, out, len) : NULL;
}

bool mk_text_is_clean(const char *in)
{
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t left = strlen((const char *)s);
    while (left > 0) {
        uint32_t cp = 0;
        size_t len = mk_utf8_decode(s, left, &cp);
        if (len == 0 || mk_text_char_unsafe(cp))
            return false;
        s += len;
        left -= len;
    }
    return true;
}

/* ---- ASCII ---- */

bool mk_ascii_case_equal_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (mk_ascii_tolower((unsigned char)a[i]) != mk_ascii_tolower((unsigned char)b[i]))
            return false;
        if (!a[i])
            return true;
    }
    return true;
}

bool mk_ascii_case_equal(const char *a, const char *b)
{
    return mk_ascii_case_equal_n(a, b, SIZE_MAX);
}

/* ---- vocabulary ---- */

bool mk_org_id_valid(const char *id)
{
    size_t len = 0;
    bool alnum = false;

    if (!id)
        return false;
    for (const char *p = id; *p; p++, len++) {
        if (len >= MK_ORG_ID_MAX)
            return false;
        if (mk_ascii_lower(*p) || mk_ascii_digit(*p))
            alnum = true;
        else if (*p != '-')
            return false;
    }
    return alnum;
}

bool mk_org_id_canonical(const char *id, char out[MK_ORG_ID_MAX + 1])
{
    size_t i = 0;

    out[0] = '\0';
    if (!id)
        return false;
    for (; id[i]; i++) {
        if (i >= MK_ORG_ID_MAX)
            return (out[0] = '\0', false);
        out[i] = (char)mk_ascii_tolower((unsigned char)id[i]);
    }
    out[i] = '\0';
    if (!mk_org_id_valid(out))
        return (out[0] = '\0', false);
    return true;
}

bool mk_uuid_canonical(const char *id, char out[MK_UUID_LEN + 1])
{
    out[0] = '\0';
    if (!id || strlen(id) != MK_UUID_LEN)
        return false;
    for (size_t i = 0; i < MK_UUID_LEN; i++) {
        unsigned char c = (unsigned char)id[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return (out[0] = '\0', false);
        out[i] = (char)mk_ascii_tolower(c);
    }
    out[MK_UUID_LEN] = '\0';
    return true;
}

bool mk_user_name_valid(const char *user)
{
    size_t len = 0;

    if (!user || !*user)
        return false;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++, len++) {
        if (len >= MK_USER_NAME_MAX || *p == ':' || *p == ',' || *p == '/' ||
            mk_ascii_space(*p) || *p < 0x20 || *p == 0x7f)
            return false;
    }
    return true;
}

bool mk_group_name_valid_len(const char *name, size_t max_len)
{
    size_t len = 0;

    if (!name || !(mk_ascii_lower(name[0]) || name[0] == '_'))
        return false;
    for (const char *p = name; *p; p++, len++) {
        if (len >= max_len ||
            !(mk_ascii_lower(*p) || mk_ascii_digit(*p) || *p == '_' || *p == '-'))
            return false;
    }
    return true;
}

bool mk_group_name_valid(const char *name)
{
    return mk_group_name_valid_len(name, MK_GROUP_NAME_MAX);
}

char *mk_display_name_repair(const char *name)
{
    char *out;

    if (!name)
        return NULL;
    const unsigned char *s = (const unsigned char *)name;
    size_t left = strlen(name), j = 0;
    out = malloc(MK_DISPLAY_NAME_MAX + 1);
    if (!out)
        return NULL;
    while (left > 0) {
        uint32_t cp = 0;
        size_t len = mk_utf8_decode(s, left, &cp);
        size_t put = len ? len : 1;
        if (j + put > MK_DISPLAY_NAME_MAX)
            break;
        if (len)
            memcpy(out + j, s, len);
        else
            out[j] = '?';
        j += put;
        s += put;
        left -= put;
    }
    out[j] = '\0';
    return out;
}

void mk_display_name_slug(const char *name, char *out, size_t out_len)
{
    size_t o = 0;
    bool dash = false;

    if (out_len == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p; p++) {
        int c = mk_ascii_tolower(*p);
        if (!(mk_ascii_lower(c) || mk_ascii_digit(c) || c == '_')) {
            dash = true;
            continue;
        }
        if (o + (dash && o > 0) + 1 >= out_len)
            break;
        if (dash && o > 0)
            out[o++] = '-';
        dash = false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
}

/* ---- numbers ---- */

bool mk_parse_seconds_ms(const char *s, int64_t min_ms, int64_t max_ms, int64_t *ms)
{
    int64_t whole = 0, frac = 0;
    size_t int_digits = 0, frac_digits = 0;

    if (!s)
        return false;
    for (; mk_ascii_digit(*s); s++) {
        if (++int_digits > 9)
            return false;
        whole = whole * 10 + (*s - '0');
    }
    if (int_digits == 0)
        return false;
    if (*s == '.') {
        for (s++; mk_ascii_digit(*s); s++, frac_digits++) {
            if (frac_digits < 3)
                frac = frac * 10 + (*s - '0');
        }
        if (frac_digits == 0)
            return false;
        for (size_t k = frac_digits; k < 3; k++)
            frac *= 10;
    }
    if (*s)
        return false;
    whole = whole * 1000 + frac;
    if (whole < min_ms || whole > max_ms)
        return false;
    *ms = whole;
    return true;
}

bool mk_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (!s || !mk_ascii_digit(*s))
        return false;
    for (; *s; s++) {
        if (!mk_ascii_digit(*s))
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool mk_service_name_valid(const char *service)
{
    size_t len = 0;
    if (!service || service[0] == '.')
        return false;
    for (; service[len]; len++) {
        char c = service[len];
        if (len >= MK_SERVICE_NAME_MAX ||
            !(mk_ascii_alnum(c) || c == '.' || c == '_' || c == '+' || c == '-'))
            return false;
    }
    return len > 0;
}

/* Letters, digits, '-' and '.', at most 253 bytes, no empty label at either
 * end or between two dots, not starting with '-'. */
bool mk_dns_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!(mk_ascii_alnum(s[i]) || s[i] == '-' || s[i] == '.'))
            return false;
        if (s[i] == '.' && i + 1 < len && s[i + 1] == '.')
            return false;
    }
    return true;
}
