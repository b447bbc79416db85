/* SPDX-License-Identifier: Apache-2.0
 * Mechanisms: known-answer vectors (NIST SP 800-38A/D, FIPS 197, RFC 3394, RFC 5649, RFC 4231,
 * FIPS 180), round trips for every mechanism and key type, signatures cross-checked with plain
 * OpenSSL EVP, and every error path. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "openhsm/mech.h"

/* ---- helpers ---- */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        char b[3] = {h[2 * i], h[2 * i + 1], 0};
        out[i] = (uint8_t)strtoul(b, NULL, 16);
    }
    return n;
}

static void assert_hex(const uint8_t *p, size_t n, const char *h)
{
    uint8_t want[512];
    size_t wn = unhex(h, want, sizeof(want));
    assert_int_equal(n, wn);
    assert_memory_equal(p, want, n);
}

static struct ohsm_mech_key aes(const uint8_t *k, size_t n)
{
    return (struct ohsm_mech_key){
        .cls = OHSM_CLASS_SECRET, .ktype = OHSM_KT_AES, .raw = k, .raw_len = n};
}

static struct ohsm_mech_key pkey_key(uint32_t cls, uint32_t ktype, EVP_PKEY *pk)
{
    return (struct ohsm_mech_key){.cls = cls, .ktype = ktype, .pkey = pk};
}

/* The public half of pk, through the material format (SPKI DER). */
static EVP_PKEY *public_of(EVP_PKEY *pk, uint32_t ktype)
{
    uint8_t *der = NULL;
    size_t n = 0;
    void *pub = NULL;
    assert_int_equal(ohsm_mech_pkey_der(pk, false, &der, &n), OHSM_OK);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PUBLIC, ktype, der, n, &pub), OHSM_OK);
    ohsm_mech_der_free(der, n);
    return pub;
}

struct keys {
    EVP_PKEY *rsa;
    EVP_PKEY *rsa_pub;
    EVP_PKEY *ec[6]; /* by enum ohsm_curve */
};

static int setup(void **state)
{
    struct keys *k = calloc(1, sizeof(*k));
    void *pk = NULL;
    assert_int_equal(ohsm_mech_gen_rsa(2048, 0, &pk), OHSM_OK);
    k->rsa = pk;
    k->rsa_pub = public_of(k->rsa, OHSM_KT_RSA);
    for (uint32_t c = OHSM_CURVE_P256; c <= OHSM_CURVE_P224; c++) {
        assert_int_equal(ohsm_mech_gen_ec(c, &pk), OHSM_OK);
        k->ec[c] = pk;
    }
    *state = k;
    return 0;
}

static int teardown(void **state)
{
    struct keys *k = *state;
    ohsm_mech_pkey_free(k->rsa);
    ohsm_mech_pkey_free(k->rsa_pub);
    for (size_t c = 0; c < 6; c++) {
        ohsm_mech_pkey_free(k->ec[c]);
    }
    free(k);
    return 0;
}

/* ---- names, sizes, generation ---- */

/* Hash names and lengths round-trip; unknown values give NULL/-1/0. */
static void test_mech_hash_names(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 20, 28, 32, 48, 64};
    for (uint32_t h = OHSM_H_SHA1; h <= OHSM_H_SHA512; h++) {
        assert_int_equal(ohsm_hash_from_name(ohsm_hash_name(h)), h);
        assert_int_equal(ohsm_hash_len(h), lens[h]);
    }
    assert_int_equal(ohsm_hash_from_name("SHA256"), OHSM_H_SHA256);
    assert_null(ohsm_hash_name(OHSM_H_NONE));
    assert_null(ohsm_hash_name(6));
    assert_int_equal(ohsm_hash_from_name("md5"), -1);
    assert_int_equal(ohsm_hash_from_name(NULL), -1);
    assert_int_equal(ohsm_hash_len(99), 0);
}

/* Sizes: AES 16/24/32, generic 1..3583, RSA 2048..4096 by 8 with odd e >= 65537, known curves. */
static void test_mech_check_size(void **state)
{
    (void)state;
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_AES, 16, 0), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_AES, 24, 0), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_AES, 32, 0), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_AES, 17, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_AES, 0, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_AES, 64, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_GENERIC_SECRET, 1, 0), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_GENERIC_SECRET, 3583, 0), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_GENERIC_SECRET, 0, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_GENERIC_SECRET, 3584, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_RSA, 2048, 0), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_RSA, 4096, 65537), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_RSA, 3072, 0x10001 + 2), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_RSA, 2040, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_RSA, 4104, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_RSA, 2049, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_RSA, 2048, 3), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_RSA, 2048, 65538), OHSM_ATTRIBUTE_VALUE_INVALID);
    for (uint32_t c = OHSM_CURVE_P256; c <= OHSM_CURVE_P224; c++) {
        assert_int_equal(ohsm_mech_check_size(OHSM_KT_EC, c, 0), OHSM_OK);
    }
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_EC, 0, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_EC, 6, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(77, 16, 0), OHSM_ATTRIBUTE_VALUE_INVALID);
}

/* Generation refuses bad sizes and curves; secrets are random. */
static void test_mech_gen_refusals(void **state)
{
    (void)state;
    void *pk = NULL;
    uint8_t a[32] = {0};
    uint8_t b[32] = {0};
    assert_int_equal(ohsm_mech_gen_rsa(1024, 0, &pk), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_gen_rsa(2048, 4, &pk), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_mech_gen_ec(0, &pk), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_gen_ec(99, &pk), OHSM_KEY_SIZE_RANGE);
    assert_null(pk);
    assert_int_equal(ohsm_mech_gen_secret(a, sizeof(a)), OHSM_OK);
    assert_int_equal(ohsm_mech_gen_secret(b, sizeof(b)), OHSM_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(ohsm_mech_gen_secret(a, 0), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mech_gen_secret(NULL, 16), OHSM_ARGUMENTS_BAD);
}

/* A non-default exponent is used and reported by the key. */
static void test_mech_gen_rsa_exponent(void **state)
{
    (void)state;
    void *pk = NULL;
    BIGNUM *e = NULL;
    assert_int_equal(ohsm_mech_gen_rsa(2048, 65539, &pk), OHSM_OK);
    assert_int_equal(EVP_PKEY_get_bits(pk), 2048);
    assert_int_equal(EVP_PKEY_get_bn_param(pk, "e", &e), 1);
    assert_int_equal(BN_get_word(e), 65539);
    BN_free(e);
    ohsm_mech_pkey_free(pk);
}

/* ---- known answers ---- */

/* SHA-1/224/256/384/512 of "abc" (FIPS 180-4 examples); empty input works. */
static void test_mech_digest_kat(void **state)
{
    (void)state;
    static const char *want[] = {
        NULL,
        "a9993e364706816aba3e25717850c26c9cd0d89d",
        "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca1"
        "34c825a7",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3"
        "feebbd454d4423643ce80e2a9ac94fa54ca49f",
    };
    uint8_t out[64];
    size_t n = 0;
    for (uint32_t h = OHSM_H_SHA1; h <= OHSM_H_SHA512; h++) {
        assert_int_equal(ohsm_mech_digest(h, (const uint8_t *)"abc", 3, out, sizeof(out), &n),
                         OHSM_OK);
        assert_hex(out, n, want[h]);
    }
    assert_int_equal(ohsm_mech_digest(OHSM_H_SHA256, NULL, 0, out, sizeof(out), &n), OHSM_OK);
    assert_hex(out, n, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* too small reports the size; unknown hash refused */
    assert_int_equal(ohsm_mech_digest(OHSM_H_SHA384, out, 1, out, 47, &n), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 48);
    assert_int_equal(ohsm_mech_digest(OHSM_H_NONE, out, 1, out, 64, &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    assert_int_equal(ohsm_mech_digest(9, out, 1, out, 64, &n), OHSM_MECHANISM_PARAM_INVALID);
}

/* HMAC tags of RFC 4231 test cases 1 and 2; verify accepts them and refuses altered tags. */
static void test_mech_hmac_kat(void **state)
{
    (void)state;
    uint8_t key1[20];
    memset(key1, 0x0b, sizeof(key1));
    struct ohsm_mech_key k1 = {.cls = OHSM_CLASS_SECRET,
                               .ktype = OHSM_KT_GENERIC_SECRET,
                               .raw = key1,
                               .raw_len = sizeof(key1)};
    struct ohsm_mech_key k2 = {.cls = OHSM_CLASS_SECRET,
                               .ktype = OHSM_KT_GENERIC_SECRET,
                               .raw = (const uint8_t *)"Jefe",
                               .raw_len = 4};
    const uint8_t *d1 = (const uint8_t *)"Hi There";
    const uint8_t *d2 = (const uint8_t *)"what do ya want for nothing?";
    struct ohsm_mech_params m = {.mech = OHSM_M_HMAC, .hash = OHSM_H_SHA256};
    uint8_t tag[64];
    size_t n = 0;

    assert_int_equal(ohsm_mech_sign(&k1, &m, d1, 8, tag, sizeof(tag), &n), OHSM_OK);
    assert_hex(tag, n, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_int_equal(ohsm_mech_verify(&k1, &m, d1, 8, tag, n), OHSM_OK);
    tag[5] ^= 1;
    assert_int_equal(ohsm_mech_verify(&k1, &m, d1, 8, tag, n), OHSM_SIGNATURE_INVALID);
    tag[5] ^= 1;
    assert_int_equal(ohsm_mech_verify(&k1, &m, d1, 8, tag, n - 1), OHSM_SIGNATURE_INVALID);
    assert_int_equal(ohsm_mech_verify(&k1, &m, d1, 7, tag, n), OHSM_SIGNATURE_INVALID);

    m.hash = OHSM_H_SHA512;
    assert_int_equal(ohsm_mech_sign(&k1, &m, d1, 8, tag, sizeof(tag), &n), OHSM_OK);
    assert_hex(tag, n,
               "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a7020"
               "38b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
    m.hash = OHSM_H_SHA224;
    assert_int_equal(ohsm_mech_sign(&k2, &m, d2, 28, tag, sizeof(tag), &n), OHSM_OK);
    assert_hex(tag, n, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44");
    m.hash = OHSM_H_SHA384;
    assert_int_equal(ohsm_mech_sign(&k2, &m, d2, 28, tag, sizeof(tag), &n), OHSM_OK);
    assert_hex(tag, n,
               "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b"
               "3239ecfab21649");
    /* an AES key may MAC too */
    struct ohsm_mech_key ka = aes(key1, 16);
    assert_int_equal(ohsm_mech_sign(&ka, &m, d2, 28, tag, sizeof(tag), &n), OHSM_OK);
    assert_int_equal(ohsm_mech_verify(&ka, &m, d2, 28, tag, n), OHSM_OK);
    /* refusals: no hash, prehashed, small buffer, RSA key */
    m.hash = OHSM_H_NONE;
    assert_int_equal(ohsm_mech_sign(&k1, &m, d1, 8, tag, sizeof(tag), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.hash = OHSM_H_SHA256;
    m.prehashed = true;
    assert_int_equal(ohsm_mech_sign(&k1, &m, d1, 8, tag, sizeof(tag), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.prehashed = false;
    assert_int_equal(ohsm_mech_sign(&k1, &m, d1, 8, tag, 31, &n), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 32);
    struct ohsm_mech_key kr = {.cls = OHSM_CLASS_PRIVATE, .ktype = OHSM_KT_RSA};
    assert_int_equal(ohsm_mech_sign(&kr, &m, d1, 8, tag, sizeof(tag), &n),
                     OHSM_KEY_TYPE_INCONSISTENT);
}

/* AES-GCM: McGrew-Viega test cases 2 and 4 (the NIST GCM vectors). Encryption always makes its
 * own IV, so the vectors are checked by decryption (which takes the IV); encryption round-trips
 * through a decryption with the IV it returned. */
static void test_mech_gcm_kat(void **state)
{
    (void)state;
    uint8_t key[16] = {0};
    uint8_t iv[12] = {0};
    uint8_t pt[64] = {0};
    uint8_t ct[128];
    uint8_t aad[20];
    uint8_t out[128];
    uint8_t back[128];
    size_t n = 0;
    struct ohsm_mech_key k = aes(key, 16);
    struct ohsm_mech_params m = {.mech = OHSM_M_AES_GCM, .iv = iv, .iv_len = 12};

    size_t cn =
        unhex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf", ct, sizeof(ct));
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, cn, back, sizeof(back), &n), OHSM_OK);
    assert_int_equal(n, 16);
    assert_memory_equal(back, pt, 16);

    unhex("feffe9928665731c6d6a8f9467308308", key, sizeof(key));
    unhex("cafebabefacedbaddecaf888", iv, sizeof(iv));
    size_t pn = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c9595"
                      "6809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                      pt, sizeof(pt));
    unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof(aad));
    cn = unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d"
               "8f6a5aac84aa051ba30b396a0aac973d58e0915bc94fbc3221a5db94fae95ae7121a47",
               ct, sizeof(ct));
    m.aad = aad;
    m.aad_len = sizeof(aad);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, cn, back, sizeof(back), &n), OHSM_OK);
    assert_int_equal(n, pn);
    assert_memory_equal(back, pt, pn);
    /* a 96-bit tag is the first 12 bytes of the full tag */
    m.tag_bits = 96;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, pn + 12, back, sizeof(back), &n), OHSM_OK);
    assert_int_equal(n, pn);
    ct[pn + 11] ^= 1;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, pn + 12, back, sizeof(back), &n),
                     OHSM_ENCRYPTED_DATA_INVALID);

    /* encryption: a fresh IV comes back and decrypts what it made */
    uint8_t giv[16];
    size_t ivn = 0;
    m.iv = NULL;
    m.iv_len = 0;
    assert_int_equal(
        ohsm_mech_encrypt(&k, &m, pt, pn, out, sizeof(out), &n, giv, sizeof(giv), &ivn), OHSM_OK);
    assert_int_equal(ivn, 12);
    assert_int_equal(n, pn + 12);
    m.iv = giv;
    m.iv_len = ivn;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, out, n, back, sizeof(back), &n), OHSM_OK);
    assert_int_equal(n, pn);
    assert_memory_equal(back, pt, pn);
}

/* AES-GCM encryption never takes the caller's IV (a repeated IV leaks the XOR of plaintexts and
 * the GHASH key): any IV given, even the one of the KAT or all zeros, is refused and nothing is
 * written; two encryptions of one plaintext give two IVs and two ciphertexts. */
static void test_mech_gcm_iv_generated(void **state)
{
    (void)state;
    uint8_t key[32] = {5};
    uint8_t iv[16] = {0};
    uint8_t pt[32] = {1, 2, 3};
    uint8_t out[2][64];
    uint8_t giv[2][16];
    size_t n[2] = {0, 0};
    size_t ivn[2] = {0, 0};
    struct ohsm_mech_key k = aes(key, 32);
    struct ohsm_mech_params m = {.mech = OHSM_M_AES_GCM, .iv = iv, .iv_len = 12};

    memset(out, 0xAA, sizeof(out));
    for (size_t len = 1; len <= 16; len++) {
        m.iv_len = len;
        ivn[0] = 99;
        assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, sizeof(pt), out[0], sizeof(out[0]), &n[0],
                                           giv[0], sizeof(giv[0]), &ivn[0]),
                         OHSM_MECHANISM_PARAM_INVALID);
        assert_int_equal(ivn[0], 0);
        assert_int_equal(
            ohsm_mech_encrypt(&k, &m, pt, sizeof(pt), out[0], sizeof(out[0]), &n[0], NULL, 0, NULL),
            OHSM_MECHANISM_PARAM_INVALID);
    }
    for (size_t i = 0; i < sizeof(out[0]); i++) {
        assert_int_equal(out[0][i], 0xAA); /* nothing written */
    }
    /* wrapping: the same rule */
    m.iv_len = 12;
    assert_int_equal(ohsm_mech_wrap(&k, &m, pt, sizeof(pt), out[0], sizeof(out[0]), &n[0]),
                     OHSM_MECHANISM_PARAM_INVALID);
    /* CBC and CTR still take the caller's IV */
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_CTR, .iv = iv, .iv_len = 16};
    assert_int_equal(
        ohsm_mech_encrypt(&k, &m, pt, sizeof(pt), out[0], sizeof(out[0]), &n[0], NULL, 0, NULL),
        OHSM_OK);
    m.mech = OHSM_M_AES_CBC_PAD;
    assert_int_equal(
        ohsm_mech_encrypt(&k, &m, pt, sizeof(pt), out[0], sizeof(out[0]), &n[0], NULL, 0, NULL),
        OHSM_OK);
    /* fresh IVs: same key and plaintext, different IV and ciphertext; wraps likewise */
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_GCM};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, sizeof(pt), out[i], sizeof(out[i]), &n[i],
                                           giv[i], sizeof(giv[i]), &ivn[i]),
                         OHSM_OK);
        assert_int_equal(ivn[i], 12);
        assert_int_equal(n[i], sizeof(pt) + 16);
    }
    assert_memory_not_equal(giv[0], giv[1], 12);
    assert_memory_not_equal(out[0], out[1], sizeof(pt));
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(ohsm_mech_wrap(&k, &m, pt, sizeof(pt), out[i], sizeof(out[i]), &n[i]),
                         OHSM_OK);
        assert_int_equal(n[i], 12 + sizeof(pt) + 16);
    }
    assert_memory_not_equal(out[0], out[1], 12);
    assert_memory_not_equal(out[0] + 12, out[1] + 12, sizeof(pt));
}

/* AES-ECB (FIPS 197 C.1), CBC and CTR (SP 800-38A F.2.1, F.5.1) first blocks; the KCV of AES is
 * the first 3 bytes of E(K, 0^128) and of a generic secret the first 3 bytes of SHA-1(K). */
static void test_mech_aes_modes_kat(void **state)
{
    (void)state;
    uint8_t key[16] = {0};
    uint8_t iv[16];
    uint8_t pt[16];
    uint8_t out[64];
    size_t n = 0;
    uint8_t kcv[3];
    struct ohsm_mech_key k = aes(key, 16);
    struct ohsm_mech_params m = {.mech = OHSM_M_AES_ECB};

    unhex("000102030405060708090a0b0c0d0e0f", key, sizeof(key));
    unhex("00112233445566778899aabbccddeeff", pt, sizeof(pt));
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_OK);
    assert_hex(out, n, "69c4e0d86a7b0430d8cdb78070b4c55a");

    unhex("2b7e151628aed2a6abf7158809cf4f3c", key, sizeof(key));
    unhex("6bc1bee22e409f96e93d7e117393172a", pt, sizeof(pt));
    unhex("000102030405060708090a0b0c0d0e0f", iv, sizeof(iv));
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_CBC, .iv = iv, .iv_len = 16};
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_OK);
    assert_hex(out, n, "7649abac8119b246cee98e9b12e9197d");
    /* CBC-PAD: the same first block, then a whole block of padding */
    m.mech = OHSM_M_AES_CBC_PAD;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_OK);
    assert_int_equal(n, 32);
    assert_hex(out, 16, "7649abac8119b246cee98e9b12e9197d");

    unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", iv, sizeof(iv));
    m.mech = OHSM_M_AES_CTR;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_OK);
    assert_hex(out, n, "874d6191b620e3261bef6864990db6ce");

    memset(key, 0, sizeof(key));
    assert_int_equal(ohsm_mech_kcv(OHSM_KT_AES, key, 16, kcv), OHSM_OK);
    assert_hex(kcv, 3, "66e94b"); /* E(0^128, 0^128) = 66e94bd4... */
    assert_int_equal(ohsm_mech_kcv(OHSM_KT_GENERIC_SECRET, (const uint8_t *)"abc", 3, kcv),
                     OHSM_OK);
    assert_hex(kcv, 3, "a9993e");
    assert_int_equal(ohsm_mech_kcv(OHSM_KT_AES, key, 15, kcv), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_kcv(OHSM_KT_RSA, key, 16, kcv), OHSM_KEY_TYPE_INCONSISTENT);
}

/* AES key wrap: RFC 3394 §4.1 and §4.6, RFC 5649 §6 (both examples), and unwrap back. */
static void test_mech_kw_kat(void **state)
{
    (void)state;
    uint8_t kek[32] = {0};
    uint8_t data[32];
    uint8_t out[64];
    uint8_t back[64];
    size_t n = 0;
    size_t bn = 0;
    struct ohsm_mech_params m = {.mech = OHSM_M_AES_KW};
    struct ohsm_mech_key k = aes(kek, 16);

    unhex("000102030405060708090a0b0c0d0e0f", kek, sizeof(kek));
    size_t dn = unhex("00112233445566778899aabbccddeeff", data, sizeof(data));
    assert_int_equal(ohsm_mech_wrap(&k, &m, data, dn, out, sizeof(out), &n), OHSM_OK);
    assert_hex(out, n, "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(bn, dn);
    assert_memory_equal(back, data, dn);

    unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", kek, sizeof(kek));
    k = aes(kek, 32);
    dn = unhex("00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f", data,
               sizeof(data));
    assert_int_equal(ohsm_mech_wrap(&k, &m, data, dn, out, sizeof(out), &n), OHSM_OK);
    assert_hex(out, n,
               "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21");

    m.mech = OHSM_M_AES_KWP;
    unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", kek, sizeof(kek));
    k = aes(kek, 24);
    dn = unhex("c37b7e6492584340bed12207808941155068f738", data, sizeof(data));
    assert_int_equal(ohsm_mech_wrap(&k, &m, data, dn, out, sizeof(out), &n), OHSM_OK);
    assert_hex(out, n, "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(bn, dn);
    assert_memory_equal(back, data, dn);
    dn = unhex("466f7250617369", data, sizeof(data));
    assert_int_equal(ohsm_mech_wrap(&k, &m, data, dn, out, sizeof(out), &n), OHSM_OK);
    assert_hex(out, n, "afbeb0f07dfbf5419200f2ccb50bb24f");
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(bn, 7);
    assert_memory_equal(back, data, 7);
}

/* ---- AES round trips and errors ---- */

/* Every AES mode and key size round-trips, with generated IVs of the mode's length. */
static void test_mech_aes_roundtrip(void **state)
{
    (void)state;
    static const uint32_t mechs[] = {OHSM_M_AES_GCM, OHSM_M_AES_CBC_PAD, OHSM_M_AES_CBC,
                                     OHSM_M_AES_CTR, OHSM_M_AES_ECB};
    static const size_t ivlens[] = {12, 16, 16, 16, 0};
    uint8_t key[32];
    uint8_t pt[100];
    uint8_t ct[160];
    uint8_t back[160];
    uint8_t iv[16];
    size_t n = 0;
    size_t bn = 0;
    size_t ivn = 0;
    assert_int_equal(ohsm_mech_gen_secret(key, sizeof(key)), OHSM_OK);
    assert_int_equal(ohsm_mech_gen_secret(pt, sizeof(pt)), OHSM_OK);
    for (size_t ks = 16; ks <= 32; ks += 8) {
        struct ohsm_mech_key k = aes(key, ks);
        for (size_t i = 0; i < 5; i++) {
            size_t len = mechs[i] == OHSM_M_AES_CBC || mechs[i] == OHSM_M_AES_ECB ? 96 : 100;
            struct ohsm_mech_params m = {.mech = mechs[i]};
            assert_int_equal(
                ohsm_mech_encrypt(&k, &m, pt, len, ct, sizeof(ct), &n, iv, sizeof(iv), &ivn),
                OHSM_OK);
            assert_int_equal(ivn, ivlens[i]);
            assert_memory_not_equal(ct, pt, 16);
            m.iv = ivn > 0 ? iv : NULL;
            m.iv_len = ivn;
            assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, sizeof(back), &bn), OHSM_OK);
            assert_int_equal(bn, len);
            assert_memory_equal(back, pt, len);
        }
    }
    /* GCM and CBC-PAD take empty plaintexts */
    struct ohsm_mech_key k = aes(key, 16);
    struct ohsm_mech_params m = {.mech = OHSM_M_AES_CBC_PAD};
    assert_int_equal(ohsm_mech_encrypt(&k, &m, NULL, 0, ct, sizeof(ct), &n, iv, 16, &ivn), OHSM_OK);
    assert_int_equal(n, 16);
    m.iv = iv;
    m.iv_len = 16;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(bn, 0);
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_GCM};
    assert_int_equal(ohsm_mech_encrypt(&k, &m, NULL, 0, ct, sizeof(ct), &n, iv, 16, &ivn), OHSM_OK);
    assert_int_equal(n, 16);
}

/* Bad AES input: wrong key sizes and types, IVs, tag lengths, lengths, truncation, tampering,
 * small buffers (which report the size needed). */
static void test_mech_aes_errors(void **state)
{
    struct keys *ks = *state;
    uint8_t key[32] = {1, 2, 3};
    uint8_t pt[48] = {0};
    uint8_t ct[96];
    uint8_t back[96];
    uint8_t iv[16] = {0};
    size_t n = 0;
    size_t bn = 0;
    size_t ivn = 0;
    struct ohsm_mech_key k = aes(key, 16);
    uint8_t giv[16];
    struct ohsm_mech_params m = {.mech = OHSM_M_AES_GCM};

    struct ohsm_mech_key bad = aes(key, 20);
    assert_int_equal(
        ohsm_mech_encrypt(&bad, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
        OHSM_KEY_SIZE_RANGE);
    bad = k;
    bad.ktype = OHSM_KT_GENERIC_SECRET;
    assert_int_equal(
        ohsm_mech_encrypt(&bad, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
        OHSM_KEY_TYPE_INCONSISTENT);
    struct ohsm_mech_key rk = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_RSA, ks->rsa_pub);
    assert_int_equal(ohsm_mech_encrypt(&rk, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
                     OHSM_KEY_TYPE_INCONSISTENT);
    /* mechanisms that are not encryption */
    m.mech = OHSM_M_HMAC;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
                     OHSM_MECHANISM_INVALID);
    m.mech = 999;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, pt, 16, ct, sizeof(ct), &n), OHSM_MECHANISM_INVALID);
    /* GCM parameters */
    m.mech = OHSM_M_AES_GCM;
    m.iv = iv;
    m.iv_len = 16;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.iv_len = 0;
    m.tag_bits = 64;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.tag_bits = 100;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.tag_bits = 136;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.tag_bits = 0;
    /* buffer too small: needed size reported, also with out == NULL */
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, 31, &n, giv, sizeof(giv), &ivn),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 32);
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, NULL, 0, &n, giv, sizeof(giv), &ivn),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 32);
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, giv, sizeof(giv), &ivn),
                     OHSM_OK);
    m.iv = giv;
    m.iv_len = ivn;
    /* truncated (shorter than the tag), flipped tag, flipped ciphertext, wrong aad */
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, 15, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n - 1, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_INVALID);
    ct[n - 1] ^= 0x80;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_INVALID);
    ct[n - 1] ^= 0x80;
    ct[0] ^= 1;
    memset(back, 0xAA, sizeof(back));
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_INVALID);
    for (size_t i = 0; i < 16; i++) {
        assert_true(back[i] == 0 || back[i] == 0xAA); /* no unauthenticated plaintext left */
    }
    ct[0] ^= 1;
    m.aad = pt;
    m.aad_len = 1;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_INVALID);
    m.aad_len = 0;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, 15, &bn), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(bn, 16);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, sizeof(back), &bn), OHSM_OK);
    /* decrypt needs the iv; encrypt needs somewhere to put the one it makes */
    m.iv_len = 0;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, sizeof(back), &bn),
                     OHSM_MECHANISM_PARAM_INVALID);
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, iv, 8, &ivn),
                     OHSM_ARGUMENTS_BAD);

    /* block modes: lengths */
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_CBC, .iv = iv, .iv_len = 16};
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 17, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 0, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, pt, 20, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_LEN_RANGE);
    m.iv_len = 12;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_MECHANISM_PARAM_INVALID);
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_ECB, .iv = iv, .iv_len = 16};
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_MECHANISM_PARAM_INVALID);
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_CTR, .iv = iv, .iv_len = 16};
    assert_int_equal(ohsm_mech_decrypt(&k, &m, pt, 0, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_LEN_RANGE);

    /* CBC-PAD: bad padding, truncation, exact-size and too-small output buffers */
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_CBC_PAD, .iv = iv, .iv_len = 16};
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 20, ct, sizeof(ct), &n, NULL, 0, NULL), OHSM_OK);
    assert_int_equal(n, 32);
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 20, ct, 31, &n, NULL, 0, NULL),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 32);
    n = 32;
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, 31, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, 0, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, 20, &bn), OHSM_OK);
    assert_int_equal(bn, 20);
    assert_memory_equal(back, pt, 20);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, 19, &bn), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(bn, 20);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, ct, n, back, 3, &bn), OHSM_BUFFER_TOO_SMALL);
    assert_true(bn >= 20);
    /* a wrong key almost surely breaks the padding; a flipped last byte always changes it */
    ct[n - 1] ^= 0x5a;
    ohsm_rv rv = ohsm_mech_decrypt(&k, &m, ct, n, back, sizeof(back), &bn);
    assert_true(rv == OHSM_ENCRYPTED_DATA_INVALID || (rv == OHSM_OK && bn != 20));
}

/* ---- RSA / EC ---- */

/* RSA-OAEP (several hashes, labels) and PKCS#1 v1.5 encryption round-trip; limits enforced. */
static void test_mech_rsa_encrypt(void **state)
{
    struct keys *ks = *state;
    struct ohsm_mech_key pub = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_RSA, ks->rsa_pub);
    struct ohsm_mech_key priv = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, ks->rsa);
    uint8_t pt[256];
    uint8_t ct[256];
    uint8_t back[256];
    size_t n = 0;
    size_t bn = 0;
    memset(pt, 0x42, sizeof(pt));

    for (uint32_t h = OHSM_H_NONE; h <= OHSM_H_SHA512; h++) {
        struct ohsm_mech_params m = {.mech = OHSM_M_RSA_OAEP,
                                     .hash = h,
                                     .label = (const uint8_t *)"lbl",
                                     .label_len = h % 2 ? 3 : 0};
        size_t hl = ohsm_hash_len(h == OHSM_H_NONE ? OHSM_H_SHA1 : h);
        size_t max = 256 - 2 * hl - 2;
        assert_int_equal(ohsm_mech_encrypt(&pub, &m, pt, max, ct, sizeof(ct), &n, NULL, 0, NULL),
                         OHSM_OK);
        assert_int_equal(n, 256);
        assert_int_equal(ohsm_mech_decrypt(&priv, &m, ct, n, back, sizeof(back), &bn), OHSM_OK);
        assert_int_equal(bn, max);
        assert_memory_equal(back, pt, max);
        assert_int_equal(
            ohsm_mech_encrypt(&pub, &m, pt, max + 1, ct, sizeof(ct), &n, NULL, 0, NULL),
            OHSM_DATA_LEN_RANGE);
        /* another label does not decrypt */
        m.label_len = m.label_len ? 0 : 3;
        assert_int_equal(ohsm_mech_decrypt(&priv, &m, ct, 256, back, sizeof(back), &bn),
                         OHSM_ENCRYPTED_DATA_INVALID);
    }
    /* OAEP with a differing MGF1 hash matches OpenSSL's reading of the same parameters */
    struct ohsm_mech_params m = {
        .mech = OHSM_M_RSA_OAEP, .hash = OHSM_H_SHA256, .mgf_hash = OHSM_H_SHA1};
    assert_int_equal(ohsm_mech_encrypt(&pub, &m, pt, 32, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_OK);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ks->rsa, NULL);
    size_t on = sizeof(back);
    assert_int_equal(EVP_PKEY_decrypt_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha1()), 1);
    assert_int_equal(EVP_PKEY_decrypt(c, back, &on, ct, n), 1);
    assert_int_equal(on, 32);
    EVP_PKEY_CTX_free(c);

    m = (struct ohsm_mech_params){.mech = OHSM_M_RSA_PKCS};
    assert_int_equal(ohsm_mech_encrypt(&pub, &m, pt, 245, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_OK);
    assert_int_equal(ohsm_mech_decrypt(&priv, &m, ct, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(bn, 245);
    assert_memory_equal(back, pt, 245);
    assert_int_equal(ohsm_mech_decrypt(&priv, &m, ct, n, back, 244, &bn), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(bn, 245);
    assert_int_equal(ohsm_mech_encrypt(&pub, &m, pt, 246, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_encrypt(&pub, &m, pt, 16, ct, 255, &n, NULL, 0, NULL),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 256);
    /* truncated ciphertext; decrypting with the public key; bad hash */
    assert_int_equal(ohsm_mech_decrypt(&priv, &m, ct, 255, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_decrypt(&pub, &m, ct, 256, back, sizeof(back), &bn),
                     OHSM_KEY_TYPE_INCONSISTENT);
    m = (struct ohsm_mech_params){.mech = OHSM_M_RSA_OAEP, .hash = 17};
    assert_int_equal(ohsm_mech_encrypt(&pub, &m, pt, 16, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_MECHANISM_PARAM_INVALID);
    /* an EC key cannot encrypt */
    struct ohsm_mech_key ec = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_EC, ks->ec[OHSM_CURVE_P256]);
    m.hash = OHSM_H_SHA256;
    assert_int_equal(ohsm_mech_encrypt(&ec, &m, pt, 16, ct, sizeof(ct), &n, NULL, 0, NULL),
                     OHSM_KEY_TYPE_INCONSISTENT);
}

/* Verifies sig over msg with plain OpenSSL (DigestVerify); ECDSA raw r||s converted to DER. */
static int ossl_verify(EVP_PKEY *pk, uint32_t mech, const EVP_MD *md, const uint8_t *msg, size_t n,
                       const uint8_t *sig, size_t sn)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    uint8_t der[200];
    size_t dn = sn;
    if (mech == OHSM_M_ECDSA) {
        ECDSA_SIG *s = ECDSA_SIG_new();
        ECDSA_SIG_set0(s, BN_bin2bn(sig, (int)sn / 2, NULL),
                       BN_bin2bn(sig + sn / 2, (int)sn / 2, NULL));
        uint8_t *q = der;
        dn = (size_t)i2d_ECDSA_SIG(s, &q);
        ECDSA_SIG_free(s);
        sig = der;
    }
    assert_int_equal(EVP_DigestVerifyInit(c, &pc, md, NULL, pk), 1);
    if (mech == OHSM_M_RSA_PSS) {
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
    }
    int ok = EVP_DigestVerify(c, sig, dn, msg, n);
    EVP_MD_CTX_free(c);
    return ok;
}

static const EVP_MD *md_for(uint32_t h)
{
    const EVP_MD *mds[] = {NULL,         EVP_sha1(),   EVP_sha224(),
                           EVP_sha256(), EVP_sha384(), EVP_sha512()};
    return mds[h];
}

/* RSA PKCS#1 v1.5 and PSS with every hash: our signatures verify under OpenSSL and ours, a
 * changed message or signature does not; prehashed input signs the same as hashing here. */
static void test_mech_rsa_sign(void **state)
{
    struct keys *ks = *state;
    struct ohsm_mech_key priv = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, ks->rsa);
    struct ohsm_mech_key pub = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_RSA, ks->rsa_pub);
    const uint8_t *msg = (const uint8_t *)"sign me, please";
    uint8_t sig[256];
    uint8_t sig2[256];
    uint8_t dg[64];
    size_t n = 0;
    size_t n2 = 0;
    size_t dn = 0;

    for (uint32_t mech = OHSM_M_RSA_PKCS; mech <= OHSM_M_RSA_PSS; mech++) {
        for (uint32_t h = OHSM_H_SHA1; h <= OHSM_H_SHA512; h++) {
            struct ohsm_mech_params m = {.mech = mech, .hash = h, .salt_len = UINT32_MAX};
            assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, sizeof(sig), &n), OHSM_OK);
            assert_int_equal(n, 256);
            assert_int_equal(ossl_verify(ks->rsa_pub, mech, md_for(h), msg, 15, sig, n), 1);
            assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 15, sig, n), OHSM_OK);
            assert_int_equal(ohsm_mech_verify(&priv, &m, msg, 15, sig, n), OHSM_OK);
            assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 14, sig, n), OHSM_SIGNATURE_INVALID);
            sig[100] ^= 4;
            assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 15, sig, n), OHSM_SIGNATURE_INVALID);
            assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 15, sig, n - 1),
                             OHSM_SIGNATURE_INVALID);
            sig[100] ^= 4;
            /* prehashed */
            assert_int_equal(ohsm_mech_digest(h, msg, 15, dg, sizeof(dg), &dn), OHSM_OK);
            m.prehashed = true;
            assert_int_equal(ohsm_mech_sign(&priv, &m, dg, dn, sig2, sizeof(sig2), &n2), OHSM_OK);
            if (mech == OHSM_M_RSA_PKCS) { /* deterministic */
                assert_memory_equal(sig, sig2, n);
            }
            assert_int_equal(ohsm_mech_verify(&pub, &m, dg, dn, sig, n), OHSM_OK);
            assert_int_equal(ohsm_mech_sign(&priv, &m, dg, dn - 1, sig2, sizeof(sig2), &n2),
                             OHSM_DATA_LEN_RANGE);
        }
    }
    /* an OpenSSL-made PSS signature verifies here */
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    n = sizeof(sig);
    assert_int_equal(EVP_DigestSignInit(c, &pc, EVP_sha384(), NULL, ks->rsa), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 20), 1);
    assert_int_equal(EVP_DigestSign(c, sig, &n, msg, 15), 1);
    EVP_MD_CTX_free(c);
    struct ohsm_mech_params m = {.mech = OHSM_M_RSA_PSS, .hash = OHSM_H_SHA384, .salt_len = 20};
    assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 15, sig, n), OHSM_OK);
    m.salt_len = 48;
    assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 15, sig, n), OHSM_SIGNATURE_INVALID);
    /* PSS salt 0 and a different MGF hash round-trip */
    m = (struct ohsm_mech_params){
        .mech = OHSM_M_RSA_PSS, .hash = OHSM_H_SHA256, .mgf_hash = OHSM_H_SHA512};
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, sizeof(sig), &n), OHSM_OK);
    assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 15, sig, n), OHSM_OK);
    m.mgf_hash = OHSM_H_SHA256;
    assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 15, sig, n), OHSM_SIGNATURE_INVALID);
    /* refusals: PSS without hash, too much salt, public key signs, buffer too small, EC key */
    m = (struct ohsm_mech_params){.mech = OHSM_M_RSA_PSS};
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, sizeof(sig), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.hash = OHSM_H_SHA512;
    m.salt_len = 256 - 64 - 1;
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, sizeof(sig), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.salt_len = 256 - 64 - 2;
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, sizeof(sig), &n), OHSM_OK);
    m.salt_len = 0;
    m.hash = 6;
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, sizeof(sig), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.hash = OHSM_H_SHA256;
    assert_int_equal(ohsm_mech_sign(&pub, &m, msg, 15, sig, sizeof(sig), &n),
                     OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, 255, &n), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 256);
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, NULL, 0, &n), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 256);
    struct ohsm_mech_key ec = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_EC, ks->ec[OHSM_CURVE_P256]);
    assert_int_equal(ohsm_mech_sign(&ec, &m, msg, 15, sig, sizeof(sig), &n),
                     OHSM_KEY_TYPE_INCONSISTENT);
    struct ohsm_mech_key lie = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_EC, ks->rsa);
    m.mech = OHSM_M_ECDSA;
    assert_int_equal(ohsm_mech_sign(&lie, &m, msg, 15, sig, sizeof(sig), &n),
                     OHSM_KEY_TYPE_INCONSISTENT);
    /* raw PKCS#1 v1.5 (no hash): the input is the DigestInfo, at most k - 11 bytes */
    m = (struct ohsm_mech_params){.mech = OHSM_M_RSA_PKCS};
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, sizeof(sig), &n), OHSM_OK);
    assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 15, sig, n), OHSM_OK);
    uint8_t big[246] = {0};
    assert_int_equal(ohsm_mech_sign(&priv, &m, big, 246, sig, sizeof(sig), &n),
                     OHSM_DATA_LEN_RANGE);
    m.mech = OHSM_M_AES_GCM;
    assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 15, sig, sizeof(sig), &n),
                     OHSM_MECHANISM_INVALID);
}

/* ECDSA on every curve and hash: r || s of twice the field size, verified by OpenSSL; OpenSSL's
 * signatures (converted to r || s) verify here; tampering and wrong lengths do not. */
static void test_mech_ecdsa(void **state)
{
    struct keys *ks = *state;
    static const size_t half[] = {0, 32, 48, 66, 32, 28};
    const uint8_t *msg = (const uint8_t *)"ecdsa message";
    uint8_t sig[160];
    uint8_t der[200];
    uint8_t dg[64];
    size_t n = 0;
    size_t dn = 0;

    for (uint32_t c = OHSM_CURVE_P256; c <= OHSM_CURVE_P224; c++) {
        struct ohsm_mech_key priv = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_EC, ks->ec[c]);
        EVP_PKEY *pubk = public_of(ks->ec[c], OHSM_KT_EC);
        struct ohsm_mech_key pub = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_EC, pubk);
        for (uint32_t h = OHSM_H_SHA1; h <= OHSM_H_SHA512; h++) {
            struct ohsm_mech_params m = {.mech = OHSM_M_ECDSA, .hash = h};
            assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 13, sig, sizeof(sig), &n), OHSM_OK);
            assert_int_equal(n, 2 * half[c]);
            assert_int_equal(ossl_verify(pubk, OHSM_M_ECDSA, md_for(h), msg, 13, sig, n), 1);
            assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 13, sig, n), OHSM_OK);
            sig[n - 1] ^= 1;
            assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 13, sig, n), OHSM_SIGNATURE_INVALID);
            sig[n - 1] ^= 1;
            assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 13, sig, n - 1),
                             OHSM_SIGNATURE_INVALID);
            assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 12, sig, n), OHSM_SIGNATURE_INVALID);
            assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 13, sig, n - 1, &dn),
                             OHSM_BUFFER_TOO_SMALL);
            assert_int_equal(dn, n);
            /* prehashed: same verification */
            assert_int_equal(ohsm_mech_digest(h, msg, 13, dg, sizeof(dg), &dn), OHSM_OK);
            m.prehashed = true;
            assert_int_equal(ohsm_mech_verify(&pub, &m, dg, dn, sig, n), OHSM_OK);
            /* hash NONE: the input is the digest */
            m.prehashed = false;
            m.hash = OHSM_H_NONE;
            assert_int_equal(ohsm_mech_verify(&pub, &m, dg, dn, sig, n), OHSM_OK);
        }
        /* an OpenSSL (DER) signature, as r || s, verifies here */
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        dn = sizeof(der);
        assert_int_equal(EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, ks->ec[c]), 1);
        assert_int_equal(EVP_DigestSign(mc, der, &dn, msg, 13), 1);
        EVP_MD_CTX_free(mc);
        const uint8_t *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dn);
        assert_non_null(es);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half[c]);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half[c], (int)half[c]);
        ECDSA_SIG_free(es);
        struct ohsm_mech_params m = {.mech = OHSM_M_ECDSA, .hash = OHSM_H_SHA256};
        assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 13, sig, 2 * half[c]), OHSM_OK);
        /* the same r and s, each with a leading zero byte, is not of the curve's size */
        uint8_t wide[2 * 67 + 2] = {0};
        memcpy(wide + 1, sig, half[c]);
        memcpy(wide + 2 + half[c], sig + half[c], half[c]);
        assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 13, wide, 2 * half[c] + 2),
                         OHSM_SIGNATURE_INVALID);
        /* all-zero r, s is no signature */
        memset(sig, 0, sizeof(sig));
        assert_int_equal(ohsm_mech_verify(&pub, &m, msg, 13, sig, 2 * half[c]),
                         OHSM_SIGNATURE_INVALID);
        assert_int_equal(ohsm_mech_sign(&pub, &m, msg, 13, sig, sizeof(sig), &n),
                         OHSM_KEY_TYPE_INCONSISTENT);
        ohsm_mech_pkey_free(pubk);
    }
    struct ohsm_mech_key priv = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_EC, ks->ec[OHSM_CURVE_P256]);
    struct ohsm_mech_params m = {.mech = OHSM_M_ECDSA};
    uint8_t big[65] = {0};
    assert_int_equal(ohsm_mech_sign(&priv, &m, big, 65, sig, sizeof(sig), &n), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_sign(&priv, &m, big, 0, sig, sizeof(sig), &n), OHSM_DATA_LEN_RANGE);
    m.mech = OHSM_M_RSA_OAEP;
    assert_int_equal(ohsm_mech_sign(&priv, &m, big, 32, sig, sizeof(sig), &n),
                     OHSM_MECHANISM_INVALID);
}

/* r or s with leading zero bytes (1 in 128 signatures) still makes a fixed-size r || s that
 * OpenSSL verifies, and verifies here. */
static void test_mech_ecdsa_short_integers(void **state)
{
    struct keys *ks = *state;
    struct ohsm_mech_key priv = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_EC, ks->ec[OHSM_CURVE_P256]);
    struct ohsm_mech_params m = {.mech = OHSM_M_ECDSA, .hash = OHSM_H_SHA256};
    uint8_t sig[64];
    size_t n = 0;
    int seen = 0;
    for (uint32_t i = 0; i < 20000 && seen < 3; i++) {
        uint8_t msg[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        assert_int_equal(ohsm_mech_sign(&priv, &m, msg, 4, sig, sizeof(sig), &n), OHSM_OK);
        assert_int_equal(n, 64);
        if (sig[0] == 0 || sig[32] == 0) {
            seen++;
            assert_int_equal(
                ossl_verify(ks->ec[OHSM_CURVE_P256], OHSM_M_ECDSA, EVP_sha256(), msg, 4, sig, n),
                1);
            assert_int_equal(ohsm_mech_verify(&priv, &m, msg, 4, sig, n), OHSM_OK);
        }
    }
    assert_int_equal(seen, 3);
}

/* ---- wrap / unwrap ---- */

/* Every wrapping mechanism round-trips secret and private key material; tampering, wrong keys,
 * wrong lengths are OHSM_WRAPPED_KEY_INVALID; sizes are checked. */
static void test_mech_wrap_roundtrip(void **state)
{
    struct keys *ks = *state;
    uint8_t kek[32] = {0};
    uint8_t kek2[32];
    uint8_t mat[40];
    uint8_t out[2048];
    uint8_t back[2048];
    size_t n = 0;
    size_t bn = 0;
    assert_int_equal(ohsm_mech_gen_secret(kek, sizeof(kek)), OHSM_OK);
    assert_int_equal(ohsm_mech_gen_secret(kek2, sizeof(kek2)), OHSM_OK);
    assert_int_equal(ohsm_mech_gen_secret(mat, sizeof(mat)), OHSM_OK);
    struct ohsm_mech_key k = aes(kek, 32);
    struct ohsm_mech_key wrong = aes(kek2, 32);
    static const uint32_t mechs[] = {OHSM_M_AES_KW, OHSM_M_AES_KWP, OHSM_M_AES_KW_PKCS5,
                                     OHSM_M_AES_KW_ZERO, OHSM_M_AES_GCM};
    static const size_t lens[] = {32, 21, 21, 21, 21};
    static const size_t outs[] = {40, 32, 32, 32, 12 + 21 + 16};

    for (size_t i = 0; i < 5; i++) {
        struct ohsm_mech_params m = {.mech = mechs[i]};
        assert_int_equal(ohsm_mech_wrap(&k, &m, mat, lens[i], out, sizeof(out), &n), OHSM_OK);
        assert_int_equal(n, outs[i]);
        assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
        if (mechs[i] == OHSM_M_AES_KW_ZERO) {
            assert_int_equal(bn, 24);
            assert_int_equal(ohsm_mech_zero_unpad(OHSM_CLASS_SECRET, 21, back, &bn), OHSM_OK);
        }
        assert_int_equal(bn, lens[i]);
        assert_memory_equal(back, mat, lens[i]);
        assert_int_equal(ohsm_mech_unwrap(&wrong, &m, out, n, back, sizeof(back), &bn),
                         OHSM_WRAPPED_KEY_INVALID);
        out[n / 2] ^= 1;
        assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn),
                         OHSM_WRAPPED_KEY_INVALID);
        out[n / 2] ^= 1;
        assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n - 8, back, sizeof(back), &bn),
                         OHSM_WRAPPED_KEY_INVALID);
        assert_int_equal(ohsm_mech_unwrap(&k, &m, out, 8, back, sizeof(back), &bn),
                         OHSM_WRAPPED_KEY_INVALID);
        assert_int_equal(ohsm_mech_wrap(&k, &m, mat, lens[i], out, outs[i] - 1, &n),
                         OHSM_BUFFER_TOO_SMALL);
        assert_int_equal(n, outs[i]);
        assert_int_equal(ohsm_mech_wrap(&k, &m, mat, lens[i], out, sizeof(out), &n), OHSM_OK);
        assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, 3, &bn), OHSM_BUFFER_TOO_SMALL);
        assert_true(bn >= lens[i]);
    }
    /* KW needs a multiple of 8 and two blocks; an IV is not a KW parameter; empty is refused */
    struct ohsm_mech_params m = {.mech = OHSM_M_AES_KW};
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 20, out, sizeof(out), &n), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 8, out, sizeof(out), &n), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 0, out, sizeof(out), &n), OHSM_DATA_LEN_RANGE);
    m.iv = kek;
    m.iv_len = 8;
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 16, out, sizeof(out), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    /* PKCS#5 of a multiple of 8 adds a whole block */
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_KW_PKCS5};
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 16, out, sizeof(out), &n), OHSM_OK);
    assert_int_equal(n, 32);
    /* KW-unwrapping a PKCS#5 blob whose padding is not PKCS#5 (plain KW of 24 bytes) */
    uint8_t bad[24];
    memset(bad, 9, sizeof(bad));
    m.mech = OHSM_M_AES_KW;
    assert_int_equal(ohsm_mech_wrap(&k, &m, bad, 24, out, sizeof(out), &n), OHSM_OK);
    m.mech = OHSM_M_AES_KW_PKCS5;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn),
                     OHSM_WRAPPED_KEY_INVALID);
    /* ... and one whose last byte is a plausible pad length but the bytes before it differ */
    bad[21] = 3;
    bad[22] = 2;
    bad[23] = 3;
    m.mech = OHSM_M_AES_KW;
    assert_int_equal(ohsm_mech_wrap(&k, &m, bad, 24, out, sizeof(out), &n), OHSM_OK);
    m.mech = OHSM_M_AES_KW_PKCS5;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn),
                     OHSM_WRAPPED_KEY_INVALID);
    bad[22] = 3;
    m.mech = OHSM_M_AES_KW;
    assert_int_equal(ohsm_mech_wrap(&k, &m, bad, 24, out, sizeof(out), &n), OHSM_OK);
    m.mech = OHSM_M_AES_KW_PKCS5;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(bn, 21);
    /* GCM: a given iv is refused; the generated one leads the blob; unwrap with a different iv,
     * aad or tag length fails */
    uint8_t iv[12] = {7, 7, 7};
    m = (struct ohsm_mech_params){
        .mech = OHSM_M_AES_GCM, .iv = iv, .iv_len = 12, .aad = mat, .aad_len = 5};
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 32, out, sizeof(out), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    m.iv_len = 0;
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 32, out, sizeof(out), &n), OHSM_OK);
    assert_int_equal(n, 12 + 32 + 16);
    memcpy(iv, out, 12);
    m.iv_len = 12;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
    m.iv_len = 0;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
    m.iv_len = 11;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn),
                     OHSM_MECHANISM_PARAM_INVALID);
    iv[0] = 8;
    m.iv_len = 12;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn),
                     OHSM_WRAPPED_KEY_INVALID);
    m.iv_len = 0;
    m.aad_len = 4;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn),
                     OHSM_WRAPPED_KEY_INVALID);
    m.aad_len = 5;
    m.tag_bits = 96;
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn),
                     OHSM_WRAPPED_KEY_INVALID);

    /* RSA-OAEP / PKCS#1 v1.5 wrap a 32-byte key; tampering fails (OAEP) */
    struct ohsm_mech_key pub = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_RSA, ks->rsa_pub);
    struct ohsm_mech_key priv = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, ks->rsa);
    for (uint32_t mech = OHSM_M_RSA_PKCS; mech <= OHSM_M_RSA_OAEP; mech += 2) {
        m = (struct ohsm_mech_params){.mech = mech, .hash = OHSM_H_SHA256};
        assert_int_equal(ohsm_mech_wrap(&pub, &m, mat, 32, out, sizeof(out), &n), OHSM_OK);
        assert_int_equal(n, 256);
        assert_int_equal(ohsm_mech_unwrap(&priv, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
        assert_int_equal(bn, 32);
        assert_memory_equal(back, mat, 32);
        assert_int_equal(ohsm_mech_unwrap(&priv, &m, out, 255, back, sizeof(back), &bn),
                         OHSM_WRAPPED_KEY_INVALID);
    }
    out[0] ^= 1;
    ohsm_rv rv = ohsm_mech_unwrap(&priv, &m, out, 256, back, sizeof(back), &bn);
    assert_true(rv == OHSM_WRAPPED_KEY_INVALID);
    /* the private key material does not fit RSA-OAEP; AES-KWP wraps it */
    uint8_t *der = NULL;
    size_t dl = 0;
    assert_int_equal(ohsm_mech_pkey_der(ks->rsa, true, &der, &dl), OHSM_OK);
    assert_int_equal(ohsm_mech_wrap(&pub, &m, der, dl, out, sizeof(out), &n), OHSM_DATA_LEN_RANGE);
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_KW_ZERO};
    assert_int_equal(ohsm_mech_wrap(&k, &m, der, dl, out, sizeof(out), &n), OHSM_OK);
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(ohsm_mech_zero_unpad(OHSM_CLASS_PRIVATE, 0, back, &bn), OHSM_OK);
    assert_int_equal(bn, dl);
    assert_memory_equal(back, der, dl);
    void *pk = NULL;
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, back, bn, &pk), OHSM_OK);
    ohsm_mech_pkey_free(pk);
    ohsm_mech_der_free(der, dl);
    /* zero_unpad refuses non-zero padding and too much of it */
    uint8_t z[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0, 0, 1};
    size_t zn = 16;
    assert_int_equal(ohsm_mech_zero_unpad(OHSM_CLASS_SECRET, 9, z, &zn), OHSM_WRAPPED_KEY_INVALID);
    assert_int_equal(ohsm_mech_zero_unpad(OHSM_CLASS_SECRET, 8, z, &zn), OHSM_WRAPPED_KEY_INVALID);
    assert_int_equal(ohsm_mech_zero_unpad(OHSM_CLASS_SECRET, 17, z, &zn), OHSM_WRAPPED_KEY_INVALID);
    assert_int_equal(ohsm_mech_zero_unpad(OHSM_CLASS_PRIVATE, 0, z, &zn), OHSM_WRAPPED_KEY_INVALID);
    assert_int_equal(zn, 16);
    /* wrong key types for the mechanism */
    m = (struct ohsm_mech_params){.mech = OHSM_M_AES_KW};
    assert_int_equal(ohsm_mech_wrap(&pub, &m, mat, 32, out, sizeof(out), &n),
                     OHSM_KEY_TYPE_INCONSISTENT);
    m.mech = OHSM_M_RSA_OAEP;
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 32, out, sizeof(out), &n),
                     OHSM_KEY_TYPE_INCONSISTENT);
    m.mech = OHSM_M_ECDSA;
    assert_int_equal(ohsm_mech_wrap(&k, &m, mat, 32, out, sizeof(out), &n), OHSM_MECHANISM_INVALID);
    assert_int_equal(ohsm_mech_unwrap(&k, &m, out, 32, back, sizeof(back), &bn),
                     OHSM_MECHANISM_INVALID);
}

/* ---- key material ---- */

static char *pem_of(EVP_PKEY *pk, int sel, const char *structure, const char *cipher)
{
    OSSL_ENCODER_CTX *e = OSSL_ENCODER_CTX_new_for_pkey(pk, sel, "PEM", structure, NULL);
    uint8_t *p = NULL;
    size_t n = 0;
    assert_non_null(e);
    assert_int_equal(OSSL_ENCODER_CTX_get_num_encoders(e) > 0, 1);
    if (cipher != NULL) {
        assert_int_equal(OSSL_ENCODER_CTX_set_cipher(e, cipher, NULL), 1);
        assert_int_equal(OSSL_ENCODER_CTX_set_passphrase(e, (const uint8_t *)"pw", 2), 1);
    }
    assert_int_equal(OSSL_ENCODER_to_data(e, &p, &n), 1);
    OSSL_ENCODER_CTX_free(e);
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    OPENSSL_free(p);
    return s;
}

/* PEM in every accepted form gives the key's material and class/type; encrypted PEM, other
 * objects and garbage are OHSM_DATA_INVALID. */
static void test_mech_pem(void **state)
{
    struct keys *ks = *state;
    struct {
        EVP_PKEY *pk;
        int sel;
        const char *structure;
        const char *begin;
        uint32_t cls;
        uint32_t ktype;
    } cases[] = {
        {ks->rsa, EVP_PKEY_KEYPAIR, "PrivateKeyInfo", "-----BEGIN PRIVATE KEY", OHSM_CLASS_PRIVATE,
         OHSM_KT_RSA},
        {ks->rsa, EVP_PKEY_KEYPAIR, "type-specific", "-----BEGIN RSA PRIVATE KEY",
         OHSM_CLASS_PRIVATE, OHSM_KT_RSA},
        {ks->rsa, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo", "-----BEGIN PUBLIC KEY",
         OHSM_CLASS_PUBLIC, OHSM_KT_RSA},
        {ks->rsa, EVP_PKEY_PUBLIC_KEY, "type-specific", "-----BEGIN RSA PUBLIC KEY",
         OHSM_CLASS_PUBLIC, OHSM_KT_RSA},
        {ks->ec[OHSM_CURVE_P384], EVP_PKEY_KEYPAIR, "type-specific", "-----BEGIN EC PRIVATE KEY",
         OHSM_CLASS_PRIVATE, OHSM_KT_EC},
        {ks->ec[OHSM_CURVE_SECP256K1], EVP_PKEY_KEYPAIR, "PrivateKeyInfo", "-----BEGIN PRIVATE KEY",
         OHSM_CLASS_PRIVATE, OHSM_KT_EC},
        {ks->ec[OHSM_CURVE_P521], EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo",
         "-----BEGIN PUBLIC KEY", OHSM_CLASS_PUBLIC, OHSM_KT_EC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *pem = pem_of(cases[i].pk, cases[i].sel, cases[i].structure, NULL);
        uint8_t *der = NULL;
        uint8_t *want = NULL;
        size_t n = 0;
        size_t wn = 0;
        uint32_t cls = 0;
        uint32_t kt = 99;
        assert_non_null(strstr(pem, cases[i].begin));
        assert_int_equal(ohsm_mech_pem_to_der(pem, strlen(pem), &cls, &kt, &der, &n), OHSM_OK);
        assert_int_equal(cls, cases[i].cls);
        assert_int_equal(kt, cases[i].ktype);
        bool priv = cls == OHSM_CLASS_PRIVATE;
        assert_int_equal(ohsm_mech_pkey_der(cases[i].pk, priv, &want, &wn), OHSM_OK);
        assert_int_equal(n, wn);
        assert_memory_equal(der, want, n);
        void *pk = NULL;
        assert_int_equal(ohsm_mech_pkey_load(cls, kt, der, n, &pk), OHSM_OK);
        assert_int_equal(EVP_PKEY_eq(pk, cases[i].pk), 1);
        ohsm_mech_pkey_free(pk);
        ohsm_mech_der_free(der, n);
        ohsm_mech_der_free(want, wn);
        /* truncated PEM */
        assert_int_equal(ohsm_mech_pem_to_der(pem, strlen(pem) / 2, &cls, &kt, &der, &n),
                         OHSM_DATA_INVALID);
        free(pem);
    }
    char *enc = pem_of(ks->rsa, EVP_PKEY_KEYPAIR, "EncryptedPrivateKeyInfo", "AES-256-CBC");
    uint8_t *der = NULL;
    size_t n = 0;
    uint32_t cls = 0;
    uint32_t kt = 0;
    assert_non_null(strstr(enc, "ENCRYPTED PRIVATE KEY"));
    assert_int_equal(ohsm_mech_pem_to_der(enc, strlen(enc), &cls, &kt, &der, &n),
                     OHSM_DATA_INVALID);
    free(enc);
    enc = pem_of(ks->rsa, EVP_PKEY_KEYPAIR, "type-specific", "AES-256-CBC");
    assert_non_null(strstr(enc, "Proc-Type: 4,ENCRYPTED"));
    assert_int_equal(ohsm_mech_pem_to_der(enc, strlen(enc), &cls, &kt, &der, &n),
                     OHSM_DATA_INVALID);
    free(enc);
    static const char *bad[] = {"", "not a pem",
                                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
                                "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ohsm_mech_pem_to_der(bad[i], strlen(bad[i]), &cls, &kt, &der, &n),
                         OHSM_DATA_INVALID);
    }
    /* Ed25519 parses but is not a type we hold */
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    char *edp = pem_of(ed, EVP_PKEY_KEYPAIR, "PrivateKeyInfo", NULL);
    assert_int_equal(ohsm_mech_pem_to_der(edp, strlen(edp), &cls, &kt, &der, &n),
                     OHSM_DATA_INVALID);
    free(edp);
    EVP_PKEY_free(ed);
}

/* Loading checks class, type, size, trailing bytes; fill_public records SPKI, sizes, curve. */
static void test_mech_pkey_load(void **state)
{
    struct keys *ks = *state;
    uint8_t *der = NULL;
    size_t n = 0;
    void *pk = NULL;
    uint8_t buf[4096];

    assert_int_equal(ohsm_mech_pkey_der(ks->rsa, true, &der, &n), OHSM_OK);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_EC, der, n, &pk),
                     OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PUBLIC, OHSM_KT_RSA, der, n, &pk),
                     OHSM_DATA_INVALID);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_SECRET, OHSM_KT_RSA, der, n, &pk),
                     OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_AES, der, n, &pk),
                     OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, der, n - 1, &pk),
                     OHSM_DATA_INVALID);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, der, 0, &pk),
                     OHSM_DATA_INVALID);
    memcpy(buf, der, n);
    buf[n] = 0;
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, buf, n + 1, &pk),
                     OHSM_DATA_INVALID);
    assert_null(pk);
    ohsm_mech_der_free(der, n);
    /* a public key has no private part */
    assert_int_equal(ohsm_mech_pkey_der(ks->rsa_pub, true, &der, &n), OHSM_KEY_TYPE_INCONSISTENT);

    /* RSA-1024 and a P-192 key are outside what we support */
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    assert_int_equal(ohsm_mech_pkey_der(small, true, &der, &n), OHSM_OK);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, der, n, &pk),
                     OHSM_KEY_SIZE_RANGE);
    ohsm_mech_der_free(der, n);
    EVP_PKEY_free(small);
    EVP_PKEY *p192 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-192");
    assert_int_equal(ohsm_mech_pkey_der(p192, false, &der, &n), OHSM_OK);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PUBLIC, OHSM_KT_EC, der, n, &pk),
                     OHSM_KEY_SIZE_RANGE);
    ohsm_mech_der_free(der, n);
    struct ohsm_obj o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(ohsm_mech_fill_public(&o, p192), OHSM_KEY_SIZE_RANGE);
    EVP_PKEY_free(p192);

    memset(&o, 0, sizeof(o));
    assert_int_equal(ohsm_mech_fill_public(&o, ks->rsa), OHSM_OK);
    assert_int_equal(o.modulus_bits, 2048);
    assert_int_equal(o.value_len, 256);
    assert_int_equal(ohsm_mech_pkey_der(ks->rsa, false, &der, &n), OHSM_OK);
    assert_int_equal(o.spki_len, n);
    assert_memory_equal(o.spki, der, n);
    ohsm_mech_der_free(der, n);
    for (uint32_t c = OHSM_CURVE_P256; c <= OHSM_CURVE_P224; c++) {
        memset(&o, 0, sizeof(o));
        assert_int_equal(ohsm_mech_fill_public(&o, ks->ec[c]), OHSM_OK);
        assert_int_equal(o.curve, c);
        assert_int_equal(o.value_len, 0);
        EVP_PKEY *pub = public_of(ks->ec[c], OHSM_KT_EC);
        assert_int_equal(EVP_PKEY_eq(pub, ks->ec[c]), 1);
        ohsm_mech_pkey_free(pub);
    }
}

/* ---- context caches (one-call latency) ---- */

/* A cached GCM context gives what a fresh one gives: the KAT decrypts through it, each direction
 * after the other, a tag that does not verify is refused and the next message still works; what
 * the cached key encrypts decrypts with an uncached one and back. IVs stay fresh across many
 * messages (the per-thread pool is refilled). */
static void test_mech_cache_gcm(void **state)
{
    (void)state;
    uint8_t key[16], iv[12], pt[64], ct[128], aad[20], out[128], back[128];
    uint8_t ivs[100][16];
    size_t n = 0;
    struct ohsm_mech_cache *c = NULL;
    assert_int_equal(ohsm_mech_cache_new(&c), OHSM_OK);
    unhex("feffe9928665731c6d6a8f9467308308", key, sizeof(key));
    unhex("cafebabefacedbaddecaf888", iv, sizeof(iv));
    size_t pn = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c9595"
                      "6809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                      pt, sizeof(pt));
    unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof(aad));
    size_t cn = unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b2"
                      "5466931c7d8f6a5aac84aa051ba30b396a0aac973d58e0915bc94fbc3221a5db94fae95ae7"
                      "121a47",
                      ct, sizeof(ct));
    struct ohsm_mech_key kc = aes(key, 16);
    struct ohsm_mech_key ku = aes(key, 16);
    kc.cache = c;
    struct ohsm_mech_params d = {
        .mech = OHSM_M_AES_GCM, .iv = iv, .iv_len = 12, .aad = aad, .aad_len = sizeof(aad)};
    struct ohsm_mech_params e = {.mech = OHSM_M_AES_GCM, .aad = aad, .aad_len = sizeof(aad)};

    for (int round = 0; round < 3; round++) {
        memset(back, 0, sizeof(back));
        assert_int_equal(ohsm_mech_decrypt(&kc, &d, ct, cn, back, sizeof(back), &n), OHSM_OK);
        assert_int_equal(n, pn);
        assert_memory_equal(back, pt, pn);
        /* encrypt through the cache, decrypt without it */
        size_t ivn = 0, on = 0;
        assert_int_equal(
            ohsm_mech_encrypt(&kc, &e, pt, pn, out, sizeof(out), &on, ivs[0], sizeof(ivs[0]), &ivn),
            OHSM_OK);
        struct ohsm_mech_params d2 = d;
        d2.iv = ivs[0];
        assert_int_equal(ohsm_mech_decrypt(&ku, &d2, out, on, back, sizeof(back), &n), OHSM_OK);
        assert_memory_equal(back, pt, pn);
        /* a broken tag through the cache is refused; the next good one passes */
        ct[cn - 1] ^= 1;
        assert_int_equal(ohsm_mech_decrypt(&kc, &d, ct, cn, back, sizeof(back), &n),
                         OHSM_ENCRYPTED_DATA_INVALID);
        ct[cn - 1] ^= 1;
    }
    /* wrapping with the cached key unwraps without it */
    struct ohsm_mech_params w = {.mech = OHSM_M_AES_GCM};
    uint8_t mat[32] = {7, 7, 7};
    assert_int_equal(ohsm_mech_wrap(&kc, &w, mat, sizeof(mat), out, sizeof(out), &n), OHSM_OK);
    size_t un = 0;
    assert_int_equal(ohsm_mech_unwrap(&ku, &w, out, n, back, sizeof(back), &un), OHSM_OK);
    assert_int_equal(un, sizeof(mat));
    assert_memory_equal(back, mat, sizeof(mat));
    /* 100 IVs (several pool refills), all different */
    for (size_t i = 0; i < 100; i++) {
        size_t ivn = 0, on = 0;
        assert_int_equal(
            ohsm_mech_encrypt(&kc, &e, pt, 16, out, sizeof(out), &on, ivs[i], sizeof(ivs[i]), &ivn),
            OHSM_OK);
        assert_int_equal(ivn, 12);
        for (size_t j = 0; j < i; j++) {
            assert_memory_not_equal(ivs[i], ivs[j], 12);
        }
    }
    ohsm_mech_cache_free(c);
    ohsm_mech_cache_free(NULL);
}

/* Cached signing contexts are set up per mechanism and parameters: RSA PKCS#1 v1.5 and PSS with
 * salt 0 are deterministic, so cached and fresh signatures must be equal byte for byte, whatever
 * order the mechanisms and hashes come in; verification through a cache accepts them and refuses
 * a changed one, and then still accepts the good one. ECDSA through the cache verifies without. */
static void test_mech_cache_sign(void **state)
{
    struct keys *ks = *state;
    struct ohsm_mech_cache *cp = NULL, *cv = NULL, *ce = NULL;
    assert_int_equal(ohsm_mech_cache_new(&cp), OHSM_OK);
    assert_int_equal(ohsm_mech_cache_new(&cv), OHSM_OK);
    assert_int_equal(ohsm_mech_cache_new(&ce), OHSM_OK);
    struct ohsm_mech_key priv = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, ks->rsa);
    struct ohsm_mech_key privc = priv, pub = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_RSA, ks->rsa_pub);
    privc.cache = cp;
    pub.cache = cv;
    uint8_t msg[48] = {1, 2, 3}, a[512], b[512];
    size_t an = 0, bn = 0;
    const struct ohsm_mech_params ms[] = {
        {.mech = OHSM_M_RSA_PKCS, .hash = OHSM_H_SHA256},
        {.mech = OHSM_M_RSA_PSS, .hash = OHSM_H_SHA256, .salt_len = 0},
        {.mech = OHSM_M_RSA_PKCS, .hash = OHSM_H_SHA384},
        {.mech = OHSM_M_RSA_PSS, .hash = OHSM_H_SHA384, .mgf_hash = OHSM_H_SHA1, .salt_len = 0},
        {.mech = OHSM_M_RSA_PKCS, .hash = OHSM_H_SHA256, .prehashed = true},
    };
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
            size_t len = ms[i].prehashed ? 32 : sizeof(msg);
            assert_int_equal(ohsm_mech_sign(&privc, &ms[i], msg, len, a, sizeof(a), &an), OHSM_OK);
            assert_int_equal(ohsm_mech_sign(&priv, &ms[i], msg, len, b, sizeof(b), &bn), OHSM_OK);
            assert_int_equal(an, bn);
            assert_memory_equal(a, b, an);
            assert_int_equal(ohsm_mech_verify(&pub, &ms[i], msg, len, a, an), OHSM_OK);
            a[10] ^= 1;
            assert_int_equal(ohsm_mech_verify(&pub, &ms[i], msg, len, a, an),
                             OHSM_SIGNATURE_INVALID);
            a[10] ^= 1;
            assert_int_equal(ohsm_mech_verify(&pub, &ms[i], msg, len, a, an), OHSM_OK);
        }
    }
    struct ohsm_mech_key ec = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_EC, ks->ec[OHSM_CURVE_P256]);
    struct ohsm_mech_key ecu = ec;
    ec.cache = ce;
    struct ohsm_mech_params em = {.mech = OHSM_M_ECDSA, .hash = OHSM_H_SHA256};
    for (int i = 0; i < 5; i++) {
        msg[0] = (uint8_t)i;
        em.prehashed = i % 2 == 0;
        size_t len = em.prehashed ? 32 : sizeof(msg);
        assert_int_equal(ohsm_mech_sign(&ec, &em, msg, len, a, sizeof(a), &an), OHSM_OK);
        assert_int_equal(an, 64);
        assert_int_equal(ohsm_mech_verify(&ecu, &em, msg, len, a, an), OHSM_OK);
    }
    /* a public key's cache refuses to sign, as without one */
    struct ohsm_mech_key pubec = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_EC, ks->ec[OHSM_CURVE_P256]);
    pubec.cache = ce;
    assert_int_equal(ohsm_mech_sign(&pubec, &em, msg, 32, a, sizeof(a), &an),
                     OHSM_KEY_TYPE_INCONSISTENT);
    ohsm_mech_cache_free(cp);
    ohsm_mech_cache_free(cv);
    ohsm_mech_cache_free(ce);
}

struct cache_thread {
    const struct ohsm_mech_key *k;
    const struct ohsm_mech_key *pub;
    int ok;
};

static void *cache_worker(void *arg)
{
    struct cache_thread *t = arg;
    struct ohsm_mech_params m = {.mech = OHSM_M_ECDSA, .hash = OHSM_H_SHA256, .prehashed = true};
    uint8_t d[32], sig[64];
    size_t n = 0;
    for (int i = 0; i < 60; i++) {
        memset(d, i, sizeof(d));
        if (ohsm_mech_sign(t->k, &m, d, sizeof(d), sig, sizeof(sig), &n) == OHSM_OK &&
            ohsm_mech_verify(t->pub, &m, d, sizeof(d), sig, n) == OHSM_OK) {
            t->ok++;
        }
    }
    return NULL;
}

/* More threads than cache slots sign with one key's cache at once (verifying through another
 * shared cache): every signature is good (a context is never used by two threads at a time;
 * threads that find every slot busy use their own). */
static void test_mech_cache_threads(void **state)
{
    struct keys *ks = *state;
    struct ohsm_mech_cache *cs = NULL, *cv = NULL;
    assert_int_equal(ohsm_mech_cache_new(&cs), OHSM_OK);
    assert_int_equal(ohsm_mech_cache_new(&cv), OHSM_OK);
    struct ohsm_mech_key k = pkey_key(OHSM_CLASS_PRIVATE, OHSM_KT_EC, ks->ec[OHSM_CURVE_P256]);
    struct ohsm_mech_key pub = pkey_key(OHSM_CLASS_PUBLIC, OHSM_KT_EC, ks->ec[OHSM_CURVE_P256]);
    k.cache = cs;
    pub.cache = cv;
    pthread_t tid[12];
    struct cache_thread t[12];
    for (size_t i = 0; i < 12; i++) {
        t[i] = (struct cache_thread){.k = &k, .pub = &pub, .ok = 0};
        assert_int_equal(pthread_create(&tid[i], NULL, cache_worker, &t[i]), 0);
    }
    for (size_t i = 0; i < 12; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        assert_int_equal(t[i].ok, 60);
    }
    ohsm_mech_cache_free(cs);
    ohsm_mech_cache_free(cv);
}

/* A forked child never hands out IVs its parent's pool already held: after the parent drew one
 * IV (filling its pool), the child's next IV differs from the parent's next. */
static void test_mech_iv_pool_fork(void **state)
{
    (void)state;
    uint8_t key[16] = {9}, pt[16] = {0}, out[64], mine[16], theirs[16];
    size_t n = 0, ivn = 0;
    struct ohsm_mech_key k = aes(key, 16);
    struct ohsm_mech_params m = {.mech = OHSM_M_AES_GCM};
    int fds[2];

    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, out, sizeof(out), &n, mine, 16, &ivn),
                     OHSM_OK);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t iv[16] = {0};
        int rc = ohsm_mech_encrypt(&k, &m, pt, 16, out, sizeof(out), &n, iv, 16, &ivn) == OHSM_OK
                     ? 0
                     : 1;
        rc |= write(fds[1], iv, 12) == 12 ? 0 : 1;
        _exit(rc);
    }
    close(fds[1]);
    int status = 0;
    assert_int_equal(read(fds[0], theirs, 12), 12);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fds[0]);
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, 16, out, sizeof(out), &n, mine, 16, &ivn),
                     OHSM_OK);
    assert_memory_not_equal(mine, theirs, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mech_hash_names),
        cmocka_unit_test(test_mech_check_size),
        cmocka_unit_test(test_mech_gen_refusals),
        cmocka_unit_test(test_mech_gen_rsa_exponent),
        cmocka_unit_test(test_mech_digest_kat),
        cmocka_unit_test(test_mech_hmac_kat),
        cmocka_unit_test(test_mech_gcm_kat),
        cmocka_unit_test(test_mech_gcm_iv_generated),
        cmocka_unit_test(test_mech_aes_modes_kat),
        cmocka_unit_test(test_mech_kw_kat),
        cmocka_unit_test(test_mech_aes_roundtrip),
        cmocka_unit_test(test_mech_aes_errors),
        cmocka_unit_test(test_mech_rsa_encrypt),
        cmocka_unit_test(test_mech_rsa_sign),
        cmocka_unit_test(test_mech_ecdsa),
        cmocka_unit_test(test_mech_ecdsa_short_integers),
        cmocka_unit_test(test_mech_wrap_roundtrip),
        cmocka_unit_test(test_mech_pem),
        cmocka_unit_test(test_mech_pkey_load),
        cmocka_unit_test(test_mech_cache_gcm),
        cmocka_unit_test(test_mech_cache_sign),
        cmocka_unit_test(test_mech_cache_threads),
        cmocka_unit_test(test_mech_iv_pool_fork),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
