/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nss/etc_group.h: the local groups file as initgroups needs it, read
 * directly (no NSS call from inside an NSS module). Not exported. */
#ifndef MK_NSS_ETC_GROUP_H
#define MK_NSS_ETC_GROUP_H

#include <stddef.h>
#include <sys/types.h>

struct mk_nss_etc_entry {
    gid_t gid;
    const char *name;   /* NUL-terminated, inside the file's bytes */
};

/* The file's groups, sorted by gid. */
struct mk_nss_etc_group {
    char *text;
    struct mk_nss_etc_entry *entries;
    size_t count;
};

/* Reads and parses the group(5) file at path (opened O_CLOEXEC, no
 * symlink restriction: /etc/group is the administrator's). Lines that are
 * empty, comments, NIS compat entries (+, -) or malformed are skipped.
 * Returns 0, or a negative errno (*out is then empty and may be freed). */
int mk_nss_etc_group_load(const char *path, struct mk_nss_etc_group *out);

/* Whether the file has a group at gid: 1 or 0. O(log count). */
int mk_nss_etc_group_has(const struct mk_nss_etc_group *etc, gid_t gid);

/* Whether the file gives gid to a group whose name is not name (len
 * bytes): 1 or 0. O(log count). */
int mk_nss_etc_group_other(const struct mk_nss_etc_group *etc, gid_t gid, const char *name,
                           size_t len);

void mk_nss_etc_group_free(struct mk_nss_etc_group *etc);

#endif
