/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/unit/test_grouppolicy.c: the naming and gid policy
 * (common/store/grouppolicy.h, invariant 3 of docs/ARCHITECTURE.md) driven directly, with
 * the store in memory and no file: derived names, hashed gids, what is
 * taken and what is given instead (with a note, as data), pins, a gid and a
 * name kept for good, exhaustion. A "run" is one mk_policy_assign; between
 * runs the store goes through store.json's text (serialize, parse), as it
 * does between two refreshes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/config.h"
#include "store/grouppolicy.h"
#include "store/storefile.h"
#include "store/store_json.h"
#include "base/text.h"

#define GID_LO 2000200001u
#define ID_A "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"

/* A stand-in for the other group sources (NSS): a few groups, a switch
 * that makes every lookup fail, and a count of lookups. */
struct foreign {
    struct {
        const char *name;
        gid_t gid;
    } v[8];
    size_t n;
    int fail;         /* a negative errno every lookup returns, or 0 */
    unsigned lookups;
};

static int foreign_by_gid(void *ctx, gid_t gid, char *name, size_t size)
{
    struct foreign *fo = ctx;
    fo->lookups++;
    if (fo->fail)
        return fo->fail;
    for (size_t i = 0; i < fo->n; i++) {
        if (fo->v[i].gid == gid) {
            snprintf(name, size, "%s", fo->v[i].name);
            return 1;
        }
    }
    return 0;
}

static int foreign_by_name(void *ctx, const char *name, gid_t *gid)
{
    struct foreign *fo = ctx;
    fo->lookups++;
    if (fo->fail)
        return fo->fail;
    for (size_t i = 0; i < fo->n; i++) {
        if (strcmp(fo->v[i].name, name) == 0) {
            *gid = fo->v[i].gid;
            return 1;
        }
    }
    return 0;
}

static void foreign_add(struct foreign *fo, const char *name, gid_t gid)
{
    assert_true(fo->n < sizeof(fo->v) / sizeof(fo->v[0]));
    fo->v[fo->n].name = name;
    fo->v[fo->n].gid = gid;
    fo->n++;
}

struct fx {
    struct mk_config cfg;
    struct mk_storefile s;
    struct mk_local_groups etc;
    struct mk_policy_notes notes;
    mk_status org_status;
    mk_error org_err;
    struct foreign foreign;
    struct mk_group_oracle oracle;
    bool use_oracle;   /* pass the oracle to mk_policy_assign */
    bool recheck;      /* every joined organization is checked again */
};

static void fx_init(struct fx *f, const char *conf)
{
    mk_error err;

    memset(f, 0, sizeof(*f));
    mk_error_clear(&err);
    assert_int_equal(mk_config_defaults(&f->cfg, &err), MK_OK);
    if (conf && mk_config_parse_string(conf, "test.conf", &f->cfg, &err) != MK_OK)
        fail_msg("config: %s", err.message);
    assert_int_equal(mk_policy_check_config(&f->cfg, &err), MK_OK);
    mk_error_clear(&f->org_err);
}

static void fx_free(struct fx *f)
{
    mk_config_free(&f->cfg);
    mk_storefile_free(&f->s);
    mk_local_groups_free(&f->etc);
    mk_policy_notes_free(&f->notes);
}

static void local_group(struct fx *f, const char *name, gid_t gid)
{
    assert_int_equal(mk_local_groups_add(&f->etc, name, gid), 0);
    mk_local_groups_finish(&f->etc);
}

static struct mk_storefile_org *org(struct fx *f, const char *id)
{
    ssize_t i = mk_storefile_find_org(&f->s, id);
    assert_true(i >= 0);
    return &f->s.orgs[i];
}

/* Adds the organization (canonical id) if new, with this display name. */
static void add_org(struct fx *f, const char *id, const char *display)
{
    struct mk_storefile_org *o;

    assert_true(mk_org_id_valid(id));
    assert_int_equal(mk_storefile_add_orgs(&f->s, &id, 1, 0), 0);
    o = org(f, id);
    free(o->name);
    o->name = display ? strdup(display) : NULL;
}

/* One run: assigns every organization named in ids (NULL-terminated), the
 * others kept as they are. Notes and the organization error start afresh. */
static void run(struct fx *f, const char *const *ids)
{
    bool *joined = calloc(f->s.org_count + 1, sizeof(*joined));
    mk_error err;

    assert_non_null(joined);
    for (size_t i = 0; ids && ids[i]; i++) {
        ssize_t at = mk_storefile_find_org(&f->s, ids[i]);
        assert_true(at >= 0);
        joined[at] = true;
    }
    mk_policy_notes_free(&f->notes);
    f->org_status = MK_OK;
    mk_error_clear(&f->org_err);
    mk_error_clear(&err);
    f->oracle.by_gid = foreign_by_gid;
    f->oracle.by_name = foreign_by_name;
    f->oracle.ctx = &f->foreign;
    assert_int_equal(mk_policy_assign(&f->s, joined, f->recheck ? joined : NULL, &f->cfg, &f->etc,
                                      f->use_oracle ? &f->oracle : NULL, &f->notes,
                                      &f->org_status, &f->org_err, &err),
                     MK_OK);
    free(joined);
}

/* What the next refresh starts from: store.json's text, parsed again. */
static void reload(struct fx *f)
{
    char *text = mk_store_json_serialize(&f->s);
    mk_error err;

    assert_non_null(text);
    mk_storefile_free(&f->s);
    mk_error_clear(&err);
    if (mk_store_json_parse(text, strlen(text), "store.json", &f->s, NULL, &err) != MK_OK)
        fail_msg("reload: %s", err.message);
    free(text);
}

/* The index of the first note with every needle in it, or -1. */
static int note_with(const struct fx *f, const char *a, const char *b, const char *c)
{
    for (size_t i = 0; i < f->notes.n; i++) {
        const char *t = f->notes.v[i].text;
        if ((!a || strstr(t, a)) && (!b || strstr(t, b)) && (!c || strstr(t, c)))
            return (int)i;
    }
    return -1;
}

static void num(char *out, gid_t gid)
{
    snprintf(out, 16, "%u", (unsigned)gid);
}

/* The documented derivation, written out independently: gid_min + FNV-1a
 * 64 of the canonical id, modulo the size of the range. */
static gid_t fnv_gid(const char *id, gid_t lo, gid_t hi)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return (gid_t)(lo + h % ((uint64_t)hi - lo + 1));
}

static gid_t next_gid(gid_t g, gid_t lo, gid_t hi)
{
    return g == hi ? lo : g + 1;
}

/* A portable POSIX group name as this project means it: [a-z_][a-z0-9_-]*,
 * 1 to 32 characters. Written here rather than taken from text.h. */
static bool portable(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* An id prefix + 4 digits whose hashed gid is target, other than avoid. */
static void id_hashing_to(const char *prefix, gid_t target, gid_t lo, gid_t hi,
                          const char *avoid, char out[64])
{
    for (int i = 0; i < 10000; i++) {
        snprintf(out, 64, "%s%04d", prefix, i);
        if ((!avoid || strcmp(out, avoid) != 0) && fnv_gid(out, lo, hi) == target)
            return;
    }
    fail_msg("no id %sNNNN hashes to %u", prefix, (unsigned)target);
}

/* ---- names ---- */

/* prefix + display slug + "-" + the first 8 letters or digits of the id. */
static void test_derived_name_shape(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct fx f;
    (void)state;

    fx_init(&f, NULL);
    add_org(&f, ID_A, "Acme Media");
    run(&f, ids);
    assert_string_equal(org(&f, ID_A)->group, "mk-acme-media-1a2b3c4d");
    assert_false(org(&f, ID_A)->pinned);
    assert_int_equal(f.notes.n, 0);
    assert_int_equal(f.org_status, MK_OK);
    fx_free(&f);

    fx_init(&f, "group_prefix = org_\n");
    add_org(&f, ID_A, "Acme Media");
    run(&f, ids);
    assert_string_equal(org(&f, ID_A)->group, "org_acme-media-1a2b3c4d");
    fx_free(&f);
}

/* Whatever the display name (hostile, long, empty, not ASCII, missing),
 * the name keeps the prefix and the whole id fragment, is at most 32
 * characters and portable, and is never a bare name like "sudo". */
static void test_derived_name_any_display(void **state)
{
    static const char *const displays[] = {
        "sudo", "root", "", "../../etc/passwd", "\xce\xa9mega \xe2\x98\x83", "a:b,c d\n",
        "A Very Long Organization Display Name That Goes On", "----", "_x_", "ADM",
        "0day", "12345678901234567890123456789012345678901234567890",
    };
    (void)state;

    for (size_t i = 0; i <= sizeof(displays) / sizeof(displays[0]); i++) {
        static const char *const ids[] = { ID_A, NULL };
        const char *display = i < sizeof(displays) / sizeof(displays[0]) ? displays[i] : NULL;
        const char *g;
        struct fx f;

        fx_init(&f, NULL);
        add_org(&f, ID_A, display);
        run(&f, ids);
        g = org(&f, ID_A)->group;
        assert_non_null(g);
        assert_true(strlen(g) <= 32);
        assert_true(portable(g));
        assert_true(mk_group_name_valid(g));
        assert_int_equal(strncmp(g, "mk-", 3), 0);
        assert_true(ends_with(g, "-1a2b3c4d"));
        assert_true(strstr(g, "--") == NULL);
        fx_free(&f);
    }

    /* The display part is what gets cut, never the fragment. */
    {
        static const char *const ids[] = { ID_A, NULL };
        struct fx f;
        fx_init(&f, "group_prefix = abcdefghijklmnop\n");   /* 16, the longest */
        add_org(&f, ID_A, "Acme Media Worldwide");
        run(&f, ids);
        assert_true(strlen(org(&f, ID_A)->group) <= 32);
        assert_true(portable(org(&f, ID_A)->group));
        assert_int_equal(strncmp(org(&f, ID_A)->group, "abcdefghijklmnop", 16), 0);
        assert_true(ends_with(org(&f, ID_A)->group, "-1a2b3c4d"));
        fx_free(&f);
    }
}

/* A name /etc/group has: the longer fragment, and a note naming both. */
static void test_name_taken_by_local_group(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct fx f;
    (void)state;

    fx_init(&f, NULL);
    local_group(&f, "mk-acme-media-1a2b3c4d", 5000);
    add_org(&f, ID_A, "Acme Media");
    run(&f, ids);
    assert_string_equal(org(&f, ID_A)->group, "mk-acme-media-1a2b3c4d5e6f");
    assert_true(note_with(&f, ID_A, "mk-acme-media-1a2b3c4d ", "mk-acme-media-1a2b3c4d5e6f") >= 0);
    assert_int_equal(f.notes.v[note_with(&f, ID_A, NULL, NULL)].priority, MK_LOG_WARNING);
    fx_free(&f);
}

/* Two organizations whose ids start alike and display names match: the
 * first (in id order) gets the short fragment, the other a longer one; in
 * one run or in two. */
static void test_name_taken_by_another_org(void **state)
{
    static const char *const id1 = "1a2b3c4d-aaaa-0000", *const id2 = "1a2b3c4d-bbbb-0000";
    const char *both[] = { id2, id1, NULL }, *only1[] = { id1, NULL }, *only2[] = { id2, NULL };
    struct fx f;
    (void)state;

    fx_init(&f, NULL);
    add_org(&f, id2, "Acme");
    add_org(&f, id1, "Acme");
    run(&f, both);
    assert_string_equal(org(&f, id1)->group, "mk-acme-1a2b3c4d");
    assert_string_equal(org(&f, id2)->group, "mk-acme-1a2b3c4dbbbb");
    assert_true(note_with(&f, id2, "mk-acme-1a2b3c4d ", "mk-acme-1a2b3c4dbbbb") >= 0);
    fx_free(&f);

    /* The second arrives later: the first keeps its name. */
    fx_init(&f, NULL);
    add_org(&f, id2, "Acme");
    run(&f, only2);
    assert_string_equal(org(&f, id2)->group, "mk-acme-1a2b3c4d");
    reload(&f);
    add_org(&f, id1, "Acme");
    run(&f, only1);
    assert_string_equal(org(&f, id2)->group, "mk-acme-1a2b3c4d");
    assert_string_equal(org(&f, id1)->group, "mk-acme-1a2b3c4daaaa");
    assert_true(note_with(&f, id1, "mk-acme-1a2b3c4d ", "mk-acme-1a2b3c4daaaa") >= 0);
    fx_free(&f);
}

/* When every fragment length gives a taken name (a short id has only one),
 * a number follows: -2, then -3. */
static void test_name_numbered_when_fragments_taken(void **state)
{
    static const char *const ids[] = { "abc", NULL };
    struct fx f;
    (void)state;

    fx_init(&f, NULL);
    local_group(&f, "mk-x-abc", 5000);
    add_org(&f, "abc", "X");
    run(&f, ids);
    assert_string_equal(org(&f, "abc")->group, "mk-x-abc-2");
    assert_true(note_with(&f, "abc", "mk-x-abc ", "mk-x-abc-2") >= 0);
    fx_free(&f);

    fx_init(&f, NULL);
    local_group(&f, "mk-x-abc", 5000);
    local_group(&f, "mk-x-abc-2", 5001);
    add_org(&f, "abc", "X");
    run(&f, ids);
    assert_string_equal(org(&f, "abc")->group, "mk-x-abc-3");
    fx_free(&f);
}

/* A pin's name is never derived for another organization. */
static void test_name_taken_by_pin(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct fx f;
    (void)state;

    fx_init(&f, "gid_range = 2000200001-2000200100\n"
                "pin = 99999999-0000 mk-acme-media-1a2b3c4d 2000200051\n");
    add_org(&f, ID_A, "Acme Media");
    run(&f, ids);
    assert_string_equal(org(&f, ID_A)->group, "mk-acme-media-1a2b3c4d5e6f");
    assert_true(note_with(&f, ID_A, "mk-acme-media-1a2b3c4d5e6f", NULL) >= 0);
    fx_free(&f);
}

/* ---- gids ---- */

/* The gid is gid_min + FNV-1a 64(id) mod the range size: the same on every
 * run and every machine, whatever the display name or the other
 * organizations, and mk_policy_hashed_gid says it. */
static void test_gid_same_on_every_run(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    const gid_t lo = 2000200001u, hi = 2147483646u;   /* the default gid_range */
    gid_t want = fnv_gid(ID_A, lo, hi), seen[3];
    (void)state;

    assert_int_equal(mk_policy_hashed_gid(ID_A, lo, hi), want);
    for (int i = 0; i < 3; i++) {
        static const char *const displays[] = { "Acme", "Renamed", NULL };
        const char *others[] = { "0000-first", "zzzz-last", ID_A, NULL };
        struct fx f;
        fx_init(&f, NULL);
        if (i == 2) {
            add_org(&f, "zzzz-last", "Z");
            add_org(&f, "0000-first", "Z");
        }
        add_org(&f, ID_A, displays[i]);
        run(&f, i == 2 ? others : ids);
        seen[i] = org(&f, ID_A)->gid;
        assert_int_equal(seen[i], want);
        fx_free(&f);
    }
    /* Over a small range too, and at both ends. */
    assert_int_equal(mk_policy_hashed_gid("abc", 2000200001u, 2000200010u),
                     fnv_gid("abc", 2000200001u, 2000200010u));
    assert_int_equal(mk_policy_hashed_gid("abc", 2000200001u, 2000200001u), 2000200001u);
}

/* A gid of /etc/group, of another organization (in the same run or an
 * earlier one), of a pin, or retired is never given: the next free one is,
 * wrapping inside the range, with a note that names both. */
static void test_gid_taken_goes_to_next(void **state)
{
    const char *conf = "gid_range = 2000200001-2000200010\n";
    const gid_t lo = GID_LO, hi = GID_LO + 9;
    gid_t h = fnv_gid(ID_A, lo, hi), next = next_gid(h, lo, hi);
    static const char *const ids[] = { ID_A, NULL };
    char hs[16], ns[16], other[64], pinconf[256];
    struct fx f;
    (void)state;

    num(hs, h);
    num(ns, next);

    /* /etc/group */
    fx_init(&f, conf);
    local_group(&f, "staff", h);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_int_equal(org(&f, ID_A)->gid, next);
    assert_true(note_with(&f, ID_A, hs, ns) >= 0);
    assert_int_equal(f.notes.v[note_with(&f, ID_A, hs, ns)].priority, MK_LOG_WARNING);
    fx_free(&f);

    /* retired */
    fx_init(&f, conf);
    assert_int_equal(mk_storefile_retire(&f.s, h), 0);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_int_equal(org(&f, ID_A)->gid, next);
    assert_true(note_with(&f, ID_A, hs, ns) >= 0);
    fx_free(&f);

    /* a pin of an organization that is not even in the store */
    snprintf(pinconf, sizeof(pinconf), "%spin = ffff-pinned pinned-group %u\n", conf,
             (unsigned)h);
    fx_init(&f, pinconf);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_int_equal(org(&f, ID_A)->gid, next);
    assert_true(note_with(&f, ID_A, hs, ns) >= 0);
    fx_free(&f);

    /* another organization, in one run (id order decides) and in two */
    id_hashing_to("0000-", h, lo, hi, NULL, other);   /* sorts before ID_A */
    {
        const char *both[] = { ID_A, other, NULL }, *only_other[] = { other, NULL };
        fx_init(&f, conf);
        add_org(&f, ID_A, "Acme");
        add_org(&f, other, "Other");
        run(&f, both);
        assert_int_equal(org(&f, other)->gid, h);
        assert_int_equal(org(&f, ID_A)->gid, next);
        assert_true(note_with(&f, ID_A, hs, ns) >= 0);
        fx_free(&f);

        fx_init(&f, conf);
        add_org(&f, ID_A, "Acme");
        run(&f, ids);
        assert_int_equal(org(&f, ID_A)->gid, h);
        reload(&f);
        add_org(&f, other, "Other");
        run(&f, only_other);
        assert_int_equal(org(&f, ID_A)->gid, h);
        assert_int_equal(org(&f, other)->gid, next);
        assert_true(note_with(&f, other, hs, ns) >= 0);
        fx_free(&f);
    }
}

/* Probing wraps from the top of the range to its bottom. */
static void test_gid_probe_wraps(void **state)
{
    const char *conf = "gid_range = 2000200001-2000200010\n";
    const gid_t lo = GID_LO, hi = GID_LO + 9;
    char id[64];
    struct fx f;
    (void)state;

    id_hashing_to("wrap-", hi, lo, hi, NULL, id);
    fx_init(&f, conf);
    local_group(&f, "top", hi);
    add_org(&f, id, "W");
    {
        const char *ids[] = { id, NULL };
        run(&f, ids);
    }
    assert_int_equal(org(&f, id)->gid, lo);
    fx_free(&f);
}

/* ---- pins ---- */

/* A pin gives exactly its name and gid, whatever the display name; the
 * group is active. */
static void test_pin_applies_exactly(void **state)
{
    static const char *const ids[] = { "org-pinned", ID_A, NULL };
    struct fx f;
    (void)state;

    fx_init(&f, "gid_range = 2000200001-2000200100\n"
                "pin = ORG-PINNED developers 2000200006\n");
    add_org(&f, "org-pinned", "Anything At All");
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_string_equal(org(&f, "org-pinned")->group, "developers");
    assert_int_equal(org(&f, "org-pinned")->gid, 2000200006u);
    assert_true(org(&f, "org-pinned")->pinned);
    assert_true(mk_policy_org_active(org(&f, "org-pinned"), &f.cfg, &f.etc, NULL));
    assert_true(org(&f, ID_A)->gid != 2000200006u);
    assert_int_equal(f.notes.n, 0);
    /* A second run changes nothing. */
    reload(&f);
    run(&f, ids);
    assert_string_equal(org(&f, "org-pinned")->group, "developers");
    assert_int_equal(org(&f, "org-pinned")->gid, 2000200006u);
    assert_int_equal(f.notes.n, 0);
    fx_free(&f);
}

/* A pin whose name or gid a local group has, or that another organization
 * holds or held, is not applied: no group, and a note says why. */
static void test_pin_blocked(void **state)
{
    static const char *const ids[] = { "org-pinned", NULL };
    const char *conf = "gid_range = 2000200001-2000200100\n"
                       "pin = org-pinned developers 2000200006\n";
    struct fx f;
    (void)state;

    /* a local group's name */
    fx_init(&f, conf);
    local_group(&f, "developers", 3000);
    add_org(&f, "org-pinned", "P");
    run(&f, ids);
    assert_null(org(&f, "org-pinned")->group);
    assert_int_equal(org(&f, "org-pinned")->gid, 0);
    assert_true(note_with(&f, "org-pinned", "developers", "not applied") >= 0);
    assert_int_equal(f.notes.v[note_with(&f, "org-pinned", NULL, NULL)].priority,
                     MK_LOG_WARNING);
    fx_free(&f);

    /* a local group's gid */
    fx_init(&f, conf);
    local_group(&f, "builders", 2000200006u);
    add_org(&f, "org-pinned", "P");
    run(&f, ids);
    assert_null(org(&f, "org-pinned")->group);
    assert_true(note_with(&f, "org-pinned", "2000200006", "not applied") >= 0);
    fx_free(&f);

    /* another organization holds the gid (given before the pin existed) */
    fx_init(&f, conf);
    add_org(&f, "org-holder", "H");
    org(&f, "org-holder")->group = strdup("mk-h-orgholde");
    org(&f, "org-holder")->gid = 2000200006u;
    add_org(&f, "org-pinned", "P");
    run(&f, ids);
    assert_null(org(&f, "org-pinned")->group);
    assert_int_equal(org(&f, "org-holder")->gid, 2000200006u);
    assert_true(note_with(&f, "org-pinned", "not applied", NULL) >= 0);
    fx_free(&f);

    /* the gid is retired */
    fx_init(&f, conf);
    assert_int_equal(mk_storefile_retire(&f.s, 2000200006u), 0);
    add_org(&f, "org-pinned", "P");
    run(&f, ids);
    assert_null(org(&f, "org-pinned")->group);
    assert_true(note_with(&f, "org-pinned", "not applied", NULL) >= 0);
    fx_free(&f);

    /* another organization holds the name */
    fx_init(&f, conf);
    add_org(&f, "org-holder", "H");
    org(&f, "org-holder")->group = strdup("developers");
    org(&f, "org-holder")->gid = 2000200007u;
    org(&f, "org-holder")->pinned = false;
    add_org(&f, "org-pinned", "P");
    run(&f, ids);
    assert_null(org(&f, "org-pinned")->group);
    assert_true(note_with(&f, "org-pinned", "not applied", NULL) >= 0);
    fx_free(&f);
}

/* A pin removed: the organization gets a derived name (only a pin gives a
 * bare one) and a new gid; the pinned gid is retired, never given to the
 * organization that arrives next and hashes to it. */
static void test_pin_removed_retires_gid(void **state)
{
    const char *pinned = "gid_range = 2000200001-2000200010\n"
                         "pin = org-pinned developers 2000200006\n";
    const char *unpinned = "gid_range = 2000200001-2000200010\n";
    static const char *const ids[] = { "org-pinned", NULL };
    char newcomer[64];
    struct mk_config cfg2;
    mk_error err;
    struct fx f;
    (void)state;

    fx_init(&f, pinned);
    add_org(&f, "org-pinned", "P");
    run(&f, ids);
    assert_string_equal(org(&f, "org-pinned")->group, "developers");
    reload(&f);

    mk_error_clear(&err);
    assert_int_equal(mk_config_defaults(&cfg2, &err), MK_OK);
    assert_int_equal(mk_config_parse_string(unpinned, "test.conf", &cfg2, &err), MK_OK);
    mk_config_free(&f.cfg);
    f.cfg = cfg2;
    run(&f, ids);
    assert_non_null(org(&f, "org-pinned")->group);
    assert_int_equal(strncmp(org(&f, "org-pinned")->group, "mk-", 3), 0);
    assert_false(org(&f, "org-pinned")->pinned);
    assert_true(org(&f, "org-pinned")->gid != 2000200006u);
    assert_true(mk_storefile_is_retired(&f.s, 2000200006u));
    assert_true(note_with(&f, "org-pinned", "2000200006", "retired") >= 0);
    reload(&f);

    id_hashing_to("new-", 2000200006u, GID_LO, GID_LO + 9, NULL, newcomer);
    add_org(&f, newcomer, "N");
    {
        const char *ids2[] = { newcomer, NULL };
        run(&f, ids2);
    }
    assert_non_null(org(&f, newcomer)->group);
    assert_true(org(&f, newcomer)->gid != 2000200006u);
    assert_true(org(&f, newcomer)->gid != org(&f, "org-pinned")->gid);
    fx_free(&f);
}

/* ---- invariant 3: once given, kept, and never given to another ---- */

/* An organization's name and gid stay across runs, display-name changes
 * and leaving; one that arrives after it left, hashing to its gid and
 * deriving its name, gets others. Ten runs, organizations coming and
 * going: every name and gid ever seen belongs to one organization. */
static void test_assignment_kept_for_good(void **state)
{
    const char *conf = "gid_range = 2000200001-2000200020\n";
    const gid_t lo = GID_LO, hi = GID_LO + 19;
    const char *first = "aaaaaaaa-0001";
    char late[64], name0[40];
    gid_t gid0;
    struct fx f;
    (void)state;

    fx_init(&f, conf);
    add_org(&f, first, "Acme");
    {
        const char *ids[] = { first, NULL };
        run(&f, ids);
    }
    assert_string_equal(org(&f, first)->group, "mk-acme-aaaaaaaa");
    snprintf(name0, sizeof(name0), "%s", org(&f, first)->group);
    gid0 = org(&f, first)->gid;
    reload(&f);

    /* It leaves (not joined by anyone) and is renamed; a newcomer with the
     * same display name, the same first 8 id characters and the same
     * hashed gid arrives. */
    free(org(&f, first)->name);
    org(&f, first)->name = strdup("Something Else");
    id_hashing_to("aaaaaaaa-", gid0, lo, hi, first, late);
    add_org(&f, late, "Acme");
    {
        const char *ids[] = { late, NULL };
        run(&f, ids);
    }
    assert_string_equal(org(&f, first)->group, name0);
    assert_int_equal(org(&f, first)->gid, gid0);
    assert_non_null(org(&f, late)->group);
    assert_string_not_equal(org(&f, late)->group, name0);
    assert_true(org(&f, late)->gid != gid0);
    reload(&f);

    /* It comes back: the same group. */
    {
        const char *ids[] = { first, late, NULL };
        run(&f, ids);
    }
    assert_string_equal(org(&f, first)->group, name0);
    assert_int_equal(org(&f, first)->gid, gid0);
    assert_int_equal(f.notes.n, 0);
    fx_free(&f);

    /* Many runs, organizations arriving and leaving. */
    {
        char ids_buf[12][16];
        char *names_seen[12] = { 0 };
        gid_t gids_seen[12] = { 0 };

        fx_init(&f, conf);
        for (int r = 0; r < 10; r++) {
            const char *ids[13];
            size_t k = 0;
            snprintf(ids_buf[r], sizeof(ids_buf[r]), "run-%02d", r);
            add_org(&f, ids_buf[r], "Same Name");
            /* every third earlier organization stays joined */
            for (int j = 0; j <= r; j++)
                if (j == r || (j + r) % 3 == 0)
                    ids[k++] = ids_buf[j];
            ids[k] = NULL;
            run(&f, ids);
            for (int j = 0; j <= r; j++) {
                const struct mk_storefile_org *o = org(&f, ids_buf[j]);
                assert_non_null(o->group);
                if (!names_seen[j]) {
                    names_seen[j] = strdup(o->group);
                    gids_seen[j] = o->gid;
                }
                assert_string_equal(o->group, names_seen[j]);
                assert_int_equal(o->gid, gids_seen[j]);
                assert_true(o->gid >= lo && o->gid <= hi);
                assert_true(portable(o->group));
                for (int i = 0; i < j; i++) {
                    assert_string_not_equal(names_seen[i], o->group);
                    assert_true(gids_seen[i] != o->gid);
                }
            }
            reload(&f);
        }
        for (int j = 0; j < 10; j++)
            free(names_seen[j]);
        fx_free(&f);
    }
}

/* ---- exhaustion and refusals ---- */

/* More organizations than gids: the last in id order gets no group, the
 * run still succeeds, and the organization error (MK_ERR_USAGE, "gid range
 * exhausted") is given back and noted at error priority. */
static void test_gid_range_exhausted(void **state)
{
    static const char *const ids[] = { "org-1", "org-2", "org-3", "org-4", NULL };
    static const char *const ids_one[] = { "org-1", NULL };
    struct fx f;
    (void)state;

    fx_init(&f, "gid_range = 2000200001-2000200003\n");
    for (int i = 0; ids[i]; i++)
        add_org(&f, ids[i], "Org");
    run(&f, ids);
    for (int i = 0; i < 3; i++) {
        assert_non_null(org(&f, ids[i])->group);
        assert_true(org(&f, ids[i])->gid >= GID_LO && org(&f, ids[i])->gid <= GID_LO + 2);
        for (int j = 0; j < i; j++)
            assert_true(org(&f, ids[j])->gid != org(&f, ids[i])->gid);
    }
    assert_null(org(&f, "org-4")->group);
    assert_int_equal(org(&f, "org-4")->gid, 0);
    assert_int_equal(f.org_status, MK_ERR_USAGE);
    assert_non_null(strstr(f.org_err.message, "gid range exhausted"));
    assert_non_null(strstr(f.org_err.message, "org-4"));
    assert_true(note_with(&f, "gid range exhausted", "org-4", NULL) >= 0);
    assert_int_equal(f.notes.v[note_with(&f, "gid range exhausted", NULL, NULL)].priority,
                     MK_LOG_ERR);
    fx_free(&f);

    /* Local groups fill the range. */
    fx_init(&f, "gid_range = 2000200001-2000200002\n");
    local_group(&f, "a", GID_LO);
    local_group(&f, "b", GID_LO + 1);
    add_org(&f, "org-1", "Org");
    run(&f, ids_one);
    assert_null(org(&f, "org-1")->group);
    assert_int_equal(f.org_status, MK_ERR_USAGE);
    assert_non_null(strstr(f.org_err.message, "gid range exhausted"));
    fx_free(&f);
}

/* Ids with no letter or digit (no fragment could come from them) are not
 * organization ids; ids are compared in canonical (lowercase) form. */
static void test_org_id_valid(void **state)
{
    char out[MK_ORG_ID_MAX + 1], longest[MK_ORG_ID_MAX + 2];
    (void)state;

    assert_false(mk_org_id_valid(""));
    assert_false(mk_org_id_valid("-"));
    assert_false(mk_org_id_valid("----"));
    assert_false(mk_org_id_valid("a_b"));
    assert_false(mk_org_id_valid("a b"));
    assert_false(mk_org_id_valid("a/b"));
    assert_false(mk_org_id_valid("ABC"));   /* valid only once canonical */
    assert_true(mk_org_id_valid("a"));
    assert_true(mk_org_id_valid("0"));
    assert_true(mk_org_id_valid("-a-"));
    assert_true(mk_org_id_valid(ID_A));
    memset(longest, 'a', MK_ORG_ID_MAX);
    longest[MK_ORG_ID_MAX] = '\0';
    assert_true(mk_org_id_valid(longest));
    longest[MK_ORG_ID_MAX] = 'a';
    longest[MK_ORG_ID_MAX + 1] = '\0';
    assert_false(mk_org_id_valid(longest));

    assert_true(mk_org_id_canonical("1A2B-CD", out));
    assert_string_equal(out, "1a2b-cd");
    assert_false(mk_org_id_canonical("---", out));
    assert_string_equal(out, "");
    assert_false(mk_org_id_canonical("\xc3\xa9", out));
}

/* The configuration the policy refuses: no usable prefix, a bad range. */
static void test_check_config(void **state)
{
    struct mk_config cfg;
    mk_error err;
    char *saved;
    (void)state;

    mk_error_clear(&err);
    assert_int_equal(mk_config_defaults(&cfg, &err), MK_OK);
    assert_int_equal(mk_policy_check_config(&cfg, &err), MK_OK);
    saved = cfg.group_prefix;
    cfg.group_prefix = (char *)"";
    assert_int_equal(mk_policy_check_config(&cfg, &err), MK_ERR_USAGE);
    cfg.group_prefix = (char *)"Mk-";
    assert_int_equal(mk_policy_check_config(&cfg, &err), MK_ERR_USAGE);
    cfg.group_prefix = (char *)"-mk";
    assert_int_equal(mk_policy_check_config(&cfg, &err), MK_ERR_USAGE);
    cfg.group_prefix = (char *)"abcdefghijklmnopqrstu";   /* 21: no room left */
    assert_int_equal(mk_policy_check_config(&cfg, &err), MK_ERR_USAGE);
    cfg.group_prefix = NULL;
    assert_int_equal(mk_policy_check_config(&cfg, &err), MK_ERR_USAGE);
    cfg.group_prefix = saved;
    cfg.gid_min = 0;
    assert_int_equal(mk_policy_check_config(&cfg, &err), MK_ERR_USAGE);
    cfg.gid_min = 2000200011u;
    cfg.gid_max = 2000200001u;
    assert_int_equal(mk_policy_check_config(&cfg, &err), MK_ERR_USAGE);
    mk_config_free(&cfg);
}

/* A group in the store that this configuration could not have given
 * (another prefix, a gid outside the range, no pin) is taken away and its
 * gid retired, with a note; one that fits stays. */
static void test_drop_unfit(void **state)
{
    struct fx f;
    (void)state;

    fx_init(&f, "gid_range = 2000200001-2000200100\n");
    add_org(&f, "org-bad", "B");
    org(&f, "org-bad")->group = strdup("sudo");
    org(&f, "org-bad")->gid = 2000200004u;
    add_org(&f, "org-far", "F");
    org(&f, "org-far")->group = strdup("mk-f-orgfar");
    org(&f, "org-far")->gid = 2050200001u;
    add_org(&f, "org-good", "G");
    org(&f, "org-good")->group = strdup("mk-g-orggood");
    org(&f, "org-good")->gid = 2000200005u;
    assert_int_equal(mk_policy_drop_unfit(&f.s, &f.cfg, &f.notes), 0);
    assert_null(org(&f, "org-bad")->group);
    assert_int_equal(org(&f, "org-bad")->gid, 0);
    assert_true(mk_storefile_is_retired(&f.s, 2000200004u));
    assert_null(org(&f, "org-far")->group);
    assert_true(mk_storefile_is_retired(&f.s, 2050200001u));
    assert_string_equal(org(&f, "org-good")->group, "mk-g-orggood");
    assert_false(mk_storefile_is_retired(&f.s, 2000200005u));
    assert_true(note_with(&f, "org-bad", "sudo", NULL) >= 0);
    assert_true(note_with(&f, "org-far", NULL, NULL) >= 0);
    fx_free(&f);
}

/* Local groups win: an organization whose name or gid /etc/group has (it
 * arrived there after the assignment) is left out of groups.db, with a
 * note, and keeps its assignment; a formerly pinned group is left out. */
static void test_org_active(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct mk_local_groups etc = { 0 };
    struct mk_policy_notes notes = { 0 };
    struct fx f;
    (void)state;

    fx_init(&f, NULL);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_true(mk_policy_org_active(org(&f, ID_A), &f.cfg, &f.etc, NULL));

    assert_int_equal(mk_local_groups_add(&etc, org(&f, ID_A)->group, 4242), 0);
    mk_local_groups_finish(&etc);
    assert_false(mk_policy_org_active(org(&f, ID_A), &f.cfg, &etc, &notes));
    assert_int_equal(notes.n, 1);
    assert_non_null(strstr(notes.v[0].text, ID_A));
    mk_local_groups_free(&etc);
    mk_policy_notes_free(&notes);

    assert_int_equal(mk_local_groups_add(&etc, "someone", org(&f, ID_A)->gid), 0);
    mk_local_groups_finish(&etc);
    assert_false(mk_policy_org_active(org(&f, ID_A), &f.cfg, &etc, &notes));
    assert_int_equal(notes.n, 1);
    mk_local_groups_free(&etc);
    mk_policy_notes_free(&notes);

    /* A group marked pinned without a pin in the configuration. */
    org(&f, ID_A)->pinned = true;
    assert_false(mk_policy_org_active(org(&f, ID_A), &f.cfg, &f.etc, NULL));
    fx_free(&f);
}

/* The local groups' sets: duplicates collapse, lookups are exact. */
static void test_local_groups(void **state)
{
    struct mk_local_groups etc = { 0 };
    (void)state;

    assert_false(mk_local_groups_has_name(&etc, "root"));
    assert_false(mk_local_groups_has_gid(&etc, 0));
    assert_int_equal(mk_local_groups_add(&etc, "sudo", 27), 0);
    assert_int_equal(mk_local_groups_add(&etc, "root", 0), 0);
    assert_int_equal(mk_local_groups_add(&etc, "sudo", 27), 0);
    assert_int_equal(mk_local_groups_add(&etc, "users", 100), 0);
    mk_local_groups_finish(&etc);
    assert_int_equal(etc.name_count, 3);
    assert_int_equal(etc.gid_count, 3);
    assert_true(mk_local_groups_has_name(&etc, "sudo"));
    assert_true(mk_local_groups_has_name(&etc, "root"));
    assert_false(mk_local_groups_has_name(&etc, "sud"));
    assert_false(mk_local_groups_has_name(&etc, "SUDO"));
    assert_true(mk_local_groups_has_gid(&etc, 0));
    assert_true(mk_local_groups_has_gid(&etc, 100));
    assert_false(mk_local_groups_has_gid(&etc, 101));
    mk_local_groups_free(&etc);
}


/* ---- other group sources: the oracle (issue 10, item 3) ---- */

/* A gid another source (NSS: db, LDAP, ...) answers is skipped like a
 * local one; the note names the other group. */
static void test_oracle_gid_skipped(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct fx f;
    gid_t hashed;
    char want[16];
    (void)state;

    fx_init(&f, "gid_range = 2000200001-2000200100\n");
    hashed = mk_policy_hashed_gid(ID_A, 2000200001u, 2000200100u);
    f.use_oracle = true;
    foreign_add(&f.foreign, "ad-video", hashed);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_int_equal(org(&f, ID_A)->gid, hashed == 2000200100u ? 2000200001u : hashed + 1);
    num(want, hashed);
    assert_true(note_with(&f, ID_A, want, "ad-video") >= 0);
    fx_free(&f);
}

/* A name another source answers is skipped: the next longer fragment. */
static void test_oracle_name_skipped(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct fx f;
    (void)state;

    fx_init(&f, NULL);
    f.use_oracle = true;
    foreign_add(&f.foreign, "mk-acme-1a2b3c4d", 2000200500u);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_string_equal(org(&f, ID_A)->group, "mk-acme-1a2b3c4d5e6f");
    assert_true(note_with(&f, ID_A, "mk-acme-1a2b3c4d ", "2000200500") >= 0);
    fx_free(&f);
}

/* A pin whose gid or name another source has is refused, with a warning
 * naming the other group; the organization gets no group. */
static void test_oracle_pin_refused(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct fx f;
    (void)state;

    fx_init(&f, "pin = " ID_A " media-ops 2000200100\n");
    f.use_oracle = true;
    foreign_add(&f.foreign, "ad-video", 2000200100u);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_null(org(&f, ID_A)->group);
    assert_int_equal(org(&f, ID_A)->gid, 0);
    int at = note_with(&f, ID_A, "media-ops", "ad-video");
    assert_true(at >= 0);
    assert_int_equal(f.notes.v[at].priority, 4 /* warning */);
    assert_non_null(strstr(f.notes.v[at].text, "not applied"));
    fx_free(&f);

    /* By name: another source has a group media-ops. */
    fx_init(&f, "pin = " ID_A " media-ops 2000200100\n");
    f.use_oracle = true;
    foreign_add(&f.foreign, "media-ops", 5000);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_null(org(&f, ID_A)->group);
    assert_true(note_with(&f, ID_A, "media-ops (gid 5000)", "not applied") >= 0);
    fx_free(&f);
}

/* Our own current entry (the same name and gid the store holds for that
 * organization: what groups.db publishes, and the mkio source answers) does
 * not count, on a recheck of a derived group or of a pin. */
static void test_oracle_own_entry_not_counted(void **state)
{
    static const char *const ids[] = { ID_A, "org-b", NULL };
    struct fx f;
    (void)state;

    fx_init(&f, "pin = org-b media-ops 2000200100\n");
    add_org(&f, ID_A, "Acme");
    add_org(&f, "org-b", "B");
    run(&f, ids);
    char name[33];
    gid_t gid = org(&f, ID_A)->gid;
    snprintf(name, sizeof(name), "%s", org(&f, ID_A)->group);
    reload(&f);
    f.use_oracle = true;
    f.recheck = true;
    foreign_add(&f.foreign, name, gid);
    foreign_add(&f.foreign, "media-ops", 2000200100u);
    run(&f, ids);
    assert_string_equal(org(&f, ID_A)->group, name);
    assert_int_equal(org(&f, ID_A)->gid, gid);
    assert_string_equal(org(&f, "org-b")->group, "media-ops");
    assert_int_equal(f.notes.n, 0);
    assert_true(f.foreign.lookups >= 4);   /* asked, and answered with ourselves */
    fx_free(&f);
}

/* A derived gid another source takes later: a recheck moves the group to a
 * new gid (same name), retires the old one (never given again), and the
 * warning names both groups. Without a recheck nothing is asked. */
static void test_oracle_taken_later_moves(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    static const char *const both[] = { ID_A, "org-b", NULL };
    struct fx f;
    char name[33], old_text[16], new_text[16];
    gid_t old;
    (void)state;

    fx_init(&f, "gid_range = 2000200001-2000200100\n");
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    old = org(&f, ID_A)->gid;
    snprintf(name, sizeof(name), "%s", org(&f, ID_A)->group);
    reload(&f);

    f.use_oracle = true;
    foreign_add(&f.foreign, "ad-video", old);
    /* Our module still answers the name with the published entry: that is
     * our own, even once the gid has moved in this run (no rename). */
    foreign_add(&f.foreign, name, old);
    run(&f, ids);                 /* no recheck: kept, nothing asked */
    assert_int_equal(org(&f, ID_A)->gid, old);
    assert_int_equal(f.foreign.lookups, 0);

    f.recheck = true;
    run(&f, ids);
    gid_t moved = org(&f, ID_A)->gid;
    assert_int_not_equal(moved, old);
    assert_true(moved >= 2000200001u && moved <= 2000200100u);
    assert_string_equal(org(&f, ID_A)->group, name);
    assert_true(mk_storefile_is_retired(&f.s, old));
    num(old_text, old);
    num(new_text, moved);
    int at = note_with(&f, name, "ad-video", new_text);
    assert_true(at >= 0);
    assert_non_null(strstr(f.notes.v[at].text, old_text));
    assert_int_equal(f.notes.v[at].priority, 4);

    /* The source lets go of it: the old gid is never given again. */
    reload(&f);
    f.foreign.n = 0;
    /* 100 organizations over the 99 gids left: one gets none, none gets old. */
    static char fill[98][32];
    const char *all[101];
    add_org(&f, "org-b", "B");
    all[0] = ID_A;
    all[1] = "org-b";
    for (int i = 0; i < 98; i++) {
        snprintf(fill[i], sizeof(fill[i]), "fill-%03d", i);
        add_org(&f, fill[i], NULL);
        all[i + 2] = fill[i];
    }
    all[100] = NULL;
    run(&f, all);
    (void)both;
    size_t with_group = 0;
    for (size_t i = 0; i < f.s.org_count; i++) {
        assert_int_not_equal(f.s.orgs[i].gid, old);
        with_group += f.s.orgs[i].group != NULL;
    }
    assert_int_equal(with_group, 99);
    assert_int_equal(f.org_status, MK_ERR_USAGE);
    fx_free(&f);
}

/* /etc/group gains a derived group's gid: a recheck moves it too. */
static void test_local_gid_taken_later_moves(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct fx f;
    gid_t old;
    (void)state;

    fx_init(&f, NULL);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    old = org(&f, ID_A)->gid;
    reload(&f);
    local_group(&f, "latecomer", old);
    f.recheck = true;
    run(&f, ids);
    assert_int_not_equal(org(&f, ID_A)->gid, old);
    assert_true(mk_storefile_is_retired(&f.s, old));
    assert_true(note_with(&f, ID_A, "/etc/group", "moves to gid") >= 0);
    fx_free(&f);
}

/* An applied pin that another source takes later is withdrawn on a recheck
 * (warning naming the other group; the gid is not retired) and applied
 * again once the clash is gone. */
static void test_oracle_pin_withdrawn_and_back(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    struct fx f;
    (void)state;

    fx_init(&f, "pin = " ID_A " media-ops 2000200100\n");
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    assert_string_equal(org(&f, ID_A)->group, "media-ops");
    reload(&f);
    f.use_oracle = true;
    f.recheck = true;
    foreign_add(&f.foreign, "ad-video", 2000200100u);
    run(&f, ids);
    assert_null(org(&f, ID_A)->group);
    assert_false(mk_storefile_is_retired(&f.s, 2000200100u));
    assert_true(note_with(&f, "media-ops", "withdrawn", "ad-video") >= 0);
    reload(&f);
    f.foreign.n = 0;
    run(&f, ids);
    assert_string_equal(org(&f, ID_A)->group, "media-ops");
    assert_int_equal(org(&f, ID_A)->gid, 2000200100u);
    fx_free(&f);
}

/* Lookups that fail: a new organization gets no group after a bounded
 * number of tries (with the first failure as its error), an existing one
 * is never moved by a failure. */
static void test_oracle_failing(void **state)
{
    static const char *const ids[] = { ID_A, NULL };
    static const char *const both[] = { ID_A, "org-b", NULL };
    struct fx f;
    (void)state;

    fx_init(&f, NULL);
    add_org(&f, ID_A, "Acme");
    run(&f, ids);
    gid_t gid = org(&f, ID_A)->gid;
    reload(&f);
    f.use_oracle = true;
    f.recheck = true;
    f.foreign.fail = -5;   /* EIO */
    add_org(&f, "org-b", "B");
    run(&f, both);
    assert_int_equal(org(&f, ID_A)->gid, gid);
    assert_null(org(&f, "org-b")->group);
    assert_int_equal(f.org_status, MK_ERR_USAGE);
    assert_true(f.foreign.lookups <= 2 * MK_POLICY_ORACLE_SKIPS + 4);
    assert_true(note_with(&f, "org-b", "could not be checked", NULL) >= 0);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derived_name_shape),
        cmocka_unit_test(test_derived_name_any_display),
        cmocka_unit_test(test_name_taken_by_local_group),
        cmocka_unit_test(test_name_taken_by_another_org),
        cmocka_unit_test(test_name_numbered_when_fragments_taken),
        cmocka_unit_test(test_name_taken_by_pin),
        cmocka_unit_test(test_gid_same_on_every_run),
        cmocka_unit_test(test_gid_taken_goes_to_next),
        cmocka_unit_test(test_gid_probe_wraps),
        cmocka_unit_test(test_pin_applies_exactly),
        cmocka_unit_test(test_pin_blocked),
        cmocka_unit_test(test_pin_removed_retires_gid),
        cmocka_unit_test(test_assignment_kept_for_good),
        cmocka_unit_test(test_gid_range_exhausted),
        cmocka_unit_test(test_org_id_valid),
        cmocka_unit_test(test_check_config),
        cmocka_unit_test(test_drop_unfit),
        cmocka_unit_test(test_org_active),
        cmocka_unit_test(test_local_groups),
        cmocka_unit_test(test_oracle_gid_skipped),
        cmocka_unit_test(test_oracle_name_skipped),
        cmocka_unit_test(test_oracle_pin_refused),
        cmocka_unit_test(test_oracle_own_entry_not_counted),
        cmocka_unit_test(test_oracle_taken_later_moves),
        cmocka_unit_test(test_local_gid_taken_later_moves),
        cmocka_unit_test(test_oracle_pin_withdrawn_and_back),
        cmocka_unit_test(test_oracle_failing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
