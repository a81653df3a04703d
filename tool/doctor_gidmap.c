/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/doctor_gidmap.c: the gid-map check of mkio-orgs doctor
 * (tool/doctor_gidmap.h). In a user namespace (an unprivileged container)
 * a gid outside the namespace's gid map cannot be a supplementary group:
 * the NSS module leaves such groups out of initgroups, so an organization
 * whose gid lies outside the map is no group at login (issue 17). This
 * check says so and proposes a range that fits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/gidmap.h"
#include "store/config.h"
#include "tool/doctor.h"
#include "tool/doctor_gidmap.h"
#include "tool/util.h"

void doctor_check_gid_map(struct doctor *d)
{
    const struct mk_config *cfg = &d->t->cfg;
    struct mk_gidmap map;
    char shown[128];
    char *hint = NULL;
    gid_t lo, hi;

    /* Outside a user namespace (or with no map to read) every gid maps:
     * no line, as on most hosts. */
    if (mk_gidmap_read(MK_GIDMAP_PATH, &map) < 0 || map.all)
        return;
    if (!doctor_need_config(d, "gid-map"))
        return;
    mk_gidmap_describe(&map, shown, sizeof(shown));
    if (mk_gidmap_covers(&map, cfg->gid_min, cfg->gid_max)) {
        doctor_add(d, DOCTOR_OK, "gid-map", NULL, "gid_range %lu-%lu lies inside this user "
                   "namespace's gid map (%s)", (unsigned long)cfg->gid_min,
                   (unsigned long)cfg->gid_max, shown);
        return;
    }
    if (mk_config_gid_range_propose(&map, &lo, &hi))
        hint = doctor_hint("set `gid_range = %lu-%lu` in %s (inside the gid map, and a range "
                           "the configuration accepts here)", (unsigned long)lo,
                           (unsigned long)hi, d->config_name);
    else
        hint = doctor_hint("map gids %u-%u (or 2000200001-2147483646) into this user "
                           "namespace, then set gid_range inside them in %s",
                           MK_CONFIG_USERNS_GID_FIRST, MK_CONFIG_USERNS_GID_LAST,
                           d->config_name);
    doctor_add(d, DOCTOR_WARN, "gid-map", hint, "gid_range %lu-%lu lies outside this user "
               "namespace's gid map (%s): initgroups, su, sshd and sudo leave out every "
               "organization group whose gid it does not map", (unsigned long)cfg->gid_min,
               (unsigned long)cfg->gid_max, shown);
    free(hint);
}
