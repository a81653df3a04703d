/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/completion.h: the shell completions of mkio-orgs, bash, zsh and
 * fish, written from the verb table of tool/main.c (tool/completion.c), so
 * that the three offer the same commands and options as --help lists; the
 * build writes them with the hidden option --completion=SHELL. Also the
 * user names a --user completion offers (--completion=users). */
#ifndef MKIO_TOOL_COMPLETION_H
#define MKIO_TOOL_COMPLETION_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

struct tool;

/* One command of the verb table, as completion sees it: its name, its
 * sub-command (NULL: none) and the synopsis --help shows after them (NULL:
 * no arguments), from which each option, whether it takes a value (an
 * upper-case word after it: USER completes user names, FILE... file names)
 * and the positional arguments (ORG_ID, INVITE_ID, USER) are read. */
struct tool_completion_verb {
    const char *name;
    const char *sub;
    const char *args;
};

/* Writes the completion for shell ("bash", "zsh" or "fish") to f: the
 * commands of verbs (n of them, in order), the global options of options
 * (getopt's table, ended by a zeroed entry; hidden ones are skipped: a
 * global option with a value completes file names). "users": the user
 * names `--user` would act for, one a line (tool_completion_users).
 * Returns the exit code (2 for an unknown shell, printed). */
int tool_completion_print(struct tool *t, FILE *f, const char *shell,
                          const struct tool_completion_verb *verbs, size_t n,
                          const struct option *options);

#endif
