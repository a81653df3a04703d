/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config_pins.h: the configuration's pins indexed by
 * organization id, group name and gid (the reader's own interface, not the
 * store's: store/config.h is).
 *
 * A fleet's ids file pins every organization it knows (store/ids.h), so a
 * configuration may hold 100,000 pins: each pin's uniqueness is checked
 * against this index in O(1) instead of against every pin before it, and
 * mk_config_pin_for looks a pin up in it. Open addressing (base/hashset.h):
 * three tables of pin numbers + 1, 0 for an empty slot. Negative errno
 * convention. */
#ifndef MK_STORE_CONFIG_PINS_H
#define MK_STORE_CONFIG_PINS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/config.h"

struct mk_config_pin_index {
    uint32_t *by_id, *by_name, *by_gid;
    size_t cap;   /* slots of each table, a power of two; 0 before the first add */
    size_t n;     /* pins added */
};

/* What an earlier pin shares with the one added. */
enum config_pin_clash { CONFIG_PIN_NEW, CONFIG_PIN_SAME_ID, CONFIG_PIN_SAME_NAME,
                        CONFIG_PIN_SAME_GID };

/* Adds pins[i] (its id canonical and its name valid) to x. When an earlier
 * pin of x has its id, its name or its gid (asked in that order), nothing is
 * added, *clash says which and *other is that pin's number. Returns 0, or
 * -ENOMEM (x unchanged). */
int config_pin_index_add(struct mk_config_pin_index *x, const struct mk_pin *pins, size_t i,
                         enum config_pin_clash *clash, size_t *other);

/* The number of the pin of id (canonical) in x, or -1. */
ssize_t config_pin_index_find(const struct mk_config_pin_index *x, const struct mk_pin *pins,
                              const char *id);

/* x made for all of cfg's pins (malloc'd), or NULL on memory or when two
 * share an id, a name or a gid (config_check refuses such a set). */
struct mk_config_pin_index *config_pin_index_build(const struct mk_config *cfg);

/* Frees x's tables and zeroes it (x itself stays: a parser's own index);
 * config_pin_index_free also frees x, from config_pin_index_build. */
void config_pin_index_clear(struct mk_config_pin_index *x);
void config_pin_index_free(struct mk_config_pin_index *x);

#endif
