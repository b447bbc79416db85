/* SPDX-License-Identifier: Apache-2.0
 * rsa-aes wrapping (src/core/mech_wrap.c): the blob checked with plain OpenSSL (OAEP-decrypt the
 * first modulus-length bytes, RFC 5649-unwrap the rest), a blob made with plain OpenSSL unwrapped
 * by the mechanism, and every refusal: tampered blob, wrong key class, bad parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "openhsm/mech.h"

static EVP_PKEY *rsa;

static int setup(void **state)
{
    (void)state;
    void *p = NULL;
    if (ohsm_mech_gen_rsa(2048, 65537, &p) != OHSM_OK) {
        return -1;
    }
    rsa = p;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ohsm_mech_pkey_free(rsa);
    return 0;
}

static struct ohsm_mech_key key_of(uint32_t cls)
{
    struct ohsm_mech_key k = {.cls = cls, .ktype = OHSM_KT_RSA, .pkey = rsa};
    return k;
}

static struct ohsm_mech_params params(uint32_t hash)
{
    struct ohsm_mech_params m = {.mech = OHSM_M_RSA_AES_KW, .hash = hash, .mgf_hash = hash};
    return m;
}

/* Plain OpenSSL: OAEP with md, then AES-KWP. Returns the unwrapped length, 0 on failure. */
static size_t openssl_unwrap(const uint8_t *blob, size_t len, const EVP_MD *md, uint8_t *out)
{
    uint8_t aes[256]; /* OpenSSL wants room for a whole modulus */
    size_t alen = sizeof(aes);
    int n1 = 0;
    int n2 = 0;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(rsa, NULL);
    assert_non_null(pc);
    assert_int_equal(EVP_PKEY_decrypt_init(pc), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(pc, md), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md), 1);
    int ok = EVP_PKEY_decrypt(pc, aes, &alen, blob, 256);
    EVP_PKEY_CTX_free(pc);
    if (ok != 1 || alen != 32) {
        return 0;
    }
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    assert_non_null(c);
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, aes, NULL) == 1 &&
         EVP_DecryptUpdate(c, out, &n1, blob + 256, (int)(len - 256)) == 1 &&
         EVP_DecryptFinal_ex(c, out + n1, &n2) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? (size_t)(n1 + n2) : 0;
}

static void test_rsa_aes_wrap_is_pkcs11_format(void **state)
{
    (void)state;
    uint8_t material[45];
    uint8_t blob[512];
    uint8_t back[128];
    size_t n = 0;
    assert_int_equal(RAND_bytes(material, sizeof(material)), 1);
    struct ohsm_mech_key k = key_of(OHSM_CLASS_PUBLIC);
    struct ohsm_mech_params m = params(OHSM_H_SHA256);
    assert_int_equal(ohsm_mech_wrap(&k, &m, material, sizeof(material), blob, sizeof(blob), &n),
                     OHSM_OK);
    assert_int_equal(n, 256 + 48 + 8); /* modulus || RFC 5649: 45 padded to 48, plus 8 */
    assert_int_equal(openssl_unwrap(blob, n, EVP_sha256(), back), sizeof(material));
    assert_memory_equal(back, material, sizeof(material));
    /* The same blob back through the mechanism with the private key. */
    struct ohsm_mech_key kp = key_of(OHSM_CLASS_PRIVATE);
    size_t n2 = 0;
    assert_int_equal(ohsm_mech_unwrap(&kp, &m, blob, n, back, sizeof(back), &n2), OHSM_OK);
    assert_int_equal(n2, sizeof(material));
    assert_memory_equal(back, material, sizeof(material));
    /* Asking the size first. */
    size_t need = 0;
    assert_int_equal(ohsm_mech_wrap(&k, &m, material, sizeof(material), NULL, 0, &need),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(need, n);
}

static void test_rsa_aes_unwrap_openssl_blob(void **state)
{
    (void)state;
    uint8_t aes[32];
    uint8_t material[32];
    uint8_t blob[512];
    uint8_t back[64];
    size_t n1 = sizeof(blob);
    int n2 = 0;
    int n3 = 0;
    assert_int_equal(RAND_bytes(aes, sizeof(aes)), 1);
    assert_int_equal(RAND_bytes(material, sizeof(material)), 1);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(rsa, NULL);
    assert_int_equal(EVP_PKEY_encrypt_init(pc), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha1()), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha1()), 1);
    assert_int_equal(EVP_PKEY_encrypt(pc, blob, &n1, aes, sizeof(aes)), 1);
    EVP_PKEY_CTX_free(pc);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, aes, NULL), 1);
    assert_int_equal(EVP_EncryptUpdate(c, blob + n1, &n2, material, sizeof(material)), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, blob + n1 + n2, &n3), 1);
    EVP_CIPHER_CTX_free(c);
    size_t len = n1 + (size_t)n2 + (size_t)n3;

    struct ohsm_mech_key kp = key_of(OHSM_CLASS_PRIVATE);
    struct ohsm_mech_params m = params(OHSM_H_SHA1);
    size_t out = 0;
    assert_int_equal(ohsm_mech_unwrap(&kp, &m, blob, len, back, sizeof(back), &out), OHSM_OK);
    assert_int_equal(out, sizeof(material));
    assert_memory_equal(back, material, sizeof(material));
    /* Another hash than the wrapper's: refused. */
    struct ohsm_mech_params m256 = params(OHSM_H_SHA256);
    assert_int_equal(ohsm_mech_unwrap(&kp, &m256, blob, len, back, sizeof(back), &out),
                     OHSM_WRAPPED_KEY_INVALID);
    /* A flipped bit in the RSA part and in the AES part: refused. */
    blob[10] ^= 1;
    assert_int_equal(ohsm_mech_unwrap(&kp, &m, blob, len, back, sizeof(back), &out),
                     OHSM_WRAPPED_KEY_INVALID);
    blob[10] ^= 1;
    blob[len - 1] ^= 0x80;
    assert_int_equal(ohsm_mech_unwrap(&kp, &m, blob, len, back, sizeof(back), &out),
                     OHSM_WRAPPED_KEY_INVALID);
    blob[len - 1] ^= 0x80;
    /* Truncated: only the RSA part, or not a whole block after it. */
    assert_int_equal(ohsm_mech_unwrap(&kp, &m, blob, 256, back, sizeof(back), &out),
                     OHSM_WRAPPED_KEY_INVALID);
    assert_int_equal(ohsm_mech_unwrap(&kp, &m, blob, len - 3, back, sizeof(back), &out),
                     OHSM_WRAPPED_KEY_INVALID);
}

static void test_rsa_aes_refusals(void **state)
{
    (void)state;
    uint8_t material[32] = {1};
    uint8_t blob[512];
    size_t n = 0;
    struct ohsm_mech_key pub = key_of(OHSM_CLASS_PUBLIC);
    struct ohsm_mech_params m = params(OHSM_H_SHA256);
    assert_int_equal(ohsm_mech_wrap(&pub, &m, material, sizeof(material), blob, sizeof(blob), &n),
                     OHSM_OK);
    /* Unwrapping needs the private key. */
    assert_int_equal(ohsm_mech_unwrap(&pub, &m, blob, n, blob, sizeof(blob), &n),
                     OHSM_KEY_TYPE_INCONSISTENT);
    /* An AES key is not an RSA key. */
    struct ohsm_mech_key aes = {
        .cls = OHSM_CLASS_SECRET, .ktype = OHSM_KT_AES, .raw = material, .raw_len = 32};
    assert_int_equal(ohsm_mech_wrap(&aes, &m, material, sizeof(material), blob, sizeof(blob), &n),
                     OHSM_KEY_TYPE_INCONSISTENT);
    /* No IV or AAD; a hash that does not exist. */
    struct ohsm_mech_params bad = m;
    bad.iv = material;
    bad.iv_len = 12;
    assert_int_equal(ohsm_mech_wrap(&pub, &bad, material, sizeof(material), blob, sizeof(blob), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    bad = m;
    bad.hash = 99;
    assert_int_equal(ohsm_mech_wrap(&pub, &bad, material, sizeof(material), blob, sizeof(blob), &n),
                     OHSM_MECHANISM_PARAM_INVALID);
    /* Too small an output buffer is asked again, never written past. */
    assert_int_equal(ohsm_mech_wrap(&pub, &m, material, sizeof(material), blob, 100, &n),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 256 + 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_aes_wrap_is_pkcs11_format),
        cmocka_unit_test(test_rsa_aes_unwrap_openssl_blob),
        cmocka_unit_test(test_rsa_aes_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
