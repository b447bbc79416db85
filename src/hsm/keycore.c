/* SPDX-License-Identifier: Apache-2.0
 *
 * What the key handlers share: who sees and uses which key, reply storage for records, and the
 * two paths by which keys change: creation (a new handle from this HSM's slot and counter, sealed
 * and stored in the transaction that allocated the handle; key quorum values checked against the
 * key's users) and replacement (a changed record, re-sealed, stored, swapped into the object
 * table). Key material is only ever handled sealed or in ohsm_secret / wiped buffers; requests
 * were shape-checked by the wire decoder.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hsm/handlers.h"
#include "openhsm/mask.h"

bool ohsm_hsm_sees(const struct ohsm_session *s, enum ohsm_utype t, const struct ohsm_objent *e)
{
    if (e->session != 0) {
        return e->session == s->group && ohsm_obj_owned_by(&e->rec, s->uid, s->user);
    }
    switch (t) {
    case OHSM_UT_CO:
    case OHSM_UT_AU:
        return true; /* metadata only: no handler lets them use a key */
    case OHSM_UT_CU:
        return ohsm_obj_usable_by(&e->rec, s->uid, s->user);
    default:
        return false;
    }
}

ohsm_rv ohsm_hsm_key_seen(struct ohsm_hsm *h, const struct ohsm_session *s, enum ohsm_utype t,
                          uint64_t handle, struct ohsm_objent **out)
{
    struct ohsm_objent *e = ohsm_objtab_get(h->objs, handle);
    if (e == NULL || !ohsm_hsm_sees(s, t, e)) {
        ohsm_objent_put(e);
        return OHSM_KEY_HANDLE_INVALID; /* invisible and absent look the same */
    }
    *out = e;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_key_usable(struct ohsm_hsm *h, const struct ohsm_session *s, enum ohsm_utype t,
                            uint64_t handle, struct ohsm_objent **out)
{
    struct ohsm_objent *e = NULL;
    OHSM_ENSURE(t == OHSM_UT_CU, OHSM_ACCESS_DENIED);
    OHSM_TRY(ohsm_hsm_key_seen(h, s, t, handle, &e));
    if (!ohsm_obj_usable_by(&e->rec, s->uid, s->user)) {
        ohsm_objent_put(e);
        return OHSM_KEY_HANDLE_INVALID;
    }
    *out = e;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_key_owned(struct ohsm_hsm *h, const struct ohsm_session *s, enum ohsm_utype t,
                           uint64_t handle, struct ohsm_objent **out)
{
    struct ohsm_objent *e = NULL;
    OHSM_TRY(ohsm_hsm_key_usable(h, s, t, handle, &e));
    if (!ohsm_obj_owned_by(&e->rec, s->uid, s->user)) {
        ohsm_objent_put(e);
        return OHSM_KEY_NOT_OWNER; /* shared users use a key; only the owner manages it */
    }
    *out = e;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_key_quorum_target(struct ohsm_hsm *h, const struct ohsm_session *s,
                                   enum ohsm_utype t, uint64_t handle)
{
    struct ohsm_objent *e = NULL;
    OHSM_TRY(ohsm_hsm_key_usable(h, s, t, handle, &e));
    /* A session key lives in one session of one HSM: no cluster-wide token can name it. */
    bool token = e->session == 0;
    ohsm_objent_put(e);
    OHSM_ENSURE(token, OHSM_KEY_FUNCTION_NOT_PERMITTED);
    return OHSM_OK;
}

uint32_t ohsm_hsm_key_quorum(const struct ohsm_obj *o, enum ohsm_qservice sv)
{
    if (sv == OHSM_QS_KEY_USAGE) {
        return o->quorum_use;
    }
    return sv == OHSM_QS_KEY_MGMT ? o->quorum_manage : 0;
}

ohsm_rv ohsm_hsm_put_bytes(struct ohsm_reply *r, const uint8_t *p, size_t n,
                           ProtobufCBinaryData *out)
{
    uint8_t *d = ohsm_reply_alloc(r, n == 0 ? 1 : n);
    OHSM_ENSURE(d != NULL, OHSM_HOST_MEMORY);
    if (n > 0) {
        memcpy(d, p, n);
    }
    out->data = d;
    out->len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_put_record(struct ohsm_reply *r, const struct ohsm_obj *o,
                            ProtobufCBinaryData *out)
{
    uint8_t buf[OHSM_OBJ_ENC_MAX];
    size_t n = 0;
    OHSM_TRY(ohsm_obj_encode(o, buf, sizeof(buf), &n));
    return ohsm_hsm_put_bytes(r, buf, n, out);
}

void ohsm_hsm_reply_key(struct ohsm_reply *r, size_t n, size_t nmasked)
{
    r->key.n_records = n;
    r->key.records = n > 0 ? r->recs : NULL;
    r->key.n_masked = nmasked;
    r->key.masked = nmasked > 0 ? r->masks : NULL;
    r->resp.body_case = OHSM__RESPONSE__BODY_KEY;
    r->resp.key = &r->key;
}

ohsm_rv ohsm_hsm_tmpl(const ProtobufCBinaryData *b, struct ohsm_tmpl *t)
{
    static const uint8_t none[1] = {0};
    if (b == NULL || b->len == 0) {
        return ohsm_tmpl_parse(none, 0, t);
    }
    return ohsm_tmpl_parse(b->data, b->len, t);
}

void ohsm_hsm_mech(const Ohsm__Mech *w, struct ohsm_mech_params *m)
{
    memset(m, 0, sizeof(*m));
    if (w == NULL) {
        return;
    }
    m->mech = w->mech;
    m->hash = w->hash;
    m->mgf_hash = w->mgf_hash;
    m->salt_len = w->salt_len;
    m->prehashed = w->prehashed;
    m->iv = w->iv.len > 0 ? w->iv.data : NULL;
    m->iv_len = w->iv.len;
    m->aad = w->aad.len > 0 ? w->aad.data : NULL;
    m->aad_len = w->aad.len;
    m->tag_bits = w->tag_bits;
    m->label = w->label.len > 0 ? w->label.data : NULL;
    m->label_len = w->label.len;
}

/* Applies the share list: each name an existing crypto user other than the owner. Caller holds
 * the lock (user lookups), the one the insert holds: a share target deleted meanwhile fails the
 * creation. */
static ohsm_rv apply_shares(struct ohsm_hsm *h, struct ohsm_obj *o, char *const *share,
                            size_t nshare)
{
    char name[OHSM_USERNAME_MAX + 1];
    struct ohsm_store_user u;
    ohsm_rv rv = OHSM_OK;

    OHSM_ENSURE(nshare <= OHSM_SHARE_MAX, OHSM_DATA_LEN_RANGE);
    for (size_t i = 0; i < nshare && rv == OHSM_OK; i++) {
        rv = ohsm_username_canon(share[i], name, sizeof(name));
        if (rv == OHSM_OK) {
            rv = ohsm_store_user_by_name(h->store, name, &u);
        }
        if (rv == OHSM_OK && u.type != OHSM_UT_CU) {
            rv = OHSM_USER_TYPE_INVALID; /* keys are shared with crypto users only */
        }
        if (rv == OHSM_OK) {
            rv = ohsm_obj_share_user(o, u.id, name, true);
        }
    }
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

/* Shares a new key brings in its record (a copy of a masked object's key, masked.c's insert_new)
 * stay only where their user is still that crypto user: a user deleted since the extraction lost
 * its shares (users.c's forget_shares_locked), and a new user of its name is someone else. A
 * share of a record of before issue 10 (name only) goes to the crypto user of that name now, as
 * the record meant. Keys made from templates come here with none. Caller holds the lock. */
static ohsm_rv live_shares_locked(struct ohsm_hsm *h, struct ohsm_obj *o)
{
    struct ohsm_store_user u;
    uint32_t kept = 0;
    ohsm_rv rv = OHSM_OK;

    OHSM_ENSURE(o->nshared <= OHSM_SHARE_MAX, OHSM_ARGUMENTS_BAD);
    memset(&u, 0, sizeof(u));
    for (uint32_t i = 0; i < o->nshared && rv == OHSM_OK; i++) {
        rv = o->shared_id[i] != 0 ? ohsm_store_user_by_id(h->store, o->shared_id[i], &u)
                                  : ohsm_store_user_by_name(h->store, o->shared[i], &u);
        bool live = rv == OHSM_OK && u.type == OHSM_UT_CU && u.id != o->owner_id &&
                    strcmp(u.name, o->shared[i]) == 0;
        if (rv == OHSM_USER_NOT_FOUND) {
            rv = OHSM_OK;
        }
        if (live) {
            memmove(o->shared[kept], o->shared[i], sizeof(o->shared[0]));
            o->shared_id[kept] = u.id;
            kept++;
        }
    }
    OPENSSL_cleanse(&u, sizeof(u));
    OHSM_TRY(rv);
    for (uint32_t i = kept; i < o->nshared; i++) {
        memset(o->shared[i], 0, sizeof(o->shared[0]));
        o->shared_id[i] = 0;
    }
    o->nshared = kept;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_tx_end(struct ohsm_hsm *h, ohsm_rv rv)
{
    if (rv == OHSM_OK) {
        rv = ohsm_store_commit(h->store);
    }
    if (rv != OHSM_OK) {
        ohsm_store_rollback(h->store);
    }
    return rv;
}

/* The session's user, re-read by id under the lock that the insert of its new key holds: the
 * owner name of a new key comes from the session's cache, filled before a key generation that
 * may take seconds (RSA-4096), and a user deletion may land meanwhile. User deletion takes the
 * same lock and refuses a crypto user that owns keys, so with this check either the key is
 * stored first and the deletion is refused, or the deletion comes first and the key is not
 * made. A user that is gone, or that is no longer the crypto user of that name, leaves a session
 * that is not logged in any more: OHSM_USER_NOT_LOGGED_IN, as every later request of the session
 * gets (ohsm_hsm_session_type_locked logs it out) and as the creation gets had the deletion come
 * before its permission check. Caller holds the lock. */
static ohsm_rv owner_alive_locked(struct ohsm_hsm *h, const struct ohsm_session *s)
{
    /* Every user change bumps h->user_gen after its store change, under this lock: a session
     * whose user was read at the current generation (read before the user was) still has that
     * user, of the type and name it cached, and the store need not be asked again. */
    if (s->logged_in && s->type == OHSM_UT_CU && s->gen == atomic_load(&h->user_gen)) {
        return OHSM_OK;
    }
    struct ohsm_store_user u;
    ohsm_rv rv = ohsm_store_user_by_id(h->store, s->uid, &u);
    if (rv == OHSM_USER_NOT_FOUND ||
        (rv == OHSM_OK && (u.type != OHSM_UT_CU || strcmp(u.name, s->user) != 0))) {
        rv = OHSM_USER_NOT_LOGGED_IN;
    }
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

/* Seals a record and its material into reply storage and stores it (inside a transaction). */
static ohsm_rv seal_store(struct ohsm_hsm *h, const struct ohsm_obj *o, const uint8_t *material,
                          size_t len, struct ohsm_reply *r, ProtobufCBinaryData *masked)
{
    uint8_t *blob = NULL;
    size_t blen = 0;
    ohsm_rv rv = ohsm_mask_seal_obj(h->mk, o, material, len, &blob, &blen);
    if (rv == OHSM_OK) {
        rv = ohsm_store_obj_put(h->store, o->handle, o->version, blob, blen);
    }
    if (rv == OHSM_OK && masked != NULL) {
        rv = ohsm_hsm_put_bytes(r, blob, blen, masked);
    }
    free(blob); /* sealed: not secret */
    return rv;
}

/* Session objects take their handles from a block reserved in the store's counter by one
 * transaction: a session key costs no store write (and no fsync), and no object of this HSM ever
 * shares a handle with another. A handle of the block that an object took meanwhile (one of this
 * HSM's handles repaired back from another HSM after a restore) is skipped. Caller holds the
 * lock. */
static ohsm_rv sess_handle_locked(struct ohsm_hsm *h, uint64_t *handle)
{
    for (uint32_t refills = 0; refills < 4; refills++) {
        while (h->sess_next < h->sess_end) {
            uint64_t cand = ohsm_handle_make(h->slot, h->sess_next++);
            if (ohsm_objtab_get(h->objs, cand) == NULL) {
                *handle = cand;
                return OHSM_OK;
            }
        }
        /* Refill: the counter's next free handle, then the counter moved past the block. */
        uint64_t first = 0;
        ohsm_rv rv = ohsm_store_begin(h->store);
        if (rv == OHSM_OK) {
            rv = ohsm_store_handle_next(h->store, h->slot, &first);
            if (rv == OHSM_OK) {
                uint64_t last = (first >> OHSM_HANDLE_SLOT_BITS) + OHSM_HSM_SESS_HANDLE_BLOCK - 1u;
                rv = ohsm_store_handle_seen(h->store, ohsm_handle_make(h->slot, last));
            }
            rv = ohsm_hsm_tx_end(h, rv);
        }
        OHSM_TRY(rv);
        h->sess_next = first >> OHSM_HANDLE_SLOT_BITS;
        h->sess_end = h->sess_next + OHSM_HSM_SESS_HANDLE_BLOCK;
    }
    return OHSM_OBJECT_TOO_MANY;
}

ohsm_rv ohsm_hsm_create(struct ohsm_hsm *h, struct ohsm_session *s, struct ohsm_newkey *k, size_t n,
                        char *const *share, size_t nshare, struct ohsm_reply *r)
{
    struct ohsm_objent *e[2] = {NULL, NULL};
    size_t nmasked = 0;
    ohsm_rv rv;

    OHSM_ENSURE(n >= 1 && n <= 2, OHSM_ARGUMENTS_BAD);
    /* records[i] and masked[i] pair up on the wire: both halves of a pair are token keys or
     * neither is. */
    OHSM_ENSURE(n == 1 || (k[0].o.flags & OHSM_F_TOKEN) == (k[1].o.flags & OHSM_F_TOKEN),
                OHSM_TEMPLATE_INCONSISTENT);
    for (size_t i = 0; i < n; i++) {
        memcpy(k[i].o.owner, s->user, sizeof(k[i].o.owner));
        k[i].o.owner_id = s->uid; /* issue 10: the owner is the user, not the name */
    }
    ohsm_hsm_lock(h);
    /* Owner and share targets are checked in the critical section that inserts the key, before
     * a handle is taken: a creation racing a user's deletion fails and leaves nothing. */
    rv = owner_alive_locked(h, s);
    if (rv != OHSM_OK) {
        goto unlock;
    }
    for (size_t i = 0; i < n; i++) {
        rv = live_shares_locked(h, &k[i].o);
        if (rv == OHSM_OK) {
            rv = apply_shares(h, &k[i].o, share, nshare);
        }
        if (rv == OHSM_OK) {
            rv = ohsm_obj_quorum_check(&k[i].o); /* the values against owner + shares */
        }
        if (rv != OHSM_OK) {
            goto unlock;
        }
        k[i].o.version = 1; /* shares bumped it: a new key starts at 1 */
    }
    if (ohsm_objtab_count(h->objs) + n > OHSM_STORE_OBJECTS_MAX) {
        rv = OHSM_OBJECT_TOO_MANY;
        goto unlock;
    }
    /* Handles come from the store's counter even for session keys, so no two objects of this
     * HSM ever share one. Token keys: one transaction: allocate, seal, store. Session keys (both
     * halves of a pair are, or neither is): a handle of the reserved block, no transaction. */
    bool session = (k[0].o.flags & OHSM_F_TOKEN) == 0;
    rv = session ? OHSM_OK : ohsm_store_begin(h->store);
    if (rv != OHSM_OK) {
        goto unlock;
    }
    for (size_t i = 0; i < n && rv == OHSM_OK; i++) {
        bool token = (k[i].o.flags & OHSM_F_TOKEN) != 0;
        rv = token ? ohsm_store_handle_next(h->store, h->slot, &k[i].o.handle)
                   : sess_handle_locked(h, &k[i].o.handle);
        if (rv == OHSM_OK && token) {
            rv = seal_store(h, &k[i].o, k[i].material, k[i].len, r, &r->masks[nmasked]);
            nmasked++;
        }
        if (rv == OHSM_OK) {
            rv = ohsm_objent_new(h->mk, &k[i].o, k[i].material, k[i].len, token ? 0 : s->group,
                                 &e[i]);
        }
        if (rv == OHSM_OK) {
            rv = ohsm_hsm_put_record(r, &k[i].o, &r->recs[i]);
        }
    }
    rv = session ? rv : ohsm_hsm_tx_end(h, rv);
    if (rv != OHSM_OK) {
        goto unlock;
    }
    for (size_t i = 0; i < n; i++) {
        ohsm_rv rv2 = ohsm_objtab_set(h->objs, e[i]);
        e[i] = NULL;
        if (rv2 != OHSM_OK && rv == OHSM_OK) {
            rv = rv2; /* stored but not in memory: the next start loads it */
        }
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_reply_key(r, n, nmasked);
    }
unlock:
    ohsm_hsm_unlock(h);
    ohsm_objent_put(e[0]);
    ohsm_objent_put(e[1]);
    return rv;
}

/* Checks material of cls/ktype and gives its canonical form: secret keys as given (size checked),
 * private keys re-encoded as PKCS#8, public keys as SPKI; o gets the public facts. */
static ohsm_rv load_material(uint32_t cls, uint32_t ktype, const uint8_t *material, size_t len,
                             struct ohsm_obj *o, uint8_t **der, size_t *der_len)
{
    void *pkey = NULL;
    ohsm_rv rv;

    *der = NULL;
    *der_len = 0;
    if (cls == OHSM_CLASS_SECRET) {
        OHSM_ENSURE(ktype == OHSM_KT_AES || ktype == OHSM_KT_DES3 ||
                        ktype == OHSM_KT_GENERIC_SECRET,
                    OHSM_KEY_TYPE_INCONSISTENT);
        OHSM_TRY(ohsm_mech_check_size(ktype, (uint32_t)len, 0));
        o->value_len = (uint32_t)len;
        OHSM_TRY(ohsm_mech_kcv(ktype, material, len, o->kcv));
        o->has_kcv = true;
        return OHSM_OK;
    }
    OHSM_ENSURE(cls == OHSM_CLASS_PRIVATE || cls == OHSM_CLASS_PUBLIC,
                OHSM_ATTRIBUTE_VALUE_INVALID);
    OHSM_ENSURE(ktype == OHSM_KT_RSA || ktype == OHSM_KT_EC, OHSM_KEY_TYPE_INCONSISTENT);
    rv = ohsm_mech_pkey_load(cls, ktype, material, len, &pkey);
    if (rv == OHSM_OK) {
        rv = ohsm_mech_fill_public(o, pkey);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_mech_pkey_der(pkey, cls == OHSM_CLASS_PRIVATE, der, der_len);
    }
    if (rv == OHSM_OK) {
        /* key-length-bytes as CloudHSM shows it (obj.h); the object's class is set by now. */
        o->cls = cls;
        o->ktype = ktype;
        rv = ohsm_obj_set_key_len(o, *der_len);
    }
    ohsm_mech_pkey_free(pkey);
    return rv;
}

ohsm_rv ohsm_hsm_import(struct ohsm_hsm *h, struct ohsm_session *s, uint32_t cls, uint32_t ktype,
                        const uint8_t *material, size_t len, const ProtobufCBinaryData *tmpl,
                        char *const *share, size_t nshare, struct ohsm_reply *r)
{
    struct ohsm_newkey k;
    struct ohsm_tmpl t;
    uint8_t *der = NULL;
    size_t der_len = 0;
    ohsm_rv rv;

    OHSM_ENSURE(material != NULL && len > 0, OHSM_DATA_LEN_RANGE);
    OHSM_TRY(ohsm_hsm_tmpl(tmpl, &t));
    memset(&k, 0, sizeof(k));
    ohsm_obj_defaults(&k.o, cls, ktype, false);
    k.o.cls = cls;
    k.o.ktype = ktype;
    rv = load_material(cls, ktype, material, len, &k.o, &der, &der_len);
    if (rv == OHSM_OK) {
        rv = ohsm_obj_apply_template(&k.o, &t);
    }
    if (rv == OHSM_OK) {
        /* Material that existed outside the HSM was never guaranteed sensitive or unextractable
         * (PKCS#11 3.0 §4.9: always-sensitive / never-extractable are false for imported keys). */
        k.o.flags &= ~(uint32_t)(OHSM_F_ALWAYS_SENSITIVE | OHSM_F_NEVER_EXTRACTABLE | OHSM_F_LOCAL);
        k.material = der != NULL ? der : material;
        k.len = der != NULL ? der_len : len;
        rv = ohsm_hsm_create(h, s, &k, 1, share, nshare, r);
    }
    ohsm_mech_der_free(der, der_len);
    OPENSSL_cleanse(&k, sizeof(k));
    return rv;
}

ohsm_rv ohsm_hsm_replace_locked(struct ohsm_hsm *h, const struct ohsm_objent *e,
                                const struct ohsm_obj *o, struct ohsm_reply *r)
{
    struct ohsm_objent *ne = NULL;
    const uint8_t *m = ohsm_secret_data(e->material);
    size_t mlen = ohsm_secret_len(e->material);
    bool token = (o->flags & OHSM_F_TOKEN) != 0;
    bool was_token = e->session == 0;
    size_t nmasked = 0;
    ohsm_rv rv;

    /* A token object cannot turn back into a session object: other HSMs hold it. */
    OHSM_ENSURE(token || !was_token, OHSM_ATTRIBUTE_READ_ONLY);
    OHSM_TRY(ohsm_objent_new(h->mk, o, m, mlen, token ? 0 : e->session, &ne));
    rv = ohsm_hsm_put_record(r, o, &r->recs[0]);
    if (rv == OHSM_OK && token) {
        rv = ohsm_store_begin(h->store);
        if (rv == OHSM_OK) {
            /* A session key becoming a token key is new to the other HSMs: hand out its masked
             * object so the client can insert it there. */
            rv = seal_store(h, o, m, mlen, r, was_token ? NULL : &r->masks[0]);
            nmasked = was_token ? 0 : 1;
            rv = ohsm_hsm_tx_end(h, rv);
        }
    }
    if (rv == OHSM_OK) {
        rv = ohsm_objtab_set(h->objs, ne);
        ne = NULL;
    }
    ohsm_objent_put(ne);
    if (rv == OHSM_OK) {
        ohsm_hsm_reply_key(r, 1, nmasked);
    }
    return rv;
}
