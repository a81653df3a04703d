/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api_call.c: one call of the MK.IO API: the request through
 * the HTTP client, the status judged (an API error read from its body),
 * the answer's body checked to be JSON and parsed.
 */
#include "net/api.h"
#include "net/api_call.h"
#include "net/api_model.h"
#include "base/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
mk_status api_call(mk_http *http, const char *method, const char *path,
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
