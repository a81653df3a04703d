/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs: every call of the MK.IO organization API from the shell, plus
 * the local membership store (status, sync). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "base/text.h"
#include "net/token.h"
#include "tool.h"

static const char usage_text[] =
"Usage: mkio-orgs [--config FILE] [--token-file FILE] COMMAND [ARGS]\n"
"\n"
"Manage MK.IO organization membership: invites for admins, organizations for\n"
"users, and the local store that makes organizations Unix groups.\n"
"\n"
"Admin commands (act on the organization of your token; you must be its admin):\n"
"  invite create --email EMAIL [--comment TEXT] [--team TEAM]... [--json]\n"
"                        Invite EMAIL. An accepted user joins the Everyone team\n"
"                        and every TEAM named. Invites expire after 14 days.\n"
"  invite list [--json]  List pending invites.\n"
"  invite cancel INVITE_ID\n"
"                        Cancel a pending invite.\n"
"\n"
"User commands (act for the user of your token):\n"
"  orgs list [--json]    Organizations you belong to and those you are invited\n"
"                        to, with sender, comment, state and expiry.\n"
"  orgs accept ORG_ID    Accept the pending invite to ORG_ID and join it.\n"
"  orgs decline ORG_ID   Decline the pending invite to ORG_ID.\n"
"  orgs leave ORG_ID [--yes]\n"
"                        Leave ORG_ID. Only a fresh invitation can undo this:\n"
"                        on a terminal you are asked to confirm; scripts pass\n"
"                        --yes.\n"
"\n"
"Token commands:\n"
"  login [--user USER]   Read a token from standard input (not echoed), check it\n"
"                        with MK.IO and save it as your token file (mode 0600).\n"
"                        Root with --user saves it as token_dir/USER.\n"
"  whoami [--json]       Whose token is in use, its organization, where it was\n"
"                        read from and when it expires.\n"
"  logout [--user USER]  Remove the saved token file (the token stays valid\n"
"                        until it expires or is revoked in the MK.IO web app).\n"
"\n"
"Local store commands:\n"
"  status [--json] [--verify]\n"
"                        The groups this machine has made of organizations:\n"
"                        name, gid, organization id and name, members; per\n"
"                        user, the last successful refresh, the last attempt\n"
"                        and its error, and whether they are stale.\n"
"  sync [--accept] [--jobs N] [--max-time SECONDS] [--json] (--all | --user USER...)\n"
"                        Root only. Refresh the memberships of users with a\n"
"                        token under the token directory, as a login would:\n"
"                        oldest attempt first, up to 4 at once, one line per\n"
"                        user as each finishes. Pending invites are accepted\n"
"                        only with --accept, and only those the invite policy\n"
"                        allows.\n"
"  store set-user USER --from FILE.json\n"
"                        Root only. Replace USER's organizations in the store\n"
"                        with the list in FILE.json: [{\"id\": ID, \"name\": NAME}...].\n"
"\n"
"Diagnosis:\n"
"  doctor [--json]       Check this host's set-up (configuration, ca_file, TLS,\n"
"                        tokens, nsswitch.conf, PAM lines, groups.db, nscd, stale\n"
"                        users): one ok/warn/fail line each, with a hint. Exit 4\n"
"                        when a check fails. Root checks everything.\n"
"\n"
"Options:\n"
"  --config FILE         Configuration file (default: $MKIO_CONFIG, else\n"
"                        /etc/mkio/mkio.conf; a missing default file means\n"
"                        built-in defaults).\n"
"  --token-file FILE     Read the token from FILE, which must be yours, a regular\n"
"                        file and mode 0600. A token is never taken as an argument.\n"
"  --json                With a listing: print JSON for scripts (strings exact;\n"
"                        a byte that is not UTF-8 shows as U+FFFD).\n"
"  -h, --help            This help. `mkio-orgs COMMAND --help` works too.\n"
"  --version             Print the version.\n"
"\n"
"Environment:\n"
"  MKIO_TOKEN            The token, when --token-file is not given.\n"
"  MKIO_BASE_URL         API base URL (default https://app.mk.io).\n"
"  MKIO_CONFIG           Configuration file, when --config is not given.\n"
"Without --token-file or MKIO_TOKEN the token is read from ~/.config/mkio/token\n"
"(the user_token key of the configuration), which must be yours and mode 0600.\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  refused by the API (or an organization or invite that does not exist);\n"
"     the API's detail and ref are printed: quote the ref to MediaKind support\n"
"  2  usage, configuration or token error (a token MK.IO refuses, 401, too:\n"
"     make a new one and run `mkio-orgs login`)\n"
"  3  network or service unavailable, or an answer the tool cannot read\n"
"  4  local failure (the membership store)\n";

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
        fputs("mkio-orgs: the token was refused (expired, revoked or mistyped): make a new one in "
              "the MK.IO web app (profile menu, \"Your personal API tokens\") and run "
              "`mkio-orgs login`\n", stderr);
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
 * those are is mk_text_sanitize's decision: a character it keeps is written
 * as it is, one it turns into a single '?' (a valid but unsafe character) is
 * escaped, and a byte that starts no character becomes U+FFFD. */
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
        size_t len = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 1;
        char one[5], clean[5];
        size_t n = strnlen((const char *)p, len);
        memcpy(one, p, n);
        one[n] = '\0';
        mk_text_sanitize(one, clean, sizeof(clean));
        if (n == len && strcmp(one, clean) == 0) {
            fwrite(p, 1, len, f);
        } else if (len > 1 && n == len && strcmp(clean, "?") == 0) {
            static const unsigned char lead_bits[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
            unsigned long cp = p[0] & lead_bits[len];
            for (size_t i = 1; i < len; i++)
                cp = (cp << 6) | (p[i] & 0x3f);
            if (cp > 0xffff)
                fprintf(f, "\\u%04lx\\u%04lx", 0xd800 + ((cp - 0x10000) >> 10),
                        0xdc00 + ((cp - 0x10000) & 0x3ff));
            else
                fprintf(f, "\\u%04lx", cp);
        } else {
            fputs("\\ufffd", f);
            len = 1;
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

int tool_load_config(struct tool *t)
{
    mk_error err;
    mk_error_clear(&err);
    if (t->cfg_loaded)
        return TOOL_EXIT_OK;
    if (mk_config_load_with(t->config_path, &mk_url_rules, &t->cfg, &err) != MK_OK ||
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

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"token-file", required_argument, NULL, 't'},
        {"token", optional_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct tool t;
    memset(&t, 0, sizeof(t));
    t.config_path = getenv("MKIO_CONFIG");
    if (t.config_path && !*t.config_path)
        t.config_path = NULL;

    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        switch (c) {
        case 'c': t.config_path = optarg; break;
        case 't': t.token_file = optarg; break;
        case 'h': fputs(usage_text, stdout); return TOOL_EXIT_OK;
        case 'V': puts("mkio-orgs " MK_VERSION); return TOOL_EXIT_OK;
        case 'T':
            /* Arguments show in ps and shell history: refuse, and say what to do. */
            return tool_usage(NULL, "a token is never taken as an argument; set MKIO_TOKEN or "
                                    "pass --token-file FILE");
        default:
            return tool_usage(NULL, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return tool_usage(NULL, "no command given");

    const char *cmd = argv[optind];
    /* Root, or sync, never takes a proxy, key log or CA path from its caller. */
    if (getuid() == 0 || geteuid() == 0 || strcmp(cmd, "sync") == 0)
        mk_http_scrub_environment();
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    int rc;
    if (strcmp(cmd, "invite") == 0)
        rc = cmd_invite(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "orgs") == 0)
        rc = cmd_orgs(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "status") == 0)
        rc = cmd_status(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "store") == 0)
        rc = cmd_store(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "sync") == 0)
        rc = cmd_sync(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "login") == 0)
        rc = cmd_login(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "whoami") == 0)
        rc = cmd_whoami(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "logout") == 0)
        rc = cmd_logout(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "doctor") == 0)
        rc = cmd_doctor(&t, sub_argc, sub_argv);
    else if (strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        rc = TOOL_EXIT_OK;
    } else
        rc = tool_usage(NULL, "unknown command '%s'", cmd);

    if (t.cfg_loaded)
        mk_config_free(&t.cfg);
    if (fflush(stdout) != 0 && rc == TOOL_EXIT_OK) {
        fprintf(stderr, "mkio-orgs: cannot write output: %s\n", strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    }
    return rc;
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
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW);
    int fd = open(path, flags), r = 0;
    struct stat st;
    size_t got = 0;
    char *buf = NULL;

    *out = NULL;
    *len = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        r = -EFBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EBADMSG; /* shrank while read */
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return r;
}
