/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/net/url.h: the rules for a URL the client connects to (base_url,
 * proxy, MKIO_BASE_URL), checked with libcurl's own URL parser so that what
 * is judged is what libcurl will use. Every program that connects reads its
 * configuration with mk_url_rules (store/config.h's mk_config_load_with);
 * the login gate, which never connects, reads it without them.
 *
 * Error convention, as in all of net/ (docs/ARCHITECTURE.md, "Error
 * conventions"): MK_OK, or the failure with err set by mk_error_set.
 */
#ifndef MK_NET_URL_H
#define MK_NET_URL_H

#include "base/mk_error.h"
#include "store/config.h"

/* https://host[:port][/path], or http:// only to 127.0.0.0/8 (a dotted
 * quad), [::1] or localhost. libcurl's curl_url() splits it; the host it
 * would connect to must be the host as written. Anything else is
 * MK_ERR_USAGE with a clear message that never repeats the URL. */
mk_status mk_url_check_base(const char *url, mk_error *err);

/* A proxy: http://, https://, socks5:// or socks5h:// then HOST:PORT, with
 * nothing else (no user name or password, no path). Anything else is
 * MK_ERR_USAGE with a clear message. */
mk_status mk_url_check_proxy(const char *url, mk_error *err);

/* The two above, as the configuration reader takes them. */
extern const struct mk_config_url_rules mk_url_rules;

#endif
