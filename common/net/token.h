/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/token.h: where tokens come from (docs/ARCHITECTURE.md, invariant 5).
 *
 * A token file is a regular file, not a symlink (opened with O_NOFOLLOW, each
 * directory of a per-user path walked with O_NOFOLLOW too), owned by the
 * expected owner, mode 0600 or stricter, at most 16 KiB, holding one line of
 * printable ASCII. Every refusal has its own message naming the file; no
 * message ever holds the token.
 *
 * Error convention, as in all of net/ (docs/ARCHITECTURE.md, "Error
 * conventions"): MK_OK, or the failure with err set by mk_error_set;
 * MK_ERR_IO when no token file is there (read_file), any other status a
 * file refused or a failure.
 */
#ifndef MK_TOKEN_H
#define MK_TOKEN_H

#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "store/config.h"
#include "base/mk_error.h"

#define MK_TOKEN_MAX_BYTES 16384

/* Reads the token at path that must be owned by `owner`. MK_ERR_USAGE for a
 * refused file (with a message saying which check failed), MK_ERR_IO when it
 * does not exist (err->message says so). *token is malloc'd; free it with
 * mk_token_free. */
mk_status mk_token_read_file(const char *path, uid_t owner, char **token, mk_error *err);

/* The token of user pw, as PAM and sync find it: first
 * cfg->token_dir/<user> (owned by root), then <home>/cfg->user_token_path
 * (owned by the user, read with the user's file-system privileges when the
 * caller is root, via setfsuid/setfsgid, which are per-thread). MK_ERR_IO
 * with "no token" when neither file exists. *source (may be NULL) gets
 * the path used (malloc'd), also when that file is refused (so that the
 * message can say who fixes it: mk_token_remedy); NULL when there is none. */
mk_status mk_token_for_user(const struct mk_config *cfg, const struct passwd *pw,
                            char **token, char **source, mk_error *err);

/* Whether path, a token's source as mk_token_for_user gives it, is a file
 * of cfg->token_dir: root's, which only an administrator can replace. */
bool mk_token_source_root_held(const struct mk_config *cfg, const char *path);

/* Who fixes the token of user that came from path, as a clause that ends a
 * message: for a file of token_dir "your administrator must run
 * `mkio-orgs login --user USER` with a new token (logins read PATH before
 * your own token file)", else "make a new one in the MK.IO web app and run
 * `mkio-orgs login`". Always NUL-terminated (cut to size). */
void mk_token_remedy(const struct mk_config *cfg, const char *user, const char *path, char *buf,
                     size_t size);

/* Checks a token from the environment (MKIO_TOKEN): non-empty, printable. */
mk_status mk_token_check_value(const char *token, mk_error *err);

/* What mk_token_dir_list is asked for: its two callers differ. */
enum {
    MK_TOKEN_DIR_NOFOLLOW = 1, /* refuse a symbolic link at dir (-ENOTDIR or -ELOOP) */
    MK_TOKEN_DIR_TRUSTED = 2,  /* root owns dir, nobody else writes it, or -EPERM */
    MK_TOKEN_DIR_LINKS = 4,    /* list symbolic links too (each is refused when read) */
    MK_TOKEN_DIR_SORTED = 8,   /* names in strcmp order */
};

/* The names in the token directory dir that may be token files: not
 * starting with '.', regular files (or of unknown type, or with
 * MK_TOKEN_DIR_LINKS symbolic links). *names is malloc'd (*count of them,
 * NULL when none); free it with mk_token_dir_list_free. Unlike the rest of
 * this header it returns 0 or a negative errno (-ENOENT, -ENOTDIR, -EPERM
 * with *st the directory's stat, all zero when fstat failed, -ENOMEM, what
 * open or opendir said), because its callers word each failure in their
 * own way. st is used only with MK_TOKEN_DIR_TRUSTED (NULL otherwise). */
int mk_token_dir_list(const char *dir, unsigned flags, char ***names, size_t *count,
                      struct stat *st);
void mk_token_dir_list_free(char **names, size_t count);

/* Wipes and frees. */
void mk_token_free(char *token);

#endif
