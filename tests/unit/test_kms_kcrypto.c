/* SPDX-License-Identifier: Apache-2.0
 * KMS cryptography (src/kms/kspec.c, kcrypto.c): the spec table as the KMS developer guide has it,
 * material of every spec generated, checked and loaded, every signing algorithm with MessageType
 * RAW and DIGEST cross-checked both ways against plain OpenSSL EVP on GetPublicKey's SPKI,
 * RSAES_OAEP round trips at the exact plaintext limits, HMAC against RFC 4231, data key pairs, and
 * every refusal (flipped signatures, wrong MACs, tampered ciphertexts, algorithms of another spec).
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "kms/kcrypto.h"

#define NSPEC 13 /* OHSM_KSPEC_HMAC_512 + 1 */

/* Material and loaded keys of every spec, made once (RSA-4096 generation is slow). */
static uint8_t *mat[NSPEC];
static size_t mat_len[NSPEC];
static struct ohsm_kms_kmat *km[NSPEC];

static bool is_rsa(uint32_t s)
{
    return s >= OHSM_KSPEC_RSA_2048 && s <= OHSM_KSPEC_RSA_4096;
}

static bool is_ecc(uint32_t s)
{
    return s >= OHSM_KSPEC_ECC_NIST_P256 && s <= OHSM_KSPEC_ECC_SECG_P256K1;
}

static int setup(void **state)
{
    (void)state;
    for (uint32_t s = 1; s < NSPEC; s++) {
        if (ohsm_kms_material_gen(s, &mat[s], &mat_len[s]) != OHSM_OK ||
            ohsm_kms_kmat_load(s, mat[s], mat_len[s], &km[s]) != OHSM_OK) {
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (uint32_t s = 1; s < NSPEC; s++) {
        ohsm_kms_kmat_free(km[s]);
        ohsm_kms_bytes_free(mat[s], mat_len[s]);
    }
    return 0;
}

static EVP_PKEY *pub_of(uint32_t s)
{
    uint8_t *der = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_kms_public_der(km[s], &der, &n), OHSM_OK);
    const uint8_t *p = der;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)n);
    assert_non_null(pk);
    assert_ptr_equal(p, der + n);
    free(der);
    return pk;
}

static EVP_PKEY *priv_of(const uint8_t *der, size_t n)
{
    const uint8_t *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)n);
    assert_non_null(p8);
    assert_ptr_equal(p, der + n);
    EVP_PKEY *pk = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    assert_non_null(pk);
    return pk;
}

static int curve_nid(const EVP_PKEY *pk)
{
    char name[64];
    size_t n = 0;
    assert_int_equal(EVP_PKEY_get_group_name(pk, name, sizeof(name), &n), 1);
    return OBJ_sn2nid(name);
}

/* What a spec's key must look like in OpenSSL: RSA bits, or the curve. */
static void assert_pkey_is(const EVP_PKEY *pk, uint32_t s)
{
    static const int bits[] = {[2] = 2048, [3] = 3072, [4] = 4096};
    static const int nids[] = {
        [5] = NID_X9_62_prime256v1, [6] = NID_secp384r1, [7] = NID_secp521r1, [8] = NID_secp256k1};
    if (is_rsa(s)) {
        assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_RSA);
        assert_int_equal(EVP_PKEY_get_bits(pk), bits[s]);
    } else {
        assert_int_equal(EVP_PKEY_get_base_id(pk), EVP_PKEY_EC);
        assert_int_equal(curve_nid(pk), nids[s]);
    }
}

static const EVP_MD *md_of(uint32_t alg)
{
    switch (alg) {
    case OHSM_KALG_RSAES_OAEP_SHA_1:
        return EVP_sha1();
    case OHSM_KALG_RSASSA_PSS_SHA_256:
    case OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_256:
    case OHSM_KALG_ECDSA_SHA_256:
    case OHSM_KALG_RSAES_OAEP_SHA_256:
    case OHSM_KALG_HMAC_SHA_256:
        return EVP_sha256();
    case OHSM_KALG_RSASSA_PSS_SHA_384:
    case OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_384:
    case OHSM_KALG_ECDSA_SHA_384:
    case OHSM_KALG_HMAC_SHA_384:
        return EVP_sha384();
    case OHSM_KALG_HMAC_SHA_224:
        return EVP_sha224();
    default:
        return EVP_sha512();
    }
}

static bool is_pss(uint32_t alg)
{
    return alg >= OHSM_KALG_RSASSA_PSS_SHA_256 && alg <= OHSM_KALG_RSASSA_PSS_SHA_512;
}

/* Padding of a signing context as KMS documents it: PSS with MGF1 of the same hash and a salt as
 * long as the hash (a verifier with SALTLEN_DIGEST refuses any other salt), or PKCS#1 v1.5. */
static void set_padding(EVP_PKEY_CTX *pc, uint32_t alg)
{
    if (is_pss(alg)) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md_of(alg)), 1);
    } else if (alg <= OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_512) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING), 1);
    }
}

static int ossl_verify(EVP_PKEY *pub, uint32_t alg, const uint8_t *msg, size_t len,
                       const uint8_t *sig, size_t slen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    assert_int_equal(EVP_DigestVerifyInit(c, &pc, md_of(alg), NULL, pub), 1);
    set_padding(pc, alg);
    int r = EVP_DigestVerify(c, sig, slen, msg, len);
    EVP_MD_CTX_free(c);
    return r;
}

static uint8_t *ossl_sign(EVP_PKEY *priv, uint32_t alg, const uint8_t *msg, size_t len,
                          size_t *slen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    assert_int_equal(EVP_DigestSignInit(c, &pc, md_of(alg), NULL, priv), 1);
    set_padding(pc, alg);
    assert_int_equal(EVP_DigestSign(c, NULL, slen, msg, len), 1);
    uint8_t *sig = malloc(*slen);
    assert_int_equal(EVP_DigestSign(c, sig, slen, msg, len), 1);
    EVP_MD_CTX_free(c);
    return sig;
}

/* Names are AWS's, each family knows only its own, unknown names are 0. */
static void test_kms_kcrypto_names(void **state)
{
    (void)state;
    for (uint32_t a = 1; a <= OHSM_KALG_HMAC_SHA_512; a++) {
        const char *n = ohsm_kms_alg_name(a);
        if (n == NULL) {
            continue;
        }
        uint32_t back = a <= 3    ? ohsm_kms_enc_alg_from(n)
                        : a <= 18 ? ohsm_kms_sign_alg_from(n)
                                  : ohsm_kms_mac_alg_from(n);
        assert_int_equal(back, a);
    }
    assert_string_equal(ohsm_kms_alg_name(OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_384),
                        "RSASSA_PKCS1_V1_5_SHA_384");
    assert_int_equal(ohsm_kms_wrap_alg_from("RSAES_OAEP_SHA_256"),
                     OHSM_KALG_WRAP_RSAES_OAEP_SHA_256);
    assert_int_equal(ohsm_kms_enc_alg_from("RSAES_OAEP_SHA_256"), OHSM_KALG_RSAES_OAEP_SHA_256);
    assert_int_equal(ohsm_kms_wrap_alg_from("RSA_AES_KEY_WRAP_SHA_1"),
                     OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1);
    assert_int_equal(ohsm_kms_enc_alg_from("HMAC_SHA_256"), 0);
    assert_int_equal(ohsm_kms_sign_alg_from("RSAES_OAEP_SHA_1"), 0);
    assert_int_equal(ohsm_kms_mac_alg_from("hmac_sha_256"), 0);
    assert_int_equal(ohsm_kms_sign_alg_from(NULL), 0);
    assert_int_equal(ohsm_kms_wrap_alg_from("RSA_AES_KEY_WRAP_SHA_256 "), 0);
    assert_null(ohsm_kms_alg_name(0));
    assert_null(ohsm_kms_alg_name(9));
    assert_null(ohsm_kms_alg_name(35));
    assert_null(ohsm_kms_alg_name(UINT32_MAX));
}

/* The usages, algorithms and Encrypt limits of REFERENCE-KMS.md §3. */
static void test_kms_kcrypto_spec_table(void **state)
{
    (void)state;
    static const size_t lim[][2] = {{214, 190}, {342, 318}, {470, 446}};
    assert_null(ohsm_kms_spec_info(OHSM_KSPEC_NONE));
    assert_null(ohsm_kms_spec_info(NSPEC));
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(OHSM_KSPEC_SYMMETRIC_DEFAULT);
    assert_int_equal(si->usages[0], OHSM_KUSE_ENCRYPT_DECRYPT);
    assert_int_equal(si->usages[1], 0);
    assert_int_equal(si->enc_algs[0], OHSM_KALG_SYMMETRIC_DEFAULT);
    assert_int_equal(si->max_plaintext[0], 4096);
    for (uint32_t s = OHSM_KSPEC_RSA_2048; s <= OHSM_KSPEC_RSA_4096; s++) {
        si = ohsm_kms_spec_info(s);
        assert_int_equal(si->spec, s);
        assert_true(ohsm_kms_spec_allows(s, OHSM_KUSE_ENCRYPT_DECRYPT));
        assert_true(ohsm_kms_spec_allows(s, OHSM_KUSE_SIGN_VERIFY));
        assert_false(ohsm_kms_spec_allows(s, OHSM_KUSE_GENERATE_VERIFY_MAC));
        assert_int_equal(si->enc_algs[0], OHSM_KALG_RSAES_OAEP_SHA_1);
        assert_int_equal(si->enc_algs[1], OHSM_KALG_RSAES_OAEP_SHA_256);
        assert_int_equal(si->enc_algs[2], 0);
        assert_int_equal(si->max_plaintext[0], lim[s - 2][0]);
        assert_int_equal(si->max_plaintext[1], lim[s - 2][1]);
        size_t n = 0;
        while (n < 7 && si->sign_algs[n] != 0) {
            assert_true(si->sign_algs[n] >= OHSM_KALG_RSASSA_PSS_SHA_256 &&
                        si->sign_algs[n] <= OHSM_KALG_RSASSA_PKCS1_V1_5_SHA_512);
            n++;
        }
        assert_int_equal(n, 6);
        assert_int_equal(si->mac_algs[0], 0);
    }
    static const uint32_t ecdsa[] = {[5] = OHSM_KALG_ECDSA_SHA_256,
                                     [6] = OHSM_KALG_ECDSA_SHA_384,
                                     [7] = OHSM_KALG_ECDSA_SHA_512,
                                     [8] = OHSM_KALG_ECDSA_SHA_256};
    for (uint32_t s = OHSM_KSPEC_ECC_NIST_P256; s <= OHSM_KSPEC_ECC_SECG_P256K1; s++) {
        si = ohsm_kms_spec_info(s);
        assert_int_equal(si->usages[0], OHSM_KUSE_SIGN_VERIFY);
        assert_int_equal(si->usages[1], 0);
        assert_false(ohsm_kms_spec_allows(s, OHSM_KUSE_ENCRYPT_DECRYPT));
        assert_int_equal(si->sign_algs[0], ecdsa[s]);
        assert_int_equal(si->sign_algs[1], 0);
        assert_int_equal(si->enc_algs[0], 0);
    }
    for (uint32_t s = OHSM_KSPEC_HMAC_224; s <= OHSM_KSPEC_HMAC_512; s++) {
        si = ohsm_kms_spec_info(s);
        assert_int_equal(si->usages[0], OHSM_KUSE_GENERATE_VERIFY_MAC);
        assert_int_equal(si->mac_algs[0], OHSM_KALG_HMAC_SHA_224 + (s - OHSM_KSPEC_HMAC_224));
        assert_false(ohsm_kms_spec_allows(s, OHSM_KUSE_SIGN_VERIFY));
    }
    assert_false(ohsm_kms_spec_allows(OHSM_KSPEC_RSA_2048, OHSM_KUSE_NONE));
    assert_false(ohsm_kms_spec_allows(0, OHSM_KUSE_ENCRYPT_DECRYPT));
    assert_false(ohsm_kms_spec_allows(99, OHSM_KUSE_ENCRYPT_DECRYPT));
}

/* Every spec's generated material passes the import check, loads, and has the spec's shape:
 * 32 AES bytes, n/8 HMAC bytes, RSA/ECC PKCS#8 whose SPKI is of the spec's size or curve. */
static void test_kms_kcrypto_every_spec(void **state)
{
    (void)state;
    static const size_t raw_len[] = {[1] = 32, [9] = 28, [10] = 32, [11] = 48, [12] = 64};
    for (uint32_t s = 1; s < NSPEC; s++) {
        assert_int_equal(ohsm_kms_material_check(s, mat[s], mat_len[s]), OHSM_OK);
        assert_non_null(ohsm_kms_kmat_mech(km[s]));
        size_t n = 99;
        const uint8_t *raw = ohsm_kms_kmat_raw(km[s], &n);
        uint8_t *der = NULL;
        size_t dn = 0;
        if (is_rsa(s) || is_ecc(s)) {
            assert_null(raw);
            assert_int_equal(n, 0);
            EVP_PKEY *priv = priv_of(mat[s], mat_len[s]);
            assert_pkey_is(priv, s);
            EVP_PKEY *pub = pub_of(s);
            assert_pkey_is(pub, s);
            assert_int_equal(EVP_PKEY_eq(priv, pub), 1);
            EVP_PKEY_free(priv);
            EVP_PKEY_free(pub);
        } else {
            assert_int_equal(n, raw_len[s]);
            assert_int_equal(mat_len[s], raw_len[s]);
            assert_memory_equal(raw, mat[s], n);
            assert_int_equal(ohsm_kms_public_der(km[s], &der, &dn), OHSM_KEY_TYPE_INCONSISTENT);
        }
    }
    /* two generations differ */
    uint8_t *m = NULL;
    size_t mn = 0;
    assert_int_equal(ohsm_kms_material_gen(OHSM_KSPEC_SYMMETRIC_DEFAULT, &m, &mn), OHSM_OK);
    assert_memory_not_equal(m, mat[1], 32);
    ohsm_kms_bytes_free(m, mn);
    ohsm_kms_bytes_free(NULL, 0);
    ohsm_kms_kmat_free(NULL);
    assert_int_equal(ohsm_kms_material_gen(OHSM_KSPEC_NONE, &m, &mn), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_material_gen(NSPEC, &m, &mn), OHSM_ARGUMENTS_BAD);
    assert_null(ohsm_kms_kmat_raw(NULL, &mn));
    assert_null(ohsm_kms_kmat_mech(NULL));
}

/* Each signing algorithm of each spec: our RAW and DIGEST signatures verify with plain OpenSSL
 * (EVP_DigestVerify over the message, on GetPublicKey's SPKI) and with ours, OpenSSL's verify
 * with ours, a flipped byte fails, a digest of the wrong length is refused. */
static void test_kms_kcrypto_sign_every_alg(void **state)
{
    (void)state;
    uint8_t msg[300];
    uint8_t dg[EVP_MAX_MD_SIZE];
    unsigned int dn = 0;
    int checked = 0;
    assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
    for (uint32_t s = 2; s <= OHSM_KSPEC_ECC_SECG_P256K1; s++) {
        const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(s);
        EVP_PKEY *pub = pub_of(s);
        EVP_PKEY *priv = priv_of(mat[s], mat_len[s]);
        for (size_t i = 0; i < 7 && si->sign_algs[i] != 0; i++) {
            uint32_t a = si->sign_algs[i];
            uint8_t *sig = NULL;
            size_t sl = 0;
            assert_int_equal(EVP_Digest(msg, sizeof(msg), dg, &dn, md_of(a), NULL), 1);
            for (int mode = 0; mode < 2; mode++) {
                bool digest = mode == 1;
                const uint8_t *in = digest ? dg : msg;
                size_t inl = digest ? dn : sizeof(msg);
                assert_int_equal(ohsm_kms_sign(km[s], a, digest, in, inl, &sig, &sl), OHSM_OK);
                if (is_ecc(s)) {
                    assert_int_equal(sig[0], 0x30); /* DER SEQUENCE, not r || s */
                } else {
                    assert_int_equal(sl, (size_t)EVP_PKEY_get_size(pub));
                }
                assert_int_equal(ossl_verify(pub, a, msg, sizeof(msg), sig, sl), 1);
                assert_int_equal(ohsm_kms_verify(km[s], a, digest, in, inl, sig, sl), OHSM_OK);
                /* DIGEST and RAW are the same signature scheme */
                assert_int_equal(ohsm_kms_verify(km[s], a, !digest, digest ? msg : dg,
                                                 digest ? sizeof(msg) : dn, sig, sl),
                                 OHSM_OK);
                sig[sl - 1] ^= 0x01;
                assert_int_equal(ohsm_kms_verify(km[s], a, digest, in, inl, sig, sl),
                                 OHSM_SIGNATURE_INVALID);
                assert_int_not_equal(ossl_verify(pub, a, msg, sizeof(msg), sig, sl), 1);
                sig[sl - 1] ^= 0x01;
                assert_int_equal(ohsm_kms_verify(km[s], a, digest, in, inl - 1, sig, sl),
                                 digest ? OHSM_DATA_LEN_RANGE : OHSM_SIGNATURE_INVALID);
                free(sig);
                sig = NULL;
            }
            sig = ossl_sign(priv, a, msg, sizeof(msg), &sl);
            assert_int_equal(ohsm_kms_verify(km[s], a, false, msg, sizeof(msg), sig, sl), OHSM_OK);
            assert_int_equal(ohsm_kms_verify(km[s], a, true, dg, dn, sig, sl), OHSM_OK);
            free(sig);
            sig = NULL;
            assert_int_equal(ohsm_kms_sign(km[s], a, true, dg, dn - 1, &sig, &sl),
                             OHSM_DATA_LEN_RANGE);
            assert_int_equal(ohsm_kms_sign(km[s], a, true, msg, 0, &sig, &sl), OHSM_DATA_LEN_RANGE);
            assert_null(sig);
            checked++;
        }
        EVP_PKEY_free(pub);
        EVP_PKEY_free(priv);
    }
    assert_int_equal(checked, 3 * 6 + 4);
}

/* Algorithms not of the key's spec, and keys that do not sign, are refused. */
static void test_kms_kcrypto_sign_wrong_alg(void **state)
{
    (void)state;
    uint8_t *sig = NULL;
    size_t sl = 0;
    const uint8_t m[] = "m";
    assert_int_equal(ohsm_kms_sign(km[5], OHSM_KALG_ECDSA_SHA_384, false, m, 1, &sig, &sl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_sign(km[7], OHSM_KALG_ECDSA_SHA_256, false, m, 1, &sig, &sl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_sign(km[5], OHSM_KALG_RSASSA_PSS_SHA_256, false, m, 1, &sig, &sl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_sign(km[2], OHSM_KALG_ECDSA_SHA_256, false, m, 1, &sig, &sl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_sign(km[2], OHSM_KALG_RSAES_OAEP_SHA_256, false, m, 1, &sig, &sl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_sign(km[1], OHSM_KALG_RSASSA_PSS_SHA_256, false, m, 1, &sig, &sl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_sign(km[10], OHSM_KALG_HMAC_SHA_256, false, m, 1, &sig, &sl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_verify(km[8], OHSM_KALG_ECDSA_SHA_512, false, m, 1, m, 1),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_sign(NULL, OHSM_KALG_ECDSA_SHA_256, false, m, 1, &sig, &sl),
                     OHSM_ARGUMENTS_BAD);
    assert_null(sig);
}

/* ECDSA signatures must be exactly DER: trailing bytes, r || s, garbage and empty are invalid. */
static void test_kms_kcrypto_ecdsa_der_strict(void **state)
{
    (void)state;
    const uint8_t m[] = "message";
    uint8_t *sig = NULL;
    size_t sl = 0;
    uint8_t buf[200];
    assert_int_equal(ohsm_kms_sign(km[5], OHSM_KALG_ECDSA_SHA_256, false, m, 7, &sig, &sl),
                     OHSM_OK);
    memcpy(buf, sig, sl);
    buf[sl] = 0;
    assert_int_equal(ohsm_kms_verify(km[5], OHSM_KALG_ECDSA_SHA_256, false, m, 7, buf, sl + 1),
                     OHSM_SIGNATURE_INVALID);
    assert_int_equal(ohsm_kms_verify(km[5], OHSM_KALG_ECDSA_SHA_256, false, m, 7, sig, sl - 1),
                     OHSM_SIGNATURE_INVALID);
    memset(buf, 0x11, 64);
    assert_int_equal(ohsm_kms_verify(km[5], OHSM_KALG_ECDSA_SHA_256, false, m, 7, buf, 64),
                     OHSM_SIGNATURE_INVALID);
    assert_int_equal(ohsm_kms_verify(km[5], OHSM_KALG_ECDSA_SHA_256, false, m, 7, buf, 0),
                     OHSM_SIGNATURE_INVALID);
    assert_int_equal(ohsm_kms_verify(km[5], OHSM_KALG_ECDSA_SHA_256, false, m, 7, sig, sl),
                     OHSM_OK);
    /* another key's signature */
    assert_int_equal(ohsm_kms_verify(km[8], OHSM_KALG_ECDSA_SHA_256, false, m, 7, sig, sl),
                     OHSM_SIGNATURE_INVALID);
    free(sig);
}

static uint8_t *ossl_oaep(EVP_PKEY *pk, bool enc, uint32_t alg, const uint8_t *in, size_t len,
                          size_t *out_len)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    assert_int_equal(enc ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(c, md_of(alg)), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(c, md_of(alg)), 1);
    uint8_t *out = malloc(512);
    *out_len = 512;
    int r = enc ? EVP_PKEY_encrypt(c, out, out_len, in, len)
                : EVP_PKEY_decrypt(c, out, out_len, in, len);
    assert_int_equal(r, 1);
    EVP_PKEY_CTX_free(c);
    return out;
}

/* RSAES_OAEP_SHA_1/256 on each RSA spec: the limit encrypts, limit + 1 is OHSM_DATA_LEN_RANGE;
 * plain OpenSSL (OAEP, same MGF1 hash, empty label) decrypts ours and we decrypt its; altered,
 * truncated or other-algorithm ciphertexts are OHSM_ENCRYPTED_DATA_INVALID. */
static void test_kms_kcrypto_oaep(void **state)
{
    (void)state;
    uint8_t pt[512];
    assert_int_equal(RAND_bytes(pt, sizeof(pt)), 1);
    for (uint32_t s = OHSM_KSPEC_RSA_2048; s <= OHSM_KSPEC_RSA_4096; s++) {
        const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(s);
        EVP_PKEY *pub = pub_of(s);
        EVP_PKEY *priv = priv_of(mat[s], mat_len[s]);
        for (int i = 0; i < 2; i++) {
            uint32_t a = si->enc_algs[i];
            uint32_t other = si->enc_algs[1 - i];
            size_t lim = si->max_plaintext[i];
            uint8_t *ct = NULL;
            uint8_t *back = NULL;
            size_t cl = 0;
            size_t bl = 0;
            assert_int_equal(ohsm_kms_asym_encrypt(km[s], a, pt, lim + 1, &ct, &cl),
                             OHSM_DATA_LEN_RANGE);
            assert_null(ct);
            assert_int_equal(ohsm_kms_asym_encrypt(km[s], a, pt, lim, &ct, &cl), OHSM_OK);
            assert_int_equal(cl, (size_t)EVP_PKEY_get_size(pub));
            assert_int_equal(ohsm_kms_asym_decrypt(km[s], a, ct, cl, &back, &bl), OHSM_OK);
            assert_int_equal(bl, lim);
            assert_memory_equal(back, pt, lim);
            ohsm_kms_bytes_free(back, bl);
            uint8_t *o = ossl_oaep(priv, false, a, ct, cl, &bl);
            assert_int_equal(bl, lim);
            assert_memory_equal(o, pt, lim);
            free(o);
            back = NULL;
            assert_int_equal(ohsm_kms_asym_decrypt(km[s], other, ct, cl, &back, &bl),
                             OHSM_ENCRYPTED_DATA_INVALID);
            assert_int_equal(ohsm_kms_asym_decrypt(km[s], a, ct, cl - 1, &back, &bl),
                             OHSM_ENCRYPTED_DATA_INVALID);
            assert_int_equal(ohsm_kms_asym_decrypt(km[s], a, ct, 0, &back, &bl),
                             OHSM_ENCRYPTED_DATA_INVALID);
            ct[cl / 2] ^= 0x40;
            assert_int_equal(ohsm_kms_asym_decrypt(km[s], a, ct, cl, &back, &bl),
                             OHSM_ENCRYPTED_DATA_INVALID);
            assert_null(back);
            free(ct);
            /* OpenSSL encrypts with the public key a user got from GetPublicKey */
            ct = ossl_oaep(pub, true, a, pt, 17, &cl);
            assert_int_equal(ohsm_kms_asym_decrypt(km[s], a, ct, cl, &back, &bl), OHSM_OK);
            assert_int_equal(bl, 17);
            assert_memory_equal(back, pt, 17);
            ohsm_kms_bytes_free(back, bl);
            free(ct);
        }
        EVP_PKEY_free(pub);
        EVP_PKEY_free(priv);
    }
    uint8_t *ct = NULL;
    size_t cl = 0;
    assert_int_equal(ohsm_kms_asym_encrypt(km[1], OHSM_KALG_RSAES_OAEP_SHA_1, pt, 1, &ct, &cl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_asym_encrypt(km[2], OHSM_KALG_SYMMETRIC_DEFAULT, pt, 1, &ct, &cl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_asym_encrypt(km[5], OHSM_KALG_RSAES_OAEP_SHA_1, pt, 1, &ct, &cl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_asym_encrypt(km[2], OHSM_KALG_RSASSA_PSS_SHA_256, pt, 1, &ct, &cl),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_asym_decrypt(km[9], OHSM_KALG_RSAES_OAEP_SHA_1, pt, 256, &ct, &cl),
                     OHSM_MECHANISM_INVALID);
    assert_null(ct);
}

static void unhex(const char *h, uint8_t *out, size_t *n)
{
    *n = strlen(h) / 2;
    for (size_t i = 0; i < *n; i++) {
        char b[3] = {h[2 * i], h[2 * i + 1], 0};
        out[i] = (uint8_t)strtoul(b, NULL, 16);
    }
}

/* RFC 4231 test case 2 for each HMAC spec; VerifyMac refuses a wrong, truncated or empty MAC; the
 * algorithm must be the spec's; generated keys agree with OpenSSL's HMAC. */
static void test_kms_kcrypto_hmac(void **state)
{
    (void)state;
    static const char *const want[] = {
        "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfa"
        "b21649",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8"
        "f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    };
    const uint8_t *data = (const uint8_t *)"what do ya want for nothing?";
    size_t dl = 28;
    uint8_t exp[64];
    uint8_t mac[64];
    size_t el = 0;
    size_t ml = 0;
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t s = OHSM_KSPEC_HMAC_224 + i;
        uint32_t a = OHSM_KALG_HMAC_SHA_224 + i;
        struct ohsm_kms_kmat *k = NULL;
        assert_int_equal(ohsm_kms_kmat_load(s, (const uint8_t *)"Jefe", 4, &k), OHSM_OK);
        unhex(want[i], exp, &el);
        assert_int_equal(ohsm_kms_mac(k, a, data, dl, mac, sizeof(mac), &ml), OHSM_OK);
        assert_int_equal(ml, el);
        assert_memory_equal(mac, exp, el);
        assert_int_equal(ohsm_kms_mac_verify(k, a, data, dl, exp, el), OHSM_OK);
        exp[el - 1] ^= 0x80;
        assert_int_equal(ohsm_kms_mac_verify(k, a, data, dl, exp, el), OHSM_SIGNATURE_INVALID);
        exp[el - 1] ^= 0x80;
        assert_int_equal(ohsm_kms_mac_verify(k, a, data, dl, exp, el - 1), OHSM_SIGNATURE_INVALID);
        assert_int_equal(ohsm_kms_mac_verify(k, a, data, dl, exp, 0), OHSM_SIGNATURE_INVALID);
        assert_int_equal(ohsm_kms_mac_verify(k, a, data, dl - 1, exp, el), OHSM_SIGNATURE_INVALID);
        uint32_t wrong = i == 0 ? OHSM_KALG_HMAC_SHA_512 : a - 1;
        assert_int_equal(ohsm_kms_mac(k, wrong, data, dl, mac, sizeof(mac), &ml),
                         OHSM_MECHANISM_INVALID);
        assert_int_equal(ohsm_kms_mac_verify(k, wrong, data, dl, exp, el), OHSM_MECHANISM_INVALID);
        assert_int_equal(ohsm_kms_mac(k, a, data, dl, mac, 63, &ml), OHSM_BUFFER_TOO_SMALL);
        ohsm_kms_kmat_free(k);
        /* the generated key of this spec, against OpenSSL */
        unsigned int on = 0;
        assert_non_null(HMAC(md_of(a), mat[s], (int)mat_len[s], data, dl, exp, &on));
        assert_int_equal(ohsm_kms_mac(km[s], a, data, dl, mac, sizeof(mac), &ml), OHSM_OK);
        assert_int_equal(ml, on);
        assert_memory_equal(mac, exp, on);
    }
    assert_int_equal(ohsm_kms_mac(km[1], OHSM_KALG_HMAC_SHA_256, data, dl, mac, 64, &ml),
                     OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_kms_mac(km[2], OHSM_KALG_HMAC_SHA_256, data, dl, mac, 64, &ml),
                     OHSM_MECHANISM_INVALID);
}

/* GenerateDataKeyPair: the private PKCS#8 and public SPKI are a pair of the spec; the private
 * half passes the import check of its spec; non-pair specs are refused. */
static void test_kms_kcrypto_data_key_pair(void **state)
{
    (void)state;
    for (uint32_t s = 1; s < NSPEC; s++) {
        uint8_t *priv = NULL;
        uint8_t *pub = NULL;
        size_t pl = 0;
        size_t ul = 0;
        if (!is_rsa(s) && !is_ecc(s)) {
            assert_int_equal(ohsm_kms_data_key_pair(s, &priv, &pl, &pub, &ul), OHSM_ARGUMENTS_BAD);
            assert_null(priv);
            continue;
        }
        if (s == OHSM_KSPEC_RSA_4096) {
            continue; /* slow; RSA_2048/3072 cover the path */
        }
        assert_int_equal(ohsm_kms_data_key_pair(s, &priv, &pl, &pub, &ul), OHSM_OK);
        EVP_PKEY *k = priv_of(priv, pl);
        assert_pkey_is(k, s);
        const uint8_t *p = pub;
        EVP_PKEY *u = d2i_PUBKEY(NULL, &p, (long)ul);
        assert_non_null(u);
        assert_ptr_equal(p, pub + ul);
        assert_int_equal(EVP_PKEY_eq(k, u), 1);
        assert_int_equal(ohsm_kms_material_check(s, priv, pl), OHSM_OK);
        EVP_PKEY_free(k);
        EVP_PKEY_free(u);
        ohsm_kms_bytes_free(priv, pl);
        free(pub);
    }
    uint8_t *priv = NULL;
    uint8_t *pub = NULL;
    size_t pl = 0;
    size_t ul = 0;
    assert_int_equal(ohsm_kms_data_key_pair(0, &priv, &pl, &pub, &ul), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_data_key_pair(NSPEC, &priv, &pl, &pub, &ul), OHSM_ARGUMENTS_BAD);
}

/* Imported material: AES exactly 32 bytes, HMAC from the hash length to the block size, RSA/ECC
 * PKCS#8 exactly of the spec's size or curve; anything else is OHSM_DATA_INVALID. */
static void test_kms_kcrypto_material_check(void **state)
{
    (void)state;
    uint8_t b[200];
    memset(b, 0x5c, sizeof(b));
    static const size_t lo[] = {[9] = 28, [10] = 32, [11] = 48, [12] = 64};
    static const size_t hi[] = {[9] = 64, [10] = 64, [11] = 128, [12] = 128};
    assert_int_equal(ohsm_kms_material_check(1, b, 32), OHSM_OK);
    assert_int_equal(ohsm_kms_material_check(1, b, 31), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_kms_material_check(1, b, 33), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_kms_material_check(1, b, 16), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_kms_material_check(1, NULL, 0), OHSM_DATA_INVALID);
    for (uint32_t s = 9; s <= 12; s++) {
        assert_int_equal(ohsm_kms_material_check(s, b, lo[s]), OHSM_OK);
        assert_int_equal(ohsm_kms_material_check(s, b, hi[s]), OHSM_OK);
        assert_int_equal(ohsm_kms_material_check(s, b, lo[s] - 1), OHSM_DATA_INVALID);
        assert_int_equal(ohsm_kms_material_check(s, b, hi[s] + 1), OHSM_DATA_INVALID);
    }
    for (uint32_t s = 2; s <= 8; s++) {
        assert_int_equal(ohsm_kms_material_check(s, b, 32), OHSM_DATA_INVALID);
        for (uint32_t o = 2; o <= 8; o++) {
            if (o != s) {
                assert_int_equal(ohsm_kms_material_check(s, mat[o], mat_len[o]), OHSM_DATA_INVALID);
                struct ohsm_kms_kmat *k = NULL;
                assert_int_equal(ohsm_kms_kmat_load(s, mat[o], mat_len[o], &k), OHSM_DATA_INVALID);
                assert_null(k);
            }
        }
        /* trailing byte, truncation */
        uint8_t *t = malloc(mat_len[s] + 1);
        memcpy(t, mat[s], mat_len[s]);
        t[mat_len[s]] = 0;
        assert_int_equal(ohsm_kms_material_check(s, t, mat_len[s] + 1), OHSM_DATA_INVALID);
        assert_int_equal(ohsm_kms_material_check(s, t, mat_len[s] - 1), OHSM_DATA_INVALID);
        OPENSSL_cleanse(t, mat_len[s] + 1);
        free(t);
    }
    /* an RSA private key is not AES or HMAC material of its length */
    assert_int_equal(ohsm_kms_material_check(12, mat[2], mat_len[2]), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_kms_material_check(0, b, 32), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_material_check(NSPEC, b, 32), OHSM_ARGUMENTS_BAD);
    struct ohsm_kms_kmat *k = NULL;
    assert_int_equal(ohsm_kms_kmat_load(1, b, 16, &k), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_kms_kmat_load(9, b, 0, &k), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_kms_kmat_load(0, b, 32, &k), OHSM_ARGUMENTS_BAD);
    assert_null(k);
}

/* One loaded key serves many threads at once (its context cache hands each its own context):
 * signatures, verifications, OAEP decryptions and MACs all stay correct. */
static void *worker(void *arg)
{
    const uint8_t *msg = arg;
    for (int i = 0; i < 40; i++) {
        uint8_t *sig = NULL;
        uint8_t *ct = NULL;
        uint8_t *pt = NULL;
        uint8_t mac[64];
        size_t sl = 0;
        size_t cl = 0;
        size_t pl = 0;
        size_t ml = 0;
        if (ohsm_kms_sign(km[5], OHSM_KALG_ECDSA_SHA_256, false, msg, 32, &sig, &sl) != OHSM_OK ||
            ohsm_kms_verify(km[5], OHSM_KALG_ECDSA_SHA_256, false, msg, 32, sig, sl) != OHSM_OK) {
            free(sig);
            return (void *)1;
        }
        free(sig);
        sig = NULL;
        if (ohsm_kms_sign(km[2], OHSM_KALG_RSASSA_PSS_SHA_256, false, msg, 32, &sig, &sl) !=
                OHSM_OK ||
            ohsm_kms_verify(km[2], OHSM_KALG_RSASSA_PSS_SHA_256, false, msg, 32, sig, sl) !=
                OHSM_OK) {
            free(sig);
            return (void *)2;
        }
        free(sig);
        if (ohsm_kms_asym_encrypt(km[2], OHSM_KALG_RSAES_OAEP_SHA_256, msg, 32, &ct, &cl) !=
                OHSM_OK ||
            ohsm_kms_asym_decrypt(km[2], OHSM_KALG_RSAES_OAEP_SHA_256, ct, cl, &pt, &pl) !=
                OHSM_OK ||
            pl != 32 || memcmp(pt, msg, 32) != 0) {
            free(ct);
            ohsm_kms_bytes_free(pt, pl);
            return (void *)3;
        }
        free(ct);
        ohsm_kms_bytes_free(pt, pl);
        if (ohsm_kms_mac(km[10], OHSM_KALG_HMAC_SHA_256, msg, 32, mac, sizeof(mac), &ml) !=
                OHSM_OK ||
            ohsm_kms_mac_verify(km[10], OHSM_KALG_HMAC_SHA_256, msg, 32, mac, ml) != OHSM_OK) {
            return (void *)4;
        }
    }
    return NULL;
}

static void test_kms_kcrypto_threads(void **state)
{
    (void)state;
    enum { NT = 4 };
    pthread_t t[NT];
    uint8_t msgs[NT][32];
    for (int i = 0; i < NT; i++) {
        memset(msgs[i], 'a' + i, sizeof(msgs[i]));
        assert_int_equal(pthread_create(&t[i], NULL, worker, msgs[i]), 0);
    }
    for (int i = 0; i < NT; i++) {
        void *r = (void *)-1;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kms_kcrypto_names),
        cmocka_unit_test(test_kms_kcrypto_spec_table),
        cmocka_unit_test(test_kms_kcrypto_every_spec),
        cmocka_unit_test(test_kms_kcrypto_sign_every_alg),
        cmocka_unit_test(test_kms_kcrypto_sign_wrong_alg),
        cmocka_unit_test(test_kms_kcrypto_ecdsa_der_strict),
        cmocka_unit_test(test_kms_kcrypto_oaep),
        cmocka_unit_test(test_kms_kcrypto_hmac),
        cmocka_unit_test(test_kms_kcrypto_data_key_pair),
        cmocka_unit_test(test_kms_kcrypto_material_check),
        cmocka_unit_test(test_kms_kcrypto_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
