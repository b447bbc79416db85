/* SPDX-License-Identifier: Apache-2.0
 *
 * The key-state table (state.h) as one array: a row per operation, a column per key state. Cells
 * follow the KMS developer guide's table (REFERENCE-KMS.md §1); where the guide offers two
 * exceptions for a pending-deletion key ([2] or [3]) we give KMSInvalidStateException, which is
 * what AWS is seen to return.
 */
#include "kms/state.h"

#include <stdio.h>

#include "kms/types.h"

#define OK OHSM_KV_OK
#define DIS OHSM_KV_DISABLED
#define PDEL OHSM_KV_PENDING_DELETION
#define NPDEL OHSM_KV_NOT_PENDING
#define PIMP OHSM_KV_PENDING_IMPORT
#define UNAV OHSM_KV_UNAVAILABLE
#define EXT OHSM_KV_EXTERNAL
#define UNSUP OHSM_KV_UNSUPPORTED

/* Columns: Enabled, Disabled, PendingDeletion, PendingImport, Unavailable. */
static const unsigned char table[OHSM_KOP_COUNT_][5] = {
    [OHSM_KOP_CANCEL_KEY_DELETION] = {NPDEL, NPDEL, OK, NPDEL, NPDEL},
    [OHSM_KOP_CREATE_ALIAS] = {OK, OK, PDEL, OK, OK},
    [OHSM_KOP_CREATE_GRANT] = {OK, DIS, PDEL, PIMP, OK},
    [OHSM_KOP_DECRYPT] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_DELETE_ALIAS] = {OK, OK, OK, OK, OK},
    [OHSM_KOP_DELETE_IMPORTED_KEY_MATERIAL] = {OK, OK, OK, OK, UNSUP},
    [OHSM_KOP_DESCRIBE_KEY] = {OK, OK, OK, OK, OK},
    [OHSM_KOP_DISABLE_KEY] = {OK, OK, PDEL, PIMP, OK},
    [OHSM_KOP_DISABLE_KEY_ROTATION] = {OK, DIS, PDEL, EXT, UNSUP},
    [OHSM_KOP_ENABLE_KEY] = {OK, OK, PDEL, PIMP, OK},
    [OHSM_KOP_ENABLE_KEY_ROTATION] = {OK, DIS, PDEL, EXT, UNSUP},
    [OHSM_KOP_ENCRYPT] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_GENERATE_DATA_KEY] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_GENERATE_DATA_KEY_PAIR] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_GENERATE_MAC] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_GET_KEY_POLICY] = {OK, OK, OK, OK, OK},
    [OHSM_KOP_GET_KEY_ROTATION_STATUS] = {OK, OK, OK, EXT, UNSUP},
    [OHSM_KOP_GET_PARAMETERS_FOR_IMPORT] = {OK, OK, PDEL, OK, UNSUP},
    [OHSM_KOP_GET_PUBLIC_KEY] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_IMPORT_KEY_MATERIAL] = {OK, OK, PDEL, OK, UNSUP},
    [OHSM_KOP_LIST_READ] = {OK, OK, OK, OK, OK},
    [OHSM_KOP_PUT_KEY_POLICY] = {OK, OK, OK, OK, OK},
    [OHSM_KOP_RE_ENCRYPT] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_RETIRE_REVOKE_GRANT] = {OK, OK, OK, OK, OK},
    [OHSM_KOP_ROTATE_KEY_ON_DEMAND] = {OK, DIS, PDEL, PIMP, UNSUP},
    [OHSM_KOP_SCHEDULE_KEY_DELETION] = {OK, OK, PDEL, OK, OK},
    [OHSM_KOP_SIGN] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_TAG_UNTAG] = {OK, OK, PDEL, OK, OK},
    [OHSM_KOP_UPDATE_ALIAS] = {OK, OK, PDEL, OK, OK},
    [OHSM_KOP_UPDATE_KEY_DESCRIPTION] = {OK, OK, PDEL, OK, OK},
    [OHSM_KOP_VERIFY] = {OK, DIS, PDEL, PIMP, UNAV},
    [OHSM_KOP_VERIFY_MAC] = {OK, DIS, PDEL, PIMP, UNAV},
};

enum ohsm_kms_verdict ohsm_kms_state_check(uint32_t op, uint32_t state, uint32_t origin)
{
    if (op >= OHSM_KOP_COUNT_ || state < OHSM_KSTATE_ENABLED || state > OHSM_KSTATE_UNAVAILABLE) {
        return OHSM_KV_UNSUPPORTED;
    }
    /* [7]/[9]: rotation belongs to keys whose material KMS made; imported material only to keys
     * made for it (EXTERNAL). Custom-key-store keys have neither. */
    switch (op) {
    case OHSM_KOP_ENABLE_KEY_ROTATION:
    case OHSM_KOP_DISABLE_KEY_ROTATION:
    case OHSM_KOP_GET_KEY_ROTATION_STATUS:
        if (origin == OHSM_KORIGIN_EXTERNAL) {
            return state == OHSM_KSTATE_PENDING_IMPORT ? OHSM_KV_EXTERNAL : OHSM_KV_UNSUPPORTED;
        }
        if (origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
            return OHSM_KV_UNSUPPORTED;
        }
        break;
    case OHSM_KOP_GET_PARAMETERS_FOR_IMPORT:
    case OHSM_KOP_IMPORT_KEY_MATERIAL:
    case OHSM_KOP_DELETE_IMPORTED_KEY_MATERIAL:
        if (origin != OHSM_KORIGIN_EXTERNAL) {
            return OHSM_KV_UNSUPPORTED;
        }
        break;
    default:
        break;
    }
    return (enum ohsm_kms_verdict)table[op][state - 1];
}

void ohsm_kms_state_error(enum ohsm_kms_verdict v, const char *key_arn, char *type, size_t type_cap,
                          char *msg, size_t msg_cap)
{
    const char *t = "KMSInvalidStateException";
    const char *what = "";

    switch (v) {
    case OHSM_KV_OK:
        t = "";
        break;
    case OHSM_KV_DISABLED:
        t = "DisabledException";
        what = "is disabled.";
        break;
    case OHSM_KV_PENDING_DELETION:
        what = "is pending deletion.";
        break;
    case OHSM_KV_NOT_PENDING:
        what = "is not pending deletion.";
        break;
    case OHSM_KV_PENDING_IMPORT:
        what = "is pending import.";
        break;
    case OHSM_KV_UNAVAILABLE:
        what = "is unavailable.";
        break;
    case OHSM_KV_EXTERNAL:
        t = "UnsupportedOperationException";
        what = "origin is EXTERNAL which is not valid for this operation.";
        break;
    case OHSM_KV_UNSUPPORTED:
        t = "UnsupportedOperationException";
        what = "does not support this operation.";
        break;
    }
    (void)snprintf(type, type_cap, "%s", t);
    (void)snprintf(msg, msg_cap, "%s %s", key_arn, what);
}
