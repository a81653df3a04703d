/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/etc_group.h: every name and gid of the local group file
 * (/etc/group), which always wins over an organization's group
 * (invariant 3).
 *
 * Error convention: an mk_status, with err naming the file: MK_ERR_IO when
 * it cannot be opened or read whole (a partial view could hand out a local
 * name or gid), MK_ERR_NOMEM.
 */
#ifndef MK_ETC_GROUP_H
#define MK_ETC_GROUP_H

#include "base/mk_error.h"
#include "store/grouppolicy.h"

#define MK_ETC_GROUP_PATH "/etc/group"

/* Reads path (a group(5) file; the store passes mk_store_env_etc_group)
 * into etc, finished (sorted, unique). On failure etc is empty. */
mk_status mk_etc_group_read(const char *path, struct mk_local_groups *etc, mk_error *err);

#endif
