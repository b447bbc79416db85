/* SPDX-License-Identifier: Apache-2.0
 *
 * Per-user volatile state of one HSM, kept in memory only: how many sessions each user has logged
 * in here (the logged-in-user rule: a user's password cannot change while the user has a live
 * session elsewhere) and how many of its login attempts are being checked right now (lockout that
 * holds under concurrency: an attempt takes its failure slot before the password or signature is
 * checked, so no more than the limit of wrong guesses per user is ever evaluated, however many
 * connections try at once). A fixed table embedded in the HSM: no allocation, nothing to free.
 * Not thread-safe: the caller holds the HSM's lock.
 */
#ifndef OHSM_USTATE_H
#define OHSM_USTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "openhsm/rv.h"
#include "openhsm/user.h"

/* Distinct users with live sessions or attempts in flight at once: every user of the HSM, and as
 * many again for sessions of deleted users not yet logged out. */
#define OHSM_USTATE_MAX (2 * OHSM_MAX_USERS)

struct ohsm_uent {
    uint32_t uid; /* 0: free */
    uint32_t sessions;
    uint32_t inflight;
};

struct ohsm_ustate {
    uint32_t n; /* entries in use are e[0 .. n-1] (free ones compacted away) */
    struct ohsm_uent e[OHSM_USTATE_MAX];
};

/* Takes a login-attempt slot for uid when failures (the stored counter) plus the attempts in
 * flight stay below limit. Errors: OHSM_PIN_LOCKED (no slot: the user is locked, or enough
 * attempts are already being checked to lock it; *busy (may be NULL) tells the second case: the
 * caller may wait for one of them to end and try again), OHSM_SESSION_COUNT (table full). */
OHSM_NODISCARD ohsm_rv ohsm_ustate_attempt_take(struct ohsm_ustate *u, uint32_t uid,
                                                uint32_t failures, uint32_t limit, bool *busy);
/* Gives back an attempt slot (after its outcome was recorded). */
void ohsm_ustate_attempt_put(struct ohsm_ustate *u, uint32_t uid);

/* Counts a new logged-in session of uid. Errors: OHSM_SESSION_COUNT (table full). */
OHSM_NODISCARD ohsm_rv ohsm_ustate_session_add(struct ohsm_ustate *u, uint32_t uid);
/* Forgets one logged-in session of uid (no-op when none is counted). */
void ohsm_ustate_session_del(struct ohsm_ustate *u, uint32_t uid);
/* Live sessions of uid. */
uint32_t ohsm_ustate_sessions(const struct ohsm_ustate *u, uint32_t uid);

#endif
