/* SPDX-License-Identifier: Apache-2.0
 *
 * KMS cryptography on key material, as AWS KMS defines it (REFERENCE-KMS.md §3; KMS developer
 * guide "Asymmetric key specs", "HMAC keys", "Importing key material"): which algorithms each key
 * spec has, material generation and loading, asymmetric encryption (RSAES_OAEP_SHA_1/256),
 * signing (RSASSA_PSS_*, RSASSA_PKCS1_V1_5_*, ECDSA_SHA_*; MessageType RAW or DIGEST), MACs
 * (HMAC_SHA_*), data key pairs, and the RSA wrapping of imported material. Built on src/core's
 * mechanisms (openhsm/mech.h), OpenSSL 3 only. Pure: no I/O, no store.
 *
 * Material formats: SYMMETRIC_DEFAULT 32 raw bytes; HMAC_n raw bytes (n/8 by default; imported
 * HMAC keys from the hash length to its block size: HMAC_224 28..64, HMAC_256 32..64, HMAC_384
 * 48..128, HMAC_512 64..128 bytes); RSA/ECC the private key as DER PKCS#8.
 *
 * Secret outputs are wiped by the callee on every error path; successful ones are the caller's.
 * Thread-safe: a loaded key (struct ohsm_kms_kmat) may be used by many threads at once.
 */
#ifndef OHSM_KMS_KCRYPTO_H
#define OHSM_KMS_KCRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms/types.h"
#include "openhsm/rv.h"

/* Algorithms (values ours; AWS names through the functions below). */
enum ohsm_kms_alg {
    OHSM_KALG_NONE = 0,
    /* EncryptionAlgorithmSpec */
    OHSM_KALG_SYMMETRIC_DEFAULT = 1,
    OHSM_KALG_RSAES_OAEP_SHA_1 = 2,
    OHSM_KALG_RSAES_OAEP_SHA_256 = 3,
    /* SigningAlgorithmSpec */
    OHSM_KALG_RSASSA_PSS_SHA_256 = 10,
    OHSM_KALG_RSASSA_PSS_SHA_384 = 11,
    OHSM_KALG_RSASSA_PSS_SHA_512 = 12,
    OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_256 = 13,
    OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_384 = 14,
    OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_512 = 15,
    OHSM_KALG_ECDSA_SHA_256 = 16,
    OHSM_KALG_ECDSA_SHA_384 = 17,
    OHSM_KALG_ECDSA_SHA_512 = 18,
    /* MacAlgorithmSpec */
    OHSM_KALG_HMAC_SHA_224 = 20,
    OHSM_KALG_HMAC_SHA_256 = 21,
    OHSM_KALG_HMAC_SHA_384 = 22,
    OHSM_KALG_HMAC_SHA_512 = 23,
    /* AlgorithmSpec of GetParametersForImport (wrapping of imported material) */
    OHSM_KALG_WRAP_RSAES_PKCS1_V1_5 = 30, /* refused: AWS deprecated it (ValidationException) */
    OHSM_KALG_WRAP_RSAES_OAEP_SHA_1 = 31,
    OHSM_KALG_WRAP_RSAES_OAEP_SHA_256 = 32,
    OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1 = 33,
    OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_256 = 34,
};

/* AWS's name of an algorithm / the algorithm of a name within a family (0 when unknown). */
const char *ohsm_kms_alg_name(uint32_t alg);
uint32_t ohsm_kms_enc_alg_from(const char *s);  /* EncryptionAlgorithmSpec */
uint32_t ohsm_kms_sign_alg_from(const char *s); /* SigningAlgorithmSpec */
uint32_t ohsm_kms_mac_alg_from(const char *s);  /* MacAlgorithmSpec */
uint32_t ohsm_kms_wrap_alg_from(const char *s); /* AlgorithmSpec (import) */

/* What a key spec allows. */
struct ohsm_kms_spec_info {
    uint32_t spec;
    uint32_t usages[3];      /* allowed KeyUsage values, 0-terminated; usages[0] is the default */
    uint32_t enc_algs[3];    /* EncryptionAlgorithms of an ENCRYPT_DECRYPT key, 0-terminated */
    uint32_t sign_algs[7];   /* SigningAlgorithms of a SIGN_VERIFY key, 0-terminated */
    uint32_t mac_algs[2];    /* MacAlgorithms of a GENERATE_VERIFY_MAC key, 0-terminated */
    size_t max_plaintext[2]; /* Encrypt plaintext limit for enc_algs[0], [1] (REFERENCE-KMS §3) */
};
/* NULL for OHSM_KSPEC_NONE and values out of range. */
const struct ohsm_kms_spec_info *ohsm_kms_spec_info(uint32_t spec);
/* true when usage is allowed for spec. */
bool ohsm_kms_spec_allows(uint32_t spec, uint32_t usage);

/* New material for spec into a new secure buffer *out (free with ohsm_kms_bytes_free). */
#define OHSM_KMS_PASSWORD_LEN 32

/* A password only openhsmd knows (the KMS root HSM's users, kmsuser of CloudHSM key stores):
 * 32 characters of [A-Za-z0-9], each uniform over the 62 (rejection sampling from
 * RAND_priv_bytes), NUL-terminated. Errors: OHSM_DEVICE_ERROR (out wiped). */
OHSM_NODISCARD ohsm_rv ohsm_kms_random_password(char out[OHSM_KMS_PASSWORD_LEN + 1]);

OHSM_NODISCARD ohsm_rv ohsm_kms_material_gen(uint32_t spec, uint8_t **out, size_t *out_len);
/* Checks imported material against spec (AES: exactly 32 bytes; HMAC_n: the ranges above; RSA/ECC:
 * PKCS#8 of that size/curve, halves consistent). Errors: OHSM_DATA_INVALID ->
 * IncorrectKeyMaterialException. */
OHSM_NODISCARD ohsm_rv ohsm_kms_material_check(uint32_t spec, const uint8_t *m, size_t len);
void ohsm_kms_bytes_free(uint8_t *p, size_t len); /* wipes, frees; NULL ok */

/* A key's material loaded for use (EVP_PKEY and reusable contexts for RSA/ECC, the raw bytes for
 * symmetric/HMAC). Holds its own copy of the material (wiped on free). */
struct ohsm_kms_kmat;
OHSM_NODISCARD ohsm_rv ohsm_kms_kmat_load(uint32_t spec, const uint8_t *m, size_t len,
                                          struct ohsm_kms_kmat **out);
void ohsm_kms_kmat_free(struct ohsm_kms_kmat *k); /* wipes; NULL ok */
/* The raw bytes of a symmetric/HMAC key (borrowed; NULL for RSA/ECC). */
const uint8_t *ohsm_kms_kmat_raw(const struct ohsm_kms_kmat *k, size_t *len);
/* The mech key for src/core (struct ohsm_mech_key *; void * to keep mech.h out). */
const void *ohsm_kms_kmat_mech(const struct ohsm_kms_kmat *k);

/* The public key as DER SubjectPublicKeyInfo (GetPublicKey). *out malloc'd. Errors:
 * OHSM_KEY_TYPE_INCONSISTENT (a symmetric key). */
OHSM_NODISCARD ohsm_rv ohsm_kms_public_der(const struct ohsm_kms_kmat *k, uint8_t **out,
                                           size_t *out_len);

/* RSAES_OAEP_SHA_1/256 (same hash for MGF1, empty label). Encrypt errors: OHSM_DATA_LEN_RANGE
 * (plaintext over the spec's limit). Decrypt errors: OHSM_ENCRYPTED_DATA_INVALID. *out malloc'd;
 * decrypt's output is a secret in a secure buffer (free with ohsm_kms_bytes_free). */
OHSM_NODISCARD ohsm_rv ohsm_kms_asym_encrypt(const struct ohsm_kms_kmat *k, uint32_t alg,
                                             const uint8_t *in, size_t len, uint8_t **out,
                                             size_t *out_len);
OHSM_NODISCARD ohsm_rv ohsm_kms_asym_decrypt(const struct ohsm_kms_kmat *k, uint32_t alg,
                                             const uint8_t *in, size_t len, uint8_t **out,
                                             size_t *out_len);

/* Sign/verify. digest: the message is already the digest of the algorithm's hash (MessageType
 * DIGEST; its length must be the hash length: OHSM_DATA_LEN_RANGE otherwise). Signatures: RSA
 * raw, ECDSA DER (as AWS KMS returns them). Verify returns OHSM_SIGNATURE_INVALID when it does
 * not verify. Errors: OHSM_MECHANISM_INVALID (alg not of the key's spec). */
OHSM_NODISCARD ohsm_rv ohsm_kms_sign(const struct ohsm_kms_kmat *k, uint32_t alg, bool digest,
                                     const uint8_t *msg, size_t len, uint8_t **sig,
                                     size_t *sig_len);
OHSM_NODISCARD ohsm_rv ohsm_kms_verify(const struct ohsm_kms_kmat *k, uint32_t alg, bool digest,
                                       const uint8_t *msg, size_t len, const uint8_t *sig,
                                       size_t sig_len);

/* HMAC (RFC 2104). mac: cap >= 64; verify compares in constant time (OHSM_SIGNATURE_INVALID). */
OHSM_NODISCARD ohsm_rv ohsm_kms_mac(const struct ohsm_kms_kmat *k, uint32_t alg, const uint8_t *msg,
                                    size_t len, uint8_t *mac, size_t cap, size_t *mac_len);
OHSM_NODISCARD ohsm_rv ohsm_kms_mac_verify(const struct ohsm_kms_kmat *k, uint32_t alg,
                                           const uint8_t *msg, size_t len, const uint8_t *mac,
                                           size_t mac_len);

/* A data key pair of spec (RSA_2048/3072/4096, ECC_NIST_P256/P384/P521, ECC_SECG_P256K1):
 * private PKCS#8 DER (secure buffer: ohsm_kms_bytes_free) and public SPKI DER (malloc'd).
 * Errors: OHSM_ARGUMENTS_BAD (not a pair spec). */
OHSM_NODISCARD ohsm_rv ohsm_kms_data_key_pair(uint32_t spec, uint8_t **priv, size_t *priv_len,
                                              uint8_t **pub, size_t *pub_len);

/* Import: a wrapping key pair of RSA bits (2048/3072/4096): private PKCS#8 (secure buffer) and
 * public SPKI DER (malloc'd). */
OHSM_NODISCARD ohsm_rv ohsm_kms_wrapping_pair(uint32_t bits, uint8_t **priv, size_t *priv_len,
                                              uint8_t **pub, size_t *pub_len);
/* Unwraps EncryptedKeyMaterial with the wrapping private key (PKCS#8) and alg:
 * RSAES_OAEP_SHA_1/256: OAEP (same hash for MGF1, empty label) of the material;
 * RSA_AES_KEY_WRAP_SHA_1/256: OAEP(ephemeral AES-256 key) || AES-KWP (RFC 5649) of the material.
 * *out is a secret (secure buffer). Errors: OHSM_ENCRYPTED_DATA_INVALID -> InvalidCiphertext. */
OHSM_NODISCARD ohsm_rv ohsm_kms_import_unwrap(const uint8_t *priv, size_t priv_len, uint32_t alg,
                                              const uint8_t *in, size_t len, uint8_t **out,
                                              size_t *out_len);

#endif
