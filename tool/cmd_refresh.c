/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs refresh: a user refreshes their own groups (tool/cmd_refresh.h).
 *
 * The client connects to the refresh service's socket, sends one request
 * line and prints the one line it answers. The service side (--serve, for
 * mkio-refresh@.service only) trusts nothing the peer says but its request
 * line: who it is comes from SO_PEERCRED, the environment is cleared, the
 * arguments are the unit's. The refresh itself is the one of a login and
 * of `sync --user` (net/token.h, then net/refresh.h); the rate limit is a
 * small record per user under state_dir/refresh-requests, root's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/passwd.h"
#include "base/text.h"
#include "base/trust.h"
#include "net/refresh.h"
#include "net/token.h"
#include "store/store.h"
#include "tool/cmd_refresh.h"
#include "tool/util.h"

/* A request line: a word and a user name. */
#define REFRESH_REQUEST_MAX 256
/* The answer holds a few groups; bounded all the same. */
#define REFRESH_ANSWER_MAX 65536
/* How long the service waits for the request line. */
#define REFRESH_REQUEST_WAIT_MS 5000

static const char refresh_help[] =
"Usage: mkio-orgs refresh [--json]\n"
"\n"
"Refresh your own MK.IO groups now, without root, as your next login would:\n"
"the refresh service of this host (mkio-refresh.socket) reads your token as\n"
"logins do (token_dir/USER first, then your own token file), accepts the\n"
"pending invites the invite policy allows, and updates this host's groups.\n"
"It refreshes only the user who connects, at most once every 30 seconds.\n"
"New sessions get the groups that changed (log in again, or `newgrp GROUP`);\n"
"the sessions you have keep theirs.\n"
"\n"
"Options:\n"
"  --json        Print JSON for scripts (mkio-orgs(1), JSON OUTPUT).\n"
"  -h, --help    This help.\n"
"\n"
"Environment:\n"
"  MKIO_REFRESH_SOCKET   The service's socket (default /run/mkio/refresh.sock).\n"
"\n"
"Exit status: 0 refreshed; 2 your token is missing, refused or not usable, or\n"
"logins leave you alone (min_uid, ignore_users); 3 no refresh service on this\n"
"host (installed without systemd: your groups follow at your next login), MK.IO\n"
"unavailable, or asked again within 30 seconds (the wait is named); 4 local\n"
"failure.\n";

/* ---- the service side ---- */

/* Writes the answer (one line) to the peer and frees it. */
static void serve_send(int fd, json_object *answer)
{
    const char *text = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        text += n;
        len -= (size_t)n;
    }
    if (write(fd, "\n", 1) < 0) {
        /* the peer went away: nothing more to tell it */
    }
    json_object_put(answer);
}

static json_object *serve_string(const char *s)
{
    if (!s)
        return NULL;
    char *clean = mk_text_sanitize_dup(s);
    json_object *o = json_object_new_string(clean ? clean : "");
    free(clean);
    return o;
}

/* An error answer: the exit code the client gives, the message, and with
 * retry_after >= 0 the seconds to wait. Also one line for the journal. */
static int serve_error(int fd, const char *user, int exit_code, int64_t retry_after,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int serve_error(int fd, const char *user, int exit_code, int64_t retry_after,
                       const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    tool_error("refresh --serve: %s: %s", user ? user : "?", message);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "result", json_object_new_string("error"));
    json_object_object_add(o, "exit", json_object_new_int(exit_code));
    json_object_object_add(o, "message", serve_string(message));
    json_object_object_add(o, "retry_after", retry_after >= 0 ? json_object_new_int64(retry_after)
                                                              : NULL);
    serve_send(fd, o);
    return exit_code;
}

/* The request line, at most REFRESH_REQUEST_MAX bytes up to '\n', within
 * REFRESH_REQUEST_WAIT_MS. False when there is none. */
static bool serve_read_request(int fd, char *line, size_t size)
{
    size_t used = 0;
    while (used + 1 < size) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, REFRESH_REQUEST_WAIT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t n = read(fd, line + used, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        if (line[used] == '\n') {
            line[used] = '\0';
            return true;
        }
        used++;
    }
    return false;
}

/* The groups user is a member of in the store, as JSON group objects. */
static json_object *serve_user_groups(const struct mk_config *cfg, const char *user)
{
    struct mk_store_view view = { 0 };
    mk_error err;
    json_object *groups = json_object_new_array();
    if (mk_store_read(cfg, NULL, &view, &err) != MK_OK)
        return groups;
    for (size_t g = 0; g < view.group_count; g++) {
        const struct mk_store_group *grp = &view.groups[g];
        bool member = false;
        for (size_t m = 0; m < grp->member_count && !member; m++)
            member = strcmp(grp->members[m], user) == 0;
        if (!member)
            continue;
        json_object *o = json_object_new_object(), *org = json_object_new_object();
        json_object_object_add(o, "name", serve_string(grp->group_name));
        json_object_object_add(o, "gid", json_object_new_int64((int64_t)grp->gid));
        json_object_object_add(org, "id", serve_string(grp->org_id));
        json_object_object_add(org, "name", serve_string(grp->org_name));
        json_object_object_add(o, "organization", org);
        json_object_array_add(groups, o);
    }
    mk_store_view_free(&view);
    return groups;
}

/* The groups of a that b lacks (by name), as a new array. */
static json_object *serve_groups_minus(json_object *a, json_object *b)
{
    json_object *out = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *g = json_object_array_get_idx(a, i);
        const char *name = json_object_get_string(json_object_object_get(g, "name"));
        bool in_b = false;
        for (size_t j = 0; j < json_object_array_length(b) && !in_b; j++)
            in_b = strcmp(name, json_object_get_string(json_object_object_get(
                               json_object_array_get_idx(b, j), "name"))) == 0;
        if (!in_b)
            json_object_array_add(out, json_object_get(g));
    }
    return out;
}

/* The user's rate-limit record, state_dir/refresh-requests/USER (root's,
 * 0600, in a 0700 directory of root's), opened and locked: *fd stays open
 * (and locked) for the refresh. *wait gets the seconds still to wait (0:
 * go on; -1: a refresh of this user is under way). A record that cannot
 * be kept is MK_ERR_IO: no refresh without the limit. */
static mk_status serve_rate_take(const struct mk_config *cfg, const char *user, int *fd,
                                 int64_t *wait, mk_error *err)
{
    char dir[4096];
    struct stat sb;
    int dfd = -1;
    mk_status st = MK_OK;
    *fd = -1;
    *wait = 0;
    snprintf(dir, sizeof(dir), "%s/refresh-requests", cfg->state_dir);
    if (mkdir(cfg->state_dir, 0755) != 0 && errno != EEXIST)
        return mk_error_set(err, MK_ERR_IO, "cannot create %s: %s", cfg->state_dir, strerror(errno));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return mk_error_set(err, MK_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 || fstat(dfd, &sb) != 0 ||
        mk_trust_problems(&sb, S_IFDIR, geteuid(), S_IWGRP | S_IWOTH)) {
        st = mk_error_set(err, MK_ERR_IO, "%s must be a directory of root's that only root "
                          "writes", dir);
        goto out;
    }
    *fd = openat(dfd, user, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    if (*fd < 0 || fstat(*fd, &sb) != 0 ||
        mk_trust_problems(&sb, S_IFREG, geteuid(), S_IRWXG | S_IRWXO)) {
        st = mk_error_set(err, MK_ERR_IO, "cannot keep the record %s/%s", dir, user);
        goto out;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        *wait = -1;
        goto out;
    }
    char text[32] = "";
    ssize_t n = pread(*fd, text, sizeof(text) - 1, 0);
    int64_t last = 0, now = (int64_t)time(NULL);
    uint64_t v = 0;
    if (n > 0) {
        text[n] = '\0';
        text[strcspn(text, "\n")] = '\0';
        if (mk_parse_u64(text, INT64_MAX, &v))
            last = (int64_t)v;
    }
    /* A time ahead of the clock (it was set back) does not hold anyone up. */
    if (last > 0 && last <= now && now - last < REFRESH_MIN_INTERVAL_S) {
        *wait = REFRESH_MIN_INTERVAL_S - (now - last);
        goto out;
    }
    int len = snprintf(text, sizeof(text), "%" PRId64 "\n", now);
    if (ftruncate(*fd, 0) != 0 || pwrite(*fd, text, (size_t)len, 0) != len)
        st = mk_error_set(err, MK_ERR_IO, "cannot write the record %s/%s: %s", dir, user,
                          strerror(errno));
out:
    if (st != MK_OK && *fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    if (dfd >= 0)
        close(dfd);
    return st;
}

/* The user's token as a login finds it; false after answering why not. */
static bool serve_token(int fd, const struct mk_config *cfg, const struct passwd *pw,
                        char **token, char **source)
{
    mk_error err;
    mk_error_clear(&err);
    mk_status st = mk_token_for_user(cfg, pw, token, source, &err);
    if (st == MK_OK)
        return true;
    if (st == MK_ERR_IO)
        serve_error(fd, pw->pw_name, TOOL_EXIT_USAGE, -1, "%s: run `mkio-orgs login` to save "
                    "your token", err.message);
    else if (mk_token_source_root_held(cfg, *source))
        serve_error(fd, pw->pw_name, TOOL_EXIT_USAGE, -1, "%s; only your administrator can fix "
                    "it: `mkio-orgs login --user %s` with a new token", err.message, pw->pw_name);
    else
        serve_error(fd, pw->pw_name, TOOL_EXIT_USAGE, -1, "%s: fix it (yours, mode 0600), or "
                    "run `mkio-orgs login`", err.message);
    return false;
}

/* The refresh of the peer's user, as a login does it, and the answer. */
static int serve_refresh(struct tool *t, int fd, const struct passwd *pw)
{
    const struct mk_config *cfg = &t->cfg;
    const char *user = pw->pw_name;
    struct mk_refresh_result res = { 0 };
    char *token = NULL, *source = NULL;
    int lock = -1, rc;
    int64_t wait = 0;
    mk_error err;
    mk_error_clear(&err);

    if (mk_config_user_ignored(cfg, user, pw->pw_uid))
        return serve_error(fd, user, TOOL_EXIT_USAGE, -1, "logins leave %s alone (uid %lu below "
                           "min_uid %lu, or in ignore_users, in %s): nothing to refresh", user,
                           (unsigned long)pw->pw_uid, (unsigned long)cfg->min_uid, cfg->source);
    if (serve_rate_take(cfg, user, &lock, &wait, &err) != MK_OK)
        return serve_error(fd, user, TOOL_EXIT_LOCAL, -1, "%s", err.message);
    if (wait != 0) {
        close(lock);
        if (wait < 0)
            return serve_error(fd, user, TOOL_EXIT_UNAVAILABLE, 1, "a refresh of your groups is "
                               "under way; try again when it has answered");
        return serve_error(fd, user, TOOL_EXIT_UNAVAILABLE, wait, "your groups were refreshed "
                           "less than %d s ago; try again in %" PRId64 " s",
                           REFRESH_MIN_INTERVAL_S, wait);
    }
    if (!serve_token(fd, cfg, pw, &token, &source)) {
        rc = TOOL_EXIT_USAGE;
        goto out;
    }
    json_object *before = serve_user_groups(cfg, user);
    struct mk_refresh_options opts = {
        .accept = true,                   /* as a login: only what the policy allows */
        .budget_ms = cfg->budget_ms,
        .lock_timeout_ms = (long)cfg->budget_ms,
        .write_store = true,
        .log = &tool_log_sink,            /* the store's warnings: the journal */
    };
    mk_status st = mk_refresh_user(cfg, user, token, &opts, &res, &err);
    if (st != MK_OK) {
        json_object_put(before);
        char remedy[600] = "";
        if (st == MK_ERR_API && err.http_status == 401) {
            mk_token_remedy(cfg, user, source, remedy, sizeof(remedy));
            rc = serve_error(fd, user, TOOL_EXIT_USAGE, -1, "MK.IO refused the token in %s "
                             "(expired or revoked): %s", source, remedy);
        } else {
            rc = serve_error(fd, user, tool_exit_code(st), -1, "%s%s%s", err.message,
                             err.ref[0] && !strstr(err.message, err.ref) ? "; ref " : "",
                             err.ref[0] && !strstr(err.message, err.ref) ? err.ref : "");
        }
        goto out;
    }
    json_object *after = serve_user_groups(cfg, user);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "result", json_object_new_string("ok"));
    json_object_object_add(o, "user", serve_string(user));
    json_object_object_add(o, "joined", json_object_new_int64((int64_t)(res.members + res.accepted)));
    json_object_object_add(o, "accepted", json_object_new_int64((int64_t)res.accepted));
    json_object_object_add(o, "added", serve_groups_minus(after, before));
    json_object_object_add(o, "removed", serve_groups_minus(before, after));
    json_object_put(before);
    json_object_put(after);
    fprintf(stderr, "mkio-orgs: refresh --serve: %s refreshed\n", user);
    serve_send(fd, o);
    rc = TOOL_EXIT_OK;
out:
    mk_refresh_result_free(&res);
    mk_token_free(token);
    free(source);
    if (lock >= 0)
        close(lock);
    return rc;
}

/* Which token file the peer's logins use; nothing is sent to MK.IO. */
static int serve_which_token(struct tool *t, int fd, const struct passwd *pw)
{
    char *token = NULL, *source = NULL;
    mk_error err;
    mk_error_clear(&err);
    mk_status st = mk_token_for_user(&t->cfg, pw, &token, &source, &err);
    mk_token_free(token);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "result", json_object_new_string("ok"));
    json_object_object_add(o, "user", serve_string(pw->pw_name));
    json_object_object_add(o, "token_file", serve_string(source));
    json_object_object_add(o, "root_held",
                           json_object_new_boolean(mk_token_source_root_held(&t->cfg, source)));
    json_object_object_add(o, "problem", st == MK_OK || st == MK_ERR_IO ? NULL
                                         : serve_string(err.message));
    serve_send(fd, o);
    free(source);
    return TOOL_EXIT_OK;
}

/* `refresh --serve`: one connection on standard input, as
 * mkio-refresh@.service passes it (StandardInput=socket). The request is
 * "refresh [USER]" or "token [USER]"; a USER other than the peer's own is
 * refused. Returns what the client is told, or -1 when there is no peer
 * to tell anything. */
static int refresh_serve(struct tool *t)
{
    int fd = STDIN_FILENO, rc;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct passwd pw;
    char *pwbuf = NULL, line[REFRESH_REQUEST_MAX];

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred)) {
        tool_error("refresh --serve: standard input is not a connected Unix socket (%s): it is "
                   "for mkio-refresh@.service, started by mkio-refresh.socket", strerror(errno));
        return -1;
    }
    /* Nothing of the peer's but the request line: not even the
     * environment the service manager gave. */
    clearenv();
    signal(SIGPIPE, SIG_IGN);
    if (geteuid() != 0)
        return serve_error(fd, NULL, TOOL_EXIT_LOCAL, -1, "the refresh service must run as root");
    int e = mk_passwd_lookup_uid(cred.uid, &pw, &pwbuf);
    if (e) {
        rc = serve_error(fd, NULL, TOOL_EXIT_USAGE, -1, "uid %lu has no passwd entry",
                         (unsigned long)cred.uid);
        goto out;
    }
    if (!serve_read_request(fd, line, sizeof(line))) {
        rc = serve_error(fd, pw.pw_name, TOOL_EXIT_USAGE, -1, "no request line (\"refresh\" "
                         "or \"token\", then a newline) within %d s", REFRESH_REQUEST_WAIT_MS / 1000);
        goto out;
    }
    char *named = strchr(line, ' ');
    if (named)
        *named++ = '\0';
    bool refresh = strcmp(line, "refresh") == 0;
    if (!refresh && strcmp(line, "token") != 0) {
        rc = serve_error(fd, pw.pw_name, TOOL_EXIT_USAGE, -1, "unknown request (\"refresh\" or "
                         "\"token\")");
        goto out;
    }
    if (named && *named && strcmp(named, pw.pw_name) != 0) {
        char shown[80];
        rc = serve_error(fd, pw.pw_name, TOOL_EXIT_USAGE, -1, "you may refresh only your own "
                         "groups: this connection is from %s (uid %lu), not \"%s\"", pw.pw_name,
                         (unsigned long)cred.uid, mk_text_sanitize(named, shown, sizeof(shown)));
        goto out;
    }
    if (tool_load_config(t) != TOOL_EXIT_OK) {
        rc = serve_error(fd, pw.pw_name, TOOL_EXIT_LOCAL, -1, "the refresh service cannot read "
                         "its configuration (see the journal of mkio-refresh@.service)");
        goto out;
    }
    rc = refresh ? serve_refresh(t, fd, &pw) : serve_which_token(t, fd, &pw);
out:
    free(pwbuf);
    return rc;
}

/* ---- the client side ---- */

/* Sends request to the service and reads its one-line answer. *absent is
 * true (MK_ERR_UNAVAILABLE) when no service listens. */
static mk_status client_ask(struct tool *t, const char *request, json_object **answer,
                            bool *absent, mk_error *err)
{
    const char *path = getenv("MKIO_REFRESH_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char *buf = NULL;
    size_t used = 0;
    mk_status st = MK_OK;
    int fd = -1;

    *answer = NULL;
    *absent = false;
    if (!path || !*path)
        path = REFRESH_SOCKET_DEFAULT;
    if (strlen(path) >= sizeof(sa.sun_path))
        return mk_error_set(err, MK_ERR_USAGE, "the socket path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mk_error_set(err, MK_ERR_IO, "cannot make a socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int saved = errno;
        *absent = saved == ENOENT || saved == ECONNREFUSED || saved == ENOTDIR;
        st = mk_error_set(err, MK_ERR_UNAVAILABLE, *absent
                          ? "no refresh service on this host (%s: %s; mkio-refresh.socket is not "
                            "installed or not running): your groups follow at your next login"
                          : "cannot reach the refresh service at %s: %s", path, strerror(saved));
        goto out;
    }
    /* The service answers within its time budget; a hang only is cut. */
    int64_t wait_ms = (t->cfg_loaded ? t->cfg.budget_ms : 5000) + 15000;
    struct timeval tv = { .tv_sec = (time_t)(wait_ms / 1000) };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    signal(SIGPIPE, SIG_IGN);
    if (write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
        st = mk_error_set(err, MK_ERR_UNAVAILABLE, "cannot ask the refresh service at %s: %s",
                          path, strerror(errno));
        goto out;
    }
    buf = malloc(REFRESH_ANSWER_MAX + 1);
    if (!buf) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    while (used < REFRESH_ANSWER_MAX && !memchr(buf, '\n', used)) {
        ssize_t n = read(fd, buf + used, REFRESH_ANSWER_MAX - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    *answer = used ? json_tokener_parse(buf) : NULL;
    if (!*answer || !json_object_is_type(*answer, json_type_object)) {
        json_object_put(*answer);
        *answer = NULL;
        st = mk_error_set(err, MK_ERR_PROTOCOL, "the refresh service at %s gave no answer "
                          "(see `journalctl -u 'mkio-refresh@*'`)", path);
    }
out:
    free(buf);
    close(fd);
    return st;
}

static const char *answer_string(json_object *o, const char *key)
{
    json_object *v = json_object_object_get(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int64_t answer_int(json_object *o, const char *key)
{
    return json_object_get_int64(json_object_object_get(o, key));
}

/* An error answer as the tool's own error: the same message and exit. */
static void answer_error(json_object *answer, mk_error *err)
{
    static const mk_status by_exit[] = {
        [TOOL_EXIT_REFUSED] = MK_ERR_API, [TOOL_EXIT_USAGE] = MK_ERR_USAGE,
        [TOOL_EXIT_UNAVAILABLE] = MK_ERR_UNAVAILABLE, [TOOL_EXIT_LOCAL] = MK_ERR_IO,
    };
    int64_t code = answer_int(answer, "exit");
    const char *message = answer_string(answer, "message");
    mk_error_set(err, code >= 1 && code <= 4 ? by_exit[code] : MK_ERR_PROTOCOL, "%s",
                 message ? message : "the refresh service refused");
}

/* Asks for request of the calling user ("refresh NAME\n", "token NAME\n"). */
static mk_status client_request(struct tool *t, const char *word, json_object **answer,
                                bool *absent, mk_error *err)
{
    struct passwd pw;
    char *pwbuf = NULL, request[REFRESH_REQUEST_MAX];
    int e = mk_passwd_lookup_uid(getuid(), &pw, &pwbuf);
    if (e) {
        *absent = false;
        return mk_error_set(err, MK_ERR_USAGE, "your uid %lu has no passwd entry",
                            (unsigned long)getuid());
    }
    snprintf(request, sizeof(request), "%s %s\n", word, pw.pw_name);
    free(pwbuf);
    mk_status st = client_ask(t, request, answer, absent, err);
    if (st == MK_OK && strcmp(answer_string(*answer, "result") ? answer_string(*answer, "result")
                              : "", "ok") != 0) {
        answer_error(*answer, err);
        json_object_put(*answer);
        *answer = NULL;
        st = err->status;
    }
    return st;
}

/* "mk-a (gid 1), mk-b (gid 2)" of a group array. */
static void put_groups(FILE *out, json_object *groups)
{
    for (size_t i = 0; i < json_object_array_length(groups); i++) {
        json_object *g = json_object_array_get_idx(groups, i);
        fputs(i ? ", " : "", out);
        tool_put_safe(out, answer_string(g, "name"));
        fprintf(out, " (gid %" PRId64 ")", answer_int(g, "gid"));
    }
}

int cmd_refresh(struct tool *t, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"serve", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, serve = false, absent;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h') {
            fputs(refresh_help, stdout);
            return TOOL_EXIT_OK;
        }
        if (c == 'j' || c == 'S') {
            *(c == 'j' ? &json : &serve) = true;
            continue;
        }
        return tool_usage("refresh ", "refresh: unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        return tool_usage("refresh ", "refresh: unexpected argument '%s'", argv[optind]);
    /* A request answered is a success of the service, whatever the answer
     * (the client has the exit code): a user's rate-limited or refused
     * request leaves no failed unit behind. */
    if (serve)
        return refresh_serve(t) < 0 ? TOOL_EXIT_USAGE : TOOL_EXIT_OK;

    int rc = tool_load_config(t);
    if (rc)
        return rc;
    json_object *answer = NULL;
    mk_error err;
    mk_error_clear(&err);
    if (client_request(t, "refresh", &answer, &absent, &err) != MK_OK)
        return tool_fail(&err);
    json_object *added = json_object_object_get(answer, "added");
    json_object *removed = json_object_object_get(answer, "removed");
    if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "schema", json_object_new_int(1));
        json_object_object_add(o, "user", json_object_get(json_object_object_get(answer, "user")));
        json_object_object_add(o, "joined", json_object_new_int64(answer_int(answer, "joined")));
        json_object_object_add(o, "accepted", json_object_new_int64(answer_int(answer, "accepted")));
        json_object_object_add(o, "added", json_object_get(added));
        json_object_object_add(o, "removed", json_object_get(removed));
        tool_print_json(o);
    } else {
        printf("Refreshed the groups of ");
        tool_put_safe(stdout, answer_string(answer, "user"));
        printf(": %" PRId64 " MK.IO organizations joined (%" PRId64 " accepted now).\n",
               answer_int(answer, "joined"), answer_int(answer, "accepted"));
        if (json_object_array_length(added)) {
            fputs("Added:   ", stdout);
            put_groups(stdout, added);
            fputc('\n', stdout);
        }
        if (json_object_array_length(removed)) {
            fputs("Removed: ", stdout);
            put_groups(stdout, removed);
            fputc('\n', stdout);
        }
        if (json_object_array_length(added) + json_object_array_length(removed))
            fputs("New sessions get the change (log in again, or `newgrp GROUP`); the sessions "
                  "you have keep their groups.\n", stdout);
        else
            fputs("No group changed.\n", stdout);
    }
    json_object_put(answer);
    return TOOL_EXIT_OK;
}

/* ---- what other commands ask ---- */

bool refresh_take_no_refresh(int *argc, char **argv)
{
    bool found = false;
    int kept = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc)
                argv[kept++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "--no-refresh") == 0) {
            found = true;
            continue;
        }
        argv[kept++] = argv[i];
    }
    *argc = kept;
    argv[kept] = NULL;
    return found;
}

static void refresh_after_change_to(struct tool *t, FILE *out, bool joined)
{
    json_object *answer = NULL;
    bool absent = false;
    mk_error err;
    mk_error_clear(&err);
    fflush(stdout);
    struct passwd *pw = getpwuid(getuid());
    if (t->cfg_loaded && pw && mk_config_user_ignored(&t->cfg, pw->pw_name, pw->pw_uid)) {
        fprintf(out, "No Unix group follows here: this host's logins leave you alone (min_uid, "
                     "ignore_users).\n");
        return;
    }
    if (client_request(t, "refresh", &answer, &absent, &err) != MK_OK) {
        if (absent)
            fprintf(out, "The Unix group follows at your next login (no refresh service on "
                         "this host).\n");
        else
            tool_error("could not refresh your groups now: %s; the Unix group follows at your "
                       "next login", err.message);
        return;
    }
    json_object *groups = json_object_object_get(answer, joined ? "added" : "removed");
    for (size_t i = 0; i < json_object_array_length(groups); i++) {
        fputs("The group ", out);
        tool_put_safe(out, answer_string(json_object_array_get_idx(groups, i), "name"));
        fputs(joined ? " will be yours in new sessions (log in again, or `newgrp GROUP`).\n"
                     : " is no longer yours in new sessions.\n", out);
    }
    if (!json_object_array_length(groups))
        fprintf(out, "Your groups were refreshed; no Unix group changed%s.\n", joined
                ? " (the invite policy may leave this organization out, or it has no group "
                  "here yet)" : "");
    json_object_put(answer);
}

/* out NULL (--quiet): the refresh still runs, and nothing is said of it
 * but a failure (tool_error, on stderr). */
void refresh_after_change(struct tool *t, FILE *out, bool joined)
{
    FILE *devnull = out ? NULL : fopen("/dev/null", "w");
    if (!out && !devnull)
        return;
    refresh_after_change_to(t, out ? out : devnull, joined);
    if (devnull)
        fclose(devnull);
}

/* The token file of token_dir for user as the calling user sees it, else
 * the service's answer. */
void refresh_login_token(struct tool *t, struct refresh_token_info *info)
{
    struct passwd pw;
    char *pwbuf = NULL;
    struct stat sb;
    memset(info, 0, sizeof(*info));
    if (mk_passwd_lookup_uid(getuid(), &pw, &pwbuf) != 0) {
        snprintf(info->why, sizeof(info->why), "uid %lu has no passwd entry",
                 (unsigned long)getuid());
        return;
    }
    char root_path[4096];
    snprintf(root_path, sizeof(root_path), "%s/%s", t->cfg.token_dir, pw.pw_name);
    int r = lstat(root_path, &sb);
    if (r == 0 || errno == ENOENT) {
        info->known = true;
        if (r == 0) {
            info->found = info->root_held = true;
            snprintf(info->path, sizeof(info->path), "%s", root_path);
            if (!S_ISREG(sb.st_mode) || sb.st_uid != 0 || (sb.st_mode & 077))
                snprintf(info->problem, sizeof(info->problem), "%.300s is refused: it must be a "
                         "regular file of root's, mode 0600 (it is mode %04o, uid %lu)",
                         root_path, (unsigned)(sb.st_mode & 07777), (unsigned long)sb.st_uid);
        } else {
            /* Logins take the home of the password database, not $HOME. */
            snprintf(info->path, sizeof(info->path), "%s/%s", pw.pw_dir, t->cfg.user_token_path);
            info->found = lstat(info->path, &sb) == 0;
        }
        free(pwbuf);
        return;
    }
    free(pwbuf);
    /* token_dir is root's alone (mode 0700): the service can tell. */
    json_object *answer = NULL;
    bool absent = false;
    mk_error err;
    mk_error_clear(&err);
    if (client_request(t, "token", &answer, &absent, &err) != MK_OK) {
        snprintf(info->why, sizeof(info->why), "only root can look into token_dir %.200s, and %.250s",
                 t->cfg.token_dir, absent ? "no refresh service answers on this host"
                 : err.message);
        return;
    }
    const char *file = answer_string(answer, "token_file");
    const char *problem = answer_string(answer, "problem");
    info->known = true;
    info->found = file != NULL;
    info->root_held = json_object_get_boolean(json_object_object_get(answer, "root_held"));
    snprintf(info->path, sizeof(info->path), "%s", file ? file : "");
    snprintf(info->problem, sizeof(info->problem), "%s", problem ? problem : "");
    json_object_put(answer);
}
