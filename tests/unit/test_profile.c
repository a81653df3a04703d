/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of common/net/profile.c: GET /api/v1/user/profile through http.c's
 * transport seam, the published record read, errors as every API error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/profile.h"

struct fake {
    long status;
    const char *body;
    mk_status transport;  /* MK_OK, or a simulated failure */
    size_t calls;
    char method[8];
    char path[64];
};

static mk_status fake_transport(void *ctx, const struct mk_http_request *req,
                                struct mk_http_response *resp, mk_error *err)
{
    struct fake *f = ctx;
    f->calls++;
    snprintf(f->method, sizeof(f->method), "%s", req->method);
    snprintf(f->path, sizeof(f->path), "%s", req->path);
    if (f->transport != MK_OK)
        return mk_error_set(err, f->transport, "simulated failure");
    resp->retry_after_ms = -1;
    resp->status = f->status;
    resp->body = strdup(f->body ? f->body : "");
    resp->body_len = strlen(resp->body);
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
    return MK_OK;
}

static void no_sleep(void *ctx, int64_t ms)
{
}

static struct mk_config test_cfg;

static mk_status get_profile(struct fake *f, struct mk_profile *p, mk_error *err)
{
    mk_http *http = NULL;
    memset(&test_cfg, 0, sizeof(test_cfg));
    test_cfg.base_url = "https://api.test";
    test_cfg.connect_timeout_ms = 3000;
    test_cfg.budget_ms = 5000;
    test_cfg.retries = 2;
    test_cfg.max_response_bytes = 1 << 20;
    assert_int_equal(mk_http_new(&test_cfg, "tok", &http, err), MK_OK);
    mk_http_set_transport(http, fake_transport, f);
    mk_http_set_sleep(http, no_sleep, NULL);
    mk_error_clear(err);
    mk_status st = mk_profile_get(http, p, err);
    mk_http_free(http);
    return st;
}

static const char published[] =
    "{\"kind\":\"UserProfile\",\"metadata\":{\"id\":\"u-alice\"},"
    "\"spec\":{\"loginEmail\":\"alice@example.com\",\"contactEmail\":\"a@example.org\","
    "\"name\":\"Alice \\u001b[31mLiddell\",\"isActive\":true,"
    "\"activeOrganizationId\":\"7d1e5b3a-2b3c-4d5e-8f9a-b2c3d4e5f6a7\","
    "\"avatar\":\"\",\"features\":[],\"company\":null,\"country\":\"NO\"}}";

static void test_published_record(void **state)
{
    struct fake f = { .status = 200, .body = published };
    struct mk_profile p;
    mk_error err;
    assert_int_equal(get_profile(&f, &p, &err), MK_OK);
    assert_int_equal(f.calls, 1);
    assert_string_equal(f.method, "GET");
    assert_string_equal(f.path, "/api/v1/user/profile");
    assert_string_equal(p.id, "u-alice");
    assert_string_equal(p.login_email, "alice@example.com");
    assert_string_equal(p.contact_email, "a@example.org");
    assert_string_equal(p.name, "Alice ?[31mLiddell");
    assert_string_equal(p.active_org_id, "7d1e5b3a-2b3c-4d5e-8f9a-b2c3d4e5f6a7");
    assert_true(p.is_active);
}

static void test_optional_fields(void **state)
{
    struct fake f = { .status = 200,
                      .body = "{\"metadata\":{\"id\":\"u1\"},\"spec\":{\"loginEmail\":\"x@y\","
                              "\"isActive\":false,\"activeOrganizationId\":null}}" };
    struct mk_profile p;
    mk_error err;
    assert_int_equal(get_profile(&f, &p, &err), MK_OK);
    assert_string_equal(p.name, "");
    assert_string_equal(p.contact_email, "");
    assert_string_equal(p.active_org_id, "");
    assert_false(p.is_active);
}

static void test_unauthorized(void **state)
{
    struct fake f = { .status = 401,
                      .body = "{\"error\":{\"code\":\"Unauthorized\",\"detail\":\"unknown token\"},"
                              "\"status\":401,\"ref\":\"ref-123\"}" };
    struct mk_profile p;
    mk_error err;
    assert_int_equal(get_profile(&f, &p, &err), MK_ERR_API);
    assert_int_equal(err.http_status, 401);
    assert_string_equal(err.ref, "ref-123");
    assert_non_null(strstr(err.message, "unknown token"));
    assert_non_null(strstr(err.message, "profile"));
    assert_null(strstr(err.message, "tok"  "\""));
    assert_int_equal(f.calls, 1); /* a 401 is never retried */
}

static void test_transport_failure(void **state)
{
    struct fake f = { .transport = MK_ERR_UNAVAILABLE };
    struct mk_profile p;
    mk_error err;
    assert_int_equal(get_profile(&f, &p, &err), MK_ERR_UNAVAILABLE);
    assert_true(f.calls >= 1);
}

static void test_bad_answers(void **state)
{
    static const char *const bodies[] = {
        "", "not json", "[]", "{\"spec\":3}", "{\"metadata\":{}}",
        "{\"spec\":{\"loginEmail\":5}}", "{\"spec\":{}}", "{\"spec\":{\"loginEmail\":\"a@b\"}} x",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct fake f = { .status = 200, .body = bodies[i] };
        struct mk_profile p;
        mk_error err;
        assert_int_equal(get_profile(&f, &p, &err), MK_ERR_PROTOCOL);
        assert_string_equal(p.login_email, "");
    }
}

static void test_parse_direct(void **state)
{
    struct mk_profile p;
    mk_error err;
    mk_error_clear(&err);
    assert_int_equal(mk_profile_parse(published, strlen(published), &p, &err), MK_OK);
    assert_string_equal(p.id, "u-alice");
    assert_int_equal(mk_profile_parse(NULL, 0, &p, &err), MK_ERR_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_record),
        cmocka_unit_test(test_optional_fields),
        cmocka_unit_test(test_unauthorized),
        cmocka_unit_test(test_transport_failure),
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_parse_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
