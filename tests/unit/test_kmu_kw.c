/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-kmu's RFC 3394 key wrap over a block function (src/kmu/kw.c), with
 * OpenSSL's AES as the block function: the RFC's known answers (§4.1, §4.6), agreement with
 * OpenSSL's own AES key wrap for every length, a wrong key, IV or one flipped bit refused with
 * the output wiped, bad lengths refused before the block function runs, and a failing block
 * function's error passed on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "kmu/kw.h"

static const uint8_t IV[8] = {0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6};

struct aes {
    const uint8_t *key;
    size_t len;
    int calls;
};

static ohsm_rv aes_block(void *ctx, bool enc, const uint8_t in[16], uint8_t out[16])
{
    struct aes *a = ctx;
    const EVP_CIPHER *c = a->len == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb();
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0;
    a->calls++;
    if (x == NULL || EVP_CipherInit_ex(x, c, NULL, a->key, NULL, enc ? 1 : 0) != 1 ||
        EVP_CIPHER_CTX_set_padding(x, 0) != 1 || EVP_CipherUpdate(x, out, &n, in, 16) != 1 ||
        n != 16) {
        EVP_CIPHER_CTX_free(x);
        return OHSM_DEVICE_ERROR;
    }
    EVP_CIPHER_CTX_free(x);
    return OHSM_OK;
}

static ohsm_rv failing_block(void *ctx, bool enc, const uint8_t in[16], uint8_t out[16])
{
    (void)ctx;
    (void)enc;
    (void)in;
    (void)out;
    return OHSM_NOT_CONNECTED;
}

static void hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char ch = s[2 * i + (size_t)j];
            v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : ch - 'A' + 10);
        }
        out[i] = (uint8_t)v;
    }
}

/* RFC 3394 §4.1: 128-bit data with a 128-bit KEK; §4.6: 256-bit data with a 256-bit KEK. */
static void test_kmu_kw_rfc3394_known_answers(void **state)
{
    (void)state;
    struct {
        const char *kek, *data, *wrapped;
        size_t kek_len, len;
    } v[] = {
        {"000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
         "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5", 16, 16},
        {"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
         "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
         "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21", 32,
         32},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint8_t kek[32], data[32], want[40], got[40], back[32];
        hex(v[i].kek, kek, v[i].kek_len);
        hex(v[i].data, data, v[i].len);
        hex(v[i].wrapped, want, v[i].len + 8);
        struct aes a = {kek, v[i].kek_len, 0};
        assert_int_equal(ohsm_kmu_kw_wrap(aes_block, &a, IV, data, v[i].len, got), OHSM_OK);
        assert_memory_equal(got, want, v[i].len + 8);
        assert_int_equal(a.calls, (int)(6 * v[i].len / 8));
        assert_int_equal(ohsm_kmu_kw_unwrap(aes_block, &a, IV, want, v[i].len + 8, back), OHSM_OK);
        assert_memory_equal(back, data, v[i].len);
    }
}

/* Every length from 16 to 256 bytes (multiples of 8) agrees with OpenSSL's AES-256-WRAP. */
static void test_kmu_kw_agrees_with_openssl(void **state)
{
    (void)state;
    uint8_t kek[32], data[256], ours[264], theirs[264 + 16];
    for (size_t i = 0; i < sizeof(kek); i++) {
        kek[i] = (uint8_t)(i * 7 + 1);
    }
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 13 + 5);
    }
    for (size_t len = 16; len <= sizeof(data); len += 8) {
        struct aes a = {kek, 32, 0};
        EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
        int n = 0, f = 0;
        assert_non_null(x);
        EVP_CIPHER_CTX_set_flags(x, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        assert_int_equal(EVP_EncryptInit_ex(x, EVP_aes_256_wrap(), NULL, kek, NULL), 1);
        assert_int_equal(EVP_EncryptUpdate(x, theirs, &n, data, (int)len), 1);
        assert_int_equal(EVP_EncryptFinal_ex(x, theirs + n, &f), 1);
        EVP_CIPHER_CTX_free(x);
        assert_int_equal((size_t)(n + f), len + 8);
        assert_int_equal(ohsm_kmu_kw_wrap(aes_block, &a, IV, data, len, ours), OHSM_OK);
        assert_memory_equal(ours, theirs, len + 8);
    }
}

/* A wrong key, a wrong IV or one flipped bit: refused, and the output holds nothing. */
static void test_kmu_kw_unwrap_detects_tampering(void **state)
{
    (void)state;
    uint8_t kek[16] = {1}, other[16] = {2}, data[24], wrapped[32], out[24];
    uint8_t iv2[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    memset(data, 0x5a, sizeof(data));
    struct aes a = {kek, 16, 0}, b = {other, 16, 0};
    assert_int_equal(ohsm_kmu_kw_wrap(aes_block, &a, IV, data, sizeof(data), wrapped), OHSM_OK);
    assert_int_equal(ohsm_kmu_kw_unwrap(aes_block, &b, IV, wrapped, sizeof(wrapped), out),
                     OHSM_WRAPPED_KEY_INVALID);
    for (size_t i = 0; i < sizeof(out); i++) {
        assert_int_equal(out[i], 0);
    }
    assert_int_equal(ohsm_kmu_kw_unwrap(aes_block, &a, iv2, wrapped, sizeof(wrapped), out),
                     OHSM_WRAPPED_KEY_INVALID);
    wrapped[20] ^= 0x10;
    assert_int_equal(ohsm_kmu_kw_unwrap(aes_block, &a, IV, wrapped, sizeof(wrapped), out),
                     OHSM_WRAPPED_KEY_INVALID);
    /* An alternative IV round-trips. */
    wrapped[20] ^= 0x10;
    assert_int_equal(ohsm_kmu_kw_wrap(aes_block, &a, iv2, data, sizeof(data), wrapped), OHSM_OK);
    assert_int_equal(ohsm_kmu_kw_unwrap(aes_block, &a, iv2, wrapped, sizeof(wrapped), out),
                     OHSM_OK);
    assert_memory_equal(out, data, sizeof(data));
}

/* Lengths the RFC does not allow are refused before any block is computed. */
static void test_kmu_kw_bad_lengths(void **state)
{
    (void)state;
    uint8_t in[64] = {0}, out[72];
    struct aes a = {in, 16, 0};
    const size_t wrap_bad[] = {0, 8, 15, 17, 23};
    const size_t unwrap_bad[] = {0, 8, 16, 23, 25};
    for (size_t i = 0; i < sizeof(wrap_bad) / sizeof(wrap_bad[0]); i++) {
        assert_int_equal(ohsm_kmu_kw_wrap(aes_block, &a, IV, in, wrap_bad[i], out),
                         OHSM_DATA_LEN_RANGE);
    }
    for (size_t i = 0; i < sizeof(unwrap_bad) / sizeof(unwrap_bad[0]); i++) {
        assert_int_equal(ohsm_kmu_kw_unwrap(aes_block, &a, IV, in, unwrap_bad[i], out),
                         OHSM_DATA_LEN_RANGE);
    }
    assert_int_equal(a.calls, 0);
    assert_int_equal(ohsm_kmu_kw_wrap(NULL, &a, IV, in, 16, out), OHSM_ARGUMENTS_BAD);
}

/* The block function's error is the result (the HSM could not be reached). */
static void test_kmu_kw_block_error_passes_on(void **state)
{
    (void)state;
    uint8_t in[24] = {0}, out[32];
    assert_int_equal(ohsm_kmu_kw_wrap(failing_block, NULL, IV, in, 16, out), OHSM_NOT_CONNECTED);
    assert_int_equal(ohsm_kmu_kw_unwrap(failing_block, NULL, IV, in, 24, out), OHSM_NOT_CONNECTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmu_kw_rfc3394_known_answers),
        cmocka_unit_test(test_kmu_kw_agrees_with_openssl),
        cmocka_unit_test(test_kmu_kw_unwrap_detects_tampering),
        cmocka_unit_test(test_kmu_kw_bad_lengths),
        cmocka_unit_test(test_kmu_kw_block_error_passes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
