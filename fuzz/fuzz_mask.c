/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for masked objects under a fixed masking key (the seeds in fuzz/corpus/mask
 * are objects sealed under it). The input is opened as every kind and as a key object; then it
 * is sealed as a key record and opened again, which must succeed exactly when the record decodes,
 * so the fuzzer also reaches the record decoder behind an authentic tag.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openhsm/mask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed key: bytes 0, 1, ... 31. */
static struct ohsm_mask_key *fixed_key(void)
{
    static struct ohsm_mask_key *k;
    uint8_t mk[OHSM_MASKING_KEY_LEN];
    if (k == NULL) {
        for (size_t i = 0; i < sizeof(mk); i++) {
            mk[i] = (uint8_t)i;
        }
        if (ohsm_mask_key_new(mk, &k) != OHSM_OK) {
            abort();
        }
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t material[32] = {7};
    struct ohsm_mask_key *k = fixed_key();
    const enum ohsm_mask_kind kinds[] = {OHSM_MASK_KEY, OHSM_MASK_USER, OHSM_MASK_TOMBSTONE};
    const uint8_t *rec = NULL;
    size_t rec_len = 0;
    struct ohsm_secret *s = NULL;
    struct ohsm_obj o, d;
    uint8_t *m = NULL;
    size_t n = 0;

    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (ohsm_mask_open(k, kinds[i], data, size, &rec, &rec_len, &s) == OHSM_OK) {
            if (rec < data || rec_len > size || (size_t)(rec - data) > size - rec_len) {
                abort(); /* the record must point inside the input */
            }
            ohsm_secret_free(s);
        } else if (rec != NULL || s != NULL) {
            abort(); /* a failed open returns nothing */
        }
    }
    if (ohsm_mask_open_obj(k, data, size, &o, &s) == OHSM_OK) {
        ohsm_secret_free(s);
    }

    if (ohsm_mask_seal(k, OHSM_MASK_KEY, data, size, material, sizeof(material), &m, &n) ==
        OHSM_OK) {
        bool decodes = ohsm_obj_decode(data, size, &d) == OHSM_OK;
        ohsm_rv rv = ohsm_mask_open_obj(k, m, n, &o, &s);
        if ((rv == OHSM_OK) != decodes) {
            abort();
        }
        if (rv == OHSM_OK) {
            if (ohsm_secret_len(s) != sizeof(material) ||
                memcmp(ohsm_secret_data(s), material, sizeof(material)) != 0) {
                abort();
            }
            ohsm_secret_free(s);
        }
        free(m);
    }
    return 0;
}
