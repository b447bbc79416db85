/* SPDX-License-Identifier: Apache-2.0
 *
 * AWS CloudHSM key stores (custom key stores of type AWS_CLOUDHSM) in openhsmd's KMS.
 *
 * Three parts, three owners:
 *   - the records and their table in the KMS store (store_cks.c), the six TrentService
 *     operations and the cluster requirements they check (op_cks.c);
 *   - the connections (cks_conn.c): a worker thread that carries a store from CONNECTING to
 *     CONNECTED or FAILED and from DISCONNECTING to DISCONNECTED, logs in as kmsuser on every HSM
 *     through libopenhsm, rotates kmsuser's password, follows faults while connected, and runs
 *     the cryptography of the keys in the store in the HSMs;
 *   - the view of the control plane's clusters, subnets and ENIs that openhsmd gives KMS
 *     (struct ohsm_kms_clusters, implemented in src/cloud/kms_clusters.c), so src/kms reads
 *     clusters through this one interface and never the control plane's tables.
 *
 * States. The record's state is durable: DISCONNECTED, CONNECTING (a connect was asked for; a
 * restarted openhsmd carries it on), CONNECTED (KMS holds logged-in sessions; a restarted
 * openhsmd reconnects), DISCONNECTING (finished by the worker, also after a restart), FAILED
 * with its error code. Every change of a record (handlers and worker) is made under k->cks_lock
 * (kms_int.h), checked and written in one critical section, so a check ("only when
 * DISCONNECTED") cannot race a transition.
 *
 * kmsuser's password is never stored in clear: it is sealed with the KMS sealer (seal.h) under
 * the additional data "openhsm-kms-cks:<id>:pw" (pw_sealed, the password KMS believes current)
 * or "openhsm-kms-cks:<id>:next" (next_sealed, a rotation begun but not known to be finished on
 * every HSM: at the next connect both are tried).
 */
#ifndef OHSM_KMS_CKS_H
#define OHSM_KMS_CKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "kms/store.h"
#include "kms/types.h"
#include "openhsm/rv.h"

struct ohsm_kms;

/* ConnectionState. Values are stored: never renumber. */
enum ohsm_kms_cks_state {
    OHSM_CKS_DISCONNECTED = 0,
    OHSM_CKS_CONNECTING = 1,
    OHSM_CKS_CONNECTED = 2,
    OHSM_CKS_DISCONNECTING = 3,
    OHSM_CKS_FAILED = 4,
    OHSM_CKS_STATE_COUNT_
};

/* ConnectionErrorCode of AWS_CLOUDHSM stores (present only when FAILED). Stored: never
 * renumber. */
enum ohsm_kms_cks_error {
    OHSM_CKSE_NONE = 0,
    OHSM_CKSE_CLUSTER_NOT_FOUND = 1,
    OHSM_CKSE_INSUFFICIENT_CLOUDHSM_HSMS = 2,
    OHSM_CKSE_INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET = 3,
    OHSM_CKSE_INTERNAL_ERROR = 4,
    OHSM_CKSE_INVALID_CREDENTIALS = 5,
    OHSM_CKSE_NETWORK_ERRORS = 6,
    OHSM_CKSE_SUBNET_NOT_FOUND = 7,
    OHSM_CKSE_USER_LOCKED_OUT = 8,
    OHSM_CKSE_USER_LOGGED_IN = 9,
    OHSM_CKSE_USER_NOT_FOUND = 10,
    OHSM_CKSE_COUNT_
};

/* "CONNECTED", ... / "CLUSTER_NOT_FOUND", ...; NULL out of range (and for OHSM_CKSE_NONE). */
const char *ohsm_kms_cks_state_name(uint32_t s);
const char *ohsm_kms_cks_error_name(uint32_t e);

#define OHSM_KMS_CKS_NAME_MAX 257    /* CustomKeyStoreName: 1-256 characters, plus NUL */
#define OHSM_KMS_CKS_ANCHOR_MAX 5000 /* TrustAnchorCertificate: 1-5000 characters */
#define OHSM_KMS_CKS_PW_MIN 7        /* KeyStorePassword: 7-32 characters */
#define OHSM_KMS_CKS_PW_MAX 32
#define OHSM_KMS_CKS_PER_REGION 10 /* custom key stores per account and Region (not adjustable) */
#define OHSM_KMS_KMSUSER "kmsuser"
#define OHSM_KMS_CKS_ID_PREFIX "cks-" /* then 17 lower-case hex characters */

struct ohsm_kms_cks {
    char id[OHSM_KMS_CKS_ID_MAX]; /* "cks-" + 17 lower-case hex */
    char region[32];
    char account[16];
    char name[OHSM_KMS_CKS_NAME_MAX];
    char cluster_id[OHSM_KMS_CLUSTER_ID_MAX];
    char *trust_anchor; /* PEM text as given; malloc'd; freed by ohsm_kms_cks_clear */
    int64_t created_ms;
    uint32_t state; /* enum ohsm_kms_cks_state */
    uint32_t error; /* enum ohsm_kms_cks_error; OHSM_CKSE_NONE unless FAILED */
    uint8_t *pw_sealed; /* kmsuser's password as KMS knows it, sealed; malloc'd */
    size_t pw_sealed_len;
    uint8_t *next_sealed; /* a rotation not known to be finished; NULL when none */
    size_t next_sealed_len;
};

void ohsm_kms_cks_clear(struct ohsm_kms_cks *s); /* frees the members; NULL ok */

/* ---- the store's table (store_cks.c) ----
 * Rows read back are validated (id shape, lengths, known state and error, sealed blobs within
 * OHSM_KST_SEALED_MAX) before they are returned. Errors as store.h: OHSM_KEY_HANDLE_INVALID for
 * an absent id, OHSM_ATTRIBUTE_VALUE_INVALID for an insert whose id exists. */

/* Inserts s (add) / replaces the row of s->id (put; OHSM_KEY_HANDLE_INVALID when absent). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_cks_add(struct ohsm_kms_store *st,
                                              const struct ohsm_kms_cks *s);
OHSM_NODISCARD ohsm_rv ohsm_kms_store_cks_put(struct ohsm_kms_store *st,
                                              const struct ohsm_kms_cks *s);
OHSM_NODISCARD ohsm_rv ohsm_kms_store_cks_get(struct ohsm_kms_store *st, const char *id,
                                              struct ohsm_kms_cks *out);
/* Every store of every region, in creation order (then id). *out malloc'd (caller clears each
 * and frees); NULL when *n is 0. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_cks_list(struct ohsm_kms_store *st,
                                               struct ohsm_kms_cks **out, size_t *n);
OHSM_NODISCARD ohsm_rv ohsm_kms_store_cks_delete(struct ohsm_kms_store *st, const char *id);

/* ---- kmsuser's password, sealed (store_cks.c) ---- */

/* Seals pw (NUL-terminated, 7-32 characters) for store id; which is "pw" or "next". *out is
 * malloc'd. Errors: the sealer's, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_kms_cks_seal_pw(struct ohsm_kms *k, const char *id, const char *which,
                                            const char *pw, uint8_t **out, size_t *out_len);
/* Unseals into pw (cap OHSM_KMS_CKS_PW_MAX + 1; wiped on failure). Errors: the sealer's
 * (OHSM_ENCRYPTED_DATA_INVALID for a blob of another store or another slot). */
OHSM_NODISCARD ohsm_rv ohsm_kms_cks_unseal_pw(struct ohsm_kms *k, const char *id,
                                              const char *which, const uint8_t *blob, size_t len,
                                              char pw[OHSM_KMS_CKS_PW_MAX + 1]);

/* ---- the control plane as KMS sees it (implemented by openhsmd: src/cloud/kms_clusters.c) ---- */

#define OHSM_KMS_CV_SUBNETS 8
#define OHSM_KMS_CV_HSMS 28

struct ohsm_kms_cv_subnet {
    char id[32];      /* subnet-... as the cluster names it */
    char az[32];      /* the AZ the cluster maps it to */
    bool exists;      /* the subnet is still in the VPC (false: deleted with ec2 delete-subnet) */
    uint64_t free;    /* free addresses (when exists) */
    bool kms_eni;     /* an ENI of a KMS connection is in it (any store) */
};

struct ohsm_kms_cv_hsm {
    char id[32];    /* hsm-... */
    char az[32];    /* its Availability Zone */
    char state[32]; /* HsmState: CREATE_IN_PROGRESS, ACTIVE, DEGRADED, DELETE_IN_PROGRESS, ... */
};

struct ohsm_kms_cv {
    bool exists;    /* the cluster is in the region and not DELETED */
    char state[32]; /* ClusterState (when exists) */
    char *trust_anchor; /* PEM of InitializeCluster's trust anchor; malloc'd; NULL before */
    char *cluster_cert; /* PEM of the cluster certificate: the backup lineage (clusters made
                           from a backup of this cluster, or of its backups, share it); NULL
                           before InitializeCluster */
    char sg[32];        /* the cluster's security group id ("" when none) */
    size_t n_subnets;   /* the cluster's subnets (one per AZ) */
    struct ohsm_kms_cv_subnet subnets[OHSM_KMS_CV_SUBNETS];
    size_t n_hsms; /* every HSM not DELETED, in client.json order */
    struct ohsm_kms_cv_hsm hsms[OHSM_KMS_CV_HSMS];
    char client_json[4096]; /* absolute path of the cluster's libopenhsm configuration, which
                               lists its HSMs ("" when the cluster has none yet) */
};

void ohsm_kms_cv_clear(struct ohsm_kms_cv *v); /* frees trust_anchor and cluster_cert */

struct ohsm_kms_clusters {
    void *ctx;
    /* Fills out for cluster_id of region. A missing cluster is OHSM_OK with exists false.
     * Errors: OHSM_DB, OHSM_HOST_MEMORY. */
    ohsm_rv (*view)(void *ctx, const char *region, const char *cluster_id,
                    struct ohsm_kms_cv *out);
    /* The network of a connection, as AWS KMS makes it: the security group "kms-<cks_id>" in the
     * cluster's VPC and one requester-managed ENI in it in each subnet of the cluster, described
     * "KMS managed ENI for cluster <cluster_id>". Idempotent: what exists is kept. On failure
     * nothing of it is left and *code (never NULL) says why when the cause is the cluster's
     * network: OHSM_CKSE_CLUSTER_NOT_FOUND, OHSM_CKSE_SUBNET_NOT_FOUND (a subnet of the cluster
     * was deleted), OHSM_CKSE_INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET (a subnet has no free
     * address); else OHSM_CKSE_INTERNAL_ERROR. Errors: OHSM_DEVICE_ERROR (the cases above),
     * OHSM_DB. */
    ohsm_rv (*net_up)(void *ctx, const char *region, const char *cluster_id, const char *cks_id,
                      uint32_t *code);
    /* Removes the ENIs and the security group of cks_id's connection (whatever exists). */
    void (*net_down)(void *ctx, const char *region, const char *cks_id);
};

/* ---- the cluster requirements (op_cks.c) ---- */

enum {
    OHSM_CKS_NEED_ACTIVE = 1u << 0,  /* cluster ACTIVE: else CloudHsmClusterNotActiveException */
    OHSM_CKS_NEED_TWO_AZ = 1u << 1,  /* subnets in >= 2 AZs: else ...InvalidConfiguration... */
    OHSM_CKS_NEED_TWO_HSMS = 1u << 2, /* >= 2 ACTIVE HSMs in different AZs: else the same */
    /* with NEED_ACTIVE: a DEGRADED cluster (initialized and activated, some HSM unhealthy) is
     * accepted too: ConnectCustomKeyStore then finds out in the background what fails
     * (NETWORK_ERRORS when no HSM answers) */
    OHSM_CKS_ALLOW_DEGRADED = 1u << 3
};

/* Checks cluster_id of the call's region against need: CloudHsmClusterNotFoundException (no such
 * cluster), then each need in the order of the enum, with AWS's exceptions and messages. The
 * view goes to view (may be NULL; caller clears). Returns 0, or -1 with err filled. */
int ohsm_kms_cks_check_cluster(struct ohsm_kms *k, const char *region, const char *cluster_id,
                               uint32_t need, struct ohsm_kms_cv *view, struct ohsm_aws_err *err);

/* ---- connections (cks_conn.c) ---- */

struct ohsm_kms_cksm; /* the connection manager; one per struct ohsm_kms */

/* Makes the manager (no thread yet). Errors: OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_kms_cksm_new(struct ohsm_kms *k, struct ohsm_kms_cksm **out);
/* Starts the worker; stores left CONNECTING, CONNECTED or DISCONNECTING by a previous run are
 * carried on (reconnected, or disconnected). Errors: OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_kms_cksm_start(struct ohsm_kms_cksm *m);
/* Stops the worker, logs out of every HSM and frees. States stay as stored (a CONNECTED store is
 * reconnected at the next start). NULL ok. */
void ohsm_kms_cksm_free(struct ohsm_kms_cksm *m);

/* With k->cks_lock held, after the handler checked that the state allows it: writes CONNECTING
 * (ConnectCustomKeyStore of a DISCONNECTED store) / DISCONNECTING (DisconnectCustomKeyStore) to
 * the store and wakes the worker. Connect of a CONNECTED or CONNECTING store changes nothing.
 * Errors: as the store's. */
OHSM_NODISCARD ohsm_rv ohsm_kms_cksm_connect(struct ohsm_kms *k, const struct ohsm_kms_cks *s);
OHSM_NODISCARD ohsm_rv ohsm_kms_cksm_disconnect(struct ohsm_kms *k, const struct ohsm_kms_cks *s);

/* The number of KMS keys (any state, PendingDeletion included) in store id; SIZE_MAX when it
 * cannot tell (out of memory). */
size_t ohsm_kms_cks_key_count(struct ohsm_kms *k, const char *id);

/* ---- the keys of a store, in its cluster (cks_conn.c) ----
 * Each KMS key of a store has one backing key in the cluster: AES-256, token, owned by kmsuser,
 * never extractable, encrypt/decrypt only, labelled with the KMS key's ARN, its CKA_ID the
 * backing key id (ohsm_kms_cks_backing_id). At connect the handles are found again by label and
 * id, so a cluster restored from a backup (other handles) serves the same keys.
 *
 * The functions below return 0, or -1 with err filled with what KMS answers:
 *   store not connected, or no live connection -> KMSInvalidStateException "KMS cannot
 *   communicate with your CloudHSM cluster..." (after a restart, while it reconnects) or
 *   CustomKeyStoreInvalidStateException (CreateKey / GenerateRandom: the store is not CONNECTED);
 *   HSMs unreachable -> KMSInvalidStateException "KMS cannot communicate with your CloudHSM
 *   cluster"; an HSM without free sessions -> KMSInternalException naming the sessions
 *   (retryable); the backing key gone -> KMSInvalidStateException; a ciphertext that does not
 *   open -> InvalidCiphertextException. */

/* Store id as the call sees it (its region and account): CustomKeyStoreNotFoundException when
 * there is none; with connected, CustomKeyStoreInvalidStateException unless it is CONNECTED.
 * out (may be NULL) gets the record (caller clears). */
int ohsm_kms_cks_find(struct ohsm_kms *k, const char *region, const char *account, const char *id,
                      bool connected, struct ohsm_kms_cks *out, struct ohsm_aws_err *err);

/* 64 hex characters (+ NUL) derived from the KMS key id: SHA-256("openhsm-kms-backing:" || id). */
void ohsm_kms_cks_backing_id(const char *key_id, char out[65]);

/* Generates key's backing key in its store's cluster (key->custom_key_store_id, key->id, ARN);
 * the handle goes to *handle. CustomKeyStoreInvalidStateException when the store is not
 * CONNECTED; CloudHsmClusterInvalidConfigurationException when fewer than two active HSMs in
 * different AZs hold it. */
int ohsm_kms_cks_key_create(struct ohsm_kms *k, const struct ohsm_kms_key *key, uint64_t *handle,
                            struct ohsm_aws_err *err);
/* AES-256-GCM in the cluster with the backing key: out gets iv (12) || ciphertext || tag (16);
 * cap >= len + 28. */
int ohsm_kms_cks_encrypt(struct ohsm_kms *k, const struct ohsm_kms_key *key, const uint8_t *aad,
                         size_t aad_len, const uint8_t *pt, size_t len, uint8_t *out,
                         size_t *out_len, struct ohsm_aws_err *err);
/* The inverse: in is iv || ciphertext || tag; the plaintext goes to out (cap >= in_len - 28). */
int ohsm_kms_cks_decrypt(struct ohsm_kms *k, const struct ohsm_kms_key *key, const uint8_t *aad,
                         size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t *out_len, struct ohsm_aws_err *err);
/* n random bytes from the store's cluster (GenerateRandom with CustomKeyStoreId). */
int ohsm_kms_cks_random(struct ohsm_kms *k, const char *cks_id, uint8_t *out, size_t n,
                        struct ohsm_aws_err *err);
/* Best effort, after a key's waiting period: deletes its backing key from the cluster. Returns
 * true when it is gone from every HSM; *handle gets the handle tried (0: none known). */
bool ohsm_kms_cks_key_destroy(struct ohsm_kms *k, const struct ohsm_kms_key *key,
                              uint64_t *handle);

#endif
