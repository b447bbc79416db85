/* SPDX-License-Identifier: Apache-2.0
 *
 * jansson allocations that are wiped when freed (jalloc.h). Request bodies hold plaintexts, data
 * keys and key material in base64 (Encrypt's Plaintext, Decrypt's and GenerateDataKey's replies,
 * seed files), and jansson copies every string it parses or builds into its own allocations; with
 * this hook each block jansson frees is cleansed first, so no secret outlives its request in
 * freed heap. Blocks come from plain malloc, so what jansson hands out (json_dumps' text, freed by
 * callers with free()) stays compatible; the wipe covers the whole block (malloc_usable_size,
 * glibc).
 */
#include "kms/jalloc.h"

#include <malloc.h>
#include <stdlib.h>

#include <jansson.h>
#include <openssl/crypto.h>

static void wiping_free(void *p)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, malloc_usable_size(p));
        free(p);
    }
}

void ohsm_kms_json_wipe_on_free(void)
{
    json_set_alloc_funcs(malloc, wiping_free);
}
