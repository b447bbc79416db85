/* SPDX-License-Identifier: Apache-2.0
 *
 * The record comparisons of -attest (attest.c), pure so they are unit-tested: two HSMs' records of
 * one key are the same in every field a user or the HSM relies on, and a record says what the
 * command asked. Records are HSM answers: lengths are bounded before any comparison reads them.
 */
#include <string.h>

#include "kmu/attest.h"

bool ohsm_kmu_attest_same(const struct ohsm_obj *a, const struct ohsm_obj *b)
{
    uint32_t ns = a->nshared < OHSM_SHARE_MAX ? a->nshared : OHSM_SHARE_MAX;
    if (a->handle != b->handle || a->cls != b->cls || a->ktype != b->ktype ||
        a->flags != b->flags || a->nshared != b->nshared || a->value_len != b->value_len ||
        a->modulus_bits != b->modulus_bits || a->curve != b->curve || a->has_kcv != b->has_kcv ||
        a->id_len != b->id_len || a->spki_len != b->spki_len ||
        a->quorum_manage != b->quorum_manage || a->quorum_use != b->quorum_use) {
        return false;
    }
    if (strncmp(a->owner, b->owner, sizeof(a->owner)) != 0 ||
        strncmp(a->label, b->label, sizeof(a->label)) != 0 ||
        (a->has_kcv && memcmp(a->kcv, b->kcv, sizeof(a->kcv)) != 0) ||
        a->id_len > OHSM_OBJ_ID_MAX || memcmp(a->id, b->id, a->id_len) != 0 ||
        a->spki_len > OHSM_SPKI_MAX || memcmp(a->spki, b->spki, a->spki_len) != 0) {
        return false;
    }
    for (uint32_t i = 0; i < ns; i++) {
        if (strncmp(a->shared[i], b->shared[i], sizeof(a->shared[i])) != 0) {
            return false;
        }
    }
    return true;
}

bool ohsm_kmu_attest_as_asked(const struct ohsm_obj *o, const struct ohsm_kmu_keyopts *want,
                              bool local)
{
    size_t ll = strnlen(want->label, OHSM_LABEL_MAX + 1);
    if (ll > OHSM_LABEL_MAX || strncmp(o->label, want->label, sizeof(o->label)) != 0) {
        return false;
    }
    if (o->id_len != want->id_len ||
        (want->id_len > 0 && memcmp(o->id, want->id, want->id_len) != 0)) {
        return false;
    }
    if (((o->flags & OHSM_F_LOCAL) != 0) != local ||
        ((o->flags & OHSM_F_TOKEN) != 0) != want->token) {
        return false;
    }
    if (o->cls != OHSM_CLASS_PUBLIC &&
        ((o->flags & OHSM_F_EXTRACTABLE) != 0) != want->extractable) {
        return false;
    }
    return true;
}
