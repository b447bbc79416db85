/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for issue 11's RSA/EC key facts (src/core/obj_rules.c): the check value (first 3
 * bytes of SHA-1 over the DER SubjectPublicKeyInfo) against the values the CloudHSM CLI guide
 * prints for its own keys, and key-length-bytes (ohsm_obj_set_key_len) as the guides show it:
 * RSA-2048 public 512, private the PKCS#8 length; EC public the point (secp224r1: 57), private
 * the PKCS#8 length (secp224r1: 122, prime256v1: 138). Errors change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "openhsm/obj.h"

/* The guide's tls_rsa_pub (cloudhsm_cli key generate-asymmetric-pair rsa, SSL offload page):
 * check-value 0x01fe6e, exponent 0x010001. */
static const char guide_rsa_n[] =
    "b1d27e857a876f4e9fd5de748a763c539b359f937eb4b4260e30d1435485a732c878cdad9c72538e2215351b1d"
    "41358c9bf80b599c73a80fdb457aa7b20cd61e486c326e2cfd5e124a7f6a996437437812b542e3caf85928aa86"
    "6f0298580f7967ee6aa01440297d7308fdd9b76b70d1b67f12634df6e6296d6c116d5744c6d60d14d3bf3cb978"
    "fe6b75ac67b7089bafd50d8687213b31abc7dc1bad422780d29c851d5102b56f932551eaf52a9591fd8c43d81e"
    "cc133022653225bd129f8491101725e9ea33e1ded83fb57af35f847e532eb30cd7e726f23910d2671c6364092e"
    "834697ec3cef72cc23615a1ba7c5e100156ae0acac3160f0ca9725d38318b7";
/* The guide's ec-public-key-example (key generate-asymmetric-pair ec, secp224r1):
 * check-value 0xd7c1a7, key-length-bytes 57 (public) and 122 (private). */
static const char guide_ec_point[] =
    "047096513df542250a6b228fd9cb67fd0c903abc93488467681974d6f371083fce1d79da8ad1e9ede745fb9f38"
    "ac8622a1b3ebe9270556000c";

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned x = 0;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &x), 1);
        out[i] = (uint8_t)x;
    }
    return n;
}

/* An object of class cls around the public key k. */
static void obj_of(struct ohsm_obj *o, uint32_t cls, uint32_t kt, EVP_PKEY *k, uint32_t curve)
{
    ohsm_obj_defaults(o, cls, kt, true);
    uint8_t *p = o->spki;
    int n = i2d_PUBKEY(k, &p);
    assert_true(n > 0 && n <= OHSM_SPKI_MAX);
    o->spki_len = (uint32_t)n;
    o->curve = curve;
    if (kt == OHSM_KT_RSA) {
        o->modulus_bits = (uint32_t)EVP_PKEY_get_bits(k);
        o->value_len = (o->modulus_bits + 7) / 8; /* what records made before issue 11 hold */
    }
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
    assert_int_equal(EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(c);
    return k;
}

static EVP_PKEY *guide_rsa(void)
{
    uint8_t nb[256];
    assert_int_equal(unhex(guide_rsa_n, nb, sizeof(nb)), 256);
    BIGNUM *n = BN_bin2bn(nb, 256, NULL), *e = BN_new();
    assert_true(n != NULL && e != NULL && BN_set_word(e, 65537));
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    assert_true(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n));
    assert_true(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e));
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY *k = from_params("RSA", p);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    BN_free(n);
    BN_free(e);
    return k;
}

static EVP_PKEY *guide_ec(void)
{
    uint8_t pt[57];
    assert_int_equal(unhex(guide_ec_point, pt, sizeof(pt)), 57);
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"secp224r1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)),
        OSSL_PARAM_construct_end(),
    };
    return from_params("EC", p);
}

static void kcv_is(const struct ohsm_obj *o, const char *want)
{
    uint8_t v[8], w[3];
    size_t n = 0;
    (void)unhex(want, w, sizeof(w));
    assert_int_equal(ohsm_obj_attr_get(o, OHSM_A_KCV, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, w, 3);
}

/* Both halves of the guide's keys have the guide's check values. */
static void test_obj_keylen_guide_kcv(void **state)
{
    (void)state;
    struct ohsm_obj o;
    EVP_PKEY *rsa = guide_rsa(), *ec = guide_ec();
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, rsa, OHSM_CURVE_NONE);
    kcv_is(&o, "01fe6e");
    obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, rsa, OHSM_CURVE_NONE);
    kcv_is(&o, "01fe6e");
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec, OHSM_CURVE_P224);
    kcv_is(&o, "d7c1a7");
    obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, ec, OHSM_CURVE_P224);
    kcv_is(&o, "d7c1a7");
    /* A stored check value (secret keys) wins; a key without SPKI has none. */
    o.has_kcv = true;
    memcpy(o.kcv, "\x01\x02\x03", 3);
    kcv_is(&o, "010203");
    o.has_kcv = false;
    o.spki_len = 0;
    uint8_t v[8];
    size_t n = 0;
    assert_int_equal(ohsm_obj_attr_get(&o, OHSM_A_KCV, v, sizeof(v), &n),
                     OHSM_ATTRIBUTE_TYPE_INVALID);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

static uint32_t value_len(const struct ohsm_obj *o)
{
    uint8_t v[4];
    size_t n = 0;
    assert_int_equal(ohsm_obj_attr_get(o, OHSM_A_VALUE_LEN, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 4);
    return (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
}

/* key-length-bytes: the guide's numbers for its own keys. */
static void test_obj_keylen_guide_sizes(void **state)
{
    (void)state;
    struct ohsm_obj o;
    EVP_PKEY *rsa = guide_rsa(), *ec = guide_ec();
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, rsa, OHSM_CURVE_NONE);
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_OK);
    assert_int_equal(value_len(&o), 512);
    obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, rsa, OHSM_CURVE_NONE);
    assert_int_equal(ohsm_obj_set_key_len(&o, 1217), OHSM_OK);
    assert_int_equal(value_len(&o), 1217);
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec, OHSM_CURVE_P224);
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_OK);
    assert_int_equal(value_len(&o), 57);
    obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, ec, OHSM_CURVE_P224);
    assert_int_equal(ohsm_obj_set_key_len(&o, 122), OHSM_OK);
    assert_int_equal(value_len(&o), 122);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

/* A real private key's PKCS#8 length is what the HSM passes: P-256 gives 138 (the KMU guide's
 * genECCKeyPair example: OBJ_ATTR_VALUE_LEN 0x0000008a), P-521's point needs a 3-byte header. */
static void test_obj_keylen_pkcs8(void **state)
{
    (void)state;
    struct ohsm_obj o;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
    int len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
    assert_int_equal(len, 138);
    obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, k, OHSM_CURVE_P256);
    assert_int_equal(ohsm_obj_set_key_len(&o, (size_t)len), OHSM_OK);
    assert_int_equal(value_len(&o), 138);
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_EC, k, OHSM_CURVE_P256);
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_OK);
    assert_int_equal(value_len(&o), 65);
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(k);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    assert_non_null(k);
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_EC, k, OHSM_CURVE_P521);
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_OK);
    assert_int_equal(value_len(&o), 133);
    EVP_PKEY_free(k);
}

/* Records made before issue 11 (RSA: modulus length, EC: 0) show what a new key would, where the
 * record tells it: EC keys and RSA public keys; an old RSA private key keeps its number. */
static void test_obj_keylen_old_records(void **state)
{
    (void)state;
    struct ohsm_obj o;
    EVP_PKEY *rsa = guide_rsa(), *ec = guide_ec();
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec, OHSM_CURVE_P224);
    assert_int_equal(o.value_len, 0);
    assert_int_equal(value_len(&o), 57);
    obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, ec, OHSM_CURVE_P224);
    assert_int_equal(value_len(&o), 122);
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, rsa, OHSM_CURVE_NONE);
    assert_int_equal(o.value_len, 256);
    assert_int_equal(value_len(&o), 512);
    obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, rsa, OHSM_CURVE_NONE);
    assert_int_equal(value_len(&o), 256);
    /* every curve's PKCS#8 length is OpenSSL's */
    static const struct {
        const char *name;
        uint32_t curve;
    } curves[] = {{"P-224", OHSM_CURVE_P224},
                  {"P-256", OHSM_CURVE_P256},
                  {"secp256k1", OHSM_CURVE_SECP256K1},
                  {"P-384", OHSM_CURVE_P384},
                  {"P-521", OHSM_CURVE_P521}};
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i].name);
        assert_non_null(k);
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
        assert_non_null(p8);
        obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, k, curves[i].curve);
        assert_int_equal(value_len(&o), i2d_PKCS8_PRIV_KEY_INFO(p8, NULL));
        PKCS8_PRIV_KEY_INFO_free(p8);
        EVP_PKEY_free(k);
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

/* Errors: not an RSA/EC key, a private key without its length, a damaged EC record; o keeps its
 * value_len. */
static void test_obj_keylen_errors(void **state)
{
    (void)state;
    struct ohsm_obj o;
    EVP_PKEY *ec = guide_ec();
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    o.value_len = 32;
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(o.value_len, 32);
    assert_int_equal(ohsm_obj_set_key_len(NULL, 0), OHSM_ARGUMENTS_BAD);
    obj_of(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, ec, OHSM_CURVE_P224);
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_ARGUMENTS_BAD);
    assert_int_equal(o.value_len, 0);
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec, OHSM_CURVE_P224);
    o.spki[0] ^= 0xff;
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_DEVICE_ERROR);
    assert_int_equal(o.value_len, 0);
    obj_of(&o, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, ec, OHSM_CURVE_NONE);
    o.modulus_bits = 0;
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_KEY_SIZE_RANGE);
    EVP_PKEY_free(ec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_obj_keylen_guide_kcv), cmocka_unit_test(test_obj_keylen_guide_sizes),
        cmocka_unit_test(test_obj_keylen_pkcs8),     cmocka_unit_test(test_obj_keylen_old_records),
        cmocka_unit_test(test_obj_keylen_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
