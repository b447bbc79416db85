/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: KMS ciphertext blobs (src/kms/blob.c) and the decryption path behind them.
 * Input: a blob as a Decrypt request would carry it. The parser must accept or refuse without
 * reading out of bounds; what it accepts is then opened with AES-256-GCM under a fixed test key
 * with the blob's header as additional data, which must fail cleanly (the fuzzer cannot forge a
 * tag) -- this exercises the exact slicing Decrypt does. A second pass encodes the input, read as
 * JSON, as an encryption context.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kms/blob.h"
#include "openhsm/mech.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    struct ohsm_kms_blob b;
    uint8_t out[OHSM_KMS_PLAINTEXT_MAX + OHSM_KMS_BLOB_TAG];
    size_t n = 0;

    if (ohsm_kms_blob_parse(data, size, &b) == OHSM_OK) {
        struct ohsm_mech_key mk = {
            .cls = OHSM_CLASS_SECRET, .ktype = OHSM_KT_AES, .raw = key, .raw_len = sizeof(key)};
        struct ohsm_mech_params p = {.mech = OHSM_M_AES_GCM,
                                     .iv = b.iv,
                                     .iv_len = OHSM_KMS_BLOB_IV,
                                     .aad = b.hdr,
                                     .aad_len = OHSM_KMS_BLOB_HDR};
        if (b.ct_len > sizeof(out) || b.version == 0) {
            __builtin_trap();
        }
        (void)ohsm_mech_decrypt(&mk, &p, b.ct, b.ct_len, out, sizeof(out), &n);
    }
    json_error_t e;
    json_t *ctx = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
    if (ctx != NULL) {
        uint8_t *enc = NULL;
        size_t len = 0;
        (void)ohsm_kms_context_encode(ctx, &enc, &len);
        free(enc);
        json_decref(ctx);
    }
    return 0;
}
