/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/write.c: the store's one write path, as named phases (see
 * write.h).
 *
 * The order of a write is what keeps invariant 3 across a crash: store.json
 * records every assignment (written, fsync'd, renamed, directory fsync'd)
 * before groups.db publishes it. A writer killed in between leaves a gid
 * recorded and not yet published, which the next write publishes; never
 * one published and not recorded, which a later writer could give to
 * another organization. A file whose bytes would not change is not
 * written at all (readers keep their mapping; nothing is fsync'd).
 */
#include "store/write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomicfile.h"
#include "base/text.h"
#include "base/trust.h"
#include "groupfile/reader.h"
#include "groupfile/writer.h"
#include "store/compile.h"
#include "store/etc_group.h"
#include "store/history.h"
#include "store/nscd.h"
#include "store/stale.h"
#include "store/stamp.h"
#include "store/store_json.h"
#include "store/storefile.h"
#include "store/taken.h"
#include "store/userdb.h"
#include "store/userstate.h"

#define WRITE_LOCK_FILE "store.lock"
#define WRITE_GROUP_FILE "groups.db"

static int write_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void write_log_notes(const struct mk_log_sink *sink, const struct mk_policy_notes *notes)
{
    for (size_t i = 0; i < notes->n; i++)
        mk_log(sink, notes->v[i].priority, "%s", notes->v[i].text);
}

static int write_cmp_membership(const void *a, const void *b)
{
    return strcmp(((const struct mk_membership *)a)->org_id,
                  ((const struct mk_membership *)b)->org_id);
}

/* orgs, validated, ids canonical, sorted, duplicates merged (the first
 * display name given wins). *ids holds the canonical ids (one malloc'd
 * block); *out's names borrow from orgs. */
static mk_status write_input(const struct mk_membership *orgs, size_t n,
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
    qsort(v, n, sizeof(*v), write_cmp_membership);
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
static mk_status write_apply_user(struct mk_storefile *s, const char *user,
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
struct write_encode_job {
    const struct mk_group_entry *entries;
    size_t count;
    int dir_fd;
    unsigned char *image;
    size_t size;
    int r;   /* mk_atomicfile_same's answer (1 same, 0 differs), or negative errno */
};

static void *write_encode_run(void *arg)
{
    struct write_encode_job *job = arg;
    job->r = mk_groupfile_encode(job->entries, job->count, &job->image, &job->size);
    if (job->r == 0)
        job->r = mk_atomicfile_same(job->dir_fd, WRITE_GROUP_FILE, job->image, job->size,
                                    MKGF_FLAGS_OFFSET, 4);
    return NULL;
}

/* groups.db in dir_fd was just replaced: when it is the file the NSS
 * module reads, nscd and unscd (which cache our answers and watch only
 * /etc/group) are asked to drop their group caches. Same file means same
 * device and inode, whatever the spelling of state_dir. A failure is a
 * warning: the new file is in place either way. */
static void write_tell_nscd(int dir_fd, const char *nscd_socket, const struct mk_log_sink *sink)
{
    struct stat ours, shipped;
    int r;

    if (fstatat(dir_fd, WRITE_GROUP_FILE, &ours, AT_SYMLINK_NOFOLLOW) != 0 ||
        stat(MK_GROUPFILE_DEFAULT_PATH, &shipped) != 0 ||
        ours.st_dev != shipped.st_dev || ours.st_ino != shipped.st_ino)
        return;
    if ((r = mk_nscd_invalidate_group(nscd_socket)) < 0)
        mk_log(sink, MK_LOG_WARNING, "groups.db changed, but nscd did not drop its group "
               "cache (%s): `nscd -i group` does it", strerror(-r));
}

/* Everything one write holds, from the lock to the publish; each phase
 * below fills its part, write_free gives it all back. */
struct write_state {
    const struct mk_config *cfg;
    const struct mk_store_env *env;
    const char *user;                     /* NULL: publish */
    const struct mk_group_oracle *oracle;
    const struct mk_log_sink *sink;
    struct mk_store_change *change;       /* NULL: not asked */
    int64_t now;
    /* The user's organizations, canonical, sorted, unique (write_input). */
    struct mk_membership *in;
    char *ids;
    size_t in_count;
    /* write_lock */
    char path[PATH_MAX], db_path[PATH_MAX], lock_path[PATH_MAX];
    int dir_fd, lock_fd;
    /* write_load */
    struct mk_storefile s;
    struct mk_local_groups etc;
    struct mk_stamp_id etc_id;            /* /etc/group as read, for the stamp */
    bool etc_id_ok;
    struct mk_stale_records records;
    struct mk_policy_notes notes;
    struct mk_history_snapshot snap;      /* each organization's group before the policy */
    char **before;                        /* the user's groups in groups.db before */
    size_t before_count;
    /* write_select: indexed like s.users, then like s.orgs */
    bool *stale;
    int64_t *stale_since;
    struct mk_compile_members *members;
    bool *joined, *recheck;
    /* write_assign */
    struct mk_group_entry *entries;
    size_t *entry_org;      /* each entry's index in s.orgs */
    size_t entry_count;
    mk_status org_status;   /* an organization that got no group: reported after the publish */
    mk_error org_err;
    /* write_record, write_publish */
    char *text;
    struct write_encode_job job;
    pthread_t encoder;
    bool encoding;
    bool recorded;          /* store.json was replaced */
    bool published;         /* groups.db is in place (replaced or already the same) */
};

static mk_status write_nomem(mk_error *err)
{
    return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
}

/* Opens and checks the state directory (made when missing) and its lock
 * file, and takes the lock, waiting at most lock_timeout_ms. */
static mk_status write_lock(struct write_state *w, long lock_timeout_ms, mk_error *err)
{
    const char *dir = w->cfg->state_dir;
    mk_status st;
    int r;

    if (write_path(w->path, sizeof(w->path), dir, MK_STOREFILE_NAME) != 0 ||
        write_path(w->db_path, sizeof(w->db_path), dir, WRITE_GROUP_FILE) != 0 ||
        write_path(w->lock_path, sizeof(w->lock_path), dir, WRITE_LOCK_FILE) != 0)
        return mk_error_set(err, MK_ERR_USAGE, "the state directory path is too long");
    if ((st = mk_trust_open_dir(dir, MK_STOREFILE_STATE_DIR, true, &w->dir_fd, err)) != MK_OK)
        return st;
    st = mk_trust_openat(w->dir_fd, WRITE_LOCK_FILE, w->lock_path, O_RDWR | O_CREAT, &w->lock_fd,
                         err);
    if (st != MK_OK)
        return st;
    if ((r = mk_atomicfile_lock(w->lock_fd, lock_timeout_ms)) != 0)
        return r == -EWOULDBLOCK
               ? mk_error_set(err, MK_ERR_BUSY, "the membership store is locked by another process")
               : mk_error_set(err, MK_ERR_IO, "cannot lock %s: %s", w->lock_path, strerror(-r));
    return MK_OK;
}

static int write_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void write_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* The names of the groups groups.db gives the user from s now (their
 * organizations' groups that are active: grouppolicy.h), sorted, copied;
 * none for a stale user. 0 or -ENOMEM. */
static int write_user_groups(struct write_state *w, bool stale, char ***out, size_t *count)
{
    const struct mk_storefile_user *u = mk_storefile_user_get(&w->s, w->user);
    char **v;

    *out = NULL;
    *count = 0;
    if (!u)
        return -ENOMEM;
    if (!(v = calloc(u->org_count ? u->org_count : 1, sizeof(*v))))
        return -ENOMEM;
    for (size_t i = 0; !stale && i < u->org_count; i++) {
        ssize_t k = mk_storefile_find_org(&w->s, u->orgs[i]);
        const struct mk_storefile_org *o = k >= 0 ? &w->s.orgs[k] : NULL;
        if (!o || !o->group || !mk_policy_org_active(o, w->cfg, &w->etc, NULL))
            continue;
        if (!(v[*count] = strdup(o->group))) {
            write_strv_free(v, *count);
            *count = 0;
            return -ENOMEM;
        }
        (*count)++;
    }
    qsort(v, *count, sizeof(*v), write_cmp_str);
    *out = v;
    return 0;
}

/* Under the lock: store.json, /etc/group, the users' records; with a user,
 * their groups noted and their organizations put in; every group noted
 * (history.h), then groups that no longer fit taken away. */
static mk_status write_load(struct write_state *w, mk_error *err)
{
    const struct mk_config *cfg = w->cfg;
    mk_status st;

    if ((st = mk_store_json_load(w->dir_fd, cfg->state_dir, &w->s, w->sink, err)) != MK_OK)
        return st;
    /* Taken before the read: an edit in between makes the stamp disagree. */
    w->etc_id_ok = w->user && mk_stamp_id_file(mk_store_env_etc_group(w->env), &w->etc_id) == 0;
    if ((st = mk_etc_group_read(mk_store_env_etc_group(w->env), &w->etc, err)) != MK_OK)
        return st;
    if (mk_stale_records_load(cfg, &w->records, w->sink) != 0)
        return write_nomem(err);
    if (w->user) {
        bool stale = mk_stale_user(cfg, &w->s, &w->records, w->user, w->now);
        if (w->change && write_user_groups(w, stale, &w->before, &w->before_count) != 0)
            return write_nomem(err);
        if ((st = write_apply_user(&w->s, w->user, w->in, w->in_count, w->now, stale,
                                   err)) != MK_OK)
            return st;
    }
    /* After the user's organizations are in: s->orgs stays as it is. */
    if (mk_history_snapshot_take(&w->s, &w->snap) != 0 ||
        mk_policy_drop_unfit(&w->s, cfg, &w->notes) != 0)
        return write_nomem(err);
    return MK_OK;
}

/* *change: the user's groups after the write against before, both sorted. */
static mk_status write_change(struct write_state *w, mk_error *err)
{
    struct mk_store_change *c = w->change;
    char **after = NULL;
    size_t after_count = 0, i = 0, k = 0;

    if (write_user_groups(w, false, &after, &after_count) != 0 ||
        !(c->added = calloc(after_count ? after_count : 1, sizeof(char *))) ||
        !(c->removed = calloc(w->before_count ? w->before_count : 1, sizeof(char *))))
        goto nomem;
    while (i < w->before_count || k < after_count) {
        int d = i == w->before_count ? 1 : k == after_count ? -1
                                         : strcmp(w->before[i], after[k]);
        if (d < 0)
            c->removed[c->removed_count++] = w->before[i], w->before[i++] = NULL;
        else if (d > 0)
            c->added[c->added_count++] = after[k], after[k++] = NULL;
        else
            i++, k++;
    }
    write_strv_free(after, after_count);
    return MK_OK;
nomem:
    write_strv_free(after, after_count);
    mk_store_change_free(c);
    return write_nomem(err);
}

/* Who counts: stale users' memberships stay in store.json and leave
 * groups.db (one warning each); only joined organizations become groups.
 * The other group sources are asked again about what is published: all of
 * it for publish, the user's organizations on a write (a login stays cheap
 * at any size). */
static mk_status write_select(struct write_state *w, mk_error *err)
{
    const struct mk_storefile *s = &w->s;
    size_t users = s->user_count ? s->user_count : 1, orgs = s->org_count ? s->org_count : 1;

    if (!(w->stale = calloc(users, sizeof(*w->stale))) ||
        !(w->stale_since = calloc(users, sizeof(*w->stale_since))))
        return write_nomem(err);
    mk_stale_find(w->cfg, s, &w->records, w->user, w->now, w->stale, w->stale_since);
    if (!(w->members = mk_compile_members_build(s, w->stale)) ||
        !(w->joined = calloc(orgs, sizeof(*w->joined))))
        return write_nomem(err);
    mk_stale_log(s, w->stale, w->stale_since, w->sink);
    for (size_t i = 0; i < s->org_count; i++)
        w->joined[i] = w->members[i].n > 0;
    if (!(w->recheck = calloc(orgs, sizeof(*w->recheck))))
        return write_nomem(err);
    if (!w->user) {
        memcpy(w->recheck, w->joined, s->org_count * sizeof(*w->recheck));
    } else {
        for (size_t i = 0; i < w->in_count; i++) {
            ssize_t k = mk_storefile_find_org(s, w->in[i].org_id);
            if (k >= 0)
                w->recheck[k] = w->joined[k];
        }
    }
    return MK_OK;
}

/* Names and gids given (grouppolicy.h), then the groups groups.db will
 * hold. */
static mk_status write_assign(struct write_state *w, mk_error *err)
{
    mk_status st = mk_policy_assign(&w->s, w->joined, w->recheck, w->cfg, &w->etc, w->oracle,
                                    &w->notes, &w->org_status, &w->org_err, err);
    if (st != MK_OK)
        return st;
    if (mk_history_record(&w->s, &w->snap, &w->notes, w->now) != 0)
        return write_nomem(err);
    /* Each entry's organization only for the export: a login at 100,000
     * organizations does not pay for an index it never reads. */
    w->entries = mk_compile_entries(&w->s, w->members, w->cfg, &w->etc, &w->notes,
                                    w->cfg->userdb_export ? &w->entry_org : NULL,
                                    &w->entry_count);
    return w->entries ? MK_OK : write_nomem(err);
}

/* groups.db is encoded (once: compared with the file there, then the same
 * bytes published with the recycled mark of the replaced file) by a second
 * thread while this one serializes and records store.json: at 100,000
 * organizations each is tens of milliseconds. Without a thread, it is done
 * in write_publish, in order. */
static void write_encode_start(struct write_state *w)
{
    w->job.entries = w->entries;
    w->job.count = w->entry_count;
    w->job.dir_fd = w->dir_fd;
    w->encoding = pthread_create(&w->encoder, NULL, write_encode_run, &w->job) == 0;
}

/* Record first: store.json holds every assignment before groups.db shows
 * it. If recording fails, nothing is published. Under the lock, no live
 * writer has a temporary file: the ones there are what killed writers
 * left, removed here. */
static mk_status write_record(struct write_state *w, mk_error *err)
{
    static const char *const written[] = { MK_STOREFILE_NAME, WRITE_GROUP_FILE };
    size_t len;
    int r;

    if (!(w->text = mk_store_json_serialize(&w->s)))
        return write_nomem(err);
    mk_atomicfile_remove_stale(w->dir_fd, w->cfg->state_dir, written, 2, w->sink);
    len = strlen(w->text);
    r = mk_atomicfile_same(w->dir_fd, MK_STOREFILE_NAME, w->text, len, 0, 0);
    if (r == 0) {
        r = mk_atomicfile_replace(w->dir_fd, MK_STOREFILE_NAME, 0644, w->text, len, NULL);
        w->recorded = true;
    }
    if (r < 0)
        return mk_error_set(err, MK_ERR_IO, "cannot write %s: %s; groups.db was left as it was",
                            w->path, strerror(-r));
    return MK_OK;
}

/* Publish second, only when its bytes would change; then nscd is told.
 * An organization that got no group is the write's answer now that
 * everything is written. */
static mk_status write_publish(struct write_state *w, mk_error *err)
{
    int r;

    if (w->encoding) {
        pthread_join(w->encoder, NULL);
        w->encoding = false;
    } else {
        write_encode_run(&w->job);
    }
    r = w->job.r;
    if (r == 0)
        r = mk_groupfile_publish_at(w->dir_fd, WRITE_GROUP_FILE, w->job.image, w->job.size);
    if (r < 0)
        return mk_error_set(err, MK_ERR_IO, "cannot write %s: %s", w->db_path, strerror(-r));
    w->published = true;
    if (w->job.r == 0)
        write_tell_nscd(w->dir_fd, mk_store_env_nscd_socket(w->env), w->sink);
    if (w->org_status != MK_OK) {
        if (err)
            *err = w->org_err;
        return w->org_status;
    }
    return MK_OK;
}

/* With userdb_export, the published groups again as systemd's group
 * records (userdb.h), last: groups.db is the truth and is in place. The
 * records follow from store.json and groups.db alone, so a write that
 * changed neither skips it (a login stays cheap); publish always exports,
 * which rebuilds the directory at boot (it is a tmpfs) and retries what a
 * failed export left. A failure is a warning: the store's write is done. */
static void write_export(struct write_state *w)
{
    struct mk_userdb_group *groups;
    const char *dir = mk_store_env_userdb_dir(w->env);
    mk_error err;

    if (!w->cfg->userdb_export || !w->entry_org ||
        (w->user && !w->recorded && w->job.r != 0))
        return;
    if (!(groups = calloc(w->entry_count ? w->entry_count : 1, sizeof(*groups)))) {
        mk_log(w->sink, MK_LOG_WARNING, "out of memory: the user database in %s was not "
               "updated", dir);
        return;
    }
    for (size_t i = 0; i < w->entry_count; i++) {
        const struct mk_storefile_org *o = &w->s.orgs[w->entry_org[i]];
        groups[i] = (struct mk_userdb_group){ .name = w->entries[i].name,
                                              .gid = w->entries[i].gid,
                                              .org_id = o->id, .org_name = o->name,
                                              .members = w->entries[i].members,
                                              .member_count = w->entries[i].member_count };
    }
    mk_error_clear(&err);
    if (mk_userdb_export(dir, groups, w->entry_count, w->sink, &err) != MK_OK)
        mk_log(w->sink, MK_LOG_WARNING, "the user database was not updated: %s; the next "
               "`mkio-orgs store publish` retries", err.message);
    free(groups);
}

/* Whether this user's write would change nothing, told from their stamp
 * (stamp.h) without loading store.json: store.json, groups.db, /etc/group
 * and the configuration are what the stamp saw, the organizations are the
 * ones it was given, neither the user nor any other whose groups are
 * published has passed max_stale since, and the other group sources
 * still give none of the user's groups' names or gids to another group
 * (the question every write of a user asks again about their
 * organizations, grouppolicy.h; an answer that is not one counts as none
 * there too). A write's cost then does not grow with the store. */
static bool write_unchanged(struct write_state *w)
{
    const struct mk_config *cfg = w->cfg;
    struct mk_taken t = { .oracle = w->oracle };
    struct mk_user_state rec;
    struct mk_stamp st;
    struct mk_stamp_id id;
    mk_error err;
    bool same;

    if (mk_stamp_read(cfg->state_dir, w->user, &st) != 1)
        return false;
    same = st.config == mk_stamp_config_digest(cfg) && st.org_count == w->in_count &&
           st.input == mk_stamp_input_digest(w->in, w->in_count) &&
           mk_stamp_id_at(w->dir_fd, MK_STOREFILE_NAME, &id) == 0 &&
           mk_stamp_id_equal(&id, &st.store) &&
           mk_stamp_id_at(w->dir_fd, WRITE_GROUP_FILE, &id) == 0 &&
           mk_stamp_id_equal(&id, &st.groups) &&
           mk_stamp_id_file(mk_store_env_etc_group(w->env), &id) == 0 &&
           mk_stamp_id_equal(&id, &st.etc);
    if (same && cfg->max_stale_ms > 0) {
        mk_error_clear(&err);
        same = mk_user_state_read(cfg, w->user, &rec, &err) == MK_OK &&
               !mk_user_state_stale(cfg, mk_user_state_known_good(&rec, st.refreshed), w->now) &&
               !mk_user_state_stale(cfg, st.oldest_good, w->now);
    }
    for (size_t i = 0; same && i < st.org_count; i++) {
        struct mk_taken_own own = { st.orgs[i].group, st.orgs[i].gid };
        char other[MK_GROUP_NAME_MAX * 4];
        gid_t other_gid;
        same = mk_taken_oracle_gid(&t, own, own.gid, other, sizeof(other)) <= 0 &&
               mk_taken_oracle_name(&t, own, own.name, &other_gid) <= 0;
    }
    mk_stamp_free(&st);
    return same;
}

/* After a whole write of the user that left everything in place: their
 * stamp, for their next write. Only when every joined organization has
 * the group the policy keeps without asking anyone (a pin not applied is
 * tried again by every write, which a stamp would skip). A stamp not
 * written costs the next write its shortcut, nothing else. */
static void write_stamp(struct write_state *w)
{
    const struct mk_storefile *s = &w->s;
    struct mk_storefile_user *u = mk_storefile_user_get(&w->s, w->user);
    struct mk_stamp st = { .config = mk_stamp_config_digest(w->cfg),
                           .input = mk_stamp_input_digest(w->in, w->in_count),
                           .etc = w->etc_id };

    if (!w->etc_id_ok || !u || u->org_count != w->in_count ||
        mk_stamp_id_at(w->dir_fd, MK_STOREFILE_NAME, &st.store) != 0 ||
        mk_stamp_id_at(w->dir_fd, WRITE_GROUP_FILE, &st.groups) != 0)
        return;
    for (size_t i = 0; i < s->org_count; i++)
        if (w->joined[i] && !mk_policy_org_settled(&s->orgs[i], w->cfg))
            return;
    for (size_t i = 0; i < s->user_count; i++) {
        int64_t good = w->stale_since[i];
        if (!w->stale[i] && s->users[i].org_count && good > 0 &&
            strcmp(s->users[i].name, w->user) != 0 && (!st.oldest_good || good < st.oldest_good))
            st.oldest_good = good;
    }
    st.refreshed = u->refreshed;
    if (!(st.orgs = calloc(u->org_count ? u->org_count : 1, sizeof(*st.orgs))))
        return;
    for (size_t i = 0; i < u->org_count; i++) {
        ssize_t k = mk_storefile_find_org(s, u->orgs[i]);
        if (k < 0 || !s->orgs[k].group)
            goto out;
        st.orgs[st.org_count++] = (struct mk_stamp_org){ s->orgs[k].group, s->orgs[k].gid };
    }
    (void)mk_stamp_write(w->cfg->state_dir, w->user, &st);
out:
    free(st.orgs);   /* the strings are the store's */
}

/* Gives back everything w holds, after the notes are logged; the encoder
 * is joined first: it reads entries and dir_fd. */
static void write_free(struct write_state *w)
{
    if (w->encoding)
        pthread_join(w->encoder, NULL);
    write_log_notes(w->sink, &w->notes);
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    if (w->dir_fd >= 0)
        close(w->dir_fd);
    free(w->text);
    free(w->job.image);
    free(w->entries);
    free(w->entry_org);
    free(w->joined);
    free(w->recheck);
    free(w->stale);
    free(w->stale_since);
    mk_stale_records_free(&w->records);
    mk_compile_members_free(w->members, w->s.org_count);
    mk_policy_notes_free(&w->notes);
    mk_history_snapshot_free(&w->snap);
    write_strv_free(w->before, w->before_count);
    mk_local_groups_free(&w->etc);
    mk_storefile_free(&w->s);
    free(w->in);
    free(w->ids);
}

mk_status mk_write_store(const struct mk_config *cfg, const struct mk_store_env *env,
                         const char *user, const struct mk_membership *orgs, size_t n,
                         const struct mk_group_oracle *oracle, long lock_timeout_ms,
                         const struct mk_log_sink *sink, struct mk_store_change *change,
                         mk_error *err)
{
    struct write_state w = { .cfg = cfg, .env = env, .user = user, .oracle = oracle,
                             .sink = sink, .change = user ? change : NULL, .now = mk_store_env_now(env), .dir_fd = -1,
                             .lock_fd = -1, .job = { .dir_fd = -1 } };
    mk_status st;

    mk_error_clear(err);
    mk_error_clear(&w.org_err);
    if ((st = mk_policy_check_config(cfg, err)) != MK_OK)
        return st;
    if (user && (st = write_input(orgs, n, &w.in, &w.ids, &w.in_count, err)) != MK_OK)
        return st;
    if ((st = write_lock(&w, lock_timeout_ms, err)) != MK_OK)
        goto out;
    if (user && write_unchanged(&w))
        goto out;   /* MK_OK; *change stays empty: nothing was added or removed */
    if ((st = write_load(&w, err)) != MK_OK ||
        (st = write_select(&w, err)) != MK_OK ||
        (st = write_assign(&w, err)) != MK_OK)
        goto out;
    write_encode_start(&w);
    if ((st = write_record(&w, err)) != MK_OK)
        goto out;
    st = write_publish(&w, err);
    if (w.published)
        write_export(&w);
    if (w.published && w.change && (st == MK_OK || st == MK_ERR_USAGE)) {
        mk_error local;
        if (write_change(&w, &local) != MK_OK && st == MK_OK)
            st = write_nomem(err);
    }
    if (w.published && user && st == MK_OK)
        write_stamp(&w);
    else if (!user)
        mk_stamp_sweep(cfg->state_dir, sink);   /* what killed writers of stamps left */
out:
    write_free(&w);
    return st;
}
