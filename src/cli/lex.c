/* SPDX-License-Identifier: Apache-2.0
 *
 * Splits a line typed into the openhsm-cli shell into words, in place, with the quoting a shell
 * user expects (single quotes literal, double quotes with \" and \\, backslash escapes), so that a
 * password or label with blanks can be given. The line is untrusted: every quote must close and the
 * number of words is capped. The output never grows past the input, so no allocation is needed.
 */
#include <string.h>

#include "cli/grammar.h"

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

ohsm_rv ohsm_cli_split(char *line, char **argv, size_t cap, size_t *argc, char *err, size_t errcap)
{
    /* Invariant: w <= r, so writing at w never clobbers unread input. */
    char *r = line;
    char *w = line;
    size_t n = 0;

    *argc = 0;
    for (;;) {
        while (blank(*r)) {
            r++;
        }
        if (*r == '\0') {
            break;
        }
        if (n >= cap) {
            (void)ohsm_cli_fmt(err, errcap, "too many words on the line (at most %zu)", cap);
            return OHSM_ARGUMENTS_BAD;
        }
        argv[n++] = w;
        while (*r != '\0' && !blank(*r)) {
            char q = *r;
            if (q == '\'' || q == '"') {
                r++;
                while (*r != '\0' && *r != q) {
                    if (q == '"' && r[0] == '\\' && (r[1] == '"' || r[1] == '\\')) {
                        r++;
                    }
                    *w++ = *r++;
                }
                if (*r == '\0') {
                    (void)ohsm_cli_fmt(err, errcap, "unterminated %s quote",
                                       q == '"' ? "double" : "single");
                    return OHSM_ARGUMENTS_BAD;
                }
                r++;
            } else if (q == '\\') {
                r++;
                if (*r == '\0') {
                    (void)ohsm_cli_fmt(err, errcap, "trailing backslash");
                    return OHSM_ARGUMENTS_BAD;
                }
                *w++ = *r++;
            } else {
                *w++ = *r++;
            }
        }
        bool at_end = *r == '\0';
        *w++ = '\0';
        if (at_end) {
            break;
        }
        r++;
    }
    *argc = n;
    return OHSM_OK;
}
