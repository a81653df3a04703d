/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_nss.c: the NSS module's test build, loaded with dlopen and
 * called the way glibc calls it.
 *
 *   build/tests/test_nss [MODULE]
 * MODULE defaults to $MKIO_NSS_SO, then build/tests/libnss_mkio_test.so.2.
 *
 * The test build is the shipped module's code, except that it takes its file
 * from MKIO_GROUP_FILE (the shipped one reads no environment and always maps
 * /var/lib/mkio/groups.db). This test sets it once, before the first call,
 * and changes the file behind it the way the writer does: a new file renamed
 * over the path, then the recycled flag set in the old one. The module sees
 * that on its first call a tick of the coarse clock later (the helpers that
 * change a file wait for it, tu_next_tick). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <nss.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "groupfile/writer.h"
#include "groupfile/reader.h"
#include "testutil.h"

typedef enum nss_status (*getgrnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*getgrgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*setgrent_fn)(int);
typedef enum nss_status (*getgrent_fn)(struct group *, char *, size_t, int *);
typedef enum nss_status (*endgrent_fn)(void);
typedef enum nss_status (*initgroups_fn)(const char *, gid_t, long *, long *, gid_t **, long,
                                         int *);

static const char *module_path = "build/tests/libnss_mkio_test.so.2";
static void *module;
static getgrnam_fn mod_getgrnam;
static getgrgid_fn mod_getgrgid;
static setgrent_fn mod_setgrent;
static getgrent_fn mod_getgrent;
static endgrent_fn mod_endgrent;
static initgroups_fn mod_initgroups;
static struct tu_tmpdir run_dir;     /* the run's directory (testutil.h) */
static const char *dir;
static char path[128];
static char etc_group[128];

static const char *const staff_members[] = {"alice", "bob"};
static const char *const media_members[] = {"bob", "carol", "alice"};
static const struct mk_group_entry sample[] = {
    {"mk-staff", 2000200002, staff_members, 2},
    {"mk-empty", 2000200003, NULL, 0},
    {"mk-media", 2000200004, media_members, 3},
    {"mk-primary", 2000200005, staff_members, 1},
};
#define SAMPLE_COUNT (sizeof(sample) / sizeof(sample[0]))

static int group_setup(void **state)
{
    if (tu_tmpdir_make(&run_dir, "test_nss") != 0)
        return -1;
    dir = run_dir.path;
    if ((size_t)snprintf(path, sizeof(path), "%s/groups.db", dir) >= sizeof(path))
        return -1;
    setenv("MKIO_GROUP_FILE", path, 1);
    /* The module's test build reads this as /etc/group on the initgroups
     * path (tests/nss/group_file_env.c); missing, it takes no gid. */
    snprintf(etc_group, sizeof(etc_group), "%s/etc-group", dir);
    setenv("MKIO_ETC_GROUP", etc_group, 1);
    module = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!module) {
        fprintf(stderr, "cannot load %s: %s\n", module_path, dlerror());
        return -1;
    }
    mod_getgrnam = (getgrnam_fn)dlsym(module, "_nss_mkio_getgrnam_r");
    mod_getgrgid = (getgrgid_fn)dlsym(module, "_nss_mkio_getgrgid_r");
    mod_setgrent = (setgrent_fn)dlsym(module, "_nss_mkio_setgrent");
    mod_getgrent = (getgrent_fn)dlsym(module, "_nss_mkio_getgrent_r");
    mod_endgrent = (endgrent_fn)dlsym(module, "_nss_mkio_endgrent");
    mod_initgroups = (initgroups_fn)dlsym(module, "_nss_mkio_initgroups_dyn");
    if (!mod_getgrnam || !mod_getgrgid || !mod_setgrent || !mod_getgrent || !mod_endgrent ||
        !mod_initgroups)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    if (module)
        dlclose(module);
    tu_tmpdir_remove(&run_dir);
    return 0;
}

/* Replaces the file as the writer does, with any bytes (NULL: removes it).
 * Every helper that changes a file returns a tick of the coarse clock later
 * (tu_next_tick): the module checks its files once per tick, and these
 * tests expect the next lookup to see the change. */
static void replace_file(const void *data, size_t size)
{
    char tmp[160];
    int old = open(path, O_RDWR);

    if (data) {
        FILE *fp;
        snprintf(tmp, sizeof(tmp), "%s/next", dir);
        fp = fopen(tmp, "wb");
        assert_non_null(fp);
        if (size)
            assert_int_equal(fwrite(data, 1, size, fp), size);
        assert_int_equal(fclose(fp), 0);
        assert_int_equal(rename(tmp, path), 0);
    } else if (old >= 0) {
        assert_int_equal(unlink(path), 0);
    }
    if (old >= 0) {
        uint32_t flags = htole32(MKGF_FLAG_RECYCLED);
        struct stat st;
        assert_int_equal(fstat(old, &st), 0);
        if (st.st_size >= 16)
            assert_int_equal(pwrite(old, &flags, 4, MKGF_FLAGS_OFFSET), 4);
        close(old);
    }
    tu_next_tick();
}

/* Moves the file at path to a new inode with the same owner, mode and
 * content, and marks the old one recycled, as a replacement by other means
 * than the writer would. */
static void replace_file_keep(void)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s/copy", dir);
    assert_int_equal(link(path, tmp), 0);
    assert_int_equal(unlink(path), 0);
    int in = open(tmp, O_RDONLY);
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(in >= 0 && out >= 0);
    struct stat st;
    assert_int_equal(fstat(in, &st), 0);
    char buf[8192];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(fchown(out, st.st_uid, st.st_gid), 0);
    assert_int_equal(fchmod(out, st.st_mode & 07777), 0);
    close(out);
    uint32_t flags = htole32(MKGF_FLAG_RECYCLED);
    int old = open(tmp, O_RDWR);
    assert_true(old >= 0);
    assert_int_equal(pwrite(old, &flags, 4, MKGF_FLAGS_OFFSET), 4);
    close(old);
    close(in);
    assert_int_equal(unlink(tmp), 0);
    tu_next_tick();
}

static void write_groups(const struct mk_group_entry *groups, size_t n)
{
    assert_int_equal(mk_groupfile_write(path, groups, n), 0);
    tu_next_tick();
}

static unsigned char *image_of(const struct mk_group_entry *groups, size_t n, size_t *size)
{
    char other[160];
    FILE *fp;
    unsigned char *buf;
    long len;

    snprintf(other, sizeof(other), "%s/image", dir);
    assert_int_equal(mk_groupfile_write(other, groups, n), 0);
    fp = fopen(other, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    rewind(fp);
    buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    unlink(other);
    *size = (size_t)len;
    return buf;
}

static void expect_entry(const struct group *gr, const struct mk_group_entry *want)
{
    size_t i;

    assert_string_equal(gr->gr_name, want->name);
    assert_int_equal(gr->gr_gid, want->gid);
    assert_string_equal(gr->gr_passwd, "*");
    assert_non_null(gr->gr_mem);
    assert_int_equal((uintptr_t)gr->gr_mem % sizeof(char *), 0);
    for (i = 0; i < want->member_count; i++) {
        assert_non_null(gr->gr_mem[i]);
        assert_string_equal(gr->gr_mem[i], want->members[i]);
    }
    assert_null(gr->gr_mem[i]);
}

/* Calls getgrnam_r (name) or getgrgid_r with every buffer size from 0 up:
 * TRYAGAIN/ERANGE until it fits, then the exact entry at every larger size.
 * Each buffer is its own allocation so a write past it is caught by ASan or
 * valgrind; misaligned buffers too. */
static void check_all_sizes(const char *name, const struct mk_group_entry *want)
{
    size_t fit = 0;

    for (size_t len = 0; len < 512; len++) {
        for (size_t skew = 0; skew < 2; skew++) {
            char *mem = malloc(len + skew + 1);
            struct group gr;
            int err = 0;
            enum nss_status s;

            assert_non_null(mem);
            memset(&gr, 0, sizeof(gr));
            s = name ? mod_getgrnam(name, &gr, mem + skew, len, &err)
                     : mod_getgrgid(want->gid, &gr, mem + skew, len, &err);
            if (s == NSS_STATUS_TRYAGAIN) {
                assert_int_equal(err, ERANGE);
                assert_int_equal(fit, 0); /* once it fits, a bigger buffer fits too */
            } else {
                assert_int_equal(s, NSS_STATUS_SUCCESS);
                expect_entry(&gr, want);
                assert_true((char *)gr.gr_mem >= mem + skew);
                assert_true(gr.gr_name >= mem + skew && gr.gr_name < mem + skew + len);
                if (!fit && skew == 1)
                    fit = len;
            }
            free(mem);
        }
    }
    assert_true(fit > 0);
}

static void test_getgr_buffer_sizes(void **state)
{
    write_groups(sample, SAMPLE_COUNT);
    for (size_t i = 0; i < SAMPLE_COUNT; i++) {
        check_all_sizes(sample[i].name, &sample[i]);
        check_all_sizes(NULL, &sample[i]);
    }
}

static void test_not_found(void **state)
{
    struct group gr;
    char buf[1024];
    int err = 0;

    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(mod_getgrnam("root", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
    assert_int_equal(err, ENOENT);
    err = 0;
    assert_int_equal(mod_getgrnam("", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
    assert_int_equal(err, ENOENT);
    err = 0;
    assert_int_equal(mod_getgrgid(0, &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
    assert_int_equal(err, ENOENT);
    err = 0;
    assert_int_equal(mod_getgrgid(2000200006, &gr, buf, sizeof(buf), &err),
                     NSS_STATUS_NOTFOUND);
    assert_int_equal(err, ENOENT);
}

static void test_errno_kept_on_success(void **state)
{
    struct group gr;
    char buf[1024];
    int err = 0;
    long start = 0, size = 4;
    gid_t *gids = calloc(4, sizeof(gid_t));

    assert_non_null(gids);
    write_groups(sample, SAMPLE_COUNT);
    errno = 4242;
    assert_int_equal(mod_getgrnam("mk-staff", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(errno, 4242);
    assert_int_equal(mod_getgrgid(2000200004, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(errno, 4242);
    assert_int_equal(mod_setgrent(1), NSS_STATUS_SUCCESS);
    assert_int_equal(mod_getgrent(&gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(mod_endgrent(), NSS_STATUS_SUCCESS);
    assert_int_equal(errno, 4242);
    assert_int_equal(mod_initgroups("alice", 100, &start, &size, &gids, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(errno, 4242);
    /* Even with a replacement to notice first. */
    write_groups(sample, 2);
    errno = 4343;
    assert_int_equal(mod_getgrnam("mk-empty", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(errno, 4343);
    free(gids);
}

/* Dumps every entry through getgrent_r, starting with a 1-byte buffer and
 * doubling on TRYAGAIN, as libnss-cache's tests do. */
static void enumerate_and_check(const struct mk_group_entry *groups, size_t n)
{
    size_t bufsize = 1, seen = 0;
    char *seen_flags = calloc(n + 1, 1);
    char *buf = malloc(bufsize);
    char *check = malloc(1 << 20);
    int err;
    enum nss_status s;

    assert_non_null(seen_flags);
    assert_non_null(check);
    assert_int_equal(mod_setgrent(0), NSS_STATUS_SUCCESS);
    for (;;) {
        struct group gr, by_name, by_gid;
        size_t i;

        memset(&gr, 0, sizeof(gr));
        err = 0;
        s = mod_getgrent(&gr, buf, bufsize, &err);
        if (s == NSS_STATUS_TRYAGAIN) {
            assert_int_equal(err, ERANGE);
            bufsize *= 2;
            free(buf);
            buf = malloc(bufsize);
            assert_non_null(buf);
            continue;
        }
        if (s == NSS_STATUS_NOTFOUND) {
            assert_int_equal(err, ENOENT);
            break;
        }
        assert_int_equal(s, NSS_STATUS_SUCCESS);
        /* In the writer's order, so the retry after ERANGE gave the same
         * entry and nothing was skipped. */
        i = seen;
        assert_true(i < n);
        expect_entry(&gr, &groups[i]);
        assert_false(seen_flags[i]);
        seen_flags[i] = 1;
        seen++;

        assert_int_equal(mod_getgrnam(gr.gr_name, &by_name, check, 1 << 20, &err),
                         NSS_STATUS_SUCCESS);
        expect_entry(&by_name, &groups[i]);
        assert_int_equal(mod_getgrgid(gr.gr_gid, &by_gid, check, 1 << 20, &err),
                         NSS_STATUS_SUCCESS);
        expect_entry(&by_gid, &groups[i]);
        /* Shrink again so the next entry goes through ERANGE too. */
        bufsize = 1;
        free(buf);
        buf = malloc(bufsize);
        assert_non_null(buf);
    }
    assert_int_equal(seen, n);
    /* Stays at the end until setgrent. */
    assert_int_equal(mod_getgrent(&(struct group){0}, check, 1 << 20, &err), NSS_STATUS_NOTFOUND);
    assert_int_equal(mod_endgrent(), NSS_STATUS_SUCCESS);
    free(seen_flags);
    free(buf);
    free(check);
}

static void test_enumeration(void **state)
{
    enum { N = 300 };
    struct mk_group_entry groups[N];
    char names[N][32];
    const char *const members[] = {"alice", "bob", "carol", "dave"};

    write_groups(sample, SAMPLE_COUNT);
    enumerate_and_check(sample, SAMPLE_COUNT);

    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "mk-many-%d", i);
        groups[i].name = names[i];
        groups[i].gid = 2000201001u + (gid_t)i;
        groups[i].members = members;
        groups[i].member_count = (size_t)(i % 5);
    }
    write_groups(groups, N);
    enumerate_and_check(groups, N);

    write_groups(NULL, 0);
    enumerate_and_check(NULL, 0);
}

static int has_gid(const gid_t *gids, long n, gid_t gid)
{
    for (long i = 0; i < n; i++)
        if (gids[i] == gid)
            return 1;
    return 0;
}

static void test_initgroups(void **state)
{
    long start, size;
    gid_t *gids;
    int err = 0;

    write_groups(sample, SAMPLE_COUNT);

    /* alice: staff, media, primary; growing from a one-slot array that
     * already holds her primary group. */
    start = 1;
    size = 1;
    gids = malloc(sizeof(gid_t));
    assert_non_null(gids);
    gids[0] = 100;
    assert_int_equal(mod_initgroups("alice", 100, &start, &size, &gids, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 4);
    assert_true(size >= 4);
    assert_int_equal(gids[0], 100);
    assert_true(has_gid(gids, start, 2000200002));
    assert_true(has_gid(gids, start, 2000200004));
    assert_true(has_gid(gids, start, 2000200005));
    free(gids);

    /* The primary group (`group`) is skipped, and so is a gid already
     * present from another service. */
    start = 1;
    size = 2;
    gids = malloc(2 * sizeof(gid_t));
    assert_non_null(gids);
    gids[0] = 2000200004;
    assert_int_equal(mod_initgroups("alice", 2000200002, &start, &size, &gids, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 2);
    assert_int_equal(gids[0], 2000200004);
    assert_int_equal(gids[1], 2000200005);
    free(gids);

    /* The limit stops it (bob is in three groups). */
    start = 1;
    size = 1;
    gids = malloc(sizeof(gid_t));
    assert_non_null(gids);
    gids[0] = 100;
    assert_int_equal(mod_initgroups("bob", 100, &start, &size, &gids, 2, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 2);
    assert_int_equal(size, 2);
    assert_int_equal(gids[1], 2000200002);
    /* Already full at the limit: nothing more, no growth. */
    assert_true(mod_initgroups("bob", 100, &start, &size, &gids, 2, &err) !=
                NSS_STATUS_UNAVAIL);
    assert_int_equal(start, 2);
    assert_int_equal(size, 2);
    free(gids);

    /* Room already there: no realloc needed, the array pointer may stay. */
    start = 0;
    size = 16;
    gids = calloc(16, sizeof(gid_t));
    assert_non_null(gids);
    assert_int_equal(mod_initgroups("carol", 100, &start, &size, &gids, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 1);
    assert_int_equal(size, 16);
    assert_int_equal(gids[0], 2000200004);

    /* A user in no group: nothing added, not an error. */
    start = 0;
    assert_int_equal(mod_initgroups("nobody-here", 100, &start, &size, &gids, 0, &err),
                     NSS_STATUS_NOTFOUND);
    assert_int_equal(start, 0);
    /* carol's only group as her primary: nothing added. */
    assert_int_equal(mod_initgroups("carol", 2000200004, &start, &size, &gids, 0, &err),
                     NSS_STATUS_NOTFOUND);
    assert_int_equal(start, 0);
    free(gids);
}

static void write_etc_group(const char *text)
{
    FILE *fp = fopen(etc_group, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    tu_next_tick();
}

/* A group that /etc/group gives one of our gids at the time of the call
 * (`groupadd -g GID secretproj` after the store's last write) is never
 * handed out by initgroups: the members of the organization would be in
 * secretproj (issue 20, item 4). The same name at the same gid is ours
 * (kept); the file is checked again a tick after the last check, so the gid
 * comes back once the line is gone; getgrgid, not on the initgroups path, still answers. */
static void test_initgroups_skips_a_gid_etc_group_gives_another_group(void **state)
{
    long start = 0, size = 0;
    gid_t *gids = NULL;
    struct group gr;
    char buf[1024];
    int err = 0;

    write_groups(sample, SAMPLE_COUNT);
    write_etc_group("root:x:0:\n"
                    "# a comment:x:2000200005:\n"
                    "secretproj:x:2000200004:\n"
                    "mk-staff:x:2000200002:alice\n"
                    "users:x:100:\n");
    assert_int_equal(mod_initgroups("alice", 100, &start, &size, &gids, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 2);
    assert_true(has_gid(gids, start, 2000200002));
    assert_false(has_gid(gids, start, 2000200004));
    assert_true(has_gid(gids, start, 2000200005));
    /* carol's only group is taken: nothing added. */
    start = 0;
    assert_int_equal(mod_initgroups("carol", 100, &start, &size, &gids, 0, &err),
                     NSS_STATUS_NOTFOUND);
    assert_int_equal(start, 0);
    assert_int_equal(mod_getgrgid(2000200004, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_string_equal(gr.gr_name, "mk-media");

    /* Gone from /etc/group: handed out again at the next call. */
    write_etc_group("root:x:0:\nsecretproj:x:3000:\n");
    start = 0;
    assert_int_equal(mod_initgroups("carol", 100, &start, &size, &gids, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 1);
    assert_int_equal(gids[0], 2000200004);
    free(gids);
    assert_int_equal(unlink(etc_group), 0);
}

/* A user in 3,000 groups, from an empty array. */
static void test_initgroups_many(void **state)
{
    enum { N = 3000 };
    struct mk_group_entry *groups = calloc(N, sizeof(*groups));
    char (*names)[32] = calloc(N, sizeof(*names));
    const char *const members[] = {"zed"};
    long start = 0, size = 0;
    gid_t *gids = NULL;
    int err = 0;

    assert_non_null(groups);
    assert_non_null(names);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "mk-z-%d", i);
        groups[i].name = names[i];
        groups[i].gid = 2000202001u + (gid_t)i;
        groups[i].members = members;
        groups[i].member_count = 1;
    }
    write_groups(groups, N);
    assert_int_equal(mod_initgroups("zed", 5, &start, &size, &gids, 0, &err), NSS_STATUS_SUCCESS);
    assert_int_equal(start, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(gids[i], 2000202001u + (gid_t)i);
    free(gids);

    start = 0;
    size = 0;
    gids = NULL;
    assert_int_equal(mod_initgroups("zed", 5, &start, &size, &gids, 100, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, 100);
    assert_true(size <= 100);
    free(gids);
    free(groups);
    free(names);
}

/* A user in 100,000 groups, with a few gids from other services already in
 * the array (among them one of ours): every group once, the primary and the
 * one already there skipped. A regression check for the quadratic
 * duplicate search: it used to take seconds (no timing asserted here; `make
 * bench` prints the time of getgrouplist). */
static void test_initgroups_100000(void **state)
{
    enum { N = 100000, BEFORE = 40 };
    struct mk_group_entry *groups = calloc(N, sizeof(*groups));
    char (*names)[24] = calloc(N, sizeof(*names));
    const char *const members[] = {"many"};
    long start = BEFORE, size = BEFORE;
    gid_t *gids = calloc(BEFORE, sizeof(gid_t));
    char *seen = calloc(N, 1);
    int err = 0;

    assert_non_null(groups);
    assert_non_null(names);
    assert_non_null(gids);
    assert_non_null(seen);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "mk-n-%d", i);
        groups[i].name = names[i];
        groups[i].gid = 2000300001u + (gid_t)i;
        groups[i].members = members;
        groups[i].member_count = 1;
    }
    for (int i = 0; i < BEFORE; i++)
        gids[i] = 5000 + (gid_t)i;
    gids[BEFORE - 1] = 2000300001u + 777; /* ours, from another service */
    write_groups(groups, N);
    assert_int_equal(mod_initgroups("many", 2000300001u + 5, &start, &size, &gids, 0, &err),
                     NSS_STATUS_SUCCESS);
    assert_int_equal(start, BEFORE + N - 2);
    assert_true(size >= start);
    for (long i = BEFORE; i < start; i++) {
        gid_t k = gids[i] - 2000300001u;
        assert_true(k < N && k != 5 && k != 777);
        assert_false(seen[k]);
        seen[k] = 1;
    }
    free(gids);
    free(seen);
    free(groups);
    free(names);
}

/* Every entry point answers UNAVAIL with *errnop naming the cause (ENOENT:
 * no file; EPERM, ELOOP: a file refused before reading; EBADMSG,
 * EPROTONOSUPPORT: refused content), and nothing else changes. */
static void expect_unavailable(int cause)
{
    struct group gr;
    char buf[1024];
    int err;
    long start = 1, size = 1;
    gid_t *gids = malloc(sizeof(gid_t));

    assert_non_null(gids);
    gids[0] = 100;
    for (int round = 0; round < 2; round++) {
        err = 0;
        errno = 0;
        assert_int_equal(mod_getgrnam("mk-staff", &gr, buf, sizeof(buf), &err),
                         NSS_STATUS_UNAVAIL);
        assert_int_equal(err, cause);
        err = 0;
        assert_int_equal(mod_getgrgid(2000200002, &gr, buf, sizeof(buf), &err),
                         NSS_STATUS_UNAVAIL);
        assert_int_equal(err, cause);
        assert_int_equal(mod_setgrent(0), NSS_STATUS_UNAVAIL);
        err = 0;
        assert_int_equal(mod_getgrent(&gr, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
        assert_int_equal(err, cause);
        assert_int_equal(mod_endgrent(), NSS_STATUS_SUCCESS);
        err = 0;
        assert_int_equal(mod_initgroups("alice", 100, &start, &size, &gids, 0, &err),
                         NSS_STATUS_UNAVAIL);
        assert_int_equal(err, cause);
        assert_int_equal(start, 1);
        assert_int_equal(size, 1);
        assert_int_equal(gids[0], 100);
    }
    free(gids);
}

static void test_bad_files_unavailable(void **state)
{
    size_t size;
    unsigned char *img = image_of(sample, SAMPLE_COUNT, &size);
    struct group gr;
    char buf[1024];
    int err = 0;

    replace_file(NULL, 0); /* missing */
    expect_unavailable(ENOENT);

    replace_file("", 0); /* empty */
    expect_unavailable(EBADMSG);

    for (size_t len = 1; len < size; len += (len < 128 ? 1 : 37)) {
        replace_file(img, len); /* truncated */
        expect_unavailable(EBADMSG);
    }

    /* The open reads the header only (O(1)): a wrong size or section bound
     * there is refused at once; bytes after it are checked where used. */
    img[24] ^= 0x01; /* total size */
    replace_file(img, size);
    expect_unavailable(EBADMSG);
    img[24] ^= 0x01;
    img[64 + 4 * 7] ^= 0x40; /* the strings' offset */
    replace_file(img, size);
    expect_unavailable(EBADMSG);
    img[64 + 4 * 7] ^= 0x40;

    img[8] = 1; /* an old version */
    replace_file(img, size);
    expect_unavailable(EPROTONOSUPPORT);
    img[8] = 9; /* a newer one */
    replace_file(img, size);
    expect_unavailable(EPROTONOSUPPORT);
    img[8] = MKGF_VERSION;

    memset(img, 'x', 8); /* wrong magic */
    replace_file(img, size);
    expect_unavailable(EBADMSG);

    /* A good file again: answered at once. */
    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(mod_getgrnam("mk-media", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    expect_entry(&gr, &sample[2]);
    free(img);
}

/* A record that fails its check at use answers UNAVAIL with EBADMSG for that
 * lookup; the rest of the file still answers. */
static void test_bad_record_unavailable(void **state)
{
    size_t size;
    unsigned char *img = image_of(sample, SAMPLE_COUNT, &size);
    struct group gr;
    char buf[1024];
    int err = 0;
    uint32_t groups_off, bad = htole32(0xfffffff0u);

    memcpy(&groups_off, img + 64, 4);
    groups_off = le32toh(groups_off);
    /* mk-media's (the third group's) member run offset, far out of bounds. */
    memcpy(img + groups_off + 2 * MKGF_GROUP_RECORD + 12, &bad, 4);
    replace_file(img, size);
    assert_int_equal(mod_getgrnam("mk-media", &gr, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
    assert_int_equal(err, EBADMSG);
    err = 0;
    assert_int_equal(mod_getgrgid(2000200004, &gr, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
    assert_int_equal(err, EBADMSG);
    assert_int_equal(mod_getgrnam("mk-staff", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    expect_entry(&gr, &sample[0]);
    free(img);
}

/* The SIGALRM handler of test_unsafe_files_unavailable: a lookup that
 * blocks (an open of a FIFO without O_NONBLOCK waits for a writer) fails the
 * run instead of hanging it. It ends the process rather than return, so an
 * interrupted open cannot turn into an UNAVAIL that passes. */
static void lookup_hung(int sig)
{
    static const char msg[] = "test_nss: a lookup blocked on the group file for 20 s\n";

    (void)sig;
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(3);
}

/* Only a regular file that root owns and only root may write becomes groups.
 * Anything else at the path answers UNAVAIL at once, before a byte of it is
 * read: a FIFO, a symlink (even to a good file), a directory, a device, a
 * file of another owner, a group- or other-writable file. */
static void test_unsafe_files_unavailable(void **state)
{
    struct sigaction on_alarm = {.sa_handler = lookup_hung}, saved;
    char good[160];
    struct group gr;
    char buf[1024];
    int err = 0;

    snprintf(good, sizeof(good), "%s/good.db", dir);
    assert_int_equal(mk_groupfile_write(good, sample, SAMPLE_COUNT), 0);
    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(mod_getgrnam("mk-media", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(sigaction(SIGALRM, &on_alarm, &saved), 0);
    alarm(20);

    replace_file(NULL, 0); /* the mapped file is recycled: the next call opens */
    assert_int_equal(mkfifo(path, 0644), 0);
    expect_unavailable(EPERM);
    assert_int_equal(unlink(path), 0);

    assert_int_equal(symlink(good, path), 0);
    expect_unavailable(ELOOP);
    assert_int_equal(unlink(path), 0);

    assert_int_equal(mkdir(path, 0755), 0);
    expect_unavailable(EPERM);
    assert_int_equal(rmdir(path), 0);

    if (mknod(path, S_IFCHR | 0644, makedev(1, 3)) == 0) { /* /dev/null's */
        expect_unavailable(EPERM);
        assert_int_equal(unlink(path), 0);
    }

    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(chown(path, 65534, 65534), 0);
    expect_unavailable(EPERM);
    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(chmod(path, 0664), 0);
    expect_unavailable(EPERM);
    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(chmod(path, 0646), 0);
    expect_unavailable(EPERM);

    /* Refused while mapped, too: the same file changed owner or mode in
     * place, then replaced by another inode with the same content. */
    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(mod_getgrnam("mk-media", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(chown(path, 65534, 65534), 0);
    replace_file_keep();
    expect_unavailable(EPERM);

    alarm(0);
    assert_int_equal(sigaction(SIGALRM, &saved, NULL), 0);

    /* A good file again: answered at once. */
    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(mod_getgrnam("mk-media", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    expect_entry(&gr, &sample[2]);
    assert_int_equal(unlink(good), 0);
}

static void test_replacement_noticed(void **state)
{
    const char *const new_members[] = {"erin"};
    const struct mk_group_entry renamed[] = {
        {"mk-staff", 2000200002, new_members, 1},
        {"mk-new", 2000200010, NULL, 0},
    };
    struct group gr;
    char buf[1024];
    int err = 0;

    write_groups(sample, SAMPLE_COUNT);
    assert_int_equal(mod_getgrnam("mk-staff", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    expect_entry(&gr, &sample[0]);
    assert_int_equal(mod_getgrnam("mk-new", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);

    write_groups(renamed, 2);
    assert_int_equal(mod_getgrnam("mk-staff", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    expect_entry(&gr, &renamed[0]);
    assert_int_equal(mod_getgrgid(2000200010, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    expect_entry(&gr, &renamed[1]);
    assert_int_equal(mod_getgrnam("mk-media", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
}

static void test_big_group(void **state)
{
    enum { BIG = 10000 };
    char (*users)[24] = calloc(BIG, sizeof(*users));
    const char **members = calloc(BIG, sizeof(*members));
    struct mk_group_entry g = {"mk-big", 2000205001, NULL, BIG};
    size_t bufsize = 64;
    char *buf = NULL;
    struct group gr;
    int err = 0;
    enum nss_status s;

    assert_non_null(users);
    assert_non_null(members);
    for (int i = 0; i < BIG; i++) {
        snprintf(users[i], sizeof(users[i]), "member-%d", i);
        members[i] = users[i];
    }
    g.members = members;
    write_groups(&g, 1);
    do {
        free(buf);
        buf = malloc(bufsize);
        assert_non_null(buf);
        s = mod_getgrgid(g.gid, &gr, buf, bufsize, &err);
        bufsize *= 2;
    } while (s == NSS_STATUS_TRYAGAIN && err == ERANGE);
    assert_int_equal(s, NSS_STATUS_SUCCESS);
    expect_entry(&gr, &g);
    free(buf);
    free(users);
    free(members);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_files_unavailable),
        cmocka_unit_test(test_unsafe_files_unavailable),
        cmocka_unit_test(test_getgr_buffer_sizes),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_errno_kept_on_success),
        cmocka_unit_test(test_enumeration),
        cmocka_unit_test(test_initgroups),
        cmocka_unit_test(test_initgroups_skips_a_gid_etc_group_gives_another_group),
        cmocka_unit_test(test_initgroups_many),
        cmocka_unit_test(test_initgroups_100000),
        cmocka_unit_test(test_bad_record_unavailable),
        cmocka_unit_test(test_replacement_noticed),
        cmocka_unit_test(test_big_group),
        cmocka_unit_test(test_bad_files_unavailable),
    };
    const char *env = getenv("MKIO_NSS_SO");

    if (argc > 1)
        module_path = argv[1];
    else if (env && *env)
        module_path = env;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
