/* SPDX-License-Identifier: Apache-2.0
 * Triple DES mechanisms (3DES-ECB/CBC/CBC-PAD), DES key parity and the 3DES check value: the
 * NIST SP 800-67 Rev. 1 example (three-key TDEA, ECB), CBC and CBC-PAD cross-checked with plain
 * OpenSSL EVP, and every error path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "openhsm/mech.h"

/* SP 800-67 Rev. 1 (Appendix B): Key1 || Key2 || Key3, plaintext "The qufck brown fox jump". */
static const uint8_t key[24] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01,
                                0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23};
static const uint8_t pt[24] = "The qufck brown fox jump";
static const uint8_t ecb_ct[24] = {0xa8, 0x26, 0xfd, 0x8c, 0xe5, 0x3b, 0x85, 0x5f,
                                   0xcc, 0xe2, 0x1c, 0x81, 0x12, 0x25, 0x6f, 0xe6,
                                   0x68, 0xd5, 0xc0, 0x5d, 0xd9, 0xb6, 0xb9, 0x00};
static const uint8_t iv8[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static struct ohsm_mech_key des3(const uint8_t *raw, size_t len)
{
    struct ohsm_mech_key k = {
        .cls = OHSM_CLASS_SECRET, .ktype = OHSM_KT_DES3, .raw = raw, .raw_len = len};
    return k;
}

/* Plain OpenSSL: the reference the HSM's results are checked against. */
static size_t evp(const EVP_CIPHER *c, int pad, int enc, const uint8_t *iv, const uint8_t *in,
                  size_t n, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int a = 0, b = 0;
    assert_non_null(ctx);
    assert_int_equal(EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc), 1);
    assert_int_equal(EVP_CIPHER_CTX_set_padding(ctx, pad), 1);
    assert_int_equal(EVP_CipherUpdate(ctx, out, &a, in, (int)n), 1);
    assert_int_equal(EVP_CipherFinal_ex(ctx, out + a, &b), 1);
    EVP_CIPHER_CTX_free(ctx);
    return (size_t)(a + b);
}

static void test_des3_ecb_kat(void **state)
{
    (void)state;
    struct ohsm_mech_key k = des3(key, sizeof(key));
    struct ohsm_mech_params m = {.mech = OHSM_M_DES3_ECB};
    uint8_t out[64], back[64];
    size_t n = 0, ivn = 99, bn = 0;
    assert_int_equal(ohsm_mech_encrypt(&k, &m, pt, sizeof(pt), out, sizeof(out), &n, NULL, 0, &ivn),
                     OHSM_OK);
    assert_int_equal(n, sizeof(ecb_ct));
    assert_memory_equal(out, ecb_ct, sizeof(ecb_ct));
    assert_int_equal(ivn, 0);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, out, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(bn, sizeof(pt));
    assert_memory_equal(back, pt, sizeof(pt));
}

static void test_des3_cbc_against_openssl(void **state)
{
    (void)state;
    struct ohsm_mech_key k = des3(key, sizeof(key));
    uint8_t out[64], ref[64], back[64], iv[16];
    size_t n = 0, rn, bn = 0, ivn = 0;
    static const uint8_t msg[] = "Triple DES with PKCS#7 padding, 45 bytes long";

    /* CBC, the caller's IV. */
    struct ohsm_mech_params m = {.mech = OHSM_M_DES3_CBC, .iv = iv8, .iv_len = 8};
    assert_int_equal(
        ohsm_mech_encrypt(&k, &m, pt, sizeof(pt), out, sizeof(out), &n, iv, sizeof(iv), &ivn),
        OHSM_OK);
    rn = evp(EVP_des_ede3_cbc(), 0, 1, iv8, pt, sizeof(pt), ref);
    assert_int_equal(n, rn);
    assert_memory_equal(out, ref, rn);
    assert_int_equal(ivn, 0);
    assert_int_equal(ohsm_mech_decrypt(&k, &m, out, n, back, sizeof(pt), &bn), OHSM_OK);
    assert_memory_equal(back, pt, sizeof(pt));

    /* CBC-PAD, a generated IV; the HSM decrypts into a buffer of exactly the plaintext size. */
    struct ohsm_mech_params p = {.mech = OHSM_M_DES3_CBC_PAD};
    assert_int_equal(
        ohsm_mech_encrypt(&k, &p, msg, sizeof(msg) - 1, out, sizeof(out), &n, iv, sizeof(iv), &ivn),
        OHSM_OK);
    assert_int_equal(ivn, 8);
    assert_int_equal(n, 48);
    rn = evp(EVP_des_ede3_cbc(), 1, 0, iv, out, n, ref);
    assert_int_equal(rn, sizeof(msg) - 1);
    assert_memory_equal(ref, msg, rn);
    p.iv = iv;
    p.iv_len = 8;
    assert_int_equal(ohsm_mech_decrypt(&k, &p, out, n, back, sizeof(msg) - 1, &bn), OHSM_OK);
    assert_int_equal(bn, sizeof(msg) - 1);
    assert_memory_equal(back, msg, bn);
    /* Too small: the size needed (an upper bound) and nothing else. */
    assert_int_equal(ohsm_mech_decrypt(&k, &p, out, n, back, 10, &bn), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(bn, n - 1);
    assert_int_equal(ohsm_mech_decrypt(&k, &p, out, n, NULL, 0, &bn), OHSM_BUFFER_TOO_SMALL);
    /* An empty message pads to one whole block. */
    assert_int_equal(ohsm_mech_encrypt(&k, &p, NULL, 0, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_OK);
    assert_int_equal(n, 8);
    assert_int_equal(ohsm_mech_decrypt(&k, &p, out, n, back, sizeof(back), &bn), OHSM_OK);
    assert_int_equal(bn, 0);
    /* Two generated IVs differ. */
    uint8_t iv2[8];
    p.iv = NULL;
    p.iv_len = 0;
    assert_int_equal(ohsm_mech_encrypt(&k, &p, pt, 8, out, sizeof(out), &n, iv, sizeof(iv), &ivn),
                     OHSM_OK);
    assert_int_equal(ohsm_mech_encrypt(&k, &p, pt, 8, out, sizeof(out), &n, iv2, sizeof(iv2), &ivn),
                     OHSM_OK);
    assert_memory_not_equal(iv, iv2, 8);
}

static void test_des3_errors(void **state)
{
    (void)state;
    struct ohsm_mech_key k = des3(key, sizeof(key));
    struct ohsm_mech_key short_k = des3(key, 16);
    struct ohsm_mech_key aes = {
        .cls = OHSM_CLASS_SECRET, .ktype = OHSM_KT_AES, .raw = key, .raw_len = 24};
    struct ohsm_mech_params ecb = {.mech = OHSM_M_DES3_ECB};
    struct ohsm_mech_params cbc = {.mech = OHSM_M_DES3_CBC, .iv = iv8, .iv_len = 8};
    struct ohsm_mech_params pad = {.mech = OHSM_M_DES3_CBC_PAD, .iv = iv8, .iv_len = 8};
    struct ohsm_mech_params aes_ecb = {.mech = OHSM_M_AES_ECB};
    uint8_t iv16[16] = {0};
    struct ohsm_mech_params cbc16 = {.mech = OHSM_M_DES3_CBC, .iv = iv16, .iv_len = 16};
    struct ohsm_mech_params ecb_iv = {.mech = OHSM_M_DES3_ECB, .iv = iv8, .iv_len = 8};
    uint8_t out[64], back[64];
    size_t n = 0;

    /* Key type and size. */
    assert_int_equal(ohsm_mech_encrypt(&aes, &ecb, pt, 8, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(ohsm_mech_encrypt(&k, &aes_ecb, pt, 16, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(ohsm_mech_encrypt(&short_k, &ecb, pt, 8, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_KEY_SIZE_RANGE);
    /* IVs: 8 bytes for CBC, none for ECB. */
    assert_int_equal(ohsm_mech_encrypt(&k, &cbc16, pt, 8, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_MECHANISM_PARAM_INVALID);
    assert_int_equal(ohsm_mech_encrypt(&k, &ecb_iv, pt, 8, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_MECHANISM_PARAM_INVALID);
    assert_int_equal(ohsm_mech_decrypt(&k, &cbc16, out, 8, back, sizeof(back), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    /* Lengths: whole blocks without padding; ciphertexts always whole blocks. */
    assert_int_equal(ohsm_mech_encrypt(&k, &ecb, pt, 7, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_encrypt(&k, &cbc, pt, 0, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_decrypt(&k, &pad, out, 12, back, sizeof(back), &n),
                     OHSM_ENCRYPTED_DATA_LEN_RANGE);
    assert_int_equal(ohsm_mech_decrypt(&k, &ecb, out, 0, back, sizeof(back), &n),
                     OHSM_ENCRYPTED_DATA_LEN_RANGE);
    /* Bad padding: a block that decrypts to anything but PKCS#7. */
    struct ohsm_mech_params cbc_pad_plain = pad;
    uint8_t block[8];
    size_t bn = 0;
    memcpy(block, "ABCDEFGH", 8); /* ends in 'H': no valid padding */
    assert_int_equal(ohsm_mech_encrypt(&k, &cbc, block, 8, out, sizeof(out), &n, NULL, 0, NULL),
                     OHSM_OK);
    assert_int_equal(ohsm_mech_decrypt(&k, &cbc_pad_plain, out, n, back, sizeof(back), &bn),
                     OHSM_ENCRYPTED_DATA_INVALID);
    /* Too small for encryption: the size needed. */
    assert_int_equal(ohsm_mech_encrypt(&k, &pad, pt, 8, out, 8, &n, NULL, 0, NULL),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 16);
}

static void test_des3_parity_kcv_size(void **state)
{
    (void)state;
    uint8_t b[6] = {0x00, 0xff, 0x02, 0x03, 0xfe, 0x80};
    ohsm_mech_des_parity(b, sizeof(b));
    static const uint8_t want[6] = {0x01, 0xfe, 0x02, 0x02, 0xfe, 0x80};
    assert_memory_equal(b, want, sizeof(b));
    for (int v = 0; v < 256; v++) {
        uint8_t x = (uint8_t)v;
        ohsm_mech_des_parity(&x, 1);
        assert_int_equal(__builtin_popcount(x) % 2, 1);
        assert_int_equal(x & 0xfe, v & 0xfe);
    }
    /* The SP 800-67 key already has odd parity: unchanged. */
    uint8_t k2[24];
    memcpy(k2, key, sizeof(k2));
    ohsm_mech_des_parity(k2, sizeof(k2));
    assert_memory_equal(k2, key, sizeof(key));

    /* KCV: the first 3 bytes of 3DES-ECB(key, 0^8). */
    uint8_t kcv[3], ref[16];
    static const uint8_t zero[8];
    assert_int_equal(ohsm_mech_kcv(OHSM_KT_DES3, key, sizeof(key), kcv), OHSM_OK);
    assert_int_equal(evp(EVP_des_ede3_ecb(), 0, 1, NULL, zero, 8, ref), 8);
    assert_memory_equal(kcv, ref, 3);
    static const uint8_t kat[3] = {0x4e, 0xba, 0x73}; /* openssl enc -des-ede3 of 0^8 */
    assert_memory_equal(kcv, kat, 3);
    assert_int_equal(ohsm_mech_kcv(OHSM_KT_DES3, key, 16, kcv), OHSM_KEY_SIZE_RANGE);

    /* Sizes: 3DES 24 bytes only; generic secrets up to 3583. */
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_DES3, 24, 0), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_DES3, 16, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_DES3, 8, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_DES3, 25, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_GENERIC_SECRET, 3583, 0), OHSM_OK);
    assert_int_equal(ohsm_mech_check_size(OHSM_KT_GENERIC_SECRET, 3584, 0), OHSM_KEY_SIZE_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_des3_ecb_kat),
        cmocka_unit_test(test_des3_cbc_against_openssl),
        cmocka_unit_test(test_des3_errors),
        cmocka_unit_test(test_des3_parity_kcv_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
