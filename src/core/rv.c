/* SPDX-License-Identifier: Apache-2.0
 *
 * The error table: one row per ohsm_rv with its name, user message, PKCS#11 code and exit status.
 * Trusts nothing: out-of-range codes map to a generic row.
 */
#include "openhsm/rv.h"

#include <stddef.h>

struct rv_row {
    const char *name;
    const char *msg;
    unsigned long ckr;
};

/* CKR_* values from PKCS#11 v2.40 §11.1 (pkcs11t.h). */
static const struct rv_row rows[OHSM_RV_COUNT_] = {
    [OHSM_OK] = {"OHSM_OK", "Success", 0x000},
    [OHSM_ARGUMENTS_BAD] = {"OHSM_ARGUMENTS_BAD", "Invalid arguments", 0x007},
    [OHSM_HOST_MEMORY] = {"OHSM_HOST_MEMORY", "Out of memory", 0x002},
    [OHSM_DATA_LEN_RANGE] = {"OHSM_DATA_LEN_RANGE", "Data length out of range", 0x021},
    [OHSM_BUFFER_TOO_SMALL] = {"OHSM_BUFFER_TOO_SMALL", "Buffer too small", 0x150},
    [OHSM_PIN_INCORRECT] = {"OHSM_PIN_INCORRECT", "Invalid username or password", 0x0A0},
    [OHSM_PIN_LOCKED] = {"OHSM_PIN_LOCKED",
                         "User is locked out after too many failed login attempts", 0x0A4},
    [OHSM_PIN_LEN_RANGE] = {"OHSM_PIN_LEN_RANGE", "Password must be 7 to 32 characters", 0x0A2},
    [OHSM_USERNAME_INVALID] = {"OHSM_USERNAME_INVALID",
                               "Username must be 1 to 31 letters, digits or underscores", 0x007},
    [OHSM_USER_TYPE_INVALID] = {"OHSM_USER_TYPE_INVALID", "Invalid user type", 0x103},
    [OHSM_USER_NOT_LOGGED_IN] = {"OHSM_USER_NOT_LOGGED_IN", "User is not logged in", 0x101},
    [OHSM_USER_ALREADY_LOGGED_IN] = {"OHSM_USER_ALREADY_LOGGED_IN", "A user is already logged in",
                                     0x100},
    [OHSM_USER_NOT_FOUND] = {"OHSM_USER_NOT_FOUND", "User does not exist", 0x007},
    [OHSM_USER_EXISTS] = {"OHSM_USER_EXISTS", "User already exists", 0x007},
    [OHSM_USER_TOO_MANY] = {"OHSM_USER_TOO_MANY", "Maximum number of users reached", 0x1B0},
    [OHSM_ACCESS_DENIED] = {"OHSM_ACCESS_DENIED", "This user type may not perform this operation",
                            0x101},
    [OHSM_NOT_ACTIVATED] = {"OHSM_NOT_ACTIVATED",
                            "The cluster is not activated: change the admin password first",
                            0x101},
    [OHSM_LAST_ADMIN] = {"OHSM_LAST_ADMIN", "Cannot delete the last admin user", 0x007},
    [OHSM_DELETE_SELF] = {"OHSM_DELETE_SELF", "Cannot delete the user who is logged in", 0x007},
    [OHSM_SESSION_COUNT] = {"OHSM_SESSION_COUNT", "No sessions available on the HSM", 0x0B1},
    [OHSM_KEY_HANDLE_INVALID] = {"OHSM_KEY_HANDLE_INVALID", "Invalid key handle", 0x060},
    [OHSM_SIGNATURE_INVALID] = {"OHSM_SIGNATURE_INVALID", "Signature is invalid", 0x0C0},
    [OHSM_DEVICE_ERROR] = {"OHSM_DEVICE_ERROR", "Internal HSM error", 0x030},
    [OHSM_IO] = {"OHSM_IO", "Input/output error", 0x030},
    [OHSM_PROTOCOL] = {"OHSM_PROTOCOL", "Malformed message", 0x030},
    [OHSM_TLS] = {"OHSM_TLS", "TLS failure talking to the HSM", 0x030},
    [OHSM_DB] = {"OHSM_DB", "HSM storage error", 0x030},
    [OHSM_TIMEOUT] = {"OHSM_TIMEOUT", "The HSM did not answer in time", 0x032},
    [OHSM_NOT_CONNECTED] = {"OHSM_NOT_CONNECTED", "Not connected to the HSM", 0x032},
    [OHSM_CONFIG] = {"OHSM_CONFIG", "Invalid cluster configuration", 0x005},
    [OHSM_ALREADY_ACTIVATED] = {"OHSM_ALREADY_ACTIVATED", "The cluster is already activated",
                                0x007},
    [OHSM_ATTRIBUTE_TYPE_INVALID] = {"OHSM_ATTRIBUTE_TYPE_INVALID", "Invalid attribute", 0x012},
    [OHSM_ATTRIBUTE_VALUE_INVALID] = {"OHSM_ATTRIBUTE_VALUE_INVALID", "Invalid attribute value",
                                      0x013},
    [OHSM_ATTRIBUTE_READ_ONLY] = {"OHSM_ATTRIBUTE_READ_ONLY", "Attribute cannot be modified",
                                  0x010},
    [OHSM_KEY_FUNCTION_NOT_PERMITTED] = {"OHSM_KEY_FUNCTION_NOT_PERMITTED",
                                         "The key's attributes do not permit this operation",
                                         0x068},
    [OHSM_KEY_UNEXTRACTABLE] = {"OHSM_KEY_UNEXTRACTABLE", "Key is not extractable", 0x06A},
    [OHSM_KEY_SIZE_RANGE] = {"OHSM_KEY_SIZE_RANGE", "Key size not supported", 0x062},
    [OHSM_MECHANISM_INVALID] = {"OHSM_MECHANISM_INVALID", "Invalid mechanism", 0x070},
    [OHSM_MECHANISM_PARAM_INVALID] = {"OHSM_MECHANISM_PARAM_INVALID",
                                      "Invalid mechanism parameters", 0x071},
    [OHSM_ENCRYPTED_DATA_INVALID] = {"OHSM_ENCRYPTED_DATA_INVALID", "Encrypted data is invalid",
                                     0x040},
    [OHSM_ENCRYPTED_DATA_LEN_RANGE] = {"OHSM_ENCRYPTED_DATA_LEN_RANGE",
                                       "Encrypted data has an invalid length", 0x041},
    [OHSM_KEY_TYPE_INCONSISTENT] = {"OHSM_KEY_TYPE_INCONSISTENT",
                                    "Key type does not match the operation", 0x063},
    [OHSM_WRAPPED_KEY_INVALID] = {"OHSM_WRAPPED_KEY_INVALID", "Wrapped key is invalid", 0x110},
    [OHSM_MASKED_OBJECT_INVALID] = {"OHSM_MASKED_OBJECT_INVALID",
                                    "Masked object is invalid or from another cluster", 0x040},
    [OHSM_OBJECT_EXISTS] = {"OHSM_OBJECT_EXISTS", "An object with this handle already exists",
                            0x007},
    [OHSM_OBJECT_TOO_MANY] = {"OHSM_OBJECT_TOO_MANY", "Maximum number of keys reached", 0x031},
    [OHSM_TEMPLATE_INCONSISTENT] = {"OHSM_TEMPLATE_INCONSISTENT",
                                    "Attributes are inconsistent", 0x0D1},
    [OHSM_KEY_NOT_OWNER] = {"OHSM_KEY_NOT_OWNER", "Only the key owner may do this", 0x101},
    [OHSM_KEY_AMBIGUOUS] = {"OHSM_KEY_AMBIGUOUS", "More than one key matches the filter", 0x007},
    [OHSM_USER_OWNS_KEYS] = {"OHSM_USER_OWNS_KEYS", "The user owns keys", 0x007},
    [OHSM_NOT_SYNCED] = {"OHSM_NOT_SYNCED", "HSMs in the cluster are out of sync", 0x030},
    [OHSM_DATA_INVALID] = {"OHSM_DATA_INVALID", "Invalid data", 0x020},
    [OHSM_MFA_REQUIRED] = {"OHSM_MFA_REQUIRED",
                           "This user has MFA enabled: log in with mfa-token-sign", 0x0A0},
    [OHSM_MFA_NOT_ENABLED] = {"OHSM_MFA_NOT_ENABLED", "MFA is not enabled for this user", 0x0A0},
    [OHSM_TOKEN_INVALID] = {"OHSM_TOKEN_INVALID", "Token signature is invalid", 0x0A0},
    [OHSM_TOKEN_EXPIRED] = {"OHSM_TOKEN_EXPIRED", "Token has expired", 0x0A0},
    [OHSM_TOKEN_NOT_FOUND] = {"OHSM_TOKEN_NOT_FOUND",
                              "No such token: it was used, deleted or never issued here", 0x0A0},
    [OHSM_QUORUM_REQUIRED] = {"OHSM_QUORUM_REQUIRED",
                              "Quorum approval is required for this operation", 0x006},
    [OHSM_QUORUM_INSUFFICIENT] = {"OHSM_QUORUM_INSUFFICIENT",
                                  "Not enough valid quorum approvals", 0x006},
    [OHSM_QUORUM_TOKEN_EXISTS] = {"OHSM_QUORUM_TOKEN_EXISTS",
                                  "An active quorum token already exists for this user and service",
                                  0x006},
    [OHSM_PUBLIC_KEY_INVALID] = {"OHSM_PUBLIC_KEY_INVALID",
                                 "Public key must be an RSA-2048 public key", 0x020},
    [OHSM_QUORUM_VALUE_INVALID] = {"OHSM_QUORUM_VALUE_INVALID", "Invalid quorum value", 0x007},
    [OHSM_USER_LOGGED_IN] = {"OHSM_USER_LOGGED_IN",
                             "The user is currently logged in: its password cannot be changed",
                             0x101},
    [OHSM_USER_RECORD_STALE] = {"OHSM_USER_RECORD_STALE",
                                "The HSM holds a newer record of this user", 0x007},
};

static const struct rv_row unknown = {"OHSM_UNKNOWN", "Unknown error", 0x005};

static const struct rv_row *row(ohsm_rv rv)
{
    if ((unsigned)rv >= OHSM_RV_COUNT_ || rows[rv].name == NULL) {
        return &unknown;
    }
    return &rows[rv];
}

const char *ohsm_rv_name(ohsm_rv rv)
{
    return row(rv)->name;
}

const char *ohsm_rv_str(ohsm_rv rv)
{
    return row(rv)->msg;
}

unsigned long ohsm_rv_ckr(ohsm_rv rv)
{
    return row(rv)->ckr;
}

int ohsm_rv_exit(ohsm_rv rv)
{
    return rv == OHSM_OK ? 0 : 1;
}
