/* SPDX-License-Identifier: Apache-2.0
 *
 * The CKR table: one row per ohsm_rv with the CK_RV of every kind of call (PKCS#11 v2.40 §5 and
 * each function's list of return values). A row gives its base value and, where PKCS#11 names
 * the failure after the call, the value for that call kind. Codes added to rv.h after this table
 * fall back to core's ohsm_rv_ckr. Data only; no state.
 */
#include "ckr.h"

#include <stddef.h>

struct ckr_row {
    CK_RV base;
    CK_RV ctx[P11_CTX_GENERATE + 1]; /* 0: base */
};

#define OBJ(v) [P11_CTX_OBJECT] = (v)
#define CRY(v) [P11_CTX_CRYPTO] = (v)
#define LOG(v) [P11_CTX_LOGIN] = (v)
#define WRP(v) [P11_CTX_WRAP] = (v)
#define UNW(v) [P11_CTX_UNWRAP] = (v)
#define GEN(v) [P11_CTX_GENERATE] = (v)

/* Policy refusals (role, quorum, MFA, ownership) are CKR_ACTION_PROHIBITED (v2.40 §5.1.6: "the
 * action may not be taken ... because of underlying policy restrictions on the token"); the
 * HSM's own failures and cluster-internal ones (masked objects, handles, sync) are
 * CKR_DEVICE_ERROR, since the application can do nothing about them. */
static const struct ckr_row rows[OHSM_RV_COUNT_] = {
    [OHSM_ARGUMENTS_BAD] = {CKR_ARGUMENTS_BAD, {0}},
    [OHSM_HOST_MEMORY] = {CKR_HOST_MEMORY, {0}},
    [OHSM_DATA_LEN_RANGE] = {CKR_DATA_LEN_RANGE,
                             {WRP(CKR_KEY_SIZE_RANGE), UNW(CKR_WRAPPED_KEY_LEN_RANGE)}},
    [OHSM_BUFFER_TOO_SMALL] = {CKR_BUFFER_TOO_SMALL, {0}},
    [OHSM_PIN_INCORRECT] = {CKR_PIN_INCORRECT, {0}},
    [OHSM_PIN_LOCKED] = {CKR_PIN_LOCKED, {0}},
    [OHSM_PIN_LEN_RANGE] = {CKR_PIN_LEN_RANGE, {0}},
    /* A username that cannot exist: the PIN ("user:password") has characters it may not have. */
    [OHSM_USERNAME_INVALID] = {CKR_ARGUMENTS_BAD, {LOG(CKR_PIN_INVALID)}},
    [OHSM_USER_TYPE_INVALID] = {CKR_USER_TYPE_INVALID, {0}},
    [OHSM_USER_NOT_LOGGED_IN] = {CKR_USER_NOT_LOGGED_IN, {0}},
    [OHSM_USER_ALREADY_LOGGED_IN] = {CKR_USER_ALREADY_LOGGED_IN, {0}},
    /* No user enumeration through C_Login: an unknown user is a wrong PIN. */
    [OHSM_USER_NOT_FOUND] = {CKR_ARGUMENTS_BAD, {LOG(CKR_PIN_INCORRECT)}},
    [OHSM_USER_EXISTS] = {CKR_ARGUMENTS_BAD, {0}},
    [OHSM_USER_TOO_MANY] = {CKR_FUNCTION_FAILED, {0}},
    [OHSM_ACCESS_DENIED] = {CKR_ACTION_PROHIBITED, {0}},
    /* Before activation nobody can be logged in; C_Login sees a token without a user PIN. */
    [OHSM_NOT_ACTIVATED] = {CKR_USER_NOT_LOGGED_IN, {LOG(CKR_USER_PIN_NOT_INITIALIZED)}},
    [OHSM_LAST_ADMIN] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_DELETE_SELF] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_SESSION_COUNT] = {CKR_SESSION_COUNT, {0}},
    [OHSM_KEY_HANDLE_INVALID] = {CKR_KEY_HANDLE_INVALID,
                                 {OBJ(CKR_OBJECT_HANDLE_INVALID),
                                  WRP(CKR_WRAPPING_KEY_HANDLE_INVALID),
                                  UNW(CKR_UNWRAPPING_KEY_HANDLE_INVALID)}},
    [OHSM_SIGNATURE_INVALID] = {CKR_SIGNATURE_INVALID, {0}},
    [OHSM_DEVICE_ERROR] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_IO] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_PROTOCOL] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_TLS] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_DB] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_TIMEOUT] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_NOT_CONNECTED] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_CONFIG] = {CKR_GENERAL_ERROR, {0}},
    [OHSM_ALREADY_ACTIVATED] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_ATTRIBUTE_TYPE_INVALID] = {CKR_ATTRIBUTE_TYPE_INVALID, {0}},
    [OHSM_ATTRIBUTE_VALUE_INVALID] = {CKR_ATTRIBUTE_VALUE_INVALID, {0}},
    [OHSM_ATTRIBUTE_READ_ONLY] = {CKR_ATTRIBUTE_READ_ONLY, {0}},
    /* Object calls: CKA_COPYABLE / CKA_DESTROYABLE / CKA_MODIFIABLE false (v3.0 §5.7). */
    [OHSM_KEY_FUNCTION_NOT_PERMITTED] = {CKR_KEY_FUNCTION_NOT_PERMITTED,
                                         {OBJ(CKR_ACTION_PROHIBITED)}},
    /* C_GetAttributeValue of a sensitive or unextractable key's value: v2.40 §5.7.5. */
    [OHSM_KEY_UNEXTRACTABLE] = {CKR_KEY_UNEXTRACTABLE, {OBJ(CKR_ATTRIBUTE_SENSITIVE)}},
    [OHSM_KEY_SIZE_RANGE] = {CKR_KEY_SIZE_RANGE,
                             {WRP(CKR_WRAPPING_KEY_SIZE_RANGE), UNW(CKR_WRAPPED_KEY_INVALID),
                              OBJ(CKR_ATTRIBUTE_VALUE_INVALID)}},
    [OHSM_MECHANISM_INVALID] = {CKR_MECHANISM_INVALID, {0}},
    [OHSM_MECHANISM_PARAM_INVALID] = {CKR_MECHANISM_PARAM_INVALID, {0}},
    [OHSM_ENCRYPTED_DATA_INVALID] = {CKR_ENCRYPTED_DATA_INVALID, {UNW(CKR_WRAPPED_KEY_INVALID)}},
    [OHSM_ENCRYPTED_DATA_LEN_RANGE] = {CKR_ENCRYPTED_DATA_LEN_RANGE,
                                       {UNW(CKR_WRAPPED_KEY_LEN_RANGE)}},
    [OHSM_KEY_TYPE_INCONSISTENT] = {CKR_KEY_TYPE_INCONSISTENT,
                                    {WRP(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
                                     UNW(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
                                     OBJ(CKR_TEMPLATE_INCONSISTENT)}},
    [OHSM_WRAPPED_KEY_INVALID] = {CKR_WRAPPED_KEY_INVALID, {CRY(CKR_ENCRYPTED_DATA_INVALID)}},
    [OHSM_MASKED_OBJECT_INVALID] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_OBJECT_EXISTS] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_OBJECT_TOO_MANY] = {CKR_DEVICE_MEMORY, {0}},
    [OHSM_TEMPLATE_INCONSISTENT] = {CKR_TEMPLATE_INCONSISTENT, {0}},
    [OHSM_KEY_NOT_OWNER] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_KEY_AMBIGUOUS] = {CKR_ARGUMENTS_BAD, {0}},
    [OHSM_USER_OWNS_KEYS] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_NOT_SYNCED] = {CKR_DEVICE_ERROR, {0}},
    [OHSM_DATA_INVALID] = {CKR_DATA_INVALID,
                           {UNW(CKR_WRAPPED_KEY_INVALID), OBJ(CKR_ATTRIBUTE_VALUE_INVALID),
                            GEN(CKR_ATTRIBUTE_VALUE_INVALID)}},
    /* A user with MFA logs in with a token signature, which C_Login cannot carry. */
    [OHSM_MFA_REQUIRED] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_MFA_NOT_ENABLED] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_TOKEN_INVALID] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_TOKEN_EXPIRED] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_TOKEN_NOT_FOUND] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_QUORUM_REQUIRED] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_QUORUM_INSUFFICIENT] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_QUORUM_TOKEN_EXISTS] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_PUBLIC_KEY_INVALID] = {CKR_DATA_INVALID, {0}},
    [OHSM_QUORUM_VALUE_INVALID] = {CKR_ARGUMENTS_BAD, {0}},
    [OHSM_USER_LOGGED_IN] = {CKR_ACTION_PROHIBITED, {0}},
    [OHSM_USER_RECORD_STALE] = {CKR_DEVICE_ERROR, {0}},
};

CK_RV p11_ckr(ohsm_rv rv, enum p11_ckr_ctx ctx)
{
    if (rv == OHSM_OK) {
        return CKR_OK;
    }
    if (ctx < P11_CTX_OBJECT || ctx > P11_CTX_GENERATE) {
        return CKR_GENERAL_ERROR;
    }
    if ((unsigned)rv >= OHSM_RV_COUNT_ || rows[rv].base == CKR_OK) {
        /* A code newer than this table: core's value, which is never 0 for an error. */
        unsigned long c = ohsm_rv_ckr(rv);
        return c == CKR_OK ? CKR_GENERAL_ERROR : c;
    }
    CK_RV v = rows[rv].ctx[ctx];
    return v != CKR_OK ? v : rows[rv].base;
}

bool p11_ckr_is_transport(ohsm_rv rv)
{
    return rv == OHSM_TIMEOUT || rv == OHSM_NOT_CONNECTED || rv == OHSM_IO || rv == OHSM_TLS ||
           rv == OHSM_PROTOCOL;
}
