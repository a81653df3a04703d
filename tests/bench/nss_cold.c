/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/bench/nss_cold.c: whole-process time of a program, for the cold-start
 * case of tests/bench/nss-bench.
 *
 *   nss_cold [--runs N] PROGRAM [ARG...]
 *
 * Starts PROGRAM (posix_spawn, the environment as is) N times (default 400)
 * after 10 untimed warm-up runs, waits for each, and prints
 *   cold <median µs per process> <runs>
 * Every run must exit 0 (the lookup found its group), so a broken source
 * never passes as a fast one. Exit 0, or 1 with a message. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One run: its wall time in *us. Returns 0, or -1 with a message. */
static int run_once(char **argv, double *us)
{
    double t0 = now_us();
    pid_t pid;
    int status, r = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);

    if (r != 0) {
        fprintf(stderr, "nss_cold: %s: %s\n", argv[0], strerror(r));
        return -1;
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("nss_cold: waitpid");
            return -1;
        }
    *us = now_us() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "nss_cold: %s did not exit 0 (status %d)\n", argv[0], status);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long runs = 400;
    int i = 1;
    double *t, us;

    if (argc > 2 && strcmp(argv[1], "--runs") == 0) {
        runs = atol(argv[2]);
        i = 3;
    }
    if (i >= argc || runs < 1) {
        fprintf(stderr, "usage: nss_cold [--runs N] PROGRAM [ARG...]\n");
        return 2;
    }
    t = calloc((size_t)runs, sizeof(*t));
    if (!t)
        return 1;
    for (int k = 0; k < 10; k++)
        if (run_once(argv + i, &us) < 0)
            return 1;
    for (long k = 0; k < runs; k++)
        if (run_once(argv + i, &t[k]) < 0)
            return 1;
    qsort(t, (size_t)runs, sizeof(*t), compare_double);
    printf("cold %.1f %ld\n", t[runs / 2], runs);
    free(t);
    return 0;
}
