/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/taken.c: the names and gids an assignment may not use, and
 * the oracle asked about others (see taken.h). */
#include "store/taken.h"
#include "base/hash.h"
#include "base/hashset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The capacity that holds n at most half full (base/hashset.h). */
static size_t taken_cap(size_t n)
{
    return mk_hashset_capacity(n, 256);
}

bool mk_taken_gids_has(const struct mk_taken_gids *t, gid_t gid)
{
    if (gid == 0)
        return t->has_zero;
    if (!t->cap)
        return false;
    for (size_t i = mk_hashset_start(gid, t->cap);; i = mk_hashset_next(i, t->cap)) {
        if (t->slots[i] == gid)
            return true;
        if (t->slots[i] == 0)
            return false;
    }
}

/* Room for n members in all. 0 or -ENOMEM. */
static int taken_gids_reserve(struct mk_taken_gids *t, size_t n)
{
    size_t cap = taken_cap(n);
    if (cap == 0)
        return -ENOMEM;
    if (cap <= t->cap)
        return 0;
    gid_t *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t k = 0; k < t->cap; k++) {
        if (!t->slots[k])
            continue;
        size_t i = mk_hashset_start(t->slots[k], cap);
        while (slots[i])
            i = mk_hashset_next(i, cap);
        slots[i] = t->slots[k];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

static int taken_gids_add(struct mk_taken_gids *t, gid_t gid)
{
    if (gid == 0) {
        t->has_zero = true;
        return 0;
    }
    if (taken_gids_reserve(t, t->n + 1) != 0)
        return -ENOMEM;
    size_t i = mk_hashset_start(gid, t->cap);
    for (; t->slots[i]; i = mk_hashset_next(i, t->cap))
        if (t->slots[i] == gid)
            return 0;
    t->slots[i] = gid;
    t->n++;
    return 0;
}

/* The slot of name (hash h), or the empty slot where it would go. */
static struct mk_taken_name_slot *taken_names_slot(const struct mk_taken_names *t,
                                                   const char *name, uint64_t h)
{
    for (size_t i = mk_hashset_start(h, t->cap);; i = mk_hashset_next(i, t->cap)) {
        struct mk_taken_name_slot *e = &t->slots[i];
        if (!e->name || (e->hash == h && strcmp(e->name, name) == 0))
            return e;
    }
}

bool mk_taken_names_has(const struct mk_taken_names *t, const char *name)
{
    return t->cap && taken_names_slot(t, name, mk_fnv1a_str(name))->name;
}

static int taken_names_reserve(struct mk_taken_names *t, size_t n)
{
    size_t cap = taken_cap(n);
    if (cap == 0)
        return -ENOMEM;
    if (cap <= t->cap)
        return 0;
    struct mk_taken_name_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (size_t k = 0; k < t->cap; k++) {
        if (!t->slots[k].name)
            continue;
        size_t i = mk_hashset_start(t->slots[k].hash, cap);
        while (slots[i].name)
            i = mk_hashset_next(i, cap);
        slots[i] = t->slots[k];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* Adds name, whose hash (policy_fnv1a) is h. */
static int taken_names_add_hashed(struct mk_taken_names *t, const char *name, uint64_t h)
{
    if (taken_names_reserve(t, t->n + 1) != 0)
        return -ENOMEM;
    struct mk_taken_name_slot *e = taken_names_slot(t, name, h);
    if (e->name)
        return 0;
    e->name = name;
    e->hash = h;
    t->n++;
    return 0;
}

static int taken_names_add(struct mk_taken_names *t, const char *name)
{
    return taken_names_add_hashed(t, name, mk_fnv1a_str(name));
}

static void taken_gids_free(struct mk_taken_gids *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static void taken_names_free(struct mk_taken_names *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

void mk_taken_free(struct mk_taken *t)
{
    for (size_t i = 0; i < t->graveyard_n; i++)
        mk_storefile_free_string(t->store, t->graveyard[i]);
    free(t->graveyard);
    taken_names_free(&t->names);
    taken_gids_free(&t->gids);
    taken_names_free(&t->held_names);
    taken_gids_free(&t->held_gids);
}

bool mk_taken_has_name(const struct mk_taken *t, const char *name)
{
    return mk_taken_names_has(&t->names, name) || mk_taken_names_has(&t->held_names, name);
}

bool mk_taken_has_gid(const struct mk_taken *t, gid_t gid)
{
    return mk_taken_gids_has(&t->gids, gid) || mk_taken_gids_has(&t->held_gids, gid);
}

/* Adds gid to set (gids or held_gids), counting it in in_range if it was
 * taken by neither set. */
static int taken_add_gid(struct mk_taken *t, struct mk_taken_gids *set, gid_t gid)
{
    if (!mk_taken_has_gid(t, gid) && gid >= t->gid_min && gid <= t->gid_max)
        t->in_range++;
    return taken_gids_add(set, gid);
}

int mk_taken_take_gid(struct mk_taken *t, gid_t gid)
{
    return taken_add_gid(t, &t->gids, gid);
}

/* Holds name (hash h, unless name is NULL) and gid. */
static int taken_hold_hashed(struct mk_taken *t, const char *name, uint64_t h, gid_t gid)
{
    if ((name && taken_names_add_hashed(&t->held_names, name, h) != 0) ||
        taken_add_gid(t, &t->held_gids, gid) != 0)
        return -ENOMEM;
    return 0;
}

int mk_taken_hold(struct mk_taken *t, const char *name, gid_t gid)
{
    return taken_hold_hashed(t, name, name ? mk_fnv1a_str(name) : 0, gid);
}

struct mk_taken_own mk_taken_own_of(const struct mk_storefile_org *o)
{
    struct mk_taken_own own = { o ? o->group : NULL, o ? o->gid : 0 };
    return own;
}

/* Whether the oracle gives gid to a group other than own: 1 with its name
 * in other, 0, or a negative errno. */
int mk_taken_oracle_gid(const struct mk_taken *t, struct mk_taken_own own,
                        gid_t gid, char *other, size_t size)
{
    int r;
    other[0] = '\0';
    if (!t->oracle || !t->oracle->by_gid)
        return 0;
    r = t->oracle->by_gid(t->oracle->ctx, gid, other, size);
    if (r > 0 && own.name && own.gid == gid && strcmp(other, own.name) == 0)
        return 0;   /* our own entry, as groups.db publishes it */
    if (r > 0 && !other[0])
        snprintf(other, size, "?");
    return r < 0 ? r : r > 0;
}

/* The same for a name: 1 with the other group's gid in *other. */
int mk_taken_oracle_name(const struct mk_taken *t, struct mk_taken_own own,
                         const char *name, gid_t *other)
{
    int r;
    *other = 0;
    if (!t->oracle || !t->oracle->by_name)
        return 0;
    r = t->oracle->by_name(t->oracle->ctx, name, other);
    if (r > 0 && own.name && strcmp(own.name, name) == 0 && *other == own.gid)
        return 0;
    return r < 0 ? r : r > 0;
}

int mk_taken_build(struct mk_taken *t, const struct mk_storefile *s,
                   const struct mk_config *cfg, const struct mk_local_groups *etc)
{
    size_t orgs = 0;
    memset(t, 0, sizeof(*t));
    t->store = s;
    t->gid_min = cfg->gid_min;
    t->gid_max = cfg->gid_max;
    for (size_t i = 0; i < s->org_count; i++)
        orgs += s->orgs[i].group != NULL;
    /* Sized once for everything below (and a few new groups). */
    if (taken_names_reserve(&t->names, etc->name_count + cfg->pin_count + 64) != 0 ||
        taken_names_reserve(&t->held_names, orgs + 64) != 0 ||
        taken_gids_reserve(&t->gids, etc->gid_count + cfg->pin_count + 64) != 0 ||
        taken_gids_reserve(&t->held_gids, s->retired_count + cfg->retired_count + orgs + 64) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < etc->name_count; i++)
        if (taken_names_add(&t->names, etc->names[i]) != 0)
            return -ENOMEM;
    for (size_t i = 0; i < etc->gid_count; i++)
        if (mk_taken_take_gid(t, etc->gids[i]) != 0)
            return -ENOMEM;
    for (size_t i = 0; i < cfg->pin_count; i++)
        if (taken_names_add(&t->names, cfg->pins[i].group_name) != 0 ||
            mk_taken_take_gid(t, cfg->pins[i].gid) != 0)
            return -ENOMEM;
    for (size_t i = 0; i < s->retired_count; i++)
        if (mk_taken_hold(t, NULL, s->retired[i]) != 0)
            return -ENOMEM;
    /* The configuration's retired gids (an ids file's): retired here too. */
    for (size_t i = 0; i < cfg->retired_count; i++)
        if (mk_taken_hold(t, NULL, (gid_t)strtoul(cfg->retired[i], NULL, 10)) != 0)
            return -ENOMEM;
    /* The store's groups, each name hashed AHEAD organizations early and its
     * slots asked for then: at 100,000 the sets are megabytes, and each
     * probe waited for its own cache miss. */
    enum { AHEAD = 8 };
    uint64_t ring[AHEAD];
    for (size_t i = 0; i < s->org_count + AHEAD; i++) {
        /* ring[i % AHEAD] holds the hash of organization i - AHEAD: used,
         * then replaced by organization i's. */
        if (i >= AHEAD && s->orgs[i - AHEAD].group) {
            const struct mk_storefile_org *o = &s->orgs[i - AHEAD];
            if (taken_hold_hashed(t, o->group, ring[i % AHEAD], o->gid) != 0)
                return -ENOMEM;
        }
        if (i < s->org_count && s->orgs[i].group) {
            const struct mk_storefile_org *o = &s->orgs[i];
            ring[i % AHEAD] = mk_fnv1a_str(o->group);
            __builtin_prefetch(
                &t->held_names.slots[mk_hashset_start(ring[i % AHEAD], t->held_names.cap)]);
            if (o->gid)
                __builtin_prefetch(
                    &t->held_gids.slots[mk_hashset_start(o->gid, t->held_gids.cap)]);
        }
    }
    return 0;
}
