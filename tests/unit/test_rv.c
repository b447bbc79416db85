/* SPDX-License-Identifier: Apache-2.0
 * The error table: every code has a distinct name and a message; unknown codes are safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "openhsm/rv.h"

/* Every code up to the count has its own OHSM_ name and a non-empty message. */
static void test_rv_every_code_named(void **state)
{
    (void)state;
    for (int i = 0; i < OHSM_RV_COUNT_; i++) {
        const char *n = ohsm_rv_name((ohsm_rv)i);
        assert_non_null(strstr(n, "OHSM_"));
        assert_string_not_equal(n, "OHSM_UNKNOWN");
        assert_true(strlen(ohsm_rv_str((ohsm_rv)i)) > 0);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(n, ohsm_rv_name((ohsm_rv)j));
        }
    }
}

/* Out-of-range codes map to a generic row; OK maps to CKR_OK and exit 0, others non-zero. */
static void test_rv_unknown_and_mappings(void **state)
{
    (void)state;
    assert_string_equal(ohsm_rv_name(OHSM_RV_COUNT_), "OHSM_UNKNOWN");
    assert_string_equal(ohsm_rv_name((ohsm_rv)-1), "OHSM_UNKNOWN");
    assert_int_equal(ohsm_rv_ckr(OHSM_OK), 0);
    assert_int_equal(ohsm_rv_exit(OHSM_OK), 0);
    assert_int_equal(ohsm_rv_ckr(OHSM_PIN_INCORRECT), 0xA0);
    assert_int_equal(ohsm_rv_ckr(OHSM_PIN_LOCKED), 0xA4);
    assert_int_not_equal(ohsm_rv_exit(OHSM_PIN_LOCKED), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rv_unknown_and_mappings),
        cmocka_unit_test(test_rv_every_code_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
