/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/bench/nss_bench.c: time per call of group lookups through glibc.
 *
 *   nss_bench [--no-check] [--min-ms MS] [--max-calls N] NAME GID USER
 *
 * Measures getgrnam_r(NAME), getgrgid_r(GID) and getgrouplist(USER) (the
 * initgroups path) with whatever nsswitch.conf says, and prints
 *   getgrnam_r <µs per call> <calls>
 *   getgrgid_r <µs per call> <calls>
 *   getgrouplist <µs per call> <calls>
 * Each figure is the median of five batches, a batch being calibrated to last
 * at least MS milliseconds (default 40) but never more than N calls (default
 * 1000000). Unless --no-check, it first verifies that the lookups find the
 * expected group, so a broken source never passes as a fast one. Exit 0, or 1
 * with a message.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 5

enum bench_op { OP_GETGRNAM, OP_GETGRGID, OP_GETGROUPLIST };

struct bench {
    const char *name;
    gid_t gid;
    const char *user;
    char *buf;
    size_t buf_size;
    gid_t *groups;
    int groups_cap;
    struct group gr;  /* what *result points to after a lookup */
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* getgr*_r with the buffer doubled on ERANGE, as a careful caller does. */
static int bench_group(struct bench *b, enum bench_op op, struct group **result)
{
    for (;;) {
        int rc = op == OP_GETGRNAM ? getgrnam_r(b->name, &b->gr, b->buf, b->buf_size, result)
                                   : getgrgid_r(b->gid, &b->gr, b->buf, b->buf_size, result);
        if (rc != ERANGE)
            return rc;
        char *bigger = realloc(b->buf, b->buf_size * 2);
        if (!bigger)
            return ENOMEM;
        b->buf = bigger;
        b->buf_size *= 2;
    }
}

static int bench_grouplist(struct bench *b, int *count)
{
    for (;;) {
        int n = b->groups_cap;
        if (getgrouplist(b->user, (gid_t)-1, b->groups, &n) >= 0) {
            *count = n;
            return 0;
        }
        if (n <= b->groups_cap)
            return ENOMEM;
        gid_t *bigger = realloc(b->groups, (size_t)n * sizeof(*bigger));
        if (!bigger)
            return ENOMEM;
        b->groups = bigger;
        b->groups_cap = n;
    }
}

static int bench_call(struct bench *b, enum bench_op op)
{
    struct group *result = NULL;
    int count;
    if (op == OP_GETGROUPLIST)
        return bench_grouplist(b, &count);
    return bench_group(b, op, &result);
}

/* The lookups answer what the generated data says. */
static int bench_verify(struct bench *b)
{
    struct group *result = NULL;
    int rc = bench_group(b, OP_GETGRNAM, &result);
    if (rc || !result || result->gr_gid != b->gid) {
        fprintf(stderr, "nss_bench: getgrnam_r(%s) did not find gid %u (%s)\n", b->name,
                (unsigned)b->gid, rc ? strerror(rc) : result ? "other gid" : "not found");
        return -1;
    }
    rc = bench_group(b, OP_GETGRGID, &result);
    if (rc || !result || strcmp(result->gr_name, b->name) != 0) {
        fprintf(stderr, "nss_bench: getgrgid_r(%u) did not find %s (%s)\n", (unsigned)b->gid,
                b->name, rc ? strerror(rc) : result ? "other name" : "not found");
        return -1;
    }
    int count = 0;
    rc = bench_grouplist(b, &count);
    int found = 0;
    for (int i = 0; i < count; i++)
        found |= b->groups[i] == b->gid;
    if (rc || !found) {
        fprintf(stderr, "nss_bench: getgrouplist(%s) did not list gid %u\n", b->user,
                (unsigned)b->gid);
        return -1;
    }
    return 0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median µs per call of BATCHES batches; *calls gets the calls per batch. */
static int bench_measure(struct bench *b, enum bench_op op, double min_us, long max_calls,
                         double *us_per_call, long *calls)
{
    long n = 1;
    /* Calibrate: grow the batch until it lasts min_us or reaches max_calls. */
    for (;;) {
        double t0 = now_us();
        for (long i = 0; i < n; i++)
            if (bench_call(b, op) != 0)
                return -1;
        double elapsed = now_us() - t0;
        if (elapsed >= min_us || n >= max_calls)
            break;
        long next = elapsed > 0 ? (long)((double)n * min_us * 1.2 / elapsed) : n * 10;
        if (next <= n)
            next = n * 2;
        if (next > n * 10)
            next = n * 10;
        n = next < max_calls ? next : max_calls;
    }
    double per_call[BATCHES];
    for (int k = 0; k < BATCHES; k++) {
        double t0 = now_us();
        for (long i = 0; i < n; i++)
            if (bench_call(b, op) != 0)
                return -1;
        per_call[k] = (now_us() - t0) / (double)n;
    }
    qsort(per_call, BATCHES, sizeof(per_call[0]), compare_double);
    *us_per_call = per_call[BATCHES / 2];
    *calls = n;
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: nss_bench [--no-check] [--min-ms MS] [--max-calls N] NAME GID USER\n");
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    int check = 1;
    double min_ms = 40;
    long max_calls = 1000000;
    int status = 1;
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--no-check") == 0) {
            check = 0;
        } else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc) {
            min_ms = atof(argv[++i]);
        } else if (strcmp(argv[i], "--max-calls") == 0 && i + 1 < argc) {
            max_calls = atol(argv[++i]);
        } else {
            usage();
            return 2;
        }
    }
    if (argc - i != 3 || min_ms <= 0 || max_calls < 1) {
        usage();
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long gid = strtoul(argv[i + 1], &end, 10);
    if (errno || *end || gid >= 0xffffffffUL) {
        usage();
        return 2;
    }
    b.name = argv[i];
    b.gid = (gid_t)gid;
    b.user = argv[i + 2];
    b.buf_size = 1024;
    b.buf = malloc(b.buf_size);
    b.groups_cap = 256;
    b.groups = malloc((size_t)b.groups_cap * sizeof(*b.groups));
    if (!b.buf || !b.groups) {
        fprintf(stderr, "nss_bench: out of memory\n");
        goto out;
    }

    /* The first calls load the module and map its data: not what we time. */
    if (check ? bench_verify(&b) < 0
              : bench_call(&b, OP_GETGRNAM) || bench_call(&b, OP_GETGRGID) ||
                    bench_call(&b, OP_GETGROUPLIST))
        goto out;

    static const struct {
        enum bench_op op;
        const char *label;
    } ops[] = {
        {OP_GETGRNAM, "getgrnam_r"},
        {OP_GETGRGID, "getgrgid_r"},
        {OP_GETGROUPLIST, "getgrouplist"},
    };
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        double us;
        long calls;
        if (bench_measure(&b, ops[k].op, min_ms * 1000, max_calls, &us, &calls) < 0) {
            fprintf(stderr, "nss_bench: %s failed while measuring\n", ops[k].label);
            goto out;
        }
        printf("%s %.3f %ld\n", ops[k].label, us, calls);
    }
    status = 0;
out:
    free(b.buf);
    free(b.groups);
    return status;
}
