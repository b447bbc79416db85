/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm's cluster client: a connection per HSM, requests fanned out to all (sent to every
 * HSM first, then the answers collected, so a slow HSM costs one timeout, not one per HSM), a
 * result per HSM, reconnection of lost HSMs on the next call. The per-HSM login state mirrors
 * what each HSM said. Passwords are never copied: requests point at the caller's buffer and the
 * packed frame is wiped by the wire layer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "client/internal.h"

struct hsm_slot {
    const struct ohsm_cfg_hsm *cfg;
    struct ohsm_conn *conn;
    ohsm_rv last_rv;
    bool logged_in;
    enum ohsm_utype type;
    char username[32];
    int64_t retry_at_ms; /* after a timeout, no new attempt before this (monotonic ms) */
};

/* A hung HSM costs a full timeout per attempt; after one, calls within this window report it at
 * once instead of waiting again. Refused connections (HSM down, restarting) retry every call. */
#define RETRY_AFTER_TIMEOUT_MS 10000

struct ohsm_client {
    const struct ohsm_cfg *cfg;
    SSL_CTX *tls;
    pthread_mutex_t lock;
    size_t n;
    struct hsm_slot *hsm;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note_failure(struct hsm_slot *h, ohsm_rv why)
{
    h->last_rv = why;
    h->retry_at_ms = why == OHSM_TIMEOUT ? now_ms() + RETRY_AFTER_TIMEOUT_MS : 0;
}

static void drop(struct hsm_slot *h, ohsm_rv why)
{
    ohsm_conn_free(h->conn);
    h->conn = NULL;
    h->logged_in = false;
    note_failure(h, why);
}

static ohsm_rv ensure(struct ohsm_client *c, struct hsm_slot *h)
{
    if (h->conn != NULL) {
        return OHSM_OK;
    }
    if (h->retry_at_ms != 0 && now_ms() < h->retry_at_ms) {
        return h->last_rv;
    }
    ohsm_rv rv = ohsm_conn_open(c->tls, h->cfg, c->cfg->timeout_ms, &h->conn);
    h->logged_in = false; /* a new session starts logged out */
    note_failure(h, rv);
    return rv;
}

ohsm_rv ohsm_client_new(const struct ohsm_cfg *cfg, struct ohsm_client **out)
{
    struct ohsm_client *c = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(cfg != NULL && out != NULL && cfg->n > 0, OHSM_ARGUMENTS_BAD);
    c = calloc(1, sizeof(*c));
    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    c->cfg = cfg;
    c->n = cfg->n;
    (void)pthread_mutex_init(&c->lock, NULL);
    c->hsm = calloc(c->n, sizeof(*c->hsm));
    if (c->hsm == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto fail;
    }
    rv = ohsm_conn_ctx(cfg->trust_anchor, &c->tls);
    if (rv != OHSM_OK) {
        goto fail;
    }
    for (size_t i = 0; i < c->n; i++) {
        c->hsm[i].cfg = &cfg->hsms[i];
        (void)ensure(c, &c->hsm[i]);
    }
    *out = c;
    return OHSM_OK;
fail:
    ohsm_client_free(c);
    return rv;
}

void ohsm_client_free(struct ohsm_client *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; c->hsm != NULL && i < c->n; i++) {
        ohsm_conn_free(c->hsm[i].conn);
    }
    free(c->hsm);
    SSL_CTX_free(c->tls);
    (void)pthread_mutex_destroy(&c->lock);
    free(c);
}

size_t ohsm_client_hsm_count(const struct ohsm_client *c)
{
    return c->n;
}

ohsm_rv ohsm_client_hsm_status(struct ohsm_client *c, size_t i, struct ohsm_hsm_status *out)
{
    OHSM_ENSURE(c != NULL && out != NULL && i < c->n, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&c->lock);
    const struct hsm_slot *h = &c->hsm[i];
    memset(out, 0, sizeof(*out));
    memcpy(out->id, h->cfg->id, sizeof(out->id));
    memcpy(out->host, h->cfg->host, sizeof(out->host));
    out->port = h->cfg->port;
    out->connected = h->conn != NULL;
    out->last_rv = h->conn != NULL ? OHSM_OK : h->last_rv;
    out->logged_in = h->logged_in;
    out->user_type = h->logged_in ? h->type : OHSM_UT_NONE;
    if (h->logged_in) {
        memcpy(out->username, h->username, sizeof(out->username));
    }
    (void)pthread_mutex_unlock(&c->lock);
    return OHSM_OK;
}

ohsm_rv ohsm_client_reconnect(struct ohsm_client *c)
{
    ohsm_rv first = OHSM_OK;
    (void)pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        c->hsm[i].retry_at_ms = 0;
        ohsm_rv rv = ensure(c, &c->hsm[i]);
        if (first == OHSM_OK) {
            first = rv;
        }
    }
    (void)pthread_mutex_unlock(&c->lock);
    return first;
}

/* Sends q to HSM `only` (or every HSM when only == SIZE_MAX) and collects the answers: res[i] is
 * each HSM's result and resp[i] (caller frees) its response when it answered. Caller holds lock. */
#define ALL SIZE_MAX
static ohsm_rv fanout(struct ohsm_client *c, Ohsm__Request *q, size_t only,
                      struct ohsm_result *res, Ohsm__Response **resp)
{
    uint64_t *ids = calloc(c->n, sizeof(*ids));
    ohsm_rv first = OHSM_OK;

    OHSM_ENSURE(ids != NULL, OHSM_HOST_MEMORY);
    for (size_t i = 0; i < c->n; i++) {
        struct hsm_slot *h = &c->hsm[i];
        resp[i] = NULL;
        if (only != ALL && i != only) {
            continue;
        }
        res[i].rv = ensure(c, h);
        if (res[i].rv != OHSM_OK) {
            continue;
        }
        q->id = ohsm_conn_next_id(h->conn);
        res[i].rv = ohsm_conn_send(h->conn, q);
        if (res[i].rv != OHSM_OK) {
            drop(h, res[i].rv);
            continue;
        }
        ids[i] = q->id;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct hsm_slot *h = &c->hsm[i];
        if (only != ALL && i != only) {
            continue;
        }
        if (ids[i] != 0) {
            res[i].rv = ohsm_conn_recv(h->conn, ids[i], &resp[i]);
            if (res[i].rv != OHSM_OK) {
                drop(h, res[i].rv);
            } else {
                res[i].rv = (ohsm_rv)resp[i]->rv;
                if (resp[i]->id == 0) {
                    drop(h, res[i].rv); /* the HSM closed the session */
                }
            }
        }
        if (first == OHSM_OK) {
            first = res[i].rv;
        }
    }
    free(ids);
    return first;
}

static void free_resps(struct ohsm_client *c, Ohsm__Response **resp)
{
    for (size_t i = 0; i < c->n; i++) {
        if (resp[i] != NULL) {
            ohsm__response__free_unpacked(resp[i], NULL);
        }
    }
    free(resp);
}

/* Runs one request on all HSMs (or one) under the lock; calls `each` for every HSM that answered
 * OHSM_OK. */
typedef void (*each_fn)(struct hsm_slot *h, const Ohsm__Response *r, void *arg);

static ohsm_rv run(struct ohsm_client *c, Ohsm__Request *q, size_t only, struct ohsm_result *res,
                   each_fn each, void *arg)
{
    Ohsm__Response **resp = calloc(c->n, sizeof(*resp));
    struct ohsm_result *tmp = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(resp != NULL, OHSM_HOST_MEMORY);
    if (res == NULL) {
        tmp = calloc(c->n, sizeof(*tmp));
        if (tmp == NULL) {
            free(resp);
            return OHSM_HOST_MEMORY;
        }
        res = tmp;
    }
    (void)pthread_mutex_lock(&c->lock);
    rv = fanout(c, q, only, res, resp);
    for (size_t i = 0; each != NULL && i < c->n; i++) {
        if (resp[i] != NULL && res[i].rv == OHSM_OK) {
            each(&c->hsm[i], resp[i], arg);
        }
    }
    (void)pthread_mutex_unlock(&c->lock);
    free_resps(c, resp);
    free(tmp);
    return rv;
}

static size_t pw_len(const char *pw)
{
    return strnlen(pw, OHSM_WIRE_SECRET_MAX + 1);
}

struct login_arg {
    enum ohsm_utype actual;
    bool got;
};

static void on_login(struct hsm_slot *h, const Ohsm__Response *r, void *arg)
{
    struct login_arg *a = arg;
    if (r->body_case != OHSM__RESPONSE__BODY_LOGIN) {
        return;
    }
    h->logged_in = true;
    h->type = (enum ohsm_utype)r->login->user_type;
    (void)snprintf(h->username, sizeof(h->username), "%s", r->login->username);
    if (!a->got) {
        a->actual = h->type;
        a->got = true;
    }
}

ohsm_rv ohsm_client_login(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                          const char *password, struct ohsm_result *res, enum ohsm_utype *actual)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq l = OHSM__LOGIN_REQ__INIT;
    struct login_arg a = {OHSM_UT_NONE, false};

    OHSM_ENSURE(c != NULL && username != NULL && password != NULL, OHSM_ARGUMENTS_BAD);
    l.user_type = (uint32_t)type;
    l.username = (char *)username;
    l.password.data = (uint8_t *)password;
    l.password.len = pw_len(password);
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &l;
    ohsm_rv rv = run(c, &q, ALL, res, on_login, &a);
    if (actual != NULL) {
        *actual = a.actual;
    }
    return rv;
}

static void on_logout(struct hsm_slot *h, const Ohsm__Response *r, void *arg)
{
    (void)r;
    (void)arg;
    h->logged_in = false;
}

ohsm_rv ohsm_client_logout(struct ohsm_client *c, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LogoutReq l = OHSM__LOGOUT_REQ__INIT;
    OHSM_ENSURE(c != NULL, OHSM_ARGUMENTS_BAD);
    q.op_case = OHSM__REQUEST__OP_LOGOUT;
    q.logout = &l;
    return run(c, &q, ALL, res, on_logout, NULL);
}

ohsm_rv ohsm_client_create_user(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                                const char *password, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CreateUserReq m = OHSM__CREATE_USER_REQ__INIT;
    OHSM_ENSURE(c != NULL && username != NULL && password != NULL, OHSM_ARGUMENTS_BAD);
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    m.password.data = (uint8_t *)password;
    m.password.len = pw_len(password);
    q.op_case = OHSM__REQUEST__OP_CREATE_USER;
    q.create_user = &m;
    return run(c, &q, ALL, res, NULL, NULL);
}

ohsm_rv ohsm_client_delete_user(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                                struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__DeleteUserReq m = OHSM__DELETE_USER_REQ__INIT;
    OHSM_ENSURE(c != NULL && username != NULL, OHSM_ARGUMENTS_BAD);
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    q.op_case = OHSM__REQUEST__OP_DELETE_USER;
    q.delete_user = &m;
    return run(c, &q, ALL, res, NULL, NULL);
}

static void on_change(struct hsm_slot *h, const Ohsm__Response *r, void *arg)
{
    bool *activated = arg;
    if (r->body_case == OHSM__RESPONSE__BODY_USER && r->user->activated) {
        *activated = true;
        if (h->logged_in && h->type == OHSM_UT_PRECO) {
            h->type = OHSM_UT_CO; /* the session's user is the one just activated */
        }
    }
}

ohsm_rv ohsm_client_change_password(struct ohsm_client *c, enum ohsm_utype type,
                                    const char *username, const char *password,
                                    struct ohsm_result *res, bool *activated)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__ChangePasswordReq m = OHSM__CHANGE_PASSWORD_REQ__INIT;
    bool act = false;
    OHSM_ENSURE(c != NULL && username != NULL && password != NULL, OHSM_ARGUMENTS_BAD);
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    m.password.data = (uint8_t *)password;
    m.password.len = pw_len(password);
    q.op_case = OHSM__REQUEST__OP_CHANGE_PASSWORD;
    q.change_password = &m;
    ohsm_rv rv = run(c, &q, ALL, res, on_change, &act);
    if (activated != NULL) {
        *activated = act;
    }
    return rv;
}

struct list_arg {
    struct ohsm_user_info *users;
    size_t n;
    ohsm_rv rv;
};

static void on_list(struct hsm_slot *h, const Ohsm__Response *r, void *arg)
{
    struct list_arg *a = arg;
    (void)h;
    if (r->body_case != OHSM__RESPONSE__BODY_USERS) {
        a->rv = OHSM_PROTOCOL;
        return;
    }
    size_t n = r->users->n_users;
    if (n == 0) {
        return;
    }
    a->users = calloc(n, sizeof(*a->users));
    if (a->users == NULL) {
        a->rv = OHSM_HOST_MEMORY;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const Ohsm__User *u = r->users->users[i];
        struct ohsm_user_info *o = &a->users[i];
        o->id = u->id;
        o->type = u->user_type <= OHSM_UT_MAX ? (enum ohsm_utype)u->user_type : OHSM_UT_NONE;
        (void)snprintf(o->username, sizeof(o->username), "%s", u->username);
        o->login_failures = u->login_failures;
        o->locked = u->locked;
        o->mfa = u->mfa;
        o->mofn_pubkey = u->mofn_pubkey;
    }
    a->n = n;
}

ohsm_rv ohsm_client_list_users(struct ohsm_client *c, size_t i, struct ohsm_user_info **users,
                               size_t *n)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__ListUsersReq m = OHSM__LIST_USERS_REQ__INIT;
    struct list_arg a = {NULL, 0, OHSM_OK};

    OHSM_ENSURE(c != NULL && users != NULL && n != NULL && i < c->n, OHSM_ARGUMENTS_BAD);
    q.op_case = OHSM__REQUEST__OP_LIST_USERS;
    q.list_users = &m;
    ohsm_rv rv = run(c, &q, i, NULL, on_list, &a);
    if (rv == OHSM_OK) {
        rv = a.rv;
    }
    if (rv != OHSM_OK) {
        free(a.users);
        return rv;
    }
    *users = a.users;
    *n = a.n;
    return OHSM_OK;
}

static void on_info(struct hsm_slot *h, const Ohsm__Response *r, void *arg)
{
    struct ohsm_hsm_info *o = arg;
    (void)h;
    if (r->body_case != OHSM__RESPONSE__BODY_INFO) {
        return;
    }
    const Ohsm__HsmInfoResp *i = r->info;
    (void)snprintf(o->hsm_id, sizeof(o->hsm_id), "%s", i->hsm_id);
    (void)snprintf(o->cluster_id, sizeof(o->cluster_id), "%s", i->cluster_id);
    (void)snprintf(o->serial, sizeof(o->serial), "%s", i->serial);
    (void)snprintf(o->model, sizeof(o->model), "%s", i->model);
    (void)snprintf(o->vendor, sizeof(o->vendor), "%s", i->vendor);
    (void)snprintf(o->firmware, sizeof(o->firmware), "%s", i->firmware);
    o->activated = i->activated;
    o->fips = i->fips;
    o->users = i->users;
    o->max_users = i->max_users;
    o->sessions = i->sessions;
    o->max_sessions = i->max_sessions;
    o->lockout_attempts = i->lockout_attempts;
}

ohsm_rv ohsm_client_hsm_info(struct ohsm_client *c, size_t i, struct ohsm_hsm_info *out)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__HsmInfoReq m = OHSM__HSM_INFO_REQ__INIT;
    OHSM_ENSURE(c != NULL && out != NULL && i < c->n, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    q.op_case = OHSM__REQUEST__OP_HSM_INFO;
    q.hsm_info = &m;
    return run(c, &q, i, NULL, on_info, out);
}
