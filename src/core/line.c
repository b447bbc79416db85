/* SPDX-License-Identifier: Apache-2.0
 *
 * The interactive tools' line splitter (see line.h).
 */
#include "core/line.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

bool ohsm_line_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t ohsm_line_split(char *line, char **tok, size_t cap)
{
    size_t n = 0;
    char *p = line;

    while (p != NULL && *p != '\0') {
        while (ohsm_line_is_blank(*p)) {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        if (n < cap) {
            tok[n] = p;
        }
        n++;
        while (*p != '\0' && !ohsm_line_is_blank(*p)) {
            p++;
        }
    }
    return n;
}

char *ohsm_line_split_copy(const char *line, char **tok, size_t cap, size_t *ntok)
{
    char *copy = strdup(line);
    *ntok = 0;
    if (copy == NULL) {
        return NULL;
    }
    *ntok = ohsm_line_split(copy, tok, cap);
    return copy;
}

void ohsm_line_copy_drop(char *copy, size_t len)
{
    if (copy != NULL) {
        OPENSSL_cleanse(copy, len);
        free(copy);
    }
}
