/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/grouppolicy.c: names and gids (invariant 3), pure (see
 * grouppolicy.h). */
#include "store/grouppolicy.h"
#include "store/taken.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_FRAGMENT_SHORT 8
#define POLICY_SUFFIX_MAX 9999

/* ---- notes ---- */

static void policy_note(struct mk_policy_notes *notes, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A note that cannot be kept (no memory) is dropped: notes are for people,
 * never for correctness. */
static void policy_note(struct mk_policy_notes *notes, int priority, const char *fmt, ...)
{
    va_list ap;
    if (!notes)
        return;
    if (notes->n == notes->cap) {
        size_t cap = notes->cap ? notes->cap * 2 : 8;
        struct mk_policy_note *v = reallocarray(notes->v, cap, sizeof(*v));
        if (!v)
            return;
        notes->v = v;
        notes->cap = cap;
    }
    notes->v[notes->n].priority = priority;
    va_start(ap, fmt);
    vsnprintf(notes->v[notes->n].text, sizeof(notes->v[notes->n].text), fmt, ap);
    va_end(ap);
    notes->n++;
}

void mk_policy_notes_free(struct mk_policy_notes *notes)
{
    if (!notes)
        return;
    free(notes->v);
    memset(notes, 0, sizeof(*notes));
}

/* ---- local groups: append, sort once, bisect ---- */

int mk_local_groups_add(struct mk_local_groups *etc, const char *name, gid_t gid)
{
    if (etc->name_count == etc->name_cap) {
        size_t cap = etc->name_cap ? etc->name_cap * 2 : 64;
        char **v = reallocarray(etc->names, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        etc->names = v;
        etc->name_cap = cap;
    }
    if (etc->gid_count == etc->gid_cap) {
        size_t cap = etc->gid_cap ? etc->gid_cap * 2 : 64;
        gid_t *v = reallocarray(etc->gids, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        etc->gids = v;
        etc->gid_cap = cap;
    }
    if (!(etc->names[etc->name_count] = strdup(name)))
        return -ENOMEM;
    etc->name_count++;
    etc->gids[etc->gid_count++] = gid;
    return 0;
}

static int policy_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int policy_cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

void mk_local_groups_finish(struct mk_local_groups *etc)
{
    size_t k = 0;
    if (etc->name_count > 1)
        qsort(etc->names, etc->name_count, sizeof(*etc->names), policy_cmp_str);
    for (size_t i = 0; i < etc->name_count; i++) {
        if (k > 0 && strcmp(etc->names[k - 1], etc->names[i]) == 0) {
            free(etc->names[i]);
            continue;
        }
        etc->names[k++] = etc->names[i];
    }
    etc->name_count = k;
    k = 0;
    if (etc->gid_count > 1)
        qsort(etc->gids, etc->gid_count, sizeof(*etc->gids), policy_cmp_gid);
    for (size_t i = 0; i < etc->gid_count; i++)
        if (k == 0 || etc->gids[k - 1] != etc->gids[i])
            etc->gids[k++] = etc->gids[i];
    etc->gid_count = k;
}

bool mk_local_groups_has_name(const struct mk_local_groups *etc, const char *name)
{
    return etc->name_count &&
           bsearch(&name, etc->names, etc->name_count, sizeof(*etc->names), policy_cmp_str);
}

bool mk_local_groups_has_gid(const struct mk_local_groups *etc, gid_t gid)
{
    return etc->gid_count &&
           bsearch(&gid, etc->gids, etc->gid_count, sizeof(*etc->gids), policy_cmp_gid);
}

void mk_local_groups_free(struct mk_local_groups *etc)
{
    for (size_t i = 0; i < etc->name_count; i++)
        free(etc->names[i]);
    free(etc->names);
    free(etc->gids);
    memset(etc, 0, sizeof(*etc));
}

/* ---- the rules ---- */

mk_status mk_policy_check_config(const struct mk_config *cfg, mk_error *err)
{
    const char *prefix = cfg ? cfg->group_prefix : NULL;
    size_t max = MK_GROUP_NAME_MAX - POLICY_FRAGMENT_SHORT - 4;
    if (!cfg || !cfg->state_dir || !cfg->state_dir[0])
        return mk_error_set(err, MK_ERR_USAGE, "no state directory configured");
    if (!prefix || !mk_group_name_valid_len(prefix, max))
        return mk_error_set(err, MK_ERR_USAGE, "group_prefix must be 1 to %zu characters of "
                            "[a-z0-9_-], starting with a letter or '_'", max);
    if (cfg->gid_min == 0 || cfg->gid_max < cfg->gid_min || cfg->gid_max == (gid_t)-1)
        return mk_error_set(err, MK_ERR_USAGE, "bad gid range %u-%u",
                            (unsigned)cfg->gid_min, (unsigned)cfg->gid_max);
    return MK_OK;
}

gid_t mk_policy_hashed_gid(const char *id, gid_t gid_min, gid_t gid_max)
{
    uint64_t span = (uint64_t)gid_max - gid_min + 1;
    return (gid_t)(gid_min + mk_fnv1a_str(id) % span);
}

/* The id's letters and digits (a canonical id is lowercase already). */
static void policy_id_fragment(const char *id, char *out)
{
    size_t o = 0;
    for (const char *p = id; *p; p++)
        if (mk_ascii_alnum((unsigned char)*p))
            out[o++] = (char)mk_ascii_tolower((unsigned char)*p);
    out[o] = '\0';
}

/* prefix + display + "-" + fragment[0, frag_len) (+ "-" suffix), at most
 * MK_GROUP_NAME_MAX characters: the display part is cut, never the
 * fragment. False when even prefix and fragment do not fit. */
static bool policy_build_name(const char *prefix, const char *display, const char *fragment,
                              size_t frag_len, unsigned suffix, char out[MK_GROUP_NAME_MAX + 1])
{
    char tail[MK_ORG_ID_MAX + 16];
    size_t prefix_len = strlen(prefix), display_len = strlen(display), tail_len, room, take;
    int n = suffix ? snprintf(tail, sizeof(tail), "%.*s-%u", (int)frag_len, fragment, suffix)
                   : snprintf(tail, sizeof(tail), "%.*s", (int)frag_len, fragment);

    if (n < 0 || (size_t)n >= sizeof(tail))
        return false;
    tail_len = (size_t)n;
    if (prefix_len + tail_len > MK_GROUP_NAME_MAX)
        return false;
    room = MK_GROUP_NAME_MAX - prefix_len - tail_len;
    take = room >= 2 ? (display_len < room - 1 ? display_len : room - 1) : 0;
    while (take > 0 && display[take - 1] == '-')
        take--;
    memcpy(out, prefix, prefix_len);
    out += prefix_len;
    if (take > 0) {
        memcpy(out, display, take);
        out += take;
        *out++ = '-';
    }
    memcpy(out, tail, tail_len + 1);
    return true;
}

/* The derived name: the 8-character id fragment, longer fragments when
 * taken, then numbered. MK_ERR_USAGE when nothing fits. */
/* Whether name, free of our own and local groups, is free of every other
 * source too; counts the oracle's refusals in *skips. */
static bool policy_name_free_elsewhere(const struct mk_taken *t,
                                       const struct mk_storefile_org *o, const char *name,
                                       unsigned *skips, struct mk_policy_notes *notes)
{
    gid_t other;
    int r = mk_taken_oracle_name(t, mk_taken_own_of(NULL), name, &other);
    if (r == 0)
        return true;
    (*skips)++;
    if (r > 0)
        policy_note(notes, MK_LOG_WARNING, "organization %s: group name %s is taken by another "
                    "group source (%s, gid %u); skipped", o->id, name, name, (unsigned)other);
    else
        policy_note(notes, MK_LOG_WARNING, "organization %s: group name %s could not be checked "
                    "against the other group sources (%s); skipped", o->id, name, strerror(-r));
    return false;
}

static mk_status policy_derive_name(const struct mk_storefile_org *o, const char *prefix,
                                    const struct mk_taken *t,
                                    char out[MK_GROUP_NAME_MAX + 1],
                                    struct mk_policy_notes *notes, mk_error *err)
{
    unsigned skips = 0;
    static const size_t lengths[] = { POLICY_FRAGMENT_SHORT, 12, 16, SIZE_MAX };
    char display[MK_GROUP_NAME_MAX + 1];
    char fragment[MK_ORG_ID_MAX + 1];
    char first[MK_GROUP_NAME_MAX + 1] = "";
    size_t frag_len, last_len = 0;

    /* Bounded by its buffer: the display part is cut to fit a name anyway. */
    mk_display_name_slug(o->name ? o->name : "", display, sizeof(display));
    policy_id_fragment(o->id, fragment);
    frag_len = strlen(fragment);
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        size_t len = lengths[i] < frag_len ? lengths[i] : frag_len;
        if (len == last_len)
            continue;
        last_len = len;
        if (!policy_build_name(prefix, display, fragment, len, 0, out))
            continue;
        if (!first[0])
            memcpy(first, out, sizeof(first));
        if (!mk_taken_has_name(t, out) && policy_name_free_elsewhere(t, o, out, &skips, notes))
            goto found;
        if (skips >= MK_POLICY_ORACLE_SKIPS)
            goto none;
    }
    frag_len = frag_len < POLICY_FRAGMENT_SHORT ? frag_len : POLICY_FRAGMENT_SHORT;
    for (unsigned suffix = 2; suffix <= POLICY_SUFFIX_MAX; suffix++) {
        if (!policy_build_name(prefix, display, fragment, frag_len, suffix, out))
            break;
        if (!mk_taken_has_name(t, out) && policy_name_free_elsewhere(t, o, out, &skips, notes))
            goto found;
        if (skips >= MK_POLICY_ORACLE_SKIPS)
            break;
    }
none:
    return mk_error_set(err, MK_ERR_USAGE, "no free group name for organization %s", o->id);
found:
    if (strcmp(first, out) != 0)
        policy_note(notes, MK_LOG_WARNING, "organization %s: group name %s is taken; using %s",
                    o->id, first, out);
    return MK_OK;
}

/* The hashed gid, probing upwards (wrapping inside the range) past every
 * gid that is taken. */
static mk_status policy_derive_gid(const struct mk_storefile_org *o, const struct mk_config *cfg,
                                   struct mk_taken *t, gid_t *out,
                                   struct mk_policy_notes *notes, mk_error *err)
{
    uint64_t span = (uint64_t)cfg->gid_max - cfg->gid_min + 1;
    gid_t first = mk_policy_hashed_gid(o->id, cfg->gid_min, cfg->gid_max);
    uint64_t offset = first - cfg->gid_min;
    unsigned skips = 0;
    char other[MK_GROUP_NAME_MAX * 4];

    if (t->in_range >= span)
        goto exhausted;
    for (uint64_t step = 0; step < span; step++) {
        gid_t gid = (gid_t)(cfg->gid_min + (offset + step) % span);
        int r;
        if (mk_taken_has_gid(t, gid))
            continue;
        /* Free of ours and of /etc/group: is it free everywhere? */
        if ((r = mk_taken_oracle_gid(t, mk_taken_own_of(NULL), gid, other, sizeof(other))) != 0) {
            if (r > 0) {
                policy_note(notes, MK_LOG_WARNING, "organization %s: gid %u is group %s's in "
                            "another group source; skipped", o->id, (unsigned)gid, other);
                (void)mk_taken_take_gid(t, gid);  /* no need to ask again in this run */
            } else {
                policy_note(notes, MK_LOG_WARNING, "organization %s: gid %u could not be checked "
                            "against the other group sources (%s); skipped", o->id,
                            (unsigned)gid, strerror(-r));
            }
            if (++skips >= MK_POLICY_ORACLE_SKIPS)
                return mk_error_set(err, MK_ERR_USAGE, "no gid free of the other group sources "
                                    "after %u tries: organization %s gets no group for now",
                                    skips, o->id);
            continue;
        }
        if (gid != first)
            policy_note(notes, MK_LOG_WARNING, "organization %s: gid %u is taken; using %u",
                        o->id, (unsigned)first, (unsigned)gid);
        *out = gid;
        return MK_OK;
    }
exhausted:
    return mk_error_set(err, MK_ERR_USAGE, "gid range exhausted: organization %s gets no "
                        "group (widen gid_range)", o->id);
}

/* The pin of an organization, if any. Without pins (the usual case) no id
 * is canonicalized again: this runs for every organization of the store. */
static const struct mk_pin *policy_pin_for(const struct mk_config *cfg, const char *id)
{
    return cfg->pin_count ? mk_config_pin_for(cfg, id) : NULL;
}

/* Whether o's group is one this configuration could have given it: exactly
 * the pin for its id, or a name with group_prefix and a gid in gid_range. */
static bool mk_policy_org_fits(const struct mk_storefile_org *o, const struct mk_config *cfg)
{
    const struct mk_pin *pin = policy_pin_for(cfg, o->id);
    const char *prefix = cfg->group_prefix;
    size_t prefix_len = prefix ? strlen(prefix) : 0;

    if (!o->group)
        return false;
    if (pin && strcmp(o->group, pin->group_name) == 0 && o->gid == pin->gid)
        return true;
    return prefix_len > 0 && strncmp(o->group, prefix, prefix_len) == 0 && o->group[prefix_len] &&
           o->gid >= cfg->gid_min && o->gid <= cfg->gid_max;
}

int mk_policy_drop_unfit(struct mk_storefile *s, const struct mk_config *cfg,
                         struct mk_policy_notes *notes)
{
    for (size_t i = 0; i < s->org_count; i++) {
        struct mk_storefile_org *o = &s->orgs[i];
        if (!o->group || o->pinned || mk_policy_org_fits(o, cfg))
            continue;
        policy_note(notes, MK_LOG_WARNING, "organization %s: group %s (gid %u) in the store has "
                    "neither the prefix %s with a gid in %u-%u nor a pin; left out, gid retired",
                    o->id, o->group, (unsigned)o->gid, cfg->group_prefix,
                    (unsigned)cfg->gid_min, (unsigned)cfg->gid_max);
        if (mk_storefile_retire(s, o->gid) != 0)
            return -ENOMEM;
        mk_storefile_free_string(s, o->group);
        o->group = NULL;
        o->gid = 0;
    }
    return 0;
}

/* Takes o's group name away; the sets keep pointing at it until the end. */
static int policy_bury(struct mk_taken *t, struct mk_storefile_org *o)
{
    if (t->graveyard_n == t->graveyard_cap) {
        size_t cap = t->graveyard_cap ? t->graveyard_cap * 2 : 8;
        char **v = reallocarray(t->graveyard, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        t->graveyard = v;
        t->graveyard_cap = cap;
    }
    t->graveyard[t->graveyard_n++] = o->group;
    o->group = NULL;
    return 0;
}

static int policy_retire(struct mk_storefile *s, struct mk_taken *t,
                         struct mk_storefile_org *o, struct mk_policy_notes *notes)
{
    if (!o->group)
        return 0;
    policy_note(notes, MK_LOG_NOTICE, "organization %s: gid %u retired (group %s)",
                o->id, (unsigned)o->gid, o->group);
    if (mk_storefile_retire(s, o->gid) != 0 || mk_taken_hold(t, NULL, o->gid) != 0 ||
        policy_bury(t, o) != 0)
        return -ENOMEM;
    o->gid = 0;
    o->pinned = false;
    return 0;
}

/* Why a pin cannot be applied to o now, or NULL when it can; a local
 * group that has the pin's gid is named when the oracle knows it (buf). */
static const char *policy_pin_blocked(const struct mk_storefile_org *o, const struct mk_pin *pin,
                                      const struct mk_local_groups *etc,
                                      const struct mk_taken *t, char *buf, size_t size)
{
    char other[MK_GROUP_NAME_MAX * 4];
    if (mk_local_groups_has_name(etc, pin->group_name))
        return "the name is a local group";
    if (mk_local_groups_has_gid(etc, pin->gid)) {
        if (mk_taken_oracle_gid(t, (struct mk_taken_own){ NULL, 0 }, pin->gid, other,
                                sizeof(other)) <= 0)
            return "the gid is a local group's";
        snprintf(buf, size, "the gid is a local group's (group %s)", other);
        return buf;
    }
    if (mk_taken_names_has(&t->held_names, pin->group_name) &&
        !(o->group && strcmp(o->group, pin->group_name) == 0))
        return "another organization holds the name";
    if (mk_taken_gids_has(&t->held_gids, pin->gid) && o->gid != pin->gid)
        return "the gid belongs or belonged to another organization";
    return NULL;
}

/* Why a pin cannot be applied to (or kept by) o because of another source
 * of groups, in buf, or NULL. A failed lookup blocks a new pin (held says
 * whether o holds it already: then only an answer withdraws it). */
static const char *policy_pin_foreign(const struct mk_taken *t,
                                      const struct mk_storefile_org *o, const struct mk_pin *pin,
                                      bool held, char *buf, size_t size)
{
    char other[MK_GROUP_NAME_MAX * 4];
    gid_t other_gid;
    int r = mk_taken_oracle_name(t, mk_taken_own_of(o), pin->group_name, &other_gid);
    if (r > 0) {
        snprintf(buf, size, "another group source has a group %s (gid %u)", pin->group_name,
                 (unsigned)other_gid);
        return buf;
    }
    if (r < 0 && !held) {
        snprintf(buf, size, "the name could not be checked against the other group sources (%s)",
                 strerror(-r));
        return buf;
    }
    r = mk_taken_oracle_gid(t, mk_taken_own_of(o), pin->gid, other, sizeof(other));
    if (r > 0) {
        snprintf(buf, size, "the gid is group %s's in another group source", other);
        return buf;
    }
    if (r < 0 && !held) {
        snprintf(buf, size, "the gid could not be checked against the other group sources (%s)",
                 strerror(-r));
        return buf;
    }
    return NULL;
}

/* An existing derived group checked again: moved off a gid /etc/group or
 * another source now gives another group (old gid retired), renamed off a
 * name another source now answers. */
static mk_status policy_recheck_derived(struct mk_storefile *s, struct mk_storefile_org *o,
                                        const struct mk_config *cfg,
                                        const struct mk_local_groups *etc,
                                        struct mk_taken *t, struct mk_policy_notes *notes,
                                        mk_status *org_status, mk_error *org_err, mk_error *err)
{
    char found[MK_GROUP_NAME_MAX * 4], other[MK_GROUP_NAME_MAX * 4 + 64];
    char name[MK_GROUP_NAME_MAX + 1];
    gid_t other_gid, gid = 0;
    mk_error local;
    mk_status st;
    /* Both questions are about the entry as published, before either move:
     * our module still answers with it. */
    struct mk_taken_own own = mk_taken_own_of(o);
    bool local_gid = mk_local_groups_has_gid(etc, o->gid);

    if (local_gid || mk_taken_oracle_gid(t, own, o->gid, found, sizeof(found)) > 0) {
        gid_t old = o->gid;
        if (local_gid)
            snprintf(other, sizeof(other), "a local group in /etc/group");
        else
            snprintf(other, sizeof(other), "group %s (another group source)", found);
        if (mk_storefile_retire(s, old) != 0 || mk_taken_hold(t, NULL, old) != 0)
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        mk_error_clear(&local);
        st = policy_derive_gid(o, cfg, t, &gid, notes, &local);
        if (st != MK_OK) {
            policy_note(notes, MK_LOG_WARNING, "organization %s: gid %u of group %s is now taken "
                        "by %s; gid %u retired, and no new gid: %s", o->id, (unsigned)old,
                        o->group, other, (unsigned)old, local.message);
            if (*org_status == MK_OK) {
                *org_status = st;
                if (org_err)
                    *org_err = local;
            }
            o->gid = 0;
            return policy_bury(t, o) != 0 ? mk_error_set(err, MK_ERR_NOMEM, "out of memory")
                                          : MK_OK;
        }
        policy_note(notes, MK_LOG_WARNING, "organization %s: gid %u of group %s is now taken "
                    "by %s; group %s moves to gid %u (gid %u retired)", o->id, (unsigned)old,
                    o->group, other, o->group, (unsigned)gid, (unsigned)old);
        o->gid = gid;
        if (mk_taken_hold(t, NULL, gid) != 0)
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    }
    if (o->group && mk_taken_oracle_name(t, own, o->group, &other_gid) > 0) {
        char *copy;
        mk_error_clear(&local);
        snprintf(other, sizeof(other), "%s", o->group);
        if (policy_bury(t, o) != 0)
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        st = policy_derive_name(o, cfg->group_prefix, t, name, notes, &local);
        if (st != MK_OK) {
            policy_note(notes, MK_LOG_WARNING, "organization %s: group name %s is now also a "
                        "group of another group source (gid %u); no new name: %s; gid %u retired",
                        o->id, other, (unsigned)other_gid, local.message, (unsigned)o->gid);
            if (*org_status == MK_OK) {
                *org_status = st;
                if (org_err)
                    *org_err = local;
            }
            if (mk_storefile_retire(s, o->gid) != 0)
                return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            o->gid = 0;
            return MK_OK;
        }
        policy_note(notes, MK_LOG_WARNING, "organization %s: group name %s is now also a group of "
                    "another group source (gid %u); renamed %s (gid %u)", o->id, other,
                    (unsigned)other_gid, name, (unsigned)o->gid);
        if (!(copy = strdup(name)))
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        o->group = copy;
        if (mk_taken_hold(t, o->group, o->gid) != 0)
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    }
    return MK_OK;
}

/* Gives o its group: the pin when there is one it may take, else the name
 * and gid it already has, else derived ones. */
static mk_status policy_assign_one(struct mk_storefile *s, struct mk_storefile_org *o,
                                   bool recheck, const struct mk_config *cfg,
                                   const struct mk_local_groups *etc,
                                   struct mk_taken *t, struct mk_policy_notes *notes,
                                   mk_status *org_status, mk_error *org_err, mk_error *err)
{
    char why_buf[MK_GROUP_NAME_MAX * 4 + 128];
    const struct mk_pin *pin = policy_pin_for(cfg, o->id);
    char name[MK_GROUP_NAME_MAX + 1];
    gid_t gid = 0;
    char *copy;
    mk_error local;
    mk_status st;

    if (pin) {
        const char *why;
        if (o->pinned && o->group && strcmp(o->group, pin->group_name) == 0 &&
            o->gid == pin->gid) {
            if (!recheck ||
                !(why = policy_pin_foreign(t, o, pin, true, why_buf, sizeof(why_buf))))
                return MK_OK;
            /* Another source has it now: withdrawn, not retired (the gid is
             * the pin's, and no derived group ever takes a pinned gid). */
            policy_note(notes, MK_LOG_WARNING, "organization %s: pinned group %s (gid %u)%s "
                        "withdrawn: %s; the organization gets no group", o->id, pin->group_name,
                        (unsigned)pin->gid, mk_config_pin_from_ids(cfg, pin) ? " of ids_file" : "",
                        why);
            if (policy_bury(t, o) != 0)
                return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            o->gid = 0;
            o->pinned = false;
            return MK_OK;
        }
        why = policy_pin_blocked(o, pin, etc, t, why_buf, sizeof(why_buf));
        if (!why)
            why = policy_pin_foreign(t, o, pin, false, why_buf, sizeof(why_buf));
        if (why) {
            policy_note(notes, MK_LOG_WARNING, "organization %s: pinned group %s (gid %u)%s not "
                        "applied: %s; the organization gets no group", o->id, pin->group_name,
                        (unsigned)pin->gid, mk_config_pin_from_ids(cfg, pin) ? " of ids_file" : "",
                        why);
            return MK_OK;
        }
        if (!(copy = strdup(pin->group_name)))
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        if (o->gid != pin->gid && policy_retire(s, t, o, notes) != 0) {
            free(copy);
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        }
        if (o->group && policy_bury(t, o) != 0) {
            free(copy);
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        }
        o->group = copy;
        o->gid = pin->gid;
        o->pinned = true;
        if (mk_taken_hold(t, o->group, o->gid) != 0)
            return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        return MK_OK;
    }
    if (o->group && !o->pinned)
        return recheck ? policy_recheck_derived(s, o, cfg, etc, t, notes, org_status, org_err, err)
                       : MK_OK;
    /* The pin is gone: only a pin gives a bare name, so derive a new one. */
    if (o->group && policy_retire(s, t, o, notes) != 0)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    mk_error_clear(&local);
    st = policy_derive_name(o, cfg->group_prefix, t, name, notes, &local);
    if (st == MK_OK)
        st = policy_derive_gid(o, cfg, t, &gid, notes, &local);
    if (st != MK_OK) {
        policy_note(notes, MK_LOG_ERR, "%s", local.message);
        if (*org_status == MK_OK) {
            *org_status = st;
            if (org_err)
                *org_err = local;
        }
        return MK_OK;
    }
    if (!(o->group = strdup(name)))
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    o->gid = gid;
    o->pinned = false;
    if (mk_taken_hold(t, o->group, o->gid) != 0)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    return MK_OK;
}

mk_status mk_policy_assign(struct mk_storefile *s, const bool *joined, const bool *recheck,
                           const struct mk_config *cfg, const struct mk_local_groups *etc,
                           const struct mk_group_oracle *oracle,
                           struct mk_policy_notes *notes, mk_status *org_status,
                           mk_error *org_err, mk_error *err)
{
    struct mk_taken t;
    mk_status st = MK_OK;

    if (mk_taken_build(&t, s, cfg, etc) != 0) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    t.oracle = oracle;
    for (size_t i = 0; i < s->org_count && st == MK_OK; i++)
        if (joined[i])
            st = policy_assign_one(s, &s->orgs[i], recheck && recheck[i], cfg, etc, &t, notes,
                                   org_status, org_err, err);
out:
    mk_taken_free(&t);
    return st;
}

bool mk_policy_org_active(const struct mk_storefile_org *o, const struct mk_config *cfg,
                          const struct mk_local_groups *etc, struct mk_policy_notes *notes)
{
    const struct mk_pin *pin;
    if (!o->group)
        return false;
    pin = policy_pin_for(cfg, o->id);
    if (pin ? !(o->pinned && strcmp(pin->group_name, o->group) == 0 && pin->gid == o->gid)
            : o->pinned)
        return false;
    if (!mk_policy_org_fits(o, cfg)) {
        policy_note(notes, MK_LOG_WARNING, "organization %s: group %s (gid %u) does not fit "
                    "group_prefix and gid_range; left out", o->id, o->group, (unsigned)o->gid);
        return false;
    }
    if (mk_local_groups_has_name(etc, o->group) || mk_local_groups_has_gid(etc, o->gid)) {
        policy_note(notes, MK_LOG_WARNING, "organization %s: group %s (gid %u) clashes with a "
                    "local group, which wins; left out", o->id, o->group, (unsigned)o->gid);
        return false;
    }
    return true;
}

bool mk_policy_org_settled(const struct mk_storefile_org *o, const struct mk_config *cfg)
{
    const struct mk_pin *pin = policy_pin_for(cfg, o->id);
    if (!o->group)
        return false;
    return pin ? o->pinned && strcmp(pin->group_name, o->group) == 0 && pin->gid == o->gid
               : !o->pinned;
}
