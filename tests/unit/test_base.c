/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_base.c: the small primitives of common/base/ that have no
 * module of their own to be tested with: the clock and the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/hash.h"
#include "base/hashset.h"

/* Monotonic, in milliseconds: a 20 ms sleep moves it by at least 20. */
static void test_clock_moves_forward_in_milliseconds(void **state)
{
    (void)state;
    int64_t a = mk_clock_ms();
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    int64_t b = mk_clock_ms();
    assert_true(b - a >= 20);
    assert_true(mk_clock_elapsed_ms(a) >= 20);
    /* A start in the future is no negative time. */
    assert_int_equal(mk_clock_elapsed_ms(b + 1000000), 0);
}

/* The published FNV-1a 64 test vectors: the group file's format depends on
 * them. */
static void test_fnv1a_matches_the_reference_vectors(void **state)
{
    (void)state;
    assert_true(mk_fnv1a_str("") == 0xcbf29ce484222325ull);
    assert_true(mk_fnv1a_str("a") == 0xaf63dc4c8601ec8cull);
    assert_true(mk_fnv1a_str("foobar") == 0x85944171f73967e8ull);
    assert_true(mk_fnv1a_bytes(MK_FNV1A_OFFSET, "foobar", 6) == mk_fnv1a_str("foobar"));
    /* Continuing a hash is hashing the concatenation. */
    assert_true(mk_fnv1a_bytes(mk_fnv1a_str("foo"), "bar", 3) == mk_fnv1a_str("foobar"));
}

/* The mix changes the low bits of hashes that differ only high up. */
static void test_mix_spreads_high_bits_low(void **state)
{
    (void)state;
    uint64_t a = mk_hash_mix(1ull << 63), b = mk_hash_mix(1ull << 62);
    assert_true((a & 0xffff) != (b & 0xffff));
    assert_true(mk_hash_mix(0) == 0);
}

/* Under half full, a power of two, at least the minimum; the format's
 * sizes (minimum 1) are what the writer always wrote: 1 slot for none,
 * 4 for one, 16 for seven, 32 for eight. */
static void test_hashset_capacity(void **state)
{
    (void)state;
    assert_int_equal(mk_hashset_capacity(0, 1), 1);
    assert_int_equal(mk_hashset_capacity(1, 1), 4);
    assert_int_equal(mk_hashset_capacity(7, 1), 16);
    assert_int_equal(mk_hashset_capacity(8, 1), 32);
    assert_int_equal(mk_hashset_capacity(0, 256), 256);
    assert_int_equal(mk_hashset_capacity(127, 256), 256);
    assert_int_equal(mk_hashset_capacity(128, 256), 512);
    for (size_t n = 0; n < 5000; n += 7) {
        size_t cap = mk_hashset_capacity(n, 16);
        assert_true(cap >= 16 && (cap & (cap - 1)) == 0 && cap > 2 * n && cap <= 4 * n + 16);
    }
    /* Too large for a size_t: 0, never a wrapped small table. */
    assert_int_equal(mk_hashset_capacity(SIZE_MAX / 2, 1), 0);
}

/* A probe starts inside the table and visits every slot once before it
 * comes back. */
static void test_hashset_probe_covers_the_table(void **state)
{
    (void)state;
    size_t cap = 64;
    unsigned char seen[64] = { 0 };
    size_t i = mk_hashset_start(12345, cap);
    assert_true(i < cap);
    assert_int_equal(mk_hashset_slot(0xfffffffffull, cap), 63);
    for (size_t k = 0; k < cap; k++, i = mk_hashset_next(i, cap)) {
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
    }
    assert_int_equal(i, mk_hashset_start(12345, cap));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_moves_forward_in_milliseconds),
        cmocka_unit_test(test_fnv1a_matches_the_reference_vectors),
        cmocka_unit_test(test_mix_spreads_high_bits_low),
        cmocka_unit_test(test_hashset_capacity),
        cmocka_unit_test(test_hashset_probe_covers_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
