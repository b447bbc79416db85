/* SPDX-License-Identifier: Apache-2.0
 * pkcs11/stream: multi-part encryption over one-shot calls. The "HSM" is the HSM's own code
 * (ohsm_mech_encrypt/decrypt, one whole operation per call, as the server runs it); the expected
 * results come from plain OpenSSL EVP over the whole message. Every split of the input, with
 * length queries and too-small buffers between the calls, must give exactly the one-shot result,
 * for every mode and both directions; plus CBC_PAD's padding errors, CTR counter wrap, chunking
 * of large parts, GCM and RSA buffering, and the argument errors. */
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

/* ---- the one-shot "HSM" ---- */

struct hsm {
    struct ohsm_mech_key key;
    size_t calls;
    size_t max_len; /* the largest input one call got */
};

static CK_RV hsm_fn(void *ctx, bool enc, const struct ohsm_mech_params *prm, const uint8_t *in,
                    size_t len, uint8_t *out, size_t cap, size_t *out_len, uint8_t iv_out[16],
                    size_t *iv_len)
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

static uint8_t aes_key[32];
static uint8_t des3_key[24];

static void hsm_init(struct hsm *h, CK_KEY_TYPE kt)
{
    memset(h, 0, sizeof(*h));
    h->key.cls = OHSM_CLASS_SECRET;
    h->key.ktype = kt == CKK_AES ? OHSM_KT_AES : OHSM_KT_DES3;
    h->key.raw = kt == CKK_AES ? aes_key : des3_key;
    h->key.raw_len = kt == CKK_AES ? sizeof(aes_key) : sizeof(des3_key);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(RAND_bytes(aes_key, sizeof(aes_key)), 1);
    assert_int_equal(RAND_bytes(des3_key, sizeof(des3_key)), 1);
    return 0;
}

/* ---- the reference: plain EVP over the whole message ---- */

static size_t ref_crypt(const EVP_CIPHER *c, const uint8_t *key, const uint8_t *iv, int pad,
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

static const struct mode modes[] = {
    {CKM_AES_ECB, CKK_AES, EVP_aes_256_ecb, 0, 16},
    {CKM_AES_CBC, CKK_AES, EVP_aes_256_cbc, 0, 16},
    {CKM_AES_CBC_PAD, CKK_AES, EVP_aes_256_cbc, 1, 1},
    {CKM_AES_CTR, CKK_AES, EVP_aes_256_ctr, -1, 1},
    {CKM_DES3_ECB, CKK_DES3, EVP_des_ede3_ecb, 0, 8},
    {CKM_DES3_CBC, CKK_DES3, EVP_des_ede3_cbc, 0, 8},
    {CKM_DES3_CBC_PAD, CKK_DES3, EVP_des_ede3_cbc, 1, 1},
};

/* The CK_MECHANISM of a mode, with its parameter in the caller's storage. */
static void mech_of(const struct mode *md, uint8_t iv[16], CK_AES_CTR_PARAMS *ctr,
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

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Runs in (len bytes) through a stream in parts given by split (0: one part; 1: one byte at a
 * time; else pseudo-random sizes from that seed), asking the length before each part and
 * offering one byte too few first. Returns the output length. */
static size_t run_stream(const struct p11_mech *pm, bool enc, struct hsm *h, const uint8_t *in,
                         size_t len, uint32_t split, uint8_t *out, size_t cap)
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

/* Every mode, both directions, several lengths and splits: the one-shot result. */
static void test_p11_stream_every_split(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 48, 100, 257, 1024};
    uint8_t in[1024];
    uint8_t ct[1100];
    uint8_t got[1100];
    uint8_t iv[16];
    CK_AES_CTR_PARAMS ctr;
    CK_MECHANISM m;
    struct p11_mech pm;
    struct hsm h;

    assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
    assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const struct mode *md = &modes[i];
        const uint8_t *key = md->kt == CKK_AES ? aes_key : des3_key;
        hsm_init(&h, md->kt);
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            size_t len = lens[l];
            if (len % md->block != 0 || (len == 0 && md->pad == 0)) {
                continue; /* unpadded block modes take whole blocks; none is empty */
            }
            size_t ct_len = ref_crypt(md->cipher(), key, iv, md->pad, true, in, len, ct);
            for (uint32_t split = 0; split < 6; split++) {
                mech_of(md, iv, &ctr, 128, &m);
                assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, md->kt, &pm), CKR_OK);
                size_t n = run_stream(&pm, true, &h, in, len, split, got, sizeof(got));
                assert_int_equal(n, ct_len);
                assert_memory_equal(got, ct, ct_len);
                assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, md->kt, &pm), CKR_OK);
                n = run_stream(&pm, false, &h, ct, ct_len, split, got, sizeof(got));
                assert_int_equal(n, len);
                assert_memory_equal(got, in, len);
            }
        }
    }
}

/* A part larger than one HSM call takes goes in several calls of at most P11_STREAM_MAX bytes,
 * chained: the result is still the one-shot one. */
static void test_p11_stream_chunks(void **state)
{
    (void)state;
    size_t len = 2 * P11_STREAM_MAX + 4096 + 5;
    uint8_t *in = malloc(len);
    uint8_t *ct = malloc(len + 16);
    uint8_t *got = malloc(len + 16);
    uint8_t iv[16] = {1, 2, 3};
    CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, 16};
    struct p11_mech pm;
    struct hsm h;

    assert_non_null(in);
    assert_non_null(ct);
    assert_non_null(got);
    assert_int_equal(RAND_bytes(in, (int)len), 1);
    hsm_init(&h, CKK_AES);
    size_t ct_len = ref_crypt(EVP_aes_256_cbc(), aes_key, iv, 1, true, in, len, ct);
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(run_stream(&pm, true, &h, in, len, 0, got, len + 16), ct_len);
    assert_memory_equal(got, ct, ct_len);
    assert_true(h.calls >= 4);
    assert_true(h.max_len <= P11_STREAM_MAX);
    h.calls = 0;
    h.max_len = 0;
    assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(run_stream(&pm, false, &h, ct, ct_len, 0, got, len + 16), len);
    assert_memory_equal(got, in, len);
    assert_true(h.max_len <= P11_STREAM_MAX);
    free(in);
    free(ct);
    free(got);
}

/* AES-ECB of one block, for the counter-mode reference. */
static void ecb_block(const uint8_t in[16], uint8_t out[16])
{
    assert_int_equal(ref_crypt(EVP_aes_256_ecb(), aes_key, NULL, 0, true, in, 16, out), 16);
}

/* CTR with a short counter wraps within the counter bits and leaves the nonce part alone
 * (PKCS#11 ulCounterBits), across Update calls and inside one. */
static void test_p11_stream_ctr_wrap(void **state)
{
    (void)state;
    static const CK_ULONG bits_list[] = {8, 12, 3};
    for (size_t b = 0; b < sizeof(bits_list) / sizeof(bits_list[0]); b++) {
        CK_ULONG bits = bits_list[b];
        uint8_t cb[16];
        uint8_t in[6 * 16 + 3];
        uint8_t want[sizeof(in)];
        uint8_t got[sizeof(in)];
        CK_AES_CTR_PARAMS prm;
        CK_MECHANISM m = {CKM_AES_CTR, &prm, sizeof(prm)};
        struct p11_mech pm;
        struct hsm h;

        assert_int_equal(RAND_bytes(cb, sizeof(cb)), 1);
        assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
        /* The counter two blocks short of wrapping. */
        cb[15] = bits == 3 ? (uint8_t)((cb[15] & 0xF8) | 6) : 0xFE;
        if (bits == 12) {
            cb[14] = (uint8_t)(cb[14] | 0x0F);
        }
        /* The expected keystream, counter by counter. */
        uint8_t c[16];
        memcpy(c, cb, 16);
        for (size_t off = 0; off < sizeof(in); off += 16) {
            uint8_t ks[16];
            ecb_block(c, ks);
            for (size_t i = 0; i < 16 && off + i < sizeof(in); i++) {
                want[off + i] = in[off + i] ^ ks[i];
            }
            /* increment the low `bits` bits */
            uint32_t mask = (1u << bits) - 1u;
            uint32_t low = bits == 12 ? (uint32_t)((c[14] & 0x0F) << 8 | c[15]) : (c[15] & mask);
            low = (low + 1) & mask;
            if (bits == 12) {
                c[14] = (uint8_t)((c[14] & 0xF0) | (low >> 8));
                c[15] = (uint8_t)low;
            } else {
                c[15] = (uint8_t)((c[15] & ~mask) | low);
            }
        }
        prm.ulCounterBits = bits;
        memcpy(prm.cb, cb, 16);
        hsm_init(&h, CKK_AES);
        for (uint32_t split = 0; split < 4; split++) {
            assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
            assert_int_equal(run_stream(&pm, true, &h, in, sizeof(in), split, got, sizeof(got)),
                             sizeof(in));
            assert_memory_equal(got, want, sizeof(in));
            assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
            assert_int_equal(run_stream(&pm, false, &h, want, sizeof(in), split, got, sizeof(got)),
                             sizeof(in));
            assert_memory_equal(got, in, sizeof(in));
        }
    }
}

/* CTR: an operation that would bring the counter back to its first value (a repeated keystream)
 * is refused before anything of it is encrypted: 2^bits blocks at most. */
static void test_p11_stream_ctr_exhausted(void **state)
{
    (void)state;
    uint8_t in[5 * 16];
    uint8_t out[5 * 16];
    CK_AES_CTR_PARAMS prm = {2, {0}};
    CK_MECHANISM m = {CKM_AES_CTR, &prm, sizeof(prm)};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;
    CK_ULONG n = 0;

    memset(in, 0x61, sizeof(in));
    prm.cb[15] = 3; /* the counter starts anywhere: four blocks are 3, 0, 1, 2 */
    hsm_init(&h, CKK_AES);
    for (int enc = 1; enc >= 0; enc--) {
        enum p11_op op = enc ? P11_OP_ENCRYPT : P11_OP_DECRYPT;
        CK_RV over = enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
        /* four blocks: all the counter has */
        assert_int_equal(p11_mech_parse(&m, op, CKK_AES, &pm), CKR_OK);
        assert_int_equal(run_stream(&pm, enc, &h, in, 64, 2, out, sizeof(out)), 64);
        /* a fifth, in the same part or a later one */
        assert_int_equal(p11_stream_new(&pm, enc, &s), CKR_OK);
        n = sizeof(out);
        assert_int_equal(p11_stream_update(s, hsm_fn, &h, in, 65, out, &n), over);
        p11_stream_free(s);
        assert_int_equal(p11_stream_new(&pm, enc, &s), CKR_OK);
        n = sizeof(out);
        assert_int_equal(p11_stream_update(s, hsm_fn, &h, in, 60, out, &n), CKR_OK);
        assert_int_equal(n, 48);
        n = sizeof(out);
        assert_int_equal(p11_stream_update(s, hsm_fn, &h, in, 4, out, &n), CKR_OK);
        assert_int_equal(n, 16);
        size_t calls = h.calls;
        n = sizeof(out);
        assert_int_equal(p11_stream_update(s, hsm_fn, &h, in, 1, out, &n), over);
        assert_int_equal(h.calls, calls);
        n = sizeof(out);
        assert_int_equal(p11_stream_final(s, hsm_fn, &h, out, &n), CKR_OPERATION_NOT_INITIALIZED);
        p11_stream_free(s);
    }
}

/* Decrypts ct (CBC_PAD, one part) and returns Final's answer. */
static CK_RV pad_final(const uint8_t *ct, size_t len, const uint8_t iv[16], CK_ULONG *n)
{
    CK_MECHANISM m = {CKM_AES_CBC_PAD, (void *)iv, 16};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;
    uint8_t out[64];
    CK_ULONG got = sizeof(out);

    hsm_init(&h, CKK_AES);
    assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, ct, len, out, &got), CKR_OK);
    *n = sizeof(out);
    CK_RV rv = p11_stream_final(s, hsm_fn, &h, out, n);
    if (rv != CKR_OK) {
        CK_ULONG again = sizeof(out);
        assert_int_equal(p11_stream_final(s, hsm_fn, &h, out, &again),
                         CKR_OPERATION_NOT_INITIALIZED);
    }
    p11_stream_free(s);
    return rv;
}

/* CBC_PAD decryption: bad padding is CKR_ENCRYPTED_DATA_INVALID at Final, a length that is not
 * whole blocks CKR_ENCRYPTED_DATA_LEN_RANGE; both end the operation. Unpadded modes refuse a
 * partial block at Final. */
static void test_p11_stream_bad_padding(void **state)
{
    (void)state;
    static const uint8_t lasts[][2] = {{0x05, 0x00}, {0x05, 0x11}, {0x03, 0x02}, {0x01, 0xFF}};
    uint8_t iv[16] = {9};
    uint8_t pt[32];
    uint8_t ct[48];
    CK_ULONG n = 0;

    for (size_t i = 0; i < sizeof(lasts) / sizeof(lasts[0]); i++) {
        memset(pt, lasts[i][0], sizeof(pt));
        pt[31] = lasts[i][1];
        size_t len = ref_crypt(EVP_aes_256_cbc(), aes_key, iv, 0, true, pt, 32, ct);
        assert_int_equal(pad_final(ct, len, iv, &n), CKR_ENCRYPTED_DATA_INVALID);
    }
    /* good padding of 16 (a whole block of padding): 16 bytes of plaintext */
    memset(pt, 0x10, sizeof(pt));
    size_t len = ref_crypt(EVP_aes_256_cbc(), aes_key, iv, 0, true, pt, 32, ct);
    assert_int_equal(pad_final(ct, len, iv, &n), CKR_OK);
    assert_int_equal(n, 0); /* the first block came out at Update */
    assert_int_equal(pad_final(ct, 20, iv, &n), CKR_ENCRYPTED_DATA_LEN_RANGE);
    assert_int_equal(pad_final(ct, 0, iv, &n), CKR_ENCRYPTED_DATA_LEN_RANGE);

    /* ECB with a partial block left: refused at Final, both directions. */
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;
    uint8_t out[64];
    hsm_init(&h, CKK_AES);
    for (int enc = 0; enc < 2; enc++) {
        assert_int_equal(p11_mech_parse(&m, enc ? P11_OP_ENCRYPT : P11_OP_DECRYPT, CKK_AES, &pm),
                         CKR_OK);
        assert_int_equal(p11_stream_new(&pm, enc, &s), CKR_OK);
        CK_ULONG got = sizeof(out);
        assert_int_equal(p11_stream_update(s, hsm_fn, &h, pt, 20, out, &got), CKR_OK);
        assert_int_equal(got, 16);
        got = sizeof(out);
        assert_int_equal(p11_stream_final(s, hsm_fn, &h, out, &got),
                         enc ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE);
        p11_stream_free(s);
    }
}

/* CBC_PAD decryption at Final: a buffer of exactly the plaintext's size is enough, one byte less
 * is CKR_BUFFER_TOO_SMALL with the exact size, and the retry works. */
static void test_p11_stream_pad_final_exact(void **state)
{
    (void)state;
    uint8_t iv[16] = {7};
    uint8_t pt[5] = {1, 2, 3, 4, 5};
    uint8_t ct[16];
    uint8_t out[16];
    CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, 16};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;

    hsm_init(&h, CKK_AES);
    assert_int_equal(ref_crypt(EVP_aes_256_cbc(), aes_key, iv, 1, true, pt, 5, ct), 16);
    assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
    CK_ULONG got = sizeof(out);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, ct, 16, out, &got), CKR_OK);
    assert_int_equal(got, 0);
    got = 0;
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, NULL, &got), CKR_OK);
    assert_int_equal(got, 15); /* an upper bound */
    got = 4;
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, out, &got), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(got, 5);
    got = 5;
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, out, &got), CKR_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(out, pt, 5);
    p11_stream_free(s);
}

/* GCM: buffered, nothing out before Final; Final gives ct || tag and writes the HSM's IV to the
 * application's pIv; the AAD was copied at init; decryption checks the tag before any
 * plaintext; input beyond P11_STREAM_MAX is refused. */
static void test_p11_stream_gcm(void **state)
{
    (void)state;
    uint8_t in[300];
    uint8_t aad[20];
    uint8_t aad_orig[20];
    uint8_t iv[12] = {0};
    uint8_t ct[400];
    uint8_t pt[400];
    CK_GCM_PARAMS g = {iv, 12, 96, aad, sizeof(aad), 128};
    CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof(g)};
    struct p11_mech pm;
    struct hsm h;

    assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
    assert_int_equal(RAND_bytes(aad, sizeof(aad)), 1);
    memcpy(aad_orig, aad, sizeof(aad));
    hsm_init(&h, CKK_AES);
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    struct p11_stream *s = NULL;
    assert_int_equal(p11_stream_new(&pm, true, &s), CKR_OK);
    memset(aad, 0, sizeof(aad)); /* the application may reuse its memory after init */
    for (size_t off = 0; off < sizeof(in); off += 70) {
        size_t n = sizeof(in) - off < 70 ? sizeof(in) - off : 70;
        CK_ULONG got = 99;
        assert_int_equal(p11_stream_update(s, hsm_fn, &h, in + off, n, NULL, &got), CKR_OK);
        assert_int_equal(got, 0);
        got = sizeof(ct);
        assert_int_equal(p11_stream_update(s, hsm_fn, &h, in + off, n, ct, &got), CKR_OK);
        assert_int_equal(got, 0);
    }
    assert_int_equal(h.calls, 0);
    CK_ULONG got = 0;
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, NULL, &got), CKR_OK);
    assert_int_equal(got, sizeof(in) + 16);
    got = sizeof(in);
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, ct, &got), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(got, sizeof(in) + 16);
    got = sizeof(ct);
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, ct, &got), CKR_OK);
    assert_int_equal(got, sizeof(in) + 16);
    p11_stream_free(s);
    static const uint8_t zero[12];
    assert_memory_not_equal(iv, zero, 12);

    /* Plain EVP agrees: the IV in pIv, the AAD as it was at init. */
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, aes_key, iv), 1);
    assert_int_equal(EVP_DecryptUpdate(c, NULL, &n, aad_orig, sizeof(aad_orig)), 1);
    assert_int_equal(EVP_DecryptUpdate(c, pt, &n, ct, sizeof(in)), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, ct + sizeof(in)), 1);
    assert_int_equal(EVP_DecryptFinal_ex(c, pt + n, &n), 1);
    EVP_CIPHER_CTX_free(c);
    assert_memory_equal(pt, in, sizeof(in));

    /* Decryption through the stream, in parts; then a bad tag. */
    memcpy(aad, aad_orig, sizeof(aad));
    assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(run_stream(&pm, false, &h, ct, sizeof(in) + 16, 7, pt, sizeof(pt)),
                     sizeof(in));
    assert_memory_equal(pt, in, sizeof(in));
    ct[sizeof(in) + 3] ^= 1;
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
    got = sizeof(pt);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, ct, sizeof(in) + 16, pt, &got), CKR_OK);
    got = sizeof(pt);
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, pt, &got), CKR_ENCRYPTED_DATA_INVALID);
    p11_stream_free(s);
    /* Shorter than a tag. */
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
    got = sizeof(pt);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, ct, 15, pt, &got), CKR_OK);
    got = sizeof(pt);
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, pt, &got), CKR_ENCRYPTED_DATA_LEN_RANGE);
    p11_stream_free(s);

    /* Over the buffering limit: refused, and the operation is over. */
    memset(iv, 0, sizeof(iv));
    uint8_t *big = calloc(1, P11_STREAM_MAX + 1);
    assert_non_null(big);
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, true, &s), CKR_OK);
    got = 0;
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, big, P11_STREAM_MAX, ct, &got), CKR_OK);
    got = 0;
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, big, 1, ct, &got), CKR_DATA_LEN_RANGE);
    got = 0;
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, big, 1, ct, &got),
                     CKR_OPERATION_NOT_INITIALIZED);
    p11_stream_free(s);
    free(big);
}

/* RSA-OAEP (a one-shot mechanism): buffered, sized by the HSM side at Final; the label was
 * copied at init. */
static void test_p11_stream_rsa_oaep(void **state)
{
    (void)state;
    void *pk = NULL;
    uint8_t label[5] = {'l', 'a', 'b', 'e', 'l'};
    uint8_t msg[40];
    uint8_t ct[256];
    uint8_t pt[256];
    CK_RSA_PKCS_OAEP_PARAMS o = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label, 5};
    CK_MECHANISM m = {CKM_RSA_PKCS_OAEP, &o, sizeof(o)};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;

    assert_int_equal(ohsm_mech_gen_rsa(2048, 0, &pk), OHSM_OK);
    memset(&h, 0, sizeof(h));
    h.key.cls = OHSM_CLASS_PRIVATE;
    h.key.ktype = OHSM_KT_RSA;
    h.key.pkey = pk;
    assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_RSA, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, true, &s), CKR_OK);
    memset(label, 'x', sizeof(label));
    CK_ULONG got = sizeof(ct);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, msg, 10, ct, &got), CKR_OK);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, msg + 10, 30, ct, &got), CKR_OK);
    assert_int_equal(h.calls, 0);
    got = 0;
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, NULL, &got), CKR_OK);
    assert_int_equal(got, 256);
    got = 255;
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, ct, &got), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(got, 256);
    got = sizeof(ct);
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, ct, &got), CKR_OK);
    assert_int_equal(got, 256);
    assert_int_equal(h.calls, 3); /* one HSM call each: a buffer given is not sized first */
    p11_stream_free(s);

    memcpy(label, "label", 5);
    assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_RSA, &pm), CKR_OK);
    assert_int_equal(run_stream(&pm, false, &h, ct, 256, 3, pt, sizeof(pt)), sizeof(msg));
    assert_memory_equal(pt, msg, sizeof(msg));
    /* Another label: the HSM's decryption fails. */
    memcpy(label, "LABEL", 5);
    assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_RSA, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
    got = sizeof(pt);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, ct, 256, pt, &got), CKR_OK);
    got = sizeof(pt);
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, pt, &got), CKR_ENCRYPTED_DATA_INVALID);
    p11_stream_free(s);
    ohsm_mech_pkey_free(pk);
}

/* Single-part (C_Encrypt / C_Decrypt): every mode and direction gives the one-shot result; a
 * length query and a buffer too small change nothing; a wrong input length is refused before any
 * HSM call. */
static void test_p11_stream_oneshot(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 5, 16, 24, 40, 48, 1000};
    uint8_t in[1000];
    uint8_t ct[1100];
    uint8_t got[1100];
    uint8_t iv[16];
    CK_AES_CTR_PARAMS ctr;
    CK_MECHANISM m;
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;

    assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
    assert_int_equal(RAND_bytes(iv, sizeof(iv)), 1);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const struct mode *md = &modes[i];
        const uint8_t *key = md->kt == CKK_AES ? aes_key : des3_key;
        hsm_init(&h, md->kt);
        mech_of(md, iv, &ctr, 128, &m);
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            size_t len = lens[l];
            if (len % md->block != 0) {
                /* refused whole, before any HSM call (none is empty: nothing, nothing out) */
                assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, md->kt, &pm), CKR_OK);
                assert_int_equal(p11_stream_new(&pm, true, &s), CKR_OK);
                CK_ULONG n = sizeof(got);
                size_t calls = h.calls;
                assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, in, len, got, &n),
                                 CKR_DATA_LEN_RANGE);
                assert_int_equal(h.calls, calls);
                p11_stream_free(s);
                continue;
            }
            size_t ct_len = ref_crypt(md->cipher(), key, iv, md->pad, true, in, len, ct);
            for (int enc = 1; enc >= 0; enc--) {
                const uint8_t *src = enc ? in : ct;
                size_t src_len = enc ? len : ct_len;
                const uint8_t *res = enc ? ct : in;
                size_t res_len = enc ? ct_len : len;
                bool bound = !enc && md->pad == 1;
                assert_int_equal(
                    p11_mech_parse(&m, enc ? P11_OP_ENCRYPT : P11_OP_DECRYPT, md->kt, &pm), CKR_OK);
                assert_int_equal(p11_stream_new(&pm, enc, &s), CKR_OK);
                CK_ULONG n = 0;
                assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, src, src_len, NULL, &n), CKR_OK);
                assert_int_equal(n, bound ? src_len - 1 : res_len);
                if (res_len > 0) {
                    n = res_len - 1;
                    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, src, src_len, got, &n),
                                     CKR_BUFFER_TOO_SMALL);
                    assert_int_equal(n, res_len); /* exact */
                }
                n = res_len; /* exactly the result's size is enough */
                assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, src, src_len, got, &n), CKR_OK);
                assert_int_equal(n, res_len);
                assert_memory_equal(got, res, res_len);
                n = sizeof(got);
                assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, src, src_len, got, &n),
                                 CKR_OPERATION_NOT_INITIALIZED);
                p11_stream_free(s);
            }
        }
    }
}

/* Single-part GCM and its errors: a size query takes no data in; a bad tag ends it. */
static void test_p11_stream_oneshot_gcm(void **state)
{
    (void)state;
    uint8_t in[100];
    uint8_t iv[12] = {0};
    uint8_t ct[200];
    uint8_t pt[200];
    CK_GCM_PARAMS g = {iv, 12, 96, NULL, 0, 96};
    CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof(g)};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;
    CK_ULONG n = 0;

    assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
    hsm_init(&h, CKK_AES);
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, true, &s), CKR_OK);
    for (int i = 0; i < 2; i++) { /* asked twice: the data is not taken in twice */
        n = 0;
        assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, in, sizeof(in), NULL, &n), CKR_OK);
        assert_int_equal(n, sizeof(in) + 12);
    }
    n = sizeof(in) + 11;
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, in, sizeof(in), ct, &n),
                     CKR_BUFFER_TOO_SMALL);
    assert_int_equal(n, sizeof(in) + 12);
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, in, sizeof(in), ct, &n), CKR_OK);
    assert_int_equal(n, sizeof(in) + 12);
    p11_stream_free(s);
    assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
    n = sizeof(in);
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, ct, sizeof(in) + 12, pt, &n), CKR_OK);
    assert_int_equal(n, sizeof(in));
    assert_memory_equal(pt, in, sizeof(in));
    p11_stream_free(s);
    ct[0] ^= 1;
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
    n = sizeof(pt);
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, ct, sizeof(in) + 12, pt, &n),
                     CKR_ENCRYPTED_DATA_INVALID);
    n = sizeof(pt);
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, ct, sizeof(in) + 12, pt, &n),
                     CKR_OPERATION_NOT_INITIALIZED);
    p11_stream_free(s);
    /* too long to buffer */
    uint8_t *big = calloc(1, P11_STREAM_MAX + 1);
    assert_non_null(big);
    memset(iv, 0, sizeof(iv));
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, true, &s), CKR_OK);
    n = 0;
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, big, P11_STREAM_MAX + 1, NULL, &n),
                     CKR_DATA_LEN_RANGE);
    p11_stream_free(s);
    free(big);
}

/* Single-part CBC_PAD decryption in place: a buffer too small is told the exact size and keeps
 * the ciphertext, so the retry decrypts it; bad padding is refused. */
static void test_p11_stream_oneshot_in_place(void **state)
{
    (void)state;
    uint8_t iv[16] = {8};
    uint8_t pt[40];
    uint8_t ct[48];
    uint8_t buf[48];
    CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, 16};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;

    assert_int_equal(RAND_bytes(pt, sizeof(pt)), 1);
    assert_int_equal(ref_crypt(EVP_aes_256_cbc(), aes_key, iv, 1, true, pt, 40, ct), 48);
    hsm_init(&h, CKK_AES);
    assert_int_equal(p11_mech_parse(&m, P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
    memcpy(buf, ct, 48);
    static const CK_ULONG small[] = {0, 10, 39};
    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
        CK_ULONG n = small[i];
        assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, buf, 48, buf, &n), CKR_BUFFER_TOO_SMALL);
        assert_int_equal(n, 40);
        assert_memory_equal(buf, ct, 48);
    }
    CK_ULONG n = 48;
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, buf, 48, buf, &n), CKR_OK);
    assert_int_equal(n, 40);
    assert_memory_equal(buf, pt, 40);
    p11_stream_free(s);

    /* bad padding: refused whether the size is probed or not */
    uint8_t raw[32];
    memset(raw, 0x07, sizeof(raw));
    raw[31] = 0x00;
    assert_int_equal(ref_crypt(EVP_aes_256_cbc(), aes_key, iv, 0, true, raw, 32, ct), 32);
    for (int probe = 0; probe < 2; probe++) {
        assert_int_equal(p11_stream_new(&pm, false, &s), CKR_OK);
        n = probe ? 1 : sizeof(buf);
        assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, ct, 32, buf, &n),
                         CKR_ENCRYPTED_DATA_INVALID);
        p11_stream_free(s);
    }
}

/* Bad arguments: NULLs, a mechanism parsed for the other direction; an HSM error in an Update
 * ends the operation. */
static void test_p11_stream_args(void **state)
{
    (void)state;
    uint8_t iv[16] = {0};
    uint8_t buf[64] = {0};
    CK_MECHANISM m = {CKM_AES_CBC, iv, 16};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;
    CK_ULONG n = sizeof(buf);

    hsm_init(&h, CKK_AES);
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(NULL, true, &s), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_new(&pm, true, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_new(&pm, false, &s), CKR_ARGUMENTS_BAD);
    assert_null(s);
    assert_int_equal(p11_stream_new(&pm, true, &s), CKR_OK);
    assert_int_equal(p11_stream_update(NULL, hsm_fn, &h, buf, 16, buf, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_update(s, NULL, &h, buf, 16, buf, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, NULL, 16, buf, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, buf, 16, buf, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, buf, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_final(NULL, hsm_fn, &h, buf, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_oneshot(NULL, hsm_fn, &h, buf, 16, buf, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_oneshot(s, NULL, &h, buf, 16, buf, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, NULL, 16, buf, &n), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_stream_oneshot(s, hsm_fn, &h, buf, 16, buf, NULL), CKR_ARGUMENTS_BAD);
    /* An empty part is fine and gives nothing. */
    n = sizeof(buf);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, NULL, 0, buf, &n), CKR_OK);
    assert_int_equal(n, 0);
    /* The HSM refuses (the key is now of the wrong type): the operation is over. */
    h.key.ktype = OHSM_KT_DES3;
    n = sizeof(buf);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, buf, 32, buf, &n), CKR_KEY_TYPE_INCONSISTENT);
    n = sizeof(buf);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, buf, 32, buf, &n),
                     CKR_OPERATION_NOT_INITIALIZED);
    p11_stream_free(s);
    p11_stream_free(NULL);
}

/* In-place encryption (output over the input) gives the one-shot result. */
static void test_p11_stream_in_place(void **state)
{
    (void)state;
    uint8_t iv[16] = {5};
    uint8_t buf[80];
    uint8_t want[96];
    CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, 16};
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;

    assert_int_equal(RAND_bytes(buf, sizeof(buf)), 1);
    size_t wl = ref_crypt(EVP_aes_256_cbc(), aes_key, iv, 1, true, buf, 70, want);
    hsm_init(&h, CKK_AES);
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(p11_stream_new(&pm, true, &s), CKR_OK);
    CK_ULONG n = sizeof(buf);
    assert_int_equal(p11_stream_update(s, hsm_fn, &h, buf, 70, buf, &n), CKR_OK);
    assert_int_equal(n, 64);
    CK_ULONG f = sizeof(buf) - 64;
    assert_int_equal(p11_stream_final(s, hsm_fn, &h, buf + 64, &f), CKR_OK);
    assert_int_equal(64 + f, wl);
    assert_memory_equal(buf, want, wl);
    p11_stream_free(s);
}

/* In place (out == in), as a program that reads a file into one buffer and encrypts it there
 * does: parts that are not whole blocks (so bytes are held between them), one of them larger
 * than an HSM call takes, give the one-shot result, for every mode and direction. */
static void test_p11_stream_in_place_chunks(void **state)
{
    (void)state;
    static const size_t parts[] = {5, 1000, 2 * P11_STREAM_MAX + 77, 3, 1000};
    size_t len = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        len += parts[i];
    }
    uint8_t *in = malloc(len);
    uint8_t *want = malloc(len + 16);
    uint8_t *got = malloc(len + 16);
    uint8_t *buf = malloc(2 * P11_STREAM_MAX + 100);
    uint8_t iv[16] = {3, 1, 4, 1, 5, 9, 2, 6};
    CK_AES_CTR_PARAMS ctr;
    CK_MECHANISM m;
    struct p11_mech pm;
    struct p11_stream *s = NULL;
    struct hsm h;

    assert_non_null(in);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(buf);
    assert_int_equal(RAND_bytes(in, (int)len), 1);
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const struct mode *md = &modes[i];
        const uint8_t *key = md->kt == CKK_AES ? aes_key : des3_key;
        size_t total = len / md->block * md->block; /* unpadded block modes: whole blocks */
        hsm_init(&h, md->kt);
        mech_of(md, iv, &ctr, 128, &m);
        size_t wl = ref_crypt(md->cipher(), key, iv, md->pad, true, in, total, want);
        for (int enc = 1; enc >= 0; enc--) {
            const uint8_t *src = enc ? in : want;
            size_t src_len = enc ? total : wl;
            assert_int_equal(p11_mech_parse(&m, enc ? P11_OP_ENCRYPT : P11_OP_DECRYPT, md->kt, &pm),
                             CKR_OK);
            assert_int_equal(p11_stream_new(&pm, enc, &s), CKR_OK);
            size_t pos = 0;
            size_t done = 0;
            for (size_t k = 0; pos < src_len; k++) {
                size_t n = k < sizeof(parts) / sizeof(parts[0]) ? parts[k] : src_len - pos;
                n = n < src_len - pos ? n : src_len - pos;
                memcpy(buf, src + pos, n);
                CK_ULONG o = n + 16;
                assert_int_equal(p11_stream_update(s, hsm_fn, &h, buf, n, buf, &o), CKR_OK);
                memcpy(got + done, buf, o);
                done += o;
                pos += n;
            }
            CK_ULONG o = 16;
            assert_int_equal(p11_stream_final(s, hsm_fn, &h, buf, &o), CKR_OK);
            memcpy(got + done, buf, o);
            done += o;
            assert_int_equal(done, enc ? wl : total);
            assert_memory_equal(got, enc ? want : in, done);
            p11_stream_free(s);
        }
    }
    free(in);
    free(want);
    free(got);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p11_stream_every_split),
        cmocka_unit_test(test_p11_stream_chunks),
        cmocka_unit_test(test_p11_stream_ctr_wrap),
        cmocka_unit_test(test_p11_stream_ctr_exhausted),
        cmocka_unit_test(test_p11_stream_bad_padding),
        cmocka_unit_test(test_p11_stream_pad_final_exact),
        cmocka_unit_test(test_p11_stream_gcm),
        cmocka_unit_test(test_p11_stream_rsa_oaep),
        cmocka_unit_test(test_p11_stream_oneshot),
        cmocka_unit_test(test_p11_stream_oneshot_gcm),
        cmocka_unit_test(test_p11_stream_oneshot_in_place),
        cmocka_unit_test(test_p11_stream_args),
        cmocka_unit_test(test_p11_stream_in_place),
        cmocka_unit_test(test_p11_stream_in_place_chunks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
