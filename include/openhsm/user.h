/* SPDX-License-Identifier: Apache-2.0
 *
 * HSM user types and the rules for usernames and passwords (CloudHSM's: usernames 1..31 of
 * letters, digits and '_', case-insensitive and kept lower-case; passwords 7..32 characters,
 * case-sensitive). Two vocabularies name the same types: the CMU/KMU one (PRECO, CO, CU, AU) and
 * the CloudHSM CLI one (unactivated-admin, admin, crypto-user, appliance-user).
 */
#ifndef OHSM_USER_H
#define OHSM_USER_H

#include <stdbool.h>
#include <stddef.h>

#include "openhsm/rv.h"

/* Values travel on the wire and live in HSM databases: never renumber. */
enum ohsm_utype {
    OHSM_UT_NONE = 0,  /* unauthenticated session */
    OHSM_UT_PRECO = 1, /* precrypto officer: the admin of a cluster not yet activated */
    OHSM_UT_CO = 2,    /* crypto officer / admin */
    OHSM_UT_CU = 3,    /* crypto user */
    OHSM_UT_AU = 4,    /* appliance user */
};
#define OHSM_UT_MAX OHSM_UT_AU

#define OHSM_USERNAME_MAX 31
#define OHSM_PASSWORD_MIN 7
#define OHSM_PASSWORD_MAX 32
#define OHSM_MAX_USERS 1024
#define OHSM_LOCKOUT_DEFAULT 5
#define OHSM_LOCKOUT_LEGACY 20

/* CMU name of a type ("PRECO", "CO", "CU", "AU"); "NONE" for OHSM_UT_NONE or out of range. */
OHSM_API const char *ohsm_utype_cmu_name(enum ohsm_utype t);
/* CloudHSM CLI role name ("unactivated-admin", "admin", "crypto-user", "appliance-user"). */
OHSM_API const char *ohsm_utype_cli_name(enum ohsm_utype t);
/* Parses a CMU type name, case-insensitive; "PCO" is accepted as CO. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_utype_from_cmu(const char *s, enum ohsm_utype *out);
/* Parses a CLI role ("admin", "crypto-user", "unactivated-admin", "appliance-user"). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_utype_from_cli(const char *s, enum ohsm_utype *out);

/* Validates a username and writes its canonical lower-case form into out (cap >= 32).
 * Errors: OHSM_USERNAME_INVALID. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_username_canon(const char *in, char *out, size_t cap);
/* Checks a password of len bytes: 7..32 characters, no NUL. Errors: OHSM_PIN_LEN_RANGE. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_password_check(const char *pw, size_t len);

#endif
