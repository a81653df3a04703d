/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/http_env.c: the caller's environment that the HTTP client must
 * never act on (net/http.h, mk_http_scrub_environment): the variables
 * libcurl, OpenSSL and the resolver read behind the client's back, and
 * every *_proxy variable. Split from the engine (http.c), which never reads
 * the environment itself. */
#include "net/http.h"
#include "base/text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* Read with plain getenv by libcurl 7.88 (SSLKEYLOGFILE, CURL_SSL_BACKEND),
 * OpenSSL 3 (only the SSL_ and OPENSSL_ ones, and those through
 * secure_getenv, so a setuid caller is safe but root's own environment is
 * not) or glibc's resolver, with no option to turn them off; plus the two
 * the curl program reads, CURL_CA_BUNDLE and CURL_HOME, should a later
 * libcurl take them up. The *_proxy names are matched by their ending. */
static const char *const http_scrubbed_names[] = {
    "SSLKEYLOGFILE",                 /* appends every TLS session key there */
    "CURL_SSL_BACKEND", "CURL_CA_BUNDLE", "CURL_HOME",
    "SSL_CERT_FILE", "SSL_CERT_DIR", /* OpenSSL's default trust store */
    "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES", "OPENSSL_ia32cap",
    "RES_OPTIONS", "LOCALDOMAIN", "HOSTALIASES",
};

/* Whether the name of a NAME=VALUE entry ends in "_proxy", in any case;
 * *name_len gets the name's length. */
static bool http_env_is_proxy(const char *entry, size_t *name_len)
{
    const char *eq = strchr(entry, '=');
    if (!eq)
        return false; /* getenv never sees an entry without '=' */
    *name_len = (size_t)(eq - entry);
    return *name_len >= 6 && mk_ascii_case_equal_n(eq - 6, "_proxy", 6);
}

void mk_http_scrub_environment(void)
{
    for (size_t i = 0; i < sizeof(http_scrubbed_names) / sizeof(http_scrubbed_names[0]); i++)
        unsetenv(http_scrubbed_names[i]);
    /* unsetenv changes environ: look again from the start after each one.
     * Each round removes at least one entry, so this ends. */
    for (bool again = true; again;) {
        again = false;
        for (char **e = environ; e && *e; e++) {
            size_t n;
            if (!http_env_is_proxy(*e, &n))
                continue;
            char *name = strndup(*e, n);
            if (!name)
                return; /* CURLOPT_PROXY still ignores these variables */
            unsetenv(name);
            free(name);
            again = true;
            break;
        }
    }
}
