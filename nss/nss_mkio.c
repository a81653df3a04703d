/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nss/nss_mkio.c: the `mkio` NSS group service over the compiled group file.
 *
 * Thin: each entry point takes the one mutex, asks the reader for the mapped
 * file, packs the answer, and translates a negative errno into an NSS status.
 * Never the network, never syslog; the caller's errno is kept on success. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <nss.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/gidmap.h"
#include "groupfile/reader.h"
#include "nss/etc_group.h"
#include "nss/nss_mkio.h"

static pthread_mutex_t nss_mkio_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mkgf_reader nss_mkio_reader;
static uint32_t nss_mkio_next;  /* enumeration position */
static struct mk_nss_etc_group nss_mkio_etc;  /* /etc/group, for initgroups */
static struct mk_gidmap nss_mkio_gidmap;     /* the caller's gid map, for initgroups */
static int nss_mkio_gidmap_known;            /* read at nss_mkio_gidmap_tick */
static int64_t nss_mkio_gidmap_tick;

static const char nss_mkio_passwd[] = "*";


/* fork() and the lock. A child of a multithreaded program starts with one
 * thread; if another thread of the parent held the lock at the fork, the
 * child's copy stays locked forever. An atfork prepare handler that takes
 * the lock would hand the child a consistent state, but deadlocks when
 * fork() is called from a signal handler that interrupted a lookup on the
 * same thread (glibc runs the atfork handlers in that case too, and the
 * mutex is not recursive). So: no prepare handler; only a child handler,
 * which glibc runs in the child, single-threaded, before fork() returns
 * there. It takes nothing: if the lock is free (trylock) the reader's state
 * is consistent and kept; if it is held, its holder (another thread, gone,
 * or the interrupted frame below the signal handler) may have been halfway
 * through updating the reader, so the lock is made anew and the reader is
 * marked for abandoning. The next lookup that takes the lock forgets the
 * mapping and descriptor (mkgf_reader_abandon: leaked, never unmapped, so
 * that a frame still using them stays valid) and opens the file afresh. A
 * frame interrupted in the child and resumed after the handler returns
 * finishes its lookup and unlocks a lock that is then free: harmless for a
 * default (non-error-checking) glibc mutex. POSIX allows only
 * async-signal-safe calls in such a child; this keeps even the common
 * non-conforming use (a lookup before exec) from hanging. pthread_atfork
 * from a shared object is undone when it is unloaded. */
static volatile int nss_mkio_abandon;

static void nss_mkio_fork_child(void)
{
    if (pthread_mutex_trylock(&nss_mkio_lock) == 0) {
        pthread_mutex_unlock(&nss_mkio_lock);
        return;
    }
    nss_mkio_lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    nss_mkio_abandon = 1;
}

__attribute__((constructor)) static void nss_mkio_load(void)
{
    pthread_atfork(NULL, NULL, nss_mkio_fork_child);
}

/* glibc never unloads NSS modules, but a dlopen()ing program (the tests)
 * may: do not leave the mapping behind. */
__attribute__((destructor)) static void nss_mkio_unload(void)
{
    mkgf_reader_close(&nss_mkio_reader);
    mk_nss_etc_group_free(&nss_mkio_etc);
}

static void nss_mkio_lock_take(void)
{
    pthread_mutex_lock(&nss_mkio_lock);
    if (nss_mkio_abandon) {
        mkgf_reader_abandon(&nss_mkio_reader);
        /* Possibly half-updated too: forgotten (leaked), not freed. */
        memset(&nss_mkio_etc, 0, sizeof(nss_mkio_etc));
        nss_mkio_gidmap_known = 0;
        nss_mkio_next = 0;
        nss_mkio_abandon = 0;
    }
}

static void nss_mkio_lock_release(void)
{
    pthread_mutex_unlock(&nss_mkio_lock);
}

/* Internal errors to NSS, with *errnop naming the cause. glibc reads
 * *errnop with TRYAGAIN as "buffer too small" only when it is ERANGE, and
 * retries other TRYAGAINs as temporary failures: only ERANGE goes with
 * TRYAGAIN here (initgroups_dyn adds ENOMEM, as glibc's files module does).
 * No file (ENOENT), a refused file (EPERM, ELOOP), refused content (EBADMSG,
 * EPROTONOSUPPORT) or any other failure is UNAVAIL: the next service
 * answers, and getgr*_r returns that errno if none does. `unavailable`
 * tells a failure to reach the file (-ENOENT there means no file) from a
 * lookup's own answer (-ENOENT: no such group). */
static enum nss_status nss_mkio_status(int r, int unavailable, int *errnop)
{
    if (r == 0)
        return NSS_STATUS_SUCCESS;
    if (!unavailable && r == -ENOENT) {
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    }
    if (!unavailable && r == -ERANGE) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    *errnop = -r;
    return NSS_STATUS_UNAVAIL;
}

/* Lays out gr_mem (aligned) and the strings in buffer, after checking that
 * all of it fits in what is left of buffer: the group's member names copied
 * in one piece, gr_mem pointed at them in one pass (each checked in the
 * copy, which the file cannot change), then the name and "*". Returns 0, -ERANGE or
 * -EBADMSG, with nothing written to gr. */
static int nss_mkio_pack(const struct mkgf_view *view, const struct mkgf_group *g,
                         struct group *gr, char *buffer, size_t buflen)
{
    size_t pad, left, need, strings;
    char **mem;
    char *p;
    int r;

    if (!buffer)
        return -ERANGE;
    pad = (alignof(char *) - (uintptr_t)buffer % alignof(char *)) % alignof(char *);
    if (pad > buflen)
        return -ERANGE;
    left = buflen - pad;
    /* Each size is bounded by the mapping (< 4 GiB) or the record's count
     * (< 2^32): no overflow on 64 bits; on 32 bits, the checks below in this
     * order keep every subtraction positive. */
    if ((uint64_t)g->member_count + 1 > left / sizeof(char *))
        return -ERANGE;
    need = ((size_t)g->member_count + 1) * sizeof(char *);
    left -= need;
    if ((uint64_t)g->name_len + 1 + sizeof(nss_mkio_passwd) > left)
        return -ERANGE;
    left -= (size_t)g->name_len + 1 + sizeof(nss_mkio_passwd);
    strings = mkgf_member_string_bytes(g);
    if (strings > left)
        return -ERANGE;

    mem = (char **)(void *)(buffer + pad);
    p = (char *)(mem + g->member_count + 1);
    if ((r = mkgf_copy_members(view, g, p, mem)) < 0)
        return r;
    p += strings;
    /* The name's NUL is ours: the file's byte may have changed since. */
    memcpy(p, g->name, g->name_len);
    p[g->name_len] = '\0';
    gr->gr_name = p;
    p += (size_t)g->name_len + 1;
    gr->gr_passwd = memcpy(p, nss_mkio_passwd, sizeof(nss_mkio_passwd));
    mem[g->member_count] = NULL;
    gr->gr_mem = mem;
    gr->gr_gid = g->gid;
    return 0;
}

/* The view for a lookup (mkgf_reader_get). After the lookup,
 * nss_mkio_retry asks the reader whether it was refused a page because the
 * file changed since the last check (mkgf_reader_stale, groupfile/reader.h,
 * CHANGED UNDER A READER): then, once, 1: the caller takes a fresh view,
 * which the check makes, and looks up again. */
static int nss_mkio_view(const struct mkgf_view **view, int *unavailable)
{
    int r = mkgf_reader_get(&nss_mkio_reader, mk_nss_group_file(), view);

    if (r < 0)
        *unavailable = 1;
    return r;
}

static int nss_mkio_retry(int *retry)
{
    /* Asked whatever the lookup answered: no lookup is left to succeed on
     * half of what it needed. */
    if (!*retry || !mkgf_reader_stale(&nss_mkio_reader))
        return 0;
    *retry = 0;
    return 1;
}

static int getgr_locked(const char *name, gid_t gid, struct group *gr, char *buffer,
                        size_t buflen, int *unavailable)
{
    const struct mkgf_view *view;
    struct mkgf_group g;
    int retry = 1, r;

    do {
        if ((r = nss_mkio_view(&view, unavailable)) < 0)
            return r;
        r = name ? mkgf_find_name(view, name, &g) : mkgf_find_gid(view, gid, &g);
        if (r == 0)
            r = nss_mkio_pack(view, &g, gr, buffer, buflen);
    } while (nss_mkio_retry(&retry));
    return r;
}

enum nss_status _nss_mkio_getgrnam_r(const char *name, struct group *gr, char *buffer,
                                     size_t buflen, int *errnop)
{
    int saved = errno, unavailable = 0, r;

    if (!name)
        r = -ENOENT;
    else {
        nss_mkio_lock_take();
        r = getgr_locked(name, 0, gr, buffer, buflen, &unavailable);
        nss_mkio_lock_release();
    }
    errno = saved;
    return nss_mkio_status(r, unavailable, errnop);
}

enum nss_status _nss_mkio_getgrgid_r(gid_t gid, struct group *gr, char *buffer, size_t buflen,
                                     int *errnop)
{
    int saved = errno, unavailable = 0, r;

    nss_mkio_lock_take();
    r = getgr_locked(NULL, gid, gr, buffer, buflen, &unavailable);
    nss_mkio_lock_release();
    errno = saved;
    return nss_mkio_status(r, unavailable, errnop);
}

enum nss_status _nss_mkio_setgrent(int stayopen)
{
    const struct mkgf_view *view;
    int saved = errno, r;

    nss_mkio_lock_take();
    nss_mkio_next = 0;
    r = mkgf_reader_get(&nss_mkio_reader, mk_nss_group_file(), &view);
    nss_mkio_lock_release();
    errno = saved;
    return r == 0 ? NSS_STATUS_SUCCESS : NSS_STATUS_UNAVAIL;
}

/* On ERANGE the position stays, so glibc's retry with a bigger buffer gets
 * the same entry. A record that fails its checks ends the enumeration with
 * UNAVAIL rather than be skipped silently. */
static int getgrent_locked(struct group *gr, char *buffer, size_t buflen, int *unavailable)
{
    const struct mkgf_view *view;
    struct mkgf_group g;
    int retry = 1, r;

    do {
        if ((r = nss_mkio_view(&view, unavailable)) < 0)
            return r;
        if ((r = mkgf_group_at(view, nss_mkio_next, &g)) == 0)
            r = nss_mkio_pack(view, &g, gr, buffer, buflen);
    } while (nss_mkio_retry(&retry));
    if (r == 0)
        nss_mkio_next++;
    return r;
}

enum nss_status _nss_mkio_getgrent_r(struct group *gr, char *buffer, size_t buflen, int *errnop)
{
    int saved = errno, unavailable = 0, r;

    nss_mkio_lock_take();
    r = getgrent_locked(gr, buffer, buflen, &unavailable);
    nss_mkio_lock_release();
    errno = saved;
    return nss_mkio_status(r, unavailable, errnop);
}

enum nss_status _nss_mkio_endgrent(void)
{
    nss_mkio_lock_take();
    nss_mkio_next = 0;
    nss_mkio_lock_release();
    return NSS_STATUS_SUCCESS;
}

static int compare_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return (x > y) - (x < y);
}

/* The gids other services put in the array before us, sorted, so that each
 * of ours is looked up in O(log n): a user in 100,000 groups must not cost
 * 100,000 x 100,000 comparisons. NULL (no copy needed, or no memory: glibc
 * removes duplicates against them itself) means a linear look. */
static gid_t *sorted_copy(const gid_t *gids, long n)
{
    gid_t *copy;

    if (n <= 16)
        return NULL;
    copy = malloc((size_t)n * sizeof(*copy));
    if (copy) {
        memcpy(copy, gids, (size_t)n * sizeof(*copy));
        qsort(copy, (size_t)n, sizeof(*copy), compare_gid);
    }
    return copy;
}

static int already_there(const gid_t *sorted, const gid_t *gids, long n, gid_t gid)
{
    if (sorted)
        return bsearch(&gid, sorted, (size_t)n, sizeof(gid), compare_gid) != NULL;
    for (long i = 0; i < n && i <= 16; i++)
        if (gids[i] == gid)
            return 1;
    return 0;
}

/* Whether /etc/group, as read for this call, gives gid to another group
 * than ours: a group created there after the store's last write (issue 20).
 * A gid whose group our file cannot show is not ours to give either. */
static int given_away(const struct mkgf_view *view, const struct mk_nss_etc_group *etc, gid_t gid)
{
    struct mkgf_group g;

    if (!mk_nss_etc_group_has(etc, gid))
        return 0;
    if (mkgf_find_gid(view, gid, &g) < 0)
        return 1;
    return mk_nss_etc_group_other(etc, gid, g.name, g.name_len);
}

/* The caller's gid map, read again when the coarse clock has moved since
 * the last read (base/clock.h: 1 to 10 ms): the open and two reads of
 * /proc/self/gid_map cost twice glibc's whole initgroups dispatch. A
 * process that enters another user namespace (unshare, setns) has its new
 * map read by its first initgroups a tick after its last one in the old
 * namespace; fork leaves the namespace as it is. */
static void nss_mkio_gidmap_refresh(void)
{
    int64_t now = mk_clock_tick();

    if (nss_mkio_gidmap_known && now >= 0 && now == nss_mkio_gidmap_tick)
        return;
    mk_gidmap_read(mk_nss_gid_map_file(), &nss_mkio_gidmap);
    nss_mkio_gidmap_known = 1;
    nss_mkio_gidmap_tick = now;
}

/* Appends the user's gids to *groupsp[*start..], growing it by doubling
 * against limit (<= 0: none) like glibc's own modules: at the limit it stops
 * quietly. Skips the primary group, the gids that were in the array before
 * the call, those /etc/group gives to another group now (read directly,
 * kept while one stat per tick says it has not changed, and only for a user
 * we have groups for; a file that cannot be read takes nothing: the writer
 * checked it at its last write), and those the caller's user namespace
 * cannot map (its gid_map, nss_mkio_gidmap_refresh: setgroups would refuse
 * the whole list with EINVAL; an unreadable map keeps them all). The file
 * lists each of a user's groups once, so ours need no check against each
 * other: linear in the user's groups. Returns the number added or a negative
 * errno (-ENOMEM from growing: *unavailable stays 0). */
static long initgroups_once(const char *user, gid_t skip, long *start, long *size,
                            gid_t **groupsp, long limit, int *unavailable)
{
    const struct mkgf_view *view;
    struct mkgf_user u;
    gid_t *before = NULL;
    long added = 0, had = *start;
    int r;

    if ((r = nss_mkio_view(&view, unavailable)) < 0)
        return r;
    if ((r = mkgf_find_user(view, user, &u)) < 0)
        return r == -ENOENT ? 0 : r;
    if (u.group_count > 0 &&
        mk_nss_etc_group_refresh(&nss_mkio_etc, mk_nss_etc_group_file()) == -ENOMEM)
        return -ENOMEM;
    if (u.group_count > 0)
        nss_mkio_gidmap_refresh();
    before = sorted_copy(*groupsp, had);
    for (uint32_t i = 0; i < u.group_count; i++) {
        gid_t gid;

        if ((r = mkgf_user_gid(view, &u, i, &gid)) < 0) {
            added = r;
            goto out;
        }
        if (gid == skip || already_there(before, *groupsp, had, gid) ||
            given_away(view, &nss_mkio_etc, gid) || !mk_gidmap_has(&nss_mkio_gidmap, gid))
            continue;
        if (limit > 0 && *start >= limit)
            break;
        if (*start >= *size) {
            long new_size;
            gid_t *grown;

            if (*size > LONG_MAX / 2 || (size_t)*size > SIZE_MAX / 2 / sizeof(gid_t)) {
                added = -ENOMEM;
                goto out;
            }
            new_size = *size > 0 ? *size * 2 : 8;
            if (limit > 0 && new_size > limit)
                new_size = limit;
            grown = realloc(*groupsp, (size_t)new_size * sizeof(gid_t));
            if (!grown) {
                added = -ENOMEM;
                goto out;
            }
            *groupsp = grown;
            *size = new_size;
        }
        (*groupsp)[(*start)++] = gid;
        added++;
    }
out:
    free(before);
    return added;
}

/* initgroups_once, and once more if the reader refused it a page (the file
 * changed since the last check, nss_mkio_retry): a refused page anywhere,
 * given_away's lookups included, may have left a gid out, so what the first
 * pass appended is dropped (*start back where it was) and the second pass,
 * after a check, answers alone. */
static long initgroups_locked(const char *user, gid_t skip, long *start, long *size,
                              gid_t **groupsp, long limit, int *unavailable)
{
    long had = *start, added;
    int retry = 1;

    do {
        *start = had;
        added = initgroups_once(user, skip, start, size, groupsp, limit, unavailable);
    } while (nss_mkio_retry(&retry));
    return added;
}

enum nss_status _nss_mkio_initgroups_dyn(const char *user, gid_t group, long int *start,
                                         long int *size, gid_t **groupsp, long int limit,
                                         int *errnop)
{
    int saved = errno, unavailable = 0;
    long added;

    if (!user || !start || !size || !groupsp || *start < 0 || *size < *start) {
        *errnop = EINVAL;
        return NSS_STATUS_UNAVAIL;
    }
    nss_mkio_lock_take();
    added = initgroups_locked(user, group, start, size, groupsp, limit, &unavailable);
    nss_mkio_lock_release();
    errno = saved;
    if (added == -ENOMEM && !unavailable) {
        /* What glibc's files module answers when growing fails. */
        *errnop = ENOMEM;
        return NSS_STATUS_TRYAGAIN;
    }
    if (added < 0)
        return nss_mkio_status((int)added, 1, errnop);
    /* Like nss-systemd: NOTFOUND lets glibc go on without an error. */
    return added > 0 ? NSS_STATUS_SUCCESS : NSS_STATUS_NOTFOUND;
}
