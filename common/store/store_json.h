/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/store_json.h: store.json's text, the codec of the model of
 * storefile.h: loading (parse, bound and repair) and serializing.
 *
 * Loading bounds and repairs every field (display names through
 * mk_display_name_repair; ids canonicalized, two ids that become one keep
 * the first and retire the other's gid) and refuses anything else as
 * corrupt, leaving the file untouched: it holds the gid history. The
 * parser is one of exactly this schema (json_scan.h says why and which
 * JSON it accepts); the serializer writes one organization or user per
 * line. Neither is linked by the login gate, which needs only the trust
 * checks (trust.h) and the users' records (userstate.h).
 *
 * Error convention: functions return an mk_status and fill err naming the
 * file: MK_ERR_IO for a file that may not be believed, cannot be read, is
 * too large or is corrupt; MK_ERR_NOMEM; MK_ERR_USAGE for a path too long.
 */
#ifndef MK_STORE_JSON_H
#define MK_STORE_JSON_H

#include <stddef.h>

#include "base/log.h"
#include "base/mk_error.h"
#include "store/storefile.h"

/* The version of the schema this program reads and writes. */
#define MK_STORE_JSON_VERSION 1
/* The largest store.json read (at 100,000 organizations it is tens of MB). */
#define MK_STORE_JSON_MAX_BYTES (256L * 1024 * 1024)

/* Loads store.json from dirfd (dir for messages) into s, opened and checked
 * as mk_trust_openat does; a missing file is an empty store. What loading
 * repaired is reported to sink. On failure s is empty. */
mk_status mk_store_json_load(int dirfd, const char *dir, struct mk_storefile *s,
                             const struct mk_log_sink *sink, mk_error *err);

/* Parses text[0..len) (any bytes; no terminating NUL needed) as the
 * contents of store.json into s, exactly as mk_store_json_load does; path
 * names the file in messages. On failure s is empty and err says why,
 * naming path. For tests and the fuzz target: the loader is this over the
 * file's bytes. */
mk_status mk_store_json_parse(const char *text, size_t len, const char *path,
                              struct mk_storefile *s, const struct mk_log_sink *sink,
                              mk_error *err);

/* The JSON text of s (malloc'd, ends with a newline), NULL on memory
 * failure. The same store gives the same bytes. */
char *mk_store_json_serialize(const struct mk_storefile *s);

/* Writes s[0..len) at o as a JSON string ('"', '\\', DEL and control
 * characters escaped, the rest as it is: the caller gives valid UTF-8) and
 * returns the end: at most 6 * len + 2 bytes, which the caller reserved. */
char *mk_store_json_put_string(char *o, const char *s, size_t len);

#endif
