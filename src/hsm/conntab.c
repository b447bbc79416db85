/* SPDX-License-Identifier: Apache-2.0
 *
 * The table of connections without a login (see conntab.h): a fixed array of limits.total
 * entries scanned linearly. Inputs are the caller's own (descriptors, addresses from accept, a
 * clock): nothing here comes from a peer but how often it connects.
 */
#include "hsm/conntab.h"

#include <stdlib.h>
#include <string.h>

struct ent {
    uint64_t id;   /* 0: free */
    uint64_t last; /* t->tick at admission or at the last request: least recently active first */
    uint64_t deadline;
    int fd;
    bool busy;
    uint8_t src[OHSM_CONNTAB_SRC_LEN];
};

struct ohsm_conntab {
    struct ohsm_conntab_limits lim;
    uint64_t next_id;
    uint64_t tick;
    size_t n; /* used entries */
    struct ent e[];
};

ohsm_rv ohsm_conntab_new(const struct ohsm_conntab_limits *lim, struct ohsm_conntab **out)
{
    OHSM_ENSURE(lim != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(lim->total >= 1 && lim->total <= 65536, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(lim->per_source >= 1 && lim->per_source <= lim->total, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(lim->handshake_ms >= 1 && lim->idle_ms >= 1, OHSM_ARGUMENTS_BAD);
    struct ohsm_conntab *t = calloc(1, sizeof(*t) + lim->total * sizeof(struct ent));
    OHSM_ENSURE(t != NULL, OHSM_HOST_MEMORY);
    t->lim = *lim;
    *out = t;
    return OHSM_OK;
}

void ohsm_conntab_free(struct ohsm_conntab *t)
{
    free(t);
}

static bool same_src(const struct ent *e, const uint8_t *src)
{
    return memcmp(e->src, src, OHSM_CONNTAB_SRC_LEN) == 0;
}

size_t ohsm_conntab_count(const struct ohsm_conntab *t, const uint8_t *src)
{
    size_t n = 0;
    if (src == NULL) {
        return t->n;
    }
    for (size_t i = 0; i < t->lim.total; i++) {
        if (t->e[i].id != 0 && same_src(&t->e[i], src)) {
            n++;
        }
    }
    return n;
}

/* Is a a better victim than b (NULL: anything is)? Idle before busy, then least recently
 * active. */
static bool better_victim(const struct ent *a, const struct ent *b)
{
    if (b == NULL) {
        return true;
    }
    if (a->busy != b->busy) {
        return !a->busy;
    }
    return a->last < b->last;
}

/* The victim among the entries of src. */
static struct ent *victim_of(struct ohsm_conntab *t, const uint8_t *src)
{
    struct ent *v = NULL;
    for (size_t i = 0; i < t->lim.total; i++) {
        struct ent *e = &t->e[i];
        if (e->id != 0 && same_src(e, src) && better_victim(e, v)) {
            v = e;
        }
    }
    return v;
}

/* The victim of the source holding the most entries (a flood from elsewhere pays for itself). */
static struct ent *victim_of_largest(struct ohsm_conntab *t)
{
    const struct ent *top = NULL;
    size_t top_n = 0;
    for (size_t i = 0; i < t->lim.total; i++) {
        const struct ent *e = &t->e[i];
        if (e->id == 0) {
            continue;
        }
        size_t k = ohsm_conntab_count(t, e->src);
        if (k > top_n) {
            top = e;
            top_n = k;
        }
    }
    return top == NULL ? NULL : victim_of(t, top->src);
}

static void drop(struct ohsm_conntab *t, struct ent *e)
{
    memset(e, 0, sizeof(*e));
    e->fd = -1;
    t->n--;
}

void ohsm_conntab_admit(struct ohsm_conntab *t, const uint8_t src[OHSM_CONNTAB_SRC_LEN], int fd,
                        bool handshaken, uint64_t now, uint64_t *id, int *victim)
{
    struct ent *v = NULL;

    *victim = -1;
    if (ohsm_conntab_count(t, src) >= t->lim.per_source) {
        v = victim_of(t, src);
    } else if (t->n >= t->lim.total) {
        v = victim_of_largest(t);
    }
    if (v != NULL) {
        *victim = v->fd;
        drop(t, v);
    }
    /* Either bound reached made room above, so a free entry exists. */
    for (size_t i = 0; i < t->lim.total; i++) {
        struct ent *e = &t->e[i];
        if (e->id != 0) {
            continue;
        }
        e->id = ++t->next_id;
        e->last = ++t->tick;
        e->deadline = now + (handshaken ? t->lim.idle_ms : t->lim.handshake_ms);
        e->fd = fd;
        e->busy = false;
        memcpy(e->src, src, OHSM_CONNTAB_SRC_LEN);
        t->n++;
        *id = e->id;
        return;
    }
}

static struct ent *find(struct ohsm_conntab *t, uint64_t id)
{
    if (id == 0) {
        return NULL;
    }
    for (size_t i = 0; i < t->lim.total; i++) {
        if (t->e[i].id == id) {
            return &t->e[i];
        }
    }
    return NULL;
}

bool ohsm_conntab_touch(struct ohsm_conntab *t, uint64_t id, bool busy, uint64_t now,
                        uint64_t until)
{
    struct ent *e = find(t, id);
    if (e == NULL) {
        return false;
    }
    e->busy = busy;
    e->last = ++t->tick;
    e->deadline = now + t->lim.idle_ms;
    if (until > e->deadline) {
        e->deadline = until;
    }
    return true;
}

void ohsm_conntab_remove(struct ohsm_conntab *t, uint64_t id)
{
    struct ent *e = find(t, id);
    if (e != NULL) {
        drop(t, e);
    }
}

size_t ohsm_conntab_expire(struct ohsm_conntab *t, uint64_t now, int *fds, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < t->lim.total && n < cap; i++) {
        struct ent *e = &t->e[i];
        if (e->id != 0 && !e->busy && e->deadline <= now) {
            fds[n++] = e->fd;
            drop(t, e);
        }
    }
    return n;
}
