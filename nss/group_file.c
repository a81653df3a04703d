/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nss/group_file.c: the files the shipped module reads. */
#include "base/gidmap.h"
#include "groupfile/reader.h"
#include "nss/nss_mkio.h"

/* A fixed path and no environment variable (docs/ARCHITECTURE.md,
 * invariant 1): nothing a caller sets chooses the groups root sees. */
const char *mk_nss_group_file(void)
{
    return MK_GROUPFILE_DEFAULT_PATH;
}

/* The same for the local groups initgroups checks its gids against. */
const char *mk_nss_etc_group_file(void)
{
    return "/etc/group";
}

/* The user namespace's gid map initgroups filters its gids by. */
const char *mk_nss_gid_map_file(void)
{
    return MK_GIDMAP_PATH;
}
