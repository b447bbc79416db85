/* SPDX-License-Identifier: Apache-2.0
 *
 * Key management handlers: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
 * ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription. Input shapes were checked against
 * botocore's model by the front door; what is left here are the rules between fields and the
 * key-state table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kms/blob.h"
#include "kms/kms_int.h"

#define DAY 86400

static json_t *with_metadata(struct ohsm_kms *k, const struct ohsm_kms_key *key)
{
    json_t *out = json_object();
    json_t *md = ohsm_kms_key_metadata(k, key);
    if (out == NULL || md == NULL) {
        json_decref(out);
        json_decref(md);
        return NULL;
    }
    json_object_set_new(out, "KeyMetadata", md);
    return out;
}

/* Writes a new key with its first material (AWS_KMS), tags and policy in one transaction. */
static ohsm_rv create_durable(struct ohsm_kms *k, struct ohsm_kms_key *key, const uint8_t *mat,
                              size_t mat_len, json_t *tags, const char *policy)
{
    ohsm_rv rv;

    OHSM_TRY(ohsm_kms_store_begin(k->store));
    rv = ohsm_kms_store_key_put(k->store, key);
    if (rv == OHSM_OK && mat != NULL) {
        rv = ohsm_kms_mat_store(k, key->id, 1, OHSM_MKIND_CREATED, mat, mat_len, NULL, NULL);
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        if (rv != OHSM_OK) {
            break;
        }
        struct ohsm_kms_tag tag;
        (void)snprintf(tag.key, sizeof(tag.key), "%s", ohsm_kms_str(t, "TagKey"));
        (void)snprintf(tag.value, sizeof(tag.value), "%s", ohsm_kms_str(t, "TagValue"));
        rv = ohsm_kms_store_tag_set(k->store, key->id, &tag, 1);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_kms_store_policy_put(k->store, key->id, "default", policy);
    }
    if (rv != OHSM_OK) {
        ohsm_kms_store_rollback(k->store);
        return rv;
    }
    OHSM_TRY(ohsm_kms_store_commit(k->store));
    return ohsm_kms_tab_remember(k, key);
}

static int check_tags(json_t *tags, struct ohsm_aws_err *err)
{
    size_t i, j;
    json_t *t, *u;

    json_array_foreach(tags, i, t)
    {
        const char *key = ohsm_kms_str(t, "TagKey");
        if (key == NULL || ohsm_kms_str(t, "TagValue") == NULL) {
            ohsm_kms_fail(err, "ValidationException", "A tag needs a TagKey and a TagValue.");
            return -1;
        }
        if (strncmp(key, "aws:", 4) == 0) {
            ohsm_kms_fail(err, "TagException", "Tag keys beginning with aws: are reserved.");
            return -1;
        }
        json_array_foreach(tags, j, u)
        {
            if (j < i && strcmp(key, ohsm_kms_str(u, "TagKey")) == 0) {
                ohsm_kms_fail(err, "TagException", "Duplicate tag keys: %s", key);
                return -1;
            }
        }
    }
    return 0;
}

OHSM_KMS_HANDLER(ohsm_kms_op_create_key)
{
    struct ohsm_kms_key key;
    const char *spec_s = ohsm_kms_str(in, "KeySpec");
    const char *cmk_s = ohsm_kms_str(in, "CustomerMasterKeySpec");
    const char *usage_s = ohsm_kms_str(in, "KeyUsage");
    const char *origin_s = ohsm_kms_str(in, "Origin");
    const char *desc = ohsm_kms_str(in, "Description");
    const char *policy = ohsm_kms_str(in, "Policy");
    json_t *tags = json_object_get(in, "Tags");
    uint8_t *mat = NULL;
    size_t mat_len = 0;
    char *def_policy = NULL;
    struct ohsm_kms_cks cks;
    bool backing = false;
    json_t *out = NULL;
    ohsm_rv rv;

    memset(&key, 0, sizeof(key));
    memset(&cks, 0, sizeof(cks));
    if (spec_s != NULL && cmk_s != NULL) {
        return ohsm_kms_fail(err, "ValidationException",
                             "You cannot specify KeySpec and CustomerMasterKeySpec in the same "
                             "request. CustomerMasterKeySpec is deprecated.");
    }
    key.spec = ohsm_kms_spec_from(spec_s != NULL  ? spec_s
                                  : cmk_s != NULL ? cmk_s
                                                  : "SYMMETRIC_DEFAULT");
    if (key.spec == OHSM_KSPEC_NONE) {
        return ohsm_kms_fail(err, "UnsupportedOperationException",
                             "KeySpec %s is not supported by openhsm.",
                             spec_s != NULL ? spec_s : cmk_s);
    }
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(key.spec);
    if (si == NULL) {
        return ohsm_kms_internal(err, "key spec table", OHSM_ARGUMENTS_BAD);
    }
    if (usage_s != NULL) {
        key.usage = ohsm_kms_usage_from(usage_s);
        if (key.usage == OHSM_KUSE_NONE) {
            return ohsm_kms_fail(err, "UnsupportedOperationException",
                                 "KeyUsage %s is not supported by openhsm.", usage_s);
        }
    } else {
        key.usage = OHSM_KUSE_ENCRYPT_DECRYPT;
    }
    if (!ohsm_kms_spec_allows(key.spec, key.usage)) {
        if (usage_s == NULL) {
            return ohsm_kms_fail(err, "ValidationException",
                                 "You must specify a KeyUsage value for all KMS keys except for "
                                 "symmetric encryption keys.");
        }
        return ohsm_kms_fail(err, "ValidationException",
                             "KeyUsage %s is not compatible with KeySpec %s", usage_s,
                             ohsm_kms_spec_name(key.spec));
    }
    key.origin = ohsm_kms_origin_from(origin_s != NULL ? origin_s : "AWS_KMS");
    const char *cks_id = ohsm_kms_str(in, "CustomKeyStoreId");
    if (key.origin == OHSM_KORIGIN_AWS_CLOUDHSM || cks_id != NULL) {
        if (cks_id == NULL) {
            return ohsm_kms_fail(err, "ValidationException",
                                 "A CustomKeyStoreId is required when Origin is AWS_CLOUDHSM.");
        }
        if (key.origin != OHSM_KORIGIN_AWS_CLOUDHSM) {
            return ohsm_kms_fail(err, "ValidationException",
                                 "To create a KMS key in an AWS CloudHSM key store, Origin must "
                                 "be AWS_CLOUDHSM.");
        }
        if (ohsm_kms_cks_find(k, call->region, call->account_id, cks_id, false, &cks, err) !=
            0) {
            return NULL;
        }
        if (key.spec != OHSM_KSPEC_SYMMETRIC_DEFAULT || key.usage != OHSM_KUSE_ENCRYPT_DECRYPT) {
            ohsm_kms_cks_clear(&cks);
            return ohsm_kms_fail(err, "UnsupportedOperationException",
                                 "KMS keys in an AWS CloudHSM key store must be symmetric "
                                 "encryption keys: KeySpec SYMMETRIC_DEFAULT, KeyUsage "
                                 "ENCRYPT_DECRYPT.");
        }
        (void)snprintf(key.custom_key_store_id, sizeof(key.custom_key_store_id), "%s", cks.id);
        (void)snprintf(key.cluster_id, sizeof(key.cluster_id), "%s", cks.cluster_id);
        ohsm_kms_cks_clear(&cks);
    }
    if (key.origin == OHSM_KORIGIN_NONE) {
        return ohsm_kms_fail(err, "UnsupportedOperationException",
                             "Origin %s is not supported by openhsm.", origin_s);
    }
    if (json_is_true(json_object_get(in, "MultiRegion"))) {
        return ohsm_kms_fail(err, "UnsupportedOperationException",
                             "Multi-Region keys are not supported by openhsm.");
    }
    if (ohsm_kms_str(in, "XksKeyId") != NULL) {
        return ohsm_kms_fail(err, "UnsupportedOperationException",
                             "External key stores are not supported by openhsm.");
    }
    if (check_tags(tags, err) != 0) {
        return NULL;
    }
    if (policy != NULL) {
        json_error_t je;
        json_t *doc = json_loads(policy, JSON_REJECT_DUPLICATES, &je);
        bool ok = ohsm_kms_policy_ok(doc);
        json_decref(doc);
        if (!ok) {
            return ohsm_kms_fail(err, "MalformedPolicyDocumentException",
                                 "The key policy is not a JSON policy document whose Statement is "
                                 "a statement or a non-empty list of statements.");
        }
    } else {
        def_policy = ohsm_kms_default_policy(call->account_id);
        if (def_policy == NULL) {
            return ohsm_kms_internal(err, "default policy", OHSM_HOST_MEMORY);
        }
        policy = def_policy;
    }

    rv = ohsm_kms_uuid_new(key.id);
    if (rv != OHSM_OK) {
        out = ohsm_kms_internal(err, "key id", rv);
        goto done;
    }
    (void)snprintf(key.region, sizeof(key.region), "%s", call->region);
    (void)snprintf(key.account, sizeof(key.account), "%s", call->account_id);
    key.created_ms = ohsm_kms_now_ms(k);
    key.description = strdup(desc != NULL ? desc : "");
    if (key.description == NULL) {
        out = ohsm_kms_internal(err, "description", OHSM_HOST_MEMORY);
        goto done;
    }
    if (key.origin == OHSM_KORIGIN_EXTERNAL) {
        key.state = OHSM_KSTATE_PENDING_IMPORT;
        key.expiration = OHSM_KEXP_NONE;
    } else if (key.origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
        /* the store CONNECTED, two active HSMs in two AZs, then the backing key in them */
        key.state = OHSM_KSTATE_ENABLED;
        key.cur_version = 1;
        if (ohsm_kms_cks_find(k, call->region, call->account_id, key.custom_key_store_id, true,
                              NULL, err) != 0 ||
            ohsm_kms_cks_check_cluster(k, call->region, key.cluster_id, OHSM_CKS_NEED_TWO_HSMS,
                                       NULL, err) != 0 ||
            ohsm_kms_cks_key_create(k, &key, &key.backing_handle, err) != 0) {
            goto done;
        }
        backing = true;
    } else {
        key.state = OHSM_KSTATE_ENABLED;
        key.cur_version = 1;
        rv = ohsm_kms_material_gen(key.spec, &mat, &mat_len);
        if (rv != OHSM_OK) {
            out = ohsm_kms_internal(err, "key generation", rv);
            goto done;
        }
    }
    key.saved_state = key.state;
    rv = create_durable(k, &key, mat, mat_len, tags, policy);
    if (rv != OHSM_OK) {
        out = ohsm_kms_internal(err, "storing the new key", rv);
        goto done;
    }
    backing = false; /* the key owns it now */
    ohsm_kms_key_arn(&key, x->key_arn, sizeof(x->key_arn));
    if (key.origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
        char bid[65], handle[24];
        ohsm_kms_cks_backing_id(key.id, bid);
        (void)snprintf(handle, sizeof(handle), "%llu", (unsigned long long)key.backing_handle);
        x->additional = json_pack("{s:{s:s, s:s}}", "backingKey", "keyHandle", handle,
                                  "backingKeyId", bid);
    }
    out = with_metadata(k, &key);
done:
    if (backing) { /* made in the cluster but not recorded: take it back */
        uint64_t h = 0;
        (void)ohsm_kms_cks_key_destroy(k, &key, &h);
    }
    ohsm_kms_bytes_free(mat, mat_len);
    free(def_policy);
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_describe_key)
{
    struct ohsm_kms_key key;
    json_t *out;

    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_DESCRIBE_KEY, &key, x, err) !=
        0) {
        return NULL;
    }
    out = with_metadata(k, &key);
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_list_keys)
{
    struct ohsm_kms_key *keys = NULL;
    size_t n = 0, limit, off;
    char arn[OHSM_KMS_ARN_MAX];
    json_t *out = NULL, *arr;
    ohsm_rv rv;

    (void)x;
    if (ohsm_kms_page(in, &limit, &off, err) != 0) {
        return NULL;
    }
    rv = ohsm_kms_tab_list(k, call->region, &keys, &n);
    if (rv != OHSM_OK) {
        return ohsm_kms_internal(err, "listing keys", rv);
    }
    if (off > n) {
        ohsm_kms_fail(err, "InvalidMarkerException", "Invalid marker.");
        goto done;
    }
    out = json_object();
    arr = json_array();
    size_t end = off + limit < n ? off + limit : n;
    for (size_t i = off; i < end; i++) {
        if (strcmp(keys[i].account, call->account_id) != 0) {
            continue;
        }
        ohsm_kms_key_arn(&keys[i], arn, sizeof(arn));
        json_array_append_new(arr, json_pack("{s:s, s:s}", "KeyId", keys[i].id, "KeyArn", arn));
    }
    json_object_set_new(out, "Keys", arr);
    ohsm_kms_page_end(out, end, n);
done:
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_key_clear(&keys[i]);
    }
    free(keys);
    return out;
}

/* Runs change(key) on the current record of the key named by KeyId under the write lock, after
 * the key-state check for op, and stores the result. */
typedef int (*key_change_fn)(struct ohsm_kms *k, struct ohsm_kms_key *key, json_t *in, json_t *out,
                             struct ohsm_aws_err *err);

static json_t *change_key(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,
                          struct ohsm_kms_ctx *x, struct ohsm_aws_err *err, uint32_t op,
                          key_change_fn change)
{
    struct ohsm_kms_key key;
    json_t *out = json_object();
    ohsm_rv rv;

    if (out == NULL) {
        return ohsm_kms_internal(err, "reply", OHSM_HOST_MEMORY);
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), op, &key, x, err) != 0) {
        (void)pthread_mutex_unlock(&k->write_lock);
        json_decref(out);
        return NULL;
    }
    if (change(k, &key, in, out, err) != 0) {
        json_decref(out);
        out = NULL;
        goto done;
    }
    rv = ohsm_kms_tab_put(k, &key);
    if (rv != OHSM_OK) {
        json_decref(out);
        out = ohsm_kms_internal(err, "storing the key", rv);
    }
done:
    (void)pthread_mutex_unlock(&k->write_lock);
    ohsm_kms_key_clear(&key);
    return out;
}

static int do_enable(struct ohsm_kms *k, struct ohsm_kms_key *key, json_t *in, json_t *out,
                     struct ohsm_aws_err *err)
{
    (void)k, (void)in, (void)out, (void)err;
    if (key->state == OHSM_KSTATE_UNAVAILABLE) {
        key->saved_state = OHSM_KSTATE_ENABLED; /* [12]: effective once available */
    } else {
        key->state = key->saved_state = OHSM_KSTATE_ENABLED;
    }
    return 0;
}

static int do_disable(struct ohsm_kms *k, struct ohsm_kms_key *key, json_t *in, json_t *out,
                      struct ohsm_aws_err *err)
{
    (void)k, (void)in, (void)out, (void)err;
    if (key->state == OHSM_KSTATE_UNAVAILABLE) {
        key->saved_state = OHSM_KSTATE_DISABLED;
    } else {
        key->state = key->saved_state = OHSM_KSTATE_DISABLED;
    }
    return 0;
}

static int do_schedule(struct ohsm_kms *k, struct ohsm_kms_key *key, json_t *in, json_t *out,
                       struct ohsm_aws_err *err)
{
    json_t *w = json_object_get(in, "PendingWindowInDays");
    json_int_t days = json_is_integer(w) ? json_integer_value(w) : 30;
    char arn[OHSM_KMS_ARN_MAX];

    if (days < 7 || days > 30) {
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value '%lld' at 'pendingWindowInDays' failed "
                      "to satisfy constraint: Member must have value between 7 and 30",
                      (long long)days);
        return -1;
    }
    if (key->state != OHSM_KSTATE_PENDING_DELETION && key->state != OHSM_KSTATE_UNAVAILABLE) {
        key->saved_state = key->state; /* (Unavailable keeps the state it returns to) */
    }
    key->state = OHSM_KSTATE_PENDING_DELETION;
    key->pending_window_days = (uint32_t)days;
    key->deletion_date = ohsm_kms_now(k) + days * DAY;
    ohsm_kms_key_arn(key, arn, sizeof(arn));
    json_object_set_new(out, "KeyId", json_string(arn));
    json_object_set_new(out, "DeletionDate", json_integer(key->deletion_date));
    json_object_set_new(out, "KeyState", json_string("PendingDeletion"));
    json_object_set_new(out, "PendingWindowInDays", json_integer(days));
    return 0;
}

static int do_cancel(struct ohsm_kms *k, struct ohsm_kms_key *key, json_t *in, json_t *out,
                     struct ohsm_aws_err *err)
{
    char arn[OHSM_KMS_ARN_MAX];

    (void)in;
    /* AWS: a key whose deletion is cancelled is Disabled (PendingImport when it has no
     * material). */
    key->state = key->cur_version == 0 && key->origin == OHSM_KORIGIN_EXTERNAL
                     ? OHSM_KSTATE_PENDING_IMPORT
                     : OHSM_KSTATE_DISABLED;
    key->saved_state = key->state;
    if (key->origin == OHSM_KORIGIN_AWS_CLOUDHSM &&
        ohsm_kms_cks_find(k, key->region, key->account, key->custom_key_store_id, true, NULL,
                          err) != 0) {
        /* its store is not connected: Disabled once it is, Unavailable until then */
        memset(err, 0, sizeof(*err));
        key->state = OHSM_KSTATE_UNAVAILABLE;
    }
    key->deletion_date = 0;
    key->pending_window_days = 0;
    ohsm_kms_key_arn(key, arn, sizeof(arn));
    json_object_set_new(out, "KeyId", json_string(arn));
    return 0;
}

static int do_describe(struct ohsm_kms *k, struct ohsm_kms_key *key, json_t *in, json_t *out,
                       struct ohsm_aws_err *err)
{
    const char *d = ohsm_kms_str(in, "Description");
    char *copy;

    (void)k, (void)out;
    if (d == NULL) {
        ohsm_kms_fail(err, "ValidationException", "Description is required.");
        return -1;
    }
    copy = strdup(d);
    if (copy == NULL) {
        ohsm_kms_fail(err, "KMSInternalException", "Out of memory.");
        return -1;
    }
    free(key->description);
    key->description = copy;
    return 0;
}

OHSM_KMS_HANDLER(ohsm_kms_op_enable_key)
{
    return change_key(k, call, in, x, err, OHSM_KOP_ENABLE_KEY, do_enable);
}

OHSM_KMS_HANDLER(ohsm_kms_op_disable_key)
{
    return change_key(k, call, in, x, err, OHSM_KOP_DISABLE_KEY, do_disable);
}

OHSM_KMS_HANDLER(ohsm_kms_op_schedule_key_deletion)
{
    return change_key(k, call, in, x, err, OHSM_KOP_SCHEDULE_KEY_DELETION, do_schedule);
}

OHSM_KMS_HANDLER(ohsm_kms_op_cancel_key_deletion)
{
    return change_key(k, call, in, x, err, OHSM_KOP_CANCEL_KEY_DELETION, do_cancel);
}

OHSM_KMS_HANDLER(ohsm_kms_op_update_key_description)
{
    return change_key(k, call, in, x, err, OHSM_KOP_UPDATE_KEY_DESCRIPTION, do_describe);
}
