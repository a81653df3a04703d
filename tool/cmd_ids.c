/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_ids.c: mkio-orgs ids export, this host's allocation (each
 * organization's group name and gid, the retired gids) as an ids file that
 * every host of a fleet takes as pins (store/ids.h). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/ids.h"
#include "tool/cmd_ids.h"
#include "tool/shape.h"
#include "tool/util.h"

static const char ids_help[] =
"Usage: mkio-orgs ids export [--new] [--json]\n"
"\n"
"Print the groups this machine's membership store has given, as an ids file:\n"
"  pin = ORG_ID GROUP_NAME GID    each organization with a group, by id\n"
"  retired = GID                  each gid no organization is given again\n"
"and comment lines starting with '#'. The lines are valid mkio.conf lines.\n"
"Given to every host of a fleet as ids_file (mkio.conf(5)), they make each\n"
"organization the same group everywhere.\n"
"\n"
"  --new   only what this machine gave that its pins and ids_file lack (new\n"
"          organizations' groups, gids retired here), for the admin to merge\n"
"          into the fleet's ids file\n"
"  --json  the same as {\"schema\", \"groups\": [group], \"retired_gids\"}\n"
"          (mkio-orgs(1), JSON OUTPUT)\n"
"\n"
"Exit status 4 when the store cannot be read or may not be believed.\n";

/* The lines of an ids file (store/ids.h: "pin = ORG_ID GROUP GID",
 * "retired = GID", comments) as {"schema", "groups", "retired_gids"}. The
 * file names no organization: their names are null. */
static void ids_print_json(const char *text)
{
    json_object *o = tool_json_new();
    json_object *groups = json_object_new_array();
    json_object *retired = json_object_new_array();
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char buf[512], org[256], group[256];
        unsigned long gid;
        snprintf(buf, sizeof(buf), "%.*s", (int)(n < sizeof(buf) ? n : sizeof(buf) - 1), line);
        if (sscanf(buf, "pin = %255s %255s %lu", org, group, &gid) == 3)
            json_object_array_add(groups, shape_group(group, (gid_t)gid, org, NULL));
        else if (sscanf(buf, "retired = %lu", &gid) == 1)
            json_object_array_add(retired, json_object_new_int64((int64_t)gid));
        line += end ? n + 1 : n;
    }
    json_object_object_add(o, "groups", groups);
    json_object_object_add(o, "retired_gids", retired);
    tool_print_json(o);
}

int cmd_ids_export(struct tool *t, int argc, char **argv)
{
    static const struct option options[] = {
        {"new", no_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool new_only = false;
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'n': new_only = true; break;
        case 'j': tool_json_set(true); break;
        case 'h': fputs(ids_help, stdout); return TOOL_EXIT_OK;
        default:
            return tool_usage("ids ", "ids export: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tool_usage("ids ", "ids export: unexpected argument '%s'", argv[optind]);
    int rc = tool_load_config(t);
    if (rc)
        return rc;
    char *text = NULL;
    size_t len = 0;
    mk_error err;
    mk_error_clear(&err);
    if (mk_ids_export(&t->cfg, NULL, new_only, &text, &len, &err) != MK_OK)
        return tool_fail(&err);
    /* Ids, names and numbers only (their forms are checked on load). */
    if (tool_json())
        ids_print_json(text);
    else
        fwrite(text, 1, len, stdout);
    free(text);
    return TOOL_EXIT_OK;
}

int cmd_ids(struct tool *t, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(ids_help, stdout);
        return TOOL_EXIT_OK;
    }
    return tool_usage("ids ", "ids: expected 'export [--new]'");
}
