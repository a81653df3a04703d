/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tool/doctor_token.h: the tls and token checks of mkio-orgs doctor
 * (tool/doctor_token.c), the ones that ask MK.IO. */
#ifndef MKIO_TOOL_DOCTOR_TOKEN_H
#define MKIO_TOOL_DOCTOR_TOKEN_H

struct doctor;

/* As root: one request with a probe token for tls, then a token line per
 * token file under token_dir and per user of the store without one. As a
 * user: the caller's own token, whose request is also the tls check. Each
 * says "not checked" when the configuration did not load. */
void doctor_check_tls_and_tokens(struct doctor *d);

#endif
