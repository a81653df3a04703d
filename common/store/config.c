/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config.c: /etc/mkio/mkio.conf into struct mk_config: the
 * reader's entry points (store/config.h) for a file and the environment,
 * and the questions the other parts ask of a configuration.
 *
 * The reader is libc alone. Its other files: config_fields.c (the key
 * table, defaults, copy, free and the checks), config_values.c (the syntax
 * of one value), config_parse.c (the text, line by line).
 */
#include "store/config.h"
#include "store/config_pins.h"
#include "store/config_fields.h"
#include "store/config_values.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <limits.h>

#include "base/fileio.h"
#include "base/trust.h"
#include "base/text.h"

#define CONFIG_MAX_FILE_BYTES (1024 * 1024)

/* ---- files and environment ---------------------------------------------- */

/* Reads the rest of fd (of path) into a NUL-terminated *text: at most
 * CONFIG_MAX_FILE_BYTES, and text (no NUL byte). */
static mk_status config_read_fd(int fd, const char *path, char **text, mk_error *err)
{
    char *buf = NULL;
    size_t used = 0;
    mk_status st = MK_OK;

    int r = mk_fileio_read_all(fd, CONFIG_MAX_FILE_BYTES, &buf, &used);
    if (r == -EFBIG)
        st = mk_error_set(err, MK_ERR_USAGE, "%s: is larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
    else if (r == -ENOMEM)
        st = mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", path);
    else if (r < 0)
        st = mk_error_set(err, MK_ERR_IO, "%s: cannot read: %s", path, strerror(-r));
    else if (memchr(buf, '\0', used))
        st = mk_error_set(err, MK_ERR_USAGE, "%s: holds a NUL byte (a text file is expected)", path);
    if (st == MK_OK) {
        *text = buf;
        buf = NULL;
    }
    free(buf);
    return st;
}

/* Reads the whole file into a NUL-terminated buffer after the ownership and
 * mode checks; symlinks are followed on purpose (config management often
 * links /etc/mkio/mkio.conf), and the checks apply to the file reached. */
static mk_status config_read_file(const char *path, bool missing_ok, char **text, bool *missing,
                                  mk_error *err)
{
    int fd = -1;
    mk_status st = MK_OK;
    struct stat sb;

    *text = NULL;
    *missing = false;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok) {
            *missing = true;
            goto out;
        }
        if (errno == ENOENT)
            st = mk_error_set(err, MK_ERR_IO, "%s: no such file (give an existing configuration file)", path);
        else
            st = mk_error_set(err, MK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &sb) < 0) {
        st = mk_error_set(err, MK_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto out;
    }
    /* Root believes only a file root owns; anyone else reads its own. */
    unsigned problems = mk_trust_problems(&sb, S_IFREG, geteuid() == 0 ? 0 : (uid_t)-1,
                                          S_IWGRP | S_IWOTH);
    if (problems & MK_TRUST_KIND) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s: is not a regular file (the configuration must be a "
                          "regular file)", path);
        goto out;
    }
    if (problems & MK_TRUST_MODE) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s: is writable by group or others (mode %04o); "
                          "refused (make it 0644 or stricter)", path, (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    if (problems & MK_TRUST_OWNER) {
        st = mk_error_set(err, MK_ERR_USAGE, "%s: is owned by uid %lu, not root; refused (it must be "
                          "owned by root)", path, (unsigned long)sb.st_uid);
        goto out;
    }
    st = config_read_fd(fd, path, text, err);
out:
    if (fd >= 0)
        close(fd);
    return st;
}

/* ---- drop-ins ----------------------------------------------------------- */

/* Whether a directory entry is a drop-in: NAME.conf, NAME not empty and not
 * starting with '.' (editors' and dpkg's leftovers are not). */
static bool config_dropin_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".conf") == 0;
}

static int config_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The drop-in names of the open directory dfd (path for messages), sorted
 * by strcmp (the C locale's order, whatever LC_COLLATE says). */
static mk_status config_dropin_list(int dfd, const char *path, char ***names, size_t *count,
                                    mk_error *err)
{
    mk_status st = MK_OK;
    int copy = dup(dfd);
    DIR *dir = copy >= 0 ? fdopendir(copy) : NULL;
    *names = NULL;
    *count = 0;
    if (!dir) {
        if (copy >= 0)
            close(copy);
        return mk_error_set(err, MK_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (!config_dropin_name(e->d_name))
            continue;
        if (!config_list_add(names, count, e->d_name)) {
            st = mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
    }
    closedir(dir);
    if (*count > 1)
        qsort(*names, *count, sizeof(**names), config_name_cmp);
    return st;
}

/* Applies the drop-ins beside file (MK_CONFIG_DROPIN_DIR in its directory)
 * on top of cfg, in order, each trusted as base/trust.h says. */
static mk_status config_load_dropins(const char *file, const struct mk_config_url_rules *rules,
                                     struct mk_config *cfg, mk_error *err)
{
    static const struct mk_trust_dir what = {
        .what = "the configuration's drop-in directory",
        .link_fix = "make it a directory, not a symbolic link",
    };
    char dirpath[PATH_MAX], path[PATH_MAX];
    char **names = NULL;
    size_t count = 0;
    int dfd = -1;
    const char *slash = strrchr(file, '/');
    int dirlen = slash ? (int)(slash - file) : 1;
    mk_status st;

    if (snprintf(dirpath, sizeof(dirpath), "%.*s/%s", dirlen, slash ? file : ".",
                 MK_CONFIG_DROPIN_DIR) >= (int)sizeof(dirpath))
        return mk_error_set(err, MK_ERR_USAGE, "%s: path too long", file);
    st = mk_trust_open_dir(dirpath, &what, false, &dfd, err);
    if (st != MK_OK || dfd < 0)
        goto out;
    st = config_dropin_list(dfd, dirpath, &names, &count, err);
    for (size_t i = 0; st == MK_OK && i < count; i++) {
        char *text = NULL;
        int fd = -1;
        if (snprintf(path, sizeof(path), "%s/%s", dirpath, names[i]) >= (int)sizeof(path)) {
            st = mk_error_set(err, MK_ERR_USAGE, "%s/%s: path too long", dirpath, names[i]);
            break;
        }
        st = mk_trust_openat(dfd, names[i], path, O_RDONLY, &fd, err);
        if (st == MK_OK && fd < 0)
            continue; /* gone since the listing */
        if (st == MK_OK)
            st = config_read_fd(fd, path, &text, err);
        if (fd >= 0)
            close(fd);
        /* The merged result keeps the main file as its source. */
        char *source = NULL;
        if (st == MK_OK && !config_strdup(&source, cfg->source))
            st = mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", path);
        if (st == MK_OK)
            st = mk_config_parse_string_with(text, path, rules, cfg, err);
        if (st == MK_OK) {
            free(cfg->source);
            cfg->source = source;
            source = NULL;
            if (!config_dropin_add(cfg, path))
                st = mk_error_set(err, MK_ERR_NOMEM, "%s: out of memory", path);
        }
        free(source);
        free(text);
    }
out:
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (dfd >= 0)
        close(dfd);
    /* A drop-in that may not be believed is a configuration error, as a
     * main file that may not be. */
    if (st == MK_ERR_IO && err)
        err->status = MK_ERR_USAGE;
    return st == MK_ERR_IO ? MK_ERR_USAGE : st;
}

mk_status mk_config_load(const char *path, struct mk_config *cfg, mk_error *err)
{
    return mk_config_load_with(path, NULL, cfg, err);
}

mk_status mk_config_load_with(const char *path, const struct mk_config_url_rules *rules,
                              struct mk_config *cfg, mk_error *err)
{
    char *text = NULL;
    bool missing = false;
    const char *file = path ? path : MK_CONFIG_DEFAULT_PATH;

    mk_status st = mk_config_defaults(cfg, err);
    if (st != MK_OK)
        return st;
    st = config_read_file(file, path == NULL, &text, &missing, err);
    if (st != MK_OK)
        goto out;
    if (!missing)
        st = mk_config_parse_string_with(text, file, rules, cfg, err);
    if (st == MK_OK)
        st = config_load_dropins(file, rules, cfg, err);
    if (st != MK_OK || !cfg->ids_file)
        goto out;
    /* The fleet's pins, with the same checks as the configuration itself
     * (root's file, not writable by group or others). */
    free(text);
    text = NULL;
    st = config_read_file(cfg->ids_file, false, &text, &missing, err);
    if (st == MK_OK)
        st = mk_config_parse_ids_string(text, cfg->ids_file, cfg, err);
    if (st != MK_OK)
        mk_error_prefix(err, "%s: ids_file", file);
out:
    free(text);
    if (st != MK_OK)
        mk_config_free(cfg);
    return st;
}

mk_status mk_config_apply_env(struct mk_config *cfg, const struct mk_config_url_rules *rules,
                              mk_error *err)
{
    mk_error url_err;
    /* secure_getenv: a setuid caller never takes its server from the user. */
    const char *url = secure_getenv("MKIO_BASE_URL");

    if (!url || !*url)
        return MK_OK;
    if (geteuid() == 0)
        return mk_error_set(err, MK_ERR_USAGE,
                            "MKIO_BASE_URL is set, and root takes its server only from its "
                            "configuration file: set base_url in %s and unset MKIO_BASE_URL",
                            cfg->source && strcmp(cfg->source, CONFIG_SOURCE_DEFAULTS) != 0
                            ? cfg->source : MK_CONFIG_DEFAULT_PATH);
    if ((rules ? rules : &mk_config_url_syntax)->base_url(url, &url_err) != MK_OK)
        return mk_error_set(err, MK_ERR_USAGE, "MKIO_BASE_URL: %s", url_err.message);
    if (!config_set_base_url(cfg, url) || !config_strdup(&cfg->base_url_origin, "MKIO_BASE_URL"))
        return mk_error_set(err, MK_ERR_NOMEM, "MKIO_BASE_URL: out of memory");
    return MK_OK;
}

/* ---- questions the other parts ask -------------------------------------- */

bool mk_config_user_ignored(const struct mk_config *cfg, const char *user, uid_t uid)
{
    if (!user || uid < cfg->min_uid)
        return true;
    return config_list_contains(cfg->ignore_users, cfg->ignore_user_count, user);
}

bool mk_config_invite_allowed(const struct mk_config *cfg, const char *org_id,
                              const char *inviter_email, const char **why)
{
    const char *reason = NULL;
    char id[MK_ORG_ID_MAX + 1];

    if (!cfg->accept_invites) {
        reason = "invite acceptance is turned off";
    } else if (!org_id || !*org_id) {
        reason = "the invite names no organization";
    } else if (!mk_org_id_canonical(org_id, id)) {
        reason = "the invite's organization id is not one (letters, digits and '-')";
    } else if (cfg->accept_org_count > 0 &&
               !config_list_contains(cfg->accept_orgs, cfg->accept_org_count, id)) {
        reason = "the organization is not in accept_orgs";
    } else if (cfg->accept_inviter_domain_count > 0) {
        const char *at = inviter_email ? strrchr(inviter_email, '@') : NULL;
        bool listed = false;
        for (size_t i = 0; at && i < cfg->accept_inviter_domain_count; i++)
            listed = listed || mk_ascii_case_equal(cfg->accept_inviter_domains[i], at + 1);
        if (!at || !at[1])
            reason = "the inviter's email is unknown and accept_inviter_domains is set";
        else if (!listed)
            reason = "the inviter's email domain is not in accept_inviter_domains";
    }
    if (why)
        *why = reason;
    return reason == NULL;
}

bool mk_config_pin_from_ids(const struct mk_config *cfg, const struct mk_pin *pin)
{
    size_t i = (size_t)(pin - cfg->pins);
    return pin >= cfg->pins && i >= cfg->ids_pins_from && i < cfg->ids_pins_to;
}

bool mk_config_gid_retired(const struct mk_config *cfg, gid_t gid)
{
    char word[16];
    snprintf(word, sizeof(word), "%lu", (unsigned long)gid);
    return config_list_contains(cfg->retired, cfg->retired_count, word);
}

const struct mk_pin *mk_config_pin_for(const struct mk_config *cfg, const char *org_id)
{
    char id[MK_ORG_ID_MAX + 1];

    if (!mk_org_id_canonical(org_id, id))
        return NULL;
    if (cfg->pin_index) {
        ssize_t at = config_pin_index_find(cfg->pin_index, cfg->pins, id);
        return at >= 0 ? &cfg->pins[at] : NULL;
    }
    for (size_t i = 0; i < cfg->pin_count; i++)
        if (strcmp(cfg->pins[i].org_id, id) == 0)
            return &cfg->pins[i];
    return NULL;
}
