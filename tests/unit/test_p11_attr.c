/* SPDX-License-Identifier: Apache-2.0
 * PKCS#11 attribute templates of src/pkcs11/attr.c: EC parameters (DER OIDs and printable names),
 * C_SetAttributeValue / C_CopyObject templates and their round trip through the HSM's set rules,
 * C_FindObjects prefilters and matching, and get / match / find agreeing on every attribute of
 * every kind of key. The object-making templates are in test_p11_attr_make.c, C_CreateObject
 * material in test_p11_attr_key.c, C_GetAttributeValue in test_p11_attr_get.c. */
#include "p11_attr_fixture.h"

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
        cmocka_unit_test(test_p11_attr_curves),
        cmocka_unit_test(test_p11_attr_set_parse),
        cmocka_unit_test(test_p11_attr_find),
        cmocka_unit_test(test_p11_attr_get_match_find_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
