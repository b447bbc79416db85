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

/* A split copy of a line that may hold a password (the shells' completion and history rules):
 * splits a copy of line with ohsm_line_split and returns it (NULL when out of memory); the caller
 * gives it back to ohsm_line_copy_drop with len = strlen(line), which wipes and frees it. */
char *ohsm_line_split_copy(const char *line, char **tok, size_t cap, size_t *ntok);

/* Wipes len bytes of copy and frees it (after a split, strlen no longer covers it). NULL: no-op. */
void ohsm_line_copy_drop(char *copy, size_t len);

#endif
