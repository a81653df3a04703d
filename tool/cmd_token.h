/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_token.h: mkio-orgs login, whoami and logout, the user's token
 * file (tool/cmd_token.c). Each takes the arguments from its own name on
 * and returns the exit code (tool/util.h). */
#ifndef MKIO_TOOL_CMD_TOKEN_H
#define MKIO_TOOL_CMD_TOKEN_H

struct tool;

int cmd_login(struct tool *t, int argc, char **argv);
int cmd_whoami(struct tool *t, int argc, char **argv);
int cmd_logout(struct tool *t, int argc, char **argv);

#endif
