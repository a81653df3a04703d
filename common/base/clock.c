/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/clock.c: see clock.h. */
#include "base/clock.h"

#include <time.h>

int64_t mk_clock_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail on Linux for a valid pointer. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mk_clock_elapsed_ms(int64_t start_ms)
{
    int64_t d = mk_clock_ms() - start_ms;
    return d > 0 ? d : 0;
}

int64_t mk_clock_tick(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
