/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/doctor_token.c: the tls and token checks of mkio-orgs doctor
 * (tool/doctor_token.h): each token sent to GET /api/v1/user/profile, and
 * what the answer says of TLS and of the token. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/jwt.h"
#include "net/profile.h"
#include "net/token.h"
#include "store/store.h"
#include "tool/cmd_refresh.h"
#include "tool/doctor.h"
#include "tool/doctor_list.h"
#include "tool/doctor_token.h"
#include "tool/util.h"

/* A bearer token for the TLS check when no real one is at hand: any HTTP
 * answer (a 401 too) shows that TLS verified. */
#define DOCTOR_PROBE_TOKEN "mkio-doctor-tls-probe"

/* GET /api/v1/user/profile with token, under the tool's proxy rule and the
 * configured connect timeout and time budget. */
static mk_status doctor_profile(struct doctor *d, const char *token, struct mk_profile *profile,
                                mk_error *err)
{
    mk_http *http = NULL;
    mk_status st = mk_http_new(&d->t->cfg, token, &http, err);
    if (st != MK_OK)
        return st;
    /* As tool_client_for_token: a user running the tool for themself keeps
     * their proxy settings; root never takes them from the environment. */
    if (getuid() != 0 && geteuid() == getuid())
        mk_http_allow_env_proxy(http, true);
    memset(profile, 0, sizeof(*profile));
    st = mk_profile_get(http, profile, err);
    mk_http_free(http);
    return st;
}

static bool base_url_is_http(const struct mk_config *cfg)
{
    return strncmp(cfg->base_url, "http://", 7) == 0;
}

/* Reads the answer of a profile request for the TLS check. */
static void report_tls(struct doctor *d, bool probe, mk_status st, const mk_error *err)
{
    const struct mk_config *cfg = &d->t->cfg;
    char *hint = NULL;
    if (st == MK_OK || st == MK_ERR_API || st == MK_ERR_PROTOCOL) {
        d->tls_ok = true;
        if (base_url_is_http(cfg)) {
            hint = doctor_hint("set base_url in %s to the https:// address of MK.IO (plain http "
                               "is allowed only to loopback, for tests)", cfg->source);
            doctor_add(d, DOCTOR_WARN, "tls", hint,
                       "%s answered over plain http (loopback): no TLS to verify",
                       cfg->base_url);
        } else {
            doctor_add(d, DOCTOR_OK, "tls", NULL, "%s answered (HTTP %ld%s): its certificate "
                       "verified against %s", cfg->base_url, err->http_status ? err->http_status
                       : 200L, probe ? " to a request without a real token" : "",
                       cfg->ca_file && *cfg->ca_file ? cfg->ca_file : "the system's CA store");
        }
    } else if (st == MK_ERR_USAGE) {
        /* http.c: a certificate that does not verify is MK_ERR_USAGE naming ca_file. */
        if (cfg->ca_file && *cfg->ca_file)
            hint = doctor_hint("set ca_file in %s to the PEM file of the CA that signed the "
                               "certificate of %s (now %s)", cfg->source, cfg->base_url,
                               cfg->ca_file);
        else
            hint = doctor_hint("set ca_file in %s to the PEM file of the CA that signed the "
                               "certificate of %s", cfg->source, cfg->base_url);
        doctor_add(d, DOCTOR_FAIL, "tls", hint, "%s", err->message);
    } else {
        hint = doctor_hint("check base_url in %s, the network, and the proxy key (root takes "
                           "no proxy from the environment); the wait is bounded by "
                           "connect_timeout (%lld ms) and time_budget (%lld ms)", cfg->source,
                           (long long)cfg->connect_timeout_ms, (long long)cfg->budget_ms);
        doctor_add(d, DOCTOR_FAIL, "tls", hint, "%s", err->message);
    }
    free(hint);
}

/* What an accepted token's JWT says of its expiry, as a note for its line
 * (net/jwt.h: read unverified, only to inform): true (warn) when its exp is
 * malformed (outside 1970..9999: taken as expired), past, or within
 * token_warn_days (0: only the first two). A token that is not a JWT, or
 * has no exp, says nothing. */
static bool token_expiry_note(const struct mk_config *cfg, const char *token, char *note,
                              size_t size)
{
    struct mk_jwt_claims claims;
    int64_t left = 0;
    note[0] = '\0';
    if (!mk_jwt_read_claims(token, &claims))
        return false;
    if (claims.exp_malformed) {
        snprintf(note, size, "; but its exp claim is malformed (no date from 1970 to 9999): "
                             "taken as expired");
        return true;
    }
    if (!mk_jwt_seconds_left(&claims, (int64_t)time(NULL), &left))
        return false;
    if (left <= 0) {
        snprintf(note, size, "; but its exp claim says it expired %lld days ago",
                 (long long)(-(left / 86400)));
        return true;
    }
    if (left <= (int64_t)cfg->token_warn_days * 86400) {
        snprintf(note, size, "; it expires in %lld days (token_warn_days %u)",
                 (long long)((left + 86399) / 86400), cfg->token_warn_days);
        return true;
    }
    return false;
}

/* Reads the answer of a profile request for a token check; who is "" for
 * the caller's own token, else "USER: ". An accepted token whose expiry
 * warns (token_expiry_note) is a warn, with the remedy as its hint. */
static void report_token(struct doctor *d, const char *who, const char *user, const char *source,
                         const char *token, mk_status st, const mk_error *err,
                         const struct mk_profile *profile, enum doctor_result ok_result,
                         const char *ok_note, const char *ok_hint)
{
    char *hint = NULL;
    if (st == MK_OK) {
        char expiry[160];
        doctor_keep_token(d, token);
        if (token_expiry_note(&d->t->cfg, token, expiry, sizeof(expiry))) {
            ok_result = DOCTOR_WARN;
            hint = user ? doctor_hint("%s%smake a new token in the MK.IO web app and run "
                                      "`mkio-orgs login --user %s`", ok_hint ? ok_hint : "",
                                      ok_hint ? "; " : "", user)
                        : doctor_hint("make a new token in the MK.IO web app and run "
                                      "`mkio-orgs login`");
        }
        doctor_add(d, ok_result, "token", hint ? hint : ok_hint,
                   "%saccepted by MK.IO (%s, from %s)%s%s", who,
                   profile->login_email[0] ? profile->login_email : profile->id, source, expiry,
                   ok_note ? ok_note : "");
        free(hint);
        return;
    }
    if (st == MK_ERR_API && err->http_status == 401) {
        hint = user ? doctor_hint("make a new token in the MK.IO web app (profile menu, \"Your "
                                  "personal API tokens\") and run `mkio-orgs login --user %s`",
                                  user)
                    : doctor_hint("make a new token in the MK.IO web app (profile menu, \"Your "
                                  "personal API tokens\") and run `mkio-orgs login`");
        /* The remedy is the same whatever the detail: the ref is for support. */
        doctor_add(d, DOCTOR_FAIL, "token", hint, "%sMK.IO refused the token from %s (HTTP 401: "
                   "expired, revoked or mistyped%s%s)", who, source, err->ref[0] ? "; ref " : "",
                   err->ref);
    } else if (st == MK_ERR_API) {
        hint = doctor_hint("quote the ref to MediaKind support if the answer is unexpected");
        doctor_add(d, DOCTOR_FAIL, "token", hint, "%sMK.IO answered the token from %s with an "
                   "error: %s", who, source, err->message);
    } else {
        hint = doctor_hint("see the tls check; then run `mkio-orgs doctor` again");
        doctor_add(d, DOCTOR_FAIL, "token", hint, "%snot checked: %s", who, err->message);
    }
    free(hint);
}

/* The note of a user's token line: what was not checked, and which file
 * their logins use (cmd_refresh.h: their own look, else the refresh
 * service's answer). True when that is a file of token_dir other than
 * source (the token checked; NULL when there is none). */
static bool doctor_login_token_note(struct doctor *d, const char *source, char *note,
                                    size_t size)
{
    struct refresh_token_info info;
    refresh_login_token(d->t, &info);
    int n = snprintf(note, size, "; not checked: the tokens under token_dir (not root: the "
                     "token directory cannot be read)");
    if (n < 0 || (size_t)n >= size)
        return false;
    if (!info.known)
        snprintf(note + n, size - (size_t)n, "; which token file your logins use is not known "
                 "(%s)", info.why);
    else if (!info.found)
        snprintf(note + n, size - (size_t)n, "; your logins find no token file (neither %s/USER "
                 "nor %s)", d->t->cfg.token_dir, info.path);
    else
        snprintf(note + n, size - (size_t)n, "; your logins use %s (%s)%s%s", info.path,
                 info.root_held ? "root's, in token_dir: only your administrator can replace it"
                 : "your own file", info.problem[0] ? "; refused: " : "", info.problem);
    return info.known && info.found && info.root_held &&
           (!source || strcmp(source, info.path) != 0);
}

/* The caller's own token (not root): also the TLS check's request. */
static void check_tls_and_own_token(struct doctor *d)
{
    struct tool *t = d->t;
    struct mk_profile profile;
    char source[4096] = "";
    char *token = NULL;
    mk_error err, token_err;
    mk_error_clear(&err);
    mk_error_clear(&token_err);

    mk_status token_st = tool_read_token(t, &token, source, sizeof(source), &token_err);
    mk_status st = doctor_profile(d, token_st == MK_OK ? token : DOCTOR_PROBE_TOKEN, &profile,
                                  &err);
    report_tls(d, token_st != MK_OK, st, &err);
    char not_root[5200];
    bool shadowed = doctor_login_token_note(d, token_st == MK_OK ? source : NULL, not_root,
                                            sizeof(not_root));
    if (token_st != MK_OK) {
        bool missing = strncmp(token_err.message, "no token", 8) == 0;
        char *hint = missing
            ? doctor_hint("run `mkio-orgs login` to save your token, unless root keeps one for "
                          "you in %s", t->cfg.token_dir)
            : doctor_hint("fix the token named above (a file must be yours, regular, mode "
                          "0600), or run `mkio-orgs login` to save it again");
        doctor_add(d, missing ? DOCTOR_WARN : DOCTOR_FAIL, "token", hint, "%s%s",
                   token_err.message, not_root);
        free(hint);
    } else if (!d->tls_ok) {
        doctor_add(d, DOCTOR_WARN, "token", "fix the tls check first",
                   "not checked: %s did not answer (see tls)%s", t->cfg.base_url, not_root);
    } else if (shadowed) {
        /* The token shown is fine, but logins use another: the trap of a
         * root-held file (issue 19). */
        struct passwd *pw = getpwuid(getuid());
        char *hint = doctor_hint("your administrator must run `mkio-orgs login --user %s` with "
                                 "your token, or remove the file of token_dir",
                                 pw ? pw->pw_name : "USER");
        report_token(d, "", NULL, source, token, st, &err, &profile, DOCTOR_WARN, not_root, hint);
        free(hint);
    } else {
        report_token(d, "", NULL, source, token, st, &err, &profile, DOCTOR_OK, not_root, NULL);
    }
    mk_token_free(token);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Root: one user's token, read from source, sent to MK.IO. account gets
 * the MK.IO user id it belongs to ("" when not known). */
static void check_one_token(struct doctor *d, const char *user, const char *token,
                            const char *source, char *account, size_t account_size)
{
    account[0] = '\0';
    const struct mk_config *cfg = &d->t->cfg;
    char who[320];
    snprintf(who, sizeof(who), "%s: ", user);
    if (!d->tls_ok) {
        doctor_add(d, DOCTOR_WARN, "token", "fix the tls check first",
                   "%snot checked: %s did not answer (see tls)", who, cfg->base_url);
        return;
    }
    struct mk_profile profile;
    mk_error err;
    mk_error_clear(&err);
    mk_status st = doctor_profile(d, token, &profile, &err);
    if (st == MK_OK)
        snprintf(account, account_size, "%.159s", profile.id[0] ? profile.id : profile.login_email);
    struct passwd *pw = getpwnam(user);
    bool local = pw != NULL;
    /* A user logins and sync leave alone never has the token used. */
    bool ignored = local && mk_config_user_ignored(cfg, user, pw->pw_uid);
    char note[600] = "";
    char *hint = NULL;
    if (!local) {
        hint = doctor_hint("remove %s, or create the user %s", source, user);
        snprintf(note, sizeof(note), "; but there is no local user of that name: never used");
    } else if (ignored) {
        hint = doctor_hint("remove %s, or change min_uid or ignore_users in %s", source,
                           cfg->source);
        snprintf(note, sizeof(note), "; but logins and sync leave %s alone (uid %lu; min_uid "
                 "%lu, or ignore_users): never used", user, (unsigned long)pw->pw_uid,
                 (unsigned long)cfg->min_uid);
    }
    report_token(d, who, user, source, token, st, &err, &profile,
                 local && !ignored ? DOCTOR_OK : DOCTOR_WARN, note[0] ? note : NULL, hint);
    free(hint);
}

/* Root: one warn line per MK.IO account whose token is filed for more than
 * one local user (accounts[i] of users[i]; "" not known). */
static void check_shared_accounts(struct doctor *d, char **users, char (*accounts)[160],
                                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!accounts[i][0])
            continue;
        char names[1024];
        size_t used = (size_t)snprintf(names, sizeof(names), "%s", users[i]), others = 0;
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(accounts[i], accounts[j]) != 0)
                continue;
            if (used < sizeof(names))
                used += (size_t)snprintf(names + used, sizeof(names) - used, ", %s", users[j]);
            accounts[j][0] = '\0';
            others++;
        }
        if (!others)
            continue;
        char *hint = doctor_hint("save each user's own token with `mkio-orgs login --user "
                                 "USER`: a shared account makes them one MK.IO user");
        doctor_add(d, DOCTOR_WARN, "token", hint, "one MK.IO account (%s) is filed for %zu local "
                   "users in token_dir: %s", accounts[i], others + 1, names);
        free(hint);
    }
}

/* The users with a token file in token_dir (sorted; *n 0 when none), or
 * false after reporting why the directory cannot be used. */
static bool list_token_dir(struct doctor *d, char ***out, size_t *out_n)
{
    const struct mk_config *cfg = &d->t->cfg;
    char *hint = NULL;
    struct stat sb;
    /* Links are listed so that each is reported as refused, not skipped. */
    int r = mk_token_dir_list(cfg->token_dir, MK_TOKEN_DIR_NOFOLLOW | MK_TOKEN_DIR_TRUSTED |
                              MK_TOKEN_DIR_LINKS | MK_TOKEN_DIR_SORTED, out, out_n, &sb);
    if (r == 0)
        return true;
    if (r == -ENOENT) {
        hint = doctor_hint("create it (mkdir -m 0700 %s) and save users' tokens with "
                           "`mkio-orgs login --user USER`, or set token_dir in %s",
                           cfg->token_dir, cfg->source);
        doctor_add(d, DOCTOR_WARN, "token", hint, "token_dir %s does not exist: only "
                   "users' own token files are used", cfg->token_dir);
    } else if (r == -EPERM) {
        hint = doctor_hint("chown root:root %s && chmod 0700 %s", cfg->token_dir, cfg->token_dir);
        doctor_add(d, DOCTOR_FAIL, "token", hint, "token_dir %s must be owned by root and "
                   "writable by root only (owner uid %lu, mode %04o)", cfg->token_dir,
                   (unsigned long)sb.st_uid, (unsigned)(sb.st_mode & 07777));
    } else {
        hint = doctor_hint("make token_dir %s a directory owned by root, mode 0700",
                           cfg->token_dir);
        doctor_add(d, DOCTOR_FAIL, "token", hint, "token_dir %s cannot be opened: %s",
                   cfg->token_dir, r == -ELOOP ? "a symbolic link (not followed)"
                   : strerror(-r));
    }
    free(hint);
    return false;
}

/* Root: every token file under token_dir; then each user of the store
 * without one, whose own token file (as PAM and sync find it) is checked. */
static void check_token_dir(struct doctor *d)
{
    const struct mk_config *cfg = &d->t->cfg;
    char **users = NULL;
    size_t n = 0, checked = 0;
    struct mk_store_view view;
    mk_error err;
    memset(&view, 0, sizeof(view));
    mk_error_clear(&err);

    bool dir_ok = list_token_dir(d, &users, &n);
    char (*accounts)[160] = calloc(n ? n : 1, sizeof(*accounts));
    for (size_t i = 0; i < n; i++) {
        const char *user = users[i];
        char path[4096];
        char *token = NULL;
        mk_error_clear(&err);
        snprintf(path, sizeof(path), "%s/%s", cfg->token_dir, user);
        if (!mk_user_name_valid(user)) {
            doctor_add(d, DOCTOR_WARN, "token", "remove or rename it: token files are named "
                       "after the user", "%s is not named like a user: never used", path);
            continue;
        }
        checked++;
        if (mk_token_read_file(path, 0, &token, &err) != MK_OK) {
            char *hint = doctor_hint("chown root:root %s && chmod 0600 %s, or save it again "
                                     "with `mkio-orgs login --user %s`", path, path, user);
            doctor_add(d, DOCTOR_FAIL, "token", hint, "%s: %s", user, err.message);
            free(hint);
            continue;
        }
        check_one_token(d, user, token, path, accounts ? accounts[i] : (char[160]){0}, 160);
        mk_token_free(token);
    }
    if (accounts)
        check_shared_accounts(d, users, accounts, n);
    free(accounts);

    /* Users the store knows (they logged in, or were synced) and who have
     * no file in token_dir: their own token file, read as PAM reads it. */
    mk_error_clear(&err);
    if (mk_store_read(cfg, NULL, &view, &err) == MK_OK) {
        for (size_t i = 0; i < view.user_count; i++) {
            const char *user = view.users[i].user;
            if (n && bsearch(&user, users, n, sizeof(*users), cmp_str))
                continue;
            struct passwd *pw = getpwnam(user);
            if (!pw || mk_config_user_ignored(cfg, user, pw->pw_uid))
                continue;
            char *token = NULL, *source = NULL;
            mk_error_clear(&err);
            mk_status st = mk_token_for_user(cfg, pw, &token, &source, &err);
            checked++;
            if (st == MK_OK) {
                char account[160];
                check_one_token(d, user, token, source ? source : "the user's token file",
                                account, sizeof(account));
            } else {
                char *hint = doctor_hint("save a token with `mkio-orgs login --user %s` (as "
                                         "root), or %s runs `mkio-orgs login`", user, user);
                doctor_add(d, st == MK_ERR_IO ? DOCTOR_WARN : DOCTOR_FAIL, "token", hint,
                           "%s: %s%s", user, err.message, st == MK_ERR_IO
                           ? ": their logins and sync cannot refresh their groups" : "");
                free(hint);
            }
            mk_token_free(token);
            free(source);
        }
    }
    mk_store_view_free(&view);
    if (dir_ok && checked == 0)
        doctor_add(d, DOCTOR_OK, "token", NULL, "no token file under token_dir %s, and no user "
                   "in the store", cfg->token_dir);
    for (size_t i = 0; i < n; i++)
        free(users[i]);
    free(users);
}

/* Which of the two ways, as root or not (tool/doctor_token.h). */
void doctor_check_tls_and_tokens(struct doctor *d)
{
    if (!d->config_ok) {
        doctor_need_config(d, "tls");
        doctor_need_config(d, "token");
        doctor_need_config(d, "list-budget");
        return;
    }
    if (!d->root) {
        check_tls_and_own_token(d);
        doctor_check_list_budget(d);
        return;
    }
    struct mk_profile profile;
    mk_error err;
    mk_error_clear(&err);
    mk_status st = doctor_profile(d, DOCTOR_PROBE_TOKEN, &profile, &err);
    report_tls(d, true, st, &err);
    check_token_dir(d);
    doctor_check_list_budget(d);
}

