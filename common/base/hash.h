/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/hash.h: the project's one string hash and its finalizer.
 *
 * FNV-1a 64 is the hash the group file's format records (its name index,
 * groupfile/reader.h), so it is fixed: changing it changes the format.
 * In-memory tables mix it first with mk_hash_mix (the 64-bit finalizer of
 * MurmurHash3), because FNV-1a's low bits spread names that differ only at
 * their end poorly and a table takes its slot from the low bits. Inline, so
 * that the NSS module's lookup pays no call. */
#ifndef MK_BASE_HASH_H
#define MK_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define MK_FNV1A_OFFSET 0xcbf29ce484222325ull
#define MK_FNV1A_PRIME 0x100000001b3ull

/* FNV-1a 64 of the NUL-terminated s. */
static inline uint64_t mk_fnv1a_str(const char *s)
{
    uint64_t h = MK_FNV1A_OFFSET;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= MK_FNV1A_PRIME;
    }
    return h;
}

/* FNV-1a 64 of n bytes, continuing from h (MK_FNV1A_OFFSET to start). */
static inline uint64_t mk_fnv1a_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= MK_FNV1A_PRIME;
    }
    return h;
}

/* Spreads every bit of h over the low bits (MurmurHash3's fmix64 without
 * its last multiply-shift: enough for a power-of-two table). */
static inline uint64_t mk_hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

#endif
