/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/tempname.h: the random part of the writers' temporary file names.
 *
 * The store (store.json) and the group-file writer (groups.db) each write a
 * temporary file next to the one they replace and rename it over. Both name
 * it with MK_TEMPNAME_RANDOM letters or digits from here, so that the writer
 * holding the lock can tell a killed writer's leftover from any other file.
 * Pure libc.
 */
#ifndef MK_TEMPNAME_H
#define MK_TEMPNAME_H

#include <stdbool.h>

#define MK_TEMPNAME_RANDOM 6

/* Fills out with MK_TEMPNAME_RANDOM letters or digits and a NUL. Not
 * secret (the directory is root's and O_EXCL decides), only unlikely to
 * collide; getrandom must not block at early boot, so a clock mix stands
 * in when it has nothing. */
void mk_tempname_suffix(char out[MK_TEMPNAME_RANDOM + 1]);

/* Whether s is exactly what mk_tempname_suffix makes: MK_TEMPNAME_RANDOM
 * letters or digits. */
bool mk_tempname_is_suffix(const char *s);

#endif
