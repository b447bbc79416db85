/* SPDX-License-Identifier: Apache-2.0
 *
 * Key policies and tags: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies (stored and returned; openhsm
 * does not evaluate policies, as the README says), TagResource, UntagResource, ListResourceTags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_int.h"

#define TAGS_MAX 50 /* AWS: 50 tags per KMS key */

static int policy_name(json_t *in, struct ohsm_aws_err *err)
{
    const char *name = ohsm_kms_str(in, "PolicyName");
    if (name != NULL && strcmp(name, "default") != 0) {
        ohsm_kms_fail(err, "NotFoundException",
                      "No such policy exists: %s. The only valid key policy name is default.",
                      name);
        return -1;
    }
    return 0;
}

OHSM_KMS_HANDLER(ohsm_kms_op_get_key_policy)
{
    struct ohsm_kms_key key;
    char *policy = NULL;
    json_t *out = NULL;
    ohsm_rv rv;

    if (policy_name(in, err) != 0 || ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"),
                                                  OHSM_KOP_GET_KEY_POLICY, &key, x, err) != 0) {
        return NULL;
    }
    rv = ohsm_kms_store_policy_get(k->store, key.id, "default", &policy);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "reading the key policy", rv);
    } else {
        out = json_pack("{s:s, s:s}", "Policy", policy, "PolicyName", "default");
    }
    free(policy);
    ohsm_kms_key_clear(&key);
    return out;
}

/* A policy document: an object whose Statement is one statement (an object) or a non-empty
 * list of statements, as the IAM policy grammar allows. */
bool ohsm_kms_policy_ok(json_t *doc)
{
    json_t *st = json_object_get(doc, "Statement"), *e;
    size_t i;

    if (!json_is_object(doc)) {
        return false;
    }
    if (json_is_object(st)) {
        return true;
    }
    if (!json_is_array(st) || json_array_size(st) == 0) {
        return false;
    }
    json_array_foreach(st, i, e)
    {
        if (!json_is_object(e)) {
            return false;
        }
    }
    return true;
}

OHSM_KMS_HANDLER(ohsm_kms_op_put_key_policy)
{
    struct ohsm_kms_key key;
    const char *policy = ohsm_kms_str(in, "Policy");
    json_t *out = NULL, *doc;
    json_error_t je;
    ohsm_rv rv;

    if (policy_name(in, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_PUT_KEY_POLICY, &key, x, err) !=
        0) {
        return NULL;
    }
    doc = policy != NULL ? json_loads(policy, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (!ohsm_kms_policy_ok(doc)) {
        ohsm_kms_fail(err, "MalformedPolicyDocumentException",
                      "The key policy is not a JSON policy document whose Statement is a "
                      "statement or a list of statements.");
        goto done;
    }
    rv = ohsm_kms_store_policy_put(k->store, key.id, "default", policy);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "storing the key policy", rv);
        goto done;
    }
    out = json_object();
done:
    json_decref(doc);
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_list_key_policies)
{
    struct ohsm_kms_key key;
    size_t limit, off;
    json_t *out;

    if (ohsm_kms_page(in, &limit, &off, err) != 0 ||
        ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_LIST_READ, &key, x, err) != 0) {
        return NULL;
    }
    ohsm_kms_key_clear(&key);
    if (off > 1) {
        return ohsm_kms_fail(err, "InvalidMarkerException", "Invalid marker.");
    }
    out = json_object();
    json_t *names = json_array();
    if (off == 0) {
        json_array_append_new(names, json_string("default"));
    }
    json_object_set_new(out, "PolicyNames", names);
    ohsm_kms_page_end(out, 1, 1);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_tag_resource)
{
    struct ohsm_kms_key key;
    json_t *tags = json_object_get(in, "Tags"), *t, *out = NULL;
    struct ohsm_kms_tag *set = NULL, *cur = NULL;
    size_t n = json_array_size(tags), ncur = 0, i, added = 0;
    ohsm_rv rv;

    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_TAG_UNTAG, &key, x, err) != 0) {
        goto unlock;
    }
    set = calloc(n > 0 ? n : 1, sizeof(*set));
    if (set == NULL) {
        ohsm_kms_internal(err, "tags", OHSM_HOST_MEMORY);
        goto done;
    }
    json_array_foreach(tags, i, t)
    {
        const char *tk = ohsm_kms_str(t, "TagKey"), *tv = ohsm_kms_str(t, "TagValue");
        if (tk == NULL || tv == NULL) {
            ohsm_kms_fail(err, "ValidationException", "A tag needs a TagKey and a TagValue.");
            goto done;
        }
        if (strncmp(tk, "aws:", 4) == 0) {
            ohsm_kms_fail(err, "TagException", "Tag keys beginning with aws: are reserved.");
            goto done;
        }
        /* The model counted characters; the store keeps bytes (store.h). Refuse what would
         * be cut (a cut tag would be stored wrong, even as broken UTF-8) instead of storing it. */
        if (strlen(tk) >= sizeof(set[i].key) || strlen(tv) >= sizeof(set[i].value)) {
            ohsm_kms_fail(err, "ValidationException",
                          "openhsm stores a TagKey of at most %zu bytes and a TagValue of at most "
                          "%zu bytes of UTF-8.",
                          sizeof(set[i].key) - 1, sizeof(set[i].value) - 1);
            goto done;
        }
        memcpy(set[i].key, tk, strlen(tk) + 1);
        memcpy(set[i].value, tv, strlen(tv) + 1);
    }
    rv = ohsm_kms_store_tag_list(k->store, key.id, &cur, &ncur);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "listing tags", rv);
        goto done;
    }
    for (i = 0; i < n; i++) {
        bool known = false;
        for (size_t j = 0; j < ncur && !known; j++) {
            known = strcmp(cur[j].key, set[i].key) == 0;
        }
        for (size_t j = 0; j < i && !known; j++) {
            known = strcmp(set[j].key, set[i].key) == 0;
        }
        added += !known;
    }
    if (ncur + added > TAGS_MAX) {
        ohsm_kms_fail(err, "LimitExceededException",
                      "A KMS key can have at most %d tags (it has %zu).", TAGS_MAX, ncur);
        goto done;
    }
    rv = ohsm_kms_store_tag_set(k->store, key.id, set, n);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "storing tags", rv);
        goto done;
    }
    out = json_object();
done:
    free(set);
    free(cur);
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_untag_resource)
{
    struct ohsm_kms_key key;
    json_t *keys = json_object_get(in, "TagKeys"), *t, *out = NULL;
    const char **names = NULL;
    size_t n = json_array_size(keys), i;
    ohsm_rv rv;

    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_TAG_UNTAG, &key, x, err) != 0) {
        goto unlock;
    }
    names = calloc(n > 0 ? n : 1, sizeof(*names));
    if (names == NULL) {
        ohsm_kms_internal(err, "tags", OHSM_HOST_MEMORY);
        goto done;
    }
    json_array_foreach(keys, i, t)
    {
        names[i] = json_string_value(t);
        if (names[i] == NULL) {
            ohsm_kms_fail(err, "ValidationException", "TagKeys must be strings.");
            goto done;
        }
        if (strncmp(names[i], "aws:", 4) == 0) {
            ohsm_kms_fail(err, "TagException", "Tag keys beginning with aws: are reserved.");
            goto done;
        }
    }
    rv = ohsm_kms_store_tag_remove(k->store, key.id, names, n);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "removing tags", rv);
        goto done;
    }
    out = json_object();
done:
    free(names);
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_list_resource_tags)
{
    struct ohsm_kms_key key;
    struct ohsm_kms_tag *tags = NULL;
    size_t n = 0, limit, off;
    json_t *out = NULL, *arr;
    ohsm_rv rv;

    if (ohsm_kms_page(in, &limit, &off, err) != 0 ||
        ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_LIST_READ, &key, x, err) != 0) {
        return NULL;
    }
    rv = ohsm_kms_store_tag_list(k->store, key.id, &tags, &n);
    ohsm_kms_key_clear(&key);
    if (rv != OHSM_OK) {
        return ohsm_kms_internal(err, "listing tags", rv);
    }
    if (off > n) {
        free(tags);
        return ohsm_kms_fail(err, "InvalidMarkerException", "Invalid marker.");
    }
    out = json_object();
    arr = json_array();
    size_t end = off + limit < n ? off + limit : n;
    for (size_t i = off; i < end; i++) {
        json_array_append_new(
            arr, json_pack("{s:s, s:s}", "TagKey", tags[i].key, "TagValue", tags[i].value));
    }
    json_object_set_new(out, "Tags", arr);
    ohsm_kms_page_end(out, end, n);
    free(tags);
    return out;
}
