/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_storefile.c: store.json's own JSON parser and writer
 * (common/store/store_json.c over json_scan.c), on the edges of JSON:
 * escapes, surrogates, NULs, control characters, duplicate members,
 * nesting, numbers, trailing text, an empty file and one past the size
 * cap. Each bad input is refused with a message naming store.json, and
 * through the store nothing is written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_env.h"
#include "store/storefile.h"
#include "testutil.h"
#include "store/store_json.h"

/* The store's environment for every call of this file (store_env.h): the
 * group file, the NSS oracle, the clock (test_clock, 0: the real one) and
 * nscd's socket that each test sets; production where it leaves NULL. */
static int64_t test_clock;

static int64_t test_now(void *ctx)
{
    (void)ctx;
    return test_clock ? test_clock : (int64_t)time(NULL);
}

static struct mk_store_env test_env = { .now = test_now };

#define PATH "/state/store.json"

/* A store with one organization named by the JSON string literal name_json
 * (quotes included), and extra members text (may be empty) in it. */
static char *org_doc(const char *name_json, const char *extra)
{
    char *doc = NULL;
    if (asprintf(&doc, "{\"version\": 1, \"organizations\": {\"org-a\": {\"name\": %s, "
                 "\"group\": \"mk-a-orga\", \"gid\": 2000200002, \"pinned\": false, "
                 "\"first_seen\": 1%s}}, \"retired_gids\": [], \"users\": {}}",
                 name_json, extra) < 0)
        fail();
    return doc;
}

/* Parses text; on success checks the round trip (serialize, parse,
 * serialize: equal) and returns the first serialization. */
static mk_status parse(const char *text, size_t len, struct mk_storefile *s, mk_error *err)
{
    mk_status st = mk_store_json_parse(text, len, PATH, s, NULL, err);
    if (st != MK_OK) {
        assert_non_null(strstr(err->message, PATH));
        assert_int_equal(s->org_count + s->user_count + s->retired_count, 0);
        return st;
    }
    struct mk_storefile t;
    char *one = mk_store_json_serialize(s), *two;
    assert_non_null(one);
    assert_int_equal(mk_store_json_parse(one, strlen(one), PATH, &t, NULL, err), MK_OK);
    two = mk_store_json_serialize(&t);
    assert_non_null(two);
    assert_string_equal(one, two);
    free(one);
    free(two);
    mk_storefile_free(&t);
    return st;
}

/* The display name name_json parses to, in *out (malloc'd), or refused. */
static mk_status parse_name(const char *name_json, char **out, mk_error *err)
{
    struct mk_storefile s;
    char *doc = org_doc(name_json, "");
    mk_status st = parse(doc, strlen(doc), &s, err);
    *out = NULL;
    if (st == MK_OK) {
        assert_int_equal(s.org_count, 1);
        assert_non_null(s.orgs[0].name);
        *out = strdup(s.orgs[0].name);
        mk_storefile_free(&s);
    }
    free(doc);
    return st;
}

static void expect_name(const char *name_json, const char *want)
{
    mk_error err;
    char *got;
    if (parse_name(name_json, &got, &err) != MK_OK)
        print_error("%s: %s\n", name_json, err.message);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void expect_refused(const char *text, size_t len, const char *why)
{
    struct mk_storefile s;
    mk_error err;
    assert_int_equal(parse(text, len, &s, &err), MK_ERR_IO);
    if (!strstr(err.message, why))
        print_error("%s: want \"%s\" in: %s\n", text, why, err.message);
    assert_non_null(strstr(err.message, why));
}

static void expect_name_refused(const char *name_json, const char *why)
{
    char *doc = org_doc(name_json, "");
    expect_refused(doc, strlen(doc), why);
    free(doc);
}

static void test_escapes(void **state)
{
    expect_name("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"", "q\" b\\ s/ \b\f\n\r\t");
    expect_name("\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9");
    expect_name("\"\\u20ac\"", "\xe2\x82\xac");
    expect_name("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
    expect_name("\"raw \xc3\xa9 \xf0\x9f\x98\x80\"", "raw \xc3\xa9 \xf0\x9f\x98\x80");
    expect_name("\"del \x7f\"", "del \x7f");   /* allowed raw by JSON; written escaped */
    expect_name_refused("\"\\x41\"", "bad escape");
    expect_name_refused("\"\\u00g1\"", "\\u escape");
    expect_name_refused("\"\\u00\"", "\\u escape");
}

/* A lone surrogate is repaired to U+FFFD (documented in json_scan.h), as
 * display-name repair shows any bad text; in an id it makes it invalid. */
static void test_lone_surrogates_repaired(void **state)
{
    expect_name("\"a\\ud83db\"", "a\xef\xbf\xbd" "b");
    expect_name("\"a\\ude00b\"", "a\xef\xbf\xbd" "b");
    expect_name("\"\\ud83d\"", "\xef\xbf\xbd");
    expect_name("\"\\ud83d\\u0041\"", "\xef\xbf\xbd" "A");
    expect_name("\"\\ude00\\ud83d\"", "\xef\xbf\xbd\xef\xbf\xbd");
    const char *doc = "{\"version\": 1, \"organizations\": {\"org-\\ud800\": {\"name\": null, "
                      "\"group\": null, \"pinned\": false, \"first_seen\": 1}}, "
                      "\"retired_gids\": [], \"users\": {}}";
    expect_refused(doc, strlen(doc), "bad organization entry");
}

static void test_nul_and_controls_refused(void **state)
{
    expect_name_refused("\"a\\u0000b\"", "\\u0000");
    /* In a key: a NUL would make "alice\u0000x" the user alice. */
    const char *doc = "{\"version\": 1, \"organizations\": {}, \"retired_gids\": [], "
                      "\"users\": {\"alice\\u0000x\": {\"refreshed\": 1, \"orgs\": []}}}";
    expect_refused(doc, strlen(doc), "\\u0000");
    expect_name_refused("\"tab\there\"", "control character");
    expect_name_refused("\"line\nbreak\"", "control character");
    expect_name_refused("\"\x01\"", "control character");
    /* A raw NUL byte inside a string, and one between tokens. */
    static const char raw_nul[] = "{\"version\": 1, \"organizations\": {\"org-a\": {\"name\": \"a\0b\", "
                                  "\"group\": null, \"pinned\": false, \"first_seen\": 1}}, "
                                  "\"retired_gids\": [], \"users\": {}}";
    expect_refused(raw_nul, sizeof(raw_nul) - 1, "control character");
    static const char nul_ws[] = "{\"version\": 1,\0 \"organizations\": {}, \"retired_gids\": [], "
                                 "\"users\": {}}";
    expect_refused(nul_ws, sizeof(nul_ws) - 1, "corrupt");
}

static void test_duplicate_members_refused(void **state)
{
    char *doc = org_doc("\"A\"", ", \"first_seen\": 2");
    expect_refused(doc, strlen(doc), "appears twice");
    free(doc);
    doc = org_doc("\"A\"", ", \"name\": \"B\"");
    expect_refused(doc, strlen(doc), "appears twice");
    free(doc);
    const char *two_versions = "{\"version\": 1, \"version\": 1, \"organizations\": {}, "
                               "\"retired_gids\": [], \"users\": {}}";
    expect_refused(two_versions, strlen(two_versions), "appears twice");
    const char *two_users = "{\"version\": 1, \"organizations\": {}, \"retired_gids\": [], "
                            "\"users\": {\"bob\": {\"refreshed\": 1, \"orgs\": []}, "
                            "\"bob\": {\"refreshed\": 2, \"orgs\": []}}}";
    expect_refused(two_users, strlen(two_users), "a user appears twice");
    const char *two_orgs_lists = "{\"version\": 1, \"organizations\": {}, \"retired_gids\": [], "
                                 "\"users\": {\"bob\": {\"refreshed\": 1, \"orgs\": [], "
                                 "\"orgs\": []}}}";
    expect_refused(two_orgs_lists, strlen(two_orgs_lists), "corrupt");
    /* Unknown members may repeat: they are ignored. */
    struct mk_storefile s;
    mk_error err;
    doc = org_doc("\"A\"", ", \"x\": 1, \"x\": [2]");
    assert_int_equal(parse(doc, strlen(doc), &s, &err), MK_OK);
    mk_storefile_free(&s);
    free(doc);
}

/* Unknown members are skipped at any depth up to the limit; deeper is
 * refused rather than recursed into. */
static void test_deep_nesting(void **state)
{
    struct mk_storefile s;
    mk_error err;
    char *deep = malloc(400000), *doc;
    size_t n = 0;
    assert_non_null(deep);

    for (int levels = 50, round = 0; round < 2; round++, levels = 100000 / 2) {
        n = 0;
        n += (size_t)sprintf(deep + n, ", \"x\": ");
        for (int i = 0; i < levels; i++)
            deep[n++] = i % 2 ? '[' : '{', n += i % 2 ? 0 : (size_t)sprintf(deep + n, "\"k\": ");
        deep[n++] = '1';
        for (int i = levels - 1; i >= 0; i--)
            deep[n++] = i % 2 ? ']' : '}';
        deep[n] = '\0';
        doc = org_doc("\"A\"", deep);
        if (round == 0) {
            assert_int_equal(parse(doc, strlen(doc), &s, &err), MK_OK);
            mk_storefile_free(&s);
        } else {
            expect_refused(doc, strlen(doc), "nested too deeply");
        }
        free(doc);
    }
    free(deep);
}

static void test_numbers(void **state)
{
    struct mk_storefile s;
    mk_error err;
    char doc[512];
    const struct { const char *gid; const char *why; } bad[] = {
        { "01900000001", "leading zero" },
        { "-0", "bad group name or gid" },
        { "0", "bad group name or gid" },
        { "4294967295", "bad group name or gid" },
        { "4294967296", "bad group name or gid" },
        { "99999999999999999999999", "bad group name or gid" },
        { "2000200002.0", "bad group name or gid" },
        { "1.9e9", "bad group name or gid" },
        { "-1", "bad group name or gid" },
        { "+1", "corrupt" },
        { "-", "corrupt" },
        { "1.", "corrupt" },
        { "1e", "corrupt" },
        { "\"2000200002\"", "bad group name or gid" },
        { "0x10", "corrupt" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(doc, sizeof(doc), "{\"version\": 1, \"organizations\": {\"org-a\": {\"name\": "
                 "null, \"group\": \"mk-a\", \"gid\": %s, \"pinned\": false, \"first_seen\": 1}}, "
                 "\"retired_gids\": [], \"users\": {}}", bad[i].gid);
        expect_refused(doc, strlen(doc), bad[i].why);
    }
    /* first_seen takes any int64, negative too; beyond is refused. */
    snprintf(doc, sizeof(doc), "{\"version\": 1, \"organizations\": {\"org-a\": {\"name\": null, "
             "\"group\": null, \"pinned\": false, \"first_seen\": -9223372036854775808}}, "
             "\"retired_gids\": [4294967294], \"users\": {}}");
    assert_int_equal(parse(doc, strlen(doc), &s, &err), MK_OK);
    assert_true(s.orgs[0].first_seen == INT64_MIN);
    assert_int_equal(s.retired[0], 4294967294u);
    mk_storefile_free(&s);
    snprintf(doc, sizeof(doc), "{\"version\": 1, \"organizations\": {\"org-a\": {\"name\": null, "
             "\"group\": null, \"pinned\": false, \"first_seen\": 9223372036854775808}}, "
             "\"retired_gids\": [], \"users\": {}}");
    expect_refused(doc, strlen(doc), "lacks a field");
    snprintf(doc, sizeof(doc), "{\"version\": 1e0, \"organizations\": {}, "
             "\"retired_gids\": [], \"users\": {}}");
    expect_refused(doc, strlen(doc), "no version");
}

static void test_framing(void **state)
{
    const char *ok = "{\"version\": 1, \"organizations\": {}, \"retired_gids\": [], \"users\": {}}";
    char doc[256];
    struct mk_storefile s;
    mk_error err;

    expect_refused("", 0, "(empty)");
    expect_refused(" \n\t\r ", 5, "(empty)");
    snprintf(doc, sizeof(doc), "%s x", ok);
    expect_refused(doc, strlen(doc), "text after the JSON object");
    snprintf(doc, sizeof(doc), "%s{}", ok);
    expect_refused(doc, strlen(doc), "text after the JSON object");
    snprintf(doc, sizeof(doc), "%s", ok);
    expect_refused(doc, strlen(doc) - 1, "not valid JSON");   /* cut short */
    expect_refused("\xef\xbb\xbf{}", 5, "corrupt");             /* a byte order mark */
    expect_refused("{\"version\": 1, \"organizations\": {},}", 36, "not valid JSON");
    expect_refused("{\"version\": nul}", 16, "not valid JSON");
    expect_refused("{\"version\": nullx}", 18, "not valid JSON");
    snprintf(doc, sizeof(doc), "  %s \n\n", ok);
    assert_int_equal(parse(doc, strlen(doc), &s, &err), MK_OK);
    mk_storefile_free(&s);
}

/* ---- through the store: the message names store.json, nothing written ---- */

/* Each test's directory (testutil.h), first, with the paths in it. */
struct sfx {
    struct tu_tmpdir tmp;
    const char *dir;
    char state[128], etc[128], json[160], db[160];
    struct mk_config cfg;
};

static int setup(void **state)
{
    struct sfx *f = tu_fixture_new(sizeof(*f));
    assert_non_null(f);
    f->dir = f->tmp.path;
    tu_pathf_ok(f->state, sizeof(f->state), "%s/state", f->dir);
    tu_pathf_ok(f->etc, sizeof(f->etc), "%s/group", f->dir);
    tu_pathf_ok(f->json, sizeof(f->json), "%s/store.json", f->state);
    tu_pathf_ok(f->db, sizeof(f->db), "%s/groups.db", f->state);
    assert_int_equal(mkdir(f->state, 0755), 0);
    tu_write_text_ok(AT_FDCWD, f->etc, "root:x:0:\n", 0644);
    test_env.etc_group = f->etc;
    f->cfg.group_prefix = "mk-";
    f->cfg.gid_min = 2000200001;
    f->cfg.gid_max = 2100200000;
    f->cfg.state_dir = f->state;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct sfx *f = *state;
    test_env.etc_group = NULL;
    tu_fixture_free(f);
    return 0;
}

/* Writes content as store.json; a write must fail naming it, and leave
 * store.json as it was and no groups.db. */
static void store_refuses(struct sfx *f, const char *content, size_t len, const char *why)
{
    struct mk_membership m = { "org-a", "A" };
    struct stat before, after;
    mk_error err;
    int fd = open(f->json, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    assert_int_equal(stat(f->json, &before), 0);
    assert_int_equal(mk_store_set_user(&f->cfg, &test_env, "alice", &m, 1, 1000, NULL, &err), MK_ERR_IO);
    assert_non_null(strstr(err.message, f->json));
    if (!strstr(err.message, why))
        print_error("want \"%s\" in: %s\n", why, err.message);
    assert_non_null(strstr(err.message, why));
    assert_int_equal(stat(f->json, &after), 0);
    assert_true(before.st_ino == after.st_ino && before.st_size == after.st_size &&
                before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
                before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
    assert_int_equal(access(f->db, F_OK), -1);
}

static void test_store_refuses_bad_json(void **state)
{
    struct sfx *f = *state;
    char *doc = org_doc("\"a\\u0000b\"", "");
    store_refuses(f, doc, strlen(doc), "\\u0000");
    free(doc);
    doc = org_doc("\"A\"", ", \"pinned\": true");
    store_refuses(f, doc, strlen(doc), "appears twice");
    free(doc);
    store_refuses(f, "", 0, "(empty)");
    store_refuses(f, "{\"version\": 1} {", 16, "text after the JSON object");
    store_refuses(f, "{\"version\": 01}", 15, "leading zero");
    static const char ctl[] = "{\"version\": 1, \"organizations\": {\"org-a\": {\"name\": \"\x1f\"}}}";
    store_refuses(f, ctl, sizeof(ctl) - 1, "control character");
}

/* Past the cap (256 MiB), refused before a byte is read. Sparse: no disk. */
static void test_store_refuses_huge_file(void **state)
{
    struct sfx *f = *state;
    struct mk_membership m = { "org-a", "A" };
    mk_error err;
    int fd = open(f->json, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 256L * 1024 * 1024 + 1), 0);
    assert_int_equal(close(fd), 0);
    assert_int_equal(mk_store_set_user(&f->cfg, &test_env, "alice", &m, 1, 1000, NULL, &err), MK_ERR_IO);
    assert_non_null(strstr(err.message, f->json));
    assert_non_null(strstr(err.message, "larger than"));
    assert_int_equal(access(f->db, F_OK), -1);
    struct stat st;
    assert_int_equal(stat(f->json, &st), 0);
    assert_true(st.st_size == 256L * 1024 * 1024 + 1);
    /* The buffer entry point has the same cap. */
    struct mk_storefile s;
    assert_int_equal(mk_store_json_parse("{}", 256UL * 1024 * 1024 + 1, PATH, &s, NULL,
                                               &err), MK_ERR_IO);
    assert_non_null(strstr(err.message, "larger than"));
}

/* What the writer writes reads back as the same store, escapes included. */
static void test_round_trip_through_store(void **state)
{
    struct sfx *f = *state;
    struct mk_membership m[2] = { { "org-a", "Q\"uote\\ \x01 \xc3\xa9 \x7f" },
                                  { "ORG-B", "\xf0\x9f\x98\x80" } };
    struct mk_store_view v;
    mk_error err;

    assert_int_equal(mk_store_set_user(&f->cfg, &test_env, "alice", m, 2, 1000, NULL, &err), MK_OK);
    assert_int_equal(mk_store_read(&f->cfg, &test_env, &v, &err), MK_OK);
    assert_int_equal(v.group_count, 2);
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(v.groups[i].org_id, "org-a") == 0)
            assert_string_equal(v.groups[i].org_name, "Q\"uote\\ \x01 \xc3\xa9 \x7f");
        else
            assert_string_equal(v.groups[i].org_name, "\xf0\x9f\x98\x80");
    }
    mk_store_view_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_lone_surrogates_repaired),
        cmocka_unit_test(test_nul_and_controls_refused),
        cmocka_unit_test(test_duplicate_members_refused),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_framing),
        cmocka_unit_test_setup_teardown(test_store_refuses_bad_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_huge_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_through_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
