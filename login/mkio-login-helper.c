/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* login/mkio-login-helper.c: mkio-login-helper, the first stage of the login helper
 * (login/login_protocol.h says why there are two).
 *
 * Linked with libc alone (tests/run-all checks it), so that a call that
 * needs nothing costs an exec of a small program, not the load of libcurl,
 * OpenSSL and json-c: it reads the configuration (store/config.h, with the
 * reader's own URL rules, mk_config_url_syntax), says the budget, applies min_uid and
 * ignore_users, and answers "result ignore" when the user's last
 * successful refresh is recent enough. Anything else is the refresh
 * program's: the gate replaces itself with MK_REFRESH_PATH (execve: the
 * same process, so the module's deadline and kill still hold), with the
 * same arguments plus --budget-sent, the same PATH (and
 * MK_REFRESH_ENV_GNUTLS, login_protocol.h) and descriptor 3 still the pipe.
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "store/config.h"
#include "login/login_common.h"
#include "login/login_protocol.h"
#include "base/mk_error.h"
#include "base/passwd.h"
#include "base/text.h"

#define GATE_PROGRAM "mkio-login-helper"

/* Replaces this process with the refresh program; returns only when that
 * failed (errno set). Every descriptor but 0-3 is made close-on-exec first
 * (common/ opens its own so already; this also covers what a libc NSS
 * module may have left open). */
static void gate_exec_refresh(int argc, char **argv, int64_t budget_ms)
{
    char budget_arg[48];
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    char *envp[] = { (char *)MK_HELPER_ENV_PATH, (char *)MK_REFRESH_ENV_GNUTLS, NULL };
    int n = 0;

    if (!args)
        return;
    snprintf(budget_arg, sizeof(budget_arg), "--budget-sent=%" PRId64, budget_ms);
    args[n++] = (char *)MK_REFRESH_PATH;
    for (int i = 1; i < argc; i++)
        args[n++] = argv[i];
    args[n++] = budget_arg;
    args[n] = NULL;
    (void)close_range(MK_HELPER_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    execve(MK_REFRESH_PATH, args, envp);
    int e = errno;
    free(args);
    errno = e;
}

static const char *gate_run(int argc, char **argv, const struct login_args *a)
{
    struct mk_config cfg;
    struct passwd pw;
    char *pwbuf = NULL;
    char user[160];
    mk_error err, record_err;
    const char *result = "fail";
    const char *outcome = a->fail_closed ? "login refused (fail_closed)"
                                         : "the last known memberships stay; login continues";

    mk_error_clear(&err);
    mk_text_sanitize(a->user, user, sizeof(user));
    if (mk_config_load(a->conf_path, &cfg, &err) != MK_OK) {
        login_log(LOG_ERR, "user %s: cannot read the configuration: %s; %s", user, err.message, outcome);
        return result;
    }
    int64_t budget = a->timeout_ms > 0 ? a->timeout_ms : cfg.budget_ms;
    login_say("budget", "%" PRId64, budget);

    int e = mk_passwd_lookup(a->user, &pw, &pwbuf);
    if (e) {
        if (a->debug)
            login_log(LOG_DEBUG, "user %s: no passwd entry (%s); ignored", user, strerror(e));
        result = "ignore";
    } else if (mk_config_user_ignored(&cfg, pw.pw_name, pw.pw_uid)) {
        if (a->debug)
            login_log(LOG_DEBUG, "user %s: uid %lu below min_uid %lu or in ignore_users; ignored",
                      user, (unsigned long)pw.pw_uid, (unsigned long)cfg.min_uid);
        result = "ignore";
    } else if (login_refresh_fresh(&cfg, a, pw.pw_name, user, &record_err)) {
        result = "ignore";
    } else {
        /* A record that could not be read is the refresh program's to log:
         * it reads it again. */
        free(pwbuf);
        mk_config_free(&cfg);
        gate_exec_refresh(argc, argv, budget);
        login_log(LOG_ERR, "user %s: cannot run %s: %s; %s", user, MK_REFRESH_PATH, strerror(errno),
                  outcome);
        return result;
    }
    free(pwbuf);
    mk_config_free(&cfg);
    return result;
}

int main(int argc, char **argv)
{
    struct login_args a;
    int rc = login_args_parse(argc, argv, GATE_PROGRAM, false, &a);
    if (rc)
        return rc;
    rc = login_process_setup(GATE_PROGRAM, true);
    if (rc)
        return rc;
    login_say("result", "%s", gate_run(argc, argv, &a));
    return 0;
}
