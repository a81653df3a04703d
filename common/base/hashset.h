/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/hashset.h: the arithmetic of the project's in-memory hash
 * tables.
 *
 * Every table the writers build in memory (the group-file builder's string
 * table, the store's id index and its uniqueness checks, the names and gids
 * an assignment may not use) is open addressing with linear probing over a
 * power-of-two number of slots kept at most half full. Each keeps its own
 * slot type (a gid, a tagged index, a name and its hash), because what a
 * slot holds is what makes a probe cheap; what they share is here, once:
 * how many slots, where a probe starts, where it goes next. Inline, so a
 * probe costs no call. The group file's own index sections follow the same
 * rule with the format's plain hash (groupfile/reader.h). */
#ifndef MK_BASE_HASHSET_H
#define MK_BASE_HASHSET_H

#include <stddef.h>
#include <stdint.h>

#include "base/hash.h"

/* The number of slots for at most n entries: the smallest power of two that
 * is at least min and more than twice n, so the table stays under half
 * full. 0 when that does not fit a size_t. */
static inline size_t mk_hashset_capacity(size_t n, size_t min)
{
    size_t cap = 1;

    while (cap < min)
        cap <<= 1;
    while (cap <= n || cap - n <= n) { /* cap > 2n, without computing 2n */
        if (cap > SIZE_MAX / 2)
            return 0;
        cap <<= 1;
    }
    return cap;
}

/* The slot a probe for the already well-mixed hash h starts at. */
static inline size_t mk_hashset_slot(uint64_t h, size_t cap)
{
    return (size_t)h & (cap - 1);
}

/* The slot a probe for h starts at when h's low bits may be poor (FNV-1a of
 * names that differ only at their end, a gid): h is mixed first. */
static inline size_t mk_hashset_start(uint64_t h, size_t cap)
{
    return mk_hashset_slot(mk_hash_mix(h), cap);
}

/* The slot after i, wrapping at the end. */
static inline size_t mk_hashset_next(size_t i, size_t cap)
{
    return (i + 1) & (cap - 1);
}

#endif
