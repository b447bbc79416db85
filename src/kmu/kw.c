/* SPDX-License-Identifier: Apache-2.0
 *
 * RFC 3394 AES key wrap over a caller's AES block function (see kw.h). The chaining is the RFC's
 * index-based form (§2.2.1, §2.2.2): six passes over the n 64-bit blocks, t = n*j + i XORed into
 * the integrity register. Lengths are checked before anything is touched; temporaries that held
 * key data are wiped.
 */
#include "kmu/kw.h"

#include <string.h>

#include <openssl/crypto.h>

#define ROUNDS 6

static void xor_t(uint8_t a[OHSM_KMU_KW_BLOCK], uint64_t t)
{
    for (int i = 0; i < OHSM_KMU_KW_BLOCK; i++) {
        a[OHSM_KMU_KW_BLOCK - 1 - i] ^= (uint8_t)(t >> (8 * i));
    }
}

ohsm_rv ohsm_kmu_kw_wrap(ohsm_kmu_kw_block f, void *ctx, const uint8_t iv[OHSM_KMU_KW_BLOCK],
                         const uint8_t *in, size_t len, uint8_t *out)
{
    const size_t w = OHSM_KMU_KW_BLOCK;
    size_t n = len / w;
    uint8_t b[16];
    ohsm_rv rv = OHSM_OK;

    OHSM_ENSURE(f != NULL && iv != NULL && in != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(len % w == 0 && n >= 2, OHSM_DATA_LEN_RANGE);
    memcpy(out, iv, w);
    memmove(out + w, in, len);
    for (size_t j = 0; j < ROUNDS && rv == OHSM_OK; j++) {
        for (size_t i = 1; i <= n && rv == OHSM_OK; i++) {
            memcpy(b, out, w);
            memcpy(b + w, out + i * w, w);
            rv = f(ctx, true, b, b);
            memcpy(out, b, w);
            xor_t(out, (uint64_t)(n * j + i));
            memcpy(out + i * w, b + w, w);
        }
    }
    OPENSSL_cleanse(b, sizeof(b));
    return rv;
}

ohsm_rv ohsm_kmu_kw_unwrap(ohsm_kmu_kw_block f, void *ctx, const uint8_t iv[OHSM_KMU_KW_BLOCK],
                           const uint8_t *in, size_t len, uint8_t *out)
{
    const size_t w = OHSM_KMU_KW_BLOCK;
    uint8_t a[OHSM_KMU_KW_BLOCK], b[16];
    ohsm_rv rv = OHSM_OK;

    OHSM_ENSURE(f != NULL && iv != NULL && in != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(len % w == 0 && len >= 3 * w, OHSM_DATA_LEN_RANGE);
    size_t n = len / w - 1;
    memcpy(a, in, w);
    memmove(out, in + w, n * w);
    for (size_t j = ROUNDS; j-- > 0 && rv == OHSM_OK;) {
        for (size_t i = n; i >= 1 && rv == OHSM_OK; i--) {
            memcpy(b, a, w);
            xor_t(b, (uint64_t)(n * j + i));
            memcpy(b + w, out + (i - 1) * w, w);
            rv = f(ctx, false, b, b);
            memcpy(a, b, w);
            memcpy(out + (i - 1) * w, b + w, w);
        }
    }
    if (rv == OHSM_OK && CRYPTO_memcmp(a, iv, w) != 0) {
        rv = OHSM_WRAPPED_KEY_INVALID;
    }
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(out, n * w);
    }
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return rv;
}
