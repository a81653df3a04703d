/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* login/mkio-login-refresh.c: mkio-login-refresh, the second stage of the login
 * helper: the work of one login for pam_mkio.so (the protocol, why it
 * exists and why it has two stages: login_helper.h).
 *
 * Started by the gate (login/mkio-login-helper.c, mkio-login-helper) with execve,
 * as root with an empty environment; reads the configuration again and
 * checks it fully, finds the user's token, accepts the pending invites the
 * policy allows and refreshes the user's groups (common/net/refresh.h), and
 * reports on descriptor 3. It may be killed at any moment: the store and
 * groups.db are replaced atomically.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "store/config.h"
#include "net/jwt.h"
#include "login/login_common.h"
#include "login/login_protocol.h"
#include "base/mk_error.h"
#include "base/passwd.h"
#include "net/refresh.h"
#include "store/store.h"
#include "base/text.h"
#include "net/token.h"
#include "net/url.h"
#include "store/userstate.h"
#include "base/clock.h"

/* Per-organization log lines before a summary takes over, so that the
 * module's MK_HELPER_LOG_LINES_MAX always leaves room for the summary. */
#define HELPER_ORG_LOG_LINES_MAX 40

/* The store's warnings ("gid taken, using ...") as `log` lines of the
 * protocol: pam_mkio pam_syslogs them (authpriv). */
static void helper_log_sink_fn(void *ctx, int priority, const char *message)
{
    login_log(priority, "%s", message);
}

static const struct mk_log_sink helper_log_sink = { helper_log_sink_fn, NULL };

/* Tells the user which groups this login joined: the first few by name,
 * then one summary line, however many invites were accepted. */
static void helper_tell_joined(const struct mk_config *cfg, const struct mk_refresh_result *res)
{
    struct mk_store_view view = { 0 };
    mk_error err;
    bool have_view = res->store_written && mk_store_read(cfg, NULL, &view, &err) == MK_OK;
    size_t shown = 0;

    for (size_t i = 0; i < res->count && shown < MK_HELPER_JOINED_SHOWN_MAX; i++) {
        const struct mk_refresh_org *org = &res->orgs[i];
        if (org->outcome != MK_REFRESH_ACCEPTED)
            continue;
        const char *group = NULL;
        for (size_t g = 0; have_view && g < view.group_count; g++)
            if (strcmp(view.groups[g].org_id, org->org_id) == 0)
                group = view.groups[g].group_name;
        const char *name = org->org_name ? org->org_name : org->org_id;
        if (group)
            login_say("info", "You are now a member of the MK.IO organization \"%.160s\" (group %s).",
                       name, group);
        else
            login_say("info", "You are now a member of the MK.IO organization \"%.160s\".", name);
        shown++;
    }
    if (res->accepted > shown)
        login_say("info", "... and %zu more: %zu MK.IO invites accepted at this login "
                   "(`mkio-orgs status` lists every group).", res->accepted - shown, res->accepted);
    if (have_view)
        mk_store_view_free(&view);
}

/* One log line per organization that needs an admin's or user's attention
 * (and, with debug, per organization), up to a bound; then a count. */
static void helper_log_orgs(const char *user, const struct mk_refresh_result *res, bool debug)
{
    size_t logged = 0, unlogged = 0;
    for (size_t i = 0; i < res->count; i++) {
        const struct mk_refresh_org *org = &res->orgs[i];
        const char *name = org->org_name ? org->org_name : "";
        const char *inviter = org->inviter_email ? org->inviter_email : "unknown";
        bool worth = org->outcome == MK_REFRESH_ACCEPTED || org->outcome == MK_REFRESH_EXPIRED ||
                     org->outcome == MK_REFRESH_SKIPPED || org->outcome == MK_REFRESH_FAILED || debug;
        if (!worth)
            continue;
        if (logged >= HELPER_ORG_LOG_LINES_MAX) {
            unlogged++;
            continue;
        }
        logged++;
        switch (org->outcome) {
        case MK_REFRESH_ACCEPTED:
            login_log(LOG_INFO, "user %s: accepted the invite to organization \"%.160s\" (%s) from %.160s",
                       user, name, org->org_id, inviter);
            break;
        case MK_REFRESH_EXPIRED:
            login_log(LOG_NOTICE, "user %s: the invite to organization \"%.160s\" (%s) from %.160s "
                       "has expired and was not accepted; ask for a re-send (%s)",
                       user, name, org->org_id, inviter, org->detail);
            break;
        case MK_REFRESH_SKIPPED:
            login_log(LOG_INFO, "user %s: skipped the invite to organization \"%.160s\" (%s) from %.160s: %s",
                       user, name, org->org_id, inviter, org->detail);
            break;
        case MK_REFRESH_FAILED: {
            /* The API layer's detail usually names the ref already: once. */
            bool ref_shown = !*org->ref || strstr(org->detail, org->ref);
            login_log(LOG_WARNING, "user %s: could not accept the invite to organization \"%.160s\" (%s): "
                       "%s%s%s", user, name, org->org_id, org->detail, ref_shown ? "" : "; ref ",
                       ref_shown ? "" : org->ref);
            break;
        }
        case MK_REFRESH_MEMBER:
        case MK_REFRESH_NOT_ACCEPTING:
        case MK_REFRESH_OTHER:
            login_log(LOG_DEBUG, "user %s: organization \"%.160s\" (%s): %s%s%s", user, name, org->org_id,
                       mk_refresh_outcome_name(org->outcome), *org->detail ? ": " : "", org->detail);
            break;
        }
    }
    if (unlogged)
        login_log(LOG_INFO, "user %s: %zu more organizations not logged one by one", user, unlogged);
}

static void helper_log_failure(const struct login_args *o, const char *user, const char *what,
                               const mk_error *err)
{
    bool ref_shown = !*err->ref || strstr(err->message, err->ref);
    login_log(LOG_ERR, "user %s: %s: %s%s%s; %s", user, what, err->message, ref_shown ? "" : "; ref ",
               ref_shown ? "" : err->ref, o->fail_closed ? "login refused (fail_closed)"
                                        : "the last known memberships stay; login continues");
}

/* Records a refresh that failed before it reached common/net/refresh.h (a
 * token file refused), so that `mkio-orgs status` shows why; a record that
 * cannot be written is logged, never more. */
static void helper_record_failure(const struct mk_config *cfg, const char *name, const char *user,
                                  const mk_error *why)
{
    mk_error err;
    mk_error_clear(&err);
    if (mk_user_state_record(cfg, name, (int64_t)time(NULL), false, why->message, &err) != MK_OK)
        login_log(LOG_WARNING, "user %s: cannot record this refresh: %s", user, err.message);
}

/* One line for the user, when the token they log in with expires within
 * token_warn_days (a JWT's exp; a token that is not one says nothing). */
static void helper_tell_token_expiry(const struct mk_config *cfg, const char *token)
{
    struct mk_jwt_claims claims;
    int64_t now = (int64_t)time(NULL), left;
    char when[32] = "?";
    struct tm tm;
    time_t exp;

    if (cfg->token_warn_days == 0 || !mk_jwt_read_claims(token, &claims) || !claims.has_exp)
        return;
    left = claims.exp - now;
    if (left > (int64_t)cfg->token_warn_days * 86400)
        return;
    exp = (time_t)claims.exp;
    if (gmtime_r(&exp, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    if (left <= 0)
        login_say("info", "Your MK.IO token expired on %s: make a new one in the MK.IO web app "
                           "(profile menu, \"Your personal API tokens\") and run `mkio-orgs login`.",
                   when);
    else
        login_say("info", "Your MK.IO token expires in %" PRId64 " day%s (%s): make a new one in "
                           "the MK.IO web app and run `mkio-orgs login`.",
                   (left + 86399) / 86400, (left + 86399) / 86400 == 1 ? "" : "s", when);
}

/* The time the network part may take: the budget less a reserve for the
 * local part (the store write), so that the helper finishes on its own
 * before the module's deadline kills it. */
static int64_t helper_network_budget(int64_t budget_ms)
{
    int64_t reserve = budget_ms / 10;
    if (reserve < 100)
        reserve = 100;
    if (reserve > 1000)
        reserve = 1000;
    return budget_ms - reserve > 50 ? budget_ms - reserve : 50;
}

static const char *helper_run(const struct login_args *o)
{
    int64_t started = mk_clock_ms();
    struct mk_config cfg;
    bool have_cfg = false;
    struct passwd pw;
    char *pwbuf = NULL;
    char *token = NULL, *token_source = NULL;
    struct mk_refresh_result res = { 0 };
    mk_error err;
    const char *result = "fail";
    char user[160];

    mk_error_clear(&err);
    mk_text_sanitize(o->user, user, sizeof(user));

    if (mk_config_load_with(o->conf_path, &mk_url_rules, &cfg, &err) != MK_OK) {
        helper_log_failure(o, user, "cannot read the configuration", &err);
        goto out;
    }
    have_cfg = true;
    /* The gate said the budget (the module takes only the first line):
     * keep to the one it said, whatever the file says now. */
    int64_t budget = o->budget_sent_ms > 0 ? o->budget_sent_ms
                   : o->timeout_ms > 0     ? o->timeout_ms : cfg.budget_ms;
    if (o->budget_sent_ms == 0)
        login_say("budget", "%" PRId64, budget);

    int e = mk_passwd_lookup(o->user, &pw, &pwbuf);
    if (e) {
        if (o->debug)
            login_log(LOG_DEBUG, "user %s: no passwd entry (%s); ignored", user, strerror(e));
        result = "ignore";
        goto out;
    }
    if (mk_config_user_ignored(&cfg, pw.pw_name, pw.pw_uid)) {
        if (o->debug)
            login_log(LOG_DEBUG, "user %s: uid %lu below min_uid %lu or in ignore_users; ignored",
                       user, (unsigned long)pw.pw_uid, (unsigned long)cfg.min_uid);
        result = "ignore";
        goto out;
    }

    /* The gate again (the gate stage checked before the exec; a refresh
     * that finished since then also skips this one). A record that cannot
     * be read or believed never skips a refresh. */
    mk_error record_err;
    if (login_refresh_fresh(&cfg, o, pw.pw_name, user, &record_err)) {
        result = "ignore";
        goto out;
    }
    if (record_err.status != MK_OK)
        login_log(LOG_WARNING, "user %s: %s; refreshing", user, record_err.message);

    mk_status st = mk_token_for_user(&cfg, &pw, &token, &token_source, &err);
    if (st == MK_ERR_IO) { /* token.h: MK_ERR_IO is "no token file" and nothing else */
        if (o->debug)
            login_log(LOG_DEBUG, "user %s: no MK.IO token; ignored", user);
        result = "ignore";
        goto out;
    }
    if (st != MK_OK) {
        /* A token file that exists but is refused is a misconfiguration the
         * admin must see, not an absence; and the user, who can fix it. */
        helper_log_failure(o, user, "cannot use the MK.IO token", &err);
        helper_record_failure(&cfg, pw.pw_name, user, &err);
        if (!o->quiet)
            login_say("info", "Your MK.IO token is not used: %.300s.", err.message);
        goto out;
    }
    if (!o->quiet)
        helper_tell_token_expiry(&cfg, token);

    int64_t network = helper_network_budget(budget) - (mk_clock_ms() - started);
    if (network < 1)
        network = 1;
    if (o->debug)
        login_log(LOG_DEBUG, "user %s (%s hook): token from %s; %" PRId64 " ms of the %" PRId64 " ms budget for the network",
                   user, o->hook, token_source ? token_source : "?", network, budget);

    struct mk_refresh_options ropts = {
        .accept = true,
        .budget_ms = network,
        .lock_timeout_ms = budget - (mk_clock_ms() - started),
        .write_store = true,
        .log = &helper_log_sink,
    };
    st = mk_refresh_user(&cfg, pw.pw_name, token, &ropts, &res, &err);
    mk_token_free(token);
    token = NULL;

    helper_log_orgs(user, &res, o->debug);
    if (!o->quiet)
        helper_tell_joined(&cfg, &res);

    int64_t elapsed = mk_clock_ms() - started;
    if (st != MK_OK) {
        helper_log_failure(o, user, "could not refresh MK.IO organizations", &err);
        if (!o->quiet && err.status == MK_ERR_API && err.http_status == 401)
            login_say("info", "MK.IO refused your token (expired or revoked): make a new one in "
                               "the MK.IO web app and run `mkio-orgs login`.");
        login_log(LOG_INFO, "user %s: refresh failed (%s) after %" PRId64 " ms: %zu organizations joined "
                   "(%zu accepted now), %zu skipped, %zu expired, %zu failed; store not updated",
                   user, mk_status_name(st), elapsed, res.members + res.accepted, res.accepted,
                   res.skipped, res.expired, res.failed);
        goto out;
    }

    const char *first_ref = "";
    for (size_t i = 0; i < res.count; i++)
        if (res.orgs[i].outcome == MK_REFRESH_FAILED && res.orgs[i].ref[0]) {
            first_ref = res.orgs[i].ref;
            break;
        }
    login_log(LOG_INFO, "user %s: %zu organizations joined (%zu accepted now), %zu skipped, "
               "%zu expired, %zu failed; store updated in %" PRId64 " ms%s%s",
               user, res.members + res.accepted, res.accepted, res.skipped, res.expired, res.failed,
               elapsed, *first_ref ? "; first failure ref " : "", first_ref);
    result = "ok";

out:
    mk_token_free(token);
    free(token_source);
    mk_refresh_result_free(&res);
    free(pwbuf);
    if (have_cfg)
        mk_config_free(&cfg);
    return result;
}

#define REFRESH_PROGRAM "mkio-login-refresh"

int main(int argc, char **argv)
{
    struct login_args o;
    int rc = login_args_parse(argc, argv, REFRESH_PROGRAM, true, &o);
    if (rc)
        return rc;
    rc = login_process_setup(REFRESH_PROGRAM, false);
    if (rc)
        return rc;
    login_say("result", "%s", helper_run(&o));
    return 0;
}
