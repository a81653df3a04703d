/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_tool_util.c: the pure helpers of mkio-orgs: the time and
 * duration formats of tool/util.c (status and doctor print them), the PEM
 * counter of tool/pem.c and the nsswitch.conf reader of tool/nsswitch.c.
 * The tool's sources are compiled into this test (a unit test links the
 * layers of common/, not the tool's objects), so no build rule is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tool/util.c"
#include "tool/pem.c"
#include "tool/nsswitch.c"

/* UTC, the form of status and doctor and of their JSON; "never" for none. */
static void test_format_time(void **state)
{
    char buf[32];
    (void)state;
    tool_format_time(1714564800, buf, sizeof(buf));
    assert_string_equal(buf, "2024-05-01T12:00:00Z");
    tool_format_time(1, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:01Z");
    tool_format_time(0, buf, sizeof(buf));
    assert_string_equal(buf, "never");
    tool_format_time(-5, buf, sizeof(buf));
    assert_string_equal(buf, "never");
    /* Too small a buffer: "never" cut, never an overflow. */
    tool_format_time(1714564800, buf, 4);
    assert_string_equal(buf, "nev");
}

/* As mkio.conf writes a duration: the largest unit that divides it. */
static void test_format_duration(void **state)
{
    static const struct { int64_t ms; const char *text; } cases[] = {
        { 30LL * 86400 * 1000, "30d" },
        { 86400LL * 1000, "1d" },
        { 12LL * 3600 * 1000, "12h" },
        { 36LL * 3600 * 1000, "36h" },
        { 5 * 60 * 1000, "5m" },
        { 90 * 1000, "90s" },
        { 90 * 1000 + 999, "90s" },     /* whole seconds */
        { 999, "0s" },
        { 0, "0s" },
        { -60 * 1000, "-60s" },
    };
    char buf[32];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tool_format_duration(cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
    }
}

#define PEM_BODY "MIIBszCCAVmgAwIBAgIUQk9PTkVTVENFUlRJRklDQVRFQ09VTlQwCgYIKoZIzj0EAwIw\n"

static void test_pem_count(void **state)
{
    bool bad;
    (void)state;
    assert_int_equal(pem_count_certificates("", &bad), 0);
    assert_false(bad);
    assert_int_equal(pem_count_certificates(
        "-----BEGIN CERTIFICATE-----\n" PEM_BODY "-----END CERTIFICATE-----\n"
        "-----BEGIN CERTIFICATE-----\n" PEM_BODY "-----END CERTIFICATE-----\n", &bad), 2);
    assert_false(bad);
    /* No END line, a character that is not base64, too short a body. */
    assert_int_equal(pem_count_certificates(
        "-----BEGIN CERTIFICATE-----\n" PEM_BODY "-----END CERTIFICATE-----\n"
        "-----BEGIN CERTIFICATE-----\n" PEM_BODY, &bad), 1);
    assert_true(bad);
    assert_int_equal(pem_count_certificates(
        "-----BEGIN CERTIFICATE-----\n" PEM_BODY "!\n-----END CERTIFICATE-----\n", &bad), 0);
    assert_true(bad);
    assert_int_equal(pem_count_certificates(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", &bad), 0);
    assert_true(bad);
}

static void test_nsswitch_parse(void **state)
{
    struct nsswitch_lines l;
    (void)state;
    char a[] = "# comment: group: mkio\npasswd: files\n group :  files [NOTFOUND=return] mkio\n"
               "group: files\ninitgroups: files\n";
    nsswitch_parse(a, &l);
    assert_int_equal(l.group.line, 3);
    assert_true(l.group.has_mkio);
    assert_true(l.group.stops_before);
    assert_int_equal(l.group_lines, 2);
    assert_int_equal(l.initgroups.line, 5);
    assert_false(l.initgroups.has_mkio);

    /* !X=return returns on NOTFOUND; [NOTFOUND=continue] and a block after
     * mkio do not stop it; a service named mkio2 is not mkio. */
    char b[] = "group: files [!SUCCESS=return] mkio\n"
               "initgroups: mkio2 [NOTFOUND=continue] mkio [NOTFOUND=return]\n";
    nsswitch_parse(b, &l);
    assert_true(l.group.has_mkio);
    assert_true(l.group.stops_before);
    assert_true(l.initgroups.has_mkio);
    assert_false(l.initgroups.stops_before);

    char c[] = "passwd: files mkio # group: mkio\n";
    nsswitch_parse(c, &l);
    assert_int_equal(l.group.line, 0);
    assert_int_equal(l.group_lines, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_pem_count),
        cmocka_unit_test(test_nsswitch_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
