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

#include "groupfile.h"
#include "groupfile_read.h"

enum nss_status _nss_mkio_getgrnam_r(const char *name, struct group *gr, char *buffer,
                                     size_t buflen, int *errnop);
enum nss_status _nss_mkio_getgrgid_r(gid_t gid, struct group *gr, char *buffer, size_t buflen,
                                     int *errnop);
enum nss_status _nss_mkio_setgrent(int stayopen);
enum nss_status _nss_mkio_getgrent_r(struct group *gr, char *buffer, size_t buflen,
                                     int *errnop);
enum nss_status _nss_mkio_endgrent(void);
enum nss_status _nss_mkio_initgroups_dyn(const char *user, gid_t group, long int *start,
                                         long int *size, gid_t **groupsp, long int limit,
                                         int *errnop);

static pthread_mutex_t nss_mkio_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mkgf_reader nss_mkio_reader;
static uint32_t nss_mkio_next;  /* enumeration position */

static const char nss_mkio_passwd[] = "*";

#ifdef MK_GROUPFILE_TEST_OVERRIDE
/* The test build only ($(B)/tests/libnss_mkio_test.so.2, which the unit tests
 * load and which is never installed): the file comes from MKIO_GROUP_FILE. */
static const char *nss_mkio_path(void)
{
    const char *p = secure_getenv("MKIO_GROUP_FILE");
    return p && *p ? p : MK_GROUPFILE_DEFAULT_PATH;
}
#else
/* The shipped module reads one fixed file and no environment variable
 * (invariant 1): nothing a caller sets chooses the groups root sees. */
static const char *nss_mkio_path(void)
{
    return MK_GROUPFILE_DEFAULT_PATH;
}
#endif

/* A program that forks while another of its threads is inside a lookup
 * would leave the child with the lock held by a thread that does not exist
 * there, and the child's next lookup would hang. Holding the lock across
 * fork() hands both sides a lock that the forking thread owns and releases.
 * pthread_atfork from a shared object is undone when it is unloaded. */
static void nss_mkio_fork_prepare(void)
{
    pthread_mutex_lock(&nss_mkio_lock);
}

static void nss_mkio_fork_release(void)
{
    pthread_mutex_unlock(&nss_mkio_lock);
}

__attribute__((constructor)) static void nss_mkio_load(void)
{
    pthread_atfork(nss_mkio_fork_prepare, nss_mkio_fork_release, nss_mkio_fork_release);
}

/* glibc never unloads NSS modules, but a dlopen()ing program (the tests)
 * may: do not leave the mapping behind. */
__attribute__((destructor)) static void nss_mkio_unload(void)
{
    mkgf_reader_close(&nss_mkio_reader);
}

/* Reader errors to NSS: no file or a refused one is UNAVAIL (the next
 * service answers); ERANGE asks glibc for a bigger buffer. */
static enum nss_status nss_mkio_status(int r, int *errnop)
{
    switch (r) {
    case 0:
        return NSS_STATUS_SUCCESS;
    case -ENOENT:
        *errnop = ENOENT;
        return NSS_STATUS_NOTFOUND;
    case -ERANGE:
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    case -ENOMEM:
        *errnop = ENOMEM;
        return NSS_STATUS_TRYAGAIN;
    default:
        *errnop = ENOENT;
        return NSS_STATUS_UNAVAIL;
    }
}

/* Lays out gr_mem (aligned) and the strings in buffer, after checking that
 * all of it fits. Returns 0 or -ERANGE with nothing written to gr. */
static int nss_mkio_pack(const struct mkgf_view *view, const struct mkgf_group *g,
                         struct group *gr, char *buffer, size_t buflen)
{
    size_t pad = (alignof(char *) - (uintptr_t)buffer % alignof(char *)) % alignof(char *);
    size_t name_len = strlen(g->name) + 1;
    size_t need, strings = name_len + sizeof(nss_mkio_passwd) + g->member_bytes;
    char **mem;
    char *p;

    /* The refs (4 bytes each) and member strings lie in the mapped file and
     * validation checked member_bytes, so this cannot overflow in practice;
     * the checks stay because they cost nothing. */
    need = ((size_t)g->member_count + 1) * sizeof(char *);
    if (pad > SIZE_MAX - need || strings > SIZE_MAX - need - pad)
        return -ERANGE;
    need += pad + strings;
    if (!buffer || need > buflen)
        return -ERANGE;

    mem = (char **)(void *)(buffer + pad);
    p = (char *)(mem + g->member_count + 1);
    gr->gr_name = memcpy(p, g->name, name_len);
    p += name_len;
    gr->gr_passwd = memcpy(p, nss_mkio_passwd, sizeof(nss_mkio_passwd));
    p += sizeof(nss_mkio_passwd);
    for (uint32_t i = 0; i < g->member_count; i++) {
        const char *m = mkgf_group_member(view, g, i);
        size_t len = strlen(m) + 1;
        mem[i] = memcpy(p, m, len);
        p += len;
    }
    mem[g->member_count] = NULL;
    gr->gr_mem = mem;
    gr->gr_gid = g->gid;
    return 0;
}

static int getgr_locked(const char *name, gid_t gid, struct group *gr, char *buffer,
                        size_t buflen)
{
    const struct mkgf_view *view;
    struct mkgf_group g;
    int r;

    if ((r = mkgf_reader_get(&nss_mkio_reader, nss_mkio_path(), &view)) < 0)
        return r == -ENOENT ? -EIO : r; /* a missing file is UNAVAIL, not NOTFOUND */
    r = name ? mkgf_find_name(view, name, &g) : mkgf_find_gid(view, gid, &g);
    if (r < 0)
        return r;
    return nss_mkio_pack(view, &g, gr, buffer, buflen);
}

enum nss_status _nss_mkio_getgrnam_r(const char *name, struct group *gr, char *buffer,
                                     size_t buflen, int *errnop)
{
    int saved = errno, r;

    if (!name)
        r = -ENOENT;
    else {
        pthread_mutex_lock(&nss_mkio_lock);
        r = getgr_locked(name, 0, gr, buffer, buflen);
        pthread_mutex_unlock(&nss_mkio_lock);
    }
    errno = saved;
    return nss_mkio_status(r, errnop);
}

enum nss_status _nss_mkio_getgrgid_r(gid_t gid, struct group *gr, char *buffer, size_t buflen,
                                     int *errnop)
{
    int saved = errno, r;

    pthread_mutex_lock(&nss_mkio_lock);
    r = getgr_locked(NULL, gid, gr, buffer, buflen);
    pthread_mutex_unlock(&nss_mkio_lock);
    errno = saved;
    return nss_mkio_status(r, errnop);
}

enum nss_status _nss_mkio_setgrent(int stayopen)
{
    const struct mkgf_view *view;
    int saved = errno, r;

    pthread_mutex_lock(&nss_mkio_lock);
    nss_mkio_next = 0;
    r = mkgf_reader_get(&nss_mkio_reader, nss_mkio_path(), &view);
    pthread_mutex_unlock(&nss_mkio_lock);
    errno = saved;
    return r == 0 ? NSS_STATUS_SUCCESS : NSS_STATUS_UNAVAIL;
}

/* On ERANGE the position stays, so glibc's retry with a bigger buffer gets
 * the same entry. */
static int getgrent_locked(struct group *gr, char *buffer, size_t buflen)
{
    const struct mkgf_view *view;
    struct mkgf_group g;
    int r;

    if ((r = mkgf_reader_get(&nss_mkio_reader, nss_mkio_path(), &view)) < 0)
        return r == -ENOENT ? -EIO : r;
    if ((r = mkgf_group_at(view, nss_mkio_next, &g)) < 0)
        return r;
    if ((r = nss_mkio_pack(view, &g, gr, buffer, buflen)) < 0)
        return r;
    nss_mkio_next++;
    return 0;
}

enum nss_status _nss_mkio_getgrent_r(struct group *gr, char *buffer, size_t buflen, int *errnop)
{
    int saved = errno, r;

    pthread_mutex_lock(&nss_mkio_lock);
    r = getgrent_locked(gr, buffer, buflen);
    pthread_mutex_unlock(&nss_mkio_lock);
    errno = saved;
    return nss_mkio_status(r, errnop);
}

enum nss_status _nss_mkio_endgrent(void)
{
    pthread_mutex_lock(&nss_mkio_lock);
    nss_mkio_next = 0;
    pthread_mutex_unlock(&nss_mkio_lock);
    return NSS_STATUS_SUCCESS;
}

static int contains(const gid_t *gids, long n, gid_t gid)
{
    for (long i = 0; i < n; i++)
        if (gids[i] == gid)
            return 1;
    return 0;
}

/* Appends the user's gids to *groupsp[*start..], growing it against limit
 * (<= 0: none) like glibc's own modules: at the limit it stops quietly.
 * Returns the number added or a negative errno. */
static long initgroups_locked(const char *user, gid_t skip, long *start, long *size,
                              gid_t **groupsp, long limit)
{
    const struct mkgf_view *view;
    struct mkgf_user u;
    long added = 0;
    int r;

    if ((r = mkgf_reader_get(&nss_mkio_reader, nss_mkio_path(), &view)) < 0)
        return r == -ENOENT ? -EIO : r;
    if (mkgf_find_user(view, user, &u) < 0)
        return 0;
    for (uint32_t i = 0; i < u.group_count; i++) {
        gid_t gid = mkgf_user_gid(view, &u, i);

        if (gid == skip || contains(*groupsp, *start, gid))
            continue;
        if (limit > 0 && *start >= limit)
            break;
        if (*start >= *size) {
            long new_size;
            gid_t *grown;

            if (*size > LONG_MAX / 2 || (size_t)*size > SIZE_MAX / 2 / sizeof(gid_t))
                return -ENOMEM;
            new_size = *size > 0 ? *size * 2 : 8;
            if (limit > 0 && new_size > limit)
                new_size = limit;
            grown = realloc(*groupsp, (size_t)new_size * sizeof(gid_t));
            if (!grown)
                return -ENOMEM;
            *groupsp = grown;
            *size = new_size;
        }
        (*groupsp)[(*start)++] = gid;
        added++;
    }
    return added;
}

enum nss_status _nss_mkio_initgroups_dyn(const char *user, gid_t group, long int *start,
                                         long int *size, gid_t **groupsp, long int limit,
                                         int *errnop)
{
    int saved = errno;
    long added;

    if (!user || !start || !size || !groupsp || *start < 0 || *size < *start) {
        *errnop = EINVAL;
        return NSS_STATUS_UNAVAIL;
    }
    pthread_mutex_lock(&nss_mkio_lock);
    added = initgroups_locked(user, group, start, size, groupsp, limit);
    pthread_mutex_unlock(&nss_mkio_lock);
    errno = saved;
    if (added < 0)
        return nss_mkio_status((int)added, errnop);
    /* Like nss-systemd: NOTFOUND lets glibc go on without an error. */
    return added > 0 ? NSS_STATUS_SUCCESS : NSS_STATUS_NOTFOUND;
}
