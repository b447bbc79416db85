/* SPDX-License-Identifier: Apache-2.0
 *
 * RFC 3394 AES key wrap built on an AES block function supplied by the caller (kw.c), so the key
 * can stay where the block function runs (openhsm-kmu's aesWrapUnwrap: in the HSM). Pure: no I/O,
 * no state; unit-tested with the RFC's vectors.
 */
#ifndef OHSM_KMU_KW_H
#define OHSM_KMU_KW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

#define OHSM_KMU_KW_BLOCK 8

/* One AES block with the wrapping key: encrypt (enc) or decrypt in into out (may be the same). */
typedef ohsm_rv (*ohsm_kmu_kw_block)(void *ctx, bool enc, const uint8_t in[16], uint8_t out[16]);

/* RFC 3394 §2.2.1: in (len a multiple of 8, at least 16) -> out (len + 8 bytes) with initial value
 * iv. Errors: OHSM_DATA_LEN_RANGE for a bad length, else the block function's. */
ohsm_rv ohsm_kmu_kw_wrap(ohsm_kmu_kw_block f, void *ctx, const uint8_t iv[OHSM_KMU_KW_BLOCK],
                         const uint8_t *in, size_t len, uint8_t *out);
/* RFC 3394 §2.2.2: in (len a multiple of 8, at least 24) -> out (len - 8 bytes). Errors:
 * OHSM_DATA_LEN_RANGE, OHSM_WRAPPED_KEY_INVALID when the recovered value is not iv (§2.2.3;
 * compared in constant time, out wiped), else the block function's. */
ohsm_rv ohsm_kmu_kw_unwrap(ohsm_kmu_kw_block f, void *ctx, const uint8_t iv[OHSM_KMU_KW_BLOCK],
                           const uint8_t *in, size_t len, uint8_t *out);

#endif
