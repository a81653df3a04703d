/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of common/net/api.c: requests exactly as the contract documents,
 * tolerant reading, error bodies, pagination, content checks, expiry and
 * the JSON for scripts. The network is replaced by http.c's transport seam. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/api.h"
#include "testutil.h"

/* ---- a scripted server ---- */

struct answer {
    long status;
    const char *content_type;
    const char *body;
};

struct fake {
    const struct answer *answers;
    size_t n;
    size_t calls;
    char method[8][8];
    char path[8][256];
    char body[8][512];
    bool had_body[8];
    /* When set, pages are generated: page_of(skiptoken) gives the body. */
    char *(*page_of)(struct fake *f, long skiptoken);
    long page_total;
    long page_records; /* records per page */
    int page_stuck;    /* 1: end never advances past start */
};

static mk_status fake_transport(void *ctx, const struct mk_http_request *req,
                                struct mk_http_response *resp, mk_error *err)
{
    struct fake *f = ctx;
    size_t i = f->calls++;
    if (i < 8) {
        snprintf(f->method[i], sizeof(f->method[i]), "%s", req->method);
        snprintf(f->path[i], sizeof(f->path[i]), "%s", req->path);
        snprintf(f->body[i], sizeof(f->body[i]), "%s", req->body ? req->body : "");
        f->had_body[i] = req->body != NULL;
    }
    resp->retry_after_ms = -1;
    if (f->page_of) {
        const char *q = strstr(req->path, "$skiptoken=");
        resp->status = 200;
        resp->body = f->page_of(f, q ? atol(q + 11) : 0);
        resp->body_len = strlen(resp->body);
        snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
        return MK_OK;
    }
    const struct answer *a = &f->answers[i < f->n ? i : f->n - 1];
    resp->status = a->status;
    resp->body = strdup(a->body ? a->body : "");
    resp->body_len = strlen(resp->body);
    snprintf(resp->content_type, sizeof(resp->content_type), "%s",
             a->content_type ? a->content_type : "application/json");
    return MK_OK;
}

static void no_sleep(void *ctx, int64_t ms)
{
}

static struct mk_config test_cfg;

static mk_http *fake_client(struct fake *f)
{
    mk_http *http = NULL;
    mk_error err;
    memset(&test_cfg, 0, sizeof(test_cfg));
    test_cfg.base_url = "https://api.test";
    test_cfg.connect_timeout_ms = 3000;
    test_cfg.budget_ms = 5000;
    test_cfg.retries = 3;
    test_cfg.max_response_bytes = 1 << 20;
    /* Loose enough for the page-count bound to be the one that stops an
     * endless listing; test_list_bounds sets them tight. */
    test_cfg.max_list_bytes = 1024UL * 1024 * 1024;
    test_cfg.max_list_records = 1000000;
    assert_int_equal(mk_http_new(&test_cfg, "tok", &http, &err), MK_OK);
    mk_http_set_transport(http, fake_transport, f);
    mk_http_set_sleep(http, no_sleep, NULL);
    return http;
}

static json_object *parse(const char *text)
{
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

/* ---- time ---- */

static void test_parse_time(void **state)
{
    time_t t;
    assert_true(mk_parse_time("1970-01-01T00:00:00Z", &t));
    assert_int_equal(t, 0);
    assert_true(mk_parse_time("2024-03-01T12:30:45Z", &t));
    assert_int_equal(t, 1709296245);
    assert_true(mk_parse_time("2024-03-01T12:30:45.123456Z", &t));
    assert_int_equal(t, 1709296245);
    assert_true(mk_parse_time("2024-03-01T14:30:45+02:00", &t));
    assert_int_equal(t, 1709296245);
    assert_true(mk_parse_time("2024-03-01T07:00:45.5-05:30", &t));
    assert_int_equal(t, 1709296245);
    assert_true(mk_parse_time("2024-02-29T00:00:00z", &t));
    const char *bad[] = { "", "2024-03-01", "2024-03-01T12:30:45", "2024-13-01T00:00:00Z",
                          "2023-02-29T00:00:00Z", "2024-03-01T24:00:00Z", "2024-03-01T12:30:45+0200",
                          "2024-03-01T12:30:45.Z", "2024-03-01T12:30:45Zjunk", "yesterday",
                          "2024-03-01T12:30:45+25:00" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(mk_parse_time(bad[i], &t));
    assert_false(mk_parse_time(NULL, &t));
}

static void test_user_org_contract_form(void **state)
{
    json_object *o = parse(
        "{\"metadata\":{\"id\":\"org-1\",\"created\":\"2024-01-01T00:00:00Z\",\"extra\":1},"
        "\"spec\":{\"name\":\"Example Media\",\"invite\":{\"state\":\"pending\","
        "\"comment\":\"Delphi\",\"invitedBy\":{\"email\":\"a@example.com\",\"name\":\"Ada\"},"
        "\"expires\":\"2024-01-15T00:00:00Z\",\"future\":[1,2]}},\"status\":{}}");
    struct mk_user_org org;
    mk_error err;
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_string_equal(org.id, "org-1");
    assert_string_equal(org.name, "Example Media");
    assert_string_equal(org.created, "2024-01-01T00:00:00Z");
    assert_true(org.has_invite);
    assert_string_equal(org.invite.state, "pending");
    assert_string_equal(org.invite.comment, "Delphi");
    assert_string_equal(org.invite.sender.email, "a@example.com");
    assert_string_equal(org.invite.sender.name, "Ada");
    assert_string_equal(org.invite.expires, "2024-01-15T00:00:00Z");
    assert_false(org.invite.expires_computed);
    mk_user_org_clear(&org);
    json_object_put(o);
}

static void test_user_org_tolerated_variants(void **state)
{
    struct { const char *json; const char *id; const char *name; bool invite;
             const char *email; const char *sender_name; } cases[] = {
        { "{\"id\":\"top\",\"name\":\"Top\"}", "top", "Top", false, NULL, NULL },
        { "{\"metadata\":{\"id\":\"m\",\"displayName\":\"Disp\",\"name\":\"n\"}}", "m", "n",
          false, NULL, NULL },
        { "{\"metadata\":{\"id\":\"m\",\"name\":\"Meta\"},\"name\":\"t\"}", "m", "Meta", false,
          NULL, NULL },
        { "{\"metadata\":{\"id\":\"m\"}}", "m", NULL, false, NULL, NULL },
        { "{\"metadata\":{\"id\":\"m\"},\"spec\":{\"invite\":null}}", "m", NULL, false, NULL, NULL },
        { "{\"metadata\":{\"id\":\"m\"},\"invite\":{\"state\":\"pending\",\"sentBy\":\"s@x.io\"}}",
          "m", NULL, true, "s@x.io", NULL },
        { "{\"metadata\":{\"id\":\"m\"},\"spec\":{\"invite\":{\"inviter\":{\"name\":\"Bo\"}}}}",
          "m", NULL, true, NULL, "Bo" },
        { "{\"metadata\":{\"id\":\"m\"},\"spec\":{\"invite\":{\"state\":\"accepted\"}}}", "m",
          NULL, false, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *o = parse(cases[i].json);
        struct mk_user_org org;
        mk_error err;
        assert_int_equal(mk_parse_user_org(o, i, &org, &err), MK_OK);
        assert_string_equal(org.id, cases[i].id);
        if (cases[i].name)
            assert_string_equal(org.name, cases[i].name);
        else
            assert_null(org.name);
        assert_int_equal(org.has_invite, cases[i].invite);
        if (cases[i].email)
            assert_string_equal(org.invite.sender.email, cases[i].email);
        if (cases[i].sender_name)
            assert_string_equal(org.invite.sender.name, cases[i].sender_name);
        mk_user_org_clear(&org);
        json_object_put(o);
    }
}

static void test_user_org_invite_without_state_is_pending(void **state)
{
    json_object *o = parse("{\"metadata\":{\"id\":\"m\"},\"spec\":{\"invite\":{}}}");
    struct mk_user_org org;
    mk_error err;
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_true(org.has_invite);
    assert_string_equal(org.invite.state, "pending");
    mk_user_org_clear(&org);
    json_object_put(o);
}

static void test_user_org_expiry_computed(void **state)
{
    struct mk_user_org org;
    mk_error err;
    /* For display only: computed from the invite's own created. */
    json_object *o = parse("{\"metadata\":{\"id\":\"m\"},"
                           "\"spec\":{\"invite\":{\"state\":\"pending\","
                           "\"created\":\"2024-01-01T10:00:00+01:00\"}}}");
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_string_equal(org.invite.expires, "2024-01-15T09:00:00Z");
    assert_true(org.invite.expires_computed);
    mk_user_org_clear(&org);
    json_object_put(o);

    /* The organization's created says nothing of the invite: no expiry
     * (the first edition computed one from it and refused the accept). */
    o = parse("{\"metadata\":{\"id\":\"m\",\"created\":\"2024-01-01T10:00:00+01:00\"},"
              "\"spec\":{\"invite\":{\"state\":\"pending\"}}}");
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_null(org.invite.expires);
    assert_false(org.invite.expires_computed);
    assert_true(org.has_invite);
    mk_user_org_clear(&org);
    json_object_put(o);

    /* Neither expires nor created: not expired, nothing computed. */
    o = parse("{\"metadata\":{\"id\":\"m\"},\"spec\":{\"invite\":{\"state\":\"pending\"}}}");
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_null(org.invite.expires);
    assert_false(org.invite.expires_computed);
    mk_user_org_clear(&org);
    json_object_put(o);

    /* Only pending invites get a computed expiry. */
    o = parse("{\"metadata\":{\"id\":\"m\",\"created\":\"2024-01-01T00:00:00Z\"},"
              "\"spec\":{\"invite\":{\"state\":\"declined\"}}}");
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_null(org.invite.expires);
    mk_user_org_clear(&org);
    json_object_put(o);
}

static void test_user_org_wrong_types(void **state)
{
    struct { const char *json; const char *message; } cases[] = {
        { "[1]", "record 4: is not a JSON object" },
        { "{\"metadata\":[]}", "record 4: metadata is not an object" },
        { "{\"metadata\":{\"id\":7}}", "record 4: metadata.id is not a string" },
        { "{\"metadata\":{}}", "record 4: the record has no id" },
        { "{\"metadata\":{\"id\":\"\"}}", "record 4: the record has no id" },
        { "{\"id\":\"o\",\"spec\":{\"name\":5}}", "record 4 (id o): spec.name is not a string" },
        { "{\"id\":\"o\",\"spec\":\"x\"}", "record 4 (id o): spec is not an object" },
        { "{\"id\":\"o\",\"metadata\":{\"displayName\":true}}",
          "record 4 (id o): metadata.displayName is not a string" },
        { "{\"id\":\"o\",\"spec\":{\"invite\":\"yes\"}}", "record 4 (id o): spec.invite is not an object" },
        { "{\"id\":\"o\",\"invite\":[]}", "record 4 (id o): invite is not an object" },
        { "{\"id\":\"o\",\"invite\":{\"state\":1}}", "record 4 (id o): invite.state is not a string" },
        { "{\"id\":\"o\",\"invite\":{\"comment\":{}}}", "record 4 (id o): invite.comment is not a string" },
        { "{\"id\":\"o\",\"invite\":{\"invitedBy\":3}}",
          "record 4 (id o): invite.invitedBy is neither a string nor an object" },
        { "{\"id\":\"o\",\"invite\":{\"sentBy\":{\"email\":1}}}",
          "record 4 (id o): invite.sentBy.email is not a string" },
        { "{\"id\":\"o\",\"invite\":{\"expires\":20240101}}",
          "record 4 (id o): invite.expires is not a string" },
        { "{\"id\":\"o\",\"metadata\":{\"created\":1}}", "record 4 (id o): metadata.created is not a string" },
        { "{\"id\":\"bad\\u001b[31m\",\"spec\":{\"name\":1}}",
          "record 4 (id bad?[31m): spec.name is not a string" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *o = parse(cases[i].json);
        struct mk_user_org org;
        mk_error err;
        mk_error_clear(&err);
        assert_int_equal(mk_parse_user_org(o, 3, &org, &err), MK_ERR_PROTOCOL);
        assert_string_equal(err.message, cases[i].message);
        assert_null(org.id);
        assert_null(org.name);
        json_object_put(o);
    }
}

static void test_invite_record(void **state)
{
    json_object *o = parse(
        "{\"metadata\":{\"id\":\"inv-1\",\"created\":\"2024-01-01T00:00:00Z\","
        "\"expires\":\"2024-01-15T00:00:00Z\"},\"spec\":{\"email\":\"j@example.com\","
        "\"comment\":\"hi\",\"teams\":[\"enc\",\"ops\"]},\"status\":{\"state\":\"pending\"},\"x\":0}");
    struct mk_invite inv;
    mk_error err;
    assert_int_equal(mk_parse_invite(o, 0, &inv, &err), MK_OK);
    assert_string_equal(inv.id, "inv-1");
    assert_string_equal(inv.email, "j@example.com");
    assert_string_equal(inv.comment, "hi");
    assert_int_equal(inv.team_count, 2);
    assert_string_equal(inv.teams[1], "ops");
    assert_string_equal(inv.state, "pending");
    assert_string_equal(inv.expires, "2024-01-15T00:00:00Z");

    mk_invite_clear(&inv);
    json_object_put(o);

    /* Minimal: top-level id, absent fields null, teams empty. */
    o = parse("{\"id\":\"i2\",\"spec\":{\"email\":\"k@x.io\"}}");
    assert_int_equal(mk_parse_invite(o, 0, &inv, &err), MK_OK);
    assert_string_equal(inv.id, "i2");
    assert_null(inv.comment);
    assert_null(inv.state);
    assert_null(inv.created);
    assert_null(inv.expires);
    assert_int_equal(inv.team_count, 0);
    mk_invite_clear(&inv);
    json_object_put(o);
}

static void test_invite_wrong_types(void **state)
{
    struct { const char *json; const char *message; } cases[] = {
        { "{\"spec\":{\"email\":\"a@b\"}}", "record 1: the record has no id" },
        { "{\"id\":\"i\"}", "record 1 (id i): spec.email is missing" },
        { "{\"id\":\"i\",\"spec\":{\"email\":[]}}", "record 1 (id i): spec.email is not a string" },
        { "{\"id\":\"i\",\"spec\":{\"email\":\"a@b\",\"teams\":\"x\"}}",
          "record 1 (id i): spec.teams is not a list" },
        { "{\"id\":\"i\",\"spec\":{\"email\":\"a@b\",\"teams\":[\"x\",2]}}",
          "record 1 (id i): spec.teams holds something other than a string" },
        { "{\"id\":\"i\",\"spec\":{\"email\":\"a@b\"},\"status\":{\"state\":false}}",
          "record 1 (id i): status.state is not a string" },
        { "{\"id\":\"i\",\"spec\":{\"email\":\"a@b\"},\"status\":7}",
          "record 1 (id i): status is not an object" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *o = parse(cases[i].json);
        struct mk_invite inv;
        mk_error err;
        assert_int_equal(mk_parse_invite(o, 0, &inv, &err), MK_ERR_PROTOCOL);
        assert_string_equal(err.message, cases[i].message);
        assert_null(inv.id);
        json_object_put(o);
    }
}

/* ---- error bodies ---- */

static void test_error_from_response(void **state)
{
    const char *full = "{\"error\":{\"code\":\"Conflict\",\"detail\":\"invite expired\","
                       "\"extraDetail\":{}},\"status\":409,\"ref\":\"r-42\"}";
    mk_error err;
    mk_error_clear(&err);
    assert_int_equal(mk_api_error_from_response(409, full, &err), MK_ERR_API);
    assert_string_equal(err.message,
                        "MK.IO refused the request: invite expired (HTTP 409, code Conflict, ref r-42)");
    assert_string_equal(err.code, "Conflict");
    assert_string_equal(err.ref, "r-42");
    assert_int_equal(err.http_status, 409);

    /* The second edition's plain-string "error" is the detail. */
    mk_error_clear(&err);
    assert_int_equal(mk_api_error_from_response(404, "{\"error\":\"no such invite\",\"ref\":\"r-7\"}",
                                                &err), MK_ERR_API);
    assert_string_equal(err.message, "MK.IO refused the request: no such invite (HTTP 404, ref r-7)");

    const long api[] = { 400, 401, 403, 404, 409 };
    const long down[] = { 429, 500, 503 };
    const char *bodies[] = { full, "{\"error\":{\"detail\":\"d\"}}", "<html>oops</html>", "", NULL,
                             "{\"error\":\"str\",\"ref\":5}" };
    for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
        for (size_t i = 0; i < 5; i++) {
            mk_error_clear(&err);
            assert_int_equal(mk_api_error_from_response(api[i], bodies[b], &err), MK_ERR_API);
            assert_int_equal(err.http_status, api[i]);
            char want[32];
            snprintf(want, sizeof(want), "HTTP %ld", api[i]);
            assert_non_null(strstr(err.message, want));
        }
        for (size_t i = 0; i < 3; i++) {
            mk_error_clear(&err);
            assert_int_equal(mk_api_error_from_response(down[i], bodies[b], &err),
                             MK_ERR_UNAVAILABLE);
            assert_int_equal(err.http_status, down[i]);
        }
    }
    mk_error_clear(&err);
    mk_api_error_from_response(400, "{\"error\":{\"detail\":\"d\"}}", &err);
    assert_string_equal(err.message, "MK.IO refused the request: d (HTTP 400)");
    assert_string_equal(err.code, "");
    mk_api_error_from_response(500, "not json", &err);
    assert_string_equal(err.message, "MK.IO failed to answer the request (HTTP 500, no error detail)");
    mk_api_error_from_response(401, "", &err);
    assert_non_null(strstr(err.message, "the token was refused (missing, malformed or expired)"));
    mk_api_error_from_response(403, full, &err);
    assert_non_null(strstr(err.message, "not allowed"));
    assert_int_equal(mk_api_error_from_response(302, "", &err), MK_ERR_PROTOCOL);
    assert_string_equal(err.message, "unexpected redirect (HTTP 302); not followed");
    /* A hostile detail cannot carry control characters into a terminal or log. */
    mk_api_error_from_response(400, "{\"error\":{\"detail\":\"a\\nb\\u001b[2J\"}}", &err);
    assert_string_equal(err.message, "MK.IO refused the request: a?b?[2J (HTTP 400)");
}

/* ---- the six requests ---- */

static const char ORG_BODY[] = "{\"metadata\":{\"id\":\"o 1\"},\"spec\":{\"name\":\"N\"}}";
static const char INVITE_BODY[] =
    "{\"metadata\":{\"id\":\"inv-9\"},\"spec\":{\"email\":\"j@x.io\"},\"status\":{\"state\":\"pending\"}}";

static void test_requests_exact(void **state)
{
    const struct answer answers[] = {
        { 200, NULL, "{\"value\":[]}" },               /* list user orgs */
        { 200, NULL, ORG_BODY },                       /* accept */
        { 204, "", "" },                               /* delete */
        { 200, NULL, "{\"value\":[]}" },               /* list invites */
        { 201, NULL, INVITE_BODY },                    /* create */
        { 204, "", "" },                               /* cancel */
        { 201, NULL, INVITE_BODY },                    /* create, no comment nor teams */
    };
    struct fake f = { .answers = answers, .n = 7 };
    mk_http *http = fake_client(&f);
    mk_error err;
    struct mk_user_org_list orgs;
    struct mk_invite_list invites;
    struct mk_user_org org;
    struct mk_invite inv;
    const char *teams[] = { "encoding-team", "a\"b" };

    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_OK);
    assert_int_equal(orgs.count, 0);
    assert_int_equal(mk_user_org_accept(http, "o 1/x", &org, &err), MK_OK);
    assert_string_equal(org.name, "N");
    mk_user_org_clear(&org);
    assert_int_equal(mk_user_org_delete(http, "org-1", &err), MK_OK);
    assert_int_equal(mk_invites_list(http, &invites, &err), MK_OK);
    assert_int_equal(mk_invite_create(http, "jane.smith@example.com", "Video \"encoding\"", teams, 2,
                                      &inv, &err), MK_OK);
    assert_string_equal(inv.id, "inv-9");
    mk_invite_clear(&inv);
    assert_int_equal(mk_invite_cancel(http, "inv-9", &err), MK_OK);
    assert_int_equal(mk_invite_create(http, "k@x.io", NULL, NULL, 0, NULL, &err), MK_OK);

    assert_string_equal(f.method[0], "GET");
    assert_string_equal(f.path[0], "/api/v1/user/organizations");
    assert_false(f.had_body[0]);
    assert_string_equal(f.method[1], "PATCH");
    assert_string_equal(f.path[1], "/api/v1/user/organizations/o%201%2Fx");
    assert_string_equal(f.body[1], "{\"spec\":{\"invite\":{\"state\":\"accepted\"}}}");
    assert_string_equal(f.method[2], "DELETE");
    assert_string_equal(f.path[2], "/api/v1/user/organizations/org-1");
    assert_false(f.had_body[2]);
    assert_string_equal(f.method[3], "GET");
    assert_string_equal(f.path[3], "/api/v1/organization/invites");
    assert_string_equal(f.method[4], "POST");
    assert_string_equal(f.path[4], "/api/v1/organization/invites");
    assert_string_equal(f.body[4], "{\"spec\":{\"email\":\"jane.smith@example.com\","
                                   "\"comment\":\"Video \\\"encoding\\\"\","
                                   "\"teams\":[\"encoding-team\",\"a\\\"b\"]}}");
    assert_string_equal(f.method[5], "DELETE");
    assert_string_equal(f.path[5], "/api/v1/organization/invites/inv-9");
    /* The published API requires comment in every POST: "" when none. */
    assert_string_equal(f.body[6], "{\"spec\":{\"email\":\"k@x.io\",\"comment\":\"\"}}");
    assert_int_equal(f.calls, 7);
    mk_user_org_list_free(&orgs);
    mk_invite_list_free(&invites);
    mk_http_free(http);
}

/* An id is escaped byte by byte, ASCII letters and digits kept, whatever
 * the locale: under Latin-1, isalnum(0xe9) is true, and a raw 0xe9 must
 * still not reach the request line. The locale is built with localedef
 * into a private LOCPATH (Debian's locales package). */
static void test_ids_escaped_whatever_the_locale(void **state)
{
    const struct answer answers[] = { { 204, "", "" } };
    struct fake f = { .answers = answers, .n = 1 };
    struct tu_tmpdir dir;
    mk_error err;

    tu_locale_make_ok(&dir, "de_DE", "ISO-8859-1", "de_DE.ISO-8859-1");

    mk_http *http = fake_client(&f);
    assert_int_equal(mk_user_org_delete(http, "caf\xe9 1", &err), MK_OK);
    assert_string_equal(f.path[0], "/api/v1/user/organizations/caf%E9%201");
    mk_http_free(http);

    tu_locale_drop_ok(&dir);
}

static void test_usage_errors_send_nothing(void **state)
{
    const struct answer answers[] = { { 200, NULL, "{}" } };
    struct fake f = { .answers = answers, .n = 1 };
    mk_http *http = fake_client(&f);
    mk_error err;
    const char *empty_team[] = { "" };
    assert_int_equal(mk_user_org_accept(http, "", NULL, &err), MK_ERR_USAGE);
    assert_string_equal(err.message, "the organization id must not be empty");
    assert_int_equal(mk_user_org_accept(http, NULL, NULL, &err), MK_ERR_USAGE);
    assert_int_equal(mk_user_org_delete(http, "", &err), MK_ERR_USAGE);
    assert_int_equal(mk_invite_cancel(http, "", &err), MK_ERR_USAGE);
    assert_string_equal(err.message, "the invite id must not be empty");
    assert_int_equal(mk_invite_create(http, "", NULL, NULL, 0, NULL, &err), MK_ERR_USAGE);
    assert_int_equal(mk_invite_create(http, "a@b", NULL, empty_team, 1, NULL, &err), MK_ERR_USAGE);
    assert_int_equal(f.calls, 0);
    mk_http_free(http);
}

static void test_call_failures(void **state)
{
    const char *e409 = "{\"error\":{\"code\":\"InviteNotPending\",\"detail\":\"the invite has expired\"},"
                       "\"status\":409,\"ref\":\"ref-1\"}";
    const struct answer answers[] = {
        { 409, NULL, e409 },
        { 403, NULL, "{\"error\":{\"detail\":\"forbidden\"},\"ref\":\"r2\"}" },
        { 404, NULL, "" },
        { 302, "text/html", "<a href=x>moved</a>" },
        { 503, NULL, "" },
    };
    struct fake f = { .answers = answers, .n = 5 };
    mk_http *http = fake_client(&f);
    mk_error err;

    mk_error_clear(&err);
    assert_int_equal(mk_user_org_accept(http, "org-1", NULL, &err), MK_ERR_API);
    assert_int_equal(f.calls, 1); /* a 409 is never retried */
    assert_string_equal(err.message, "accepting the invite to org-1: MK.IO refused the request: "
                                     "the invite has expired (HTTP 409, code InviteNotPending, ref ref-1); "
                                     "the invite is gone (expired, cancelled or answered): "
                                     "ask the organization's admin for a new invite");
    assert_string_equal(err.ref, "ref-1");
    assert_int_equal(mk_invite_cancel(http, "i", &err), MK_ERR_API);
    assert_non_null(strstr(err.message, "the token lacks the RBAC capability core.invite.delete"));
    assert_int_equal(mk_user_org_delete(http, "x", &err), MK_ERR_API);
    assert_non_null(strstr(err.message, "HTTP 404"));
    assert_int_equal(mk_user_org_delete(http, "x", &err), MK_ERR_PROTOCOL);
    assert_non_null(strstr(err.message, "unexpected redirect (HTTP 302); not followed"));
    assert_int_equal(f.calls, 4);
    assert_int_equal(mk_user_org_delete(http, "x", &err), MK_ERR_UNAVAILABLE);
    assert_int_equal(f.calls, 8); /* 503 retried 3 times */
    mk_http_free(http);
}

static void test_content_checks(void **state)
{
    struct { struct answer a; mk_status rc; const char *message; } cases[] = {
        { { 200, "text/html", "<html></html>" }, MK_ERR_PROTOCOL,
          "listing your organizations: expected JSON, got text/html" },
        { { 200, "", "{\"value\":[]}" }, MK_ERR_PROTOCOL,
          "listing your organizations: expected JSON, got no content type" },
        { { 200, "application/jsonx", "{\"value\":[]}" }, MK_ERR_PROTOCOL, NULL },
        { { 200, NULL, "{\"value\":[]" }, MK_ERR_PROTOCOL,
          "listing your organizations: the answer is not valid JSON" },
        { { 200, NULL, "{\"value\":[]} {}" }, MK_ERR_PROTOCOL,
          "listing your organizations: the answer is not valid JSON" },
        { { 200, NULL, "" }, MK_ERR_PROTOCOL,
          "listing your organizations: the answer has no \"value\" list" },
        { { 200, NULL, "[]" }, MK_ERR_PROTOCOL, NULL },
        { { 200, NULL, "{\"items\":[]}" }, MK_ERR_PROTOCOL, NULL },
        { { 200, NULL, "{\"value\":{}}" }, MK_ERR_PROTOCOL,
          "listing your organizations: the answer's \"value\" is not a list" },
        { { 200, "Application/JSON; charset=utf-8", "{\"value\":[]}\n" }, MK_OK, NULL },
        { { 200, NULL, "{\"value\":[{\"id\":\"a\"},{\"id\":\"b\",\"spec\":{\"name\":[]}}]}" },
          MK_ERR_PROTOCOL,
          "listing your organizations: record 2 (id b): spec.name is not a string" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fake f = { .answers = &cases[i].a, .n = 1 };
        mk_http *http = fake_client(&f);
        struct mk_user_org_list orgs;
        mk_error err;
        mk_error_clear(&err);
        assert_int_equal(mk_user_orgs_list(http, &orgs, &err), cases[i].rc);
        if (cases[i].message)
            assert_string_equal(err.message, cases[i].message);
        if (cases[i].rc != MK_OK) {
            assert_null(orgs.items);
            assert_int_equal(orgs.count, 0);
        }
        mk_user_org_list_free(&orgs);
        mk_http_free(http);
    }
}

/* ---- pagination ---- */

static char *make_page(struct fake *f, long start)
{
    long n = f->page_records;
    if (f->page_total >= 0 && start + n > f->page_total)
        n = f->page_total - start > 0 ? f->page_total - start : 0;
    size_t cap = (size_t)n * 64 + 256;
    char *s = malloc(cap);
    size_t len = (size_t)snprintf(s, cap, "{\"value\":[");
    for (long i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s{\"id\":\"org-%ld\"}", i ? "," : "", start + i);
    long end = f->page_stuck ? start : start + n;
    if (f->page_total >= 0)
        snprintf(s + len, cap - len,
                 "],\"supplemental\":{\"pagination\":{\"start\":%ld,\"end\":%ld,\"records\":%ld,"
                 "\"total\":%ld}}}", start, end, n, f->page_total);
    else
        snprintf(s + len, cap - len,
                 "],\"supplemental\":{\"pagination\":{\"start\":%ld,\"end\":%ld,\"records\":%ld}}}",
                 start, end, n);
    return s;
}

static void test_pagination_several_pages(void **state)
{
    struct fake f = { .page_of = make_page, .page_total = 250, .page_records = 100 };
    mk_http *http = fake_client(&f);
    struct mk_user_org_list orgs;
    mk_error err;
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_OK);
    assert_int_equal(orgs.count, 250);
    assert_int_equal(f.calls, 3);
    assert_string_equal(f.path[0], "/api/v1/user/organizations");
    assert_string_equal(f.path[1], "/api/v1/user/organizations?$skiptoken=100");
    assert_string_equal(f.path[2], "/api/v1/user/organizations?$skiptoken=200");
    assert_string_equal(orgs.items[249].id, "org-249");
    assert_string_equal(orgs.items[100].id, "org-100");
    mk_user_org_list_free(&orgs);
    mk_http_free(http);
}

static void test_pagination_total_reached(void **state)
{
    /* Exactly 200: the second page is full but reaches the total. */
    struct fake f = { .page_of = make_page, .page_total = 200, .page_records = 100 };
    mk_http *http = fake_client(&f);
    struct mk_invite_list list;
    mk_error err;
    /* Invites need an email; use user orgs for the counting. */
    struct mk_user_org_list orgs;
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_OK);
    assert_int_equal(orgs.count, 200);
    assert_int_equal(f.calls, 2);
    mk_user_org_list_free(&orgs);
    (void)list;
    mk_http_free(http);
}

static void test_pagination_stuck_and_endless(void **state)
{
    struct fake f = { .page_of = make_page, .page_total = -1, .page_records = 100, .page_stuck = 1 };
    mk_http *http = fake_client(&f);
    struct mk_user_org_list orgs;
    mk_error err;
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_ERR_PROTOCOL);
    assert_string_equal(err.message, "listing your organizations: the server's pagination did not "
                                     "advance (start 0, end 0)");
    assert_int_equal(f.calls, 1);
    assert_null(orgs.items);
    mk_http_free(http);

    /* Every page full, no total, forever: stops at MK_API_MAX_PAGES. */
    struct fake g = { .page_of = make_page, .page_total = -1, .page_records = 100 };
    http = fake_client(&g);
    mk_http_set_budget_ms(http, 600000); /* 100,000 records are slow under valgrind */
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_ERR_PROTOCOL);
    assert_non_null(strstr(err.message, "more than 1000 pages"));
    assert_int_equal(g.calls, MK_API_MAX_PAGES);
    assert_null(orgs.items);
    mk_http_free(http);
}

/* max_list_records and max_list_size bound one whole listing: the error
 * names the key, its value and the file, and nothing of the list is kept. */
static void test_list_bounds(void **state)
{
    struct mk_user_org_list orgs;
    mk_error err;

    /* Endless full pages of 100 against 250 records: the third page would
     * pass the bound, and it is the last one asked for. */
    struct fake f = { .page_of = make_page, .page_total = -1, .page_records = 100 };
    mk_http *http = fake_client(&f);
    test_cfg.max_list_records = 250;
    test_cfg.source = "/etc/mkio/test.conf";
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_ERR_PROTOCOL);
    assert_string_equal(err.message,
                        "listing your organizations: the organization list is longer than "
                        "max_list_records (250) in /etc/mkio/test.conf; the server may be "
                        "misbehaving; if the list really is that long, raise max_list_records");
    assert_int_equal(f.calls, 3);
    assert_null(orgs.items);
    assert_int_equal(orgs.count, 0);
    mk_http_free(http);

    /* Exactly at the bound is fine. */
    struct fake g = { .page_of = make_page, .page_total = 250, .page_records = 100 };
    http = fake_client(&g);
    test_cfg.max_list_records = 250;
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_OK);
    assert_int_equal(orgs.count, 250);
    mk_user_org_list_free(&orgs);
    mk_http_free(http);

    /* Bytes: the pages of an endless list add up past 64K. The request
     * that passes the bound is the last one made. */
    struct fake h = { .page_of = make_page, .page_total = -1, .page_records = 100 };
    size_t total = 0, want_calls = 0;
    for (long start = 0; total <= 64 * 1024; start += 100) {
        char *page = make_page(&h, start);
        total += strlen(page);
        free(page);
        want_calls++;
    }
    http = fake_client(&h);
    test_cfg.max_list_bytes = 64 * 1024;
    test_cfg.source = "(defaults)";
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_ERR_PROTOCOL);
    assert_string_equal(err.message,
                        "listing your organizations: the organization list is longer than "
                        "max_list_size (64K, the default); the server may be misbehaving; if the "
                        "list really is that long, raise max_list_size in /etc/mkio/mkio.conf");
    assert_int_equal(h.calls, want_calls);
    assert_null(orgs.items);
    mk_http_free(http);

    /* The invite list is bounded the same way. */
    const struct answer answers[] = {
        { 200, NULL, "{\"value\":[{\"id\":\"i1\",\"spec\":{\"email\":\"a@b\"}},"
                     "{\"id\":\"i2\",\"spec\":{\"email\":\"c@d\"}}]}" },
    };
    struct fake k = { .answers = answers, .n = 1 };
    http = fake_client(&k);
    test_cfg.max_list_records = 1;
    test_cfg.source = NULL;
    struct mk_invite_list list;
    assert_int_equal(mk_invites_list(http, &list, &err), MK_ERR_PROTOCOL);
    assert_non_null(strstr(err.message, "listing the organization's invites: the invite list is "
                                        "longer than max_list_records (1, the default)"));
    assert_null(list.items);
    mk_http_free(http);
    http = fake_client(&k);
    test_cfg.max_list_records = 2;
    assert_int_equal(mk_invites_list(http, &list, &err), MK_OK);
    assert_int_equal(list.count, 2);
    mk_invite_list_free(&list);
    mk_http_free(http);
}

static void test_next_page_pure(void **state)
{
    long next;
    bool done;
    mk_error err;
    json_object *a;

    a = parse("{\"value\":[]}");
    assert_int_equal(mk_api_next_page(a, 100, 100, &next, &done, &err), MK_OK);
    assert_true(done); /* no supplemental: the whole list */
    json_object_put(a);

    a = parse("{\"supplemental\":{\"pagination\":{\"start\":0,\"end\":100,\"total\":500}}}");
    assert_int_equal(mk_api_next_page(a, 100, 100, &next, &done, &err), MK_OK);
    assert_false(done);
    assert_int_equal(next, 100);
    assert_int_equal(mk_api_next_page(a, 0, 100, &next, &done, &err), MK_OK);
    assert_true(done); /* an empty page ends */
    assert_int_equal(mk_api_next_page(a, 100, 500, &next, &done, &err), MK_OK);
    assert_true(done); /* total reached */
    /* A short page below total continues: only total or an empty page ends. */
    assert_int_equal(mk_api_next_page(a, 50, 50, &next, &done, &err), MK_OK);
    assert_false(done);
    json_object_put(a);

    a = parse("{\"supplemental\":{\"pagination\":{\"start\":100,\"end\":100}}}");
    assert_int_equal(mk_api_next_page(a, 100, 200, &next, &done, &err), MK_ERR_PROTOCOL);
    assert_string_equal(err.message, "the server's pagination did not advance (start 100, end 100)");
    json_object_put(a);

    a = parse("{\"supplemental\":{\"pagination\":{\"start\":\"0\",\"end\":100}}}");
    assert_int_equal(mk_api_next_page(a, 100, 100, &next, &done, &err), MK_ERR_PROTOCOL);
    json_object_put(a);
    a = parse("{\"supplemental\":{\"pagination\":{\"start\":0}}}");
    assert_int_equal(mk_api_next_page(a, 100, 100, &next, &done, &err), MK_ERR_PROTOCOL);
    json_object_put(a);
    a = parse("{\"supplemental\":[]}");
    assert_int_equal(mk_api_next_page(a, 100, 100, &next, &done, &err), MK_ERR_PROTOCOL);
    json_object_put(a);
    a = parse("{\"supplemental\":{\"pagination\":{\"start\":0,\"end\":-5}}}");
    assert_int_equal(mk_api_next_page(a, 100, 100, &next, &done, &err), MK_ERR_PROTOCOL);
    json_object_put(a);
}

static void test_single_page_and_no_supplemental(void **state)
{
    const struct answer answers[] = {
        { 200, NULL, "{\"value\":[{\"metadata\":{\"id\":\"a\"}},{\"id\":\"b\",\"invite\":"
                     "{\"state\":\"pending\"}}]}" },
    };
    struct fake f = { .answers = answers, .n = 1 };
    mk_http *http = fake_client(&f);
    struct mk_user_org_list orgs;
    mk_error err;
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_OK);
    assert_int_equal(orgs.count, 2);
    assert_false(orgs.items[0].has_invite);
    assert_true(orgs.items[1].has_invite);
    assert_int_equal(f.calls, 1);
    mk_user_org_list_free(&orgs);
    mk_http_free(http);
}

static void test_invites_list_pages(void **state)
{
    const struct answer answers[] = {
        { 200, NULL, "{\"value\":[{\"id\":\"i1\",\"spec\":{\"email\":\"a@b\"}}],"
                     "\"supplemental\":{\"pagination\":{\"start\":0,\"end\":1,\"records\":1,\"total\":1}}}" },
    };
    struct fake f = { .answers = answers, .n = 1 };
    mk_http *http = fake_client(&f);
    struct mk_invite_list list;
    mk_error err;
    assert_int_equal(mk_invites_list(http, &list, &err), MK_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0].email, "a@b");
    mk_invite_list_free(&list);
    mk_http_free(http);
}

/* ---- accept many ---- */

static mk_status route_accept(void *ctx, const struct mk_http_request *req,
                              struct mk_http_response *resp, mk_error *err)
{
    int *calls = ctx;
    (*calls)++;
    assert_string_equal(req->method, "PATCH");
    assert_string_equal(req->body, "{\"spec\":{\"invite\":{\"state\":\"accepted\"}}}");
    resp->retry_after_ms = -1;
    if (strstr(req->path, "/gone")) {
        resp->status = 409;
        resp->body = strdup("{\"error\":{\"code\":\"Gone\",\"detail\":\"cancelled\"},\"ref\":\"r9\"}");
    } else if (strstr(req->path, "/down")) {
        return mk_error_set(err, MK_ERR_UNAVAILABLE, "Connection refused");
    } else {
        resp->status = 200;
        resp->body = strdup("{}");
    }
    resp->body_len = strlen(resp->body);
    return MK_OK;
}

static void test_accept_many(void **state)
{
    struct fake unused = { 0 };
    mk_http *http = fake_client(&unused);
    int calls = 0;
    mk_http_set_transport(http, route_accept, &calls);
    const char *ids[] = { "ok-1", "gone", "", "ok-2", "down" };
    mk_status statuses[5];
    mk_error errs[5];
    assert_int_equal(mk_user_org_accept_many(http, ids, 5, statuses, errs), MK_ERR_API);
    assert_int_equal(statuses[0], MK_OK);
    assert_int_equal(statuses[1], MK_ERR_API);
    assert_string_equal(errs[1].message, "accepting the invite to gone: MK.IO refused the request: "
                                         "cancelled (HTTP 409, code Gone, ref r9); the invite is gone "
                                         "(expired, cancelled or answered): ask the "
                                         "organization's admin for a new invite");
    assert_int_equal(statuses[2], MK_ERR_USAGE);
    assert_int_equal(statuses[3], MK_OK);
    assert_int_equal(statuses[4], MK_ERR_UNAVAILABLE);
    assert_non_null(strstr(errs[4].message, "Connection refused"));
    assert_int_equal(calls, 1 + 1 + 1 + 4);
    /* errs may be NULL. */
    calls = 0;
    assert_int_equal(mk_user_org_accept_many(http, ids, 2, statuses, NULL), MK_ERR_API);
    assert_int_equal(mk_user_org_accept_many(http, ids, 0, statuses, NULL), MK_OK);
    mk_http_free(http);
}

/* ---- @odata.nextLink (second edition: MK.IO's general paging) ---- */

static void test_resolve_next_link(void **state)
{
    static const struct {
        const char *base, *link, *want; /* want NULL: refused */
    } cases[] = {
        { "https://api.test", "/api/v1/user/organizations?$skiptoken=2",
          "/api/v1/user/organizations?$skiptoken=2" },
        { "https://api.test", "https://api.test/api/v1/x?p=2", "/api/v1/x?p=2" },
        { "https://api.test", "HTTPS://API.TEST:443/api/v1/x", "/api/v1/x" },
        { "https://api.test:8443", "https://api.test:8443/api/v1/x", "/api/v1/x" },
        { "https://api.test/mkio", "/mkio/api/v1/x?p=2", "/api/v1/x?p=2" },
        { "https://api.test/mkio/", "https://api.test/mkio/api/v1/x", "/api/v1/x" },
        { "http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1/x", "/api/v1/x" },
        /* Refused: another host, scheme or port; scheme-relative; outside
         * base_url's path; credentials; no path; not a plain path. */
        { "https://api.test", "https://evil.test/api/v1/x", NULL },
        { "https://api.test", "http://api.test/api/v1/x", NULL },
        { "https://api.test", "https://api.test:444/api/v1/x", NULL },
        { "https://api.test", "https://api.test.evil.test/api/v1/x", NULL },
        { "https://api.test", "//evil.test/api/v1/x", NULL },
        { "https://api.test", "https://user:pw@api.test/api/v1/x", NULL },
        { "https://api.test", "https://api.test@evil.test/api/v1/x", NULL },
        { "https://api.test", "https://api.test", NULL },
        { "https://api.test", "https://api.test?x=1", NULL },
        { "https://api.test/mkio", "/api/v1/x", NULL },
        { "https://api.test/mkio", "/mkiox/api/v1/x", NULL },
        { "https://api.test", "api/v1/x", NULL },
        { "https://api.test", "/api/v1/x y", NULL },
        { "https://api.test", "/api/v1/x\n", NULL },
        { "https://api.test", "/api/v1/x#frag", NULL },
        { "https://api.test", "/api\\v1", NULL },
        { "https://api.test", "", NULL },
        { "https://api.test", "javascript:alert(1)", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = (char *)"unchanged";
        mk_error err;
        mk_status st = mk_api_resolve_next_link(cases[i].base, cases[i].link, &path, &err);
        if (cases[i].want) {
            if (st != MK_OK)
                fail_msg("case %zu (%s): refused: %s", i, cases[i].link, err.message);
            assert_string_equal(path, cases[i].want);
            free(path);
        } else {
            if (st != MK_ERR_PROTOCOL)
                fail_msg("case %zu (%s): not refused", i, cases[i].link);
            assert_null(path);
            assert_non_null(strstr(err.message, "nextLink"));
        }
    }
}

static void test_next_link_paging(void **state)
{
    /* Host-relative, then absolute on the same origin, then an empty last
     * page that still links on: it ends the list. */
    const struct answer answers[] = {
        { 200, NULL, "{\"kind\":\"UserOrganizationList\",\"value\":[{\"metadata\":{\"id\":\"a\"}}],"
                     "\"@odata.nextLink\":\"/api/v1/user/organizations?$skiptoken=p2\"}" },
        { 200, NULL, "{\"value\":[{\"metadata\":{\"id\":\"b\"}},{\"metadata\":{\"id\":\"c\"}}],"
                     "\"@odata.nextLink\":\"https://api.test/api/v1/user/organizations?$skiptoken=p3\"}" },
        { 200, NULL, "{\"value\":[],\"@odata.nextLink\":\"/api/v1/user/organizations?$skiptoken=p4\"}" },
    };
    struct fake f = { .answers = answers, .n = 3 };
    mk_http *http = fake_client(&f);
    struct mk_user_org_list orgs;
    mk_error err;
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_OK);
    assert_int_equal(orgs.count, 3);
    assert_string_equal(orgs.items[2].id, "c");
    assert_int_equal(f.calls, 3);
    assert_string_equal(f.path[1], "/api/v1/user/organizations?$skiptoken=p2");
    assert_string_equal(f.path[2], "/api/v1/user/organizations?$skiptoken=p3");
    mk_user_org_list_free(&orgs);
    mk_http_free(http);
}

static void test_next_link_refused_or_looping(void **state)
{
    static const char *const bodies[] = {
        /* elsewhere: the token never goes there */
        "{\"value\":[{\"metadata\":{\"id\":\"a\"}}],\"@odata.nextLink\":\"https://evil.test/api/v1/user/organizations\"}",
        /* not a string */
        "{\"value\":[{\"metadata\":{\"id\":\"a\"}}],\"@odata.nextLink\":5}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        const struct answer answers[] = { { 200, NULL, bodies[i] } };
        struct fake f = { .answers = answers, .n = 1 };
        mk_http *http = fake_client(&f);
        struct mk_user_org_list orgs;
        mk_error err;
        assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_ERR_PROTOCOL);
        assert_non_null(strstr(err.message, "nextLink"));
        assert_int_equal(f.calls, 1);
        mk_http_free(http);
    }
    /* A link back to a page already read ends with an error, not a loop. */
    const struct answer loop[] = {
        { 200, NULL, "{\"value\":[{\"metadata\":{\"id\":\"a\"}}],\"@odata.nextLink\":\"/api/v1/user/organizations?p=2\"}" },
        { 200, NULL, "{\"value\":[{\"metadata\":{\"id\":\"b\"}}],\"@odata.nextLink\":\"/api/v1/user/organizations?p=3\"}" },
        { 200, NULL, "{\"value\":[{\"metadata\":{\"id\":\"c\"}}],\"@odata.nextLink\":\"/api/v1/user/organizations?p=2\"}" },
    };
    struct fake f = { .answers = loop, .n = 3 };
    mk_http *http = fake_client(&f);
    struct mk_user_org_list orgs;
    mk_error err;
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_ERR_PROTOCOL);
    assert_non_null(strstr(err.message, "already read"));
    assert_int_equal(f.calls, 3);
    mk_http_free(http);
}

/* ---- the published record shapes (second edition) ---- */

static void test_user_org_published_shapes(void **state)
{
    struct mk_user_org org;
    mk_error err;
    json_object *o = parse(
        "{\"metadata\":{\"id\":\"org-p\",\"name\":\"Published Media\",\"created\":\"2024-01-01T00:00:00Z\"},"
        "\"spec\":{\"invite\":{\"state\":\"pending\",\"invitedBy\":\"ada@example.com\"}}}");
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_string_equal(org.name, "Published Media");
    assert_true(org.has_invite);
    assert_string_equal(org.invite.state, "pending");
    assert_non_null(org.invite.sender.email);
    assert_string_equal(org.invite.sender.email, "ada@example.com");
    mk_user_org_clear(&org);
    json_object_put(o);

    /* invitedBy null; "accepted" is a joined organization. */
    o = parse("{\"metadata\":{\"id\":\"org-q\",\"name\":\"Q\"},"
              "\"spec\":{\"invite\":{\"state\":\"accepted\",\"invitedBy\":null}}}");
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_false(org.has_invite);
    mk_user_org_clear(&org);
    json_object_put(o);
    o = parse("{\"metadata\":{\"id\":\"org-r\",\"name\":\"R\"},"
              "\"spec\":{\"invite\":{\"state\":\"pending\",\"invitedBy\":null}}}");
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_true(org.has_invite);
    assert_null(org.invite.sender.email);
    mk_user_org_clear(&org);
    json_object_put(o);
}


/* A 404 on a list or the profile can only mean a wrong base_url: a
 * configuration error naming it and the file, not "no such path". A 404
 * elsewhere (accepting an invite that is gone) stays the API's answer. */
static void test_not_found_names_base_url(void **state)
{
    static const struct answer answers[] = {
        { 404, NULL, "{\"error\":{\"code\":\"notFound\",\"detail\":\"no route\"},\"ref\":\"r-404\"}" },
        { 404, NULL, "<html>Not Found</html>" },
        { 404, NULL, "{\"error\":{\"code\":\"notFound\",\"detail\":\"no such invite\"}}" },
    };
    struct fake f = { .answers = answers, .n = 3 };
    mk_http *http = fake_client(&f);
    struct mk_user_org_list orgs;
    struct mk_invite_list invites;
    mk_error err;
    test_cfg.source = "/etc/mkio/mkio.conf";
    assert_int_equal(mk_user_orgs_list(http, &orgs, &err), MK_ERR_USAGE);
    assert_non_null(strstr(err.message, "base_url = https://api.test in /etc/mkio/mkio.conf"));
    assert_non_null(strstr(err.message, "HTTP 404"));
    assert_string_equal(err.ref, "r-404");
    assert_int_equal(mk_invites_list(http, &invites, &err), MK_ERR_USAGE);
    assert_non_null(strstr(err.message, "base_url"));
    assert_int_equal(mk_user_org_accept(http, "org-1", NULL, &err), MK_ERR_API);
    assert_null(strstr(err.message, "base_url"));
    assert_non_null(strstr(err.message, "new invite"));
    test_cfg.source = NULL;
    mk_http_free(http);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_user_org_contract_form),
        cmocka_unit_test(test_user_org_tolerated_variants),
        cmocka_unit_test(test_user_org_invite_without_state_is_pending),
        cmocka_unit_test(test_user_org_expiry_computed),
        cmocka_unit_test(test_user_org_wrong_types),
        cmocka_unit_test(test_invite_record),
        cmocka_unit_test(test_invite_wrong_types),
        cmocka_unit_test(test_error_from_response),
        cmocka_unit_test(test_requests_exact),
        cmocka_unit_test(test_usage_errors_send_nothing),
        cmocka_unit_test(test_call_failures),
        cmocka_unit_test(test_content_checks),
        cmocka_unit_test(test_ids_escaped_whatever_the_locale),
        cmocka_unit_test(test_pagination_several_pages),
        cmocka_unit_test(test_pagination_total_reached),
        cmocka_unit_test(test_pagination_stuck_and_endless),
        cmocka_unit_test(test_list_bounds),
        cmocka_unit_test(test_next_page_pure),
        cmocka_unit_test(test_single_page_and_no_supplemental),
        cmocka_unit_test(test_invites_list_pages),
        cmocka_unit_test(test_accept_many),
        cmocka_unit_test(test_resolve_next_link),
        cmocka_unit_test(test_next_link_paging),
        cmocka_unit_test(test_next_link_refused_or_looping),
        cmocka_unit_test(test_user_org_published_shapes),
        cmocka_unit_test(test_not_found_names_base_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
