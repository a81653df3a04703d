/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/jwt.h: what a token says about itself, only to inform.
 *
 * MK.IO tokens are JWTs (docs/mkio-api.md): three base64url parts, the middle one
 * a JSON object of claims. The signature is never checked here, so nothing
 * read here decides anything: it is shown to the user (whoami, login), and
 * the server alone judges the token. A token that is not a JWT is still a
 * token: the caller uses it and says its expiry is unknown.
 *
 * Error convention: nothing here returns mk_status, since nothing read
 * here decides anything; a token that cannot be read gives false or -1
 * (net/ otherwise returns mk_status with an mk_error, docs/ARCHITECTURE.md,
 * "Error conventions").
 */
#ifndef MK_JWT_H
#define MK_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A payload larger than this is not read (a token is at most 16 KiB). */
#define MK_JWT_MAX_PAYLOAD 12288

/* The NumericDates read: from 1970 to the end of year 9999 (UTC). A time
 * outside is no date a token is issued with; read as one, exp - now and
 * gmtime would wrap or fail. */
#define MK_JWT_TIME_MIN 0
#define MK_JWT_TIME_MAX INT64_C(253402300799) /* 9999-12-31 23:59:59 UTC */

struct mk_jwt_claims {
    bool has_exp;          /* exp: expiry, seconds since the epoch, in range */
    bool exp_malformed;    /* exp is a number outside the range (has_exp false):
                            * callers say so and treat the token as expired */
    bool has_iat;          /* iat: issued at, in range (else absent) */
    int64_t exp;
    int64_t iat;
    /* Strings passed through mk_text_sanitize, "" when absent. */
    char sub[256];         /* subject (the user) */
    char jti[128];         /* token id, used for revocation */
    char kind[64];         /* token kind: login, ephemeral, full-access, restricted */
    char organization_id[129]; /* organizationId: the organization it is bound to */
};

/* Reads the claims of token's payload without verifying anything. Returns
 * false (and *out all empty) when token is not three non-empty dot-separated
 * parts whose middle one is base64url of a JSON object of at most
 * MK_JWT_MAX_PAYLOAD bytes. A claim of the wrong type is left absent; an
 * exp or iat outside MK_JWT_TIME_MIN..MAX too (exp_malformed set for exp). */
bool mk_jwt_read_claims(const char *token, struct mk_jwt_claims *out);

/* Seconds from now to the expiry (negative once expired), computed without
 * overflow whatever now is. False when the claims hold no usable exp
 * (absent or malformed): *left is then 0. */
bool mk_jwt_seconds_left(const struct mk_jwt_claims *c, int64_t now, int64_t *left);

/* base64url (RFC 4648 section 5, '=' padding allowed but not needed) of
 * in[0..len) into out (at most out_size bytes). Returns the decoded length,
 * or -1 when the text is not base64url or does not fit. */
long mk_base64url_decode(const char *in, size_t len, unsigned char *out, size_t out_size);

#endif
