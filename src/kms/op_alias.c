/* SPDX-License-Identifier: Apache-2.0
 *
 * Alias handlers: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. An alias is a name in the
 * caller's account and region ("alias/..."; "alias/aws/" is AWS's own) pointing at one key; every
 * operation that takes a KeyId resolves it (svc.c). TargetKeyId takes a key id or key ARN only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms_int.h"

static int check_name(const char *name, struct ohsm_aws_err *err)
{
    if (name == NULL || strncmp(name, "alias/", 6) != 0 || name[6] == '\0') {
        ohsm_kms_fail(err, "ValidationException", "Alias must start with the prefix \"alias/\".");
        return -1;
    }
    if (strncmp(name, "alias/aws/", 10) == 0) {
        ohsm_kms_fail(err, "InvalidAliasNameException",
                      "Alias %s cannot start with the reserved prefix \"alias/aws/\".", name);
        return -1;
    }
    for (const char *p = name + 6; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-')) {
            ohsm_kms_fail(err, "ValidationException",
                          "1 validation error detected: Value '%s' at 'aliasName' failed to "
                          "satisfy constraint: Member must satisfy regular expression pattern: "
                          "^[a-zA-Z0-9:/_-]+$",
                          name);
            return -1;
        }
    }
    return 0;
}

/* TargetKeyId: a key id or key ARN (not an alias). */
static int target(struct ohsm_kms *k, const struct ohsm_http_call *call, const char *ref,
                  uint32_t op, struct ohsm_kms_key *out, struct ohsm_kms_ctx *x,
                  struct ohsm_aws_err *err)
{
    if (ref == NULL || strncmp(ref, "alias/", 6) == 0 || strstr(ref, ":alias/") != NULL) {
        ohsm_kms_fail(err, "ValidationException",
                      "TargetKeyId must be a key ID or key ARN, not an alias.");
        return -1;
    }
    return ohsm_kms_use(k, call, ref, op, out, x, err);
}

static void alias_arn(const struct ohsm_http_call *call, const char *name, char *out, size_t cap)
{
    (void)snprintf(out, cap, "arn:aws:kms:%s:%s:%s", call->region, call->account_id, name);
}

OHSM_KMS_HANDLER(ohsm_kms_op_create_alias)
{
    const char *name = ohsm_kms_str(in, "AliasName");
    struct ohsm_kms_key key;
    struct ohsm_kms_alias a;
    char arn[OHSM_KMS_ARN_MAX + OHSM_KMS_ALIAS_MAX];
    json_t *out = NULL;
    ohsm_rv rv;

    if (check_name(name, err) != 0) {
        return NULL;
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (target(k, call, ohsm_kms_str(in, "TargetKeyId"), OHSM_KOP_CREATE_ALIAS, &key, x, err) !=
        0) {
        goto done_unlocked_key;
    }
    memset(&a, 0, sizeof(a));
    (void)snprintf(a.name, sizeof(a.name), "%s", name);
    memcpy(a.key_id, key.id, sizeof(a.key_id));
    (void)snprintf(a.region, sizeof(a.region), "%s", call->region);
    a.created = a.updated = ohsm_kms_now(k);
    rv = ohsm_kms_store_alias_add(k->store, &a);
    if (rv == OHSM_ATTRIBUTE_VALUE_INVALID) {
        alias_arn(call, name, arn, sizeof(arn));
        ohsm_kms_fail(err, "AlreadyExistsException", "An alias with the name %s already exists",
                      arn);
    } else if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "storing the alias", rv);
    } else {
        out = json_object();
    }
    ohsm_kms_key_clear(&key);
done_unlocked_key:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_update_alias)
{
    const char *name = ohsm_kms_str(in, "AliasName");
    struct ohsm_kms_key key, old;
    struct ohsm_kms_alias a;
    char arn[OHSM_KMS_ARN_MAX + OHSM_KMS_ALIAS_MAX];
    json_t *out = NULL;
    ohsm_rv rv;

    if (check_name(name, err) != 0) {
        return NULL;
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_store_alias_get(k->store, call->region, name, &a) != OHSM_OK) {
        alias_arn(call, name, arn, sizeof(arn));
        ohsm_kms_fail(err, "NotFoundException", "Alias %s is not found.", arn);
        goto unlock;
    }
    if (target(k, call, ohsm_kms_str(in, "TargetKeyId"), OHSM_KOP_UPDATE_ALIAS, &key, x, err) !=
        0) {
        goto unlock;
    }
    /* The old and new keys must be of the same type and usage (the alias keeps its meaning). */
    if (ohsm_kms_tab_get(k, a.key_id, &old) == OHSM_OK) {
        const struct ohsm_kms_spec_info *so = ohsm_kms_spec_info(old.spec);
        const struct ohsm_kms_spec_info *sn = ohsm_kms_spec_info(key.spec);
        bool old_sym = old.spec == OHSM_KSPEC_SYMMETRIC_DEFAULT;
        bool new_sym = key.spec == OHSM_KSPEC_SYMMETRIC_DEFAULT;
        bool old_mac = old.usage == OHSM_KUSE_GENERATE_VERIFY_MAC;
        bool new_mac = key.usage == OHSM_KUSE_GENERATE_VERIFY_MAC;
        (void)so, (void)sn;
        if (old_sym != new_sym || old_mac != new_mac || old.usage != key.usage) {
            ohsm_kms_fail(err, "ValidationException",
                          "Alias %s cannot be changed from a %s key to a %s key. The key type and "
                          "key usage must stay the same.",
                          name, ohsm_kms_usage_name(old.usage), ohsm_kms_usage_name(key.usage));
            ohsm_kms_key_clear(&old);
            ohsm_kms_key_clear(&key);
            goto unlock;
        }
        ohsm_kms_key_clear(&old);
    }
    rv = ohsm_kms_store_alias_update(k->store, call->region, name, key.id, ohsm_kms_now(k));
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "updating the alias", rv);
    } else {
        out = json_object();
    }
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_delete_alias)
{
    const char *name = ohsm_kms_str(in, "AliasName");
    struct ohsm_kms_alias a;
    struct ohsm_kms_key key;
    char arn[OHSM_KMS_ARN_MAX + OHSM_KMS_ALIAS_MAX];
    json_t *out = NULL;
    ohsm_rv rv;

    if (name == NULL || strncmp(name, "alias/", 6) != 0) {
        return ohsm_kms_fail(err, "ValidationException",
                             "Alias must start with the prefix \"alias/\".");
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_store_alias_get(k->store, call->region, name, &a) != OHSM_OK) {
        alias_arn(call, name, arn, sizeof(arn));
        ohsm_kms_fail(err, "NotFoundException", "Alias %s is not found.", arn);
        goto unlock;
    }
    if (ohsm_kms_tab_get(k, a.key_id, &key) == OHSM_OK) {
        ohsm_kms_key_arn(&key, x->key_arn, sizeof(x->key_arn));
        ohsm_kms_key_clear(&key);
    }
    rv = ohsm_kms_store_alias_delete(k->store, call->region, name);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "deleting the alias", rv);
    } else {
        out = json_object();
    }
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_list_aliases)
{
    struct ohsm_kms_alias *as = NULL;
    struct ohsm_kms_key key;
    const char *key_ref = ohsm_kms_str(in, "KeyId");
    size_t n = 0, limit, off;
    char arn[OHSM_KMS_ARN_MAX + OHSM_KMS_ALIAS_MAX];
    json_t *out, *arr;
    ohsm_rv rv;

    if (ohsm_kms_page(in, &limit, &off, err) != 0) {
        return NULL;
    }
    if (key_ref != NULL) {
        if (strncmp(key_ref, "alias/", 6) == 0 || strstr(key_ref, ":alias/") != NULL) {
            return ohsm_kms_fail(err, "InvalidArnException",
                                 "KeyId must be a key ID or key ARN for ListAliases.");
        }
        if (ohsm_kms_use(k, call, key_ref, OHSM_KOP_LIST_READ, &key, x, err) != 0) {
            return NULL;
        }
    }
    rv =
        ohsm_kms_store_alias_list(k->store, call->region, key_ref != NULL ? key.id : NULL, &as, &n);
    if (key_ref != NULL) {
        ohsm_kms_key_clear(&key);
    }
    if (rv != OHSM_OK) {
        return ohsm_kms_internal(err, "listing aliases", rv);
    }
    if (off > n) {
        free(as);
        return ohsm_kms_fail(err, "InvalidMarkerException", "Invalid marker.");
    }
    out = json_object();
    arr = json_array();
    size_t end = off + limit < n ? off + limit : n;
    for (size_t i = off; i < end; i++) {
        alias_arn(call, as[i].name, arn, sizeof(arn));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I}", "AliasName", as[i].name,
                                             "AliasArn", arn, "TargetKeyId", as[i].key_id,
                                             "CreationDate", (json_int_t)as[i].created,
                                             "LastUpdatedDate", (json_int_t)as[i].updated));
    }
    json_object_set_new(out, "Aliases", arr);
    ohsm_kms_page_end(out, end, n);
    free(as);
    return out;
}
