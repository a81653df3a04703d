/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_status.h: mkio-orgs status (tool/cmd_status.c). */
#ifndef MKIO_TOOL_CMD_STATUS_H
#define MKIO_TOOL_CMD_STATUS_H

struct tool;

/* status, its arguments from "status" on; the exit code (tool/util.h). */
int cmd_status(struct tool *t, int argc, char **argv);

#endif
