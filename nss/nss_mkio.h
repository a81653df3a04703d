/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nss/nss_mkio.h: the `mkio` NSS group service (libnss_mkio.so.2). Its
 * whole interface is glibc's: the _nss_mkio_* entry points below, the only
 * symbols nss_mkio.sym exports. */
#ifndef MK_NSS_MKIO_H
#define MK_NSS_MKIO_H

#include <grp.h>
#include <nss.h>
#include <stddef.h>

enum nss_status _nss_mkio_getgrnam_r(const char *name, struct group *gr, char *buffer,
                                     size_t buflen, int *errnop);
enum nss_status _nss_mkio_getgrgid_r(gid_t gid, struct group *gr, char *buffer, size_t buflen,
                                     int *errnop);
enum nss_status _nss_mkio_setgrent(int stayopen);
enum nss_status _nss_mkio_getgrent_r(struct group *gr, char *buffer, size_t buflen,
                                     int *errnop);
enum nss_status _nss_mkio_endgrent(void);
enum nss_status _nss_mkio_initgroups_dyn(const char *user, gid_t group, long int *start,
                                         long int *size, gid_t **groupsp, long int limit,
                                         int *errnop);

/* The group file the module maps. The shipped module's (nss/group_file.c)
 * is always MK_GROUPFILE_DEFAULT_PATH and reads no environment variable
 * (docs/ARCHITECTURE.md, invariant 1); the module's test build, which is
 * never installed, links tests/nss/group_file_env.c instead, which takes
 * MKIO_GROUP_FILE. Not exported (nss_mkio.sym). */
const char *mk_nss_group_file(void);

/* The local groups file initgroups checks our gids against at each call:
 * /etc/group in the shipped module; MKIO_ETC_GROUP in the test build. Not
 * exported. */
const char *mk_nss_etc_group_file(void);

/* The calling process's gid map initgroups filters our gids by:
 * /proc/self/gid_map in the shipped module; MKIO_GID_MAP in the test build.
 * Not exported. */
const char *mk_nss_gid_map_file(void);

#endif
