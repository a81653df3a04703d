/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_store.c: mkio-orgs store set-user, which replaces one user's
 * organizations in the local membership store by hand, and store publish,
 * which compiles and publishes what the store holds without the network. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "tool/cmd_store.h"
#include "tool/shape.h"
#include "tool/util.h"
#include "tool/verbosity.h"

static const char store_help[] =
"Usage: mkio-orgs store set-user USER --from FILE.json [--json]\n"
"       mkio-orgs store publish [--json]\n"
"\n"
"Root only. Replace USER's organizations in the membership store with the\n"
"list in FILE.json, as a login would, and recompile the group file:\n"
"  [{\"id\": \"ORG_ID\", \"name\": \"Display name\"}, ...]\n"
"An empty list removes USER from every group. Used by tests and demos, and to\n"
"repair a machine by hand.\n"
"\n"
"store publish: root only. Compile the group file from the store and publish\n"
"it (and, with userdb_export = yes, systemd's user database records) without\n"
"contacting MK.IO; mkio-userdb.service runs it at boot.\n";

/* Reads [{"id": ..., "name": ...}, ...] into memberships that borrow from *root. */
static int read_membership_file(const char *path, json_object **root,
                                struct mk_membership **orgs, size_t *n)
{
    *root = json_object_from_file(path);
    if (!*root) {
        tool_error("store set-user: cannot read %s: %s", path,
                   json_util_get_last_err() ? json_util_get_last_err() : "not valid JSON");
        return TOOL_EXIT_USAGE;
    }
    if (!json_object_is_type(*root, json_type_array)) {
        tool_error("store set-user: %s must hold a JSON array of {\"id\": ..., \"name\": ...}",
                   path);
        return TOOL_EXIT_USAGE;
    }
    *n = json_object_array_length(*root);
    *orgs = calloc(*n ? *n : 1, sizeof(**orgs));
    if (!*orgs)
        return TOOL_EXIT_LOCAL;
    for (size_t i = 0; i < *n; i++) {
        json_object *item = json_object_array_get_idx(*root, i), *id, *name;
        if (!json_object_is_type(item, json_type_object) ||
            !json_object_object_get_ex(item, "id", &id) ||
            !json_object_is_type(id, json_type_string)) {
            tool_error("store set-user: %s: item %zu has no string \"id\"", path, i);
            return TOOL_EXIT_USAGE;
        }
        (*orgs)[i].org_id = json_object_get_string(id);
        if (json_object_object_get_ex(item, "name", &name) &&
            json_object_is_type(name, json_type_string))
            (*orgs)[i].org_name = json_object_get_string(name);
        else if (name && !json_object_is_type(name, json_type_null)) {
            tool_error("store set-user: %s: item %zu: \"name\" is not a string", path, i);
            return TOOL_EXIT_USAGE;
        }
    }
    return TOOL_EXIT_OK;
}

int cmd_store_set_user(struct tool *t, int argc, char **argv)
{
    static const struct option options[] = {
        {"from", required_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'h') {
            fputs(store_help, stdout);
            return TOOL_EXIT_OK;
        }
        if (c == 'f') {
            from = optarg;
            continue;
        }
        if (c == 'j') {
            tool_json_set(true);
            continue;
        }
        return tool_usage("store ", "store set-user: unknown or incomplete option '%s'",
                          argv[optind - 1]);
    }
    if (argc - optind != 1 || !from)
        return tool_usage("store ", "store set-user: expected USER and --from FILE.json");
    const char *user = argv[optind];
    int rc = tool_need_root("store set-user");
    if (rc)
        return rc;
    rc = tool_load_config(t);
    if (rc)
        return rc;

    json_object *root = NULL;
    struct mk_membership *orgs = NULL;
    size_t n = 0;
    mk_error err;
    mk_error_clear(&err);
    rc = read_membership_file(from, &root, &orgs, &n);
    if (rc)
        goto out;
    if (mk_store_set_user(&t->cfg, NULL, user, orgs, n, TOOL_STORE_LOCK_TIMEOUT_MS, &tool_log_sink,
                          &err) != MK_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    if (tool_json()) {
        json_object *o = tool_json_new();
        json_object *list = json_object_new_array();
        for (size_t i = 0; i < n; i++)
            json_object_array_add(list, shape_organization(orgs[i].org_id, orgs[i].org_name));
        json_object_object_add(o, "user", json_object_new_string(user));
        json_object_object_add(o, "organizations", list);
        tool_print_json(o);
        goto out;
    }
    if (!tool_quiet) {
        printf("Stored %zu organization%s for ", n, n == 1 ? "" : "s");
        tool_put_safe(stdout, user);
        fputs(".\n", stdout);
    }
out:
    free(orgs);
    json_object_put(root);
    return rc;
}

int cmd_store_publish(struct tool *t, int argc, char **argv)
{
    mk_error err;

    int rc = tool_simple_options("store publish", store_help, argc, argv, NULL, NULL, NULL);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    if ((rc = tool_need_root("store publish")) || (rc = tool_load_config(t)))
        return rc;
    mk_error_clear(&err);
    if (mk_store_publish(&t->cfg, NULL, TOOL_STORE_LOCK_TIMEOUT_MS, &tool_log_sink, &err) != MK_OK)
        return tool_fail(&err);
    if (tool_json()) {
        json_object *o = tool_json_new();
        json_object_object_add(o, "published", json_object_new_boolean(true));
        tool_print_json(o);
        return TOOL_EXIT_OK;
    }
    if (!tool_quiet)
        puts("Published the store.");
    return TOOL_EXIT_OK;
}

int cmd_store(struct tool *t, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(store_help, stdout);
        return TOOL_EXIT_OK;
    }
    return tool_usage("store ", "store: expected 'set-user USER --from FILE.json' or 'publish'");
}
