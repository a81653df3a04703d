/* common/text.c: the output sanitizer (see text.h). */
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decodes one UTF-8 character at s (at most `left` bytes). Returns its
 * length and sets *cp, or 0 when s starts no valid, shortest-form
 * character. */
static size_t text_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;

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
static bool text_unsafe(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x200e || cp == 0x200f || cp == 0x061c;
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
        size_t len = text_decode(s, left, &cp);
        if (len == 0 || text_unsafe(cp)) {
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
        size_t len = text_decode(s, left, &cp);
        if (len == 0 || text_unsafe(cp))
            return false;
        s += len;
        left -= len;
    }
    return true;
}
