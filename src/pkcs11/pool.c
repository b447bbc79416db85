/* SPDX-License-Identifier: Apache-2.0
 *
 * The pool of libopenhsm clients shared by every session of the application (see p11.h). Each
 * client holds one TLS connection per HSM and is logged in as the PKCS#11 user; a call borrows one
 * for its duration. The pool grows on demand up to its limit, so N threads working at once use N
 * connections to each HSM (each served by its own HSM thread) and idle sessions cost nothing.
 * The clients share one session-object group, renewed at every login and logout, so a login's
 * session objects are visible through every client and die with the login.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "p11.h"

/* A thread whose operation waits in a client's queue (on its stack). */
struct p11_waiter {
    struct ohsm_cop *op;
    struct p11_waiter *next;
    pthread_cond_t cv;
    bool done; /* op ran (op->rv is its result) */
    bool own;  /* the client was handed to this thread: it runs the queue now */
};

bool p11_rv_transport(ohsm_rv rv)
{
    return rv == OHSM_TIMEOUT || rv == OHSM_NOT_CONNECTED || rv == OHSM_TLS || rv == OHSM_IO ||
           rv == OHSM_PROTOCOL;
}

CK_RV p11_rv(ohsm_rv rv, enum p11_ckr_ctx ctx)
{
    if (rv == OHSM_OK) {
        return CKR_OK;
    }
    if (p11_rv_transport(rv)) {
        return CKR_DEVICE_ERROR;
    }
    CK_RV r = p11_ckr(rv, ctx);
    return r == CKR_OK ? CKR_GENERAL_ERROR : r;
}

/* A new pool entry with its client (NULL: out of memory, or *orv the client's error). */
static struct p11_conn *conn_new(struct p11_pool *p, ohsm_rv *orv)
{
    struct p11_conn *c = calloc(1, sizeof *c);
    *orv = OHSM_HOST_MEMORY;
    if (c == NULL) {
        return NULL;
    }
    *orv = ohsm_client_new_flags(p->cfg, p->client_flags, &c->c);
    if (*orv == OHSM_OK) {
        *orv = ohsm_client_set_sgroup(c->c, p->group);
    }
    if (*orv != OHSM_OK) {
        ohsm_client_free(c->c);
        free(c);
        return NULL;
    }
    return c;
}

static void conn_free(struct p11_conn *c)
{
    ohsm_client_free(c->c);
    free(c);
}

/* Wakes one thread waiting for a client, one being free now (p->mu held). A woken thread that
 * finds it taken waits again; whoever took it wakes the next one when giving it back, so no
 * waiter is forgotten. */
static void wake_one(struct p11_pool *p)
{
    if (p->any_waiters > 0) {
        pthread_cond_signal(&p->cv);
    }
}

/* Wakes every waiter (a slot changed: a new client failed). p->mu held. */
static void wake_all(struct p11_pool *p)
{
    pthread_cond_broadcast(&p->cv);
}

CK_RV p11_pool_init(struct p11_pool *p, const struct ohsm_cfg *cfg, size_t max,
                    unsigned client_flags)
{
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->client_flags = client_flags;
    p->max = max < 1 ? 1 : max > P11_POOL_MAX_LIMIT ? P11_POOL_MAX_LIMIT : max;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        return CKR_HOST_MEMORY;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return CKR_HOST_MEMORY;
    }
    if (ohsm_sgroup_new(&p->group) != OHSM_OK) {
        goto fail;
    }
    /* The first connection set now, as CloudHSM's library connects at C_Initialize: HSMs that
     * cannot be reached are not an error (libopenhsm retries them on use). */
    ohsm_rv orv;
    struct p11_conn *c = conn_new(p, &orv);
    if (c == NULL) {
        goto fail;
    }
    p->conn[0] = c;
    p->n = 1;
    return CKR_OK;
fail:
    ohsm_sgroup_free(p->group);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    return CKR_HOST_MEMORY;
}

void p11_pool_fini(struct p11_pool *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->conn[i] != NULL) {
            if (p->logged_in) {
                size_t nh = ohsm_client_hsm_count(p->conn[i]->c);
                struct ohsm_result *res = calloc(nh ? nh : 1, sizeof *res);
                if (res != NULL) {
                    P11_BEST_EFFORT(ohsm_client_logout(p->conn[i]->c, res));
                    free(res);
                }
            }
            conn_free(p->conn[i]);
        }
    }
    ohsm_secret_free(p->pw);
    ohsm_sgroup_free(p->group);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    memset(p, 0, sizeof *p);
}

/* Brings c into the pool's login state (caller owns c, not p->mu). */
static CK_RV sync_login(struct p11_pool *p, struct p11_conn *c)
{
    pthread_mutex_lock(&p->mu);
    unsigned gen = p->login_gen;
    bool want = p->logged_in;
    char user[OHSM_USERNAME_MAX + 1];
    memcpy(user, p->username, sizeof user);
    size_t pw_len = want && p->pw != NULL ? ohsm_secret_len(p->pw) : 0;
    char *pw = NULL;
    if (want) {
        pw = OPENSSL_secure_malloc(pw_len + 1);
        if (pw == NULL) {
            pthread_mutex_unlock(&p->mu);
            return CKR_HOST_MEMORY;
        }
        memcpy(pw, ohsm_secret_data(p->pw), pw_len);
        pw[pw_len] = '\0';
    }
    pthread_mutex_unlock(&p->mu);

    size_t nh = ohsm_client_hsm_count(c->c);
    struct ohsm_result *res = calloc(nh ? nh : 1, sizeof *res);
    CK_RV rv = CKR_OK;
    if (res == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    P11_BEST_EFFORT(ohsm_client_logout(c->c, res));
    if (want) {
        ohsm_rv orv = ohsm_client_login(c->c, OHSM_UT_CU, user, pw, res, NULL);
        bool some = false;
        for (size_t i = 0; i < nh; i++) {
            some = some || res[i].rv == OHSM_OK;
        }
        if (orv != OHSM_OK && !some) {
            p11_log(P11_LOG_WARN, "a new connection set could not log in as %s: %s", user,
                    ohsm_rv_str(orv));
            rv = p11_rv(orv, P11_CTX_LOGIN);
            goto out;
        }
    }
    c->login_gen = gen;
out:
    free(res);
    if (pw != NULL) {
        OPENSSL_secure_clear_free(pw, pw_len + 1);
    }
    return rv;
}

/* A client just borrowed is brought into the pool's login state; on failure it is given back. */
static CK_RV ready(struct p11_pool *p, struct p11_conn *c)
{
    pthread_mutex_lock(&p->mu);
    bool stale = c->login_gen != p->login_gen;
    pthread_mutex_unlock(&p->mu);
    if (stale) {
        CK_RV rv = sync_login(p, c);
        if (rv != CKR_OK) {
            p11_pool_put(p, c);
            return rv;
        }
    }
    return CKR_OK;
}

/* Takes a free client, or reserves a slot for a new one (*fresh). p->mu held. */
static struct p11_conn *take(struct p11_pool *p, bool *fresh, size_t *slot)
{
    *fresh = false;
    for (size_t i = 0; i < p->n; i++) {
        if (p->conn[i] != NULL && !p->conn[i]->busy) {
            return p->conn[i];
        }
    }
    if (p->n < p->max) {
        *fresh = true;
        *slot = p->n++;
    }
    return NULL;
}

CK_RV p11_pool_get(struct p11_pool *p, struct p11_conn **out)
{
    *out = NULL;
    struct p11_conn *c = NULL;
    bool fresh = false;
    size_t slot = 0;
    pthread_mutex_lock(&p->mu);
    while ((c = take(p, &fresh, &slot)) == NULL && !fresh) {
        p->any_waiters++;
        pthread_cond_wait(&p->cv, &p->mu);
        p->any_waiters--;
    }
    if (c != NULL) {
        c->busy = true;
    }
    pthread_mutex_unlock(&p->mu);

    if (fresh) {
        /* A new connection set, opened outside the lock (its slot is reserved, NULL meanwhile). */
        ohsm_rv orv;
        c = conn_new(p, &orv);
        pthread_mutex_lock(&p->mu);
        if (c == NULL) {
            if (slot + 1 == p->n) {
                p->n--; /* else the slot stays a hole, skipped by take() */
            }
            wake_all(p); /* a waiter for any client may open one itself now */
            pthread_mutex_unlock(&p->mu);
            return p11_rv(orv, P11_CTX_CRYPTO);
        }
        c->busy = true;
        c->login_gen = p->login_gen - 1u; /* in no login state yet */
        p->conn[slot] = c;
        pthread_mutex_unlock(&p->mu);
        p11_log(P11_LOG_DEBUG, "opened connection set %zu", slot);
    }

    CK_RV rv = ready(p, c);
    if (rv != CKR_OK) {
        return rv;
    }
    *out = c;
    return CKR_OK;
}

void p11_pool_put(struct p11_pool *p, struct p11_conn *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    /* Queued crypto operations take the client first (their threads sleep until their turn),
     * but not twice in a row while threads wait to borrow a client (p11_pool_get), which would
     * starve them under a steady stream of operations. */
    struct p11_waiter *w = c->qhead;
    if (w != NULL && !(c->handed && p->any_waiters > 0)) {
        c->qhead = w->next;
        if (c->qhead == NULL) {
            c->qtail = NULL;
        }
        c->qlen--;
        c->handed = true;
        w->own = true; /* c stays busy: w's thread holds it now */
        pthread_cond_signal(&w->cv);
    } else {
        c->handed = false;
        c->busy = false;
        wake_one(p);
    }
    pthread_mutex_unlock(&p->mu);
}

/* ---- crypto operations, combined when clients are busy ---- */

/* Operations one holder runs at once: its own and up to COMBINE_MAX - 1 queued ones. */
#define COMBINE_MAX 64

/* op as the plain libopenhsm call (a thread alone: same requests and results as before). */
static void run_single(struct ohsm_client *cl, struct ohsm_cop *op)
{
    uint8_t *o = NULL;
    size_t olen = 0;
    op->out_len = 0;
    op->iv_len = 0;
    switch (op->kind) {
    case OHSM_COP_ENCRYPT:
        op->rv = ohsm_client_encrypt(cl, op->handle, op->m, op->in, op->in_len, &o, &olen, op->iv,
                                     &op->iv_len);
        break;
    case OHSM_COP_DECRYPT:
        op->rv = ohsm_client_decrypt(cl, op->handle, op->m, op->in, op->in_len, &o, &olen);
        break;
    case OHSM_COP_SIGN:
        op->rv = ohsm_client_sign(cl, op->handle, op->m, op->in, op->in_len, &o, &olen);
        break;
    case OHSM_COP_VERIFY:
        op->rv =
            ohsm_client_verify(cl, op->handle, op->m, op->in, op->in_len, op->sig, op->sig_len);
        break;
    default:
        op->rv = OHSM_ARGUMENTS_BAD;
        break;
    }
    if (op->rv == OHSM_OK && o != NULL) {
        op->out_len = olen;
        if (olen > op->out_cap || (op->out == NULL && olen > 0)) {
            op->rv = OHSM_BUFFER_TOO_SMALL;
        } else if (olen > 0) {
            memcpy(op->out, o, olen);
        }
    }
    if (o != NULL) {
        OPENSSL_cleanse(o, olen);
        free(o);
    }
}

/* The holder of c runs its operation and those queued on c, then gives c back. */
static void run_held(struct p11_pool *p, struct p11_conn *c, struct ohsm_cop *mine)
{
    struct p11_waiter *ws[COMBINE_MAX - 1];
    size_t nw = 0;
    pthread_mutex_lock(&p->mu);
    while (c->qhead != NULL && nw < COMBINE_MAX - 1) {
        ws[nw++] = c->qhead;
        c->qhead = c->qhead->next;
        c->qlen--;
    }
    if (c->qhead == NULL) {
        c->qtail = NULL;
    }
    pthread_mutex_unlock(&p->mu);

    if (nw == 0) {
        run_single(c->c, mine);
    } else {
        struct ohsm_cop ops[COMBINE_MAX];
        ops[0] = *mine;
        for (size_t i = 0; i < nw; i++) {
            ops[i + 1] = *ws[i]->op;
        }
        /* Each op gets its own rv (the call returns the first failure's), unless the call failed
         * before or beside them: then every op gets that error, never an empty success. */
        for (size_t i = 0; i < nw + 1; i++) {
            ops[i].rv = OHSM_DEVICE_ERROR;
        }
        ohsm_rv brv = ohsm_client_batch(c->c, ops, nw + 1, nw + 1, SIZE_MAX);
        bool op_failed = false;
        for (size_t i = 0; i < nw + 1; i++) {
            op_failed = op_failed || ops[i].rv != OHSM_OK;
        }
        for (size_t i = 0; brv != OHSM_OK && !op_failed && i < nw + 1; i++) {
            ops[i].rv = brv;
        }
        *mine = ops[0];
        for (size_t i = 0; i < nw; i++) {
            *ws[i]->op = ops[i + 1];
        }
        OPENSSL_cleanse(ops, sizeof ops); /* IVs and buffer pointers only, but cheap */
    }
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < nw; i++) {
        ws[i]->done = true;
        pthread_cond_signal(&ws[i]->cv);
    }
    pthread_mutex_unlock(&p->mu);
    p11_pool_put(p, c);
}

/* The busy client an operation for any client queues on: the least queued one. p->mu held. */
static struct p11_conn *least_queued(struct p11_pool *p)
{
    struct p11_conn *best = NULL;
    for (size_t i = 0; i < p->n; i++) {
        struct p11_conn *c = p->conn[i];
        if (c != NULL && (best == NULL || c->qlen < best->qlen)) {
            best = c;
        }
    }
    return best;
}

CK_RV p11_pool_cop(struct p11_pool *p, struct ohsm_cop *op)
{
    struct p11_conn *c = NULL;
    struct p11_conn *target = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->logged_in) {
        if (p->n >= p->max) {
            bool any_free = false;
            for (size_t i = 0; i < p->n && !any_free; i++) {
                any_free = p->conn[i] != NULL && !p->conn[i]->busy;
            }
            target = any_free ? NULL : least_queued(p);
        }
    }
    if (target == NULL) {
        pthread_mutex_unlock(&p->mu);
        CK_RV rv = p11_pool_get(p, &c);
        if (rv != CKR_OK) {
            return rv;
        }
        run_held(p, c, op);
        return CKR_OK;
    }
    struct p11_waiter w = {.op = op};
    if (pthread_cond_init(&w.cv, NULL) != 0) {
        pthread_mutex_unlock(&p->mu);
        return CKR_HOST_MEMORY;
    }
    if (target->qtail != NULL) {
        target->qtail->next = &w;
    } else {
        target->qhead = &w;
    }
    target->qtail = &w;
    target->qlen++;
    while (!w.done && !w.own) {
        pthread_cond_wait(&w.cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&w.cv);
    if (w.done) {
        return CKR_OK;
    }
    CK_RV rv = ready(p, target); /* handed over: this thread holds target now */
    if (rv != CKR_OK) {
        return rv;
    }
    run_held(p, target, op);
    return CKR_OK;
}

bool p11_pool_logged_in(struct p11_pool *p)
{
    pthread_mutex_lock(&p->mu);
    bool v = p->logged_in;
    pthread_mutex_unlock(&p->mu);
    return v;
}

/* The login's verdict over every HSM: an HSM's refusal of the credentials decides (it counted the
 * failure toward that HSM's lockout); HSMs that could not be reached do not block a login that
 * others accepted (the client logs in there when they are back, as CloudHSM's does). */
static CK_RV login_verdict(ohsm_rv orv, const struct ohsm_result *res, size_t nh, bool *some_ok)
{
    *some_ok = false;
    ohsm_rv refused = OHSM_OK, transport = OHSM_OK;
    for (size_t i = 0; i < nh; i++) {
        if (res[i].rv == OHSM_OK) {
            *some_ok = true;
        } else if (p11_rv_transport(res[i].rv)) {
            transport = transport == OHSM_OK ? res[i].rv : transport;
        } else if (refused == OHSM_OK) {
            refused = res[i].rv;
        }
    }
    if (refused != OHSM_OK) {
        return p11_rv(refused, P11_CTX_LOGIN);
    }
    if (!*some_ok) {
        return orv == OHSM_OK ? CKR_DEVICE_ERROR
                              : p11_rv_transport(orv) ? CKR_DEVICE_REMOVED : p11_rv(orv, P11_CTX_LOGIN);
    }
    return CKR_OK;
}

CK_RV p11_pool_login(struct p11_pool *p, const char *user, const char *pw, size_t pw_len)
{
    struct p11_conn *c = NULL;
    CK_RV rv = p11_pool_get(p, &c);
    if (rv != CKR_OK) {
        return rv;
    }
    /* A new set of session objects for this login (the clients join it as they log in). */
    if (ohsm_sgroup_renew(p->group) != OHSM_OK) {
        p11_pool_put(p, c);
        return CKR_DEVICE_ERROR;
    }
    size_t nh = ohsm_client_hsm_count(c->c);
    struct ohsm_result *res = calloc(nh ? nh : 1, sizeof *res);
    struct ohsm_secret *sec = NULL;
    if (res == NULL || ohsm_secret_new(pw, pw_len, &sec) != OHSM_OK) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    enum ohsm_utype actual = OHSM_UT_CU;
    ohsm_rv orv = ohsm_client_login(c->c, OHSM_UT_CU, user, pw, res, &actual);
    bool some_ok = false;
    rv = login_verdict(orv, res, nh, &some_ok);
    if (rv == CKR_OK && actual != OHSM_UT_CU) {
        rv = CKR_USER_TYPE_INVALID;
    }
    if (orv == OHSM_MFA_REQUIRED || (rv != CKR_OK && nh > 0 && res[0].rv == OHSM_MFA_REQUIRED)) {
        p11_log(P11_LOG_ERROR, "C_Login: user %s has MFA (token-sign) registered; the PKCS#11 "
                               "library cannot sign a login token: use a crypto user without MFA",
                user);
    }
    if (rv != CKR_OK) {
        if (some_ok) {
            P11_BEST_EFFORT(ohsm_client_logout(c->c, res)); /* undo the HSMs that accepted */
        }
        goto out;
    }
    pthread_mutex_lock(&p->mu);
    ohsm_secret_free(p->pw);
    p->pw = sec;
    sec = NULL;
    snprintf(p->username, sizeof p->username, "%s", user);
    p->logged_in = true;
    p->login_gen++;
    c->login_gen = p->login_gen;
    pthread_mutex_unlock(&p->mu);
    p11_log(P11_LOG_INFO, "logged in as crypto user %s", user);
out:
    ohsm_secret_free(sec);
    free(res);
    p11_pool_put(p, c);
    return rv;
}

CK_RV p11_pool_logout(struct p11_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->logged_in = false;
    p->login_gen++;
    ohsm_secret_free(p->pw);
    p->pw = NULL;
    p->username[0] = '\0';
    unsigned gen = p->login_gen;
    /* The logged-out clients' session objects die with their sessions; a client still busy
     * logs out later and must not keep the group alive for a later login. */
    P11_BEST_EFFORT(ohsm_sgroup_renew(p->group));
    /* Idle clients log out now; busy ones when they are next borrowed. */
    struct p11_conn *idle[P11_POOL_MAX_LIMIT];
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->conn[i] != NULL && !p->conn[i]->busy) {
            p->conn[i]->busy = true;
            idle[n++] = p->conn[i];
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        size_t nh = ohsm_client_hsm_count(idle[i]->c);
        struct ohsm_result *res = calloc(nh ? nh : 1, sizeof *res);
        if (res != NULL) {
            P11_BEST_EFFORT(ohsm_client_logout(idle[i]->c, res));
            free(res);
        }
        idle[i]->login_gen = gen;
        p11_pool_put(p, idle[i]);
    }
    return CKR_OK;
}
