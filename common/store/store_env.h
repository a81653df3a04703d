/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/store_env.h: what the store takes from the world, passed in.
 *
 * The store's entry points (store.h) take a const struct mk_store_env *:
 * NULL, or a zeroed field, is production (the real clock, the system's
 * NSS, /etc/group, nscd's real socket, /run/userdb); a test passes its own
 * clock, oracle, group file, socket or userdb directory. Nothing here is
 * process-global, so two callers in one process never see each other's
 * settings (docs/ARCHITECTURE.md, "Test seams").
 */
#ifndef MK_STORE_ENV_H
#define MK_STORE_ENV_H

#include <stdint.h>

struct mk_group_oracle;

struct mk_store_env {
    /* Unix seconds the store takes as now; NULL: time(). */
    int64_t (*now)(void *ctx);
    void *now_ctx;
    /* The other sources of groups (grouppolicy.h); NULL: the system's NSS
     * (nss_oracle.h). */
    const struct mk_group_oracle *nss;
    /* The local group file; NULL: /etc/group. */
    const char *etc_group;
    /* nscd's socket (nscd.h); NULL: MK_NSCD_SOCKET. */
    const char *nscd_socket;
    /* Where userdb_export publishes (userdb.h); NULL: MK_USERDB_DEFAULT_DIR. */
    const char *userdb_dir;
};

/* What env (may be NULL) gives for each, production where it says nothing.
 * None can fail. */
int64_t mk_store_env_now(const struct mk_store_env *env);
const struct mk_group_oracle *mk_store_env_nss(const struct mk_store_env *env);
const char *mk_store_env_etc_group(const struct mk_store_env *env);
const char *mk_store_env_nscd_socket(const struct mk_store_env *env);
const char *mk_store_env_userdb_dir(const struct mk_store_env *env);

#endif
