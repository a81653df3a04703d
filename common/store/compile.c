/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/compile.c: the compiled view of the store, members and
 * groups (see compile.h). */
#include "store/compile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* m has count + 1 entries: the last one's v is the block all the others
 * point into. */
void mk_compile_members_free(struct mk_compile_members *m, size_t count)
{
    if (m)
        free(m[count].v);
    free(m);
}

/* Members of every organization (indexed like s->orgs, one more entry
 * holding the block), sorted because the users are. Each user's
 * organizations are looked up once, counted, then laid out in one block:
 * no allocation per organization. */
struct mk_compile_members *mk_compile_members_build(const struct mk_storefile *s,
                                                    const bool *skip)
{
    struct mk_compile_members *m = calloc(s->org_count + 1, sizeof(*m));
    size_t pairs = 0, k = 0, at = 0;
    ssize_t *org = NULL;

    if (!m)
        return NULL;
    for (size_t u = 0; u < s->user_count; u++)
        if (!skip || !skip[u])
            pairs += s->users[u].org_count;
    org = malloc((pairs ? pairs : 1) * sizeof(*org));
    m[s->org_count].v = malloc((pairs ? pairs : 1) * sizeof(*m[s->org_count].v));
    if (!org || !m[s->org_count].v) {
        free(org);
        mk_compile_members_free(m, s->org_count);
        return NULL;
    }
    for (size_t u = 0; u < s->user_count; u++) {
        if (u + 8 < s->user_count && s->users[u + 8].org_count)
            mk_storefile_prefetch_org(s, s->users[u + 8].orgs[0]);
        if (skip && skip[u])
            continue;
        for (size_t i = 0; i < s->users[u].org_count; i++, k++) {
            /* Never -1: the loader and store_apply_user guarantee it. */
            org[k] = mk_storefile_find_org(s, s->users[u].orgs[i]);
            if (org[k] >= 0)
                m[org[k]].n++;
        }
    }
    for (size_t i = 0; i < s->org_count; i++) {
        m[i].v = m[s->org_count].v + at;
        at += m[i].n;
        m[i].n = 0;
    }
    k = 0;
    for (size_t u = 0; u < s->user_count; u++)
        for (size_t i = 0; (!skip || !skip[u]) && i < s->users[u].org_count; i++, k++)
            if (org[k] >= 0)
                m[org[k]].v[m[org[k]].n++] = s->users[u].name;
    free(org);
    return m;
}

struct compile_group_key {
    uint64_t head;     /* 8 bytes of the name from `skip` on, big-endian, NUL-padded */
    const char *name;
    size_t index;
};

/* The bytes every name has in common at its start (a prefix such as "mk-"),
 * which the sort then skips. */
static size_t compile_common_prefix(const struct compile_group_key *keys, size_t n)
{
    size_t len = n ? strlen(keys[0].name) : 0;
    for (size_t i = 1; i < n && len > 0; i++) {
        size_t k = 0;
        while (k < len && keys[i].name[k] == keys[0].name[k])
            k++;
        len = k;
    }
    return len;
}

static uint64_t compile_name_head(const char *name)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | (unsigned char)*name;
        if (*name)
            name++;
    }
    return v;
}

/* By name (strcmp's order): the heads decide most comparisons without
 * reading the names; equal heads of names that go on compare the rest. */
static int compile_cmp_group_key(const void *a, const void *b, void *skip)
{
    const struct compile_group_key *x = a, *y = b;
    if (x->head != y->head)
        return x->head < y->head ? -1 : 1;
    if ((x->head & 0xff) == 0)
        return 0;   /* both names ended inside the head: equal */
    return strcmp(x->name + *(size_t *)skip + 8, y->name + *(size_t *)skip + 8);
}

/* The groups of the compiled file, sorted by name, with the index in s->orgs
 * of each in *index (malloc'd, may be NULL). Pointers borrow from s and m.
 * Sorted as (name, index) pairs: the comparison reads the name at hand
 * rather than through the store. */
struct mk_group_entry *mk_compile_entries(const struct mk_storefile *s,
                                          const struct mk_compile_members *m,
                                          const struct mk_config *cfg,
                                          const struct mk_local_groups *etc,
                                          struct mk_policy_notes *notes, size_t **index,
                                          size_t *count)
{
    size_t cap = s->org_count ? s->org_count : 1;
    struct mk_group_entry *e = calloc(cap, sizeof(*e));
    struct compile_group_key *keys = malloc(cap * sizeof(*keys));
    size_t *idx = index ? malloc(cap * sizeof(*idx)) : NULL;
    size_t n = 0;

    if (!e || !keys || (index && !idx)) {
        free(e);
        free(keys);
        free(idx);
        return NULL;
    }
    for (size_t i = 0; i < s->org_count; i++) {
        if (m[i].n > 0 && mk_policy_org_active(&s->orgs[i], cfg, etc, notes)) {
            keys[n].name = s->orgs[i].group;
            keys[n].index = i;
            n++;
        }
    }
    size_t skip = compile_common_prefix(keys, n);
    for (size_t i = 0; i < n; i++)
        keys[i].head = compile_name_head(keys[i].name + skip);
    qsort_r(keys, n, sizeof(*keys), compile_cmp_group_key, &skip);
    for (size_t i = 0; i < n; i++) {
        size_t k = keys[i].index;
        e[i].name = s->orgs[k].group;
        e[i].gid = s->orgs[k].gid;
        e[i].members = m[k].v;
        e[i].member_count = m[k].n;
        if (idx)
            idx[i] = k;
    }
    free(keys);
    if (index)
        *index = idx;
    *count = n;
    return e;
}
