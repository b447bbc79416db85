/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-kmu's error table (src/kmu/errs.c): every ohsm_rv has a code and a text,
 * the codes the AWS guide shows are the guide's, openhsm's own codes sit in their own range, a code
 * maps back to one text (Error2String), and out-of-range values do not crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kmu/errs.h"

/* Every code has a row with a code and an "HSM ..."/"CSP ..." text. */
static void test_kmu_errs_every_rv_has_a_row(void **state)
{
    (void)state;
    for (int rv = 0; rv < OHSM_RV_COUNT_; rv++) {
        const char *t = ohsm_kmu_text((ohsm_rv)rv);
        assert_non_null(t);
        assert_true(strncmp(t, "HSM ", 4) == 0 || strncmp(t, "CSP ", 4) == 0);
        assert_true(rv == OHSM_OK ? ohsm_kmu_code((ohsm_rv)rv) == 0
                                  : ohsm_kmu_code((ohsm_rv)rv) != 0);
    }
}

/* The guide's codes and texts. */
static void test_kmu_errs_guide_codes(void **state)
{
    (void)state;
    assert_int_equal(ohsm_kmu_code(OHSM_OK), 0x00);
    assert_string_equal(ohsm_kmu_text(OHSM_OK), "HSM Return: SUCCESS");
    assert_int_equal(ohsm_kmu_code(OHSM_KEY_NOT_OWNER), 0xc6);
    assert_string_equal(ohsm_kmu_text(OHSM_KEY_NOT_OWNER), "HSM Error: Key Access is denied");
    assert_int_equal(ohsm_kmu_code(OHSM_USER_TYPE_INVALID), 0xdb);
    assert_int_equal(ohsm_kmu_code(OHSM_KEY_SIZE_RANGE), 0xb3);
    assert_non_null(strstr(ohsm_kmu_text(OHSM_KEY_SIZE_RANGE), "configured/FIPS policies"));
    assert_int_equal(ohsm_kmu_code(OHSM_SIGNATURE_INVALID), 0x1b);
    assert_string_equal(ohsm_kmu_text(OHSM_SIGNATURE_INVALID), "CSP Error: ERR_BAD_PKCS_DATA");
    assert_int_equal(ohsm_kmu_code(OHSM_KEY_HANDLE_INVALID), 0xa8);
    assert_int_equal(ohsm_kmu_code(OHSM_PIN_INCORRECT), 0xa3);
    assert_int_equal(ohsm_kmu_code(OHSM_NOT_CONNECTED), 0x30000085);
    assert_int_equal(ohsm_kmu_code(OHSM_TIMEOUT), 0x30000085);
    assert_string_equal(ohsm_kmu_text(OHSM_NOT_CONNECTED),
                        "HSM CLUSTER ERROR: Server in cluster is unavailable");
}

/* Conditions the guide never shows get codes in openhsm's own range, never a guide code. */
static void test_kmu_errs_own_range(void **state)
{
    (void)state;
    assert_int_equal(ohsm_kmu_code(OHSM_KEY_FUNCTION_NOT_PERMITTED),
                     OHSM_KMU_OWN_BASE + OHSM_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(ohsm_kmu_code(OHSM_KEY_UNEXTRACTABLE),
                     OHSM_KMU_OWN_BASE + OHSM_KEY_UNEXTRACTABLE);
    for (int rv = 1; rv < OHSM_RV_COUNT_; rv++) {
        uint32_t c = ohsm_kmu_code((ohsm_rv)rv);
        assert_true(c <= 0xff || c == 0x30000085 || c == OHSM_KMU_OWN_BASE + (uint32_t)rv);
    }
}

/* A code maps back to the text of its rows (Error2String); rows sharing a code share a text. */
static void test_kmu_errs_reverse(void **state)
{
    (void)state;
    const char *t = NULL;
    for (int rv = 0; rv < OHSM_RV_COUNT_; rv++) {
        assert_true(ohsm_kmu_text_of(ohsm_kmu_code((ohsm_rv)rv), &t));
        assert_string_equal(t, ohsm_kmu_text((ohsm_rv)rv));
    }
    assert_true(ohsm_kmu_text_of(0xdb, &t));
    assert_string_equal(t, "HSM Error: Invalid User Type.");
    assert_false(ohsm_kmu_text_of(0x77, &t));
    assert_false(ohsm_kmu_text_of(OHSM_KMU_OWN_BASE + OHSM_RV_COUNT_, &t));
}

/* Codes print as the returned line shows them. */
static void test_kmu_errs_code_str(void **state)
{
    (void)state;
    char b[16];
    ohsm_kmu_code_str(0, b, sizeof(b));
    assert_string_equal(b, "0x00");
    ohsm_kmu_code_str(0xc6, b, sizeof(b));
    assert_string_equal(b, "0xc6");
    ohsm_kmu_code_str(0x30000085, b, sizeof(b));
    assert_string_equal(b, "0x30000085");
    ohsm_kmu_code_str(0x1b, b, 3); /* truncated, still terminated */
    assert_int_equal(strlen(b), 2);
}

/* Values beyond the enum fall back without reading outside the table. */
static void test_kmu_errs_out_of_range(void **state)
{
    (void)state;
    assert_int_equal(ohsm_kmu_code((ohsm_rv)OHSM_RV_COUNT_),
                     OHSM_KMU_OWN_BASE + (uint32_t)OHSM_RV_COUNT_);
    assert_string_equal(ohsm_kmu_text((ohsm_rv)9999), "HSM Error: Unknown error");
    assert_string_equal(ohsm_kmu_text((ohsm_rv)-1), "HSM Error: Unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmu_errs_every_rv_has_a_row),
        cmocka_unit_test(test_kmu_errs_guide_codes),
        cmocka_unit_test(test_kmu_errs_own_range),
        cmocka_unit_test(test_kmu_errs_reverse),
        cmocka_unit_test(test_kmu_errs_code_str),
        cmocka_unit_test(test_kmu_errs_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
