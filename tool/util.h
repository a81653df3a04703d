/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/util.h: what the command files of mkio-orgs share (tool/util.c):
 * the tool's state, its exit codes, and the helpers every command uses. */
#ifndef MKIO_TOOL_UTIL_H
#define MKIO_TOOL_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "net/api.h"
#include "store/config.h"
#include "net/http.h"
#include "net/url.h"
#include "base/log.h"
#include "base/text.h"
#include "base/mk_error.h"

/* Exit codes, documented in --help. */
enum tool_exit {
    TOOL_EXIT_OK = 0,
    TOOL_EXIT_REFUSED = 1,     /* the API (or the tool, on its behalf) refused */
    TOOL_EXIT_USAGE = 2,       /* usage, configuration or token error */
    TOOL_EXIT_UNAVAILABLE = 3, /* network or service unavailable, or a broken answer */
    TOOL_EXIT_LOCAL = 4,       /* local failure: the membership store, memory */
};

struct tool {
    const char *config_path;   /* --config, NULL when not given (tool_config_choose) */
    const char *token_file;    /* --token-file */
    struct mk_config cfg;
    bool cfg_loaded;
};

/* Which configuration file the tool reads: --config, else MKIO_CONFIG,
 * else the default (*path NULL). Root (effective uid 0) never takes it from
 * its environment, which may be another user's (sudo -E, su without -): a
 * set MKIO_CONFIG without --config is MK_ERR_USAGE naming the variable and
 * the fix. *origin says where the path came from, for doctor:
 * "--config", "MKIO_CONFIG" or "the default". */
mk_status tool_config_choose(const struct tool *t, const char **path, const char **origin,
                             mk_error *err);

/* Loads the configuration once (tool_config_choose's file, then
 * MKIO_BASE_URL, which root refuses: store/config.h). Prints the error. */
int tool_load_config(struct tool *t);

/* A client with the user's token: --token-file, else MKIO_TOKEN, else the
 * user's own token file. Prints the error and returns an exit code on failure. */
int tool_client(struct tool *t, mk_http **out);

/* A client for token (the configuration loaded), with the tool's proxy rule:
 * the environment's proxy only for a user running the tool for themself.
 * Prints the error and returns an exit code on failure. */
int tool_client_for_token(struct tool *t, const char *token, mk_http **out);

/* The path of the user's own token file: $HOME (else the password
 * database's home) joined with the user_token key. Config loaded first. */
mk_status tool_own_token_path(struct tool *t, char *path, size_t size, mk_error *err);

/* The user's token by the documented precedence (--token-file, MKIO_TOKEN,
 * the own token file), the one rule tool_client and whoami share. source
 * gets where it was looked for: the file's path, or "MKIO_TOKEN". */
mk_status tool_read_token(struct tool *t, char **token, char *source, size_t source_size,
                          mk_error *err);

/* The version of the JSON contract of mkio-orgs(1), JSON OUTPUT: the
 * "schema" of every --json output. Raised only by an incompatible change. */
#define TOOL_JSON_SCHEMA 1

/* JSON mode: set by --json, global (before the command) or the command's
 * own (main.c finds it before the command runs, tool_simple_options too).
 * In JSON mode an error leaves an error object on stdout (tool_json_finish). */
void tool_json_set(bool on);
bool tool_json(void);

/* A new JSON object holding "schema" (TOOL_JSON_SCHEMA): every output's
 * first key. */
json_object *tool_json_new(void);

/* The end of a run in JSON mode: when rc is a failure and the command
 * printed no JSON, prints {"schema", "error": {"message", "exit", "ref",
 * "hint"}} with the run's first error (tool_fail, tool_error, tool_usage).
 * Returns rc unchanged. Nothing outside JSON mode. */
int tool_json_finish(int rc);

/* journald (sd-daemon(3)): when stderr (stdout) is the stream
 * JOURNAL_STREAM names (its "DEV:INO"), each line the tool writes there
 * starts with its syslog priority, "<N>", which journald reads
 * (SyslogLevelPrefix=, on by default). systemd sets the variable for every
 * unit whose output goes to the journal, the sync units' default: no flag
 * is needed, and no libsystemd. */
void tool_journal_detect(void);

/* Writes "<priority>" to f when f is a journal stream (tool_journal_detect);
 * at the start of each line of f. */
void tool_line_priority(FILE *f, int priority);

/* Prints "mkio-orgs: <message>" (with the API's ref when there is one) and
 * returns the exit code for the error. */
int tool_fail(const mk_error *err);
int tool_exit_code(mk_status status);

/* Usage error: prints the message (sanitized: it often quotes an argument)
 * and a hint to --help, returns 2. */
int tool_usage(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "mkio-orgs: <message>\n" to stderr, the whole message passed
 * through mk_text_sanitize: for messages that quote user names, file names
 * or arguments. One line, whatever the arguments hold. */
void tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same at warning priority (journald: 4), for what is not a failure.
 * tool_error's lines are priority 3 and the first is JSON mode's error. */
void tool_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where common/ reports warnings when the tool calls it (log.h): stderr, as
 * "mkio-orgs: warning: <message>" (notices and errors by their own word),
 * sanitized. An admin running `sync` sees what a login would log. */
extern const struct mk_log_sink tool_log_sink;

/* Writes s to f through mk_text_sanitize (text.h), so the names a remote
 * party or a local user chose cannot drive the terminal, reorder what is
 * shown or split a log line. The one way the tool prints such text.
 * NULL prints as "-". */
void tool_put_safe(FILE *f, const char *s);

/* The same, padded with spaces to at least width bytes (like "%-*s"). */
void tool_put_safe_padded(FILE *f, const char *s, int width);

/* Parses `[--json] [--help]` (--json sets JSON mode; *json, when json is
 * not NULL, gets tool_json()) and one
 * positional argument named arg_name (none when arg_name is NULL).
 * Returns 0 to go on, -1 when help was printed, or a usage exit code. */
int tool_simple_options(const char *command, const char *help, int argc, char **argv,
                        bool *json, const char *arg_name, char **positional);

/* An id argument (ORG_ID, INVITE_ID) in canonical form, a lower-case UUID,
 * into out. Anything else (a name, a typo) is a usage error, printed,
 * saying to pass the id and that list_command (`mkio-orgs orgs list`)
 * shows it; no request is worth sending. what: "organization", "invite". */
int tool_id_argument(const char *what, const char *arg, const char *list_command,
                     char out[MK_UUID_LEN + 1]);

/* Prints a JSON value to stdout, pretty, followed by a newline; frees it.
 * An object gets "schema" as its first key when it lacks it.
 * Strings stay exact: json-c escapes C0 controls, and what it leaves raw but
 * a terminal would act on (DEL, C1 controls, bidi controls) is written as a
 * \uXXXX escape. A byte that is not UTF-8 becomes U+FFFD: JSON is UTF-8. */
void tool_print_json(json_object *value);

/* The same on one line (JSON Lines: sync), after its journal priority. */
void tool_print_json_line(json_object *value, int priority);

/* The whole of a regular file of at most max bytes, NUL-terminated, into
 * *out (the caller frees it) and its length into *len. follow: a symbolic
 * link at the last component is followed (else refused, -ELOOP). 0, or a
 * negative errno: -EFBIG when larger (also when it grew past max while
 * read: base/fileio.h reads to the end), -EISDIR or -EINVAL when not a
 * regular file. */
int tool_read_file(const char *path, size_t max, bool follow, char **out, size_t *len);

/* How long a command waits for the store's lock. */
#define TOOL_STORE_LOCK_TIMEOUT_MS 10000

/* TOOL_EXIT_OK as root; else says that command changes the system's
 * membership store and returns TOOL_EXIT_USAGE. */
int tool_need_root(const char *command);

/* A Unix time as status and doctor show it, in UTC: "2024-05-01T12:00:00Z"
 * (also the form of their JSON). "never" for 0 or less (none known) or a
 * time that cannot be shown. len: 21 bytes or more. */
void tool_format_time(int64_t t, char *buf, size_t len);

/* A duration of ms milliseconds in whole seconds, as mkio.conf writes one:
 * the largest of days, hours and minutes that divides it ("30d", "12h",
 * "5m"), else seconds ("90s", "0s"). */
void tool_format_duration(int64_t ms, char *buf, size_t len);

#endif
