/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/pamstack.c: follows a PAM stack through the files of /etc/pam.d as
 * Linux-PAM reads them, looking for pam_mkio.so (tool/pamstack.h). */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/text.h"
#include "tool/pamstack.h"
#include "tool/util.h"

/* A PAM file longer than this is not read. */
#define PAMSTACK_MAX_FILE (1u << 20)

void pamstack_list_append(char *list, size_t size, const char *word)
{
    size_t used = strlen(list);
    snprintf(list + used, size - used, "%s%s", used ? ", " : "", word);
}

static void pamstack_note_looked(struct pamstack_search *s, const char *path)
{
    pamstack_list_append(s->looked, sizeof(s->looked), path);
}

/* Whether a module path names pam_mkio.so (bare or absolute). */
static bool pamstack_is_mkio(const char *module)
{
    const char *slash = strrchr(module, '/');
    return strcmp(slash ? slash + 1 : module, "pam_mkio.so") == 0;
}

/* The next word of *p (spaces skipped), NUL-terminated in place; NULL at
 * the end. A word starting with '[' runs to the matching ']'. */
static char *pamstack_next_word(char **p)
{
    char *s = *p;
    while (mk_ascii_space((unsigned char)*s))
        s++;
    if (!*s)
        return NULL;
    char *start = s;
    if (*s == '[') {
        char *close = strchr(s, ']');
        s = close ? close + 1 : s + strlen(s);
    } else {
        while (*s && !mk_ascii_space((unsigned char)*s))
            s++;
    }
    if (*s)
        *s++ = '\0';
    *p = s;
    return start;
}

static void pamstack_file(struct pamstack_search *s, const char *name, int depth);

static void pamstack_follow(struct pamstack_search *s, const char *name, int depth)
{
    if (!name || !*name || s->found_in[0])
        return;
    pamstack_file(s, name, depth + 1);
}

/* Looks for pam_mkio.so in the stack of s->type that file name (under
 * /etc/pam.d unless absolute) makes, following includes. */
static void pamstack_file(struct pamstack_search *s, const char *name, int depth)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    if (depth >= PAMSTACK_DEPTH || s->visited_count >= PAMSTACK_DEPTH)
        return;
    if (name[0] == '/')
        snprintf(path, sizeof(path), "%s", name);
    else
        snprintf(path, sizeof(path), "%s/%s", PAMSTACK_DIR, name);
    for (int i = 0; i < s->visited_count; i++)
        if (strcmp(s->visited[i], path) == 0)
            return;
    snprintf(s->visited[s->visited_count++], PATH_MAX, "%s", path);
    pamstack_note_looked(s, path);
    int r = tool_read_file(path, PAMSTACK_MAX_FILE, true, &text, &len);
    if (r < 0) {
        if (!s->missing[0]) {
            snprintf(s->missing, sizeof(s->missing), "%s", path);
            s->missing_errno = -r;
        }
        return;
    }
    /* Backslash-newline continues a line, as Linux-PAM reads it. */
    for (char *c = text; (c = strstr(c, "\\\n")) != NULL;)
        c[0] = c[1] = ' ';
    for (char *line = text, *next; line && !s->found_in[0]; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *p = line;
        char *type = pamstack_next_word(&p);
        if (!type)
            continue;
        if (strcmp(type, "@include") == 0) {
            pamstack_follow(s, pamstack_next_word(&p), depth);
            continue;
        }
        if (type[0] == '-')
            type++;
        if (!mk_ascii_case_equal(type, s->type))
            continue;
        char *control = pamstack_next_word(&p);
        char *module = pamstack_next_word(&p);
        if (!control || !module)
            continue;
        if (strcmp(control, "include") == 0 || strcmp(control, "substack") == 0) {
            pamstack_follow(s, module, depth);
            continue;
        }
        if (pamstack_is_mkio(module))
            snprintf(s->found_in, sizeof(s->found_in), "%s", path);
    }
    free(text);
}

void pamstack_search(struct pamstack_search *s, const char *type, const char *name)
{
    s->type = type;
    pamstack_file(s, name, 0);
}

void pamstack_services(const char *type, char *const *services, size_t count, char *reached,
                       char *unreached, size_t size)
{
    for (size_t i = 0; i < count; i++) {
        const char *service = services[i];
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", PAMSTACK_DIR, service);
        if (strchr(service, '/') || lstat(path, &sb) != 0)
            continue;
        struct pamstack_search *one = calloc(1, sizeof(*one));
        if (!one)
            break;
        pamstack_search(one, type, service);
        pamstack_list_append(one->found_in[0] ? reached : unreached, size, service);
        free(one);
    }
}
