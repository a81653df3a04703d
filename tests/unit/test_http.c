/* Unit tests of common/http.c: the retry policy as pure functions, the retry
 * loop through the transport and sleep seams, and real libcurl against tiny
 * plain-http listeners on 127.0.0.1 that the tests start and stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

static const char TOKEN[] = "tok-SECRET-123";

static void test_config(struct mk_config *cfg, const char *base_url)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->base_url = (char *)base_url;
    cfg->connect_timeout_ms = 3000;
    cfg->budget_ms = 5000;
    cfg->retries = 3;
    cfg->max_response_bytes = 1 << 20;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pure policy ---- */

static void test_status_retryable(void **state)
{
    const long yes[] = { 429, 502, 503, 504 };
    const long no[] = { 200, 201, 202, 204, 301, 302, 400, 401, 403, 404, 409, 500 };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(mk_http_status_retryable(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(mk_http_status_retryable(no[i]));
}

static void test_backoff_growth_and_jitter(void **state)
{
    struct mk_config cfg;
    test_config(&cfg, "https://api.test");
    cfg.retries = 20;
    long base = 200;
    for (unsigned attempt = 1; attempt <= 10; attempt++) {
        long full = base > 5000 ? 5000 : base;
        long lo = mk_http_backoff_ms(&cfg, attempt, -1, 0, 100000);
        long hi = mk_http_backoff_ms(&cfg, attempt, -1, UINT32_MAX, 100000);
        assert_int_equal(lo, full / 2);
        assert_true(hi <= full && hi >= full / 2);
        for (uint32_t j = 1; j < 2000000000u; j += 123456789u) {
            long d = mk_http_backoff_ms(&cfg, attempt, -1, j, 100000);
            assert_true(d >= full / 2 && d <= full);
        }
        base *= 2;
    }
    /* The cap holds far out. */
    assert_true(mk_http_backoff_ms(&cfg, 20, -1, UINT32_MAX, 100000) <= 5000);
}

static void test_backoff_retry_after_and_limits(void **state)
{
    struct mk_config cfg;
    test_config(&cfg, "https://api.test");
    /* Retry-After is a floor. */
    assert_int_equal(mk_http_backoff_ms(&cfg, 1, 3000, 0, 10000), 3000);
    assert_int_equal(mk_http_backoff_ms(&cfg, 1, 0, 0, 10000), 100);
    /* More than the budget can wait: no retry. */
    assert_int_equal(mk_http_backoff_ms(&cfg, 1, 10000, 0, 5000), -1);
    assert_int_equal(mk_http_backoff_ms(&cfg, 1, -1, 0, 150), -1);
    assert_int_equal(mk_http_backoff_ms(&cfg, 1, -1, 0, 0), -1);
    /* Attempts beyond the configured retries. */
    assert_true(mk_http_backoff_ms(&cfg, 3, -1, 0, 100000) > 0);
    assert_int_equal(mk_http_backoff_ms(&cfg, 4, -1, 0, 100000), -1);
    assert_int_equal(mk_http_backoff_ms(&cfg, 0, -1, 0, 100000), -1);
    cfg.retries = 0;
    assert_int_equal(mk_http_backoff_ms(&cfg, 1, -1, 0, 100000), -1);
}

static void test_parse_retry_after(void **state)
{
    assert_int_equal(mk_http_parse_retry_after("120", 0), 120000);
    assert_int_equal(mk_http_parse_retry_after(" 5 ", 0), 5000);
    assert_int_equal(mk_http_parse_retry_after("0", 0), 0);
    /* Sun, 06 Nov 1994 08:49:37 GMT is 784111777. */
    assert_int_equal(mk_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30),
                     30000);
    assert_int_equal(mk_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30),
                     0);
    assert_int_equal(mk_http_parse_retry_after(NULL, 0), -1);
    assert_int_equal(mk_http_parse_retry_after("", 0), -1);
    assert_int_equal(mk_http_parse_retry_after("soon", 0), -1);
    assert_int_equal(mk_http_parse_retry_after("-5", 0), -1);
    assert_int_equal(mk_http_parse_retry_after("5s", 0), -1);
    assert_int_equal(mk_http_parse_retry_after("1.5", 0), -1);
    assert_int_equal(mk_http_parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", 0), -1);
    assert_int_equal(mk_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 PST", 0), -1);
    long huge = mk_http_parse_retry_after("99999999999999999999999", 0);
    assert_true(huge >= 100000000L * 1000L);
    struct mk_config cfg;
    test_config(&cfg, "https://api.test");
    assert_int_equal(mk_http_backoff_ms(&cfg, 1, huge, 0, 5000), -1);
}

/* ---- scripted transport ---- */

struct step {
    mk_status rc;         /* MK_OK: answer; else a transport failure */
    const char *code;     /* err->code for failures: "connect", "timeout" or "" */
    long status;
    long retry_after_ms;
    const char *body;
};

struct script {
    const struct step *steps;
    size_t n;
    size_t calls;
    long slept_ms[16];
    size_t sleeps;
    char methods[16][8];
};

static mk_status scripted(void *ctx, const struct mk_http_request *req,
                          struct mk_http_response *resp, mk_error *err)
{
    struct script *s = ctx;
    const struct step *st = &s->steps[s->calls < s->n ? s->calls : s->n - 1];
    if (s->calls < 16)
        snprintf(s->methods[s->calls], sizeof(s->methods[0]), "%s", req->method);
    s->calls++;
    if (st->rc != MK_OK) {
        snprintf(err->code, sizeof(err->code), "%s", st->code ? st->code : "");
        return mk_error_set(err, st->rc, "Connection refused");
    }
    resp->status = st->status;
    resp->body = strdup(st->body ? st->body : "");
    resp->body_len = strlen(resp->body);
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
    resp->retry_after_ms = st->retry_after_ms;
    return MK_OK;
}

static void fake_sleep(void *ctx, long ms)
{
    struct script *s = ctx;
    if (s->sleeps < 16)
        s->slept_ms[s->sleeps] = ms;
    s->sleeps++;
}

static mk_http *scripted_client(struct mk_config *cfg, struct script *s)
{
    mk_http *http = NULL;
    mk_error err;
    assert_int_equal(mk_http_new(cfg, TOKEN, &http, &err), MK_OK);
    mk_http_set_transport(http, scripted, s);
    mk_http_set_sleep(http, fake_sleep, s);
    return http;
}

static mk_status run_script(const char *method, const struct step *steps, size_t n,
                            struct script *s, struct mk_http_response *resp, mk_error *err)
{
    struct mk_config cfg;
    test_config(&cfg, "https://api.test");
    memset(s, 0, sizeof(*s));
    s->steps = steps;
    s->n = n;
    mk_http *http = scripted_client(&cfg, s);
    struct mk_http_request req = { .method = method, .path = "/api/v1/x",
                                   .body = strcmp(method, "GET") && strcmp(method, "DELETE")
                                               ? "{}" : NULL };
    mk_error_clear(err);
    mk_status rc = mk_http_do(http, &req, resp, err);
    mk_http_free(http);
    return rc;
}

#define ANSWER(st) { MK_OK, NULL, st, -1, "{}" }

static void test_retry_503_503_200(void **state)
{
    const struct step steps[] = { ANSWER(503), ANSWER(503), ANSWER(200) };
    struct script s;
    struct mk_http_response resp;
    mk_error err;
    assert_int_equal(run_script("GET", steps, 3, &s, &resp, &err), MK_OK);
    assert_int_equal(s.calls, 3);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{}");
    assert_int_equal(s.sleeps, 2);
    assert_true(s.slept_ms[0] >= 100 && s.slept_ms[0] <= 200);
    assert_true(s.slept_ms[1] >= 200 && s.slept_ms[1] <= 400);
    mk_http_response_clear(&resp);
}

static void test_retry_after_honoured(void **state)
{
    const struct step steps[] = { { MK_OK, NULL, 429, 1500, "{}" }, ANSWER(200) };
    struct script s;
    struct mk_http_response resp;
    mk_error err;
    assert_int_equal(run_script("GET", steps, 2, &s, &resp, &err), MK_OK);
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.slept_ms[0], 1500);
    assert_int_equal(resp.status, 200);
    mk_http_response_clear(&resp);
}

static void test_retry_after_beyond_budget_returns_answer(void **state)
{
    const struct step steps[] = { { MK_OK, NULL, 429, 60000, "{\"x\":1}" }, ANSWER(200) };
    struct script s;
    struct mk_http_response resp;
    mk_error err;
    assert_int_equal(run_script("GET", steps, 2, &s, &resp, &err), MK_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.sleeps, 0);
    assert_int_equal(resp.status, 429);
    mk_http_response_clear(&resp);
}

static void test_no_retry_of_other_4xx(void **state)
{
    const long statuses[] = { 400, 401, 403, 404, 409, 500 };
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        const struct step steps[] = { ANSWER(statuses[i]), ANSWER(200) };
        struct script s;
        struct mk_http_response resp;
        mk_error err;
        assert_int_equal(run_script("PATCH", steps, 2, &s, &resp, &err), MK_OK);
        assert_int_equal(s.calls, 1);
        assert_int_equal(resp.status, statuses[i]);
        mk_http_response_clear(&resp);
    }
}

static void test_retries_spent_returns_last_answer(void **state)
{
    const struct step steps[] = { ANSWER(503) };
    struct script s;
    struct mk_http_response resp;
    mk_error err;
    assert_int_equal(run_script("GET", steps, 1, &s, &resp, &err), MK_OK);
    assert_int_equal(s.calls, 4);
    assert_int_equal(resp.status, 503);
    mk_http_response_clear(&resp);
}

static void test_post_not_retried_after_receive_error(void **state)
{
    const struct step steps[] = { { MK_ERR_UNAVAILABLE, "", 0, -1, NULL }, ANSWER(201) };
    struct script s;
    struct mk_http_response resp;
    mk_error err;
    assert_int_equal(run_script("POST", steps, 2, &s, &resp, &err), MK_ERR_UNAVAILABLE);
    assert_int_equal(s.calls, 1);
    assert_non_null(strstr(err.message, "could not reach https://api.test"));
    assert_non_null(strstr(err.message, "1 attempt in"));
    assert_null(resp.body);
}

static void test_post_retried_after_connect_failure_and_429(void **state)
{
    const struct step a[] = { { MK_ERR_UNAVAILABLE, "connect", 0, -1, NULL }, ANSWER(201) };
    const struct step b[] = { ANSWER(429), ANSWER(201) };
    const struct step c[] = { ANSWER(502), ANSWER(201) };
    struct script s;
    struct mk_http_response resp;
    mk_error err;
    assert_int_equal(run_script("POST", a, 2, &s, &resp, &err), MK_OK);
    assert_int_equal(s.calls, 2);
    assert_int_equal(resp.status, 201);
    mk_http_response_clear(&resp);
    assert_int_equal(run_script("POST", b, 2, &s, &resp, &err), MK_OK);
    assert_int_equal(s.calls, 2);
    assert_int_equal(resp.status, 201);
    mk_http_response_clear(&resp);
    /* A 502 may hide a created invite: not repeated. */
    assert_int_equal(run_script("POST", c, 2, &s, &resp, &err), MK_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(resp.status, 502);
    mk_http_response_clear(&resp);
}

static void test_get_transport_errors_retried_then_unavailable(void **state)
{
    const struct step steps[] = { { MK_ERR_UNAVAILABLE, "", 0, -1, NULL } };
    struct script s;
    struct mk_http_response resp;
    mk_error err;
    assert_int_equal(run_script("GET", steps, 1, &s, &resp, &err), MK_ERR_UNAVAILABLE);
    assert_int_equal(s.calls, 4);
    assert_int_equal(err.status, MK_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.message, "could not reach https://api.test: Connection refused"));
    assert_non_null(strstr(err.message, "(4 attempts in"));
    assert_null(strstr(err.message, TOKEN));
}

static void test_budget_spent(void **state)
{
    struct mk_config cfg;
    struct script s = { 0 };
    const struct step steps[] = { { MK_ERR_UNAVAILABLE, "timeout", 0, -1, NULL } };
    struct mk_http_response resp;
    mk_error err;
    test_config(&cfg, "https://api.test");
    s.steps = steps;
    s.n = 1;
    mk_http *http = scripted_client(&cfg, &s);
    struct mk_http_request req = { .method = "GET", .path = "/api/v1/x" };

    mk_http_set_budget_ms(http, 0);
    assert_int_equal(mk_http_remaining_ms(http), 0);
    long t0 = now_ms();
    assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_ERR_UNAVAILABLE);
    assert_int_equal(s.calls, 0);
    assert_string_equal(err.message, "no answer from https://api.test within the 0.0 s time budget");

    /* Too little left for any retry: one attempt, then a clear refusal. */
    mk_http_set_budget_ms(http, 150);
    assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_ERR_UNAVAILABLE);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.sleeps, 0);
    assert_non_null(strstr(err.message, "within the 0.1 s time budget"));
    assert_true(now_ms() - t0 < 100);
    mk_http_free(http);
}

static void test_bad_request_refused(void **state)
{
    struct mk_config cfg;
    struct script s = { 0 };
    const struct step steps[] = { ANSWER(200) };
    struct mk_http_response resp;
    mk_error err;
    test_config(&cfg, "https://api.test");
    s.steps = steps;
    s.n = 1;
    mk_http *http = scripted_client(&cfg, &s);
    struct mk_http_request req = { .method = "GET", .path = "/a b\r\nX: y" };
    assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_ERR_USAGE);
    req.path = "no-slash";
    assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_ERR_USAGE);
    assert_int_equal(s.calls, 0);
    mk_http_free(http);
}

static void test_new_refuses_bad_input(void **state)
{
    struct mk_config cfg;
    mk_http *http = (mk_http *)&cfg;
    mk_error err;
    test_config(&cfg, "http://example.com");
    assert_int_equal(mk_http_new(&cfg, TOKEN, &http, &err), MK_ERR_USAGE);
    assert_null(http);
    test_config(&cfg, "https://api.test");
    assert_int_equal(mk_http_new(&cfg, "", &http, &err), MK_ERR_USAGE);
    assert_int_equal(mk_http_new(&cfg, "a\r\nX-Evil: 1", &http, &err), MK_ERR_USAGE);
    assert_null(strstr(err.message, "Evil"));
    assert_null(http);
}

/* Routes by path: /ok answers 200, /conflict 409, /down never answers,
 * /flaky 503 once then 200. */
struct many_ctx {
    int flaky_calls;
    int calls;
};

static mk_status many_transport(void *ctx, const struct mk_http_request *req,
                                struct mk_http_response *resp, mk_error *err)
{
    struct many_ctx *m = ctx;
    m->calls++;
    if (strcmp(req->path, "/down") == 0)
        return mk_error_set(err, MK_ERR_UNAVAILABLE, "Connection reset by peer");
    if (strcmp(req->path, "/ok") == 0)
        resp->status = 200;
    else if (strcmp(req->path, "/conflict") == 0)
        resp->status = 409;
    else
        resp->status = m->flaky_calls++ == 0 ? 503 : 200;
    resp->body = strdup("{}");
    resp->body_len = 2;
    resp->retry_after_ms = -1;
    return MK_OK;
}

static void noop_sleep(void *ctx, long ms)
{
}

static void test_do_many_mixed(void **state)
{
    struct mk_config cfg;
    struct many_ctx m = { 0 };
    mk_http *http = NULL;
    mk_error err;
    test_config(&cfg, "https://api.test");
    assert_int_equal(mk_http_new(&cfg, TOKEN, &http, &err), MK_OK);
    mk_http_set_transport(http, many_transport, &m);
    mk_http_set_sleep(http, noop_sleep, NULL);
    const struct mk_http_request reqs[] = {
        { "PATCH", "/ok", "{}" }, { "PATCH", "/conflict", "{}" },
        { "PATCH", "/down", "{}" }, { "PATCH", "/flaky", "{}" }, { "PATCH", "bad", NULL },
    };
    struct mk_http_response resps[5];
    mk_status statuses[5];
    mk_error errs[5];
    assert_int_equal(mk_http_do_many(http, reqs, 5, resps, statuses, errs), MK_ERR_UNAVAILABLE);
    assert_int_equal(statuses[0], MK_OK);
    assert_int_equal(resps[0].status, 200);
    assert_int_equal(statuses[1], MK_OK);
    assert_int_equal(resps[1].status, 409);
    assert_int_equal(statuses[2], MK_ERR_UNAVAILABLE);
    assert_non_null(strstr(errs[2].message, "Connection reset by peer"));
    assert_null(resps[2].body);
    assert_int_equal(statuses[3], MK_OK);
    assert_int_equal(resps[3].status, 200);
    assert_int_equal(statuses[4], MK_ERR_USAGE);
    assert_int_equal(m.calls, 1 + 1 + 4 + 2);
    for (int i = 0; i < 5; i++)
        mk_http_response_clear(&resps[i]);
    mk_http_free(http);
}

/* ---- real libcurl against a listener on 127.0.0.1 ---- */

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Which descriptors are open, to tell the ones a test opened. */
static void fd_snapshot(bool open_fds[1024])
{
    memset(open_fds, 0, 1024 * sizeof(bool));
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dirfd(d) && fd >= 0 && fd < 1024)
            open_fds[fd] = true;
    }
    closedir(d);
}

/* Every descriptor opened since the snapshot is close-on-exec. */
static void assert_new_fds_cloexec(const bool before[1024])
{
    bool now[1024];
    fd_snapshot(now);
    for (int fd = 0; fd < 1024; fd++) {
        if (!now[fd] || before[fd])
            continue;
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC)) {
            char link[256] = "", p[64];
            snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
            ssize_t l = readlink(p, link, sizeof(link) - 1);
            link[l > 0 ? l : 0] = 0;
            fail_msg("descriptor %d (%s) is not close-on-exec", fd, link);
        }
    }
}

enum server_mode { SERVE_NEVER_ANSWER, SERVE_CANNED, SERVE_CANNED_CLOSE };

struct server {
    int listen_fd;
    int port;
    int stop_pipe[2];
    pthread_t thread;
    enum server_mode mode;
    const char *response; /* full HTTP answer */
    int accepts;
    int requests;
    char first_request[4096];
    pthread_mutex_t lock;
};

struct server_client {
    int fd;
    char buf[8192];
    size_t len;
};

/* Length of one complete request at the start of buf, or 0. */
static size_t request_complete(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4;
    size_t body = 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl && cl < end)
        body = strtoul(cl + 17, NULL, 10);
    return len >= head + body ? head + body : 0;
}

static void *server_main(void *arg)
{
    struct server *srv = arg;
    struct server_client clients[16];
    size_t nclients = 0;
    for (;;) {
        struct pollfd pfds[18];
        pfds[0] = (struct pollfd){ .fd = srv->stop_pipe[0], .events = POLLIN };
        pfds[1] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
        for (size_t i = 0; i < nclients; i++)
            pfds[2 + i] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
        if (poll(pfds, 2 + nclients, 1000) < 0 && errno != EINTR)
            break;
        if (pfds[0].revents)
            break;
        if ((pfds[1].revents & POLLIN) && nclients < 16) {
            int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                clients[nclients].fd = fd;
                clients[nclients].len = 0;
                /* Not polled this round. */
                pfds[2 + nclients] = (struct pollfd){ .fd = fd };
                nclients++;
                pthread_mutex_lock(&srv->lock);
                srv->accepts++;
                pthread_mutex_unlock(&srv->lock);
            }
        }
        for (size_t i = 0; i < nclients; i++) {
            struct server_client *c = &clients[i];
            if (!(pfds[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
            bool drop = n <= 0;
            if (n > 0) {
                c->len += (size_t)n;
                c->buf[c->len] = '\0';
                size_t used;
                while (srv->mode != SERVE_NEVER_ANSWER && (used = request_complete(c->buf, c->len))) {
                    pthread_mutex_lock(&srv->lock);
                    if (srv->requests++ == 0)
                        snprintf(srv->first_request, sizeof(srv->first_request), "%.*s",
                                 (int)used, c->buf);
                    pthread_mutex_unlock(&srv->lock);
                    size_t rlen = strlen(srv->response);
                    if (write(c->fd, srv->response, rlen) != (ssize_t)rlen)
                        drop = true;
                    memmove(c->buf, c->buf + used, c->len - used);
                    c->len -= used;
                    if (srv->mode == SERVE_CANNED_CLOSE)
                        drop = true;
                }
            }
            if (drop) {
                close(c->fd);
                clients[i] = clients[--nclients];
                pfds[2 + i] = pfds[2 + nclients];
                i--;
            }
        }
    }
    for (size_t i = 0; i < nclients; i++)
        close(clients[i].fd);
    return NULL;
}

static void server_start(struct server *srv, enum server_mode mode, const char *response)
{
    memset(srv, 0, sizeof(*srv));
    srv->mode = mode;
    srv->response = response;
    pthread_mutex_init(&srv->lock, NULL);
    srv->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(srv->listen_fd >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(srv->listen_fd, 16), 0);
    socklen_t alen = sizeof(addr);
    assert_int_equal(getsockname(srv->listen_fd, (struct sockaddr *)&addr, &alen), 0);
    srv->port = ntohs(addr.sin_port);
    assert_int_equal(pipe2(srv->stop_pipe, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&srv->thread, NULL, server_main, srv), 0);
}

static void server_stop(struct server *srv)
{
    assert_int_equal(write(srv->stop_pipe[1], "x", 1), 1);
    pthread_join(srv->thread, NULL);
    close(srv->stop_pipe[0]);
    close(srv->stop_pipe[1]);
    close(srv->listen_fd);
    pthread_mutex_destroy(&srv->lock);
}

static void test_curl_never_answering_server_stops_at_budget(void **state)
{
    struct server srv;
    struct mk_config cfg;
    char url[64];
    mk_http *http = NULL;
    mk_error err;
    struct mk_http_response resp;
    int fds_before = count_fds();

    server_start(&srv, SERVE_NEVER_ANSWER, NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    test_config(&cfg, url);
    cfg.budget_ms = 1000;
    assert_int_equal(mk_http_new(&cfg, TOKEN, &http, &err), MK_OK);
    struct mk_http_request req = { .method = "GET", .path = "/api/v1/user/organizations" };
    long t0 = now_ms();
    assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_ERR_UNAVAILABLE);
    long took = now_ms() - t0;
    /* valgrind slows curl's own timer handling down. */
    const char *preload = getenv("LD_PRELOAD");
    long slack = preload && strstr(preload, "vgpreload") ? 800 : 200;
    assert_true(took >= 900);
    assert_true(took <= 1000 + slack);
    char want[128];
    snprintf(want, sizeof(want), "no answer from %s within the 1.0 s time budget", url);
    assert_string_equal(err.message, want);
    assert_null(resp.body);
    mk_http_free(http);
    server_stop(&srv);
    assert_int_equal(count_fds(), fds_before);
}

static const char CANNED_200[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
    "Retry-After: 7\r\nContent-Length: 12\r\n\r\n{\"value\":[]}";

static void test_curl_canned_answer_and_headers(void **state)
{
    struct server srv;
    struct mk_config cfg;
    char url[64];
    mk_http *http = NULL;
    mk_error err;
    struct mk_http_response resp;
    int fds_before = count_fds();
    bool open_before[1024];
    fd_snapshot(open_before);

    server_start(&srv, SERVE_CANNED, CANNED_200);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
    test_config(&cfg, url);
    assert_int_equal(mk_http_new(&cfg, TOKEN, &http, &err), MK_OK);
    struct mk_http_request req = { .method = "GET", .path = "/api/v1/user/organizations?$top=100" };
    assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body, "{\"value\":[]}");
    assert_int_equal(resp.body_len, 12);
    assert_string_equal(resp.content_type, "application/json; charset=utf-8");
    assert_int_equal(resp.retry_after_ms, 7000);
    mk_http_response_clear(&resp);

    pthread_mutex_lock(&srv.lock);
    const char *r = srv.first_request;
    assert_true(strncmp(r, "GET /api/v1/user/organizations?$top=100 HTTP/1.1\r\n", 50) == 0);
    assert_non_null(strstr(r, "\r\nAuthorization: Bearer tok-SECRET-123\r\n"));
    assert_non_null(strstr(r, "\r\nAccept: application/json\r\n"));
    assert_non_null(strstr(r, "\r\nUser-Agent: mkio-orgs/0.1\r\n"));
    assert_null(strstr(r, "Content-Type"));
    pthread_mutex_unlock(&srv.lock);

    /* A second request and a PATCH reuse the connection. */
    struct mk_http_request patch = { .method = "PATCH", .path = "/api/v1/user/organizations/a",
                                     .body = "{\"spec\":{}}" };
    assert_int_equal(mk_http_do(http, &patch, &resp, &err), MK_OK);
    mk_http_response_clear(&resp);
    assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_OK);
    mk_http_response_clear(&resp);
    pthread_mutex_lock(&srv.lock);
    assert_int_equal(srv.requests, 3);
    assert_int_equal(srv.accepts, 1);
    pthread_mutex_unlock(&srv.lock);

    /* do_many reuses the connection too. */
    struct mk_http_response one;
    mk_status one_status;
    assert_int_equal(mk_http_do_many(http, &req, 1, &one, &one_status, NULL), MK_OK);
    assert_int_equal(one.status, 200);
    mk_http_response_clear(&one);
    pthread_mutex_lock(&srv.lock);
    assert_int_equal(srv.requests, 4);
    assert_int_equal(srv.accepts, 1);
    pthread_mutex_unlock(&srv.lock);

    /* do_many over the real multi path. */
    const struct mk_http_request reqs[3] = {
        { "PATCH", "/api/v1/user/organizations/a", "{}" },
        { "PATCH", "/api/v1/user/organizations/b", "{}" },
        { "DELETE", "/api/v1/user/organizations/c", NULL },
    };
    struct mk_http_response resps[3];
    mk_status statuses[3];
    assert_int_equal(mk_http_do_many(http, reqs, 3, resps, statuses, NULL), MK_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(statuses[i], MK_OK);
        assert_int_equal(resps[i].status, 200);
        assert_string_equal(resps[i].body, "{\"value\":[]}");
        mk_http_response_clear(&resps[i]);
    }
    pthread_mutex_lock(&srv.lock);
    assert_int_equal(srv.requests, 7);
    pthread_mutex_unlock(&srv.lock);
    assert_new_fds_cloexec(open_before);

    mk_http_free(http);
    server_stop(&srv);
    assert_int_equal(count_fds(), fds_before);
}

static void test_curl_size_cap(void **state)
{
    static char big_len[4096], big_close[4096];
    char body[2001];
    memset(body, 'x', 2000);
    body[2000] = '\0';
    snprintf(big_len, sizeof(big_len),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n%s", body);
    snprintf(big_close, sizeof(big_close),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n%s", body);
    const char *answers[] = { big_len, big_close };
    const enum server_mode modes[] = { SERVE_CANNED, SERVE_CANNED_CLOSE };
    int fds_before = count_fds();
    for (int i = 0; i < 2; i++) {
        struct server srv;
        struct mk_config cfg;
        char url[64];
        mk_http *http = NULL;
        mk_error err;
        struct mk_http_response resp;
        server_start(&srv, modes[i], answers[i]);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
        test_config(&cfg, url);
        cfg.max_response_bytes = 1000;
        assert_int_equal(mk_http_new(&cfg, TOKEN, &http, &err), MK_OK);
        struct mk_http_request req = { .method = "GET", .path = "/x" };
        assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_ERR_PROTOCOL);
        assert_string_equal(err.message, "the answer is larger than max_response_size (1000 bytes)");
        assert_null(resp.body);
        mk_http_free(http);
        server_stop(&srv);
    }
    assert_int_equal(count_fds(), fds_before);
}

static void test_curl_connection_refused(void **state)
{
    struct mk_config cfg;
    char url[64];
    mk_http *http = NULL;
    mk_error err;
    struct mk_http_response resp;
    struct script s = { 0 };
    int fds_before = count_fds();

    /* A port that was just free: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(addr.sin_port));
    test_config(&cfg, url);
    assert_int_equal(mk_http_new(&cfg, TOKEN, &http, &err), MK_OK);
    mk_http_set_sleep(http, fake_sleep, &s);
    struct mk_http_request req = { .method = "POST", .path = "/x", .body = "{}" };
    assert_int_equal(mk_http_do(http, &req, &resp, &err), MK_ERR_UNAVAILABLE);
    char want[128];
    snprintf(want, sizeof(want), "could not reach %s: ", url);
    assert_true(strncmp(err.message, want, strlen(want)) == 0);
    assert_non_null(strstr(err.message, "(4 attempts in"));
    assert_int_equal(s.sleeps, 3);
    mk_http_free(http);
    assert_int_equal(count_fds(), fds_before);
}

/* One GET through a fresh client; which of the listeners got it tells
 * whether a proxy was used. */
static void proxy_case_get(const char *url, const char *proxy, bool allow_env)
{
    struct mk_config cfg;
    mk_http *http = NULL;
    mk_error err;
    struct mk_http_response resp;
    test_config(&cfg, url);
    cfg.proxy = (char *)proxy;
    assert_int_equal(mk_http_new(&cfg, TOKEN, &http, &err), MK_OK);
    if (allow_env)
        mk_http_allow_env_proxy(http, true);
    struct mk_http_request req = { .method = "GET", .path = "/x" };
    if (mk_http_do(http, &req, &resp, &err) != MK_OK)
        fail_msg("request failed: %s", err.message);
    assert_int_equal(resp.status, 200);
    mk_http_response_clear(&resp);
    mk_http_free(http);
}

static int server_requests(struct server *srv)
{
    pthread_mutex_lock(&srv->lock);
    int n = srv->requests;
    pthread_mutex_unlock(&srv->lock);
    return n;
}

/* The environment's proxy variables count only for a client that opted in
 * (mk_http_allow_env_proxy); otherwise the configured proxy or none, and an
 * environment's no_proxy does not steer around the configured one. */
static void test_curl_proxy_from_environment_only_when_allowed(void **state)
{
    struct server api, env_proxy, cfg_proxy;
    char url[64], env_url[64], cfg_url[64], want[128];

    server_start(&api, SERVE_CANNED, CANNED_200);
    server_start(&env_proxy, SERVE_CANNED, CANNED_200);
    server_start(&cfg_proxy, SERVE_CANNED, CANNED_200);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", api.port);
    snprintf(env_url, sizeof(env_url), "http://127.0.0.1:%d", env_proxy.port);
    snprintf(cfg_url, sizeof(cfg_url), "http://127.0.0.1:%d", cfg_proxy.port);
    setenv("http_proxy", env_url, 1);
    setenv("ALL_PROXY", env_url, 1);
    setenv("all_proxy", env_url, 1);

    /* Not allowed: straight to the API. */
    proxy_case_get(url, NULL, false);
    assert_int_equal(server_requests(&api), 1);
    assert_int_equal(server_requests(&env_proxy), 0);

    /* Allowed: the environment's proxy gets the request, in absolute form. */
    proxy_case_get(url, NULL, true);
    assert_int_equal(server_requests(&api), 1);
    assert_int_equal(server_requests(&env_proxy), 1);
    snprintf(want, sizeof(want), "GET %s/x HTTP/1.1\r\n", url);
    pthread_mutex_lock(&env_proxy.lock);
    assert_true(strncmp(env_proxy.first_request, want, strlen(want)) == 0);
    pthread_mutex_unlock(&env_proxy.lock);

    /* Allowed, and no_proxy names the host: straight to the API. */
    setenv("no_proxy", "127.0.0.1", 1);
    proxy_case_get(url, NULL, true);
    assert_int_equal(server_requests(&api), 2);
    assert_int_equal(server_requests(&env_proxy), 1);

    /* Configured proxy, not allowed: that proxy, whatever http_proxy and
     * no_proxy say. */
    setenv("NO_PROXY", "127.0.0.1", 1);
    proxy_case_get(url, cfg_url, false);
    assert_int_equal(server_requests(&cfg_proxy), 1);
    assert_int_equal(server_requests(&api), 2);
    assert_int_equal(server_requests(&env_proxy), 1);

    /* An empty configured proxy is no proxy. */
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    proxy_case_get(url, "", false);
    assert_int_equal(server_requests(&api), 3);
    assert_int_equal(server_requests(&env_proxy), 1);

    unsetenv("http_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("all_proxy");
    server_stop(&api);
    server_stop(&env_proxy);
    server_stop(&cfg_proxy);
}

static void test_scrub_environment(void **state)
{
    static const char *const gone[] = {
        "SSLKEYLOGFILE", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ALL_PROXY",
        "all_proxy", "NO_PROXY", "no_proxy", "ftp_proxy", "Https_Proxy", "socks_proxy",
        "CURL_CA_BUNDLE", "CURL_HOME", "CURL_SSL_BACKEND", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES", "RES_OPTIONS", "LOCALDOMAIN",
        "HOSTALIASES",
    };
    static const char *const kept[] = { "MKIO_TOKEN", "PROXY", "MY_PROXY_X", "_PROXY_", "HOME" };
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_int_equal(setenv(gone[i], "/tmp/attacker", 1), 0);
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        assert_int_equal(setenv(kept[i], "kept", 1), 0);
    /* A duplicate entry, as execve allows: both must go. */
    static char dup1[] = "https_proxy=http://127.0.0.1:1", dup2[] = "https_proxy=http://127.0.0.1:2";
    assert_int_equal(putenv(dup1), 0);
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **copy = calloc(n + 2, sizeof(*copy));
    assert_non_null(copy);
    memcpy(copy, environ, n * sizeof(*copy));
    copy[n] = dup2;
    char **saved = environ;
    environ = copy;

    mk_http_scrub_environment();

    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        if (getenv(gone[i]))
            fail_msg("%s is still set", gone[i]);
    for (char **e = environ; *e; e++)
        assert_null(strcasestr(*e, "_proxy="));
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        assert_non_null(getenv(kept[i]));
        unsetenv(kept[i]);
    }
    assert_non_null(getenv("PATH"));
    /* glibc may have moved environ to a block of its own; the copy is ours. */
    if (environ == copy) {
        environ = saved;
        for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
            unsetenv(gone[i]);
    }
    free(copy);
}

int main(void)
{
    /* A proxy from the environment must not catch the loopback tests. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_retryable),
        cmocka_unit_test(test_backoff_growth_and_jitter),
        cmocka_unit_test(test_backoff_retry_after_and_limits),
        cmocka_unit_test(test_parse_retry_after),
        cmocka_unit_test(test_retry_503_503_200),
        cmocka_unit_test(test_retry_after_honoured),
        cmocka_unit_test(test_retry_after_beyond_budget_returns_answer),
        cmocka_unit_test(test_no_retry_of_other_4xx),
        cmocka_unit_test(test_retries_spent_returns_last_answer),
        cmocka_unit_test(test_post_not_retried_after_receive_error),
        cmocka_unit_test(test_post_retried_after_connect_failure_and_429),
        cmocka_unit_test(test_get_transport_errors_retried_then_unavailable),
        cmocka_unit_test(test_budget_spent),
        cmocka_unit_test(test_bad_request_refused),
        cmocka_unit_test(test_new_refuses_bad_input),
        cmocka_unit_test(test_do_many_mixed),
        cmocka_unit_test(test_curl_never_answering_server_stops_at_budget),
        cmocka_unit_test(test_curl_canned_answer_and_headers),
        cmocka_unit_test(test_curl_size_cap),
        cmocka_unit_test(test_curl_connection_refused),
        cmocka_unit_test(test_curl_proxy_from_environment_only_when_allowed),
        cmocka_unit_test(test_scrub_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
