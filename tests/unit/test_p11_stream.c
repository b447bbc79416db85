/* SPDX-License-Identifier: Apache-2.0
 * pkcs11/stream: multi-part encryption over one-shot calls. The "HSM" is the HSM's own code
 * (ohsm_mech_encrypt/decrypt, one whole operation per call, as the server runs it); the expected
 * results come from plain OpenSSL EVP over the whole message. Every split of the input, with
 * length queries and too-small buffers between the calls, must give exactly the one-shot result,
 * for every mode and both directions; plus CBC_PAD's padding errors, CTR counter wrap, chunking
 * of large parts, GCM and RSA buffering. Single-part calls, in-place buffers and the argument
 * errors: test_p11_stream_oneshot.c. */
#include "p11_fixture.h"

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
    };
    return cmocka_run_group_tests(tests, p11_fx_stream_setup, NULL);
}
