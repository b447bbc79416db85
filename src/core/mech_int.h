/* SPDX-License-Identifier: Apache-2.0
 *
 * Internals shared by the mechanism modules: the entry points in mech.c dispatch to the
 * symmetric implementations in mech_sym.c and the public-key ones in mech_pk.c, and all of them
 * use the hash table and OpenSSL helpers of mech.c. Not for use outside src/core. Includes
 * OpenSSL: a file including this defines OPENSSL_API_COMPAT and OPENSSL_NO_DEPRECATED first.
 * Every function is stateless and thread-safe; arguments are checked by the public entry points
 * (k, m, out_len non-NULL) and the rest here, as in mech.h.
 */
#ifndef OHSM_MECH_INT_H
#define OHSM_MECH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "openhsm/mech.h"
#include "openhsm/rv.h"

/* ---- mech.c ---- */

/* Drains this thread's OpenSSL error queue (core does not print) and returns rv. */
OHSM_NODISCARD ohsm_rv ohsm_mech_ossl_fail(ohsm_rv rv);

/* OHSM_BUFFER_TOO_SMALL with *out_len = needed when cap < needed; else OHSM_OK. */
OHSM_NODISCARD ohsm_rv ohsm_mech_too_small(size_t needed, size_t cap, size_t *out_len);

/* The static EVP_MD of an enum ohsm_hash; NULL for OHSM_H_NONE and unknown values. */
const EVP_MD *ohsm_mech_md_of(uint32_t h);

/* Context caches (struct ohsm_mech_cache, see mech.h). A context is described by a tag: its
 * kind (OHSM_MECH_CTX_*) in the low 8 bits and everything its set-up depends on above (beyond the
 * key, which the cache belongs to). ohsm_mech_cache_take returns, reserved for this thread, a
 * context with this tag, or NULL with *slot naming a reserved empty slot (the caller makes a
 * context and gives it back with put), or NULL with *slot = OHSM_MECH_NO_SLOT (cache NULL or
 * every slot busy: the caller makes its own and frees it). ohsm_mech_cache_put gives a context
 * back after use (ok: it may be used again) or frees it (!ok, or no slot). */
#define OHSM_MECH_CTX_PKEY 1u   /* EVP_PKEY_CTX */
#define OHSM_MECH_CTX_CIPHER 2u /* EVP_CIPHER_CTX */
#define OHSM_MECH_NO_SLOT ((size_t)-1)
void *ohsm_mech_cache_take(struct ohsm_mech_cache *c, uint64_t tag, size_t *slot);
void ohsm_mech_cache_put(struct ohsm_mech_cache *c, size_t slot, uint64_t tag, void *ctx, bool ok);

/* ---- mech_sym.c ---- */

/* AES-GCM/CBC-PAD/CBC/CTR/ECB (ohsm_mech_encrypt's contract; generates the IV into iv_out when
 * m has none). */
OHSM_NODISCARD ohsm_rv ohsm_mech_aes_encrypt(const struct ohsm_mech_key *k,
                                             const struct ohsm_mech_params *m, const uint8_t *in,
                                             size_t in_len, uint8_t *out, size_t cap,
                                             size_t *out_len, uint8_t *iv_out, size_t iv_cap,
                                             size_t *iv_len);
OHSM_NODISCARD ohsm_rv ohsm_mech_aes_decrypt(const struct ohsm_mech_key *k,
                                             const struct ohsm_mech_params *m, const uint8_t *in,
                                             size_t in_len, uint8_t *out, size_t cap,
                                             size_t *out_len);

/* 3DES-ECB/CBC/CBC-PAD (ohsm_mech_encrypt's and ohsm_mech_decrypt's contracts). */
OHSM_NODISCARD ohsm_rv ohsm_mech_des3_encrypt(const struct ohsm_mech_key *k,
                                              const struct ohsm_mech_params *m, const uint8_t *in,
                                              size_t in_len, uint8_t *out, size_t cap,
                                              size_t *out_len, uint8_t *iv_out, size_t iv_cap,
                                              size_t *iv_len);
OHSM_NODISCARD ohsm_rv ohsm_mech_des3_decrypt(const struct ohsm_mech_key *k,
                                              const struct ohsm_mech_params *m, const uint8_t *in,
                                              size_t in_len, uint8_t *out, size_t cap,
                                              size_t *out_len);

/* HMAC (RFC 2104) of in with a generic secret or AES key: the full hash length into tag (wiped
 * on failure; the caller wipes it after use). */
OHSM_NODISCARD ohsm_rv ohsm_mech_hmac_tag(const struct ohsm_mech_key *k,
                                          const struct ohsm_mech_params *m, const uint8_t *in,
                                          size_t in_len, uint8_t tag[EVP_MAX_MD_SIZE],
                                          size_t *tag_len);

/* AES key wrap: RFC 3394, RFC 5649 and the CloudHSM PKCS#5/zero padded variants. Unwrap
 * failures are OHSM_WRAPPED_KEY_INVALID. */
OHSM_NODISCARD ohsm_rv ohsm_mech_kw_wrap(const struct ohsm_mech_key *k,
                                         const struct ohsm_mech_params *m, const uint8_t *material,
                                         size_t len, uint8_t *out, size_t cap, size_t *out_len);
OHSM_NODISCARD ohsm_rv ohsm_mech_kw_unwrap(const struct ohsm_mech_key *k,
                                           const struct ohsm_mech_params *m, const uint8_t *in,
                                           size_t in_len, uint8_t *out, size_t cap,
                                           size_t *out_len);

/* AES-GCM wrapping: the blob is iv || ciphertext || tag. */
OHSM_NODISCARD ohsm_rv ohsm_mech_gcm_wrap(const struct ohsm_mech_key *k,
                                          const struct ohsm_mech_params *m, const uint8_t *material,
                                          size_t len, uint8_t *out, size_t cap, size_t *out_len);
OHSM_NODISCARD ohsm_rv ohsm_mech_gcm_unwrap(const struct ohsm_mech_key *k,
                                            const struct ohsm_mech_params *m, const uint8_t *in,
                                            size_t in_len, uint8_t *out, size_t cap,
                                            size_t *out_len);

/* ---- mech_wrap.c ---- */

/* OHSM_M_RSA_AES_KW (see openhsm/mech.h). Unwrap failures are OHSM_WRAPPED_KEY_INVALID. */
OHSM_NODISCARD ohsm_rv ohsm_mech_rsa_aes_wrap(const struct ohsm_mech_key *k,
                                              const struct ohsm_mech_params *m,
                                              const uint8_t *material, size_t len, uint8_t *out,
                                              size_t cap, size_t *out_len);
OHSM_NODISCARD ohsm_rv ohsm_mech_rsa_aes_unwrap(const struct ohsm_mech_key *k,
                                                const struct ohsm_mech_params *m,
                                                const uint8_t *in, size_t in_len, uint8_t *out,
                                                size_t cap, size_t *out_len);

/* ---- mech_pk.c ---- */

/* RSA-OAEP / PKCS#1 v1.5 encryption with a public key, decryption with a private one. */
OHSM_NODISCARD ohsm_rv ohsm_mech_rsa_encrypt(const struct ohsm_mech_key *k,
                                             const struct ohsm_mech_params *m, const uint8_t *in,
                                             size_t in_len, uint8_t *out, size_t cap,
                                             size_t *out_len);
OHSM_NODISCARD ohsm_rv ohsm_mech_rsa_decrypt(const struct ohsm_mech_key *k,
                                             const struct ohsm_mech_params *m, const uint8_t *in,
                                             size_t in_len, uint8_t *out, size_t cap,
                                             size_t *out_len);

/* RSA PKCS#1 v1.5 / PSS and ECDSA (raw r || s) signatures. */
OHSM_NODISCARD ohsm_rv ohsm_mech_pk_sign(const struct ohsm_mech_key *k,
                                         const struct ohsm_mech_params *m, const uint8_t *in,
                                         size_t in_len, uint8_t *out, size_t cap, size_t *out_len);
OHSM_NODISCARD ohsm_rv ohsm_mech_pk_verify(const struct ohsm_mech_key *k,
                                           const struct ohsm_mech_params *m, const uint8_t *in,
                                           size_t in_len, const uint8_t *sig, size_t sig_len);

/* ---- mech_ecdh.c ---- */

/* The ANSI X9.63 KDF (SEC 1 v2 §3.6.1) through OpenSSL's EVP_KDF "X963KDF": out_len bytes from
 * secret z and shared info (may be empty) with hash (not OHSM_H_NONE). Separate from
 * ohsm_mech_ecdh so the unit tests can check it against NIST's vectors. Errors:
 * OHSM_MECHANISM_PARAM_INVALID (hash), OHSM_DEVICE_ERROR (out wiped). */
OHSM_NODISCARD ohsm_rv ohsm_mech_x963_kdf(uint32_t hash, const uint8_t *z, size_t z_len,
                                          const uint8_t *info, size_t info_len, uint8_t *out,
                                          size_t out_len);

#endif
