/* SPDX-License-Identifier: Apache-2.0
 *
 * Conversions between the public API's types and wire messages: mechanism parameters to a Mech,
 * encoded records (from the HSM: untrusted, decoded by ohsm_obj_decode) to struct ohsm_obj, quorum
 * approvals to an Approval (the caller's buffers are borrowed, after a check of the bounds the
 * HSM's decoder enforces, so that a bad approval fails here and changes nothing), and bytes
 * fields to caller-owned buffers.
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

ohsm_rv ohsm_conv_approval(const struct ohsm_approval *ap, struct ohsm_conv_approval *buf,
                           Ohsm__Approval **out)
{
    *out = NULL;
    if (ap == NULL) {
        return OHSM_OK;
    }
    OHSM_ENSURE(ap->data != NULL && ap->len > 0 &&
                    ap->len <= (size_t)OHSM_APPROVAL_REC_LEN * OHSM_APPROVAL_MAX_RECS,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(ap->n <= OHSM_APPROVAL_SIGS_MAX && (ap->n == 0 || ap->sigs != NULL),
                OHSM_ARGUMENTS_BAD);
    ohsm__approval__init(&buf->msg);
    for (size_t i = 0; i < ap->n; i++) {
        const struct ohsm_approval_sig *s = &ap->sigs[i];
        OHSM_ENSURE(s->username != NULL &&
                        strnlen(s->username, OHSM_USERNAME_MAX + 1) <= OHSM_USERNAME_MAX &&
                        s->sig != NULL && s->len > 0 && s->len <= OHSM_TOKEN_SIG_MAX,
                    OHSM_ARGUMENTS_BAD);
        ohsm__approval_sig__init(&buf->sig[i]);
        buf->sig[i].username = (char *)s->username;
        buf->sig[i].signature.data = (uint8_t *)s->sig;
        buf->sig[i].signature.len = s->len;
        buf->sigp[i] = &buf->sig[i];
    }
    buf->msg.data.data = (uint8_t *)ap->data;
    buf->msg.data.len = ap->len;
    buf->msg.n_sigs = ap->n;
    buf->msg.sigs = ap->n > 0 ? buf->sigp : NULL;
    *out = &buf->msg;
    return OHSM_OK;
}
