/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/bench/nss_lookup_once.c: the tiny program of the cold-start case.
 *
 *   nss_lookup_once NAME
 *
 * One getgrnam(NAME) in a fresh process, as `id`, `ls -l` or `sudo` pay for
 * it: glibc reads nsswitch.conf, loads the module, which opens and maps its
 * file, and answers once. Exit 0 if the group was found, 1 if not. */
#include <grp.h>

int main(int argc, char **argv)
{
    return argc == 2 && getgrnam(argv[1]) ? 0 : 1;
}
