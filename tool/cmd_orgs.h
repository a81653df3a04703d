/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_orgs.h: mkio-orgs orgs, the user side (tool/cmd_orgs.c). Each
 * takes the arguments from its own name on (argv[0] "list", ...) and
 * returns the exit code (tool/util.h). */
#ifndef MKIO_TOOL_CMD_ORGS_H
#define MKIO_TOOL_CMD_ORGS_H

struct tool;

/* orgs list, orgs accept, orgs decline, orgs leave. */
int cmd_orgs_list(struct tool *t, int argc, char **argv);
int cmd_orgs_accept(struct tool *t, int argc, char **argv);
int cmd_orgs_decline(struct tool *t, int argc, char **argv);
int cmd_orgs_leave(struct tool *t, int argc, char **argv);

/* `orgs` followed by none of its sub-commands (argv[1], if any): --help,
 * -h or help prints the usage of orgs; anything else is a usage error. */
int cmd_orgs(struct tool *t, int argc, char **argv);

#endif
