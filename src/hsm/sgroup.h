/* SPDX-License-Identifier: Apache-2.0
 *
 * Session-object groups of one HSM: the sessions of one user that present the same 16-byte value
 * at login (LoginReq.group, chosen at random by a client process for all its connections) share
 * their session objects, which live until the last of those sessions ends. This lets a client
 * spread work on its session objects over many connections (and so over every core of the HSM),
 * as PKCS#11 lets any session of an application use its session objects. The value is a bearer
 * secret of the client process, compared in constant time and bound to the user that made the
 * group: another user presenting it is refused. A fixed table embedded in the HSM; not
 * thread-safe (the caller holds the HSM's lock).
 */
#ifndef OHSM_SGROUP_H
#define OHSM_SGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "openhsm/rv.h"

#define OHSM_SGROUP_TOKEN_LEN 16
/* Shared groups live at once (one per client process using sharing, per HSM): as many as an
 * HSM's most logged-in sessions (hsm.h), since each group has one at least. */
#define OHSM_SGROUPS_MAX 4096

struct ohsm_sgroup {
    uint64_t id; /* the tag of its session objects; 0: free */
    uint32_t uid;
    uint32_t refs; /* sessions in the group */
    uint8_t token[OHSM_SGROUP_TOKEN_LEN];
};

struct ohsm_sgroups {
    uint32_t n; /* entries in use are e[0 .. n-1] */
    struct ohsm_sgroup e[OHSM_SGROUPS_MAX];
};

/* Joins the group named token for user uid, making it with id new_id (nonzero, never used
 * before) when no live group has that token; *id gets the group's id. Errors:
 * OHSM_ARGUMENTS_BAD (a live group of another user has this token; nothing changed),
 * OHSM_SESSION_COUNT (table full). */
OHSM_NODISCARD ohsm_rv ohsm_sgroups_join(struct ohsm_sgroups *g, const uint8_t *token, uint32_t uid,
                                         uint64_t new_id, uint64_t *id);
/* One session leaves group id: true when it was the last (the group is gone and its session
 * objects must die). An unknown id counts as a last leave. */
bool ohsm_sgroups_leave(struct ohsm_sgroups *g, uint64_t id);
/* Live groups. */
uint32_t ohsm_sgroups_count(const struct ohsm_sgroups *g);

#endif
