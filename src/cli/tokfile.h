/* SPDX-License-Identifier: Apache-2.0
 *
 * The CloudHSM CLI's token files (issue 5): parsing and writing, pure (no cluster). Files are
 * untrusted input: sizes are bounded, every field is type-checked, base64 is strict (RFC 4648, with
 * padding, no whitespace inside a value), unknown members are refused.
 *
 * MFA token file (login, change-mfa), one pair per HSM in cluster order:
 *   {"version":"2.0","tokens":[{"unsigned":"<b64 32 bytes>","signed":"<b64 signature or empty>"},..]}
 * Registration token file (quorum token-sign generate --service registration), one pair:
 *   {"version":"2.0","tokens":[{"approval_data":"<b64>","unsigned":"<b64>","signed":"<b64|empty>"}]}
 * Quorum token file (quorum token-sign generate --service user|quorum|cluster|...):
 *   {"version":"2.0","approval_data":"<b64>","token":"<b64 SHA-256(approval_data)>",
 *    "signatures":[{"username":"<name>","signature":"<b64>"},...]}
 */
#ifndef OHSM_CLI_TOKFILE_H
#define OHSM_CLI_TOKFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"
#include "openhsm/token.h"

#define OHSM_TOKFILE_MAX (256 * 1024) /* bytes read from a token file at most */
#define OHSM_TOKFILE_VERSION "2.0"
/* Characters of the padded base64 of n bytes (no NUL). */
#define OHSM_TOKFILE_B64_LEN(n) (((size_t)(n) + 2) / 3 * 4)

struct ohsm_tokpair {
    uint8_t unsigned_tok[OHSM_TOKEN_LEN];
    uint8_t *approval; /* registration files only (else NULL); malloc'd */
    size_t approval_len;
    uint8_t *sig; /* NULL / 0 when "signed" is empty; malloc'd */
    size_t sig_len;
};

struct ohsm_tokfile {
    struct ohsm_tokpair *pairs;
    size_t n;
};

struct ohsm_qsig {
    char username[33];
    uint8_t *sig; /* malloc'd */
    size_t sig_len;
};

struct ohsm_qtokfile {
    uint8_t *approval; /* approval_data, malloc'd */
    size_t approval_len;
    uint8_t token[OHSM_TOKEN_LEN];
    struct ohsm_qsig *sigs;
    size_t n;
};

/* Parses an MFA (with_approval false) or registration (true) token file from memory. Checks:
 * JSON object, version "2.0", tokens a non-empty array (<= OHSM_APPROVAL_MAX_RECS), each unsigned
 * exactly 32 bytes, signed empty or <= OHSM_TOKEN_SIG_MAX bytes; registration: approval_data
 * present and unsigned == SHA-256(approval_data). Errors: OHSM_DATA_INVALID with a message in err
 * ("token file is not valid JSON: ...", "unsupported token file version \"1.0\"", ...). */
OHSM_NODISCARD ohsm_rv ohsm_tokfile_parse(const char *buf, size_t len, bool with_approval,
                                          struct ohsm_tokfile *out, char *err, size_t err_cap);
void ohsm_tokfile_free(struct ohsm_tokfile *f); /* frees the contents; f itself not */

/* Serialises an unsigned MFA token file (every "signed" empty), pretty-printed as the guide shows.
 * *json malloc'd, NUL-terminated. */
OHSM_NODISCARD ohsm_rv ohsm_tokfile_format_mfa(const uint8_t (*tokens)[OHSM_TOKEN_LEN], size_t n,
                                               char **json);
/* Serialises an unsigned registration token file for approval data. */
OHSM_NODISCARD ohsm_rv ohsm_tokfile_format_registration(const uint8_t *approval, size_t len,
                                                        char **json);

/* Parses a quorum token file: version, approval_data (a whole number of approval records),
 * token == SHA-256(approval_data), signatures an array (<= OHSM_APPROVAL_SIGS_MAX) of
 * {username (a valid username), signature (1..OHSM_TOKEN_SIG_MAX bytes)}. Errors:
 * OHSM_DATA_INVALID with a message in err. */
OHSM_NODISCARD ohsm_rv ohsm_qtokfile_parse(const char *buf, size_t len, struct ohsm_qtokfile *out,
                                           char *err, size_t err_cap);
void ohsm_qtokfile_free(struct ohsm_qtokfile *f);
/* Serialises an unsigned quorum token file (empty signatures) for approval data. */
OHSM_NODISCARD ohsm_rv ohsm_qtokfile_format(const uint8_t *approval, size_t len, char **json);

/* Reads a whole file (at most OHSM_TOKFILE_MAX bytes) into a NUL-terminated malloc'd buffer.
 * Errors: OHSM_DATA_INVALID (message in err: missing, unreadable, too large). */
OHSM_NODISCARD ohsm_rv ohsm_tokfile_read(const char *path, char **buf, size_t *len, char *err,
                                         size_t err_cap);
/* Writes json to path as a new 0600 file, fsync'd and renamed over an existing regular file (a
 * symlink or other non-regular file there is refused and left alone). Errors: OHSM_DATA_INVALID
 * (message in err). */
OHSM_NODISCARD ohsm_rv ohsm_tokfile_write(const char *path, const char *json, char *err,
                                          size_t err_cap);

#endif
