/* tests/fuzz/fuzz_groupfile.c: bytes as a compiled group file, through the
 * reader's validation and every lookup. Each input is tried twice: as given,
 * and with total_size and checksum made right, so the fuzzer gets past the
 * checksum to the structure checks and lookups. */
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "groupfile_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const unsigned char *data, size_t size)
{
    struct mkgf_view v;
    struct mkgf_group g, h;
    struct mkgf_user u;
    volatile size_t sink = 0;

    if (mkgf_validate(data, size, &v) != 0)
        return;
    (void)mkgf_find_name(&v, "mk-staff", &g);
    (void)mkgf_find_gid(&v, 1900000001, &g);
    (void)mkgf_find_user(&v, "alice", &u);
    for (uint32_t i = 0; i < v.group_count && i < 256; i++) {
        if (mkgf_group_at(&v, i, &g) != 0)
            abort();
        sink += strlen(g.name);
        (void)mkgf_find_name(&v, g.name, &h);
        (void)mkgf_find_gid(&v, g.gid, &h);
        for (uint32_t m = 0; m < g.member_count && m < 64; m++) {
            const char *name = mkgf_group_member(&v, &g, m);
            sink += strlen(name);
            if (mkgf_find_user(&v, name, &u) == 0)
                for (uint32_t k = 0; k < u.group_count && k < 64; k++)
                    sink += mkgf_user_gid(&v, &u, k);
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
