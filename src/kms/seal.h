/* SPDX-License-Identifier: Apache-2.0
 *
 * Sealing of KMS key material under the service root key. The root key is an AES-256 key that
 * never leaves an HSM: openhsmd runs a hidden internal cluster of its own (root.c; as AWS KMS
 * keeps its root keys in its own HSM fleet), logs in there as a crypto user only it knows, and
 * asks that HSM to encrypt (seal) and decrypt (unseal) with AES-256-GCM. aad binds a sealed blob
 * to what it belongs to (key id and version), so a blob moved to another key does not unseal.
 *
 * The sealer is an interface so the model's unit tests and fuzz targets can use an in-memory
 * sealer (ohsm_kms_sealer_mem) instead of an HSM.
 *
 * Thread-safe: both functions may be called from many threads at once.
 */
#ifndef OHSM_KMS_SEAL_H
#define OHSM_KMS_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

struct ohsm_kms_sealer {
    /* Seals in (a secret) into a new malloc'd blob *out (not secret). Errors: OHSM_DEVICE_ERROR
     * and the HSM's errors (the root HSM unreachable: OHSM_IO / OHSM_TIMEOUT). */
    ohsm_rv (*seal)(void *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len,
                    uint8_t **out, size_t *out_len);
    /* Unseals into out (cap bytes; a secret: the caller wipes it). Errors:
     * OHSM_ENCRYPTED_DATA_INVALID (tampered blob or wrong aad), OHSM_BUFFER_TOO_SMALL, and as
     * seal. */
    ohsm_rv (*unseal)(void *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                      size_t in_len, uint8_t *out, size_t cap, size_t *out_len);
    void *ctx;
};

/* An in-memory sealer with a random AES-256 key (tests, fuzzing): AES-256-GCM, blob =
 * iv (12) || ciphertext || tag (16). *out and *ctx_out: free with ohsm_kms_sealer_mem_free. */
OHSM_NODISCARD ohsm_rv ohsm_kms_sealer_mem(struct ohsm_kms_sealer *out);
void ohsm_kms_sealer_mem_free(struct ohsm_kms_sealer *s); /* wipes the key; NULL ok */

#endif
