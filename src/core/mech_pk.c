/* SPDX-License-Identifier: Apache-2.0
 *
 * Public-key mechanisms over OpenSSL 3 EVP: RSA encryption (OAEP, PKCS#1 v1.5), RSA signatures
 * (PKCS#1 v1.5, PSS) and ECDSA with raw r || s signatures. Parameters, ciphertexts and signatures
 * come from the wire and are checked here; EVP_PKEYs are trusted (loaded through
 * ohsm_mech_pkey_load) and only read, so they may be shared between threads. Stateless and
 * thread-safe (a key's set-up contexts may come from its cache: mech.h). Deprecated OpenSSL APIs
 * are compiled out below.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "openhsm/mech.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "core/mech_int.h"

#define RSA_MAX_BYTES 512 /* 4096-bit modulus */
#define ECDSA_DER_MAX 160 /* P-521: 2 * (3 + 66) + 3 */

/* ---- RSA encrypt / decrypt ---- */

static bool is_rsa(const struct ohsm_mech_key *k)
{
    return k->ktype == OHSM_KT_RSA && k->pkey != NULL &&
           EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_RSA;
}

static bool is_ec(const struct ohsm_mech_key *k)
{
    return k->ktype == OHSM_KT_EC && k->pkey != NULL &&
           EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_EC;
}

/* A context for RSA encryption (OAEP or PKCS#1 v1.5) with its parameters; *max gets the longest
 * plaintext (RFC 8017 §7.1.1, §7.2.1). */
static ohsm_rv rsa_enc_ctx(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           bool enc, EVP_PKEY_CTX **out, size_t *max)
{
    uint32_t h = m->hash == OHSM_H_NONE ? OHSM_H_SHA1 : m->hash; /* PKCS#11 default */
    uint32_t mh = m->mgf_hash == OHSM_H_NONE ? h : m->mgf_hash;
    size_t kb = (size_t)EVP_PKEY_get_size(k->pkey);
    uint8_t *label = NULL;
    bool oaep = m->mech == OHSM_M_RSA_OAEP;

    if (oaep) {
        OHSM_ENSURE(ohsm_mech_md_of(h) != NULL && ohsm_mech_md_of(mh) != NULL,
                    OHSM_MECHANISM_PARAM_INVALID);
        OHSM_ENSURE(m->label_len == 0 || (m->label != NULL && m->label_len <= INT_MAX),
                    OHSM_MECHANISM_PARAM_INVALID);
        OHSM_ENSURE(kb > 2 * ohsm_hash_len(h) + 2, OHSM_MECHANISM_PARAM_INVALID);
        *max = kb - 2 * ohsm_hash_len(h) - 2;
    } else {
        *max = kb - 11;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    OHSM_ENSURE(ctx != NULL, ohsm_mech_ossl_fail(OHSM_HOST_MEMORY));
    if ((enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING) != 1) {
        goto fail;
    }
    if (oaep) {
        if (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, ohsm_mech_md_of(h)) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, ohsm_mech_md_of(mh)) != 1) {
            goto fail;
        }
        if (m->label_len > 0) {
            label = OPENSSL_memdup(m->label, m->label_len);
            /* set0 takes the copy on success only */
            if (label == NULL ||
                EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)m->label_len) != 1) {
                OPENSSL_free(label);
                goto fail;
            }
        }
    }
    *out = ctx;
    return OHSM_OK;
fail:
    EVP_PKEY_CTX_free(ctx);
    return ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
}

ohsm_rv ohsm_mech_rsa_encrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                              const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                              size_t *out_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    size_t max = 0;
    size_t n;

    OHSM_ENSURE(is_rsa(k), OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_TRY(rsa_enc_ctx(k, m, true, &ctx, &max));
    ohsm_rv rv = in_len <= max ? OHSM_OK : OHSM_DATA_LEN_RANGE;
    if (rv == OHSM_OK) {
        rv =
            ohsm_mech_too_small((size_t)EVP_PKEY_get_size(k->pkey), out == NULL ? 0 : cap, out_len);
    }
    if (rv == OHSM_OK) {
        n = cap;
        rv = EVP_PKEY_encrypt(ctx, out, &n, in, in_len) == 1
                 ? OHSM_OK
                 : ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
        *out_len = n;
    }
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

ohsm_rv ohsm_mech_rsa_decrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                              const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                              size_t *out_len)
{
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t tmp[RSA_MAX_BYTES];
    size_t max = 0;
    size_t n = sizeof(tmp);
    ohsm_rv rv;

    OHSM_ENSURE(is_rsa(k) && k->cls == OHSM_CLASS_PRIVATE, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(in_len == (size_t)EVP_PKEY_get_size(k->pkey) && in_len <= sizeof(tmp),
                OHSM_ENCRYPTED_DATA_LEN_RANGE);
    OHSM_TRY(rsa_enc_ctx(k, m, false, &ctx, &max));
    /* Through tmp: OpenSSL wants room for a whole modulus, the caller only for the message. */
    rv = EVP_PKEY_decrypt(ctx, tmp, &n, in, in_len) == 1
             ? OHSM_OK
             : ohsm_mech_ossl_fail(OHSM_ENCRYPTED_DATA_INVALID);
    if (rv == OHSM_OK) {
        rv = ohsm_mech_too_small(n, out == NULL ? 0 : cap, out_len);
    }
    if (rv == OHSM_OK) {
        memcpy(out, tmp, n);
        *out_len = n;
    }
    OPENSSL_cleanse(tmp, sizeof(tmp));
    EVP_PKEY_CTX_free(ctx);
    return rv;
}

/* ---- RSA and ECDSA sign / verify ---- */

/* Field size of an EC key's curve in bytes: half of a raw r || s signature. */
static size_t ec_half(const struct ohsm_mech_key *k)
{
    return ((size_t)EVP_PKEY_get_bits(k->pkey) + 7) / 8;
}

/* Checks key and parameters of an RSA/ECDSA signature and points *tbs at what the key signs:
 * the digest of the message (computed into dgst), the caller's digest (prehashed), or the raw
 * input when no hash is named (PKCS#11 CKM_RSA_PKCS / CKM_ECDSA). */
static ohsm_rv sig_prepare(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           bool sign, const uint8_t *in, size_t in_len,
                           uint8_t dgst[EVP_MAX_MD_SIZE], const uint8_t **tbs, size_t *tbs_len)
{
    const EVP_MD *md = ohsm_mech_md_of(m->hash);
    unsigned int n = 0;

    if (m->mech == OHSM_M_ECDSA) {
        OHSM_ENSURE(is_ec(k), OHSM_KEY_TYPE_INCONSISTENT);
        OHSM_ENSURE(ec_half(k) <= 66, OHSM_KEY_SIZE_RANGE); /* P-521 is the largest */
    } else {
        OHSM_ENSURE(is_rsa(k), OHSM_KEY_TYPE_INCONSISTENT);
    }
    OHSM_ENSURE(!sign || k->cls == OHSM_CLASS_PRIVATE, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(md != NULL || (m->hash == OHSM_H_NONE && m->mech != OHSM_M_RSA_PSS),
                OHSM_MECHANISM_PARAM_INVALID);
    if (m->mech == OHSM_M_RSA_PSS) {
        uint32_t mh = m->mgf_hash == OHSM_H_NONE ? m->hash : m->mgf_hash;
        /* RFC 8017 §9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits - 1) / 8). */
        size_t em = ((size_t)EVP_PKEY_get_bits(k->pkey) - 1 + 7) / 8;
        size_t salt = m->salt_len == UINT32_MAX ? ohsm_hash_len(m->hash) : m->salt_len;
        OHSM_ENSURE(ohsm_mech_md_of(mh) != NULL && salt + ohsm_hash_len(m->hash) + 2 <= em,
                    OHSM_MECHANISM_PARAM_INVALID);
    }
    OHSM_ENSURE(in != NULL || in_len == 0, OHSM_ARGUMENTS_BAD);
    if (md == NULL) {
        size_t max =
            m->mech == OHSM_M_ECDSA ? EVP_MAX_MD_SIZE : (size_t)EVP_PKEY_get_size(k->pkey) - 11;
        OHSM_ENSURE(in_len > 0 && in_len <= max, OHSM_DATA_LEN_RANGE);
        *tbs = in;
        *tbs_len = in_len;
    } else if (m->prehashed) {
        OHSM_ENSURE(in_len == ohsm_hash_len(m->hash), OHSM_DATA_LEN_RANGE);
        *tbs = in;
        *tbs_len = in_len;
    } else {
        OHSM_ENSURE(EVP_Digest(in, in_len, dgst, &n, md, NULL) == 1,
                    ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
        *tbs = dgst;
        *tbs_len = n;
    }
    return OHSM_OK;
}

/* A signing or verifying context with the padding, digest and PSS parameters of m. */
static EVP_PKEY_CTX *sig_ctx(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                             bool sign)
{
    const EVP_MD *md = ohsm_mech_md_of(m->hash);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);

    if (ctx == NULL || (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) != 1) {
        goto fail;
    }
    if (m->mech == OHSM_M_RSA_PKCS || m->mech == OHSM_M_RSA_PSS) {
        bool pss = m->mech == OHSM_M_RSA_PSS;
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) !=
            1) {
            goto fail;
        }
    }
    /* ECDSA signs a digest whatever hash made it (sig_prepare checked its length): naming the
     * hash would only cost a digest fetch per call. RSA encodes the hash's identity. */
    if (md != NULL && m->mech != OHSM_M_ECDSA && EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
        goto fail;
    }
    if (m->mech == OHSM_M_RSA_PSS) {
        uint32_t mh = m->mgf_hash == OHSM_H_NONE ? m->hash : m->mgf_hash;
        int salt = m->salt_len == UINT32_MAX ? RSA_PSS_SALTLEN_DIGEST : (int)m->salt_len;
        if (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, ohsm_mech_md_of(mh)) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, salt) != 1) {
            goto fail;
        }
    }
    return ctx;
fail:
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

/* What a signing/verifying context's set-up depends on besides the key (see mech_int.h). m was
 * checked by sig_prepare: the salt length is below 0xffff unless it means "digest length". */
static uint64_t sig_tag(const struct ohsm_mech_params *m, bool sign)
{
    uint64_t pss = 0;
    if (m->mech == OHSM_M_RSA_PSS) {
        uint32_t mh = m->mgf_hash == OHSM_H_NONE ? m->hash : m->mgf_hash;
        uint32_t salt = m->salt_len >= 0xffffu ? 0xffffu : m->salt_len;
        pss = (uint64_t)(mh & 0xffu) << 40 | (uint64_t)salt << 48;
    }
    /* ECDSA's context does not depend on the hash (sig_ctx does not name it). */
    uint32_t hash = m->mech == OHSM_M_ECDSA ? 0 : m->hash;
    return OHSM_MECH_CTX_PKEY | (sign ? 1u : 2u) << 8 | (uint64_t)(m->mech & 0xffffu) << 16 |
           (uint64_t)(hash & 0xffu) << 32 | pss;
}

/* A signing/verifying context for m: the key's cached one when there is one (*slot says where it
 * goes back: ohsm_mech_cache_put), else a new one. NULL: OpenSSL failed. */
static EVP_PKEY_CTX *sig_ctx_take(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                                  bool sign, uint64_t tag, size_t *slot)
{
    EVP_PKEY_CTX *ctx = ohsm_mech_cache_take(k->cache, tag, slot);
    if (ctx == NULL) {
        ctx = sig_ctx(k, m, sign);
        if (ctx == NULL) {
            ohsm_mech_cache_put(k->cache, *slot, tag, NULL, false);
        }
    }
    return ctx;
}

/* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 §2.2.3) <-> r || s, each half
 * bytes (PKCS#11 §2.3.1). By hand rather than through ECDSA_SIG and BIGNUMs: this is on the
 * signing hot path, and two allocation-free copies cost nothing. Integers are < 128 bytes for
 * every curve we support, so their lengths are short-form; the SEQUENCE may need 0x81. */
static ohsm_rv der_int_to_raw(const uint8_t **p, const uint8_t *end, size_t half, uint8_t *out)
{
    const uint8_t *q = *p;
    OHSM_ENSURE(end - q >= 2 && q[0] == 0x02 && q[1] < 0x80 && (size_t)(end - q - 2) >= q[1],
                OHSM_DEVICE_ERROR);
    size_t n = q[1];
    const uint8_t *v = q + 2;
    *p = v + n;
    while (n > 0 && v[0] == 0) { /* positive INTEGERs carry a leading zero before a high bit */
        v++;
        n--;
    }
    OHSM_ENSURE(n <= half, OHSM_DEVICE_ERROR);
    memset(out, 0, half - n);
    memcpy(out + half - n, v, n);
    return OHSM_OK;
}

static ohsm_rv ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t half, uint8_t *out)
{
    OHSM_ENSURE(len >= 3 && der[0] == 0x30, OHSM_DEVICE_ERROR);
    size_t h = der[1] == 0x81 ? 3 : 2;
    size_t body = der[h - 1];
    OHSM_ENSURE((h == 3 || der[1] < 0x80) && len - h == body, OHSM_DEVICE_ERROR);
    const uint8_t *p = der + h;
    const uint8_t *end = der + len;
    OHSM_TRY(der_int_to_raw(&p, end, half, out));
    OHSM_TRY(der_int_to_raw(&p, end, half, out + half));
    return p == end ? OHSM_OK : OHSM_DEVICE_ERROR;
}

/* One unsigned big-endian number as a DER INTEGER at out; returns its encoded length. */
static size_t raw_to_der_int(const uint8_t *v, size_t n, uint8_t *out)
{
    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    size_t pad = v[0] & 0x80 ? 1 : 0;
    out[0] = 0x02;
    out[1] = (uint8_t)(n + pad);
    out[2] = 0;
    memcpy(out + 2 + pad, v, n);
    return 2 + pad + n;
}

/* r || s -> DER into der (cap ECDSA_DER_MAX; half <= 66 so each INTEGER fits short form). */
static void ecdsa_raw_to_der(const uint8_t *raw, size_t half, uint8_t *der, size_t *len)
{
    uint8_t body[2 * (3 + 66)];
    size_t n = raw_to_der_int(raw, half, body);
    n += raw_to_der_int(raw + half, half, body + n);
    size_t h = 0;
    der[h++] = 0x30;
    if (n >= 0x80) {
        der[h++] = 0x81;
    }
    der[h++] = (uint8_t)n;
    memcpy(der + h, body, n);
    *len = h + n;
}

ohsm_rv ohsm_mech_pk_sign(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                          const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                          size_t *out_len)
{
    uint8_t dgst[EVP_MAX_MD_SIZE];
    uint8_t der[ECDSA_DER_MAX];
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    bool ec = m->mech == OHSM_M_ECDSA;
    ohsm_rv rv;

    OHSM_TRY(sig_prepare(k, m, true, in, in_len, dgst, &tbs, &tbs_len));
    size_t need = ec ? 2 * ec_half(k) : (size_t)EVP_PKEY_get_size(k->pkey);
    OHSM_TRY(ohsm_mech_too_small(need, out == NULL ? 0 : cap, out_len));
    uint64_t tag = sig_tag(m, true);
    size_t slot = OHSM_MECH_NO_SLOT;
    EVP_PKEY_CTX *ctx = sig_ctx_take(k, m, true, tag, &slot);
    OHSM_ENSURE(ctx != NULL, OHSM_DEVICE_ERROR);
    size_t n = ec ? sizeof(der) : cap;
    if (EVP_PKEY_sign(ctx, ec ? der : out, &n, tbs, tbs_len) != 1) {
        rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
    } else if (ec) {
        rv = ecdsa_der_to_raw(der, n, need / 2, out);
        n = need;
    } else {
        rv = OHSM_OK;
    }
    if (rv == OHSM_OK) {
        *out_len = n;
    }
    ohsm_mech_cache_put(k->cache, slot, tag, ctx, rv == OHSM_OK);
    return rv;
}

ohsm_rv ohsm_mech_pk_verify(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                            const uint8_t *in, size_t in_len, const uint8_t *sig, size_t sig_len)
{
    uint8_t dgst[EVP_MAX_MD_SIZE];
    uint8_t der[ECDSA_DER_MAX];
    const uint8_t *tbs = NULL;
    size_t tbs_len = 0;
    bool ec = m->mech == OHSM_M_ECDSA;

    OHSM_TRY(sig_prepare(k, m, false, in, in_len, dgst, &tbs, &tbs_len));
    OHSM_ENSURE(sig != NULL || sig_len == 0, OHSM_ARGUMENTS_BAD);
    if (ec) {
        OHSM_ENSURE(sig_len == 2 * ec_half(k), OHSM_SIGNATURE_INVALID);
        ecdsa_raw_to_der(sig, sig_len / 2, der, &sig_len);
        sig = der;
    } else {
        OHSM_ENSURE(sig_len == (size_t)EVP_PKEY_get_size(k->pkey), OHSM_SIGNATURE_INVALID);
    }
    uint64_t tag = sig_tag(m, false);
    size_t slot = OHSM_MECH_NO_SLOT;
    EVP_PKEY_CTX *ctx = sig_ctx_take(k, m, false, tag, &slot);
    OHSM_ENSURE(ctx != NULL, OHSM_DEVICE_ERROR);
    /* 0 is a bad signature; < 0 is one OpenSSL could not even parse (e.g. >= n): also bad. A
     * context that said either is not kept (its state after an error is not promised). */
    int ok = EVP_PKEY_verify(ctx, sig, sig_len, tbs, tbs_len);
    ohsm_mech_cache_put(k->cache, slot, tag, ctx, ok == 1);
    return ok == 1 ? OHSM_OK : ohsm_mech_ossl_fail(OHSM_SIGNATURE_INVALID);
}
