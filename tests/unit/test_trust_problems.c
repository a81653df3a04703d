/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_trust_problems.c: mk_trust_problems (base/trust.h), the
 * bare owner and mode test that the config reader, the token reader, the
 * group-file reader and the token-directory checks share: each problem its
 * own bit, kind 0 and owner (uid_t)-1 meaning "any". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/stat.h>

#include "base/trust.h"

static struct stat with(mode_t mode, uid_t uid)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_mode = mode;
    st.st_uid = uid;
    return st;
}

static void test_nothing_wrong(void **state)
{
    struct stat st = with(S_IFREG | 0644, 0);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 0, S_IWGRP | S_IWOTH), 0);
    st = with(S_IFDIR | 0755, 0);
    assert_int_equal(mk_trust_problems(&st, S_IFDIR, 0, S_IWGRP | S_IWOTH), 0);
    st = with(S_IFREG | 0600, 1000);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 1000, S_IRWXG | S_IRWXO), 0);
}

static void test_each_problem_its_bit(void **state)
{
    struct stat st = with(S_IFDIR | 0755, 0);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 0, S_IWGRP | S_IWOTH), MK_TRUST_KIND);
    st = with(S_IFLNK | 0777, 0);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 0, 0), MK_TRUST_KIND);
    st = with(S_IFREG | 0644, 1000);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 0, S_IWGRP | S_IWOTH), MK_TRUST_OWNER);
    st = with(S_IFREG | 0664, 0);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 0, S_IWGRP | S_IWOTH), MK_TRUST_MODE);
    st = with(S_IFREG | 0646, 0);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 0, S_IWGRP | S_IWOTH), MK_TRUST_MODE);
    /* A token: any bit for group or others is too much, reading included. */
    st = with(S_IFREG | 0640, 1000);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 1000, S_IRWXG | S_IRWXO), MK_TRUST_MODE);
    st = with(S_IFIFO | 0666, 5);
    assert_int_equal(mk_trust_problems(&st, S_IFREG, 0, S_IWGRP | S_IWOTH),
                     MK_TRUST_KIND | MK_TRUST_OWNER | MK_TRUST_MODE);
}

/* Kind 0: any kind; owner (uid_t)-1: any owner (the config as non-root). */
static void test_any(void **state)
{
    struct stat st = with(S_IFIFO | 0644, 1234);
    assert_int_equal(mk_trust_problems(&st, 0, (uid_t)-1, S_IWGRP | S_IWOTH), 0);
    st = with(S_IFREG | 0666, 1234);
    assert_int_equal(mk_trust_problems(&st, 0, (uid_t)-1, S_IWGRP | S_IWOTH), MK_TRUST_MODE);
    assert_int_equal(mk_trust_problems(&st, 0, (uid_t)-1, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_wrong),
        cmocka_unit_test(test_each_problem_its_bit),
        cmocka_unit_test(test_any),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
