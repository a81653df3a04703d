/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/nsswitch.c: reads nsswitch.conf's group: and initgroups: lines as
 * glibc does, for doctor's nsswitch check (tool/nsswitch.h). */
#include <stdbool.h>
#include <string.h>

#include "base/text.h"
#include "tool/nsswitch.h"

/* Whether one "[...]" block of nsswitch.conf (without the brackets) makes
 * a NOTFOUND answer return: NOTFOUND=return, or !X=return with X another
 * status. */
static bool nsswitch_returns_on_notfound(const char *block, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && mk_ascii_space((unsigned char)block[i]))
            i++;
        size_t start = i;
        while (i < len && !mk_ascii_space((unsigned char)block[i]))
            i++;
        const char *item = block + start;
        size_t item_len = i - start;
        if (item_len == 0)
            continue;
        bool negated = item[0] == '!';
        if (negated) {
            item++;
            item_len--;
        }
        const char *eq = memchr(item, '=', item_len);
        if (!eq)
            continue;
        size_t status_len = (size_t)(eq - item), action_len = item_len - status_len - 1;
        bool is_return = action_len == 6 && mk_ascii_case_equal_n(eq + 1, "return", 6);
        bool is_notfound = status_len == 8 && mk_ascii_case_equal_n(item, "notfound", 8);
        if (is_return && is_notfound != negated)
            return true;
    }
    return false;
}

/* Reads one database line's services (text after the ':'). */
static void nsswitch_parse_services(const char *p, struct nsswitch_db *out)
{
    bool returns = false;
    while (*p) {
        while (*p && mk_ascii_space((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (*p == '[') {
            const char *close = strchr(p, ']');
            size_t len = close ? (size_t)(close - p - 1) : strlen(p + 1);
            if (nsswitch_returns_on_notfound(p + 1, len))
                returns = true;
            p = close ? close + 1 : p + 1 + len;
            continue;
        }
        const char *start = p;
        while (*p && !mk_ascii_space((unsigned char)*p) && *p != '[')
            p++;
        if ((size_t)(p - start) == 4 && strncmp(start, "mkio", 4) == 0 && !out->has_mkio) {
            out->has_mkio = true;
            out->stops_before = returns;
        }
        if ((size_t)(p - start) == 7 && strncmp(start, "systemd", 7) == 0)
            out->has_systemd = true;
    }
}

void nsswitch_parse(char *text, struct nsswitch_lines *out)
{
    int lineno = 0;
    memset(out, 0, sizeof(*out));
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        while (mk_ascii_space((unsigned char)*p))
            p++;
        char *name = p;
        while (*p && !mk_ascii_space((unsigned char)*p) && *p != ':')
            p++;
        size_t name_len = (size_t)(p - name);
        while (mk_ascii_space((unsigned char)*p))
            p++;
        if (*p != ':' || name_len == 0)
            continue;
        struct nsswitch_db *which = NULL;
        if (name_len == 5 && strncmp(name, "group", 5) == 0) {
            out->group_lines++;
            which = &out->group;
        } else if (name_len == 10 && strncmp(name, "initgroups", 10) == 0) {
            which = &out->initgroups;
        }
        if (!which || which->line) /* the first line of a database counts */
            continue;
        which->line = lineno;
        nsswitch_parse_services(p + 1, which);
    }
}
