/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM's shared state that every handler uses: the reply arena, the store lock, the clock,
 * sessions (login, logout, the cached user type re-read whenever any user changed: h->user_gen,
 * so a deleted or changed user loses its rights at once while cryptography needs no SQL) and the
 * permission-table check. Handlers (users.c, keys.c, crypto.c, masked.c, userrec.c, auth.c) call
 * down into it; dispatch.c only routes.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "hsm/handlers.h"
#include "openhsm/perm.h"
#include "openhsm/user.h"

struct ohsm_reply_chunk {
    struct ohsm_reply_chunk *next;
    size_t n;
    bool secret; /* wipe before freeing */
    alignas(max_align_t) uint8_t data[];
};

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
    while (r->arena != NULL) {
        struct ohsm_reply_chunk *c = r->arena;
        r->arena = c->next;
        if (c->secret) {
            OPENSSL_cleanse(c->data, c->n);
        }
        free(c);
    }
    OPENSSL_cleanse(r->iv, sizeof(r->iv));
}

static void *reply_alloc(struct ohsm_reply *r, size_t n, bool secret)
{
    if (n > OHSM_MASK_MAX * 64) {
        return NULL;
    }
    struct ohsm_reply_chunk *c = calloc(1, sizeof(*c) + n);
    if (c == NULL) {
        return NULL;
    }
    c->n = n;
    c->secret = secret;
    c->next = r->arena;
    r->arena = c;
    return c->data;
}

void *ohsm_reply_alloc(struct ohsm_reply *r, size_t n)
{
    return reply_alloc(r, n, true);
}

void *ohsm_reply_alloc_public(struct ohsm_reply *r, size_t n)
{
    return reply_alloc(r, n, false);
}

void ohsm_hsm_lock(struct ohsm_hsm *h)
{
    (void)pthread_mutex_lock(&h->lock);
}

void ohsm_hsm_unlock(struct ohsm_hsm *h)
{
    (void)pthread_mutex_unlock(&h->lock);
}

static void lock(struct ohsm_hsm *h)
{
    ohsm_hsm_lock(h);
}

static void unlock(struct ohsm_hsm *h)
{
    ohsm_hsm_unlock(h);
}

uint64_t ohsm_hsm_now(const struct ohsm_hsm *h)
{
    if (h->now != NULL) {
        return h->now();
    }
    time_t t = time(NULL);
    return t < 0 ? 0 : (uint64_t)t;
}

uint32_t ohsm_hsm_token_lifetime(const struct ohsm_hsm *h)
{
    return h->token_lifetime != 0 ? h->token_lifetime : OHSM_TOKEN_LIFETIME_DEFAULT;
}

void ohsm_hsm_users_changed(struct ohsm_hsm *h)
{
    atomic_fetch_add(&h->user_gen, 1);
}

void ohsm_session_init(struct ohsm_hsm *h, struct ohsm_session *s)
{
    memset(s, 0, sizeof(*s));
    s->serial = atomic_fetch_add(&h->next_serial, 1) + 1;
}

/* locked: the caller holds h->lock. */
void ohsm_session_logout(struct ohsm_hsm *h, struct ohsm_session *s, bool locked)
{
    if (!locked) {
        lock(h);
    }
    ohsm_hsm_auth_session_end_locked(h, s); /* pending MFA token, quorum tokens */
    if (s->logged_in) {
        ohsm_ustate_session_del(&h->ustate, s->uid);
    }
    /* Its session objects die with the login, or with the last login of its group. */
    uint64_t dead = s->group;
    if (s->group_shared && !ohsm_sgroups_leave(&h->sgroups, s->group)) {
        dead = 0;
    }
    s->group = 0;
    s->group_shared = false;
    if (!locked) {
        unlock(h);
    }
    if (s->logged_in) {
        atomic_fetch_sub(&h->sessions, 1); /* the slot ohsm_hsm_session_login took */
    }
    s->logged_in = false;
    s->uid = 0;
    s->type = OHSM_UT_NONE;
    memset(s->user, 0, sizeof(s->user));
    if (h->objs != NULL && dead != 0) {
        ohsm_objtab_end_session(h->objs, dead);
    }
}

void ohsm_session_end(struct ohsm_hsm *h, struct ohsm_session *s)
{
    ohsm_session_logout(h, s, false);
}

enum ohsm_utype ohsm_hsm_session_type_locked(struct ohsm_hsm *h, struct ohsm_session *s)
{
    struct ohsm_store_user u;
    if (!s->logged_in) {
        return OHSM_UT_NONE;
    }
    /* Read the generation first: a change racing with the re-read bumps it again. */
    unsigned gen = atomic_load(&h->user_gen);
    if (gen == s->gen) {
        return s->type;
    }
    if (ohsm_store_user_by_id(h->store, s->uid, &u) != OHSM_OK) {
        ohsm_session_logout(h, s, true); /* deleted meanwhile */
        return OHSM_UT_NONE;
    }
    s->type = u.type;
    memcpy(s->user, u.name, sizeof(s->user));
    s->gen = gen;
    OPENSSL_cleanse(&u, sizeof(u));
    return s->type;
}

enum ohsm_utype ohsm_hsm_session_type(struct ohsm_hsm *h, struct ohsm_session *s)
{
    if (!s->logged_in) {
        return OHSM_UT_NONE;
    }
    if (atomic_load(&h->user_gen) == s->gen) {
        return s->type; /* the crypto path: no lock, no SQL */
    }
    lock(h);
    enum ohsm_utype t = ohsm_hsm_session_type_locked(h, s);
    unlock(h);
    return t;
}

ohsm_rv ohsm_hsm_check(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_op op,
                       enum ohsm_utype *t)
{
    enum ohsm_utype mine = ohsm_hsm_session_type(h, s);
    if (t != NULL) {
        *t = mine;
    }
    return ohsm_perm_check(op, mine);
}

ohsm_rv ohsm_hsm_load(struct ohsm_hsm *h, size_t *skipped)
{
    OHSM_ENSURE(h->store != NULL && h->mk != NULL && h->objs == NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_objtab_new(&h->objs));
    return ohsm_objtab_load(h->objs, h->store, h->mk, skipped);
}

ohsm_rv ohsm_hsm_wire_type(uint32_t t, enum ohsm_utype *out)
{
    OHSM_ENSURE(t >= OHSM_UT_PRECO && t <= OHSM_UT_MAX, OHSM_USER_TYPE_INVALID);
    *out = (enum ohsm_utype)t;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_session_login(struct ohsm_hsm *h, struct ohsm_session *s,
                               const struct ohsm_store_user *u, unsigned gen_before,
                               const ProtobufCBinaryData *group, struct ohsm_reply *r)
{
    /* Only logged-in sessions count against max_sessions (server.c bounds the others). Compare
     * and increment, so that racing logins never take more than max_sessions slots. */
    unsigned n = atomic_load(&h->sessions);
    do {
        OHSM_ENSURE(n < h->max_sessions, OHSM_SESSION_COUNT);
    } while (!atomic_compare_exchange_weak(&h->sessions, &n, n + 1));
    uint64_t id = atomic_fetch_add(&h->next_serial, 1) + 1, gid = id;
    bool shared = group != NULL && group->len == OHSM_SGROUP_TOKEN_LEN;
    ohsm_rv urv = shared ? ohsm_sgroups_join(&h->sgroups, group->data, u->id, id, &gid) : OHSM_OK;
    if (urv == OHSM_OK) {
        urv = ohsm_ustate_session_add(&h->ustate, u->id);
        if (urv != OHSM_OK && shared) {
            (void)ohsm_sgroups_leave(&h->sgroups, gid); /* a group just made has no objects yet */
        }
    }
    if (urv != OHSM_OK) {
        atomic_fetch_sub(&h->sessions, 1);
        return urv;
    }
    s->group = gid;
    s->group_shared = shared;
    s->logged_in = true;
    s->uid = u->id;
    s->type = u->type;
    /* The generation read before the user was: a change since then forces a re-read. */
    s->gen = gen_before;
    memcpy(s->user, u->name, sizeof(s->user));
    memcpy(r->name, u->name, sizeof(u->name));
    r->login.user_type = (uint32_t)u->type;
    r->login.user_id = u->id;
    r->login.username = r->name;
    r->resp.body_case = OHSM__RESPONSE__BODY_LOGIN;
    r->resp.login = &r->login;
    return OHSM_OK;
}

/* After a password or signature checked out for user u (read before the check, outside the
 * lock): is u still the same user with the same secret? A password changed or the user deleted
 * while the check ran must not let the old secret in. Caller holds h->lock. */
