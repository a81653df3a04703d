/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/verbosity.h: mkio-orgs --quiet and --verbose (tool/verbosity.c).
 *
 * --quiet leaves out the informational lines (confirmations such as
 * "Joined ...", doctor's heading and tally, sync's summary, notices): what
 * is printed is the data asked for, warnings and errors. --verbose writes
 * one line to stderr per HTTP attempt: method, path, status (or why no
 * answer came), the API's ref when the answer has one, and its time in ms;
 * never a header, so never the token (invariant 5). */
#ifndef MKIO_TOOL_VERBOSITY_H
#define MKIO_TOOL_VERBOSITY_H

#include <stdbool.h>

/* True under --quiet: the commands print no informational line. */
extern bool tool_quiet;

/* Sets the global options' effect; verbose installs the HTTP trace
 * (net/http.h's mk_http_set_trace). Call once, before any client. */
void tool_verbosity_set(bool quiet, bool verbose);

#endif
