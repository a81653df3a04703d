/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/tools/store-bench.c: times the membership store's write at scale
 * (issue 8, item 6), through mk_store_set_user as a login calls it.
 *
 *   store-bench N DIR
 *       makes a state directory DIR/state holding N organizations, each
 *       with a group and one member (N users), publishes it once (timed as
 *       "first"), then times the write of one user whose organizations
 *       change each time (a new user joining 5 existing organizations and
 *       one new one, then another set: every write really writes both
 *       files), the median of 7. Prints "first MS", "write MS" and
 *       "unchanged MS" (a refresh that changes nothing).
 */
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RUNS 7

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int make_store(const char *state, unsigned long n)
{
    char path[4200];
    FILE *f;

    if (mkdir(state, 0755) != 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof(path), "%s/store.json", state);
    if (!(f = fopen(path, "w")))
        return -1;
    fprintf(f, "{\"version\": 1, \"retired_gids\": [], \"organizations\": {");
    for (unsigned long i = 0; i < n; i++)
        fprintf(f, "%s\"org-%08lu\": {\"name\": \"Org %lu\", \"group\": \"mk-org-%lu-org%08lu\", "
                "\"gid\": %lu, \"pinned\": false, \"first_seen\": 1}", i ? ", " : "", i, i, i, i,
                2000200001ul + i * 7);
    fprintf(f, "}, \"users\": {");
    for (unsigned long i = 0; i < n; i++)
        fprintf(f, "%s\"user%08lu\": {\"refreshed\": 1, \"orgs\": [\"org-%08lu\"]}",
                i ? ", " : "", i, i);
    fprintf(f, "}}\n");
    return fclose(f);
}

int main(int argc, char **argv)
{
    struct mk_config cfg = { 0 };
    struct mk_store_env env = { 0 };   /* production, but for the group file */
    char state[4096], etc[4096], ids[RUNS + 1][6][32];
    struct mk_membership m[6];
    double t[RUNS], t0;
    unsigned long n;
    mk_error err;
    FILE *f;

    if (argc != 3) {
        fprintf(stderr, "usage: store-bench N DIR\n");
        return 2;
    }
    n = strtoul(argv[1], NULL, 10);
    snprintf(state, sizeof(state), "%s/state", argv[2]);
    snprintf(etc, sizeof(etc), "%s/group", argv[2]);
    if (!(f = fopen(etc, "w")) || fputs("root:x:0:\nusers:x:100:\n", f) < 0 || fclose(f) != 0 ||
        make_store(state, n) != 0) {
        perror("store-bench");
        return 1;
    }
    env.etc_group = etc;
    cfg.state_dir = state;
    cfg.group_prefix = "mk-";
    cfg.gid_min = 2000200001;
    cfg.gid_max = 2100200000;
    cfg.max_stale_ms = 30LL * 86400 * 1000;   /* the default: every compile looks for stale users */

    /* Run r: 5 existing organizations spread over the store, and a new one. */
    for (int r = 0; r <= RUNS; r++) {
        for (int k = 0; k < 5; k++)
            snprintf(ids[r][k], sizeof(ids[r][k]), "org-%08lu",
                     (n / 5 * (unsigned long)k + (unsigned long)r * 13) % n);
        snprintf(ids[r][5], sizeof(ids[r][5]), "new-org-%d", r);
    }

    struct mk_membership first = { "org-00000000", NULL };
    t0 = now_ms();
    if (mk_store_set_user(&cfg, &env, "user00000000", &first, 1, 10000, NULL, &err) != MK_OK)
        goto fail;
    printf("first %.2f\n", now_ms() - t0);

    for (int r = 0; r < RUNS; r++) {
        for (int k = 0; k < 6; k++)
            m[k] = (struct mk_membership){ ids[r][k], "Bench Org" };
        t0 = now_ms();
        if (mk_store_set_user(&cfg, &env, "bench-user", m, 6, 10000, NULL, &err) != MK_OK)
            goto fail;
        t[r] = now_ms() - t0;
    }
    qsort(t, RUNS, sizeof(t[0]), cmp_double);
    printf("write %.2f\n", t[RUNS / 2]);

    for (int r = 0; r < RUNS; r++) {
        t0 = now_ms();
        if (mk_store_set_user(&cfg, &env, "bench-user", m, 6, 10000, NULL, &err) != MK_OK)
            goto fail;
        t[r] = now_ms() - t0;
    }
    qsort(t, RUNS, sizeof(t[0]), cmp_double);
    printf("unchanged %.2f\n", t[RUNS / 2]);
    return 0;
fail:
    fprintf(stderr, "store-bench: %s\n", err.message);
    return 1;
}
