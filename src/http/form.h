/* SPDX-License-Identifier: Apache-2.0
 *
 * application/x-www-form-urlencoded decoding (EC2 Query bodies, query strings): percent-escapes
 * decoded, '+' as space, malformed escapes, NUL bytes, invalid UTF-8, a name given twice and more
 * than OHSM_FORM_MAX_PARAMS parameters refused. Trusts nothing of its input.
 */
#ifndef OHSM_HTTP_FORM_H
#define OHSM_HTTP_FORM_H

#include <stddef.h>

#include "http/http.h"

#define OHSM_FORM_MAX_PARAMS 1000

/* Flags of ohsm_form_parse. */
#define OHSM_FORM_ALLOW_DUP 1u /* keep repeated names (SigV4 canonical query strings) */

/* Decodes len bytes of in (need not be NUL-terminated) into *out (caller frees with
 * ohsm_form_free). Empty segments ("a=1&&b=2") are skipped; a segment without '=' is a name
 * with an empty value. Errors: OHSM_ARGUMENTS_BAD (malformed: a message goes to msg, cap
 * bytes), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_form_parse(const char *in, size_t len, unsigned flags,
                                       struct ohsm_form **out, char *msg, size_t cap);
void ohsm_form_free(struct ohsm_form *f);

#endif
