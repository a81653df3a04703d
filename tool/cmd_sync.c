/* mkio-orgs sync: refresh users' memberships from MK.IO, for a systemd timer. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "refresh.h"
#include "store.h"
#include "text.h"
#include "token.h"
#include "tool.h"

static const char sync_help[] =
"Usage: mkio-orgs sync [--accept] [--max-time SECONDS] (--all | --user USER...)\n"
"\n"
"Root only. Refresh the organization memberships of users with a token in the\n"
"token directory (token_dir), as a login does, for a systemd timer. --all takes\n"
"every user with a token file there. Pending invites are accepted only with\n"
"--accept, and then only those the invite policy allows. Each user gets the\n"
"configured time budget; the whole run stops after --max-time (default 300)\n"
"seconds, leaving the remaining users for the next run. A failure for one user\n"
"keeps that user's last good data and does not stop the others.\n";

/* --- sync --- */

/* Everything from the server (names, ids, details, refs) and the user name
 * goes through tool_put_safe: sync runs as root, often into the journal. */
static void print_refresh(const char *user, const struct mk_refresh_result *res)
{
    for (size_t i = 0; i < res->count; i++) {
        const struct mk_refresh_org *o = &res->orgs[i];
        if (o->outcome == MK_REFRESH_MEMBER)
            continue;
        tool_put_safe(stdout, user);
        fputs(": ", stdout);
        tool_put_safe(stdout, o->org_name ? o->org_name : o->org_id);
        fputs(" (", stdout);
        tool_put_safe(stdout, o->org_id);
        printf("): %s", mk_refresh_outcome_name(o->outcome));
        if (o->detail[0]) {
            fputs(": ", stdout);
            tool_put_safe(stdout, o->detail);
        }
        if (o->ref[0]) {
            fputs(" (ref ", stdout);
            tool_put_safe(stdout, o->ref);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    }
    tool_put_safe(stdout, user);
    printf(": %zu joined (%zu accepted now), %zu skipped, %zu expired, %zu failed\n",
           res->members + res->accepted, res->accepted, res->skipped, res->expired, res->failed);
}

static int sync_one(struct tool *t, const char *user, bool accept)
{
    struct passwd *pw = getpwnam(user);
    mk_error err;
    mk_error_clear(&err);
    if (!pw) {
        tool_error("sync: %s: no such local user", user);
        return TOOL_EXIT_USAGE;
    }
    char *token = NULL;
    if (mk_token_for_user(&t->cfg, pw, &token, NULL, &err) != MK_OK) {
        mk_error_prefix(&err, "sync: %s", user);
        tool_fail(&err);
        return TOOL_EXIT_USAGE;
    }
    struct mk_refresh_options opts = {
        .accept = accept,
        .budget_ms = t->cfg.budget_ms,
        .lock_timeout_ms = t->cfg.budget_ms,
        .write_store = true,
        .log = &tool_log_sink,
    };
    struct mk_refresh_result res;
    memset(&res, 0, sizeof(res));
    mk_status st = mk_refresh_user(&t->cfg, user, token, &opts, &res, &err);
    mk_token_free(token);
    int rc = TOOL_EXIT_OK;
    if (st != MK_OK) {
        mk_error_prefix(&err, "sync: %s (last good data kept)", user);
        rc = tool_fail(&err);
    } else {
        print_refresh(user, &res);
        if (res.failed)
            rc = TOOL_EXIT_REFUSED;
    }
    mk_refresh_result_free(&res);
    return rc;
}

/* Users with a token file in token_dir: regular files named like users. */
static int list_token_users(const struct mk_config *cfg, char ***users, size_t *n)
{
    DIR *dir = opendir(cfg->token_dir);
    *users = NULL;
    *n = 0;
    if (!dir) {
        tool_error("sync: cannot read the token directory %s: %s", cfg->token_dir,
                   strerror(errno));
        return TOOL_EXIT_USAGE;
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(*users, cap * sizeof(**users));
            if (!grown)
                break;
            *users = grown;
        }
        if (!((*users)[*n] = strdup(de->d_name)))
            break;
        (*n)++;
    }
    closedir(dir);
    return TOOL_EXIT_OK;
}

/* Refuses (exit 2) a named user whom logins and sync leave alone, naming
 * the rule, so that `sync --user` never does what a login would not. An
 * unknown user is left to sync_one to report. */
static int refuse_ignored_user(const struct mk_config *cfg, const char *user)
{
    struct passwd *pw = getpwnam(user);
    if (!pw || !mk_config_user_ignored(cfg, user, pw->pw_uid))
        return TOOL_EXIT_OK;
    /* config.h: source is the file the configuration came from, or "(defaults)". */
    const char *where = cfg->source && strcmp(cfg->source, "(defaults)") != 0
                            ? cfg->source : "the default configuration";
    if (pw->pw_uid < cfg->min_uid)
        tool_error("sync: user %s has uid %lu, below min_uid %lu in %s; not refreshed", user,
                   (unsigned long)pw->pw_uid, (unsigned long)cfg->min_uid, where);
    else
        tool_error("sync: user %s is in ignore_users in %s; not refreshed", user, where);
    return TOOL_EXIT_USAGE;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_sync(struct tool *t, int argc, char **argv)
{
    static const struct option options[] = {
        {"all", no_argument, NULL, 'a'},
        {"user", required_argument, NULL, 'u'},
        {"accept", no_argument, NULL, 'A'},
        {"max-time", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool all = false, accept = false;
    uint64_t max_time = 300;      /* --max-time, seconds */
    char **named = calloc((size_t)argc + 1, sizeof(*named));
    char **users = NULL;
    size_t named_count = 0, user_count = 0;
    int rc = TOOL_EXIT_OK, c;
    if (!named)
        return TOOL_EXIT_LOCAL;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'a': all = true; break;
        case 'A': accept = true; break;
        case 'u': named[named_count++] = optarg; break;
        case 'm':
            if (!mk_parse_u64(optarg, 86400, &max_time) || max_time < 1) {
                rc = tool_usage("sync ", "sync: --max-time takes whole seconds, 1 to 86400");
                goto out;
            }
            break;
        case 'h': fputs(sync_help, stdout); goto out;
        default:
            rc = tool_usage("sync ", "sync: unknown or incomplete option '%s'", argv[optind - 1]);
            goto out;
        }
    }
    if (optind < argc || all == (named_count > 0)) {
        rc = tool_usage("sync ", "sync: give either --all or one or more --user USER");
        goto out;
    }
    if ((rc = tool_need_root("sync")) || (rc = tool_load_config(t)))
        goto out;
    /* Every named user is checked before any is refreshed: a refusal
     * changes nothing. */
    for (size_t i = 0; i < named_count; i++)
        if ((rc = refuse_ignored_user(&t->cfg, named[i])))
            goto out;
    if (all) {
        if ((rc = list_token_users(&t->cfg, &users, &user_count)))
            goto out;
        qsort(users, user_count, sizeof(*users), cmp_str);
    }

    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    size_t total = all ? user_count : named_count;
    for (size_t i = 0; i < total; i++) {
        const char *user = all ? users[i] : named[i];
        clock_gettime(CLOCK_MONOTONIC, &now);
        /* Start a user only if their whole budget still fits in --max-time. */
        int64_t elapsed_ms = (int64_t)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed_ms + t->cfg.budget_ms > (int64_t)max_time * 1000) {
            fprintf(stderr, "mkio-orgs: sync: --max-time reached; %zu user(s) left for the next run\n",
                    total - i);
            if (!rc)
                rc = TOOL_EXIT_UNAVAILABLE;
            break;
        }
        if (all) {
            struct passwd *pw = getpwnam(user);
            if (!pw) {
                tool_error("sync: %s/%s belongs to no local user; skipped", t->cfg.token_dir,
                           user);
                continue;
            }
            if (mk_config_user_ignored(&t->cfg, user, pw->pw_uid))
                continue;
        }
        int one = sync_one(t, user, accept);
        if (one && (!rc || one == TOOL_EXIT_UNAVAILABLE))
            rc = one;
    }
out:
    for (size_t i = 0; i < user_count; i++)
        free(users[i]);
    free(users);
    free(named);
    return rc;
}
