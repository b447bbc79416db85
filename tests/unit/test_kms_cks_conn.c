/* SPDX-License-Identifier: Apache-2.0
 * The CloudHSM key stores' connection pieces (src/kms/cks_conn.c, cks_types.c): kmsuser's
 * rotated password is 32 characters of [A-Za-z0-9] and differs each time; the ConnectionErrorCode
 * of a refused login from the HSMs' answers; backing key ids are 64 hex characters fixed by the
 * KMS key id; every state and error code has AWS's name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kms/cks_int.h"
#include "kms/kcrypto.h"

static void test_kms_cks_conn_password(void **state)
{
    char a[OHSM_KMS_CKS_PW_MAX + 1], b[OHSM_KMS_CKS_PW_MAX + 1];
    unsigned seen[128] = {0};
    (void)state;
    for (int round = 0; round < 64; round++) {
        assert_int_equal(ohsm_kms_random_password(a), OHSM_OK);
        assert_int_equal(strlen(a), 32);
        for (size_t i = 0; i < 32; i++) {
            char c = a[i];
            assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9'));
            seen[(unsigned char)c]++;
        }
    }
    /* 2048 draws over 62 symbols: every class shows up */
    assert_true(seen['A'] + seen['Z'] + seen['m'] + seen['0'] + seen['9'] > 0);
    size_t distinct = 0;
    for (size_t i = 0; i < 128; i++) {
        distinct += seen[i] != 0;
    }
    assert_true(distinct >= 55);
    assert_int_equal(ohsm_kms_random_password(b), OHSM_OK);
    assert_string_not_equal(a, b);
}

static void test_kms_cks_conn_login_code(void **state)
{
    struct ohsm_result r[3];
    (void)state;
    struct {
        ohsm_rv a, b, c, overall;
        uint32_t want;
    } cases[] = {
        {OHSM_PIN_INCORRECT, OHSM_PIN_INCORRECT, OHSM_PIN_INCORRECT, OHSM_PIN_INCORRECT,
         OHSM_CKSE_INVALID_CREDENTIALS},
        {OHSM_OK, OHSM_PIN_LOCKED, OHSM_OK, OHSM_PIN_LOCKED, OHSM_CKSE_USER_LOCKED_OUT},
        {OHSM_USER_NOT_FOUND, OHSM_OK, OHSM_OK, OHSM_USER_NOT_FOUND, OHSM_CKSE_USER_NOT_FOUND},
        {OHSM_USER_TYPE_INVALID, OHSM_OK, OHSM_OK, OHSM_USER_TYPE_INVALID,
         OHSM_CKSE_USER_NOT_FOUND},
        {OHSM_MFA_REQUIRED, OHSM_MFA_REQUIRED, OHSM_OK, OHSM_MFA_REQUIRED,
         OHSM_CKSE_INVALID_CREDENTIALS},
        /* a lost connection does not hide a refusal elsewhere */
        {OHSM_NOT_CONNECTED, OHSM_PIN_INCORRECT, OHSM_OK, OHSM_NOT_CONNECTED,
         OHSM_CKSE_INVALID_CREDENTIALS},
        {OHSM_NOT_CONNECTED, OHSM_TIMEOUT, OHSM_TLS, OHSM_NOT_CONNECTED,
         OHSM_CKSE_NETWORK_ERRORS},
        {OHSM_SESSION_COUNT, OHSM_OK, OHSM_OK, OHSM_SESSION_COUNT, OHSM_CKSE_INTERNAL_ERROR},
        {OHSM_OK, OHSM_OK, OHSM_OK, OHSM_DEVICE_ERROR, OHSM_CKSE_INTERNAL_ERROR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r[0].rv = cases[i].a;
        r[1].rv = cases[i].b;
        r[2].rv = cases[i].c;
        assert_int_equal(ohsm_kms_cks_login_code(r, 3, cases[i].overall), cases[i].want);
    }
}

static void test_kms_cks_conn_backing_id_and_names(void **state)
{
    char a[65], b[65], c[65];
    (void)state;
    ohsm_kms_cks_backing_id("0d5c1a1e-1111-4a4a-8b8b-123456789abc", a);
    ohsm_kms_cks_backing_id("0d5c1a1e-1111-4a4a-8b8b-123456789abc", b);
    ohsm_kms_cks_backing_id("0d5c1a1e-1111-4a4a-8b8b-123456789abd", c);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);

    const char *states[] = {"DISCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING", "FAILED"};
    for (uint32_t i = 0; i < OHSM_CKS_STATE_COUNT_; i++) {
        assert_string_equal(ohsm_kms_cks_state_name(i), states[i]);
    }
    assert_null(ohsm_kms_cks_state_name(OHSM_CKS_STATE_COUNT_));
    const char *codes[] = {"CLUSTER_NOT_FOUND", "INSUFFICIENT_CLOUDHSM_HSMS",
                           "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET", "INTERNAL_ERROR",
                           "INVALID_CREDENTIALS", "NETWORK_ERRORS", "SUBNET_NOT_FOUND",
                           "USER_LOCKED_OUT", "USER_LOGGED_IN", "USER_NOT_FOUND"};
    assert_null(ohsm_kms_cks_error_name(OHSM_CKSE_NONE));
    for (uint32_t i = 1; i < OHSM_CKSE_COUNT_; i++) {
        assert_string_equal(ohsm_kms_cks_error_name(i), codes[i - 1]);
    }
    assert_null(ohsm_kms_cks_error_name(OHSM_CKSE_COUNT_));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kms_cks_conn_password),
        cmocka_unit_test(test_kms_cks_conn_login_code),
        cmocka_unit_test(test_kms_cks_conn_backing_id_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
