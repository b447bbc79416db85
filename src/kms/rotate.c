/* SPDX-License-Identifier: Apache-2.0
 *
 * Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
 * ListKeyRotations, and the scheduler's automatic rotation (ohsm_kms_rotate_due). A rotation adds
 * a material version and makes it current; older versions stay, so every ciphertext made before
 * still decrypts (its blob names its version). Only symmetric encryption keys whose material KMS
 * made (origin AWS_KMS) rotate, as in AWS KMS; others get UnsupportedOperationException.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_int.h"

#define DAY 86400
#define ON_DEMAND_MAX 25 /* AWS: 25 on-demand rotations per key */

static int rotatable(const struct ohsm_kms_key *key, const char *arn, struct ohsm_aws_err *err)
{
    if (key->spec != OHSM_KSPEC_SYMMETRIC_DEFAULT || key->usage != OHSM_KUSE_ENCRYPT_DECRYPT ||
        key->origin != OHSM_KORIGIN_AWS_KMS) {
        ohsm_kms_fail(err, "UnsupportedOperationException",
                      "%s does not support key rotation: only symmetric encryption keys with "
                      "key material made by KMS rotate.",
                      arn);
        return -1;
    }
    return 0;
}

/* Adds material version cur_version + 1 and makes it current (k->write_lock held). */
static ohsm_rv rotate(struct ohsm_kms *k, struct ohsm_kms_key *key, uint32_t kind)
{
    uint8_t *mat = NULL;
    size_t len = 0;
    ohsm_rv rv;
    struct ohsm_kms_key next = *key;

    OHSM_TRY(ohsm_kms_material_gen(key->spec, &mat, &len));
    next.cur_version = key->cur_version + 1;
    rv = ohsm_kms_store_begin(k->store);
    if (rv == OHSM_OK) {
        rv = ohsm_kms_mat_store(k, key->id, next.cur_version, kind, mat, len, NULL, NULL);
        if (rv == OHSM_OK) {
            rv = ohsm_kms_store_key_put(k->store, &next);
        }
        if (rv == OHSM_OK) {
            rv = ohsm_kms_store_commit(k->store);
        } else {
            ohsm_kms_store_rollback(k->store);
        }
    }
    ohsm_kms_bytes_free(mat, len);
    if (rv == OHSM_OK) {
        key->cur_version = next.cur_version;
        rv = ohsm_kms_tab_remember(k, key);
    }
    return rv;
}

void ohsm_kms_rotate_due(struct ohsm_kms *k, struct ohsm_kms_key *key, int64_t now)
{
    if (!key->rotation_enabled || key->next_rotation == 0 || key->next_rotation > now ||
        key->state != OHSM_KSTATE_ENABLED) {
        return;
    }
    key->next_rotation = now + (int64_t)key->rotation_period_days * DAY;
    ohsm_rv rv = rotate(k, key, OHSM_MKIND_AUTOMATIC);
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: kms: automatic rotation of %s failed: %s\n", key->id,
                ohsm_rv_str(rv));
        return;
    }
    ohsm_kms_service_event(k, key, "RotateKey", NULL);
}

static json_t *set_rotation(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,
                            struct ohsm_kms_ctx *x, struct ohsm_aws_err *err, bool on)
{
    struct ohsm_kms_key key;
    json_t *out = NULL;
    json_t *p = json_object_get(in, "RotationPeriodInDays");

    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"),
                     on ? OHSM_KOP_ENABLE_KEY_ROTATION : OHSM_KOP_DISABLE_KEY_ROTATION, &key, x,
                     err) != 0) {
        goto unlock;
    }
    if (rotatable(&key, x->key_arn, err) != 0) {
        goto done;
    }
    if (on) {
        json_int_t days = json_is_integer(p) ? json_integer_value(p) : 365;
        if (days < 90 || days > 2560) {
            ohsm_kms_fail(err, "ValidationException",
                          "1 validation error detected: Value '%lld' at 'rotationPeriodInDays' "
                          "failed to satisfy constraint: Member must have value between 90 and "
                          "2560",
                          (long long)days);
            goto done;
        }
        key.rotation_enabled = true;
        key.rotation_period_days = (uint32_t)days;
        key.next_rotation = ohsm_kms_now(k) + days * DAY;
    } else {
        key.rotation_enabled = false;
        key.next_rotation = 0;
    }
    ohsm_rv rv = ohsm_kms_tab_put(k, &key);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "storing the key", rv);
        goto done;
    }
    out = json_object();
done:
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_enable_key_rotation)
{
    return set_rotation(k, call, in, x, err, true);
}

OHSM_KMS_HANDLER(ohsm_kms_op_disable_key_rotation)
{
    return set_rotation(k, call, in, x, err, false);
}

OHSM_KMS_HANDLER(ohsm_kms_op_get_key_rotation_status)
{
    struct ohsm_kms_key key;
    json_t *out = NULL;

    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_GET_KEY_ROTATION_STATUS, &key, x,
                     err) != 0) {
        return NULL;
    }
    if (rotatable(&key, x->key_arn, err) != 0) {
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyRotationEnabled", json_boolean(key.rotation_enabled));
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    if (key.rotation_enabled) {
        json_object_set_new(out, "RotationPeriodInDays", json_integer(key.rotation_period_days));
        json_object_set_new(out, "NextRotationDate", json_integer(key.next_rotation));
    }
done:
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_rotate_key_on_demand)
{
    struct ohsm_kms_key key;
    struct ohsm_kms_material *ms = NULL;
    size_t n = 0, on_demand = 0;
    json_t *out = NULL;
    ohsm_rv rv;

    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_ROTATE_KEY_ON_DEMAND, &key, x,
                     err) != 0) {
        goto unlock;
    }
    if (rotatable(&key, x->key_arn, err) != 0) {
        goto done;
    }
    rv = ohsm_kms_store_material_list(k->store, key.id, &ms, &n);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "listing key material", rv);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        on_demand += ms[i].kind == OHSM_MKIND_ON_DEMAND;
        ohsm_kms_material_clear(&ms[i]);
    }
    free(ms);
    if (on_demand >= ON_DEMAND_MAX) {
        ohsm_kms_fail(err, "LimitExceededException",
                      "%s has reached the limit of %d on-demand rotations.", x->key_arn,
                      ON_DEMAND_MAX);
        goto done;
    }
    rv = rotate(k, &key, OHSM_MKIND_ON_DEMAND);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "rotating the key", rv);
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
done:
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_list_key_rotations)
{
    struct ohsm_kms_key key;
    struct ohsm_kms_material *ms = NULL;
    const char *incl = ohsm_kms_str(in, "IncludeKeyMaterial");
    bool all = incl != NULL && strcmp(incl, "ALL_KEY_MATERIAL") == 0;
    size_t n = 0, limit, off, shown = 0;
    json_t *out = NULL, *arr;
    ohsm_rv rv;

    if (ohsm_kms_page(in, &limit, &off, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_LIST_READ, &key, x, err) != 0) {
        return NULL;
    }
    if (key.spec != OHSM_KSPEC_SYMMETRIC_DEFAULT || key.origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
        ohsm_kms_fail(err, "UnsupportedOperationException", "%s does not support key rotation.",
                      x->key_arn);
        goto done;
    }
    rv = ohsm_kms_store_material_list(k->store, key.id, &ms, &n);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "listing key material", rv);
        goto done;
    }
    /* Entries: every version (ALL_KEY_MATERIAL) or the rotations only (versions after the
     * first). */
    size_t first = all ? 0 : (n > 0 ? 1 : 0);
    size_t total = n - first;
    if (off > total) {
        ohsm_kms_fail(err, "InvalidMarkerException", "Invalid marker.");
        goto free_ms;
    }
    out = json_object();
    arr = json_array();
    size_t end = off + limit < total ? off + limit : total;
    for (size_t i = first + off; i < first + end; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "KeyId", json_string(key.id));
        json_object_set_new(e, "KeyMaterialId", json_string(ms[i].material_id));
        json_object_set_new(
            e, "KeyMaterialState",
            json_string(ms[i].version == key.cur_version ? "CURRENT" : "NON_CURRENT"));
        if (ms[i].kind == OHSM_MKIND_AUTOMATIC || ms[i].kind == OHSM_MKIND_ON_DEMAND) {
            json_object_set_new(e, "RotationDate", json_integer(ms[i].created));
            json_object_set_new(
                e, "RotationType",
                json_string(ms[i].kind == OHSM_MKIND_AUTOMATIC ? "AUTOMATIC" : "ON_DEMAND"));
        }
        json_array_append_new(arr, e);
        shown++;
    }
    json_object_set_new(out, "Rotations", arr);
    ohsm_kms_page_end(out, end, total);
free_ms:
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_material_clear(&ms[i]);
    }
    free(ms);
done:
    ohsm_kms_key_clear(&key);
    (void)shown;
    return out;
}
