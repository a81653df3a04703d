/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_utf8.c: mk_utf8_decode and mk_text_char_unsafe
 * (base/text.h), the one UTF-8 decoder that the sanitizer and the tool's
 * JSON output share: one to four bytes, the limits of each length, what is
 * refused (a continuation byte first, C0/C1 and F5-FF leads, overlong
 * forms, surrogates, past U+10FFFF, a cut or broken sequence, no bytes at
 * all), and the characters the sanitizer replaces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/text.h"

/* The length mk_utf8_decode gives for the bytes of s, and the code point. */
static size_t decode(const char *s, uint32_t *cp)
{
    *cp = 0xdeadbeef;
    return mk_utf8_decode((const unsigned char *)s, strlen(s), cp);
}

static void test_valid(void **state)
{
    uint32_t cp;

    assert_int_equal(decode("A", &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(decode("\x7f", &cp), 1);
    assert_int_equal(cp, 0x7f);
    assert_int_equal(decode("\xc2\x80", &cp), 2);           /* U+0080, the first of two */
    assert_int_equal(cp, 0x80);
    assert_int_equal(decode("\xc3\xa9tail", &cp), 2);       /* é, the rest not read */
    assert_int_equal(cp, 0xe9);
    assert_int_equal(decode("\xdf\xbf", &cp), 2);
    assert_int_equal(cp, 0x7ff);
    assert_int_equal(decode("\xe0\xa0\x80", &cp), 3);
    assert_int_equal(cp, 0x800);
    assert_int_equal(decode("\xe2\x82\xac", &cp), 3);       /* € */
    assert_int_equal(cp, 0x20ac);
    assert_int_equal(decode("\xef\xbf\xbf", &cp), 3);
    assert_int_equal(cp, 0xffff);
    assert_int_equal(decode("\xf0\x90\x80\x80", &cp), 4);
    assert_int_equal(cp, 0x10000);
    assert_int_equal(decode("\xf0\x9f\x98\x80", &cp), 4);   /* 😀 */
    assert_int_equal(cp, 0x1f600);
    assert_int_equal(decode("\xf4\x8f\xbf\xbf", &cp), 4);
    assert_int_equal(cp, 0x10ffff);
}

static void test_refused(void **state)
{
    uint32_t cp;
    static const char *const bad[] = {
        "\x80", "\xbf",                     /* a continuation byte first */
        "\xc0\x80", "\xc1\xbf",             /* overlong two-byte forms */
        "\xe0\x80\x80", "\xe0\x9f\xbf",     /* overlong three-byte forms */
        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", /* overlong four-byte forms */
        "\xed\xa0\x80", "\xed\xbf\xbf",     /* surrogates */
        "\xf4\x90\x80\x80",                 /* past U+10FFFF */
        "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", /* no such lead */
        "\xc3", "\xe2\x82", "\xf0\x9f\x98", /* cut short */
        "\xc3(", "\xe2(\xac", "\xf0\x9f(\x80", /* broken by an ASCII byte */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (decode(bad[i], &cp) != 0)
            fail_msg("case %zu decoded", i);
    /* left bounds what is read, whatever follows. */
    assert_int_equal(mk_utf8_decode((const unsigned char *)"\xe2\x82\xac", 2, &cp), 0);
    assert_int_equal(mk_utf8_decode((const unsigned char *)"A", 0, &cp), 0);
}

static void test_unsafe(void **state)
{
    static const uint32_t unsafe[] = { 0x00, 0x1b, 0x1f, 0x7f, 0x80, 0x9f, 0x061c, 0x200b,
                                       0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202e,
                                       0x2066, 0x2069, 0xfeff };
    static const uint32_t safe[] = { 0x20, 'a', 0x7e, 0xa0, 0xe9, 0x200c, 0x2030, 0x2065,
                                     0x206a, 0x20ac, 0xfffd, 0x1f600 };

    for (size_t i = 0; i < sizeof(unsafe) / sizeof(*unsafe); i++)
        if (!mk_text_char_unsafe(unsafe[i]))
            fail_msg("U+%04X is taken as safe", (unsigned)unsafe[i]);
    for (size_t i = 0; i < sizeof(safe) / sizeof(*safe); i++)
        if (mk_text_char_unsafe(safe[i]))
            fail_msg("U+%04X is taken as unsafe", (unsigned)safe[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_unsafe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
