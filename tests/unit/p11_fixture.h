/* SPDX-License-Identifier: Apache-2.0
 * The shared fixture of the PKCS#11 unit tests (tests/unit/test_p11_mech*.c,
 * tests/unit/test_p11_stream*.c): the parse helpers of the mechanism tests, and the stream tests'
 * one-shot "HSM" (the HSM's own ohsm_mech_encrypt/decrypt), keys, EVP reference and modes. Each
 * test file gets its own copy (static): the keys are per executable, set by p11_fx_stream_setup.
 * Self-contained: it includes cmocka and its prerequisites, OpenSSL's EVP and the p11 headers. */
#ifndef OHSM_P11_FIXTURE_H
#define OHSM_P11_FIXTURE_H

#include "ckr.h"
#include "mech.h"
#include "stream.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* Objects some including files do not use. */
#define P11_FX_UNUSED __attribute__((unused))

#define NONE CK_UNAVAILABLE_INFORMATION

/* ---- mechanism parsing ---- */

static inline CK_RV parse(CK_MECHANISM_TYPE t, void *p, CK_ULONG n, enum p11_op op, CK_KEY_TYPE kt,
                          struct p11_mech *out)
{
    CK_MECHANISM m = {t, p, n};
    return p11_mech_parse(&m, op, kt, out);
}

static inline CK_RV parse1(CK_MECHANISM_TYPE t, void *p, CK_ULONG n, enum p11_op op, CK_KEY_TYPE kt)
{
    struct p11_mech pm;
    CK_RV rv = parse(t, p, n, op, kt, &pm);
    if (rv != CKR_OK) {
        /* Nothing of a refused parse is left for the caller to use by mistake. */
        static const struct p11_mech zero;
        assert_memory_equal(&pm, &zero, sizeof(pm));
    }
    return rv;
}

/* ---- the one-shot "HSM" ---- */

struct hsm {
    struct ohsm_mech_key key;
    size_t calls;
    size_t max_len; /* the largest input one call got */
};

static inline CK_RV hsm_fn(void *ctx, bool enc, const struct ohsm_mech_params *prm,
                           const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len,
                           uint8_t iv_out[16], size_t *iv_len)
{
    struct hsm *h = ctx;
    ohsm_rv rv;
    h->calls++;
    h->max_len = len > h->max_len ? len : h->max_len;
    if (enc) {
        rv = ohsm_mech_encrypt(&h->key, prm, in, len, out, cap, out_len, iv_out, 16, iv_len);
    } else {
        *iv_len = 0;
        rv = ohsm_mech_decrypt(&h->key, prm, in, len, out, cap, out_len);
    }
    return p11_ckr(rv, P11_CTX_CRYPTO);
}

static P11_FX_UNUSED uint8_t aes_key[32];
static P11_FX_UNUSED uint8_t des3_key[24];

static inline void hsm_init(struct hsm *h, CK_KEY_TYPE kt)
{
    memset(h, 0, sizeof(*h));
    h->key.cls = OHSM_CLASS_SECRET;
    h->key.ktype = kt == CKK_AES ? OHSM_KT_AES : OHSM_KT_DES3;
    h->key.raw = kt == CKK_AES ? aes_key : des3_key;
    h->key.raw_len = kt == CKK_AES ? sizeof(aes_key) : sizeof(des3_key);
}

/* The stream tests' group setup: fresh random keys. */
static inline int p11_fx_stream_setup(void **state)
{
    (void)state;
    assert_int_equal(RAND_bytes(aes_key, sizeof(aes_key)), 1);
    assert_int_equal(RAND_bytes(des3_key, sizeof(des3_key)), 1);
    return 0;
}

/* ---- the reference: plain EVP over the whole message ---- */

static inline size_t ref_crypt(const EVP_CIPHER *c, const uint8_t *key, const uint8_t *iv, int pad,
                               bool enc, const uint8_t *in, size_t len, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n1 = 0;
    int n2 = 0;
    assert_non_null(ctx);
    assert_int_equal(EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc ? 1 : 0), 1);
    if (pad >= 0) {
        assert_int_equal(EVP_CIPHER_CTX_set_padding(ctx, pad), 1);
    }
    assert_int_equal(EVP_CipherUpdate(ctx, out, &n1, in, (int)len), 1);
    assert_int_equal(EVP_CipherFinal_ex(ctx, out + n1, &n2), 1);
    EVP_CIPHER_CTX_free(ctx);
    return (size_t)n1 + (size_t)n2;
}

/* ---- modes ---- */

struct mode {
    CK_MECHANISM_TYPE type;
    CK_KEY_TYPE kt;
    const EVP_CIPHER *(*cipher)(void);
    int pad;      /* EVP padding: 1, 0, or -1 (a mode without) */
    size_t block; /* input granularity of unpadded modes (CTR: 1) */
};

static P11_FX_UNUSED const struct mode modes[] = {
    {CKM_AES_ECB, CKK_AES, EVP_aes_256_ecb, 0, 16},
    {CKM_AES_CBC, CKK_AES, EVP_aes_256_cbc, 0, 16},
    {CKM_AES_CBC_PAD, CKK_AES, EVP_aes_256_cbc, 1, 1},
    {CKM_AES_CTR, CKK_AES, EVP_aes_256_ctr, -1, 1},
    {CKM_DES3_ECB, CKK_DES3, EVP_des_ede3_ecb, 0, 8},
    {CKM_DES3_CBC, CKK_DES3, EVP_des_ede3_cbc, 0, 8},
    {CKM_DES3_CBC_PAD, CKK_DES3, EVP_des_ede3_cbc, 1, 1},
};

/* The CK_MECHANISM of a mode, with its parameter in the caller's storage. */
static inline void mech_of(const struct mode *md, uint8_t iv[16], CK_AES_CTR_PARAMS *ctr,
                           CK_ULONG ctr_bits, CK_MECHANISM *m)
{
    m->mechanism = md->type;
    m->pParameter = NULL;
    m->ulParameterLen = 0;
    if (md->type == CKM_AES_CBC || md->type == CKM_AES_CBC_PAD) {
        m->pParameter = iv;
        m->ulParameterLen = 16;
    } else if (md->type == CKM_DES3_CBC || md->type == CKM_DES3_CBC_PAD) {
        m->pParameter = iv;
        m->ulParameterLen = 8;
    } else if (md->type == CKM_AES_CTR) {
        ctr->ulCounterBits = ctr_bits;
        memcpy(ctr->cb, iv, 16);
        m->pParameter = ctr;
        m->ulParameterLen = sizeof(*ctr);
    }
}

static inline uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Runs in (len bytes) through a stream in parts given by split (0: one part; 1: one byte at a
 * time; else pseudo-random sizes from that seed), asking the length before each part and
 * offering one byte too few first. Returns the output length. */
static inline size_t run_stream(const struct p11_mech *pm, bool enc, struct hsm *h,
                                const uint8_t *in, size_t len, uint32_t split, uint8_t *out,
                                size_t cap)
{
    struct p11_stream *s = NULL;
    size_t done = 0;
    size_t pos = 0;
    uint32_t seed = split;

    assert_int_equal(p11_stream_new(pm, enc, &s), CKR_OK);
    while (pos < len) {
        size_t n = split == 0 ? len : split == 1 ? 1 : 1 + lcg(&seed) % 40;
        n = n < len - pos ? n : len - pos;
        CK_ULONG need = 12345;
        assert_int_equal(p11_stream_update(s, hsm_fn, h, in + pos, n, NULL, &need), CKR_OK);
        if (need > 0) {
            CK_ULONG small = need - 1;
            assert_int_equal(p11_stream_update(s, hsm_fn, h, in + pos, n, out + done, &small),
                             CKR_BUFFER_TOO_SMALL);
            assert_int_equal(small, need);
        }
        CK_ULONG got = cap - done;
        assert_int_equal(p11_stream_update(s, hsm_fn, h, in + pos, n, out + done, &got), CKR_OK);
        assert_int_equal(got, need);
        done += got;
        pos += n;
    }
    CK_ULONG bound = 0;
    assert_int_equal(p11_stream_final(s, hsm_fn, h, NULL, &bound), CKR_OK);
    CK_ULONG zero = 0;
    uint8_t dummy[1];
    CK_RV rv = p11_stream_final(s, hsm_fn, h, dummy, &zero);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        assert_true(zero > 0 && zero <= bound);
        CK_ULONG got = cap - done;
        assert_int_equal(p11_stream_final(s, hsm_fn, h, out + done, &got), CKR_OK);
        assert_int_equal(got, zero);
        done += got;
    } else {
        assert_int_equal(rv, CKR_OK);
        assert_int_equal(zero, 0);
    }
    /* The operation is over. */
    CK_ULONG more = 16;
    assert_int_equal(p11_stream_final(s, hsm_fn, h, out, &more), CKR_OPERATION_NOT_INITIALIZED);
    p11_stream_free(s);
    return done;
}

#endif
