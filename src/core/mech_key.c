/* SPDX-License-Identifier: Apache-2.0
 *
 * Key generation and key material: sizes each key type allows, secret/RSA/EC generation, loading
 * and encoding PKCS#8 and SubjectPublicKeyInfo DER, PEM import and the public attributes of an
 * object. DER and PEM material come from the wire and are checked here (no trailing bytes,
 * supported types and sizes only); EVP_PKEYs made here are only read afterwards, so they may be
 * shared between threads. Stateless and thread-safe. Deprecated OpenSSL APIs are compiled out
 * below.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "openhsm/mech.h"

#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/mech_int.h"

#define PEM_MAX (1u << 20)

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
    case OHSM_KT_DES3:
        OHSM_ENSURE(length == 24, OHSM_KEY_SIZE_RANGE);
        return OHSM_OK;
    case OHSM_KT_GENERIC_SECRET:
        OHSM_ENSURE(length >= 1 && length <= OHSM_GENERIC_SECRET_MAX, OHSM_KEY_SIZE_RANGE);
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
        return ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
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
        rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
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
        return ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
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
        return ohsm_mech_ossl_fail(OHSM_DATA_INVALID);
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
            return ohsm_mech_ossl_fail(OHSM_KEY_TYPE_INCONSISTENT);
        }
        n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    } else {
        n = i2d_PUBKEY(pkey, NULL);
    }
    if (n <= 0) {
        rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
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
        rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
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
        return ohsm_mech_ossl_fail(OHSM_HOST_MEMORY);
    }
    /* PEM_FLAG_SECURE: the decoded DER (a private key) lives in the secure heap. */
    if (PEM_read_bio_ex(bio, &name, &hdr, &data, &dlen, PEM_FLAG_SECURE) != 1 || dlen <= 0) {
        rv = ohsm_mech_ossl_fail(OHSM_DATA_INVALID);
        goto out;
    }
    if (hdr != NULL && hdr[0] != '\0') { /* RFC 1421 headers: a legacy encrypted key */
        goto out;
    }
    pk = pem_block_key(name, data, (size_t)dlen, &c);
    if (pk == NULL) {
        rv = ohsm_mech_ossl_fail(OHSM_DATA_INVALID);
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
    OHSM_ENSURE(n > 0, ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
    OHSM_ENSURE((size_t)n <= sizeof(o->spki), OHSM_KEY_SIZE_RANGE);
    uint8_t *q = o->spki;
    OHSM_ENSURE(i2d_PUBKEY(pkey, &q) == n, ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
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
