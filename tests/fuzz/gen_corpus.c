/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/fuzz/gen_corpus.c: writes the seed corpus with the real writer.
 *   gen_corpus DIR */
#include <stdio.h>
#include <string.h>

#include "groupfile/writer.h"

int main(int argc, char **argv)
{
    static const char *const two[] = {"alice", "bob"};
    static const char *const three[] = {"bob", "carol", "alice"};
    static const struct mk_group_entry sample[] = {
        {"mk-staff", 2000200002, two, 2},
        {"mk-empty", 2000200003, NULL, 0},
        {"mk-media", 2000200004, three, 3},
    };
    struct mk_group_entry many[40];
    char names[40][16];
    char path[4096];
    int r = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR\n");
        return 2;
    }
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "g%d", i);
        many[i].name = names[i];
        many[i].gid = 2000201001u + (unsigned)i;
        many[i].members = three;
        many[i].member_count = (size_t)(i % 4);
    }
    snprintf(path, sizeof(path), "%s/empty", argv[1]);
    r |= mk_groupfile_write(path, NULL, 0);
    snprintf(path, sizeof(path), "%s/one", argv[1]);
    r |= mk_groupfile_write(path, sample + 1, 1);
    snprintf(path, sizeof(path), "%s/sample", argv[1]);
    r |= mk_groupfile_write(path, sample, 3);
    snprintf(path, sizeof(path), "%s/many", argv[1]);
    r |= mk_groupfile_write(path, many, 40);
    if (r != 0)
        fprintf(stderr, "gen_corpus: a write failed\n");
    return r != 0;
}
