/* SPDX-License-Identifier: Apache-2.0
 *
 * Session-object groups (see sgroup.h). Linear scans over the live entries: a handful per HSM in
 * practice (one per client process that shares), bounded by the table.
 */
#include "hsm/sgroup.h"

#include <stddef.h>
#include <string.h>

#include <openssl/crypto.h>

ohsm_rv ohsm_sgroups_join(struct ohsm_sgroups *g, const uint8_t *token, uint32_t uid,
                          uint64_t new_id, uint64_t *id)
{
    if (token == NULL || new_id == 0 || id == NULL) {
        return OHSM_ARGUMENTS_BAD;
    }
    for (uint32_t i = 0; i < g->n; i++) {
        struct ohsm_sgroup *e = &g->e[i];
        if (CRYPTO_memcmp(e->token, token, OHSM_SGROUP_TOKEN_LEN) != 0) {
            continue;
        }
        if (e->uid != uid) {
            return OHSM_ARGUMENTS_BAD; /* never another user's objects */
        }
        e->refs++;
        *id = e->id;
        return OHSM_OK;
    }
    if (g->n >= OHSM_SGROUPS_MAX) {
        return OHSM_SESSION_COUNT;
    }
    struct ohsm_sgroup *e = &g->e[g->n++];
    e->id = new_id;
    e->uid = uid;
    e->refs = 1;
    memcpy(e->token, token, OHSM_SGROUP_TOKEN_LEN);
    *id = new_id;
    return OHSM_OK;
}

bool ohsm_sgroups_leave(struct ohsm_sgroups *g, uint64_t id)
{
    for (uint32_t i = 0; i < g->n; i++) {
        struct ohsm_sgroup *e = &g->e[i];
        if (e->id != id) {
            continue;
        }
        if (--e->refs > 0) {
            return false;
        }
        OPENSSL_cleanse(e, sizeof(*e));
        if (i != g->n - 1) {
            *e = g->e[g->n - 1];
            OPENSSL_cleanse(&g->e[g->n - 1], sizeof(*e));
        }
        g->n--;
        return true;
    }
    return true;
}

uint32_t ohsm_sgroups_count(const struct ohsm_sgroups *g)
{
    return g->n;
}
