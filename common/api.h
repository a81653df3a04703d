/* common/api.h: the six MK.IO organization calls and the model they speak.
 *
 * Requests are sent exactly as ../shared/docs/mkio-api.md documents; answers
 * are read tolerantly as it lists. List calls follow pagination to the end
 * ($top, $skiptoken taken from supplemental.pagination.end), refusing a page
 * that does not advance and a series longer than MK_API_MAX_PAGES, or than
 * max_list_records records or max_list_size bytes of the client's
 * configuration (MK_ERR_PROTOCOL naming the key; nothing of the list kept).
 * Error bodies become mk_error: message carries error.detail, ref the ref.
 * API refusals (4xx) are MK_ERR_API; 5xx after retries MK_ERR_UNAVAILABLE.
 */
#ifndef MK_API_H
#define MK_API_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "http.h"
#include "mk_error.h"

#define MK_API_PAGE_SIZE 100
#define MK_API_MAX_PAGES 1000
#define MK_INVITE_LIFETIME_S (14L * 24 * 3600)

struct mk_person {
    char *email; /* may be NULL */
    char *name;  /* may be NULL */
};

/* The invite object of a user organization record (absent once joined). */
struct mk_org_invite {
    char *state;             /* pending | accepted | declined | expired (as sent) */
    char *comment;           /* may be NULL */
    struct mk_person sender; /* from invitedBy | sentBy | inviter */
    char *expires;           /* RFC 3339, may be NULL */
    bool expires_computed;   /* expires was computed as created + 14 days */
};

/* An item of GET /user/organizations. */
struct mk_user_org {
    char *id;
    char *name;      /* may be NULL when the record has none */
    char *created;   /* may be NULL */
    bool has_invite; /* true: not joined yet */
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
    char *expires;  /* may be NULL */
    char *email;
    char *comment;  /* may be NULL */
    char **teams;
    size_t team_count;
    char *state;    /* status.state, may be NULL */
};

struct mk_invite_list {
    struct mk_invite *items;
    size_t count;
};

/* --- user side: /user/organizations --- */
mk_status mk_user_orgs_list(mk_http *http, struct mk_user_org_list *out, mk_error *err);
/* PATCH {"spec":{"invite":{"state":"accepted"}}}; out (may be NULL) gets the record. */
mk_status mk_user_org_accept(mk_http *http, const char *org_id,
                             struct mk_user_org *out, mk_error *err);
/* Accepts n invites concurrently; statuses[i]/errs[i] per organization. */
mk_status mk_user_org_accept_many(mk_http *http, const char *const *org_ids, size_t n,
                                  mk_status *statuses, mk_error *errs);
/* DELETE: declines a pending invite or leaves a joined organization. */
mk_status mk_user_org_delete(mk_http *http, const char *org_id, mk_error *err);

/* --- admin side: /organization/invites --- */
mk_status mk_invites_list(mk_http *http, struct mk_invite_list *out, mk_error *err);
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

/* Reads supplemental.pagination of a list answer that held `records` items.
 * *done is set when this was the last page; otherwise *next_skiptoken is
 * the start of the next page. A page whose end does not pass its start is
 * MK_ERR_PROTOCOL. */
mk_status mk_api_next_page(json_object *answer, size_t records, size_t top,
                           size_t running_count, long *next_skiptoken, bool *done,
                           mk_error *err);

/* RFC 3339 to epoch seconds; false when it does not parse. */
bool mk_parse_time(const char *rfc3339, time_t *out);
/* True when a pending invite's expiry is at or before now. An invite with
 * no expiry known is not expired. */
bool mk_org_invite_expired(const struct mk_org_invite *inv, time_t now);

/* JSON of the model, for the tool's --json (caller puts the reference). */
json_object *mk_user_org_to_json(const struct mk_user_org *org);
json_object *mk_invite_to_json(const struct mk_invite *inv);

#endif
