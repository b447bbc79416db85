/* SPDX-License-Identifier: Apache-2.0
 *
 * Sync status comparison (rules in syncdiff.h). Pure: sorts the HSMs' entries by handle (or
 * user id), walks each group once and decides per HSM. Digests are public (keyed digests of public
 * records), so plain comparisons are fine here.
 */
#include "client/syncdiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ent {
    uint64_t handle; /* users: the id */
    size_t hsm;
    const struct ohsm_syncdiff_obj *o;
    const char *name; /* users */
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

/* Is a newer than b (version, then tombstone over live)? For users a deletion is final: a
 * tombstone is newer than any live record. */
static bool newer(const struct ohsm_syncdiff_obj *a, const struct ohsm_syncdiff_obj *b, bool users)
{
    if (users && a->deleted != b->deleted) {
        return a->deleted;
    }
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

/* One handle (or user id): per[i] is HSM i's newest entry (NULL: none), names[i] its name. */
static ohsm_rv judge_obj(const struct ohsm_syncdiff_hsm *h, size_t n,
                         const struct ohsm_syncdiff_obj *const *per, const char *const *names,
                         uint64_t handle, bool users, struct out *o)
{
    const struct ohsm_syncdiff_obj *ref = NULL;
    size_t src = SIZE_MAX;

    for (size_t i = 0; i < n; i++) {
        if (per[i] != NULL && (ref == NULL || newer(per[i], ref, users))) {
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
            OHSM_TRY(push(o, i, kind, users, handle, users ? names[src] : NULL, src, ref->version));
        }
    }
    return OHSM_OK;
}

static ohsm_rv compare(const struct ohsm_syncdiff_hsm *h, size_t n, bool users, struct out *o)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += h[i].rv == OHSM_OK ? (users ? h[i].nuser : h[i].nobj) : 0;
    }
    struct ent *e = calloc(total == 0 ? 1 : total, sizeof(*e));
    const struct ohsm_syncdiff_obj **per = calloc(n, sizeof(*per));
    const char **names = calloc(n, sizeof(*names));
    ohsm_rv rv = OHSM_HOST_MEMORY;
    if (e == NULL || per == NULL || names == NULL) {
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        size_t cnt = h[i].rv != OHSM_OK ? 0 : users ? h[i].nuser : h[i].nobj;
        for (size_t k = 0; k < cnt; k++) {
            e[m].o = users ? &h[i].user[k].o : &h[i].obj[k];
            e[m].name = users ? h[i].user[k].name : NULL;
            e[m].handle = e[m].o->handle;
            e[m].hsm = i;
            m++;
        }
    }
    qsort(e, m, sizeof(*e), ent_cmp);
    rv = OHSM_OK;
    for (size_t a = 0; a < m && rv == OHSM_OK;) {
        size_t b = a;
        memset(per, 0, n * sizeof(*per));
        memset(names, 0, n * sizeof(*names));
        for (; b < m && e[b].handle == e[a].handle; b++) {
            /* An HSM listing a handle twice: its newest entry counts. */
            if (per[e[b].hsm] == NULL || newer(e[b].o, per[e[b].hsm], users)) {
                per[e[b].hsm] = e[b].o;
                names[e[b].hsm] = e[b].name;
            }
        }
        rv = judge_obj(h, n, per, names, e[a].handle, users, o);
        a = b;
    }
out:
    free(e);
    free(per);
    free(names);
    return rv;
}

ohsm_rv ohsm_syncdiff_compare(const struct ohsm_syncdiff_hsm *h, size_t n,
                              struct ohsm_syncdiff_item **items, size_t *nitems)
{
    struct out o = {NULL, 0, 0};

    OHSM_ENSURE(items != NULL && nitems != NULL && (h != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    ohsm_rv rv = compare(h, n, false, &o);
    if (rv == OHSM_OK) {
        rv = compare(h, n, true, &o);
    }
    if (rv != OHSM_OK) {
        free(o.v);
        return rv;
    }
    *items = o.v;
    *nitems = o.n;
    return OHSM_OK;
}
