/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_timefmt.c: mk_time_format_utc (base/timefmt.h): UTC
 * whatever TZ says, the epoch and times before it, a buffer of exactly
 * MK_TIME_UTC_SIZE, one byte too small (-ERANGE and ""), no room at all,
 * and a time gmtime cannot place (-EOVERFLOW and ""). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "base/timefmt.h"

static void test_utc(void **state)
{
    char buf[64];

    setenv("TZ", "America/New_York", 1);
    tzset();
    assert_int_equal(mk_time_format_utc(1714564800, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2024-05-01T12:00:00Z");
    unsetenv("TZ");
    tzset();
    assert_int_equal(mk_time_format_utc(0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    assert_int_equal(mk_time_format_utc(-1, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
}

static void test_buffer_size(void **state)
{
    char buf[MK_TIME_UTC_SIZE];

    assert_int_equal(mk_time_format_utc(1714564800, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2024-05-01T12:00:00Z");
    assert_int_equal(mk_time_format_utc(1714564800, buf, sizeof(buf) - 1), -ERANGE);
    assert_string_equal(buf, "");
    buf[0] = 'x';
    assert_int_equal(mk_time_format_utc(1714564800, buf, 0), -ERANGE);
    assert_int_equal(buf[0], 'x');
}

static void test_no_calendar_date(void **state)
{
    char buf[64] = "x";

    assert_int_equal(mk_time_format_utc(INT64_MAX, buf, sizeof(buf)), -EOVERFLOW);
    assert_string_equal(buf, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utc),
        cmocka_unit_test(test_buffer_size),
        cmocka_unit_test(test_no_calendar_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
