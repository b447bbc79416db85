/* SPDX-License-Identifier: Apache-2.0
 *
 * Sync status and repair. Every HSM reports what it holds (SyncStatusReq); syncdiff.c decides
 * who differs. Repair moves masked objects, never plaintext: the newest masked object of a key
 * (or the sealed tombstone of a deleted one) is extracted from an HSM that has it and inserted,
 * replacing, into the HSM that lags; rounds repeat until the HSMs agree or a round fixes nothing.
 * Automatic repair runs after a login that succeeded everywhere and when an HSM that missed a
 * change is back; it is cheap when all is well (one SyncStatusReq per HSM) and never recurses.
 * HSM answers are untrusted: lengths are checked before anything is copied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "client/syncdiff.h"

#define REPAIR_ROUNDS 8
#define DIGEST_LEN 32

struct status {
    struct ohsm_sync_report *rep;
    struct ohsm_syncdiff_item *items;
    size_t nitems;
};

static void hex(const ProtobufCBinaryData *d, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    out[0] = '\0';
    if (d->len != DIGEST_LEN) {
        return;
    }
    for (size_t i = 0; i < DIGEST_LEN; i++) {
        out[2 * i] = digits[d->data[i] >> 4];
        out[2 * i + 1] = digits[d->data[i] & 15];
    }
    out[64] = '\0';
}

/* Converts HSM i's answer into syncdiff input (arrays malloc'd into h). */
static ohsm_rv take_answer(const Ohsm__Response *r, struct ohsm_syncdiff_hsm *h,
                           struct ohsm_sync_hsm *rh)
{
    OHSM_ENSURE(r->body_case == OHSM__RESPONSE__BODY_SYNC, OHSM_PROTOCOL);
    const Ohsm__SyncStatusResp *s = r->sync;
    OHSM_ENSURE(s->objects_digest.len == DIGEST_LEN || s->objects_digest.len == 0, OHSM_PROTOCOL);
    OHSM_ENSURE(s->users_digest.len == DIGEST_LEN || s->users_digest.len == 0, OHSM_PROTOCOL);
    struct ohsm_syncdiff_obj *o = calloc(s->n_objects == 0 ? 1 : s->n_objects, sizeof(*o));
    struct ohsm_syncdiff_user *u = calloc(s->n_users == 0 ? 1 : s->n_users, sizeof(*u));
    if (o == NULL || u == NULL) {
        free(o);
        free(u);
        return OHSM_HOST_MEMORY;
    }
    h->obj = o;
    h->user = u;
    for (size_t k = 0; k < s->n_objects; k++) {
        const Ohsm__SyncObject *so = s->objects[k];
        /* A tombstone may come without a digest (there is nothing left to digest). */
        OHSM_ENSURE(so != NULL &&
                        (so->digest.len == DIGEST_LEN || (so->deleted && so->digest.len == 0)),
                    OHSM_PROTOCOL);
        o[k].handle = so->handle;
        o[k].version = so->version;
        o[k].deleted = so->deleted;
        if (so->digest.len == DIGEST_LEN) {
            memcpy(o[k].digest, so->digest.data, DIGEST_LEN);
        }
        rh->objects += !so->deleted;
    }
    h->nobj = s->n_objects;
    for (size_t k = 0; k < s->n_users; k++) {
        const Ohsm__SyncUser *su = s->users[k];
        OHSM_ENSURE(su != NULL && su->digest.len == DIGEST_LEN && su->username != NULL,
                    OHSM_PROTOCOL);
        OHSM_ENSURE(strnlen(su->username, OHSM_USERNAME_MAX + 1) <= OHSM_USERNAME_MAX,
                    OHSM_PROTOCOL);
        (void)snprintf(u[k].name, sizeof(u[k].name), "%s", su->username);
        u[k].o.handle = su->user_id;
        u[k].o.version = su->version;
        u[k].o.deleted = su->deleted;
        memcpy(u[k].o.digest, su->digest.data, DIGEST_LEN);
        rh->users += !su->deleted;
    }
    h->nuser = s->n_users;
    hex(&s->objects_digest, rh->objects_digest);
    hex(&s->users_digest, rh->users_digest);
    return OHSM_OK;
}

static void status_free(struct status *st)
{
    ohsm_sync_report_free(st->rep);
    free(st->items);
    memset(st, 0, sizeof(*st));
}

/* Asks every HSM and compares. Fails only when no HSM answered (with the first HSM's error). */
static ohsm_rv status_locked(struct ohsm_client *c, struct status *st)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__SyncStatusReq m = OHSM__SYNC_STATUS_REQ__INIT;
    Ohsm__Request *qp = &q;
    struct ohsm_result *res = calloc(c->n, sizeof(*res));
    Ohsm__Response **resp = calloc(c->n, sizeof(*resp));
    struct ohsm_syncdiff_hsm *h = calloc(c->n, sizeof(*h));
    struct ohsm_sync_report *rep = calloc(1, sizeof(*rep));
    ohsm_rv rv = OHSM_HOST_MEMORY;
    bool any = false;

    memset(st, 0, sizeof(*st));
    if (res == NULL || resp == NULL || h == NULL || rep == NULL) {
        goto out;
    }
    rep->hsm = calloc(c->n, sizeof(*rep->hsm));
    if (rep->hsm == NULL) {
        goto out;
    }
    rep->nhsm = c->n;
    q.op_case = OHSM__REQUEST__OP_SYNC_STATUS;
    q.sync_status = &m;
    /* Per-HSM results are in res; the summary code adds nothing. */
    ohsm_rv ignored = ohsm_route_fanout(c, &qp, 1, NULL, true, res, resp);
    (void)ignored;
    ohsm_rv first = OHSM_OK;
    for (size_t i = 0; i < c->n; i++) {
        h[i].rv = res[i].rv;
        if (h[i].rv == OHSM_OK) {
            h[i].rv = take_answer(resp[i], &h[i], &rep->hsm[i]);
        }
        rep->hsm[i].rv = h[i].rv;
        any = any || h[i].rv == OHSM_OK;
        if (first == OHSM_OK) {
            first = h[i].rv;
        }
    }
    if (!any) {
        rv = first;
        goto out;
    }
    rv = ohsm_syncdiff_compare(h, c->n, &st->items, &st->nitems);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (st->nitems > 0) {
        rep->items = calloc(st->nitems, sizeof(*rep->items));
        if (rep->items == NULL) {
            rv = OHSM_HOST_MEMORY;
            goto out;
        }
        for (size_t k = 0; k < st->nitems; k++) {
            rep->items[k] = st->items[k].it;
        }
        rep->nitems = st->nitems;
    }
    rep->in_sync = first == OHSM_OK && st->nitems == 0;
    st->rep = rep;
    rep = NULL;
out:
    for (size_t i = 0; h != NULL && i < c->n; i++) {
        free((void *)h[i].obj);
        free((void *)h[i].user);
    }
    free(h);
    ohsm_route_free_resps(resp, resp == NULL ? 0 : c->n);
    free(res);
    ohsm_sync_report_free(rep);
    if (rv != OHSM_OK) {
        status_free(st);
    }
    return rv;
}

ohsm_rv ohsm_client_sync_status(struct ohsm_client *c, struct ohsm_sync_report **out)
{
    struct status st;

    OHSM_ENSURE(c != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = status_locked(c, &st);
    (void)pthread_mutex_unlock(&c->lock);
    if (rv != OHSM_OK) {
        return rv;
    }
    *out = st.rep;
    st.rep = NULL;
    status_free(&st);
    return OHSM_OK;
}

void ohsm_sync_report_free(struct ohsm_sync_report *r)
{
    if (r == NULL) {
        return;
    }
    free(r->hsm);
    free(r->items);
    free(r);
}

/* Request on HSM i only; *r caller frees. */
static ohsm_rv on(struct ohsm_client *c, size_t i, Ohsm__Request *q, Ohsm__Response **r)
{
    return ohsm_route_one(c, q, i, OHSM_ALL, 0u, r, NULL);
}

static ohsm_rv extract(struct ohsm_client *c, size_t i, uint64_t handle, Ohsm__Response **r)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MaskedExtractReq m = OHSM__MASKED_EXTRACT_REQ__INIT;
    m.handle = handle;
    q.op_case = OHSM__REQUEST__OP_MASKED_EXTRACT;
    q.masked_extract = &m;
    ohsm_rv rv = on(c, i, &q, r);
    if (rv == OHSM_OK &&
        ((*r)->body_case != OHSM__RESPONSE__BODY_MASKED || (*r)->masked->masked.len == 0)) {
        rv = OHSM_PROTOCOL;
    }
    return rv;
}

static ohsm_rv insert(struct ohsm_client *c, size_t i, const ProtobufCBinaryData *masked)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MaskedInsertReq m = OHSM__MASKED_INSERT_REQ__INIT;
    Ohsm__Response *r = NULL;
    m.masked = *masked;
    m.replace = true;
    q.op_case = OHSM__REQUEST__OP_MASKED_INSERT;
    q.masked_insert = &m;
    ohsm_rv rv = on(c, i, &q, &r);
    ohsm_wire_resp_free(r);
    return rv;
}

/* A user record (or tombstone) by id from HSM i. */
static ohsm_rv user_extract(struct ohsm_client *c, size_t i, uint32_t id, const char *name,
                            Ohsm__Response **r)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__UserExtractReq m = OHSM__USER_EXTRACT_REQ__INIT;
    m.user_id = id;
    m.username = (char *)(name != NULL ? name : "");
    q.op_case = OHSM__REQUEST__OP_USER_EXTRACT;
    q.user_extract = &m;
    ohsm_rv rv = on(c, i, &q, r);
    if (rv == OHSM_OK &&
        ((*r)->body_case != OHSM__RESPONSE__BODY_MASKED || (*r)->masked->masked.len == 0)) {
        rv = OHSM_PROTOCOL;
    }
    return rv;
}

static ohsm_rv user_insert(struct ohsm_client *c, size_t i, const ProtobufCBinaryData *masked)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__UserInsertReq m = OHSM__USER_INSERT_REQ__INIT;
    Ohsm__Response *r = NULL;
    m.masked = *masked;
    q.op_case = OHSM__REQUEST__OP_USER_INSERT;
    q.user_insert = &m;
    ohsm_rv rv = on(c, i, &q, &r);
    ohsm_wire_resp_free(r);
    return rv;
}

/* Moving user records is for admins and the appliance user (the HSM checks it too): a crypto
 * user's repair leaves users to them. */
static bool may_move_users(const struct ohsm_client *c)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->hsm[i].logged_in) {
            return c->hsm[i].type == OHSM_UT_CO || c->hsm[i].type == OHSM_UT_AU;
        }
    }
    return false;
}

/* The user items of st first (a key's owner should be there before its key): the newest record
 * (or tombstone) copied from the reference HSM. */
static void repair_users(struct ohsm_client *c, const struct status *st, size_t *fixed,
                         size_t *pending)
{
    if (!may_move_users(c)) {
        return;
    }
    for (size_t k = 0; k < st->nitems; k++) {
        const struct ohsm_syncdiff_item *it = &st->items[k];
        Ohsm__Response *r = NULL;
        if (!it->it.is_user) {
            continue;
        }
        (*pending)++;
        if (it->src != SIZE_MAX && it->it.handle <= UINT32_MAX &&
            user_extract(c, it->src, (uint32_t)it->it.handle, NULL, &r) == OHSM_OK &&
            user_insert(c, it->it.hsm, &r->masked->masked) == OHSM_OK) {
            (*fixed)++;
        }
        ohsm_wire_resp_free(r);
    }
}

/* One repair round over the items of st; *fixed counts successful inserts. */
static void repair_round(struct ohsm_client *c, const struct status *st, size_t *fixed,
                         size_t *pending)
{
    Ohsm__Response *cached = NULL; /* the last extraction, reused for the same handle/source */
    uint64_t cached_handle = 0;
    size_t cached_src = SIZE_MAX;

    repair_users(c, st, fixed, pending);
    for (size_t k = 0; k < st->nitems; k++) {
        const struct ohsm_syncdiff_item *it = &st->items[k];
        if (it->it.is_user) {
            continue;
        }
        (*pending)++;
        if (it->src == SIZE_MAX) {
            continue;
        }
        if (cached == NULL || cached_handle != it->it.handle || cached_src != it->src) {
            ohsm_wire_resp_free(cached);
            cached = NULL;
            if (extract(c, it->src, it->it.handle, &cached) != OHSM_OK) {
                ohsm_wire_resp_free(cached);
                cached = NULL;
                continue;
            }
            cached_handle = it->it.handle;
            cached_src = it->src;
        }
        if (insert(c, it->it.hsm, &cached->masked->masked) == OHSM_OK) {
            (*fixed)++;
        }
    }
    ohsm_wire_resp_free(cached);
}

static ohsm_rv repair_locked(struct ohsm_client *c, size_t *repaired)
{
    ohsm_rv rv = OHSM_NOT_SYNCED;
    size_t total = 0;

    c->in_repair = true;
    for (int round = 0; round < REPAIR_ROUNDS; round++) {
        struct status st;
        size_t fixed = 0, pending = 0;
        rv = status_locked(c, &st);
        if (rv != OHSM_OK) {
            break;
        }
        repair_round(c, &st, &fixed, &pending);
        if (pending == 0) {
            /* Objects agree among the HSMs that answered; one that did not is still unknown. */
            for (size_t i = 0; i < st.rep->nhsm && rv == OHSM_OK; i++) {
                rv = st.rep->hsm[i].rv;
            }
            status_free(&st);
            break;
        }
        status_free(&st);
        total += fixed;
        rv = OHSM_NOT_SYNCED;
        if (fixed == 0) {
            break; /* no progress: leave the rest to an operator (CMU syncKey) */
        }
    }
    c->in_repair = false;
    if (repaired != NULL) {
        *repaired = total;
    }
    return rv;
}

ohsm_rv ohsm_client_sync_repair(struct ohsm_client *c, size_t *repaired)
{
    OHSM_ENSURE(c != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = repair_locked(c, repaired);
    (void)pthread_mutex_unlock(&c->lock);
    return rv;
}

void ohsm_sync_auto(struct ohsm_client *c, bool force)
{
    if (!c->auto_repair || c->in_repair || c->n < 2) {
        return; /* one HSM is always in sync with itself */
    }
    if (!force) {
        bool back = false;
        for (size_t i = 0; i < c->n; i++) {
            if (c->hsm[i].missed && ohsm_route_ensure(c, i, true) == OHSM_OK &&
                c->hsm[i].logged_in) {
                back = true;
            }
        }
        if (!back) {
            return;
        }
    }
    (void)repair_locked(c, NULL);
    for (size_t i = 0; i < c->n; i++) {
        /* Tried (successfully or not): only a new failed change marks it again. */
        if (c->hsm[i].logged_in) {
            c->hsm[i].missed = false;
        }
    }
}

ohsm_rv ohsm_client_sync_key(struct ohsm_client *c, uint64_t handle, size_t from, size_t to)
{
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && from < c->n && to < c->n && from != to, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = extract(c, from, handle, &r);
    if (rv == OHSM_OK) {
        rv = insert(c, to, &r->masked->masked);
    }
    (void)pthread_mutex_unlock(&c->lock);
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_sync_user(struct ohsm_client *c, const char *username, size_t from, size_t to)
{
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && username != NULL && from < c->n && to < c->n && from != to,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(strnlen(username, OHSM_USERNAME_MAX + 1) <= OHSM_USERNAME_MAX,
                OHSM_USERNAME_INVALID);
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = user_extract(c, from, 0, username, &r);
    if (rv == OHSM_OK) {
        rv = user_insert(c, to, &r->masked->masked);
    }
    (void)pthread_mutex_unlock(&c->lock);
    ohsm_wire_resp_free(r);
    return rv;
}
