/* SPDX-License-Identifier: Apache-2.0
 *
 * Cryptography through the cluster: each operation goes to one HSM, round-robin over the HSMs
 * where the client is logged in, moving on when one is unreachable or does not know the key; a
 * session key's operations go to the HSM that holds it. A sign with a quorum approval spends it on
 * the HSM that signed, and the other HSMs are then told to drop their records of it. Plaintexts
 * travel in requests (the frame is wiped after writing) and in responses (the frame and the decoded
 * message are wiped); the caller's copy is the only one left.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client/internal.h"

/* The HSM's limit for one random request (RandomReq). */
#define RANDOM_CHUNK 65536u

/* One crypto request: to the session key's HSM, else balanced with fail-over. ap (sign only,
 * may be NULL) is checked before anything is sent; when the HSM that ran the request accepted
 * it, the approval is spent there and dropped on the other HSMs (a sign runs on one HSM only). */
static ohsm_rv crypto_call(struct ohsm_client *c, Ohsm__CryptoOp op, uint64_t handle,
                           const struct ohsm_mech_params *mp, const uint8_t *in, size_t in_len,
                           const uint8_t *sig, size_t sig_len, const struct ohsm_approval *ap,
                           Ohsm__Response **r)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CryptoReq m = OHSM__CRYPTO_REQ__INIT;
    Ohsm__Mech mech;
    struct ohsm_conv_approval apb;
    size_t used = OHSM_ALL;

    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    ohsm_conv_mech(mp, &mech);
    m.op = op;
    m.handle = handle;
    m.mech = &mech;
    m.data.data = (uint8_t *)in;
    m.data.len = in_len;
    m.signature.data = (uint8_t *)sig;
    m.signature.len = sig_len;
    q.op_case = OHSM__REQUEST__OP_CRYPTO;
    q.crypto = &m;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_sync_auto(c, false);
    size_t pin = OHSM_ALL;
    ohsm_rv rv = handle != 0 ? ohsm_route_sess_pin(c, handle, &pin) : OHSM_OK;
    if (rv == OHSM_OK) {
        rv =
            ohsm_route_one(c, &q, pin, OHSM_ALL,
                           handle != 0 && pin == OHSM_ALL ? OHSM_ROUTE_HANDLE_RETRY : 0u, r, &used);
    }
    if (rv == OHSM_OK && ap != NULL) {
        ohsm_client_quorum_drop_locked(c, used, &ap, 1);
    }
    (void)pthread_mutex_unlock(&c->lock);
    if (rv == OHSM_OK && (*r)->body_case != OHSM__RESPONSE__BODY_DATA &&
        op != OHSM__CRYPTO_OP__VERIFY) {
        rv = OHSM_PROTOCOL;
    }
    return rv;
}

static bool in_ok(const uint8_t *in, size_t len)
{
    return in != NULL || len == 0;
}

ohsm_rv ohsm_client_encrypt(struct ohsm_client *c, uint64_t handle,
                            const struct ohsm_mech_params *m, const uint8_t *in, size_t in_len,
                            uint8_t **out, size_t *out_len, uint8_t iv[16], size_t *iv_len)
{
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && m != NULL && in_ok(in, in_len) && out != NULL && out_len != NULL,
                OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *out_len = 0;
    if (iv_len != NULL) {
        *iv_len = 0;
    }
    ohsm_rv rv = crypto_call(c, OHSM__CRYPTO_OP__ENCRYPT, handle, m, in, in_len, NULL, 0, NULL, &r);
    if (rv == OHSM_OK) {
        const ProtobufCBinaryData *giv = &r->data->iv;
        if (giv->len > 16 || (giv->len > 0 && (iv == NULL || iv_len == NULL))) {
            rv = giv->len > 16 ? OHSM_PROTOCOL : OHSM_ARGUMENTS_BAD;
        } else {
            rv = ohsm_conv_dup(&r->data->data, out, out_len);
            if (rv == OHSM_OK && giv->len > 0) {
                memcpy(iv, giv->data, giv->len);
                *iv_len = giv->len;
            }
        }
    }
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_decrypt(struct ohsm_client *c, uint64_t handle,
                            const struct ohsm_mech_params *m, const uint8_t *in, size_t in_len,
                            uint8_t **out, size_t *out_len)
{
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && m != NULL && in_ok(in, in_len) && out != NULL && out_len != NULL,
                OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *out_len = 0;
    ohsm_rv rv = crypto_call(c, OHSM__CRYPTO_OP__DECRYPT, handle, m, in, in_len, NULL, 0, NULL, &r);
    if (rv == OHSM_OK) {
        rv = ohsm_conv_dup(&r->data->data, out, out_len);
    }
    ohsm_wire_resp_free(r); /* wipes the plaintext in the response */
    return rv;
}

ohsm_rv ohsm_client_sign_q(struct ohsm_client *c, uint64_t handle, const struct ohsm_mech_params *m,
                           const uint8_t *in, size_t in_len, const struct ohsm_approval *ap,
                           uint8_t **out, size_t *out_len)
{
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && m != NULL && in_ok(in, in_len) && out != NULL && out_len != NULL,
                OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *out_len = 0;
    ohsm_rv rv = crypto_call(c, OHSM__CRYPTO_OP__SIGN, handle, m, in, in_len, NULL, 0, ap, &r);
    if (rv == OHSM_OK) {
        rv = ohsm_conv_dup(&r->data->data, out, out_len);
    }
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_sign(struct ohsm_client *c, uint64_t handle, const struct ohsm_mech_params *m,
                         const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len)
{
    return ohsm_client_sign_q(c, handle, m, in, in_len, NULL, out, out_len);
}

ohsm_rv ohsm_client_verify(struct ohsm_client *c, uint64_t handle, const struct ohsm_mech_params *m,
                           const uint8_t *in, size_t in_len, const uint8_t *sig, size_t sig_len)
{
    Ohsm__Response *r = NULL;

    OHSM_ENSURE(c != NULL && m != NULL && in_ok(in, in_len) && in_ok(sig, sig_len),
                OHSM_ARGUMENTS_BAD);
    ohsm_rv rv =
        crypto_call(c, OHSM__CRYPTO_OP__VERIFY, handle, m, in, in_len, sig, sig_len, NULL, &r);
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_digest(struct ohsm_client *c, uint32_t hash, const uint8_t *in, size_t in_len,
                           uint8_t **out, size_t *out_len)
{
    Ohsm__Response *r = NULL;
    struct ohsm_mech_params m;

    OHSM_ENSURE(c != NULL && in_ok(in, in_len) && out != NULL && out_len != NULL,
                OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *out_len = 0;
    memset(&m, 0, sizeof(m));
    m.mech = OHSM_M_DIGEST;
    m.hash = hash;
    ohsm_rv rv = crypto_call(c, OHSM__CRYPTO_OP__DIGEST, 0, &m, in, in_len, NULL, 0, NULL, &r);
    if (rv == OHSM_OK) {
        rv = ohsm_conv_dup(&r->data->data, out, out_len);
    }
    ohsm_wire_resp_free(r);
    return rv;
}

ohsm_rv ohsm_client_random(struct ohsm_client *c, uint8_t *out, size_t len)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__RandomReq m = OHSM__RANDOM_REQ__INIT;
    ohsm_rv rv = OHSM_OK;

    OHSM_ENSURE(c != NULL && (out != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    q.op_case = OHSM__REQUEST__OP_RANDOM;
    q.random = &m;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_sync_auto(c, false);
    for (size_t off = 0; off < len && rv == OHSM_OK;) {
        Ohsm__Response *r = NULL;
        m.length = (uint32_t)(len - off < RANDOM_CHUNK ? len - off : RANDOM_CHUNK);
        rv = ohsm_route_one(c, &q, OHSM_ALL, OHSM_ALL, 0u, &r, NULL);
        if (rv == OHSM_OK &&
            (r->body_case != OHSM__RESPONSE__BODY_DATA || r->data->data.len != m.length)) {
            rv = OHSM_PROTOCOL;
        }
        if (rv == OHSM_OK) {
            memcpy(out + off, r->data->data.data, m.length);
            off += m.length;
        }
        ohsm_wire_resp_free(r);
    }
    (void)pthread_mutex_unlock(&c->lock);
    if (rv != OHSM_OK && len > 0) {
        OPENSSL_cleanse(out, len);
    }
    return rv;
}
