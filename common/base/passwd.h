/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/passwd.h: a user's passwd entry, whatever its size.
 *
 * Pure libc: linked into pam_mkio.so as well as the login helper.
 */
#ifndef MK_PASSWD_H
#define MK_PASSWD_H

#include <pwd.h>

/* getpwnam_r with a buffer that grows (up to 1 MiB) until the entry fits.
 * Returns 0 and fills pw, whose strings live in *buf (free it, also on
 * failure); ENOENT when the user has no entry; another errno when the
 * lookup failed. */
int mk_passwd_lookup(const char *user, struct passwd *pw, char **buf);

/* The same by uid (getpwuid_r): the entry of uid, as the password database
 * (not the environment) has it. */
int mk_passwd_lookup_uid(uid_t uid, struct passwd *pw, char **buf);

#endif
