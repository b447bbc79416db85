/* SPDX-License-Identifier: Apache-2.0
 * Key material is wiped when KMS crypto lets go of it (src/kms/kspec.c, kcrypto.c): OpenSSL's
 * allocator is replaced (CRYPTO_set_mem_functions, before anything is allocated) by one that
 * looks into every block as it is freed; a block still holding a piece of the key is a leak. The
 * secure heap is not initialised here, so OPENSSL_secure_* allocations go through the same
 * hooks. A control case shows the detector sees an unwiped block. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/crypto.h>

#include "kms/kcrypto.h"
#include "openhsm/mech.h"

#define HDR 16 /* keeps the block's size in front of it, and malloc's alignment */
#define PIECE 16

/* The bytes to look for while armed (a piece of the key), and how often a freed block held them.
 * Test-only globals: cmocka runs the cases one at a time on one thread. */
static uint8_t needle[PIECE];
static bool armed;
static int leaks;

static bool holds(const uint8_t *p, size_t n)
{
    for (size_t i = 0; n >= PIECE && i <= n - PIECE; i++) {
        if (p[i] == needle[0] && memcmp(p + i, needle, PIECE) == 0) {
            return true;
        }
    }
    return false;
}

static void *hk_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    uint8_t *p = malloc(n + HDR);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &n, sizeof(n));
    return p + HDR;
}

static void hk_free(void *q, const char *file, int line)
{
    (void)file;
    (void)line;
    if (q == NULL) {
        return;
    }
    uint8_t *p = (uint8_t *)q - HDR;
    size_t n = 0;
    memcpy(&n, p, sizeof(n));
    if (armed && holds(q, n)) {
        leaks++;
    }
    free(p);
}

static void *hk_realloc(void *q, size_t n, const char *file, int line)
{
    if (q == NULL) {
        return hk_malloc(n, file, line);
    }
    if (n == 0) {
        hk_free(q, file, line);
        return NULL;
    }
    size_t old = 0;
    memcpy(&old, (uint8_t *)q - HDR, sizeof(old));
    uint8_t *r = hk_malloc(n, file, line);
    if (r != NULL) {
        memcpy(r, q, old < n ? old : n);
        hk_free(q, file, line);
    }
    return r;
}

static void arm(const uint8_t *piece)
{
    memcpy(needle, piece, PIECE);
    leaks = 0;
    armed = true;
}

static void fill(uint8_t *m, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        m[i] = (uint8_t)(seed + 37 * i);
    }
}

/* The detector works: an OpenSSL block freed with the key in it is counted. */
static void test_kms_kwipe_control(void **state)
{
    (void)state;
    uint8_t m[32];
    fill(m, sizeof(m), 3);
    arm(m + 8);
    uint8_t *p = OPENSSL_malloc(64);
    memcpy(p + 5, m, sizeof(m));
    OPENSSL_free(p);
    armed = false;
    assert_int_equal(leaks, 1);
}

/* A SYMMETRIC_DEFAULT key used for AES-GCM through its mech key (filling the context cache) and
 * an HMAC key used for a MAC leave no copy behind after ohsm_kms_kmat_free. */
static void test_kms_kwipe_kmat_free(void **state)
{
    (void)state;
    uint8_t m[64];
    uint8_t ct[64];
    uint8_t iv[16];
    size_t n = 0;
    size_t ivn = 0;
    struct ohsm_kms_kmat *k = NULL;
    struct ohsm_mech_params gcm = {.mech = OHSM_M_AES_GCM};

    fill(m, 32, 11);
    arm(m + 16);
    assert_int_equal(ohsm_kms_kmat_load(OHSM_KSPEC_SYMMETRIC_DEFAULT, m, 32, &k), OHSM_OK);
    assert_int_equal(ohsm_mech_encrypt(ohsm_kms_kmat_mech(k), &gcm, (const uint8_t *)"x", 1, ct,
                                       sizeof(ct), &n, iv, sizeof(iv), &ivn),
                     OHSM_OK);
    ohsm_kms_kmat_free(k);
    armed = false;
    assert_int_equal(leaks, 0);

    fill(m, 64, 29);
    arm(m + 40);
    k = NULL;
    assert_int_equal(ohsm_kms_kmat_load(OHSM_KSPEC_HMAC_512, m, 64, &k), OHSM_OK);
    assert_int_equal(ohsm_kms_mac(k, OHSM_KALG_HMAC_SHA_512, m, 3, ct, sizeof(ct), &n), OHSM_OK);
    ohsm_kms_kmat_free(k);
    armed = false;
    assert_int_equal(leaks, 0);
}

/* Generated material and decrypted plaintext freed with ohsm_kms_bytes_free are wiped. */
static void test_kms_kwipe_bytes_free(void **state)
{
    (void)state;
    uint8_t *m = NULL;
    size_t ml = 0;
    assert_int_equal(ohsm_kms_material_gen(OHSM_KSPEC_HMAC_256, &m, &ml), OHSM_OK);
    arm(m + 8);
    ohsm_kms_bytes_free(m, ml);
    armed = false;
    assert_int_equal(leaks, 0);

    struct ohsm_kms_kmat *k = NULL;
    uint8_t pt[64];
    uint8_t *ct = NULL;
    uint8_t *back = NULL;
    size_t cl = 0;
    size_t bl = 0;
    assert_int_equal(ohsm_kms_material_gen(OHSM_KSPEC_RSA_2048, &m, &ml), OHSM_OK);
    assert_int_equal(ohsm_kms_kmat_load(OHSM_KSPEC_RSA_2048, m, ml, &k), OHSM_OK);
    ohsm_kms_bytes_free(m, ml);
    fill(pt, sizeof(pt), 71);
    assert_int_equal(
        ohsm_kms_asym_encrypt(k, OHSM_KALG_RSAES_OAEP_SHA_256, pt, sizeof(pt), &ct, &cl), OHSM_OK);
    arm(pt + 20);
    assert_int_equal(ohsm_kms_asym_decrypt(k, OHSM_KALG_RSAES_OAEP_SHA_256, ct, cl, &back, &bl),
                     OHSM_OK);
    assert_int_equal(bl, sizeof(pt));
    assert_memory_equal(back, pt, sizeof(pt));
    ohsm_kms_bytes_free(back, bl);
    armed = false;
    assert_int_equal(leaks, 0);
    free(ct);
    ohsm_kms_kmat_free(k);
}

int main(void)
{
    /* Must come first: OpenSSL refuses new allocators once it has allocated anything. */
    if (CRYPTO_set_mem_functions(hk_malloc, hk_realloc, hk_free) != 1) {
        fprintf(stderr, "CRYPTO_set_mem_functions refused\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kms_kwipe_control),
        cmocka_unit_test(test_kms_kwipe_kmat_free),
        cmocka_unit_test(test_kms_kwipe_bytes_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
