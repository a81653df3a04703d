/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/tools/http-fork-exec.c: whether a child that another thread forks
 * and execs while this process runs MK.IO requests inherits a descriptor of
 * ours (common/net/http.h, "Descriptors and exec").
 *
 *   http-fork-exec [--control] LOOPBACK_CONF DNS_CONF SECONDS
 *   http-fork-exec --list-fds             (what the children run)
 *
 * A second thread runs requests for SECONDS, and on until the main thread
 * has forked FORK_EXEC_ENOUGH times in each phase (30 s more at most), in
 * rounds: 5 times 4 requests at once (mk_http_do_many) to LOOPBACK_CONF's
 * base_url, then one request to
 * DNS_CONF's, a name nobody answers for, so that libcurl's resolver thread
 * waits for DNS for the whole budget of that request (and on after the
 * client is freed). The token is MKIO_TOKEN. Meanwhile the main thread
 * forks and execs this program with --list-fds, over and over. The child
 * prints every descriptor it holds above 2 (1 is the pipe it reports on),
 * one a line: "leak FD TARGET" for a socket, a pipe or an anonymous inode
 * (eventfd, epoll, timerfd), "file FD TARGET" for anything else.
 *
 * --control runs the same rounds on libcurl directly (its own multi and
 * easy handles, no mk_http): libcurl 7.88 makes its socketpairs without
 * close-on-exec, so there the children must see them, or this program
 * could not see a leak at all.
 *
 * Prints "KEY N" lines (forks, forks_failed, forks_during_loopback,
 * forks_during_dns, forks_with_resolver: forks during a name resolution
 * while this process held 3 sockets or more, that is the multi handle's pair
 * and the resolver's; rounds, answers, leaky_forks), then every distinct
 * line the children printed, with the
 * descriptor number left out. Exit 0 when no child saw a leak, 1 when one
 * did, 2 on a usage or set-up error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "store/config.h"
#include "net/http.h"
#include "net/url.h"

#define FORK_EXEC_MAX_LINES 64
/* Forks each phase must have seen before the requests stop. */
#define FORK_EXEC_ENOUGH 20

struct fork_exec {
    bool control;
    struct mk_config loopback;
    struct mk_config dns;
    const char *token;
    double seconds;
    atomic_bool done;
    atomic_bool in_loopback;
    atomic_bool in_dns;
    atomic_ulong during_loopback;
    atomic_ulong with_resolver;
    unsigned long rounds;
    unsigned long answers;
    char setup_error[1024];
};

static double fork_exec_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child's side: every descriptor above 2 but the directory's own. */
static int fork_exec_list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (!d)
        return 2;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == dirfd(d))
            continue;
        char path[64], target[PATH_MAX];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        bool leak = strncmp(target, "socket:", 7) == 0 || strncmp(target, "pipe:", 5) == 0
                    || strncmp(target, "anon_inode:", 11) == 0;
        printf("%s %d %s\n", leak ? "leak" : "file", fd, target);
    }
    closedir(d);
    return 0;
}

/* How many sockets this process holds now (evidence, not a check). */
static int fork_exec_count_sockets(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int count = 0;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char path[300], target[64];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n > 7 && strncmp(target, "socket:", 7) == 0)
            count++;
    }
    closedir(d);
    return count;
}

/* One round through mk_http: 5 times 4 requests at once to the loopback
 * server, then one to the name that never resolves. */
static void fork_exec_round_mk_http(struct fork_exec *fe)
{
    static const struct mk_http_request reqs[4] = {
        { "GET", "/api/v1/user/organizations", NULL },
        { "GET", "/api/v1/user/organizations?$top=1", NULL },
        { "GET", "/api/v1/user/organizations?$top=2", NULL },
        { "GET", "/api/v1/user/organizations?$top=3", NULL },
    };
    struct mk_http_response resps[4];
    mk_status statuses[4];
    mk_http *http = NULL;
    mk_error err;

    atomic_store(&fe->in_loopback, true);
    for (int round = 0; round < 5; round++) {
        if (mk_http_new(&fe->loopback, fe->token, &http, &err) != MK_OK) {
            snprintf(fe->setup_error, sizeof(fe->setup_error), "%s", err.message);
            break;
        }
        mk_http_do_many(http, reqs, 4, resps, statuses, NULL);
        for (int i = 0; i < 4; i++) {
            if (statuses[i] == MK_OK)
                fe->answers++;
            mk_http_response_clear(&resps[i]);
        }
        mk_http_free(http);
    }
    atomic_store(&fe->in_loopback, false);
    if (fe->setup_error[0])
        return;

    if (mk_http_new(&fe->dns, fe->token, &http, &err) != MK_OK) {
        snprintf(fe->setup_error, sizeof(fe->setup_error), "%s", err.message);
        return;
    }
    atomic_store(&fe->in_dns, true);
    mk_http_do(http, &reqs[0], &resps[0], NULL);
    mk_http_response_clear(&resps[0]);
    mk_http_free(http);
    atomic_store(&fe->in_dns, false);
}

/* The control: the same name resolution on libcurl alone. */
static void fork_exec_round_curl(struct fork_exec *fe)
{
    char url[512];
    int running = 1;
    snprintf(url, sizeof(url), "%s/api/v1/user/organizations", fe->dns.base_url);
    CURLM *multi = curl_multi_init();
    CURL *easy = curl_easy_init();
    if (!multi || !easy) {
        snprintf(fe->setup_error, sizeof(fe->setup_error), "could not set up libcurl");
        goto out;
    }
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)fe->dns.budget_ms);
    atomic_store(&fe->in_dns, true);
    curl_multi_add_handle(multi, easy);
    while (running > 0) {
        curl_multi_perform(multi, &running);
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    curl_multi_remove_handle(multi, easy);
    atomic_store(&fe->in_dns, false);
out:
    if (easy)
        curl_easy_cleanup(easy);
    if (multi)
        curl_multi_cleanup(multi);
}

static void *fork_exec_requests(void *arg)
{
    struct fork_exec *fe = arg;
    double end = fork_exec_now() + fe->seconds;
    for (;;) {
        double now = fork_exec_now();
        bool enough = atomic_load(&fe->with_resolver) >= FORK_EXEC_ENOUGH
                      && (fe->control || atomic_load(&fe->during_loopback) >= FORK_EXEC_ENOUGH);
        if (fe->setup_error[0] || (now >= end && enough) || now >= end + 30)
            break;
        if (fe->control)
            fork_exec_round_curl(fe);
        else
            fork_exec_round_mk_http(fe);
        fe->rounds++;
    }
    atomic_store(&fe->done, true);
    return NULL;
}

struct fork_exec_lines {
    char *line[FORK_EXEC_MAX_LINES];
    size_t count;
};

/* Keeps "KIND TARGET" of a child's line, once. */
static void fork_exec_keep(struct fork_exec_lines *seen, const char *line)
{
    char kind[8], target[PATH_MAX], key[PATH_MAX + 16];
    int fd;
    if (sscanf(line, "%7s %d %4095s", kind, &fd, target) != 3)
        snprintf(key, sizeof(key), "garbled %s", line);
    else
        snprintf(key, sizeof(key), "%s %s", kind, target);
    for (size_t i = 0; i < seen->count; i++)
        if (strcmp(seen->line[i], key) == 0)
            return;
    if (seen->count < FORK_EXEC_MAX_LINES)
        seen->line[seen->count++] = strdup(key);
}

/* Forks and execs `self --list-fds`; returns whether the child saw a leak,
 * or -1 when it could not be run. */
static int fork_exec_child(const char *self, struct fork_exec_lines *seen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        /* dup2 leaves the copy without close-on-exec: the child's fd 1. */
        if (dup2(p[1], 1) < 0)
            _exit(127);
        execl(self, self, "--list-fds", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char buf[16384];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0
                                     || (n < 0 && errno == EINTR)))
        if (n > 0)
            len += (size_t)n;
    buf[len] = '\0';
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    int leak = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        fork_exec_keep(seen, line);
        if (strncmp(line, "leak ", 5) == 0)
            leak = 1;
    }
    return leak;
}

static int fork_exec_load(const char *path, struct mk_config *cfg)
{
    mk_error err;
    if (mk_config_load_with(path, &mk_url_rules, cfg, &err) != MK_OK) {
        fprintf(stderr, "http-fork-exec: %s\n", err.message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct fork_exec fe;
    struct fork_exec_lines seen = { 0 };
    char self[PATH_MAX];
    unsigned long forks = 0, during_dns = 0, leaky = 0, failed = 0;
    int argi = 1, rc = 2;

    if (argc == 2 && strcmp(argv[1], "--list-fds") == 0)
        return fork_exec_list_fds();
    if (argi < argc && strcmp(argv[argi], "--control") == 0) {
        fe.control = true;
        argi++;
    }
    if (argc - argi != 3) {
        fprintf(stderr, "usage: http-fork-exec [--control] LOOPBACK_CONF DNS_CONF SECONDS\n");
        return 2;
    }
    fe.token = getenv("MKIO_TOKEN");
    fe.seconds = atof(argv[argi + 2]);
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (!fe.token || !*fe.token || fe.seconds <= 0 || n <= 0) {
        fprintf(stderr, "http-fork-exec: MKIO_TOKEN and a time in seconds are needed\n");
        return 2;
    }
    self[n] = '\0';
    if (fork_exec_load(argv[argi], &fe.loopback) || fork_exec_load(argv[argi + 1], &fe.dns))
        return 2;

    pthread_t thread;
    if (pthread_create(&thread, NULL, fork_exec_requests, &fe) != 0) {
        fprintf(stderr, "http-fork-exec: cannot start a thread\n");
        return 2;
    }
    while (!atomic_load(&fe.done)) {
        bool dns = atomic_load(&fe.in_dns), loopback = atomic_load(&fe.in_loopback);
        int sockets = dns ? fork_exec_count_sockets() : 0;
        int leak = fork_exec_child(self, &seen);
        if (leak < 0) {
            failed++;
            continue;
        }
        forks++;
        leaky += (unsigned long)leak;
        if (dns && atomic_load(&fe.in_dns)) {
            during_dns++;
            if (sockets >= 3)
                atomic_fetch_add(&fe.with_resolver, 1);
        }
        if (loopback && atomic_load(&fe.in_loopback))
            atomic_fetch_add(&fe.during_loopback, 1);
    }
    pthread_join(thread, NULL);

    if (fe.setup_error[0]) {
        fprintf(stderr, "http-fork-exec: %s\n", fe.setup_error);
        goto out;
    }
    printf("forks %lu\nforks_failed %lu\nforks_during_loopback %lu\nforks_during_dns %lu\n"
           "forks_with_resolver %lu\nrounds %lu\nanswers %lu\nleaky_forks %lu\n",
           forks, failed, atomic_load(&fe.during_loopback), during_dns,
           atomic_load(&fe.with_resolver), fe.rounds, fe.answers, leaky);
    for (size_t i = 0; i < seen.count; i++)
        printf("%s\n", seen.line[i]);
    rc = leaky > 0 ? 1 : 0;
out:
    for (size_t i = 0; i < seen.count; i++)
        free(seen.line[i]);
    mk_config_free(&fe.loopback);
    mk_config_free(&fe.dns);
    return rc;
}
