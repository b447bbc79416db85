/* SPDX-License-Identifier: Apache-2.0
 *
 * AWS error names of the front door, as one table (see awserr.h). Sources:
 * - JSON 1.1 (Coral services such as KMS, CloudHSM v2): observed replies quoted in SDK issues,
 *   e.g. {"__type":"InvalidSignatureException","message":"Signature expired: ... (... - 5 min.)"}
 *   with HTTP 400, {"__type":"UnrecognizedClientException","message":"The security token included
 *   in the request is invalid."} with HTTP 400 (aws-sdk-js#254, aws-sdk-php#1780, s3auth#244).
 *   MissingAuthenticationTokenException: HTTP 403 (the "Common Errors" pages list 403 for
 *   MissingAuthenticationToken, and observed replies of AWS front ends carry 403 with this
 *   __type, e.g. smarty-archives/go-aws-auth#48; that CloudHSM/KMS send 403 is unconfirmed).
 *   IncompleteSignatureException: HTTP 400 ("Common Errors").
 *   UnknownOperationException 400 and SerializationException 400: the names AWS JSON services
 *   answer for an operation the service lacks and for a body that does not parse.
 * - EC2 Query: AuthFailure 401 "AWS was not able to validate the provided access credentials"
 *   (observed, aws-sdk-java-v2#2981, terraform#17273); IncompleteSignature 400, MissingAction 400,
 *   InvalidAction 400, MissingAuthenticationToken 403, RequestExpired 400, MissingParameter 400,
 *   InvalidParameterValue 400, InternalError 500 ("Common Errors" of the Query APIs);
 *   SignatureDoesNotMatch (EC2 error code list; the status 403 is unconfirmed); NoSuchVersion 400
 *   for an unknown Version (unconfirmed: recalled, no source found).
 * - Too big: no AWS name is published for either protocol; 413 with the service's
 *   invalid_request_type (JSON) or InvalidParameterValue (EC2) is our choice.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http/awserr.h"

struct awserr_row {
    unsigned json_status;
    const char *json_type; /* generic name; the service's own name replaces it when given */
    bool json_svc;         /* the service's type (svc_type) is preferred */
    unsigned ec2_status;
    const char *ec2_code;
};

static const struct awserr_row awserr_rows[OHSM_AWSERR_KIND_COUNT] = {
    [OHSM_AWSERR_AUTH_MISSING] = {403, "MissingAuthenticationTokenException", false, 403,
                                  "MissingAuthenticationToken"},
    [OHSM_AWSERR_AUTH_INCOMPLETE] = {400, "IncompleteSignatureException", false, 400,
                                     "IncompleteSignature"},
    [OHSM_AWSERR_AUTH_UNKNOWN_KEY] = {400, "UnrecognizedClientException", false, 401,
                                      "AuthFailure"},
    [OHSM_AWSERR_AUTH_BAD_SIG] = {400, "InvalidSignatureException", false, 403,
                                  "SignatureDoesNotMatch"},
    [OHSM_AWSERR_AUTH_EXPIRED] = {400, "InvalidSignatureException", false, 400, "RequestExpired"},
    [OHSM_AWSERR_BAD_JSON] = {400, "SerializationException", false, 400, "InvalidParameterValue"},
    [OHSM_AWSERR_UNKNOWN_OP] = {400, "UnknownOperationException", true, 400, "InvalidAction"},
    [OHSM_AWSERR_INVALID_REQUEST] = {400, "ValidationException", true, 400,
                                     "InvalidParameterValue"},
    [OHSM_AWSERR_TOO_BIG] = {413, "ValidationException", true, 413, "InvalidParameterValue"},
    [OHSM_AWSERR_NOT_FOUND] = {404, "UnknownOperationException", false, 404, "InvalidAction"},
    [OHSM_AWSERR_METHOD] = {405, "UnknownOperationException", false, 405, "InvalidAction"},
    [OHSM_AWSERR_INTERNAL] = {500, "InternalFailure", false, 500, "InternalError"},
    [OHSM_AWSERR_MISSING_ACTION] = {400, "UnknownOperationException", false, 400, "MissingAction"},
    [OHSM_AWSERR_INVALID_ACTION] = {400, "UnknownOperationException", false, 400, "InvalidAction"},
    [OHSM_AWSERR_MISSING_VERSION] = {400, "ValidationException", false, 400, "MissingParameter"},
    [OHSM_AWSERR_BAD_VERSION] = {400, "ValidationException", false, 400, "NoSuchVersion"},
    [OHSM_AWSERR_BAD_FORM] = {400, "SerializationException", false, 400, "InvalidParameterValue"},
};

struct ohsm_aws_err *ohsm_aws_errf(struct ohsm_aws_err *e, unsigned status, const char *type,
                                   const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    snprintf(e->type, sizeof(e->type), "%s", type != NULL ? type : "InternalFailure");
    va_start(ap, fmt);
    /* Truncation is the documented behaviour for long messages. */
    (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return e;
}

void ohsm_awserr_set(struct ohsm_aws_err *e, enum ohsm_awserr_kind kind, bool ec2,
                     const char *svc_type, const char *fmt, ...)
{
    va_list ap;
    const struct awserr_row *r =
        &awserr_rows[kind < OHSM_AWSERR_KIND_COUNT ? kind : OHSM_AWSERR_INTERNAL];
    const char *type = r->json_type;
    if (ec2) {
        type = r->ec2_code;
    } else if (r->json_svc && svc_type != NULL && svc_type[0] != '\0') {
        type = svc_type;
    }
    e->status = ec2 ? r->ec2_status : r->json_status;
    snprintf(e->type, sizeof(e->type), "%s", type);
    va_start(ap, fmt);
    (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}
