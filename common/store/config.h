/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/config.h: /etc/mkio/mkio.conf, parsed once into a struct.
 *
 * The reader's interface, libc alone: config.c (the file, the environment,
 * the questions), config_fields.c (the key table: defaults, copy, free and
 * every key's rule), config_values.c (the syntax of one value) and
 * config_parse.c (the text, line by line). Every function returning
 * mk_status sets err when it is not MK_OK.
 *
 * Format: one `key = value` per line; `#` starts a comment line; blank lines
 * are ignored. Keys that take a list take it space-separated and may be given
 * again to add more (`retired` is one). `pin` is repeatable. Unknown keys, bad values and unsafe
 * settings are errors naming "FILE:LINE". conf/mkio.conf documents every key.
 *
 * Nothing depends on the locale: seconds are written with '.', whatever
 * LC_NUMERIC says, and organization ids, group and user names follow
 * common/base/text.h. Organization ids are kept in canonical (lowercase) form:
 * a pin or an accept_orgs entry written "ABC-1" is the organization the API
 * calls "abc-1".
 */
#ifndef MK_CONFIG_H
#define MK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/mk_error.h"

#define MK_CONFIG_DEFAULT_PATH "/etc/mkio/mkio.conf"

/* The PAM services that are a real login (login_services' default): the
 * console, su -l, ssh, and the display managers Debian ships. */
#define MK_CONFIG_DEFAULT_LOGIN_SERVICES \
    "login su-l sshd gdm-password gdm-autologin gdm-fingerprint gdm-smartcard " \
    "lightdm lightdm-autologin lightdm-greeter sddm sddm-autologin xdm"

/* An administrator's pin: this organization id (canonical, see text.h) gets
 * exactly this group name and gid, without prefix or id fragment. */
struct mk_pin {
    char *org_id;
    char *group_name;
    gid_t gid;
};

struct mk_config_pin_index;

struct mk_config {
    char *base_url;             /* base_url = https://app.mk.io */
    char *ca_file;              /* ca_file = (empty: the system's CA store) */
    char *proxy;                /* proxy = (empty: none; SCHEME://HOST:PORT) */
    int64_t connect_timeout_ms; /* connect_timeout = 3 (seconds, decimals allowed) */
    int64_t budget_ms;          /* time_budget = 5 (seconds: one whole operation, retries included) */
    unsigned retries;           /* retries = 3 (extra attempts after the first) */
    size_t max_response_bytes;  /* max_response_size = 4M (K and M suffixes) */
    size_t max_list_bytes;      /* max_list_size = 16M (all pages of one listing) */
    size_t max_list_records;    /* max_list_records = 10000 (records of one listing) */
    unsigned token_warn_days;   /* token_warn_days = 14 (a login says so when the token expires
                                 * within this many days; 0: never) */
    char *auth_header;          /* auth_header = authorization ("Authorization: Bearer TOKEN");
                                 * x-mkio-token: the legacy header some old tokens need */
    int64_t refresh_interval_ms; /* refresh_interval = 5m (an account check that is not a login
                                 * calls the API only when the user's last successful
                                 * refresh is older) */
    int64_t login_refresh_interval_ms; /* login_refresh_interval = 0 (the same, for a login) */
    char **login_services;      /* login_services = login su-l sshd ... (PAM services that
                                 * are a login; any other is an account check) */
    size_t login_service_count;
    int64_t max_stale_ms;       /* max_stale = 30d (a user whose last successful refresh is
                                 * older loses their groups from groups.db; 0: no bound) */
    char *token_dir;            /* token_dir = /etc/mkio/tokens */
    char *user_token_path;      /* user_token = .config/mkio/token (relative to the home) */
    gid_t gid_min, gid_max;     /* gid_range = 2000200001-2147483646 */
    char *group_prefix;         /* group_prefix = mk- */
    struct mk_pin *pins;        /* pin = ORG_ID GROUP_NAME GID */
    size_t pin_count;
    struct mk_config_pin_index *pin_index; /* the pins by id, made by a parse
                                            * (store/config_pins.h); NULL: scanned */
    size_t ids_pins_from, ids_pins_to; /* pins[from..to) came from ids_file, the others from
                                        * mkio.conf (mk_config_pin_from_ids) */
    char *ids_file;             /* ids_file = (empty: none; a fleet's shared pins, store/ids.h) */
    char **retired;             /* retired = GID... (canonical decimal gids no organization is
                                 * given, as the store's retired gids) */
    size_t retired_count;
    bool accept_invites;        /* accept_invites = yes */
    char **accept_orgs;         /* accept_orgs = ID... (canonical ids; empty: any organization) */
    size_t accept_org_count;
    char **accept_inviter_domains; /* accept_inviter_domains = example.com... (lowercase; empty: any) */
    size_t accept_inviter_domain_count;
    uid_t min_uid;              /* min_uid = 1000 */
    char **ignore_users;        /* ignore_users = root ... */
    size_t ignore_user_count;
    char *state_dir;            /* state_dir = /var/lib/mkio */
    bool userdb_export;         /* userdb_export = no (also publish the groups as systemd's
                                 * JSON group records: store/userdb.h) */
    char *source;               /* the file it came from, or "(defaults)" */
    char *base_url_origin;      /* where base_url came from, for doctor: "FILE line N",
                                 * "MKIO_BASE_URL", or NULL for the built-in default */
    char **key_origins;         /* per key (mk_config_key_name's index): "FILE:LINE" of the
                                 * line that set it (every line, ", "-joined, for pin and
                                 * the list keys, which each line adds to), or NULL: the
                                 * built-in default. NULL itself until a text sets a key */
    char **dropins;             /* the drop-in files read after source, in order */
    size_t dropin_count;
};

/* Fills cfg with the documented defaults. Never fails except on memory. */
mk_status mk_config_defaults(struct mk_config *cfg, mk_error *err);

/* How the reader judges a URL key (base_url, proxy) beyond its type. The
 * reader's own rules, mk_config_url_syntax, link libc alone: a scheme it
 * could name, printable ASCII. A program that connects passes net/url.h's
 * mk_url_rules, which split the URL as libcurl will (the layer rule in
 * docs/ARCHITECTURE.md keeps libcurl out of this layer). NULL wherever
 * rules are taken means mk_config_url_syntax. */
struct mk_config_url_rules {
    mk_status (*base_url)(const char *url, mk_error *err);
    mk_status (*proxy)(const char *url, mk_error *err);
    /* The gid map gid_range is judged by (below, mk_config_validate):
     * NULL is the process's own, /proc/self/gid_map; a unit test names a
     * file of its own. */
    const char *gid_map;
};
extern const struct mk_config_url_rules mk_config_url_syntax;

/* The drop-in directory beside a configuration file: MK_CONFIG_DROPIN_DIR
 * in the file's directory (/etc/mkio/mkio.conf.d for the default). */
#define MK_CONFIG_DROPIN_DIR "mkio.conf.d"

/* Defaults, then the file at path. When path is NULL the default path is
 * used and a missing default file is not an error. A file writable by group
 * or others, or not a regular file, is refused. Then the drop-ins: every
 * `*.conf` (not starting with '.') in MK_CONFIG_DROPIN_DIR beside the file,
 * in C-locale (strcmp) order, each applied on top of what came before as
 * mk_config_parse_string does: a key set again replaces the earlier value,
 * pin and the list keys add to it. A missing directory is none; the
 * directory must be root's (or, not root, the effective user's) and not
 * writable by group or others, each drop-in a regular file (never a
 * symbolic link) by the same rule (base/trust.h); a bad one is refused
 * naming it (and FILE:LINE for a bad line). Then, when it names one,
 * ids_file, with the same checks as the file (missing is an error), read
 * by mk_config_parse_ids_string. */
mk_status mk_config_load(const char *path, struct mk_config *cfg, mk_error *err);
mk_status mk_config_load_with(const char *path, const struct mk_config_url_rules *rules,
                              struct mk_config *cfg, mk_error *err);

/* Applies text (the content of a file called `name` for messages) on top of
 * what cfg holds, then validates. Used by mk_config_load and unit tests. */
mk_status mk_config_parse_string(const char *text, const char *name,
                                 struct mk_config *cfg, mk_error *err);
mk_status mk_config_parse_string_with(const char *text, const char *name,
                                      const struct mk_config_url_rules *rules,
                                      struct mk_config *cfg, mk_error *err);

/* The tool's environment overrides: MKIO_BASE_URL (judged by rules, like
 * base_url). Root (effective uid 0) takes none: its environment may be
 * another user's (sudo -E, an env_keep, su without -), and the server gets
 * every token root holds, so a set MKIO_BASE_URL is MK_ERR_USAGE naming
 * the variable and the fix (base_url in the configuration file). A setuid
 * caller never sees it (secure_getenv). An empty one counts as unset. */
mk_status mk_config_apply_env(struct mk_config *cfg, const struct mk_config_url_rules *rules,
                              mk_error *err);

/* Applies the text of an ids file (store/ids.h; `name` for messages) on
 * top of cfg, then validates: only `pin` and `retired` lines, comments and
 * blank lines. Its pins are appended (mk_config_pin_from_ids); a pin for an organization
 * mkio.conf pins already is skipped when it is the same pin and refused
 * (MK_ERR_USAGE, naming both) when it is not. mk_config_load reads
 * ids_file this way right after the configuration file. */
mk_status mk_config_parse_ids_string(const char *text, const char *name,
                                     struct mk_config *cfg, mk_error *err);

/* Checks a struct however it was filled (a parsed file is checked by the
 * same rules): every key's range and form (base_url https, http only to a
 * loopback address; the gid range clear of 0-999, 1000-60000, 60001-65535,
 * SSSD's default id mapping 200000-2000200000 (which holds 524288-1879048191)
 * and >= 2^31, so inside 65536-199999 or 2000200001-2147483647 (in a user
 * namespace, whose gid map is not the identity, also a range wholly inside
 * 1000-60000 that the map covers: MK_CONFIG_USERNS_GID_FIRST..LAST, read
 * from rules->gid_map); list entries and pin ids in canonical
 * form; pins with valid names, outside the reserved ranges, no two sharing
 * an id, a gid or a name), then what no single key can: connect_timeout
 * within time_budget, pinned gids inside gid_range. */
mk_status mk_config_validate(const struct mk_config *cfg, const struct mk_config_url_rules *rules,
                            mk_error *err);

void mk_config_free(struct mk_config *cfg);

/* The keys of mkio.conf(5), in its order, for reports (doctor): how many,
 * the name of key i, "FILE:LINE" of the lines that set it in cfg (NULL:
 * the built-in default) and its value as a configuration line would give
 * it (pins "ID NAME GID" joined by ", "), written into buf (cut at len;
 * len 0 writes nothing). */
size_t mk_config_key_count(void);
const char *mk_config_key_name(size_t i);
const char *mk_config_key_origin(const struct mk_config *cfg, size_t i);
void mk_config_key_value(const struct mk_config *cfg, size_t i, char *buf, size_t len);

/* True for users PAM and sync must leave alone: uid below min_uid or named
 * in ignore_users. */
bool mk_config_user_ignored(const struct mk_config *cfg, const char *user, uid_t uid);

/* Whether the invite policy lets an invite to org_id (any case; an id that
 * is not one per text.h is refused) from inviter_email (may be NULL) be
 * accepted. On false, *why (if not NULL) says why, for logs. */
bool mk_config_invite_allowed(const struct mk_config *cfg, const char *org_id,
                              const char *inviter_email, const char **why);

/* The pin for org_id (compared in canonical form, so any case), or NULL. */
const struct mk_pin *mk_config_pin_for(const struct mk_config *cfg, const char *org_id);

/* Whether pin (one of cfg->pins) came from the ids file. */
bool mk_config_pin_from_ids(const struct mk_config *cfg, const struct mk_pin *pin);

/* Whether gid is one of cfg's retired gids (the `retired` key). */
bool mk_config_gid_retired(const struct mk_config *cfg, gid_t gid);

/* Inside a user namespace a gid_range may also lie in this band (the regular
 * one of invariant 3, never the system gids 0-999 nor 60001-65535, which
 * systemd and nobody/nogroup 65534 use), when the namespace's gid map covers
 * all of it: no range of 65536 and above fits a container that maps 0-65535.
 * The writer still checks each gid against every NSS source and /etc/group. */
#define MK_CONFIG_USERNS_GID_FIRST 1000u
#define MK_CONFIG_USERNS_GID_LAST 60000u

struct mk_gidmap;

/* A gid_range the configuration accepts and map covers wholly, for doctor's
 * proposal: inside 2000200001-2147483646, else 65536-199999, else (a user
 * namespace's band) 1000-59999, the widest the map gives in the first band
 * it reaches, at most 10000 gids (the top of the band's part for the last
 * one: useradd counts up from 1000). False when the map reaches none. */
bool mk_config_gid_range_propose(const struct mk_gidmap *map, gid_t *lo, gid_t *hi);

/* True when a gid falls in a range reserved by invariant 3 (docs/ARCHITECTURE.md). */
bool mk_config_gid_reserved(unsigned long gid);

#endif
