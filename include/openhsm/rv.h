/* SPDX-License-Identifier: Apache-2.0
 *
 * One error enum for the whole project. Names mirror PKCS#11 / CloudHSM meanings so that every
 * front end can map a code to its own vocabulary (CLI error messages, CMU failure lines, CKR_*).
 * The numeric values travel on the wire: never renumber, only append.
 */
#ifndef OHSM_RV_H
#define OHSM_RV_H

#include <stdint.h>

#define OHSM_NODISCARD __attribute__((warn_unused_result))
#define OHSM_API __attribute__((visibility("default")))

typedef enum ohsm_rv {
    OHSM_OK = 0,
    OHSM_ARGUMENTS_BAD = 1,
    OHSM_HOST_MEMORY = 2,
    OHSM_DATA_LEN_RANGE = 3,
    OHSM_BUFFER_TOO_SMALL = 4,
    OHSM_PIN_INCORRECT = 5,        /* wrong username or password */
    OHSM_PIN_LOCKED = 6,           /* too many failed logins on this HSM */
    OHSM_PIN_LEN_RANGE = 7,        /* password not 7..32 characters */
    OHSM_USERNAME_INVALID = 8,     /* not 1..31 of [A-Za-z0-9_] */
    OHSM_USER_TYPE_INVALID = 9,    /* unknown role, or role does not match the user */
    OHSM_USER_NOT_LOGGED_IN = 10,
    OHSM_USER_ALREADY_LOGGED_IN = 11,
    OHSM_USER_NOT_FOUND = 12,
    OHSM_USER_EXISTS = 13,
    OHSM_USER_TOO_MANY = 14,
    OHSM_ACCESS_DENIED = 15,       /* the permission table refuses this role */
    OHSM_NOT_ACTIVATED = 16,       /* only activation is allowed before the cluster is active */
    OHSM_LAST_ADMIN = 17,          /* would delete the last admin (CO) */
    OHSM_DELETE_SELF = 18,         /* would delete the logged-in user */
    OHSM_SESSION_COUNT = 19,       /* no sessions available on the HSM */
    OHSM_KEY_HANDLE_INVALID = 20,
    OHSM_SIGNATURE_INVALID = 21,
    OHSM_DEVICE_ERROR = 22,
    OHSM_IO = 23,
    OHSM_PROTOCOL = 24,            /* malformed, truncated or oversized message */
    OHSM_TLS = 25,                 /* TLS failure, including an untrusted HSM certificate */
    OHSM_DB = 26,
    OHSM_TIMEOUT = 27,
    OHSM_NOT_CONNECTED = 28,       /* the client has no connection to this HSM */
    OHSM_CONFIG = 29,              /* the cluster configuration is unusable */
    OHSM_ALREADY_ACTIVATED = 30,
    OHSM_ATTRIBUTE_TYPE_INVALID = 31,   /* unknown attribute, or not one this object has */
    OHSM_ATTRIBUTE_VALUE_INVALID = 32,  /* a value of the wrong shape or out of range */
    OHSM_ATTRIBUTE_READ_ONLY = 33,      /* the attribute cannot be set (now, by this user) */
    OHSM_KEY_FUNCTION_NOT_PERMITTED = 34, /* the key's attributes forbid this operation */
    OHSM_KEY_UNEXTRACTABLE = 35,        /* extractable=false, or sensitive material asked in clear */
    OHSM_KEY_SIZE_RANGE = 36,           /* key length, modulus size or curve not supported */
    OHSM_MECHANISM_INVALID = 37,        /* unknown mechanism, or not for this key type */
    OHSM_MECHANISM_PARAM_INVALID = 38,  /* bad IV, tag length, AAD, hash, salt ... */
    OHSM_ENCRYPTED_DATA_INVALID = 39,   /* authentication failed or bad padding */
    OHSM_ENCRYPTED_DATA_LEN_RANGE = 40, /* truncated or mis-sized ciphertext */
    OHSM_KEY_TYPE_INCONSISTENT = 41,    /* the key's type or class does not fit the operation */
    OHSM_WRAPPED_KEY_INVALID = 42,      /* unwrap failed: tampered, wrong key or malformed */
    OHSM_MASKED_OBJECT_INVALID = 43,    /* tampered, or sealed by another cluster */
    OHSM_OBJECT_EXISTS = 44,            /* an object with this handle already exists */
    OHSM_OBJECT_TOO_MANY = 45,          /* the HSM's object limit is reached */
    OHSM_TEMPLATE_INCONSISTENT = 46,    /* attributes that contradict each other */
    OHSM_KEY_NOT_OWNER = 47,            /* only the key's owner may do this (shared users use) */
    OHSM_KEY_AMBIGUOUS = 48,            /* a filter that must name one key matched several */
    OHSM_USER_OWNS_KEYS = 49,           /* the user still owns keys */
    OHSM_NOT_SYNCED = 50,               /* HSMs of the cluster differ (see sync status) */
    OHSM_DATA_INVALID = 51,             /* input data malformed (e.g. a PEM that does not parse) */
    /* issue 5: MFA and quorum */
    OHSM_MFA_REQUIRED = 52,         /* the user has MFA: log in with mfa-token-sign */
    OHSM_MFA_NOT_ENABLED = 53,      /* token-sign login for a user without an MFA key */
    OHSM_TOKEN_INVALID = 54,        /* a token signature that does not verify (or is missing) */
    OHSM_TOKEN_EXPIRED = 55,        /* the token's lifetime is over */
    OHSM_TOKEN_NOT_FOUND = 56,      /* no such pending token here (used, deleted, never issued) */
    OHSM_QUORUM_REQUIRED = 57,      /* the operation needs a quorum approval */
    OHSM_QUORUM_INSUFFICIENT = 58,  /* fewer valid distinct approvals than the quorum value */
    OHSM_QUORUM_TOKEN_EXISTS = 59,  /* one active token per user and service */
    OHSM_PUBLIC_KEY_INVALID = 60,   /* an MFA/quorum public key that is not RSA-2048 */
    OHSM_QUORUM_VALUE_INVALID = 61, /* quorum value out of range */
    /* issue 10 */
    OHSM_USER_LOGGED_IN = 62,       /* the user has a live session on this HSM (password change) */
    OHSM_USER_RECORD_STALE = 63,    /* a user record older than (or as old as) the one here */
    OHSM_RV_COUNT_ /* not a code */
} ohsm_rv;

/* Short stable name, e.g. "OHSM_PIN_LOCKED". Never NULL. */
OHSM_API const char *ohsm_rv_name(ohsm_rv rv);
/* Human message for users, e.g. "User is locked out". Never NULL. */
OHSM_API const char *ohsm_rv_str(ohsm_rv rv);
/* The PKCS#11 CK_RV this code maps to (as an unsigned long, so core needs no pkcs11.h). */
OHSM_API unsigned long ohsm_rv_ckr(ohsm_rv rv);
/* Process exit status a command-line front end uses for this code (0 for OHSM_OK). */
OHSM_API int ohsm_rv_exit(ohsm_rv rv);

#define OHSM_TRY(expr)                                                                             \
    do {                                                                                           \
        ohsm_rv ohsm_try_rv_ = (expr);                                                             \
        if (ohsm_try_rv_ != OHSM_OK) {                                                             \
            return ohsm_try_rv_;                                                                   \
        }                                                                                          \
    } while (0)

#define OHSM_ENSURE(cond, rv)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            return (rv);                                                                           \
        }                                                                                          \
    } while (0)

#endif
