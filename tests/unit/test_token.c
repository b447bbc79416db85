/* SPDX-License-Identifier: Apache-2.0
 * Token-sign tokens: service names; the MFA token hash is the documented byte layout and changes
 * with every input; signatures made the `openssl pkeyutl -sign -pkeyopt digest:sha256` way verify
 * (checked once against the real tool) and every other signature does not; only canonical DER
 * RSA-2048 public keys pass; PEM conversion; approval records round trip, and every truncation and
 * corruption of their checked bytes is refused; finding a record among 1..32. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "openhsm/token.h"

/* Keys made once for the whole group (RSA key generation is slow). */
static struct {
    EVP_PKEY *a, *b, *r1024, *r3072, *ec, *pss, *ed;
    uint8_t *der_a, *der_b;
    size_t len_a, len_b;
} K;

static const uint8_t nonce0[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static uint8_t *der_of(EVP_PKEY *pk, size_t *len)
{
    uint8_t *der = NULL;
    int n = i2d_PUBKEY(pk, &der);
    assert_true(n > 0);
    *len = (size_t)n;
    return der;
}

static int setup(void **state)
{
    (void)state;
    K.a = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    K.b = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    K.r1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    K.r3072 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    K.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) != 1 || EVP_PKEY_keygen(c, &K.pss) != 1) {
        K.pss = NULL;
    }
    EVP_PKEY_CTX_free(c);
    K.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (K.a == NULL || K.b == NULL || K.r1024 == NULL || K.r3072 == NULL || K.ec == NULL ||
        K.pss == NULL || K.ed == NULL) {
        return -1;
    }
    int na = i2d_PUBKEY(K.a, &K.der_a), nb = i2d_PUBKEY(K.b, &K.der_b);
    if (na <= 0 || nb <= 0) {
        return -1;
    }
    K.len_a = (size_t)na;
    K.len_b = (size_t)nb;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY *all[] = {K.a, K.b, K.r1024, K.r3072, K.ec, K.pss, K.ed};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        EVP_PKEY_free(all[i]);
    }
    OPENSSL_free(K.der_a);
    OPENSSL_free(K.der_b);
    return 0;
}

/* What `openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256 -in token.bin` does. */
static size_t sign_tok(EVP_PKEY *pk, const uint8_t tok[32], uint8_t *sig, size_t cap)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    size_t n = cap;
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_sign_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_sign(c, sig, &n, tok, 32), 1);
    EVP_PKEY_CTX_free(c);
    return n;
}

static void token_of(uint8_t seed, uint8_t tok[32])
{
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "hsm-a", "alice", nonce0, seed, tok), OHSM_OK);
}

/* ---- services ---- */

/* Every service has a name that parses back; nothing else names a service. */
static void test_token_qservice_names(void **state)
{
    (void)state;
    static const char *const want[] = {NULL,           "user",           "quorum",   "cluster",
                                       "registration", "key-management", "key-usage"};
    for (int s = 1; s <= OHSM_QS_MAX_; s++) {
        enum ohsm_qservice out = OHSM_QS_NONE;
        assert_string_equal(ohsm_qservice_name((enum ohsm_qservice)s), want[s]);
        assert_true(ohsm_qservice_parse(want[s], &out));
        assert_int_equal(out, s);
    }
    assert_null(ohsm_qservice_name(OHSM_QS_NONE));
    assert_null(ohsm_qservice_name((enum ohsm_qservice)(OHSM_QS_MAX_ + 1)));
    assert_null(ohsm_qservice_name((enum ohsm_qservice) - 1));
    static const char *const bad[] = {"",     "User",  "USER",           "user ",         " user",
                                      "none", "users", "key_management", "keymanagement", "use"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum ohsm_qservice out = OHSM_QS_QUORUM;
        assert_false(ohsm_qservice_parse(bad[i], &out));
        assert_int_equal(out, OHSM_QS_QUORUM);
    }
    enum ohsm_qservice out;
    assert_false(ohsm_qservice_parse(NULL, &out));
    assert_false(ohsm_qservice_parse("user", NULL));
}

/* ---- MFA token ---- */

/* The token is SHA-256 over exactly the layout documented in token.c. */
static void test_token_mfa_layout(void **state)
{
    (void)state;
    uint8_t buf[128], want[32], got[32];
    size_t n = 0;
    memcpy(buf, "openhsm-mfa-v1", 14);
    n = 14;
    buf[n++] = 2;
    buf[n++] = 0;
    buf[n++] = 5;
    memcpy(buf + n, "hsm-b", 5);
    n += 5;
    buf[n++] = 0;
    buf[n++] = 3;
    memcpy(buf + n, "bob", 3);
    n += 3;
    memcpy(buf + n, nonce0, 32);
    n += 32;
    static const uint8_t exp[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    memcpy(buf + n, exp, 8);
    n += 8;
    assert_int_equal(EVP_Digest(buf, n, want, NULL, EVP_sha256(), NULL), 1);
    assert_int_equal(
        ohsm_mfa_token(OHSM_MFA_REGISTER, "hsm-b", "bob", nonce0, 0x0123456789abcdefULL, got),
        OHSM_OK);
    assert_memory_equal(got, want, 32);
}

/* Same inputs, same token; a change of any one input changes it; string splits cannot collide. */
static void test_token_mfa_binding(void **state)
{
    (void)state;
    uint8_t base[32], again[32], t[32], nonce[32];
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "hsm-a", "alice", nonce0, 1000, base), OHSM_OK);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "hsm-a", "alice", nonce0, 1000, again),
                     OHSM_OK);
    assert_memory_equal(base, again, 32);

    assert_int_equal(ohsm_mfa_token(OHSM_MFA_REGISTER, "hsm-a", "alice", nonce0, 1000, t), OHSM_OK);
    assert_memory_not_equal(base, t, 32);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "hsm-b", "alice", nonce0, 1000, t), OHSM_OK);
    assert_memory_not_equal(base, t, 32);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "hsm-a", "alicf", nonce0, 1000, t), OHSM_OK);
    assert_memory_not_equal(base, t, 32);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "hsm-a", "alice", nonce0, 1001, t), OHSM_OK);
    assert_memory_not_equal(base, t, 32);
    assert_int_equal(
        ohsm_mfa_token(OHSM_MFA_LOGIN, "hsm-a", "alice", nonce0, 1000ULL | 1ULL << 63, t), OHSM_OK);
    assert_memory_not_equal(base, t, 32);
    for (size_t i = 0; i < 32 * 8; i++) {
        memcpy(nonce, nonce0, 32);
        nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "hsm-a", "alice", nonce, 1000, t), OHSM_OK);
        assert_memory_not_equal(base, t, 32);
    }
    /* ("ab", "c") vs ("a", "bc") */
    uint8_t x[32], y[32];
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "ab", "c", nonce0, 7, x), OHSM_OK);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "a", "bc", nonce0, 7, y), OHSM_OK);
    assert_memory_not_equal(x, y, 32);
}

/* Bad arguments are refused; the longest accepted strings are OHSM_MFA_STR_MAX bytes. */
static void test_token_mfa_args(void **state)
{
    (void)state;
    uint8_t t[32];
    char longest[OHSM_MFA_STR_MAX + 2];
    memset(longest, 'x', sizeof(longest));
    longest[OHSM_MFA_STR_MAX] = '\0';
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, longest, longest, nonce0, 0, t), OHSM_OK);
    longest[OHSM_MFA_STR_MAX] = 'x';
    longest[OHSM_MFA_STR_MAX + 1] = '\0';
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, longest, "u", nonce0, 0, t),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "h", longest, nonce0, 0, t),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "", "u", nonce0, 0, t), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "h", "", nonce0, 0, t), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, NULL, "u", nonce0, 0, t), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "h", NULL, nonce0, 0, t), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "h", "u", NULL, 0, t), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token(OHSM_MFA_LOGIN, "h", "u", nonce0, 0, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token((enum ohsm_mfa_kind)0, "h", "u", nonce0, 0, t),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mfa_token((enum ohsm_mfa_kind)3, "h", "u", nonce0, 0, t),
                     OHSM_ARGUMENTS_BAD);
}

/* ---- signatures ---- */

/* A signature made the pkeyutl way verifies with the signer's key (and a fresh one each time). */
static void test_token_verify_accepts(void **state)
{
    (void)state;
    uint8_t tok[32], sig[512];
    for (uint8_t i = 0; i < 4; i++) {
        token_of(i, tok);
        size_t n = sign_tok(K.a, tok, sig, sizeof(sig));
        assert_int_equal(n, 256);
        assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, sig, n), OHSM_OK);
    }
}

/* Signs in with the given padding and signature md (NULL: none). */
static size_t sign_raw(EVP_PKEY *pk, int pad, const EVP_MD *md, const uint8_t *in, size_t len,
                       uint8_t *sig, size_t cap)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    size_t n = cap;
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_sign_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, pad), 1);
    if (md != NULL) {
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, md), 1);
    }
    assert_int_equal(EVP_PKEY_sign(c, sig, &n, in, len), 1);
    EVP_PKEY_CTX_free(c);
    return n;
}

/* Everything else is OHSM_TOKEN_INVALID: another key, another token, any flipped bit, empty,
 * truncated, over-long, and signatures of the right token in other formats. */
static void test_token_verify_refuses(void **state)
{
    (void)state;
    uint8_t tok[32], other[32], sig[600], bad[600];
    token_of(1, tok);
    token_of(2, other);
    size_t n = sign_tok(K.a, tok, sig, sizeof(sig));
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, sig, n), OHSM_OK);

    /* another key: B's signature under A's key, and A's under B's */
    size_t nb = sign_tok(K.b, tok, bad, sizeof(bad));
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, nb), OHSM_TOKEN_INVALID);
    assert_int_equal(ohsm_token_verify(K.der_b, K.len_b, tok, sig, n), OHSM_TOKEN_INVALID);
    assert_int_equal(ohsm_token_verify(K.der_b, K.len_b, tok, bad, nb), OHSM_OK);
    /* a signature of another token */
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, other, sig, n), OHSM_TOKEN_INVALID);
    /* every flipped bit */
    for (size_t i = 0; i < n * 8; i++) {
        memcpy(bad, sig, n);
        bad[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, n), OHSM_TOKEN_INVALID);
    }
    /* empty */
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, NULL, 0), OHSM_TOKEN_INVALID);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, sig, 0), OHSM_TOKEN_INVALID);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, NULL, n), OHSM_TOKEN_INVALID);
    /* truncated (either end) */
    for (size_t len = 1; len < n; len++) {
        assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, sig, len), OHSM_TOKEN_INVALID);
        assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, sig + n - len, len),
                         OHSM_TOKEN_INVALID);
    }
    /* over-long: a leading zero (same integer), a trailing byte, far too long */
    bad[0] = 0;
    memcpy(bad + 1, sig, n);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, n + 1), OHSM_TOKEN_INVALID);
    memcpy(bad, sig, n);
    bad[n] = 0;
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, n + 1), OHSM_TOKEN_INVALID);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, OHSM_TOKEN_SIG_MAX),
                     OHSM_TOKEN_INVALID);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, OHSM_TOKEN_SIG_MAX + 1),
                     OHSM_TOKEN_INVALID);
    /* other formats: SHA-256 of the token signed (hashed twice), raw PKCS#1 without DigestInfo,
     * SHA-384 DigestInfo, PSS */
    size_t m;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    m = 256;
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, K.a), 1);
    assert_int_equal(EVP_DigestSign(md, bad, &m, tok, 32), 1);
    EVP_MD_CTX_free(md);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, m), OHSM_TOKEN_INVALID);
    m = sign_raw(K.a, RSA_PKCS1_PADDING, NULL, tok, 32, bad, sizeof(bad));
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, m), OHSM_TOKEN_INVALID);
    uint8_t tok48[48] = {0};
    memcpy(tok48, tok, 32);
    m = sign_raw(K.a, RSA_PKCS1_PADDING, EVP_sha384(), tok48, 48, bad, sizeof(bad));
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, m), OHSM_TOKEN_INVALID);
    m = sign_raw(K.a, RSA_PKCS1_PSS_PADDING, EVP_sha256(), tok, 32, bad, sizeof(bad));
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, bad, m), OHSM_TOKEN_INVALID);
    /* bad key, bad arguments */
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a - 1, tok, sig, n), OHSM_PUBLIC_KEY_INVALID);
    assert_int_equal(ohsm_token_verify(NULL, 0, tok, sig, n), OHSM_PUBLIC_KEY_INVALID);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, NULL, sig, n), OHSM_ARGUMENTS_BAD);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    assert_true(n < cap); /* whole file read */
    fclose(f);
    return n;
}

static void run(const char *fmt, const char *dir)
{
    char cmd[1024];
    int n = snprintf(cmd, sizeof(cmd), fmt, dir, dir, dir);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    assert_int_equal(system(cmd), 0);
}

/* The real tool: `openssl pkeyutl -sign -pkeyopt digest:sha256` over a token (and over an approval
 * digest) verifies, and the tool's public key PEMs (both flavours) convert to our canonical DER. */
static void test_token_openssl_cli(void **state)
{
    (void)state;
    char dir[] = "/tmp/ohsm_tokXXXXXX", path[256];
    uint8_t tok[32], other[32], sig[1024], pem[4096], *der = NULL;
    size_t der_len = 0;
    assert_non_null(mkdtemp(dir));

    assert_true(snprintf(path, sizeof(path), "%s/key.pem", dir) < (int)sizeof(path));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, K.a, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    token_of(9, tok);
    token_of(10, other);
    assert_true(snprintf(path, sizeof(path), "%s/token.bin", dir) < (int)sizeof(path));
    write_file(path, tok, 32);

    run("openssl pkeyutl -sign -inkey %s/key.pem -pkeyopt digest:sha256 -in %s/token.bin "
        "-out %s/token.sig",
        dir);
    assert_true(snprintf(path, sizeof(path), "%s/token.sig", dir) < (int)sizeof(path));
    size_t n = read_file(path, sig, sizeof(sig));
    assert_int_equal(n, 256);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, sig, n), OHSM_OK);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, other, sig, n), OHSM_TOKEN_INVALID);
    assert_int_equal(ohsm_token_verify(K.der_b, K.len_b, tok, sig, n), OHSM_TOKEN_INVALID);

    /* an approval token: SHA-256 of the approval data, signed the same way */
    uint8_t data[2 * OHSM_APPROVAL_REC_LEN], digest[32];
    struct ohsm_approval_rec r = {.service = OHSM_QS_USER, .expires = 99};
    memcpy(r.hsm_id, "hsm-1", 6);
    memcpy(r.username, "admin", 6);
    assert_int_equal(ohsm_approval_rec_encode(&r, data), OHSM_OK);
    memcpy(r.hsm_id, "hsm-2", 6);
    assert_int_equal(ohsm_approval_rec_encode(&r, data + OHSM_APPROVAL_REC_LEN), OHSM_OK);
    assert_int_equal(ohsm_approval_digest(data, sizeof(data), digest), OHSM_OK);
    assert_true(snprintf(path, sizeof(path), "%s/token.bin", dir) < (int)sizeof(path));
    write_file(path, digest, 32);
    run("openssl pkeyutl -sign -inkey %s/key.pem -pkeyopt digest:sha256 -in %s/token.bin "
        "-out %s/token.sig",
        dir);
    assert_true(snprintf(path, sizeof(path), "%s/token.sig", dir) < (int)sizeof(path));
    n = read_file(path, sig, sizeof(sig));
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, digest, sig, n), OHSM_OK);
    assert_int_equal(ohsm_token_verify(K.der_a, K.len_a, tok, sig, n), OHSM_TOKEN_INVALID);

    /* the tool's public key PEMs */
    run("openssl pkey -in %s/key.pem -pubout -out %s/pub.pem", dir);
    assert_true(snprintf(path, sizeof(path), "%s/pub.pem", dir) < (int)sizeof(path));
    n = read_file(path, pem, sizeof(pem));
    assert_int_equal(ohsm_token_pubkey_from_pem((const char *)pem, n, &der, &der_len), OHSM_OK);
    assert_int_equal(der_len, K.len_a);
    assert_memory_equal(der, K.der_a, der_len);
    free(der);
    run("openssl rsa -in %s/key.pem -RSAPublicKey_out -out %s/rsapub.pem 2>/dev/null", dir);
    assert_true(snprintf(path, sizeof(path), "%s/rsapub.pem", dir) < (int)sizeof(path));
    n = read_file(path, pem, sizeof(pem));
    assert_non_null(strstr((const char *)pem, "BEGIN RSA PUBLIC KEY"));
    assert_int_equal(ohsm_token_pubkey_from_pem((const char *)pem, n, &der, &der_len), OHSM_OK);
    assert_int_equal(der_len, K.len_a);
    assert_memory_equal(der, K.der_a, der_len);
    free(der);

    run("rm -rf %s", dir);
}

/* ---- public keys ---- */

static void assert_pub_invalid(EVP_PKEY *pk)
{
    size_t len;
    uint8_t *der = der_of(pk, &len);
    assert_int_equal(ohsm_token_pubkey_check(der, len), OHSM_PUBLIC_KEY_INVALID);
    OPENSSL_free(der);
}

/* An RSA public key with A's modulus and exponent e. */
static EVP_PKEY *rsa_with_e(unsigned long e)
{
    BIGNUM *n = NULL, *bn_e = BN_new();
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pk = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(K.a, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(BN_set_word(bn_e, e), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, bn_e), 1);
    params = OSSL_PARAM_BLD_to_param(b);
    assert_non_null(params);
    assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
    assert_int_equal(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    EVP_PKEY_CTX_free(c);
    BN_free(n);
    BN_free(bn_e);
    return pk;
}

/* Only canonical DER RSA-2048 with an odd exponent >= 3 passes. */
static void test_token_pubkey_check(void **state)
{
    (void)state;
    assert_int_equal(ohsm_token_pubkey_check(K.der_a, K.len_a), OHSM_OK);
    assert_int_equal(ohsm_token_pubkey_check(K.der_b, K.len_b), OHSM_OK);
    assert_pub_invalid(K.r1024);
    assert_pub_invalid(K.r3072);
    assert_pub_invalid(K.ec);
    assert_pub_invalid(K.pss);
    assert_pub_invalid(K.ed);
    static const unsigned long bad_e[] = {1, 2, 4, 65536};
    for (size_t i = 0; i < sizeof(bad_e) / sizeof(bad_e[0]); i++) {
        EVP_PKEY *pk = rsa_with_e(bad_e[i]);
        assert_pub_invalid(pk);
        EVP_PKEY_free(pk);
    }
    EVP_PKEY *e3 = rsa_with_e(3);
    size_t len;
    uint8_t *der = der_of(e3, &len);
    assert_int_equal(ohsm_token_pubkey_check(der, len), OHSM_OK);
    OPENSSL_free(der);
    EVP_PKEY_free(e3);

    /* garbage, empty, NULL, too long */
    uint8_t junk[OHSM_TOKEN_PUBKEY_MAX + 8];
    assert_int_equal(RAND_bytes(junk, sizeof(junk)), 1);
    assert_int_equal(ohsm_token_pubkey_check(junk, 294), OHSM_PUBLIC_KEY_INVALID);
    assert_int_equal(ohsm_token_pubkey_check(junk, 0), OHSM_PUBLIC_KEY_INVALID);
    assert_int_equal(ohsm_token_pubkey_check(NULL, 294), OHSM_PUBLIC_KEY_INVALID);
    assert_int_equal(ohsm_token_pubkey_check((const uint8_t *)"0", 1), OHSM_PUBLIC_KEY_INVALID);
    /* trailing bytes (a zero, a whole second copy), every truncation */
    uint8_t two[2 * 400];
    assert_true(K.len_a <= 400);
    memcpy(two, K.der_a, K.len_a);
    two[K.len_a] = 0;
    assert_int_equal(ohsm_token_pubkey_check(two, K.len_a + 1), OHSM_PUBLIC_KEY_INVALID);
    memcpy(two + K.len_a, K.der_a, K.len_a);
    assert_int_equal(ohsm_token_pubkey_check(two, 2 * K.len_a), OHSM_PUBLIC_KEY_INVALID);
    for (size_t l = 0; l < K.len_a; l++) {
        assert_int_equal(ohsm_token_pubkey_check(K.der_a, l), OHSM_PUBLIC_KEY_INVALID);
    }
    /* non-canonical: the outer length in a longer form than needed (BER, not DER) */
    assert_int_equal(K.der_a[0], 0x30);
    assert_int_equal(K.der_a[1], 0x82);
    uint8_t ber[400];
    ber[0] = 0x30;
    ber[1] = 0x83;
    ber[2] = 0;
    memcpy(ber + 3, K.der_a + 2, K.len_a - 2);
    assert_int_equal(ohsm_token_pubkey_check(ber, K.len_a + 1), OHSM_PUBLIC_KEY_INVALID);
    /* a PEM is not DER */
    assert_int_equal(ohsm_token_pubkey_check((const uint8_t *)"-----BEGIN PUBLIC KEY-----\n", 27),
                     OHSM_PUBLIC_KEY_INVALID);
}

static size_t pem_of(EVP_PKEY *pk, const char *structure, char *out, size_t cap)
{
    OSSL_ENCODER_CTX *e =
        OSSL_ENCODER_CTX_new_for_pkey(pk, EVP_PKEY_PUBLIC_KEY, "PEM", structure, NULL);
    uint8_t *buf = NULL;
    size_t n = 0;
    assert_non_null(e);
    assert_int_equal(OSSL_ENCODER_to_data(e, &buf, &n), 1);
    assert_true(n < cap);
    memcpy(out, buf, n);
    out[n] = '\0';
    OPENSSL_free(buf);
    OSSL_ENCODER_CTX_free(e);
    return n;
}

/* DER PKCS#1 RSAPublicKey of pk into out. */
static size_t pkcs1_of(EVP_PKEY *pk, uint8_t *out, size_t cap)
{
    OSSL_ENCODER_CTX *e =
        OSSL_ENCODER_CTX_new_for_pkey(pk, EVP_PKEY_PUBLIC_KEY, "DER", "type-specific", NULL);
    uint8_t *buf = NULL;
    size_t n = 0;
    assert_non_null(e);
    assert_int_equal(OSSL_ENCODER_to_data(e, &buf, &n), 1);
    assert_true(n < cap);
    memcpy(out, buf, n);
    OPENSSL_free(buf);
    OSSL_ENCODER_CTX_free(e);
    return n;
}

/* A PEM block with the given label around der. */
static int pem_wrap(const char *label, const uint8_t *der, size_t len, char *out, size_t cap)
{
    unsigned char b64[1024];
    assert_true(len <= 3 * (sizeof(b64) / 4) - 3);
    int k = EVP_EncodeBlock(b64, der, (int)len);
    assert_true(k > 0);
    int m = snprintf(out, cap, "-----BEGIN %s-----\n%s\n-----END %s-----\n", label, b64, label);
    assert_true(m > 0 && (size_t)m < cap);
    return m;
}

static void assert_pem(const char *pem, size_t len, ohsm_rv want)
{
    uint8_t *der = (uint8_t *)1;
    size_t der_len = 7;
    assert_int_equal(ohsm_token_pubkey_from_pem(pem, len, &der, &der_len), want);
    assert_null(der);
    assert_int_equal(der_len, 0);
}

/* Both PEM flavours give the canonical DER SPKI; anything else is refused with nothing returned. */
static void test_token_pubkey_pem(void **state)
{
    (void)state;
    char pem[4096], buf[4096];
    uint8_t *der = NULL;
    size_t der_len = 0, n;

    n = pem_of(K.a, "SubjectPublicKeyInfo", pem, sizeof(pem));
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    assert_int_equal(ohsm_token_pubkey_from_pem(pem, n, &der, &der_len), OHSM_OK);
    assert_int_equal(der_len, K.len_a);
    assert_memory_equal(der, K.der_a, der_len);
    assert_int_equal(ohsm_token_pubkey_check(der, der_len), OHSM_OK);
    free(der);

    n = pem_of(K.b, "type-specific", pem, sizeof(pem));
    assert_non_null(strstr(pem, "-----BEGIN RSA PUBLIC KEY-----"));
    assert_int_equal(ohsm_token_pubkey_from_pem(pem, n, &der, &der_len), OHSM_OK);
    assert_int_equal(der_len, K.len_b);
    assert_memory_equal(der, K.der_b, der_len);
    free(der);

    /* text before the block is skipped (as openssl does); len bounds the input, no NUL needed */
    n = pem_of(K.a, "SubjectPublicKeyInfo", pem, sizeof(pem));
    int m = snprintf(buf, sizeof(buf), "my key:\n%s", pem);
    assert_true(m > 0 && (size_t)m < sizeof(buf));
    buf[m] = 'Z';
    assert_int_equal(ohsm_token_pubkey_from_pem(buf, (size_t)m, &der, &der_len), OHSM_OK);
    assert_memory_equal(der, K.der_a, der_len);
    free(der);

    /* wrong key types and sizes */
    n = pem_of(K.r1024, "SubjectPublicKeyInfo", pem, sizeof(pem));
    assert_pem(pem, n, OHSM_PUBLIC_KEY_INVALID);
    n = pem_of(K.r3072, "type-specific", pem, sizeof(pem));
    assert_pem(pem, n, OHSM_PUBLIC_KEY_INVALID);
    n = pem_of(K.ec, "SubjectPublicKeyInfo", pem, sizeof(pem));
    assert_pem(pem, n, OHSM_PUBLIC_KEY_INVALID);
    n = pem_of(K.pss, "SubjectPublicKeyInfo", pem, sizeof(pem));
    assert_pem(pem, n, OHSM_PUBLIC_KEY_INVALID);

    /* a private key is not a public key PEM */
    OSSL_ENCODER_CTX *e = OSSL_ENCODER_CTX_new_for_pkey(K.a, EVP_PKEY_KEYPAIR, "PEM", NULL, NULL);
    uint8_t *priv = NULL;
    size_t priv_len = 0;
    assert_non_null(e);
    assert_int_equal(OSSL_ENCODER_to_data(e, &priv, &priv_len), 1);
    OSSL_ENCODER_CTX_free(e);
    assert_non_null(strstr((const char *)priv, "PRIVATE KEY"));
    assert_pem((const char *)priv, priv_len, OHSM_DATA_INVALID);
    OPENSSL_clear_free(priv, priv_len);

    /* garbage, empty, truncated, corrupted base64, wrong labels, encryption headers */
    assert_pem("hello", 5, OHSM_DATA_INVALID);
    assert_pem("", 0, OHSM_DATA_INVALID);
    assert_pem(NULL, 10, OHSM_DATA_INVALID);
    n = pem_of(K.a, "SubjectPublicKeyInfo", pem, sizeof(pem));
    assert_pem(pem, n / 2, OHSM_DATA_INVALID);
    assert_pem(pem, n - 10, OHSM_DATA_INVALID); /* END line cut */
    memcpy(buf, pem, n + 1);
    buf[40] = buf[40] == 'A' ? 'B' : 'A'; /* a character of the DER changes */
    {
        uint8_t *d = NULL;
        size_t dl = 0;
        ohsm_rv rv = ohsm_token_pubkey_from_pem(buf, n, &d, &dl);
        assert_true(rv == OHSM_DATA_INVALID || rv == OHSM_PUBLIC_KEY_INVALID);
        assert_null(d);
    }
    memcpy(buf, pem, n + 1);
    buf[40] = '*'; /* not base64 */
    assert_pem(buf, n, OHSM_DATA_INVALID);
    /* SPKI body under other labels; PKCS#1 body under the SPKI label */
    char *body = strstr(pem, "\n") + 1;
    m = snprintf(buf, sizeof(buf), "-----BEGIN CERTIFICATE-----\n%.*s-----END CERTIFICATE-----\n",
                 (int)(strstr(pem, "-----END") - body), body);
    assert_true(m > 0 && (size_t)m < sizeof(buf));
    assert_pem(buf, (size_t)m, OHSM_DATA_INVALID);
    m = snprintf(buf, sizeof(buf),
                 "-----BEGIN RSA PUBLIC KEY-----\n%.*s-----END RSA PUBLIC KEY-----\n",
                 (int)(strstr(pem, "-----END") - body), body);
    assert_pem(buf, (size_t)m, OHSM_DATA_INVALID);
    pem_of(K.a, "type-specific", pem, sizeof(pem));
    body = strstr(pem, "\n") + 1;
    m = snprintf(buf, sizeof(buf), "-----BEGIN PUBLIC KEY-----\n%.*s-----END PUBLIC KEY-----\n",
                 (int)(strstr(pem, "-----END") - body), body);
    assert_pem(buf, (size_t)m, OHSM_DATA_INVALID);
    n = pem_of(K.a, "SubjectPublicKeyInfo", pem, sizeof(pem));
    body = strstr(pem, "\n") + 1;
    m = snprintf(buf, sizeof(buf),
                 "-----BEGIN PUBLIC KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: "
                 "AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n%s",
                 body);
    assert_pem(buf, (size_t)m, OHSM_DATA_INVALID);

    /* a PKCS#1 body under another label; either body with a trailing byte */
    uint8_t body1[600];
    size_t len1 = pkcs1_of(K.a, body1, sizeof(body1));
    m = pem_wrap("CERTIFICATE", body1, len1, buf, sizeof(buf));
    assert_pem(buf, (size_t)m, OHSM_DATA_INVALID);
    m = pem_wrap("RSA PUBLIC KEY", body1, len1, buf, sizeof(buf));
    assert_int_equal(ohsm_token_pubkey_from_pem(buf, (size_t)m, &der, &der_len), OHSM_OK);
    assert_memory_equal(der, K.der_a, der_len);
    free(der);
    body1[len1] = 0;
    m = pem_wrap("RSA PUBLIC KEY", body1, len1 + 1, buf, sizeof(buf));
    assert_pem(buf, (size_t)m, OHSM_DATA_INVALID);
    memcpy(body1, K.der_a, K.len_a);
    body1[K.len_a] = 0;
    m = pem_wrap("PUBLIC KEY", body1, K.len_a, buf, sizeof(buf));
    assert_int_equal(ohsm_token_pubkey_from_pem(buf, (size_t)m, &der, &der_len), OHSM_OK);
    free(der);
    m = pem_wrap("PUBLIC KEY", body1, K.len_a + 1, buf, sizeof(buf));
    assert_pem(buf, (size_t)m, OHSM_DATA_INVALID);

    assert_int_equal(ohsm_token_pubkey_from_pem(pem, n, NULL, &der_len), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_token_pubkey_from_pem(pem, n, &der, NULL), OHSM_ARGUMENTS_BAD);
}

/* ---- approvals ---- */

/* The digest is plain SHA-256 of the data. */
static void test_token_approval_digest(void **state)
{
    (void)state;
    uint8_t data[200], got[32], want[32];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)i;
    }
    assert_int_equal(ohsm_approval_digest(data, sizeof(data), got), OHSM_OK);
    assert_int_equal(EVP_Digest(data, sizeof(data), want, NULL, EVP_sha256(), NULL), 1);
    assert_memory_equal(got, want, 32);
    assert_int_equal(ohsm_approval_digest(data, 199, got), OHSM_OK);
    assert_memory_not_equal(got, want, 32);
    assert_int_equal(ohsm_approval_digest(NULL, 0, got), OHSM_OK);
    assert_int_equal(EVP_Digest("", 0, want, NULL, EVP_sha256(), NULL), 1);
    assert_memory_equal(got, want, 32);
    assert_int_equal(ohsm_approval_digest(NULL, 1, got), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_approval_digest(data, 1, NULL), OHSM_ARGUMENTS_BAD);
}

static struct ohsm_approval_rec rec_of(const char *hsm_id, const char *user)
{
    struct ohsm_approval_rec r;
    memset(&r, 0, sizeof(r));
    r.service = OHSM_QS_USER;
    r.slot = 3;
    assert_true(strlen(hsm_id) < sizeof(r.hsm_id));
    memcpy(r.hsm_id, hsm_id, strlen(hsm_id) + 1);
    assert_true(strlen(user) < sizeof(r.username));
    memcpy(r.username, user, strlen(user) + 1);
    for (int i = 0; i < 16; i++) {
        r.nonce[i] = (uint8_t)(0xa0 + i);
    }
    r.expires = 0x0102030405060708ULL;
    r.key_handle = 0x1112131415161718ULL;
    return r;
}

static void assert_rec_equal(const struct ohsm_approval_rec *a, const struct ohsm_approval_rec *b)
{
    assert_int_equal(a->service, b->service);
    assert_int_equal(a->slot, b->slot);
    assert_string_equal(a->hsm_id, b->hsm_id);
    assert_memory_equal(a->nonce, b->nonce, 16);
    assert_string_equal(a->username, b->username);
    assert_true(a->expires == b->expires);
    assert_true(a->key_handle == b->key_handle);
}

static void assert_dec_invalid(const uint8_t *p, size_t len)
{
    struct ohsm_approval_rec out;
    memset(&out, 0x55, sizeof(out));
    assert_int_equal(ohsm_approval_rec_decode(p, len, &out), OHSM_DATA_INVALID);
    assert_int_equal(out.service, OHSM_QS_NONE); /* nothing returned */
    assert_int_equal(out.hsm_id[0], 0);
}

/* Encode/decode round trip for every service and the longest names; the bytes are the documented
 * layout. Names the record cannot hold are refused. */
static void test_token_rec_roundtrip(void **state)
{
    (void)state;
    uint8_t buf[OHSM_APPROVAL_REC_LEN];
    struct ohsm_approval_rec r = rec_of("hsm-abcdefghijk", "abcdefghijklmnopqrstuvwxyz01234"), d;
    assert_int_equal(strlen(r.hsm_id), OHSM_APPROVAL_HSM_ID_MAX);
    assert_int_equal(strlen(r.username), OHSM_APPROVAL_USERNAME_MAX);
    for (int s = 1; s <= OHSM_QS_MAX_; s++) {
        r.service = (enum ohsm_qservice)s;
        assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_OK);
        assert_int_equal(ohsm_approval_rec_decode(buf, sizeof(buf), &d), OHSM_OK);
        assert_rec_equal(&r, &d);
    }
    r = rec_of("h", "u");
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_OK);
    static const uint8_t want[OHSM_APPROVAL_REC_LEN] = {
        'O',  'H',  'Q',  '1',  1,    3,    0,    0,    'h',  0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0xa0, 0xa1, 0xa2, 0xa3,
        0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 'u',  0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
        0,    0,    1,    2,    3,    4,    5,    6,    7,    8,    0x11, 0x12, 0x13, 0x14,
        0x15, 0x16, 0x17, 0x18, 0,    0,    0,    0,    0,    0,    0,    0};
    assert_memory_equal(buf, want, sizeof(want));
    assert_int_equal(ohsm_approval_rec_decode(want, sizeof(want), &d), OHSM_OK);
    assert_rec_equal(&r, &d);

    /* refused on encode */
    r = rec_of("h", "u");
    r.service = OHSM_QS_NONE;
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_ARGUMENTS_BAD);
    r.service = (enum ohsm_qservice)(OHSM_QS_MAX_ + 1);
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_ARGUMENTS_BAD);
    r = rec_of("", "u");
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_ARGUMENTS_BAD);
    r = rec_of("h", "");
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_ARGUMENTS_BAD);
    r = rec_of("hsm-abcdefghijkl", "u"); /* 16 characters: no room for the NUL */
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_ARGUMENTS_BAD);
    r = rec_of("hsm a", "u");
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_ARGUMENTS_BAD);
    r = rec_of("h", "al\x01ice");
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_ARGUMENTS_BAD);
    r = rec_of("h", "u");
    memset(r.username, 'x', sizeof(r.username)); /* no NUL at all */
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_approval_rec_encode(NULL, buf), OHSM_ARGUMENTS_BAD);
    r = rec_of("h", "u");
    assert_int_equal(ohsm_approval_rec_encode(&r, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_approval_rec_decode(want, sizeof(want), NULL), OHSM_ARGUMENTS_BAD);
}

/* Every truncation and every extension is refused. */
static void test_token_rec_truncated(void **state)
{
    (void)state;
    uint8_t buf[OHSM_APPROVAL_REC_LEN + 1] = {0};
    struct ohsm_approval_rec r = rec_of("hsm-1", "admin");
    assert_int_equal(ohsm_approval_rec_encode(&r, buf), OHSM_OK);
    for (size_t len = 0; len < OHSM_APPROVAL_REC_LEN; len++) {
        assert_dec_invalid(buf, len);
    }
    assert_dec_invalid(buf, OHSM_APPROVAL_REC_LEN + 1);
    assert_dec_invalid(NULL, OHSM_APPROVAL_REC_LEN);
}

/* Every single-byte change of magic, service, reserved bytes and name padding is refused. The only
 * accepted changes of a name field make another well-formed name (a graphic character in place of
 * a name character or of its terminator, a NUL in place of its last character), which the HSM's
 * hsm_id / session user comparisons then refuse. */
static void test_token_rec_corrupt(void **state)
{
    (void)state;
    uint8_t good[OHSM_APPROVAL_REC_LEN], buf[OHSM_APPROVAL_REC_LEN];
    struct ohsm_approval_rec r = rec_of("hsm-1", "abcdefghijklmnopqrstuvwxyz01234"), d;
    assert_int_equal(ohsm_approval_rec_encode(&r, good), OHSM_OK);
    for (size_t pos = 0; pos < OHSM_APPROVAL_REC_LEN; pos++) {
        for (unsigned v = 0; v < 256; v++) {
            if (v == good[pos]) {
                continue;
            }
            memcpy(buf, good, sizeof(buf));
            buf[pos] = (uint8_t)v;
            ohsm_rv rv = ohsm_approval_rec_decode(buf, sizeof(buf), &d);
            if (pos < 4 || (pos >= 6 && pos < 8) || pos >= 88) { /* magic, reserved */
                assert_int_equal(rv, OHSM_DATA_INVALID);
            } else if (pos == 4) { /* service */
                assert_int_equal(rv, v >= 1 && v <= OHSM_QS_MAX_ ? OHSM_OK : OHSM_DATA_INVALID);
            } else if (pos == 5 || (pos >= 24 && pos < 40) || (pos >= 72 && pos < 88)) {
                assert_int_equal(rv, OHSM_OK); /* slot, nonce, expires, handle: any value */
            } else if (pos >= 8 && pos < 24) { /* hsm_id "hsm-1" + NUL padding */
                size_t i = pos - 8;
                bool graphic = v >= 0x21 && v <= 0x7e;
                if (i == 5 && graphic) {
                    assert_int_equal(rv, OHSM_OK);
                    assert_int_equal(strlen(d.hsm_id), 6);
                } else if (i < 5 && graphic) {
                    assert_int_equal(rv, OHSM_OK);
                    assert_string_not_equal(d.hsm_id, "hsm-1");
                } else if (i == 4 && v == 0) { /* a shorter name: "hsm-" */
                    assert_int_equal(rv, OHSM_OK);
                    assert_string_equal(d.hsm_id, "hsm-");
                } else {
                    assert_int_equal(rv, OHSM_DATA_INVALID);
                }
            } else { /* username: 31 characters and its terminator, the field's last byte */
                size_t i = pos - 40;
                bool graphic = v >= 0x21 && v <= 0x7e;
                if (i < 31 && graphic) {
                    assert_int_equal(rv, OHSM_OK);
                } else if (i == 30 && v == 0) {
                    assert_int_equal(rv, OHSM_OK);
                    assert_int_equal(strlen(d.username), 30);
                } else {
                    assert_int_equal(rv, OHSM_DATA_INVALID);
                }
            }
            if (rv != OHSM_OK) {
                assert_dec_invalid(buf, sizeof(buf));
            }
        }
    }
}

static void put_rec(uint8_t *p, const char *hsm_id, uint8_t tag)
{
    struct ohsm_approval_rec r = rec_of(hsm_id, "admin");
    r.nonce[0] = tag;
    assert_int_equal(ohsm_approval_rec_encode(&r, p), OHSM_OK);
}

/* find: each HSM finds its own record among 1, 2, 3 and 32; a missing or duplicated HSM is not
 * found; ragged, empty, oversized or partly malformed data is refused. */
static void test_token_find(void **state)
{
    (void)state;
    static uint8_t data[(OHSM_APPROVAL_MAX_RECS + 1) * OHSM_APPROVAL_REC_LEN];
    struct ohsm_approval_rec out;
    const char *ids[] = {"hsm-1", "hsm-2", "hsm-3"};
    for (size_t count = 1; count <= 3; count++) {
        for (size_t i = 0; i < count; i++) {
            put_rec(data + i * OHSM_APPROVAL_REC_LEN, ids[i], (uint8_t)i);
        }
        size_t len = count * OHSM_APPROVAL_REC_LEN;
        for (size_t i = 0; i < count; i++) {
            assert_int_equal(ohsm_approval_find(data, len, ids[i], &out), OHSM_OK);
            assert_string_equal(out.hsm_id, ids[i]);
            assert_int_equal(out.nonce[0], i);
        }
        memset(&out, 0x55, sizeof(out));
        assert_int_equal(ohsm_approval_find(data, len, "hsm-9", &out), OHSM_TOKEN_NOT_FOUND);
        assert_int_equal(out.hsm_id[0], 0);
        assert_int_equal(ohsm_approval_find(data, len, "hsm-", &out), OHSM_TOKEN_NOT_FOUND);
        assert_int_equal(ohsm_approval_find(data, len, "hsm-1x", &out), OHSM_TOKEN_NOT_FOUND);
        assert_int_equal(ohsm_approval_find(data, len, "", &out), OHSM_TOKEN_NOT_FOUND);
        /* ragged */
        assert_int_equal(ohsm_approval_find(data, len - 1, ids[0], &out), OHSM_DATA_INVALID);
        assert_int_equal(ohsm_approval_find(data, len + 1, ids[0], &out), OHSM_DATA_INVALID);
        /* one malformed record spoils the lot, whoever looks */
        data[(count - 1) * OHSM_APPROVAL_REC_LEN] = 'X';
        for (size_t i = 0; i < count; i++) {
            assert_int_equal(ohsm_approval_find(data, len, ids[i], &out), OHSM_DATA_INVALID);
        }
        data[(count - 1) * OHSM_APPROVAL_REC_LEN] = 'O';
    }
    /* duplicate: hsm-2 twice, hsm-1 still found */
    put_rec(data, "hsm-1", 0);
    put_rec(data + OHSM_APPROVAL_REC_LEN, "hsm-2", 1);
    put_rec(data + 2 * OHSM_APPROVAL_REC_LEN, "hsm-2", 2);
    assert_int_equal(ohsm_approval_find(data, 3 * OHSM_APPROVAL_REC_LEN, "hsm-2", &out),
                     OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(ohsm_approval_find(data, 3 * OHSM_APPROVAL_REC_LEN, "hsm-1", &out), OHSM_OK);
    /* 32 records allowed, 33 not */
    char id[16];
    for (int i = 0; i <= OHSM_APPROVAL_MAX_RECS; i++) {
        assert_true(snprintf(id, sizeof(id), "hsm-%d", i) < (int)sizeof(id));
        put_rec(data + (size_t)i * OHSM_APPROVAL_REC_LEN, id, (uint8_t)i);
    }
    assert_int_equal(
        ohsm_approval_find(data, OHSM_APPROVAL_MAX_RECS * OHSM_APPROVAL_REC_LEN, "hsm-31", &out),
        OHSM_OK);
    assert_int_equal(out.nonce[0], 31);
    assert_int_equal(ohsm_approval_find(data, sizeof(data), "hsm-0", &out), OHSM_DATA_INVALID);
    /* empty, NULL */
    assert_int_equal(ohsm_approval_find(data, 0, "hsm-0", &out), OHSM_DATA_INVALID);
    assert_int_equal(ohsm_approval_find(NULL, OHSM_APPROVAL_REC_LEN, "hsm-0", &out),
                     OHSM_DATA_INVALID);
    assert_int_equal(ohsm_approval_find(data, OHSM_APPROVAL_REC_LEN, NULL, &out),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_approval_find(data, OHSM_APPROVAL_REC_LEN, "hsm-0", NULL),
                     OHSM_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_qservice_names), cmocka_unit_test(test_token_mfa_layout),
        cmocka_unit_test(test_token_mfa_binding),    cmocka_unit_test(test_token_mfa_args),
        cmocka_unit_test(test_token_verify_accepts), cmocka_unit_test(test_token_verify_refuses),
        cmocka_unit_test(test_token_openssl_cli),    cmocka_unit_test(test_token_pubkey_check),
        cmocka_unit_test(test_token_pubkey_pem),     cmocka_unit_test(test_token_approval_digest),
        cmocka_unit_test(test_token_rec_roundtrip),  cmocka_unit_test(test_token_rec_truncated),
        cmocka_unit_test(test_token_rec_corrupt),    cmocka_unit_test(test_token_find),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
