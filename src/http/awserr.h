/* SPDX-License-Identifier: Apache-2.0
 *
 * The front door's own errors (auth, envelope, routing) as data: one row per kind, with the
 * names and HTTP statuses AWS uses for it in the JSON 1.1 protocol and in the EC2 Query protocol.
 * Handlers' errors do not go through this table; they fill struct ohsm_aws_err themselves.
 */
#ifndef OHSM_HTTP_AWSERR_H
#define OHSM_HTTP_AWSERR_H

#include <stdbool.h>

#include "http/http.h"

enum ohsm_awserr_kind {
    OHSM_AWSERR_AUTH_MISSING,     /* no Authorization header, credentials configured */
    OHSM_AWSERR_AUTH_INCOMPLETE,  /* malformed Authorization, missing X-Amz-Date, ... */
    OHSM_AWSERR_AUTH_UNKNOWN_KEY, /* access key id not in the credentials file */
    OHSM_AWSERR_AUTH_BAD_SIG,     /* signature, scope or payload hash mismatch */
    OHSM_AWSERR_AUTH_EXPIRED,     /* X-Amz-Date outside the allowed skew */
    OHSM_AWSERR_BAD_JSON,         /* body not a JSON object (strict parse) */
    OHSM_AWSERR_UNKNOWN_OP,       /* unknown X-Amz-Target (prefix or operation) */
    OHSM_AWSERR_INVALID_REQUEST,  /* service's invalid_request_type: validation, content type */
    OHSM_AWSERR_TOO_BIG,          /* body over the bound */
    OHSM_AWSERR_NOT_FOUND,        /* a path other than / */
    OHSM_AWSERR_METHOD,           /* a method other than POST (or GET with a query) */
    OHSM_AWSERR_INTERNAL,         /* handler failed without saying why, reply overflow */
    OHSM_AWSERR_MISSING_ACTION,   /* EC2: no Action */
    OHSM_AWSERR_INVALID_ACTION,   /* EC2: unknown Action */
    OHSM_AWSERR_MISSING_VERSION,  /* EC2: no Version */
    OHSM_AWSERR_BAD_VERSION,      /* EC2: another Version */
    OHSM_AWSERR_BAD_FORM,         /* EC2: malformed form body or query */
    OHSM_AWSERR_KIND_COUNT
};

/* Fills e for kind in the protocol (ec2 or JSON 1.1). svc_type: the service's type to use where
 * the row says "the service's" (invalid_request_type / unknown_op_type); NULL falls back to the
 * row's generic name. The message is printf-formatted and truncated to fit. */
void ohsm_awserr_set(struct ohsm_aws_err *e, enum ohsm_awserr_kind kind, bool ec2,
                     const char *svc_type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
