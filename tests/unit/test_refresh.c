/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of common/net/refresh.c: the decisions per organization, the
 * accepts, and what reaches the store, against a tiny plain-http server on
 * 127.0.0.1 that the test starts and stops (one request per connection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/config.h"
#include "net/refresh.h"
#include "store/store.h"
#include "store/store_env.h"
#include "store/userstate.h"
#include "testutil.h"

/* The store's environment for every call of this file (store_env.h): the
 * group file, the NSS oracle, the clock (test_clock, 0: the real one) and
 * nscd's socket that each test sets; production where it leaves NULL. */
static int64_t test_clock;

static int64_t test_now(void *ctx)
{
    (void)ctx;
    return test_clock ? test_clock : (int64_t)time(NULL);
}

static struct mk_store_env test_env = { .now = test_now };

#define ORG_MEMBER "11111111-aaaa-4aaa-8aaa-000000000001"
#define ORG_PENDING "22222222-bbbb-4bbb-8bbb-000000000002"
#define ORG_CONFLICT "33333333-cccc-4ccc-8ccc-000000000003"
#define ORG_EXPIRED "44444444-dddd-4ddd-8ddd-000000000004"
#define ORG_DECLINED "55555555-eeee-4eee-8eee-000000000005"

static const char TOKEN[] = "tok-refresh-SECRET-42";

struct server {
    int listen_fd;
    int stop_pipe[2];
    pthread_t thread;
    int port;
    const char *list_body;   /* answer to GET /user/organizations */
    int list_status;
    pthread_mutex_t lock;
    int patches[8];          /* PATCH count per organization (by last digit) */
    int auth_bad;            /* requests without the exact Authorization */
};

static void server_reply(int fd, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
        return;
}

static void server_handle(struct server *s, int fd)
{
    char buf[8192];
    size_t len = 0;
    /* Headers, then as much body as Content-Length says. */
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            return;
        len += (size_t)r;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (len >= (size_t)(end + 4 - buf) + want)
            break;
    }
    char auth[128];
    snprintf(auth, sizeof(auth), "\r\nAuthorization: Bearer %s\r\n", TOKEN);
    pthread_mutex_lock(&s->lock);
    if (!strstr(buf, auth))
        s->auth_bad++;
    pthread_mutex_unlock(&s->lock);

    if (strncmp(buf, "GET /api/v1/user/organizations", 30) == 0) {
        server_reply(fd, s->list_status, s->list_body);
    } else if (strncmp(buf, "PATCH /api/v1/user/organizations/", 33) == 0) {
        const char *id = buf + 33;
        int slot = id[35] - '0';
        pthread_mutex_lock(&s->lock);
        if (slot >= 0 && slot < 8)
            s->patches[slot]++;
        pthread_mutex_unlock(&s->lock);
        if (strncmp(id, ORG_EXPIRED, 36) == 0)
            server_reply(fd, 400, "{\"error\":{\"code\":\"BadRequest\",\"detail\":\"the invite expired\"},"
                                  "\"status\":400,\"ref\":\"ref-400-exp\"}");
        else if (strncmp(id, ORG_CONFLICT, 36) == 0)
            server_reply(fd, 409, "{\"error\":{\"code\":\"Conflict\",\"detail\":\"no longer pending\","
                                  "\"extraDetail\":{}},\"status\":409,\"ref\":\"ref-409-abc\"}");
        else
            server_reply(fd, 200, "{\"metadata\":{\"id\":\"" ORG_PENDING "\"},\"spec\":{\"name\":\"P\"}}");
    } else {
        server_reply(fd, 404, "{\"error\":{\"code\":\"NotFound\",\"detail\":\"no\",\"extraDetail\":{}},"
                              "\"status\":404,\"ref\":\"r\"}");
    }
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    for (;;) {
        struct pollfd p[2] = { { s->listen_fd, POLLIN, 0 }, { s->stop_pipe[0], POLLIN, 0 } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (p[0].revents) {
            int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                server_handle(s, fd);
                close(fd);
            }
        }
    }
    return NULL;
}

static void server_start(struct server *s, int list_status, const char *list_body)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->list_status = list_status;
    s->list_body = list_body;
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->listen_fd, 64), 0);
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pipe2(s->stop_pipe, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    assert_int_equal(write(s->stop_pipe[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    close(s->listen_fd);
    pthread_mutex_destroy(&s->lock);
}

/* A server, a temporary directory (testutil.h) holding the state
 * directory and the /etc/group the store checks, a configuration. */
struct fixture {
    struct server server;
    struct tu_tmpdir tmp;
    const char *dir;
    char state_dir[96];
    char etc_group[96];
    struct mk_config cfg;
};

static void fixture_start(struct fixture *f, int list_status, const char *list_body, const char *extra_conf)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(tu_tmpdir_make(&f->tmp, "test_refresh"), 0);
    f->dir = f->tmp.path;
    tu_pathf_ok(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir);
    /* The store checks names and gids against this file, not the host's. */
    tu_pathf_ok(f->etc_group, sizeof(f->etc_group), "%s/group", f->dir);
    tu_write_text_ok(f->tmp.fd, "group", "root:x:0:\nusers:x:100:\n", 0644);
    test_env.etc_group = f->etc_group;
    server_start(&f->server, list_status, list_body);

    char conf[1024];
    snprintf(conf, sizeof(conf),
             "base_url = http://127.0.0.1:%d\nstate_dir = %s\ntoken_dir = %s\ntime_budget = 5\n"
             "connect_timeout = 2\n%s", f->server.port, f->state_dir, f->dir, extra_conf ? extra_conf : "");
    mk_error err;
    assert_int_equal(mk_config_defaults(&f->cfg, &err), MK_OK);
    mk_status st = mk_config_parse_string(conf, "test.conf", &f->cfg, &err);
    if (st != MK_OK)
        fail_msg("config: %s", err.message);
}

static void fixture_stop(struct fixture *f)
{
    server_stop(&f->server);
    mk_config_free(&f->cfg);
    test_env.etc_group = NULL;
    tu_tmpdir_remove(&f->tmp);
}

static const struct mk_refresh_org *find_org(const struct mk_refresh_result *res, const char *id)
{
    for (size_t i = 0; i < res->count; i++)
        if (strcmp(res->orgs[i].org_id, id) == 0)
            return &res->orgs[i];
    fail_msg("organization %s not in the result", id);
    return NULL;
}

/* The file's content (NULL if it cannot be read), kept until the next call. */
static char *read_file(const char *path)
{
    static char *last;

    free(last);
    last = tu_read_file(path, NULL);
    return last;
}

#define INVITE(state, expires) \
    "\"invite\":{\"state\":\"" state "\",\"comment\":\"c\",\"invitedBy\":{\"email\":\"admin@example.com\"," \
    "\"name\":\"Ada\"},\"expires\":\"" expires "\"}"

static const char WORLD[] =
    "{\"value\":["
    "{\"metadata\":{\"id\":\"" ORG_MEMBER "\"},\"spec\":{\"name\":\"Member Org\"}},"
    "{\"metadata\":{\"id\":\"" ORG_PENDING "\"},\"spec\":{\"name\":\"Pending Org\"," INVITE("pending", "2999-01-01T00:00:00Z") "}},"
    "{\"metadata\":{\"id\":\"" ORG_CONFLICT "\"},\"spec\":{\"name\":\"Conflict Org\"," INVITE("pending", "2999-01-01T00:00:00Z") "}},"
    "{\"metadata\":{\"id\":\"" ORG_EXPIRED "\"},\"spec\":{\"name\":\"Expired Org\"," INVITE("pending", "2001-01-01T00:00:00Z") "}},"
    "{\"metadata\":{\"id\":\"" ORG_DECLINED "\"},\"spec\":{\"name\":\"Declined Org\"," INVITE("declined", "2999-01-01T00:00:00Z") "}}"
    "]}";

static void test_refresh_accepts_and_records(void **state)
{
    struct fixture f;
    fixture_start(&f, 200, WORLD, NULL);
    struct mk_refresh_options opts = { .store_env = &test_env, .accept = true, .write_store = true, .lock_timeout_ms = 1000 };
    struct mk_refresh_result res;
    mk_error err;

    mk_status st = mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err);
    assert_int_equal(st, MK_OK);
    assert_int_equal(res.count, 5);
    assert_int_equal(find_org(&res, ORG_MEMBER)->outcome, MK_REFRESH_MEMBER);
    assert_int_equal(find_org(&res, ORG_PENDING)->outcome, MK_REFRESH_ACCEPTED);
    const struct mk_refresh_org *conflict = find_org(&res, ORG_CONFLICT);
    assert_int_equal(conflict->outcome, MK_REFRESH_FAILED);
    assert_string_equal(conflict->ref, "ref-409-abc");
    assert_non_null(strstr(conflict->detail, "409"));
    /* Its legacy "expires" is in the past, but expiry is never decided
     * locally: the accept is tried once, the server's 400 is final and
     * reported with its detail, ref and the advice. */
    const struct mk_refresh_org *expired = find_org(&res, ORG_EXPIRED);
    assert_int_equal(expired->outcome, MK_REFRESH_FAILED);
    assert_string_equal(expired->ref, "ref-400-exp");
    assert_non_null(strstr(expired->detail, "the invite expired (HTTP 400"));
    assert_non_null(strstr(expired->detail, "for a new invite"));
    assert_non_null(strstr(conflict->detail, "for a new invite"));
    assert_int_equal(find_org(&res, ORG_DECLINED)->outcome, MK_REFRESH_OTHER);
    assert_string_equal(find_org(&res, ORG_PENDING)->inviter_email, "admin@example.com");
    assert_int_equal(res.members, 1);
    assert_int_equal(res.accepted, 1);
    assert_int_equal(res.failed, 2);
    assert_int_equal(res.expired, 0);
    assert_true(res.store_written);

    /* One PATCH each for the allowed pending invites; the 409 and the 400
     * are not retried; the declined one is never touched. */
    assert_int_equal(f.server.patches[2], 1);
    assert_int_equal(f.server.patches[3], 1);
    assert_int_equal(f.server.patches[4], 1);
    assert_int_equal(f.server.patches[5], 0);
    assert_int_equal(f.server.auth_bad, 0);

    struct mk_store_view view;
    assert_int_equal(mk_store_read(&f.cfg, &test_env, &view, &err), MK_OK);
    assert_int_equal(view.user_count, 1);
    assert_string_equal(view.users[0].user, "alice");
    assert_int_equal(view.users[0].org_count, 2);
    assert_string_equal(view.users[0].org_ids[0], ORG_MEMBER);
    assert_string_equal(view.users[0].org_ids[1], ORG_PENDING);
    mk_store_view_free(&view);

    char path[160];
    snprintf(path, sizeof(path), "%s/store.json", f.state_dir);
    char *text = read_file(path);
    assert_non_null(text);
    assert_null(strstr(text, TOKEN));

    mk_refresh_result_free(&res);
    fixture_stop(&f);
}

static void test_refresh_policy_and_no_accept(void **state)
{
    struct fixture f;
    fixture_start(&f, 200, WORLD, "accept_orgs = " ORG_CONFLICT "\n");
    struct mk_refresh_options opts = { .store_env = &test_env, .accept = true, .write_store = false };
    struct mk_refresh_result res;
    mk_error err;

    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_OK);
    const struct mk_refresh_org *skipped = find_org(&res, ORG_PENDING);
    assert_int_equal(skipped->outcome, MK_REFRESH_SKIPPED);
    assert_true(skipped->detail[0] != '\0');
    /* The policy decides before the server is asked: an invite it does
     * not allow is skipped whatever its legacy "expires" says. */
    assert_int_equal(find_org(&res, ORG_EXPIRED)->outcome, MK_REFRESH_SKIPPED);
    assert_int_equal(res.skipped, 2);
    assert_int_equal(f.server.patches[2], 0);
    assert_false(res.store_written);
    mk_refresh_result_free(&res);

    /* Told not to accept: nothing is PATCHed; the pending ones say so. */
    opts.accept = false;
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_OK);
    assert_int_equal(find_org(&res, ORG_CONFLICT)->outcome, MK_REFRESH_NOT_ACCEPTING);
    assert_int_equal(f.server.patches[3], 1); /* only the first run's */
    mk_refresh_result_free(&res);

    struct stat st;
    char path[160];
    snprintf(path, sizeof(path), "%s/store.json", f.state_dir);
    assert_int_equal(stat(path, &st), -1);
    fixture_stop(&f);
}

static void test_refresh_list_failure_keeps_the_store(void **state)
{
    struct fixture f;
    fixture_start(&f, 200, WORLD, NULL);
    struct mk_refresh_options opts = { .store_env = &test_env, .accept = true, .write_store = true, .lock_timeout_ms = 1000 };
    struct mk_refresh_result res;
    mk_error err;
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_OK);
    mk_refresh_result_free(&res);

    char path[160];
    snprintf(path, sizeof(path), "%s/store.json", f.state_dir);
    char before[1 << 16];
    snprintf(before, sizeof(before), "%s", read_file(path));

    f.server.list_status = 401;
    f.server.list_body = "{\"error\":{\"code\":\"Unauthorized\",\"detail\":\"bad token\",\"extraDetail\":{}},"
                         "\"status\":401,\"ref\":\"ref-401-xyz\"}";
    mk_status st = mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err);
    assert_int_equal(st, MK_ERR_API);
    assert_string_equal(err.ref, "ref-401-xyz");
    assert_non_null(strstr(err.message, "alice"));
    assert_null(strstr(err.message, TOKEN));
    assert_int_equal(res.count, 0);
    assert_false(res.store_written);
    assert_string_equal(read_file(path), before);
    mk_refresh_result_free(&res);
    fixture_stop(&f);
}

static void test_refresh_store_locked_is_busy_within_budget(void **state)
{
    struct fixture f;
    fixture_start(&f, 200, WORLD, NULL);
    assert_int_equal(mkdir(f.state_dir, 0755), 0);
    char path[160];
    snprintf(path, sizeof(path), "%s/store.lock", f.state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);

    struct mk_refresh_options opts = { .store_env = &test_env, .accept = true, .write_store = true, .budget_ms = 800,
                                       .lock_timeout_ms = 60000 };
    struct mk_refresh_result res;
    mk_error err;
    int64_t t0 = tu_now_ms();
    mk_status st = mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err);
    int64_t ms = tu_now_ms() - t0;
    assert_int_equal(st, MK_ERR_BUSY);
    /* The budget (800 ms), not the lock timeout (60 s), ended the wait: a
     * bound only a wait for the lock timeout exceeds. The tight one (within
     * 500 ms of the budget) is make bench's. */
    tu_at_most_ms("refresh with the store locked, cut at an 800 ms budget", ms, 1300, 30000);
    assert_int_equal(res.accepted, 1); /* the result is still there for the logs */
    assert_false(res.store_written);
    mk_refresh_result_free(&res);
    close(fd);
    fixture_stop(&f);
}

/* An organization whose id the store cannot take is left out; the others
 * are still recorded. */
static void test_refresh_skips_an_unusable_id(void **state)
{
    static const char world[] =
        "{\"value\":["
        "{\"metadata\":{\"id\":\"" ORG_MEMBER "\"},\"spec\":{\"name\":\"Member Org\"}},"
        "{\"metadata\":{\"id\":\"bad_id/../x\"},\"spec\":{\"name\":\"Odd Org\"}}"
        "]}";
    struct fixture f;
    fixture_start(&f, 200, world, NULL);
    struct mk_refresh_options opts = { .store_env = &test_env, .accept = true, .write_store = true, .lock_timeout_ms = 1000 };
    struct mk_refresh_result res;
    mk_error err;
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_OK);
    assert_int_equal(find_org(&res, "bad_id/../x")->outcome, MK_REFRESH_OTHER);
    assert_int_equal(find_org(&res, ORG_MEMBER)->outcome, MK_REFRESH_MEMBER);
    assert_true(res.store_written);
    struct mk_store_view view;
    assert_int_equal(mk_store_read(&f.cfg, &test_env, &view, &err), MK_OK);
    assert_int_equal(view.user_count, 1);
    assert_int_equal(view.users[0].org_count, 1);
    assert_string_equal(view.users[0].org_ids[0], ORG_MEMBER);
    mk_store_view_free(&view);
    mk_refresh_result_free(&res);
    fixture_stop(&f);
}

/* Every attempt that may write the store is recorded (userstate.h): a
 * success with its time, a failure (a 401, a busy store) with the error and
 * the last success kept; a dry run records nothing. A record that cannot
 * be written is a warning, and the refresh still succeeds. */
struct captured_log {
    int count;
    char all[8192];   /* "PRIORITY message\n" each */
};

static void capture_log(void *ctx, int priority, const char *message)
{
    struct captured_log *c = ctx;
    size_t used = strlen(c->all);
    c->count++;
    snprintf(c->all + used, sizeof(c->all) - used, "%d %s\n", priority, message);
}

static void test_refresh_records_each_attempt(void **state)
{
    struct fixture f;
    fixture_start(&f, 200, WORLD, NULL);
    struct mk_refresh_options opts = { .store_env = &test_env, .accept = true, .write_store = true, .lock_timeout_ms = 1000 };
    struct mk_refresh_result res;
    struct mk_user_state us;
    mk_error err;

    /* A dry run: no record. */
    opts.write_store = false;
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_OK);
    mk_refresh_result_free(&res);
    assert_int_equal(mk_user_state_read(&f.cfg, "alice", &us, &err), MK_OK);
    assert_int_equal(us.last_attempt, 0);

    /* A first refresh that fails (401): recorded, never a success. */
    opts.write_store = true;
    f.server.list_status = 401;
    f.server.list_body = "{\"error\":{\"code\":\"Unauthorized\",\"detail\":\"token revoked\"},"
                         "\"status\":401,\"ref\":\"ref-401\"}";
    int64_t before = (int64_t)time(NULL);
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_ERR_API);
    mk_refresh_result_free(&res);
    assert_int_equal(mk_user_state_read(&f.cfg, "alice", &us, &err), MK_OK);
    assert_true(us.last_attempt >= before && us.last_attempt <= (int64_t)time(NULL));
    assert_int_equal(us.last_success, 0);
    assert_non_null(strstr(us.last_error, "listing the organizations of alice"));
    assert_non_null(strstr(us.last_error, "token revoked"));
    /* One context, not the API layer's under refresh's (issue 19, item 7). */
    assert_null(strstr(us.last_error, "listing your organizations"));
    assert_int_equal(strncmp(us.last_error, "listing the organizations of alice: ", 36), 0);
    assert_null(strstr(us.last_error, TOKEN));

    /* A success: both times, no error. */
    f.server.list_status = 200;
    f.server.list_body = WORLD;
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_OK);
    mk_refresh_result_free(&res);
    assert_int_equal(mk_user_state_read(&f.cfg, "alice", &us, &err), MK_OK);
    assert_true(us.last_success >= before);
    assert_int_equal(us.last_attempt, us.last_success);
    assert_string_equal(us.last_error, "");
    int64_t success = us.last_success;

    /* A store that cannot be written in time: a failure, the success kept. */
    char path[160];
    snprintf(path, sizeof(path), "%s/store.lock", f.state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    opts.lock_timeout_ms = 200;
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_ERR_BUSY);
    mk_refresh_result_free(&res);
    close(fd);
    assert_int_equal(mk_user_state_read(&f.cfg, "alice", &us, &err), MK_OK);
    assert_int_equal(us.last_success, success);
    assert_non_null(strstr(us.last_error, "updating the membership store"));

    /* A record that cannot be written (users/ is not a directory): a
     * warning to the log; the refresh succeeds all the same. */
    char users[160];
    snprintf(users, sizeof(users), "%s/users", f.state_dir);
    char moved[200];
    snprintf(moved, sizeof(moved), "%s/users.old", f.dir);
    assert_int_equal(rename(users, moved), 0);
    FILE *blocker = fopen(users, "w");
    assert_non_null(blocker);
    fclose(blocker);
    struct captured_log captured = { 0 };
    struct mk_log_sink sink = { capture_log, &captured };
    opts.log = &sink;
    opts.lock_timeout_ms = 1000;
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_OK);
    assert_true(res.store_written || res.count > 0);
    mk_refresh_result_free(&res);
    /* (The store may warn too: it cannot read the records either.) */
    const char *line = strstr(captured.all, "4 user alice: cannot record this refresh: ");
    assert_non_null(line);
    assert_true(strstr(line, users) && strstr(line, users) < strchr(line, '\n'));
    fixture_stop(&f);
}

/* A failed refresh that leaves the user's last success past max_stale
 * recompiles groups.db at once: their group leaves it (kept in the store).
 * One whose last success is recent leaves groups.db alone. The store's
 * clock is moved (test_clock) so that the store sees the user's
 * memberships as old too. */
static void test_refresh_failure_past_max_stale_publishes(void **state)
{
    struct fixture f;
    fixture_start(&f, 200, WORLD, "max_stale = 60\n");
    struct mk_refresh_options opts = { .store_env = &test_env, .accept = false, .write_store = true, .lock_timeout_ms = 1000 };
    struct mk_refresh_result res;
    struct mk_store_view view;
    struct stat before, after;
    char db[160];
    mk_error err;
    int64_t now = (int64_t)time(NULL);

    snprintf(db, sizeof(db), "%s/groups.db", f.state_dir);
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_OK);
    mk_refresh_result_free(&res);
    assert_int_equal(mk_store_read(&f.cfg, &test_env, &view, &err), MK_OK);
    assert_int_equal(view.group_count, 1);
    mk_store_view_free(&view);
    test_clock = now + 3600;

    f.server.list_status = 401;
    f.server.list_body = "{\"error\":{\"code\":\"Unauthorized\",\"detail\":\"revoked\"},\"status\":401}";

    /* The last success is recent: nothing is recompiled. */
    assert_int_equal(stat(db, &before), 0);
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_ERR_API);
    mk_refresh_result_free(&res);
    assert_int_equal(stat(db, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);

    /* The last success is two hours old: the failure recompiles groups.db
     * without alice's group; the store keeps her organization. */
    assert_int_equal(mk_user_state_record(&f.cfg, "alice", now - 7200, true, NULL, &err), MK_OK);
    assert_int_equal(mk_refresh_user(&f.cfg, "alice", TOKEN, &opts, &res, &err), MK_ERR_API);
    mk_refresh_result_free(&res);
    assert_int_equal(stat(db, &after), 0);
    assert_true(after.st_ino != before.st_ino);
    assert_int_equal(mk_store_read(&f.cfg, &test_env, &view, &err), MK_OK);
    assert_int_equal(view.group_count, 0);
    assert_int_equal(view.user_count, 1);
    assert_int_equal(view.users[0].org_count, 1);
    assert_true(view.users[0].stale);
    mk_store_view_free(&view);
    struct mk_user_state us;
    assert_int_equal(mk_user_state_read(&f.cfg, "alice", &us, &err), MK_OK);
    assert_int_equal(us.last_success, now - 7200);
    assert_non_null(strstr(us.last_error, "revoked"));

    test_clock = 0;
    fixture_stop(&f);
}

static void test_refresh_bad_arguments(void **state)
{
    struct mk_config cfg;
    mk_error err;
    struct mk_refresh_result res;
    struct mk_refresh_options opts = { .store_env = &test_env, .accept = true };
    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    assert_int_equal(mk_refresh_user(&cfg, "", TOKEN, &opts, &res, &err), MK_ERR_USAGE);
    assert_int_equal(mk_refresh_user(&cfg, "alice", NULL, &opts, &res, &err), MK_ERR_USAGE);
    assert_int_equal(mk_refresh_user(&cfg, "alice", TOKEN, NULL, &res, &err), MK_ERR_USAGE);
    assert_int_equal(res.count, 0);
    mk_refresh_result_free(&res);
    mk_config_free(&cfg);
    assert_string_equal(mk_refresh_outcome_name(MK_REFRESH_EXPIRED), "expired");
    assert_string_equal(mk_refresh_outcome_name(MK_REFRESH_ACCEPTED), "accepted");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_accepts_and_records),
        cmocka_unit_test(test_refresh_policy_and_no_accept),
        cmocka_unit_test(test_refresh_list_failure_keeps_the_store),
        cmocka_unit_test(test_refresh_store_locked_is_busy_within_budget),
        cmocka_unit_test(test_refresh_skips_an_unusable_id),
        cmocka_unit_test(test_refresh_records_each_attempt),
        cmocka_unit_test(test_refresh_failure_past_max_stale_publishes),
        cmocka_unit_test(test_refresh_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
