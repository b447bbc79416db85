/* SPDX-License-Identifier: Apache-2.0
 *
 * Objects: C_CreateObject, C_CopyObject, C_DestroyObject, C_GetObjectSize, C_GetAttributeValue,
 * C_SetAttributeValue, C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal, and the tables
 * behind them: session objects (which client's HSM session holds each) and the cache of key facts.
 *
 * Handles are the cluster's: the same numbers openhsm-cli and key_mgmt_util show. Token objects
 * are on every HSM; session objects (CKA_TOKEN false) live on the HSM session of the client that
 * made them and die with the PKCS#11 session that made them (or at logout).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "attr.h"
#include "p11.h"

/* ---- session objects ---- */
/* They live on the HSM sessions of the pool's session-object group (p11.h): any client reaches
 * them; this table only says which PKCS#11 session made each. */

bool p11_obj_is_session(struct p11_state *st, CK_OBJECT_HANDLE h)
{
    bool found = false;
    p11_lock(&st->lock);
    for (size_t i = 0; i < st->nsobj && !found; i++) {
        found = st->sobj[i].h == h;
    }
    p11_unlock(&st->lock);
    return found;
}

CK_RV p11_sobj_add(struct p11_state *st, CK_OBJECT_HANDLE h, CK_SESSION_HANDLE s)
{
    p11_lock(&st->lock);
    struct p11_sobj *n = p11_grow(st->sobj, &st->sobj_cap, st->nsobj, sizeof *n, 16);
    if (n == NULL) {
        p11_unlock(&st->lock);
        return CKR_HOST_MEMORY;
    }
    st->sobj = n;
    st->sobj[st->nsobj++] = (struct p11_sobj){.h = h, .owner = s};
    p11_unlock(&st->lock);
    return CKR_OK;
}

void p11_sobj_del(struct p11_state *st, CK_OBJECT_HANDLE h)
{
    p11_lock(&st->lock);
    for (size_t i = 0; i < st->nsobj; i++) {
        if (st->sobj[i].h == h) {
            st->sobj[i] = st->sobj[--st->nsobj];
            break;
        }
    }
    p11_unlock(&st->lock);
}

static void delete_on(struct p11_state *st, CK_OBJECT_HANDLE h)
{
    struct p11_conn *c = NULL;
    struct ohsm_result *res = NULL;
    size_t nh = 0;
    if (p11_fanout_get(st, &c, &res, &nh) == CKR_OK) {
        P11_BEST_EFFORT(ohsm_client_key_delete(c->c, h, res));
    }
    free(res);
    p11_pool_put(&st->pool, c);
}

void p11_sobj_destroy_of(struct p11_state *st, CK_SESSION_HANDLE s)
{
    for (;;) {
        p11_lock(&st->lock);
        struct p11_sobj victim = {0};
        bool found = false;
        for (size_t i = 0; i < st->nsobj; i++) {
            if (s == 0 || st->sobj[i].owner == s) {
                victim = st->sobj[i];
                st->sobj[i] = st->sobj[--st->nsobj];
                found = true;
                break;
            }
        }
        p11_unlock(&st->lock);
        if (!found) {
            return;
        }
        p11_key_facts_forget(st, victim.h);
        delete_on(st, victim.h);
    }
}

/* ---- key facts ---- */

#define P11_FACTS_MAX 65536u /* cached keys at most: the cache starts over when full */

static bool facts_find(struct p11_state *st, CK_OBJECT_HANDLE h, struct p11_keyfacts *out)
{
    bool found = false;
    p11_lock(&st->lock);
    for (size_t i = 0; i < st->nfacts; i++) {
        if (st->facts[i].h == h) {
            *out = st->facts[i];
            found = true;
            break;
        }
    }
    p11_unlock(&st->lock);
    return found;
}

static void facts_put(struct p11_state *st, const struct p11_keyfacts *f)
{
    p11_lock(&st->lock);
    for (size_t i = 0; i < st->nfacts; i++) {
        if (st->facts[i].h == f->h) {
            st->facts[i] = *f;
            p11_unlock(&st->lock);
            return;
        }
    }
    if (st->nfacts == st->facts_cap && st->facts_cap > P11_FACTS_MAX / 2) {
        st->nfacts = 0; /* a bounded cache: start over */
    }
    struct p11_keyfacts *n = p11_grow(st->facts, &st->facts_cap, st->nfacts, sizeof *n, 64);
    if (n == NULL) {
        p11_unlock(&st->lock);
        return;
    }
    st->facts = n;
    st->facts[st->nfacts++] = *f;
    p11_unlock(&st->lock);
}

void p11_key_facts_forget(struct p11_state *st, CK_OBJECT_HANDLE h)
{
    p11_lock(&st->lock);
    for (size_t i = 0; i < st->nfacts; i++) {
        if (st->facts[i].h == h) {
            st->facts[i] = st->facts[--st->nfacts];
            break;
        }
    }
    p11_unlock(&st->lock);
}

CK_RV p11_obj_read(struct p11_state *st, CK_OBJECT_HANDLE h, enum p11_ckr_ctx ctx,
                   struct ohsm_obj *out)
{
    struct p11_conn *c = NULL;
    CK_RV rv = p11_pool_get(&st->pool, &c);
    if (rv != CKR_OK) {
        return rv;
    }
    ohsm_rv orv = ohsm_client_key_get(c->c, h, out);
    p11_pool_put(&st->pool, c);
    return p11_rv(orv, ctx);
}

CK_RV p11_key_facts(struct p11_state *st, CK_OBJECT_HANDLE h, enum p11_ckr_ctx ctx,
                    struct p11_keyfacts *out, struct ohsm_obj *rec, bool *have_rec)
{
    if (have_rec != NULL) {
        *have_rec = false;
    }
    if (rec == NULL && facts_find(st, h, out)) {
        return CKR_OK;
    }
    struct ohsm_obj tmp;
    struct ohsm_obj *o = rec != NULL ? rec : &tmp;
    CK_RV rv = p11_obj_read(st, h, ctx, o);
    if (rv != CKR_OK) {
        return rv;
    }
    *out = (struct p11_keyfacts){.h = h, .cls = o->cls, .ktype = o->ktype,
                                 .modulus_bits = o->modulus_bits, .curve = o->curve,
                                 .value_len = o->value_len, .flags = o->flags};
    facts_put(st, out);
    if (have_rec != NULL) {
        *have_rec = rec != NULL;
    }
    return CKR_OK;
}

/* ---- calls that change every HSM ---- */

CK_RV p11_fanout_get(struct p11_state *st, struct p11_conn **c, struct ohsm_result **res,
                     size_t *nh)
{
    *res = NULL;
    CK_RV rv = p11_pool_get(&st->pool, c);
    if (rv != CKR_OK) {
        return rv;
    }
    *nh = ohsm_client_hsm_count((*c)->c);
    *res = calloc(*nh ? *nh : 1, sizeof **res);
    return *res == NULL ? CKR_HOST_MEMORY : CKR_OK;
}

/* A change made on some HSMs while the others could not be reached stands (libopenhsm brings
 * those HSMs up to date when they are back); a refusal by any HSM is the answer. */
CK_RV p11_fanout_rv(ohsm_rv orv, const struct ohsm_result *res, size_t nh, enum p11_ckr_ctx ctx)
{
    if (orv == OHSM_OK) {
        return CKR_OK;
    }
    bool some = false;
    for (size_t i = 0; i < nh; i++) {
        if (res[i].rv == OHSM_OK) {
            some = true;
        } else if (!p11_rv_transport(res[i].rv)) {
            return p11_rv(res[i].rv, ctx);
        }
    }
    if (some) {
        p11_log(P11_LOG_WARN, "a change reached only some HSMs (%s on the others); they are "
                              "repaired when they are back",
                ohsm_rv_name(orv));
        return CKR_OK;
    }
    return p11_rv(orv, ctx);
}

static CK_RV need_login(struct p11_state *st)
{
    return p11_pool_logged_in(&st->pool) ? CKR_OK : CKR_USER_NOT_LOGGED_IN;
}

/* ---- C_CreateObject ---- */

P11_API CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                             CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct p11_make_out mk;
    memset(&mk, 0, sizeof mk);
    struct p11_conn *c = NULL;
    struct ohsm_result *res = NULL;
    if (phObject == NULL || (pTemplate == NULL && ulCount > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = need_login(st)) != CKR_OK) {
        goto out;
    }
    rv = p11_make_parse(P11_MAKE_CREATE, pTemplate, ulCount, CK_UNAVAILABLE_INFORMATION,
                        CK_UNAVAILABLE_INFORMATION, &mk);
    if (rv != CKR_OK) {
        goto out;
    }
    if ((rv = p11_session_writes(s, mk.token)) != CKR_OK) {
        goto out;
    }
    p11_role_put(&mk.tmpl, p11_role_class(&mk.tmpl, NULL));
    size_t nh = 0;
    if ((rv = p11_fanout_get(st, &c, &res, &nh)) != CKR_OK) {
        goto out;
    }
    struct ohsm_obj obj;
    memset(&obj, 0, sizeof obj);
    ohsm_rv orv = ohsm_client_key_import(c->c, (uint32_t)mk.cls, (uint32_t)mk.ktype, mk.material,
                                         mk.material_len, mk.tmpl.buf, mk.tmpl.len, NULL, 0,
                                         &obj, res);
    rv = p11_fanout_rv(orv, res, nh, P11_CTX_OBJECT);
    if (rv == CKR_OK && obj.handle == 0) {
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK && !mk.token) {
        rv = p11_sobj_add(st, obj.handle, s->h);
    }
    if (rv == CKR_OK) {
        *phObject = obj.handle;
    }
out:
    free(res);
    p11_pool_put(&st->pool, c);
    p11_make_clear(&mk);
    p11_session_release(st, s);
    return rv;
}

/* ---- C_CopyObject ----
 * The HSM copies a key as its masked object inserted under a new handle (key material never
 * leaves the cluster's masking), then the copy template is applied to the new key. Copies are
 * token objects on every HSM: a session copy is refused. */
P11_API CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                           CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                           CK_OBJECT_HANDLE_PTR phNewObject)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct p11_conn *c = NULL;
    struct ohsm_result *res = NULL;
    uint8_t *masked = NULL;
    size_t masked_len = 0;
    struct ohsm_tmpl_buf *tb = calloc(1, sizeof *tb);
    if (tb == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (phNewObject == NULL || (pTemplate == NULL && ulCount > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = need_login(st)) != CKR_OK) {
        goto out;
    }
    bool token_set = false, token_val = false;
    ohsm_tmpl_init(tb);
    if ((rv = p11_attr_set_parse(pTemplate, ulCount, tb, &token_set, &token_val)) != CKR_OK) {
        goto out;
    }
    if (p11_obj_is_session(st, hObject) || (token_set && !token_val)) {
        p11_log(P11_LOG_WARN, "C_CopyObject: copies are token objects (CKA_TOKEN true) of token "
                              "objects");
        rv = CKR_TEMPLATE_INCONSISTENT;
        goto out;
    }
    if ((rv = p11_session_writes(s, true)) != CKR_OK) {
        goto out;
    }
    size_t nh = 0;
    if ((rv = p11_fanout_get(st, &c, &res, &nh)) != CKR_OK) {
        goto out;
    }
    ohsm_rv orv = OHSM_NOT_CONNECTED;
    for (size_t i = 0; i < nh && orv != OHSM_OK; i++) {
        orv = ohsm_client_masked_extract(c->c, i, hObject, &masked, &masked_len);
        if (orv != OHSM_OK && !p11_rv_transport(orv)) {
            break;
        }
    }
    if (orv != OHSM_OK) {
        rv = p11_rv(orv, P11_CTX_OBJECT);
        goto out;
    }
    struct ohsm_obj obj;
    memset(&obj, 0, sizeof obj);
    orv = ohsm_client_masked_insert_new(c->c, masked, masked_len, &obj, res);
    if ((rv = p11_fanout_rv(orv, res, nh, P11_CTX_OBJECT)) != CKR_OK) {
        goto out;
    }
    if (tb->len > 0) {
        orv = ohsm_client_key_set_attrs(c->c, obj.handle, tb->buf, tb->len, NULL, res);
        rv = p11_fanout_rv(orv, res, nh, P11_CTX_OBJECT);
        if (rv != CKR_OK) {
            /* The copy as asked could not be made: do not leave a half-made one. */
            P11_BEST_EFFORT(ohsm_client_key_delete(c->c, obj.handle, res));
            goto out;
        }
    }
    *phNewObject = obj.handle;
out:
    if (masked != NULL) {
        OPENSSL_cleanse(masked, masked_len);
        free(masked);
    }
    free(res);
    free(tb);
    p11_pool_put(&st->pool, c);
    p11_session_release(st, s);
    return rv;
}

/* ---- C_DestroyObject ---- */

P11_API CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct p11_conn *c = NULL;
    struct ohsm_result *res = NULL;
    if ((rv = need_login(st)) != CKR_OK) {
        goto out;
    }
    if ((rv = p11_session_writes(s, !p11_obj_is_session(st, hObject))) != CKR_OK) {
        goto out;
    }
    size_t nh = 0;
    if ((rv = p11_fanout_get(st, &c, &res, &nh)) != CKR_OK) {
        goto out;
    }
    /* A session object's delete costs no round trip: libopenhsm marks the handle dead for every
     * client at once and writes the delete with the connection's next request. */
    ohsm_rv orv = p11_obj_is_session(st, hObject)
                      ? ohsm_client_key_delete_later(c->c, hObject, res)
                      : ohsm_client_key_delete(c->c, hObject, res);
    rv = p11_fanout_rv(orv, res, nh, P11_CTX_OBJECT);
    if (rv == CKR_OK) {
        p11_sobj_del(st, hObject);
        p11_key_facts_forget(st, hObject);
    }
out:
    free(res);
    p11_pool_put(&st->pool, c);
    p11_session_release(st, s);
    return rv;
}

/* ---- attributes ---- */

/* Reads an object for the attribute calls: a session must exist; without a login nothing is
 * visible (every key belongs to a crypto user, as in CloudHSM). */
static CK_RV read_for(struct p11_state *st, CK_SESSION_HANDLE hs, CK_OBJECT_HANDLE h,
                      struct ohsm_obj *o)
{
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hs, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    rv = need_login(st) == CKR_OK ? p11_obj_read(st, h, P11_CTX_OBJECT, o)
                                  : CKR_OBJECT_HANDLE_INVALID;
    p11_session_release(st, s);
    return rv;
}

P11_API CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                              CK_ULONG_PTR pulSize)
{
    P11_ENTER(st);
    if (pulSize == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    struct ohsm_obj o;
    CK_RV rv = read_for(st, hSession, hObject, &o);
    if (rv == CKR_OK) {
        *pulSize = p11_attr_size(&o);
    }
    return rv;
}

P11_API CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                  CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    P11_ENTER(st);
    if (pTemplate == NULL && ulCount > 0) {
        return CKR_ARGUMENTS_BAD;
    }
    struct ohsm_obj o;
    CK_RV rv = read_for(st, hSession, hObject, &o);
    if (rv != CKR_OK) {
        return rv;
    }
    return p11_attr_get(&o, pTemplate, ulCount);
}

P11_API CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                  CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct p11_conn *c = NULL;
    struct ohsm_result *res = NULL;
    struct ohsm_tmpl_buf *tb = calloc(1, sizeof *tb);
    if (tb == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (pTemplate == NULL && ulCount > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if ((rv = need_login(st)) != CKR_OK) {
        goto out;
    }
    bool session_obj = p11_obj_is_session(st, hObject);
    if ((rv = p11_session_writes(s, !session_obj)) != CKR_OK) {
        goto out;
    }
    bool token_set = false, token_val = false;
    ohsm_tmpl_init(tb);
    if ((rv = p11_attr_set_parse(pTemplate, ulCount, tb, &token_set, &token_val)) != CKR_OK) {
        goto out;
    }
    if (token_set && token_val == session_obj) {
        rv = CKR_ATTRIBUTE_READ_ONLY; /* an object stays a token or a session object */
        goto out;
    }
    if (tb->len == 0) {
        goto out; /* nothing to change (CKA_TOKEN as it is) */
    }
    size_t nh = 0;
    if ((rv = p11_fanout_get(st, &c, &res, &nh)) != CKR_OK) {
        goto out;
    }
    ohsm_rv orv = ohsm_client_key_set_attrs(c->c, hObject, tb->buf, tb->len, NULL, res);
    rv = p11_fanout_rv(orv, res, nh, P11_CTX_OBJECT);
    p11_key_facts_forget(st, hObject);
out:
    free(res);
    free(tb);
    p11_pool_put(&st->pool, c);
    p11_session_release(st, s);
    return rv;
}

/* ---- finding ---- */

static CK_RV found_add(struct p11_session *s, size_t *cap, CK_OBJECT_HANDLE h)
{
    for (size_t i = 0; i < s->nfound; i++) {
        if (s->found[i] == h) {
            return CKR_OK;
        }
    }
    CK_OBJECT_HANDLE *n = p11_grow(s->found, cap, s->nfound, sizeof *n, 32);
    if (n == NULL) {
        return CKR_HOST_MEMORY;
    }
    s->found = n;
    s->found[s->nfound++] = h;
    return CKR_OK;
}

/* Collects the matches: the token objects the user may see (one HSM, balanced), then the
 * application's session objects, each read through its own client. */
static CK_RV find_collect(struct p11_state *st, struct p11_session *s, CK_ATTRIBUTE_PTR t,
                          CK_ULONG n, const struct ohsm_tmpl_buf *pre)
{
    size_t cap = 0;
    struct p11_conn *c = NULL;
    CK_RV rv = p11_pool_get(&st->pool, &c);
    if (rv != CKR_OK) {
        return rv;
    }
    struct ohsm_obj *objs = NULL;
    size_t nobj = 0;
    ohsm_rv orv = ohsm_client_key_find(c->c, pre->buf, pre->len, &objs, &nobj);
    p11_pool_put(&st->pool, c);
    if (orv != OHSM_OK) {
        return p11_rv(orv, P11_CTX_OBJECT);
    }
    for (size_t i = 0; i < nobj && rv == CKR_OK; i++) {
        if ((objs[i].flags & OHSM_F_TOKEN) != 0 && p11_attr_match(&objs[i], t, n)) {
            rv = found_add(s, &cap, objs[i].handle);
        }
    }
    free(objs);
    /* Session objects: snapshot the table, then read each. */
    p11_lock(&st->lock);
    size_t ns = st->nsobj;
    struct p11_sobj *snap = ns ? malloc(ns * sizeof *snap) : NULL;
    if (snap != NULL) {
        memcpy(snap, st->sobj, ns * sizeof *snap);
    }
    p11_unlock(&st->lock);
    if (ns > 0 && snap == NULL) {
        return CKR_HOST_MEMORY;
    }
    for (size_t i = 0; i < ns && rv == CKR_OK; i++) {
        struct ohsm_obj o;
        if (p11_obj_read(st, snap[i].h, P11_CTX_OBJECT, &o) == CKR_OK && p11_attr_match(&o, t, n)) {
            rv = found_add(s, &cap, snap[i].h);
        }
    }
    free(snap);
    return rv;
}

P11_API CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                CK_ULONG ulCount)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct ohsm_tmpl_buf *pre = NULL;
    if (pTemplate == NULL && ulCount > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (s->finding) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    pre = calloc(1, sizeof *pre);
    if (pre == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    ohsm_tmpl_init(pre);
    if ((rv = p11_attr_find_parse(pTemplate, ulCount, pre)) != CKR_OK) {
        goto out;
    }
    free(s->found);
    s->found = NULL;
    s->nfound = s->found_pos = 0;
    /* Before a login nothing is visible: every key belongs to a crypto user. */
    if (p11_pool_logged_in(&st->pool)) {
        rv = find_collect(st, s, pTemplate, ulCount, pre);
        if (rv != CKR_OK) {
            free(s->found);
            s->found = NULL;
            s->nfound = 0;
            goto out;
        }
    }
    s->finding = true;
out:
    free(pre);
    p11_session_release(st, s);
    return rv;
}

P11_API CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                            CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (phObject == NULL || pulObjectCount == NULL) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (!s->finding) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        CK_ULONG k = 0;
        while (k < ulMaxObjectCount && s->found_pos < s->nfound) {
            phObject[k++] = s->found[s->found_pos++];
        }
        *pulObjectCount = k;
    }
    p11_session_release(st, s);
    return rv;
}

P11_API CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!s->finding) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        s->finding = false;
        free(s->found);
        s->found = NULL;
        s->nfound = s->found_pos = 0;
    }
    p11_session_release(st, s);
    return rv;
}
