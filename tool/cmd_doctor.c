/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs doctor: checks a host's set-up, one line per check (issue 10,
 * item 7). Root or not: what a check could not look at, and why, is in its
 * detail. System paths are fixed (a root tool never takes them from the
 * environment); tests run it in a private mount namespace with bind mounts
 * over them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "groupfile/writer.h"
#include "groupfile/reader.h"
#include "store/nscd.h"
#include "net/profile.h"
#include "store/store.h"
#include "base/text.h"
#include "net/token.h"
#include "tool/cmd_doctor.h"
#include "tool/util.h"
#include "store/userstate.h"

#define DOCTOR_NSSWITCH "/etc/nsswitch.conf"
#define DOCTOR_PAM_DIR "/etc/pam.d"
/* A bearer token for the TLS check when no real one is at hand: any HTTP
 * answer (a 401 too) shows that TLS verified. */
#define DOCTOR_PROBE_TOKEN "mkio-doctor-tls-probe"
#define DOCTOR_MAX_TEXT_FILE (1u << 20)
#define DOCTOR_MAX_CA_FILE (16u << 20)
#define DOCTOR_PAM_DEPTH 16

static const char doctor_help[] =
"Usage: mkio-orgs doctor [--json]\n"
"\n"
"Check how this host is set up for MK.IO organization groups, and say what to\n"
"fix. Each check prints one line, `ok`, `warn` or `fail`, then its name and a\n"
"short detail; a `hint:` line under each warning and failure says what to do,\n"
"naming the file or key. Run it as root to check everything; run by a user it\n"
"checks what that user can, and each line says what it could not check and why\n"
"(for example: not root, the token directory cannot be read). Nothing is\n"
"changed. The checks, in order:\n"
"\n"
"  config      the configuration (--config, else $MKIO_CONFIG, else\n"
"              /etc/mkio/mkio.conf) loads and is valid; a failure names\n"
"              FILE:LINE. When it does not load, the checks below that need it\n"
"              say so, and the others use the built-in defaults.\n"
"  ca_file     when set: a readable regular file holding PEM certificates\n"
"              (-----BEGIN CERTIFICATE----- blocks); when empty the system's\n"
"              CA store is used.\n"
"  tls         one request to base_url (GET /api/v1/user/profile) within\n"
"              connect_timeout and time_budget: any HTTP answer means TLS\n"
"              verified; a certificate that does not verify names ca_file.\n"
"  token       as root: each token file under token_dir (one line per user),\n"
"              sent to GET /api/v1/user/profile; a token MK.IO refuses (401) is\n"
"              a failure whose hint is `mkio-orgs login --user USER`. As a user:\n"
"              your own token, found as every command finds it (--token-file,\n"
"              MKIO_TOKEN, ~/.config/mkio/token).\n"
"  nsswitch    /etc/nsswitch.conf names mkio on its group: line (comments,\n"
"              [STATUS=action] blocks and spacing understood; a\n"
"              [NOTFOUND=return] before mkio, or an initgroups: line without\n"
"              it, is a warning).\n"
"  pam-account pam_mkio.so is in the account stack: /etc/pam.d/common-account,\n"
"              following @include, include and substack lines; the detail\n"
"              names the files looked at.\n"
"  pam-session the same for the session stack (/etc/pam.d/common-session).\n"
"  groups.db   STATE_DIR/groups.db, the file the NSS module reads (it reads\n"
"              only " MK_GROUPFILE_DEFAULT_PATH "): exists, is a regular file\n"
"              owned by root, not writable by group or others, and verifies\n"
"              whole (as `mkio-orgs status --verify`).\n"
"  nscd        whether nscd (or unscd) answers on " MK_NSCD_SOCKET ". Running\n"
"              is no failure: its group cache is invalidated after each change.\n"
"  stale       users whose last successful refresh is older than max_stale: a\n"
"              warning per user, naming the last success and the last error.\n"
"\n"
"Options:\n"
"  --json      One JSON object: {\"checks\": [{\"name\", \"result\", \"detail\",\n"
"              \"hint\"}...], \"ok\": true|false}; hint is null on an ok check.\n"
"  -h, --help  This help.\n"
"\n"
"Exit status: 0 when no check fails (warnings are not failures); 4 when some\n"
"check fails; 2 on a usage error.\n";

enum doctor_result { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };

struct doctor_check {
    char *name;
    enum doctor_result result;
    char *detail;
    char *hint;
};

struct doctor {
    struct tool *t;
    bool json;
    bool root;
    bool config_ok;      /* the configuration loaded: the checks that need it run */
    bool tls_ok;         /* base_url answered: token checks are worth making */
    const char *config_name;
    struct doctor_check *checks;
    size_t count, cap;
    size_t oks, warns, fails;
};

static const char *doctor_result_name(enum doctor_result r)
{
    return r == DOCTOR_OK ? "ok" : r == DOCTOR_WARN ? "warn" : "fail";
}

static char *doctor_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *doctor_vformat(const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        return NULL;
    return text;
}

/* Prints a check (text mode) as soon as it is known, so slow checks show
 * progress; JSON mode prints everything at the end. */
static void doctor_print(const struct doctor *d, const struct doctor_check *c)
{
    if (d->json)
        return;
    printf("%-4s ", doctor_result_name(c->result));
    tool_put_safe(stdout, c->name);
    fputs(": ", stdout);
    tool_put_safe(stdout, c->detail ? c->detail : "(out of memory)");
    fputc('\n', stdout);
    if (c->hint) {
        fputs("     hint: ", stdout);
        tool_put_safe(stdout, c->hint);
        fputc('\n', stdout);
    }
    fflush(stdout);
}

/* Records one check. hint (printf-style, may be NULL) only for warn/fail. */
static void doctor_add(struct doctor *d, enum doctor_result r, const char *name, const char *hint,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void doctor_add(struct doctor *d, enum doctor_result r, const char *name, const char *hint,
                       const char *fmt, ...)
{
    struct doctor_check c = { .result = r };
    va_list ap;
    va_start(ap, fmt);
    c.detail = doctor_vformat(fmt, ap);
    va_end(ap);
    c.name = strdup(name);
    if (hint && r != DOCTOR_OK)
        c.hint = strdup(hint);
    if (r == DOCTOR_OK)
        d->oks++;
    else if (r == DOCTOR_FAIL)
        d->fails++;
    else if (r == DOCTOR_WARN)
        d->warns++;
    doctor_print(d, &c);
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct doctor_check *grown = realloc(d->checks, cap * sizeof(*grown));
        if (!grown) {
            free(c.name);
            free(c.detail);
            free(c.hint);
            return;
        }
        d->checks = grown;
        d->cap = cap;
    }
    d->checks[d->count++] = c;
}

/* A hint made with printf: the caller frees it. */
static char *doctor_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *doctor_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = doctor_vformat(fmt, ap);
    va_end(ap);
    return text;
}

static void doctor_free(struct doctor *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->checks[i].name);
        free(d->checks[i].detail);
        free(d->checks[i].hint);
    }
    free(d->checks);
}

/* ---- config ---- */

static void check_config(struct doctor *d)
{
    struct tool *t = d->t;
    mk_error err;
    mk_error_clear(&err);
    d->config_name = t->config_path ? t->config_path : MK_CONFIG_DEFAULT_PATH;
    bool file_ok = mk_config_load_with(t->config_path, &mk_url_rules, &t->cfg, &err) == MK_OK;
    if (file_ok && mk_config_apply_env(&t->cfg, &mk_url_rules, &err) == MK_OK) {
        t->cfg_loaded = true;
        d->config_ok = true;
        if (t->cfg.source && strcmp(t->cfg.source, "(defaults)") == 0)
            doctor_add(d, DOCTOR_OK, "config", NULL,
                       "no %s: the built-in defaults are used (base_url %s)", d->config_name,
                       t->cfg.base_url);
        else
            doctor_add(d, DOCTOR_OK, "config", NULL, "%s is valid (base_url %s)",
                       t->cfg.source ? t->cfg.source : d->config_name, t->cfg.base_url);
        return;
    }
    mk_config_free(&t->cfg);
    char *hint = file_ok
        ? doctor_hint("fix or unset MKIO_BASE_URL in the environment; the checks that need "
                      "the configuration are not made")
        : doctor_hint("fix the place named above in %s (conf/mkio.conf documents every key; "
                      "the file must be root's and not writable by group or others); the "
                      "checks that need the configuration are not made", d->config_name);
    doctor_add(d, DOCTOR_FAIL, "config", hint, "%s", err.message);
    free(hint);
    /* The system checks go on with the defaults. */
    mk_error_clear(&err);
    if (mk_config_defaults(&t->cfg, &err) == MK_OK)
        t->cfg_loaded = true;
}

/* The checks that need a configuration say so when there is none. */
static bool need_config(struct doctor *d, const char *name)
{
    if (d->config_ok)
        return true;
    doctor_add(d, DOCTOR_WARN, name, "fix the configuration first (see the config check)",
               "not checked: the configuration did not load");
    return false;
}

/* ---- ca_file ---- */

/* Counts the PEM certificate blocks of text: a BEGIN line, base64 lines, an
 * END line. *bad is set when a block is broken. */
static size_t count_pem_certificates(const char *text, bool *bad)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    size_t n = 0;
    const char *p = text;
    *bad = false;
    while ((p = strstr(p, begin)) != NULL) {
        const char *body = p + sizeof(begin) - 1;
        const char *stop = strstr(body, end);
        if (!stop) {
            *bad = true;
            break;
        }
        size_t chars = 0;
        for (const char *q = body; q < stop; q++) {
            unsigned char c = (unsigned char)*q;
            if (mk_ascii_alnum(c) || c == '+' || c == '/' || c == '=')
                chars++;
            else if (!mk_ascii_space(c)) {
                *bad = true;
                break;
            }
        }
        if (*bad)
            break;
        if (chars < 64) { /* far shorter than any certificate */
            *bad = true;
            break;
        }
        n++;
        p = stop + sizeof(end) - 1;
    }
    return n;
}

static void check_ca_file(struct doctor *d)
{
    const struct mk_config *cfg = &d->t->cfg;
    if (!need_config(d, "ca_file"))
        return;
    if (!cfg->ca_file || !*cfg->ca_file) {
        doctor_add(d, DOCTOR_OK, "ca_file", NULL, "not set: the system's CA store is used");
        return;
    }
    char *text = NULL, *hint = NULL;
    size_t len = 0;
    int r = tool_read_file(cfg->ca_file, DOCTOR_MAX_CA_FILE, true, &text, &len);
    if (r == -EACCES && !d->root) {
        hint = doctor_hint("run `mkio-orgs doctor` as root to check it; mkio-orgs run by you "
                           "cannot use it either");
        doctor_add(d, DOCTOR_WARN, "ca_file", hint,
                   "not checked: %s cannot be read as uid %lu (not root)", cfg->ca_file,
                   (unsigned long)getuid());
        goto out;
    }
    hint = doctor_hint("set ca_file in %s to a PEM file holding the CA that signed the "
                       "certificate of base_url, or leave it empty to use the system's CA store",
                       cfg->source);
    if (r == -ENOENT) {
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint, "%s does not exist", cfg->ca_file);
        goto out;
    }
    if (r < 0) {
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint, "%s cannot be read: %s", cfg->ca_file,
                   r == -EISDIR ? "it is a directory" : r == -EINVAL ? "not a regular file"
                   : r == -EFBIG ? "larger than 16 MiB" : strerror(-r));
        goto out;
    }
    if (len == 0) {
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint, "%s is empty", cfg->ca_file);
        goto out;
    }
    if (memchr(text, '\0', len)) {
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint,
                   "%s is not PEM text (it holds NUL bytes: DER? convert it with `openssl x509 "
                   "-inform der`)", cfg->ca_file);
        goto out;
    }
    bool bad = false;
    size_t n = count_pem_certificates(text, &bad);
    if (bad)
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint,
                   "%s holds a damaged PEM certificate block (after %zu good)", cfg->ca_file, n);
    else if (n == 0)
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint,
                   "%s holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)",
                   cfg->ca_file);
    else
        doctor_add(d, DOCTOR_OK, "ca_file", NULL, "%s holds %zu PEM certificate%s", cfg->ca_file,
                   n, n == 1 ? "" : "s");
out:
    free(hint);
    free(text);
}

/* ---- tls and tokens ---- */

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

/* Reads the answer of a profile request for a token check; who is "" for
 * the caller's own token, else "USER: ". */
static void report_token(struct doctor *d, const char *who, const char *user, const char *source,
                         mk_status st, const mk_error *err, const struct mk_profile *profile,
                         enum doctor_result ok_result, const char *ok_note, const char *ok_hint)
{
    char *hint = NULL;
    if (st == MK_OK) {
        doctor_add(d, ok_result, "token", ok_hint, "%saccepted by MK.IO (%s, from %s)%s", who,
                   profile->login_email[0] ? profile->login_email : profile->id, source,
                   ok_note ? ok_note : "");
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
    const char *not_root = "; not checked: the tokens under token_dir (not root: the token "
                           "directory cannot be read)";
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
    } else {
        report_token(d, "", NULL, source, st, &err, &profile, DOCTOR_OK, not_root, NULL);
    }
    mk_token_free(token);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Root: one user's token, read from source, sent to MK.IO. */
static void check_one_token(struct doctor *d, const char *user, const char *token,
                            const char *source)
{
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
    bool local = getpwnam(user) != NULL;
    char *hint = local ? NULL : doctor_hint("remove %s, or create the user %s", source, user);
    report_token(d, who, user, source, st, &err, &profile, local ? DOCTOR_OK : DOCTOR_WARN,
                 local ? NULL : "; but there is no local user of that name: never used", hint);
    free(hint);
}

/* The users with a token file in token_dir (sorted; *n 0 when none), or
 * false after reporting why the directory cannot be used. */
static bool list_token_dir(struct doctor *d, char ***out, size_t *out_n)
{
    const struct mk_config *cfg = &d->t->cfg;
    char **users = NULL, *hint = NULL;
    size_t n = 0, cap = 0;
    struct stat sb;
    *out = NULL;
    *out_n = 0;
    int fd = open(cfg->token_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            hint = doctor_hint("create it (mkdir -m 0700 %s) and save users' tokens with "
                               "`mkio-orgs login --user USER`, or set token_dir in %s",
                               cfg->token_dir, cfg->source);
            doctor_add(d, DOCTOR_WARN, "token", hint, "token_dir %s does not exist: only "
                       "users' own token files are used", cfg->token_dir);
        } else {
            hint = doctor_hint("make token_dir %s a directory owned by root, mode 0700",
                               cfg->token_dir);
            doctor_add(d, DOCTOR_FAIL, "token", hint, "token_dir %s cannot be opened: %s",
                       cfg->token_dir, errno == ELOOP ? "a symbolic link (not followed)"
                       : strerror(errno));
        }
        free(hint);
        return false;
    }
    if (fstat(fd, &sb) != 0 || sb.st_uid != 0 || (sb.st_mode & (S_IWGRP | S_IWOTH))) {
        hint = doctor_hint("chown root:root %s && chmod 0700 %s", cfg->token_dir, cfg->token_dir);
        doctor_add(d, DOCTOR_FAIL, "token", hint, "token_dir %s must be owned by root and "
                   "writable by root only (owner uid %lu, mode %04o)", cfg->token_dir,
                   (unsigned long)sb.st_uid, (unsigned)(sb.st_mode & 07777));
        free(hint);
        close(fd);
        return false;
    }
    DIR *dir = fdopendir(fd);
    if (!dir) {
        doctor_add(d, DOCTOR_FAIL, "token", "make token_dir a directory owned by root, mode 0700",
                   "token_dir %s cannot be read: %s",
                   cfg->token_dir, strerror(errno));
        close(fd);
        return false;
    }
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN &&
                                     de->d_type != DT_LNK))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(users, cap * sizeof(*users));
            if (!grown)
                break;
            users = grown;
        }
        if (!(users[n] = strdup(de->d_name)))
            break;
        n++;
    }
    closedir(dir);
    if (n)
        qsort(users, n, sizeof(*users), cmp_str);
    *out = users;
    *out_n = n;
    return true;
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
        check_one_token(d, user, token, path);
        mk_token_free(token);
    }

    /* Users the store knows (they logged in, or were synced) and who have
     * no file in token_dir: their own token file, read as PAM reads it. */
    mk_error_clear(&err);
    if (mk_store_read(cfg, &view, &err) == MK_OK) {
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
                check_one_token(d, user, token, source ? source : "the user's token file");
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

static void check_tls_and_tokens(struct doctor *d)
{
    if (!d->config_ok) {
        need_config(d, "tls");
        need_config(d, "token");
        return;
    }
    if (!d->root) {
        check_tls_and_own_token(d);
        return;
    }
    struct mk_profile profile;
    mk_error err;
    mk_error_clear(&err);
    mk_status st = doctor_profile(d, DOCTOR_PROBE_TOKEN, &profile, &err);
    report_tls(d, true, st, &err);
    check_token_dir(d);
}

/* ---- nsswitch.conf ---- */

/* Whether one "[...]" block of nsswitch.conf (without the brackets) makes
 * a NOTFOUND answer return: NOTFOUND=return, or !X=return with X another
 * status. */
static bool action_returns_on_notfound(const char *block, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && mk_ascii_space((unsigned char)block[i]))
            i++;
        size_t start = i;
        while (i < len && !mk_ascii_space((unsigned char)block[i]))
            i++;
        const char *item = block + start;
        size_t item_len = i - start;
        if (item_len == 0)
            continue;
        bool negated = item[0] == '!';
        if (negated) {
            item++;
            item_len--;
        }
        const char *eq = memchr(item, '=', item_len);
        if (!eq)
            continue;
        size_t status_len = (size_t)(eq - item), action_len = item_len - status_len - 1;
        bool is_return = action_len == 6 && mk_ascii_case_equal_n(eq + 1, "return", 6);
        bool is_notfound = status_len == 8 && mk_ascii_case_equal_n(item, "notfound", 8);
        if (is_return && is_notfound != negated)
            return true;
    }
    return false;
}

struct nss_line {
    int line;            /* 0: not found */
    bool has_mkio;
    bool stops_before;   /* a [NOTFOUND=return] before mkio */
};

/* Reads one database line's services (text after the ':'). */
static void parse_nss_services(const char *p, struct nss_line *out)
{
    bool returns = false;
    while (*p) {
        while (*p && mk_ascii_space((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (*p == '[') {
            const char *close = strchr(p, ']');
            size_t len = close ? (size_t)(close - p - 1) : strlen(p + 1);
            if (action_returns_on_notfound(p + 1, len))
                returns = true;
            p = close ? close + 1 : p + 1 + len;
            continue;
        }
        const char *start = p;
        while (*p && !mk_ascii_space((unsigned char)*p) && *p != '[')
            p++;
        if ((size_t)(p - start) == 4 && strncmp(start, "mkio", 4) == 0 && !out->has_mkio) {
            out->has_mkio = true;
            out->stops_before = returns;
        }
    }
}

static void check_nsswitch(struct doctor *d)
{
    const char *path = DOCTOR_NSSWITCH;
    char *text = NULL, *hint = NULL;
    size_t len = 0;
    struct nss_line group = { 0 }, initgroups = { 0 };
    int group_lines = 0;
    int r = tool_read_file(path, DOCTOR_MAX_TEXT_FILE, true, &text, &len);
    if (r < 0) {
        hint = doctor_hint("create %s with the line `group: files mkio`", path);
        doctor_add(d, r == -EACCES && !d->root ? DOCTOR_WARN : DOCTOR_FAIL, "nsswitch", hint,
                   "%s cannot be read: %s%s", path, strerror(-r),
                   r == -EACCES && !d->root ? " (not root)" : "");
        goto out;
    }
    int lineno = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (mk_ascii_space((unsigned char)*p))
            p++;
        char *name = p;
        while (*p && !mk_ascii_space((unsigned char)*p) && *p != ':')
            p++;
        size_t name_len = (size_t)(p - name);
        while (mk_ascii_space((unsigned char)*p))
            p++;
        if (*p != ':' || name_len == 0)
            continue;
        struct nss_line *which = NULL;
        if (name_len == 5 && strncmp(name, "group", 5) == 0) {
            group_lines++;
            which = &group;
        } else if (name_len == 10 && strncmp(name, "initgroups", 10) == 0) {
            which = &initgroups;
        }
        if (!which || which->line) /* the first line of a database counts */
            continue;
        which->line = lineno;
        parse_nss_services(p + 1, which);
    }
    if (!group.line) {
        hint = doctor_hint("add the line `group: files mkio` to %s", path);
        doctor_add(d, DOCTOR_FAIL, "nsswitch", hint,
                   "%s has no group: line (glibc then uses files only): no mkio group is seen",
                   path);
    } else if (!group.has_mkio) {
        hint = doctor_hint("add mkio to the group: line of %s (line %d), for example "
                           "`group: files mkio`", path, group.line);
        doctor_add(d, DOCTOR_FAIL, "nsswitch", hint,
                   "the group: line of %s (line %d) does not name mkio: no mkio group is seen",
                   path, group.line);
    } else if (group.stops_before) {
        hint = doctor_hint("remove the [NOTFOUND=return] before mkio on line %d of %s, or "
                           "move mkio before it", group.line, path);
        doctor_add(d, DOCTOR_WARN, "nsswitch", hint, "the group: line of %s (line %d) names "
                   "mkio, but a [NOTFOUND=return] before it ends lookups first", path,
                   group.line);
    } else if (initgroups.line && !initgroups.has_mkio) {
        hint = doctor_hint("add mkio to the initgroups: line of %s (line %d), or remove that "
                           "line", path, initgroups.line);
        doctor_add(d, DOCTOR_WARN, "nsswitch", hint, "the group: line of %s names mkio, but "
                   "its initgroups: line (line %d) does not: id and logins miss mkio groups",
                   path, initgroups.line);
    } else if (group_lines > 1) {
        hint = doctor_hint("keep one group: line in %s", path);
        doctor_add(d, DOCTOR_WARN, "nsswitch", hint, "%s has %d group: lines; the first (line "
                   "%d) names mkio", path, group_lines, group.line);
    } else {
        doctor_add(d, DOCTOR_OK, "nsswitch", NULL, "the group: line of %s (line %d) names mkio",
                   path, group.line);
    }
out:
    free(hint);
    free(text);
}

/* ---- PAM ---- */

struct pam_search {
    const char *type;          /* "account" or "session" */
    char looked[2048];         /* the files looked at, comma-separated */
    char found_in[PATH_MAX];   /* the file with the pam_mkio.so line, "" when none */
    char missing[PATH_MAX];    /* the first file that could not be read, "" when none */
    int missing_errno;
    char visited[DOCTOR_PAM_DEPTH][PATH_MAX];
    int visited_count;
};

static void list_append(char *list, size_t size, const char *word);

static void pam_note_looked(struct pam_search *s, const char *path)
{
    list_append(s->looked, sizeof(s->looked), path);
}

/* Whether a module path names pam_mkio.so (bare or absolute). */
static bool pam_is_mkio(const char *module)
{
    const char *slash = strrchr(module, '/');
    return strcmp(slash ? slash + 1 : module, "pam_mkio.so") == 0;
}

/* The next word of *p (spaces skipped), NUL-terminated in place; NULL at
 * the end. A word starting with '[' runs to the matching ']'. */
static char *pam_next_word(char **p)
{
    char *s = *p;
    while (mk_ascii_space((unsigned char)*s))
        s++;
    if (!*s)
        return NULL;
    char *start = s;
    if (*s == '[') {
        char *close = strchr(s, ']');
        s = close ? close + 1 : s + strlen(s);
    } else {
        while (*s && !mk_ascii_space((unsigned char)*s))
            s++;
    }
    if (*s)
        *s++ = '\0';
    *p = s;
    return start;
}

static void pam_search_file(struct pam_search *s, const char *name, int depth);

static void pam_follow(struct pam_search *s, const char *name, int depth)
{
    if (!name || !*name || s->found_in[0])
        return;
    pam_search_file(s, name, depth + 1);
}

/* Looks for pam_mkio.so in the stack of s->type that file name (under
 * /etc/pam.d unless absolute) makes, following includes. */
static void pam_search_file(struct pam_search *s, const char *name, int depth)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    if (depth >= DOCTOR_PAM_DEPTH || s->visited_count >= DOCTOR_PAM_DEPTH)
        return;
    if (name[0] == '/')
        snprintf(path, sizeof(path), "%s", name);
    else
        snprintf(path, sizeof(path), "%s/%s", DOCTOR_PAM_DIR, name);
    for (int i = 0; i < s->visited_count; i++)
        if (strcmp(s->visited[i], path) == 0)
            return;
    snprintf(s->visited[s->visited_count++], PATH_MAX, "%s", path);
    pam_note_looked(s, path);
    int r = tool_read_file(path, DOCTOR_MAX_TEXT_FILE, true, &text, &len);
    if (r < 0) {
        if (!s->missing[0]) {
            snprintf(s->missing, sizeof(s->missing), "%s", path);
            s->missing_errno = -r;
        }
        return;
    }
    /* Backslash-newline continues a line, as Linux-PAM reads it. */
    for (char *c = text; (c = strstr(c, "\\\n")) != NULL;)
        c[0] = c[1] = ' ';
    for (char *line = text, *next; line && !s->found_in[0]; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        char *type = pam_next_word(&p);
        if (!type)
            continue;
        if (strcmp(type, "@include") == 0) {
            pam_follow(s, pam_next_word(&p), depth);
            continue;
        }
        if (type[0] == '-')
            type++;
        if (!mk_ascii_case_equal(type, s->type))
            continue;
        char *control = pam_next_word(&p);
        char *module = pam_next_word(&p);
        if (!control || !module)
            continue;
        if (strcmp(control, "include") == 0 || strcmp(control, "substack") == 0) {
            pam_follow(s, module, depth);
            continue;
        }
        if (pam_is_mkio(module))
            snprintf(s->found_in, sizeof(s->found_in), "%s", path);
    }
    free(text);
}

/* Appends word to a comma-separated list. */
static void list_append(char *list, size_t size, const char *word)
{
    size_t used = strlen(list);
    snprintf(list + used, size - used, "%s%s", used ? ", " : "", word);
}

/* pam_mkio.so in the stack of type: Debian's common-TYPE (what
 * pam-auth-update writes), and each login service (login_services) that has
 * a file in /etc/pam.d must reach it. */
static void check_pam(struct doctor *d, const char *type)
{
    const struct mk_config *cfg = &d->t->cfg;
    struct pam_search *s = calloc(1, sizeof(*s));
    char name[64], start[64], reached[1024] = "", unreached[1024] = "";
    char *hint = NULL;
    snprintf(name, sizeof(name), "pam-%s", type);
    if (!s) {
        doctor_add(d, DOCTOR_FAIL, name, "run `mkio-orgs doctor` again", "out of memory");
        return;
    }
    s->type = type;
    snprintf(start, sizeof(start), "common-%s", type);
    pam_search_file(s, start, 0);
    bool common_missing = strcmp(s->missing, s->visited[0]) == 0;
    for (size_t i = 0; i < cfg->login_service_count; i++) {
        const char *service = cfg->login_services[i];
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", DOCTOR_PAM_DIR, service);
        if (strchr(service, '/') || lstat(path, &sb) != 0)
            continue;
        struct pam_search *one = calloc(1, sizeof(*one));
        if (!one)
            break;
        one->type = type;
        pam_search_file(one, service, 0);
        list_append(one->found_in[0] ? reached : unreached, sizeof(reached), service);
        free(one);
    }
    if (s->found_in[0] && !unreached[0]) {
        doctor_add(d, DOCTOR_OK, name, NULL, "pam_mkio.so is in the %s stack, in %s (looked at: "
                   "%s)%s%s", type, s->found_in, s->looked, reached[0] ? "; reached from " : "",
                   reached);
    } else if (s->found_in[0]) {
        hint = doctor_hint("add `@include %s` (or the line `%s optional pam_mkio.so`) to the "
                           "file in %s of each of: %s", start, type, DOCTOR_PAM_DIR, unreached);
        doctor_add(d, DOCTOR_WARN, name, hint, "pam_mkio.so is in %s, but the %s stack of these "
                   "login services does not reach it: %s", s->found_in, type, unreached);
    } else if (common_missing && reached[0] && !unreached[0]) {
        doctor_add(d, DOCTOR_OK, name, NULL, "no %s; pam_mkio.so is in the %s stack of every "
                   "login service with a file in %s: %s", s->missing, type, DOCTOR_PAM_DIR,
                   reached);
    } else if (common_missing) {
        hint = doctor_hint("on Debian, run `pam-auth-update --enable mkio`; elsewhere add "
                           "`%s optional pam_mkio.so` to the %s stack of each login service "
                           "in %s (conf/pam.d-snippet)", type, type, DOCTOR_PAM_DIR);
        doctor_add(d, DOCTOR_FAIL, name, hint, "%s cannot be read (%s)%s%s", s->missing,
                   strerror(s->missing_errno), unreached[0] ? "; login services without "
                   "pam_mkio.so: " : "", unreached);
    } else {
        hint = doctor_hint("run `pam-auth-update --enable mkio`, or add the line `%s optional "
                           "pam_mkio.so` to %s/%s (conf/pam.d-snippet)", type, DOCTOR_PAM_DIR,
                           start);
        doctor_add(d, DOCTOR_FAIL, name, hint, "no pam_mkio.so line in the %s stack (looked "
                   "at: %s%s%s)", type, s->looked, s->missing[0] ? "; could not read " : "",
                   s->missing);
    }
    free(hint);
    free(s);
}

/* ---- groups.db ---- */

static void check_groups_db(struct doctor *d)
{
    const struct mk_config *cfg = &d->t->cfg;
    char path[PATH_MAX], note[PATH_MAX + 128] = "";
    char *hint = NULL;
    struct stat sb;
    if (snprintf(path, sizeof(path), "%s/groups.db", cfg->state_dir) >= (int)sizeof(path)) {
        doctor_add(d, DOCTOR_FAIL, "groups.db", "set a shorter state_dir",
                   "the state directory's path is too long");
        return;
    }
    bool elsewhere = strcmp(path, MK_GROUPFILE_DEFAULT_PATH) != 0;
    if (elsewhere)
        snprintf(note, sizeof(note), "; but the NSS module reads only %s (state_dir is %s)",
                 MK_GROUPFILE_DEFAULT_PATH, cfg->state_dir);
    const char *sync_hint = "run `mkio-orgs sync --all` as root: any write of the store "
                            "rewrites it";
    if (lstat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT) {
            hint = doctor_hint("it is written at the first login of a user who has joined an "
                               "organization, or by `mkio-orgs sync --all` as root%s",
                               elsewhere ? "; and remove state_dir from the configuration" : "");
            doctor_add(d, DOCTOR_WARN, "groups.db", hint, "%s does not exist yet: no mkio "
                       "group is seen%s", path, note);
        } else {
            bool denied = e == EACCES && !d->root;
            doctor_add(d, denied ? DOCTOR_WARN : DOCTOR_FAIL, "groups.db",
                       denied ? "run `mkio-orgs doctor` as root"
                              : "state_dir must be a directory owned by root, mode 0755",
                       "%s cannot be looked at: %s%s", path, strerror(e),
                       denied ? " (not root)" : "");
        }
        goto out;
    }
    if (S_ISLNK(sb.st_mode) || !S_ISREG(sb.st_mode)) {
        hint = doctor_hint("remove %s, then %s", path, sync_hint);
        doctor_add(d, DOCTOR_FAIL, "groups.db", hint, "%s is %s: the NSS module refuses it",
                   path, S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a regular file");
        goto out;
    }
    if (sb.st_uid != 0) {
        struct passwd *pw = getpwuid(sb.st_uid);
        hint = doctor_hint("chown root:root %s && chmod 0644 %s (or remove it, then %s)", path,
                           path, sync_hint);
        doctor_add(d, DOCTOR_FAIL, "groups.db", hint, "%s is owned by %s (uid %lu), not root: "
                   "the NSS module refuses it", path, pw ? pw->pw_name : "no user",
                   (unsigned long)sb.st_uid);
        goto out;
    }
    if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        hint = doctor_hint("chmod 0644 %s", path);
        doctor_add(d, DOCTOR_FAIL, "groups.db", hint, "%s is writable by group or others "
                   "(mode %04o): the NSS module refuses it", path,
                   (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    int r = mkgf_verify_path(path);
    if (r == -EACCES && !d->root) {
        doctor_add(d, DOCTOR_WARN, "groups.db", "run `mkio-orgs doctor` as root",
                   "%s is root's, mode %04o; not verified: it cannot be read (not root)", path,
                   (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    if (r < 0) {
        hint = doctor_hint("%s (`mkio-orgs status --verify` shows more)", sync_hint);
        doctor_add(d, DOCTOR_FAIL, "groups.db", hint, "%s does not verify: %s", path,
                   r == -EBADMSG ? "it is damaged (a record, an offset or the checksum is wrong)"
                   : r == -EPROTONOSUPPORT ? "it was written in another format version"
                   : strerror(-r));
        goto out;
    }
    if (elsewhere) {
        hint = doctor_hint("remove state_dir from %s unless this is a private store",
                           cfg->source);
        doctor_add(d, DOCTOR_WARN, "groups.db", hint, "%s is root's, mode %04o, and verifies%s",
                   path, (unsigned)(sb.st_mode & 07777), note);
    } else {
        doctor_add(d, DOCTOR_OK, "groups.db", NULL, "%s is root's, mode %04o, and verifies%s",
                   path, (unsigned)(sb.st_mode & 07777), note);
    }
out:
    free(hint);
}

/* ---- nscd ---- */

static void check_nscd(struct doctor *d)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", MK_NSCD_SOCKET);
    /* Non-blocking: a wedged daemon with a full queue answers EAGAIN at once. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        doctor_add(d, DOCTOR_WARN, "nscd", "run `mkio-orgs doctor` again",
                   "not checked: no socket: %s", strerror(errno));
        return;
    }
    int r = connect(fd, (const struct sockaddr *)&addr, sizeof(addr));
    int e = errno;
    close(fd);
    if (r == 0 || e == EINPROGRESS || e == EAGAIN)
        doctor_add(d, DOCTOR_OK, "nscd", NULL, "nscd (or unscd) is running (%s): its group "
                   "cache is invalidated after each change of groups.db; by hand: nscd -i group",
                   MK_NSCD_SOCKET);
    else if (e == ENOENT || e == ECONNREFUSED)
        doctor_add(d, DOCTOR_OK, "nscd", NULL, "nscd is not running (no group cache to "
                   "invalidate)");
    else
        doctor_add(d, DOCTOR_WARN, "nscd", "run `mkio-orgs doctor` as root",
                   "not checked: %s: %s%s", MK_NSCD_SOCKET, strerror(e),
                   e == EACCES && !d->root ? " (not root)" : "");
}

/* ---- stale users ---- */

static const struct mk_store_user *store_user(const struct mk_store_view *v, const char *user)
{
    for (size_t i = 0; i < v->user_count; i++)
        if (strcmp(v->users[i].user, user) == 0)
            return &v->users[i];
    return NULL;
}

static const struct mk_user_state_entry *state_entry(const struct mk_user_state_entry *list,
                                                     size_t n, const char *user)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].user, user) == 0)
            return &list[i];
    return NULL;
}

static void report_stale(struct doctor *d, const char *user, const struct mk_user_state *st,
                         int64_t store_refreshed, int64_t now, size_t *stale)
{
    const struct mk_config *cfg = &d->t->cfg;
    int64_t known_good = mk_user_state_known_good(st, store_refreshed);
    if (!mk_user_state_stale(cfg, known_good, now))
        return;
    char good[32], attempt[32];
    tool_format_time(known_good, good, sizeof(good));
    tool_format_time(st->last_attempt, attempt, sizeof(attempt));
    char *hint = doctor_hint("check %s's token (`mkio-orgs doctor` as root; a refused one: "
                             "`mkio-orgs login --user %s`), then `mkio-orgs sync --user %s`; "
                             "or raise max_stale in %s", user, user, user, cfg->source);
    doctor_add(d, DOCTOR_WARN, "stale", hint, "%s: last success %s (%lld days ago, over "
               "max_stale: their groups leave groups.db); last attempt %s; last error: %s",
               user, good, (long long)((now - known_good) / 86400), attempt,
               st->last_error[0] ? st->last_error : "none recorded");
    free(hint);
    (*stale)++;
}

static void check_stale(struct doctor *d)
{
    const struct mk_config *cfg = &d->t->cfg;
    struct mk_user_state_entry *list = NULL;
    size_t n = 0, stale = 0;
    struct mk_store_view view;
    mk_error err;
    memset(&view, 0, sizeof(view));
    mk_error_clear(&err);
    if (!need_config(d, "stale"))
        return;
    if (cfg->max_stale_ms == 0) {
        doctor_add(d, DOCTOR_OK, "stale", NULL, "max_stale = 0: memberships never go stale");
        return;
    }
    if (mk_store_read(cfg, &view, &err) != MK_OK ||
        mk_user_state_list(cfg, &list, &n, &err) != MK_OK) {
        bool denied = !d->root && strstr(err.message, strerror(EACCES)) != NULL;
        doctor_add(d, denied ? DOCTOR_WARN : DOCTOR_FAIL, "stale",
                   denied ? "run `mkio-orgs doctor` as root"
                          : "state_dir and its files must be root's and not writable by group or "
                            "others (the message names the path)",
                   "%s%s", denied ? "not checked: " : "", err.message);
        goto out;
    }
    int64_t now = (int64_t)time(NULL);
    size_t users = 0;
    for (size_t i = 0; i < n; i++) {
        const struct mk_store_user *su = store_user(&view, list[i].user);
        if (list[i].refused) {
            char *hint = doctor_hint("fix the record as said, or remove it: the user's next "
                                     "refresh writes it again");
            doctor_add(d, DOCTOR_WARN, "stale", hint, "%s: the refresh record is not believed "
                       "(its times are not used): %s", list[i].user, list[i].refused);
            free(hint);
            stale++;
        }
        report_stale(d, list[i].user, &list[i].state, su ? (int64_t)su->refreshed : 0, now,
                     &stale);
        users++;
    }
    for (size_t i = 0; i < view.user_count; i++) {
        if (state_entry(list, n, view.users[i].user))
            continue;
        struct mk_user_state none;
        memset(&none, 0, sizeof(none));
        report_stale(d, view.users[i].user, &none, (int64_t)view.users[i].refreshed, now,
                     &stale);
        users++;
    }
    char bound[32];
    tool_format_duration(cfg->max_stale_ms, bound, sizeof(bound));
    if (stale == 0)
        doctor_add(d, DOCTOR_OK, "stale", NULL, "no stale user (%zu user%s known; max_stale %s)",
                   users, users == 1 ? "" : "s", bound);
out:
    mk_user_state_list_free(list, n);
    mk_store_view_free(&view);
}

/* ---- output ---- */

static void doctor_print_json(const struct doctor *d)
{
    json_object *root = json_object_new_object();
    json_object *checks = json_object_new_array();
    for (size_t i = 0; i < d->count; i++) {
        const struct doctor_check *c = &d->checks[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(c->name ? c->name : ""));
        json_object_object_add(o, "result", json_object_new_string(doctor_result_name(c->result)));
        json_object_object_add(o, "detail", json_object_new_string(c->detail ? c->detail : ""));
        json_object_object_add(o, "hint", c->hint ? json_object_new_string(c->hint) : NULL);
        json_object_array_add(checks, o);
    }
    json_object_object_add(root, "checks", checks);
    json_object_object_add(root, "ok", json_object_new_boolean(d->fails == 0));
    tool_print_json(root);
}

int cmd_doctor(struct tool *t, int argc, char **argv)
{
    struct doctor d;
    memset(&d, 0, sizeof(d));
    int rc = tool_simple_options("doctor", doctor_help, argc, argv, &d.json, NULL, NULL);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    d.t = t;
    d.root = geteuid() == 0;
    if (!d.json) {
        printf("mkio-orgs doctor, as %s\n", d.root ? "root: every check" :
               "a user (not root): what a user can check; run it as root for the rest");
        fflush(stdout);
    }
    check_config(&d);
    if (!t->cfg_loaded) {
        tool_error("doctor: out of memory");
        doctor_free(&d);
        return TOOL_EXIT_LOCAL;
    }
    check_ca_file(&d);
    check_tls_and_tokens(&d);
    check_nsswitch(&d);
    check_pam(&d, "account");
    check_pam(&d, "session");
    check_groups_db(&d);
    check_nscd(&d);
    check_stale(&d);
    if (d.json)
        doctor_print_json(&d);
    else
        printf("doctor: %zu ok, %zu warn, %zu fail\n", d.oks, d.warns,
               d.fails);
    rc = d.fails ? TOOL_EXIT_LOCAL : TOOL_EXIT_OK;
    doctor_free(&d);
    return rc;
}
