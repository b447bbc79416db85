/* SPDX-License-Identifier: Apache-2.0
 * pkcs11/ckr: every ohsm_rv in every kind of call is a standard, non-OK CK_RV that makes sense
 * for an HSM error (PKCS#11 v2.40 §5.1 less the OTP, event and locking codes), and the cases
 * where PKCS#11 names a failure after the call give the call's code. */
#include "ckr.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static const CK_RV standard[] = {
    CKR_HOST_MEMORY,
    CKR_SLOT_ID_INVALID,
    CKR_GENERAL_ERROR,
    CKR_FUNCTION_FAILED,
    CKR_ARGUMENTS_BAD,
    CKR_ATTRIBUTE_READ_ONLY,
    CKR_ATTRIBUTE_SENSITIVE,
    CKR_ATTRIBUTE_TYPE_INVALID,
    CKR_ATTRIBUTE_VALUE_INVALID,
    CKR_ACTION_PROHIBITED,
    CKR_DATA_INVALID,
    CKR_DATA_LEN_RANGE,
    CKR_DEVICE_ERROR,
    CKR_DEVICE_MEMORY,
    CKR_DEVICE_REMOVED,
    CKR_ENCRYPTED_DATA_INVALID,
    CKR_ENCRYPTED_DATA_LEN_RANGE,
    CKR_FUNCTION_CANCELED,
    CKR_FUNCTION_NOT_PARALLEL,
    CKR_FUNCTION_NOT_SUPPORTED,
    CKR_KEY_HANDLE_INVALID,
    CKR_KEY_SIZE_RANGE,
    CKR_KEY_TYPE_INCONSISTENT,
    CKR_KEY_NOT_NEEDED,
    CKR_KEY_CHANGED,
    CKR_KEY_NEEDED,
    CKR_KEY_INDIGESTIBLE,
    CKR_KEY_FUNCTION_NOT_PERMITTED,
    CKR_KEY_NOT_WRAPPABLE,
    CKR_KEY_UNEXTRACTABLE,
    CKR_MECHANISM_INVALID,
    CKR_MECHANISM_PARAM_INVALID,
    CKR_OBJECT_HANDLE_INVALID,
    CKR_OPERATION_ACTIVE,
    CKR_OPERATION_NOT_INITIALIZED,
    CKR_PIN_INCORRECT,
    CKR_PIN_INVALID,
    CKR_PIN_LEN_RANGE,
    CKR_PIN_EXPIRED,
    CKR_PIN_LOCKED,
    CKR_SESSION_CLOSED,
    CKR_SESSION_COUNT,
    CKR_SESSION_HANDLE_INVALID,
    CKR_SESSION_PARALLEL_NOT_SUPPORTED,
    CKR_SESSION_READ_ONLY,
    CKR_SESSION_EXISTS,
    CKR_SESSION_READ_ONLY_EXISTS,
    CKR_SESSION_READ_WRITE_SO_EXISTS,
    CKR_SIGNATURE_INVALID,
    CKR_SIGNATURE_LEN_RANGE,
    CKR_TEMPLATE_INCOMPLETE,
    CKR_TEMPLATE_INCONSISTENT,
    CKR_TOKEN_NOT_PRESENT,
    CKR_TOKEN_NOT_RECOGNIZED,
    CKR_TOKEN_WRITE_PROTECTED,
    CKR_UNWRAPPING_KEY_HANDLE_INVALID,
    CKR_UNWRAPPING_KEY_SIZE_RANGE,
    CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
    CKR_USER_ALREADY_LOGGED_IN,
    CKR_USER_NOT_LOGGED_IN,
    CKR_USER_PIN_NOT_INITIALIZED,
    CKR_USER_TYPE_INVALID,
    CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
    CKR_USER_TOO_MANY_TYPES,
    CKR_WRAPPED_KEY_INVALID,
    CKR_WRAPPED_KEY_LEN_RANGE,
    CKR_WRAPPING_KEY_HANDLE_INVALID,
    CKR_WRAPPING_KEY_SIZE_RANGE,
    CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
    CKR_RANDOM_SEED_NOT_SUPPORTED,
    CKR_RANDOM_NO_RNG,
    CKR_DOMAIN_PARAMS_INVALID,
    CKR_CURVE_NOT_SUPPORTED,
    CKR_BUFFER_TOO_SMALL,
    CKR_SAVED_STATE_INVALID,
    CKR_INFORMATION_SENSITIVE,
    CKR_STATE_UNSAVEABLE,
    CKR_CRYPTOKI_NOT_INITIALIZED,
    CKR_CRYPTOKI_ALREADY_INITIALIZED,
    CKR_MUTEX_BAD,
    CKR_MUTEX_NOT_LOCKED,
    CKR_EXCEEDED_MAX_ITERATIONS,
    CKR_FIPS_SELF_TEST_FAILED,
    CKR_LIBRARY_LOAD_FAILED,
    CKR_PIN_TOO_WEAK,
    CKR_PUBLIC_KEY_INVALID,
    CKR_FUNCTION_REJECTED,
};

static const enum p11_ckr_ctx ctxs[] = {P11_CTX_OBJECT, P11_CTX_CRYPTO, P11_CTX_LOGIN,
                                        P11_CTX_WRAP,   P11_CTX_UNWRAP, P11_CTX_GENERATE};
#define NCTX (sizeof(ctxs) / sizeof(ctxs[0]))

static bool is_standard(CK_RV v)
{
    for (size_t i = 0; i < sizeof(standard) / sizeof(standard[0]); i++) {
        if (standard[i] == v) {
            return true;
        }
    }
    return false;
}

/* Every error code in every context: never CKR_OK, always a standard code. */
static void test_p11_ckr_every_code(void **state)
{
    (void)state;
    for (int rv = 1; rv < OHSM_RV_COUNT_ + 3; rv++) {
        for (size_t c = 0; c < NCTX; c++) {
            CK_RV v = p11_ckr((ohsm_rv)rv, ctxs[c]);
            if (v == CKR_OK || !is_standard(v)) {
                print_error("rv %s (%d) ctx %d -> 0x%lx\n", ohsm_rv_name((ohsm_rv)rv), rv,
                            (int)ctxs[c], (unsigned long)v);
                fail();
            }
        }
    }
    for (size_t c = 0; c < NCTX; c++) {
        assert_int_equal(p11_ckr(OHSM_OK, ctxs[c]), CKR_OK);
    }
    /* A context that does not exist. */
    assert_int_equal(p11_ckr(OHSM_PIN_INCORRECT, (enum p11_ckr_ctx)0), CKR_GENERAL_ERROR);
    assert_int_equal(p11_ckr(OHSM_PIN_INCORRECT, (enum p11_ckr_ctx)99), CKR_GENERAL_ERROR);
}

static void expect_all(ohsm_rv rv, CK_RV want)
{
    for (size_t c = 0; c < NCTX; c++) {
        assert_int_equal(p11_ckr(rv, ctxs[c]), want);
    }
}

/* The cases the brief and PKCS#11 name. */
static void test_p11_ckr_special(void **state)
{
    (void)state;
    /* handles: a key to crypto calls, an object to object calls, the (un)wrapping key's */
    assert_int_equal(p11_ckr(OHSM_KEY_HANDLE_INVALID, P11_CTX_CRYPTO), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(p11_ckr(OHSM_KEY_HANDLE_INVALID, P11_CTX_GENERATE), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(p11_ckr(OHSM_KEY_HANDLE_INVALID, P11_CTX_OBJECT), CKR_OBJECT_HANDLE_INVALID);
    assert_int_equal(p11_ckr(OHSM_KEY_HANDLE_INVALID, P11_CTX_WRAP),
                     CKR_WRAPPING_KEY_HANDLE_INVALID);
    assert_int_equal(p11_ckr(OHSM_KEY_HANDLE_INVALID, P11_CTX_UNWRAP),
                     CKR_UNWRAPPING_KEY_HANDLE_INVALID);
    /* transport: a device error everywhere (CKR_DEVICE_REMOVED is the caller's, knowing no HSM
     * is reachable) */
    expect_all(OHSM_TIMEOUT, CKR_DEVICE_ERROR);
    expect_all(OHSM_NOT_CONNECTED, CKR_DEVICE_ERROR);
    expect_all(OHSM_IO, CKR_DEVICE_ERROR);
    expect_all(OHSM_TLS, CKR_DEVICE_ERROR);
    assert_true(p11_ckr_is_transport(OHSM_TIMEOUT));
    assert_true(p11_ckr_is_transport(OHSM_NOT_CONNECTED));
    assert_true(p11_ckr_is_transport(OHSM_IO));
    assert_false(p11_ckr_is_transport(OHSM_DEVICE_ERROR));
    assert_false(p11_ckr_is_transport(OHSM_PIN_INCORRECT));
    assert_false(p11_ckr_is_transport(OHSM_OK));
    /* login */
    expect_all(OHSM_USER_NOT_LOGGED_IN, CKR_USER_NOT_LOGGED_IN);
    expect_all(OHSM_PIN_LOCKED, CKR_PIN_LOCKED);
    expect_all(OHSM_PIN_INCORRECT, CKR_PIN_INCORRECT);
    expect_all(OHSM_SESSION_COUNT, CKR_SESSION_COUNT);
    expect_all(OHSM_USER_TYPE_INVALID, CKR_USER_TYPE_INVALID);
    expect_all(OHSM_USER_ALREADY_LOGGED_IN, CKR_USER_ALREADY_LOGGED_IN);
    assert_int_equal(p11_ckr(OHSM_USER_NOT_FOUND, P11_CTX_LOGIN), CKR_PIN_INCORRECT);
    assert_int_equal(p11_ckr(OHSM_USERNAME_INVALID, P11_CTX_LOGIN), CKR_PIN_INVALID);
    assert_int_equal(p11_ckr(OHSM_NOT_ACTIVATED, P11_CTX_LOGIN), CKR_USER_PIN_NOT_INITIALIZED);
    assert_int_equal(p11_ckr(OHSM_MFA_REQUIRED, P11_CTX_LOGIN), CKR_ACTION_PROHIBITED);
    /* keys */
    assert_int_equal(p11_ckr(OHSM_KEY_UNEXTRACTABLE, P11_CTX_WRAP), CKR_KEY_UNEXTRACTABLE);
    assert_int_equal(p11_ckr(OHSM_KEY_UNEXTRACTABLE, P11_CTX_CRYPTO), CKR_KEY_UNEXTRACTABLE);
    assert_int_equal(p11_ckr(OHSM_KEY_UNEXTRACTABLE, P11_CTX_OBJECT), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(p11_ckr(OHSM_KEY_FUNCTION_NOT_PERMITTED, P11_CTX_CRYPTO),
                     CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(p11_ckr(OHSM_KEY_FUNCTION_NOT_PERMITTED, P11_CTX_WRAP),
                     CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(p11_ckr(OHSM_KEY_TYPE_INCONSISTENT, P11_CTX_CRYPTO),
                     CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(p11_ckr(OHSM_KEY_TYPE_INCONSISTENT, P11_CTX_WRAP),
                     CKR_WRAPPING_KEY_TYPE_INCONSISTENT);
    assert_int_equal(p11_ckr(OHSM_KEY_TYPE_INCONSISTENT, P11_CTX_UNWRAP),
                     CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
    assert_int_equal(p11_ckr(OHSM_KEY_SIZE_RANGE, P11_CTX_WRAP), CKR_WRAPPING_KEY_SIZE_RANGE);
    assert_int_equal(p11_ckr(OHSM_KEY_SIZE_RANGE, P11_CTX_GENERATE), CKR_KEY_SIZE_RANGE);
    /* data: the wrapped key's to C_UnwrapKey, the key to wrap's size to C_WrapKey */
    assert_int_equal(p11_ckr(OHSM_WRAPPED_KEY_INVALID, P11_CTX_UNWRAP), CKR_WRAPPED_KEY_INVALID);
    assert_int_equal(p11_ckr(OHSM_ENCRYPTED_DATA_INVALID, P11_CTX_UNWRAP), CKR_WRAPPED_KEY_INVALID);
    assert_int_equal(p11_ckr(OHSM_ENCRYPTED_DATA_LEN_RANGE, P11_CTX_UNWRAP),
                     CKR_WRAPPED_KEY_LEN_RANGE);
    assert_int_equal(p11_ckr(OHSM_DATA_LEN_RANGE, P11_CTX_UNWRAP), CKR_WRAPPED_KEY_LEN_RANGE);
    assert_int_equal(p11_ckr(OHSM_DATA_LEN_RANGE, P11_CTX_WRAP), CKR_KEY_SIZE_RANGE);
    assert_int_equal(p11_ckr(OHSM_DATA_LEN_RANGE, P11_CTX_CRYPTO), CKR_DATA_LEN_RANGE);
    assert_int_equal(p11_ckr(OHSM_ENCRYPTED_DATA_INVALID, P11_CTX_CRYPTO),
                     CKR_ENCRYPTED_DATA_INVALID);
    assert_int_equal(p11_ckr(OHSM_SIGNATURE_INVALID, P11_CTX_CRYPTO), CKR_SIGNATURE_INVALID);
    expect_all(OHSM_BUFFER_TOO_SMALL, CKR_BUFFER_TOO_SMALL);
    expect_all(OHSM_MECHANISM_INVALID, CKR_MECHANISM_INVALID);
    expect_all(OHSM_MECHANISM_PARAM_INVALID, CKR_MECHANISM_PARAM_INVALID);
    /* templates and objects */
    expect_all(OHSM_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCONSISTENT);
    expect_all(OHSM_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_READ_ONLY);
    expect_all(OHSM_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_TYPE_INVALID);
    expect_all(OHSM_ATTRIBUTE_VALUE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID);
    expect_all(OHSM_OBJECT_TOO_MANY, CKR_DEVICE_MEMORY);
    expect_all(OHSM_ACCESS_DENIED, CKR_ACTION_PROHIBITED);
    expect_all(OHSM_KEY_NOT_OWNER, CKR_ACTION_PROHIBITED);
    expect_all(OHSM_HOST_MEMORY, CKR_HOST_MEMORY);
    expect_all(OHSM_ARGUMENTS_BAD, CKR_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p11_ckr_every_code),
        cmocka_unit_test(test_p11_ckr_special),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
