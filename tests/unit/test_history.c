/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_history.c: the renames and gid moves kept in store.json
 * (common/store/history.c, issue 19) and the groups a user's write reports
 * added and removed (mk_store_set_user_changes).
 *
 * Every test has its own temporary state directory, fake /etc/group and
 * hermetic NSS oracle, and removes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/grouppolicy.h"
#include "store/store.h"
#include "store/store_env.h"
#include "store/store_json.h"
#include "store/storefile.h"
#include "testutil.h"

static int64_t test_clock;

static int64_t test_now(void *ctx)
{
    (void)ctx;
    return test_clock ? test_clock : (int64_t)time(NULL);
}

static struct mk_store_env test_env = { .now = test_now };

#define GID_MIN 2000200001u
#define GID_MAX 2100200000u

/* The other group sources: a few groups, nothing of the host's. */
static struct {
    struct {
        char name[64];
        gid_t gid;
    } v[16];
    size_t n;
} foreign;

static int foreign_by_gid(void *ctx, gid_t gid, char *name, size_t size)
{
    for (size_t i = 0; i < foreign.n; i++) {
        if (foreign.v[i].gid == gid) {
            snprintf(name, size, "%s", foreign.v[i].name);
            return 1;
        }
    }
    return 0;
}

static int foreign_by_name(void *ctx, const char *name, gid_t *gid)
{
    for (size_t i = 0; i < foreign.n; i++) {
        if (strcmp(foreign.v[i].name, name) == 0) {
            *gid = foreign.v[i].gid;
            return 1;
        }
    }
    return 0;
}

static const struct mk_group_oracle foreign_oracle = { foreign_by_gid, foreign_by_name, NULL };

static void foreign_add(const char *name, gid_t gid)
{
    assert_true(foreign.n < 16);
    snprintf(foreign.v[foreign.n].name, sizeof(foreign.v[0].name), "%s", name);
    foreign.v[foreign.n].gid = gid;
    foreign.n++;
}

struct fx {
    struct tu_tmpdir tmp;
    char state[128];
    char etc[128];
    char store_json[160];
    struct mk_pin pins[2];
    struct mk_config cfg;
};

static int setup(void **state)
{
    struct fx *f = tu_fixture_new(sizeof(*f));
    assert_non_null(f);
    tu_pathf_ok(f->state, sizeof(f->state), "%s/state", f->tmp.path);
    tu_pathf_ok(f->etc, sizeof(f->etc), "%s/group", f->tmp.path);
    tu_pathf_ok(f->store_json, sizeof(f->store_json), "%s/store.json", f->state);
    tu_write_text_ok(AT_FDCWD, f->etc, "root:x:0:\nusers:x:100:\n", 0644);
    test_env.etc_group = f->etc;
    memset(&foreign, 0, sizeof(foreign));
    test_env.nss = &foreign_oracle;
    f->cfg.group_prefix = "mk-";
    f->cfg.gid_min = GID_MIN;
    f->cfg.gid_max = GID_MAX;
    f->cfg.state_dir = f->state;
    f->cfg.pins = f->pins;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    test_env.etc_group = NULL;
    test_env.nss = NULL;
    test_clock = 0;
    tu_fixture_free(*state);
    return 0;
}

static void set1(struct fx *f, const char *user, const char *id)
{
    struct mk_membership m = { id, NULL };
    mk_error err;
    mk_status st = mk_store_set_user(&f->cfg, &test_env, user, &m, 1, 1000, NULL, &err);
    if (st != MK_OK)
        print_message("set_user: %s\n", err.message);
    assert_int_equal(st, MK_OK);
}

/* The view's group of org id (which must have members). */
static void group_of(struct fx *f, const char *id, char name[64], gid_t *gid)
{
    struct mk_store_view v;
    mk_error err;
    assert_int_equal(mk_store_read(&f->cfg, &test_env, &v, &err), MK_OK);
    for (size_t i = 0; i < v.group_count; i++) {
        if (strcmp(v.groups[i].org_id, id) == 0) {
            snprintf(name, 64, "%s", v.groups[i].group_name);
            *gid = v.groups[i].gid;
            mk_store_view_free(&v);
            return;
        }
    }
    fail_msg("no group for %s", id);
}

/* A gid taken by another source at each of seven logins: seven moves, the
 * last five kept (oldest first), each with when, both gids and why; the
 * history stays through another user's write. */
static void test_gid_moves_kept_and_capped(void **state)
{
    struct fx *f = *state;
    gid_t gids[8];
    char name[64], other[32];
    struct mk_store_view v;
    mk_error err;

    test_clock = 1700000000;
    set1(f, "alice", "org-a");
    group_of(f, "org-a", name, &gids[0]);
    for (int i = 1; i <= 7; i++) {
        snprintf(other, sizeof(other), "ad-%d", i);
        foreign_add(other, gids[i - 1]);
        test_clock = 1700000000 + i * 60;
        set1(f, "alice", "org-a");
        group_of(f, "org-a", name, &gids[i]);
        assert_int_not_equal(gids[i], gids[i - 1]);
    }
    set1(f, "bob", "org-b");   /* another write: the history stays */

    assert_int_equal(mk_store_read(&f->cfg, &test_env, &v, &err), MK_OK);
    const struct mk_store_history *h = mk_store_view_history(&v, "org-a");
    assert_non_null(h);
    assert_null(mk_store_view_history(&v, "org-b"));
    assert_int_equal(v.history_count, 1);
    assert_int_equal(h->event_count, MK_STOREFILE_HISTORY_MAX);
    for (size_t k = 0; k < h->event_count; k++) {
        int move = (int)k + 3;     /* moves 1 and 2 were dropped */
        const struct mk_store_event *e = &h->events[k];
        snprintf(other, sizeof(other), "group ad-%d", move);
        assert_int_equal(e->time, 1700000000 + move * 60);
        assert_string_equal(e->old_group, name);
        assert_string_equal(e->new_group, name);
        assert_int_equal(e->old_gid, gids[move - 1]);
        assert_int_equal(e->new_gid, gids[move]);
        assert_non_null(strstr(e->reason, other));
        assert_non_null(strstr(e->reason, "moves to gid"));
    }
    mk_store_view_free(&v);
}

/* A name another source now answers: renamed, same gid, and why. */
static void test_rename_kept(void **state)
{
    struct fx *f = *state;
    char name[64], now_name[64];
    gid_t gid, now;
    struct mk_store_view v;
    mk_error err;

    set1(f, "alice", "org-a");
    group_of(f, "org-a", name, &gid);
    foreign_add(name, 12345);
    set1(f, "alice", "org-a");
    group_of(f, "org-a", now_name, &now);
    assert_string_not_equal(now_name, name);
    assert_int_equal(now, gid);
    assert_int_equal(mk_store_read(&f->cfg, &test_env, &v, &err), MK_OK);
    const struct mk_store_history *h = mk_store_view_history(&v, "org-a");
    assert_non_null(h);
    assert_int_equal(h->event_count, 1);
    assert_string_equal(h->events[0].old_group, name);
    assert_string_equal(h->events[0].new_group, now_name);
    assert_int_equal(h->events[0].old_gid, gid);
    assert_int_equal(h->events[0].new_gid, gid);
    assert_non_null(strstr(h->events[0].reason, "another group source"));
    mk_store_view_free(&v);
}

/* A pin given later: the derived group's gid is retired for the pin's. */
static void test_pin_move_kept(void **state)
{
    struct fx *f = *state;
    char name[64];
    gid_t gid;
    struct mk_store_view v;
    mk_error err;

    set1(f, "alice", "org-a");
    group_of(f, "org-a", name, &gid);
    f->pins[0] = (struct mk_pin){ "org-a", "media", 2050200001 };
    f->cfg.pin_count = 1;
    set1(f, "alice", "org-a");
    assert_int_equal(mk_store_read(&f->cfg, &test_env, &v, &err), MK_OK);
    const struct mk_store_history *h = mk_store_view_history(&v, "org-a");
    assert_non_null(h);
    assert_int_equal(h->event_count, 1);
    assert_string_equal(h->events[0].old_group, name);
    assert_int_equal(h->events[0].old_gid, gid);
    assert_string_equal(h->events[0].new_group, "media");
    assert_int_equal(h->events[0].new_gid, 2050200001);
    assert_non_null(strstr(h->events[0].reason, "retired"));
    mk_store_view_free(&v);
}

/* What a user's write gained and lost, by group name. */
static void test_changes_reported(void **state)
{
    struct fx *f = *state;
    struct mk_membership both[2] = { { "org-a", "Acme" }, { "org-b", "Beta" } };
    struct mk_store_change c;
    char a[64], b[64], words[256], want[256];
    gid_t gid;
    mk_error err;

    assert_int_equal(mk_store_set_user_changes(&f->cfg, &test_env, "alice", both, 2, 1000, NULL,
                                               &c, &err), MK_OK);
    group_of(f, "org-a", a, &gid);
    group_of(f, "org-b", b, &gid);
    assert_int_equal(c.added_count, 2);
    assert_int_equal(c.removed_count, 0);
    assert_string_equal(c.added[0], a);
    assert_string_equal(c.added[1], b);
    mk_store_change_free(&c);

    /* The same again: nothing changed. */
    assert_int_equal(mk_store_set_user_changes(&f->cfg, &test_env, "alice", both, 2, 1000, NULL,
                                               &c, &err), MK_OK);
    assert_int_equal(c.added_count + c.removed_count, 0);
    assert_string_equal(mk_store_change_format(&c, words, sizeof(words)), "");
    mk_store_change_free(&c);

    /* org-b taken away, org-c given. */
    struct mk_membership next[2] = { { "org-a", "Acme" }, { "org-c", "Gamma" } };
    assert_int_equal(mk_store_set_user_changes(&f->cfg, &test_env, "alice", next, 2, 1000, NULL,
                                               &c, &err), MK_OK);
    char cname[64];
    group_of(f, "org-c", cname, &gid);
    assert_int_equal(c.added_count, 1);
    assert_int_equal(c.removed_count, 1);
    snprintf(want, sizeof(want), "+%s -%s", cname, b);
    assert_string_equal(mk_store_change_format(&c, words, sizeof(words)), want);
    mk_store_change_free(&c);

    /* Everything taken away. */
    assert_int_equal(mk_store_set_user_changes(&f->cfg, &test_env, "alice", NULL, 0, 1000, NULL,
                                               &c, &err), MK_OK);
    snprintf(want, sizeof(want), "-%s -%s", a, cname);
    assert_string_equal(mk_store_change_format(&c, words, sizeof(words)), want);
    mk_store_change_free(&c);
}

/* A store written before the history was kept loads, and a write of it
 * without any move adds no history field. */
static void test_old_store_loads(void **state)
{
    struct fx *f = *state;
    static const char old[] =
        "{\n  \"version\": 1,\n  \"organizations\": {\n"
        "    \"org-a\": {\"name\": \"A\", \"group\": \"mk-a-orga\", \"gid\": 2000200005, "
        "\"pinned\": false, \"first_seen\": 1700000000}\n  },\n"
        "  \"retired_gids\": [],\n  \"users\": {\n"
        "    \"alice\": {\"refreshed\": 1700000000, \"orgs\": [\"org-a\"]}\n  }\n}\n";
    struct mk_store_view v;
    mk_error err;

    assert_int_equal(mkdir(f->state, 0755), 0);
    tu_write_text_ok(AT_FDCWD, f->store_json, old, 0644);
    assert_int_equal(mk_store_read(&f->cfg, &test_env, &v, &err), MK_OK);
    assert_int_equal(v.group_count, 1);
    assert_int_equal(v.history_count, 0);
    mk_store_view_free(&v);
    set1(f, "bob", "org-b");
    char *text = tu_read_file(f->store_json, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"mk-a-orga\", \"gid\": 2000200005"));
    assert_null(strstr(text, "history"));
    free(text);
}

/* The codec: a history round-trips byte for byte; a bad entry makes the
 * store corrupt (refused, as every bad field). */
static void test_history_codec(void **state)
{
    static const char text[] =
        "{\n  \"version\": 1,\n  \"organizations\": {\n"
        "    \"org-a\": {\"name\": \"A\", \"group\": \"mk-a-new\", \"gid\": 2000200007, "
        "\"pinned\": false, \"first_seen\": 1700000000, \"history\": [{\"time\": 1700000100, "
        "\"old_group\": \"mk-a-orga\", \"old_gid\": 2000200005, \"new_group\": \"mk-a-new\", "
        "\"new_gid\": 2000200007, \"reason\": \"group name mk-a-orga is \\\"taken\\\"\"}, "
        "{\"time\": 1700000200, \"old_group\": \"mk-a-new\", \"old_gid\": 2000200007, "
        "\"new_group\": null, \"new_gid\": null, \"reason\": \"withdrawn\"}]}\n  },\n"
        "  \"retired_gids\": [2000200005],\n  \"users\": {}\n}\n";
    static const char *const bad[] = {
        "{\"time\": 1, \"old_group\": \"g\", \"old_gid\": \"x\", \"new_group\": null, "
        "\"new_gid\": null, \"reason\": \"r\"}",
        "{\"time\": 1, \"old_group\": \"g\", \"old_gid\": 5, \"new_group\": \"h\", "
        "\"new_gid\": 0, \"reason\": \"r\"}",
        "{\"time\": 1, \"old_group\": \"g\", \"old_gid\": 5, \"new_group\": null, "
        "\"new_gid\": null, \"reason\": 5}",
        "{\"time\": 1, \"old_group\": null, \"old_gid\": 5, \"new_group\": null, "
        "\"new_gid\": null, \"reason\": \"r\"}",
        "{\"time\": 1, \"old_group\": \"g\", \"old_gid\": 5, \"new_group\": null, "
        "\"new_gid\": null}",
        "7",
    };
    struct mk_storefile s;
    mk_error err;

    (void)state;
    assert_int_equal(mk_store_json_parse(text, strlen(text), "store.json", &s, NULL, &err), MK_OK);
    assert_int_equal(s.orgs[0].history_count, 2);
    assert_null(s.orgs[0].history[1].new_group);
    assert_int_equal(s.orgs[0].history[1].new_gid, 0);
    char *again = mk_store_json_serialize(&s);
    assert_string_equal(again, text);
    free(again);
    mk_storefile_free(&s);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char broken[2048];
        const char *at = strstr(text, "{\"time\": 1700000200");
        const char *end = strstr(text, "\"withdrawn\"}") + strlen("\"withdrawn\"}");
        snprintf(broken, sizeof(broken), "%.*s%s%s", (int)(at - text), text, bad[i], end);
        /* The bad entry replaces the second one: the rest stays valid JSON. */
        assert_int_equal(mk_store_json_parse(broken, strlen(broken), "store.json", &s, NULL,
                                             &err), MK_ERR_IO);
        assert_non_null(strstr(err.message, "history"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gid_moves_kept_and_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_move_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_store_loads, setup, teardown),
        cmocka_unit_test(test_history_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
