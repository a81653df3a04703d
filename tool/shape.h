/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/shape.h: the one source of truth for what mkio-orgs shows of an
 * invite, an inviter, an organization and a group, in text and in --json
 * (tool/shape.c). The JSON shapes are those of mkio-orgs(1), JSON OUTPUT:
 * snake_case keys, every key present (null when absent), times as RFC 3339
 * UTC strings. Text and JSON call the same functions here, so they cannot
 * disagree (an invite's state, its teams). */
#ifndef MKIO_TOOL_SHAPE_H
#define MKIO_TOOL_SHAPE_H

#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "net/api.h"

/* The team every accepted user joins besides those an invite names. */
#define SHAPE_TEAM_EVERYONE "Everyone"

/* An admin-side invite's state as shown: the record's own (legacy
 * status.state), else "pending" (a published record lists only pending
 * invites and names no state). */
const char *shape_invite_state(const struct mk_invite *inv);

/* The teams an accepted user joins, as shown: Everyone first, then the
 * invite's teams in order without a second Everyone. Writes up to max
 * pointers (borrowed from inv) into out; returns how many there are. */
size_t shape_invite_teams(const struct mk_invite *inv, const char **out, size_t max);

/* A user-side organization's state: "joined", or its invite's state. */
const char *shape_user_org_state(const struct mk_user_org *org);

/* A JSON string of s, or null for NULL. */
json_object *shape_string(const char *s);

/* A JSON time: an RFC 3339 string for t > 0, else null. */
json_object *shape_time(int64_t t);

/* A time of the API (RFC 3339, any offset) as shown: in UTC, in buf
 * ("2026-12-06T22:00:00Z"), or NULL when s is NULL or does not parse.
 * len: 32 bytes or more. */
const char *shape_api_time(const char *s, char *buf, size_t len);

/* The same as JSON: the string, or null. */
json_object *shape_api_time_json(const char *s);

/* A duration in decimal seconds with at most 3 decimals (1.273). */
json_object *shape_seconds(double seconds);

/* organization {"id", "name"}. */
json_object *shape_organization(const char *id, const char *name);

/* inviter {"name", "email"}. */
json_object *shape_inviter(const char *name, const char *email);

/* group {"name", "gid", "organization"}. */
json_object *shape_group(const char *name, gid_t gid, const char *org_id, const char *org_name);

/* invite, from the admin side (GET /organization/invites). */
json_object *shape_admin_invite(const struct mk_invite *inv);

/* membership {"organization", "state", "invite": invite or null}: one
 * entry of `orgs list`, the invite (user side) shaped as an admin's is. */
json_object *shape_membership(const struct mk_user_org *org);

#endif
