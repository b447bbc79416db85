/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS key table and material cache (kms_int.h). Every key's record is kept in memory so the
 * hot paths (Encrypt, Decrypt, GenerateDataKey) resolve a key without a database read; the store
 * stays the durable truth (a change is written there first, then here). Unsealed material is
 * cached per (key, version) in a bounded LRU: an entry is wiped (ohsm_kms_kmat_free) when it is
 * evicted, forgotten or the service closes, and never while a caller holds it (refcount).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kms/kms_int.h"

struct ohsm_kms_tabent {
    struct ohsm_kms_key key;
    struct ohsm_kms_tabent *next;
};

struct ohsm_kms_cached {
    char id[OHSM_KMS_ID_LEN + 1];
    uint32_t version;
    char material_id[OHSM_KMS_MATERIAL_ID_LEN + 1];
    struct ohsm_kms_kmat *kmat;
    unsigned refs;
    bool dead;                           /* forgotten while held: freed on the last release */
    struct ohsm_kms_cached *prev, *next; /* LRU list */
    struct ohsm_kms_cached *hnext;       /* hash chain (k->cbuckets) */
};

static size_t hash_id(const char *id)
{
    size_t h = 1469598103934665603u;
    for (const char *p = id; *p != '\0'; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    }
    return h;
}

static ohsm_rv key_copy(const struct ohsm_kms_key *src, struct ohsm_kms_key *dst)
{
    *dst = *src;
    dst->description = strdup(src->description != NULL ? src->description : "");
    return dst->description != NULL ? OHSM_OK : OHSM_HOST_MEMORY;
}

static ohsm_rv grow(struct ohsm_kms *k)
{
    size_t n = k->n_buckets == 0 ? 256 : k->n_buckets * 2;
    struct ohsm_kms_tabent **b = calloc(n, sizeof(*b));

    OHSM_ENSURE(b != NULL, OHSM_HOST_MEMORY);
    for (size_t i = 0; i < k->n_buckets; i++) {
        struct ohsm_kms_tabent *e = k->buckets[i];
        while (e != NULL) {
            struct ohsm_kms_tabent *next = e->next;
            size_t h = hash_id(e->key.id) % n;
            e->next = b[h];
            b[h] = e;
            e = next;
        }
    }
    free(k->buckets);
    k->buckets = b;
    k->n_buckets = n;
    return OHSM_OK;
}

static struct ohsm_kms_tabent *find(struct ohsm_kms *k, const char *id)
{
    if (k->n_buckets == 0) {
        return NULL;
    }
    for (struct ohsm_kms_tabent *e = k->buckets[hash_id(id) % k->n_buckets]; e != NULL;
         e = e->next) {
        if (strcmp(e->key.id, id) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Inserts or replaces in the table only; k->lock held for writing. */
static ohsm_rv tab_set(struct ohsm_kms *k, const struct ohsm_kms_key *key)
{
    struct ohsm_kms_tabent *e = find(k, key->id);
    struct ohsm_kms_key copy;

    OHSM_TRY(key_copy(key, &copy));
    if (e != NULL) {
        ohsm_kms_key_clear(&e->key);
        e->key = copy;
        return OHSM_OK;
    }
    if (k->n_keys + 1 > k->n_buckets) {
        if (grow(k) != OHSM_OK) {
            ohsm_kms_key_clear(&copy);
            return OHSM_HOST_MEMORY;
        }
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        ohsm_kms_key_clear(&copy);
        return OHSM_HOST_MEMORY;
    }
    e->key = copy;
    size_t h = hash_id(key->id) % k->n_buckets;
    e->next = k->buckets[h];
    k->buckets[h] = e;
    k->n_keys++;
    return OHSM_OK;
}

ohsm_rv ohsm_kms_tab_load(struct ohsm_kms *k)
{
    struct ohsm_kms_key *keys = NULL;
    size_t n = 0;
    ohsm_rv rv;

    k->n_cbuckets = 64;
    while (k->n_cbuckets < k->cache_max && k->n_cbuckets < ((size_t)1 << 20)) {
        k->n_cbuckets *= 2;
    }
    k->cbuckets = calloc(k->n_cbuckets, sizeof(*k->cbuckets));
    OHSM_ENSURE(k->cbuckets != NULL, OHSM_HOST_MEMORY);

    OHSM_TRY(ohsm_kms_store_key_list(k->store, &keys, &n));
    (void)pthread_rwlock_wrlock(&k->lock);
    rv = OHSM_OK;
    for (size_t i = 0; i < n && rv == OHSM_OK; i++) {
        rv = tab_set(k, &keys[i]);
    }
    (void)pthread_rwlock_unlock(&k->lock);
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_key_clear(&keys[i]);
    }
    free(keys);
    return rv;
}

static void cached_free(struct ohsm_kms_cached *c)
{
    ohsm_kms_kmat_free(c->kmat);
    free(c);
}

void ohsm_kms_tab_free(struct ohsm_kms *k)
{
    for (size_t i = 0; i < k->n_buckets; i++) {
        struct ohsm_kms_tabent *e = k->buckets[i];
        while (e != NULL) {
            struct ohsm_kms_tabent *next = e->next;
            ohsm_kms_key_clear(&e->key);
            free(e);
            e = next;
        }
    }
    free(k->buckets);
    k->buckets = NULL;
    k->n_buckets = 0;
    k->n_keys = 0;
    struct ohsm_kms_cached *c = k->lru_head;
    while (c != NULL) {
        struct ohsm_kms_cached *next = c->next;
        cached_free(c);
        c = next;
    }
    k->lru_head = k->lru_tail = NULL;
    k->cache_n = 0;
    free(k->cbuckets);
    k->cbuckets = NULL;
}

ohsm_rv ohsm_kms_tab_get(struct ohsm_kms *k, const char *id, struct ohsm_kms_key *out)
{
    ohsm_rv rv = OHSM_KEY_HANDLE_INVALID;

    (void)pthread_rwlock_rdlock(&k->lock);
    struct ohsm_kms_tabent *e = find(k, id);
    if (e != NULL) {
        rv = key_copy(&e->key, out);
    }
    (void)pthread_rwlock_unlock(&k->lock);
    return rv;
}

ohsm_rv ohsm_kms_tab_put(struct ohsm_kms *k, const struct ohsm_kms_key *key)
{
    ohsm_rv rv;

    OHSM_TRY(ohsm_kms_store_key_put(k->store, key));
    (void)pthread_rwlock_wrlock(&k->lock);
    rv = tab_set(k, key);
    (void)pthread_rwlock_unlock(&k->lock);
    return rv;
}

ohsm_rv ohsm_kms_tab_delete(struct ohsm_kms *k, const char *id)
{
    OHSM_TRY(ohsm_kms_store_key_delete(k->store, id));
    (void)pthread_rwlock_wrlock(&k->lock);
    if (k->n_buckets != 0) {
        struct ohsm_kms_tabent **pp = &k->buckets[hash_id(id) % k->n_buckets];
        while (*pp != NULL) {
            if (strcmp((*pp)->key.id, id) == 0) {
                struct ohsm_kms_tabent *e = *pp;
                *pp = e->next;
                ohsm_kms_key_clear(&e->key);
                free(e);
                k->n_keys--;
                break;
            }
            pp = &(*pp)->next;
        }
    }
    (void)pthread_rwlock_unlock(&k->lock);
    ohsm_kms_mat_forget(k, id);
    return OHSM_OK;
}

static int by_created(const void *a, const void *b)
{
    const struct ohsm_kms_key *x = a, *y = b;
    if (x->created_ms != y->created_ms) {
        return x->created_ms < y->created_ms ? -1 : 1;
    }
    return strcmp(x->id, y->id);
}

ohsm_rv ohsm_kms_tab_list(struct ohsm_kms *k, const char *region, struct ohsm_kms_key **out,
                          size_t *n)
{
    struct ohsm_kms_key *v = NULL;
    size_t m = 0;
    ohsm_rv rv = OHSM_OK;

    *out = NULL;
    *n = 0;
    (void)pthread_rwlock_rdlock(&k->lock);
    if (k->n_keys > 0) {
        v = calloc(k->n_keys, sizeof(*v));
        if (v == NULL) {
            rv = OHSM_HOST_MEMORY;
        }
    }
    for (size_t i = 0; rv == OHSM_OK && i < k->n_buckets; i++) {
        for (struct ohsm_kms_tabent *e = k->buckets[i]; e != NULL && rv == OHSM_OK; e = e->next) {
            if (region == NULL || strcmp(e->key.region, region) == 0) {
                rv = key_copy(&e->key, &v[m]);
                if (rv == OHSM_OK) {
                    m++;
                }
            }
        }
    }
    (void)pthread_rwlock_unlock(&k->lock);
    if (rv != OHSM_OK) {
        for (size_t i = 0; i < m; i++) {
            ohsm_kms_key_clear(&v[i]);
        }
        free(v);
        return rv;
    }
    if (m > 1) {
        qsort(v, m, sizeof(*v), by_created);
    }
    *out = v;
    *n = m;
    return OHSM_OK;
}

/* ---- material cache ---- */

size_t ohsm_kms_seal_aad(const char *id, uint32_t version, uint8_t *out, size_t cap)
{
    int n = snprintf((char *)out, cap, "openhsm-kms:%s:%u", id, version);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static void lru_unlink(struct ohsm_kms *k, struct ohsm_kms_cached *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        k->lru_head = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    } else {
        k->lru_tail = c->prev;
    }
    c->prev = c->next = NULL;
}

static void lru_push(struct ohsm_kms *k, struct ohsm_kms_cached *c)
{
    c->prev = NULL;
    c->next = k->lru_head;
    if (k->lru_head != NULL) {
        k->lru_head->prev = c;
    }
    k->lru_head = c;
    if (k->lru_tail == NULL) {
        k->lru_tail = c;
    }
}

static size_t cache_slot(const struct ohsm_kms *k, const char *id, uint32_t version)
{
    return (hash_id(id) ^ (size_t)version * 0x9e3779b97f4a7c15u) % k->n_cbuckets;
}

static void hash_add(struct ohsm_kms *k, struct ohsm_kms_cached *c)
{
    size_t h = cache_slot(k, c->id, c->version);
    c->hnext = k->cbuckets[h];
    k->cbuckets[h] = c;
}

static void hash_del(struct ohsm_kms *k, struct ohsm_kms_cached *c)
{
    struct ohsm_kms_cached **pp = &k->cbuckets[cache_slot(k, c->id, c->version)];
    while (*pp != NULL && *pp != c) {
        pp = &(*pp)->hnext;
    }
    if (*pp == c) {
        *pp = c->hnext;
    }
    c->hnext = NULL;
}

static struct ohsm_kms_cached *cache_find(struct ohsm_kms *k, const char *id, uint32_t version)
{
    for (struct ohsm_kms_cached *c = k->cbuckets[cache_slot(k, id, version)]; c != NULL;
         c = c->hnext) {
        if (c->version == version && strcmp(c->id, id) == 0) {
            return c;
        }
    }
    return NULL;
}

/* Evicts unused entries from the tail while over the bound; k->cache_lock held. Entries in use
 * stay (the bound is exceeded only while callers hold them). */
static void cache_trim(struct ohsm_kms *k)
{
    struct ohsm_kms_cached *c = k->lru_tail;
    while (k->cache_n > k->cache_max && c != NULL) {
        struct ohsm_kms_cached *prev = c->prev;
        if (c->refs == 0) {
            lru_unlink(k, c);
            hash_del(k, c);
            k->cache_n--;
            cached_free(c);
        }
        c = prev;
    }
}

ohsm_rv ohsm_kms_mat_get(struct ohsm_kms *k, const struct ohsm_kms_key *key, uint32_t version,
                         struct ohsm_kms_cached **out)
{
    struct ohsm_kms_material m = {0};
    struct ohsm_kms_cached *c = NULL, *found;
    uint8_t aad[96];
    uint8_t *plain = NULL;
    size_t aad_len, plain_len = 0;
    ohsm_rv rv;

    if (version == 0) {
        version = key->cur_version;
    }
    OHSM_ENSURE(version != 0, OHSM_KEY_HANDLE_INVALID);
    (void)pthread_mutex_lock(&k->cache_lock);
    found = cache_find(k, key->id, version);
    if (found != NULL) {
        found->refs++;
        if (found != k->lru_head) {
            lru_unlink(k, found);
            lru_push(k, found);
        }
        (void)pthread_mutex_unlock(&k->cache_lock);
        *out = found;
        return OHSM_OK;
    }
    (void)pthread_mutex_unlock(&k->cache_lock);

    rv = ohsm_kms_store_material_get(k->store, key->id, version, &m);
    if (rv != OHSM_OK) {
        goto out;
    }
    aad_len = ohsm_kms_seal_aad(key->id, version, aad, sizeof(aad));
    plain = OPENSSL_secure_malloc(m.sealed_len > 0 ? m.sealed_len : 1);
    if (plain == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    rv = k->sealer.unseal(k->sealer.ctx, aad, aad_len, m.sealed, m.sealed_len, plain, m.sealed_len,
                          &plain_len);
    if (rv != OHSM_OK) {
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    memcpy(c->id, key->id, sizeof(c->id));
    c->version = version;
    memcpy(c->material_id, m.material_id, sizeof(c->material_id));
    rv = ohsm_kms_kmat_load(key->spec, plain, plain_len, &c->kmat);
    if (rv != OHSM_OK) {
        goto out;
    }
    (void)pthread_mutex_lock(&k->cache_lock);
    found = cache_find(k, key->id, version); /* another thread may have loaded it meanwhile */
    if (found != NULL) {
        found->refs++;
        (void)pthread_mutex_unlock(&k->cache_lock);
        *out = found;
        goto out; /* c is freed below */
    }
    c->refs = 1;
    lru_push(k, c);
    hash_add(k, c);
    k->cache_n++;
    cache_trim(k);
    (void)pthread_mutex_unlock(&k->cache_lock);
    *out = c;
    c = NULL;
out:
    if (plain != NULL) {
        OPENSSL_secure_clear_free(plain, m.sealed_len > 0 ? m.sealed_len : 1);
    }
    if (c != NULL) {
        cached_free(c);
    }
    ohsm_kms_material_clear(&m);
    return rv;
}

const struct ohsm_kms_kmat *ohsm_kms_mat_kmat(const struct ohsm_kms_cached *c)
{
    return c->kmat;
}

const char *ohsm_kms_mat_id(const struct ohsm_kms_cached *c)
{
    return c->material_id;
}

uint32_t ohsm_kms_mat_version(const struct ohsm_kms_cached *c)
{
    return c->version;
}

ohsm_rv ohsm_kms_tab_remember(struct ohsm_kms *k, const struct ohsm_kms_key *key)
{
    ohsm_rv rv;
    (void)pthread_rwlock_wrlock(&k->lock);
    rv = tab_set(k, key);
    (void)pthread_rwlock_unlock(&k->lock);
    return rv;
}

void ohsm_kms_mat_release(struct ohsm_kms *k, struct ohsm_kms_cached *c)
{
    if (c == NULL) {
        return;
    }
    (void)pthread_mutex_lock(&k->cache_lock);
    c->refs--;
    bool free_it = c->dead && c->refs == 0;
    if (!free_it) {
        cache_trim(k);
    }
    (void)pthread_mutex_unlock(&k->cache_lock);
    if (free_it) {
        cached_free(c);
    }
}

void ohsm_kms_mat_forget(struct ohsm_kms *k, const char *id)
{
    (void)pthread_mutex_lock(&k->cache_lock);
    struct ohsm_kms_cached *c = k->lru_head;
    while (c != NULL) {
        struct ohsm_kms_cached *next = c->next;
        if (strcmp(c->id, id) == 0) {
            lru_unlink(k, c);
            hash_del(k, c);
            k->cache_n--;
            if (c->refs == 0) {
                cached_free(c);
            } else {
                c->dead = true;
            }
        }
        c = next;
    }
    (void)pthread_mutex_unlock(&k->cache_lock);
}

ohsm_rv ohsm_kms_mat_store(struct ohsm_kms *k, const char *id, uint32_t version, uint32_t kind,
                           const uint8_t *m, size_t len, const char *use_id, char *material_id)
{
    struct ohsm_kms_material mat = {0};
    uint8_t aad[96], digest[32];
    size_t aad_len = ohsm_kms_seal_aad(id, version, aad, sizeof(aad));
    static const char hex[] = "0123456789abcdef";
    unsigned dlen = 0;
    ohsm_rv rv;

    OHSM_ENSURE(aad_len > 0, OHSM_ARGUMENTS_BAD);
    /* The material id names a version without revealing it: a hash over the sealed blob (which
     * is random-IV encrypted), never over the material itself. */
    rv = k->sealer.seal(k->sealer.ctx, aad, aad_len, m, len, &mat.sealed, &mat.sealed_len);
    if (rv != OHSM_OK) {
        return rv;
    }
    if (EVP_Digest(mat.sealed, mat.sealed_len, digest, &dlen, EVP_sha256(), NULL) != 1 ||
        dlen != 32) {
        rv = OHSM_DEVICE_ERROR;
        goto out;
    }
    for (size_t i = 0; i < 32; i++) {
        mat.material_id[2 * i] = hex[digest[i] >> 4];
        mat.material_id[2 * i + 1] = hex[digest[i] & 15];
    }
    mat.material_id[64] = '\0';
    if (use_id != NULL) {
        (void)snprintf(mat.material_id, sizeof(mat.material_id), "%s", use_id);
    }
    memcpy(mat.key_id, id, OHSM_KMS_ID_LEN + 1);
    mat.version = version;
    mat.kind = kind;
    mat.created = ohsm_kms_now(k);
    rv = ohsm_kms_store_material_put(k->store, &mat);
    if (rv == OHSM_OK && material_id != NULL) {
        memcpy(material_id, mat.material_id, 65);
    }
out:
    ohsm_kms_material_clear(&mat);
    return rv;
}
