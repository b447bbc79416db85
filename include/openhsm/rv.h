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
