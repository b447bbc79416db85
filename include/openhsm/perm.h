/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM user permission table of the CloudHSM CLI guide, as data. openhsm-hsm consults it on
 * every request; nothing else decides who may do what.
 */
#ifndef OHSM_PERM_H
#define OHSM_PERM_H

#include <stdbool.h>

#include "openhsm/rv.h"
#include "openhsm/user.h"

/* Rows of the table. Values are stable. */
enum ohsm_op {
    OHSM_OP_CLUSTER_INFO = 0,    /* get basic cluster info (HSM info, list users) */
    OHSM_OP_CHANGE_OWN_PW = 1,   /* change own password */
    OHSM_OP_CHANGE_ANY_PW = 2,   /* change any user's password */
    OHSM_OP_MANAGE_USERS = 3,    /* add, remove users */
    OHSM_OP_SYNC_STATUS = 4,     /* get sync status (digests) */
    OHSM_OP_MASKED_OBJECTS = 5,  /* extract, insert masked objects */
    OHSM_OP_KEY_MGMT = 6,        /* key management functions */
    OHSM_OP_ENCRYPT_DECRYPT = 7, /* encrypt, decrypt */
    OHSM_OP_SIGN_VERIFY = 8,     /* sign, verify */
    OHSM_OP_DIGEST_HMAC = 9,     /* generate digests and HMACs */
    /* Ours, not one of the guide's rows: see key metadata (find, get attributes, export the
     * public key). Which keys a session sees is decided per key (owner, shares, admin sees all). */
    OHSM_OP_KEY_INFO = 10,       /* view key metadata */
    OHSM_OP_COUNT_
};

/* Name of a row, e.g. "add, remove users". */
OHSM_API const char *ohsm_op_name(enum ohsm_op op);

/* May a session whose logged-in user has type t (OHSM_UT_NONE: not logged in) perform op?
 * The PRECO (admin of a cluster not yet activated) may only read cluster info and change its own
 * password. Out-of-range inputs are refused. */
OHSM_API bool ohsm_perm_allowed(enum ohsm_op op, enum ohsm_utype t);

/* As ohsm_perm_allowed, but says why not: OHSM_USER_NOT_LOGGED_IN for an unauthenticated
 * session, OHSM_NOT_ACTIVATED for the PRECO, OHSM_ACCESS_DENIED for other roles. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_perm_check(enum ohsm_op op, enum ohsm_utype t);

#endif
