/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/log.h: the one way common/ reports what is worth a log line.
 *
 * common/ never picks a log destination (no syslog(), no stderr): whoever
 * calls it passes a sink, and the edge decides. The login helper turns each
 * message into a `log <prio> text` line of its protocol (pam_mkio then
 * pam_syslogs it, facility authpriv); mkio-orgs prints it on stderr. A NULL
 * sink, or one without fn, drops messages (tests, quiet callers).
 *
 * Priorities are syslog's numbers (MK_LOG_ERR is LOG_ERR, ...), so that an
 * edge that logs to syslog passes them through unchanged. Messages are one
 * line; text from outside is the caller's to sanitize at the edge.
 */
#ifndef MK_LOG_H
#define MK_LOG_H

enum {
    MK_LOG_ERR = 3,
    MK_LOG_WARNING = 4,
    MK_LOG_NOTICE = 5,
    MK_LOG_INFO = 6,
};

struct mk_log_sink {
    void (*fn)(void *ctx, int priority, const char *message);
    void *ctx;
};

/* Formats one message (cut at 1,024 bytes) and hands it to sink. */
void mk_log(const struct mk_log_sink *sink, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
