/* SPDX-License-Identifier: Apache-2.0
 *
 * Small helpers the entry-point modules share: the growable arrays of the library's tables (session
 * table, session objects, key-facts cache, C_FindObjects results). Trusts its callers (counts are
 * the library's own).
 */
#include <stdint.h>
#include <stdlib.h>

#include "p11.h"

void *p11_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first)
{
    if (n < *cap) {
        return v;
    }
    size_t nc = *cap ? *cap * 2 : first;
    if (nc < *cap || elem == 0 || nc > SIZE_MAX / elem) {
        return NULL;
    }
    void *nv = realloc(v, nc * elem);
    if (nv != NULL) {
        *cap = nc;
    }
    return nv;
}
