/* common/groupfile_read.h: the compiled group file, its format and its reader.
 *
 * groupfile_read.c links nothing but libc: it is compiled into
 * libnss_mkio.so.2. groupfile_write.c (libmkio.a) builds the same format.
 *
 * FORMAT, version 1. All integers little-endian; every section is an array of
 * 32-bit words except the string pool; every offset is from the start of the
 * file and fits 32 bits (files are smaller than 4 GiB).
 *
 *   off  size  field
 *     0     8  magic "MKIOGRP\0"
 *     8     4  version (1)
 *    12     4  flags: bit 0 "recycled". The writer sets it in the replaced
 *              file after the rename; readers see it through MAP_SHARED and
 *              remap. Not covered by the checksum (it changes after writing).
 *    16     8  checksum: 64-bit FNV-1a over the bytes [24, total_size), taken
 *              as little-endian 64-bit words (the last 0-7 bytes one by one).
 *    24     8  total_size: the file's size
 *    32     4  group_count        48     4  user_count
 *    36     4  name_slots         52     4  user_slots
 *    40     4  gid_slots          56     4  user_group_count
 *    44     4  member_ref_count   60     4  string_size
 *    64    32  section offsets, in this order and in file order, each at or
 *              after the end of the one before: groups, name_index,
 *              gid_index, member_refs, users, user_index, user_groups, strings
 *    96        end of header
 *
 * Sections:
 *   groups       group_count x {name (string offset), gid, first member ref,
 *                member count, member bytes (the sum of strlen + 1 over the
 *                members, so a caller's buffer is sized without a walk)}:
 *                the groups in the writer's order (getgrent).
 *   name_index   name_slots words (a power of two, more than group_count):
 *                open addressing, linear probing from mkgf_hash_string(name);
 *                a word is 0 (empty) or group index + 1.
 *   gid_index    gid_slots words, the same, probing from mkgf_hash_gid(gid).
 *   member_refs  member_ref_count string offsets: the members of every group.
 *   users        user_count x {name (string offset), first user_group,
 *                group count}: every member name, for initgroups.
 *   user_index   user_slots words, like name_index, over user names.
 *   user_groups  user_group_count group indices.
 *   strings      string_size bytes of NUL-terminated strings; the last byte
 *                is NUL. Names and members are strings without ':' ',' '\n'.
 *
 * A file with no groups is valid. The reader validates all of it once, when it
 * maps it (mkgf_validate); lookups then trust the offsets.
 */
#ifndef MK_GROUPFILE_READ_H
#define MK_GROUPFILE_READ_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MKGF_MAGIC "MKIOGRP"  /* 8 bytes with its NUL */
#define MKGF_VERSION 1u
#define MKGF_FLAG_RECYCLED 1u
#define MKGF_HEADER_SIZE 96u
#define MKGF_FLAGS_OFFSET 12u
#define MKGF_CHECKSUM_OFFSET 16u
#define MKGF_CHECKSUMMED_FROM 24u
#define MKGF_GROUP_RECORD 20u
#define MKGF_USER_RECORD 12u

static inline uint64_t mkgf_hash_string(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static inline uint64_t mkgf_hash_gid(uint32_t gid)
{
    uint64_t h = (uint64_t)gid * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* The checksum of the format (see above) over data[0..size). */
uint64_t mkgf_checksum(const unsigned char *data, size_t size);

/* A validated file in memory. Pointers point into the caller's bytes. */
struct mkgf_view {
    const unsigned char *base;
    size_t size;
    uint32_t group_count, name_slots, gid_slots, member_ref_count;
    uint32_t user_count, user_slots, user_group_count, string_size;
    const unsigned char *groups, *name_index, *gid_index, *member_refs;
    const unsigned char *users, *user_index, *user_groups;
    const char *strings;
};

struct mkgf_group {
    const char *name;
    gid_t gid;
    uint32_t member_count;
    uint32_t first_member;  /* index into member_refs */
    uint32_t member_bytes;  /* sum of strlen + 1 over the members */
};

struct mkgf_user {
    uint32_t group_count;
    uint32_t first_group;   /* index into user_groups */
};

/* Checks everything in data[0..size) (magic, version, sizes, every offset and
 * count, string termination, checksum) and fills view. Returns 0,
 * -EPROTONOSUPPORT for another version, or -EBADMSG for anything else. */
int mkgf_validate(const void *data, size_t size, struct mkgf_view *view);

/* Lookups on a validated view. Return 0 or -ENOENT. */
int mkgf_group_at(const struct mkgf_view *view, uint32_t index, struct mkgf_group *out);
int mkgf_find_name(const struct mkgf_view *view, const char *name, struct mkgf_group *out);
int mkgf_find_gid(const struct mkgf_view *view, gid_t gid, struct mkgf_group *out);
int mkgf_find_user(const struct mkgf_view *view, const char *user, struct mkgf_user *out);

/* Member i (< group->member_count) of a group. */
const char *mkgf_group_member(const struct mkgf_view *view, const struct mkgf_group *group,
                              uint32_t i);
/* Gid of the i-th group (< user->group_count) of a user. */
gid_t mkgf_user_gid(const struct mkgf_view *view, const struct mkgf_user *user, uint32_t i);

/* A file mapped once per process and kept fresh. Not thread-safe: callers
 * serialize every use (nss/ holds one mutex around each lookup), which also
 * keeps a view valid until the caller is done with it. Zero-initialize. */
struct mkgf_reader {
    int mapped;
    void *map;
    size_t map_size;
    struct mkgf_view view;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    long checked_at;          /* CLOCK_MONOTONIC_COARSE seconds of the last stat */
    int bad_known;            /* the file with this identity failed validation */
    dev_t bad_dev;
    ino_t bad_ino;
    off_t bad_size;
    struct timespec bad_mtime;
    int bad_error;
    long bad_checked_at;
    char path[PATH_MAX];      /* the path the mapped file was opened at */
};

/* Gives a view of the file at path. The caller chooses the path: the shipped
 * NSS module always passes MK_GROUPFILE_DEFAULT_PATH and reads no environment
 * (architecture invariant 1); only its test build (nss/nss_mkio.c with
 * MK_GROUPFILE_TEST_OVERRIDE) takes one from MKIO_GROUP_FILE.
 *
 * The open never blocks and never follows a symlink (O_NONBLOCK, O_NOFOLLOW:
 * -ELOOP), and before a byte is read or mapped, fstat on the descriptor must
 * show a regular file that root owns and that neither group nor others may
 * write; anything else (a FIFO, a directory, a device, another owner) is
 * refused with -EPERM. Freshness: every call looks at the mapped file's
 * recycled flag and compares path with the mapped one; at most once a second
 * it also lstats the path and remaps if the inode, device, size or mtime
 * changed, or the owner or mode no longer passes. Returns 0, -ENOENT (no
 * file), -EPERM or -ELOOP (refused before reading), -EBADMSG or
 * -EPROTONOSUPPORT (refused content), or another negative errno. The view
 * stays valid until the next call. */
int mkgf_reader_get(struct mkgf_reader *reader, const char *path, const struct mkgf_view **view);

/* Unmaps; the reader can be used again afterwards. */
void mkgf_reader_close(struct mkgf_reader *reader);

#endif
