/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/bench/nss_floor.c: libnss_floor.so.2, the floor of the NSS benchmark.
 *
 * It answers every group lookup with a constant group and does no other work,
 * so its time per call is glibc's own dispatch (nsswitch, dlsym'd entry point,
 * buffer handling). Every other source is read as a ratio to it.
 */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define FLOOR_NAME "mkbench-floor"
#define FLOOR_GID ((gid_t)2000200001)

enum nss_status _nss_floor_getgrnam_r(const char *name, struct group *gr, char *buffer,
                                      size_t buflen, int *errnop);
enum nss_status _nss_floor_getgrgid_r(gid_t gid, struct group *gr, char *buffer,
                                      size_t buflen, int *errnop);
enum nss_status _nss_floor_initgroups_dyn(const char *user, gid_t skip_group, long *start,
                                          long *size, gid_t **groups, long limit,
                                          int *errnop);

/* A group named name with gid and no members, packed into buffer. */
static enum nss_status floor_pack(const char *name, gid_t gid, struct group *gr, char *buffer,
                                  size_t buflen, int *errnop)
{
    size_t len = strlen(name) + 1;
    /* The member array first, aligned, then the strings. */
    size_t pad = (size_t)(-(uintptr_t)buffer & (sizeof(char *) - 1));
    if (buflen < pad || buflen - pad < sizeof(char *) + len) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    char **mem = (char **)(void *)(buffer + pad);
    mem[0] = NULL;
    char *p = (char *)(mem + 1);
    memcpy(p, name, len);
    gr->gr_name = p;
    gr->gr_passwd = p + len - 1;  /* "" */
    gr->gr_gid = gid;
    gr->gr_mem = mem;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_floor_getgrnam_r(const char *name, struct group *gr, char *buffer,
                                      size_t buflen, int *errnop)
{
    return floor_pack(name, FLOOR_GID, gr, buffer, buflen, errnop);
}

enum nss_status _nss_floor_getgrgid_r(gid_t gid, struct group *gr, char *buffer,
                                      size_t buflen, int *errnop)
{
    return floor_pack(FLOOR_NAME, gid, gr, buffer, buflen, errnop);
}

enum nss_status _nss_floor_initgroups_dyn(const char *user, gid_t skip_group, long *start,
                                          long *size, gid_t **groups, long limit,
                                          int *errnop)
{
    if (FLOOR_GID == skip_group)
        return NSS_STATUS_SUCCESS;
    if (*start == *size) {
        if (limit > 0 && *size >= limit)
            return NSS_STATUS_SUCCESS;
        long new_size = *size * 2;
        if (limit > 0 && new_size > limit)
            new_size = limit;
        gid_t *grown = realloc(*groups, (size_t)new_size * sizeof(**groups));
        if (!grown) {
            *errnop = ENOMEM;
            return NSS_STATUS_TRYAGAIN;
        }
        *groups = grown;
        *size = new_size;
    }
    (*groups)[(*start)++] = FLOOR_GID;
    return NSS_STATUS_SUCCESS;
}
