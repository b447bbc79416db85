/* SPDX-License-Identifier: Apache-2.0
 *
 * The EC2 reply writer: a growing buffer with a hard bound. Element names are the caller's
 * constants; text is XML-escaped (&, <, >, ", ' and control characters other than tab/LF/CR are
 * written as "?": XML 1.0 cannot carry them). Any write that does not fit marks the writer
 * failed, and later writes do nothing.
 */
#ifndef OHSM_HTTP_XML_H
#define OHSM_HTTP_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

#define OHSM_XML_MAX_DEFAULT (4u * 1024u * 1024u)

struct ohsm_xml {
    char *buf;
    size_t len;
    size_t cap;
    size_t max; /* the reply bound */
    bool failed;
};

void ohsm_xml_init(struct ohsm_xml *x, size_t max);
/* Appends s as is (the envelope's own markup). */
void ohsm_xml_raw(struct ohsm_xml *x, const char *s);
/* Appends s escaped. */
void ohsm_xml_escaped(struct ohsm_xml *x, const char *s);
/* Frees the buffer (NULL ok); the writer is then empty. */
void ohsm_xml_done(struct ohsm_xml *x);

#endif
