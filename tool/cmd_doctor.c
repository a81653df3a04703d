/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkio-orgs doctor: checks a host's set-up, one line per check (issue 10,
 * item 7). Root or not: what a check could not look at, and why, is in its
 * detail. System paths are fixed (a root tool never takes them from the
 * environment); tests run it in a private mount namespace with bind mounts
 * over them. The checks are here, in their order; the report they add to
 * is tool/doctor.c, the tls and token checks tool/doctor_token.c, the
 * gid-map check tool/doctor_gidmap.c, and the
 * files they read are parsed by tool/nsswitch.c, tool/pamstack.c and
 * tool/pem.c. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "groupfile/reader.h"
#include "store/nscd.h"
#include "store/store.h"
#include "net/token.h"
#include "tool/cmd_doctor.h"
#include "tool/doctor.h"
#include "tool/doctor_gidmap.h"
#include "tool/doctor_token.h"
#include "tool/nsswitch.h"
#include "tool/pamstack.h"
#include "tool/pem.h"
#include "tool/util.h"
#include "tool/verbosity.h"
#include "store/userstate.h"

#define DOCTOR_NSSWITCH "/etc/nsswitch.conf"
#define DOCTOR_MAX_TEXT_FILE (1u << 20)
#define DOCTOR_MAX_CA_FILE (16u << 20)

static const char doctor_help[] =
"Usage: mkio-orgs doctor [--json]\n"
"\n"
"Check how this host is set up for MK.IO organization groups, and say what to\n"
"fix. Each check prints one line, `ok`, `warn` or `fail`, then its name and a\n"
"short detail; a `hint:` line under each warning and failure says what to do,\n"
"naming the file or key. Run it as root to check everything; run by a user it\n"
"checks what that user can, and each line says what it could not check and why\n"
"(for example: not root, the token directory cannot be read). Nothing is\n"
"changed. The checks, in order:\n"
"\n"
"  config      the configuration (--config, else $MKIO_CONFIG, else\n"
"              /etc/mkio/mkio.conf) loads and is valid; a failure names\n"
"              FILE:LINE. The ok line says where the path and base_url came\n"
"              from and names the drop-ins read (mkio.conf.d/*.conf beside\n"
"              the file); a line under it for each key the files set:\n"
"              `key = value  (FILE:LINE)`. As root, MKIO_CONFIG and\n"
"              MKIO_BASE_URL are a failure.\n"
"              When it does not load, the checks below that need it say so,\n"
"              and the others use the built-in defaults.\n"
"  ca_file     when set: a readable regular file holding PEM certificates\n"
"              (-----BEGIN CERTIFICATE----- blocks); when empty the system's\n"
"              CA store is used.\n"
"  tls         one request to base_url (GET /api/v1/user/profile) within\n"
"              connect_timeout and time_budget: any HTTP answer means TLS\n"
"              verified; a certificate that does not verify names ca_file.\n"
"  token       as root: each token file under token_dir (one line per user),\n"
"              sent to GET /api/v1/user/profile; a token MK.IO refuses (401) is\n"
"              a failure whose hint is `mkio-orgs login --user USER`. As a user:\n"
"              your own token, found as every command finds it (--token-file,\n"
"              MKIO_TOKEN, ~/.config/mkio/token). An accepted token whose JWT\n"
"              exp is past, within token_warn_days, or malformed (before 1970\n"
"              or after 9999: taken as expired) is a warning.\n"
"  list-budget with a token MK.IO accepted: one timed GET of the first page of\n"
"              /api/v1/user/organizations; a warning when the pages that\n"
"              max_list_records takes at that rate exceed time_budget (a login\n"
"              with that many organizations would run out of time).\n"
"  nsswitch    /etc/nsswitch.conf names mkio on its group: line (comments,\n"
"              [STATUS=action] blocks and spacing understood; a\n"
"              [NOTFOUND=return] before mkio, or an initgroups: line without\n"
"              it, is a warning). With userdb_export = yes: systemd there\n"
"              (nss-systemd serves the records); mkio there too is a warning,\n"
"              since enumeration would list every group twice.\n"
"  gid-map     only in a user namespace (an unprivileged container): whether\n"
"              its gid map (/proc/self/gid_map) covers gid_range; a gid it does\n"
"              not map is left out of every login's groups. A warning proposes\n"
"              a gid_range that fits.\n"
"  pam-account pam_mkio.so is in the account stack: /etc/pam.d/common-account,\n"
"              following @include, include and substack lines; the detail\n"
"              names the files looked at.\n"
"  pam-session the same for the session stack (/etc/pam.d/common-session).\n"
"  groups.db   STATE_DIR/groups.db, the file the NSS module reads (it reads\n"
"              only " MK_GROUPFILE_DEFAULT_PATH "): exists, is a regular file\n"
"              owned by root, not writable by group or others, and verifies\n"
"              whole (as `mkio-orgs status --verify`).\n"
"  nscd        whether nscd (or unscd) answers on " MK_NSCD_SOCKET ". Running\n"
"              is no failure: its group cache is invalidated after each change.\n"
"  stale       users whose last successful refresh is older than max_stale: a\n"
"              warning per user, naming the last success and the last error.\n"
"\n"
"Options:\n"
"  --json      One JSON object: {\"schema\": 1, \"checks\": [{\"name\", \"result\",\n"
"              \"detail\", \"hint\"}...], \"ok\": true|false}; hint is null on an ok\n"
"              check (mkio-orgs(1), JSON OUTPUT).\n"
"  -h, --help  This help.\n"
"\n"
"Exit status: 0 when no check fails (warnings are not failures); 4 when some\n"
"check fails; 2 on a usage error.\n";

/* ---- config ---- */

/* The ok line says where each value came from: the file's path (--config,
 * MKIO_CONFIG or the default) and base_url (FILE line N, MKIO_BASE_URL or
 * the built-in default), so that a server nobody configured shows. */
/* The keys the files set, one line each after the first:
 * "key = value  (FILE:LINE)", in the order of mkio.conf(5); "" when the
 * defaults are all there is. The caller frees it (NULL on memory). */
static char *config_keys_text(const struct mk_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; cfg->dropins && i < cfg->dropin_count; i++)
        fprintf(f, "%sdrop-in %s", i ? ", " : "; ", cfg->dropins[i]);
    for (size_t k = 0; k < mk_config_key_count(); k++) {
        const char *where = mk_config_key_origin(cfg, k);
        char value[512];
        if (!where)
            continue;
        mk_config_key_value(cfg, k, value, sizeof(value));
        fprintf(f, "\n%s = %s  (%s)", mk_config_key_name(k), value, where);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void check_config_ok(struct doctor *d, const char *origin)
{
    const struct mk_config *cfg = &d->t->cfg;
    char from[PATH_MAX + 64];
    char *keys = config_keys_text(cfg);
    if (cfg->base_url_origin)
        snprintf(from, sizeof(from), "from %s", cfg->base_url_origin);
    else
        snprintf(from, sizeof(from), "the default");
    if (cfg->source && strcmp(cfg->source, "(defaults)") == 0)
        doctor_add(d, DOCTOR_OK, "config", NULL,
                   "no %s: the built-in defaults are used (path from %s; base_url %s, %s)%s",
                   d->config_name, origin, cfg->base_url, from, keys ? keys : "");
    else
        doctor_add(d, DOCTOR_OK, "config", NULL, "%s is valid (path from %s; base_url %s, %s)%s",
                   cfg->source ? cfg->source : d->config_name, origin, cfg->base_url, from,
                   keys ? keys : "");
    free(keys);
}

static void check_config(struct doctor *d)
{
    struct tool *t = d->t;
    mk_error err;
    mk_error_clear(&err);
    const char *path = NULL, *origin = NULL;
    bool chosen = tool_config_choose(t, &path, &origin, &err) == MK_OK;
    d->config_name = path ? path : MK_CONFIG_DEFAULT_PATH;
    bool file_ok = chosen && mk_config_load_with(path, &mk_url_rules, &t->cfg, &err) == MK_OK;
    if (file_ok && mk_config_apply_env(&t->cfg, &mk_url_rules, &err) == MK_OK) {
        t->cfg_loaded = true;
        d->config_ok = true;
        check_config_ok(d, origin);
        return;
    }
    mk_config_free(&t->cfg);
    char *hint = !chosen
        ? doctor_hint("unset MKIO_CONFIG, and pass --config FILE to check another file than "
                      "%s; the checks that need the configuration are not made",
                      MK_CONFIG_DEFAULT_PATH)
        : file_ok && d->root
        ? doctor_hint("unset MKIO_BASE_URL, and set base_url in %s; the checks that need the "
                      "configuration are not made", d->config_name)
        : file_ok
        ? doctor_hint("fix or unset MKIO_BASE_URL in the environment; the checks that need "
                      "the configuration are not made")
        : doctor_hint("fix the place named above in %s (`man 5 mkio.conf` documents every key; "
                      "the file must be root's and not writable by group or others); the "
                      "checks that need the configuration are not made",
                      /* A drop-in's problem names the drop-in. */
                      strstr(err.message, "/" MK_CONFIG_DROPIN_DIR "/") ? "the drop-in"
                      : d->config_name);
    doctor_add(d, DOCTOR_FAIL, "config", hint, "%s", err.message);
    free(hint);
    /* The system checks go on with the defaults. */
    mk_error_clear(&err);
    if (mk_config_defaults(&t->cfg, &err) == MK_OK)
        t->cfg_loaded = true;
}

/* ---- ca_file ---- */

static void check_ca_file(struct doctor *d)
{
    const struct mk_config *cfg = &d->t->cfg;
    if (!doctor_need_config(d, "ca_file"))
        return;
    if (!cfg->ca_file || !*cfg->ca_file) {
        doctor_add(d, DOCTOR_OK, "ca_file", NULL, "not set: the system's CA store is used");
        return;
    }
    char *text = NULL, *hint = NULL;
    size_t len = 0;
    int r = tool_read_file(cfg->ca_file, DOCTOR_MAX_CA_FILE, true, &text, &len);
    if (r == -EACCES && !d->root) {
        hint = doctor_hint("run `mkio-orgs doctor` as root to check it; mkio-orgs run by you "
                           "cannot use it either");
        doctor_add(d, DOCTOR_WARN, "ca_file", hint,
                   "not checked: %s cannot be read as uid %lu (not root)", cfg->ca_file,
                   (unsigned long)getuid());
        goto out;
    }
    hint = doctor_hint("set ca_file in %s to a PEM file holding the CA that signed the "
                       "certificate of base_url, or leave it empty to use the system's CA store",
                       cfg->source);
    if (r == -ENOENT) {
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint, "%s does not exist", cfg->ca_file);
        goto out;
    }
    if (r < 0) {
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint, "%s cannot be read: %s", cfg->ca_file,
                   r == -EISDIR ? "it is a directory" : r == -EINVAL ? "not a regular file"
                   : r == -EFBIG ? "larger than 16 MiB" : strerror(-r));
        goto out;
    }
    if (len == 0) {
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint, "%s is empty", cfg->ca_file);
        goto out;
    }
    if (memchr(text, '\0', len)) {
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint,
                   "%s is not PEM text (it holds NUL bytes: DER? convert it with `openssl x509 "
                   "-inform der`)", cfg->ca_file);
        goto out;
    }
    bool bad = false;
    size_t n = pem_count_certificates(text, &bad);
    if (bad)
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint,
                   "%s holds a damaged PEM certificate block (after %zu good)", cfg->ca_file, n);
    else if (n == 0)
        doctor_add(d, DOCTOR_FAIL, "ca_file", hint,
                   "%s holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)",
                   cfg->ca_file);
    else
        doctor_add(d, DOCTOR_OK, "ca_file", NULL, "%s holds %zu PEM certificate%s", cfg->ca_file,
                   n, n == 1 ? "" : "s");
out:
    free(hint);
    free(text);
}

/* ---- nsswitch.conf ---- */

/* With userdb_export, the groups reach NSS through nss-systemd (the
 * records in /run/userdb): systemd on the group: line is what counts, and
 * mkio there too answers every group a second time (enumeration lists each
 * twice), so exactly one of them should. */
static void check_nsswitch_userdb(struct doctor *d, const char *path,
                                  const struct nsswitch_db *group)
{
    char *hint = NULL;

    if (group->has_mkio && group->has_systemd) {
        hint = doctor_hint("use one: remove mkio from the group: line of %s (line %d), or set "
                           "userdb_export = no", path, group->line);
        doctor_add(d, DOCTOR_WARN, "nsswitch", hint, "both the NSS module (mkio on the group: "
                   "line of %s, line %d) and userdb_export (systemd there) answer: enumeration "
                   "lists every group twice", path, group->line);
    } else if (group->has_systemd) {
        doctor_add(d, DOCTOR_OK, "nsswitch", NULL, "the group: line of %s (line %d) names "
                   "systemd, which serves userdb_export's records", path, group->line);
    } else if (group->has_mkio) {
        hint = doctor_hint("set userdb_export = no (the NSS module serves the groups), or put "
                           "systemd in place of mkio on the group: line of %s (line %d)",
                           path, group->line);
        doctor_add(d, DOCTOR_WARN, "nsswitch", hint, "userdb_export is set, but the group: line "
                   "of %s (line %d) names mkio, not systemd: only programs that read "
                   "/run/userdb themselves see the records", path, group->line);
    } else {
        hint = doctor_hint("add systemd to the group: line of %s, for example `group: files "
                           "systemd`", path);
        doctor_add(d, DOCTOR_FAIL, "nsswitch", hint, "userdb_export is set, but the group: line "
                   "of %s names neither systemd nor mkio: no mkio group is seen", path);
    }
    free(hint);
}

static void check_nsswitch(struct doctor *d)
{
    const char *path = DOCTOR_NSSWITCH;
    char *text = NULL, *hint = NULL;
    size_t len = 0;
    struct nsswitch_lines lines = { 0 };
    const struct nsswitch_db *group = &lines.group, *initgroups = &lines.initgroups;
    int r = tool_read_file(path, DOCTOR_MAX_TEXT_FILE, true, &text, &len);
    if (r < 0) {
        hint = doctor_hint("create %s with the line `group: files mkio`", path);
        doctor_add(d, r == -EACCES && !d->root ? DOCTOR_WARN : DOCTOR_FAIL, "nsswitch", hint,
                   "%s cannot be read: %s%s", path, strerror(-r),
                   r == -EACCES && !d->root ? " (not root)" : "");
        goto out;
    }
    nsswitch_parse(text, &lines);
    if (d->t->cfg.userdb_export && group->line) {
        check_nsswitch_userdb(d, path, group);
    } else if (!group->line) {
        hint = doctor_hint("add the line `group: files mkio` to %s", path);
        doctor_add(d, DOCTOR_FAIL, "nsswitch", hint,
                   "%s has no group: line (glibc then uses files only): no mkio group is seen",
                   path);
    } else if (!group->has_mkio) {
        hint = doctor_hint("add mkio to the group: line of %s (line %d), for example "
                           "`group: files mkio`", path, group->line);
        doctor_add(d, DOCTOR_FAIL, "nsswitch", hint,
                   "the group: line of %s (line %d) does not name mkio: no mkio group is seen",
                   path, group->line);
    } else if (group->stops_before) {
        hint = doctor_hint("remove the [NOTFOUND=return] before mkio on line %d of %s, or "
                           "move mkio before it", group->line, path);
        doctor_add(d, DOCTOR_WARN, "nsswitch", hint, "the group: line of %s (line %d) names "
                   "mkio, but a [NOTFOUND=return] before it ends lookups first", path,
                   group->line);
    } else if (initgroups->line && !initgroups->has_mkio) {
        hint = doctor_hint("add mkio to the initgroups: line of %s (line %d), or remove that "
                           "line", path, initgroups->line);
        doctor_add(d, DOCTOR_WARN, "nsswitch", hint, "the group: line of %s names mkio, but "
                   "its initgroups: line (line %d) does not: id and logins miss mkio groups",
                   path, initgroups->line);
    } else if (lines.group_lines > 1) {
        hint = doctor_hint("keep one group: line in %s", path);
        doctor_add(d, DOCTOR_WARN, "nsswitch", hint, "%s has %d group: lines; the first (line "
                   "%d) names mkio", path, lines.group_lines, group->line);
    } else {
        doctor_add(d, DOCTOR_OK, "nsswitch", NULL, "the group: line of %s (line %d) names mkio",
                   path, group->line);
    }
out:
    free(hint);
    free(text);
}

/* ---- PAM ---- */

/* pam_mkio.so in the stack of type: Debian's common-TYPE (what
 * pam-auth-update writes), and each login service (login_services) that has
 * a file in /etc/pam.d must reach it. */
static void check_pam(struct doctor *d, const char *type)
{
    const struct mk_config *cfg = &d->t->cfg;
    struct pamstack_search *s = calloc(1, sizeof(*s));
    char name[64], start[64], reached[1024] = "", unreached[1024] = "";
    char *hint = NULL;
    snprintf(name, sizeof(name), "pam-%s", type);
    if (!s) {
        doctor_add(d, DOCTOR_FAIL, name, "run `mkio-orgs doctor` again", "out of memory");
        return;
    }
    snprintf(start, sizeof(start), "common-%s", type);
    pamstack_search(s, type, start);
    bool common_missing = strcmp(s->missing, s->visited[0]) == 0;
    pamstack_services(type, cfg->login_services, cfg->login_service_count, reached, unreached,
                      sizeof(reached));
    if (s->found_in[0] && !unreached[0]) {
        doctor_add(d, DOCTOR_OK, name, NULL, "pam_mkio.so is in the %s stack, in %s (looked at: "
                   "%s)%s%s", type, s->found_in, s->looked, reached[0] ? "; reached from " : "",
                   reached);
    } else if (s->found_in[0]) {
        hint = doctor_hint("add `@include %s` (or the line `%s optional pam_mkio.so`) to the "
                           "file in %s of each of: %s", start, type, PAMSTACK_DIR, unreached);
        doctor_add(d, DOCTOR_WARN, name, hint, "pam_mkio.so is in %s, but the %s stack of these "
                   "login services does not reach it: %s", s->found_in, type, unreached);
    } else if (common_missing && reached[0] && !unreached[0]) {
        doctor_add(d, DOCTOR_OK, name, NULL, "no %s; pam_mkio.so is in the %s stack of every "
                   "login service with a file in %s: %s", s->missing, type, PAMSTACK_DIR,
                   reached);
    } else if (common_missing) {
        hint = doctor_hint("on Debian, run `pam-auth-update --enable mkio`; elsewhere add "
                           "`%s optional pam_mkio.so` to the %s stack of each login service "
                           "in %s (see `man 8 pam_mkio`)", type, type, PAMSTACK_DIR);
        doctor_add(d, DOCTOR_FAIL, name, hint, "%s cannot be read (%s)%s%s", s->missing,
                   strerror(s->missing_errno), unreached[0] ? "; login services without "
                   "pam_mkio.so: " : "", unreached);
    } else {
        hint = doctor_hint("run `pam-auth-update --enable mkio`, or add the line `%s optional "
                           "pam_mkio.so` to %s/%s (see `man 8 pam_mkio`)", type, PAMSTACK_DIR,
                           start);
        doctor_add(d, DOCTOR_FAIL, name, hint, "no pam_mkio.so line in the %s stack (looked "
                   "at: %s%s%s)", type, s->looked, s->missing[0] ? "; could not read " : "",
                   s->missing);
    }
    free(hint);
    free(s);
}

/* ---- groups.db ---- */

static void check_groups_db(struct doctor *d)
{
    const struct mk_config *cfg = &d->t->cfg;
    char path[PATH_MAX], note[PATH_MAX + 128] = "";
    char *hint = NULL;
    struct stat sb;
    if (snprintf(path, sizeof(path), "%s/groups.db", cfg->state_dir) >= (int)sizeof(path)) {
        doctor_add(d, DOCTOR_FAIL, "groups.db", "set a shorter state_dir",
                   "the state directory's path is too long");
        return;
    }
    bool elsewhere = strcmp(path, MK_GROUPFILE_DEFAULT_PATH) != 0;
    if (elsewhere)
        snprintf(note, sizeof(note), "; but the NSS module reads only %s (state_dir is %s)",
                 MK_GROUPFILE_DEFAULT_PATH, cfg->state_dir);
    const char *sync_hint = "run `mkio-orgs sync --all` as root: any write of the store "
                            "rewrites it";
    if (lstat(path, &sb) != 0) {
        int e = errno;
        if (e == ENOENT) {
            hint = doctor_hint("it is written at the first login of a user who has joined an "
                               "organization, or by `mkio-orgs sync --all` as root%s",
                               elsewhere ? "; and remove state_dir from the configuration" : "");
            doctor_add(d, DOCTOR_WARN, "groups.db", hint, "%s does not exist yet: no mkio "
                       "group is seen%s", path, note);
        } else {
            bool denied = e == EACCES && !d->root;
            doctor_add(d, denied ? DOCTOR_WARN : DOCTOR_FAIL, "groups.db",
                       denied ? "run `mkio-orgs doctor` as root"
                              : "state_dir must be a directory owned by root, mode 0755",
                       "%s cannot be looked at: %s%s", path, strerror(e),
                       denied ? " (not root)" : "");
        }
        goto out;
    }
    if (S_ISLNK(sb.st_mode) || !S_ISREG(sb.st_mode)) {
        hint = doctor_hint("remove %s, then %s", path, sync_hint);
        doctor_add(d, DOCTOR_FAIL, "groups.db", hint, "%s is %s: the NSS module refuses it",
                   path, S_ISLNK(sb.st_mode) ? "a symbolic link" : "not a regular file");
        goto out;
    }
    if (sb.st_uid != 0) {
        struct passwd *pw = getpwuid(sb.st_uid);
        hint = doctor_hint("chown root:root %s && chmod 0644 %s (or remove it, then %s)", path,
                           path, sync_hint);
        doctor_add(d, DOCTOR_FAIL, "groups.db", hint, "%s is owned by %s (uid %lu), not root: "
                   "the NSS module refuses it", path, pw ? pw->pw_name : "no user",
                   (unsigned long)sb.st_uid);
        goto out;
    }
    if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        hint = doctor_hint("chmod 0644 %s", path);
        doctor_add(d, DOCTOR_FAIL, "groups.db", hint, "%s is writable by group or others "
                   "(mode %04o): the NSS module refuses it", path,
                   (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    int r = mkgf_verify_path(path);
    if (r == -EACCES && !d->root) {
        doctor_add(d, DOCTOR_WARN, "groups.db", "run `mkio-orgs doctor` as root",
                   "%s is root's, mode %04o; not verified: it cannot be read (not root)", path,
                   (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    if (r < 0) {
        hint = doctor_hint("%s (`mkio-orgs status --verify` shows more)", sync_hint);
        doctor_add(d, DOCTOR_FAIL, "groups.db", hint, "%s does not verify: %s", path,
                   r == -EBADMSG ? "it is damaged (a record, an offset or the checksum is wrong)"
                   : r == -EPROTONOSUPPORT ? "it was written in another format version"
                   : strerror(-r));
        goto out;
    }
    if (elsewhere) {
        hint = doctor_hint("remove state_dir from %s unless this is a private store",
                           cfg->source);
        doctor_add(d, DOCTOR_WARN, "groups.db", hint, "%s is root's, mode %04o, and verifies%s",
                   path, (unsigned)(sb.st_mode & 07777), note);
    } else {
        doctor_add(d, DOCTOR_OK, "groups.db", NULL, "%s is root's, mode %04o, and verifies%s",
                   path, (unsigned)(sb.st_mode & 07777), note);
    }
out:
    free(hint);
}

/* ---- nscd ---- */

static void check_nscd(struct doctor *d)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", MK_NSCD_SOCKET);
    /* Non-blocking: a wedged daemon with a full queue answers EAGAIN at once. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        doctor_add(d, DOCTOR_WARN, "nscd", "run `mkio-orgs doctor` again",
                   "not checked: no socket: %s", strerror(errno));
        return;
    }
    int r = connect(fd, (const struct sockaddr *)&addr, sizeof(addr));
    int e = errno;
    close(fd);
    if (r == 0 || e == EINPROGRESS || e == EAGAIN)
        doctor_add(d, DOCTOR_OK, "nscd", NULL, "nscd (or unscd) is running (%s): its group "
                   "cache is invalidated after each change of groups.db; by hand: nscd -i group",
                   MK_NSCD_SOCKET);
    else if (e == ENOENT || e == ECONNREFUSED)
        doctor_add(d, DOCTOR_OK, "nscd", NULL, "nscd is not running (no group cache to "
                   "invalidate)");
    else
        doctor_add(d, DOCTOR_WARN, "nscd", "run `mkio-orgs doctor` as root",
                   "not checked: %s: %s%s", MK_NSCD_SOCKET, strerror(e),
                   e == EACCES && !d->root ? " (not root)" : "");
}

/* ---- stale users ---- */

static const struct mk_store_user *store_user(const struct mk_store_view *v, const char *user)
{
    for (size_t i = 0; i < v->user_count; i++)
        if (strcmp(v->users[i].user, user) == 0)
            return &v->users[i];
    return NULL;
}

static const struct mk_user_state_entry *state_entry(const struct mk_user_state_entry *list,
                                                     size_t n, const char *user)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].user, user) == 0)
            return &list[i];
    return NULL;
}

static void report_stale(struct doctor *d, const char *user, const struct mk_user_state *st,
                         int64_t store_refreshed, int64_t now, size_t *stale)
{
    const struct mk_config *cfg = &d->t->cfg;
    int64_t known_good = mk_user_state_known_good(st, store_refreshed);
    if (!mk_user_state_stale(cfg, known_good, now))
        return;
    char good[32], attempt[32];
    tool_format_time(known_good, good, sizeof(good));
    tool_format_time(st->last_attempt, attempt, sizeof(attempt));
    char *hint = doctor_hint("check %s's token (`mkio-orgs doctor` as root; a refused one: "
                             "`mkio-orgs login --user %s`), then `mkio-orgs sync --user %s`; "
                             "or raise max_stale in %s", user, user, user, cfg->source);
    doctor_add(d, DOCTOR_WARN, "stale", hint, "%s: last success %s (%lld days ago, over "
               "max_stale: their groups leave groups.db); last attempt %s; last error: %s",
               user, good, (long long)((now - known_good) / 86400), attempt,
               st->last_error[0] ? st->last_error : "none recorded");
    free(hint);
    (*stale)++;
}

static void check_stale(struct doctor *d)
{
    const struct mk_config *cfg = &d->t->cfg;
    struct mk_user_state_entry *list = NULL;
    size_t n = 0, stale = 0;
    struct mk_store_view view;
    mk_error err;
    memset(&view, 0, sizeof(view));
    mk_error_clear(&err);
    if (!doctor_need_config(d, "stale"))
        return;
    if (cfg->max_stale_ms == 0) {
        doctor_add(d, DOCTOR_OK, "stale", NULL, "max_stale = 0: memberships never go stale");
        return;
    }
    if (mk_store_read(cfg, NULL, &view, &err) != MK_OK ||
        mk_user_state_list(cfg, &list, &n, &err) != MK_OK) {
        bool denied = !d->root && strstr(err.message, strerror(EACCES)) != NULL;
        doctor_add(d, denied ? DOCTOR_WARN : DOCTOR_FAIL, "stale",
                   denied ? "run `mkio-orgs doctor` as root"
                          : "state_dir and its files must be root's and not writable by group or "
                            "others (the message names the path)",
                   "%s%s", denied ? "not checked: " : "", err.message);
        goto out;
    }
    int64_t now = (int64_t)time(NULL);
    size_t users = 0;
    for (size_t i = 0; i < n; i++) {
        const struct mk_store_user *su = store_user(&view, list[i].user);
        if (list[i].refused) {
            char *hint = doctor_hint("fix the record as said, or remove it: the user's next "
                                     "refresh writes it again");
            doctor_add(d, DOCTOR_WARN, "stale", hint, "%s: the refresh record is not believed "
                       "(its times are not used): %s", list[i].user, list[i].refused);
            free(hint);
            stale++;
        }
        report_stale(d, list[i].user, &list[i].state, su ? (int64_t)su->refreshed : 0, now,
                     &stale);
        users++;
    }
    for (size_t i = 0; i < view.user_count; i++) {
        if (state_entry(list, n, view.users[i].user))
            continue;
        struct mk_user_state none;
        memset(&none, 0, sizeof(none));
        report_stale(d, view.users[i].user, &none, (int64_t)view.users[i].refreshed, now,
                     &stale);
        users++;
    }
    char bound[32];
    tool_format_duration(cfg->max_stale_ms, bound, sizeof(bound));
    if (stale == 0)
        doctor_add(d, DOCTOR_OK, "stale", NULL, "no stale user (%zu user%s known; max_stale %s)",
                   users, users == 1 ? "" : "s", bound);
out:
    mk_user_state_list_free(list, n);
    mk_store_view_free(&view);
}

int cmd_doctor(struct tool *t, int argc, char **argv)
{
    struct doctor d;
    memset(&d, 0, sizeof(d));
    int rc = tool_simple_options("doctor", doctor_help, argc, argv, &d.json, NULL, NULL);
    if (rc)
        return rc < 0 ? TOOL_EXIT_OK : rc;
    d.t = t;
    d.root = geteuid() == 0;
    if (!d.json && !tool_quiet) {
        printf("mkio-orgs doctor, as %s\n", d.root ? "root: every check" :
               "a user (not root): what a user can check; run it as root for the rest");
        fflush(stdout);
    }
    check_config(&d);
    if (!t->cfg_loaded) {
        tool_error("doctor: out of memory");
        doctor_free(&d);
        return TOOL_EXIT_LOCAL;
    }
    check_ca_file(&d);
    doctor_check_tls_and_tokens(&d);
    check_nsswitch(&d);
    doctor_check_gid_map(&d);
    check_pam(&d, "account");
    check_pam(&d, "session");
    check_groups_db(&d);
    check_nscd(&d);
    check_stale(&d);
    if (d.json)
        doctor_print_json(&d);
    else if (!tool_quiet)
        printf("doctor: %zu ok, %zu warn, %zu fail\n", d.oks, d.warns,
               d.fails);
    rc = d.fails ? TOOL_EXIT_LOCAL : TOOL_EXIT_OK;
    doctor_free(&d);
    return rc;
}
