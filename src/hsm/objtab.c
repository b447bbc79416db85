/* SPDX-License-Identifier: Apache-2.0
 *
 * The in-memory object table (objtab.h): a handle-sorted array of pointers to immutable,
 * reference-counted entries under a rwlock. Lookups are binary searches; inserts and deletes move
 * pointers (at most OHSM_STORE_OBJECTS_MAX plus session objects), which is cheap next to the SQLite
 * commit every token change pays anyway. Material is wiped when the last reference goes, and so
 * are the entry's cached OpenSSL contexts (key schedules): deleting or changing a key drops the
 * table's reference, and the last request still using the old entry frees them.
 */
#include "hsm/objtab.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "openhsm/mech.h"

struct ohsm_objtab {
    pthread_rwlock_t lock;
    struct ohsm_objent **v; /* sorted by rec.handle, unique */
    size_t n;
    size_t cap;
};

ohsm_rv ohsm_objent_new(const struct ohsm_mask_key *mk, const struct ohsm_obj *o,
                        const uint8_t *material, size_t len, uint64_t session,
                        struct ohsm_objent **out)
{
    struct ohsm_objent *e = NULL;
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    ohsm_rv rv;

    OHSM_ENSURE(o != NULL && out != NULL && (material != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(session != 0 || mk != NULL, OHSM_ARGUMENTS_BAD);
    e = calloc(1, sizeof(*e));
    OHSM_ENSURE(e != NULL, OHSM_HOST_MEMORY);
    atomic_init(&e->refs, 1);
    e->session = session;
    e->rec = *o;
    rv = ohsm_secret_new(material, len, &e->material);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (o->ktype == OHSM_KT_RSA || o->ktype == OHSM_KT_EC) {
        rv = ohsm_mech_pkey_load(o->cls, o->ktype, material, len, &e->pkey);
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    if (o->ktype == OHSM_KT_RSA || o->ktype == OHSM_KT_EC || o->ktype == OHSM_KT_AES) {
        rv = ohsm_mech_cache_new(&e->cache);
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    if (session == 0) {
        rec = malloc(OHSM_OBJ_ENC_MAX);
        if (rec == NULL) {
            rv = OHSM_HOST_MEMORY;
            goto out;
        }
        rv = ohsm_obj_encode(o, rec, OHSM_OBJ_ENC_MAX, &rec_len);
        if (rv == OHSM_OK) {
            rv = ohsm_mask_digest(mk, rec, rec_len, material, len, e->digest);
        }
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    *out = e;
    e = NULL;
out:
    free(rec);
    ohsm_objent_put(e);
    return rv;
}

void ohsm_objent_put(struct ohsm_objent *e)
{
    if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1) {
        return;
    }
    ohsm_mech_cache_free(e->cache); /* first: its contexts hold the key */
    ohsm_secret_free(e->material);
    ohsm_mech_pkey_free(e->pkey);
    OPENSSL_cleanse(e, sizeof(*e));
    free(e);
}

ohsm_rv ohsm_objtab_new(struct ohsm_objtab **out)
{
    struct ohsm_objtab *t = calloc(1, sizeof(*t));
    OHSM_ENSURE(t != NULL, OHSM_HOST_MEMORY);
    if (pthread_rwlock_init(&t->lock, NULL) != 0) {
        free(t);
        return OHSM_HOST_MEMORY;
    }
    *out = t;
    return OHSM_OK;
}

void ohsm_objtab_free(struct ohsm_objtab *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        ohsm_objent_put(t->v[i]);
    }
    free(t->v);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

/* Index of the first entry with handle >= h. Caller holds the lock. */
static size_t lower_bound(const struct ohsm_objtab *t, uint64_t h)
{
    size_t lo = 0;
    size_t hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid]->rec.handle < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

struct ohsm_objent *ohsm_objtab_get(struct ohsm_objtab *t, uint64_t handle)
{
    struct ohsm_objent *e = NULL;
    (void)pthread_rwlock_rdlock(&t->lock);
    size_t i = lower_bound(t, handle);
    if (i < t->n && t->v[i]->rec.handle == handle) {
        e = t->v[i];
        atomic_fetch_add(&e->refs, 1);
    }
    (void)pthread_rwlock_unlock(&t->lock);
    return e;
}

ohsm_rv ohsm_objtab_set(struct ohsm_objtab *t, struct ohsm_objent *e)
{
    struct ohsm_objent *old = NULL;
    ohsm_rv rv = OHSM_OK;

    OHSM_ENSURE(e != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_rwlock_wrlock(&t->lock);
    size_t i = lower_bound(t, e->rec.handle);
    if (i < t->n && t->v[i]->rec.handle == e->rec.handle) {
        old = t->v[i];
        t->v[i] = e;
        goto out;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap == 0 ? 64 : t->cap * 2;
        struct ohsm_objent **nv = realloc(t->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            rv = OHSM_HOST_MEMORY;
            old = e; /* the reference was ours to take: drop it */
            goto out;
        }
        t->v = nv;
        t->cap = ncap;
    }
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
    t->v[i] = e;
    t->n++;
out:
    (void)pthread_rwlock_unlock(&t->lock);
    ohsm_objent_put(old); /* outside the lock: freeing wipes material */
    return rv;
}

void ohsm_objtab_del(struct ohsm_objtab *t, uint64_t handle)
{
    struct ohsm_objent *old = NULL;
    (void)pthread_rwlock_wrlock(&t->lock);
    size_t i = lower_bound(t, handle);
    if (i < t->n && t->v[i]->rec.handle == handle) {
        old = t->v[i];
        memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
        t->n--;
    }
    (void)pthread_rwlock_unlock(&t->lock);
    ohsm_objent_put(old);
}

void ohsm_objtab_end_session(struct ohsm_objtab *t, uint64_t session)
{
    struct ohsm_objent **gone = NULL;
    size_t ngone = 0;
    size_t k = 0;

    if (session == 0) {
        return;
    }
    (void)pthread_rwlock_wrlock(&t->lock);
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i]->session == session) {
            ngone++;
        }
    }
    if (ngone > 0) {
        gone = malloc(ngone * sizeof(*gone));
    }
    ngone = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct ohsm_objent *e = t->v[i];
        if (e->session == session) {
            if (gone != NULL) {
                gone[ngone++] = e;
            } else {
                ohsm_objent_put(e); /* no memory to defer: wipe under the lock */
            }
        } else {
            t->v[k++] = e;
        }
    }
    t->n = k;
    (void)pthread_rwlock_unlock(&t->lock);
    for (size_t i = 0; i < ngone; i++) {
        ohsm_objent_put(gone[i]);
    }
    free(gone);
}

size_t ohsm_objtab_count(struct ohsm_objtab *t)
{
    (void)pthread_rwlock_rdlock(&t->lock);
    size_t n = t->n;
    (void)pthread_rwlock_unlock(&t->lock);
    return n;
}

void ohsm_objtab_walk(struct ohsm_objtab *t, uint64_t after, ohsm_objtab_fn fn, void *arg)
{
    (void)pthread_rwlock_rdlock(&t->lock);
    size_t i = after == UINT64_MAX ? t->n : lower_bound(t, after + 1);
    for (; i < t->n; i++) {
        if (!fn(arg, t->v[i])) {
            break;
        }
    }
    (void)pthread_rwlock_unlock(&t->lock);
}

struct load_ctx {
    struct ohsm_objtab *t;
    const struct ohsm_mask_key *mk;
    size_t skipped;
};

static ohsm_rv load_one(void *arg, uint64_t handle, uint64_t version, const uint8_t *sealed,
                        size_t len)
{
    struct load_ctx *c = arg;
    struct ohsm_obj o;
    struct ohsm_secret *m = NULL;
    struct ohsm_objent *e = NULL;
    ohsm_rv rv = ohsm_mask_open_obj(c->mk, sealed, len, &o, &m);

    if (rv == OHSM_OK &&
        (o.handle != handle || o.version != version || (o.flags & OHSM_F_TOKEN) == 0)) {
        rv = OHSM_MASKED_OBJECT_INVALID; /* a row moved or edited: do not trust it */
    }
    if (rv == OHSM_OK) {
        rv = ohsm_objent_new(c->mk, &o, ohsm_secret_data(m), ohsm_secret_len(m), 0, &e);
    }
    ohsm_secret_free(m);
    OPENSSL_cleanse(&o, sizeof(o));
    if (rv == OHSM_HOST_MEMORY) {
        return rv;
    }
    if (rv != OHSM_OK) {
        c->skipped++;
        return OHSM_OK;
    }
    return ohsm_objtab_set(c->t, e);
}

ohsm_rv ohsm_objtab_load(struct ohsm_objtab *t, struct ohsm_store *s,
                         const struct ohsm_mask_key *mk, size_t *skipped)
{
    struct load_ctx c = {t, mk, 0};
    ohsm_rv rv = ohsm_store_obj_each(s, load_one, &c);
    if (skipped != NULL) {
        *skipped = c.skipped;
    }
    return rv;
}
