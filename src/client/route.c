/* SPDX-License-Identifier: Apache-2.0
 *
 * The client's routing engine: keeps a connection per HSM (reconnecting lost ones, and logging
 * them in again with the last login's credentials, as CloudHSM's client SDK does), sends a
 * request to every HSM at once (fan-out: all written before any answer is read, so a slow HSM
 * costs one timeout, not one per HSM), or to one HSM chosen round-robin with fail-over to the
 * next, and remembers which HSM holds each session object. Answers are untrusted and were
 * validated by the wire decoder; this file only looks at their rv and id.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client/deadline.h"
#include "client/internal.h"

/* A hung HSM costs a full timeout per attempt; after one, calls within this window report it at
 * once instead of waiting again. Refused connections (HSM down, restarting) retry every call. */
#define RETRY_AFTER_TIMEOUT_MS 10000
/* A connection idle this long is checked for a close by the HSM before it is used (HSMs close
 * connections idle without a login after seconds); busier ones pay no system call for it. */
#define IDLE_CHECK_MS 500

static void note_failure(struct hsm_slot *h, ohsm_rv why)
{
    h->last_rv = why;
    h->retry_at_ms = why == OHSM_TIMEOUT ? ohsm_deadline_now() + RETRY_AFTER_TIMEOUT_MS : 0;
}

bool ohsm_rv_is_transport(ohsm_rv rv)
{
    return rv == OHSM_NOT_CONNECTED || rv == OHSM_TIMEOUT || rv == OHSM_IO || rv == OHSM_TLS;
}

void ohsm_route_drop(struct ohsm_client *c, size_t i, ohsm_rv why)
{
    struct hsm_slot *h = &c->hsm[i];
    ohsm_conn_free(h->conn);
    h->conn = NULL;
    h->logged_in = false;
    note_failure(h, why);
    /* Session objects die with the session (PKCS#11 v2.40 §6.7.1); a shared group's live on
     * while another client's session of the group does (the HSM knows). */
    if (!ohsm_sgroup_is_shared(c->sg)) {
        ohsm_route_sess_drop(c, i);
    }
}

/* One request, one answer on HSM i's live connection, both within one timeout. Transport
 * failures drop the connection; an answer with id 0 means the HSM closed the session after
 * answering. */
static ohsm_rv exchange(struct ohsm_client *c, size_t i, Ohsm__Request *q, Ohsm__Response **out)
{
    struct hsm_slot *h = &c->hsm[i];
    Ohsm__Response *r = NULL;
    const int64_t deadline = ohsm_deadline_in(c->cfg->timeout_ms);

    q->id = ohsm_conn_next_id(h->conn);
    ohsm_rv rv = ohsm_conn_send(h->conn, q, deadline);
    if (rv == OHSM_OK) {
        rv = ohsm_conn_recv(h->conn, q->id, deadline, &r);
    }
    if (rv != OHSM_OK) {
        ohsm_route_drop(c, i, rv);
        return rv;
    }
    if (r->id == 0) {
        ohsm_route_drop(c, i, (ohsm_rv)r->rv);
    }
    *out = r;
    return OHSM_OK;
}

/* Logs a new session in with the saved credentials. A refusal (password changed, user locked or
 * deleted) is remembered so that the client does not keep trying, which would count failed
 * logins against the user. */
static ohsm_rv relogin(struct ohsm_client *c, size_t i)
{
    struct hsm_slot *h = &c->hsm[i];
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq l = OHSM__LOGIN_REQ__INIT;
    Ohsm__Response *r = NULL;

    l.user_type = (uint32_t)c->cred_type;
    l.username = c->cred_user;
    l.password.data = (uint8_t *)ohsm_secret_data(c->cred_pw);
    l.password.len = ohsm_secret_len(c->cred_pw);
    uint8_t group[OHSM_SGROUP_TOKEN_LEN];
    if (ohsm_sgroup_token(c->sg, group)) {
        l.group.data = group;
        l.group.len = sizeof(group);
    }
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &l;
    ohsm_rv xrv = exchange(c, i, &q, &r);
    OPENSSL_cleanse(group, sizeof(group));
    OHSM_TRY(xrv);
    ohsm_rv rv = (ohsm_rv)r->rv;
    if (rv == OHSM_OK && r->body_case == OHSM__RESPONSE__BODY_LOGIN) {
        h->logged_in = true;
        h->type = (enum ohsm_utype)r->login->user_type;
        (void)snprintf(h->username, sizeof(h->username), "%s", r->login->username);
    } else if (rv == OHSM_OK) {
        rv = OHSM_PROTOCOL;
    } else if (!ohsm_rv_is_transport(rv)) {
        h->relogin_failed = true;
    }
    ohsm_wire_resp_free(r);
    return rv;
}

/* One connection opened on its own thread by ohsm_route_connect. */
struct opener {
    SSL_CTX *tls;
    const struct ohsm_cfg_hsm *cfg;
    int timeout_ms;
    struct ohsm_conn *conn;
    ohsm_rv rv;
    pthread_t thr;
    bool want, threaded;
};

static void *open_one(void *p)
{
    struct opener *o = p;
    o->rv = ohsm_conn_open(o->tls, o->cfg, o->timeout_ms, &o->conn);
    return NULL;
}

/* May HSM i be connected now: not connected, and not inside the retry window of a timeout. */
static bool may_connect(const struct hsm_slot *h, int64_t now)
{
    return h->conn == NULL && (h->retry_at_ms == 0 || now >= h->retry_at_ms);
}

/* Records the outcome of a connection attempt to HSM i. */
static void connected(struct ohsm_client *c, size_t i, ohsm_rv rv, struct ohsm_conn *conn)
{
    struct hsm_slot *h = &c->hsm[i];
    h->conn = rv == OHSM_OK ? conn : NULL;
    h->logged_in = false; /* a new session starts logged out */
    note_failure(h, rv);
    if (rv == OHSM_OK) {
        h->slot = (int32_t)ohsm_conn_slot(h->conn);
        ohsm_conn_on_deferred(h->conn, ohsm_route_deferred_answer, c);
    }
}

void ohsm_route_connect(struct ohsm_client *c, const bool *use)
{
    const int64_t now = ohsm_deadline_now();
    size_t want = 0;
    for (size_t i = 0; i < c->n; i++) {
        want += (use == NULL || use[i]) && may_connect(&c->hsm[i], now);
    }
    if (want < 2) {
        /* One at most: opened right here, no thread needed. */
        for (size_t i = 0; want == 1 && i < c->n; i++) {
            if ((use == NULL || use[i]) && may_connect(&c->hsm[i], now)) {
                struct ohsm_conn *conn = NULL;
                ohsm_rv rv = ohsm_conn_open(c->tls, c->hsm[i].cfg, c->cfg->timeout_ms, &conn);
                connected(c, i, rv, conn);
            }
        }
        return;
    }
    /* Several: one thread each, so that hung or trickling HSMs cost one timeout together, not
     * one each. ohsm_conn_open touches nothing shared but the SSL_CTX (thread-safe). */
    struct opener *o = c->no_threads ? NULL : calloc(c->n, sizeof(*o));
    for (size_t i = 0; i < c->n; i++) {
        if (!((use == NULL || use[i]) && may_connect(&c->hsm[i], now))) {
            continue;
        }
        if (o == NULL) { /* no threads allowed, or no memory for the bookkeeping: one after the
                          * other */
            struct ohsm_conn *conn = NULL;
            ohsm_rv rv = ohsm_conn_open(c->tls, c->hsm[i].cfg, c->cfg->timeout_ms, &conn);
            connected(c, i, rv, conn);
            continue;
        }
        o[i] = (struct opener){
            .tls = c->tls, .cfg = c->hsm[i].cfg, .timeout_ms = c->cfg->timeout_ms, .want = true};
        o[i].threaded = pthread_create(&o[i].thr, NULL, open_one, &o[i]) == 0;
        if (!o[i].threaded) {
            (void)open_one(&o[i]);
        }
    }
    for (size_t i = 0; o != NULL && i < c->n; i++) {
        if (o[i].want) {
            if (o[i].threaded) {
                (void)pthread_join(o[i].thr, NULL);
            }
            connected(c, i, o[i].rv, o[i].conn);
        }
    }
    free(o);
}

/* Queues again, on HSM i's logged-in connection, the deferred deletes of session objects whose
 * connection ended before their answer (ohsm_route_deferred_answer): they go out with this call's
 * request. Sent twice, a delete is answered "no such key", which forgets the handle as well. */
static void resend_deletes(struct ohsm_client *c, size_t i)
{
    struct hsm_slot *h = &c->hsm[i];
    uint64_t handles[OHSM_CONN_DEFERRED_MAX];
    size_t n = ohsm_route_sess_resend_take(c, i, handles,
                                           OHSM_CONN_DEFERRED_MAX - ohsm_conn_deferred(h->conn));
    if (n == 0) {
        return; /* every call but the few after a lost connection: one atomic load */
    }
    const int64_t deadline = ohsm_deadline_in(c->cfg->timeout_ms);
    for (size_t k = 0; k < n; k++) {
        Ohsm__Request q = OHSM__REQUEST__INIT;
        Ohsm__KeyDeleteReq m = OHSM__KEY_DELETE_REQ__INIT;
        m.handle = handles[k];
        q.op_case = OHSM__REQUEST__OP_KEY_DELETE;
        q.key_delete = &m;
        q.id = ohsm_conn_next_id(h->conn);
        if (ohsm_conn_queue_deferred(h->conn, &q, handles[k], deadline) != OHSM_OK) {
            ohsm_route_sess_resend_put(c, handles + k, n - k); /* the next call tries again */
            break;
        }
    }
}

ohsm_rv ohsm_route_ensure(struct ohsm_client *c, size_t i, bool want_login)
{
    struct hsm_slot *h = &c->hsm[i];
    int64_t now = ohsm_deadline_now();

    /* Between calls nothing is in flight: anything readable on an idle connection is the HSM's
     * close (or junk). Reconnect now instead of failing this call on a dead connection. (Deferred
     * requests still waiting are unsent: the call that writes them reads their answers before its
     * own.) */
    if (h->conn != NULL && now - h->used_ms >= IDLE_CHECK_MS && ohsm_conn_readable(h->conn)) {
        ohsm_route_drop(c, i, OHSM_NOT_CONNECTED);
    }
    h->used_ms = now;
    if (h->conn == NULL) {
        if (!may_connect(h, now)) {
            return h->last_rv;
        }
        struct ohsm_conn *conn = NULL;
        ohsm_rv rv = ohsm_conn_open(c->tls, h->cfg, c->cfg->timeout_ms, &conn);
        connected(c, i, rv, conn);
        if (rv != OHSM_OK) {
            return rv;
        }
    }
    ohsm_rv rv = OHSM_OK;
    if (want_login && !h->logged_in && c->cred_pw != NULL && !h->relogin_failed) {
        rv = relogin(c, i);
    }
    if (rv == OHSM_OK && h->logged_in) {
        resend_deletes(c, i);
    }
    return rv;
}

void ohsm_route_free_resps(Ohsm__Response **resp, size_t n)
{
    for (size_t i = 0; resp != NULL && i < n; i++) {
        ohsm_wire_resp_free(resp[i]);
    }
    free(resp);
}

/* Queues and writes HSM i's k requests within one timeout, recording their ids (0 marks "not
 * sent"). */
static ohsm_rv send_all(struct ohsm_client *c, size_t i, Ohsm__Request *const *qs, size_t k,
                        uint64_t *ids)
{
    struct ohsm_conn *conn = c->hsm[i].conn;
    ohsm_rv rv = OHSM_OK;
    const int64_t deadline = ohsm_deadline_in(c->cfg->timeout_ms);

    for (size_t j = 0; j < k && rv == OHSM_OK; j++) {
        qs[j]->id = ohsm_conn_next_id(conn);
        ids[j] = qs[j]->id;
        rv = ohsm_conn_queue(conn, qs[j], deadline);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_conn_flush(conn, deadline);
    }
    if (rv != OHSM_OK) {
        memset(ids, 0, k * sizeof(*ids));
    }
    return rv;
}

/* Reads HSM i's k answers in order by the deadline; res gets the first failure. */
static ohsm_rv recv_all(struct ohsm_client *c, size_t i, const uint64_t *ids, size_t k,
                        int64_t deadline, Ohsm__Response **resp)
{
    ohsm_rv first = OHSM_OK;

    for (size_t j = 0; j < k; j++) {
        ohsm_rv rv = ohsm_conn_recv(c->hsm[i].conn, ids[j], deadline, &resp[j]);
        if (rv != OHSM_OK) {
            ohsm_route_drop(c, i, rv);
            return first == OHSM_OK ? rv : first;
        }
        if (first == OHSM_OK) {
            first = (ohsm_rv)resp[j]->rv;
        }
        if (resp[j]->id == 0) {
            ohsm_route_drop(c, i, (ohsm_rv)resp[j]->rv); /* the HSM closed the session */
            return first;
        }
    }
    return first;
}

/* The fan-out of ohsm_route_fanout (per_hsm false: every HSM gets qs[0..k)) and
 * ohsm_route_fanout_per (per_hsm true: HSM i gets qs[i * k .. i * k + k)). */
static ohsm_rv fanout(struct ohsm_client *c, Ohsm__Request *const *qs, size_t k, bool per_hsm,
                      const bool *use, bool want_login, struct ohsm_result *res,
                      Ohsm__Response **resp)
{
    uint64_t *ids = calloc(c->n * k, sizeof(*ids));
    ohsm_rv first = OHSM_OK;

    if (ids == NULL) {
        for (size_t i = 0; i < c->n * k; i++) {
            resp[i] = NULL;
        }
        for (size_t i = 0; i < c->n; i++) {
            if (use == NULL || use[i]) {
                res[i].rv = OHSM_HOST_MEMORY;
            }
        }
        return OHSM_HOST_MEMORY;
    }
    /* Missing connections are opened together first; an HSM still without one failed just now
     * (or within its retry window) and reports why. */
    ohsm_route_connect(c, use);
    for (size_t i = 0; i < c->n; i++) {
        for (size_t j = 0; j < k; j++) {
            resp[i * k + j] = NULL;
        }
        if (use != NULL && !use[i]) {
            continue;
        }
        res[i].rv =
            c->hsm[i].conn == NULL ? c->hsm[i].last_rv : ohsm_route_ensure(c, i, want_login);
        if (res[i].rv != OHSM_OK) {
            continue;
        }
        res[i].rv = send_all(c, i, per_hsm ? qs + i * k : qs, k, &ids[i * k]);
        if (res[i].rv != OHSM_OK) {
            ohsm_route_drop(c, i, res[i].rv);
        }
    }
    /* Every request was written before this point, so one timeout from here is at least one
     * timeout for each HSM: a slow or trickling HSM costs that once, and the answers of the
     * others, read after it, are already waiting in their sockets. */
    const int64_t deadline = ohsm_deadline_in(c->cfg->timeout_ms);
    for (size_t i = 0; i < c->n; i++) {
        if (use != NULL && !use[i]) {
            continue;
        }
        if (ids[i * k] != 0) {
            res[i].rv = recv_all(c, i, &ids[i * k], k, deadline, &resp[i * k]);
        }
        if (first == OHSM_OK) {
            first = res[i].rv;
        }
    }
    free(ids);
    return first;
}

ohsm_rv ohsm_route_fanout(struct ohsm_client *c, Ohsm__Request *const *qs, size_t k,
                          const bool *use, bool want_login, struct ohsm_result *res,
                          Ohsm__Response **resp)
{
    return fanout(c, qs, k, false, use, want_login, res, resp);
}

ohsm_rv ohsm_route_fanout_per(struct ohsm_client *c, Ohsm__Request *const *qs, size_t k,
                              const bool *use, bool want_login, struct ohsm_result *res,
                              Ohsm__Response **resp)
{
    return fanout(c, qs, k, true, use, want_login, res, resp);
}

/* Can HSM i take a balanced operation: logged in, or down but likely to log in again on
 * reconnect? */
static bool candidate(const struct ohsm_client *c, size_t i)
{
    const struct hsm_slot *h = &c->hsm[i];
    return h->logged_in || (h->conn == NULL && c->cred_pw != NULL && !h->relogin_failed);
}

size_t ohsm_route_order(struct ohsm_client *c, size_t prefer, size_t *order)
{
    size_t start = prefer != OHSM_ALL && prefer < c->n ? prefer : c->rr++ % c->n;
    size_t m = 0;

    /* Logged-in HSMs first, then the ones that will log in on reconnect. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t t = 0; t < c->n; t++) {
            size_t i = (start + t) % c->n;
            bool in = c->hsm[i].logged_in;
            if (pass == 0 ? in : !in && candidate(c, i)) {
                order[m++] = i;
            }
        }
    }
    if (m == 0) {
        /* Nobody is logged in: let an HSM say so (or serve what needs no login). */
        for (size_t t = 0; t < c->n; t++) {
            order[m++] = (start + t) % c->n;
        }
    }
    return m;
}

ohsm_rv ohsm_route_one(struct ohsm_client *c, Ohsm__Request *q, size_t pin, size_t prefer,
                       unsigned flags, Ohsm__Response **resp, size_t *used)
{
    size_t *order = calloc(c->n, sizeof(*order));
    size_t m;
    ohsm_rv last = OHSM_NOT_CONNECTED;
    Ohsm__Response *fallback = NULL; /* a KEY_HANDLE_INVALID answer, kept in case no HSM has it */
    size_t fallback_i = 0;

    OHSM_ENSURE(order != NULL, OHSM_HOST_MEMORY);
    *resp = NULL;
    if (pin != OHSM_ALL) {
        order[0] = pin;
        m = 1;
    } else {
        m = ohsm_route_order(c, prefer, order);
    }
    for (size_t t = 0; t < m; t++) {
        size_t i = order[t];
        Ohsm__Response *r = NULL;
        bool maybe_ran = false; /* sent, and no answer within the timeout */
        /* One retry on a fresh connection when an old one turns out dead (the HSM restarted
         * since): the request never reached a live HSM, so resending is safe. */
        for (int attempt = 0; attempt < 2; attempt++) {
            bool fresh = c->hsm[i].conn == NULL;
            ohsm_rv rv = ohsm_route_ensure(c, i, true);
            if (rv == OHSM_OK) {
                rv = exchange(c, i, q, &r);
                maybe_ran = rv == OHSM_TIMEOUT;
            }
            if (rv == OHSM_OK) {
                break;
            }
            last = rv;
            if (fresh || (rv != OHSM_NOT_CONNECTED && rv != OHSM_TLS)) {
                break;
            }
        }
        if (r == NULL) {
            if ((flags & OHSM_ROUTE_CREATES) != 0 && maybe_ran) {
                break; /* the HSM may still make the key: do not make a second one elsewhere */
            }
            continue;
        }
        if ((flags & OHSM_ROUTE_HANDLE_RETRY) != 0 && r->rv == OHSM_KEY_HANDLE_INVALID &&
            t + 1 < m) {
            if (fallback == NULL) {
                fallback = r;
                fallback_i = i;
            } else {
                ohsm_wire_resp_free(r);
            }
            continue;
        }
        ohsm_wire_resp_free(fallback);
        free(order);
        *resp = r;
        if (used != NULL) {
            *used = i;
        }
        return (ohsm_rv)r->rv;
    }
    free(order);
    if (fallback != NULL) {
        *resp = fallback;
        if (used != NULL) {
            *used = fallback_i;
        }
        return OHSM_KEY_HANDLE_INVALID;
    }
    return last;
}

void ohsm_route_note_missed(struct ohsm_client *c, const struct ohsm_result *res, const bool *use)
{
    bool any_ok = false;
    for (size_t i = 0; i < c->n; i++) {
        if ((use == NULL || use[i]) && res[i].rv == OHSM_OK) {
            any_ok = true;
        }
    }
    for (size_t i = 0; any_ok && i < c->n; i++) {
        if ((use == NULL || use[i]) && res[i].rv != OHSM_OK) {
            c->hsm[i].missed = true;
        }
    }
}
