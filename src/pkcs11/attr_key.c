/* SPDX-License-Identifier: Apache-2.0
 *
 * Key material of C_CreateObject templates, in the HSM's import formats (mech.h): a secret key's
 * CKA_VALUE raw; RSA private keys from their eight components and EC private keys from
 * CKA_EC_PARAMS + CKA_VALUE (the public point computed) as PKCS#8 DER; RSA and EC public keys as
 * SPKI DER. Built with OpenSSL 3 (OSSL_PARAM_BLD + EVP_PKEY_fromdata). The template is the
 * application's: every component's length was checked (attr.c); values are checked by OpenSSL
 * (points on the curve, RSA key consistency). Every intermediate secret is wiped.
 */
#include "attr.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "openhsm/mech.h"

/* OpenSSL's names of the HSM's curves. */
static int curve_nid(uint32_t curve)
{
    switch (curve) {
    case OHSM_CURVE_P224:
        return NID_secp224r1;
    case OHSM_CURVE_P256:
        return NID_X9_62_prime256v1;
    case OHSM_CURVE_P384:
        return NID_secp384r1;
    case OHSM_CURVE_P521:
        return NID_secp521r1;
    case OHSM_CURVE_SECP256K1:
        return NID_secp256k1;
    default:
        return NID_undef;
    }
}

static CK_RV secret(const CK_ATTRIBUTE *v, uint8_t **material, size_t *len)
{
    if (v == NULL) {
        return CKR_TEMPLATE_INCOMPLETE;
    }
    if (v->ulValueLen == 0 || v->ulValueLen > OHSM_GENERIC_SECRET_MAX) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    uint8_t *p = OPENSSL_secure_malloc(v->ulValueLen);
    if (p == NULL) {
        return CKR_HOST_MEMORY;
    }
    memcpy(p, v->pValue, v->ulValueLen);
    *material = p;
    *len = v->ulValueLen;
    return CKR_OK;
}

/* A big-endian number of the template into bn (a secure, constant-time BIGNUM for secrets). */
static CK_RV push_bn(OSSL_PARAM_BLD *bld, const char *key, const CK_ATTRIBUTE *a, bool secret_bn,
                     BIGNUM **bn)
{
    if (a == NULL) {
        return CKR_TEMPLATE_INCOMPLETE;
    }
    if (a->ulValueLen == 0 || a->ulValueLen > 1024) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    *bn = secret_bn ? BN_secure_new() : BN_new();
    if (*bn == NULL) {
        return CKR_HOST_MEMORY;
    }
    if (secret_bn) {
        BN_set_flags(*bn, BN_FLG_CONSTTIME);
    }
    if (BN_bin2bn(a->pValue, (int)a->ulValueLen, *bn) == NULL ||
        OSSL_PARAM_BLD_push_BN(bld, key, *bn) != 1) {
        return CKR_HOST_MEMORY;
    }
    return CKR_OK;
}

/* params -> EVP_PKEY of that algorithm -> DER (PKCS#8 for private keys, SPKI for public). */
static CK_RV to_der(OSSL_PARAM_BLD *bld, const char *alg, bool priv, uint8_t **der, size_t *len)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    EVP_PKEY_CTX *check = NULL;
    EVP_PKEY *pkey = NULL;
    CK_RV rv = CKR_HOST_MEMORY;

    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
        goto out;
    }
    rv = CKR_ATTRIBUTE_VALUE_INVALID;
    if (EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1) {
        goto out;
    }
    /* Components that do not make one key (RSA: n != p*q, d not the inverse ...; EC: a point
     * off the curve) are refused here, not by the HSM's first signature. */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (check == NULL ||
        (priv ? EVP_PKEY_pairwise_check(check) : EVP_PKEY_public_check(check)) != 1) {
        goto out;
    }
    rv = ohsm_mech_pkey_der(pkey, priv, der, len) == OHSM_OK ? CKR_OK : CKR_FUNCTION_FAILED;
out:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* secure BIGNUMs went to its secure block, wiped on free */
    return rv;
}

static CK_RV rsa(const CK_ATTRIBUTE *t, CK_ULONG n, bool priv, uint8_t **der, size_t *len)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        const char *key;
    } parts[] = {
        {CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N},
        {CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
        {CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},
        {CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},
        {CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},
        {CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
        {CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
        {CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
    };
    BIGNUM *bn[sizeof(parts) / sizeof(parts[0])] = {0};
    size_t count = priv ? sizeof(parts) / sizeof(parts[0]) : 2;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    CK_RV rv = bld != NULL ? CKR_OK : CKR_HOST_MEMORY;

    for (size_t i = 0; rv == CKR_OK && i < count; i++) {
        rv = push_bn(bld, parts[i].key, p11_make_find(t, n, parts[i].type), i >= 2, &bn[i]);
    }
    if (rv == CKR_OK) {
        rv = to_der(bld, "RSA", priv, der, len);
    }
    for (size_t i = 0; i < count; i++) {
        BN_clear_free(bn[i]);
    }
    OSSL_PARAM_BLD_free(bld);
    return rv;
}

/* CKA_EC_POINT: a DER OCTET STRING around the X9.62 point (PKCS#11), or the raw uncompressed
 * point some tools send. *pt borrows from a. */
static CK_RV ec_point(const CK_ATTRIBUTE *a, const EC_GROUP *g, const uint8_t **pt, size_t *len)
{
    const uint8_t *p = a->pValue;
    size_t n = a->ulValueLen;
    size_t raw = 2 * (size_t)((EC_GROUP_get_degree(g) + 7) / 8) + 1;

    if (n == raw && p[0] == 0x04) {
        *pt = p;
        *len = n;
        return CKR_OK;
    }
    if (n >= 2 && p[0] == 0x04 && p[1] < 0x80 && (size_t)p[1] == n - 2) {
        *pt = p + 2;
        *len = n - 2;
        return CKR_OK;
    }
    if (n >= 3 && p[0] == 0x04 && p[1] == 0x81 && p[2] >= 0x80 && (size_t)p[2] == n - 3) {
        *pt = p + 3;
        *len = n - 3;
        return CKR_OK;
    }
    return CKR_ATTRIBUTE_VALUE_INVALID;
}

static CK_RV ec(const CK_ATTRIBUTE *t, CK_ULONG n, uint32_t curve, bool priv, uint8_t **der,
                size_t *len)
{
    int nid = curve_nid(curve);
    EC_GROUP *g = nid != NID_undef ? EC_GROUP_new_by_curve_name(nid) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    const CK_ATTRIBUTE *a = p11_make_find(t, n, priv ? CKA_VALUE : CKA_EC_POINT);
    BIGNUM *d = NULL;
    EC_POINT *q = NULL;
    BN_CTX *bctx = NULL;
    uint8_t buf[160];
    const uint8_t *pt = buf;
    size_t pt_len = 0;
    CK_RV rv = CKR_HOST_MEMORY;

    if (g == NULL || bld == NULL) {
        rv = nid == NID_undef ? CKR_CURVE_NOT_SUPPORTED : CKR_HOST_MEMORY;
        goto out;
    }
    if (a == NULL) {
        rv = CKR_TEMPLATE_INCOMPLETE;
        goto out;
    }
    if (priv) {
        /* The scalar: 0 < d < order (SEC 1 §3.2.1); the public point is d*G. */
        rv = push_bn(bld, OSSL_PKEY_PARAM_PRIV_KEY, a, true, &d);
        if (rv != CKR_OK) {
            goto out;
        }
        rv = CKR_ATTRIBUTE_VALUE_INVALID;
        if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
            goto out;
        }
        rv = CKR_HOST_MEMORY;
        bctx = BN_CTX_secure_new();
        q = EC_POINT_new(g);
        if (bctx == NULL || q == NULL || EC_POINT_mul(g, q, d, NULL, NULL, bctx) != 1) {
            goto out;
        }
        pt_len = EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, buf, sizeof(buf), bctx);
        if (pt_len == 0) {
            goto out;
        }
    } else {
        rv = ec_point(a, g, &pt, &pt_len);
        if (rv != CKR_OK) {
            goto out;
        }
    }
    rv = CKR_HOST_MEMORY;
    if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, pt_len) != 1) {
        goto out;
    }
    rv = to_der(bld, "EC", priv, der, len);
out:
    BN_clear_free(d);
    EC_POINT_clear_free(q);
    BN_CTX_free(bctx);
    EC_GROUP_free(g);
    OSSL_PARAM_BLD_free(bld);
    return rv;
}

CK_RV p11_make_material(const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_CLASS cls, CK_KEY_TYPE ktype,
                        uint32_t curve, uint8_t **material, size_t *len)
{
    *material = NULL;
    *len = 0;
    if (cls == CKO_SECRET_KEY) {
        return secret(p11_make_find(t, n, CKA_VALUE), material, len);
    }
    if (ktype == CKK_RSA) {
        return rsa(t, n, cls == CKO_PRIVATE_KEY, material, len);
    }
    if (ktype == CKK_EC) {
        return ec(t, n, curve, cls == CKO_PRIVATE_KEY, material, len);
    }
    return CKR_TEMPLATE_INCONSISTENT;
}
