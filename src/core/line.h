/* SPDX-License-Identifier: Apache-2.0
 *
 * The line splitter of the interactive tools (cloudhsm_mgmt_util and key_mgmt_util read lines of
 * blank-separated words: spaces, tabs, CR, LF). Pure; the line is untrusted input.
 */
#ifndef OHSM_LINE_H
#define OHSM_LINE_H

#include <stdbool.h>
#include <stddef.h>

/* Space, tab, CR or LF: what separates words. */
bool ohsm_line_is_blank(char c);

/* Splits line in place into words (blanks become NULs); tok[0 .. min(n, cap)) point into line.
 * Returns the number of words, which may exceed cap (the caller refuses such a line). line may be
 * NULL (no words). */
size_t ohsm_line_split(char *line, char **tok, size_t cap);

#endif
