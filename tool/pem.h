/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/pem.h: how many certificates a PEM file holds (tool/pem.c), for
 * doctor's ca_file check. It only counts well-formed blocks; it does not
 * decode or verify them (libcurl does, when it loads the file). */
#ifndef MKIO_TOOL_PEM_H
#define MKIO_TOOL_PEM_H

#include <stdbool.h>
#include <stddef.h>

/* Counts the PEM certificate blocks of text (NUL-terminated): a BEGIN
 * line, base64 lines, an END line. *bad is set when a block is broken (no
 * END line, a character that is not base64, or far too short to be a
 * certificate); the count is then of the good blocks before it. */
size_t pem_count_certificates(const char *text, bool *bad);

#endif
