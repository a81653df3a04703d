/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/prefetch.c: other group sources asked before the lock
 * (see prefetch.h). */
#include "store/prefetch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/text.h"
#include "base/trust.h"
#include "store/store_json.h"
#include "store/storefile.h"

static int prefetch_cmp_gid(const void *a, const void *b)
{
    gid_t x = ((const struct mk_prefetch_answer *)a)->gid;
    gid_t y = ((const struct mk_prefetch_answer *)b)->gid;
    return x < y ? -1 : x > y;
}

static int prefetch_cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct mk_prefetch_answer *)a)->name,
                  ((const struct mk_prefetch_answer *)b)->name);
}

static int prefetch_by_gid(void *ctx, gid_t gid, char *name, size_t size)
{
    struct mk_prefetch *pf = ctx;
    struct mk_prefetch_answer key = { .gid = gid };
    const struct mk_prefetch_answer *a = pf->gid_count ? bsearch(&key, pf->by_gid, pf->gid_count,
                                                           sizeof(key), prefetch_cmp_gid)
                                                 : NULL;
    if (!a)
        return pf->live->by_gid(pf->live->ctx, gid, name, size);
    if (a->r > 0)
        snprintf(name, size, "%s", a->name ? a->name : "");
    return a->r;
}

static int prefetch_by_name(void *ctx, const char *name, gid_t *gid)
{
    struct mk_prefetch *pf = ctx;
    struct mk_prefetch_answer key = { .name = (char *)name };
    const struct mk_prefetch_answer *a = pf->name_count ? bsearch(&key, pf->by_name, pf->name_count,
                                                            sizeof(key), prefetch_cmp_name)
                                                  : NULL;
    if (!a)
        return pf->live->by_name(pf->live->ctx, name, gid);
    if (a->r > 0)
        *gid = a->gid;
    return a->r;
}

void mk_prefetch_free(struct mk_prefetch *pf)
{
    for (size_t i = 0; i < pf->gid_count; i++)
        free(pf->by_gid[i].name);
    for (size_t i = 0; i < pf->name_count; i++)
        free(pf->by_name[i].name);
    free(pf->by_gid);
    free(pf->by_name);
    memset(pf, 0, sizeof(*pf));
}

/* One pass over the users marks the organizations with members; each of
 * their groups is asked about by gid and by name, the answers sorted for
 * bsearch. */
void mk_prefetch_build(const struct mk_config *cfg, const struct mk_group_oracle *live,
                       struct mk_prefetch *pf)
{
    struct mk_storefile s = { 0 };
    bool *member = NULL;
    char found[MK_GROUP_NAME_MAX * 4];
    mk_error err;
    int dir_fd = -1;

    memset(pf, 0, sizeof(*pf));
    pf->live = live;
    if (mk_trust_open_dir(cfg->state_dir, MK_STOREFILE_STATE_DIR, false, &dir_fd, &err) != MK_OK ||
        dir_fd < 0 ||
        mk_store_json_load(dir_fd, cfg->state_dir, &s, NULL, &err) != MK_OK)
        goto out;
    if (!(member = calloc(s.org_count ? s.org_count : 1, sizeof(*member))) ||
        !(pf->by_gid = calloc(s.org_count ? s.org_count : 1, sizeof(*pf->by_gid))) ||
        !(pf->by_name = calloc(s.org_count ? s.org_count : 1, sizeof(*pf->by_name))))
        goto fail;
    for (size_t u = 0; u < s.user_count; u++) {
        for (size_t i = 0; i < s.users[u].org_count; i++) {
            ssize_t k = mk_storefile_find_org(&s, s.users[u].orgs[i]);
            if (k >= 0)
                member[k] = true;
        }
    }
    for (size_t i = 0; i < s.org_count; i++) {
        const struct mk_storefile_org *o = &s.orgs[i];
        struct mk_prefetch_answer *g = &pf->by_gid[pf->gid_count];
        struct mk_prefetch_answer *n = &pf->by_name[pf->name_count];
        if (!member[i] || !o->group)
            continue;
        g->gid = o->gid;
        g->r = pf->live->by_gid(pf->live->ctx, o->gid, found, sizeof(found));
        if (g->r > 0 && !(g->name = strdup(found)))
            goto fail;
        pf->gid_count++;
        if (!(n->name = strdup(o->group)))
            goto fail;
        pf->name_count++;
        n->r = pf->live->by_name(pf->live->ctx, o->group, &n->gid);
    }
    qsort(pf->by_gid, pf->gid_count, sizeof(*pf->by_gid), prefetch_cmp_gid);
    qsort(pf->by_name, pf->name_count, sizeof(*pf->by_name), prefetch_cmp_name);
    goto out;
fail:
    mk_prefetch_free(pf);
    pf->live = live;
out:
    free(member);
    mk_storefile_free(&s);
    if (dir_fd >= 0)
        close(dir_fd);
}

struct mk_group_oracle mk_prefetch_oracle(struct mk_prefetch *pf)
{
    return (struct mk_group_oracle){ prefetch_by_gid, prefetch_by_name, pf };
}
