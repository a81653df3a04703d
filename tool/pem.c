/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/pem.c: counts the certificate blocks of PEM text (tool/pem.h). */
#include <string.h>

#include "base/text.h"
#include "tool/pem.h"

size_t pem_count_certificates(const char *text, bool *bad)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    size_t n = 0;
    const char *p = text;
    *bad = false;
    while ((p = strstr(p, begin)) != NULL) {
        const char *body = p + sizeof(begin) - 1;
        const char *stop = strstr(body, end);
        if (!stop) {
            *bad = true;
            break;
        }
        size_t chars = 0;
        for (const char *q = body; q < stop; q++) {
            unsigned char c = (unsigned char)*q;
            if (mk_ascii_alnum(c) || c == '+' || c == '/' || c == '=')
                chars++;
            else if (!mk_ascii_space(c)) {
                *bad = true;
                break;
            }
        }
        if (*bad)
            break;
        if (chars < 64) { /* far shorter than any certificate */
            *bad = true;
            break;
        }
        n++;
        p = stop + sizeof(end) - 1;
    }
    return n;
}
