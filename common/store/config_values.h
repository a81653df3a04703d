/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config_values.h: the syntax of one value of mkio.conf, and
 * the rule of each text and list key (config_values.c), for the key table
 * (config_fields.c) and the line parser (config_parse.c). Internal to the
 * configuration reader: the rest of the tree includes store/config.h.
 * Each returns true (or NULL for a problem) when the value is allowed.
 */
#ifndef MK_CONFIG_VALUES_H
#define MK_CONFIG_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/config.h"

/* A number of bytes with an optional K or M suffix. */
bool config_parse_size(const char *s, uint64_t *out);
/* yes/no, true/false, on/off, 1/0, any case. */
bool config_parse_bool(const char *s, bool *out);
/* Seconds with decimals, or a number with a suffix s, m, h or d, into ms. */
bool config_parse_duration(const char *value, int64_t *ms);

/* The rules of the text keys (text_ok of config_fields); s may be NULL. */
bool config_absolute_path_ok(const char *s);
bool config_absolute_path_or_empty_ok(const char *s);
bool config_relative_path_ok(const char *s);
bool config_group_prefix_ok(const char *s);
bool config_auth_header_ok(const char *s);

/* The rules of the list keys (word of config_fields): whether in is one
 * entry, and its kept form into out (out_len bytes). */
bool config_word_org_id(const char *in, char *out, size_t out_len);
bool config_word_domain(const char *in, char *out, size_t out_len);
bool config_word_user(const char *in, char *out, size_t out_len);
bool config_word_service(const char *in, char *out, size_t out_len);
/* A gid from 1 to 4294967294, kept in canonical decimal. */
bool config_word_gid(const char *in, char *out, size_t out_len);


/* The same, judged in the user namespace whose gid map is at gid_map (NULL:
 * /proc/self/gid_map): inside one (a map that is not the identity, then
 * *in_userns is set), a range inside MK_CONFIG_USERNS_GID_FIRST..LAST that
 * the map covers is usable too. */
const char *config_gid_range_problem_in(uint64_t lo, uint64_t hi, const char *gid_map,
                                        bool *in_userns);

/* Stores url as cfg->base_url without trailing slashes; false on memory. */
bool config_set_base_url(struct mk_config *cfg, const char *url);

#endif
