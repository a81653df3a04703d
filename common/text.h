/* common/text.h: the one output sanitizer of the project.
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
 *     and U+2066-U+2069 (and U+200E, U+200F, U+061C marks).
 * Valid printable UTF-8 (accented names, CJK) is kept as it is.
 *
 * Pure libc and locale-independent: linked into pam_mkio.so too.
 */
#ifndef MK_TEXT_H
#define MK_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Writes the sanitized form of in (NULL reads as "") into out, always
 * NUL-terminated when out_len > 0. Never cuts a kept UTF-8 character in
 * half: when it does not fit, the output ends before it. Returns out. */
char *mk_text_sanitize(const char *in, char *out, size_t out_len);

/* The same into a new allocation (NULL on memory failure). */
char *mk_text_sanitize_dup(const char *in);

/* True when mk_text_sanitize would leave in unchanged. */
bool mk_text_is_clean(const char *in);

#endif
