/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api.h: the six MK.IO organization calls and the model they speak.
 *
 * Requests are sent as docs/mkio-api.md (second edition) documents;
 * answers are read in the published shapes and in the first edition's
 * (legacy) ones. A list is one unpaged {kind, value} answer unless it says
 * otherwise: @odata.nextLink is followed (only to base_url's scheme, host and
 * port), else supplemental.pagination continues with $skiptoken = end while
 * fewer than total records came. An empty page ends a list; a link seen
 * before, an offset that does not advance, more than MK_API_MAX_PAGES pages,
 * or more than max_list_records records or max_list_size bytes of the
 * client's configuration is MK_ERR_PROTOCOL (naming the key; nothing of the
 * list kept). No expiry is ever decided here: the server decides.
 * Error bodies become mk_error: message carries error.detail, ref the ref.
 * API refusals (4xx) are MK_ERR_API; 5xx after retries MK_ERR_UNAVAILABLE.
 *
 * Error convention, as in all of net/ (docs/ARCHITECTURE.md, "Error
 * conventions"): a function returning mk_status returns MK_OK or the
 * failure with err set by mk_error_set; an answer of the API that is an
 * error gives MK_ERR_API with http_status, code and ref filled.
 */
#ifndef MK_API_H
#define MK_API_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "net/http.h"
#include "base/mk_error.h"

#define MK_API_MAX_PAGES 1000
#define MK_INVITE_LIFETIME_S (14L * 24 * 3600)

struct mk_person {
    char *email; /* may be NULL */
    char *name;  /* may be NULL */
};

/* The invite object of a user organization record (absent once joined). */
struct mk_org_invite {
    char *state;             /* as sent; "pending" when the record names none (legacy) */
    char *comment;           /* may be NULL */
    struct mk_person sender; /* invitedBy (a string, legacy an object) | sentBy | inviter */
    char *expires;           /* for display only, never a decision; RFC 3339, may be NULL */
    bool expires_computed;   /* expires is the invite's created + 14 days, not sent */
};

/* An item of GET /user/organizations. */
struct mk_user_org {
    char *id;
    char *name;      /* may be NULL when the record has none */
    char *created;   /* may be NULL */
    bool has_invite; /* an invite whose state is not "accepted": not joined */
    struct mk_org_invite invite;
};

struct mk_user_org_list {
    struct mk_user_org *items;
    size_t count;
};

/* An item of GET /organization/invites. */
struct mk_invite {
    char *id;
    char *created;  /* may be NULL */
    char *expires;  /* for display only: legacy metadata.expires, else computed */
    bool expires_computed; /* expires is created + 14 days */
    char *email;
    char *comment;  /* may be NULL */
    char **teams;
    size_t team_count;
    char *state;    /* legacy status.state, may be NULL */
    char *invited_by_email;  /* spec.invitedByEmail, may be NULL */
    char *invited_by_name;   /* spec.invitedByName, may be NULL */
    char *organization_name; /* spec.organizationName, may be NULL */
};

struct mk_invite_list {
    struct mk_invite *items;
    size_t count;
};

/* --- user side: /user/organizations --- */
/* A failure's message starts with MK_API_LIST_ORGS_CONTEXT ": ", which a
 * caller that knows whose list it was replaces (mk_error_recontext). */
#define MK_API_LIST_ORGS_CONTEXT "listing your organizations"
mk_status mk_user_orgs_list(mk_http *http, struct mk_user_org_list *out, mk_error *err);
/* PATCH {"spec":{"invite":{"state":"accepted"}}}; out (may be NULL) gets the record.
 * A 400, 404 or 409 is final (the invite expired, was cancelled or was
 * answered): never retried, the message carries the API's detail, its ref
 * and the advice to ask the admin for a new invite. */
mk_status mk_user_org_accept(mk_http *http, const char *org_id,
                             struct mk_user_org *out, mk_error *err);
/* Accepts n invites concurrently; statuses[i]/errs[i] per organization. */
mk_status mk_user_org_accept_many(mk_http *http, const char *const *org_ids, size_t n,
                                  mk_status *statuses, mk_error *errs);
/* DELETE: declines a pending invite or leaves a joined organization. */
mk_status mk_user_org_delete(mk_http *http, const char *org_id, mk_error *err);

/* --- admin side: /organization/invites --- */
mk_status mk_invites_list(mk_http *http, struct mk_invite_list *out, mk_error *err);
/* POST; the body always carries spec.comment ("" when comment is NULL). */
mk_status mk_invite_create(mk_http *http, const char *email, const char *comment,
                           const char *const *teams, size_t team_count,
                           struct mk_invite *out, mk_error *err);
mk_status mk_invite_cancel(mk_http *http, const char *invite_id, mk_error *err);

void mk_user_org_clear(struct mk_user_org *org);
void mk_user_org_list_free(struct mk_user_org_list *list);
void mk_invite_clear(struct mk_invite *inv);
void mk_invite_list_free(struct mk_invite_list *list);

/* --- pure pieces, unit tested --- */

/* One record; index is its position in the list, for messages
 * ("record 3 (id ...): spec.name is not a string"). */
mk_status mk_parse_user_org(json_object *obj, size_t index, struct mk_user_org *out, mk_error *err);
mk_status mk_parse_invite(json_object *obj, size_t index, struct mk_invite *out, mk_error *err);

/* Fills err from a failed answer: the standard error body when it parses
 * (detail, code, ref), otherwise a message naming the HTTP status. Returns
 * MK_ERR_API for 4xx, MK_ERR_UNAVAILABLE for 5xx, MK_ERR_PROTOCOL else. */
mk_status mk_api_error_from_response(long http_status, const char *body, mk_error *err);

/* For a GET of a path that exists whenever base_url is right (a list, the
 * profile): turns a 404 in err into MK_ERR_USAGE naming base_url and the
 * configuration file that set it, since the API answers 404 there only
 * when base_url's path is wrong. Other errors are left as they are.
 * Returns err->status. */
mk_status mk_api_explain_not_found(const struct mk_config *cfg, mk_error *err);

/* Reads supplemental.pagination of a list answer that held `records` items.
 * *done is set when this was the last page (an empty page, no pagination,
 * or running_count reached total); otherwise *next_skiptoken is the start
 * of the next page. A page whose end does not pass its start is
 * MK_ERR_PROTOCOL. */
mk_status mk_api_next_page(json_object *answer, size_t records, size_t running_count,
                           long *next_skiptoken, bool *done, mk_error *err);

/* Resolves an @odata.nextLink against base_url into a path to send through
 * the client (base_url's own path removed). A host-relative link or an
 * absolute one to base_url's scheme, host and port is taken; anything else
 * (another host, scheme or port, a scheme-relative "//" link, a path outside
 * base_url's, a control character or space) is MK_ERR_PROTOCOL: the token
 * never follows a link elsewhere. *path is malloc'd. */
mk_status mk_api_resolve_next_link(const char *base_url, const char *link, char **path,
                                   mk_error *err);

/* RFC 3339 to epoch seconds; false when it does not parse. */
bool mk_parse_time(const char *rfc3339, time_t *out);

#endif
