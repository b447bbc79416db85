/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM's request handlers. Every request is checked against the permission table (src/core)
 * with the type of the user logged in on the session, re-read from the store on each request so
 * that a deleted or changed user loses its rights at once. Inputs were validated for shape by the
 * wire decoder; the user rules (names, passwords, types) are applied here. Passwords are hashed
 * and verified outside the store lock; secrets are wiped by the caller's request free.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hsm/hsm.h"
#include "openhsm/perm.h"
#include "openhsm/user.h"

void ohsm_reply_init(struct ohsm_reply *r, uint64_t id)
{
    memset(r, 0, sizeof(*r));
    ohsm__response__init(&r->resp);
    r->resp.id = id;
}

void ohsm_reply_clear(struct ohsm_reply *r)
{
    if (r->list != NULL) {
        OPENSSL_cleanse(r->list, r->n * sizeof(*r->list));
    }
    free(r->list);
    free(r->items);
    free(r->ptrs);
    r->list = NULL;
    r->items = NULL;
    r->ptrs = NULL;
}

static void lock(struct ohsm_hsm *h)
{
    (void)pthread_mutex_lock(&h->lock);
}

static void unlock(struct ohsm_hsm *h)
{
    (void)pthread_mutex_unlock(&h->lock);
}

/* The session's current user type (OHSM_UT_NONE when not logged in). Caller holds the lock. */
static enum ohsm_utype session_type(struct ohsm_hsm *h, struct ohsm_session *s,
                                    struct ohsm_store_user *u)
{
    if (!s->logged_in) {
        return OHSM_UT_NONE;
    }
    if (ohsm_store_user_by_id(h->store, s->uid, u) != OHSM_OK) {
        s->logged_in = false; /* deleted meanwhile */
        return OHSM_UT_NONE;
    }
    return u->type;
}

static ohsm_rv check(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_op op)
{
    struct ohsm_store_user u;
    lock(h);
    ohsm_rv rv = ohsm_perm_check(op, session_type(h, s, &u));
    unlock(h);
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

/* Wire user types are u32; only real types are accepted. */
static ohsm_rv wire_type(uint32_t t, enum ohsm_utype *out)
{
    OHSM_ENSURE(t >= OHSM_UT_PRECO && t <= OHSM_UT_MAX, OHSM_USER_TYPE_INVALID);
    *out = (enum ohsm_utype)t;
    return OHSM_OK;
}

static ohsm_rv do_login(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__LoginReq *q,
                        struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    struct ohsm_store_user u;
    enum ohsm_utype want;
    uint32_t count = 0;
    ohsm_rv rv;

    OHSM_ENSURE(!s->logged_in, OHSM_USER_ALREADY_LOGGED_IN);
    OHSM_TRY(wire_type(q->user_type, &want));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(ohsm_password_check((const char *)q->password.data, q->password.len));

    lock(h);
    rv = ohsm_store_user_by_name(h->store, name, &u);
    unlock(h);
    if (rv == OHSM_USER_NOT_FOUND) {
        return OHSM_PIN_INCORRECT; /* do not tell which of name or password is wrong */
    }
    OHSM_TRY(rv);
    /* "admin" in the CLI names both the CO and the PRECO. */
    if (want != u.type && !(want == OHSM_UT_CO && u.type == OHSM_UT_PRECO)) {
        rv = OHSM_USER_TYPE_INVALID;
        goto out;
    }
    if (u.fail_count >= h->meta.lockout_attempts) {
        rv = OHSM_PIN_LOCKED;
        goto out;
    }
    rv = ohsm_pwhash_verify(u.pwrec, sizeof(u.pwrec), q->password.data, q->password.len);
    lock(h);
    if (rv == OHSM_PIN_INCORRECT) {
        ohsm_rv rv2 = ohsm_store_fail_inc(h->store, u.id, &count);
        if (rv2 != OHSM_OK) {
            rv = rv2;
        }
    } else if (rv == OHSM_OK && u.fail_count != 0) {
        rv = ohsm_store_fail_reset(h->store, u.id);
    }
    unlock(h);
    if (rv == OHSM_OK) {
        s->logged_in = true;
        s->uid = u.id;
        memcpy(r->name, u.name, sizeof(u.name));
        r->login.user_type = (uint32_t)u.type;
        r->login.user_id = u.id;
        r->login.username = r->name;
        r->resp.body_case = OHSM__RESPONSE__BODY_LOGIN;
        r->resp.login = &r->login;
    }
out:
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

static ohsm_rv do_list(struct ohsm_hsm *h, struct ohsm_reply *r)
{
    ohsm_rv rv;
    OHSM_TRY(ohsm_perm_check(OHSM_OP_CLUSTER_INFO, OHSM_UT_NONE)); /* open to everyone */
    lock(h);
    rv = ohsm_store_user_list(h->store, &r->list, &r->n);
    unlock(h);
    OHSM_TRY(rv);
    r->items = calloc(r->n + 1, sizeof(*r->items));
    r->ptrs = calloc(r->n + 1, sizeof(*r->ptrs));
    OHSM_ENSURE(r->items != NULL && r->ptrs != NULL, OHSM_HOST_MEMORY);
    for (size_t i = 0; i < r->n; i++) {
        Ohsm__User *it = &r->items[i];
        ohsm__user__init(it);
        it->id = r->list[i].id;
        it->user_type = (uint32_t)r->list[i].type;
        it->username = r->list[i].name;
        it->login_failures = r->list[i].fail_count;
        it->locked = r->list[i].fail_count >= h->meta.lockout_attempts;
        it->mfa = r->list[i].mfa;
        it->mofn_pubkey = r->list[i].mofn;
        r->ptrs[i] = it;
    }
    r->users.n_users = r->n;
    r->users.users = r->ptrs;
    r->users.lockout_attempts = h->meta.lockout_attempts;
    r->resp.body_case = OHSM__RESPONSE__BODY_USERS;
    r->resp.users = &r->users;
    return OHSM_OK;
}

static ohsm_rv do_create(struct ohsm_hsm *h, struct ohsm_session *s,
                         const Ohsm__CreateUserReq *q, struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    uint8_t rec[OHSM_PWHASH_LEN];
    enum ohsm_utype type;
    uint32_t id = 0;
    ohsm_rv rv;

    OHSM_TRY(check(h, s, OHSM_OP_MANAGE_USERS));
    OHSM_TRY(wire_type(q->user_type, &type));
    OHSM_ENSURE(type != OHSM_UT_PRECO, OHSM_USER_TYPE_INVALID);
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(ohsm_password_check((const char *)q->password.data, q->password.len));
    OHSM_TRY(ohsm_pwhash_make(&h->cost, q->password.data, q->password.len, rec));
    lock(h);
    rv = ohsm_store_user_add(h->store, name, type, rec, &id);
    unlock(h);
    OPENSSL_cleanse(rec, sizeof(rec));
    OHSM_TRY(rv);
    r->user.user_id = id;
    r->user.user_type = (uint32_t)type;
    r->resp.body_case = OHSM__RESPONSE__BODY_USER;
    r->resp.user = &r->user;
    return OHSM_OK;
}

static ohsm_rv do_delete(struct ohsm_hsm *h, struct ohsm_session *s,
                         const Ohsm__DeleteUserReq *q, struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    struct ohsm_store_user u;
    struct ohsm_store_user me;
    enum ohsm_utype type;
    ohsm_rv rv;

    OHSM_TRY(wire_type(q->user_type, &type));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    lock(h);
    rv = ohsm_perm_check(OHSM_OP_MANAGE_USERS, session_type(h, s, &me));
    if (rv != OHSM_OK) {
        goto out;
    }
    if ((rv = ohsm_store_user_by_name(h->store, name, &u)) != OHSM_OK) {
        goto out;
    }
    if (u.type != type) {
        rv = OHSM_USER_TYPE_INVALID;
    } else if (u.id == s->uid) {
        rv = OHSM_DELETE_SELF;
    } else if (u.type == OHSM_UT_AU) {
        rv = OHSM_ACCESS_DENIED; /* the appliance user belongs to the service, as in CloudHSM */
    } else {
        rv = ohsm_store_user_del(h->store, u.id);
    }
    if (rv == OHSM_OK) {
        r->user.user_id = u.id;
        r->user.user_type = (uint32_t)u.type;
        r->resp.body_case = OHSM__RESPONSE__BODY_USER;
        r->resp.user = &r->user;
    }
out:
    unlock(h);
    OPENSSL_cleanse(&u, sizeof(u));
    OPENSSL_cleanse(&me, sizeof(me));
    return rv;
}

static ohsm_rv do_change_pw(struct ohsm_hsm *h, struct ohsm_session *s,
                            const Ohsm__ChangePasswordReq *q, struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    uint8_t rec[OHSM_PWHASH_LEN];
    struct ohsm_store_user u;
    struct ohsm_store_user me;
    enum ohsm_utype type;
    enum ohsm_utype new_type;
    ohsm_rv rv;

    OHSM_TRY(wire_type(q->user_type, &type));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(ohsm_password_check((const char *)q->password.data, q->password.len));
    lock(h);
    enum ohsm_utype mine = session_type(h, s, &me);
    rv = ohsm_store_user_by_name(h->store, name, &u);
    unlock(h);
    if (rv == OHSM_USER_NOT_FOUND && mine != OHSM_UT_CO) {
        /* Only an admin may learn whether another user exists. */
        rv = ohsm_perm_check(OHSM_OP_CHANGE_ANY_PW, mine);
    }
    if (rv != OHSM_OK) {
        goto out;
    }
    bool self = s->logged_in && u.id == s->uid;
    rv = ohsm_perm_check(self ? OHSM_OP_CHANGE_OWN_PW : OHSM_OP_CHANGE_ANY_PW, mine);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (u.type != type && !(type == OHSM_UT_CO && u.type == OHSM_UT_PRECO)) {
        rv = OHSM_USER_TYPE_INVALID;
        goto out;
    }
    /* The PRECO setting its own password is cluster activation: it becomes an admin (CO). */
    new_type = u.type == OHSM_UT_PRECO ? OHSM_UT_CO : u.type;
    if ((rv = ohsm_pwhash_make(&h->cost, q->password.data, q->password.len, rec)) != OHSM_OK) {
        goto out;
    }
    lock(h);
    rv = ohsm_store_user_set_password(h->store, u.id, rec, new_type);
    unlock(h);
    if (rv == OHSM_OK) {
        r->user.user_id = u.id;
        r->user.user_type = (uint32_t)new_type;
        r->user.activated = new_type != u.type;
        r->resp.body_case = OHSM__RESPONSE__BODY_USER;
        r->resp.user = &r->user;
    }
out:
    OPENSSL_cleanse(rec, sizeof(rec));
    OPENSSL_cleanse(&u, sizeof(u));
    OPENSSL_cleanse(&me, sizeof(me));
    return rv;
}

static ohsm_rv do_info(struct ohsm_hsm *h, struct ohsm_reply *r)
{
    struct ohsm_store_meta m;
    uint32_t users = 0;
    ohsm_rv rv;

    OHSM_TRY(ohsm_perm_check(OHSM_OP_CLUSTER_INFO, OHSM_UT_NONE));
    lock(h);
    rv = ohsm_store_meta(h->store, &m);
    if (rv == OHSM_OK) {
        rv = ohsm_store_user_count(h->store, -1, &users);
    }
    unlock(h);
    OHSM_TRY(rv);
    Ohsm__HsmInfoResp *i = &r->info;
    i->hsm_id = h->meta.hsm_id;
    i->cluster_id = h->meta.cluster_id;
    i->serial = h->meta.serial;
    i->model = (char *)OHSM_HSM_MODEL;
    i->vendor = (char *)OHSM_HSM_VENDOR;
    i->firmware = (char *)OHSM_HSM_FIRMWARE;
    i->activated = m.activated;
    i->users = users;
    i->max_users = OHSM_MAX_USERS;
    i->sessions = atomic_load(&h->sessions);
    i->max_sessions = h->max_sessions;
    i->lockout_attempts = h->meta.lockout_attempts;
    i->fips = false;
    r->resp.body_case = OHSM__RESPONSE__BODY_INFO;
    r->resp.info = i;
    return OHSM_OK;
}

void ohsm_dispatch(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__Request *q,
                   struct ohsm_reply *r)
{
    ohsm_rv rv;

    ohsm__hello_resp__init(&r->hello);
    ohsm__login_resp__init(&r->login);
    ohsm__list_users_resp__init(&r->users);
    ohsm__user_resp__init(&r->user);
    ohsm__hsm_info_resp__init(&r->info);
    switch (q->op_case) {
    case OHSM__REQUEST__OP_HELLO:
        r->hello.version = 1;
        r->hello.hsm_id = h->meta.hsm_id;
        r->hello.cluster_id = h->meta.cluster_id;
        r->resp.body_case = OHSM__RESPONSE__BODY_HELLO;
        r->resp.hello = &r->hello;
        rv = OHSM_OK;
        break;
    case OHSM__REQUEST__OP_LOGIN:
        rv = do_login(h, s, q->login, r);
        break;
    case OHSM__REQUEST__OP_LOGOUT:
        rv = s->logged_in ? OHSM_OK : OHSM_USER_NOT_LOGGED_IN;
        s->logged_in = false;
        s->uid = 0;
        break;
    case OHSM__REQUEST__OP_LIST_USERS:
        rv = do_list(h, r);
        break;
    case OHSM__REQUEST__OP_CREATE_USER:
        rv = do_create(h, s, q->create_user, r);
        break;
    case OHSM__REQUEST__OP_DELETE_USER:
        rv = do_delete(h, s, q->delete_user, r);
        break;
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        rv = do_change_pw(h, s, q->change_password, r);
        break;
    case OHSM__REQUEST__OP_HSM_INFO:
        rv = do_info(h, r);
        break;
    default:
        rv = OHSM_PROTOCOL;
        break;
    }
    if (rv != OHSM_OK) {
        r->resp.body_case = OHSM__RESPONSE__BODY__NOT_SET;
    }
    r->resp.rv = (uint32_t)rv;
}
