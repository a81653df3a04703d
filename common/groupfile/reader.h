/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/groupfile/reader.h: the compiled group file, its format and its reader.
 *
 * groupfile/reader.c links nothing but libc: it is compiled into
 * libnss_mkio.so.2. groupfile/writer.c (libmkio-groupfile.a) builds the same format.
 *
 * FORMAT, version 2. All integers little-endian; every section but the
 * member pool and the string pool is an array of 32-bit words and starts at
 * a multiple of 4; every offset fits 32 bits (files are smaller than 4 GiB).
 *
 *   off  size  field
 *     0     8  magic "MKIOGRP\0"
 *     8     4  version (2). Version 1 files are refused (-EPROTONOSUPPORT):
 *              the store rewrites groups.db after an upgrade, its bytes
 *              differ.
 *    12     4  flags: bit 0 "recycled". The writer sets it in the replaced
 *              file after the rename (for readers that map the file; this
 *              one sees the replacement by fstat: CHANGED UNDER A READER).
 *              Not covered by the checksum (it changes after writing).
 *    16     8  checksum: 64-bit FNV-1a over the bytes [24, total_size), taken
 *              as little-endian 64-bit words (the last 0-7 bytes one by one).
 *              Only mkgf_verify (the writer's tests, `mkio-orgs status
 *              --verify`) reads it: it is whole-file, and a reader's open is
 *              O(1) in the file's size.
 *    24     8  total_size: the file's size
 *    32     4  group_count        48     4  user_count
 *    36     4  name_slots         52     4  user_slots
 *    40     4  gid_slots          56     4  user_gid_count
 *    44     4  member_pool_size   60     4  string_size
 *    64    32  section offsets, in this order and in file order, each at or
 *              after the end of the one before: groups, name_index,
 *              gid_index, member_pool, users, user_index, user_gids, strings
 *    96        end of header
 *
 * Sections:
 *   groups       group_count x 20 bytes {name (string offset), gid, member
 *                count, members (byte offset into member_pool), member bytes
 *                (the length of the group's run in member_pool)}: the groups
 *                in the writer's order (getgrent).
 *   name_index   name_slots words (a power of two, more than group_count):
 *                open addressing, linear probing from mkgf_hash_string(name);
 *                a word is 0 (empty) or group index + 1.
 *   gid_index    gid_slots words, the same, probing from mkgf_hash_gid(gid).
 *   member_pool  member_pool_size bytes: each group's members, one run per
 *                group, runs in group order; a run is the member count's
 *                16-bit lengths (1 to 65535), then the names, each followed
 *                by a NUL, in the group's order. A reader copies a run's
 *                names into the caller's buffer with one memcpy and points
 *                gr_mem at them from a running sum of the lengths (one
 *                pass; each length checked, and each NUL checked in the
 *                copy, which the file cannot change). Padded with NULs to a
 *                multiple of 4 (the padding belongs to no group).
 *   users        user_count x 12 bytes {name (string offset), first (index
 *                into user_gids), group count}: every member name, for
 *                initgroups.
 *   user_index   user_slots words, like name_index, over user names.
 *   user_gids    user_gid_count gids: each user's groups, in group order.
 *   strings      string_size bytes of NUL-terminated strings (group and user
 *                names). Names and members are strings without ':' ',' '\n'.
 *
 * A file with no groups is valid.
 *
 * TRUST. Opening checks the header only (magic, version, size, section
 * bounds): O(1) in the file's size. Nothing after the header is trusted:
 * every offset, count and string is checked when it is used, against the
 * bounds of its section as the header (read once, into the view) gives
 * them, and each field of the file is loaded once, so a byte changed between
 * a check and its use cannot widen what is read. A group's member run is
 * checked after it is copied out, in memory the file cannot change. A file
 * whose bytes are wrong in a place no lookup reads answers normally; a
 * lookup that meets a wrong record answers -EBADMSG.
 *
 * CHANGED UNDER A READER. The reader (mkgf_reader_get) keeps the descriptor
 * of the file it opened and asks the kernel whether it is still the file to
 * answer from: fstat of that descriptor (st_nlink == 0, inode, size, mtime,
 * ctime, owner and mode), at most once per tick of the kernel's coarse
 * clock (base/clock.h, mk_clock_tick: 1 to 10 ms), and at most once a
 * second also an lstat of the path. Any change makes it open the path again
 * (header only), so a file replaced, truncated or rewritten in place answers
 * from its new content, or -EBADMSG/-ENOENT, from the first lookup that
 * starts a tick after the change. Lookups inside the tick of the last check
 * answer from the pages already copied, private memory that no change of the
 * file can touch. A lookup that needs a page not copied yet proves first,
 * with its own fstat, that the file is still the one checked (struct
 * mkgf_pages, `proven`); if it is not, the lookup fails, mkgf_reader_stale
 * says so, and the caller retries once after a full check. So every byte
 * copied from the file is copied right after an fstat found the file
 * unchanged, as when every lookup made one.
 *
 * Why once per tick: that fstat cost as much as glibc's whole dispatch of a
 * lookup (0.2 of 0.45 µs on the bench machine), while a burst of lookups
 * (ls -l, id, sudo, a busy nscd) meets the same file hundreds of times per
 * tick. What it gives up is bounded: a change is seen one tick later than
 * when every lookup made an fstat, nothing is copied from a changed file
 * meanwhile (the rule above), and most filesystems stamp a file's times from
 * that same coarse clock, so an fstat never told apart two contents written
 * in place inside one tick anyway.
 *
 * The reader maps nothing of the file. A shared mapping of a file faults
 * (SIGBUS) when the file is truncated between a check and an access, and
 * no check without a system call can close that window: a restore with
 * `: > groups.db; cp saved groups.db` killed enumerating and looking-up
 * processes alike. Instead the reader reserves private anonymous memory of
 * the file's size at the open (O(1): the kernel gives pages on first touch)
 * and copies each MKGF_PAGE-byte page of the file into it with pread the
 * first time a lookup needs a byte of it (struct mkgf_pages). A warm lookup
 * makes no system call beyond the fstat; a fresh process's first lookup
 * makes one pread per page it reads, where a mapping took one page fault
 * per page. A page read short (the file shrank under the lookup) fails it
 * with -EBADMSG, and the next check sees the new size. Pages copied at different
 * times may come from different contents of the file; that is one more
 * "byte changed under the reader", which the checks at use cover.
 *
 * The recycled flag stays in the format and the writer still sets it, but
 * this reader does not read it (reading it would mean touching the file
 * again after the fstat): the writer's rename leaves the replaced inode with
 * no link, which the fstat sees, and a replaced file that keeps another
 * link is seen by the once-a-second lstat.
 */
#ifndef MK_GROUPFILE_READ_H
#define MK_GROUPFILE_READ_H

/* Where the NSS module looks, always: the shipped libnss_mkio.so.2 reads no
 * environment variable (docs/ARCHITECTURE.md, invariant 1). Only the test build of the
 * module (build/tests/libnss_mkio_test.so.2, never installed) takes a path
 * from MKIO_GROUP_FILE (nss/nss_mkio.h). */
#ifndef MK_GROUPFILE_DEFAULT_PATH
#define MK_GROUPFILE_DEFAULT_PATH "/var/lib/mkio/groups.db"
#endif

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "base/clock.h"
#include "base/hash.h"

#define MKGF_MAGIC "MKIOGRP"  /* 8 bytes with its NUL */
#define MKGF_VERSION 2u
#define MKGF_FLAG_RECYCLED 1u
#define MKGF_HEADER_SIZE 96u
#define MKGF_FLAGS_OFFSET 12u
#define MKGF_CHECKSUM_OFFSET 16u
#define MKGF_CHECKSUMMED_FROM 24u
#define MKGF_GROUP_RECORD 20u
#define MKGF_USER_RECORD 12u
#define MKGF_MEMBER_PREFIX 2u     /* the 16-bit length of each member in a run */
#define MKGF_MEMBER_MAX 65535u    /* the longest member name */
#define MKGF_PAGE 4096u           /* what the reader copies from the file at a time */

static inline uint64_t mkgf_hash_string(const char *s)
{
    return mk_fnv1a_str(s);
}

static inline uint64_t mkgf_hash_gid(uint32_t gid)
{
    uint64_t h = (uint64_t)gid * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

/* The checksum of the format (see above) over data[0..size). */
uint64_t mkgf_checksum(const unsigned char *data, size_t size);

/* What fstat said of the open file when it was opened: what a later fstat
 * must find again (with a link left and the same size) for the copy to
 * stand. */
struct mkgf_stamp {
    dev_t dev;
    ino_t ino;
    uid_t uid;
    mode_t mode;
    struct timespec mtime, ctime;
};

/* The reader's private copy of a file, filled a page at a time from fd (see
 * CHANGED UNDER A READER): copy holds size bytes, of which page i is valid
 * once bit i of loaded is set. A page is copied only while proven (an fstat
 * in this call found the file as stamp says); else the copy first makes
 * that fstat, and if the file changed it sets stale and copies nothing. */
struct mkgf_pages {
    int fd;
    unsigned char *copy;
    unsigned char *loaded;
    size_t size;
    struct mkgf_stamp stamp;
    int proven;
    int stale;
};

/* A file in memory: the header's values (a private copy, checked) and
 * pointers into the caller's bytes, which may still change under it. With
 * pages (the reader's views), the bytes are a copy that lookups fill as they
 * read it; without (NULL), all size bytes are there. */
struct mkgf_view {
    const unsigned char *base;
    size_t size;
    uint32_t group_count, name_slots, gid_slots, member_pool_size;
    uint32_t user_count, user_slots, user_gid_count, string_size;
    const unsigned char *groups, *name_index, *gid_index, *member_pool;
    const unsigned char *users, *user_index, *user_gids;
    const char *strings;
    struct mkgf_pages *pages;
};

struct mkgf_group {
    const char *name;       /* name_len bytes, then a NUL when it was read */
    uint32_t name_len;
    gid_t gid;
    uint32_t member_count;
    uint32_t members;       /* byte offset of the group's run in member_pool */
    uint32_t member_bytes;  /* the run's length, inside member_pool */
};

struct mkgf_user {
    uint32_t group_count;
    uint32_t first_group;   /* index into user_gids, the run inside it */
};

/* O(1): checks header (MKGF_HEADER_SIZE bytes that cannot change under the
 * call: a private copy, or data itself when it is private) against size:
 * magic, version, total size, and that every section lies inside data, in
 * order. Fills view with pointers into data. Returns 0, -EPROTONOSUPPORT for
 * another version, or -EBADMSG. */
int mkgf_view_init(const unsigned char *header, const void *data, size_t size,
                   struct mkgf_view *view);

/* Whole-file verification, O(size): the header, the checksum, every record,
 * string, member run and index slot, and that each group is found by its
 * name and gid and each user by name. For the writer's tests and `mkio-orgs
 * status --verify`, never on a reader's path. data must not change during
 * the call. Returns 0, -EPROTONOSUPPORT or -EBADMSG. */
int mkgf_verify(const void *data, size_t size);

/* mkgf_verify of the regular file at path, read (not mapped) into memory.
 * Returns 0, -EPROTONOSUPPORT, -EBADMSG, or the negative errno of opening
 * or reading it (-EFBIG past 4 GiB). */
int mkgf_verify_path(const char *path);

/* mkgf_verify, then mkgf_view_init: a view of a verified image. */
int mkgf_validate(const void *data, size_t size, struct mkgf_view *view);

/* Lookups, each record checked as it is read. Return 0, -ENOENT (no such
 * entry) or -EBADMSG (a record or index slot that the header's bounds
 * refuse). */
int mkgf_group_at(const struct mkgf_view *view, uint32_t index, struct mkgf_group *out);
int mkgf_find_name(const struct mkgf_view *view, const char *name, struct mkgf_group *out);
int mkgf_find_gid(const struct mkgf_view *view, gid_t gid, struct mkgf_group *out);
int mkgf_find_user(const struct mkgf_view *view, const char *user, struct mkgf_user *out);
/* Gid i (< user->group_count) of a user: 0, or -EBADMSG. */
int mkgf_user_gid(const struct mkgf_view *view, const struct mkgf_user *user, uint32_t i,
                  gid_t *gid);

/* The bytes of a group's member names with their NULs: what
 * mkgf_copy_members writes (member_bytes less the lengths). */
size_t mkgf_member_string_bytes(const struct mkgf_group *group);

/* Copies the group's member names (mkgf_member_string_bytes(group) bytes,
 * the run checked inside member_pool by the lookup that filled group) to
 * dst, then points mem[i] at member i in dst, for i < member_count, in one
 * pass. Returns 0, or -EBADMSG if the copy is not exactly member_count
 * well-formed members (dst's bytes and mem's pointers are then
 * unspecified). */
int mkgf_copy_members(const struct mkgf_view *view, const struct mkgf_group *group, char *dst,
                      char **mem);

/* Member i of a group of a view whose bytes do not change (a verified
 * image): a pointer into the view, or NULL if i or the run is out of
 * bounds. O(i): for tests and tools; lookups use mkgf_copy_members. */
const char *mkgf_group_member(const struct mkgf_view *view, const struct mkgf_group *group,
                              uint32_t i);

/* A file opened once per process, copied in as it is read, and kept fresh.
 * Not thread-safe: callers serialize every use (nss/ holds one mutex around
 * each lookup), which also keeps a view valid until the caller is done with
 * it. Zero-initialize (fd 0 with mapped 0 means no descriptor). */
struct mkgf_reader {
    int mapped;               /* a file is open and its copy reserved */
    int fd;                   /* the file's descriptor, kept open */
    void *map;                /* the private copy, then its page bitmap */
    size_t map_size;          /* the file's size when it was opened */
    size_t map_length;        /* the bytes reserved at map */
    struct mkgf_pages pages;
    struct mkgf_view view;
    /* The clock the checks are paced by: NULL is mk_clock_tick
     * (base/clock.h); a test passes its own (kept by close and open). */
    int64_t (*tick)(void);
    int64_t checked_tick;     /* its value at the last fstat that found the file unchanged */
    int64_t lstat_second;     /* its second at the last lstat */
    char path[PATH_MAX];      /* the path the open file was opened at */
};

/* Gives a view of the file at path. The caller chooses the path: the shipped
 * NSS module always passes MK_GROUPFILE_DEFAULT_PATH and reads no environment
 * (docs/ARCHITECTURE.md, invariant 1); only its test build (which links
 * tests/nss/group_file_env.c, nss/nss_mkio.h) takes one from MKIO_GROUP_FILE.
 *
 * The open never blocks and never follows a symlink (O_NONBLOCK, O_NOFOLLOW:
 * -ELOOP), and before a byte is read, fstat on the descriptor must
 * show a regular file that root owns and that neither group nor others may
 * write; anything else (a FIFO, a directory, a device, another owner) is
 * refused with -EPERM. The header is read with pread into a private copy and
 * checked (mkgf_view_init); then memory for the copy is reserved. O(1) in
 * its size.
 *
 * Freshness: path is compared with the open one on every call; fstat of the
 * kept descriptor once per tick, and an lstat of path at most once a second
 * (CHANGED UNDER A READER above). Returns 0, -ENOENT (no file), -EPERM or -ELOOP (refused before
 * reading), -EBADMSG or -EPROTONOSUPPORT (refused header), or another
 * negative errno (-ENOMEM, -EIO...). The view stays valid until the next
 * call. */
int mkgf_reader_get(struct mkgf_reader *reader, const char *path, const struct mkgf_view **view);

/* After a lookup on the view of the last mkgf_reader_get failed: whether it
 * failed because it needed a page not copied yet and the file had changed
 * since the last check (CHANGED UNDER A READER). If so (1), the next
 * mkgf_reader_get checks the file before it answers, and the caller retries
 * the lookup once with that view: after a check in the same call, no page
 * copy can be refused again. 0: the failure stands. */
int mkgf_reader_stale(struct mkgf_reader *reader);

/* Frees the copy and closes; the reader can be used again afterwards. */
void mkgf_reader_close(struct mkgf_reader *reader);

/* Forgets the copy and descriptor without unmapping or closing them:
 * for a child process whose reader state may have been half-updated by a
 * thread that no longer exists (nss/nss_mkio.c). Leaks one reservation and one
 * close-on-exec descriptor. */
void mkgf_reader_abandon(struct mkgf_reader *reader);

#endif
