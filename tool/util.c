/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/util.c: the helpers every command of mkio-orgs shares: exit codes and
 * error messages, sanitized output, option parsing for simple commands,
 * JSON output, the configuration, the user's token and client, and the
 * formatting of times and durations. No command file depends on main.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "base/fileio.h"
#include "base/text.h"
#include "base/timefmt.h"
#include "net/token.h"
#include "tool/util.h"
#include "tool/verbosity.h"

int tool_exit_code(mk_status status)
{
    switch (status) {
    case MK_OK: return TOOL_EXIT_OK;
    case MK_ERR_API: return TOOL_EXIT_REFUSED;
    case MK_ERR_USAGE: return TOOL_EXIT_USAGE;
    case MK_ERR_UNAVAILABLE:
    case MK_ERR_PROTOCOL: return TOOL_EXIT_UNAVAILABLE;
    case MK_ERR_NOMEM:
    case MK_ERR_IO:
    case MK_ERR_BUSY: return TOOL_EXIT_LOCAL;
    }
    return TOOL_EXIT_LOCAL;
}

/* ---- JSON mode, error objects and journal priorities ---- */

static bool tool_json_on;          /* --json given (main.c) */
static bool tool_json_printed;     /* a JSON document (or line) went to stdout */
static bool tool_journal_stderr;   /* stderr is the journal stream: "<N>" lines */
static bool tool_journal_stdout;
static bool tool_error_noted;      /* the first error of the run, for its object */
static char tool_error_message[1024];
static char tool_error_ref[128];
static char tool_error_hint[4608];

void tool_json_set(bool on)
{
    tool_json_on = on;
}

bool tool_json(void)
{
    return tool_json_on;
}

/* Whether fd is the stream JOURNAL_STREAM names ("DEV:INO", sd-daemon(3)). */
static bool tool_is_journal_stream(int fd, const char *value)
{
    unsigned long long dev, ino;
    char end;
    struct stat sb;
    if (!value || sscanf(value, "%llu:%llu%c", &dev, &ino, &end) != 2)
        return false;
    return fstat(fd, &sb) == 0 && (unsigned long long)sb.st_dev == dev &&
           (unsigned long long)sb.st_ino == ino;
}

void tool_journal_detect(void)
{
    const char *value = getenv("JOURNAL_STREAM");
    tool_journal_stderr = tool_is_journal_stream(STDERR_FILENO, value);
    tool_journal_stdout = tool_is_journal_stream(STDOUT_FILENO, value);
}

void tool_line_priority(FILE *f, int priority)
{
    if ((f == stderr && tool_journal_stderr) || (f == stdout && tool_journal_stdout))
        fprintf(f, "<%d>", priority);
}

/* Keeps the run's first error for the error object of JSON mode. */
static void tool_note_error(const char *message, const char *ref, const char *hint)
{
    if (tool_error_noted)
        return;
    tool_error_noted = true;
    snprintf(tool_error_message, sizeof(tool_error_message), "%s", message ? message : "");
    snprintf(tool_error_ref, sizeof(tool_error_ref), "%s", ref ? ref : "");
    snprintf(tool_error_hint, sizeof(tool_error_hint), "%s", hint ? hint : "");
}

json_object *tool_json_new(void)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "schema", json_object_new_int(TOOL_JSON_SCHEMA));
    return o;
}

/* value with "schema" as its first key: value itself when it is so, else a
 * new object holding it and then value's keys (value is released). */
static json_object *tool_json_schema_first(json_object *value)
{
    if (!json_object_is_type(value, json_type_object))
        return value;
    struct json_object_iterator it = json_object_iter_begin(value);
    struct json_object_iterator end = json_object_iter_end(value);
    if (!json_object_iter_equal(&it, &end) &&
        strcmp(json_object_iter_peek_name(&it), "schema") == 0)
        return value;
    json_object *o = tool_json_new();
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *key = json_object_iter_peek_name(&it);
        if (strcmp(key, "schema") == 0)
            continue;
        json_object_object_add(o, key, json_object_get(json_object_iter_peek_value(&it)));
    }
    json_object_put(value);
    return o;
}

int tool_json_finish(int rc)
{
    if (!tool_json_on || rc == TOOL_EXIT_OK || tool_json_printed)
        return rc;
    json_object *e = json_object_new_object();
    json_object_object_add(e, "message", json_object_new_string(
                               tool_error_noted && tool_error_message[0] ? tool_error_message
                               : "the command failed; its message is on standard error"));
    json_object_object_add(e, "exit", json_object_new_int(rc));
    json_object_object_add(e, "ref", tool_error_ref[0] ? json_object_new_string(tool_error_ref)
                                                       : NULL);
    json_object_object_add(e, "hint", tool_error_hint[0] ? json_object_new_string(tool_error_hint)
                                                         : NULL);
    json_object *o = tool_json_new();
    json_object_object_add(o, "error", e);
    tool_print_json(o);
    return rc;
}

/* Where the token in use came from (tool_read_token), so that a refusal
 * names the fix that fits it: "" until a token is read. */
static char tool_token_origin[4096];
static bool tool_token_origin_env;

/* The remedy for a token MK.IO refused (401), by where it came from
 * (issue 19): MKIO_TOKEN is the caller's to fix or unset, --token-file's
 * file theirs to replace, their own file `mkio-orgs login`'s. */
static void tool_token_refused_remedy(char *out, size_t size)
{
    if (tool_token_origin_env) {
        snprintf(out, size, "the token in MKIO_TOKEN was refused (expired, revoked or "
                 "mistyped): set MKIO_TOKEN to a valid token, or unset it to use your token "
                 "file (`mkio-orgs login` saves one)");
        return;
    }
    snprintf(out, size, "the token %s%s%swas refused (expired, revoked or mistyped): make a "
             "new one in the MK.IO web app (profile menu, \"Your personal API tokens\") and "
             "run `mkio-orgs login`", tool_token_origin[0] ? "in " : "", tool_token_origin,
             tool_token_origin[0] ? " " : "");
}

int tool_fail(const mk_error *err)
{
    const char *message = err->message[0] ? err->message : mk_status_name(err->status);
    bool refused_token = err->status == MK_ERR_API && err->http_status == 401;
    char hint[4608];
    if (refused_token)
        tool_token_refused_remedy(hint, sizeof(hint));
    char *clean = mk_text_sanitize_dup(message);
    tool_note_error(clean ? clean : "", err->ref, refused_token ? hint : NULL);
    free(clean);
    tool_line_priority(stderr, MK_LOG_ERR);
    fputs("mkio-orgs: ", stderr);
    tool_put_safe(stderr, message);
    /* The API layer already names the ref in its message; add it only if not. */
    if (err->ref[0] && !strstr(err->message, err->ref)) {
        fputs(" (ref ", stderr);
        tool_put_safe(stderr, err->ref);
        fputc(')', stderr);
    }
    fputc('\n', stderr);
    /* A token MK.IO refuses is the user's to replace, not a refusal of what
     * was asked: exit 2 (as for a missing token), with the remedy. */
    if (refused_token) {
        tool_line_priority(stderr, MK_LOG_ERR);
        fputs("mkio-orgs: ", stderr);
        tool_put_safe(stderr, hint);
        fputc('\n', stderr);
        return TOOL_EXIT_USAGE;
    }
    return tool_exit_code(err->status);
}

/* Writes the priority prefix, "mkio-orgs: " and the formatted message,
 * sanitized as a whole, to stderr (no newline); an error-level message is
 * kept for JSON mode's error object, with hint (may be NULL). */
static void tool_vmessage(int priority, const char *hint, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void tool_vmessage(int priority, const char *hint, const char *fmt, va_list ap)
{
    char *text = NULL;
    tool_line_priority(stderr, priority);
    fputs("mkio-orgs: ", stderr);
    if (vasprintf(&text, fmt, ap) < 0) {
        fputs("(message lost: out of memory)", stderr);
        return;
    }
    if (priority <= MK_LOG_ERR) {
        char *clean = mk_text_sanitize_dup(text);
        tool_note_error(clean ? clean : "", NULL, hint);
        free(clean);
    }
    tool_put_safe(stderr, text);
    free(text);
}

void tool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tool_vmessage(MK_LOG_ERR, NULL, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void tool_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tool_vmessage(MK_LOG_WARNING, NULL, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* --quiet (tool/verbosity.h); here, beside its first reader. */
bool tool_quiet;

static void tool_log(void *ctx, int priority, const char *message)
{
    if (tool_quiet && priority > MK_LOG_WARNING)
        return; /* a notice is informational */
    const char *word = priority <= MK_LOG_ERR ? "error" : priority == MK_LOG_WARNING ? "warning"
                       : "notice";
    tool_line_priority(stderr, priority);
    fprintf(stderr, "mkio-orgs: %s: ", word);
    tool_put_safe(stderr, message);
    fputc('\n', stderr);
}

const struct mk_log_sink tool_log_sink = { tool_log, NULL };

int tool_id_argument(const char *what, const char *arg, const char *list_command,
                     char out[MK_UUID_LEN + 1])
{
    if (mk_uuid_canonical(arg, out))
        return TOOL_EXIT_OK;
    tool_error("\"%.100s\" is not an %s id: pass the %s's id (a UUID such as "
               "0c6f2a8e-1a2b-4c3d-9e8f-a1b2c3d4e5f6), which `%s` shows", arg, what, what,
               list_command);
    return TOOL_EXIT_USAGE;
}

int tool_usage(const char *command, const char *fmt, ...)
{
    char hint[128];
    va_list ap;
    snprintf(hint, sizeof(hint), "Try 'mkio-orgs %s--help'.", command ? command : "");
    va_start(ap, fmt);
    tool_vmessage(MK_LOG_ERR, hint, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    tool_line_priority(stderr, MK_LOG_ERR);
    fprintf(stderr, "%s\n", hint);
    return TOOL_EXIT_USAGE;
}

void tool_put_safe_padded(FILE *f, const char *s, int width)
{
    char small[256];
    if (!s)
        s = "-";
    size_t size = strlen(s) + 1; /* sanitizing never lengthens */
    char *buf = size <= sizeof(small) ? small : malloc(size);
    if (!buf) {
        fputs("(out of memory)", f);
        return;
    }
    fprintf(f, "%-*s", width, mk_text_sanitize(s, buf, size));
    if (buf != small)
        free(buf);
}

void tool_put_safe(FILE *f, const char *s)
{
    tool_put_safe_padded(f, s, 0);
}

int tool_simple_options(const char *command, const char *help, int argc, char **argv,
                        bool *json, const char *arg_name, char **positional)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return -1;
        }
        if (c == 'j') {
            /* Every command takes --json (mkio-orgs(1), JSON OUTPUT). */
            tool_json_set(true);
            continue;
        }
        return tool_usage(NULL, "%s: unknown option '%s'", command, argv[optind - 1]);
    }
    int want = arg_name ? 1 : 0;
    if (argc - optind != want) {
        if (arg_name)
            return tool_usage(NULL, "%s: expected one %s", command, arg_name);
        return tool_usage(NULL, "%s: unexpected argument '%s'", command, argv[optind]);
    }
    if (arg_name)
        *positional = argv[optind];
    if (json)
        *json = tool_json();
    return TOOL_EXIT_OK;
}

/* Writes JSON text that json-c made, with what json-c leaves raw but a
 * terminal would act on escaped. Outside strings json-c writes only
 * printable ASCII and its own layout, so such bytes are always inside a
 * string, where \uXXXX stands for the same character. Which characters
 * those are is mk_text_sanitize's decision (base/text.h): a character it
 * keeps is written as it is, a valid one it replaces (mk_text_char_unsafe)
 * is escaped, and a byte that starts no character (mk_utf8_decode) becomes
 * U+FFFD. */
static void tool_put_json_text(FILE *f, const char *json)
{
    const unsigned char *p = (const unsigned char *)json;
    while (*p) {
        if (*p < 0x80) {
            if (*p == 0x7f)
                fputs("\\u007f", f);
            else
                fputc(*p, f);
            p++;
            continue;
        }
        uint32_t cp;
        size_t len = mk_utf8_decode(p, strnlen((const char *)p, 4), &cp);
        if (len == 0) {
            fputs("\\ufffd", f);
            len = 1;
        } else if (!mk_text_char_unsafe(cp)) {
            fwrite(p, 1, len, f);
        } else if (cp > 0xffff) {
            fprintf(f, "\\u%04lx\\u%04lx", 0xd800 + ((unsigned long)(cp - 0x10000) >> 10),
                    0xdc00 + ((unsigned long)(cp - 0x10000) & 0x3ff));
        } else {
            fprintf(f, "\\u%04lx", (unsigned long)cp);
        }
        p += len;
    }
}

void tool_print_json(json_object *value)
{
    value = tool_json_schema_first(value);
    tool_put_json_text(stdout, json_object_to_json_string_ext(
                                   value, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    fputc('\n', stdout);
    json_object_put(value);
    tool_json_printed = true;
}

void tool_print_json_line(json_object *value, int priority)
{
    value = tool_json_schema_first(value);
    tool_line_priority(stdout, priority);
    tool_put_json_text(stdout, json_object_to_json_string_ext(
                                   value, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    fputc('\n', stdout);
    json_object_put(value);
    tool_json_printed = true;
}

mk_status tool_config_choose(const struct tool *t, const char **path, const char **origin,
                             mk_error *err)
{
    *path = t->config_path;
    *origin = "--config";
    if (t->config_path)
        return MK_OK;
    *origin = "the default";
    const char *env = secure_getenv("MKIO_CONFIG");
    if (!env || !*env)
        return MK_OK;
    if (geteuid() == 0)
        return mk_error_set(err, MK_ERR_USAGE,
                            "MKIO_CONFIG is set, and root takes its configuration only from the "
                            "command line or its own file: pass --config FILE, or unset "
                            "MKIO_CONFIG to use " MK_CONFIG_DEFAULT_PATH);
    *path = env;
    *origin = "MKIO_CONFIG";
    return MK_OK;
}

int tool_load_config(struct tool *t)
{
    mk_error err;
    mk_error_clear(&err);
    const char *path, *origin;
    if (t->cfg_loaded)
        return TOOL_EXIT_OK;
    if (tool_config_choose(t, &path, &origin, &err) != MK_OK)
        return tool_fail(&err);
    if (mk_config_load_with(path, &mk_url_rules, &t->cfg, &err) != MK_OK ||
        mk_config_apply_env(&t->cfg, &mk_url_rules, &err) != MK_OK) {
        mk_config_free(&t->cfg);
        err.status = MK_ERR_USAGE;
        return tool_fail(&err);
    }
    t->cfg_loaded = true;
    return TOOL_EXIT_OK;
}

mk_status tool_own_token_path(struct tool *t, char *path, size_t size, mk_error *err)
{
    /* $HOME as every shell tool does; the file's owner and mode are checked
     * whatever the path. */
    const char *home = getenv("HOME");
    if (!home || home[0] != '/') {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return mk_error_set(err, MK_ERR_USAGE,
                            "no token: cannot find your home directory; set MKIO_TOKEN or "
                            "pass --token-file FILE");
    if ((size_t)snprintf(path, size, "%s/%s", home, t->cfg.user_token_path) >= size)
        return mk_error_set(err, MK_ERR_USAGE, "no token: your home directory path is too long");
    return MK_OK;
}

/* The token of the user running the tool, by the documented precedence. */
mk_status tool_read_token(struct tool *t, char **token, char *source, size_t source_size,
                          mk_error *err)
{
    tool_token_origin_env = !t->token_file && getenv("MKIO_TOKEN");
    snprintf(tool_token_origin, sizeof(tool_token_origin), "%s",
             t->token_file ? t->token_file : "");
    if (t->token_file) {
        snprintf(source, source_size, "%s", t->token_file);
        return mk_token_read_file(t->token_file, getuid(), token, err);
    }

    const char *env = getenv("MKIO_TOKEN");
    if (env) {
        snprintf(source, source_size, "MKIO_TOKEN");
        if (mk_token_check_value(env, err) != MK_OK) {
            mk_error_prefix(err, "MKIO_TOKEN");
            return err->status;
        }
        *token = strdup(env);
        return *token ? MK_OK : mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    }

    char path[4096];
    mk_status st = tool_own_token_path(t, path, sizeof(path), err);
    if (st != MK_OK)
        return st;
    snprintf(source, source_size, "%s", path);
    snprintf(tool_token_origin, sizeof(tool_token_origin), "%s", path);
    st = mk_token_read_file(path, getuid(), token, err);
    if (st == MK_ERR_IO) /* token.h: no file there */
        return mk_error_set(err, MK_ERR_USAGE,
                            "no token: set MKIO_TOKEN, pass --token-file FILE, run `mkio-orgs "
                            "login`, or put your token in %s (mode 0600)", path);
    return st;
}

int tool_client(struct tool *t, mk_http **out)
{
    mk_error err;
    mk_error_clear(&err);
    int rc = tool_load_config(t);
    if (rc)
        return rc;
    char *token = NULL;
    char source[4096];
    mk_status st = tool_read_token(t, &token, source, sizeof(source), &err);
    if (st != MK_OK) {
        /* Every token problem is the user's to fix: exit 2. */
        err.status = MK_ERR_USAGE;
        return tool_fail(&err);
    }
    rc = tool_client_for_token(t, token, out);
    mk_token_free(token);
    return rc;
}

int tool_client_for_token(struct tool *t, const char *token, mk_http **out)
{
    mk_error err;
    mk_error_clear(&err);
    mk_status st = mk_http_new(&t->cfg, token, out, &err);
    /* A user running the tool for themself keeps their proxy settings;
     * root never takes them from the environment (http.h). */
    if (st == MK_OK && getuid() != 0 && geteuid() == getuid())
        mk_http_allow_env_proxy(*out, true);
    return st == MK_OK ? TOOL_EXIT_OK : tool_fail(&err);
}

int tool_need_root(const char *command)
{
    if (geteuid() == 0)
        return TOOL_EXIT_OK;
    tool_error("%s changes the system's membership store; run it as root", command);
    return TOOL_EXIT_USAGE;
}

int tool_read_file(const char *path, size_t max, bool follow, char **out, size_t *len)
{
    return mk_fileio_read_path(path, follow, max, out, len);
}

void tool_format_time(int64_t t, char *buf, size_t len)
{
    if (t <= 0 || mk_time_format_utc(t, buf, len) < 0)
        snprintf(buf, len, "never");
}

void tool_format_duration(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;
    if (s >= 86400 && s % 86400 == 0)
        snprintf(buf, len, "%lldd", (long long)(s / 86400));
    else if (s >= 3600 && s % 3600 == 0)
        snprintf(buf, len, "%lldh", (long long)(s / 3600));
    else if (s >= 60 && s % 60 == 0)
        snprintf(buf, len, "%lldm", (long long)(s / 60));
    else
        snprintf(buf, len, "%llds", (long long)s);
}
