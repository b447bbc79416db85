/* SPDX-License-Identifier: Apache-2.0
 *
 * Per-user volatile state (see ustate.h). Linear scans: at most a few entries are live in
 * practice (users with sessions or attempts right now), and the table is bounded.
 */
#include "hsm/ustate.h"

#include <stddef.h>

static struct ohsm_uent *find(struct ohsm_ustate *u, uint32_t uid)
{
    for (uint32_t i = 0; i < u->n; i++) {
        if (u->e[i].uid == uid) {
            return &u->e[i];
        }
    }
    return NULL;
}

static struct ohsm_uent *find_or_add(struct ohsm_ustate *u, uint32_t uid)
{
    struct ohsm_uent *e = find(u, uid);
    if (e != NULL || uid == 0 || u->n >= OHSM_USTATE_MAX) {
        return e;
    }
    e = &u->e[u->n++];
    e->uid = uid;
    e->sessions = 0;
    e->inflight = 0;
    return e;
}

/* Drops an entry that counts nothing any more (the last one moves into its place). */
static void trim(struct ohsm_ustate *u, struct ohsm_uent *e)
{
    if (e->sessions == 0 && e->inflight == 0) {
        *e = u->e[u->n - 1];
        u->n--;
    }
}

ohsm_rv ohsm_ustate_attempt_take(struct ohsm_ustate *u, uint32_t uid, uint32_t failures,
                                 uint32_t limit, bool *busy)
{
    if (busy != NULL) {
        *busy = false;
    }
    OHSM_ENSURE(u != NULL && uid != 0, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(failures < limit, OHSM_PIN_LOCKED);
    struct ohsm_uent *e = find(u, uid);
    uint64_t taken = (uint64_t)failures + (e != NULL ? e->inflight : 0);
    if (taken >= limit) {
        if (busy != NULL) {
            *busy = true;
        }
        return OHSM_PIN_LOCKED;
    }
    e = find_or_add(u, uid);
    OHSM_ENSURE(e != NULL, OHSM_SESSION_COUNT);
    e->inflight++;
    return OHSM_OK;
}

void ohsm_ustate_attempt_put(struct ohsm_ustate *u, uint32_t uid)
{
    struct ohsm_uent *e = u != NULL ? find(u, uid) : NULL;
    if (e != NULL && e->inflight > 0) {
        e->inflight--;
        trim(u, e);
    }
}

ohsm_rv ohsm_ustate_session_add(struct ohsm_ustate *u, uint32_t uid)
{
    OHSM_ENSURE(u != NULL && uid != 0, OHSM_ARGUMENTS_BAD);
    struct ohsm_uent *e = find_or_add(u, uid);
    OHSM_ENSURE(e != NULL, OHSM_SESSION_COUNT);
    e->sessions++;
    return OHSM_OK;
}

void ohsm_ustate_session_del(struct ohsm_ustate *u, uint32_t uid)
{
    struct ohsm_uent *e = u != NULL ? find(u, uid) : NULL;
    if (e != NULL && e->sessions > 0) {
        e->sessions--;
        trim(u, e);
    }
}

uint32_t ohsm_ustate_sessions(const struct ohsm_ustate *u, uint32_t uid)
{
    for (uint32_t i = 0; u != NULL && i < u->n; i++) {
        if (u->e[i].uid == uid) {
            return u->e[i].sessions;
        }
    }
    return 0;
}
