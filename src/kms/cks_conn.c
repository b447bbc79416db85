/* SPDX-License-Identifier: Apache-2.0
 *
 * The connections of the CloudHSM key stores (cks.h): the worker that carries stores from
 * CONNECTING to CONNECTED or FAILED and from DISCONNECTING to DISCONNECTED, the live connections
 * (a pool of libopenhsm clients logged in as kmsuser on every HSM of the cluster), and the keys'
 * cryptography over them.
 *
 * Connect, in the order AWS KMS's troubleshooting guide implies: the cluster (CLUSTER_NOT_FOUND),
 * an active HSM (INSUFFICIENT_CLOUDHSM_HSMS), the network (security group and ENIs:
 * SUBNET_NOT_FOUND, INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET), the HSMs answering (NETWORK_ERRORS),
 * kmsuser's login (USER_NOT_FOUND, USER_LOCKED_OUT, INVALID_CREDENTIALS), the password rotation
 * (USER_LOGGED_IN when kmsuser has a session elsewhere: the HSMs refuse a password change then),
 * the backing keys found again by label and id. Anything else is INTERNAL_ERROR.
 *
 * Rotation is crash-safe: the new password is sealed into the record as next_sealed and made
 * durable before any HSM changes it; only when every HSM reachable took it does it become
 * pw_sealed. A connect after a crash in between tries the current password, then the next one.
 *
 * Locks: m->rw guards the list of live connections (crypto holds it shared for the length of
 * one HSM call; a disconnect takes it exclusive to unlink, then logs out without it); it prefers
 * writers so a busy store can still be disconnected. k->cks_lock is taken for every record write
 * (before k->write_lock for the keys' states); never across HSM or network work.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "kms/cks_int.h"
#include "kms/kcrypto.h"
#include "kms/kms_int.h"
#include "openhsm/client.h"
#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "openhsm/user.h"

#define TICK_MS 500 /* the worker's pass when nothing wakes it */

/* ---- helpers ---- */

bool ohsm_kms_cks_transport(ohsm_rv rv)
{
    return rv == OHSM_NOT_CONNECTED || rv == OHSM_TIMEOUT || rv == OHSM_IO || rv == OHSM_TLS ||
           rv == OHSM_PROTOCOL;
}

static void conn_free(struct conn *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < OHSM_KMS_CKS_POOL; i++) {
        if (c->pool[i] != NULL) {
            struct ohsm_result res[OHSM_KMS_CV_HSMS];
            ohsm_rv rv = ohsm_client_logout(c->pool[i], res);
            (void)rv; /* best effort: the connection closes next */
            ohsm_client_free(c->pool[i]);
        }
    }
    ohsm_cfg_free(c->cfg);
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

static void kick(struct ohsm_kms_cksm *m)
{
    (void)pthread_mutex_lock(&m->mu);
    m->kicked = true;
    (void)pthread_cond_signal(&m->cond);
    (void)pthread_mutex_unlock(&m->mu);
}

/* ---- records and the keys' states ---- */

/* The keys of store id become Unavailable (not connected) or get their previous state back.
 * PendingDeletion stays. k->cks_lock held; takes write_lock. */
static ohsm_rv keys_available(struct ohsm_kms *k, const char *id, bool available)
{
    struct ohsm_kms_key *keys = NULL;
    size_t n = 0;
    ohsm_rv rv = ohsm_kms_tab_list(k, NULL, &keys, &n);

    (void)pthread_mutex_lock(&k->write_lock);
    for (size_t i = 0; rv == OHSM_OK && i < n; i++) {
        struct ohsm_kms_key *key = &keys[i];
        if (strcmp(key->custom_key_store_id, id) != 0) {
            continue;
        }
        if (available && key->state == OHSM_KSTATE_UNAVAILABLE) {
            key->state = key->saved_state == OHSM_KSTATE_DISABLED ? OHSM_KSTATE_DISABLED
                                                                  : OHSM_KSTATE_ENABLED;
            key->saved_state = key->state;
            rv = ohsm_kms_tab_put(k, key);
        } else if (!available && key->state != OHSM_KSTATE_UNAVAILABLE &&
                   key->state != OHSM_KSTATE_PENDING_DELETION) {
            key->saved_state = key->state;
            key->state = OHSM_KSTATE_UNAVAILABLE;
            rv = ohsm_kms_tab_put(k, key);
        }
    }
    (void)pthread_mutex_unlock(&k->write_lock);
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_key_clear(&keys[i]);
    }
    free(keys);
    return rv;
}

/* Sets the state of store id when it is still `from` (a Disconnect may have come in between);
 * *changed says whether it was. Keys follow: available only when CONNECTED. */
static ohsm_rv set_state(struct ohsm_kms *k, const char *id, uint32_t from, uint32_t to,
                         uint32_t error, bool *changed)
{
    struct ohsm_kms_cks s;
    ohsm_rv rv;

    memset(&s, 0, sizeof(s));
    *changed = false;
    (void)pthread_mutex_lock(&k->cks_lock);
    rv = ohsm_kms_store_cks_get(k->store, id, &s);
    if (rv == OHSM_OK && s.state == from) {
        s.state = to;
        s.error = to == OHSM_CKS_FAILED ? error : OHSM_CKSE_NONE;
        rv = ohsm_kms_store_cks_put(k->store, &s);
        if (rv == OHSM_OK) {
            *changed = true;
            rv = keys_available(k, id, to == OHSM_CKS_CONNECTED);
        }
    }
    (void)pthread_mutex_unlock(&k->cks_lock);
    ohsm_kms_cks_clear(&s);
    return rv;
}

/* Writes the sealed passwords of store id (pw may be NULL: unchanged; next NULL: none). */
static ohsm_rv save_pw(struct ohsm_kms *k, const char *id, const char *pw, const char *next)
{
    struct ohsm_kms_cks s;
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    ohsm_rv rv = OHSM_OK;

    memset(&s, 0, sizeof(s));
    if (pw != NULL) {
        rv = ohsm_kms_cks_seal_pw(k, id, "pw", pw, &a, &al);
    }
    if (rv == OHSM_OK && next != NULL) {
        rv = ohsm_kms_cks_seal_pw(k, id, "next", next, &b, &bl);
    }
    if (rv != OHSM_OK) {
        free(a);
        free(b);
        return rv;
    }
    (void)pthread_mutex_lock(&k->cks_lock);
    rv = ohsm_kms_store_cks_get(k->store, id, &s);
    if (rv == OHSM_OK) {
        if (a != NULL) {
            free(s.pw_sealed);
            s.pw_sealed = a;
            s.pw_sealed_len = al;
            a = NULL;
        }
        free(s.next_sealed);
        s.next_sealed = b;
        s.next_sealed_len = bl;
        b = NULL;
        rv = ohsm_kms_store_cks_put(k->store, &s);
    }
    (void)pthread_mutex_unlock(&k->cks_lock);
    ohsm_kms_cks_clear(&s);
    free(a);
    free(b);
    return rv;
}

/* ---- connect ---- */

uint32_t ohsm_kms_cks_login_code(const struct ohsm_result *res, size_t n, ohsm_rv rv)
{
    bool any_transport = false;
    for (size_t i = 0; i < n; i++) {
        ohsm_rv r = res[i].rv;
        if (r == OHSM_OK || r == OHSM_USER_ALREADY_LOGGED_IN) {
            continue;
        }
        if (ohsm_kms_cks_transport(r)) {
            any_transport = true;
            continue;
        }
        switch (r) {
        case OHSM_PIN_INCORRECT:
            return OHSM_CKSE_INVALID_CREDENTIALS;
        case OHSM_PIN_LOCKED:
            return OHSM_CKSE_USER_LOCKED_OUT;
        case OHSM_USER_NOT_FOUND:
        case OHSM_USER_TYPE_INVALID: /* "kmsuser" exists but is not a crypto user */
            return OHSM_CKSE_USER_NOT_FOUND;
        case OHSM_MFA_REQUIRED: /* KMS cannot log in as a user with 2FA */
            return OHSM_CKSE_INVALID_CREDENTIALS;
        default:
            return OHSM_CKSE_INTERNAL_ERROR;
        }
    }
    if (any_transport || ohsm_kms_cks_transport(rv)) {
        return OHSM_CKSE_NETWORK_ERRORS;
    }
    return OHSM_CKSE_INTERNAL_ERROR;
}

/* (cks_int.h) */
ohsm_rv ohsm_kms_cks_login(struct ohsm_client *cl, const char *pw, uint32_t *code)
{
    struct ohsm_result res[OHSM_KMS_CV_HSMS];
    size_t n = ohsm_client_hsm_count(cl);
    bool any = false;

    memset(res, 0, sizeof(res));
    ohsm_rv rv = ohsm_client_login(cl, OHSM_UT_CU, OHSM_KMS_KMSUSER, pw, res, NULL);
    for (size_t i = 0; i < n && i < OHSM_KMS_CV_HSMS; i++) {
        if (res[i].rv == OHSM_OK || res[i].rv == OHSM_USER_ALREADY_LOGGED_IN) {
            any = true;
        } else if (!ohsm_kms_cks_transport(res[i].rv)) {
            *code = ohsm_kms_cks_login_code(res, n, rv);
            return res[i].rv;
        }
    }
    if (!any) {
        *code = ohsm_kms_cks_login_code(res, n, rv);
        return OHSM_NOT_CONNECTED;
    }
    return OHSM_OK;
}

static struct conn *conn_new(const struct ohsm_kms_cks *s, const struct ohsm_kms_cv *v,
                             ohsm_rv *why)
{
    struct conn *c = calloc(1, sizeof(*c));
    char err[256];

    *why = OHSM_HOST_MEMORY;
    if (c == NULL) {
        return NULL;
    }
    (void)snprintf(c->id, sizeof(c->id), "%s", s->id);
    (void)snprintf(c->region, sizeof(c->region), "%s", s->region);
    (void)snprintf(c->cluster_id, sizeof(c->cluster_id), "%s", s->cluster_id);
    for (size_t i = 0; i < v->n_hsms && i < OHSM_KMS_CV_HSMS; i++) {
        (void)snprintf(c->hsms[i], sizeof(c->hsms[i]), "%s", v->hsms[i].id);
    }
    c->n_hsms = v->n_hsms;
    *why = ohsm_cfg_load(v->client_json, &c->cfg, err, sizeof(err));
    for (size_t i = 0; *why == OHSM_OK && i < OHSM_KMS_CKS_POOL; i++) {
        *why = ohsm_client_new(c->cfg, &c->pool[i]);
    }
    if (*why != OHSM_OK) {
        conn_free(c);
        return NULL;
    }
    return c;
}

/* Finds the backing keys of the store's KMS keys again (by label and id) and records handles
 * that moved (a cluster restored from a backup) and the store's cluster (CloudHsmClusterId of
 * DescribeKey). A key whose backing key is missing keeps its handle: its cryptography then
 * fails, as AWS's failing keys do. */
static void rebind_keys(struct ohsm_kms *k, struct conn *c)
{
    struct ohsm_kms_key *keys = NULL;
    size_t n = 0;

    if (ohsm_kms_tab_list(k, NULL, &keys, &n) != OHSM_OK) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct ohsm_kms_key *key = &keys[i];
        char arn[OHSM_KMS_ARN_MAX], bid[65];
        struct ohsm_tmpl_buf t;
        struct ohsm_obj *objs = NULL;
        size_t no = 0;

        if (strcmp(key->custom_key_store_id, c->id) != 0) {
            continue;
        }
        ohsm_kms_key_arn(key, arn, sizeof(arn));
        ohsm_kms_cks_backing_id(key->id, bid);
        ohsm_tmpl_init(&t);
        ohsm_tmpl_put_u32(&t, OHSM_A_CLASS, OHSM_CLASS_SECRET);
        ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, arn, strlen(arn));
        ohsm_tmpl_put_bytes(&t, OHSM_A_ID, bid, 64);
        bool found = !t.overflow &&
                     ohsm_client_key_find(c->pool[0], t.buf, t.len, &objs, &no) == OHSM_OK &&
                     no > 0;
        if ((found && objs[0].handle != key->backing_handle) ||
            strcmp(key->cluster_id, c->cluster_id) != 0) {
            (void)pthread_mutex_lock(&k->write_lock);
            struct ohsm_kms_key cur;
            memset(&cur, 0, sizeof(cur));
            if (ohsm_kms_tab_get(k, key->id, &cur) == OHSM_OK) {
                if (found) {
                    cur.backing_handle = objs[0].handle;
                }
                /* the store's cluster now (UpdateCustomKeyStore moved it to a related one) */
                (void)snprintf(cur.cluster_id, sizeof(cur.cluster_id), "%s", c->cluster_id);
                if (ohsm_kms_tab_put(k, &cur) != OHSM_OK) {
                    fprintf(stderr, "openhsmd: kms: cannot record the backing key of %s\n",
                            cur.id);
                }
            }
            ohsm_kms_key_clear(&cur);
            (void)pthread_mutex_unlock(&k->write_lock);
        }
        free(objs);
    }
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_key_clear(&keys[i]);
    }
    free(keys);
}

/* Changes kmsuser's password from old to new on every HSM through cl (logged in as kmsuser).
 * When some HSM refused (kmsuser logged in elsewhere), the HSMs that took it are set back to
 * old, so the cluster keeps one password. */
static uint32_t rotate(struct ohsm_client *cl, const char *old, const char *nw)
{
    struct ohsm_result res[OHSM_KMS_CV_HSMS];
    size_t n = ohsm_client_hsm_count(cl);
    bool refused = false, any = false;

    memset(res, 0, sizeof(res));
    ohsm_rv rv =
        ohsm_client_change_password(cl, OHSM_UT_CU, OHSM_KMS_KMSUSER, nw, res, NULL);
    uint32_t code = OHSM_CKSE_NONE;
    for (size_t i = 0; i < n && i < OHSM_KMS_CV_HSMS; i++) {
        if (res[i].rv == OHSM_OK) {
            any = true;
        } else if (!ohsm_kms_cks_transport(res[i].rv)) {
            refused = true;
            if (code == OHSM_CKSE_NONE) {
                code = res[i].rv == OHSM_USER_LOGGED_IN ? OHSM_CKSE_USER_LOGGED_IN
                                                         : OHSM_CKSE_INTERNAL_ERROR;
            }
        }
    }
    if (!refused && any) {
        return OHSM_CKSE_NONE;
    }
    if (any) {
        struct ohsm_result back[OHSM_KMS_CV_HSMS];
        ohsm_rv brv =
            ohsm_client_change_password(cl, OHSM_UT_CU, OHSM_KMS_KMSUSER, old, back, NULL);
        (void)brv; /* where this fails too, the old password was never replaced */
    }
    if (code == OHSM_CKSE_NONE) {
        code = ohsm_kms_cks_transport(rv) ? OHSM_CKSE_NETWORK_ERRORS : OHSM_CKSE_INTERNAL_ERROR;
    }
    return code;
}

/* An HSM answers a login of an unknown user as it answers a wrong password (it does not say
 * which users exist); KMS tells them apart as AWS KMS does, from the user list, which needs no
 * login: no crypto user kmsuser on some HSM is USER_NOT_FOUND, a locked one USER_LOCKED_OUT. */
static uint32_t refine(struct ohsm_client *cl, uint32_t code)
{
    if (code != OHSM_CKSE_INVALID_CREDENTIALS) {
        return code;
    }
    for (size_t i = 0; i < ohsm_client_hsm_count(cl); i++) {
        struct ohsm_user_info *u = NULL;
        size_t n = 0;
        bool found = false, locked = false;
        if (ohsm_client_list_users(cl, i, &u, &n) != OHSM_OK) {
            continue; /* not answering: another HSM decides */
        }
        for (size_t j = 0; j < n; j++) {
            if (strcmp(u[j].username, OHSM_KMS_KMSUSER) == 0 && u[j].type == OHSM_UT_CU) {
                found = true;
                locked = u[j].locked;
            }
        }
        free(u);
        if (!found) {
            return OHSM_CKSE_USER_NOT_FOUND;
        }
        if (locked) {
            return OHSM_CKSE_USER_LOCKED_OUT;
        }
    }
    return code;
}

/* Everything a connect does; 0 and *out (the live connection) or the error code. */
static uint32_t connect_store(struct ohsm_kms *k, const struct ohsm_kms_cks *s, struct conn **out)
{
    struct ohsm_kms_cv v;
    struct conn *c = NULL;
    char pw[OHSM_KMS_CKS_PW_MAX + 1], nw[OHSM_KMS_CKS_PW_MAX + 1];
    uint32_t code = OHSM_CKSE_INTERNAL_ERROR;
    bool net = false;
    ohsm_rv rv;

    memset(&v, 0, sizeof(v));
    memset(pw, 0, sizeof(pw));
    memset(nw, 0, sizeof(nw));
    *out = NULL;
    if (k->clusters.view == NULL || k->clusters.view(k->clusters.ctx, s->region, s->cluster_id,
                                                     &v) != OHSM_OK) {
        goto out;
    }
    if (!v.exists) {
        code = OHSM_CKSE_CLUSTER_NOT_FOUND;
        goto out;
    }
    /* HSMs that exist: ACTIVE, or DEGRADED (there but unhealthy: whether they answer is
     * NETWORK_ERRORS' question); ones being created or deleted do not count */
    size_t active = 0;
    for (size_t i = 0; i < v.n_hsms; i++) {
        active += strcmp(v.hsms[i].state, "ACTIVE") == 0 ||
                  strcmp(v.hsms[i].state, "DEGRADED") == 0;
    }
    if (active == 0 || v.client_json[0] == '\0') {
        code = OHSM_CKSE_INSUFFICIENT_CLOUDHSM_HSMS;
        goto out;
    }
    if (k->clusters.net_up == NULL ||
        k->clusters.net_up(k->clusters.ctx, s->region, s->cluster_id, s->id, &code) != OHSM_OK) {
        if (code == OHSM_CKSE_NONE) {
            code = OHSM_CKSE_INTERNAL_ERROR;
        }
        goto out;
    }
    net = true;
    code = OHSM_CKSE_INTERNAL_ERROR;
    c = conn_new(s, &v, &rv);
    if (c == NULL) {
        goto out;
    }
    if (ohsm_client_reconnect(c->pool[0]) != OHSM_OK) {
        bool any = false;
        for (size_t i = 0; i < ohsm_client_hsm_count(c->pool[0]); i++) {
            struct ohsm_hsm_status st;
            any |= ohsm_client_hsm_status(c->pool[0], i, &st) == OHSM_OK && st.connected;
        }
        if (!any) {
            code = OHSM_CKSE_NETWORK_ERRORS;
            goto out;
        }
    }
    /* kmsuser's password as KMS knows it; after an interrupted rotation, the next one */
    if (s->pw_sealed == NULL ||
        ohsm_kms_cks_unseal_pw(k, s->id, "pw", s->pw_sealed, s->pw_sealed_len, pw) != OHSM_OK) {
        goto out;
    }
    rv = ohsm_kms_cks_login(c->pool[0], pw, &code);
    if (rv != OHSM_OK && code == OHSM_CKSE_INVALID_CREDENTIALS &&
        s->next_sealed != NULL &&
        ohsm_kms_cks_unseal_pw(k, s->id, "next", s->next_sealed, s->next_sealed_len, nw) ==
            OHSM_OK) {
        rv = ohsm_kms_cks_login(c->pool[0], nw, &code);
        if (rv == OHSM_OK) {
            memcpy(pw, nw, sizeof(pw));
        }
    }
    if (rv != OHSM_OK) {
        code = refine(c->pool[0], code);
        goto out;
    }
    /* the rotation: durable first, then on the HSMs, then the record */
    code = OHSM_CKSE_INTERNAL_ERROR;
    if (ohsm_kms_random_password(nw) != OHSM_OK || save_pw(k, s->id, pw, nw) != OHSM_OK) {
        goto out;
    }
    code = rotate(c->pool[0], pw, nw);
    if (code != OHSM_CKSE_NONE) {
        (void)save_pw(k, s->id, pw, NULL);
        goto out;
    }
    code = OHSM_CKSE_INTERNAL_ERROR;
    if (save_pw(k, s->id, nw, NULL) != OHSM_OK) {
        goto out; /* next_sealed still holds it: the next connect logs in with it */
    }
    memcpy(c->pw, nw, sizeof(c->pw));
    for (size_t i = 1; i < OHSM_KMS_CKS_POOL; i++) {
        if (ohsm_kms_cks_login(c->pool[i], nw, &code) != OHSM_OK) {
            goto out;
        }
    }
    rebind_keys(k, c);
    *out = c;
    c = NULL;
    code = OHSM_CKSE_NONE;
out:
    if (c != NULL) {
        conn_free(c);
    }
    if (code != OHSM_CKSE_NONE && net) {
        k->clusters.net_down(k->clusters.ctx, s->region, s->id);
    }
    OPENSSL_cleanse(pw, sizeof(pw));
    OPENSSL_cleanse(nw, sizeof(nw));
    ohsm_kms_cv_clear(&v);
    return code;
}

static struct conn *unlink_conn(struct ohsm_kms_cksm *m, const char *id)
{
    struct conn *found = NULL;
    (void)pthread_rwlock_wrlock(&m->rw);
    for (struct conn **p = &m->conns; *p != NULL; p = &(*p)->next) {
        if (strcmp((*p)->id, id) == 0) {
            found = *p;
            *p = found->next;
            break;
        }
    }
    (void)pthread_rwlock_unlock(&m->rw);
    return found;
}

static bool has_conn(struct ohsm_kms_cksm *m, const char *id)
{
    bool yes = false;
    (void)pthread_rwlock_rdlock(&m->rw);
    for (struct conn *c = m->conns; c != NULL && !yes; c = c->next) {
        yes = strcmp(c->id, id) == 0;
    }
    (void)pthread_rwlock_unlock(&m->rw);
    return yes;
}

static void do_connect(struct ohsm_kms_cksm *m, const struct ohsm_kms_cks *s)
{
    struct ohsm_kms *k = m->k;
    struct conn *c = NULL;
    bool changed = false;
    uint32_t code = connect_store(k, s, &c);

    if (code != OHSM_CKSE_NONE) {
        /* CONNECTING -> FAILED; a store found CONNECTED at start that cannot reconnect too */
        if (set_state(k, s->id, s->state, OHSM_CKS_FAILED, code, &changed) != OHSM_OK) {
            fprintf(stderr, "openhsmd: kms: cannot record the state of %s\n", s->id);
        }
        fprintf(stderr, "openhsmd: kms: custom key store %s failed to connect: %s\n", s->id,
                ohsm_kms_cks_error_name(code));
        return;
    }
    (void)pthread_rwlock_wrlock(&m->rw);
    c->next = m->conns;
    m->conns = c;
    (void)pthread_rwlock_unlock(&m->rw);
    if (s->state == OHSM_CKS_CONNECTING) {
        (void)set_state(k, s->id, OHSM_CKS_CONNECTING, OHSM_CKS_CONNECTED, OHSM_CKSE_NONE,
                        &changed);
    } else {
        changed = true; /* it was CONNECTED: a reconnect after a restart */
        (void)pthread_mutex_lock(&k->cks_lock);
        (void)keys_available(k, s->id, true);
        (void)pthread_mutex_unlock(&k->cks_lock);
    }
    if (!changed) { /* disconnected meanwhile: the next pass takes it down */
        kick(m);
    }
}

static void do_disconnect(struct ohsm_kms_cksm *m, const struct ohsm_kms_cks *s)
{
    struct ohsm_kms *k = m->k;
    bool changed = false;

    conn_free(unlink_conn(m, s->id));
    if (k->clusters.net_down != NULL) {
        k->clusters.net_down(k->clusters.ctx, s->region, s->id);
    }
    if (set_state(k, s->id, OHSM_CKS_DISCONNECTING, OHSM_CKS_DISCONNECTED, OHSM_CKSE_NONE,
                  &changed) != OHSM_OK) {
        fprintf(stderr, "openhsmd: kms: cannot record the state of %s\n", s->id);
    }
}

/* A connected store whose cluster gained or lost HSMs gets a pool over the new configuration,
 * logged in with the password it holds (no rotation: nobody else can have changed it while
 * KMS is logged in). HSMs that are down are not a change: the clients reconnect by themselves. */
static void follow(struct ohsm_kms_cksm *m, const struct ohsm_kms_cks *s)
{
    struct ohsm_kms *k = m->k;
    struct ohsm_kms_cv v;
    bool same = true;
    struct conn *nc = NULL;
    ohsm_rv rv;

    memset(&v, 0, sizeof(v));
    if (k->clusters.view(k->clusters.ctx, s->region, s->cluster_id, &v) != OHSM_OK ||
        !v.exists || v.client_json[0] == '\0') {
        ohsm_kms_cv_clear(&v);
        return; /* crypto reports it ("cannot communicate"); the store stays CONNECTED */
    }
    (void)pthread_rwlock_rdlock(&m->rw);
    for (struct conn *c = m->conns; c != NULL; c = c->next) {
        if (strcmp(c->id, s->id) != 0) {
            continue;
        }
        same = c->n_hsms == v.n_hsms;
        for (size_t i = 0; same && i < v.n_hsms; i++) {
            same = strcmp(c->hsms[i], v.hsms[i].id) == 0;
        }
        if (!same) {
            nc = conn_new(s, &v, &rv);
            if (nc != NULL) {
                memcpy(nc->pw, c->pw, sizeof(nc->pw));
            }
        }
        break;
    }
    (void)pthread_rwlock_unlock(&m->rw);
    ohsm_kms_cv_clear(&v);
    if (nc == NULL) {
        return;
    }
    uint32_t code = OHSM_CKSE_NONE;
    for (size_t i = 0; i < OHSM_KMS_CKS_POOL; i++) {
        if (ohsm_kms_cks_login(nc->pool[i], nc->pw, &code) != OHSM_OK) {
            conn_free(nc);
            return; /* tried again at the next pass */
        }
    }
    rebind_keys(k, nc);
    struct conn *old = unlink_conn(m, s->id);
    (void)pthread_rwlock_wrlock(&m->rw);
    nc->next = m->conns;
    m->conns = nc;
    (void)pthread_rwlock_unlock(&m->rw);
    conn_free(old);
}

static void pass(struct ohsm_kms_cksm *m)
{
    struct ohsm_kms_cks *v = NULL;
    size_t n = 0;

    if (ohsm_kms_store_cks_list(m->k->store, &v, &n) != OHSM_OK) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct ohsm_kms_cks *s = &v[i];
        bool live = has_conn(m, s->id);
        switch (s->state) {
        case OHSM_CKS_CONNECTING:
            if (!live) {
                do_connect(m, s);
            }
            break;
        case OHSM_CKS_CONNECTED:
            if (!live) {
                do_connect(m, s); /* after a restart */
            } else {
                follow(m, s);
            }
            break;
        case OHSM_CKS_DISCONNECTING:
            do_disconnect(m, s);
            break;
        default:
            if (live) { /* FAILED or DISCONNECTED with a live connection: never kept */
                conn_free(unlink_conn(m, s->id));
            }
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_cks_clear(&v[i]);
    }
    free(v);
}

static void *worker_main(void *arg)
{
    struct ohsm_kms_cksm *m = arg;

    (void)pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        if (!m->kicked) {
            struct timespec ts;
            (void)clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)TICK_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            (void)pthread_cond_timedwait(&m->cond, &m->mu, &ts);
        }
        if (m->stopping) {
            break;
        }
        m->kicked = false;
        (void)pthread_mutex_unlock(&m->mu);
        pass(m);
        (void)pthread_mutex_lock(&m->mu);
    }
    (void)pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- life ---- */

ohsm_rv ohsm_kms_cksm_new(struct ohsm_kms *k, struct ohsm_kms_cksm **out)
{
    struct ohsm_kms_cksm *m = calloc(1, sizeof(*m));
    pthread_rwlockattr_t a;

    OHSM_ENSURE(m != NULL, OHSM_HOST_MEMORY);
    m->k = k;
    (void)pthread_rwlockattr_init(&a);
    (void)pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    (void)pthread_rwlock_init(&m->rw, &a);
    (void)pthread_rwlockattr_destroy(&a);
    (void)pthread_mutex_init(&m->mu, NULL);
    (void)pthread_cond_init(&m->cond, NULL);
    *out = m;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_cksm_start(struct ohsm_kms_cksm *m)
{
    if (m->k->clusters.view == NULL) {
        return OHSM_OK; /* no clusters: nothing can connect */
    }
    OHSM_ENSURE(pthread_create(&m->worker, NULL, worker_main, m) == 0, OHSM_HOST_MEMORY);
    m->running = true;
    kick(m);
    return OHSM_OK;
}

void ohsm_kms_cksm_free(struct ohsm_kms_cksm *m)
{
    if (m == NULL) {
        return;
    }
    if (m->running) {
        (void)pthread_mutex_lock(&m->mu);
        m->stopping = true;
        (void)pthread_cond_broadcast(&m->cond);
        (void)pthread_mutex_unlock(&m->mu);
        (void)pthread_join(m->worker, NULL);
    }
    while (m->conns != NULL) {
        struct conn *c = m->conns;
        m->conns = c->next;
        conn_free(c);
    }
    (void)pthread_rwlock_destroy(&m->rw);
    (void)pthread_mutex_destroy(&m->mu);
    (void)pthread_cond_destroy(&m->cond);
    free(m);
}

ohsm_rv ohsm_kms_cksm_connect(struct ohsm_kms *k, const struct ohsm_kms_cks *s)
{
    struct ohsm_kms_cks cur;

    if (s->state != OHSM_CKS_DISCONNECTED) {
        return OHSM_OK; /* CONNECTED or CONNECTING: already on its way */
    }
    memset(&cur, 0, sizeof(cur));
    OHSM_TRY(ohsm_kms_store_cks_get(k->store, s->id, &cur));
    cur.state = OHSM_CKS_CONNECTING;
    cur.error = OHSM_CKSE_NONE;
    ohsm_rv rv = ohsm_kms_store_cks_put(k->store, &cur);
    ohsm_kms_cks_clear(&cur);
    if (rv == OHSM_OK && k->cksm != NULL && k->cksm->running) {
        kick(k->cksm);
    }
    return rv;
}

ohsm_rv ohsm_kms_cksm_disconnect(struct ohsm_kms *k, const struct ohsm_kms_cks *s)
{
    struct ohsm_kms_cks cur;
    bool worker = k->cksm != NULL && k->cksm->running;

    memset(&cur, 0, sizeof(cur));
    OHSM_TRY(ohsm_kms_store_cks_get(k->store, s->id, &cur));
    /* without a worker (openhsmd gave no clusters) nothing is connected: done at once */
    cur.state = worker ? OHSM_CKS_DISCONNECTING : OHSM_CKS_DISCONNECTED;
    cur.error = OHSM_CKSE_NONE;
    ohsm_rv rv = ohsm_kms_store_cks_put(k->store, &cur);
    ohsm_kms_cks_clear(&cur);
    if (rv == OHSM_OK && worker) {
        kick(k->cksm);
    } else if (rv == OHSM_OK) {
        rv = keys_available(k, s->id, false);
    }
    return rv;
}

size_t ohsm_kms_cks_key_count(struct ohsm_kms *k, const char *id)
{
    struct ohsm_kms_key *keys = NULL;
    size_t n = 0, count = 0;

    /* every region: a store id is unique across them; out of memory counts as "has keys" */
    if (ohsm_kms_tab_list(k, NULL, &keys, &n) != OHSM_OK) {
        return SIZE_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i].custom_key_store_id, id) == 0) {
            count++;
        }
        ohsm_kms_key_clear(&keys[i]);
    }
    free(keys);
    return count;
}
