/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/tools/enumerate-groups.c: a long-lived process that resolves groups
 * through glibc the way nscd, sshd and cron do, for tests/e2e/nss-e2e.
 *
 *   enumerate-groups STOPFILE NAME
 *
 * Until STOPFILE exists: setgrent/getgrent/endgrent over every source, then
 * getgrnam(NAME) a few times. Exits 0 having seen at least one group, 3
 * having seen none; a signal (SIGBUS from a module that maps a file
 * truncated under it) kills it, which the caller sees as 128 + signal. */
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    unsigned long seen = 0, loops = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: enumerate-groups STOPFILE NAME\n");
        return 2;
    }
    for (;; loops++) {
        struct group *gr;
        if (loops % 16 == 0 && access(argv[1], F_OK) == 0)
            break;
        setgrent();
        while ((gr = getgrent()))
            seen++;
        endgrent();
        for (int i = 0; i < 8; i++)
            if (getgrnam(argv[2]))
                seen++;
    }
    printf("%lu groups seen in %lu rounds\n", seen, loops);
    return seen > 0 ? 0 : 3;
}
