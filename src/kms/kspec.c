/* SPDX-License-Identifier: Apache-2.0
 *
 * KMS key specs (kcrypto.h): algorithm names, which usages and algorithms each spec allows
 * (KMS developer guide "Asymmetric key specs", "HMAC keys"; REFERENCE-KMS.md §3), material
 * generation and the checks on imported material, loading material for use, public keys, data
 * key pairs and import wrapping pairs. Imported material is untrusted: it is parsed strictly
 * (src/core's DER loaders refuse trailing bytes) and must be exactly of the spec. Stored material
 * was checked when it entered, so loading checks its shape only.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "kms/kcrypto.h"
#include "kms/kcrypto_int.h"
#include "openhsm/mech.h"

/* ---- algorithm names ---- */

static const char *const alg_names[] = {
    [OHSM_KALG_SYMMETRIC_DEFAULT] = "SYMMETRIC_DEFAULT",
    [OHSM_KALG_RSAES_OAEP_SHA_1] = "RSAES_OAEP_SHA_1",
    [OHSM_KALG_RSAES_OAEP_SHA_256] = "RSAES_OAEP_SHA_256",
    [OHSM_KALG_RSASSA_PSS_SHA_256] = "RSASSA_PSS_SHA_256",
    [OHSM_KALG_RSASSA_PSS_SHA_384] = "RSASSA_PSS_SHA_384",
    [OHSM_KALG_RSASSA_PSS_SHA_512] = "RSASSA_PSS_SHA_512",
    [OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_256] = "RSASSA_PKCS1_V1_5_SHA_256",
    [OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_384] = "RSASSA_PKCS1_V1_5_SHA_384",
    [OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_512] = "RSASSA_PKCS1_V1_5_SHA_512",
    [OHSM_KALG_ECDSA_SHA_256] = "ECDSA_SHA_256",
    [OHSM_KALG_ECDSA_SHA_384] = "ECDSA_SHA_384",
    [OHSM_KALG_ECDSA_SHA_512] = "ECDSA_SHA_512",
    [OHSM_KALG_HMAC_SHA_224] = "HMAC_SHA_224",
    [OHSM_KALG_HMAC_SHA_256] = "HMAC_SHA_256",
    [OHSM_KALG_HMAC_SHA_384] = "HMAC_SHA_384",
    [OHSM_KALG_HMAC_SHA_512] = "HMAC_SHA_512",
    [OHSM_KALG_WRAP_RSAES_PKCS1_V1_5] = "RSAES_PKCS1_V1_5",
    [OHSM_KALG_WRAP_RSAES_OAEP_SHA_1] = "RSAES_OAEP_SHA_1",
    [OHSM_KALG_WRAP_RSAES_OAEP_SHA_256] = "RSAES_OAEP_SHA_256",
    [OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1] = "RSA_AES_KEY_WRAP_SHA_1",
    [OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_256] = "RSA_AES_KEY_WRAP_SHA_256",
};
#define ALG_COUNT (sizeof(alg_names) / sizeof(alg_names[0]))

const char *ohsm_kms_alg_name(uint32_t alg)
{
    return alg < ALG_COUNT ? alg_names[alg] : NULL;
}

/* The algorithm of name s among values lo..hi (one family), 0 when none. */
static uint32_t alg_from(const char *s, uint32_t lo, uint32_t hi)
{
    for (uint32_t a = lo; s != NULL && a <= hi && a < ALG_COUNT; a++) {
        if (alg_names[a] != NULL && strcmp(alg_names[a], s) == 0) {
            return a;
        }
    }
    return OHSM_KALG_NONE;
}

uint32_t ohsm_kms_enc_alg_from(const char *s)
{
    return alg_from(s, OHSM_KALG_SYMMETRIC_DEFAULT, OHSM_KALG_RSAES_OAEP_SHA_256);
}

uint32_t ohsm_kms_sign_alg_from(const char *s)
{
    return alg_from(s, OHSM_KALG_RSASSA_PSS_SHA_256, OHSM_KALG_ECDSA_SHA_512);
}

uint32_t ohsm_kms_mac_alg_from(const char *s)
{
    return alg_from(s, OHSM_KALG_HMAC_SHA_224, OHSM_KALG_HMAC_SHA_512);
}

uint32_t ohsm_kms_wrap_alg_from(const char *s)
{
    return alg_from(s, OHSM_KALG_WRAP_RSAES_PKCS1_V1_5, OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_256);
}

/* ---- the spec table ---- */

/* RSA: the algorithms in the order DescribeKey lists them; OAEP plaintext limits are
 * key_bytes - 2 * hash_bytes - 2 (RFC 8017 §7.1.1; REFERENCE-KMS.md §3). */
#define RSA_ROW(s, b)                                                                              \
    [s] = {.spec = (s),                                                                            \
           .usages = {OHSM_KUSE_ENCRYPT_DECRYPT, OHSM_KUSE_SIGN_VERIFY},                           \
           .enc_algs = {OHSM_KALG_RSAES_OAEP_SHA_1, OHSM_KALG_RSAES_OAEP_SHA_256},                 \
           .sign_algs = {OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_256, OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_384, \
                         OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_512, OHSM_KALG_RSASSA_PSS_SHA_256,        \
                         OHSM_KALG_RSASSA_PSS_SHA_384, OHSM_KALG_RSASSA_PSS_SHA_512},              \
           .max_plaintext = {(b) / 8 - 2 * 20 - 2, (b) / 8 - 2 * 32 - 2}}
/* ECC: SIGN_VERIFY only here (KEY_AGREEMENT is out of this scope). */
#define ECC_ROW(s, a) [s] = {.spec = (s), .usages = {OHSM_KUSE_SIGN_VERIFY}, .sign_algs = {(a)}}
#define HMAC_ROW(s, a)                                                                             \
    [s] = {.spec = (s), .usages = {OHSM_KUSE_GENERATE_VERIFY_MAC}, .mac_algs = {(a)}}

static const struct ohsm_kms_spec_info specs[] = {
    [OHSM_KSPEC_SYMMETRIC_DEFAULT] = {.spec = OHSM_KSPEC_SYMMETRIC_DEFAULT,
                                      .usages = {OHSM_KUSE_ENCRYPT_DECRYPT},
                                      .enc_algs = {OHSM_KALG_SYMMETRIC_DEFAULT},
                                      .max_plaintext = {4096}},
    RSA_ROW(OHSM_KSPEC_RSA_2048, 2048),
    RSA_ROW(OHSM_KSPEC_RSA_3072, 3072),
    RSA_ROW(OHSM_KSPEC_RSA_4096, 4096),
    ECC_ROW(OHSM_KSPEC_ECC_NIST_P256, OHSM_KALG_ECDSA_SHA_256),
    ECC_ROW(OHSM_KSPEC_ECC_NIST_P384, OHSM_KALG_ECDSA_SHA_384),
    ECC_ROW(OHSM_KSPEC_ECC_NIST_P521, OHSM_KALG_ECDSA_SHA_512),
    ECC_ROW(OHSM_KSPEC_ECC_SECG_P256K1, OHSM_KALG_ECDSA_SHA_256),
    HMAC_ROW(OHSM_KSPEC_HMAC_224, OHSM_KALG_HMAC_SHA_224),
    HMAC_ROW(OHSM_KSPEC_HMAC_256, OHSM_KALG_HMAC_SHA_256),
    HMAC_ROW(OHSM_KSPEC_HMAC_384, OHSM_KALG_HMAC_SHA_384),
    HMAC_ROW(OHSM_KSPEC_HMAC_512, OHSM_KALG_HMAC_SHA_512),
};
#define SPEC_COUNT (sizeof(specs) / sizeof(specs[0]))

/* Generated HMAC keys are as long as the hash's output; imported ones may be from the hash's
 * output up to its block size (64 bytes for SHA-224/256, 128 for SHA-384/512), as the KMS guide's
 * "Requirements for imported key material" allows. */
static const struct ohsm_kms_spec_impl impls[] = {
    [OHSM_KSPEC_SYMMETRIC_DEFAULT] = {OHSM_KT_AES, 32, 32, 32},
    [OHSM_KSPEC_RSA_2048] = {OHSM_KT_RSA, 2048, 0, 0},
    [OHSM_KSPEC_RSA_3072] = {OHSM_KT_RSA, 3072, 0, 0},
    [OHSM_KSPEC_RSA_4096] = {OHSM_KT_RSA, 4096, 0, 0},
    [OHSM_KSPEC_ECC_NIST_P256] = {OHSM_KT_EC, OHSM_CURVE_P256, 0, 0},
    [OHSM_KSPEC_ECC_NIST_P384] = {OHSM_KT_EC, OHSM_CURVE_P384, 0, 0},
    [OHSM_KSPEC_ECC_NIST_P521] = {OHSM_KT_EC, OHSM_CURVE_P521, 0, 0},
    [OHSM_KSPEC_ECC_SECG_P256K1] = {OHSM_KT_EC, OHSM_CURVE_SECP256K1, 0, 0},
    [OHSM_KSPEC_HMAC_224] = {OHSM_KT_GENERIC_SECRET, 28, 28, 64},
    [OHSM_KSPEC_HMAC_256] = {OHSM_KT_GENERIC_SECRET, 32, 32, 64},
    [OHSM_KSPEC_HMAC_384] = {OHSM_KT_GENERIC_SECRET, 48, 48, 128},
    [OHSM_KSPEC_HMAC_512] = {OHSM_KT_GENERIC_SECRET, 64, 64, 128},
};

const struct ohsm_kms_spec_info *ohsm_kms_spec_info(uint32_t spec)
{
    return spec > OHSM_KSPEC_NONE && spec < SPEC_COUNT ? &specs[spec] : NULL;
}

const struct ohsm_kms_spec_impl *ohsm_kms_spec_impl(uint32_t spec)
{
    return spec > OHSM_KSPEC_NONE && spec < SPEC_COUNT ? &impls[spec] : NULL;
}

bool ohsm_kms_spec_allows(uint32_t spec, uint32_t usage)
{
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(spec);
    for (size_t i = 0; si != NULL && usage != OHSM_KUSE_NONE && i < 3 && si->usages[i] != 0; i++) {
        if (si->usages[i] == usage) {
            return true;
        }
    }
    return false;
}

/* ---- buffers ---- */

uint8_t *ohsm_kms_secure_dup(const uint8_t *p, size_t len)
{
    uint8_t *q = OPENSSL_secure_malloc(len);
    if (q != NULL) {
        memcpy(q, p, len);
    }
    return q;
}

uint8_t *ohsm_kms_plain_dup(const uint8_t *p, size_t len)
{
    uint8_t *q = malloc(len);
    if (q != NULL) {
        memcpy(q, p, len);
    }
    return q;
}

void ohsm_kms_bytes_free(uint8_t *p, size_t len)
{
    if (p != NULL) {
        OPENSSL_secure_clear_free(p, len);
    }
}

/* ---- material ---- */

static uint32_t curve_of(const EVP_PKEY *pk)
{
    char name[64];
    size_t n = 0;
    if (EVP_PKEY_get_group_name(pk, name, sizeof(name), &n) != 1) {
        return OHSM_CURVE_NONE;
    }
    switch (OBJ_sn2nid(name)) {
    case NID_X9_62_prime256v1:
        return OHSM_CURVE_P256;
    case NID_secp384r1:
        return OHSM_CURVE_P384;
    case NID_secp521r1:
        return OHSM_CURVE_P521;
    case NID_secp256k1:
        return OHSM_CURVE_SECP256K1;
    default:
        return OHSM_CURVE_NONE;
    }
}

/* Loads PKCS#8 material as an EVP_PKEY exactly of spec (modulus size or curve). */
static ohsm_rv pkey_of_spec(const struct ohsm_kms_spec_impl *im, const uint8_t *m, size_t len,
                            void **out)
{
    void *pk = NULL;
    ohsm_rv rv = ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, im->ktype, m, len, &pk);
    if (rv == OHSM_HOST_MEMORY) {
        return rv;
    }
    OHSM_ENSURE(rv == OHSM_OK, OHSM_DATA_INVALID);
    bool ok = im->ktype == OHSM_KT_RSA ? EVP_PKEY_get_bits(pk) == (int)im->size
                                       : curve_of(pk) == im->size;
    if (!ok) {
        ohsm_mech_pkey_free(pk);
        return OHSM_DATA_INVALID;
    }
    *out = pk;
    return OHSM_OK;
}

static bool is_pair(const struct ohsm_kms_spec_impl *im)
{
    return im->ktype == OHSM_KT_RSA || im->ktype == OHSM_KT_EC;
}

/* A fresh key pair of an RSA/ECC spec. */
static ohsm_rv gen_pair(const struct ohsm_kms_spec_impl *im, void **pk)
{
    return im->ktype == OHSM_KT_RSA ? ohsm_mech_gen_rsa(im->size, 65537, pk)
                                    : ohsm_mech_gen_ec(im->size, pk);
}

ohsm_rv ohsm_kms_material_gen(uint32_t spec, uint8_t **out, size_t *out_len)
{
    const struct ohsm_kms_spec_impl *im = ohsm_kms_spec_impl(spec);
    void *pk = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(im != NULL && out != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    if (is_pair(im)) {
        OHSM_TRY(gen_pair(im, &pk));
        rv = ohsm_mech_pkey_der(pk, true, out, out_len); /* secure heap */
        ohsm_mech_pkey_free(pk);
        return rv;
    }
    uint8_t *m = OPENSSL_secure_malloc(im->size);
    OHSM_ENSURE(m != NULL, OHSM_HOST_MEMORY);
    rv = ohsm_mech_gen_secret(m, im->size);
    if (rv != OHSM_OK) {
        ohsm_kms_bytes_free(m, im->size);
        return rv;
    }
    *out = m;
    *out_len = im->size;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_material_check(uint32_t spec, const uint8_t *m, size_t len)
{
    const struct ohsm_kms_spec_impl *im = ohsm_kms_spec_impl(spec);
    void *pk = NULL;

    OHSM_ENSURE(im != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(m != NULL && len > 0, OHSM_DATA_INVALID);
    if (!is_pair(im)) {
        return len >= im->import_min && len <= im->import_max ? OHSM_OK : OHSM_DATA_INVALID;
    }
    OHSM_TRY(pkey_of_spec(im, m, len, &pk));
    /* The private and public halves must belong together, or every signature would fail. */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    ohsm_rv rv = ctx == NULL ? OHSM_HOST_MEMORY
                             : (EVP_PKEY_pairwise_check(ctx) == 1 ? OHSM_OK : OHSM_DATA_INVALID);
    EVP_PKEY_CTX_free(ctx);
    ohsm_mech_pkey_free(pk);
    return rv;
}

/* ---- loaded keys ---- */

ohsm_rv ohsm_kms_kmat_load(uint32_t spec, const uint8_t *m, size_t len, struct ohsm_kms_kmat **out)
{
    const struct ohsm_kms_spec_impl *im = ohsm_kms_spec_impl(spec);
    struct ohsm_kms_kmat *k = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(im != NULL && out != NULL && (m != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    /* Stored material was checked on entry; HMAC keys of any length up to the generic-secret
     * limit stay usable (RFC 2104 allows any length). */
    OHSM_ENSURE(len > 0 &&
                    (is_pair(im) ||
                     (im->ktype == OHSM_KT_AES ? len == 32 : len <= OHSM_GENERIC_SECRET_MAX)),
                OHSM_DATA_INVALID);
    k = calloc(1, sizeof(*k));
    OHSM_ENSURE(k != NULL, OHSM_HOST_MEMORY);
    k->spec = spec;
    k->m = ohsm_kms_secure_dup(m, len);
    k->m_len = len;
    if (k->m == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    if (is_pair(im)) {
        rv = pkey_of_spec(im, m, len, &k->pkey);
        if (rv != OHSM_OK) {
            goto out;
        }
        k->pk_bytes = (size_t)EVP_PKEY_get_size(k->pkey);
    }
    rv = ohsm_mech_cache_new(&k->cache);
    if (rv != OHSM_OK) {
        goto out;
    }
    k->mk.cls = is_pair(im) ? OHSM_CLASS_PRIVATE : OHSM_CLASS_SECRET;
    k->mk.ktype = im->ktype;
    k->mk.raw = is_pair(im) ? NULL : k->m;
    k->mk.raw_len = is_pair(im) ? 0 : len;
    k->mk.pkey = k->pkey;
    k->mk.cache = k->cache;
    *out = k;
    k = NULL;
out:
    ohsm_kms_kmat_free(k);
    return rv;
}

void ohsm_kms_kmat_free(struct ohsm_kms_kmat *k)
{
    if (k == NULL) {
        return;
    }
    ohsm_mech_cache_free(k->cache); /* its contexts hold the key: before the key goes */
    ohsm_mech_pkey_free(k->pkey);   /* OpenSSL clears private components */
    ohsm_kms_bytes_free(k->m, k->m_len);
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

const uint8_t *ohsm_kms_kmat_raw(const struct ohsm_kms_kmat *k, size_t *len)
{
    if (k == NULL || k->pkey != NULL) {
        if (len != NULL) {
            *len = 0;
        }
        return NULL;
    }
    if (len != NULL) {
        *len = k->m_len;
    }
    return k->m;
}

const void *ohsm_kms_kmat_mech(const struct ohsm_kms_kmat *k)
{
    return k == NULL ? NULL : &k->mk;
}

/* SPKI of pk into a malloc'd buffer (public: no secure heap needed). */
static ohsm_rv spki_of(void *pk, uint8_t **out, size_t *out_len)
{
    uint8_t *der = NULL;
    size_t n = 0;
    OHSM_TRY(ohsm_mech_pkey_der(pk, false, &der, &n));
    uint8_t *p = ohsm_kms_plain_dup(der, n);
    ohsm_mech_der_free(der, n);
    OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
    *out = p;
    *out_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_public_der(const struct ohsm_kms_kmat *k, uint8_t **out, size_t *out_len)
{
    OHSM_ENSURE(k != NULL && out != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(k->pkey != NULL, OHSM_KEY_TYPE_INCONSISTENT);
    return spki_of(k->pkey, out, out_len);
}

/* A new pair of an RSA/ECC spec: private PKCS#8 (secure heap), public SPKI (malloc'd). */
static ohsm_rv new_pair(const struct ohsm_kms_spec_impl *im, uint8_t **priv, size_t *priv_len,
                        uint8_t **pub, size_t *pub_len)
{
    void *pk = NULL;
    uint8_t *d = NULL;
    size_t dn = 0;

    OHSM_TRY(gen_pair(im, &pk));
    ohsm_rv rv = ohsm_mech_pkey_der(pk, true, &d, &dn);
    if (rv == OHSM_OK) {
        rv = spki_of(pk, pub, pub_len);
    }
    if (rv == OHSM_OK) {
        *priv = d;
        *priv_len = dn;
        d = NULL;
    }
    ohsm_mech_der_free(d, dn);
    ohsm_mech_pkey_free(pk);
    return rv;
}

ohsm_rv ohsm_kms_data_key_pair(uint32_t spec, uint8_t **priv, size_t *priv_len, uint8_t **pub,
                               size_t *pub_len)
{
    const struct ohsm_kms_spec_impl *im = ohsm_kms_spec_impl(spec);
    OHSM_ENSURE(priv != NULL && priv_len != NULL && pub != NULL && pub_len != NULL,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(im != NULL && is_pair(im), OHSM_ARGUMENTS_BAD);
    return new_pair(im, priv, priv_len, pub, pub_len);
}

ohsm_rv ohsm_kms_wrapping_pair(uint32_t bits, uint8_t **priv, size_t *priv_len, uint8_t **pub,
                               size_t *pub_len)
{
    OHSM_ENSURE(priv != NULL && priv_len != NULL && pub != NULL && pub_len != NULL,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(bits == 2048 || bits == 3072 || bits == 4096, OHSM_ARGUMENTS_BAD);
    struct ohsm_kms_spec_impl im = {.ktype = OHSM_KT_RSA, .size = bits};
    return new_pair(&im, priv, priv_len, pub, pub_len);
}
