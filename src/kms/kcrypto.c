/* SPDX-License-Identifier: Apache-2.0
 *
 * KMS operations on a loaded key (kcrypto.h): RSAES_OAEP encryption, RSASSA_PSS /
 * RSASSA_PKCS1_V1_5 / ECDSA signatures with MessageType RAW or DIGEST, HMAC. Each KMS algorithm
 * is one src/core mechanism with fixed parameters (KMS developer guide "Asymmetric key specs"):
 * OAEP with the same hash for MGF1 and an empty label, PSS with MGF1 of the same hash and a salt
 * as long as the hash. The key's context cache (struct ohsm_mech_cache) makes repeated operations
 * skip their OpenSSL set-up. ECDSA signatures travel as DER (as AWS KMS returns them); src/core
 * speaks r || s (PKCS#11), so they are converted here. Inputs (messages, signatures, ciphertexts)
 * are untrusted.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "kms/kcrypto.h"
#include "kms/kcrypto_int.h"
#include "openhsm/mech.h"

#define RSA_MAX_BYTES 512 /* 4096-bit modulus */
#define EC_HALF_MAX 66    /* P-521 */

/* The mechanism and hash of a KMS algorithm; false for algorithms that are not one. */
static bool alg_params(uint32_t alg, struct ohsm_mech_params *p)
{
    static const struct {
        uint32_t mech;
        uint32_t hash;
    } map[] = {
        [OHSM_KALG_RSAES_OAEP_SHA_1] = {OHSM_M_RSA_OAEP, OHSM_H_SHA1},
        [OHSM_KALG_RSAES_OAEP_SHA_256] = {OHSM_M_RSA_OAEP, OHSM_H_SHA256},
        [OHSM_KALG_RSASSA_PSS_SHA_256] = {OHSM_M_RSA_PSS, OHSM_H_SHA256},
        [OHSM_KALG_RSASSA_PSS_SHA_384] = {OHSM_M_RSA_PSS, OHSM_H_SHA384},
        [OHSM_KALG_RSASSA_PSS_SHA_512] = {OHSM_M_RSA_PSS, OHSM_H_SHA512},
        [OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_256] = {OHSM_M_RSA_PKCS, OHSM_H_SHA256},
        [OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_384] = {OHSM_M_RSA_PKCS, OHSM_H_SHA384},
        [OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_512] = {OHSM_M_RSA_PKCS, OHSM_H_SHA512},
        [OHSM_KALG_ECDSA_SHA_256] = {OHSM_M_ECDSA, OHSM_H_SHA256},
        [OHSM_KALG_ECDSA_SHA_384] = {OHSM_M_ECDSA, OHSM_H_SHA384},
        [OHSM_KALG_ECDSA_SHA_512] = {OHSM_M_ECDSA, OHSM_H_SHA512},
        [OHSM_KALG_HMAC_SHA_224] = {OHSM_M_HMAC, OHSM_H_SHA224},
        [OHSM_KALG_HMAC_SHA_256] = {OHSM_M_HMAC, OHSM_H_SHA256},
        [OHSM_KALG_HMAC_SHA_384] = {OHSM_M_HMAC, OHSM_H_SHA384},
        [OHSM_KALG_HMAC_SHA_512] = {OHSM_M_HMAC, OHSM_H_SHA512},
    };
    memset(p, 0, sizeof(*p));
    if (alg >= sizeof(map) / sizeof(map[0]) || map[alg].mech == OHSM_M_NONE) {
        return false;
    }
    p->mech = map[alg].mech;
    p->hash = map[alg].hash;
    p->mgf_hash = map[alg].hash; /* OAEP and PSS: MGF1 with the same hash */
    p->salt_len = UINT32_MAX;    /* PSS: salt length = hash length */
    return true;
}

/* Index of alg in a 0-terminated list of n entries, or -1. */
static int alg_index(const uint32_t *list, size_t n, uint32_t alg)
{
    for (size_t i = 0; alg != OHSM_KALG_NONE && i < n && list[i] != 0; i++) {
        if (list[i] == alg) {
            return (int)i;
        }
    }
    return -1;
}

enum family { FAM_ENC, FAM_SIGN, FAM_MAC };

/* Checks that alg is one of k's spec in family and fills p. Errors: OHSM_MECHANISM_INVALID. */
static ohsm_rv alg_of_key(const struct ohsm_kms_kmat *k, enum family f, uint32_t alg,
                          struct ohsm_mech_params *p, int *idx)
{
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(k->spec);
    OHSM_ENSURE(si != NULL, OHSM_MECHANISM_INVALID);
    int i = -1;
    switch (f) {
    case FAM_ENC:
        i = alg_index(si->enc_algs, 3, alg);
        break;
    case FAM_SIGN:
        i = alg_index(si->sign_algs, 7, alg);
        break;
    case FAM_MAC:
        i = alg_index(si->mac_algs, 2, alg);
        break;
    }
    OHSM_ENSURE(i >= 0 && alg_params(alg, p), OHSM_MECHANISM_INVALID);
    if (idx != NULL) {
        *idx = i;
    }
    return OHSM_OK;
}

/* ---- asymmetric encryption ---- */

ohsm_rv ohsm_kms_asym_encrypt(const struct ohsm_kms_kmat *k, uint32_t alg, const uint8_t *in,
                              size_t len, uint8_t **out, size_t *out_len)
{
    struct ohsm_mech_params p;
    int idx = -1;
    size_t n = 0;

    OHSM_ENSURE(k != NULL && out != NULL && out_len != NULL && (in != NULL || len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(alg_of_key(k, FAM_ENC, alg, &p, &idx));
    OHSM_ENSURE(p.mech == OHSM_M_RSA_OAEP && k->pkey != NULL, OHSM_MECHANISM_INVALID);
    OHSM_ENSURE(len <= ohsm_kms_spec_info(k->spec)->max_plaintext[idx], OHSM_DATA_LEN_RANGE);
    uint8_t *c = malloc(k->pk_bytes);
    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    ohsm_rv rv = ohsm_mech_encrypt(&k->mk, &p, in, len, c, k->pk_bytes, &n, NULL, 0, NULL);
    if (rv != OHSM_OK) {
        free(c);
        return rv;
    }
    *out = c;
    *out_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_asym_decrypt(const struct ohsm_kms_kmat *k, uint32_t alg, const uint8_t *in,
                              size_t len, uint8_t **out, size_t *out_len)
{
    struct ohsm_mech_params p;
    uint8_t tmp[RSA_MAX_BYTES];
    size_t n = 0;

    OHSM_ENSURE(k != NULL && out != NULL && out_len != NULL && (in != NULL || len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(alg_of_key(k, FAM_ENC, alg, &p, NULL));
    OHSM_ENSURE(p.mech == OHSM_M_RSA_OAEP && k->pkey != NULL, OHSM_MECHANISM_INVALID);
    /* A ciphertext of the wrong length is as invalid as a tampered one (InvalidCiphertext). */
    OHSM_ENSURE(len == k->pk_bytes, OHSM_ENCRYPTED_DATA_INVALID);
    ohsm_rv rv = ohsm_mech_decrypt(&k->mk, &p, in, len, tmp, sizeof(tmp), &n);
    if (rv == OHSM_ENCRYPTED_DATA_LEN_RANGE) {
        rv = OHSM_ENCRYPTED_DATA_INVALID;
    }
    if (rv == OHSM_OK) {
        /* An empty plaintext still gets a buffer: callers tell success by a non-NULL pointer. */
        uint8_t *pt = ohsm_kms_secure_dup(tmp, n > 0 ? n : 1);
        if (pt == NULL) {
            rv = OHSM_HOST_MEMORY;
        } else {
            *out = pt;
            *out_len = n;
        }
    }
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return rv;
}

/* ---- ECDSA signature encodings ---- */

/* r || s (each half bytes) -> DER ECDSA-Sig-Value (RFC 3279 §2.2.3), malloc'd. */
static ohsm_rv ecdsa_to_der(const uint8_t *raw, size_t half, uint8_t **out, size_t *out_len)
{
    ohsm_rv rv = OHSM_HOST_MEMORY;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
    uint8_t *der = NULL;

    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    /* sig owns r and s now */
    int n = i2d_ECDSA_SIG(sig, &der);
    if (n <= 0) {
        goto out;
    }
    *out = ohsm_kms_plain_dup(der, (size_t)n);
    if (*out != NULL) {
        *out_len = (size_t)n;
        rv = OHSM_OK;
    }
out:
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    return rv;
}

/* DER ECDSA-Sig-Value -> r || s (each half bytes). Anything else, trailing bytes included, or
 * values too large for the curve: OHSM_SIGNATURE_INVALID. */
static ohsm_rv ecdsa_from_der(const uint8_t *der, size_t len, size_t half, uint8_t *raw)
{
    const uint8_t *p = der;
    OHSM_ENSURE(len > 0 && len <= 2 * (half + 8), OHSM_SIGNATURE_INVALID);
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    OHSM_ENSURE(sig != NULL, OHSM_SIGNATURE_INVALID);
    const BIGNUM *r = ECDSA_SIG_get0_r(sig);
    const BIGNUM *s = ECDSA_SIG_get0_s(sig);
    bool ok = p == der + len && BN_bn2binpad(r, raw, (int)half) == (int)half &&
              BN_bn2binpad(s, raw + half, (int)half) == (int)half;
    ECDSA_SIG_free(sig);
    return ok ? OHSM_OK : OHSM_SIGNATURE_INVALID;
}

static size_t ec_half(const struct ohsm_kms_kmat *k)
{
    return ((size_t)EVP_PKEY_get_bits(k->pkey) + 7) / 8;
}

/* ---- sign / verify ---- */

ohsm_rv ohsm_kms_sign(const struct ohsm_kms_kmat *k, uint32_t alg, bool digest, const uint8_t *msg,
                      size_t len, uint8_t **sig, size_t *sig_len)
{
    struct ohsm_mech_params p;
    uint8_t raw[RSA_MAX_BYTES];
    size_t n = 0;

    OHSM_ENSURE(k != NULL && sig != NULL && sig_len != NULL && (msg != NULL || len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(alg_of_key(k, FAM_SIGN, alg, &p, NULL));
    p.prehashed = digest;
    /* The mechanism checks a digest's length itself; this only spares it a zero-length one. */
    OHSM_ENSURE(!digest || len == ohsm_hash_len(p.hash), OHSM_DATA_LEN_RANGE);
    OHSM_TRY(ohsm_mech_sign(&k->mk, &p, msg, len, raw, sizeof(raw), &n));
    if (p.mech == OHSM_M_ECDSA) {
        return ecdsa_to_der(raw, n / 2, sig, sig_len);
    }
    uint8_t *s = ohsm_kms_plain_dup(raw, n);
    OHSM_ENSURE(s != NULL, OHSM_HOST_MEMORY);
    *sig = s;
    *sig_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_verify(const struct ohsm_kms_kmat *k, uint32_t alg, bool digest,
                        const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
    struct ohsm_mech_params p;
    uint8_t raw[2 * EC_HALF_MAX];

    OHSM_ENSURE(k != NULL && (msg != NULL || len == 0) && (sig != NULL || sig_len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(alg_of_key(k, FAM_SIGN, alg, &p, NULL));
    p.prehashed = digest;
    OHSM_ENSURE(!digest || len == ohsm_hash_len(p.hash), OHSM_DATA_LEN_RANGE);
    if (p.mech == OHSM_M_ECDSA) {
        size_t half = ec_half(k);
        OHSM_ENSURE(half <= EC_HALF_MAX, OHSM_SIGNATURE_INVALID);
        OHSM_TRY(ecdsa_from_der(sig, sig_len, half, raw));
        return ohsm_mech_verify(&k->mk, &p, msg, len, raw, 2 * half);
    }
    return ohsm_mech_verify(&k->mk, &p, msg, len, sig, sig_len);
}

/* ---- HMAC ---- */

ohsm_rv ohsm_kms_mac(const struct ohsm_kms_kmat *k, uint32_t alg, const uint8_t *msg, size_t len,
                     uint8_t *mac, size_t cap, size_t *mac_len)
{
    struct ohsm_mech_params p;

    OHSM_ENSURE(k != NULL && mac != NULL && mac_len != NULL && (msg != NULL || len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(cap >= 64, OHSM_BUFFER_TOO_SMALL);
    OHSM_TRY(alg_of_key(k, FAM_MAC, alg, &p, NULL));
    return ohsm_mech_sign(&k->mk, &p, msg, len, mac, cap, mac_len);
}

ohsm_rv ohsm_kms_mac_verify(const struct ohsm_kms_kmat *k, uint32_t alg, const uint8_t *msg,
                            size_t len, const uint8_t *mac, size_t mac_len)
{
    struct ohsm_mech_params p;

    OHSM_ENSURE(k != NULL && (msg != NULL || len == 0) && (mac != NULL || mac_len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(alg_of_key(k, FAM_MAC, alg, &p, NULL));
    return ohsm_mech_verify(&k->mk, &p, msg, len, mac, mac_len); /* CRYPTO_memcmp */
}

ohsm_rv ohsm_kms_random_password(char out[OHSM_KMS_PASSWORD_LEN + 1])
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t r[64];
    size_t n = 0;

    while (n < OHSM_KMS_PASSWORD_LEN) {
        if (RAND_priv_bytes(r, (int)sizeof(r)) != 1) {
            OPENSSL_cleanse(out, OHSM_KMS_PASSWORD_LEN + 1);
            OPENSSL_cleanse(r, sizeof(r));
            return OHSM_DEVICE_ERROR;
        }
        for (size_t i = 0; i < sizeof(r) && n < OHSM_KMS_PASSWORD_LEN; i++) {
            if (r[i] < 248) { /* 4 * 62 */
                out[n++] = abc[r[i] % 62];
            }
        }
    }
    out[n] = '\0';
    OPENSSL_cleanse(r, sizeof(r));
    return OHSM_OK;
}
