/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/token_prompt.h: reading a token at `mkio-orgs login` (tool/token_prompt.c). */
#ifndef MKIO_TOOL_TOKEN_PROMPT_H
#define MKIO_TOOL_TOKEN_PROMPT_H

#include "base/mk_error.h"

/* One line from standard input, the token (invariant 5: never an
 * argument). On a terminal the input is hidden behind a prompt, and a
 * signal that ends or stops the tool there (SIGINT, SIGTERM, SIGHUP,
 * SIGQUIT, SIGTSTP) first gives the terminal its echo back. Spaces around
 * it are dropped, and a leading word "Bearer" (pasted from a header) is
 * left out, with a note on stderr. MK_ERR_USAGE for no token or one that
 * cannot be (net/token.h); *token is malloc'd (mk_token_free). */
mk_status prompt_read_token(char **token, mk_error *err);

#endif
