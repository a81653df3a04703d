/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/doctor.c: the report of mkio-orgs doctor: each check recorded as it
 * is made, printed at once as text, or all at the end as JSON
 * (tool/doctor.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool/doctor.h"
#include "tool/util.h"

static const char *doctor_result_name(enum doctor_result r)
{
    return r == DOCTOR_OK ? "ok" : r == DOCTOR_WARN ? "warn" : "fail";
}

static char *doctor_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *doctor_vformat(const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        return NULL;
    return text;
}

/* Prints a check (text mode) as soon as it is known, so slow checks show
 * progress; JSON mode prints everything at the end. */
static void doctor_print(const struct doctor *d, const struct doctor_check *c)
{
    if (d->json)
        return;
    printf("%-4s ", doctor_result_name(c->result));
    tool_put_safe(stdout, c->name);
    fputs(": ", stdout);
    /* A detail of several lines (the config check's keys): the first
     * beside the name, the others indented under it. */
    const char *detail = c->detail ? c->detail : "(out of memory)";
    for (const char *nl; (nl = strchr(detail, '\n')) != NULL; detail = nl + 1) {
        char *line = strndup(detail, (size_t)(nl - detail));
        tool_put_safe(stdout, line ? line : "(out of memory)");
        fputs("\n     ", stdout);
        free(line);
    }
    tool_put_safe(stdout, detail);
    fputc('\n', stdout);
    if (c->hint) {
        fputs("     hint: ", stdout);
        tool_put_safe(stdout, c->hint);
        fputc('\n', stdout);
    }
    fflush(stdout);
}

void doctor_add(struct doctor *d, enum doctor_result r, const char *name, const char *hint,
                       const char *fmt, ...)
{
    struct doctor_check c = { .result = r };
    va_list ap;
    va_start(ap, fmt);
    c.detail = doctor_vformat(fmt, ap);
    va_end(ap);
    c.name = strdup(name);
    if (hint && r != DOCTOR_OK)
        c.hint = strdup(hint);
    if (r == DOCTOR_OK)
        d->oks++;
    else if (r == DOCTOR_FAIL)
        d->fails++;
    else if (r == DOCTOR_WARN)
        d->warns++;
    doctor_print(d, &c);
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct doctor_check *grown = realloc(d->checks, cap * sizeof(*grown));
        if (!grown) {
            free(c.name);
            free(c.detail);
            free(c.hint);
            return;
        }
        d->checks = grown;
        d->cap = cap;
    }
    d->checks[d->count++] = c;
}

char *doctor_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = doctor_vformat(fmt, ap);
    va_end(ap);
    return text;
}

void doctor_keep_token(struct doctor *d, const char *token)
{
    if (!d->list_token && token)
        d->list_token = strdup(token); /* out of memory: list-budget says not measured */
}

void doctor_free(struct doctor *d)
{
    if (d->list_token) {
        explicit_bzero(d->list_token, strlen(d->list_token));
        free(d->list_token);
        d->list_token = NULL;
    }
    for (size_t i = 0; i < d->count; i++) {
        free(d->checks[i].name);
        free(d->checks[i].detail);
        free(d->checks[i].hint);
    }
    free(d->checks);
}

bool doctor_need_config(struct doctor *d, const char *name)
{
    if (d->config_ok)
        return true;
    doctor_add(d, DOCTOR_WARN, name, "fix the configuration first (see the config check)",
               "not checked: the configuration did not load");
    return false;
}

void doctor_print_json(const struct doctor *d)
{
    json_object *root = json_object_new_object();
    json_object *checks = json_object_new_array();
    for (size_t i = 0; i < d->count; i++) {
        const struct doctor_check *c = &d->checks[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(c->name ? c->name : ""));
        json_object_object_add(o, "result", json_object_new_string(doctor_result_name(c->result)));
        json_object_object_add(o, "detail", json_object_new_string(c->detail ? c->detail : ""));
        json_object_object_add(o, "hint", c->hint ? json_object_new_string(c->hint) : NULL);
        json_object_array_add(checks, o);
    }
    json_object_object_add(root, "checks", checks);
    json_object_object_add(root, "ok", json_object_new_boolean(d->fails == 0));
    tool_print_json(root);
}
