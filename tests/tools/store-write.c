/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tests/tools/store-write.c: drives the membership store for the crash and
 * scale tests, through the real entry points (mk_store_set_user,
 * mk_store_read) and nothing else.
 *
 *   store-write [--pin ORG_ID NAME GID]... set STATE_DIR ETC_GROUP GID_MIN GID_MAX USER
 *               [ORG_ID[=NAME]...]
 *       sets USER's organizations (group_prefix "mk-", the pins given); exit
 *       0, or the error on stderr and exit 1. The store's warnings go to
 *       stderr, one line each, "store-write: warning: ...".
 *   store-write [--pin ORG_ID NAME GID]... publish STATE_DIR ETC_GROUP GID_MIN GID_MAX
 *       mk_store_publish: groups.db compiled again, every published group
 *       checked again against the other group sources.
 *   store-write read STATE_DIR ETC_GROUP GID_MIN GID_MAX
 *       loads the store as `mkio-orgs status` does; prints "org ID GROUP GID"
 *       for every group of the view; exit 1 when it cannot be loaded.
 *   store-write dump-db FILE
 *       prints "group NAME GID" for every group of a compiled group file
 *       (validated whole); exit 1 when it is not valid.
 *
 * The crash test (tests/integration/test_store_crash.py) runs `set` under
 * strace, killing it at every step, and checks invariant 3 with `read` and
 * `dump-db`.
 */
#include "groupfile/reader.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void)
{
    fprintf(stderr, "usage: store-write [--pin ORG_ID NAME GID]... set STATE_DIR ETC_GROUP "
            "GID_MIN GID_MAX USER [ORG_ID[=NAME]...]\n"
            "       store-write [--pin ORG_ID NAME GID]... publish STATE_DIR ETC_GROUP GID_MIN "
            "GID_MAX\n"
            "       store-write read STATE_DIR ETC_GROUP GID_MIN GID_MAX\n"
            "       store-write dump-db FILE\n");
    return 2;
}

static int dump_db(const char *path)
{
    struct mkgf_view view;
    struct stat st;
    void *map;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        fprintf(stderr, "store-write: cannot read %s: %s\n", path, strerror(errno));
        return 1;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED || mkgf_validate(map, (size_t)st.st_size, &view) != 0) {
        fprintf(stderr, "store-write: %s is not a valid group file\n", path);
        return 1;
    }
    for (uint32_t i = 0; i < view.group_count; i++) {
        struct mkgf_group g;
        if (mkgf_group_at(&view, i, &g) != 0)
            return 1;
        printf("group %s %u\n", g.name, (unsigned)g.gid);
    }
    munmap(map, (size_t)st.st_size);
    return 0;
}

static void to_stderr(void *ctx, int priority, const char *message)
{
    fprintf(stderr, "store-write: %s: %s\n", priority <= 3 ? "error" : priority == 4 ? "warning"
                                                                  : "notice", message);
}

int main(int argc, char **argv)
{
    static struct mk_pin pins[8];
    static const struct mk_log_sink sink = { to_stderr, NULL };
    struct mk_config cfg = { 0 };
    struct mk_store_env env = { 0 };   /* production, but for the group file */
    mk_error err;
    mk_status st;

    while (argc >= 5 && strcmp(argv[1], "--pin") == 0) {
        if (cfg.pin_count == sizeof(pins) / sizeof(pins[0]))
            return usage();
        pins[cfg.pin_count].org_id = argv[2];
        pins[cfg.pin_count].group_name = argv[3];
        pins[cfg.pin_count].gid = (gid_t)strtoul(argv[4], NULL, 10);
        cfg.pin_count++;
        argv += 4;
        argc -= 4;
    }
    cfg.pins = pins;
    if (argc == 3 && strcmp(argv[1], "dump-db") == 0)
        return dump_db(argv[2]);
    if (argc < 6)
        return usage();
    cfg.state_dir = argv[2];
    cfg.group_prefix = "mk-";
    cfg.gid_min = (gid_t)strtoul(argv[4], NULL, 10);
    cfg.gid_max = (gid_t)strtoul(argv[5], NULL, 10);
    env.etc_group = argv[3];

    if (strcmp(argv[1], "read") == 0 && argc == 6) {
        struct mk_store_view view;
        if (mk_store_read(&cfg, &env, &view, &err) != MK_OK) {
            fprintf(stderr, "store-write: %s\n", err.message);
            return 1;
        }
        for (size_t i = 0; i < view.group_count; i++)
            printf("org %s %s %u\n", view.groups[i].org_id, view.groups[i].group_name,
                   (unsigned)view.groups[i].gid);
        mk_store_view_free(&view);
        return 0;
    }
    if (strcmp(argv[1], "publish") == 0 && argc == 6) {
        if (mk_store_publish(&cfg, &env, 5000, &sink, &err) != MK_OK) {
            fprintf(stderr, "store-write: %s\n", err.message);
            return 1;
        }
        return 0;
    }
    if (strcmp(argv[1], "set") != 0 || argc < 7)
        return usage();

    size_t n = (size_t)argc - 7;
    struct mk_membership *m = calloc(n ? n : 1, sizeof(*m));
    if (!m)
        return 1;
    for (size_t i = 0; i < n; i++) {
        char *arg = argv[7 + i], *eq = strchr(arg, '=');
        if (eq)
            *eq = '\0';
        m[i].org_id = arg;
        m[i].org_name = eq ? eq + 1 : NULL;
    }
    st = mk_store_set_user(&cfg, &env, argv[6], m, n, 5000, &sink, &err);
    free(m);
    if (st != MK_OK) {
        fprintf(stderr, "store-write: %s\n", err.message);
        return 1;
    }
    return 0;
}
