/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/main.c: mkio-orgs, every call of the MK.IO organization API from the
 * shell, plus the local membership store (status, sync). This file is the
 * dispatcher: the global options, then the table of verbs, which both runs
 * a command and writes the top-level --help. Each command is in its
 * cmd_*.c; what they share is tool/util.c. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/http.h"
#include "tool/cmd_doctor.h"
#include "tool/cmd_explain.h"
#include "tool/completion.h"
#include "tool/cmd_ids.h"
#include "tool/cmd_invite.h"
#include "tool/cmd_orgs.h"
#include "tool/cmd_refresh.h"
#include "tool/cmd_status.h"
#include "tool/cmd_store.h"
#include "tool/cmd_sync.h"
#include "tool/cmd_token.h"
#include "tool/util.h"
#include "tool/verbosity.h"

/* The top of --help, before the commands. */
static const char usage_head[] =
"Usage: mkio-orgs [--config FILE] [--token-file FILE] [--json] [--quiet | --verbose]\n"
"                 COMMAND [ARGS]\n"
"\n"
"Manage MK.IO organization membership: invites for admins, organizations for\n"
"users, and the local store that makes organizations Unix groups.\n";

/* The end of --help, after the commands. */
static const char usage_tail[] =
"\n"
"Options:\n"
"  --config FILE         Configuration file (default: $MKIO_CONFIG, else\n"
"                        /etc/mkio/mkio.conf; a missing default file means\n"
"                        built-in defaults). Root must use --config instead\n"
"                        of MKIO_CONFIG.\n"
"  --token-file FILE     Read the token from FILE, which must be yours, a regular\n"
"                        file and mode 0600. A token is never taken as an argument.\n"
"  --json                Print one JSON object for scripts, before or after the\n"
"                        command (every command takes it; strings exact, a byte\n"
"                        that is not UTF-8 shows as U+FFFD). An error is an\n"
"                        object too, on standard output, with the same exit\n"
"                        status. The schema: mkio-orgs(1), JSON OUTPUT.\n"
"  -q, --quiet           No informational lines (confirmations, summaries,\n"
"                        notices): only the data asked for, warnings and errors.\n"
"  -v, --verbose         Each HTTP request on stderr: method, path, status, the\n"
"                        API's ref and the time in ms (never a header or token).\n"
"  -h, --help            This help. `mkio-orgs COMMAND --help` works too.\n"
"  --version             Print the version.\n"
"\n"
"Environment:\n"
"  MKIO_TOKEN            The token, when --token-file is not given.\n"
"  MKIO_BASE_URL         API base URL (default: base_url of the configuration).\n"
"  MKIO_CONFIG           Configuration file, when --config is not given.\n"
"Root refuses MKIO_BASE_URL and MKIO_CONFIG (its environment may be another\n"
"user's): it takes base_url from its configuration file, the file from --config.\n"
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

/* The headings of --help that group the commands, in order. */
enum tool_section {
    SECTION_NONE,      /* not listed in --help */
    SECTION_ADMIN,
    SECTION_USER,
    SECTION_TOKEN,
    SECTION_STORE,
    SECTION_DIAGNOSIS,
};

static const char *const section_titles[] = {
    [SECTION_ADMIN] =
        "Admin commands (act on the organization of your token; you must be its admin):",
    [SECTION_USER] = "User commands (act for the user of your token):",
    [SECTION_TOKEN] = "Token commands:",
    [SECTION_STORE] = "Local store commands:",
    [SECTION_DIAGNOSIS] = "Diagnosis:",
};

/* The caller's proxy, key log and CA path settings are dropped before the
 * verb runs, whoever runs it (they always are for root: http.h). */
#define VERB_SCRUB_ENVIRONMENT (1u << 0)

/* One command of mkio-orgs, or one sub-command of it (`orgs list`). A verb
 * with sub-commands also has an entry of its own (sub NULL), run when the
 * word after it names none of them: it prints the verb's usage or the
 * usage error. run gets the arguments from the last word of the name on
 * (argv[0] "list" for `orgs list`, "status" for `status`). */
struct tool_verb {
    const char *name;
    const char *sub;           /* NULL: the verb itself */
    int (*run)(struct tool *t, int argc, char **argv);
    unsigned flags;            /* VERB_* */
    enum tool_section section; /* where --help lists it */
    const char *args;          /* what follows the name in --help's synopsis, or NULL */
    const char *summary;       /* what --help says of it: lines, each ended by \n */
};

static int verb_help(struct tool *t, int argc, char **argv);

/* In the order of --help. */
static const struct tool_verb verbs[] = {
    { "invite", "create", cmd_invite_create, 0, SECTION_ADMIN,
      "--email EMAIL [--comment TEXT] [--team TEAM]... [--json]",
      "Invite EMAIL. An accepted user joins the Everyone team\n"
      "and every TEAM named. Invites expire after 14 days.\n" },
    { "invite", "list", cmd_invite_list, 0, SECTION_ADMIN, "[--json]",
      "List pending invites.\n" },
    { "invite", "cancel", cmd_invite_cancel, 0, SECTION_ADMIN, "INVITE_ID [--json]",
      "Cancel a pending invite.\n" },
    { "invite", NULL, cmd_invite, 0, SECTION_NONE, NULL, NULL },

    { "orgs", "list", cmd_orgs_list, 0, SECTION_USER, "[--json]",
      "Organizations you belong to and those you are invited\n"
      "to, with sender, comment, state and expiry.\n" },
    { "orgs", "accept", cmd_orgs_accept, 0, SECTION_USER, "ORG_ID [--no-refresh] [--json]",
      "Accept the pending invite to ORG_ID and join it; your\n"
      "groups here are refreshed (mkio-orgs refresh) unless\n"
      "--no-refresh.\n" },
    { "orgs", "decline", cmd_orgs_decline, 0, SECTION_USER, "ORG_ID [--json]",
      "Decline the pending invite to ORG_ID.\n" },
    { "orgs", "leave", cmd_orgs_leave, 0, SECTION_USER, "ORG_ID [--yes] [--no-refresh] [--json]",
      "Leave ORG_ID. Only a fresh invitation can undo this:\n"
      "on a terminal you are asked to confirm; scripts pass\n"
      "--yes. Your groups here are refreshed unless\n"
      "--no-refresh.\n" },
    { "orgs", NULL, cmd_orgs, 0, SECTION_NONE, NULL, NULL },
    /* The client connects to the refresh service; the service side
     * (--serve, hidden) clears its environment itself. */
    { "refresh", NULL, cmd_refresh, 0, SECTION_USER, "[--json]",
      "Refresh your own groups now, without root, through\n"
      "this host's refresh service (mkio-refresh.socket);\n"
      "at most once every 30 s.\n" },

    { "login", NULL, cmd_login, 0, SECTION_TOKEN, "[--user USER] [--json]",
      "Read a token from standard input (not echoed), check it\n"
      "with MK.IO and save it as your token file (mode 0600).\n"
      "Root with --user saves it as token_dir/USER.\n" },
    { "whoami", NULL, cmd_whoami, 0, SECTION_TOKEN, "[--json]",
      "Whose token is in use, its organization, where it was\n"
      "read from and when it expires.\n" },
    { "logout", NULL, cmd_logout, 0, SECTION_TOKEN, "[--user USER] [--json]",
      "Remove the saved token file (the token stays valid\n"
      "until it expires or is revoked in the MK.IO web app).\n" },

    { "status", NULL, cmd_status, 0, SECTION_STORE, "[--json] [--verify]",
      "The groups this machine has made of organizations:\n"
      "name, gid, organization id and name, members; per\n"
      "user, the last successful refresh, the last attempt\n"
      "and its error, and whether they are stale.\n" },
    /* sync runs for a timer as root, or for whoever runs it: never with the
     * caller's proxy or CA settings. */
    { "sync", NULL, cmd_sync, VERB_SCRUB_ENVIRONMENT, SECTION_STORE,
      "[--accept] [--jobs N] [--max-time SECONDS] [--json] (--all | --user USER...)",
      "Root only. Refresh the memberships of users with a\n"
      "token under the token directory, as a login would:\n"
      "oldest attempt first, up to 4 at once, one line per\n"
      "user as each finishes. Pending invites are accepted\n"
      "only with --accept, and only those the invite policy\n"
      "allows.\n" },
    { "store", "set-user", cmd_store_set_user, 0, SECTION_STORE,
      "USER --from FILE.json [--json]",
      "Root only. Replace USER's organizations in the store\n"
      "with the list in FILE.json: [{\"id\": ID, \"name\": NAME}...].\n" },
    { "store", "publish", cmd_store_publish, 0, SECTION_STORE, "[--json]",
      "Root only. Compile and publish the store (groups.db,\n"
      "the user database with userdb_export) offline.\n" },
    { "store", NULL, cmd_store, 0, SECTION_NONE, NULL, NULL },
    { "ids", "export", cmd_ids_export, 0, SECTION_STORE, "[--new] [--json]",
      "This machine's groups of organizations (and retired\n"
      "gids) as pin and retired lines: an ids_file that gives\n"
      "every host the same groups. --new: only what this\n"
      "machine gave that ids_file lacks, to merge.\n" },
    { "ids", NULL, cmd_ids, 0, SECTION_NONE, NULL, NULL },

    { "doctor", NULL, cmd_doctor, 0, SECTION_DIAGNOSIS, "[--json]",
      "Check this host's set-up (configuration, ca_file, TLS,\n"
      "tokens, nsswitch.conf, PAM lines, groups.db, nscd, stale\n"
      "users): one ok/warn/fail line each, with a hint. Exit 4\n"
      "when a check fails. Root checks everything.\n" },
    { "explain", NULL, cmd_explain, 0, SECTION_DIAGNOSIS, "USER [--json]",
      "Why USER has the groups they have: min_uid and\n"
      "ignore_users, the token file logins read, the last\n"
      "refresh and its error, the store's groups with their\n"
      "renames and gid moves, and what getent answers now.\n" },

    { "help", NULL, verb_help, 0, SECTION_NONE, NULL, NULL },
};

/* --help's columns: a synopsis that fits in SYNOPSIS_WIDTH has its summary
 * beside it, a longer one above it; the summary starts at SUMMARY_COLUMN. */
#define SYNOPSIS_WIDTH 20
#define SUMMARY_COLUMN 24

/* One verb in --help: "  NAME [SUB] ARGS", then its summary. */
static void usage_put_verb(FILE *f, const struct tool_verb *v)
{
    char synopsis[256];
    snprintf(synopsis, sizeof(synopsis), "%s%s%s%s%s", v->name, v->sub ? " " : "",
             v->sub ? v->sub : "", v->args ? " " : "", v->args ? v->args : "");
    if (strlen(synopsis) <= SYNOPSIS_WIDTH)
        fprintf(f, "  %-*s  ", SYNOPSIS_WIDTH, synopsis);
    else
        fprintf(f, "  %s\n%*s", synopsis, SUMMARY_COLUMN, "");
    for (const char *line = v->summary; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (line != v->summary)
            fprintf(f, "%*s", SUMMARY_COLUMN, "");
        fprintf(f, "%.*s\n", (int)len, line);
        line += end ? len + 1 : len;
    }
}

/* The top-level --help: its head, the verbs of the table under their
 * headings, its tail. */
static void usage_print(FILE *f)
{
    enum tool_section shown = SECTION_NONE;
    fputs(usage_head, f);
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        const struct tool_verb *v = &verbs[i];
        if (v->section == SECTION_NONE || !v->summary)
            continue;
        if (v->section != shown) {
            shown = v->section;
            fprintf(f, "\n%s\n", section_titles[shown]);
        }
        usage_put_verb(f, v);
    }
    fputs(usage_tail, f);
}

/* `mkio-orgs help`: the top-level --help, whatever follows; with --json
 * the commands of --help as {"schema", "commands": ["orgs list", ...]},
 * which the test of the JSON contract walks. */
static int verb_help(struct tool *t, int argc, char **argv)
{
    if (!tool_json()) {
        usage_print(stdout);
        return TOOL_EXIT_OK;
    }
    json_object *o = tool_json_new();
    json_object *list = json_object_new_array();
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        const struct tool_verb *v = &verbs[i];
        char name[64];
        if (v->section == SECTION_NONE || !v->summary)
            continue;
        snprintf(name, sizeof(name), "%s%s%s", v->name, v->sub ? " " : "", v->sub ? v->sub : "");
        json_object_array_add(list, json_object_new_string(name));
    }
    json_object_object_add(o, "commands", list);
    tool_print_json(o);
    return TOOL_EXIT_OK;
}

/* The entry of name and sub (NULL: the verb itself), or NULL. */
static const struct tool_verb *verb_find(const char *name, const char *sub)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        const struct tool_verb *v = &verbs[i];
        if (strcmp(v->name, name) != 0)
            continue;
        if (sub ? v->sub && strcmp(v->sub, sub) == 0 : !v->sub)
            return v;
    }
    return NULL;
}

/* Runs the command argv[0] names: its sub-command when argv[1] names one,
 * else the verb itself. The exit code; a usage error for a name the table
 * does not hold. */
static int dispatch_verb(struct tool *t, int argc, char **argv)
{
    const struct tool_verb *v = argc >= 2 ? verb_find(argv[0], argv[1]) : NULL;
    int skip = v ? 1 : 0;
    if (!v)
        v = verb_find(argv[0], NULL);
    /* Root never takes a proxy, key log or CA path from its caller. */
    if (getuid() == 0 || geteuid() == 0 || (v && (v->flags & VERB_SCRUB_ENVIRONMENT)))
        mk_http_scrub_environment();
    if (!v)
        return tool_usage(NULL, "unknown command '%s'", argv[0]);
    return v->run(t, argc - skip, argv + skip);
}

/* The hidden --completion=SHELL: the completion written from the verb
 * table and the global options (tool/completion.h), or the users --user
 * completes to. The commands are those --help lists, and help. */
static int completion_print(struct tool *t, const char *shell, const struct option *options)
{
    struct tool_completion_verb list[sizeof(verbs) / sizeof(verbs[0])];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (verbs[i].section != SECTION_NONE || strcmp(verbs[i].name, "help") == 0)
            list[n++] = (struct tool_completion_verb){ verbs[i].name, verbs[i].sub, verbs[i].args };
    int rc = tool_completion_print(t, stdout, shell, list, n, options);
    if (t->cfg_loaded)
        mk_config_free(&t->cfg);
    return rc;
}

/* Whether --json is among the arguments (before a "--"): JSON mode is set
 * before anything is parsed, so that even a usage error is an object. */
static bool main_wants_json(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--json") == 0)
            return true;
    }
    return false;
}

/* The global options, then the verb: the exit code. */
static int main_run(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"token-file", required_argument, NULL, 't'},
        {"token", optional_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"completion", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false, verbose = false;
    struct tool t;
    memset(&t, 0, sizeof(t));

    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hqv", options, NULL)) != -1) {
        switch (c) {
        case 'C': return completion_print(&t, optarg, options);
        case 'q': quiet = true; break;
        case 'v': verbose = true; break;
        case 'c': t.config_path = optarg; break;
        case 't': t.token_file = optarg; break;
        case 'j': tool_json_set(true); break;
        case 'h': usage_print(stdout); return TOOL_EXIT_OK;
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
    if (quiet && verbose)
        return tool_usage(NULL, "--quiet and --verbose contradict each other: give one");
    tool_verbosity_set(quiet, verbose);

    int rc = dispatch_verb(&t, argc - optind, argv + optind);

    if (t.cfg_loaded)
        mk_config_free(&t.cfg);
    if (fflush(stdout) != 0 && rc == TOOL_EXIT_OK) {
        fprintf(stderr, "mkio-orgs: cannot write output: %s\n", strerror(errno));
        rc = TOOL_EXIT_LOCAL;
    }
    return rc;
}

/* The global options, then the verb. */
int main(int argc, char **argv)
{
    tool_json_set(main_wants_json(argc, argv));
    tool_journal_detect();
    return tool_json_finish(main_run(argc, argv));
}
