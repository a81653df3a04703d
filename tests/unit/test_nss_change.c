/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_nss_change.c: one long-lived process keeps looking up
 * while the mapped group file is changed under it in every way root can:
 * truncated in place, rewritten in place (longer, shorter, same size, any
 * byte), replaced by rename, deleted and recreated.
 *
 *   build/tests/test_nss_change [MODULE]   (default $MKIO_NSS_SO, then
 *                                           build/tests/libnss_mkio_test.so.2)
 *
 * Every answer must be a well-formed entry inside the caller's buffer, or
 * NOTFOUND, UNAVAIL or TRYAGAIN/ERANGE: never a crash (SIGBUS), never a byte
 * written past the buffer. Each buffer is its own allocation followed by
 * guard bytes, so an overflow fails this test on a plain build too, and ASan
 * (make check's second run) sees it at the first byte.
 *
 * The last test truncates the file concurrently with the lookups, as root's
 * `: > groups.db` and a restore with `cp` would, while a process enumerates
 * and looks up: the reader maps nothing that a truncation can take away
 * (groupfile/reader.h, CHANGED UNDER A READER), so no moment of it is out of
 * reach. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <nss.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "groupfile/writer.h"
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
static struct tu_tmpdir tmp;     /* the test's directory (testutil.h), on tmpfs */
static char path[PATH_MAX + 16];

#define GUARD 64
#define GUARD_BYTE 0xa5

static const char *const staff_members[] = {"alice", "bob"};
static const char *const media_members[] = {"bob", "carol", "alice"};
static const char *const long_members[] = {"a-rather-long-member-name-number-one",
                                           "another-rather-long-member-name", "alice"};
static const struct mk_group_entry sample[] = {
    {"mk-staff", 2000200002, staff_members, 2},
    {"mk-empty", 2000200003, NULL, 0},
    {"mk-media", 2000200004, media_members, 3},
};
static const struct mk_group_entry other[] = {
    {"mk-staff", 2000200002, long_members, 3},
    {"mk-other-group-with-a-longer-name", 2000200005, staff_members, 2},
};
#define SAMPLE_COUNT (sizeof(sample) / sizeof(sample[0]))
#define OTHER_COUNT (sizeof(other) / sizeof(other[0]))

static int group_setup(void **state)
{
    if (tu_tmpdir_make_tmpfs(&tmp, "test_nss_change") != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/groups.db", tmp.path);
    setenv("MKIO_GROUP_FILE", path, 1);
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
    return mod_getgrnam && mod_getgrgid && mod_setgrent && mod_getgrent && mod_endgrent &&
                   mod_initgroups
               ? 0
                                                                                          : -1;
}

static int group_teardown(void **state)
{
    if (module)
        dlclose(module);
    tu_tmpdir_remove(&tmp);
    return 0;
}

static unsigned char *image_of(const struct mk_group_entry *groups, size_t n, size_t *size)
{
    unsigned char *img = NULL;

    assert_int_equal(mk_groupfile_encode(groups, n, &img, size), 0);
    return img;
}

/* Writes bytes into the file at path in place: same inode, O_TRUNC. */
static void rewrite_in_place(const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_TRUNC);

    assert_true(fd >= 0);
    if (size)
        assert_int_equal(write(fd, data, size), (ssize_t)size);
    close(fd);
}

/* Whether s is a string that ends inside [lo, hi). */
static int inside(const char *s, const char *lo, const char *hi)
{
    if (!s || s < lo || s >= hi)
        return 0;
    return memchr(s, '\0', (size_t)(hi - s)) != NULL;
}

/* One lookup into a fresh allocation of len bytes with guards after it.
 * Returns the status; fails the test on an overflow or an answer that
 * points outside the buffer. */
static enum nss_status guarded_lookup(const char *name, gid_t gid, size_t len, int *err)
{
    unsigned char *mem = malloc(len + GUARD);
    struct group gr;
    enum nss_status s;

    assert_non_null(mem);
    memset(mem + len, GUARD_BYTE, GUARD);
    memset(&gr, 0, sizeof(gr));
    *err = 0;
    s = name ? mod_getgrnam(name, &gr, (char *)mem, len, err)
             : mod_getgrgid(gid, &gr, (char *)mem, len, err);
    for (size_t i = 0; i < GUARD; i++)
        if (mem[len + i] != GUARD_BYTE)
            fail_msg("a lookup wrote past the caller's %zu-byte buffer", len);
    if (s == NSS_STATUS_SUCCESS) {
        const char *lo = (const char *)mem, *hi = lo + len;
        size_t i = 0;
        assert_true(inside(gr.gr_name, lo, hi));
        assert_true(inside(gr.gr_passwd, lo, hi));
        assert_true((const char *)gr.gr_mem >= lo && (const char *)gr.gr_mem < hi);
        for (; (const char *)(gr.gr_mem + i) + sizeof(char *) <= hi && gr.gr_mem[i]; i++)
            assert_true(inside(gr.gr_mem[i], lo, hi));
        assert_true((const char *)(gr.gr_mem + i) + sizeof(char *) <= hi);
    } else if (s == NSS_STATUS_TRYAGAIN) {
        assert_int_equal(*err, ERANGE);
    } else {
        assert_true(s == NSS_STATUS_NOTFOUND || s == NSS_STATUS_UNAVAIL);
    }
    free(mem);
    return s;
}

/* Every kind of lookup, each at a few buffer sizes around what the entries
 * need, plus an enumeration and initgroups. */
static void look_up_everything(void)
{
    static const char *const names[] = {"mk-staff", "mk-empty", "mk-media",
                                        "mk-other-group-with-a-longer-name", "nope"};
    static const size_t sizes[] = {0, 1, 31, 47, 64, 80, 96, 128, 200, 4096};
    int err;

    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            guarded_lookup(names[n], 0, sizes[k], &err);
            guarded_lookup(NULL, 2000200002 + (gid_t)n, sizes[k], &err);
        }

    if (mod_setgrent(1) == NSS_STATUS_SUCCESS) {
        for (int i = 0; i < 8; i++) {
            char buf[256];
            struct group gr;
            enum nss_status s = mod_getgrent(&gr, buf, sizeof(buf), &err);
            if (s != NSS_STATUS_SUCCESS)
                break;
        }
    }

    long start = 0, size = 1;
    gid_t *gids = malloc(sizeof(gid_t));
    assert_non_null(gids);
    enum nss_status s = mod_initgroups("alice", 100, &start, &size, &gids, 0, &err);
    assert_true(s == NSS_STATUS_SUCCESS || s == NSS_STATUS_NOTFOUND || s == NSS_STATUS_UNAVAIL);
    assert_true(start >= 0 && start <= size);
    free(gids);
}

/* The answer for want's name, a tick of the coarse clock after the last
 * change (tu_next_tick): the module checks the file once per tick, and
 * answers from what it copied before inside the tick. */
static void expect_answer(const struct mk_group_entry *want)
{
    char buf[1024];
    struct group gr;
    int err = 0;
    size_t i;

    tu_next_tick();
    assert_int_equal(mod_getgrnam(want->name, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    assert_int_equal(gr.gr_gid, want->gid);
    for (i = 0; i < want->member_count; i++)
        assert_string_equal(gr.gr_mem[i], want->members[i]);
    assert_null(gr.gr_mem[i]);
}

/* The sequence of the issue: the file is mapped, then truncated or rewritten
 * in place, then looked up. */
static void test_truncate_then_look_up(void **state)
{
    size_t size, other_size;
    unsigned char *img = image_of(sample, SAMPLE_COUNT, &size);
    unsigned char *img2 = image_of(other, OTHER_COUNT, &other_size);
    int err = 0;

    assert_int_equal(mk_groupfile_write(path, sample, SAMPLE_COUNT), 0);
    expect_answer(&sample[0]);

    rewrite_in_place(NULL, 0); /* `: > groups.db` */
    tu_next_tick();
    assert_int_equal(guarded_lookup("mk-staff", 0, 1024, &err), NSS_STATUS_UNAVAIL);
    look_up_everything();

    rewrite_in_place(img, size); /* `cp backup groups.db` */
    expect_answer(&sample[2]);

    for (size_t len = size - 1; len > 0; len = len > 64 ? len - 7 : len - 1) {
        assert_int_equal(truncate(path, (off_t)len), 0);
        look_up_everything();
        rewrite_in_place(img, size);
        expect_answer(&sample[0]);
    }

    /* In place, longer then shorter: the new content answers. */
    rewrite_in_place(img2, other_size);
    expect_answer(&other[0]);
    expect_answer(&other[1]);
    rewrite_in_place(img, size);
    expect_answer(&sample[2]);
    assert_int_equal(guarded_lookup("mk-other-group-with-a-longer-name", 0, 1024, &err),
                     NSS_STATUS_NOTFOUND);
    free(img);
    free(img2);
}

/* Any byte of the mapped file changed in place, to any of a few values that
 * make strings longer (no NUL), counts and offsets huge, or zero: every
 * lookup stays inside its buffer. */
static void test_any_byte_changed_in_place(void **state)
{
    static const unsigned char values[] = {0x00, 'x', 0xff, 0x7f};
    size_t size;
    unsigned char *img = image_of(sample, SAMPLE_COUNT, &size);
    int fd;

    assert_int_equal(mk_groupfile_write(path, sample, SAMPLE_COUNT), 0);
    expect_answer(&sample[0]);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    for (size_t at = 0; at < size; at++) {
        for (size_t v = 0; v < sizeof(values); v++) {
            if (img[at] == values[v])
                continue;
            assert_int_equal(pwrite(fd, &values[v], 1, (off_t)at), 1);
            look_up_everything();
        }
        assert_int_equal(pwrite(fd, &img[at], 1, (off_t)at), 1);
    }
    /* Every member string longer than recorded at once: no NUL left after
     * the header. */
    for (size_t at = 96; at < size; at++)
        if (img[at] == 0)
            assert_int_equal(pwrite(fd, "x", 1, (off_t)at), 1);
    look_up_everything();
    close(fd);
    free(img);
}

enum change { CHANGE_REPLACE, CHANGE_DELETE, CHANGE_SCRIBBLE, CHANGE_RESTORE, CHANGE_TRUNCATE,
              CHANGE_REWRITE_OTHER, CHANGE_KINDS };

/* One change of the file at path (the changer process's side). Scribbling
 * writes random bytes in place without changing the size. */
static void apply_change(enum change c, unsigned *seed, const unsigned char *img, size_t size,
                         const unsigned char *img2, size_t size2)
{
    int fd;

    switch (c) {
    case CHANGE_REPLACE:
        if (rand_r(seed) % 2)
            (void)mk_groupfile_write(path, sample, SAMPLE_COUNT);
        else
            (void)mk_groupfile_write(path, other, OTHER_COUNT);
        break;
    case CHANGE_DELETE:
        (void)unlink(path);
        break;
    case CHANGE_SCRIBBLE:
        fd = open(path, O_WRONLY);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size > 0)
                for (int i = 0; i < 8; i++) {
                    unsigned char b = (unsigned char)rand_r(seed);
                    (void)!pwrite(fd, &b, 1, (off_t)(rand_r(seed) % (unsigned)st.st_size));
                }
            close(fd);
        }
        break;
    case CHANGE_RESTORE:
        fd = open(path, O_WRONLY);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && (size_t)st.st_size == size)
                (void)!pwrite(fd, img, size, 0);
            close(fd);
        }
        break;
    case CHANGE_TRUNCATE:
        (void)!truncate(path, (off_t)(rand_r(seed) % (unsigned)size));
        break;
    case CHANGE_REWRITE_OTHER:
        fd = open(path, O_WRONLY | O_TRUNC);
        if (fd >= 0) {
            if (rand_r(seed) % 2)
                (void)!write(fd, img, size);
            else
                (void)!write(fd, img2, size2);
            close(fd);
        }
        break;
    default:
        break;
    }
}

/* A changer process and this one: first every change that does not shrink
 * the file, concurrently with the lookups; then every change including
 * truncation, in lockstep (a pipe hands the turn over). */
static void test_changes_under_a_long_lived_process(void **state)
{
    size_t size, size2;
    unsigned char *img = image_of(sample, SAMPLE_COUNT, &size);
    unsigned char *img2 = image_of(other, OTHER_COUNT, &size2);
    int to_changer[2], to_reader[2];
    pid_t pid;
    int status;
    long rounds = 0;
    char token = 'x';

    assert_int_equal(mk_groupfile_write(path, sample, SAMPLE_COUNT), 0);
    expect_answer(&sample[0]);
    assert_int_equal(pipe(to_changer), 0);
    assert_int_equal(pipe(to_reader), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned seed = 1;
        int64_t t0;
        close(to_changer[1]);
        close(to_reader[0]);
        t0 = tu_now_ms();
        /* Concurrent part: 1.5 s of changes that never shrink the file in
         * place (a rename, an unlink, a scribble of the same size). */
        do {
            enum change c = (enum change)(rand_r(&seed) % (CHANGE_RESTORE + 1));
            if (c == CHANGE_DELETE && rand_r(&seed) % 4)
                c = CHANGE_REPLACE;
            apply_change(c, &seed, img, size, img2, size2);
            if (access(path, F_OK) != 0)
                (void)mk_groupfile_write(path, sample, SAMPLE_COUNT);
        } while (tu_now_ms() - t0 < 1500);
        (void)!write(to_reader[1], &token, 1);
        /* Lockstep part: every change, the reader looks up after each. */
        int done = 0;
        for (; done < 600; done++) {
            if (read(to_changer[0], &token, 1) != 1)
                break;
            apply_change((enum change)(rand_r(&seed) % CHANGE_KINDS), &seed, img, size, img2,
                         size2);
            if (rand_r(&seed) % 8 == 0)
                (void)mk_groupfile_write(path, sample, SAMPLE_COUNT);
            (void)!write(to_reader[1], &token, 1);
        }
        /* Freed, so that valgrind (which follows the fork) finds no leak in
         * the child; it exits 1 if the reader went away early. */
        free(img);
        free(img2);
        tu_child_exit(done == 600 ? 0 : 1);
    }
    close(to_changer[0]);
    close(to_reader[1]);
    /* Concurrent: look up until the changer says it is done. */
    for (;;) {
        struct timeval tv = {0, 0};
        fd_set r;
        look_up_everything();
        rounds++;
        FD_ZERO(&r);
        FD_SET(to_reader[0], &r);
        if (select(to_reader[0] + 1, &r, NULL, NULL, &tv) > 0)
            break;
    }
    assert_int_equal(read(to_reader[0], &token, 1), 1);
    for (int i = 0; i < 600; i++) {
        assert_int_equal(write(to_changer[1], &token, 1), 1);
        assert_int_equal(read(to_reader[0], &token, 1), 1);
        look_up_everything();
        rounds++;
    }
    status = tu_wait_ok(pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(to_changer[1]);
    close(to_reader[0]);
    fprintf(stderr, "%ld rounds of lookups while the file changed\n", rounds);

    /* And the writer's file answers again. */
    assert_int_equal(mk_groupfile_write(path, sample, SAMPLE_COUNT), 0);
    expect_answer(&sample[2]);
    free(img);
    free(img2);
}

/* The writer replaces a file of many pages right after a lookup, and every
 * group is looked up at once, inside the tick of the last check as far as
 * the clock allows: each answer is the group's gid in the old file (from
 * pages copied before) or in the new one (a lookup that needed a page the
 * old file no longer backs was refused once and retried after a check,
 * groupfile/reader.h), never another; once the new file answered, the old
 * one never again; a tick later, only the new one. */
#define PAGED_GROUPS 3000
static void test_replacement_inside_a_tick(void **state)
{
    struct mk_group_entry *groups = calloc(PAGED_GROUPS, sizeof(*groups));
    char (*names)[24] = calloc(PAGED_GROUPS, sizeof(*names));
    int seen_new = 0, old_answers = 0;
    char buf[256];
    struct group gr;
    int err;

    assert_true(groups && names);
    for (int i = 0; i < PAGED_GROUPS; i++) {
        snprintf(names[i], sizeof(names[i]), "mk-paged-%d", i);
        groups[i].name = names[i];
        groups[i].gid = 2000300000 + (gid_t)i;
    }
    assert_int_equal(mk_groupfile_write(path, groups, PAGED_GROUPS), 0);
    tu_next_tick();
    assert_int_equal(mod_getgrnam(names[0], &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
    for (int i = 0; i < PAGED_GROUPS; i++)
        groups[i].gid = 2000400000 + (gid_t)i;
    assert_int_equal(mk_groupfile_write(path, groups, PAGED_GROUPS), 0);
    for (int i = 0; i < PAGED_GROUPS; i++) {
        assert_int_equal(mod_getgrnam(names[i], &gr, buf, sizeof(buf), &err),
                         NSS_STATUS_SUCCESS);
        assert_string_equal(gr.gr_name, names[i]);
        if (gr.gr_gid == 2000400000 + (gid_t)i) {
            seen_new = 1;
            continue;
        }
        assert_int_equal(gr.gr_gid, 2000300000 + (gid_t)i);
        assert_false(seen_new);
        old_answers++;
    }
    fprintf(stderr, "%d of %d answers from the replaced file inside its tick\n", old_answers,
            PAGED_GROUPS);
    tu_next_tick();
    for (int i = 0; i < PAGED_GROUPS; i++) {
        assert_int_equal(mod_getgrgid(2000400000 + (gid_t)i, &gr, buf, sizeof(buf), &err),
                         NSS_STATUS_SUCCESS);
        assert_string_equal(gr.gr_name, names[i]);
    }
    free(groups);
    free(names);
}

/* A long-lived process (the child) runs setgrent/getgrent/endgrent and
 * getgrnam in a loop while this one truncates the file in place and writes
 * its bytes back (`: > groups.db`, then `cp` of a saved copy), concurrently,
 * TRUNCATE_ROUNDS times. The child must never die of a signal (SIGBUS was
 * what a shared mapping of the file gave, issue 20) and must see the
 * groups again at the end. */
#define TRUNCATE_ROUNDS 400
static void test_enumeration_survives_truncate_and_restore(void **state)
{
    static const char *const many[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
    struct mk_group_entry groups[64];
    char names[64][32];
    unsigned char *img;
    size_t size;
    int stop[2], status;
    pid_t pid;

    for (size_t i = 0; i < 64; i++) {
        snprintf(names[i], sizeof(names[i]), "mk-enum-%zu", i);
        groups[i].name = names[i];
        groups[i].gid = 2000201000 + (gid_t)i;
        groups[i].members = many;
        groups[i].member_count = 1 + i % 6;
    }
    img = image_of(groups, 64, &size);
    assert_int_equal(mk_groupfile_write(path, groups, 64), 0);
    expect_answer(&groups[5]);
    assert_int_equal(pipe(stop), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        long seen = 0;
        /* cmocka catches these to report a failed test; here they must kill
         * the child, as they would any program, for the parent to see. */
        signal(SIGBUS, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        close(stop[1]);
        assert_int_equal(fcntl(stop[0], F_SETFL, O_NONBLOCK), 0);
        for (unsigned long loop = 0;; loop++) {
            char buf[1024], c;
            struct group gr;
            int err;
            if (mod_setgrent(1) == NSS_STATUS_SUCCESS)
                while (mod_getgrent(&gr, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS)
                    seen++;
            (void)mod_endgrent();
            for (int i = 0; i < 8; i++)
                if (mod_getgrnam(names[(seen + i) % 64], &gr, buf, sizeof(buf), &err) ==
                    NSS_STATUS_SUCCESS)
                    seen++;
            if (loop % 16 == 0 && read(stop[0], &c, 1) == 0)
                break;
        }
        free(img);
        tu_child_exit(seen > 0 ? 0 : 1);
    }
    close(stop[0]);
    usleep(20000);
    for (int round = 0; round < TRUNCATE_ROUNDS; round++) {
        rewrite_in_place(NULL, 0); /* `: > groups.db` */
        usleep(200);
        rewrite_in_place(img, size); /* `cp saved groups.db` */
        usleep(1000);
    }
    close(stop[1]);
    status = tu_wait_ok(pid);
    if (WIFSIGNALED(status))
        fail_msg("the enumerating process died of signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    expect_answer(&groups[63]);
    free(img);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncate_then_look_up),
        cmocka_unit_test(test_replacement_inside_a_tick),
        cmocka_unit_test(test_any_byte_changed_in_place),
        cmocka_unit_test(test_changes_under_a_long_lived_process),
        cmocka_unit_test(test_enumeration_survives_truncate_and_restore),
    };
    const char *env = getenv("MKIO_NSS_SO");

    if (argc > 1)
        module_path = argv[1];
    else if (env && *env)
        module_path = env;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
