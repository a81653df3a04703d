/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/grouppolicy.h: which group name and gid each organization gets
 * (docs/ARCHITECTURE.md, invariant 3), as pure functions over the store in memory:
 * no file, no clock, no log. What is worth telling an administrator ("gid
 * taken, using ...") comes back as notes, which the caller hands to its
 * log sink.
 *
 * The rules:
 *   - a pinned organization gets exactly its pin's name and gid, unless a
 *     local group has that name or gid or another organization holds (or
 *     held) them: then it gets no group, and a note says why;
 *   - otherwise an organization keeps the group it has; a new one gets
 *     group_prefix + slug of its display name + a fragment of its id (8
 *     characters; 12, 16 and all of it when taken; then numbered), at most
 *     MK_GROUP_NAME_MAX characters, and the gid gid_min + FNV-1a 64(id) mod
 *     the range size, probing upwards (wrapping) past every gid taken;
 *   - never a name or gid of /etc/group, of a pin, of another organization,
 *     of another NSS source (the oracle, below), nor a retired gid; a gid
 *     taken away (a pin moved it, it no longer fits the configuration,
 *     another source took it) is retired, never given again.
 * Sets are built by appending and sorting once, or hashed (taken.h): the
 * work is near-linear in the number of organizations.
 *
 * Error convention: what can fail for a reason worth a sentence returns an
 * mk_status (mk_policy_check_config, mk_policy_assign); the small mutators
 * (mk_local_groups_add, mk_policy_drop_unfit) return 0 or -ENOMEM.
 */
#ifndef MK_GROUPPOLICY_H
#define MK_GROUPPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/config.h"
#include "base/mk_error.h"
#include "store/storefile.h"

/* What the policy has to say, in order; priorities as in log.h. */
struct mk_policy_note {
    int priority;
    char text[400];
};

struct mk_policy_notes {
    struct mk_policy_note *v;
    size_t n, cap;
};

void mk_policy_notes_free(struct mk_policy_notes *notes);

/* The local groups (/etc/group): add every entry, then finish once. */
struct mk_local_groups {
    char **names;   /* sorted, unique after finish */
    size_t name_count, name_cap;
    gid_t *gids;    /* sorted, unique after finish */
    size_t gid_count, gid_cap;
};

int mk_local_groups_add(struct mk_local_groups *etc, const char *name, gid_t gid);
void mk_local_groups_finish(struct mk_local_groups *etc);
bool mk_local_groups_has_name(const struct mk_local_groups *etc, const char *name);
bool mk_local_groups_has_gid(const struct mk_local_groups *etc, gid_t gid);
void mk_local_groups_free(struct mk_local_groups *etc);

/* MK_ERR_USAGE, with the sentence, when group_prefix or gid_range cannot
 * be used; state_dir too. */
mk_status mk_policy_check_config(const struct mk_config *cfg, mk_error *err);

/* The derived gid before probing: gid_min + FNV-1a 64(id) mod the range
 * size, the same on every machine. */
gid_t mk_policy_hashed_gid(const char *id, gid_t gid_min, gid_t gid_max);


/* Takes away every unpinned group that does not fit (a store written by
 * someone else, or group_prefix or gid_range changed since), retiring its
 * gid. 0 or -ENOMEM. */
int mk_policy_drop_unfit(struct mk_storefile *s, const struct mk_config *cfg,
                         struct mk_policy_notes *notes);

/* The oracle for every other source of groups (the system's NSS: files,
 * db, LDAP, SSSD, ... and our own module), asked one name or gid at a time
 * so that the policy stays pure. Each returns 1 when some group answers
 * (its name, cut to name_size, or its gid), 0 when none does, or a
 * negative errno when the lookup failed. */
struct mk_group_oracle {
    int (*by_gid)(void *ctx, gid_t gid, char *name, size_t name_size);
    int (*by_name)(void *ctx, const char *name, gid_t *gid);
    void *ctx;
};

/* How many names or gids the oracle may refuse (or fail to check) while
 * one organization's name or gid is chosen, before it gets none this time:
 * a bound on lookups when a source answers everything or is down. */
#define MK_POLICY_ORACLE_SKIPS 64

/* Gives every organization i with joined[i] its group (the rules above),
 * in id order, so that two machines with the same history choose alike.
 * An organization for which no name or gid is free gets none: the first
 * such failure is copied to *org_err and *org_status (MK_ERR_USAGE), the
 * others are notes. Returns MK_OK or MK_ERR_NOMEM (err).
 *
 * With an oracle (may be NULL), a name or gid is also taken when the
 * oracle answers it with a group other than the organization's own current
 * entry (the same name and gid the store holds for it, which groups.db
 * publishes): a new derived name or gid skips it (a note names the other
 * group; a failed lookup skips too), and a pin is not applied (a warning
 * names the other group; the organization gets no group). Organizations
 * with recheck[i] (recheck may be NULL) that already have a group are
 * checked again: a derived group whose gid /etc/group or the oracle now
 * gives another group moves to a new gid (the old one retired, never given
 * again; a warning names both groups), one whose name the oracle answers
 * with another group gets a new name; an applied pin that clashes is
 * withdrawn (no group, warning; applied again once the clash is gone). A
 * failed lookup never moves an existing group. The oracle is asked only
 * about joined organizations: callers keep a login's lookups to the user's
 * organizations by what they put in recheck. */
mk_status mk_policy_assign(struct mk_storefile *s, const bool *joined, const bool *recheck,
                           const struct mk_config *cfg, const struct mk_local_groups *etc,
                           const struct mk_group_oracle *oracle,
                           struct mk_policy_notes *notes, mk_status *org_status,
                           mk_error *org_err, mk_error *err);

/* Whether o's group goes into groups.db: it matches its pin (or it has no
 * pin and is not pinned), it fits the configuration, and no local group
 * has its name or gid (local groups win). With notes, says why not. */
bool mk_policy_org_active(const struct mk_storefile_org *o, const struct mk_config *cfg,
                          const struct mk_local_groups *etc, struct mk_policy_notes *notes);

/* Whether o holds the group a write keeps without asking anyone: it has a
 * group, its pin's when cfg pins it, and is not marked pinned otherwise
 * (a pin not applied, or withdrawn, is tried again by every write). */
bool mk_policy_org_settled(const struct mk_storefile_org *o, const struct mk_config *cfg);

#endif
