/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/tools/mk-groupfile.c: writes a compiled group file for tests and benchmarks.
 *
 *   mk-groupfile OUT < SPEC
 *       SPEC lines are "name:gid:member1,member2" (like /etc/group without the
 *       password field); empty lines and lines starting with '#' are skipped.
 *   mk-groupfile --generate N --members M OUT
 *       N groups "mkbench-<i>" (i = 1..N) with gids 2000200001 + i - 1; the last
 *       group has M members "mkbench-user-<j>" (j = 1..M), the others none.
 *
 * Either way the file is written with mk_groupfile_write, so tests exercise the
 * real writer. Exit 0, or print the error and exit 1 (2 for bad usage).
 */
#include "groupfile/writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GENERATE_FIRST_GID 2000200001u

struct spec {
    struct mk_group_entry *groups;
    size_t count, cap;
    /* Every string and member array we allocated, freed at the end. */
    void **owned;
    size_t owned_count, owned_cap;
};

static int spec_own(struct spec *spec, void *p)
{
    if (spec->owned_count == spec->owned_cap) {
        size_t cap = spec->owned_cap ? spec->owned_cap * 2 : 64;
        void **n = realloc(spec->owned, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        spec->owned = n;
        spec->owned_cap = cap;
    }
    spec->owned[spec->owned_count++] = p;
    return 0;
}

/* strdup that the spec frees later. */
static char *spec_strdup(struct spec *spec, const char *s)
{
    char *copy = strdup(s);
    if (copy && spec_own(spec, copy) < 0) {
        free(copy);
        copy = NULL;
    }
    return copy;
}

static struct mk_group_entry *spec_add(struct spec *spec)
{
    if (spec->count == spec->cap) {
        size_t cap = spec->cap ? spec->cap * 2 : 64;
        struct mk_group_entry *n = realloc(spec->groups, cap * sizeof(*n));
        if (!n)
            return NULL;
        spec->groups = n;
        spec->cap = cap;
    }
    struct mk_group_entry *g = &spec->groups[spec->count++];
    memset(g, 0, sizeof(*g));
    return g;
}

static void spec_free(struct spec *spec)
{
    for (size_t i = 0; i < spec->owned_count; i++)
        free(spec->owned[i]);
    free(spec->owned);
    free(spec->groups);
    memset(spec, 0, sizeof(*spec));
}

/* A name as the format allows it: non-empty, no ':' ',' '\n' or blanks. */
static int name_valid(const char *s)
{
    if (!*s)
        return 0;
    return strpbrk(s, ":, \t\n") == NULL;
}

static int parse_gid(const char *s, gid_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    /* (gid_t)-1 means "no gid" to every caller. */
    if (errno || *end || v >= UINT32_MAX)
        return -1;
    *out = (gid_t)v;
    return 0;
}

/* Splits "a,b,c" (modified in place) into an owned array of owned strings. */
static int parse_members(struct spec *spec, char *list, struct mk_group_entry *g,
                         char *why, size_t why_size)
{
    size_t n = 0;
    if (*list) {
        n = 1;
        for (const char *p = list; *p; p++)
            n += *p == ',';
    }
    if (n == 0)
        return 0;
    const char **members = calloc(n, sizeof(*members));
    if (!members || spec_own(spec, members) < 0) {
        free(members);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    size_t i = 0;
    char *p = list;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!name_valid(p)) {
            snprintf(why, why_size, "bad member name \"%s\"", p);
            return -1;
        }
        members[i] = spec_strdup(spec, p);
        if (!members[i]) {
            snprintf(why, why_size, "out of memory");
            return -1;
        }
        i++;
        if (!comma)
            break;
        p = comma + 1;
    }
    g->members = members;
    g->member_count = i;
    return 0;
}

/* Parses one SPEC line (without its newline) into a new group. */
static int parse_line(struct spec *spec, char *line, char *why, size_t why_size)
{
    char *name = line;
    char *colon1 = strchr(name, ':');
    char *colon2 = colon1 ? strchr(colon1 + 1, ':') : NULL;
    if (!colon2 || strchr(colon2 + 1, ':')) {
        snprintf(why, why_size, "expected name:gid:members");
        return -1;
    }
    *colon1 = '\0';
    *colon2 = '\0';
    char *gid_text = colon1 + 1;
    char *members = colon2 + 1;
    if (!name_valid(name)) {
        snprintf(why, why_size, "bad group name \"%s\"", name);
        return -1;
    }
    gid_t gid;
    if (parse_gid(gid_text, &gid) < 0) {
        snprintf(why, why_size, "bad gid \"%s\"", gid_text);
        return -1;
    }
    for (size_t i = 0; i < spec->count; i++) {
        if (strcmp(spec->groups[i].name, name) == 0) {
            snprintf(why, why_size, "duplicate group name \"%s\"", name);
            return -1;
        }
        if (spec->groups[i].gid == gid) {
            snprintf(why, why_size, "duplicate gid %s", gid_text);
            return -1;
        }
    }
    struct mk_group_entry *g = spec_add(spec);
    if (!g) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    g->gid = gid;
    g->name = spec_strdup(spec, name);
    if (!g->name) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    return parse_members(spec, members, g, why, why_size);
}

static int read_spec(FILE *in, struct spec *spec)
{
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int rc = 0;
    while ((len = getline(&line, &line_cap, in)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if ((size_t)len != strlen(line)) {
            fprintf(stderr, "mk-groupfile: line %lu: NUL byte\n", lineno);
            rc = -1;
            goto out;
        }
        if (len == 0 || line[0] == '#')
            continue;
        char why[256];
        if (parse_line(spec, line, why, sizeof(why)) < 0) {
            fprintf(stderr, "mk-groupfile: line %lu: %s\n", lineno, why);
            rc = -1;
            goto out;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "mk-groupfile: reading the spec: %s\n", strerror(errno));
        rc = -1;
    }
out:
    free(line);
    return rc;
}

/* Builds the benchmark's groups; every string lives in one block. */
static int generate(struct spec *spec, size_t n, size_t m)
{
    if (n == 0 && m > 0) {
        fprintf(stderr, "mk-groupfile: --members needs at least one group\n");
        return -1;
    }
    if (n > 0 && (uint64_t)GENERATE_FIRST_GID + n - 1 >= UINT32_MAX) {
        fprintf(stderr, "mk-groupfile: too many groups\n");
        return -1;
    }
    const size_t name_size = sizeof("mkbench-user-") + 20;
    char *names = calloc(n + m + 1, name_size);
    const char **members = calloc(m + 1, sizeof(*members));
    spec->groups = calloc(n + 1, sizeof(*spec->groups));
    if (!names || spec_own(spec, names) < 0) {
        free(names);
        names = NULL;
    }
    if (!members || spec_own(spec, members) < 0) {
        free(members);
        members = NULL;
    }
    if (!names || !members || !spec->groups) {
        fprintf(stderr, "mk-groupfile: out of memory\n");
        return -1;
    }
    spec->cap = n + 1;
    for (size_t i = 0; i < n; i++) {
        char *name = names + i * name_size;
        snprintf(name, name_size, "mkbench-%zu", i + 1);
        spec->groups[i].name = name;
        spec->groups[i].gid = (gid_t)(GENERATE_FIRST_GID + i);
    }
    for (size_t j = 0; j < m; j++) {
        char *member = names + (n + j) * name_size;
        snprintf(member, name_size, "mkbench-user-%zu", j + 1);
        members[j] = member;
    }
    if (n > 0) {
        spec->groups[n - 1].members = members;
        spec->groups[n - 1].member_count = m;
    }
    spec->count = n;
    return 0;
}

static int parse_count(const char *s, size_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > 100000000ull)
        return -1;
    *out = (size_t)v;
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: mk-groupfile OUT < SPEC       (SPEC lines: name:gid:member1,member2)\n"
            "       mk-groupfile --generate N --members M OUT\n");
}

int main(int argc, char **argv)
{
    struct spec spec = {0};
    const char *out_path = NULL;
    int status = 1;

    if (argc == 2 && argv[1][0] != '-') {
        out_path = argv[1];
        if (read_spec(stdin, &spec) < 0)
            goto out;
    } else if (argc == 6 && strcmp(argv[1], "--generate") == 0 &&
               strcmp(argv[3], "--members") == 0 && argv[5][0] != '-') {
        size_t n, m;
        if (parse_count(argv[2], &n) < 0 || parse_count(argv[4], &m) < 0) {
            fprintf(stderr, "mk-groupfile: N and M must be numbers up to 100000000\n");
            status = 2;
            goto out;
        }
        out_path = argv[5];
        if (generate(&spec, n, m) < 0)
            goto out;
    } else {
        usage();
        status = 2;
        goto out;
    }

    int rc = mk_groupfile_write(out_path, spec.groups, spec.count);
    if (rc < 0) {
        fprintf(stderr, "mk-groupfile: writing %s: %s\n", out_path, strerror(-rc));
        goto out;
    }
    status = 0;
out:
    spec_free(&spec);
    return status;
}
