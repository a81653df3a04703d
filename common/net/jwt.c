/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/jwt.c: reading a JWT's claims, unverified (see jwt.h). */
#include "net/jwt.h"
#include "base/text.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static int base64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long mk_base64url_decode(const char *in, size_t len, unsigned char *out, size_t out_size)
{
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > out_size)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64url_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

static void jwt_string(json_object *payload, const char *key, char *dst, size_t size)
{
    json_object *v = NULL;
    if (json_object_object_get_ex(payload, key, &v) && json_object_is_type(v, json_type_string))
        mk_text_sanitize(json_object_get_string(v), dst, size);
}

/* A NumericDate: an integer (or a number with a fraction, cut), true when
 * present; *in_range false when it is a number outside MK_JWT_TIME_MIN..MAX
 * (a uint64 above INT64_MAX reads as INT64_MAX, so it is outside too). */
static bool jwt_time(json_object *payload, const char *key, int64_t *out, bool *malformed)
{
    json_object *v = NULL;
    *malformed = false;
    if (!json_object_object_get_ex(payload, key, &v))
        return false;
    if (json_object_is_type(v, json_type_int)) {
        int64_t n = json_object_get_int64(v);
        if (n < MK_JWT_TIME_MIN || n > MK_JWT_TIME_MAX) {
            *malformed = true;
            return false;
        }
        *out = n;
        return true;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        /* NaN fails both comparisons: malformed too. */
        if (!(d >= (double)MK_JWT_TIME_MIN && d < (double)MK_JWT_TIME_MAX + 1.0)) {
            *malformed = true;
            return false;
        }
        *out = (int64_t)d;
        return true;
    }
    return false;
}

bool mk_jwt_seconds_left(const struct mk_jwt_claims *c, int64_t now, int64_t *left)
{
    *left = 0;
    if (!c->has_exp || c->exp < MK_JWT_TIME_MIN || c->exp > MK_JWT_TIME_MAX)
        return false;
    if (__builtin_sub_overflow(c->exp, now, left))
        *left = now > 0 ? INT64_MIN : INT64_MAX;
    return true;
}

bool mk_jwt_read_claims(const char *token, struct mk_jwt_claims *out)
{
    bool ok = false;
    unsigned char *buf = NULL;
    json_tokener *tok = NULL;
    json_object *payload = NULL;

    memset(out, 0, sizeof(*out));
    if (!token)
        return false;
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || dot1 == token || dot2 == dot1 + 1 || !dot2[1] || strchr(dot2 + 1, '.'))
        return false;
    size_t len = (size_t)(dot2 - dot1 - 1);
    if (len > MK_JWT_MAX_PAYLOAD / 3 * 4 + 4)
        return false;
    buf = malloc(MK_JWT_MAX_PAYLOAD + 1);
    if (!buf)
        return false;
    long n = mk_base64url_decode(dot1 + 1, len, buf, MK_JWT_MAX_PAYLOAD);
    if (n <= 0)
        goto out;
    tok = json_tokener_new();
    if (!tok)
        goto out;
    payload = json_tokener_parse_ex(tok, (const char *)buf, (int)n);
    if (json_tokener_get_error(tok) != json_tokener_success
        || json_tokener_get_parse_end(tok) != (size_t)n
        || !json_object_is_type(payload, json_type_object))
        goto out;
    bool iat_malformed;
    out->has_exp = jwt_time(payload, "exp", &out->exp, &out->exp_malformed);
    out->has_iat = jwt_time(payload, "iat", &out->iat, &iat_malformed);
    jwt_string(payload, "sub", out->sub, sizeof(out->sub));
    jwt_string(payload, "jti", out->jti, sizeof(out->jti));
    jwt_string(payload, "kind", out->kind, sizeof(out->kind));
    if (!out->kind[0])
        jwt_string(payload, "tokenType", out->kind, sizeof(out->kind));
    jwt_string(payload, "organizationId", out->organization_id, sizeof(out->organization_id));
    ok = true;
out:
    json_object_put(payload);
    if (tok)
        json_tokener_free(tok);
    if (buf) {
        explicit_bzero(buf, MK_JWT_MAX_PAYLOAD + 1);
        free(buf);
    }
    if (!ok)
        memset(out, 0, sizeof(*out));
    return ok;
}
