/* SPDX-License-Identifier: Apache-2.0
 *
 * SigV4 checks of a request (see auth.h). Message texts follow those AWS services send (quoted
 * in SDK issues), so users searching them find the usual causes; the error names are in
 * awserr.c. The order: header shape, date shape, known key, scope (date, service), clock skew,
 * signed-header set, payload hash, signature.
 */
#include <stdio.h>
#include <string.h>

#include "http/auth.h"
#include "http/awserr.h"

static bool signed_has(const struct ohsm_sigv4_auth *a, const char *name)
{
    size_t n = strlen(name);
    const char *p = a->signed_headers;
    while (*p != '\0') {
        size_t len = strcspn(p, ";");
        if (len == n && memcmp(p, name, n) == 0) {
            return true;
        }
        p += len;
        if (*p == ';') {
            p++;
        }
    }
    return false;
}

bool ohsm_auth_check(const struct ohsm_router *r, const struct ohsm_route_req *req,
                     const char *signing_name, bool ec2, const char *must_sign,
                     struct ohsm_auth_out *out, struct ohsm_aws_err *err)
{
    struct ohsm_sigv4_auth a;
    char msg[256];
    int64_t t = 0;
    const char *hdr = ohsm_route_header(req, "Authorization");

    memset(out, 0, sizeof(*out));
    snprintf(out->region, sizeof(out->region), "%s", r->region);
    if (hdr == NULL) {
        if (r->creds == NULL) {
            return true;
        }
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_MISSING, ec2, NULL,
                        ec2 ? "The request must contain either a valid (registered) AWS access "
                              "key ID or X.509 certificate."
                            : "Missing Authentication Token");
        return false;
    }
    if (ohsm_sigv4_parse_auth(hdr, &a, msg, sizeof(msg)) != OHSM_OK) {
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_INCOMPLETE, ec2, NULL, "%s", msg);
        return false;
    }
    snprintf(out->akid, sizeof(out->akid), "%s", a.akid);
    snprintf(out->region, sizeof(out->region), "%s", a.region);
    if (r->creds == NULL) {
        return true; /* a local stand-in without credentials: any key, signature unchecked */
    }
    const char *amz_date = ohsm_route_header(req, "X-Amz-Date");
    if (amz_date == NULL) {
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_INCOMPLETE, ec2, NULL,
                        "Authorization header requires existence of a 'X-Amz-Date' header.");
        return false;
    }
    if (ohsm_sigv4_parse_date(amz_date, &t) != OHSM_OK) {
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_INCOMPLETE, ec2, NULL,
                        "X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'");
        return false;
    }
    const struct ohsm_secret *secret = ohsm_creds_find(r->creds, a.akid);
    if (secret == NULL) {
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_UNKNOWN_KEY, ec2, NULL,
                        ec2 ? "AWS was not able to validate the provided access credentials"
                            : "The security token included in the request is invalid.");
        return false;
    }
    if (memcmp(a.date, amz_date, 8) != 0) {
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_BAD_SIG, ec2, NULL,
                        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                        "date from HTTP: '%s' != '%.8s', from '%s'.",
                        a.date, amz_date, amz_date);
        return false;
    }
    if (signing_name != NULL && strcmp(signing_name, a.service) != 0) {
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_BAD_SIG, ec2, NULL,
                        "Credential should be scoped to correct service: '%s'. ", signing_name);
        return false;
    }
    uint32_t skew = r->max_skew_s;
    if (t < req->now - (int64_t)skew || t > req->now + (int64_t)skew) {
        char now_s[17], edge_s[17];
        bool past = t < req->now;
        ohsm_sigv4_format_date(req->now, now_s);
        ohsm_sigv4_format_date(past ? req->now - skew : req->now + skew, edge_s);
        if (past) {
            ohsm_awserr_set(err, OHSM_AWSERR_AUTH_EXPIRED, ec2, NULL,
                            "Signature expired: %s is now earlier than %s (%s - %u min.)", amz_date,
                            edge_s, now_s, skew / 60);
        } else {
            ohsm_awserr_set(err, OHSM_AWSERR_AUTH_EXPIRED, ec2, NULL,
                            "Signature not yet current: %s is still later than %s (%s + %u min.)",
                            amz_date, edge_s, now_s, skew / 60);
        }
        return false;
    }
    /* Unsigned, these could be changed in flight without breaking the signature. */
    if (!signed_has(&a, "host") || !signed_has(&a, "x-amz-date") ||
        (must_sign != NULL && ohsm_route_header(req, must_sign) != NULL &&
         !signed_has(&a, must_sign))) {
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_INCOMPLETE, ec2, NULL,
                        "SignedHeaders must include host, x-amz-date%s%s", must_sign ? " and " : "",
                        must_sign ? must_sign : "");
        return false;
    }
    char body_hash[65];
    ohsm_sigv4_sha256_hex(req->body != NULL ? (const void *)req->body : "", req->body_len,
                          body_hash);
    const char *claimed = ohsm_route_header(req, "X-Amz-Content-Sha256");
    if (claimed != NULL && strcmp(claimed, body_hash) != 0) {
        ohsm_awserr_set(err, OHSM_AWSERR_AUTH_BAD_SIG, ec2, NULL,
                        "The provided 'x-amz-content-sha256' header does not match what was "
                        "computed.");
        return false;
    }
    struct ohsm_sigv4_req sr = {
        .method = req->method,
        .path = req->path,
        .query = req->query,
        .hdrs = req->hdrs,
        .n_hdrs = req->n_hdrs,
        .amz_date = amz_date,
        .payload_hash = body_hash,
    };
    ohsm_rv rv = ohsm_sigv4_verify(&sr, &a, secret, msg, sizeof(msg));
    if (rv == OHSM_OK) {
        return true;
    }
    if (rv == OHSM_HOST_MEMORY || rv == OHSM_DEVICE_ERROR) {
        ohsm_awserr_set(err, OHSM_AWSERR_INTERNAL, ec2, NULL,
                        "internal error checking the "
                        "signature");
        return false;
    }
    ohsm_awserr_set(err, OHSM_AWSERR_AUTH_BAD_SIG, ec2, NULL,
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method. Consult the "
                    "service documentation for details.");
    return false;
}
