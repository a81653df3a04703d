/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* login/login_common.h: what the two stages of the login helper share
 * (login/login_protocol.h: the gate mkio-login-helper,
 * login/mkio-login-helper.c, and the refresh program mkio-login-refresh,
 * login/mkio-login-refresh.c).
 *
 * Pure libc and common/'s configuration reader: the gate links it without
 * libcurl or json-c, so nothing here may call into the network part.
 */
#ifndef MK_LOGIN_COMMON_H
#define MK_LOGIN_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "store/config.h"

struct login_args {
    const char *conf_path;
    int64_t timeout_ms;
    bool debug;
    bool quiet;
    bool fail_closed;      /* only for the wording of log lines: the module decides */
    const char *hook;
    const char *service;   /* the PAM service; NULL: none given (an account check) */
    const char *user;
    int64_t budget_sent_ms; /* refresh program only: the budget the gate told the
                             * module (--budget-sent=MS); 0: none was sent */
};

/* Parses the arguments of login/login_protocol.h into a (whose strings
 * point into argv). The gate refuses --budget-sent= (only the gate adds it, for the
 * refresh program: refresh true). 0, or 2 after a usage line on stderr. */
int login_args_parse(int argc, char **argv, const char *program, bool refresh,
                     struct login_args *a);

/* Prints why and the usage on stderr; returns 2 (the exit code). */
int login_usage(const char *program, const char *why);

/* What every stage does first: descriptor 3 must be the module's pipe (a
 * usage error, 2, otherwise), and is close-on-exec unless keep_pipe (the
 * gate keeps it open across its exec of the refresh program); then a
 * clean process (no environment, umask 022, in /, SIGPIPE ignored, no
 * core file, no file size limit); then root in full (else "result fail",
 * 1). 0 when the stage may go on. */
int login_process_setup(const char *program, bool keep_pipe);

/* One protocol line on descriptor 3, "<kind> <sanitized text>\n", in one
 * write (lines are shorter than PIPE_BUF, so never interleaved). */
void login_say(const char *kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A "log <prio> <text>" line. */
void login_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether this call may be skipped: the user's last successful refresh is
 * younger than login_refresh_interval (a service named in login_services)
 * or refresh_interval (any other service, or none). A record that cannot
 * be read or believed never skips: false, and *record_err says why (for
 * the refresh program to log; status MK_OK when nothing was wrong). With
 * debug, a skip says why in one log line. user is the sanitized name for
 * messages, name the passwd name. */
bool login_refresh_fresh(const struct mk_config *cfg, const struct login_args *a,
                         const char *name, const char *user, mk_error *record_err);

#endif
