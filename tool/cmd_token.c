/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs login, whoami, logout: the user's token lifecycle (issue 9).
 *
 * The place a token goes (--user, the directories on the way) is checked
 * first, so a refused attempt sends nothing; the token is then read from
 * standard input only (never an argument: invariant 5), checked with GET
 * /api/v1/user/profile, and only then saved, atomically, mode 0600, without
 * following a symbolic link at any component below the home directory (or
 * at token_dir/USER for root). Root's home is the password database's,
 * never $HOME. What the token's JWT payload says (expiry, kind) is read
 * unverified and only shown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/atomicfile.h"
#include "base/passwd.h"
#include "net/jwt.h"
#include "net/profile.h"
#include "base/text.h"
#include "base/trust.h"
#include "net/token.h"
#include "tool/cmd_refresh.h"
#include "tool/cmd_token.h"
#include "tool/shape.h"
#include "tool/token_prompt.h"
#include "tool/util.h"
#include "tool/verbosity.h"

static const char login_help[] =
"Usage: mkio-orgs login [--user USER] [--json]\n"
"\n"
"Save your MK.IO token so that mkio-orgs and your logins use it. Make a token\n"
"in the MK.IO web app (profile menu, \"Your personal API tokens\"; it is shown\n"
"once), then paste it when asked, or pipe it in:\n"
"\n"
"    mkio-orgs login            (on a terminal: the input is not echoed)\n"
"    mkio-orgs login < file\n"
"\n"
"The token is read from standard input only, never from an argument (arguments\n"
"show in ps and in shell history). It is checked with MK.IO first; only a token\n"
"MK.IO accepts is saved, atomically, mode 0600, to ~/.config/mkio/token (the\n"
"user_token key of the configuration), creating ~/.config/mkio mode 0700 when\n"
"missing; for root, ~ is root's home in the password database, never $HOME. A\n"
"symbolic link at the token path, or at a directory on the way, or a directory\n"
"on the way that is not yours, is refused and never followed; the path and\n"
"--user are checked before the token is sent. Prints whose token it is, its\n"
"organization and when it expires (as the token says, when it says).\n"
"\n"
"Options:\n"
"  --user USER   Root only: save the token as token_dir/USER (root-owned, 0600),\n"
"                the file PAM and sync read first for USER.\n"
"  --json        Print JSON for scripts (mkio-orgs(1), JSON OUTPUT).\n"
"  -h, --help    This help.\n"
"\n"
"Exit status: 0 saved; 2 usage error, or the token was refused by MK.IO (401),\n"
"or the token path is refused; 3 MK.IO could not be reached; 4 local failure.\n"
"Nothing is written unless the exit status is 0.\n";

static const char whoami_help[] =
"Usage: mkio-orgs whoami [--json]\n"
"\n"
"Show whose token mkio-orgs uses: the profile MK.IO returns for it (name, login\n"
"and contact e-mail, active organization), where the token was read from (the\n"
"file given with --token-file, MKIO_TOKEN, or your token file, in that order, as\n"
"every command reads it), and, when the token is a JWT that says so, its kind,\n"
"its expiry and the days left. The expiry is read from the token without\n"
"checking its signature, only to inform; a token that is not a JWT is still\n"
"used, and its expiry shows as unknown. An exp before 1970 or after the year\n"
"9999 is no date: it shows as malformed, and the token is taken as expired.\n"
"\n"
"Options:\n"
"  --json        Print JSON for scripts.\n"
"  -h, --help    This help.\n"
"\n"
"Exit status: 0 success; 2 no token, or the token was refused by MK.IO (401):\n"
"run `mkio-orgs login` with a new token; 3 MK.IO could not be reached.\n";

static const char logout_help[] =
"Usage: mkio-orgs logout [--user USER] [--json]\n"
"\n"
"Remove your saved token file (~/.config/mkio/token). The token itself stays\n"
"valid until it expires or you revoke it in the MK.IO web app (profile menu,\n"
"\"Your personal API tokens\"): logout does not revoke it, and never revokes\n"
"your other tokens.\n"
"\n"
"Options:\n"
"  --user USER   Root only: remove token_dir/USER instead.\n"
"  --json        Print JSON for scripts (mkio-orgs(1), JSON OUTPUT).\n"
"  -h, --help    This help.\n"
"\n"
"Exit status: 0 removed, or there was no token file; 2 usage error or a\n"
"refused path; 4 the file could not be removed.\n";

/* ---- where a token file lives ---- */

struct token_place {
    int dirfd;           /* the directory holding the file */
    char name[256];      /* the file's name in it */
    char path[4096];     /* the whole path, for messages */
};

/* How place_walk treats the directories between the home and the file. */
enum place_mode {
    PLACE_LOOK,   /* logout: open each; a missing one is MK_ERR_IO */
    PLACE_CHECK,  /* login, before the token is sent: each one there is a
                   * directory of the caller's; where one is missing, the
                   * caller may create it (pl->dirfd stays -1); nothing made */
    PLACE_CREATE, /* login, once MK.IO accepted the token: as PLACE_CHECK,
                   * making each missing one mode 0700 */
};

/* The directory component (rel's first `len` bytes) opened below dirfd, not
 * followed if a symbolic link; *next -1 (and MK_OK) when it is missing and
 * mode is PLACE_CHECK. Under login's modes it must be the caller's own: a
 * directory another user owns could swap the token file. */
static mk_status place_step(int dirfd, const char *base, const char *rel, size_t len,
                            const char *component, enum place_mode mode, int *next,
                            mk_error *err)
{
    *next = openat(dirfd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*next < 0 && errno == ENOENT && mode == PLACE_CHECK) {
        if (faccessat(dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0)
            return mk_error_set(err, MK_ERR_USAGE, "cannot create %s/%.*s: %s", base, (int)len,
                                rel, strerror(errno));
        return MK_OK;
    }
    if (*next < 0 && errno == ENOENT && mode == PLACE_CREATE) {
        if (mkdirat(dirfd, component, 0700) != 0 && errno != EEXIST)
            return mk_error_set(err, MK_ERR_IO, "cannot create %s/%s: %s", base, rel,
                                strerror(errno));
        *next = openat(dirfd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (*next < 0) {
        int saved = errno;
        struct stat sb;
        bool is_link = fstatat(dirfd, component, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISLNK(sb.st_mode);
        if (saved == ENOENT)
            return mk_error_set(err, MK_ERR_IO, "%s/%.*s does not exist", base, (int)len, rel);
        if (is_link)
            return mk_error_set(err, MK_ERR_USAGE,
                                "%s/%.*s is a symbolic link, refused (not followed)", base,
                                (int)len, rel);
        return mk_error_set(err, MK_ERR_USAGE, "cannot open %s/%.*s: %s", base, (int)len, rel,
                            strerror(saved));
    }
    struct stat sb;
    if (mode != PLACE_LOOK && (fstat(*next, &sb) != 0 || sb.st_uid != geteuid())) {
        close(*next);
        *next = -1;
        return mk_error_set(err, MK_ERR_USAGE, "%s/%.*s is owned by uid %lu, not by uid %lu "
                            "who runs this: refused", base, (int)len, rel,
                            (unsigned long)sb.st_uid, (unsigned long)geteuid());
    }
    return MK_OK;
}

/* Opens each directory of rel below base, none of them followed if a
 * symbolic link, as mode says (enum place_mode); pl->dirfd gets the last
 * one, or -1 under PLACE_CHECK when one is still to be made. ENOENT is
 * MK_ERR_IO. */
static mk_status place_walk(const char *base, const char *rel, enum place_mode mode,
                            struct token_place *pl, mk_error *err)
{
    mk_status st = MK_OK;
    char *work = strdup(rel);
    int dirfd = -1;
    if (!work)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    dirfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        st = mk_error_set(err, errno == ENOENT ? MK_ERR_IO : MK_ERR_USAGE, "cannot open %s: %s",
                          base, strerror(errno));
        goto out;
    }
    char *component = work;
    char *slash;
    while ((slash = strchr(component, '/')) != NULL) {
        *slash = '\0';
        if (*component) {
            int next = -1;
            st = place_step(dirfd, base, rel, (size_t)(slash - work), component, mode, &next,
                            err);
            if (st != MK_OK)
                goto out;
            close(dirfd);
            dirfd = next;
            if (dirfd < 0)
                break; /* PLACE_CHECK: the rest is to be made, in a directory we may write */
        }
        component = slash + 1;
    }
    if (!slash && (!*component || strlen(component) >= sizeof(pl->name))) {
        st = mk_error_set(err, MK_ERR_USAGE, "the token path %s names no file", pl->path);
        goto out;
    }
    snprintf(pl->name, sizeof(pl->name), "%s", slash ? "" : component);
    pl->dirfd = dirfd;
    dirfd = -1;
out:
    if (dirfd >= 0)
        close(dirfd);
    free(work);
    return st;
}

/* Root's own home, from the password database: never $HOME, which under
 * `sudo -E` or `su` without `-` is another user's (issue 20). */
static mk_status place_root_home(char *home, size_t size, mk_error *err)
{
    struct passwd pw;
    char *buf = NULL;
    mk_status st = MK_OK;
    int e = mk_passwd_lookup_uid(0, &pw, &buf);
    if (e != 0)
        st = mk_error_set(err, e == ENOMEM ? MK_ERR_NOMEM : MK_ERR_USAGE,
                          "cannot find root's home in the password database: %s",
                          e == ENOENT ? "no entry for uid 0" : strerror(e));
    else if (!pw.pw_dir || pw.pw_dir[0] != '/')
        st = mk_error_set(err, MK_ERR_USAGE, "root's home in the password database (\"%s\") is "
                          "not an absolute path", pw.pw_dir ? pw.pw_dir : "");
    else if ((size_t)snprintf(home, size, "%s", pw.pw_dir) >= size)
        st = mk_error_set(err, MK_ERR_USAGE, "root's home directory path is too long");
    free(buf);
    return st;
}

/* token_dir/user for root: user valid and known, token_dir root's own. */
static mk_status place_open_user(struct tool *t, const char *user, struct token_place *pl,
                                 mk_error *err)
{
    if (geteuid() != 0)
        return mk_error_set(err, MK_ERR_USAGE, "--user is for root only");
    if (!mk_user_name_valid(user) || user[0] == '.')
        return mk_error_set(err, MK_ERR_USAGE, "\"%s\" is not a user name", user);
    if (!getpwnam(user))
        return mk_error_set(err, MK_ERR_USAGE, "no such user: %s", user);
    if (!t->cfg.token_dir || !*t->cfg.token_dir)
        return mk_error_set(err, MK_ERR_USAGE, "no token_dir in the configuration");
    snprintf(pl->path, sizeof(pl->path), "%s/%s", t->cfg.token_dir, user);
    pl->dirfd = open(t->cfg.token_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pl->dirfd < 0)
        return mk_error_set(err, MK_ERR_USAGE, "cannot open token_dir %s: %s",
                            t->cfg.token_dir, strerror(errno));
    struct stat sb;
    if (fstat(pl->dirfd, &sb) != 0 || mk_trust_problems(&sb, S_IFDIR, 0, S_IWGRP | S_IWOTH)) {
        close(pl->dirfd);
        pl->dirfd = -1;
        return mk_error_set(err, MK_ERR_USAGE,
                            "token_dir %s must be a directory owned by root and writable by "
                            "root only", t->cfg.token_dir);
    }
    snprintf(pl->name, sizeof(pl->name), "%s", user);
    return MK_OK;
}

/* The token file of the caller (user NULL) or, for root, token_dir/user.
 * The caller's is below their home: root's from the password database,
 * anyone else's $HOME as every shell tool takes it (the user's own rights
 * are all it can use). */
static mk_status place_open(struct tool *t, const char *user, enum place_mode mode,
                            struct token_place *pl, mk_error *err)
{
    pl->dirfd = -1;
    if (user)
        return place_open_user(t, user, pl, err);
    char home[4096];
    if (geteuid() == 0) {
        mk_status st = place_root_home(home, sizeof(home), err);
        if (st != MK_OK)
            return st;
        if ((size_t)snprintf(pl->path, sizeof(pl->path), "%s/%s", home,
                             t->cfg.user_token_path) >= sizeof(pl->path))
            return mk_error_set(err, MK_ERR_USAGE, "root's home directory path is too long");
        return place_walk(home, t->cfg.user_token_path, mode, pl, err);
    }
    mk_status st = tool_own_token_path(t, pl->path, sizeof(pl->path), err);
    if (st != MK_OK)
        return st;
    size_t rel_len = strlen(t->cfg.user_token_path);
    size_t len = strlen(pl->path);
    if (len <= rel_len + 1)
        return mk_error_set(err, MK_ERR_USAGE, "the token path %s is not below a home", pl->path);
    snprintf(home, sizeof(home), "%.*s", (int)(len - rel_len - 1), pl->path);
    return place_walk(home, t->cfg.user_token_path, mode, pl, err);
}

/* What is at the file's name: 0 nothing, 1 a regular file, or a refusal. */
static mk_status place_check_file(const struct token_place *pl, bool *exists, mk_error *err)
{
    struct stat sb;
    *exists = false;
    if (fstatat(pl->dirfd, pl->name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return MK_OK;
        return mk_error_set(err, MK_ERR_USAGE, "cannot look at %s: %s", pl->path, strerror(errno));
    }
    if (S_ISLNK(sb.st_mode))
        return mk_error_set(err, MK_ERR_USAGE,
                            "%s is a symbolic link, refused (not followed); remove it first",
                            pl->path);
    if (!S_ISREG(sb.st_mode))
        return mk_error_set(err, MK_ERR_USAGE, "%s is not a regular file, refused", pl->path);
    *exists = true;
    return MK_OK;
}

/* login's checks before the token is sent anywhere: --user and the save
 * path as they are now (place_open's PLACE_CHECK, the file's place, a
 * directory that can be written), so a refused attempt uses no token. */
static mk_status place_preflight(struct tool *t, const char *user, mk_error *err)
{
    struct token_place pl;
    bool exists;
    mk_status st = place_open(t, user, PLACE_CHECK, &pl, err);
    if (st == MK_OK && pl.dirfd >= 0) {
        st = place_check_file(&pl, &exists, err);
        if (st == MK_OK && faccessat(pl.dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0)
            st = mk_error_set(err, MK_ERR_USAGE, "cannot write %s: %s", pl.path,
                              strerror(errno));
    }
    if (pl.dirfd >= 0)
        close(pl.dirfd);
    if (st != MK_OK && st != MK_ERR_NOMEM)
        err->status = st = MK_ERR_USAGE;
    return st;
}

/* ---- showing ---- */

/* The expiry as a person reads it. An exp outside 1970..9999 (net/jwt.h)
 * is said to be malformed, and the token taken as expired: no real token
 * says that, and no count of days is made from it. */
static void format_expiry(const struct mk_jwt_claims *c, bool is_jwt, char *buf, size_t size)
{
    int64_t left = 0;
    if (c->exp_malformed) {
        snprintf(buf, size, "malformed (the token's exp claim is no date from 1970 to 9999; "
                            "taken as expired)");
        return;
    }
    if (!mk_jwt_seconds_left(c, (int64_t)time(NULL), &left)) {
        snprintf(buf, size, "unknown (%s)", is_jwt ? "the token carries no exp claim"
                                                    : "the token is not a JWT");
        return;
    }
    time_t exp = (time_t)c->exp;
    struct tm tm;
    char when[64] = "?";
    if (gmtime_r(&exp, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    if (left >= 0)
        snprintf(buf, size, "%s (%lld days left)", when, (long long)(left / 86400));
    else
        snprintf(buf, size, "%s (expired %lld days ago)", when, (long long)(-(left / 86400)));
}

static void put_line(const char *label, const char *value)
{
    printf("%-15s ", label);
    tool_put_safe(stdout, value && *value ? value : "-");
    putchar('\n');
}

/* The exit code for a failed profile call (tool_fail gives a 401 its
 * remedy and exit 2), then what was not done. */
static int profile_failure(const mk_error *err, const char *after)
{
    int rc = tool_fail(err);
    if (after[0])
        fprintf(stderr, "mkio-orgs: %s\n", after + 2);
    return rc;
}

/* login's and logout's start: their options, then the configuration, then
 * --user for root only. -1 after --help, else an exit code (0 to go on). */
static int token_start(struct tool *t, const char *command, const char *help, int argc,
                       char **argv, const char **user)
{
    static const struct option options[] = {
        {"user", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return -1;
        }
        if (c == 'u') {
            *user = optarg;
            continue;
        }
        if (c == 'j') {
            tool_json_set(true);
            continue;
        }
        return tool_usage(NULL, "%s: unknown or incomplete option '%s'", command, argv[optind - 1]);
    }
    if (optind < argc) {
        if (strcmp(command, "login") == 0)
            return tool_usage(NULL, "login: a token is never taken as an argument; give it on "
                                    "standard input");
        return tool_usage(NULL, "%s: unexpected argument '%s'", command, argv[optind]);
    }
    int rc = tool_load_config(t);
    if (rc != TOOL_EXIT_OK)
        return rc;
    if (*user && geteuid() != 0) {
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "%s ", command);
        return tool_usage(prefix, "%s: --user is for root only", command);
    }
    return TOOL_EXIT_OK;
}

/* login's and whoami's JSON: {"schema", "profile", "token"}, the token
 * read from source (a file's path, or "MKIO_TOKEN"). */
static void token_print_json(const struct mk_profile *profile, const struct mk_jwt_claims *claims,
                             bool is_jwt, const char *source)
{
    bool from_env = strcmp(source, "MKIO_TOKEN") == 0;
    int64_t left = 0;
    bool has_left = mk_jwt_seconds_left(claims, (int64_t)time(NULL), &left);
    json_object *o = tool_json_new();
    json_object *p = json_object_new_object();
    json_object_object_add(p, "id", shape_string(profile->id[0] ? profile->id : NULL));
    json_object_object_add(p, "name", shape_string(profile->name[0] ? profile->name : NULL));
    json_object_object_add(p, "login_email", shape_string(profile->login_email[0]
                                                          ? profile->login_email : NULL));
    json_object_object_add(p, "contact_email", shape_string(profile->contact_email[0]
                                                            ? profile->contact_email : NULL));
    json_object_object_add(p, "active_organization_id",
                           shape_string(profile->active_org_id[0] ? profile->active_org_id : NULL));
    json_object_object_add(p, "is_active", json_object_new_boolean(profile->is_active));
    json_object_object_add(o, "profile", p);
    json_object *k = json_object_new_object();
    json_object_object_add(k, "source", json_object_new_string(from_env ? "environment" : "file"));
    json_object_object_add(k, "path", from_env ? NULL : json_object_new_string(source));
    json_object_object_add(k, "variable", from_env ? json_object_new_string(source) : NULL);
    json_object_object_add(k, "is_jwt", json_object_new_boolean(is_jwt));
    json_object_object_add(k, "kind", shape_string(claims->kind[0] ? claims->kind : NULL));
    json_object_object_add(k, "organization_id", shape_string(claims->organization_id[0]
                                                              ? claims->organization_id : NULL));
    json_object_object_add(k, "expires", claims->has_exp ? shape_time(claims->exp) : NULL);
    json_object_object_add(k, "days_left", has_left ? json_object_new_int64(left / 86400) : NULL);
    json_object_object_add(k, "expiry_malformed", json_object_new_boolean(claims->exp_malformed));
    json_object_object_add(o, "token", k);
    tool_print_json(o);
}

/* A token MK.IO refused at login: the token given, not "your profile",
 * and who tries again with what (issue 19). Other failures as before. */
static int login_refused(const mk_error *err, const char *user)
{
    if (err->status != MK_ERR_API || err->http_status != 401)
        return profile_failure(err, "; nothing was saved");
    tool_error("MK.IO refused the token given on standard input (HTTP 401: expired, revoked "
               "or mistyped%s%s); nothing was saved", err->ref[0] ? "; ref " : "", err->ref);
    tool_error("make a new token in the MK.IO web app (profile menu, \"Your personal API "
               "tokens\"), copy all of it, and run `mkio-orgs login%s%s` again",
               user ? " --user " : "", user ? user : "");
    return TOOL_EXIT_USAGE;
}

/* After `login` (the caller's own file): a file of token_dir that logins
 * read first makes the one just saved of no use to them; say so, and who
 * can change that. */
static void login_warn_shadowed(struct tool *t, const char *saved)
{
    struct refresh_token_info info;
    if (geteuid() == 0)
        return;               /* root's logins are left alone (min_uid) */
    refresh_login_token(t, &info);
    if (!info.known || !info.found || !info.root_held || strcmp(info.path, saved) == 0)
        return;
    struct passwd *pw = getpwuid(getuid());
    tool_error("warning: your logins do not use the token just saved: they read %s first%s%s; "
               "your administrator must run `mkio-orgs login --user %s` with this token, or "
               "remove that file", info.path, info.problem[0] ? " (" : "",
               info.problem[0] ? "refused there too)" : "", pw ? pw->pw_name : "USER");
}

/* Whether two tokens are one MK.IO account's: the same text, or JWTs of
 * the same subject. */
static bool token_same_account(const char *a, const char *b)
{
    struct mk_jwt_claims ca, cb;
    if (strcmp(a, b) == 0)
        return true;
    return mk_jwt_read_claims(a, &ca) && mk_jwt_read_claims(b, &cb) && ca.sub[0] &&
           strcmp(ca.sub, cb.sub) == 0;
}

/* After `login --user USER`: a token no login or sync will use (a user
 * min_uid or ignore_users leaves alone), and the same MK.IO account filed
 * for other local users in token_dir. Warnings only: the token is saved. */
static void login_warn_user(struct tool *t, const char *user, const char *token,
                            const struct mk_profile *profile)
{
    const struct mk_config *cfg = &t->cfg;
    struct passwd *pw = getpwnam(user);
    if (pw && mk_config_user_ignored(cfg, user, pw->pw_uid))
        tool_error("warning: logins and sync leave %s alone (uid %lu; min_uid %lu, or "
                   "ignore_users, in %s): this token is never used", user,
                   (unsigned long)pw->pw_uid, (unsigned long)cfg->min_uid, cfg->source);
    char **names = NULL;
    size_t n = 0;
    if (mk_token_dir_list(cfg->token_dir, MK_TOKEN_DIR_SORTED, &names, &n, NULL) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char path[4096], *other = NULL;
        mk_error err;
        if (strcmp(names[i], user) == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", cfg->token_dir, names[i]);
        if (mk_token_read_file(path, 0, &other, &err) == MK_OK && token_same_account(token, other))
            tool_error("warning: %s holds a token of the same MK.IO account (%s): one account "
                       "filed for several local users makes them all one MK.IO user; save each "
                       "user's own token", path, profile->login_email[0] ? profile->login_email
                       : profile->id);
        mk_token_free(other);
    }
    mk_token_dir_list_free(names, n);
}

int cmd_login(struct tool *t, int argc, char **argv)
{
    const char *user = NULL;
    char *token = NULL;
    char *data = NULL;
    size_t data_len = 0;
    mk_http *http = NULL;
    struct token_place pl;
    struct mk_profile profile;
    struct mk_jwt_claims claims;
    mk_error err;
    int rc = token_start(t, "login", login_help, argc, argv, &user);
    pl.dirfd = -1;
    mk_error_clear(&err);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;

    if (place_preflight(t, user, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    if (prompt_read_token(&token, &err) != MK_OK) {
        err.status = MK_ERR_USAGE;
        rc = tool_fail(&err);
        goto out;
    }
    if ((rc = tool_client_for_token(t, token, &http)) != TOOL_EXIT_OK)
        goto out;
    if (mk_profile_get(http, &profile, &err) != MK_OK) {
        rc = login_refused(&err, user);
        goto out;
    }

    if (place_open(t, user, PLACE_CREATE, &pl, &err) != MK_OK) {
        err.status = err.status == MK_ERR_NOMEM ? MK_ERR_NOMEM : MK_ERR_USAGE;
        rc = tool_fail(&err);
        goto out;
    }
    bool exists;
    if (place_check_file(&pl, &exists, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    data_len = strlen(token) + 1;
    data = malloc(data_len + 1);
    if (!data) {
        rc = TOOL_EXIT_LOCAL;
        tool_error("out of memory");
        goto out;
    }
    memcpy(data, token, data_len - 1);
    data[data_len - 1] = '\n';
    data[data_len] = '\0';
    int r = mk_atomicfile_replace(pl.dirfd, pl.name, 0600, data, data_len, NULL);
    if (r < 0) {
        tool_error("cannot write %s: %s", pl.path, strerror(-r));
        rc = TOOL_EXIT_LOCAL;
        goto out;
    }

    bool is_jwt = mk_jwt_read_claims(token, &claims);
    if (tool_json()) {
        token_print_json(&profile, &claims, is_jwt, pl.path);
        goto saved;           /* the warnings still go to stderr */
    }
    char expiry[160];
    format_expiry(&claims, is_jwt, expiry, sizeof(expiry));
    if (tool_quiet)
        goto saved;
    fputs("Token accepted for ", stdout);
    tool_put_safe(stdout, profile.name[0] ? profile.name : profile.login_email);
    if (profile.name[0] && profile.login_email[0]) {
        fputs(" <", stdout);
        tool_put_safe(stdout, profile.login_email);
        fputc('>', stdout);
    }
    fputs(".\n", stdout);
    put_line("Organization:", profile.active_org_id[0] ? profile.active_org_id
                                                      : claims.organization_id);
    put_line("Expires:", expiry);
    put_line("Saved to:", pl.path);
saved:
    if (user)
        login_warn_user(t, user, token, &profile);
    else
        login_warn_shadowed(t, pl.path);
    rc = TOOL_EXIT_OK;
out:
    if (data) {
        explicit_bzero(data, data_len);
        free(data);
    }
    if (pl.dirfd >= 0)
        close(pl.dirfd);
    mk_http_free(http);
    mk_token_free(token);
    return rc;
}

/* whoami's last line for a user: the token file logins use (net/token.h:
 * token_dir/USER first), and a warning when it is not the one whoami read. */
static void whoami_login_token(struct tool *t, const char *source, bool from_env)
{
    struct refresh_token_info info;
    char shown[4700];
    refresh_login_token(t, &info);
    if (!info.known) {
        snprintf(shown, sizeof(shown), "unknown (%s)", info.why);
    } else if (!info.found) {
        snprintf(shown, sizeof(shown), "none (no %s/USER, no %s)", t->cfg.token_dir, info.path);
    } else {
        snprintf(shown, sizeof(shown), "%s (%s)%s%s", info.path, info.root_held
                 ? "root's, in token_dir: only your administrator can replace it"
                 : "your own file", info.problem[0] ? "; refused: " : "", info.problem);
    }
    put_line("Logins use:", shown);
    if (info.known && info.found && info.root_held && (from_env || strcmp(info.path, source) != 0)) {
        struct passwd *pw = getpwuid(getuid());
        tool_error("warning: your logins use %s, not the token shown here; if MK.IO refuses "
                   "that one, your administrator must run `mkio-orgs login --user %s`",
                   info.path, pw ? pw->pw_name : "USER");
    }
}

int cmd_whoami(struct tool *t, int argc, char **argv)
{
    bool json = false;
    char *token = NULL;
    char source[4096] = "";
    mk_http *http = NULL;
    struct mk_profile profile;
    struct mk_jwt_claims claims;
    mk_error err;
    int rc = tool_simple_options("whoami", whoami_help, argc, argv, &json, NULL, NULL);
    mk_error_clear(&err);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    if ((rc = tool_load_config(t)) != TOOL_EXIT_OK)
        return rc;
    if (tool_read_token(t, &token, source, sizeof(source), &err) != MK_OK) {
        err.status = MK_ERR_USAGE;
        rc = tool_fail(&err);
        goto out;
    }
    if ((rc = tool_client_for_token(t, token, &http)) != TOOL_EXIT_OK)
        goto out;
    if (mk_profile_get(http, &profile, &err) != MK_OK) {
        rc = profile_failure(&err, "");
        goto out;
    }
    bool is_jwt = mk_jwt_read_claims(token, &claims);
    bool from_env = strcmp(source, "MKIO_TOKEN") == 0;
    if (json) {
        token_print_json(&profile, &claims, is_jwt, source);
    } else {
        char expiry[160];
        char shown_source[4200];
        format_expiry(&claims, is_jwt, expiry, sizeof(expiry));
        snprintf(shown_source, sizeof(shown_source), "%s (%s)", source,
                 from_env ? "environment" : "file");
        put_line("Name:", profile.name);
        put_line("Login email:", profile.login_email);
        put_line("Contact email:", profile.contact_email);
        put_line("Organization:", profile.active_org_id);
        put_line("Token source:", shown_source);
        put_line("Token kind:", claims.kind[0] ? claims.kind : "unknown");
        put_line("Expires:", expiry);
        if (geteuid() != 0)
            whoami_login_token(t, source, from_env);
    }
    rc = TOOL_EXIT_OK;
out:
    mk_http_free(http);
    mk_token_free(token);
    return rc;
}

int cmd_logout(struct tool *t, int argc, char **argv)
{
    const char *user = NULL;
    struct token_place pl;
    mk_error err;
    bool exists = false;
    int rc = token_start(t, "logout", logout_help, argc, argv, &user);
    pl.dirfd = -1;
    mk_error_clear(&err);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    mk_status st = place_open(t, user, PLACE_LOOK, &pl, &err);
    if (st == MK_ERR_IO) {
        exists = false; /* a directory on the way is missing: no file */
    } else if (st != MK_OK || place_check_file(&pl, &exists, &err) != MK_OK) {
        if (err.status != MK_ERR_NOMEM)
            err.status = MK_ERR_USAGE;
        rc = tool_fail(&err);
        goto out;
    }
    if (exists && unlinkat(pl.dirfd, pl.name, 0) != 0) {
        tool_error("cannot remove %s: %s", pl.path, strerror(errno));
        rc = TOOL_EXIT_LOCAL;
        goto out;
    }
    if (tool_json()) {
        json_object *o = tool_json_new();
        json_object_object_add(o, "path", json_object_new_string(pl.path));
        json_object_object_add(o, "removed", json_object_new_boolean(exists));
        json_object_object_add(o, "mkio_token_set", json_object_new_boolean(!user &&
                                                                            getenv("MKIO_TOKEN")));
        tool_print_json(o);
        rc = TOOL_EXIT_OK;
        goto out;
    }
    if (exists) {
        if (!tool_quiet) {
            fputs("Removed ", stdout);
            tool_put_safe(stdout, pl.path);
            fputs(".\n", stdout);
        }
    } else if (!tool_quiet) {
        fputs("No token file at ", stdout);
        tool_put_safe(stdout, pl.path);
        fputs("; nothing to remove.\n", stdout);
    }
    if (!tool_quiet)
        fputs("The token itself stays valid until it expires or is revoked in the MK.IO web app\n"
          "(profile menu, \"Your personal API tokens\").\n", stdout);
    if (!user && getenv("MKIO_TOKEN"))
        fputs("MKIO_TOKEN is still set in your environment.\n", stdout);
    rc = TOOL_EXIT_OK;
out:
    if (pl.dirfd >= 0)
        close(pl.dirfd);
    return rc;
}
