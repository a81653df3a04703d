/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/userdb.h: the groups of groups.db published again as
 * systemd's JSON group records (userdb_export = yes), in a drop-in
 * directory nss-systemd and userdbctl read with no daemon running.
 *
 * The format is systemd's (nss-systemd(8), "Static drop-in JSON user/group
 * records"; the fields are those of its JSON Group Records): per group a
 * world-readable NAME.group holding one record, a symbolic link GID.group
 * to it (lookups by gid), and per member a USER:GROUP.membership (one
 * newline: systemd 252 takes an empty drop-in for a mask and skips it).
 * A record carries groupName, gid, disposition "regular", the
 * organization's display name as description (':' and control characters
 * made spaces: the GECOS rules of the format), "service" MK_USERDB_SERVICE
 * (the mark of what this writer made) and the organization id under
 * MK_USERDB_ORG_ID_FIELD, a field of our own (the format allows a
 * project's prefixed extensions).
 *
 * Every file is replaced atomically (atomicfile.h: temporary file, fsync,
 * rename; a link is made under a temporary name and renamed over), and
 * only when it would change. Afterwards what the directory holds of ours
 * and the groups no longer have is removed: records carrying our mark,
 * links to such records, membership files and temporary files of such
 * groups. Nothing else is touched: a NAME.group or GID.group that is not
 * ours is left as it is, and that group (or its gid link) is not exported,
 * with a warning.
 *
 * Error convention: mk_status and err (MK_ERR_IO naming the directory or
 * file, MK_ERR_NOMEM); per-file trouble after the directory is open is a
 * warning to the sink, the rest still written. libc only.
 */
#ifndef MK_USERDB_H
#define MK_USERDB_H

#include <stddef.h>
#include <sys/types.h>

#include "base/log.h"
#include "base/mk_error.h"

/* Where systemd reads runtime drop-ins (a tmpfs: rebuilt at boot by
 * `mkio-orgs store publish`, conf/mkio-userdb.service). */
#define MK_USERDB_DEFAULT_DIR "/run/userdb"
/* The record's "service": the writer's mark. */
#define MK_USERDB_SERVICE "io.mk.mkio-orgs"
/* The record's field holding the organization id. */
#define MK_USERDB_ORG_ID_FIELD "io.mk.organizationId"

struct mk_userdb_group {
    const char *name;      /* the group name (as in groups.db) */
    gid_t gid;
    const char *org_id;
    const char *org_name;  /* display name, may be NULL (no description then) */
    const char *const *members;
    size_t member_count;
};

/* The record of g (malloc'd, ends with a newline), NULL on memory failure.
 * The same group gives the same bytes. */
char *mk_userdb_record(const struct mk_userdb_group *g);

/* Makes dir (created 0755 when missing; it must be a directory root, or
 * the effective user, owns and only the owner may write, trust.h) hold
 * exactly groups[0..n) (unique names and gids) as described above.
 * Warnings go to sink (may be NULL). */
mk_status mk_userdb_export(const char *dir, const struct mk_userdb_group *groups, size_t n,
                           const struct mk_log_sink *sink, mk_error *err);

#endif
