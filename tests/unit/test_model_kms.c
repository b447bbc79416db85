/* SPDX-License-Identifier: Apache-2.0
 * The KMS input validator generated from botocore's model (KeyId lengths, KeySpec enum, Plaintext
 * as base64 of at most 4096 bytes and never echoed, GrantTokens count), plus what both services
 * share: every pattern compiles, the code-point checks decode UTF-8 strictly. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/model.h"

static char msg[2048];

static int val(const char *op, const char *text)
{
    json_error_t e;
    json_t *in = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    if (in == NULL) {
        fail_msg("test JSON does not parse: %s", e.text);
    }
    memset(msg, 'X', sizeof(msg));
    int rc = ohsm_model_kms_validate(op, in, msg, sizeof(msg));
    json_decref(in);
    return rc;
}

#define ONE "1 validation error detected: "
#define KEY "\"KeyId\":\"alias/test\""

/* base64 of n bytes of 'A' ("QUFB..."), in a static buffer. */
static const char *b64_of(size_t n)
{
    static char out[8192];
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = 0x414141u;
        size_t k = n - i < 3 ? n - i : 3;
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = k > 1 ? tbl[(v >> 6) & 63] : '=';
        out[o++] = k > 2 ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* KeyId is 1..2048 characters. */
static void test_model_kms_keyid_length(void **state)
{
    char *in = malloc(4096);
    (void)state;
    assert_non_null(in);
    assert_int_equal(val("DescribeKey", "{" KEY "}"), 0);
    assert_int_equal(val("DescribeKey", "{\"KeyId\":\"\"}"), -1);
    assert_string_equal(msg, ONE "Value '' at 'keyId' failed to satisfy constraint: Member must "
                                 "have length greater than or equal to 1");
    int n = snprintf(in, 4096, "{\"KeyId\":\"%02049d\"}", 0);
    assert_true(n > 0 && n < 4096);
    assert_int_equal(val("DescribeKey", in), -1);
    assert_non_null(strstr(msg, "...' at 'keyId' failed to satisfy constraint: Member must have "
                                "length less than or equal to 2048"));
    (void)snprintf(in, 4096, "{\"KeyId\":\"%02048d\"}", 0);
    assert_int_equal(val("DescribeKey", in), 0);
    assert_int_equal(val("DescribeKey", "{}"), -1);
    assert_string_equal(msg, ONE "Value null at 'keyId' failed to satisfy constraint: Member must "
                                 "not be null");
    free(in);
}

/* KeySpec is one of the model's values, case-sensitive. */
static void test_model_kms_keyspec_enum(void **state)
{
    (void)state;
    assert_int_equal(val("CreateKey", "{\"KeySpec\":\"SYMMETRIC_DEFAULT\"}"), 0);
    assert_int_equal(val("CreateKey", "{\"KeySpec\":\"ECC_NIST_P256\",\"KeyUsage\":"
                                      "\"SIGN_VERIFY\"}"),
                     0);
    assert_int_equal(val("CreateKey", "{\"KeySpec\":\"AES_256\"}"), -1);
    assert_true(strncmp(msg,
                        ONE "Value 'AES_256' at 'keySpec' failed to satisfy constraint: "
                            "Member must satisfy enum value set: [RSA_2048, ",
                        strlen(ONE) + 103) == 0);
    assert_non_null(strstr(msg, "SYMMETRIC_DEFAULT"));
    assert_int_equal(val("CreateKey", "{\"KeySpec\":\"symmetric_default\"}"), -1);
}

/* Plaintext: standard padded base64 of 1..4096 bytes; its value never appears in a message. */
static void test_model_kms_plaintext_blob(void **state)
{
    static char in[16384];
    (void)state;
    (void)snprintf(in, sizeof(in), "{" KEY ",\"Plaintext\":\"%s\"}", b64_of(4096));
    assert_int_equal(val("Encrypt", in), 0);
    (void)snprintf(in, sizeof(in), "{" KEY ",\"Plaintext\":\"%s\"}", b64_of(4097));
    assert_int_equal(val("Encrypt", in), -1);
    assert_string_equal(msg, ONE "Value at 'plaintext' failed to satisfy constraint: Member must "
                                 "have length less than or equal to 4096");
    assert_int_equal(val("Encrypt", "{" KEY ",\"Plaintext\":\"\"}"), -1);
    assert_string_equal(msg, ONE "Value at 'plaintext' failed to satisfy constraint: Member must "
                                 "have length greater than or equal to 1");
    assert_int_equal(val("Encrypt", "{" KEY ",\"Plaintext\":\"c2VjcmV0IQ==\"}"), 0);
    assert_int_equal(val("Encrypt", "{" KEY ",\"Plaintext\":\"c2VjcmV0\"}"), 0);
    const char *bad[] = {"secret!",     "c2VjcmV0IQ",   "c2Vj=mV0",    "c2VjcmV0IQ=a",
                         "c2Vj\\ncmV0", "c2VjcmV0I===", "c2VjcmV0IQ-_"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        (void)snprintf(in, sizeof(in), "{" KEY ",\"Plaintext\":\"%s\"}", bad[i]);
        assert_int_equal(val("Encrypt", in), -1);
        assert_string_equal(msg, ONE "Value at 'plaintext' failed to satisfy constraint: Member "
                                     "must be valid base64");
    }
    assert_int_equal(val("Encrypt", "{" KEY ",\"Plaintext\":42}"), -1);
    assert_string_equal(msg, ONE "Value at 'plaintext' failed to satisfy constraint: Member must "
                                 "be of type blob");
    assert_null(strstr(msg, "42"));
}

/* GrantTokens holds at most 10 tokens. */
static void test_model_kms_grant_tokens(void **state)
{
    char in[1024];
    (void)state;
    size_t off = (size_t)snprintf(in, sizeof(in), "{" KEY ",\"GrantTokens\":[");
    for (int i = 0; i < 10; i++) {
        off += (size_t)snprintf(in + off, sizeof(in) - off, "%s\"t%d\"", i ? "," : "", i);
    }
    (void)snprintf(in + off, sizeof(in) - off, "]}");
    assert_int_equal(val("DescribeKey", in), 0);
    in[off] = '\0';
    (void)snprintf(in + off, sizeof(in) - off, ",\"t10\"]}");
    assert_int_equal(val("DescribeKey", in), -1);
    assert_string_equal(msg, ONE "Value '[t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10]' at "
                                 "'grantTokens' failed to satisfy constraint: Member must have "
                                 "length less than or equal to 10");
    assert_int_equal(val("DescribeKey", "{" KEY ",\"GrantTokens\":[\"\"]}"), -1);
    assert_string_equal(msg, ONE "Value '' at 'grantTokens.1.member' failed to satisfy "
                                 "constraint: Member must have length greater than or equal to 1");
}

/* Patterns beyond POSIX: Policy is [\u0009\u000A\u000D\u0020-\u00FF]+ over code points. */
static void test_model_kms_codepoint_pattern(void **state)
{
    (void)state;
    assert_int_equal(
        val("CreateKey", "{\"Policy\":\"{\\\"a\\\":\\t\\\"\\u00ff\\u00e9\\\"}\\r\\n\"}"), 0);
    assert_int_equal(val("CreateKey", "{\"Policy\":\"\\u0100\"}"), -1);
    assert_int_equal(val("CreateKey", "{\"Policy\":\"a\\u0001\"}"), -1);
    assert_int_equal(val("ListKeys", "{\"Marker\":\"\\u4e2d\"}"), -1);
    assert_string_equal(msg, ONE "Value '\xe4\xb8\xad' at 'marker' failed to satisfy constraint: "
                                 "Member must satisfy regular expression pattern: "
                                 "[\\u0020-\\u00FF]*");
}

/* Every pattern of both models compiles (or has a check) and the operation tables are sorted. */
static void test_model_kms_tables_sound(void **state)
{
    const struct ohsm_model_service *svcs[] = {&ohsm_model_cloudhsmv2, &ohsm_model_kms};
    (void)state;
    for (size_t s = 0; s < 2; s++) {
        assert_non_null(svcs[s]->regexes());
        assert_ptr_equal(svcs[s]->regexes(), svcs[s]->regexes()); /* compiled once */
        for (size_t i = 0; i < svcs[s]->n_patterns; i++) {
            const struct ohsm_model_pattern *p = &svcs[s]->patterns[i];
            assert_true((p->ere == NULL) != (p->check == NULL));
        }
        for (size_t i = 1; i < svcs[s]->n_ops; i++) {
            assert_true(strcmp(svcs[s]->ops[i - 1].name, svcs[s]->ops[i].name) < 0);
        }
        assert_non_null(strstr(svcs[s]->source, "botocore "));
    }
    assert_true(ohsm_model_kms.n_ops >= 50);
    /* Every operation survives an empty and a hostile input. */
    json_t *hostile = json_loads("{\"KeyId\":[],\"Plaintext\":{},\"GrantTokens\":{\"a\":1},"
                                 "\"Tags\":[null,1,{}],\"KeySpec\":null,\"Limit\":-1}",
                                 0, NULL);
    json_t *empty = json_object();
    for (size_t i = 0; i < ohsm_model_kms.n_ops; i++) {
        (void)ohsm_model_kms_validate(ohsm_model_kms.ops[i].name, empty, msg, sizeof(msg));
        (void)ohsm_model_kms_validate(ohsm_model_kms.ops[i].name, hostile, msg, sizeof(msg));
        assert_true(strlen(msg) < sizeof(msg));
    }
    json_decref(hostile);
    json_decref(empty);
}

/* The code-point matcher refuses invalid UTF-8: overlongs, surrogates, truncation, > U+10FFFF. */
static void test_model_kms_cpclass_strict_utf8(void **state)
{
    static const struct ohsm_model_cprange all[] = {{0, 0x10FFFF}};
    (void)state;
    assert_true(ohsm_model_cpclass_match("a\xc3\xa9\xf0\x9f\x98\x80", 7, all, 1, false, 3));
    assert_false(ohsm_model_cpclass_match("a\xc3\xa9", 3, all, 1, false, 3));    /* too few */
    assert_false(ohsm_model_cpclass_match("\xc0\xaf", 2, all, 1, false, 0));     /* overlong */
    assert_false(ohsm_model_cpclass_match("\xed\xa0\x80", 3, all, 1, false, 0)); /* surrogate */
    assert_false(ohsm_model_cpclass_match("\xe4\xb8", 2, all, 1, false, 0));     /* truncated */
    assert_false(ohsm_model_cpclass_match("\xf4\x90\x80\x80", 4, all, 1, false, 0));
    assert_false(ohsm_model_cpclass_match("\x80", 1, all, 1, true, 0));
    assert_true(ohsm_model_cpclass_match("", 0, all, 1, false, 0));
    assert_false(ohsm_model_cpclass_match(NULL, 0, all, 1, false, 0));
    static const struct ohsm_model_cprange digits[] = {{'0', '9'}};
    assert_true(ohsm_model_cpclass_match("\xe4\xb8\xad"
                                         "1",
                                         4, digits, 1, true, 1));
    assert_false(ohsm_model_cpclass_match("\xe4\xb8\xad"
                                          "a",
                                          4, digits, 1, true, 1));
}

/* Sensitive values (a key store password, a proxy secret) never appear in messages, not even
 * inside the structure that holds them. */
static void test_model_kms_sensitive_never_echoed(void **state)
{
    (void)state;
    assert_int_equal(val("CreateCustomKeyStore", "{\"CustomKeyStoreName\":\"ks\","
                                                 "\"KeyStorePassword\":\"hunter\"}"),
                     -1);
    assert_string_equal(msg, ONE "Value at 'keyStorePassword' failed to satisfy constraint: Member "
                                 "must have length greater than or equal to 7");
    assert_int_equal(val("CreateCustomKeyStore", "{\"CustomKeyStoreName\":\"ks\","
                                                 "\"XksProxyAuthenticationCredential\":"
                                                 "\"hunter2hunter2\"}"),
                     -1);
    assert_null(strstr(msg, "hunter"));
    assert_non_null(strstr(msg, "Value at 'xksProxyAuthenticationCredential' failed"));
    assert_int_equal(val("CreateCustomKeyStore",
                         "{\"CustomKeyStoreName\":\"ks\",\"XksProxyAuthenticationCredential\":"
                         "{\"AccessKeyId\":\"ABCDEFGHIJKLMNOPQRST\"}}"),
                     -1);
    assert_string_equal(msg,
                        ONE "Value null at 'xksProxyAuthenticationCredential.rawSecretAccessKey' "
                            "failed to satisfy constraint: Member must not be null");
}

/* Several threads validating at once (the first call compiles the patterns) all get the answers
 * one thread gets. */
static void *worker(void *arg)
{
    char m[512];
    json_t *good = json_loads("{\"ClusterId\":\"cluster-igklspoyj5v\"}", 0, NULL);
    json_t *bad = json_loads("{\"ClusterId\":\"cluster-1\"}", 0, NULL);
    json_t *key = json_loads("{\"Marker\":\"\\u4e2d\"}", 0, NULL);
    long wrong = 0;
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        wrong += ohsm_model_cloudhsmv2_validate("DeleteCluster", good, m, sizeof(m)) != 0;
        wrong += ohsm_model_cloudhsmv2_validate("DeleteCluster", bad, m, sizeof(m)) != -1;
        wrong += strstr(m, "at 'clusterId'") == NULL;
        wrong += ohsm_model_kms_validate("ListKeys", key, m, sizeof(m)) != -1;
    }
    json_decref(good);
    json_decref(bad);
    json_decref(key);
    return (void *)wrong;
}

static void test_model_kms_concurrent_validation(void **state)
{
    pthread_t t[4];
    (void)state;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    }
    for (size_t i = 0; i < 4; i++) {
        void *wrong = NULL;
        assert_int_equal(pthread_join(t[i], &wrong), 0);
        assert_null(wrong);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_kms_concurrent_validation), /* first: compiles the patterns */
        cmocka_unit_test(test_model_kms_keyid_length),
        cmocka_unit_test(test_model_kms_keyspec_enum),
        cmocka_unit_test(test_model_kms_plaintext_blob),
        cmocka_unit_test(test_model_kms_grant_tokens),
        cmocka_unit_test(test_model_kms_sensitive_never_echoed),
        cmocka_unit_test(test_model_kms_codepoint_pattern),
        cmocka_unit_test(test_model_kms_tables_sound),
        cmocka_unit_test(test_model_kms_cpclass_strict_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
