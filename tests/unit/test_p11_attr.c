/* SPDX-License-Identifier: Apache-2.0
 * PKCS#11 attribute templates <-> openhsm objects (src/pkcs11/attr*.c): every CKR path of the
 * object-making templates, the HSM template they give (every stored boolean with PKCS#11's
 * defaults) and round trips through the HSM's own rules (ohsm_obj_apply_template) back to
 * C_GetAttributeValue; C_CreateObject material that loads as the same key; GetAttributeValue's
 * per-attribute rules; set/copy and find templates and matching; EC parameters. */
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

/* ---- EC parameters ---- */

static void test_p11_attr_curves(void **state)
{
    (void)state;
    const uint32_t all[] = {OHSM_CURVE_P256, OHSM_CURVE_P384, OHSM_CURVE_P521, OHSM_CURVE_SECP256K1,
                            OHSM_CURVE_P224};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        size_t n = 0;
        const uint8_t *p = p11_curve_params(all[i], &n);
        assert_non_null(p);
        assert_int_equal(p11_curve_from_params(p, n), all[i]);
        assert_int_equal(p11_curve_from_params(p, n - 1), OHSM_CURVE_NONE); /* truncated */
    }
    assert_null(p11_curve_params(OHSM_CURVE_NONE, NULL));
    assert_null(p11_curve_params(99, NULL));
    assert_int_equal(p11_curve_from_params(NULL, 5), OHSM_CURVE_NONE);
    assert_int_equal(p11_curve_from_params((const uint8_t *)"\x13\x05P-384", 7), OHSM_CURVE_P384);
    assert_int_equal(p11_curve_from_params((const uint8_t *)"\x13\x09secp521r1", 11),
                     OHSM_CURVE_P521);
    assert_int_equal(p11_curve_from_params((const uint8_t *)"\x13\x05P-999", 7), OHSM_CURVE_NONE);
    assert_int_equal(p11_curve_from_params((const uint8_t *)"\x13\x06P-384", 7), OHSM_CURVE_NONE);
    assert_int_equal(p11_curve_from_params((const uint8_t *)"\x13\x03P\0"
                                                            "4",
                                           5),
                     OHSM_CURVE_NONE);
    assert_int_equal(p11_curve_from_params((const uint8_t *)"\x13\x00", 2), OHSM_CURVE_NONE);
}

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

/* ---- C_GetAttributeValue ---- */

/* Every attribute is processed; each gets its own outcome; one of the codes is returned. */
static void test_p11_attr_get_rules(void **state)
{
    (void)state;
    struct p11_make_out out;
    uint8_t key[16] = {9};
    CK_ATTRIBUTE t[] = {ULONG(CKA_VALUE_LEN, len16), STR(CKA_LABEL, "hello")};
    assert_int_equal(p11_make_parse(P11_MAKE_GENERATE, t, 2, CKO_SECRET_KEY, CKK_AES, &out),
                     CKR_OK);
    struct ohsm_obj o = hsm_secret(&out, OHSM_KT_AES, true, key, sizeof(key));
    p11_make_clear(&out);

    uint8_t lbl[3] = {0}, val[32], kcv[3];
    CK_ULONG cls = 0;
    CK_ATTRIBUTE q[] = {
        {CKA_LABEL, lbl, sizeof(lbl)},   /* too small */
        {CKA_VALUE, val, sizeof(val)},   /* sensitive */
        {0x7777, val, sizeof(val)},      /* unknown */
        {CKA_MODULUS, val, sizeof(val)}, /* not of this key */
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_CHECK_VALUE, NULL, 0}, /* length query */
        {CKA_ID, NULL, 77},
    };
    CK_RV rv = p11_attr_get(&o, q, N(q));
    assert_true(rv == CKR_BUFFER_TOO_SMALL || rv == CKR_ATTRIBUTE_SENSITIVE ||
                rv == CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(rv, CKR_BUFFER_TOO_SMALL); /* the first that applied */
    assert_int_equal(q[0].ulValueLen, UNAV);
    assert_int_equal(lbl[0], 0);
    assert_int_equal(q[1].ulValueLen, UNAV);
    assert_int_equal(q[2].ulValueLen, UNAV);
    assert_int_equal(q[3].ulValueLen, UNAV);
    assert_int_equal(q[4].ulValueLen, sizeof(CK_ULONG));
    assert_int_equal(cls, CKO_SECRET_KEY);
    assert_int_equal(q[5].ulValueLen, 3);
    assert_int_equal(q[6].ulValueLen, 0);
    /* Exactly the size needed is enough. */
    CK_ATTRIBUTE k = {CKA_CHECK_VALUE, kcv, 3};
    assert_int_equal(p11_attr_get(&o, &k, 1), CKR_OK);
    assert_memory_equal(kcv, o.kcv, 3);
    CK_ATTRIBUTE s = {CKA_VALUE, NULL, 0};
    assert_int_equal(p11_attr_get(&o, &s, 1), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(s.ulValueLen, UNAV);
    assert_int_equal(p11_attr_get(NULL, &s, 1), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_attr_get(&o, NULL, 1), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_attr_get(&o, NULL, 0), CKR_OK);
    /* An AES key has neither an RSA nor an EC part; a secret key no subject. */
    CK_ULONG len = 0;
    assert_int_equal(get_code(&o, CKA_SUBJECT, &len), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(get_code(&o, CKA_EC_PARAMS, &len), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(get_code(&o, CKA_PUBLIC_KEY_INFO, &len), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(get_code(&o, CKA_ALWAYS_AUTHENTICATE, &len), CKR_ATTRIBUTE_TYPE_INVALID);
    /* No check value recorded: not an attribute of this key. */
    o.has_kcv = false;
    assert_int_equal(get_code(&o, CKA_CHECK_VALUE, &len), CKR_ATTRIBUTE_TYPE_INVALID);
}

static void test_p11_attr_size(void **state)
{
    (void)state;
    struct ohsm_obj o;
    uint8_t buf[OHSM_OBJ_ENC_MAX];
    size_t n = 0;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    o.value_len = 32;
    assert_int_equal(ohsm_obj_encode(&o, buf, sizeof(buf), &n), OHSM_OK);
    assert_int_equal(p11_attr_size(&o), n);
    assert_true(n > 0);
    assert_int_equal(p11_attr_size(NULL), UNAV);
}

/* ---- C_SetAttributeValue / C_CopyObject ---- */

static void test_p11_attr_set_parse(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf out;
    struct ohsm_tmpl ht;
    bool ts = true, tv = true;
    CK_ATTRIBUTE t[] = {STR(CKA_LABEL, "new"),          BOOL(CKA_SIGN, true),
                        BOOL(CKA_TOKEN, true),          BOOL(CKA_COPYABLE, true),
                        BOOL(CKA_SIGN, true),           BOOL(CKA_SIGN_RECOVER, true),
                        BYTES(CKA_START_DATE, NULL, 0), BOOL(CKA_TRUSTED, true)};

    assert_int_equal(p11_attr_set_parse(t, N(t), &out, &ts, &tv), CKR_OK);
    assert_true(ts);
    assert_true(tv);
    assert_int_equal(ohsm_tmpl_parse(out.buf, out.len, &ht), OHSM_OK);
    assert_int_equal(ht.n, 3); /* label, sign (once), trusted; token and fixed ones not put */
    assert_null(tmpl_find(&ht, OHSM_A_TOKEN));
    assert_non_null(tmpl_find(&ht, OHSM_A_TRUSTED));

    /* Round trip through the HSM's set rules. */
    struct ohsm_obj o;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    for (size_t i = 0; i < ht.n; i++) {
        if (ht.a[i].id != OHSM_A_TRUSTED) {
            assert_int_equal(ohsm_obj_set_check(&o, &ht.a[i], OHSM_UT_CU, true), OHSM_OK);
            assert_int_equal(ohsm_obj_set_apply(&o, &ht.a[i]), OHSM_OK);
        }
    }
    get_bytes(&o, CKA_LABEL, "new", 3);
    assert_true(get_bool(&o, CKA_SIGN));

    uint32_t small = 1;
    CK_ULONG cls = CKO_SECRET_KEY;
    struct {
        CK_ATTRIBUTE a;
        CK_RV rv;
    } cases[] = {
        {ULONG(CKA_CLASS, cls), CKR_ATTRIBUTE_READ_ONLY},
        {ULONG(CKA_KEY_TYPE, k_aes), CKR_ATTRIBUTE_READ_ONLY},
        {BOOL(CKA_LOCAL, true), CKR_ATTRIBUTE_READ_ONLY},
        {BOOL(CKA_ALWAYS_SENSITIVE, true), CKR_ATTRIBUTE_READ_ONLY},
        {BOOL(CKA_NEVER_EXTRACTABLE, true), CKR_ATTRIBUTE_READ_ONLY},
        {BYTES(CKA_MODULUS, "x", 1), CKR_ATTRIBUTE_READ_ONLY},
        {BYTES(CKA_VALUE, "x", 1), CKR_ATTRIBUTE_READ_ONLY},
        {BYTES(CKA_EC_PARAMS, p256, 10), CKR_ATTRIBUTE_READ_ONLY},
        {BYTES(CKA_EC_POINT, "x", 1), CKR_ATTRIBUTE_READ_ONLY},
        {ULONG(CKA_VALUE_LEN, len32), CKR_ATTRIBUTE_READ_ONLY},
        {ULONG(CKA_MODULUS_BITS, bits2048), CKR_ATTRIBUTE_READ_ONLY},
        {ULONG(CKA_KEY_GEN_MECHANISM, len32), CKR_ATTRIBUTE_READ_ONLY},
        {BYTES(CKA_CHECK_VALUE, "abc", 3), CKR_ATTRIBUTE_READ_ONLY},
        {{0x7777, &yes, 1}, CKR_ATTRIBUTE_TYPE_INVALID},
        {{CKA_SIGN, &small, sizeof(small)}, CKR_ATTRIBUTE_VALUE_INVALID},
        {{CKA_LABEL, NULL, 3}, CKR_ATTRIBUTE_VALUE_INVALID},
        {BYTES(CKA_LABEL, "a\0b", 3), CKR_ATTRIBUTE_VALUE_INVALID},
        {BOOL(CKA_COPYABLE, false), CKR_ATTRIBUTE_VALUE_INVALID},
        {BOOL(CKA_SIGN_RECOVER, false), CKR_ATTRIBUTE_VALUE_INVALID}, /* SIGN not alongside */
        {BYTES(CKA_SUBJECT, "CN=x", 4), CKR_ATTRIBUTE_VALUE_INVALID},
        {BOOL(CKA_EXTRACTABLE, false), CKR_OK}, /* the HSM decides */
        {BOOL(CKA_SENSITIVE, true), CKR_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CK_ATTRIBUTE two[] = {BOOL(CKA_DECRYPT, true), cases[i].a};
        CK_RV rv = p11_attr_set_parse(two, 2, &out, &ts, &tv);
        if (rv != cases[i].rv) {
            print_error("case %zu: 0x%lx, want 0x%lx\n", i, rv, cases[i].rv);
        }
        assert_int_equal(rv, cases[i].rv);
        if (rv != CKR_OK) {
            assert_int_equal(out.len, 0); /* nothing half-made */
        }
    }
    CK_ATTRIBUTE dup[] = {BOOL(CKA_SIGN, true), BOOL(CKA_SIGN, false)};
    assert_int_equal(p11_attr_set_parse(dup, 2, &out, &ts, &tv), CKR_TEMPLATE_INCONSISTENT);
    assert_int_equal(p11_attr_set_parse(NULL, 1, &out, &ts, &tv), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_attr_set_parse(NULL, 0, &out, &ts, &tv), CKR_OK);
    assert_false(ts);
    assert_int_equal(out.len, 0);
}

/* ---- C_FindObjects ---- */

static void test_p11_attr_find(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf pre;
    struct ohsm_tmpl ht;
    struct p11_make_out out;
    void *pkey = NULL;
    CK_ATTRIBUTE pt[] = {ULONG(CKA_MODULUS_BITS, bits2048), STR(CKA_LABEL, "pair"),
                         BOOL(CKA_VERIFY, true)};

    assert_int_equal(p11_make_parse(P11_MAKE_PAIR_PUBLIC, pt, N(pt), CKO_PUBLIC_KEY, CKK_RSA, &out),
                     CKR_OK);
    assert_int_equal(ohsm_mech_gen_rsa(2048, 0, &pkey), OHSM_OK);
    struct ohsm_obj pub = hsm_half(&out, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, pkey, true);
    p11_make_clear(&out);

    CK_ATTRIBUTE f[] = {ULONG(CKA_CLASS, c_pub),  ULONG(CKA_KEY_TYPE, k_rsa),
                        STR(CKA_LABEL, "pair"),   BOOL(CKA_VERIFY, true),
                        BOOL(CKA_TOKEN, false),   ULONG(CKA_MODULUS_BITS, bits2048),
                        BOOL(CKA_COPYABLE, true), BYTES(CKA_PUBLIC_EXPONENT, e65537, 3)};
    assert_int_equal(p11_attr_find_parse(f, N(f), &pre), CKR_OK);
    assert_int_equal(ohsm_tmpl_parse(pre.buf, pre.len, &ht), OHSM_OK);
    assert_int_equal(ht.n, 5); /* class, key type, label, verify, token */
    assert_true(ohsm_obj_match(&pub, &ht));
    assert_true(p11_attr_match(&pub, f, N(f)));
    assert_true(p11_attr_match(&pub, NULL, 0));

    /* What matches nothing: another value, an attribute of another class, a sensitive one,
     * an unknown type, two different values of one attribute. */
    CK_ATTRIBUTE miss[][2] = {
        {STR(CKA_LABEL, "pai"), BOOL(CKA_VERIFY, true)},
        {BOOL(CKA_SENSITIVE, false), BOOL(CKA_VERIFY, true)},
        {BYTES(CKA_VALUE, NULL, 0), BOOL(CKA_VERIFY, true)},
        {{0x7777, &yes, 1}, BOOL(CKA_VERIFY, true)},
        {BOOL(CKA_VERIFY, false), BOOL(CKA_VERIFY, true)},
        {ULONG(CKA_CLASS, c_data), BOOL(CKA_VERIFY, true)},
        {BYTES(CKA_START_DATE, "\0\0\0\0\0\0\0\0", 8), BOOL(CKA_VERIFY, true)},
    };
    for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++) {
        assert_false(p11_attr_match(&pub, miss[i], 2));
        /* The prefilter is a superset of the match: it is valid for the HSM either way. */
        assert_int_equal(p11_attr_find_parse(miss[i], 2, &pre), CKR_OK);
        assert_int_equal(ohsm_tmpl_parse(pre.buf, pre.len, &ht), OHSM_OK);
    }
    /* Shapes: a known attribute of the wrong size is invalid; an unknown one is fine. */
    uint32_t small = 1;
    CK_ATTRIBUTE bad[] = {{CKA_CLASS, &small, sizeof(small)}};
    assert_int_equal(p11_attr_find_parse(bad, 1, &pre), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(pre.len, 0);
    assert_false(p11_attr_match(&pub, bad, 1));
    CK_ATTRIBUTE nul[] = {{CKA_LABEL, NULL, 4}};
    assert_int_equal(p11_attr_find_parse(nul, 1, &pre), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE unk[] = {{0x7777, NULL, 99}};
    assert_int_equal(p11_attr_find_parse(unk, 1, &pre), CKR_OK);
    assert_int_equal(pre.len, 0);
    assert_int_equal(p11_attr_find_parse(NULL, 1, &pre), CKR_ARGUMENTS_BAD);
    assert_false(p11_attr_match(NULL, f, 1));
    ohsm_mech_pkey_free(pkey);
}

/* ---- get, match and find agree ---- */

/* For every attribute type on every kind of key: get gives OK, TYPE_INVALID or SENSITIVE; a value
 * it gives has its kind's size, matches the object, and its prefilter lets the object through. */
static void test_p11_attr_get_match_find_agree(void **state)
{
    (void)state;
    static const CK_ATTRIBUTE_TYPE all[] = {CKA_CLASS,
                                            CKA_TOKEN,
                                            CKA_PRIVATE,
                                            CKA_LABEL,
                                            CKA_MODIFIABLE,
                                            CKA_COPYABLE,
                                            CKA_DESTROYABLE,
                                            CKA_KEY_TYPE,
                                            CKA_ID,
                                            CKA_START_DATE,
                                            CKA_END_DATE,
                                            CKA_DERIVE,
                                            CKA_LOCAL,
                                            CKA_KEY_GEN_MECHANISM,
                                            CKA_CHECK_VALUE,
                                            CKA_SUBJECT,
                                            CKA_PUBLIC_KEY_INFO,
                                            CKA_ENCRYPT,
                                            CKA_VERIFY,
                                            CKA_VERIFY_RECOVER,
                                            CKA_WRAP,
                                            CKA_TRUSTED,
                                            CKA_SENSITIVE,
                                            CKA_DECRYPT,
                                            CKA_SIGN,
                                            CKA_SIGN_RECOVER,
                                            CKA_UNWRAP,
                                            CKA_EXTRACTABLE,
                                            CKA_ALWAYS_SENSITIVE,
                                            CKA_NEVER_EXTRACTABLE,
                                            CKA_WRAP_WITH_TRUSTED,
                                            CKA_ALWAYS_AUTHENTICATE,
                                            CKA_VALUE,
                                            CKA_VALUE_LEN,
                                            CKA_MODULUS,
                                            CKA_MODULUS_BITS,
                                            CKA_PUBLIC_EXPONENT,
                                            CKA_PRIVATE_EXPONENT,
                                            CKA_PRIME_1,
                                            CKA_PRIME_2,
                                            CKA_EXPONENT_1,
                                            CKA_EXPONENT_2,
                                            CKA_COEFFICIENT,
                                            CKA_EC_PARAMS,
                                            CKA_EC_POINT,
                                            CKA_APPLICATION,
                                            CKA_ALLOWED_MECHANISMS,
                                            CKA_VENDOR_DEFINED,
                                            0x7777};
    struct ohsm_obj objs[5];
    void *rsa = NULL, *ec = NULL;
    struct p11_make_out out;
    CK_ATTRIBUTE lbl[] = {STR(CKA_LABEL, "agree"), BYTES(CKA_ID, "\x07", 1),
                          ULONG(CKA_VALUE_LEN, len32)};
    uint8_t key[32] = {5};

    assert_int_equal(p11_make_parse(P11_MAKE_GENERATE, lbl, 3, CKO_SECRET_KEY, CKK_AES, &out),
                     CKR_OK);
    objs[0] = hsm_secret(&out, OHSM_KT_AES, true, key, sizeof(key));
    p11_make_clear(&out);
    assert_int_equal(ohsm_mech_gen_rsa(2048, 0, &rsa), OHSM_OK);
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P256, &ec), OHSM_OK);
    CK_ATTRIBUTE rsa_pub[] = {lbl[0], lbl[1], ULONG(CKA_MODULUS_BITS, bits2048)};
    CK_ATTRIBUTE ec_pub[] = {lbl[0], lbl[1], BYTES(CKA_EC_PARAMS, p256, sizeof(p256))};
    struct {
        CK_ATTRIBUTE *t;
        CK_ULONG n;
        enum p11_make kind;
        uint32_t cls, kt;
        void *pkey;
    } pairs[] = {
        {rsa_pub, 3, P11_MAKE_PAIR_PUBLIC, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, rsa},
        {lbl, 2, P11_MAKE_PAIR_PRIVATE, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, rsa},
        {ec_pub, 3, P11_MAKE_PAIR_PUBLIC, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec},
        {lbl, 2, P11_MAKE_PAIR_PRIVATE, OHSM_CLASS_PRIVATE, OHSM_KT_EC, ec},
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(
            p11_make_parse(pairs[i].kind, pairs[i].t, pairs[i].n, pairs[i].cls, pairs[i].kt, &out),
            CKR_OK);
        objs[1 + i] = hsm_half(&out, pairs[i].cls, pairs[i].kt, pairs[i].pkey, true);
        p11_make_clear(&out);
    }
    for (size_t k = 0; k < 5; k++) {
        size_t ok = 0;
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            uint8_t v[2048];
            CK_ATTRIBUTE a = {all[i], v, sizeof(v)};
            CK_RV rv = p11_attr_get(&objs[k], &a, 1);
            if (rv != CKR_OK) {
                assert_true(rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE);
                assert_int_equal(a.ulValueLen, UNAV);
                a.ulValueLen = 1;
                assert_false(p11_attr_match(&objs[k], &a, 1));
                continue;
            }
            ok++;
            const struct p11_adef *d = p11_attr_def(all[i]);
            assert_non_null(d);
            if (d->kind == P11K_BOOL) {
                assert_int_equal(a.ulValueLen, 1);
            } else if (d->kind == P11K_ULONG) {
                assert_int_equal(a.ulValueLen, sizeof(CK_ULONG));
            }
            struct ohsm_tmpl_buf pre;
            struct ohsm_tmpl ht;
            assert_true(p11_attr_match(&objs[k], &a, 1));
            assert_int_equal(p11_attr_find_parse(&a, 1, &pre), CKR_OK);
            assert_int_equal(ohsm_tmpl_parse(pre.buf, pre.len, &ht), OHSM_OK);
            assert_true(ohsm_obj_match(&objs[k], &ht));
        }
        assert_true(ok >= 20); /* the common and class attributes */
    }
    ohsm_mech_pkey_free(rsa);
    ohsm_mech_pkey_free(ec);
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
        cmocka_unit_test(test_p11_attr_curves),
        cmocka_unit_test(test_p11_attr_create_secret),
        cmocka_unit_test(test_p11_attr_create_rsa),
        cmocka_unit_test(test_p11_attr_create_ec),
        cmocka_unit_test(test_p11_attr_create_ec_p521),
        cmocka_unit_test(test_p11_attr_unwrap_derive),
        cmocka_unit_test(test_p11_attr_get_rules),
        cmocka_unit_test(test_p11_attr_size),
        cmocka_unit_test(test_p11_attr_set_parse),
        cmocka_unit_test(test_p11_attr_find),
        cmocka_unit_test(test_p11_attr_get_match_find_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
