/* SPDX-License-Identifier: Apache-2.0
 *
 * Token-sign MFA and quorum (M of N) tokens: the pure parts shared by openhsm-hsm, libopenhsm and
 * the CLI (src/core/token.c). No I/O, no clock: callers pass the time.
 *
 * Signatures: what `openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256 -in token.bin` makes,
 * i.e. RSA PKCS#1 v1.5 over the DigestInfo for SHA-256 whose digest is the 32 token bytes (pkeyutl
 * does not hash again). Keys: RSA-2048 public keys, DER SubjectPublicKeyInfo on the wire.
 *
 * MFA token (32 bytes) = SHA-256("openhsm-mfa-v1" | kind | hsm_id | username | nonce[32] |
 * expires u64 BE). The HSM keeps it in the session that asked for it: bound to that HSM, user,
 * session and password step; single use; it expires.
 *
 * Approval record (quorum and registration tokens), OHSM_APPROVAL_REC_LEN bytes, all integers
 * big-endian: "OHQ1" | service u8 | slot u8 | 0 u16 | hsm_id[16] (NUL padded) | nonce[16] |
 * username[32] (NUL padded) | expires u64 (unix s) | key_handle u64 | 0[8]. A quorum token's
 * approval_data is the records of every HSM concatenated; its token is SHA-256(approval_data),
 * and approvers sign that token. Each HSM finds its own record (by hsm_id) and its nonce.
 */
#ifndef OHSM_TOKEN_H
#define OHSM_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

#define OHSM_TOKEN_LEN 32              /* an unsigned token: a SHA-256 value */
#define OHSM_TOKEN_SIG_MAX 512         /* RSA-2048 signatures are 256 bytes */
#define OHSM_TOKEN_PUBKEY_MAX 1024     /* DER of an RSA-2048 SubjectPublicKeyInfo is 294 */
#define OHSM_TOKEN_LIFETIME_DEFAULT 600 /* seconds (CloudHSM shows ~600 s for quorum tokens) */
#define OHSM_TOKEN_LIFETIME_MAX 3600
#define OHSM_APPROVAL_REC_LEN 96
#define OHSM_APPROVAL_MAX_RECS 32      /* HSMs per cluster */
#define OHSM_QUORUM_MAX 8              /* largest quorum value */
#define OHSM_APPROVAL_SIGS_MAX 32      /* signatures in one approval */
/* Added by src/core/token.c. ohsm_mfa_token takes hsm_id and username of 1..OHSM_MFA_STR_MAX
 * bytes and hashes each as u16 BE length | bytes (exact layout in token.c). Approval record
 * strings are graphic ASCII (0x21..0x7e), NUL-terminated within their fields: hsm_id
 * 1..OHSM_APPROVAL_HSM_ID_MAX characters, username 1..OHSM_APPROVAL_USERNAME_MAX. */
#define OHSM_MFA_STR_MAX 255
#define OHSM_APPROVAL_HSM_ID_MAX 15
#define OHSM_APPROVAL_USERNAME_MAX 31

/* Quorum services (values are wire values: stable). */
enum ohsm_qservice {
    OHSM_QS_NONE = 0,
    OHSM_QS_USER = 1,         /* user create/delete/change-password/change-mfa of others */
    OHSM_QS_QUORUM = 2,       /* quorum token-sign set-quorum-value */
    OHSM_QS_CLUSTER = 3,      /* cluster mtls ... */
    OHSM_QS_REGISTRATION = 4, /* proof of possession when registering a quorum key */
    OHSM_QS_KEY_MGMT = 5,     /* key-management: wrap, unwrap, share, unshare, set-attribute */
    OHSM_QS_KEY_USAGE = 6,    /* key-usage: sign */
    OHSM_QS_MAX_ = 6
};

/* "user", "quorum", "cluster", "registration", "key-management", "key-usage"; NULL if invalid. */
OHSM_API const char *ohsm_qservice_name(enum ohsm_qservice s);
/* The reverse (exact, lower case). */
OHSM_API bool ohsm_qservice_parse(const char *name, enum ohsm_qservice *out);

/* MFA token kinds (part of the hash: a registration token cannot log in, and the reverse). */
enum ohsm_mfa_kind { OHSM_MFA_LOGIN = 1, OHSM_MFA_REGISTER = 2 };

/* Computes an MFA token from its parts (see above). nonce: 32 random bytes. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_mfa_token(enum ohsm_mfa_kind kind, const char *hsm_id,
                                               const char *username, const uint8_t nonce[32],
                                               uint64_t expires, uint8_t out[OHSM_TOKEN_LEN]);

/* Checks that der is a DER SubjectPublicKeyInfo of an RSA key of exactly 2048 bits (public
 * exponent odd, >= 3). Errors: OHSM_PUBLIC_KEY_INVALID. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_token_pubkey_check(const uint8_t *der, size_t len);
/* PEM ("-----BEGIN PUBLIC KEY-----" or "RSA PUBLIC KEY") -> DER SubjectPublicKeyInfo, checked
 * as above. *der malloc'd (caller frees). Errors: OHSM_DATA_INVALID (not a public key PEM),
 * OHSM_PUBLIC_KEY_INVALID, OHSM_HOST_MEMORY. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_token_pubkey_from_pem(const char *pem, size_t len,
                                                           uint8_t **der, size_t *der_len);
/* Verifies sig over the 32-byte token (see the top of this file) with the DER public key.
 * OHSM_OK, OHSM_TOKEN_INVALID (bad or empty signature), OHSM_PUBLIC_KEY_INVALID. Constant-time
 * as far as OpenSSL's RSA verification is. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_token_verify(const uint8_t *pub_der, size_t pub_len,
                                                  const uint8_t token[OHSM_TOKEN_LEN],
                                                  const uint8_t *sig, size_t sig_len);
/* SHA-256 of a quorum token's approval data: the token approvers sign. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_approval_digest(const uint8_t *data, size_t len,
                                                     uint8_t out[OHSM_TOKEN_LEN]);

struct ohsm_approval_rec {
    enum ohsm_qservice service;
    uint8_t slot;
    char hsm_id[17];   /* NUL-terminated */
    uint8_t nonce[16];
    char username[33]; /* NUL-terminated */
    uint64_t expires;  /* unix seconds */
    uint64_t key_handle;
};

/* Encodes one record. Errors: OHSM_ARGUMENTS_BAD (names too long, service invalid). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_approval_rec_encode(const struct ohsm_approval_rec *r,
                                                         uint8_t out[OHSM_APPROVAL_REC_LEN]);
/* Decodes one record (bounds, magic, service, NUL padding all checked): OHSM_DATA_INVALID. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_approval_rec_decode(const uint8_t *p, size_t len,
                                                         struct ohsm_approval_rec *out);
/* Finds the record of hsm_id in approval data (a whole number of records, at most
 * OHSM_APPROVAL_MAX_RECS). Errors: OHSM_DATA_INVALID (malformed), OHSM_TOKEN_NOT_FOUND (no
 * record for this HSM, or more than one). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_approval_find(const uint8_t *data, size_t len,
                                                   const char *hsm_id,
                                                   struct ohsm_approval_rec *out);

#endif
