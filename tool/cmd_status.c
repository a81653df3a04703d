/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/cmd_status.c: mkio-orgs status, what the local membership store holds
 * and how each user's refreshes went; --verify checks the compiled group
 * file against it. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/text.h"
#include "groupfile/reader.h"
#include "store/store.h"
#include "store/userstate.h"
#include "tool/cmd_explain.h"
#include "tool/cmd_status.h"
#include "tool/shape.h"
#include "tool/util.h"

static const char status_help[] =
"Usage: mkio-orgs status [--json] [--verify]\n"
"\n"
"Show what this machine's membership store holds, and how each user's\n"
"refreshes went.\n"
"\n"
"Groups: each group made of an MK.IO organization, with its gid, organization\n"
"id and name, and members. Groups marked 'pinned' have the name and gid an\n"
"administrator gave them; 'pinned, ids_file' ones come from the fleet's ids\n"
"file (ids_file, mkio.conf(5); `mkio-orgs ids export` writes one). These are\n"
"exactly the groups groups.db holds, so a stale user (below) is not among the\n"
"members.\n"
"\n"
"Renames and gid moves: for each organization whose group was renamed, moved\n"
"to another gid or taken away (a clash with /etc/group, another group source\n"
"or a pin), the last 5 with when and why.\n"
"\n"
"Users: one line for each user the store or a refresh knows, with\n"
"  ORGS          how many organizations the store holds for the user\n"
"  LAST SUCCESS  the last refresh that listed the user's organizations whole\n"
"                and recorded them (a login, an account check or sync)\n"
"  LAST ATTEMPT  the last refresh tried, whatever came of it\n"
"  LAST CHANGED  when the user's organizations last changed in the store (a\n"
"                refresh that finds them as they were writes nothing, so it\n"
"                does not move this time)\n"
"  STATE         ok; failing (the last attempt failed: its error is shown on\n"
"                the next line, and the last known memberships stay); or\n"
"                STALE: no success for longer than max_stale (mkio.conf,\n"
"                30 days by default), so the user's groups are left out of\n"
"                groups.db until a refresh succeeds. A revoked or expired\n"
"                token is the usual cause: the user makes a new one and runs\n"
"                `mkio-orgs login`.\n"
"Times are UTC; 'never' means none is known.\n"
"\n"
"  --json     the same as one JSON object on standard output: \"groups\" (group\n"
"             {name, gid, organization}, pinned, ids_file, members), \"users\"\n"
"             (user, organizations, last_success, last_attempt, last_changed,\n"
"             last_error, known_good, stale; times as YYYY-MM-DDTHH:MM:SSZ or\n"
"             null), \"history\" (organization, events: time, old_group,\n"
"             old_gid, new_group, new_gid, reason) and \"max_stale_seconds\"\n"
"             (0: no bound); the schema is in mkio-orgs(1), JSON OUTPUT\n"
"  --verify   also check all of the compiled group file the NSS module reads\n"
"             (STATE_DIR/groups.db): its checksum, every record, and that it\n"
"             holds exactly the groups, gids and members the store says.\n"
"             Lookups check only what they read, so damage elsewhere in the\n"
"             file shows here first. Exit status 4 when it does not verify;\n"
"             any write of the store (a login, or `mkio-orgs sync --all` as\n"
"             root) rewrites the file. With --json, only the exit status and\n"
"             standard error tell.\n"
"\n"
"Exit status 4 when the store or the users' refresh records (STATE_DIR/users)\n"
"cannot be read or may not be believed (not owned by root, or writable by\n"
"group or others); the message names the file and the fix.\n";
/* One user of status: what the store holds (NULL: nothing) and what the
 * user's refresh record says (zero: none). */
struct status_user {
    const char *name;
    const struct mk_store_user *stored;
    struct mk_user_state record;
    int64_t known_good;
    bool stale;
    bool failing;     /* the last attempt failed */
};

/* Every user the store or a refresh record knows, sorted by name (both
 * lists are), with stale decided as the store decides it. */
static struct status_user *status_users(const struct mk_config *cfg, const struct mk_store_view *v,
                                        const struct mk_user_state_entry *records, size_t record_count,
                                        size_t *count)
{
    struct status_user *out = calloc(v->user_count + record_count + 1, sizeof(*out));
    size_t i = 0, r = 0, n = 0;
    int64_t now = (int64_t)time(NULL);

    if (!out)
        return NULL;
    while (i < v->user_count || r < record_count) {
        struct status_user *u = &out[n++];
        int cmp = i == v->user_count ? 1 : r == record_count ? -1
                  : strcmp(v->users[i].user, records[r].user);
        if (cmp <= 0) {
            u->stored = &v->users[i++];
            u->name = u->stored->user;
        }
        if (cmp >= 0) {
            u->record = records[r].state;
            u->name = records[r++].user;
        }
        u->known_good = mk_user_state_known_good(&u->record, u->stored ? (int64_t)u->stored->refreshed : 0);
        u->stale = mk_user_state_stale(cfg, u->known_good, now);
        u->failing = u->record.last_attempt > u->record.last_success;
    }
    *count = n;
    return out;
}

/* Whether g's name and gid are a pin of the ids file (ids_file). */
static bool status_from_ids(const struct mk_config *cfg, const struct mk_store_group *g)
{
    const struct mk_pin *pin = g->pinned ? mk_config_pin_for(cfg, g->org_id) : NULL;
    return pin && mk_config_pin_from_ids(cfg, pin);
}

/* Every organization's renames and gid moves: [{"organization", "events"}]. */
static json_object *status_history_json(const struct mk_store_view *v)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < v->history_count; i++) {
        const struct mk_store_history *h = &v->histories[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "organization", shape_organization(h->org_id, h->org_name));
        json_object_object_add(o, "events", explain_history_json(h));
        json_object_array_add(a, o);
    }
    return a;
}

/* The same for people, after the groups. */
static void print_history(const struct mk_store_view *v)
{
    if (!v->history_count)
        return;
    puts("\nRenames and gid moves (the last 5 of each organization, oldest first):");
    for (size_t i = 0; i < v->history_count; i++) {
        const struct mk_store_history *h = &v->histories[i];
        fputs("  ", stdout);
        tool_put_safe(stdout, h->org_id);
        if (h->org_name) {
            fputs("  ", stdout);
            tool_put_safe(stdout, h->org_name);
        }
        fputc('\n', stdout);
        explain_put_history(stdout, "    ", h);
    }
}

/* The organization of the store with id org_id, named as its group names
 * it (the store keeps a user's organizations by id). */
static json_object *status_organization(const struct mk_store_view *v, const char *org_id)
{
    for (size_t i = 0; i < v->group_count; i++)
        if (strcmp(v->groups[i].org_id, org_id) == 0)
            return shape_organization(org_id, v->groups[i].org_name);
    return shape_organization(org_id, NULL);
}

static json_object *view_to_json(const struct mk_config *cfg, const struct mk_store_view *v,
                                 const struct status_user *users, size_t user_count)
{
    json_object *root = tool_json_new();
    json_object *groups = json_object_new_array();
    json_object *jusers = json_object_new_array();
    for (size_t i = 0; i < v->group_count; i++) {
        const struct mk_store_group *g = &v->groups[i];
        json_object *o = json_object_new_object();
        json_object *members = json_object_new_array();
        json_object_object_add(o, "group", shape_group(g->group_name, g->gid, g->org_id,
                                                       g->org_name));
        json_object_object_add(o, "pinned", json_object_new_boolean(g->pinned));
        json_object_object_add(o, "ids_file", json_object_new_boolean(status_from_ids(cfg, g)));
        for (size_t m = 0; m < g->member_count; m++)
            json_object_array_add(members, json_object_new_string(g->members[m]));
        json_object_object_add(o, "members", members);
        json_object_array_add(groups, o);
    }
    for (size_t i = 0; i < user_count; i++) {
        const struct status_user *u = &users[i];
        json_object *o = json_object_new_object();
        json_object *orgs = json_object_new_array();
        json_object_object_add(o, "user", json_object_new_string(u->name));
        for (size_t k = 0; u->stored && k < u->stored->org_count; k++)
            json_object_array_add(orgs, status_organization(v, u->stored->org_ids[k]));
        json_object_object_add(o, "organizations", orgs);
        json_object_object_add(o, "last_success", shape_time(u->record.last_success));
        json_object_object_add(o, "last_attempt", shape_time(u->record.last_attempt));
        json_object_object_add(o, "last_changed",
                               shape_time(u->stored ? (int64_t)u->stored->refreshed : 0));
        json_object_object_add(o, "last_error",
                               u->failing ? json_object_new_string(u->record.last_error) : NULL);
        json_object_object_add(o, "known_good", shape_time(u->known_good));
        json_object_object_add(o, "state", json_object_new_string(
                                   u->stale ? "stale" : u->failing ? "failing" : "ok"));
        json_object_object_add(o, "stale", json_object_new_boolean(u->stale));
        json_object_array_add(jusers, o);
    }
    json_object_object_add(root, "groups", groups);
    json_object_object_add(root, "users", jusers);
    json_object_object_add(root, "history", status_history_json(v));
    json_object_object_add(root, "max_stale_seconds", json_object_new_int64(cfg->max_stale_ms / 1000));
    return root;
}

static void print_users(const struct mk_config *cfg, const struct status_user *users, size_t count)
{
    size_t stale = 0;
    if (count == 0)
        return;
    printf("\n%-20s %5s  %-20s  %-20s  %-20s  %s\n", "USER", "ORGS", "LAST SUCCESS", "LAST ATTEMPT",
           "LAST CHANGED", "STATE");
    for (size_t i = 0; i < count; i++) {
        const struct status_user *u = &users[i];
        char success[32], attempt[32], changed[32];
        tool_format_time(u->record.last_success, success, sizeof(success));
        tool_format_time(u->record.last_attempt, attempt, sizeof(attempt));
        tool_format_time(u->stored ? u->stored->refreshed : 0, changed, sizeof(changed));
        tool_put_safe_padded(stdout, u->name, 20);
        printf(" %5zu  %-20s  %-20s  %-20s  %s\n", u->stored ? u->stored->org_count : 0, success,
               attempt, changed, u->stale ? "STALE" : u->failing ? "failing" : "ok");
        if (u->failing) {
            fputs("    last error: ", stdout);
            tool_put_safe(stdout, u->record.last_error);
            fputc('\n', stdout);
        }
        stale += u->stale;
    }
    if (stale) {
        char bound[32];
        tool_format_duration(cfg->max_stale_ms, bound, sizeof(bound));
        printf("\n%zu stale user%s: no successful refresh for longer than max_stale (%s); %s "
               "organization groups are left out of groups.db until a refresh succeeds.\n",
               stale, stale == 1 ? "" : "s", bound, "their");
    }
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether group g of the store is exactly what the file holds under its
 * name; *why says what differs. */
static bool verify_group(const struct mkgf_view *gv, const struct mk_store_group *g,
                         const char **why)
{
    struct mkgf_group fg;
    const char **members;
    bool same = true;

    if (mkgf_find_name(gv, g->group_name, &fg) != 0)
        return (*why = "missing from the file", false);
    if (fg.gid != g->gid)
        return (*why = "has another gid in the file", false);
    if (fg.member_count != g->member_count)
        return (*why = "has other members in the file", false);
    members = calloc(fg.member_count ? fg.member_count : 1, sizeof(*members));
    if (!members)
        return (*why = "cannot be compared: out of memory", false);
    for (uint32_t m = 0; m < fg.member_count && same; m++)
        same = (members[m] = mkgf_group_member(gv, &fg, m)) != NULL;
    if (same) {
        qsort(members, fg.member_count, sizeof(*members), cmp_str_ptr);
        for (size_t m = 0; m < g->member_count && same; m++)
            same = strcmp(members[m], g->members[m]) == 0;
    }
    free(members);
    if (!same)
        *why = "has other members in the file";
    return same;
}

/* status --verify: the whole group file, then the store's groups in it. */
static int status_verify(const struct tool *t, const struct mk_store_view *view, bool json)
{
    char path[4096];
    char *data = NULL;
    size_t size = 0;
    struct mkgf_view gv;
    int r, bad = 0;

    if (snprintf(path, sizeof(path), "%s/groups.db", t->cfg.state_dir) >= (int)sizeof(path)) {
        tool_error("status --verify: the state directory's path is too long");
        return TOOL_EXIT_LOCAL;
    }
    r = tool_read_file(path, UINT32_MAX, false, &data, &size);
    if (r == -ENOENT && view->group_count == 0) {
        if (!json)
            printf("\n%s: not written yet (no groups): nothing to verify\n", path);
        return TOOL_EXIT_OK;
    }
    if (r == 0)
        r = mkgf_validate(data, size, &gv);
    if (r < 0) {
        tool_error("status --verify: %s %s", path,
                   r == -EBADMSG ? "is damaged (a record, an offset or the checksum is wrong)"
                   : r == -EPROTONOSUPPORT ? "was written in another format version"
                   : strerror(-r));
        tool_error("status --verify: any write of the store rewrites it: run "
                   "`mkio-orgs sync --all` as root");
        free(data);
        return TOOL_EXIT_LOCAL;
    }
    if (gv.group_count != view->group_count) {
        tool_error("status --verify: %s holds %lu groups; the store says %zu", path,
                   (unsigned long)gv.group_count, view->group_count);
        bad++;
    }
    for (size_t i = 0; i < view->group_count; i++) {
        const char *why = NULL;
        if (!verify_group(&gv, &view->groups[i], &why)) {
            char shown[128];
            tool_error("status --verify: group %s %s", mk_text_sanitize(
                           view->groups[i].group_name, shown, sizeof(shown)), why);
            bad++;
        }
    }
    free(data);
    if (bad) {
        tool_error("status --verify: %s does not hold what the store says; any write of the "
                   "store rewrites it: run `mkio-orgs sync --all` as root", path);
        return TOOL_EXIT_LOCAL;
    }
    if (!json) /* the exit status says it; stdout holds only the JSON */
        printf("\n%s: verified: %lu groups, checksum and every record good, the same as the store\n",
           path, (unsigned long)gv.group_count);
    return TOOL_EXIT_OK;
}

int cmd_status(struct tool *t, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"verify", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, verify = false;
    int rc, c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': tool_json_set(true); json = true; break;
        case 'v': verify = true; break;
        case 'h': fputs(status_help, stdout); return TOOL_EXIT_OK;
        default: return tool_usage(NULL, "status: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return tool_usage(NULL, "status: unexpected argument '%s'", argv[optind]);
    json = tool_json(); /* also a global --json before the command */
    rc = tool_load_config(t);
    if (rc)
        return rc;
    struct mk_store_view view;
    struct mk_user_state_entry *records = NULL;
    struct status_user *users = NULL;
    size_t record_count = 0, user_count = 0;
    mk_error err;
    memset(&view, 0, sizeof(view));
    mk_error_clear(&err);
    if (mk_store_read(&t->cfg, NULL, &view, &err) != MK_OK)
        return tool_fail(&err);
    if (mk_user_state_list(&t->cfg, &records, &record_count, &err) != MK_OK) {
        mk_store_view_free(&view);
        return tool_fail(&err);
    }
    for (size_t i = 0; i < record_count; i++) {
        if (records[i].refused) {
            tool_error("status: %s", records[i].refused);
            rc = TOOL_EXIT_LOCAL;
            goto free;
        }
    }
    users = status_users(&t->cfg, &view, records, record_count, &user_count);
    if (!users) {
        tool_error("status: out of memory");
        rc = TOOL_EXIT_LOCAL;
        goto free;
    }
    if (json) {
        tool_print_json(view_to_json(&t->cfg, &view, users, user_count));
        goto out;
    }
    if (view.group_count == 0)
        puts("No groups: no user of this machine has joined an organization yet.");
    else
        printf("%-32s %-10s %-36s %s\n", "GROUP", "GID", "ORGANIZATION ID", "NAME / MEMBERS");
    for (size_t i = 0; i < view.group_count; i++) {
        const struct mk_store_group *g = &view.groups[i];
        tool_put_safe_padded(stdout, g->group_name, 32);
        printf(" %-10lu ", (unsigned long)g->gid);
        tool_put_safe(stdout, g->org_id);
        fputs("  ", stdout);
        tool_put_safe(stdout, g->org_name);
        if (g->pinned)
            fputs(status_from_ids(&t->cfg, g) ? " (pinned, ids_file)" : " (pinned)", stdout);
        fputs("\n    members:", stdout);
        for (size_t m = 0; m < g->member_count; m++) {
            fputc(' ', stdout);
            tool_put_safe(stdout, g->members[m]);
        }
        fputc('\n', stdout);
    }
    print_history(&view);
    print_users(&t->cfg, users, user_count);
out:
    rc = verify ? status_verify(t, &view, json) : TOOL_EXIT_OK;
free:
    free(users);
    mk_user_state_list_free(records, record_count);
    mk_store_view_free(&view);
    return rc;
}
