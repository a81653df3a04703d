/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_explain.c: mkio-orgs explain USER (see tool/cmd_explain.h).
 *
 * Everything here is read, nothing written: the configuration, the
 * user's passwd entry, their token file (which one a login would read, as
 * common/net/token.h picks it), their refresh record (userstate.h), the
 * store (store.h, with the organizations' history), and what NSS answers
 * now (getgrouplist, and whether nsswitch.conf names mkio). Root may ask
 * about anyone; a user about themself, or about another user with the
 * token file hidden (what the output says). */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/text.h"
#include "net/token.h"
#include "store/userstate.h"
#include "tool/cmd_explain.h"
#include "tool/nsswitch.h"
#include "tool/util.h"

#define EXPLAIN_NSSWITCH "/etc/nsswitch.conf"
#define EXPLAIN_MAX_PROBLEMS 4

static const char explain_help[] =
"Usage: mkio-orgs explain USER [--json]\n"
"\n"
"Show why USER has the groups they have: everything this machine knows\n"
"about USER, in one place.\n"
"\n"
"  uid, and whether min_uid or ignore_users (mkio.conf(5)) leaves the user\n"
"  alone: then logins and sync never refresh them;\n"
"  the token file logins read for them: token_dir/USER first (root's),\n"
"  else the user's own file (user_token in their home);\n"
"  the last successful refresh, the last attempt and its error, and\n"
"  whether the user is stale (max_stale);\n"
"  the groups the store gives them (name, gid, organization id and name),\n"
"  each with its renames and gid moves (the last 5, and why);\n"
"  what getent answers now: the user's groups through NSS (getgrouplist),\n"
"  and whether nsswitch.conf names mkio on its group: line.\n"
"\n"
"Anyone may ask about themself, root about anyone. A user asking about\n"
"another user sees everything but the token file, and is told so.\n"
"\n"
"  --json   the same as one JSON object (command:explain in mkio-orgs(1),\n"
"           JSON OUTPUT)\n"
"\n"
"Exit status: 0; 2 for a usage error or an unknown user.\n";

struct explain {
    struct tool *t;
    const char *user;
    uid_t uid;
    gid_t gid;
    char *home;
    bool self;                /* root, or the user themself: the token is shown */
    bool ignored;
    char ignored_why[160];
    const char *token_state;  /* found, refused, missing, unknown, hidden */
    char *token_path;         /* the file logins read (found, refused), else NULL */
    char token_note[1024];
    struct mk_user_state record;
    struct mk_store_view view;
    const struct mk_store_user *stored;
    int64_t known_good;
    bool stale, failing;
    gid_t *groups;            /* getgrouplist's answer */
    int group_count;
    int nss_group;            /* nsswitch.conf's group: line names mkio: 1, 0, -1 unknown */
    char problems[EXPLAIN_MAX_PROBLEMS][1024];
    size_t problem_count;
};

static void explain_problem(struct explain *e, const char *what, const char *why)
{
    if (e->problem_count < EXPLAIN_MAX_PROBLEMS)
        snprintf(e->problems[e->problem_count++], sizeof(e->problems[0]), "%s: %s", what, why);
}

static char *explain_join(const char *dir, const char *name)
{
    char *p;
    return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* As root: exactly what a login does (mk_token_for_user), the token
 * itself dropped at once. */
static void explain_token_root(struct explain *e, const struct passwd *pw)
{
    char *token = NULL, *source = NULL;
    mk_error err;
    mk_error_clear(&err);
    mk_status st = mk_token_for_user(&e->t->cfg, pw, &token, &source, &err);
    mk_token_free(token);
    if (st == MK_OK) {
        e->token_state = "found";
        e->token_path = source;
        snprintf(e->token_note, sizeof(e->token_note), "logins read %s", source);
        return;
    }
    free(source);
    e->token_state = st == MK_ERR_IO ? "missing" : "refused";
    snprintf(e->token_note, sizeof(e->token_note), "%s", err.message);
    if (st != MK_ERR_IO && e->t->cfg.token_dir)
        e->token_path = explain_join(e->t->cfg.token_dir, e->user);
}

/* As the user: which of the two files exists, as far as the user may look
 * (token_dir is root's: it may not be searchable). */
static void explain_token_self(struct explain *e)
{
    const struct mk_config *cfg = &e->t->cfg;
    char *root_path = cfg->token_dir ? explain_join(cfg->token_dir, e->user) : NULL;
    char *own = cfg->user_token_path && *cfg->user_token_path && e->home && e->home[0] == '/'
                ? explain_join(e->home, cfg->user_token_path) : NULL;
    struct stat st;
    int root_errno = root_path ? (lstat(root_path, &st) == 0 ? 0 : errno) : ENOENT;

    if (root_errno == 0) {
        e->token_state = "found";
        e->token_path = root_path;
        snprintf(e->token_note, sizeof(e->token_note), "logins read %s (root's file in "
                 "token_dir) before your own file; only root can change it", root_path);
        free(own);
        return;
    }
    if (root_errno != ENOENT && root_errno != ENOTDIR) {
        e->token_state = "unknown";
        snprintf(e->token_note, sizeof(e->token_note), "cannot tell whether %s exists (%s): "
                 "if it does, logins read it before %s; root can tell", root_path,
                 strerror(root_errno), own ? own : "your own file");
        free(root_path);
        free(own);
        return;
    }
    free(root_path);
    if (own && lstat(own, &st) == 0) {
        e->token_state = "found";
        e->token_path = own;
        snprintf(e->token_note, sizeof(e->token_note), "logins read %s", own);
        return;
    }
    e->token_state = "missing";
    snprintf(e->token_note, sizeof(e->token_note), "no token file: logins cannot refresh "
             "your groups; `mkio-orgs login` saves one as %s", own ? own : "your token file");
    free(own);
}

static void explain_token(struct explain *e, const struct passwd *pw)
{
    if (!e->self) {
        e->token_state = "hidden";
        snprintf(e->token_note, sizeof(e->token_note), "hidden: only root or %s may see which "
                 "token file logins read", e->user);
    } else if (geteuid() == 0) {
        explain_token_root(e, pw);
    } else {
        explain_token_self(e);
    }
}

/* The record, the store, and the user's state as status decides it. */
static void explain_store(struct explain *e)
{
    mk_error err;
    mk_error_clear(&err);
    if (mk_user_state_read(&e->t->cfg, e->user, &e->record, &err) != MK_OK)
        explain_problem(e, "the refresh record", err.message);
    mk_error_clear(&err);
    if (mk_store_read(&e->t->cfg, NULL, &e->view, &err) != MK_OK)
        explain_problem(e, "the membership store", err.message);
    for (size_t i = 0; i < e->view.user_count; i++)
        if (strcmp(e->view.users[i].user, e->user) == 0)
            e->stored = &e->view.users[i];
    e->known_good = mk_user_state_known_good(&e->record,
                                             e->stored ? (int64_t)e->stored->refreshed : 0);
    e->stale = mk_user_state_stale(&e->t->cfg, e->known_good, (int64_t)time(NULL));
    e->failing = e->record.last_attempt > e->record.last_success;
}

/* getgrouplist through NSS, and whether nsswitch.conf names mkio. */
static void explain_getent(struct explain *e)
{
    int n = 64;
    char *text = NULL;
    size_t len;

    for (int tries = 0; tries < 4; tries++) {
        gid_t *v = realloc(e->groups, (size_t)n * sizeof(*v));
        if (!v)
            break;
        e->groups = v;
        int got = n;
        if (getgrouplist(e->user, e->gid, e->groups, &got) >= 0) {
            e->group_count = got;
            break;
        }
        n = got > n ? got : n * 2;
    }
    e->nss_group = -1;
    if (tool_read_file(EXPLAIN_NSSWITCH, 1 << 20, true, &text, &len) == 0) {
        struct nsswitch_lines lines;
        memset(&lines, 0, sizeof(lines));
        nsswitch_parse(text, &lines);
        e->nss_group = lines.group.has_mkio;
    }
    free(text);
}

static const struct mk_store_group *explain_group_of(const struct explain *e, const char *org_id)
{
    for (size_t i = 0; i < e->view.group_count; i++)
        if (strcmp(e->view.groups[i].org_id, org_id) == 0)
            return &e->view.groups[i];
    return NULL;
}

/* Whether groups.db gives the user g now: they are among its members. */
static bool explain_given(const struct explain *e, const struct mk_store_group *g)
{
    for (size_t i = 0; g && i < g->member_count; i++)
        if (strcmp(g->members[i], e->user) == 0)
            return true;
    return false;
}

static bool explain_in_getent(const struct explain *e, gid_t gid)
{
    for (int i = 0; i < e->group_count; i++)
        if (e->groups[i] == gid)
            return true;
    return false;
}

/* ---- the history, shared with status ---- */

void explain_put_history(FILE *f, const char *indent, const struct mk_store_history *h)
{
    char when[32];
    for (size_t i = 0; h && i < h->event_count; i++) {
        const struct mk_store_event *v = &h->events[i];
        tool_format_time((int64_t)v->time, when, sizeof(when));
        fprintf(f, "%s%s  ", indent, when);
        tool_put_safe(f, v->old_group);
        fprintf(f, " (gid %lu) -> ", (unsigned long)v->old_gid);
        if (v->new_group) {
            tool_put_safe(f, v->new_group);
            fprintf(f, " (gid %lu)", (unsigned long)v->new_gid);
        } else {
            fputs("no group", f);
        }
        fputs(": ", f);
        tool_put_safe(f, v->reason);
        fputc('\n', f);
    }
}

static json_object *explain_string(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static json_object *explain_time(int64_t t)
{
    char when[32];
    if (t <= 0)
        return NULL;
    tool_format_time(t, when, sizeof(when));
    return json_object_new_string(when);
}

json_object *explain_history_json(const struct mk_store_history *h)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; h && i < h->event_count; i++) {
        const struct mk_store_event *v = &h->events[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "time", explain_time((int64_t)v->time));
        json_object_object_add(o, "old_group", json_object_new_string(v->old_group));
        json_object_object_add(o, "old_gid", json_object_new_int64(v->old_gid));
        json_object_object_add(o, "new_group", explain_string(v->new_group));
        json_object_object_add(o, "new_gid", v->new_group ? json_object_new_int64(v->new_gid)
                                                          : NULL);
        json_object_object_add(o, "reason", json_object_new_string(v->reason));
        json_object_array_add(a, o);
    }
    return a;
}

/* ---- text ---- */

static void explain_text_user(const struct explain *e)
{
    char success[32], attempt[32], good[32];
    fputs("user ", stdout);
    tool_put_safe(stdout, e->user);
    printf(" (uid %lu)\n", (unsigned long)e->uid);
    if (e->ignored) {
        printf("  left alone: %s; logins and sync never refresh this user\n", e->ignored_why);
    } else {
        puts("  refreshed by logins and sync (not below min_uid, not in ignore_users)");
    }
    printf("  token (%s): ", e->token_state);
    tool_put_safe(stdout, e->token_note);
    fputc('\n', stdout);
    tool_format_time(e->record.last_success, success, sizeof(success));
    tool_format_time(e->record.last_attempt, attempt, sizeof(attempt));
    printf("  last success: %s; last attempt: %s\n", success, attempt);
    if (e->failing && e->record.last_error[0]) {
        fputs("  last error: ", stdout);
        tool_put_safe(stdout, e->record.last_error);
        fputc('\n', stdout);
    }
    tool_format_time(e->known_good, good, sizeof(good));
    if (e->stale)
        printf("  state: STALE: no success since %s, longer than max_stale: the store's groups "
               "are left out of groups.db until a refresh succeeds\n", good);
    else
        printf("  state: %s\n", e->failing ? "failing (the last good memberships stay)" : "ok");
}

static void explain_text_groups(const struct explain *e)
{
    size_t n = e->stored ? e->stored->org_count : 0;
    fputs("\ngroups the store gives ", stdout);
    tool_put_safe(stdout, e->user);
    printf(n ? ":\n" : ": none\n");
    for (size_t i = 0; i < n; i++) {
        const char *id = e->stored->org_ids[i];
        const struct mk_store_group *g = explain_group_of(e, id);
        const struct mk_store_history *h = mk_store_view_history(&e->view, id);
        const char *name = g ? g->org_name : h ? h->org_name : NULL;
        fputs("  ", stdout);
        if (g) {
            tool_put_safe(stdout, g->group_name);
            printf(" (gid %lu)", (unsigned long)g->gid);
        } else {
            fputs("(no group now)", stdout);
        }
        fputs(" of ", stdout);
        tool_put_safe(stdout, id);
        if (name) {
            fputs(" ", stdout);
            tool_put_safe(stdout, name);
        }
        if (g && !explain_given(e, g))
            fputs("; not given now (stale)", stdout);
        else if (g)
            fputs(explain_in_getent(e, g->gid) ? "; getent shows it" : "; getent does not show it",
                  stdout);
        fputc('\n', stdout);
        explain_put_history(stdout, "    ", h);
    }
}

static void explain_text_getent(const struct explain *e)
{
    printf("\ngetent now (getgrouplist through NSS; nsswitch.conf's group: line %s):\n ",
           e->nss_group < 0 ? "could not be read"
           : e->nss_group ? "names mkio" : "does not name mkio: no MK.IO group can show");
    for (int i = 0; i < e->group_count; i++) {
        struct group *gr = getgrgid(e->groups[i]);
        fputc(' ', stdout);
        tool_put_safe(stdout, gr ? gr->gr_name : "?");
        printf("(%lu)", (unsigned long)e->groups[i]);
    }
    fputc('\n', stdout);
    for (size_t i = 0; i < e->problem_count; i++) {
        fputs("cannot read ", stdout);
        tool_put_safe(stdout, e->problems[i]);
        fputc('\n', stdout);
    }
}

/* ---- JSON ---- */

static json_object *explain_organization(const char *id, const char *name)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "name", explain_string(name));
    return o;
}

static json_object *explain_json_orgs(const struct explain *e)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; e->stored && i < e->stored->org_count; i++) {
        const char *id = e->stored->org_ids[i];
        const struct mk_store_group *g = explain_group_of(e, id);
        const struct mk_store_history *h = mk_store_view_history(&e->view, id);
        const char *name = g ? g->org_name : h ? h->org_name : NULL;
        json_object *o = json_object_new_object(), *group = NULL;
        json_object_object_add(o, "organization", explain_organization(id, name));
        if (g) {
            group = json_object_new_object();
            json_object_object_add(group, "name", json_object_new_string(g->group_name));
            json_object_object_add(group, "gid", json_object_new_int64(g->gid));
            json_object_object_add(group, "organization", explain_organization(id, name));
        }
        json_object_object_add(o, "group", group);
        json_object_object_add(o, "given", json_object_new_boolean(explain_given(e, g)));
        json_object_object_add(o, "in_getent",
                               json_object_new_boolean(g && explain_in_getent(e, g->gid)));
        json_object_object_add(o, "history", explain_history_json(h));
        json_object_array_add(a, o);
    }
    return a;
}

static json_object *explain_json(const struct explain *e)
{
    json_object *root = json_object_new_object(), *token = json_object_new_object();
    json_object *getent = json_object_new_array(), *problems = json_object_new_array();
    json_object *hidden = json_object_new_array();

    json_object_object_add(root, "schema", json_object_new_int(1));
    json_object_object_add(root, "user", json_object_new_string(e->user));
    json_object_object_add(root, "uid", json_object_new_int64(e->uid));
    json_object_object_add(root, "ignored", json_object_new_boolean(e->ignored));
    json_object_object_add(root, "ignored_reason", e->ignored ? explain_string(e->ignored_why)
                                                              : NULL);
    json_object_object_add(token, "state", json_object_new_string(e->token_state));
    json_object_object_add(token, "path", explain_string(e->token_path));
    json_object_object_add(token, "detail", json_object_new_string(e->token_note));
    json_object_object_add(root, "token", token);
    json_object_object_add(root, "last_success", explain_time(e->record.last_success));
    json_object_object_add(root, "last_attempt", explain_time(e->record.last_attempt));
    json_object_object_add(root, "last_error", e->failing && e->record.last_error[0]
                                               ? json_object_new_string(e->record.last_error)
                                               : NULL);
    json_object_object_add(root, "known_good", explain_time(e->known_good));
    json_object_object_add(root, "stale", json_object_new_boolean(e->stale));
    json_object_object_add(root, "organizations", explain_json_orgs(e));
    for (int i = 0; i < e->group_count; i++) {
        struct group *gr = getgrgid(e->groups[i]);
        json_object *g = json_object_new_object();
        json_object_object_add(g, "name", gr ? json_object_new_string(gr->gr_name) : NULL);
        json_object_object_add(g, "gid", json_object_new_int64(e->groups[i]));
        json_object_array_add(getent, g);
    }
    json_object_object_add(root, "getent", getent);
    json_object_object_add(root, "nsswitch_has_mkio",
                           e->nss_group < 0 ? NULL : json_object_new_boolean(e->nss_group));
    if (!e->self)
        json_object_array_add(hidden, json_object_new_string("token"));
    json_object_object_add(root, "hidden", hidden);
    for (size_t i = 0; i < e->problem_count; i++)
        json_object_array_add(problems, json_object_new_string(e->problems[i]));
    json_object_object_add(root, "problems", problems);
    return root;
}

/* ---- the command ---- */

static void explain_ignored(struct explain *e)
{
    const struct mk_config *cfg = &e->t->cfg;
    e->ignored = mk_config_user_ignored(cfg, e->user, e->uid);
    if (!e->ignored)
        return;
    if (e->uid < cfg->min_uid)
        snprintf(e->ignored_why, sizeof(e->ignored_why), "uid %lu is below min_uid %lu",
                 (unsigned long)e->uid, (unsigned long)cfg->min_uid);
    else
        snprintf(e->ignored_why, sizeof(e->ignored_why), "named in ignore_users");
}

int cmd_explain(struct tool *t, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct explain e = { .t = t, .nss_group = -1 };
    bool json = false;
    int c, rc;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': fputs(explain_help, stdout); return TOOL_EXIT_OK;
        default: return tool_usage("explain ", "explain: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return tool_usage("explain ", optind == argc ? "explain: which user? (explain USER)"
                                                    : "explain: one user at a time");
    e.user = argv[optind];
    struct passwd *pw = mk_user_name_valid(e.user) ? getpwnam(e.user) : NULL;
    if (!pw)
        return tool_usage("explain ", "explain: no such user '%s'", e.user);
    e.uid = pw->pw_uid;
    e.gid = pw->pw_gid;
    struct passwd copy = *pw;
    if (!(e.home = pw->pw_dir ? strdup(pw->pw_dir) : NULL) && pw->pw_dir) {
        tool_error("explain: out of memory");
        return TOOL_EXIT_LOCAL;
    }
    copy.pw_name = (char *)argv[optind];
    copy.pw_dir = e.home;
    e.user = argv[optind];
    if ((rc = tool_load_config(t)) != 0)
        goto out;
    e.self = getuid() == 0 || getuid() == e.uid;
    explain_ignored(&e);
    explain_token(&e, &copy);
    explain_store(&e);
    explain_getent(&e);
    if (json) {
        tool_print_json(explain_json(&e));
    } else {
        explain_text_user(&e);
        explain_text_groups(&e);
        explain_text_getent(&e);
    }
    rc = TOOL_EXIT_OK;
out:
    mk_store_view_free(&e.view);
    free(e.groups);
    free(e.token_path);
    free(e.home);
    return rc;
}
