/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api.c: the six MK.IO organization calls (see api.h and
 * shared/docs/mkio-api.md).
 *
 * Decisions the contract leaves to us:
 * - One bad record fails the whole list, with its position (counted from 1
 *   in messages) and its id: a half-read list would make sync drop groups.
 * - JSON null counts as absent for every optional field.
 * - Published and first-edition (legacy) shapes are both read: the name in
 *   metadata.name (legacy spec.name), invitedBy a string or null (legacy an
 *   object {email, name}). An invite object without a state is read as
 *   pending (legacy); one whose state is "accepted" means the user has
 *   joined (has_invite false, the invite fields are still filled).
 * - No expiry is ever decided here. A legacy "expires" is kept for display;
 *   without one, an expiry is computed (and flagged as computed) only from
 *   the invite's own "created", never from the organization's.
 * - Strings from the server are shown with control characters replaced,
 *   so an error detail cannot rewrite a terminal or split a log line.
 * - 429 after the retries is MK_ERR_UNAVAILABLE (mk_error.h): being rate
 *   limited is a passing condition, like a 503.
 */
#include "net/api.h"
#include "base/text.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_USER_ORGS "/api/v1/user/organizations"
#define API_INVITES "/api/v1/organization/invites"

/* ---- small helpers ---- */

/* The server's text for a message: through the one output sanitizer. */
static void api_clean_copy(char *dst, size_t size, const char *src)
{
    mk_text_sanitize(src, dst, size);
}

static bool api_is_null(json_object *o)
{
    return o == NULL || json_object_get_type(o) == json_type_null;
}

/* The member key of obj, or NULL when absent or null. */
static json_object *api_member(json_object *obj, const char *key)
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

static void api_format_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%s", "");
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

/* ---- answers ---- */

mk_status mk_api_error_from_response(long http_status, const char *body, mk_error *err)
{
    mk_status status;
    const char *lead;
    const char *hint = "";
    char detail[400] = "";
    json_object *root = NULL;

    if (err) {
        err->http_status = http_status;
        err->code[0] = '\0';
        err->ref[0] = '\0';
    }
    if (http_status >= 300 && http_status < 400) {
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "unexpected redirect (HTTP %ld); not followed", http_status);
    }
    if (http_status >= 400 && http_status < 500 && http_status != 429) {
        status = MK_ERR_API;
        lead = "MK.IO refused the request";
    } else if (http_status == 429 || (http_status >= 500 && http_status < 600)) {
        status = MK_ERR_UNAVAILABLE;
        lead = http_status == 429 ? "MK.IO is rate limiting this organization"
                                  : "MK.IO failed to answer the request";
    } else {
        return mk_error_set(err, MK_ERR_PROTOCOL, "unexpected HTTP status %ld", http_status);
    }
    if (http_status == 401)
        hint = "; the token was refused (missing, malformed or expired)";
    else if (http_status == 403)
        hint = "; the token's user is not allowed to do this";

    if (body && *body) {
        json_tokener *tok = json_tokener_new();
        if (tok) {
            root = json_tokener_parse_ex(tok, body, (int)strnlen(body, 1 << 20));
            if (json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(root);
                root = NULL;
            }
            json_tokener_free(tok);
        }
    }
    json_object *error = api_member(root, "error");
    json_object *v;
    /* {"error": {"detail": ...}}, or (second edition) {"error": "..."}. */
    if (error && json_object_is_type(error, json_type_string))
        api_clean_copy(detail, sizeof(detail), json_object_get_string(error));
    else if ((v = api_member(error, "detail")) && json_object_is_type(v, json_type_string))
        api_clean_copy(detail, sizeof(detail), json_object_get_string(v));
    if (err && (v = api_member(error, "code")) && json_object_is_type(v, json_type_string))
        api_clean_copy(err->code, sizeof(err->code), json_object_get_string(v));
    if (err && (v = api_member(root, "ref")) && json_object_is_type(v, json_type_string))
        api_clean_copy(err->ref, sizeof(err->ref), json_object_get_string(v));
    json_object_put(root);

    if (!err)
        return status;
    char extra[256];
    int len = snprintf(extra, sizeof(extra), "HTTP %ld", http_status);
    if (err->code[0] && len >= 0 && (size_t)len < sizeof(extra))
        len += snprintf(extra + len, sizeof(extra) - (size_t)len, ", code %s", err->code);
    if (err->ref[0] && len >= 0 && (size_t)len < sizeof(extra))
        snprintf(extra + len, sizeof(extra) - (size_t)len, ", ref %s", err->ref);
    if (detail[0])
        return mk_error_set(err, status, "%s: %s (%s)%s", lead, detail, extra, hint);
    return mk_error_set(err, status, "%s (%s, no error detail)%s", lead, extra, hint);
}

static bool api_is_json_type(const char *content_type)
{
    const char *p = content_type;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen("application/json");
    if (!mk_ascii_case_equal_n(p, "application/json", n))
        return false;
    p += n;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == ';';
}

/* The body of a 2xx answer as JSON: *out is NULL for an empty body. */
static mk_status api_parse_body(const struct mk_http_response *resp, json_object **out,
                                mk_error *err)
{
    mk_status rc;
    json_tokener *tok = NULL;
    json_object *root = NULL;
    size_t len = resp->body_len;

    *out = NULL;
    while (len > 0 && mk_ascii_space(resp->body[len - 1]))
        len--;
    if (len == 0)
        return MK_OK;
    if (!api_is_json_type(resp->content_type)) {
        char ct[64];
        api_clean_copy(ct, sizeof(ct), resp->content_type);
        return mk_error_set(err, MK_ERR_PROTOCOL, "expected JSON, got %s",
                            ct[0] ? ct : "no content type");
    }
    if (len > (size_t)INT32_MAX || memchr(resp->body, '\0', len)) {
        rc = mk_error_set(err, MK_ERR_PROTOCOL, "the answer is not valid JSON");
        goto out;
    }
    tok = json_tokener_new();
    if (!tok) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    root = json_tokener_parse_ex(tok, resp->body, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success
        || json_tokener_get_parse_end(tok) != len) {
        rc = mk_error_set(err, MK_ERR_PROTOCOL, "the answer is not valid JSON");
        goto out;
    }
    *out = root;
    root = NULL;
    rc = MK_OK;
out:
    json_object_put(root);
    if (tok)
        json_tokener_free(tok);
    return rc;
}

/* One call: sends, judges the status and parses a 2xx body (*json may be
 * NULL when not wanted; it is NULL for an empty body). *received (when not
 * NULL) gets the size of the answer's body, 0 when none came. */
static mk_status api_call(mk_http *http, const char *method, const char *path,
                          const char *body, bool admin, json_object **json, size_t *received,
                          mk_error *err)
{
    mk_status rc;
    struct mk_http_request req = { .method = method, .path = path, .body = body };
    struct mk_http_response resp;
    json_object *root = NULL;

    if (json)
        *json = NULL;
    if (received)
        *received = 0;
    rc = mk_http_do(http, &req, &resp, err);
    if (rc != MK_OK)
        return rc;
    if (received)
        *received = resp.body_len;
    if (resp.status < 200 || resp.status > 299) {
        rc = mk_api_error_from_response(resp.status, resp.body, err);
        if (err)
            err->retry_after_ms = resp.retry_after_ms > 0 ? resp.retry_after_ms : 0;
        if (admin && resp.status == 403 && err) {
            /* The generic hint, made precise for the admin side: a 403
             * there means a missing RBAC capability, which any team of the
             * organization may hold (second edition), not "not the admin". */
            const char *cap = strcmp(method, "POST") == 0     ? "core.invite.create"
                              : strcmp(method, "DELETE") == 0 ? "core.invite.delete"
                                                              : "core.invite.get";
            char *hint = strstr(err->message, "; the token's user is not allowed");
            if (hint)
                snprintf(hint, sizeof(err->message) - (size_t)(hint - err->message),
                         "; the token lacks the RBAC capability %s (a team of the organization "
                         "that holds it must include the token's user)", cap);
        }
        goto out;
    }
    if (err)
        err->http_status = resp.status;
    rc = api_parse_body(&resp, &root, err);
    if (rc != MK_OK)
        goto out;
    if (json) {
        *json = root;
        root = NULL;
    }
out:
    json_object_put(root);
    mk_http_response_clear(&resp);
    return rc;
}

mk_status mk_api_explain_not_found(const struct mk_config *cfg, mk_error *err)
{
    if (!err || err->status != MK_ERR_API || err->http_status != 404)
        return err ? err->status : MK_OK;
    char url[300];
    mk_text_sanitize(cfg && cfg->base_url ? cfg->base_url : "", url, sizeof(url));
    /* mk_error_set keeps http_status, code and ref. */
    return mk_error_set(err, MK_ERR_USAGE,
                 "MK.IO has no such path (HTTP 404): base_url = %s in %s is probably wrong; "
                 "it must be the site alone, e.g. https://app.mk.io (every call adds /api/v1/...)",
                 url, cfg && cfg->source ? cfg->source : MK_CONFIG_DEFAULT_PATH);
}

/* Percent-escapes an id for a path: everything outside RFC 3986's
 * unreserved set. */
static mk_status api_escape_id(const char *id, const char *what, char **out, mk_error *err)
{
    static const char hex[] = "0123456789ABCDEF";
    *out = NULL;
    if (!id || !*id)
        return mk_error_set(err, MK_ERR_USAGE, "the %s id must not be empty", what);
    size_t n = strlen(id);
    if (n > 1024)
        return mk_error_set(err, MK_ERR_USAGE, "the %s id is too long", what);
    char *s = malloc(n * 3 + 1), *p = s;
    if (!s)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
        if (mk_ascii_alnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~') {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = '\0';
    *out = s;
    return MK_OK;
}

static char *api_join_path(const char *base, const char *escaped_id)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", base, escaped_id) < 0)
        return NULL;
    return path;
}

/* ---- pagination ---- */

static mk_status api_page_int(json_object *pagination, const char *key, bool *present,
                              long *out, mk_error *err)
{
    json_object *v = api_member(pagination, key);
    *present = false;
    if (!v)
        return MK_OK;
    if (!json_object_is_type(v, json_type_int))
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "supplemental.pagination.%s is not an integer", key);
    int64_t n = json_object_get_int64(v);
    if (n < 0 || n > (int64_t)LONG_MAX / 2)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "supplemental.pagination.%s is out of range", key);
    *out = (long)n;
    *present = true;
    return MK_OK;
}

mk_status mk_api_next_page(json_object *answer, size_t records, size_t running_count,
                           long *next_skiptoken, bool *done, mk_error *err)
{
    mk_status rc;
    json_object *supplemental = api_member(answer, "supplemental");
    json_object *pagination;
    bool has_start, has_end, has_total;
    long start = 0, end = 0, total = 0;

    *done = true;
    *next_skiptoken = 0;
    if (!supplemental)
        return MK_OK;
    if (!json_object_is_type(supplemental, json_type_object))
        return mk_error_set(err, MK_ERR_PROTOCOL, "supplemental is not an object");
    pagination = api_member(supplemental, "pagination");
    if (!pagination)
        return MK_OK;
    if (!json_object_is_type(pagination, json_type_object))
        return mk_error_set(err, MK_ERR_PROTOCOL, "supplemental.pagination is not an object");
    if ((rc = api_page_int(pagination, "start", &has_start, &start, err)) != MK_OK
        || (rc = api_page_int(pagination, "end", &has_end, &end, err)) != MK_OK
        || (rc = api_page_int(pagination, "total", &has_total, &total, err)) != MK_OK)
        return rc;
    if (records == 0)
        return MK_OK;
    if (has_total && running_count >= (size_t)total)
        return MK_OK;
    if (!has_end)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the server claims more pages but gave no pagination end");
    if (end <= start)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the server's pagination did not advance (start %ld, end %ld)",
                            start, end);
    *next_skiptoken = end;
    *done = false;
    return MK_OK;
}

/* The length of "scheme://authority" at the start of url, 0 when it has none. */
static size_t api_origin_length(const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return 0;
    for (const char *c = url; c < sep; c++)
        if (!mk_ascii_alnum(*c) && *c != '+' && *c != '-' && *c != '.')
            return 0;
    const char *p = sep + 3;
    while (*p && *p != '/' && *p != '?' && *p != '#')
        p++;
    return (size_t)(p - url);
}

/* Compares two "scheme://host[:port]" origins: scheme and host without
 * regard to case, the port with the scheme's default filled in. */
static bool api_same_origin(const char *a, size_t alen, const char *b, size_t blen)
{
    char x[2][320];
    const char *src[2] = { a, b };
    size_t len[2] = { alen, blen };
    for (int k = 0; k < 2; k++) {
        if (len[k] >= sizeof(x[k]) - 8)
            return false;
        for (size_t i = 0; i < len[k]; i++)
            x[k][i] = (char)mk_ascii_tolower((unsigned char)src[k][i]);
        x[k][len[k]] = '\0';
        const char *host = strstr(x[k], "://") + 3;
        if (strchr(host, '@'))
            return false; /* credentials in a link: never ours */
        const char *colon = strrchr(host, ':');
        const char *bracket = strrchr(host, ']');
        if (!colon || (bracket && colon < bracket)) {
            if (strncmp(x[k], "https://", 8) == 0)
                strcat(x[k], ":443");
            else if (strncmp(x[k], "http://", 7) == 0)
                strcat(x[k], ":80");
        }
    }
    return strcmp(x[0], x[1]) == 0;
}

mk_status mk_api_resolve_next_link(const char *base_url, const char *link, char **path,
                                   mk_error *err)
{
    char shown[160];
    *path = NULL;
    if (!base_url || !link || !*link)
        return mk_error_set(err, MK_ERR_PROTOCOL, "@odata.nextLink is empty");
    api_clean_copy(shown, sizeof(shown), link);
    for (const unsigned char *c = (const unsigned char *)link; *c; c++)
        if (*c <= 0x20 || *c == 0x7f || *c == '#' || *c == '\\')
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "@odata.nextLink \"%s\" is not a plain path; not followed", shown);
    size_t base_origin = api_origin_length(base_url);
    if (base_origin == 0)
        return mk_error_set(err, MK_ERR_PROTOCOL, "base_url has no scheme and host");
    const char *rest = link;
    if (link[0] == '/' && link[1] == '/')
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "@odata.nextLink \"%s\" names another host; not followed", shown);
    if (link[0] != '/') {
        size_t link_origin = api_origin_length(link);
        if (link_origin == 0 || !api_same_origin(base_url, base_origin, link, link_origin))
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "@odata.nextLink \"%s\" is not on base_url's scheme, host and "
                                "port; not followed", shown);
        rest = link + link_origin;
        if (*rest != '/')
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "@odata.nextLink \"%s\" has no path; not followed", shown);
    }
    /* base_url's own path (without a trailing '/') must lead the link's:
     * the client sends base_url + path. */
    const char *base_path = base_url + base_origin;
    size_t base_path_len = strlen(base_path);
    while (base_path_len > 0 && base_path[base_path_len - 1] == '/')
        base_path_len--;
    if (strncmp(rest, base_path, base_path_len) != 0 || rest[base_path_len] != '/')
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "@odata.nextLink \"%s\" is outside base_url; not followed", shown);
    *path = strdup(rest + base_path_len);
    if (!*path)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    return MK_OK;
}

/* The links a listing has followed, to refuse one seen before. */
struct api_seen_links {
    char **links;
    size_t count;
};

static void api_seen_links_free(struct api_seen_links *seen)
{
    for (size_t i = 0; i < seen->count; i++)
        free(seen->links[i]);
    free(seen->links);
    seen->links = NULL;
    seen->count = 0;
}

/* Records path; MK_ERR_PROTOCOL when it was seen before (a loop). */
static mk_status api_seen_links_add(struct api_seen_links *seen, const char *path, mk_error *err)
{
    for (size_t i = 0; i < seen->count; i++)
        if (strcmp(seen->links[i], path) == 0)
            return mk_error_set(err, MK_ERR_PROTOCOL,
                                "the server's @odata.nextLink points back to a page already read "
                                "(page %zu); not followed", i + 2);
    char **grown = realloc(seen->links, (seen->count + 1) * sizeof(*grown));
    if (!grown)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    seen->links = grown;
    if (!(seen->links[seen->count] = strdup(path)))
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    seen->count++;
    return MK_OK;
}

typedef mk_status (*api_item_fn)(json_object *obj, size_t index, void *items, size_t at,
                                 mk_error *err);

static mk_status api_user_org_item(json_object *obj, size_t index, void *items, size_t at,
                                   mk_error *err)
{
    return mk_parse_user_org(obj, index, &((struct mk_user_org *)items)[at], err);
}

static mk_status api_invite_item(json_object *obj, size_t index, void *items, size_t at,
                                 mk_error *err)
{
    return mk_parse_invite(obj, index, &((struct mk_invite *)items)[at], err);
}

/* "16M", "512K" or "1000 bytes", for messages about a size key. */
static void api_size_text(size_t bytes, char *buf, size_t size)
{
    if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
        snprintf(buf, size, "%zuM", bytes / (1024 * 1024));
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(buf, size, "%zuK", bytes / 1024);
    else
        snprintf(buf, size, "%zu bytes", bytes);
}

/* A listing passed a bound of the configuration: the message names the key,
 * its value and where it was set, so the administrator knows what to change. */
static mk_status api_list_too_long(const struct mk_config *cfg, const char *what,
                                   const char *key, const char *value, mk_error *err)
{
    if (cfg->source && strcmp(cfg->source, "(defaults)") != 0)
        return mk_error_set(err, MK_ERR_PROTOCOL,
                            "the %s is longer than %s (%s) in %s; the server may be misbehaving; "
                            "if the list really is that long, raise %s", what, key, value,
                            cfg->source, key);
    return mk_error_set(err, MK_ERR_PROTOCOL,
                        "the %s is longer than %s (%s, the default); the server may be "
                        "misbehaving; if the list really is that long, raise %s in %s", what, key,
                        value, key, MK_CONFIG_DEFAULT_PATH);
}

/* Follows a list endpoint to its end, growing *items (of item_size bytes
 * each) by parse_item. `what` names the list in messages. The whole listing
 * is bounded by max_list_records and max_list_size of the configuration, as
 * one page is by max_response_size: a server that keeps sending pages
 * cannot make the caller hold or wait for more. On failure *count items
 * are filled for the caller to free. */
static mk_status api_list(mk_http *http, const char *base, const char *what, bool admin,
                          size_t item_size, api_item_fn parse_item, void **items, size_t *count,
                          mk_error *err)
{
    mk_status rc = MK_OK;
    const struct mk_config *cfg = mk_http_config(http);
    json_object *answer = NULL;
    char *path = NULL;
    long skiptoken = -1;
    char *next_link = NULL; /* the next page's path from @odata.nextLink */
    struct api_seen_links seen = { 0 };
    size_t cap = 0;
    size_t total_bytes = 0;
    char limit[32];

    for (unsigned page = 0;; page++) {
        if (page >= MK_API_MAX_PAGES) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL,
                              "the server's list went on for more than %d pages", MK_API_MAX_PAGES);
            goto out;
        }
        free(path);
        path = NULL;
        int n = 0;
        if (next_link) {
            path = next_link;
            next_link = NULL;
        } else if (skiptoken < 0) {
            /* The published lists are unpaged: ask for the list as it is,
             * and page only where the server's answer says to. */
            n = asprintf(&path, "%s", base);
        } else {
            n = asprintf(&path, "%s?$skiptoken=%ld", base, skiptoken);
        }
        if (n < 0) {
            path = NULL;
            rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            goto out;
        }
        json_object_put(answer);
        size_t received = 0;
        rc = api_call(http, "GET", path, NULL, admin, &answer, &received, err);
        if (rc != MK_OK && page == 0)
            rc = mk_api_explain_not_found(cfg, err);
        if (rc != MK_OK)
            goto out;
        total_bytes += received;
        if (total_bytes > cfg->max_list_bytes) {
            api_size_text(cfg->max_list_bytes, limit, sizeof(limit));
            rc = api_list_too_long(cfg, what, "max_list_size", limit, err);
            goto out;
        }
        json_object *value = NULL;
        if (!answer || !json_object_is_type(answer, json_type_object)
            || !json_object_object_get_ex(answer, "value", &value)) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL, "the answer has no \"value\" list");
            goto out;
        }
        if (!json_object_is_type(value, json_type_array)) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL, "the answer's \"value\" is not a list");
            goto out;
        }
        size_t records = json_object_array_length(value);
        if (records > cfg->max_list_records - *count) {
            snprintf(limit, sizeof(limit), "%zu", cfg->max_list_records);
            rc = api_list_too_long(cfg, what, "max_list_records", limit, err);
            goto out;
        }
        if (*count + records > cap) {
            size_t want = cap ? cap : 16;
            while (want < *count + records)
                want *= 2;
            void *grown = realloc(*items, want * item_size);
            if (!grown) {
                rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
                goto out;
            }
            *items = grown;
            cap = want;
        }
        for (size_t i = 0; i < records; i++) {
            rc = parse_item(json_object_array_get_idx(value, i), *count, *items, *count, err);
            if (rc != MK_OK)
                goto out;
            (*count)++;
        }
        if (records == 0)
            break; /* an empty page ends the list, whatever it links to */
        json_object *link = api_member(answer, "@odata.nextLink");
        if (link) {
            if (!json_object_is_type(link, json_type_string)) {
                rc = mk_error_set(err, MK_ERR_PROTOCOL, "@odata.nextLink is not a string");
                goto out;
            }
            rc = mk_api_resolve_next_link(cfg->base_url, json_object_get_string(link),
                                          &next_link, err);
            if (rc == MK_OK)
                rc = api_seen_links_add(&seen, next_link, err);
            if (rc != MK_OK)
                goto out;
            continue;
        }
        long next;
        bool done;
        rc = mk_api_next_page(answer, records, *count, &next, &done, err);
        if (rc != MK_OK)
            goto out;
        if (done)
            break;
        if (next <= skiptoken) {
            rc = mk_error_set(err, MK_ERR_PROTOCOL,
                              "the server's pagination did not advance (start %ld, end %ld)",
                              skiptoken, next);
            goto out;
        }
        skiptoken = next;
    }
    rc = MK_OK;
out:
    free(next_link);
    api_seen_links_free(&seen);
    free(path);
    json_object_put(answer);
    return rc;
}

/* ---- the six calls ---- */

mk_status mk_user_orgs_list(mk_http *http, struct mk_user_org_list *out, mk_error *err)
{
    void *items = NULL;
    size_t count = 0;
    memset(out, 0, sizeof(*out));
    mk_status rc = api_list(http, API_USER_ORGS, "organization list", false,
                            sizeof(struct mk_user_org), api_user_org_item, &items, &count, err);
    out->items = items;
    out->count = count;
    if (rc != MK_OK) {
        mk_user_org_list_free(out);
        mk_error_prefix(err, "listing your organizations");
    }
    return rc;
}

mk_status mk_invites_list(mk_http *http, struct mk_invite_list *out, mk_error *err)
{
    void *items = NULL;
    size_t count = 0;
    memset(out, 0, sizeof(*out));
    mk_status rc = api_list(http, API_INVITES, "invite list", true, sizeof(struct mk_invite),
                            api_invite_item, &items, &count, err);
    out->items = items;
    out->count = count;
    if (rc != MK_OK) {
        mk_invite_list_free(out);
        mk_error_prefix(err, "listing the organization's invites");
    }
    return rc;
}

/* A refused accept that no retry can change (the invite expired, was
 * cancelled or was already answered; MK.IO answers 400, 404 or 409): the
 * message says what to do. The HTTP layer retries none of these. */
static void api_accept_final_advice(mk_error *err)
{
    if (!err || (err->http_status != 400 && err->http_status != 404 && err->http_status != 409))
        return;
    size_t len = strnlen(err->message, sizeof(err->message));
    snprintf(err->message + len, sizeof(err->message) - len, "%s",
             "; the invite is gone (expired, cancelled or answered): "
             "ask the organization's admin for a new invite");
}

static const char API_ACCEPT_BODY[] = "{\"spec\":{\"invite\":{\"state\":\"accepted\"}}}";

mk_status mk_user_org_accept(mk_http *http, const char *org_id, struct mk_user_org *out,
                             mk_error *err)
{
    mk_status rc;
    char *escaped = NULL, *path = NULL;
    json_object *answer = NULL;

    if (out)
        memset(out, 0, sizeof(*out));
    rc = api_escape_id(org_id, "organization", &escaped, err);
    if (rc != MK_OK)
        goto out;
    path = api_join_path(API_USER_ORGS, escaped);
    if (!path) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = api_call(http, "PATCH", path, API_ACCEPT_BODY, false, out ? &answer : NULL, NULL, err);
    if (rc == MK_ERR_API)
        api_accept_final_advice(err);
    if (rc != MK_OK || !out)
        goto out;
    if (answer) {
        rc = mk_parse_user_org(answer, 0, out, err);
    } else {
        /* A bodiless success: all we know is the id and that it is joined. */
        out->id = strdup(org_id);
        rc = out->id ? MK_OK : mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    }
out:
    if (rc != MK_OK && org_id && *org_id)
        mk_error_prefix(err, "accepting the invite to %.100s", org_id);
    json_object_put(answer);
    free(path);
    free(escaped);
    return rc;
}

mk_status mk_user_org_accept_many(mk_http *http, const char *const *org_ids, size_t n,
                                  mk_status *statuses, mk_error *errs)
{
    mk_status rc = MK_OK;
    struct mk_http_request *reqs = calloc(n ? n : 1, sizeof(*reqs));
    struct mk_http_response *resps = calloc(n ? n : 1, sizeof(*resps));
    mk_status *sent = calloc(n ? n : 1, sizeof(*sent));
    size_t *which = calloc(n ? n : 1, sizeof(*which));
    char **paths = calloc(n ? n : 1, sizeof(*paths));
    size_t m = 0;

    if (!reqs || !resps || !sent || !which || !paths) {
        for (size_t i = 0; i < n; i++)
            statuses[i] = mk_error_set(errs ? &errs[i] : NULL, MK_ERR_NOMEM, "out of memory");
        rc = n ? MK_ERR_NOMEM : MK_OK;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        mk_error *e = errs ? &errs[i] : NULL;
        char *escaped = NULL;
        mk_error_clear(e);
        statuses[i] = api_escape_id(org_ids[i], "organization", &escaped, e);
        if (statuses[i] != MK_OK)
            continue;
        paths[i] = api_join_path(API_USER_ORGS, escaped);
        free(escaped);
        if (!paths[i]) {
            statuses[i] = mk_error_set(e, MK_ERR_NOMEM, "out of memory");
            continue;
        }
        reqs[m] = (struct mk_http_request){ .method = "PATCH", .path = paths[i],
                                            .body = API_ACCEPT_BODY };
        which[m++] = i;
    }
    mk_error *sent_errs = errs ? calloc(m ? m : 1, sizeof(*sent_errs)) : NULL;
    if (errs && !sent_errs) {
        for (size_t k = 0; k < m; k++)
            statuses[which[k]] = mk_error_set(&errs[which[k]], MK_ERR_NOMEM, "out of memory");
        m = 0;
    }
    if (m > 0)
        mk_http_do_many(http, reqs, m, resps, sent, sent_errs);
    for (size_t k = 0; k < m; k++) {
        size_t i = which[k];
        mk_error *e = errs ? &errs[i] : NULL;
        if (sent[k] != MK_OK) {
            statuses[i] = sent[k];
            if (e)
                *e = sent_errs[k];
        } else if (resps[k].status < 200 || resps[k].status > 299) {
            statuses[i] = mk_api_error_from_response(resps[k].status, resps[k].body, e);
            if (e)
                e->retry_after_ms = resps[k].retry_after_ms > 0 ? resps[k].retry_after_ms : 0;
            if (statuses[i] == MK_ERR_API)
                api_accept_final_advice(e);
        } else {
            statuses[i] = MK_OK;
            if (e)
                e->http_status = resps[k].status;
        }
        if (statuses[i] != MK_OK)
            mk_error_prefix(e, "accepting the invite to %.100s", org_ids[i]);
        mk_http_response_clear(&resps[k]);
    }
    free(sent_errs);
    for (size_t i = 0; i < n; i++)
        if (statuses[i] != MK_OK && rc == MK_OK)
            rc = statuses[i];
out:
    if (paths)
        for (size_t i = 0; i < n; i++)
            free(paths[i]);
    free(paths);
    free(which);
    free(sent);
    free(resps);
    free(reqs);
    return rc;
}

static mk_status api_delete(mk_http *http, const char *base, const char *id, const char *what,
                            bool admin, mk_error *err)
{
    mk_status rc;
    char *escaped = NULL, *path = NULL;

    rc = api_escape_id(id, what, &escaped, err);
    if (rc != MK_OK)
        goto out;
    path = api_join_path(base, escaped);
    if (!path) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = api_call(http, "DELETE", path, NULL, admin, NULL, NULL, err);
out:
    free(path);
    free(escaped);
    return rc;
}

mk_status mk_user_org_delete(mk_http *http, const char *org_id, mk_error *err)
{
    mk_status rc = api_delete(http, API_USER_ORGS, org_id, "organization", false, err);
    if (rc != MK_OK && org_id && *org_id)
        mk_error_prefix(err, "leaving or declining %.100s", org_id);
    return rc;
}

mk_status mk_invite_cancel(mk_http *http, const char *invite_id, mk_error *err)
{
    mk_status rc = api_delete(http, API_INVITES, invite_id, "invite", true, err);
    if (rc != MK_OK && invite_id && *invite_id)
        mk_error_prefix(err, "cancelling the invite %.100s", invite_id);
    return rc;
}

mk_status mk_invite_create(mk_http *http, const char *email, const char *comment,
                           const char *const *teams, size_t team_count,
                           struct mk_invite *out, mk_error *err)
{
    mk_status rc;
    json_object *body = NULL, *answer = NULL;

    if (out)
        memset(out, 0, sizeof(*out));
    if (!email || !*email) {
        rc = mk_error_set(err, MK_ERR_USAGE, "an invite needs an email address");
        goto out;
    }
    body = json_object_new_object();
    json_object *spec = json_object_new_object();
    if (!body || !spec || json_object_object_add(body, "spec", spec) != 0) {
        json_object_put(spec);
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    bool ok = json_object_object_add(spec, "email", json_object_new_string(email)) == 0;
    /* The published API requires comment in every POST. */
    if (ok)
        ok = json_object_object_add(spec, "comment",
                                    json_object_new_string(comment ? comment : "")) == 0;
    if (ok && teams && team_count > 0) {
        json_object *list = json_object_new_array();
        ok = list && json_object_object_add(spec, "teams", list) == 0;
        for (size_t i = 0; ok && i < team_count; i++) {
            if (!teams[i] || !*teams[i]) {
                rc = mk_error_set(err, MK_ERR_USAGE, "a team name must not be empty");
                goto out;
            }
            ok = json_object_array_add(list, json_object_new_string(teams[i])) == 0;
        }
    }
    if (!ok) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN
                                                                | JSON_C_TO_STRING_NOSLASHESCAPE);
    rc = api_call(http, "POST", API_INVITES, text, true, out ? &answer : NULL, NULL, err);
    if (rc != MK_OK || !out)
        goto out;
    if (!answer) {
        rc = mk_error_set(err, MK_ERR_PROTOCOL, "the server created the invite but sent no record");
        goto out;
    }
    rc = mk_parse_invite(answer, 0, out, err);
out:
    if (rc != MK_OK && email && *email)
        mk_error_prefix(err, "inviting %.100s", email);
    json_object_put(answer);
    json_object_put(body);
    return rc;
}

/* ---- JSON for scripts ---- */

static json_object *api_json_string(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

json_object *mk_user_org_to_json(const struct mk_user_org *org)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    const struct mk_org_invite *inv = org->has_invite ? &org->invite : NULL;
    json_object_object_add(o, "id", api_json_string(org->id));
    json_object_object_add(o, "name", api_json_string(org->name));
    json_object_object_add(o, "state", api_json_string(inv ? inv->state : "joined"));
    json_object *by = NULL;
    if (inv) {
        by = json_object_new_object();
        if (by) {
            json_object_object_add(by, "email", api_json_string(inv->sender.email));
            json_object_object_add(by, "name", api_json_string(inv->sender.name));
        }
    }
    json_object_object_add(o, "invited_by", by);
    json_object_object_add(o, "comment", api_json_string(inv ? inv->comment : NULL));
    json_object_object_add(o, "expires", api_json_string(inv ? inv->expires : NULL));
    json_object_object_add(o, "expires_computed",
                           inv ? json_object_new_boolean(inv->expires_computed) : NULL);
    json_object_object_add(o, "created", api_json_string(org->created));
    return o;
}

json_object *mk_invite_to_json(const struct mk_invite *inv)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "id", api_json_string(inv->id));
    json_object_object_add(o, "email", api_json_string(inv->email));
    json_object_object_add(o, "comment", api_json_string(inv->comment));
    json_object *teams = json_object_new_array();
    for (size_t i = 0; teams && i < inv->team_count; i++)
        json_object_array_add(teams, json_object_new_string(inv->teams[i]));
    json_object_object_add(o, "teams", teams);
    json_object_object_add(o, "state", api_json_string(inv->state));
    json_object_object_add(o, "created", api_json_string(inv->created));
    json_object_object_add(o, "expires", api_json_string(inv->expires));
    json_object_object_add(o, "expires_computed", json_object_new_boolean(inv->expires_computed));
    json_object_object_add(o, "invited_by_email", api_json_string(inv->invited_by_email));
    json_object_object_add(o, "invited_by_name", api_json_string(inv->invited_by_name));
    json_object_object_add(o, "organization_name", api_json_string(inv->organization_name));
    return o;
}
