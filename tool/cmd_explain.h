/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_explain.h: mkio-orgs explain USER (tool/cmd_explain.c), one
 * user's whole picture: whether logins and sync take them, which token
 * file logins read, how their refreshes went, the groups the store gives
 * them with each group's renames and gid moves, and what getent answers
 * now. Also the history's two forms, which status shows too. */
#ifndef MKIO_TOOL_CMD_EXPLAIN_H
#define MKIO_TOOL_CMD_EXPLAIN_H

#include <stdio.h>

#include <json-c/json.h>

#include "store/store.h"

struct tool;

/* explain, its arguments from "explain" on; the exit code (tool/util.h):
 * 0, or 2 for a usage error or an unknown user. */
int cmd_explain(struct tool *t, int argc, char **argv);

/* h's events, one line each, oldest first, each line starting with indent:
 * "TIME  OLD (gid N) -> NEW (gid M): REASON" (NEW "no group" when the
 * organization was left without one). */
void explain_put_history(FILE *f, const char *indent, const struct mk_store_history *h);

/* h's events as the JSON array of history-event objects of mkio-orgs(1),
 * "JSON OUTPUT" (h may be NULL: an empty array). */
json_object *explain_history_json(const struct mk_store_history *h);

#endif
