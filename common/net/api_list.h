/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/api_list.h: a list endpoint of the MK.IO API followed to its
 * end (api_list.c), page by page. Internal to the API layer (api.c); the
 * rest of the tree includes net/api.h, which declares mk_api_next_page and
 * mk_api_resolve_next_link, also implemented there.
 */
#ifndef MK_NET_API_LIST_H
#define MK_NET_API_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "net/http.h"

/* Reads record `index` (counted from 0 in the whole list) from obj into
 * element `at` of items. */
typedef mk_status (*api_item_fn)(json_object *obj, size_t index, void *items, size_t at,
                                 mk_error *err);

/* Follows a list endpoint to its end, growing *items (of item_size bytes
 * each) by parse_item. `what` names the list in messages. The whole listing
 * is bounded by max_list_records and max_list_size of the configuration, as
 * one page is by max_response_size. On failure *count items are filled for
 * the caller to free; MK_OK or the failure with err set (mk_error.h). */
mk_status api_list(mk_http *http, const char *base, const char *what, bool admin,
                   size_t item_size, api_item_fn parse_item, void **items, size_t *count,
                   mk_error *err);

#endif
