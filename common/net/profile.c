/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/profile.c: GET /api/v1/user/profile (see profile.h). */
#include "net/profile.h"
#include "net/api.h"

#include <json-c/json.h>
#include <string.h>

static json_object *profile_member(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object)
        || !json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

/* Copies a string member, sanitized; a member of another type is an error
 * (the contract says string), an absent or null one leaves "". */
static mk_status profile_string(json_object *obj, const char *key, char *dst, size_t size,
                                mk_error *err)
{
    json_object *v = profile_member(obj, key);
    dst[0] = '\0';
    if (!v)
        return MK_OK;
    if (!json_object_is_type(v, json_type_string))
        return mk_error_set(err, MK_ERR_PROTOCOL, "the profile's %s is not a string", key);
    mk_text_sanitize(json_object_get_string(v), dst, size);
    return MK_OK;
}

mk_status mk_profile_parse(const char *body, size_t len, struct mk_profile *out, mk_error *err)
{
    mk_status st = MK_OK;
    json_tokener *tok = NULL;
    json_object *root = NULL;

    memset(out, 0, sizeof(*out));
    out->is_active = true;
    if (!body || len == 0)
        return mk_error_set(err, MK_ERR_PROTOCOL, "MK.IO answered the profile with an empty body");
    if (len > (1u << 20))
        return mk_error_set(err, MK_ERR_PROTOCOL, "MK.IO's profile answer is too large");
    tok = json_tokener_new();
    if (!tok)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory reading the profile");
    root = json_tokener_parse_ex(tok, body, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success
        || json_tokener_get_parse_end(tok) != len || !json_object_is_type(root, json_type_object)) {
        st = mk_error_set(err, MK_ERR_PROTOCOL, "MK.IO's profile answer is not a JSON object");
        goto out;
    }
    json_object *spec = profile_member(root, "spec");
    if (!spec || !json_object_is_type(spec, json_type_object)) {
        st = mk_error_set(err, MK_ERR_PROTOCOL, "MK.IO's profile answer has no spec object");
        goto out;
    }
    json_object *metadata = profile_member(root, "metadata");
    if ((st = profile_string(metadata, "id", out->id, sizeof(out->id), err)) != MK_OK
        || (st = profile_string(spec, "name", out->name, sizeof(out->name), err)) != MK_OK
        || (st = profile_string(spec, "loginEmail", out->login_email, sizeof(out->login_email),
                                err)) != MK_OK
        || (st = profile_string(spec, "contactEmail", out->contact_email,
                                sizeof(out->contact_email), err)) != MK_OK
        || (st = profile_string(spec, "activeOrganizationId", out->active_org_id,
                                sizeof(out->active_org_id), err)) != MK_OK)
        goto out;
    json_object *active = profile_member(spec, "isActive");
    if (active && json_object_is_type(active, json_type_boolean))
        out->is_active = json_object_get_boolean(active);
    if (!out->login_email[0] && !out->id[0])
        st = mk_error_set(err, MK_ERR_PROTOCOL,
                          "MK.IO's profile answer names no user (no loginEmail, no id)");
out:
    json_object_put(root);
    json_tokener_free(tok);
    if (st != MK_OK) {
        memset(out, 0, sizeof(*out));
        out->is_active = true;
    }
    return st;
}

mk_status mk_profile_get(mk_http *http, struct mk_profile *out, mk_error *err)
{
    struct mk_http_request req = { .method = "GET", .path = MK_PROFILE_PATH, .body = NULL };
    struct mk_http_response resp;
    mk_status st;

    memset(out, 0, sizeof(*out));
    out->is_active = true;
    memset(&resp, 0, sizeof(resp));
    st = mk_http_do(http, &req, &resp, err);
    if (st != MK_OK)
        return st;
    if (resp.status >= 200 && resp.status < 300)
        st = mk_profile_parse(resp.body, resp.body_len, out, err);
    else if (mk_api_error_from_response(resp.status, resp.body, err) != MK_OK)
        st = mk_api_explain_not_found(mk_http_config(http), err);
    mk_http_response_clear(&resp);
    if (st != MK_OK)
        mk_error_prefix(err, "reading your profile");
    return st;
}
