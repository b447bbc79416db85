/* SPDX-License-Identifier: Apache-2.0
 *
 * The keys of the CloudHSM key stores in their clusters (cks.h): each call runs on a pool
 * client of the store's live connection (cks_conn.c), with the connection list held shared for
 * the length of one HSM call, and turns the HSMs' answers into what AWS KMS answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kms/cks_int.h"
#include "kms/kms_int.h"
#include "openhsm/mech.h"
#include "openhsm/obj.h"

#define GCM_IV 12
#define GCM_TAG 16

static json_t *no_comm(struct ohsm_aws_err *err)
{
    return ohsm_kms_fail(err, "KMSInvalidStateException",
                         "KMS cannot communicate with your CloudHSM cluster. This might be a "
                         "transient network issue. If you see this error repeatedly, verify that "
                         "the cluster's HSMs are active and reachable.");
}

/* The AWS answer for an HSM call that failed on key (NULL: no key). */
static int hsm_fail(const struct ohsm_kms_key *key, ohsm_rv rv, struct ohsm_aws_err *err)
{
    char arn[OHSM_KMS_ARN_MAX] = "";
    if (key != NULL) {
        ohsm_kms_key_arn(key, arn, sizeof(arn));
    }
    if (ohsm_kms_cks_transport(rv) || rv == OHSM_USER_NOT_LOGGED_IN) {
        no_comm(err);
    } else if (rv == OHSM_SESSION_COUNT) {
        ohsm_kms_fail(err, "KMSInternalException",
                      "The AWS CloudHSM cluster has no free sessions for KMS (every HSM is at its "
                      "session limit). Retry the request.");
    } else if (rv == OHSM_KEY_HANDLE_INVALID || rv == OHSM_KEY_NOT_OWNER) {
        ohsm_kms_fail(err, "KMSInvalidStateException",
                      "%s is not usable: its key material is not in the AWS CloudHSM cluster "
                      "associated with its custom key store.",
                      arn);
    } else if (rv == OHSM_ENCRYPTED_DATA_INVALID || rv == OHSM_ENCRYPTED_DATA_LEN_RANGE) {
        ohsm_kms_fail(err, "InvalidCiphertextException", "%s", "");
    } else {
        ohsm_kms_internal(err, "the CloudHSM cluster", rv);
    }
    return -1;
}

/* Runs fn on a pool client of store id's live connection, with m->rw held shared. */
typedef ohsm_rv (*with_fn)(struct ohsm_client *cl, void *arg);

static int with_conn(struct ohsm_kms *k, const char *id, with_fn fn, void *arg, ohsm_rv *rv)
{
    struct ohsm_kms_cksm *m = k->cksm;
    int ret = -1;

    (void)pthread_rwlock_rdlock(&m->rw);
    for (struct conn *c = m->conns; c != NULL; c = c->next) {
        if (strcmp(c->id, id) == 0) {
            unsigned i = atomic_fetch_add_explicit(&c->rr, 1u, memory_order_relaxed);
            struct ohsm_client *cl = c->pool[i % OHSM_KMS_CKS_POOL];
            *rv = fn(cl, arg);
            if (*rv == OHSM_USER_NOT_LOGGED_IN) { /* an HSM came back logged out */
                uint32_t code = 0;
                ohsm_rv lrv = ohsm_kms_cks_login(cl, c->pw, &code);
                *rv = lrv == OHSM_OK ? fn(cl, arg) : lrv == OHSM_SESSION_COUNT ? lrv : *rv;
            }
            ret = 0;
            break;
        }
    }
    (void)pthread_rwlock_unlock(&m->rw);
    return ret;
}

struct gcm_arg {
    uint64_t handle;
    const uint8_t *aad;
    size_t aad_len;
    const uint8_t *in;
    size_t in_len;
    uint8_t *out; /* malloc'd by the client */
    size_t out_len;
    uint8_t iv[16];
    size_t iv_len;
    bool decrypt;
};

static ohsm_rv gcm_fn(struct ohsm_client *cl, void *arg)
{
    struct gcm_arg *g = arg;
    struct ohsm_mech_params p;

    memset(&p, 0, sizeof(p));
    p.mech = OHSM_M_AES_GCM;
    p.aad = g->aad;
    p.aad_len = g->aad_len;
    if (g->decrypt) {
        p.iv = g->in;
        p.iv_len = GCM_IV;
        return ohsm_client_decrypt(cl, g->handle, &p, g->in + GCM_IV, g->in_len - GCM_IV,
                                   &g->out, &g->out_len);
    }
    return ohsm_client_encrypt(cl, g->handle, &p, g->in, g->in_len, &g->out, &g->out_len, g->iv,
                               &g->iv_len);
}

int ohsm_kms_cks_encrypt(struct ohsm_kms *k, const struct ohsm_kms_key *key, const uint8_t *aad,
                         size_t aad_len, const uint8_t *pt, size_t len, uint8_t *out,
                         size_t *out_len, struct ohsm_aws_err *err)
{
    struct gcm_arg g;
    ohsm_rv rv = OHSM_OK;
    int ret = -1;

    memset(&g, 0, sizeof(g));
    g.handle = key->backing_handle;
    g.aad = aad;
    g.aad_len = aad_len;
    g.in = pt;
    g.in_len = len;
    if (with_conn(k, key->custom_key_store_id, gcm_fn, &g, &rv) != 0) {
        no_comm(err);
        goto out;
    }
    if (rv != OHSM_OK) {
        hsm_fail(key, rv, err);
        goto out;
    }
    if (g.iv_len != GCM_IV || g.out_len != len + GCM_TAG) {
        ohsm_kms_internal(err, "the CloudHSM cluster's AES-GCM", OHSM_DEVICE_ERROR);
        goto out;
    }
    memcpy(out, g.iv, GCM_IV);
    memcpy(out + GCM_IV, g.out, g.out_len);
    *out_len = GCM_IV + g.out_len;
    ret = 0;
out:
    free(g.out); /* ciphertext */
    return ret;
}

int ohsm_kms_cks_decrypt(struct ohsm_kms *k, const struct ohsm_kms_key *key, const uint8_t *aad,
                         size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t *out_len, struct ohsm_aws_err *err)
{
    struct gcm_arg g;
    ohsm_rv rv = OHSM_OK;
    int ret = -1;

    if (in_len < GCM_IV + GCM_TAG) {
        ohsm_kms_fail(err, "InvalidCiphertextException", "%s", "");
        return -1;
    }
    memset(&g, 0, sizeof(g));
    g.handle = key->backing_handle;
    g.aad = aad;
    g.aad_len = aad_len;
    g.in = in;
    g.in_len = in_len;
    g.decrypt = true;
    if (with_conn(k, key->custom_key_store_id, gcm_fn, &g, &rv) != 0) {
        no_comm(err);
        goto out;
    }
    if (rv == OHSM_OK && g.out_len != in_len - GCM_IV - GCM_TAG) {
        rv = OHSM_DEVICE_ERROR;
    }
    if (rv != OHSM_OK) {
        hsm_fail(key, rv, err);
        goto out;
    }
    if (g.out_len > 0) {
        memcpy(out, g.out, g.out_len);
    }
    *out_len = g.out_len;
    ret = 0;
out:
    if (g.out != NULL) {
        OPENSSL_cleanse(g.out, g.out_len);
        free(g.out);
    }
    return ret;
}

struct rand_arg {
    uint8_t *out;
    size_t n;
};

static ohsm_rv rand_fn(struct ohsm_client *cl, void *arg)
{
    struct rand_arg *r = arg;
    return ohsm_client_random(cl, r->out, r->n);
}

int ohsm_kms_cks_find(struct ohsm_kms *k, const char *region, const char *account, const char *id,
                      bool connected, struct ohsm_kms_cks *out, struct ohsm_aws_err *err)
{
    struct ohsm_kms_cks s;
    int ret = -1;

    memset(&s, 0, sizeof(s));
    ohsm_rv rv = ohsm_kms_store_cks_get(k->store, id, &s);
    if (rv == OHSM_KEY_HANDLE_INVALID ||
        (rv == OHSM_OK && (region != NULL && strcmp(s.region, region) != 0)) ||
        (rv == OHSM_OK && (account != NULL && strcmp(s.account, account) != 0))) {
        ohsm_kms_fail(err, "CustomKeyStoreNotFoundException",
                      "Custom key store ID %s does not exist.", id);
    } else if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "custom key store", rv);
    } else if (connected && s.state != OHSM_CKS_CONNECTED) {
        ohsm_kms_fail(err, "CustomKeyStoreInvalidStateException",
                      "Custom key store %s has ConnectionState %s. This operation requires a "
                      "custom key store with ConnectionState CONNECTED.",
                      id, ohsm_kms_cks_state_name(s.state));
    } else {
        ret = 0;
    }
    if (ret == 0 && out != NULL) {
        *out = s;
    } else {
        ohsm_kms_cks_clear(&s);
    }
    return ret;
}

static int need_connected(struct ohsm_kms *k, const char *cks_id, struct ohsm_aws_err *err)
{
    return ohsm_kms_cks_find(k, NULL, NULL, cks_id, true, NULL, err);
}

int ohsm_kms_cks_random(struct ohsm_kms *k, const char *cks_id, uint8_t *out, size_t n,
                        struct ohsm_aws_err *err)
{
    struct rand_arg r = {out, n};
    ohsm_rv rv = OHSM_OK;

    if (need_connected(k, cks_id, err) != 0) {
        return -1;
    }
    if (with_conn(k, cks_id, rand_fn, &r, &rv) != 0) {
        no_comm(err);
        return -1;
    }
    return rv == OHSM_OK ? 0 : hsm_fail(NULL, rv, err);
}

struct gen_arg {
    const struct ohsm_kms_key *key;
    uint64_t handle;
    size_t placed; /* HSMs that hold it */
};

static ohsm_rv gen_fn(struct ohsm_client *cl, void *arg)
{
    struct gen_arg *a = arg;
    char arn[OHSM_KMS_ARN_MAX], bid[65];
    struct ohsm_tmpl_buf t;
    struct ohsm_keygen g;
    struct ohsm_obj made[2];
    struct ohsm_result res[OHSM_KMS_CV_HSMS];
    size_t nobj = 0;

    ohsm_kms_key_arn(a->key, arn, sizeof(arn));
    ohsm_kms_cks_backing_id(a->key->id, bid);
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, arn, strlen(arn));
    ohsm_tmpl_put_bytes(&t, OHSM_A_ID, bid, 64);
    ohsm_tmpl_put_bool(&t, OHSM_A_TOKEN, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_EXTRACTABLE, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_ENCRYPT, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_DECRYPT, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_SIGN, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_VERIFY, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_WRAP, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_UNWRAP, false);
    OHSM_ENSURE(!t.overflow, OHSM_DEVICE_ERROR);
    memset(&g, 0, sizeof(g));
    memset(res, 0, sizeof(res));
    g.ktype = OHSM_KT_AES;
    g.length = 32;
    g.tmpl = t.buf;
    g.tmpl_len = t.len;
    ohsm_rv rv = ohsm_client_key_generate(cl, &g, made, &nobj, res);
    for (size_t i = 0; i < ohsm_client_hsm_count(cl) && i < OHSM_KMS_CV_HSMS; i++) {
        a->placed += res[i].rv == OHSM_OK;
    }
    if (nobj >= 1) {
        a->handle = made[0].handle;
    }
    return rv;
}

struct del_arg {
    uint64_t handle;
};

static ohsm_rv del_fn(struct ohsm_client *cl, void *arg)
{
    struct del_arg *d = arg;
    struct ohsm_result res[OHSM_KMS_CV_HSMS];
    memset(res, 0, sizeof(res));
    return ohsm_client_key_delete(cl, d->handle, res);
}

int ohsm_kms_cks_key_create(struct ohsm_kms *k, const struct ohsm_kms_key *key, uint64_t *handle,
                            struct ohsm_aws_err *err)
{
    struct gen_arg a = {key, 0, 0};
    ohsm_rv rv = OHSM_OK;

    if (need_connected(k, key->custom_key_store_id, err) != 0) {
        return -1;
    }
    if (with_conn(k, key->custom_key_store_id, gen_fn, &a, &rv) != 0) {
        no_comm(err);
        return -1;
    }
    if (a.handle != 0 && (rv != OHSM_OK || a.placed < 2)) {
        /* on fewer than two HSMs: not durable as AWS requires; take it back */
        struct del_arg d = {a.handle};
        ohsm_rv drv = OHSM_OK;
        (void)with_conn(k, key->custom_key_store_id, del_fn, &d, &drv);
        if (rv == OHSM_OK) {
            ohsm_kms_fail(err, "CloudHsmClusterInvalidConfigurationException",
                          "The AWS CloudHSM cluster must have at least two active HSMs, each in "
                          "a different Availability Zone, to create a KMS key.");
            return -1;
        }
    }
    if (rv != OHSM_OK) {
        return hsm_fail(key, rv, err);
    }
    *handle = a.handle;
    return 0;
}

bool ohsm_kms_cks_key_destroy(struct ohsm_kms *k, const struct ohsm_kms_key *key,
                              uint64_t *handle)
{
    struct del_arg d = {key->backing_handle};
    ohsm_rv rv = OHSM_OK;

    *handle = key->backing_handle;
    if (key->backing_handle == 0) {
        return false;
    }
    if (with_conn(k, key->custom_key_store_id, del_fn, &d, &rv) != 0) {
        return false;
    }
    return rv == OHSM_OK;
}
