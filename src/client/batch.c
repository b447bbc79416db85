/* SPDX-License-Identifier: Apache-2.0
 *
 * Pipelined cryptography (ohsm_client_batch). Per HSM connection (a "lane") up to `window`
 * requests are in flight; requests are packed into one buffer and written with one SSL_write,
 * answers are read in order, and a lane is refilled only when no more answers are immediately
 * readable, so both directions move in bursts (the HSM coalesces its answers the same way). The
 * lanes share one queue of operations, so a faster HSM takes more of them. An operation whose
 * lane fails, or whose HSM does not know the key, moves to another lane it has not tried yet.
 * Plaintext answers are copied to the caller's buffer and wiped in the response. Every request
 * is due one timeout after the burst that wrote it (one clock read per burst); a lane whose
 * oldest request is past due fails with OHSM_TIMEOUT however many bytes its HSM trickles.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client/deadline.h"
#include "client/internal.h"

#define WINDOW_MAX 1024
/* Request bytes in flight per lane: keeps the peers' socket buffers from filling in both
 * directions at once (each side blocked writing while the other is not reading). */
#define INFLIGHT_BYTES_MAX (128u * 1024u)

struct lane {
    bool active;
    ohsm_rv why;  /* why the lane stopped */
    size_t *op;   /* ring of in-flight op indices, window entries */
    uint64_t *id; /* their request ids */
    int64_t *due; /* their deadlines (monotonic ms) */
    size_t head, count;
    size_t bytes;   /* request bytes in flight */
    size_t *pinned; /* ops that must run here (session keys), a FIFO */
    size_t npinned, pinned_head;
    bool revived; /* reconnected once after finding its connection dead */
};

struct batch {
    struct ohsm_client *c;
    struct ohsm_cop *ops;
    size_t n, window, done;
    struct lane *lane;
    uint8_t *tried;  /* n * c->n: op i tried on lane l */
    size_t *fixed;   /* lane an op must use, or OHSM_ALL */
    size_t next_any; /* next never-sent op of the shared queue (fixed == OHSM_ALL) */
    size_t *retry;   /* ops waiting for another lane */
    size_t nretry;
};

static bool op_valid(const struct ohsm_cop *o)
{
    return o->kind >= OHSM_COP_ENCRYPT && o->kind <= OHSM_COP_DIGEST && o->m != NULL &&
           (o->in != NULL || o->in_len == 0) && (o->sig != NULL || o->sig_len == 0) &&
           (o->out != NULL || o->out_cap == 0);
}

static void finish(struct batch *b, size_t i, ohsm_rv rv)
{
    b->ops[i].rv = rv;
    b->done++;
}

static bool untried_lane(const struct batch *b, size_t i)
{
    if (b->fixed[i] != OHSM_ALL) {
        return b->lane[b->fixed[i]].active && !b->tried[i * b->c->n + b->fixed[i]];
    }
    for (size_t l = 0; l < b->c->n; l++) {
        if (b->lane[l].active && !b->tried[i * b->c->n + l]) {
            return true;
        }
    }
    return false;
}

/* After op i failed on a lane (rv): retry elsewhere when allowed and possible. */
static void failed_on_lane(struct batch *b, size_t i, ohsm_rv rv)
{
    if (untried_lane(b, i)) {
        b->retry[b->nretry++] = i;
    } else {
        finish(b, i, rv);
    }
}

/* A connection found dead (the HSM restarted since it was opened) is reopened once, logged in
 * again, and its in-flight ops are sent again: crypto operations can be repeated safely. */
static bool lane_revive(struct batch *b, size_t l)
{
    struct lane *L = &b->lane[l];
    if (L->revived || ohsm_route_ensure(b->c, l, true) != OHSM_OK) {
        return false;
    }
    L->revived = true;
    for (size_t k = 0; k < L->count; k++) {
        size_t i = L->op[(L->head + k) % b->window];
        b->tried[i * b->c->n + l] = 0;
        b->retry[b->nretry++] = i;
    }
    L->count = 0;
    L->bytes = 0;
    return true;
}

/* Stops lane l: its in-flight ops go elsewhere or fail with why. */
static void lane_fail(struct batch *b, size_t l, ohsm_rv why)
{
    struct lane *L = &b->lane[l];
    ohsm_route_drop(b->c, l, why);
    if ((why == OHSM_NOT_CONNECTED || why == OHSM_TLS) && lane_revive(b, l)) {
        return;
    }
    L->active = false;
    L->why = why;
    for (size_t k = 0; k < L->count; k++) {
        failed_on_lane(b, L->op[(L->head + k) % b->window], why);
    }
    L->count = 0;
    L->bytes = 0;
    /* Ops pinned here cannot run anywhere else. */
    for (; L->pinned_head < L->npinned; L->pinned_head++) {
        finish(b, L->pinned[L->pinned_head], why);
    }
    /* Retried ops that have no lane left fail now. */
    size_t w = 0;
    for (size_t r = 0; r < b->nretry; r++) {
        size_t i = b->retry[r];
        if (untried_lane(b, i)) {
            b->retry[w++] = i;
        } else {
            finish(b, i, why);
        }
    }
    b->nretry = w;
}

static size_t op_bytes(const struct ohsm_cop *o)
{
    return o->in_len + o->sig_len + o->m->iv_len + o->m->aad_len + o->m->label_len + 64;
}

/* The next op lane l may take, or OHSM_ALL. */
static size_t take(struct batch *b, size_t l)
{
    struct lane *L = &b->lane[l];
    if (L->pinned_head < L->npinned) {
        return L->pinned[L->pinned_head++];
    }
    for (size_t r = 0; r < b->nretry; r++) {
        size_t i = b->retry[r];
        if ((b->fixed[i] == OHSM_ALL || b->fixed[i] == l) && !b->tried[i * b->c->n + l]) {
            b->retry[r] = b->retry[--b->nretry];
            return i;
        }
    }
    while (b->next_any < b->n) {
        size_t i = b->next_any++;
        if (b->fixed[i] == OHSM_ALL && b->ops[i].rv == OHSM_OK) {
            return i;
        }
    }
    return OHSM_ALL;
}

static ohsm_rv queue_op(struct ohsm_conn *conn, const struct ohsm_cop *o, int64_t deadline,
                        uint64_t *id)
{
    static const Ohsm__CryptoOp kinds[] = {
        [OHSM_COP_ENCRYPT] = OHSM__CRYPTO_OP__ENCRYPT,
        [OHSM_COP_DECRYPT] = OHSM__CRYPTO_OP__DECRYPT,
        [OHSM_COP_SIGN] = OHSM__CRYPTO_OP__SIGN,
        [OHSM_COP_VERIFY] = OHSM__CRYPTO_OP__VERIFY,
        [OHSM_COP_DIGEST] = OHSM__CRYPTO_OP__DIGEST,
    };
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CryptoReq m = OHSM__CRYPTO_REQ__INIT;
    Ohsm__Mech mech;

    ohsm_conv_mech(o->m, &mech);
    m.op = kinds[o->kind];
    m.handle = o->kind == OHSM_COP_DIGEST ? 0 : o->handle;
    m.mech = &mech;
    m.data.data = (uint8_t *)o->in;
    m.data.len = o->in_len;
    m.signature.data = (uint8_t *)o->sig;
    m.signature.len = o->sig_len;
    q.op_case = OHSM__REQUEST__OP_CRYPTO;
    q.crypto = &m;
    q.id = ohsm_conn_next_id(conn);
    *id = q.id;
    return ohsm_conn_queue(conn, &q, deadline);
}

/* Tops lane l up to the window and writes what was queued. */
static void fill(struct batch *b, size_t l)
{
    struct lane *L = &b->lane[l];
    struct ohsm_conn *conn = b->c->hsm[l].conn;
    const int64_t due = ohsm_deadline_in(b->c->cfg->timeout_ms);

    while (L->active && L->count < b->window && (L->count == 0 || L->bytes < INFLIGHT_BYTES_MAX)) {
        size_t i = take(b, l);
        if (i == OHSM_ALL) {
            break;
        }
        uint64_t id = 0;
        ohsm_rv rv = queue_op(conn, &b->ops[i], due, &id);
        b->tried[i * b->c->n + l] = 1;
        if (rv == OHSM_DATA_LEN_RANGE || rv == OHSM_HOST_MEMORY) {
            finish(b, i, rv); /* this op cannot be sent anywhere */
            continue;
        }
        size_t slot = (L->head + L->count) % b->window;
        L->op[slot] = i;
        L->id[slot] = id;
        L->due[slot] = due;
        L->count++;
        L->bytes += op_bytes(&b->ops[i]);
        if (rv != OHSM_OK) {
            lane_fail(b, l, rv); /* an implied flush failed */
            return;
        }
    }
    if (L->active) {
        ohsm_rv rv = ohsm_conn_flush(conn, due);
        if (rv != OHSM_OK) {
            lane_fail(b, l, rv);
        }
    }
}

/* Stores an answer into its op. */
static void answer(struct batch *b, size_t l, size_t i, const Ohsm__Response *r)
{
    struct ohsm_cop *o = &b->ops[i];
    ohsm_rv rv = (ohsm_rv)r->rv;

    if (rv == OHSM_KEY_HANDLE_INVALID) {
        (void)l;
        failed_on_lane(b, i, rv);
        return;
    }
    if (rv == OHSM_OK && o->kind != OHSM_COP_VERIFY) {
        if (r->body_case != OHSM__RESPONSE__BODY_DATA || r->data->iv.len > sizeof(o->iv)) {
            rv = OHSM_PROTOCOL;
        } else if (r->data->data.len > o->out_cap) {
            rv = OHSM_BUFFER_TOO_SMALL;
            o->out_len = r->data->data.len;
        } else {
            if (r->data->data.len > 0) {
                memcpy(o->out, r->data->data.data, r->data->data.len);
            }
            o->out_len = r->data->data.len;
            if (r->data->iv.len > 0) {
                memcpy(o->iv, r->data->iv.data, r->data->iv.len);
            }
            o->iv_len = r->data->iv.len;
        }
    }
    finish(b, i, rv);
}

/* Reads lane l's answers: one (blocking), then as many as are already here. */
static void drain(struct batch *b, size_t l)
{
    struct lane *L = &b->lane[l];
    struct ohsm_conn *conn = b->c->hsm[l].conn;
    bool first = true;

    while (L->active && L->count > 0 && (first || ohsm_conn_readable(conn))) {
        Ohsm__Response *r = NULL;
        size_t i = L->op[L->head];
        ohsm_rv rv = ohsm_conn_recv(conn, L->id[L->head], L->due[L->head], &r);
        if (rv != OHSM_OK) {
            lane_fail(b, l, rv);
            return;
        }
        first = false;
        L->head = (L->head + 1) % b->window;
        L->count--;
        L->bytes -= op_bytes(&b->ops[i]) <= L->bytes ? op_bytes(&b->ops[i]) : L->bytes;
        if (r->id == 0) {
            ohsm_rv why = (ohsm_rv)r->rv;
            ohsm_wire_resp_free(r);
            failed_on_lane(b, i, why);
            lane_fail(b, l, why); /* the HSM closed the session */
            return;
        }
        answer(b, l, i, r);
        ohsm_wire_resp_free(r);
    }
}

/* Waits until some lane with answers due is readable, or the earliest deadline of the lanes'
 * oldest requests; lanes past that deadline and still silent fail. */
static void wait_any(struct batch *b)
{
    size_t nl = b->c->n;
    struct pollfd *p = calloc(nl, sizeof(*p));
    size_t *which = calloc(nl, sizeof(*which));
    size_t m = 0;
    int64_t first_due = INT64_MAX;

    if (p == NULL || which == NULL) {
        for (size_t l = 0; l < nl; l++) {
            if (b->lane[l].active && b->lane[l].count > 0) {
                lane_fail(b, l, OHSM_HOST_MEMORY);
            }
        }
        goto out;
    }
    for (size_t l = 0; l < nl; l++) {
        struct lane *L = &b->lane[l];
        if (!L->active || L->count == 0) {
            continue;
        }
        if (ohsm_conn_readable(b->c->hsm[l].conn)) {
            drain(b, l);
            fill(b, l);
            goto out;
        }
        p[m].fd = ohsm_conn_fd(b->c->hsm[l].conn);
        p[m].events = POLLIN;
        which[m++] = l;
        if (L->due[L->head] < first_due) {
            first_due = L->due[L->head];
        }
    }
    if (m == 0) {
        goto out;
    }
    int ready = poll(p, (nfds_t)m, ohsm_deadline_left(first_due, ohsm_deadline_now()));
    const int64_t now = ohsm_deadline_now();
    for (size_t k = 0; k < m; k++) {
        size_t l = which[k];
        struct lane *L = &b->lane[l];
        if (ready > 0 && p[k].revents != 0) {
            drain(b, l);
            fill(b, l);
        } else if (ready >= 0 && L->active && L->count > 0 && L->due[L->head] <= now) {
            lane_fail(b, l, OHSM_TIMEOUT);
        }
    }
out:
    free(p);
    free(which);
}

static ohsm_rv setup(struct batch *b, size_t only)
{
    struct ohsm_client *c = b->c;
    size_t nl = c->n;

    b->lane = calloc(nl, sizeof(*b->lane));
    b->tried = calloc(b->n, nl);
    b->fixed = calloc(b->n, sizeof(*b->fixed));
    b->retry = calloc(b->n, sizeof(*b->retry));
    OHSM_ENSURE(b->lane != NULL && b->tried != NULL && b->fixed != NULL && b->retry != NULL,
                OHSM_HOST_MEMORY);
    size_t *order = calloc(nl, sizeof(*order));
    OHSM_ENSURE(order != NULL, OHSM_HOST_MEMORY);
    size_t m = only != OHSM_ALL ? 1 : ohsm_route_order(c, OHSM_ALL, order);
    if (only != OHSM_ALL) {
        order[0] = only;
    }
    bool *use = calloc(nl, sizeof(*use));
    for (size_t l = 0; l < nl; l++) {
        b->lane[l].why = OHSM_NOT_CONNECTED;
    }
    for (size_t k = 0; use != NULL && k < m; k++) {
        use[order[k]] = true;
    }
    const bool opened = use != NULL;
    if (opened) {
        ohsm_route_connect(c, use); /* the lanes' missing connections, all at once */
    }
    free(use);
    for (size_t k = 0; k < m; k++) {
        size_t l = order[k];
        struct lane *L = &b->lane[l];
        L->why =
            c->hsm[l].conn == NULL && opened ? c->hsm[l].last_rv : ohsm_route_ensure(c, l, true);
        L->active = L->why == OHSM_OK;
        L->op = calloc(b->window, sizeof(*L->op));
        L->id = calloc(b->window, sizeof(*L->id));
        L->due = calloc(b->window, sizeof(*L->due));
        L->pinned = calloc(b->n, sizeof(*L->pinned));
        if (L->op == NULL || L->id == NULL || L->due == NULL || L->pinned == NULL) {
            free(order);
            return OHSM_HOST_MEMORY;
        }
    }
    free(order);
    for (size_t i = 0; i < b->n; i++) {
        struct ohsm_cop *o = &b->ops[i];
        o->rv = OHSM_OK;
        o->out_len = 0;
        o->iv_len = 0;
        b->fixed[i] = OHSM_ALL;
        if (!op_valid(o)) {
            finish(b, i, OHSM_ARGUMENTS_BAD);
            continue;
        }
        size_t pin = OHSM_ALL;
        if (o->kind != OHSM_COP_DIGEST && ohsm_route_sess_pin(c, o->handle, &pin) != OHSM_OK) {
            finish(b, i, OHSM_KEY_HANDLE_INVALID); /* a session key being deleted */
            continue;
        }
        if (pin == OHSM_ALL && only != OHSM_ALL) {
            pin = only;
        }
        if (pin == OHSM_ALL) {
            continue;
        }
        b->fixed[i] = pin;
        if (only != OHSM_ALL && pin != only) {
            finish(b, i, OHSM_KEY_HANDLE_INVALID); /* the session key lives elsewhere */
        } else if (b->lane[pin].pinned == NULL || !b->lane[pin].active) {
            finish(b, i, b->lane[pin].why);
        } else {
            b->lane[pin].pinned[b->lane[pin].npinned++] = i;
        }
    }
    return OHSM_OK;
}

static void teardown(struct batch *b)
{
    for (size_t l = 0; b->lane != NULL && l < b->c->n; l++) {
        free(b->lane[l].op);
        free(b->lane[l].id);
        free(b->lane[l].due);
        free(b->lane[l].pinned);
    }
    free(b->lane);
    free(b->tried);
    free(b->fixed);
    free(b->retry);
}

/* Ops of the shared queue left when no lane is active. */
static void fail_rest(struct batch *b)
{
    ohsm_rv why = OHSM_NOT_CONNECTED;
    for (size_t l = 0; l < b->c->n; l++) {
        if (b->lane[l].op != NULL) {
            why = b->lane[l].why;
            break;
        }
    }
    while (b->next_any < b->n) {
        size_t i = b->next_any++;
        if (b->fixed[i] == OHSM_ALL && b->ops[i].rv == OHSM_OK) {
            finish(b, i, why);
        }
    }
    for (size_t r = 0; r < b->nretry; r++) {
        finish(b, b->retry[r], why);
    }
    b->nretry = 0;
}

ohsm_rv ohsm_client_batch(struct ohsm_client *c, struct ohsm_cop *ops, size_t n, size_t window,
                          size_t only)
{
    struct batch b;

    OHSM_ENSURE(c != NULL && (ops != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(only == SIZE_MAX || only < c->n, OHSM_ARGUMENTS_BAD);
    if (n == 0) {
        return OHSM_OK;
    }
    memset(&b, 0, sizeof(b));
    b.c = c;
    b.ops = ops;
    b.n = n;
    b.window = window == 0 ? 1 : window > WINDOW_MAX ? WINDOW_MAX : window;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_sync_auto(c, false);
    ohsm_rv rv = setup(&b, only == SIZE_MAX ? OHSM_ALL : only);
    while (rv == OHSM_OK && b.done < n) {
        bool any = false, busy = false;
        for (size_t l = 0; l < c->n; l++) {
            if (b.lane[l].active) {
                any = true;
                if (b.lane[l].count == 0) {
                    fill(&b, l);
                }
                busy = busy || b.lane[l].count > 0;
            }
        }
        if (!any || !busy) {
            fail_rest(&b);
            if (b.done < n) {
                rv = OHSM_DEVICE_ERROR; /* bookkeeping lost an op: never expected */
            }
            break;
        }
        wait_any(&b);
    }
    (void)pthread_mutex_unlock(&c->lock);
    teardown(&b);
    if (rv != OHSM_OK) {
        return rv;
    }
    for (size_t i = 0; i < n; i++) {
        if (ops[i].rv != OHSM_OK) {
            return ops[i].rv;
        }
    }
    return OHSM_OK;
}
