/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/store.c: the membership store's entry points (see store.h)
 * over its parts:
 *   write.h        the one write path, as named phases
 *   prefetch.h     publish's lookups of other group sources before the lock
 *   compile.h      the compiled view (members, groups), shared with reading
 *   stale.h        stale users (max_stale)
 *   etc_group.h    the local group file
 *   store_env.h    the clock, the NSS oracle, /etc/group and nscd's socket
 *   storefile.h    store.json in memory, store_json.h its text
 *   grouppolicy.h  which name and gid each organization gets (invariant 3)
 *   history.h      the renames and gid moves a write keeps
 */
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/text.h"
#include "base/trust.h"
#include "store/compile.h"
#include "store/etc_group.h"
#include "store/prefetch.h"
#include "store/stale.h"
#include "store/store_json.h"
#include "store/storefile.h"
#include "store/userstate.h"
#include "store/write.h"

/* A malloc'd copy of v[0..n) and its strings; NULL on memory failure. */
static char **store_strv_dup(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = strdup(v[i]))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    }
    return out;
}

/* out filled from s and what the compile selected (entries, with each
 * one's index in s->orgs); MK_ERR_NOMEM leaves out partly filled, for
 * mk_store_view_free. */
static mk_status store_view_fill(const struct mk_storefile *s,
                                 const struct mk_group_entry *entries, const size_t *index,
                                 size_t entry_count, const bool *stale,
                                 const int64_t *stale_since, struct mk_store_view *out)
{
    out->groups = calloc(entry_count ? entry_count : 1, sizeof(*out->groups));
    out->users = calloc(s->user_count ? s->user_count : 1, sizeof(*out->users));
    if (!out->groups || !out->users)
        return MK_ERR_NOMEM;
    for (size_t i = 0; i < entry_count; i++) {
        struct mk_store_group *g = &out->groups[i];
        const struct mk_storefile_org *o = &s->orgs[index[i]];
        out->group_count++;
        g->gid = o->gid;
        g->pinned = o->pinned;
        if (!(g->org_id = strdup(o->id)) || (o->name && !(g->org_name = strdup(o->name))) ||
            !(g->group_name = strdup(o->group)) ||
            !(g->members = store_strv_dup(entries[i].members, entries[i].member_count)))
            return MK_ERR_NOMEM;
        g->member_count = entries[i].member_count;
    }
    for (size_t i = 0; i < s->user_count; i++) {
        struct mk_store_user *u = &out->users[i];
        out->user_count++;
        u->refreshed = (time_t)s->users[i].refreshed;
        u->stale = stale[i];
        u->known_good = stale_since[i];
        if (!(u->user = strdup(s->users[i].name)) ||
            !(u->org_ids = store_strv_dup((const char *const *)s->users[i].orgs,
                                          s->users[i].org_count)))
            return MK_ERR_NOMEM;
        u->org_count = s->users[i].org_count;
    }
    return MK_OK;
}

/* The organizations of s with a history, copied into out (sorted by id,
 * as s->orgs is). */
static mk_status store_view_histories(const struct mk_storefile *s, struct mk_store_view *out)
{
    size_t n = 0;
    for (size_t i = 0; i < s->org_count; i++)
        n += s->orgs[i].history_count > 0;
    if (!(out->histories = calloc(n ? n : 1, sizeof(*out->histories))))
        return MK_ERR_NOMEM;
    for (size_t i = 0; i < s->org_count; i++) {
        const struct mk_storefile_org *o = &s->orgs[i];
        if (!o->history_count)
            continue;
        struct mk_store_history *h = &out->histories[out->history_count++];
        if (!(h->org_id = strdup(o->id)) || (o->name && !(h->org_name = strdup(o->name))) ||
            !(h->events = calloc(o->history_count, sizeof(*h->events))))
            return MK_ERR_NOMEM;
        for (size_t k = 0; k < o->history_count; k++) {
            const struct mk_storefile_event *e = &o->history[k];
            struct mk_store_event *v = &h->events[h->event_count++];
            v->time = (time_t)e->time;
            v->old_gid = e->old_gid;
            v->new_gid = e->new_gid;
            if (!(v->old_group = strdup(e->old_group)) || !(v->reason = strdup(e->reason)) ||
                (e->new_group && !(v->new_group = strdup(e->new_group))))
                return MK_ERR_NOMEM;
        }
    }
    return MK_OK;
}

static int store_cmp_history(const void *key, const void *h)
{
    return strcmp(key, ((const struct mk_store_history *)h)->org_id);
}

const struct mk_store_history *mk_store_view_history(const struct mk_store_view *view,
                                                     const char *org_id)
{
    if (!view || !org_id || !view->history_count)
        return NULL;
    return bsearch(org_id, view->histories, view->history_count, sizeof(*view->histories),
                   store_cmp_history);
}

mk_status mk_store_read(const struct mk_config *cfg, const struct mk_store_env *env,
                        struct mk_store_view *out, mk_error *err)
{
    struct mk_storefile s = { 0 };
    struct mk_local_groups etc = { 0 };
    struct mk_compile_members *members = NULL;
    struct mk_group_entry *entries = NULL;
    size_t *index = NULL;
    size_t entry_count = 0;
    struct mk_stale_records records = { 0 };
    bool *stale = NULL;
    int64_t *stale_since = NULL;
    int dir_fd = -1;
    mk_status st;

    mk_error_clear(err);
    if (!out)
        return mk_error_set(err, MK_ERR_USAGE, "no view to fill");
    memset(out, 0, sizeof(*out));
    if (!cfg || !cfg->state_dir || !cfg->state_dir[0])
        return mk_error_set(err, MK_ERR_USAGE, "no state directory configured");
    /* The same checks as the writer: what status shows is believed too. */
    st = mk_trust_open_dir(cfg->state_dir, MK_STOREFILE_STATE_DIR, false, &dir_fd, err);
    if (st != MK_OK)
        goto out;
    if (dir_fd >= 0 && (st = mk_store_json_load(dir_fd, cfg->state_dir, &s, NULL, err)) != MK_OK)
        goto out;
    /* The same selection as groups.db: local groups win there too. */
    if ((st = mk_etc_group_read(mk_store_env_etc_group(env), &etc, err)) != MK_OK)
        goto out;
    /* The same selection as groups.db: stale users' memberships are left
     * out of the groups (and shown in the users). */
    if (!(stale = calloc(s.user_count ? s.user_count : 1, sizeof(*stale))) ||
        !(stale_since = calloc(s.user_count ? s.user_count : 1, sizeof(*stale_since))) ||
        mk_stale_records_load(cfg, &records, NULL) != 0) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    mk_stale_find(cfg, &s, &records, NULL, mk_store_env_now(env), stale, stale_since);
    members = mk_compile_members_build(&s, stale);
    entries = members ? mk_compile_entries(&s, members, cfg, &etc, NULL, &index, &entry_count)
                      : NULL;
    if (!entries || store_view_fill(&s, entries, index, entry_count, stale, stale_since,
                                    out) != MK_OK || store_view_histories(&s, out) != MK_OK) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
out:
    if (st != MK_OK)
        mk_store_view_free(out);
    if (dir_fd >= 0)
        close(dir_fd);
    free(entries);
    free(index);
    free(stale);
    free(stale_since);
    mk_stale_records_free(&records);
    mk_compile_members_free(members, s.org_count);
    mk_local_groups_free(&etc);
    mk_storefile_free(&s);
    return st;
}

void mk_store_view_free(struct mk_store_view *view)
{
    if (!view)
        return;
    for (size_t i = 0; i < view->group_count; i++) {
        struct mk_store_group *g = &view->groups[i];
        free(g->org_id);
        free(g->org_name);
        free(g->group_name);
        for (size_t k = 0; g->members && k < g->member_count; k++)
            free(g->members[k]);
        free(g->members);
    }
    free(view->groups);
    for (size_t i = 0; i < view->user_count; i++) {
        struct mk_store_user *u = &view->users[i];
        free(u->user);
        for (size_t k = 0; u->org_ids && k < u->org_count; k++)
            free(u->org_ids[k]);
        free(u->org_ids);
    }
    free(view->users);
    for (size_t i = 0; i < view->history_count; i++) {
        struct mk_store_history *h = &view->histories[i];
        for (size_t k = 0; h->events && k < h->event_count; k++) {
            free(h->events[k].old_group);
            free(h->events[k].new_group);
            free(h->events[k].reason);
        }
        free(h->events);
        free(h->org_id);
        free(h->org_name);
    }
    free(view->histories);
    memset(view, 0, sizeof(*view));
}

void mk_store_change_free(struct mk_store_change *change)
{
    if (!change)
        return;
    for (size_t i = 0; change->added && i < change->added_count; i++)
        free(change->added[i]);
    for (size_t i = 0; change->removed && i < change->removed_count; i++)
        free(change->removed[i]);
    free(change->added);
    free(change->removed);
    memset(change, 0, sizeof(*change));
}

char *mk_store_change_format(const struct mk_store_change *change, char *buf, size_t size)
{
    size_t len = 0;
    if (!size)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; change && i < change->added_count + change->removed_count; i++) {
        bool add = i < change->added_count;
        const char *name = add ? change->added[i] : change->removed[i - change->added_count];
        int w = snprintf(buf + len, size - len, "%s%c%s", len ? " " : "", add ? '+' : '-', name);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
    return buf;
}

mk_status mk_store_set_user_changes(const struct mk_config *cfg, const struct mk_store_env *env,
                                    const char *user, const struct mk_membership *orgs,
                                    size_t n, long lock_timeout_ms,
                                    const struct mk_log_sink *sink,
                                    struct mk_store_change *change, mk_error *err)
{
    mk_error_clear(err);
    if (change)
        memset(change, 0, sizeof(*change));
    if (!mk_user_name_valid(user))
        return mk_error_set(err, MK_ERR_USAGE, "invalid user name: 1 to %d bytes without ':', "
                            "',', '/', spaces or control characters", MK_USER_NAME_MAX);
    return mk_write_store(cfg, env, user, orgs, n, mk_store_env_nss(env), lock_timeout_ms, sink,
                          change, err);
}

mk_status mk_store_set_user(const struct mk_config *cfg, const struct mk_store_env *env,
                            const char *user, const struct mk_membership *orgs, size_t n,
                            long lock_timeout_ms, const struct mk_log_sink *sink, mk_error *err)
{
    return mk_store_set_user_changes(cfg, env, user, orgs, n, lock_timeout_ms, sink, NULL, err);
}

mk_status mk_store_publish(const struct mk_config *cfg, const struct mk_store_env *env,
                           long lock_timeout_ms, const struct mk_log_sink *sink, mk_error *err)
{
    struct mk_prefetch pf;
    struct mk_group_oracle oracle = mk_prefetch_oracle(&pf);
    mk_status st;

    mk_error_clear(err);
    if ((st = mk_policy_check_config(cfg, err)) != MK_OK)
        return st;
    mk_prefetch_build(cfg, mk_store_env_nss(env), &pf);
    st = mk_write_store(cfg, env, NULL, NULL, 0, &oracle, lock_timeout_ms, sink, NULL, err);
    mk_prefetch_free(&pf);
    /* The refresh records' leftovers of killed writers (userstate.h): a
     * record removes only its own user's, so publish (sync's end) sweeps
     * the rest. A failure costs space, never correctness: not reported. */
    mk_error sweep_err;
    mk_error_clear(&sweep_err);
    (void)mk_user_state_sweep(cfg, sink, &sweep_err);
    return st;
}
