/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/ids.c: the export of a host's allocation as an ids file
 * (store/ids.h); the file is read by the configuration reader (config.c). */
#include "store/ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/trust.h"
#include "store/store_json.h"
#include "store/storefile.h"

static int ids_cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

/* Whether a pin line of the export gives gid: a group of the store, or a
 * configured pin (then a retired line for it would refuse the pin). */
static bool ids_gid_pinned(const struct mk_config *cfg, const struct mk_storefile *s, gid_t gid)
{
    for (size_t i = 0; i < cfg->pin_count; i++)
        if (cfg->pins[i].gid == gid)
            return true;
    for (size_t i = 0; i < s->org_count; i++)
        if (s->orgs[i].group && s->orgs[i].gid == gid)
            return true;
    return false;
}

/* The retired lines: the store's and the configuration's gids, ascending,
 * each once, none a pin line gives; new_only: the store's the
 * configuration lacks. 0 or -ENOMEM. */
static int ids_put_retired(FILE *f, const struct mk_config *cfg, const struct mk_storefile *s,
                           bool new_only)
{
    size_t n = 0;
    gid_t *all = calloc(s->retired_count + cfg->retired_count + 1, sizeof(*all));
    if (!all)
        return -1;
    for (size_t i = 0; i < s->retired_count; i++)
        if (!new_only || !mk_config_gid_retired(cfg, s->retired[i]))
            all[n++] = s->retired[i];
    for (size_t i = 0; !new_only && i < cfg->retired_count; i++)
        all[n++] = (gid_t)strtoul(cfg->retired[i], NULL, 10);
    qsort(all, n, sizeof(*all), ids_cmp_gid);
    for (size_t i = 0; i < n; i++)
        if ((i == 0 || all[i] != all[i - 1]) && !ids_gid_pinned(cfg, s, all[i]))
            fprintf(f, "retired = %lu\n", (unsigned long)all[i]);
    free(all);
    return 0;
}

/* The pin lines (and a comment for an organization with neither a group
 * nor a pin here), in id order: an organization's pin when the
 * configuration has one, else its group. */
static void ids_put_pins(FILE *f, const struct mk_config *cfg, const struct mk_storefile *s,
                         bool new_only)
{
    for (size_t i = 0; i < s->org_count; i++) {
        const struct mk_storefile_org *o = &s->orgs[i];
        const struct mk_pin *pin = mk_config_pin_for(cfg, o->id);
        if (new_only) {
            if (o->group && !o->pinned && !pin)
                fprintf(f, "pin = %s %s %lu\n", o->id, o->group, (unsigned long)o->gid);
            continue;
        }
        /* A pin is the allocation, applied here or not (a group the store
         * still holds beside it is not published). */
        if (pin)
            fprintf(f, "pin = %s %s %lu\n", pin->org_id, pin->group_name, (unsigned long)pin->gid);
        else if (o->group)
            fprintf(f, "pin = %s %s %lu\n", o->id, o->group, (unsigned long)o->gid);
        else
            fprintf(f, "# %s: no group on this host\n", o->id);
    }
    for (size_t i = 0; !new_only && i < cfg->pin_count; i++)
        if (mk_storefile_find_org(s, cfg->pins[i].org_id) < 0)
            fprintf(f, "pin = %s %s %lu\n", cfg->pins[i].org_id, cfg->pins[i].group_name,
                    (unsigned long)cfg->pins[i].gid);
}

mk_status mk_ids_export(const struct mk_config *cfg, const struct mk_store_env *env,
                        bool new_only, char **text, size_t *len, mk_error *err)
{
    struct mk_storefile s = { 0 };
    int dir_fd = -1;
    FILE *f = NULL;
    mk_status st;

    (void)env;
    *text = NULL;
    *len = 0;
    mk_error_clear(err);
    if (!cfg || !cfg->state_dir || !cfg->state_dir[0])
        return mk_error_set(err, MK_ERR_USAGE, "no state directory configured");
    st = mk_trust_open_dir(cfg->state_dir, MK_STOREFILE_STATE_DIR, false, &dir_fd, err);
    if (st != MK_OK)
        goto out;
    if (dir_fd >= 0 && (st = mk_store_json_load(dir_fd, cfg->state_dir, &s, NULL, err)) != MK_OK)
        goto out;
    if (!(f = open_memstream(text, len))) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (new_only)
        fputs("# mkio ids: what this host gave that its pins and ids_file lack; merge these\n"
              "# lines into the fleet's ids file (mkio.conf(5), IDS FILE)\n", f);
    else
        fputs("# mkio ids: the group of every organization this host knows, and its retired\n"
              "# gids; give it to every host as ids_file (mkio.conf(5), IDS FILE)\n", f);
    ids_put_pins(f, cfg, &s, new_only);
    if (ids_put_retired(f, cfg, &s, new_only) != 0 || ferror(f)) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
out:
    if (f && fclose(f) != 0 && st == MK_OK)
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    if (st != MK_OK) {
        free(*text);
        *text = NULL;
        *len = 0;
    }
    if (dir_fd >= 0)
        close(dir_fd);
    mk_storefile_free(&s);
    return st;
}
