/* SPDX-License-Identifier: Apache-2.0
 * The routing table and envelopes without sockets: JSON 1.1 and EC2 Query success and error
 * shapes, the order of checks, and SigV4 with credentials (good, unknown key, bad signature,
 * expired, wrong scope, unsigned, tampered body). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/route.h"

#define NOW 1440938160 /* 20150830T123600Z */
#define RID "11111111-2222-4333-8444-555555555555"

static int calls;

static json_t *echo(void *ctx, const struct ohsm_http_call *call, json_t *in,
                    struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)err;
    calls++;
    return json_pack("{s:O, s:s, s:s, s:s}", "in", in, "region", call->region, "akid",
                     call->access_key_id, "account", call->account_id);
}

static json_t *fail_typed(void *ctx, const struct ohsm_http_call *call, json_t *in,
                          struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)in;
    calls++;
    ohsm_aws_errf(err, 400, "CloudHsmResourceNotFoundException", "no such %s", "cluster");
    return NULL;
}

static json_t *fail_silent(void *ctx, const struct ohsm_http_call *call, json_t *in,
                           struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)in;
    (void)err;
    calls++;
    return NULL;
}

static int validate(const char *op, json_t *in, char *msg, size_t cap)
{
    (void)op;
    if (json_object_get(in, "Bad") != NULL) {
        snprintf(msg, cap, "Bad is not allowed");
        return -1;
    }
    return 0;
}

static int azs(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
               struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)err;
    calls++;
    ohsm_xml_text(out, "zone", call->region);
    ohsm_xml_text(out, "echo", ohsm_form_get(in, "X"));
    return 0;
}

static int q_fail(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                  struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)in;
    (void)out;
    calls++;
    ohsm_aws_errf(err, 400, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist",
                  "s<1>");
    return -1;
}

static const struct ohsm_json_op jops[] = {
    {"DescribeClusters", echo}, {"DeleteCluster", fail_typed}, {"Silent", fail_silent}};
static const struct ohsm_json_service jsvc = {
    .target_prefix = "BaldrApiService",
    .signing_name = "cloudhsm",
    .invalid_request_type = "CloudHsmInvalidRequestException",
    .unknown_op_type = "UnknownOperationException",
    .ops = jops,
    .n_ops = 3,
    .validate = validate,
};
static const struct ohsm_query_op qops[] = {{"DescribeAvailabilityZones", azs},
                                            {"DeleteSubnet", q_fail}};
static const struct ohsm_query_service qsvc = {
    .signing_name = "ec2",
    .version = "2016-11-15",
    .xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/",
    .ops = qops,
    .n_ops = 2,
};

struct rq {
    const char *method;
    const char *path;
    const char *query;
    struct ohsm_sigv4_hdr h[8];
    size_t n;
    const char *body;
};

static void run(const struct ohsm_router *r, const struct rq *q, struct ohsm_route_reply *out)
{
    struct ohsm_route_req req = {
        .method = q->method != NULL ? q->method : "POST",
        .path = q->path != NULL ? q->path : "/",
        .query = q->query,
        .hdrs = q->h,
        .n_hdrs = q->n,
        .body = (const uint8_t *)(q->body != NULL ? q->body : ""),
        .body_len = q->body != NULL ? strlen(q->body) : 0,
        .now = NOW,
        .request_id = RID,
    };
    ohsm_router_handle(r, &req, out);
}

static void router(struct ohsm_router *r, const char *creds_path)
{
    struct ohsm_http_cfg cfg = {
        .region = "eu-west-1", .account_id = "111122223333", .credentials_file = creds_path};
    char msg[128];
    assert_int_equal(ohsm_router_init(r, &cfg, msg, sizeof(msg)), OHSM_OK);
    assert_int_equal(ohsm_router_add_json(r, &jsvc), OHSM_OK);
    assert_int_equal(ohsm_router_add_query(r, &qsvc), OHSM_OK);
}

/* Checks a JSON error reply: status, __type, and that no handler ran. */
static void json_err(const struct ohsm_router *r, const struct rq *q, unsigned status,
                     const char *type)
{
    struct ohsm_route_reply rep;
    int before = calls;
    run(r, q, &rep);
    print_message("want %u %s, got %u %s\n", status, type, rep.status, rep.body);
    assert_int_equal(rep.status, status);
    assert_string_equal(rep.content_type, "application/x-amz-json-1.1");
    json_t *j = json_loadb(rep.body, rep.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "__type")), type);
    assert_true(json_is_string(json_object_get(j, "message")));
    json_decref(j);
    ohsm_route_reply_free(&rep);
    assert_int_equal(calls, before);
}

#define JSON_HDRS(op)                                                                              \
    {"Content-Type", "application/x-amz-json-1.1"},                                                \
    {                                                                                              \
        "X-Amz-Target", "BaldrApiService." op                                                      \
    }

/* Success: compact JSON of the handler's result, with the call's region and account. */
static void test_route_json_ok(void **state)
{
    (void)state;
    struct ohsm_router r;
    struct ohsm_route_reply rep;
    router(&r, NULL);
    struct rq q = {.h = {JSON_HDRS("DescribeClusters")}, .n = 2, .body = "{\"NextToken\": \"t\"}"};
    run(&r, &q, &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(rep.body, "{\"in\":{\"NextToken\":\"t\"},\"region\":\"eu-west-1\","
                                  "\"akid\":\"\",\"account\":\"111122223333\"}");
    assert_string_equal(rep.label, "BaldrApiService.DescribeClusters");
    ohsm_route_reply_free(&rep);
    /* Empty body is {}; JSON 1.0 content type accepted; an unchecked signature gives region. */
    struct rq q2 = {.h = {{"Content-Type", "application/x-amz-json-1.0"},
                          {"X-Amz-Target", "BaldrApiService.DescribeClusters"},
                          {"Authorization",
                           "AWS4-HMAC-SHA256 Credential=AKIDX/20150830/ap-south-1/cloudhsm/"
                           "aws4_request, SignedHeaders=host, Signature="
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
                    .n = 3};
    run(&r, &q2, &rep);
    assert_int_equal(rep.status, 200);
    assert_non_null(strstr(rep.body, "\"region\":\"ap-south-1\",\"akid\":\"AKIDX\""));
    ohsm_route_reply_free(&rep);
    ohsm_router_fini(&r);
}

/* Each envelope error has AWS's name and status, and no handler runs. */
static void test_route_json_errors(void **state)
{
    (void)state;
    struct ohsm_router r;
    router(&r, NULL);
    struct rq q = {.h = {JSON_HDRS("Nope")}, .n = 2};
    json_err(&r, &q, 400, "UnknownOperationException");
    q.h[1].value = "OtherService.DescribeClusters";
    json_err(&r, &q, 400, "UnknownOperationException");
    q.h[1].value = "NoDot";
    json_err(&r, &q, 400, "UnknownOperationException");
    q.h[1].value = "BaldrApiService.DescribeClusters";
    q.body = "{\"a\":";
    json_err(&r, &q, 400, "SerializationException");
    q.body = "[1,2]";
    json_err(&r, &q, 400, "SerializationException");
    q.body = "{\"a\":1,\"a\":2}";
    json_err(&r, &q, 400, "SerializationException");
    q.body = "{\"a\":\"\\u0000\"}";
    json_err(&r, &q, 400, "SerializationException");
    q.body = "{\"Bad\":1}";
    json_err(&r, &q, 400, "CloudHsmInvalidRequestException");
    q.body = NULL;
    q.h[0].value = "application/json";
    json_err(&r, &q, 400, "CloudHsmInvalidRequestException");
    struct rq nothing = {.h = {{"Content-Type", "text/plain"}}, .n = 1};
    json_err(&r, &nothing, 400, "UnknownOperationException");
    struct rq path = {.path = "/x", .h = {JSON_HDRS("DescribeClusters")}, .n = 2};
    json_err(&r, &path, 404, "UnknownOperationException");
    struct rq put = {.method = "PUT", .h = {JSON_HDRS("DescribeClusters")}, .n = 2};
    json_err(&r, &put, 405, "UnknownOperationException");
    struct rq get = {.method = "GET"};
    json_err(&r, &get, 405, "UnknownOperationException");
    struct rq badauth = {.h = {JSON_HDRS("DescribeClusters"), {"Authorization", "AWS4 x"}}, .n = 3};
    json_err(&r, &badauth, 400, "IncompleteSignatureException");
    ohsm_router_fini(&r);
}

/* A handler's own error passes through; one without an error becomes InternalFailure 500. */
static void test_route_handler_errors(void **state)
{
    (void)state;
    struct ohsm_router r;
    struct ohsm_route_reply rep;
    router(&r, NULL);
    struct rq q = {.h = {JSON_HDRS("DeleteCluster")}, .n = 2};
    run(&r, &q, &rep);
    assert_int_equal(rep.status, 400);
    assert_string_equal(rep.body, "{\"__type\":\"CloudHsmResourceNotFoundException\","
                                  "\"message\":\"no such cluster\"}");
    ohsm_route_reply_free(&rep);
    q.h[1].value = "BaldrApiService.Silent";
    run(&r, &q, &rep);
    assert_int_equal(rep.status, 500);
    assert_non_null(strstr(rep.body, "\"__type\":\"InternalFailure\""));
    ohsm_route_reply_free(&rep);
    ohsm_router_fini(&r);
}

#define FORM                                                                                       \
    {                                                                                              \
        "Content-Type", "application/x-www-form-urlencoded; charset=utf-8"                         \
    }

static void xml_err(const struct ohsm_router *r, const struct rq *q, unsigned status,
                    const char *code)
{
    struct ohsm_route_reply rep;
    char want[160];
    int before = calls;
    run(r, q, &rep);
    print_message("want %u %s, got %u %s\n", status, code, rep.status, rep.body);
    assert_int_equal(rep.status, status);
    assert_string_equal(rep.content_type, "text/xml;charset=UTF-8");
    snprintf(want, sizeof(want), "<Response><Errors><Error><Code>%s</Code><Message>", code);
    assert_non_null(strstr(rep.body, want));
    assert_non_null(strstr(rep.body, "</Error></Errors><RequestID>" RID "</RequestID></Response>"));
    ohsm_route_reply_free(&rep);
    assert_int_equal(calls, before);
}

/* EC2: the success envelope, GET with a query, and the Query errors. */
static void test_route_query(void **state)
{
    (void)state;
    struct ohsm_router r;
    struct ohsm_route_reply rep;
    router(&r, NULL);
    struct rq q = {.h = {FORM},
                   .n = 1,
                   .body = "Action=DescribeAvailabilityZones&Version=2016-11-15&X=%3Ca%3E+b"};
    run(&r, &q, &rep);
    assert_int_equal(rep.status, 200);
    assert_string_equal(
        rep.body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeAvailabilityZonesResponse"
                  " xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>" RID
                  "</requestId><zone>eu-west-1</zone><echo>&lt;a&gt; b</echo>"
                  "</DescribeAvailabilityZonesResponse>");
    assert_string_equal(rep.label, "ec2:DescribeAvailabilityZones");
    ohsm_route_reply_free(&rep);
    struct rq g = {.method = "GET", .query = "Action=DescribeAvailabilityZones&Version=2016-11-15"};
    run(&r, &g, &rep);
    assert_int_equal(rep.status, 200);
    ohsm_route_reply_free(&rep);
    q.body = "Version=2016-11-15";
    xml_err(&r, &q, 400, "MissingAction");
    q.body = "Action=RunInstances&Version=2016-11-15";
    xml_err(&r, &q, 400, "InvalidAction");
    q.body = "Action=DescribeAvailabilityZones&Version=2014-01-01";
    xml_err(&r, &q, 400, "NoSuchVersion");
    q.body = "Action=DescribeAvailabilityZones";
    xml_err(&r, &q, 400, "MissingParameter");
    q.body = "Action=DescribeAvailabilityZones&Version=2016-11-15&A=1&A=2";
    xml_err(&r, &q, 400, "InvalidParameterValue");
    q.body = "Action=DescribeAvailabilityZones&Version=2016-11-15&A=%G1";
    xml_err(&r, &q, 400, "InvalidParameterValue");
    /* The handler's own error, escaped into the envelope. */
    q.body = "Action=DeleteSubnet&Version=2016-11-15";
    run(&r, &q, &rep);
    assert_int_equal(rep.status, 400);
    assert_non_null(strstr(rep.body, "<Code>InvalidSubnetID.NotFound</Code><Message>The subnet ID "
                                     "&apos;s&lt;1&gt;&apos; does not exist</Message>"));
    ohsm_route_reply_free(&rep);
    ohsm_router_fini(&r);
}

/* ---- signed requests ---- */

#define AKID "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

struct signed_rq {
    struct rq q;
    char authz[400];
};

/* Signs a JSON DescribeClusters (body, at date, scope region/service) with secret. */
static void sign_json(struct signed_rq *s, const char *akid, const char *secret, const char *date,
                      const char *service, const char *body)
{
    char hash[65], sts[256], msg[128];
    char *creq = NULL;
    uint8_t sig[32];
    memset(s, 0, sizeof(*s));
    s->q.h[0] = (struct ohsm_sigv4_hdr){"Content-Type", "application/x-amz-json-1.1"};
    s->q.h[1] = (struct ohsm_sigv4_hdr){"X-Amz-Target", "BaldrApiService.DescribeClusters"};
    s->q.h[2] = (struct ohsm_sigv4_hdr){"Host", "127.0.0.1:4599"};
    s->q.h[3] = (struct ohsm_sigv4_hdr){"X-Amz-Date", date};
    s->q.n = 4;
    s->q.body = body;
    ohsm_sigv4_sha256_hex(body, strlen(body), hash);
    struct ohsm_sigv4_auth a = {.n_signed = 4};
    snprintf(a.akid, sizeof(a.akid), "%s", akid);
    memcpy(a.date, date, 8);
    snprintf(a.region, sizeof(a.region), "us-west-2");
    snprintf(a.service, sizeof(a.service), "%s", service);
    snprintf(a.signed_headers, sizeof(a.signed_headers),
             "content-type;host;x-amz-date;x-amz-target");
    struct ohsm_sigv4_req sr = {.method = "POST",
                                .path = "/",
                                .hdrs = s->q.h,
                                .n_hdrs = 4,
                                .amz_date = date,
                                .payload_hash = hash};
    assert_int_equal(ohsm_sigv4_canonical_request(&sr, &a, &creq, msg, sizeof(msg)), OHSM_OK);
    assert_int_equal(ohsm_sigv4_string_to_sign(date, &a, creq, sts, sizeof(sts)), OHSM_OK);
    assert_int_equal(ohsm_sigv4_sign((const uint8_t *)secret, strlen(secret), &a, sts, sig),
                     OHSM_OK);
    free(creq);
    int n = snprintf(s->authz, sizeof(s->authz),
                     "AWS4-HMAC-SHA256 Credential=%s/%.8s/us-west-2/%s/aws4_request, "
                     "SignedHeaders=%s, Signature=",
                     akid, date, service, a.signed_headers);
    for (int i = 0; i < 32; i++) {
        n += snprintf(s->authz + n, sizeof(s->authz) - (size_t)n, "%02x", sig[i]);
    }
    s->q.h[4] = (struct ohsm_sigv4_hdr){"Authorization", s->authz};
    s->q.n = 5;
}

static char creds_dir[64], creds_path[128];

static int creds_setup(void **state)
{
    (void)state;
    snprintf(creds_dir, sizeof(creds_dir), "/tmp/ohsm-route-XXXXXX");
    if (mkdtemp(creds_dir) == NULL) {
        return -1;
    }
    snprintf(creds_path, sizeof(creds_path), "%s/credentials", creds_dir);
    FILE *f = fopen(creds_path, "w");
    if (f == NULL) {
        return -1;
    }
    fprintf(f, "[default]\naws_access_key_id = " AKID "\naws_secret_access_key = " SECRET "\n");
    fclose(f);
    return chmod(creds_path, 0600);
}

static int creds_teardown(void **state)
{
    (void)state;
    unlink(creds_path);
    rmdir(creds_dir);
    return 0;
}

/* With credentials: the right signature passes (region from the scope); every failure has
 * AWS's error and runs nothing. */
static void test_route_sigv4(void **state)
{
    (void)state;
    struct ohsm_router r;
    struct ohsm_route_reply rep;
    struct signed_rq s;
    router(&r, creds_path);

    sign_json(&s, AKID, SECRET, "20150830T123600Z", "cloudhsm", "{}");
    run(&r, &s.q, &rep);
    assert_int_equal(rep.status, 200);
    assert_non_null(strstr(rep.body, "\"region\":\"us-west-2\",\"akid\":\"" AKID "\""));
    ohsm_route_reply_free(&rep);

    sign_json(&s, AKID, SECRET "x", "20150830T123600Z", "cloudhsm", "{}");
    json_err(&r, &s.q, 400, "InvalidSignatureException");
    sign_json(&s, "AKIAUNKNOWNKEY000000", SECRET, "20150830T123600Z", "cloudhsm", "{}");
    json_err(&r, &s.q, 400, "UnrecognizedClientException");
    sign_json(&s, AKID, SECRET, "20150830T120000Z", "cloudhsm", "{}"); /* 36 min old */
    json_err(&r, &s.q, 400, "InvalidSignatureException");
    sign_json(&s, AKID, SECRET, "20150830T130100Z", "cloudhsm", "{}"); /* 25 min ahead */
    json_err(&r, &s.q, 400, "InvalidSignatureException");
    sign_json(&s, AKID, SECRET, "20150830T123600Z", "kms", "{}");
    json_err(&r, &s.q, 400, "InvalidSignatureException");
    /* A body changed after signing. */
    sign_json(&s, AKID, SECRET, "20150830T123600Z", "cloudhsm", "{}");
    s.q.body = "{\"NextToken\":\"x\"}";
    json_err(&r, &s.q, 400, "InvalidSignatureException");
    /* A target changed after signing. */
    sign_json(&s, AKID, SECRET, "20150830T123600Z", "cloudhsm", "{}");
    s.q.h[1].value = "BaldrApiService.DeleteCluster";
    json_err(&r, &s.q, 400, "InvalidSignatureException");
    /* X-Amz-Date removed; scope date not the header's. */
    sign_json(&s, AKID, SECRET, "20150830T123600Z", "cloudhsm", "{}");
    s.q.h[3].name = "X-Other";
    json_err(&r, &s.q, 400, "IncompleteSignatureException");
    sign_json(&s, AKID, SECRET, "20150830T123600Z", "cloudhsm", "{}");
    s.q.h[3].value = "20150831T123600Z";
    json_err(&r, &s.q, 400, "InvalidSignatureException");
    /* Unsigned. */
    struct rq q = {.h = {JSON_HDRS("DescribeClusters")}, .n = 2};
    json_err(&r, &q, 403, "MissingAuthenticationTokenException");
    /* EC2's names for the same cases. */
    struct rq e = {
        .h = {FORM}, .n = 1, .body = "Action=DescribeAvailabilityZones&Version=2016-11-15"};
    xml_err(&r, &e, 403, "MissingAuthenticationToken");
    ohsm_router_fini(&r);
}

/* The 413 reply speaks the protocol of the request and names the service's error type. */
static void test_route_too_big(void **state)
{
    (void)state;
    struct ohsm_router r;
    struct ohsm_route_reply rep;
    router(&r, NULL);
    struct ohsm_sigv4_hdr h[2] = {JSON_HDRS("DescribeClusters")};
    struct ohsm_route_req req = {.method = "POST",
                                 .path = "/",
                                 .hdrs = h,
                                 .n_hdrs = 2,
                                 .body_len = 5u << 20,
                                 .now = NOW,
                                 .request_id = RID};
    ohsm_router_too_big(&r, &req, &rep);
    assert_int_equal(rep.status, 413);
    assert_non_null(strstr(rep.body, "\"__type\":\"CloudHsmInvalidRequestException\""));
    ohsm_route_reply_free(&rep);
    struct ohsm_sigv4_hdr f[1] = {FORM};
    req.hdrs = f;
    req.n_hdrs = 1;
    ohsm_router_too_big(&r, &req, &rep);
    assert_int_equal(rep.status, 413);
    assert_non_null(strstr(rep.body, "<RequestID>" RID "</RequestID>"));
    ohsm_route_reply_free(&rep);
    ohsm_router_fini(&r);
}

/* Registration: a prefix twice, a second query service, bad region or account are refused. */
static void test_route_setup(void **state)
{
    (void)state;
    struct ohsm_router r;
    char msg[128];
    router(&r, NULL);
    assert_int_equal(ohsm_router_add_json(&r, &jsvc), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_router_add_query(&r, &qsvc), OHSM_ARGUMENTS_BAD);
    ohsm_router_fini(&r);
    struct ohsm_http_cfg cfg = {.region = "US EAST", .account_id = "111122223333"};
    assert_int_equal(ohsm_router_init(&r, &cfg, msg, sizeof(msg)), OHSM_ARGUMENTS_BAD);
    cfg.region = "us-east-1";
    cfg.account_id = "1234";
    assert_int_equal(ohsm_router_init(&r, &cfg, msg, sizeof(msg)), OHSM_ARGUMENTS_BAD);
    cfg.account_id = NULL;
    cfg.credentials_file = "/nonexistent";
    assert_int_equal(ohsm_router_init(&r, &cfg, msg, sizeof(msg)), OHSM_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_json_ok),
        cmocka_unit_test(test_route_json_errors),
        cmocka_unit_test(test_route_handler_errors),
        cmocka_unit_test(test_route_query),
        cmocka_unit_test_setup_teardown(test_route_sigv4, creds_setup, creds_teardown),
        cmocka_unit_test(test_route_too_big),
        cmocka_unit_test(test_route_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
