/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/groupfile/writer.h: the compiled group file that the NSS module maps.
 *
 * The store (writer) and nss/ (reader) share this format and nothing else.
 * groupfile/writer.c may use anything; groupfile/reader.c links nothing but libc,
 * because it is compiled into libnss_mkio.so.2.
 */
#ifndef MK_GROUPFILE_H
#define MK_GROUPFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "groupfile/reader.h"


struct mk_group_entry {
    const char *name;
    gid_t gid;
    const char *const *members;
    size_t member_count;
};

/* Writes the groups to path atomically: a temporary file in the same
 * directory, mode 0644, fsync, rename over path, fsync of the directory;
 * then marks the replaced file as recycled in its header, for a reader
 * that maps the file (ours sees the replacement by fstat: groupfile/reader.h,
 * CHANGED UNDER A READER). Names and gids must be unique (the caller ensures it).
 * Returns 0 or a negative errno. */
int mk_groupfile_write(const char *path, const struct mk_group_entry *groups, size_t n);

/* Publishes an image mk_groupfile_encode made, byte for byte, as the file
 * name (no '/') in dirfd: the same atomic replacement (common/base/atomicfile.h,
 * mode 0644) and recycled mark of the replaced file as mk_groupfile_write,
 * which is encode + this. The store encodes once, compares the bytes with
 * the current file (mk_atomicfile_same, ignoring the flags word) and
 * publishes the same bytes. Returns 0; -EINVAL when image does not start
 * with a group-file header; -EIO when only the directory fsync failed (the
 * new file is in place and the old one marked); another negative errno, and
 * name untouched, otherwise. */
int mk_groupfile_publish_at(int dirfd, const char *name, const unsigned char *image,
                            size_t size);

/* Encodes the groups into the bytes of a group file (the format in
 * groupfile/reader.h), the same bytes mk_groupfile_write writes: *out is
 * malloc'd, the caller frees it. The store compares them with the current
 * file to skip a write that would change nothing. Returns 0, -EINVAL (a bad
 * or duplicate name or gid, a member listed twice in a group), -E2BIG or
 * -ENOMEM. */
int mk_groupfile_encode(const struct mk_group_entry *groups, size_t n, unsigned char **out,
                        size_t *size);

/* The reader's interface is declared in groupfile/reader.h. */

#endif
