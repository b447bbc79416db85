/* SPDX-License-Identifier: Apache-2.0
 *
 * The fake (reference) PEM of a private key kept in the HSM: see core/fakepem.h for the format.
 * Moved here from src/kmu/fakepem.c so openhsm-kmu (getCaviumPrivKey) and openhsm-cli (key
 * generate-file --encoding reference-pem) write the same bytes. The public key comes from the
 * HSM's record and is parsed only by OpenSSL's DER decoder. Pure: memory in, memory out.
 */
#include "core/fakepem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* The fake key: public part of pub, private part the handle. NULL on failure. */
static EVP_PKEY *fake_key(const EVP_PKEY *pub, uint64_t handle)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *out = NULL;
    BIGNUM *n = NULL, *e = NULL, *h = BN_new(), *one = BN_new();
    unsigned char point[200];
    char group[80];
    size_t point_len = 0, group_len = 0;
    bool rsa = EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA;
    int ok =
        bld != NULL && h != NULL && one != NULL && BN_set_word(h, handle) == 1 && BN_one(one) == 1;

    if (ok && rsa) {
        ok = EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
             EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, h) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, one) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, one) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, one) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, one) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, one) == 1;
    } else if (ok) {
        ok =
            EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &group_len) == 1 &&
            EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point),
                                            &point_len) == 1 &&
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, point_len) == 1 &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, h) == 1;
    }
    if (ok) {
        params = OSSL_PARAM_BLD_to_param(bld);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL);
        ok = params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_KEYPAIR, params) == 1;
    }
    if (!ok) {
        EVP_PKEY_free(out);
        out = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    BN_free(h);
    BN_free(one);
    return out;
}

ohsm_rv ohsm_fake_pem(const uint8_t *spki, size_t spki_len, uint64_t handle, char **pem,
                      size_t *len)
{
    EVP_PKEY *pub = NULL;
    EVP_PKEY *fake = NULL;
    BIO *b = NULL;
    char *data = NULL;
    ohsm_rv rv = OHSM_OK;

    OHSM_ENSURE(spki != NULL && pem != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    *pem = NULL;
    *len = 0;
    OHSM_ENSURE(spki_len > 0 && spki_len <= 1u << 16, OHSM_DATA_INVALID);
    const unsigned char *q = spki;
    pub = d2i_PUBKEY(NULL, &q, (long)spki_len);
    if (pub == NULL || q != spki + spki_len) {
        rv = OHSM_DATA_INVALID;
        goto out;
    }
    if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA && EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC) {
        rv = OHSM_KEY_TYPE_INCONSISTENT;
        goto out;
    }
    fake = fake_key(pub, handle);
    b = BIO_new(BIO_s_mem());
    if (fake == NULL || b == NULL ||
        PEM_write_bio_PrivateKey_traditional(b, fake, NULL, NULL, 0, NULL, NULL) != 1) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    *pem = malloc((size_t)n + 1);
    if (*pem == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    memcpy(*pem, data, (size_t)n);
    (*pem)[n] = '\0';
    *len = (size_t)n;
out:
    if (rv != OHSM_OK) {
        ERR_clear_error();
    }
    BIO_free(b);
    EVP_PKEY_free(fake);
    EVP_PKEY_free(pub);
    return rv;
}
