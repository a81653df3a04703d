/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_userdb.c: common/store/userdb.h, the systemd user
 * database export, in a temporary directory: the record's JSON fields,
 * the files, the GID.group links and the membership files it makes,
 * stale ones removed, what is not its own never touched (a record without
 * its mark, a link to one, an unrelated file), and a rewrite only of what
 * changes; then through the store's write (userdb_export, the directory
 * from mk_store_env). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/grouppolicy.h"
#include "store/store.h"
#include "store/store_env.h"
#include "store/userdb.h"
#include "testutil.h"

static int setup(void **state)
{
    struct tu_tmpdir *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (tu_tmpdir_make(f, "test_userdb") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct tu_tmpdir *f = *state;
    tu_tmpdir_remove(f);
    free(f);
    return 0;
}

/* The directory's entries other than . and .., sorted, joined by spaces. */
static void list_dir(const char *path, char *out, size_t size)
{
    struct dirent **v;
    int n = scandir(path, &v, NULL, alphasort);
    size_t used = 0;

    assert_true(n >= 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(v[i]->d_name, ".") != 0 && strcmp(v[i]->d_name, "..") != 0)
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " " : "",
                                     v[i]->d_name);
        free(v[i]);
    }
    free(v);
    assert_true(used < size);
}

static void assert_link(int dirfd, const char *name, const char *target)
{
    char buf[256];
    ssize_t len = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
    assert_true(len > 0);
    buf[len] = '\0';
    assert_string_equal(buf, target);
}

static ino_t inode_of(int dirfd, const char *name)
{
    struct stat st;
    assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
    return st.st_ino;
}

/* Warnings, counted, the last one kept. */
static struct {
    unsigned n;
    char last[1024];
} warned;

static void warn_fn(void *ctx, int priority, const char *message)
{
    (void)ctx;
    if (priority <= MK_LOG_WARNING) {
        warned.n++;
        snprintf(warned.last, sizeof(warned.last), "%s", message);
    }
}

static const struct mk_log_sink warn_sink = { warn_fn, NULL };

static const char *const a_members[] = { "alice" };
static const char *const b_members[] = { "alice", "bob" };

static void test_record_fields(void **state)
{
    const struct mk_userdb_group g = { "mk-acme", 2000200100, "org-1", "Acme: \"Media\"\n\x7f",
                                       a_members, 1 };
    const struct mk_userdb_group bare = { "mk-x", 70000, "org-2", NULL, NULL, 0 };
    char *text = mk_userdb_record(&g), *plain = mk_userdb_record(&bare);

    (void)state;
    assert_non_null(text);
    assert_string_equal(text, "{\n"
                              "  \"groupName\": \"mk-acme\",\n"
                              "  \"gid\": 2000200100,\n"
                              "  \"description\": \"Acme  \\\"Media\\\"  \",\n"
                              "  \"disposition\": \"regular\",\n"
                              "  \"service\": \"io.mk.mkio-orgs\",\n"
                              "  \"io.mk.organizationId\": \"org-1\"\n"
                              "}\n");
    /* No display name: no description. */
    assert_non_null(plain);
    assert_null(strstr(plain, "description"));
    assert_non_null(strstr(plain, "\"gid\": 70000,"));
    free(text);
    free(plain);
}

static const struct mk_userdb_group two[] = {
    { "mk-a", 70001, "org-a", "A", a_members, 1 },
    { "mk-b", 70002, "org-b", "B", b_members, 2 },
};

static void test_export_files(void **state)
{
    struct tu_tmpdir *f = *state;
    char buf[2048], *want;
    mk_error err;
    struct stat st;

    assert_int_equal(mk_userdb_export(f->path, two, 2, &warn_sink, &err), MK_OK);
    list_dir(f->path, buf, sizeof(buf));
    assert_string_equal(buf, "70001.group 70002.group alice:mk-a.membership "
                             "alice:mk-b.membership bob:mk-b.membership mk-a.group mk-b.group");
    assert_link(f->fd, "70001.group", "mk-a.group");
    assert_link(f->fd, "70002.group", "mk-b.group");
    tu_read_file_buf_ok(f->fd, "mk-b.group", buf, sizeof(buf));
    want = mk_userdb_record(&two[1]);
    assert_string_equal(buf, want);
    free(want);
    assert_int_equal(fstatat(f->fd, "mk-a.group", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    /* A membership file holds one newline: systemd 252 skips an empty one. */
    tu_read_file_buf_ok(f->fd, "bob:mk-b.membership", buf, sizeof(buf));
    assert_string_equal(buf, "\n");
    assert_int_equal(fstatat(f->fd, "bob:mk-b.membership", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
}

/* Another export of what is there rewrites nothing (same inodes). */
static void test_export_unchanged_rewrites_nothing(void **state)
{
    struct tu_tmpdir *f = *state;
    mk_error err;
    ino_t rec, link, mem;

    assert_int_equal(mk_userdb_export(f->path, two, 2, NULL, &err), MK_OK);
    rec = inode_of(f->fd, "mk-a.group");
    link = inode_of(f->fd, "70001.group");
    mem = inode_of(f->fd, "alice:mk-a.membership");
    assert_int_equal(mk_userdb_export(f->path, two, 2, NULL, &err), MK_OK);
    assert_int_equal(inode_of(f->fd, "mk-a.group"), rec);
    assert_int_equal(inode_of(f->fd, "70001.group"), link);
    assert_int_equal(inode_of(f->fd, "alice:mk-a.membership"), mem);
}

/* What others put there: a record without the mark, a link to it, its
 * membership, an alias link to one of ours, an unrelated file. */
static void put_foreign(struct tu_tmpdir *f)
{
    tu_write_text_ok(f->fd, "local.group", "{\"groupName\": \"local\", \"gid\": 60100}\n", 0644);
    assert_int_equal(symlinkat("local.group", f->fd, "60100.group"), 0);
    tu_write_text_ok(f->fd, "carol:local.membership", "", 0644);
    tu_write_text_ok(f->fd, "notes.txt", "x", 0644);
    tu_write_text_ok(f->fd, "local.group.tmp.abc123", "x", 0644);
}

static void test_export_removes_stale_only_its_own(void **state)
{
    struct tu_tmpdir *f = *state;
    const struct mk_userdb_group later[] = { { "mk-b", 70002, "org-b", "B", a_members, 1 } };
    char buf[2048];
    mk_error err;

    put_foreign(f);
    assert_int_equal(mk_userdb_export(f->path, two, 2, NULL, &err), MK_OK);
    assert_int_equal(symlinkat("mk-a.group", f->fd, "alias.group"), 0);
    /* A killed writer's temporary files of ours. */
    tu_write_text_ok(f->fd, "mk-a.group.tmp.Zz09aB", "x", 0644);
    tu_write_text_ok(f->fd, "bob:mk-b.membership.tmp.Zz09aB", "x", 0644);
    /* mk-a is gone, bob left mk-b. */
    assert_int_equal(mk_userdb_export(f->path, later, 1, NULL, &err), MK_OK);
    list_dir(f->path, buf, sizeof(buf));
    assert_string_equal(buf, "60100.group 70002.group alias.group alice:mk-b.membership "
                             "carol:local.membership local.group local.group.tmp.abc123 "
                             "mk-b.group notes.txt");
    tu_read_file_buf_ok(f->fd, "local.group", buf, sizeof(buf));
    assert_string_equal(buf, "{\"groupName\": \"local\", \"gid\": 60100}\n");
    /* Nothing at all: every record of ours goes, the rest stays. */
    assert_int_equal(mk_userdb_export(f->path, NULL, 0, NULL, &err), MK_OK);
    list_dir(f->path, buf, sizeof(buf));
    assert_string_equal(buf, "60100.group alias.group carol:local.membership local.group "
                             "local.group.tmp.abc123 notes.txt");
}

/* A group whose gid changed: its new link made, the old one removed; a
 * renamed group: the link follows the name. */
static void test_export_gid_and_name_change(void **state)
{
    struct tu_tmpdir *f = *state;
    const struct mk_userdb_group moved[] = { { "mk-a", 70011, "org-a", "A", a_members, 1 } };
    const struct mk_userdb_group renamed[] = { { "mk-a2", 70011, "org-a", "A", a_members, 1 } };
    char buf[2048];
    mk_error err;

    assert_int_equal(mk_userdb_export(f->path, two, 1, NULL, &err), MK_OK);
    assert_int_equal(mk_userdb_export(f->path, moved, 1, NULL, &err), MK_OK);
    list_dir(f->path, buf, sizeof(buf));
    assert_string_equal(buf, "70011.group alice:mk-a.membership mk-a.group");
    assert_link(f->fd, "70011.group", "mk-a.group");
    assert_int_equal(mk_userdb_export(f->path, renamed, 1, NULL, &err), MK_OK);
    list_dir(f->path, buf, sizeof(buf));
    assert_string_equal(buf, "70011.group alice:mk-a2.membership mk-a2.group");
    assert_link(f->fd, "70011.group", "mk-a2.group");
}

/* A name or gid that a file not ours holds: that record (or link) is not
 * written, with a warning, and the file is left as it was. */
static void test_export_refuses_what_is_not_its_own(void **state)
{
    struct tu_tmpdir *f = *state;
    const struct mk_userdb_group clash[] = {
        { "local", 70003, "org-l", "L", a_members, 1 },
        { "mk-c", 60100, "org-c", "C", a_members, 1 },
    };
    char buf[2048];
    mk_error err;

    put_foreign(f);
    memset(&warned, 0, sizeof(warned));
    assert_int_equal(mk_userdb_export(f->path, clash, 2, &warn_sink, &err), MK_OK);
    assert_int_equal(warned.n, 2);
    assert_non_null(strstr(warned.last, "60100.group is not one of mkio-orgs' links"));
    list_dir(f->path, buf, sizeof(buf));
    assert_string_equal(buf, "60100.group alice:mk-c.membership carol:local.membership "
                             "local.group local.group.tmp.abc123 mk-c.group notes.txt");
    tu_read_file_buf_ok(f->fd, "local.group", buf, sizeof(buf));
    assert_string_equal(buf, "{\"groupName\": \"local\", \"gid\": 60100}\n");
    assert_link(f->fd, "60100.group", "local.group");
}

/* The directory must be one root (or, not root, the effective user) owns
 * and only it may write; a missing one is made 0755. */
static void test_export_directory(void **state)
{
    struct tu_tmpdir *f = *state;
    char path[PATH_MAX + 16];
    struct stat st;
    mk_error err;

    snprintf(path, sizeof(path), "%s/userdb", f->path);
    assert_int_equal(mk_userdb_export(path, two, 1, NULL, &err), MK_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(chmod(path, 0777), 0);
    assert_int_equal(mk_userdb_export(path, two, 2, NULL, &err), MK_ERR_IO);
    assert_non_null(strstr(err.message, path));
    assert_int_equal(chmod(path, 0755), 0);
}

/* ---- through the store's write ---- */

static int none_by_gid(void *ctx, gid_t gid, char *name, size_t size)
{
    return 0;
}

static int none_by_name(void *ctx, const char *name, gid_t *gid)
{
    return 0;
}

static const struct mk_group_oracle none_oracle = { none_by_gid, none_by_name, NULL };

static void test_store_write_exports(void **state)
{
    struct tu_tmpdir *f = *state;
    char state_dir[PATH_MAX + 16], userdb[PATH_MAX + 16], etc[PATH_MAX + 16], buf[4096];
    struct mk_config cfg;
    const struct mk_membership orgs[] = { { "ORG-A", "Acme" }, { "org-b", NULL } };
    mk_error err;

    snprintf(state_dir, sizeof(state_dir), "%s/state", f->path);
    snprintf(userdb, sizeof(userdb), "%s/userdb", f->path);
    snprintf(etc, sizeof(etc), "%s/group", f->path);
    tu_write_text_ok(AT_FDCWD, etc, "root:x:0:\n", 0644);
    const struct mk_store_env env = { .nss = &none_oracle, .etc_group = etc,
                                      .nscd_socket = "/nonexistent/socket",
                                      .userdb_dir = userdb };
    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    free(cfg.state_dir);
    cfg.state_dir = strdup(state_dir);
    cfg.gid_min = 70000;
    cfg.gid_max = 79999;
    /* Off (the default): nothing is exported. */
    assert_int_equal(mk_store_set_user(&cfg, &env, "alice", orgs, 2, 1000, NULL, &err), MK_OK);
    assert_int_equal(access(userdb, F_OK), -1);
    cfg.userdb_export = true;
    assert_int_equal(mk_store_publish(&cfg, &env, 1000, NULL, &err), MK_OK);
    struct mk_store_view view;
    assert_int_equal(mk_store_read(&cfg, &env, &view, &err), MK_OK);
    assert_int_equal(view.group_count, 2);
    for (size_t i = 0; i < view.group_count; i++) {
        char name[300];
        const struct mk_store_group *g = &view.groups[i];
        int dirfd = open(userdb, O_RDONLY | O_DIRECTORY);
        snprintf(name, sizeof(name), "%lu.group", (unsigned long)g->gid);
        snprintf(buf, sizeof(buf), "%s.group", g->group_name);
        assert_link(dirfd, name, buf);
        snprintf(name, sizeof(name), "alice:%s.membership", g->group_name);
        assert_int_equal(faccessat(dirfd, name, F_OK, 0), 0);
        snprintf(name, sizeof(name), "%s.group", g->group_name);
        tu_read_file_buf_ok(dirfd, name, buf, sizeof(buf));
        assert_non_null(strstr(buf, g->org_id));
        assert_true(strstr(buf, "\"description\": \"Acme\"") ? strcmp(g->org_id, "org-a") == 0
                                                              : strcmp(g->org_id, "org-b") == 0);
        close(dirfd);
    }
    mk_store_view_free(&view);
    /* alice leaves org-a: its record, link and membership go. */
    assert_int_equal(mk_store_set_user(&cfg, &env, "alice", orgs + 1, 1, 1000, NULL, &err), MK_OK);
    list_dir(userdb, buf, sizeof(buf));
    assert_null(strstr(buf, "-orga"));
    assert_non_null(strstr(buf, "alice:mk-orgb.membership"));
    assert_non_null(strstr(buf, "mk-orgb.group"));
    free(cfg.state_dir);
    cfg.state_dir = NULL;
    mk_config_free(&cfg);
}

/* Every entry of dir (and dir itself) as name, inode and mtime, joined. */
static void snapshot_dir(const char *dir, char *out, size_t size)
{
    struct dirent **v;
    struct stat st;
    int n = scandir(dir, &v, NULL, alphasort);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    size_t used = 0;

    assert_true(n >= 0 && dirfd >= 0);
    assert_int_equal(fstat(dirfd, &st), 0);
    used += (size_t)snprintf(out, size, ". %lu %lld.%09ld", (unsigned long)st.st_ino,
                             (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    for (int i = 0; i < n; i++) {
        if (strcmp(v[i]->d_name, ".") != 0 && strcmp(v[i]->d_name, "..") != 0) {
            assert_int_equal(fstatat(dirfd, v[i]->d_name, &st, AT_SYMLINK_NOFOLLOW), 0);
            used += (size_t)snprintf(out + used, size - used, " %s %lu %lld.%09ld", v[i]->d_name,
                                     (unsigned long)st.st_ino, (long long)st.st_mtim.tv_sec,
                                     st.st_mtim.tv_nsec);
        }
        free(v[i]);
    }
    free(v);
    close(dirfd);
    assert_true(used < size);
}

/* A user's write that changes nothing (a login whose organizations are as
 * the store has them) touches none of store.json, groups.db and the
 * exported records: the same files, the same mtimes. A change still
 * exports. */
static void test_store_write_that_changes_nothing_exports_nothing(void **state)
{
    struct tu_tmpdir *f = *state;
    char state_dir[PATH_MAX + 16], userdb[PATH_MAX + 16], etc[PATH_MAX + 16];
    char before_state[4096], after_state[4096], before_db[4096], after_db[4096];
    struct mk_config cfg;
    const struct mk_membership orgs[] = { { "org-a", "Acme" }, { "org-b", "Beta" } };
    mk_error err;

    snprintf(state_dir, sizeof(state_dir), "%s/state", f->path);
    snprintf(userdb, sizeof(userdb), "%s/userdb", f->path);
    snprintf(etc, sizeof(etc), "%s/group", f->path);
    tu_write_text_ok(AT_FDCWD, etc, "root:x:0:\n", 0644);
    const struct mk_store_env env = { .nss = &none_oracle, .etc_group = etc,
                                      .nscd_socket = "/nonexistent/socket",
                                      .userdb_dir = userdb };
    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    free(cfg.state_dir);
    cfg.state_dir = strdup(state_dir);
    cfg.gid_min = 70000;
    cfg.gid_max = 79999;
    cfg.userdb_export = true;
    assert_int_equal(mk_store_set_user(&cfg, &env, "alice", orgs, 2, 1000, NULL, &err), MK_OK);
    snapshot_dir(state_dir, before_state, sizeof(before_state));
    snapshot_dir(userdb, before_db, sizeof(before_db));
    assert_non_null(strstr(before_state, "store.json"));
    assert_non_null(strstr(before_state, "groups.db"));
    assert_non_null(strstr(before_db, ".membership"));   /* alice's two memberships */
    struct timespec pause = { 0, 20 * 1000 * 1000 };   /* a rewrite would show in mtime */
    nanosleep(&pause, NULL);
    /* The same organizations, in another order and spelling. */
    const struct mk_membership again[] = { { "ORG-B", "Beta" }, { "org-a", "Acme" } };
    assert_int_equal(mk_store_set_user(&cfg, &env, "alice", again, 2, 1000, NULL, &err), MK_OK);
    snapshot_dir(state_dir, after_state, sizeof(after_state));
    snapshot_dir(userdb, after_db, sizeof(after_db));
    assert_string_equal(after_state, before_state);
    assert_string_equal(after_db, before_db);
    /* A renamed organization is a change: written and exported. */
    const struct mk_membership renamed[] = { { "org-a", "Acme Media" }, { "org-b", "Beta" } };
    assert_int_equal(mk_store_set_user(&cfg, &env, "alice", renamed, 2, 1000, NULL, &err), MK_OK);
    snapshot_dir(state_dir, after_state, sizeof(after_state));
    snapshot_dir(userdb, after_db, sizeof(after_db));
    assert_string_not_equal(after_state, before_state);
    assert_string_not_equal(after_db, before_db);
    free(cfg.state_dir);
    cfg.state_dir = NULL;
    mk_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_fields),
        cmocka_unit_test_setup_teardown(test_export_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_unchanged_rewrites_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_removes_stale_only_its_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_gid_and_name_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_refuses_what_is_not_its_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_write_exports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_write_that_changes_nothing_exports_nothing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
