/* SPDX-License-Identifier: Apache-2.0
 *
 * User handlers of the HSM: login (lockout that holds under concurrency), the user list, creation
 * (one id on every HSM), deletion (a tombstone; the user's shares go with it), password changes
 * (versioned records, the logged-in-user rule), HSM info and the admin services' quorum values.
 * Inputs were validated for shape by the wire decoder; the user rules (names, passwords, types)
 * are applied here. Passwords are hashed and verified outside the store lock; secrets are wiped
 * by the caller's request free. A user with an MFA key logs in only through auth.c's two steps;
 * managing other users needs the user service's quorum approval when its value is above 1.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "hsm/handlers.h"
#include "hsm/hwinfo.h"
#include "openhsm/perm.h"
#include "openhsm/user.h"

static void lock(struct ohsm_hsm *h)
{
    ohsm_hsm_lock(h);
}

static void unlock(struct ohsm_hsm *h)
{
    ohsm_hsm_unlock(h);
}

static ohsm_rv check(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_op op)
{
    return ohsm_hsm_check(h, s, op, NULL);
}

ohsm_rv ohsm_hsm_login_recheck_locked(struct ohsm_hsm *h, const struct ohsm_store_user *u)
{
    struct ohsm_store_user now;
    ohsm_rv rv = ohsm_store_user_by_id(h->store, u->id, &now);
    if (rv == OHSM_USER_NOT_FOUND ||
        (rv == OHSM_OK && (strcmp(now.name, u->name) != 0 ||
                           CRYPTO_memcmp(now.pwrec, u->pwrec, sizeof(now.pwrec)) != 0))) {
        rv = OHSM_PIN_INCORRECT;
    }
    OPENSSL_cleanse(&now, sizeof(now));
    return rv;
}

/* How long an attempt waits for another attempt of the same user to end (when the limit's worth
 * are being checked at once), polling; then it is refused as locked. */
#define ATTEMPT_WAIT_MS 20000
#define ATTEMPT_POLL_MS 5

ohsm_rv ohsm_hsm_attempt_begin(struct ohsm_hsm *h, struct ohsm_store_user *u)
{
    struct timespec pause = {0, ATTEMPT_POLL_MS * 1000000L};
    ohsm_rv rv = OHSM_PIN_LOCKED;
    for (int waited = 0;; waited += ATTEMPT_POLL_MS) {
        bool busy = false;
        struct ohsm_store_user now;
        lock(h);
        rv = ohsm_store_user_by_id(h->store, u->id, &now); /* the counter as it is now */
        if (rv == OHSM_OK) {
            u->fail_count = now.fail_count;
            rv = ohsm_ustate_attempt_take(&h->ustate, u->id, now.fail_count,
                                          h->meta.lockout_attempts, &busy);
        }
        unlock(h);
        OPENSSL_cleanse(&now, sizeof(now));
        if (rv == OHSM_USER_NOT_FOUND) {
            return OHSM_PIN_INCORRECT; /* deleted meanwhile: as an unknown name */
        }
        if (rv != OHSM_PIN_LOCKED || !busy || waited >= ATTEMPT_WAIT_MS) {
            return rv;
        }
        /* Others are checking the limit's worth of attempts: one of them may succeed (and reset
         * the counter) or fail (and use the slot up). Wait for it instead of guessing. */
        (void)nanosleep(&pause, NULL);
    }
}

/* Lockout that holds under concurrency: the attempt takes its failure slot (in memory, under the
 * lock) before the password is hashed, so at most the limit of wrong guesses per user is ever
 * evaluated on this HSM however many connections try at once, and a locked user costs no hashing.
 * The slot becomes a stored failure when the password is wrong and is given back otherwise; an
 * attempt beyond the slots waits for one (ohsm_hsm_attempt_begin), so legitimate logins that
 * arrive together are not refused. */
ohsm_rv ohsm_hsm_login(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__LoginReq *q,
                        struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    struct ohsm_store_user u;
    enum ohsm_utype want;
    uint32_t count = 0;
    ohsm_rv rv;

    OHSM_ENSURE(!s->logged_in, OHSM_USER_ALREADY_LOGGED_IN);
    unsigned gen_before = atomic_load(&h->user_gen);
    OHSM_TRY(ohsm_hsm_wire_type(q->user_type, &want));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(ohsm_password_check((const char *)q->password.data, q->password.len));

    memset(&u, 0, sizeof(u));
    lock(h);
    rv = ohsm_store_user_by_name(h->store, name, &u);
    /* "admin" in the CLI names both the CO and the PRECO. */
    if (rv == OHSM_OK && want != u.type && !(want == OHSM_UT_CO && u.type == OHSM_UT_PRECO)) {
        rv = OHSM_USER_TYPE_INVALID;
    } else if (rv == OHSM_OK && u.mfa) {
        rv = OHSM_MFA_REQUIRED; /* before any password work: nothing is counted */
    }
    unlock(h);
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_attempt_begin(h, &u);
    }
    if (rv == OHSM_USER_NOT_FOUND) {
        rv = OHSM_PIN_INCORRECT; /* do not tell which of name or password is wrong */
    }
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_pwhash_verify(u.pwrec, sizeof(u.pwrec), q->password.data, q->password.len);
    lock(h);
    ohsm_ustate_attempt_put(&h->ustate, u.id);
    if (rv == OHSM_PIN_INCORRECT) {
        ohsm_rv rv2 = ohsm_store_fail_inc(h->store, u.id, &count);
        if (rv2 != OHSM_OK) {
            rv = rv2;
        }
    } else if (rv == OHSM_OK) {
        rv = ohsm_hsm_login_recheck_locked(h, &u);
        if (rv == OHSM_OK) {
            /* The slot first: a login refused for want of one changes nothing. */
            rv = ohsm_hsm_session_login(h, s, &u, gen_before, &q->group, r);
        }
        if (rv == OHSM_OK && u.fail_count != 0) {
            rv = ohsm_store_fail_reset(h->store, u.id);
            if (rv != OHSM_OK) {
                ohsm_session_logout(h, s, true);
            }
        }
    }
    unlock(h);
out:
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

ohsm_rv ohsm_hsm_list_users(struct ohsm_hsm *h, struct ohsm_reply *r)
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

/* The id of a new user: the one another HSM gave (want != 0; refused when taken here, so one id
 * names one user on every HSM), or this HSM's next (never one used before, nor one handed to a
 * creation still running). Caller holds h->lock. */
static ohsm_rv user_id_locked(struct ohsm_hsm *h, uint32_t want, const char *name, uint32_t *id)
{
    struct ohsm_store_user u;
    struct ohsm_store_utomb t;
    uint32_t next = 0;
    ohsm_rv rv = ohsm_store_user_by_name(h->store, name, &u);
    bool same_id = rv == OHSM_OK && want != 0 && u.id == want;
    OPENSSL_cleanse(&u, sizeof(u));
    if (same_id) {
        *id = want; /* perhaps this very creation, already copied here by a repair: see below */
        return OHSM_OK;
    }
    OHSM_ENSURE(rv != OHSM_OK, OHSM_USER_EXISTS);
    OHSM_ENSURE(rv == OHSM_USER_NOT_FOUND, rv);
    if (want != 0) {
        rv = ohsm_store_user_by_id(h->store, want, &u);
        OPENSSL_cleanse(&u, sizeof(u));
        if (rv == OHSM_USER_NOT_FOUND) {
            rv = ohsm_store_user_tomb_get(h->store, want, &t);
        }
        OHSM_ENSURE(rv != OHSM_OK, OHSM_USER_EXISTS);
        OHSM_ENSURE(rv == OHSM_USER_NOT_FOUND, rv);
        *id = want;
        return OHSM_OK;
    }
    OHSM_TRY(ohsm_store_user_next_id(h->store, &next));
    if (next <= h->uid_reserved) {
        OHSM_ENSURE(h->uid_reserved < UINT32_MAX, OHSM_USER_TOO_MANY);
        next = h->uid_reserved + 1;
    }
    h->uid_reserved = next;
    *id = next;
    return OHSM_OK;
}

/* Is user id exactly what this creation makes (name, type, version 1, the password record every
 * HSM derives for it)? A repair running beside the creator may have copied it here first (it saw
 * the user on the HSM that gave the id); then the creation is done, not refused. */
static bool same_creation_locked(struct ohsm_hsm *h, uint32_t id, const char *name,
                                 enum ohsm_utype type, const uint8_t rec[OHSM_PWHASH_LEN])
{
    struct ohsm_store_user u;
    bool same = ohsm_store_user_by_id(h->store, id, &u) == OHSM_OK && strcmp(u.name, name) == 0 &&
                u.type == type && u.version == 1 &&
                CRYPTO_memcmp(u.pwrec, rec, OHSM_PWHASH_LEN) == 0;
    OPENSSL_cleanse(&u, sizeof(u));
    return same;
}

ohsm_rv ohsm_hsm_create_user(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__CreateUserReq *q,
                         struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    uint8_t rec[OHSM_PWHASH_LEN];
    enum ohsm_utype type;
    uint64_t ticket = 0;
    uint32_t id = 0;
    ohsm_rv rv;

    OHSM_TRY(check(h, s, OHSM_OP_MANAGE_USERS));
    OHSM_TRY(ohsm_hsm_wire_type(q->user_type, &type));
    OHSM_ENSURE(type != OHSM_UT_PRECO, OHSM_USER_TYPE_INVALID);
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(ohsm_password_check((const char *)q->password.data, q->password.len));
    lock(h);
    rv = user_id_locked(h, q->user_id, name, &id);
    unlock(h);
    OHSM_TRY(rv);
    /* The record every HSM makes for this user at version 1 (derived salt). */
    OHSM_TRY(ohsm_hsm_pwhash(h, id, 1, q->password.data, q->password.len, rec));
    rv = ohsm_hsm_quorum_guard(h, s, OHSM_QS_USER, q->approval, &ticket);
    if (rv == OHSM_OK) {
        lock(h);
        rv = ohsm_perm_check(OHSM_OP_MANAGE_USERS, ohsm_hsm_session_type_locked(h, s));
        if (rv == OHSM_OK) {
            rv = ohsm_store_user_add_id(h->store, id, name, type, rec);
        }
        if (rv == OHSM_USER_EXISTS && q->user_id != 0 && same_creation_locked(h, id, name, type, rec)) {
            rv = OHSM_OK; /* a repair copied this creation here first: done, nothing to change */
        } else if (rv == OHSM_OK) {
            ohsm_hsm_users_changed(h);
        }
        ohsm_hsm_quorum_end_locked(h, ticket, rv == OHSM_OK);
        unlock(h);
    }
    OPENSSL_cleanse(rec, sizeof(rec));
    OHSM_TRY(rv);
    r->user.user_id = id;
    r->user.user_type = (uint32_t)type;
    r->resp.body_case = OHSM__RESPONSE__BODY_USER;
    r->resp.user = &r->user;
    return OHSM_OK;
}

struct owner_find {
    const struct ohsm_store_user *u;
    bool found;
};

static bool owner_is(void *arg, const struct ohsm_objent *e)
{
    struct owner_find *c = arg;
    if (ohsm_obj_owned_by(&e->rec, c->u->id, c->u->name)) {
        c->found = true;
        return false;
    }
    return true;
}

bool ohsm_hsm_user_owns_keys(struct ohsm_hsm *h, const struct ohsm_store_user *u)
{
    struct owner_find c = {u, false};
    if (h->objs != NULL) {
        ohsm_objtab_walk(h->objs, 0, owner_is, &c);
    }
    return c.found;
}

/* Token keys shared with a user, collected for forget_shares (the walk may not change the
 * table). */
struct shared_find {
    const struct ohsm_store_user *u;
    uint64_t handle[64];
    size_t n;
    uint64_t last;
};

static bool shared_with(void *arg, const struct ohsm_objent *e)
{
    struct shared_find *c = arg;
    c->last = e->rec.handle;
    if (e->session == 0 && !ohsm_obj_owned_by(&e->rec, c->u->id, c->u->name) &&
        ohsm_obj_usable_by(&e->rec, c->u->id, c->u->name)) {
        c->handle[c->n++] = e->rec.handle;
    }
    return c->n < sizeof(c->handle) / sizeof(c->handle[0]);
}

/* A deleted user's shares go with it: each key shared with u loses the share (a new version of
 * the key; every HSM makes the same change when it deletes the user). Ids are never reused, so a
 * share left behind (an HSM that missed the deletion) grants nothing; repair then copies the
 * newer key record. Caller holds h->lock. */
static void forget_shares_locked(struct ohsm_hsm *h, const struct ohsm_store_user *u)
{
    struct shared_find c;
    memset(&c, 0, sizeof(c));
    c.u = u;
    for (;;) {
        c.n = 0;
        uint64_t after = c.last;
        ohsm_objtab_walk(h->objs, after, shared_with, &c);
        for (size_t i = 0; i < c.n; i++) {
            struct ohsm_objent *e = ohsm_objtab_get(h->objs, c.handle[i]);
            struct ohsm_reply scratch;
            if (e == NULL) {
                continue;
            }
            struct ohsm_obj o = e->rec;
            ohsm_reply_init(&scratch, 0);
            if (ohsm_obj_forget_user(&o, u->id, u->name)) {
                o.version = e->rec.version + 1;
                ohsm_rv rv = ohsm_hsm_replace_locked(h, e, &o, &scratch);
                (void)rv; /* best effort: a share left behind grants nothing (see above) */
            }
            ohsm_reply_clear(&scratch);
            ohsm_objent_put(e);
        }
        if (c.n < sizeof(c.handle) / sizeof(c.handle[0]) || c.last == after) {
            break;
        }
    }
}

ohsm_rv ohsm_hsm_delete_user(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__DeleteUserReq *q,
                         struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    struct ohsm_store_user u;
    enum ohsm_utype type;
    uint64_t ticket = 0;
    ohsm_rv rv;

    memset(&u, 0, sizeof(u));
    OHSM_TRY(ohsm_hsm_wire_type(q->user_type, &type));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(check(h, s, OHSM_OP_MANAGE_USERS)); /* before asking for a quorum */
    OHSM_TRY(ohsm_hsm_quorum_guard(h, s, OHSM_QS_USER, q->approval, &ticket));
    lock(h);
    rv = ohsm_perm_check(OHSM_OP_MANAGE_USERS, ohsm_hsm_session_type_locked(h, s));
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
    } else if (ohsm_hsm_user_owns_keys(h, &u)) {
        rv = OHSM_USER_OWNS_KEYS; /* CloudHSM: "You can't delete crypto users that own keys" */
    } else {
        rv = ohsm_store_user_del(h->store, u.id);
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_users_changed(h);
        if (h->objs != NULL) {
            forget_shares_locked(h, &u);
        }
    }
    if (rv == OHSM_OK) {
        r->user.user_id = u.id;
        r->user.user_type = (uint32_t)u.type;
        r->resp.body_case = OHSM__RESPONSE__BODY_USER;
        r->resp.user = &r->user;
    }
out:
    ohsm_hsm_quorum_end_locked(h, ticket, rv == OHSM_OK);
    unlock(h);
    OPENSSL_cleanse(&u, sizeof(u));
    return rv;
}

ohsm_rv ohsm_hsm_change_password(struct ohsm_hsm *h, struct ohsm_session *s,
                            const Ohsm__ChangePasswordReq *q, struct ohsm_reply *r)
{
    char name[OHSM_USERNAME_MAX + 1];
    uint8_t rec[OHSM_PWHASH_LEN];
    struct ohsm_store_user u;
    enum ohsm_utype type;
    enum ohsm_utype new_type;
    uint64_t ticket = 0;
    ohsm_rv rv;

    memset(&u, 0, sizeof(u));
    memset(rec, 0, sizeof(rec));
    OHSM_TRY(ohsm_hsm_wire_type(q->user_type, &type));
    OHSM_TRY(ohsm_username_canon(q->username, name, sizeof(name)));
    OHSM_TRY(ohsm_password_check((const char *)q->password.data, q->password.len));
    lock(h);
    enum ohsm_utype mine = ohsm_hsm_session_type_locked(h, s);
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
    rv = ohsm_hsm_pwhash(h, u.id, u.version + 1, q->password.data, q->password.len, rec);
    if (rv != OHSM_OK) {
        goto out;
    }
    /* Another user's password is the user service's; one's own needs no quorum. */
    if (!self &&
        (rv = ohsm_hsm_quorum_guard(h, s, OHSM_QS_USER, q->approval, &ticket)) != OHSM_OK) {
        goto out;
    }
    lock(h);
    rv = ohsm_hsm_pw_change_allowed_locked(h, s, u.id);
    if (rv == OHSM_OK) {
        rv = ohsm_store_begin(h->store);
        if (rv == OHSM_OK) {
            /* From the version the record was made for: a change meanwhile fails it. */
            rv = ohsm_store_user_bump(h->store, u.id, u.version);
            if (rv == OHSM_OK) {
                rv = ohsm_store_user_set_password(h->store, u.id, rec, new_type);
            }
            rv = ohsm_hsm_tx_end(h, rv);
        }
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_users_changed(h);
    }
    ohsm_hsm_quorum_end_locked(h, ticket, rv == OHSM_OK);
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
    return rv;
}

ohsm_rv ohsm_hsm_pw_change_allowed_locked(struct ohsm_hsm *h, const struct ohsm_session *s,
                                          uint32_t uid)
{
    uint32_t mine = s->logged_in && s->uid == uid ? 1 : 0;
    return ohsm_ustate_sessions(&h->ustate, uid) > mine ? OHSM_USER_LOGGED_IN : OHSM_OK;
}

ohsm_rv ohsm_hsm_info(struct ohsm_hsm *h, struct ohsm_reply *r)
{
    struct ohsm_store_meta m;
    struct ohsm_hwinfo hw;
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
    /* The rest as true for a software HSM: no PCI device or flags (0), the host's memory and
     * no separate private memory, openhsm's version as hardware and firmware. */
    ohsm_hwinfo_read(&hw);
    i->total_public_memory = hw.total_kib;
    i->free_public_memory = hw.free_kib;
    i->hardware_major = hw.version_major;
    i->hardware_minor = hw.version_minor;
    i->firmware_major = hw.version_major;
    i->firmware_minor = hw.version_minor;
    i->build_number = hw.build;
    i->temperature_known = hw.temperature_known;
    i->temperature = hw.temperature;
    i->firmware_id = (char *)hw.firmware_id;
    r->resp.body_case = OHSM__RESPONSE__BODY_INFO;
    r->resp.info = i;
    return OHSM_OK;
}

/* ---- quorum values (auth.c has the tokens and the guard) ---- */

/* The admin services' values are settings of the user-management kind: admins set them, under
 * the quorum service's own value; anyone may read them. */
ohsm_rv ohsm_hsm_quorum_values(struct ohsm_hsm *h, struct ohsm_reply *r)
{
    OHSM_TRY(ohsm_perm_check(OHSM_OP_CLUSTER_INFO, OHSM_UT_NONE)); /* open to everyone */
    uint32_t *v[] = {&r->qvalues.user, &r->qvalues.quorum, &r->qvalues.cluster};
    ohsm_rv rv = OHSM_OK;
    ohsm_hsm_lock(h);
    for (int i = 0; i < 3 && rv == OHSM_OK; i++) {
        rv = ohsm_store_quorum_get(h->store, OHSM_QS_USER + i, v[i]); /* user, quorum, cluster */
    }
    ohsm_hsm_unlock(h);
    OHSM_TRY(rv);
    r->resp.body_case = OHSM__RESPONSE__BODY_QVALUES;
    r->resp.qvalues = &r->qvalues;
    return OHSM_OK;
}

/* Can enough admins that have a quorum key approve value? (1 needs nobody.) */
static ohsm_rv value_reachable_locked(struct ohsm_hsm *h, uint32_t value)
{
    struct ohsm_store_user *list = NULL;
    size_t count = 0;
    uint32_t admins = 0;
    if (value <= 1) {
        return OHSM_OK;
    }
    OHSM_TRY(ohsm_store_user_list(h->store, &list, &count));
    for (size_t i = 0; i < count; i++) {
        admins += list[i].type == OHSM_UT_CO && list[i].mofn;
    }
    if (list != NULL) {
        OPENSSL_cleanse(list, count * sizeof(*list)); /* password records */
    }
    free(list);
    return value <= admins ? OHSM_OK : OHSM_QUORUM_VALUE_INVALID;
}

ohsm_rv ohsm_hsm_quorum_set(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__QuorumSetReq *q,
                            struct ohsm_reply *r)
{
    uint64_t ticket = 0;

    (void)r;
    OHSM_ENSURE(q != NULL, OHSM_PROTOCOL);
    /* "add, remove users" is the admins-only row of the table. */
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_MANAGE_USERS, NULL));
    OHSM_ENSURE(q->service == OHSM_QS_USER || q->service == OHSM_QS_QUORUM ||
                    q->service == OHSM_QS_CLUSTER,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(q->value >= 1 && q->value <= OHSM_QUORUM_MAX, OHSM_QUORUM_VALUE_INVALID);
    ohsm_hsm_lock(h);
    ohsm_rv rv = value_reachable_locked(h, q->value);
    ohsm_hsm_unlock(h);
    OHSM_TRY(rv);
    OHSM_TRY(ohsm_hsm_quorum_guard(h, s, OHSM_QS_QUORUM, q->approval, &ticket));
    ohsm_hsm_lock(h);
    rv = value_reachable_locked(h, q->value); /* again: an admin may have gone meanwhile */
    if (rv == OHSM_OK) {
        rv = ohsm_store_quorum_set(h->store, (int)q->service, q->value);
    }
    ohsm_hsm_quorum_end_locked(h, ticket, rv == OHSM_OK);
    ohsm_hsm_unlock(h);
    return rv;
}

/* MFA and quorum (auth.c). */
