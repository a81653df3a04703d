/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/http_policy.c: the HTTP client's retry policy as pure
 * functions (net/http.h, "Policy as pure functions"): which statuses are
 * retried, the back-off, and Retry-After. The engine (http.c) asks them.
 */
#include "net/http.h"
#include "base/text.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define HTTP_BACKOFF_BASE_MS INT64_C(200)
#define HTTP_BACKOFF_CAP_MS INT64_C(5000)
/* The least time worth starting an attempt with; a retry that would leave
 * less than this of the budget is not made. */
#define HTTP_MIN_ATTEMPT_MS INT64_C(100)

bool mk_http_status_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

int64_t mk_http_backoff_ms(const struct mk_config *cfg, unsigned attempt,
                           int64_t retry_after_ms, uint32_t jitter, int64_t remaining_ms)
{
    if (attempt == 0 || attempt > cfg->retries)
        return -1;
    int64_t delay = HTTP_BACKOFF_BASE_MS;
    for (unsigned i = 1; i < attempt && delay < HTTP_BACKOFF_CAP_MS; i++)
        delay *= 2;
    if (delay > HTTP_BACKOFF_CAP_MS)
        delay = HTTP_BACKOFF_CAP_MS;
    int64_t half = delay / 2;
    delay = half + (int64_t)(jitter % (uint32_t)(delay - half + 1));
    if (retry_after_ms >= 0 && retry_after_ms > delay)
        delay = retry_after_ms;
    if (remaining_ms < 0 || delay > remaining_ms - HTTP_MIN_ATTEMPT_MS)
        return -1;
    return delay;
}

static const char *const http_months[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Skips spaces and tabs. */
static const char *http_skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Skips min_digits to max_digits ASCII digits at *p; false when fewer. */
static bool http_skip_digits(const char **p, int min_digits, int max_digits)
{
    int n = 0;
    while (n < max_digits && mk_ascii_digit((*p)[n]))
        n++;
    if (n < min_digits)
        return false;
    *p += n;
    return true;
}

/* Whether s has the form of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37
 * GMT", the one form of HTTP-date a sender generates (RFC 9110, 5.6.7),
 * blanks between the parts tolerated. curl_getdate alone would also take
 * the obsolete forms, two-digit years, no zone or another zone, and any
 * case of the month; a Retry-After is read in this form only. */
static bool http_imf_fixdate_form(const char *s)
{
    const char *comma = strchr(s, ',');
    const char *p;
    bool month = false;

    if (!comma || comma - s != 3)
        return false;
    p = http_skip_blanks(comma + 1);
    if (!http_skip_digits(&p, 1, 2))
        return false;
    p = http_skip_blanks(p);
    for (int i = 0; i < 12; i++)
        month = month || strncmp(p, http_months[i], 3) == 0;
    if (!month)
        return false;
    p = http_skip_blanks(p + 3);
    if (!http_skip_digits(&p, 4, 4))
        return false;
    p = http_skip_blanks(p);
    if (!http_skip_digits(&p, 2, 2) || *p++ != ':' || !http_skip_digits(&p, 2, 2) ||
        *p++ != ':' || !http_skip_digits(&p, 2, 2))
        return false;
    p = http_skip_blanks(p);
    return strncmp(p, "GMT", 3) == 0 && *http_skip_blanks(p + 3) == '\0';
}

/* An IMF-fixdate as seconds since the epoch: the form checked here, the
 * date and its ranges (day, hour, minute, second) by libcurl's
 * curl_getdate, which reads the names in English whatever the locale.
 * Dates before 1970 are refused. */
static bool http_parse_imf_date(const char *s, time_t *out)
{
    if (!http_imf_fixdate_form(s))
        return false;
    *out = curl_getdate(s, NULL);
    return *out >= 0;
}

/* A Retry-After beyond this many seconds (three years) only has to be too
 * long to wait for. */
#define HTTP_RETRY_AFTER_MAX_S INT64_C(100000000)

int64_t mk_http_parse_retry_after(const char *value, int64_t now_epoch_s)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value == '\0')
        return -1;
    if (mk_ascii_digit(*value)) {
        int64_t seconds = 0;
        const char *p = value;
        for (; mk_ascii_digit(*p); p++) {
            if (seconds < HTTP_RETRY_AFTER_MAX_S)
                seconds = seconds * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '\0')
            return -1;
        return seconds * 1000;
    }
    time_t when;
    if (!http_parse_imf_date(value, &when))
        return -1;
    if ((int64_t)when <= now_epoch_s)
        return 0;
    int64_t delta = (int64_t)when - now_epoch_s;
    if (delta > HTTP_RETRY_AFTER_MAX_S)
        delta = HTTP_RETRY_AFTER_MAX_S;
    return delta * 1000;
}
