/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api_model.c: the records of the MK.IO API (an organization
 * of the user, an invite) read from the server's JSON, their release, the
 * API's times. The decisions the contract leaves to us are listed in
 * api.c. (What the tool shows of them, as text and as JSON, is the tool's:
 * tool/shape.c.)
 */
#include "net/api.h"
#include "net/api_model.h"
#include "base/text.h"
#include "base/timefmt.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The server's text for a message: through the one output sanitizer. */
void api_clean_copy(char *dst, size_t size, const char *src)
{
    mk_text_sanitize(src, dst, size);
}

static bool api_is_null(json_object *o)
{
    return o == NULL || json_object_get_type(o) == json_type_null;
}

/* The member key of obj, or NULL when absent or null. */
json_object *api_member(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(obj, key, &v) || api_is_null(v))
        return NULL;
    return v;
}

/* Context of one record, for messages. */
struct api_rec {
    size_t index;
    const char *id;
    mk_error *err;
};

static mk_status api_rec_error(const struct api_rec *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static mk_status api_rec_error(const struct api_rec *r, const char *fmt, ...)
{
    char what[256];
    char id[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (r->id) {
        api_clean_copy(id, sizeof(id), r->id);
        return mk_error_set(r->err, MK_ERR_PROTOCOL, "record %zu (id %s): %s", r->index + 1, id,
                            what);
    }
    return mk_error_set(r->err, MK_ERR_PROTOCOL, "record %zu: %s", r->index + 1, what);
}

/* Reads an optional string at obj.key into *out (a copy, NULL when absent).
 * A present value of another type is an error naming `field`. */
static mk_status api_opt_string(const struct api_rec *r, json_object *obj, const char *key,
                                const char *field, char **out)
{
    json_object *v = api_member(obj, key);
    *out = NULL;
    if (!v)
        return MK_OK;
    if (!json_object_is_type(v, json_type_string))
        return api_rec_error(r, "%s is not a string", field);
    *out = strdup(json_object_get_string(v));
    if (!*out)
        return mk_error_set(r->err, MK_ERR_NOMEM, "out of memory");
    return MK_OK;
}

/* An optional object at obj.key; a present non-object is an error. */
static mk_status api_opt_object(const struct api_rec *r, json_object *obj, const char *key,
                                const char *field, json_object **out)
{
    json_object *v = api_member(obj, key);
    *out = NULL;
    if (!v)
        return MK_OK;
    if (!json_object_is_type(v, json_type_object))
        return api_rec_error(r, "%s is not an object", field);
    *out = v;
    return MK_OK;
}

/* "" for a time that cannot be shown (base/timefmt.h leaves buf so). */
static void api_format_time(time_t t, char *buf, size_t size)
{
    (void)mk_time_format_utc((int64_t)t, buf, size);
}

/* ---- time ---- */

static bool api_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!mk_ascii_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool mk_parse_time(const char *s, time_t *out)
{
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int year, mon, day, hour, min, sec, off_h = 0, off_m = 0;

    if (!s || strlen(s) < 20)
        return false;
    if (!api_digits(s, 4, &year) || s[4] != '-' || !api_digits(s + 5, 2, &mon) || s[7] != '-'
        || !api_digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || !api_digits(s + 11, 2, &hour) || s[13] != ':' || !api_digits(s + 14, 2, &min)
        || s[16] != ':' || !api_digits(s + 17, 2, &sec))
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!mk_ascii_digit(*p))
            return false;
        while (mk_ascii_digit(*p))
            p++;
    }
    int sign = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && api_digits(p + 1, 2, &off_h)
               && p[3] == ':' && api_digits(p + 4, 2, &off_m)) {
        sign = *p == '+' ? 1 : -1;
        if (off_h > 23 || off_m > 59)
            return false;
    } else {
        return false;
    }
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hour > 23 || min > 59
        || sec > 60)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (mon == 2 && day == 29 && !leap)
        return false;
    struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                     .tm_hour = hour, .tm_min = min, .tm_sec = sec };
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31))
        return false;
    *out = t - (time_t)sign * ((time_t)off_h * 3600 + (time_t)off_m * 60);
    return true;
}

/* ---- records ---- */

static mk_status api_parse_person(const struct api_rec *r, json_object *v, const char *field,
                                  struct mk_person *out)
{
    mk_status rc;
    char name[64];
    if (json_object_is_type(v, json_type_string)) {
        out->email = strdup(json_object_get_string(v));
        return out->email ? MK_OK : mk_error_set(r->err, MK_ERR_NOMEM, "out of memory");
    }
    if (!json_object_is_type(v, json_type_object))
        return api_rec_error(r, "%s is neither a string nor an object", field);
    snprintf(name, sizeof(name), "%s.email", field);
    rc = api_opt_string(r, v, "email", name, &out->email);
    if (rc != MK_OK)
        return rc;
    snprintf(name, sizeof(name), "%s.name", field);
    return api_opt_string(r, v, "name", name, &out->name);
}

/* The record id: metadata.id, else a top-level id. */
static mk_status api_parse_id(struct api_rec *r, json_object *obj, json_object *metadata,
                              char **out)
{
    mk_status rc = api_opt_string(r, metadata, "id", "metadata.id", out);
    if (rc == MK_OK && !*out)
        rc = api_opt_string(r, obj, "id", "id", out);
    if (rc != MK_OK)
        return rc;
    if (!*out || !**out)
        return api_rec_error(r, "%s", "the record has no id");
    r->id = *out;
    return MK_OK;
}

mk_status mk_parse_user_org(json_object *obj, size_t index, struct mk_user_org *out,
                            mk_error *err)
{
    mk_status rc;
    struct api_rec r = { .index = index, .err = err };
    json_object *metadata = NULL, *spec = NULL, *invite = NULL;

    memset(out, 0, sizeof(*out));
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        rc = api_rec_error(&r, "%s", "is not a JSON object");
        goto out;
    }
    /* Read metadata's type before the id, and report it without an id. */
    rc = api_opt_object(&r, obj, "metadata", "metadata", &metadata);
    if (rc != MK_OK)
        goto out;
    rc = api_parse_id(&r, obj, metadata, &out->id);
    if (rc != MK_OK)
        goto out;
    rc = api_opt_object(&r, obj, "spec", "spec", &spec);
    if (rc != MK_OK)
        goto out;

    /* Published first, then the first edition's and older guesses. */
    static const struct { int where; const char *key; const char *field; } names[] = {
        { 1, "name", "metadata.name" },
        { 0, "name", "spec.name" },
        { 1, "displayName", "metadata.displayName" },
        { 2, "name", "name" },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !out->name; i++) {
        json_object *from = names[i].where == 0 ? spec : names[i].where == 1 ? metadata : obj;
        rc = api_opt_string(&r, from, names[i].key, names[i].field, &out->name);
        if (rc != MK_OK)
            goto out;
    }
    rc = api_opt_string(&r, metadata, "created", "metadata.created", &out->created);
    if (rc != MK_OK)
        goto out;

    const char *invite_field = "spec.invite";
    invite = api_member(spec, "invite");
    if (!invite) {
        invite = api_member(obj, "invite");
        invite_field = "invite";
    }
    if (!invite) {
        rc = MK_OK;
        goto out;
    }
    if (!json_object_is_type(invite, json_type_object)) {
        rc = api_rec_error(&r, "%s is not an object", invite_field);
        goto out;
    }
    struct mk_org_invite *inv = &out->invite;
    rc = api_opt_string(&r, invite, "state", "invite.state", &inv->state);
    if (rc == MK_OK && !inv->state && !(inv->state = strdup("pending")))
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    if (rc == MK_OK)
        rc = api_opt_string(&r, invite, "comment", "invite.comment", &inv->comment);
    if (rc == MK_OK)
        rc = api_opt_string(&r, invite, "expires", "invite.expires", &inv->expires);
    if (rc != MK_OK)
        goto out;
    static const char *const senders[] = { "invitedBy", "sentBy", "inviter" };
    for (size_t i = 0; i < 3; i++) {
        json_object *who = api_member(invite, senders[i]);
        if (!who)
            continue;
        char field[32];
        snprintf(field, sizeof(field), "invite.%s", senders[i]);
        rc = api_parse_person(&r, who, field, &inv->sender);
        if (rc != MK_OK)
            goto out;
        break;
    }
    if (!inv->expires && strcmp(inv->state, "pending") == 0) {
        char *invite_created = NULL;
        time_t created;
        rc = api_opt_string(&r, invite, "created", "invite.created", &invite_created);
        if (rc != MK_OK)
            goto out;
        /* Only the invite's own creation: the organization's says nothing
         * about when the invite was sent. */
        if (invite_created && mk_parse_time(invite_created, &created)) {
            char buf[32];
            api_format_time(created + MK_INVITE_LIFETIME_S, buf, sizeof(buf));
            inv->expires = strdup(buf);
            inv->expires_computed = inv->expires != NULL;
        }
        free(invite_created);
    }
    out->has_invite = strcmp(inv->state, "accepted") != 0;
    rc = MK_OK;
out:
    if (rc != MK_OK)
        mk_user_org_clear(out);
    return rc;
}

mk_status mk_parse_invite(json_object *obj, size_t index, struct mk_invite *out, mk_error *err)
{
    mk_status rc;
    struct api_rec r = { .index = index, .err = err };
    json_object *metadata = NULL, *spec = NULL, *status = NULL, *teams = NULL;

    memset(out, 0, sizeof(*out));
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        rc = api_rec_error(&r, "%s", "is not a JSON object");
        goto out;
    }
    rc = api_opt_object(&r, obj, "metadata", "metadata", &metadata);
    if (rc == MK_OK)
        rc = api_parse_id(&r, obj, metadata, &out->id);
    if (rc == MK_OK)
        rc = api_opt_object(&r, obj, "spec", "spec", &spec);
    if (rc == MK_OK)
        rc = api_opt_object(&r, obj, "status", "status", &status);
    if (rc == MK_OK)
        rc = api_opt_string(&r, metadata, "created", "metadata.created", &out->created);
    if (rc == MK_OK)
        rc = api_opt_string(&r, metadata, "expires", "metadata.expires", &out->expires);
    if (rc == MK_OK)
        rc = api_opt_string(&r, spec, "email", "spec.email", &out->email);
    if (rc == MK_OK)
        rc = api_opt_string(&r, spec, "comment", "spec.comment", &out->comment);
    if (rc == MK_OK)
        rc = api_opt_string(&r, status, "state", "status.state", &out->state);
    if (rc == MK_OK)
        rc = api_opt_string(&r, spec, "invitedByEmail", "spec.invitedByEmail",
                            &out->invited_by_email);
    if (rc == MK_OK)
        rc = api_opt_string(&r, spec, "invitedByName", "spec.invitedByName",
                            &out->invited_by_name);
    if (rc == MK_OK)
        rc = api_opt_string(&r, spec, "organizationName", "spec.organizationName",
                            &out->organization_name);
    if (rc != MK_OK)
        goto out;
    time_t created;
    if (!out->expires && out->created && mk_parse_time(out->created, &created)) {
        char buf[32];
        api_format_time(created + MK_INVITE_LIFETIME_S, buf, sizeof(buf));
        out->expires = strdup(buf);
        if (!out->expires) {
            rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            goto out;
        }
        out->expires_computed = true;
    }
    if (!out->email) {
        rc = api_rec_error(&r, "%s", "spec.email is missing");
        goto out;
    }
    teams = api_member(spec, "teams");
    if (teams) {
        if (!json_object_is_type(teams, json_type_array)) {
            rc = api_rec_error(&r, "%s", "spec.teams is not a list");
            goto out;
        }
        size_t n = json_object_array_length(teams);
        out->teams = calloc(n ? n : 1, sizeof(*out->teams));
        if (!out->teams) {
            rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            json_object *t = json_object_array_get_idx(teams, i);
            if (!json_object_is_type(t, json_type_string)) {
                rc = api_rec_error(&r, "%s", "spec.teams holds something other than a string");
                goto out;
            }
            out->teams[i] = strdup(json_object_get_string(t));
            if (!out->teams[i]) {
                rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
                goto out;
            }
            out->team_count++;
        }
    }
    rc = MK_OK;
out:
    if (rc != MK_OK)
        mk_invite_clear(out);
    return rc;
}

void mk_user_org_clear(struct mk_user_org *org)
{
    if (!org)
        return;
    free(org->id);
    free(org->name);
    free(org->created);
    free(org->invite.state);
    free(org->invite.comment);
    free(org->invite.sender.email);
    free(org->invite.sender.name);
    free(org->invite.expires);
    memset(org, 0, sizeof(*org));
}

void mk_user_org_list_free(struct mk_user_org_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        mk_user_org_clear(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

void mk_invite_clear(struct mk_invite *inv)
{
    if (!inv)
        return;
    free(inv->id);
    free(inv->created);
    free(inv->expires);
    free(inv->email);
    free(inv->comment);
    for (size_t i = 0; i < inv->team_count; i++)
        free(inv->teams[i]);
    free(inv->teams);
    free(inv->state);
    free(inv->invited_by_email);
    free(inv->invited_by_name);
    free(inv->organization_name);
    memset(inv, 0, sizeof(*inv));
}

void mk_invite_list_free(struct mk_invite_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++)
        mk_invite_clear(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}
