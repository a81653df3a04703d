/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/store/nss_oracle.h: the system's NSS as an oracle of other group
 * sources (grouppolicy.h, invariant 3).
 *
 * getgrgid_r and getgrnam_r through every source nsswitch.conf names (ours
 * included: the policy does not count the organization's own current
 * entry). Each lookup grows its buffer on ERANGE (up to 16 MiB) and answers
 * as the oracle promises: 1 found, 0 none ("not found" comes back in
 * several spellings, getgrgid_r(3)), or a negative errno. Thread-safe.
 */
#ifndef MK_NSS_ORACLE_H
#define MK_NSS_ORACLE_H

#include "store/grouppolicy.h"

/* The oracle over the system's NSS (static: never freed). */
const struct mk_group_oracle *mk_nss_oracle(void);

#endif
