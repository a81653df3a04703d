/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/nsswitch.h: where mkio stands in nsswitch.conf (tool/nsswitch.c),
 * for doctor's nsswitch check: on the group: line and the initgroups: line
 * (and whether systemd, which serves userdb_export's records, is there),
 * with comments, [STATUS=action] blocks and spacing read as glibc reads
 * them. */
#ifndef MKIO_TOOL_NSSWITCH_H
#define MKIO_TOOL_NSSWITCH_H

#include <stdbool.h>

/* One database's line. */
struct nsswitch_db {
    int line;            /* its line number; 0: no such line */
    bool has_mkio;       /* it names the service mkio */
    bool stops_before;   /* a [NOTFOUND=return] comes before mkio */
    bool has_systemd;    /* it names the service systemd (nss-systemd: userdb_export) */
};

struct nsswitch_lines {
    struct nsswitch_db group;       /* the first group: line */
    struct nsswitch_db initgroups;  /* the first initgroups: line */
    int group_lines;                /* how many group: lines there are */
};

/* Reads the text of nsswitch.conf (NUL-terminated; cut into lines and
 * comments in place) into *out. The first line of a database counts, as
 * for glibc. */
void nsswitch_parse(char *text, struct nsswitch_lines *out);

#endif
