/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/nss/group_file_env.c: the NSS module's test build only
 * ($(B)/tests/libnss_mkio_test.so.2, which the unit tests load and which is
 * never installed) takes its file from MKIO_GROUP_FILE, and the local
 * groups file initgroups reads from MKIO_ETC_GROUP, and the gid map it
 * filters by from MKIO_GID_MAP. It stands where the
 * shipped module links nss/group_file.c. */
#include <stdlib.h>

#include "base/gidmap.h"
#include "groupfile/reader.h"
#include "nss/nss_mkio.h"

const char *mk_nss_group_file(void)
{
    const char *p = secure_getenv("MKIO_GROUP_FILE");
    return p && *p ? p : MK_GROUPFILE_DEFAULT_PATH;
}

const char *mk_nss_etc_group_file(void)
{
    const char *p = secure_getenv("MKIO_ETC_GROUP");
    return p && *p ? p : "/etc/group";
}

const char *mk_nss_gid_map_file(void)
{
    const char *p = secure_getenv("MKIO_GID_MAP");
    return p && *p ? p : MK_GIDMAP_PATH;
}
