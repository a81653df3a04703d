/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/store_json_write.c: the model written as store.json's text
 * (mk_store_json_serialize, store_json.h). */
#include "store/store_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- saving ---- */

/* The text is laid out in one buffer: each entry first reserves what it can
 * take at most (an escaped byte takes six), then is written without a
 * check per byte. At 100,000 organizations the file is tens of megabytes;
 * appending field by field through realloc checks cost more than the rest
 * of the write. */
struct store_json_text {
    char *v;
    size_t n, cap;
    bool failed;
};

static char *store_json_reserve(struct store_json_text *t, size_t more)
{
    if (t->failed)
        return NULL;
    if (more > SIZE_MAX / 2 - t->n) {
        t->failed = true;
        return NULL;
    }
    if (t->n + more + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 65536;
        while (cap < t->n + more + 1)
            cap *= 2;
        char *v = realloc(t->v, cap);
        if (!v) {
            t->failed = true;
            return NULL;
        }
        t->v = v;
        t->cap = cap;
    }
    return t->v + t->n;
}

static char *store_json_put_mem(char *o, const char *s, size_t len)
{
    memcpy(o, s, len);
    return o + len;
}

#define STORE_JSON_LIT(o, lit) store_json_put_mem((o), (lit), sizeof(lit) - 1)

static char *store_json_put_int(char *o, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return store_json_put_mem(o, p, (size_t)(buf + sizeof(buf) - p));
}

/* A JSON string of s[0..len) (at most 6 * len + 2 bytes): '"', '\\' and
 * control characters escaped; the rest (valid UTF-8: names are repaired,
 * ids and group names ASCII) as it is. Also the userdb records' writer
 * (userdb.c). */
char *mk_store_json_put_string(char *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s, *end = s + len;
    *o++ = '"';
    for (; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        o = store_json_put_mem(o, run, (size_t)(s - run));
        run = s + 1;
        *o++ = '\\';
        if (c == '"' || c == '\\') {
            *o++ = (char)c;
            continue;
        }
        o = STORE_JSON_LIT(o, "u00");
        *o++ = hex[c >> 4];
        *o++ = hex[c & 0xf];
    }
    o = store_json_put_mem(o, run, (size_t)(end - run));
    *o++ = '"';
    return o;
}

static char *store_json_put_nullable(char *o, const char *s, size_t len)
{
    return s ? mk_store_json_put_string(o, s, len) : STORE_JSON_LIT(o, "null");
}

/* Bytes an entry's fixed text and numbers take at most, strings aside. */
#define STORE_JSON_ENTRY_FIXED 256

/* The most an organization's history takes (6 bytes per byte of text). */
static size_t store_json_history_most(const struct mk_storefile_org *org)
{
    size_t most = 0;
    for (size_t i = 0; i < org->history_count; i++) {
        const struct mk_storefile_event *e = &org->history[i];
        most += STORE_JSON_ENTRY_FIXED + 6 * (strlen(e->old_group) + strlen(e->reason) +
                                              (e->new_group ? strlen(e->new_group) : 0));
    }
    return most;
}

/* ", \"history\": [...]" when there is one: a store without renames or
 * gid moves is written as before the history was kept. */
static char *store_json_put_history(char *o, const struct mk_storefile_org *org)
{
    if (!org->history_count)
        return o;
    o = STORE_JSON_LIT(o, ", \"history\": [");
    for (size_t i = 0; i < org->history_count; i++) {
        const struct mk_storefile_event *e = &org->history[i];
        o = i ? STORE_JSON_LIT(o, ", {\"time\": ") : STORE_JSON_LIT(o, "{\"time\": ");
        o = store_json_put_int(o, e->time);
        o = STORE_JSON_LIT(o, ", \"old_group\": ");
        o = mk_store_json_put_string(o, e->old_group, strlen(e->old_group));
        o = STORE_JSON_LIT(o, ", \"old_gid\": ");
        o = store_json_put_int(o, e->old_gid);
        o = STORE_JSON_LIT(o, ", \"new_group\": ");
        o = store_json_put_nullable(o, e->new_group, e->new_group ? strlen(e->new_group) : 0);
        o = STORE_JSON_LIT(o, ", \"new_gid\": ");
        o = e->new_group ? store_json_put_int(o, e->new_gid) : STORE_JSON_LIT(o, "null");
        o = STORE_JSON_LIT(o, ", \"reason\": ");
        o = mk_store_json_put_string(o, e->reason, strlen(e->reason));
        o = STORE_JSON_LIT(o, "}");
    }
    return STORE_JSON_LIT(o, "]");
}

/* One organization or user per line: readable and diffable by an admin,
 * and a third the bytes of one member per line, which every login reads. */
char *mk_store_json_serialize(const struct mk_storefile *s)
{
    struct store_json_text t = { 0 };
    char *o;

    /* A loaded store's text is about as long as the file it came from:
     * reserved at once rather than grown through a dozen reallocs. */
    if (!(o = store_json_reserve(&t, s->strings_size + s->strings_size / 4 +
                                     STORE_JSON_ENTRY_FIXED)))
        return NULL;
    if (!(o = store_json_reserve(&t, STORE_JSON_ENTRY_FIXED)))
        return NULL;
    o = STORE_JSON_LIT(o, "{\n  \"version\": ");
    o = store_json_put_int(o, MK_STORE_JSON_VERSION);
    o = STORE_JSON_LIT(o, ",\n  \"organizations\": {");
    t.n = (size_t)(o - t.v);
    for (size_t i = 0; i < s->org_count; i++) {
        const struct mk_storefile_org *org = &s->orgs[i];
        size_t id_len = strlen(org->id), name_len = org->name ? strlen(org->name) : 0;
        size_t group_len = org->group ? strlen(org->group) : 0;
        size_t most = STORE_JSON_ENTRY_FIXED + 6 * (id_len + name_len + group_len) +
                      store_json_history_most(org);
        if (!(o = store_json_reserve(&t, most)))
            goto fail;
        o = i ? STORE_JSON_LIT(o, ",\n    ") : STORE_JSON_LIT(o, "\n    ");
        o = mk_store_json_put_string(o, org->id, id_len);
        o = STORE_JSON_LIT(o, ": {\"name\": ");
        o = store_json_put_nullable(o, org->name, name_len);
        o = STORE_JSON_LIT(o, ", \"group\": ");
        o = store_json_put_nullable(o, org->group, group_len);
        o = STORE_JSON_LIT(o, ", \"gid\": ");
        o = org->group ? store_json_put_int(o, org->gid) : STORE_JSON_LIT(o, "null");
        o = org->pinned ? STORE_JSON_LIT(o, ", \"pinned\": true")
                        : STORE_JSON_LIT(o, ", \"pinned\": false");
        o = STORE_JSON_LIT(o, ", \"first_seen\": ");
        o = store_json_put_int(o, org->first_seen);
        o = store_json_put_history(o, org);
        o = STORE_JSON_LIT(o, "}");
        t.n = (size_t)(o - t.v);
    }
    if (!(o = store_json_reserve(&t, STORE_JSON_ENTRY_FIXED)))
        goto fail;
    o = s->org_count ? STORE_JSON_LIT(o, "\n  },\n  \"retired_gids\": [")
                     : STORE_JSON_LIT(o, "},\n  \"retired_gids\": [");
    t.n = (size_t)(o - t.v);
    for (size_t i = 0; i < s->retired_count; i++) {
        if (!(o = store_json_reserve(&t, 32)))
            goto fail;
        o = i ? STORE_JSON_LIT(o, ", ") : o;
        o = store_json_put_int(o, s->retired[i]);
        t.n = (size_t)(o - t.v);
    }
    if (!(o = store_json_reserve(&t, STORE_JSON_ENTRY_FIXED)))
        goto fail;
    o = STORE_JSON_LIT(o, "],\n  \"users\": {");
    t.n = (size_t)(o - t.v);
    for (size_t i = 0; i < s->user_count; i++) {
        const struct mk_storefile_user *u = &s->users[i];
        size_t name_len = strlen(u->name);
        if (!(o = store_json_reserve(&t, STORE_JSON_ENTRY_FIXED + 6 * name_len)))
            goto fail;
        o = i ? STORE_JSON_LIT(o, ",\n    ") : STORE_JSON_LIT(o, "\n    ");
        o = mk_store_json_put_string(o, u->name, name_len);
        o = STORE_JSON_LIT(o, ": {\"refreshed\": ");
        o = store_json_put_int(o, u->refreshed);
        o = STORE_JSON_LIT(o, ", \"orgs\": [");
        t.n = (size_t)(o - t.v);
        for (size_t k = 0; k < u->org_count; k++) {
            size_t id_len = strlen(u->orgs[k]);
            if (!(o = store_json_reserve(&t, 8 + 6 * id_len)))
                goto fail;
            o = k ? STORE_JSON_LIT(o, ", ") : o;
            o = mk_store_json_put_string(o, u->orgs[k], id_len);
            t.n = (size_t)(o - t.v);
        }
        if (!(o = store_json_reserve(&t, 16)))
            goto fail;
        o = STORE_JSON_LIT(o, "]}");
        t.n = (size_t)(o - t.v);
    }
    if (!(o = store_json_reserve(&t, 16)))
        goto fail;
    o = s->user_count ? STORE_JSON_LIT(o, "\n  }\n}\n") : STORE_JSON_LIT(o, "}\n}\n");
    *o = '\0';
    return t.v;
fail:
    free(t.v);
    return NULL;
}

