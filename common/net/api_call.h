/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api_call.h: one call of the MK.IO API (api_call.c): the
 * request sent through the HTTP client, the status judged, the body read.
 * Internal to the API layer (api.c, api_list.c); the rest of the tree
 * includes net/api.h, which declares mk_api_error_from_response and
 * mk_api_explain_not_found, also implemented there.
 */
#ifndef MK_NET_API_CALL_H
#define MK_NET_API_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "net/http.h"

/* One call: sends, judges the status and parses a 2xx body (*json may be
 * NULL when not wanted; it is NULL for an empty body). *received (when not
 * NULL) gets the size of the answer's body, 0 when none came. admin: the
 * call needs an administrator's token (for the message of a 403). MK_OK,
 * or the failure with err set (mk_error.h). */
mk_status api_call(mk_http *http, const char *method, const char *path, const char *body,
                   bool admin, json_object **json, size_t *received, mk_error *err);

#endif
