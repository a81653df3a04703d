/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* login/login_common.c: arguments, process setup, protocol lines and the
 * refresh gate, the same in both stages of the login helper
 * (login_common.h; the protocol: login/login_protocol.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "login/login_common.h"
#include "login/login_protocol.h"
#include "base/text.h"
#include "store/userstate.h"

int login_usage(const char *program, const char *why)
{
    fprintf(stderr, "%s: %s\n"
                    "Usage: %s [--conf=PATH] [--timeout-ms=N] [--debug] [--quiet]\n"
                    "       [--fail-closed] [--hook=account|session] [--service=NAME] --user=NAME\n"
                    "Started by pam_mkio.so as root; reports on descriptor 3 (see pam_mkio(8)).\n",
            program, why, program);
    return 2;
}


/* A budget in milliseconds as the module gives it: 100 ms to the maximum. */
static bool login_parse_ms(const char *text, int64_t *ms)
{
    uint64_t v = 0;
    if (!mk_parse_u64(text, MK_HELPER_MAX_BUDGET_MS, &v) || v < 100)
        return false;
    *ms = (int64_t)v;
    return true;
}

int login_args_parse(int argc, char **argv, const char *program, bool refresh,
                     struct login_args *a)
{
    memset(a, 0, sizeof(*a));
    a->hook = "session";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--conf=", 7) == 0 && arg[7] == '/') {
            a->conf_path = arg + 7;
        } else if (strncmp(arg, "--timeout-ms=", 13) == 0) {
            if (!login_parse_ms(arg + 13, &a->timeout_ms))
                return login_usage(program, "bad --timeout-ms");
        } else if (refresh && strncmp(arg, "--budget-sent=", 14) == 0) {
            if (!login_parse_ms(arg + 14, &a->budget_sent_ms))
                return login_usage(program, "bad --budget-sent");
        } else if (strcmp(arg, "--debug") == 0) {
            a->debug = true;
        } else if (strcmp(arg, "--quiet") == 0) {
            a->quiet = true;
        } else if (strcmp(arg, "--fail-closed") == 0) {
            a->fail_closed = true;
        } else if (strcmp(arg, "--hook=account") == 0 || strcmp(arg, "--hook=session") == 0) {
            a->hook = arg + 7;
        } else if (strncmp(arg, "--service=", 10) == 0) {
            if (!mk_service_name_valid(arg + 10))
                return login_usage(program, "bad --service (a PAM service name: letters, digits, "
                                            "'.', '_', '+' and '-', at most 64 bytes)");
            a->service = arg + 10;
        } else if (strncmp(arg, "--user=", 7) == 0 && arg[7]) {
            a->user = arg + 7;
        } else {
            return login_usage(program, "unknown argument");
        }
    }
    if (!a->user)
        return login_usage(program, "--user=NAME is required");
    return 0;
}

/* Writes all of buf on descriptor 3; a module that went away (EPIPE,
 * SIGPIPE is ignored) is not an error worth more. */
static void login_write(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(MK_HELPER_FD, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void login_vsay(const char *kind, const char *fmt, va_list ap)
{
    char text[MK_HELPER_LINE_MAX - 16], clean[MK_HELPER_LINE_MAX - 16];
    char line[MK_HELPER_LINE_MAX];
    vsnprintf(text, sizeof(text), fmt, ap);
    mk_text_sanitize(text, clean, sizeof(clean));
    int n = snprintf(line, sizeof(line), "%s %s\n", kind, clean);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {   /* cut, but still one line */
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    login_write(line, (size_t)n);
}

void login_say(const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    login_vsay(kind, fmt, ap);
    va_end(ap);
}

void login_log(int prio, const char *fmt, ...)
{
    char kind[8];
    va_list ap;
    snprintf(kind, sizeof(kind), "log %d", prio & 7);
    va_start(ap, fmt);
    login_vsay(kind, fmt, ap);
    va_end(ap);
}

/* A clean process whatever the module's caller left behind: no
 * environment, a known umask and directory, no core file (it would hold a
 * token), and no file size limit a user set before su (a write cut short
 * would fail the refresh). Limits and the umask survive the gate's exec. */
static void login_sanitize_process(void)
{
    clearenv();
    umask(022);
    if (chdir("/") != 0)
        _exit(1);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit core = { 0, 0 };
    (void)setrlimit(RLIMIT_CORE, &core);
    struct rlimit fsize = { RLIM_INFINITY, RLIM_INFINITY };
    (void)setrlimit(RLIMIT_FSIZE, &fsize);
}

int login_process_setup(const char *program, bool keep_pipe)
{
    /* The pipe to the module; anything else is a person at a terminal. */
    struct stat st;
    if (fstat(MK_HELPER_FD, &st) != 0 || !S_ISFIFO(st.st_mode))
        return login_usage(program, "descriptor 3 is not the pipe pam_mkio.so gives");
    int flags = fcntl(MK_HELPER_FD, F_GETFD);
    if (flags >= 0)
        (void)fcntl(MK_HELPER_FD, F_SETFD, keep_pipe ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC);

    login_sanitize_process();
    if (geteuid() != 0 || getuid() != 0) {
        login_log(LOG_ERR, "%s must run as root (started by pam_mkio.so)", program);
        login_say("result", "fail");
        return 1;
    }
    return 0;
}

/* Whether service is a login (named in login_services) rather than an
 * account check; no service is an account check. */
static bool login_is_login(const struct mk_config *cfg, const char *service)
{
    for (size_t i = 0; service && i < cfg->login_service_count; i++)
        if (strcmp(cfg->login_services[i], service) == 0)
            return true;
    return false;
}

bool login_refresh_fresh(const struct mk_config *cfg, const struct login_args *a,
                         const char *name, const char *user, mk_error *record_err)
{
    bool login = login_is_login(cfg, a->service);
    int64_t interval = login ? cfg->login_refresh_interval_ms : cfg->refresh_interval_ms;
    int64_t now = (int64_t)time(NULL);
    struct mk_user_state record;

    mk_error_clear(record_err);
    if (interval <= 0 || mk_user_state_read(cfg, name, &record, record_err) != MK_OK ||
        !mk_user_state_fresh(&record, interval, now))
        return false;
    if (a->debug)
        login_log(LOG_DEBUG, "user %s (%s hook, %s %s): last refreshed %" PRId64 " s ago, within "
                  "%s (%" PRId64 " s); skipped", user, a->hook, login ? "login" : "account check",
                  a->service ? a->service : "no service", now - record.last_success,
                  login ? "login_refresh_interval" : "refresh_interval", interval / 1000);
    return true;
}
