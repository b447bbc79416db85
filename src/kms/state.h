/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS key-state table as data (REFERENCE-KMS.md §1, from the KMS developer guide's "Key states
 * of AWS KMS keys"): for each operation on an existing key and each key state, whether it runs and
 * which exception it raises otherwise. Pure.
 */
#ifndef OHSM_KMS_STATE_H
#define OHSM_KMS_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Operations of the table (and the newer ones that act on a key). */
enum ohsm_kms_op {
    OHSM_KOP_CANCEL_KEY_DELETION,
    OHSM_KOP_CREATE_ALIAS,
    OHSM_KOP_CREATE_GRANT,
    OHSM_KOP_DECRYPT,
    OHSM_KOP_DELETE_ALIAS,
    OHSM_KOP_DELETE_IMPORTED_KEY_MATERIAL,
    OHSM_KOP_DESCRIBE_KEY,
    OHSM_KOP_DISABLE_KEY,
    OHSM_KOP_DISABLE_KEY_ROTATION,
    OHSM_KOP_ENABLE_KEY,
    OHSM_KOP_ENABLE_KEY_ROTATION,
    OHSM_KOP_ENCRYPT,
    OHSM_KOP_GENERATE_DATA_KEY,
    OHSM_KOP_GENERATE_DATA_KEY_PAIR,
    OHSM_KOP_GENERATE_MAC,
    OHSM_KOP_GET_KEY_POLICY,
    OHSM_KOP_GET_KEY_ROTATION_STATUS,
    OHSM_KOP_GET_PARAMETERS_FOR_IMPORT,
    OHSM_KOP_GET_PUBLIC_KEY,
    OHSM_KOP_IMPORT_KEY_MATERIAL,
    OHSM_KOP_LIST_READ, /* ListAliases, ListGrants, ListKeyPolicies, ListResourceTags,
                           ListKeyRotations */
    OHSM_KOP_PUT_KEY_POLICY,
    OHSM_KOP_RE_ENCRYPT,
    OHSM_KOP_RETIRE_REVOKE_GRANT,
    OHSM_KOP_ROTATE_KEY_ON_DEMAND,
    OHSM_KOP_SCHEDULE_KEY_DELETION,
    OHSM_KOP_SIGN,
    OHSM_KOP_TAG_UNTAG,
    OHSM_KOP_UPDATE_ALIAS, /* the destination key (a source pending deletion is fine: [10]) */
    OHSM_KOP_UPDATE_KEY_DESCRIPTION,
    OHSM_KOP_VERIFY,
    OHSM_KOP_VERIFY_MAC,
    OHSM_KOP_COUNT_
};

/* What the table says for one cell. */
enum ohsm_kms_verdict {
    OHSM_KV_OK = 0,
    OHSM_KV_DISABLED,         /* DisabledException: "<arn> is disabled." */
    OHSM_KV_PENDING_DELETION, /* KMSInvalidStateException: "<arn> is pending deletion." */
    OHSM_KV_NOT_PENDING,      /* KMSInvalidStateException: "<arn> is not pending deletion." */
    OHSM_KV_PENDING_IMPORT,   /* KMSInvalidStateException: "<arn> is pending import." */
    OHSM_KV_UNAVAILABLE,      /* KMSInvalidStateException: "<arn> is unavailable." */
    OHSM_KV_EXTERNAL,         /* UnsupportedOperationException: origin is EXTERNAL ... */
    OHSM_KV_UNSUPPORTED,      /* UnsupportedOperationException (origin/custom key store) */
};

/* The verdict for op on a key in state (enum ohsm_kms_state) of origin (enum ohsm_kms_origin).
 * Rules that depend on the key's spec/usage (e.g. rotation of asymmetric keys) are the
 * handlers'. */
enum ohsm_kms_verdict ohsm_kms_state_check(uint32_t op, uint32_t state, uint32_t origin);

/* The exception name and message of a verdict for key_arn into type/msg. */
void ohsm_kms_state_error(enum ohsm_kms_verdict v, const char *key_arn, char *type, size_t type_cap,
                          char *msg, size_t msg_cap);

#endif
