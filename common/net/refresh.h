/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/refresh.h: one user's refresh, shared by pam_mkio and `mkio-orgs sync`.
 *
 * Lists the user's organizations, accepts (concurrently) the pending invites
 * the policy allows when asked to (the server, never this client, decides
 * whether an invite has expired), and replaces the
 * user's memberships in the store with the organizations joined. It never
 * declines and never leaves. The whole operation stays inside budget_ms.
 * If listing fails, the store is not touched (the last good data stays).
 *
 * With write_store, every attempt is recorded in the user's refresh record
 * (userstate.h): a success when the list was whole and the store written,
 * else a failure with the error's text (a 401 too); account checks decide
 * from it whether to call MK.IO at all, `status` shows it. A failure that
 * leaves the user's last recorded success older than max_stale recompiles
 * groups.db (mk_store_publish), so that their groups leave it at once.
 * Neither step fails the refresh: a problem with either is a warning to
 * opts->log.
 *
 * Error convention, as in all of net/ (docs/ARCHITECTURE.md, "Error
 * conventions"): MK_OK, or the failure with err set by mk_error_set.
 */
#ifndef MK_REFRESH_H
#define MK_REFRESH_H

#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/config.h"
#include "store/store.h"
#include "store/store_env.h"
#include "base/log.h"
#include "base/mk_error.h"

enum mk_refresh_outcome {
    MK_REFRESH_MEMBER,        /* already joined before this refresh */
    MK_REFRESH_ACCEPTED,      /* joined now: the invite was accepted */
    MK_REFRESH_SKIPPED,       /* pending; the policy does not allow it (detail says why) */
    MK_REFRESH_NOT_ACCEPTING, /* pending; this refresh was told not to accept */
    MK_REFRESH_EXPIRED,       /* the server lists the invite as expired (legacy state): ask for a re-send */
    MK_REFRESH_FAILED,        /* accepting failed (detail, ref) */
    MK_REFRESH_OTHER,         /* an invite in another state (declined, ...) */
};

struct mk_refresh_org {
    char *org_id;
    char *org_name;           /* may be NULL */
    char *inviter_email;      /* may be NULL */
    enum mk_refresh_outcome outcome;
    char detail[512];         /* why skipped / failed, for logs */
    char ref[128];            /* the API's ref when accepting failed */
};

struct mk_refresh_options {
    bool accept;              /* accept allowed pending invites */
    int64_t budget_ms;        /* whole operation; <= 0 means cfg->budget_ms */
    long lock_timeout_ms;     /* for the store's lock; bounded by what is left of the budget */
    bool write_store;         /* false: only talk to the API (tests, dry runs) */
    const struct mk_log_sink *log; /* the store's warnings; NULL drops them */
    const struct mk_store_env *store_env; /* the store's (store_env.h); NULL: production */
};

struct mk_refresh_result {
    struct mk_refresh_org *orgs;
    size_t count;
    size_t members, accepted, skipped, expired, failed;
    bool store_written;
    struct mk_store_change change;  /* with store_written: the user's groups added and
                                     * removed (store.h) */
};

mk_status mk_refresh_user(const struct mk_config *cfg, const char *user, const char *token,
                          const struct mk_refresh_options *opts,
                          struct mk_refresh_result *out, mk_error *err);

void mk_refresh_result_free(struct mk_refresh_result *res);

const char *mk_refresh_outcome_name(enum mk_refresh_outcome outcome);

#endif
