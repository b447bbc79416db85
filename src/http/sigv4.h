/* SPDX-License-Identifier: Apache-2.0
 *
 * AWS Signature Version 4 (the "AWS4-HMAC-SHA256" scheme of the AWS General Reference, "Signature
 * Version 4 signing process"): the Authorization header parsed strictly and with bounds, the
 * canonical request, the string to sign, the derived key chain and a constant-time comparison.
 * Pure: no I/O, no clock. Trusts nothing of the request.
 */
#ifndef OHSM_HTTP_SIGV4_H
#define OHSM_HTTP_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"
#include "openhsm/secret.h"

#define OHSM_SIGV4_MAX_AUTH 2048 /* Authorization header bytes */
#define OHSM_SIGV4_MAX_SIGNED 32 /* names in SignedHeaders */
#define OHSM_SIGV4_MAX_NAME 64   /* bytes of one header name */
#define OHSM_SIGV4_MAX_CREQ (256u * 1024u)

struct ohsm_sigv4_auth {
    char akid[129];
    char date[9]; /* the credential scope's YYYYMMDD */
    char region[33];
    char service[33];
    char signed_headers[OHSM_SIGV4_MAX_SIGNED * (OHSM_SIGV4_MAX_NAME + 1)]; /* "a;b" as sent */
    size_t n_signed;
    uint8_t sig[32];
};

struct ohsm_sigv4_hdr {
    const char *name; /* any case */
    const char *value;
};

struct ohsm_sigv4_req {
    const char *method;
    const char *path;  /* raw, as on the request line */
    const char *query; /* raw, without '?'; NULL or "" for none */
    const struct ohsm_sigv4_hdr *hdrs;
    size_t n_hdrs;
    const char *amz_date;     /* the X-Amz-Date value */
    const char *payload_hash; /* lowercase hex SHA-256 of the body */
};

/* Parses an Authorization header value. Errors: OHSM_ARGUMENTS_BAD (malformed; a message goes to
 * msg, cap bytes). */
OHSM_NODISCARD ohsm_rv ohsm_sigv4_parse_auth(const char *hdr, struct ohsm_sigv4_auth *a, char *msg,
                                             size_t cap);
/* Parses "YYYYMMDDTHHMMSSZ" (basic ISO 8601, UTC) into seconds since the epoch.
 * Errors: OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_sigv4_parse_date(const char *s, int64_t *epoch);
/* Formats epoch as "YYYYMMDDTHHMMSSZ" into out (17 bytes). */
void ohsm_sigv4_format_date(int64_t epoch, char out[17]);
/* Lowercase hex SHA-256 of data. */
void ohsm_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* The canonical request into *out (caller frees). Errors: OHSM_ARGUMENTS_BAD (a signed header
 * absent from the request, a malformed query string; message in msg), OHSM_DATA_LEN_RANGE (over
 * OHSM_SIGV4_MAX_CREQ), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_sigv4_canonical_request(const struct ohsm_sigv4_req *r,
                                                    const struct ohsm_sigv4_auth *a, char **out,
                                                    char *msg, size_t cap);
/* The string to sign for creq into out (cap bytes). Errors: OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD ohsm_rv ohsm_sigv4_string_to_sign(const char *amz_date,
                                                 const struct ohsm_sigv4_auth *a, const char *creq,
                                                 char *out, size_t cap);
/* The signature of sts under secret (derived key chain of the scope in a).
 * Errors: OHSM_DEVICE_ERROR (OpenSSL), OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_sigv4_sign(const uint8_t *secret, size_t secret_len,
                                       const struct ohsm_sigv4_auth *a, const char *sts,
                                       uint8_t out[32]);
/* OHSM_OK when a's signature is the one of r under secret; OHSM_SIGNATURE_INVALID when not;
 * other errors as ohsm_sigv4_canonical_request (message in msg). */
OHSM_NODISCARD ohsm_rv ohsm_sigv4_verify(const struct ohsm_sigv4_req *r,
                                         const struct ohsm_sigv4_auth *a,
                                         const struct ohsm_secret *secret, char *msg, size_t cap);

#endif
