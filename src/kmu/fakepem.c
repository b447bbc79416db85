/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's getCaviumPrivKey: a "fake PEM" file for a private key that stays in the HSM. The
 * file holds no private key material; it is a PEM private key (PKCS#1 "RSA PRIVATE KEY" or SEC1
 * "EC PRIVATE KEY", the traditional forms web servers are configured with) whose public part is
 * the key's real one (RSA modulus and exponent; EC curve and point), so the certificate matches,
 * and whose private part is the key handle: RSA private exponent = handle with every CRT value 1,
 * EC private scalar = handle. A program that finds such a key hands the handle to the HSM; used
 * as a real key it fails (`openssl rsa -check` rejects it). openhsm's format, documented here: the
 * AWS guide does not describe the bytes of its own. The public key comes from the HSM's record and
 * is parsed only by OpenSSL's DER decoder.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kmu/kmu.h"

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

int ohsm_kmu_get_cavium_priv(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "k")->num;
    const char *path = ohsm_kmu_get(p, "out")->text;
    struct ohsm_obj o;
    EVP_PKEY *pub = NULL, *fake = NULL;
    BIO *b = NULL;
    char *data = NULL;
    int done = OHSM_KMU_FAILED;

    memset(&o, 0, sizeof(o));
    ohsm_rv rv = ohsm_client_key_get(k->client, h, &o);
    if (rv != OHSM_OK) {
        ohsm_kmu_returned(k, "getCaviumPrivKey", rv);
        return OHSM_KMU_FAILED;
    }
    if (o.cls != OHSM_CLASS_PRIVATE || (o.ktype != OHSM_KT_RSA && o.ktype != OHSM_KT_EC)) {
        return ohsm_kmu_error(
            k, "getCaviumPrivKey takes an RSA or EC private key: key %" PRIu64 " is not one", h);
    }
    const unsigned char *q = o.spki;
    if (o.spki_len > 0 && o.spki_len <= sizeof(o.spki)) {
        pub = d2i_PUBKEY(NULL, &q, (long)o.spki_len);
    }
    fake = pub != NULL ? fake_key(pub, h) : NULL;
    b = BIO_new(BIO_s_mem());
    if (fake == NULL || b == NULL ||
        PEM_write_bio_PrivateKey_traditional(b, fake, NULL, NULL, 0, NULL, NULL) != 1) {
        (void)ohsm_kmu_error(k, "Cannot make the fake PEM of key %" PRIu64, h);
        goto out;
    }
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || !ohsm_kmu_write_file(k, path, data, (size_t)n)) {
        goto out;
    }
    (void)fprintf(k->out, "\nPrivate Key Handle is written to %s in fake PEM format\n", path);
    ohsm_kmu_returned(k, "getCaviumPrivKey", OHSM_OK);
    done = OHSM_KMU_DONE;
out:
    BIO_free(b);
    EVP_PKEY_free(fake);
    EVP_PKEY_free(pub);
    return done;
}
