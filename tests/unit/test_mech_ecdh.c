/* SPDX-License-Identifier: Apache-2.0
 * ECDH key derivation (src/core/mech_ecdh.c): the ANSI X9.63 KDF against NIST's CAVS vectors
 * (SP 800-135 component tests, ansx963_2001), the raw shared secret against NIST's ECC CDH
 * primitive vector (P-256, count 0), every curve against plain OpenSSL (the peer derives with
 * EVP_PKEY_derive and EVP_KDF X963KDF directly), and every refusal. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "core/mech_int.h"
#include "openhsm/mech.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = h[2 * i + (size_t)j];
            v = v << 4 | (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
    return n;
}

static struct ohsm_mech_key ec_key(void *pkey)
{
    struct ohsm_mech_key k;
    memset(&k, 0, sizeof(k));
    k.cls = OHSM_CLASS_PRIVATE;
    k.ktype = OHSM_KT_EC;
    k.pkey = pkey;
    return k;
}

/* The X9.62 uncompressed point of an EC key (OpenSSL's default encoding). */
static size_t point_of(EVP_PKEY *p, uint8_t *out, size_t cap)
{
    size_t n = 0;
    assert_int_equal(
        EVP_PKEY_get_octet_string_param(p, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out, cap, &n), 1);
    assert_int_equal(out[0], 0x04);
    return n;
}

/* ---- the KDF ---- */

struct kdf_vec {
    uint32_t hash;
    const char *z, *info, *out;
};

/* NIST CAVS ansx963_2001 (as OpenSSL's evpkdf_x963.txt carries them): one per hash, with and
 * without shared info, and a P-521-sized (66-byte) secret. */
static const struct kdf_vec kdf_vecs[] = {
    {OHSM_H_SHA1, "fd17198b89ab39c4ab5d7cca363b82f9fd7e23c3984dc8a2",
     "856a53f3e36a26bbc5792879f307cce2",
     "6e5fad865cb4a51c95209b16df0cc490bc2c9064405c5bccd4ee4832a531fbe7f10cb79e2eab6ab1149fbd5a23c"
     "fdabc41242269c9df22f628c4424333855b64e95e2d4fb8469c669f17176c07d103376b10b384ec5763d8b8c610"
     "409f19aca8eb31f9d85cc61a8d6d4a03d03e5a506b78d6847e93d295ee548c65afedd2efec"},
    {OHSM_H_SHA224, "da67a73072d521a8272c69023573012ddf9b46bff65b3900",
     "727997aed53e78f74b1d66743a4ea4d2",
     "dfc3126c5eebf9a58d89730e8d8ff7cc772592f28c10b349b437d9d068698a22e532eae975dfaf9c5c6a9f2935e"
     "afb05353013c253444e61f07bc9ddd15948e614bdc7e445ba3b1893f42f87f18fb352d49956009a642c362d4541"
     "0b43a9ab376e9261210739174759511d1f9e52f6ec73dfed446dbafaf7fd1a57113abc2e8d"},
    {OHSM_H_SHA256, "22518b10e70f2a3f243810ae3254139efbee04aa57c7af7d",
     "75eef81aa3041e33b80971203d2c0c52",
     "c498af77161cc59f2962b9a713e2b215152d139766ce34a776df11866a69bf2e52a13d9c7c6fc878c50c5ea0bc7"
     "b00e0da2447cfd874f6cf92f30d0097111485500c90c3af8b487872d04685d14c8d1dc8d7fa08beb0ce0ababc11"
     "f0bd496269142d43525a78e5bc79a17f59676a5706dc54d54d4d1f0bd7e386128ec26afc21"},
    {OHSM_H_SHA384, "d8554db1b392cd55c3fe957bed76af09c13ac2a9392f88f6", "",
     "671a46aada145162f8ddf1ca586a1cda"},
    {OHSM_H_SHA512, "87fc0d8c4477485bb574f5fcea264b30885dc8d90ad82782", "",
     "947665fbb9152153ef460238506a0245"},
    {OHSM_H_SHA512,
     "00aa5bb79b33e389fa58ceadc047197f14e73712f452caa9fc4c9adb369348b81507392f1a86ddfdb7c4ff8231c"
     "4bd0f44e44a1b55b1404747a9e2e753f55ef05a2d",
     "e3b5b4c1b0d5cf1d2b3a2f9937895d31",
     "4463f869f3cc18769b52264b0112b5858f7ad32a5a2d96d8cffabf7fa733633d6e4dd2a599acceb3ea54a6217ce"
     "0b50eef4f6b40a5c30250a5a8eeee208002267089dbf351f3f5022aa9638bf1ee419dea9c4ff745a25ac27bda33"
     "ca08bd56dd1a59b4106cf2dbbc0ab2aa8e2efa7b17902d34276951ceccab87f9661c3e8816"},
};

/* The KDF gives NIST's outputs, whole and as prefixes (X9.63 output is a counter stream). */
static void test_mech_ecdh_x963_nist(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(kdf_vecs) / sizeof(kdf_vecs[0]); i++) {
        uint8_t z[80], info[32], want[160], got[160];
        size_t zl = unhex(kdf_vecs[i].z, z, sizeof(z));
        size_t il = unhex(kdf_vecs[i].info, info, sizeof(info));
        size_t wl = unhex(kdf_vecs[i].out, want, sizeof(want));
        memset(got, 0, sizeof(got));
        assert_int_equal(
            ohsm_mech_x963_kdf(kdf_vecs[i].hash, z, zl, il > 0 ? info : NULL, il, got, wl),
            OHSM_OK);
        assert_memory_equal(got, want, wl);
        memset(got, 0, sizeof(got));
        assert_int_equal(ohsm_mech_x963_kdf(kdf_vecs[i].hash, z, zl, info, il, got, 7), OHSM_OK);
        assert_memory_equal(got, want, 7);
    }
    uint8_t z[8] = {1}, out[8];
    assert_int_equal(ohsm_mech_x963_kdf(OHSM_H_NONE, z, 8, NULL, 0, out, 8),
                     OHSM_MECHANISM_PARAM_INVALID);
    assert_int_equal(ohsm_mech_x963_kdf(77, z, 8, NULL, 0, out, 8), OHSM_MECHANISM_PARAM_INVALID);
    assert_int_equal(ohsm_mech_x963_kdf(OHSM_H_SHA256, NULL, 8, NULL, 0, out, 8),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mech_x963_kdf(OHSM_H_SHA256, z, 8, NULL, 0, out, 0), OHSM_ARGUMENTS_BAD);
}

/* ---- ECDH ---- */

/* NIST CAVS ECC CDH primitive test (KAS ECC CDH, P-256, COUNT = 0): dIUT with QCAVS gives ZIUT. */
#define CDH_D "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534"
#define CDH_QIUT                                                                                   \
    "04ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b23028af61281fd35e2fa7002523ac" \
    "c"                                                                                            \
    "85a429cb06ee6648325389f59edfce1405141"
#define CDH_QCAVS                                                                                  \
    "04700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287db71e509e3fd9b060ddb20ba5c" \
    "5"                                                                                            \
    "1dcc5948d46fbf640dfe0441782cab85fa4ac"
#define CDH_Z "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b"

static EVP_PKEY *cdh_key(void)
{
    uint8_t d[32], q[65];
    unhex(CDH_D, d, sizeof(d));
    unhex(CDH_QIUT, q, sizeof(q));
    BIGNUM *bn = BN_bin2bn(d, sizeof(d), NULL);
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    assert_non_null(bn);
    assert_non_null(b);
    assert_int_equal(
        OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, bn), 1);
    assert_int_equal(OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, q, sizeof(q)), 1);
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    assert_non_null(p);
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, p), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    BN_clear_free(bn);
    return pk;
}

/* The raw secret (CKD_NULL) is NIST's Z, or its leading bytes; the KDF runs over that Z. */
static void test_mech_ecdh_cdh_nist(void **state)
{
    (void)state;
    EVP_PKEY *pk = cdh_key();
    struct ohsm_mech_key k = ec_key(pk);
    uint8_t peer[65], z[32], out[64], kdf[64];
    unhex(CDH_QCAVS, peer, sizeof(peer));
    unhex(CDH_Z, z, sizeof(z));

    assert_int_equal(ohsm_mech_ecdh(&k, peer, sizeof(peer), OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_OK);
    assert_memory_equal(out, z, 32);
    memset(out, 0, sizeof(out));
    assert_int_equal(ohsm_mech_ecdh(&k, peer, sizeof(peer), OHSM_H_NONE, NULL, 0, out, 16),
                     OHSM_OK);
    assert_memory_equal(out, z, 16);
    assert_int_equal(out[16], 0); /* nothing past the asked length */

    static const uint8_t info[] = "openhsm ecdh";
    assert_int_equal(
        ohsm_mech_x963_kdf(OHSM_H_SHA256, z, sizeof(z), info, sizeof(info) - 1, kdf, 48), OHSM_OK);
    assert_int_equal(
        ohsm_mech_ecdh(&k, peer, sizeof(peer), OHSM_H_SHA256, info, sizeof(info) - 1, out, 48),
        OHSM_OK);
    assert_memory_equal(out, kdf, 48);
    EVP_PKEY_free(pk);
}

/* What the peer computes with plain OpenSSL: Z = ECDH(mine, their point); then X9.63 directly. */
static size_t openssl_z(EVP_PKEY *mine, EVP_PKEY *theirs, uint8_t *z, size_t cap)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
    size_t n = cap;
    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(ctx, theirs), 1);
    assert_int_equal(EVP_PKEY_derive(ctx, z, &n), 1);
    EVP_PKEY_CTX_free(ctx);
    return n;
}

static void openssl_x963(const char *md, const uint8_t *z, size_t zl, const uint8_t *info,
                         size_t il, uint8_t *out, size_t n)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM p[4] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zl),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, il),
        OSSL_PARAM_construct_end(),
    };
    assert_non_null(ctx);
    assert_int_equal(EVP_KDF_derive(ctx, out, n, p), 1);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
}

/* On every curve both sides agree: raw secret and KDF output (AES-256 and a long generic secret)
 * equal what OpenSSL computes from the other end. */
static void test_mech_ecdh_every_curve_matches_openssl(void **state)
{
    (void)state;
    static const uint32_t curves[] = {OHSM_CURVE_P224, OHSM_CURVE_P256, OHSM_CURVE_P384,
                                      OHSM_CURVE_P521, OHSM_CURVE_SECP256K1};
    static const uint8_t info[] = {0x01, 0x02, 0x03, 0x04, 0x05};
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        void *a = NULL, *b = NULL;
        uint8_t pb[133], z[66], out[300], want[300];
        assert_int_equal(ohsm_mech_gen_ec(curves[i], &a), OHSM_OK);
        assert_int_equal(ohsm_mech_gen_ec(curves[i], &b), OHSM_OK);
        struct ohsm_mech_key k = ec_key(a);
        size_t pl = point_of(b, pb, sizeof(pb));
        size_t zl = openssl_z(b, a, z, sizeof(z));
        assert_int_equal(zl, (pl - 1) / 2);

        assert_int_equal(ohsm_mech_ecdh(&k, pb, pl, OHSM_H_NONE, NULL, 0, out, zl), OHSM_OK);
        assert_memory_equal(out, z, zl);
        assert_int_equal(ohsm_mech_ecdh(&k, pb, pl, OHSM_H_NONE, NULL, 0, out, zl + 1),
                         OHSM_KEY_SIZE_RANGE);

        openssl_x963("SHA256", z, zl, info, sizeof(info), want, 32);
        assert_int_equal(ohsm_mech_ecdh(&k, pb, pl, OHSM_H_SHA256, info, sizeof(info), out, 32),
                         OHSM_OK);
        assert_memory_equal(out, want, 32);
        openssl_x963("SHA384", z, zl, NULL, 0, want, sizeof(want));
        assert_int_equal(ohsm_mech_ecdh(&k, pb, pl, OHSM_H_SHA384, NULL, 0, out, sizeof(out)),
                         OHSM_OK);
        assert_memory_equal(out, want, sizeof(out));
        ohsm_mech_pkey_free(a);
        ohsm_mech_pkey_free(b);
    }
}

static void all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p[i], 0);
    }
}

/* Refusals: arguments, keys that are not EC private keys, mechanism parameters, lengths, and
 * points that are malformed, on another curve or not on the curve. Nothing of a secret is left
 * in out after a refusal that got as far as the point. */
static void test_mech_ecdh_refusals(void **state)
{
    (void)state;
    void *a = NULL, *b384 = NULL, *rsa = NULL;
    uint8_t pt[133], p384[133], bad[133], out[64];
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P256, &a), OHSM_OK);
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P384, &b384), OHSM_OK);
    assert_int_equal(ohsm_mech_gen_rsa(2048, 65537, &rsa), OHSM_OK);
    struct ohsm_mech_key k = ec_key(a);
    size_t pl = point_of(b384, p384, sizeof(p384));
    void *b = NULL;
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P256, &b), OHSM_OK);
    size_t n = point_of(b, pt, sizeof(pt));
    assert_int_equal(n, 65);

    /* arguments */
    assert_int_equal(ohsm_mech_ecdh(NULL, pt, n, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mech_ecdh(&k, pt, n, OHSM_H_NONE, NULL, 0, NULL, 32), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mech_ecdh(&k, NULL, n, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mech_ecdh(&k, pt, n, OHSM_H_SHA256, NULL, 4, out, 32),
                     OHSM_ARGUMENTS_BAD);

    /* keys */
    struct ohsm_mech_key pub = k;
    pub.cls = OHSM_CLASS_PUBLIC;
    assert_int_equal(ohsm_mech_ecdh(&pub, pt, n, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_KEY_TYPE_INCONSISTENT);
    struct ohsm_mech_key r = ec_key(rsa);
    assert_int_equal(ohsm_mech_ecdh(&r, pt, n, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_KEY_TYPE_INCONSISTENT);
    r.ktype = OHSM_KT_RSA;
    assert_int_equal(ohsm_mech_ecdh(&r, pt, n, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_KEY_TYPE_INCONSISTENT);
    static const uint8_t raw[32] = {1};
    struct ohsm_mech_key sec;
    memset(&sec, 0, sizeof(sec));
    sec.cls = OHSM_CLASS_SECRET;
    sec.ktype = OHSM_KT_GENERIC_SECRET;
    sec.raw = raw;
    sec.raw_len = sizeof(raw);
    assert_int_equal(ohsm_mech_ecdh(&sec, pt, n, OHSM_H_SHA256, NULL, 0, out, 32),
                     OHSM_KEY_TYPE_INCONSISTENT);
    struct ohsm_mech_key nokey = ec_key(NULL);
    assert_int_equal(ohsm_mech_ecdh(&nokey, pt, n, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_KEY_TYPE_INCONSISTENT);

    /* mechanism parameters */
    assert_int_equal(ohsm_mech_ecdh(&k, pt, n, 99, NULL, 0, out, 32), OHSM_MECHANISM_PARAM_INVALID);
    assert_int_equal(ohsm_mech_ecdh(&k, pt, n, OHSM_H_NONE, raw, 4, out, 32),
                     OHSM_MECHANISM_PARAM_INVALID);

    /* lengths */
    assert_int_equal(ohsm_mech_ecdh(&k, pt, n, OHSM_H_NONE, NULL, 0, out, 0), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(ohsm_mech_ecdh(&k, pt, n, OHSM_H_SHA256, NULL, 0, out, 0),
                     OHSM_KEY_SIZE_RANGE);
    assert_int_equal(
        ohsm_mech_ecdh(&k, pt, n, OHSM_H_SHA256, NULL, 0, out, OHSM_GENERIC_SECRET_MAX + 1),
        OHSM_KEY_SIZE_RANGE);
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(ohsm_mech_ecdh(&k, pt, n, OHSM_H_NONE, NULL, 0, out, 33), OHSM_KEY_SIZE_RANGE);
    all_zero(out, 33);

    /* points */
    struct {
        size_t off, len;
        uint8_t prefix; /* 0: keep */
    } cases[] = {
        {0, 0, 0},     /* empty */
        {1, 64, 0},    /* x || y without the 0x04 */
        {0, 64, 0},    /* truncated */
        {0, 33, 0x02}, /* compressed form */
        {0, 65, 0x03}, /* uncompressed length, wrong form byte */
        {0, 65, 0x06}, /* hybrid form (X9.62) */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(bad, pt + cases[i].off, n - cases[i].off);
        if (cases[i].prefix != 0) {
            bad[0] = cases[i].prefix;
        }
        assert_int_equal(ohsm_mech_ecdh(&k, bad, cases[i].len, OHSM_H_SHA256, NULL, 0, out, 32),
                         OHSM_MECHANISM_PARAM_INVALID);
    }
    memcpy(bad, pt, n);
    bad[64] ^= 0x01; /* y changed: off the curve */
    memset(out, 0xaa, sizeof(out));
    assert_int_equal(ohsm_mech_ecdh(&k, bad, n, OHSM_H_SHA256, NULL, 0, out, 32),
                     OHSM_MECHANISM_PARAM_INVALID);
    all_zero(out, 32);
    memset(bad + 1, 0, 64); /* (0, 0): not a point of P-256 */
    assert_int_equal(ohsm_mech_ecdh(&k, bad, n, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_MECHANISM_PARAM_INVALID);
    memset(bad + 1, 0xff, 64); /* coordinates >= p */
    assert_int_equal(ohsm_mech_ecdh(&k, bad, n, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_MECHANISM_PARAM_INVALID);
    assert_int_equal(ohsm_mech_ecdh(&k, p384, pl, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_MECHANISM_PARAM_INVALID); /* another curve's point */
    /* a P-384 point cut to P-256's length is not on P-256 */
    memcpy(bad, p384, 65);
    assert_int_equal(ohsm_mech_ecdh(&k, bad, 65, OHSM_H_NONE, NULL, 0, out, 32),
                     OHSM_MECHANISM_PARAM_INVALID);
    /* and the good point still works after all that */
    assert_int_equal(ohsm_mech_ecdh(&k, pt, n, OHSM_H_NONE, NULL, 0, out, 32), OHSM_OK);
    ohsm_mech_pkey_free(a);
    ohsm_mech_pkey_free(b);
    ohsm_mech_pkey_free(b384);
    ohsm_mech_pkey_free(rsa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mech_ecdh_x963_nist),
        cmocka_unit_test(test_mech_ecdh_cdh_nist),
        cmocka_unit_test(test_mech_ecdh_every_curve_matches_openssl),
        cmocka_unit_test(test_mech_ecdh_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
