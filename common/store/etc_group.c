/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/etc_group.c: every name and gid of the local group file
 * (see etc_group.h). */
#include "store/etc_group.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fgetgrent_r: several threads of one process may be here at once. Any
 * error but the end of the file fails the whole read: a partial view could
 * hand out a local name or gid. */
mk_status mk_etc_group_read(const char *path, struct mk_local_groups *etc, mk_error *err)
{
    size_t size = 4096;
    char *buf = NULL;
    mk_status st = MK_OK;
    FILE *f = fopen(path, "re");

    memset(etc, 0, sizeof(*etc));
    if (!f)
        return mk_error_set(err, MK_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    buf = malloc(size);
    if (!buf)
        goto nomem;
    for (;;) {
        struct group gr, *res = NULL;
        long pos = ftell(f);
        int r = fgetgrent_r(f, &gr, buf, size, &res);
        if (r == ERANGE) {
            /* The entry did not fit: grow and read the same line again. */
            char *bigger = size < (1u << 24) ? realloc(buf, size * 2) : NULL;
            if (!bigger || pos < 0 || fseek(f, pos, SEEK_SET) != 0) {
                free(bigger ? bigger : buf);
                buf = NULL;
                st = mk_error_set(err, MK_ERR_IO, "cannot read %s: an entry is too long", path);
                goto out;
            }
            buf = bigger;
            size *= 2;
            continue;
        }
        if (r == ENOENT && !ferror(f))
            break;
        if (r != 0 || !res) {
            st = mk_error_set(err, MK_ERR_IO, "cannot read %s: %s; nothing was written", path,
                              strerror(r && r != ENOENT ? r : errno ? errno : EIO));
            goto out;
        }
        if (mk_local_groups_add(etc, gr.gr_name, gr.gr_gid) != 0)
            goto nomem;
    }
    mk_local_groups_finish(etc);
    goto out;
nomem:
    st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
out:
    free(buf);
    fclose(f);
    if (st != MK_OK)
        mk_local_groups_free(etc);
    return st;
}
