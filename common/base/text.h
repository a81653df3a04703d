/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/base/text.h: the one output sanitizer of the project, and its vocabulary
 * (identities, display names, numbers), each defined once.
 *
 * Every path that shows text a remote party or a local user chose (an
 * organization's name or id, an API's detail or ref, an e-mail address, a
 * user name, a file name) on a terminal, in a PAM message or in a syslog
 * line passes it through here first. What is removed, each replaced by one
 * '?':
 *   - C0 controls (0x00-0x1f) and DEL (0x7f), tabs and newlines included:
 *     one call makes one line;
 *   - C1 controls, raw (0x80-0x9f as single bytes, e.g. the CSI 0x9b that
 *     some terminals honour) and UTF-8 encoded (U+0080-U+009F, e.g. U+009B,
 *     U+0085 NEXT LINE);
 *   - invalid UTF-8 (a stray continuation byte, a truncated or overlong
 *     sequence, a surrogate, anything above U+10FFFF): one '?' per byte that
 *     starts no valid character;
 *   - bidirectional controls that reorder what a reader sees: U+202A-U+202E
 *     and U+2066-U+2069 (and U+200E, U+200F, U+061C marks);
 *   - the line and paragraph separators U+2028 and U+2029 (a new line in
 *     some viewers), the zero-width space U+200B and U+FEFF (invisible: two
 *     names that look the same must not differ by one).
 * Valid printable UTF-8 (accented names, CJK) is kept as it is.
 *
 * Pure libc and locale-independent: linked into pam_mkio.so too.
 */
#ifndef MK_TEXT_H
#define MK_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes the sanitized form of in (NULL reads as "") into out, always
 * NUL-terminated when out_len > 0. Never cuts a kept UTF-8 character in
 * half: when it does not fit, the output ends before it. Returns out. */
char *mk_text_sanitize(const char *in, char *out, size_t out_len);

/* The same into a new allocation (NULL on memory failure). */
char *mk_text_sanitize_dup(const char *in);

/* True when mk_text_sanitize would leave in unchanged. */
bool mk_text_is_clean(const char *in);

/* Decodes one UTF-8 character at s (at most left bytes). Returns its
 * length (1 to 4) and sets *cp, or 0 when s starts no valid, shortest-form
 * character (also for left 0, a surrogate, or past U+10FFFF). */
size_t mk_utf8_decode(const unsigned char *s, size_t left, uint32_t *cp);

/* Whether the sanitizer replaces the valid character cp with '?': the
 * controls (C0, DEL, C1), the bidirectional overrides and isolates, the
 * line and paragraph separators, zero-width space and the byte-order mark. */
bool mk_text_char_unsafe(uint32_t cp);

/* ---- The project's vocabulary: the one definition of each identity ----
 *
 * Every part (config, the store, the API client, the tool, PAM) asks here
 * whether a string is an organization id, a user name or a group name, and
 * how a display name is repaired; none keeps its own rule. All of it is
 * ASCII-only and ignores the locale (a login program may have called
 * setlocale): no <ctype.h>. */

#define MK_ORG_ID_MAX 128        /* bytes of an organization id */
#define MK_USER_NAME_MAX 256     /* bytes of a local user name */
#define MK_GROUP_NAME_MAX 32     /* characters of a group name (portable) */
#define MK_DISPLAY_NAME_MAX 256  /* bytes of a kept display name */

static inline bool mk_ascii_digit(int c) { return c >= '0' && c <= '9'; }
static inline bool mk_ascii_lower(int c) { return c >= 'a' && c <= 'z'; }
static inline bool mk_ascii_upper(int c) { return c >= 'A' && c <= 'Z'; }
static inline bool mk_ascii_alpha(int c) { return mk_ascii_lower(c) || mk_ascii_upper(c); }
static inline bool mk_ascii_alnum(int c) { return mk_ascii_alpha(c) || mk_ascii_digit(c); }
static inline bool mk_ascii_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
static inline int mk_ascii_tolower(int c) { return mk_ascii_upper(c) ? c - 'A' + 'a' : c; }
static inline bool mk_ascii_xdigit(int c)
{
    return mk_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* strcasecmp(a, b) == 0 and strncasecmp(a, b, n) == 0 for ASCII letters
 * only: the C library's follow LC_CTYPE (under tr_TR, 'I' and 'i' differ). */
bool mk_ascii_case_equal(const char *a, const char *b);
bool mk_ascii_case_equal_n(const char *a, const char *b, size_t n);

/* An organization id in canonical form: 1 to MK_ORG_ID_MAX characters of
 * [a-z0-9-] with at least one letter or digit (so that a derived group name
 * always carries a fragment of it). MK.IO ids are UUIDs; the API, a pin and
 * an accept_orgs entry may spell one in either case, and they are one
 * organization: everything compares and stores the canonical form. */
bool mk_org_id_valid(const char *id);

/* Writes the canonical form of id (ASCII letters lowercased) into out and
 * returns true when it is valid; otherwise out is "" and false. */
bool mk_org_id_canonical(const char *id, char out[MK_ORG_ID_MAX + 1]);

/* A UUID as the API's path parameters are (organization_id, invite_id,
 * docs/mkio-api.md): 8-4-4-4-12 hex digits, any case. Writes it lowercased
 * (MK_UUID_LEN characters and a NUL) into out and returns true; otherwise
 * out is "" and false. */
#define MK_UUID_LEN 36
bool mk_uuid_canonical(const char *id, char out[MK_UUID_LEN + 1]);

/* A local user name the project handles: 1 to MK_USER_NAME_MAX bytes with
 * no ':' ',' '/', no ASCII space or control character and no DEL (what
 * could break a group file line, a path or a log line). Case-sensitive, as
 * the system's user names are. */
bool mk_user_name_valid(const char *user);

/* A PAM service name as /etc/pam.d names its files, plain: letters,
 * digits, '.', '_', '+' and '-', not starting with '.', 1 to
 * MK_SERVICE_NAME_MAX bytes. What login_services takes and what pam_mkio
 * passes to its helper; any other service is an account check. */
#define MK_SERVICE_NAME_MAX 64
bool mk_service_name_valid(const char *service);

/* A group name: [a-z_][a-z0-9_-]*, 1 to MK_GROUP_NAME_MAX characters, what
 * every POSIX tool accepts. A group_prefix follows the same rule with max_len
 * as its own limit (mk_group_name_valid_len). */
/* A DNS name as the configuration takes one (the first len bytes of s):
 * letters, digits, '-' and '.', no empty label, at most 253 bytes. */
bool mk_dns_name_valid(const char *s, size_t len);

bool mk_group_name_valid(const char *name);
bool mk_group_name_valid_len(const char *name, size_t max_len);

/* A copy of a display name fit to keep: valid UTF-8 (each byte that starts
 * no valid character becomes '?'), cut to at most MK_DISPLAY_NAME_MAX bytes
 * at a character boundary. Valid characters are kept as the organization
 * spelt them, controls included: the store and `status --json` give the
 * truth (JSON escapes them), and every place that shows a name on a terminal
 * or in a log passes it through mk_text_sanitize first. NULL in gives NULL;
 * NULL on memory failure too. */
char *mk_display_name_repair(const char *name);

/* The part of a group name taken from a display name: ASCII letters
 * lowercased, digits and '_' kept, every run of anything else one '-', no
 * '-' at either end; at most out_len - 1 bytes (cut, then trailing '-'
 * removed). out_len > 0. */
void mk_display_name_slug(const char *name, char *out, size_t out_len);

/* ---- Numbers, whatever the locale ---- */

/* Seconds as digits with an optional '.' and decimals ("3", "2.5", "0.25";
 * never a comma, whatever LC_NUMERIC says) into milliseconds; decimals past
 * the third are dropped. False when malformed or outside [min_ms, max_ms]. */
bool mk_parse_seconds_ms(const char *s, int64_t min_ms, int64_t max_ms, int64_t *ms);

/* An unsigned decimal of digits only (no sign, no space, no base prefix)
 * not above max. False otherwise. */
bool mk_parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif
