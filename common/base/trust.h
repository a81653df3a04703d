/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/trust.h: whether a directory or a file may be believed.
 *
 * Root compiles groups and reads secrets from files that others must not be
 * able to change. A directory or file is believed only when root (or, not
 * running as root, the effective user: tests and private stores) owns it and
 * neither group nor others can write it; a file must also be regular.
 * Everything is opened without following a link at its last component or
 * waiting on a FIFO, then checked through its descriptor, so that what is
 * swapped in afterwards is never used.
 *
 * Error convention (docs/ARCHITECTURE.md, "Error conventions"): every
 * function that can fail returns an mk_status and fills err with one
 * sentence naming the path, what is wrong and the fix: MK_ERR_IO for what
 * may not be believed or cannot be opened, MK_ERR_USAGE for a path too
 * long. libc only.
 */
#ifndef MK_TRUST_H
#define MK_TRUST_H

#include <stdbool.h>
#include <sys/stat.h>

#include "base/mk_error.h"

/* How messages name a directory: what it is ("the state directory") and
 * what to do when it is a symbolic link ("set state_dir to the directory
 * itself"). */
struct mk_trust_dir {
    const char *what;
    const char *link_fix;
};

/* What mk_trust_problems finds wrong, as bits. */
enum {
    MK_TRUST_KIND = 1,  /* not the kind asked for */
    MK_TRUST_OWNER = 2, /* not owned by the owner asked for */
    MK_TRUST_MODE = 4,  /* gives a permission bit it must not */
};

/* The bare test under every owner and mode check, for callers with words
 * of their own (each message stays the caller's): what is wrong with st
 * for a file of kind (S_IFREG, S_IFDIR; 0 for any kind) owned by owner
 * ((uid_t)-1 for any owner) that gives none of the permission bits in
 * forbidden (S_IWGRP | S_IWOTH: nobody but the owner can write it).
 * 0 when nothing is. Inline and without a message, so that the NSS
 * module's reader uses it without linking anything or allocating. */
static inline unsigned mk_trust_problems(const struct stat *st, mode_t kind, uid_t owner,
                                         mode_t forbidden)
{
    unsigned problems = 0;

    if (kind && (st->st_mode & S_IFMT) != kind)
        problems |= MK_TRUST_KIND;
    if (owner != (uid_t)-1 && st->st_uid != owner)
        problems |= MK_TRUST_OWNER;
    if (st->st_mode & forbidden)
        problems |= MK_TRUST_MODE;
    return problems;
}

/* What kind of file st is, for messages: "a symbolic link", "a FIFO",
 * "a socket", "a device", "a directory", "a regular file". */
const char *mk_trust_file_kind(const struct stat *st);

/* Whether st (of path) may be believed: with dir, a directory; without
 * (NULL), a regular file; owned by root or the effective user, not
 * writable by group or others. MK_OK, or MK_ERR_IO naming path, what is
 * wrong and the fix. */
mk_status mk_trust_check(const char *path, const struct stat *st, const struct mk_trust_dir *dir,
                         mk_error *err);

/* Opens the directory path without following a link at its last component
 * (trailing slashes ignored) and checks it (mk_trust_check). With create,
 * makes it 0755 when missing (its mode set explicitly, not left to the
 * umask); without, a missing directory gives MK_OK and *fd -1. The
 * descriptor is close-on-exec. */
mk_status mk_trust_open_dir(const char *path, const struct mk_trust_dir *dir, bool create,
                            int *fd, mk_error *err);

/* Opens name in the directory dirfd (path names it in messages) with flags
 * (O_RDONLY, O_RDWR | O_CREAT, ...; new files 0600), never following a link
 * and never waiting on a FIFO, and checks that it is a regular file that
 * may be believed before a byte is read. Without O_CREAT a missing file
 * gives MK_OK and *fd -1. The descriptor is close-on-exec and non-blocking
 * (reads of a regular file do not care). */
mk_status mk_trust_openat(int dirfd, const char *name, const char *path, int flags, int *fd,
                          mk_error *err);

#endif
