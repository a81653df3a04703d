/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config_pins.c: the pins' index (see config_pins.h). */
#include "store/config_pins.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/hashset.h"

/* The slot of key in table t: where the pin whose key it is sits (its
 * number + 1), or the empty slot where it would go. same() compares a pin
 * with the key. */
static size_t index_slot(const uint32_t *t, size_t cap, uint64_t h, const struct mk_pin *pins,
                         const void *key, int (*same)(const struct mk_pin *, const void *))
{
    size_t i = mk_hashset_start(h, cap);
    while (t[i] && !same(&pins[t[i] - 1], key))
        i = mk_hashset_next(i, cap);
    return i;
}

static int same_id(const struct mk_pin *p, const void *key)
{
    return strcmp(p->org_id, key) == 0;
}

static int same_name(const struct mk_pin *p, const void *key)
{
    return strcmp(p->group_name, key) == 0;
}

static int same_gid(const struct mk_pin *p, const void *key)
{
    return p->gid == *(const gid_t *)key;
}

static void index_put(struct mk_config_pin_index *x, const struct mk_pin *pins, size_t i)
{
    const struct mk_pin *p = &pins[i];
    x->by_id[index_slot(x->by_id, x->cap, mk_fnv1a_str(p->org_id), pins, p->org_id,
                        same_id)] = (uint32_t)(i + 1);
    x->by_name[index_slot(x->by_name, x->cap, mk_fnv1a_str(p->group_name), pins,
                          p->group_name, same_name)] = (uint32_t)(i + 1);
    x->by_gid[index_slot(x->by_gid, x->cap, p->gid, pins, &p->gid, same_gid)] =
        (uint32_t)(i + 1);
}

/* Room for n pins: new tables, every pin already in x put again. */
static int index_reserve(struct mk_config_pin_index *x, const struct mk_pin *pins, size_t n)
{
    size_t cap = mk_hashset_capacity(n, 64);
    if (cap <= x->cap)
        return 0;
    if (cap == 0 || n >= UINT32_MAX)
        return -ENOMEM;
    struct mk_config_pin_index bigger = { .cap = cap, .n = x->n };
    bigger.by_id = calloc(cap, sizeof(uint32_t));
    bigger.by_name = calloc(cap, sizeof(uint32_t));
    bigger.by_gid = calloc(cap, sizeof(uint32_t));
    if (!bigger.by_id || !bigger.by_name || !bigger.by_gid) {
        free(bigger.by_id);
        free(bigger.by_name);
        free(bigger.by_gid);
        return -ENOMEM;
    }
    for (size_t k = 0; k < x->cap; k++)
        if (x->by_id[k])
            index_put(&bigger, pins, x->by_id[k] - 1);
    free(x->by_id);
    free(x->by_name);
    free(x->by_gid);
    *x = bigger;
    return 0;
}

int config_pin_index_add(struct mk_config_pin_index *x, const struct mk_pin *pins, size_t i,
                         enum config_pin_clash *clash, size_t *other)
{
    const struct mk_pin *p = &pins[i];
    int r = index_reserve(x, pins, x->n + 1);
    if (r < 0)
        return r;
    size_t s_id = index_slot(x->by_id, x->cap, mk_fnv1a_str(p->org_id), pins, p->org_id, same_id);
    size_t s_name = index_slot(x->by_name, x->cap, mk_fnv1a_str(p->group_name), pins,
                               p->group_name, same_name);
    size_t s_gid = index_slot(x->by_gid, x->cap, p->gid, pins, &p->gid, same_gid);
    *clash = CONFIG_PIN_NEW;
    if (x->by_id[s_id])
        *clash = CONFIG_PIN_SAME_ID, *other = x->by_id[s_id] - 1;
    else if (x->by_name[s_name])
        *clash = CONFIG_PIN_SAME_NAME, *other = x->by_name[s_name] - 1;
    else if (x->by_gid[s_gid])
        *clash = CONFIG_PIN_SAME_GID, *other = x->by_gid[s_gid] - 1;
    if (*clash != CONFIG_PIN_NEW)
        return 0;
    x->by_id[s_id] = x->by_name[s_name] = x->by_gid[s_gid] = (uint32_t)(i + 1);
    x->n++;
    return 0;
}

ssize_t config_pin_index_find(const struct mk_config_pin_index *x, const struct mk_pin *pins,
                              const char *id)
{
    if (!x || x->cap == 0)
        return -1;
    size_t s = index_slot(x->by_id, x->cap, mk_fnv1a_str(id), pins, id, same_id);
    return x->by_id[s] ? (ssize_t)x->by_id[s] - 1 : -1;
}

struct mk_config_pin_index *config_pin_index_build(const struct mk_config *cfg)
{
    struct mk_config_pin_index *x = calloc(1, sizeof(*x));
    enum config_pin_clash clash;
    size_t other;

    if (!x || index_reserve(x, cfg->pins, cfg->pin_count) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->pin_count; i++)
        if (config_pin_index_add(x, cfg->pins, i, &clash, &other) < 0 || clash != CONFIG_PIN_NEW)
            goto fail;
    return x;
fail:
    config_pin_index_free(x);
    return NULL;
}

void config_pin_index_clear(struct mk_config_pin_index *x)
{
    free(x->by_id);
    free(x->by_name);
    free(x->by_gid);
    memset(x, 0, sizeof(*x));
}

void config_pin_index_free(struct mk_config_pin_index *x)
{
    if (!x)
        return;
    config_pin_index_clear(x);
    free(x);
}
