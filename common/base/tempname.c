/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/tempname.c: see tempname.h. */
#include "base/tempname.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char tempname_alphabet[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

void mk_tempname_suffix(char out[MK_TEMPNAME_RANDOM + 1])
{
    unsigned char r[MK_TEMPNAME_RANDOM];

    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        uint64_t v;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 44);
        for (size_t i = 0; i < sizeof(r); i++) {
            v = v * 6364136223846793005ull + 1442695040888963407ull;
            r[i] = (unsigned char)(v >> 56);
        }
    }
    for (size_t i = 0; i < sizeof(r); i++)
        out[i] = tempname_alphabet[r[i] % (sizeof(tempname_alphabet) - 1)];
    out[MK_TEMPNAME_RANDOM] = '\0';
}

bool mk_tempname_is_suffix(const char *s)
{
    return strlen(s) == MK_TEMPNAME_RANDOM && strspn(s, tempname_alphabet) == MK_TEMPNAME_RANDOM;
}
