/* SPDX-License-Identifier: Apache-2.0
 * Import wrapping (src/kms/kimport.c, kspec.c): GetParametersForImport's RSA wrapping pairs, and
 * ImportKeyMaterial's unwrap of material wrapped on the test side with plain OpenSSL as a user
 * would (EVP_PKEY_encrypt with OAEP = `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:oaep`,
 * EVP_aes_256_wrap_pad = `openssl enc -id-aes256-wrap-pad`) for RSAES_OAEP_SHA_1/256 and
 * RSA_AES_KEY_WRAP_SHA_1/256; every broken input (wrong key, truncated, altered, extended, other
 * algorithm) is OHSM_ENCRYPTED_DATA_INVALID. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "kms/kcrypto.h"

static const uint32_t algs[] = {
    OHSM_KALG_WRAP_RSAES_OAEP_SHA_1,
    OHSM_KALG_WRAP_RSAES_OAEP_SHA_256,
    OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1,
    OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_256,
};

/* Two wrapping pairs of 2048 bits (the second is "another import's key"). */
static uint8_t *priv[2];
static size_t priv_len[2];
static EVP_PKEY *pub[2];

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        uint8_t *u = NULL;
        size_t ul = 0;
        if (ohsm_kms_wrapping_pair(2048, &priv[i], &priv_len[i], &u, &ul) != OHSM_OK) {
            return -1;
        }
        const uint8_t *p = u;
        pub[i] = d2i_PUBKEY(NULL, &p, (long)ul);
        free(u);
        if (pub[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        ohsm_kms_bytes_free(priv[i], priv_len[i]);
        EVP_PKEY_free(pub[i]);
    }
    return 0;
}

static bool is_kw(uint32_t alg)
{
    return alg == OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1 ||
           alg == OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_256;
}

static const EVP_MD *md_of(uint32_t alg)
{
    return alg == OHSM_KALG_WRAP_RSAES_OAEP_SHA_1 || alg == OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1
               ? EVP_sha1()
               : EVP_sha256();
}

/* OAEP with the same hash for MGF1 and no label, as `openssl pkeyutl` with rsa_oaep_md and
 * rsa_mgf1_md of the same hash does. */
static size_t oaep(EVP_PKEY *pk, const EVP_MD *md, const uint8_t *in, size_t len, uint8_t *out)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    size_t n = 512;
    assert_int_equal(EVP_PKEY_encrypt_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(c, md), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(c, md), 1);
    assert_int_equal(EVP_PKEY_encrypt(c, out, &n, in, len), 1);
    EVP_PKEY_CTX_free(c);
    return n;
}

/* RFC 5649 with a 256-bit key (id-aes256-wrap-pad). */
static size_t kwp(const uint8_t key[32], const uint8_t *in, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    int f = 0;
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL), 1);
    assert_int_equal(EVP_EncryptUpdate(c, out, &n, in, (int)len), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, out + n, &f), 1);
    EVP_CIPHER_CTX_free(c);
    return (size_t)(n + f);
}

/* EncryptedKeyMaterial as the KMS guide has a user make it with OpenSSL. out: >= 256 + len + 16. */
static size_t user_wrap(EVP_PKEY *pk, uint32_t alg, const uint8_t *m, size_t len, uint8_t *out)
{
    if (!is_kw(alg)) {
        return oaep(pk, md_of(alg), m, len, out);
    }
    uint8_t aes[32];
    assert_int_equal(RAND_bytes(aes, sizeof(aes)), 1);
    size_t n = oaep(pk, md_of(alg), aes, sizeof(aes), out);
    n += kwp(aes, m, len, out + n);
    OPENSSL_cleanse(aes, sizeof(aes));
    return n;
}

/* Wrapping pairs: RSA of the bits asked, private PKCS#8 and public SPKI of one key; only
 * 2048/3072/4096 bits. */
static void test_kms_kimport_wrapping_pair(void **state)
{
    (void)state;
    static const uint32_t good[] = {2048, 3072};
    static const uint32_t bad[] = {0, 1024, 2047, 2056, 8192};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *pv = NULL;
        uint8_t *pb = NULL;
        size_t pl = 0;
        size_t bl = 0;
        assert_int_equal(ohsm_kms_wrapping_pair(good[i], &pv, &pl, &pb, &bl), OHSM_OK);
        const uint8_t *p = pv;
        EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)pl);
        assert_non_null(k);
        p = pb;
        EVP_PKEY *u = d2i_PUBKEY(NULL, &p, (long)bl);
        assert_non_null(u);
        assert_int_equal(EVP_PKEY_get_base_id(u), EVP_PKEY_RSA);
        assert_int_equal(EVP_PKEY_get_bits(u), (int)good[i]);
        assert_int_equal(EVP_PKEY_eq(k, u), 1);
        EVP_PKEY_free(k);
        EVP_PKEY_free(u);
        ohsm_kms_bytes_free(pv, pl);
        free(pb);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *pv = NULL;
        uint8_t *pb = NULL;
        size_t pl = 0;
        size_t bl = 0;
        assert_int_equal(ohsm_kms_wrapping_pair(bad[i], &pv, &pl, &pb, &bl), OHSM_ARGUMENTS_BAD);
        assert_null(pv);
        assert_null(pb);
    }
}

/* Material of several specs wrapped by OpenSSL unwraps to the same bytes under each algorithm
 * (RSA private keys only with RSA_AES_KEY_WRAP: too long for one OAEP block), and passes its
 * spec's import check: the import works end to end. */
static void test_kms_kimport_unwrap(void **state)
{
    (void)state;
    static const uint32_t specs[] = {OHSM_KSPEC_SYMMETRIC_DEFAULT, OHSM_KSPEC_HMAC_384,
                                     OHSM_KSPEC_ECC_NIST_P256, OHSM_KSPEC_ECC_NIST_P521,
                                     OHSM_KSPEC_RSA_2048};
    uint8_t *blob = malloc(8192);
    int done = 0;
    for (size_t si = 0; si < sizeof(specs) / sizeof(specs[0]); si++) {
        uint8_t *m = NULL;
        size_t ml = 0;
        assert_int_equal(ohsm_kms_material_gen(specs[si], &m, &ml), OHSM_OK);
        for (size_t a = 0; a < 4; a++) {
            size_t limit = 256 - 2 * (size_t)EVP_MD_get_size(md_of(algs[a])) - 2;
            if (!is_kw(algs[a]) && ml > limit) {
                continue;
            }
            size_t bl = user_wrap(pub[0], algs[a], m, ml, blob);
            uint8_t *out = NULL;
            size_t ol = 0;
            assert_int_equal(
                ohsm_kms_import_unwrap(priv[0], priv_len[0], algs[a], blob, bl, &out, &ol),
                OHSM_OK);
            assert_int_equal(ol, ml);
            assert_memory_equal(out, m, ml);
            assert_int_equal(ohsm_kms_material_check(specs[si], out, ol), OHSM_OK);
            ohsm_kms_bytes_free(out, ol);
            done++;
        }
        ohsm_kms_bytes_free(m, ml);
    }
    /* 5 specs x 4 algorithms, minus RSA_2048 and P-521 under the OAEP-only algorithms where they
     * do not fit (P-521's PKCS#8 is 241 bytes) */
    assert_int_equal(done, 5 * 4 - 2 - 2);
    free(blob);
}

/* Every broken EncryptedKeyMaterial is OHSM_ENCRYPTED_DATA_INVALID and yields nothing. */
static void test_kms_kimport_refusals(void **state)
{
    (void)state;
    uint8_t m[32];
    uint8_t *blob = malloc(1024);
    uint8_t *bad = malloc(1024);
    assert_int_equal(RAND_bytes(m, sizeof(m)), 1);
    for (size_t a = 0; a < 4; a++) {
        uint32_t alg = algs[a];
        size_t bl = user_wrap(pub[0], alg, m, sizeof(m), blob);
        uint8_t *out = NULL;
        size_t ol = 0;
#define REFUSED(in, len, al, k)                                                                    \
    assert_int_equal(ohsm_kms_import_unwrap(priv[k], priv_len[k], al, in, len, &out, &ol),         \
                     OHSM_ENCRYPTED_DATA_INVALID)
        REFUSED(blob, bl, alg, 1);     /* wrapped for another import's key */
        REFUSED(blob, bl - 1, alg, 0); /* truncated */
        REFUSED(blob, 0, alg, 0);      /* empty */
        REFUSED(blob, 1, alg, 0);
        memcpy(bad, blob, bl);
        bad[bl] = 0;
        REFUSED(bad, bl + 1, alg, 0); /* extended */
        bad[10] ^= 0x01;
        REFUSED(bad, bl, alg, 0); /* RSA block altered */
        if (is_kw(alg)) {
            REFUSED(blob, 256, alg, 0); /* the RSA part only */
            REFUSED(blob, 256 + 8, alg, 0);
            memcpy(bad, blob, bl);
            bad[bl - 3] ^= 0x20;
            REFUSED(bad, bl, alg, 0); /* RFC 5649 part altered */
        }
        /* same family, other hash; other family, same hash */
        static const uint32_t twin[] = {
            OHSM_KALG_WRAP_RSAES_OAEP_SHA_256, OHSM_KALG_WRAP_RSAES_OAEP_SHA_1,
            OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_256, OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1};
        static const uint32_t cousin[] = {
            OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1, OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_256,
            OHSM_KALG_WRAP_RSAES_OAEP_SHA_1, OHSM_KALG_WRAP_RSAES_OAEP_SHA_256};
        REFUSED(blob, bl, twin[a], 0);
        REFUSED(blob, bl, cousin[a], 0);
#undef REFUSED
        assert_null(out);
        /* the untouched blob still unwraps (the refusals above were about the changes) */
        if (!is_kw(alg)) {
            assert_int_equal(bl, 256);
        }
        assert_int_equal(ohsm_kms_import_unwrap(priv[0], priv_len[0], alg, blob, bl, &out, &ol),
                         OHSM_OK);
        assert_memory_equal(out, m, sizeof(m));
        ohsm_kms_bytes_free(out, ol);
    }
    free(bad);
    free(blob);
}

/* RSAES_PKCS1_V1_5 (deprecated by AWS) and unknown algorithms are refused before any work; a
 * wrapping key that does not parse is not the caller's ciphertext's fault. */
static void test_kms_kimport_bad_args(void **state)
{
    (void)state;
    uint8_t blob[256] = {1};
    uint8_t *out = NULL;
    size_t ol = 0;
    assert_int_equal(ohsm_kms_import_unwrap(priv[0], priv_len[0], OHSM_KALG_WRAP_RSAES_PKCS1_V1_5,
                                            blob, sizeof(blob), &out, &ol),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_import_unwrap(priv[0], priv_len[0], OHSM_KALG_RSAES_OAEP_SHA_256,
                                            blob, sizeof(blob), &out, &ol),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_import_unwrap(priv[0], priv_len[0], 0, blob, sizeof(blob), &out, &ol),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_import_unwrap(blob, sizeof(blob), OHSM_KALG_WRAP_RSAES_OAEP_SHA_256,
                                            blob, sizeof(blob), &out, &ol),
                     OHSM_DATA_INVALID);
    assert_int_equal(ohsm_kms_import_unwrap(NULL, 0, OHSM_KALG_WRAP_RSAES_OAEP_SHA_256, blob,
                                            sizeof(blob), &out, &ol),
                     OHSM_ARGUMENTS_BAD);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kms_kimport_wrapping_pair),
        cmocka_unit_test(test_kms_kimport_unwrap),
        cmocka_unit_test(test_kms_kimport_refusals),
        cmocka_unit_test(test_kms_kimport_bad_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
