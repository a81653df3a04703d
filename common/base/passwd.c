/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/passwd.c: see passwd.h. */
#include "base/passwd.h"

#include <errno.h>
#include <stdlib.h>

/* One lookup, by name (user) or else by uid, with a growing buffer. */
static int passwd_lookup(const char *user, uid_t uid, struct passwd *pw, char **buf)
{
    size_t len = 1024;
    struct passwd *found = NULL;
    int e;

    *buf = NULL;
    for (;;) {
        char *grown = realloc(*buf, len);
        if (!grown)
            return ENOMEM;
        *buf = grown;
        e = user ? getpwnam_r(user, pw, *buf, len, &found)
                 : getpwuid_r(uid, pw, *buf, len, &found);
        if (e != ERANGE || len >= (1u << 20))
            break;
        len *= 2;
    }
    if (e)
        return e;
    return found ? 0 : ENOENT;
}

int mk_passwd_lookup(const char *user, struct passwd *pw, char **buf)
{
    return passwd_lookup(user, 0, pw, buf);
}

int mk_passwd_lookup_uid(uid_t uid, struct passwd *pw, char **buf)
{
    return passwd_lookup(NULL, uid, pw, buf);
}
