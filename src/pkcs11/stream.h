/* SPDX-License-Identifier: Apache-2.0
 *
 * Multi-part encryption and decryption (C_EncryptUpdate/Final, C_DecryptUpdate/Final) over an HSM
 * that only runs whole operations. For ECB, CBC, CBC_PAD and CTR (AES and DES3) the chaining state
 * lives here: each Update sends the whole blocks it can to the HSM (one call per at most
 * P11_STREAM_MAX bytes) with the IV the previous part left (CBC: the last ciphertext block; CTR:
 * the counter block advanced by the blocks done, wrapping within the counter bits), and holds
 * back the partial block (CBC_PAD decryption: also the last whole block, whose padding Final
 * strips; CBC_PAD encryption pads at Final). Memory per operation is bounded: a block or two,
 * plus one chunk while an Update runs. GCM and the one-shot mechanisms (RSA) buffer the input up
 * to P11_STREAM_MAX (beyond: CKR_DATA_LEN_RANGE / CKR_ENCRYPTED_DATA_LEN_RANGE) and run at Final,
 * so GCM plaintext is released only after its tag verified. A CTR operation may use
 * at most 2^counter-bits blocks (more would repeat the keystream: CKR_DATA_LEN_RANGE /
 * CKR_ENCRYPTED_DATA_LEN_RANGE).
 *
 * Length rules (PKCS#11 v2.40 §5.2): a NULL output asks the length and changes nothing; a buffer
 * too small is CKR_BUFFER_TOO_SMALL with the length needed, and nothing changes, so the call can
 * be repeated. Any other error ends the operation: every later call is
 * CKR_OPERATION_NOT_INITIALIZED, and the caller frees the stream. A stream is used by one thread
 * at a time (the session's lock). Buffered data and held-back blocks are wiped on free.
 */
#ifndef OHSM_P11_STREAM_H
#define OHSM_P11_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mech.h"

/* One HSM call: encrypt (enc) or decrypt in (len bytes) with prm (prm->iv set by the engine for
 * chained modes), writing at most cap bytes to out and the count to *out_len. For GCM encryption
 * the HSM returns its IV in iv_out (*iv_len = 12). out NULL (cap 0) asks the size: answer
 * CKR_BUFFER_TOO_SMALL (or CKR_OK) with *out_len the size needed, changing nothing; too small a
 * cap is CKR_BUFFER_TOO_SMALL with the size. Errors are the HSM's, as CK_RVs (p11_ckr). */
typedef CK_RV (*p11_crypt_fn)(void *ctx, bool enc, const struct ohsm_mech_params *prm,
                              const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                              size_t *out_len, uint8_t iv_out[16], size_t *iv_len);

struct p11_stream;

/* A stream for m (from p11_mech_parse with P11_OP_ENCRYPT or P11_OP_DECRYPT, matching enc). It
 * copies what it needs of m, including the GCM AAD and the OAEP label the application's
 * CK_MECHANISM pointed at; m->gcm_iv_out is kept as given (the application's pIv receives the
 * GCM IV at Final). Errors: CKR_ARGUMENTS_BAD (NULL, or m not for this direction),
 * CKR_HOST_MEMORY. The caller frees *out with p11_stream_free. */
CK_RV p11_stream_new(const struct p11_mech *m, bool enc, struct p11_stream **out);

/* C_EncryptUpdate / C_DecryptUpdate: in (len bytes; in may be NULL when len is 0) into out
 * (*out_len: its size in, the bytes written out). Errors: CKR_ARGUMENTS_BAD, the length rules
 * above, CKR_DATA_LEN_RANGE / CKR_ENCRYPTED_DATA_LEN_RANGE (buffered input over
 * P11_STREAM_MAX), fn's errors, CKR_OPERATION_NOT_INITIALIZED (the operation is over). */
CK_RV p11_stream_update(struct p11_stream *s, p11_crypt_fn fn, void *ctx, const uint8_t *in,
                        size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len);

/* C_EncryptFinal / C_DecryptFinal (and, for single-part C_Encrypt / C_Decrypt, after one
 * Update). Errors beyond update's: CKR_DATA_LEN_RANGE (encryption: a partial block left in ECB or
 * CBC), CKR_ENCRYPTED_DATA_LEN_RANGE (decryption: a partial block left, or no CBC_PAD block),
 * CKR_ENCRYPTED_DATA_INVALID (CBC_PAD padding, GCM tag). For CBC_PAD decryption a NULL out is
 * answered with an upper bound (block - 1). On success the operation is over. */
CK_RV p11_stream_final(struct p11_stream *s, p11_crypt_fn fn, void *ctx, CK_BYTE_PTR out,
                       CK_ULONG_PTR out_len);

/* C_Encrypt / C_Decrypt: in as the only part (Update then Final in one call) with the
 * single-part length rules: a NULL out asks the whole output's length (exact, but for CBC_PAD
 * decryption an upper bound: in's length - 1) and changes nothing; a buffer too small is
 * CKR_BUFFER_TOO_SMALL with the exact length (CBC_PAD decryption: found by decrypting the last
 * block alone) and changes nothing either, and nothing is written to out unless all of the output
 * fits, so out may be in (in place). A wrong length of input is refused before any HSM call.
 * Errors: those of update and final. */
CK_RV p11_stream_oneshot(struct p11_stream *s, p11_crypt_fn fn, void *ctx, const uint8_t *in,
                         size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len);

void p11_stream_free(struct p11_stream *s); /* wipes buffered data; NULL ok */

#endif
