/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_token.c: token files as users and administrators leave
 * them. Runs as root (chown to uid 65534 plays the user); each test gets its
 * own temporary directory (testutil.h), removed afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/config.h"
#include "net/token.h"
#include "testutil.h"

#define USER_UID 65534
#define USER_GID 65534
#define SECRET "mkio-SECRET.token_value~42"

struct fixture {
    struct tu_tmpdir tmp;
    const char *dir;
    char *token_dir;
    char *home;
    struct passwd pw;
    struct mk_config cfg;
};

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* Every refusal is checked here: the message must not leak the token. */
static void assert_no_secret(const mk_error *err)
{
    if (strstr(err->message, "SECRET"))
        fail_msg("error message holds the token: %s", err->message);
}

static char *join(const char *a, const char *b)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", a, b) > 0);
    return p;
}

static void put_file(const char *path, const void *data, size_t len, mode_t mode, uid_t uid, gid_t gid)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchown(fd, uid, gid), 0);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void put_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    assert_int_equal(mkdir(path, mode), 0);
    assert_int_equal(chown(path, uid, gid), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static int fixture_setup(void **state)
{
    if (geteuid() != 0) {
        fprintf(stderr, "test_token must run as root\n");
        return -1;
    }
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (tu_tmpdir_make(&f->tmp, "test_token") != 0) {
        free(f);
        return -1;
    }
    f->dir = f->tmp.path;
    /* The user must be able to walk to their home. */
    chmod(f->dir, 0755);
    f->token_dir = join(f->dir, "tokens");
    put_dir(f->token_dir, 0700, 0, 0);
    char *homes = join(f->dir, "home");
    put_dir(homes, 0755, 0, 0);
    f->home = join(homes, "alice");
    free(homes);
    put_dir(f->home, 0700, USER_UID, USER_GID);

    f->pw.pw_name = "alice";
    f->pw.pw_uid = USER_UID;
    f->pw.pw_gid = USER_GID;
    f->pw.pw_dir = f->home;
    f->pw.pw_shell = "/bin/sh";
    f->pw.pw_passwd = "x";
    f->pw.pw_gecos = "";

    mk_error err;
    if (mk_config_defaults(&f->cfg, &err) != MK_OK)
        return -1;
    free(f->cfg.token_dir);
    f->cfg.token_dir = strdup(f->token_dir);
    *state = f;
    return f->cfg.token_dir ? 0 : -1;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    int rc = tu_tmpdir_remove(&f->tmp);
    mk_config_free(&f->cfg);
    free(f->token_dir);
    free(f->home);
    free(f);
    return rc;
}

/* Puts the user's token at ~/.config/mkio/token. */
static char *put_user_token(struct fixture *f, const char *text, mode_t mode, uid_t owner)
{
    char *config = join(f->home, ".config");
    char *mkio = join(config, "mkio");
    char *token = join(mkio, "token");
    put_dir(config, 0700, USER_UID, USER_GID);
    put_dir(mkio, 0700, USER_UID, USER_GID);
    put_file(token, text, strlen(text), mode, owner, USER_GID);
    free(config);
    free(mkio);
    return token;
}

static void assert_fs_identity_is_root(void)
{
    assert_int_equal(setfsuid((uid_t)-1), 0);
    assert_int_equal(setfsgid((gid_t)-1), 0);
}

/* Reads path expecting owner; returns the status, token freed, err kept. */
static mk_status read_token(const char *path, uid_t owner, char **out, mk_error *err)
{
    *out = NULL;
    mk_error_clear(err);
    mk_status st = mk_token_read_file(path, owner, out, err);
    if (st != MK_OK) {
        assert_null(*out);
        assert_no_secret(err);
    }
    return st;
}

static void test_good_file(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *content;
        size_t len;
    } good[] = {
        { SECRET, sizeof(SECRET) - 1 },
        { SECRET "\n", sizeof(SECRET) },
        { SECRET "\r\n", sizeof(SECRET) + 1 },
    };
    char *path = join(f->dir, "t");
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *token;
        mk_error err;
        put_file(path, good[i].content, good[i].len, 0600, 0, 0);
        assert_int_equal(read_token(path, 0, &token, &err), MK_OK);
        assert_string_equal(token, SECRET);
        mk_token_free(token);
    }
    /* Stricter than 0600 is fine. */
    char *token;
    mk_error err;
    put_file(path, SECRET, strlen(SECRET), 0400, 0, 0);
    assert_int_equal(read_token(path, 0, &token, &err), MK_OK);
    mk_token_free(token);
    /* Exactly the limit. */
    char *big = malloc(MK_TOKEN_MAX_BYTES);
    assert_non_null(big);
    memset(big, 'a', MK_TOKEN_MAX_BYTES);
    put_file(path, big, MK_TOKEN_MAX_BYTES, 0600, 0, 0);
    assert_int_equal(read_token(path, 0, &token, &err), MK_OK);
    assert_int_equal(strlen(token), MK_TOKEN_MAX_BYTES);
    mk_token_free(token);
    free(big);
    mk_token_free(NULL);
    free(path);
}

static void test_bad_content(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *content;
        size_t len;
        const char *want;
    } bad[] = {
        { "", 0, "is empty" },
        { "\n", 1, "is empty" },
        { "\r\n", 2, "is empty" },
        { SECRET "\n\n", sizeof(SECRET) + 1, "characters a token cannot have" },
        { "SECRET part\n", 12, "characters a token cannot have" },
        { "SECRET\tpart", 11, "characters a token cannot have" },
        { " SECRET", 7, "characters a token cannot have" },
        { "SECRET\n2nd-line", 15, "characters a token cannot have" },
        { "SECRET\r", 7, "characters a token cannot have" },
        { "SECRET\0x", 8, "characters a token cannot have" },
        { "SECRET\xc3\xa9", 8, "characters a token cannot have" },
        { "SECRET\x7f", 7, "characters a token cannot have" },
    };
    char *path = join(f->dir, "t");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *token;
        mk_error err;
        put_file(path, bad[i].content, bad[i].len, 0600, 0, 0);
        assert_int_equal(read_token(path, 0, &token, &err), MK_ERR_USAGE);
        assert_contains(err.message, path);
        assert_contains(err.message, bad[i].want);
    }
    free(path);
}

static void test_too_big(void **state)
{
    struct fixture *f = *state;
    char *path = join(f->dir, "t");
    char *big = malloc(MK_TOKEN_MAX_BYTES + 1);
    assert_non_null(big);
    memset(big, 'S', MK_TOKEN_MAX_BYTES + 1);
    memcpy(big, "SECRET", 6);
    put_file(path, big, MK_TOKEN_MAX_BYTES + 1, 0600, 0, 0);
    char *token;
    mk_error err;
    assert_int_equal(read_token(path, 0, &token, &err), MK_ERR_USAGE);
    assert_contains(err.message, "larger than 16384 bytes");
    free(big);
    free(path);
}

static void test_bad_mode(void **state)
{
    struct fixture *f = *state;
    static const mode_t modes[] = { 0640, 0604, 0644, 0610, 0601, 0660, 0666, 0620 };
    char *path = join(f->dir, "t");
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char *token;
        mk_error err;
        char want[64];
        put_file(path, SECRET, strlen(SECRET), modes[i], 0, 0);
        assert_int_equal(read_token(path, 0, &token, &err), MK_ERR_USAGE);
        snprintf(want, sizeof(want), "has mode %04o; it must be 0600", (unsigned)modes[i]);
        assert_contains(err.message, want);
        assert_contains(err.message, path);
    }
    free(path);
}

static void test_wrong_owner(void **state)
{
    struct fixture *f = *state;
    char *path = join(f->dir, "t");
    char *token;
    mk_error err;

    put_file(path, SECRET, strlen(SECRET), 0600, USER_UID, USER_GID);
    assert_int_equal(read_token(path, 0, &token, &err), MK_ERR_USAGE);
    assert_contains(err.message, "is owned by uid 65534, expected 0");
    put_file(path, SECRET, strlen(SECRET), 0600, 0, 0);
    assert_int_equal(read_token(path, USER_UID, &token, &err), MK_ERR_USAGE);
    assert_contains(err.message, "is owned by uid 0, expected 65534");
    free(path);
}

static void test_not_a_plain_file(void **state)
{
    struct fixture *f = *state;
    char *target = join(f->dir, "target");
    char *link = join(f->dir, "link");
    char *dir = join(f->dir, "dir");
    char *fifo = join(f->dir, "fifo");
    char *missing = join(f->dir, "missing");
    char *token;
    mk_error err;

    put_file(target, SECRET, strlen(SECRET), 0600, 0, 0);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(read_token(link, 0, &token, &err), MK_ERR_USAGE);
    assert_contains(err.message, "is a symbolic link, refused");

    put_dir(dir, 0700, 0, 0);
    assert_int_equal(read_token(dir, 0, &token, &err), MK_ERR_USAGE);
    assert_contains(err.message, "not a regular file");

    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(read_token(fifo, 0, &token, &err), MK_ERR_USAGE);
    assert_contains(err.message, "not a regular file");

    assert_int_equal(read_token(missing, 0, &token, &err), MK_ERR_IO);
    char want[128];
    snprintf(want, sizeof(want), "no token file at %s", missing);
    assert_contains(err.message, want);

    assert_int_equal(mk_token_read_file(NULL, 0, &token, &err), MK_ERR_USAGE);
    free(target);
    free(link);
    free(dir);
    free(fifo);
    free(missing);
}

static void test_check_value(void **state)
{
    mk_error err;
    assert_int_equal(mk_token_check_value(SECRET, &err), MK_OK);
    assert_int_equal(mk_token_check_value("", &err), MK_ERR_USAGE);
    assert_contains(err.message, "empty");
    assert_int_equal(mk_token_check_value(NULL, &err), MK_ERR_USAGE);
    assert_int_equal(mk_token_check_value("SECRET value", &err), MK_ERR_USAGE);
    assert_no_secret(&err);
    assert_int_equal(mk_token_check_value("SECRET\n", &err), MK_ERR_USAGE);
    assert_no_secret(&err);
    char *big = malloc(MK_TOKEN_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, 'a', MK_TOKEN_MAX_BYTES + 1);
    big[MK_TOKEN_MAX_BYTES + 1] = '\0';
    assert_int_equal(mk_token_check_value(big, &err), MK_ERR_USAGE);
    free(big);
}

/* ---- per user ------------------------------------------------------------ */

static mk_status token_for(struct fixture *f, char **token, char **source, mk_error *err)
{
    *token = NULL;
    *source = NULL;
    mk_error_clear(err);
    mk_status st = mk_token_for_user(&f->cfg, &f->pw, token, source, err);
    assert_fs_identity_is_root();
    if (st != MK_OK) {
        assert_null(*token);
        /* A refused file is named in *source (who fixes it depends on
         * which one it is: token.h); no file at all names none. */
        if (st == MK_ERR_IO)
            assert_null(*source);
        free(*source);
        *source = NULL;
        assert_no_secret(err);
    }
    return st;
}

static void test_user_file_used_when_token_dir_has_none(void **state)
{
    struct fixture *f = *state;
    char *path = put_user_token(f, SECRET "\n", 0600, USER_UID);
    char *token, *source;
    mk_error err;

    assert_int_equal(token_for(f, &token, &source, &err), MK_OK);
    assert_string_equal(token, SECRET);
    assert_string_equal(source, path);
    mk_token_free(token);
    free(source);

    /* source may be NULL */
    token = NULL;
    assert_int_equal(mk_token_for_user(&f->cfg, &f->pw, &token, NULL, &err), MK_OK);
    assert_fs_identity_is_root();
    mk_token_free(token);
    free(path);
}

static void test_token_dir_wins(void **state)
{
    struct fixture *f = *state;
    char *user_path = put_user_token(f, "user-token", 0600, USER_UID);
    char *root_path = join(f->token_dir, "alice");
    put_file(root_path, SECRET, strlen(SECRET), 0600, 0, 0);
    char *token, *source;
    mk_error err;

    assert_int_equal(token_for(f, &token, &source, &err), MK_OK);
    assert_string_equal(token, SECRET);
    assert_string_equal(source, root_path);
    mk_token_free(token);
    free(source);

    /* A refused admin file is a failure, not a reason to use the user's. */
    assert_int_equal(chmod(root_path, 0644), 0);
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, "has mode 0644");
    /* ... and it must be owned by root. */
    put_file(root_path, SECRET, strlen(SECRET), 0600, USER_UID, USER_GID);
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, "expected 0");
    free(root_path);
    free(user_path);
}

/* A refused file is named (the caller says who fixes it); the remedy names
 * the administrator's command for a file of token_dir, the user's own
 * command for the user's file. */
static void test_refused_source_and_remedy(void **state)
{
    struct fixture *f = *state;
    char *user_path = put_user_token(f, "user-token", 0600, USER_UID);
    char *root_path = join(f->token_dir, "alice");
    put_file(root_path, SECRET, strlen(SECRET), 0644, 0, 0);
    char *token = NULL, *source = NULL;
    char remedy[512];
    mk_error err;

    mk_error_clear(&err);
    assert_int_equal(mk_token_for_user(&f->cfg, &f->pw, &token, &source, &err), MK_ERR_USAGE);
    assert_null(token);
    assert_string_equal(source, root_path);
    assert_true(mk_token_source_root_held(&f->cfg, source));
    mk_token_remedy(&f->cfg, "alice", source, remedy, sizeof(remedy));
    assert_contains(remedy, "your administrator must run `mkio-orgs login --user alice`");
    assert_contains(remedy, root_path);
    free(source);

    assert_false(mk_token_source_root_held(&f->cfg, user_path));
    mk_token_remedy(&f->cfg, "alice", user_path, remedy, sizeof(remedy));
    assert_contains(remedy, "run `mkio-orgs login`");
    assert_null(strstr(remedy, "--user"));
    free(root_path);
    free(user_path);
}

static void test_no_token_at_all(void **state)
{
    struct fixture *f = *state;
    char *token, *source;
    mk_error err;

    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_IO);
    assert_contains(err.message, "no token");

    /* A home that does not exist is also "no token". */
    char *gone = join(f->dir, "home/bob");
    f->pw.pw_dir = gone;
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_IO);
    assert_contains(err.message, "no token");
    f->pw.pw_dir = f->home;
    free(gone);
}

static void test_user_file_checks(void **state)
{
    struct fixture *f = *state;
    char *token, *source;
    mk_error err;

    /* Owned by root inside the user's home: not the user's file. */
    char *path = put_user_token(f, SECRET, 0644, 0);
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, "is owned by uid 0, expected 65534");

    assert_int_equal(chown(path, USER_UID, USER_GID), 0);
    assert_int_equal(chmod(path, 0640), 0); /* chown cleared nothing we rely on */
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, "has mode 0640; it must be 0600");

    /* The file itself a symlink (to a file the user owns). */
    assert_int_equal(chmod(path, 0600), 0);
    char *real = join(f->home, "real-token");
    put_file(real, SECRET, strlen(SECRET), 0600, USER_UID, USER_GID);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(real, path), 0);
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, "is a symbolic link, refused");
    free(real);
    free(path);
}

static void test_symlinked_config_dir(void **state)
{
    struct fixture *f = *state;
    /* ~/.config -> elsewhere/ holding mkio/token that passes every file check. */
    char *elsewhere = join(f->dir, "elsewhere");
    char *mkio = join(elsewhere, "mkio");
    char *file = join(mkio, "token");
    put_dir(elsewhere, 0755, USER_UID, USER_GID);
    put_dir(mkio, 0700, USER_UID, USER_GID);
    put_file(file, SECRET, strlen(SECRET), 0600, USER_UID, USER_GID);
    char *config = join(f->home, ".config");
    assert_int_equal(symlink(elsewhere, config), 0);

    char *token, *source;
    mk_error err;
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, ".config is a symbolic link, refused");

    /* The same with the inner directory linked. */
    assert_int_equal(unlink(config), 0);
    put_dir(config, 0700, USER_UID, USER_GID);
    char *inner = join(config, "mkio");
    assert_int_equal(symlink(mkio, inner), 0);
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, ".config/mkio is a symbolic link, refused");

    /* A plain file where a directory belongs. */
    assert_int_equal(unlink(inner), 0);
    put_file(inner, "x", 1, 0600, USER_UID, USER_GID);
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, "is not a directory");

    free(elsewhere);
    free(mkio);
    free(file);
    free(config);
    free(inner);
}

/* The user's file is read with the user's rights: a directory only root may
 * enter hides the file, though root itself could read it. */
static void test_read_with_user_rights(void **state)
{
    struct fixture *f = *state;
    char *path = put_user_token(f, SECRET, 0600, USER_UID);
    char *mkio = join(f->home, ".config/mkio");
    assert_int_equal(chown(mkio, 0, 0), 0);
    assert_int_equal(chmod(mkio, 0700), 0);

    char *token, *source;
    mk_error err;
    assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
    assert_contains(err.message, "Permission denied");

    /* Group rights come from the user's group too. */
    assert_int_equal(chown(mkio, 0, USER_GID), 0);
    assert_int_equal(chmod(mkio, 0710), 0);
    if (token_for(f, &token, &source, &err) != MK_OK)
        fail_msg("refused: %s", err.message);
    assert_string_equal(token, SECRET);
    mk_token_free(token);
    free(source);
    free(mkio);
    free(path);
}

static void test_bad_user_names(void **state)
{
    struct fixture *f = *state;
    /* text.h's user names, and no dot file: a ':' or ',' (no passwd or
     * group line holds one), a space or a control character are refused,
     * and the message shows the name sanitized. */
    static const char *const names[] = { "", "../alice", "a/b", ".hidden", ".", "a:b", "a,b",
                                         "a b", "a\nb", "a\x1b[2Jb" };
    char *token, *source;
    mk_error err;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        f->pw.pw_name = (char *)names[i];
        assert_int_equal(token_for(f, &token, &source, &err), MK_ERR_USAGE);
        assert_contains(err.message, "cannot name a token file");
        assert_null(strpbrk(err.message, "\n\x1b"));
    }
    f->pw.pw_name = "alice";
    assert_int_equal(mk_token_for_user(&f->cfg, NULL, &token, &source, &err), MK_ERR_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_file, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_refused_source_and_remedy, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_content, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_too_big, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_mode, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_owner, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_plain_file, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_check_value),
        cmocka_unit_test_setup_teardown(test_user_file_used_when_token_dir_has_none, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_token_dir_wins, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_no_token_at_all, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_user_file_checks, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_symlinked_config_dir, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_read_with_user_rights, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_user_names, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
