/* SPDX-License-Identifier: Apache-2.0
 *
 * The six CustomKeyStore operations of AWS_CLOUDHSM key stores (cks.h) and the cluster
 * requirements they check: CreateCustomKeyStore, DescribeCustomKeyStores, ConnectCustomKeyStore,
 * DisconnectCustomKeyStore, UpdateCustomKeyStore, DeleteCustomKeyStore. Input shapes were checked
 * against botocore's model by the front door; the handlers still bound every length they copy.
 * The cluster side of the rules (requirements, certificates, backup lineage) is cks_cluster.c.
 *
 * Every check-and-write of a store record runs under k->cks_lock, checked and written in one
 * critical section. Sealing and unsealing kmsuser's password (the root HSM) happen outside it:
 * the new password is sealed before the lock is taken, and CreateCustomKeyStore's retry check
 * (same values as a DISCONNECTED store) unseals first and then verifies under the lock that the
 * sealed blob it compared is still the store's.
 *
 * Order of CreateCustomKeyStore's checks (AWS documents none): the request's own fields
 * (ValidationException, UnsupportedOperationException), the retry of an identical DISCONNECTED
 * store (its id, nothing made), CustomKeyStoreNameInUseException, LimitExceededException, the
 * cluster (CloudHsmClusterNotFoundException, ...NotActiveException,
 * ...InvalidConfigurationException), IncorrectTrustAnchorException, CloudHsmClusterInUseException.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kms/kms_int.h"

/* ---- records ---- */

static void cks_free_list(struct ohsm_kms_cks *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_cks_clear(&arr[i]);
    }
    free(arr);
}

static bool mine(const struct ohsm_kms_cks *s, const struct ohsm_http_call *call)
{
    return strcmp(s->region, call->region) == 0 && strcmp(s->account, call->account_id) == 0;
}

/* The stores of the call's account and region, in creation order (caller frees with
 * cks_free_list). Returns 0, or -1 with KMSInternalException. */
static int list_mine(struct ohsm_kms *k, const struct ohsm_http_call *call,
                     struct ohsm_kms_cks **out, size_t *n, struct ohsm_aws_err *err)
{
    struct ohsm_kms_cks *all = NULL;
    size_t total = 0, kept = 0;

    *out = NULL;
    *n = 0;
    ohsm_rv rv = ohsm_kms_store_cks_list(k->store, &all, &total);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "listing custom key stores", rv);
        return -1;
    }
    for (size_t i = 0; i < total; i++) {
        if (mine(&all[i], call)) {
            all[kept++] = all[i]; /* moved: kept <= i */
        } else {
            ohsm_kms_cks_clear(&all[i]);
        }
    }
    if (kept == 0) {
        free(all);
        all = NULL;
    }
    *out = all;
    *n = kept;
    return 0;
}

static void not_found(struct ohsm_aws_err *err, const char *what, const char *v)
{
    ohsm_kms_fail(err, "CustomKeyStoreNotFoundException",
                  "AWS KMS cannot find a custom key store with the %s %s.", what, v);
}

/* The store named by CustomKeyStoreId of the call's account and region into s. Returns 0, or -1
 * with CustomKeyStoreNotFoundException / KMSInternalException. */
static int load(struct ohsm_kms *k, const struct ohsm_http_call *call, const char *id,
                struct ohsm_kms_cks *s, struct ohsm_aws_err *err)
{
    memset(s, 0, sizeof(*s));
    if (id == NULL) {
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value null at 'customKeyStoreId' failed to "
                      "satisfy constraint: Member must not be null");
        return -1;
    }
    ohsm_rv rv = ohsm_kms_store_cks_get(k->store, id, s);
    if (rv == OHSM_KEY_HANDLE_INVALID || (rv == OHSM_OK && !mine(s, call))) {
        ohsm_kms_cks_clear(s);
        not_found(err, "ID", id);
        return -1;
    }
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "reading the custom key store", rv);
        return -1;
    }
    return 0;
}

static void invalid_state(struct ohsm_aws_err *err, const struct ohsm_kms_cks *s, const char *op,
                          const char *valid)
{
    ohsm_kms_fail(err, "CustomKeyStoreInvalidStateException",
                  "Custom key store %s is in the %s connection state. %s is valid only when the "
                  "connection state is %s.",
                  s->id, ohsm_kms_cks_state_name(s->state), op, valid);
}

static void in_use(struct ohsm_aws_err *err, const char *cluster_id)
{
    ohsm_kms_fail(err, "CloudHsmClusterInUseException",
                  "The AWS CloudHSM cluster %s is already associated with a custom key store in "
                  "this account, or it shares a backup history with a cluster that is.",
                  cluster_id);
}

/* A length check the model made already, kept for the buffers the record copies into. */
static int too_long(struct ohsm_aws_err *err, const char *field, const char *v, size_t max)
{
    if (v != NULL && strnlen(v, max + 1) > max) {
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                      "Member must have length less than or equal to %zu",
                      field, max);
        return -1;
    }
    return 0;
}

/* The password member: NULL (absent), or a string of 7-32 characters without NUL. */
static int password_ok(json_t *in, struct ohsm_aws_err *err)
{
    json_t *v = json_object_get(in, "KeyStorePassword");
    if (v == NULL) {
        return 0;
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (s == NULL || n < OHSM_KMS_CKS_PW_MIN || n > OHSM_KMS_CKS_PW_MAX || strlen(s) != n) {
        /* never echo the value */
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value at 'keyStorePassword' failed to "
                      "satisfy constraint: Member must have length between 7 and 32");
        return -1;
    }
    return 0;
}

/* A text member with an embedded NUL (JSON's \u0000), which the C string would cut short. */
static int nul_inside(json_t *in, const char *field, const char *wire, struct ohsm_aws_err *err)
{
    json_t *v = json_object_get(in, field);
    const char *s = json_string_value(v);
    if (s != NULL && strlen(s) != json_string_length(v)) {
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                      "Member must not contain the NUL character",
                      wire);
        return -1;
    }
    return 0;
}

static bool has_xks(json_t *in)
{
    const char *name;
    json_t *v;
    json_object_foreach(in, name, v)
    {
        if (strncmp(name, "Xks", 3) == 0) {
            return true;
        }
    }
    return false;
}

static ohsm_rv new_id(char id[OHSM_KMS_CKS_ID_MAX])
{
    uint8_t r[9];
    static const char hex[] = "0123456789abcdef";
    OHSM_ENSURE(RAND_bytes(r, sizeof(r)) == 1, OHSM_DEVICE_ERROR);
    memcpy(id, OHSM_KMS_CKS_ID_PREFIX, sizeof(OHSM_KMS_CKS_ID_PREFIX));
    size_t p = sizeof(OHSM_KMS_CKS_ID_PREFIX) - 1;
    for (size_t i = 0; i < 17; i++) {
        uint8_t b = r[i / 2];
        id[p++] = hex[i % 2 == 0 ? b >> 4 : b & 0x0f];
    }
    id[p] = '\0';
    return OHSM_OK;
}

/* ---- CreateCustomKeyStore ---- */

struct create_in {
    const char *name;
    const char *cluster_id;
    const char *anchor;
    const char *pw;
};

static int create_fields(json_t *in, struct create_in *c, struct ohsm_aws_err *err)
{
    const char *type = ohsm_kms_str(in, "CustomKeyStoreType");

    c->name = ohsm_kms_str(in, "CustomKeyStoreName");
    c->cluster_id = ohsm_kms_str(in, "CloudHsmClusterId");
    c->anchor = ohsm_kms_str(in, "TrustAnchorCertificate");
    c->pw = ohsm_kms_str(in, "KeyStorePassword");
    if ((type != NULL && strcmp(type, "AWS_CLOUDHSM") != 0) || has_xks(in)) {
        ohsm_kms_fail(err, "UnsupportedOperationException",
                      "External key stores (EXTERNAL_KEY_STORE) are not supported by openhsm; "
                      "only AWS_CLOUDHSM key stores are.");
        return -1;
    }
    if (c->name == NULL) {
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value null at 'customKeyStoreName' failed to "
                      "satisfy constraint: Member must not be null");
        return -1;
    }
    const char *const req[][2] = {{"CloudHsmClusterId", c->cluster_id},
                                  {"TrustAnchorCertificate", c->anchor},
                                  {"KeyStorePassword", c->pw}};
    for (size_t i = 0; i < 3; i++) {
        if (req[i][1] == NULL) {
            ohsm_kms_fail(err, "ValidationException",
                          "%s is required for a custom key store with a CustomKeyStoreType of "
                          "AWS_CLOUDHSM.",
                          req[i][0]);
            return -1;
        }
    }
    if (c->name[0] == '\0' || c->anchor[0] == '\0') {
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                      "Member must have length greater than or equal to 1",
                      c->name[0] == '\0' ? "customKeyStoreName" : "trustAnchorCertificate");
        return -1;
    }
    if (nul_inside(in, "CustomKeyStoreName", "customKeyStoreName", err) != 0 ||
        nul_inside(in, "TrustAnchorCertificate", "trustAnchorCertificate", err) != 0 ||
        nul_inside(in, "CloudHsmClusterId", "cloudHsmClusterId", err) != 0 ||
        too_long(err, "customKeyStoreName", c->name, OHSM_KMS_CKS_NAME_MAX - 1) != 0 ||
        too_long(err, "trustAnchorCertificate", c->anchor, OHSM_KMS_CKS_ANCHOR_MAX) != 0 ||
        too_long(err, "cloudHsmClusterId", c->cluster_id, OHSM_KMS_CLUSTER_ID_MAX - 1) != 0 ||
        password_ok(in, err) != 0) {
        return -1;
    }
    return 0;
}

/* Whether s has every value of the request but the password (compared apart). */
static bool same_values(const struct ohsm_kms_cks *s, const struct create_in *c)
{
    return s->state == OHSM_CKS_DISCONNECTED && strcmp(s->name, c->name) == 0 &&
           strcmp(s->cluster_id, c->cluster_id) == 0 && strcmp(s->trust_anchor, c->anchor) == 0;
}

/* A retry of an existing DISCONNECTED store: its id and a copy of the sealed password that
 * matched the request's (compared before the lock; checked unchanged under it). */
struct retry {
    char id[OHSM_KMS_CKS_ID_MAX];
    uint8_t *sealed;
    size_t sealed_len;
};

static void find_retry(struct ohsm_kms *k, const struct ohsm_http_call *call,
                       const struct create_in *c, struct retry *r)
{
    struct ohsm_kms_cks *stores = NULL;
    size_t n = 0;
    struct ohsm_aws_err ignored;
    char pw[OHSM_KMS_CKS_PW_MAX + 1];

    memset(r, 0, sizeof(*r));
    if (list_mine(k, call, &stores, &n, &ignored) != 0) {
        return; /* the locked pass reports the failure */
    }
    for (size_t i = 0; i < n; i++) {
        struct ohsm_kms_cks *s = &stores[i];
        if (!same_values(s, c) ||
            ohsm_kms_cks_unseal_pw(k, s->id, "pw", s->pw_sealed, s->pw_sealed_len, pw) != OHSM_OK) {
            continue;
        }
        size_t a = strlen(pw), b = strlen(c->pw);
        bool same = a == b && CRYPTO_memcmp(pw, c->pw, a) == 0;
        OPENSSL_cleanse(pw, sizeof(pw));
        if (same) {
            memcpy(r->id, s->id, sizeof(r->id));
            r->sealed = s->pw_sealed; /* moved */
            r->sealed_len = s->pw_sealed_len;
            s->pw_sealed = NULL;
            s->pw_sealed_len = 0;
            break;
        }
    }
    cks_free_list(stores, n);
}

/* Under cks_lock: the checks of a new store and its insertion; 0 or -1 with err. *retried is
 * set when the request is a retry of r's store (nothing made). */
static int create_locked(struct ohsm_kms *k, const struct ohsm_http_call *call,
                         const struct create_in *c, const struct retry *r, struct ohsm_kms_cks *rec,
                         bool *retried, struct ohsm_aws_err *err)
{
    struct ohsm_kms_cks *stores = NULL;
    struct ohsm_kms_cv v;
    size_t n = 0;
    int rc = -1;

    memset(&v, 0, sizeof(v));
    *retried = false;
    if (list_mine(k, call, &stores, &n, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ohsm_kms_cks *s = &stores[i];
        if (strcmp(s->name, c->name) != 0) {
            continue;
        }
        if (r->sealed != NULL && strcmp(s->id, r->id) == 0 && same_values(s, c) &&
            s->pw_sealed_len == r->sealed_len &&
            memcmp(s->pw_sealed, r->sealed, r->sealed_len) == 0) {
            *retried = true;
            rc = 0;
            goto out;
        }
        ohsm_kms_fail(err, "CustomKeyStoreNameInUseException",
                      "The custom key store name %s is already in use in this account and "
                      "Region.",
                      c->name);
        goto out;
    }
    if (n >= OHSM_KMS_CKS_PER_REGION) {
        ohsm_kms_fail(err, "LimitExceededException",
                      "You have reached the limit of %d custom key stores in this account and "
                      "Region.",
                      OHSM_KMS_CKS_PER_REGION);
        goto out;
    }
    if (ohsm_kms_cks_check_cluster(
            k, call->region, c->cluster_id,
            OHSM_CKS_NEED_ACTIVE | OHSM_CKS_NEED_TWO_AZ | OHSM_CKS_NEED_TWO_HSMS, &v, err) != 0) {
        goto out;
    }
    if (v.trust_anchor == NULL || !ohsm_kms_cks_same_cert(c->anchor, v.trust_anchor)) {
        ohsm_kms_fail(err, "IncorrectTrustAnchorException",
                      "The trust anchor certificate in the request is not the trust anchor "
                      "certificate of the AWS CloudHSM cluster %s.",
                      c->cluster_id);
        goto out;
    }
    int used =
        ohsm_kms_cks_in_use(k, call->region, stores, n, NULL, c->cluster_id, v.cluster_cert, err);
    if (used != 0) {
        if (used > 0) {
            in_use(err, c->cluster_id);
        }
        goto out;
    }
    ohsm_rv rv = ohsm_kms_store_cks_add(k->store, rec);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "storing the custom key store", rv);
        goto out;
    }
    rc = 0;
out:
    ohsm_kms_cv_clear(&v);
    cks_free_list(stores, n);
    return rc;
}

OHSM_KMS_HANDLER(ohsm_kms_op_create_custom_key_store)
{
    struct create_in c;
    struct ohsm_kms_cks rec;
    struct retry r;
    bool retried = false;
    json_t *out = NULL;
    ohsm_rv rv;

    (void)x;
    memset(&rec, 0, sizeof(rec));
    memset(&r, 0, sizeof(r));
    if (create_fields(in, &c, err) != 0) {
        return NULL;
    }
    find_retry(k, call, &c, &r);
    /* The new record, its password sealed before the lock (the sealer is an HSM). */
    rv = new_id(rec.id);
    if (rv == OHSM_OK) {
        (void)snprintf(rec.region, sizeof(rec.region), "%s", call->region);
        (void)snprintf(rec.account, sizeof(rec.account), "%s", call->account_id);
        (void)snprintf(rec.name, sizeof(rec.name), "%s", c.name);
        (void)snprintf(rec.cluster_id, sizeof(rec.cluster_id), "%s", c.cluster_id);
        rec.trust_anchor = strdup(c.anchor);
        rec.created_ms = ohsm_kms_now_ms(k);
        rec.state = OHSM_CKS_DISCONNECTED;
        rec.error = OHSM_CKSE_NONE;
        rv = rec.trust_anchor == NULL
                 ? OHSM_HOST_MEMORY
                 : ohsm_kms_cks_seal_pw(k, rec.id, "pw", c.pw, &rec.pw_sealed, &rec.pw_sealed_len);
    }
    if (rv != OHSM_OK) {
        out = ohsm_kms_internal(err, "making the custom key store", rv);
        goto done;
    }
    (void)pthread_mutex_lock(&k->cks_lock);
    int rc = create_locked(k, call, &c, &r, &rec, &retried, err);
    (void)pthread_mutex_unlock(&k->cks_lock);
    if (rc == 0) {
        out = json_pack("{s:s}", "CustomKeyStoreId", retried ? r.id : rec.id);
        if (out == NULL) {
            out = ohsm_kms_internal(err, "reply", OHSM_HOST_MEMORY);
        }
    }
done:
    free(r.sealed);
    ohsm_kms_cks_clear(&rec);
    return out;
}

/* ---- DescribeCustomKeyStores ---- */

static json_t *entry(const struct ohsm_kms_cks *s)
{
    json_t *e = json_object();
    if (e == NULL) {
        return NULL;
    }
    json_object_set_new(e, "CustomKeyStoreId", json_string(s->id));
    json_object_set_new(e, "CustomKeyStoreName", json_string(s->name));
    json_object_set_new(e, "CustomKeyStoreType", json_string("AWS_CLOUDHSM"));
    json_object_set_new(e, "CloudHsmClusterId", json_string(s->cluster_id));
    json_object_set_new(e, "TrustAnchorCertificate", json_string(s->trust_anchor));
    json_object_set_new(e, "ConnectionState", json_string(ohsm_kms_cks_state_name(s->state)));
    if (s->state == OHSM_CKS_FAILED && ohsm_kms_cks_error_name(s->error) != NULL) {
        json_object_set_new(e, "ConnectionErrorCode",
                            json_string(ohsm_kms_cks_error_name(s->error)));
    }
    json_object_set_new(e, "CreationDate", json_real((double)s->created_ms / 1000.0));
    return e;
}

OHSM_KMS_HANDLER(ohsm_kms_op_describe_custom_key_stores)
{
    const char *id = ohsm_kms_str(in, "CustomKeyStoreId");
    const char *name = ohsm_kms_str(in, "CustomKeyStoreName");
    struct ohsm_kms_cks *stores = NULL;
    size_t n = 0, limit, off, kept = 0;
    json_t *out = NULL, *arr;

    (void)x;
    if (id != NULL && name != NULL) {
        return ohsm_kms_fail(err, "ValidationException",
                             "Specify either CustomKeyStoreId or CustomKeyStoreName, but not "
                             "both.");
    }
    if (ohsm_kms_page(in, &limit, &off, err) != 0 || list_mine(k, call, &stores, &n, err) != 0) {
        return NULL;
    }
    /* the filter keeps the matching store (ids and names are unique in account + region) */
    for (size_t i = 0; i < n; i++) {
        bool keep = (id == NULL || strcmp(stores[i].id, id) == 0) &&
                    (name == NULL || strcmp(stores[i].name, name) == 0);
        if (keep) {
            struct ohsm_kms_cks t = stores[i];
            stores[i] = stores[kept];
            stores[kept++] = t;
        }
    }
    if ((id != NULL || name != NULL) && kept == 0) {
        not_found(err, id != NULL ? "ID" : "name", id != NULL ? id : name);
        goto done;
    }
    if (off > kept) {
        ohsm_kms_fail(err, "InvalidMarkerException", "Invalid marker.");
        goto done;
    }
    out = json_object();
    arr = json_array();
    if (out == NULL || arr == NULL) {
        json_decref(out);
        json_decref(arr);
        out = ohsm_kms_internal(err, "reply", OHSM_HOST_MEMORY);
        goto done;
    }
    size_t end = limit < kept - off ? off + limit : kept;
    for (size_t i = off; i < end; i++) {
        json_array_append_new(arr, entry(&stores[i]));
    }
    json_object_set_new(out, "CustomKeyStores", arr);
    ohsm_kms_page_end(out, end, kept);
done:
    cks_free_list(stores, n);
    return out;
}

/* ---- ConnectCustomKeyStore, DisconnectCustomKeyStore ---- */

OHSM_KMS_HANDLER(ohsm_kms_op_connect_custom_key_store)
{
    struct ohsm_kms_cks s;
    json_t *out = NULL;

    (void)x;
    (void)pthread_mutex_lock(&k->cks_lock);
    if (load(k, call, ohsm_kms_str(in, "CustomKeyStoreId"), &s, err) != 0) {
        (void)pthread_mutex_unlock(&k->cks_lock);
        return NULL;
    }
    if (s.state == OHSM_CKS_DISCONNECTING || s.state == OHSM_CKS_FAILED) {
        invalid_state(err, &s, "ConnectCustomKeyStore",
                      "DISCONNECTED, CONNECTING or CONNECTED (disconnect a FAILED custom key "
                      "store first)");
        goto done;
    }
    if (s.state == OHSM_CKS_DISCONNECTED) {
        /* The quick configuration checks; a missing cluster is the worker's CLUSTER_NOT_FOUND. */
        if (ohsm_kms_cks_check_cluster(k, call->region, s.cluster_id,
                                       OHSM_CKS_NEED_ACTIVE | OHSM_CKS_ALLOW_DEGRADED |
                                           OHSM_CKS_NEED_TWO_AZ,
                                       NULL,
                                       err) != 0 &&
            strcmp(err->type, "CloudHsmClusterNotFoundException") != 0) {
            goto done;
        }
        memset(err, 0, sizeof(*err));
        ohsm_rv rv = ohsm_kms_cksm_connect(k, &s);
        if (rv != OHSM_OK) {
            ohsm_kms_internal(err, "starting the connection", rv);
            goto done;
        }
    }
    out = json_object();
    if (out == NULL) {
        ohsm_kms_internal(err, "reply", OHSM_HOST_MEMORY);
    }
done:
    (void)pthread_mutex_unlock(&k->cks_lock);
    ohsm_kms_cks_clear(&s);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_disconnect_custom_key_store)
{
    struct ohsm_kms_cks s;
    json_t *out = NULL;

    (void)x;
    (void)pthread_mutex_lock(&k->cks_lock);
    if (load(k, call, ohsm_kms_str(in, "CustomKeyStoreId"), &s, err) != 0) {
        (void)pthread_mutex_unlock(&k->cks_lock);
        return NULL;
    }
    if (s.state == OHSM_CKS_DISCONNECTED || s.state == OHSM_CKS_DISCONNECTING) {
        invalid_state(err, &s, "DisconnectCustomKeyStore", "CONNECTED, CONNECTING or FAILED");
        goto done;
    }
    ohsm_rv rv = ohsm_kms_cksm_disconnect(k, &s);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "starting the disconnection", rv);
        goto done;
    }
    out = json_object();
    if (out == NULL) {
        ohsm_kms_internal(err, "reply", OHSM_HOST_MEMORY);
    }
done:
    (void)pthread_mutex_unlock(&k->cks_lock);
    ohsm_kms_cks_clear(&s);
    return out;
}

/* ---- UpdateCustomKeyStore ---- */

/* The checks of a new cluster for s; 0 or -1 with err. */
static int update_cluster(struct ohsm_kms *k, const struct ohsm_http_call *call,
                          const struct ohsm_kms_cks *s, const char *cluster_id,
                          struct ohsm_aws_err *err)
{
    struct ohsm_kms_cv v;
    struct ohsm_kms_cks *stores = NULL;
    size_t n = 0;
    bool rel = false;
    int rc = -1;

    ohsm_rv rv = ohsm_kms_cks_view(k, call->region, cluster_id, &v);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "reading the cluster", rv);
        return -1;
    }
    if (!v.exists) {
        ohsm_kms_fail(err, "CloudHsmClusterNotFoundException",
                      "AWS KMS cannot find the AWS CloudHSM cluster %s.", cluster_id);
        goto out;
    }
    if (ohsm_kms_cks_related(k, call->region, s, cluster_id, &v, &rel, err) != 0) {
        goto out;
    }
    if (!rel) {
        ohsm_kms_fail(err, "CloudHsmClusterNotRelatedException",
                      "The AWS CloudHSM cluster %s does not share a backup history (cluster "
                      "certificate) with the cluster %s of custom key store %s.",
                      cluster_id, s->cluster_id, s->id);
        goto out;
    }
    if (ohsm_kms_cks_check_cluster(
            k, call->region, cluster_id,
            OHSM_CKS_NEED_ACTIVE | OHSM_CKS_NEED_TWO_AZ | OHSM_CKS_NEED_TWO_HSMS, NULL, err) != 0) {
        goto out;
    }
    if (list_mine(k, call, &stores, &n, err) != 0) {
        goto out;
    }
    int used =
        ohsm_kms_cks_in_use(k, call->region, stores, n, s->id, cluster_id, v.cluster_cert, err);
    if (used > 0) {
        in_use(err, cluster_id);
    }
    rc = used == 0 ? 0 : -1;
out:
    cks_free_list(stores, n);
    ohsm_kms_cv_clear(&v);
    return rc;
}

OHSM_KMS_HANDLER(ohsm_kms_op_update_custom_key_store)
{
    const char *id = ohsm_kms_str(in, "CustomKeyStoreId");
    const char *name = ohsm_kms_str(in, "NewCustomKeyStoreName");
    const char *pw = ohsm_kms_str(in, "KeyStorePassword");
    const char *cluster = ohsm_kms_str(in, "CloudHsmClusterId");
    struct ohsm_kms_cks s;
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    json_t *out = NULL;
    ohsm_rv rv;

    (void)x;
    memset(&s, 0, sizeof(s));
    if (name != NULL && name[0] == '\0') {
        return ohsm_kms_fail(err, "ValidationException",
                             "1 validation error detected: Value at 'newCustomKeyStoreName' "
                             "failed to satisfy constraint: Member must have length greater than "
                             "or equal to 1");
    }
    if (nul_inside(in, "NewCustomKeyStoreName", "newCustomKeyStoreName", err) != 0 ||
        nul_inside(in, "CloudHsmClusterId", "cloudHsmClusterId", err) != 0 ||
        too_long(err, "newCustomKeyStoreName", name, OHSM_KMS_CKS_NAME_MAX - 1) != 0 ||
        too_long(err, "cloudHsmClusterId", cluster, OHSM_KMS_CLUSTER_ID_MAX - 1) != 0 ||
        password_ok(in, err) != 0) {
        return NULL;
    }
    if (pw != NULL && id != NULL) {
        /* sealed before the lock (the sealer is an HSM); unused when a check fails */
        rv = ohsm_kms_cks_seal_pw(k, id, "pw", pw, &sealed, &sealed_len);
        if (rv == OHSM_ARGUMENTS_BAD) {
            not_found(err, "ID", id); /* not an id we make */
            return NULL;
        }
        if (rv != OHSM_OK) {
            return ohsm_kms_internal(err, "sealing the password", rv);
        }
    }
    (void)pthread_mutex_lock(&k->cks_lock);
    if (load(k, call, id, &s, err) != 0) {
        goto done;
    }
    if (has_xks(in)) {
        ohsm_kms_fail(err, "ValidationException",
                      "The XksProxy parameters are valid only for custom key stores with a "
                      "CustomKeyStoreType of EXTERNAL_KEY_STORE; %s is AWS_CLOUDHSM.",
                      s.id);
        goto done;
    }
    if ((pw != NULL || cluster != NULL) && s.state != OHSM_CKS_DISCONNECTED) {
        invalid_state(err, &s, "UpdateCustomKeyStore of KeyStorePassword or CloudHsmClusterId",
                      "DISCONNECTED");
        goto done;
    }
    if (name != NULL && s.state != OHSM_CKS_DISCONNECTED && s.state != OHSM_CKS_CONNECTED) {
        invalid_state(err, &s, "UpdateCustomKeyStore of NewCustomKeyStoreName",
                      "CONNECTED or DISCONNECTED");
        goto done;
    }
    if (name != NULL && strcmp(name, s.name) != 0) {
        struct ohsm_kms_cks *stores = NULL;
        size_t n = 0;
        bool taken = false;
        if (list_mine(k, call, &stores, &n, err) != 0) {
            goto done;
        }
        for (size_t i = 0; i < n && !taken; i++) {
            taken = strcmp(stores[i].id, s.id) != 0 && strcmp(stores[i].name, name) == 0;
        }
        cks_free_list(stores, n);
        if (taken) {
            ohsm_kms_fail(err, "CustomKeyStoreNameInUseException",
                          "The custom key store name %s is already in use in this account and "
                          "Region.",
                          name);
            goto done;
        }
    }
    if (cluster != NULL && update_cluster(k, call, &s, cluster, err) != 0) {
        goto done;
    }
    /* every check passed: one write */
    if (name != NULL) {
        (void)snprintf(s.name, sizeof(s.name), "%s", name);
    }
    if (cluster != NULL) {
        (void)snprintf(s.cluster_id, sizeof(s.cluster_id), "%s", cluster);
    }
    if (sealed != NULL) {
        free(s.pw_sealed);
        s.pw_sealed = sealed;
        s.pw_sealed_len = sealed_len;
        sealed = NULL;
        /* KMS is told the current password: a rotation it had begun is moot */
        free(s.next_sealed);
        s.next_sealed = NULL;
        s.next_sealed_len = 0;
    }
    rv = ohsm_kms_store_cks_put(k->store, &s);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "storing the custom key store", rv);
        goto done;
    }
    out = json_object();
    if (out == NULL) {
        ohsm_kms_internal(err, "reply", OHSM_HOST_MEMORY);
    }
done:
    (void)pthread_mutex_unlock(&k->cks_lock);
    free(sealed);
    ohsm_kms_cks_clear(&s);
    return out;
}

/* ---- DeleteCustomKeyStore ---- */

OHSM_KMS_HANDLER(ohsm_kms_op_delete_custom_key_store)
{
    struct ohsm_kms_cks s;
    json_t *out = NULL;

    (void)x;
    (void)pthread_mutex_lock(&k->cks_lock);
    if (load(k, call, ohsm_kms_str(in, "CustomKeyStoreId"), &s, err) != 0) {
        (void)pthread_mutex_unlock(&k->cks_lock);
        return NULL;
    }
    if (s.state != OHSM_CKS_DISCONNECTED) {
        invalid_state(err, &s, "DeleteCustomKeyStore", "DISCONNECTED");
        goto done;
    }
    size_t keys = ohsm_kms_cks_key_count(k, s.id);
    if (keys != 0) {
        ohsm_kms_fail(err, "CustomKeyStoreHasCMKsException",
                      "Custom key store %s contains KMS keys. Schedule their deletion and wait "
                      "until they are deleted, then delete the custom key store.",
                      s.id);
        goto done;
    }
    ohsm_rv rv = ohsm_kms_store_cks_delete(k->store, s.id);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "deleting the custom key store", rv);
        goto done;
    }
    out = json_object();
    if (out == NULL) {
        ohsm_kms_internal(err, "reply", OHSM_HOST_MEMORY);
    }
done:
    (void)pthread_mutex_unlock(&k->cks_lock);
    ohsm_kms_cks_clear(&s);
    return out;
}
