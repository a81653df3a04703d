/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/token_prompt.c: the hidden prompt of `mkio-orgs login`
 * (tool/token_prompt.h). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "base/text.h"
#include "net/token.h"
#include "tool/token_prompt.h"

/* The terminal as it was before the hidden prompt, for the signal
 * handlers: a signal that ends or stops the tool there must not leave the
 * terminal without echo (issue 19). */
static struct termios prompt_saved, prompt_quiet;
static volatile sig_atomic_t prompt_active;
static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
static struct sigaction prompt_old[5];

/* Restores the terminal, then takes the signal's own action (the default,
 * re-raised): tcsetattr, sigaction and raise are async-signal-safe. After
 * a stop (SIGTSTP) and SIGCONT the echo goes off again. */
static void prompt_on_signal(int sig)
{
    int saved_errno = errno;
    if (prompt_active)
        tcsetattr(STDIN_FILENO, TCSANOW, &prompt_saved);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, sig);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    raise(sig);
    /* Here only after SIGTSTP, once continued: hide the input again. */
    struct sigaction again;
    memset(&again, 0, sizeof(again));
    again.sa_handler = prompt_on_signal;
    sigemptyset(&again.sa_mask);
    sigaction(sig, &again, NULL);
    if (prompt_active)
        tcsetattr(STDIN_FILENO, TCSANOW, &prompt_quiet);
    errno = saved_errno;
}

/* Installs (on) or takes back (off) the handlers of prompt_signals. */
static void prompt_handlers(bool on)
{
    for (size_t i = 0; i < sizeof(prompt_signals) / sizeof(prompt_signals[0]); i++) {
        if (!on) {
            sigaction(prompt_signals[i], &prompt_old[i], NULL);
            continue;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = prompt_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(prompt_signals[i], &sa, &prompt_old[i]);
    }
}

/* A pasted "Bearer TOKEN" (the header's form) is the token without the
 * word: said once on stderr, and taken. */
static const char *strip_bearer(const char *text)
{
    if (strncasecmp(text, "Bearer", 6) != 0 || !mk_ascii_space((unsigned char)text[6]))
        return text;
    const char *rest = text + 6;
    while (mk_ascii_space((unsigned char)*rest))
        rest++;
    if (!*rest)
        return text;
    fputs("mkio-orgs: note: left out the word \"Bearer\" before the token (only the token "
          "itself is saved)\n", stderr);
    return rest;
}

mk_status prompt_read_token(char **token, mk_error *err)
{
    mk_status st = MK_OK;
    struct termios saved, quiet;
    bool restore = false;
    size_t used = 0;
    char *buf = malloc(MK_TOKEN_MAX_BYTES + 2);

    *token = NULL;
    if (!buf)
        return mk_error_set(err, MK_ERR_NOMEM, "out of memory");
    if (isatty(STDIN_FILENO)) {
        /* Echo off before the prompt, so nothing typed after it shows. */
        if (tcgetattr(STDIN_FILENO, &saved) == 0) {
            quiet = saved;
            quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
            prompt_saved = saved;
            prompt_quiet = quiet;
            prompt_active = 1;
            prompt_handlers(true);
            restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
            if (!restore) {
                prompt_active = 0;
                prompt_handlers(false);
            }
        }
        fputs("MK.IO token (input hidden): ", stderr);
        fflush(stderr);
    }
    for (;;) {
        char c;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = mk_error_set(err, MK_ERR_IO, "cannot read standard input: %s", strerror(errno));
            goto out;
        }
        if (n == 0 || c == '\n')
            break;
        if (used > MK_TOKEN_MAX_BYTES) {
            st = mk_error_set(err, MK_ERR_USAGE, "the token is longer than %d bytes",
                              MK_TOKEN_MAX_BYTES);
            goto out;
        }
        buf[used++] = c;
    }
    while (used > 0 && mk_ascii_space((unsigned char)buf[used - 1]))
        used--;
    size_t start = 0;
    while (start < used && mk_ascii_space((unsigned char)buf[start]))
        start++;
    buf[used] = '\0';
    if (start == used) {
        st = mk_error_set(err, MK_ERR_USAGE, "no token on standard input");
        goto out;
    }
    const char *value = strip_bearer(buf + start);
    if ((st = mk_token_check_value(value, err)) != MK_OK)
        goto out;
    *token = strdup(value);
    if (!*token)
        st = mk_error_set(err, MK_ERR_NOMEM, "out of memory");
out:
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        prompt_active = 0;
        prompt_handlers(false);
        fputc('\n', stderr);
    }
    explicit_bzero(buf, MK_TOKEN_MAX_BYTES + 2);
    free(buf);
    return st;
}

