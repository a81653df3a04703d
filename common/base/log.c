/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/log.c: hands messages to the caller's sink (see log.h). */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

void mk_log(const struct mk_log_sink *sink, int priority, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    if (!sink || !sink->fn)
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    sink->fn(sink->ctx, priority, message);
}
