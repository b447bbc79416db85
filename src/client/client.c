/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm's cluster client: a connection per HSM, requests fanned out to all (sent to every
 * HSM first, then the answers collected, so a slow HSM costs one timeout, not one per HSM), a
 * result per HSM, reconnection of lost HSMs on the next call (route.c). The per-HSM login state
 * mirrors what each HSM said. The password of the last successful login is kept in an ohsm_secret
 * so that a reconnected HSM can be logged in again; it is replaced when the user changes it and
 * wiped at logout and free. Requests point at the caller's buffer and the packed frame is wiped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "client/internal.h"

#define ALL OHSM_ALL

ohsm_rv ohsm_client_new(const struct ohsm_cfg *cfg, struct ohsm_client **out)
{
    return ohsm_client_new_flags(cfg, 0, out);
}

ohsm_rv ohsm_client_new_flags(const struct ohsm_cfg *cfg, unsigned flags,
                              struct ohsm_client **out)
{
    struct ohsm_client *c = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(cfg != NULL && out != NULL && cfg->n > 0, OHSM_ARGUMENTS_BAD);
    c = calloc(1, sizeof(*c));
    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    c->cfg = cfg;
    c->n = cfg->n;
    c->no_threads = (flags & OHSM_CLIENT_NO_THREADS) != 0;
    /* OPENHSM_AUTO_REPAIR=0 turns automatic repair off for a whole process (tools, tests that
     * want to see HSMs drift); the API can still switch it per client. */
    const char *ar = getenv(OHSM_AUTO_REPAIR_ENV);
    c->auto_repair = !(ar != NULL && strcmp(ar, "0") == 0);
    (void)pthread_mutex_init(&c->lock, NULL);
    rv = ohsm_sgroup_private(&c->sg);
    if (rv != OHSM_OK) {
        goto fail;
    }
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
        c->hsm[i].slot = -1;
        c->hsm[i].mfa_rv = OHSM_TOKEN_NOT_FOUND;
        c->hsm[i].reg_rv = OHSM_TOKEN_NOT_FOUND;
    }
    /* All at once; unreachable HSMs are no error here: they show as not connected. */
    ohsm_route_connect(c, NULL);
    *out = c;
    return OHSM_OK;
fail:
    ohsm_client_free(c);
    return rv;
}

void ohsm_client_forget_credentials(struct ohsm_client *c)
{
    ohsm_secret_free(c->cred_pw);
    c->cred_pw = NULL;
    OPENSSL_cleanse(c->cred_user, sizeof(c->cred_user));
    for (size_t i = 0; i < c->n; i++) {
        c->hsm[i].relogin_failed = false;
    }
}

void ohsm_client_free(struct ohsm_client *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; c->hsm != NULL && i < c->n; i++) {
        ohsm_conn_free(c->hsm[i].conn);
    }
    if (c->hsm != NULL) {
        ohsm_client_forget_credentials(c);
    }
    free(c->hsm);
    ohsm_sgroup_free(c->sg);
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
    }
    ohsm_route_connect(c, NULL);
    for (size_t i = 0; i < c->n; i++) {
        ohsm_rv rv = c->hsm[i].conn == NULL ? c->hsm[i].last_rv : ohsm_route_ensure(c, i, true);
        if (first == OHSM_OK) {
            first = rv;
        }
    }
    (void)pthread_mutex_unlock(&c->lock);
    return first;
}

void ohsm_client_set_auto_repair(struct ohsm_client *c, bool on)
{
    if (c == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&c->lock);
    c->auto_repair = on;
    (void)pthread_mutex_unlock(&c->lock);
}

ohsm_rv ohsm_client_run_locked(struct ohsm_client *c, Ohsm__Request *q, size_t only, bool relogin,
                               struct ohsm_result *res, ohsm_each_fn each, void *arg)
{
    Ohsm__Response **resp = calloc(c->n, sizeof(*resp));
    bool *use = calloc(c->n, sizeof(*use));
    ohsm_rv rv = OHSM_HOST_MEMORY;

    if (resp == NULL || use == NULL) {
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        use[i] = only == OHSM_ALL || i == only;
    }
    rv = ohsm_route_fanout(c, &q, 1, use, relogin, res, resp);
    for (size_t i = 0; each != NULL && i < c->n; i++) {
        if (resp[i] != NULL && res[i].rv == OHSM_OK) {
            each(c, i, resp[i], arg);
        }
    }
out:
    ohsm_route_free_resps(resp, resp == NULL ? 0 : c->n);
    free(use);
    return rv;
}

ohsm_rv ohsm_client_run(struct ohsm_client *c, Ohsm__Request *q, size_t only,
                        struct ohsm_result *res, ohsm_each_fn each, void *arg)
{
    struct ohsm_result *tmp = NULL;
    if (res == NULL) {
        tmp = calloc(c->n, sizeof(*tmp));
        OHSM_ENSURE(tmp != NULL, OHSM_HOST_MEMORY);
        res = tmp;
    }
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_client_run_locked(c, q, only, true, res, each, arg);
    (void)pthread_mutex_unlock(&c->lock);
    free(tmp);
    return rv;
}

/* Replaces the saved credentials (kept for logging reconnected HSMs in again). */
static void save_credentials(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                             const char *password)
{
    struct ohsm_secret *pw = NULL;
    if (ohsm_secret_new(password, strnlen(password, OHSM_WIRE_SECRET_MAX + 1), &pw) != OHSM_OK) {
        return; /* no re-login then; the login itself stands */
    }
    ohsm_secret_free(c->cred_pw);
    c->cred_pw = pw;
    c->cred_type = type;
    (void)snprintf(c->cred_user, sizeof(c->cred_user), "%s", username);
}

static size_t pw_len(const char *pw)
{
    return strnlen(pw, OHSM_WIRE_SECRET_MAX + 1);
}

void ohsm_client_on_login(struct ohsm_client *c, size_t i, const Ohsm__Response *r, void *arg)
{
    struct hsm_slot *h = &c->hsm[i];
    struct ohsm_login_arg *a = arg;
    if (r->body_case != OHSM__RESPONSE__BODY_LOGIN) {
        return;
    }
    h->logged_in = true;
    h->relogin_failed = false;
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
    struct ohsm_login_arg a = {OHSM_UT_NONE, false};
    struct ohsm_result *tmp = NULL;

    OHSM_ENSURE(c != NULL && username != NULL && password != NULL, OHSM_ARGUMENTS_BAD);
    if (res == NULL) {
        tmp = calloc(c->n, sizeof(*tmp));
        OHSM_ENSURE(tmp != NULL, OHSM_HOST_MEMORY);
        res = tmp;
    }
    l.user_type = (uint32_t)type;
    l.username = (char *)username;
    l.password.data = (uint8_t *)password;
    l.password.len = pw_len(password);
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &l;
    uint8_t group[OHSM_SGROUP_TOKEN_LEN];
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_sgroup_token(c->sg, group)) {
        l.group.data = group;
        l.group.len = sizeof(group);
    }
    ohsm_rv rv = ohsm_client_run_locked(c, &q, ALL, false, res, ohsm_client_on_login, &a);
    OPENSSL_cleanse(group, sizeof(group));
    if (a.got) {
        save_credentials(c, type, username, password);
        for (size_t i = 0; i < c->n; i++) {
            /* Where this login was refused, the saved one would be too. */
            c->hsm[i].relogin_failed = res[i].rv != OHSM_OK && !ohsm_rv_is_transport(res[i].rv) &&
                                       res[i].rv != OHSM_USER_ALREADY_LOGGED_IN;
        }
    }
    if (rv == OHSM_OK && a.actual != OHSM_UT_PRECO) {
        ohsm_sync_auto(c, true);
    }
    (void)pthread_mutex_unlock(&c->lock);
    free(tmp);
    if (actual != NULL) {
        *actual = a.actual;
    }
    return rv;
}

static void on_logout(struct ohsm_client *c, size_t i, const Ohsm__Response *r, void *arg)
{
    (void)r;
    (void)arg;
    c->hsm[i].logged_in = false;
}

/* Logout ends the HSM sessions' pending MFA tokens too. */
static void forget_pending(struct ohsm_client *c)
{
    for (size_t i = 0; i < c->n; i++) {
        c->hsm[i].mfa_pending = c->hsm[i].reg_pending = false;
        c->hsm[i].mfa_rv = c->hsm[i].reg_rv = OHSM_TOKEN_NOT_FOUND;
    }
}

ohsm_rv ohsm_client_logout(struct ohsm_client *c, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LogoutReq l = OHSM__LOGOUT_REQ__INIT;
    OHSM_ENSURE(c != NULL, OHSM_ARGUMENTS_BAD);
    q.op_case = OHSM__REQUEST__OP_LOGOUT;
    q.logout = &l;
    struct ohsm_result *tmp = NULL;
    if (res == NULL) {
        tmp = calloc(c->n, sizeof(*tmp));
        OHSM_ENSURE(tmp != NULL, OHSM_HOST_MEMORY);
        res = tmp;
    }
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_client_run_locked(c, &q, ALL, false, res, on_logout, NULL);
    /* Whatever the HSMs said, this client no longer acts for the user. */
    ohsm_client_forget_credentials(c);
    forget_pending(c);
    if (!ohsm_sgroup_is_shared(c->sg)) {
        ohsm_route_sess_drop(c, OHSM_ALL); /* a shared group's end with the group's sessions */
    }
    (void)pthread_mutex_unlock(&c->lock);
    free(tmp);
    return rv;
}

/* One id on every HSM (issue 10): one HSM gives the id (the first logged-in HSM in config order
 * that answers), then the others are asked to create the user with that id, which each refuses
 * when the id is taken there. Creations are serialised by that HSM, so concurrent creators get
 * distinct ids. An HSM that may have run the creation (sent, no answer in time) is not followed
 * by another making the user under an id of its own (OHSM_ROUTE_CREATES); an HSM that did not
 * take part gets the user, with its id, from repair. Caller holds the lock. */
static ohsm_rv create_locked(struct ohsm_client *c, Ohsm__Request *q, Ohsm__CreateUserReq *m,
                             struct ohsm_result *res)
{
    struct ohsm_result *rest = calloc(c->n, sizeof(*rest));
    Ohsm__Response **resp = calloc(c->n, sizeof(*resp));
    bool *use = calloc(c->n, sizeof(*use));
    Ohsm__Response *first = NULL;
    size_t at = c->n;
    ohsm_rv rv = OHSM_HOST_MEMORY;

    if (rest == NULL || resp == NULL || use == NULL) {
        goto out;
    }
    m->user_id = 0;
    rv = ohsm_route_one(c, q, OHSM_ALL, 0, OHSM_ROUTE_CREATES, &first, &at);
    if (rv == OHSM_OK && (first == NULL || first->body_case != OHSM__RESPONSE__BODY_USER ||
                          first->user->user_id == 0)) {
        rv = OHSM_PROTOCOL; /* created, but no id to give the others */
    }
    for (size_t i = 0; i < c->n; i++) {
        /* Refused (rights, quorum, name, or the user exists), or no HSM could take it: the
         * others would refuse it too, and must not make the user under an id of their own. */
        res[i].rv = rv;
    }
    if (rv == OHSM_OK) {
        m->user_id = first->user->user_id;
        for (size_t i = 0; i < c->n; i++) {
            use[i] = i != at;
        }
        ohsm_rv frv = ohsm_route_fanout(c, &q, 1, use, true, rest, resp);
        (void)frv; /* the first of the others that failed: res[] carries each */
        for (size_t i = 0; i < c->n; i++) {
            if (i != at) {
                res[i] = rest[i];
            }
        }
        ohsm_route_note_missed(c, res, NULL);
    }
    rv = OHSM_OK;
    for (size_t i = 0; i < c->n && rv == OHSM_OK; i++) {
        rv = res[i].rv; /* the first failing HSM's code, as every fan-out */
    }
out:
    ohsm_wire_resp_free(first);
    ohsm_route_free_resps(resp, resp == NULL ? 0 : c->n);
    free(use);
    free(rest);
    return rv;
}

ohsm_rv ohsm_client_create_user_q(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                                  const char *password, const struct ohsm_approval *ap,
                                  struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CreateUserReq m = OHSM__CREATE_USER_REQ__INIT;
    struct ohsm_conv_approval apb;
    struct ohsm_result *tmp = NULL;
    OHSM_ENSURE(c != NULL && username != NULL && password != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    m.password.data = (uint8_t *)password;
    m.password.len = pw_len(password);
    q.op_case = OHSM__REQUEST__OP_CREATE_USER;
    q.create_user = &m;
    if (res == NULL) {
        tmp = calloc(c->n, sizeof(*tmp));
        OHSM_ENSURE(tmp != NULL, OHSM_HOST_MEMORY);
        res = tmp;
    }
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = create_locked(c, &q, &m, res);
    (void)pthread_mutex_unlock(&c->lock);
    free(tmp);
    return rv;
}

ohsm_rv ohsm_client_create_user(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                                const char *password, struct ohsm_result *res)
{
    return ohsm_client_create_user_q(c, type, username, password, NULL, res);
}

ohsm_rv ohsm_client_delete_user_q(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                                  const struct ohsm_approval *ap, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__DeleteUserReq m = OHSM__DELETE_USER_REQ__INIT;
    struct ohsm_conv_approval apb;
    OHSM_ENSURE(c != NULL && username != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    q.op_case = OHSM__REQUEST__OP_DELETE_USER;
    q.delete_user = &m;
    return ohsm_client_run(c, &q, ALL, res, NULL, NULL);
}

ohsm_rv ohsm_client_delete_user(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                                struct ohsm_result *res)
{
    return ohsm_client_delete_user_q(c, type, username, NULL, res);
}

static void on_change(struct ohsm_client *c, size_t i, const Ohsm__Response *r, void *arg)
{
    struct hsm_slot *h = &c->hsm[i];
    bool *activated = arg;
    if (r->body_case == OHSM__RESPONSE__BODY_USER && r->user->activated) {
        *activated = true;
        if (h->logged_in && h->type == OHSM_UT_PRECO) {
            h->type = OHSM_UT_CO; /* the session's user is the one just activated */
        }
    }
}

void ohsm_client_note_password(struct ohsm_client *c, const char *username, const char *password,
                               const struct ohsm_result *res)
{
    bool changed = false;
    for (size_t i = 0; i < c->n; i++) {
        changed = changed || res[i].rv == OHSM_OK;
    }
    if (changed && c->cred_pw != NULL && strcmp(username, c->cred_user) == 0) {
        save_credentials(c, c->cred_type, username, password);
    }
}

ohsm_rv ohsm_client_change_password_q(struct ohsm_client *c, enum ohsm_utype type,
                                      const char *username, const char *password,
                                      const struct ohsm_approval *ap, struct ohsm_result *res,
                                      bool *activated)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__ChangePasswordReq m = OHSM__CHANGE_PASSWORD_REQ__INIT;
    struct ohsm_conv_approval apb;
    bool act = false;
    OHSM_ENSURE(c != NULL && username != NULL && password != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    m.password.data = (uint8_t *)password;
    m.password.len = pw_len(password);
    q.op_case = OHSM__REQUEST__OP_CHANGE_PASSWORD;
    q.change_password = &m;
    struct ohsm_result *tmp = NULL;
    if (res == NULL) {
        tmp = calloc(c->n, sizeof(*tmp));
        OHSM_ENSURE(tmp != NULL, OHSM_HOST_MEMORY);
        res = tmp;
    }
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_client_run_locked(c, &q, ALL, true, res, on_change, &act);
    /* The user's own password: a later re-login must use the new one. */
    ohsm_client_note_password(c, username, password, res);
    (void)pthread_mutex_unlock(&c->lock);
    free(tmp);
    if (activated != NULL) {
        *activated = act;
    }
    return rv;
}

ohsm_rv ohsm_client_change_password(struct ohsm_client *c, enum ohsm_utype type,
                                    const char *username, const char *password,
                                    struct ohsm_result *res, bool *activated)
{
    return ohsm_client_change_password_q(c, type, username, password, NULL, res, activated);
}

struct list_arg {
    struct ohsm_user_info *users;
    size_t n;
    ohsm_rv rv;
};

static void on_list(struct ohsm_client *c, size_t hsm, const Ohsm__Response *r, void *arg)
{
    struct list_arg *a = arg;
    (void)c;
    (void)hsm;
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
    ohsm_rv rv = ohsm_client_run(c, &q, i, NULL, on_list, &a);
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

static void on_info(struct ohsm_client *c, size_t hsm, const Ohsm__Response *r, void *arg)
{
    struct ohsm_hsm_info *o = arg;
    (void)c;
    (void)hsm;
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
    o->hsm_flags = i->hsm_flags;
    o->device_id = i->device_id;
    o->class_code = i->class_code;
    o->system_vendor_id = i->system_vendor_id;
    o->subsystem_id = i->subsystem_id;
    o->total_public_memory = i->total_public_memory;
    o->free_public_memory = i->free_public_memory;
    o->total_private_memory = i->total_private_memory;
    o->free_private_memory = i->free_private_memory;
    o->hardware_major = i->hardware_major;
    o->hardware_minor = i->hardware_minor;
    o->firmware_major = i->firmware_major;
    o->firmware_minor = i->firmware_minor;
    o->build_number = i->build_number;
    o->temperature_known = i->temperature_known;
    o->temperature = i->temperature;
    (void)snprintf(o->firmware_id, sizeof(o->firmware_id), "%s", i->firmware_id);
}

ohsm_rv ohsm_client_hsm_info(struct ohsm_client *c, size_t i, struct ohsm_hsm_info *out)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__HsmInfoReq m = OHSM__HSM_INFO_REQ__INIT;
    OHSM_ENSURE(c != NULL && out != NULL && i < c->n, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    q.op_case = OHSM__REQUEST__OP_HSM_INFO;
    q.hsm_info = &m;
    return ohsm_client_run(c, &q, i, NULL, on_info, out);
}
