/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/stamp.c: what a user's last write saw (see stamp.h).
 *
 * The file, state_dir/stamps/USER, is text:
 *
 *     mkio-write-stamp 1
 *     store DEV INO SIZE MTIME_S MTIME_NS CTIME_S CTIME_NS HASH
 *     groups ...the same fields
 *     etc ...the same fields
 *     config HEX
 *     input HEX
 *     refreshed SECONDS
 *     oldest_good SECONDS
 *     org GID GROUP            (one line per organization of the user)
 *
 * Anything else reads as no stamp.
 */
#include "store/stamp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomicfile.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "base/trust.h"
#include "store/storefile.h"

#define STAMP_MAGIC "mkio-write-stamp 1"
#define STAMP_MAX_FILE (1u << 20)
#define STAMP_MAX_ETC_GROUP (64u << 20)

static void stamp_id_fill(const struct stat *st, struct mk_stamp_id *out)
{
    memset(out, 0, sizeof(*out));
    out->dev = (uint64_t)st->st_dev;
    out->ino = (uint64_t)st->st_ino;
    out->size = (uint64_t)st->st_size;
    out->mtime_s = (int64_t)st->st_mtim.tv_sec;
    out->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
    out->ctime_s = (int64_t)st->st_ctim.tv_sec;
    out->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

int mk_stamp_id_at(int dirfd, const char *name, struct mk_stamp_id *out)
{
    struct stat st;

    memset(out, 0, sizeof(*out));
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -errno;
    stamp_id_fill(&st, out);
    return 0;
}

int mk_stamp_id_file(const char *path, struct mk_stamp_id *out)
{
    struct stat st;
    char *data = NULL;
    size_t len = 0;
    int r, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    memset(out, 0, sizeof(*out));
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        close(fd);
        return r;
    }
    r = mk_fileio_read_all(fd, STAMP_MAX_ETC_GROUP, &data, &len);
    close(fd);
    if (r < 0)
        return r;
    stamp_id_fill(&st, out);
    out->hash = mk_fnv1a_bytes(MK_FNV1A_OFFSET, data, len);
    free(data);
    return 0;
}

bool mk_stamp_id_equal(const struct mk_stamp_id *a, const struct mk_stamp_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns &&
           a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns && a->hash == b->hash;
}

/* h continued over s and a separator that no string holds (NULL: its own
 * mark). */
static uint64_t stamp_hash_str(uint64_t h, const char *s)
{
    static const unsigned char none = 1, end = 0;
    if (!s)
        return mk_fnv1a_bytes(h, &none, 1);
    return mk_fnv1a_bytes(mk_fnv1a_bytes(h, s, strlen(s)), &end, 1);
}

static uint64_t stamp_hash_u64(uint64_t h, uint64_t v)
{
    return mk_fnv1a_bytes(h, &v, sizeof(v));
}

uint64_t mk_stamp_config_digest(const struct mk_config *cfg)
{
    uint64_t h = MK_FNV1A_OFFSET;

    h = stamp_hash_str(h, cfg->group_prefix);
    h = stamp_hash_u64(h, cfg->gid_min);
    h = stamp_hash_u64(h, cfg->gid_max);
    h = stamp_hash_u64(h, (uint64_t)cfg->max_stale_ms);
    h = stamp_hash_u64(h, cfg->userdb_export);
    h = stamp_hash_str(h, cfg->state_dir);
    h = stamp_hash_u64(h, cfg->pin_count);
    for (size_t i = 0; i < cfg->pin_count; i++) {
        h = stamp_hash_str(h, cfg->pins[i].org_id);
        h = stamp_hash_str(h, cfg->pins[i].group_name);
        h = stamp_hash_u64(h, cfg->pins[i].gid);
    }
    h = stamp_hash_u64(h, cfg->ids_pins_from);
    h = stamp_hash_u64(h, cfg->ids_pins_to);
    h = stamp_hash_u64(h, cfg->retired_count);
    for (size_t i = 0; i < cfg->retired_count; i++)
        h = stamp_hash_str(h, cfg->retired[i]);
    return h;
}

uint64_t mk_stamp_input_digest(const struct mk_membership *in, size_t n)
{
    uint64_t h = stamp_hash_u64(MK_FNV1A_OFFSET, n);
    for (size_t i = 0; i < n; i++) {
        h = stamp_hash_str(h, in[i].org_id);
        h = stamp_hash_str(h, in[i].org_name);
    }
    return h;
}

/* state_dir/stamps opened and checked (trust.h), made when create; -1 in
 * *fd when missing or not believed (a stamp is advice: not an error). */
static int stamp_open_dir(const char *state_dir, bool create, int *fd, char *path, size_t size)
{
    mk_error err;

    *fd = -1;
    if ((size_t)snprintf(path, size, "%s/" MK_STAMP_DIR, state_dir) >= size)
        return -ENAMETOOLONG;
    mk_error_clear(&err);
    if (mk_trust_open_dir(path, MK_STOREFILE_STATE_DIR, create, fd, &err) != MK_OK)
        return -EPERM;
    return 0;
}

static bool stamp_parse_id(const char *line, const char *key, struct mk_stamp_id *id)
{
    char word[16];
    int used = 0;
    if (sscanf(line, "%15s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64 " %" SCNd64
               " %" SCNd64 " %" SCNx64 "%n", word, &id->dev, &id->ino, &id->size, &id->mtime_s,
               &id->mtime_ns, &id->ctime_s, &id->ctime_ns, &id->hash, &used) != 9)
        return false;
    return strcmp(word, key) == 0 && line[used] == '\0';
}

/* Parses text (lines cut at '\n' in place) into out; false when malformed. */
static bool stamp_parse(char *text, struct mk_stamp *out)
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    size_t cap = 0;
    int used;

    if (!line || strcmp(line, STAMP_MAGIC) != 0 ||
        !(line = strtok_r(NULL, "\n", &save)) || !stamp_parse_id(line, "store", &out->store) ||
        !(line = strtok_r(NULL, "\n", &save)) || !stamp_parse_id(line, "groups", &out->groups) ||
        !(line = strtok_r(NULL, "\n", &save)) || !stamp_parse_id(line, "etc", &out->etc) ||
        !(line = strtok_r(NULL, "\n", &save)) ||
        sscanf(line, "config %" SCNx64, &out->config) != 1 ||
        !(line = strtok_r(NULL, "\n", &save)) ||
        sscanf(line, "input %" SCNx64, &out->input) != 1 ||
        !(line = strtok_r(NULL, "\n", &save)) ||
        sscanf(line, "refreshed %" SCNd64, &out->refreshed) != 1 ||
        !(line = strtok_r(NULL, "\n", &save)) ||
        sscanf(line, "oldest_good %" SCNd64, &out->oldest_good) != 1)
        return false;
    while ((line = strtok_r(NULL, "\n", &save))) {
        unsigned gid;
        used = 0;
        if (sscanf(line, "org %u %n", &gid, &used) != 1 || !used || !line[used] ||
            strchr(line + used, ' '))
            return false;
        if (out->org_count == cap) {
            size_t grown = cap ? cap * 2 : 8;
            struct mk_stamp_org *v = realloc(out->orgs, grown * sizeof(*v));
            if (!v)
                return false;
            out->orgs = v;
            cap = grown;
        }
        if (!(out->orgs[out->org_count].group = strdup(line + used)))
            return false;
        out->orgs[out->org_count++].gid = (gid_t)gid;
    }
    return true;
}

int mk_stamp_read(const char *state_dir, const char *user, struct mk_stamp *out)
{
    char dir[PATH_MAX], path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    int dirfd = -1, fd = -1, r = 0;
    mk_error err;

    memset(out, 0, sizeof(*out));
    if (stamp_open_dir(state_dir, false, &dirfd, dir, sizeof(dir)) != 0 || dirfd < 0)
        return 0;
    /* What a killed writer of this stamp left (the one temporary name of a
     * writer holding the lock, atomicfile.h): gone now, in O(1). */
    if ((size_t)snprintf(path, sizeof(path), "%s.tmp.000000", user) < sizeof(path))
        (void)unlinkat(dirfd, path, 0);
    mk_error_clear(&err);
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, user) >= sizeof(path) ||
        mk_trust_openat(dirfd, user, path, O_RDONLY, &fd, &err) != MK_OK || fd < 0)
        goto out;
    r = mk_fileio_read_all(fd, STAMP_MAX_FILE, &text, &len);
    if (r == -ENOMEM)
        goto out;
    r = r == 0 && strlen(text) == len && stamp_parse(text, out) ? 1 : 0;
out:
    if (r != 1)
        mk_stamp_free(out);
    free(text);
    if (fd >= 0)
        close(fd);
    if (dirfd >= 0)
        close(dirfd);
    return r;
}

static int stamp_print_id(FILE *f, const char *key, const struct mk_stamp_id *id)
{
    return fprintf(f, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64
                   " %" PRId64 " %" PRIx64 "\n", key, id->dev, id->ino, id->size, id->mtime_s,
                   id->mtime_ns, id->ctime_s, id->ctime_ns, id->hash);
}

int mk_stamp_write(const char *state_dir, const char *user, const struct mk_stamp *st)
{
    char dir[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    int dirfd = -1, r;
    FILE *f;

    if ((r = stamp_open_dir(state_dir, true, &dirfd, dir, sizeof(dir))) != 0 || dirfd < 0)
        return r ? r : -ENOENT;
    if (!(f = open_memstream(&text, &len))) {
        close(dirfd);
        return -ENOMEM;
    }
    fprintf(f, STAMP_MAGIC "\n");
    stamp_print_id(f, "store", &st->store);
    stamp_print_id(f, "groups", &st->groups);
    stamp_print_id(f, "etc", &st->etc);
    fprintf(f, "config %" PRIx64 "\ninput %" PRIx64 "\nrefreshed %" PRId64 "\noldest_good %"
            PRId64 "\n", st->config, st->input, st->refreshed, st->oldest_good);
    for (size_t i = 0; i < st->org_count; i++)
        fprintf(f, "org %u %s\n", (unsigned)st->orgs[i].gid, st->orgs[i].group);
    if (fclose(f) != 0 || !text) {
        free(text);
        close(dirfd);
        return -ENOMEM;
    }
    /* Advice: no fsync (a lost stamp costs one whole write); one temporary
     * name per user, since the store's lock is held. */
    r = mk_atomicfile_replace_flags(dirfd, user, 0644, text, len, NULL,
                                    MK_ATOMICFILE_NO_FSYNC | MK_ATOMICFILE_LOCKED);
    free(text);
    close(dirfd);
    return r;
}

void mk_stamp_sweep(const char *state_dir, const struct mk_log_sink *sink)
{
    char dir[PATH_MAX];
    struct dirent *e;
    int dirfd = -1, fd;
    DIR *d;

    if (stamp_open_dir(state_dir, false, &dirfd, dir, sizeof(dir)) != 0 || dirfd < 0)
        return;
    fd = dup(dirfd);
    if (fd < 0 || !(d = fdopendir(fd))) {
        if (fd >= 0)
            close(fd);
        close(dirfd);
        return;
    }
    while ((e = readdir(d))) {
        const char *infix = strstr(e->d_name, ".tmp.");
        char user[NAME_MAX + 1];
        size_t n = infix ? (size_t)(infix - e->d_name) : 0;
        if (!n || n >= sizeof(user))
            continue;
        memcpy(user, e->d_name, n);
        user[n] = '\0';
        if (!mk_atomicfile_is_temp(e->d_name, user))
            continue;
        if (unlinkat(dirfd, e->d_name, 0) == 0)
            mk_log(sink, MK_LOG_NOTICE, "removed %s/%s, left by an interrupted write", dir,
                   e->d_name);
        else if (errno != ENOENT)
            mk_log(sink, MK_LOG_WARNING, "cannot remove the stale temporary file %s/%s: %s", dir,
                   e->d_name, strerror(errno));
    }
    closedir(d);
    close(dirfd);
}

void mk_stamp_free(struct mk_stamp *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->org_count; i++)
        free(st->orgs[i].group);
    free(st->orgs);
    memset(st, 0, sizeof(*st));
}
