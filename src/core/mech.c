/* SPDX-License-Identifier: Apache-2.0
 *
 * Mechanisms over OpenSSL 3 EVP: key generation, key material encodings, encrypt/decrypt,
 * sign/verify, wrap/unwrap, digests, HMAC. Sizes, parameters, ciphertexts, signatures, wrapped
 * keys and PEM/DER material come from the wire and are all checked here; EVP_PKEYs are trusted
 * (the caller loaded them through ohsm_mech_pkey_load) and only read, so they may be shared
 * between threads. Stateless and thread-safe. Deprecated OpenSSL APIs are compiled out below.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "openhsm/mech.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define GCM_IV_LEN 12
#define AES_BLOCK 16
#define KW_BLOCK 8
#define RSA_MAX_BYTES 512 /* 4096-bit modulus */
#define ECDSA_DER_MAX 160 /* P-521: 2 * (3 + 66) + 3 */
#define PEM_MAX (1u << 20)

/* OpenSSL failed: its error queue explains why, but core does not print; drain it so the next
 * caller on this thread does not see stale errors. */
static ohsm_rv ossl_fail(ohsm_rv rv)
{
    ERR_clear_error();
    return rv;
}

static ohsm_rv too_small(size_t needed, size_t cap, size_t *out_len)
{
    if (cap < needed) {
        *out_len = needed;
        return OHSM_BUFFER_TOO_SMALL;
    }
    return OHSM_OK;
}

/* ---- hashes ---- */

static const struct {
    const char *name;
    size_t len;
} hashes[] = {
    [OHSM_H_SHA1] = {"sha1", 20},     [OHSM_H_SHA224] = {"sha224", 28},
    [OHSM_H_SHA256] = {"sha256", 32}, [OHSM_H_SHA384] = {"sha384", 48},
    [OHSM_H_SHA512] = {"sha512", 64},
};
#define HASH_COUNT (sizeof(hashes) / sizeof(hashes[0]))

const char *ohsm_hash_name(uint32_t h)
{
    return h > OHSM_H_NONE && h < HASH_COUNT ? hashes[h].name : NULL;
}

int ohsm_hash_from_name(const char *name)
{
    for (size_t h = 1; name != NULL && h < HASH_COUNT; h++) {
        if (strcasecmp(name, hashes[h].name) == 0) {
            return (int)h;
        }
    }
    return -1;
}

size_t ohsm_hash_len(uint32_t h)
{
    return h > OHSM_H_NONE && h < HASH_COUNT ? hashes[h].len : 0;
}

/* The static EVP_MDs, not EVP_MD_fetch: no allocation per call, nothing to free. */
static const EVP_MD *md_of(uint32_t h)
{
    switch (h) {
    case OHSM_H_SHA1:
        return EVP_sha1();
    case OHSM_H_SHA224:
        return EVP_sha224();
    case OHSM_H_SHA256:
        return EVP_sha256();
    case OHSM_H_SHA384:
        return EVP_sha384();
    case OHSM_H_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

/* ---- curves ---- */

static int curve_nid(uint32_t curve)
{
    switch (curve) {
    case OHSM_CURVE_P256:
        return NID_X9_62_prime256v1;
    case OHSM_CURVE_P384:
        return NID_secp384r1;
    case OHSM_CURVE_P521:
        return NID_secp521r1;
    case OHSM_CURVE_SECP256K1:
        return NID_secp256k1;
    case OHSM_CURVE_P224:
        return NID_secp224r1;
    default:
        return NID_undef;
    }
}

/* The curve of an EC key, OHSM_CURVE_NONE when unsupported (or explicit parameters). */
static uint32_t curve_of(const EVP_PKEY *pk)
{
    char name[64];
    size_t n = 0;
    if (EVP_PKEY_get_group_name(pk, name, sizeof(name), &n) != 1) {
        ERR_clear_error();
        return OHSM_CURVE_NONE;
    }
    int nid = OBJ_sn2nid(name);
    if (nid == NID_undef) {
        nid = EC_curve_nist2nid(name);
    }
    for (uint32_t c = OHSM_CURVE_P256; c <= OHSM_CURVE_P224; c++) {
        if (curve_nid(c) == nid) {
            return c;
        }
    }
    return OHSM_CURVE_NONE;
}

/* ---- keys ---- */

ohsm_rv ohsm_mech_check_size(uint32_t ktype, uint32_t length, uint64_t public_exponent)
{
    switch (ktype) {
    case OHSM_KT_AES:
        OHSM_ENSURE(length == 16 || length == 24 || length == 32, OHSM_KEY_SIZE_RANGE);
        return OHSM_OK;
    case OHSM_KT_GENERIC_SECRET:
        OHSM_ENSURE(length >= 1 && length <= 800, OHSM_KEY_SIZE_RANGE);
        return OHSM_OK;
    case OHSM_KT_RSA:
        OHSM_ENSURE(length >= 2048 && length <= 4096 && length % 8 == 0, OHSM_KEY_SIZE_RANGE);
        OHSM_ENSURE(public_exponent == 0 || (public_exponent % 2 == 1 && public_exponent >= 65537),
                    OHSM_ATTRIBUTE_VALUE_INVALID);
        return OHSM_OK;
    case OHSM_KT_EC:
        /* length is the curve (enum ohsm_curve). */
        OHSM_ENSURE(curve_nid(length) != NID_undef, OHSM_KEY_SIZE_RANGE);
        return OHSM_OK;
    default:
        return OHSM_ATTRIBUTE_VALUE_INVALID;
    }
}

ohsm_rv ohsm_mech_gen_secret(uint8_t *out, size_t len)
{
    OHSM_ENSURE(out != NULL && len > 0 && len <= INT_MAX, OHSM_ARGUMENTS_BAD);
    if (RAND_priv_bytes(out, (int)len) != 1) {
        OPENSSL_cleanse(out, len);
        return ossl_fail(OHSM_DEVICE_ERROR);
    }
    return OHSM_OK;
}

ohsm_rv ohsm_mech_gen_rsa(uint32_t bits, uint64_t exponent, void **pkey)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *e = NULL;
    EVP_PKEY *pk = NULL;

    OHSM_ENSURE(pkey != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_mech_check_size(OHSM_KT_RSA, bits, exponent));
    e = BN_new();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (e == NULL || ctx == NULL || BN_set_word(e, exponent == 0 ? 65537 : exponent) != 1 ||
        EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) != 1 ||
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) != 1 || EVP_PKEY_generate(ctx, &pk) != 1) {
        rv = ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    *pkey = pk;
    rv = OHSM_OK;
out:
    BN_free(e);
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

ohsm_rv ohsm_mech_gen_ec(uint32_t curve, void **pkey)
{
    EVP_PKEY *pk = NULL;
    int nid = curve_nid(curve);

    OHSM_ENSURE(pkey != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(nid != NID_undef, OHSM_KEY_SIZE_RANGE);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_group_name(ctx, OBJ_nid2sn(nid)) != 1 ||
        EVP_PKEY_generate(ctx, &pk) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return ossl_fail(OHSM_DEVICE_ERROR);
    }
    EVP_PKEY_CTX_free(ctx);
    *pkey = pk;
    return OHSM_OK;
}

void ohsm_mech_pkey_free(void *pkey)
{
    EVP_PKEY_free(pkey); /* clears private components */
}

static EVP_PKEY *d2i_pkcs8(const uint8_t *der, size_t len)
{
    const uint8_t *p = der;
    EVP_PKEY *pk = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    /* Trailing bytes after the structure are malformed material, not ignorable. */
    if (p8 != NULL && p == der + len) {
        pk = EVP_PKCS82PKEY(p8);
    }
    PKCS8_PRIV_KEY_INFO_free(p8); /* clears the private key octets */
    return pk;
}

static EVP_PKEY *d2i_spki(const uint8_t *der, size_t len)
{
    const uint8_t *p = der;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)len);
    if (pk != NULL && p != der + len) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

/* Is pk of ktype, and of a size we support? */
static ohsm_rv check_pkey(const EVP_PKEY *pk, uint32_t ktype)
{
    int id = EVP_PKEY_get_base_id(pk);
    if (ktype == OHSM_KT_RSA) {
        OHSM_ENSURE(id == EVP_PKEY_RSA, OHSM_KEY_TYPE_INCONSISTENT);
        int bits = EVP_PKEY_get_bits(pk);
        OHSM_ENSURE(bits >= 2048 && bits <= 4096, OHSM_KEY_SIZE_RANGE);
        return OHSM_OK;
    }
    if (ktype == OHSM_KT_EC) {
        OHSM_ENSURE(id == EVP_PKEY_EC, OHSM_KEY_TYPE_INCONSISTENT);
        OHSM_ENSURE(curve_of(pk) != OHSM_CURVE_NONE, OHSM_KEY_SIZE_RANGE);
        return OHSM_OK;
    }
    return OHSM_KEY_TYPE_INCONSISTENT;
}

ohsm_rv ohsm_mech_pkey_load(uint32_t cls, uint32_t ktype, const uint8_t *der, size_t len,
                            void **pkey)
{
    EVP_PKEY *pk = NULL;

    OHSM_ENSURE(pkey != NULL && (der != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(ktype == OHSM_KT_RSA || ktype == OHSM_KT_EC, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(len > 0 && len <= LONG_MAX, OHSM_DATA_INVALID);
    if (cls == OHSM_CLASS_PRIVATE) {
        pk = d2i_pkcs8(der, len);
    } else if (cls == OHSM_CLASS_PUBLIC) {
        pk = d2i_spki(der, len);
    } else {
        return OHSM_KEY_TYPE_INCONSISTENT;
    }
    if (pk == NULL) {
        return ossl_fail(OHSM_DATA_INVALID);
    }
    ohsm_rv rv = check_pkey(pk, ktype);
    if (rv != OHSM_OK) {
        EVP_PKEY_free(pk);
        return rv;
    }
    *pkey = pk;
    return OHSM_OK;
}

ohsm_rv ohsm_mech_pkey_der(void *pkey, bool private_part, uint8_t **der, size_t *len)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    uint8_t *buf = NULL;
    int n;

    OHSM_ENSURE(pkey != NULL && der != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    if (private_part) {
        p8 = EVP_PKEY2PKCS8(pkey);
        if (p8 == NULL) {
            /* A public key has no private part to encode. */
            return ossl_fail(OHSM_KEY_TYPE_INCONSISTENT);
        }
        n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    } else {
        n = i2d_PUBKEY(pkey, NULL);
    }
    if (n <= 0) {
        rv = ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    /* Encode straight into the secure heap: no copy of a private key in ordinary memory. */
    buf = OPENSSL_secure_malloc((size_t)n);
    if (buf == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    uint8_t *q = buf;
    if ((private_part ? i2d_PKCS8_PRIV_KEY_INFO(p8, &q) : i2d_PUBKEY(pkey, &q)) != n) {
        rv = ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    *der = buf;
    *len = (size_t)n;
    buf = NULL;
    rv = OHSM_OK;
out:
    if (buf != NULL) {
        OPENSSL_secure_clear_free(buf, (size_t)n);
    }
    PKCS8_PRIV_KEY_INFO_free(p8);
    return rv;
}

void ohsm_mech_der_free(uint8_t *der, size_t len)
{
    if (der != NULL) {
        OPENSSL_secure_clear_free(der, len);
    }
}

/* One PEM block's DER -> key, by the block's label. Encrypted private keys ("ENCRYPTED PRIVATE
 * KEY", or legacy Proc-Type headers, refused by the caller) are not supported: an HSM has no one
 * to ask for a password. */
static EVP_PKEY *pem_block_key(const char *name, const uint8_t *d, size_t n, uint32_t *cls)
{
    const uint8_t *p = d;
    EVP_PKEY *pk = NULL;

    if (strcmp(name, "PRIVATE KEY") == 0) {
        *cls = OHSM_CLASS_PRIVATE;
        return d2i_pkcs8(d, n);
    }
    if (strcmp(name, "PUBLIC KEY") == 0) {
        *cls = OHSM_CLASS_PUBLIC;
        return d2i_spki(d, n);
    }
    if (strcmp(name, "RSA PUBLIC KEY") == 0) { /* PKCS#1 RSAPublicKey */
        *cls = OHSM_CLASS_PUBLIC;
        pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)n);
    } else if (strcmp(name, "RSA PRIVATE KEY") == 0) { /* PKCS#1 RSAPrivateKey */
        *cls = OHSM_CLASS_PRIVATE;
        pk = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long)n);
    } else if (strcmp(name, "EC PRIVATE KEY") == 0) { /* RFC 5915 ECPrivateKey */
        *cls = OHSM_CLASS_PRIVATE;
        pk = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, (long)n);
    }
    if (pk != NULL && p != d + n) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

ohsm_rv ohsm_mech_pem_to_der(const char *pem, size_t len, uint32_t *cls, uint32_t *ktype,
                             uint8_t **der, size_t *der_len)
{
    ohsm_rv rv = OHSM_DATA_INVALID;
    BIO *bio = NULL;
    char *name = NULL;
    char *hdr = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    EVP_PKEY *pk = NULL;
    uint32_t c = 0;

    OHSM_ENSURE(pem != NULL && cls != NULL && ktype != NULL && der != NULL && der_len != NULL,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(len > 0 && len <= PEM_MAX, OHSM_DATA_INVALID);
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        return ossl_fail(OHSM_HOST_MEMORY);
    }
    /* PEM_FLAG_SECURE: the decoded DER (a private key) lives in the secure heap. */
    if (PEM_read_bio_ex(bio, &name, &hdr, &data, &dlen, PEM_FLAG_SECURE) != 1 || dlen <= 0) {
        rv = ossl_fail(OHSM_DATA_INVALID);
        goto out;
    }
    if (hdr != NULL && hdr[0] != '\0') { /* RFC 1421 headers: a legacy encrypted key */
        goto out;
    }
    pk = pem_block_key(name, data, (size_t)dlen, &c);
    if (pk == NULL) {
        rv = ossl_fail(OHSM_DATA_INVALID);
        goto out;
    }
    int id = EVP_PKEY_get_base_id(pk);
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC) {
        goto out;
    }
    rv = ohsm_mech_pkey_der(pk, c == OHSM_CLASS_PRIVATE, der, der_len);
    if (rv == OHSM_OK) {
        *cls = c;
        *ktype = id == EVP_PKEY_RSA ? OHSM_KT_RSA : OHSM_KT_EC;
    }
out:
    if (data != NULL) {
        OPENSSL_secure_clear_free(data, (size_t)dlen);
    }
    OPENSSL_secure_free(name);
    OPENSSL_secure_free(hdr);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return rv;
}

ohsm_rv ohsm_mech_fill_public(struct ohsm_obj *o, void *pkey)
{
    OHSM_ENSURE(o != NULL && pkey != NULL, OHSM_ARGUMENTS_BAD);
    int n = i2d_PUBKEY(pkey, NULL);
    OHSM_ENSURE(n > 0, ossl_fail(OHSM_DEVICE_ERROR));
    OHSM_ENSURE((size_t)n <= sizeof(o->spki), OHSM_KEY_SIZE_RANGE);
    uint8_t *q = o->spki;
    OHSM_ENSURE(i2d_PUBKEY(pkey, &q) == n, ossl_fail(OHSM_DEVICE_ERROR));
    o->spki_len = (uint32_t)n;
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        o->modulus_bits = (uint32_t)EVP_PKEY_get_bits(pkey);
        o->value_len = (o->modulus_bits + 7) / 8;
        o->curve = OHSM_CURVE_NONE;
        return OHSM_OK;
    case EVP_PKEY_EC:
        o->curve = curve_of(pkey);
        o->modulus_bits = 0;
        o->value_len = 0;
        return o->curve != OHSM_CURVE_NONE ? OHSM_OK : OHSM_KEY_SIZE_RANGE;
    default:
        return OHSM_KEY_TYPE_INCONSISTENT;
    }
}

/* ---- AES primitives ---- */

static const EVP_CIPHER *aes_cipher(uint32_t mech, size_t klen)
{
    size_t i = klen / 8 - 2; /* 16, 24, 32 -> 0, 1, 2; klen checked by aes_key */
    switch (mech) {
    case OHSM_M_AES_GCM:
        return (const EVP_CIPHER *[]){EVP_aes_128_gcm(), EVP_aes_192_gcm(), EVP_aes_256_gcm()}[i];
    case OHSM_M_AES_CBC_PAD:
    case OHSM_M_AES_CBC:
        return (const EVP_CIPHER *[]){EVP_aes_128_cbc(), EVP_aes_192_cbc(), EVP_aes_256_cbc()}[i];
    case OHSM_M_AES_CTR:
        return (const EVP_CIPHER *[]){EVP_aes_128_ctr(), EVP_aes_192_ctr(), EVP_aes_256_ctr()}[i];
    case OHSM_M_AES_ECB:
        return (const EVP_CIPHER *[]){EVP_aes_128_ecb(), EVP_aes_192_ecb(), EVP_aes_256_ecb()}[i];
    case OHSM_M_AES_KWP:
        return (const EVP_CIPHER *[]){EVP_aes_128_wrap_pad(), EVP_aes_192_wrap_pad(),
                                      EVP_aes_256_wrap_pad()}[i];
    default: /* RFC 3394 and the padded-then-3394 variants */
        return (const EVP_CIPHER *[]){EVP_aes_128_wrap(), EVP_aes_192_wrap(),
                                      EVP_aes_256_wrap()}[i];
    }
}

static ohsm_rv aes_key(const struct ohsm_mech_key *k)
{
    OHSM_ENSURE(k->cls == OHSM_CLASS_SECRET && k->ktype == OHSM_KT_AES, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(k->raw != NULL && (k->raw_len == 16 || k->raw_len == 24 || k->raw_len == 32),
                OHSM_KEY_SIZE_RANGE);
    return OHSM_OK;
}

/* One pass of an EVP cipher over in (whole message), writing at most in_len + 16 bytes.
 * Decryption failures (padding, unwrap integrity) are OHSM_ENCRYPTED_DATA_INVALID. */
static ohsm_rv aes_run(const struct ohsm_mech_key *k, uint32_t mech, bool enc, const uint8_t *iv,
                       const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    int n1 = 0;
    int n2 = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    OHSM_ENSURE(ctx != NULL, ossl_fail(OHSM_HOST_MEMORY));
    /* The wrap modes refuse to run unless asked for by name (a guard against misuse). */
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    bool block = mech == OHSM_M_AES_CBC_PAD || mech == OHSM_M_AES_CBC || mech == OHSM_M_AES_ECB;
    if (EVP_CipherInit_ex(ctx, aes_cipher(mech, k->raw_len), NULL, k->raw, iv, enc) != 1 ||
        (block && EVP_CIPHER_CTX_set_padding(ctx, mech == OHSM_M_AES_CBC_PAD) != 1)) {
        rv = ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    if (EVP_CipherUpdate(ctx, out, &n1, in, (int)in_len) != 1 ||
        EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1) {
        rv = ossl_fail(enc ? OHSM_DEVICE_ERROR : OHSM_ENCRYPTED_DATA_INVALID);
        goto out;
    }
    *out_len = (size_t)n1 + (size_t)n2;
    rv = OHSM_OK;
out:
    EVP_CIPHER_CTX_free(ctx); /* wipes the key schedule */
    return rv;
}

/* AES-GCM (NIST SP 800-38D). enc: out = ct || tag; dec: in = ct || tag, out = pt, wiped when the
 * tag does not verify. */
static ohsm_rv gcm_run(const struct ohsm_mech_key *k, bool enc, const uint8_t *iv,
                       const uint8_t *aad, size_t aad_len, size_t tag, const uint8_t *in,
                       size_t in_len, uint8_t *out)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    int n = 0;
    size_t body = enc ? in_len : in_len - tag;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    OHSM_ENSURE(ctx != NULL, ossl_fail(OHSM_HOST_MEMORY));
    if (EVP_CipherInit_ex(ctx, aes_cipher(OHSM_M_AES_GCM, k->raw_len), NULL, k->raw, iv, enc) !=
            1 ||
        (aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
        EVP_CipherUpdate(ctx, out, &n, in, (int)body) != 1) {
        rv = ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    if (enc) {
        if (EVP_CipherFinal_ex(ctx, out + body, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, (int)tag, out + body) != 1) {
            rv = ossl_fail(OHSM_DEVICE_ERROR);
            goto out;
        }
    } else if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)tag, (void *)(in + body)) != 1 ||
               EVP_CipherFinal_ex(ctx, out + body, &n) != 1) {
        OPENSSL_cleanse(out, body);
        rv = ossl_fail(OHSM_ENCRYPTED_DATA_INVALID);
        goto out;
    }
    rv = OHSM_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rv;
}

static ohsm_rv gcm_tag_len(const struct ohsm_mech_params *m, size_t *tag)
{
    uint32_t bits = m->tag_bits == 0 ? 128 : m->tag_bits;
    OHSM_ENSURE(bits >= 96 && bits <= 128 && bits % 8 == 0, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(m->aad_len == 0 || (m->aad != NULL && m->aad_len <= INT_MAX),
                OHSM_MECHANISM_PARAM_INVALID);
    *tag = bits / 8;
    return OHSM_OK;
}

static size_t mode_iv_len(uint32_t mech)
{
    return mech == OHSM_M_AES_GCM ? GCM_IV_LEN : mech == OHSM_M_AES_ECB ? 0 : AES_BLOCK;
}

/* ---- AES encrypt / decrypt ---- */

static ohsm_rv aes_encrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                           size_t *out_len, uint8_t *iv_out, size_t iv_cap, size_t *iv_len)
{
    size_t ivn = mode_iv_len(m->mech);
    size_t tag = 0;
    size_t need = in_len;
    const uint8_t *iv = m->iv;

    OHSM_TRY(aes_key(k));
    OHSM_ENSURE(in_len <= INT_MAX - 2 * AES_BLOCK, OHSM_DATA_LEN_RANGE);
    if (m->mech == OHSM_M_AES_GCM) {
        OHSM_TRY(gcm_tag_len(m, &tag));
        need = in_len + tag;
    } else if (m->mech == OHSM_M_AES_CBC_PAD) {
        need = (in_len / AES_BLOCK + 1) * AES_BLOCK; /* PKCS#7 always adds 1..16 bytes */
    } else if (m->mech == OHSM_M_AES_CTR) {
        OHSM_ENSURE(in_len > 0, OHSM_DATA_LEN_RANGE);
    } else {
        OHSM_ENSURE(in_len > 0 && in_len % AES_BLOCK == 0, OHSM_DATA_LEN_RANGE);
    }
    if (m->iv_len == 0 && ivn > 0) {
        OHSM_ENSURE(iv_out != NULL && iv_len != NULL && iv_cap >= ivn, OHSM_ARGUMENTS_BAD);
    } else {
        OHSM_ENSURE(m->iv_len == ivn && (ivn == 0 || m->iv != NULL), OHSM_MECHANISM_PARAM_INVALID);
    }
    OHSM_TRY(too_small(need, out == NULL ? 0 : cap, out_len));
    if (m->iv_len == 0 && ivn > 0) {
        OHSM_ENSURE(RAND_bytes(iv_out, (int)ivn) == 1, ossl_fail(OHSM_DEVICE_ERROR));
        iv = iv_out;
        *iv_len = ivn;
    }
    if (m->mech == OHSM_M_AES_GCM) {
        OHSM_TRY(gcm_run(k, true, iv, m->aad, m->aad_len, tag, in, in_len, out));
        *out_len = need;
        return OHSM_OK;
    }
    return aes_run(k, m->mech, true, iv, in, in_len, out, out_len);
}

/* CBC with PKCS#7 padding: the plaintext length is known only after decrypting, so the last
 * block goes through a stack buffer and a caller may pass a buffer of exactly the plaintext's
 * size. */
static ohsm_rv cbc_pad_decrypt(const struct ohsm_mech_key *k, const uint8_t *iv, const uint8_t *in,
                               size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    ohsm_rv rv;
    uint8_t last[2 * AES_BLOCK];
    size_t head = in_len - AES_BLOCK;
    size_t n = 0;
    const uint8_t *iv2 = head > 0 ? in + head - AES_BLOCK : iv;

    if (cap >= in_len) {
        return aes_run(k, OHSM_M_AES_CBC_PAD, false, iv, in, in_len, out, out_len);
    }
    if (cap < head) {
        /* At most in_len - 1 bytes of plaintext: a retry with that much room succeeds. */
        *out_len = in_len - 1;
        return OHSM_BUFFER_TOO_SMALL;
    }
    rv = aes_run(k, OHSM_M_AES_CBC_PAD, false, iv2, in + head, AES_BLOCK, last, &n);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = too_small(head + n, cap, out_len);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (head > 0) {
        rv = aes_run(k, OHSM_M_AES_CBC, false, iv, in, head, out, out_len);
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    memcpy(out + head, last, n);
    *out_len = head + n;
out:
    OPENSSL_cleanse(last, sizeof(last));
    return rv;
}

static ohsm_rv aes_decrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                           size_t *out_len)
{
    size_t ivn = mode_iv_len(m->mech);
    size_t tag = 0;

    OHSM_TRY(aes_key(k));
    OHSM_ENSURE(m->iv_len == ivn && (ivn == 0 || m->iv != NULL), OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in_len <= INT_MAX, OHSM_ENCRYPTED_DATA_LEN_RANGE);
    cap = out == NULL ? 0 : cap;
    switch (m->mech) {
    case OHSM_M_AES_GCM:
        OHSM_TRY(gcm_tag_len(m, &tag));
        OHSM_ENSURE(in_len >= tag, OHSM_ENCRYPTED_DATA_LEN_RANGE);
        OHSM_TRY(too_small(in_len - tag, cap, out_len));
        OHSM_TRY(gcm_run(k, false, m->iv, m->aad, m->aad_len, tag, in, in_len, out));
        *out_len = in_len - tag;
        return OHSM_OK;
    case OHSM_M_AES_CBC_PAD:
        OHSM_ENSURE(in_len > 0 && in_len % AES_BLOCK == 0, OHSM_ENCRYPTED_DATA_LEN_RANGE);
        return cbc_pad_decrypt(k, m->iv, in, in_len, out, cap, out_len);
    case OHSM_M_AES_CTR:
        OHSM_ENSURE(in_len > 0, OHSM_ENCRYPTED_DATA_LEN_RANGE);
        break;
    default:
        OHSM_ENSURE(in_len > 0 && in_len % AES_BLOCK == 0, OHSM_ENCRYPTED_DATA_LEN_RANGE);
        break;
    }
    OHSM_TRY(too_small(in_len, cap, out_len));
    return aes_run(k, m->mech, false, m->iv, in, in_len, out, out_len);
}

/* ---- RSA encrypt / decrypt ---- */

static bool is_rsa(const struct ohsm_mech_key *k)
{
    return k->ktype == OHSM_KT_RSA && k->pkey != NULL &&
           EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_RSA;
}

static bool is_ec(const struct ohsm_mech_key *k)
{
    return k->ktype == OHSM_KT_EC && k->pkey != NULL &&
           EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_EC;
}

/* A context for RSA encryption (OAEP or PKCS#1 v1.5) with its parameters; *max gets the longest
 * plaintext (RFC 8017 §7.1.1, §7.2.1). */
static ohsm_rv rsa_enc_ctx(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           bool enc, EVP_PKEY_CTX **out, size_t *max)
{
    uint32_t h = m->hash == OHSM_H_NONE ? OHSM_H_SHA1 : m->hash; /* PKCS#11 default */
    uint32_t mh = m->mgf_hash == OHSM_H_NONE ? h : m->mgf_hash;
    size_t kb = (size_t)EVP_PKEY_get_size(k->pkey);
    uint8_t *label = NULL;
    bool oaep = m->mech == OHSM_M_RSA_OAEP;

    if (oaep) {
        OHSM_ENSURE(md_of(h) != NULL && md_of(mh) != NULL, OHSM_MECHANISM_PARAM_INVALID);
        OHSM_ENSURE(m->label_len == 0 || (m->label != NULL && m->label_len <= INT_MAX),
                    OHSM_MECHANISM_PARAM_INVALID);
        OHSM_ENSURE(kb > 2 * ohsm_hash_len(h) + 2, OHSM_MECHANISM_PARAM_INVALID);
        *max = kb - 2 * ohsm_hash_len(h) - 2;
    } else {
        *max = kb - 11;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    OHSM_ENSURE(ctx != NULL, ossl_fail(OHSM_HOST_MEMORY));
    if ((enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) != 1) {
        goto fail;
    }
    if (oaep) {
        if (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md_of(h)) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md_of(mh)) != 1) {
            goto fail;
        }
        if (m->label_len > 0) {
            label = OPENSSL_memdup(m->label, m->label_len);
            /* set0 takes the copy on success only */
            if (label == NULL ||
                EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)m->label_len) != 1) {
                OPENSSL_free(label);
                goto fail;
            }
        }
    }
    *out = ctx;
    return OHSM_OK;
fail:
    EVP_PKEY_CTX_free(ctx);
    return ossl_fail(OHSM_DEVICE_ERROR);
}

static ohsm_rv rsa_encrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                           size_t *out_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    size_t max = 0;
    size_t n;

    OHSM_ENSURE(is_rsa(k), OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_TRY(rsa_enc_ctx(k, m, true, &ctx, &max));
    ohsm_rv rv = in_len <= max ? OHSM_OK : OHSM_DATA_LEN_RANGE;
    if (rv == OHSM_OK) {
        rv = too_small((size_t)EVP_PKEY_get_size(k->pkey), out == NULL ? 0 : cap, out_len);
    }
    if (rv == OHSM_OK) {
        n = cap;
        rv = EVP_PKEY_encrypt(ctx, out, &n, in, in_len) == 1 ? OHSM_OK
                                                             : ossl_fail(OHSM_DEVICE_ERROR);
        *out_len = n;
    }
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

static ohsm_rv rsa_decrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                           size_t *out_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t tmp[RSA_MAX_BYTES];
    size_t max = 0;
    size_t n = sizeof(tmp);
    ohsm_rv rv;

    OHSM_ENSURE(is_rsa(k) && k->cls == OHSM_CLASS_PRIVATE, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(in_len == (size_t)EVP_PKEY_get_size(k->pkey) && in_len <= sizeof(tmp),
                OHSM_ENCRYPTED_DATA_LEN_RANGE);
    OHSM_TRY(rsa_enc_ctx(k, m, false, &ctx, &max));
    /* Through tmp: OpenSSL wants room for a whole modulus, the caller only for the message. */
    rv = EVP_PKEY_decrypt(ctx, tmp, &n, in, in_len) == 1 ? OHSM_OK
                                                         : ossl_fail(OHSM_ENCRYPTED_DATA_INVALID);
    if (rv == OHSM_OK) {
        rv = too_small(n, out == NULL ? 0 : cap, out_len);
    }
    if (rv == OHSM_OK) {
        memcpy(out, tmp, n);
        *out_len = n;
    }
    OPENSSL_cleanse(tmp, sizeof(tmp));
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

/* ---- encrypt / decrypt ---- */

ohsm_rv ohsm_mech_encrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                          const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                          size_t *out_len, uint8_t *iv_out, size_t iv_cap, size_t *iv_len)
{
    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL && (in != NULL || in_len == 0),
                OHSM_ARGUMENTS_BAD);
    if (iv_len != NULL) {
        *iv_len = 0;
    }
    switch (m->mech) {
    case OHSM_M_AES_GCM:
    case OHSM_M_AES_CBC_PAD:
    case OHSM_M_AES_CBC:
    case OHSM_M_AES_CTR:
    case OHSM_M_AES_ECB:
        return aes_encrypt(k, m, in, in_len, out, cap, out_len, iv_out, iv_cap, iv_len);
    case OHSM_M_RSA_OAEP:
    case OHSM_M_RSA_PKCS:
        return rsa_encrypt(k, m, in, in_len, out, cap, out_len);
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

ohsm_rv ohsm_mech_decrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                          const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                          size_t *out_len)
{
    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL && (in != NULL || in_len == 0),
                OHSM_ARGUMENTS_BAD);
    switch (m->mech) {
    case OHSM_M_AES_GCM:
    case OHSM_M_AES_CBC_PAD:
    case OHSM_M_AES_CBC:
    case OHSM_M_AES_CTR:
    case OHSM_M_AES_ECB:
        return aes_decrypt(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_RSA_OAEP:
    case OHSM_M_RSA_PKCS:
        return rsa_decrypt(k, m, in, in_len, out, cap, out_len);
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

/* ---- sign / verify ---- */

/* Field size of an EC key's curve in bytes: half of a raw r || s signature. */
static size_t ec_half(const struct ohsm_mech_key *k)
{
    return ((size_t)EVP_PKEY_get_bits(k->pkey) + 7) / 8;
}

/* Checks key and parameters of an RSA/ECDSA signature and points *tbs at what the key signs:
 * the digest of the message (computed into dgst), the caller's digest (prehashed), or the raw
 * input when no hash is named (PKCS#11 CKM_RSA_PKCS / CKM_ECDSA). */
static ohsm_rv sig_prepare(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           bool sign, const uint8_t *in, size_t in_len,
                           uint8_t dgst[EVP_MAX_MD_SIZE], const uint8_t **tbs, size_t *tbs_len)
{
    const EVP_MD *md = md_of(m->hash);
    unsigned int n = 0;

    if (m->mech == OHSM_M_ECDSA) {
        OHSM_ENSURE(is_ec(k), OHSM_KEY_TYPE_INCONSISTENT);
        OHSM_ENSURE(ec_half(k) <= 66, OHSM_KEY_SIZE_RANGE); /* P-521 is the largest */
    } else {
        OHSM_ENSURE(is_rsa(k), OHSM_KEY_TYPE_INCONSISTENT);
    }
    OHSM_ENSURE(!sign || k->cls == OHSM_CLASS_PRIVATE, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(md != NULL || (m->hash == OHSM_H_NONE && m->mech != OHSM_M_RSA_PSS),
                OHSM_MECHANISM_PARAM_INVALID);
    if (m->mech == OHSM_M_RSA_PSS) {
        uint32_t mh = m->mgf_hash == OHSM_H_NONE ? m->hash : m->mgf_hash;
        /* RFC 8017 §9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits - 1) / 8). */
        size_t em = ((size_t)EVP_PKEY_get_bits(k->pkey) - 1 + 7) / 8;
        size_t salt = m->salt_len == UINT32_MAX ? ohsm_hash_len(m->hash) : m->salt_len;
        OHSM_ENSURE(md_of(mh) != NULL && salt + ohsm_hash_len(m->hash) + 2 <= em,
                    OHSM_MECHANISM_PARAM_INVALID);
    }
    OHSM_ENSURE(in != NULL || in_len == 0, OHSM_ARGUMENTS_BAD);
    if (md == NULL) {
        size_t max =
            m->mech == OHSM_M_ECDSA ? EVP_MAX_MD_SIZE : (size_t)EVP_PKEY_get_size(k->pkey) - 11;
        OHSM_ENSURE(in_len > 0 && in_len <= max, OHSM_DATA_LEN_RANGE);
        *tbs = in;
        *tbs_len = in_len;
    } else if (m->prehashed) {
        OHSM_ENSURE(in_len == ohsm_hash_len(m->hash), OHSM_DATA_LEN_RANGE);
        *tbs = in;
        *tbs_len = in_len;
    } else {
        OHSM_ENSURE(EVP_Digest(in, in_len, dgst, &n, md, NULL) == 1, ossl_fail(OHSM_DEVICE_ERROR));
        *tbs = dgst;
        *tbs_len = n;
    }
    return OHSM_OK;
}

/* A signing or verifying context with the padding, digest and PSS parameters of m. */
static EVP_PKEY_CTX *sig_ctx(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                             bool sign)
{
    const EVP_MD *md = md_of(m->hash);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);

    if (ctx == NULL || (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) != 1) {
        goto fail;
    }
    if (m->mech == OHSM_M_RSA_PKCS || m->mech == OHSM_M_RSA_PSS) {
        bool pss = m->mech == OHSM_M_RSA_PSS;
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) !=
            1) {
            goto fail;
        }
    }
    /* ECDSA signs a digest whatever hash made it (sig_prepare checked its length): naming the
     * hash would only cost a digest fetch per call. RSA encodes the hash's identity. */
    if (md != NULL && m->mech != OHSM_M_ECDSA && EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
        goto fail;
    }
    if (m->mech == OHSM_M_RSA_PSS) {
        uint32_t mh = m->mgf_hash == OHSM_H_NONE ? m->hash : m->mgf_hash;
        int salt = m->salt_len == UINT32_MAX ? RSA_PSS_SALTLEN_DIGEST : (int)m->salt_len;
        if (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md_of(mh)) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) != 1) {
            goto fail;
        }
    }
    return ctx;
fail:
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

/* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 §2.2.3) <-> r || s, each half
 * bytes (PKCS#11 §2.3.1). By hand rather than through ECDSA_SIG and BIGNUMs: this is on the
 * signing hot path, and two allocation-free copies cost nothing. Integers are < 128 bytes for
 * every curve we support, so their lengths are short-form; the SEQUENCE may need 0x81. */
static ohsm_rv der_int_to_raw(const uint8_t **p, const uint8_t *end, size_t half, uint8_t *out)
{
    const uint8_t *q = *p;
    OHSM_ENSURE(end - q >= 2 && q[0] == 0x02 && q[1] < 0x80 && (size_t)(end - q - 2) >= q[1],
                OHSM_DEVICE_ERROR);
    size_t n = q[1];
    const uint8_t *v = q + 2;
    *p = v + n;
    while (n > 0 && v[0] == 0) { /* positive INTEGERs carry a leading zero before a high bit */
        v++;
        n--;
    }
    OHSM_ENSURE(n <= half, OHSM_DEVICE_ERROR);
    memset(out, 0, half - n);
    memcpy(out + half - n, v, n);
    return OHSM_OK;
}

static ohsm_rv ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t half, uint8_t *out)
{
    OHSM_ENSURE(len >= 3 && der[0] == 0x30, OHSM_DEVICE_ERROR);
    size_t h = der[1] == 0x81 ? 3 : 2;
    size_t body = der[h - 1];
    OHSM_ENSURE((h == 3 || der[1] < 0x80) && len - h == body, OHSM_DEVICE_ERROR);
    const uint8_t *p = der + h;
    const uint8_t *end = der + len;
    OHSM_TRY(der_int_to_raw(&p, end, half, out));
    OHSM_TRY(der_int_to_raw(&p, end, half, out + half));
    return p == end ? OHSM_OK : OHSM_DEVICE_ERROR;
}

/* One unsigned big-endian number as a DER INTEGER at out; returns its encoded length. */
static size_t raw_to_der_int(const uint8_t *v, size_t n, uint8_t *out)
{
    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    size_t pad = v[0] & 0x80 ? 1 : 0;
    out[0] = 0x02;
    out[1] = (uint8_t)(n + pad);
    out[2] = 0;
    memcpy(out + 2 + pad, v, n);
    return 2 + pad + n;
}

/* r || s -> DER into der (cap ECDSA_DER_MAX; half <= 66 so each INTEGER fits short form). */
static void ecdsa_raw_to_der(const uint8_t *raw, size_t half, uint8_t *der, size_t *len)
{
    uint8_t body[2 * (3 + 66)];
    size_t n = raw_to_der_int(raw, half, body);
    n += raw_to_der_int(raw + half, half, body + n);
    size_t h = 0;
    der[h++] = 0x30;
    if (n >= 0x80) {
        der[h++] = 0x81;
    }
    der[h++] = (uint8_t)n;
    memcpy(der + h, body, n);
    *len = h + n;
}

static ohsm_rv pkey_sign(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                         const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    uint8_t dgst[EVP_MAX_MD_SIZE];
    uint8_t der[ECDSA_DER_MAX];
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    bool ec = m->mech == OHSM_M_ECDSA;
    ohsm_rv rv;

    OHSM_TRY(sig_prepare(k, m, true, in, in_len, dgst, &tbs, &tbs_len));
    size_t need = ec ? 2 * ec_half(k) : (size_t)EVP_PKEY_get_size(k->pkey);
    OHSM_TRY(too_small(need, out == NULL ? 0 : cap, out_len));
    EVP_PKEY_CTX *ctx = sig_ctx(k, m, true);
    OHSM_ENSURE(ctx != NULL, OHSM_DEVICE_ERROR);
    size_t n = ec ? sizeof(der) : cap;
    if (EVP_PKEY_sign(ctx, ec ? der : out, &n, tbs, tbs_len) != 1) {
        rv = ossl_fail(OHSM_DEVICE_ERROR);
    } else if (ec) {
        rv = ecdsa_der_to_raw(der, n, need / 2, out);
        n = need;
    } else {
        rv = OHSM_OK;
    }
    if (rv == OHSM_OK) {
        *out_len = n;
    }
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

static ohsm_rv pkey_verify(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           const uint8_t *in, size_t in_len, const uint8_t *sig, size_t sig_len)
{
    uint8_t dgst[EVP_MAX_MD_SIZE];
    uint8_t der[ECDSA_DER_MAX];
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    bool ec = m->mech == OHSM_M_ECDSA;

    OHSM_TRY(sig_prepare(k, m, false, in, in_len, dgst, &tbs, &tbs_len));
    OHSM_ENSURE(sig != NULL || sig_len == 0, OHSM_ARGUMENTS_BAD);
    if (ec) {
        OHSM_ENSURE(sig_len == 2 * ec_half(k), OHSM_SIGNATURE_INVALID);
        ecdsa_raw_to_der(sig, sig_len / 2, der, &sig_len);
        sig = der;
    } else {
        OHSM_ENSURE(sig_len == (size_t)EVP_PKEY_get_size(k->pkey), OHSM_SIGNATURE_INVALID);
    }
    EVP_PKEY_CTX *ctx = sig_ctx(k, m, false);
    OHSM_ENSURE(ctx != NULL, OHSM_DEVICE_ERROR);
    /* 0 is a bad signature; < 0 is one OpenSSL could not even parse (e.g. >= n): also bad. */
    int ok = EVP_PKEY_verify(ctx, sig, sig_len, tbs, tbs_len);
    EVP_PKEY_CTX_free(ctx);
    return ok == 1 ? OHSM_OK : ossl_fail(OHSM_SIGNATURE_INVALID);
}

/* HMAC (RFC 2104) with a generic secret or AES key; tag = the full hash length. */
static ohsm_rv hmac_tag(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                        const uint8_t *in, size_t in_len, uint8_t tag[EVP_MAX_MD_SIZE],
                        size_t *tag_len)
{
    const EVP_MD *md = md_of(m->hash);
    unsigned int n = 0;

    OHSM_ENSURE(k->cls == OHSM_CLASS_SECRET &&
                    (k->ktype == OHSM_KT_GENERIC_SECRET || k->ktype == OHSM_KT_AES),
                OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(k->raw != NULL && k->raw_len > 0 && k->raw_len <= INT_MAX, OHSM_KEY_SIZE_RANGE);
    OHSM_ENSURE(md != NULL && !m->prehashed, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in != NULL || in_len == 0, OHSM_ARGUMENTS_BAD);
    if (HMAC(md, k->raw, (int)k->raw_len, in_len > 0 ? in : (const uint8_t *)"", in_len, tag, &n) ==
        NULL) {
        OPENSSL_cleanse(tag, EVP_MAX_MD_SIZE);
        return ossl_fail(OHSM_DEVICE_ERROR);
    }
    *tag_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_mech_sign(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                       const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t tag[EVP_MAX_MD_SIZE];
    size_t n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    switch (m->mech) {
    case OHSM_M_RSA_PKCS:
    case OHSM_M_RSA_PSS:
    case OHSM_M_ECDSA:
        return pkey_sign(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_HMAC:
        OHSM_TRY(too_small(ohsm_hash_len(m->hash), out == NULL ? 0 : cap, out_len));
        rv = hmac_tag(k, m, in, in_len, tag, &n);
        if (rv == OHSM_OK) {
            memcpy(out, tag, n);
            *out_len = n;
        }
        OPENSSL_cleanse(tag, sizeof(tag));
        return rv;
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

ohsm_rv ohsm_mech_verify(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                         const uint8_t *in, size_t in_len, const uint8_t *sig, size_t sig_len)
{
    uint8_t tag[EVP_MAX_MD_SIZE];
    size_t n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && m != NULL, OHSM_ARGUMENTS_BAD);
    switch (m->mech) {
    case OHSM_M_RSA_PKCS:
    case OHSM_M_RSA_PSS:
    case OHSM_M_ECDSA:
        return pkey_verify(k, m, in, in_len, sig, sig_len);
    case OHSM_M_HMAC:
        OHSM_ENSURE(sig != NULL || sig_len == 0, OHSM_ARGUMENTS_BAD);
        rv = hmac_tag(k, m, in, in_len, tag, &n);
        if (rv == OHSM_OK && (sig_len != n || CRYPTO_memcmp(tag, sig, n) != 0)) {
            rv = OHSM_SIGNATURE_INVALID;
        }
        OPENSSL_cleanse(tag, sizeof(tag));
        return rv;
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

/* ---- wrap / unwrap ---- */

static size_t round8(size_t n)
{
    return (n + KW_BLOCK - 1) / KW_BLOCK * KW_BLOCK;
}

/* RFC 3394 / RFC 5649, and the CloudHSM variants that pad (PKCS#5 or zeros) to a multiple of 8
 * and then use RFC 3394. RFC 3394 needs at least two 64-bit blocks. */
static ohsm_rv kw_wrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                       const uint8_t *material, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len)
{
    uint8_t *padded = NULL;
    size_t plen = len;
    ohsm_rv rv;

    OHSM_TRY(aes_key(k));
    OHSM_ENSURE(m->iv_len == 0, OHSM_MECHANISM_PARAM_INVALID); /* default RFC IVs only */
    OHSM_ENSURE(len <= INT_MAX - 2 * AES_BLOCK, OHSM_DATA_LEN_RANGE);
    if (m->mech == OHSM_M_AES_KW_PKCS5) {
        plen = len + (KW_BLOCK - len % KW_BLOCK);
    } else if (m->mech == OHSM_M_AES_KW_ZERO || m->mech == OHSM_M_AES_KWP) {
        plen = round8(len);
    }
    OHSM_ENSURE(m->mech == OHSM_M_AES_KWP ? len > 0 : plen == round8(plen) && plen >= 16,
                OHSM_DATA_LEN_RANGE);
    OHSM_TRY(too_small(plen + KW_BLOCK, out == NULL ? 0 : cap, out_len));
    if (m->mech == OHSM_M_AES_KW || m->mech == OHSM_M_AES_KWP) {
        return aes_run(k, m->mech, true, NULL, material, len, out, out_len);
    }
    padded = OPENSSL_secure_malloc(plen);
    OHSM_ENSURE(padded != NULL, OHSM_HOST_MEMORY);
    memcpy(padded, material, len);
    memset(padded + len, m->mech == OHSM_M_AES_KW_PKCS5 ? (int)(plen - len) : 0, plen - len);
    rv = aes_run(k, OHSM_M_AES_KW, true, NULL, padded, plen, out, out_len);
    OPENSSL_secure_clear_free(padded, plen);
    return rv;
}

static ohsm_rv kw_unwrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                         const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    uint8_t *tmp = NULL;
    size_t n = 0;
    ohsm_rv rv;

    OHSM_TRY(aes_key(k));
    OHSM_ENSURE(m->iv_len == 0, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in_len >= (m->mech == OHSM_M_AES_KWP ? 16u : 24u) && in_len % KW_BLOCK == 0 &&
                    in_len <= INT_MAX - 2 * AES_BLOCK,
                OHSM_WRAPPED_KEY_INVALID);
    tmp = OPENSSL_secure_malloc(in_len + 2 * AES_BLOCK);
    OHSM_ENSURE(tmp != NULL, OHSM_HOST_MEMORY);
    rv = aes_run(k, m->mech == OHSM_M_AES_KWP ? OHSM_M_AES_KWP : OHSM_M_AES_KW, false, NULL, in,
                 in_len, tmp, &n);
    if (rv != OHSM_OK) {
        rv = OHSM_WRAPPED_KEY_INVALID;
        goto out;
    }
    if (m->mech == OHSM_M_AES_KW_PKCS5) {
        /* The RFC 3394 integrity check passed, so this is what the wrapper wrote: no oracle. */
        uint8_t pad = tmp[n - 1];
        rv = pad >= 1 && pad <= KW_BLOCK ? OHSM_OK : OHSM_WRAPPED_KEY_INVALID;
        for (size_t i = n - pad; rv == OHSM_OK && i < n; i++) {
            rv = tmp[i] == pad ? OHSM_OK : OHSM_WRAPPED_KEY_INVALID;
        }
        n -= rv == OHSM_OK ? pad : 0;
    }
    if (rv == OHSM_OK) {
        rv = too_small(n, out == NULL ? 0 : cap, out_len);
    }
    if (rv == OHSM_OK) {
        memcpy(out, tmp, n);
        *out_len = n;
    }
out:
    OPENSSL_secure_clear_free(tmp, in_len + 2 * AES_BLOCK);
    return rv;
}

/* AES-GCM wrapping: out = iv || ct || tag, so the blob is all an unwrap needs. */
static ohsm_rv gcm_wrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                        const uint8_t *material, size_t len, uint8_t *out, size_t cap,
                        size_t *out_len)
{
    size_t tag = 0;

    OHSM_TRY(aes_key(k));
    OHSM_TRY(gcm_tag_len(m, &tag));
    OHSM_ENSURE(m->iv_len == 0 || (m->iv_len == GCM_IV_LEN && m->iv != NULL),
                OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(len <= INT_MAX - 2 * AES_BLOCK - GCM_IV_LEN, OHSM_DATA_LEN_RANGE);
    OHSM_TRY(too_small(GCM_IV_LEN + len + tag, out == NULL ? 0 : cap, out_len));
    if (m->iv_len > 0) {
        memcpy(out, m->iv, GCM_IV_LEN);
    } else {
        OHSM_ENSURE(RAND_bytes(out, GCM_IV_LEN) == 1, ossl_fail(OHSM_DEVICE_ERROR));
    }
    OHSM_TRY(gcm_run(k, true, out, m->aad, m->aad_len, tag, material, len, out + GCM_IV_LEN));
    *out_len = GCM_IV_LEN + len + tag;
    return OHSM_OK;
}

static ohsm_rv gcm_unwrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                          const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                          size_t *out_len)
{
    size_t tag = 0;

    OHSM_TRY(aes_key(k));
    OHSM_TRY(gcm_tag_len(m, &tag));
    OHSM_ENSURE(m->iv_len == 0 || (m->iv_len == GCM_IV_LEN && m->iv != NULL),
                OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in_len > GCM_IV_LEN + tag && in_len <= INT_MAX, OHSM_WRAPPED_KEY_INVALID);
    /* An IV given with the request must be the one the blob carries. */
    OHSM_ENSURE(m->iv_len == 0 || CRYPTO_memcmp(m->iv, in, GCM_IV_LEN) == 0,
                OHSM_WRAPPED_KEY_INVALID);
    size_t n = in_len - GCM_IV_LEN - tag;
    OHSM_TRY(too_small(n, out == NULL ? 0 : cap, out_len));
    ohsm_rv rv =
        gcm_run(k, false, in, m->aad, m->aad_len, tag, in + GCM_IV_LEN, in_len - GCM_IV_LEN, out);
    OHSM_ENSURE(rv == OHSM_OK, rv == OHSM_ENCRYPTED_DATA_INVALID ? OHSM_WRAPPED_KEY_INVALID : rv);
    *out_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_mech_wrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                       const uint8_t *material, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len)
{
    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL && material != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(len > 0, OHSM_DATA_LEN_RANGE);
    switch (m->mech) {
    case OHSM_M_AES_KW:
    case OHSM_M_AES_KWP:
    case OHSM_M_AES_KW_PKCS5:
    case OHSM_M_AES_KW_ZERO:
        return kw_wrap(k, m, material, len, out, cap, out_len);
    case OHSM_M_AES_GCM:
        return gcm_wrap(k, m, material, len, out, cap, out_len);
    case OHSM_M_RSA_OAEP:
    case OHSM_M_RSA_PKCS:
        return rsa_encrypt(k, m, material, len, out, cap, out_len);
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

ohsm_rv ohsm_mech_unwrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                         const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL && (in != NULL || in_len == 0),
                OHSM_ARGUMENTS_BAD);
    switch (m->mech) {
    case OHSM_M_AES_KW:
    case OHSM_M_AES_KWP:
    case OHSM_M_AES_KW_PKCS5:
    case OHSM_M_AES_KW_ZERO:
        return kw_unwrap(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_AES_GCM:
        return gcm_unwrap(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_RSA_OAEP:
    case OHSM_M_RSA_PKCS:
        rv = rsa_decrypt(k, m, in, in_len, out, cap, out_len);
        if (rv == OHSM_ENCRYPTED_DATA_INVALID || rv == OHSM_ENCRYPTED_DATA_LEN_RANGE) {
            rv = OHSM_WRAPPED_KEY_INVALID;
        }
        return rv;
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

/* DER length of the TLV at p (a SEQUENCE for key material); 0 when it does not parse. */
static size_t der_tlv_len(const uint8_t *p, size_t n)
{
    if (n < 2 || p[0] != 0x30) {
        return 0;
    }
    if (p[1] < 0x80) {
        return 2 + (size_t)p[1] <= n ? 2 + (size_t)p[1] : 0;
    }
    size_t nb = p[1] & 0x7f;
    size_t body = 0;
    if (nb == 0 || nb > 3 || n < 2 + nb) {
        return 0;
    }
    for (size_t i = 0; i < nb; i++) {
        body = body << 8 | p[2 + i];
    }
    return body <= n - 2 - nb ? 2 + nb + body : 0;
}

ohsm_rv ohsm_mech_zero_unpad(uint32_t cls, uint32_t value_len, const uint8_t *p, size_t *len)
{
    OHSM_ENSURE(p != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    size_t want = cls == OHSM_CLASS_SECRET ? value_len : der_tlv_len(p, *len);
    /* At most 7 bytes of padding, all zero. */
    OHSM_ENSURE(want > 0 && want <= *len && *len - want < KW_BLOCK, OHSM_WRAPPED_KEY_INVALID);
    for (size_t i = want; i < *len; i++) {
        OHSM_ENSURE(p[i] == 0, OHSM_WRAPPED_KEY_INVALID);
    }
    *len = want;
    return OHSM_OK;
}

/* ---- digests and check values ---- */

ohsm_rv ohsm_mech_digest(uint32_t hash, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    const EVP_MD *md = md_of(hash);
    unsigned int n = 0;

    OHSM_ENSURE(out_len != NULL && (in != NULL || in_len == 0), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(md != NULL, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_TRY(too_small(ohsm_hash_len(hash), out == NULL ? 0 : cap, out_len));
    OHSM_ENSURE(EVP_Digest(in_len > 0 ? in : (const uint8_t *)"", in_len, out, &n, md, NULL) == 1,
                ossl_fail(OHSM_DEVICE_ERROR));
    *out_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_mech_kcv(uint32_t ktype, const uint8_t *key, size_t len, uint8_t kcv[3])
{
    static const uint8_t zero[AES_BLOCK];
    uint8_t buf[EVP_MAX_MD_SIZE];
    size_t n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(key != NULL && kcv != NULL, OHSM_ARGUMENTS_BAD);
    if (ktype == OHSM_KT_AES) {
        struct ohsm_mech_key k = {
            .cls = OHSM_CLASS_SECRET, .ktype = OHSM_KT_AES, .raw = key, .raw_len = len};
        OHSM_TRY(aes_key(&k));
        rv = aes_run(&k, OHSM_M_AES_ECB, true, NULL, zero, sizeof(zero), buf, &n);
    } else if (ktype == OHSM_KT_GENERIC_SECRET) {
        OHSM_ENSURE(len > 0, OHSM_KEY_SIZE_RANGE);
        rv = ohsm_mech_digest(OHSM_H_SHA1, key, len, buf, sizeof(buf), &n);
    } else {
        return OHSM_KEY_TYPE_INCONSISTENT;
    }
    if (rv == OHSM_OK) {
        memcpy(kcv, buf, 3);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rv;
}
