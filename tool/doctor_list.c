/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/doctor_list.c: the list-budget check of mkio-orgs doctor
 * (tool/doctor_list.h). A login lists the user's organizations to the end
 * within time_budget; the listing is bounded by max_list_records. An
 * administrator who raises the bound past what the server's pages deliver
 * in the budget gets logins that run out of time (issue 20): this check
 * measures one page and says when the two keys disagree. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "net/api.h"
#include "net/http.h"
#include "tool/doctor.h"
#include "tool/doctor_list.h"
#include "tool/util.h"

#define LIST_PATH "/api/v1/user/organizations"

/* What one page of the list showed. */
struct list_page {
    size_t records;   /* records on the page */
    bool paged;       /* the server said another page follows */
    int64_t ms;       /* the request's time, connection set-up included */
};

/* One GET of the list's first page, as a login sends it, timed. */
static mk_status list_first_page(struct doctor *d, struct list_page *page, mk_error *err)
{
    mk_http *http = NULL;
    struct mk_http_response resp;
    struct mk_http_request req = { .method = "GET", .path = LIST_PATH, .body = NULL };
    json_object *answer = NULL, *value = NULL;
    memset(&resp, 0, sizeof(resp));
    mk_status st = mk_http_new(&d->t->cfg, d->list_token, &http, err);
    if (st != MK_OK)
        return st;
    /* As doctor_profile: root never takes a proxy from the environment. */
    if (getuid() != 0 && geteuid() == getuid())
        mk_http_allow_env_proxy(http, true);
    int64_t start = mk_clock_ms();
    st = mk_http_do(http, &req, &resp, err);
    page->ms = mk_clock_elapsed_ms(start);
    if (st != MK_OK)
        goto out;
    if (resp.status < 200 || resp.status > 299) {
        st = mk_api_error_from_response(resp.status, resp.body, err);
        goto out;
    }
    answer = json_tokener_parse(resp.body);
    if (!answer || !json_object_object_get_ex(answer, "value", &value)
        || !json_object_is_type(value, json_type_array)) {
        st = mk_error_set(err, MK_ERR_PROTOCOL, "the answer has no \"value\" list");
        goto out;
    }
    page->records = json_object_array_length(value);
    bool done = true;
    long next = 0;
    if (json_object_object_get_ex(answer, "@odata.nextLink", NULL))
        done = page->records == 0;
    else if ((st = mk_api_next_page(answer, page->records, page->records, &next, &done, err))
             != MK_OK)
        goto out;
    page->paged = !done;
out:
    json_object_put(answer);
    mk_http_response_clear(&resp);
    mk_http_free(http);
    return st;
}

/* The warn, or the ok, from a page: a paged list of P records a page takes
 * ceil(max_list_records / P) requests of the page's time. The estimate is
 * high by the connection set-up a login pays only once. */
static void report_rate(struct doctor *d, const struct list_page *page)
{
    const struct mk_config *cfg = &d->t->cfg;
    if (!page->paged) {
        /* No time in the line: an ok line reads the same at every run. */
        doctor_add(d, DOCTOR_OK, "list-budget", NULL, "the server sent the organization list "
                   "unpaged (%zu records in one answer): max_list_records (%zu) takes no more "
                   "requests", page->records, cfg->max_list_records);
        return;
    }
    int64_t ms = page->ms > 0 ? page->ms : 1;
    uint64_t pages = (cfg->max_list_records + page->records - 1) / page->records;
    uint64_t est = pages * (uint64_t)ms;
    if (est <= (uint64_t)cfg->budget_ms && pages <= MK_API_MAX_PAGES) {
        doctor_add(d, DOCTOR_OK, "list-budget", NULL, "max_list_records (%zu) takes %llu pages "
                   "of %zu records, about %llu ms at the measured %lld ms a page: within "
                   "time_budget (%lld ms)", cfg->max_list_records, (unsigned long long)pages,
                   page->records, (unsigned long long)est, (long long)ms,
                   (long long)cfg->budget_ms);
        return;
    }
    uint64_t fit = (uint64_t)cfg->budget_ms / (uint64_t)ms * page->records;
    if (fit > (uint64_t)MK_API_MAX_PAGES * page->records)
        fit = (uint64_t)MK_API_MAX_PAGES * page->records;
    char *hint = doctor_hint("max_list_records and time_budget in %s disagree: lower "
                             "max_list_records to about %llu (what time_budget lists at this "
                             "rate), or raise time_budget", cfg->source,
                             (unsigned long long)(fit ? fit : page->records));
    doctor_add(d, DOCTOR_WARN, "list-budget", hint, "max_list_records (%zu) takes %llu pages "
               "of %zu records, about %llu ms at the measured %lld ms a page: more than "
               "time_budget (%lld ms)%s; a user with that many organizations cannot log in "
               "within the budget", cfg->max_list_records, (unsigned long long)pages,
               page->records, (unsigned long long)est, (long long)ms, (long long)cfg->budget_ms,
               pages > MK_API_MAX_PAGES ? ", and more than the 1000 pages a listing may take"
                                        : "");
    free(hint);
}

void doctor_check_list_budget(struct doctor *d)
{
    if (!doctor_need_config(d, "list-budget"))
        return;
    if (!d->list_token) {
        doctor_add(d, DOCTOR_OK, "list-budget", NULL, "not measured: no token MK.IO accepted "
                   "to list with (see token)");
        return;
    }
    struct list_page page = { 0 };
    mk_error err;
    mk_error_clear(&err);
    if (list_first_page(d, &page, &err) != MK_OK) {
        doctor_add(d, DOCTOR_WARN, "list-budget", "see the tls and token checks; then run "
                   "`mkio-orgs doctor` again", "not measured: listing the organizations "
                   "failed: %s", err.message);
        return;
    }
    report_rate(d, &page);
}
