/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pam/pam_mkio.c: accepts a user's pending MK.IO organization invites at
 * login and records the organizations joined, so that NSS shows them as
 * Unix groups.
 *
 *   account  optional  pam_mkio.so [conf=PATH] [debug] [quiet] [timeout=SECONDS] [fail_closed]
 *   session  optional  pam_mkio.so ...
 *
 * The module links only libc and libpam. The work of a login (token, API,
 * store) runs in the login helper (login/login_protocol.h says why and how):
 * this file starts it with a clean environment, relays what it says, and
 * kills it when the time budget ends. A login is never delayed past the
 * budget and never refused because MK.IO is down, unless the administrator
 * asks for fail_closed (invariant 2). The module keeps no global state and
 * installs no signal handlers.
 */
#define PAM_SM_SESSION
#define PAM_SM_ACCOUNT
#define PAM_SM_AUTH

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "login/login_protocol.h"
#include "base/passwd.h"
#include "base/text.h"
#include "base/clock.h"

/* pam_set_data key: the outcome of the work already done on this handle,
 * so that a stack using both the account and the session hook talks to
 * MK.IO once per login. Each hook turns it into its own PAM code. */
#define PAM_MKIO_DONE_KEY "pam_mkio_done"

enum pam_mkio_outcome { PAM_MKIO_OK, PAM_MKIO_IGNORE, PAM_MKIO_FAIL };

struct pam_mkio_options {
    const char *conf_path; /* NULL: the helper's default configuration file */
    bool debug;
    bool quiet;
    bool fail_closed;
    long timeout_ms;       /* 0: the configuration's time_budget, as the helper says it */
};

/* Parses the module arguments. Unknown or malformed ones are logged and
 * ignored: a typo in a PAM line must not lock anyone out. */
static void pam_mkio_parse_args(pam_handle_t *pamh, int argc, const char **argv,
                                struct pam_mkio_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        char shown[160];
        if (strncmp(arg, "conf=", 5) == 0 && arg[5] == '/') {
            opts->conf_path = arg + 5;
        } else if (strcmp(arg, "debug") == 0) {
            opts->debug = true;
        } else if (strcmp(arg, "quiet") == 0) {
            opts->quiet = true;
        } else if (strcmp(arg, "fail_closed") == 0) {
            opts->fail_closed = true;
        } else if (strncmp(arg, "timeout=", 8) == 0) {
            /* The configuration's own parser (text.h): '.' whatever the
             * login program's setlocale made LC_NUMERIC. */
            int64_t ms;
            if (!mk_parse_seconds_ms(arg + 8, 100, MK_HELPER_MAX_BUDGET_MS, &ms))
                pam_syslog(pamh, LOG_ERR, "ignoring bad argument \"%s\" (timeout=SECONDS, 0.1 to 300)",
                           mk_text_sanitize(arg, shown, sizeof(shown)));
            else
                opts->timeout_ms = (long)ms;
        } else {
            pam_syslog(pamh, LOG_ERR, "ignoring unknown argument \"%s\"%s",
                       mk_text_sanitize(arg, shown, sizeof(shown)),
                       strncmp(arg, "conf=", 5) == 0 ? " (conf= takes an absolute path)" : "");
        }
    }
}

/* The PAM service name for the helper (PAM_SERVICE), or NULL when there is
 * none or it is not a plain name (mk_service_name_valid, text.h): the
 * helper then takes the call for an account check, never a login. */
static const char *pam_mkio_service(pam_handle_t *pamh)
{
    const void *item = NULL;

    if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS || !item)
        return NULL;
    return mk_service_name_valid(item) ? item : NULL;
}

/* Whether user has a passwd entry (0, else ENOENT or the lookup's errno):
 * other users are none of our business, and the answer costs no process. */
static int pam_mkio_user_exists(const char *user)
{
    struct passwd pw;
    char *buf = NULL;
    int e = mk_passwd_lookup(user, &pw, &buf);
    free(buf);
    return e;
}

static void pam_mkio_free_data(pam_handle_t *pamh, void *data, int error_status)
{
    free(data);
}

/* Remembers the outcome on the handle; failing to is harmless (the work is
 * redone). */
static void pam_mkio_remember(pam_handle_t *pamh, enum pam_mkio_outcome outcome)
{
    enum pam_mkio_outcome *copy = malloc(sizeof(*copy));
    if (!copy)
        return;
    *copy = outcome;
    if (pam_set_data(pamh, PAM_MKIO_DONE_KEY, copy, pam_mkio_free_data) != PAM_SUCCESS)
        free(copy);
}

/* What the helper said, collected while it runs. */
struct pam_mkio_run {
    char buf[MK_HELPER_OUTPUT_MAX];
    size_t len;            /* bytes in buf */
    size_t parsed;         /* bytes of buf already taken as whole lines */
    bool overflow;         /* the helper said more than MK_HELPER_OUTPUT_MAX */
    long deadline_ms;      /* monotonic */
    bool budget_fixed;     /* timeout= on the PAM line: the helper cannot move it */
    bool budget_taken;     /* a budget line came: any later one is ignored */
    long started_ms;
    int user_lines, log_lines;
    bool have_result;
    enum pam_mkio_outcome result;
};

/* Acts on one complete line from the helper. */
static void pam_mkio_take_line(pam_handle_t *pamh, struct pam_mkio_run *run, char *line,
                               bool speak)
{
    char text[MK_HELPER_LINE_MAX];
    char *rest = strchr(line, ' ');
    if (rest)
        *rest++ = '\0';
    else
        rest = line + strlen(line);

    if (strcmp(line, "budget") == 0) {
        /* Sent once (login/login_protocol.h): a second line, whichever stage sent
         * it, never moves the deadline. */
        uint64_t ms;
        if (!run->budget_fixed && !run->budget_taken &&
            mk_parse_u64(rest, MK_HELPER_MAX_BUDGET_MS, &ms) && ms >= 100)
            run->deadline_ms = run->started_ms + (long)ms;
        run->budget_taken = true;
    } else if (strcmp(line, "info") == 0 || strcmp(line, "error") == 0) {
        if (!speak || run->user_lines >= MK_HELPER_USER_LINES_MAX)
            return;
        run->user_lines++;
        mk_text_sanitize(rest, text, sizeof(text));
        if (line[0] == 'i')
            pam_info(pamh, "%s", text);
        else
            pam_error(pamh, "%s", text);
    } else if (strcmp(line, "log") == 0) {
        if (run->log_lines >= MK_HELPER_LOG_LINES_MAX)
            return;
        int prio = rest[0] >= '0' && rest[0] <= '7' && rest[1] == ' ' ? rest[0] - '0' : -1;
        if (prio < 0)
            return;
        run->log_lines++;
        pam_syslog(pamh, prio, "%s", mk_text_sanitize(rest + 2, text, sizeof(text)));
    } else if (strcmp(line, "result") == 0) {
        run->have_result = true;
        if (strcmp(rest, "ok") == 0)
            run->result = PAM_MKIO_OK;
        else if (strcmp(rest, "ignore") == 0)
            run->result = PAM_MKIO_IGNORE;
        else
            run->result = PAM_MKIO_FAIL;
    }
}

/* Takes every complete line that arrived; a line longer than the limit is
 * cut there. */
static void pam_mkio_take_lines(pam_handle_t *pamh, struct pam_mkio_run *run, bool speak, bool eof)
{
    for (;;) {
        char *start = run->buf + run->parsed;
        size_t avail = run->len - run->parsed;
        char *nl = memchr(start, '\n', avail);
        size_t line_len = nl ? (size_t)(nl - start) : avail;
        if (!nl && !eof && avail < MK_HELPER_LINE_MAX)
            return;
        if (avail == 0)
            return;
        char line[MK_HELPER_LINE_MAX];
        size_t copy = line_len < sizeof(line) - 1 ? line_len : sizeof(line) - 1;
        memcpy(line, start, copy);
        line[copy] = '\0';
        run->parsed += nl ? line_len + 1 : line_len;
        pam_mkio_take_line(pamh, run, line, speak);
    }
}

/* In the child, between fork and exec: only async-signal-safe calls.
 * Becomes root in full (a setuid caller's real uid is the user's, who could
 * otherwise signal or trace the helper), empties the signal state and
 * keeps no descriptor but the pipe. */
static void pam_mkio_child(int pipe_fd, char *const argv[], char *const envp[])
{
    if (pipe_fd == MK_HELPER_FD) {
        int flags = fcntl(pipe_fd, F_GETFD);
        if (flags < 0 || fcntl(pipe_fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
            _exit(127);
    } else {
        /* Out of 0..2 first: they may be the pipe when the caller had them
         * closed. dup2 leaves the new descriptor without close-on-exec. */
        int moved = fcntl(pipe_fd, F_DUPFD, MK_HELPER_FD + 1);
        if (moved < 0 || dup2(moved, MK_HELPER_FD) != MK_HELPER_FD)
            _exit(127);
    }
    /* The lowest free descriptor: below MK_HELPER_FD only if 0..2 were closed. */
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0)
        _exit(127);
    for (int fd = 0; fd <= 2; fd++)
        if (fd != null_fd && dup2(null_fd, fd) != fd)
            _exit(127);
    if (close_range(MK_HELPER_FD + 1, ~0U, 0) != 0) {
        for (int fd = MK_HELPER_FD + 1; fd < 65536; fd++)
            close(fd);
    }
    if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
        _exit(127);

    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);

    execve(MK_HELPER_PATH, argv, envp);
    _exit(127);
}

/* Ends the helper: SIGKILL, then reaps it. ECHILD means the login program
 * reaped it already (a SIGCHLD handler, or SIGCHLD ignored). */
static int pam_mkio_reap(pid_t pid, bool kill_it)
{
    int status = 0;
    if (kill_it)
        (void)kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

/* The helper's command line (login/login_protocol.h), in buffers of its own. */
struct pam_mkio_argv {
    char conf[PATH_MAX + 16], timeout[48], user[LOGIN_NAME_MAX + 512], hook[32];
    char service[MK_SERVICE_NAME_MAX + 16];
    char *argv[12];
};

/* Fills a with the helper's arguments. false (logged) when the conf= path
 * or the user name is too long to pass. */
static bool pam_mkio_helper_argv(pam_handle_t *pamh, const struct pam_mkio_options *opts,
                                 const char *user, const char *hook, const char *service,
                                 bool speak, struct pam_mkio_argv *a)
{
    int argc = 0;
    a->argv[argc++] = (char *)MK_HELPER_PATH;
    if (opts->conf_path) {
        if ((size_t)snprintf(a->conf, sizeof(a->conf), "--conf=%s", opts->conf_path) >= sizeof(a->conf)) {
            pam_syslog(pamh, LOG_ERR, "conf= path too long; login continues");
            return false;
        }
        a->argv[argc++] = a->conf;
    }
    if (opts->timeout_ms > 0) {
        snprintf(a->timeout, sizeof(a->timeout), "--timeout-ms=%ld", opts->timeout_ms);
        a->argv[argc++] = a->timeout;
    }
    if (opts->debug)
        a->argv[argc++] = (char *)"--debug";
    if (!speak)
        a->argv[argc++] = (char *)"--quiet";
    if (opts->fail_closed)
        a->argv[argc++] = (char *)"--fail-closed";
    snprintf(a->hook, sizeof(a->hook), "--hook=%s", hook);
    a->argv[argc++] = a->hook;
    if (service) {
        snprintf(a->service, sizeof(a->service), "--service=%s", service);
        a->argv[argc++] = a->service;
    }
    if ((size_t)snprintf(a->user, sizeof(a->user), "--user=%s", user) >= sizeof(a->user)) {
        pam_syslog(pamh, LOG_ERR, "user name too long; ignored");
        return false;
    }
    a->argv[argc++] = a->user;
    a->argv[argc] = NULL;
    return true;
}

/* Starts the helper with argv and a clean environment, its descriptor 3
 * the write end of a pipe whose read end goes to *read_fd. Its pid, or -1
 * (logged). */
static pid_t pam_mkio_start(pam_handle_t *pamh, char *const argv[], int *read_fd)
{
    char *envp[] = { (char *)MK_HELPER_ENV_PATH, NULL };
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        pam_syslog(pamh, LOG_ERR, "cannot start %s: pipe: %s", MK_HELPER_PATH, strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        pam_syslog(pamh, LOG_ERR, "cannot start %s: fork: %s", MK_HELPER_PATH, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0)
        pam_mkio_child(fds[1], argv, envp); /* never returns */
    close(fds[1]);
    *read_fd = fds[0];
    return pid;
}

/* Takes what the helper says on fd, line by line, until it closes the pipe
 * (true) or the deadline passes or poll fails (false). What passes
 * MK_HELPER_OUTPUT_MAX is read and dropped (run->overflow). */
static bool pam_mkio_relay(pam_handle_t *pamh, int fd, bool speak, struct pam_mkio_run *run)
{
    bool eof = false;
    while (!eof) {
        long wait = run->deadline_ms - mk_clock_ms();
        if (wait <= 0)
            return false;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n = poll(&pfd, 1, wait > INT_MAX ? INT_MAX : (int)wait);
        if (n < 0 && errno != EINTR)
            return false;
        if (n <= 0)
            continue;
        char scratch[4096];
        char *into = run->len < sizeof(run->buf) ? run->buf + run->len : scratch;
        size_t room = run->len < sizeof(run->buf) ? sizeof(run->buf) - run->len : sizeof(scratch);
        ssize_t got = read(fd, into, room);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            eof = true;
        } else if (into == scratch) {
            run->overflow = true;
        } else {
            run->len += (size_t)got;
        }
        pam_mkio_take_lines(pamh, run, speak, eof);
    }
    return true;
}

/* A descriptor that polls readable when the helper has exited (pidfd_open,
 * Linux 5.3), or -1 when the kernel has none: then the caller sleeps in
 * steps. The helper is the caller's child and not reaped yet, so the pid
 * is still its own. */
static int pam_mkio_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

/* The helper closes the pipe when it exits; gives it until the deadline to
 * be gone. true when it was reaped in time (*reaped its pid, or -1 when
 * the login program reaped it: ECHILD; *status how it ended). The pipe's
 * end comes a little before the process is gone: waiting on a pidfd
 * reaps it the moment it is, where a sleep of 1 ms cost most logins one
 * (a sleep of 1 ms stays the way without a pidfd). */
static bool pam_mkio_wait(pid_t pid, const struct pam_mkio_run *run, int *status, pid_t *reaped)
{
    int pidfd = -1;
    bool done = false;

    for (bool first = true;; first = false) {
        *reaped = waitpid(pid, status, WNOHANG);
        if (*reaped != 0 && !(*reaped < 0 && errno == EINTR)) {
            done = true;
            break;
        }
        long left = run->deadline_ms - mk_clock_ms();
        if (left <= 0)
            break;
        if (first)
            pidfd = pam_mkio_pidfd(pid);
        if (pidfd >= 0) {
            struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
            (void)poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        } else {
            struct timespec ms = { 0, 1000000 };
            nanosleep(&ms, NULL);
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    return done;
}

/* What the end of the helper says of the run: false (logged) when it was
 * out of time (then killed), could not be run, or ended without a result. */
static bool pam_mkio_judge(pam_handle_t *pamh, const struct pam_mkio_options *opts,
                           const char *user, const struct pam_mkio_run *run, pid_t pid,
                           bool in_time, pid_t reaped, int status)
{
    if (!in_time) {
        pam_mkio_reap(pid, true);
        /* Not "%.1f": the login program's setlocale would write "2,5". */
        long budget_ms = run->deadline_ms - run->started_ms;
        pam_syslog(pamh, LOG_ERR, "user %s: the MK.IO refresh did not finish within the %ld.%ld s time "
                   "budget and was stopped; %s", user, budget_ms / 1000, budget_ms % 1000 / 100,
                   opts->fail_closed ? "login refused (fail_closed)"
                                     : "the last known memberships stay; login continues");
        return false;
    }
    if (reaped > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127 && !run->have_result) {
        pam_syslog(pamh, LOG_ERR, "cannot run %s (missing, or not executable); %s", MK_HELPER_PATH,
                   opts->fail_closed ? "login refused (fail_closed)" : "login continues");
        return false;
    }
    if (reaped > 0 && !run->have_result) {
        if (WIFSIGNALED(status))
            pam_syslog(pamh, LOG_ERR, "%s ended by signal %d without a result", MK_HELPER_PATH,
                       WTERMSIG(status));
        else
            pam_syslog(pamh, LOG_ERR, "%s exited with status %d without a result", MK_HELPER_PATH,
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return false;
    }
    if (run->overflow)
        pam_syslog(pamh, LOG_WARNING, "%s said more than %d bytes; the rest was dropped",
                   MK_HELPER_PATH, MK_HELPER_OUTPUT_MAX);
    return true;
}

/* Runs the helper and relays what it says; fills run. Returns false when
 * the helper could not be started or did not finish by the deadline (the
 * reason is logged). */
static bool pam_mkio_run_helper(pam_handle_t *pamh, const struct pam_mkio_options *opts,
                                const char *user, const char *hook, const char *service,
                                bool speak, struct pam_mkio_run *run)
{
    struct pam_mkio_argv args;
    int fd = -1, status = 0;
    pid_t reaped = 0;

    if (!pam_mkio_helper_argv(pamh, opts, user, hook, service, speak, &args))
        return false;
    pid_t pid = pam_mkio_start(pamh, args.argv, &fd);
    if (pid < 0)
        return false;
    bool in_time = pam_mkio_relay(pamh, fd, speak, run);
    close(fd);
    if (in_time)
        in_time = pam_mkio_wait(pid, run, &status, &reaped);
    return pam_mkio_judge(pamh, opts, user, run, pid, in_time, reaped, status);
}

static enum pam_mkio_outcome pam_mkio_work(pam_handle_t *pamh, int flags, const struct pam_mkio_options *opts,
                                           const char *hook)
{
    const void *done = NULL;
    if (pam_get_data(pamh, PAM_MKIO_DONE_KEY, &done) == PAM_SUCCESS && done)
        return *(const enum pam_mkio_outcome *)done;

    long started = mk_clock_ms();
    bool speak = !opts->quiet && !(flags & PAM_SILENT);
    enum pam_mkio_outcome outcome = PAM_MKIO_FAIL;
    char shown[160];

    const char *user = NULL;
    if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !*user) {
        pam_syslog(pamh, LOG_ERR, "cannot tell which user is logging in; %s",
                   opts->fail_closed ? "login refused (fail_closed)" : "login continues");
        goto out;
    }
    mk_text_sanitize(user, shown, sizeof(shown));
    int e = pam_mkio_user_exists(user);
    if (e) {
        if (opts->debug)
            pam_syslog(pamh, LOG_DEBUG, "user %s: no passwd entry (%s); ignored", shown, strerror(e));
        outcome = PAM_MKIO_IGNORE;
        goto out;
    }

    struct pam_mkio_run *run = calloc(1, sizeof(*run));
    if (!run) {
        pam_syslog(pamh, LOG_ERR, "out of memory; login continues");
        goto out;
    }
    run->started_ms = started;
    run->budget_fixed = opts->timeout_ms > 0;
    run->deadline_ms = started + (opts->timeout_ms > 0 ? opts->timeout_ms : MK_HELPER_DEFAULT_BUDGET_MS);
    if (pam_mkio_run_helper(pamh, opts, user, hook, pam_mkio_service(pamh), speak, run) &&
        run->have_result)
        outcome = run->result;
    free(run);

out:
    pam_mkio_remember(pamh, outcome);
    return outcome;
}

/* The work of both hooks, and what each returns: fail_code is what a
 * failure returns under fail_closed; otherwise a failure is logged (by the
 * helper) and the login goes on. */
static int pam_mkio_hook(pam_handle_t *pamh, int flags, int argc, const char **argv,
                         const char *hook, int fail_code)
{
    struct pam_mkio_options opts;
    pam_mkio_parse_args(pamh, argc, argv, &opts);

    /* Only root can write the store: a PAM stack run by an unprivileged
     * program (a screen locker) has nothing to do here, and says so only
     * when asked to. */
    if (geteuid() != 0) {
        if (opts.debug)
            pam_syslog(pamh, LOG_DEBUG, "not running as root; ignored");
        return PAM_IGNORE;
    }

    switch (pam_mkio_work(pamh, flags, &opts, hook)) {
    case PAM_MKIO_OK:
        return PAM_SUCCESS;
    case PAM_MKIO_IGNORE:
        return PAM_IGNORE;
    case PAM_MKIO_FAIL:
        break;
    }
    if (!opts.fail_closed)
        return PAM_SUCCESS;
    if (!(flags & PAM_SILENT))
        pam_error(pamh, "Your MK.IO organization memberships could not be updated; "
                        "login refused by local policy.");
    return fail_code;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return pam_mkio_hook(pamh, flags, argc, argv, "session", PAM_SESSION_ERR);
}

/* For login programs that set supplementary groups before the session
 * opens (login, su, display managers): the account phase runs first. */
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return pam_mkio_hook(pamh, flags, argc, argv, "account", PAM_PERM_DENIED);
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return PAM_SUCCESS;
}

/* Present so that an auth line (needed for setcred) loads cleanly; the
 * module authenticates nobody. */
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return PAM_SUCCESS;
}
