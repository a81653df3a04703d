/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nss/etc_group.h: the local groups file as initgroups needs it, read
 * directly (no NSS call from inside an NSS module). Not exported. */
#ifndef MK_NSS_ETC_GROUP_H
#define MK_NSS_ETC_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct mk_nss_etc_entry {
    gid_t gid;
    const char *name;   /* NUL-terminated, inside the file's bytes */
};

/* The file's groups, sorted by gid, and which file they were read from
 * (mk_nss_etc_group_refresh). Zero-initialize. */
struct mk_nss_etc_group {
    char *text;
    struct mk_nss_etc_entry *entries;
    size_t count;
    char *path;              /* NULL: nothing read yet */
    int present;             /* stat found a file at path */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    int64_t checked_tick;    /* mk_clock_tick() at the last stat */
};

/* Reads and parses the group(5) file at path (opened O_CLOEXEC, no
 * symlink restriction: /etc/group is the administrator's). Lines that are
 * empty, comments, NIS compat entries (+, -) or malformed are skipped.
 * Returns 0, or a negative errno (*out is then empty and may be freed). */
int mk_nss_etc_group_load(const char *path, struct mk_nss_etc_group *out);

/* Keeps etc the content of the file at path as of the last tick of the
 * coarse clock (base/clock.h, mk_clock_tick: 1 to 10 ms): at most one stat
 * per tick, and a new read only when the stat shows a change (device,
 * inode, size, mtime, ctime): shadow's tools and editors replace /etc/group
 * by rename (a new inode), an edit in place changes its times. The stat
 * cost 40% of glibc's whole initgroups dispatch at every call; a groupadd
 * is seen by the first call a tick after it. A missing or unreadable file gives no
 * groups. Returns 0, or -ENOMEM (etc is then empty). */
int mk_nss_etc_group_refresh(struct mk_nss_etc_group *etc, const char *path);

/* Whether the file has a group at gid: 1 or 0. O(log count). */
int mk_nss_etc_group_has(const struct mk_nss_etc_group *etc, gid_t gid);

/* Whether the file gives gid to a group whose name is not name (len
 * bytes): 1 or 0. O(log count). */
int mk_nss_etc_group_other(const struct mk_nss_etc_group *etc, gid_t gid, const char *name,
                           size_t len);

void mk_nss_etc_group_free(struct mk_nss_etc_group *etc);

#endif
