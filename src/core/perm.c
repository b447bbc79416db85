/* SPDX-License-Identifier: Apache-2.0
 *
 * The permission table (CloudHSM CLI guide, "HSM user permissions table"), one row per operation
 * and one column per session type. The PRECO column is ours: CloudHSM lets the unactivated admin
 * do nothing but read cluster info and change its own password (which activates the cluster).
 */
#include "openhsm/perm.h"

#include <stddef.h>

enum { COL_NONE, COL_PRECO, COL_CO, COL_CU, COL_AU, COL_COUNT };

struct perm_row {
    const char *name;
    bool allow[COL_COUNT]; /* indexed by enum ohsm_utype */
};

#define Y true
#define N false
static const struct perm_row table[OHSM_OP_COUNT_] = {
    /*                                                     unauth PRECO  admin  CU     AU   */
    [OHSM_OP_CLUSTER_INFO] = {"get basic cluster info", {Y, Y, Y, Y, Y}},
    /* "Not applicable" for an unauthenticated session: there is no "own" password. */
    [OHSM_OP_CHANGE_OWN_PW] = {"change own password", {N, Y, Y, Y, Y}},
    [OHSM_OP_CHANGE_ANY_PW] = {"change any user's password", {N, N, Y, N, N}},
    [OHSM_OP_MANAGE_USERS] = {"add, remove users", {N, N, Y, N, N}},
    [OHSM_OP_SYNC_STATUS] = {"get sync status", {N, N, Y, Y, Y}},
    [OHSM_OP_MASKED_OBJECTS] = {"extract, insert masked objects", {N, N, Y, Y, Y}},
    [OHSM_OP_KEY_MGMT] = {"key management functions", {N, N, N, Y, N}},
    [OHSM_OP_ENCRYPT_DECRYPT] = {"encrypt, decrypt", {N, N, N, Y, N}},
    [OHSM_OP_SIGN_VERIFY] = {"sign, verify", {N, N, N, Y, N}},
    [OHSM_OP_DIGEST_HMAC] = {"generate digests and HMACs", {N, N, N, Y, N}},
    /* Ours (not a row of the guide): admins and the appliance user see every key's metadata but
     * use none; crypto users see the keys they own or are shared. */
    [OHSM_OP_KEY_INFO] = {"view key metadata", {N, N, Y, Y, Y}},
};
#undef Y
#undef N

_Static_assert((int)OHSM_UT_NONE == COL_NONE && (int)OHSM_UT_PRECO == COL_PRECO &&
                   (int)OHSM_UT_CO == COL_CO && (int)OHSM_UT_CU == COL_CU &&
                   (int)OHSM_UT_AU == COL_AU,
               "columns are indexed by user type");

const char *ohsm_op_name(enum ohsm_op op)
{
    if ((unsigned)op >= OHSM_OP_COUNT_) {
        return "unknown operation";
    }
    return table[op].name;
}

bool ohsm_perm_allowed(enum ohsm_op op, enum ohsm_utype t)
{
    if ((unsigned)op >= OHSM_OP_COUNT_ || (unsigned)t >= COL_COUNT) {
        return false;
    }
    return table[op].allow[t];
}

ohsm_rv ohsm_perm_check(enum ohsm_op op, enum ohsm_utype t)
{
    if (ohsm_perm_allowed(op, t)) {
        return OHSM_OK;
    }
    if (t == OHSM_UT_NONE) {
        return OHSM_USER_NOT_LOGGED_IN;
    }
    if (t == OHSM_UT_PRECO) {
        return OHSM_NOT_ACTIVATED;
    }
    return OHSM_ACCESS_DENIED;
}
