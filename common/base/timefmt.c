/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/timefmt.c: a Unix time in UTC, ISO 8601 (see timefmt.h). */
#include "base/timefmt.h"

#include <errno.h>
#include <time.h>

/* gmtime_r, not localtime_r: the same text on every host whatever its
 * TZ, and no tzset() behind the caller's back. */
int mk_time_format_utc(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (len > 0)
        buf[0] = '\0';
    if ((int64_t)tt != t || !gmtime_r(&tt, &tm))
        return -EOVERFLOW;
    if (len == 0 || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        if (len > 0)
            buf[0] = '\0';
        return -ERANGE;
    }
    return 0;
}
