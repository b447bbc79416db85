/* SPDX-License-Identifier: Apache-2.0
 *
 * Key management across the cluster. A new token key is made on one HSM (round-robin), which
 * answers with its records and masked objects; the client inserts the masked objects into every
 * other HSM at once, so the key has the same handle and material everywhere. Changes (delete,
 * attributes, shares) go to every HSM; reads to one. Session keys stay on the HSM that made them
 * and every later use of their handle goes there. Quorum approvals (the _q calls) are checked
 * before anything is sent; a change spends each HSM's record of its approval there, while wrap and
 * unwrap run on one HSM and then have the others drop their records (no replay elsewhere).
 * Records from HSMs are untrusted and decoded by ohsm_obj_decode; key material only travels
 * inside requests (wiped with the frame).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client/deadline.h"
#include "client/internal.h"

/* key_find refuses to hold more records than this (each is a few KiB). */
#define FIND_MAX_RECORDS 200000

/* Entry and exit of every public call here: the lock, and the automatic repair of HSMs that
 * missed a change and are back. */
static void enter(struct ohsm_client *c)
{
    (void)pthread_mutex_lock(&c->lock);
    ohsm_sync_auto(c, false);
}

static void leave(struct ohsm_client *c)
{
    (void)pthread_mutex_unlock(&c->lock);
}

static void res_fill(struct ohsm_client *c, struct ohsm_result *res, ohsm_rv rv)
{
    for (size_t i = 0; i < c->n; i++) {
        res[i].rv = rv;
    }
}

static const Ohsm__KeyResp *key_body(const Ohsm__Response *r)
{
    return r != NULL && r->body_case == OHSM__RESPONSE__BODY_KEY ? r->key : NULL;
}

/* Inserts the masked objects of the token records of kr into every HSM but `made`, all at once.
 * res[i] gets each HSM's result; HSMs that failed are remembered for automatic repair. */
static ohsm_rv replicate(struct ohsm_client *c, const Ohsm__KeyResp *kr,
                         const struct ohsm_obj *objs, size_t made, struct ohsm_result *res)
{
    Ohsm__Request q[2] = {OHSM__REQUEST__INIT, OHSM__REQUEST__INIT};
    Ohsm__MaskedInsertReq m[2] = {OHSM__MASKED_INSERT_REQ__INIT, OHSM__MASKED_INSERT_REQ__INIT};
    Ohsm__Request *qs[2];
    size_t k = 0;

    for (size_t j = 0; j < kr->n_records; j++) {
        if ((objs[j].flags & OHSM_F_TOKEN) == 0) {
            continue;
        }
        if (j >= kr->n_masked || kr->masked[j].len == 0) {
            return OHSM_PROTOCOL; /* a token key the HSM did not let us replicate */
        }
        m[k].masked = kr->masked[j];
        q[k].op_case = OHSM__REQUEST__OP_MASKED_INSERT;
        q[k].masked_insert = &m[k];
        qs[k] = &q[k];
        k++;
    }
    res_fill(c, res, OHSM_OK);
    if (k == 0 || c->n == 1) {
        return OHSM_OK;
    }
    bool *use = calloc(c->n, sizeof(*use));
    Ohsm__Response **resp = calloc(c->n * k, sizeof(*resp));
    ohsm_rv rv = OHSM_HOST_MEMORY;
    if (use != NULL && resp != NULL) {
        for (size_t i = 0; i < c->n; i++) {
            use[i] = i != made;
        }
        rv = ohsm_route_fanout(c, qs, k, use, true, res, resp);
        res[made].rv = OHSM_OK;
        ohsm_route_note_missed(c, res, NULL);
    }
    ohsm_route_free_resps(resp, resp == NULL ? 0 : c->n * k);
    free(use);
    return rv;
}

/* Creation (generate, import, unwrap, derive): q goes to one HSM (pin, or round-robin with
 * fail-over), the records come back into objs, session objects are remembered, token objects
 * replicated. *ran (may be NULL) gets the HSM that accepted q, else OHSM_ALL. */
static ohsm_rv create(struct ohsm_client *c, Ohsm__Request *q, size_t pin, bool handle_retry,
                      struct ohsm_obj *objs, size_t cap, size_t *nobj, struct ohsm_result *res,
                      size_t *ran)
{
    Ohsm__Response *r = NULL;
    size_t made = 0;
    /* A client's session objects stay together on one HSM (its first one's), so they can be used
     * with each other: wrap one with another, unwrap or derive with one into another. Token objects
     * start there too then (they are replicated to every HSM anyway); crypto stays balanced. */
    size_t prefer = ohsm_route_sess_home(c);
    ohsm_rv rv = ohsm_route_one(c, q, pin, prefer,
                                OHSM_ROUTE_CREATES | (handle_retry ? OHSM_ROUTE_HANDLE_RETRY : 0u),
                                &r, &made);
    const Ohsm__KeyResp *kr = key_body(r);

    if (ran != NULL) {
        *ran = rv == OHSM_OK ? made : OHSM_ALL;
    }

    if (rv == OHSM_OK && (kr == NULL || kr->n_records == 0)) {
        rv = OHSM_PROTOCOL;
    }
    if (rv == OHSM_OK) {
        rv = ohsm_conv_records(kr->records, kr->n_records, objs, cap);
    }
    if (rv != OHSM_OK) {
        res_fill(c, res, rv);
        goto out;
    }
    *nobj = kr->n_records;
    for (size_t j = 0; j < kr->n_records; j++) {
        if ((objs[j].flags & OHSM_F_TOKEN) == 0) {
            rv = ohsm_route_sess_add(c, objs[j].handle, made);
            if (rv != OHSM_OK) {
                res_fill(c, res, rv);
                goto out;
            }
        }
    }
    rv = replicate(c, kr, objs, made, res);
    if (rv == OHSM_PROTOCOL) {
        res_fill(c, res, rv);
        res[made].rv = OHSM_OK;
    }
out:
    ohsm_wire_resp_free(r);
    return rv;
}

static struct ohsm_result *res_or_tmp(struct ohsm_client *c, struct ohsm_result *res,
                                      struct ohsm_result **tmp)
{
    *tmp = NULL;
    if (res != NULL) {
        return res;
    }
    *tmp = calloc(c->n, sizeof(**tmp));
    return *tmp;
}

/* A creation any HSM may run (the others get the new key as a masked object), under the
 * client's lock; res may be NULL (a scratch result is used). */
static ohsm_rv create_any(struct ohsm_client *c, Ohsm__Request *q, struct ohsm_obj *objs,
                          size_t cap, size_t *nobj, struct ohsm_result *res)
{
    struct ohsm_result *tmp;
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    enter(c);
    ohsm_rv rv = create(c, q, OHSM_ALL, false, objs, cap, nobj, res, NULL);
    leave(c);
    free(tmp);
    return rv;
}

ohsm_rv ohsm_client_key_generate(struct ohsm_client *c, const struct ohsm_keygen *g,
                                 struct ohsm_obj objs[2], size_t *nobj, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyGenReq m = OHSM__KEY_GEN_REQ__INIT;

    OHSM_ENSURE(c != NULL && g != NULL && objs != NULL && nobj != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE((g->tmpl != NULL || g->tmpl_len == 0) &&
                    (g->pub_tmpl != NULL || g->pub_tmpl_len == 0) &&
                    (g->share != NULL || g->nshare == 0),
                OHSM_ARGUMENTS_BAD);
    *nobj = 0;
    m.ktype = g->ktype;
    m.length = g->length;
    m.public_exponent = g->public_exponent;
    m.curve = g->curve;
    m.template_.data = (uint8_t *)g->tmpl;
    m.template_.len = g->tmpl_len;
    m.pub_template.data = (uint8_t *)g->pub_tmpl;
    m.pub_template.len = g->pub_tmpl_len;
    m.share = (char **)g->share;
    m.n_share = g->nshare;
    q.op_case = OHSM__REQUEST__OP_KEY_GEN;
    q.key_gen = &m;
    return create_any(c, &q, objs, 2, nobj, res);
}

ohsm_rv ohsm_client_key_import(struct ohsm_client *c, uint32_t cls, uint32_t ktype,
                               const uint8_t *material, size_t len, const uint8_t *tmpl,
                               size_t tmpl_len, const char *const *share, size_t nshare,
                               struct ohsm_obj *obj, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyImportReq m = OHSM__KEY_IMPORT_REQ__INIT;
    size_t nobj = 0;

    OHSM_ENSURE(c != NULL && obj != NULL && material != NULL && len > 0, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE((tmpl != NULL || tmpl_len == 0) && (share != NULL || nshare == 0),
                OHSM_ARGUMENTS_BAD);
    m.cls = cls;
    m.ktype = ktype;
    m.material.data = (uint8_t *)material; /* the frame holding it is wiped after writing */
    m.material.len = len;
    m.template_.data = (uint8_t *)tmpl;
    m.template_.len = tmpl_len;
    m.share = (char **)share;
    m.n_share = nshare;
    q.op_case = OHSM__REQUEST__OP_KEY_IMPORT;
    q.key_import = &m;
    return create_any(c, &q, obj, 1, &nobj, res);
}

ohsm_rv ohsm_client_key_unwrap_q(struct ohsm_client *c, uint64_t unwrapping,
                                 const struct ohsm_mech_params *mp, const uint8_t *wrapped,
                                 size_t wrapped_len, uint32_t cls, uint32_t ktype,
                                 const uint8_t *tmpl, size_t tmpl_len, const char *const *share,
                                 size_t nshare, const struct ohsm_approval *ap,
                                 struct ohsm_obj *obj, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__UnwrapReq m = OHSM__UNWRAP_REQ__INIT;
    Ohsm__Mech mech;
    struct ohsm_conv_approval apb;
    struct ohsm_result *tmp;
    size_t nobj = 0, ran = OHSM_ALL;

    OHSM_ENSURE(c != NULL && mp != NULL && obj != NULL && wrapped != NULL && wrapped_len > 0,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE((tmpl != NULL || tmpl_len == 0) && (share != NULL || nshare == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    ohsm_conv_mech(mp, &mech);
    m.unwrapping = unwrapping;
    m.mech = &mech;
    m.wrapped.data = (uint8_t *)wrapped;
    m.wrapped.len = wrapped_len;
    m.cls = cls;
    m.ktype = ktype;
    m.template_.data = (uint8_t *)tmpl;
    m.template_.len = tmpl_len;
    m.share = (char **)share;
    m.n_share = nshare;
    q.op_case = OHSM__REQUEST__OP_UNWRAP;
    q.unwrap = &m;
    enter(c);
    size_t pin = OHSM_ALL;
    ohsm_rv rv = ohsm_route_sess_pin(c, unwrapping, &pin);
    if (rv == OHSM_OK) {
        rv = create(c, &q, pin, pin == OHSM_ALL, obj, 1, &nobj, res, &ran);
    } else {
        res_fill(c, res, rv);
    }
    /* The unwrap ran on one HSM (the others got the new key as a masked object): the approval
     * was spent there only. */
    if (ap != NULL && ran != OHSM_ALL) {
        ohsm_client_quorum_drop_locked(c, ran, &ap, 1);
    }
    leave(c);
    free(tmp);
    return rv;
}

ohsm_rv ohsm_client_key_unwrap(struct ohsm_client *c, uint64_t unwrapping,
                               const struct ohsm_mech_params *mp, const uint8_t *wrapped,
                               size_t wrapped_len, uint32_t cls, uint32_t ktype,
                               const uint8_t *tmpl, size_t tmpl_len, const char *const *share,
                               size_t nshare, struct ohsm_obj *obj, struct ohsm_result *res)
{
    return ohsm_client_key_unwrap_q(c, unwrapping, mp, wrapped, wrapped_len, cls, ktype, tmpl,
                                    tmpl_len, share, nshare, NULL, obj, res);
}

ohsm_rv ohsm_client_key_derive(struct ohsm_client *c, uint64_t base, const struct ohsm_derive *d,
                               uint32_t cls, uint32_t ktype, const uint8_t *tmpl, size_t tmpl_len,
                               const char *const *share, size_t nshare, struct ohsm_obj *obj,
                               struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__DeriveReq m = OHSM__DERIVE_REQ__INIT;
    struct ohsm_result *tmp;
    size_t nobj = 0;

    OHSM_ENSURE(c != NULL && d != NULL && obj != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE((d->peer_point != NULL || d->peer_point_len == 0) &&
                    (d->shared_info != NULL || d->shared_info_len == 0) &&
                    (tmpl != NULL || tmpl_len == 0) && (share != NULL || nshare == 0),
                OHSM_ARGUMENTS_BAD);
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    m.base_key = base;
    m.mech = d->mech;
    m.kdf_hash = d->kdf_hash;
    m.peer_point.data = (uint8_t *)d->peer_point;
    m.peer_point.len = d->peer_point_len;
    m.shared_info.data = (uint8_t *)d->shared_info;
    m.shared_info.len = d->shared_info_len;
    m.cls = cls;
    m.ktype = ktype;
    m.template_.data = (uint8_t *)tmpl;
    m.template_.len = tmpl_len;
    m.share = (char **)share;
    m.n_share = nshare;
    q.op_case = OHSM__REQUEST__OP_DERIVE;
    q.derive = &m;
    enter(c);
    /* As unwrap: on the base key's HSM when it is a session key, else any (the new key goes to
     * the others as a masked object). */
    size_t pin = OHSM_ALL;
    ohsm_rv rv = ohsm_route_sess_pin(c, base, &pin);
    if (rv == OHSM_OK) {
        rv = create(c, &q, pin, pin == OHSM_ALL, obj, 1, &nobj, res, NULL);
    } else {
        res_fill(c, res, rv);
    }
    leave(c);
    free(tmp);
    return rv;
}

/* A change to one key on every HSM (or only on the HSM of a session key). obj (may be NULL) gets
 * the record from the first HSM that answered with one. */
static ohsm_rv change(struct ohsm_client *c, uint64_t handle, Ohsm__Request *q,
                      struct ohsm_obj *obj, struct ohsm_result *res)
{
    bool *use = calloc(c->n, sizeof(*use));
    Ohsm__Response **resp = calloc(c->n, sizeof(*resp));
    ohsm_rv rv = OHSM_HOST_MEMORY;
    bool got = false;

    if (use == NULL || resp == NULL) {
        res_fill(c, res, rv);
        goto out;
    }
    size_t pin = OHSM_ALL;
    rv = ohsm_route_sess_pin(c, handle, &pin);
    if (rv != OHSM_OK) {
        res_fill(c, res, rv);
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        use[i] = pin == OHSM_ALL || i == pin;
        res[i].rv = OHSM_OK;
    }
    rv = ohsm_route_fanout(c, &q, 1, use, true, res, resp);
    if (pin == OHSM_ALL) {
        ohsm_route_note_missed(c, res, use);
    }
    for (size_t i = 0; obj != NULL && !got && i < c->n; i++) {
        const Ohsm__KeyResp *kr = res[i].rv == OHSM_OK ? key_body(resp[i]) : NULL;
        if (kr != NULL && kr->n_records >= 1) {
            got = ohsm_conv_records(kr->records, 1, obj, 1) == OHSM_OK;
            if (!got && rv == OHSM_OK) {
                rv = OHSM_PROTOCOL;
            }
        }
    }
out:
    ohsm_route_free_resps(resp, resp == NULL ? 0 : c->n);
    free(use);
    return rv;
}

/* Queues a delete of session object `handle` on its HSM's connection (ohsm_client_key_delete_later)
 * and marks it dying; OHSM_OK when queued, else an error and nothing changed. */
static ohsm_rv delete_deferred(struct ohsm_client *c, uint64_t handle, Ohsm__Request *q)
{
    ohsm_rv rv = OHSM_BUFFER_TOO_SMALL; /* not deferred */
    size_t i = OHSM_ALL;
    /* Only a live session object whose HSM session is up and logged in on this client, with room
     * for one more deferred request. */
    if (!ohsm_route_sess_doom(c, handle, &i)) {
        return rv;
    }
    struct hsm_slot *h = &c->hsm[i];
    if (h->conn != NULL && h->logged_in && ohsm_conn_deferred(h->conn) < OHSM_CONN_DEFERRED_MAX &&
        ohsm_route_ensure(c, i, true) == OHSM_OK && h->conn != NULL && h->logged_in) {
        q->id = ohsm_conn_next_id(h->conn);
        rv = ohsm_conn_queue_deferred(h->conn, q, handle, ohsm_deadline_in(c->cfg->timeout_ms));
        if (ohsm_rv_is_transport(rv)) {
            ohsm_route_drop(c, i, rv);
        }
    }
    if (rv != OHSM_OK) {
        ohsm_route_sess_undoom(c, handle); /* nothing was queued */
    }
    return rv;
}

/* ohsm_client_key_delete, and with `later` ohsm_client_key_delete_later: the plain delete when
 * the deferred one does not apply. */
static ohsm_rv key_delete(struct ohsm_client *c, uint64_t handle, struct ohsm_result *res,
                          bool later)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyDeleteReq m = OHSM__KEY_DELETE_REQ__INIT;
    struct ohsm_result *tmp;

    OHSM_ENSURE(c != NULL, OHSM_ARGUMENTS_BAD);
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    m.handle = handle;
    q.op_case = OHSM__REQUEST__OP_KEY_DELETE;
    q.key_delete = &m;
    enter(c);
    ohsm_rv rv = later ? delete_deferred(c, handle, &q) : OHSM_BUFFER_TOO_SMALL;
    if (rv == OHSM_OK) {
        res_fill(c, res, OHSM_OK);
    } else {
        rv = change(c, handle, &q, NULL, res);
        if (rv == OHSM_OK) {
            ohsm_route_sess_del(c, handle);
        }
    }
    leave(c);
    free(tmp);
    return rv;
}

ohsm_rv ohsm_client_key_delete(struct ohsm_client *c, uint64_t handle, struct ohsm_result *res)
{
    return key_delete(c, handle, res, false);
}

ohsm_rv ohsm_client_key_delete_later(struct ohsm_client *c, uint64_t handle,
                                     struct ohsm_result *res)
{
    return key_delete(c, handle, res, true);
}

ohsm_rv ohsm_client_key_set_attrs_q(struct ohsm_client *c, uint64_t handle, const uint8_t *tmpl,
                                    size_t tmpl_len, const struct ohsm_approval *ap,
                                    struct ohsm_obj *obj, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeySetAttrReq m = OHSM__KEY_SET_ATTR_REQ__INIT;
    struct ohsm_conv_approval apb;
    struct ohsm_result *tmp;

    OHSM_ENSURE(c != NULL && tmpl != NULL && tmpl_len > 0, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    m.handle = handle;
    m.template_.data = (uint8_t *)tmpl;
    m.template_.len = tmpl_len;
    q.op_case = OHSM__REQUEST__OP_KEY_SET_ATTR;
    q.key_set_attr = &m;
    enter(c);
    /* Every HSM that applies the change spends its own record of the approval. */
    ohsm_rv rv = change(c, handle, &q, obj, res);
    leave(c);
    free(tmp);
    return rv;
}

ohsm_rv ohsm_client_key_set_attrs(struct ohsm_client *c, uint64_t handle, const uint8_t *tmpl,
                                  size_t tmpl_len, struct ohsm_obj *obj, struct ohsm_result *res)
{
    return ohsm_client_key_set_attrs_q(c, handle, tmpl, tmpl_len, NULL, obj, res);
}

ohsm_rv ohsm_client_key_share_q(struct ohsm_client *c, uint64_t handle, const char *username,
                                bool share, const struct ohsm_approval *ap, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyShareReq m = OHSM__KEY_SHARE_REQ__INIT;
    struct ohsm_conv_approval apb;
    struct ohsm_result *tmp;

    OHSM_ENSURE(c != NULL && username != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(strnlen(username, OHSM_USERNAME_MAX + 1) <= OHSM_USERNAME_MAX,
                OHSM_USERNAME_INVALID);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    m.handle = handle;
    m.username = (char *)username;
    m.share = share;
    q.op_case = OHSM__REQUEST__OP_KEY_SHARE;
    q.key_share = &m;
    enter(c);
    ohsm_rv rv = change(c, handle, &q, NULL, res);
    leave(c);
    free(tmp);
    return rv;
}

ohsm_rv ohsm_client_key_share(struct ohsm_client *c, uint64_t handle, const char *username,
                              bool share, struct ohsm_result *res)
{
    return ohsm_client_key_share_q(c, handle, username, share, NULL, res);
}

/* ---- find ---- */

struct objvec {
    struct ohsm_obj *v;
    size_t n, cap;
};

static ohsm_rv objvec_push(struct objvec *o, const ProtobufCBinaryData *rec)
{
    if (o->n == o->cap) {
        OHSM_ENSURE(o->cap < FIND_MAX_RECORDS, OHSM_DATA_LEN_RANGE);
        size_t cap = o->cap == 0 ? 16 : o->cap * 2;
        struct ohsm_obj *p = realloc(o->v, cap * sizeof(*p));
        OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
        o->v = p;
        o->cap = cap;
    }
    OHSM_TRY(ohsm_conv_records(rec, 1, &o->v[o->n], 1));
    o->n++;
    return OHSM_OK;
}

/* Every page of a find on one HSM (pin), or balanced with fail-over between pages (handles are
 * cluster-wide, so a page can continue on another HSM). *used: the HSM of the first page. */
static ohsm_rv find_all(struct ohsm_client *c, size_t pin, const uint8_t *tmpl, size_t tmpl_len,
                        struct objvec *o, size_t *used)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyFindReq m = OHSM__KEY_FIND_REQ__INIT;
    size_t prefer = OHSM_ALL;
    bool more = true;

    m.template_.data = (uint8_t *)tmpl;
    m.template_.len = tmpl_len;
    q.op_case = OHSM__REQUEST__OP_KEY_FIND;
    q.key_find = &m;
    while (more) {
        Ohsm__Response *r = NULL;
        size_t at = 0;
        ohsm_rv rv = ohsm_route_one(c, &q, pin, prefer, 0u, &r, &at);
        if (rv == OHSM_OK && r->body_case != OHSM__RESPONSE__BODY_FOUND) {
            rv = OHSM_PROTOCOL;
        }
        if (rv != OHSM_OK) {
            ohsm_wire_resp_free(r);
            return rv;
        }
        if (prefer == OHSM_ALL) {
            *used = at;
            prefer = at;
        }
        const Ohsm__KeyFindResp *f = r->found;
        more = f->more;
        /* A page must move forward, or a misbehaving HSM could keep us here forever. */
        rv = more && f->n_records == 0 ? OHSM_PROTOCOL : OHSM_OK;
        for (size_t i = 0; rv == OHSM_OK && i < f->n_records; i++) {
            rv = objvec_push(o, &f->records[i]);
            if (rv == OHSM_OK && o->n > 1 && o->v[o->n - 1].handle <= o->v[o->n - 2].handle) {
                rv = OHSM_PROTOCOL;
            }
        }
        ohsm_wire_resp_free(r);
        OHSM_TRY(rv);
        if (o->n > 0) {
            m.after = o->v[o->n - 1].handle;
        }
    }
    return OHSM_OK;
}

static int by_handle(const void *a, const void *b)
{
    uint64_t x = ((const struct ohsm_obj *)a)->handle;
    uint64_t y = ((const struct ohsm_obj *)b)->handle;
    return x < y ? -1 : x > y;
}

/* Adds the session objects that live on other HSMs than the one that answered the find. */
static ohsm_rv merge_session(struct ohsm_client *c, size_t used, const uint8_t *tmpl,
                             size_t tmpl_len, struct objvec *o)
{
    for (size_t i = 0; i < c->n; i++) {
        if (i == used || !ohsm_route_sess_on(c, i)) {
            continue;
        }
        struct objvec more = {NULL, 0, 0};
        size_t at = 0;
        ohsm_rv rv = find_all(c, i, tmpl, tmpl_len, &more, &at);
        for (size_t k = 0; rv == OHSM_OK && k < more.n; k++) {
            if ((more.v[k].flags & OHSM_F_TOKEN) != 0) {
                continue;
            }
            if (o->n == o->cap) {
                size_t cap = o->cap == 0 ? 16 : o->cap * 2;
                struct ohsm_obj *p = realloc(o->v, cap * sizeof(*p));
                if (p == NULL) {
                    rv = OHSM_HOST_MEMORY;
                    break;
                }
                o->v = p;
                o->cap = cap;
            }
            o->v[o->n++] = more.v[k];
        }
        free(more.v);
        OHSM_TRY(rv);
    }
    qsort(o->v, o->n, sizeof(*o->v), by_handle);
    return OHSM_OK;
}

static ohsm_rv find(struct ohsm_client *c, size_t pin, const uint8_t *tmpl, size_t tmpl_len,
                    struct ohsm_obj **objs, size_t *n)
{
    struct objvec o = {NULL, 0, 0};
    size_t used = 0;

    OHSM_ENSURE(c != NULL && objs != NULL && n != NULL && (tmpl != NULL || tmpl_len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(pin == OHSM_ALL || pin < c->n, OHSM_ARGUMENTS_BAD);
    enter(c);
    ohsm_rv rv = find_all(c, pin, tmpl, tmpl_len, &o, &used);
    if (rv == OHSM_OK && pin == OHSM_ALL && ohsm_route_sess_on(c, OHSM_ALL)) {
        rv = merge_session(c, used, tmpl, tmpl_len, &o);
    }
    leave(c);
    if (rv != OHSM_OK) {
        free(o.v);
        return rv;
    }
    if (o.n == 0) {
        free(o.v);
        o.v = NULL;
    }
    *objs = o.v;
    *n = o.n;
    return OHSM_OK;
}

ohsm_rv ohsm_client_key_find(struct ohsm_client *c, const uint8_t *tmpl, size_t tmpl_len,
                             struct ohsm_obj **objs, size_t *n)
{
    return find(c, OHSM_ALL, tmpl, tmpl_len, objs, n);
}

ohsm_rv ohsm_client_key_find_on(struct ohsm_client *c, size_t i, const uint8_t *tmpl,
                                size_t tmpl_len, struct ohsm_obj **objs, size_t *n)
{
    OHSM_ENSURE(c != NULL && i < c->n, OHSM_ARGUMENTS_BAD);
    return find(c, i, tmpl, tmpl_len, objs, n);
}

/* ---- one key ---- */

static ohsm_rv get(struct ohsm_client *c, size_t pin, uint64_t handle, struct ohsm_obj *obj)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyGetReq m = OHSM__KEY_GET_REQ__INIT;
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && obj != NULL, OHSM_ARGUMENTS_BAD);
    m.handle = handle;
    q.op_case = OHSM__REQUEST__OP_KEY_GET;
    q.key_get = &m;
    enter(c);
    ohsm_rv rv = pin == OHSM_ALL ? ohsm_route_sess_pin(c, handle, &pin) : OHSM_OK;
    if (rv == OHSM_OK) {
        rv = ohsm_route_one(c, &q, pin, OHSM_ALL, pin == OHSM_ALL ? OHSM_ROUTE_HANDLE_RETRY : 0u,
                            &r, NULL);
    }
    leave(c);
    const Ohsm__KeyResp *kr = key_body(r);
    if (rv == OHSM_OK) {
        rv = kr == NULL || kr->n_records != 1 ? OHSM_PROTOCOL
                                              : ohsm_conv_records(kr->records, 1, obj, 1);
    }
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_key_get(struct ohsm_client *c, uint64_t handle, struct ohsm_obj *obj)
{
    return get(c, OHSM_ALL, handle, obj);
}

ohsm_rv ohsm_client_key_get_on(struct ohsm_client *c, size_t i, uint64_t handle,
                               struct ohsm_obj *obj)
{
    OHSM_ENSURE(c != NULL && i < c->n, OHSM_ARGUMENTS_BAD);
    return get(c, i, handle, obj);
}

/* Runs a request that answers DataResp on one HSM (pin, or balanced) and copies the data out.
 * *ran (may be NULL) gets the HSM that accepted q, else OHSM_ALL. */
static ohsm_rv data_call(struct ohsm_client *c, Ohsm__Request *q, size_t pin, bool handle_retry,
                         uint8_t **out, size_t *out_len, size_t *ran)
{
    Ohsm__Response *r = NULL;
    size_t at = OHSM_ALL;
    ohsm_rv rv =
        ohsm_route_one(c, q, pin, OHSM_ALL, handle_retry ? OHSM_ROUTE_HANDLE_RETRY : 0u, &r, &at);
    if (ran != NULL) {
        *ran = rv == OHSM_OK ? at : OHSM_ALL;
    }
    if (rv == OHSM_OK) {
        rv = r->body_case != OHSM__RESPONSE__BODY_DATA
                 ? OHSM_PROTOCOL
                 : ohsm_conv_dup(&r->data->data, out, out_len);
    }
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_key_export_public(struct ohsm_client *c, uint64_t handle, uint8_t **out,
                                      size_t *out_len)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyExportReq m = OHSM__KEY_EXPORT_REQ__INIT;

    OHSM_ENSURE(c != NULL && out != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    m.handle = handle;
    q.op_case = OHSM__REQUEST__OP_KEY_EXPORT;
    q.key_export = &m;
    enter(c);
    size_t pin = OHSM_ALL;
    ohsm_rv rv = ohsm_route_sess_pin(c, handle, &pin);
    if (rv == OHSM_OK) {
        rv = data_call(c, &q, pin, pin == OHSM_ALL, out, out_len, NULL);
    }
    leave(c);
    return rv;
}

ohsm_rv ohsm_client_key_wrap_q(struct ohsm_client *c, uint64_t wrapping, uint64_t payload,
                               const struct ohsm_mech_params *mp,
                               const struct ohsm_approval *payload_ap,
                               const struct ohsm_approval *wrapping_ap, uint8_t **out,
                               size_t *out_len)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__WrapReq m = OHSM__WRAP_REQ__INIT;
    Ohsm__Mech mech;
    struct ohsm_conv_approval pb, wb;

    OHSM_ENSURE(c != NULL && mp != NULL && out != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_conv_approval(payload_ap, &pb, &m.payload_approval));
    OHSM_TRY(ohsm_conv_approval(wrapping_ap, &wb, &m.wrapping_approval));
    ohsm_conv_mech(mp, &mech);
    m.wrapping = wrapping;
    m.payload = payload;
    m.mech = &mech;
    q.op_case = OHSM__REQUEST__OP_WRAP;
    q.wrap = &m;
    enter(c);
    size_t a = OHSM_ALL, b = OHSM_ALL;
    ohsm_rv rv = ohsm_route_sess_pin(c, wrapping, &a);
    if (rv == OHSM_OK) {
        rv = ohsm_route_sess_pin(c, payload, &b);
    }
    if (rv == OHSM_OK && a != OHSM_ALL && b != OHSM_ALL && a != b) {
        rv = OHSM_KEY_HANDLE_INVALID; /* two session keys on different HSMs never meet */
    }
    if (rv == OHSM_OK) {
        size_t pin = a != OHSM_ALL ? a : b;
        size_t ran = OHSM_ALL;
        rv = data_call(c, &q, pin, pin == OHSM_ALL, out, out_len, &ran);
        /* A wrap runs on one HSM: the approvals were spent there only. */
        const struct ohsm_approval *aps[2] = {payload_ap, wrapping_ap};
        if (ran != OHSM_ALL && (payload_ap != NULL || wrapping_ap != NULL)) {
            ohsm_client_quorum_drop_locked(c, ran, aps, 2);
        }
    }
    leave(c);
    return rv;
}

ohsm_rv ohsm_client_key_wrap(struct ohsm_client *c, uint64_t wrapping, uint64_t payload,
                             const struct ohsm_mech_params *mp, uint8_t **out, size_t *out_len)
{
    return ohsm_client_key_wrap_q(c, wrapping, payload, mp, NULL, NULL, out, out_len);
}

/* ---- masked objects ---- */

ohsm_rv ohsm_client_masked_extract(struct ohsm_client *c, size_t i, uint64_t handle, uint8_t **out,
                                   size_t *out_len)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MaskedExtractReq m = OHSM__MASKED_EXTRACT_REQ__INIT;
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && i < c->n && out != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    m.handle = handle;
    q.op_case = OHSM__REQUEST__OP_MASKED_EXTRACT;
    q.masked_extract = &m;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_route_one(c, &q, i, OHSM_ALL, 0u, &r, NULL);
    (void)pthread_mutex_unlock(&c->lock);
    if (rv == OHSM_OK) {
        rv = r->body_case != OHSM__RESPONSE__BODY_MASKED || r->masked->masked.len == 0
                 ? OHSM_PROTOCOL
                 : ohsm_conv_dup(&r->masked->masked, out, out_len);
    }
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_masked_insert(struct ohsm_client *c, size_t i, const uint8_t *masked,
                                  size_t len, bool replace, struct ohsm_obj *obj)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MaskedInsertReq m = OHSM__MASKED_INSERT_REQ__INIT;
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && i < c->n && masked != NULL && len > 0, OHSM_ARGUMENTS_BAD);
    m.masked.data = (uint8_t *)masked;
    m.masked.len = len;
    m.replace = replace;
    q.op_case = OHSM__REQUEST__OP_MASKED_INSERT;
    q.masked_insert = &m;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_route_one(c, &q, i, OHSM_ALL, 0u, &r, NULL);
    (void)pthread_mutex_unlock(&c->lock);
    if (obj != NULL) {
        memset(obj, 0, sizeof(*obj));
        const Ohsm__KeyResp *kr = key_body(r);
        /* A tombstone has no record to return. */
        if (rv == OHSM_OK && kr != NULL && kr->n_records >= 1) {
            rv = ohsm_conv_records(kr->records, 1, obj, 1);
        }
    }
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_masked_insert_new(struct ohsm_client *c, const uint8_t *masked, size_t len,
                                      struct ohsm_obj *obj, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MaskedInsertReq m = OHSM__MASKED_INSERT_REQ__INIT;
    size_t nobj = 0;

    OHSM_ENSURE(c != NULL && obj != NULL && masked != NULL && len > 0, OHSM_ARGUMENTS_BAD);
    m.masked.data = (uint8_t *)masked;
    m.masked.len = len;
    m.as_new = true;
    q.op_case = OHSM__REQUEST__OP_MASKED_INSERT;
    q.masked_insert = &m;
    /* A creation: made on one HSM, its new masked object inserted into the others. */
    return create_any(c, &q, obj, 1, &nobj, res);
}
