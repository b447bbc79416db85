/* SPDX-License-Identifier: Apache-2.0
 *
 * Versioned user records (issue 10): how a user travels between the HSMs of a cluster (sync status
 * digests, extraction for syncUser and repair, insertion) and the rules that keep it from going
 * back in time. A user record leaves an HSM only sealed under the cluster's masking key
 * (OHSM_MASK_USER: the password record is the sealed secret, never in clear on the wire), and is
 * trusted only after it opens here; it is then still parsed like any input.
 *
 * Record (version 3): u8 3 | u8 type | u8 flags (1 MFA key, 2 quorum key, 4 deleted) | u8 name
 * length | name | u32 id | u64 version | u32 length | MFA public key | u32 length | quorum public
 * key (DER, length 0 for none; the flags say which are present). A deleted user (tombstone) has
 * no keys and no secret. Records of versions 1 and 2 (before issue 10) carry no version and are
 * refused: accepting them is how an old saved record could roll a user back.
 *
 * Insertion rules: a record of a user id this HSM holds must be newer (higher version) and keep
 * the name; a tombstone is final (it deletes the user whatever the versions, and no record of a
 * deleted id is ever accepted again, except a newer tombstone); a new id takes a free name. The insert carries a change that an HSM of this cluster
 * already made after its own checks (the permission table, the quorum, the logged-in-user rule):
 * the seal proves where it comes from and the version that it is newer, so carrying it forward
 * needs no more authority than moving user records (admins and the appliance user), except what
 * must hold here too: the logged-in-user rule for a new password, no deletion of a user that owns
 * keys here, of the caller itself or of the last admin. Failed-login counters stay per HSM.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hsm/handlers.h"
#include "openhsm/mask.h"
#include "openhsm/rd.h"
#include "openhsm/token.h"

#define UREC_VERSION 3
#define UREC_MFA 1
#define UREC_MOFN 2
#define UREC_DELETED 4
#define UREC_MAX (4 + OHSM_USERNAME_MAX + 4 + 8 + 2 * (4 + OHSM_TOKEN_PUBKEY_MAX))

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

static size_t put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    }
    return (size_t)bytes;
}

static size_t put_key(uint8_t *p, const uint8_t *der, size_t len)
{
    /* len <= OHSM_TOKEN_PUBKEY_MAX: the store refuses anything longer */
    size_t off = put_be(p, len, 4);
    if (len > 0) {
        memcpy(p + off, der, len);
    }
    return off + len;
}

/* The record of a user (k given) or of a tombstone (k NULL). */
static size_t urec(uint32_t id, uint64_t version, const char *name, enum ohsm_utype type,
                   const struct user_keys *k, uint8_t out[UREC_MAX])
{
    size_t n = strnlen(name, OHSM_USERNAME_MAX);
    size_t off = 4 + n;
    out[0] = UREC_VERSION;
    out[1] = (uint8_t)type;
    out[2] = k == NULL ? UREC_DELETED
                       : (uint8_t)((k->mfa != NULL ? UREC_MFA : 0) | (k->mofn != NULL ? UREC_MOFN : 0));
    out[3] = (uint8_t)n;
    memcpy(out + 4, name, n);
    off += put_be(out + off, id, 4);
    off += put_be(out + off, version, 8);
    off += put_key(out + off, k != NULL ? k->mfa : NULL, k != NULL ? k->mfa_len : 0);
    off += put_key(out + off, k != NULL ? k->mofn : NULL, k != NULL ? k->mofn_len : 0);
    return off;
}

/* Is u's password record the one every HSM derives for its (id, version)? Then it is part of the
 * digest, and two HSMs that made different changes at the same version show as different.
 * Records made before issue 10 (a random salt per HSM) are compared without it. */
static bool pw_comparable(const struct ohsm_hsm *h, const struct ohsm_store_user *u)
{
    uint8_t salt[OHSM_PWHASH_SALT_LEN];
    return ohsm_pwhash_user_salt(h->meta.cluster_id, u->id, u->version, salt) == OHSM_OK &&
           ohsm_pwhash_has_salt(u->pwrec, salt);
}

ohsm_rv ohsm_hsm_pwhash(const struct ohsm_hsm *h, uint32_t id, uint64_t version,
                        const uint8_t *pw, size_t pw_len, uint8_t rec[OHSM_PWHASH_LEN])
{
    uint8_t salt[OHSM_PWHASH_SALT_LEN];
    OHSM_TRY(ohsm_pwhash_user_salt(h->meta.cluster_id, id, version, salt));
    return ohsm_pwhash_make_salted(&h->cost, salt, pw, pw_len, rec);
}

/* One listed user or tombstone. */
struct sync_user {
    uint32_t id;
    uint64_t version;
    bool deleted;
    enum ohsm_utype type;
    const char *name; /* borrowed from the reply's lists */
    uint8_t digest[32];
};

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const struct sync_user *)a)->id;
    uint32_t y = ((const struct sync_user *)b)->id;
    return x < y ? -1 : x > y;
}

/* Digests of every user and tombstone, keyed under the masking key. Caller holds the lock. */
static ohsm_rv digest_all_locked(struct ohsm_hsm *h, const struct ohsm_store_utomb *tombs,
                                 size_t nt, const struct ohsm_store_user *users, size_t nu,
                                 struct sync_user *out)
{
    static const uint8_t none[1] = {0};
    uint8_t rec[UREC_MAX];
    struct user_keys k;
    ohsm_rv rv = OHSM_OK;

    for (size_t i = 0; rv == OHSM_OK && i < nu; i++) {
        const struct ohsm_store_user *u = &users[i];
        out[i] = (struct sync_user){u->id, u->version, false, u->type, u->name, {0}};
        rv = user_keys_get(h, u->id, &k);
        if (rv == OHSM_OK) {
            size_t n = urec(u->id, u->version, u->name, u->type, &k, rec);
            bool pw = pw_comparable(h, u);
            rv = ohsm_mask_digest(h->mk, rec, n, pw ? u->pwrec : none, pw ? OHSM_PWHASH_LEN : 0,
                                  out[i].digest);
            user_keys_clear(&k);
        }
    }
    for (size_t i = 0; rv == OHSM_OK && i < nt; i++) {
        struct sync_user *o = &out[nu + i];
        *o = (struct sync_user){tombs[i].id, tombs[i].version, true, OHSM_UT_NONE, tombs[i].name,
                                {0}};
        size_t n = urec(o->id, o->version, o->name, OHSM_UT_NONE, NULL, rec);
        rv = ohsm_mask_digest(h->mk, rec, n, none, 0, o->digest);
    }
    return rv;
}

ohsm_rv ohsm_hsm_sync_users(struct ohsm_hsm *h, struct ohsm_reply *r)
{
    struct ohsm_store_utomb *tombs = NULL;
    struct sync_user *all = NULL;
    size_t nt = 0;
    uint8_t *sum = NULL;
    unsigned int dl = 0;
    ohsm_rv rv;

    ohsm_hsm_lock(h);
    rv = ohsm_store_user_list(h->store, &r->list, &r->n);
    if (rv == OHSM_OK) {
        rv = ohsm_store_user_tombs(h->store, &tombs, &nt);
    }
    if (rv == OHSM_OK) {
        all = calloc(r->n + nt + 1, sizeof(*all));
        rv = all != NULL ? OHSM_OK : OHSM_HOST_MEMORY;
    }
    if (rv == OHSM_OK) {
        /* Users and their keys under one lock: one consistent snapshot. */
        rv = digest_all_locked(h, tombs, nt, r->list, r->n, all);
    }
    ohsm_hsm_unlock(h);
    size_t total = r->n + nt;
    Ohsm__SyncUser *items = NULL;
    Ohsm__SyncUser **ptrs = NULL;
    uint8_t *digests = NULL;
    char *names = NULL;
    if (rv == OHSM_OK) {
        items = ohsm_reply_alloc_public(r, (total + 1) * sizeof(*items));
        ptrs = ohsm_reply_alloc_public(r, (total + 1) * sizeof(*ptrs));
        digests = ohsm_reply_alloc_public(r, (total + 1) * 32);
        names = ohsm_reply_alloc_public(r, (total + 1) * (OHSM_USERNAME_MAX + 1));
        sum = ohsm_reply_alloc_public(r, 32);
        rv = items && ptrs && digests && names && sum ? OHSM_OK : OHSM_HOST_MEMORY;
    }
    if (rv == OHSM_OK && total > 1) {
        qsort(all, total, sizeof(*all), by_id); /* the same order on every HSM */
    }
    for (size_t i = 0; rv == OHSM_OK && i < total; i++) {
        char *nm = names + i * (OHSM_USERNAME_MAX + 1);
        memcpy(nm, all[i].name, strnlen(all[i].name, OHSM_USERNAME_MAX));
        memcpy(digests + 32 * i, all[i].digest, 32);
        ohsm__sync_user__init(&items[i]);
        items[i].username = nm;
        items[i].user_type = (uint32_t)all[i].type;
        items[i].user_id = all[i].id;
        items[i].version = all[i].version;
        items[i].deleted = all[i].deleted;
        items[i].digest.data = digests + 32 * i;
        items[i].digest.len = 32;
        ptrs[i] = &items[i];
    }
    if (rv == OHSM_OK && (EVP_Digest(digests, 32 * total, sum, &dl, EVP_sha256(), NULL) != 1 ||
                          dl != 32)) {
        rv = OHSM_DEVICE_ERROR;
    }
    free(all);
    free(tombs);
    OHSM_TRY(rv);
    r->sync.users = total > 0 ? ptrs : NULL;
    r->sync.n_users = total;
    r->sync.users_digest.data = sum;
    r->sync.users_digest.len = 32;
    return OHSM_OK;
}

/* Admins and the appliance user move user records (CloudHSM: syncUser is a CO command, the AU
 * does cloning); crypto users may not. */
static ohsm_rv check_user_sync(struct ohsm_hsm *h, struct ohsm_session *s)
{
    enum ohsm_utype t;
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_MASKED_OBJECTS, &t));
    OHSM_ENSURE(t == OHSM_UT_CO || t == OHSM_UT_AU, OHSM_ACCESS_DENIED);
    return OHSM_OK;
}

/* Seals the record of user id or name (or, by id, its tombstone) into the reply. */
ohsm_rv ohsm_hsm_user_extract(struct ohsm_hsm *h, struct ohsm_session *s,
                              const Ohsm__UserExtractReq *q, struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    uint8_t rec[UREC_MAX];
    struct ohsm_store_user u;
    struct ohsm_store_utomb t;
    struct user_keys k;
    uint8_t *blob = NULL;
    size_t blen = 0;
    size_t n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    OHSM_TRY(check_user_sync(h, s));
    if (q->user_id == 0) {
        OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    }
    memset(&u, 0, sizeof(u));
    memset(&k, 0, sizeof(k));
    ohsm_hsm_lock(h);
    rv = q->user_id != 0 ? ohsm_store_user_by_id(h->store, q->user_id, &u)
                         : ohsm_store_user_by_name(h->store, name, &u);
    if (rv == OHSM_OK) {
        rv = user_keys_get(h, u.id, &k);
        if (rv == OHSM_OK) {
            n = urec(u.id, u.version, u.name, u.type, &k, rec);
        }
    } else if (rv == OHSM_USER_NOT_FOUND && q->user_id != 0) {
        rv = ohsm_store_user_tomb_get(h->store, q->user_id, &t);
        if (rv == OHSM_OK) {
            n = urec(t.id, t.version, t.name, OHSM_UT_NONE, NULL, rec);
        }
    }
    ohsm_hsm_unlock(h);
    if (rv == OHSM_OK) {
        bool dead = u.id == 0;
        rv = ohsm_mask_seal(h->mk, OHSM_MASK_USER, rec, n, dead ? NULL : u.pwrec,
                            dead ? 0 : sizeof(u.pwrec), &blob, &blen);
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
    uint32_t id;
    uint64_t version;
    bool deleted;
    char name[OHSM_USERNAME_MAX + 1];
    enum ohsm_utype type;
    const uint8_t *mfa;
    size_t mfa_len;
    const uint8_t *mofn;
    size_t mofn_len;
};

/* One key: u32 length (0: none) and DER, present iff its flag says so and a well-formed RSA-2048
 * public key (authentic records are still checked like any input). */
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

ohsm_rv ohsm_hsm_user_parse(const uint8_t *rec, size_t len, struct ohsm_user_rec *out)
{
    struct ohsm_rd rd;
    uint8_t ver = 0;
    uint8_t t = 0;
    uint8_t flags = 0;
    uint8_t n = 0;
    uint32_t id = 0;
    uint32_t vhi = 0;
    uint32_t vlo = 0;
    const uint8_t *p = NULL;
    char raw[OHSM_USERNAME_MAX + 1];

    OHSM_ENSURE(out != NULL && (rec != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    ohsm_rd_init(&rd, rec, len);
    OHSM_ENSURE(ohsm_rd_u8(&rd, &ver) == OHSM_OK && ohsm_rd_u8(&rd, &t) == OHSM_OK &&
                    ohsm_rd_u8(&rd, &flags) == OHSM_OK && ohsm_rd_u8(&rd, &n) == OHSM_OK,
                OHSM_MASKED_OBJECT_INVALID);
    /* Versions 1 and 2 carry no record version: they could roll a user back. */
    OHSM_ENSURE(ver != 1 && ver != 2, OHSM_USER_RECORD_STALE);
    bool deleted = (flags & UREC_DELETED) != 0;
    OHSM_ENSURE(ver == UREC_VERSION && flags <= 7 && n >= 1 && n <= OHSM_USERNAME_MAX &&
                    (deleted ? t == OHSM_UT_NONE && (flags & 3) == 0
                             : t >= OHSM_UT_PRECO && t <= OHSM_UT_MAX),
                OHSM_MASKED_OBJECT_INVALID);
    OHSM_ENSURE(ohsm_rd_bytes(&rd, n, &p) == OHSM_OK, OHSM_MASKED_OBJECT_INVALID);
    memcpy(raw, p, n);
    raw[n] = '\0';
    OHSM_ENSURE(ohsm_username_canon(raw, out->name, sizeof(out->name)) == OHSM_OK &&
                    strcmp(raw, out->name) == 0,
                OHSM_MASKED_OBJECT_INVALID);
    OHSM_ENSURE(ohsm_rd_u32(&rd, &id) == OHSM_OK && ohsm_rd_u32(&rd, &vhi) == OHSM_OK &&
                    ohsm_rd_u32(&rd, &vlo) == OHSM_OK,
                OHSM_MASKED_OBJECT_INVALID);
    uint64_t version = (uint64_t)vhi << 32 | vlo;
    OHSM_ENSURE(id != 0 && version >= 1 && version <= INT64_MAX, OHSM_MASKED_OBJECT_INVALID);
    OHSM_TRY(parse_key(&rd, (flags & UREC_MFA) != 0, &out->mfa, &out->mfa_len));
    OHSM_TRY(parse_key(&rd, (flags & UREC_MOFN) != 0, &out->mofn, &out->mofn_len));
    OHSM_ENSURE(ohsm_rd_done(&rd) == OHSM_OK, OHSM_MASKED_OBJECT_INVALID);
    out->id = id;
    out->version = version;
    out->deleted = deleted;
    out->type = (enum ohsm_utype)t;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_user_open(const struct ohsm_mask_key *mk, const uint8_t *in, size_t len,
                           struct ohsm_user_rec *out, struct ohsm_secret **pw)
{
    const uint8_t *rec = NULL;
    size_t rec_len = 0;
    struct ohsm_secret *sec = NULL;

    OHSM_ENSURE(out != NULL && pw != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_mask_open(mk, OHSM_MASK_USER, in, len, &rec, &rec_len, &sec));
    ohsm_rv rv = ohsm_hsm_user_parse(rec, rec_len, out);
    if (rv == OHSM_OK &&
        ohsm_secret_len(sec) != (out->deleted ? 0 : (size_t)OHSM_PWHASH_LEN)) {
        rv = OHSM_MASKED_OBJECT_INVALID;
    }
    if (rv != OHSM_OK) {
        ohsm_secret_free(sec);
        memset(out, 0, sizeof(*out));
        return rv;
    }
    *pw = sec;
    return OHSM_OK;
}

/* Would deleting user cur (by a record) break a rule that holds here? Caller holds the lock. */
static ohsm_rv delete_ok_locked(struct ohsm_hsm *h, const struct ohsm_session *s,
                                const struct ohsm_store_user *cur)
{
    uint32_t cos = 0;
    OHSM_ENSURE(cur->id != s->uid, OHSM_DELETE_SELF);
    OHSM_ENSURE(!ohsm_hsm_user_owns_keys(h, cur), OHSM_USER_OWNS_KEYS);
    if (cur->type == OHSM_UT_CO) {
        OHSM_TRY(ohsm_store_user_count(h->store, OHSM_UT_CO, &cos));
        OHSM_ENSURE(cos > 1, OHSM_LAST_ADMIN);
    }
    return OHSM_OK;
}

/* The rules of the file header, then the store. Caller holds the lock. */
static ohsm_rv insert_locked(struct ohsm_hsm *h, const struct ohsm_session *s,
                             const struct ohsm_user_rec *in, const struct ohsm_secret *pw)
{
    struct ohsm_store_user cur;
    struct ohsm_store_user u;
    struct ohsm_store_utomb t;
    ohsm_rv rv;

    memset(&cur, 0, sizeof(cur));
    memset(&u, 0, sizeof(u));
    rv = ohsm_store_user_tomb_get(h->store, in->id, &t);
    if (rv == OHSM_OK) {
        /* Deleted here: final. Only a newer tombstone of the same user is taken. */
        rv = !in->deleted || in->version <= t.version || strcmp(t.name, in->name) != 0
                 ? OHSM_USER_RECORD_STALE
                 : OHSM_OK;
        cur.id = 0;
    } else if (rv == OHSM_USER_NOT_FOUND) {
        rv = ohsm_store_user_by_id(h->store, in->id, &cur);
        if (rv == OHSM_OK && strcmp(cur.name, in->name) != 0) {
            rv = OHSM_USER_EXISTS; /* this id names another user here: a conflict to resolve */
        } else if (rv == OHSM_OK && in->deleted) {
            /* A deletion is final whatever the versions: a change this HSM made after missing
             * the deletion does not bring the user back (syncdiff.h). */
            rv = delete_ok_locked(h, s, &cur);
        } else if (rv == OHSM_OK && in->version <= cur.version) {
            rv = OHSM_USER_RECORD_STALE; /* never back in time, nor the same version again */
        } else if (rv == OHSM_OK && cur.type != in->type &&
                   !(cur.type == OHSM_UT_PRECO && in->type == OHSM_UT_CO)) {
            rv = OHSM_USER_TYPE_INVALID; /* a user's type changes only by activation */
        } else if (rv == OHSM_OK && CRYPTO_memcmp(cur.pwrec, ohsm_secret_data(pw),
                                                  OHSM_PWHASH_LEN) != 0) {
            rv = ohsm_hsm_pw_change_allowed_locked(h, s, cur.id);
        } else if (rv == OHSM_USER_NOT_FOUND) {
            rv = OHSM_OK; /* a user (or tombstone) new to this HSM */
        }
    }
    if (rv == OHSM_OK) {
        u.id = in->id;
        u.version = in->version;
        if (in->deleted && cur.id != 0 && cur.version >= u.version) {
            u.version = cur.version + 1; /* the tombstone stays above every record of the user */
        }
        u.type = in->deleted ? OHSM_UT_CU : in->type; /* a tombstone's type is not stored */
        memcpy(u.name, in->name, sizeof(u.name));
        if (!in->deleted) {
            memcpy(u.pwrec, ohsm_secret_data(pw), OHSM_PWHASH_LEN);
        }
        rv = ohsm_store_user_put_rec(h->store, &u, in->mfa, in->mfa_len, in->mofn, in->mofn_len,
                                     in->deleted);
    }
    OPENSSL_cleanse(&cur, sizeof(cur));
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

ohsm_rv ohsm_hsm_user_insert(struct ohsm_hsm *h, struct ohsm_session *s,
                             const Ohsm__UserInsertReq *q, struct ohsm_reply *r)
{
    struct ohsm_user_rec in;
    struct ohsm_secret *pw = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    OHSM_TRY(check_user_sync(h, s));
    OHSM_TRY(ohsm_hsm_user_open(h->mk, q->masked.data, q->masked.len, &in, &pw));
    ohsm_hsm_lock(h);
    rv = insert_locked(h, s, &in, pw);
    if (rv == OHSM_OK) {
        ohsm_hsm_users_changed(h);
    }
    ohsm_hsm_unlock(h);
    ohsm_secret_free(pw);
    OHSM_TRY(rv);
    r->user.user_id = in.id;
    r->user.user_type = (uint32_t)in.type;
    r->resp.body_case = OHSM__RESPONSE__BODY_USER;
    r->resp.user = &r->user;
    return OHSM_OK;
}
