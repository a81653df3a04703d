/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "base/mk_error.h"

#include <stdio.h>
#include <string.h>

void mk_error_clear(mk_error *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

mk_status mk_error_set(mk_error *err, mk_status status, const char *fmt, ...)
{
    if (!err)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return status;
}

void mk_error_prefix(mk_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    char old[sizeof(err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    /* Truncating the old message is fine: the prefix says where it happened. */
    size_t n = strlen(prefix);
    if (n > sizeof(err->message) - 3)
        n = sizeof(err->message) - 3;
    memcpy(err->message, prefix, n);
    memcpy(err->message + n, ": ", 2);
    size_t rest = strnlen(old, sizeof(old) - 1);
    if (rest > sizeof(err->message) - n - 3)
        rest = sizeof(err->message) - n - 3;
    memcpy(err->message + n + 2, old, rest);
    err->message[n + 2 + rest] = '\0';
}

void mk_error_recontext(mk_error *err, const char *inner, const char *fmt, ...)
{
    if (!err)
        return;
    char context[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
    size_t n = strlen(inner);
    if (strncmp(err->message, inner, n) == 0 && strncmp(err->message + n, ": ", 2) == 0)
        memmove(err->message, err->message + n + 2, strlen(err->message + n + 2) + 1);
    mk_error_prefix(err, "%s", context);
}

const char *mk_status_name(mk_status status)
{
    switch (status) {
    case MK_OK: return "ok";
    case MK_ERR_USAGE: return "usage";
    case MK_ERR_API: return "api";
    case MK_ERR_UNAVAILABLE: return "unavailable";
    case MK_ERR_PROTOCOL: return "protocol";
    case MK_ERR_NOMEM: return "nomem";
    case MK_ERR_IO: return "io";
    case MK_ERR_BUSY: return "busy";
    }
    return "unknown";
}
