/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of common/net/jwt.c: claims read from crafted tokens, never
 * trusted, and every malformed token read as "not a JWT". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/jwt.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding, malloc'd. */
static char *enc(const char *in)
{
    size_t len = strlen(in);
    char *out = malloc(len / 3 * 4 + 8);
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = ((uint32_t)(unsigned char)in[i] << 16) | ((uint32_t)(unsigned char)in[i + 1] << 8)
                     | (unsigned char)in[i + 2];
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)(unsigned char)in[i] << 16) | ((uint32_t)(unsigned char)in[i + 1] << 8);
        out[o++] = b64url[v >> 18];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
    }
    out[o] = '\0';
    return out;
}

static char *make_token(const char *payload)
{
    char *p = enc(payload);
    char *t = NULL;
    assert_true(asprintf(&t, "eyJhbGciOiJIUzI1NiJ9.%s.c2lnbmF0dXJl", p) > 0);
    free(p);
    return t;
}

static void test_decode(void **state)
{
    unsigned char out[16];
    assert_int_equal(mk_base64url_decode("aGk", 3, out, sizeof(out)), 2);
    assert_memory_equal(out, "hi", 2);
    assert_int_equal(mk_base64url_decode("aGk=", 4, out, sizeof(out)), 2);
    assert_int_equal(mk_base64url_decode("_-8", 3, out, sizeof(out)), 2);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], 0xef);
    assert_int_equal(mk_base64url_decode("a+/b", 4, out, sizeof(out)), -1); /* base64, not url */
    assert_int_equal(mk_base64url_decode("abcde", 5, out, sizeof(out)), -1);
    assert_int_equal(mk_base64url_decode("a b=", 4, out, sizeof(out)), -1);
    assert_int_equal(mk_base64url_decode("aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ", 31, out, sizeof(out)), -1);
    assert_int_equal(mk_base64url_decode("", 0, out, sizeof(out)), 0);
}

static void test_claims(void **state)
{
    char *t = make_token("{\"sub\":\"u-alice\",\"exp\":1893456000,\"iat\":1700000000,"
                         "\"jti\":\"0d1c\",\"kind\":\"full-access\","
                         "\"organizationId\":\"7d1e5b3a-2b3c\"}");
    struct mk_jwt_claims c;
    assert_true(mk_jwt_read_claims(t, &c));
    assert_true(c.has_exp);
    assert_int_equal(c.exp, 1893456000);
    assert_true(c.has_iat);
    assert_int_equal(c.iat, 1700000000);
    assert_string_equal(c.sub, "u-alice");
    assert_string_equal(c.jti, "0d1c");
    assert_string_equal(c.kind, "full-access");
    assert_string_equal(c.organization_id, "7d1e5b3a-2b3c");
    free(t);
}

static void test_exp_missing_or_wrong_type(void **state)
{
    struct mk_jwt_claims c;
    char *t = make_token("{\"sub\":\"u\"}");
    assert_true(mk_jwt_read_claims(t, &c));
    assert_false(c.has_exp);
    assert_false(c.has_iat);
    free(t);
    t = make_token("{\"exp\":\"tomorrow\",\"iat\":null,\"sub\":7,\"tokenType\":\"restricted\"}");
    assert_true(mk_jwt_read_claims(t, &c));
    assert_false(c.has_exp);
    assert_false(c.has_iat);
    assert_string_equal(c.sub, "");
    assert_string_equal(c.kind, "restricted");
    free(t);
    t = make_token("{\"exp\":1700000000.75}");
    assert_true(mk_jwt_read_claims(t, &c));
    assert_true(c.has_exp);
    assert_int_equal(c.exp, 1700000000);
    free(t);
}

static void test_claims_sanitized(void **state)
{
    char *t = make_token("{\"sub\":\"evil\\u001b[2Jname\\n\"}");
    struct mk_jwt_claims c;
    assert_true(mk_jwt_read_claims(t, &c));
    assert_string_equal(c.sub, "evil?[2Jname?");
    free(t);
}

static void test_not_jwt(void **state)
{
    struct mk_jwt_claims c;
    assert_false(mk_jwt_read_claims(NULL, &c));
    assert_false(mk_jwt_read_claims("tok-alice-5e7d9c1a3b", &c)); /* no dots */
    assert_false(mk_jwt_read_claims("a.b", &c));
    assert_false(mk_jwt_read_claims("a..c", &c));
    assert_false(mk_jwt_read_claims(".e30.c", &c));
    assert_false(mk_jwt_read_claims("a.e30.", &c));
    assert_false(mk_jwt_read_claims("a.e30.c.d", &c));
    assert_true(mk_jwt_read_claims("a.e30.c", &c)); /* {} */
    assert_false(c.has_exp);
    assert_false(mk_jwt_read_claims("a.e3!0.c", &c));  /* bad base64 */
    assert_false(mk_jwt_read_claims("a.e+0.c", &c));
    char *t = make_token("[1,2]");                    /* not an object */
    assert_false(mk_jwt_read_claims(t, &c));
    free(t);
    t = make_token("{\"exp\":1} trailing");
    assert_false(mk_jwt_read_claims(t, &c));
    free(t);
    t = make_token("{\"exp\":1");
    assert_false(mk_jwt_read_claims(t, &c));
    assert_false(c.has_exp);
    free(t);
}

static void test_huge_payload(void **state)
{
    size_t n = MK_JWT_MAX_PAYLOAD + 100;
    char *payload = malloc(n + 32);
    strcpy(payload, "{\"exp\":5,\"pad\":\"");
    size_t len = strlen(payload);
    memset(payload + len, 'x', n - len);
    strcpy(payload + n, "\"}");
    char *t = make_token(payload);
    struct mk_jwt_claims c;
    assert_false(mk_jwt_read_claims(t, &c));
    assert_false(c.has_exp);
    free(t);
    /* Just under the limit is read. */
    memset(payload + len, 'x', MK_JWT_MAX_PAYLOAD - len - 2);
    strcpy(payload + MK_JWT_MAX_PAYLOAD - 2, "\"}");
    t = make_token(payload);
    assert_true(mk_jwt_read_claims(t, &c));
    assert_true(c.has_exp);
    assert_int_equal(c.exp, 5);
    free(t);
    free(payload);
}

/* An exp outside 1970..9999 is malformed, never a date: INT64_MIN showed
 * "106751991146506 days left" once exp - now wrapped (issue 20). */
static void test_exp_out_of_range(void **state)
{
    static const char *const bad[] = {
        "-9223372036854775808", "9223372036854775807", "18446744073709551615", "-1",
        "253402300800", "1e300", "-1e300", "-0.5e1",
    };
    struct mk_jwt_claims c;
    int64_t left = 42;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char payload[128];
        snprintf(payload, sizeof(payload), "{\"exp\":%s,\"iat\":%s,\"sub\":\"u\"}", bad[i],
                 bad[i]);
        char *t = make_token(payload);
        assert_true(mk_jwt_read_claims(t, &c));
        assert_false(c.has_exp);
        assert_true(c.exp_malformed);
        assert_false(c.has_iat);
        assert_string_equal(c.sub, "u");
        assert_false(mk_jwt_seconds_left(&c, 1700000000, &left));
        assert_int_equal(left, 0);
        free(t);
    }
    /* The ends of the range are dates. */
    char *t = make_token("{\"exp\":0}");
    assert_true(mk_jwt_read_claims(t, &c));
    assert_true(c.has_exp);
    assert_false(c.exp_malformed);
    assert_int_equal(c.exp, 0);
    free(t);
    t = make_token("{\"exp\":253402300799}");
    assert_true(mk_jwt_read_claims(t, &c));
    assert_true(c.has_exp);
    assert_int_equal(c.exp, MK_JWT_TIME_MAX);
    free(t);
    /* A missing exp is not malformed. */
    t = make_token("{\"sub\":\"u\"}");
    assert_true(mk_jwt_read_claims(t, &c));
    assert_false(c.exp_malformed);
    free(t);
}

/* seconds_left never overflows, whatever the claims or the clock say. */
static void test_seconds_left(void **state)
{
    struct mk_jwt_claims c;
    int64_t left = 0;
    memset(&c, 0, sizeof(c));
    c.has_exp = true;
    c.exp = 1700000000 + 86400;
    assert_true(mk_jwt_seconds_left(&c, 1700000000, &left));
    assert_int_equal(left, 86400);
    assert_true(mk_jwt_seconds_left(&c, 1700000000 + 2 * 86400, &left));
    assert_int_equal(left, -86400);
    c.exp = MK_JWT_TIME_MAX;
    assert_true(mk_jwt_seconds_left(&c, INT64_MIN, &left));
    assert_int_equal(left, INT64_MAX);
    c.exp = 0;
    assert_true(mk_jwt_seconds_left(&c, INT64_MAX, &left));
    assert_int_equal(left, -INT64_MAX);
    /* Claims filled by hand out of range are refused, not computed. */
    c.exp = INT64_MIN;
    assert_false(mk_jwt_seconds_left(&c, 1700000000, &left));
    c.exp = INT64_MAX;
    assert_false(mk_jwt_seconds_left(&c, 1700000000, &left));
    c.exp = 5;
    c.has_exp = false;
    assert_false(mk_jwt_seconds_left(&c, 1700000000, &left));
    assert_int_equal(left, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_exp_missing_or_wrong_type),
        cmocka_unit_test(test_claims_sanitized),
        cmocka_unit_test(test_not_jwt),
        cmocka_unit_test(test_huge_payload),
        cmocka_unit_test(test_exp_out_of_range),
        cmocka_unit_test(test_seconds_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
