/* SPDX-License-Identifier: Apache-2.0
 *
 * Mechanisms and the cryptography behind them (src/core/mech.c, OpenSSL 3 EVP only): key
 * generation, key material encodings, encrypt/decrypt, sign/verify, wrap/unwrap, digests, HMAC.
 * Pure: no I/O, no objects store. Secret outputs are wiped by the callee on every error path;
 * successful secret outputs are the caller's to wipe.
 *
 * Key material formats (what a masked object seals and what import takes):
 *   secret keys (AES, 3DES, generic secret): the raw key bytes;
 *   RSA/EC private keys: DER PKCS#8 PrivateKeyInfo (unencrypted);
 *   RSA/EC public keys: DER SubjectPublicKeyInfo.
 */
#ifndef OHSM_MECH_H
#define OHSM_MECH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/obj.h"
#include "openhsm/rv.h"

/* Mechanisms. Values are ours and travel on the wire: append only. */
enum ohsm_mech {
    OHSM_M_NONE = 0,
    /* AES data encryption */
    OHSM_M_AES_GCM = 1,     /* iv 12 bytes (always generated on encrypt; decrypt takes it),
                             * aad, tag_bits 96..128 (default 128); output ciphertext || tag */
    OHSM_M_AES_CBC_PAD = 2, /* PKCS#7 padding; iv 16 bytes (generated when empty) */
    OHSM_M_AES_CTR = 3,     /* iv = 16-byte initial counter block (generated when empty) */
    OHSM_M_AES_ECB = 4,     /* no padding: input a multiple of 16 */
    OHSM_M_AES_CBC = 5,     /* no padding: input a multiple of 16; iv as CBC_PAD */
    /* RSA */
    OHSM_M_RSA_PKCS = 10, /* PKCS#1 v1.5: sign/verify (hash), encrypt/decrypt, wrap/unwrap */
    OHSM_M_RSA_PSS = 11,  /* sign/verify; hash, mgf_hash (default = hash), salt_len
                           * (default = hash length) */
    OHSM_M_RSA_OAEP = 12, /* encrypt/decrypt and wrap/unwrap; hash (default SHA-1 as PKCS#11),
                           * mgf_hash (default = hash), label */
    /* EC */
    OHSM_M_ECDSA = 13, /* sign/verify; signature is r || s, each the field size (PKCS#11) */
    /* MAC with a generic secret (or AES) key: sign makes the tag, verify compares in constant
     * time. hash selects HMAC-SHA-x. */
    OHSM_M_HMAC = 14,
    /* Key wrapping with AES */
    OHSM_M_AES_KW = 20,       /* RFC 3394, input a multiple of 8 (CloudHSM aes-no-pad) */
    OHSM_M_AES_KWP = 21,      /* RFC 5649 (NIST AES wrap with padding) */
    OHSM_M_AES_KW_PKCS5 = 22, /* PKCS#5 pad to 8 then RFC 3394 (CloudHSM aes-pkcs5-pad) */
    OHSM_M_AES_KW_ZERO = 23,  /* zero pad to 8 then RFC 3394 (CloudHSM aes-zero-pad); unwrap
                               * returns the padded bytes: see ohsm_mech_zero_unpad */
    /* OHSM_M_AES_GCM also wraps: the wrapped blob is iv (12) || ciphertext || tag, with an iv
     * always generated (an iv in the params is OHSM_MECHANISM_PARAM_INVALID); unwrap takes the
     * iv from the blob (an iv in the params must equal it), plus aad and tag_bits as given at
     * wrap time. */
    /* Digests (no key) */
    OHSM_M_DIGEST = 30, /* hash */
    /* Triple DES (three-key, 24-byte keys; NIST SP 800-67) data encryption, as CloudHSM lists
     * CKM_DES3_ECB / CKM_DES3_CBC / CKM_DES3_CBC_PAD. The iv is 8 bytes (CBC: the caller's, or
     * generated when empty); ECB and CBC take input a multiple of 8, CBC_PAD pads PKCS#7. */
    OHSM_M_DES3_ECB = 40,
    OHSM_M_DES3_CBC = 41,
    OHSM_M_DES3_CBC_PAD = 42,
    /* CloudHSM rsa-aes (PKCS#11 CKM_RSA_AES_KEY_WRAP), wrap/unwrap only: a fresh AES-256 key
     * encrypted with the RSA key and OAEP (hash, mgf_hash as OHSM_M_RSA_OAEP), then the material
     * wrapped with it by RFC 5649: blob = OAEP(aes key) (modulus length) || KWP(material). Wrap
     * takes an RSA public (or private) key, unwrap the private key. No iv/aad. */
    OHSM_M_RSA_AES_KW = 50,
    /* Elliptic-curve Diffie-Hellman key derivation (PKCS#11 CKM_ECDH1_DERIVE), derive only: an EC
     * private key and the peer's public point give a shared secret, optionally through the ANSI
     * X9.63 KDF (ohsm_mech_ecdh). */
    OHSM_M_ECDH = 60,
};

enum ohsm_hash {
    OHSM_H_NONE = 0,
    OHSM_H_SHA1 = 1,
    OHSM_H_SHA224 = 2,
    OHSM_H_SHA256 = 3,
    OHSM_H_SHA384 = 4,
    OHSM_H_SHA512 = 5,
};

/* CLI names ("sha256") and sizes. -1 / 0 when unknown. */
OHSM_API const char *ohsm_hash_name(uint32_t h);
OHSM_API int ohsm_hash_from_name(const char *name);
OHSM_API size_t ohsm_hash_len(uint32_t h);

struct ohsm_mech_params {
    uint32_t mech;     /* enum ohsm_mech */
    uint32_t hash;     /* enum ohsm_hash: signature / OAEP / HMAC / digest hash */
    uint32_t mgf_hash; /* PSS/OAEP MGF1 hash; 0 = same as hash */
    uint32_t salt_len; /* PSS; UINT32_MAX = hash length (the default when 0 is not meant) */
    bool prehashed;    /* sign/verify: input is already the digest of `hash` */
    const uint8_t *iv; /* borrowed; may be NULL */
    size_t iv_len;
    const uint8_t *aad; /* GCM additional data; borrowed */
    size_t aad_len;
    uint32_t tag_bits;    /* GCM; 0 = 128 */
    const uint8_t *label; /* OAEP label; borrowed */
    size_t label_len;
};

/* Reusable OpenSSL contexts of one key (ohsm_mech_cache_new): set-up signing/verifying contexts
 * (EVP_PKEY_CTX with padding and digest) and an AES-GCM context with the key schedule in place,
 * so a repeated operation skips their set-up. Thread-safe: each context is used by one thread at
 * a time (a thread that finds every cached context busy makes a fresh one). */
struct ohsm_mech_cache;

/* A key as the mechanisms see it: a secret's raw bytes, or an OpenSSL key (EVP_PKEY *, kept as
 * void * so this header needs no OpenSSL include). */
struct ohsm_mech_key {
    uint32_t cls;
    uint32_t ktype;
    const uint8_t *raw; /* secret keys; borrowed */
    size_t raw_len;
    void *pkey; /* EVP_PKEY * of RSA/EC keys; borrowed */
    /* Optional (NULL: contexts are made and freed per call). Borrowed; it must belong to this
     * very key (raw bytes or pkey) for as long as it lives: contexts in it hold the key. */
    struct ohsm_mech_cache *cache;
};

/* An empty cache for one key. Errors: OHSM_HOST_MEMORY. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_cache_new(struct ohsm_mech_cache **out);
/* Frees every cached context (OpenSSL wipes key schedules on free) and the cache. No other
 * thread may be using it. NULL ok. */
OHSM_API void ohsm_mech_cache_free(struct ohsm_mech_cache *c);

/* ---- keys ---- */

/* The largest generic secret, in bytes (key_mgmt_util genSymKey: "Generic Secret: <3584"). */
#define OHSM_GENERIC_SECRET_MAX 3583u

/* Checks a requested size: AES 16/24/32 bytes; 3DES 24 bytes; generic secret 1..3583 bytes
 * (key_mgmt_util's genSymKey: "<3584"; the CloudHSM CLI allows 1..800 itself); RSA 2048..4096 bits,
 * a multiple of 8; exponent odd and >= 65537 (0 means 65537). Errors: OHSM_KEY_SIZE_RANGE,
 * OHSM_ATTRIBUTE_VALUE_INVALID (exponent, unknown ktype). EC sizes are curves: for OHSM_KT_EC,
 * length is an enum ohsm_curve (P-256, P-384, P-521, secp256k1, P-224). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_check_size(uint32_t ktype, uint32_t length,
                                                     uint64_t public_exponent);
/* Fresh random secret key bytes into out (len bytes). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_gen_secret(uint8_t *out, size_t len);
/* Sets the low bit of every byte so each has odd parity (DES keys: FIPS 46-3, PKCS#11
 * CKM_DES3_KEY_GEN); the 7 key bits of each byte are kept. */
OHSM_API void ohsm_mech_des_parity(uint8_t *key, size_t len);
/* New key pairs; *pkey (EVP_PKEY *) caller frees with ohsm_mech_pkey_free. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_gen_rsa(uint32_t bits, uint64_t exponent, void **pkey);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_gen_ec(uint32_t curve, void **pkey);
OHSM_API void ohsm_mech_pkey_free(void *pkey); /* NULL ok */
/* Material (format above) -> EVP_PKEY, checking it is of cls/ktype. Errors: OHSM_DATA_INVALID,
 * OHSM_KEY_TYPE_INCONSISTENT, OHSM_KEY_SIZE_RANGE (RSA < 2048, unsupported curve). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_pkey_load(uint32_t cls, uint32_t ktype,
                                                    const uint8_t *der, size_t len, void **pkey);
/* EVP_PKEY -> material: PKCS#8 for private (a secret: *der is OPENSSL_secure_malloc'd or wiped by
 * ohsm_mech_der_free), SPKI for public. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_pkey_der(void *pkey, bool private_part, uint8_t **der,
                                                   size_t *len);
OHSM_API void ohsm_mech_der_free(uint8_t *der, size_t len); /* wipes; NULL ok */
/* PEM text (public "PUBLIC KEY" / "RSA PUBLIC KEY"; private "PRIVATE KEY" / "RSA PRIVATE KEY" /
 * "EC PRIVATE KEY") -> DER in the material format; *cls and *ktype are what it holds.
 * Errors: OHSM_DATA_INVALID. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_pem_to_der(const char *pem, size_t len, uint32_t *cls,
                                                     uint32_t *ktype, uint8_t **der,
                                                     size_t *der_len);
/* Fills the public-key facts of o from pkey: spki, modulus_bits and value_len (RSA), curve (EC). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_fill_public(struct ohsm_obj *o, void *pkey);
/* Key check value: AES: first 3 bytes of AES-ECB(key, 0^16); 3DES: first 3 bytes of
 * 3DES-ECB(key, 0^8) (the conventional KCV); generic secret: first 3 bytes of
 * SHA-1(key) ... as CloudHSM prints "0x" + 6 hex digits. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_kcv(uint32_t ktype, const uint8_t *key, size_t len,
                                              uint8_t kcv[3]);

/* ---- operations ----
 * Outputs: out/cap/out_len; OHSM_BUFFER_TOO_SMALL sets *out_len to the size needed (out may be
 * NULL to ask; for AES-CBC-PAD decryption and unwrap the size can be an upper bound).
 * Encrypt with an empty iv generates one into iv_out (iv_cap >= 16) and sets *iv_len; with an iv
 * given (or none used, ECB), *iv_len is 0. AES-GCM encryption (and wrapping) always generates
 * its 12-byte iv: an iv given is OHSM_MECHANISM_PARAM_INVALID, since only the generator of GCM
 * IVs can keep them unique under a key (NIST SP 800-38D §8). Decrypt needs the iv. Key/mechanism
 * mismatches are OHSM_KEY_TYPE_INCONSISTENT; mechanisms not for the operation
 * OHSM_MECHANISM_INVALID; bad iv, tag_bits, hash, salt or label OHSM_MECHANISM_PARAM_INVALID;
 * plaintext of the wrong length OHSM_DATA_LEN_RANGE. Sign/verify with hash OHSM_H_NONE: RSA_PKCS
 * signs the input as given (a DigestInfo, at most modulus bytes - 11), ECDSA signs the input as the
 * digest (1..64 bytes); RSA_PSS needs a hash. With a hash and prehashed, the input must be exactly
 * the hash's length. All functions are thread-safe; an EVP_PKEY may be used by several threads at
 * once. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_encrypt(const struct ohsm_mech_key *k,
                                                  const struct ohsm_mech_params *m,
                                                  const uint8_t *in, size_t in_len, uint8_t *out,
                                                  size_t cap, size_t *out_len, uint8_t *iv_out,
                                                  size_t iv_cap, size_t *iv_len);
/* Errors beyond the usual: OHSM_ENCRYPTED_DATA_INVALID (tag, padding),
 * OHSM_ENCRYPTED_DATA_LEN_RANGE (truncated / not a block multiple). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_decrypt(const struct ohsm_mech_key *k,
                                                  const struct ohsm_mech_params *m,
                                                  const uint8_t *in, size_t in_len, uint8_t *out,
                                                  size_t cap, size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_sign(const struct ohsm_mech_key *k,
                                               const struct ohsm_mech_params *m, const uint8_t *in,
                                               size_t in_len, uint8_t *out, size_t cap,
                                               size_t *out_len);
/* OHSM_OK or OHSM_SIGNATURE_INVALID. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_verify(const struct ohsm_mech_key *k,
                                                 const struct ohsm_mech_params *m,
                                                 const uint8_t *in, size_t in_len,
                                                 const uint8_t *sig, size_t sig_len);
/* Wraps key material (format above) with wrapping key k. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_wrap(const struct ohsm_mech_key *k,
                                               const struct ohsm_mech_params *m,
                                               const uint8_t *material, size_t len, uint8_t *out,
                                               size_t cap, size_t *out_len);
/* Unwraps into out (a secret). Errors: OHSM_WRAPPED_KEY_INVALID. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_unwrap(const struct ohsm_mech_key *k,
                                                 const struct ohsm_mech_params *m,
                                                 const uint8_t *in, size_t in_len, uint8_t *out,
                                                 size_t cap, size_t *out_len);
/* AES_KW_ZERO unwrap output carries up to 7 zero bytes of padding that RFC 3394 cannot tell from
 * key bytes. Trims *len (in/out) to the key: value_len bytes for secret keys, the outer DER
 * length for private/public key material. Errors: OHSM_WRAPPED_KEY_INVALID (padding not zero or
 * longer than 7 bytes, DER that does not fit). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_zero_unpad(uint32_t cls, uint32_t value_len,
                                                     const uint8_t *p, size_t *len);
/* ---- key derivation ---- */

/* ECDH (SEC 1 v2 §3.3.1; PKCS#11 3.0 §2.3.16 CKM_ECDH1_DERIVE) with EC private key k and the
 * peer's public point (X9.62 uncompressed, 0x04 || x || y, on k's curve: checked), then:
 *   kdf_hash OHSM_H_NONE (PKCS#11 CKD_NULL): out gets the leading out_len bytes of the shared
 *     secret Z (the x coordinate, field-size bytes); out_len <= field size; no shared info;
 *   kdf_hash a hash (CKD_SHA1_KDF ... CKD_SHA512_KDF): out gets out_len bytes of the ANSI X9.63
 *     KDF (SEC 1 v2 §3.6.1) of Z with that hash and shared_info (may be empty);
 *     out_len <= OHSM_GENERIC_SECRET_MAX (the largest key there is to make).
 * Z is wiped before returning; after an error out holds nothing of it. Pure and thread-safe.
 * Errors: OHSM_ARGUMENTS_BAD (NULL k, out, or a pointer with a length), OHSM_KEY_TYPE_INCONSISTENT
 * (k is not an EC private key), OHSM_MECHANISM_PARAM_INVALID (point of the wrong length or form,
 * not on the curve; unknown kdf_hash; shared info without a KDF), OHSM_KEY_SIZE_RANGE (out_len 0
 * or too long). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_ecdh(const struct ohsm_mech_key *k,
                                               const uint8_t *peer_point, size_t peer_len,
                                               uint32_t kdf_hash, const uint8_t *shared_info,
                                               size_t shared_len, uint8_t *out, size_t out_len);

OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mech_digest(uint32_t hash, const uint8_t *in, size_t in_len,
                                                 uint8_t *out, size_t cap, size_t *out_len);

#endif
