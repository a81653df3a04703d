/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nss/etc_group.c: which gids the local groups file gives, and to whom, read
 * at the time of an initgroups call. The store's writer checks every NSS
 * source when it writes; this closes the window until its next write for
 * the `files` source: a group added to /etc/group later at an
 * organization's gid is never granted to the organization's members
 * (docs/ARCHITECTURE.md, invariant 3). libc only, no NSS call, no syslog. */
#include "nss/etc_group.h"
#include "base/clock.h"
#include "base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* /etc/group of a very large site is a few megabytes; past this it is not
 * read (nothing is taken: the writer's checks stand). */
#define ETC_GROUP_MAX (64u << 20)

/* A gid field: decimal digits only, below 2^32 - 1. */
static int parse_gid(const char *s, const char *end, gid_t *gid)
{
    uint64_t v = 0;

    if (s == end)
        return -EINVAL;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v >= UINT32_MAX)
            return -EINVAL;
    }
    *gid = (gid_t)v;
    return 0;
}

/* One line NAME:PASSWORD:GID:MEMBERS, cut in place: the name's ':' becomes
 * its NUL. Returns 0 and fills e, or -EINVAL for a line to skip. */
static int parse_line(char *line, struct mk_nss_etc_entry *e)
{
    char *name_end, *pw_end, *gid_end;

    /* As glibc's files module: leading blanks skipped, then # is a comment. */
    while (*line == ' ' || *line == '\t')
        line++;
    if (line[0] == '\0' || line[0] == '#' || line[0] == '+' || line[0] == '-')
        return -EINVAL;
    if (!(name_end = strchr(line, ':')) || name_end == line)
        return -EINVAL;
    if (!(pw_end = strchr(name_end + 1, ':')))
        return -EINVAL;
    gid_end = strchr(pw_end + 1, ':');
    if (!gid_end)
        gid_end = pw_end + 1 + strlen(pw_end + 1);
    if (parse_gid(pw_end + 1, gid_end, &e->gid) < 0)
        return -EINVAL;
    *name_end = '\0';
    e->name = line;
    return 0;
}

static int compare_entry(const void *a, const void *b)
{
    gid_t x = ((const struct mk_nss_etc_entry *)a)->gid;
    gid_t y = ((const struct mk_nss_etc_entry *)b)->gid;
    return (x > y) - (x < y);
}

int mk_nss_etc_group_load(const char *path, struct mk_nss_etc_group *out)
{
    size_t len = 0, cap = 0;
    char *line, *next;
    int r;

    memset(out, 0, sizeof(*out));
    if ((r = mk_fileio_read_path(path, true, ETC_GROUP_MAX, &out->text, &len)) < 0)
        return r;
    for (line = out->text; line < out->text + len; line = next) {
        struct mk_nss_etc_entry e;
        char *nl = memchr(line, '\n', (size_t)(out->text + len - line));
        next = nl ? nl + 1 : out->text + len;
        if (nl)
            *nl = '\0';
        if (parse_line(line, &e) < 0)
            continue;
        if (out->count == cap) {
            struct mk_nss_etc_entry *grown;
            cap = cap ? cap * 2 : 32;
            if (!(grown = realloc(out->entries, cap * sizeof(*grown)))) {
                mk_nss_etc_group_free(out);
                return -ENOMEM;
            }
            out->entries = grown;
        }
        out->entries[out->count++] = e;
    }
    if (out->count > 1)
        qsort(out->entries, out->count, sizeof(*out->entries), compare_entry);
    return 0;
}

/* The index of the first entry at gid or above. */
static size_t first_at(const struct mk_nss_etc_group *etc, gid_t gid)
{
    size_t lo = 0, hi = etc->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (etc->entries[mid].gid < gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int mk_nss_etc_group_has(const struct mk_nss_etc_group *etc, gid_t gid)
{
    size_t i = first_at(etc, gid);

    return i < etc->count && etc->entries[i].gid == gid;
}

int mk_nss_etc_group_other(const struct mk_nss_etc_group *etc, gid_t gid, const char *name,
                           size_t len)
{
    /* Every entry at gid: one of another name is enough. */
    for (size_t lo = first_at(etc, gid); lo < etc->count && etc->entries[lo].gid == gid; lo++) {
        const char *n = etc->entries[lo].name;
        if (strlen(n) != len || memcmp(n, name, len) != 0)
            return 1;
    }
    return 0;
}

void mk_nss_etc_group_free(struct mk_nss_etc_group *etc)
{
    free(etc->entries);
    free(etc->text);
    free(etc->path);
    memset(etc, 0, sizeof(*etc));
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

int mk_nss_etc_group_refresh(struct mk_nss_etc_group *etc, const char *path)
{
    struct mk_nss_etc_group next;
    struct stat st;
    int64_t now = mk_clock_tick();
    int present;

    /* Checked in this tick of the coarse clock: kept without a stat. */
    if (etc->path && now >= 0 && now == etc->checked_tick && strcmp(etc->path, path) == 0)
        return 0;
    present = stat(path, &st) == 0;
    if (etc->path && strcmp(etc->path, path) == 0 && present == etc->present &&
        (!present || (st.st_dev == etc->dev && st.st_ino == etc->ino &&
                      st.st_size == etc->size && same_time(&st.st_mtim, &etc->mtime) &&
                      same_time(&st.st_ctim, &etc->ctime)))) {
        etc->checked_tick = now;
        return 0;
    }
    /* Read after the stat: content newer than the stat recorded is seen
     * as a change at the next check, and read again. */
    if (mk_nss_etc_group_load(path, &next) == -ENOMEM || !(next.path = strdup(path))) {
        mk_nss_etc_group_free(&next);
        mk_nss_etc_group_free(etc);
        return -ENOMEM;
    }
    next.present = present;
    if (present) {
        next.dev = st.st_dev;
        next.ino = st.st_ino;
        next.size = st.st_size;
        next.mtime = st.st_mtim;
        next.ctime = st.st_ctim;
    }
    next.checked_tick = now;
    mk_nss_etc_group_free(etc);
    *etc = next;
    return 0;
}
