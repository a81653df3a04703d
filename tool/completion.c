/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/completion.c: the bash, zsh and fish completions of mkio-orgs,
 * written from the verb table (tool/completion.h). Each command's options
 * and arguments are read from the synopsis --help shows; the shell code
 * around them (finding the command on the line, asking MK.IO for ids only
 * when a token is at hand, asking the tool for users) is the templates
 * below, one per shell. tests/completion-check runs the bash one and checks
 * all three against the tool's --help. */
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "tool/completion.h"
#include "tool/util.h"

/* ---- the shell code around the generated parts -------------------------- */

static const char bash_head[] =
"# SPDX-License-Identifier: LGPL-2.1-or-later\n"
"# bash completion for mkio-orgs(1), written by `mkio-orgs --completion=bash`\n"
"# from the tool's table of commands (the one --help prints), as the zsh and\n"
"# fish completions are: commands, subcommands and options; file names for an\n"
"# option that takes a file; after --user (and for USER), the users the\n"
"# configuration acts for (uid >= min_uid, not in ignore_users), as\n"
"# `mkio-orgs --completion=users` lists them; and organization ids (orgs\n"
"# accept, decline, leave) or invite ids (invite cancel) from MK.IO itself,\n"
"# asked only when a token is at hand (MKIO_TOKEN, --token-file on the line,\n"
"# or ~/.config/mkio/token) and for at most 2 seconds: a Tab never waits\n"
"# longer, and never sends a request that could only fail.\n"
"# Installed as /usr/share/bash-completion/completions/mkio-orgs.\n"
"\n";

static const char bash_ids[] =
"# _mkio_orgs_ids KIND STATE...: ids from `orgs list --json` (KIND orgs) or\n"
"# `invite list --json` (KIND invite) whose \"state\" is one of STATE (any state\n"
"# when none is given). Uses the --config and --token-file of the line.\n"
"_mkio_orgs_ids()\n"
"{\n"
"    local kind=$1\n"
"    shift\n"
"    local -a global=()\n"
"    local i have_token=\n"
"    for ((i = 1; i < ${#_mkio_orgs_words[@]} - 1; i++)); do\n"
"        case ${_mkio_orgs_words[i]} in\n"
"        --config | --token-file)\n"
"            global+=(\"${_mkio_orgs_words[i]}\" \"${_mkio_orgs_words[i + 1]}\")\n"
"            [[ ${_mkio_orgs_words[i]} == --token-file ]] && have_token=1\n"
"            ;;\n"
"        esac\n"
"    done\n"
"    [[ -n ${MKIO_TOKEN-} ]] && have_token=1\n"
"    [[ -n ${HOME-} && -f $HOME/.config/mkio/token ]] && have_token=1\n"
"    [[ -n $have_token ]] || return 0\n"
"    command -v timeout >/dev/null 2>&1 || return 0\n"
"\n"
"    local json\n"
"    json=$(timeout 2 \"${_mkio_orgs_words[0]}\" \"${global[@]}\" \"$kind\" list --json \\\n"
"        2>/dev/null </dev/null) || return 0\n"
"    # json-c writes one \"key\":value pair per line; an object's \"id\" comes\n"
"    # before its \"state\".\n"
"    local id='' line state want\n"
"    while IFS= read -r line; do\n"
"        if [[ $line =~ ^[[:space:]]*\\\"id\\\":[[:space:]]*\\\"([A-Za-z0-9-]+)\\\" ]]; then\n"
"            id=${BASH_REMATCH[1]}\n"
"        elif [[ -n $id && $line =~ ^[[:space:]]*\\\"state\\\":[[:space:]]*\\\"([a-z]+)\\\" ]]; then\n"
"            state=${BASH_REMATCH[1]}\n"
"            if (($# == 0)); then\n"
"                printf '%s\\n' \"$id\"\n"
"            else\n"
"                for want in \"$@\"; do\n"
"                    [[ $state == \"$want\" ]] && printf '%s\\n' \"$id\"\n"
"                done\n"
"            fi\n"
"            id=\n"
"        fi\n"
"    done <<<\"$json\"\n"
"}\n"
"\n"
"# _mkio_orgs_users: the users --user acts for, from the tool itself (with\n"
"# the --config of the line); nothing when it cannot say within 2 seconds.\n"
"_mkio_orgs_users()\n"
"{\n"
"    local -a global=()\n"
"    local i\n"
"    for ((i = 1; i < ${#_mkio_orgs_words[@]} - 1; i++)); do\n"
"        [[ ${_mkio_orgs_words[i]} == --config ]] && global+=(--config \"${_mkio_orgs_words[i + 1]}\")\n"
"    done\n"
"    command -v timeout >/dev/null 2>&1 || return 0\n"
"    timeout 2 \"${_mkio_orgs_words[0]}\" \"${global[@]}\" --completion=users 2>/dev/null </dev/null\n"
"}\n"
"\n"
"_mkio_orgs()\n"
"{\n"
"    local cur prev\n"
"    cur=${COMP_WORDS[COMP_CWORD]}\n"
"    prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
"    local -a _mkio_orgs_words=(\"${COMP_WORDS[@]:0:COMP_CWORD+1}\")\n"
"    COMPREPLY=()\n"
"\n"
"    # What the previous word needs as its value.\n"
"    case $prev in\n";

static const char bash_mid[] =
"    esac\n"
"\n"
"    # The command and subcommand: the first words that are not options (or\n"
"    # the values of the global options that take one).\n"
"    local i word cmd='' sub='' cmd_at=0\n"
"    for ((i = 1; i < COMP_CWORD; i++)); do\n"
"        word=${COMP_WORDS[i]}\n"
"        case $word in\n";

static const char bash_loop[] =
"            [[ -z $cmd ]] && ((i++))\n"
"            continue\n"
"            ;;\n"
"        -*) continue ;;\n"
"        esac\n"
"        if [[ -z $cmd ]]; then\n"
"            cmd=$word\n"
"            cmd_at=$i\n"
"        elif [[ -z $sub ]]; then\n"
"            sub=$word\n"
"            break\n"
"        fi\n"
"    done\n"
"\n";

static const char bash_tail[] =
"    esac\n"
"    [[ -n $opts ]] && mapfile -t COMPREPLY < <(compgen -W \"$opts\" -- \"$cur\")\n"
"    return 0\n"
"}\n"
"complete -F _mkio_orgs mkio-orgs\n";

static const char zsh_head[] =
"#compdef mkio-orgs\n"
"# SPDX-License-Identifier: LGPL-2.1-or-later\n"
"# zsh completion for mkio-orgs(1), written by `mkio-orgs --completion=zsh`\n"
"# from the tool's table of commands, as the bash and fish completions are;\n"
"# it offers what they offer (see the bash one). Installed as\n"
"# /usr/share/zsh/vendor-completions/_mkio-orgs.\n"
"\n"
"# _mkio_orgs_ids KIND STATE...: ids from `orgs list --json` (KIND orgs) or\n"
"# `invite list --json` (KIND invite) whose \"state\" is one of STATE (any state\n"
"# when none is given), only when a token is at hand, within 2 seconds.\n"
"_mkio_orgs_ids()\n"
"{\n"
"    local kind=$1\n"
"    shift\n"
"    local -a global\n"
"    local i have_token=\n"
"    for ((i = 2; i < ${#_mkio_orgs_words[@]}; i++)); do\n"
"        case ${_mkio_orgs_words[i]} in\n"
"        --config | --token-file)\n"
"            global+=(\"${_mkio_orgs_words[i]}\" \"${_mkio_orgs_words[i + 1]}\")\n"
"            [[ ${_mkio_orgs_words[i]} == --token-file ]] && have_token=1\n"
"            ;;\n"
"        esac\n"
"    done\n"
"    [[ -n ${MKIO_TOKEN-} ]] && have_token=1\n"
"    [[ -n ${HOME-} && -f $HOME/.config/mkio/token ]] && have_token=1\n"
"    [[ -n $have_token ]] || return 0\n"
"    command -v timeout >/dev/null 2>&1 || return 0\n"
"\n"
"    local json\n"
"    json=$(timeout 2 \"${_mkio_orgs_words[1]}\" \"${global[@]}\" \"$kind\" list --json \\\n"
"        2>/dev/null </dev/null) || return 0\n"
"    # json-c writes one \"key\":value pair per line; an object's \"id\" comes\n"
"    # before its \"state\".\n"
"    local id='' line state want\n"
"    for line in \"${(@f)json}\"; do\n"
"        if [[ $line =~ '^[[:space:]]*\"id\":[[:space:]]*\"([A-Za-z0-9-]+)\"' ]]; then\n"
"            id=$match[1]\n"
"        elif [[ -n $id && $line =~ '^[[:space:]]*\"state\":[[:space:]]*\"([a-z]+)\"' ]]; then\n"
"            state=$match[1]\n"
"            if (($# == 0)); then\n"
"                print -r -- \"$id\"\n"
"            else\n"
"                for want in \"$@\"; do\n"
"                    [[ $state == \"$want\" ]] && print -r -- \"$id\"\n"
"                done\n"
"            fi\n"
"            id=\n"
"        fi\n"
"    done\n"
"}\n"
"\n"
"# _mkio_orgs_users: the users --user acts for, from the tool itself (with\n"
"# the --config of the line); nothing when it cannot say within 2 seconds.\n"
"_mkio_orgs_users()\n"
"{\n"
"    local -a global\n"
"    local i\n"
"    for ((i = 2; i < ${#_mkio_orgs_words[@]}; i++)); do\n"
"        [[ ${_mkio_orgs_words[i]} == --config ]] && global+=(--config \"${_mkio_orgs_words[i + 1]}\")\n"
"    done\n"
"    command -v timeout >/dev/null 2>&1 || return 0\n"
"    timeout 2 \"${_mkio_orgs_words[1]}\" \"${global[@]}\" --completion=users 2>/dev/null </dev/null\n"
"}\n"
"\n"
"_mkio_orgs_main()\n"
"{\n"
"    local cur=${words[CURRENT]} prev=${words[CURRENT-1]}\n"
"    local -a _mkio_orgs_words\n"
"    _mkio_orgs_words=(\"${(@)words[1,CURRENT]}\")\n"
"\n"
"    # What the previous word needs as its value.\n"
"    case $prev in\n";

static const char zsh_mid[] =
"    esac\n"
"\n"
"    # The command and subcommand: the first words that are not options (or\n"
"    # the values of the global options that take one).\n"
"    local i word cmd='' sub='' cmd_at=0\n"
"    for ((i = 2; i < CURRENT; i++)); do\n"
"        word=${words[i]}\n"
"        case $word in\n";

static const char zsh_loop[] =
"            [[ -z $cmd ]] && ((i++))\n"
"            continue\n"
"            ;;\n"
"        -*) continue ;;\n"
"        esac\n"
"        if [[ -z $cmd ]]; then\n"
"            cmd=$word\n"
"            cmd_at=$i\n"
"        elif [[ -z $sub ]]; then\n"
"            sub=$word\n"
"            break\n"
"        fi\n"
"    done\n"
"\n";

static const char zsh_tail[] =
"    esac\n"
"    [[ -n $opts ]] && compadd -- ${=opts}\n"
"    return 0\n"
"}\n"
"\n"
"_mkio_orgs_main \"$@\"\n";

static const char fish_head[] =
"# SPDX-License-Identifier: LGPL-2.1-or-later\n"
"# fish completion for mkio-orgs(1), written by `mkio-orgs --completion=fish`\n"
"# from the tool's table of commands, as the bash and zsh completions are;\n"
"# it offers what they offer (see the bash one). Installed as\n"
"# /usr/share/fish/vendor_completions.d/mkio-orgs.fish.\n"
"\n"
"# The words of the line before the cursor that are the command, its\n"
"# subcommand and their arguments: not options, nor the value of a global\n"
"# option that takes one.\n"
"function __mkio_orgs_words\n"
"    set -l out\n"
"    set -l skip 0\n"
"    set -l tokens (commandline -opc)\n"
"    set -e tokens[1]\n"
"    for t in $tokens\n"
"        if test $skip = 1\n"
"            set skip 0\n"
"            continue\n"
"        end\n"
"        switch $t\n";

static const char fish_mid[] =
"                if test (count $out) -eq 0\n"
"                    set skip 1\n"
"                end\n"
"                continue\n"
"            case '-*'\n"
"                continue\n"
"        end\n"
"        set -a out $t\n"
"    end\n"
"    test (count $out) -gt 0; and printf '%s\\n' $out\n"
"end\n"
"\n"
"# __mkio_orgs_is WORD...: the line's command (and subcommand) are these.\n"
"function __mkio_orgs_is\n"
"    set -l w (__mkio_orgs_words)\n"
"    test (count $w) -ge (count $argv); or return 1\n"
"    for i in (seq (count $argv))\n"
"        test \"$w[$i]\" = \"$argv[$i]\"; or return 1\n"
"    end\n"
"end\n"
"\n"
"# __mkio_orgs_at WORD...: they are, and nothing follows them yet.\n"
"function __mkio_orgs_at\n"
"    __mkio_orgs_is $argv; and test (count (__mkio_orgs_words)) -eq (count $argv)\n"
"end\n"
"\n"
"# __mkio_orgs_ids KIND STATE...: ids from `orgs list --json` (KIND orgs) or\n"
"# `invite list --json` (KIND invite) whose \"state\" is one of STATE (any state\n"
"# when none is given), only when a token is at hand, within 2 seconds.\n"
"function __mkio_orgs_ids\n"
"    set -l kind $argv[1]\n"
"    set -e argv[1]\n"
"    set -l line (commandline -opc)\n"
"    set -l global\n"
"    set -l have_token\n"
"    for i in (seq 2 (math (count $line) - 1))\n"
"        switch $line[$i]\n"
"            case --config --token-file\n"
"                set -a global $line[$i] $line[(math $i + 1)]\n"
"                test $line[$i] = --token-file; and set have_token 1\n"
"        end\n"
"    end\n"
"    set -q MKIO_TOKEN; and test -n \"$MKIO_TOKEN\"; and set have_token 1\n"
"    set -q HOME; and test -f $HOME/.config/mkio/token; and set have_token 1\n"
"    test -n \"$have_token\"; or return 0\n"
"    command -q timeout; or return 0\n"
"    set -l id\n"
"    for l in (timeout 2 $line[1] $global $kind list --json 2>/dev/null </dev/null)\n"
"        set -l m (string match -r -g '^\\s*\"id\":\\s*\"([A-Za-z0-9-]+)\"' -- $l)\n"
"        if test -n \"$m\"\n"
"            set id $m\n"
"            continue\n"
"        end\n"
"        set -l s (string match -r -g '^\\s*\"state\":\\s*\"([a-z]+)\"' -- $l)\n"
"        if test -n \"$id\" -a -n \"$s\"\n"
"            if test (count $argv) -eq 0; or contains -- $s $argv\n"
"                echo $id\n"
"            end\n"
"            set id\n"
"        end\n"
"    end\n"
"end\n"
"\n"
"# __mkio_orgs_users: the users --user acts for, from the tool itself (with\n"
"# the --config of the line); nothing when it cannot say within 2 seconds.\n"
"function __mkio_orgs_users\n"
"    set -l line (commandline -opc)\n"
"    set -l global\n"
"    for i in (seq 2 (math (count $line) - 1))\n"
"        test $line[$i] = --config; and set -a global --config $line[(math $i + 1)]\n"
"    end\n"
"    command -q timeout; or return 0\n"
"    timeout 2 $line[1] $global --completion=users 2>/dev/null </dev/null\n"
"end\n"
"\n"
"# No file names unless an option takes a file.\n"
"complete -c mkio-orgs -f\n";
/* ---- the model: each command's options and arguments ------------------- */

/* What a word completes to. */
enum comp_kind {
    COMP_NONE,        /* an option without a value; no argument */
    COMP_VALUE,       /* a value nothing can guess (EMAIL, N) */
    COMP_USER,        /* a user the configuration acts for */
    COMP_FILE,        /* a file name */
    COMP_ORG_PENDING, /* an organization with a pending invite */
    COMP_ORG_JOINED,  /* an organization the user belongs to */
    COMP_INVITE,      /* a pending invite */
};

#define COMP_MAX_OPTS 16
#define COMP_MAX_CMDS 64

struct comp_opt {
    char name[40];    /* "--email" */
    enum comp_kind kind;
};

struct comp_cmd {
    const char *name, *sub;
    struct comp_opt opts[COMP_MAX_OPTS];
    size_t opt_count;
    enum comp_kind positional; /* the first argument, COMP_NONE: none */
};

struct comp_model {
    struct comp_cmd cmds[COMP_MAX_CMDS];
    size_t count;
    struct comp_opt globals[COMP_MAX_OPTS];
    size_t global_count;
};

/* The global options completion never offers. */
static bool comp_hidden(const char *name)
{
    return strcmp(name, "token") == 0 || strcmp(name, "completion") == 0;
}

/* The value an upper-case word after an option stands for. */
static enum comp_kind comp_value_kind(const char *word)
{
    if (strncmp(word, "USER", 4) == 0)
        return COMP_USER;
    if (strncmp(word, "FILE", 4) == 0)
        return COMP_FILE;
    return COMP_VALUE;
}

/* A positional argument's kind: an organization id a leave takes is one
 * the user belongs to; one accept or decline takes, one with an invite. */
static enum comp_kind comp_positional_kind(const char *word, const char *sub)
{
    if (strcmp(word, "ORG_ID") == 0)
        return sub && strcmp(sub, "leave") == 0 ? COMP_ORG_JOINED : COMP_ORG_PENDING;
    if (strcmp(word, "INVITE_ID") == 0)
        return COMP_INVITE;
    if (strncmp(word, "USER", 4) == 0)
        return COMP_USER;
    return COMP_VALUE;
}

/* Reads a synopsis ("ORG_ID [--yes]", "--email EMAIL [--team TEAM]...")
 * into c: its options, the value each takes, its first argument. */
static void comp_read_args(struct comp_cmd *c, const char *args)
{
    char copy[512], *save = NULL;
    bool after_option = false;
    snprintf(copy, sizeof(copy), "%s", args ? args : "");
    for (char *p = copy; *p; p++)
        if (strchr("[]()|", *p))
            *p = ' ';
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (strncmp(w, "--", 2) == 0 && c->opt_count < COMP_MAX_OPTS) {
            struct comp_opt *o = &c->opts[c->opt_count++];
            snprintf(o->name, sizeof(o->name), "%.*s", (int)strcspn(w, "=."), w);
            o->kind = COMP_NONE;
            after_option = true;
            continue;
        }
        if (*w >= 'A' && *w <= 'Z') {
            if (after_option)
                c->opts[c->opt_count - 1].kind = comp_value_kind(w);
            else if (c->positional == COMP_NONE)
                c->positional = comp_positional_kind(w, c->sub);
        }
        after_option = false;
    }
}

static void comp_model_make(struct comp_model *m, const struct tool_completion_verb *verbs,
                            size_t n, const struct option *options)
{
    memset(m, 0, sizeof(*m));
    for (size_t i = 0; i < n && m->count < COMP_MAX_CMDS; i++) {
        struct comp_cmd *c = &m->cmds[m->count++];
        c->name = verbs[i].name;
        c->sub = verbs[i].sub;
        comp_read_args(c, verbs[i].args);
    }
    for (const struct option *o = options; o->name && m->global_count < COMP_MAX_OPTS; o++) {
        if (comp_hidden(o->name))
            continue;
        struct comp_opt *g = &m->globals[m->global_count++];
        snprintf(g->name, sizeof(g->name), "--%s", o->name);
        g->kind = o->has_arg == required_argument ? COMP_FILE : COMP_NONE;
    }
}

/* Whether name has sub-commands in the model. */
static bool comp_has_subs(const struct comp_model *m, const char *name)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->cmds[i].name, name) == 0 && m->cmds[i].sub)
            return true;
    return false;
}

/* Whether cmds[i] is the first of the model with its name. */
static bool comp_first_of_name(const struct comp_model *m, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(m->cmds[j].name, m->cmds[i].name) == 0)
            return false;
    return true;
}

/* Each option (of c, or the globals when c is NULL) whose value is of
 * kind, or every option for COMP_NONE; sep between them. */
static void comp_put_opts(FILE *f, const struct comp_model *m, const struct comp_cmd *c,
                          bool all, enum comp_kind kind, const char *sep, bool *first)
{
    const struct comp_opt *opts = c ? c->opts : m->globals;
    size_t count = c ? c->opt_count : m->global_count;
    for (size_t i = 0; i < count; i++) {
        if (!all && opts[i].kind != kind)
            continue;
        fprintf(f, "%s%s", *first ? "" : sep, opts[i].name);
        *first = false;
    }
}

/* Every option of every command and the globals whose value is of kind,
 * once each, separated by sep. Nothing written: *first stays true. */
static void comp_put_valued(FILE *f, const struct comp_model *m, enum comp_kind kind,
                            const char *sep, bool *first)
{
    char seen[COMP_MAX_CMDS * 4][40];
    size_t seen_count = 0;
    for (size_t i = 0; i <= m->count; i++) {
        const struct comp_opt *opts = i < m->count ? m->cmds[i].opts : m->globals;
        size_t count = i < m->count ? m->cmds[i].opt_count : m->global_count;
        for (size_t k = 0; k < count; k++) {
            bool dup = opts[k].kind != kind;
            for (size_t s = 0; s < seen_count && !dup; s++)
                dup = strcmp(seen[s], opts[k].name) == 0;
            if (dup || seen_count == sizeof(seen) / sizeof(seen[0]))
                continue;
            memcpy(seen[seen_count++], opts[k].name, sizeof(seen[0]));
            fprintf(f, "%s%s", *first ? "" : sep, opts[k].name);
            *first = false;
        }
    }
}

/* ---- bash and zsh: one case per command --------------------------------- */

/* How a shell completes a positional argument or an option's value. */
struct comp_shell {
    const char *cword;                      /* "COMP_CWORD", "CURRENT" */
    void (*put)(FILE *f, enum comp_kind k); /* the completing line(s), indented */
};

static const char *comp_ids_args(enum comp_kind k)
{
    return k == COMP_ORG_JOINED ? "orgs joined" : k == COMP_INVITE ? "invite pending"
                                                                  : "orgs pending";
}

static void comp_bash_put(FILE *f, enum comp_kind k)
{
    if (k == COMP_USER)
        fputs("mapfile -t COMPREPLY < <(compgen -W \"$(_mkio_orgs_users)\" -- \"$cur\")\n", f);
    else if (k == COMP_FILE)
        fputs("mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
              "        compopt -o filenames 2>/dev/null\n", f);
    else
        fprintf(f, "mapfile -t COMPREPLY < <(compgen -W \"$(_mkio_orgs_ids %s)\" -- \"$cur\")\n",
                comp_ids_args(k));
}

static void comp_zsh_put(FILE *f, enum comp_kind k)
{
    if (k == COMP_USER)
        fputs("compadd -- ${(f)\"$(_mkio_orgs_users)\"}\n", f);
    else if (k == COMP_FILE)
        fputs("_files\n", f);
    else
        fprintf(f, "compadd -- ${(f)\"$(_mkio_orgs_ids %s)\"}\n", comp_ids_args(k));
}

/* The previous word's cases: options whose value is a file, a user, or
 * something to type. */
static void comp_put_prev(FILE *f, const struct comp_model *m, const struct comp_shell *sh)
{
    static const enum comp_kind kinds[] = { COMP_FILE, COMP_USER, COMP_VALUE };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        bool first = true;
        fputs("    ", f);
        comp_put_valued(f, m, kinds[i], " | ", &first);
        if (first) {
            fputs("--)\n        ;;\n", f); /* none: a pattern nothing needs */
            continue;
        }
        fputs(")\n", f);
        if (kinds[i] != COMP_VALUE) {
            fputs("        ", f);
            sh->put(f, kinds[i]);
        }
        fputs("        return 0\n        ;;\n", f);
    }
}

/* One command's body: its options, or at the argument's place the
 * argument. indent: the body's. */
static void comp_put_body(FILE *f, const struct comp_model *m, const struct comp_cmd *c,
                          const struct comp_shell *sh, const char *indent)
{
    bool first = true;
    if (c->positional == COMP_NONE || c->positional == COMP_VALUE) {
        fputs(" opts=\"", f);
        comp_put_opts(f, m, c, true, COMP_NONE, " ", &first);
        fprintf(f, "%s--help\" ;;\n", first ? "" : " ");
        return;
    }
    fprintf(f, "\n%s    if [[ $cur == -* ]]; then\n%s        opts=\"", indent, indent);
    comp_put_opts(f, m, c, true, COMP_NONE, " ", &first);
    fprintf(f, "%s--help\"\n", first ? "" : " ");
    fprintf(f, "%s    elif ((%s == cmd_at + %d)); then\n%s        ", indent, sh->cword,
            c->sub ? 2 : 1, indent);
    sh->put(f, c->positional);
    fprintf(f, "%s        return 0\n%s    fi\n%s    ;;\n", indent, indent, indent);
}

/* The case of each command, and the global options before one. */
static void comp_put_cases(FILE *f, const struct comp_model *m, const struct comp_shell *sh)
{
    bool first = true;
    fputs("    local commands=\"", f);
    for (size_t i = 0; i < m->count; i++) {
        if (!comp_first_of_name(m, i))
            continue;
        fprintf(f, "%s%s", first ? "" : " ", m->cmds[i].name);
        first = false;
    }
    fputs("\"\n    local opts=\n    case $cmd in\n    \"\")\n"
          "        if [[ $cur == -* ]]; then\n            opts=\"", f);
    first = true;
    comp_put_opts(f, m, NULL, true, COMP_NONE, " ", &first);
    fputs("\"\n        else\n            opts=$commands\n        fi\n        ;;\n", f);
    for (size_t i = 0; i < m->count; i++) {
        const struct comp_cmd *c = &m->cmds[i];
        if (!comp_first_of_name(m, i) || strcmp(c->name, "help") == 0)
            continue;
        if (!comp_has_subs(m, c->name)) {
            fprintf(f, "    %s)", c->name);
            comp_put_body(f, m, c, sh, "    ");
            continue;
        }
        fprintf(f, "    %s)\n        case $sub in\n        \"\") opts=\"", c->name);
        first = true;
        for (size_t j = i; j < m->count; j++) {
            if (strcmp(m->cmds[j].name, c->name) != 0 || !m->cmds[j].sub)
                continue;
            fprintf(f, "%s%s", first ? "" : " ", m->cmds[j].sub);
            first = false;
        }
        fputs("\"; [[ $cur == -* ]] && opts=--help ;;\n", f);
        for (size_t j = i; j < m->count; j++) {
            if (strcmp(m->cmds[j].name, c->name) != 0 || !m->cmds[j].sub)
                continue;
            fprintf(f, "        %s)", m->cmds[j].sub);
            comp_put_body(f, m, &m->cmds[j], sh, "        ");
        }
        fputs("        esac\n        ;;\n", f);
    }
}

/* bash or zsh: the templates around the generated parts. */
static void comp_put_sh(FILE *f, const struct comp_model *m, bool zsh)
{
    static const struct comp_shell bash = { "COMP_CWORD", comp_bash_put };
    static const struct comp_shell zshell = { "CURRENT", comp_zsh_put };
    const struct comp_shell *sh = zsh ? &zshell : &bash;
    bool first = true;

    if (zsh) {
        fputs(zsh_head, f);
    } else {
        fputs(bash_head, f);
        fputs(bash_ids, f);
    }
    comp_put_prev(f, m, sh);
    fputs(zsh ? zsh_mid : bash_mid, f);
    fputs("        ", f);
    comp_put_valued(f, m, COMP_FILE, " | ", &first);
    fputs(first ? "--)\n" : ")\n", f);
    fputs(zsh ? zsh_loop : bash_loop, f);
    comp_put_cases(f, m, sh);
    fputs(zsh ? zsh_tail : bash_tail, f);
}

/* ---- fish: one complete line per word ----------------------------------- */

static const char *comp_fish_args(enum comp_kind k)
{
    return k == COMP_USER ? " -x -a '(__mkio_orgs_users)'" : k == COMP_FILE ? " -r -F"
         : k == COMP_VALUE ? " -x" : k == COMP_NONE ? ""
         : k == COMP_ORG_JOINED ? " -a '(__mkio_orgs_ids orgs joined)'"
         : k == COMP_INVITE ? " -a '(__mkio_orgs_ids invite pending)'"
         : " -a '(__mkio_orgs_ids orgs pending)'";
}

/* "NAME" or "NAME SUB" of c. */
static void comp_fish_words(char *out, size_t size, const struct comp_cmd *c)
{
    snprintf(out, size, "%s%s%s", c->name, c->sub ? " " : "", c->sub ? c->sub : "");
}

static void comp_put_fish(FILE *f, const struct comp_model *m)
{
    char words[128];
    bool first = true;

    fputs(fish_head, f);
    fputs("            case ", f);
    comp_put_valued(f, m, COMP_FILE, " ", &first);
    fputs(first ? "--\n" : "\n", f);
    fputs(fish_mid, f);
    fputs("\n# The global options, before the command.\n", f);
    for (size_t i = 0; i < m->global_count; i++)
        fprintf(f, "complete -c mkio-orgs -n 'test (count (__mkio_orgs_words)) -eq 0' -l %s%s\n",
                m->globals[i].name + 2, comp_fish_args(m->globals[i].kind));
    fputs("\n# The commands.\ncomplete -c mkio-orgs -n 'test (count (__mkio_orgs_words)) -eq 0' -a '",
          f);
    first = true;
    for (size_t i = 0; i < m->count; i++) {
        if (!comp_first_of_name(m, i))
            continue;
        fprintf(f, "%s%s", first ? "" : " ", m->cmds[i].name);
        first = false;
    }
    fputs("'\n", f);
    for (size_t i = 0; i < m->count; i++) {
        const struct comp_cmd *c = &m->cmds[i];
        if (comp_first_of_name(m, i) && comp_has_subs(m, c->name)) {
            fprintf(f, "\n# %s's subcommands.\ncomplete -c mkio-orgs -n '__mkio_orgs_at %s' -a '",
                    c->name, c->name);
            first = true;
            for (size_t j = i; j < m->count; j++) {
                if (strcmp(m->cmds[j].name, c->name) != 0 || !m->cmds[j].sub)
                    continue;
                fprintf(f, "%s%s", first ? "" : " ", m->cmds[j].sub);
                first = false;
            }
            fputs("'\n", f);
        }
        if (strcmp(c->name, "help") == 0 || (!c->sub && comp_has_subs(m, c->name)))
            continue;
        comp_fish_words(words, sizeof(words), c);
        fprintf(f, "\n# mkio-orgs %s\n", words);
        for (size_t k = 0; k < c->opt_count; k++)
            fprintf(f, "complete -c mkio-orgs -n '__mkio_orgs_is %s' -l %s%s\n", words,
                    c->opts[k].name + 2, comp_fish_args(c->opts[k].kind));
        fprintf(f, "complete -c mkio-orgs -n '__mkio_orgs_is %s' -l help\n", words);
        if (c->positional != COMP_NONE && c->positional != COMP_VALUE)
            fprintf(f, "complete -c mkio-orgs -n '__mkio_orgs_at %s'%s\n", words,
                    comp_fish_args(c->positional));
    }
}

/* ---- users -------------------------------------------------------------- */

/* The users the configuration acts for: min_uid and ignore_users
 * (mk_config_user_ignored), from the password database. */
static int comp_put_users(struct tool *t, FILE *f)
{
    int rc = tool_load_config(t);
    if (rc)
        return rc;
    setpwent();
    for (struct passwd *pw; (pw = getpwent()) != NULL;)
        if (!mk_config_user_ignored(&t->cfg, pw->pw_name, pw->pw_uid))
            fprintf(f, "%s\n", pw->pw_name);
    endpwent();
    return TOOL_EXIT_OK;
}

int tool_completion_print(struct tool *t, FILE *f, const char *shell,
                          const struct tool_completion_verb *verbs, size_t n,
                          const struct option *options)
{
    struct comp_model *m = NULL;
    if (strcmp(shell, "users") == 0)
        return comp_put_users(t, f);
    if (strcmp(shell, "bash") != 0 && strcmp(shell, "zsh") != 0 && strcmp(shell, "fish") != 0)
        return tool_usage(NULL, "--completion takes bash, zsh, fish or users, not '%s'", shell);
    m = malloc(sizeof(*m));
    if (!m) {
        tool_error("out of memory");
        return TOOL_EXIT_LOCAL;
    }
    comp_model_make(m, verbs, n, options);
    if (strcmp(shell, "fish") == 0)
        comp_put_fish(f, m);
    else
        comp_put_sh(f, m, strcmp(shell, "zsh") == 0);
    free(m);
    return TOOL_EXIT_OK;
}
