/* SPDX-License-Identifier: Apache-2.0
 *
 * CPU affinity for connections from this host (openhsmd's local clusters, a PKCS#11 application
 * beside its HSMs). A client thread and the HSM thread serving it wake each other once per
 * request; on a small (virtual) machine a wake-up across CPUs costs more than a fast operation,
 * and the scheduler tends to stack both threads of a pair on one CPU while the other idles. A
 * connection thread whose connection is busy alongside others therefore runs on the CPU its
 * requests arrive on (SO_INCOMING_CPU: on loopback, the CPU the client thread sent from), so each
 * pair's wake-ups stay on one CPU and the pairs spread as the kernel spreads the client's
 * threads. Only while the HSM is not crowded: with more requests in work at once than CPUs and one
 * (on average), pinned threads only keep the kernel from balancing them, so they are unpinned. A
 * lone connection's thread is unpinned (it spins for the next request, which needs a
 * CPU of its own, see server.c). Connections from other hosts are never pinned: there the
 * incoming CPU is the NIC's, which may be one for every flow.
 */
#ifndef OPENHSM_HSM_AFFINITY_H
#define OPENHSM_HSM_AFFINITY_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "hsm/conntab.h"

struct ohsm_affinity {
    bool enabled;      /* a loopback peer, several CPUs allowed */
    int pinned;        /* the CPU this thread is pinned to; -1: its original set */
    int ncpu;          /* CPUs in allowed */
    uint32_t load;     /* requests in work at once, a moving average in 1/256ths */
    cpu_set_t allowed; /* the thread's original set (cgroups and taskset are honoured) */
};

/* Is this source (conntab's 16-byte form: IPv6, IPv4 mapped) a loopback address? */
bool ohsm_affinity_loopback(const uint8_t src[OHSM_CONNTAB_SRC_LEN]);

/* For the calling connection thread, about to serve a peer at src. */
void ohsm_affinity_init(struct ohsm_affinity *a, const uint8_t src[OHSM_CONNTAB_SRC_LEN]);

/* Adds one sample of the requests in work now (this one included) to a->load; true when the HSM
 * is crowded: more in work than CPUs + 1, on average. */
bool ohsm_affinity_crowded(struct ohsm_affinity *a, int working);

/* The CPU the thread should be pinned to now: incoming (the connection's SO_INCOMING_CPU, -1 if
 * unknown) when enabled, neither lone nor crowded, and allowed; -1 (the original set) when lone or
 * crowded; else no change (a->pinned). */
int ohsm_affinity_choice(const struct ohsm_affinity *a, bool lone, bool crowded, int incoming);

/* After reading a request on fd, with working requests in work now: applies
 * ohsm_affinity_choice (a system call only on a change, plus one getsockopt when it may pin). */
void ohsm_affinity_follow(struct ohsm_affinity *a, int fd, bool lone, int working);

#endif
