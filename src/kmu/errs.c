/* SPDX-License-Identifier: Apache-2.0
 *
 * The key_mgmt_util error table (see errs.h). Rows marked "guide" carry the code and text the AWS
 * CloudHSM user guide shows for that condition (key_mgmt_util command pages, Error2String, the
 * audit log reference); every other row uses openhsm's own code range. Trusts nothing: unknown
 * values fall back to an own-range code and a generic text.
 */
#include "kmu/errs.h"

#include <stdio.h>

/* The guide's cluster-level code for an HSM the client cannot reach (genECCKeyPair page). */
#define CLUSTER_UNAVAILABLE 0x30000085u
#define OWN(rv) (OHSM_KMU_OWN_BASE + (uint32_t)(rv))

struct row {
    uint32_t code;
    const char *text;
};

static const struct row rows[OHSM_RV_COUNT_] = {
    [OHSM_OK] = {0x00, "HSM Return: SUCCESS"}, /* guide */
    [OHSM_ARGUMENTS_BAD] = {OWN(OHSM_ARGUMENTS_BAD), "HSM Error: Invalid arguments"},
    [OHSM_HOST_MEMORY] = {OWN(OHSM_HOST_MEMORY), "HSM Error: Out of memory"},
    [OHSM_DATA_LEN_RANGE] = {OWN(OHSM_DATA_LEN_RANGE), "HSM Error: Data length out of range"},
    [OHSM_BUFFER_TOO_SMALL] = {OWN(OHSM_BUFFER_TOO_SMALL), "HSM Error: Buffer too small"},
    /* guide (audit log reference: 163) */
    [OHSM_PIN_INCORRECT] = {0xa3, "HSM Error: RET_USER_LOGIN_FAILURE"},
    [OHSM_PIN_LOCKED] = {OWN(OHSM_PIN_LOCKED),
                         "HSM Error: User is locked out after too many failed login attempts"},
    [OHSM_PIN_LEN_RANGE] = {OWN(OHSM_PIN_LEN_RANGE),
                            "HSM Error: Password must be 7 to 32 characters"},
    [OHSM_USERNAME_INVALID] = {OWN(OHSM_USERNAME_INVALID),
                               "HSM Error: Username must be 1 to 31 letters, digits or "
                               "underscores"},
    [OHSM_USER_TYPE_INVALID] = {0xdb, "HSM Error: Invalid User Type."}, /* guide */
    [OHSM_USER_NOT_LOGGED_IN] = {OWN(OHSM_USER_NOT_LOGGED_IN), "HSM Error: User is not logged in"},
    [OHSM_USER_ALREADY_LOGGED_IN] = {OWN(OHSM_USER_ALREADY_LOGGED_IN),
                                     "HSM Error: A user is already logged in"},
    /* guide (audit log reference: 157) */
    [OHSM_USER_NOT_FOUND] = {0x9d,
                             "HSM Error: user isn't initialized or user with this name doesn't "
                             "exist"},
    [OHSM_USER_EXISTS] = {OWN(OHSM_USER_EXISTS), "HSM Error: User already exists"},
    [OHSM_USER_TOO_MANY] = {OWN(OHSM_USER_TOO_MANY), "HSM Error: Maximum number of users reached"},
    [OHSM_ACCESS_DENIED] = {OWN(OHSM_ACCESS_DENIED),
                            "HSM Error: This user type may not perform this operation"},
    [OHSM_NOT_ACTIVATED] = {OWN(OHSM_NOT_ACTIVATED), "HSM Error: The cluster is not activated"},
    [OHSM_LAST_ADMIN] = {OWN(OHSM_LAST_ADMIN), "HSM Error: Cannot delete the last admin user"},
    [OHSM_DELETE_SELF] = {OWN(OHSM_DELETE_SELF),
                          "HSM Error: Cannot delete the user who is logged in"},
    [OHSM_SESSION_COUNT] = {OWN(OHSM_SESSION_COUNT), "HSM Error: No sessions available on the HSM"},
    /* guide (deleteKey page) */
    [OHSM_KEY_HANDLE_INVALID] = {0xa8, "HSM Error: Invalid object handle is passed to this "
                                       "operation"},
    [OHSM_SIGNATURE_INVALID] = {0x1b, "CSP Error: ERR_BAD_PKCS_DATA"}, /* guide (verify) */
    [OHSM_DEVICE_ERROR] = {OWN(OHSM_DEVICE_ERROR), "HSM Error: Internal HSM error"},
    [OHSM_IO] = {OWN(OHSM_IO), "HSM Error: Input/output error"},
    [OHSM_PROTOCOL] = {OWN(OHSM_PROTOCOL), "HSM Error: Malformed message"},
    [OHSM_TLS] = {OWN(OHSM_TLS), "HSM Error: TLS failure talking to the HSM"},
    [OHSM_DB] = {OWN(OHSM_DB), "HSM Error: HSM storage error"},
    /* guide (genECCKeyPair page): an HSM that does not answer */
    [OHSM_TIMEOUT] = {CLUSTER_UNAVAILABLE, "HSM CLUSTER ERROR: Server in cluster is unavailable"},
    [OHSM_NOT_CONNECTED] = {CLUSTER_UNAVAILABLE,
                            "HSM CLUSTER ERROR: Server in cluster is unavailable"},
    [OHSM_CONFIG] = {OWN(OHSM_CONFIG), "HSM Error: Invalid cluster configuration"},
    [OHSM_ALREADY_ACTIVATED] = {OWN(OHSM_ALREADY_ACTIVATED),
                                "HSM Error: The cluster is already activated"},
    [OHSM_ATTRIBUTE_TYPE_INVALID] = {OWN(OHSM_ATTRIBUTE_TYPE_INVALID),
                                     "HSM Error: Invalid attribute for this key"},
    [OHSM_ATTRIBUTE_VALUE_INVALID] = {OWN(OHSM_ATTRIBUTE_VALUE_INVALID),
                                      "HSM Error: Invalid attribute value"},
    [OHSM_ATTRIBUTE_READ_ONLY] = {OWN(OHSM_ATTRIBUTE_READ_ONLY),
                                  "HSM Error: Attribute cannot be modified"},
    [OHSM_KEY_FUNCTION_NOT_PERMITTED] = {OWN(OHSM_KEY_FUNCTION_NOT_PERMITTED),
                                         "HSM Error: The key's attributes do not permit this "
                                         "operation"},
    [OHSM_KEY_UNEXTRACTABLE] = {OWN(OHSM_KEY_UNEXTRACTABLE), "HSM Error: Key is not extractable"},
    /* guide (genECCKeyPair page): sizes and curves outside the policy */
    [OHSM_KEY_SIZE_RANGE] = {0xb3, "HSM Error: This operation violates the current "
                                   "configured/FIPS policies"},
    [OHSM_MECHANISM_INVALID] = {OWN(OHSM_MECHANISM_INVALID), "HSM Error: Invalid mechanism"},
    [OHSM_MECHANISM_PARAM_INVALID] = {OWN(OHSM_MECHANISM_PARAM_INVALID),
                                      "HSM Error: Invalid mechanism parameters"},
    [OHSM_ENCRYPTED_DATA_INVALID] = {OWN(OHSM_ENCRYPTED_DATA_INVALID),
                                     "HSM Error: Encrypted data is invalid"},
    [OHSM_ENCRYPTED_DATA_LEN_RANGE] = {OWN(OHSM_ENCRYPTED_DATA_LEN_RANGE),
                                       "HSM Error: Encrypted data has an invalid length"},
    [OHSM_KEY_TYPE_INCONSISTENT] = {OWN(OHSM_KEY_TYPE_INCONSISTENT),
                                    "HSM Error: Key type does not match the operation"},
    [OHSM_WRAPPED_KEY_INVALID] = {OWN(OHSM_WRAPPED_KEY_INVALID),
                                  "HSM Error: Wrapped key is invalid"},
    [OHSM_MASKED_OBJECT_INVALID] = {OWN(OHSM_MASKED_OBJECT_INVALID),
                                    "HSM Error: Masked object is invalid or from another cluster"},
    [OHSM_OBJECT_EXISTS] = {OWN(OHSM_OBJECT_EXISTS),
                            "HSM Error: An object with this handle already exists"},
    [OHSM_OBJECT_TOO_MANY] = {OWN(OHSM_OBJECT_TOO_MANY),
                              "HSM Error: Maximum number of keys reached"},
    [OHSM_TEMPLATE_INCONSISTENT] = {OWN(OHSM_TEMPLATE_INCONSISTENT),
                                    "HSM Error: Attributes are inconsistent"},
    /* guide (deleteKey page, Error2String page) */
    [OHSM_KEY_NOT_OWNER] = {0xc6, "HSM Error: Key Access is denied"},
    [OHSM_KEY_AMBIGUOUS] = {OWN(OHSM_KEY_AMBIGUOUS),
                            "HSM Error: More than one key matches the filter"},
    [OHSM_USER_OWNS_KEYS] = {OWN(OHSM_USER_OWNS_KEYS), "HSM Error: The user owns keys"},
    [OHSM_NOT_SYNCED] = {OWN(OHSM_NOT_SYNCED), "HSM Error: HSMs in the cluster are out of sync"},
    [OHSM_DATA_INVALID] = {OWN(OHSM_DATA_INVALID), "HSM Error: Invalid data"},
    [OHSM_MFA_REQUIRED] = {OWN(OHSM_MFA_REQUIRED),
                           "HSM Error: This user has MFA enabled: log in with the CloudHSM CLI"},
    [OHSM_MFA_NOT_ENABLED] = {OWN(OHSM_MFA_NOT_ENABLED), "HSM Error: MFA is not enabled"},
    [OHSM_TOKEN_INVALID] = {OWN(OHSM_TOKEN_INVALID), "HSM Error: Token signature is invalid"},
    [OHSM_TOKEN_EXPIRED] = {OWN(OHSM_TOKEN_EXPIRED), "HSM Error: Token has expired"},
    [OHSM_TOKEN_NOT_FOUND] = {OWN(OHSM_TOKEN_NOT_FOUND), "HSM Error: No such token"},
    [OHSM_QUORUM_REQUIRED] = {OWN(OHSM_QUORUM_REQUIRED),
                              "HSM Error: Quorum approval is required for this operation"},
    [OHSM_QUORUM_INSUFFICIENT] = {OWN(OHSM_QUORUM_INSUFFICIENT),
                                  "HSM Error: Not enough valid quorum approvals"},
    [OHSM_QUORUM_TOKEN_EXISTS] = {OWN(OHSM_QUORUM_TOKEN_EXISTS),
                                  "HSM Error: A quorum token already exists"},
    [OHSM_PUBLIC_KEY_INVALID] = {OWN(OHSM_PUBLIC_KEY_INVALID),
                                 "HSM Error: Public key must be RSA-2048"},
    [OHSM_QUORUM_VALUE_INVALID] = {OWN(OHSM_QUORUM_VALUE_INVALID),
                                   "HSM Error: Invalid quorum value"},
    [OHSM_USER_LOGGED_IN] = {OWN(OHSM_USER_LOGGED_IN),
                             "HSM Error: The user is logged in and its password cannot be changed"},
    [OHSM_USER_RECORD_STALE] = {OWN(OHSM_USER_RECORD_STALE),
                                "HSM Error: The HSM holds a newer record of this user"},
};

static const struct row *row(ohsm_rv rv)
{
    if ((unsigned)rv >= OHSM_RV_COUNT_ || rows[rv].text == NULL) {
        return NULL;
    }
    return &rows[rv];
}

uint32_t ohsm_kmu_code(ohsm_rv rv)
{
    const struct row *r = row(rv);
    return r != NULL ? r->code : OWN(rv);
}

const char *ohsm_kmu_text(ohsm_rv rv)
{
    const struct row *r = row(rv);
    return r != NULL ? r->text : "HSM Error: Unknown error";
}

void ohsm_kmu_code_str(uint32_t code, char *buf, size_t cap)
{
    if (code <= 0xffu) {
        (void)snprintf(buf, cap, "0x%02x", (unsigned)code);
    } else {
        (void)snprintf(buf, cap, "0x%08x", (unsigned)code);
    }
}

bool ohsm_kmu_text_of(uint32_t code, const char **text)
{
    for (size_t i = 0; i < OHSM_RV_COUNT_; i++) {
        if (rows[i].text != NULL && rows[i].code == code) {
            *text = rows[i].text;
            return true;
        }
    }
    return false;
}
