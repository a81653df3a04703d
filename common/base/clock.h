/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/clock.h: the project's one monotonic clock.
 *
 * Deadlines, budgets, timeouts and back-off are measured on CLOCK_MONOTONIC
 * in milliseconds held in int64_t: a change of the wall clock (NTP, an
 * admin's `date`) never stretches or cuts a login's budget. */
#ifndef MK_BASE_CLOCK_H
#define MK_BASE_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin; only differences
 * mean anything). */
int64_t mk_clock_ms(void);

/* Milliseconds from start_ms (a value of mk_clock_ms) to now, never below 0. */
int64_t mk_clock_elapsed_ms(int64_t start_ms);

/* Nanoseconds of CLOCK_MONOTONIC_COARSE: the kernel's clock as of its last
 * tick, read from the vDSO without a system call (about 5 ns), moving once
 * per tick (1 to 10 ms: CONFIG_HZ; 4 ms on Debian's kernels). The NSS
 * module's freshness checks run at most once per value of it
 * (groupfile/reader.h, CHANGED UNDER A READER). -1 if it cannot be read
 * (never on Linux): a caller then checks every time. */
int64_t mk_clock_tick(void);

#endif
