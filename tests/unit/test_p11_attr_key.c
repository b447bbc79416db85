/* SPDX-License-Identifier: Apache-2.0
 * C_CreateObject key material (src/pkcs11/attr_key.c through p11_make_parse): secret values with
 * their check value, RSA components and EC scalars / points (P-384, P-521 long-form lengths) that
 * load as the same key in the HSM's import formats, and every refusal of inconsistent material. */
#include "p11_attr_fixture.h"

/* ---- C_CreateObject ---- */

static void test_p11_attr_create_secret(void **state)
{
    (void)state;
    uint8_t key[32];
    uint8_t kcv[3];
    for (size_t i = 0; i < sizeof(key); i++) {
        key[i] = (uint8_t)(i * 7 + 1);
    }
    assert_int_equal(ohsm_mech_kcv(OHSM_KT_AES, key, sizeof(key), kcv), OHSM_OK);
    CK_ATTRIBUTE t[] = {ULONG(CKA_CLASS, c_sec),     ULONG(CKA_KEY_TYPE, k_aes),
                        BYTES(CKA_VALUE, key, 32),   BOOL(CKA_SENSITIVE, false),
                        ULONG(CKA_VALUE_LEN, len32), BYTES(CKA_CHECK_VALUE, kcv, 3)};
    struct p11_make_out out;

    assert_int_equal(p11_make_parse(P11_MAKE_CREATE, t, N(t), UNAV, UNAV, &out), CKR_OK);
    assert_int_equal(out.material_len, 32);
    assert_memory_equal(out.material, key, 32);
    struct ohsm_obj o = hsm_secret(&out, OHSM_KT_AES, false, out.material, out.material_len);
    /* The value stays sensitive though the key is not: the HSM never gives it. */
    CK_ULONG len = 0;
    assert_false(get_bool(&o, CKA_SENSITIVE));
    assert_true(get_bool(&o, CKA_EXTRACTABLE));
    assert_int_equal(get_code(&o, CKA_VALUE, &len), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(len, UNAV);
    assert_false(get_bool(&o, CKA_LOCAL));
    assert_int_equal(get_ulong(&o, CKA_KEY_GEN_MECHANISM), UNAV);
    get_bytes(&o, CKA_CHECK_VALUE, kcv, 3);
    p11_make_clear(&out);
    assert_null(out.material);

    /* A short check value is the KCV's first bytes. */
    t[5].ulValueLen = 2;
    assert_int_equal(make(P11_MAKE_CREATE, t, N(t), UNAV, UNAV), CKR_OK);
    kcv[0] ^= 1;
    assert_int_equal(make(P11_MAKE_CREATE, t, N(t), UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    t[5].ulValueLen = 4;
    assert_int_equal(make(P11_MAKE_CREATE, t, N(t), UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    /* The length given must be the value's. */
    t[4].pValue = &len16;
    assert_int_equal(make(P11_MAKE_CREATE, t, 5, UNAV, UNAV), CKR_TEMPLATE_INCONSISTENT);
    /* What C_CreateObject needs. */
    assert_int_equal(make(P11_MAKE_CREATE, t, 2, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(make(P11_MAKE_CREATE, &t[1], 2, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE no_type[] = {t[0], t[2]};
    assert_int_equal(make(P11_MAKE_CREATE, no_type, 2, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE empty[] = {t[0], t[1], BYTES(CKA_VALUE, NULL, 0)};
    assert_int_equal(make(P11_MAKE_CREATE, empty, 3, UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE data[] = {ULONG(CKA_CLASS, c_data), t[1], t[2]};
    assert_int_equal(make(P11_MAKE_CREATE, data, 3, UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE mixed[] = {t[0], ULONG(CKA_KEY_TYPE, k_rsa), t[2]};
    assert_int_equal(make(P11_MAKE_CREATE, mixed, 3, UNAV, UNAV), CKR_TEMPLATE_INCONSISTENT);
}

/* RSA components -> PKCS#8 / SPKI that load as the same key; inconsistent ones are refused. */
static void test_p11_attr_create_rsa(void **state)
{
    (void)state;
    static const char *names[] = {OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
                                  OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
                                  OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
                                  OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    static const CK_ATTRIBUTE_TYPE types[] = {
        CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
        CKA_PRIME_2, CKA_EXPONENT_1,      CKA_EXPONENT_2,       CKA_COEFFICIENT};
    uint8_t comp[8][512], got[512];
    CK_ATTRIBUTE t[10];
    void *pkey = NULL, *loaded = NULL;
    struct p11_make_out out;

    assert_int_equal(ohsm_mech_gen_rsa(2048, 0, &pkey), OHSM_OK);
    t[0] = (CK_ATTRIBUTE)ULONG(CKA_CLASS, c_priv);
    t[1] = (CK_ATTRIBUTE)ULONG(CKA_KEY_TYPE, k_rsa);
    for (size_t i = 0; i < 8; i++) {
        size_t n = bn_bytes(pkey, names[i], comp[i], sizeof(comp[i]));
        t[2 + i] = (CK_ATTRIBUTE){types[i], comp[i], n};
    }
    assert_int_equal(p11_make_parse(P11_MAKE_CREATE, t, 10, UNAV, UNAV, &out), CKR_OK);
    assert_int_equal(out.public_exponent, 65537);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, out.material,
                                         out.material_len, &loaded),
                     OHSM_OK);
    for (size_t i = 0; i < 8; i++) {
        size_t n = bn_bytes(loaded, names[i], got, sizeof(got));
        assert_int_equal(n, t[2 + i].ulValueLen);
        assert_memory_equal(got, comp[i], n);
    }
    ohsm_mech_pkey_free(loaded);
    struct ohsm_obj priv = hsm_import(&out);
    get_bytes(&priv, CKA_MODULUS, comp[0], t[2].ulValueLen);
    get_bytes(&priv, CKA_PUBLIC_EXPONENT, comp[1], t[3].ulValueLen);
    assert_false(get_bool(&priv, CKA_LOCAL));
    assert_false(get_bool(&priv, CKA_ALWAYS_SENSITIVE)); /* imported: never guaranteed */
    assert_int_equal(get_ulong(&priv, CKA_KEY_GEN_MECHANISM), UNAV);
    CK_ULONG len = 0;
    assert_int_equal(get_code(&priv, CKA_PRIME_1, &len), CKR_ATTRIBUTE_SENSITIVE);
    p11_make_clear(&out);

    /* The public half from modulus and exponent; modulus bits must agree if given. */
    CK_ATTRIBUTE pt[] = {ULONG(CKA_CLASS, c_pub), t[1], t[2], t[3],
                         ULONG(CKA_MODULUS_BITS, bits2048)};
    assert_int_equal(p11_make_parse(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV, &out), CKR_OK);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PUBLIC, OHSM_KT_RSA, out.material,
                                         out.material_len, &loaded),
                     OHSM_OK);
    assert_int_equal(EVP_PKEY_eq(loaded, pkey), 1);
    ohsm_mech_pkey_free(loaded);
    struct ohsm_obj pub = hsm_import(&out);
    assert_int_equal(get_ulong(&pub, CKA_MODULUS_BITS), 2048);
    get_bytes(&pub, CKA_MODULUS, comp[0], t[2].ulValueLen);
    p11_make_clear(&out);
    CK_ULONG bits1024 = 1024;
    pt[4].pValue = &bits1024;
    assert_int_equal(make(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV), CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(make(P11_MAKE_CREATE, pt, 3, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    /* A private key needs every component; they must make one key. */
    assert_int_equal(make(P11_MAKE_CREATE, t, 9, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    comp[2][10] ^= 0x55; /* d */
    assert_int_equal(make(P11_MAKE_CREATE, t, 10, UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    comp[2][10] ^= 0x55;
    comp[0][200] ^= 0x01; /* n */
    assert_int_equal(make(P11_MAKE_CREATE, t, 10, UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    comp[0][200] ^= 0x01;
    /* Private components do not belong in a public key, nor modulus bits in a private one. */
    CK_ATTRIBUTE pd[] = {pt[0], t[1], t[2], t[3], t[4]};
    assert_int_equal(make(P11_MAKE_CREATE, pd, N(pd), UNAV, UNAV), CKR_TEMPLATE_INCONSISTENT);
    t[9] = (CK_ATTRIBUTE)ULONG(CKA_MODULUS_BITS, bits2048);
    assert_int_equal(make(P11_MAKE_CREATE, t, 10, UNAV, UNAV), CKR_TEMPLATE_INCONSISTENT);
    ohsm_mech_pkey_free(pkey);
}

/* EC: the private scalar (public point computed) and the public point in both encodings. */
static void test_p11_attr_create_ec(void **state)
{
    (void)state;
    void *pkey = NULL, *loaded = NULL;
    uint8_t d[66], raw[160], der_pt[170], pub1[200], pub2[200];
    size_t raw_len = 0, l1 = 0, l2 = 0;
    struct p11_make_out out;

    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P384, &pkey), OHSM_OK);
    size_t dl = bn_bytes(pkey, OSSL_PKEY_PARAM_PRIV_KEY, d, sizeof(d));
    assert_int_equal(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, raw,
                                                     sizeof(raw), &raw_len),
                     1);
    size_t pl = 0;
    const uint8_t *params = p11_curve_params(OHSM_CURVE_P384, &pl);
    CK_ATTRIBUTE vt[] = {ULONG(CKA_CLASS, c_priv), ULONG(CKA_KEY_TYPE, k_ec),
                         BYTES(CKA_EC_PARAMS, params, pl), BYTES(CKA_VALUE, d, dl)};
    assert_int_equal(p11_make_parse(P11_MAKE_CREATE, vt, N(vt), UNAV, UNAV, &out), CKR_OK);
    assert_int_equal(out.curve, OHSM_CURVE_P384);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_EC, out.material,
                                         out.material_len, &loaded),
                     OHSM_OK);
    assert_int_equal(EVP_PKEY_eq(loaded, pkey), 1); /* same public point */
    ohsm_mech_pkey_free(loaded);
    struct ohsm_obj priv = hsm_import(&out);
    get_bytes(&priv, CKA_EC_PARAMS, params, pl);
    CK_ULONG len = 0;
    assert_int_equal(get_code(&priv, CKA_VALUE, &len), CKR_ATTRIBUTE_SENSITIVE);
    p11_make_clear(&out);

    der_pt[0] = 0x04;
    der_pt[1] = (uint8_t)raw_len;
    memcpy(der_pt + 2, raw, raw_len);
    CK_ATTRIBUTE pt[] = {ULONG(CKA_CLASS, c_pub), ULONG(CKA_KEY_TYPE, k_ec),
                         BYTES(CKA_EC_PARAMS, params, pl),
                         BYTES(CKA_EC_POINT, der_pt, raw_len + 2)};
    assert_int_equal(p11_make_parse(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV, &out), CKR_OK);
    assert_true(out.material_len <= sizeof(pub1));
    memcpy(pub1, out.material, out.material_len);
    l1 = out.material_len;
    p11_make_clear(&out);
    pt[3] = (CK_ATTRIBUTE)BYTES(CKA_EC_POINT, raw, raw_len); /* raw, as some tools send */
    assert_int_equal(p11_make_parse(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV, &out), CKR_OK);
    memcpy(pub2, out.material, out.material_len);
    l2 = out.material_len;
    p11_make_clear(&out);
    assert_int_equal(l1, l2);
    assert_memory_equal(pub1, pub2, l1);
    assert_int_equal(ohsm_mech_pkey_load(OHSM_CLASS_PUBLIC, OHSM_KT_EC, pub1, l1, &loaded),
                     OHSM_OK);
    assert_int_equal(EVP_PKEY_eq(loaded, pkey), 1);
    ohsm_mech_pkey_free(loaded);
    /* The HSM imports it; the point comes back in PKCS#11's form whichever form was given. */
    assert_int_equal(p11_make_parse(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV, &out), CKR_OK);
    struct ohsm_obj pub = hsm_import(&out);
    p11_make_clear(&out);
    get_bytes(&pub, CKA_EC_POINT, der_pt, raw_len + 2);
    get_bytes(&pub, CKA_PUBLIC_KEY_INFO, pub1, l1);

    /* A point off the curve, a malformed point, scalars out of range, parts missing. */
    raw[raw_len - 1] ^= 1;
    assert_int_equal(make(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    pt[3].ulValueLen = 5;
    assert_int_equal(make(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(make(P11_MAKE_CREATE, pt, 3, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE no_params[] = {pt[0], pt[1], BYTES(CKA_EC_POINT, der_pt, raw_len + 2)};
    assert_int_equal(make(P11_MAKE_CREATE, no_params, 3, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    uint8_t zero[48] = {0}, big[48];
    memset(big, 0xff, sizeof(big));
    vt[3] = (CK_ATTRIBUTE)BYTES(CKA_VALUE, zero, sizeof(zero));
    assert_int_equal(make(P11_MAKE_CREATE, vt, N(vt), UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    vt[3] = (CK_ATTRIBUTE)BYTES(CKA_VALUE, big, sizeof(big));
    assert_int_equal(make(P11_MAKE_CREATE, vt, N(vt), UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(make(P11_MAKE_CREATE, vt, 3, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE ec_pt_priv[] = {vt[0], vt[1], vt[2], BYTES(CKA_EC_POINT, der_pt, raw_len + 2)};
    assert_int_equal(make(P11_MAKE_CREATE, ec_pt_priv, 4, UNAV, UNAV), CKR_TEMPLATE_INCONSISTENT);
    ohsm_mech_pkey_free(pkey);
}

/* P-521 points (133 bytes) come in a DER OCTET STRING with a long-form length (04 81 85). */
static void test_p11_attr_create_ec_p521(void **state)
{
    (void)state;
    void *pkey = NULL, *loaded = NULL;
    uint8_t raw[160], der_pt[170];
    size_t raw_len = 0, pl = 0;
    struct p11_make_out out;

    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P521, &pkey), OHSM_OK);
    assert_int_equal(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, raw,
                                                     sizeof(raw), &raw_len),
                     1);
    assert_int_equal(raw_len, 133);
    der_pt[0] = 0x04;
    der_pt[1] = 0x81;
    der_pt[2] = (uint8_t)raw_len;
    memcpy(der_pt + 3, raw, raw_len);
    const uint8_t *params = p11_curve_params(OHSM_CURVE_P521, &pl);
    CK_ATTRIBUTE pt[] = {ULONG(CKA_CLASS, c_pub), ULONG(CKA_KEY_TYPE, k_ec),
                         BYTES(CKA_EC_PARAMS, params, pl),
                         BYTES(CKA_EC_POINT, der_pt, raw_len + 3)};
    assert_int_equal(p11_make_parse(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV, &out), CKR_OK);
    assert_int_equal(
        ohsm_mech_pkey_load(OHSM_CLASS_PUBLIC, OHSM_KT_EC, out.material, out.material_len, &loaded),
        OHSM_OK);
    assert_int_equal(EVP_PKEY_eq(loaded, pkey), 1);
    ohsm_mech_pkey_free(loaded);
    struct ohsm_obj pub = hsm_import(&out);
    p11_make_clear(&out);
    get_bytes(&pub, CKA_EC_POINT, der_pt, raw_len + 3);
    /* A short-form header over a long point, or a long-form one that lies, is refused. */
    der_pt[2] = (uint8_t)(raw_len - 1);
    assert_int_equal(make(P11_MAKE_CREATE, pt, N(pt), UNAV, UNAV), CKR_ATTRIBUTE_VALUE_INVALID);
    ohsm_mech_pkey_free(pkey);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p11_attr_create_secret),
        cmocka_unit_test(test_p11_attr_create_rsa),
        cmocka_unit_test(test_p11_attr_create_ec),
        cmocka_unit_test(test_p11_attr_create_ec_p521),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
