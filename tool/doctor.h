/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/doctor.h: the report of mkio-orgs doctor (tool/doctor.c), which the
 * checks (tool/cmd_doctor.c, tool/doctor_token.c) add their lines to. */
#ifndef MKIO_TOOL_DOCTOR_H
#define MKIO_TOOL_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

struct tool;

/* What a check found: ok, warn or fail. */
enum doctor_result { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };

/* One check, as it was added. */
struct doctor_check {
    char *name;
    enum doctor_result result;
    char *detail;
    char *hint;
};

/* One run of doctor: what the checks share, and the report. */
struct doctor {
    struct tool *t;
    bool json;
    bool root;
    bool config_ok;      /* the configuration loaded: the checks that need it run */
    bool tls_ok;         /* base_url answered: token checks are worth making */
    char *list_token;    /* the first token MK.IO accepted, for list-budget */
    const char *config_name;
    struct doctor_check *checks;
    size_t count, cap;
    size_t oks, warns, fails;
};

/* Records one check and, in text mode, prints it at once (slow checks show
 * progress). fmt (printf-style) is the detail; hint (may be NULL) is kept
 * only for warn and fail. Out of memory, the check is printed but may be
 * left out of the JSON. */
void doctor_add(struct doctor *d, enum doctor_result r, const char *name, const char *hint,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A hint made with printf, for doctor_add: the caller frees it. NULL when
 * out of memory (doctor_add then records no hint). */
char *doctor_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The checks that need the configuration call this first: true when it
 * loaded; else it adds the check name as a warning that says so. */
bool doctor_need_config(struct doctor *d, const char *name);

/* JSON mode: every check as one object on stdout, {"checks": [...], "ok"}. */
void doctor_print_json(const struct doctor *d);

/* Keeps a copy of token (the first one kept stays) for the checks that
 * need a token MK.IO accepted; doctor_free wipes it. */
void doctor_keep_token(struct doctor *d, const char *token);

/* Frees the checks recorded and the token kept. */
void doctor_free(struct doctor *d);

#endif
