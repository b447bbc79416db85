/* SPDX-License-Identifier: Apache-2.0
 *
 * Token-sign MFA and quorum (M of N) authentication in openhsm-hsm (include/openhsm/token.h has
 * the token formats). Everything in a request is untrusted: names are canonicalised, public keys
 * checked to be RSA-2048 before use, approval data parsed by ohsm_approval_find, signatures
 * verified with OpenSSL, and a token is only ever compared with one this HSM issued itself.
 *
 * MFA: the password step charges one failed login when it issues a token, and a successful
 * signature step resets the counter, so every failed or abandoned attempt counts exactly once.
 * A pending token lives in its session and is consumed by the next attempt, whatever it gives.
 * The signature step does not re-check the lockout: its attempt was admitted and charged when
 * the token was issued (so the fifth attempt can still succeed).
 *
 * Quorum tokens live in h->qtok (under h->lock), bounded, and die with the session that made
 * them, on expiry, on deletion, and when the operation they approved succeeded (no replay).
 * While an approved operation runs its token is marked busy, so a second request carrying the
 * same approval cannot run too. RSA verification runs outside the lock. Admins with a quorum key
 * approve the admin services; a key service's token names a key, whose crypto users (owner,
 * shares) with a quorum key approve it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hsm/handlers.h"

static uint32_t seconds_left(const struct ohsm_hsm *h, uint64_t expires)
{
    uint64_t now = ohsm_hsm_now(h);
    return expires > now ? (uint32_t)(expires - now) : 0;
}

static void mfa_drop(struct ohsm_session *s)
{
    OPENSSL_cleanse(&s->mfa, sizeof(s->mfa));
}

/* Moves the session's pending MFA token into *out (kind 0 when none): it is used up. */
static void mfa_take(struct ohsm_session *s, struct ohsm_mfa_pending *out)
{
    memcpy(out, &s->mfa, sizeof(*out));
    mfa_drop(s);
}

static bool key_service(enum ohsm_qservice sv)
{
    return sv == OHSM_QS_KEY_MGMT || sv == OHSM_QS_KEY_USAGE;
}

static void qtok_free(struct ohsm_qtok *t)
{
    OPENSSL_cleanse(t, sizeof(*t));
}

static void qtok_purge_locked(struct ohsm_hsm *h)
{
    uint64_t now = ohsm_hsm_now(h);
    for (size_t i = 0; i < OHSM_HSM_QTOKENS_MAX; i++) {
        if (h->qtok[i].id != 0 && now >= h->qtok[i].expires) {
            qtok_free(&h->qtok[i]);
        }
    }
}

void ohsm_hsm_auth_session_end_locked(struct ohsm_hsm *h, struct ohsm_session *s)
{
    mfa_drop(s);
    for (size_t i = 0; i < OHSM_HSM_QTOKENS_MAX; i++) {
        if (h->qtok[i].id != 0 && h->qtok[i].serial == s->serial) {
            qtok_free(&h->qtok[i]);
        }
    }
}

static struct ohsm_qtok *qtok_by_id_locked(struct ohsm_hsm *h, uint64_t id)
{
    for (size_t i = 0; id != 0 && i < OHSM_HSM_QTOKENS_MAX; i++) {
        if (h->qtok[i].id == id) {
            return &h->qtok[i];
        }
    }
    return NULL;
}

/* The live token issued as rec (compared whole: nonce, HSM, user, service, expiry). */
static struct ohsm_qtok *qtok_by_rec_locked(struct ohsm_hsm *h, const struct ohsm_approval_rec *r)
{
    uint8_t enc[OHSM_APPROVAL_REC_LEN];
    if (ohsm_approval_rec_encode(r, enc) != OHSM_OK) {
        return NULL;
    }
    for (size_t i = 0; i < OHSM_HSM_QTOKENS_MAX; i++) {
        if (h->qtok[i].id != 0 && CRYPTO_memcmp(h->qtok[i].rec, enc, sizeof(enc)) == 0) {
            return &h->qtok[i];
        }
    }
    return NULL;
}

/* Is t the session user's token (same user id and name)? */
static bool qtok_mine(const struct ohsm_qtok *t, const struct ohsm_session *s)
{
    return s->logged_in && t->uid == s->uid && strcmp(t->user, s->user) == 0;
}

void ohsm_hsm_quorum_end_locked(struct ohsm_hsm *h, uint64_t ticket, bool success)
{
    struct ohsm_qtok *t = qtok_by_id_locked(h, ticket);
    if (t == NULL) {
        return; /* deleted meanwhile (its session ended, or quorum delete) */
    }
    if (success) {
        qtok_free(t); /* approved once, used once */
    } else {
        t->busy = false;
    }
}

void ohsm_hsm_quorum_end(struct ohsm_hsm *h, uint64_t ticket, bool success)
{
    if (ticket != 0) {
        ohsm_hsm_lock(h);
        ohsm_hsm_quorum_end_locked(h, ticket, success);
        ohsm_hsm_unlock(h);
    }
}

static void reply_token(struct ohsm_reply *r, uint8_t *p, size_t n, uint32_t lifetime)
{
    r->token.token.data = p;
    r->token.token.len = n;
    r->token.lifetime = lifetime;
    r->resp.body_case = OHSM__RESPONSE__BODY_TOKEN;
    r->resp.token = &r->token;
}

static void reply_user(struct ohsm_reply *r, const struct ohsm_store_user *u)
{
    r->user.user_id = u->id;
    r->user.user_type = (uint32_t)u->type;
    r->resp.body_case = OHSM__RESPONSE__BODY_USER;
    r->resp.user = &r->user;
}

/* Admins and crypto users. The permission table has no row for MFA and quorum; its
 * vocabulary is kept: not logged in, not activated (PRECO), access denied (appliance user). */
static ohsm_rv admin_or_cu(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype *t)
{
    enum ohsm_utype mine = ohsm_hsm_session_type(h, s);
    OHSM_ENSURE(mine != OHSM_UT_NONE, OHSM_USER_NOT_LOGGED_IN);
    OHSM_ENSURE(mine != OHSM_UT_PRECO, OHSM_NOT_ACTIVATED);
    OHSM_ENSURE(mine == OHSM_UT_CO || mine == OHSM_UT_CU, OHSM_ACCESS_DENIED);
    if (t != NULL) {
        *t = mine;
    }
    return OHSM_OK;
}

/* ---- MFA login ---- */

/* A fresh MFA token for user of kind, kept in the session and copied into the reply. */
static ohsm_rv mfa_issue(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_mfa_kind kind,
                         const struct ohsm_store_user *u, struct ohsm_reply *r)
{
    uint8_t nonce[32];
    struct ohsm_mfa_pending p;
    ohsm_rv rv = OHSM_DEVICE_ERROR;

    memset(&p, 0, sizeof(p));
    uint8_t *out = ohsm_reply_alloc_public(r, OHSM_TOKEN_LEN);
    if (out == NULL) {
        return OHSM_HOST_MEMORY;
    }
    if (RAND_bytes(nonce, (int)sizeof(nonce)) == 1) {
        p.kind = kind;
        p.uid = u->id;
        p.expires = ohsm_hsm_now(h) + ohsm_hsm_token_lifetime(h);
        memcpy(p.user, u->name, sizeof(p.user));
        rv = ohsm_mfa_token(kind, h->meta.hsm_id, u->name, nonce, p.expires, p.token);
    }
    if (rv == OHSM_OK) {
        mfa_drop(s); /* a previous pending token is abandoned (already counted) */
        memcpy(&s->mfa, &p, sizeof(p));
        memcpy(out, p.token, OHSM_TOKEN_LEN);
        reply_token(r, out, OHSM_TOKEN_LEN, ohsm_hsm_token_lifetime(h));
    }
    OPENSSL_cleanse(nonce, sizeof(nonce));
    OPENSSL_cleanse(&p, sizeof(p));
    return rv;
}

ohsm_rv ohsm_hsm_mfa_begin(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__MfaBeginReq *q,
                           struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    struct ohsm_store_user u, now;
    enum ohsm_utype want;
    uint32_t count = 0;
    ohsm_rv rv;

    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    OHSM_ENSURE(!s->logged_in, OHSM_USER_ALREADY_LOGGED_IN);
    OHSM_TRY(ohsm_hsm_wire_type(q->user_type, &want));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(ohsm_password_check((const char *)q->password.data, q->password.len));
    memset(&now, 0, sizeof(now));
    ohsm_hsm_lock(h);
    rv = ohsm_store_user_by_name(h->store, name, &u);
    ohsm_hsm_unlock(h);
    if (rv == OHSM_USER_NOT_FOUND) {
        return OHSM_PIN_INCORRECT; /* as login: do not tell which of name or password is wrong */
    }
    OHSM_TRY(rv);
    if (want != u.type && !(want == OHSM_UT_CO && u.type == OHSM_UT_PRECO)) {
        rv = OHSM_USER_TYPE_INVALID;
        goto out;
    }
    /* The attempt takes its failure slot before the password is hashed (see do_login): parallel
     * attempts cannot evaluate more guesses than the limit. */
    rv = ohsm_hsm_attempt_begin(h, &u);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_pwhash_verify(u.pwrec, sizeof(u.pwrec), q->password.data, q->password.len);
    ohsm_hsm_lock(h);
    ohsm_ustate_attempt_put(&h->ustate, u.id);
    if (rv == OHSM_PIN_INCORRECT) {
        ohsm_rv rv2 = ohsm_store_fail_inc(h->store, u.id, &count);
        rv = rv2 != OHSM_OK ? rv2 : rv;
    } else if (rv == OHSM_OK && !u.mfa) {
        rv = OHSM_MFA_NOT_ENABLED;
    } else if (rv == OHSM_OK) {
        /* Check and charge in one step: parallel attempts cannot pass the limit. */
        rv = ohsm_hsm_login_recheck_locked(h, &u);
        if (rv == OHSM_OK) {
            rv = ohsm_store_user_by_id(h->store, u.id, &now);
        }
        if (rv == OHSM_OK && now.fail_count >= h->meta.lockout_attempts) {
            rv = OHSM_PIN_LOCKED;
        } else if (rv == OHSM_OK && !now.mfa) {
            rv = OHSM_MFA_NOT_ENABLED;
        } else if (rv == OHSM_OK) {
            rv = ohsm_store_fail_inc(h->store, u.id, &count);
        }
        if (rv == OHSM_OK) {
            rv = mfa_issue(h, s, OHSM_MFA_LOGIN, &now, r);
        }
    }
    ohsm_hsm_unlock(h);
out:
    OPENSSL_cleanse(&u, sizeof(u));
    OPENSSL_cleanse(&now, sizeof(now));
    return rv;
}

ohsm_rv ohsm_hsm_mfa_finish(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__MfaFinishReq *q,
                            struct ohsm_reply *r)
{
    struct ohsm_mfa_pending p;
    struct ohsm_store_user u;
    uint8_t *pub = NULL;
    size_t pub_len = 0;
    ohsm_rv rv;

    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    OHSM_ENSURE(!s->logged_in, OHSM_USER_ALREADY_LOGGED_IN);
    OHSM_ENSURE(s->mfa.kind == OHSM_MFA_LOGIN, OHSM_TOKEN_NOT_FOUND);
    mfa_take(s, &p);
    memset(&u, 0, sizeof(u));
    /* The generation before the user is read: a change since then forces a re-read. */
    unsigned gen_before = atomic_load(&h->user_gen);
    if (ohsm_hsm_now(h) >= p.expires) {
        rv = OHSM_TOKEN_EXPIRED;
        goto out;
    }
    if (q->signature.len == 0) {
        rv = OHSM_TOKEN_INVALID; /* abandoned */
        goto out;
    }
    ohsm_hsm_lock(h);
    rv = ohsm_store_user_by_id(h->store, p.uid, &u);
    if (rv == OHSM_OK && strcmp(u.name, p.user) != 0) {
        rv = OHSM_USER_NOT_FOUND; /* another user took the id meanwhile */
    }
    if (rv == OHSM_OK) {
        rv = ohsm_store_user_pubkey(h->store, u.id, OHSM_STORE_MFA_KEY, &pub, &pub_len);
    }
    ohsm_hsm_unlock(h);
    if (rv == OHSM_USER_NOT_FOUND) {
        rv = OHSM_TOKEN_NOT_FOUND; /* the user the token was for is gone */
    } else if (rv == OHSM_OK && pub == NULL) {
        rv = OHSM_MFA_NOT_ENABLED; /* deregistered meanwhile */
    } else if (rv == OHSM_OK) {
        rv = ohsm_token_verify(pub, pub_len, p.token, q->signature.data, q->signature.len);
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_lock(h);
        rv = ohsm_store_fail_reset(h->store, u.id);
        if (rv == OHSM_OK) {
            rv = ohsm_hsm_session_login(h, s, &u, gen_before, NULL, r);
        }
        ohsm_hsm_unlock(h);
    }
out:
    free(pub);
    OPENSSL_cleanse(&p, sizeof(p));
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

/* ---- change-mfa ---- */

/* The user whose MFA key a session may change: itself (an admin or crypto user), or anyone
 * (admins only) but the appliance user. The type must match. *self says which. */
static ohsm_rv mfa_target(struct ohsm_hsm *h, struct ohsm_session *s, uint32_t wtype,
                          const char *username, struct ohsm_store_user *u, bool *self)
{
    char name[OHSM_USERNAME_MAX + 1];
    enum ohsm_utype want;
    enum ohsm_utype mine = OHSM_UT_NONE;

    OHSM_TRY(admin_or_cu(h, s, &mine));
    OHSM_TRY(ohsm_hsm_wire_type(wtype, &want));
    OHSM_TRY(ohsm_username_canon(username, name, sizeof(name)));
    ohsm_hsm_lock(h);
    ohsm_rv rv = ohsm_store_user_by_name(h->store, name, u);
    ohsm_hsm_unlock(h);
    if (rv == OHSM_USER_NOT_FOUND && mine != OHSM_UT_CO) {
        rv = OHSM_ACCESS_DENIED; /* only an admin may learn whether another user exists */
    }
    OHSM_TRY(rv);
    *self = u->id == s->uid;
    if (!*self) {
        OHSM_TRY(ohsm_perm_check(OHSM_OP_CHANGE_ANY_PW, mine));
    }
    OHSM_ENSURE(u->type == want, OHSM_USER_TYPE_INVALID);
    /* The appliance user belongs to the service, as in CloudHSM. */
    OHSM_ENSURE(u->type == OHSM_UT_CO || u->type == OHSM_UT_CU, OHSM_ACCESS_DENIED);
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_mfa_reg_begin(struct ohsm_hsm *h, struct ohsm_session *s,
                               const Ohsm__MfaRegBeginReq *q, struct ohsm_reply *r)
{
    struct ohsm_store_user u;
    bool self = false;

    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    memset(&u, 0, sizeof(u));
    ohsm_rv rv = mfa_target(h, s, q->user_type, q->username, &u, &self);
    if (rv == OHSM_OK) {
        rv = mfa_issue(h, s, OHSM_MFA_REGISTER, &u, r);
    }
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

/* The signature step of a registration: the pending token is the target's and live, the key is
 * an RSA-2048 public key, and the signature of the token verifies with it. */
static ohsm_rv reg_proof(struct ohsm_hsm *h, const struct ohsm_mfa_pending *p,
                         const struct ohsm_store_user *u, const Ohsm__MfaRegFinishReq *q)
{
    OHSM_ENSURE(p->kind == OHSM_MFA_REGISTER && p->uid == u->id && strcmp(p->user, u->name) == 0,
                OHSM_TOKEN_NOT_FOUND);
    OHSM_ENSURE(ohsm_hsm_now(h) < p->expires, OHSM_TOKEN_EXPIRED);
    OHSM_TRY(ohsm_token_pubkey_check(q->public_key.data, q->public_key.len));
    return ohsm_token_verify(q->public_key.data, q->public_key.len, p->token, q->signature.data,
                             q->signature.len);
}

ohsm_rv ohsm_hsm_mfa_reg_finish(struct ohsm_hsm *h, struct ohsm_session *s,
                                const Ohsm__MfaRegFinishReq *q, struct ohsm_reply *r)
{
    struct ohsm_mfa_pending p;
    struct ohsm_store_user u;
    uint8_t rec[OHSM_PWHASH_LEN];
    uint64_t ticket = 0;
    bool self = false;
    ohsm_rv rv;

    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    memset(&u, 0, sizeof(u));
    memset(&p, 0, sizeof(p));
    memset(rec, 0, sizeof(rec));
    /* Single use: whatever this attempt gives, the pending token is gone. */
    if (!q->deregister && s->mfa.kind == OHSM_MFA_REGISTER) {
        mfa_take(s, &p);
    }
    rv = mfa_target(h, s, q->user_type, q->username, &u, &self);
    if (rv == OHSM_OK) {
        rv = ohsm_password_check((const char *)q->password.data, q->password.len);
    }
    if (rv == OHSM_OK && q->deregister && (q->public_key.len != 0 || q->signature.len != 0)) {
        rv = OHSM_ARGUMENTS_BAD; /* deregistering takes no key */
    } else if (rv == OHSM_OK && !q->deregister) {
        rv = reg_proof(h, &p, &u, q);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_pwhash(h, u.id, u.version + 1, q->password.data, q->password.len, rec);
    }
    if (rv == OHSM_OK && !self) {
        rv = ohsm_hsm_quorum_guard(h, s, OHSM_QS_USER, q->approval, &ticket);
    }
    if (rv != OHSM_OK) {
        goto out;
    }
    const uint8_t *key = q->deregister ? NULL : q->public_key.data;
    size_t key_len = q->deregister ? 0 : q->public_key.len;
    ohsm_hsm_lock(h);
    rv = ohsm_hsm_pw_change_allowed_locked(h, s, u.id); /* it sets a password too */
    if (rv == OHSM_OK) {
        rv = ohsm_store_begin(h->store);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_store_user_bump(h->store, u.id, u.version);
        if (rv == OHSM_OK) {
            rv = ohsm_store_user_set_password(h->store, u.id, rec, u.type);
        }
        if (rv == OHSM_OK) {
            rv = ohsm_store_user_set_pubkey(h->store, u.id, OHSM_STORE_MFA_KEY, key, key_len);
        }
        if (rv == OHSM_OK && q->change_quorum) {
            rv = ohsm_store_user_set_pubkey(h->store, u.id, OHSM_STORE_QUORUM_KEY, key, key_len);
        }
        rv = ohsm_hsm_tx_end(h, rv);
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_users_changed(h);
    }
    ohsm_hsm_quorum_end_locked(h, ticket, rv == OHSM_OK);
    ohsm_hsm_unlock(h);
    if (rv == OHSM_OK) {
        reply_user(r, &u);
    }
out:
    OPENSSL_cleanse(&p, sizeof(p));
    OPENSSL_cleanse(&u, sizeof(u));
    OPENSSL_cleanse(rec, sizeof(rec));
    return rv;
}

/* ---- quorum tokens ---- */

/* The quorum value of a service: the stored one for user/quorum/cluster, the key's for the key
 * services (1 when the key is gone or has none), 1 for registration. */
static ohsm_rv quorum_value_locked(struct ohsm_hsm *h, enum ohsm_qservice sv, uint64_t key_handle,
                                   uint32_t *v)
{
    if (sv == OHSM_QS_USER || sv == OHSM_QS_QUORUM || sv == OHSM_QS_CLUSTER) {
        return ohsm_store_quorum_get(h->store, (int)sv, v);
    }
    *v = 1;
    struct ohsm_objent *e = key_service(sv) ? ohsm_objtab_get(h->objs, key_handle) : NULL;
    if (e != NULL && ohsm_hsm_key_quorum(&e->rec, sv) > 1) {
        *v = ohsm_hsm_key_quorum(&e->rec, sv);
    }
    ohsm_objent_put(e);
    return OHSM_OK;
}

/* Issues a token for the session user under the lock: one live token per user and admin service
 * (a new registration token replaces the old one), OHSM_HSM_QTOKENS_USER_MAX per user and key
 * service (CloudHSM has no one-token limit there), OHSM_HSM_QTOKENS_MAX in all. key_handle: the
 * key of a key service, else 0. */
static ohsm_rv qtok_issue_locked(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_qservice sv,
                                 uint64_t key_handle, struct ohsm_qtok **out)
{
    struct ohsm_approval_rec a;
    uint8_t rec[OHSM_APPROVAL_REC_LEN];
    struct ohsm_qtok *slot = NULL;
    uint32_t mine = 0; /* the user's live key tokens of sv: bounded, so no one fills the table */

    qtok_purge_locked(h);
    for (size_t i = 0; i < OHSM_HSM_QTOKENS_MAX; i++) {
        struct ohsm_qtok *t = &h->qtok[i];
        if (t->id != 0 && t->service == sv && qtok_mine(t, s)) {
            OHSM_ENSURE(sv == OHSM_QS_REGISTRATION || key_service(sv), OHSM_QUORUM_TOKEN_EXISTS);
            mine++;
            if (sv == OHSM_QS_REGISTRATION) {
                qtok_free(t);
            }
        }
        if (t->id == 0 && slot == NULL) {
            slot = t;
        }
    }
    OHSM_ENSURE(slot != NULL && mine < OHSM_HSM_QTOKENS_USER_MAX, OHSM_OBJECT_TOO_MANY);
    memset(&a, 0, sizeof(a));
    a.service = sv;
    a.slot = (uint8_t)h->slot;
    a.expires = ohsm_hsm_now(h) + ohsm_hsm_token_lifetime(h);
    a.key_handle = key_handle;
    OHSM_ENSURE(strlen(h->meta.hsm_id) < sizeof(a.hsm_id), OHSM_CONFIG);
    memcpy(a.hsm_id, h->meta.hsm_id, strlen(h->meta.hsm_id) + 1);
    memcpy(a.username, s->user, sizeof(s->user));
    OHSM_ENSURE(RAND_bytes(a.nonce, (int)sizeof(a.nonce)) == 1, OHSM_DEVICE_ERROR);
    OHSM_TRY(ohsm_approval_rec_encode(&a, rec));
    *slot = (struct ohsm_qtok){.id = ++h->qtok_next,
                               .serial = s->serial,
                               .uid = s->uid,
                               .service = sv,
                               .expires = a.expires,
                               .key_handle = key_handle};
    memcpy(slot->user, s->user, sizeof(slot->user));
    memcpy(slot->rec, rec, sizeof(rec));
    *out = slot;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_quorum_gen(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__QuorumGenReq *q,
                            struct ohsm_reply *r)
{
    enum ohsm_utype t = OHSM_UT_NONE;
    struct ohsm_qtok *tok = NULL;

    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    OHSM_TRY(admin_or_cu(h, s, &t));
    enum ohsm_qservice sv = (enum ohsm_qservice)q->service;
    OHSM_ENSURE(q->service >= OHSM_QS_USER && q->service <= OHSM_QS_MAX_, OHSM_ARGUMENTS_BAD);
    /* A key service's token is for one key; the others name none. */
    OHSM_ENSURE(key_service(sv) == (q->key_handle != 0), OHSM_ARGUMENTS_BAD);
    if (key_service(sv)) {
        OHSM_TRY(ohsm_hsm_key_quorum_target(h, s, t, q->key_handle));
    } else {
        OHSM_ENSURE(t == OHSM_UT_CO || sv == OHSM_QS_REGISTRATION, OHSM_ACCESS_DENIED);
    }
    uint8_t *out = ohsm_reply_alloc_public(r, OHSM_APPROVAL_REC_LEN);
    OHSM_ENSURE(out != NULL, OHSM_HOST_MEMORY);
    ohsm_hsm_lock(h);
    ohsm_rv rv = qtok_issue_locked(h, s, sv, q->key_handle, &tok);
    if (rv == OHSM_OK) {
        memcpy(out, tok->rec, OHSM_APPROVAL_REC_LEN);
        reply_token(r, out, OHSM_APPROVAL_REC_LEN, seconds_left(h, tok->expires));
    }
    ohsm_hsm_unlock(h);
    return rv;
}

ohsm_rv ohsm_hsm_quorum_list(struct ohsm_hsm *h, struct ohsm_session *s, struct ohsm_reply *r)
{
    size_t n = 0;
    ohsm_rv rv = OHSM_OK;

    OHSM_TRY(admin_or_cu(h, s, NULL));
    Ohsm__QuorumToken *items = ohsm_reply_alloc_public(r, OHSM_HSM_QTOKENS_MAX * sizeof(*items));
    Ohsm__QuorumToken **ptrs = ohsm_reply_alloc_public(r, OHSM_HSM_QTOKENS_MAX * sizeof(*ptrs));
    char(*names)[OHSM_USERNAME_MAX + 1] =
        ohsm_reply_alloc_public(r, OHSM_HSM_QTOKENS_MAX * sizeof(*names));
    OHSM_ENSURE(items != NULL && ptrs != NULL && names != NULL, OHSM_HOST_MEMORY);
    ohsm_hsm_lock(h);
    qtok_purge_locked(h);
    for (size_t i = 0; i < OHSM_HSM_QTOKENS_MAX && rv == OHSM_OK; i++) {
        const struct ohsm_qtok *t = &h->qtok[i];
        if (t->id == 0) {
            continue;
        }
        Ohsm__QuorumToken *it = &items[n];
        ohsm__quorum_token__init(it);
        rv = quorum_value_locked(h, t->service, t->key_handle, &it->approvals_required);
        memcpy(names[n], t->user, sizeof(names[n]));
        it->username = names[n];
        it->service = (uint32_t)t->service;
        it->approvals = t->approvals;
        it->timeout_seconds = seconds_left(h, t->expires);
        it->key_handle = t->key_handle;
        ptrs[n++] = it;
    }
    ohsm_hsm_unlock(h);
    OHSM_TRY(rv);
    r->qtokens.n_tokens = n;
    r->qtokens.tokens = ptrs;
    r->resp.body_case = OHSM__RESPONSE__BODY_QTOKENS;
    r->resp.qtokens = &r->qtokens;
    return OHSM_OK;
}

/* Finds this HSM's record in approval data and the live token issued as it, which must be the
 * session user's for service sv and key key_handle (0 for the admin services). take: the token is
 * removed (used up); else it is marked busy and *id names it. sv OHSM_QS_NONE: any of the
 * session user's tokens, removed even when busy (quorum delete). */
static ohsm_rv qtok_claim(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_qservice sv,
                          uint64_t key_handle, const uint8_t *data, size_t len, bool take,
                          uint64_t *id)
{
    struct ohsm_approval_rec a;
    OHSM_TRY(ohsm_approval_find(data, len, h->meta.hsm_id, &a));
    ohsm_rv rv = OHSM_OK;
    bool any = sv == OHSM_QS_NONE;
    ohsm_hsm_lock(h);
    if (any) {
        qtok_purge_locked(h); /* an expired token is none */
    }
    struct ohsm_qtok *t = qtok_by_rec_locked(h, &a);
    if (t == NULL || !qtok_mine(t, s) ||
        (!any && (t->service != sv || t->key_handle != key_handle || t->busy))) {
        rv = OHSM_TOKEN_NOT_FOUND;
    } else if (ohsm_hsm_now(h) >= t->expires) {
        qtok_free(t);
        rv = OHSM_TOKEN_EXPIRED;
    } else if (take) {
        qtok_free(t);
    } else {
        t->busy = true;
        *id = t->id;
    }
    ohsm_hsm_unlock(h);
    OPENSSL_cleanse(&a, sizeof(a));
    return rv;
}

ohsm_rv ohsm_hsm_quorum_delete(struct ohsm_hsm *h, struct ohsm_session *s,
                               const Ohsm__QuorumDeleteReq *q, struct ohsm_reply *r)
{
    enum ohsm_utype t = OHSM_UT_NONE;

    (void)r;
    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    OHSM_TRY(admin_or_cu(h, s, &t));
    OHSM_ENSURE(!q->all || t == OHSM_UT_CO, OHSM_ACCESS_DENIED);
    if (q->approval_data.len > 0) {
        /* One token: the session user's whose record for this HSM is in the data (a sign
         * consumed the approval on another HSM). */
        OHSM_ENSURE(!q->all, OHSM_ARGUMENTS_BAD);
        return qtok_claim(h, s, OHSM_QS_NONE, 0, q->approval_data.data, q->approval_data.len, true,
                          NULL);
    }
    ohsm_hsm_lock(h);
    for (size_t i = 0; i < OHSM_HSM_QTOKENS_MAX; i++) {
        if (h->qtok[i].id != 0 && (q->all || qtok_mine(&h->qtok[i], s))) {
            qtok_free(&h->qtok[i]);
        }
    }
    ohsm_hsm_unlock(h);
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_quorum_register(struct ohsm_hsm *h, struct ohsm_session *s,
                                 const Ohsm__QuorumRegisterReq *q, struct ohsm_reply *r)
{
    uint8_t digest[OHSM_TOKEN_LEN];
    struct ohsm_store_user u;

    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    OHSM_TRY(admin_or_cu(h, s, NULL));
    OHSM_TRY(qtok_claim(h, s, OHSM_QS_REGISTRATION, 0, q->approval_data.data, q->approval_data.len,
                        true, NULL));
    OHSM_TRY(ohsm_token_pubkey_check(q->public_key.data, q->public_key.len));
    OHSM_TRY(ohsm_approval_digest(q->approval_data.data, q->approval_data.len, digest));
    OHSM_TRY(ohsm_token_verify(q->public_key.data, q->public_key.len, digest, q->signature.data,
                               q->signature.len));
    memset(&u, 0, sizeof(u));
    ohsm_hsm_lock(h);
    ohsm_rv rv = ohsm_store_user_by_id(h->store, s->uid, &u);
    if (rv == OHSM_OK) {
        rv = ohsm_store_begin(h->store);
        if (rv == OHSM_OK) {
            rv = ohsm_store_user_bump(h->store, u.id, u.version); /* a change of the user */
            if (rv == OHSM_OK) {
                rv = ohsm_store_user_set_pubkey(h->store, s->uid, OHSM_STORE_QUORUM_KEY,
                                                q->public_key.data, q->public_key.len);
            }
            rv = ohsm_hsm_tx_end(h, rv);
        }
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_users_changed(h);
        reply_user(r, &u);
    }
    ohsm_hsm_unlock(h);
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

/* ---- the guard ---- */

/* One approver's signature and, when the approver may approve, their quorum key. */
struct approver {
    char name[OHSM_USERNAME_MAX + 1];
    uint8_t *pub; /* NULL: not an eligible approver with a quorum key */
    size_t pub_len;
};

/* May user u approve? Admin services: an admin. Key services (key non-NULL): a crypto user
 * associated with the key. Either way with a quorum key registered. */
static bool eligible(const struct ohsm_store_user *u, const struct ohsm_obj *key)
{
    if (key == NULL) {
        return u->type == OHSM_UT_CO && u->mofn;
    }
    return u->type == OHSM_UT_CU && u->mofn && ohsm_obj_usable_by(key, u->id, u->name);
}

/* Reads each eligible signer's quorum key. */
static ohsm_rv approvers_locked(struct ohsm_hsm *h, const Ohsm__Approval *ap,
                                const struct ohsm_obj *key, struct approver *v)
{
    struct ohsm_store_user u;
    ohsm_rv rv = OHSM_OK;
    for (size_t i = 0; i < ap->n_sigs && rv == OHSM_OK; i++) {
        const Ohsm__ApprovalSig *g = ap->sigs[i];
        if (g == NULL || g->username == NULL ||
            ohsm_username_canon(g->username, v[i].name, sizeof(v[i].name)) != OHSM_OK) {
            continue; /* not counted */
        }
        rv = ohsm_store_user_by_name(h->store, v[i].name, &u);
        if (rv == OHSM_USER_NOT_FOUND) {
            rv = OHSM_OK;
            continue;
        }
        if (rv == OHSM_OK && eligible(&u, key)) {
            rv = ohsm_store_user_pubkey(h->store, u.id, OHSM_STORE_QUORUM_KEY, &v[i].pub,
                                        &v[i].pub_len);
        }
        OPENSSL_cleanse(&u, sizeof(u));
    }
    return rv;
}

/* Valid signatures of the digest by distinct eligible approvers. */
static uint32_t approvals_count(const Ohsm__Approval *ap, const struct approver *v,
                                const uint8_t digest[OHSM_TOKEN_LEN])
{
    bool counted[OHSM_APPROVAL_SIGS_MAX] = {false};
    uint32_t n = 0;
    for (size_t i = 0; i < ap->n_sigs; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            seen = counted[j] && strcmp(v[j].name, v[i].name) == 0;
        }
        if (seen || v[i].pub == NULL) {
            continue;
        }
        const Ohsm__ApprovalSig *g = ap->sigs[i];
        if (ohsm_token_verify(v[i].pub, v[i].pub_len, digest, g->signature.data,
                              g->signature.len) == OHSM_OK) {
            counted[i] = true;
            n++;
        }
    }
    return n;
}

/* The guard of both kinds: value approvals of service, by admins (key NULL) or by the users of
 * key, on a token of the session user's for that service and key. */
static ohsm_rv guard(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_qservice service,
                     uint32_t value, const struct ohsm_obj *key, const Ohsm__Approval *ap,
                     uint64_t *ticket)
{
    struct approver v[OHSM_APPROVAL_SIGS_MAX];
    uint8_t digest[OHSM_TOKEN_LEN];
    uint32_t n = 0;
    uint64_t id = 0;
    ohsm_rv rv;

    *ticket = 0;
    if (value <= 1) {
        return OHSM_OK; /* no approval needed; one given is ignored */
    }
    OHSM_ENSURE(ap != NULL && (ap->data.len > 0 || ap->n_sigs > 0), OHSM_QUORUM_REQUIRED);
    OHSM_ENSURE(ap->n_sigs <= OHSM_APPROVAL_SIGS_MAX && (ap->n_sigs == 0 || ap->sigs != NULL),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_approval_digest(ap->data.data, ap->data.len, digest));
    OHSM_TRY(qtok_claim(h, s, service, key != NULL ? key->handle : 0, ap->data.data, ap->data.len,
                        false, &id));
    memset(v, 0, sizeof(v));
    ohsm_hsm_lock(h);
    rv = approvers_locked(h, ap, key, v);
    ohsm_hsm_unlock(h);
    if (rv == OHSM_OK) {
        n = approvals_count(ap, v, digest);
    }
    ohsm_hsm_lock(h);
    struct ohsm_qtok *t = qtok_by_id_locked(h, id);
    if (t == NULL) {
        rv = rv == OHSM_OK ? OHSM_TOKEN_NOT_FOUND : rv; /* deleted meanwhile */
    } else {
        t->approvals = n;
        if (rv == OHSM_OK && n < value) {
            rv = OHSM_QUORUM_INSUFFICIENT; /* the token stays for more approvals */
        }
        if (rv != OHSM_OK) {
            t->busy = false;
        }
    }
    ohsm_hsm_unlock(h);
    for (size_t i = 0; i < OHSM_APPROVAL_SIGS_MAX; i++) {
        free(v[i].pub);
    }
    if (rv == OHSM_OK) {
        *ticket = id;
    }
    return rv;
}

ohsm_rv ohsm_hsm_quorum_guard(struct ohsm_hsm *h, struct ohsm_session *s,
                              enum ohsm_qservice service, const Ohsm__Approval *ap,
                              uint64_t *ticket)
{
    uint32_t value = 1;
    *ticket = 0;
    OHSM_ENSURE(!key_service(service), OHSM_ARGUMENTS_BAD); /* those have a key: _key below */
    ohsm_hsm_lock(h);
    ohsm_rv rv = quorum_value_locked(h, service, 0, &value);
    ohsm_hsm_unlock(h);
    OHSM_TRY(rv);
    return guard(h, s, service, value, NULL, ap, ticket);
}

ohsm_rv ohsm_hsm_quorum_guard_key(struct ohsm_hsm *h, struct ohsm_session *s,
                                  enum ohsm_qservice service, const struct ohsm_obj *key,
                                  const Ohsm__Approval *ap, uint64_t *ticket)
{
    *ticket = 0;
    OHSM_ENSURE(key != NULL && key_service(service), OHSM_ARGUMENTS_BAD);
    return guard(h, s, service, ohsm_hsm_key_quorum(key, service), key, ap, ticket);
}
