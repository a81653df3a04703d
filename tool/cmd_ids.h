/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_ids.h: mkio-orgs ids export (tool/cmd_ids.c). */
#ifndef MKIO_TOOL_CMD_IDS_H
#define MKIO_TOOL_CMD_IDS_H

struct tool;

/* ids export, its arguments from "export" on; the exit code (tool/util.h). */
int cmd_ids_export(struct tool *t, int argc, char **argv);

/* `ids` followed by no sub-command it has (argv[1], if any): --help or -h
 * prints its usage; anything else is a usage error. */
int cmd_ids(struct tool *t, int argc, char **argv);

#endif
