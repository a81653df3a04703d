/* tool/tool.h: what the command files of mkio-orgs share. */
#ifndef MKIO_TOOL_H
#define MKIO_TOOL_H

#include <stdbool.h>
#include <stdio.h>

#include "api.h"
#include "config.h"
#include "http.h"
#include "mk_error.h"

/* Exit codes, documented in --help. */
enum tool_exit {
    TOOL_EXIT_OK = 0,
    TOOL_EXIT_REFUSED = 1,     /* the API (or the tool, on its behalf) refused */
    TOOL_EXIT_USAGE = 2,       /* usage, configuration or token error */
    TOOL_EXIT_UNAVAILABLE = 3, /* network or service unavailable, or a broken answer */
    TOOL_EXIT_LOCAL = 4,       /* local failure: the membership store, memory */
};

struct tool {
    const char *config_path;   /* --config or MKIO_CONFIG, NULL for the default */
    const char *token_file;    /* --token-file */
    struct mk_config cfg;
    bool cfg_loaded;
};

/* Loads the configuration once (file, then MKIO_BASE_URL). Prints the error. */
int tool_load_config(struct tool *t);

/* A client with the user's token: --token-file, else MKIO_TOKEN, else the
 * user's own token file. Prints the error and returns an exit code on failure. */
int tool_client(struct tool *t, mk_http **out);

/* Prints "mkio-orgs: <message>" (with the API's ref when there is one) and
 * returns the exit code for the error. */
int tool_fail(const mk_error *err);
int tool_exit_code(mk_status status);

/* Usage error: prints the message and a hint to --help, returns 2. */
int tool_usage(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s to f with control characters replaced, so a remote party's
 * names cannot drive the terminal. NULL prints as "-". */
void tool_put_safe(FILE *f, const char *s);

/* Parses `[--json] [--help]` (--json only when json is not NULL) and one
 * positional argument named arg_name (none when arg_name is NULL).
 * Returns 0 to go on, -1 when help was printed, or a usage exit code. */
int tool_simple_options(const char *command, const char *help, int argc, char **argv,
                        bool *json, const char *arg_name, char **positional);

/* Prints a JSON value to stdout, pretty, followed by a newline; frees it. */
void tool_print_json(json_object *value);

int cmd_invite(struct tool *t, int argc, char **argv);
int cmd_orgs(struct tool *t, int argc, char **argv);
int cmd_status(struct tool *t, int argc, char **argv);
int cmd_store(struct tool *t, int argc, char **argv);
int cmd_sync(struct tool *t, int argc, char **argv);

#endif
