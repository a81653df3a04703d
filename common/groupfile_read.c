/* common/groupfile_read.c: validation, lookups and the per-process mapping of
 * the compiled group file. Links nothing but libc (it is part of
 * libnss_mkio.so.2): no syslog, no allocation on the lookup path. */
#include "groupfile_read.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

uint64_t mkgf_checksum(const unsigned char *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;

    for (; i + 8 <= size; i += 8) {
        h ^= load64(data + i);
        h *= 0x100000001b3ull;
    }
    for (; i < size; i++) {
        h ^= data[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A section: offset from the header, byte length from a count. Sections must
 * come in order without overlap, which *cursor tracks. */
static int check_section(uint32_t off, uint64_t count, uint64_t elem, uint64_t total,
                         uint64_t *cursor)
{
    uint64_t len = count * elem; /* count < 2^32, elem <= 16: no overflow */

    if (off < *cursor || off > total || len > total - off)
        return -EBADMSG;
    if (off % 4 != 0)
        return -EBADMSG;
    *cursor = (uint64_t)off + len;
    return 0;
}

static int is_power_of_two(uint32_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* Every word is 0 or an index + 1 below limit, and at least one is 0, so a
 * probe always ends. */
static int check_index(const unsigned char *slots, uint32_t slot_count, uint32_t limit)
{
    uint32_t empty = 0;

    if (!is_power_of_two(slot_count))
        return -EBADMSG;
    for (uint32_t i = 0; i < slot_count; i++) {
        uint32_t v = load32(slots + 4 * (size_t)i);
        if (v == 0)
            empty++;
        else if (v > limit)
            return -EBADMSG;
    }
    return empty > 0 ? 0 : -EBADMSG;
}

int mkgf_validate(const void *data, size_t size, struct mkgf_view *view)
{
    const unsigned char *p = data;
    struct mkgf_view v;
    uint64_t cursor = MKGF_HEADER_SIZE;
    uint32_t offs[8];

    memset(view, 0, sizeof(*view));
    if (size < MKGF_HEADER_SIZE || memcmp(p, MKGF_MAGIC, 8) != 0)
        return -EBADMSG;
    if (load32(p + 8) != MKGF_VERSION)
        return -EPROTONOSUPPORT;
    if (load64(p + 24) != size || size > UINT32_MAX)
        return -EBADMSG;
    if (load64(p + MKGF_CHECKSUM_OFFSET) !=
        mkgf_checksum(p + MKGF_CHECKSUMMED_FROM, size - MKGF_CHECKSUMMED_FROM))
        return -EBADMSG;

    memset(&v, 0, sizeof(v));
    v.base = p;
    v.size = size;
    v.group_count = load32(p + 32);
    v.name_slots = load32(p + 36);
    v.gid_slots = load32(p + 40);
    v.member_ref_count = load32(p + 44);
    v.user_count = load32(p + 48);
    v.user_slots = load32(p + 52);
    v.user_group_count = load32(p + 56);
    v.string_size = load32(p + 60);
    for (int i = 0; i < 8; i++)
        offs[i] = load32(p + 64 + 4 * i);

    if (check_section(offs[0], v.group_count, MKGF_GROUP_RECORD, size, &cursor) < 0 ||
        check_section(offs[1], v.name_slots, 4, size, &cursor) < 0 ||
        check_section(offs[2], v.gid_slots, 4, size, &cursor) < 0 ||
        check_section(offs[3], v.member_ref_count, 4, size, &cursor) < 0 ||
        check_section(offs[4], v.user_count, MKGF_USER_RECORD, size, &cursor) < 0 ||
        check_section(offs[5], v.user_slots, 4, size, &cursor) < 0 ||
        check_section(offs[6], v.user_group_count, 4, size, &cursor) < 0 ||
        check_section(offs[7], v.string_size, 1, size, &cursor) < 0)
        return -EBADMSG;
    v.groups = p + offs[0];
    v.name_index = p + offs[1];
    v.gid_index = p + offs[2];
    v.member_refs = p + offs[3];
    v.users = p + offs[4];
    v.user_index = p + offs[5];
    v.user_groups = p + offs[6];
    v.strings = (const char *)p + offs[7];

    /* With the last byte NUL, every offset inside the pool starts a
     * terminated string. */
    if (v.string_size > 0 && v.strings[v.string_size - 1] != '\0')
        return -EBADMSG;

    if (check_index(v.name_index, v.name_slots, v.group_count) < 0 ||
        check_index(v.gid_index, v.gid_slots, v.group_count) < 0 ||
        check_index(v.user_index, v.user_slots, v.user_count) < 0)
        return -EBADMSG;

    for (uint32_t i = 0; i < v.member_ref_count; i++)
        if (load32(v.member_refs + 4 * (size_t)i) >= v.string_size)
            return -EBADMSG;
    for (uint32_t i = 0; i < v.group_count; i++) {
        const unsigned char *g = v.groups + (size_t)i * MKGF_GROUP_RECORD;
        uint64_t first = load32(g + 8), count = load32(g + 12), bytes = 0;
        if (load32(g) >= v.string_size || first + count > v.member_ref_count)
            return -EBADMSG;
        /* Packing trusts member_bytes to size the copy. */
        for (uint64_t m = first; m < first + count; m++)
            bytes += strlen(v.strings + load32(v.member_refs + 4 * m)) + 1;
        if (bytes != load32(g + 16))
            return -EBADMSG;
    }
    for (uint32_t i = 0; i < v.user_count; i++) {
        const unsigned char *u = v.users + (size_t)i * MKGF_USER_RECORD;
        uint64_t first = load32(u + 4), count = load32(u + 8);
        if (load32(u) >= v.string_size || first + count > v.user_group_count)
            return -EBADMSG;
    }
    for (uint32_t i = 0; i < v.user_group_count; i++)
        if (load32(v.user_groups + 4 * (size_t)i) >= v.group_count)
            return -EBADMSG;

    *view = v;
    return 0;
}

static void read_group(const struct mkgf_view *view, uint32_t index, struct mkgf_group *out)
{
    const unsigned char *g = view->groups + (size_t)index * MKGF_GROUP_RECORD;

    out->name = view->strings + load32(g);
    out->gid = load32(g + 4);
    out->first_member = load32(g + 8);
    out->member_count = load32(g + 12);
    out->member_bytes = load32(g + 16);
}

int mkgf_group_at(const struct mkgf_view *view, uint32_t index, struct mkgf_group *out)
{
    if (index >= view->group_count)
        return -ENOENT;
    read_group(view, index, out);
    return 0;
}

int mkgf_find_name(const struct mkgf_view *view, const char *name, struct mkgf_group *out)
{
    uint32_t mask = view->name_slots - 1;
    uint32_t slot = (uint32_t)mkgf_hash_string(name) & mask;

    /* Bounded even though validation guarantees an empty slot. */
    for (uint32_t probes = 0; probes < view->name_slots; probes++) {
        uint32_t v = load32(view->name_index + 4 * (size_t)slot);
        if (v == 0)
            break;
        read_group(view, v - 1, out);
        if (strcmp(out->name, name) == 0)
            return 0;
        slot = (slot + 1) & mask;
    }
    return -ENOENT;
}

int mkgf_find_gid(const struct mkgf_view *view, gid_t gid, struct mkgf_group *out)
{
    uint32_t mask = view->gid_slots - 1;
    uint32_t slot = (uint32_t)mkgf_hash_gid(gid) & mask;

    for (uint32_t probes = 0; probes < view->gid_slots; probes++) {
        uint32_t v = load32(view->gid_index + 4 * (size_t)slot);
        if (v == 0)
            break;
        read_group(view, v - 1, out);
        if (out->gid == gid)
            return 0;
        slot = (slot + 1) & mask;
    }
    return -ENOENT;
}

int mkgf_find_user(const struct mkgf_view *view, const char *user, struct mkgf_user *out)
{
    uint32_t mask = view->user_slots - 1;
    uint32_t slot = (uint32_t)mkgf_hash_string(user) & mask;

    for (uint32_t probes = 0; probes < view->user_slots; probes++) {
        uint32_t v = load32(view->user_index + 4 * (size_t)slot);
        const unsigned char *u;
        if (v == 0)
            break;
        u = view->users + (size_t)(v - 1) * MKGF_USER_RECORD;
        if (strcmp(view->strings + load32(u), user) == 0) {
            out->first_group = load32(u + 4);
            out->group_count = load32(u + 8);
            return 0;
        }
        slot = (slot + 1) & mask;
    }
    return -ENOENT;
}

const char *mkgf_group_member(const struct mkgf_view *view, const struct mkgf_group *group,
                              uint32_t i)
{
    return view->strings + load32(view->member_refs + 4 * ((size_t)group->first_member + i));
}

gid_t mkgf_user_gid(const struct mkgf_view *view, const struct mkgf_user *user, uint32_t i)
{
    uint32_t index = load32(view->user_groups + 4 * ((size_t)user->first_group + i));
    return load32(view->groups + (size_t)index * MKGF_GROUP_RECORD + 4);
}

/* ---- the per-process mapping ---- */

static long coarse_seconds(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
        return 0;
    return (long)ts.tv_sec;
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

void mkgf_reader_close(struct mkgf_reader *reader)
{
    if (reader->mapped)
        munmap(reader->map, reader->map_size);
    reader->mapped = 0;
    reader->map = NULL;
    reader->map_size = 0;
    memset(&reader->view, 0, sizeof(reader->view));
}

/* Only a regular file that root owns and only root can write becomes groups:
 * anyone else able to write it would choose the gids that root's chgrp, ACL
 * and sudoers lookups resolve. */
static int reader_may_trust(const struct stat *st)
{
    return S_ISREG(st->st_mode) && st->st_uid == 0 && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static int reader_open(struct mkgf_reader *reader, const char *path)
{
    struct stat st;
    void *map = MAP_FAILED;
    int fd = -1, r;

    mkgf_reader_close(reader);
    if (strlen(path) >= sizeof(reader->path)) {
        r = -ENAMETOOLONG;
        goto out;
    }
    /* Whatever sits at the path, the open returns at once: O_NONBLOCK keeps
     * a FIFO from waiting for a writer (a lookup must never hang), and
     * O_NOFOLLOW refuses a symlink (-ELOOP). Nothing is read before fstat
     * says what the descriptor is. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        r = -errno;
        goto out;
    }
    if (!reader_may_trust(&st)) {
        r = -EPERM;
        goto out;
    }
    /* A file already refused is not checked again until it changes, or a
     * second later (a same-size rewrite may keep inode and coarse mtime). */
    if (reader->bad_known && reader->bad_checked_at == coarse_seconds() &&
        reader->bad_dev == st.st_dev && reader->bad_ino == st.st_ino &&
        reader->bad_size == st.st_size && same_time(&reader->bad_mtime, &st.st_mtim)) {
        r = reader->bad_error;
        goto out;
    }
    if (st.st_size < (off_t)MKGF_HEADER_SIZE || (uint64_t)st.st_size > UINT32_MAX) {
        r = -EBADMSG;
        goto bad;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        r = -errno;
        goto out;
    }
    r = mkgf_validate(map, (size_t)st.st_size, &reader->view);
    if (r < 0)
        goto bad;

    reader->mapped = 1;
    reader->map = map;
    reader->map_size = (size_t)st.st_size;
    map = MAP_FAILED;
    reader->dev = st.st_dev;
    reader->ino = st.st_ino;
    reader->size = st.st_size;
    reader->mtime = st.st_mtim;
    reader->checked_at = coarse_seconds();
    reader->bad_known = 0;
    strcpy(reader->path, path);
    r = 0;
    goto out;
bad:
    reader->bad_known = 1;
    reader->bad_dev = st.st_dev;
    reader->bad_ino = st.st_ino;
    reader->bad_size = st.st_size;
    reader->bad_mtime = st.st_mtim;
    reader->bad_error = r;
    reader->bad_checked_at = coarse_seconds();
out:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    if (fd >= 0)
        close(fd);
    return r;
}

/* Cheap on the common path: a comparison of the path, one load of the mapped
 * flags word, and a coarse clock read; an lstat at most once a second, which
 * also sees the mapped file's owner or mode changed in place. */
static int reader_is_fresh(struct mkgf_reader *reader, const char *path)
{
    const volatile unsigned char *flags;
    uint32_t f;
    long now;
    struct stat st;

    if (!reader->mapped || strcmp(path, reader->path) != 0)
        return 0;
    flags = (const volatile unsigned char *)reader->map + MKGF_FLAGS_OFFSET;
    f = (uint32_t)flags[0] | (uint32_t)flags[1] << 8 | (uint32_t)flags[2] << 16 |
        (uint32_t)flags[3] << 24;
    if (f & MKGF_FLAG_RECYCLED)
        return 0;
    now = coarse_seconds();
    if (now == reader->checked_at)
        return 1;
    reader->checked_at = now;
    /* lstat: a symlink put in the file's place is a change (and refused). */
    if (lstat(path, &st) != 0 || !reader_may_trust(&st))
        return 0;
    return st.st_dev == reader->dev && st.st_ino == reader->ino && st.st_size == reader->size &&
           same_time(&st.st_mtim, &reader->mtime);
}

int mkgf_reader_get(struct mkgf_reader *reader, const char *path, const struct mkgf_view **view)
{
    int r = 0;

    if (!reader_is_fresh(reader, path))
        r = reader_open(reader, path);
    *view = r == 0 ? &reader->view : NULL;
    return r;
}
