/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS service's internals shared by its modules: the service state (struct ohsm_kms), the
 * in-memory key table (keytab.c), the cache of unsealed key material (keytab.c), and the helpers
 * every handler uses (svc.c): resolving a KeyId, checking the key-state table, reading base64
 * fields, shaping KeyMetadata.
 *
 * Handlers (op_*.c) have the type ohsm_kms_fn and are listed in svc.c's one table. A handler
 * reads its input (already checked against botocore's model by the front door), calls the model,
 * and fills its reply; it names the key it acted on in x->key_arn so the audit trail records it.
 *
 * Locks: k->lock (rwlock) guards the key table and alias cache; k->cache_lock the material
 * cache. Never hold both; never call the store or the sealer with either held except where a
 * function says so (writes: the store first, then the table under the write lock).
 */
#ifndef OHSM_KMS_INT_H
#define OHSM_KMS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http/http.h"
#include "kms/cks.h"
#include "kms/kcrypto.h"
#include "kms/kms.h"
#include "kms/seal.h"
#include "kms/state.h"
#include "kms/store.h"
#include "kms/trail.h"
#include "kms/types.h"

#define OHSM_KMS_ARN_MAX 160

struct ohsm_kms_tabent; /* keytab.c */
struct ohsm_kms_cached; /* keytab.c */

struct ohsm_kms {
    char data_dir[4096];
    char region[32];
    char account[16];
    struct ohsm_kms_sealer sealer;
    int64_t (*now)(void *ctx);
    void *now_ctx;
    struct ohsm_kms_store *store;
    struct ohsm_kms_trail *trail;
    /* key table: id -> record (every key of every region) */
    pthread_rwlock_t lock;
    struct ohsm_kms_tabent **buckets;
    size_t n_buckets;
    size_t n_keys;
    /* unsealed material cache: (key id, version) -> loaded key, LRU, bounded */
    pthread_mutex_t cache_lock;
    struct ohsm_kms_cached *lru_head; /* most recently used */
    struct ohsm_kms_cached *lru_tail;
    struct ohsm_kms_cached **cbuckets; /* hash index of the cache: (key id, version) */
    size_t n_cbuckets;
    size_t cache_n;
    size_t cache_max;
    /* one writer at a time for changes that read-modify-write a key (keeps store and table in
     * step); crypto never takes it */
    pthread_mutex_t write_lock;
    /* scheduler */
    pthread_t sched;
    bool sched_running;
    atomic_bool stopping;
    pthread_mutex_t sched_lock;
    pthread_cond_t sched_cond;
    struct ohsm_json_service svc;
    /* CloudHSM key stores (cks.h): cks_lock serialises every check-and-change of a store record
     * (taken before write_lock when both are needed; never held across HSM or network work) */
    pthread_mutex_t cks_lock;
    struct ohsm_kms_clusters clusters;
    struct ohsm_kms_cksm *cksm;
};

/* What a handler tells the dispatcher about the call, for the audit trail. */
struct ohsm_kms_ctx {
    char key_arn[OHSM_KMS_ARN_MAX]; /* the key acted on ("" when none) */
    json_t *additional;             /* additionalEventData (the dispatcher takes it) */
    json_t *response_trail;         /* responseElements to record instead of none (taken) */
};

typedef json_t *(*ohsm_kms_fn)(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,
                               struct ohsm_kms_ctx *x, struct ohsm_aws_err *err);

/* ---- svc.c ---- */

int64_t ohsm_kms_now(struct ohsm_kms *k);    /* seconds */
int64_t ohsm_kms_now_ms(struct ohsm_kms *k); /* milliseconds */
/* "arn:aws:kms:REGION:ACCOUNT:key/ID" */
void ohsm_kms_key_arn(const struct ohsm_kms_key *key, char *out, size_t cap);

/* Resolves a KeyId (key id, key ARN, alias name "alias/x", alias ARN) in the call's region and
 * account into a copy of the key's record (caller clears). Returns 0, or -1 with err filled:
 * NotFoundException (no such key or alias, another region/account, a deleted key),
 * InvalidArnException (an ARN of the wrong shape). */
int ohsm_kms_resolve(struct ohsm_kms *k, const struct ohsm_http_call *call, const char *ref,
                     struct ohsm_kms_key *out, struct ohsm_aws_err *err);
/* ohsm_kms_resolve, then the key-state table for op (state.h): -1 with its exception. Fills
 * x->key_arn (x may be NULL). */
int ohsm_kms_use(struct ohsm_kms *k, const struct ohsm_http_call *call, const char *ref,
                 uint32_t op, struct ohsm_kms_key *out, struct ohsm_kms_ctx *x,
                 struct ohsm_aws_err *err);
/* The key-state check alone, for a key already in hand. */
int ohsm_kms_check(const struct ohsm_kms_key *key, uint32_t op, struct ohsm_aws_err *err);
/* InvalidKeyUsageException unless key has usage (message as AWS's). */
int ohsm_kms_need_usage(const struct ohsm_kms_key *key, uint32_t usage, struct ohsm_aws_err *err);

/* Field readers: the value of an optional member (NULL when absent). Types were checked by the
 * model already; these trust that. */
const char *ohsm_kms_str(json_t *in, const char *name);
/* A base64 blob member into *out (malloc'd, or a secure buffer when secret: free with
 * ohsm_kms_bytes_free). Returns 0 (absent: *out NULL, *len 0), or -1 with ValidationException
 * for bad base64. */
int ohsm_kms_b64_get(json_t *in, const char *name, bool secret, uint8_t **out, size_t *len,
                     struct ohsm_aws_err *err);
/* Sets member name of obj to base64 of p. Returns 0 or -1 (memory). */
int ohsm_kms_b64_set(json_t *obj, const char *name, const uint8_t *p, size_t len);

/* AWS's default key policy (the account's root principal may do everything: kms:*), as CreateKey
 * stores it when given none; malloc'd JSON text (NULL: out of memory). */
char *ohsm_kms_default_policy(const char *account);

/* A key policy document as KMS takes one: a JSON object whose Statement is one statement object
 * or a non-empty list of them (op_meta.c; CreateKey and PutKeyPolicy). */
bool ohsm_kms_policy_ok(json_t *doc);

/* KeyMetadata of key (DescribeKey, CreateKey). */
json_t *ohsm_kms_key_metadata(struct ohsm_kms *k, const struct ohsm_kms_key *key);

/* Error helpers: fill err and return NULL (for `return ohsm_kms_fail(...)` in handlers). */
json_t *ohsm_kms_fail(struct ohsm_aws_err *err, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* DryRun: -1 with DryRunOperationException (HTTP 412, Smithy's status) when the request asks
 * for a dry run, after the handler has checked everything; else 0. */
int ohsm_kms_dry_run(json_t *in, struct ohsm_aws_err *err);
/* -1 with UnsupportedOperationException when the request has a Recipient (Nitro Enclaves). */
int ohsm_kms_no_recipient(json_t *in, struct ohsm_aws_err *err);
/* KMSInternalException for an unexpected rv (logged on stderr without secrets). */
json_t *ohsm_kms_internal(struct ohsm_aws_err *err, const char *what, ohsm_rv rv);

/* Pagination: Limit (1-1000, default 100 when absent or 0 as AWS says) and Marker (an opaque
 * string we made: the decimal offset into a stable ordering, base64url-free). Returns 0 with
 * *offset, or -1 with InvalidMarkerException. */
int ohsm_kms_page(json_t *in, size_t *limit, size_t *offset, struct ohsm_aws_err *err);
/* Sets NextMarker/Truncated on out for a page that ended at offset `end` of `total` items. */
void ohsm_kms_page_end(json_t *out, size_t end, size_t total);

/* Records a service event (eventType AwsServiceEvent: DeleteKey after its window, RotateKey,
 * DeleteExpiredKeyMaterial) for key; additional (may be NULL) is borrowed. */
void ohsm_kms_service_event(struct ohsm_kms *k, const struct ohsm_kms_key *key, const char *name,
                            json_t *additional);

/* ---- keytab.c ---- */

/* Loads every key of the store into the table. */
OHSM_NODISCARD ohsm_rv ohsm_kms_tab_load(struct ohsm_kms *k);
void ohsm_kms_tab_free(struct ohsm_kms *k);
/* A copy of the record of id (any region). Errors: OHSM_KEY_HANDLE_INVALID. */
OHSM_NODISCARD ohsm_rv ohsm_kms_tab_get(struct ohsm_kms *k, const char *id,
                                        struct ohsm_kms_key *out);
/* Writes key to the store, then the table (insert or replace). Call with k->write_lock held. */
OHSM_NODISCARD ohsm_rv ohsm_kms_tab_put(struct ohsm_kms *k, const struct ohsm_kms_key *key);
/* Puts key in the table only (after a store transaction that wrote it has committed). */
OHSM_NODISCARD ohsm_rv ohsm_kms_tab_remember(struct ohsm_kms *k, const struct ohsm_kms_key *key);
/* Removes a key from the store (with all that belongs to it), the table and the cache.
 * k->write_lock held. */
OHSM_NODISCARD ohsm_rv ohsm_kms_tab_delete(struct ohsm_kms *k, const char *id);
/* Copies of every key of region (ordered by creation); *out malloc'd (caller clears each). */
OHSM_NODISCARD ohsm_rv ohsm_kms_tab_list(struct ohsm_kms *k, const char *region,
                                         struct ohsm_kms_key **out, size_t *n);

/* The loaded material of version (0: the key's current) of key, from the cache or unsealed from
 * the store. Hold it while using it; release with ohsm_kms_mat_release. Errors:
 * OHSM_KEY_HANDLE_INVALID (no such version), the sealer's, kcrypto's. */
OHSM_NODISCARD ohsm_rv ohsm_kms_mat_get(struct ohsm_kms *k, const struct ohsm_kms_key *key,
                                        uint32_t version, struct ohsm_kms_cached **out);
const struct ohsm_kms_kmat *ohsm_kms_mat_kmat(const struct ohsm_kms_cached *c);
const char *ohsm_kms_mat_id(const struct ohsm_kms_cached *c); /* KeyMaterialId (64 hex) */
uint32_t ohsm_kms_mat_version(const struct ohsm_kms_cached *c);
void ohsm_kms_mat_release(struct ohsm_kms *k, struct ohsm_kms_cached *c);
/* Drops (and wipes) every cached version of key id. */
void ohsm_kms_mat_forget(struct ohsm_kms *k, const char *id);
/* Seals material m as version `version` of key id and stores it (kind, created now). Its
 * material id is use_id when not NULL (imported material: ohsm_kms_import_id), else a fresh one
 * derived from the sealed blob; it goes to material_id (65 bytes; may be NULL). */
OHSM_NODISCARD ohsm_rv ohsm_kms_mat_store(struct ohsm_kms *k, const char *id, uint32_t version,
                                          uint32_t kind, const uint8_t *m, size_t len,
                                          const char *use_id, char *material_id);

/* Encrypts pt under key's current material into a symmetric blob (blob.h) at blob (cap >=
 * len + OHSM_KMS_BLOB_OVERHEAD); material_id (may be NULL) gets the material's id. Returns 0
 * or -1 with err filled (op_crypto.c). */
int ohsm_kms_sym_encrypt(struct ohsm_kms *k, const struct ohsm_kms_key *key, json_t *ctx,
                         const uint8_t *pt, size_t len, uint8_t *blob, size_t *blob_len,
                         char *material_id, struct ohsm_aws_err *err);

/* The sealing additional data of (key id, version): "openhsm-kms:<id>:<version>". */
size_t ohsm_kms_seal_aad(const char *id, uint32_t version, uint8_t *out, size_t cap);

/* ---- rotate.c ---- */

/* Rotates key (k->write_lock held) when automatic rotation is on and its date has come: a new
 * material version becomes current, the next date is set, and a RotateKey service event is
 * recorded. Nothing to do otherwise. */
void ohsm_kms_rotate_due(struct ohsm_kms *k, struct ohsm_kms_key *key, int64_t now);

/* ---- cks_cluster.c: the cluster side of the CloudHSM key stores' rules (op_cks.c) ---- */

/* openhsmd's view of cluster_id of region into v (caller clears); k->clusters.view NULL: a
 * cluster that does not exist. Errors: the view's (v then empty). */
OHSM_NODISCARD ohsm_rv ohsm_kms_cks_view(struct ohsm_kms *k, const char *region,
                                         const char *cluster_id, struct ohsm_kms_cv *v);
/* Whether PEM texts a and b hold the same certificate (DER compared); false when either holds
 * none. */
bool ohsm_kms_cks_same_cert(const char *a, const char *b);
/* Whether cluster_id, or a cluster with the cluster certificate new_cert (may be NULL), is the
 * cluster of one of stores[0..n) other than except_id (may be NULL). Returns 0 (free), 1 (in
 * use), or -1 with KMSInternalException. */
int ohsm_kms_cks_in_use(struct ohsm_kms *k, const char *region, const struct ohsm_kms_cks *stores,
                        size_t n, const char *except_id, const char *cluster_id,
                        const char *new_cert, struct ohsm_aws_err *err);
/* Whether cluster_id (its view nv) may replace the cluster of store s (UpdateCustomKeyStore):
 * *rel. Returns 0, or -1 with KMSInternalException. */
int ohsm_kms_cks_related(struct ohsm_kms *k, const char *region, const struct ohsm_kms_cks *s,
                         const char *cluster_id, const struct ohsm_kms_cv *nv, bool *rel,
                         struct ohsm_aws_err *err);

/* ---- handlers ---- */

#define OHSM_KMS_HANDLER(name)                                                                     \
    json_t *name(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,                \
                 struct ohsm_kms_ctx *x, struct ohsm_aws_err *err)

/* op_keys.c */
OHSM_KMS_HANDLER(ohsm_kms_op_create_key);
OHSM_KMS_HANDLER(ohsm_kms_op_describe_key);
OHSM_KMS_HANDLER(ohsm_kms_op_list_keys);
OHSM_KMS_HANDLER(ohsm_kms_op_enable_key);
OHSM_KMS_HANDLER(ohsm_kms_op_disable_key);
OHSM_KMS_HANDLER(ohsm_kms_op_schedule_key_deletion);
OHSM_KMS_HANDLER(ohsm_kms_op_cancel_key_deletion);
OHSM_KMS_HANDLER(ohsm_kms_op_update_key_description);
/* op_alias.c */
OHSM_KMS_HANDLER(ohsm_kms_op_create_alias);
OHSM_KMS_HANDLER(ohsm_kms_op_update_alias);
OHSM_KMS_HANDLER(ohsm_kms_op_delete_alias);
OHSM_KMS_HANDLER(ohsm_kms_op_list_aliases);
/* op_crypto.c */
OHSM_KMS_HANDLER(ohsm_kms_op_encrypt);
OHSM_KMS_HANDLER(ohsm_kms_op_decrypt);
OHSM_KMS_HANDLER(ohsm_kms_op_re_encrypt);
OHSM_KMS_HANDLER(ohsm_kms_op_generate_data_key);
OHSM_KMS_HANDLER(ohsm_kms_op_generate_data_key_without_plaintext);
OHSM_KMS_HANDLER(ohsm_kms_op_generate_random);
/* rotate.c */
OHSM_KMS_HANDLER(ohsm_kms_op_enable_key_rotation);
OHSM_KMS_HANDLER(ohsm_kms_op_disable_key_rotation);
OHSM_KMS_HANDLER(ohsm_kms_op_get_key_rotation_status);
OHSM_KMS_HANDLER(ohsm_kms_op_rotate_key_on_demand);
OHSM_KMS_HANDLER(ohsm_kms_op_list_key_rotations);
/* op_meta.c */
OHSM_KMS_HANDLER(ohsm_kms_op_get_key_policy);
OHSM_KMS_HANDLER(ohsm_kms_op_put_key_policy);
OHSM_KMS_HANDLER(ohsm_kms_op_list_key_policies);
OHSM_KMS_HANDLER(ohsm_kms_op_tag_resource);
OHSM_KMS_HANDLER(ohsm_kms_op_untag_resource);
OHSM_KMS_HANDLER(ohsm_kms_op_list_resource_tags);
/* op_grant.c */
OHSM_KMS_HANDLER(ohsm_kms_op_create_grant);
OHSM_KMS_HANDLER(ohsm_kms_op_list_grants);
OHSM_KMS_HANDLER(ohsm_kms_op_list_retirable_grants);
OHSM_KMS_HANDLER(ohsm_kms_op_retire_grant);
OHSM_KMS_HANDLER(ohsm_kms_op_revoke_grant);
/* op_asym.c */
OHSM_KMS_HANDLER(ohsm_kms_op_sign);
OHSM_KMS_HANDLER(ohsm_kms_op_verify);
OHSM_KMS_HANDLER(ohsm_kms_op_get_public_key);
OHSM_KMS_HANDLER(ohsm_kms_op_generate_data_key_pair);
OHSM_KMS_HANDLER(ohsm_kms_op_generate_data_key_pair_without_plaintext);
OHSM_KMS_HANDLER(ohsm_kms_op_generate_mac);
OHSM_KMS_HANDLER(ohsm_kms_op_verify_mac);
/* op_import.c */
OHSM_KMS_HANDLER(ohsm_kms_op_get_parameters_for_import);
OHSM_KMS_HANDLER(ohsm_kms_op_import_key_material);
OHSM_KMS_HANDLER(ohsm_kms_op_delete_imported_key_material);
/* op_cks.c */
OHSM_KMS_HANDLER(ohsm_kms_op_create_custom_key_store);
OHSM_KMS_HANDLER(ohsm_kms_op_describe_custom_key_stores);
OHSM_KMS_HANDLER(ohsm_kms_op_connect_custom_key_store);
OHSM_KMS_HANDLER(ohsm_kms_op_disconnect_custom_key_store);
OHSM_KMS_HANDLER(ohsm_kms_op_update_custom_key_store);
OHSM_KMS_HANDLER(ohsm_kms_op_delete_custom_key_store);

#endif
