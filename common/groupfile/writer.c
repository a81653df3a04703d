/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/groupfile/writer.c: builds the compiled group file (format in
 * groupfile/reader.h) and publishes it through common/base/atomicfile.h, then marks
 * the file it replaced as recycled. */
#include "groupfile/writer.h"
#include "base/hash.h"
#include "base/hashset.h"
#include "groupfile/reader.h"
#include "base/atomicfile.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A slot of the string table: one probe reads all three. */
struct gfw_string {
    uint32_t off;    /* string offset + 1; 0: an empty slot */
    uint32_t tag;    /* the high half of the string's hash */
    uint32_t user;   /* user index + 1 once the string names a member, else 0 */
};

/* Open addressing, capacity a power of two more than twice the entries, so
 * it never fills. */
struct gfw_table {
    struct gfw_string *slots;
    uint32_t cap;
};

/* The image under construction. */
struct gfw_build {
    char *strings;
    size_t string_size, string_cap;
    struct gfw_table string_table;  /* every name, for dedup; members' user indexes */
    uint32_t *user_name;            /* string offset per user */
    uint32_t *user_count;           /* groups per user */
    uint32_t *user_last_group;      /* last group index + 1 that listed the user */
    uint64_t *user_hash;            /* mkgf_hash_string of each user's name */
    size_t users, users_cap;
};

/* The slots of a table for entries (base/hashset.h: under half full); the
 * format's index sections are sized the same way. The callers keep entries
 * below UINT32_MAX / 4, so it fits 32 bits. */
static uint32_t table_capacity(size_t entries)
{
    return (uint32_t)mk_hashset_capacity(entries, 1);
}

static int table_init(struct gfw_table *t, size_t entries)
{
    if (entries > UINT32_MAX / 4)
        return -E2BIG;
    t->cap = table_capacity(entries);
    t->slots = calloc(t->cap, sizeof(*t->slots));
    return t->slots ? 0 : -ENOMEM;
}

/* Where a probe of the builder's own tables starts: the format's hash is
 * plain FNV-1a, whose low bits spread names that differ only at their end
 * poorly; these tables are not in the file, so they mix it first. */
static uint32_t table_start(uint64_t h, uint32_t cap)
{
    return (uint32_t)mk_hashset_start(h, cap);
}

static int name_is_valid(const char *s)
{
    return s && *s && strpbrk(s, ":,\n") == NULL;
}

/* Returns the slot holding the string s of hash h (its off is 0 if
 * absent). Strings are compared only when their hashes' high halves are
 * equal. */
static struct gfw_string *string_slot(struct gfw_build *b, const char *s, uint64_t h)
{
    uint32_t cap = b->string_table.cap, tag = (uint32_t)(h >> 32);
    uint32_t i = table_start(h, cap);
    struct gfw_string *e;

    while ((e = &b->string_table.slots[i])->off != 0 &&
           (e->tag != tag || strcmp(b->strings + e->off - 1, s) != 0))
        i = (uint32_t)mk_hashset_next(i, cap);
    return e;
}

/* Interns s (hash h, length len without its NUL) into the pool; *off gets
 * its offset, *slot its slot. */
static int string_intern(struct gfw_build *b, const char *s, uint64_t h, size_t len,
                         uint32_t *off, struct gfw_string **slot_out)
{
    struct gfw_string *e = string_slot(b, s, h);

    len++;
    if (e->off == 0) {
        if (b->string_size + len > UINT32_MAX - 1)
            return -E2BIG;
        if (b->string_size + len > b->string_cap) {
            size_t cap = b->string_cap ? b->string_cap : 4096;
            char *p;
            while (cap < b->string_size + len)
                cap *= 2;
            p = realloc(b->strings, cap);
            if (!p)
                return -ENOMEM;
            b->strings = p;
            b->string_cap = cap;
        }
        memcpy(b->strings + b->string_size, s, len);
        e->off = (uint32_t)b->string_size + 1;
        e->tag = (uint32_t)(h >> 32);
        b->string_size += len;
    }
    *off = e->off - 1;
    if (slot_out)
        *slot_out = e;
    return 0;
}

/* The user index of a member name (interned at off, hash h, in slot e),
 * adding it if new. */
static int user_lookup(struct gfw_build *b, struct gfw_string *e, uint64_t h, uint32_t off,
                       uint32_t *index)
{
    if (e->user != 0) {
        *index = e->user - 1;
        return 0;
    }
    if (b->users == b->users_cap) {
        size_t cap = b->users_cap ? b->users_cap * 2 : 64;
        uint32_t *n = realloc(b->user_name, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        b->user_name = n;
        n = realloc(b->user_count, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        b->user_count = n;
        n = realloc(b->user_last_group, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        b->user_last_group = n;
        uint64_t *hv = realloc(b->user_hash, cap * sizeof(*hv));
        if (!hv)
            return -ENOMEM;
        b->user_hash = hv;
        b->users_cap = cap;
    }
    b->user_hash[b->users] = h;
    b->user_name[b->users] = off;
    b->user_count[b->users] = 0;
    b->user_last_group[b->users] = 0;
    e->user = (uint32_t)b->users + 1;
    *index = (uint32_t)b->users++;
    return 0;
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return le32toh(v);
}

static void put32(unsigned char *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, sizeof(v));
}

static void put64(unsigned char *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof(v));
}

/* Inserts value (an index + 1) into an index section of cap words; returns
 * -EINVAL if an entry with the same key is there (same() compares). */
static int index_insert(unsigned char *words, uint32_t cap, uint64_t hash, uint32_t value,
                        int (*same)(const void *ctx, uint32_t a, uint32_t b), const void *ctx)
{
    uint32_t i = (uint32_t)mk_hashset_slot(hash, cap);
    uint32_t v;

    /* The format's probe (groupfile/reader.h): the plain hash, then the
     * next slot. */
    while ((v = get32(words + 4 * (size_t)i)) != 0) {
        if (same(ctx, v - 1, value - 1))
            return -EINVAL;
        i = (uint32_t)mk_hashset_next(i, cap);
    }
    put32(words + 4 * (size_t)i, value);
    return 0;
}

/* The groups and their names' hashes: names are compared only when the
 * hashes are equal. */
struct group_names {
    const struct mk_group_entry *groups;
    const uint64_t *hash;
};

static int same_group_name(const void *ctx, uint32_t a, uint32_t b)
{
    const struct group_names *g = ctx;
    return g->hash[a] == g->hash[b] && strcmp(g->groups[a].name, g->groups[b].name) == 0;
}

static int same_group_gid(const void *ctx, uint32_t a, uint32_t b)
{
    const struct mk_group_entry *groups = ctx;
    return groups[a].gid == groups[b].gid;
}

static int never_same(const void *ctx, uint32_t a, uint32_t b)
{
    return 0;
}

/* The bytes of a group's run in the member pool: a 16-bit length, the name
 * and its NUL per member. Fits 64 bits; the caller checks 32. */
static uint64_t member_run_bytes(const struct mk_group_entry *group)
{
    uint64_t bytes = 0;

    for (size_t m = 0; m < group->member_count; m++)
        bytes += MKGF_MEMBER_PREFIX + strlen(group->members[m]) + 1;
    return bytes;
}

static uint64_t align4(uint64_t v)
{
    return (v + 3) & ~(uint64_t)3;
}

/* The image under construction, past the names: the input, the per-group
 * and per-member arrays, the layout, and the image itself. */
struct gfw_image {
    const struct mk_group_entry *groups;
    size_t n, total_members;
    uint64_t pool_size;
    uint32_t *group_name;    /* string offset per group */
    uint64_t *group_hash;    /* mkgf_hash_string of each group's name */
    uint64_t *member_hash;   /* the same of each member, in group order */
    uint32_t *member_user;   /* user index of each member, in group order */
    uint32_t *user_first, *user_fill;
    uint32_t name_slots, gid_slots, user_slots;
    uint64_t off[8], size;
    unsigned char *img;
};

/* Step 1: refuses a bad name, gid or member, and sums what the sections
 * need (members, the member pool), refusing what would not fit 32 bits. */
static int build_check(struct gfw_image *im)
{
    const struct mk_group_entry *groups = im->groups;

    if (im->n > UINT32_MAX / 32)
        return -E2BIG;
    for (size_t i = 0; i < im->n; i++) {
        if (!name_is_valid(groups[i].name) || groups[i].gid == (gid_t)-1 ||
            (groups[i].member_count > 0 && !groups[i].members))
            return -EINVAL;
        for (size_t m = 0; m < groups[i].member_count; m++)
            if (!name_is_valid(groups[i].members[m]) ||
                strlen(groups[i].members[m]) > MKGF_MEMBER_MAX)
                return -EINVAL;
        im->total_members += groups[i].member_count;
        if (im->total_members > UINT32_MAX / 8)
            return -E2BIG;
        im->pool_size += member_run_bytes(&groups[i]);
        if (im->pool_size > UINT32_MAX)
            return -E2BIG;
    }
    return 0;
}

/* Step 2: hashes every name, then interns the strings (group and user
 * names) and finds the users; a member listed twice in one group is
 * refused. */
static int build_intern(struct gfw_build *b, struct gfw_image *im)
{
    const struct mk_group_entry *groups = im->groups;
    size_t n = im->n, total = im->total_members;
    int r;

    if ((r = table_init(&b->string_table, n + total)) < 0)
        return r;
    im->group_name = calloc(n ? n : 1, sizeof(*im->group_name));
    im->group_hash = calloc(n ? n : 1, sizeof(*im->group_hash));
    im->member_user = calloc(total ? total : 1, sizeof(*im->member_user));
    im->member_hash = malloc((total ? total : 1) * sizeof(*im->member_hash));
    if (!im->group_name || !im->group_hash || !im->member_user || !im->member_hash)
        return -ENOMEM;

    /* Every name hashed first, so that the interning below can ask for the
     * string table's slots a few groups ahead: each is a cache miss at
     * 100,000 groups, and waiting for them one by one was most of it. */
    for (size_t i = 0, k = 0; i < n; i++) {
        im->group_hash[i] = mkgf_hash_string(groups[i].name);
        for (size_t m = 0; m < groups[i].member_count; m++, k++)
            im->member_hash[k] = mkgf_hash_string(groups[i].members[m]);
    }
    enum { AHEAD = 8 };
    uint32_t scap = b->string_table.cap;
    size_t ahead_k = 0;   /* members of the groups before i + AHEAD */
    for (size_t i = 0; i < AHEAD && i < n; i++)
        ahead_k += groups[i].member_count;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (i + AHEAD < n) {
            const struct mk_group_entry *g = &groups[i + AHEAD];
            __builtin_prefetch(
                &b->string_table.slots[table_start(im->group_hash[i + AHEAD], scap)]);
            for (size_t m = 0; m < g->member_count && m < 4; m++)
                __builtin_prefetch(&b->string_table.slots[table_start(
                    im->member_hash[ahead_k + m], scap)]);
            ahead_k += g->member_count;
        }
        if ((r = string_intern(b, groups[i].name, im->group_hash[i], strlen(groups[i].name),
                               &im->group_name[i], NULL)) < 0)
            return r;
        for (size_t m = 0; m < groups[i].member_count; m++, k++) {
            const char *member = groups[i].members[m];
            uint64_t h = im->member_hash[k];
            struct gfw_string *slot;
            uint32_t u, name_off;
            if ((r = string_intern(b, member, h, strlen(member), &name_off, &slot)) < 0 ||
                (r = user_lookup(b, slot, h, name_off, &u)) < 0)
                return r;
            if (b->user_last_group[u] == i + 1)
                return -EINVAL;
            b->user_last_group[u] = (uint32_t)i + 1;
            b->user_count[u]++;
            im->member_user[k] = u;
        }
    }
    return 0;
}

/* Step 3: the index sizes, the section offsets and the file's size; the
 * image (zeroed: padding and empty slots are 0) and the users' arrays. */
static int build_layout(const struct gfw_build *b, struct gfw_image *im)
{
    uint64_t *off = im->off;

    im->name_slots = table_capacity(im->n);
    im->gid_slots = table_capacity(im->n);
    im->user_slots = table_capacity(b->users);
    off[0] = MKGF_HEADER_SIZE;
    off[1] = off[0] + (uint64_t)im->n * MKGF_GROUP_RECORD;
    off[2] = off[1] + 4ull * im->name_slots;
    off[3] = off[2] + 4ull * im->gid_slots;
    /* Padding to 4 bytes belongs to the member pool: it is NUL. */
    im->pool_size = align4(im->pool_size);
    off[4] = off[3] + im->pool_size;
    off[5] = off[4] + (uint64_t)b->users * MKGF_USER_RECORD;
    off[6] = off[5] + 4ull * im->user_slots;
    off[7] = off[6] + 4ull * im->total_members;
    im->size = align4(off[7] + b->string_size);
    if (im->size > UINT32_MAX || im->pool_size > UINT32_MAX)
        return -E2BIG;
    im->img = calloc(1, im->size);
    im->user_first = calloc(b->users ? b->users : 1, sizeof(*im->user_first));
    im->user_fill = calloc(b->users ? b->users : 1, sizeof(*im->user_fill));
    if (!im->img || !im->user_first || !im->user_fill)
        return -ENOMEM;
    return 0;
}

/* Step 4: each group's record and member run, and the name and gid
 * indexes (a duplicate name or gid is refused there). */
static int build_groups(struct gfw_image *im)
{
    const struct mk_group_entry *groups = im->groups;
    unsigned char *img = im->img;
    struct group_names names = { groups, im->group_hash };
    int r;

    for (size_t i = 0, pool = 0; i < im->n; i++) {
        unsigned char *g = img + im->off[0] + i * MKGF_GROUP_RECORD;
        size_t run = pool;
        /* The run: every member's length, then every name and its NUL. */
        pool += MKGF_MEMBER_PREFIX * groups[i].member_count;
        for (size_t m = 0; m < groups[i].member_count; m++) {
            size_t len = strlen(groups[i].members[m]);
            unsigned char *p = img + im->off[3] + run + MKGF_MEMBER_PREFIX * m;
            p[0] = (unsigned char)(len & 0xff);
            p[1] = (unsigned char)(len >> 8);
            memcpy(img + im->off[3] + pool, groups[i].members[m], len + 1);
            pool += len + 1;
        }
        put32(g, im->group_name[i]);
        put32(g + 4, (uint32_t)groups[i].gid);
        put32(g + 8, (uint32_t)groups[i].member_count);
        put32(g + 12, (uint32_t)run);
        put32(g + 16, (uint32_t)(pool - run));
        if ((r = index_insert(img + im->off[1], im->name_slots, im->group_hash[i],
                              (uint32_t)i + 1, same_group_name, &names)) < 0 ||
            (r = index_insert(img + im->off[2], im->gid_slots,
                              mkgf_hash_gid((uint32_t)groups[i].gid), (uint32_t)i + 1,
                              same_group_gid, groups)) < 0)
            return r;
    }
    return 0;
}

/* Step 5: the user records and index, each user's gids in group order (one
 * pass over the members), and the string pool. */
static void build_users(const struct gfw_build *b, struct gfw_image *im)
{
    unsigned char *img = im->img;

    for (size_t u = 0, first = 0; u < b->users; u++) {
        unsigned char *rec = img + im->off[4] + u * MKGF_USER_RECORD;
        im->user_first[u] = (uint32_t)first;
        put32(rec, b->user_name[u]);
        put32(rec + 4, (uint32_t)first);
        put32(rec + 8, b->user_count[u]);
        first += b->user_count[u];
        index_insert(img + im->off[5], im->user_slots, b->user_hash[u], (uint32_t)u + 1,
                     never_same, NULL);
    }
    for (size_t i = 0, k = 0; i < im->n; i++)
        for (size_t m = 0; m < im->groups[i].member_count; m++, k++) {
            uint32_t u = im->member_user[k];
            put32(img + im->off[6] + 4 * ((size_t)im->user_first[u] + im->user_fill[u]++),
                  (uint32_t)im->groups[i].gid);
        }
    if (b->string_size)
        memcpy(img + im->off[7], b->strings, b->string_size);
}

/* Step 6: the header, then the checksum over everything after it. */
static void build_header(const struct gfw_build *b, struct gfw_image *im)
{
    unsigned char *img = im->img;

    memcpy(img, MKGF_MAGIC, 8);
    put32(img + 8, MKGF_VERSION);
    put32(img + MKGF_FLAGS_OFFSET, 0);
    put64(img + 24, im->size);
    put32(img + 32, (uint32_t)im->n);
    put32(img + 36, im->name_slots);
    put32(img + 40, im->gid_slots);
    put32(img + 44, (uint32_t)im->pool_size);
    put32(img + 48, (uint32_t)b->users);
    put32(img + 52, im->user_slots);
    put32(img + 56, (uint32_t)im->total_members);
    /* Padding to 4 bytes belongs to the string pool: it is NUL too. */
    put32(img + 60, (uint32_t)(im->size - im->off[7]));
    for (int i = 0; i < 8; i++)
        put32(img + 64 + 4 * i, (uint32_t)im->off[i]);
    put64(img + MKGF_CHECKSUM_OFFSET,
          mkgf_checksum(img + MKGF_CHECKSUMMED_FROM, im->size - MKGF_CHECKSUMMED_FROM));
}

/* Builds the whole file image in memory (format version 2), in the steps
 * above. */
static int build_image(const struct mk_group_entry *groups, size_t n, unsigned char **out,
                       size_t *out_size)
{
    struct gfw_build b;
    struct gfw_image im;
    int r;

    memset(&b, 0, sizeof(b));
    memset(&im, 0, sizeof(im));
    im.groups = groups;
    im.n = n;
    if ((r = build_check(&im)) < 0 || (r = build_intern(&b, &im)) < 0 ||
        (r = build_layout(&b, &im)) < 0 || (r = build_groups(&im)) < 0)
        goto out;
    build_users(&b, &im);
    build_header(&b, &im);
    *out = im.img;
    *out_size = im.size;
    im.img = NULL;
    r = 0;
out:
    free(im.img);
    free(im.group_name);
    free(im.group_hash);
    free(im.member_hash);
    free(im.member_user);
    free(im.user_first);
    free(im.user_fill);
    free(b.strings);
    free(b.string_table.slots);
    free(b.user_name);
    free(b.user_count);
    free(b.user_last_group);
    free(b.user_hash);
    return r;
}

int mk_groupfile_encode(const struct mk_group_entry *groups, size_t n, unsigned char **out,
                        size_t *size)
{
    if (!out || !size || (n > 0 && !groups))
        return -EINVAL;
    return build_image(groups, n, out, size);
}

/* Sets the recycled flag of the replaced file, if it is one of ours, so that
 * a reader that maps it remaps (the format's flag; groupfile/reader.h).
 * Only the 4-byte flags word is written: the size
 * never changes under a reader (groupfile/reader.h). */
static void mark_recycled(int fd)
{
    unsigned char head[MKGF_FLAGS_OFFSET + 4];
    struct stat st;
    uint32_t flags;

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
        memcmp(head, MKGF_MAGIC, 8) != 0)
        return;
    memcpy(&flags, head + MKGF_FLAGS_OFFSET, 4);
    flags = htole32(le32toh(flags) | MKGF_FLAG_RECYCLED);
    if (pwrite(fd, &flags, 4, MKGF_FLAGS_OFFSET) != 4)
        return;
}

int mk_groupfile_publish_at(int dirfd, const char *name, const unsigned char *image, size_t size)
{
    int old = -1, r;

    if (!image || size < MKGF_HEADER_SIZE || memcmp(image, MKGF_MAGIC, 8) != 0)
        return -EINVAL;
    r = mk_atomicfile_replace(dirfd, name, 0644, image, size, &old);
    /* Set even when only the directory fsync failed (-EIO): the new file is
     * in place, and readers of the old one must move on either way. */
    if (old >= 0) {
        mark_recycled(old);
        close(old);
    }
    return r;
}

/* The same, for the file name (no '/') in the directory open at dirfd: the
 * store opens its state directory once, without following a link, checks
 * who owns it, and writes everything through that descriptor. The
 * temporary file is NAME.tmp.XXXXXX (six letters or digits). */
static int mk_groupfile_write_at(int dirfd, const char *name, const struct mk_group_entry *groups,
                          size_t n)
{
    unsigned char *img = NULL;
    size_t size = 0;
    int r;

    if (dirfd < 0 || !name || !*name || strchr(name, '/') || (n > 0 && !groups))
        return -EINVAL;
    if ((r = build_image(groups, n, &img, &size)) < 0)
        return r;
    r = mk_groupfile_publish_at(dirfd, name, img, size);
    free(img);
    return r;
}

int mk_groupfile_write(const char *path, const struct mk_group_entry *groups, size_t n)
{
    const char *slash;
    char *dir = NULL;
    int dirfd, r;

    if (!path || !*path)
        return -EINVAL;
    slash = strrchr(path, '/');
    if (!slash)
        dir = strdup(".");
    else
        dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (!dir)
        return -ENOMEM;
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (dirfd < 0)
        return -errno;
    r = mk_groupfile_write_at(dirfd, slash ? slash + 1 : path, groups, n);
    close(dirfd);
    return r;
}
