/* SPDX-License-Identifier: Apache-2.0
 * Username/password rules and the two vocabularies of user types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "openhsm/user.h"

/* NULL, empty, 32 characters and bad characters are refused; 31 is accepted. */
static void test_user_name_edges(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(ohsm_username_canon(NULL, out, sizeof(out)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_username_canon("a", out, 31), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_username_canon("", out, sizeof(out)), OHSM_USERNAME_INVALID);
    assert_int_equal(ohsm_username_canon("abcdefghijklmnopqrstuvwxyz01234", out, sizeof(out)),
                     OHSM_OK);
    assert_int_equal(ohsm_username_canon("abcdefghijklmnopqrstuvwxyz012345", out, sizeof(out)),
                     OHSM_USERNAME_INVALID);
    const char *bad[] = {"a-b", "a b", "a.b", "é", "a\tb", "a;drop", "-", "user!"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ohsm_username_canon(bad[i], out, sizeof(out)), OHSM_USERNAME_INVALID);
    }
}

/* Names are case-insensitive: the canonical form is lower-case, '_' and digits kept. */
static void test_user_name_lowercase(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(ohsm_username_canon("Crypto_User_01", out, sizeof(out)), OHSM_OK);
    assert_string_equal(out, "crypto_user_01");
}

/* Passwords are 7..32 bytes, with no NUL inside. */
static void test_user_password_length(void **state)
{
    (void)state;
    assert_int_equal(ohsm_password_check(NULL, 8), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_password_check("123456", 6), OHSM_PIN_LEN_RANGE);
    assert_int_equal(ohsm_password_check("1234567", 7), OHSM_OK);
    assert_int_equal(ohsm_password_check("12345678901234567890123456789012", 32), OHSM_OK);
    assert_int_equal(ohsm_password_check("123456789012345678901234567890123", 33),
                     OHSM_PIN_LEN_RANGE);
    assert_int_equal(ohsm_password_check("1234\0" "567", 8), OHSM_PIN_LEN_RANGE);
}

/* Both vocabularies name the same four types and parse back to them. */
static void test_user_type_names(void **state)
{
    (void)state;
    enum ohsm_utype t;
    assert_string_equal(ohsm_utype_cmu_name(OHSM_UT_PRECO), "PRECO");
    assert_string_equal(ohsm_utype_cli_name(OHSM_UT_PRECO), "unactivated-admin");
    assert_string_equal(ohsm_utype_cli_name(OHSM_UT_CO), "admin");
    assert_string_equal(ohsm_utype_cmu_name(OHSM_UT_NONE), "NONE");
    assert_string_equal(ohsm_utype_cmu_name((enum ohsm_utype)99), "NONE");
    for (int i = OHSM_UT_PRECO; i <= OHSM_UT_MAX; i++) {
        assert_int_equal(ohsm_utype_from_cmu(ohsm_utype_cmu_name((enum ohsm_utype)i), &t), OHSM_OK);
        assert_int_equal(t, i);
        assert_int_equal(ohsm_utype_from_cli(ohsm_utype_cli_name((enum ohsm_utype)i), &t), OHSM_OK);
        assert_int_equal(t, i);
    }
    assert_int_equal(ohsm_utype_from_cmu("cu", &t), OHSM_OK);
    assert_int_equal(t, OHSM_UT_CU);
    assert_int_equal(ohsm_utype_from_cmu("PCO", &t), OHSM_OK);
    assert_int_equal(t, OHSM_UT_CO);
    assert_int_equal(ohsm_utype_from_cmu("ADMIN", &t), OHSM_USER_TYPE_INVALID);
    assert_int_equal(ohsm_utype_from_cli("Admin", &t), OHSM_USER_TYPE_INVALID);
    assert_int_equal(ohsm_utype_from_cli("", &t), OHSM_USER_TYPE_INVALID);
    assert_int_equal(ohsm_utype_from_cli(NULL, &t), OHSM_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_name_edges),
        cmocka_unit_test(test_user_name_lowercase),
        cmocka_unit_test(test_user_password_length),
        cmocka_unit_test(test_user_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
