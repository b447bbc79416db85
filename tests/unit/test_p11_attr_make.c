/* SPDX-License-Identifier: Apache-2.0
 * PKCS#11 object-making templates (src/pkcs11/attr_make.c) of C_GenerateKey, C_GenerateKeyPair,
 * C_UnwrapKey and C_DeriveKey: every CKR path, the HSM template they give (every stored boolean
 * with PKCS#11's defaults) and round trips through the HSM's own rules (ohsm_obj_apply_template)
 * back to C_GetAttributeValue. */
#include "p11_attr_fixture.h"

/* ---- C_GenerateKey ---- */

/* An AES template gives every stored boolean with PKCS#11's defaults over the HSM's own. */
static void test_p11_attr_generate_defaults(void **state)
{
    (void)state;
    CK_ATTRIBUTE t[] = {ULONG(CKA_VALUE_LEN, len32), STR(CKA_LABEL, "k"), BOOL(CKA_ENCRYPT, true),
                        BOOL(CKA_TOKEN, true), BYTES(CKA_ID, "\x01\x02", 2)};
    struct p11_make_out out;
    uint8_t key[32] = {1, 2, 3};

    assert_int_equal(p11_make_parse(P11_MAKE_GENERATE, t, N(t), CKO_SECRET_KEY, CKK_AES, &out),
                     CKR_OK);
    assert_int_equal(out.cls, CKO_SECRET_KEY);
    assert_int_equal(out.ktype, CKK_AES);
    assert_true(out.has_value_len);
    assert_int_equal(out.value_len, 32);
    assert_true(out.token);
    assert_null(out.material);
    struct ohsm_tmpl ht = tmpl_of(&out);
    const uint32_t stored[] = {OHSM_A_TOKEN,
                               OHSM_A_PRIVATE,
                               OHSM_A_MODIFIABLE,
                               OHSM_A_DESTROYABLE,
                               OHSM_A_ENCRYPT,
                               OHSM_A_DECRYPT,
                               OHSM_A_SIGN,
                               OHSM_A_VERIFY,
                               OHSM_A_WRAP,
                               OHSM_A_UNWRAP,
                               OHSM_A_DERIVE,
                               OHSM_A_EXTRACTABLE,
                               OHSM_A_WRAP_WITH_TRUSTED,
                               OHSM_A_SENSITIVE};
    for (size_t i = 0; i < sizeof(stored) / sizeof(stored[0]); i++) {
        assert_non_null(tmpl_find(&ht, stored[i]));
    }
    assert_null(tmpl_find(&ht, OHSM_A_TRUSTED));              /* the HSM refuses it at creation */
    assert_int_equal(tmpl_find(&ht, OHSM_A_SIGN)->val[0], 0); /* over the HSM's sign=true */

    struct ohsm_obj o = hsm_secret(&out, OHSM_KT_AES, true, key, sizeof(key));
    assert_int_equal(get_ulong(&o, CKA_CLASS), CKO_SECRET_KEY);
    assert_int_equal(get_ulong(&o, CKA_KEY_TYPE), CKK_AES);
    assert_int_equal(get_ulong(&o, CKA_VALUE_LEN), 32);
    assert_int_equal(get_ulong(&o, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN);
    assert_true(get_bool(&o, CKA_TOKEN));
    assert_true(get_bool(&o, CKA_PRIVATE));
    assert_true(get_bool(&o, CKA_ENCRYPT));
    assert_true(get_bool(&o, CKA_SENSITIVE));
    assert_true(get_bool(&o, CKA_EXTRACTABLE));
    assert_true(get_bool(&o, CKA_MODIFIABLE));
    assert_true(get_bool(&o, CKA_DESTROYABLE));
    assert_true(get_bool(&o, CKA_COPYABLE));
    assert_true(get_bool(&o, CKA_LOCAL));
    assert_true(get_bool(&o, CKA_ALWAYS_SENSITIVE));
    assert_false(get_bool(&o, CKA_NEVER_EXTRACTABLE));
    const CK_ATTRIBUTE_TYPE off[] = {CKA_DECRYPT, CKA_SIGN,   CKA_VERIFY,  CKA_WRAP,
                                     CKA_UNWRAP,  CKA_DERIVE, CKA_TRUSTED, CKA_WRAP_WITH_TRUSTED};
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        assert_false(get_bool(&o, off[i]));
    }
    get_bytes(&o, CKA_LABEL, "k", 1);
    get_bytes(&o, CKA_ID, "\x01\x02", 2);
    get_bytes(&o, CKA_CHECK_VALUE, o.kcv, 3);
    get_bytes(&o, CKA_START_DATE, NULL, 0);
    get_bytes(&o, CKA_END_DATE, NULL, 0);
    p11_make_clear(&out);
    p11_make_clear(&out); /* twice: safe */
    p11_make_clear(NULL);

    /* Nothing given: token false, sensitive true, no usage; DES3 needs no length. */
    assert_int_equal(p11_make_parse(P11_MAKE_GENERATE, NULL, 0, CKO_SECRET_KEY, CKK_DES3, &out),
                     CKR_OK);
    assert_false(out.token);
    ht = tmpl_of(&out);
    assert_int_equal(tmpl_find(&ht, OHSM_A_TOKEN)->val[0], 0);
    assert_int_equal(tmpl_find(&ht, OHSM_A_SENSITIVE)->val[0], 1);
    p11_make_clear(&out);
}

/* Every CKR path of a template, in a secret key's template. */
static void test_p11_attr_generate_errors(void **state)
{
    (void)state;
    uint32_t small = 1;
    CK_ULONG big = (CK_ULONG)UINT32_MAX + 1, zero = 0, kgm = CKM_AES_KEY_GEN;
    uint8_t label128[128], date[8] = {'2', '0', '2', '6', '0', '1', '0', '1'}, zdate[8] = {0};
    memset(label128, 'a', sizeof(label128));
    struct {
        CK_ATTRIBUTE a;
        CK_RV rv;
    } cases[] = {
        {{0x7777, &yes, 1}, CKR_ATTRIBUTE_TYPE_INVALID},
        {{CKA_VENDOR_DEFINED | 1, &yes, 1}, CKR_ATTRIBUTE_TYPE_INVALID},
        {{CKA_ENCRYPT, &len32, sizeof(CK_ULONG)}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_ENCRYPT, NULL, 1}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_ENCRYPT, NULL, 0}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_VALUE_LEN, &small, sizeof(small)}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_VALUE_LEN, &big, sizeof(big)}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_VALUE_LEN, &zero, sizeof(zero)}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_CLASS, &c_data, sizeof(CK_ULONG)}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_CLASS, &c_pub, sizeof(CK_ULONG)}, CKR_TEMPLATE_INCONSISTENT},
        {{CKA_KEY_TYPE, &k_dsa, sizeof(CK_ULONG)}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_KEY_TYPE, &k_gen, sizeof(CK_ULONG)}, CKR_TEMPLATE_INCONSISTENT},
        {BOOL(CKA_LOCAL, true), CKR_ATTRIBUTE_READ_ONLY},
        {BOOL(CKA_ALWAYS_SENSITIVE, true), CKR_ATTRIBUTE_READ_ONLY},
        {BOOL(CKA_NEVER_EXTRACTABLE, false), CKR_ATTRIBUTE_READ_ONLY},
        {ULONG(CKA_KEY_GEN_MECHANISM, kgm), CKR_ATTRIBUTE_READ_ONLY},
        {BYTES(CKA_CHECK_VALUE, "abc", 3), CKR_ATTRIBUTE_READ_ONLY},
        {BYTES(CKA_VALUE, "0123456789abcdef", 16), CKR_ATTRIBUTE_READ_ONLY},
        {BOOL(CKA_TRUSTED, true), CKR_ATTRIBUTE_READ_ONLY},
        {ULONG(CKA_MODULUS_BITS, bits2048), CKR_TEMPLATE_INCONSISTENT},
        {BYTES(CKA_EC_PARAMS, p256, sizeof(p256)), CKR_TEMPLATE_INCONSISTENT},
        {BOOL(CKA_SIGN_RECOVER, false), CKR_TEMPLATE_INCONSISTENT},
        {BOOL(CKA_ALWAYS_AUTHENTICATE, false), CKR_TEMPLATE_INCONSISTENT},
        {BYTES(CKA_SUBJECT, "", 0), CKR_TEMPLATE_INCONSISTENT},
        {BYTES(CKA_LABEL, label128, sizeof(label128)), CKR_ATTRIBUTE_VALUE_INVALID},
        {BYTES(CKA_LABEL, "a\0b", 3), CKR_ATTRIBUTE_VALUE_INVALID},
        {BYTES(CKA_ID, label128, OHSM_OBJ_ID_MAX + 1), CKR_ATTRIBUTE_VALUE_INVALID},
        {BOOL(CKA_COPYABLE, false), CKR_ATTRIBUTE_VALUE_INVALID},
        {BYTES(CKA_START_DATE, date, sizeof(date)), CKR_ATTRIBUTE_VALUE_INVALID},
        {BYTES(CKA_END_DATE, date, 3), CKR_ATTRIBUTE_VALUE_INVALID},
        /* Accepted: what the model honours. */
        {BOOL(CKA_TRUSTED, false), CKR_OK},
        {BOOL(CKA_COPYABLE, true), CKR_OK},
        {BYTES(CKA_START_DATE, NULL, 0), CKR_OK},
        {BYTES(CKA_END_DATE, zdate, sizeof(zdate)), CKR_OK},
        {BYTES(CKA_LABEL, label128, OHSM_LABEL_MAX), CKR_OK},
        {BYTES(CKA_ID, NULL, 0), CKR_OK},
        {{CKA_SENSITIVE, &(CK_BBOOL){2}, 1}, CKR_OK}, /* non-zero: true */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CK_ATTRIBUTE t[] = {ULONG(CKA_VALUE_LEN, len32), cases[i].a};
        CK_ULONG n = cases[i].a.type == CKA_VALUE_LEN ? 1 : 2;
        CK_RV rv = make(P11_MAKE_GENERATE, n == 1 ? &t[1] : t, n, CKO_SECRET_KEY, CKK_AES);
        if (rv != cases[i].rv) {
            print_error("case %zu: type 0x%lx: 0x%lx, want 0x%lx\n", i, cases[i].a.type, rv,
                        cases[i].rv);
        }
        assert_int_equal(rv, cases[i].rv);
    }
    /* A required length missing; arguments. */
    assert_int_equal(make(P11_MAKE_GENERATE, label_k, 1, CKO_SECRET_KEY, CKK_AES),
                     CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(make(P11_MAKE_GENERATE, NULL, 1, CKO_SECRET_KEY, CKK_AES), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_make_parse(P11_MAKE_GENERATE, label_k, 1, CKO_SECRET_KEY, CKK_AES, NULL),
                     CKR_ARGUMENTS_BAD);
    /* The same attribute twice: the same value is fine, another is inconsistent. */
    CK_ATTRIBUTE dup[] = {ULONG(CKA_VALUE_LEN, len32), BOOL(CKA_SIGN, true),
                          ULONG(CKA_VALUE_LEN, len32), BOOL(CKA_SIGN, true)};
    assert_int_equal(make(P11_MAKE_GENERATE, dup, N(dup), CKO_SECRET_KEY, CKK_AES), CKR_OK);
    dup[2].pValue = &len16;
    assert_int_equal(make(P11_MAKE_GENERATE, dup, N(dup), CKO_SECRET_KEY, CKK_AES),
                     CKR_TEMPLATE_INCONSISTENT);
    dup[2].pValue = &len32;
    dup[3].pValue = &no;
    assert_int_equal(make(P11_MAKE_GENERATE, dup, N(dup), CKO_SECRET_KEY, CKK_AES),
                     CKR_TEMPLATE_INCONSISTENT);
}

/* ---- C_GenerateKeyPair ---- */

/* pkcs11-tool's and PyKCS11's RSA pair templates, then the HSM's rules, then the attributes. */
static void test_p11_attr_pair_rsa(void **state)
{
    (void)state;
    CK_ATTRIBUTE pt[] = {ULONG(CKA_CLASS, c_pub),
                         BOOL(CKA_TOKEN, true),
                         BOOL(CKA_PRIVATE, false),
                         ULONG(CKA_MODULUS_BITS, bits2048),
                         BYTES(CKA_PUBLIC_EXPONENT, e65537, 3),
                         BOOL(CKA_ENCRYPT, true),
                         BOOL(CKA_VERIFY, true),
                         BOOL(CKA_VERIFY_RECOVER, true),
                         BOOL(CKA_WRAP, true),
                         STR(CKA_LABEL, "My Public Key"),
                         BYTES(CKA_ID, "\x22", 1)};
    CK_ATTRIBUTE vt[] = {ULONG(CKA_CLASS, c_priv),     BOOL(CKA_TOKEN, true),
                         BOOL(CKA_PRIVATE, true),      BOOL(CKA_SENSITIVE, true),
                         BOOL(CKA_DECRYPT, true),      BOOL(CKA_SIGN, true),
                         BOOL(CKA_SIGN_RECOVER, true), BOOL(CKA_UNWRAP, true),
                         BYTES(CKA_ID, "\x22", 1),     BYTES(CKA_SUBJECT, NULL, 0)};
    struct p11_make_out po, vo;
    void *pkey = NULL;
    uint8_t n[512], buf[2048];

    assert_int_equal(p11_make_parse(P11_MAKE_PAIR_PUBLIC, pt, N(pt), CKO_PUBLIC_KEY, CKK_RSA, &po),
                     CKR_OK);
    assert_int_equal(
        p11_make_parse(P11_MAKE_PAIR_PRIVATE, vt, N(vt), CKO_PRIVATE_KEY, CKK_RSA, &vo), CKR_OK);
    assert_true(po.has_modulus_bits);
    assert_int_equal(po.modulus_bits, 2048);
    assert_int_equal(po.public_exponent, 65537);
    assert_false(vo.has_modulus_bits);
    struct ohsm_tmpl ht = tmpl_of(&po);
    assert_null(tmpl_find(&ht, OHSM_A_SENSITIVE)); /* a public key has none */

    assert_int_equal(ohsm_mech_gen_rsa(2048, po.public_exponent, &pkey), OHSM_OK);
    struct ohsm_obj pub = hsm_half(&po, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, pkey, true);
    struct ohsm_obj priv = hsm_half(&vo, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, pkey, true);
    size_t nl = bn_bytes(pkey, OSSL_PKEY_PARAM_RSA_N, n, sizeof(n));

    assert_int_equal(get_ulong(&pub, CKA_CLASS), CKO_PUBLIC_KEY);
    assert_int_equal(get_ulong(&pub, CKA_MODULUS_BITS), 2048);
    assert_int_equal(get_ulong(&priv, CKA_MODULUS_BITS), 2048);
    assert_int_equal(get_ulong(&pub, CKA_KEY_GEN_MECHANISM), CKM_RSA_PKCS_KEY_PAIR_GEN);
    get_bytes(&pub, CKA_MODULUS, n, nl);
    get_bytes(&priv, CKA_MODULUS, n, nl);
    get_bytes(&pub, CKA_PUBLIC_EXPONENT, e65537, 3);
    get_bytes(&priv, CKA_PUBLIC_EXPONENT, e65537, 3);
    get_bytes(&pub, CKA_PUBLIC_KEY_INFO, pub.spki, pub.spki_len);
    get_bytes(&priv, CKA_PUBLIC_KEY_INFO, pub.spki, pub.spki_len);
    get_bytes(&pub, CKA_LABEL, "My Public Key", 13);
    get_bytes(&priv, CKA_LABEL, NULL, 0);
    get_bytes(&priv, CKA_SUBJECT, NULL, 0);
    get_bytes(&pub, CKA_SUBJECT, NULL, 0);
    assert_true(get_bool(&pub, CKA_TOKEN));
    assert_false(get_bool(&pub, CKA_PRIVATE));
    assert_true(get_bool(&pub, CKA_ENCRYPT));
    assert_true(get_bool(&pub, CKA_VERIFY));
    assert_true(get_bool(&pub, CKA_VERIFY_RECOVER));
    assert_true(get_bool(&pub, CKA_WRAP));
    assert_false(get_bool(&pub, CKA_DERIVE));
    assert_true(get_bool(&priv, CKA_SIGN));
    assert_true(get_bool(&priv, CKA_SIGN_RECOVER));
    assert_true(get_bool(&priv, CKA_DECRYPT));
    assert_true(get_bool(&priv, CKA_UNWRAP));
    assert_true(get_bool(&priv, CKA_SENSITIVE));
    assert_true(get_bool(&priv, CKA_PRIVATE));
    assert_false(get_bool(&priv, CKA_ALWAYS_AUTHENTICATE));
    assert_false(get_bool(&priv, CKA_WRAP_WITH_TRUSTED));
    /* Attributes of the other class, or none of RSA's. */
    CK_ULONG len = 0;
    const CK_ATTRIBUTE_TYPE not_pub[] = {
        CKA_SENSITIVE, CKA_SIGN,      CKA_DECRYPT,  CKA_UNWRAP,           CKA_EXTRACTABLE,
        CKA_VALUE,     CKA_VALUE_LEN, CKA_EC_POINT, CKA_PRIVATE_EXPONENT, 0x7777};
    for (size_t i = 0; i < sizeof(not_pub) / sizeof(not_pub[0]); i++) {
        assert_int_equal(get_code(&pub, not_pub[i], &len), CKR_ATTRIBUTE_TYPE_INVALID);
        assert_int_equal(len, UNAV);
    }
    assert_int_equal(get_code(&priv, CKA_VALUE, &len), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(get_code(&priv, CKA_ENCRYPT, &len), CKR_ATTRIBUTE_TYPE_INVALID);
    /* Private components: sensitive, whatever the flags say. */
    const CK_ATTRIBUTE_TYPE secret[] = {CKA_PRIVATE_EXPONENT, CKA_PRIME_1,    CKA_PRIME_2,
                                        CKA_EXPONENT_1,       CKA_EXPONENT_2, CKA_COEFFICIENT};
    priv.flags &= ~(uint32_t)OHSM_F_SENSITIVE;
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
        CK_ATTRIBUTE a = {secret[i], buf, sizeof(buf)};
        assert_int_equal(p11_attr_get(&priv, &a, 1), CKR_ATTRIBUTE_SENSITIVE);
        assert_int_equal(a.ulValueLen, UNAV);
    }
    ohsm_mech_pkey_free(pkey);
    p11_make_clear(&po);
    p11_make_clear(&vo);
}

/* The HSM checks the sizes the public template gave against the key it made. */
static void test_p11_attr_pair_sizes_checked(void **state)
{
    (void)state;
    CK_ULONG bits3072 = 3072;
    CK_ATTRIBUTE pt[] = {ULONG(CKA_MODULUS_BITS, bits3072)};
    struct p11_make_out po;
    void *pkey = NULL;
    struct ohsm_obj o;

    assert_int_equal(p11_make_parse(P11_MAKE_PAIR_PUBLIC, pt, 1, CKO_PUBLIC_KEY, CKK_RSA, &po),
                     CKR_OK);
    struct ohsm_tmpl t = tmpl_of(&po);
    assert_int_equal(ohsm_mech_gen_rsa(2048, 0, &pkey), OHSM_OK);
    ohsm_obj_defaults(&o, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, true);
    assert_int_equal(ohsm_mech_fill_public(&o, pkey), OHSM_OK);
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_TEMPLATE_INCONSISTENT);
    ohsm_mech_pkey_free(pkey);
    p11_make_clear(&po);
}

static void test_p11_attr_pair_errors(void **state)
{
    (void)state;
    uint8_t e9[9] = {1, 0, 0, 0, 0, 0, 0, 0, 1}, e0[2] = {0, 0}, e_lead[] = {0, 0, 1, 0, 1};
    uint8_t brainpool[] = {0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07};
    struct {
        enum p11_make kind;
        CK_ULONG kt;
        CK_ATTRIBUTE a;
        CK_RV rv;
    } cases[] = {
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, ULONG(CKA_MODULUS_BITS, bits2048),
         CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, BYTES(CKA_PUBLIC_EXPONENT, e65537, 3),
         CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BYTES(CKA_MODULUS, e65537, 3), CKR_ATTRIBUTE_READ_ONLY},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, BYTES(CKA_PRIVATE_EXPONENT, e65537, 3),
         CKR_ATTRIBUTE_READ_ONLY},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BOOL(CKA_SIGN, false), CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BOOL(CKA_SENSITIVE, true), CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BOOL(CKA_DERIVE, true), CKR_OK},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BYTES(CKA_PUBLIC_EXPONENT, e9, 9),
         CKR_ATTRIBUTE_VALUE_INVALID},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BYTES(CKA_PUBLIC_EXPONENT, e0, 2),
         CKR_ATTRIBUTE_VALUE_INVALID},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BYTES(CKA_PUBLIC_EXPONENT, e_lead, 5), CKR_OK},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BYTES(CKA_EC_PARAMS, p256, 10), CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BOOL(CKA_VERIFY_RECOVER, true),
         CKR_ATTRIBUTE_VALUE_INVALID},
        {P11_MAKE_PAIR_PUBLIC, CKK_RSA, BOOL(CKA_VERIFY_RECOVER, false), CKR_OK},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, BOOL(CKA_SIGN_RECOVER, true), CKR_ATTRIBUTE_VALUE_INVALID},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, BYTES(CKA_SUBJECT, "CN=x", 4),
         CKR_ATTRIBUTE_VALUE_INVALID},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, BOOL(CKA_ALWAYS_AUTHENTICATE, true),
         CKR_ATTRIBUTE_VALUE_INVALID},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, BOOL(CKA_ALWAYS_AUTHENTICATE, false), CKR_OK},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, BYTES(CKA_PUBLIC_KEY_INFO, "x", 1),
         CKR_ATTRIBUTE_READ_ONLY},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, ULONG(CKA_CLASS, c_pub), CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, ULONG(CKA_KEY_TYPE, k_ec), CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PRIVATE, CKK_RSA, ULONG(CKA_VALUE_LEN, len32), CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PUBLIC, CKK_EC, BYTES(CKA_EC_PARAMS, brainpool, sizeof(brainpool)),
         CKR_CURVE_NOT_SUPPORTED},
        {P11_MAKE_PAIR_PUBLIC, CKK_EC, BYTES(CKA_EC_PARAMS, "\x30\x00", 2),
         CKR_ATTRIBUTE_VALUE_INVALID},
        {P11_MAKE_PAIR_PUBLIC, CKK_EC, BYTES(CKA_EC_POINT, "\x04\x01\x04", 3),
         CKR_ATTRIBUTE_READ_ONLY},
        {P11_MAKE_PAIR_PUBLIC, CKK_EC, ULONG(CKA_MODULUS_BITS, bits2048),
         CKR_TEMPLATE_INCONSISTENT},
        {P11_MAKE_PAIR_PRIVATE, CKK_EC, BYTES(CKA_VALUE, "\x01", 1), CKR_ATTRIBUTE_READ_ONLY},
        {P11_MAKE_PAIR_PRIVATE, CKK_EC, BYTES(CKA_EC_PARAMS, p256, 10), CKR_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool pub = cases[i].kind == P11_MAKE_PAIR_PUBLIC;
        CK_ATTRIBUTE t[] = {cases[i].a, ULONG(CKA_MODULUS_BITS, bits2048),
                            BYTES(CKA_EC_PARAMS, p256, 10)};
        /* The public templates carry what they must; the case's attribute comes first. */
        CK_ULONG n = 1;
        if (pub && cases[i].kt == CKK_RSA && cases[i].a.type != CKA_MODULUS_BITS) {
            n = 2;
        } else if (pub && cases[i].kt == CKK_EC && cases[i].a.type != CKA_EC_PARAMS) {
            t[1] = t[2];
            n = 2;
        }
        CK_RV rv = make(cases[i].kind, t, n, pub ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY, cases[i].kt);
        if (rv != cases[i].rv) {
            print_error("case %zu: 0x%lx, want 0x%lx\n", i, rv, cases[i].rv);
        }
        assert_int_equal(rv, cases[i].rv);
    }
    /* What a pair's public template must say. */
    assert_int_equal(make(P11_MAKE_PAIR_PUBLIC, label_k, 1, CKO_PUBLIC_KEY, CKK_RSA),
                     CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(make(P11_MAKE_PAIR_PUBLIC, label_k, 1, CKO_PUBLIC_KEY, CKK_EC),
                     CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(make(P11_MAKE_PAIR_PRIVATE, label_k, 1, CKO_PRIVATE_KEY, CKK_EC), CKR_OK);
    /* A mechanism that makes the wrong class for the call (a caller's bug). */
    assert_int_equal(make(P11_MAKE_PAIR_PUBLIC, NULL, 0, CKO_PUBLIC_KEY, CKK_AES),
                     CKR_TEMPLATE_INCONSISTENT);
}

/* EC pairs: the curve from DER or the printable name; point and parameters back. */
static void test_p11_attr_pair_ec(void **state)
{
    (void)state;
    uint8_t named[] = {0x13, 0x0a, 'p', 'r', 'i', 'm', 'e', '2', '5', '6', 'v', '1'};
    /* pkcs11-tool --keypairgen --key-type EC:prime256v1: derive on both halves by default. */
    CK_ATTRIBUTE pt[] = {BYTES(CKA_EC_PARAMS, named, sizeof(named)), BOOL(CKA_VERIFY, true),
                         ULONG(CKA_KEY_TYPE, k_ec), BOOL(CKA_DERIVE, true)};
    CK_ATTRIBUTE vt[] = {BOOL(CKA_SIGN, true), BOOL(CKA_DERIVE, true),
                         BOOL(CKA_EXTRACTABLE, false)};
    struct p11_make_out po, vo;
    void *pkey = NULL;
    uint8_t pt_raw[160], want[200];
    size_t raw_len = 0;
    CK_ULONG len = 0;

    assert_int_equal(p11_make_parse(P11_MAKE_PAIR_PUBLIC, pt, N(pt), CKO_PUBLIC_KEY, CKK_EC, &po),
                     CKR_OK);
    assert_int_equal(p11_make_parse(P11_MAKE_PAIR_PRIVATE, vt, N(vt), CKO_PRIVATE_KEY, CKK_EC, &vo),
                     CKR_OK);
    assert_int_equal(po.curve, OHSM_CURVE_P256);
    assert_int_equal(ohsm_mech_gen_ec(po.curve, &pkey), OHSM_OK);
    struct ohsm_obj pub = hsm_half(&po, OHSM_CLASS_PUBLIC, OHSM_KT_EC, pkey, true);
    struct ohsm_obj priv = hsm_half(&vo, OHSM_CLASS_PRIVATE, OHSM_KT_EC, pkey, true);
    assert_int_equal(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                                     pt_raw, sizeof(pt_raw), &raw_len),
                     1);
    want[0] = 0x04;
    want[1] = (uint8_t)raw_len;
    memcpy(want + 2, pt_raw, raw_len);
    get_bytes(&pub, CKA_EC_POINT, want, raw_len + 2);
    get_bytes(&pub, CKA_EC_PARAMS, p256, sizeof(p256));
    get_bytes(&priv, CKA_EC_PARAMS, p256, sizeof(p256));
    assert_int_equal(get_ulong(&priv, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN);
    assert_true(get_bool(&priv, CKA_DERIVE));
    assert_true(get_bool(&pub, CKA_DERIVE));
    assert_false(get_bool(&priv, CKA_EXTRACTABLE));
    assert_true(get_bool(&priv, CKA_NEVER_EXTRACTABLE));
    assert_int_equal(get_code(&priv, CKA_VALUE, &len), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(len, UNAV);
    assert_int_equal(get_code(&priv, CKA_EC_POINT, &len), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(get_code(&pub, CKA_MODULUS, &len), CKR_ATTRIBUTE_TYPE_INVALID);
    ohsm_mech_pkey_free(pkey);
    p11_make_clear(&po);
    p11_make_clear(&vo);
}

/* ---- C_UnwrapKey, C_DeriveKey ---- */

static void test_p11_attr_unwrap_derive(void **state)
{
    (void)state;
    CK_ATTRIBUTE ut[] = {ULONG(CKA_CLASS, c_sec), ULONG(CKA_KEY_TYPE, k_aes),
                         BOOL(CKA_DECRYPT, true)};
    struct p11_make_out out;

    assert_int_equal(p11_make_parse(P11_MAKE_UNWRAP, ut, N(ut), UNAV, UNAV, &out), CKR_OK);
    assert_int_equal(out.cls, CKO_SECRET_KEY);
    assert_int_equal(out.ktype, CKK_AES);
    assert_null(out.material);
    p11_make_clear(&out);
    assert_int_equal(make(P11_MAKE_UNWRAP, ut, 1, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    assert_int_equal(make(P11_MAKE_UNWRAP, &ut[1], 2, UNAV, UNAV), CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE upub[] = {ULONG(CKA_CLASS, c_pub), ULONG(CKA_KEY_TYPE, k_rsa)};
    assert_int_equal(make(P11_MAKE_UNWRAP, upub, 2, UNAV, UNAV), CKR_TEMPLATE_INCONSISTENT);
    CK_ATTRIBUTE upriv[] = {ULONG(CKA_CLASS, c_priv), ULONG(CKA_KEY_TYPE, k_rsa),
                            BOOL(CKA_SIGN, true)};
    assert_int_equal(make(P11_MAKE_UNWRAP, upriv, 3, UNAV, UNAV), CKR_OK);
    CK_ATTRIBUTE uval[] = {ut[0], ut[1], BYTES(CKA_VALUE, "0123456789abcdef", 16)};
    assert_int_equal(make(P11_MAKE_UNWRAP, uval, 3, UNAV, UNAV), CKR_ATTRIBUTE_READ_ONLY);

    CK_ATTRIBUTE dt[] = {ULONG(CKA_KEY_TYPE, k_gen), ULONG(CKA_VALUE_LEN, len32),
                         BOOL(CKA_SIGN, true)};
    assert_int_equal(p11_make_parse(P11_MAKE_DERIVE, dt, N(dt), CKO_SECRET_KEY, UNAV, &out),
                     CKR_OK);
    assert_int_equal(out.ktype, CKK_GENERIC_SECRET);
    assert_int_equal(out.value_len, 32);
    p11_make_clear(&out);
    assert_int_equal(make(P11_MAKE_DERIVE, &dt[1], 2, CKO_SECRET_KEY, UNAV),
                     CKR_TEMPLATE_INCOMPLETE);
    CK_ATTRIBUTE dpriv[] = {ULONG(CKA_CLASS, c_priv), dt[0]};
    assert_int_equal(make(P11_MAKE_DERIVE, dpriv, 2, CKO_SECRET_KEY, UNAV),
                     CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(make((enum p11_make)99, NULL, 0, CKO_SECRET_KEY, CKK_AES), CKR_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p11_attr_generate_defaults),
        cmocka_unit_test(test_p11_attr_generate_errors),
        cmocka_unit_test(test_p11_attr_pair_rsa),
        cmocka_unit_test(test_p11_attr_pair_sizes_checked),
        cmocka_unit_test(test_p11_attr_pair_errors),
        cmocka_unit_test(test_p11_attr_pair_ec),
        cmocka_unit_test(test_p11_attr_unwrap_derive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
