/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_ids.c: a fleet's ids file (store/ids.h): the reader of
 * its pin and retired lines (mk_config_parse_ids_string, ids_file in
 * mk_config_load) and the export that writes them (mk_ids_export). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/config.h"
#include "store/grouppolicy.h"
#include "store/ids.h"
#include "store/store.h"
#include "testutil.h"

#define ID_A "0a1b2c3d-aaaa"
#define ID_B "1b2c3d4e-bbbb"
#define ID_C "2c3d4e5f-cccc"

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* mkio.conf's text (conf) on the defaults, then the ids text; the status
 * of the ids step, err filled. */
static mk_status parse_ids(const char *conf, const char *ids, struct mk_config *cfg, mk_error *err)
{
    mk_error_clear(err);
    assert_int_equal(mk_config_defaults(cfg, err), MK_OK);
    if (conf)
        assert_int_equal(mk_config_parse_string(conf, "mkio.conf", cfg, err), MK_OK);
    return mk_config_parse_ids_string(ids, "ids.conf", cfg, err);
}

/* The lines an export writes: pins from the ids file, retired gids kept in
 * canonical decimal, comments and blank lines ignored. */
static void test_ids_pins_and_retired(void **state)
{
    struct mk_config cfg;
    mk_error err;
    assert_int_equal(parse_ids(NULL, "# mkio ids\n\npin = " ID_A " media-ops 2000200100\n"
                               "pin = 1B2C3D4E-BBBB dev-ops 2000200200\n"
                               "retired = 2000200007\nretired = 002000200009 2000200011\n",
                               &cfg, &err), MK_OK);
    assert_int_equal(cfg.pin_count, 2);
    assert_string_equal(cfg.pins[0].org_id, ID_A);
    assert_string_equal(cfg.pins[0].group_name, "media-ops");
    assert_int_equal(cfg.pins[0].gid, 2000200100);
    assert_true(mk_config_pin_from_ids(&cfg, &cfg.pins[0]));
    assert_string_equal(cfg.pins[1].org_id, ID_B); /* canonical */
    assert_int_equal(cfg.retired_count, 3);
    assert_string_equal(cfg.retired[1], "2000200009");
    assert_true(mk_config_gid_retired(&cfg, 2000200011));
    assert_false(mk_config_gid_retired(&cfg, 2000200100));
    /* The configuration keeps its own name; a parse on top (a deep copy)
     * keeps which pins came from the file. */
    assert_string_equal(cfg.source, "(defaults)");
    assert_int_equal(mk_config_parse_string("min_uid = 500\n", "x", &cfg, &err), MK_OK);
    assert_true(mk_config_pin_from_ids(&cfg, &cfg.pins[1]));
    mk_config_free(&cfg);
}

/* Pins of mkio.conf stay mkio.conf's; the same pin in the file is skipped,
 * another is refused naming both. */
static void test_ids_against_mkio_conf(void **state)
{
    struct mk_config cfg;
    mk_error err;
    const char *conf = "pin = " ID_A " media-ops 2000200100\n";

    assert_int_equal(parse_ids(conf, "pin = " ID_A " media-ops 2000200100\n"
                               "pin = " ID_B " dev-ops 2000200200\n", &cfg, &err), MK_OK);
    assert_int_equal(cfg.pin_count, 2);
    assert_false(mk_config_pin_from_ids(&cfg, mk_config_pin_for(&cfg, ID_A)));
    assert_true(mk_config_pin_from_ids(&cfg, mk_config_pin_for(&cfg, ID_B)));
    mk_config_free(&cfg);

    assert_int_equal(parse_ids(conf, "pin = " ID_A " media-ops 2000200101\n", &cfg, &err),
                     MK_ERR_USAGE);
    assert_contains(err.message, "ids.conf:1: pin: organization " ID_A " is pinned in mkio.conf");
    assert_contains(err.message, "2000200101");
    /* Left as it was: mkio.conf's pin alone. */
    assert_int_equal(cfg.pin_count, 1);
    mk_config_free(&cfg);

    /* Another organization with a name mkio.conf pins: refused as in mkio.conf. */
    assert_int_equal(parse_ids(conf, "pin = " ID_B " media-ops 2000200200\n", &cfg, &err),
                     MK_ERR_USAGE);
    assert_contains(err.message, "ids.conf:1: pin: group name media-ops is already pinned");
    mk_config_free(&cfg);
}

/* What an ids file may not hold: other keys, bad pins and gids. */
static void test_ids_refused(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "base_url = https://example.com\n", "ids.conf:1: base_url does not belong in an ids file" },
        { "# x\nids_file = /etc/mkio/other\n", "ids.conf:2: ids_file does not belong" },
        { "pin = " ID_A " a 2000200100\npin = " ID_A " b 2000200101\n", "ids.conf:2: pin: organization" },
        { "pin = " ID_A " a 2000200100\npin = " ID_B " b 2000200100\n", "ids.conf:2: pin: gid 2000200100" },
        { "pin = " ID_A " a\n", "ids.conf:1: pin: expected three fields" },
        { "pin = " ID_A " a 1000\n", "ids.conf:1: pin: gid 1000 is in a reserved range" },
        { "pin = " ID_A " a 100000\n", "ids.conf: pin for " ID_A " has gid 100000 outside gid_range" },
        { "retired = 0\n", "ids.conf:1: retired: \"0\" is not a gid" },
        { "retired = 12x\n", "ids.conf:1: retired: \"12x\"" },
        { "retired = 4294967295\n", "ids.conf:1: retired:" },
        { "what\n", "ids.conf:1: expected \"key = value\"" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mk_config cfg;
        mk_error err;
        mk_status st = parse_ids(NULL, cases[i].text, &cfg, &err);
        if (st != MK_ERR_USAGE)
            fail_msg("\"%s\" was accepted", cases[i].text);
        assert_contains(err.message, cases[i].want);
        assert_int_equal(cfg.pin_count, 0);
        assert_int_equal(cfg.retired_count, 0);
        mk_config_free(&cfg);
    }
}

/* retired is a key of mkio.conf too (an export is valid configuration),
 * and ids_file an absolute path or empty. */
static void test_ids_keys_in_mkio_conf(void **state)
{
    struct mk_config cfg;
    mk_error err;
    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    assert_null(cfg.ids_file);
    assert_int_equal(cfg.retired_count, 0);
    assert_int_equal(mk_config_parse_string("retired = 2000200001\nids_file =\n"
                                            "pin = " ID_A " a 2000200100\n", "c", &cfg, &err), MK_OK);
    assert_true(mk_config_gid_retired(&cfg, 2000200001));
    assert_false(mk_config_pin_from_ids(&cfg, &cfg.pins[0]));
    assert_int_equal(mk_config_parse_string("ids_file = relative/ids\n", "c", &cfg, &err),
                     MK_ERR_USAGE);
    assert_contains(err.message, "ids_file");
    mk_config_free(&cfg);
}

/* mk_config_load reads ids_file after the configuration, with its checks. */
static void test_ids_load_file(void **state)
{
    struct tu_tmpdir d;
    char conf[PATH_MAX + 64], ids[PATH_MAX + 16], text[PATH_MAX + 64];
    struct mk_config cfg;
    mk_error err;

    assert_int_equal(tu_tmpdir_make(&d, "test_ids"), 0);
    snprintf(conf, sizeof(conf), "%s/mkio.conf", d.path);
    snprintf(ids, sizeof(ids), "%s/ids.conf", d.path);
    snprintf(text, sizeof(text), "ids_file = %s\n", ids);
    tu_write_text_ok(d.fd, "mkio.conf", text, 0644);
    tu_write_text_ok(d.fd, "ids.conf", "pin = " ID_C " c-ops 2000200300\nretired = 2000200005\n", 0644);
    assert_int_equal(mk_config_load(conf, &cfg, &err), MK_OK);
    assert_int_equal(cfg.pin_count, 1);
    assert_true(mk_config_pin_from_ids(&cfg, &cfg.pins[0]));
    assert_true(mk_config_gid_retired(&cfg, 2000200005));
    assert_string_equal(cfg.source, conf);
    mk_config_free(&cfg);

    /* Writable by others: refused, as mkio.conf would be. */
    assert_int_equal(chmod(ids, 0666), 0);
    assert_int_equal(mk_config_load(conf, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "ids_file");
    assert_contains(err.message, "writable by group or others");
    /* Missing: an error naming it. */
    assert_int_equal(unlink(ids), 0);
    assert_int_equal(mk_config_load(conf, &cfg, &err), MK_ERR_IO);
    assert_contains(err.message, ids);
    /* A bad line names the ids file and its line. */
    tu_write_text_ok(d.fd, "ids.conf", "# ok\nmin_uid = 5\n", 0644);
    assert_int_equal(mk_config_load(conf, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "ids.conf:2: min_uid does not belong in an ids file");
    assert_int_equal(tu_tmpdir_remove(&d), 0);
}

static int none_by_gid(void *ctx, gid_t gid, char *name, size_t size)
{
    return 0;
}

static int none_by_name(void *ctx, const char *name, gid_t *gid)
{
    return 0;
}

static const struct mk_group_oracle no_oracle = { none_by_gid, none_by_name, NULL };

/* What one host gives, exported, read back as an ids file on another
 * configuration: the same pins; --new lists only what the file lacks. */
static void test_ids_export_round_trip(void **state)
{
    struct tu_tmpdir d;
    char etc[PATH_MAX + 16];
    struct mk_config cfg, other;
    mk_error err;
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(tu_tmpdir_make(&d, "test_ids"), 0);
    snprintf(etc, sizeof(etc), "%s/group", d.path);
    tu_write_text_ok(d.fd, "group", "root:x:0:\n", 0644);
    struct mk_store_env env = { .nss = &no_oracle, .etc_group = etc };
    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    free(cfg.state_dir);
    cfg.state_dir = strdup(d.path);
    assert_non_null(cfg.state_dir);
    const struct mk_membership orgs[] = { { ID_A, "Acme" }, { ID_B, "Beta" } };
    assert_int_equal(mk_store_set_user(&cfg, &env, "alice", orgs, 2, 1000, NULL, &err), MK_OK);

    assert_int_equal(mk_ids_export(&cfg, &env, false, &text, &len, &err), MK_OK);
    assert_int_equal(strlen(text), len);
    assert_contains(text, "# mkio ids");
    assert_contains(text, "pin = " ID_A " mk-acme-0a1b2c3d ");
    assert_int_equal(parse_ids(NULL, text, &other, &err), MK_OK);
    assert_int_equal(other.pin_count, 2);
    assert_string_equal(other.pins[0].org_id, ID_A);
    assert_string_equal(other.pins[1].org_id, ID_B);
    free(text);

    /* With the export as its ids file, nothing is new; a third
     * organization is. */
    assert_int_equal(mk_config_parse_ids_string("", "x", &other, &err), MK_OK);
    free(other.state_dir);
    other.state_dir = strdup(d.path);
    assert_int_equal(mk_ids_export(&other, &env, true, &text, &len, &err), MK_OK);
    assert_null(strstr(text, "pin ="));
    free(text);
    const struct mk_membership more[] = { { ID_A, "Acme" }, { ID_C, "Gamma" } };
    assert_int_equal(mk_store_set_user(&other, &env, "bob", more, 2, 1000, NULL, &err), MK_OK);
    assert_int_equal(mk_ids_export(&other, &env, true, &text, &len, &err), MK_OK);
    assert_contains(text, "pin = " ID_C " mk-gamma-2c3d4e5f ");
    assert_null(strstr(text, ID_A));
    free(text);
    mk_config_free(&other);
    mk_config_free(&cfg);
    assert_int_equal(tu_tmpdir_remove(&d), 0);
}

/* A fleet's file may pin every organization it knows: 100,000 pins parse,
 * each found by id, and a repeat at the end is still refused with the pin
 * it repeats. (Each pin is checked against an index, not against every pin
 * before it: the quadratic check took minutes at this size.) */
static void test_ids_hundred_thousand_pins(void **state)
{
    enum { N = 100000 };
    size_t size = (size_t)N * 64 + 128, used = 0;
    char *text = malloc(size);
    struct mk_config cfg;
    mk_error err;
    char id[64];

    assert_non_null(text);
    for (unsigned i = 0; i < N; i++)
        used += (size_t)snprintf(text + used, size - used, "pin = %08x-0000 g%u %u\n", i, i,
                                 2000200001u + i);
    assert_int_equal(parse_ids(NULL, text, &cfg, &err), MK_OK);
    assert_int_equal(cfg.pin_count, N);
    for (unsigned i = 0; i < N; i += 9973) {
        snprintf(id, sizeof(id), "%08X-0000", i); /* any case finds it */
        const struct mk_pin *pin = mk_config_pin_for(&cfg, id);
        assert_non_null(pin);
        assert_int_equal(pin->gid, 2000200001u + i);
    }
    assert_null(mk_config_pin_for(&cfg, "ffffffff-0000"));
    mk_config_free(&cfg);
    snprintf(text + used, size - used, "pin = ffffffff-0000 last %u\n", 2000200001u + 77);
    assert_int_equal(parse_ids(NULL, text, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "gid 2000200078 is already pinned to organization 0000004d-0000");
    mk_config_free(&cfg); /* the defaults the refused parse left */
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_pins_and_retired),
        cmocka_unit_test(test_ids_against_mkio_conf),
        cmocka_unit_test(test_ids_refused),
        cmocka_unit_test(test_ids_keys_in_mkio_conf),
        cmocka_unit_test(test_ids_load_file),
        cmocka_unit_test(test_ids_export_round_trip),
        cmocka_unit_test(test_ids_hundred_thousand_pins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
