/* SPDX-License-Identifier: Apache-2.0
 *
 * Key management handlers: generate, import, delete, find, get, set attributes, share, export the
 * public key. Crypto users manage the keys they own and use those shared with them; admins and the
 * appliance user see every token key's metadata (and admins may set `trusted`) but use none. The
 * rules themselves (templates, one-way attributes, shares) are src/core/obj.c's; this file applies
 * them to the HSM's objects and makes every change durable before it is acknowledged. A key whose
 * manage-key-quorum-value is above 1 is shared, unshared and changed only with the approval of
 * that many of its users (auth.c's key guard); unsharing may not leave it fewer users than that.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hsm/handlers.h"
#include "openhsm/mask.h"

/* Fresh secret key of `length` bytes: record defaults, template, size and check value. */
static ohsm_rv gen_secret(const Ohsm__KeyGenReq *q, const struct ohsm_tmpl *t, uint8_t *key,
                          struct ohsm_newkey *k)
{
    OHSM_TRY(ohsm_mech_check_size(q->ktype, q->length, 0));
    OHSM_TRY(ohsm_mech_gen_secret(key, q->length));
    if (q->ktype == OHSM_KT_DES3) {
        ohsm_mech_des_parity(key, q->length); /* CKM_DES3_KEY_GEN: odd parity */
    }
    ohsm_obj_defaults(&k->o, OHSM_CLASS_SECRET, q->ktype, true);
    k->o.value_len = q->length;
    OHSM_TRY(ohsm_mech_kcv(q->ktype, key, q->length, k->o.kcv));
    k->o.has_kcv = true;
    OHSM_TRY(ohsm_obj_apply_template(&k->o, t));
    k->material = key;
    k->len = q->length;
    return OHSM_OK;
}

/* Fresh RSA or EC pair: both halves carry the public facts (SPKI, sizes, curve). */
static ohsm_rv gen_pair(const Ohsm__KeyGenReq *q, const struct ohsm_tmpl *t,
                        const struct ohsm_tmpl *pt, void **pkey, struct ohsm_newkey k[2],
                        uint8_t **priv, size_t *priv_len, uint8_t **pub, size_t *pub_len)
{
    if (q->ktype == OHSM_KT_RSA) {
        OHSM_TRY(ohsm_mech_check_size(OHSM_KT_RSA, q->length, q->public_exponent));
        OHSM_TRY(ohsm_mech_gen_rsa(q->length, q->public_exponent, pkey));
    } else {
        OHSM_TRY(ohsm_mech_gen_ec(q->curve, pkey));
    }
    ohsm_obj_defaults(&k[0].o, OHSM_CLASS_PRIVATE, q->ktype, true);
    ohsm_obj_defaults(&k[1].o, OHSM_CLASS_PUBLIC, q->ktype, true);
    OHSM_TRY(ohsm_mech_fill_public(&k[0].o, *pkey));
    OHSM_TRY(ohsm_mech_fill_public(&k[1].o, *pkey));
    OHSM_TRY(ohsm_obj_apply_template(&k[0].o, t));
    OHSM_TRY(ohsm_obj_apply_template(&k[1].o, pt));
    OHSM_TRY(ohsm_mech_pkey_der(*pkey, true, priv, priv_len));
    OHSM_TRY(ohsm_mech_pkey_der(*pkey, false, pub, pub_len));
    /* key-length-bytes as CloudHSM shows it (obj.h): the private half's PKCS#8 length. */
    OHSM_TRY(ohsm_obj_set_key_len(&k[0].o, *priv_len));
    OHSM_TRY(ohsm_obj_set_key_len(&k[1].o, 0));
    k[0].material = *priv;
    k[0].len = *priv_len;
    k[1].material = *pub;
    k[1].len = *pub_len;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_key_gen(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__KeyGenReq *q,
                         struct ohsm_reply *r)
{
    struct ohsm_newkey k[2];
    struct ohsm_tmpl t;
    struct ohsm_tmpl pt;
    uint8_t key[OHSM_GENERIC_SECRET_MAX]; /* the largest secret key: a generic secret */
    uint8_t *priv = NULL;
    uint8_t *pub = NULL;
    size_t priv_len = 0;
    size_t pub_len = 0;
    void *pkey = NULL;
    size_t n = 1;
    ohsm_rv rv;

    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_MGMT, NULL));
    OHSM_TRY(ohsm_hsm_tmpl(&q->template_, &t));
    OHSM_TRY(ohsm_hsm_tmpl(&q->pub_template, &pt));
    OHSM_ENSURE(q->n_share <= OHSM_SHARE_MAX, OHSM_DATA_LEN_RANGE);
    memset(k, 0, sizeof(k));
    switch (q->ktype) {
    case OHSM_KT_AES:
    case OHSM_KT_DES3:
    case OHSM_KT_GENERIC_SECRET:
        OHSM_ENSURE(q->pub_template.len == 0, OHSM_TEMPLATE_INCONSISTENT);
        rv = gen_secret(q, &t, key, &k[0]);
        break;
    case OHSM_KT_RSA:
    case OHSM_KT_EC:
        rv = gen_pair(q, &t, &pt, &pkey, k, &priv, &priv_len, &pub, &pub_len);
        n = 2;
        break;
    default:
        rv = OHSM_KEY_TYPE_INCONSISTENT;
        break;
    }
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_create(h, s, k, n, q->share, q->n_share, r);
    }
    ohsm_mech_pkey_free(pkey);
    ohsm_mech_der_free(priv, priv_len);
    ohsm_mech_der_free(pub, pub_len);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(k, sizeof(k));
    return rv;
}

ohsm_rv ohsm_hsm_key_import(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__KeyImportReq *q,
                            struct ohsm_reply *r)
{
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_MGMT, NULL));
    OHSM_ENSURE(q->n_share <= OHSM_SHARE_MAX, OHSM_DATA_LEN_RANGE);
    return ohsm_hsm_import(h, s, q->cls, q->ktype, q->material.data, q->material.len, &q->template_,
                           q->share, q->n_share, r);
}

/* u64 handle | u64 version, big-endian: the tombstone record mask.h defines. */
static void tomb_rec(uint64_t handle, uint64_t version, uint8_t out[16])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(handle >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(version >> (56 - 8 * i));
    }
}

ohsm_rv ohsm_hsm_key_delete(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__KeyDeleteReq *q,
                            struct ohsm_reply *r)
{
    struct ohsm_objent *e = NULL;
    struct ohsm_objent *cur = NULL;
    enum ohsm_utype t;
    uint8_t rec[16];
    uint8_t *blob = NULL;
    size_t blen = 0;
    ohsm_rv rv;

    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_MGMT, &t));
    OHSM_TRY(ohsm_hsm_key_owned(h, s, t, q->handle, &e));
    if ((e->rec.flags & OHSM_F_DESTROYABLE) == 0) {
        rv = OHSM_KEY_FUNCTION_NOT_PERMITTED; /* destroyable=false (PKCS#11 CKA_DESTROYABLE) */
        goto out;
    }
    ohsm_hsm_lock(h);
    cur = ohsm_objtab_get(h->objs, q->handle);
    if (cur != e) {
        rv = OHSM_KEY_HANDLE_INVALID; /* changed or deleted meanwhile: the caller retries */
        goto unlock;
    }
    if (e->session == 0) {
        /* The deletion is a change: the tombstone is one version above the last record, so a
         * copy of any earlier version is older than the deletion everywhere. */
        tomb_rec(e->rec.handle, e->rec.version + 1, rec);
        rv = ohsm_mask_seal(h->mk, OHSM_MASK_TOMBSTONE, rec, sizeof(rec), NULL, 0, &blob, &blen);
        if (rv == OHSM_OK) {
            rv = ohsm_store_begin(h->store);
            if (rv == OHSM_OK) {
                rv = ohsm_store_obj_del(h->store, e->rec.handle);
                if (rv == OHSM_OK) {
                    rv = ohsm_store_tomb_put(h->store, e->rec.handle, e->rec.version + 1, blob,
                                             blen);
                }
                rv = ohsm_hsm_tx_end(h, rv);
            }
        }
    } else {
        rv = OHSM_OK;
    }
    if (rv == OHSM_OK) {
        ohsm_objtab_del(h->objs, e->rec.handle);
        rv = ohsm_hsm_put_record(r, &e->rec, &r->recs[0]);
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_reply_key(r, 1, 0);
    }
unlock:
    ohsm_hsm_unlock(h);
out:
    free(blob);
    ohsm_objent_put(cur);
    ohsm_objent_put(e);
    return rv;
}

/* Page of find results: at most `max` records and ~768 KiB so the reply fits a 1 MiB frame. */
#define FIND_PAGE 256
#define FIND_BYTES (768u * 1024u)

struct find_ctx {
    const struct ohsm_session *s;
    enum ohsm_utype t;
    const struct ohsm_tmpl *tmpl;
    struct ohsm_reply *r;
    ProtobufCBinaryData *out;
    size_t max;
    size_t n;
    size_t bytes;
    bool more;
    ohsm_rv rv;
};

static bool find_one(void *arg, const struct ohsm_objent *e)
{
    struct find_ctx *c = arg;
    if (!ohsm_hsm_sees(c->s, c->t, e) || !ohsm_obj_match(&e->rec, c->tmpl)) {
        return true;
    }
    if (c->n == c->max || c->bytes > FIND_BYTES) {
        c->more = true;
        return false;
    }
    c->rv = ohsm_hsm_put_record(c->r, &e->rec, &c->out[c->n]);
    if (c->rv != OHSM_OK) {
        return false;
    }
    c->bytes += c->out[c->n].len;
    c->n++;
    return true;
}

ohsm_rv ohsm_hsm_key_find(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__KeyFindReq *q,
                          struct ohsm_reply *r)
{
    struct ohsm_tmpl tmpl;
    struct find_ctx c;

    memset(&c, 0, sizeof(c));
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_INFO, &c.t));
    OHSM_TRY(ohsm_hsm_tmpl(&q->template_, &tmpl));
    c.s = s;
    c.tmpl = &tmpl;
    c.r = r;
    c.max = q->max == 0 || q->max > FIND_PAGE ? FIND_PAGE : q->max;
    c.out = ohsm_reply_alloc(r, c.max * sizeof(*c.out));
    OHSM_ENSURE(c.out != NULL, OHSM_HOST_MEMORY);
    ohsm_objtab_walk(h->objs, q->after, find_one, &c);
    OHSM_TRY(c.rv);
    r->found.n_records = c.n;
    r->found.records = c.n > 0 ? c.out : NULL;
    r->found.more = c.more;
    r->resp.body_case = OHSM__RESPONSE__BODY_FOUND;
    r->resp.found = &r->found;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_key_get(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__KeyGetReq *q,
                         struct ohsm_reply *r)
{
    struct ohsm_objent *e = NULL;
    enum ohsm_utype t;
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_INFO, &t));
    OHSM_TRY(ohsm_hsm_key_seen(h, s, t, q->handle, &e));
    ohsm_rv rv = ohsm_hsm_put_record(r, &e->rec, &r->recs[0]);
    ohsm_objent_put(e);
    OHSM_TRY(rv);
    ohsm_hsm_reply_key(r, 1, 0);
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_key_export(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__KeyExportReq *q,
                            struct ohsm_reply *r)
{
    struct ohsm_objent *e = NULL;
    enum ohsm_utype t;
    ohsm_rv rv = OHSM_OK;
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_INFO, &t));
    OHSM_TRY(ohsm_hsm_key_seen(h, s, t, q->handle, &e));
    if ((e->rec.ktype != OHSM_KT_RSA && e->rec.ktype != OHSM_KT_EC) || e->rec.spki_len == 0) {
        rv = OHSM_KEY_TYPE_INCONSISTENT; /* secret keys have no public part */
    }
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_put_bytes(r, e->rec.spki, e->rec.spki_len, &r->data.data);
    }
    ohsm_objent_put(e);
    OHSM_TRY(rv);
    r->resp.body_case = OHSM__RESPONSE__BODY_DATA;
    r->resp.data = &r->data;
    return OHSM_OK;
}

/* Looks the key up again under the lock (a concurrent change wins the race cleanly) and checks
 * it is still the entry the caller checked. */
static ohsm_rv relock(struct ohsm_hsm *h, const struct ohsm_objent *e)
{
    ohsm_hsm_lock(h);
    struct ohsm_objent *cur = ohsm_objtab_get(h->objs, e->rec.handle);
    bool same = cur == e;
    ohsm_objent_put(cur);
    if (!same) {
        ohsm_hsm_unlock(h);
        return OHSM_KEY_HANDLE_INVALID;
    }
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_key_set_attr(struct ohsm_hsm *h, struct ohsm_session *s,
                              const Ohsm__KeySetAttrReq *q, struct ohsm_reply *r)
{
    struct ohsm_objent *e = NULL;
    struct ohsm_tmpl tmpl;
    struct ohsm_obj o;
    enum ohsm_utype t = ohsm_hsm_session_type(h, s);
    uint64_t ticket = 0;
    ohsm_rv rv;

    /* Crypto users manage their keys (key management row); admins may only set `trusted`
     * (ohsm_obj_set_check), on any key they can see. */
    if (t == OHSM_UT_CO) {
        OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_INFO, &t));
    } else {
        OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_MGMT, &t));
    }
    OHSM_TRY(ohsm_hsm_tmpl(&q->template_, &tmpl));
    OHSM_ENSURE(tmpl.n > 0, OHSM_TEMPLATE_INCONSISTENT);
    if (t == OHSM_UT_CO) {
        OHSM_TRY(ohsm_hsm_key_seen(h, s, t, q->handle, &e));
    } else {
        OHSM_TRY(ohsm_hsm_key_usable(h, s, t, q->handle, &e));
    }
    bool owner = t == OHSM_UT_CU && ohsm_obj_owned_by(&e->rec, s->uid, s->user);
    /* All or nothing: each attribute is checked against the record as changed so far. */
    o = e->rec;
    rv = OHSM_OK;
    for (size_t i = 0; i < tmpl.n && rv == OHSM_OK; i++) {
        rv = ohsm_obj_set_check(&o, &tmpl.a[i], t, owner);
        if (rv == OHSM_OK) {
            rv = ohsm_obj_set_apply(&o, &tmpl.a[i]);
        }
    }
    if (rv == OHSM_OK && t == OHSM_UT_CU) {
        /* The key-management quorum: a crypto user's change (an admin, who sets only `trusted`,
         * holds no key tokens: key services are crypto users' in CloudHSM). */
        rv = ohsm_hsm_quorum_guard_key(h, s, OHSM_QS_KEY_MGMT, &e->rec, q->approval, &ticket);
    }
    if (rv == OHSM_OK) {
        o.version = e->rec.version + 1; /* one change, one version, whatever the count */
        rv = relock(h, e);
        if (rv == OHSM_OK) {
            rv = ohsm_hsm_replace_locked(h, e, &o, r);
            ohsm_hsm_quorum_end_locked(h, ticket, rv == OHSM_OK);
            ticket = 0;
            ohsm_hsm_unlock(h);
        }
    }
    ohsm_hsm_quorum_end(h, ticket, false); /* relock failed: the approval stays usable */
    ohsm_objent_put(e);
    return rv;
}

ohsm_rv ohsm_hsm_key_share(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__KeyShareReq *q,
                           struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    struct ohsm_objent *e = NULL;
    struct ohsm_store_user u;
    struct ohsm_obj o;
    enum ohsm_utype t;
    uint64_t ticket = 0;
    ohsm_rv rv;

    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_MGMT, &t));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(ohsm_hsm_key_owned(h, s, t, q->handle, &e));
    rv = ohsm_hsm_quorum_guard_key(h, s, OHSM_QS_KEY_MGMT, &e->rec, q->approval, &ticket);
    if (rv == OHSM_OK) {
        rv = relock(h, e);
    }
    if (rv != OHSM_OK) {
        ohsm_hsm_quorum_end(h, ticket, false);
        ohsm_objent_put(e);
        return rv;
    }
    memset(&u, 0, sizeof(u));
    rv = ohsm_store_user_by_name(h->store, name, &u);
    if (rv == OHSM_OK && u.type != OHSM_UT_CU) {
        rv = OHSM_USER_TYPE_INVALID; /* keys are shared with crypto users only */
    }
    if (rv == OHSM_USER_NOT_FOUND && !q->share) {
        rv = OHSM_OK; /* unsharing a user deleted since is allowed: the name goes away */
    }
    o = e->rec;
    if (rv == OHSM_OK && u.id != 0) {
        rv = ohsm_obj_share_user(&o, u.id, name, q->share);
    } else if (rv == OHSM_OK) {
        rv = ohsm_obj_share(&o, name, q->share); /* unsharing a deleted user's name */
    }
    if (rv == OHSM_OK && !q->share) {
        rv = ohsm_obj_quorum_check(&o); /* the users left must still reach the values */
    }
    if (rv == OHSM_OK && o.version != e->rec.version) {
        o.version = e->rec.version + 1;
        rv = ohsm_hsm_replace_locked(h, e, &o, r);
    } else if (rv == OHSM_OK) {
        rv = ohsm_hsm_put_record(r, &o, &r->recs[0]); /* nothing changed */
        if (rv == OHSM_OK) {
            ohsm_hsm_reply_key(r, 1, 0);
        }
    }
    ohsm_hsm_quorum_end_locked(h, ticket, rv == OHSM_OK);
    ohsm_hsm_unlock(h);
    OPENSSL_cleanse(&u, sizeof(u));
    ohsm_objent_put(e);
    return rv;
}
