/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api.c: the six MK.IO organization calls (see api.h and
 * docs/mkio-api.md).
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
 * Its other files: api_model.c (the records read from JSON and written back
 * as JSON), api_call.c (one call: request, status, body), api_list.c (a
 * list followed page by page).
 */
#include "net/api.h"
#include "net/api_call.h"
#include "net/api_list.h"
#include "net/api_model.h"
#include "base/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define API_USER_ORGS "/api/v1/user/organizations"
#define API_INVITES "/api/v1/organization/invites"

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

/* Percent-escapes an id for a path: everything outside RFC 3986's
 * unreserved set, by libcurl's curl_easy_escape (which needs no handle). */
static mk_status api_escape_id(const char *id, const char *what, char **out, mk_error *err)
{
    *out = NULL;
    if (!id || !*id)
        return mk_error_set(err, MK_ERR_USAGE, "the %s id must not be empty", what);
    size_t n = strlen(id);
    if (n > 1024)
        return mk_error_set(err, MK_ERR_USAGE, "the %s id is too long", what);
    /* A UUID (what the API's ids are) in its canonical, lower-case form:
     * the API may not take another spelling of it. */
    char uuid[MK_UUID_LEN + 1];
    if (mk_uuid_canonical(id, uuid))
        id = uuid;
    char *escaped = curl_easy_escape(NULL, id, (int)n);
    *out = escaped ? strdup(escaped) : NULL;
    curl_free(escaped);
    if (!*out)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    return MK_OK;
}

static char *api_join_path(const char *base, const char *escaped_id)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", base, escaped_id) < 0)
        return NULL;
    return path;
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
        mk_error_prefix(err, MK_API_LIST_ORGS_CONTEXT);
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
    if (strcmp(err->code, "alreadyMember") == 0) {
        /* Nothing is gone: the user is in already. */
        snprintf(err->message + len, sizeof(err->message) - len, "%s",
                 "; you are already a member of this organization: nothing to accept");
        return;
    }
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
