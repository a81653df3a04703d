/* common/grouppolicy.h: which group name and gid each organization gets
 * (architecture invariant 3), as pure functions over the store in memory:
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
 *     nor a retired gid; a gid taken away (a pin moved it, it no longer
 *     fits the configuration) is retired, never given again.
 * Sets are built by appending and sorting once, or hashed: the work is
 * near-linear in the number of organizations.
 */
#ifndef MK_GROUPPOLICY_H
#define MK_GROUPPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "mk_error.h"
#include "storefile.h"

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

/* Whether o's group is one this configuration could have given it: exactly
 * the pin for its id, or a name with group_prefix and a gid in gid_range. */
bool mk_policy_org_fits(const struct mk_storefile_org *o, const struct mk_config *cfg);

/* Takes away every unpinned group that does not fit (a store written by
 * someone else, or group_prefix or gid_range changed since), retiring its
 * gid. 0 or -ENOMEM. */
int mk_policy_drop_unfit(struct mk_storefile *s, const struct mk_config *cfg,
                         struct mk_policy_notes *notes);

/* Gives every organization i with joined[i] its group (the rules above),
 * in id order, so that two machines with the same history choose alike.
 * An organization for which no name or gid is free gets none: the first
 * such failure is copied to *org_err and *org_status (MK_ERR_USAGE), the
 * others are notes. Returns MK_OK or MK_ERR_NOMEM (err). */
mk_status mk_policy_assign(struct mk_storefile *s, const bool *joined,
                           const struct mk_config *cfg, const struct mk_local_groups *etc,
                           struct mk_policy_notes *notes, mk_status *org_status,
                           mk_error *org_err, mk_error *err);

/* Whether o's group goes into groups.db: it matches its pin (or it has no
 * pin and is not pinned), it fits the configuration, and no local group
 * has its name or gid (local groups win). With notes, says why not. */
bool mk_policy_org_active(const struct mk_storefile_org *o, const struct mk_config *cfg,
                          const struct mk_local_groups *etc, struct mk_policy_notes *notes);

#endif
