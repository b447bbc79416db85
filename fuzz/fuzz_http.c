/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for the front door's parsers of untrusted bytes (src/http): the input is decoded
 * as a form body, an Authorization header, a credentials file, a JSON 1.1 body and a SigV4 query
 * string, and finally routed whole (as a JSON body and as an EC2 form body) through the router
 * with a toy service. Whatever parses must keep the parsers' promises (bounds, NUL-terminated
 * text, no repeats); any broken promise aborts. Seeds: fuzz/corpus/http.
 */
#include <stdlib.h>
#include <string.h>

#include "http/creds.h"
#include "http/form.h"
#include "http/route.h"
#include "http/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void form(const char *buf, size_t len, unsigned flags)
{
    struct ohsm_form *f = NULL;
    char msg[128];
    if (ohsm_form_parse(buf, len, flags, &f, msg, sizeof(msg)) != OHSM_OK) {
        check(f == NULL && msg[0] != '\0');
        return;
    }
    size_t n = ohsm_form_count(f);
    check(n <= OHSM_FORM_MAX_PARAMS);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = ohsm_form_name(f, i), *v = ohsm_form_value(f, i);
        check(k != NULL && v != NULL && k[0] != '\0');
        total += strlen(k) + strlen(v);
        if ((flags & OHSM_FORM_ALLOW_DUP) == 0) {
            check(ohsm_form_get(f, k) == v);
        }
    }
    check(total <= len);
    check(ohsm_form_name(f, n) == NULL);
    ohsm_form_free(f);
}

static void auth(const char *s)
{
    struct ohsm_sigv4_auth a;
    char msg[128];
    if (ohsm_sigv4_parse_auth(s, &a, msg, sizeof(msg)) != OHSM_OK) {
        check(msg[0] != '\0');
        return;
    }
    check(a.akid[0] != '\0' && strlen(a.date) == 8 && a.region[0] != '\0' && a.service[0] != '\0' &&
          a.n_signed >= 1 && a.n_signed <= OHSM_SIGV4_MAX_SIGNED);
}

static void creds(const char *buf, size_t len)
{
    struct ohsm_creds *c = NULL;
    char msg[128];
    if (ohsm_creds_parse(buf, len, &c, msg, sizeof(msg)) != OHSM_OK) {
        check(c == NULL);
        return;
    }
    check(ohsm_creds_count(c) >= 1 && ohsm_creds_count(c) <= OHSM_CREDS_MAX_KEYS);
    ohsm_creds_free(c);
}

static void json_body(const uint8_t *buf, size_t len)
{
    char msg[160];
    json_t *j = ohsm_route_parse_json(buf, len, msg, sizeof(msg));
    check(j == NULL || json_is_object(j));
    json_decref(j);
}

static void query_string(const char *s)
{
    struct ohsm_sigv4_auth a = {.n_signed = 1, .signed_headers = "host"};
    struct ohsm_sigv4_hdr h = {"Host", "example.amazonaws.com"};
    struct ohsm_sigv4_req r = {.method = "GET",
                               .path = "/",
                               .query = s,
                               .hdrs = &h,
                               .n_hdrs = 1,
                               .amz_date = "20150830T123600Z",
                               .payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
                                               "a495991b7852b855"};
    char msg[128];
    char *creq = NULL;
    if (ohsm_sigv4_canonical_request(&r, &a, &creq, msg, sizeof(msg)) == OHSM_OK) {
        check(strncmp(creq, "GET\n/\n", 6) == 0);
        free(creq);
    }
}

static json_t *toy(void *ctx, const struct ohsm_http_call *call, json_t *in,
                   struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)err;
    return json_deep_copy(in);
}

static int toy_q(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                 struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)err;
    for (size_t i = 0; i < ohsm_form_count(in); i++) {
        ohsm_xml_text(out, "item", ohsm_form_value(in, i));
    }
    return 0;
}

static void routed(const uint8_t *buf, size_t len)
{
    static const struct ohsm_json_op ops[] = {{"Op", toy}};
    static const struct ohsm_json_service js = {.target_prefix = "P",
                                                .invalid_request_type = "Invalid",
                                                .unknown_op_type = "Unknown",
                                                .ops = ops,
                                                .n_ops = 1};
    static const struct ohsm_query_op qops[] = {{"Act", toy_q}};
    static const struct ohsm_query_service qs = {
        .version = "2016-11-15", .xmlns = "x", .ops = qops, .n_ops = 1};
    struct ohsm_http_cfg cfg = {.region = "us-east-1", .account_id = "111122223333"};
    struct ohsm_router r;
    struct ohsm_route_reply rep;
    char msg[64];
    check(ohsm_router_init(&r, &cfg, msg, sizeof(msg)) == OHSM_OK);
    check(ohsm_router_add_json(&r, &js) == OHSM_OK && ohsm_router_add_query(&r, &qs) == OHSM_OK);
    struct ohsm_sigv4_hdr jh[2] = {{"Content-Type", "application/x-amz-json-1.1"},
                                   {"X-Amz-Target", "P.Op"}};
    struct ohsm_route_req req = {.method = "POST",
                                 .path = "/",
                                 .hdrs = jh,
                                 .n_hdrs = 2,
                                 .body = buf,
                                 .body_len = len,
                                 .now = 0,
                                 .request_id = "id"};
    ohsm_router_handle(&r, &req, &rep);
    check(rep.status == 200 || (rep.status >= 400 && rep.status <= 599));
    ohsm_route_reply_free(&rep);
    struct ohsm_sigv4_hdr fh[1] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    req.hdrs = fh;
    req.n_hdrs = 1;
    ohsm_router_handle(&r, &req, &rep);
    check(rep.status == 200 || (rep.status >= 400 && rep.status <= 599));
    ohsm_route_reply_free(&rep);
    ohsm_router_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024) {
        return 0;
    }
    char *s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    form(s, size, 0);
    form(s, size, OHSM_FORM_ALLOW_DUP);
    auth(s);
    creds(s, size);
    json_body(data, size);
    query_string(s);
    routed(data, size);
    free(s);
    return 0;
}
