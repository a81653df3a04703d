/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/history.c: renames and gid moves recorded (see history.h). */
#include "store/history.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"

/* The longest reason kept: a note of the policy (grouppolicy.h) fits. */
#define HISTORY_REASON_MAX 400

static bool history_in_block(const struct mk_storefile *s, const char *p)
{
    return s->strings && p >= s->strings && p < s->strings + s->strings_size;
}

/* Names in the loaded block live as long as s; any other may be freed by
 * the policy (a name this process gave), so it is copied. */
int mk_history_snapshot_take(const struct mk_storefile *s, struct mk_history_snapshot *snap)
{
    size_t n = s->org_count ? s->org_count : 1;
    memset(snap, 0, sizeof(*snap));
    if (!(snap->group = calloc(n, sizeof(*snap->group))) ||
        !(snap->gid = calloc(n, sizeof(*snap->gid))))
        goto nomem;
    for (size_t i = 0; i < s->org_count; i++) {
        const char *g = s->orgs[i].group;
        snap->gid[i] = s->orgs[i].gid;
        if (g && !history_in_block(s, g)) {
            char **v = reallocarray(snap->owned, snap->owned_count + 1, sizeof(*v));
            if (!v)
                goto nomem;
            snap->owned = v;
            if (!(v[snap->owned_count] = strdup(g)))
                goto nomem;
            g = v[snap->owned_count++];
        }
        snap->group[i] = g;
    }
    snap->n = s->org_count;
    return 0;
nomem:
    mk_history_snapshot_free(snap);
    return -ENOMEM;
}

void mk_history_snapshot_free(struct mk_history_snapshot *snap)
{
    for (size_t i = 0; i < snap->owned_count; i++)
        free(snap->owned[i]);
    free(snap->owned);
    free(snap->group);
    free(snap->gid);
    memset(snap, 0, sizeof(*snap));
}

/* The last note about organization id ("organization ID: ...") without
 * that prefix, into buf: the policy says what it did last, after the
 * notes of the steps that led there ("gid N is taken; using M"). */
static void history_reason(const struct mk_policy_notes *notes, const char *id, char *buf,
                           size_t size)
{
    char prefix[MK_ORG_ID_MAX + 32];
    size_t plen;

    snprintf(prefix, sizeof(prefix), "organization %s: ", id);
    plen = strlen(prefix);
    for (size_t i = notes ? notes->n : 0; i > 0; i--) {
        const char *t = notes->v[i - 1].text;
        if (strncmp(t, prefix, plen) == 0) {
            snprintf(buf, size, "%s", t + plen);
            return;
        }
    }
    snprintf(buf, size, "the group was changed by the store's rules");
}

int mk_history_record(struct mk_storefile *s, const struct mk_history_snapshot *snap,
                      const struct mk_policy_notes *notes, int64_t now)
{
    char reason[HISTORY_REASON_MAX];

    for (size_t i = 0; i < snap->n && i < s->org_count; i++) {
        struct mk_storefile_org *o = &s->orgs[i];
        const char *old = snap->group[i];
        if (!old || (o->group == old && o->gid == snap->gid[i]))
            continue;
        if (o->group && o->gid == snap->gid[i] && strcmp(o->group, old) == 0)
            continue;
        history_reason(notes, o->id, reason, sizeof(reason));
        struct mk_storefile_event e = { .time = now, .old_group = (char *)old,
                                        .old_gid = snap->gid[i], .new_group = o->group,
                                        .new_gid = o->group ? o->gid : 0, .reason = reason };
        if (mk_storefile_add_event(o, &e) != 0)
            return -ENOMEM;
    }
    return 0;
}
