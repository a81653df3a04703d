/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/doctor_gidmap.h: the gid-map check of mkio-orgs doctor
 * (tool/doctor_gidmap.c): whether gid_range lies inside the gid map of the
 * user namespace doctor runs in. */
#ifndef MKIO_TOOL_DOCTOR_GIDMAP_H
#define MKIO_TOOL_DOCTOR_GIDMAP_H

struct doctor;

/* In a user namespace only (a readable map that is not the identity), adds
 * the gid-map line: ok when the map covers gid_range; a warning otherwise,
 * whose hint proposes a gid_range that fits (store/config.h,
 * mk_config_gid_range_propose). */
void doctor_check_gid_map(struct doctor *d);

#endif
