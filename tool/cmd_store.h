/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_store.h: mkio-orgs store set-user and store publish
 * (tool/cmd_store.c). */
#ifndef MKIO_TOOL_CMD_STORE_H
#define MKIO_TOOL_CMD_STORE_H

struct tool;

/* store set-user, its arguments from "set-user" on; the exit code. */
int cmd_store_set_user(struct tool *t, int argc, char **argv);

/* store publish (argv from "publish" on): mk_store_publish, no network;
 * the exit code. */
int cmd_store_publish(struct tool *t, int argc, char **argv);

/* `store` followed by no sub-command it has (argv[1], if any): --help or -h
 * prints its usage; anything else is a usage error. */
int cmd_store(struct tool *t, int argc, char **argv);

#endif
