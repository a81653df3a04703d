/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_refresh.h: mkio-orgs refresh, a user's own refresh without root
 * (issue 19, item 6), and what other commands ask of the refresh service.
 *
 * The service is `mkio-orgs refresh --serve`, started by mkio-refresh.socket
 * (Accept=yes) with the connection as standard input: it refreshes exactly
 * the connecting user (SO_PEERCRED), with that user's token, through the
 * path a login and `sync --user` take (net/token.h, net/refresh.h), at most
 * once per REFRESH_MIN_INTERVAL_S per user. It reads one request line and
 * answers one line, a JSON object (mkio-orgs(1), "THE REFRESH SERVICE").
 */
#ifndef MKIO_TOOL_CMD_REFRESH_H
#define MKIO_TOOL_CMD_REFRESH_H

#include <stdbool.h>
#include <stdio.h>

#include "tool/util.h"

/* Where the service listens unless MKIO_REFRESH_SOCKET says otherwise. */
#define REFRESH_SOCKET_DEFAULT "/run/mkio/refresh.sock"
/* The shortest time between two refreshes a user asks for. */
#define REFRESH_MIN_INTERVAL_S 30

int cmd_refresh(struct tool *t, int argc, char **argv);

/* Takes --no-refresh out of argv (accept and leave parse the rest as
 * before); true when it was there. */
bool refresh_take_no_refresh(int *argc, char **argv);

/* After `orgs accept` or `orgs leave` succeeded: asks the service for a
 * refresh and writes to out what follows ("the group mk-... will be yours
 * in new sessions", or "at your next login" when there is no service).
 * Never changes the command's exit status: a failure is one line on
 * stderr. out NULL (--quiet): the refresh runs, only a failure is said. */
void refresh_after_change(struct tool *t, FILE *out, bool joined);

/* Which token file the user's logins use (net/token.h's order), as the
 * calling user can learn it: their own look when token_dir lets them, else
 * the service's answer. */
struct refresh_token_info {
    bool known;           /* false: could not tell (why says so) */
    bool found;           /* a file is there (path) */
    bool root_held;       /* path is a file of token_dir */
    char path[4096];
    char problem[512];    /* why that file is refused, "" when it is not */
    char why[512];        /* with !known: why it cannot be told */
};
void refresh_login_token(struct tool *t, struct refresh_token_info *info);

#endif
