/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/doctor_list.h: the list-budget check of mkio-orgs doctor
 * (tool/doctor_list.c): whether max_list_records can be listed within
 * time_budget at the rate the server pages at. */
#ifndef MKIO_TOOL_DOCTOR_LIST_H
#define MKIO_TOOL_DOCTOR_LIST_H

struct doctor;

/* Adds the list-budget line: with a token MK.IO accepted (d->list_token),
 * one timed GET of the first page of the user's organizations, and a warn
 * when the pages max_list_records takes at that rate exceed time_budget. */
void doctor_check_list_budget(struct doctor *d);

#endif
