/* SPDX-License-Identifier: Apache-2.0
 * The in-memory sealer (src/kms/seal_mem.c): blobs are iv (12) || ciphertext || tag (16), round
 * trip for every size up to a few blocks and the empty plaintext, a fresh iv per seal, and every
 * damaged blob -- another aad, any byte flipped, any truncation, another sealer's key -- refused
 * with OHSM_ENCRYPTED_DATA_INVALID and the output wiped; a short buffer is OHSM_BUFFER_TOO_SMALL
 * with the size needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kms/seal.h"

#define OVERHEAD 28 /* 12 iv + 16 tag */

static const uint8_t AAD[] = "key/1234abcd-12ab-34cd-56ef-1234567890ab#v1";

static int setup(void **state)
{
    struct ohsm_kms_sealer *s = calloc(1, sizeof(*s));
    if (s == NULL || ohsm_kms_sealer_mem(s) != OHSM_OK) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    ohsm_kms_sealer_mem_free(*state);
    free(*state);
    return 0;
}

static uint8_t *seal(struct ohsm_kms_sealer *s, const uint8_t *aad, size_t aad_len,
                     const uint8_t *in, size_t n, size_t *blob_len)
{
    uint8_t *blob = NULL;
    assert_int_equal(s->seal(s->ctx, aad, aad_len, in, n, &blob, blob_len), OHSM_OK);
    assert_non_null(blob);
    return blob;
}

/* Every plaintext size 0..80 comes back unchanged; the blob is 28 bytes longer. */
static void test_kms_seal_round_trip(void **state)
{
    struct ohsm_kms_sealer *s = *state;
    uint8_t in[80], out[80];
    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i * 7 + 1);
    }
    for (size_t n = 0; n <= sizeof(in); n++) {
        size_t blob_len = 0, got = 999;
        uint8_t *blob = seal(s, AAD, sizeof(AAD), in, n, &blob_len);
        assert_int_equal(blob_len, n + OVERHEAD);
        memset(out, 0, sizeof(out));
        assert_int_equal(
            s->unseal(s->ctx, AAD, sizeof(AAD), blob, blob_len, out, sizeof(out), &got), OHSM_OK);
        assert_int_equal(got, n);
        assert_memory_equal(out, in, n);
        free(blob);
    }
    /* No aad at all is an aad too (the empty one). */
    size_t blob_len = 0, got = 0;
    uint8_t *blob = seal(s, NULL, 0, in, 32, &blob_len);
    assert_int_equal(s->unseal(s->ctx, NULL, 0, blob, blob_len, out, sizeof(out), &got), OHSM_OK);
    assert_int_equal(got, 32);
    assert_int_equal(s->unseal(s->ctx, AAD, 1, blob, blob_len, out, sizeof(out), &got),
                     OHSM_ENCRYPTED_DATA_INVALID);
    free(blob);
}

/* Sealing the same plaintext twice gives different blobs (a fresh iv), and neither holds the
 * plaintext in clear. */
static void test_kms_seal_fresh_iv(void **state)
{
    struct ohsm_kms_sealer *s = *state;
    uint8_t in[32];
    memset(in, 0x5a, sizeof(in));
    size_t l1 = 0, l2 = 0;
    uint8_t *b1 = seal(s, AAD, sizeof(AAD), in, sizeof(in), &l1);
    uint8_t *b2 = seal(s, AAD, sizeof(AAD), in, sizeof(in), &l2);
    assert_int_equal(l1, l2);
    assert_memory_not_equal(b1, b2, 12);
    assert_memory_not_equal(b1 + 12, b2 + 12, sizeof(in));
    for (size_t i = 0; i + sizeof(in) <= l1; i++) {
        assert_memory_not_equal(b1 + i, in, sizeof(in));
    }
    free(b1);
    free(b2);
}

/* Another aad (one byte changed, shorter, longer) does not unseal; the output is wiped. */
static void test_kms_seal_wrong_aad(void **state)
{
    struct ohsm_kms_sealer *s = *state;
    uint8_t in[48], out[48], aad[sizeof(AAD) + 1];
    memset(in, 0x33, sizeof(in));
    size_t blob_len = 0, got = 0;
    uint8_t *blob = seal(s, AAD, sizeof(AAD), in, sizeof(in), &blob_len);
    memcpy(aad, AAD, sizeof(AAD));
    aad[5] ^= 1;
    memset(out, 0xee, sizeof(out));
    assert_int_equal(s->unseal(s->ctx, aad, sizeof(AAD), blob, blob_len, out, sizeof(out), &got),
                     OHSM_ENCRYPTED_DATA_INVALID);
    for (size_t i = 0; i < sizeof(out); i++) {
        assert_int_equal(out[i], 0);
    }
    assert_int_equal(
        s->unseal(s->ctx, AAD, sizeof(AAD) - 1, blob, blob_len, out, sizeof(out), &got),
        OHSM_ENCRYPTED_DATA_INVALID);
    memcpy(aad, AAD, sizeof(AAD));
    aad[sizeof(AAD)] = 0;
    assert_int_equal(
        s->unseal(s->ctx, aad, sizeof(AAD) + 1, blob, blob_len, out, sizeof(out), &got),
        OHSM_ENCRYPTED_DATA_INVALID);
    free(blob);
}

/* Any single bit flipped anywhere in the blob (iv, ciphertext, tag) is refused. */
static void test_kms_seal_tampered(void **state)
{
    struct ohsm_kms_sealer *s = *state;
    uint8_t in[40], out[40];
    memset(in, 0x11, sizeof(in));
    size_t blob_len = 0, got = 0;
    uint8_t *blob = seal(s, AAD, sizeof(AAD), in, sizeof(in), &blob_len);
    for (size_t i = 0; i < blob_len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            blob[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(
                s->unseal(s->ctx, AAD, sizeof(AAD), blob, blob_len, out, sizeof(out), &got),
                OHSM_ENCRYPTED_DATA_INVALID);
            blob[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* Untouched, it still unseals: the loop restored every byte. */
    assert_int_equal(s->unseal(s->ctx, AAD, sizeof(AAD), blob, blob_len, out, sizeof(out), &got),
                     OHSM_OK);
    free(blob);
}

/* Every truncation (0..len-1 bytes kept) and a NULL blob are refused; so is an appended byte. */
static void test_kms_seal_truncated(void **state)
{
    struct ohsm_kms_sealer *s = *state;
    uint8_t in[20], out[64];
    memset(in, 0x42, sizeof(in));
    size_t blob_len = 0, got = 0;
    uint8_t *blob = seal(s, AAD, sizeof(AAD), in, sizeof(in), &blob_len);
    for (size_t n = 0; n < blob_len; n++) {
        assert_int_equal(s->unseal(s->ctx, AAD, sizeof(AAD), blob, n, out, sizeof(out), &got),
                         OHSM_ENCRYPTED_DATA_INVALID);
    }
    assert_int_equal(s->unseal(s->ctx, AAD, sizeof(AAD), NULL, 0, out, sizeof(out), &got),
                     OHSM_ENCRYPTED_DATA_INVALID);
    uint8_t *longer = malloc(blob_len + 1);
    assert_non_null(longer);
    memcpy(longer, blob, blob_len);
    longer[blob_len] = 0;
    assert_int_equal(
        s->unseal(s->ctx, AAD, sizeof(AAD), longer, blob_len + 1, out, sizeof(out), &got),
        OHSM_ENCRYPTED_DATA_INVALID);
    free(longer);
    free(blob);
}

/* A buffer one byte short is OHSM_BUFFER_TOO_SMALL with the size needed; exact size works. */
static void test_kms_seal_buffer_too_small(void **state)
{
    struct ohsm_kms_sealer *s = *state;
    uint8_t in[32], out[32];
    memset(in, 0x77, sizeof(in));
    size_t blob_len = 0, got = 0;
    uint8_t *blob = seal(s, AAD, sizeof(AAD), in, sizeof(in), &blob_len);
    assert_int_equal(s->unseal(s->ctx, AAD, sizeof(AAD), blob, blob_len, out, 31, &got),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(got, 32);
    got = 0;
    assert_int_equal(s->unseal(s->ctx, AAD, sizeof(AAD), blob, blob_len, NULL, 0, &got),
                     OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(got, 32);
    assert_int_equal(s->unseal(s->ctx, AAD, sizeof(AAD), blob, blob_len, out, 32, &got), OHSM_OK);
    assert_int_equal(got, 32);
    assert_memory_equal(out, in, 32);
    free(blob);
}

/* A blob of another sealer (another random key) does not unseal here. */
static void test_kms_seal_other_key(void **state)
{
    struct ohsm_kms_sealer *s = *state;
    struct ohsm_kms_sealer other;
    uint8_t in[16], out[16];
    memset(in, 1, sizeof(in));
    assert_int_equal(ohsm_kms_sealer_mem(&other), OHSM_OK);
    size_t blob_len = 0, got = 0;
    uint8_t *blob = seal(&other, AAD, sizeof(AAD), in, sizeof(in), &blob_len);
    assert_int_equal(s->unseal(s->ctx, AAD, sizeof(AAD), blob, blob_len, out, sizeof(out), &got),
                     OHSM_ENCRYPTED_DATA_INVALID);
    free(blob);
    ohsm_kms_sealer_mem_free(&other);
    assert_null(other.ctx);
    ohsm_kms_sealer_mem_free(NULL);
}

/* Bad arguments: NULL outputs, an aad length without an aad, input length without input. */
static void test_kms_seal_bad_args(void **state)
{
    struct ohsm_kms_sealer *s = *state;
    uint8_t in[16] = {0}, *blob = NULL;
    size_t len = 0;
    assert_int_equal(s->seal(s->ctx, AAD, sizeof(AAD), in, sizeof(in), NULL, &len),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(s->seal(s->ctx, AAD, sizeof(AAD), in, sizeof(in), &blob, NULL),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(s->seal(s->ctx, NULL, 3, in, sizeof(in), &blob, &len), OHSM_ARGUMENTS_BAD);
    assert_int_equal(s->seal(s->ctx, AAD, sizeof(AAD), NULL, 3, &blob, &len), OHSM_ARGUMENTS_BAD);
    assert_null(blob);
    assert_int_equal(ohsm_kms_sealer_mem(NULL), OHSM_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_seal_bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seal_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seal_buffer_too_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seal_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seal_fresh_iv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seal_wrong_aad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seal_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seal_other_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
