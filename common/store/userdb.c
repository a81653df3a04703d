/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/userdb.c: the groups written as systemd's drop-in JSON group
 * records and membership files, and what is no longer held removed (see
 * userdb.h). */
#include "store/userdb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomicfile.h"
#include "base/fileio.h"
#include "base/tempname.h"
#include "base/trust.h"
#include "store/store_json.h"

#define USERDB_GROUP_SUFFIX ".group"
#define USERDB_MEMBERSHIP_SUFFIX ".membership"
#define USERDB_TEMP_INFIX ".tmp."
/* The mark as this writer spells it: a record holding it is ours. */
#define USERDB_MARK "\n  \"service\": \"" MK_USERDB_SERVICE "\",\n"
/* A record larger than this is not one of ours (ours list members apart). */
#define USERDB_RECORD_MAX (64 * 1024)

#define USERDB_DIR \
    (&(const struct mk_trust_dir){ "the userdb directory", "let it be a directory, not a link" })

/* ---- the record ---- */

/* s, or its first len bytes, with what the GECOS rules refuse (':' and
 * control characters) made spaces, as a JSON string at o. */
static char *userdb_put_gecos(char *o, const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        copy[i] = c == ':' || c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    o = mk_store_json_put_string(o, copy, len);
    free(copy);
    return o;
}

char *mk_userdb_record(const struct mk_userdb_group *g)
{
    size_t name_len = strlen(g->name), id_len = strlen(g->org_id);
    size_t desc_len = g->org_name ? strlen(g->org_name) : 0;
    size_t most = 512 + 6 * (name_len + id_len + desc_len);
    char *text = malloc(most), *o = text;

    if (!text)
        return NULL;
    o += sprintf(o, "{\n  \"groupName\": ");
    o = mk_store_json_put_string(o, g->name, name_len);
    o += sprintf(o, ",\n  \"gid\": %lu,\n", (unsigned long)g->gid);
    if (g->org_name) {
        o += sprintf(o, "  \"description\": ");
        if (!(o = userdb_put_gecos(o, g->org_name, desc_len))) {
            free(text);
            return NULL;
        }
        o += sprintf(o, ",\n");
    }
    o += sprintf(o, "  \"disposition\": \"regular\"," USERDB_MARK "  \"" MK_USERDB_ORG_ID_FIELD
                 "\": ");
    o = mk_store_json_put_string(o, g->org_id, id_len);
    sprintf(o, "\n}\n");
    return text;
}

/* ---- what the directory holds ---- */

enum userdb_kind { USERDB_OTHER, USERDB_LINK, USERDB_RECORD_UNREAD, USERDB_RECORD_OURS,
                   USERDB_RECORD_FOREIGN };

struct userdb_entry {
    char *name;
    char *target;          /* a link's */
    enum userdb_kind kind;
    bool empty;            /* an empty regular file */
};

struct userdb_order {
    const char *name;
    size_t i;              /* in groups */
};

struct userdb_run {
    const char *dir;
    int dirfd;
    const struct mk_log_sink *sink;
    const struct mk_userdb_group *groups;
    size_t n;
    struct userdb_order *by_name;  /* the groups, sorted by name */
    bool *refused;         /* indexed like groups: a record there is not ours */
    char **memberships;    /* the membership file names wanted, sorted */
    size_t membership_count;
    struct userdb_entry *entries;  /* sorted by name */
    size_t entry_count, entry_cap;
};

static int userdb_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int userdb_cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct userdb_entry *)a)->name, ((const struct userdb_entry *)b)->name);
}

static bool userdb_has_suffix(const char *s, const char *suffix, size_t *stem)
{
    size_t len = strlen(s), slen = strlen(suffix);
    if (len <= slen || strcmp(s + len - slen, suffix) != 0)
        return false;
    *stem = len - slen;
    return true;
}

/* Records every entry that is, or could be, of the format (its suffixes,
 * and temporary files of such names), with what a link points at. */
static mk_status userdb_scan(struct userdb_run *r, mk_error *err)
{
    int fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    size_t stem;

    if (!d) {
        if (fd >= 0)
            close(fd);
        return mk_error_set(err, MK_ERR_IO, "cannot list %s: %s", r->dir, strerror(errno));
    }
    while ((e = readdir(d))) {
        struct userdb_entry *x;
        struct stat st;
        if (!userdb_has_suffix(e->d_name, USERDB_GROUP_SUFFIX, &stem) &&
            !userdb_has_suffix(e->d_name, USERDB_MEMBERSHIP_SUFFIX, &stem) &&
            !strstr(e->d_name, USERDB_TEMP_INFIX))
            continue;
        if (fstatat(r->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (r->entry_count == r->entry_cap) {
            size_t cap = r->entry_cap ? 2 * r->entry_cap : 64;
            void *v = realloc(r->entries, cap * sizeof(*r->entries));
            if (!v)
                goto nomem;
            r->entries = v;
            r->entry_cap = cap;
        }
        x = &r->entries[r->entry_count];
        *x = (struct userdb_entry){ .name = strdup(e->d_name), .kind = USERDB_OTHER,
                                    .empty = S_ISREG(st.st_mode) && st.st_size == 0 };
        if (!x->name)
            goto nomem;
        r->entry_count++;
        if (S_ISLNK(st.st_mode)) {
            char buf[PATH_MAX];
            ssize_t len = readlinkat(r->dirfd, e->d_name, buf, sizeof(buf) - 1);
            x->kind = USERDB_LINK;
            if (len >= 0) {
                buf[len] = '\0';
                if (!(x->target = strdup(buf)))
                    goto nomem;
            }
        } else if (S_ISREG(st.st_mode) && userdb_has_suffix(e->d_name, USERDB_GROUP_SUFFIX, &stem)) {
            x->kind = USERDB_RECORD_UNREAD;
        }
    }
    closedir(d);
    if (r->entry_count)
        qsort(r->entries, r->entry_count, sizeof(*r->entries), userdb_cmp_entry);
    return MK_OK;
nomem:
    closedir(d);
    return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
}

static struct userdb_entry *userdb_entry(struct userdb_run *r, const char *name)
{
    struct userdb_entry key = { .name = (char *)name };
    return r->entry_count ? bsearch(&key, r->entries, r->entry_count, sizeof(key),
                                    userdb_cmp_entry)
                          : NULL;
}

/* Whether the record e (a NAME.group regular file) carries our mark; read
 * once, when first asked. */
static bool userdb_entry_ours(struct userdb_run *r, struct userdb_entry *e)
{
    if (e->kind == USERDB_RECORD_UNREAD) {
        int fd = openat(r->dirfd, e->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        char *data = NULL;
        size_t len = 0;
        e->kind = USERDB_RECORD_FOREIGN;
        if (fd >= 0 && mk_fileio_read_all(fd, USERDB_RECORD_MAX, &data, &len) == 0 &&
            strlen(data) == len && strstr(data, USERDB_MARK))
            e->kind = USERDB_RECORD_OURS;
        free(data);
        if (fd >= 0)
            close(fd);
    }
    return e->kind == USERDB_RECORD_OURS;
}

/* The index in groups of the group named name[0..len), or -1. */
static ssize_t userdb_group(const struct userdb_run *r, const char *name, size_t len)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *g = r->by_name[mid].name;
        int c = strncmp(g, name, len);
        if (c == 0)
            c = g[len] ? 1 : 0;
        if (c == 0)
            return (ssize_t)r->by_name[mid].i;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Whether the group named name[0..len) is this writer's to manage: one it
 * exports now (unless a record not ours holds its name), or one whose
 * record there carries our mark. */
static bool userdb_managed(struct userdb_run *r, const char *name, size_t len)
{
    char file[NAME_MAX + 1];
    struct userdb_entry *e;
    ssize_t g = userdb_group(r, name, len);

    if (g >= 0)
        return !r->refused[g];
    if (len + sizeof(USERDB_GROUP_SUFFIX) > sizeof(file))
        return false;
    memcpy(file, name, len);
    strcpy(file + len, USERDB_GROUP_SUFFIX);
    e = userdb_entry(r, file);
    return e && e->kind != USERDB_LINK && userdb_entry_ours(r, e);
}

/* ---- writing ---- */

/* Makes name a link to target unless it is one already: a link made under
 * a temporary name, renamed over. */
static int userdb_put_link(struct userdb_run *r, const char *name, const char *target)
{
    struct userdb_entry *e = userdb_entry(r, name);
    char temp[NAME_MAX + 1], suffix[MK_TEMPNAME_RANDOM + 1];

    if (e && e->kind == USERDB_LINK && e->target && strcmp(e->target, target) == 0)
        return 0;
    mk_tempname_suffix(suffix);
    if ((size_t)snprintf(temp, sizeof(temp), "%s" USERDB_TEMP_INFIX "%s", name, suffix) >=
        sizeof(temp))
        return -ENAMETOOLONG;
    if (symlinkat(target, r->dirfd, temp) != 0)
        return -errno;
    if (renameat(r->dirfd, temp, r->dirfd, name) != 0) {
        int saved = -errno;
        unlinkat(r->dirfd, temp, 0);
        return saved;
    }
    /* What the removal sees is what is there now: a renamed group's link
     * points at its new name, not at the old record it is to remove. */
    if (e) {
        char *copy = strdup(target);
        free(e->target);
        e->target = copy;
        e->kind = USERDB_LINK;
        if (!copy)
            e->kind = USERDB_OTHER;   /* left alone: never removed */
    }
    return 0;
}

/* g's record, unless a record that is not ours, or anything else, holds
 * its name: the group is refused then. */
static void userdb_put_record(struct userdb_run *r, size_t i, const char *file)
{
    struct userdb_entry *e = userdb_entry(r, file);
    char *text;
    int rc;

    if (e && (e->kind == USERDB_LINK || e->kind == USERDB_OTHER || !userdb_entry_ours(r, e))) {
        r->refused[i] = true;
        mk_log(r->sink, MK_LOG_WARNING, "%s/%s is not one of mkio-orgs' records: group %s "
               "is not exported to the user database", r->dir, file, r->groups[i].name);
        return;
    }
    if (!(text = mk_userdb_record(&r->groups[i]))) {
        rc = -ENOMEM;
    } else {
        size_t len = strlen(text);
        rc = mk_atomicfile_same(r->dirfd, file, text, len, 0, 0);
        if (rc == 0)
            rc = mk_atomicfile_replace(r->dirfd, file, 0644, text, len, NULL);
        free(text);
    }
    if (rc < 0)
        mk_log(r->sink, MK_LOG_WARNING, "cannot write %s/%s: %s", r->dir, file, strerror(-rc));
}

/* Group i: its record, its gid link (unless a file not ours holds that
 * name), its membership files. */
static void userdb_put_group(struct userdb_run *r, size_t i)
{
    const struct mk_userdb_group *g = &r->groups[i];
    char file[NAME_MAX + 1], link[NAME_MAX + 1];
    struct userdb_entry *e;
    int rc;

    if ((size_t)snprintf(file, sizeof(file), "%s" USERDB_GROUP_SUFFIX, g->name) >= sizeof(file)) {
        r->refused[i] = true;
        return;
    }
    userdb_put_record(r, i, file);
    if (r->refused[i])
        return;
    snprintf(link, sizeof(link), "%lu" USERDB_GROUP_SUFFIX, (unsigned long)g->gid);
    e = userdb_entry(r, link);
    if (e && (e->kind != USERDB_LINK || !e->target ||
              !userdb_has_suffix(e->target, USERDB_GROUP_SUFFIX, &(size_t){ 0 }) ||
              strchr(e->target, '/') ||
              !userdb_managed(r, e->target, strlen(e->target) - strlen(USERDB_GROUP_SUFFIX))))
        mk_log(r->sink, MK_LOG_WARNING, "%s/%s is not one of mkio-orgs' links: group %s is "
               "exported without a lookup by gid", r->dir, link, g->name);
    else if ((rc = userdb_put_link(r, link, file)) < 0)
        mk_log(r->sink, MK_LOG_WARNING, "cannot write %s/%s: %s", r->dir, link, strerror(-rc));
    for (size_t k = 0; k < g->member_count; k++) {
        char m[NAME_MAX + 1];
        if ((size_t)snprintf(m, sizeof(m), "%s:%s" USERDB_MEMBERSHIP_SUFFIX, g->members[k],
                             g->name) >= sizeof(m) || strchr(g->members[k], '/'))
            continue;
        /* Not empty: systemd 252 (Debian 12) lists drop-ins as
         * configuration files, where an empty file is a mask, and skips
         * it. It reads only the name. */
        e = userdb_entry(r, m);
        if (e && !e->empty)
            continue;
        if ((rc = mk_atomicfile_replace(r->dirfd, m, 0644, "\n", 1, NULL)) < 0)
            mk_log(r->sink, MK_LOG_WARNING, "cannot write %s/%s: %s", r->dir, m, strerror(-rc));
    }
}

/* ---- removing ---- */

/* Whether the entry named name (not temporary) is ours and no longer
 * wanted. */
static bool userdb_stale(struct userdb_run *r, struct userdb_entry *e, const char *name)
{
    size_t stem;
    const char *colon;

    if (userdb_has_suffix(name, USERDB_MEMBERSHIP_SUFFIX, &stem)) {
        colon = memchr(name, ':', stem);
        if (!colon || !userdb_managed(r, colon + 1, stem - (size_t)(colon + 1 - name)))
            return false;
        return !(r->membership_count && bsearch(&name, r->memberships, r->membership_count,
                                                sizeof(char *), userdb_cmp_str));
    }
    if (!userdb_has_suffix(name, USERDB_GROUP_SUFFIX, &stem))
        return false;
    if (e && e->kind == USERDB_LINK) {
        size_t tstem;
        ssize_t g;
        char *end;
        unsigned long gid;
        if (stem == 0 || strspn(name, "0123456789") != stem)
            return false;   /* not a gid's link: someone's alias */
        gid = strtoul(name, &end, 10);
        if (!e->target || strchr(e->target, '/') ||
            !userdb_has_suffix(e->target, USERDB_GROUP_SUFFIX, &tstem) ||
            !userdb_managed(r, e->target, tstem))
            return false;
        g = userdb_group(r, e->target, tstem);
        return g < 0 || r->refused[g] || end != name + stem || r->groups[g].gid != gid;
    }
    if (!e || e->kind == USERDB_OTHER || !userdb_entry_ours(r, e))
        return false;
    return userdb_group(r, name, stem) < 0;
}

/* A temporary file of an entry that would be ours (a killed writer's):
 * the entry's name is what precedes the infix. */
static bool userdb_stale_temp(struct userdb_run *r, const char *name)
{
    const char *infix = strstr(name, USERDB_TEMP_INFIX);
    char base[NAME_MAX + 1];
    size_t len, stem;

    if (!infix || (len = (size_t)(infix - name)) >= sizeof(base))
        return false;
    memcpy(base, name, len);
    base[len] = '\0';
    if (!mk_atomicfile_is_temp(name, base))
        return false;
    if (userdb_has_suffix(base, USERDB_MEMBERSHIP_SUFFIX, &stem)) {
        const char *colon = memchr(base, ':', stem);
        return colon && userdb_managed(r, colon + 1, stem - (size_t)(colon + 1 - base));
    }
    if (!userdb_has_suffix(base, USERDB_GROUP_SUFFIX, &stem))
        return false;
    if (userdb_managed(r, base, stem))
        return true;
    for (size_t i = 0; i < r->n; i++) {
        char link[NAME_MAX + 1];
        snprintf(link, sizeof(link), "%lu" USERDB_GROUP_SUFFIX, (unsigned long)r->groups[i].gid);
        if (strcmp(link, base) == 0)
            return !r->refused[i];
    }
    return false;
}

/* Removes what is ours and no longer held: links and membership files
 * first, records last, so that no link is left to a missing record. */
static void userdb_remove_stale(struct userdb_run *r)
{
    bool *gone = calloc(r->entry_count ? r->entry_count : 1, sizeof(*gone));

    if (!gone) {
        mk_log(r->sink, MK_LOG_WARNING, "out of memory: stale records in %s are kept", r->dir);
        return;
    }
    for (size_t i = 0; i < r->entry_count; i++) {
        struct userdb_entry *e = &r->entries[i];
        gone[i] = strstr(e->name, USERDB_TEMP_INFIX) ? userdb_stale_temp(r, e->name)
                                                      : userdb_stale(r, e, e->name);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < r->entry_count; i++) {
            const struct userdb_entry *e = &r->entries[i];
            bool record = e->kind == USERDB_RECORD_OURS && !strstr(e->name, USERDB_TEMP_INFIX);
            if (!gone[i] || record != (pass == 1))
                continue;
            if (unlinkat(r->dirfd, e->name, 0) != 0 && errno != ENOENT)
                mk_log(r->sink, MK_LOG_WARNING, "cannot remove %s/%s: %s", r->dir, e->name,
                       strerror(errno));
        }
    }
    free(gone);
}

/* ---- the export ---- */

static int userdb_cmp_order(const void *a, const void *b)
{
    return strcmp(((const struct userdb_order *)a)->name, ((const struct userdb_order *)b)->name);
}

/* The groups' order by name and the membership file names wanted. */
static mk_status userdb_index(struct userdb_run *r, mk_error *err)
{
    size_t total = 0;

    r->by_name = malloc((r->n ? r->n : 1) * sizeof(*r->by_name));
    r->refused = calloc(r->n ? r->n : 1, sizeof(*r->refused));
    if (!r->by_name || !r->refused)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n; i++) {
        r->by_name[i] = (struct userdb_order){ r->groups[i].name, i };
        total += r->groups[i].member_count;
    }
    qsort(r->by_name, r->n, sizeof(*r->by_name), userdb_cmp_order);
    if (!(r->memberships = calloc(total ? total : 1, sizeof(*r->memberships))))
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n; i++) {
        for (size_t m = 0; m < r->groups[i].member_count; m++) {
            size_t len = strlen(r->groups[i].members[m]) + strlen(r->groups[i].name) +
                         sizeof(USERDB_MEMBERSHIP_SUFFIX) + 1;
            char *name = malloc(len);
            if (!name)
                return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
            snprintf(name, len, "%s:%s" USERDB_MEMBERSHIP_SUFFIX, r->groups[i].members[m],
                     r->groups[i].name);
            r->memberships[r->membership_count++] = name;
        }
    }
    qsort(r->memberships, r->membership_count, sizeof(*r->memberships), userdb_cmp_str);
    return MK_OK;
}

mk_status mk_userdb_export(const char *dir, const struct mk_userdb_group *groups, size_t n,
                           const struct mk_log_sink *sink, mk_error *err)
{
    struct userdb_run r = { .dir = dir, .dirfd = -1, .sink = sink, .groups = groups, .n = n };
    mk_status st;

    mk_error_clear(err);
    if ((st = mk_trust_open_dir(dir, USERDB_DIR, true, &r.dirfd, err)) != MK_OK)
        goto out;
    if ((st = userdb_index(&r, err)) != MK_OK || (st = userdb_scan(&r, err)) != MK_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        userdb_put_group(&r, i);
    userdb_remove_stale(&r);
out:
    if (r.dirfd >= 0)
        close(r.dirfd);
    for (size_t i = 0; i < r.entry_count; i++) {
        free(r.entries[i].name);
        free(r.entries[i].target);
    }
    free(r.entries);
    for (size_t i = 0; i < r.membership_count; i++)
        free(r.memberships[i]);
    free(r.memberships);
    free(r.by_name);
    free(r.refused);
    return st;
}
