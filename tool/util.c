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

/* Where the token in use came from (tool_read_token), so that a refusal
 * names the fix that fits it: "" until a token is read. */
static char tool_token_origin[4096];
static bool tool_token_origin_env;

/* The remedy for a token MK.IO refused (401), by where it came from
 * (issue 19): MKIO_TOKEN is the caller's to fix or unset, --token-file's
 * file theirs to replace, their own file `mkio-orgs login`'s. */
static void tool_token_refused_remedy(void)
{
    fputs("mkio-orgs: the token ", stderr);
    if (tool_token_origin_env) {
        fputs("in MKIO_TOKEN was refused (expired, revoked or mistyped): set MKIO_TOKEN to a "
              "valid token, or unset it to use your token file (`mkio-orgs login` saves one)\n",
              stderr);
        return;
    }
    if (tool_token_origin[0]) {
        fputs("in ", stderr);
        tool_put_safe(stderr, tool_token_origin);
        fputc(' ', stderr);
    }
    fputs("was refused (expired, revoked or mistyped): make a new one in the MK.IO web app "
          "(profile menu, \"Your personal API tokens\") and run `mkio-orgs login`\n", stderr);
}

int tool_fail(const mk_error *err)
{
    fputs("mkio-orgs: ", stderr);
    tool_put_safe(stderr, err->message[0] ? err->message : mk_status_name(err->status));
    /* The API layer already names the ref in its message; add it only if not. */
    if (err->ref[0] && !strstr(err->message, err->ref)) {
        fputs(" (ref ", stderr);
        tool_put_safe(stderr, err->ref);
        fputc(')', stderr);
    }
    fputc('\n', stderr);
    /* A token MK.IO refuses is the user's to replace, not a refusal of what
     * was asked: exit 2 (as for a missing token), with the remedy. */
    if (err->status == MK_ERR_API && err->http_status == 401) {
        tool_token_refused_remedy();
        return TOOL_EXIT_USAGE;
    }
    return tool_exit_code(err->status);
}

/* Writes "mkio-orgs: " and the formatted message, sanitized as a whole, to
 * stderr (no newline). */
static void tool_vmessage(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void tool_vmessage(const char *fmt, va_list ap)
{
    char *text = NULL;
    fputs("mkio-orgs: ", stderr);
    if (vasprintf(&text, fmt, ap) < 0) {
        fputs("(message lost: out of memory)", stderr);
        return;
    }
    tool_put_safe(stderr, text);
    free(text);
}

void tool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tool_vmessage(fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void tool_log(void *ctx, int priority, const char *message)
{
    const char *word = priority <= MK_LOG_ERR ? "error" : priority == MK_LOG_WARNING ? "warning"
                       : "notice";
    fprintf(stderr, "mkio-orgs: %s: ", word);
    tool_put_safe(stderr, message);
    fputc('\n', stderr);
}

const struct mk_log_sink tool_log_sink = { tool_log, NULL };

int tool_usage(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tool_vmessage(fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'mkio-orgs %s--help'.\n", command ? command : "");
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
        if (c == 'j' && json) {
            *json = true;
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
    tool_put_json_text(stdout, json_object_to_json_string_ext(
                                   value, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    fputc('\n', stdout);
    json_object_put(value);
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
    fprintf(stderr, "mkio-orgs: %s changes the system's membership store; run it as root\n",
            command);
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
