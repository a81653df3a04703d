/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_groupfile.c: the compiled group file, writer and reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "groupfile/writer.h"
#include "groupfile/reader.h"
#include "testutil.h"

/* Each test's directory (testutil.h) and groups.db in it. */
struct fixture {
    struct tu_tmpdir tmp;
    const char *dir;
    char path[PATH_MAX + 16];
};

static int setup(void **state)
{
    struct fixture *f = tu_fixture_new(sizeof(*f));

    if (!f)
        return -1;
    f->dir = f->tmp.path;
    snprintf(f->path, sizeof(f->path), "%s/groups.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    return tu_fixture_free(*state);
}

static unsigned char *read_whole(const char *path, size_t *size)
{
    return (unsigned char *)tu_read_file_ok(AT_FDCWD, path, size);
}

static void write_bytes(const char *path, const void *data, size_t size)
{
    tu_write_file_ok(AT_FDCWD, path, data, size, 0644);
}

static void fix_checksum(unsigned char *img, size_t size)
{
    uint64_t c = htole64(mkgf_checksum(img + MKGF_CHECKSUMMED_FROM, size - MKGF_CHECKSUMMED_FROM));
    memcpy(img + MKGF_CHECKSUM_OFFSET, &c, 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

/* A small sample: three groups, one without members, users in several. */
static const char *const staff_members[] = {"alice", "bob"};
static const char *const media_members[] = {"bob", "carol", "alice"};
static const struct mk_group_entry sample[] = {
    {"mk-staff", 2000200002, staff_members, 2},
    {"mk-empty", 2000200003, NULL, 0},
    {"mk-media", 2000200004, media_members, 3},
};

static void expect_group(const struct mkgf_view *v, const struct mkgf_group *g,
                         const struct mk_group_entry *want)
{
    assert_string_equal(g->name, want->name);
    assert_int_equal(g->gid, want->gid);
    size_t bytes = 0;

    assert_int_equal(g->member_count, want->member_count);
    for (uint32_t i = 0; i < g->member_count; i++) {
        assert_string_equal(mkgf_group_member(v, g, i), want->members[i]);
        bytes += MKGF_MEMBER_PREFIX + strlen(want->members[i]) + 1;
    }
    assert_int_equal(g->member_bytes, bytes);
    assert_null(mkgf_group_member(v, g, g->member_count));
    /* The copy the NSS module makes: exactly member_bytes, walked. */
    {
        char *copy = malloc(g->member_bytes + 1);
        char **mem = calloc(g->member_count + 1, sizeof(char *));
        assert_non_null(copy);
        assert_non_null(mem);
        assert_int_equal(mkgf_copy_members(v, g, copy, mem), 0);
        for (uint32_t i = 0; i < g->member_count; i++)
            assert_string_equal(mem[i], want->members[i]);
        free(copy);
        free(mem);
    }
}

static gid_t user_gid(const struct mkgf_view *v, const struct mkgf_user *u, uint32_t i)
{
    gid_t gid = 0;
    assert_int_equal(mkgf_user_gid(v, u, i, &gid), 0);
    return gid;
}

/* Every group is found by index, name and gid, and every member's group list
 * is exactly the groups that list them. */
static void expect_all(const struct mkgf_view *v, const struct mk_group_entry *groups, size_t n)
{
    struct mkgf_group g;

    assert_int_equal(v->group_count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(mkgf_group_at(v, (uint32_t)i, &g), 0);
        expect_group(v, &g, &groups[i]);
        assert_int_equal(mkgf_find_name(v, groups[i].name, &g), 0);
        expect_group(v, &g, &groups[i]);
        assert_int_equal(mkgf_find_gid(v, groups[i].gid, &g), 0);
        expect_group(v, &g, &groups[i]);
    }
    assert_int_equal(mkgf_group_at(v, (uint32_t)n, &g), -ENOENT);
}

static struct mkgf_view view_of(const unsigned char *img, size_t size)
{
    struct mkgf_view v;
    assert_int_equal(mkgf_validate(img, size, &v), 0);
    return v;
}

static void test_round_trip_empty(void **state)
{
    struct fixture *f = *state;
    struct mkgf_group g;
    struct mkgf_user u;
    unsigned char *img;
    size_t size;
    struct mkgf_view v;

    assert_int_equal(mk_groupfile_write(f->path, NULL, 0), 0);
    img = read_whole(f->path, &size);
    v = view_of(img, size);
    assert_int_equal(v.group_count, 0);
    assert_int_equal(mkgf_find_name(&v, "mk-staff", &g), -ENOENT);
    assert_int_equal(mkgf_find_gid(&v, 0, &g), -ENOENT);
    assert_int_equal(mkgf_find_user(&v, "alice", &u), -ENOENT);
    assert_int_equal(mkgf_group_at(&v, 0, &g), -ENOENT);
    free(img);
}

static void test_round_trip_one(void **state)
{
    struct fixture *f = *state;
    struct mkgf_user u;
    unsigned char *img;
    size_t size;
    struct mkgf_view v;

    assert_int_equal(mk_groupfile_write(f->path, sample, 1), 0);
    img = read_whole(f->path, &size);
    v = view_of(img, size);
    expect_all(&v, sample, 1);
    assert_int_equal(mkgf_find_user(&v, "bob", &u), 0);
    assert_int_equal(u.group_count, 1);
    assert_int_equal(user_gid(&v, &u, 0), 2000200002);
    free(img);
}

static void test_lookups(void **state)
{
    struct fixture *f = *state;
    struct mkgf_group g;
    struct mkgf_user u;
    unsigned char *img;
    size_t size;
    struct mkgf_view v;
    struct stat st;

    umask(077);
    assert_int_equal(mk_groupfile_write(f->path, sample, 3), 0);
    umask(022);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    img = read_whole(f->path, &size);
    v = view_of(img, size);
    expect_all(&v, sample, 3);

    assert_int_equal(mkgf_find_user(&v, "alice", &u), 0);
    assert_int_equal(u.group_count, 2);
    assert_int_equal(user_gid(&v, &u, 0), 2000200002);
    assert_int_equal(user_gid(&v, &u, 1), 2000200004);
    assert_int_equal(mkgf_find_user(&v, "carol", &u), 0);
    assert_int_equal(u.group_count, 1);
    assert_int_equal(user_gid(&v, &u, 0), 2000200004);

    assert_int_equal(mkgf_find_user(&v, "dave", &u), -ENOENT);
    assert_int_equal(mkgf_find_user(&v, "", &u), -ENOENT);
    assert_int_equal(mkgf_find_user(&v, "mk-staff", &u), -ENOENT);
    assert_int_equal(mkgf_find_name(&v, "alice", &g), -ENOENT);
    assert_int_equal(mkgf_find_name(&v, "mk-staf", &g), -ENOENT);
    assert_int_equal(mkgf_find_name(&v, "", &g), -ENOENT);
    assert_int_equal(mkgf_find_gid(&v, 2000200005, &g), -ENOENT);
    assert_int_equal(mkgf_find_gid(&v, 0, &g), -ENOENT);
    free(img);
}

/* Many groups, a big group, and a user in many groups; the writer must be
 * quick at the sizes the brief names (timed under make bench). */
static void test_round_trip_many(void **state)
{
    struct fixture *f = *state;
    enum { N = 100000, BIG = 10000 };
    struct mk_group_entry *groups = calloc(N, sizeof(*groups));
    char (*names)[32] = calloc(N, sizeof(*names));
    char (*users)[32] = calloc(BIG, sizeof(*users));
    const char **big = calloc(BIG, sizeof(*big));
    const char *everyone[1] = {"everyone"};
    int64_t t0;
    struct mkgf_group g;
    struct mkgf_user u;
    unsigned char *img;
    size_t size;
    struct mkgf_view v;

    assert_non_null(groups);
    assert_non_null(names);
    assert_non_null(users);
    assert_non_null(big);
    for (int i = 0; i < BIG; i++) {
        snprintf(users[i], sizeof(users[i]), "user-%d", i);
        big[i] = users[i];
    }
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "mk-group-%d", i);
        groups[i].name = names[i];
        groups[i].gid = 2000200001u + (gid_t)i * 7u;
        groups[i].members = everyone;
        groups[i].member_count = i % 2;
    }
    groups[N - 1].members = big;
    groups[N - 1].member_count = BIG;

    t0 = tu_now_ms();
    assert_int_equal(mk_groupfile_write(f->path, groups, N), 0);
    /* The writer's speed is a claim of make bench (MKIO_TIMED=1): a loaded
     * machine or valgrind may take longer, and that is no failure here. */
    tu_at_most_ms("write of 100000 groups", tu_now_ms() - t0, 5000, 0);

    img = read_whole(f->path, &size);
    v = view_of(img, size);
    expect_all(&v, groups, N);
    assert_int_equal(mkgf_find_user(&v, "everyone", &u), 0);
    assert_int_equal(u.group_count, N / 2 - 1); /* the last odd group has the big list */
    for (uint32_t i = 0; i < u.group_count; i++)
        assert_int_equal(user_gid(&v, &u, i), 2000200001u + (2 * i + 1) * 7u);
    assert_int_equal(mkgf_find_user(&v, "user-9999", &u), 0);
    assert_int_equal(u.group_count, 1);
    assert_int_equal(user_gid(&v, &u, 0), groups[N - 1].gid);
    assert_int_equal(mkgf_find_gid(&v, 2000200002, &g), -ENOENT);
    free(img);
    free(groups);
    free(names);
    free(users);
    free(big);
}

/* Writes the sample and returns its bytes. */
static unsigned char *sample_image(struct fixture *f, size_t *size)
{
    assert_int_equal(mk_groupfile_write(f->path, sample, 3), 0);
    return read_whole(f->path, size);
}

static void test_refuses_truncated(void **state)
{
    struct fixture *f = *state;
    struct mkgf_view v;
    size_t size;
    unsigned char *img = sample_image(f, &size);

    assert_int_equal(mkgf_validate(img, 0, &v), -EBADMSG);
    for (size_t len = 0; len < size; len++)
        assert_int_equal(mkgf_validate(img, len, &v), -EBADMSG);
    /* Longer than it says is refused too. */
    {
        unsigned char *longer = calloc(1, size + 8);
        assert_non_null(longer);
        memcpy(longer, img, size);
        assert_int_equal(mkgf_validate(longer, size + 8, &v), -EBADMSG);
        free(longer);
    }
    free(img);
}

static void test_refuses_magic_and_version(void **state)
{
    struct fixture *f = *state;
    struct mkgf_view v;
    size_t size;
    unsigned char *img = sample_image(f, &size);

    img[0] ^= 0x20;
    assert_int_equal(mkgf_validate(img, size, &v), -EBADMSG);
    img[0] ^= 0x20;
    put32(img + 8, 1); /* the format before this one */
    assert_int_equal(mkgf_validate(img, size, &v), -EPROTONOSUPPORT);
    assert_int_equal(mkgf_view_init(img, img, size, &v), -EPROTONOSUPPORT);
    put32(img + 8, 3);
    assert_int_equal(mkgf_validate(img, size, &v), -EPROTONOSUPPORT);
    put32(img + 8, 0);
    assert_int_equal(mkgf_validate(img, size, &v), -EPROTONOSUPPORT);
    put32(img + 8, MKGF_VERSION);
    assert_int_equal(mkgf_validate(img, size, &v), 0);
    free(img);
}

/* Any flipped byte outside the flags word is refused (magic, version,
 * checksum, or anything the checksum covers). */
static void test_refuses_flipped_byte(void **state)
{
    struct fixture *f = *state;
    struct mkgf_view v;
    size_t size;
    unsigned char *img = sample_image(f, &size);

    for (size_t i = 0; i < size; i++) {
        for (int bit = 0; bit < 8; bit++) {
            int r;
            img[i] ^= (unsigned char)(1u << bit);
            r = mkgf_validate(img, size, &v);
            if (i >= MKGF_FLAGS_OFFSET && i < MKGF_FLAGS_OFFSET + 4)
                assert_int_equal(r, 0);
            else
                assert_true(r == -EBADMSG || r == -EPROTONOSUPPORT);
            img[i] ^= (unsigned char)(1u << bit);
        }
    }
    assert_int_equal(mkgf_validate(img, size, &v), 0);
    free(img);
}

/* Structural damage with a correct checksum (as a buggy writer would make):
 * each is refused by the bounds checks themselves. */
static void test_refuses_bad_structure(void **state)
{
    struct fixture *f = *state;
    struct mkgf_view v;
    size_t size;
    unsigned char *img = sample_image(f, &size);
    unsigned char *bad = malloc(size);
    struct { size_t at; uint32_t value; } cases[] = {
        {32, 1000},                 /* group_count beyond the file */
        {36, 3},                    /* name slots not a power of two */
        {36, 0},                    /* no name slots */
        {44, 100000},               /* member pool beyond the file */
        {60, 100000},               /* string pool beyond the file */
        {64, 0},                    /* groups section over the header */
        {64, (uint32_t)size},       /* groups section at the end */
        {64, 0xfffffff0u},          /* offset out of bounds (wraps) */
        {92, (uint32_t)size + 4},   /* string pool past the end */
        {92, 97},                   /* misaligned */
        {68, 96},                   /* sections out of order */
    };
    uint32_t groups_off, strings_off, name_index, user_gids;

    assert_non_null(bad);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        memcpy(bad, img, size);
        put32(bad + cases[c].at, cases[c].value);
        fix_checksum(bad, size);
        assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);
    }

    groups_off = get32(img + 64);
    name_index = get32(img + 68);
    user_gids = get32(img + 88);
    strings_off = get32(img + 92);

    /* A group name offset outside the pool. */
    memcpy(bad, img, size);
    put32(bad + groups_off, get32(img + 60));
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    /* A member run starting past the pool. */
    memcpy(bad, img, size);
    put32(bad + groups_off + 12, 1000);
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    /* A member count the run does not hold. */
    memcpy(bad, img, size);
    put32(bad + groups_off + 8, get32(img + groups_off + 8) + 1);
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    /* member_bytes that do not match the members (would overflow a
     * caller's buffer). */
    memcpy(bad, img, size);
    put32(bad + groups_off + 16, get32(img + groups_off + 16) - 1);
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    /* An index word naming a group that does not exist. */
    memcpy(bad, img, size);
    put32(bad + name_index, 4);
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    /* A full index (a probe would never end). */
    memcpy(bad, img, size);
    for (uint32_t i = 0; i < get32(img + 36); i++)
        put32(bad + name_index + 4 * i, 1);
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    /* A user's gid that no group has. */
    memcpy(bad, img, size);
    put32(bad + user_gids, 3);
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    /* A pool whose last string is not terminated. */
    memcpy(bad, img, size);
    memset(bad + strings_off, 'x', size - strings_off);
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    /* total_size not the file's size. */
    memcpy(bad, img, size);
    put32(bad + 24, (uint32_t)size - 4);
    fix_checksum(bad, size);
    assert_int_equal(mkgf_validate(bad, size, &v), -EBADMSG);

    free(bad);
    free(img);
}

/* Moves the file aside (kept until teardown) so the next one gets a new
 * inode. */
static void retire(struct fixture *f)
{
    static int n;
    char aside[160];

    snprintf(aside, sizeof(aside), "%s/retired-%d", f->dir, n++);
    assert_int_equal(rename(f->path, aside), 0);
}

/* The reader's clock (struct mkgf_reader, tick): fake_tick is the time it
 * says; tick_per_call moves it by one tick (4 ms) at each call, so every
 * mkgf_reader_get checks the file as when there was no gate; frozen_tick
 * keeps it, so every call is inside the tick of the last check. */
#define TICK_NS 4000000
static int64_t fake_tick = 1000000000;

static int64_t tick_per_call(void)
{
    return fake_tick += TICK_NS;
}

static int64_t frozen_tick(void)
{
    return fake_tick;
}

static void test_reader_missing_and_corrupt(void **state)
{
    struct fixture *f = *state;
    struct mkgf_reader *r = calloc(1, sizeof(*r));
    const struct mkgf_view *v;
    size_t size;
    unsigned char *img;

    assert_non_null(r);
    r->tick = tick_per_call;
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -ENOENT);
    assert_null(v);

    write_bytes(f->path, "", 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EBADMSG);
    retire(f);

    img = sample_image(f, &size);
    retire(f);
    put32(img + 24, (uint32_t)size + 4); /* a size in the header not the file's */
    write_bytes(f->path, img, size);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EBADMSG);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EBADMSG);
    retire(f);
    put32(img + 24, (uint32_t)size);

    /* The open reads the header only: a damaged byte after it is not seen
     * until a lookup uses it; mkgf_verify_path sees it. */
    img[size - 1] ^= 1;
    write_bytes(f->path, img, size);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(mkgf_verify_path(f->path), -EBADMSG);
    retire(f);
    img[size - 1] ^= 1;
    write_bytes(f->path, img, size);
    assert_int_equal(mkgf_verify_path(f->path), 0);
    retire(f);

    put32(img + 8, 7);
    write_bytes(f->path, img, size);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EPROTONOSUPPORT);
    retire(f);

    /* A directory in its place. */
    assert_int_equal(mkdir(f->path, 0755), 0);
    assert_true(mkgf_reader_get(r, f->path, &v) < 0);
    rmdir(f->path);

    mkgf_reader_close(r);
    free(img);
    free(r);
}

/* A replacement by the writer is seen by the next call a tick later, within
 * the same second (the old file has no link left; the writer also marks it
 * recycled). */
static void test_reader_sees_recycled(void **state)
{
    struct fixture *f = *state;
    struct mkgf_reader *r = calloc(1, sizeof(*r));
    const struct mkgf_view *v;
    struct mkgf_group g;
    unsigned char flags[4];
    int old;

    assert_non_null(r);
    r->tick = tick_per_call;
    assert_int_equal(mk_groupfile_write(f->path, sample, 1), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(v->group_count, 1);
    old = open(f->path, O_RDONLY);
    assert_true(old >= 0);

    assert_int_equal(mk_groupfile_write(f->path, sample, 3), 0);
    assert_int_equal(pread(old, flags, 4, MKGF_FLAGS_OFFSET), 4);
    assert_int_equal(get32(flags) & MKGF_FLAG_RECYCLED, MKGF_FLAG_RECYCLED);
    close(old);

    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(v->group_count, 3);
    assert_int_equal(mkgf_find_name(v, "mk-media", &g), 0);

    /* Removed: the next check that notices answers ENOENT. */
    old = open(f->path, O_RDWR);
    assert_true(old >= 0);
    unlink(f->path);
    put32(flags, MKGF_FLAG_RECYCLED);
    assert_int_equal(pwrite(old, flags, 4, MKGF_FLAGS_OFFSET), 4);
    close(old);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -ENOENT);

    /* And back. */
    assert_int_equal(mk_groupfile_write(f->path, sample, 2), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(v->group_count, 2);
    mkgf_reader_close(r);
    free(r);
}

/* Inside the tick of the last check, the reader makes no system call: a
 * file replaced by the writer, or truncated in place, still answers from
 * what was copied (private memory, which neither change can touch); the
 * first call a tick later sees the change. */
static void test_reader_checks_once_per_tick(void **state)
{
    struct fixture *f = *state;
    struct mkgf_reader *r = calloc(1, sizeof(*r));
    const struct mkgf_view *v;
    struct mkgf_group g;

    assert_non_null(r);
    r->tick = frozen_tick;
    assert_int_equal(mk_groupfile_write(f->path, sample, 1), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(v->group_count, 1);

    assert_int_equal(mk_groupfile_write(f->path, sample, 3), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(v->group_count, 1);
    assert_int_equal(mkgf_find_name(v, "mk-staff", &g), 0);
    assert_int_equal(mkgf_reader_stale(r), 0);
    fake_tick += TICK_NS;
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(v->group_count, 3);
    assert_int_equal(mkgf_find_name(v, "mk-media", &g), 0);

    /* `: > groups.db` */
    assert_int_equal(truncate(f->path, 0), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(mkgf_find_name(v, "mk-media", &g), 0);
    assert_int_equal(g.gid, 2000200004);
    fake_tick += TICK_NS;
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EBADMSG);
    assert_null(v);
    mkgf_reader_close(r);
    free(r);
}

/* Many groups over many pages, looked up by name; each answer is checked
 * against the gids of a (base_a) or of b (base_b), depending on *from_b.
 * Within one frozen tick: a lookup that needs a page not yet copied from a
 * file that changed since the check is refused (mkgf_reader_stale), and the
 * retry after the check answers from the new file; never a mix. Returns how
 * many lookups were refused. */
#define MANY 3000
static int look_up_many(struct mkgf_reader *r, const char *path, char (*names)[24],
                        gid_t base_a, gid_t base_b, int *from_b, int *opened)
{
    const struct mkgf_view *v;
    int refused = 0;

    *opened = 0;
    for (int i = 0; i < MANY; i++) {
        struct mkgf_group g;
        int got;
        assert_int_equal(mkgf_reader_get(r, path, &v), 0);
        got = mkgf_find_name(v, names[i], &g);
        if (got < 0) {
            assert_int_equal(mkgf_reader_stale(r), 1);
            refused++;
            /* The retry checks the file: the new one answers. */
            assert_int_equal(mkgf_reader_get(r, path, &v), 0);
            (*opened)++;
            *from_b = 1;
            assert_int_equal(mkgf_find_name(v, names[i], &g), 0);
        }
        assert_int_equal(mkgf_reader_stale(r), 0);
        assert_int_equal(g.gid, (*from_b ? base_b : base_a) + (gid_t)i);
    }
    return refused;
}

static void test_reader_proves_before_copying(void **state)
{
    struct fixture *f = *state;
    struct mkgf_reader *r = calloc(1, sizeof(*r));
    struct mk_group_entry *groups = calloc(MANY, sizeof(*groups));
    char (*names)[24] = calloc(MANY, sizeof(*names));
    const struct mkgf_view *v;
    struct mkgf_group g;
    int from_b = 0, opened;

    assert_true(r && groups && names);
    r->tick = frozen_tick;
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof(names[i]), "mk-page-%d", i);
        groups[i].name = names[i];
        groups[i].gid = 2000300000 + (gid_t)i;
    }
    assert_int_equal(mk_groupfile_write(f->path, groups, MANY), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_true(v->size > 8 * MKGF_PAGE);
    assert_int_equal(mkgf_find_name(v, names[0], &g), 0);

    /* Replaced by the writer inside the tick: the pages already copied
     * answer from the old file until one is missing; that lookup is refused
     * once and answers from the new file after the check. */
    for (int i = 0; i < MANY; i++)
        groups[i].gid = 2000400000 + (gid_t)i;
    assert_int_equal(mk_groupfile_write(f->path, groups, MANY), 0);
    assert_int_equal(look_up_many(r, f->path, names, 2000300000, 2000400000, &from_b, &opened),
                     1);
    assert_int_equal(opened, 1);
    /* The file unchanged: copying more pages inside the tick is allowed. */
    assert_int_equal(look_up_many(r, f->path, names, 2000300000, 2000400000, &from_b, &opened),
                     0);

    /* Truncated in place inside the tick: the check after the refusal finds
     * the header's size wrong. */
    assert_int_equal(mk_groupfile_write(f->path, groups, MANY), 0);
    fake_tick += TICK_NS;
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(mkgf_find_name(v, names[0], &g), 0);
    assert_int_equal(truncate(f->path, (off_t)(v->size / 2)), 0);
    for (int i = 0;; i++) {
        assert_true(i < MANY);
        assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
        if (mkgf_find_name(v, names[i], &g) == 0) {
            assert_int_equal(g.gid, 2000400000 + (gid_t)i);
            continue;
        }
        assert_int_equal(mkgf_reader_stale(r), 1);
        assert_int_equal(mkgf_reader_get(r, f->path, &v), -EBADMSG);
        break;
    }
    mkgf_reader_close(r);
    free(r);
    free(groups);
    free(names);
}

/* A replacement made without the writer (a plain rename) is seen within a
 * little more than a second, by the stat check. */
static void test_reader_sees_plain_rename(void **state)
{
    struct fixture *f = *state;
    struct mkgf_reader *r = calloc(1, sizeof(*r));
    const struct mkgf_view *v;
    char other[160];
    size_t size;
    unsigned char *img;
    int seen = 0;

    assert_non_null(r);
    snprintf(other, sizeof(other), "%s/other.db", f->dir);
    assert_int_equal(mk_groupfile_write(other, sample, 3), 0);
    img = read_whole(other, &size);
    unlink(other);
    assert_int_equal(mk_groupfile_write(f->path, sample, 1), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(v->group_count, 1);

    write_bytes(other, img, size);
    assert_int_equal(rename(other, f->path), 0);
    for (int i = 0; i < 40 && !seen; i++) {
        assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
        seen = v->group_count == 3;
        if (!seen)
            usleep(50000);
    }
    assert_true(seen);
    mkgf_reader_close(r);
    free(img);
    free(r);
}

/* SIGALRM during test_reader_refuses_unsafe_files: an open that blocks (a
 * FIFO opened without O_NONBLOCK waits for a writer) fails the run instead of
 * hanging it, and cannot return EINTR into a refusal that passes. */
static void reader_hung(int sig)
{
    static const char msg[] = "test_groupfile: the reader blocked on the group file for 20 s\n";

    (void)sig;
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(3);
}

/* Only a regular file that root owns and that neither group nor others may
 * write is read. The open returns at once whatever sits at the path, and the
 * refusal comes from fstat, before a byte is read or mapped. */
static void test_reader_refuses_unsafe_files(void **state)
{
    struct fixture *f = *state;
    struct mkgf_reader *r = calloc(1, sizeof(*r));
    struct sigaction on_alarm = {.sa_handler = reader_hung}, saved;
    const struct mkgf_view *v;
    char good[160];
    int refused = 0;

    assert_non_null(r);
    snprintf(good, sizeof(good), "%s/good.db", f->dir);
    assert_int_equal(mk_groupfile_write(good, sample, 3), 0);
    assert_int_equal(sigaction(SIGALRM, &on_alarm, &saved), 0);
    alarm(20);

    assert_int_equal(mkfifo(f->path, 0644), 0); /* no writer: a blocking open waits */
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EPERM);
    assert_null(v);
    assert_int_equal(unlink(f->path), 0);

    assert_int_equal(symlink(good, f->path), 0); /* even to a good file */
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -ELOOP);
    assert_int_equal(unlink(f->path), 0);

    assert_int_equal(mkdir(f->path, 0755), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EPERM);
    assert_int_equal(rmdir(f->path), 0);

    if (mknod(f->path, S_IFCHR | 0644, makedev(1, 3)) == 0) { /* /dev/null's */
        assert_int_equal(mkgf_reader_get(r, f->path, &v), -EPERM);
        assert_int_equal(unlink(f->path), 0);
    }

    assert_int_equal(mk_groupfile_write(f->path, sample, 3), 0);
    assert_int_equal(chown(f->path, 65534, 0), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EPERM);
    assert_int_equal(chown(f->path, 0, 65534), 0);
    assert_int_equal(chmod(f->path, 0664), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EPERM);
    assert_int_equal(chmod(f->path, 0646), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), -EPERM);
    /* Root's, group other than root's, writable by root alone: accepted. */
    assert_int_equal(chmod(f->path, 0640), 0);
    assert_int_equal(mkgf_reader_get(r, f->path, &v), 0);
    assert_int_equal(v->group_count, 3);

    alarm(0);
    assert_int_equal(sigaction(SIGALRM, &saved, NULL), 0);

    /* Made group-writable in place while mapped: the next check of the path
     * (at most a second later) refuses it. */
    assert_int_equal(chmod(f->path, 0660), 0);
    for (int i = 0; i < 40 && !refused; i++) {
        int got = mkgf_reader_get(r, f->path, &v);
        refused = got == -EPERM;
        if (!refused) {
            assert_int_equal(got, 0);
            usleep(50000);
        }
    }
    assert_true(refused);
    assert_null(v);

    mkgf_reader_close(r);
    assert_int_equal(unlink(good), 0);
    free(r);
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_writer_refuses_bad_input(void **state)
{
    struct fixture *f = *state;
    const char *const ok_members[] = {"alice"};
    const char *const colon[] = {"al:ice"};
    const char *const comma[] = {"al,ice"};
    const char *const newline[] = {"al\nice"};
    const char *const empty[] = {""};
    const char *const null_member[] = {NULL};
    const char *const twice[] = {"alice", "bob", "alice"};
    const struct mk_group_entry bad[][2] = {
        {{"", 1, NULL, 0}, {"b", 2, NULL, 0}},
        {{NULL, 1, NULL, 0}, {"b", 2, NULL, 0}},
        {{"a:b", 1, NULL, 0}, {"b", 2, NULL, 0}},
        {{"a,b", 1, NULL, 0}, {"b", 2, NULL, 0}},
        {{"a\nb", 1, NULL, 0}, {"b", 2, NULL, 0}},
        {{"a", 1, NULL, 0}, {"a", 2, NULL, 0}},          /* same name */
        {{"a", 7, NULL, 0}, {"b", 7, NULL, 0}},          /* same gid */
        {{"a", (gid_t)-1, NULL, 0}, {"b", 2, NULL, 0}},
        {{"a", 1, colon, 1}, {"b", 2, ok_members, 1}},
        {{"a", 1, comma, 1}, {"b", 2, NULL, 0}},
        {{"a", 1, newline, 1}, {"b", 2, NULL, 0}},
        {{"a", 1, empty, 1}, {"b", 2, NULL, 0}},
        {{"a", 1, null_member, 1}, {"b", 2, NULL, 0}},
        {{"a", 1, NULL, 1}, {"b", 2, NULL, 0}},          /* count without array */
        {{"a", 1, twice, 3}, {"b", 2, NULL, 0}},         /* member listed twice */
    };
    unsigned char *before, *after;
    size_t before_size, after_size;

    assert_int_equal(mk_groupfile_write(f->path, sample, 3), 0);
    before = read_whole(f->path, &before_size);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(mk_groupfile_write(f->path, bad[i], 2), -EINVAL);
        after = read_whole(f->path, &after_size);
        assert_int_equal(after_size, before_size);
        assert_memory_equal(after, before, before_size);
        free(after);
        assert_int_equal(dir_entries(f->dir), 1);
    }
    assert_int_equal(mk_groupfile_write(f->path, NULL, 2), -EINVAL);
    assert_int_equal(mk_groupfile_write(NULL, sample, 3), -EINVAL);
    assert_int_equal(mk_groupfile_write("", sample, 3), -EINVAL);
    /* A directory that does not exist: an error, nothing created. */
    {
        char missing[160];
        snprintf(missing, sizeof(missing), "%s/no/such/groups.db", f->dir);
        assert_int_equal(mk_groupfile_write(missing, sample, 3), -ENOENT);
    }
    assert_int_equal(dir_entries(f->dir), 1);
    free(before);
}

/* The same member names in several groups and a group name equal to a user
 * name are fine. */
static void test_shared_strings(void **state)
{
    struct fixture *f = *state;
    const char *const m[] = {"alice"};
    const struct mk_group_entry groups[] = {
        {"alice", 1000, m, 1},
        {"mk-a", 1001, m, 1},
    };
    struct mkgf_user u;
    unsigned char *img;
    size_t size;
    struct mkgf_view v;

    assert_int_equal(mk_groupfile_write(f->path, groups, 2), 0);
    img = read_whole(f->path, &size);
    v = view_of(img, size);
    expect_all(&v, groups, 2);
    assert_int_equal(mkgf_find_user(&v, "alice", &u), 0);
    assert_int_equal(u.group_count, 2);
    free(img);
}

/* The encoder gives the bytes the writer writes. */
static void test_encode_is_the_file(void **state)
{
    struct fixture *f = *state;
    unsigned char *img = NULL, *file;
    size_t size = 0, file_size;

    assert_int_equal(mk_groupfile_encode(sample, 3, &img, &size), 0);
    assert_int_equal(mk_groupfile_write(f->path, sample, 3), 0);
    file = read_whole(f->path, &file_size);
    assert_int_equal(size, file_size);
    assert_memory_equal(img, file, size);
    assert_int_equal(mkgf_verify(img, size), 0);
    free(img);
    img = NULL;
    assert_int_equal(mk_groupfile_encode(NULL, 0, &img, &size), 0);
    assert_int_equal(mkgf_verify(img, size), 0);
    free(img);
    assert_int_equal(mk_groupfile_encode(NULL, 2, &img, &size), -EINVAL);
    free(file);
}

/* mkgf_view_init reads the header only (O(1)): a file whose body is
 * damaged opens, and each lookup checks what it uses. Every byte after the
 * header, set to a few values, through every lookup: only 0, -ENOENT or
 * -EBADMSG, never a read outside the image (ASan in make check), and every
 * successful group's run copies into exactly member_bytes. */
static void test_lookups_check_at_use(void **state)
{
    static const unsigned char values[] = {0x00, 0x01, 'x', 0x7f, 0xff};
    static const char *const names[] = {"mk-staff", "mk-empty", "mk-media", "nope", "alice"};
    struct fixture *f = *state;
    size_t size;
    unsigned char *img = sample_image(f, &size);

    for (size_t at = MKGF_HEADER_SIZE; at < size; at++) {
        for (size_t k = 0; k < sizeof(values); k++) {
            /* Its own allocation, exactly the image: a read past it is seen. */
            unsigned char *bad = malloc(size);
            struct mkgf_view v;
            assert_non_null(bad);
            memcpy(bad, img, size);
            bad[at] = values[k];
            assert_int_equal(mkgf_view_init(bad, bad, size, &v), 0);
            for (uint32_t i = 0; i < 5; i++) {
                struct mkgf_group g;
                struct mkgf_user u;
                int r[3];
                r[0] = mkgf_group_at(&v, i, &g);
                r[1] = mkgf_find_name(&v, names[i], &g);
                r[2] = mkgf_find_gid(&v, 2000200002 + i, &g);
                for (int j = 0; j < 3; j++)
                    assert_true(r[j] == 0 || r[j] == -ENOENT || r[j] == -EBADMSG);
                if (r[2] == 0) {
                    char *copy = malloc(g.member_bytes ? g.member_bytes : 1);
                    char **mem = calloc((size_t)g.member_count + 1, sizeof(char *));
                    assert_non_null(copy);
                    assert_non_null(mem);
                    int c = mkgf_copy_members(&v, &g, copy, mem);
                    assert_true(c == 0 || c == -EBADMSG);
                    free(copy);
                    free(mem);
                }
                int ru = mkgf_find_user(&v, names[i], &u);
                assert_true(ru == 0 || ru == -ENOENT || ru == -EBADMSG);
                for (uint32_t m = 0; ru == 0 && m < u.group_count; m++) {
                    gid_t gid;
                    assert_int_equal(mkgf_user_gid(&v, &u, m, &gid), 0);
                }
            }
            free(bad);
        }
    }
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_magic_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_flipped_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_structure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_missing_and_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_sees_recycled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_checks_once_per_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_proves_before_copying, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_sees_plain_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_refuses_unsafe_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encode_is_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookups_check_at_use, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
