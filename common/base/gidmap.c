/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/gidmap.c: the parser of /proc/self/gid_map (base/gidmap.h). */
#include "base/gidmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The kernel writes each line as "%10u %10u %10u\n": 33 bytes. */
#define GIDMAP_LINE_MAX 64

struct gidmap_parser {
    struct mk_gidmap *m;
    char line[GIDMAP_LINE_MAX];
    size_t len;
    bool bad;
};

static void gidmap_set_all(struct mk_gidmap *m)
{
    m->all = true;
    m->count = 0;
}

/* One decimal field after blanks; *s moves past it. */
static bool gidmap_field(const char **s, uint64_t *v)
{
    const char *p = *s;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    for (*v = 0; *p >= '0' && *p <= '9'; p++) {
        *v = *v * 10 + (uint64_t)(*p - '0');
        if (*v > UINT32_MAX)
            return false;
    }
    *s = p;
    return true;
}

/* One NUL-terminated line: INSIDE OUTSIDE COUNT, or blanks only. */
static void gidmap_line(struct gidmap_parser *p)
{
    const char *s = p->line;
    uint64_t inside, outside, count;

    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return;
    if (!gidmap_field(&s, &inside) || !gidmap_field(&s, &outside) ||
        !gidmap_field(&s, &count) || count == 0 || inside + count > (uint64_t)UINT32_MAX + 1) {
        p->bad = true;
        return;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s || p->m->count >= MK_GIDMAP_EXTENTS_MAX) {
        p->bad = true;
        return;
    }
    p->m->extents[p->m->count].first = (uint32_t)inside;
    p->m->extents[p->m->count].count = (uint32_t)count;
    p->m->count++;
}

static void gidmap_feed(struct gidmap_parser *p, const char *text, size_t len)
{
    for (size_t i = 0; i < len && !p->bad; i++) {
        if (text[i] == '\n') {
            p->line[p->len] = '\0';
            gidmap_line(p);
            p->len = 0;
        } else if (p->len + 1 >= sizeof(p->line) || text[i] == '\0') {
            p->bad = true;
        } else {
            p->line[p->len++] = text[i];
        }
    }
}

/* The last line (without its newline), then the extents sorted (insertion:
 * a map has a handful) and checked for overlap; the identity map is `all`. */
static int gidmap_finish(struct gidmap_parser *p)
{
    struct mk_gidmap *m = p->m;

    if (!p->bad && p->len) {
        p->line[p->len] = '\0';
        gidmap_line(p);
    }
    if (p->bad) {
        gidmap_set_all(m);
        return -EINVAL;
    }
    for (size_t i = 1; i < m->count; i++) {
        struct mk_gidmap_extent e = m->extents[i];
        size_t j = i;
        for (; j > 0 && m->extents[j - 1].first > e.first; j--)
            m->extents[j] = m->extents[j - 1];
        m->extents[j] = e;
    }
    for (size_t i = 1; i < m->count; i++)
        if ((uint64_t)m->extents[i - 1].first + m->extents[i - 1].count > m->extents[i].first) {
            gidmap_set_all(m);
            return -EINVAL;
        }
    m->all = m->count == 1 && m->extents[0].first == 0 && m->extents[0].count == UINT32_MAX;
    return 0;
}

int mk_gidmap_parse(const char *text, size_t len, struct mk_gidmap *m)
{
    struct gidmap_parser p = { .m = m };

    m->all = false;
    m->count = 0;
    gidmap_feed(&p, text, len);
    return gidmap_finish(&p);
}

int mk_gidmap_read(const char *path, struct mk_gidmap *m)
{
    struct gidmap_parser p = { .m = m };
    char chunk[512];
    int fd, r = 0;

    m->all = false;
    m->count = 0;
    fd = open(path ? path : MK_GIDMAP_PATH, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        r = -errno;
        gidmap_set_all(m);
        return r;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            gidmap_set_all(m);
            goto out;
        }
        if (n == 0)
            break;
        gidmap_feed(&p, chunk, (size_t)n);
    }
    r = gidmap_finish(&p);
out:
    close(fd);
    return r;
}

bool mk_gidmap_has(const struct mk_gidmap *m, uint32_t gid)
{
    size_t lo = 0, hi = m->count;

    if (m->all)
        return true;
    /* The last extent whose first is at or below gid. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->extents[mid].first <= gid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && (uint64_t)gid < (uint64_t)m->extents[lo - 1].first + m->extents[lo - 1].count;
}

bool mk_gidmap_covers(const struct mk_gidmap *m, uint32_t lo, uint32_t hi)
{
    uint64_t next = lo;

    if (m->all)
        return true;
    if (lo > hi)
        return false;
    /* Sorted and disjoint: walk the extents that continue each other. */
    for (size_t i = 0; i < m->count; i++) {
        uint64_t first = m->extents[i].first, end = first + m->extents[i].count;
        if (first <= next && next < end)
            next = end;
        if (next > hi)
            return true;
    }
    return false;
}

void mk_gidmap_describe(const struct mk_gidmap *m, char *buf, size_t len)
{
    size_t used = 0;

    if (!len)
        return;
    buf[0] = '\0';
    if (m->all) {
        snprintf(buf, len, "all");
        return;
    }
    if (!m->count) {
        snprintf(buf, len, "none");
        return;
    }
    for (size_t i = 0; i < m->count && used < len; i++) {
        const struct mk_gidmap_extent *e = &m->extents[i];
        int n;
        if (i == 4) {
            snprintf(buf + used, len - used, ",...");
            return;
        }
        n = snprintf(buf + used, len - used, "%s%lu-%lu", i ? "," : "", (unsigned long)e->first,
                     (unsigned long)((uint64_t)e->first + e->count - 1));
        if (n < 0)
            return;
        used += (size_t)n;
    }
}
