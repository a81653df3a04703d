/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/store_json.c: store.json's text read into the model (see
 * store_json.h): the schema's half of the parser, over the tokens of
 * json_scan.h. The serializer is store_json_write.c. */
#include "store/store_json.h"
#include "base/fileio.h"
#include "base/text.h"
#include "base/trust.h"
#include "store/json_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Beyond the tokens (json_scan.h), the schema's choices: a member the
 * schema knows that appears twice in one object is refused (which one did
 * the writer mean?); organizations whose keys are one canonical id are
 * merged (mk_storefile_finish_load), and a user named twice is refused;
 * members it does not know are ignored. A lone surrogate in an id, a group
 * or a user name makes it invalid, hence refused. */
struct store_json {
    struct mk_json_scan scan;   /* first: the callbacks get &scan */
    struct mk_storefile *s;     /* where kept strings go (store_json_keep) */
    const char *start;          /* the text's first byte */
    bool in_place;              /* s->strings is the text itself */
};

/* A string to keep, copied among the store's strings. When they are the
 * text being parsed, a copy goes only below what was parsed: each kept
 * string is decoded from its own string of the text, already passed and at
 * least two bytes (its quotes) longer, so their copies never reach it. */
static char *store_json_keep(struct mk_json_scan *scan, const char *str, size_t len)
{
    struct store_json *j = (struct store_json *)scan;   /* scan is its first member */
    return mk_storefile_strndup(j->s, str, len,
                                j->in_place ? (size_t)(scan->p - j->start) : j->s->strings_size);
}

/* A string, copied among the store's strings (mk_storefile_free_string). */
static int store_json_string_dup(struct mk_json_scan *j, char **out)
{
    size_t len;
    int r = mk_json_scan_string(j, &len);
    *out = NULL;
    if (r != 0)
        return r;
    if (!(*out = store_json_keep(j, j->buf, len)))
        return -2;
    return 0;
}

/* A string or null field; anything else is a schema error. */
static int store_json_nullable_string(struct mk_json_scan *j, char **out, const char *what)
{
    mk_storefile_free_string(((struct store_json *)j)->s, *out);
    *out = NULL;
    if (mk_json_scan_literal(j, "null"))
        return 0;
    if (mk_json_scan_peek(j, '"'))
        return store_json_string_dup(j, out);
    mk_json_scan_schema(j, what);
    return mk_json_scan_skip(j);
}

enum {
    STORE_JSON_NAME = 1, STORE_JSON_GROUP = 2, STORE_JSON_GID = 4, STORE_JSON_PINNED = 8,
    STORE_JSON_FIRST_SEEN = 16, STORE_JSON_REFRESHED = 32, STORE_JSON_ORGS = 64,
    STORE_JSON_VERSION_KEY = 128, STORE_JSON_ORGANIZATIONS = 256, STORE_JSON_RETIRED = 512,
    STORE_JSON_USERS = 1024, STORE_JSON_HISTORY = 2048,
};

struct store_json_org {
    char *name, *group;
    int64_t gid, first_seen;
    unsigned seen;
    bool pinned, has_pinned, has_first_seen, gid_null, gid_bad;
    struct mk_storefile_org events;   /* only its history: the entries read */
    bool nomem;
};

/* One entry of an organization's history (the renames and gid moves of its
 * group, storefile.h): every field present and of its type, else a schema
 * error. Unknown members are ignored, as everywhere. */
struct store_json_event {
    struct mk_storefile_event e;
    int64_t time, old_gid, new_gid;
    unsigned seen;
    bool ok, new_null;
};

static int store_json_event_string(struct mk_json_scan *j, char **out, bool nullable,
                                   bool *is_null)
{
    int r;
    free(*out);
    *out = NULL;
    if (nullable && mk_json_scan_literal(j, "null")) {
        *is_null = true;
        return 0;
    }
    if (!mk_json_scan_peek(j, '"')) {
        mk_json_scan_schema(j, "an organization has a bad history entry");
        return mk_json_scan_skip(j);
    }
    if ((r = mk_json_scan_string(j, NULL)) != 0)
        return r;
    return (*out = strdup(j->buf)) ? 0 : -2;
}

static int store_json_event_member(struct mk_json_scan *j, const char *key, void *ctx)
{
    static const char *const names[] = { "time", "old_group", "old_gid", "new_group",
                                         "new_gid", "reason" };
    struct store_json_event *ev = ctx;
    bool ok = true, is_null = false;
    unsigned k = 0;
    int r;

    while (key && k < 6 && !mk_json_scan_key_is(key, names[k]))
        k++;
    if (!key || k == 6)
        return mk_json_scan_skip(j);
    mk_json_scan_first(j, &ev->seen, 1u << k);
    switch (k) {
    case 0: r = mk_json_scan_int_field(j, &ev->time, &ok, "an organization has a bad history entry"); break;
    case 1: r = store_json_event_string(j, &ev->e.old_group, false, &is_null); break;
    case 2: r = mk_json_scan_int_field(j, &ev->old_gid, &ok, "an organization has a bad history entry"); break;
    case 3: r = store_json_event_string(j, &ev->e.new_group, true, &ev->new_null); break;
    case 4:
        if (mk_json_scan_literal(j, "null")) {
            ev->new_gid = 0;
            return 0;
        }
        r = mk_json_scan_int_field(j, &ev->new_gid, &ok, "an organization has a bad history entry");
        break;
    default: r = store_json_event_string(j, &ev->e.reason, false, &is_null); break;
    }
    if (!ok)
        ev->ok = false;
    return r;
}

/* "history": [ {time, old_group, old_gid, new_group, new_gid, reason}, ... ],
 * oldest first; only the last MK_STOREFILE_HISTORY_MAX are kept. */
static int store_json_history(struct mk_json_scan *j, struct store_json_org *o)
{
    if (!mk_json_scan_peek(j, '[')) {
        mk_json_scan_schema(j, "an organization has a bad history entry");
        return mk_json_scan_skip(j);
    }
    j->p++;
    if (mk_json_scan_take(j, ']'))
        return 0;
    do {
        struct store_json_event ev = { .ok = true };
        int r;
        if (!mk_json_scan_peek(j, '{')) {
            mk_json_scan_schema(j, "an organization has a bad history entry");
            r = mk_json_scan_skip(j);
        } else {
            r = mk_json_scan_object(j, store_json_event_member, &ev);
        }
        if (r == 0 && (ev.seen != 63 || !ev.ok || !ev.e.old_group ||
                                  !mk_storefile_gid_ok(ev.old_gid) ||
                                  (ev.e.new_group ? !mk_storefile_gid_ok(ev.new_gid)
                                                  : ev.new_gid != 0)))
            mk_json_scan_schema(j, "an organization has a bad history entry");
        else if (r == 0 && !j->schema_err) {
            ev.e.time = ev.time;
            ev.e.old_gid = (gid_t)ev.old_gid;
            ev.e.new_gid = (gid_t)ev.new_gid;
            if (mk_storefile_add_event(&o->events, &ev.e) != 0)
                r = -2;
        }
        mk_storefile_event_clear(&ev.e);
        if (r != 0) {
            o->nomem = r == -2;
            return r;
        }
    } while (mk_json_scan_take(j, ','));
    return mk_json_scan_take(j, ']') ? 0 : mk_json_scan_bad(j, "not valid JSON");
}

static int store_json_org_member(struct mk_json_scan *j, const char *key, void *ctx)
{
    struct store_json_org *o = ctx;
    if (!key)
        return mk_json_scan_skip(j);
    if (mk_json_scan_key_is(key, "name")) {
        /* Repaired straight from the decoded text: one copy. */
        mk_json_scan_first(j, &o->seen, STORE_JSON_NAME);
        free(o->name);
        o->name = NULL;
        if (mk_json_scan_literal(j, "null"))
            return 0;
        if (!mk_json_scan_peek(j, '"')) {
            mk_json_scan_schema(j, "an organization name is not a string");
            return mk_json_scan_skip(j);
        }
        int r = mk_json_scan_string(j, NULL);
        if (r == 0 && !(o->name = mk_display_name_repair(j->buf)))
            r = -2;
        return r;
    }
    if (mk_json_scan_key_is(key, "group")) {
        mk_json_scan_first(j, &o->seen, STORE_JSON_GROUP);
        return store_json_nullable_string(j, &o->group,
                                          "an organization has a bad group name or gid");
    }
    if (mk_json_scan_key_is(key, "gid")) {
        mk_json_scan_first(j, &o->seen, STORE_JSON_GID);
        if (mk_json_scan_literal(j, "null")) {
            o->gid_null = true;
            return 0;
        }
        bool ok;
        int r = mk_json_scan_int_field(j, &o->gid, &ok,
                                       "an organization has a bad group name or gid");
        o->gid_bad = !ok;
        return r;
    }
    if (mk_json_scan_key_is(key, "pinned")) {
        mk_json_scan_first(j, &o->seen, STORE_JSON_PINNED);
        o->has_pinned = true;
        if (mk_json_scan_literal(j, "true"))
            o->pinned = true;
        else if (mk_json_scan_literal(j, "false"))
            o->pinned = false;
        else {
            o->has_pinned = false;
            return mk_json_scan_skip(j);
        }
        return 0;
    }
    if (mk_json_scan_key_is(key, "first_seen")) {
        mk_json_scan_first(j, &o->seen, STORE_JSON_FIRST_SEEN);
        return mk_json_scan_int_field(j, &o->first_seen, &o->has_first_seen,
                            "an organization entry lacks a field");
    }
    /* Optional: a store written before the history was kept has none. */
    if (mk_json_scan_key_is(key, "history")) {
        mk_json_scan_first(j, &o->seen, STORE_JSON_HISTORY);
        return store_json_history(j, o);
    }
    return mk_json_scan_skip(j);
}

struct store_json_ctx {
    struct mk_storefile *s;
    unsigned seen;
    bool has_version, has_orgs, has_retired, has_users;
    int64_t version;
    bool nomem;
};

/* One organization entry: checked, bounded and repaired here, once. */
static int store_json_orgs_member(struct mk_json_scan *j, const char *key, void *ctx)
{
    struct store_json_ctx *c = ctx;
    struct mk_storefile *s = c->s;
    struct store_json_org o = { 0 };
    char id[MK_ORG_ID_MAX + 1];
    int r;

    if (!mk_json_scan_peek(j, '{')) {
        mk_json_scan_schema(j, "a bad organization entry");
        return mk_json_scan_skip(j);
    }
    if ((r = mk_json_scan_object(j, store_json_org_member, &o)) != 0) {
        c->nomem = c->nomem || o.nomem;
        goto out;
    }
    if (!key || !mk_org_id_canonical(key, id)) {
        mk_json_scan_schema(j, "a bad organization entry");
        goto out;
    }
    if (!(o.seen & STORE_JSON_NAME) || !(o.seen & STORE_JSON_GROUP) || !o.has_pinned ||
        !o.has_first_seen) {
        mk_json_scan_schema(j, "an organization entry lacks a field");
        goto out;
    }
    if (o.group ? (!mk_group_name_valid(o.group) || !(o.seen & STORE_JSON_GID) || o.gid_null ||
                   o.gid_bad || !mk_storefile_gid_ok(o.gid))
                : ((o.seen & STORE_JSON_GID) && !o.gid_null)) {
        mk_json_scan_schema(j, o.group ? "an organization has a bad group name or gid"
                             : "an organization has a gid but no group name");
        goto out;
    }
    if (j->schema_err)
        goto out;   /* the load fails: nothing worth keeping */
    if (mk_storefile_reserve_orgs(s, 1) != 0) {
        c->nomem = true;
        r = -2;
        goto out;
    }
    struct mk_storefile_org *org = &s->orgs[s->org_count];
    memset(org, 0, sizeof(*org));
    s->org_count++;
    org->first_seen = o.first_seen;
    org->pinned = o.pinned;
    org->gid = o.group ? (gid_t)o.gid : 0;
    org->group = o.group;
    o.group = NULL;
    org->name = o.name;
    o.name = NULL;
    org->history = o.events.history;
    org->history_count = o.events.history_count;
    o.events.history = NULL;
    o.events.history_count = 0;
    if (!(org->id = store_json_keep(j, id, strlen(id)))) {
        c->nomem = true;
        r = -2;
    }
out:
    free(o.name);
    mk_storefile_free_string(s, o.group);
    for (size_t i = 0; i < o.events.history_count; i++)
        mk_storefile_event_clear(&o.events.history[i]);
    free(o.events.history);
    return r;
}

static int store_json_retired(struct mk_json_scan *j, struct store_json_ctx *c)
{
    struct mk_storefile *s = c->s;
    if (!mk_json_scan_peek(j, '[')) {
        mk_json_scan_schema(j, "missing organizations, retired_gids or users");
        return mk_json_scan_skip(j);
    }
    c->has_retired = true;
    j->p++;
    if (mk_json_scan_take(j, ']'))
        return 0;
    do {
        int64_t gid = 0;
        bool ok;
        if (mk_json_scan_int_field(j, &gid, &ok, "a bad retired gid") != 0)
            return -1;
        if (!ok || !mk_storefile_gid_ok(gid)) {
            mk_json_scan_schema(j, "a bad retired gid");
            continue;
        }
        if (s->retired_count == s->retired_cap) {
            size_t cap = s->retired_cap ? s->retired_cap * 2 : 16;
            gid_t *v = reallocarray(s->retired, cap, sizeof(*v));
            if (!v) {
                c->nomem = true;
                return -2;
            }
            s->retired = v;
            s->retired_cap = cap;
        }
        s->retired[s->retired_count++] = (gid_t)gid;
    } while (mk_json_scan_take(j, ','));
    return mk_json_scan_take(j, ']') ? 0 : mk_json_scan_bad(j, "not valid JSON");
}

struct store_json_user {
    struct store_json_ctx *c;
    struct mk_storefile_user *u;
    unsigned seen;
    bool has_refreshed, has_orgs;
};

static int store_json_user_member(struct mk_json_scan *j, const char *key, void *ctx)
{
    struct store_json_user *pu = ctx;
    struct mk_storefile_user *u = pu->u;
    if (!key)
        return mk_json_scan_skip(j);
    if (mk_json_scan_key_is(key, "refreshed")) {
        mk_json_scan_first(j, &pu->seen, STORE_JSON_REFRESHED);
        return mk_json_scan_int_field(j, &u->refreshed, &pu->has_refreshed, "a bad user entry");
    }
    if (!mk_json_scan_key_is(key, "orgs"))
        return mk_json_scan_skip(j);
    if (!mk_json_scan_first(j, &pu->seen, STORE_JSON_ORGS) || !mk_json_scan_peek(j, '[')) {
        mk_json_scan_schema(j, "a bad user entry");
        return mk_json_scan_skip(j);
    }
    pu->has_orgs = true;
    j->p++;
    if (mk_json_scan_take(j, ']'))
        return 0;
    size_t cap = 0;
    do {
        char *id = NULL;
        int r;
        if (!mk_json_scan_peek(j, '"')) {
            mk_json_scan_schema(j, "a user belongs to an unknown organization");
            if (mk_json_scan_skip(j) != 0)
                return -1;
            continue;
        }
        if ((r = store_json_string_dup(j, &id)) != 0) {
            pu->c->nomem = r == -2;
            return r;
        }
        if (u->org_count == cap) {
            cap = cap ? cap * 2 : 4;
            char **v = reallocarray(u->orgs, cap, sizeof(*v));
            if (!v) {
                mk_storefile_free_string(pu->c->s, id);
                pu->c->nomem = true;
                return -2;
            }
            u->orgs = v;
        }
        u->orgs[u->org_count++] = id;
    } while (mk_json_scan_take(j, ','));
    return mk_json_scan_take(j, ']') ? 0 : mk_json_scan_bad(j, "not valid JSON");
}

static int store_json_users_member(struct mk_json_scan *j, const char *key, void *ctx)
{
    struct store_json_ctx *c = ctx;
    struct mk_storefile *s = c->s;
    if (!key || !mk_user_name_valid(key) || !mk_json_scan_peek(j, '{')) {
        mk_json_scan_schema(j, "a bad user entry");
        return mk_json_scan_skip(j);
    }
    if (s->user_count == s->user_cap) {
        size_t cap = s->user_cap ? s->user_cap * 2 : 16;
        struct mk_storefile_user *v = reallocarray(s->users, cap, sizeof(*v));
        if (!v) {
            c->nomem = true;
            return -2;
        }
        s->users = v;
        s->user_cap = cap;
    }
    struct mk_storefile_user *u = &s->users[s->user_count];
    memset(u, 0, sizeof(*u));
    s->user_count++;
    if (!(u->name = store_json_keep(j, key, strlen(key)))) {
        c->nomem = true;
        return -2;
    }
    struct store_json_user pu = { c, u, 0, false, false };
    int r = mk_json_scan_object(j, store_json_user_member, &pu);
    if (r == 0 && (!pu.has_refreshed || !pu.has_orgs))
        mk_json_scan_schema(j, "a bad user entry");
    return r;
}

static int store_json_root_member(struct mk_json_scan *j, const char *key, void *ctx)
{
    struct store_json_ctx *c = ctx;
    if (!key)
        return mk_json_scan_skip(j);
    if (mk_json_scan_key_is(key, "version")) {
        mk_json_scan_first(j, &c->seen, STORE_JSON_VERSION_KEY);
        return mk_json_scan_int_field(j, &c->version, &c->has_version, "no version");
    }
    if (mk_json_scan_key_is(key, "organizations")) {
        mk_json_scan_first(j, &c->seen, STORE_JSON_ORGANIZATIONS);
        if (!mk_json_scan_peek(j, '{')) {
            mk_json_scan_schema(j, "missing organizations, retired_gids or users");
            return mk_json_scan_skip(j);
        }
        c->has_orgs = true;
        return mk_json_scan_object(j, store_json_orgs_member, c);
    }
    if (mk_json_scan_key_is(key, "retired_gids")) {
        mk_json_scan_first(j, &c->seen, STORE_JSON_RETIRED);
        return store_json_retired(j, c);
    }
    if (mk_json_scan_key_is(key, "users")) {
        mk_json_scan_first(j, &c->seen, STORE_JSON_USERS);
        if (!mk_json_scan_peek(j, '{')) {
            mk_json_scan_schema(j, "missing organizations, retired_gids or users");
            return mk_json_scan_skip(j);
        }
        c->has_users = true;
        return mk_json_scan_object(j, store_json_users_member, c);
    }
    return mk_json_scan_skip(j);
}

static mk_status store_json_parse_text(struct mk_json_scan *j, struct mk_storefile *s,
                                       const char *path, const struct mk_log_sink *sink,
                                       mk_error *err)
{
    struct store_json_ctx c = { .s = s };
    int r;

    mk_json_scan_ws(j);
    if (j->p == j->end)
        return mk_storefile_corrupt(err, path, "empty");
    if (!mk_json_scan_peek(j, '{')) {
        r = mk_json_scan_skip(j);
        if (r == -2 || c.nomem)
            goto nomem;
        return mk_storefile_corrupt(err, path, r == 0 ? "no version"
                                                : j->syntax_err ? j->syntax_err : "not valid JSON");
    }
    r = mk_json_scan_object(j, store_json_root_member, &c);
    if (r == -2 || c.nomem)
        goto nomem;
    if (r != 0)
        return mk_storefile_corrupt(err, path, j->syntax_err ? j->syntax_err : "not valid JSON");
    mk_json_scan_ws(j);
    if (j->p != j->end)
        return mk_storefile_corrupt(err, path, "text after the JSON object");
    if (!c.has_version)
        return mk_storefile_corrupt(err, path, "no version");
    if (c.version != MK_STORE_JSON_VERSION)
        return mk_error_set(err, MK_ERR_IO, "%s has version %" PRId64 ", this program knows only "
                            "version %d; it is left untouched", path, c.version,
                            MK_STORE_JSON_VERSION);
    if (j->schema_err)
        return mk_storefile_corrupt(err, path, j->schema_err);
    if (!c.has_orgs || !c.has_retired || !c.has_users)
        return mk_storefile_corrupt(err, path, "missing organizations, retired_gids or users");

    return mk_storefile_finish_load(s, path, sink, err);
nomem:
    return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
}

/* Parses text[0..len). With own, text is a malloc'd buffer of len + 1
 * bytes that s takes (freed with it, or on failure): the kept strings are
 * copied into what was parsed of it, where they are near one another and
 * cost no allocation. Without, they go to a block of their own. */
static mk_status store_json_parse_own(struct mk_storefile *s, char *own, const char *text,
                                      size_t len, const char *path,
                                      const struct mk_log_sink *sink, mk_error *err)
{
    struct store_json j = { .scan = { .p = text, .end = text + len }, .s = s, .start = text,
                            .in_place = own };
    mk_status st;

    /* Every string kept is decoded from a string of the text, no longer
     * than it with its quotes: the text's length bounds them all. */
    if (own) {
        s->strings = own;
        s->strings_size = len + 1;
    } else if (len > 0 && (s->strings = malloc(len + 1))) {
        s->strings_size = len + 1;
    }
    st = store_json_parse_text(&j.scan, s, path, sink, err);
    free(j.scan.buf);
    return st;
}

mk_status mk_store_json_parse(const char *text, size_t len, const char *path,
                              struct mk_storefile *s, const struct mk_log_sink *sink, mk_error *err)
{
    mk_status st;

    memset(s, 0, sizeof(*s));
    if (len > (size_t)MK_STORE_JSON_MAX_BYTES)
        return mk_error_set(err, MK_ERR_IO, "%s is larger than %ld bytes; not touching it",
                            path, MK_STORE_JSON_MAX_BYTES);
    st = store_json_parse_own(s, NULL, text ? text : "", text ? len : 0, path, sink, err);
    if (st != MK_OK)
        mk_storefile_free(s);
    return st;
}

/* The file is read whole (bounded) and parsed in place: s takes the
 * buffer. */
mk_status mk_store_json_load(int dirfd, const char *dir, struct mk_storefile *s,
                             const struct mk_log_sink *sink, mk_error *err)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    mk_status st;
    int fd = -1, r;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, MK_STOREFILE_NAME);

    memset(s, 0, sizeof(*s));
    if (n < 0 || (size_t)n >= sizeof(path))
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    /* A missing file is an empty store. */
    st = mk_trust_openat(dirfd, MK_STOREFILE_NAME, path, O_RDONLY, &fd, err);
    if (st != MK_OK || fd < 0)
        return st;
    r = mk_fileio_read_all(fd, MK_STORE_JSON_MAX_BYTES, &text, &len);
    close(fd);
    if (r == -EFBIG)
        return mk_error_set(err, MK_ERR_IO, "%s is larger than %ld bytes; not touching it",
                            path, MK_STORE_JSON_MAX_BYTES);
    if (r == -ENOMEM)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
    if (r < 0)
        return mk_error_set(err, MK_ERR_IO, "cannot read %s: %s", path, strerror(-r));
    st = store_json_parse_own(s, text, text, len, path, sink, err);   /* s takes text */
    if (st != MK_OK)
        mk_storefile_free(s);
    return st;
}
