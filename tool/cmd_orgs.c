/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs orgs: the user side, /user/organizations. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool/cmd_orgs.h"
#include "tool/cmd_refresh.h"
#include "tool/util.h"

static const char orgs_help[] =
"Usage: mkio-orgs orgs list [--json]\n"
"       mkio-orgs orgs accept ORG_ID [--no-refresh]\n"
"       mkio-orgs orgs decline ORG_ID\n"
"       mkio-orgs orgs leave ORG_ID [--yes] [--no-refresh]\n"
"\n"
"Act for the user of your token. `list` shows every organization you belong\n"
"to and every one with an invite for you, with who sent it, the comment, its\n"
"state and when it expires. `accept` joins (you also join the Everyone team and\n"
"the teams the invite names). `decline` refuses a pending invite. `leave`\n"
"leaves an organization you belong to; only a fresh invitation can undo it, so\n"
"it asks for confirmation on a terminal and needs --yes otherwise.\n"
"After accept and leave your groups on this host are refreshed through the\n"
"refresh service (`mkio-orgs refresh`), which says when the Unix group\n"
"follows; --no-refresh leaves that to your next login.\n"
"Exit status as in `mkio-orgs --help`.\n";

/* The state as the server sent it: expiry is never decided locally. */
static const char *org_state(const struct mk_user_org *org, time_t now)
{
    (void)now;
    if (!org->has_invite)
        return "joined";
    return org->invite.state ? org->invite.state : "pending";
}

static void print_org(const struct mk_user_org *org, time_t now)
{
    const char *state = org_state(org, now);
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
            fputs("\n  expires:    ", stdout);
            tool_put_safe(stdout, org->invite.expires);
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
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < list.count; i++)
            json_object_array_add(arr, mk_user_org_to_json(&list.items[i]));
        tool_print_json(arr);
    } else if (list.count == 0) {
        puts("You belong to no organization and have no invites.");
    } else {
        time_t now = time(NULL);
        for (size_t i = 0; i < list.count; i++)
            print_org(&list.items[i], now);
    }
out:
    mk_user_org_list_free(&list);
    mk_http_free(http);
    return rc;
}

int cmd_orgs_accept(struct tool *t, int argc, char **argv)
{
    char *id = NULL;
    bool no_refresh = refresh_take_no_refresh(&argc, argv);
    int rc = tool_simple_options("orgs accept", orgs_help, argc, argv, NULL, "ORG_ID", &id);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    mk_http *http = NULL;
    struct mk_user_org org;
    mk_error err;
    memset(&org, 0, sizeof(org));
    mk_error_clear(&err);
    rc = tool_client(t, &http);
    if (rc)
        goto out;
    if (mk_user_org_accept(http, id, &org, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    fputs("Joined ", stdout);
    tool_put_safe(stdout, org.name ? org.name : id);
    fputs(" (", stdout);
    tool_put_safe(stdout, id);
    fputs(").\n", stdout);
    if (!no_refresh)
        refresh_after_change(t, stdout, true);
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
        if (list->items[i].id && strcmp(list->items[i].id, id) == 0) {
            *found = &list->items[i];
            return TOOL_EXIT_OK;
        }
    }
    fputs("mkio-orgs: you neither belong to nor have an invite to organization ", stderr);
    tool_put_safe(stderr, id);
    fputs(" (see: mkio-orgs orgs list)\n", stderr);
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
        return tool_usage("orgs ", "%s: unknown option '%s'", command, argv[optind - 1]);
    }
    if (argc - optind != 1)
        return tool_usage("orgs ", "%s: expected one ORG_ID", command);
    const char *id = argv[optind];

    mk_http *http = NULL;
    struct mk_user_org_list list = {0};
    const struct mk_user_org *org = NULL;
    mk_error err;
    mk_error_clear(&err);
    int rc = tool_client(t, &http);
    if (rc)
        goto out;
    rc = find_org(http, id, &list, &org);
    if (rc)
        goto out;
    /* Leaving is for joined organizations, declining for invites: name the
     * command that fits instead. */
    if (leave == org->has_invite) {
        fputs(leave ? "mkio-orgs: you have not joined " : "mkio-orgs: you are a member of ", stderr);
        tool_put_safe(stderr, org->name ? org->name : id);
        fputs(leave ? "; you have an invite to it. To refuse the invite: mkio-orgs orgs decline "
                    : "; there is no invite to decline. To leave it: mkio-orgs orgs leave ",
              stderr);
        tool_put_safe(stderr, id);
        fputc('\n', stderr);
        rc = TOOL_EXIT_USAGE;
        goto out;
    }
    if (leave && !yes) {
        if (!isatty(STDIN_FILENO)) {
            fputs("mkio-orgs: leaving an organization can only be undone by a fresh invitation;"
                  " confirm on a terminal or pass --yes\n", stderr);
            rc = TOOL_EXIT_USAGE;
            goto out;
        }
        if (!confirm_leave(org)) {
            fputs("Not leaving.\n", stderr);
            rc = TOOL_EXIT_USAGE;
            goto out;
        }
    }
    if (mk_user_org_delete(http, id, &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    fputs(leave ? "Left " : "Declined the invite to ", stdout);
    tool_put_safe(stdout, org->name ? org->name : id);
    fputs(" (", stdout);
    tool_put_safe(stdout, id);
    fputs(leave ? "). Only a fresh invitation can bring you back.\n" : ").\n", stdout);
    if (leave && !no_refresh)
        refresh_after_change(t, stdout, false);
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
