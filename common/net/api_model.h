/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api_model.h: reading the server's JSON (api_model.c), for the
 * calls (api_call.c, api_list.c). Internal to the API layer: the rest of
 * the tree includes net/api.h, which declares the record readers
 * (mk_parse_user_org, mk_parse_invite, mk_parse_time) this file
 * implements.
 */
#ifndef MK_NET_API_MODEL_H
#define MK_NET_API_MODEL_H

#include <stddef.h>

#include <json-c/json.h>

/* The server's text for a message: through the one output sanitizer. */
void api_clean_copy(char *dst, size_t size, const char *src);
/* The member key of obj, or NULL when absent or null (or obj no object). */
json_object *api_member(json_object *obj, const char *key);

#endif
