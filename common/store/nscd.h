/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/nscd.h: asks a running nscd or unscd to forget its group cache.
 *
 * nscd caches every NSS answer, ours included, for its positive TTL
 * (Debian's nscd.conf: 3600 s for groups). It watches /etc/group, never
 * groups.db, so after the store replaces groups.db a new organization does
 * not show in `id` and a left one stays, until someone runs
 * `nscd -i group`. The writer calls mk_nscd_invalidate_group() right after
 * each replace instead.
 *
 * The protocol (glibc nscd/nscd-client.h, the same as `nscd -i group`): a
 * stream connection to /var/run/nscd/socket, one request
 *     int32 version = 2, int32 type = 10 (INVALIDATE), int32 key_len = 6,
 *     "group\0"
 * in host byte order, sent in one piece.
 *   - glibc nscd accepts it only from uid 0 (SO_PEERCRED), drops the group
 *     cache (getgrnam, getgrgid and initgroups answers alike, the shared
 *     memory copy that clients map included) and then answers an int32:
 *     0, or EINVAL for an unknown database. To a caller that is not root it
 *     answers nothing and closes.
 *   - unscd (Denys Vlasenko's nscd.c; Debian's unscd package) uses the
 *     same socket, header and type; it also needs uid 0 and a key that ends
 *     in NUL, then drops every cache (passwd, group, hosts) and closes the
 *     connection without answering. Its source (0.47) also drops the request
 *     when its passwd cache is disabled (it files INVALIDATE under passwd;
 *     Debian's unscd.conf enables it), and gives a client 100 ms to send the
 *     whole request.
 *
 * So callers must be root (the login helper and `mkio-orgs sync` are): a
 * refused request (no answer, closed) reads here as unscd's "done".
 * Checked against Debian 12's nscd (glibc 2.36): the request above, from
 * root, logs "INVALIDATE (group)", removes the cached entries and answers 0.
 * And against Debian 12's unscd 0.54: from root it logs "got invalidate
 * request, flushing cache" and closes; from another user, "special request
 * from non-root - ignoring" and closes.
 *
 * Never slow, never a signal: a login must not hang on a wedged daemon.
 * The whole exchange (non-blocking connect, send with MSG_NOSIGNAL, wait for
 * the answer) has MK_NSCD_TIMEOUT_MS in total. The socket is close-on-exec.
 * No environment variable is read. Thread-safe.
 *
 * Error convention: 0 or a negative errno (below); the caller words the
 * warning.
 */
#ifndef MK_NSCD_H
#define MK_NSCD_H

#define MK_NSCD_SOCKET "/var/run/nscd/socket"
#define MK_NSCD_TIMEOUT_MS 200

/* Asks nscd or unscd, listening on socket_path (NULL: MK_NSCD_SOCKET; tests
 * pass their own, which is not copied), to drop its group cache. A path
 * longer than a socket address holds gives -ENAMETOOLONG. Returns 0 when
 * the daemon did it: it answered 0, or closed the connection after reading
 * the whole request (unscd's way). Also 0, at once, when no daemon listens (no
 * socket: ENOENT; a socket or file nobody accepts on: ECONNREFUSED).
 * Otherwise a negative errno, and nothing else happens:
 *   -ETIMEDOUT    no answer within MK_NSCD_TIMEOUT_MS (a wedged daemon);
 *   -EAGAIN       the daemon's listen queue is full;
 *   -ECONNRESET   the daemon closed without reading the request (or
 *                 -EPIPE, when it closed before the request was sent);
 *   -EPROTO       a short or meaningless answer;
 *   -EINVAL       the daemon does not know the group database;
 *   another       from socket() or connect().
 * Keeps the caller's errno. */
int mk_nscd_invalidate_group(const char *socket_path);

#endif
