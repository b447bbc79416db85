/* SPDX-License-Identifier: Apache-2.0
 *
 * Cryptography handlers: encrypt, decrypt, sign, verify (signatures and HMAC), digest, random,
 * wrap, unwrap and derive (issue 15: ECDH in the HSM; the EC private key never leaves it). Crypto
 * users only (permission table), with a key they own or are shared, whose attributes allow the
 * use (src/core/obj.c). This is the hot path: the session's user type comes from its cache, the
 * key is an object-table entry with its EVP_PKEY already loaded, taken by reference under a short
 * read lock; no SQL, no password hashing, no parsing of key material. Plaintext outputs live in
 * reply storage, which is wiped when the reply is cleared. Key quorum (issue 5): signing with a
 * key whose use-key-quorum-value is above 1, wrapping a key out or with a key, and unwrapping with
 * a key whose manage-key-quorum-value is above 1 need approvals (auth.c's key guard; no lock and
 * no SQL when the value is 0 or 1), used up on success; deriving from a key with either value
 * above 1 is refused (a derive request carries no approval).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hsm/handlers.h"

#define RANDOM_MAX 65536
/* Output room beyond the input: a GCM tag or CBC padding block, or a whole RSA-4096 block. */
#define OUT_SLACK 64
#define OUT_MIN 512
#define RSA_AES_BLOCK_MAX 512

static void mech_key(const struct ohsm_objent *e, struct ohsm_mech_key *k)
{
    k->cls = e->rec.cls;
    k->ktype = e->rec.ktype;
    k->raw = e->pkey == NULL ? ohsm_secret_data(e->material) : NULL;
    k->raw_len = e->pkey == NULL ? ohsm_secret_len(e->material) : 0;
    k->pkey = e->pkey;
    k->cache = e->cache; /* the entry's own contexts; it outlives the request (reference held) */
}

static size_t out_cap(size_t in_len)
{
    size_t c = in_len + OUT_SLACK;
    return c < OUT_MIN ? OUT_MIN : c;
}

static ohsm_rv do_encrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                          const ProtobufCBinaryData *in, struct ohsm_reply *r, uint8_t *out,
                          size_t cap, size_t *out_len)
{
    size_t iv_len = 0;
    ohsm_rv rv = ohsm_mech_encrypt(k, m, in->data, in->len, out, cap, out_len, r->iv, sizeof(r->iv),
                                   &iv_len);
    if (rv == OHSM_OK && m->iv_len == 0 && iv_len > 0) {
        r->data.iv.data = r->iv;
        r->data.iv.len = iv_len;
    }
    return rv;
}

/* Runs one keyed operation into reply storage, growing the buffer once if the mechanism says it
 * needs more. */
static ohsm_rv run(Ohsm__CryptoOp op, const struct ohsm_mech_key *k,
                   const struct ohsm_mech_params *m, const Ohsm__CryptoReq *q, struct ohsm_reply *r)
{
    size_t cap = out_cap(q->data.len);
    size_t out_len = 0;
    ohsm_rv rv = OHSM_BUFFER_TOO_SMALL;

    for (int attempt = 0; attempt < 2 && rv == OHSM_BUFFER_TOO_SMALL; attempt++) {
        uint8_t *out = ohsm_reply_alloc(r, cap);
        OHSM_ENSURE(out != NULL, OHSM_HOST_MEMORY);
        out_len = 0;
        switch (op) {
        case OHSM__CRYPTO_OP__ENCRYPT:
            rv = do_encrypt(k, m, &q->data, r, out, cap, &out_len);
            break;
        case OHSM__CRYPTO_OP__DECRYPT:
            rv = ohsm_mech_decrypt(k, m, q->data.data, q->data.len, out, cap, &out_len);
            break;
        case OHSM__CRYPTO_OP__SIGN:
            rv = ohsm_mech_sign(k, m, q->data.data, q->data.len, out, cap, &out_len);
            break;
        default:
            return OHSM_ARGUMENTS_BAD;
        }
        if (rv == OHSM_OK) {
            r->data.data.data = out;
            r->data.data.len = out_len;
        } else if (rv == OHSM_BUFFER_TOO_SMALL) {
            OHSM_ENSURE(out_len > cap && out_len <= 2 * OHSM_MASK_MAX + cap, OHSM_DEVICE_ERROR);
            cap = out_len;
        }
    }
    return rv;
}

static ohsm_rv crypto_keyed(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__CryptoReq *q,
                            struct ohsm_reply *r)
{
    struct ohsm_objent *e = NULL;
    struct ohsm_mech_params m;
    struct ohsm_mech_key k;
    enum ohsm_utype t;
    enum ohsm_use use;
    enum ohsm_op row;
    uint64_t ticket = 0;
    ohsm_rv rv;

    switch (q->op) {
    case OHSM__CRYPTO_OP__ENCRYPT:
        use = OHSM_USE_ENCRYPT;
        row = OHSM_OP_ENCRYPT_DECRYPT;
        break;
    case OHSM__CRYPTO_OP__DECRYPT:
        use = OHSM_USE_DECRYPT;
        row = OHSM_OP_ENCRYPT_DECRYPT;
        break;
    case OHSM__CRYPTO_OP__SIGN:
        use = OHSM_USE_SIGN;
        row = OHSM_OP_SIGN_VERIFY;
        break;
    case OHSM__CRYPTO_OP__VERIFY:
        use = OHSM_USE_VERIFY;
        row = OHSM_OP_SIGN_VERIFY;
        break;
    default:
        return OHSM_ARGUMENTS_BAD;
    }
    OHSM_TRY(ohsm_hsm_check(h, s, row, &t));
    OHSM_TRY(ohsm_hsm_key_usable(h, s, t, q->handle, &e));
    rv = ohsm_obj_check_use(&e->rec, use);
    if (rv == OHSM_OK && q->op == OHSM__CRYPTO_OP__SIGN) {
        rv = ohsm_hsm_quorum_guard_key(h, s, OHSM_QS_KEY_USAGE, &e->rec, q->approval, &ticket);
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_mech(q->mech, &m);
        mech_key(e, &k);
        if (q->op == OHSM__CRYPTO_OP__VERIFY) {
            rv = ohsm_mech_verify(&k, &m, q->data.data, q->data.len, q->signature.data,
                                  q->signature.len);
        } else {
            rv = run(q->op, &k, &m, q, r);
        }
    }
    ohsm_hsm_quorum_end(h, ticket, rv == OHSM_OK);
    ohsm_objent_put(e);
    return rv;
}

ohsm_rv ohsm_hsm_crypto(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__CryptoReq *q,
                        struct ohsm_reply *r)
{
    ohsm_rv rv;
    if (q->op == OHSM__CRYPTO_OP__DIGEST) {
        struct ohsm_mech_params m;
        uint8_t *out = NULL;
        size_t out_len = 0;
        OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_DIGEST_HMAC, NULL));
        OHSM_ENSURE(q->handle == 0, OHSM_ARGUMENTS_BAD);
        ohsm_hsm_mech(q->mech, &m);
        OHSM_ENSURE(m.mech == OHSM_M_DIGEST, OHSM_MECHANISM_INVALID);
        out = ohsm_reply_alloc(r, 64);
        OHSM_ENSURE(out != NULL, OHSM_HOST_MEMORY);
        OHSM_TRY(ohsm_mech_digest(m.hash, q->data.data, q->data.len, out, 64, &out_len));
        r->data.data.data = out;
        r->data.data.len = out_len;
        rv = OHSM_OK;
    } else {
        rv = crypto_keyed(h, s, q, r);
    }
    if (rv == OHSM_OK) {
        r->resp.body_case = OHSM__RESPONSE__BODY_DATA;
        r->resp.data = &r->data;
    }
    return rv;
}

ohsm_rv ohsm_hsm_random(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__RandomReq *q,
                        struct ohsm_reply *r)
{
    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_DIGEST_HMAC, NULL));
    OHSM_ENSURE(q->length >= 1 && q->length <= RANDOM_MAX, OHSM_DATA_LEN_RANGE);
    uint8_t *out = ohsm_reply_alloc(r, q->length);
    OHSM_ENSURE(out != NULL, OHSM_HOST_MEMORY);
    OHSM_ENSURE(RAND_priv_bytes(out, (int)q->length) == 1, OHSM_DEVICE_ERROR);
    r->data.data.data = out;
    r->data.data.len = q->length;
    r->resp.body_case = OHSM__RESPONSE__BODY_DATA;
    r->resp.data = &r->data;
    return OHSM_OK;
}

ohsm_rv ohsm_hsm_wrap(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__WrapReq *q,
                      struct ohsm_reply *r)
{
    struct ohsm_objent *payload = NULL;
    struct ohsm_objent *wrapping = NULL;
    struct ohsm_mech_params m;
    struct ohsm_mech_key k;
    enum ohsm_utype t;
    size_t out_len = 0;
    uint64_t tp = 0;
    uint64_t tw = 0;
    ohsm_rv rv;

    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_MGMT, &t));
    /* Only the owner takes a key out (shared users use it); the wrapping key need only be
     * usable. */
    OHSM_TRY(ohsm_hsm_key_owned(h, s, t, q->payload, &payload));
    rv = ohsm_hsm_key_usable(h, s, t, q->wrapping, &wrapping);
    if (rv == OHSM_OK) {
        rv = ohsm_obj_check_use(&wrapping->rec, OHSM_USE_WRAP);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_obj_check_wrap(&payload->rec, &wrapping->rec);
    }
    /* Each key's key-management quorum with its own approval; both used up only if the wrap
     * succeeds. */
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_quorum_guard_key(h, s, OHSM_QS_KEY_MGMT, &payload->rec, q->payload_approval,
                                       &tp);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_quorum_guard_key(h, s, OHSM_QS_KEY_MGMT, &wrapping->rec, q->wrapping_approval,
                                       &tw);
    }
    if (rv == OHSM_OK) {
        size_t len = ohsm_secret_len(payload->material);
        /* rsa-aes puts an RSA block (up to 4096 bits) before the wrapped key. */
        size_t cap =
            out_cap(len) +
            (q->mech != NULL && q->mech->mech == OHSM_M_RSA_AES_KW ? RSA_AES_BLOCK_MAX : 0);
        uint8_t *out = ohsm_reply_alloc(r, cap);
        ohsm_hsm_mech(q->mech, &m);
        mech_key(wrapping, &k);
        rv = out == NULL ? OHSM_HOST_MEMORY
                         : ohsm_mech_wrap(&k, &m, ohsm_secret_data(payload->material), len, out,
                                          cap, &out_len);
        if (rv == OHSM_OK) {
            r->data.data.data = out;
            r->data.data.len = out_len;
            r->resp.body_case = OHSM__RESPONSE__BODY_DATA;
            r->resp.data = &r->data;
        }
    }
    ohsm_hsm_quorum_end(h, tp, rv == OHSM_OK);
    ohsm_hsm_quorum_end(h, tw, rv == OHSM_OK);
    ohsm_objent_put(wrapping);
    ohsm_objent_put(payload);
    return rv;
}

/* The template's key-length-bytes (value-len); 0 when it has none. */
static uint32_t tmpl_value_len(const struct ohsm_tmpl *t)
{
    uint32_t value_len = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->a[i].id == OHSM_A_VALUE_LEN && t->a[i].len == 4) {
            const uint8_t *v = t->a[i].val;
            value_len = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
        }
    }
    return value_len;
}

/* AES-KW with zero padding cannot tell padding from key bytes: the key's length comes from the
 * template (key-length-bytes) for secret keys, from the DER for private and public keys. */
static ohsm_rv zero_unpad(const Ohsm__UnwrapReq *q, const uint8_t *plain, size_t *len)
{
    struct ohsm_tmpl t;
    OHSM_TRY(ohsm_hsm_tmpl(&q->template_, &t));
    uint32_t value_len = tmpl_value_len(&t);
    OHSM_ENSURE(q->cls != OHSM_CLASS_SECRET || value_len != 0, OHSM_TEMPLATE_INCONSISTENT);
    return ohsm_mech_zero_unpad(q->cls, value_len, plain, len);
}

/* Largest key material an unwrap may produce: PKCS#8 of RSA-4096 is ~2.4 KB. */
#define UNWRAP_MAX 16384

ohsm_rv ohsm_hsm_unwrap(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__UnwrapReq *q,
                        struct ohsm_reply *r)
{
    struct ohsm_objent *e = NULL;
    struct ohsm_mech_params m;
    struct ohsm_mech_key k;
    struct ohsm_tmpl tmpl;
    enum ohsm_utype t;
    uint8_t *plain = NULL;
    size_t len = 0;
    uint64_t ticket = 0;
    ohsm_rv rv;

    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_MGMT, &t));
    OHSM_ENSURE(q->n_share <= OHSM_SHARE_MAX, OHSM_DATA_LEN_RANGE);
    OHSM_TRY(ohsm_hsm_key_usable(h, s, t, q->unwrapping, &e));
    rv = ohsm_obj_check_use(&e->rec, OHSM_USE_UNWRAP);
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_tmpl(&q->template_, &tmpl); /* issue 15: what may come out of this key */
    }
    if (rv == OHSM_OK) {
        rv = ohsm_obj_check_unwrap(&e->rec, &tmpl);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_quorum_guard_key(h, s, OHSM_QS_KEY_MGMT, &e->rec, q->approval, &ticket);
    }
    if (rv == OHSM_OK) {
        plain = OPENSSL_secure_malloc(UNWRAP_MAX);
        rv = plain == NULL ? OHSM_HOST_MEMORY : OHSM_OK;
    }
    if (rv == OHSM_OK) {
        ohsm_hsm_mech(q->mech, &m);
        mech_key(e, &k);
        rv = ohsm_mech_unwrap(&k, &m, q->wrapped.data, q->wrapped.len, plain, UNWRAP_MAX, &len);
        if (rv == OHSM_BUFFER_TOO_SMALL) {
            rv = OHSM_WRAPPED_KEY_INVALID; /* larger than any key we hold */
        }
    }
    if (rv == OHSM_OK && m.mech == OHSM_M_AES_KW_ZERO) {
        rv = zero_unpad(q, plain, &len);
    }
    ohsm_objent_put(e);
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_import(h, s, q->cls, q->ktype, plain, len, &q->template_, q->share,
                             q->n_share, r);
    }
    ohsm_hsm_quorum_end(h, ticket, rv == OHSM_OK);
    if (plain != NULL) {
        OPENSSL_secure_clear_free(plain, UNWRAP_MAX);
    }
    return rv;
}

/* The derived key's record: a secret key of the template's length and attributes, not local, with
 * its check value. PKCS#11 3.0 §5.14 (C_DeriveKey): always-sensitive and never-extractable hold
 * only if they held for the base key and the new key's sensitive / extractable keep them. */
static ohsm_rv derived_record(const Ohsm__DeriveReq *q, const struct ohsm_tmpl *t,
                              uint32_t base_flags, const uint8_t *key, uint32_t len,
                              struct ohsm_obj *o)
{
    ohsm_obj_defaults(o, OHSM_CLASS_SECRET, q->ktype, false);
    o->value_len = len;
    OHSM_TRY(ohsm_mech_kcv(q->ktype, key, len, o->kcv));
    o->has_kcv = true;
    OHSM_TRY(ohsm_obj_apply_template(o, t));
    if ((base_flags & OHSM_F_ALWAYS_SENSITIVE) == 0) {
        o->flags &= ~(uint32_t)OHSM_F_ALWAYS_SENSITIVE;
    }
    if ((base_flags & OHSM_F_NEVER_EXTRACTABLE) == 0) {
        o->flags &= ~(uint32_t)OHSM_F_NEVER_EXTRACTABLE;
    }
    return OHSM_OK;
}

/* Checks of the request alone: mechanism, the new key's class and type (AES or generic secret),
 * its length from the template (required: PKCS#11 CKM_ECDH1_DERIVE takes CKA_VALUE_LEN). */
static ohsm_rv derive_request(const Ohsm__DeriveReq *q, struct ohsm_tmpl *t, uint32_t *len)
{
    OHSM_ENSURE(q->n_share <= OHSM_SHARE_MAX, OHSM_DATA_LEN_RANGE);
    OHSM_ENSURE(q->mech == OHSM_M_ECDH, OHSM_MECHANISM_INVALID);
    OHSM_TRY(ohsm_hsm_tmpl(&q->template_, t));
    OHSM_ENSURE(q->cls == OHSM_CLASS_SECRET &&
                    (q->ktype == OHSM_KT_AES || q->ktype == OHSM_KT_GENERIC_SECRET),
                OHSM_TEMPLATE_INCONSISTENT);
    *len = tmpl_value_len(t);
    OHSM_ENSURE(*len != 0, OHSM_TEMPLATE_INCONSISTENT);
    return ohsm_mech_check_size(q->ktype, *len, 0);
}

ohsm_rv ohsm_hsm_derive(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__DeriveReq *q,
                        struct ohsm_reply *r)
{
    struct ohsm_objent *e = NULL;
    struct ohsm_newkey nk;
    struct ohsm_mech_key k;
    struct ohsm_tmpl t;
    enum ohsm_utype ut;
    uint8_t key[OHSM_GENERIC_SECRET_MAX]; /* the largest secret key: a generic secret */
    uint32_t len = 0;
    uint64_t tm = 0;
    uint64_t tu = 0;
    ohsm_rv rv;

    OHSM_TRY(ohsm_hsm_check(h, s, OHSM_OP_KEY_MGMT, &ut));
    OHSM_TRY(derive_request(q, &t, &len));
    /* The base key is used, not taken out: its owner or a user it is shared with may derive. */
    OHSM_TRY(ohsm_hsm_key_usable(h, s, ut, q->base_key, &e));
    memset(&nk, 0, sizeof(nk));
    rv = ohsm_obj_check_use(&e->rec, OHSM_USE_DERIVE);
    /* DeriveReq carries no approval: a base key under a key quorum (either value above 1) is
     * refused with OHSM_QUORUM_REQUIRED rather than derived from unapproved. */
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_quorum_guard_key(h, s, OHSM_QS_KEY_MGMT, &e->rec, NULL, &tm);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_hsm_quorum_guard_key(h, s, OHSM_QS_KEY_USAGE, &e->rec, NULL, &tu);
    }
    if (rv == OHSM_OK) {
        mech_key(e, &k);
        rv = ohsm_mech_ecdh(&k, q->peer_point.data, q->peer_point.len, q->kdf_hash,
                            q->shared_info.data, q->shared_info.len, key, len);
    }
    if (rv == OHSM_OK) {
        rv = derived_record(q, &t, e->rec.flags, key, len, &nk.o);
    }
    ohsm_objent_put(e);
    if (rv == OHSM_OK) {
        nk.material = key;
        nk.len = len;
        rv = ohsm_hsm_create(h, s, &nk, 1, q->share, q->n_share, r);
    }
    ohsm_hsm_quorum_end(h, tm, rv == OHSM_OK);
    ohsm_hsm_quorum_end(h, tu, rv == OHSM_OK);
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(&nk, sizeof(nk));
    return rv;
}
