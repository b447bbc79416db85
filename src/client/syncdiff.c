/* SPDX-License-Identifier: Apache-2.0
 *
 * Sync status comparison (rules in syncdiff.h). Pure: sorts the HSMs' entries by handle (or
 * name), walks each group once and decides per HSM. Digests are public (keyed digests of public
 * records), so plain comparisons are fine here.
 */
#include "client/syncdiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ent {
    uint64_t handle;
    size_t hsm;
    const struct ohsm_syncdiff_obj *o;
};

struct uent {
    const char *name;
    size_t hsm;
    const uint8_t *digest;
};

struct out {
    struct ohsm_syncdiff_item *v;
    size_t n, cap;
};

static int ent_cmp(const void *a, const void *b)
{
    const struct ent *x = a;
    const struct ent *y = b;
    if (x->handle != y->handle) {
        return x->handle < y->handle ? -1 : 1;
    }
    return x->hsm < y->hsm ? -1 : x->hsm > y->hsm;
}

static int uent_cmp(const void *a, const void *b)
{
    const struct uent *x = a;
    const struct uent *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0) {
        return c;
    }
    return x->hsm < y->hsm ? -1 : x->hsm > y->hsm;
}

static ohsm_rv push(struct out *o, size_t hsm, enum ohsm_sync_kind kind, bool is_user,
                    uint64_t handle, const char *name, size_t src, uint64_t version)
{
    if (o->n == o->cap) {
        size_t cap = o->cap == 0 ? 16 : o->cap * 2;
        struct ohsm_syncdiff_item *p = realloc(o->v, cap * sizeof(*p));
        OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
        o->v = p;
        o->cap = cap;
    }
    struct ohsm_syncdiff_item *it = &o->v[o->n++];
    memset(it, 0, sizeof(*it));
    it->it.hsm = hsm;
    it->it.kind = kind;
    it->it.is_user = is_user;
    it->it.handle = handle;
    if (name != NULL) {
        (void)snprintf(it->it.username, sizeof(it->it.username), "%s", name);
    }
    it->src = src;
    it->version = version;
    return OHSM_OK;
}

/* Is a newer than b (version, then tombstone over live)? */
static bool newer(const struct ohsm_syncdiff_obj *a, const struct ohsm_syncdiff_obj *b)
{
    return a->version > b->version || (a->version == b->version && a->deleted && !b->deleted);
}

/* The most common digest among the HSMs whose entry is live at version v (ties: lowest index). */
static size_t majority(const struct ohsm_syncdiff_obj *const *per, size_t n, uint64_t v)
{
    size_t best = SIZE_MAX, best_count = 0;
    for (size_t i = 0; i < n; i++) {
        if (per[i] == NULL || per[i]->deleted || per[i]->version != v) {
            continue;
        }
        size_t count = 0;
        for (size_t j = 0; j < n; j++) {
            count += per[j] != NULL && !per[j]->deleted && per[j]->version == v &&
                     memcmp(per[j]->digest, per[i]->digest, 32) == 0;
        }
        if (count > best_count) {
            best = i;
            best_count = count;
        }
    }
    return best;
}

/* One handle: per[i] is HSM i's newest entry (NULL: none). */
static ohsm_rv judge_obj(const struct ohsm_syncdiff_hsm *h, size_t n,
                         const struct ohsm_syncdiff_obj *const *per, uint64_t handle, struct out *o)
{
    const struct ohsm_syncdiff_obj *ref = NULL;
    size_t src = SIZE_MAX;

    for (size_t i = 0; i < n; i++) {
        if (per[i] != NULL && (ref == NULL || newer(per[i], ref))) {
            ref = per[i];
            src = i;
        }
    }
    if (ref == NULL) {
        return OHSM_OK;
    }
    if (!ref->deleted) {
        src = majority(per, n, ref->version);
        ref = per[src];
    }
    for (size_t i = 0; i < n; i++) {
        const struct ohsm_syncdiff_obj *e = per[i];
        enum ohsm_sync_kind kind = 0;
        if (h[i].rv != OHSM_OK) {
            continue;
        }
        if (ref->deleted) {
            kind = e != NULL && !e->deleted ? OHSM_SYNC_EXTRA : 0;
        } else if (e == NULL || e->deleted) {
            kind = OHSM_SYNC_MISSING;
        } else if (e->version != ref->version || memcmp(e->digest, ref->digest, 32) != 0) {
            kind = OHSM_SYNC_STALE;
        }
        if (kind != 0) {
            OHSM_TRY(push(o, i, kind, false, handle, NULL, src, ref->version));
        }
    }
    return OHSM_OK;
}

static ohsm_rv compare_objects(const struct ohsm_syncdiff_hsm *h, size_t n, struct out *o)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += h[i].rv == OHSM_OK ? h[i].nobj : 0;
    }
    struct ent *e = calloc(total == 0 ? 1 : total, sizeof(*e));
    const struct ohsm_syncdiff_obj **per = calloc(n, sizeof(*per));
    ohsm_rv rv = OHSM_HOST_MEMORY;
    if (e == NULL || per == NULL) {
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; h[i].rv == OHSM_OK && k < h[i].nobj; k++) {
            e[m].handle = h[i].obj[k].handle;
            e[m].hsm = i;
            e[m].o = &h[i].obj[k];
            m++;
        }
    }
    qsort(e, m, sizeof(*e), ent_cmp);
    rv = OHSM_OK;
    for (size_t a = 0; a < m && rv == OHSM_OK;) {
        size_t b = a;
        memset(per, 0, n * sizeof(*per));
        for (; b < m && e[b].handle == e[a].handle; b++) {
            /* An HSM listing a handle twice: its newest entry counts. */
            if (per[e[b].hsm] == NULL || newer(e[b].o, per[e[b].hsm])) {
                per[e[b].hsm] = e[b].o;
            }
        }
        rv = judge_obj(h, n, per, e[a].handle, o);
        a = b;
    }
out:
    free(e);
    free(per);
    return rv;
}

/* One user name held by the HSMs in u[0..k) (sorted by HSM). */
static ohsm_rv judge_user(const struct ohsm_syncdiff_hsm *h, size_t n, const struct uent *u,
                          size_t k, size_t answered, struct out *o)
{
    bool *has = calloc(n, sizeof(*has));
    OHSM_ENSURE(has != NULL, OHSM_HOST_MEMORY);
    size_t holders = 0;
    for (size_t j = 0; j < k; j++) {
        holders += !has[u[j].hsm];
        has[u[j].hsm] = true;
    }
    /* The most common digest among the holders (ties: lowest index). */
    size_t best = 0, best_count = 0;
    for (size_t j = 0; j < k; j++) {
        size_t count = 0;
        for (size_t t = 0; t < k; t++) {
            count += memcmp(u[t].digest, u[j].digest, 32) == 0;
        }
        if (count > best_count) {
            best = j;
            best_count = count;
        }
    }
    ohsm_rv rv = OHSM_OK;
    bool majority = holders * 2 >= answered;
    for (size_t i = 0; i < n && rv == OHSM_OK; i++) {
        if (h[i].rv != OHSM_OK) {
            continue;
        }
        if (!has[i] && majority) {
            rv = push(o, i, OHSM_SYNC_MISSING, true, 0, u[0].name, u[best].hsm, 0);
        } else if (has[i] && !majority) {
            rv = push(o, i, OHSM_SYNC_EXTRA, true, 0, u[0].name, SIZE_MAX, 0);
        }
    }
    for (size_t j = 0; j < k && rv == OHSM_OK && majority; j++) {
        bool first_of_hsm = j == 0 || u[j - 1].hsm != u[j].hsm;
        if (first_of_hsm && memcmp(u[j].digest, u[best].digest, 32) != 0) {
            rv = push(o, u[j].hsm, OHSM_SYNC_STALE, true, 0, u[0].name, u[best].hsm, 0);
        }
    }
    free(has);
    return rv;
}

static ohsm_rv compare_users(const struct ohsm_syncdiff_hsm *h, size_t n, struct out *o)
{
    size_t total = 0, answered = 0;
    for (size_t i = 0; i < n; i++) {
        total += h[i].rv == OHSM_OK ? h[i].nuser : 0;
        answered += h[i].rv == OHSM_OK;
    }
    struct uent *u = calloc(total == 0 ? 1 : total, sizeof(*u));
    OHSM_ENSURE(u != NULL, OHSM_HOST_MEMORY);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; h[i].rv == OHSM_OK && k < h[i].nuser; k++) {
            u[m].name = h[i].user[k].name;
            u[m].hsm = i;
            u[m].digest = h[i].user[k].digest;
            m++;
        }
    }
    qsort(u, m, sizeof(*u), uent_cmp);
    ohsm_rv rv = OHSM_OK;
    for (size_t a = 0; a < m && rv == OHSM_OK;) {
        size_t b = a;
        while (b < m && strcmp(u[b].name, u[a].name) == 0) {
            b++;
        }
        rv = judge_user(h, n, &u[a], b - a, answered, o);
        a = b;
    }
    free(u);
    return rv;
}

ohsm_rv ohsm_syncdiff_compare(const struct ohsm_syncdiff_hsm *h, size_t n,
                              struct ohsm_syncdiff_item **items, size_t *nitems)
{
    struct out o = {NULL, 0, 0};

    OHSM_ENSURE(items != NULL && nitems != NULL && (h != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    ohsm_rv rv = compare_objects(h, n, &o);
    if (rv == OHSM_OK) {
        rv = compare_users(h, n, &o);
    }
    if (rv != OHSM_OK) {
        free(o.v);
        return rv;
    }
    *items = o.v;
    *nitems = o.n;
    return OHSM_OK;
}
