/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/ids.h: one allocation for a fleet. `mkio-orgs ids export`
 * writes what this host's store has given (each organization's group name
 * and gid, the retired gids) as lines mkio.conf's reader takes, and a host
 * whose ids_file names such a file takes them as pins (mk_config_load,
 * store/config.h), so every host gives an organization the same group.
 *
 * The format (mkio.conf(5), "IDS FILE"), one line each, in this order:
 *   # comment lines (what the file is, and organizations without a group)
 *   pin = ORG_ID GROUP_NAME GID     every organization with a group, by id
 *   retired = GID                   every retired gid, ascending
 * It is valid configuration: the lines can go into mkio.conf itself.
 */
#ifndef MK_IDS_H
#define MK_IDS_H

#include <stdbool.h>
#include <stddef.h>

#include "store/config.h"
#include "store/store_env.h"
#include "base/mk_error.h"

/* The export of cfg's store (read as mk_store_read reads it: same checks,
 * no lock) into *text (NUL-terminated, *len bytes, the caller frees):
 * every organization of the store with its pin when the configuration has
 * one (applied here or not), else its group; every pin of the configuration
 * for an organization the store has not met, and every retired gid of the
 * store and the configuration, except a gid a pin line gives. With
 * new_only, only what this host derived and the configuration's pins (the
 * ids file among them) lack: the groups that are no pin, and the retired
 * gids the configuration does not list; for the admin to merge into the
 * ids file. MK_ERR_IO when the store cannot be read or believed. */
mk_status mk_ids_export(const struct mk_config *cfg, const struct mk_store_env *env,
                        bool new_only, char **text, size_t *len, mk_error *err);

#endif
