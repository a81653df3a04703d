/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/refresh.c: one user's refresh (see refresh.h).
 *
 * The order matters for invariant 4: everything that talks to MK.IO happens
 * first, and the store is written only once the list is known to be whole.
 * A failed accept does not stop the refresh: the organizations already
 * joined are still written, and the failure is reported per organization.
 */
#include "net/refresh.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/api.h"
#include "net/http.h"
#include "store/store.h"
#include "base/text.h"
#include "store/userstate.h"

const char *mk_refresh_outcome_name(enum mk_refresh_outcome outcome)
{
    switch (outcome) {
    case MK_REFRESH_MEMBER: return "member";
    case MK_REFRESH_ACCEPTED: return "accepted";
    case MK_REFRESH_SKIPPED: return "skipped";
    case MK_REFRESH_NOT_ACCEPTING: return "not-accepting";
    case MK_REFRESH_EXPIRED: return "expired";
    case MK_REFRESH_FAILED: return "failed";
    case MK_REFRESH_OTHER: return "other";
    }
    return "unknown";
}

void mk_refresh_result_free(struct mk_refresh_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->count; i++) {
        free(res->orgs[i].org_id);
        free(res->orgs[i].org_name);
        free(res->orgs[i].inviter_email);
    }
    free(res->orgs);
    mk_store_change_free(&res->change);
    memset(res, 0, sizeof(*res));
}

static int refresh_strdup(const char *s, char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : -1;
}

/* Decides what to do with one listed organization without any I/O. An
 * invite that names no state is taken as pending (the first edition's
 * shape). Expiry is never decided here: the records carry none (a legacy
 * "expires" is for display), so a pending invite the policy allows is tried
 * and the server answers (400, 404 or 409 when it is gone). Only a state the
 * server itself sends as "expired" (legacy) is reported as expired. */
static enum mk_refresh_outcome refresh_classify(const struct mk_config *cfg,
                                                const struct mk_refresh_options *opts,
                                                const struct mk_user_org *org,
                                                char *detail, size_t detail_len)
{
    /* An id the store cannot take would make it refuse the whole user:
     * leave that one organization out, and say why. The policy compares
     * canonical ids; the API is still called with its own spelling. */
    char id[MK_ORG_ID_MAX + 1];
    if (!mk_org_id_canonical(org->id, id)) {
        snprintf(detail, detail_len, "its id cannot name a local group; left out");
        return MK_REFRESH_OTHER;
    }
    if (!org->has_invite)
        return MK_REFRESH_MEMBER;

    const char *state = org->invite.state ? org->invite.state : "pending";
    if (strcmp(state, "accepted") == 0)
        return MK_REFRESH_MEMBER;
    if (strcmp(state, "expired") == 0) {
        snprintf(detail, detail_len, "the server says the invite expired; ask the organization's admin to send a new one");
        return MK_REFRESH_EXPIRED;
    }
    if (strcmp(state, "pending") != 0) {
        snprintf(detail, detail_len, "the invite is %s", state);
        return MK_REFRESH_OTHER;
    }

    const char *why = NULL;
    if (!mk_config_invite_allowed(cfg, id, org->invite.sender.email, &why)) {
        snprintf(detail, detail_len, "%s", why ? why : "the invite policy does not allow it");
        return MK_REFRESH_SKIPPED;
    }
    if (!opts->accept) {
        snprintf(detail, detail_len, "pending; not accepted by this run");
        return MK_REFRESH_NOT_ACCEPTING;
    }
    return MK_REFRESH_ACCEPTED; /* tentatively: becomes FAILED if the PATCH fails */
}

/* Accepts the organizations marked ACCEPTED in res, all at once, and marks
 * those that failed. A 400, 404 or 409 (expired, cancelled or answered) is
 * a failure like any other, reported once with the API's detail, ref and
 * advice; the API layer never retries it. */
static mk_status refresh_accept(mk_http *http, struct mk_refresh_result *res, mk_error *err)
{
    mk_status rc = MK_OK;
    size_t n = 0;
    const char **ids = NULL;
    size_t *index = NULL;
    mk_status *statuses = NULL;
    mk_error *errs = NULL;

    for (size_t i = 0; i < res->count; i++)
        if (res->orgs[i].outcome == MK_REFRESH_ACCEPTED)
            n++;
    if (n == 0)
        goto out;

    ids = calloc(n, sizeof(*ids));
    index = calloc(n, sizeof(*index));
    statuses = calloc(n, sizeof(*statuses));
    errs = calloc(n, sizeof(*errs));
    if (!ids || !index || !statuses || !errs) {
        rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0, j = 0; i < res->count; i++) {
        if (res->orgs[i].outcome != MK_REFRESH_ACCEPTED)
            continue;
        ids[j] = res->orgs[i].org_id;
        index[j] = i;
        /* What a request the API layer never got to reports. */
        statuses[j] = MK_ERR_UNAVAILABLE;
        mk_error_set(&errs[j], MK_ERR_UNAVAILABLE, "not attempted: the time budget was spent");
        j++;
    }

    (void)mk_user_org_accept_many(http, ids, n, statuses, errs);

    for (size_t j = 0; j < n; j++) {
        struct mk_refresh_org *org = &res->orgs[index[j]];
        if (statuses[j] == MK_OK)
            continue;
        org->outcome = MK_REFRESH_FAILED;
        snprintf(org->detail, sizeof(org->detail), "%s", errs[j].message);
        snprintf(org->ref, sizeof(org->ref), "%s", errs[j].ref);
    }

out:
    free(ids);
    free(index);
    free(statuses);
    free(errs);
    return rc;
}

static void refresh_count(struct mk_refresh_result *res)
{
    res->members = res->accepted = res->skipped = res->expired = res->failed = 0;
    for (size_t i = 0; i < res->count; i++) {
        switch (res->orgs[i].outcome) {
        case MK_REFRESH_MEMBER: res->members++; break;
        case MK_REFRESH_ACCEPTED: res->accepted++; break;
        case MK_REFRESH_SKIPPED: res->skipped++; break;
        case MK_REFRESH_EXPIRED: res->expired++; break;
        case MK_REFRESH_FAILED: res->failed++; break;
        case MK_REFRESH_NOT_ACCEPTING:
        case MK_REFRESH_OTHER: break;
        }
    }
}

/* The store's lock wait: what the options give, bounded by what is left of
 * the budget (http NULL: the options alone). */
static long refresh_lock_timeout(const struct mk_refresh_options *opts, mk_http *http)
{
    int64_t remaining = http ? mk_http_remaining_ms(http) : opts->lock_timeout_ms;
    long lock_timeout = opts->lock_timeout_ms > 0 && opts->lock_timeout_ms < remaining
                        ? opts->lock_timeout_ms : (long)remaining;
    return lock_timeout < 0 ? 0 : lock_timeout;
}

static mk_status refresh_write_store(const struct mk_config *cfg, const char *user,
                                     const struct mk_refresh_options *opts, mk_http *http,
                                     struct mk_refresh_result *res, mk_error *err)
{
    mk_status rc = MK_OK;
    size_t n = 0;
    struct mk_membership *joined = calloc(res->count ? res->count : 1, sizeof(*joined));
    if (!joined)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");

    for (size_t i = 0; i < res->count; i++) {
        const struct mk_refresh_org *org = &res->orgs[i];
        if (org->outcome != MK_REFRESH_MEMBER && org->outcome != MK_REFRESH_ACCEPTED)
            continue;
        joined[n].org_id = org->org_id;
        joined[n].org_name = org->org_name;
        n++;
    }

    /* The lock wait is the one local step that can take long: it gets what
     * is left of the budget, never more. */
    rc = mk_store_set_user_changes(cfg, opts->store_env, user, joined, n,
                                   refresh_lock_timeout(opts, http), opts->log, &res->change,
                                   err);
    if (rc != MK_OK) {
        mk_error_prefix(err, "updating the membership store");
        goto out;
    }
    res->store_written = true;

out:
    free(joined);
    return rc;
}

/* Records this attempt in the user's refresh record (userstate.h): a
 * success when the list was whole and the store written, else the error.
 * After a failure that may have made the user stale (max_stale), groups.db
 * is compiled again, so that their groups leave it now rather than at the
 * next write; the store decides who is stale and rewrites nothing when
 * nobody changed. Neither step can fail the refresh: their errors are
 * warnings. */
static void refresh_record(const struct mk_config *cfg, const char *user,
                           const struct mk_refresh_options *opts, long lock_timeout_ms,
                           mk_status rc, const mk_error *err)
{
    int64_t now = (int64_t)time(NULL);
    struct mk_user_state record;
    mk_error rec_err;

    mk_error_clear(&rec_err);
    if (mk_user_state_record(cfg, user, now, rc == MK_OK,
                             rc == MK_OK || !err ? NULL : err->message, &rec_err) != MK_OK) {
        mk_log(opts->log, MK_LOG_WARNING, "user %s: cannot record this refresh: %s", user,
               rec_err.message);
        return;
    }
    if (rc == MK_OK || cfg->max_stale_ms <= 0)
        return;
    /* Only a user whose last recorded success is past the bound can have
     * just turned stale; one who never had a success recorded has nothing
     * in the store to hide (or is hidden by the store's next write, which
     * decides with the store's own time), and the store is left untouched. */
    if (mk_user_state_read(cfg, user, &record, &rec_err) != MK_OK || record.last_success <= 0 ||
        !mk_user_state_stale(cfg, record.last_success, now))
        return;
    if (mk_store_publish(cfg, opts->store_env, lock_timeout_ms, opts->log, &rec_err) != MK_OK)
        mk_log(opts->log, MK_LOG_WARNING, "user %s: cannot recompile the group file after a "
               "failed refresh: %s", user, rec_err.message);
}

/* Whether the accepts of this refresh should find their TCP connections
 * made while the list is in flight (mk_http_preconnect): on the user's
 * first refresh (no refresh record), the one that meets every invite a new
 * user was sent. Later refreshes find at most the few invites sent since,
 * and a login that accepts nothing should not make connections it does not
 * use; they do not pre-connect. A first refresh that finds no invite costs
 * the unused connections' SYNs and FINs, no time (docs/ARCHITECTURE.md,
 * "What fast means"). */
static bool refresh_preconnect(const struct mk_config *cfg, const char *user,
                               const struct mk_refresh_options *opts)
{
    struct mk_user_state record;
    mk_error e;

    if (!opts->accept)
        return false;
    return mk_user_state_read(cfg, user, &record, &e) == MK_OK && record.last_attempt == 0;
}

mk_status mk_refresh_user(const struct mk_config *cfg, const char *user, const char *token,
                          const struct mk_refresh_options *opts,
                          struct mk_refresh_result *out, mk_error *err)
{
    mk_status rc = MK_OK;
    mk_http *http = NULL;
    struct mk_user_org_list list = { 0 };

    mk_error_clear(err);
    if (out)
        memset(out, 0, sizeof(*out));
    if (!cfg || !user || !*user || !token || !opts || !out)
        return mk_error_set(err, MK_ERR_USAGE, "refresh: missing configuration, user, token or options");

    int64_t budget = opts->budget_ms > 0 ? opts->budget_ms : cfg->budget_ms;

    rc = mk_http_new(cfg, token, &http, err);
    if (rc != MK_OK)
        goto out;
    mk_http_set_budget_ms(http, budget);
    if (refresh_preconnect(cfg, user, opts))
        mk_http_preconnect(http, SIZE_MAX);

    rc = mk_user_orgs_list(http, &list, err);
    if (rc != MK_OK) {
        mk_error_recontext(err, MK_API_LIST_ORGS_CONTEXT, "listing the organizations of %s", user);
        goto out;
    }

    if (list.count) {
        out->orgs = calloc(list.count, sizeof(*out->orgs));
        if (!out->orgs) {
            rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < list.count; i++) {
        const struct mk_user_org *org = &list.items[i];
        struct mk_refresh_org *dst = &out->orgs[i];
        out->count = i + 1;
        if (refresh_strdup(org->id, &dst->org_id) || refresh_strdup(org->name, &dst->org_name) ||
            refresh_strdup(org->has_invite ? org->invite.sender.email : NULL, &dst->inviter_email)) {
            rc = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            goto out;
        }
        dst->outcome = refresh_classify(cfg, opts, org, dst->detail, sizeof(dst->detail));
    }

    rc = refresh_accept(http, out, err);
    if (rc != MK_OK)
        goto out;
    refresh_count(out);

    if (opts->write_store)
        rc = refresh_write_store(cfg, user, opts, http, out, err);

out:
    if (opts->write_store)
        refresh_record(cfg, user, opts, refresh_lock_timeout(opts, http), rc, err);
    if (rc != MK_OK && out && !out->count)
        mk_refresh_result_free(out);
    mk_user_org_list_free(&list);
    if (http)
        mk_http_free(http);
    return rc;
}
