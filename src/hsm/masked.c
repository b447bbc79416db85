/* SPDX-License-Identifier: Apache-2.0
 *
 * Masked objects and sync: extract/insert key objects and sealed tombstones (how a key reaches
 * every HSM with the same handle, and how repair moves it) and the sync status digests (the
 * users' part and user records: userrec.c). A masked object is trusted only after it opens under this HSM's
 * masking key (authenticated encryption over record and material); an insert that fails any check
 * changes nothing. Versions decide: a tombstone blocks any copy that is not newer than the
 * deletion, and a replacement must be newer than what the HSM has. key_mgmt_util's
 * insertMaskedObject inserts instead a copy as a new key (new handle; insert_new).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hsm/handlers.h"
#include "openhsm/mask.h"
#include "openhsm/rd.h"
#include "openhsm/token.h"

/* May the session take the masked object of live key handle? Admins and the appliance user move
 * any token object (CMU syncKey, cloning): the blob only opens inside this cluster, where the
 * receiving HSM applies the same rules. A crypto user only a key it owns or is shared, by the
 * visibility rule of key_get: the record travels in clear in the blob (owner, shares, check
 * value, flags), so a key it may not see must look absent, with key_get's error. Caller holds
 * the lock, so the answer holds for the row read under it. */
static ohsm_rv may_extract(struct ohsm_hsm *h, const struct ohsm_session *s, enum ohsm_utype t,
                           uint64_t handle)
{
    struct ohsm_objent *e = NULL;
    if (t != OHSM_UT_CU) {
        return OHSM_OK;
    }
    OHSM_TRY(ohsm_hsm_key_seen(h, s, t, handle, &e));
    ohsm_objent_put(e);
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_masked_extract(struct ohsm_hsm *h, struct ohsm_session *s,
                                const Ohsm__MaskedExtractReq *q, struct ohsm_reply *r)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    uint64_t version = 0;
    enum ohsm_utype t;
    ohsm_rv rv;

    /* Session objects never leave (they are not in the store). A tombstone holds only the handle
     * and version of a deleted key, which sync status lists to every role: any role may take one,
     * so a crypto user's repair carries its own deletions. */
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_MASKED_OBJECTS, &t));
    ohsm_hsm_lock(h);
    rv = ohsm_store_obj_get(h->store, q->handle, &version, &blob, &len);
    if (rv == OHSM_OK) {
        rv = may_extract(h, s, t, q->handle);
    } else if (rv == OHSM_KEY_HANDLE_INVALID) {
        rv = ohsm_store_tomb_get(h->store, q->handle, &version, &blob, &len);
    }
    ohsm_hsm_unlock(h);
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_put_bytes(r, blob, len, &r->masked.masked);
    }
    free(blob);
    OHSM_TRY(rv);
    r->resp.body_case = OHSM__RESPONSE__BODY_MASKED;
    r->resp.masked = &r->masked;
    return OHSM_OK;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* The version of the tombstone this HSM holds for handle (0: none). Caller holds the lock. */
static ohsm_rv tomb_version(struct ohsm_hsm *h, uint64_t handle, uint64_t *version)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    ohsm_rv rv = ohsm_store_tomb_get(h->store, handle, version, &blob, &len);
    free(blob);
    if (rv == OHSM_KEY_HANDLE_INVALID) {
        *version = 0;
        return OHSM_OK;
    }
    return rv;
}

static ohsm_rv insert_key(struct ohsm_hsm *h, const Ohsm__MaskedInsertReq *q,
                          const struct ohsm_obj *o, const struct ohsm_secret *m,
                          struct ohsm_reply *r)
{
    struct ohsm_objent *e = NULL;
    struct ohsm_objent *cur = NULL;
    uint64_t tv = 0;
    ohsm_rv rv;

    /* Authentic but not for us to hold: session objects are never synced. */
    OHSM_ENSURE(o->handle != 0 && o->version != 0 && (o->flags & OHSM_F_TOKEN) != 0,
                OHSM_MASKED_OBJECT_INVALID);
    /* Outside the lock: loads the EVP_PKEY and checks the material fits the record. */
    rv = ohsm_objent_new(h->mk, o, ohsm_secret_data(m), ohsm_secret_len(m), 0, &e);
    if (rv != OHSM_OK) {
        return rv == OHSM_HOST_MEMORY ? rv : OHSM_MASKED_OBJECT_INVALID;
    }
    ohsm_hsm_lock(h);
    rv = tomb_version(h, o->handle, &tv);
    if (rv == OHSM_OK && tv >= o->version) {
        rv = OHSM_OBJECT_EXISTS; /* deleted at or after this version: no resurrection */
    }
    cur = ohsm_objtab_get(h->objs, o->handle);
    if (rv == OHSM_OK && cur != NULL &&
        (!q->replace || cur->session != 0 || cur->rec.version >= o->version)) {
        rv = OHSM_OBJECT_EXISTS;
    }
    if (rv == OHSM_OK && cur == NULL && ohsm_objtab_count(h->objs) >= OHSM_STORE_OBJECTS_MAX) {
        rv = OHSM_OBJECT_TOO_MANY;
    }
    if (rv == OHSM_OK) {
        rv = ohsm_store_begin(h->store);
        if (rv == OHSM_OK) {
            /* The masked object is the stored form: kept byte for byte as it came. */
            rv = ohsm_store_obj_put(h->store, o->handle, o->version, q->masked.data, q->masked.len);
            if (rv == OHSM_OK && tv != 0) {
                rv = ohsm_store_tomb_del(h->store, o->handle);
            }
            if (rv == OHSM_OK && ohsm_handle_slot(o->handle) == h->slot) {
                rv = ohsm_store_handle_seen(h->store, o->handle);
            }
            rv = ohsm_hsm_tx_end(h, rv);
        }
    }
    if (rv == OHSM_OK) {
        rv = ohsm_objtab_set(h->objs, e);
        e = NULL;
    }
    ohsm_hsm_unlock(h);
    ohsm_objent_put(cur);
    ohsm_objent_put(e);
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_put_record(r, o, &r->recs[0]);
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_reply_key(r, 1, 0);
    }
    return rv;
}

static ohsm_rv insert_tomb(struct ohsm_hsm *h, const Ohsm__MaskedInsertReq *q, const uint8_t *rec,
                           size_t rec_len, struct ohsm_reply *r)
{
    struct ohsm_objent *cur = NULL;
    uint64_t tv = 0;
    ohsm_rv rv;

    OHSM_ENSURE(rec_len == 16, OHSM_MASKED_OBJECT_INVALID);
    uint64_t handle = be64(rec);
    uint64_t version = be64(rec + 8);
    OHSM_ENSURE(handle != 0 && version != 0, OHSM_MASKED_OBJECT_INVALID);
    ohsm_hsm_lock(h);
    rv = tomb_version(h, handle, &tv);
    if (rv == OHSM_OK && tv >= version) {
        rv = OHSM_OBJECT_EXISTS; /* already knows of this deletion (or a later one) */
    }
    cur = ohsm_objtab_get(h->objs, handle);
    if (rv == OHSM_OK && cur != NULL && (cur->session != 0 || cur->rec.version >= version)) {
        rv = OHSM_OBJECT_EXISTS; /* its copy is newer than the deletion */
    }
    if (rv == OHSM_OK) {
        rv = ohsm_store_begin(h->store);
        if (rv == OHSM_OK) {
            rv = ohsm_store_obj_del(h->store, handle);
            if (rv == OHSM_OK) {
                rv = ohsm_store_tomb_put(h->store, handle, version, q->masked.data, q->masked.len);
            }
            rv = ohsm_hsm_tx_end(h, rv);
        }
    }
    if (rv == OHSM_OK && cur != NULL) {
        ohsm_objtab_del(h->objs, handle);
    }
    ohsm_hsm_unlock(h);
    if (rv == OHSM_OK && cur != NULL) {
        rv = ohsm_hsm_put_record(r, &cur->rec, &r->recs[0]); /* the record as it was */
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_reply_key(r, cur != NULL ? 1 : 0, 0);
    }
    ohsm_objent_put(cur);
    return rv;
}

/* insertMaskedObject: the opened key becomes a new key of the inserting crypto user (see
 * MaskedInsertReq.as_new). Only the owner of the original may: the masked object of a key shared
 * with a user opens for it too, and owning a copy would let it take the key out (wrap). */
static ohsm_rv insert_new(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t,
                          struct ohsm_obj *o, const struct ohsm_secret *m, struct ohsm_reply *r)
{
    struct ohsm_newkey k;

    OHSM_ENSURE(t == OHSM_UT_CU, OHSM_USER_TYPE_INVALID); /* only crypto users own keys */
    OHSM_ENSURE(o->handle != 0 && (o->flags & OHSM_F_TOKEN) != 0, OHSM_MASKED_OBJECT_INVALID);
    bool owner = o->owner_id != 0 ? o->owner_id == s->uid : strcmp(o->owner, s->user) == 0;
    OHSM_ENSURE(owner, OHSM_KEY_HANDLE_INVALID); /* as for a key the user may not manage */
    memset(&k, 0, sizeof(k));
    k.o = *o;
    k.o.handle = 0; /* ohsm_hsm_create gives a new handle, version 1 and the owner */
    k.o.version = 0;
    k.material = ohsm_secret_data(m);
    k.len = ohsm_secret_len(m);
    ohsm_rv rv = ohsm_hsm_create(h, s, &k, 1, NULL, 0, r);
    OPENSSL_cleanse(&k, sizeof(k));
    return rv;
}

ohsm_rv ohsm_hsm_masked_insert(struct ohsm_hsm *h, struct ohsm_session *s,
                               const Ohsm__MaskedInsertReq *q, struct ohsm_reply *r)
{
    struct ohsm_obj o;
    struct ohsm_secret *m = NULL;
    const uint8_t *rec = NULL;
    size_t rec_len = 0;
    ohsm_rv rv;

    enum ohsm_utype t;
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_MASKED_OBJECTS, &t));
    OHSM_ENSURE(q->masked.len > 0 && q->masked.len <= OHSM_MASK_MAX, OHSM_MASKED_OBJECT_INVALID);
    OHSM_ENSURE(!q->as_new || !q->replace, OHSM_ARGUMENTS_BAD);
    rv = ohsm_mask_open_obj(h->mk, q->masked.data, q->masked.len, &o, &m);
    if (rv == OHSM_OK) {
        rv = q->as_new ? insert_new(h, s, t, &o, m, r) : insert_key(h, q, &o, m, r);
    } else if (rv == OHSM_MASKED_OBJECT_INVALID && !q->as_new) {
        rv = ohsm_mask_open(h->mk, OHSM_MASK_TOMBSTONE, q->masked.data, q->masked.len, &rec,
                            &rec_len, &m);
        if (rv == OHSM_OK) {
            rv = insert_tomb(h, q, rec, rec_len, r);
        }
    }
    ohsm_secret_free(m);
    OPENSSL_cleanse(&o, sizeof(o));
    return rv;
}

/* ---- sync status ---- */

struct sync_ctx {
    Ohsm__SyncObject *items;
    uint8_t *digests; /* 32 bytes per live object */
    Ohsm__SyncObject **ptrs;
    size_t n;
    size_t cap;
    EVP_MD_CTX *md;
    bool ok;
};

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    }
}

static bool sync_obj(void *arg, const struct ohsm_objent *e)
{
    struct sync_ctx *c = arg;
    uint8_t hv[16];
    if (e->session != 0) {
        return true;
    }
    if (c->n == c->cap) {
        c->ok = false;
        return false;
    }
    Ohsm__SyncObject *it = &c->items[c->n];
    ohsm__sync_object__init(it);
    it->handle = e->rec.handle;
    it->version = e->rec.version;
    /* Copied under the read lock: the entry may be replaced and freed right after. */
    memcpy(c->digests + 32 * c->n, e->digest, 32);
    it->digest.data = c->digests + 32 * c->n;
    it->digest.len = 32;
    put_be64(hv, e->rec.handle);
    put_be64(hv + 8, e->rec.version);
    c->ok = c->ok && EVP_DigestUpdate(c->md, hv, sizeof(hv)) == 1 &&
            EVP_DigestUpdate(c->md, e->digest, sizeof(e->digest)) == 1;
    c->ptrs[c->n] = it;
    c->n++;
    return true;
}

static ohsm_rv sync_tomb(void *arg, uint64_t handle, uint64_t version, const uint8_t *sealed,
                         size_t len)
{
    struct sync_ctx *c = arg;
    (void)sealed;
    (void)len;
    OHSM_ENSURE(c->n < c->cap, OHSM_DATA_LEN_RANGE);
    Ohsm__SyncObject *it = &c->items[c->n];
    ohsm__sync_object__init(it);
    it->handle = handle;
    it->version = version;
    it->deleted = true;
    c->ptrs[c->n] = it;
    c->n++;
    return OHSM_OK;
}

/* Tombstones listed at most: with every live object, the reply must fit one 1 MiB frame. */
#define SYNC_TOMBS_MAX 16384

ohsm_rv ohsm_hsm_sync_status(struct ohsm_hsm *h, struct ohsm_session *s, struct ohsm_reply *r)
{
    struct sync_ctx c;
    unsigned int dl = 0;
    ohsm_rv rv = OHSM_OK;

    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_SYNC_STATUS, NULL));
    memset(&c, 0, sizeof(c));
    c.cap = OHSM_STORE_OBJECTS_MAX + SYNC_TOMBS_MAX;
    c.items = ohsm_reply_alloc_public(r, c.cap * sizeof(*c.items));
    c.ptrs = ohsm_reply_alloc_public(r, c.cap * sizeof(*c.ptrs));
    c.digests = ohsm_reply_alloc_public(r, OHSM_STORE_OBJECTS_MAX * 32);
    uint8_t *all = ohsm_reply_alloc(r, 32);
    c.md = EVP_MD_CTX_new();
    c.ok = c.md != NULL && EVP_DigestInit_ex(c.md, EVP_sha256(), NULL) == 1;
    if (c.items == NULL || c.ptrs == NULL || c.digests == NULL || all == NULL || !c.ok) {
        rv = c.md == NULL || c.items == NULL ? OHSM_HOST_MEMORY : OHSM_DEVICE_ERROR;
        goto out;
    }
    /* Token objects: no more than OHSM_STORE_OBJECTS_MAX (session objects are skipped). */
    size_t cap = c.cap;
    c.cap = OHSM_STORE_OBJECTS_MAX;
    ohsm_objtab_walk(h->objs, 0, sync_obj, &c);
    if (!c.ok || EVP_DigestFinal_ex(c.md, all, &dl) != 1 || dl != 32) {
        rv = OHSM_DEVICE_ERROR;
        goto out;
    }
    c.cap = cap;
    ohsm_hsm_lock(h);
    rv = ohsm_store_tomb_each(h->store, sync_tomb, &c);
    ohsm_hsm_unlock(h);
    if (rv == OHSM_DATA_LEN_RANGE) {
        rv = OHSM_OK; /* the oldest deletions beyond the cap go unlisted (see SYNC_TOMBS_MAX) */
    }
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_sync_users(h, r);
    }
    if (rv == OHSM_OK) {
        r->sync.objects = c.n > 0 ? c.ptrs : NULL;
        r->sync.n_objects = c.n;
        r->sync.objects_digest.data = all;
        r->sync.objects_digest.len = 32;
        r->resp.body_case = OHSM__RESPONSE__BODY_SYNC;
        r->resp.sync = &r->sync;
    }
out:
    EVP_MD_CTX_free(c.md);
    return rv;
}
