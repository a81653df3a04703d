/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_invite.h: mkio-orgs invite, the admin side (tool/cmd_invite.c).
 * Each takes the arguments from its own name on (argv[0] "create", ...)
 * and returns the exit code (tool/util.h). */
#ifndef MKIO_TOOL_CMD_INVITE_H
#define MKIO_TOOL_CMD_INVITE_H

struct tool;

/* invite create, invite list, invite cancel. */
int cmd_invite_create(struct tool *t, int argc, char **argv);
int cmd_invite_list(struct tool *t, int argc, char **argv);
int cmd_invite_cancel(struct tool *t, int argc, char **argv);

/* `invite` followed by none of its sub-commands (argv[1], if any): --help,
 * -h or help prints the usage of invite; anything else is a usage error. */
int cmd_invite(struct tool *t, int argc, char **argv);

#endif
