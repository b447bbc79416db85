/* SPDX-License-Identifier: Apache-2.0
 * C_GetAttributeValue and C_GetObjectSize (src/pkcs11/attr_get.c): every attribute of a template
 * is processed with its own outcome (too small, sensitive, unknown, not of this key, length query)
 * and one of the codes is returned; the object size is the HSM record's. */
#include "p11_attr_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p11_attr_get_rules),
        cmocka_unit_test(test_p11_attr_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
