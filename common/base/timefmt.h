/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/timefmt.h: a Unix time written the one way the project
 * writes one for people and for JSON: UTC, ISO 8601, to the second
 * ("2024-05-01T12:00:00Z"). Error convention (docs/ARCHITECTURE.md,
 * "Error conventions"): 0 or a negative errno. libc only.
 */
#ifndef MK_TIMEFMT_H
#define MK_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* The longest text mk_time_format_utc writes for a four-digit year, with
 * its NUL. */
#define MK_TIME_UTC_SIZE 21

/* Writes t (seconds since the epoch, any sign) as "%Y-%m-%dT%H:%M:%SZ"
 * into buf (len bytes, NUL-terminated). Returns 0, -EOVERFLOW when the
 * time has no calendar date, or -ERANGE when buf is too small; on failure
 * buf holds "" (when len > 0). Callers say what a failure shows ("never",
 * nothing). */
int mk_time_format_utc(int64_t t, char *buf, size_t len);

#endif
