/* SPDX-License-Identifier: Apache-2.0
 * SigV4: AWS's published test suite (the get-vanilla / post-vanilla families, AKIDEXAMPLE,
 * 20150830T123600Z, us-east-1/service), Authorization header parsing and tamper cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/sigv4.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SCOPE "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct vec {
    const char *name;
    const char *method;
    const char *query;
    struct ohsm_sigv4_hdr extra[2];
    size_t n_extra;
    const char *body;
    const char *signed_headers;
    const char *sig;
};

static const struct vec vectors[] = {
    {"get-vanilla",
     "GET",
     NULL,
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "Param2=value2&Param1=value1",
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-unreserved",
     "GET",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query",
     "GET",
     "%E1%88%B4=bar",
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"post-vanilla",
     "POST",
     NULL,
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-vanilla-query",
     "POST",
     "Param1=value1",
     {{0}},
     0,
     "",
     "host;x-amz-date",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-header-value-case",
     "POST",
     NULL,
     {{"My-Header1", "VALUE1"}},
     1,
     "",
     "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"get-header-value-trim",
     "GET",
     NULL,
     {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}},
     2,
     "",
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"post-x-www-form-urlencoded",
     "POST",
     NULL,
     {{"Content-Type", "application/x-www-form-urlencoded"}},
     1,
     "Param1=value1",
     "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-x-www-form-urlencoded-parameters",
     "POST",
     NULL,
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}},
     1,
     "Param1=value1",
     "content-type;host;x-amz-date",
     "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
};

struct built {
    struct ohsm_sigv4_hdr hdrs[4];
    struct ohsm_sigv4_req req;
    struct ohsm_sigv4_auth auth;
    char hash[65];
    char authz[512];
};

static void build(const struct vec *v, struct built *b)
{
    char msg[128];
    memset(b, 0, sizeof(*b));
    b->hdrs[0] = (struct ohsm_sigv4_hdr){"Host", "example.amazonaws.com"};
    b->hdrs[1] = (struct ohsm_sigv4_hdr){"X-Amz-Date", "20150830T123600Z"};
    for (size_t i = 0; i < v->n_extra; i++) {
        b->hdrs[2 + i] = v->extra[i];
    }
    ohsm_sigv4_sha256_hex(v->body, strlen(v->body), b->hash);
    b->req = (struct ohsm_sigv4_req){
        .method = v->method,
        .path = "/",
        .query = v->query,
        .hdrs = b->hdrs,
        .n_hdrs = 2 + v->n_extra,
        .amz_date = "20150830T123600Z",
        .payload_hash = b->hash,
    };
    snprintf(b->authz, sizeof(b->authz), SCOPE "SignedHeaders=%s, Signature=%s", v->signed_headers,
             v->sig);
    assert_int_equal(ohsm_sigv4_parse_auth(b->authz, &b->auth, msg, sizeof(msg)), OHSM_OK);
}

static struct ohsm_secret *secret(const char *s)
{
    struct ohsm_secret *sec = NULL;
    assert_int_equal(ohsm_secret_new(s, strlen(s), &sec), OHSM_OK);
    return sec;
}

/* get-vanilla's canonical request and string to sign are byte for byte the suite's. */
static void test_sigv4_vanilla_steps(void **state)
{
    (void)state;
    struct built b;
    char msg[128], sts[256];
    char *creq = NULL;
    build(&vectors[0], &b);
    assert_int_equal(ohsm_sigv4_canonical_request(&b.req, &b.auth, &creq, msg, sizeof(msg)),
                     OHSM_OK);
    assert_string_equal(creq, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
                              "\nhost;x-amz-date\n" EMPTY_SHA);
    assert_int_equal(ohsm_sigv4_string_to_sign("20150830T123600Z", &b.auth, creq, sts, sizeof(sts)),
                     OHSM_OK);
    assert_string_equal(sts, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
                             "aws4_request\n"
                             "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    free(creq);
}

/* Every vector of the suite verifies under the example secret. */
static void test_sigv4_suite_vectors(void **state)
{
    (void)state;
    struct ohsm_secret *sec = secret(SECRET);
    char msg[128];
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        struct built b;
        build(&vectors[i], &b);
        print_message("%s\n", vectors[i].name);
        assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)), OHSM_OK);
    }
    ohsm_secret_free(sec);
}

/* A changed secret, method, query, header value, body or signature bit fails verification. */
static void test_sigv4_tamper(void **state)
{
    (void)state;
    struct ohsm_secret *sec = secret(SECRET), *bad = secret(SECRET "x");
    char msg[128];
    struct built b;
    build(&vectors[8], &b); /* post-x-www-form-urlencoded */
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)), OHSM_OK);
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, bad, msg, sizeof(msg)),
                     OHSM_SIGNATURE_INVALID);
    b.req.method = "PUT";
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)),
                     OHSM_SIGNATURE_INVALID);
    build(&vectors[8], &b);
    b.req.query = "a=b";
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)),
                     OHSM_SIGNATURE_INVALID);
    build(&vectors[8], &b);
    b.hdrs[2].value = "application/x-www-form-urlencodeD";
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)),
                     OHSM_SIGNATURE_INVALID);
    build(&vectors[8], &b);
    ohsm_sigv4_sha256_hex("Param1=value2", 13, b.hash);
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)),
                     OHSM_SIGNATURE_INVALID);
    build(&vectors[8], &b);
    b.auth.sig[31] ^= 1;
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)),
                     OHSM_SIGNATURE_INVALID);
    build(&vectors[8], &b);
    snprintf(b.auth.region, sizeof(b.auth.region), "us-east-2");
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)),
                     OHSM_SIGNATURE_INVALID);
    /* A signed header the request lacks is an error, not an empty value. */
    build(&vectors[8], &b);
    b.req.n_hdrs = 2;
    assert_int_equal(ohsm_sigv4_verify(&b.req, &b.auth, sec, msg, sizeof(msg)), OHSM_ARGUMENTS_BAD);
    ohsm_secret_free(sec);
    ohsm_secret_free(bad);
}

/* Malformed Authorization headers are refused with a message; the fields of a good one land. */
static void test_sigv4_parse_auth(void **state)
{
    (void)state;
    struct ohsm_sigv4_auth a;
    char msg[128];
    static const char *bad[] = {
        "",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA1 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, "
        "Signature=" EMPTY_SHA,
        SCOPE "SignedHeaders=host",
        SCOPE "SignedHeaders=host, Signature=" EMPTY_SHA ",",
        SCOPE "SignedHeaders=host, Signature=" EMPTY_SHA ", Signature=" EMPTY_SHA,
        SCOPE "SignedHeaders=x-amz-date;host, Signature=" EMPTY_SHA,
        SCOPE "SignedHeaders=host;host, Signature=" EMPTY_SHA,
        SCOPE "SignedHeaders=Host, Signature=" EMPTY_SHA,
        SCOPE "SignedHeaders=host, "
              "Signature=E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        SCOPE "SignedHeaders=host, Signature=abc",
        SCOPE "SignedHeaders=host, Signature=" EMPTY_SHA ", Extra=1",
        "AWS4-HMAC-SHA256 Credential=AKID/2015083/us-east-1/service/aws4_request, "
        "SignedHeaders=host, Signature=" EMPTY_SHA,
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_reques, "
        "SignedHeaders=host, Signature=" EMPTY_SHA,
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service, SignedHeaders=host, "
        "Signature=" EMPTY_SHA,
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request/x, "
        "SignedHeaders=host, Signature=" EMPTY_SHA,
        "AWS4-HMAC-SHA256 Credential=AK ID/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host, Signature=" EMPTY_SHA,
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/US-EAST-1/service/aws4_request, "
        "SignedHeaders=host, Signature=" EMPTY_SHA,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("bad[%zu]\n", i);
        assert_int_equal(ohsm_sigv4_parse_auth(bad[i], &a, msg, sizeof(msg)), OHSM_ARGUMENTS_BAD);
        assert_true(msg[0] != '\0');
    }
    char big[OHSM_SIGV4_MAX_AUTH + 16];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ohsm_sigv4_parse_auth(big, &a, msg, sizeof(msg)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sigv4_parse_auth("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
                                           "eu-west-3/cloudhsm/aws4_request,SignedHeaders=host;"
                                           "x-amz-date,  Signature=" EMPTY_SHA,
                                           &a, msg, sizeof(msg)),
                     OHSM_OK);
    assert_string_equal(a.akid, "AKIDEXAMPLE");
    assert_string_equal(a.date, "20150830");
    assert_string_equal(a.region, "eu-west-3");
    assert_string_equal(a.service, "cloudhsm");
    assert_string_equal(a.signed_headers, "host;x-amz-date");
    assert_int_equal(a.n_signed, 2);
    assert_int_equal(a.sig[0], 0xe3);
}

/* X-Amz-Date: only YYYYMMDDTHHMMSSZ of a real calendar day; formatting round-trips. */
static void test_sigv4_dates(void **state)
{
    (void)state;
    int64_t t = 0;
    char buf[17];
    assert_int_equal(ohsm_sigv4_parse_date("20150830T123600Z", &t), OHSM_OK);
    assert_int_equal(t, 1440938160);
    ohsm_sigv4_format_date(t, buf);
    assert_string_equal(buf, "20150830T123600Z");
    assert_int_equal(ohsm_sigv4_parse_date("20240229T000000Z", &t), OHSM_OK);
    static const char *bad[] = {"",
                                "20150830T123600",
                                "20150830 123600Z",
                                "2015083OT123600Z",
                                "20230229T000000Z",
                                "20151301T000000Z",
                                "20150832T000000Z",
                                "20150830T243600Z",
                                "20150830T126000Z",
                                "20150830T123600Z0",
                                "19691231T235959Z",
                                "+0150830T123600Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ohsm_sigv4_parse_date(bad[i], &t), OHSM_ARGUMENTS_BAD);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_vanilla_steps), cmocka_unit_test(test_sigv4_suite_vectors),
        cmocka_unit_test(test_sigv4_tamper),        cmocka_unit_test(test_sigv4_parse_auth),
        cmocka_unit_test(test_sigv4_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
