/* SPDX-License-Identifier: Apache-2.0
 *
 * CPU affinity for connections from this host: see affinity.h.
 */
#include "hsm/affinity.h"

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

bool ohsm_affinity_loopback(const uint8_t src[OHSM_CONNTAB_SRC_LEN])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (memcmp(src, mapped, sizeof(mapped)) == 0) {
        return src[12] == 127; /* 127.0.0.0/8 */
    }
    return memcmp(src, v6, sizeof(v6)) == 0; /* ::1 */
}

void ohsm_affinity_init(struct ohsm_affinity *a, const uint8_t src[OHSM_CONNTAB_SRC_LEN])
{
    memset(a, 0, sizeof(*a));
    a->pinned = -1;
    a->enabled = ohsm_affinity_loopback(src) &&
                 pthread_getaffinity_np(pthread_self(), sizeof(a->allowed), &a->allowed) == 0 &&
                 CPU_COUNT(&a->allowed) > 1;
    a->ncpu = a->enabled ? CPU_COUNT(&a->allowed) : 1;
}

bool ohsm_affinity_crowded(struct ohsm_affinity *a, int working)
{
    uint32_t w = working < 0 ? 0u : working > 1024 ? 1024u : (uint32_t)working;
    a->load = (a->load * 15u + w * 256u) / 16u; /* weight 1/16 for the newest sample */
    return a->load > (uint32_t)(a->ncpu + 1) * 256u;
}

int ohsm_affinity_choice(const struct ohsm_affinity *a, bool lone, bool crowded, int incoming)
{
    if (!a->enabled) {
        return a->pinned;
    }
    if (lone || crowded) {
        return -1;
    }
    if (incoming < 0 || incoming >= CPU_SETSIZE || !CPU_ISSET((size_t)incoming, &a->allowed)) {
        return a->pinned;
    }
    return incoming;
}

void ohsm_affinity_follow(struct ohsm_affinity *a, int fd, bool lone, int working)
{
    if (!a->enabled) {
        return;
    }
    bool crowded = ohsm_affinity_crowded(a, working);
    int incoming = -1;
    if (!lone && !crowded) {
        socklen_t l = sizeof(incoming);
        if (getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &incoming, &l) != 0) {
            incoming = -1;
        }
    }
    int want = ohsm_affinity_choice(a, lone, crowded, incoming);
    if (want == a->pinned) {
        return;
    }
    cpu_set_t one;
    const cpu_set_t *set = &a->allowed;
    if (want >= 0) {
        CPU_ZERO(&one);
        CPU_SET((size_t)want, &one);
        set = &one;
    }
    if (pthread_setaffinity_np(pthread_self(), sizeof(*set), set) == 0) {
        a->pinned = want;
    }
}
