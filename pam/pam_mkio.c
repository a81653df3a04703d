/* pam/pam_mkio.c: accepts a user's pending MK.IO organization invites at
 * login and records the organizations joined, so that NSS shows them as
 * Unix groups. A thin wrapper over common/refresh.h.
 *
 *   session  optional  pam_mkio.so [conf=PATH] [debug] [quiet] [timeout=SECONDS] [fail_closed]
 *   account  optional  pam_mkio.so ...  (for programs that set groups before the session)
 *
 * Invariant 2: a login is never delayed past the time budget and never
 * refused because MK.IO is down, unless the administrator asks for
 * fail_closed. The module keeps no global state, installs no signal
 * handlers and leaves libcurl's global state alone, so it is safe in
 * threaded and forking login programs.
 */
#define PAM_SM_SESSION
#define PAM_SM_ACCOUNT
#define PAM_SM_AUTH

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "mk_error.h"
#include "refresh.h"
#include "store.h"
#include "token.h"

/* pam_set_data key: the outcome of the work already done on this handle,
 * so that a stack using both the account and the session hook talks to
 * MK.IO once per login. */
#define PAM_MKIO_DONE_KEY "pam_mkio_done"

/* What the log and the terminal may show of text a remote party chose. */
#define PAM_MKIO_SHOWN_MAX 160

struct pam_mkio_options {
    const char *conf_path; /* NULL: the default configuration file */
    bool debug;
    bool quiet;
    bool fail_closed;
    long timeout_ms;       /* 0: the configuration's time_budget */
};

static long pam_mkio_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies text for a log line or a terminal: control characters (C0, DEL,
 * and C1 as UTF-8) become '?', so that a hostile organization name cannot
 * forge log lines or send escape sequences to the user's terminal. */
static void pam_mkio_printable(const char *in, char *out, size_t out_len)
{
    size_t j = 0;
    if (!in)
        in = "";
    for (size_t i = 0; in[i] && j + 1 < out_len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == 0xc2 && (unsigned char)in[i + 1] >= 0x80 && (unsigned char)in[i + 1] <= 0x9f) {
            out[j++] = '?';
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            out[j++] = '?';
        } else {
            out[j++] = (char)c;
        }
    }
    out[j] = '\0';
}

/* Parses the module arguments. Unknown or malformed ones are logged and
 * ignored: a typo in a PAM line must not lock anyone out. */
static void pam_mkio_parse_args(pam_handle_t *pamh, int argc, const char **argv,
                                struct pam_mkio_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "conf=", 5) == 0 && arg[5]) {
            opts->conf_path = arg + 5;
        } else if (strcmp(arg, "debug") == 0) {
            opts->debug = true;
        } else if (strcmp(arg, "quiet") == 0) {
            opts->quiet = true;
        } else if (strcmp(arg, "fail_closed") == 0) {
            opts->fail_closed = true;
        } else if (strncmp(arg, "timeout=", 8) == 0) {
            char *end = NULL;
            errno = 0;
            double seconds = strtod(arg + 8, &end);
            if (errno || end == arg + 8 || *end || !(seconds >= 0.1 && seconds <= 300))
                pam_syslog(pamh, LOG_ERR, "ignoring bad argument \"%s\" (timeout=SECONDS, 0.1 to 300)", arg);
            else
                opts->timeout_ms = (long)(seconds * 1000.0 + 0.5);
        } else {
            char shown[PAM_MKIO_SHOWN_MAX];
            pam_mkio_printable(arg, shown, sizeof(shown));
            pam_syslog(pamh, LOG_ERR, "ignoring unknown argument \"%s\"", shown);
        }
    }
}

/* getpwnam_r with a buffer that grows; *buf must be freed by the caller. */
static int pam_mkio_getpw(const char *user, struct passwd *pw, char **buf)
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
        e = getpwnam_r(user, pw, *buf, len, &found);
        if (e != ERANGE || len >= (1u << 20))
            break;
        len *= 2;
    }
    if (e)
        return e;
    return found ? 0 : ENOENT;
}

static void pam_mkio_free_data(pam_handle_t *pamh, void *data, int error_status)
{
    free(data);
}

/* Remembers rc on the handle; failing to is harmless (the work is redone). */
static void pam_mkio_remember(pam_handle_t *pamh, int rc)
{
    int *copy = malloc(sizeof(*copy));
    if (!copy)
        return;
    *copy = rc;
    if (pam_set_data(pamh, PAM_MKIO_DONE_KEY, copy, pam_mkio_free_data) != PAM_SUCCESS)
        free(copy);
}

/* Tells the user, one line per organization joined by this login, which
 * group it is. The group name comes from the store just written. */
static void pam_mkio_tell_joined(pam_handle_t *pamh, const struct mk_config *cfg,
                                 const struct mk_refresh_result *res)
{
    struct mk_store_view view = { 0 };
    mk_error err;
    bool have_view = res->store_written && mk_store_read(cfg, &view, &err) == MK_OK;

    for (size_t i = 0; i < res->count; i++) {
        const struct mk_refresh_org *org = &res->orgs[i];
        if (org->outcome != MK_REFRESH_ACCEPTED)
            continue;
        char name[PAM_MKIO_SHOWN_MAX];
        pam_mkio_printable(org->org_name ? org->org_name : org->org_id, name, sizeof(name));
        const char *group = NULL;
        for (size_t g = 0; have_view && g < view.group_count; g++)
            if (strcmp(view.groups[g].org_id, org->org_id) == 0)
                group = view.groups[g].group_name;
        if (group)
            pam_info(pamh, "You are now a member of the MK.IO organization \"%s\" (group %s).",
                     name, group);
        else
            pam_info(pamh, "You are now a member of the MK.IO organization \"%s\".", name);
    }
    if (have_view)
        mk_store_view_free(&view);
}

/* One log line per organization that needs an admin's or user's attention
 * (and, with debug, per organization). */
static void pam_mkio_log_orgs(pam_handle_t *pamh, const char *user, const struct mk_refresh_result *res,
                              bool debug)
{
    for (size_t i = 0; i < res->count; i++) {
        const struct mk_refresh_org *org = &res->orgs[i];
        char name[PAM_MKIO_SHOWN_MAX], id[PAM_MKIO_SHOWN_MAX], detail[sizeof(org->detail)];
        char inviter[PAM_MKIO_SHOWN_MAX], ref[sizeof(org->ref)];
        pam_mkio_printable(org->org_name ? org->org_name : "", name, sizeof(name));
        pam_mkio_printable(org->org_id, id, sizeof(id));
        pam_mkio_printable(org->detail, detail, sizeof(detail));
        pam_mkio_printable(org->inviter_email ? org->inviter_email : "unknown", inviter, sizeof(inviter));
        pam_mkio_printable(org->ref, ref, sizeof(ref));

        switch (org->outcome) {
        case MK_REFRESH_ACCEPTED:
            pam_syslog(pamh, LOG_INFO, "user %s: accepted the invite to organization \"%s\" (%s) from %s",
                       user, name, id, inviter);
            break;
        case MK_REFRESH_EXPIRED:
            pam_syslog(pamh, LOG_NOTICE, "user %s: the invite to organization \"%s\" (%s) from %s "
                       "has expired and was not accepted; ask for a re-send (%s)",
                       user, name, id, inviter, detail);
            break;
        case MK_REFRESH_SKIPPED:
            pam_syslog(pamh, LOG_INFO, "user %s: skipped the invite to organization \"%s\" (%s) from %s: %s",
                       user, name, id, inviter, detail);
            break;
        case MK_REFRESH_FAILED:
            pam_syslog(pamh, LOG_WARNING, "user %s: could not accept the invite to organization \"%s\" (%s): "
                       "%s%s%s", user, name, id, detail, *ref ? "; ref " : "", ref);
            break;
        case MK_REFRESH_MEMBER:
        case MK_REFRESH_NOT_ACCEPTING:
        case MK_REFRESH_OTHER:
            if (debug)
                pam_syslog(pamh, LOG_DEBUG, "user %s: organization \"%s\" (%s): %s%s%s", user, name, id,
                           mk_refresh_outcome_name(org->outcome), *detail ? ": " : "", detail);
            break;
        }
    }
}

static void pam_mkio_log_failure(pam_handle_t *pamh, const char *user, const char *what,
                                 const mk_error *err, bool fail_closed)
{
    char message[sizeof(err->message)], ref[sizeof(err->ref)];
    pam_mkio_printable(err->message, message, sizeof(message));
    pam_mkio_printable(err->ref, ref, sizeof(ref));
    pam_syslog(pamh, LOG_ERR, "user %s: %s: %s%s%s; %s", user, what, message,
               *ref ? "; ref " : "", ref,
               fail_closed ? "login refused (fail_closed)"
                           : "the last known memberships stay; login continues");
}

/* The work of both hooks. fail_code is what a failure returns under
 * fail_closed; otherwise failures are logged and the login goes on. */
static int pam_mkio_refresh(pam_handle_t *pamh, int flags, int argc, const char **argv,
                            int fail_code)
{
    const void *done = NULL;
    if (pam_get_data(pamh, PAM_MKIO_DONE_KEY, &done) == PAM_SUCCESS && done)
        return *(const int *)done;

    long started = pam_mkio_now_ms();
    struct pam_mkio_options opts;
    struct mk_config cfg;
    bool have_cfg = false;
    struct passwd pw;
    char *pwbuf = NULL;
    char *token = NULL;
    char *token_source = NULL;
    struct mk_refresh_result res = { 0 };
    mk_error err;
    const char *user = NULL;
    char user_shown[PAM_MKIO_SHOWN_MAX];
    int rc = PAM_SUCCESS;

    mk_error_clear(&err);
    pam_mkio_parse_args(pamh, argc, argv, &opts);
    int fail_rc = opts.fail_closed ? fail_code : PAM_SUCCESS;
    bool speak = !opts.quiet && !(flags & PAM_SILENT);

    const char *pam_user = NULL;
    if (pam_get_user(pamh, &pam_user, NULL) != PAM_SUCCESS || !pam_user || !*pam_user) {
        pam_syslog(pamh, LOG_ERR, "cannot tell which user is logging in; %s",
                   opts.fail_closed ? "login refused (fail_closed)" : "login continues");
        rc = fail_rc;
        goto out;
    }
    /* Log lines show the name as printable text; lookups use it as given. */
    pam_mkio_printable(pam_user, user_shown, sizeof(user_shown));
    user = user_shown;

    if (mk_config_load(opts.conf_path, &cfg, &err) != MK_OK) {
        pam_mkio_log_failure(pamh, user, "cannot read the configuration", &err, opts.fail_closed);
        rc = fail_rc;
        goto out;
    }
    have_cfg = true;

    int e = pam_mkio_getpw(pam_user, &pw, &pwbuf);
    if (e) {
        /* Not a local account: nothing of ours to do for it. */
        if (opts.debug)
            pam_syslog(pamh, LOG_DEBUG, "user %s: no passwd entry (%s); ignored", user, strerror(e));
        rc = PAM_IGNORE;
        goto out;
    }
    if (mk_config_user_ignored(&cfg, pw.pw_name, pw.pw_uid)) {
        if (opts.debug)
            pam_syslog(pamh, LOG_DEBUG, "user %s: uid %lu below min_uid %lu or in ignore_users; ignored",
                       user, (unsigned long)pw.pw_uid, (unsigned long)cfg.min_uid);
        rc = PAM_IGNORE;
        goto out;
    }

    mk_status st = mk_token_for_user(&cfg, &pw, &token, &token_source, &err);
    if (st == MK_ERR_IO) { /* token.h: MK_ERR_IO is "no token file" and nothing else */
        if (opts.debug)
            pam_syslog(pamh, LOG_DEBUG, "user %s: no MK.IO token; ignored", user);
        rc = PAM_IGNORE;
        goto out;
    }
    if (st != MK_OK) {
        /* A token file that exists but is refused is a misconfiguration the
         * admin must see, not an absence. */
        pam_mkio_log_failure(pamh, user, "cannot use the MK.IO token", &err, opts.fail_closed);
        rc = fail_rc;
        goto out;
    }

    long budget = opts.timeout_ms > 0 ? opts.timeout_ms : cfg.budget_ms;
    long left = budget - (pam_mkio_now_ms() - started);
    if (left < 1)
        left = 1;
    if (opts.debug)
        pam_syslog(pamh, LOG_DEBUG, "user %s: token from %s; %ld ms of the %ld ms budget left",
                   user, token_source ? token_source : "?", left, budget);

    struct mk_refresh_options ropts = {
        .accept = true,
        .budget_ms = left,
        .lock_timeout_ms = left,
        .write_store = true,
    };
    st = mk_refresh_user(&cfg, pw.pw_name, token, &ropts, &res, &err);
    mk_token_free(token);
    token = NULL;

    pam_mkio_log_orgs(pamh, user, &res, opts.debug);
    if (speak)
        pam_mkio_tell_joined(pamh, &cfg, &res);

    long elapsed = pam_mkio_now_ms() - started;
    if (st != MK_OK) {
        pam_mkio_log_failure(pamh, user, "could not refresh MK.IO organizations", &err, opts.fail_closed);
        pam_syslog(pamh, LOG_INFO, "user %s: refresh failed (%s) after %ld ms: %zu organizations joined "
                   "(%zu accepted now), %zu skipped, %zu expired, %zu failed; store not updated%s%s",
                   user, mk_status_name(st), elapsed, res.members + res.accepted, res.accepted,
                   res.skipped, res.expired, res.failed, *err.ref ? "; ref " : "", err.ref);
        rc = fail_rc;
        goto out;
    }

    const char *first_ref = "";
    for (size_t i = 0; i < res.count; i++)
        if (res.orgs[i].outcome == MK_REFRESH_FAILED && res.orgs[i].ref[0]) {
            first_ref = res.orgs[i].ref;
            break;
        }
    char ref[128];
    pam_mkio_printable(first_ref, ref, sizeof(ref));
    pam_syslog(pamh, LOG_INFO, "user %s: %zu organizations joined (%zu accepted now), %zu skipped, "
               "%zu expired, %zu failed; store updated in %ld ms%s%s",
               user, res.members + res.accepted, res.accepted, res.skipped, res.expired, res.failed,
               elapsed, *ref ? "; first failure ref " : "", ref);
    rc = PAM_SUCCESS;

out:
    if (rc != PAM_SUCCESS && rc != PAM_IGNORE && !(flags & PAM_SILENT))
        pam_error(pamh, "Your MK.IO organization memberships could not be updated; "
                        "login refused by local policy.");
    mk_token_free(token);
    free(token_source);
    mk_refresh_result_free(&res);
    free(pwbuf);
    if (have_cfg)
        mk_config_free(&cfg);
    pam_mkio_remember(pamh, rc);
    return rc;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return pam_mkio_refresh(pamh, flags, argc, argv, PAM_SESSION_ERR);
}

/* For login programs that set supplementary groups before the session
 * opens (login, su, display managers): the account phase runs first. */
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    return pam_mkio_refresh(pamh, flags, argc, argv, PAM_PERM_DENIED);
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
