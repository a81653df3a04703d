/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/store.c: the membership store's two entry points (see store.h),
 * orchestrating its parts:
 *   storefile.h    store.json in memory and on disk, the trust checks
 *   grouppolicy.h  which name and gid each organization gets (invariant 3)
 *   atomicfile.h   lock, temporary file, fsync, rename, directory fsync
 *   groupfile.h    the compiled groups.db
 *
 * The order of a write is what keeps invariant 3 across a crash: store.json
 * records every assignment (written, fsync'd, renamed, directory fsync'd)
 * before groups.db publishes it. A writer killed in between leaves a gid
 * recorded and not yet published, which the next write publishes; never
 * one published and not recorded, which a later writer could give to
 * another organization. A file whose bytes would not change is not
 * written at all (readers keep their mapping; nothing is fsync'd).
 */
#include "store/store.h"
#include "base/atomicfile.h"
#include "groupfile/writer.h"
#include "groupfile/reader.h"
#include "store/grouppolicy.h"
#include "store/nscd.h"
#include "store/storefile.h"
#include "store/store_json.h"
#include "base/text.h"
#include "store/userstate.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_LOCK_FILE "store.lock"
#define STORE_GROUP_FILE "groups.db"

static char store_etc_group_path[PATH_MAX] = "/etc/group";

void mk_store_set_etc_group_path(const char *path)
{
    snprintf(store_etc_group_path, sizeof(store_etc_group_path), "%s",
             path ? path : "/etc/group");
}

/* ---- other sources of groups: the system's NSS ---- */

/* getgrgid_r and getgrnam_r through every source nsswitch.conf names (ours
 * included: the policy does not count our own current entries). "Not
 * found" comes back in several spellings (getgrgid_r(3)). */
static bool store_nss_not_found(int r)
{
    return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

static int store_nss_lookup(gid_t gid, const char *name, char *name_out, size_t name_size,
                            gid_t *gid_out)
{
    size_t size = 1024;
    char *buf = NULL;
    int r;

    for (;;) {
        struct group gr, *res = NULL;
        char *bigger = realloc(buf, size);
        if (!bigger) {
            free(buf);
            return -ENOMEM;
        }
        buf = bigger;
        r = name ? getgrnam_r(name, &gr, buf, size, &res) : getgrgid_r(gid, &gr, buf, size, &res);
        if (r == ERANGE && size < (1u << 24)) {
            size *= 2;
            continue;
        }
        if (r == 0 && res) {
            if (name_out)
                snprintf(name_out, name_size, "%s", res->gr_name);
            if (gid_out)
                *gid_out = res->gr_gid;
            free(buf);
            return 1;
        }
        free(buf);
        return store_nss_not_found(r) ? 0 : -(r ? r : EIO);
    }
}

static int store_nss_by_gid(void *ctx, gid_t gid, char *name, size_t name_size)
{
    return store_nss_lookup(gid, NULL, name, name_size, NULL);
}

static int store_nss_by_name(void *ctx, const char *name, gid_t *gid)
{
    return store_nss_lookup(0, name, NULL, 0, gid);
}

static const struct mk_group_oracle store_nss = { store_nss_by_gid, store_nss_by_name, NULL };
static const struct mk_group_oracle *store_oracle = &store_nss;

void mk_store_set_nss(const struct mk_group_oracle *oracle)
{
    store_oracle = oracle ? oracle : &store_nss;
}

static int64_t store_clock;   /* tests only: Unix seconds; 0 is the real clock */

void mk_store_set_clock(int64_t now)
{
    store_clock = now;
}

static int64_t store_now(void)
{
    return store_clock ? store_clock : (int64_t)time(NULL);
}

static int store_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void store_log_notes(const struct mk_log_sink *sink, const struct mk_policy_notes *notes)
{
    for (size_t i = 0; i < notes->n; i++)
        mk_log(sink, notes->v[i].priority, "%s", notes->v[i].text);
}

/* ---- /etc/group ---- */

/* Every name and gid of the local group file. fgetgrent_r: several threads
 * of one process may be here at once. Any error but the end of the file
 * fails the whole read: a partial view could hand out a local name or gid. */
static mk_status store_read_etc_group(struct mk_local_groups *etc, mk_error *err)
{
    const char *path = store_etc_group_path;
    size_t size = 4096;
    char *buf = NULL;
    mk_status st = MK_OK;
    FILE *f = fopen(path, "re");

    memset(etc, 0, sizeof(*etc));
    if (!f)
        return mk_error_set(err, MK_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    buf = malloc(size);
    if (!buf)
        goto nomem;
    for (;;) {
        struct group gr, *res = NULL;
        long pos = ftell(f);
        int r = fgetgrent_r(f, &gr, buf, size, &res);
        if (r == ERANGE) {
            /* The entry did not fit: grow and read the same line again. */
            char *bigger = size < (1u << 24) ? realloc(buf, size * 2) : NULL;
            if (!bigger || pos < 0 || fseek(f, pos, SEEK_SET) != 0) {
                free(bigger ? bigger : buf);
                buf = NULL;
                st = mk_error_set(err, MK_ERR_IO, "cannot read %s: an entry is too long", path);
                goto out;
            }
            buf = bigger;
            size *= 2;
            continue;
        }
        if (r == ENOENT && !ferror(f))
            break;
        if (r != 0 || !res) {
            st = mk_error_set(err, MK_ERR_IO, "cannot read %s: %s; nothing was written", path,
                              strerror(r && r != ENOENT ? r : errno ? errno : EIO));
            goto out;
        }
        if (mk_local_groups_add(etc, gr.gr_name, gr.gr_gid) != 0)
            goto nomem;
    }
    mk_local_groups_finish(etc);
    goto out;
nomem:
    st = mk_error_set(err, MK_ERR_NOMEM, "out of memory reading %s", path);
out:
    free(buf);
    fclose(f);
    if (st != MK_OK)
        mk_local_groups_free(etc);
    return st;
}

/* ---- stale users (max_stale) ---- */

static int store_cmp_state_entry(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mk_user_state_entry *)elem)->user);
}

/* Every user's refresh record, read once per compile (one directory
 * scan), sorted by user name. */
struct store_records {
    struct mk_user_state_entry *v;
    size_t n;
};

/* With max_stale 0 nothing is read. Records that cannot be believed are
 * reported and read as none (the store's times decide). 0 or -ENOMEM. */
static int store_records_load(const struct mk_config *cfg, struct store_records *rec,
                              const struct mk_log_sink *sink)
{
    mk_error err;

    memset(rec, 0, sizeof(*rec));
    if (cfg->max_stale_ms <= 0)
        return 0;
    mk_error_clear(&err);
    if (mk_user_state_list(cfg, &rec->v, &rec->n, &err) != MK_OK) {
        if (err.status == MK_ERR_NOMEM)
            return -ENOMEM;
        mk_log(sink, MK_LOG_WARNING, "users' refresh records not read (%s): max_stale "
               "counts from the store's times only", err.message);
        rec->v = NULL;
        rec->n = 0;
    }
    return 0;
}

static void store_records_free(struct store_records *rec)
{
    mk_user_state_list_free(rec->v, rec->n);
    memset(rec, 0, sizeof(*rec));
}

/* When user (with the store's refreshed time) was last known good. */
static int64_t store_known_good(const struct store_records *rec, const char *user,
                                int64_t refreshed)
{
    const struct mk_user_state_entry *e =
        rec->n ? bsearch(user, rec->v, rec->n, sizeof(*rec->v), store_cmp_state_entry) : NULL;
    return mk_user_state_known_good(e ? &e->state : NULL, refreshed);
}

/* Which users of s are stale at now (stale[u], indexed like s->users; with
 * when[u], the time they were last known good). except (may be NULL) is
 * the user being written now: a successful refresh, never stale. */
static void store_find_stale(const struct mk_config *cfg, const struct mk_storefile *s,
                             const struct store_records *rec, const char *except, int64_t now,
                             bool *stale, int64_t *when)
{
    if (cfg->max_stale_ms <= 0)
        return;
    for (size_t u = 0; u < s->user_count; u++) {
        const struct mk_storefile_user *user = &s->users[u];
        if (except && strcmp(user->name, except) == 0)
            continue;
        when[u] = store_known_good(rec, user->name, user->refreshed);
        stale[u] = user->org_count > 0 && mk_user_state_stale(cfg, when[u], now);
    }
}

static int store_cmp_user_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mk_storefile_user *)elem)->name);
}

/* Whether user, as s and its record have it before this write, is stale. */
static bool store_user_stale(const struct mk_config *cfg, const struct mk_storefile *s,
                             const struct store_records *rec, const char *user, int64_t now)
{
    const struct mk_storefile_user *u;

    if (cfg->max_stale_ms <= 0)
        return false;
    u = s->user_count ? bsearch(user, s->users, s->user_count, sizeof(*s->users),
                                store_cmp_user_name) : NULL;
    return mk_user_state_stale(cfg, store_known_good(rec, user, u ? u->refreshed : 0), now);
}

/* One warning per stale user: who, and since when. */
static void store_log_stale(const struct mk_storefile *s, const bool *stale, const int64_t *when,
                            const struct mk_log_sink *sink)
{
    for (size_t u = 0; u < s->user_count; u++) {
        char since[32] = "?";
        struct tm tm;
        time_t t;
        if (!stale[u])
            continue;
        t = (time_t)when[u];
        if (gmtime_r(&t, &tm))
            strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S UTC", &tm);
        mk_log(sink, MK_LOG_WARNING, "user %s: no successful refresh since %s (longer than "
               "max_stale): their organization groups are left out of groups.db until a "
               "refresh succeeds", s->users[u].name, since);
    }
}

/* ---- the compiled view: organizations with members and a group ---- */

struct store_members {
    const char **v;  /* user names, borrowed from the store */
    size_t n;
};

/* m has count + 1 entries: the last one's v is the block all the others
 * point into. */
static void store_members_free(struct store_members *m, size_t count)
{
    if (m)
        free(m[count].v);
    free(m);
}

/* Members of every organization (indexed like s->orgs, one more entry
 * holding the block), sorted because the users are. Each user's
 * organizations are looked up once, counted, then laid out in one block:
 * no allocation per organization. */
static struct store_members *store_members_build(const struct mk_storefile *s,
                                                 const bool *skip)
{
    struct store_members *m = calloc(s->org_count + 1, sizeof(*m));
    size_t pairs = 0, k = 0, at = 0;
    ssize_t *org = NULL;

    if (!m)
        return NULL;
    for (size_t u = 0; u < s->user_count; u++)
        if (!skip || !skip[u])
            pairs += s->users[u].org_count;
    org = malloc((pairs ? pairs : 1) * sizeof(*org));
    m[s->org_count].v = malloc((pairs ? pairs : 1) * sizeof(*m[s->org_count].v));
    if (!org || !m[s->org_count].v) {
        free(org);
        store_members_free(m, s->org_count);
        return NULL;
    }
    for (size_t u = 0; u < s->user_count; u++) {
        if (u + 8 < s->user_count && s->users[u + 8].org_count)
            mk_storefile_prefetch_org(s, s->users[u + 8].orgs[0]);
        if (skip && skip[u])
            continue;
        for (size_t i = 0; i < s->users[u].org_count; i++, k++) {
            /* Never -1: the loader and store_apply_user guarantee it. */
            org[k] = mk_storefile_find_org(s, s->users[u].orgs[i]);
            if (org[k] >= 0)
                m[org[k]].n++;
        }
    }
    for (size_t i = 0; i < s->org_count; i++) {
        m[i].v = m[s->org_count].v + at;
        at += m[i].n;
        m[i].n = 0;
    }
    k = 0;
    for (size_t u = 0; u < s->user_count; u++)
        for (size_t i = 0; (!skip || !skip[u]) && i < s->users[u].org_count; i++, k++)
            if (org[k] >= 0)
                m[org[k]].v[m[org[k]].n++] = s->users[u].name;
    free(org);
    return m;
}

struct store_group_key {
    uint64_t head;     /* 8 bytes of the name from `skip` on, big-endian, NUL-padded */
    const char *name;
    size_t index;
};

/* The bytes every name has in common at its start (a prefix such as "mk-"),
 * which the sort then skips. */
static size_t store_common_prefix(const struct store_group_key *keys, size_t n)
{
    size_t len = n ? strlen(keys[0].name) : 0;
    for (size_t i = 1; i < n && len > 0; i++) {
        size_t k = 0;
        while (k < len && keys[i].name[k] == keys[0].name[k])
            k++;
        len = k;
    }
    return len;
}

static uint64_t store_name_head(const char *name)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | (unsigned char)*name;
        if (*name)
            name++;
    }
    return v;
}

/* By name (strcmp's order): the heads decide most comparisons without
 * reading the names; equal heads of names that go on compare the rest. */
static int store_cmp_group_key(const void *a, const void *b, void *skip)
{
    const struct store_group_key *x = a, *y = b;
    if (x->head != y->head)
        return x->head < y->head ? -1 : 1;
    if ((x->head & 0xff) == 0)
        return 0;   /* both names ended inside the head: equal */
    return strcmp(x->name + *(size_t *)skip + 8, y->name + *(size_t *)skip + 8);
}

/* The groups of the compiled file, sorted by name, with the index in s->orgs
 * of each in *index (malloc'd, may be NULL). Pointers borrow from s and m.
 * Sorted as (name, index) pairs: the comparison reads the name at hand
 * rather than through the store. */
static struct mk_group_entry *store_entries(const struct mk_storefile *s,
                                            const struct store_members *m,
                                            const struct mk_config *cfg,
                                            const struct mk_local_groups *etc,
                                            struct mk_policy_notes *notes, size_t **index,
                                            size_t *count)
{
    size_t cap = s->org_count ? s->org_count : 1;
    struct mk_group_entry *e = calloc(cap, sizeof(*e));
    struct store_group_key *keys = malloc(cap * sizeof(*keys));
    size_t *idx = index ? malloc(cap * sizeof(*idx)) : NULL;
    size_t n = 0;

    if (!e || !keys || (index && !idx)) {
        free(e);
        free(keys);
        free(idx);
        return NULL;
    }
    for (size_t i = 0; i < s->org_count; i++) {
        if (m[i].n > 0 && mk_policy_org_active(&s->orgs[i], cfg, etc, notes)) {
            keys[n].name = s->orgs[i].group;
            keys[n].index = i;
            n++;
        }
    }
    size_t skip = store_common_prefix(keys, n);
    for (size_t i = 0; i < n; i++)
        keys[i].head = store_name_head(keys[i].name + skip);
    qsort_r(keys, n, sizeof(*keys), store_cmp_group_key, &skip);
    for (size_t i = 0; i < n; i++) {
        size_t k = keys[i].index;
        e[i].name = s->orgs[k].group;
        e[i].gid = s->orgs[k].gid;
        e[i].members = m[k].v;
        e[i].member_count = m[k].n;
        if (idx)
            idx[i] = k;
    }
    free(keys);
    if (index)
        *index = idx;
    *count = n;
    return e;
}

/* ---- a write ---- */

static int store_cmp_membership(const void *a, const void *b)
{
    return strcmp(((const struct mk_membership *)a)->org_id,
                  ((const struct mk_membership *)b)->org_id);
}

/* orgs, validated, ids canonical, sorted, duplicates merged (the first
 * display name given wins). *ids holds the canonical ids (one malloc'd
 * block); *out's names borrow from orgs. */
static mk_status store_input(const struct mk_membership *orgs, size_t n,
                             struct mk_membership **out, char **ids, size_t *count, mk_error *err)
{
    struct mk_membership *v;
    char *canon;
    size_t k = 0;

    *out = NULL;
    *ids = NULL;
    *count = 0;
    if (n == 0)
        return MK_OK;
    if (!orgs)
        return mk_error_set(err, MK_ERR_USAGE, "no organizations given");
    v = malloc(n * sizeof(*v));
    canon = malloc(n * (MK_ORG_ID_MAX + 1));
    if (!v || !canon) {
        free(v);
        free(canon);
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char *id = canon + i * (MK_ORG_ID_MAX + 1);
        if (!mk_org_id_canonical(orgs[i].org_id, id)) {
            free(v);
            free(canon);
            return mk_error_set(err, MK_ERR_USAGE, "organization %zu: an id must be 1 to %d "
                                "characters of [A-Za-z0-9-] with a letter or digit",
                                i + 1, MK_ORG_ID_MAX);
        }
        v[i].org_id = id;
        v[i].org_name = orgs[i].org_name;
    }
    qsort(v, n, sizeof(*v), store_cmp_membership);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1].org_id, v[i].org_id) == 0) {
            if (!v[k - 1].org_name)
                v[k - 1].org_name = v[i].org_name;
            continue;
        }
        v[k++] = v[i];
    }
    *out = v;
    *ids = canon;
    *count = k;
    return MK_OK;
}

/* Puts the user's organizations (in[0..n), canonical, sorted, unique) into
 * s: organizations not seen before are added, display names refreshed. The
 * user's refreshed time moves only when its organizations change, so that
 * a refresh that finds what the store holds writes nothing. */
static mk_status store_apply_user(struct mk_storefile *s, const char *user,
                                  const struct mk_membership *in, size_t n, int64_t now,
                                  bool was_stale, mk_error *err)
{
    struct mk_storefile_user *u;
    const char **idv = n ? calloc(n, sizeof(*idv)) : NULL;
    char **ids = NULL;
    bool same;

    if (n && !idv)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        idv[i] = in[i].org_id;
    if (mk_storefile_add_orgs(s, idv, n, now) != 0)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        struct mk_storefile_org *o = &s->orgs[mk_storefile_find_org(s, in[i].org_id)];
        if (in[i].org_name) {
            char *name = mk_display_name_repair(in[i].org_name);
            if (!name)
                goto nomem;
            free(o->name);
            o->name = name;
        }
    }
    if (!(u = mk_storefile_user_get(s, user)))
        goto nomem;
    /* A stale user's success is a change: the new time is what brings
     * their memberships back for every later compile too. */
    same = u->org_count == n && u->refreshed != 0 && !was_stale;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(u->orgs[i], in[i].org_id) == 0;
    if (!same) {
        if (n && !(ids = calloc(n, sizeof(*ids))))
            goto nomem;
        for (size_t i = 0; i < n; i++) {
            if (!(ids[i] = strdup(in[i].org_id))) {
                for (size_t k = 0; k < i; k++)
                    free(ids[k]);
                free(ids);
                goto nomem;
            }
        }
        for (size_t i = 0; i < u->org_count; i++)
            mk_storefile_free_string(s, u->orgs[i]);
        free(u->orgs);
        u->orgs = ids;
        u->org_count = n;
        u->refreshed = now;
    }
    free(idv);
    return MK_OK;
nomem:
    free(idv);
    return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
}


/* groups.db's image, encoded and compared with the file there: the job a
 * second thread does while the first serializes and records store.json
 * (the two only read the store). Nothing is published here: publishing
 * waits for the record (invariant 3). */
struct store_encode_job {
    const struct mk_group_entry *entries;
    size_t count;
    int dir_fd;
    unsigned char *image;
    size_t size;
    int r;   /* mk_atomicfile_same's answer (1 same, 0 differs), or negative errno */
};

static void *store_encode_run(void *arg)
{
    struct store_encode_job *job = arg;
    job->r = mk_groupfile_encode(job->entries, job->count, &job->image, &job->size);
    if (job->r == 0)
        job->r = mk_atomicfile_same(job->dir_fd, STORE_GROUP_FILE, job->image, job->size,
                            MKGF_FLAGS_OFFSET, 4);
    return NULL;
}

/* groups.db in dir_fd was just replaced: when it is the file the NSS
 * module reads, nscd and unscd (which cache our answers and watch only
 * /etc/group) are asked to drop their group caches. Same file means same
 * device and inode, whatever the spelling of state_dir. A failure is a
 * warning: the new file is in place either way. */
static void store_tell_nscd(int dir_fd, const struct mk_log_sink *sink)
{
    struct stat ours, shipped;
    int r;

    if (fstatat(dir_fd, STORE_GROUP_FILE, &ours, AT_SYMLINK_NOFOLLOW) != 0 ||
        stat(MK_GROUPFILE_DEFAULT_PATH, &shipped) != 0 ||
        ours.st_dev != shipped.st_dev || ours.st_ino != shipped.st_ino)
        return;
    if ((r = mk_nscd_invalidate_group()) < 0)
        mk_log(sink, MK_LOG_WARNING, "groups.db changed, but nscd did not drop its group "
               "cache (%s): `nscd -i group` does it", strerror(-r));
}

/* The one write path: under the lock, load store.json, (with user) put
 * the user's organizations in, assign, record store.json if its bytes
 * change, then publish groups.db if its bytes change. Without user (publish)
 * nothing of the user changes: store.json is rewritten only when the policy
 * changed an assignment. */
static mk_status store_write(const struct mk_config *cfg, const char *user,
                             const struct mk_membership *orgs, size_t n,
                             const struct mk_group_oracle *oracle,
                             long lock_timeout_ms, const struct mk_log_sink *sink, mk_error *err)
{
    static const char *const written[] = { MK_STOREFILE_NAME, STORE_GROUP_FILE };
    struct mk_storefile s = { 0 };
    struct mk_local_groups etc = { 0 };
    struct mk_policy_notes notes = { 0 };
    struct store_members *members = NULL;
    struct mk_group_entry *entries = NULL;
    struct mk_membership *in = NULL;
    bool *joined = NULL;
    char *ids = NULL, *text = NULL;
    struct store_encode_job job = { .dir_fd = -1 };
    pthread_t encoder;
    bool encoding = false;
    size_t in_count = 0, entry_count = 0, text_len = 0;
    char path[PATH_MAX], db_path[PATH_MAX], lock_path[PATH_MAX];
    int dir_fd = -1, lock_fd = -1, r;
    mk_error org_err;
    mk_status org_status = MK_OK;
    mk_status st;
    bool *stale = NULL, *recheck = NULL;
    int64_t *stale_since = NULL;
    int64_t now = store_now();
    struct store_records records = { 0 };

    mk_error_clear(err);
    mk_error_clear(&org_err);
    if ((st = mk_policy_check_config(cfg, err)) != MK_OK)
        return st;
    if (user && (st = store_input(orgs, n, &in, &ids, &in_count, err)) != MK_OK)
        return st;
    if (store_path(path, sizeof(path), cfg->state_dir, MK_STOREFILE_NAME) != 0 ||
        store_path(db_path, sizeof(db_path), cfg->state_dir, STORE_GROUP_FILE) != 0 ||
        store_path(lock_path, sizeof(lock_path), cfg->state_dir, STORE_LOCK_FILE) != 0) {
        st = mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
        goto out;
    }
    if ((st = mk_trust_open_dir(cfg->state_dir, MK_STOREFILE_STATE_DIR, true, &dir_fd, err)) != MK_OK)
        goto out;
    if ((st = mk_trust_openat(dir_fd, STORE_LOCK_FILE, lock_path, O_RDWR | O_CREAT, &lock_fd,
                                err)) != MK_OK)
        goto out;
    if ((r = mk_atomicfile_lock(lock_fd, lock_timeout_ms)) != 0) {
        st = r == -EWOULDBLOCK
             ? mk_error_set(err, MK_ERR_BUSY, "the membership store is locked by another process")
             : mk_error_set(err, MK_ERR_IO, "cannot lock %s: %s", lock_path, strerror(-r));
        goto out;
    }
    if ((st = mk_store_json_load(dir_fd, cfg->state_dir, &s, sink, err)) != MK_OK)
        goto out;
    if ((st = store_read_etc_group(&etc, err)) != MK_OK)
        goto out;
    if (mk_policy_drop_unfit(&s, cfg, &notes) != 0) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (store_records_load(cfg, &records, sink) != 0) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (user && (st = store_apply_user(&s, user, in, in_count, now,
                                       store_user_stale(cfg, &s, &records, user, now),
                                       err)) != MK_OK)
        goto out;
    /* Stale users' memberships stay in store.json and leave groups.db. */
    if (!(stale = calloc(s.user_count ? s.user_count : 1, sizeof(*stale))) ||
        !(stale_since = calloc(s.user_count ? s.user_count : 1, sizeof(*stale_since)))) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    store_find_stale(cfg, &s, &records, user, now, stale, stale_since);
    if (!(members = store_members_build(&s, stale)) ||
        !(joined = calloc(s.org_count ? s.org_count : 1, sizeof(*joined)))) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    store_log_stale(&s, stale, stale_since, sink);
    /* Only joined organizations become groups. The other group sources
     * are asked again about what is published: all of it for publish, the
     * user's organizations on a write (a login stays cheap at any size). */
    for (size_t i = 0; i < s.org_count; i++)
        joined[i] = members[i].n > 0;
    if (!(recheck = calloc(s.org_count ? s.org_count : 1, sizeof(*recheck)))) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!user) {
        memcpy(recheck, joined, s.org_count * sizeof(*recheck));
    } else {
        for (size_t i = 0; i < in_count; i++) {
            ssize_t k = mk_storefile_find_org(&s, in[i].org_id);
            if (k >= 0)
                recheck[k] = joined[k];
        }
    }
    if ((st = mk_policy_assign(&s, joined, recheck, cfg, &etc, oracle, &notes,
                               &org_status, &org_err, err)) != MK_OK)
        goto out;
    entries = store_entries(&s, members, cfg, &etc, &notes, NULL, &entry_count);
    if (!entries) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* groups.db is encoded (once: compared with the file there, then the
     * same bytes published with the recycled mark of the replaced file) by
     * a second thread while this one serializes and records store.json:
     * at 100,000 organizations each is tens of milliseconds. Without a
     * thread, it is done below, in order. */
    job.entries = entries;
    job.count = entry_count;
    job.dir_fd = dir_fd;
    encoding = pthread_create(&encoder, NULL, store_encode_run, &job) == 0;
    if (!(text = mk_store_json_serialize(&s))) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Under the lock, no live writer has a temporary file: the ones there
     * are what killed writers left. */
    mk_atomicfile_remove_stale(dir_fd, cfg->state_dir, written, 2, sink);

    /* Record first: store.json holds every assignment before groups.db
     * shows it. If recording fails, nothing is published. */
    text_len = strlen(text);
    r = mk_atomicfile_same(dir_fd, MK_STOREFILE_NAME, text, text_len, 0, 0);
    if (r == 0)
        r = mk_atomicfile_replace(dir_fd, MK_STOREFILE_NAME, 0644, text, text_len, NULL);
    if (r < 0) {
        st = mk_error_set(err, MK_ERR_IO, "cannot write %s: %s; groups.db was left as it was",
                          path, strerror(-r));
        goto out;
    }
    /* Publish second, only when its bytes would change. */
    if (encoding) {
        pthread_join(encoder, NULL);
        encoding = false;
    } else {
        store_encode_run(&job);
    }
    r = job.r;
    if (r == 0)
        r = mk_groupfile_publish_at(dir_fd, STORE_GROUP_FILE, job.image, job.size);
    if (r < 0) {
        st = mk_error_set(err, MK_ERR_IO, "cannot write %s: %s", db_path, strerror(-r));
        goto out;
    }
    if (job.r == 0)
        store_tell_nscd(dir_fd, sink);
    if (org_status != MK_OK) {
        /* Written; one organization could not get a group. */
        if (err)
            *err = org_err;
        st = org_status;
    }
out:
    if (encoding)
        pthread_join(encoder, NULL);   /* it reads entries and dir_fd, freed below */
    store_log_notes(sink, &notes);
    if (lock_fd >= 0)
        close(lock_fd);
    if (dir_fd >= 0)
        close(dir_fd);
    free(text);
    free(job.image);
    free(entries);
    free(joined);
    free(recheck);
    free(stale);
    free(stale_since);
    store_records_free(&records);
    store_members_free(members, s.org_count);
    mk_policy_notes_free(&notes);
    mk_local_groups_free(&etc);
    mk_storefile_free(&s);
    free(in);
    free(ids);
    return st;
}

mk_status mk_store_set_user(const struct mk_config *cfg, const char *user,
                            const struct mk_membership *orgs, size_t n,
                            long lock_timeout_ms, const struct mk_log_sink *sink, mk_error *err)
{
    mk_error_clear(err);
    if (!mk_user_name_valid(user))
        return mk_error_set(err, MK_ERR_USAGE, "invalid user name: 1 to %d bytes without ':', "
                            "',', '/', spaces or control characters", MK_USER_NAME_MAX);
    return store_write(cfg, user, orgs, n, store_oracle, lock_timeout_ms, sink, err);
}

/* ---- publish: the other sources asked before the lock ---- */

/* publish re-checks every published group: two lookups each, which through
 * NSS can take a fraction of a millisecond apiece (more with a remote
 * source). They are made before the lock is taken, from the store as it
 * reads then, so that logins never wait behind them; under the lock the
 * policy takes these answers and asks NSS itself only about what they do
 * not cover (a group given since, a new gid). */
struct store_answer {
    gid_t gid;
    char *name;
    int r;      /* the oracle's answer: 1 found (name or gid filled), 0 none, < 0 failed */
};

struct store_prefetch {
    struct store_answer *by_gid, *by_name;
    size_t gid_count, name_count;
    const struct mk_group_oracle *live;
};

static int store_cmp_answer_gid(const void *a, const void *b)
{
    gid_t x = ((const struct store_answer *)a)->gid, y = ((const struct store_answer *)b)->gid;
    return x < y ? -1 : x > y;
}

static int store_cmp_answer_name(const void *a, const void *b)
{
    return strcmp(((const struct store_answer *)a)->name, ((const struct store_answer *)b)->name);
}

static int store_prefetch_by_gid(void *ctx, gid_t gid, char *name, size_t size)
{
    struct store_prefetch *pf = ctx;
    struct store_answer key = { .gid = gid };
    const struct store_answer *a = pf->gid_count ? bsearch(&key, pf->by_gid, pf->gid_count,
                                                           sizeof(key), store_cmp_answer_gid)
                                                 : NULL;
    if (!a)
        return pf->live->by_gid(pf->live->ctx, gid, name, size);
    if (a->r > 0)
        snprintf(name, size, "%s", a->name ? a->name : "");
    return a->r;
}

static int store_prefetch_by_name(void *ctx, const char *name, gid_t *gid)
{
    struct store_prefetch *pf = ctx;
    struct store_answer key = { .name = (char *)name };
    const struct store_answer *a = pf->name_count ? bsearch(&key, pf->by_name, pf->name_count,
                                                            sizeof(key), store_cmp_answer_name)
                                                  : NULL;
    if (!a)
        return pf->live->by_name(pf->live->ctx, name, gid);
    if (a->r > 0)
        *gid = a->gid;
    return a->r;
}

static void store_prefetch_free(struct store_prefetch *pf)
{
    for (size_t i = 0; i < pf->gid_count; i++)
        free(pf->by_gid[i].name);
    for (size_t i = 0; i < pf->name_count; i++)
        free(pf->by_name[i].name);
    free(pf->by_gid);
    free(pf->by_name);
    memset(pf, 0, sizeof(*pf));
}

/* Asks live about every group of the store that has a member. Best effort:
 * a store that cannot be read now leaves pf empty (the locked write then
 * says why); memory failure too (the locked write asks NSS itself). */
static void store_prefetch_build(const struct mk_config *cfg, struct store_prefetch *pf)
{
    struct mk_storefile s = { 0 };
    bool *member = NULL;
    char found[MK_GROUP_NAME_MAX * 4];
    mk_error err;
    int dir_fd = -1;

    memset(pf, 0, sizeof(*pf));
    pf->live = store_oracle;
    if (mk_trust_open_dir(cfg->state_dir, MK_STOREFILE_STATE_DIR, false, &dir_fd, &err) != MK_OK || dir_fd < 0 ||
        mk_store_json_load(dir_fd, cfg->state_dir, &s, NULL, &err) != MK_OK)
        goto out;
    if (!(member = calloc(s.org_count ? s.org_count : 1, sizeof(*member))) ||
        !(pf->by_gid = calloc(s.org_count ? s.org_count : 1, sizeof(*pf->by_gid))) ||
        !(pf->by_name = calloc(s.org_count ? s.org_count : 1, sizeof(*pf->by_name))))
        goto fail;
    for (size_t u = 0; u < s.user_count; u++) {
        for (size_t i = 0; i < s.users[u].org_count; i++) {
            ssize_t k = mk_storefile_find_org(&s, s.users[u].orgs[i]);
            if (k >= 0)
                member[k] = true;
        }
    }
    for (size_t i = 0; i < s.org_count; i++) {
        const struct mk_storefile_org *o = &s.orgs[i];
        struct store_answer *g = &pf->by_gid[pf->gid_count], *n = &pf->by_name[pf->name_count];
        if (!member[i] || !o->group)
            continue;
        g->gid = o->gid;
        g->r = pf->live->by_gid(pf->live->ctx, o->gid, found, sizeof(found));
        if (g->r > 0 && !(g->name = strdup(found)))
            goto fail;
        pf->gid_count++;
        if (!(n->name = strdup(o->group)))
            goto fail;
        pf->name_count++;
        n->r = pf->live->by_name(pf->live->ctx, o->group, &n->gid);
    }
    qsort(pf->by_gid, pf->gid_count, sizeof(*pf->by_gid), store_cmp_answer_gid);
    qsort(pf->by_name, pf->name_count, sizeof(*pf->by_name), store_cmp_answer_name);
    goto out;
fail:
    store_prefetch_free(pf);
    pf->live = store_oracle;
out:
    free(member);
    mk_storefile_free(&s);
    if (dir_fd >= 0)
        close(dir_fd);
}

mk_status mk_store_publish(const struct mk_config *cfg, long lock_timeout_ms,
                           const struct mk_log_sink *sink, mk_error *err)
{
    struct store_prefetch pf;
    struct mk_group_oracle oracle = { store_prefetch_by_gid, store_prefetch_by_name, &pf };
    mk_status st;

    mk_error_clear(err);
    if ((st = mk_policy_check_config(cfg, err)) != MK_OK)
        return st;
    store_prefetch_build(cfg, &pf);
    st = store_write(cfg, NULL, NULL, 0, &oracle, lock_timeout_ms, sink, err);
    store_prefetch_free(&pf);
    return st;
}

/* ---- reading, for `mkio-orgs status` ---- */

static char **store_strv_dup(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof(*out));
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = strdup(v[i]))) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static mk_status store_view_fill(const struct mk_storefile *s, const struct mk_group_entry *entries,
                                 const size_t *index, size_t entry_count,
                                 const bool *stale, const int64_t *stale_since,
                                 struct mk_store_view *out)
{
    out->groups = calloc(entry_count ? entry_count : 1, sizeof(*out->groups));
    out->users = calloc(s->user_count ? s->user_count : 1, sizeof(*out->users));
    if (!out->groups || !out->users)
        return MK_ERR_NOMEM;
    for (size_t i = 0; i < entry_count; i++) {
        struct mk_store_group *g = &out->groups[i];
        const struct mk_storefile_org *o = &s->orgs[index[i]];
        out->group_count++;
        g->gid = o->gid;
        g->pinned = o->pinned;
        if (!(g->org_id = strdup(o->id)) || (o->name && !(g->org_name = strdup(o->name))) ||
            !(g->group_name = strdup(o->group)) ||
            !(g->members = store_strv_dup(entries[i].members, entries[i].member_count)))
            return MK_ERR_NOMEM;
        g->member_count = entries[i].member_count;
    }
    for (size_t i = 0; i < s->user_count; i++) {
        struct mk_store_user *u = &out->users[i];
        out->user_count++;
        u->refreshed = (time_t)s->users[i].refreshed;
        u->stale = stale[i];
        u->known_good = stale_since[i];
        if (!(u->user = strdup(s->users[i].name)) ||
            !(u->org_ids = store_strv_dup((const char *const *)s->users[i].orgs,
                                          s->users[i].org_count)))
            return MK_ERR_NOMEM;
        u->org_count = s->users[i].org_count;
    }
    return MK_OK;
}

mk_status mk_store_read(const struct mk_config *cfg, struct mk_store_view *out, mk_error *err)
{
    struct mk_storefile s = { 0 };
    struct mk_local_groups etc = { 0 };
    struct store_members *members = NULL;
    struct mk_group_entry *entries = NULL;
    size_t *index = NULL;
    size_t entry_count = 0;
    struct store_records records = { 0 };
    bool *stale = NULL;
    int64_t *stale_since = NULL;
    int dir_fd = -1;
    mk_status st;

    mk_error_clear(err);
    if (!out)
        return mk_error_set(err, MK_ERR_USAGE, "no view to fill");
    memset(out, 0, sizeof(*out));
    if (!cfg || !cfg->state_dir || !cfg->state_dir[0])
        return mk_error_set(err, MK_ERR_USAGE, "no state directory configured");
    /* The same checks as the writer: what status shows is believed too. */
    if ((st = mk_trust_open_dir(cfg->state_dir, MK_STOREFILE_STATE_DIR, false, &dir_fd, err)) != MK_OK)
        goto out;
    if (dir_fd >= 0 && (st = mk_store_json_load(dir_fd, cfg->state_dir, &s, NULL, err)) != MK_OK)
        goto out;
    /* The same selection as groups.db: local groups win there too. */
    if ((st = store_read_etc_group(&etc, err)) != MK_OK)
        goto out;
    /* The same selection as groups.db: stale users' memberships are left
     * out of the groups (and shown in the users). */
    if (!(stale = calloc(s.user_count ? s.user_count : 1, sizeof(*stale))) ||
        !(stale_since = calloc(s.user_count ? s.user_count : 1, sizeof(*stale_since))) ||
        store_records_load(cfg, &records, NULL) != 0) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
    store_find_stale(cfg, &s, &records, NULL, store_now(), stale, stale_since);
    members = store_members_build(&s, stale);
    entries = members ? store_entries(&s, members, cfg, &etc, NULL, &index, &entry_count) : NULL;
    if (!entries || store_view_fill(&s, entries, index, entry_count, stale, stale_since,
                                    out) != MK_OK) {
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
        goto out;
    }
out:
    if (st != MK_OK)
        mk_store_view_free(out);
    if (dir_fd >= 0)
        close(dir_fd);
    free(entries);
    free(index);
    free(stale);
    free(stale_since);
    store_records_free(&records);
    store_members_free(members, s.org_count);
    mk_local_groups_free(&etc);
    mk_storefile_free(&s);
    return st;
}

void mk_store_view_free(struct mk_store_view *view)
{
    if (!view)
        return;
    for (size_t i = 0; i < view->group_count; i++) {
        struct mk_store_group *g = &view->groups[i];
        free(g->org_id);
        free(g->org_name);
        free(g->group_name);
        for (size_t k = 0; g->members && k < g->member_count; k++)
            free(g->members[k]);
        free(g->members);
    }
    free(view->groups);
    for (size_t i = 0; i < view->user_count; i++) {
        struct mk_store_user *u = &view->users[i];
        free(u->user);
        for (size_t k = 0; u->org_ids && k < u->org_count; k++)
            free(u->org_ids[k]);
        free(u->org_ids);
    }
    free(view->users);
    memset(view, 0, sizeof(*view));
}
