/* SPDX-License-Identifier: Apache-2.0
 *
 * Masked objects: a key (or a user record) sealed under the cluster's masking key, so that HSMs of
 * one cluster lineage can move it between them and nobody else can read or alter it. The same
 * sealed form is what an HSM keeps in its database.
 *
 * Format (all integers big-endian), parsed from untrusted input with struct ohsm_rd:
 *   "OHMO" | u8 version (1) | u8 kind (1 key object, 2 user) | u32 rec_len | rec (encoded record:
 *   for keys ohsm_obj_encode's bytes) | 12-byte nonce | u32 ct_len | ct | 16-byte tag
 * AES-256-GCM with a key derived from the masking key (HKDF-SHA256, info "openhsm mask v1"),
 * random nonce, and AAD = every byte before the nonce: the record (attributes, owner, shares,
 * handle, version) is bound to the material, so editing either fails to open.
 */
#ifndef OHSM_MASK_H
#define OHSM_MASK_H

#include <stddef.h>
#include <stdint.h>

#include "openhsm/obj.h"
#include "openhsm/rv.h"
#include "openhsm/secret.h"

#define OHSM_MASKING_KEY_LEN 32
#define OHSM_MASK_MAX (64 * 1024)

/* KEY: rec = ohsm_obj_encode bytes, secret = key material. USER: rec and secret as src/hsm
 * defines (name, type, flags / password record). TOMBSTONE: rec = u64 handle | u64 version
 * (big-endian) of a deleted key, no secret: only an HSM of the lineage can make one, so a sealed
 * tombstone proves the deletion to the other HSMs. */
enum ohsm_mask_kind { OHSM_MASK_KEY = 1, OHSM_MASK_USER = 2, OHSM_MASK_TOMBSTONE = 3 };
/* Tombstones: ohsm_mask_seal refuses (OHSM_ARGUMENTS_BAD) and ohsm_mask_open rejects any whose
 * rec is not exactly 16 bytes or that carries a secret. Seal errors: OHSM_ARGUMENTS_BAD,
 * OHSM_DATA_LEN_RANGE (the sealed form would exceed OHSM_MASK_MAX), OHSM_DEVICE_ERROR. */

struct ohsm_mask_key; /* the derived sealing keys; opaque, wiped on free */

OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mask_key_new(const uint8_t mk[OHSM_MASKING_KEY_LEN],
                                                  struct ohsm_mask_key **out);
OHSM_API void ohsm_mask_key_free(struct ohsm_mask_key *k); /* NULL ok */
/* A non-secret 8-byte fingerprint of the masking key (lineage check at HSM start). */
OHSM_API void ohsm_mask_key_fingerprint(const struct ohsm_mask_key *k, uint8_t fp[8]);

/* Seals rec (public, bound as AAD) and secret into a new buffer (*out malloc'd, caller frees). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mask_seal(const struct ohsm_mask_key *k,
                                               enum ohsm_mask_kind kind, const uint8_t *rec,
                                               size_t rec_len, const uint8_t *secret,
                                               size_t secret_len, uint8_t **out, size_t *out_len);
/* Opens a sealed buffer: checks format and tag. *rec points into in (borrowed); *secret is new
 * (caller frees). Errors: OHSM_MASKED_OBJECT_INVALID (any malformation, wrong kind, wrong key,
 * tampering; nothing is returned then). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mask_open(const struct ohsm_mask_key *k,
                                               enum ohsm_mask_kind kind, const uint8_t *in,
                                               size_t in_len, const uint8_t **rec,
                                               size_t *rec_len, struct ohsm_secret **secret);
/* Key objects: seal/open with the record encoded/decoded by ohsm_obj_encode/decode. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mask_seal_obj(const struct ohsm_mask_key *k,
                                                   const struct ohsm_obj *o,
                                                   const uint8_t *material, size_t len,
                                                   uint8_t **out, size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mask_open_obj(const struct ohsm_mask_key *k,
                                                   const uint8_t *in, size_t in_len,
                                                   struct ohsm_obj *o,
                                                   struct ohsm_secret **material);
/* Keyed digest of an object for sync status (record + material; equal iff both are equal). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mask_digest(const struct ohsm_mask_key *k, const uint8_t *rec,
                                                 size_t rec_len, const uint8_t *secret,
                                                 size_t secret_len, uint8_t out[32]);

#endif
