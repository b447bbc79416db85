/* SPDX-License-Identifier: Apache-2.0
 *
 * Keys made or moved by the HSM: C_GenerateKey, C_GenerateKeyPair, C_WrapKey, C_UnwrapKey,
 * C_DeriveKey, and its random numbers: C_GenerateRandom (C_SeedRandom: the HSM's generator takes
 * no seed from outside).
 *
 * Token keys are made on one HSM and replicated to the others by libopenhsm (masked objects); a
 * session key lives on the HSM session of the client that made it, which is recorded so that
 * every later call on it goes through that client.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "attr.h"
#include "p11.h"

/* What every key-making call starts with: the session (locked), a login, a parsed mechanism. */
struct mk {
    struct p11_session *s;
    struct p11_opst op; /* the mechanism's parsed and owned copy */
    struct p11_conn *c;
    struct ohsm_result *res;
    size_t nh;
};

/* In this order: the session, the caller's argument check (args_ok false: CKR_ARGUMENTS_BAD), the
 * login, the base key's facts (base NULL: the call has none; errors per ctx), the mechanism parsed
 * for `which` with the base key's type. mk_end ends k whatever this returns. */
static CK_RV mk_begin(struct p11_state *st, CK_SESSION_HANDLE hs, bool args_ok,
                      const CK_MECHANISM *m, enum p11_op which, const CK_OBJECT_HANDLE *base,
                      enum p11_ckr_ctx ctx, struct mk *k)
{
    memset(k, 0, sizeof *k);
    CK_RV rv = p11_session_acquire(st, hs, &k->s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (!args_ok) {
        return CKR_ARGUMENTS_BAD;
    }
    if (!p11_pool_logged_in(&st->pool)) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    CK_KEY_TYPE kt = CK_UNAVAILABLE_INFORMATION;
    if (base != NULL) {
        struct p11_keyfacts kf;
        if ((rv = p11_key_facts(st, *base, ctx, &kf, NULL, NULL)) != CKR_OK) {
            return rv;
        }
        kt = kf.ktype;
    }
    return p11_op_mech(&k->op, m, which, kt);
}

/* Borrows a client and a result array for it. */
static CK_RV mk_conn(struct p11_state *st, struct mk *k)
{
    return p11_fanout_get(st, &k->c, &k->res, &k->nh);
}

static void mk_end(struct p11_state *st, struct mk *k)
{
    free(k->res);
    p11_pool_put(&st->pool, k->c);
    p11_op_end(&k->op);
    if (k->s != NULL) {
        p11_session_release(st, k->s);
    }
}

/* Records a new key: a session object belongs to the PKCS#11 session that made it. */
static CK_RV mk_record(struct p11_state *st, struct mk *k, const struct ohsm_obj *o)
{
    if ((o->flags & OHSM_F_TOKEN) != 0) {
        return CKR_OK;
    }
    return p11_sobj_add(st, o->handle, k->s->h);
}

/* The end of a call that made one key o: the answer of every HSM (per ctx), then the key recorded
 * and its handle given to the application. */
static CK_RV mk_finish(struct p11_state *st, struct mk *k, ohsm_rv orv, enum p11_ckr_ctx ctx,
                       const struct ohsm_obj *o, CK_OBJECT_HANDLE_PTR ph)
{
    CK_RV rv = p11_fanout_rv(orv, k->res, k->nh, ctx);
    if (rv == CKR_OK && o->handle == 0) {
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK && (rv = mk_record(st, k, o)) == CKR_OK) {
        *ph = o->handle;
    }
    return rv;
}

/* ---- role classes ---- */

/* Which of the four roles the encoded template turns on (bit 0 encrypt/decrypt, bit 1
 * wrap/unwrap). */
static unsigned roles_of(const struct ohsm_tmpl_buf *b)
{
    struct ohsm_tmpl t;
    unsigned r = 0;
    if (b == NULL || ohsm_tmpl_parse(b->buf, b->len, &t) != OHSM_OK) {
        return 0;
    }
    for (size_t i = 0; i < t.n; i++) {
        bool on = t.a[i].len == 1 && t.a[i].val[0] != 0;
        if (on && (t.a[i].id == OHSM_A_ENCRYPT || t.a[i].id == OHSM_A_DECRYPT)) {
            r |= 1u;
        }
        if (on && (t.a[i].id == OHSM_A_WRAP || t.a[i].id == OHSM_A_UNWRAP)) {
            r |= 2u;
        }
    }
    return r;
}

uint32_t p11_role_class(const struct ohsm_tmpl_buf *a, const struct ohsm_tmpl_buf *b)
{
    unsigned r = roles_of(a) | roles_of(b);
    if (r == 3u) {
        p11_log(P11_LOG_INFO, "a key made with both data (encrypt/decrypt) and wrapping "
                              "(wrap/unwrap) roles gets no role class: the HSM does not keep it "
                              "from being used both ways");
        return OHSM_ROLE_NONE;
    }
    return r == 2u ? OHSM_ROLE_WRAPPING : OHSM_ROLE_DATA;
}

void p11_role_put(struct ohsm_tmpl_buf *t, uint32_t role)
{
    if (role != OHSM_ROLE_NONE) {
        ohsm_tmpl_put_u32(t, OHSM_A_ROLE_CLASS, role);
    }
}

/* ---- generation ---- */

P11_API CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                            CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
    P11_ENTER(st);
    struct mk k;
    struct p11_make_out mo;
    memset(&mo, 0, sizeof mo);
    CK_RV rv = mk_begin(st, hSession, true, pMechanism, P11_OP_GENKEY, NULL, P11_CTX_GENERATE, &k);
    if (rv != CKR_OK) {
        goto out;
    }
    if (phKey == NULL || (pTemplate == NULL && ulCount > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = p11_make_parse(P11_MAKE_GENERATE, pTemplate, ulCount, CKO_SECRET_KEY, k.op.m.gen_ktype,
                        &mo);
    if (rv != CKR_OK) {
        goto out;
    }
    if ((rv = p11_session_writes(k.s, mo.token)) != CKR_OK) {
        goto out;
    }
    struct ohsm_keygen g = {.ktype = (uint32_t)mo.ktype};
    if (mo.ktype == CKK_DES3) {
        g.length = 24;
    } else if (!mo.has_value_len) {
        rv = CKR_TEMPLATE_INCOMPLETE;
        goto out;
    } else {
        g.length = (uint32_t)mo.value_len;
    }
    p11_role_put(&mo.tmpl, p11_role_class(&mo.tmpl, NULL));
    g.tmpl = mo.tmpl.buf;
    g.tmpl_len = mo.tmpl.len;
    if ((rv = mk_conn(st, &k)) != CKR_OK) {
        goto out;
    }
    struct ohsm_obj objs[2];
    size_t nobj = 0;
    memset(objs, 0, sizeof objs);
    ohsm_rv orv = ohsm_client_key_generate(k.c->c, &g, objs, &nobj, k.res);
    static const struct ohsm_obj none; /* no key returned: handle 0, CKR_DEVICE_ERROR */
    rv = mk_finish(st, &k, orv, P11_CTX_GENERATE, nobj >= 1 ? &objs[0] : &none, phKey);
out:
    p11_make_clear(&mo);
    mk_end(st, &k);
    return rv;
}

P11_API CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                                CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
                                CK_ULONG ulPrivateKeyAttributeCount, CK_OBJECT_HANDLE_PTR phPublicKey,
                                CK_OBJECT_HANDLE_PTR phPrivateKey)
{
    P11_ENTER(st);
    struct mk k;
    struct p11_make_out pub, priv;
    memset(&pub, 0, sizeof pub);
    memset(&priv, 0, sizeof priv);
    CK_RV rv = mk_begin(st, hSession, true, pMechanism, P11_OP_GENPAIR, NULL, P11_CTX_GENERATE, &k);
    if (rv != CKR_OK) {
        goto out;
    }
    if (phPublicKey == NULL || phPrivateKey == NULL ||
        (pPublicKeyTemplate == NULL && ulPublicKeyAttributeCount > 0) ||
        (pPrivateKeyTemplate == NULL && ulPrivateKeyAttributeCount > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    CK_KEY_TYPE kt = k.op.m.gen_ktype;
    if ((rv = p11_make_parse(P11_MAKE_PAIR_PUBLIC, pPublicKeyTemplate, ulPublicKeyAttributeCount,
                             CKO_PUBLIC_KEY, kt, &pub)) != CKR_OK ||
        (rv = p11_make_parse(P11_MAKE_PAIR_PRIVATE, pPrivateKeyTemplate,
                             ulPrivateKeyAttributeCount, CKO_PRIVATE_KEY, kt, &priv)) != CKR_OK) {
        goto out;
    }
    if ((rv = p11_session_writes(k.s, pub.token || priv.token)) != CKR_OK) {
        goto out;
    }
    struct ohsm_keygen g = {.ktype = (uint32_t)kt};
    if (kt == CKK_RSA) {
        if (!pub.has_modulus_bits) {
            rv = CKR_TEMPLATE_INCOMPLETE;
            goto out;
        }
        g.length = (uint32_t)pub.modulus_bits;
        g.public_exponent = pub.public_exponent;
    } else {
        if (pub.curve == 0) {
            rv = CKR_TEMPLATE_INCOMPLETE;
            goto out;
        }
        g.curve = pub.curve;
    }
    uint32_t role = p11_role_class(&pub.tmpl, &priv.tmpl); /* one class for both halves */
    p11_role_put(&pub.tmpl, role);
    p11_role_put(&priv.tmpl, role);
    g.tmpl = priv.tmpl.buf;
    g.tmpl_len = priv.tmpl.len;
    g.pub_tmpl = pub.tmpl.buf;
    g.pub_tmpl_len = pub.tmpl.len;
    if ((rv = mk_conn(st, &k)) != CKR_OK) {
        goto out;
    }
    struct ohsm_obj objs[2];
    size_t nobj = 0;
    memset(objs, 0, sizeof objs);
    ohsm_rv orv = ohsm_client_key_generate(k.c->c, &g, objs, &nobj, k.res);
    rv = p11_fanout_rv(orv, k.res, k.nh, P11_CTX_GENERATE);
    if (rv == CKR_OK && (nobj < 2 || objs[0].handle == 0 || objs[1].handle == 0)) {
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK && (rv = mk_record(st, &k, &objs[0])) == CKR_OK &&
        (rv = mk_record(st, &k, &objs[1])) == CKR_OK) {
        *phPrivateKey = objs[0].handle;
        *phPublicKey = objs[1].handle;
    }
out:
    p11_make_clear(&pub);
    p11_make_clear(&priv);
    mk_end(st, &k);
    return rv;
}

/* ---- wrapping ---- */

P11_API CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey,
                        CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
    P11_ENTER(st);
    struct mk k;
    uint8_t *w = NULL;
    size_t wlen = 0;
    CK_RV rv = mk_begin(st, hSession, pulWrappedKeyLen != NULL, pMechanism, P11_OP_WRAP,
                        &hWrappingKey, P11_CTX_WRAP, &k);
    if (rv != CKR_OK) {
        goto out;
    }
    if ((rv = mk_conn(st, &k)) != CKR_OK) {
        goto out;
    }
    /* The wrapped length is known once it is made: a length query wraps and keeps only the
     * length (wrapping does not change the key). */
    ohsm_rv orv = ohsm_client_key_wrap(k.c->c, hWrappingKey, hKey, &k.op.m.prm, &w, &wlen);
    if (orv != OHSM_OK) {
        rv = p11_rv(orv, P11_CTX_WRAP);
        goto out;
    }
    rv = p11_give(w, wlen, pWrappedKey, pulWrappedKeyLen);
out:
    free(w);
    mk_end(st, &k);
    return rv;
}

P11_API CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                          CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    P11_ENTER(st);
    struct mk k;
    struct p11_make_out mo;
    memset(&mo, 0, sizeof mo);
    bool args_ok =
        phKey != NULL && pWrappedKey != NULL && (pTemplate != NULL || ulAttributeCount == 0);
    CK_RV rv = mk_begin(st, hSession, args_ok, pMechanism, P11_OP_UNWRAP, &hUnwrappingKey,
                        P11_CTX_UNWRAP, &k);
    if (rv != CKR_OK || (rv = p11_make_parse(P11_MAKE_UNWRAP, pTemplate, ulAttributeCount,
                                             CK_UNAVAILABLE_INFORMATION, CK_UNAVAILABLE_INFORMATION,
                                             &mo)) != CKR_OK) {
        goto out;
    }
    if ((rv = p11_session_writes(k.s, mo.token)) != CKR_OK) {
        goto out;
    }
    p11_role_put(&mo.tmpl, p11_role_class(&mo.tmpl, NULL));
    if ((rv = mk_conn(st, &k)) != CKR_OK) {
        goto out;
    }
    struct ohsm_obj obj;
    memset(&obj, 0, sizeof obj);
    ohsm_rv orv = ohsm_client_key_unwrap(k.c->c, hUnwrappingKey, &k.op.m.prm, pWrappedKey,
                                         ulWrappedKeyLen, (uint32_t)mo.cls, (uint32_t)mo.ktype,
                                         mo.tmpl.buf, mo.tmpl.len, NULL, 0, &obj, k.res);
    rv = mk_finish(st, &k, orv, P11_CTX_UNWRAP, &obj, phKey);
out:
    p11_make_clear(&mo);
    mk_end(st, &k);
    return rv;
}

/* ---- derivation (ECDH in the HSM) ---- */

P11_API CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    P11_ENTER(st);
    struct mk k;
    struct p11_make_out mo;
    memset(&mo, 0, sizeof mo);
    bool args_ok = phKey != NULL && (pTemplate != NULL || ulAttributeCount == 0);
    CK_RV rv =
        mk_begin(st, hSession, args_ok, pMechanism, P11_OP_DERIVE, &hBaseKey, P11_CTX_CRYPTO, &k);
    if (rv != CKR_OK ||
        (rv = p11_make_parse(P11_MAKE_DERIVE, pTemplate, ulAttributeCount, CKO_SECRET_KEY,
                             CK_UNAVAILABLE_INFORMATION, &mo)) != CKR_OK) {
        goto out;
    }
    if ((rv = p11_session_writes(k.s, mo.token)) != CKR_OK) {
        goto out;
    }
    if (!mo.has_value_len) {
        rv = CKR_TEMPLATE_INCOMPLETE; /* the derived key's length (CKA_VALUE_LEN) */
        goto out;
    }
    if (mo.ktype == CK_UNAVAILABLE_INFORMATION) {
        mo.ktype = CKK_GENERIC_SECRET; /* PKCS#11's default for derived secret keys */
    }
    p11_role_put(&mo.tmpl, p11_role_class(&mo.tmpl, NULL));
    if ((rv = mk_conn(st, &k)) != CKR_OK) {
        goto out;
    }
    /* The mechanism's buffers are the application's: they are read during this call only. */
    struct ohsm_derive d = {.mech = OHSM_M_ECDH,
                            .kdf_hash = k.op.m.ecdh.kdf_hash,
                            .peer_point = k.op.m.ecdh.pub,
                            .peer_point_len = k.op.m.ecdh.pub_len,
                            .shared_info = k.op.m.ecdh.shared,
                            .shared_info_len = k.op.m.ecdh.shared_len};
    struct ohsm_obj obj;
    memset(&obj, 0, sizeof obj);
    ohsm_rv orv = ohsm_client_key_derive(k.c->c, hBaseKey, &d, (uint32_t)mo.cls,
                                         (uint32_t)mo.ktype, mo.tmpl.buf, mo.tmpl.len, NULL, 0,
                                         &obj, k.res);
    rv = mk_finish(st, &k, orv, P11_CTX_GENERATE, &obj, phKey);
out:
    p11_make_clear(&mo);
    mk_end(st, &k);
    return rv;
}

/* ---- random ---- */

#define P11_RANDOM_CHUNK 65536u /* the HSM's largest answer */

P11_API CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData,
                               CK_ULONG ulRandomLen)
{
    P11_ENTER(st);
    struct p11_session *s = NULL;
    CK_RV rv = p11_session_acquire(st, hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    if (pRandomData == NULL && ulRandomLen > 0) {
        p11_session_release(st, s);
        return CKR_ARGUMENTS_BAD;
    }
    struct p11_conn *c = NULL;
    size_t done = 0;
    while (rv == CKR_OK && done < ulRandomLen) {
        size_t n = ulRandomLen - done < P11_RANDOM_CHUNK ? ulRandomLen - done : P11_RANDOM_CHUNK;
        if ((rv = p11_pool_get(&st->pool, &c)) != CKR_OK) {
            break;
        }
        ohsm_rv orv = ohsm_client_random(c->c, pRandomData + done, n);
        p11_pool_put(&st->pool, c);
        rv = p11_rv(orv, P11_CTX_CRYPTO);
        done += n;
    }
    p11_session_release(st, s);
    return rv;
}

P11_API CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    P11_ENTER(st);
    CK_RV rv = p11_session_check(st, hSession);
    if (rv != CKR_OK) {
        return rv;
    }
    if (pSeed == NULL && ulSeedLen > 0) {
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_RANDOM_SEED_NOT_SUPPORTED;
}

CK_RV p11_give(const uint8_t *data, size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    if (out == NULL) {
        *out_len = len;
        return CKR_OK;
    }
    if (*out_len < len) {
        *out_len = len;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(out, data, len);
    *out_len = len;
    return CKR_OK;
}
