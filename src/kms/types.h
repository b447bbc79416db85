/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS model's plain records: key specs, usages, origins, key states, a key's metadata and one
 * version of its key material. Shared by the model (keys.c and the op_*.c handlers), the store
 * (store.h) and the audit trail. Values are stored in the database: append only.
 *
 * Where a key's material lives (types designed for the custom-key-store issue):
 *   origin AWS_KMS / EXTERNAL: in the KMS store, each version sealed by the service root key
 *     (seal.h), one struct ohsm_kms_material per version;
 *   origin AWS_CLOUDHSM: in the cluster of custom key store custom_key_store_id, as the HSM key
 *     backing_handle (label = key ARN); the store holds no material for it.
 */
#ifndef OHSM_KMS_TYPES_H
#define OHSM_KMS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ohsm_kms_spec {
    OHSM_KSPEC_NONE = 0,
    OHSM_KSPEC_SYMMETRIC_DEFAULT = 1,
    OHSM_KSPEC_RSA_2048 = 2,
    OHSM_KSPEC_RSA_3072 = 3,
    OHSM_KSPEC_RSA_4096 = 4,
    OHSM_KSPEC_ECC_NIST_P256 = 5,
    OHSM_KSPEC_ECC_NIST_P384 = 6,
    OHSM_KSPEC_ECC_NIST_P521 = 7,
    OHSM_KSPEC_ECC_SECG_P256K1 = 8,
    OHSM_KSPEC_HMAC_224 = 9,
    OHSM_KSPEC_HMAC_256 = 10,
    OHSM_KSPEC_HMAC_384 = 11,
    OHSM_KSPEC_HMAC_512 = 12,
};

enum ohsm_kms_usage {
    OHSM_KUSE_NONE = 0,
    OHSM_KUSE_ENCRYPT_DECRYPT = 1,
    OHSM_KUSE_SIGN_VERIFY = 2,
    OHSM_KUSE_GENERATE_VERIFY_MAC = 3,
};

enum ohsm_kms_origin {
    OHSM_KORIGIN_NONE = 0,
    OHSM_KORIGIN_AWS_KMS = 1,
    OHSM_KORIGIN_EXTERNAL = 2,
    OHSM_KORIGIN_AWS_CLOUDHSM = 3,
};

/* The key states of the KMS key-state table (REFERENCE-KMS.md §1). */
enum ohsm_kms_state {
    OHSM_KSTATE_NONE = 0,
    OHSM_KSTATE_ENABLED = 1,
    OHSM_KSTATE_DISABLED = 2,
    OHSM_KSTATE_PENDING_DELETION = 3,
    OHSM_KSTATE_PENDING_IMPORT = 4,
    OHSM_KSTATE_UNAVAILABLE = 5,
};

enum ohsm_kms_expiration {
    OHSM_KEXP_NONE = 0, /* not a key with imported material */
    OHSM_KEXP_EXPIRES = 1,
    OHSM_KEXP_DOES_NOT_EXPIRE = 2,
};

/* How a version of key material came to be (ListKeyRotations' RotationType for versions > 1). */
enum ohsm_kms_mkind {
    OHSM_MKIND_CREATED = 0,   /* made with the key (CreateKey, AWS_KMS) */
    OHSM_MKIND_IMPORTED = 1,  /* ImportKeyMaterial */
    OHSM_MKIND_AUTOMATIC = 2, /* scheduled rotation */
    OHSM_MKIND_ON_DEMAND = 3, /* RotateKeyOnDemand */
};

#define OHSM_KMS_ID_LEN 36          /* a UUID, lower-case, with dashes */
#define OHSM_KMS_DESC_MAX 8192      /* Description: 0-8192 characters (botocore) */
#define OHSM_KMS_MATERIAL_ID_LEN 64 /* hex of 32 bytes */
#define OHSM_KMS_CKS_ID_MAX 65      /* CustomKeyStoreId: 1-64 characters, plus NUL */
#define OHSM_KMS_CLUSTER_ID_MAX 32
#define OHSM_KMS_ALIAS_MAX 256 /* AliasName: 1-256 */

/* A key's metadata (everything DescribeKey shows, and what the model needs to run it). Times are
 * Unix seconds of the service's clock (real time + clock offset); creation in milliseconds. */
struct ohsm_kms_key {
    char id[OHSM_KMS_ID_LEN + 1];
    char region[32];
    char account[16];
    int64_t created_ms;
    uint32_t spec;   /* enum ohsm_kms_spec */
    uint32_t usage;  /* enum ohsm_kms_usage */
    uint32_t origin; /* enum ohsm_kms_origin */
    uint32_t state;  /* enum ohsm_kms_state */
    /* The state to go back to when a transient state ends: Disabled after CancelKeyDeletion;
     * Enabled/Disabled after Unavailable (custom key stores), kept through EnableKey/DisableKey
     * while Unavailable ([12] of the key-state table). */
    uint32_t saved_state;
    char *description;     /* malloc'd, NUL-terminated (may be ""); freed by ohsm_kms_key_clear */
    int64_t deletion_date; /* PendingDeletion: when the key is deleted; else 0 */
    uint32_t pending_window_days;
    /* imported material (origin EXTERNAL) */
    uint32_t expiration; /* enum ohsm_kms_expiration */
    int64_t valid_to;    /* KEY_MATERIAL_EXPIRES: when the material expires; else 0 */
    /* The KeyMaterialId of the material first imported ("" before any import): derived from the
     * key id and the material, so a reimport of other material is refused (AWS's rule). */
    char import_id[OHSM_KMS_MATERIAL_ID_LEN + 1];
    /* rotation (AWS_KMS symmetric encryption keys) */
    bool rotation_enabled;
    uint32_t rotation_period_days;      /* 90-2560 when enabled; 365 by default */
    int64_t next_rotation;              /* when rotation_enabled; else 0 */
    int64_t on_demand_rotation_started; /* RotateKeyOnDemand in progress since; else 0 */
    uint32_t cur_version;               /* the material version new ciphertexts use; 0: none */
    /* custom key stores (AWS_CLOUDHSM) */
    char custom_key_store_id[OHSM_KMS_CKS_ID_MAX];
    char cluster_id[OHSM_KMS_CLUSTER_ID_MAX];
    uint64_t backing_handle;
};

/* One version of a key's material, sealed (seal.h). */
struct ohsm_kms_material {
    char key_id[OHSM_KMS_ID_LEN + 1];
    uint32_t version; /* 1, 2, ... in creation order */
    char material_id[OHSM_KMS_MATERIAL_ID_LEN + 1];
    uint32_t kind;   /* enum ohsm_kms_mkind */
    int64_t created; /* seconds */
    uint8_t *sealed; /* malloc'd; freed by ohsm_kms_material_clear */
    size_t sealed_len;
};

void ohsm_kms_key_clear(struct ohsm_kms_key *k);           /* frees description; NULL ok */
void ohsm_kms_material_clear(struct ohsm_kms_material *m); /* frees sealed; NULL ok */

/* Names as AWS spells them ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "AWS_KMS", "Enabled",
 * "PendingDeletion", ...): NULL for values out of range. From names: 0 when unknown. */
const char *ohsm_kms_spec_name(uint32_t v);
uint32_t ohsm_kms_spec_from(const char *s);
const char *ohsm_kms_usage_name(uint32_t v);
uint32_t ohsm_kms_usage_from(const char *s);
const char *ohsm_kms_origin_name(uint32_t v);
uint32_t ohsm_kms_origin_from(const char *s);
const char *ohsm_kms_state_name(uint32_t v);

#endif
