/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* login/login_protocol.h: the protocol between pam_mkio.so and the login helper.
 *
 * Why two programs (docs/ARCHITECTURE.md, invariant 2): the login program that loads
 * pam_mkio.so is often setuid and runs with a hostile user's environment.
 * libcurl, OpenSSL and the resolver read that environment (proxies, key log
 * files, CA paths, locale) and can take longer than any budget (a resolver
 * thread that never returns). So the module itself does nothing but libc and
 * libpam work, and starts MK_HELPER_PATH, a path compiled into it, never
 * taken from configuration or the environment:
 *
 *   - as root (real, effective and saved ids 0), from a fork whose
 *     descriptors are closed (close_range) but for stdin, stdout and stderr
 *     on /dev/null and the write end of one pipe as descriptor 3; signal
 *     dispositions reset, signal mask empty;
 *   - with an explicit environment (PATH only: nothing inherited, no proxy,
 *     no key log, no locale, no HOME);
 *   - with the arguments below;
 *   - under a hard deadline: the module polls the pipe until the time budget
 *     ends, then kills the helper with SIGKILL and reaps it. The store and
 *     groups.db are replaced atomically, so a kill at any moment leaves them
 *     old or new.
 *
 * Two stages, one process. MK_HELPER_PATH (mkio-login-helper, the gate,
 * login/mkio-login-helper.c) links libc alone: it reads the configuration with the
 * project's own parser (store/config.h with the reader's own URL rules,
 * mk_config_url_syntax: URLs are checked only for their scheme and
 * characters; the gate never connects), sends the budget line, applies min_uid and ignore_users, and
 * answers "result ignore" when the user's last successful refresh is
 * recent enough (below). Otherwise it replaces itself (execve) with
 * MK_REFRESH_PATH (mkio-login-refresh, login/mkio-login-refresh.c), also a path
 * compiled in, never taken from configuration or the environment, with
 * the same arguments plus --budget-sent=MS (the budget it sent), the
 * same environment (PATH) and one variable more, MK_REFRESH_ENV_GNUTLS
 * (below), and descriptor 3 still the pipe (every
 * other descriptor close-on-exec). The refresh program links libcurl and
 * json-c, reads and fully checks the configuration again, and does the
 * work; given --budget-sent it sends no budget line of its own and keeps
 * to that budget. Being one process (the same pid) the module's deadline
 * and kill cover both stages; a refresh program that is missing or cannot
 * be run is a failed refresh the gate logs ("cannot run"), never a
 * refused login unless fail_closed.
 *
 * Arguments (each optional but the user):
 *   mkio-login-helper [--conf=PATH] [--timeout-ms=N] [--debug] [--quiet]
 *                     [--fail-closed] [--hook=account|session]
 *                     [--service=NAME] --user=NAME
 *   mkio-login-refresh (the same) [--budget-sent=MS]
 * (--fail-closed only changes the wording of log lines: the module decides.)
 * --service is the PAM service (PAM_SERVICE) when it is a plain name:
 * mk_service_name_valid (common/base/text.h: letters, digits, '.', '_', '+', '-');
 * the module leaves out any other, and the helper refuses one. It tells a
 * login from an account check, whichever hook runs: a service named in the
 * configuration's login_services is a login, and any other service, or
 * none, is an account check (sudo, cron, su without -l, screen lockers).
 * A login refreshes when the user's last successful refresh is older than
 * login_refresh_interval (0, the default: always); an account check when it
 * is older than refresh_interval (5 minutes). Otherwise the gate answers
 * "result ignore" at once: no libcurl loaded, no token read, no network,
 * no write, no line for the user. (The refresh program checks again: a
 * refresh that finished in between also skips.)
 *
 * What the helper writes on descriptor 3: lines of at most
 * MK_HELPER_LINE_MAX bytes, each "<kind> <text>\n", in this order:
 *   budget <ms>          the time budget the configuration sets (sent once,
 *                        by the gate, after the configuration is read; the
 *                        module's deadline becomes its start plus this,
 *                        unless the PAM line gave timeout=; the module takes
 *                        the first budget line and ignores any other)
 *   info <text>          a line for the user (pam_info)
 *   error <text>         a line for the user (pam_error)
 *   log <0-7> <text>     a line for the system log at that syslog priority
 *                        (pam_syslog, facility authpriv)
 *   result ok|ignore|fail
 *                        the outcome: ok (memberships refreshed), ignore
 *                        (nothing to do for this user, or its last successful
 *                        refresh is recent enough), fail (an error the
 *                        log lines describe; the login goes on unless the
 *                        PAM line says fail_closed)
 * The helper sanitizes every text it sends; the module sanitizes again
 * (common/base/text.h) and relays at most MK_HELPER_USER_LINES_MAX user lines and
 * MK_HELPER_LOG_LINES_MAX log lines. A helper that ends without a result
 * line, or is killed at the deadline, counts as fail.
 */
#ifndef MK_LOGIN_HELPER_H
#define MK_LOGIN_HELPER_H

#ifndef MK_HELPER_PATH
#define MK_HELPER_PATH "/usr/libexec/mkio/mkio-login-helper"
#endif
/* The second stage, compiled into the gate (Makefile: REFRESH_PATH). */
#ifndef MK_REFRESH_PATH
#define MK_REFRESH_PATH "/usr/libexec/mkio/mkio-login-refresh"
#endif

#define MK_HELPER_FD 3
#define MK_HELPER_LINE_MAX 1024
#define MK_HELPER_OUTPUT_MAX 65536
#define MK_HELPER_USER_LINES_MAX 8
#define MK_HELPER_LOG_LINES_MAX 64
/* Invites named one by one to the user; the rest go into a summary line. */
#define MK_HELPER_JOINED_SHOWN_MAX 5
/* The environment the helper gets, whole. */
#define MK_HELPER_ENV_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
/* What the gate adds for the refresh program (whose first step clears
 * its environment): libcurl's dependencies (libldap, librtmp) load GnuTLS,
 * whose constructor initializes it in every process that loads it, about
 * 0.3 ms of a login, though nothing here uses it (libcurl's TLS is
 * OpenSSL's; a libcurl built on GnuTLS initializes it itself, in
 * curl_global_init). */
#define MK_REFRESH_ENV_GNUTLS "GNUTLS_NO_IMPLICIT_INIT=1"
/* The budget when neither the PAM line nor the helper has said one yet:
 * the configuration's default (common/store/config.h), so that a helper stuck
 * before it read the configuration is still killed in time. */
#define MK_HELPER_DEFAULT_BUDGET_MS 5000
#define MK_HELPER_MAX_BUDGET_MS 300000

#endif
