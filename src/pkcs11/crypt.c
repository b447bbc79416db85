/* SPDX-License-Identifier: Apache-2.0
 *
 * Cryptographic operations of a session: C_Encrypt*, C_Decrypt*, C_Sign*, C_Verify*, C_Digest*.
 *
 * Each runs in the HSM through a borrowed client (the key's own client for a session object),
 * single-part or multi-part: block modes stream through p11_stream (chaining state kept here),
 * signatures with a hashing mechanism hash the data in the library (as CloudHSM's SDK 5 does) and
 * have the HSM sign the digest, the one-shot mechanisms buffer up to P11_BUF_MAX. Digests are
 * computed in the library (no key is involved).
 *
 * PKCS#11's rules: an operation ends after its last call succeeds or fails, except a length
 * query (NULL output) and CKR_BUFFER_TOO_SMALL, which keep it; Init while one is active is
 * CKR_OPERATION_ACTIVE; calls without Init are CKR_OPERATION_NOT_INITIALIZED. A result the
 * application's buffer was too small for is held and given to the repeated call, so an AES-GCM
 * encryption (whose IV the HSM draws) runs once.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "p11.h"

/* ---- operation state ---- */

void p11_op_end(struct p11_opst *op)
{
    if (op->kind == P11_NONE && op->param_copy == NULL) {
        return;
    }
    p11_stream_free(op->stream);
    EVP_MD_CTX_free(op->md);
    if (op->param_copy != NULL) {
        OPENSSL_cleanse(op->param_copy, op->param_len);
    }
    free(op->param_copy);
    free(op->aad);
    free(op->label);
    if (op->buf != NULL) {
        OPENSSL_cleanse(op->buf, op->buf_len);
        free(op->buf);
    }
    if (op->held != NULL) {
        OPENSSL_cleanse(op->held, op->held_len);
        free(op->held);
    }
    OPENSSL_cleanse(&op->m, sizeof op->m);
    memset(op, 0, sizeof *op);
}

static uint8_t *memdup(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d != NULL && n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

static size_t ec_field_bytes(uint32_t curve)
{
    switch (curve) {
    case OHSM_CURVE_P224:
        return 28;
    case OHSM_CURVE_P256:
    case OHSM_CURVE_SECP256K1:
        return 32;
    case OHSM_CURVE_P384:
        return 48;
    case OHSM_CURVE_P521:
        return 66;
    default:
        return 0;
    }
}

static enum ohsm_use use_of(enum p11_opkind k)
{
    switch (k) {
    case P11_ENCRYPT:
        return OHSM_USE_ENCRYPT;
    case P11_DECRYPT:
        return OHSM_USE_DECRYPT;
    case P11_SIGN:
        return OHSM_USE_SIGN;
    default:
        return OHSM_USE_VERIFY;
    }
}

static enum p11_op p11op_of(enum p11_opkind k)
{
    switch (k) {
    case P11_ENCRYPT:
        return P11_OP_ENCRYPT;
    case P11_DECRYPT:
        return P11_OP_DECRYPT;
    case P11_SIGN:
        return P11_OP_SIGN;
    case P11_VERIFY:
        return P11_OP_VERIFY;
    default:
        return P11_OP_DIGEST;
    }
}

/* Copies the mechanism (its parameter block and the buffers it points to) into op and parses it.
 * The GCM IV output pointer stays the application's (CloudHSM's rule: the HSM's IV is written
 * there). */
CK_RV p11_op_mech(struct p11_opst *op, const CK_MECHANISM *m, enum p11_op which, CK_KEY_TYPE kt)
{
    if (m == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    if (m->pParameter == NULL && m->ulParameterLen > 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    op->param_copy = memdup(m->pParameter, m->ulParameterLen);
    if (op->param_copy == NULL) {
        return CKR_HOST_MEMORY;
    }
    op->param_len = m->ulParameterLen;
    CK_MECHANISM mc = {m->mechanism, m->pParameter != NULL ? op->param_copy : NULL,
                       m->ulParameterLen};
    CK_RV rv = p11_mech_parse(&mc, which, kt, &op->m);
    if (rv != CKR_OK) {
        return rv;
    }
    if (op->m.prm.aad_len > 0) {
        if ((op->aad = memdup(op->m.prm.aad, op->m.prm.aad_len)) == NULL) {
            return CKR_HOST_MEMORY;
        }
        op->m.prm.aad = op->aad;
    }
    if (op->m.prm.label_len > 0) {
        if ((op->label = memdup(op->m.prm.label, op->m.prm.label_len)) == NULL) {
            return CKR_HOST_MEMORY;
        }
        op->m.prm.label = op->label;
    }
    if (op->m.iv_len > 0 && op->m.prm.iv != NULL) {
        op->m.prm.iv = op->m.iv;
    }
    return CKR_OK;
}

/* The largest output of one whole operation on in_len bytes. */
static CK_ULONG out_bound(const struct p11_opst *op, const struct p11_keyfacts *kf, size_t in_len)
{
    size_t mod = (kf->modulus_bits + 7u) / 8u;
    switch (op->kind) {
    case P11_SIGN:
    case P11_VERIFY:
        if (kf->ktype == OHSM_KT_RSA) {
            return mod;
        }
        if (kf->ktype == OHSM_KT_EC) {
            return 2 * ec_field_bytes(kf->curve);
        }
        return ohsm_hash_len(op->m.prm.hash); /* HMAC */
    case P11_ENCRYPT:
        switch (op->m.prm.mech) {
        case OHSM_M_RSA_PKCS:
        case OHSM_M_RSA_OAEP:
            return mod;
        case OHSM_M_AES_GCM:
            return in_len + (op->m.prm.tag_bits ? op->m.prm.tag_bits / 8u : 16u);
        case OHSM_M_AES_CBC_PAD:
            return (in_len / 16u + 1u) * 16u;
        case OHSM_M_DES3_CBC_PAD:
            return (in_len / 8u + 1u) * 8u;
        default:
            return in_len;
        }
    case P11_DECRYPT:
        if (op->m.prm.mech == OHSM_M_RSA_PKCS || op->m.prm.mech == OHSM_M_RSA_OAEP) {
            return mod;
        }
        return in_len;
    default:
        return 0;
    }
}

/* C_*Init of every kind (key: none for P11_DIGEST). */
static CK_RV op_init(CK_SESSION_HANDLE hs, enum p11_opkind kind, CK_MECHANISM_PTR m,
                     CK_OBJECT_HANDLE key)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hs, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct p11_opst *op = &s->op[0];
    if (op->kind != P11_NONE) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    if (m == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    CK_KEY_TYPE kt = CK_UNAVAILABLE_INFORMATION;
    struct p11_keyfacts kf = {0};
    if (kind != P11_DIGEST) {
        if (!p11_pool_logged_in(&st->pool)) {
            rv = CKR_USER_NOT_LOGGED_IN;
            goto out;
        }
        rv = p11_key_facts(st, key, P11_CTX_CRYPTO, &kf, NULL, NULL);
        if (rv != CKR_OK) {
            goto out;
        }
        kt = kf.ktype;
    }
    op->kind = kind;
    rv = p11_op_mech(op, m, p11op_of(kind), kt);
    if (rv != CKR_OK) {
        goto fail;
    }
    if (kind != P11_DIGEST) {
        struct ohsm_obj pseudo;
        memset(&pseudo, 0, sizeof pseudo);
        pseudo.cls = kf.cls;
        pseudo.ktype = kf.ktype;
        pseudo.flags = kf.flags;
        ohsm_rv orv = ohsm_obj_check_use(&pseudo, use_of(kind));
        if (orv != OHSM_OK) {
            rv = p11_rv(orv, P11_CTX_CRYPTO);
            goto fail;
        }
        op->key = key;
        op->out_max = out_bound(op, &kf, 0);
    }
    if (op->m.local_hash != 0 || kind == P11_DIGEST) {
        uint32_t h = kind == P11_DIGEST ? op->m.prm.hash : op->m.local_hash;
        const EVP_MD *md = EVP_get_digestbyname(ohsm_hash_name(h));
        op->md = EVP_MD_CTX_new();
        if (md == NULL || op->md == NULL || EVP_DigestInit_ex(op->md, md, NULL) != 1) {
            rv = md == NULL ? CKR_MECHANISM_INVALID : CKR_HOST_MEMORY;
            goto fail;
        }
    }
    goto out;
fail:
    p11_op_end(op);
out:
    p11_session_release(st, s);
    return rv;
}

/* The session of a call that goes on with an operation of this kind: acquired (the caller
 * releases it with op_leave), else CKR_OPERATION_NOT_INITIALIZED and nothing held. */
static CK_RV op_acquire(struct p11_state *st, CK_SESSION_HANDLE hs, enum p11_opkind kind,
                        struct p11_session **s)
{
    CK_RV rv = p11_session_acquire(st, hs, s);
    if (rv == CKR_OK && (*s)->op[0].kind != kind) {
        p11_session_release(st, *s);
        rv = CKR_OPERATION_NOT_INITIALIZED;
    }
    return rv;
}

/* Releases the session of such a call, ending its operation first when done; returns rv. */
static CK_RV op_leave(struct p11_state *st, struct p11_session *s, bool done, CK_RV rv)
{
    if (done) {
        p11_op_end(&s->op[0]);
    }
    p11_session_release(st, s);
    return rv;
}

/* ---- running one operation in the HSM ---- */

struct run_ctx {
    struct p11_state *st;
    struct p11_opst *op;
};

/* One operation through the pool; the pool's handle error is the key's. */
static CK_RV cop_run(struct p11_state *st, struct ohsm_cop *cop)
{
    CK_RV rv = p11_pool_cop(&st->pool, cop);
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
}

/* p11_crypt_fn: one encryption or decryption through the key's client. */
static CK_RV crypt_cb(void *vctx, bool enc, const struct ohsm_mech_params *prm, const uint8_t *in,
                      size_t len, uint8_t *out, size_t cap, size_t *out_len, uint8_t iv_out[16],
                      size_t *iv_len)
{
    struct run_ctx *rc = vctx;
    struct ohsm_cop cop = {.kind = enc ? OHSM_COP_ENCRYPT : OHSM_COP_DECRYPT,
                           .handle = rc->op->key,
                           .m = prm,
                           .in = in,
                           .in_len = len,
                           .out = out,
                           .out_cap = cap};
    CK_RV rv = cop_run(rc->st, &cop);
    if (rv != CKR_OK) {
        return rv;
    }
    if (cop.rv == OHSM_BUFFER_TOO_SMALL) {
        *out_len = cop.out_len;
        return CKR_BUFFER_TOO_SMALL;
    }
    if (cop.rv != OHSM_OK) {
        return p11_rv(cop.rv, P11_CTX_CRYPTO);
    }
    *out_len = cop.out_len;
    if (iv_out != NULL && iv_len != NULL) {
        memcpy(iv_out, cop.iv, cop.iv_len);
        *iv_len = cop.iv_len;
    }
    return CKR_OK;
}

/* Hands a computed result to the application, holding it when the buffer is too small. Takes
 * ownership of r. Returns whether the operation is over (*done). */
static CK_RV give_result(struct p11_opst *op, uint8_t *r, size_t rlen, CK_BYTE_PTR out,
                         CK_ULONG_PTR out_len, bool *done)
{
    *done = false;
    if (out != NULL && *out_len >= rlen) {
        memcpy(out, r, rlen);
        *out_len = rlen;
        OPENSSL_cleanse(r, rlen);
        free(r);
        *done = true;
        return CKR_OK;
    }
    op->held = r;
    op->held_len = rlen;
    *out_len = rlen;
    return out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
}

/* A held result (from a too-small buffer) for the repeated call: true when there was one. */
static bool take_held(struct p11_opst *op, CK_BYTE_PTR out, CK_ULONG_PTR out_len, CK_RV *rv,
                      bool *done)
{
    if (op->held == NULL) {
        return false;
    }
    *done = false;
    if (out == NULL) {
        *out_len = op->held_len;
        *rv = CKR_OK;
        return true;
    }
    if (*out_len < op->held_len) {
        *out_len = op->held_len;
        *rv = CKR_BUFFER_TOO_SMALL;
        return true;
    }
    memcpy(out, op->held, op->held_len);
    *out_len = op->held_len;
    *rv = CKR_OK;
    *done = true;
    return true;
}

/* One whole encryption or decryption of in. */
static CK_RV crypt_whole(struct p11_state *st, struct p11_opst *op, const uint8_t *in, size_t len,
                         CK_BYTE_PTR out, CK_ULONG_PTR out_len, bool *done)
{
    *done = false;
    CK_RV rv;
    if (take_held(op, out, out_len, &rv, done)) {
        return rv;
    }
    struct p11_keyfacts kf = {0};
    if (out == NULL) {
        rv = p11_key_facts(st, op->key, P11_CTX_CRYPTO, &kf, NULL, NULL);
        if (rv != CKR_OK) {
            *done = true;
            return rv;
        }
        *out_len = out_bound(op, &kf, len);
        return CKR_OK;
    }
    if (op->m.gcm_iv_out != NULL && op->kind == P11_ENCRYPT) {
        /* The HSM draws the IV: the application's one must still be zero (CloudHSM's rule). */
        static const uint8_t zero[12];
        if (CRYPTO_memcmp(op->m.gcm_iv_out, zero, sizeof zero) != 0) {
            *done = true;
            return CKR_MECHANISM_PARAM_INVALID;
        }
    }
    struct run_ctx rc = {st, op};
    size_t cap = len + 64 + 1024; /* RSA outputs: the modulus at most (checked below) */
    uint8_t *r = malloc(cap);
    if (r == NULL) {
        *done = true;
        return CKR_HOST_MEMORY;
    }
    size_t rlen = 0, ivl = 0;
    uint8_t iv[16];
    rv = crypt_cb(&rc, op->kind == P11_ENCRYPT, &op->m.prm, in, len, r, cap, &rlen, iv, &ivl);
    if (rv != CKR_OK) {
        OPENSSL_cleanse(r, cap);
        free(r);
        *done = true;
        return rv;
    }
    if (op->m.gcm_iv_out != NULL && op->kind == P11_ENCRYPT && ivl == 12) {
        memcpy(op->m.gcm_iv_out, iv, 12);
    }
    return give_result(op, r, rlen, out, out_len, done);
}

/* ---- encrypt / decrypt ---- */

static CK_RV crypt_call(CK_SESSION_HANDLE hs, enum p11_opkind kind, CK_BYTE_PTR in, CK_ULONG len,
                        CK_BYTE_PTR out, CK_ULONG_PTR out_len, int stage /* 0 whole, 1 update,
                                                                           2 final */)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = op_acquire(st, hs, kind, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct p11_opst *op = &s->op[0];
    bool done = false;
    if (out_len == NULL || (in == NULL && len > 0 && stage != 2)) {
        rv = CKR_ARGUMENTS_BAD;
        done = true;
        goto out;
    }
    struct run_ctx rc = {st, op};
    if (stage == 0) {
        if (op->multi) {
            rv = CKR_OPERATION_ACTIVE; /* multi-part started: finish with Final */
            goto out;
        }
        rv = crypt_whole(st, op, in, len, out, out_len, &done);
        goto out;
    }
    if (op->stream == NULL) {
        rv = p11_stream_new(&op->m, kind == P11_ENCRYPT, &op->stream);
        if (rv != CKR_OK) {
            done = true;
            goto out;
        }
    }
    op->multi = true;
    if (stage == 1) {
        rv = p11_stream_update(op->stream, crypt_cb, &rc, in, len, out, out_len);
        done = rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL;
    } else {
        rv = p11_stream_final(op->stream, crypt_cb, &rc, out, out_len);
        done = (rv == CKR_OK && out != NULL) || (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL);
    }
out:
    return op_leave(st, s, done, rv);
}

P11_API CK_RV C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    return op_init(h, P11_ENCRYPT, m, k);
}
P11_API CK_RV C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out,
                        CK_ULONG_PTR on)
{
    return crypt_call(h, P11_ENCRYPT, in, n, out, on, 0);
}
P11_API CK_RV C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out,
                              CK_ULONG_PTR on)
{
    return crypt_call(h, P11_ENCRYPT, in, n, out, on, 1);
}
P11_API CK_RV C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR on)
{
    return crypt_call(h, P11_ENCRYPT, NULL, 0, out, on, 2);
}
P11_API CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    return op_init(h, P11_DECRYPT, m, k);
}
P11_API CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out,
                        CK_ULONG_PTR on)
{
    return crypt_call(h, P11_DECRYPT, in, n, out, on, 0);
}
P11_API CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG n, CK_BYTE_PTR out,
                              CK_ULONG_PTR on)
{
    return crypt_call(h, P11_DECRYPT, in, n, out, on, 1);
}
P11_API CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR on)
{
    return crypt_call(h, P11_DECRYPT, NULL, 0, out, on, 2);
}

/* ---- sign / verify ---- */

/* Appends data to the operation: into the local hash, or the buffer of a one-shot mechanism. */
static CK_RV absorb(struct p11_opst *op, const uint8_t *in, size_t len)
{
    if (op->md != NULL) {
        return EVP_DigestUpdate(op->md, in, len) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
    }
    if (len > P11_BUF_MAX - op->buf_len) {
        return CKR_DATA_LEN_RANGE;
    }
    uint8_t *n = malloc(op->buf_len + len ? op->buf_len + len : 1);
    if (n == NULL) {
        return CKR_HOST_MEMORY;
    }
    if (op->buf_len > 0) {
        memcpy(n, op->buf, op->buf_len);
        OPENSSL_cleanse(op->buf, op->buf_len);
    }
    if (len > 0) {
        memcpy(n + op->buf_len, in, len);
    }
    free(op->buf);
    op->buf = n;
    op->buf_len += len;
    return CKR_OK;
}

/* The input the HSM gets: the digest of everything absorbed (hashing mechanisms), else the
 * buffer. dig must hold EVP_MAX_MD_SIZE. */
static CK_RV hsm_input(struct p11_opst *op, uint8_t *dig, const uint8_t **in, size_t *len)
{
    if (op->md != NULL) {
        unsigned int dl = 0;
        /* Finalise a copy: a length query or a too-small buffer keeps the operation going. */
        EVP_MD_CTX *cp = EVP_MD_CTX_new();
        if (cp == NULL || EVP_MD_CTX_copy_ex(cp, op->md) != 1 ||
            EVP_DigestFinal_ex(cp, dig, &dl) != 1) {
            EVP_MD_CTX_free(cp);
            return CKR_GENERAL_ERROR;
        }
        EVP_MD_CTX_free(cp);
        *in = dig;
        *len = dl;
        return CKR_OK;
    }
    *in = op->buf;
    *len = op->buf_len;
    return CKR_OK;
}

static CK_RV sign_run(struct p11_state *st, struct p11_opst *op, CK_BYTE_PTR sig,
                      CK_ULONG_PTR sig_len, bool *done)
{
    *done = false;
    CK_RV rv;
    if (take_held(op, sig, sig_len, &rv, done)) {
        return rv;
    }
    if (sig == NULL) {
        *sig_len = op->out_max;
        return CKR_OK;
    }
    uint8_t dig[EVP_MAX_MD_SIZE];
    const uint8_t *in = NULL;
    size_t len = 0;
    *done = true;
    if ((rv = hsm_input(op, dig, &in, &len)) != CKR_OK) {
        return rv;
    }
    /* A signature or MAC is at most out_max (Init's bound) and 1024 bytes (RSA-8192). */
    size_t cap = (size_t)op->out_max + 1024;
    uint8_t *o = malloc(cap);
    if (o == NULL) {
        OPENSSL_cleanse(dig, sizeof dig);
        return CKR_HOST_MEMORY;
    }
    struct ohsm_cop cop = {.kind = OHSM_COP_SIGN,
                           .handle = op->key,
                           .m = &op->m.prm,
                           .in = in,
                           .in_len = len,
                           .out = o,
                           .out_cap = cap};
    rv = cop_run(st, &cop);
    OPENSSL_cleanse(dig, sizeof dig);
    if (rv == CKR_OK && cop.rv != OHSM_OK) {
        rv = p11_rv(cop.rv, P11_CTX_CRYPTO);
    }
    if (rv != CKR_OK) {
        OPENSSL_cleanse(o, cap);
        free(o);
        return rv;
    }
    return give_result(op, o, cop.out_len, sig, sig_len, done);
}

static CK_RV verify_run(struct p11_state *st, struct p11_opst *op, const uint8_t *sig, size_t n)
{
    if (op->out_max != 0 && (op->m.prm.mech != OHSM_M_HMAC ? n != op->out_max : n > op->out_max)) {
        return CKR_SIGNATURE_LEN_RANGE;
    }
    uint8_t dig[EVP_MAX_MD_SIZE];
    const uint8_t *in = NULL;
    size_t len = 0;
    CK_RV rv = hsm_input(op, dig, &in, &len);
    if (rv != CKR_OK) {
        return rv;
    }
    struct ohsm_cop cop = {.kind = OHSM_COP_VERIFY,
                           .handle = op->key,
                           .m = &op->m.prm,
                           .in = in,
                           .in_len = len,
                           .sig = sig,
                           .sig_len = n};
    rv = cop_run(st, &cop);
    OPENSSL_cleanse(dig, sizeof dig);
    if (rv != CKR_OK) {
        return rv;
    }
    return p11_rv(cop.rv, P11_CTX_CRYPTO);
}

/* stage: 0 single-part, 1 update, 2 final. */
static CK_RV sv_call(CK_SESSION_HANDLE hs, enum p11_opkind kind, CK_BYTE_PTR data, CK_ULONG len,
                     CK_BYTE_PTR sig, CK_ULONG_PTR sig_len, CK_ULONG vsig_len, int stage)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = op_acquire(st, hs, kind, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct p11_opst *op = &s->op[0];
    bool done = true;
    if ((data == NULL && len > 0) || (kind == P11_SIGN && stage != 1 && sig_len == NULL) ||
        (kind == P11_VERIFY && stage != 1 && sig == NULL)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    switch (stage) {
    case 1:
        op->multi = true;
        rv = absorb(op, data, len);
        done = rv != CKR_OK;
        break;
    case 0:
        if (op->multi) {
            rv = CKR_OPERATION_ACTIVE; /* a multi-part operation ends with Final */
            done = false;
            break;
        }
        if (kind == P11_SIGN && (op->held != NULL || sig == NULL)) {
            rv = sign_run(st, op, sig, sig_len, &done); /* held result or length query */
            break;
        }
        if ((rv = absorb(op, data, len)) != CKR_OK) {
            break;
        }
        /* fall through */
    default:
        if (kind == P11_SIGN) {
            rv = sign_run(st, op, sig, sig_len, &done);
        } else {
            rv = verify_run(st, op, sig, vsig_len);
        }
        break;
    }
out:
    return op_leave(st, s, done, rv);
}

P11_API CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    return op_init(h, P11_SIGN, m, k);
}
P11_API CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR s,
                     CK_ULONG_PTR sn)
{
    return sv_call(h, P11_SIGN, d, n, s, sn, 0, 0);
}
P11_API CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n)
{
    return sv_call(h, P11_SIGN, d, n, NULL, NULL, 0, 1);
}
P11_API CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG_PTR sn)
{
    return sv_call(h, P11_SIGN, NULL, 0, s, sn, 0, 2);
}
P11_API CK_RV C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    return op_init(h, P11_VERIFY, m, k);
}
P11_API CK_RV C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR s, CK_ULONG sn)
{
    return sv_call(h, P11_VERIFY, d, n, s, NULL, sn, 0);
}
P11_API CK_RV C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n)
{
    return sv_call(h, P11_VERIFY, d, n, NULL, NULL, 0, 1);
}
P11_API CK_RV C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sn)
{
    return sv_call(h, P11_VERIFY, NULL, 0, s, NULL, sn, 2);
}

/* ---- digest (in the library) ---- */

P11_API CK_RV C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{
    return op_init(h, P11_DIGEST, m, CK_INVALID_HANDLE);
}

static CK_RV digest_call(CK_SESSION_HANDLE hs, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out,
                         CK_ULONG_PTR out_len, int stage)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = op_acquire(st, hs, P11_DIGEST, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    struct p11_opst *op = &s->op[0];
    bool done = true;
    if ((data == NULL && len > 0) || (stage != 1 && out_len == NULL)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    size_t dl = (size_t)EVP_MD_CTX_get_size(op->md);
    if (stage == 0 && op->multi) {
        rv = CKR_OPERATION_ACTIVE;
        done = false;
        goto out;
    }
    if (stage == 1) {
        op->multi = true;
        rv = EVP_DigestUpdate(op->md, data, len) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
        done = rv != CKR_OK;
        goto out;
    }
    if (out == NULL || *out_len < dl) {
        *out_len = dl;
        rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
        done = false;
        goto out;
    }
    if (stage == 0 && EVP_DigestUpdate(op->md, data, len) != 1) {
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    unsigned int n = 0;
    rv = EVP_DigestFinal_ex(op->md, out, &n) == 1 ? CKR_OK : CKR_GENERAL_ERROR;
    *out_len = n;
out:
    return op_leave(st, s, done, rv);
}

P11_API CK_RV C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n, CK_BYTE_PTR o,
                       CK_ULONG_PTR on)
{
    return digest_call(h, d, n, o, on, 0);
}
P11_API CK_RV C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n)
{
    return digest_call(h, d, n, NULL, NULL, 1);
}
P11_API CK_RV C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR on)
{
    return digest_call(h, NULL, 0, o, on, 2);
}

/* Key values never leave the HSM in clear, so the library cannot hash one. */
P11_API CK_RV C_DigestKey(CK_SESSION_HANDLE hs, CK_OBJECT_HANDLE k)
{
    (void)k;
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = op_acquire(st, hs, P11_DIGEST, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    return op_leave(st, s, true, CKR_KEY_INDIGESTIBLE);
}
