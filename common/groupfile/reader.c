/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/groupfile/reader.c: the O(1) open, the checked-at-use lookups, the
 * whole-file verification and the per-process copy of the compiled group
 * file. Links nothing but libc (it is part of libnss_mkio.so.2): no syslog,
 * no allocation on the lookup path. */
#include "groupfile/reader.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/trust.h"

_Static_assert(sizeof(gid_t) == 4, "gids are stored in 32 bits");

static inline uint32_t load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return le32toh(v);
}

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return le64toh(v);
}

static inline uint32_t load16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* Whether st (an fstat of the open file) shows the file the copy was made
 * from: the same inode, still linked (a writer's rename over it leaves it
 * without a link), of the same size, times, owner and mode. */
static int stamp_matches(const struct mkgf_pages *pages, const struct stat *st)
{
    const struct mkgf_stamp *s = &pages->stamp;

    return st->st_dev == s->dev && st->st_ino == s->ino && st->st_nlink > 0 &&
           (uint64_t)st->st_size == pages->size && st->st_uid == s->uid &&
           st->st_mode == s->mode && st->st_mtim.tv_sec == s->mtime.tv_sec &&
           st->st_mtim.tv_nsec == s->mtime.tv_nsec && st->st_ctim.tv_sec == s->ctime.tv_sec &&
           st->st_ctim.tv_nsec == s->ctime.tv_nsec;
}

/* Copies page i of the file into the reader's copy. Unless this call's
 * check already proved the file unchanged, one fstat proves it first; a
 * changed file sets stale and gives -ESTALE, and nothing is copied (groupfile/
 * reader.h, CHANGED UNDER A READER). A short read means the file shrank since
 * that fstat: -EBADMSG, the page stays unloaded. */
static int pages_load(struct mkgf_pages *pages, size_t i)
{
    size_t at = i * MKGF_PAGE, want = pages->size - at, got = 0;

    if (!pages->proven) {
        struct stat st;
        if (fstat(pages->fd, &st) != 0 || !stamp_matches(pages, &st)) {
            pages->stale = 1;
            return -ESTALE;
        }
        pages->proven = 1;
    }
    if (want > MKGF_PAGE)
        want = MKGF_PAGE;
    while (got < want) {
        ssize_t n = pread(pages->fd, pages->copy + at + got, want - got, (off_t)(at + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EBADMSG;
        got += (size_t)n;
    }
    pages->loaded[i / 8] |= (unsigned char)(1u << (i % 8));
    return 0;
}

/* Makes the len bytes at p (inside the view's bytes) readable: nothing to do
 * for a view without pages, else each page of them not yet copied is read
 * from the file. Every access of a view's bytes after the header goes
 * through here first. Returns 0, -EBADMSG or another negative errno. */
static int view_need(const struct mkgf_view *view, const void *p, size_t len)
{
    struct mkgf_pages *pages = view->pages;
    size_t off, first, last;

    if (!pages || len == 0)
        return 0;
    off = (size_t)((const unsigned char *)p - view->base);
    if (off >= pages->size || len > pages->size - off)
        return -EBADMSG;
    first = off / MKGF_PAGE;
    last = (off + len - 1) / MKGF_PAGE;
    for (size_t i = first; i <= last; i++) {
        int r;
        if (pages->loaded[i / 8] & (1u << (i % 8)))
            continue;
        if ((r = pages_load(pages, i)) < 0)
            return r;
    }
    return 0;
}

uint64_t mkgf_checksum(const unsigned char *data, size_t size)
{
    uint64_t h = MK_FNV1A_OFFSET;
    size_t i = 0;

    /* FNV-1a over little-endian 64-bit words, then the tail bytes (the
     * format's definition, groupfile/reader.h). */
    for (; i + 8 <= size; i += 8) {
        h ^= load64(data + i);
        h *= MK_FNV1A_PRIME;
    }
    return mk_fnv1a_bytes(h, data + i, size - i);
}

/* A section: offset from the header, byte length from a count. Sections must
 * come in order without overlap, which *cursor tracks. */
static int check_section(uint32_t off, uint64_t count, uint64_t elem, uint64_t total,
                         uint64_t *cursor, int aligned)
{
    uint64_t len = count * elem; /* count < 2^32, elem <= 20: no overflow */

    if (off < *cursor || off > total || len > total - off)
        return -EBADMSG;
    if (aligned && off % 4 != 0)
        return -EBADMSG;
    *cursor = (uint64_t)off + len;
    return 0;
}

static int is_power_of_two(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

int mkgf_view_init(const unsigned char *header, const void *data, size_t size,
                   struct mkgf_view *view)
{
    const unsigned char *p = data;
    struct mkgf_view v;
    uint64_t cursor = MKGF_HEADER_SIZE;
    uint32_t offs[8];

    memset(view, 0, sizeof(*view));
    if (size < MKGF_HEADER_SIZE || memcmp(header, MKGF_MAGIC, 8) != 0)
        return -EBADMSG;
    if (load32(header + 8) != MKGF_VERSION)
        return -EPROTONOSUPPORT;
    if (load64(header + 24) != size || size > UINT32_MAX)
        return -EBADMSG;

    memset(&v, 0, sizeof(v));
    v.base = p;
    v.size = size;
    v.group_count = load32(header + 32);
    v.name_slots = load32(header + 36);
    v.gid_slots = load32(header + 40);
    v.member_pool_size = load32(header + 44);
    v.user_count = load32(header + 48);
    v.user_slots = load32(header + 52);
    v.user_gid_count = load32(header + 56);
    v.string_size = load32(header + 60);
    for (int i = 0; i < 8; i++)
        offs[i] = load32(header + 64 + 4 * i);

    if (check_section(offs[0], v.group_count, MKGF_GROUP_RECORD, size, &cursor, 1) < 0 ||
        check_section(offs[1], v.name_slots, 4, size, &cursor, 1) < 0 ||
        check_section(offs[2], v.gid_slots, 4, size, &cursor, 1) < 0 ||
        check_section(offs[3], v.member_pool_size, 1, size, &cursor, 1) < 0 ||
        check_section(offs[4], v.user_count, MKGF_USER_RECORD, size, &cursor, 1) < 0 ||
        check_section(offs[5], v.user_slots, 4, size, &cursor, 1) < 0 ||
        check_section(offs[6], v.user_gid_count, 4, size, &cursor, 1) < 0 ||
        check_section(offs[7], v.string_size, 1, size, &cursor, 0) < 0)
        return -EBADMSG;
    /* Probing masks with slots - 1, and more slots than entries keeps an
     * empty one in a well-formed table (lookups bound their probes anyway). */
    if (!is_power_of_two(v.name_slots) || !is_power_of_two(v.gid_slots) ||
        !is_power_of_two(v.user_slots) || v.name_slots <= v.group_count ||
        v.gid_slots <= v.group_count || v.user_slots <= v.user_count)
        return -EBADMSG;
    v.groups = p + offs[0];
    v.name_index = p + offs[1];
    v.gid_index = p + offs[2];
    v.member_pool = p + offs[3];
    v.users = p + offs[4];
    v.user_index = p + offs[5];
    v.user_gids = p + offs[6];
    v.strings = (const char *)p + offs[7];
    *view = v;
    return 0;
}

/* The string at off in the pool: its length if a NUL ends it inside the
 * pool, else -EBADMSG. Copies in the pool's pages one at a time as the
 * search reaches them (a view with pages). */
static int64_t string_at(const struct mkgf_view *view, uint32_t off)
{
    const char *start = view->strings + off, *at = start, *end = NULL;
    size_t left;

    if (off >= view->string_size)
        return -EBADMSG;
    left = view->string_size - off;
    while (left > 0 && !end) {
        size_t chunk = left;
        if (view->pages) {
            size_t in_page = MKGF_PAGE - (size_t)((const unsigned char *)at - view->base) % MKGF_PAGE;
            if (chunk > in_page)
                chunk = in_page;
            if (view_need(view, at, chunk) < 0)
                return -EBADMSG;
        }
        end = memchr(at, '\0', chunk);
        at += chunk;
        left -= chunk;
    }
    return end ? end - start : -EBADMSG;
}

/* Whether the string at off in the pool is s (len bytes): 1 or 0, comparing
 * inside the pool only, or -EBADMSG if its bytes cannot be read. */
static int string_equals(const struct mkgf_view *view, uint32_t off, const char *s, size_t len)
{
    if (off >= view->string_size || len >= view->string_size - off)
        return 0;
    if (view_need(view, view->strings + off, len + 1) < 0)
        return -EBADMSG;
    return memcmp(view->strings + off, s, len) == 0 && view->strings[off + len] == '\0';
}

/* Reads group index and checks what it points to; each field loaded once. */
static int read_group(const struct mkgf_view *view, uint32_t index, struct mkgf_group *out)
{
    const unsigned char *g;
    uint32_t name, members, bytes, count;
    int64_t len;

    if (index >= view->group_count)
        return -EBADMSG;
    g = view->groups + (size_t)index * MKGF_GROUP_RECORD;
    if (view_need(view, g, MKGF_GROUP_RECORD) < 0)
        return -EBADMSG;
    name = load32(g);
    out->gid = load32(g + 4);
    count = load32(g + 8);
    members = load32(g + 12);
    bytes = load32(g + 16);
    if ((len = string_at(view, name)) < 0)
        return -EBADMSG;
    /* Each member takes at least prefix + 1 + NUL bytes. */
    if (members > view->member_pool_size || bytes > view->member_pool_size - members ||
        (uint64_t)count * (MKGF_MEMBER_PREFIX + 2) > bytes)
        return -EBADMSG;
    out->name = view->strings + name;
    out->name_len = (uint32_t)len;
    out->member_count = count;
    out->members = members;
    out->member_bytes = bytes;
    return 0;
}

int mkgf_group_at(const struct mkgf_view *view, uint32_t index, struct mkgf_group *out)
{
    if (index >= view->group_count)
        return -ENOENT;
    return read_group(view, index, out);
}

/* The slot word at slot of an index of the view, checked against limit:
 * 0 (empty), an entry index + 1, or -EBADMSG. */
static int64_t slot_at(const struct mkgf_view *view, const unsigned char *index, uint32_t slot,
                       uint32_t limit)
{
    const unsigned char *p = index + 4 * (size_t)slot;
    uint32_t v;

    if (view_need(view, p, 4) < 0)
        return -EBADMSG;
    v = load32(p);
    return v > limit ? -EBADMSG : (int64_t)v;
}

int mkgf_find_name(const struct mkgf_view *view, const char *name, struct mkgf_group *out)
{
    uint32_t mask = view->name_slots - 1;
    uint32_t slot = (uint32_t)mkgf_hash_string(name) & mask;
    size_t len = strlen(name);

    /* Bounded: a file changed under us may have no empty slot. */
    for (uint32_t probes = 0; probes < view->name_slots; probes++) {
        int64_t v = slot_at(view, view->name_index, slot, view->group_count);
        const unsigned char *g;
        int same;
        if (v <= 0)
            return v == 0 ? -ENOENT : -EBADMSG;
        g = view->groups + (size_t)(v - 1) * MKGF_GROUP_RECORD;
        if (view_need(view, g, MKGF_GROUP_RECORD) < 0 ||
            (same = string_equals(view, load32(g), name, len)) < 0)
            return -EBADMSG;
        if (same)
            return read_group(view, (uint32_t)(v - 1), out);
        slot = (slot + 1) & mask;
    }
    return -ENOENT;
}

int mkgf_find_gid(const struct mkgf_view *view, gid_t gid, struct mkgf_group *out)
{
    uint32_t mask = view->gid_slots - 1;
    uint32_t slot = (uint32_t)mkgf_hash_gid(gid) & mask;

    for (uint32_t probes = 0; probes < view->gid_slots; probes++) {
        int64_t v = slot_at(view, view->gid_index, slot, view->group_count);
        const unsigned char *g;
        if (v <= 0)
            return v == 0 ? -ENOENT : -EBADMSG;
        g = view->groups + (size_t)(v - 1) * MKGF_GROUP_RECORD;
        if (view_need(view, g, MKGF_GROUP_RECORD) < 0)
            return -EBADMSG;
        if (load32(g + 4) == gid) {
            int r = read_group(view, (uint32_t)(v - 1), out);
            /* The gid is read again: the answer must carry the one asked. */
            if (r == 0 && out->gid != gid)
                r = -EBADMSG;
            return r;
        }
        slot = (slot + 1) & mask;
    }
    return -ENOENT;
}

int mkgf_find_user(const struct mkgf_view *view, const char *user, struct mkgf_user *out)
{
    uint32_t mask = view->user_slots - 1;
    uint32_t slot = (uint32_t)mkgf_hash_string(user) & mask;
    size_t len = strlen(user);

    for (uint32_t probes = 0; probes < view->user_slots; probes++) {
        int64_t v = slot_at(view, view->user_index, slot, view->user_count);
        const unsigned char *u;
        int same;
        if (v <= 0)
            return v == 0 ? -ENOENT : -EBADMSG;
        u = view->users + (size_t)(v - 1) * MKGF_USER_RECORD;
        if (view_need(view, u, MKGF_USER_RECORD) < 0 ||
            (same = string_equals(view, load32(u), user, len)) < 0)
            return -EBADMSG;
        if (same) {
            uint32_t first = load32(u + 4), count = load32(u + 8);
            if (first > view->user_gid_count || count > view->user_gid_count - first)
                return -EBADMSG;
            out->first_group = first;
            out->group_count = count;
            return 0;
        }
        slot = (slot + 1) & mask;
    }
    return -ENOENT;
}

int mkgf_user_gid(const struct mkgf_view *view, const struct mkgf_user *user, uint32_t i,
                  gid_t *gid)
{
    uint64_t at = (uint64_t)user->first_group + i;

    if (i >= user->group_count || at >= view->user_gid_count ||
        view_need(view, view->user_gids + 4 * at, 4) < 0)
        return -EBADMSG;
    *gid = load32(view->user_gids + 4 * at);
    return 0;
}

/* Points mem[i] (if mem) at member i of a run: lengths, a count of 16-bit
 * words (they may lie in the mapping: each is checked as it is used), and
 * strings, string_bytes of names each followed by a NUL (in memory that does
 * not change: a copy, or a verified image). The positions are a running sum
 * of lengths that do not depend on the strings, so the loop does not wait on
 * each load. Returns 0 if the strings hold exactly count members of those
 * lengths, else -EBADMSG. */
static int index_members(const unsigned char *lengths, const char *strings,
                         size_t string_bytes, uint32_t count, const char **mem)
{
    size_t at = 0;

    for (uint32_t i = 0; i < count; i++) {
        size_t len = load16(lengths + 2 * (size_t)i);
        if (len == 0 || len >= string_bytes - at || strings[at + len] != '\0')
            return -EBADMSG;
        if (mem)
            mem[i] = strings + at;
        at += len + 1;
    }
    return at == string_bytes ? 0 : -EBADMSG;
}

size_t mkgf_member_string_bytes(const struct mkgf_group *group)
{
    return group->member_bytes - MKGF_MEMBER_PREFIX * (size_t)group->member_count;
}

int mkgf_copy_members(const struct mkgf_view *view, const struct mkgf_group *group, char *dst,
                      char **mem)
{
    const unsigned char *run;
    size_t strings;

    /* group was checked when it was read (the run inside the pool, room for
     * its lengths); the view's bounds do not change. Checked again: cheap. */
    if (group->members > view->member_pool_size ||
        group->member_bytes > view->member_pool_size - group->members ||
        (uint64_t)group->member_count * MKGF_MEMBER_PREFIX > group->member_bytes)
        return -EBADMSG;
    run = view->member_pool + group->members;
    if (view_need(view, run, group->member_bytes) < 0)
        return -EBADMSG;
    strings = mkgf_member_string_bytes(group);
    memcpy(dst, run + MKGF_MEMBER_PREFIX * (size_t)group->member_count, strings);
    return index_members(run, dst, strings, group->member_count, (const char **)mem);
}

const char *mkgf_group_member(const struct mkgf_view *view, const struct mkgf_group *group,
                              uint32_t i)
{
    const unsigned char *run;
    const char *strings;
    size_t at = 0, bytes;

    if (i >= group->member_count || group->members > view->member_pool_size ||
        group->member_bytes > view->member_pool_size - group->members ||
        (uint64_t)group->member_count * MKGF_MEMBER_PREFIX > group->member_bytes)
        return NULL;
    run = view->member_pool + group->members;
    if (view_need(view, run, group->member_bytes) < 0)
        return NULL;
    strings = (const char *)run + MKGF_MEMBER_PREFIX * (size_t)group->member_count;
    bytes = mkgf_member_string_bytes(group);
    for (uint32_t k = 0;; k++) {
        size_t len = load16(run + 2 * (size_t)k);
        if (len == 0 || len >= bytes - at || strings[at + len] != '\0')
            return NULL;
        if (k == i)
            return strings + at;
        at += len + 1;
    }
}

/* ---- whole-file verification ---- */

/* Every word is 0 or an index + 1 up to limit. */
static int verify_index(const unsigned char *slots, uint32_t slot_count, uint32_t limit,
                        uint32_t entries)
{
    uint32_t used = 0;

    for (uint32_t i = 0; i < slot_count; i++) {
        uint32_t v = load32(slots + 4 * (size_t)i);
        if (v > limit)
            return -EBADMSG;
        used += v != 0;
    }
    return used == entries ? 0 : -EBADMSG;
}

int mkgf_verify(const void *data, size_t size)
{
    const unsigned char *p = data;
    struct mkgf_view v;
    uint64_t pool_end = 0;
    int r;

    if ((r = mkgf_view_init(p, p, size, &v)) < 0)
        return r;
    if (load64(p + MKGF_CHECKSUM_OFFSET) !=
        mkgf_checksum(p + MKGF_CHECKSUMMED_FROM, size - MKGF_CHECKSUMMED_FROM))
        return -EBADMSG;
    if (v.string_size > 0 && v.strings[v.string_size - 1] != '\0')
        return -EBADMSG;
    if (verify_index(v.name_index, v.name_slots, v.group_count, v.group_count) < 0 ||
        verify_index(v.gid_index, v.gid_slots, v.group_count, v.group_count) < 0 ||
        verify_index(v.user_index, v.user_slots, v.user_count, v.user_count) < 0)
        return -EBADMSG;

    for (uint32_t i = 0; i < v.group_count; i++) {
        struct mkgf_group g, found;
        if (read_group(&v, i, &g) < 0 ||
            index_members(v.member_pool + g.members,
                          (const char *)v.member_pool + g.members +
                              MKGF_MEMBER_PREFIX * (size_t)g.member_count,
                          mkgf_member_string_bytes(&g), g.member_count, NULL) < 0)
            return -EBADMSG;
        /* Runs follow each other in group order. */
        if (g.members != pool_end)
            return -EBADMSG;
        pool_end += g.member_bytes;
        if (g.name_len == 0 || mkgf_find_name(&v, g.name, &found) < 0 ||
            found.name != g.name || mkgf_find_gid(&v, g.gid, &found) < 0 ||
            found.name != g.name)
            return -EBADMSG;
    }
    for (uint64_t at = pool_end; at < v.member_pool_size; at++)
        if (v.member_pool[at] != 0)
            return -EBADMSG;

    for (uint32_t i = 0; i < v.user_count; i++) {
        const unsigned char *u = v.users + (size_t)i * MKGF_USER_RECORD;
        struct mkgf_user user, found;
        struct mkgf_group g;
        uint32_t name = load32(u);
        int64_t len = string_at(&v, name);
        if (len <= 0)
            return -EBADMSG;
        if (mkgf_find_user(&v, v.strings + name, &found) < 0)
            return -EBADMSG;
        user.first_group = load32(u + 4);
        user.group_count = load32(u + 8);
        if (found.first_group != user.first_group || found.group_count != user.group_count)
            return -EBADMSG;
        for (uint32_t k = 0; k < user.group_count; k++) {
            gid_t gid;
            if (mkgf_user_gid(&v, &user, k, &gid) < 0 || mkgf_find_gid(&v, gid, &g) < 0)
                return -EBADMSG;
        }
    }
    return 0;
}

int mkgf_verify_path(const char *path)
{
    char *buf = NULL;
    size_t got = 0;

    /* -EFBIG past UINT32_MAX; a file that shrank while read: verify what
     * is there. Anything but a regular file is refused (-EPERM). */
    int r = mk_fileio_read_path(path, false, UINT32_MAX, &buf, &got);
    if (r == -EISDIR || r == -EINVAL)
        r = -EPERM;
    if (r == 0)
        r = mkgf_verify(buf, got);
    free(buf);
    return r;
}

int mkgf_validate(const void *data, size_t size, struct mkgf_view *view)
{
    int r = mkgf_verify(data, size);

    if (r < 0) {
        memset(view, 0, sizeof(*view));
        return r;
    }
    return mkgf_view_init(data, data, size, view);
}

/* ---- the per-process copy ---- */

static int64_t reader_tick(const struct mkgf_reader *reader)
{
    return reader->tick ? reader->tick() : mk_clock_tick();
}

/* The second of a tick value, for the once-a-second lstat; -1 if none. */
static int64_t tick_second(int64_t tick)
{
    return tick < 0 ? -1 : tick / 1000000000;
}

void mkgf_reader_abandon(struct mkgf_reader *reader)
{
    reader->mapped = 0;
    reader->fd = -1;
    reader->map = NULL;
    reader->map_size = 0;
    reader->map_length = 0;
    memset(&reader->pages, 0, sizeof(reader->pages));
    memset(&reader->view, 0, sizeof(reader->view));
}

void mkgf_reader_close(struct mkgf_reader *reader)
{
    if (reader->mapped) {
        munmap(reader->map, reader->map_length);
        close(reader->fd);
    }
    mkgf_reader_abandon(reader);
}

/* Only a regular file that root owns and only root can write becomes groups:
 * anyone else able to write it would choose the gids that root's chgrp, ACL
 * and sudoers lookups resolve. */
static int reader_may_trust(const struct stat *st)
{
    return mk_trust_problems(st, S_IFREG, 0, S_IWGRP | S_IWOTH) == 0;
}

/* Opens path, checks who may have written it, reserves the private copy
 * (CHANGED UNDER A READER, groupfile/reader.h), reads the first page into it
 * and checks the header there: O(1) in the size. The new state replaces
 * reader's only when all of that succeeded; on failure reader is closed.
 * now is the tick of this call: the open's fstat is its check. */
static int reader_open(struct mkgf_reader *reader, const char *path, int64_t now)
{
    struct mkgf_reader next;
    struct stat st;
    void *map = MAP_FAILED;
    size_t size, page_count, length = 0;
    int fd = -1, r;

    mkgf_reader_close(reader);
    if (strlen(path) >= sizeof(reader->path))
        return -ENAMETOOLONG;
    /* Whatever sits at the path, the open returns at once: O_NONBLOCK keeps
     * a FIFO from waiting for a writer (a lookup must never hang), and
     * O_NOFOLLOW refuses a symlink (-ELOOP). Nothing is read before fstat
     * says what the descriptor is. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        goto out;
    }
    if (!reader_may_trust(&st)) {
        r = -EPERM;
        goto out;
    }
    if (st.st_size < (off_t)MKGF_HEADER_SIZE || (uint64_t)st.st_size > UINT32_MAX) {
        r = -EBADMSG;
        goto out;
    }
    /* The copy, then one bit per page; no page is given before it is
     * touched, so this costs the same for any size. */
    size = (size_t)st.st_size;
    page_count = (size + MKGF_PAGE - 1) / MKGF_PAGE;
    length = page_count * MKGF_PAGE + (page_count + 7) / 8;
    map = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
               -1, 0);
    if (map == MAP_FAILED) {
        r = -errno;
        goto out;
    }
    memset(&next, 0, sizeof(next));
    next.pages.fd = fd;
    next.pages.copy = map;
    next.pages.loaded = (unsigned char *)map + page_count * MKGF_PAGE;
    next.pages.size = size;
    next.pages.stamp.dev = st.st_dev;
    next.pages.stamp.ino = st.st_ino;
    next.pages.stamp.uid = st.st_uid;
    next.pages.stamp.mode = st.st_mode;
    next.pages.stamp.mtime = st.st_mtim;
    next.pages.stamp.ctime = st.st_ctim;
    next.pages.proven = 1;
    /* The first page holds the header: read now, private, it cannot change
     * under the checks. */
    if ((r = pages_load(&next.pages, 0)) < 0)
        goto out;
    if ((r = mkgf_view_init(map, map, size, &next.view)) < 0)
        goto out;

    next.mapped = 1;
    next.fd = fd;
    next.map = map;
    next.map_size = size;
    next.map_length = length;
    next.tick = reader->tick;
    next.checked_tick = now;
    next.lstat_second = tick_second(now);
    strcpy(next.path, path);
    *reader = next;
    reader->view.pages = &reader->pages;
    return 0;
out:
    if (map != MAP_FAILED)
        munmap(map, length);
    close(fd);
    return r;
}

/* Whether the open file and its copy may be used as they are. Inside the
 * tick of the last check, yes without a system call: what is copied stands,
 * and pages_load proves the file before it copies more (proven cleared).
 * Otherwise fstat must find the file as it was opened (stamp_matches), and,
 * once a second, lstat must find it still at path. */
static int reader_is_fresh(struct mkgf_reader *reader, const char *path, int64_t now)
{
    struct stat st;
    int64_t second;

    if (!reader->mapped || strcmp(path, reader->path) != 0)
        return 0;
    if (now >= 0 && now == reader->checked_tick) {
        reader->pages.proven = 0;
        return 1;
    }
    /* Another inode under our descriptor number means a program closed ours
     * and reused the number: not ours to close (mkgf_reader_abandon). */
    if (fstat(reader->fd, &st) != 0 || st.st_dev != reader->pages.stamp.dev ||
        st.st_ino != reader->pages.stamp.ino) {
        mkgf_reader_abandon(reader);
        return 0;
    }
    if (!stamp_matches(&reader->pages, &st))
        return 0;
    reader->checked_tick = now;
    reader->pages.proven = 1;
    second = tick_second(now);
    if (second >= 0 && second == reader->lstat_second)
        return 1;
    reader->lstat_second = second;
    /* lstat: a file renamed over the path while ours keeps another link, or
     * a symlink put in its place, is a change (and the symlink refused). */
    if (lstat(path, &st) != 0)
        return 0;
    return st.st_dev == reader->pages.stamp.dev && st.st_ino == reader->pages.stamp.ino;
}

int mkgf_reader_get(struct mkgf_reader *reader, const char *path, const struct mkgf_view **view)
{
    int64_t now = reader_tick(reader);
    int r = 0;

    reader->pages.stale = 0;
    if (!reader_is_fresh(reader, path, now))
        r = reader_open(reader, path, now);
    *view = r == 0 ? &reader->view : NULL;
    return r;
}

int mkgf_reader_stale(struct mkgf_reader *reader)
{
    if (!reader->pages.stale)
        return 0;
    reader->pages.stale = 0;
    reader->checked_tick = -1; /* no tick has this value: the next get checks */
    return 1;
}
