/* SPDX-License-Identifier: Apache-2.0
 *
 * Secrets (passwords, keys) in OpenSSL's secure heap when it is set up, always wiped on free; and
 * password hashing with scrypt (memory-hard) and constant-time verification.
 */
#ifndef OHSM_SECRET_H
#define OHSM_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

struct ohsm_secret;

/* Copies len bytes (len may be 0) into a new secret; a NUL follows the bytes so a password can be
 * used as a C string. Caller frees. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_secret_new(const void *buf, size_t len,
                                                struct ohsm_secret **out);
/* Wipes and frees; NULL ok. */
OHSM_API void ohsm_secret_free(struct ohsm_secret *s);
OHSM_API const uint8_t *ohsm_secret_data(const struct ohsm_secret *s); /* borrowed */
OHSM_API size_t ohsm_secret_len(const struct ohsm_secret *s);

/* A stored password record: version, scrypt parameters, salt and derived hash. */
#define OHSM_PWHASH_LEN 52

/* Cost parameters: log2 N, r, p. The defaults are scrypt's interactive-login figures. */
struct ohsm_pwhash_cost {
    uint8_t log2_n;
    uint8_t r;
    uint8_t p;
};
extern const struct ohsm_pwhash_cost ohsm_pwhash_default;

/* Hashes pw with a fresh random salt into rec. Errors: OHSM_DEVICE_ERROR (OpenSSL). */
OHSM_NODISCARD ohsm_rv ohsm_pwhash_make(const struct ohsm_pwhash_cost *cost, const uint8_t *pw,
                                        size_t pw_len, uint8_t rec[OHSM_PWHASH_LEN]);
/* Issue 10: password records that are the same on every HSM of a cluster. */
#define OHSM_PWHASH_SALT_LEN 16
/* As ohsm_pwhash_make, with the given salt. */
OHSM_NODISCARD ohsm_rv ohsm_pwhash_make_salted(const struct ohsm_pwhash_cost *cost,
                                               const uint8_t salt[OHSM_PWHASH_SALT_LEN],
                                               const uint8_t *pw, size_t pw_len,
                                               uint8_t rec[OHSM_PWHASH_LEN]);
/* The salt of a user's password record at a record version: the first 16 bytes of
 * SHA-256("openhsm user salt 1" | 0 | cluster id | 0 | u32 id | u64 version). Every HSM of the
 * cluster derives the same record for the same change (so user records compare by digest across
 * HSMs), and no two users or versions share a salt. Errors: OHSM_ARGUMENTS_BAD, OHSM_DEVICE_ERROR. */
OHSM_NODISCARD ohsm_rv ohsm_pwhash_user_salt(const char *cluster_id, uint32_t id, uint64_t version,
                                             uint8_t salt[OHSM_PWHASH_SALT_LEN]);
/* Was rec (OHSM_PWHASH_LEN bytes) made with salt? */
bool ohsm_pwhash_has_salt(const uint8_t *rec, const uint8_t salt[OHSM_PWHASH_SALT_LEN]);
/* OHSM_OK when pw matches rec (constant-time compare); OHSM_PIN_INCORRECT when not;
 * OHSM_DB when rec is malformed. */
OHSM_NODISCARD ohsm_rv ohsm_pwhash_verify(const uint8_t *rec, size_t rec_len, const uint8_t *pw,
                                          size_t pw_len);

#endif
