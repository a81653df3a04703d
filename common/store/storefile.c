/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/storefile.c: store.json's contents in memory (see
 * storefile.h): the string arena, the id index, the sorted sets of
 * organizations, users and retired gids, and the checks a loaded store
 * must pass (unique group names and gids, users of known organizations).
 * Reading and writing the text is store_json.c. */
#include "store/storefile.h"
#include "base/hash.h"
#include "base/hashset.h"
#include "base/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mk_status mk_storefile_corrupt(mk_error *err, const char *path, const char *what)
{
    return mk_error_set(err, MK_ERR_IO, "%s is corrupt (%s); it holds the gid history, so it is "
                        "left untouched: an administrator must look at it", path, what);
}

void mk_storefile_free_string(const struct mk_storefile *s, char *str)
{
    if (str && !(s->strings && str >= s->strings && str < s->strings + s->strings_size))
        free(str);
}

/* In the block while it has room below limit (the loader makes sure that
 * it always has), else malloc'd. */
char *mk_storefile_strndup(struct mk_storefile *s, const char *str, size_t len, size_t limit)
{
    char *copy;
    if (s->strings && limit <= s->strings_size && s->strings_used < limit &&
        limit - s->strings_used > len) {
        copy = s->strings + s->strings_used;
        s->strings_used += len + 1;
    } else if (!(copy = malloc(len + 1))) {
        return NULL;
    }
    memcpy(copy, str, len);
    copy[len] = '\0';
    return copy;
}

static void storefile_user_clear_orgs(const struct mk_storefile *s, struct mk_storefile_user *u)
{
    for (size_t i = 0; i < u->org_count; i++)
        mk_storefile_free_string(s, u->orgs[i]);
    free(u->orgs);
    u->orgs = NULL;
    u->org_count = 0;
}

void mk_storefile_event_clear(struct mk_storefile_event *e)
{
    free(e->old_group);
    free(e->new_group);
    free(e->reason);
    memset(e, 0, sizeof(*e));
}

/* The array always has room for MK_STOREFILE_HISTORY_MAX: a full one
 * drops its oldest. */
int mk_storefile_add_event(struct mk_storefile_org *o, const struct mk_storefile_event *e)
{
    struct mk_storefile_event copy = { .time = e->time, .old_gid = e->old_gid,
                                       .new_gid = e->new_group ? e->new_gid : 0 };
    if (!o->history && !(o->history = calloc(MK_STOREFILE_HISTORY_MAX, sizeof(*o->history))))
        return -ENOMEM;
    if (!(copy.old_group = strdup(e->old_group ? e->old_group : "")) ||
        (e->new_group && !(copy.new_group = strdup(e->new_group))) ||
        !(copy.reason = strdup(e->reason ? e->reason : ""))) {
        mk_storefile_event_clear(&copy);
        return -ENOMEM;
    }
    if (o->history_count == MK_STOREFILE_HISTORY_MAX) {
        mk_storefile_event_clear(&o->history[0]);
        memmove(o->history, o->history + 1, (MK_STOREFILE_HISTORY_MAX - 1) * sizeof(*o->history));
        o->history_count--;
    }
    o->history[o->history_count++] = copy;
    return 0;
}

static void storefile_org_free(const struct mk_storefile *s, struct mk_storefile_org *o)
{
    mk_storefile_free_string(s, o->id);
    free(o->name);
    mk_storefile_free_string(s, o->group);
    for (size_t i = 0; i < o->history_count; i++)
        mk_storefile_event_clear(&o->history[i]);
    free(o->history);
}

void mk_storefile_free(struct mk_storefile *s)
{
    for (size_t i = 0; i < s->org_count; i++)
        storefile_org_free(s, &s->orgs[i]);
    free(s->orgs);
    free(s->retired);
    for (size_t i = 0; i < s->user_count; i++) {
        mk_storefile_free_string(s, s->users[i].name);
        storefile_user_clear_orgs(s, &s->users[i]);
    }
    free(s->users);
    free(s->org_slots);
    free(s->strings);
    memset(s, 0, sizeof(*s));
}

/* Bisects orgs[0..hi), which must be sorted. */
static size_t storefile_org_lower(const struct mk_storefile *s, size_t hi, const char *id)
{
    size_t lo = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->orgs[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t storefile_hash(const char *str)
{
    return mk_hash_mix(mk_fnv1a_str(str));
}

/* (Re)builds the id index over s->orgs; without memory, there is none and
 * lookups bisect. Linear: every login's write looks up each user's
 * organizations (at load and to list members), which bisecting with
 * strcmp made the largest part of the write after parsing. */
static void storefile_index_orgs(struct mk_storefile *s)
{
    size_t cap = mk_hashset_capacity(s->org_count, 16);
    if (cap == 0 || s->org_count >= UINT32_MAX)
        return;
    if (cap != s->org_slots_cap || !s->org_slots) {
        free(s->org_slots);
        s->org_slots = calloc(cap, sizeof(*s->org_slots));
        s->org_slots_cap = s->org_slots ? cap : 0;
    } else {
        memset(s->org_slots, 0, cap * sizeof(*s->org_slots));
    }
    s->org_slots_count = 0;
    if (!s->org_slots || s->org_count >= UINT32_MAX)
        return;
    for (size_t i = 0; i < s->org_count; i++) {
        uint64_t h = storefile_hash(s->orgs[i].id);
        size_t k = mk_hashset_slot(h, cap);
        while (s->org_slots[k])
            k = mk_hashset_next(k, cap);
        s->org_slots[k] = (h & 0xffffffff00000000ull) | (uint64_t)(i + 1);
    }
    s->org_slots_count = s->org_count;
}

void mk_storefile_prefetch_org(const struct mk_storefile *s, const char *id)
{
    if (s->org_slots && s->org_slots_count == s->org_count)
        __builtin_prefetch(&s->org_slots[mk_hashset_slot(storefile_hash(id), s->org_slots_cap)]);
}

ssize_t mk_storefile_find_org(const struct mk_storefile *s, const char *id)
{
    if (s->org_slots && s->org_slots_count == s->org_count) {
        uint64_t h = storefile_hash(id), tag = h & 0xffffffff00000000ull;
        size_t cap = s->org_slots_cap;
        for (size_t k = mk_hashset_slot(h, cap); s->org_slots[k]; k = mk_hashset_next(k, cap)) {
            uint64_t v = s->org_slots[k];
            size_t i = (size_t)(v & 0xffffffffu) - 1;
            if ((v & 0xffffffff00000000ull) == tag && strcmp(s->orgs[i].id, id) == 0)
                return (ssize_t)i;
        }
        return -1;
    }
    size_t i = storefile_org_lower(s, s->org_count, id);
    return i < s->org_count && strcmp(s->orgs[i].id, id) == 0 ? (ssize_t)i : -1;
}

int mk_storefile_reserve_orgs(struct mk_storefile *s, size_t more)
{
    if (s->org_count + more <= s->org_cap)
        return 0;
    size_t cap = s->org_cap ? s->org_cap : 16;
    while (cap < s->org_count + more)
        cap *= 2;
    struct mk_storefile_org *v = reallocarray(s->orgs, cap, sizeof(*v));
    if (!v)
        return -ENOMEM;
    s->orgs = v;
    s->org_cap = cap;
    return 0;
}

static int storefile_cmp_org(const void *a, const void *b)
{
    return strcmp(((const struct mk_storefile_org *)a)->id,
                  ((const struct mk_storefile_org *)b)->id);
}

int mk_storefile_add_orgs(struct mk_storefile *s, const char *const *ids, size_t n, int64_t now)
{
    size_t before = s->org_count;
    if (mk_storefile_reserve_orgs(s, n) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t at = storefile_org_lower(s, before, ids[i]);
        /* Only the sorted part is searched: the caller's ids are unique. */
        if (at < before && strcmp(s->orgs[at].id, ids[i]) == 0)
            continue;
        struct mk_storefile_org *o = &s->orgs[s->org_count];
        memset(o, 0, sizeof(*o));
        if (!(o->id = strdup(ids[i])))
            return -ENOMEM;
        o->first_seen = now;
        s->org_count++;
    }
    if (s->org_count == before)
        return 0;
    /* The new ones (few: one login's) sorted, then merged from the back:
     * linear, where sorting the whole store again was not. */
    size_t added = s->org_count - before;
    if (added > 1)
        qsort(s->orgs + before, added, sizeof(*s->orgs), storefile_cmp_org);
    struct mk_storefile_org *tail = malloc(added * sizeof(*tail));
    if (!tail) {
        qsort(s->orgs, s->org_count, sizeof(*s->orgs), storefile_cmp_org);
        storefile_index_orgs(s);
        return 0;
    }
    memcpy(tail, s->orgs + before, added * sizeof(*tail));
    size_t a = before, b = added, out = s->org_count;
    while (b > 0) {
        if (a > 0 && strcmp(s->orgs[a - 1].id, tail[b - 1].id) > 0)
            s->orgs[--out] = s->orgs[--a];
        else
            s->orgs[--out] = tail[--b];
    }
    free(tail);
    storefile_index_orgs(s);
    return 0;
}

struct mk_storefile_user *mk_storefile_user_get(struct mk_storefile *s, const char *name)
{
    size_t lo = 0, hi = s->user_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->users[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->user_count && strcmp(s->users[lo].name, name) == 0)
        return &s->users[lo];
    if (s->user_count == s->user_cap) {
        size_t cap = s->user_cap ? s->user_cap * 2 : 16;
        struct mk_storefile_user *v = reallocarray(s->users, cap, sizeof(*v));
        if (!v)
            return NULL;
        s->users = v;
        s->user_cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    memmove(s->users + lo + 1, s->users + lo, (s->user_count - lo) * sizeof(*s->users));
    memset(&s->users[lo], 0, sizeof(s->users[lo]));
    s->users[lo].name = copy;
    s->user_count++;
    return &s->users[lo];
}

static size_t storefile_retired_lower(const struct mk_storefile *s, gid_t gid)
{
    size_t lo = 0, hi = s->retired_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->retired[mid] < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool mk_storefile_is_retired(const struct mk_storefile *s, gid_t gid)
{
    size_t i = storefile_retired_lower(s, gid);
    return i < s->retired_count && s->retired[i] == gid;
}

/* Retiring is rare (a pin moved, a group dropped): a sorted insert. */
int mk_storefile_retire(struct mk_storefile *s, gid_t gid)
{
    size_t i = storefile_retired_lower(s, gid);
    if (i < s->retired_count && s->retired[i] == gid)
        return 0;
    if (s->retired_count == s->retired_cap) {
        size_t cap = s->retired_cap ? s->retired_cap * 2 : 16;
        gid_t *v = reallocarray(s->retired, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->retired = v;
        s->retired_cap = cap;
    }
    memmove(s->retired + i + 1, s->retired + i, (s->retired_count - i) * sizeof(*s->retired));
    s->retired[i] = gid;
    s->retired_count++;
    return 0;
}

static int storefile_cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

static int storefile_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int storefile_cmp_user(const void *a, const void *b)
{
    return strcmp(((const struct mk_storefile_user *)a)->name,
                  ((const struct mk_storefile_user *)b)->name);
}

/* By id; of two entries that are one canonical id, the one first seen
 * (then the smaller gid) comes first and is kept, whatever the file's
 * order. */
static int storefile_cmp_org_load(const void *a, const void *b)
{
    const struct mk_storefile_org *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    if (x->first_seen != y->first_seen)
        return x->first_seen < y->first_seen ? -1 : 1;
    return storefile_cmp_gid(&x->gid, &y->gid);
}

/* A gid a group of the store may have: 0 is "no group", and what does
 * not fit a gid_t (or is (gid_t)-1) is none. */
bool mk_storefile_gid_ok(int64_t gid)
{
    return gid > 0 && gid < (int64_t)UINT32_MAX;
}

/* ---- the checks of a loaded store ---- */

/* Two keys of store.json that are one canonical id (an older writer kept
 * the API's spelling): the first (storefile_cmp_org_load) kept, the other
 * merged into it and its gid retired, so that it is never given to anyone else (invariant 3). */
static mk_status storefile_merge_duplicates(struct mk_storefile *s, const char *path,
                                            const struct mk_log_sink *sink, mk_error *err)
{
    size_t k = 0;
    for (size_t i = 0; i < s->org_count; i++) {
        struct mk_storefile_org *o = &s->orgs[i];
        if (k == 0 || strcmp(s->orgs[k - 1].id, o->id) != 0) {
            s->orgs[k++] = *o;
            continue;
        }
        struct mk_storefile_org *keep = &s->orgs[k - 1];
        if (o->group && !(keep->group && keep->gid == o->gid)) {
            mk_log(sink, MK_LOG_WARNING, "%s: organization %s appears twice (in another case); "
                   "group %s (gid %u) of the second entry retired", path, o->id, o->group,
                   (unsigned)o->gid);
            if (mk_storefile_retire(s, o->gid) != 0)
                return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
        }
        if (!keep->name) {
            keep->name = o->name;
            o->name = NULL;
        }
        if (o->first_seen < keep->first_seen)
            keep->first_seen = o->first_seen;
        storefile_org_free(s, o);
    }
    s->org_count = k;
    return MK_OK;
}

/* No two organizations share a group name or a gid, and no organization
 * holds a retired gid: assignment relies on it. Two hash sets, at most
 * half full, filled once: linear in the number of organizations. */
static mk_status storefile_check_unique(const struct mk_storefile *s, const char *path,
                                        mk_error *err)
{
    size_t cap = mk_hashset_capacity(s->org_count, 16);
    const char **names;
    gid_t *gids;
    mk_status st = MK_OK;

    names = cap ? calloc(cap, sizeof(*names)) : NULL;
    gids = cap ? calloc(cap, sizeof(*gids)) : NULL;
    if (!names || !gids) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (size_t i = 0; i < s->org_count; i++) {
        const struct mk_storefile_org *o = &s->orgs[i];
        size_t k;
        if (!o->group)
            continue;
        if (mk_storefile_is_retired(s, o->gid))
            goto shared;
        for (k = mk_hashset_slot(storefile_hash(o->group), cap); names[k];
             k = mk_hashset_next(k, cap))
            if (strcmp(names[k], o->group) == 0)
                goto shared;
        names[k] = o->group;
        /* gid 0 never has a group (mk_storefile_gid_ok): 0 marks a free slot. */
        for (k = mk_hashset_start(o->gid, cap); gids[k]; k = mk_hashset_next(k, cap))
            if (gids[k] == o->gid)
                goto shared;
        gids[k] = o->gid;
    }
    goto out;
shared:
    st = mk_storefile_corrupt(err, path, "two organizations share a group name or a gid");
out:
    free(names);
    free(gids);
    return st;
}

/* Each user's organizations: canonical, known, sorted, unique. */
static mk_status storefile_check_users(struct mk_storefile *s, const char *path, mk_error *err)
{
    for (size_t i = 1; i < s->user_count; i++) {
        if (storefile_cmp_user(&s->users[i - 1], &s->users[i]) > 0) {
            qsort(s->users, s->user_count, sizeof(*s->users), storefile_cmp_user);
            break;
        }
    }
    for (size_t i = 1; i < s->user_count; i++)
        if (strcmp(s->users[i - 1].name, s->users[i].name) == 0)
            return mk_storefile_corrupt(err, path, "a user appears twice");
    enum { AHEAD = 8 };
    for (size_t i = 0; i < s->user_count; i++) {
        struct mk_storefile_user *u = &s->users[i];
        size_t k = 0;
        if (i + AHEAD < s->user_count && s->users[i + AHEAD].org_count)
            mk_storefile_prefetch_org(s, s->users[i + AHEAD].orgs[0]);
        for (size_t n = 0; n < u->org_count; n++) {
            char id[MK_ORG_ID_MAX + 1];
            if (!mk_org_id_canonical(u->orgs[n], id) || mk_storefile_find_org(s, id) < 0)
                return mk_storefile_corrupt(err, path, "a user belongs to an unknown organization");
            memcpy(u->orgs[n], id, strlen(id) + 1);   /* the same length */
        }
        if (u->org_count > 1)
            qsort(u->orgs, u->org_count, sizeof(*u->orgs), storefile_cmp_str);
        for (size_t n = 0; n < u->org_count; n++) {
            if (k > 0 && strcmp(u->orgs[k - 1], u->orgs[n]) == 0) {
                mk_storefile_free_string(s, u->orgs[n]);
                continue;
            }
            u->orgs[k++] = u->orgs[n];
        }
        u->org_count = k;
    }
    return MK_OK;
}

/* What the loader appended is sorted (only when it is not: what the writer
 * wrote is in order already), duplicates merged, indexed and checked. */
mk_status mk_storefile_finish_load(struct mk_storefile *s, const char *path,
                                   const struct mk_log_sink *sink, mk_error *err)
{
    size_t k = 0;
    mk_status st;

    for (size_t i = 1; i < s->retired_count; i++) {
        if (s->retired[i - 1] > s->retired[i]) {
            qsort(s->retired, s->retired_count, sizeof(*s->retired), storefile_cmp_gid);
            break;
        }
    }
    for (size_t i = 0; i < s->retired_count; i++)
        if (k == 0 || s->retired[k - 1] != s->retired[i])
            s->retired[k++] = s->retired[i];
    s->retired_count = k;
    /* Organizations: appended, sorted once, duplicates merged. */
    for (size_t i = 1; i < s->org_count; i++) {
        if (storefile_cmp_org_load(&s->orgs[i - 1], &s->orgs[i]) > 0) {
            qsort(s->orgs, s->org_count, sizeof(*s->orgs), storefile_cmp_org_load);
            break;
        }
    }
    if ((st = storefile_merge_duplicates(s, path, sink, err)) != MK_OK)
        return st;
    storefile_index_orgs(s);
    if ((st = storefile_check_users(s, path, err)) != MK_OK)
        return st;
    return storefile_check_unique(s, path, err);
}
