/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/fileio.h: reading a whole file, bounded.
 *
 * A file's size (fstat) is a hint, not a promise: the file can grow or
 * shrink under the reader. So the reader reads until the end of the file,
 * and what is longer than the caller's bound is refused rather than cut:
 * a file cut short would parse as something else. Error convention
 * (docs/ARCHITECTURE.md, "Error conventions"): 0 or a negative errno, the
 * caller words the message. libc only.
 */
#ifndef MK_FILEIO_H
#define MK_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

/* Reads fd from its current offset to the end of the file into a malloc'd
 * buffer (*data, *len bytes, one NUL after them so text can be used as a
 * string; NUL bytes inside are kept). At most max bytes: a file with more
 * gives -EFBIG. Retries EINTR. Returns 0, -EFBIG, -ENOMEM, or the negative
 * errno of read(); on failure *data is NULL and *len 0. fd is not closed. */
int mk_fileio_read_all(int fd, size_t max, char **data, size_t *len);

/* As mk_fileio_read_all, for a secret (a token): every buffer the bytes
 * were in is wiped (explicit_bzero) before it is freed, on success and on
 * failure alike, so no copy is left in freed memory. The caller wipes
 * *data (all *len + 1 bytes) before it frees it. */
int mk_fileio_read_secret(int fd, size_t max, char **data, size_t *len);

/* Opens path (never blocking on a FIFO, never a controlling terminal; a
 * symbolic link only when follow), and reads the whole of it when it is a
 * regular file: mk_fileio_read_all's results, the open's or fstat's
 * negative errno, -EISDIR for a directory, -EINVAL for anything else that
 * is not a regular file. */
int mk_fileio_read_path(const char *path, bool follow, size_t max, char **data, size_t *len);

#endif
