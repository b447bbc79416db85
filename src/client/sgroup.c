/* SPDX-License-Identifier: Apache-2.0
 *
 * Session objects a client knows of and the HSM each lives on, kept in a group (struct
 * ohsm_sgroup) that is a client's own or shared by several clients of one process
 * (ohsm_client_set_sgroup). A shared group names itself at every login with a random 16-byte
 * value, so the HSMs put the sessions of all its clients in one session-object scope: any of them
 * uses the objects another made, and the objects live while any of those sessions does.
 * Lookups are linear: a process keeps few session objects alive at once.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "client/internal.h"

struct ohsm_sgroup {
    pthread_mutex_t mu; /* guards what follows; taken last (under any client lock) */
    atomic_uint refs;
    bool shared; /* made by ohsm_sgroup_new: its token goes with every login */
    uint8_t token[OHSM_SGROUP_TOKEN_LEN];
    struct sess_obj *v;
    size_t n, cap;
    atomic_bool resend; /* some entry may be marked resend (a hint: cleared by a scan) */
};

static ohsm_rv group_new(bool shared, struct ohsm_sgroup **out)
{
    struct ohsm_sgroup *g = calloc(1, sizeof(*g));
    OHSM_ENSURE(g != NULL, OHSM_HOST_MEMORY);
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        free(g);
        return OHSM_HOST_MEMORY;
    }
    atomic_init(&g->refs, 1);
    atomic_init(&g->resend, false);
    g->shared = shared;
    if (shared && RAND_bytes(g->token, sizeof(g->token)) != 1) {
        (void)pthread_mutex_destroy(&g->mu);
        free(g);
        return OHSM_DEVICE_ERROR;
    }
    *out = g;
    return OHSM_OK;
}

ohsm_rv ohsm_sgroup_new(struct ohsm_sgroup **out)
{
    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    return group_new(true, out);
}

ohsm_rv ohsm_sgroup_private(struct ohsm_sgroup **out)
{
    return group_new(false, out);
}

void ohsm_sgroup_free(struct ohsm_sgroup *g)
{
    if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1) {
        return;
    }
    OPENSSL_cleanse(g->token, sizeof(g->token));
    free(g->v);
    (void)pthread_mutex_destroy(&g->mu);
    free(g);
}

void ohsm_sgroup_hold(struct ohsm_sgroup *g)
{
    atomic_fetch_add(&g->refs, 1);
}

ohsm_rv ohsm_sgroup_renew(struct ohsm_sgroup *g)
{
    OHSM_ENSURE(g != NULL && g->shared, OHSM_ARGUMENTS_BAD);
    uint8_t t[OHSM_SGROUP_TOKEN_LEN];
    OHSM_ENSURE(RAND_bytes(t, sizeof(t)) == 1, OHSM_DEVICE_ERROR);
    (void)pthread_mutex_lock(&g->mu);
    memcpy(g->token, t, sizeof(t));
    g->n = 0; /* the old scope's objects die with its sessions */
    (void)pthread_mutex_unlock(&g->mu);
    OPENSSL_cleanse(t, sizeof(t));
    return OHSM_OK;
}

bool ohsm_sgroup_token(struct ohsm_sgroup *g, uint8_t out[OHSM_SGROUP_TOKEN_LEN])
{
    if (!g->shared) {
        return false;
    }
    (void)pthread_mutex_lock(&g->mu);
    memcpy(out, g->token, OHSM_SGROUP_TOKEN_LEN);
    (void)pthread_mutex_unlock(&g->mu);
    return true;
}

bool ohsm_sgroup_is_shared(const struct ohsm_sgroup *g)
{
    return g->shared;
}

static size_t find_locked(const struct ohsm_sgroup *g, uint64_t handle)
{
    for (size_t i = 0; i < g->n; i++) {
        if (g->v[i].handle == handle) {
            return i;
        }
    }
    return OHSM_ALL;
}

ohsm_rv ohsm_route_sess_pin(const struct ohsm_client *c, uint64_t handle, size_t *pin)
{
    struct ohsm_sgroup *g = c->sg;
    (void)pthread_mutex_lock(&g->mu);
    size_t i = find_locked(g, handle);
    bool dying = i != OHSM_ALL && g->v[i].dying;
    *pin = i == OHSM_ALL ? OHSM_ALL : g->v[i].hsm;
    (void)pthread_mutex_unlock(&g->mu);
    return dying ? OHSM_KEY_HANDLE_INVALID : OHSM_OK;
}

/* Marks a live session object dying; false when it is not one (unknown, or dying already). */
bool ohsm_route_sess_doom(struct ohsm_client *c, uint64_t handle, size_t *hsm)
{
    struct ohsm_sgroup *g = c->sg;
    (void)pthread_mutex_lock(&g->mu);
    size_t i = find_locked(g, handle);
    bool ok = i != OHSM_ALL && !g->v[i].dying;
    if (ok) {
        g->v[i].dying = true;
        *hsm = g->v[i].hsm;
    }
    (void)pthread_mutex_unlock(&g->mu);
    return ok;
}

/* Brings a dying session object back (its delete was never sent). */
void ohsm_route_sess_undoom(struct ohsm_client *c, uint64_t handle)
{
    struct ohsm_sgroup *g = c->sg;
    (void)pthread_mutex_lock(&g->mu);
    size_t i = find_locked(g, handle);
    if (i != OHSM_ALL) {
        g->v[i].dying = false;
    }
    (void)pthread_mutex_unlock(&g->mu);
}

void ohsm_route_deferred_answer(void *arg, uint64_t tag, ohsm_rv rv)
{
    if (rv == OHSM_OK || rv == OHSM_KEY_HANDLE_INVALID) {
        ohsm_route_sess_del(arg, tag);
    } else if (rv == OHSM_NOT_CONNECTED) {
        ohsm_route_sess_resend_put(arg, &tag, 1);
    }
}

size_t ohsm_route_sess_resend_take(struct ohsm_client *c, size_t hsm, uint64_t *out, size_t max)
{
    struct ohsm_sgroup *g = c->sg;
    if (max == 0 || !atomic_load(&g->resend)) {
        return 0;
    }
    size_t n = 0;
    bool left = false;
    (void)pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n; i++) {
        struct sess_obj *o = &g->v[i];
        if (o->resend && o->hsm == hsm && n < max) {
            o->resend = false;
            out[n++] = o->handle;
        } else {
            left = left || o->resend;
        }
    }
    atomic_store(&g->resend, left);
    (void)pthread_mutex_unlock(&g->mu);
    return n;
}

void ohsm_route_sess_resend_put(struct ohsm_client *c, const uint64_t *handles, size_t n)
{
    struct ohsm_sgroup *g = c->sg;
    (void)pthread_mutex_lock(&g->mu);
    for (size_t k = 0; k < n; k++) {
        size_t i = find_locked(g, handles[k]);
        if (i != OHSM_ALL && g->v[i].dying) {
            g->v[i].resend = true;
            atomic_store(&g->resend, true);
        }
    }
    (void)pthread_mutex_unlock(&g->mu);
}

ohsm_rv ohsm_route_sess_add(struct ohsm_client *c, uint64_t handle, size_t hsm)
{
    struct ohsm_sgroup *g = c->sg;
    ohsm_rv rv = OHSM_OK;
    (void)pthread_mutex_lock(&g->mu);
    if (find_locked(g, handle) == OHSM_ALL) {
        if (g->n == g->cap) {
            size_t cap = g->cap == 0 ? 16 : g->cap * 2;
            struct sess_obj *p = realloc(g->v, cap * sizeof(*p));
            if (p == NULL) {
                rv = OHSM_HOST_MEMORY;
                goto out;
            }
            g->v = p;
            g->cap = cap;
        }
        g->v[g->n].handle = handle;
        g->v[g->n].hsm = hsm;
        g->v[g->n].dying = false;
        g->v[g->n].resend = false;
        g->n++;
    }
out:
    (void)pthread_mutex_unlock(&g->mu);
    return rv;
}

void ohsm_route_sess_del(struct ohsm_client *c, uint64_t handle)
{
    struct ohsm_sgroup *g = c->sg;
    (void)pthread_mutex_lock(&g->mu);
    size_t i = find_locked(g, handle);
    if (i != OHSM_ALL) {
        g->v[i] = g->v[--g->n];
    }
    (void)pthread_mutex_unlock(&g->mu);
}

void ohsm_route_sess_drop(struct ohsm_client *c, size_t hsm)
{
    struct ohsm_sgroup *g = c->sg;
    (void)pthread_mutex_lock(&g->mu);
    size_t w = 0;
    for (size_t r = 0; r < g->n; r++) {
        if (hsm != OHSM_ALL && g->v[r].hsm != hsm) {
            g->v[w++] = g->v[r];
        }
    }
    g->n = w;
    (void)pthread_mutex_unlock(&g->mu);
}

size_t ohsm_route_sess_home(const struct ohsm_client *c)
{
    struct ohsm_sgroup *g = c->sg;
    (void)pthread_mutex_lock(&g->mu);
    size_t hsm = g->n > 0 ? g->v[0].hsm : OHSM_ALL;
    (void)pthread_mutex_unlock(&g->mu);
    return hsm;
}

bool ohsm_route_sess_on(const struct ohsm_client *c, size_t hsm)
{
    struct ohsm_sgroup *g = c->sg;
    bool has = false;
    (void)pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n && !has; i++) {
        has = g->v[i].hsm == hsm || hsm == OHSM_ALL;
    }
    (void)pthread_mutex_unlock(&g->mu);
    return has;
}

ohsm_rv ohsm_client_set_sgroup(struct ohsm_client *c, struct ohsm_sgroup *g)
{
    OHSM_ENSURE(c != NULL, OHSM_ARGUMENTS_BAD);
    struct ohsm_sgroup *mine = NULL;
    if (g == NULL) {
        OHSM_TRY(ohsm_sgroup_private(&mine));
    } else {
        ohsm_sgroup_hold(g);
        mine = g;
    }
    (void)pthread_mutex_lock(&c->lock);
    struct ohsm_sgroup *old = c->sg;
    c->sg = mine;
    (void)pthread_mutex_unlock(&c->lock);
    ohsm_sgroup_free(old);
    return OHSM_OK;
}
