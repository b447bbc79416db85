/* SPDX-License-Identifier: Apache-2.0
 *
 * Masked objects and sync: extract/insert key objects and sealed tombstones (how a key reaches
 * every HSM with the same handle, and how repair moves it), the sync status digests, and user
 * records sealed for syncUser. A masked object is trusted only after it opens under this HSM's
 * masking key (authenticated encryption over record and material); an insert that fails any check
 * changes nothing. Versions decide: a tombstone blocks any copy that is not newer than the
 * deletion, and a replacement must be newer than what the HSM has.
 *
 * User records (OHSM_MASK_USER): rec = u8 version (2) | u8 type | u8 flags (1 mfa, 2 quorum key) |
 * u8 name length | name | u32 mfa key length | MFA public key | u32 length | quorum public key
 * (DER, length 0 for none; the flags say which are present); secret = the password record.
 * Version 1 (issue 4) ends after the name and carries no keys: it still parses, as a user
 * without keys.
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

ohsm_rv ohsm_hsm_masked_insert(struct ohsm_hsm *h, struct ohsm_session *s,
                               const Ohsm__MaskedInsertReq *q, struct ohsm_reply *r)
{
    struct ohsm_obj o;
    struct ohsm_secret *m = NULL;
    const uint8_t *rec = NULL;
    size_t rec_len = 0;
    ohsm_rv rv;

    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_MASKED_OBJECTS, NULL));
    OHSM_ENSURE(q->masked.len > 0 && q->masked.len <= OHSM_MASK_MAX, OHSM_MASKED_OBJECT_INVALID);
    rv = ohsm_mask_open_obj(h->mk, q->masked.data, q->masked.len, &o, &m);
    if (rv == OHSM_OK) {
        rv = insert_key(h, q, &o, m, r);
    } else if (rv == OHSM_MASKED_OBJECT_INVALID) {
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

/* A user with its public keys (DER; NULL, 0 when none). */
struct user_keys {
    uint8_t *mfa;
    size_t mfa_len;
    uint8_t *mofn;
    size_t mofn_len;
};

static void user_keys_clear(struct user_keys *k)
{
    free(k->mfa);
    free(k->mofn);
    memset(k, 0, sizeof(*k));
}

/* Reads a user's keys. Caller holds the lock. */
static ohsm_rv user_keys_get(struct ohsm_hsm *h, uint32_t id, struct user_keys *k)
{
    ohsm_rv rv;
    memset(k, 0, sizeof(*k));
    rv = ohsm_store_user_pubkey(h->store, id, OHSM_STORE_MFA_KEY, &k->mfa, &k->mfa_len);
    if (rv == OHSM_OK) {
        rv = ohsm_store_user_pubkey(h->store, id, OHSM_STORE_QUORUM_KEY, &k->mofn, &k->mofn_len);
    }
    if (rv != OHSM_OK) {
        user_keys_clear(k);
    }
    return rv;
}

#define USER_REC_MAX (4 + OHSM_USERNAME_MAX + 2 * (4 + OHSM_TOKEN_PUBKEY_MAX))

static size_t put_key(uint8_t *p, const uint8_t *der, size_t len)
{
    /* len <= OHSM_TOKEN_PUBKEY_MAX: the store refuses anything longer */
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(len >> (24 - 8 * i));
    }
    if (len > 0) {
        memcpy(p + 4, der, len);
    }
    return 4 + len;
}

/* The user record sealed for syncUser and digested for sync status (version 2, see above). */
static size_t user_rec(const struct ohsm_store_user *u, const struct user_keys *k,
                       uint8_t out[USER_REC_MAX])
{
    size_t n = strnlen(u->name, OHSM_USERNAME_MAX);
    size_t off = 4 + n;
    out[0] = 2;
    out[1] = (uint8_t)u->type;
    out[2] = (uint8_t)((k->mfa != NULL ? 1 : 0) | (k->mofn != NULL ? 2 : 0));
    out[3] = (uint8_t)n;
    memcpy(out + 4, u->name, n);
    off += put_key(out + off, k->mfa, k->mfa_len);
    off += put_key(out + off, k->mofn, k->mofn_len);
    return off;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct ohsm_store_user *)a)->name,
                  ((const struct ohsm_store_user *)b)->name);
}

/* Per-user digests (keyed: name, type, MFA key, quorum key; not the password record, which
 * differs per HSM by its salt) and the digest over them in name order. A user whose keys differ
 * between HSMs shows as out of sync. */
static ohsm_rv sync_users(struct ohsm_hsm *h, struct ohsm_reply *r)
{
    static const uint8_t none[1] = {0};
    uint8_t rec[USER_REC_MAX];
    struct user_keys k;
    uint8_t *all = NULL;
    unsigned int dl = 0;
    ohsm_rv rv;

    memset(&k, 0, sizeof(k));
    ohsm_hsm_lock(h);
    rv = ohsm_store_user_list(h->store, &r->list, &r->n);
    if (rv != OHSM_OK) {
        ohsm_hsm_unlock(h);
        return rv;
    }
    if (r->n > 1) {
        qsort(r->list, r->n, sizeof(*r->list), by_name);
    }
    Ohsm__SyncUser *items = ohsm_reply_alloc(r, (r->n + 1) * sizeof(*items));
    Ohsm__SyncUser **ptrs = ohsm_reply_alloc(r, (r->n + 1) * sizeof(*ptrs));
    uint8_t *digests = ohsm_reply_alloc(r, (r->n + 1) * 32);
    all = ohsm_reply_alloc(r, 32);
    if (items == NULL || ptrs == NULL || digests == NULL || all == NULL) {
        rv = OHSM_HOST_MEMORY;
    }
    /* The keys are read under the same lock as the list: one consistent snapshot. */
    for (size_t i = 0; rv == OHSM_OK && i < r->n; i++) {
        rv = user_keys_get(h, r->list[i].id, &k);
        if (rv == OHSM_OK) {
            size_t n = user_rec(&r->list[i], &k, rec);
            rv = ohsm_mask_digest(h->mk, rec, n, none, 0, digests + 32 * i);
            user_keys_clear(&k);
        }
        if (rv == OHSM_OK) {
            ohsm__sync_user__init(&items[i]);
            items[i].username = r->list[i].name;
            items[i].user_type = (uint32_t)r->list[i].type;
            items[i].digest.data = digests + 32 * i;
            items[i].digest.len = 32;
            ptrs[i] = &items[i];
        }
    }
    ohsm_hsm_unlock(h);
    OHSM_TRY(rv);
    OHSM_ENSURE(EVP_Digest(digests, 32 * r->n, all, &dl, EVP_sha256(), NULL) == 1 && dl == 32,
                OHSM_DEVICE_ERROR);
    r->sync.users = ptrs;
    r->sync.n_users = r->n;
    r->sync.users_digest.data = all;
    r->sync.users_digest.len = 32;
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
        rv = sync_users(h, r);
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

/* ---- users for syncUser ---- */

/* Admins and the appliance user move user records (CloudHSM: syncUser is a CO command, the AU
 * does cloning); crypto users may not. */
static ohsm_rv check_user_sync(struct ohsm_hsm *h, struct ohsm_session *s)
{
    enum ohsm_utype t;
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_MASKED_OBJECTS, &t));
    OHSM_ENSURE(t == OHSM_UT_CO || t == OHSM_UT_AU, OHSM_ACCESS_DENIED);
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_user_extract(struct ohsm_hsm *h, struct ohsm_session *s,
                              const Ohsm__UserExtractReq *q, struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    uint8_t rec[USER_REC_MAX];
    struct ohsm_store_user u;
    struct user_keys k;
    uint8_t *blob = NULL;
    size_t blen = 0;
    ohsm_rv rv;

    OHSM_TRY(check_user_sync(h, s));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    memset(&u, 0, sizeof(u));
    memset(&k, 0, sizeof(k));
    ohsm_hsm_lock(h);
    rv = ohsm_store_user_by_name(h->store, name, &u);
    if (rv == OHSM_OK) {
        rv = user_keys_get(h, u.id, &k);
    }
    ohsm_hsm_unlock(h);
    if (rv == OHSM_OK) {
        size_t n = user_rec(&u, &k, rec);
        rv = ohsm_mask_seal(h->mk, OHSM_MASK_USER, rec, n, u.pwrec, sizeof(u.pwrec), &blob, &blen);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_put_bytes(r, blob, blen, &r->masked.masked);
    }
    free(blob);
    user_keys_clear(&k);
    OPENSSL_cleanse(&u, sizeof(u));
    OHSM_TRY(rv);
    r->resp.body_case = OHSM__RESPONSE__BODY_MASKED;
    r->resp.masked = &r->masked;
    return OHSM_OK;
}

/* A parsed user record; the keys point into the record (borrowed). */
struct user_in {
    char name[OHSM_USERNAME_MAX + 1];
    enum ohsm_utype type;
    const uint8_t *mfa;
    size_t mfa_len;
    const uint8_t *mofn;
    size_t mofn_len;
};

/* One key of a version-2 record: u32 length (0: none) and DER, present iff its flag says so and
 * a well-formed RSA-2048 public key (authentic records are still checked like any input). */
static ohsm_rv parse_key(struct ohsm_rd *rd, bool flag, const uint8_t **der, size_t *len)
{
    uint32_t n = 0;
    OHSM_ENSURE(ohsm_rd_u32(rd, &n) == OHSM_OK && n <= OHSM_TOKEN_PUBKEY_MAX && (n > 0) == flag,
                OHSM_MASKED_OBJECT_INVALID);
    *der = NULL;
    *len = 0;
    if (n > 0) {
        OHSM_ENSURE(ohsm_rd_bytes(rd, n, der) == OHSM_OK &&
                        ohsm_token_pubkey_check(*der, n) == OHSM_OK,
                    OHSM_MASKED_OBJECT_INVALID);
        *len = n;
    }
    return OHSM_OK;
}

/* Parses a user record of version 1 (no keys) or 2 (authentic, but checked like any input). */
static ohsm_rv parse_user(const uint8_t *rec, size_t len, struct user_in *out)
{
    struct ohsm_rd rd;
    uint8_t ver = 0;
    uint8_t t = 0;
    uint8_t flags = 0;
    uint8_t n = 0;
    const uint8_t *p = NULL;
    char raw[OHSM_USERNAME_MAX + 1];

    memset(out, 0, sizeof(*out));
    ohsm_rd_init(&rd, rec, len);
    OHSM_ENSURE(ohsm_rd_u8(&rd, &ver) == OHSM_OK && ohsm_rd_u8(&rd, &t) == OHSM_OK &&
                    ohsm_rd_u8(&rd, &flags) == OHSM_OK && ohsm_rd_u8(&rd, &n) == OHSM_OK,
                OHSM_MASKED_OBJECT_INVALID);
    OHSM_ENSURE((ver == 1 || ver == 2) && t >= OHSM_UT_PRECO && t <= OHSM_UT_MAX && flags <= 3 &&
                    n >= 1 && n <= OHSM_USERNAME_MAX,
                OHSM_MASKED_OBJECT_INVALID);
    OHSM_ENSURE(ohsm_rd_bytes(&rd, n, &p) == OHSM_OK, OHSM_MASKED_OBJECT_INVALID);
    memcpy(raw, p, n);
    raw[n] = '\0';
    OHSM_ENSURE(ohsm_username_canon(raw, out->name, sizeof(out->name)) == OHSM_OK &&
                    strcmp(raw, out->name) == 0,
                OHSM_MASKED_OBJECT_INVALID);
    /* Version 1 flags could only be set without keys, which means nothing now: ignored. */
    if (ver == 2) {
        OHSM_TRY(parse_key(&rd, (flags & 1) != 0, &out->mfa, &out->mfa_len));
        OHSM_TRY(parse_key(&rd, (flags & 2) != 0, &out->mofn, &out->mofn_len));
    }
    OHSM_ENSURE(ohsm_rd_done(&rd) == OHSM_OK, OHSM_MASKED_OBJECT_INVALID);
    out->type = (enum ohsm_utype)t;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_user_insert(struct ohsm_hsm *h, struct ohsm_session *s,
                             const Ohsm__UserInsertReq *q, struct ohsm_reply *r)
{
    struct user_in u;
    struct ohsm_secret *pw = NULL;
    const uint8_t *rec = NULL;
    size_t rec_len = 0;
    uint32_t id = 0;
    ohsm_rv rv;

    OHSM_TRY(check_user_sync(h, s));
    memset(&u, 0, sizeof(u));
    rv = ohsm_mask_open(h->mk, OHSM_MASK_USER, q->masked.data, q->masked.len, &rec, &rec_len, &pw);
    if (rv == OHSM_OK) {
        rv = parse_user(rec, rec_len, &u);
    }
    if (rv == OHSM_OK && ohsm_secret_len(pw) != OHSM_PWHASH_LEN) {
        rv = OHSM_MASKED_OBJECT_INVALID;
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_lock(h);
        rv = ohsm_store_user_put_keys(h->store, u.name, u.type, ohsm_secret_data(pw), u.mfa,
                                      u.mfa_len, u.mofn, u.mofn_len, q->replace, &id);
        if (rv == OHSM_OK) {
            ohsm_hsm_users_changed(h);
        }
        ohsm_hsm_unlock(h);
    }
    ohsm_secret_free(pw);
    OHSM_TRY(rv);
    r->user.user_id = id;
    r->user.user_type = (uint32_t)u.type;
    r->resp.body_case = OHSM__RESPONSE__BODY_USER;
    r->resp.user = &r->user;
    return OHSM_OK;
}
