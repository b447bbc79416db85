/* SPDX-License-Identifier: Apache-2.0
 *
 * SigV4 on a routed request: the Authorization header is parsed always (the call's region and
 * access key id come from it); with credentials configured every request must be signed by a
 * known key, within the allowed clock skew, scoped to the service, with a matching signature.
 */
#ifndef OHSM_HTTP_AUTH_H
#define OHSM_HTTP_AUTH_H

#include <stdbool.h>

#include "http/route.h"

struct ohsm_auth_out {
    char akid[129];
    char region[33];
};

/* true when req may proceed (out filled); false with err filled in the protocol's names (ec2).
 * signing_name: the credential scope's service required (NULL: any). must_sign: a header that
 * must be among the signed ones when present in the request (the JSON target), or NULL. */
bool ohsm_auth_check(const struct ohsm_router *r, const struct ohsm_route_req *req,
                     const char *signing_name, bool ec2, const char *must_sign,
                     struct ohsm_auth_out *out, struct ohsm_aws_err *err);

#endif
