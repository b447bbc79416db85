/* SPDX-License-Identifier: Apache-2.0
 *
 * Grants: CreateGrant, ListGrants, RetireGrant, RevokeGrant, ListRetirableGrants. A grant is
 * recorded with its grantee, retiring principal, operations and constraints and shown back as AWS
 * shows it; like key policies it is not evaluated (openhsm does no authorization). Grant tokens
 * are accepted wherever AWS takes GrantTokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "kms/kms_int.h"

static const char hex[] = "0123456789abcdef";

/* Operations a grant may allow on a key of this kind (AWS: "grant operations"). */
static bool op_fits(const struct ohsm_kms_key *key, const char *op)
{
    static const char *const common[] = {"DescribeKey", "CreateGrant", "RetireGrant"};
    static const char *const sym[] = {"Decrypt",
                                      "Encrypt",
                                      "GenerateDataKey",
                                      "GenerateDataKeyWithoutPlaintext",
                                      "ReEncryptFrom",
                                      "ReEncryptTo",
                                      "GenerateDataKeyPair",
                                      "GenerateDataKeyPairWithoutPlaintext"};
    static const char *const asym_enc[] = {"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo",
                                           "GetPublicKey"};
    static const char *const sign[] = {"Sign", "Verify", "GetPublicKey"};
    static const char *const mac[] = {"GenerateMac", "VerifyMac"};
    const char *const *list;
    size_t n;

    for (size_t i = 0; i < 3; i++) {
        if (strcmp(op, common[i]) == 0) {
            return true;
        }
    }
    if (key->usage == OHSM_KUSE_GENERATE_VERIFY_MAC) {
        list = mac, n = 2;
    } else if (key->usage == OHSM_KUSE_SIGN_VERIFY) {
        list = sign, n = 3;
    } else if (key->spec == OHSM_KSPEC_SYMMETRIC_DEFAULT) {
        list = sym, n = 8;
    } else {
        list = asym_enc, n = 5;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(op, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

static json_t *grant_entry(const struct ohsm_kms_grant *g, const char *key_arn)
{
    json_error_t je;
    json_t *e = json_object();
    json_object_set_new(e, "KeyId", json_string(key_arn));
    json_object_set_new(e, "GrantId", json_string(g->grant_id));
    if (g->name != NULL && g->name[0] != '\0') {
        json_object_set_new(e, "Name", json_string(g->name));
    }
    json_object_set_new(e, "CreationDate", json_integer(g->created));
    json_object_set_new(e, "GranteePrincipal", json_string(g->grantee));
    if (g->retiring != NULL && g->retiring[0] != '\0') {
        json_object_set_new(e, "RetiringPrincipal", json_string(g->retiring));
    }
    json_object_set_new(e, "IssuingAccount", json_string(g->issuing_account));
    json_object_set_new(e, "Operations", json_loads(g->operations_json, 0, &je));
    if (g->constraints_json != NULL && g->constraints_json[0] != '\0') {
        json_object_set_new(e, "Constraints", json_loads(g->constraints_json, 0, &je));
    }
    return e;
}

static char *dump(json_t *v)
{
    return v == NULL ? strdup("") : json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

OHSM_KMS_HANDLER(ohsm_kms_op_create_grant)
{
    struct ohsm_kms_key key;
    struct ohsm_kms_grant g, *gs = NULL;
    json_t *ops = json_object_get(in, "Operations"), *op, *out = NULL;
    json_t *cons = json_object_get(in, "Constraints");
    const char *name = ohsm_kms_str(in, "Name");
    const char *grantee = ohsm_kms_str(in, "GranteePrincipal");
    const char *retiring = ohsm_kms_str(in, "RetiringPrincipal");
    uint8_t rnd[32 + 48];
    char account[64];
    size_t i, n = 0;
    ohsm_rv rv;

    memset(&g, 0, sizeof(g));
    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_CREATE_GRANT, &key, x, err) !=
        0) {
        goto unlock;
    }
    if (json_array_size(ops) == 0) {
        ohsm_kms_fail(err, "ValidationException", "Operations must name at least one operation.");
        goto done;
    }
    json_array_foreach(ops, i, op)
    {
        if (!op_fits(&key, json_string_value(op))) {
            ohsm_kms_fail(err, "ValidationException",
                          "%s is not a valid grant operation for %s (key usage %s).",
                          json_string_value(op), x->key_arn, ohsm_kms_usage_name(key.usage));
            goto done;
        }
    }
    if (cons != NULL && key.spec != OHSM_KSPEC_SYMMETRIC_DEFAULT) {
        ohsm_kms_fail(err, "ValidationException",
                      "Grant constraints apply only to symmetric encryption KMS keys.");
        goto done;
    }
    if (ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    (void)snprintf(account, sizeof(account), "arn:aws:iam::%s:root", call->account_id);
    memcpy(g.key_id, key.id, sizeof(g.key_id));
    g.name = strdup(name != NULL ? name : "");
    g.grantee = strdup(grantee != NULL ? grantee : "");
    g.retiring = strdup(retiring != NULL ? retiring : "");
    g.issuing_account = strdup(account);
    g.operations_json = dump(ops);
    g.constraints_json = dump(cons);
    g.created = ohsm_kms_now(k);
    if (g.name == NULL || g.grantee == NULL || g.retiring == NULL || g.issuing_account == NULL ||
        g.operations_json == NULL || g.constraints_json == NULL) {
        ohsm_kms_internal(err, "grant", OHSM_HOST_MEMORY);
        goto done;
    }
    /* AWS: a CreateGrant with a Name and the same grantee, retiring principal, operations and
     * constraints as an existing grant of the key returns that grant. */
    if (name != NULL && ohsm_kms_store_grant_list(k->store, key.id, NULL, &gs, &n) == OHSM_OK) {
        for (i = 0; i < n; i++) {
            if (strcmp(gs[i].name, g.name) == 0 && strcmp(gs[i].grantee, g.grantee) == 0 &&
                strcmp(gs[i].retiring, g.retiring) == 0 &&
                strcmp(gs[i].operations_json, g.operations_json) == 0 &&
                strcmp(gs[i].constraints_json, g.constraints_json) == 0) {
                out = json_pack("{s:s, s:s}", "GrantToken", gs[i].token, "GrantId", gs[i].grant_id);
                goto done;
            }
        }
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ohsm_kms_internal(err, "grant id", OHSM_DEVICE_ERROR);
        goto done;
    }
    for (i = 0; i < 32; i++) {
        g.grant_id[2 * i] = hex[rnd[i] >> 4];
        g.grant_id[2 * i + 1] = hex[rnd[i] & 15];
    }
    g.grant_id[64] = '\0';
    g.token = malloc(2 * 48 + 1);
    if (g.token == NULL) {
        ohsm_kms_internal(err, "grant token", OHSM_HOST_MEMORY);
        goto done;
    }
    for (i = 0; i < 48; i++) {
        g.token[2 * i] = hex[rnd[32 + i] >> 4];
        g.token[2 * i + 1] = hex[rnd[32 + i] & 15];
    }
    g.token[96] = '\0';
    rv = ohsm_kms_store_grant_add(k->store, &g);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "storing the grant", rv);
        goto done;
    }
    out = json_pack("{s:s, s:s}", "GrantToken", g.token, "GrantId", g.grant_id);
    x->response_trail = json_pack("{s:s}", "grantId", g.grant_id);
done:
    for (i = 0; i < n; i++) {
        ohsm_kms_grant_clear(&gs[i]);
    }
    free(gs);
    ohsm_kms_grant_clear(&g);
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

/* True when grant g's key is in the caller's region and account (ListRetirableGrants lists
 * across keys, never another region's). */
static bool grant_here(struct ohsm_kms *k, const struct ohsm_http_call *call,
                       const struct ohsm_kms_grant *g)
{
    struct ohsm_kms_key key;
    bool here;

    if (ohsm_kms_tab_get(k, g->key_id, &key) != OHSM_OK) {
        return false;
    }
    here = strcmp(key.region, call->region) == 0 && strcmp(key.account, call->account_id) == 0;
    ohsm_kms_key_clear(&key);
    return here;
}

static json_t *list(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,
                    const char *key_id, const char *retiring, const char *grant_id,
                    const char *grantee, struct ohsm_aws_err *err)
{
    struct ohsm_kms_grant *gs = NULL;
    size_t n = 0, limit, off, m = 0;
    json_t *out = NULL, *arr;
    ohsm_rv rv;

    if (ohsm_kms_page(in, &limit, &off, err) != 0) {
        return NULL;
    }
    rv = ohsm_kms_store_grant_list(k->store, key_id, retiring, &gs, &n);
    if (rv != OHSM_OK) {
        return ohsm_kms_internal(err, "listing grants", rv);
    }
    /* Filters first, then the page over what matches. */
    for (size_t i = 0; i < n; i++) {
        bool keep = (grant_id == NULL || strcmp(gs[i].grant_id, grant_id) == 0) &&
                    (grantee == NULL || strcmp(gs[i].grantee, grantee) == 0) &&
                    (key_id != NULL || grant_here(k, call, &gs[i]));
        if (keep) {
            if (m != i) {
                struct ohsm_kms_grant tmp = gs[m];
                gs[m] = gs[i];
                gs[i] = tmp;
            }
            m++;
        }
    }
    if (off > m) {
        ohsm_kms_fail(err, "InvalidMarkerException", "Invalid marker.");
        goto done;
    }
    out = json_object();
    arr = json_array();
    size_t end = off + limit < m ? off + limit : m;
    for (size_t i = off; i < end; i++) {
        struct ohsm_kms_key key;
        char arn[OHSM_KMS_ARN_MAX];
        if (ohsm_kms_tab_get(k, gs[i].key_id, &key) != OHSM_OK) {
            continue;
        }
        ohsm_kms_key_arn(&key, arn, sizeof(arn));
        ohsm_kms_key_clear(&key);
        json_array_append_new(arr, grant_entry(&gs[i], arn));
    }
    json_object_set_new(out, "Grants", arr);
    ohsm_kms_page_end(out, end, m);
done:
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_grant_clear(&gs[i]);
    }
    free(gs);
    return out;
}

static bool grant_id_ok(const char *id)
{
    if (id == NULL || strlen(id) != 64) {
        return false;
    }
    return strspn(id, hex) == 64;
}

OHSM_KMS_HANDLER(ohsm_kms_op_list_grants)
{
    struct ohsm_kms_key key;
    const char *gid = ohsm_kms_str(in, "GrantId");
    json_t *out;

    if (gid != NULL && !grant_id_ok(gid)) {
        return ohsm_kms_fail(err, "InvalidGrantIdException", "Invalid grant ID %s.", gid);
    }
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_LIST_READ, &key, x, err) != 0) {
        return NULL;
    }
    out = list(k, call, in, key.id, NULL, gid, ohsm_kms_str(in, "GranteePrincipal"), err);
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_list_retirable_grants)
{
    (void)x;
    return list(k, call, in, NULL, ohsm_kms_str(in, "RetiringPrincipal"), NULL, NULL, err);
}

/* Deletes grant g (found by id or token) of key. */
static json_t *remove_grant(struct ohsm_kms *k, const struct ohsm_kms_grant *g,
                            struct ohsm_kms_ctx *x, json_t *in, struct ohsm_aws_err *err)
{
    struct ohsm_kms_key key;
    if (ohsm_kms_tab_get(k, g->key_id, &key) == OHSM_OK) {
        ohsm_kms_key_arn(&key, x->key_arn, sizeof(x->key_arn));
        ohsm_kms_key_clear(&key);
    }
    if (ohsm_kms_dry_run(in, err) != 0) {
        return NULL;
    }
    ohsm_rv rv = ohsm_kms_store_grant_delete(k->store, g->grant_id);
    if (rv != OHSM_OK) {
        return ohsm_kms_internal(err, "deleting the grant", rv);
    }
    return json_object();
}

OHSM_KMS_HANDLER(ohsm_kms_op_retire_grant)
{
    const char *token = ohsm_kms_str(in, "GrantToken");
    const char *gid = ohsm_kms_str(in, "GrantId");
    const char *key_ref = ohsm_kms_str(in, "KeyId");
    struct ohsm_kms_grant g;
    struct ohsm_kms_key key;
    json_t *out = NULL;

    memset(&g, 0, sizeof(g));
    if (token == NULL && (gid == NULL || key_ref == NULL)) {
        return ohsm_kms_fail(err, "ValidationException",
                             "Give either GrantToken, or both KeyId and GrantId.");
    }
    if (gid != NULL && !grant_id_ok(gid)) {
        return ohsm_kms_fail(err, "InvalidGrantIdException", "Invalid grant ID %s.", gid);
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (token != NULL) {
        if (ohsm_kms_store_grant_get(k->store, NULL, NULL, token, &g) != OHSM_OK) {
            ohsm_kms_fail(err, "InvalidGrantTokenException", "Invalid grant token.");
            goto unlock;
        }
    } else {
        if (ohsm_kms_use(k, call, key_ref, OHSM_KOP_RETIRE_REVOKE_GRANT, &key, x, err) != 0) {
            goto unlock;
        }
        ohsm_rv rv = ohsm_kms_store_grant_get(k->store, key.id, gid, NULL, &g);
        ohsm_kms_key_clear(&key);
        if (rv != OHSM_OK) {
            ohsm_kms_fail(err, "NotFoundException", "Grant ID %s not found.", gid);
            goto unlock;
        }
    }
    out = remove_grant(k, &g, x, in, err);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    ohsm_kms_grant_clear(&g);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_revoke_grant)
{
    const char *gid = ohsm_kms_str(in, "GrantId");
    struct ohsm_kms_grant g;
    struct ohsm_kms_key key;
    json_t *out = NULL;

    memset(&g, 0, sizeof(g));
    if (!grant_id_ok(gid)) {
        return ohsm_kms_fail(err, "InvalidGrantIdException", "Invalid grant ID %s.",
                             gid != NULL ? gid : "");
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_RETIRE_REVOKE_GRANT, &key, x,
                     err) != 0) {
        goto unlock;
    }
    ohsm_rv rv = ohsm_kms_store_grant_get(k->store, key.id, gid, NULL, &g);
    ohsm_kms_key_clear(&key);
    if (rv != OHSM_OK) {
        ohsm_kms_fail(err, "NotFoundException", "Grant ID %s not found.", gid);
        goto unlock;
    }
    out = remove_grant(k, &g, x, in, err);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    ohsm_kms_grant_clear(&g);
    return out;
}
