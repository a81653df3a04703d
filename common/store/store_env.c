/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/store_env.c: the store's environment, production where the
 * caller says nothing (see store_env.h). */
#include "store/store_env.h"

#include <stddef.h>
#include <time.h>

#include "store/etc_group.h"
#include "store/nscd.h"
#include "store/nss_oracle.h"
#include "store/userdb.h"

int64_t mk_store_env_now(const struct mk_store_env *env)
{
    return env && env->now ? env->now(env->now_ctx) : (int64_t)time(NULL);
}

const struct mk_group_oracle *mk_store_env_nss(const struct mk_store_env *env)
{
    return env && env->nss ? env->nss : mk_nss_oracle();
}

const char *mk_store_env_etc_group(const struct mk_store_env *env)
{
    return env && env->etc_group ? env->etc_group : MK_ETC_GROUP_PATH;
}

const char *mk_store_env_nscd_socket(const struct mk_store_env *env)
{
    return env && env->nscd_socket ? env->nscd_socket : MK_NSCD_SOCKET;
}

const char *mk_store_env_userdb_dir(const struct mk_store_env *env)
{
    return env && env->userdb_dir ? env->userdb_dir : MK_USERDB_DEFAULT_DIR;
}
