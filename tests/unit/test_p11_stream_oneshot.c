/* SPDX-License-Identifier: Apache-2.0
 * pkcs11/stream: single-part C_Encrypt / C_Decrypt (every mode and direction, GCM, in place), the
 * argument errors, and multi-part operations whose output buffer is their input buffer. The "HSM"
 * and the EVP reference are the fixture's (p11_fixture.h), as in test_p11_stream.c. */
#include "p11_fixture.h"

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
        cmocka_unit_test(test_p11_stream_oneshot),
        cmocka_unit_test(test_p11_stream_oneshot_gcm),
        cmocka_unit_test(test_p11_stream_oneshot_in_place),
        cmocka_unit_test(test_p11_stream_args),
        cmocka_unit_test(test_p11_stream_in_place),
        cmocka_unit_test(test_p11_stream_in_place_chunks),
    };
    return cmocka_run_group_tests(tests, p11_fx_stream_setup, NULL);
}
