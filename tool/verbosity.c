/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/verbosity.c: --quiet's flag and --verbose's request trace
 * (tool/verbosity.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "net/http.h"
#include "tool/util.h"
#include "tool/verbosity.h"

/* The top-level "ref" of an API answer's JSON body (docs/mkio-api.md,
 * "Error body"), copied into ref; "" when it has none. */
static void verbosity_ref(const char *body, char *ref, size_t size)
{
    ref[0] = '\0';
    if (!body || body[0] != '{')
        return;
    json_object *root = json_tokener_parse(body);
    json_object *value = NULL;
    if (root && json_object_is_type(root, json_type_object) &&
        json_object_object_get_ex(root, "ref", &value) &&
        json_object_is_type(value, json_type_string))
        snprintf(ref, size, "%s", json_object_get_string(value));
    json_object_put(root);
}

/* One line per attempt, whole (sync's threads trace at once): "mkio-orgs:
 * GET /api/v1/user/profile: 200, ref R, 12 ms". The path and the server's
 * words are sanitized like every outside text. */
static void verbosity_trace(void *ctx, const struct mk_http_trace *t)
{
    char ref[160], line[2048], attempt[32], failure[1024] = "", refpart[176] = "";
    verbosity_ref(t->body, ref, sizeof(ref));
    attempt[0] = '\0';
    if (t->attempt > 1)
        snprintf(attempt, sizeof(attempt), " (attempt %u)", t->attempt);
    if (t->failure)
        snprintf(failure, sizeof(failure), " (%s)", t->failure);
    if (ref[0])
        snprintf(refpart, sizeof(refpart), ", ref %s", ref);
    if (t->status)
        snprintf(line, sizeof(line), "%s %s%s: %ld%s, %" PRId64 " ms", t->method, t->path,
                 attempt, t->status, refpart, t->ms < 0 ? 0 : t->ms);
    else
        snprintf(line, sizeof(line), "%s %s%s: no answer%s, %" PRId64 " ms", t->method, t->path,
                 attempt, failure, t->ms < 0 ? 0 : t->ms);
    flockfile(stderr);
    fputs("mkio-orgs: ", stderr);
    tool_put_safe(stderr, line);
    fputc('\n', stderr);
    funlockfile(stderr);
}

void tool_verbosity_set(bool quiet, bool verbose)
{
    tool_quiet = quiet;
    if (verbose)
        mk_http_set_trace(verbosity_trace, NULL);
}
