/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs orgs: the user side, /user/organizations. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool/cmd_orgs.h"
#include "tool/shape.h"
#include "tool/cmd_refresh.h"
#include "tool/util.h"
#include "tool/verbosity.h"

static const char orgs_help[] =
"Usage: mkio-orgs orgs list [--json]\n"
"       mkio-orgs orgs accept ORG_ID [--no-refresh] [--json]\n"
"       mkio-orgs orgs decline ORG_ID [--json]\n"
"       mkio-orgs orgs leave ORG_ID [--yes] [--no-refresh] [--json]\n"
"\n"
"Act for the user of your token. `list` shows every organization you belong\n"
"to and every one with an invite for you, with who sent it, the comment, its\n"
"state and when it expires. `accept` joins (you also join the Everyone team and\n"
"the teams the invite names). `decline` refuses a pending invite. `leave`\n"
"leaves an organization you belong to; only a fresh invitation can undo it, so\n"
"it asks for confirmation on a terminal and needs --yes otherwise. ORG_ID is\n"
"the id `list` shows (a UUID, in any case); a name is refused before anything\n"
"is sent. Accepting an organization you already belong to says so and exits 0.\n"
"After accept and leave your groups on this host are refreshed through the\n"
"refresh service (`mkio-orgs refresh`), which says when the Unix group\n"
"follows (on standard error with --json); --no-refresh leaves that to your\n"
"next login.\n"
"Exit status as in `mkio-orgs --help`.\n";

/* The state is the server's (shape_user_org_state): expiry is never
 * decided locally. */
static void print_org(const struct mk_user_org *org)
{
    const char *state = shape_user_org_state(org);
    tool_put_safe(stdout, org->name ? org->name : "(no name)");
    fputs("\n  id:         ", stdout);
    tool_put_safe(stdout, org->id);
    fputs("\n  state:      ", stdout);
    tool_put_safe(stdout, state);
    if (strcmp(state, "pending") == 0) {
        fputs(" (accept with: mkio-orgs orgs accept ", stdout);
        tool_put_safe(stdout, org->id);
        fputc(')', stdout);
    } else if (strcmp(state, "expired") == 0) {
        fputs(" (ask the organization's admin to send a new invite)", stdout);
    }
    if (org->has_invite) {
        const struct mk_person *by = &org->invite.sender;
        fputs("\n  invited by: ", stdout);
        if (by->name && by->email) {
            tool_put_safe(stdout, by->name);
            fputs(" <", stdout);
            tool_put_safe(stdout, by->email);
            fputc('>', stdout);
        } else {
            tool_put_safe(stdout, by->name ? by->name : by->email ? by->email : "unknown");
        }
        fputs("\n  comment:    ", stdout);
        tool_put_safe(stdout, org->invite.comment);
        /* Published records say neither when the invite was sent nor when
         * it expires: then nothing is shown, rather than a guess. */
        if (org->invite.expires) {
            char when[32];
            const char *shown = shape_api_time(org->invite.expires, when, sizeof(when));
            fputs("\n  expires:    ", stdout);
            tool_put_safe(stdout, shown ? shown : org->invite.expires);
            if (org->invite.expires_computed)
                fputs(" (computed: sent + 14 days; MK.IO decides)", stdout);
        }
    }
    fputc('\n', stdout);
}

int cmd_orgs_list(struct tool *t, int argc, char **argv)
{
    bool json = false;
    int rc = tool_simple_options("orgs list", orgs_help, argc, argv, &json, NULL, NULL);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    mk_http *http = NULL;
    struct mk_user_org_list list = {0};
    mk_error err;
    mk_error_clear(&err);
    rc = tool_client(t, &http);
    if (rc)
        goto out;
    if (mk_user_orgs_list(http, &list, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    if (json) {
        json_object *o = tool_json_new();
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < list.count; i++)
            json_object_array_add(arr, shape_membership(&list.items[i]));
        json_object_object_add(o, "organizations", arr);
        tool_print_json(o);
    } else if (list.count == 0) {
        puts("You belong to no organization and have no invites.");
    } else {
        for (size_t i = 0; i < list.count; i++)
            print_org(&list.items[i]);
    }
out:
    mk_user_org_list_free(&list);
    mk_http_free(http);
    return rc;
}

/* accept, decline and leave under --json: {"schema", "organization",
 * "action"} (mkio-orgs(1), JSON OUTPUT). */
static void orgs_print_json(const char *id, const char *name, const char *action)
{
    json_object *o = tool_json_new();
    json_object_object_add(o, "organization", shape_organization(id, name));
    json_object_object_add(o, "action", json_object_new_string(action));
    tool_print_json(o);
}

int cmd_orgs_accept(struct tool *t, int argc, char **argv)
{
    char *arg = NULL, id[MK_UUID_LEN + 1];
    bool json = false;
    bool no_refresh = refresh_take_no_refresh(&argc, argv);
    int rc = tool_simple_options("orgs accept", orgs_help, argc, argv, &json, "ORG_ID", &arg);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    if ((rc = tool_id_argument("organization", arg, "mkio-orgs orgs list", id)))
        return rc;
    mk_http *http = NULL;
    struct mk_user_org org;
    mk_error err;
    memset(&org, 0, sizeof(org));
    mk_error_clear(&err);
    rc = tool_client(t, &http);
    if (rc)
        goto out;
    if (mk_user_org_accept(http, id, &org, &err) != MK_OK) {
        /* Already a member: what was asked is already so (docs/mkio-api.md,
         * 409 alreadyMember). */
        if (err.status == MK_ERR_API && strcmp(err.code, "alreadyMember") == 0) {
            if (json)
                orgs_print_json(id, NULL, "already_member");
            else if (!tool_quiet)
                printf("You are already a member of organization %s: nothing to accept.\n", id);
            rc = TOOL_EXIT_OK;
            goto out;
        }
        rc = tool_fail(&err);
        goto out;
    }
    if (json)
        orgs_print_json(id, org.name, "accepted");
    else if (!tool_quiet) {
        fputs("Joined ", stdout);
        tool_put_safe(stdout, org.name ? org.name : id);
        fputs(" (", stdout);
        tool_put_safe(stdout, id);
        fputs(").\n", stdout);
    }
    if (!no_refresh)
        refresh_after_change(t, json ? stderr : tool_quiet ? NULL : stdout, true);
out:
    mk_user_org_clear(&org);
    mk_http_free(http);
    return rc;
}

/* Finds id among the user's organizations; *found is NULL when absent. */
static int find_org(mk_http *http, const char *id, struct mk_user_org_list *list,
                    const struct mk_user_org **found)
{
    mk_error err;
    mk_error_clear(&err);
    *found = NULL;
    if (mk_user_orgs_list(http, list, &err) != MK_OK)
        return tool_fail(&err);
    for (size_t i = 0; i < list->count; i++) {
        if (list->items[i].id && mk_ascii_case_equal(list->items[i].id, id)) {
            *found = &list->items[i];
            return TOOL_EXIT_OK;
        }
    }
    tool_error("you neither belong to nor have an invite to organization %s (see: mkio-orgs "
               "orgs list)", id);
    return TOOL_EXIT_REFUSED;
}

/* Asks on the terminal; true only for an explicit yes. */
static bool confirm_leave(const struct mk_user_org *org)
{
    fputs("Leave ", stderr);
    tool_put_safe(stderr, org->name ? org->name : org->id);
    fputs(" (", stderr);
    tool_put_safe(stderr, org->id);
    fputs(")? Only a fresh invitation can undo this. Type 'yes' to leave: ", stderr);
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "yes") == 0 || strcmp(line, "y") == 0;
}

/* decline (leave=false) and leave (leave=true) share the DELETE and the
 * check that the relationship is the one the user named. */
static int orgs_delete(struct tool *t, int argc, char **argv, bool leave)
{
    static const struct option options[] = {
        {"yes", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *command = leave ? "orgs leave" : "orgs decline";
    bool yes = false, no_refresh = leave && refresh_take_no_refresh(&argc, argv);
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "hy", options, NULL)) != -1) {
        if (c == 'h') {
            fputs(orgs_help, stdout);
            return TOOL_EXIT_OK;
        }
        if (c == 'y' && leave) {
            yes = true;
            continue;
        }
        if (c == 'j') {
            tool_json_set(true);
            continue;
        }
        return tool_usage("orgs ", "%s: unknown option '%s'", command, argv[optind - 1]);
    }
    if (argc - optind != 1)
        return tool_usage("orgs ", "%s: expected one ORG_ID", command);
    char id[MK_UUID_LEN + 1];
    int rc = tool_id_argument("organization", argv[optind], "mkio-orgs orgs list", id);
    if (rc)
        return rc;

    mk_http *http = NULL;
    struct mk_user_org_list list = {0};
    const struct mk_user_org *org = NULL;
    mk_error err;
    mk_error_clear(&err);
    rc = tool_client(t, &http);
    if (rc)
        goto out;
    rc = find_org(http, id, &list, &org);
    if (rc)
        goto out;
    /* Leaving is for joined organizations, declining for invites: name the
     * command that fits instead. */
    if (leave == org->has_invite) {
        tool_error(leave ? "you have not joined %s; you have an invite to it. To refuse the "
                           "invite: mkio-orgs orgs decline %s"
                         : "you are a member of %s; there is no invite to decline. To leave it: "
                           "mkio-orgs orgs leave %s", org->name ? org->name : id, id);
        rc = TOOL_EXIT_USAGE;
        goto out;
    }
    if (leave && !yes) {
        if (!isatty(STDIN_FILENO)) {
            tool_error("leaving an organization can only be undone by a fresh invitation; "
                       "confirm on a terminal or pass --yes");
            rc = TOOL_EXIT_USAGE;
            goto out;
        }
        if (!confirm_leave(org)) {
            tool_error("not leaving");
            rc = TOOL_EXIT_USAGE;
            goto out;
        }
    }
    if (mk_user_org_delete(http, id, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    if (tool_json())
        orgs_print_json(id, org->name, leave ? "left" : "declined");
    else if (!tool_quiet) {
        fputs(leave ? "Left " : "Declined the invite to ", stdout);
        tool_put_safe(stdout, org->name ? org->name : id);
        fputs(" (", stdout);
        tool_put_safe(stdout, id);
        fputs(leave ? "). Only a fresh invitation can bring you back.\n" : ").\n", stdout);
    }
    if (leave && !no_refresh)
        refresh_after_change(t, tool_json() ? stderr : tool_quiet ? NULL : stdout, false);
out:
    mk_user_org_list_free(&list);
    mk_http_free(http);
    return rc;
}

int cmd_orgs_decline(struct tool *t, int argc, char **argv)
{
    return orgs_delete(t, argc, argv, false);
}

int cmd_orgs_leave(struct tool *t, int argc, char **argv)
{
    return orgs_delete(t, argc, argv, true);
}

int cmd_orgs(struct tool *t, int argc, char **argv)
{
    if (argc < 2)
        return tool_usage("orgs ", "orgs: which one? list, accept, decline or leave");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(orgs_help, stdout);
        return TOOL_EXIT_OK;
    }
    return tool_usage("orgs ", "orgs: unknown command '%s' (list, accept, decline, leave)", sub);
}
