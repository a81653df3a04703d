/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_config.c: mkio.conf as an administrator writes it. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
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

#include "base/gidmap.h"
#include "store/config.h"

#include "net/url.h"
#include "testutil.h"

/* The configuration as every program that connects reads it: with the
 * network layer's URL rules (net/url.h). */
static mk_status parse_with_url_rules(const char *text, const char *name, struct mk_config *cfg,
                                      mk_error *err)
{
    return mk_config_parse_string_with(text, name, &mk_url_rules, cfg, err);
}

#define NAME "test.conf"

/* Parses text on top of the defaults; returns the status, err filled. */
static mk_status parse(const char *text, struct mk_config *cfg, mk_error *err)
{
    mk_error_clear(err);
    assert_int_equal(mk_config_defaults(cfg, err), MK_OK);
    return parse_with_url_rules(text, NAME, cfg, err);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* The line fails with a message starting "test.conf:2:" and containing
 * want, and the configuration keeps its defaults. */
static void assert_line_refused(const char *line, const char *want)
{
    struct mk_config cfg;
    mk_error err;
    char text[1024];

    snprintf(text, sizeof(text), "# a comment\n%s\n", line);
    mk_status st = parse(text, &cfg, &err);
    if (st != MK_ERR_USAGE)
        fail_msg("line \"%s\" was accepted (status %s)", line, mk_status_name(st));
    if (strncmp(err.message, NAME ":2: ", strlen(NAME ":2: ")) != 0)
        fail_msg("message for \"%s\" does not start with \"" NAME ":2: \": %s", line, err.message);
    if (want)
        assert_contains(err.message, want);
    /* No damage: still the defaults. */
    assert_string_equal(cfg.base_url, "https://app.mk.io");
    assert_int_equal(cfg.retries, 3);
    assert_int_equal(cfg.pin_count, 0);
    assert_string_equal(cfg.source, "(defaults)");
    mk_config_free(&cfg);
}

static void assert_line_accepted(const char *line)
{
    struct mk_config cfg;
    mk_error err;
    char text[1024];

    snprintf(text, sizeof(text), "%s\n", line);
    if (parse(text, &cfg, &err) != MK_OK)
        fail_msg("line \"%s\" was refused: %s", line, err.message);
    mk_config_free(&cfg);
}

static void test_defaults(void **state)
{
    struct mk_config cfg;
    mk_error err;

    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    assert_string_equal(cfg.base_url, "https://app.mk.io");
    assert_null(cfg.ca_file);
    assert_int_equal(cfg.connect_timeout_ms, 3000);
    assert_int_equal(cfg.budget_ms, 5000);
    assert_int_equal(cfg.retries, 3);
    assert_int_equal(cfg.max_response_bytes, 4 * 1024 * 1024);
    assert_int_equal(cfg.max_list_bytes, 16 * 1024 * 1024);
    assert_int_equal(cfg.max_list_records, 10000);
    assert_null(cfg.proxy);
    assert_string_equal(cfg.token_dir, "/etc/mkio/tokens");
    assert_string_equal(cfg.user_token_path, ".config/mkio/token");
    assert_int_equal(cfg.gid_min, 2000200001);
    assert_int_equal(cfg.gid_max, 2147483646);
    assert_string_equal(cfg.group_prefix, "mk-");
    assert_int_equal(cfg.pin_count, 0);
    assert_true(cfg.accept_invites);
    assert_int_equal(cfg.accept_org_count, 0);
    assert_int_equal(cfg.accept_inviter_domain_count, 0);
    assert_int_equal(cfg.min_uid, 1000);
    assert_int_equal(cfg.token_warn_days, 14);
    assert_string_equal(cfg.auth_header, "authorization");
    assert_int_equal(cfg.refresh_interval_ms, 300000);
    assert_int_equal(cfg.login_refresh_interval_ms, 0);
    assert_int_equal(cfg.max_stale_ms, 30LL * 86400000);
    assert_int_equal(cfg.login_service_count, 13);
    assert_string_equal(cfg.login_services[0], "login");
    assert_string_equal(cfg.login_services[1], "su-l");
    assert_string_equal(cfg.login_services[2], "sshd");
    assert_int_equal(cfg.ignore_user_count, 1);
    assert_string_equal(cfg.ignore_users[0], "root");
    assert_string_equal(cfg.state_dir, "/var/lib/mkio");
    assert_string_equal(cfg.source, "(defaults)");
    assert_int_equal(mk_config_validate(&cfg, &mk_url_rules, &err), MK_OK);
    mk_config_free(&cfg);
    /* Freeing twice (a zeroed struct) is harmless. */
    mk_config_free(&cfg);
}

static void test_every_key_good(void **state)
{
    struct mk_config cfg;
    mk_error err;
    const char *text =
        "# full configuration\n"
        "\n"
        "   # indented comment\n"
        "base_url = https://api.example.com:8443/mk/\n"
        "ca_file = /etc/ssl/mkio-ca.pem\n"
        "connect_timeout = 0.25\n"
        "time_budget = 7.5\n"
        "retries = 0\n"
        "max_response_size = 512K\n"
        "max_list_size = 2M\n"
        "max_list_records = 250\n"
        "proxy = http://proxy.example.com:3128\n"
        "token_dir = /srv/tokens\n"
        "user_token = .mkio/token\n"
        "gid_range = 70000-80000\n"
        "group_prefix = org_\n"
        "pin = 1a2b3c4d-0000-1111 staff 70001\n"
        "pin = ABCDEF other-staff 70002\n"
        "accept_invites = off\n"
        "accept_orgs = id-1 id-2\n"
        "accept_orgs = id-3\n"
        "accept_inviter_domains = Example.COM\n"
        "accept_inviter_domains = example.org  example.net\n"
        "\tmin_uid\t=\t500\t\r\n"
        "ignore_users = admin backup\n"
        "ignore_users = deploy\n"
        "state_dir = /tmp/mkio-state\n"
        "refresh_interval = 10m\n"
        "login_refresh_interval = 30s\n"
        "login_services = xrdp-sesman\n"
        "max_stale = 2.5d\n";

    assert_int_equal(parse(text, &cfg, &err), MK_OK);
    assert_int_equal(cfg.refresh_interval_ms, 600000);
    assert_int_equal(cfg.login_refresh_interval_ms, 30000);
    assert_int_equal(cfg.max_stale_ms, 216000000LL);
    /* login_services adds to its default, as every list key does */
    assert_int_equal(cfg.login_service_count, 14);
    assert_string_equal(cfg.login_services[13], "xrdp-sesman");
    assert_string_equal(cfg.base_url, "https://api.example.com:8443/mk");
    assert_string_equal(cfg.ca_file, "/etc/ssl/mkio-ca.pem");
    assert_int_equal(cfg.connect_timeout_ms, 250);
    assert_int_equal(cfg.budget_ms, 7500);
    assert_int_equal(cfg.retries, 0);
    assert_int_equal(cfg.max_response_bytes, 512 * 1024);
    assert_int_equal(cfg.max_list_bytes, 2 * 1024 * 1024);
    assert_int_equal(cfg.max_list_records, 250);
    assert_string_equal(cfg.proxy, "http://proxy.example.com:3128");
    assert_string_equal(cfg.token_dir, "/srv/tokens");
    assert_string_equal(cfg.user_token_path, ".mkio/token");
    assert_int_equal(cfg.gid_min, 70000);
    assert_int_equal(cfg.gid_max, 80000);
    assert_string_equal(cfg.group_prefix, "org_");
    assert_int_equal(cfg.pin_count, 2);
    assert_string_equal(cfg.pins[0].org_id, "1a2b3c4d-0000-1111");
    assert_string_equal(cfg.pins[0].group_name, "staff");
    assert_int_equal(cfg.pins[0].gid, 70001);
    assert_false(cfg.accept_invites);
    assert_int_equal(cfg.accept_org_count, 3);
    assert_string_equal(cfg.accept_orgs[2], "id-3");
    assert_int_equal(cfg.accept_inviter_domain_count, 3);
    assert_string_equal(cfg.accept_inviter_domains[0], "example.com");
    assert_string_equal(cfg.accept_inviter_domains[2], "example.net");
    assert_int_equal(cfg.min_uid, 500);
    /* list keys add to the default "root" */
    assert_int_equal(cfg.ignore_user_count, 4);
    assert_string_equal(cfg.ignore_users[0], "root");
    assert_string_equal(cfg.ignore_users[3], "deploy");
    assert_string_equal(cfg.state_dir, "/tmp/mkio-state");
    assert_string_equal(cfg.source, NAME);
    mk_config_free(&cfg);
}

static void test_good_value_forms(void **state)
{
    static const char *const good[] = {
        "accept_invites = yes", "accept_invites = no", "accept_invites = true",
        "accept_invites = false", "accept_invites = on", "accept_invites = off",
        "accept_invites = 1", "accept_invites = 0", "accept_invites = YES",
        "connect_timeout = 0.1", "connect_timeout = 5", "connect_timeout = 2.0625",
        "time_budget = 0.5\nconnect_timeout = 0.5", "time_budget = 300\nconnect_timeout = 60", "time_budget = 300.000",
        "retries = 10", "retries = 0",
        "max_response_size = 1K", "max_response_size = 64M", "max_response_size = 1024",
        "max_response_size = 67108864", "max_response_size = 2m",
        "gid_range = 65536-199999", "gid_range = 2000200001-2147483647", "gid_range = 70000-70000",
        "group_prefix = _", "group_prefix = abcdefghijklmnop", "group_prefix = a-b_c9",
        "ca_file =", "ca_file = /x", "accept_orgs =", "ignore_users =", "accept_inviter_domains =",
        "min_uid = 0", "min_uid = 4294967294", "token_warn_days = 0", "token_warn_days = 365",
        "connect_timeout = 1s", "time_budget = 1.5m\nconnect_timeout = 2",
        "refresh_interval = 0", "refresh_interval = 90s", "refresh_interval = 7d", "refresh_interval = 1.5h",
        "login_refresh_interval = 0", "login_refresh_interval = 5m",
        "max_stale = 0", "max_stale = 2", "max_stale = 3650d", "max_stale = 12h",
        "login_services =", "login_services = login su-l sshd", "login_services = my_dm+x.1",
        "auth_header = authorization", "auth_header = x-mkio-token",
        "user_token = token", "user_token = a/b/c",
        "base_url = http://127.0.0.1:8080", "base_url = http://localhost", "base_url = http://[::1]:9/x",
        "base_url = https://[2001:db8::1]/", "base_url = https://app.mk.io/", "base_url = https://app.mk.io/api",
        "max_list_size = 64K", "max_list_size = 1024M", "max_list_size = 65536", "max_list_size = 16m",
        "max_list_records = 1", "max_list_records = 1000000",
        "proxy =", "proxy = http://proxy:3128", "proxy = https://proxy.example.com:443/",
        "proxy = socks5h://127.0.0.1:1080", "proxy = SOCKS5://[::1]:1080", "proxy = http://10.0.0.1:8080",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_line_accepted(good[i]);
}

static void test_bad_values(void **state)
{
    static const struct {
        const char *line;
        const char *want;
    } bad[] = {
        { "accept_invites = maybe", "yes/no" },
        { "accept_invites = 2", "accept_invites" },
        { "connect_timeout = 0.09", "0.1 to 60" },
        { "connect_timeout = 61", "0.1 to 60" },
        { "connect_timeout = -1", "connect_timeout" },
        { "connect_timeout = 1x", "connect_timeout" },
        { "connect_timeout = s", "connect_timeout" },
        { "connect_timeout = 1ss", "connect_timeout" },
        { "connect_timeout = 1 s", "connect_timeout" },
        { "connect_timeout = 2m", "0.1 to 60" },
        { "refresh_interval = 8d", "0 to 7d" },
        { "refresh_interval = -1", "refresh_interval" },
        { "login_refresh_interval = 1w", "login_refresh_interval" },
        { "max_stale = 3651d", "0 (no bound) to 3650d" },
        { "max_stale = 99999999999d", "max_stale" },
        { "login_services = su/l", "a PAM service name" },
        { "auth_header = bearer", "authorization (Authorization: Bearer TOKEN) or x-mkio-token" },
        { "auth_header = X-MKIO-TOKEN", "x-mkio-token" },
        { "auth_header =", "auth_header" },
        { "login_services = .hidden", "a PAM service name" },
        { "connect_timeout = .5", "connect_timeout" },
        { "connect_timeout = 3.", "connect_timeout" },
        { "connect_timeout = 1e3", "connect_timeout" },
        { "connect_timeout = 99999999", "connect_timeout" },
        { "time_budget = 0.4", "0.5 to 300" },
        { "time_budget = 300.001", "0.5 to 300" },
        { "time_budget = abc", "time_budget" },
        { "retries = 11", "0 to 10" },
        { "token_warn_days = 366", "0 (never) to 365" },
        { "token_warn_days = -1", "0 (never) to 365" },
        { "retries = -1", "0 to 10" },
        { "retries = 1.5", "0 to 10" },
        { "retries = 3 4", "0 to 10" },
        { "retries = 99999999999999999999999", "0 to 10" },
        { "max_response_size = 1023", "1K to 64M" },
        { "max_response_size = 65M", "1K to 64M" },
        { "max_response_size = 1G", "1K to 64M" },
        { "max_response_size = K", "1K to 64M" },
        { "max_response_size = 4 M", "1K to 64M" },
        { "max_response_size = 18446744073709551615M", "1K to 64M" },
        { "token_dir = relative/dir", "absolute" },
        { "state_dir = var/lib", "absolute" },
        { "ca_file = ca.pem", "absolute" },
        { "user_token = /abs/token", "relative" },
        { "user_token = ../other/token", "relative" },
        { "user_token = a/../../etc/shadow", "relative" },
        { "user_token = a//b", "relative" },
        { "user_token = ./a", "relative" },
        { "user_token = dir/", "relative" },
        { "gid_range = 70000", "FIRST-LAST" },
        { "gid_range = 80000-70000", "FIRST <= LAST" },
        { "gid_range = 1000-2000", "reserved" },
        { "gid_range = 70000-600000", "reserved" },
        { "gid_range = a-b", "FIRST-LAST" },
        { "gid_range = 70000-80000-90000", "FIRST-LAST" },
        { "gid_range = -70000", "FIRST-LAST" },
        { "group_prefix = Mk-", "[a-z_]" },
        { "group_prefix = 1mk", "[a-z_]" },
        { "group_prefix = -mk", "[a-z_]" },
        { "group_prefix = mk.", "[a-z_]" },
        { "group_prefix = abcdefghijklmnopq", "at most 16" },
        { "group_prefix =", "no value" },
        { "min_uid = -5", "min_uid" },
        { "min_uid = 4294967295", "min_uid" },
        { "min_uid = x", "min_uid" },
        { "accept_orgs = good bad_id", "bad_id" },
        { "accept_inviter_domains = @example.com", "domain" },
        { "accept_inviter_domains = a..b", "domain" },
        { "ignore_users = a:b", "user name" },
        { "base_url = ftp://app.mk.io", "https://" },
        { "base_url = http://app.mk.io", "not loopback" },
        { "base_url = http://127.0.0.1.evil.com", "not loopback" },
        { "base_url = http://128.0.0.1", "not loopback" },
        { "base_url = http://127.0.0.256", "not loopback" },
        { "base_url = http://[::2]", "not loopback" },
        { "base_url = https://user:pw@app.mk.io", "user name or password" },
        { "base_url = https://app.mk.io/?x=1", "query" },
        { "base_url = https://app.mk.io/#frag", "fragment" },
        { "base_url = https://", "no host" },
        { "base_url = https://:443", "host" },
        { "base_url = https://app.mk.io:0", "port" },
        { "base_url = https://app.mk.io:65536", "port" },
        { "base_url = https://app.mk.io/api/v1", "ends with /api/v1" },
        { "base_url = https://app.mk.io/api/v1/", "ends with /api/v1" },
        { "base_url = https://app.mk.io/mk/API/V1", "ends with /api/v1" },
        { "base_url = https://app.mk.io:", "port" },
        { "base_url = https://app.mk.io/a b", "space" },
        { "base_url = https://app..mk.io", "host" },
        { "base_url = https://[::1", "unclosed" },
        { "base_url = https://app.mk.io/x\"y", "path" },
        { "base_url = app.mk.io", "https://" },
        { "max_list_size = 65535", "64K to 1024M" },
        { "max_list_size = 1025M", "64K to 1024M" },
        { "max_list_size = 1G", "64K to 1024M" },
        { "max_list_size = -1", "64K to 1024M" },
        { "max_list_size =", "no value" },
        { "max_list_records = 0", "1 to 1000000" },
        { "max_list_records = 1000001", "1 to 1000000" },
        { "max_list_records = 10K", "1 to 1000000" },
        { "max_list_records = -5", "1 to 1000000" },
        { "max_list_records = 99999999999999999999999", "1 to 1000000" },
        { "proxy = proxy.example.com:3128", "unknown scheme" },
        { "proxy = ftp://proxy:21", "unknown scheme" },
        { "proxy = socks4://proxy:1080", "unknown scheme" },
        { "proxy = http://proxy", "no port" },
        { "proxy = http://proxy:0", "port" },
        { "proxy = http://proxy:65536", "port" },
        { "proxy = http://proxy:", "port" },
        { "proxy = http://user:pw@proxy:3128", "user name or password" },
        { "proxy = http://proxy:3128/path", "path" },
        { "proxy = http://proxy:3128?x", "query" },
        { "proxy = http://:3128", "host" },
        { "proxy = http://", "host" },
        { "proxy = http://pro xy:3128", "space" },
        { "proxy = http://[::1:3128", "unclosed" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_line_refused(bad[i].line, bad[i].want);
}

static void test_syntax_errors(void **state)
{
    assert_line_refused("retries 3", "key = value");
    assert_line_refused("= 3", "without a key");
    assert_line_refused("token = secret-value", "unknown key");
    assert_line_refused("Retries = 3", "unknown key");
    assert_line_refused("retries = 3\x01", "control character");
    assert_line_refused("base_url = https://a.example\rb", "control character");

    /* A bad key's value is not echoed (someone may paste a secret). */
    struct mk_config cfg;
    mk_error err;
    assert_int_equal(parse("token = hunter2-secret\n", &cfg, &err), MK_ERR_USAGE);
    assert_null(strstr(err.message, "hunter2"));
    mk_config_free(&cfg);
}

static void test_duplicate_key(void **state)
{
    struct mk_config cfg;
    mk_error err;

    assert_int_equal(parse("retries = 2\n\nretries = 4\n", &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, NAME ":3: ");
    assert_contains(err.message, "first on line 1");
    assert_int_equal(cfg.retries, 3); /* untouched */
    mk_config_free(&cfg);

    static const char *const keys[] = {
        "base_url = https://a.example", "ca_file =", "connect_timeout = 1", "time_budget = 2",
        "max_response_size = 1M", "token_dir = /a", "user_token = a", "gid_range = 70000-70001",
        "group_prefix = x", "accept_invites = yes", "min_uid = 1", "state_dir = /s",
        "max_list_size = 1M", "max_list_records = 5", "proxy =",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "%s\n%s\n", keys[i], keys[i]);
        assert_int_equal(parse(text, &cfg, &err), MK_ERR_USAGE);
        assert_contains(err.message, NAME ":2: ");
        assert_contains(err.message, "given again");
        mk_config_free(&cfg);
    }
}

static void test_parse_on_top_keeps_earlier(void **state)
{
    struct mk_config cfg;
    mk_error err;

    /* A second text may set a key again (it is a new file) and adds to lists. */
    assert_int_equal(parse("retries = 2\nignore_users = a\n", &cfg, &err), MK_OK);
    assert_int_equal(parse_with_url_rules("retries = 5\nignore_users = b\n", "second.conf", &cfg, &err),
                     MK_OK);
    assert_int_equal(cfg.retries, 5);
    assert_int_equal(cfg.ignore_user_count, 3);
    assert_string_equal(cfg.source, "second.conf");

    /* A failing text leaves everything as it was, including the lists. */
    assert_int_equal(parse_with_url_rules("ignore_users = c\nretries = 7\nretries = x\n", "third.conf",
                                            &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "third.conf:3: ");
    assert_int_equal(cfg.retries, 5);
    assert_int_equal(cfg.ignore_user_count, 3);
    assert_string_equal(cfg.source, "second.conf");
    mk_config_free(&cfg);
}

static void test_pins(void **state)
{
    struct mk_config cfg;
    mk_error err;

    assert_int_equal(parse("pin = org-a staff 2000200002\npin = org-b dev_team 2000200003\n", &cfg, &err),
                     MK_OK);
    const struct mk_pin *pin = mk_config_pin_for(&cfg, "org-b");
    assert_non_null(pin);
    assert_string_equal(pin->group_name, "dev_team");
    assert_int_equal(pin->gid, 2000200003);
    assert_ptr_equal(mk_config_pin_for(&cfg, "ORG-A"), &cfg.pins[0]);
    assert_null(mk_config_pin_for(&cfg, "org-c"));
    assert_null(mk_config_pin_for(&cfg, NULL));
    mk_config_free(&cfg);

    assert_line_refused("pin = org-a staff", "three fields");
    assert_line_refused("pin = org-a staff 2000200002 extra", "three fields");
    assert_line_refused("pin = org_a staff 2000200002", "organization id");
    assert_line_refused("pin = org-a Staff 2000200002", "portable group name");
    assert_line_refused("pin = org-a 9staff 2000200002", "portable group name");
    assert_line_refused("pin = org-a abcdefghijklmnopqrstuvwxyz0123456 2000200002", "portable group name");
    assert_line_accepted("pin = org-a abcdefghijklmnopqrstuvwxyz012345 2000200002");
    assert_line_refused("pin = org-a staff x", "not a number");
    assert_line_refused("pin = org-a staff 0", "reserved");
    assert_line_refused("pin = org-a staff 1000", "reserved");
    assert_line_refused("pin = org-a staff 600000", "reserved");
    assert_line_refused("pin = org-a staff 4294967296", "reserved");

    static const struct {
        const char *second;
        const char *want;
    } dup[] = {
        { "pin = org-a other 2000200003", "already pinned" },
        { "pin = ORG-A other 2000200003", "already pinned" },
        { "pin = org-b staff 2000200003", "staff is already pinned" },
        { "pin = org-b other 2000200002", "gid 2000200002 is already pinned" },
    };
    for (size_t i = 0; i < sizeof(dup) / sizeof(dup[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "pin = org-a staff 2000200002\n%s\n", dup[i].second);
        assert_int_equal(parse(text, &cfg, &err), MK_ERR_USAGE);
        assert_contains(err.message, NAME ":2: ");
        assert_contains(err.message, dup[i].want);
        assert_int_equal(cfg.pin_count, 0);
        mk_config_free(&cfg);
    }

    /* Pins vs range is a whole-file check: the message names the file. */
    assert_int_equal(parse("pin = org-a staff 70000\n", &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, NAME ": pin for org-a has gid 70000 outside gid_range");
    mk_config_free(&cfg);
    /* The order of lines does not matter. */
    assert_int_equal(parse("pin = org-a staff 70000\ngid_range = 70000-70010\n", &cfg, &err), MK_OK);
    mk_config_free(&cfg);
}

static void test_gid_reserved_edges(void **state)
{
    static const struct {
        unsigned long gid;
        bool reserved;
    } edges[] = {
        { 0, true }, { 999, true }, { 1000, true }, { 60000, true }, { 60001, true },
        { 65535, true }, { 65536, false }, { 199999, false }, { 200000, true },
        { 524288, true }, { 1879048191, true }, { 1879048192, true }, { 1900000000, true },
        { 2000200000, true }, { 2000200001, false }, { 2147483647, false },
        { 2147483648UL, true }, { 4294967295UL, true },
    };
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        if (mk_config_gid_reserved(edges[i].gid) != edges[i].reserved)
            fail_msg("gid %lu: expected reserved=%d", edges[i].gid, edges[i].reserved);

        char line[128];
        snprintf(line, sizeof(line), "gid_range = %lu-%lu", edges[i].gid, edges[i].gid);
        if (edges[i].reserved)
            assert_line_refused(line, "reserved");
        else
            assert_line_accepted(line);

        /* The same gid as a pin, with the range made to hold it when it can. */
        snprintf(line, sizeof(line), "pin = org-x staff %lu", edges[i].gid);
        if (edges[i].reserved) {
            assert_line_refused(line, "reserved");
        } else {
            char text[256];
            struct mk_config cfg;
            mk_error err;
            snprintf(text, sizeof(text), "gid_range = %lu-%lu\n%s\n", edges[i].gid, edges[i].gid, line);
            if (parse(text, &cfg, &err) != MK_OK)
                fail_msg("%s refused: %s", text, err.message);
            mk_config_free(&cfg);
        }
    }
    /* Ranges that touch a reserved range by one. */
    assert_line_refused("gid_range = 65535-70000", "reserved");
    assert_line_refused("gid_range = 2000200002-2147483648", "reserved");
    /* SSSD's default id-mapping range is named, at either edge and inside. */
    assert_line_refused("gid_range = 100000-200000", "SSSD's default id-mapping range "
                        "200000-2000200000");
    assert_line_refused("gid_range = 2000200000-2000200100", "SSSD's default id-mapping range "
                        "200000-2000200000");
    assert_line_refused("gid_range = 1900000000-1999999999", "SSSD's default id-mapping range "
                        "200000-2000200000");
    assert_line_refused("gid_range = 1879048192-2147483647", "SSSD's default id-mapping range "
                        "200000-2000200000");
    assert_line_refused("gid_range = 1900000000-1999999999", "65536-199999 or "
                        "2000200001-2147483647");
    /* The old default (issue 10) and a pin in it are refused. */
    assert_line_refused("pin = org-x staff 1900000100", "reserved range (gids 65536-199999 or "
                        "2000200001-2147483647");
}

/* The default range lies in the upper allowed range, clear of SSSD's. */
static void test_gid_range_default_clear_of_sssd(void **state)
{
    struct mk_config cfg;
    mk_error err;
    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    assert_int_equal(cfg.gid_min, 2000200001u);
    assert_int_equal(cfg.gid_max, 2147483646u);
    assert_false(mk_config_gid_reserved(cfg.gid_min));
    assert_false(mk_config_gid_reserved(cfg.gid_max));
    assert_true(mk_config_gid_reserved(cfg.gid_min - 1));
    mk_config_free(&cfg);
}

/* A gid map file of its own for the reader (struct mk_config_url_rules's
 * gid_map), and the rules that read it. */
static char gidmap_path[64];

static void write_gidmap(const char *text)
{
    FILE *fp;

    if (!gidmap_path[0]) {
        int fd;
        strcpy(gidmap_path, "/tmp/test_config_gidmap.XXXXXX");
        assert_true((fd = mkstemp(gidmap_path)) >= 0);
        close(fd);
    }
    assert_non_null(fp = fopen(gidmap_path, "w"));
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static mk_status parse_in_map(const char *text, struct mk_config *cfg, mk_error *err)
{
    struct mk_config_url_rules rules = mk_url_rules;

    rules.gid_map = gidmap_path;
    mk_error_clear(err);
    assert_int_equal(mk_config_defaults(cfg, err), MK_OK);
    return mk_config_parse_string_with(text, NAME, &rules, cfg, err);
}

static void assert_range_in_map(const char *line, bool accepted, const char *want)
{
    struct mk_config cfg;
    mk_error err;

    if (parse_in_map(line, &cfg, &err) != (accepted ? MK_OK : MK_ERR_USAGE))
        fail_msg("\"%s\" with map %s: %s", line, gidmap_path, err.message);
    if (want)
        assert_contains(err.message, want);
    mk_config_free(&cfg);
}

/* In a user namespace whose gid map is 0-65535 (issue 17): a gid_range
 * inside 1000-60000 that the map covers is accepted, whatever lies outside
 * either still refused, invariant 3's own ranges accepted as before; with
 * the identity map (no user namespace) or no map to read, invariant 3
 * alone. */
static void test_gid_range_in_user_namespace(void **state)
{
    write_gidmap("         0     100000      65536\n");
    assert_range_in_map("gid_range = 50000-59999", true, NULL);
    assert_range_in_map("gid_range = 1000-60000", true, NULL);
    assert_range_in_map("gid_range = 2000200001-2147483646", true, NULL);
    assert_range_in_map("gid_range = 999-5000", false, "in this user namespace also a range "
                        "inside 1000-60000 that its gid map covers");
    assert_range_in_map("gid_range = 59000-60001", false, "reserved");
    assert_range_in_map("gid_range = 65534-65534", false, "reserved");
    assert_range_in_map("gid_range = 60001-65000", false, "user namespace");
    /* Mapped only in part. */
    write_gidmap("0 100000 55000\n");
    assert_range_in_map("gid_range = 50000-54999", true, NULL);
    assert_range_in_map("gid_range = 50000-59999", false, "user namespace");
    write_gidmap("0 100000 55000\n55000 300000 5001\n");
    assert_range_in_map("gid_range = 50000-60000", true, NULL);
    /* No user namespace, or no map: as invariant 3 says. */
    write_gidmap("         0          0 4294967295\n");
    assert_range_in_map("gid_range = 50000-59999", false, "reserved");
    struct mk_config cfg;
    mk_error err;
    assert_int_equal(parse_in_map("gid_range = 50000-59999", &cfg, &err), MK_ERR_USAGE);
    assert_null(strstr(err.message, "user namespace"));
    mk_config_free(&cfg);
    unlink(gidmap_path);
    assert_range_in_map("gid_range = 50000-59999", false, "reserved");
}

/* doctor's proposal: a range the reader accepts in that namespace. */
static void test_gid_range_propose(void **state)
{
    static const struct {
        const char *map;
        bool found;
        gid_t lo, hi;
    } cases[] = {
        { "0 0 4294967295\n", true, 2000200001, 2147483646 },
        { "0 100000 65536\n", true, 50000, 59999 },
        { "0 100000 20000\n", true, 10000, 19999 },
        { "0 100000 1005\n", true, 1000, 1004 },
        { "0 100000 1000\n", false, 0, 0 },
        { "0 1 70000\n", true, 65536, 69999 },
        { "0 1 65536\n100000 200000 90000\n", true, 100000, 109999 },
        { "0 1 65536\n2000200000 1 1000000\n", true, 2000200001, 2000210000 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mk_gidmap map;
        gid_t lo = 0, hi = 0;
        char line[64];

        assert_int_equal(mk_gidmap_parse(cases[i].map, strlen(cases[i].map), &map), 0);
        if (mk_config_gid_range_propose(&map, &lo, &hi) != cases[i].found)
            fail_msg("map %s: found %d", cases[i].map, !cases[i].found);
        if (!cases[i].found)
            continue;
        if (lo != cases[i].lo || hi != cases[i].hi)
            fail_msg("map %s: proposed %u-%u", cases[i].map, (unsigned)lo, (unsigned)hi);
        write_gidmap(cases[i].map);
        snprintf(line, sizeof(line), "gid_range = %u-%u", (unsigned)lo, (unsigned)hi);
        assert_range_in_map(line, true, NULL);
    }
    unlink(gidmap_path);
}

static void test_timeouts_against_budget(void **state)
{
    struct mk_config cfg;
    mk_error err;

    assert_int_equal(parse("connect_timeout = 5\ntime_budget = 5\n", &cfg, &err), MK_OK);
    mk_config_free(&cfg);
    assert_int_equal(parse("connect_timeout = 6\n", &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, NAME ": connect_timeout");
    assert_contains(err.message, "must not exceed time_budget");
    assert_int_equal(cfg.connect_timeout_ms, 3000);
    mk_config_free(&cfg);
}

static void test_base_url_check(void **state)
{
    mk_error err;
    static const char *const good[] = {
        "https://app.mk.io", "https://app.mk.io/", "https://APP.MK.IO:443/api", "HTTPS://x",
        "http://127.0.0.1", "http://127.255.255.254:9/x", "http://localhost:8080", "http://LOCALHOST",
        "http://[::1]", "http://[::1]:8443/",
    };
    static const char *const bad[] = {
        "", "ftp://app.mk.io", "http://app.mk.io", "http://10.0.0.1", "http://localhost.evil.com",
        "https://u@app.mk.io", "https://app.mk.io?x", "https://app.mk.io#x", "https:///path",
        "http://127.1", "file:///etc/passwd", "https://app.mk.io\n", "//app.mk.io",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (mk_url_check_base(good[i], &err) != MK_OK)
            fail_msg("%s refused: %s", good[i], err.message);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mk_error_clear(&err);
        if (mk_url_check_base(bad[i], &err) != MK_ERR_USAGE)
            fail_msg("%s accepted", bad[i]);
        assert_true(err.message[0] != '\0');
    }
    assert_int_equal(mk_url_check_base(NULL, &err), MK_ERR_USAGE);

    /* The password of a refused URL is never repeated. */
    assert_int_equal(mk_url_check_base("https://me:s3cr3t@app.mk.io", &err), MK_ERR_USAGE);
    assert_null(strstr(err.message, "s3cr3t"));

    struct mk_config cfg;
    assert_int_equal(parse("base_url = https://app.mk.io///\n", &cfg, &err), MK_OK);
    assert_string_equal(cfg.base_url, "https://app.mk.io");
    mk_config_free(&cfg);
}

/* libcurl splits the URLs, and reads some typos leniently: each must still
 * be refused, because the host curl would use is not the host written. */
static void test_urls_as_libcurl_reads_them(void **state)
{
    mk_error err;
    static const char *const bad_base[] = {
        "https:/app.mk.io", "https:///app.mk.io", "https://app.mk.io:", "http://[::1]:",
        "http://0x7f000001", "http://2130706433", "http://127.000.000.001", "https://app%2emk.io",
        "http://[::1%25lo]", "https://-app.mk.io", "https://app.mk.io.", "https://app.mk.io;x=1",
        "https://:pw@app.mk.io", "https://app.mk.io:443:1", "http://localhost:0",
    };
    for (size_t i = 0; i < sizeof(bad_base) / sizeof(bad_base[0]); i++)
        if (mk_url_check_base(bad_base[i], &err) != MK_ERR_USAGE)
            fail_msg("base URL %s accepted", bad_base[i]);
    static const char *const good_base[] = {
        "https://app.mk.io:0443/api/", "https://a-b.example/x/%20y", "http://127.0.0.1:1/",
        "https://[2001:DB8::1]:8443",
    };
    for (size_t i = 0; i < sizeof(good_base) / sizeof(good_base[0]); i++)
        if (mk_url_check_base(good_base[i], &err) != MK_OK)
            fail_msg("base URL %s refused: %s", good_base[i], err.message);
    static const char *const bad_proxy[] = {
        "http:/proxy:3128", "http://proxy:3128#x", "http://proxy%41:3128", "socks5://:1080",
        "http://0x7f000001:3128",
    };
    for (size_t i = 0; i < sizeof(bad_proxy) / sizeof(bad_proxy[0]); i++)
        if (mk_url_check_proxy(bad_proxy[i], &err) != MK_ERR_USAGE)
            fail_msg("proxy %s accepted", bad_proxy[i]);
}

/* The proxy and the listing bounds: direct checks, validation of a struct
 * set by hand, and the deep copy a second text starts from. */
static void test_proxy_and_list_bounds(void **state)
{
    struct mk_config cfg;
    mk_error err;

    assert_int_equal(mk_url_check_proxy("http://proxy.example.com:3128", &err), MK_OK);
    assert_int_equal(mk_url_check_proxy("https://[2001:db8::1]:443", &err), MK_OK);
    assert_int_equal(mk_url_check_proxy(NULL, &err), MK_ERR_USAGE);
    assert_int_equal(mk_url_check_proxy("", &err), MK_ERR_USAGE);
    /* A refused proxy is not echoed: it might carry a password. */
    assert_int_equal(mk_url_check_proxy("http://me:hunter2@proxy:3128", &err), MK_ERR_USAGE);
    assert_null(strstr(err.message, "hunter2"));

    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    cfg.max_list_records = 0;
    assert_int_equal(mk_config_validate(&cfg, &mk_url_rules, &err), MK_ERR_USAGE);
    assert_contains(err.message, "max_list_records");
    cfg.max_list_records = 10;
    cfg.max_list_bytes = 1024;
    assert_int_equal(mk_config_validate(&cfg, &mk_url_rules, &err), MK_ERR_USAGE);
    assert_contains(err.message, "max_list_size");
    cfg.max_list_bytes = 1 << 20;
    cfg.proxy = strdup("http://proxy");
    assert_int_equal(mk_config_validate(&cfg, &mk_url_rules, &err), MK_ERR_USAGE);
    assert_contains(err.message, "proxy");
    mk_config_free(&cfg);

    /* A second text starts from a copy of the first: the values carry over,
     * and an empty proxy clears the first one. */
    assert_int_equal(parse("proxy = socks5h://127.0.0.1:1080\nmax_list_records = 7\n"
                           "max_list_size = 128K\n", &cfg, &err), MK_OK);
    assert_int_equal(parse_with_url_rules("retries = 1\n", "second.conf", &cfg, &err), MK_OK);
    assert_string_equal(cfg.proxy, "socks5h://127.0.0.1:1080");
    assert_int_equal(cfg.max_list_records, 7);
    assert_int_equal(cfg.max_list_bytes, 128 * 1024);
    assert_int_equal(parse_with_url_rules("proxy =\n", "third.conf", &cfg, &err), MK_OK);
    assert_null(cfg.proxy);
    mk_config_free(&cfg);
}

static void test_env_base_url(void **state)
{
    struct mk_config cfg;
    mk_error err;
    uid_t euid = geteuid();

    /* A user's environment is theirs: run as one (root's below). */
    if (euid == 0)
        assert_int_equal(seteuid(65534), 0);
    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    assert_null(cfg.base_url_origin);
    unsetenv("MKIO_BASE_URL");
    assert_int_equal(mk_config_apply_env(&cfg, &mk_url_rules, &err), MK_OK);
    assert_string_equal(cfg.base_url, "https://app.mk.io");

    setenv("MKIO_BASE_URL", "", 1);
    assert_int_equal(mk_config_apply_env(&cfg, &mk_url_rules, &err), MK_OK);
    assert_string_equal(cfg.base_url, "https://app.mk.io");
    assert_null(cfg.base_url_origin);

    setenv("MKIO_BASE_URL", "http://127.0.0.1:9999/", 1);
    assert_int_equal(mk_config_apply_env(&cfg, &mk_url_rules, &err), MK_OK);
    assert_string_equal(cfg.base_url, "http://127.0.0.1:9999");
    assert_string_equal(cfg.base_url_origin, "MKIO_BASE_URL");

    setenv("MKIO_BASE_URL", "http://mk.example.com", 1);
    assert_int_equal(mk_config_apply_env(&cfg, &mk_url_rules, &err), MK_ERR_USAGE);
    assert_contains(err.message, "MKIO_BASE_URL");
    assert_string_equal(cfg.base_url, "http://127.0.0.1:9999");
    mk_config_free(&cfg);

    /* Root takes no server from its environment (issue 20): refused,
     * naming the variable and the fix; an empty one is no server. */
    if (euid == 0) {
        assert_int_equal(seteuid(0), 0);
        assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
        setenv("MKIO_BASE_URL", "https://127.0.0.1:9999", 1);
        assert_int_equal(mk_config_apply_env(&cfg, &mk_url_rules, &err), MK_ERR_USAGE);
        assert_contains(err.message, "MKIO_BASE_URL is set");
        assert_contains(err.message, "set base_url in /etc/mkio/mkio.conf");
        assert_string_equal(cfg.base_url, "https://app.mk.io");
        assert_null(cfg.base_url_origin);
        assert_int_equal(parse_with_url_rules("base_url = https://mk.example.com\n", "x.conf",
                                              &cfg, &err), MK_OK);
        assert_int_equal(mk_config_apply_env(&cfg, &mk_url_rules, &err), MK_ERR_USAGE);
        assert_contains(err.message, "set base_url in x.conf");
        setenv("MKIO_BASE_URL", "", 1);
        assert_int_equal(mk_config_apply_env(&cfg, &mk_url_rules, &err), MK_OK);
        assert_string_equal(cfg.base_url, "https://mk.example.com");
        mk_config_free(&cfg);
    }
    unsetenv("MKIO_BASE_URL");
}

/* Where base_url came from: the line of the text that set it last, kept
 * through a copy; none for the default. */
static void test_base_url_origin(void **state)
{
    struct mk_config cfg;
    mk_error err;

    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    assert_int_equal(parse_with_url_rules("# comment\nretries = 1\n", "a.conf", &cfg, &err), MK_OK);
    assert_null(cfg.base_url_origin);
    assert_int_equal(parse_with_url_rules("retries = 1\n\nbase_url = https://mk.example.com\n",
                                          "b.conf", &cfg, &err), MK_OK);
    assert_string_equal(cfg.base_url_origin, "b.conf line 3");
    mk_config_free(&cfg);
}

static void test_invite_policy(void **state)
{
    struct mk_config cfg;
    mk_error err;
    const char *why = "unset";

    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    assert_true(mk_config_invite_allowed(&cfg, "org-1", NULL, &why));
    assert_null(why);
    assert_true(mk_config_invite_allowed(&cfg, "org-1", "a@anything.example", NULL));
    assert_true(mk_config_invite_allowed(&cfg, "ORG-1", NULL, NULL));
    /* An id the store would refuse is not accepted either. */
    assert_false(mk_config_invite_allowed(&cfg, "---", NULL, &why));
    assert_false(mk_config_invite_allowed(&cfg, "org_1", NULL, &why));
    mk_config_free(&cfg);

    assert_int_equal(parse("accept_invites = no\n", &cfg, &err), MK_OK);
    assert_false(mk_config_invite_allowed(&cfg, "org-1", "a@example.com", &why));
    assert_string_equal(why, "invite acceptance is turned off");
    mk_config_free(&cfg);

    assert_int_equal(parse("accept_orgs = org-1 ORG-2\n", &cfg, &err), MK_OK);
    assert_true(mk_config_invite_allowed(&cfg, "org-1", NULL, &why));
    assert_true(mk_config_invite_allowed(&cfg, "org-2", NULL, &why));
    assert_false(mk_config_invite_allowed(&cfg, "org-3", NULL, &why));
    assert_contains(why, "accept_orgs");
    assert_false(mk_config_invite_allowed(&cfg, "org-", NULL, &why));
    assert_false(mk_config_invite_allowed(&cfg, NULL, NULL, &why));
    mk_config_free(&cfg);

    assert_int_equal(parse("accept_inviter_domains = example.com\n", &cfg, &err), MK_OK);
    assert_true(mk_config_invite_allowed(&cfg, "org-1", "ada@example.com", &why));
    assert_true(mk_config_invite_allowed(&cfg, "org-1", "Ada@EXAMPLE.Com", &why));
    /* The part after the last '@' decides, exactly. */
    assert_true(mk_config_invite_allowed(&cfg, "org-1", "\"a@evil.com\"@example.com", &why));
    assert_false(mk_config_invite_allowed(&cfg, "org-1", "ada@example.com@evil.com", &why));
    assert_contains(why, "accept_inviter_domains");
    assert_false(mk_config_invite_allowed(&cfg, "org-1", "ada@sub.example.com", &why));
    assert_false(mk_config_invite_allowed(&cfg, "org-1", "ada@example.com.evil", &why));
    assert_false(mk_config_invite_allowed(&cfg, "org-1", "ada@notexample.com", &why));
    assert_false(mk_config_invite_allowed(&cfg, "org-1", "example.com", &why));
    assert_contains(why, "unknown");
    assert_false(mk_config_invite_allowed(&cfg, "org-1", "ada@", &why));
    assert_false(mk_config_invite_allowed(&cfg, "org-1", NULL, &why));
    assert_contains(why, "unknown");
    mk_config_free(&cfg);

    /* Both lists must agree. */
    assert_int_equal(parse("accept_orgs = org-1\naccept_inviter_domains = example.com\n", &cfg, &err), MK_OK);
    assert_true(mk_config_invite_allowed(&cfg, "org-1", "a@example.com", &why));
    assert_false(mk_config_invite_allowed(&cfg, "org-2", "a@example.com", &why));
    assert_false(mk_config_invite_allowed(&cfg, "org-1", "a@example.org", &why));
    mk_config_free(&cfg);
}

static void test_user_ignored(void **state)
{
    struct mk_config cfg;
    mk_error err;

    assert_int_equal(parse("min_uid = 1000\nignore_users = backup svc-deploy\n", &cfg, &err), MK_OK);
    assert_true(mk_config_user_ignored(&cfg, "root", 0));
    assert_true(mk_config_user_ignored(&cfg, "daemon", 1));
    assert_true(mk_config_user_ignored(&cfg, "alice", 999));
    assert_false(mk_config_user_ignored(&cfg, "alice", 1000));
    assert_true(mk_config_user_ignored(&cfg, "backup", 5000));
    assert_true(mk_config_user_ignored(&cfg, "svc-deploy", 5000));
    assert_false(mk_config_user_ignored(&cfg, "Backup", 5000));
    assert_false(mk_config_user_ignored(&cfg, "backup2", 5000));
    assert_true(mk_config_user_ignored(&cfg, NULL, 5000));
    mk_config_free(&cfg);

    assert_int_equal(parse("min_uid = 0\n", &cfg, &err), MK_OK);
    assert_true(mk_config_user_ignored(&cfg, "root", 0)); /* still in ignore_users */
    assert_false(mk_config_user_ignored(&cfg, "daemon", 1));
    mk_config_free(&cfg);
}


#include <ctype.h>
/* The test locale really is one where <ctype.h> calls 0xe9 a lower-case
 * letter (otherwise the test would prove nothing). */
static bool islower_latin1_probe(void)
{
    return islower(0xe9) && isalnum(0xe9);
}

/* ---- identities: the rules of common/base/text.h -------------------------------- */

/* Organization ids are canonical (lowercase) wherever config keeps them, and
 * the questions config answers compare canonical forms exactly: the API's
 * "abc-1" and a pin written "ABC-1" are one organization, as in the store. */
static void test_org_ids_canonical(void **state)
{
    struct mk_config cfg;
    mk_error err;
    const char *why = NULL;

    assert_int_equal(parse("pin = ABC-1 staff 2000200002\npin = Org-B dev 2000200003\n"
                           "accept_orgs = ORG-2 abc-1\n", &cfg, &err), MK_OK);
    assert_string_equal(cfg.pins[0].org_id, "abc-1");
    assert_string_equal(cfg.pins[1].org_id, "org-b");
    assert_ptr_equal(mk_config_pin_for(&cfg, "abc-1"), &cfg.pins[0]);
    assert_ptr_equal(mk_config_pin_for(&cfg, "ABC-1"), &cfg.pins[0]);
    assert_ptr_equal(mk_config_pin_for(&cfg, "org-b"), &cfg.pins[1]);
    assert_null(mk_config_pin_for(&cfg, "abc-"));
    assert_null(mk_config_pin_for(&cfg, "abc-1 "));
    assert_null(mk_config_pin_for(&cfg, "---"));
    assert_int_equal(cfg.accept_org_count, 2);
    assert_string_equal(cfg.accept_orgs[0], "org-2");
    assert_string_equal(cfg.accept_orgs[1], "abc-1");
    assert_true(mk_config_invite_allowed(&cfg, "org-2", NULL, &why));
    assert_true(mk_config_invite_allowed(&cfg, "ORG-2", NULL, &why));
    assert_false(mk_config_invite_allowed(&cfg, "org_2", NULL, &why));
    assert_false(mk_config_invite_allowed(&cfg, "---", NULL, &why));
    mk_config_free(&cfg);

    /* The same organization spelled twice is one entry. */
    assert_int_equal(parse("accept_orgs = abc-1 ABC-1 Abc-1\n", &cfg, &err), MK_OK);
    assert_int_equal(cfg.accept_org_count, 1);
    mk_config_free(&cfg);

    /* What the store refuses as an id, config refuses too: no letter or
     * digit, a character outside [A-Za-z0-9-], more than 128 characters. */
    char long_id[160], line[256];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    const char *bad_ids[] = { "---", "-", "org_a", "org.a", "\xc3\xa9t\xc3\xa9", long_id };
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        snprintf(line, sizeof(line), "pin = %s staff 2000200002", bad_ids[i]);
        assert_line_refused(line, "organization id");
        snprintf(line, sizeof(line), "accept_orgs = org-1 %s", bad_ids[i]);
        assert_line_refused(line, "organization id");
    }
    long_id[128] = '\0';
    snprintf(line, sizeof(line), "pin = %s staff 2000200002", long_id);
    assert_line_accepted(line);
}

/* Builds the locale NAME (e.g. "de_DE.ISO-8859-1") into a private
 * directory and sets LC_ALL to it (tu_locale_make_ok). Returns the directory
 * (for locale_drop) or fails the test. */
static struct tu_tmpdir *locale_make(const char *input, const char *charmap, const char *name)
{
    struct tu_tmpdir *dir = malloc(sizeof(*dir));

    assert_non_null(dir);
    tu_locale_make_ok(dir, input, charmap, name);
    return dir;
}

static void locale_drop(struct tu_tmpdir *dir)
{
    tu_locale_drop_ok(dir);
    free(dir);
}

/* Under a Latin-1 locale islower(0xe9) and isalnum(0xe9) are true: names
 * and ids must still be ASCII, as the store and the NSS module see them. */
static void test_names_ignore_locale(void **state)
{
    struct tu_tmpdir *dir = locale_make("de_DE", "ISO-8859-1", "de_DE.ISO-8859-1");
    assert_true(islower_latin1_probe());

    assert_line_refused("pin = org-a caf\xe9 2000200002", "portable group name");
    assert_line_refused("pin = \xe9t\xe9 staff 2000200002", "organization id");
    assert_line_refused("group_prefix = \xe9t\xe9", "[a-z_]");
    assert_line_refused("accept_orgs = caf\xe9", "organization id");
    assert_line_refused("accept_inviter_domains = caf\xe9.example", "domain");
    assert_line_accepted("pin = org-a cafe 2000200002");
    locale_drop(dir);
}

/* A comma-decimal LC_NUMERIC (what a login program's setlocale gives a
 * German user) changes nothing: seconds are written with '.', always. */
static void test_seconds_ignore_locale(void **state)
{
    struct mk_config cfg;
    mk_error err;
    struct tu_tmpdir *dir = locale_make("de_DE", "UTF-8", "de_DE.UTF-8");
    assert_string_equal(localeconv()->decimal_point, ",");

    assert_int_equal(parse("connect_timeout = 2.5\ntime_budget = 2.75\n", &cfg, &err), MK_OK);
    assert_int_equal(cfg.connect_timeout_ms, 2500);
    assert_int_equal(cfg.budget_ms, 2750);
    mk_config_free(&cfg);
    assert_line_refused("connect_timeout = 2,5", "connect_timeout");
    assert_line_refused("time_budget = 2,5", "time_budget");
    locale_drop(dir);
}

/* ---- files -------------------------------------------------------------- */

/* Each file test gets its own directory (testutil.h). */
struct tmp {
    struct tu_tmpdir d;
};

static int tmp_setup(void **state)
{
    *state = tu_fixture_new(sizeof(struct tmp));
    return *state ? 0 : -1;
}

static int tmp_teardown(void **state)
{
    return tu_fixture_free(*state);
}

static char *tmp_path(const struct tmp *t, const char *name)
{
    return tu_path_ok(t->d.path, name);
}

static char *write_file(const struct tmp *t, const char *name, const char *text, size_t len, mode_t mode)
{
    tu_write_file_ok(t->d.fd, name, text, len, mode);
    return tmp_path(t, name);
}

static void test_load_good_file(void **state)
{
    struct tmp *t = *state;
    struct mk_config cfg;
    mk_error err;
    const char text[] = "retries = 1\nbase_url = http://127.0.0.1:1234\n";
    char *path = write_file(t, "mkio.conf", text, strlen(text), 0644);

    assert_int_equal(mk_config_load_with(path, &mk_url_rules, &cfg, &err), MK_OK);
    assert_int_equal(cfg.retries, 1);
    assert_string_equal(cfg.base_url, "http://127.0.0.1:1234");
    assert_string_equal(cfg.source, path);
    mk_config_free(&cfg);

    /* Bad content: the message names the file and line. */
    const char bad[] = "retries = 1\nretries = 2\n";
    char *bad_path = write_file(t, "bad.conf", bad, strlen(bad), 0600);
    assert_int_equal(mk_config_load(bad_path, &cfg, &err), MK_ERR_USAGE);
    char want[256];
    snprintf(want, sizeof(want), "%s:2: ", bad_path);
    assert_contains(err.message, want);
    mk_config_free(&cfg); /* harmless after a failed load */
    free(bad_path);
    free(path);
}

static void test_load_missing(void **state)
{
    struct tmp *t = *state;
    struct mk_config cfg;
    mk_error err;
    char *path = tmp_path(t, "absent.conf");

    assert_int_equal(mk_config_load_with(path, &mk_url_rules, &cfg, &err), MK_ERR_IO);
    assert_contains(err.message, path);
    assert_contains(err.message, "no such file");
    free(path);

    /* The default path: missing means defaults. Only checked when this host
     * really has no /etc/mkio/mkio.conf (the test never creates one). */
    struct stat sb;
    if (stat(MK_CONFIG_DEFAULT_PATH, &sb) < 0 && errno == ENOENT) {
        assert_int_equal(mk_config_load(NULL, &cfg, &err), MK_OK);
        assert_string_equal(cfg.source, "(defaults)");
        assert_string_equal(cfg.base_url, "https://app.mk.io");
        mk_config_free(&cfg);
    }
}

static void test_load_refused_files(void **state)
{
    struct tmp *t = *state;
    struct mk_config cfg;
    mk_error err;
    const char text[] = "retries = 1\n";

    char *p666 = write_file(t, "666.conf", text, strlen(text), 0666);
    assert_int_equal(mk_config_load(p666, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "writable by group or others (mode 0666)");
    char *p620 = write_file(t, "620.conf", text, strlen(text), 0620);
    assert_int_equal(mk_config_load(p620, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "mode 0620");

    /* A directory. */
    char *dir = tmp_path(t, "conf.d");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mk_config_load(dir, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "not a regular file");

    /* A FIFO must neither hang nor be read. */
    char *fifo = tmp_path(t, "fifo.conf");
    assert_int_equal(mkfifo(fifo, 0644), 0);
    assert_int_equal(mk_config_load(fifo, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "not a regular file");

    /* Owned by someone else while we are root. */
    if (geteuid() == 0) {
        char *other = write_file(t, "other.conf", text, strlen(text), 0644);
        assert_int_equal(chown(other, 65534, 65534), 0);
        assert_int_equal(mk_config_load(other, &cfg, &err), MK_ERR_USAGE);
        assert_contains(err.message, "owned by uid 65534, not root");
        free(other);
    }

    /* Too big, and a NUL byte inside. */
    size_t big_len = 1024 * 1024 + 1;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, '#', big_len);
    char *pbig = write_file(t, "big.conf", big, big_len, 0644);
    assert_int_equal(mk_config_load(pbig, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "larger than");
    free(big);
    const char nul[] = "retries = 1\n\0retries = 2\n";
    char *pnul = write_file(t, "nul.conf", nul, sizeof(nul) - 1, 0644);
    assert_int_equal(mk_config_load(pnul, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "NUL");

    free(p666);
    free(p620);
    free(dir);
    free(fifo);
    free(pbig);
    free(pnul);
}

/* Drop-ins: *.conf in mkio.conf.d beside the file, in strcmp order after
 * it; a later key wins, a list adds; each is trusted as the file is, and a
 * bad one is refused naming it (and its line). Where each key came from is
 * kept (mk_config_key_origin). */
static void test_load_dropins(void **state)
{
    struct tmp *t = *state;
    struct mk_config cfg;
    mk_error err;
    const char main_text[] = "retries = 1\ntime_budget = 8\nignore_users = alice\n";
    char *path = write_file(t, "mkio.conf", main_text, strlen(main_text), 0644);
    char *dir = tmp_path(t, "mkio.conf.d");
    assert_int_equal(mkdir(dir, 0755), 0);
    /* "10-b" sorts before "9-a" by strcmp (not by number, not by locale);
     * 9-a's retries wins. Not *.conf, or hidden: never read. */
    tu_write_text_ok(t->d.fd, "mkio.conf.d/10-b.conf", "retries = 5\nignore_users = bob\n", 0644);
    tu_write_text_ok(t->d.fd, "mkio.conf.d/9-a.conf", "\n# a comment\nretries = 7\n", 0644);
    tu_write_text_ok(t->d.fd, "mkio.conf.d/x.conf.dpkg-old", "bogus\n", 0644);
    tu_write_text_ok(t->d.fd, "mkio.conf.d/.hidden.conf", "bogus\n", 0644);

    assert_int_equal(mk_config_load_with(path, &mk_url_rules, &cfg, &err), MK_OK);
    assert_int_equal(cfg.retries, 7);
    assert_int_equal(cfg.budget_ms, 8000);
    assert_string_equal(cfg.source, path);
    assert_int_equal(cfg.dropin_count, 2);
    assert_non_null(strstr(cfg.dropins[0], "mkio.conf.d/10-b.conf"));
    assert_non_null(strstr(cfg.dropins[1], "mkio.conf.d/9-a.conf"));
    assert_true(mk_config_user_ignored(&cfg, "alice", 5000));
    assert_true(mk_config_user_ignored(&cfg, "bob", 5000));
    char want[PATH_MAX + 64], value[256];
    size_t retries_key = 0, budget_key = 0, users_key = 0, url_key = 0;
    for (size_t k = 0; k < mk_config_key_count(); k++) {
        const char *name = mk_config_key_name(k);
        retries_key = strcmp(name, "retries") == 0 ? k : retries_key;
        budget_key = strcmp(name, "time_budget") == 0 ? k : budget_key;
        users_key = strcmp(name, "ignore_users") == 0 ? k : users_key;
        url_key = strcmp(name, "base_url") == 0 ? k : url_key;
    }
    snprintf(want, sizeof(want), "%s/9-a.conf:3", dir);
    assert_string_equal(mk_config_key_origin(&cfg, retries_key), want);
    snprintf(want, sizeof(want), "%s:2", path);
    assert_string_equal(mk_config_key_origin(&cfg, budget_key), want);
    snprintf(want, sizeof(want), "%s:3, %s/10-b.conf:2", path, dir);
    assert_string_equal(mk_config_key_origin(&cfg, users_key), want);
    assert_null(mk_config_key_origin(&cfg, url_key));
    mk_config_key_value(&cfg, retries_key, value, sizeof(value));
    assert_string_equal(value, "7");
    mk_config_key_value(&cfg, users_key, value, sizeof(value));
    assert_string_equal(value, "root alice bob");
    mk_config_key_value(&cfg, url_key, value, sizeof(value));
    assert_string_equal(value, "https://app.mk.io");
    /* Parsing more on top (a deep copy, swapped in) keeps the origins. */
    assert_int_equal(mk_config_parse_string("retries = 3\n", "more.conf", &cfg, &err), MK_OK);
    assert_string_equal(mk_config_key_origin(&cfg, retries_key), "more.conf:1");
    snprintf(want, sizeof(want), "%s:2", path);
    assert_string_equal(mk_config_key_origin(&cfg, budget_key), want);
    assert_int_equal(cfg.dropin_count, 2);
    mk_config_free(&cfg);

    /* A bad line in a drop-in: its file and line. */
    tu_write_text_ok(t->d.fd, "mkio.conf.d/50-bad.conf", "retries = 1\nretries = many\n", 0644);
    assert_int_equal(mk_config_load(path, &cfg, &err), MK_ERR_USAGE);
    snprintf(want, sizeof(want), "%s/50-bad.conf:2: ", dir);
    assert_contains(err.message, want);
    char *bad = tmp_path(t, "mkio.conf.d/50-bad.conf");
    assert_int_equal(unlink(bad), 0);

    /* A world-writable drop-in, a symbolic link and a writable directory:
     * refused, naming the file and the fix. */
    tu_write_text_ok(t->d.fd, "mkio.conf.d/20-open.conf", "retries = 2\n", 0666);
    assert_int_equal(mk_config_load(path, &cfg, &err), MK_ERR_USAGE);
    snprintf(want, sizeof(want), "%s/20-open.conf is writable by group and others", dir);
    assert_contains(err.message, want);
    assert_contains(err.message, "chmod go-w");
    char *open_conf = tmp_path(t, "mkio.conf.d/20-open.conf");
    assert_int_equal(unlink(open_conf), 0);
    char *link = tmp_path(t, "mkio.conf.d/30-link.conf");
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(mk_config_load(path, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "30-link.conf");
    assert_contains(err.message, "symbolic link");
    assert_int_equal(unlink(link), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(mk_config_load(path, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, dir);
    assert_contains(err.message, "writable by group and others");
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(mk_config_load(path, &cfg, &err), MK_OK);
    mk_config_free(&cfg);
    free(link);
    free(open_conf);
    free(bad);
    free(dir);
    free(path);
}

/* Decision: a symlink to a good file is followed (configuration management
 * links /etc/mkio/mkio.conf); the checks apply to the file it reaches. */
static void test_load_symlink(void **state)
{
    struct tmp *t = *state;
    struct mk_config cfg;
    mk_error err;
    const char text[] = "retries = 9\n";

    char *target = write_file(t, "real.conf", text, strlen(text), 0644);
    char *link = tmp_path(t, "link.conf");
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(mk_config_load(link, &cfg, &err), MK_OK);
    assert_int_equal(cfg.retries, 9);
    mk_config_free(&cfg);

    /* ... and to a refused file is refused. */
    assert_int_equal(chmod(target, 0666), 0);
    assert_int_equal(mk_config_load(link, &cfg, &err), MK_ERR_USAGE);
    assert_contains(err.message, "mode 0666");

    /* A dangling link is a missing file. */
    char *dangling = tmp_path(t, "dangling.conf");
    assert_int_equal(symlink("/nonexistent/mkio.conf", dangling), 0);
    assert_int_equal(mk_config_load(dangling, &cfg, &err), MK_ERR_IO);
    free(target);
    free(link);
    free(dangling);
}

/* userdb_export: a boolean, off by default. */
static void test_userdb_export_key(void **state)
{
    struct mk_config cfg;
    mk_error err;

    (void)state;
    assert_int_equal(parse("", &cfg, &err), MK_OK);
    assert_false(cfg.userdb_export);
    mk_config_free(&cfg);
    assert_int_equal(parse("userdb_export = yes\n", &cfg, &err), MK_OK);
    assert_true(cfg.userdb_export);
    mk_config_free(&cfg);
    assert_line_refused("userdb_export = maybe", "yes/no");
    assert_line_refused("userdb_export = 2", "userdb_export");
}

/* The sample shipped in conf/: with every setting uncommented it parses and
 * gives the defaults (so the defaults it documents are the real ones). */
static void test_sample_conf(void **state)
{
    const char *candidates[] = { "conf/mkio.conf", "../conf/mkio.conf", "../../conf/mkio.conf" };
    FILE *fp = NULL;
    const char *path = NULL;
    for (size_t i = 0; !fp && i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        path = candidates[i];
        fp = fopen(path, "re");
    }
    if (!fp)
        skip();

    char text[32768] = "";
    char line[1024];
    size_t used = 0;
    int settings = 0;
    while (fgets(line, sizeof(line), fp)) {
        const char *out = line;
        /* "#key = value": a commented default */
        if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strstr(line, " =")) {
            out = line + 1;
            settings++;
        }
        size_t len = strlen(out);
        assert_true(used + len < sizeof(text));
        memcpy(text + used, out, len + 1);
        used += len;
    }
    fclose(fp);
    assert_int_equal(settings, 29); /* with ids_file, retired and userdb_export */

    struct mk_config cfg, def;
    mk_error err;
    if (parse(text, &cfg, &err) != MK_OK)
        fail_msg("sample refused: %s", err.message);
    assert_int_equal(mk_config_defaults(&def, &err), MK_OK);
    assert_string_equal(cfg.base_url, def.base_url);
    assert_null(cfg.ca_file);
    assert_int_equal(cfg.connect_timeout_ms, def.connect_timeout_ms);
    assert_int_equal(cfg.budget_ms, def.budget_ms);
    assert_int_equal(cfg.retries, def.retries);
    assert_int_equal(cfg.max_response_bytes, def.max_response_bytes);
    assert_int_equal(cfg.max_list_bytes, def.max_list_bytes);
    assert_int_equal(cfg.max_list_records, def.max_list_records);
    assert_null(cfg.proxy);
    assert_string_equal(cfg.token_dir, def.token_dir);
    assert_string_equal(cfg.user_token_path, def.user_token_path);
    assert_int_equal(cfg.gid_min, def.gid_min);
    assert_int_equal(cfg.gid_max, def.gid_max);
    assert_string_equal(cfg.group_prefix, def.group_prefix);
    assert_int_equal(cfg.pin_count, 1); /* the example pin */
    assert_int_equal(cfg.accept_invites, def.accept_invites);
    assert_int_equal(cfg.accept_org_count, 0);
    assert_int_equal(cfg.accept_inviter_domain_count, 0);
    assert_int_equal(cfg.min_uid, def.min_uid);
    assert_int_equal(cfg.token_warn_days, def.token_warn_days);
    assert_int_equal(cfg.ignore_user_count, 1);
    assert_string_equal(cfg.state_dir, def.state_dir);
    assert_int_equal(cfg.refresh_interval_ms, def.refresh_interval_ms);
    assert_int_equal(cfg.login_refresh_interval_ms, def.login_refresh_interval_ms);
    assert_int_equal(cfg.max_stale_ms, def.max_stale_ms);
    assert_int_equal(cfg.userdb_export, def.userdb_export);
    assert_false(cfg.userdb_export);
    mk_config_free(&cfg);
    mk_config_free(&def);

    /* As shipped (all commented): the defaults, when its owner and mode
     * are what an installed copy has. */
    struct stat sb;
    if (stat(path, &sb) == 0 && !(sb.st_mode & 022) && (geteuid() != 0 || sb.st_uid == 0)) {
        assert_int_equal(mk_config_load_with(path, &mk_url_rules, &cfg, &err), MK_OK);
        assert_int_equal(cfg.pin_count, 0);
        assert_string_equal(cfg.base_url, "https://app.mk.io");
        mk_config_free(&cfg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key_good),
        cmocka_unit_test(test_good_value_forms),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_parse_on_top_keeps_earlier),
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_gid_reserved_edges),
        cmocka_unit_test(test_timeouts_against_budget),
        cmocka_unit_test(test_base_url_check),
        cmocka_unit_test(test_urls_as_libcurl_reads_them),
        cmocka_unit_test(test_proxy_and_list_bounds),
        cmocka_unit_test(test_env_base_url),
        cmocka_unit_test(test_base_url_origin),
        cmocka_unit_test(test_invite_policy),
        cmocka_unit_test(test_user_ignored),
        cmocka_unit_test(test_org_ids_canonical),
        cmocka_unit_test(test_names_ignore_locale),
        cmocka_unit_test(test_seconds_ignore_locale),
        cmocka_unit_test(test_sample_conf),
        cmocka_unit_test(test_userdb_export_key),
        cmocka_unit_test(test_gid_range_default_clear_of_sssd),
        cmocka_unit_test(test_gid_range_in_user_namespace),
        cmocka_unit_test(test_gid_range_propose),
        cmocka_unit_test_setup_teardown(test_load_good_file, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_load_missing, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_load_refused_files, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_load_symlink, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_load_dropins, tmp_setup, tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
