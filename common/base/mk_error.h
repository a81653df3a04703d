/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/mk_error.h: the status and message type of the upper layers.
 *
 * One convention per layer (docs/ARCHITECTURE.md, "Error conventions"):
 * - base/ and groupfile/ return 0 or a negative errno (mk_passwd_lookup a
 *   positive one, as getpwnam_r does); questions answer bool.
 * - store/ and net/ return an mk_status from every operation a person may
 *   need explained and, where they take one, fill an mk_error with a
 *   sentence for people (and, for an API failure, its HTTP status, code,
 *   ref and Retry-After). Their memory-only helpers, and
 *   mk_nscd_invalidate_group, return 0 or a negative errno as base does;
 *   each header says which.
 * The edges translate: pam/ into PAM codes, nss/ into NSS statuses, the
 * login helper into its protocol's result lines, the tool into exit codes.
 * A token never appears in an mk_error (invariant 5).
 */
#ifndef MK_ERROR_H
#define MK_ERROR_H

#include <stdarg.h>
#include <stdint.h>

typedef enum mk_status {
    MK_OK = 0,
    MK_ERR_USAGE,       /* bad arguments or configuration, a refused token file */
    MK_ERR_API,         /* the API answered with an error (4xx, or 5xx it stood by) */
    MK_ERR_UNAVAILABLE, /* network failure, timeout, budget spent, 5xx/429 after retries */
    MK_ERR_PROTOCOL,    /* the answer was not what the contract promises (bad JSON, types) */
    MK_ERR_NOMEM,
    MK_ERR_IO,          /* local file system */
    MK_ERR_BUSY,        /* a lock could not be taken in time */
} mk_status;

typedef struct mk_error {
    mk_status status;
    long http_status;   /* HTTP status of the failing answer, 0 if none */
    char code[64];      /* error.code of the API's error body, "" if none */
    char ref[128];      /* ref of the API's error body, "" if none: keep it for support */
    int64_t retry_after_ms; /* the failing answer's Retry-After in ms, 0 when none */
    char message[768];  /* for people: what failed, with the API's detail */
} mk_error;

/* Resets err to "no error". err may be NULL in every function here. */
void mk_error_clear(mk_error *err);

/* Sets status and a printf-style message; returns status so callers can
 * `return mk_error_set(err, MK_ERR_IO, "...")`. Keeps http_status/code/ref. */
mk_status mk_error_set(mk_error *err, mk_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to the message (context added on the way up). */
void mk_error_prefix(mk_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Replaces the context `inner` (what a lower layer prefixed: "listing
 * your organizations") at the start of the message with the formatted one,
 * which says the same thing better ("listing the organizations of alice"):
 * contexts do not stack. When the message does not start with "inner: ",
 * the same as mk_error_prefix. */
void mk_error_recontext(mk_error *err, const char *inner, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A short, stable name: "ok", "usage", "api", "unavailable", ... */
const char *mk_status_name(mk_status status);

#endif
