/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* login/mkio-login-refresh.c: mkio-login-refresh, the second stage of the login
 * helper: the work of one login for pam_mkio.so (the protocol, why it
 * exists and why it has two stages: login/login_protocol.h).
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
#include "base/gidmap.h"

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
 * then one summary line, however many invites were accepted. The store is
 * read for the group names only when there is something to tell: a login
 * that joined nothing reads nothing more. */
static void helper_tell_joined(const struct mk_config *cfg, const struct mk_refresh_result *res)
{
    struct mk_store_view view = { 0 };
    mk_error err;
    bool have_view = res->store_written && res->accepted > 0 &&
                     mk_store_read(cfg, NULL, &view, &err) == MK_OK;
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

/* In a user namespace whose gid map leaves out some of the user's groups
 * (their gids as the store gives them, compared with /proc/self/gid_map):
 * one log line naming them, since initgroups (nss/nss_mkio.c) leaves them
 * out of this login's groups without a word. Nothing outside a user
 * namespace, beyond reading the map. */
static void helper_log_unmappable(const struct mk_config *cfg, const char *user)
{
    struct mk_store_view view = { 0 };
    struct mk_gidmap map;
    char names[400], shown[128];
    size_t used = 0, dropped = 0;
    mk_error err;

    if (mk_gidmap_read(NULL, &map) < 0 || map.all || mk_store_read(cfg, NULL, &view, &err) != MK_OK)
        return;
    names[0] = '\0';
    for (size_t g = 0; g < view.group_count; g++) {
        const struct mk_store_group *grp = &view.groups[g];
        bool member = false;
        for (size_t m = 0; m < grp->member_count && !member; m++)
            member = strcmp(grp->members[m], user) == 0;
        if (!member || mk_gidmap_has(&map, grp->gid))
            continue;
        if (used < sizeof(names)) {
            int n = snprintf(names + used, sizeof(names) - used, "%s%s %lu", dropped ? ", " : "",
                             grp->group_name, (unsigned long)grp->gid);
            used = n < 0 ? sizeof(names) : used + (size_t)n;
        }
        dropped++;
    }
    if (dropped) {
        mk_gidmap_describe(&map, shown, sizeof(shown));
        login_log(LOG_WARNING, "user %s: %zu MK.IO groups left out of this login's groups: this "
                  "user namespace's gid map (%s) does not map their gids (%s%s); set gid_range "
                  "inside the map (`mkio-orgs doctor` proposes one)", user, dropped, shown, names,
                  used >= sizeof(names) ? "..." : "");
    }
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
static void helper_tell_token_expiry(const struct mk_config *cfg, const char *user,
                                     const char *token, const char *source)
{
    char remedy[600];
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
    /* Who renews it depends on whose file it is (token.h). */
    mk_token_remedy(cfg, user, source, remedy, sizeof(remedy));
    if (left <= 0)
        login_say("info", "Your MK.IO token in %.200s expired on %s: %s.", source ? source : "?",
                  when, remedy);
    else
        login_say("info", "Your MK.IO token in %.200s expires in %" PRId64 " day%s (%s): %s.",
                  source ? source : "?", (left + 86399) / 86400,
                  (left + 86399) / 86400 == 1 ? "" : "s", when, remedy);
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

/* One login's refresh, as helper_run takes it through its steps. */
struct helper_login {
    const struct login_args *o;
    int64_t started;            /* monotonic ms */
    struct mk_config cfg;
    bool have_cfg;
    int64_t budget;             /* ms: the whole budget of this login */
    struct passwd pw;
    char *pwbuf;
    char *token, *token_source;
    char user[160];             /* the user's name sanitized, for messages */
};

/* The configuration, checked fully, and the budget (said to the module
 * when the gate did not). NULL to go on, else the result ("fail"). */
static const char *helper_load(struct helper_login *l)
{
    const struct login_args *o = l->o;
    mk_error err;
    mk_error_clear(&err);
    if (mk_config_load_with(o->conf_path, &mk_url_rules, &l->cfg, &err) != MK_OK) {
        helper_log_failure(o, l->user, "cannot read the configuration", &err);
        return "fail";
    }
    l->have_cfg = true;
    /* The gate said the budget (the module takes only the first line):
     * keep to the one it said, whatever the file says now. */
    l->budget = o->budget_sent_ms > 0 ? o->budget_sent_ms
              : o->timeout_ms > 0     ? o->timeout_ms : l->cfg.budget_ms;
    if (o->budget_sent_ms == 0)
        login_say("budget", "%" PRId64, l->budget);
    return NULL;
}

/* Whether this user is one to refresh now: a local account logins do not
 * leave alone, not refreshed too recently. NULL to go on, else "ignore". */
static const char *helper_check_user(struct helper_login *l)
{
    const struct login_args *o = l->o;
    int e = mk_passwd_lookup(o->user, &l->pw, &l->pwbuf);
    if (e) {
        if (o->debug)
            login_log(LOG_DEBUG, "user %s: no passwd entry (%s); ignored", l->user, strerror(e));
        return "ignore";
    }
    if (mk_config_user_ignored(&l->cfg, l->pw.pw_name, l->pw.pw_uid)) {
        if (o->debug)
            login_log(LOG_DEBUG, "user %s: uid %lu below min_uid %lu or in ignore_users; ignored",
                       l->user, (unsigned long)l->pw.pw_uid, (unsigned long)l->cfg.min_uid);
        return "ignore";
    }

    /* The gate again (the gate stage checked before the exec; a refresh
     * that finished since then also skips this one). A record that cannot
     * be read or believed never skips a refresh. */
    mk_error record_err;
    if (login_refresh_fresh(&l->cfg, o, l->pw.pw_name, l->user, &record_err))
        return "ignore";
    if (record_err.status != MK_OK)
        login_log(LOG_WARNING, "user %s: %s; refreshing", l->user, record_err.message);
    return NULL;
}

/* Tells the user that their token file is refused (err names it and why)
 * and who can fix it: for a file of token_dir only an administrator
 * (token.h), who replaces it mode 0600 with `mkio-orgs login --user`. */
static void helper_tell_refused_file(const struct helper_login *l, const mk_error *err)
{
    const char *file = l->token_source ? l->token_source : "?";
    if (mk_token_source_root_held(&l->cfg, file))
        login_say("info", "Your MK.IO token is not used: %.300s. Only your administrator can fix "
                  "%.200s: `chmod 0600 %.200s` (root-owned), or `mkio-orgs login --user %.64s` "
                  "with a new token.", err->message, file, file, l->pw.pw_name);
    else
        login_say("info", "Your MK.IO token is not used: %.300s. Fix it with `chmod 0600 %.200s`, "
                  "or run `mkio-orgs login` to save your token again.", err->message, file);
}

/* The user's token (token.h). NULL to go on; "ignore" when there is none;
 * "fail" when a token file is refused (logged, recorded, told). */
static const char *helper_find_token(struct helper_login *l)
{
    const struct login_args *o = l->o;
    mk_error err;
    mk_error_clear(&err);
    mk_status st = mk_token_for_user(&l->cfg, &l->pw, &l->token, &l->token_source, &err);
    if (st == MK_ERR_IO) { /* token.h: MK_ERR_IO is "no token file" and nothing else */
        if (o->debug)
            login_log(LOG_DEBUG, "user %s: no MK.IO token; ignored", l->user);
        return "ignore";
    }
    if (st != MK_OK) {
        /* A token file that exists but is refused is a misconfiguration the
         * admin must see, not an absence; and the user, who can fix it. */
        helper_log_failure(o, l->user, "cannot use the MK.IO token", &err);
        helper_record_failure(&l->cfg, l->pw.pw_name, l->user, &err);
        if (!o->quiet)
            helper_tell_refused_file(l, &err);
        return "fail";
    }
    if (!o->quiet)
        helper_tell_token_expiry(&l->cfg, l->pw.pw_name, l->token, l->token_source);
    return NULL;
}

/* The summary log line of a refresh that failed. */
static void helper_log_refresh_failed(const struct helper_login *l, mk_status st,
                                      const mk_error *err, const struct mk_refresh_result *res,
                                      int64_t elapsed)
{
    const struct login_args *o = l->o;
    helper_log_failure(o, l->user, "could not refresh MK.IO organizations", err);
    if (!o->quiet && err->status == MK_ERR_API && err->http_status == 401) {
        /* Name the file: logins read token_dir/USER first, so a user who
         * saved a new token of their own must learn it is not this one. */
        char remedy[600];
        mk_token_remedy(&l->cfg, l->pw.pw_name, l->token_source, remedy, sizeof(remedy));
        login_say("info", "MK.IO refused the token in %.200s (expired or revoked): %s.",
                  l->token_source ? l->token_source : "?", remedy);
    }
    login_log(LOG_INFO, "user %s: refresh failed (%s) after %" PRId64 " ms: %zu organizations joined "
               "(%zu accepted now), %zu skipped, %zu expired, %zu failed; store not updated",
               l->user, mk_status_name(st), elapsed, res->members + res->accepted, res->accepted,
               res->skipped, res->expired, res->failed);
}

/* The refresh within what is left of the budget (common/net/refresh.h),
 * and what it logs and tells the user: "ok" or "fail". */
static const char *helper_refresh(struct helper_login *l)
{
    const struct login_args *o = l->o;
    struct mk_refresh_result res = { 0 };
    const char *result = "fail";
    mk_error err;
    mk_error_clear(&err);

    int64_t network = helper_network_budget(l->budget) - (mk_clock_ms() - l->started);
    if (network < 1)
        network = 1;
    if (o->debug)
        login_log(LOG_DEBUG, "user %s (%s hook): token from %s; %" PRId64 " ms of the %" PRId64 " ms budget for the network",
                   l->user, o->hook, l->token_source ? l->token_source : "?", network, l->budget);

    struct mk_refresh_options ropts = {
        .accept = true,
        .budget_ms = network,
        .lock_timeout_ms = l->budget - (mk_clock_ms() - l->started),
        .write_store = true,
        .log = &helper_log_sink,
    };
    mk_status st = mk_refresh_user(&l->cfg, l->pw.pw_name, l->token, &ropts, &res, &err);
    mk_token_free(l->token);
    l->token = NULL;

    helper_log_orgs(l->user, &res, o->debug);
    if (!o->quiet)
        helper_tell_joined(&l->cfg, &res);
    helper_log_unmappable(&l->cfg, l->pw.pw_name);

    int64_t elapsed = mk_clock_ms() - l->started;
    if (st != MK_OK) {
        helper_log_refresh_failed(l, st, &err, &res, elapsed);
        goto out;
    }

    const char *first_ref = "";
    for (size_t i = 0; i < res.count; i++)
        if (res.orgs[i].outcome == MK_REFRESH_FAILED && res.orgs[i].ref[0]) {
            first_ref = res.orgs[i].ref;
            break;
        }
    char changed[1024];
    mk_store_change_format(&res.change, changed, sizeof(changed));
    login_log(LOG_INFO, "user %s: %zu organizations joined (%zu accepted now), %zu skipped, "
               "%zu expired, %zu failed; store updated in %" PRId64 " ms%s%s%s%s",
               l->user, res.members + res.accepted, res.accepted, res.skipped, res.expired,
               res.failed, elapsed, *changed ? "; groups " : "", changed,
               *first_ref ? "; first failure ref " : "", first_ref);
    result = "ok";
out:
    mk_refresh_result_free(&res);
    return result;
}

/* The work of one login, step by step; the result for the module: "ok",
 * "ignore" or "fail" (login/login_protocol.h). */
static const char *helper_run(const struct login_args *o)
{
    struct helper_login l = { .o = o, .started = mk_clock_ms() };
    const char *result;

    mk_text_sanitize(o->user, l.user, sizeof(l.user));
    if (!(result = helper_load(&l)) && !(result = helper_check_user(&l)) &&
        !(result = helper_find_token(&l)))
        result = helper_refresh(&l);

    mk_token_free(l.token);
    free(l.token_source);
    free(l.pwbuf);
    if (l.have_cfg)
        mk_config_free(&l.cfg);
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
    /* Everything is written and closed (the store, the record) and said
     * (write(2), no stdio): the pipe is closed now, so the module reads
     * its end at once, and the process ends without the exit handlers and
     * destructors of libcurl, OpenSSL, GnuTLS and the rest, which free
     * what the kernel frees anyway and were most of the time it took to
     * end. */
    close(MK_HELPER_FD);
    _exit(0);
}
