/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the CLI's token files (src/cli/tokfile.c): round trips of MFA, registration and
 * quorum token files (exact pretty layout, trailing newline), every kind of malformed file refused
 * with a specific message and nothing returned (JSON syntax, trailing bytes, duplicate keys,
 * members missing, unknown or of the wrong type, versions, counts, base64 and lengths, digests
 * that do not match the approval data, usernames, signatures), and reading and writing files
 * (missing, directory, FIFO, too large, symlink, mode 0600, truncation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli/keyarg.h"
#include "cli/tokfile.h"

#define BIG (OHSM_TOKFILE_MAX + 4096)
/* C17 does not convert uint8_t (*)[32] to const uint8_t (*)[32] implicitly. */
#define CTOKS(t) ((const uint8_t(*)[OHSM_TOKEN_LEN])(t))

static char json[BIG];
static char err[256];

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + i * 7);
    }
}

static void sha256(const uint8_t *in, size_t len, uint8_t out[OHSM_TOKEN_LEN])
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(in, len, out, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(n, OHSM_TOKEN_LEN);
}

/* base64 of n bytes from seed; the caller frees. */
static char *b64(const uint8_t *p, size_t n)
{
    char *s = ohsm_cli_b64_encode(p, n);
    assert_non_null(s);
    return s;
}

static char *b64_pattern(size_t n, uint8_t seed)
{
    uint8_t *p = malloc(n + 1);
    assert_non_null(p);
    fill(p, n, seed);
    char *s = b64(p, n);
    free(p);
    return s;
}

/* An MFA file of n pairs, unsigned valid, signed as given (NULL: valid 256-byte signatures). */
static const char *mfa_file(size_t n, const char *sig)
{
    size_t o = 0;
    o += (size_t)snprintf(json + o, BIG - o, "{\"version\":\"2.0\",\"tokens\":[");
    for (size_t i = 0; i < n; i++) {
        char *u = b64_pattern(OHSM_TOKEN_LEN, (uint8_t)i);
        char *s = sig != NULL ? NULL : b64_pattern(256, (uint8_t)(i + 100));
        o += (size_t)snprintf(json + o, BIG - o, "%s{\"unsigned\":\"%s\",\"signed\":\"%s\"}",
                              i > 0 ? "," : "", u, sig != NULL ? sig : s);
        free(u);
        free(s);
    }
    (void)snprintf(json + o, BIG - o, "]}");
    return json;
}

/* A registration entry's pieces for approval data of n bytes. */
struct reg {
    char *data;
    char *digest;
};

static struct reg reg_new(size_t n)
{
    uint8_t *p = malloc(n + 1);
    uint8_t d[OHSM_TOKEN_LEN];
    assert_non_null(p);
    fill(p, n, 3);
    sha256(p, n, d);
    struct reg r = {b64(p, n), b64(d, sizeof(d))};
    free(p);
    return r;
}

static void reg_free(struct reg *r)
{
    free(r->data);
    free(r->digest);
}

/* Parses json (MFA or registration) and expects a refusal whose message holds want. */
static void bad_tok(const char *text, bool with_approval, const char *want)
{
    struct ohsm_tokfile f = {(struct ohsm_tokpair *)1, 99};
    err[0] = '\0';
    assert_int_equal(ohsm_tokfile_parse(text, strlen(text), with_approval, &f, err, sizeof(err)),
                     OHSM_DATA_INVALID);
    if (strstr(err, want) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    }
    assert_null(f.pairs);
    assert_int_equal(f.n, 0);
}

static void bad_q(const char *text, const char *want)
{
    struct ohsm_qtokfile f;
    memset(&f, 0x5a, sizeof(f));
    err[0] = '\0';
    assert_int_equal(ohsm_qtokfile_parse(text, strlen(text), &f, err, sizeof(err)),
                     OHSM_DATA_INVALID);
    if (strstr(err, want) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    }
    assert_null(f.approval);
    assert_null(f.sigs);
    assert_int_equal(f.n, 0);
}

/* A formatted MFA file is the guide's shape, pretty, and parses back to the same tokens. */
static void test_cli_tokfile_mfa_roundtrip(void **state)
{
    (void)state;
    uint8_t toks[3][OHSM_TOKEN_LEN];
    char *text = NULL;
    struct ohsm_tokfile f;
    for (size_t i = 0; i < 3; i++) {
        fill(toks[i], OHSM_TOKEN_LEN, (uint8_t)(i * 50));
    }
    assert_int_equal(ohsm_tokfile_format_mfa(CTOKS(toks), 1, &text), OHSM_OK);
    char *u = b64(toks[0], OHSM_TOKEN_LEN);
    char want[512];
    (void)snprintf(want, sizeof(want),
                   "{\n  \"version\": \"2.0\",\n  \"tokens\": [\n    {\n      \"unsigned\": "
                   "\"%s\",\n      \"signed\": \"\"\n    }\n  ]\n}\n",
                   u);
    assert_string_equal(text, want);
    assert_int_equal(strlen(u), 44);
    free(u);
    free(text);

    assert_int_equal(ohsm_tokfile_format_mfa(CTOKS(toks), 3, &text), OHSM_OK);
    assert_int_equal(ohsm_tokfile_parse(text, strlen(text), false, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_memory_equal(f.pairs[i].unsigned_tok, toks[i], OHSM_TOKEN_LEN);
        assert_null(f.pairs[i].sig);
        assert_int_equal(f.pairs[i].sig_len, 0);
        assert_null(f.pairs[i].approval);
    }
    ohsm_tokfile_free(&f);
    assert_null(f.pairs);
    ohsm_tokfile_free(&f); /* twice is harmless */
    ohsm_tokfile_free(NULL);
    /* An MFA file is not a registration file. */
    bad_tok(text, true, "token 1: \"approval_data\" is missing");
    free(text);
}

/* Signed MFA files give each HSM's signature bytes; 1..32 pairs are accepted. */
static void test_cli_tokfile_mfa_signed(void **state)
{
    (void)state;
    struct ohsm_tokfile f;
    uint8_t want[256];
    uint8_t tok[OHSM_TOKEN_LEN];
    const char *text = mfa_file(2, NULL);
    assert_int_equal(ohsm_tokfile_parse(text, strlen(text), false, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.n, 2);
    for (size_t i = 0; i < 2; i++) {
        fill(want, sizeof(want), (uint8_t)(i + 100));
        fill(tok, sizeof(tok), (uint8_t)i);
        assert_int_equal(f.pairs[i].sig_len, 256);
        assert_memory_equal(f.pairs[i].sig, want, 256);
        assert_memory_equal(f.pairs[i].unsigned_tok, tok, OHSM_TOKEN_LEN);
    }
    ohsm_tokfile_free(&f);
    text = mfa_file(OHSM_APPROVAL_MAX_RECS, NULL);
    assert_int_equal(ohsm_tokfile_parse(text, strlen(text), false, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.n, OHSM_APPROVAL_MAX_RECS);
    ohsm_tokfile_free(&f);
    /* Whitespace between tokens is JSON's business; inside a value it is not allowed. */
    text = "\n {\"tokens\" : [ {\"signed\":\"\", \"unsigned\":"
           "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"} ] ,\"version\":\"2.0\"}\n\n";
    assert_int_equal(ohsm_tokfile_parse(text, strlen(text), false, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.n, 1);
    ohsm_tokfile_free(&f);
}

/* Syntax errors, trailing bytes, duplicate keys and non-objects are refused. */
static void test_cli_tokfile_json_errors(void **state)
{
    (void)state;
    bad_tok("", false, "token file is not valid JSON (line ");
    bad_tok("{\"version\":\"2.0\",\n\"tokens\":[}", false, "token file is not valid JSON (line 2:");
    bad_tok("not json", false, "not valid JSON");
    const char *ok = mfa_file(1, "");
    char buf[1024];
    (void)snprintf(buf, sizeof(buf), "%s x", ok);
    bad_tok(buf, false, "not valid JSON");
    (void)snprintf(buf, sizeof(buf), "%s{}", ok);
    bad_tok(buf, false, "not valid JSON");
    bad_tok("{\"version\":\"2.0\",\"version\":\"2.0\",\"tokens\":[]}", false, "duplicate");
    bad_tok("[{\"version\":\"2.0\"}]", false, "token file is not a JSON object");
    /* Duplicates are refused at any depth. */
    bad_tok("{\"version\":\"2.0\",\"tokens\":[{\"signed\":\"\",\"signed\":\"\"}]}", false,
            "duplicate object key");
    bad_tok("\"2.0\"", false, "not valid JSON");
    bad_tok("{\"version\":\"2.\\u0000\",\"tokens\":[]}", false, "not valid JSON");
    /* Control bytes of the input never reach the message. */
    bad_tok("{\"version\":\"2.0\",\x01\x02\x7f}", false, "not valid JSON");
    for (const char *p = err; *p != '\0'; p++) {
        assert_true(*p >= 0x20 && *p < 0x7f);
    }
    /* Larger than OHSM_TOKFILE_MAX even when it would parse. */
    memset(json, ' ', BIG);
    const char *small = "{\"version\":\"2.0\",\"tokens\":[]}";
    memcpy(json, small, strlen(small));
    json[OHSM_TOKFILE_MAX + 1] = '\0';
    bad_tok(json, false, "larger than");
    bad_q(json, "quorum token file is larger than");
    /* NULL arguments. */
    struct ohsm_tokfile f;
    assert_int_equal(ohsm_tokfile_parse(NULL, 0, false, &f, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_tokfile_parse("{}", 2, false, NULL, err, sizeof(err)),
                     OHSM_ARGUMENTS_BAD);
    /* No error buffer: still refused. */
    assert_int_equal(ohsm_tokfile_parse("{}", 2, false, &f, NULL, 0), OHSM_DATA_INVALID);
}

/* Only version "2.0" (a string) is understood. */
static void test_cli_tokfile_version(void **state)
{
    (void)state;
    bad_tok("{\"version\":\"1.0\",\"tokens\":[]}", false,
            "unsupported token file version \"1.0\"; expected \"2.0\"");
    bad_tok("{\"tokens\":[]}", false, "token file: \"version\" is missing");
    bad_tok("{\"version\":2.0,\"tokens\":[]}", false, "token file: \"version\" is not a string");
    bad_tok("{\"version\":null}", false, "\"version\" is not a string");
    bad_tok("{\"version\":\"2.0 \",\"tokens\":[]}", false, "unsupported token file version");
    /* A long or odd version is cut and sanitised in the message. */
    bad_tok("{\"version\":\"\\u00e9\\n0123456789012345678901234567890123456789xyz\"}", false,
            "version \"???0123456789");
    assert_non_null(strstr(err, "...\""));
    assert_null(strstr(err, "xyz"));
    bad_q("{\"version\":\"1.0\"}", "unsupported token file version \"1.0\"");
}

/* Members: all present, none unknown, each of its type. */
static void test_cli_tokfile_members(void **state)
{
    (void)state;
    const char *u = "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"";
    char buf[512];
    bad_tok("{\"version\":\"2.0\"}", false, "token file: \"tokens\" is missing");
    bad_tok("{\"version\":\"2.0\",\"tokens\":[],\"x\":1}", false,
            "token file: unknown member \"x\"");
    bad_tok("{\"version\":\"2.0\",\"tokens\":{}}", false, "token file: \"tokens\" is not an array");
    bad_tok("{\"version\":\"2.0\",\"tokens\":[]}", false, "token file: \"tokens\" is empty");
    bad_tok("{\"version\":\"2.0\",\"tokens\":[1]}", false, "token 1 is not an object");
    (void)snprintf(buf, sizeof(buf), "{\"version\":\"2.0\",\"tokens\":[{\"unsigned\":%s}]}", u);
    bad_tok(buf, false, "token 1: \"signed\" is missing");
    bad_tok("{\"version\":\"2.0\",\"tokens\":[{\"signed\":\"\"}]}", false,
            "token 1: \"unsigned\" is missing");
    (void)snprintf(buf, sizeof(buf),
                   "{\"version\":\"2.0\",\"tokens\":[{\"unsigned\":%s,\"signed\":\"\"},"
                   "{\"unsigned\":%s,\"signed\":\"\",\"hsm\":\"a\"}]}",
                   u, u);
    bad_tok(buf, false, "token 2: unknown member \"hsm\"");
    (void)snprintf(buf, sizeof(buf),
                   "{\"version\":\"2.0\",\"tokens\":[{\"unsigned\":%s,\"signed\":null}]}", u);
    bad_tok(buf, false, "token 1: \"signed\" is not a string");
    bad_tok("{\"version\":\"2.0\",\"tokens\":[{\"unsigned\":[],\"signed\":\"\"}]}", false,
            "token 1: \"unsigned\" is not a string");
    (void)snprintf(buf, sizeof(buf),
                   "{\"version\":\"2.0\",\"tokens\":[{\"unsigned\":%s,\"signed\":\"\"},[]]}", u);
    bad_tok(buf, false, "token 2 is not an object");
    /* 33 entries. */
    const char *text = mfa_file(OHSM_APPROVAL_MAX_RECS + 1, "");
    bad_tok(text, false, "token file: \"tokens\" has 33 entries; at most 32");
}

/* unsigned: exactly 32 bytes of strict base64; signed: empty or strict base64 of <= 512 bytes. */
static void test_cli_tokfile_base64(void **state)
{
    (void)state;
    static const char *const bad_unsigned[] = {
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",    /* 31 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",    /* 33 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",     /* no padding */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",    /* non-canonical last bits */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*=",    /* not the alphabet */
        "AAAAAAAAAAAAAAAAAAAAA-AAAAAAAAAAAAAAAAAAAAA=",    /* base64url */
        "AAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAA=",    /* blank inside */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\\n", /* newline at the end */
        "AAAAAAAAAAAAAAAAAAAA=AAAAAAAAAAAAAAAAAAAAAA=",    /* padding inside */
        "",
    };
    for (size_t i = 0; i < sizeof(bad_unsigned) / sizeof(bad_unsigned[0]); i++) {
        char buf[256];
        (void)snprintf(buf, sizeof(buf),
                       "{\"version\":\"2.0\",\"tokens\":[{\"unsigned\":\"%s\",\"signed\":\"\"}]}",
                       bad_unsigned[i]);
        bad_tok(buf, false, "token 1: \"unsigned\" is not 32 bytes of base64");
    }
    static const char *const bad_signed[] = {
        "QQ=", "QQ", "QR==", "QUI=QUI=", "Q===", "====", "QUJD\\nQUJD", " QUJD", "QUJD ", "QU:D",
    };
    for (size_t i = 0; i < sizeof(bad_signed) / sizeof(bad_signed[0]); i++) {
        const char *text = mfa_file(2, NULL);
        /* Replace the second pair's signature. */
        char *second = strstr(strstr(text, "\"signed\":\"") + 1, "\"signed\":\"");
        assert_non_null(second);
        (void)snprintf(second, (size_t)(BIG - (second - json)), "\"signed\":\"%s\"}]}",
                       bad_signed[i]);
        bad_tok(text, false, "token 2: \"signed\" is not valid base64");
    }
    /* 512 bytes are the most a signature may have. */
    char *s = b64_pattern(OHSM_TOKEN_SIG_MAX, 1);
    const char *text = mfa_file(1, s);
    struct ohsm_tokfile f;
    assert_int_equal(ohsm_tokfile_parse(text, strlen(text), false, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.pairs[0].sig_len, OHSM_TOKEN_SIG_MAX);
    ohsm_tokfile_free(&f);
    free(s);
    s = b64_pattern(OHSM_TOKEN_SIG_MAX + 1, 1);
    bad_tok(mfa_file(1, s), false, "token 1: \"signed\" is longer than 512 bytes");
    free(s);
    /* A valid one-byte signature is accepted (the HSM judges it). */
    text = mfa_file(1, "QQ==");
    assert_int_equal(ohsm_tokfile_parse(text, strlen(text), false, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.pairs[0].sig_len, 1);
    assert_int_equal(f.pairs[0].sig[0], 'A');
    ohsm_tokfile_free(&f);
}

/* A registration file round trips; unsigned is SHA-256 of its approval data. */
static void test_cli_tokfile_registration_roundtrip(void **state)
{
    (void)state;
    uint8_t data[2 * OHSM_APPROVAL_REC_LEN];
    uint8_t digest[OHSM_TOKEN_LEN];
    char *text = NULL;
    struct ohsm_tokfile f;
    fill(data, sizeof(data), 9);
    sha256(data, sizeof(data), digest);
    assert_int_equal(ohsm_tokfile_format_registration(data, sizeof(data), &text), OHSM_OK);
    char *a = b64(data, sizeof(data));
    char *d = b64(digest, sizeof(digest));
    char want[1024];
    (void)snprintf(want, sizeof(want),
                   "{\n  \"version\": \"2.0\",\n  \"tokens\": [\n    {\n      \"approval_data\": "
                   "\"%s\",\n      \"unsigned\": \"%s\",\n      \"signed\": \"\"\n    }\n  ]\n}\n",
                   a, d);
    assert_string_equal(text, want);
    assert_int_equal(ohsm_tokfile_parse(text, strlen(text), true, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.pairs[0].approval_len, sizeof(data));
    assert_memory_equal(f.pairs[0].approval, data, sizeof(data));
    assert_memory_equal(f.pairs[0].unsigned_tok, digest, OHSM_TOKEN_LEN);
    assert_null(f.pairs[0].sig);
    ohsm_tokfile_free(&f);
    /* A registration file is not an MFA file. */
    bad_tok(text, false, "token 1: unknown member \"approval_data\"");
    free(text);

    /* Signed: the signature comes back. */
    char *sig = b64_pattern(256, 77);
    (void)snprintf(json, BIG,
                   "{\"version\":\"2.0\",\"tokens\":[{\"approval_data\":\"%s\",\"unsigned\":\"%s\","
                   "\"signed\":\"%s\"}]}",
                   a, d, sig);
    assert_int_equal(ohsm_tokfile_parse(json, strlen(json), true, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.pairs[0].sig_len, 256);
    ohsm_tokfile_free(&f);
    free(sig);
    free(a);
    free(d);
}

/* Registration files: digest mismatch, bad approval lengths and base64 are refused. */
static void test_cli_tokfile_registration_errors(void **state)
{
    (void)state;
    struct reg r = reg_new(OHSM_APPROVAL_REC_LEN);
    struct reg other = reg_new(2 * OHSM_APPROVAL_REC_LEN);
    const char *fmt = "{\"version\":\"2.0\",\"tokens\":[{\"approval_data\":\"%s\",\"unsigned\":"
                      "\"%s\",\"signed\":\"\"}]}";
    (void)snprintf(json, BIG, fmt, r.data, other.digest);
    bad_tok(json, true, "token 1: \"unsigned\" does not match \"approval_data\"");
    (void)snprintf(json, BIG, fmt, "", r.digest);
    bad_tok(json, true, "token 1: \"approval_data\" is empty");
    (void)snprintf(json, BIG, fmt, "QUJD=", r.digest);
    bad_tok(json, true, "token 1: \"approval_data\" is not valid base64");
    reg_free(&r);
    reg_free(&other);
    size_t lens[] = {1, OHSM_APPROVAL_REC_LEN - 1, OHSM_APPROVAL_REC_LEN + 1,
                     5 * OHSM_APPROVAL_REC_LEN - 3};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        r = reg_new(lens[i]);
        (void)snprintf(json, BIG, fmt, r.data, r.digest);
        bad_tok(json, true, "token 1: \"approval_data\" is not a whole number of 96-byte records");
        reg_free(&r);
    }
    r = reg_new((OHSM_APPROVAL_MAX_RECS + 1) * OHSM_APPROVAL_REC_LEN);
    (void)snprintf(json, BIG, fmt, r.data, r.digest);
    bad_tok(json, true, "token 1: \"approval_data\" is longer than 3072 bytes");
    reg_free(&r);
    r = reg_new(OHSM_APPROVAL_MAX_RECS * OHSM_APPROVAL_REC_LEN);
    (void)snprintf(json, BIG, fmt, r.data, r.digest);
    struct ohsm_tokfile f;
    assert_int_equal(ohsm_tokfile_parse(json, strlen(json), true, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.pairs[0].approval_len, OHSM_APPROVAL_MAX_RECS * OHSM_APPROVAL_REC_LEN);
    ohsm_tokfile_free(&f);
    /* A later entry's failure frees what earlier entries allocated (ASan checks). */
    (void)snprintf(json, BIG,
                   "{\"version\":\"2.0\",\"tokens\":[{\"approval_data\":\"%s\",\"unsigned\":"
                   "\"%s\",\"signed\":\"QUJD\"},{\"approval_data\":\"%s\",\"unsigned\":\"%s\","
                   "\"signed\":\"\",\"x\":0}]}",
                   r.data, r.digest, r.data, r.digest);
    bad_tok(json, true, "token 2: unknown member \"x\"");
    reg_free(&r);
}

/* Builds a quorum file for approval data of n records with the given signatures array text. */
static const char *qfile(size_t n_recs, const char *sigs)
{
    struct reg r = reg_new(n_recs * OHSM_APPROVAL_REC_LEN);
    (void)snprintf(json, BIG,
                   "{\"version\":\"2.0\",\"approval_data\":\"%s\",\"token\":\"%s\","
                   "\"signatures\":%s}",
                   r.data, r.digest, sigs);
    reg_free(&r);
    return json;
}

/* A quorum file round trips; signatures are read with canonical usernames. */
static void test_cli_tokfile_quorum_roundtrip(void **state)
{
    (void)state;
    uint8_t data[3 * OHSM_APPROVAL_REC_LEN];
    uint8_t digest[OHSM_TOKEN_LEN];
    char *text = NULL;
    struct ohsm_qtokfile f;
    fill(data, sizeof(data), 3);
    sha256(data, sizeof(data), digest);
    assert_int_equal(ohsm_qtokfile_format(data, sizeof(data), &text), OHSM_OK);
    char *a = b64(data, sizeof(data));
    char *d = b64(digest, sizeof(digest));
    char want[1024];
    (void)snprintf(want, sizeof(want),
                   "{\n  \"version\": \"2.0\",\n  \"approval_data\": \"%s\",\n  \"token\": "
                   "\"%s\",\n  \"signatures\": []\n}\n",
                   a, d);
    assert_string_equal(text, want);
    assert_int_equal(ohsm_qtokfile_parse(text, strlen(text), &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.approval_len, sizeof(data));
    assert_memory_equal(f.approval, data, sizeof(data));
    assert_memory_equal(f.token, digest, OHSM_TOKEN_LEN);
    assert_int_equal(f.n, 0);
    assert_null(f.sigs);
    ohsm_qtokfile_free(&f);
    ohsm_qtokfile_free(&f);
    ohsm_qtokfile_free(NULL);
    free(text);
    free(a);
    free(d);

    char *s1 = b64_pattern(256, 1);
    char *s2 = b64_pattern(256, 2);
    char sigs[2048];
    (void)snprintf(sigs, sizeof(sigs),
                   "[{\"username\":\"Admin_1\",\"signature\":\"%s\"},{\"signature\":\"%s\","
                   "\"username\":\"approver2\"}]",
                   s1, s2);
    const char *q = qfile(3, sigs);
    assert_int_equal(ohsm_qtokfile_parse(q, strlen(q), &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.sigs[0].username, "admin_1");
    assert_string_equal(f.sigs[1].username, "approver2");
    uint8_t want_sig[256];
    fill(want_sig, sizeof(want_sig), 2);
    assert_int_equal(f.sigs[1].sig_len, 256);
    assert_memory_equal(f.sigs[1].sig, want_sig, 256);
    ohsm_qtokfile_free(&f);
    assert_null(f.sigs);
    free(s1);
    free(s2);
}

/* Quorum files: token mismatch, approval lengths, usernames, signatures and counts. */
static void test_cli_tokfile_quorum_errors(void **state)
{
    (void)state;
    struct reg r = reg_new(OHSM_APPROVAL_REC_LEN);
    struct reg other = reg_new(2 * OHSM_APPROVAL_REC_LEN);
    const char *fmt = "{\"version\":\"2.0\",\"approval_data\":\"%s\",\"token\":\"%s\","
                      "\"signatures\":[]}";
    (void)snprintf(json, BIG, fmt, r.data, other.digest);
    bad_q(json, "quorum token file: \"token\" does not match \"approval_data\"");
    (void)snprintf(json, BIG, fmt, r.data, "QUJD");
    bad_q(json, "quorum token file: \"token\" is not 32 bytes of base64");
    (void)snprintf(json, BIG, fmt, "QUJD", r.digest);
    bad_q(json, "\"approval_data\" is not a whole number of 96-byte records");
    (void)snprintf(json, BIG, fmt, "QUJ", r.digest);
    bad_q(json, "quorum token file: \"approval_data\" is not valid base64");
    (void)snprintf(json, BIG,
                   "{\"version\":\"2.0\",\"approval_data\":\"%s\",\"token\":\"%s\","
                   "\"signatures\":[],\"tokens\":[]}",
                   r.data, r.digest);
    bad_q(json, "quorum token file: unknown member \"tokens\"");
    (void)snprintf(json, BIG, "{\"version\":\"2.0\",\"approval_data\":\"%s\",\"token\":\"%s\"}",
                   r.data, r.digest);
    bad_q(json, "quorum token file: \"signatures\" is missing");
    (void)snprintf(json, BIG, "{\"version\":\"2.0\",\"token\":\"%s\",\"signatures\":[]}", r.digest);
    bad_q(json, "quorum token file: \"approval_data\" is missing");
    reg_free(&r);
    reg_free(&other);
    bad_q(mfa_file(1, ""), "quorum token file: unknown member \"tokens\"");
    bad_q("[]", "quorum token file is not a JSON object");
    bad_q("{\"version\":\"2.0\"} {", "quorum token file is not valid JSON");

    bad_q(qfile(1, "{}"), "quorum token file: \"signatures\" is not an array");
    bad_q(qfile(1, "[\"x\"]"), "signature 1 is not an object");
    bad_q(qfile(1, "[{\"signature\":\"QUJD\"}]"), "signature 1: \"username\" is missing");
    bad_q(qfile(1, "[{\"username\":\"a\"}]"), "signature 1: \"signature\" is missing");
    bad_q(qfile(1, "[{\"username\":\"a\",\"signature\":\"\"}]"),
          "signature 1: \"signature\" is empty");
    bad_q(qfile(1, "[{\"username\":\"a\",\"signature\":\"QUJD\"},{\"username\":\"b\","
                   "\"signature\":\"QUJ=\"}]"),
          "signature 2: \"signature\" is not valid base64");
    bad_q(qfile(1, "[{\"username\":\"a\",\"signature\":\"QUJD\",\"key\":\"\"}]"),
          "signature 1: unknown member \"key\"");
    bad_q(qfile(1, "[{\"username\":7,\"signature\":\"QUJD\"}]"),
          "signature 1: \"username\" is not a string");
    static const char *const bad_names[] = {
        "", "a b", "admin-1", "x23456789012345678901234567890123", "adm\\u00efn", "a/b",
    };
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        char sigs[256];
        (void)snprintf(sigs, sizeof(sigs), "[{\"username\":\"%s\",\"signature\":\"QUJD\"}]",
                       bad_names[i]);
        bad_q(qfile(1, sigs), "signature 1: \"username\" is not a valid username");
    }
    char *big = b64_pattern(OHSM_TOKEN_SIG_MAX + 1, 0);
    char sigs[2048];
    (void)snprintf(sigs, sizeof(sigs), "[{\"username\":\"a\",\"signature\":\"%s\"}]", big);
    bad_q(qfile(1, sigs), "signature 1: \"signature\" is longer than 512 bytes");
    free(big);
    /* 32 signatures are allowed, 33 are not. */
    for (size_t n = OHSM_APPROVAL_SIGS_MAX; n <= OHSM_APPROVAL_SIGS_MAX + 1; n++) {
        char many[4096];
        size_t o = (size_t)snprintf(many, sizeof(many), "[");
        for (size_t i = 0; i < n; i++) {
            o += (size_t)snprintf(many + o, sizeof(many) - o,
                                  "%s{\"username\":\"u%zu\",\"signature\":\"QUJD\"}",
                                  i > 0 ? "," : "", i);
        }
        (void)snprintf(many + o, sizeof(many) - o, "]");
        const char *q = qfile(2, many);
        if (n == OHSM_APPROVAL_SIGS_MAX) {
            struct ohsm_qtokfile f;
            assert_int_equal(ohsm_qtokfile_parse(q, strlen(q), &f, err, sizeof(err)), OHSM_OK);
            assert_int_equal(f.n, n);
            assert_string_equal(f.sigs[31].username, "u31");
            ohsm_qtokfile_free(&f);
        } else {
            bad_q(q, "quorum token file: \"signatures\" has 33 entries; at most 32");
        }
    }
    struct ohsm_qtokfile f;
    assert_int_equal(ohsm_qtokfile_parse(NULL, 0, &f, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
}

/* The formatters refuse bad arguments and produce nothing. */
static void test_cli_tokfile_format_args(void **state)
{
    (void)state;
    uint8_t toks[OHSM_APPROVAL_MAX_RECS + 1][OHSM_TOKEN_LEN];
    uint8_t data[(OHSM_APPROVAL_MAX_RECS + 1) * OHSM_APPROVAL_REC_LEN];
    char *text = (char *)1;
    memset(toks, 0, sizeof(toks));
    memset(data, 0, sizeof(data));
    assert_int_equal(ohsm_tokfile_format_mfa(CTOKS(toks), 0, &text), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_tokfile_format_mfa(CTOKS(toks), OHSM_APPROVAL_MAX_RECS + 1, &text),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_tokfile_format_mfa(NULL, 1, &text), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_tokfile_format_mfa(CTOKS(toks), 1, NULL), OHSM_ARGUMENTS_BAD);
    size_t bad_lens[] = {0, 95, 97, (OHSM_APPROVAL_MAX_RECS + 1) * OHSM_APPROVAL_REC_LEN};
    for (size_t i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++) {
        assert_int_equal(ohsm_tokfile_format_registration(data, bad_lens[i], &text),
                         OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_qtokfile_format(data, bad_lens[i], &text), OHSM_ARGUMENTS_BAD);
    }
    assert_int_equal(ohsm_qtokfile_format(NULL, 96, &text), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_tokfile_format_registration(data, 96, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_tokfile_format_mfa(CTOKS(toks), OHSM_APPROVAL_MAX_RECS, &text), OHSM_OK);
    free(text);
}

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    (void)snprintf(dir, sizeof(dir), "/tmp/ohsm_tokfile_XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t cap, const char *name)
{
    (void)snprintf(out, cap, "%s/%s", dir, name);
}

/* Written files are 0600, fsync'd, truncate what was there, and read back byte for byte. */
static void test_cli_tokfile_write_read(void **state)
{
    (void)state;
    char p[128];
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    uint8_t toks[2][OHSM_TOKEN_LEN];
    char *text = NULL;
    fill(toks[0], OHSM_TOKEN_LEN, 1);
    fill(toks[1], OHSM_TOKEN_LEN, 2);
    assert_int_equal(ohsm_tokfile_format_mfa(CTOKS(toks), 2, &text), OHSM_OK);
    path_of(p, sizeof(p), "t.json");
    mode_t old = umask(0);
    assert_int_equal(
        ohsm_tokfile_write(p, "a much longer previous content ......", err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_tokfile_write(p, text, err, sizeof(err)), OHSM_OK);
    (void)umask(old);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(ohsm_tokfile_read(p, &buf, &len, err, sizeof(err)), OHSM_OK);
    assert_int_equal(len, strlen(text));
    assert_string_equal(buf, text);
    struct ohsm_tokfile f;
    assert_int_equal(ohsm_tokfile_parse(buf, len, false, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(f.n, 2);
    ohsm_tokfile_free(&f);
    free(buf);
    free(text);
    /* An empty file reads as empty (and then fails to parse). */
    path_of(p, sizeof(p), "empty");
    assert_int_equal(ohsm_tokfile_write(p, "", err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_tokfile_read(p, &buf, &len, err, sizeof(err)), OHSM_OK);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
    /* Exactly OHSM_TOKFILE_MAX bytes is allowed. */
    path_of(p, sizeof(p), "max");
    memset(json, ' ', OHSM_TOKFILE_MAX);
    json[OHSM_TOKFILE_MAX] = '\0';
    assert_int_equal(ohsm_tokfile_write(p, json, err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_tokfile_read(p, &buf, &len, err, sizeof(err)), OHSM_OK);
    assert_int_equal(len, OHSM_TOKFILE_MAX);
    free(buf);
}

/* Missing files, directories, FIFOs and files over the limit are refused clearly. */
static void test_cli_tokfile_read_errors(void **state)
{
    (void)state;
    char p[128];
    char *buf = (char *)1;
    size_t len = 7;
    path_of(p, sizeof(p), "missing.json");
    assert_int_equal(ohsm_tokfile_read(p, &buf, &len, err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "cannot open token file"));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_int_equal(ohsm_tokfile_read(dir, &buf, &len, err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "is a directory"));
    assert_int_equal(ohsm_tokfile_read("", &buf, &len, err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "no token file path"));
    path_of(p, sizeof(p), "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(ohsm_tokfile_read(p, &buf, &len, err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "is not a regular file"));
    /* Writing to a FIFO without a reader fails instead of hanging. */
    assert_int_equal(ohsm_tokfile_write(p, "{}", err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "cannot write token file"));

    path_of(p, sizeof(p), "big");
    memset(json, ' ', OHSM_TOKFILE_MAX + 1);
    json[OHSM_TOKFILE_MAX + 1] = '\0';
    assert_int_equal(ohsm_tokfile_write(p, json, err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_tokfile_read(p, &buf, &len, err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "is larger than 262144 bytes"));
    assert_null(buf);
    /* Unreadable (when not root). */
    if (geteuid() != 0) {
        path_of(p, sizeof(p), "noread");
        assert_int_equal(ohsm_tokfile_write(p, "{}", err, sizeof(err)), OHSM_OK);
        assert_int_equal(chmod(p, 0200), 0);
        assert_int_equal(ohsm_tokfile_read(p, &buf, &len, err, sizeof(err)), OHSM_DATA_INVALID);
        assert_non_null(strstr(err, "Permission denied"));
    }
    assert_int_equal(ohsm_tokfile_read(NULL, &buf, &len, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
}

/* Writes refuse symlinks, directories and missing parents, and leave the target alone. */
static void test_cli_tokfile_write_errors(void **state)
{
    (void)state;
    char p[128];
    char target[128];
    char *buf = NULL;
    size_t len = 0;
    path_of(target, sizeof(target), "target");
    assert_int_equal(ohsm_tokfile_write(target, "keep", err, sizeof(err)), OHSM_OK);
    path_of(p, sizeof(p), "link");
    assert_int_equal(symlink(target, p), 0);
    assert_int_equal(ohsm_tokfile_write(p, "{}", err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "cannot write token file"));
    assert_int_equal(ohsm_tokfile_read(target, &buf, &len, err, sizeof(err)), OHSM_OK);
    assert_string_equal(buf, "keep");
    free(buf);
    /* Reading through a symlink is fine (a user's own layout). */
    assert_int_equal(ohsm_tokfile_read(p, &buf, &len, err, sizeof(err)), OHSM_OK);
    assert_string_equal(buf, "keep");
    free(buf);
    assert_int_equal(ohsm_tokfile_write(dir, "{}", err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "Is a directory"));
    path_of(p, sizeof(p), "no/such/dir/t.json");
    assert_int_equal(ohsm_tokfile_write(p, "{}", err, sizeof(err)), OHSM_DATA_INVALID);
    assert_non_null(strstr(err, "No such file or directory"));
    assert_int_equal(ohsm_tokfile_write("", "{}", err, sizeof(err)), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_tokfile_write(p, NULL, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_tokfile_mfa_roundtrip),
        cmocka_unit_test(test_cli_tokfile_mfa_signed),
        cmocka_unit_test(test_cli_tokfile_json_errors),
        cmocka_unit_test(test_cli_tokfile_version),
        cmocka_unit_test(test_cli_tokfile_members),
        cmocka_unit_test(test_cli_tokfile_base64),
        cmocka_unit_test(test_cli_tokfile_registration_roundtrip),
        cmocka_unit_test(test_cli_tokfile_registration_errors),
        cmocka_unit_test(test_cli_tokfile_quorum_roundtrip),
        cmocka_unit_test(test_cli_tokfile_quorum_errors),
        cmocka_unit_test(test_cli_tokfile_format_args),
        cmocka_unit_test(test_cli_tokfile_write_read),
        cmocka_unit_test(test_cli_tokfile_read_errors),
        cmocka_unit_test(test_cli_tokfile_write_errors),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
