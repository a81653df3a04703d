/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_nss_userns.c: the gid map of a user namespace
 * (base/gidmap.h) and the NSS module's initgroups, which leaves out the
 * gids the caller's namespace cannot map (issue 17, item 2).
 *
 *   build/tests/test_nss_userns [MODULE]   (default $MKIO_NSS_SO, then
 *                                           build/tests/libnss_mkio_test.so.2)
 *
 * The module's test build reads the map from MKIO_GID_MAP
 * (tests/nss/group_file_env.c): a fake map file here, rewritten between
 * calls; the shipped module reads /proc/self/gid_map. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/gidmap.h"
#include "groupfile/writer.h"
#include "testutil.h"

typedef enum nss_status (*getgrgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*initgroups_fn)(const char *, gid_t, long *, long *, gid_t **, long,
                                         int *);

static const char *module_path = "build/tests/libnss_mkio_test.so.2";
static void *module;
static getgrgid_fn mod_getgrgid;
static initgroups_fn mod_initgroups;
static char dir[64], path[128], etc_group[128], gid_map[128];

static const char *const members[] = {"alice"};
static const struct mk_group_entry sample[] = {
    {"mk-low", 50000, members, 1},
    {"mk-mid", 65535, members, 1},
    {"mk-high", 2000200002, members, 1},
    {"mk-top", 2000200004, members, 1},
};
#define SAMPLE_COUNT (sizeof(sample) / sizeof(sample[0]))

/* Writes a file the module reads, and returns a tick of the coarse clock
 * later (tu_next_tick): the module reads the gid map and /etc/group again
 * at most once per tick, and these tests expect the next call to see the
 * new text. */
static void write_text(const char *file, const char *text)
{
    FILE *fp = fopen(file, "w");

    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
    tu_next_tick();
}

static int group_setup(void **state)
{
    strcpy(dir, "/tmp/test_nss_userns.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/groups.db", dir);
    snprintf(etc_group, sizeof(etc_group), "%s/etc-group", dir);
    snprintf(gid_map, sizeof(gid_map), "%s/gid_map", dir);
    setenv("MKIO_GROUP_FILE", path, 1);
    setenv("MKIO_ETC_GROUP", etc_group, 1);
    setenv("MKIO_GID_MAP", gid_map, 1);
    if (mk_groupfile_write(path, sample, SAMPLE_COUNT) != 0)
        return -1;
    module = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!module) {
        fprintf(stderr, "cannot load %s: %s\n", module_path, dlerror());
        return -1;
    }
    mod_getgrgid = (getgrgid_fn)dlsym(module, "_nss_mkio_getgrgid_r");
    mod_initgroups = (initgroups_fn)dlsym(module, "_nss_mkio_initgroups_dyn");
    return mod_getgrgid && mod_initgroups ? 0 : -1;
}

static int group_teardown(void **state)
{
    if (module)
        dlclose(module);
    unlink(path);
    unlink(etc_group);
    unlink(gid_map);
    rmdir(dir);
    return 0;
}

static int parse(const char *text, struct mk_gidmap *m)
{
    return mk_gidmap_parse(text, strlen(text), m);
}

/* The kernel's own layout (right-aligned fields), several lines in any
 * order, blank lines; has() at each edge. */
static void test_gidmap_parse(void **state)
{
    struct mk_gidmap m;
    char text[64];

    assert_int_equal(parse("         0          0 4294967295\n", &m), 0);
    assert_true(m.all);
    assert_true(mk_gidmap_has(&m, 0) && mk_gidmap_has(&m, 4294967294u));

    assert_int_equal(parse("         0     100000      65536\n", &m), 0);
    assert_false(m.all);
    assert_int_equal(m.count, 1);
    assert_true(mk_gidmap_has(&m, 0) && mk_gidmap_has(&m, 65535));
    assert_false(mk_gidmap_has(&m, 65536) || mk_gidmap_has(&m, 2000200002));
    assert_true(mk_gidmap_covers(&m, 50000, 59999));
    assert_false(mk_gidmap_covers(&m, 60000, 65536));
    mk_gidmap_describe(&m, text, sizeof(text));
    assert_string_equal(text, "0-65535");

    /* Two extents that continue each other cover a range across both. */
    assert_int_equal(parse("1000 5000 1000\n\n0 100000 1000\n5000 1 10", &m), 0);
    assert_int_equal(m.count, 3);
    assert_int_equal(m.extents[0].first, 0);
    assert_true(mk_gidmap_covers(&m, 10, 1999));
    assert_false(mk_gidmap_covers(&m, 10, 2000));
    assert_false(mk_gidmap_has(&m, 2000) || mk_gidmap_has(&m, 4999) || mk_gidmap_has(&m, 5010));
    assert_true(mk_gidmap_has(&m, 5000) && mk_gidmap_has(&m, 5009));
    mk_gidmap_describe(&m, text, sizeof(text));
    assert_string_equal(text, "0-999,1000-1999,5000-5009");

    /* Not written yet: nothing maps. */
    assert_int_equal(parse("", &m), 0);
    assert_false(m.all);
    assert_false(mk_gidmap_has(&m, 0));
}

/* What the kernel never writes is no map at all: no filtering. */
static void test_gidmap_malformed(void **state)
{
    static const char *const bad[] = {
        "0 0\n", "0 0 0\n", "x 0 1\n", "0 0 1 2\n", "4294967295 0 2\n", "0 0 4294967296\n",
        "0 0 10\n5 100 10\n", "0 0 1\0 1 1 1\n",
        "000000000000000000000000000000000000000000000000000000000000000000000 0 1\n",
    };
    struct mk_gidmap m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = i == 7 ? 14 : strlen(bad[i]);
        assert_int_equal(mk_gidmap_parse(bad[i], len, &m), -EINVAL);
        assert_true(m.all);
    }
}

/* Past the kernel's 340 lines: refused (no filtering); 340 are read whole. */
static void test_gidmap_read_many(void **state)
{
    struct mk_gidmap m;
    FILE *fp = fopen(gid_map, "w");

    assert_non_null(fp);
    for (unsigned i = 0; i < MK_GIDMAP_EXTENTS_MAX; i++)
        fprintf(fp, "%10u %10u %10u\n", i * 10, 100000 + i * 10, 5);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(mk_gidmap_read(gid_map, &m), 0);
    assert_int_equal(m.count, MK_GIDMAP_EXTENTS_MAX);
    assert_true(mk_gidmap_has(&m, 3394) && !mk_gidmap_has(&m, 3395));
    fp = fopen(gid_map, "a");
    assert_non_null(fp);
    fprintf(fp, "%10u %10u %10u\n", 5000000, 1, 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(mk_gidmap_read(gid_map, &m), -EINVAL);
    assert_true(m.all);
    assert_int_equal(mk_gidmap_read("/nonexistent/gid_map", &m), -ENOENT);
    assert_true(m.all);
    /* This process's own map reads (whatever namespace the tests run in). */
    assert_int_equal(mk_gidmap_read(NULL, &m), 0);
    unlink(gid_map);
}

static int has_gid(const gid_t *gids, long n, gid_t gid)
{
    for (long i = 0; i < n; i++)
        if (gids[i] == gid)
            return 1;
    return 0;
}

/* alice's groups from an array holding her primary and two local groups. */
static long alice_groups(gid_t **gids, enum nss_status want)
{
    long start = 3, size = 4;
    int err = 0;

    *gids = malloc(4 * sizeof(gid_t));
    assert_non_null(*gids);
    (*gids)[0] = 1000;
    (*gids)[1] = 27;
    (*gids)[2] = 100;
    assert_int_equal(mod_initgroups("alice", 1000, &start, &size, gids, 0, &err), want);
    assert_true(has_gid(*gids, start, 27) && has_gid(*gids, start, 100));
    return start;
}

/* A map of 0-65535 (a rootless container): the gids above it are left out,
 * the others given, the local ones before ours kept; getgrgid unchanged.
 * The map is read again a tick after the last read (write_text waits for
 * it): a map that covers all gives all back; no map file (no /proc)
 * filters nothing; an empty map gives none. */
static void test_initgroups_filters_unmappable(void **state)
{
    struct group gr;
    char buf[512];
    gid_t *gids;
    long n;
    int err = 0;

    write_text(gid_map, "         0     100000      65536\n");
    n = alice_groups(&gids, NSS_STATUS_SUCCESS);
    assert_int_equal(n, 5);
    assert_true(has_gid(gids, n, 50000) && has_gid(gids, n, 65535));
    assert_false(has_gid(gids, n, 2000200002) || has_gid(gids, n, 2000200004));
    free(gids);
    assert_int_equal(mod_getgrgid(2000200002, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_string_equal(gr.gr_name, "mk-high");

    write_text(gid_map, "0 100000 1000\n2000200004 5000 1\n");
    n = alice_groups(&gids, NSS_STATUS_SUCCESS);
    assert_int_equal(n, 4);
    assert_true(has_gid(gids, n, 2000200004));
    free(gids);

    write_text(gid_map, "         0          0 4294967295\n");
    n = alice_groups(&gids, NSS_STATUS_SUCCESS);
    assert_int_equal(n, 7);
    free(gids);

    assert_int_equal(unlink(gid_map), 0);
    tu_next_tick();
    n = alice_groups(&gids, NSS_STATUS_SUCCESS);
    assert_int_equal(n, 7);
    free(gids);

    write_text(gid_map, "");
    n = alice_groups(&gids, NSS_STATUS_NOTFOUND);
    assert_int_equal(n, 3);
    free(gids);
    unlink(gid_map);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gidmap_parse),
        cmocka_unit_test(test_gidmap_malformed),
        cmocka_unit_test(test_gidmap_read_many),
        cmocka_unit_test(test_initgroups_filters_unmappable),
    };
    const char *env = getenv("MKIO_NSS_SO");

    if (argc > 1)
        module_path = argv[1];
    else if (env && *env)
        module_path = env;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
