/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/nss_oracle.c: the system's NSS as the store's other source
 * of groups (see nss_oracle.h). */
#include "store/nss_oracle.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>

/* getgrgid_r and getgrnam_r through every source nsswitch.conf names (ours
 * included: the policy does not count our own current entries). "Not
 * found" comes back in several spellings (getgrgid_r(3)). */
static bool nss_oracle_not_found(int r)
{
    return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

static int nss_oracle_lookup(gid_t gid, const char *name, char *name_out, size_t name_size,
                             gid_t *gid_out)
{
    size_t size = 1024;
    char *buf = NULL;
    int r;

    for (;;) {
        struct group gr, *res = NULL;
        char *bigger = realloc(buf, size);
        if (!bigger) {
            free(buf);
            return -ENOMEM;
        }
        buf = bigger;
        r = name ? getgrnam_r(name, &gr, buf, size, &res) : getgrgid_r(gid, &gr, buf, size, &res);
        if (r == ERANGE && size < (1u << 24)) {
            size *= 2;
            continue;
        }
        if (r == 0 && res) {
            if (name_out)
                snprintf(name_out, name_size, "%s", res->gr_name);
            if (gid_out)
                *gid_out = res->gr_gid;
            free(buf);
            return 1;
        }
        free(buf);
        return nss_oracle_not_found(r) ? 0 : -(r ? r : EIO);
    }
}

static int nss_oracle_by_gid(void *ctx, gid_t gid, char *name, size_t name_size)
{
    return nss_oracle_lookup(gid, NULL, name, name_size, NULL);
}

static int nss_oracle_by_name(void *ctx, const char *name, gid_t *gid)
{
    return nss_oracle_lookup(0, name, NULL, 0, gid);
}

static const struct mk_group_oracle nss_oracle = { nss_oracle_by_gid, nss_oracle_by_name, NULL };

const struct mk_group_oracle *mk_nss_oracle(void)
{
    return &nss_oracle;
}
