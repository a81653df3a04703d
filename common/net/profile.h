/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/profile.h: whose token this is, from GET /api/v1/user/profile
 * (docs/mkio-api.md, second edition). It needs authentication only, so it is
 * how `mkio-orgs login` checks a token before keeping it, and how whoami
 * names the user. Every string is passed through mk_text_sanitize.
 *
 * Error convention, as in all of net/ (docs/ARCHITECTURE.md, "Error
 * conventions"): MK_OK, or the failure with err set by mk_error_set.
 */
#ifndef MK_PROFILE_H
#define MK_PROFILE_H

#include <stdbool.h>

#include "net/http.h"
#include "base/mk_error.h"
#include "base/text.h"

#define MK_PROFILE_PATH "/api/v1/user/profile"

struct mk_profile {
    char id[128];                          /* metadata.id, "" when absent */
    char name[MK_DISPLAY_NAME_MAX];        /* spec.name (optional), "" when absent */
    char login_email[256];                 /* spec.loginEmail */
    char contact_email[256];               /* spec.contactEmail, "" when absent */
    char active_org_id[MK_ORG_ID_MAX + 1]; /* spec.activeOrganizationId, "" when absent */
    bool is_active;                        /* spec.isActive (true when absent) */
};

/* One GET of the profile. MK_OK with *out filled on a 2xx whose body is a
 * JSON object with a spec object. An error answer is read as every API
 * error is (api.h, mk_api_error_from_response): MK_ERR_API with
 * err->http_status 401 means the token was refused. MK_ERR_UNAVAILABLE for
 * the network; MK_ERR_PROTOCOL for an answer that is not a profile. */
mk_status mk_profile_get(mk_http *http, struct mk_profile *out, mk_error *err);

/* The same reading of a body already received (for tests and callers that
 * have one). */
mk_status mk_profile_parse(const char *body, size_t len, struct mk_profile *out, mk_error *err);

#endif
