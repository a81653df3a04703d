/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/gidmap.h: which gids the calling process's user namespace can
 * map, from /proc/self/gid_map (user_namespaces(7)): lines of `INSIDE
 * OUTSIDE COUNT`, gids INSIDE..INSIDE+COUNT-1 mapped. Outside a user
 * namespace the map is `0 0 4294967295`: every gid. A gid outside the map
 * cannot be passed to setgroups (EINVAL), which is why initgroups leaves
 * such a group out (docs/ARCHITECTURE.md, invariant 3). libc only, no
 * allocation: the NSS module reads it at most once per tick of the coarse
 * clock (base/clock.h), at an initgroups call. */
#ifndef MK_BASE_GIDMAP_H
#define MK_BASE_GIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MK_GIDMAP_PATH "/proc/self/gid_map"

/* The kernel's bound on the lines of one map (Linux 4.15 and later). */
#define MK_GIDMAP_EXTENTS_MAX 340

/* gids first..first+count-1 (inside the namespace) are mapped. */
struct mk_gidmap_extent {
    uint32_t first;
    uint32_t count;
};

struct mk_gidmap {
    bool all;       /* every gid maps: the identity map (not a user namespace),
                     * or no map could be read (no filtering) */
    size_t count;   /* extents, sorted by first, not overlapping */
    struct mk_gidmap_extent extents[MK_GIDMAP_EXTENTS_MAX];
};

/* Parses len bytes of map text into m. An empty text is an empty map (a
 * namespace whose map is not written yet: no gid maps). Returns 0, or
 * -EINVAL for a malformed line (or more than MK_GIDMAP_EXTENTS_MAX lines);
 * m is then `all` (no filtering). */
int mk_gidmap_parse(const char *text, size_t len, struct mk_gidmap *m);

/* Reads and parses the map at path (NULL: MK_GIDMAP_PATH) with one open
 * (O_CLOEXEC) and a fixed buffer. Returns 0, or a negative errno: a missing
 * or unreadable file leaves m `all` (no filtering). */
int mk_gidmap_read(const char *path, struct mk_gidmap *m);

/* Whether gid is mapped. O(1) for `all`, else O(log count). */
bool mk_gidmap_has(const struct mk_gidmap *m, uint32_t gid);

/* Whether every gid of lo..hi is mapped. */
bool mk_gidmap_covers(const struct mk_gidmap *m, uint32_t lo, uint32_t hi);

/* The map as "0-65535" or "0-999,2000-2999" (the first extents, then
 * ",..."), into buf (NUL-terminated, truncated to len); "all" for `all`. */
void mk_gidmap_describe(const struct mk_gidmap *m, char *buf, size_t len);

#endif
