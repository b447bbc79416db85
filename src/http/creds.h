/* SPDX-License-Identifier: Apache-2.0
 *
 * The server's SigV4 credentials: an AWS shared-credentials file (INI: [section] headers,
 * aws_access_key_id / aws_secret_access_key pairs, '#' or ';' comments; other keys such as region
 * are ignored). Secrets are kept in ohsm_secret and the file's bytes are cleansed after parsing.
 * The file must be a regular file that neither its group nor others can read or write (as
 * ~/.aws/credentials should be: 0600). Trusts nothing of the file's content.
 */
#ifndef OHSM_HTTP_CREDS_H
#define OHSM_HTTP_CREDS_H

#include <stddef.h>

#include "openhsm/rv.h"
#include "openhsm/secret.h"

#define OHSM_CREDS_MAX_FILE (64u * 1024u)
#define OHSM_CREDS_MAX_KEYS 256
#define OHSM_CREDS_MAX_AKID 128

struct ohsm_creds;

/* Reads and parses path. Errors: OHSM_CONFIG (unreadable, not a regular file, group/other
 * access, too big, malformed: a message goes to msg, cap bytes), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_creds_load(const char *path, struct ohsm_creds **out, char *msg,
                                       size_t cap);
/* Parses len bytes of buf (the file's content). Errors as ohsm_creds_load. */
OHSM_NODISCARD ohsm_rv ohsm_creds_parse(const char *buf, size_t len, struct ohsm_creds **out,
                                        char *msg, size_t cap);
/* The secret of akid (borrowed), or NULL. */
const struct ohsm_secret *ohsm_creds_find(const struct ohsm_creds *c, const char *akid);
size_t ohsm_creds_count(const struct ohsm_creds *c);
/* Wipes and frees; NULL ok. */
void ohsm_creds_free(struct ohsm_creds *c);

#endif
