/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/stale.c: which users are stale under max_stale, from their
 * refresh records and the store's times (see stale.h). */
#include "store/stale.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int stale_cmp_record(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mk_user_state_entry *)elem)->user);
}

/* With max_stale 0 nothing is read. Records that cannot be believed are
 * reported and read as none (the store's times decide). 0 or -ENOMEM. */
int mk_stale_records_load(const struct mk_config *cfg, struct mk_stale_records *rec,
                          const struct mk_log_sink *sink)
{
    mk_error err;

    memset(rec, 0, sizeof(*rec));
    if (cfg->max_stale_ms <= 0)
        return 0;
    mk_error_clear(&err);
    if (mk_user_state_list(cfg, &rec->v, &rec->n, &err) != MK_OK) {
        if (err.status == MK_ERR_NOMEM)
            return -ENOMEM;
        mk_log(sink, MK_LOG_WARNING, "users' refresh records not read (%s): max_stale "
               "counts from the store's times only", err.message);
        rec->v = NULL;
        rec->n = 0;
    }
    return 0;
}

void mk_stale_records_free(struct mk_stale_records *rec)
{
    mk_user_state_list_free(rec->v, rec->n);
    memset(rec, 0, sizeof(*rec));
}

/* When user (with the store's refreshed time) was last known good. */
static int64_t stale_known_good(const struct mk_stale_records *rec, const char *user,
                                int64_t refreshed)
{
    const struct mk_user_state_entry *e =
        rec->n ? bsearch(user, rec->v, rec->n, sizeof(*rec->v), stale_cmp_record) : NULL;
    return mk_user_state_known_good(e ? &e->state : NULL, refreshed);
}

/* Which users of s are stale at now (stale[u], indexed like s->users; with
 * when[u], the time they were last known good). except (may be NULL) is
 * the user being written now: a successful refresh, never stale. */
void mk_stale_find(const struct mk_config *cfg, const struct mk_storefile *s,
                   const struct mk_stale_records *rec, const char *except, int64_t now,
                   bool *stale, int64_t *when)
{
    if (cfg->max_stale_ms <= 0)
        return;
    for (size_t u = 0; u < s->user_count; u++) {
        const struct mk_storefile_user *user = &s->users[u];
        if (except && strcmp(user->name, except) == 0)
            continue;
        when[u] = stale_known_good(rec, user->name, user->refreshed);
        stale[u] = user->org_count > 0 && mk_user_state_stale(cfg, when[u], now);
    }
}

static int stale_cmp_user_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mk_storefile_user *)elem)->name);
}

/* Whether user, as s and its record have it before this write, is stale. */
bool mk_stale_user(const struct mk_config *cfg, const struct mk_storefile *s,
                   const struct mk_stale_records *rec, const char *user, int64_t now)
{
    const struct mk_storefile_user *u;

    if (cfg->max_stale_ms <= 0)
        return false;
    u = s->user_count ? bsearch(user, s->users, s->user_count, sizeof(*s->users),
                                stale_cmp_user_name) : NULL;
    return mk_user_state_stale(cfg, stale_known_good(rec, user, u ? u->refreshed : 0), now);
}

/* One warning per stale user: who, and since when. */
void mk_stale_log(const struct mk_storefile *s, const bool *stale, const int64_t *when,
                  const struct mk_log_sink *sink)
{
    for (size_t u = 0; u < s->user_count; u++) {
        char since[32] = "?";
        struct tm tm;
        time_t t;
        if (!stale[u])
            continue;
        t = (time_t)when[u];
        if (gmtime_r(&t, &tm))
            strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC", &tm);
        mk_log(sink, MK_LOG_WARNING, "user %s: no successful refresh since %s (longer than "
               "max_stale): their organization groups are left out of groups.db until a "
               "refresh succeeds", s->users[u].name, since);
    }
}
