/* SPDX-License-Identifier: Apache-2.0
 *
 * KMS ciphertext blobs of symmetric keys: self-describing and tamper-evident.
 *
 *   offset  size  field
 *   0       1     format: 0x4b ('K')
 *   1       1     version: 1
 *   2       16    key id (the UUID's 16 bytes)
 *   18      4     material version of the key, big-endian (rotation: which material)
 *   22      12    AES-GCM iv (made by the encryptor, never reused: random 96 bits)
 *   34      n     ciphertext (n = plaintext length, 1..4096)
 *   34+n    16    GCM tag
 *
 * The algorithm is AES-256-GCM (SYMMETRIC_DEFAULT) with additional data = bytes 0..21 (the
 * header) || the canonical encoding of the encryption context (ohsm_kms_context_encode), so the
 * key, the material version and the context are all authenticated: any change to the blob, a
 * blob moved to another key, or another context fails the tag.
 *
 * The parser trusts nothing: it checks every length and refuses trailing or missing bytes.
 */
#ifndef OHSM_KMS_BLOB_H
#define OHSM_KMS_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "openhsm/rv.h"

#define OHSM_KMS_BLOB_FORMAT 0x4bu
#define OHSM_KMS_BLOB_VERSION 1u
#define OHSM_KMS_BLOB_HDR 22u
#define OHSM_KMS_BLOB_IV 12u
#define OHSM_KMS_BLOB_TAG 16u
#define OHSM_KMS_BLOB_OVERHEAD (OHSM_KMS_BLOB_HDR + OHSM_KMS_BLOB_IV + OHSM_KMS_BLOB_TAG)
#define OHSM_KMS_PLAINTEXT_MAX 4096u

/* A parsed blob: pointers into the caller's buffer. */
struct ohsm_kms_blob {
    char key_id[37]; /* the UUID as text, lower-case */
    uint32_t version;
    const uint8_t *hdr; /* OHSM_KMS_BLOB_HDR bytes */
    const uint8_t *iv;  /* OHSM_KMS_BLOB_IV bytes */
    const uint8_t *ct;  /* ciphertext || tag */
    size_t ct_len;      /* ciphertext length + OHSM_KMS_BLOB_TAG */
};

/* UUID text (36 chars, any case) <-> 16 bytes. Errors: OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_kms_uuid_parse(const char *s, uint8_t out[16]);
void ohsm_kms_uuid_format(const uint8_t in[16], char out[37]);
/* A fresh random (version 4) UUID. Errors: OHSM_DEVICE_ERROR. */
OHSM_NODISCARD ohsm_rv ohsm_kms_uuid_new(char out[37]);

/* The header for key_id/version into hdr. Errors: OHSM_ARGUMENTS_BAD (not a UUID). */
OHSM_NODISCARD ohsm_rv ohsm_kms_blob_header(const char *key_id, uint32_t version,
                                            uint8_t hdr[OHSM_KMS_BLOB_HDR]);
/* Parses in. Errors: OHSM_ENCRYPTED_DATA_INVALID (not a blob of ours: wrong format or version,
 * too short, empty or over-long ciphertext). */
OHSM_NODISCARD ohsm_rv ohsm_kms_blob_parse(const uint8_t *in, size_t len,
                                           struct ohsm_kms_blob *out);

/* The canonical bytes of an encryption context (a JSON object of string values, or NULL for
 * none): pairs sorted by key (bytewise), each as u32 key length || key || u32 value length ||
 * value, after a u32 pair count. The same context in any member order gives the same bytes.
 * *out malloc'd (NULL and 0 for an empty or absent context). Errors: OHSM_ARGUMENTS_BAD (a
 * value that is not a string), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_kms_context_encode(json_t *ctx, uint8_t **out, size_t *out_len);

#endif
