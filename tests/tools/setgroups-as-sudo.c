/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/tools/setgroups-as-sudo.c: sets a user's supplementary groups the
 * two ways programs do, for tests/e2e/userns-e2e (issue 17):
 *
 *   setgroups-as-sudo initgroups USER GID
 *       initgroups(USER, GID), as login, su and sshd do;
 *   setgroups-as-sudo getgrouplist USER GID
 *       getgrouplist(USER, GID) then setgroups() with what it returned, as
 *       sudo does (setgroups fails with EINVAL on a gid the user namespace
 *       cannot map).
 *
 * Then prints the groups the process holds (getgroups), sorted, one line
 * of gids separated by spaces; exit 0. On a failure: the call and its
 * error on stderr, exit 1. Needs CAP_SETGID (root, or root of a user
 * namespace). */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int compare_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return (x > y) - (x < y);
}

/* getgrouplist with a list that grows until it fits, then setgroups. */
static int set_as_sudo(const char *user, gid_t gid)
{
    int n = 16;
    gid_t *list = NULL;

    for (;;) {
        gid_t *grown = realloc(list, (size_t)n * sizeof(*list));
        int got = n;
        if (!grown) {
            free(list);
            fprintf(stderr, "setgroups-as-sudo: out of memory\n");
            return 1;
        }
        list = grown;
        if (getgrouplist(user, gid, list, &got) >= 0) {
            n = got;
            break;
        }
        n = got > n ? got : n * 2;
    }
    if (setgroups((size_t)n, list) != 0) {
        fprintf(stderr, "setgroups-as-sudo: setgroups of %d groups: %s\n", n, strerror(errno));
        free(list);
        return 1;
    }
    free(list);
    return 0;
}

int main(int argc, char **argv)
{
    static gid_t held[65536];
    char *end;
    unsigned long gid;
    int n;

    if (argc != 4) {
        fprintf(stderr, "usage: setgroups-as-sudo initgroups|getgrouplist USER GID\n");
        return 2;
    }
    gid = strtoul(argv[3], &end, 10);
    if (*end || end == argv[3]) {
        fprintf(stderr, "setgroups-as-sudo: bad gid %s\n", argv[3]);
        return 2;
    }
    if (strcmp(argv[1], "initgroups") == 0) {
        if (initgroups(argv[2], (gid_t)gid) != 0) {
            fprintf(stderr, "setgroups-as-sudo: initgroups: %s\n", strerror(errno));
            return 1;
        }
    } else if (strcmp(argv[1], "getgrouplist") == 0) {
        if (set_as_sudo(argv[2], (gid_t)gid) != 0)
            return 1;
    } else {
        fprintf(stderr, "setgroups-as-sudo: unknown way %s\n", argv[1]);
        return 2;
    }
    if ((n = getgroups((int)(sizeof(held) / sizeof(held[0])), held)) < 0) {
        fprintf(stderr, "setgroups-as-sudo: getgroups: %s\n", strerror(errno));
        return 1;
    }
    qsort(held, (size_t)n, sizeof(held[0]), compare_gid);
    for (int i = 0; i < n; i++)
        printf("%s%lu", i ? " " : "", (unsigned long)held[i]);
    printf("\n");
    return 0;
}
