/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM's table of connections without a login: those still in the TLS handshake and those
 * through it whose peer has not logged in (TLS does not authenticate clients, so anyone gets that
 * far). Logged-in connections are not in it: they count against max_sessions instead.
 *
 * The table is bounded in total and per source address, and it never refuses a newcomer: when a
 * bound is reached the least recently active connection of the newcomer's source (or, for the
 * total, of the source holding the most entries) is evicted and handed back to the caller to close.
 * A legitimate client sharing an address with a flood therefore always gets in, as the newest.
 * A connection that is running a request ("busy") is evicted only when all candidates are busy,
 * and never expires. Every entry has a deadline (handshake or idle time) after which it expires.
 *
 * Pure data: no sockets, no clock, no lock. The caller passes the time (monotonic milliseconds),
 * closes what comes back, and serialises calls (server.c: h->conn_lock).
 */
#ifndef OHSM_HSM_CONNTAB_H
#define OHSM_HSM_CONNTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

#define OHSM_CONNTAB_SRC_LEN 16 /* an IPv6 address; IPv4 as ::ffff:a.b.c.d */

struct ohsm_conntab_limits {
    uint32_t total;        /* connections without a login, all sources (>= 1) */
    uint32_t per_source;   /* of one source address (1..total) */
    uint32_t handshake_ms; /* from admission to the end of the TLS handshake */
    uint32_t idle_ms;      /* after the handshake: from the end of the last request */
};

struct ohsm_conntab;

/* A table for lim (copied). Errors: OHSM_ARGUMENTS_BAD (a limit out of range),
 * OHSM_HOST_MEMORY. Caller frees with ohsm_conntab_free (NULL ok). */
OHSM_NODISCARD ohsm_rv ohsm_conntab_new(const struct ohsm_conntab_limits *lim,
                                        struct ohsm_conntab **out);
void ohsm_conntab_free(struct ohsm_conntab *t);

/* Admits connection fd from src at now, in the handshake (deadline now + handshake_ms), or, with
 * handshaken, as through it (deadline now + idle_ms: a session that logged out). *id names it
 * from now on (never 0, never reused). *victim is the descriptor of the connection evicted to make
 * room, which has left the table, or -1. Always succeeds. */
void ohsm_conntab_admit(struct ohsm_conntab *t, const uint8_t src[OHSM_CONNTAB_SRC_LEN], int fd,
                        bool handshaken, uint64_t now, uint64_t *id, int *victim);

/* Connection id ran a request (busy true: it started, not evictable unless all are, never
 * expires; false: it ended, deadline now + idle_ms, or until when that is later: a pending MFA
 * login waits for its token to be signed). Also ends the handshake deadline. false when id is no
 * longer in the table (evicted or expired: its descriptor was handed out). */
bool ohsm_conntab_touch(struct ohsm_conntab *t, uint64_t id, bool busy, uint64_t now,
                        uint64_t until);

/* Removes id (the connection closes, or its user logged in). Unknown ids are ignored. */
void ohsm_conntab_remove(struct ohsm_conntab *t, uint64_t id);

/* Removes up to cap entries that are not busy and whose deadline is <= now; writes their
 * descriptors to fds and returns how many (call again while it returns cap). */
size_t ohsm_conntab_expire(struct ohsm_conntab *t, uint64_t now, int *fds, size_t cap);

/* Entries in the table: all of them (src NULL), or those of src. */
size_t ohsm_conntab_count(const struct ohsm_conntab *t, const uint8_t *src);

#endif
