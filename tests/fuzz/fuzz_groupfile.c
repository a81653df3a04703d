/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/fuzz/fuzz_groupfile.c: bytes as a compiled group file, through the
 * reader's O(1) open (mkgf_view_init), every lookup with its checks at use,
 * the member copy the NSS module makes (into a buffer of exactly the run's
 * size), and the whole-file mkgf_verify. Each input is tried twice: as
 * given, and with total_size and checksum made right, so the fuzzer gets
 * past them to the structure checks and lookups. */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "groupfile/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The members as the NSS module packs them: a copy of exactly member_bytes
 * (ASan sees a byte past it) and a pointer array of member_count + 1. */
static size_t copy_members(const struct mkgf_view *v, const struct mkgf_group *g)
{
    size_t sink = 0;
    char *copy, **mem;

    if (g->member_count > 1u << 16)
        return 0; /* the module would answer ERANGE long before */
    copy = malloc(g->member_bytes ? g->member_bytes : 1);
    mem = calloc((size_t)g->member_count + 1, sizeof(char *));
    if (copy && mem && mkgf_copy_members(v, g, copy, mem) == 0)
        for (uint32_t m = 0; m < g->member_count; m++)
            sink += strlen(mem[m]);
    free(copy);
    free(mem);
    return sink;
}

static void exercise(const unsigned char *data, size_t size)
{
    struct mkgf_view v;
    struct mkgf_group g, h;
    struct mkgf_user u;
    volatile size_t sink = 0;
    int verified = mkgf_verify(data, size) == 0;

    if (size >= MKGF_HEADER_SIZE && mkgf_view_init(data, data, size, &v) != 0)
        return;
    if (size < MKGF_HEADER_SIZE)
        return;
    (void)mkgf_find_name(&v, "mk-staff", &g);
    (void)mkgf_find_gid(&v, 2000200002, &g);
    (void)mkgf_find_user(&v, "alice", &u);
    for (uint32_t i = 0; i < v.group_count && i < 64; i++) {
        if (mkgf_group_at(&v, i, &g) != 0) {
            if (verified)
                abort(); /* a verified file answers every lookup */
            continue;
        }
        sink += copy_members(&v, &g);
        (void)mkgf_find_name(&v, g.name, &h);
        (void)mkgf_find_gid(&v, g.gid, &h);
        for (uint32_t m = 0; m < g.member_count && m < 64; m++) {
            const char *name = mkgf_group_member(&v, &g, m);
            if (!name)
                break;
            if (mkgf_find_user(&v, name, &u) == 0)
                for (uint32_t k = 0; k < u.group_count && k < 64; k++) {
                    gid_t gid;
                    if (mkgf_user_gid(&v, &u, k, &gid) == 0)
                        sink += gid;
                }
        }
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy;
    uint64_t v;

    exercise(data, size);
    if (size < MKGF_HEADER_SIZE)
        return 0;
    copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    v = htole64(size);
    memcpy(copy + 24, &v, 8);
    v = htole64(mkgf_checksum(copy + MKGF_CHECKSUMMED_FROM, size - MKGF_CHECKSUMMED_FROM));
    memcpy(copy + MKGF_CHECKSUM_OFFSET, &v, 8);
    exercise(copy, size);
    free(copy);
    return 0;
}
