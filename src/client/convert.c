/* SPDX-License-Identifier: Apache-2.0
 *
 * Conversions between the public API's types and wire messages: mechanism parameters to a Mech,
 * encoded records (from the HSM: untrusted, decoded by ohsm_obj_decode) to struct ohsm_obj, and
 * bytes fields to caller-owned buffers.
 */
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"

void ohsm_conv_mech(const struct ohsm_mech_params *m, Ohsm__Mech *out)
{
    ohsm__mech__init(out);
    out->mech = m->mech;
    out->hash = m->hash;
    out->mgf_hash = m->mgf_hash;
    out->salt_len = m->salt_len;
    out->prehashed = m->prehashed;
    out->iv.data = (uint8_t *)m->iv;
    out->iv.len = m->iv != NULL ? m->iv_len : 0;
    out->aad.data = (uint8_t *)m->aad;
    out->aad.len = m->aad != NULL ? m->aad_len : 0;
    out->tag_bits = m->tag_bits;
    out->label.data = (uint8_t *)m->label;
    out->label.len = m->label != NULL ? m->label_len : 0;
}

ohsm_rv ohsm_conv_records(const ProtobufCBinaryData *recs, size_t n, struct ohsm_obj *objs,
                          size_t cap)
{
    OHSM_ENSURE(n <= cap, OHSM_PROTOCOL);
    for (size_t i = 0; i < n; i++) {
        if (ohsm_obj_decode(recs[i].data, recs[i].len, &objs[i]) != OHSM_OK) {
            return OHSM_PROTOCOL;
        }
    }
    return OHSM_OK;
}

ohsm_rv ohsm_conv_dup(const ProtobufCBinaryData *b, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (b->len == 0) {
        return OHSM_OK;
    }
    uint8_t *p = malloc(b->len);
    OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
    memcpy(p, b->data, b->len);
    *out = p;
    *len = b->len;
    return OHSM_OK;
}
