/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs sync: refresh users' memberships from MK.IO, for a systemd timer.
 *
 * Fair and parallel (issue 10, item 5). Users are taken oldest attempt
 * first (userstate.h), so that runs cut short by --max-time reach different
 * users; up to --jobs users run at once, each on its own thread with its own
 * client and the configured time budget; a 429 that ends a user's refresh
 * holds back every user not yet started. Each user's lines are written
 * whole, as that user finishes, under one lock, and stdout is line-buffered,
 * so a pipe or the journal sees them at once and never interleaved.
 *
 * What the threads share: the configuration (read only), stdout and stderr
 * (under sync_run.lock, common/'s warnings too), and the store, whose
 * writers serialize on its lock file (one flock per fresh open,
 * atomicfile.h). What is not thread-safe happens on the main thread before
 * any worker starts: passwd lookups, reading the records, curl_global_init
 * (the environment was scrubbed before, by the dispatcher in main.c:
 * http.h).
 */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/passwd.h"
#include "net/refresh.h"
#include "store/store.h"
#include "base/text.h"
#include "net/token.h"
#include "tool/cmd_sync.h"
#include "tool/shape.h"
#include "tool/util.h"
#include "tool/verbosity.h"
#include "store/userstate.h"
#include "base/clock.h"

#define SYNC_JOBS_DEFAULT 4
#define SYNC_JOBS_MAX 16
/* A user starts only with at least this much of --max-time left (or its
 * whole budget, when that is smaller): a refresh given less would only
 * spend a request and record a failure. */
#define SYNC_MIN_START_MS 1000
/* The pause after a 429 that ends a user's refresh, when MK.IO names no
 * Retry-After: doubled at each further 429 of the run, up to the minute
 * over which MK.IO counts its limit (docs/mkio-api.md), less up to a quarter at
 * random so that hosts limited at one instant do not come back as one. */
#define SYNC_RATE_PAUSE_FIRST_MS 10000
#define SYNC_RATE_PAUSE_MAX_MS 60000

static const char sync_help[] =
"Usage: mkio-orgs sync [--accept] [--jobs N] [--max-time SECONDS] [--json]\n"
"                      (--all | --user USER...)\n"
"\n"
"Root only. Refreshes the organization memberships of local users from MK.IO,\n"
"as a login does, for the systemd timer (mkio-sync.timer) or an administrator.\n"
"A failure for one user keeps that user's last good data and does not stop\n"
"the others.\n"
"\n"
"Which users:\n"
"  --all             Every user with a token file in the token directory\n"
"                    (token_dir). A file named after no local user is named on\n"
"                    standard error and skipped; users that logins leave alone\n"
"                    (min_uid, ignore_users) are skipped.\n"
"  --user USER       This user; repeat for more. The token is found as at\n"
"                    login: token_dir/USER, else the user's own token file.\n"
"                    If any USER is one that logins leave alone, the run is\n"
"                    refused (exit 2) and nothing is refreshed.\n"
"\n"
"Options:\n"
"  --accept          Also accept pending invites, only those the invite policy\n"
"                    of the configuration allows. Without it, pending invites\n"
"                    are only listed.\n"
"  --jobs N          Refresh up to N users at once, 1 to 16 (default 4).\n"
"  --max-time SECONDS\n"
"                    Bound on the whole run, 1 to 86400 (default 300).\n"
"  --json            Write JSON, one object per line (below).\n"
"  -h, --help        This help.\n"
"\n"
"Order and time:\n"
"  Users are taken oldest attempt first: those never tried first, then by the\n"
"  time of their last attempt (a login or an account check counts too), ties\n"
"  by name; so runs cut short by --max-time reach different users in turn.\n"
"  Each user gets the configured time_budget. No user starts once less than\n"
"  1 s (or the whole time_budget, when smaller) is left of --max-time, and a\n"
"  user started late gets only what is left, so the run ends by --max-time\n"
"  (plus the time to recompile groups.db). The users not started are counted\n"
"  in one line on standard error and left for the next run. Every run ends by\n"
"  compiling groups.db once more, so that users who turned stale (no success\n"
"  for longer than max_stale) lose their groups even if this run did not\n"
"  reach them.\n"
"\n"
"Rate limits:\n"
"  MK.IO limits each organization to about 2,000 GET requests a minute. When a\n"
"  user's refresh ends on HTTP 429 (each request is first retried within the\n"
"  user's time budget), no further user starts for a while: 10 s, doubled at\n"
"  each further 429 of the run up to 60 s, less up to a quarter at random.\n"
"  One line on standard error says so. When the pause would pass --max-time,\n"
"  no further user starts at all and that line counts the users left for the\n"
"  next run. Users already running go on.\n"
"\n"
"Output:\n"
"  As each user finishes, its lines are written whole (standard output is\n"
"  line-buffered, into a pipe or the journal too): one line for each\n"
"  organization that is not simply joined (skipped by the policy, pending,\n"
"  expired, failed to accept), then\n"
"    USER: N joined (N accepted now), N skipped, N expired, N failed\n"
"  ending in \"; groups +NAME -NAME\" when the user gained or lost groups.\n"
"  A user whose refresh failed gets one line on standard error instead:\n"
"    mkio-orgs: sync: USER (last good data kept): WHY\n"
"  The run ends with one line:\n"
"    sync: N of N user(s) refreshed, N failed, N left for the next run (S s)\n"
"  With --json, each user is one object on one line (JSON Lines):\n"
"    {\"schema\", \"user\", \"outcome\": \"refreshed\" or \"failed\", \"joined\", \"accepted\",\n"
"     \"skipped\", \"expired\", \"failed\", \"organizations\": [{\"organization\":\n"
"     {\"id\", \"name\"}, \"outcome\", \"detail\", \"ref\"}], \"added\": [GROUP],\n"
"     \"removed\": [GROUP], \"error\": null or {\"message\", \"status\",\n"
"     \"http_status\", \"ref\"}}\n"
"  (organizations: those not simply joined), and the run ends with\n"
"    {\"schema\", \"summary\": {\"users\", \"refreshed\", \"failed\", \"left\", \"rate_limited\",\n"
"     \"seconds\", \"exit_status\"}}\n"
"  (the schema: mkio-orgs(1), JSON OUTPUT). Errors still go to standard error;\n"
"  an error before any user is one error object on standard output. Names,\n"
"  ids and details from the server have control characters replaced, in both\n"
"  forms.\n"
"\n"
"journald:\n"
"  When standard error (or standard output) is the journal stream that\n"
"  JOURNAL_STREAM names, as under the systemd unit, each line there starts\n"
"  with its priority (sd-daemon(3)): <6> a user refreshed and the run's end,\n"
"  <5> an organization pending, skipped or expired, <4> warnings, a run or\n"
"  user with failures, <3> a failed user or organization, and errors.\n"
"\n"
"Exit status:\n"
"  0  every user was refreshed\n"
"  1  MK.IO refused something for a user (an invite could not be accepted)\n"
"  2  usage or configuration error; a --user with no local account; a token\n"
"     file missing or refused; a token MK.IO refused (401)\n"
"  3  MK.IO unavailable or rate limiting for a user, or users left for the\n"
"     next run (--max-time, or a 429 pause that would pass it)\n"
"  4  local failure (the membership store)\n"
"  When several apply, 3 wins; otherwise the first to happen.\n";

struct sync_run;

struct sync_user {
    char *name;
    int64_t last_attempt;      /* Unix seconds, from the user's record; 0: never */
    struct passwd pw;          /* looked up on the main thread */
    char *pw_buf;
    int64_t budget_ms;         /* given when started: time_budget, bound by what is left */
    bool started;
    pthread_t thread;
    struct sync_run *run;
};

struct sync_run {
    struct tool *t;
    bool accept, json;
    unsigned jobs;
    struct mk_log_sink sink;   /* common/'s warnings: tool_log_sink under the lock */

    pthread_mutex_t lock;      /* everything below, and stdout and stderr */
    pthread_cond_t changed;    /* a user finished (a slot is free, a pause may start) */
    unsigned running;
    size_t refreshed, failed;
    int rc;
    unsigned rate_limited;     /* refreshes that ended on a 429 */
    int64_t pause_until_ms;    /* monotonic; no user starts before it */
    int64_t pause_ms;          /* the pause that set pause_until_ms */
    bool pause_told;
};

/* Exit codes merge as they always have: the first failure, unless a later
 * one is "unavailable", which wins (the timer's unit shows it). */
static void sync_merge_rc(int *rc, int one)
{
    if (one && (!*rc || one == TOOL_EXIT_UNAVAILABLE))
        *rc = one;
}

static void sync_log(void *ctx, int priority, const char *message)
{
    struct sync_run *run = ctx;
    pthread_mutex_lock(&run->lock);
    tool_log_sink.fn(tool_log_sink.ctx, priority, message);
    pthread_mutex_unlock(&run->lock);
}

/* --- what a user's refresh prints --- */

/* Everything from the server (names, ids, details, refs) and the user name
 * goes through tool_put_safe: sync runs as root, often into the journal. */
static void sync_print_text(const char *user, const struct mk_refresh_result *res)
{
    for (size_t i = 0; i < res->count; i++) {
        const struct mk_refresh_org *o = &res->orgs[i];
        if (o->outcome == MK_REFRESH_MEMBER)
            continue;
        /* journald (util.h): a failure 3, anything else shown a notice. */
        tool_line_priority(stdout, o->outcome == MK_REFRESH_FAILED ? MK_LOG_ERR : MK_LOG_NOTICE);
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
        /* The API layer's detail usually names the ref already: once. */
        if (o->ref[0] && !strstr(o->detail, o->ref)) {
            fputs(" (ref ", stdout);
            tool_put_safe(stdout, o->ref);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    }
    char changed[1024];
    tool_line_priority(stdout, res->failed ? MK_LOG_WARNING : MK_LOG_INFO);
    tool_put_safe(stdout, user);
    printf(": %zu joined (%zu accepted now), %zu skipped, %zu expired, %zu failed",
           res->members + res->accepted, res->accepted, res->skipped, res->expired, res->failed);
    if (*mk_store_change_format(&res->change, changed, sizeof(changed))) {
        fputs("; groups ", stdout);
        tool_put_safe(stdout, changed);
    }
    fputc('\n', stdout);
}

/* A JSON string of s sanitized like everything sync prints (NULL: null), so
 * that one line stays one line and a terminal or log reader is safe. */
static json_object *sync_json_string(const char *s)
{
    if (!s)
        return NULL;
    char *clean = mk_text_sanitize_dup(s);
    json_object *o = json_object_new_string(clean ? clean : "");
    free(clean);
    return o;
}


static void sync_print_json(const char *user, mk_status st, const struct mk_refresh_result *res,
                            const mk_error *err)
{
    json_object *o = tool_json_new();
    json_object *orgs = json_object_new_array();
    bool ok = st == MK_OK;
    json_object_object_add(o, "user", sync_json_string(user));
    /* A user whose refresh failed has no counts (null, not 0: nothing was
     * counted), and its error says why. */
    json_object_object_add(o, "outcome", json_object_new_string(ok ? "refreshed" : "failed"));
    json_object_object_add(o, "joined", ok ? json_object_new_int64((int64_t)(res->members + res->accepted)) : NULL);
    json_object_object_add(o, "accepted", ok ? json_object_new_int64((int64_t)res->accepted) : NULL);
    json_object_object_add(o, "skipped", ok ? json_object_new_int64((int64_t)res->skipped) : NULL);
    json_object_object_add(o, "expired", ok ? json_object_new_int64((int64_t)res->expired) : NULL);
    json_object_object_add(o, "failed", ok ? json_object_new_int64((int64_t)res->failed) : NULL);
    for (size_t i = 0; ok && i < res->count; i++) {
        const struct mk_refresh_org *org = &res->orgs[i];
        if (org->outcome == MK_REFRESH_MEMBER)
            continue;
        json_object *j = json_object_new_object();
        json_object *org_j = json_object_new_object();
        json_object_object_add(org_j, "id", sync_json_string(org->org_id));
        json_object_object_add(org_j, "name", sync_json_string(org->org_name));
        json_object_object_add(j, "organization", org_j);
        json_object_object_add(j, "outcome", json_object_new_string(mk_refresh_outcome_name(org->outcome)));
        json_object_object_add(j, "detail", org->detail[0] ? sync_json_string(org->detail) : NULL);
        json_object_object_add(j, "ref", org->ref[0] ? sync_json_string(org->ref) : NULL);
        json_object_array_add(orgs, j);
    }
    json_object_object_add(o, "organizations", orgs);
    json_object *added = json_object_new_array(), *removed = json_object_new_array();
    for (size_t i = 0; ok && i < res->change.added_count; i++)
        json_object_array_add(added, sync_json_string(res->change.added[i]));
    for (size_t i = 0; ok && i < res->change.removed_count; i++)
        json_object_array_add(removed, sync_json_string(res->change.removed[i]));
    json_object_object_add(o, "added", added);
    json_object_object_add(o, "removed", removed);
    json_object *e = NULL;
    if (!ok) {
        e = json_object_new_object();
        json_object_object_add(e, "message", sync_json_string(err->message[0] ? err->message
                                                              : mk_status_name(err->status)));
        json_object_object_add(e, "status", json_object_new_string(mk_status_name(err->status)));
        json_object_object_add(e, "http_status", err->http_status
                               ? json_object_new_int64(err->http_status) : NULL);
        json_object_object_add(e, "ref", err->ref[0] ? sync_json_string(err->ref) : NULL);
    }
    json_object_object_add(o, "error", e);
    tool_print_json_line(o, !ok ? MK_LOG_ERR : res->failed ? MK_LOG_WARNING : MK_LOG_INFO);
}

/* The exit code of a failed user, as tool_fail gives it, without printing. */
static int sync_fail_code(const mk_error *err)
{
    if (err->status == MK_ERR_API && err->http_status == 401)
        return TOOL_EXIT_USAGE;
    return tool_exit_code(err->status);
}

/* The run-wide pause after the n-th (from 0) refresh that ended on a 429. */
static int64_t sync_rate_pause_ms(unsigned n)
{
    int64_t pause = SYNC_RATE_PAUSE_FIRST_MS;
    for (unsigned i = 0; i < n && pause < SYNC_RATE_PAUSE_MAX_MS; i++)
        pause *= 2;
    if (pause > SYNC_RATE_PAUSE_MAX_MS)
        pause = SYNC_RATE_PAUSE_MAX_MS;
    uint32_t r = 0;
    if (getentropy(&r, sizeof(r)) != 0)
        r = 0;
    return pause - (int64_t)(r % (uint32_t)(pause / 4 + 1));
}

/* One user, on its own thread: token, refresh, then the user's lines and
 * the run's accounts under the lock. */
static void *sync_worker(void *arg)
{
    struct sync_user *u = arg;
    struct sync_run *run = u->run;
    const struct mk_config *cfg = &run->t->cfg;
    struct mk_refresh_result res;
    mk_error err;
    char *token = NULL;
    int rc = TOOL_EXIT_OK;

    memset(&res, 0, sizeof(res));
    mk_error_clear(&err);
    /* setfsuid inside is per thread (token.h). */
    mk_status st = mk_token_for_user(cfg, &u->pw, &token, NULL, &err);
    bool token_failed = st != MK_OK;
    if (!token_failed) {
        struct mk_refresh_options opts = {
            .accept = run->accept,
            .budget_ms = u->budget_ms,
            .lock_timeout_ms = (long)u->budget_ms,
            .write_store = true,
            .log = &run->sink,
        };
        /* The refresh records the attempt (userstate.h): the next run's order. */
        st = mk_refresh_user(cfg, u->name, token, &opts, &res, &err);
    }
    mk_token_free(token);
    if (token_failed)
        err.status = MK_ERR_USAGE;   /* every token problem is the admin's to fix: exit 2 */

    pthread_mutex_lock(&run->lock);
    if (run->json)
        sync_print_json(u->name, st, &res, &err);
    if (st != MK_OK) {
        rc = sync_fail_code(&err);
        if (token_failed)
            mk_error_prefix(&err, "sync: %s", u->name);
        else
            mk_error_prefix(&err, "sync: %s (last good data kept)", u->name);
        tool_fail(&err);
        run->failed++;
        if (!token_failed && err.http_status == 429) {
            /* MK.IO's Retry-After when it gave one, else a growing pause. */
            int64_t pause = sync_rate_pause_ms(run->rate_limited++);
            if (err.retry_after_ms > 0)
                pause = err.retry_after_ms;
            int64_t until = mk_clock_ms() + pause;
            if (until > run->pause_until_ms) {
                run->pause_until_ms = until;
                run->pause_ms = pause;
                run->pause_told = false;
            }
        }
    } else {
        if (!run->json)
            sync_print_text(u->name, &res);
        if (res.failed)
            rc = TOOL_EXIT_REFUSED;
        run->refreshed++;
    }
    fflush(stdout);
    fflush(stderr);
    sync_merge_rc(&run->rc, rc);
    run->running--;
    pthread_cond_broadcast(&run->changed);
    pthread_mutex_unlock(&run->lock);
    mk_refresh_result_free(&res);
    return NULL;
}

/* Waits on run->changed until a user finishes or until_ms (monotonic). */
static void sync_wait_until(struct sync_run *run, int64_t until_ms)
{
    struct timespec ts = { .tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000 };
    pthread_cond_timedwait(&run->changed, &run->lock, &ts);
}

/* Starts users[0..n) in order, at most run->jobs at once, inside deadline
 * (monotonic ms); returns how many were left unstarted. Called and returns
 * with run->lock held. */
static size_t sync_schedule(struct sync_run *run, struct sync_user *users, size_t n,
                            int64_t deadline)
{
    const struct mk_config *cfg = &run->t->cfg;
    int64_t min_start = cfg->budget_ms < SYNC_MIN_START_MS ? cfg->budget_ms : SYNC_MIN_START_MS;
    size_t i = 0;
    while (i < n) {
        if (run->running >= run->jobs) {
            pthread_cond_wait(&run->changed, &run->lock);
            continue;
        }
        int64_t now = mk_clock_ms();
        if (run->pause_until_ms > now) {
            if (run->pause_until_ms + min_start > deadline) {
                tool_warning("sync: MK.IO is rate limiting (HTTP 429): a pause of %" PRId64
                             " s would pass --max-time; %zu user(s) left for the next run",
                             (run->pause_ms + 999) / 1000, n - i);
                fflush(stderr);
                return n - i;
            }
            if (!run->pause_told) {
                tool_warning("sync: MK.IO is rate limiting (HTTP 429): no further user starts "
                             "for %" PRId64 " s", (run->pause_until_ms - now + 999) / 1000);
                fflush(stderr);
                run->pause_told = true;
            }
            sync_wait_until(run, run->pause_until_ms);
            continue;
        }
        if (deadline - now < min_start) {
            tool_warning("sync: --max-time reached; %zu user(s) left for the next run", n - i);
            fflush(stderr);
            return n - i;
        }
        struct sync_user *u = &users[i];
        u->run = run;
        u->budget_ms = cfg->budget_ms < deadline - now ? cfg->budget_ms : deadline - now;
        int e = pthread_create(&u->thread, NULL, sync_worker, u);
        if (e) {
            tool_error("sync: cannot start a thread: %s; %zu user(s) left for the next run",
                       strerror(e), n - i);
            fflush(stderr);
            sync_merge_rc(&run->rc, TOOL_EXIT_LOCAL);
            return n - i;
        }
        u->started = true;
        run->running++;
        i++;
    }
    return 0;
}

/* --- which users --- */

/* Users with a token file in token_dir: regular files named like users.
 * The directory is taken as configured (a link followed, no owner check:
 * each token file is checked when read), unsorted (sorted with --user's
 * names by the caller). */
static int list_token_users(const struct mk_config *cfg, char ***users, size_t *n)
{
    int r = mk_token_dir_list(cfg->token_dir, 0, users, n, NULL);
    if (r < 0) {
        tool_error("sync: cannot read the token directory %s: %s", cfg->token_dir,
                   strerror(-r));
        return TOOL_EXIT_USAGE;
    }
    return TOOL_EXIT_OK;
}

/* Refuses (exit 2) a named user whom logins and sync leave alone, naming
 * the rule, so that `sync --user` never does what a login would not. An
 * unknown user is reported when the users are looked up. */
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

static int cmp_state_entry(const void *key, const void *entry)
{
    return strcmp(key, ((const struct mk_user_state_entry *)entry)->user);
}

/* Oldest attempt first (never tried: 0), ties by name. */
static int cmp_sync_user(const void *a, const void *b)
{
    const struct sync_user *x = a, *y = b;
    if (x->last_attempt != y->last_attempt)
        return x->last_attempt < y->last_attempt ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Turns names (sorted, unique) into the users to refresh, each looked up,
 * in the fairness order. A name with no local account is reported (for
 * --all as a token file of nobody, skipped; for --user as exit 2); with
 * --all, users that logins leave alone are skipped silently. */
static int sync_users(struct tool *t, char **names, size_t n, bool all,
                      struct sync_user **out, size_t *count)
{
    int rc = TOOL_EXIT_OK;
    struct sync_user *users = calloc(n ? n : 1, sizeof(*users));
    *out = users;
    *count = 0;
    if (!users)
        return TOOL_EXIT_LOCAL;
    for (size_t i = 0; i < n; i++) {
        struct sync_user *u = &users[*count];
        int e = mk_passwd_lookup(names[i], &u->pw, &u->pw_buf);
        if (e) {
            free(u->pw_buf);
            u->pw_buf = NULL;
            if (e != ENOENT)
                tool_error("sync: %s: cannot look the user up: %s", names[i], strerror(e));
            else if (all)
                tool_warning("sync: %s/%s belongs to no local user; skipped", t->cfg.token_dir,
                             names[i]);
            else
                tool_error("sync: %s: no such local user", names[i]);
            sync_merge_rc(&rc, e != ENOENT ? TOOL_EXIT_LOCAL : all ? TOOL_EXIT_OK : TOOL_EXIT_USAGE);
            continue;
        }
        if (all && mk_config_user_ignored(&t->cfg, names[i], u->pw.pw_uid)) {
            free(u->pw_buf);
            u->pw_buf = NULL;
            continue;
        }
        u->name = names[i];
        (*count)++;
    }

    struct mk_user_state_entry *records = NULL;
    size_t record_count = 0;
    mk_error err;
    mk_error_clear(&err);
    if (mk_user_state_list(&t->cfg, &records, &record_count, &err) != MK_OK)
        tool_warning("sync: warning: users are taken by name, not by their last attempt: %s",
                     err.message);
    for (size_t i = 0; i < *count; i++) {
        const struct mk_user_state_entry *r =
            records ? bsearch(users[i].name, records, record_count, sizeof(*records),
                              cmp_state_entry) : NULL;
        users[i].last_attempt = r ? r->state.last_attempt : 0;
    }
    mk_user_state_list_free(records, record_count);
    qsort(users, *count, sizeof(*users), cmp_sync_user);
    return rc;
}

/* --- the command --- */

/* What the options of sync say. */
struct sync_options {
    bool all, accept, json;
    uint64_t max_time;         /* --max-time, seconds */
    uint64_t jobs;
    char **names;              /* the --user names (into argv); room for argc */
    size_t name_count;
};

/* Parses sync's options into *o. 0 to go on; -1 when --help was printed;
 * else the exit code of a usage error (printed). */
static int sync_parse_options(int argc, char **argv, struct sync_options *o)
{
    static const struct option options[] = {
        {"all", no_argument, NULL, 'a'},
        {"user", required_argument, NULL, 'u'},
        {"accept", no_argument, NULL, 'A'},
        {"max-time", required_argument, NULL, 'm'},
        {"jobs", required_argument, NULL, 'j'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'a': o->all = true; break;
        case 'A': o->accept = true; break;
        case 'J': tool_json_set(true); break;
        case 'u': o->names[o->name_count++] = optarg; break;
        case 'm':
            if (!mk_parse_u64(optarg, 86400, &o->max_time) || o->max_time < 1)
                return tool_usage("sync ", "sync: --max-time takes whole seconds, 1 to 86400");
            break;
        case 'j':
            if (!mk_parse_u64(optarg, SYNC_JOBS_MAX, &o->jobs) || o->jobs < 1)
                return tool_usage("sync ", "sync: --jobs takes a whole number of users, 1 to %d",
                                  SYNC_JOBS_MAX);
            break;
        case 'h': fputs(sync_help, stdout); return -1;
        default:
            return tool_usage("sync ", "sync: unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc || o->all == (o->name_count > 0))
        return tool_usage("sync ", "sync: give either --all or one or more --user USER");
    o->json = tool_json(); /* also a global --json before the command */
    return TOOL_EXIT_OK;
}

/* The users this run refreshes, in order (sync_users): the --user names,
 * or with --all the token files of token_dir (*listed, which the caller
 * frees). false when the run stops before it starts (a --user that logins
 * leave alone, an unreadable token_dir): *rc is the exit code. Else true,
 * *rc what the look-ups made of it so far. */
static bool sync_pick_users(struct tool *t, struct sync_options *o, char ***listed,
                            size_t *listed_count, struct sync_user **users, size_t *user_count,
                            int *rc)
{
    /* Every named user is checked before any is refreshed: a refusal
     * changes nothing. */
    for (size_t i = 0; i < o->name_count; i++)
        if ((*rc = refuse_ignored_user(&t->cfg, o->names[i])))
            return false;
    if (o->all) {
        if ((*rc = list_token_users(&t->cfg, listed, listed_count)))
            return false;
    }
    /* Sorted by name (the messages of the look-ups come in that order);
     * a user named twice with --user is refreshed once. */
    char **pick = o->all ? *listed : o->names;
    size_t pick_count = o->all ? *listed_count : o->name_count;
    if (pick_count)
        qsort(pick, pick_count, sizeof(*pick), cmp_str);
    size_t unique = 0;
    for (size_t i = 0; i < pick_count; i++)
        if (o->all || !unique || strcmp(pick[unique - 1], pick[i]) != 0)
            pick[unique++] = pick[i];
    *rc = sync_users(t, pick, unique, o->all, users, user_count);
    return true;
}

/* Readies the run's shared state; rc is the exit code so far. Its
 * condition variable waits on the monotonic clock (sync_wait_until). */
static void sync_run_init(struct sync_run *run, struct tool *t, const struct sync_options *o,
                          int rc)
{
    memset(run, 0, sizeof(*run));
    run->t = t;
    run->accept = o->accept;
    run->json = o->json;
    run->jobs = (unsigned)o->jobs;
    run->rc = rc;
    run->sink.fn = sync_log;
    run->sink.ctx = run;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&run->lock, NULL);
    pthread_cond_init(&run->changed, &attr);
    pthread_condattr_destroy(&attr);
}

/* Refreshes the users, up to run->jobs at once, until deadline_ms
 * (monotonic), and waits for every one started. Returns how many were left
 * for the next run. */
static size_t sync_run_users(struct sync_run *run, struct sync_user *users, size_t n,
                             int64_t deadline_ms)
{
    pthread_mutex_lock(&run->lock);
    size_t left = sync_schedule(run, users, n, deadline_ms);
    if (left)
        sync_merge_rc(&run->rc, TOOL_EXIT_UNAVAILABLE);
    while (run->running)
        pthread_cond_wait(&run->changed, &run->lock);
    pthread_mutex_unlock(&run->lock);
    for (size_t i = 0; i < n; i++)
        if (users[i].started)
            pthread_join(users[i].thread, NULL);
    return left;
}

/* Once per run, groups.db is compiled again: users who turned stale
 * (max_stale) without a refresh of their own lose their groups now. The
 * store's lock is waited for within what is left until deadline_ms, but
 * at least SYNC_MIN_START_MS. */
static void sync_publish(struct sync_run *run, int64_t deadline_ms)
{
    int64_t deadline_left = deadline_ms - mk_clock_ms();
    long publish_lock_ms = deadline_left > TOOL_STORE_LOCK_TIMEOUT_MS ? TOOL_STORE_LOCK_TIMEOUT_MS
                           : deadline_left > SYNC_MIN_START_MS ? (long)deadline_left
                           : SYNC_MIN_START_MS;
    mk_error err;
    mk_error_clear(&err);
    if (mk_store_publish(&run->t->cfg, NULL, publish_lock_ms, &tool_log_sink, &err) != MK_OK) {
        mk_error_prefix(&err, "sync: recompiling the group file");
        sync_merge_rc(&run->rc, tool_fail(&err));
    }
}

/* The run's last line: text, or the JSON summary object (sync --help). */
static void sync_print_summary(const struct sync_run *run, size_t user_count, size_t left,
                               double seconds)
{
    if (run->json) {
        json_object *s = json_object_new_object();
        json_object *o = tool_json_new();
        json_object_object_add(s, "users", json_object_new_int64((int64_t)user_count));
        json_object_object_add(s, "refreshed", json_object_new_int64((int64_t)run->refreshed));
        json_object_object_add(s, "failed", json_object_new_int64((int64_t)run->failed));
        json_object_object_add(s, "left", json_object_new_int64((int64_t)left));
        json_object_object_add(s, "rate_limited", json_object_new_boolean(run->rate_limited > 0));
        json_object_object_add(s, "seconds", shape_seconds(seconds));
        json_object_object_add(s, "exit_status", json_object_new_int(run->rc));
        json_object_object_add(o, "summary", s);
        tool_print_json_line(o, run->rc ? MK_LOG_WARNING : MK_LOG_INFO);
    } else if (!tool_quiet) {
        tool_line_priority(stdout, run->rc ? MK_LOG_WARNING : MK_LOG_INFO);
        printf("sync: %zu of %zu user(s) refreshed, %zu failed, %zu left for the next run "
               "(%.1f s)\n", run->refreshed, user_count, run->failed, left, seconds);
    }
}

/* The options, the users, the refreshes, the publication, the summary. */
int cmd_sync(struct tool *t, int argc, char **argv)
{
    struct sync_options o = { .max_time = 300, .jobs = SYNC_JOBS_DEFAULT };
    char **listed = NULL;          /* token_dir's names, owned */
    size_t listed_count = 0, user_count = 0;
    struct sync_user *users = NULL;
    struct sync_run run;
    bool run_ready = false;
    int rc;

    o.names = calloc((size_t)argc + 1, sizeof(*o.names));
    if (!o.names)
        return TOOL_EXIT_LOCAL;
    rc = sync_parse_options(argc, argv, &o);
    if (rc) {
        rc = rc < 0 ? TOOL_EXIT_OK : rc;
        goto out;
    }
    if ((rc = tool_need_root("sync")) || (rc = tool_load_config(t)))
        goto out;
    if (!sync_pick_users(t, &o, &listed, &listed_count, &users, &user_count, &rc))
        goto out;

    /* A line as soon as each user finishes, also into a pipe or the journal. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* libcurl's one-time set-up, before any thread may make a client
     * (mk_http_scrub_environment ran in main, before this). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tool_error("sync: cannot initialize libcurl");
        rc = TOOL_EXIT_LOCAL;
        goto out;
    }
    sync_run_init(&run, t, &o, rc);
    run_ready = true;

    int64_t start = mk_clock_ms(), deadline = start + (int64_t)o.max_time * 1000;
    size_t left = sync_run_users(&run, users, user_count, deadline);
    sync_publish(&run, deadline);
    sync_print_summary(&run, user_count, left, (double)(mk_clock_ms() - start) / 1000.0);
    rc = run.rc;

out:
    if (run_ready) {
        pthread_cond_destroy(&run.changed);
        pthread_mutex_destroy(&run.lock);
    }
    for (size_t i = 0; i < user_count; i++)
        free(users[i].pw_buf);
    free(users);
    for (size_t i = 0; i < listed_count; i++)
        free(listed[i]);
    free(listed);
    free(o.names);
    return rc;
}
