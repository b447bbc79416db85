/* SPDX-License-Identifier: Apache-2.0
 * The fake (reference) PEM encoder shared by getCaviumPrivKey and key generate-file
 * --encoding reference-pem (src/core/fakepem.c): OpenSSL reads it back with the key's public part
 * and the handle as the private part; SPKI that does not parse, has trailing bytes or is of
 * another key type is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/fakepem.h"
#include "openhsm/mech.h"

static EVP_PKEY *read_back(const uint8_t *spki, size_t spki_len, uint64_t handle, const char *head)
{
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(ohsm_fake_pem(spki, spki_len, handle, &pem, &len), OHSM_OK);
    assert_int_equal(strlen(pem), len);
    assert_non_null(strstr(pem, head));
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    free(pem);
    assert_non_null(k);
    return k;
}

static void check_pub(EVP_PKEY *fake, const uint8_t *spki, size_t spki_len)
{
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(fake, &der);
    assert_true(n > 0);
    assert_int_equal((size_t)n, spki_len);
    assert_memory_equal(der, spki, spki_len);
    OPENSSL_free(der);
}

static void test_rsa(void **state)
{
    (void)state;
    void *pk = NULL;
    uint8_t *spki = NULL;
    size_t len = 0;
    BIGNUM *d = NULL;
    assert_int_equal(ohsm_mech_gen_rsa(2048, 65537, &pk), OHSM_OK);
    assert_int_equal(ohsm_mech_pkey_der(pk, false, &spki, &len), OHSM_OK);
    EVP_PKEY *fake = read_back(spki, len, 0x1c08f1, "-----BEGIN RSA PRIVATE KEY-----\n");
    check_pub(fake, spki, len);
    assert_int_equal(EVP_PKEY_get_bn_param(fake, OSSL_PKEY_PARAM_RSA_D, &d), 1);
    assert_int_equal(BN_get_word(d), 0x1c08f1);
    BN_free(d);
    EVP_PKEY_free(fake);
    ohsm_mech_der_free(spki, len);
    ohsm_mech_pkey_free(pk);
}

static void test_ec(void **state)
{
    (void)state;
    void *pk = NULL;
    uint8_t *spki = NULL;
    size_t len = 0;
    BIGNUM *d = NULL;
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P384, &pk), OHSM_OK);
    assert_int_equal(ohsm_mech_pkey_der(pk, false, &spki, &len), OHSM_OK);
    EVP_PKEY *fake = read_back(spki, len, 262433, "-----BEGIN EC PRIVATE KEY-----\n");
    check_pub(fake, spki, len);
    assert_int_equal(EVP_PKEY_get_bn_param(fake, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
    assert_int_equal(BN_get_word(d), 262433);
    BN_free(d);
    EVP_PKEY_free(fake);
    ohsm_mech_der_free(spki, len);
    ohsm_mech_pkey_free(pk);
}

static void test_refusals(void **state)
{
    (void)state;
    void *pk = NULL;
    uint8_t *spki = NULL;
    size_t len = 0;
    char *pem = (char *)"x";
    size_t n = 1;
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P256, &pk), OHSM_OK);
    assert_int_equal(ohsm_mech_pkey_der(pk, false, &spki, &len), OHSM_OK);
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, spki, len);
    longer[len] = 0;
    assert_int_equal(ohsm_fake_pem(longer, len + 1, 1, &pem, &n), OHSM_DATA_INVALID);
    assert_null(pem);
    assert_int_equal(n, 0);
    assert_int_equal(ohsm_fake_pem(spki, len - 1, 1, &pem, &n), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_fake_pem(spki, 0, 1, &pem, &n), OHSM_DATA_INVALID);
    free(longer);
    /* An X25519 key: neither RSA nor EC. */
    EVP_PKEY *x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    assert_non_null(x);
    uint8_t *der = NULL;
    int dn = i2d_PUBKEY(x, &der);
    assert_true(dn > 0);
    assert_int_equal(ohsm_fake_pem(der, (size_t)dn, 1, &pem, &n), OHSM_KEY_TYPE_INCONSISTENT);
    assert_null(pem);
    OPENSSL_free(der);
    EVP_PKEY_free(x);
    ohsm_mech_der_free(spki, len);
    ohsm_mech_pkey_free(pk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa),
        cmocka_unit_test(test_ec),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
