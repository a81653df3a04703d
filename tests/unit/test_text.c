/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_text.c: the output sanitizer (common/base/text.h).
 *
 * Besides examples of each class of hostile text, the sanitizer is compared
 * with a reference written here from the Unicode standard's own table of
 * well-formed UTF-8 (Table 3-7) over every code point, every one- and
 * two-byte string and every three-byte string after a set of lead bytes
 * around the edges of that table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/text.h"

/* ---- the reference ---- */

/* Length of the well-formed UTF-8 sequence at s (left bytes available),
 * row by row from Table 3-7 of the Unicode standard; 0 when there is none. */
static size_t ref_utf8_len(const unsigned char *s, size_t left)
{
    static const struct {
        unsigned char lead_lo, lead_hi, second_lo, second_hi;
        size_t len;
    } rows[] = {
        { 0xc2, 0xdf, 0x80, 0xbf, 2 },
        { 0xe0, 0xe0, 0xa0, 0xbf, 3 },
        { 0xe1, 0xec, 0x80, 0xbf, 3 },
        { 0xed, 0xed, 0x80, 0x9f, 3 },
        { 0xee, 0xef, 0x80, 0xbf, 3 },
        { 0xf0, 0xf0, 0x90, 0xbf, 4 },
        { 0xf1, 0xf3, 0x80, 0xbf, 4 },
        { 0xf4, 0xf4, 0x80, 0x8f, 4 },
    };
    if (s[0] < 0x80)
        return 1;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        if (s[0] < rows[r].lead_lo || s[0] > rows[r].lead_hi)
            continue;
        size_t len = rows[r].len;
        if (left < len || s[1] < rows[r].second_lo || s[1] > rows[r].second_hi)
            return 0;
        for (size_t i = 2; i < len; i++)
            if (s[i] < 0x80 || s[i] > 0xbf)
                return 0;
        return len;
    }
    return 0;
}

static uint32_t ref_decode(const unsigned char *s, size_t len)
{
    static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
    uint32_t cp = s[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (s[i] & 0x3f);
    return cp;
}

/* The code points text.h promises to remove, as it lists them. */
static bool ref_unsafe(uint32_t cp)
{
    if (cp <= 0x1f || cp == 0x7f)
        return true;                        /* C0, DEL */
    if (cp >= 0x80 && cp <= 0x9f)
        return true;                        /* C1 */
    if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
        return true;                        /* bidi embeddings, overrides, isolates */
    if (cp == 0x2028 || cp == 0x2029 || cp == 0x200b || cp == 0xfeff)
        return true;                        /* line/paragraph separators, invisible */
    return cp == 0x200e || cp == 0x200f || cp == 0x061c; /* LRM, RLM, ALM */
}

/* The reference result, unbounded: out has room for strlen(in) + 1. */
static void ref_sanitize(const char *in, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t left = strlen(in), j = 0;
    while (left > 0) {
        size_t len = ref_utf8_len(s, left);
        if (len == 0 || ref_unsafe(ref_decode(s, len))) {
            out[j++] = '?';
            len = len ? len : 1;
        } else {
            memcpy(out + j, s, len);
            j += len;
        }
        s += len;
        left -= len;
    }
    out[j] = '\0';
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    size_t n;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xf0 | (cp >> 18));
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    out[n] = '\0';
    return n;
}

/* ---- helpers ---- */

/* in sanitizes to want, and mk_text_is_clean and mk_text_sanitize_dup agree. */
static void assert_sanitizes(const char *in, const char *want)
{
    char out[512];
    assert_true(strlen(in) < sizeof(out));
    assert_ptr_equal(mk_text_sanitize(in, out, sizeof(out)), out);
    if (strcmp(out, want) != 0)
        fail_msg("sanitizing \"%s\" gave \"%s\", not \"%s\"", in, out, want);
    char *dup = mk_text_sanitize_dup(in);
    assert_non_null(dup);
    assert_string_equal(dup, want);
    free(dup);
    assert_int_equal(mk_text_is_clean(in), strcmp(in, want) == 0);
    /* What comes out is clean: a second pass changes nothing. */
    assert_true(mk_text_is_clean(out));
}

static void assert_kept(const char *in)
{
    assert_sanitizes(in, in);
}

/* Compares the sanitizer with the reference on one string. */
static void assert_matches_reference(const char *in)
{
    char want[64], got[64];
    ref_sanitize(in, want);
    mk_text_sanitize(in, got, sizeof(got));
    if (strcmp(got, want) != 0) {
        char hex[3 * 16 + 1] = "";
        for (size_t i = 0; in[i] && i < 16; i++)
            snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", (unsigned char)in[i]);
        fail_msg("bytes %s: got \"%s\", the reference says \"%s\"", hex, got, want);
    }
    if (mk_text_is_clean(in) != (strcmp(in, want) == 0))
        fail_msg("mk_text_is_clean disagrees with the reference on \"%s\"", in);
}

/* A kept character is whole or absent: the positions where a character
 * starts (or the end) in a clean string. */
static bool char_boundary(const char *s, size_t pos)
{
    return s[pos] == '\0' || ((unsigned char)s[pos] & 0xc0) != 0x80;
}

#define CANARY 0xa5

/* For every out_len from 1 to strlen(in) + 1: the result is NUL-terminated
 * inside out_len, writes nothing past it, is a prefix of the full result,
 * and is the longest such prefix that ends on a character boundary. */
static void assert_truncates_cleanly(const char *in)
{
    size_t n = strlen(in);
    char *full = malloc(n + 1);
    char *buf = malloc(n + 1 + 16);
    assert_non_null(full);
    assert_non_null(buf);
    mk_text_sanitize(in, full, n + 1);
    ref_sanitize(in, buf);
    assert_string_equal(full, buf); /* with room for everything: the whole result */

    for (size_t out_len = 1; out_len <= n + 1; out_len++) {
        memset(buf, CANARY, n + 1 + 16);
        assert_ptr_equal(mk_text_sanitize(in, buf, out_len), buf);
        size_t len = strnlen(buf, out_len);
        if (len == out_len)
            fail_msg("out_len %zu: not NUL-terminated inside the buffer", out_len);
        for (size_t i = out_len; i < n + 1 + 16; i++)
            if ((unsigned char)buf[i] != CANARY)
                fail_msg("out_len %zu: byte %zu written past the buffer", out_len, i);
        if (memcmp(buf, full, len) != 0)
            fail_msg("out_len %zu: \"%s\" is not a prefix of \"%s\"", out_len, buf, full);
        size_t want = out_len - 1 < strlen(full) ? out_len - 1 : strlen(full);
        while (!char_boundary(full, want))
            want--;
        if (len != want)
            fail_msg("out_len %zu: %zu bytes kept of \"%s\", expected %zu", out_len, len, full,
                     want);
        assert_true(mk_text_is_clean(buf));
    }
    free(full);
    free(buf);
}

/* ---- what is kept ---- */

static void test_printable_ascii_kept(void **state)
{
    char all[0x7f - 0x20 + 1];
    for (int c = 0x20; c < 0x7f; c++)
        all[c - 0x20] = (char)c;
    all[sizeof(all) - 1] = '\0';
    assert_kept(all);
    assert_kept("");
    assert_kept("Acme Media");
    assert_kept("0c6f2a8e-1a2b-4c3d-9e8f-a1b2c3d4e5f6");
}

static void test_printable_utf8_kept(void **state)
{
    assert_kept("\xc3\xa9");                           /* é */
    assert_kept("Caf\xc3\xa9 M\xc3\xa9" "dia");        /* Café Média */
    assert_kept("\xe6\x97\xa5\xe6\x9c\xac");           /* 日本 */
    assert_kept("\xf0\x9f\x98\x80");                   /* U+1F600, four bytes */
    assert_kept("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d");   /* Hebrew: right-to-left letters stay */
    /* The edges next to what is removed. */
    assert_kept("\x7e");                               /* ~, below DEL */
    assert_kept("\xc2\xa0");                           /* U+00A0, first after C1 */
    assert_kept("\xd8\x9b");                           /* U+061B, before ALM */
    assert_kept("\xd8\x9d");                           /* U+061D, after ALM */
    assert_kept("\xe2\x80\x8d");                       /* U+200D ZWJ (emoji sequences) */
    assert_kept("\xe2\x80\xa7");                       /* U+2027; U+2028 and U+2029 are removed */
    assert_kept("\xe2\x80\xaf");                       /* U+202F, after RLO */
    assert_kept("\xe2\x81\xa5");                       /* U+2065, before LRI */
    assert_kept("\xe2\x81\xaa");                       /* U+206A, after PDI */
    /* The edges of UTF-8 itself. */
    assert_kept("\xdf\xbf");                           /* U+07FF */
    assert_kept("\xe0\xa0\x80");                       /* U+0800, shortest three-byte */
    assert_kept("\xed\x9f\xbf");                       /* U+D7FF, below the surrogates */
    assert_kept("\xee\x80\x80");                       /* U+E000, above them */
    assert_kept("\xef\xbf\xbd");                       /* U+FFFD */
    assert_kept("\xf0\x90\x80\x80");                   /* U+10000, shortest four-byte */
    assert_kept("\xf4\x8f\xbf\xbf");                   /* U+10FFFF, the last code point */
}

/* ---- what is removed ---- */

static void test_c0_controls_and_del(void **state)
{
    for (int c = 1; c < 0x20; c++) {
        char in[4] = { 'a', (char)c, 'b', '\0' };
        assert_sanitizes(in, "a?b");
    }
    assert_sanitizes("a\x7f" "b", "a?b");
    assert_sanitizes("\x1b[31mred\x1b[0m", "?[31mred?[0m");
    assert_sanitizes("\x1b]0;title\x07", "?]0;title?");
    assert_sanitizes("line1\nline2\r\n", "line1?line2??");
    assert_sanitizes("tab\there", "tab?here");
}

static void test_c1_raw_bytes(void **state)
{
    /* 0x80-0x9f start no UTF-8 character: each alone is one '?'. */
    for (int c = 0x80; c <= 0x9f; c++) {
        char in[4] = { 'a', (char)c, 'b', '\0' };
        assert_sanitizes(in, "a?b");
    }
    assert_sanitizes("\x9b" "31m", "?31m");          /* 8-bit CSI */
    assert_sanitizes("\x9b\x9b", "??");
}

static void test_c1_utf8_encoded(void **state)
{
    /* U+0080-U+009F: one '?' for the whole two-byte character. */
    for (uint32_t cp = 0x80; cp <= 0x9f; cp++) {
        char ch[5], in[8];
        utf8_encode(cp, ch);
        snprintf(in, sizeof(in), "a%sb", ch);
        assert_sanitizes(in, "a?b");
    }
    assert_sanitizes("\xc2\x9b" "31m", "?31m");      /* U+009B CSI */
    assert_sanitizes("one\xc2\x85two", "one?two");   /* U+0085 NEXT LINE */
}

static void test_bidi_controls(void **state)
{
    static const uint32_t bidi[] = { 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066,
                                     0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c };
    for (size_t i = 0; i < sizeof(bidi) / sizeof(bidi[0]); i++) {
        char ch[5], in[8];
        utf8_encode(bidi[i], ch);
        snprintf(in, sizeof(in), "a%sb", ch);
        assert_sanitizes(in, "a?b");
    }
    /* "admin" shown reversed, a classic spoof. */
    assert_sanitizes("\xe2\x80\xae" "nimda\xe2\x80\xac", "?nimda?");
    assert_sanitizes("\xe2\x81\xa6" "x" "\xe2\x81\xa9", "?x?");
}

static void test_invalid_utf8(void **state)
{
    /* One '?' per byte that starts no valid character. */
    assert_sanitizes("\x80", "?");                             /* stray continuation */
    assert_sanitizes("a\xbf" "b", "a?b");
    assert_sanitizes("\xc3", "?");                             /* truncated at the end */
    assert_sanitizes("\xe6\x97", "??");
    assert_sanitizes("\xf0\x9f\x98", "???");
    assert_sanitizes("\xe6\x97" "a\xe6\x97\xa5", "??a\xe6\x97\xa5"); /* truncated, then valid */
    assert_sanitizes("\xc3" "A", "?A");                        /* lead then ASCII */
    assert_sanitizes("\xc0\x80", "??");                        /* overlong NUL */
    assert_sanitizes("\xc1\xbf", "??");                        /* overlong DEL */
    assert_sanitizes("\xc0\xaf", "??");                        /* overlong '/' */
    assert_sanitizes("\xe0\x80\xaf", "???");                   /* overlong, three bytes */
    assert_sanitizes("\xe0\x9f\xbf", "???");                   /* overlong U+07FF */
    assert_sanitizes("\xf0\x80\x80\xaf", "????");              /* overlong, four bytes */
    assert_sanitizes("\xf0\x8f\xbf\xbf", "????");              /* overlong U+FFFF */
    assert_sanitizes("\xed\xa0\x80", "???");                   /* surrogate U+D800 */
    assert_sanitizes("\xed\xbf\xbf", "???");                   /* surrogate U+DFFF */
    assert_sanitizes("\xed\xa0\xbd\xed\xb8\x80", "??????");    /* CESU-8 pair */
    assert_sanitizes("\xf4\x90\x80\x80", "????");              /* U+110000 */
    for (int c = 0xf5; c <= 0xff; c++) {
        char in[4] = { 'a', (char)c, 'b', '\0' };
        assert_sanitizes(in, "a?b");
    }
    assert_sanitizes("\xf8\x88\x80\x80\x80", "?????");         /* old five-byte form */
    assert_sanitizes("\xfe\xff", "??");
}

static void test_mixed(void **state)
{
    assert_sanitizes("Evil\x1b[2J\x07Org \xc2\x9b\x9b\xe2\x80\xae\xe2\x81\xa6 Caf\xc3\xa9\x7f\xff",
                     "Evil?[2J?Org ???? Caf\xc3\xa9??");
}

/* ---- against the reference, exhaustively ---- */

static void test_every_code_point(void **state)
{
    char in[8], out[8];
    for (uint32_t cp = 1; cp <= 0x10ffff; cp++) {
        size_t n = utf8_encode(cp, in);
        mk_text_sanitize(in, out, sizeof(out));
        bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
        const char *want = surrogate ? "???" : ref_unsafe(cp) ? "?" : in;
        if (strcmp(out, want) != 0)
            fail_msg("U+%04X (%zu bytes): got \"%s\", expected \"%s\"", (unsigned)cp, n, out, want);
        if (mk_text_is_clean(in) != (!surrogate && !ref_unsafe(cp)))
            fail_msg("mk_text_is_clean is wrong for U+%04X", (unsigned)cp);
    }
}

static void test_every_one_and_two_byte_string(void **state)
{
    for (int a = 1; a < 256; a++) {
        char in[3] = { (char)a, '\0', '\0' };
        assert_matches_reference(in);
        for (int b = 1; b < 256; b++) {
            in[1] = (char)b;
            assert_matches_reference(in);
        }
    }
}

static void test_three_byte_strings_after_edge_leads(void **state)
{
    static const unsigned char leads[] = { 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
                                           0xe1, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff };
    for (size_t l = 0; l < sizeof(leads); l++) {
        for (int b = 1; b < 256; b++) {
            for (int c = 1; c < 256; c++) {
                char in[4] = { (char)leads[l], (char)b, (char)c, '\0' };
                assert_matches_reference(in);
            }
        }
    }
    /* Four-byte leads with every second byte and fixed tails. */
    static const unsigned char four[] = { 0xf0, 0xf1, 0xf3, 0xf4 };
    for (size_t l = 0; l < sizeof(four); l++) {
        for (int b = 1; b < 256; b++) {
            char in[6] = { (char)four[l], (char)b, (char)0x80, (char)0xbf, 'x', '\0' };
            assert_matches_reference(in);
        }
    }
}

/* ---- bounds ---- */

static void test_truncation_at_every_length(void **state)
{
    static const char *const inputs[] = {
        "",
        "a",
        "plain ascii",
        "\xc3\xa9",
        "\xe6\x97\xa5",
        "\xf0\x9f\x98\x80",
        "Caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80!",
        "\xe6\x97\xa5\xe6\x9c\xac\xe6\x97\xa5\xe6\x9c\xac",
        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80x\xc3\xa9",
        "Evil\x1b[2J\x07Org \xc2\x9b\x9b\xe2\x80\xae\xe2\x81\xa6 Caf\xc3\xa9\x7f\xff",
        "\xe6\x97" "a\xe6\x97\xa5",
        "\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80\xe6\x9c\xac",
        "x\xe2\x80\xae\xc3\xa9\xc2\x85\xf0\x9f\x98\x80",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
        assert_truncates_cleanly(inputs[i]);
}

static void test_zero_length_and_null_buffer(void **state)
{
    char buf[4] = { 'x', 'y', 'z', '\0' };
    assert_ptr_equal(mk_text_sanitize("abc", buf, 0), buf);
    assert_memory_equal(buf, "xyz", 4); /* nothing written, not even a NUL */
    assert_null(mk_text_sanitize("abc", NULL, 0));
    assert_null(mk_text_sanitize("abc", NULL, 16));
    mk_text_sanitize("abc", buf, 1);
    assert_string_equal(buf, "");
}

static void test_null_input(void **state)
{
    char buf[8];
    memset(buf, 'x', sizeof(buf));
    assert_ptr_equal(mk_text_sanitize(NULL, buf, sizeof(buf)), buf);
    assert_string_equal(buf, "");
    assert_true(mk_text_is_clean(NULL));
    char *dup = mk_text_sanitize_dup(NULL);
    assert_non_null(dup);
    assert_string_equal(dup, "");
    free(dup);
}

static void test_dup_of_long_text(void **state)
{
    /* A long mix: the copy is exactly what a large enough buffer holds. */
    static const char piece[] = "Caf\xc3\xa9\x1b[31m\xc2\x9b\x9b\xe2\x80\xae\xe6\x97\xa5\xff ";
    size_t reps = 5000, len = strlen(piece) * reps;
    char *in = malloc(len + 1);
    char *want = malloc(len + 1);
    assert_non_null(in);
    assert_non_null(want);
    for (size_t i = 0; i < reps; i++)
        memcpy(in + i * strlen(piece), piece, strlen(piece));
    in[len] = '\0';
    ref_sanitize(in, want);
    char *dup = mk_text_sanitize_dup(in);
    assert_non_null(dup);
    assert_string_equal(dup, want);
    assert_true(strlen(dup) <= len);
    assert_true(mk_text_is_clean(dup));
    assert_false(mk_text_is_clean(in));
    free(dup);
    free(in);
    free(want);
}

static void test_is_clean(void **state)
{
    assert_true(mk_text_is_clean(""));
    assert_true(mk_text_is_clean("Acme Media"));
    assert_true(mk_text_is_clean("Caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"));
    static const char *const dirty[] = {
        "a\x1b" "b", "\x07", "a\n", "\r", "\t", "\x7f", "\x9b", "\xc2\x9b", "\xc2\x85",
        "\x80", "\xe6\x97", "\xc0\x80", "\xed\xa0\x80", "\xf5\x80\x80\x80", "\xff",
        "\xe2\x80\xaa", "\xe2\x80\xae", "\xe2\x81\xa6", "\xe2\x81\xa9", "\xe2\x80\x8e",
        "\xe2\x80\x8f", "\xd8\x9c", "fine until the end\x1b",
    };
    for (size_t i = 0; i < sizeof(dirty) / sizeof(dirty[0]); i++)
        if (mk_text_is_clean(dirty[i]))
            fail_msg("dirty string %zu reads as clean", i);
}

/* ---- vocabulary ---- */

static void test_org_id_one_rule(void **state)
{
    char out[MK_ORG_ID_MAX + 1];
    char long_id[MK_ORG_ID_MAX + 2];
    (void)state;

    assert_true(mk_org_id_valid("3f2a9c1e-0000-4000-8000-00000000abcd"));
    assert_true(mk_org_id_valid("a"));
    assert_false(mk_org_id_valid("---"));      /* no letter or digit */
    assert_false(mk_org_id_valid(""));
    assert_false(mk_org_id_valid(NULL));
    assert_false(mk_org_id_valid("ABC"));      /* not canonical */
    assert_false(mk_org_id_valid("a_b"));
    assert_false(mk_org_id_valid("a b"));
    assert_false(mk_org_id_valid("\xc3\xa9t\xc3\xa9"));

    assert_true(mk_org_id_canonical("3F2A9C1E-AbCd", out));
    assert_string_equal(out, "3f2a9c1e-abcd");
    assert_false(mk_org_id_canonical("---", out));
    assert_string_equal(out, "");
    assert_false(mk_org_id_canonical("a/b", out));
    assert_string_equal(out, "");

    memset(long_id, 'a', MK_ORG_ID_MAX);
    long_id[MK_ORG_ID_MAX] = '\0';
    assert_true(mk_org_id_canonical(long_id, out));
    long_id[MK_ORG_ID_MAX] = 'a';
    long_id[MK_ORG_ID_MAX + 1] = '\0';
    assert_false(mk_org_id_canonical(long_id, out));
    assert_false(mk_org_id_valid(long_id));
}

static void test_user_and_group_names(void **state)
{
    char long_name[MK_USER_NAME_MAX + 2];
    (void)state;

    assert_true(mk_user_name_valid("alice"));
    assert_true(mk_user_name_valid("Alice.Smith@EXAMPLE"));
    assert_true(mk_user_name_valid("j\xc3\xb6rg"));
    const char *bad_users[] = {"", "a:b", "a,b", "a/b", "a b", "a\tb", "a\nb", "a\x7f", "a\x01"};
    for (size_t i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++)
        if (mk_user_name_valid(bad_users[i]))
            fail_msg("user name %zu accepted", i);
    assert_false(mk_user_name_valid(NULL));
    memset(long_name, 'u', MK_USER_NAME_MAX);
    long_name[MK_USER_NAME_MAX] = '\0';
    assert_true(mk_user_name_valid(long_name));
    long_name[MK_USER_NAME_MAX] = 'u';
    long_name[MK_USER_NAME_MAX + 1] = '\0';
    assert_false(mk_user_name_valid(long_name));

    assert_true(mk_group_name_valid("mk-media-3f2a9c1e"));
    assert_true(mk_group_name_valid("_svc"));
    assert_true(mk_group_name_valid("abcdefghijklmnopqrstuvwxyz012345"));   /* 32 */
    assert_false(mk_group_name_valid("abcdefghijklmnopqrstuvwxyz0123456")); /* 33 */
    const char *bad_groups[] = {"", "-a", "1a", "Abc", "a.b", "a b", "\xc3\xa9", "a:b"};
    for (size_t i = 0; i < sizeof(bad_groups) / sizeof(bad_groups[0]); i++)
        if (mk_group_name_valid(bad_groups[i]))
            fail_msg("group name %zu accepted", i);
    assert_true(mk_group_name_valid_len("mk-", 16));
    assert_false(mk_group_name_valid_len("abcdefghijklmnopq", 16));
}

/* Whatever the locale says, the rules are ASCII: a Latin-1 locale's
 * islower(0xe9) must not make a group name of "\xe9t\xe9". */
static void test_vocabulary_ignores_locale(void **state)
{
    (void)state;
    const char *locales[] = {"de_DE.UTF-8", "de_DE.ISO-8859-1", "C.UTF-8", "tr_TR.UTF-8"};
    for (size_t i = 0; i < sizeof(locales) / sizeof(locales[0]); i++) {
        setlocale(LC_ALL, locales[i]); /* may not exist here: then C stays */
        assert_false(mk_group_name_valid("\xe9t\xe9"));
        assert_true(mk_user_name_valid("a\xa0" "b")); /* bytes >= 0x80 are not ASCII space */
        char out[MK_ORG_ID_MAX + 1];
        assert_true(mk_org_id_canonical("ABCDEFGHIJKLMNOPQRSTUVWXYZ", out));
        assert_string_equal(out, "abcdefghijklmnopqrstuvwxyz");  /* no Turkish dotless i */
        int64_t ms = 0;
        assert_true(mk_parse_seconds_ms("2.5", 0, 10000, &ms));
        assert_int_equal(ms, 2500);
        assert_false(mk_parse_seconds_ms("2,5", 0, 10000, &ms));
    }
    setlocale(LC_ALL, "C");
}

/* strcasecmp follows LC_CTYPE; the project's comparisons never do. */
static void test_ascii_case_equal(void **state)
{
    (void)state;
    assert_true(mk_ascii_case_equal("Application/JSON", "application/json"));
    assert_true(mk_ascii_case_equal("", ""));
    assert_false(mk_ascii_case_equal("abc", "abcd"));
    assert_false(mk_ascii_case_equal("abcd", "abc"));
    assert_false(mk_ascii_case_equal("\xc9", "\xe9")); /* Latin-1 E and e acute: not ASCII */
    assert_true(mk_ascii_case_equal_n("HTTPS://x", "https://y", 8));
    assert_false(mk_ascii_case_equal_n("HTTP:/", "http://", 7));
    assert_true(mk_ascii_case_equal_n("ab", "AB", 10));
    assert_true(mk_ascii_case_equal_n("x", "y", 0));
    assert_true(mk_ascii_xdigit('F') && mk_ascii_xdigit('a') && mk_ascii_xdigit('9'));
    assert_false(mk_ascii_xdigit('g') || mk_ascii_xdigit(0xe9));
}

static void test_display_name_repair(void **state)
{
    char big[3000];
    char *r;
    (void)state;

    assert_null(mk_display_name_repair(NULL));
    /* Valid characters stay as spelt, controls too (output sanitizes them);
     * bytes that start no valid character become '?'. */
    r = mk_display_name_repair("Caf\xc3\xa9 \xe2\x80\xae" "Evil\x1b[31m\xff\xc3");
    assert_non_null(r);
    assert_string_equal(r, "Caf\xc3\xa9 \xe2\x80\xae" "Evil\x1b[31m??");
    free(r);
    /* 2,000 and more characters are cut, at a character boundary. */
    for (size_t i = 0; i + 2 < sizeof(big); i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    big[sizeof(big) - 2] = '\0';
    r = mk_display_name_repair(big);
    assert_non_null(r);
    assert_true(strlen(r) <= MK_DISPLAY_NAME_MAX);
    assert_int_equal(strlen(r) % 2, 0);
    assert_true(mk_text_is_clean(r));
    free(r);
    /* Invalid bytes: one '?' each, still bounded. */
    memset(big, 0xff, sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    r = mk_display_name_repair(big);
    assert_non_null(r);
    assert_int_equal(strlen(r), MK_DISPLAY_NAME_MAX);
    assert_int_equal(strspn(r, "?"), MK_DISPLAY_NAME_MAX);
    free(r);
}

static void test_display_name_slug(void **state)
{
    char out[64], small[6], big[3000];
    (void)state;

    mk_display_name_slug("  Media Team (EU) ", out, sizeof(out));
    assert_string_equal(out, "media-team-eu");
    mk_display_name_slug("Caf\xc3\xa9__Ops", out, sizeof(out));
    assert_string_equal(out, "caf-__ops");
    mk_display_name_slug("---", out, sizeof(out));
    assert_string_equal(out, "");
    mk_display_name_slug(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    mk_display_name_slug("abcd efgh", small, sizeof(small));
    assert_string_equal(small, "abcd");   /* never ends with '-' */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    mk_display_name_slug(big, out, sizeof(out));
    assert_int_equal(strlen(out), sizeof(out) - 1);
}

static void test_parse_numbers(void **state)
{
    int64_t ms = -1;
    uint64_t v = 0;
    (void)state;

    assert_true(mk_parse_seconds_ms("3", 0, 300000, &ms));
    assert_int_equal(ms, 3000);
    assert_true(mk_parse_seconds_ms("0.25", 0, 300000, &ms));
    assert_int_equal(ms, 250);
    assert_true(mk_parse_seconds_ms("1.23456", 0, 300000, &ms));
    assert_int_equal(ms, 1234);
    const char *bad[] = {"", ".5", "5.", "2,5", "-1", "+1", " 1", "1 ", "1e3", "0x10", "1..2",
                         "1234567890"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mk_parse_seconds_ms(bad[i], 0, INT64_MAX, &ms))
            fail_msg("seconds \"%s\" accepted", bad[i]);
    assert_false(mk_parse_seconds_ms("0.05", 100, 60000, &ms));
    assert_false(mk_parse_seconds_ms("61", 100, 60000, &ms));
    assert_true(mk_parse_seconds_ms("60", 100, 60000, &ms));

    assert_true(mk_parse_u64("0", 10, &v));
    assert_int_equal(v, 0);
    assert_true(mk_parse_u64("18446744073709551615", UINT64_MAX, &v));
    assert_true(v == UINT64_MAX);
    assert_false(mk_parse_u64("18446744073709551616", UINT64_MAX, &v));
    assert_false(mk_parse_u64("7", 5, &v));
    assert_true(mk_parse_u64("5", 5, &v));
    assert_false(mk_parse_u64("-1", 5, &v));
    assert_false(mk_parse_u64("", 5, &v));
    assert_false(mk_parse_u64("1 ", 5, &v));
}

static void test_service_name_valid(void **state)
{
    (void)state;
    static const char *const good[] = { "login", "su-l", "sshd", "gdm-password", "my_dm+x.1", "A",
        "0123456789012345678901234567890123456789012345678901234567890123" };
    static const char *const bad[] = { "", ".hidden", "su/l", "su l", "su\nl", "s\xc3\xa9rvice",
        "01234567890123456789012345678901234567890123456789012345678901234", "a:b" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(mk_service_name_valid(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(mk_service_name_valid(bad[i]));
    assert_false(mk_service_name_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_name_valid),
        cmocka_unit_test(test_printable_ascii_kept),
        cmocka_unit_test(test_printable_utf8_kept),
        cmocka_unit_test(test_c0_controls_and_del),
        cmocka_unit_test(test_c1_raw_bytes),
        cmocka_unit_test(test_c1_utf8_encoded),
        cmocka_unit_test(test_bidi_controls),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_every_one_and_two_byte_string),
        cmocka_unit_test(test_three_byte_strings_after_edge_leads),
        cmocka_unit_test(test_truncation_at_every_length),
        cmocka_unit_test(test_zero_length_and_null_buffer),
        cmocka_unit_test(test_null_input),
        cmocka_unit_test(test_dup_of_long_text),
        cmocka_unit_test(test_is_clean),
        cmocka_unit_test(test_org_id_one_rule),
        cmocka_unit_test(test_user_and_group_names),
        cmocka_unit_test(test_vocabulary_ignores_locale),
        cmocka_unit_test(test_ascii_case_equal),
        cmocka_unit_test(test_display_name_repair),
        cmocka_unit_test(test_display_name_slug),
        cmocka_unit_test(test_parse_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
