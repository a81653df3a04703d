/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/pamstack.h: whether a PAM stack reaches pam_mkio.so (tool/pamstack.c),
 * for doctor's pam-account and pam-session checks. A stack is followed from
 * its file in /etc/pam.d through @include lines and include and substack
 * controls, as Linux-PAM reads them (comments, backslash-newline, [...]
 * controls, "-type" lines), to a bounded depth, each file once. */
#ifndef MKIO_TOOL_PAMSTACK_H
#define MKIO_TOOL_PAMSTACK_H

#include <limits.h>
#include <stddef.h>

/* Where the files of the stacks are (a name that is not absolute is under
 * it). */
#define PAMSTACK_DIR "/etc/pam.d"
/* How deep includes are followed, and how many files one search reads. */
#define PAMSTACK_DEPTH 16

/* One search: what it looked at and what it found. Large: allocate it. */
struct pamstack_search {
    const char *type;          /* "account" or "session" */
    char looked[2048];         /* the files looked at, comma-separated */
    char found_in[PATH_MAX];   /* the file with the pam_mkio.so line, "" when none */
    char missing[PATH_MAX];    /* the first file that could not be read, "" when none */
    int missing_errno;
    char visited[PAMSTACK_DEPTH][PATH_MAX]; /* visited[0]: the file the search started at */
    int visited_count;
};

/* Looks for pam_mkio.so in the stack of type that file name makes; s
 * zeroed before. It stops at the first pam_mkio.so line. */
void pamstack_search(struct pamstack_search *s, const char *type, const char *name);

/* For each of the login services (PAM service names, login_services of
 * mkio.conf) that has a file in PAMSTACK_DIR: whether its stack of type
 * reaches pam_mkio.so. Its name is appended to reached or to unreached
 * (each a list of size bytes). A name with a '/' is skipped. */
void pamstack_services(const char *type, char *const *services, size_t count, char *reached,
                       char *unreached, size_t size);

/* Appends word to a comma-separated list of size bytes (cut if full). */
void pamstack_list_append(char *list, size_t size, const char *word);

#endif
