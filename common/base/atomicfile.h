/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/atomicfile.h: replacing a file so that a reader, or a writer killed
 * at any instant, sees the old file or the new one and nothing else
 * (docs/ARCHITECTURE.md, invariant 4). The store (store.json) and the group-file
 * writer (groups.db) both write through here.
 *
 * Everything works on a directory descriptor the caller opened and checked
 * (the store opens its state directory once, without following a link). A
 * replacement is: a temporary file NAME.tmp.XXXXXX (six letters or digits,
 * common/base/tempname.h) created with O_EXCL, written, fsync'd, renamed over
 * NAME, then an fsync of the directory (both fsyncs may be left out for
 * advisory files: mk_atomicfile_replace_flags). Writers serialize with a
 * lock file (flock, polled until a timeout); while holding it, a writer may remove the
 * temporary files that killed writers left. Functions return 0 or a
 * negative errno.
 */
#ifndef MK_ATOMICFILE_H
#define MK_ATOMICFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/log.h"

/* Takes an exclusive flock on fd, polling until timeout_ms have passed:
 * -EWOULDBLOCK then. One descriptor per caller (a fresh open), so that
 * threads of one process serialize too. */
int mk_atomicfile_lock(int fd, long timeout_ms);

/* Replaces name (no '/') in dirfd with data[0..len), mode given, as
 * described above. With replaced non-NULL, *replaced is a read-write
 * descriptor of the file that was replaced, opened just before the rename
 * (-1 when there was none): the group-file writer marks it for the readers
 * that still map it. The caller closes it. On failure name is untouched
 * (or, when only the directory fsync failed, already replaced: -EIO then,
 * and *replaced is still set) and no temporary file is left. */
int mk_atomicfile_replace(int dirfd, const char *name, mode_t mode, const void *data,
                          size_t len, int *replaced);

/* What mk_atomicfile_replace_flags may leave out. */
#define MK_ATOMICFILE_NO_FSYNC 1u   /* neither the file's fsync nor the directory's */
#define MK_ATOMICFILE_LOCKED 2u     /* the caller holds the writers' lock of name: the
                                     * temporary file is NAME.tmp.000000, and what a
                                     * killed writer left there is removed first */

/* mk_atomicfile_replace, with flags. MK_ATOMICFILE_LOCKED gives a writer
 * that holds the lock one temporary name per file instead of a random one,
 * so that it cleans up after a killed writer of the same file in O(1),
 * without listing the directory (mk_atomicfile_remove_stale lists it, and
 * counts NAME.tmp.000000 a temporary file too). MK_ATOMICFILE_NO_FSYNC keeps the
 * temporary file and the rename (a reader still sees the old bytes or the
 * new ones, never a torn file) and gives up durability: after a crash the
 * name may hold the old bytes, the new ones, or an empty file (over an
 * existing file the new one is put in place by an exchange of names and
 * an unlink of the old one, which spares ext4's writeback of a renamed
 * file). Only for advice a reader can lose, such as the users'
 * refresh records (store/userstate.h); never for the store or groups.db
 * (docs/ARCHITECTURE.md, invariant 4). */
int mk_atomicfile_replace_flags(int dirfd, const char *name, mode_t mode, const void *data,
                                size_t len, int *replaced, unsigned flags);

/* 1 when name in dirfd is a regular file whose bytes are exactly data,
 * except for the ignore_len bytes at ignore_off (0, 0: compare all); 0 when
 * it differs or is missing; a negative errno when it cannot be read. Opens
 * without following a link or waiting on a FIFO. */
int mk_atomicfile_same(int dirfd, const char *name, const void *data, size_t len,
                       size_t ignore_off, size_t ignore_len);

/* Whether entry (a name in the directory) is a temporary file of a
 * replacement of name: NAME.tmp.XXXXXX, or .NAME.XXXXXX (what the store's
 * earlier versions made). */
bool mk_atomicfile_is_temp(const char *entry, const char *name);

/* Removes, in dirfd, every temporary file of the given names. Only under
 * the lock, when no live writer has one. Failures are reported to sink
 * (dir names the directory in messages), never returned: a stray file
 * costs space, never correctness. */
void mk_atomicfile_remove_stale(int dirfd, const char *dir, const char *const *names,
                                size_t n, const struct mk_log_sink *sink);

#endif
