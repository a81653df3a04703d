/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_nss_stress.c: lookups from several threads while the file
 * is replaced 1,000 times, alternating two contents. Every answer must be
 * exactly one of the two contents: never a mix, a torn read or a crash.
 *
 *   build/tests/test_nss_stress [MODULE]   (default $MKIO_NSS_SO, then
 *                                           build/tests/libnss_mkio_test.so.2,
 *                                           the module's test build, which
 *                                           takes its file from MKIO_GROUP_FILE) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <signal.h>

#include "groupfile/writer.h"
#include "testutil.h"

typedef enum nss_status (*getgrnam_fn)(const char *, struct group *, char *, size_t, int *);
typedef enum nss_status (*getgrgid_fn)(gid_t, struct group *, char *, size_t, int *);
typedef enum nss_status (*initgroups_fn)(const char *, gid_t, long *, long *, gid_t **, long,
                                         int *);

enum { GROUPS = 40, THREADS = 4, REPLACEMENTS = 1000 };
#define GID_A 2000300001u
#define GID_B 2000400001u

static const char *module_path = "build/tests/libnss_mkio_test.so.2";
static getgrnam_fn mod_getgrnam;
static getgrgid_fn mod_getgrgid;
static initgroups_fn mod_initgroups;

static char names[GROUPS][32];
static const char *const members_a[] = {"alice", "bob"};
static const char *const members_b[] = {"carol"};
static struct mk_group_entry content_a[GROUPS], content_b[GROUPS];
static atomic_int stop;
static atomic_long lookups;
static atomic_int failures;
static atomic_long seen_a, seen_b;

/* Content A: gid GID_A + i, members alice and bob (even groups) or bob.
 * Content B: gid GID_B + i, members carol and alice (every third group) or
 * carol. */
static const char *const carol_alice[] = {"carol", "alice"};

static void make_contents(void)
{
    for (int i = 0; i < GROUPS; i++) {
        snprintf(names[i], sizeof(names[i]), "mk-stress-%d", i);
        content_a[i].name = names[i];
        content_a[i].gid = GID_A + (gid_t)i;
        content_a[i].members = i % 2 == 0 ? members_a : members_a + 1;
        content_a[i].member_count = i % 2 == 0 ? 2 : 1;
        content_b[i].name = names[i];
        content_b[i].gid = GID_B + (gid_t)i;
        content_b[i].members = i % 3 == 0 ? carol_alice : members_b;
        content_b[i].member_count = i % 3 == 0 ? 2 : 1;
    }
}

static int same_entry(const struct group *gr, const struct mk_group_entry *e)
{
    size_t i;

    if (strcmp(gr->gr_name, e->name) != 0 || gr->gr_gid != e->gid)
        return 0;
    for (i = 0; i < e->member_count; i++)
        if (!gr->gr_mem[i] || strcmp(gr->gr_mem[i], e->members[i]) != 0)
            return 0;
    return gr->gr_mem[i] == NULL;
}

/* alice's gids in a content, in file order. */
static int alice_matches(const gid_t *gids, long n, const struct mk_group_entry *c)
{
    long k = 0;

    for (int i = 0; i < GROUPS; i++)
        for (size_t m = 0; m < c[i].member_count; m++)
            if (strcmp(c[i].members[m], "alice") == 0) {
                if (k >= n || gids[k] != c[i].gid)
                    return 0;
                k++;
            }
    return k == n;
}

static void report_wrong(const char *what, int i)
{
    fprintf(stderr, "wrong answer: %s (group %d)\n", what, i);
    atomic_fetch_add(&failures, 1);
}

static void *reader_thread(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char buf[512];

    while (!atomic_load(&stop)) {
        int i = (int)(rand_r(&seed) % GROUPS);
        struct group gr;
        int err = 0;
        enum nss_status s;
        long start = 0, size = 2;
        gid_t *gids = malloc(2 * sizeof(gid_t));

        if (!gids) {
            report_wrong("malloc", i);
            break;
        }
        s = mod_getgrnam(names[i], &gr, buf, sizeof(buf), &err);
        if (s == NSS_STATUS_SUCCESS && same_entry(&gr, &content_a[i]))
            atomic_fetch_add(&seen_a, 1);
        else if (s == NSS_STATUS_SUCCESS && same_entry(&gr, &content_b[i]))
            atomic_fetch_add(&seen_b, 1);
        else
            report_wrong("getgrnam_r", i);

        s = mod_getgrgid(GID_A + (gid_t)i, &gr, buf, sizeof(buf), &err);
        if (!(s == NSS_STATUS_NOTFOUND || (s == NSS_STATUS_SUCCESS && same_entry(&gr, &content_a[i]))))
            report_wrong("getgrgid_r A", i);
        s = mod_getgrgid(GID_B + (gid_t)i, &gr, buf, sizeof(buf), &err);
        if (!(s == NSS_STATUS_NOTFOUND || (s == NSS_STATUS_SUCCESS && same_entry(&gr, &content_b[i]))))
            report_wrong("getgrgid_r B", i);

        s = mod_initgroups("alice", 100, &start, &size, &gids, 0, &err);
        if (s != NSS_STATUS_SUCCESS ||
            !(alice_matches(gids, start, content_a) || alice_matches(gids, start, content_b)))
            report_wrong("initgroups_dyn", i);
        free(gids);
        atomic_fetch_add(&lookups, 1);
    }
    return NULL;
}

/* A temporary directory holding groups.db with content A, the module
 * pointed at it and loaded. tmpfs where there is one: 2,000 fsyncs on a
 * disk take seconds. */
static void *setup_module(struct tu_tmpdir *dir, char *path, size_t path_len)
{
    assert_int_equal(tu_tmpdir_make_tmpfs(dir, "test_nss_stress"), 0);
    assert_true((size_t)snprintf(path, path_len, "%s/groups.db", dir->path) < path_len);
    setenv("MKIO_GROUP_FILE", path, 1);
    make_contents();
    assert_int_equal(mk_groupfile_write(path, content_a, GROUPS), 0);

    void *module = dlopen(module_path, RTLD_NOW | RTLD_LOCAL);
    if (!module)
        fprintf(stderr, "cannot load %s: %s\n", module_path, dlerror());
    assert_non_null(module);
    mod_getgrnam = (getgrnam_fn)dlsym(module, "_nss_mkio_getgrnam_r");
    mod_getgrgid = (getgrgid_fn)dlsym(module, "_nss_mkio_getgrgid_r");
    mod_initgroups = (initgroups_fn)dlsym(module, "_nss_mkio_initgroups_dyn");
    assert_non_null(mod_getgrnam);
    assert_non_null(mod_getgrgid);
    assert_non_null(mod_initgroups);
    atomic_store(&stop, 0);
    atomic_store(&failures, 0);
    return module;
}

static void test_replace_under_load(void **state)
{
    struct tu_tmpdir dir;
    char path[PATH_MAX + 16];
    pthread_t threads[THREADS];
    void *module = setup_module(&dir, path, sizeof(path));

    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, reader_thread,
                                        (void *)(uintptr_t)(t + 1)), 0);
    for (int n = 0; n < REPLACEMENTS; n++) {
        int r = mk_groupfile_write(path, n % 2 == 0 ? content_b : content_a, GROUPS);
        if (r != 0) {
            fprintf(stderr, "write %d failed: %s\n", n, strerror(-r));
            atomic_fetch_add(&failures, 1);
        }
        /* The first replacement (content B) waits until a reader has seen
         * it, however the scheduler ran the threads: on a busy machine the
         * writer can make all its replacements before a reader runs, and the
         * readers would then only ever see the last content (A). A reader
         * that never notices a replacement still fails below, after this
         * wait's bound (30 s, which only such a bug reaches). */
        for (int w = 0; n == 0 && atomic_load(&seen_b) == 0 && w < 300000; w++)
            usleep(100);
    }
    /* Let the readers see the last content as well. */
    usleep(20000);
    atomic_store(&stop, 1);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);

    fprintf(stderr, "%ld lookup rounds during %d replacements (%ld A, %ld B)\n",
            atomic_load(&lookups), REPLACEMENTS, atomic_load(&seen_a), atomic_load(&seen_b));
    dlclose(module);
    tu_tmpdir_remove(&dir);
    assert_int_equal(atomic_load(&failures), 0);
    assert_true(atomic_load(&seen_a) > 0);
    assert_true(atomic_load(&seen_b) > 0);
}

/* A multithreaded program that forks while another thread is inside a
 * lookup: the child's own lookups must still answer, never hang on a lock
 * the vanished thread held. */
static void test_fork_during_lookups(void **state)
{
    struct tu_tmpdir dir;
    char path[PATH_MAX + 16];
    pthread_t threads[THREADS];
    int forks = 300, hung = 0, wrong = 0;
    void *module = setup_module(&dir, path, sizeof(path));

    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, reader_thread,
                                        (void *)(uintptr_t)(t + 7)), 0);
    for (int n = 0; n < forks; n++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            struct group gr;
            char buf[512];
            int e = 0;
            enum nss_status s = mod_getgrnam(names[n % GROUPS], &gr, buf, sizeof(buf), &e);
            if (s != NSS_STATUS_SUCCESS || !same_entry(&gr, &content_a[n % GROUPS]))
                tu_child_exit(1);
            /* Success by exec: a tool like valgrind would otherwise count
             * the other threads' memory, gone with them, as leaked here. */
            execl("/bin/true", "true", (char *)NULL);
            tu_child_exit(2);
        }
        int status = 0;
        if (tu_wait_or_kill(pid, 3000, &status) != 0)
            hung++;
        else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            wrong++;
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    dlclose(module);
    tu_tmpdir_remove(&dir);
    fprintf(stderr, "%d forks during lookups: %d hung, %d wrong\n", forks, hung, wrong);
    assert_int_equal(hung, 0);
    assert_int_equal(wrong, 0);
    assert_int_equal(atomic_load(&failures), 0);
}

/* ---- fork() from a signal handler that interrupted a lookup ---- */

enum { SIGNAL_FORKS = 200 };
static volatile sig_atomic_t forks_done;
static volatile sig_atomic_t fork_failures;
static pid_t fork_children[SIGNAL_FORKS];

/* Forks (async-signal-safe) in the middle of whatever the main thread is
 * doing, which is mostly a lookup holding the module's lock; the child
 * looks up once and leaves with its answer as its status. */
static void fork_on_signal(int sig)
{
    pid_t pid;

    if (forks_done >= SIGNAL_FORKS)
        return;
    pid = fork();
    if (pid == 0) {
        struct group gr;
        char buf[512];
        int e = 0;
        alarm(5); /* a hang in the child ends it */
        /* tu_child_exit makes only system calls: safe in a signal handler. */
        tu_child_exit(mod_getgrnam(names[3], &gr, buf, sizeof(buf), &e) == NSS_STATUS_SUCCESS &&
                              same_entry(&gr, &content_a[3])
                          ? 0
                          : 1);
    }
    if (pid < 0)
        fork_failures++;
    else
        fork_children[forks_done++] = pid;
}

static void *signal_sender(void *arg)
{
    pthread_t target = *(pthread_t *)arg;

    while (!atomic_load(&stop)) {
        pthread_kill(target, SIGUSR1);
        usleep(500);
    }
    return NULL;
}

/* The scenario, in its own process so that a deadlock is a failure, not a
 * hang: the main thread loops over lookups (no malloc: fork() itself takes
 * malloc's locks) while another thread signals it; the handler forks. */
static void signal_fork_scenario(void)
{
    struct sigaction sa = {.sa_handler = fork_on_signal};
    pthread_t self = pthread_self(), sender;
    int bad = 0;

    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL) != 0 ||
        pthread_create(&sender, NULL, signal_sender, &self) != 0)
        tu_child_exit(10);
    while (forks_done < SIGNAL_FORKS) {
        struct group gr;
        char buf[512];
        int e = 0;
        if (mod_getgrnam(names[7], &gr, buf, sizeof(buf), &e) != NSS_STATUS_SUCCESS ||
            !same_entry(&gr, &content_a[7]))
            bad++;
    }
    atomic_store(&stop, 1);
    pthread_join(sender, NULL);
    for (int i = 0; i < forks_done; i++) {
        int status;
        if (waitpid(fork_children[i], &status, 0) != fork_children[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            bad++;
    }
    tu_child_exit(bad || fork_failures ? 11 : 0);
}

static void test_fork_from_signal_handler(void **state)
{
    struct tu_tmpdir dir;
    char path[PATH_MAX + 16];
    void *module = setup_module(&dir, path, sizeof(path));
    int status = 0, hung;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        signal_fork_scenario();
    hung = tu_wait_or_kill(pid, 30000, &status) != 0;
    dlclose(module);
    tu_tmpdir_remove(&dir);
    if (hung)
        fail_msg("a fork from a signal handler during a lookup deadlocked");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_under_load),
        cmocka_unit_test(test_fork_during_lookups),
        cmocka_unit_test(test_fork_from_signal_handler),
    };
    const char *env = getenv("MKIO_NSS_SO");

    if (argc > 1)
        module_path = argv[1];
    else if (env && *env)
        module_path = env;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
