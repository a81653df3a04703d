/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_shape.c: what mkio-orgs shows of an invite, an
 * organization and a group (tool/shape.c): the shapes of mkio-orgs(1), JSON
 * OUTPUT, and the state and teams that text and JSON share (issue 19). The
 * tool's source is compiled into this test, as test_tool_util.c does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tool/shape.c"

static json_object *parse(const char *text)
{
    json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    return o;
}

static void assert_json(json_object *j, const char *want)
{
    assert_string_equal(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), want);
    json_object_put(j);
}

/* A published invite names no state and no Everyone: shown as the text
 * shows it, pending, Everyone first; every key present. */
static void test_admin_invite(void **state)
{
    (void)state;
    json_object *o = parse("{\"metadata\":{\"id\":\"inv-1\",\"created\":\"2024-01-01T01:00:00+01:00\"},"
                           "\"spec\":{\"email\":\"j@example.com\",\"comment\":\"hi\","
                           "\"teams\":[\"enc\",\"Everyone\",\"ops\"],\"invitedByEmail\":\"a@b.c\"}}");
    struct mk_invite inv;
    mk_error err;
    assert_int_equal(mk_parse_invite(o, 0, &inv, &err), MK_OK);
    assert_string_equal(shape_invite_state(&inv), "pending");
    const char *teams[4];
    assert_int_equal(shape_invite_teams(&inv, teams, 4), 3);
    assert_string_equal(teams[0], "Everyone");
    assert_string_equal(teams[1], "enc");
    assert_string_equal(teams[2], "ops");
    assert_json(shape_admin_invite(&inv),
                "{\"id\":\"inv-1\",\"organization\":null,\"email\":\"j@example.com\","
                "\"state\":\"pending\",\"teams\":[\"Everyone\",\"enc\",\"ops\"],\"comment\":\"hi\","
                "\"inviter\":{\"name\":null,\"email\":\"a@b.c\"},"
                "\"created\":\"2024-01-01T00:00:00Z\",\"expires\":\"2024-01-15T00:00:00Z\","
                "\"expires_computed\":true}");
    mk_invite_clear(&inv);
    json_object_put(o);

    /* A legacy state is kept; no sender: inviter null. */
    o = parse("{\"id\":\"i2\",\"spec\":{\"email\":\"k@x.io\"},\"status\":{\"state\":\"expired\"}}");
    assert_int_equal(mk_parse_invite(o, 0, &inv, &err), MK_OK);
    assert_json(shape_admin_invite(&inv),
                "{\"id\":\"i2\",\"organization\":null,\"email\":\"k@x.io\",\"state\":\"expired\","
                "\"teams\":[\"Everyone\"],\"comment\":null,\"inviter\":null,\"created\":null,"
                "\"expires\":null,\"expires_computed\":false}");
    mk_invite_clear(&inv);
    json_object_put(o);
}

static void test_membership(void **state)
{
    (void)state;
    json_object *o = parse("{\"metadata\":{\"id\":\"m\"},\"spec\":{\"name\":\"N\",\"invite\":"
                           "{\"state\":\"pending\",\"comment\":\"c\",\"invitedBy\":\"a@b.c\"}}}");
    struct mk_user_org org;
    mk_error err;
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_json(shape_membership(&org),
                "{\"organization\":{\"id\":\"m\",\"name\":\"N\"},\"state\":\"pending\","
                "\"invite\":{\"id\":null,\"organization\":null,\"email\":null,\"state\":\"pending\","
                "\"teams\":null,\"comment\":\"c\",\"inviter\":{\"name\":null,\"email\":\"a@b.c\"},"
                "\"created\":null,\"expires\":null,\"expires_computed\":false}}");
    mk_user_org_clear(&org);
    json_object_put(o);

    o = parse("{\"id\":\"j\"}");
    assert_int_equal(mk_parse_user_org(o, 0, &org, &err), MK_OK);
    assert_string_equal(shape_user_org_state(&org), "joined");
    assert_json(shape_membership(&org),
                "{\"organization\":{\"id\":\"j\",\"name\":null},\"state\":\"joined\",\"invite\":null}");
    mk_user_org_clear(&org);
    json_object_put(o);
}

/* json-c alone writes 1.273 as 1.2729999999999999. */
static void test_seconds_and_times(void **state)
{
    (void)state;
    json_object *a = json_object_new_array();
    json_object_array_add(a, shape_seconds(1.273));
    json_object_array_add(a, shape_seconds(0.1 + 0.2));
    json_object_array_add(a, shape_seconds(2));
    json_object_array_add(a, shape_seconds(-1));
    json_object_array_add(a, shape_time(1714564800));
    json_object_array_add(a, shape_time(0));
    json_object_array_add(a, shape_api_time_json("2024-05-01T14:00:00.5+02:00"));
    json_object_array_add(a, shape_api_time_json("yesterday"));
    assert_json(a, "[1.273,0.300,2.000,0.000,\"2024-05-01T12:00:00Z\",null,"
                   "\"2024-05-01T12:00:00Z\",null]");
    assert_json(shape_group("mk-a", 2000, "o", NULL),
                "{\"name\":\"mk-a\",\"gid\":2000,\"organization\":{\"id\":\"o\",\"name\":null}}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_invite),
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_seconds_and_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
