/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_sync.h: mkio-orgs sync (tool/cmd_sync.c). */
#ifndef MKIO_TOOL_CMD_SYNC_H
#define MKIO_TOOL_CMD_SYNC_H

struct tool;

/* sync, its arguments from "sync" on; the exit code (tool/util.h). The
 * caller has scrubbed the environment first (mk_http_scrub_environment). */
int cmd_sync(struct tool *t, int argc, char **argv);

#endif
