/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/shape.c: what mkio-orgs shows of the API's records, in text and in
 * --json alike (tool/shape.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timefmt.h"
#include "tool/shape.h"

const char *shape_invite_state(const struct mk_invite *inv)
{
    return inv->state ? inv->state : "pending";
}

size_t shape_invite_teams(const struct mk_invite *inv, const char **out, size_t max)
{
    size_t n = 0;
    if (n < max)
        out[n] = SHAPE_TEAM_EVERYONE;
    n++;
    for (size_t i = 0; i < inv->team_count; i++) {
        if (strcmp(inv->teams[i], SHAPE_TEAM_EVERYONE) == 0)
            continue;
        if (n < max)
            out[n] = inv->teams[i];
        n++;
    }
    return n;
}

const char *shape_user_org_state(const struct mk_user_org *org)
{
    if (!org->has_invite)
        return "joined";
    return org->invite.state ? org->invite.state : "pending";
}

json_object *shape_string(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

json_object *shape_time(int64_t t)
{
    char buf[32];
    if (t <= 0 || mk_time_format_utc(t, buf, sizeof(buf)) < 0)
        return NULL;
    return json_object_new_string(buf);
}

const char *shape_api_time(const char *s, char *buf, size_t len)
{
    time_t t;
    if (!s || !mk_parse_time(s, &t) || mk_time_format_utc((int64_t)t, buf, len) < 0)
        return NULL;
    return buf;
}

json_object *shape_api_time_json(const char *s)
{
    char buf[32];
    return shape_string(shape_api_time(s, buf, sizeof(buf)));
}

json_object *shape_seconds(double seconds)
{
    char text[48];
    if (seconds < 0)
        seconds = 0;
    /* json-c writes a double with 17 significant digits (1.2729999999999999);
     * the text given here is what is written. */
    snprintf(text, sizeof(text), "%.3f", seconds);
    return json_object_new_double_s(strtod(text, NULL), text);
}

json_object *shape_organization(const char *id, const char *name)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", shape_string(id));
    json_object_object_add(o, "name", shape_string(name));
    return o;
}

json_object *shape_inviter(const char *name, const char *email)
{
    if (!name && !email)
        return NULL;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", shape_string(name));
    json_object_object_add(o, "email", shape_string(email));
    return o;
}

json_object *shape_group(const char *name, gid_t gid, const char *org_id, const char *org_name)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", shape_string(name));
    json_object_object_add(o, "gid", json_object_new_int64((int64_t)gid));
    json_object_object_add(o, "organization", shape_organization(org_id, org_name));
    return o;
}

/* The keys every invite has, in the documented order; the caller fills the
 * ones it knows (the rest stay null). */
static json_object *shape_invite_new(const char *id, json_object *organization,
                                     const char *email, const char *state)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", shape_string(id));
    json_object_object_add(o, "organization", organization);
    json_object_object_add(o, "email", shape_string(email));
    json_object_object_add(o, "state", shape_string(state));
    return o;
}

json_object *shape_admin_invite(const struct mk_invite *inv)
{
    json_object *o = shape_invite_new(inv->id, NULL, inv->email, shape_invite_state(inv));
    size_t n = shape_invite_teams(inv, NULL, 0);
    const char **names = calloc(n, sizeof(*names));
    json_object *teams = json_object_new_array();
    if (names) {
        shape_invite_teams(inv, names, n);
        for (size_t i = 0; i < n; i++)
            json_object_array_add(teams, json_object_new_string(names[i]));
        free(names);
    }
    json_object_object_add(o, "teams", teams);
    json_object_object_add(o, "comment", shape_string(inv->comment));
    json_object_object_add(o, "inviter", shape_inviter(inv->invited_by_name,
                                                       inv->invited_by_email));
    json_object_object_add(o, "created", shape_api_time_json(inv->created));
    json_object_object_add(o, "expires", shape_api_time_json(inv->expires));
    json_object_object_add(o, "expires_computed", json_object_new_boolean(inv->expires_computed));
    return o;
}

json_object *shape_membership(const struct mk_user_org *org)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "organization", shape_organization(org->id, org->name));
    json_object_object_add(o, "state", json_object_new_string(shape_user_org_state(org)));
    json_object *inv = NULL;
    if (org->has_invite) {
        const struct mk_org_invite *i = &org->invite;
        /* The entry names the organization; the invite record names no
         * teams or e-mail on this side. */
        inv = shape_invite_new(NULL, NULL, NULL, shape_user_org_state(org));
        json_object_object_add(inv, "teams", NULL);
        json_object_object_add(inv, "comment", shape_string(i->comment));
        json_object_object_add(inv, "inviter", shape_inviter(i->sender.name, i->sender.email));
        json_object_object_add(inv, "created", NULL);
        json_object_object_add(inv, "expires", shape_api_time_json(i->expires));
        json_object_object_add(inv, "expires_computed", json_object_new_boolean(i->expires_computed));
    }
    json_object_object_add(o, "invite", inv);
    return o;
}
