/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS scheduler's pass (ohsm_kms_tick): what happens to keys with time alone, at the service
 * clock (so tests advance days in seconds with --clock-offset / OpenHsmAdmin.AdvanceClock):
 *   - a key PendingDeletion whose DeletionDate has come is deleted with everything it owns
 *     (service event DeleteKey; for a key of a CloudHSM key store, after the best-effort
 *     deletion of its backing key, made without the write lock);
 *   - imported material whose ValidTo has come is deleted and the key turns PendingImport
 *     (service event DeleteExpiredKeyMaterial);
 *   - automatic rotation (rotate.c) for keys whose next rotation date has come.
 * Each step is one store change, so a crash between steps is finished by the next pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_int.h"

/* additionalEventData of a key of a CloudHSM key store: the store, the cluster and the backing
 * key with the outcome of its deletion, as AWS writes them (the lists as JSON text). */
static void backing_event(json_t *add, const struct ohsm_kms_key *key, uint64_t handle, bool ok)
{
    char bid[65], h[24];
    ohsm_kms_cks_backing_id(key->id, bid);
    (void)snprintf(h, sizeof(h), "%llu", (unsigned long long)handle);
    json_t *keys = json_pack("[{s:s, s:s}]", "keyHandle", h, "backingKeyId", bid);
    json_t *st = json_pack("[{s:s, s:s, s:s}]", "keyHandle", h, "backingKeyId", bid,
                           "deletionStatus", ok ? "SUCCESS" : "FAILURE");
    char *ks = keys != NULL ? json_dumps(keys, JSON_COMPACT) : NULL;
    char *ss = st != NULL ? json_dumps(st, JSON_COMPACT) : NULL;
    json_object_set_new(add, "customKeyStoreId", json_string(key->custom_key_store_id));
    json_object_set_new(add, "clusterId", json_string(key->cluster_id));
    if (ks != NULL && ss != NULL) {
        json_object_set_new(add, "backingKeys", json_string(ks));
        json_object_set_new(add, "backingKeysDeletionStatus", json_string(ss));
    }
    free(ks);
    free(ss);
    json_decref(keys);
    json_decref(st);
}

/* The metadata goes first. Returns true when the key was deleted and is of a CloudHSM key store:
 * then the caller, without k->write_lock (an HSM call may take a network timeout), makes KMS's
 * best effort to delete its backing key from the cluster and writes the event
 * (cks_deleted); other keys get their event here. */
static bool delete_key(struct ohsm_kms *k, const struct ohsm_kms_key *key)
{
    ohsm_rv rv = ohsm_kms_tab_delete(k, key->id);
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: kms: cannot delete key %s: %s\n", key->id, ohsm_rv_str(rv));
        return false;
    }
    if (key->origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
        return true;
    }
    json_t *add = json_pack("{s:s}", "keyId", key->id);
    ohsm_kms_service_event(k, key, "DeleteKey", add);
    json_decref(add);
    return false;
}

/* A store that is not connected, or a kmsuser whose password was changed, leaves the backing key
 * in the cluster: orphaned key material, reported as FAILURE. */
static void cks_deleted(struct ohsm_kms *k, const struct ohsm_kms_key *key)
{
    json_t *add = json_pack("{s:s}", "keyId", key->id);
    uint64_t handle = 0;
    bool ok = ohsm_kms_cks_key_destroy(k, key, &handle);
    if (add != NULL) {
        backing_event(add, key, handle, ok);
    }
    ohsm_kms_service_event(k, key, "DeleteKey", add);
    json_decref(add);
}

/* The material goes and the key turns PendingImport in one store transaction, so a crash cannot
 * leave a key naming material that is gone; the table, then the cache, follow the commit. */
static void expire_material(struct ohsm_kms *k, struct ohsm_kms_key *key)
{
    ohsm_rv rv;

    if (key->state != OHSM_KSTATE_PENDING_DELETION) {
        key->state = OHSM_KSTATE_PENDING_IMPORT;
    }
    key->saved_state = OHSM_KSTATE_PENDING_IMPORT;
    key->valid_to = 0;
    key->cur_version = 0;
    rv = ohsm_kms_store_begin(k->store);
    if (rv == OHSM_OK) {
        rv = ohsm_kms_store_material_delete_all(k->store, key->id);
        if (rv == OHSM_OK) {
            rv = ohsm_kms_store_key_put(k->store, key);
        }
        if (rv == OHSM_OK) {
            rv = ohsm_kms_store_commit(k->store);
        } else {
            ohsm_kms_store_rollback(k->store);
        }
    }
    if (rv == OHSM_OK) {
        rv = ohsm_kms_tab_remember(k, key);
        ohsm_kms_mat_forget(k, key->id);
    }
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: kms: cannot expire the material of %s: %s\n", key->id,
                ohsm_rv_str(rv));
        return;
    }
    ohsm_kms_service_event(k, key, "DeleteExpiredKeyMaterial", NULL);
}

void ohsm_kms_tick(struct ohsm_kms *k)
{
    struct ohsm_kms_key *keys = NULL;
    size_t n = 0;
    int64_t now = ohsm_kms_now(k);

    struct ohsm_kms_key *later = NULL; /* deleted keys of CloudHSM key stores */
    size_t n_later = 0;

    if (ohsm_kms_tab_list(k, NULL, &keys, &n) != OHSM_OK) {
        return;
    }
    if (n > 0 && (later = calloc(n, sizeof(*later))) == NULL) {
        for (size_t i = 0; i < n; i++) {
            ohsm_kms_key_clear(&keys[i]);
        }
        free(keys);
        return; /* the next pass tries again */
    }
    (void)pthread_mutex_lock(&k->write_lock);
    for (size_t i = 0; i < n; i++) {
        /* Re-read under the write lock: a request may have changed the key meanwhile. */
        struct ohsm_kms_key cur;
        if (ohsm_kms_tab_get(k, keys[i].id, &cur) != OHSM_OK) {
            continue;
        }
        if (cur.state == OHSM_KSTATE_PENDING_DELETION && cur.deletion_date <= now) {
            if (delete_key(k, &cur)) {
                later[n_later++] = cur; /* taken: cleared after its backing key */
                continue;
            }
        } else if (cur.expiration == OHSM_KEXP_EXPIRES && cur.valid_to != 0 &&
                   cur.valid_to <= now && cur.cur_version != 0) {
            expire_material(k, &cur);
        } else {
            ohsm_kms_rotate_due(k, &cur, now);
        }
        ohsm_kms_key_clear(&cur);
    }
    (void)pthread_mutex_unlock(&k->write_lock);
    for (size_t i = 0; i < n_later; i++) {
        cks_deleted(k, &later[i]);
        ohsm_kms_key_clear(&later[i]);
    }
    free(later);
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_key_clear(&keys[i]);
    }
    free(keys);
}
