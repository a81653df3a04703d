/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs invite: the admin side, /organization/invites. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tool/cmd_invite.h"
#include "tool/shape.h"
#include "tool/util.h"
#include "tool/verbosity.h"

static const char invite_help[] =
"Usage: mkio-orgs invite create --email EMAIL [--comment TEXT] [--team TEAM]... [--json]\n"
"       mkio-orgs invite list [--json]\n"
"       mkio-orgs invite cancel INVITE_ID [--json]\n"
"\n"
"Manage the invites of your token's organization (you must be its admin).\n"
"An invite expires 14 days after it is sent; an accepted user joins the\n"
"Everyone team as well as every --team named. `invite list` shows pending\n"
"invites only. Exit status as in `mkio-orgs --help`.\n";

/* An invite as text: its state and teams as its JSON says them (shape.h). */
static void print_invite(const struct mk_invite *inv)
{
    char when[32];
    const char *expires = inv->expires ? shape_api_time(inv->expires, when, sizeof(when)) : NULL;
    fputs("invite ", stdout);
    tool_put_safe(stdout, inv->id);
    fputs("\n  email:   ", stdout);
    tool_put_safe(stdout, inv->email);
    fputs("\n  state:   ", stdout);
    tool_put_safe(stdout, shape_invite_state(inv));
    fputs("\n  expires: ", stdout);
    tool_put_safe(stdout, expires ? expires : inv->expires ? inv->expires : "unknown");
    if (inv->expires && inv->expires_computed)
        fputs(" (computed: sent + 14 days; MK.IO decides)", stdout);
    fputs("\n  teams:   ", stdout);
    size_t n = shape_invite_teams(inv, NULL, 0);
    const char **teams = calloc(n, sizeof(*teams));
    shape_invite_teams(inv, teams, teams ? n : 0);
    for (size_t i = 0; teams && i < n; i++) {
        if (i)
            fputs(", ", stdout);
        tool_put_safe(stdout, teams[i]);
    }
    free(teams);
    if (inv->comment) {
        fputs("\n  comment: ", stdout);
        tool_put_safe(stdout, inv->comment);
    }
    fputc('\n', stdout);
}

int cmd_invite_create(struct tool *t, int argc, char **argv)
{
    static const struct option options[] = {
        {"email", required_argument, NULL, 'e'},
        {"comment", required_argument, NULL, 'c'},
        {"team", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *email = NULL, *comment = NULL;
    const char **teams = calloc((size_t)argc + 1, sizeof(*teams));
    size_t team_count = 0;
    int rc = TOOL_EXIT_OK, c;
    mk_http *http = NULL;
    struct mk_invite inv;
    mk_error err;
    memset(&inv, 0, sizeof(inv));
    mk_error_clear(&err);
    if (!teams)
        return TOOL_EXIT_LOCAL;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'e': email = optarg; break;
        case 'c': comment = optarg; break;
        case 'T': teams[team_count++] = optarg; break;
        case 'j': tool_json_set(true); break;
        case 'h': fputs(invite_help, stdout); goto out;
        default:
            rc = tool_usage("invite ", "invite create: unknown or incomplete option '%s'",
                            argv[optind - 1]);
            goto out;
        }
    }
    if (optind < argc) {
        rc = tool_usage("invite ", "invite create: unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (!email || !*email || !strchr(email, '@')) {
        rc = tool_usage("invite ", "invite create: --email EMAIL is required (an address with '@')");
        goto out;
    }
    for (size_t i = 0; i < team_count; i++) {
        if (!*teams[i]) {
            rc = tool_usage("invite ", "invite create: --team needs a team name");
            goto out;
        }
    }

    rc = tool_client(t, &http);
    if (rc)
        goto out;
    if (mk_invite_create(http, email, comment, teams, team_count, &inv, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    if (tool_json()) {
        json_object *o = tool_json_new();
        json_object_object_add(o, "invite", shape_admin_invite(&inv));
        tool_print_json(o);
    } else {
        if (!tool_quiet) {
            fputs("Invited ", stdout);
            tool_put_safe(stdout, inv.email ? inv.email : email);
            fputs(". The invite expires in 14 days.\n", stdout);
        }
        print_invite(&inv);
    }
out:
    mk_invite_clear(&inv);
    mk_http_free(http);
    free(teams);
    return rc;
}

int cmd_invite_list(struct tool *t, int argc, char **argv)
{
    bool json = false;
    int rc = tool_simple_options("invite list", invite_help, argc, argv, &json, NULL, NULL);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    mk_http *http = NULL;
    struct mk_invite_list list = {0};
    mk_error err;
    mk_error_clear(&err);
    rc = tool_client(t, &http);
    if (rc)
        goto out;
    if (mk_invites_list(http, &list, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    if (json) {
        json_object *o = tool_json_new();
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < list.count; i++)
            json_object_array_add(arr, shape_admin_invite(&list.items[i]));
        json_object_object_add(o, "invites", arr);
        tool_print_json(o);
    } else if (list.count == 0) {
        puts("No pending invites.");
    } else {
        for (size_t i = 0; i < list.count; i++)
            print_invite(&list.items[i]);
    }
out:
    mk_invite_list_free(&list);
    mk_http_free(http);
    return rc;
}

int cmd_invite_cancel(struct tool *t, int argc, char **argv)
{
    char *arg = NULL, id[MK_UUID_LEN + 1];
    bool json = false;
    int rc = tool_simple_options("invite cancel", invite_help, argc, argv, &json, "INVITE_ID", &arg);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    if ((rc = tool_id_argument("invite", arg, "mkio-orgs invite list", id)))
        return rc;
    mk_http *http = NULL;
    mk_error err;
    mk_error_clear(&err);
    rc = tool_client(t, &http);
    if (rc)
        goto out;
    if (mk_invite_cancel(http, id, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    if (json) {
        json_object *o = tool_json_new();
        json_object_object_add(o, "cancelled", json_object_new_string(id));
        tool_print_json(o);
        goto out;
    }
    if (!tool_quiet) {
        fputs("Cancelled invite ", stdout);
        tool_put_safe(stdout, id);
        fputs(".\n", stdout);
    }
out:
    mk_http_free(http);
    return rc;
}

int cmd_invite(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return tool_usage("invite ", "invite: which one? create, list or cancel");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(invite_help, stdout);
        return TOOL_EXIT_OK;
    }
    return tool_usage("invite ", "invite: unknown command '%s' (create, list, cancel)", sub);
}
