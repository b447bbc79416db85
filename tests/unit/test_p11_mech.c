/* SPDX-License-Identifier: Apache-2.0
 * pkcs11/mech: the list and every mechanism's info against a table written from PKCS#11 and the
 * HSM's limits; every listed mechanism, for every operation its flags claim, runs in the HSM's own
 * code (src/core/mech*.c) with what the parser made (a listed mechanism never fails); the parse
 * results of each mechanism; every parameter error path. */
#include "mech.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define NONE CK_UNAVAILABLE_INFORMATION
#define ED (CKF_HW | CKF_ENCRYPT | CKF_DECRYPT)
#define SV (CKF_HW | CKF_SIGN | CKF_VERIFY)
#define WU (CKF_WRAP | CKF_UNWRAP)
#define ECF (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

/* What C_GetMechanismInfo must say (PKCS#11 units: bits for RSA/EC, bytes otherwise). */
static const struct {
    CK_MECHANISM_TYPE type;
    CK_ULONG min;
    CK_ULONG max;
    CK_FLAGS flags;
} want[] = {
    {CKM_AES_KEY_GEN, 16, 32, CKF_HW | CKF_GENERATE},
    {CKM_DES3_KEY_GEN, 24, 24, CKF_HW | CKF_GENERATE},
    {CKM_GENERIC_SECRET_KEY_GEN, 1, 3583, CKF_HW | CKF_GENERATE},
    {CKM_RSA_PKCS_KEY_PAIR_GEN, 2048, 4096, CKF_HW | CKF_GENERATE_KEY_PAIR},
    {CKM_RSA_X9_31_KEY_PAIR_GEN, 2048, 4096, CKF_HW | CKF_GENERATE_KEY_PAIR},
    {CKM_EC_KEY_PAIR_GEN, 224, 521, CKF_HW | CKF_GENERATE_KEY_PAIR | ECF},
    {CKM_AES_ECB, 16, 32, ED},
    {CKM_AES_CBC, 16, 32, ED},
    {CKM_AES_CBC_PAD, 16, 32, ED},
    {CKM_AES_CTR, 16, 32, ED},
    {CKM_AES_GCM, 16, 32, ED | WU},
    {CKM_DES3_ECB, 24, 24, ED},
    {CKM_DES3_CBC, 24, 24, ED},
    {CKM_DES3_CBC_PAD, 24, 24, ED},
    {CKM_RSA_PKCS, 2048, 4096, ED | SV | WU},
    {CKM_RSA_PKCS_OAEP, 2048, 4096, ED | WU},
    {CKM_RSA_PKCS_PSS, 2048, 4096, SV},
    {CKM_SHA1_RSA_PKCS, 2048, 4096, SV},
    {CKM_SHA224_RSA_PKCS, 2048, 4096, SV},
    {CKM_SHA256_RSA_PKCS, 2048, 4096, SV},
    {CKM_SHA384_RSA_PKCS, 2048, 4096, SV},
    {CKM_SHA512_RSA_PKCS, 2048, 4096, SV},
    {CKM_SHA1_RSA_PKCS_PSS, 2048, 4096, SV},
    {CKM_SHA224_RSA_PKCS_PSS, 2048, 4096, SV},
    {CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, SV},
    {CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, SV},
    {CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, SV},
    {CKM_ECDSA, 224, 521, SV | ECF},
    {CKM_ECDSA_SHA1, 224, 521, SV | ECF},
    {CKM_ECDSA_SHA224, 224, 521, SV | ECF},
    {CKM_ECDSA_SHA256, 224, 521, SV | ECF},
    {CKM_ECDSA_SHA384, 224, 521, SV | ECF},
    {CKM_ECDSA_SHA512, 224, 521, SV | ECF},
    {CKM_SHA_1, 0, 0, CKF_HW | CKF_DIGEST},
    {CKM_SHA224, 0, 0, CKF_HW | CKF_DIGEST},
    {CKM_SHA256, 0, 0, CKF_HW | CKF_DIGEST},
    {CKM_SHA384, 0, 0, CKF_HW | CKF_DIGEST},
    {CKM_SHA512, 0, 0, CKF_HW | CKF_DIGEST},
    {CKM_SHA_1_HMAC, 1, 3583, SV},
    {CKM_SHA224_HMAC, 1, 3583, SV},
    {CKM_SHA256_HMAC, 1, 3583, SV},
    {CKM_SHA384_HMAC, 1, 3583, SV},
    {CKM_SHA512_HMAC, 1, 3583, SV},
    {CKM_AES_KEY_WRAP, 16, 32, CKF_HW | WU},
    {CKM_AES_KEY_WRAP_PAD, 16, 32, CKF_HW | WU},
    {CKM_AES_KEY_WRAP_KWP, 16, 32, CKF_HW | WU},
    {CKM_RSA_AES_KEY_WRAP, 2048, 4096, CKF_HW | WU},
    {CKM_ECDH1_DERIVE, 224, 521, CKF_HW | CKF_DERIVE | ECF},
};
#define NWANT (sizeof(want) / sizeof(want[0]))

static CK_RV parse(CK_MECHANISM_TYPE t, void *p, CK_ULONG n, enum p11_op op, CK_KEY_TYPE kt,
                   struct p11_mech *out)
{
    CK_MECHANISM m = {t, p, n};
    return p11_mech_parse(&m, op, kt, out);
}

static CK_RV parse1(CK_MECHANISM_TYPE t, void *p, CK_ULONG n, enum p11_op op, CK_KEY_TYPE kt)
{
    struct p11_mech pm;
    CK_RV rv = parse(t, p, n, op, kt, &pm);
    if (rv != CKR_OK) {
        /* Nothing of a refused parse is left for the caller to use by mistake. */
        static const struct p11_mech zero;
        assert_memory_equal(&pm, &zero, sizeof(pm));
    }
    return rv;
}

/* ---- list and info ---- */

/* The list is exactly the table, in order, without duplicates; each info is the table's. */
static void test_p11_mech_list_and_info(void **state)
{
    (void)state;
    CK_ULONG n = 0;
    const CK_MECHANISM_TYPE *l = p11_mech_list(&n);
    assert_non_null(l);
    assert_int_equal(n, NWANT);
    for (size_t i = 0; i < NWANT; i++) {
        CK_MECHANISM_INFO info;
        assert_int_equal(l[i], want[i].type);
        for (size_t j = 0; j < i; j++) {
            assert_true(l[j] != l[i]);
        }
        assert_int_equal(p11_mech_info(l[i], &info), CKR_OK);
        assert_int_equal(info.ulMinKeySize, want[i].min);
        assert_int_equal(info.ulMaxKeySize, want[i].max);
        assert_int_equal(info.flags, want[i].flags);
    }
    assert_non_null(p11_mech_list(NULL));
    assert_int_equal(p11_mech_info(CKM_AES_GCM, NULL), CKR_ARGUMENTS_BAD);
}

/* Mechanisms the HSM does not run are unknown to info and parse. */
static void test_p11_mech_unknown(void **state)
{
    (void)state;
    static const CK_MECHANISM_TYPE no[] = {
        CKM_RSA_X_509,
        CKM_MD5_HMAC,
        CKM_AES_CMAC,
        CKM_SHA256_HMAC_GENERAL,
        CKM_AES_CTS,
        CKM_DES3_MAC,
        CKM_MD5,
        CKM_ECDH1_COFACTOR_DERIVE,
        CKM_AES_CCM,
        CKM_RSA_X9_31,
        CKM_DSA,
        CKM_SHA512_256,
        CKM_AES_GMAC,
        CKM_DES_KEY_GEN,
        CKM_VENDOR_DEFINED,
        0xFFFFFFFFUL,
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        CK_MECHANISM_INFO info;
        assert_int_equal(p11_mech_info(no[i], &info), CKR_MECHANISM_INVALID);
        assert_int_equal(parse1(no[i], NULL, 0, P11_OP_ENCRYPT, CKK_AES), CKR_MECHANISM_INVALID);
        assert_int_equal(parse1(no[i], NULL, 0, P11_OP_SIGN, CKK_RSA), CKR_MECHANISM_INVALID);
    }
}

/* ---- every listed operation runs in the HSM's code ---- */

struct keys {
    uint8_t aes[32];
    uint8_t des3[24];
    uint8_t gen[40];
    void *rsa;
    void *ec;
};

static struct keys K;

static int setup(void **state)
{
    (void)state;
    assert_int_equal(RAND_bytes(K.aes, sizeof(K.aes)), 1);
    assert_int_equal(RAND_bytes(K.des3, sizeof(K.des3)), 1);
    assert_int_equal(RAND_bytes(K.gen, sizeof(K.gen)), 1);
    assert_int_equal(ohsm_mech_gen_rsa(2048, 0, &K.rsa), OHSM_OK);
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P256, &K.ec), OHSM_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ohsm_mech_pkey_free(K.rsa);
    ohsm_mech_pkey_free(K.ec);
    return 0;
}

static struct ohsm_mech_key key_of(CK_KEY_TYPE kt)
{
    struct ohsm_mech_key k = {0};
    switch (kt) {
    case CKK_AES:
        k = (struct ohsm_mech_key){OHSM_CLASS_SECRET, OHSM_KT_AES, K.aes, 32, NULL, NULL};
        break;
    case CKK_DES3:
        k = (struct ohsm_mech_key){OHSM_CLASS_SECRET, OHSM_KT_DES3, K.des3, 24, NULL, NULL};
        break;
    case CKK_GENERIC_SECRET:
        k = (struct ohsm_mech_key){
            OHSM_CLASS_SECRET, OHSM_KT_GENERIC_SECRET, K.gen, 40, NULL, NULL};
        break;
    case CKK_RSA:
        k = (struct ohsm_mech_key){OHSM_CLASS_PRIVATE, OHSM_KT_RSA, NULL, 0, K.rsa, NULL};
        break;
    case CKK_EC:
        k = (struct ohsm_mech_key){OHSM_CLASS_PRIVATE, OHSM_KT_EC, NULL, 0, K.ec, NULL};
        break;
    default:
        fail();
    }
    return k;
}

/* A valid parameter for each mechanism that takes one (storage in s). */
struct pstore {
    uint8_t iv[16];
    CK_AES_CTR_PARAMS ctr;
    uint8_t gcm_iv[12];
    CK_GCM_PARAMS gcm;
    CK_RSA_PKCS_OAEP_PARAMS oaep;
    CK_RSA_PKCS_PSS_PARAMS pss;
    CK_RSA_AES_KEY_WRAP_PARAMS rsa_aes;
};

static CK_MECHANISM good_mech(CK_MECHANISM_TYPE t, struct pstore *s)
{
    CK_MECHANISM m = {t, NULL, 0};
    memset(s, 0, sizeof(*s));
    memset(s->iv, 0x42, sizeof(s->iv));
    switch (t) {
    case CKM_AES_CBC:
    case CKM_AES_CBC_PAD:
        m.pParameter = s->iv;
        m.ulParameterLen = 16;
        break;
    case CKM_DES3_CBC:
    case CKM_DES3_CBC_PAD:
        m.pParameter = s->iv;
        m.ulParameterLen = 8;
        break;
    case CKM_AES_CTR:
        s->ctr.ulCounterBits = 32;
        m.pParameter = &s->ctr;
        m.ulParameterLen = sizeof(s->ctr);
        break;
    case CKM_AES_GCM:
        s->gcm = (CK_GCM_PARAMS){s->gcm_iv, 12, 96, NULL, 0, 128};
        m.pParameter = &s->gcm;
        m.ulParameterLen = sizeof(s->gcm);
        break;
    case CKM_RSA_PKCS_OAEP:
        s->oaep =
            (CK_RSA_PKCS_OAEP_PARAMS){CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
        m.pParameter = &s->oaep;
        m.ulParameterLen = sizeof(s->oaep);
        break;
    case CKM_RSA_AES_KEY_WRAP:
        s->oaep = (CK_RSA_PKCS_OAEP_PARAMS){CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
        s->rsa_aes = (CK_RSA_AES_KEY_WRAP_PARAMS){256, &s->oaep};
        m.pParameter = &s->rsa_aes;
        m.ulParameterLen = sizeof(s->rsa_aes);
        break;
    case CKM_RSA_PKCS_PSS:
    case CKM_SHA256_RSA_PKCS_PSS:
        s->pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA256, CKG_MGF1_SHA256, 32};
        m.pParameter = &s->pss;
        m.ulParameterLen = sizeof(s->pss);
        break;
    case CKM_SHA1_RSA_PKCS_PSS:
        s->pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA_1, CKG_MGF1_SHA1, 20};
        m.pParameter = &s->pss;
        m.ulParameterLen = sizeof(s->pss);
        break;
    case CKM_SHA224_RSA_PKCS_PSS:
        s->pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA224, CKG_MGF1_SHA224, 28};
        m.pParameter = &s->pss;
        m.ulParameterLen = sizeof(s->pss);
        break;
    case CKM_SHA384_RSA_PKCS_PSS:
        s->pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA384, CKG_MGF1_SHA384, 48};
        m.pParameter = &s->pss;
        m.ulParameterLen = sizeof(s->pss);
        break;
    case CKM_SHA512_RSA_PKCS_PSS:
        s->pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA512, CKG_MGF1_SHA512, 64};
        m.pParameter = &s->pss;
        m.ulParameterLen = sizeof(s->pss);
        break;
    default:
        break;
    }
    return m;
}

static void run_crypt(const struct p11_mech *pe, const struct p11_mech *pd,
                      const struct ohsm_mech_key *k)
{
    uint8_t in[48];
    uint8_t ct[600];
    uint8_t pt[600];
    uint8_t iv[16];
    size_t n = 0;
    size_t ivn = 0;
    size_t m = 0;
    memset(in, 0x5A, sizeof(in));
    assert_int_equal(
        ohsm_mech_encrypt(k, &pe->prm, in, sizeof(in), ct, sizeof(ct), &n, iv, 16, &ivn), OHSM_OK);
    struct p11_mech d = *pd;
    p11_mech_rebind(&d);
    if (pe->gcm_iv_out != NULL) {
        assert_int_equal(ivn, 12);
        memcpy(d.iv, iv, 12);
        d.prm.iv = d.iv;
    }
    assert_int_equal(ohsm_mech_decrypt(k, &d.prm, ct, n, pt, sizeof(pt), &m), OHSM_OK);
    assert_int_equal(m, sizeof(in));
    assert_memory_equal(pt, in, sizeof(in));
}

static void run_sign(const struct p11_mech *ps, const struct p11_mech *pv,
                     const struct ohsm_mech_key *k)
{
    uint8_t msg[100];
    uint8_t tbs[64];
    size_t tbs_len = 32; /* raw mechanisms: a 32-byte "digest" (CKM_ECDSA, CKM_RSA_PKCS) */
    uint8_t sig[600];
    size_t n = 0;
    memset(msg, 0x33, sizeof(msg));
    memset(tbs, 0x44, sizeof(tbs));
    if (ps->local_hash != 0) {
        /* The library's part: the digest the HSM signs. */
        const EVP_MD *md = ps->local_hash == OHSM_H_SHA1     ? EVP_sha1()
                           : ps->local_hash == OHSM_H_SHA224 ? EVP_sha224()
                           : ps->local_hash == OHSM_H_SHA256 ? EVP_sha256()
                           : ps->local_hash == OHSM_H_SHA384 ? EVP_sha384()
                                                             : EVP_sha512();
        unsigned int l = 0;
        assert_int_equal(EVP_Digest(msg, sizeof(msg), tbs, &l, md, NULL), 1);
        tbs_len = l;
        assert_true(ps->prm.prehashed);
    } else if (ps->prm.mech == OHSM_M_HMAC) {
        memcpy(tbs, msg, 64);
        tbs_len = 64;
    } else if (ps->prm.mech == OHSM_M_RSA_PSS) {
        tbs_len = ohsm_hash_len(ps->prm.hash); /* CKM_RSA_PKCS_PSS: the caller's digest */
    }
    assert_int_equal(ohsm_mech_sign(k, &ps->prm, tbs, tbs_len, sig, sizeof(sig), &n), OHSM_OK);
    assert_int_equal(ohsm_mech_verify(k, &pv->prm, tbs, tbs_len, sig, n), OHSM_OK);
    sig[0] ^= 1;
    assert_int_equal(ohsm_mech_verify(k, &pv->prm, tbs, tbs_len, sig, n), OHSM_SIGNATURE_INVALID);
}

static void run_wrap(const struct p11_mech *pw, const struct p11_mech *pu,
                     const struct ohsm_mech_key *k)
{
    uint8_t material[32];
    uint8_t blob[700];
    uint8_t out[64];
    size_t n = 0;
    size_t m = 0;
    memset(material, 0x77, sizeof(material));
    assert_int_equal(ohsm_mech_wrap(k, &pw->prm, material, 32, blob, sizeof(blob), &n), OHSM_OK);
    assert_int_equal(ohsm_mech_unwrap(k, &pu->prm, blob, n, out, sizeof(out), &m), OHSM_OK);
    assert_int_equal(m, 32);
    assert_memory_equal(out, material, 32);
}

/* Every listed mechanism, for every operation its info claims, runs with what the parser made
 * (key generation: the info's sizes are what ohsm_mech_check_size takes, one past them not). */
static void test_p11_mech_listed_ones_run(void **state)
{
    (void)state;
    struct pstore s1;
    struct pstore s2;
    struct p11_mech a;
    struct p11_mech b;
    for (size_t i = 0; i < NWANT; i++) {
        CK_MECHANISM_TYPE t = want[i].type;
        CK_FLAGS f = want[i].flags;
        CK_MECHANISM m1 = good_mech(t, &s1);
        CK_MECHANISM m2 = good_mech(t, &s2);
        if (f & (CKF_ENCRYPT | CKF_SIGN | CKF_WRAP)) {
            /* the key type: the first the parser takes */
            static const CK_KEY_TYPE kts[] = {CKK_AES, CKK_DES3, CKK_GENERIC_SECRET, CKK_RSA,
                                              CKK_EC};
            enum p11_op op1 = f & CKF_ENCRYPT ? P11_OP_ENCRYPT
                              : f & CKF_SIGN  ? P11_OP_SIGN
                                              : P11_OP_WRAP;
            CK_KEY_TYPE kt = NONE;
            for (size_t j = 0; j < 5 && kt == NONE; j++) {
                if (p11_mech_parse(&m1, op1, kts[j], &a) == CKR_OK) {
                    kt = kts[j];
                }
            }
            assert_true(kt != NONE);
            struct ohsm_mech_key k = key_of(kt);
            if (f & CKF_ENCRYPT) {
                assert_int_equal(p11_mech_parse(&m1, P11_OP_ENCRYPT, kt, &a), CKR_OK);
                assert_int_equal(p11_mech_parse(&m2, P11_OP_DECRYPT, kt, &b), CKR_OK);
                run_crypt(&a, &b, &k);
            }
            if (f & CKF_SIGN) {
                assert_int_equal(p11_mech_parse(&m1, P11_OP_SIGN, kt, &a), CKR_OK);
                assert_int_equal(p11_mech_parse(&m2, P11_OP_VERIFY, kt, &b), CKR_OK);
                run_sign(&a, &b, &k);
                if (a.prm.mech == OHSM_M_HMAC) {
                    struct ohsm_mech_key ka = key_of(CKK_AES); /* HMAC with an AES key too */
                    assert_int_equal(p11_mech_parse(&m1, P11_OP_SIGN, CKK_AES, &a), CKR_OK);
                    run_sign(&a, &a, &ka);
                }
            }
            if (f & CKF_WRAP) {
                m1 = good_mech(t, &s1);
                m2 = good_mech(t, &s2);
                assert_int_equal(p11_mech_parse(&m1, P11_OP_WRAP, kt, &a), CKR_OK);
                assert_int_equal(p11_mech_parse(&m2, P11_OP_UNWRAP, kt, &b), CKR_OK);
                run_wrap(&a, &b, &k);
            }
        }
        if (f & CKF_DIGEST) {
            uint8_t d[64];
            size_t n = 0;
            assert_int_equal(p11_mech_parse(&m1, P11_OP_DIGEST, NONE, &a), CKR_OK);
            assert_int_equal(ohsm_mech_digest(a.prm.hash, (const uint8_t *)"abc", 3, d, 64, &n),
                             OHSM_OK);
            assert_int_equal(n, ohsm_hash_len(a.prm.hash));
        }
        if (f & (CKF_GENERATE | CKF_GENERATE_KEY_PAIR)) {
            enum p11_op op = f & CKF_GENERATE ? P11_OP_GENKEY : P11_OP_GENPAIR;
            assert_int_equal(p11_mech_parse(&m1, op, NONE, &a), CKR_OK);
            uint32_t kt = a.gen_ktype == CKK_AES              ? OHSM_KT_AES
                          : a.gen_ktype == CKK_DES3           ? OHSM_KT_DES3
                          : a.gen_ktype == CKK_GENERIC_SECRET ? OHSM_KT_GENERIC_SECRET
                          : a.gen_ktype == CKK_RSA            ? OHSM_KT_RSA
                                                              : OHSM_KT_EC;
            if (kt == OHSM_KT_EC) {
                /* EC sizes are curves: P-224 and P-521 are the ends of the range. */
                assert_int_equal(ohsm_mech_check_size(kt, OHSM_CURVE_P224, 0), OHSM_OK);
                assert_int_equal(ohsm_mech_check_size(kt, OHSM_CURVE_P521, 0), OHSM_OK);
            } else {
                assert_int_equal(ohsm_mech_check_size(kt, (uint32_t)want[i].min, 0), OHSM_OK);
                assert_int_equal(ohsm_mech_check_size(kt, (uint32_t)want[i].max, 0), OHSM_OK);
                uint32_t step = kt == OHSM_KT_RSA ? 8 : 1;
                assert_int_equal(ohsm_mech_check_size(kt, (uint32_t)want[i].min - step, 0),
                                 OHSM_KEY_SIZE_RANGE);
                assert_int_equal(ohsm_mech_check_size(kt, (uint32_t)want[i].max + step, 0),
                                 OHSM_KEY_SIZE_RANGE);
            }
        }
    }
}

/* ---- parse results ---- */

/* What each parameterless mechanism becomes: the HSM mechanism and hash, who hashes, whether
 * Update/Final is allowed, the block of the multi-part engine. */
static void test_p11_mech_parse_results(void **state)
{
    (void)state;
    static const struct {
        CK_MECHANISM_TYPE t;
        enum p11_op op;
        CK_KEY_TYPE kt;
        uint32_t mech;
        uint32_t hash;
        bool prehashed;
        uint32_t local;
        bool multi;
        size_t block;
    } r[] = {
        {CKM_AES_ECB, P11_OP_ENCRYPT, CKK_AES, OHSM_M_AES_ECB, 0, false, 0, true, 16},
        {CKM_DES3_ECB, P11_OP_DECRYPT, CKK_DES3, OHSM_M_DES3_ECB, 0, false, 0, true, 8},
        {CKM_RSA_PKCS, P11_OP_ENCRYPT, CKK_RSA, OHSM_M_RSA_PKCS, 0, false, 0, false, 0},
        {CKM_RSA_PKCS, P11_OP_SIGN, CKK_RSA, OHSM_M_RSA_PKCS, 0, false, 0, false, 0},
        {CKM_RSA_PKCS, P11_OP_UNWRAP, CKK_RSA, OHSM_M_RSA_PKCS, 0, false, 0, false, 0},
        {CKM_SHA1_RSA_PKCS, P11_OP_SIGN, CKK_RSA, OHSM_M_RSA_PKCS, OHSM_H_SHA1, true, OHSM_H_SHA1,
         true, 0},
        {CKM_SHA224_RSA_PKCS, P11_OP_VERIFY, CKK_RSA, OHSM_M_RSA_PKCS, OHSM_H_SHA224, true,
         OHSM_H_SHA224, true, 0},
        {CKM_SHA256_RSA_PKCS, P11_OP_SIGN, CKK_RSA, OHSM_M_RSA_PKCS, OHSM_H_SHA256, true,
         OHSM_H_SHA256, true, 0},
        {CKM_SHA384_RSA_PKCS, P11_OP_SIGN, CKK_RSA, OHSM_M_RSA_PKCS, OHSM_H_SHA384, true,
         OHSM_H_SHA384, true, 0},
        {CKM_SHA512_RSA_PKCS, P11_OP_VERIFY, CKK_RSA, OHSM_M_RSA_PKCS, OHSM_H_SHA512, true,
         OHSM_H_SHA512, true, 0},
        {CKM_ECDSA, P11_OP_SIGN, CKK_EC, OHSM_M_ECDSA, 0, false, 0, false, 0},
        {CKM_ECDSA_SHA1, P11_OP_SIGN, CKK_EC, OHSM_M_ECDSA, OHSM_H_SHA1, true, OHSM_H_SHA1, true,
         0},
        {CKM_ECDSA_SHA224, P11_OP_VERIFY, CKK_EC, OHSM_M_ECDSA, OHSM_H_SHA224, true, OHSM_H_SHA224,
         true, 0},
        {CKM_ECDSA_SHA256, P11_OP_SIGN, CKK_EC, OHSM_M_ECDSA, OHSM_H_SHA256, true, OHSM_H_SHA256,
         true, 0},
        {CKM_ECDSA_SHA384, P11_OP_SIGN, CKK_EC, OHSM_M_ECDSA, OHSM_H_SHA384, true, OHSM_H_SHA384,
         true, 0},
        {CKM_ECDSA_SHA512, P11_OP_VERIFY, CKK_EC, OHSM_M_ECDSA, OHSM_H_SHA512, true, OHSM_H_SHA512,
         true, 0},
        {CKM_SHA_1, P11_OP_DIGEST, NONE, OHSM_M_DIGEST, OHSM_H_SHA1, false, 0, true, 0},
        {CKM_SHA224, P11_OP_DIGEST, NONE, OHSM_M_DIGEST, OHSM_H_SHA224, false, 0, true, 0},
        {CKM_SHA256, P11_OP_DIGEST, NONE, OHSM_M_DIGEST, OHSM_H_SHA256, false, 0, true, 0},
        {CKM_SHA384, P11_OP_DIGEST, NONE, OHSM_M_DIGEST, OHSM_H_SHA384, false, 0, true, 0},
        {CKM_SHA512, P11_OP_DIGEST, NONE, OHSM_M_DIGEST, OHSM_H_SHA512, false, 0, true, 0},
        {CKM_SHA_1_HMAC, P11_OP_SIGN, CKK_GENERIC_SECRET, OHSM_M_HMAC, OHSM_H_SHA1, false, 0, true,
         0},
        {CKM_SHA224_HMAC, P11_OP_VERIFY, CKK_AES, OHSM_M_HMAC, OHSM_H_SHA224, false, 0, true, 0},
        {CKM_SHA256_HMAC, P11_OP_SIGN, CKK_GENERIC_SECRET, OHSM_M_HMAC, OHSM_H_SHA256, false, 0,
         true, 0},
        {CKM_SHA384_HMAC, P11_OP_SIGN, CKK_AES, OHSM_M_HMAC, OHSM_H_SHA384, false, 0, true, 0},
        {CKM_SHA512_HMAC, P11_OP_VERIFY, CKK_GENERIC_SECRET, OHSM_M_HMAC, OHSM_H_SHA512, false, 0,
         true, 0},
        {CKM_AES_KEY_WRAP, P11_OP_WRAP, CKK_AES, OHSM_M_AES_KW, 0, false, 0, false, 0},
        {CKM_AES_KEY_WRAP_PAD, P11_OP_UNWRAP, CKK_AES, OHSM_M_AES_KWP, 0, false, 0, false, 0},
        {CKM_AES_KEY_WRAP_KWP, P11_OP_WRAP, CKK_AES, OHSM_M_AES_KWP, 0, false, 0, false, 0},
    };
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        struct p11_mech pm;
        assert_int_equal(parse(r[i].t, NULL, 0, r[i].op, r[i].kt, &pm), CKR_OK);
        assert_int_equal(pm.type, r[i].t);
        assert_int_equal(pm.op, r[i].op);
        assert_int_equal(pm.prm.mech, r[i].mech);
        assert_int_equal(pm.prm.hash, r[i].hash);
        assert_int_equal(pm.prm.prehashed, r[i].prehashed);
        assert_int_equal(pm.local_hash, r[i].local);
        assert_int_equal(pm.multipart, r[i].multi);
        assert_int_equal(pm.block, r[i].block);
        assert_int_equal(pm.prm.iv_len, 0);
        assert_null(pm.prm.iv);
        assert_null(pm.gcm_iv_out);
        assert_int_equal(pm.gen_ktype, NONE);
    }
    /* Key generation: the key type made; a template's type must be that one. */
    static const struct {
        CK_MECHANISM_TYPE t;
        enum p11_op op;
        CK_KEY_TYPE kt;
    } g[] = {
        {CKM_AES_KEY_GEN, P11_OP_GENKEY, CKK_AES},
        {CKM_DES3_KEY_GEN, P11_OP_GENKEY, CKK_DES3},
        {CKM_GENERIC_SECRET_KEY_GEN, P11_OP_GENKEY, CKK_GENERIC_SECRET},
        {CKM_RSA_PKCS_KEY_PAIR_GEN, P11_OP_GENPAIR, CKK_RSA},
        {CKM_RSA_X9_31_KEY_PAIR_GEN, P11_OP_GENPAIR, CKK_RSA},
        {CKM_EC_KEY_PAIR_GEN, P11_OP_GENPAIR, CKK_EC},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        struct p11_mech pm;
        assert_int_equal(parse(g[i].t, NULL, 0, g[i].op, NONE, &pm), CKR_OK);
        assert_int_equal(pm.gen_ktype, g[i].kt);
        assert_int_equal(pm.prm.mech, OHSM_M_NONE);
        assert_false(pm.multipart);
        assert_int_equal(parse(g[i].t, NULL, 0, g[i].op, g[i].kt, &pm), CKR_OK);
        CK_KEY_TYPE other = g[i].kt == CKK_AES ? CKK_DES3 : CKK_AES;
        assert_int_equal(parse1(g[i].t, NULL, 0, g[i].op, other), CKR_TEMPLATE_INCONSISTENT);
        /* the other generation operation is not this mechanism's */
        enum p11_op wrong = g[i].op == P11_OP_GENKEY ? P11_OP_GENPAIR : P11_OP_GENKEY;
        assert_int_equal(parse1(g[i].t, NULL, 0, wrong, NONE), CKR_MECHANISM_INVALID);
        assert_int_equal(parse1(g[i].t, &other, sizeof(other), g[i].op, NONE),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    /* A digest takes no key type but the absent one (or the template's, see above). */
    assert_int_equal(parse1(CKM_SHA256, NULL, 0, P11_OP_DIGEST, CKK_AES),
                     CKR_TEMPLATE_INCONSISTENT);
}

/* Arguments, operations and key types a mechanism is not for. */
static void test_p11_mech_parse_refusals(void **state)
{
    (void)state;
    struct p11_mech pm;
    CK_MECHANISM m = {CKM_AES_ECB, NULL, 0};
    uint8_t iv[16] = {0};

    assert_int_equal(p11_mech_parse(NULL, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, NULL), CKR_ARGUMENTS_BAD);
    assert_int_equal(p11_mech_parse(&m, (enum p11_op)0, CKK_AES, &pm), CKR_MECHANISM_INVALID);
    assert_int_equal(p11_mech_parse(&m, (enum p11_op)99, CKK_AES, &pm), CKR_MECHANISM_INVALID);
    /* not for the operation */
    assert_int_equal(parse1(CKM_SHA256, NULL, 0, P11_OP_SIGN, CKK_RSA), CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_AES_CBC_PAD, iv, 16, P11_OP_WRAP, CKK_AES), CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_AES_ECB, NULL, 0, P11_OP_SIGN, CKK_AES), CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_ECDSA, NULL, 0, P11_OP_ENCRYPT, CKK_EC), CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_RSA_PKCS_PSS, NULL, 0, P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, NULL, 0, P11_OP_SIGN, CKK_RSA),
                     CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_AES_KEY_GEN, NULL, 0, P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_AES_KEY_WRAP, NULL, 0, P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_SHA256_HMAC, NULL, 0, P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, NULL, 0, P11_OP_SIGN, CKK_EC), CKR_MECHANISM_INVALID);
    assert_int_equal(parse1(CKM_DES3_CBC, iv, 8, P11_OP_DERIVE, CKK_DES3), CKR_MECHANISM_INVALID);
    /* not for the key type */
    assert_int_equal(parse1(CKM_AES_ECB, NULL, 0, P11_OP_ENCRYPT, CKK_DES3),
                     CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(parse1(CKM_DES3_ECB, NULL, 0, P11_OP_ENCRYPT, CKK_AES),
                     CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(parse1(CKM_AES_ECB, NULL, 0, P11_OP_ENCRYPT, NONE), CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(parse1(CKM_RSA_PKCS, NULL, 0, P11_OP_SIGN, CKK_EC), CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(parse1(CKM_ECDSA_SHA256, NULL, 0, P11_OP_SIGN, CKK_RSA),
                     CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(parse1(CKM_SHA256_HMAC, NULL, 0, P11_OP_SIGN, CKK_RSA),
                     CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(parse1(CKM_SHA256_HMAC, NULL, 0, P11_OP_SIGN, CKK_DES3),
                     CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(parse1(CKM_AES_KEY_WRAP, NULL, 0, P11_OP_WRAP, CKK_RSA),
                     CKR_KEY_TYPE_INCONSISTENT);
    assert_int_equal(parse1(CKM_RSA_PKCS, NULL, 0, P11_OP_WRAP, CKK_AES),
                     CKR_KEY_TYPE_INCONSISTENT);
    /* a parameter where none is taken; a length without a pointer */
    assert_int_equal(parse1(CKM_AES_ECB, iv, 16, P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_SHA256, iv, 1, P11_OP_DIGEST, NONE), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_SHA256_RSA_PKCS, iv, 4, P11_OP_SIGN, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_ECDSA, iv, 8, P11_OP_SIGN, CKK_EC), CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_SHA256_HMAC, iv, 16, P11_OP_SIGN, CKK_GENERIC_SECRET),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_RSA_PKCS, iv, 1, P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_AES_CBC, NULL, 16, P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    /* a pointer with a zero length is no parameter */
    assert_int_equal(parse1(CKM_AES_ECB, iv, 0, P11_OP_ENCRYPT, CKK_AES), CKR_OK);
}

/* IVs: exactly the block, copied (the application's memory may change after init). */
static void test_p11_mech_parse_iv(void **state)
{
    (void)state;
    struct p11_mech pm;
    uint8_t iv[17];
    for (size_t i = 0; i < sizeof(iv); i++) {
        iv[i] = (uint8_t)(i + 1);
    }
    assert_int_equal(parse(CKM_AES_CBC, iv, 16, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.iv_len, 16);
    assert_int_equal(pm.prm.iv_len, 16);
    assert_ptr_equal(pm.prm.iv, pm.iv);
    assert_memory_equal(pm.iv, iv, 16);
    assert_int_equal(pm.block, 16);
    assert_true(pm.multipart);
    assert_int_equal(pm.prm.mech, OHSM_M_AES_CBC);
    assert_int_equal(parse(CKM_AES_CBC_PAD, iv, 16, P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_AES_CBC_PAD);
    assert_int_equal(parse(CKM_DES3_CBC_PAD, iv, 8, P11_OP_ENCRYPT, CKK_DES3, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_DES3_CBC_PAD);
    assert_int_equal(pm.iv_len, 8);
    assert_int_equal(pm.block, 8);
    assert_int_equal(parse(CKM_DES3_CBC, iv, 8, P11_OP_DECRYPT, CKK_DES3, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_DES3_CBC);
    static const size_t bad16[] = {0, 8, 15, 17};
    for (size_t i = 0; i < sizeof(bad16) / sizeof(bad16[0]); i++) {
        assert_int_equal(parse1(CKM_AES_CBC, iv, bad16[i], P11_OP_ENCRYPT, CKK_AES),
                         CKR_MECHANISM_PARAM_INVALID);
        assert_int_equal(parse1(CKM_AES_CBC_PAD, iv, bad16[i], P11_OP_DECRYPT, CKK_AES),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    static const size_t bad8[] = {0, 7, 9, 16};
    for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
        assert_int_equal(parse1(CKM_DES3_CBC, iv, bad8[i], P11_OP_ENCRYPT, CKK_DES3),
                         CKR_MECHANISM_PARAM_INVALID);
        assert_int_equal(parse1(CKM_DES3_CBC_PAD, iv, bad8[i], P11_OP_DECRYPT, CKK_DES3),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    /* A copy of the struct points at its own IV once rebound. */
    assert_int_equal(parse(CKM_AES_CBC, iv, 16, P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    struct p11_mech copy = pm;
    memset(&pm, 0, sizeof(pm));
    p11_mech_rebind(&copy);
    assert_ptr_equal(copy.prm.iv, copy.iv);
    assert_memory_equal(copy.prm.iv, iv, 16);
    p11_mech_rebind(NULL);
}

/* CTR: CK_AES_CTR_PARAMS, counter bits 1..128. */
static void test_p11_mech_parse_ctr(void **state)
{
    (void)state;
    struct p11_mech pm;
    CK_AES_CTR_PARAMS c;
    memset(c.cb, 0xC3, sizeof(c.cb));
    static const CK_ULONG ok[] = {1, 32, 64, 128};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        c.ulCounterBits = ok[i];
        assert_int_equal(parse(CKM_AES_CTR, &c, sizeof(c), P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
        assert_int_equal(pm.ctr_bits, ok[i]);
        assert_int_equal(pm.prm.mech, OHSM_M_AES_CTR);
        assert_int_equal(pm.prm.iv_len, 16);
        assert_memory_equal(pm.iv, c.cb, 16);
        assert_int_equal(pm.block, 16);
        assert_true(pm.multipart);
    }
    static const CK_ULONG bad[] = {0, 129, 256, (CK_ULONG)-1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c.ulCounterBits = bad[i];
        assert_int_equal(parse1(CKM_AES_CTR, &c, sizeof(c), P11_OP_ENCRYPT, CKK_AES),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    c.ulCounterBits = 64;
    assert_int_equal(parse1(CKM_AES_CTR, &c, sizeof(c) - 1, P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_AES_CTR, c.cb, 16, P11_OP_DECRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_AES_CTR, NULL, 0, P11_OP_DECRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
}

/* GCM: 12-byte IV (a zeroed buffer that receives the HSM's IV when encrypting or wrapping), tag
 * bits 96..128 in steps of 8, AAD borrowed. */
static void test_p11_mech_parse_gcm(void **state)
{
    (void)state;
    struct p11_mech pm;
    uint8_t iv[16] = {0};
    uint8_t aad[5] = {1, 2, 3, 4, 5};
    CK_GCM_PARAMS g = {iv, 12, 96, aad, 5, 128};

    assert_int_equal(parse(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_AES_GCM);
    assert_ptr_equal(pm.gcm_iv_out, iv);
    assert_int_equal(pm.prm.iv_len, 0); /* the HSM makes the IV */
    assert_ptr_equal(pm.prm.aad, aad);
    assert_int_equal(pm.prm.aad_len, 5);
    assert_int_equal(pm.prm.tag_bits, 128);
    assert_int_equal(pm.block, 0);
    assert_true(pm.multipart);
    assert_int_equal(parse(CKM_AES_GCM, &g, sizeof(g), P11_OP_WRAP, CKK_AES, &pm), CKR_OK);
    assert_ptr_equal(pm.gcm_iv_out, iv);
    assert_int_equal(pm.prm.iv_len, 0);
    assert_false(pm.multipart);
    /* unwrap with the zeroed buffer: the IV comes from the blob */
    assert_int_equal(parse(CKM_AES_GCM, &g, sizeof(g), P11_OP_UNWRAP, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.iv_len, 0);
    assert_null(pm.gcm_iv_out);
    /* a decryption with the zeroed IV is still that IV */
    assert_int_equal(parse(CKM_AES_GCM, &g, sizeof(g), P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.iv_len, 12);
    iv[3] = 9;
    assert_int_equal(parse(CKM_AES_GCM, &g, sizeof(g), P11_OP_DECRYPT, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.iv_len, 12);
    assert_ptr_equal(pm.prm.iv, pm.iv);
    assert_memory_equal(pm.iv, iv, 12);
    assert_null(pm.gcm_iv_out);
    assert_int_equal(parse(CKM_AES_GCM, &g, sizeof(g), P11_OP_UNWRAP, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.iv_len, 12);
    /* an IV chosen by the application cannot be used to encrypt or wrap (CloudHSM's rule) */
    assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_WRAP, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    iv[3] = 0;
    /* tag lengths */
    static const CK_ULONG tags_ok[] = {96, 104, 112, 120, 128};
    for (size_t i = 0; i < sizeof(tags_ok) / sizeof(tags_ok[0]); i++) {
        g.ulTagBits = tags_ok[i];
        assert_int_equal(parse(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
        assert_int_equal(pm.prm.tag_bits, tags_ok[i]);
    }
    static const CK_ULONG tags_bad[] = {0, 32, 64, 88, 100, 127, 136, 256};
    for (size_t i = 0; i < sizeof(tags_bad) / sizeof(tags_bad[0]); i++) {
        g.ulTagBits = tags_bad[i];
        assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    g.ulTagBits = 128;
    /* IV length and bits; AAD without a pointer; sizes */
    static const CK_ULONG ivl_bad[] = {0, 8, 11, 13, 16};
    for (size_t i = 0; i < sizeof(ivl_bad) / sizeof(ivl_bad[0]); i++) {
        g.ulIvLen = ivl_bad[i];
        assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_DECRYPT, CKK_AES),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    g.ulIvLen = 12;
    g.ulIvBits = 0;
    assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES), CKR_OK);
    g.ulIvBits = 64;
    assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    g.ulIvBits = 96;
    g.pIv = NULL;
    assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    g.pIv = iv;
    g.pAAD = NULL;
    assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    g.ulAADLen = 0;
    assert_int_equal(parse(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES, &pm), CKR_OK);
    assert_null(pm.prm.aad);
    g.pAAD = aad;
    g.ulAADLen = P11_STREAM_MAX + 1;
    assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g), P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    g.ulAADLen = 5;
    assert_int_equal(parse1(CKM_AES_GCM, &g, sizeof(g) - 8, P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_AES_GCM, iv, 12, P11_OP_DECRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_AES_GCM, NULL, 0, P11_OP_ENCRYPT, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
}

/* OAEP: SHA-1..SHA-512 hash and MGF1, CKZ_DATA_SPECIFIED label (or source 0, no label). */
static void test_p11_mech_parse_oaep(void **state)
{
    (void)state;
    struct p11_mech pm;
    uint8_t label[3] = {'a', 'b', 'c'};
    CK_RSA_PKCS_OAEP_PARAMS o = {CKM_SHA384, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, label, 3};

    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_DECRYPT, CKK_RSA, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_RSA_OAEP);
    assert_int_equal(pm.prm.hash, OHSM_H_SHA384);
    assert_int_equal(pm.prm.mgf_hash, OHSM_H_SHA1);
    assert_ptr_equal(pm.prm.label, label);
    assert_int_equal(pm.prm.label_len, 3);
    assert_false(pm.multipart);
    static const struct {
        CK_MECHANISM_TYPE h;
        CK_RSA_PKCS_MGF_TYPE g;
        uint32_t oh;
    } hs[] = {
        {CKM_SHA_1, CKG_MGF1_SHA1, OHSM_H_SHA1},      {CKM_SHA224, CKG_MGF1_SHA224, OHSM_H_SHA224},
        {CKM_SHA256, CKG_MGF1_SHA256, OHSM_H_SHA256}, {CKM_SHA384, CKG_MGF1_SHA384, OHSM_H_SHA384},
        {CKM_SHA512, CKG_MGF1_SHA512, OHSM_H_SHA512},
    };
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        o.hashAlg = hs[i].h;
        o.mgf = hs[i].g;
        assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_WRAP, CKK_RSA, &pm),
                         CKR_OK);
        assert_int_equal(pm.prm.hash, hs[i].oh);
        assert_int_equal(pm.prm.mgf_hash, hs[i].oh);
    }
    o.hashAlg = CKM_MD5;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    o.hashAlg = CKM_SHA256_HMAC;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    o.hashAlg = CKM_SHA256;
    o.mgf = 0;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    o.mgf = 6;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    o.mgf = CKG_MGF1_SHA256;
    /* sources */
    o.source = 0;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID); /* data without CKZ_DATA_SPECIFIED */
    o.ulSourceDataLen = 0;
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA, &pm), CKR_OK);
    assert_null(pm.prm.label);
    o.source = 2;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    o.source = CKZ_DATA_SPECIFIED;
    o.pSourceData = NULL;
    assert_int_equal(parse(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA, &pm),
                     CKR_OK); /* an empty label */
    assert_null(pm.prm.label);
    o.ulSourceDataLen = 3;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    o.pSourceData = label;
    o.ulSourceDataLen = P11_STREAM_MAX + 1;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    o.ulSourceDataLen = 3;
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, &o, sizeof(o) + 1, P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_RSA_PKCS_OAEP, NULL, 0, P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
}

/* PSS: the mechanism's hash must be hashAlg's; sLen up to the largest modulus. */
static void test_p11_mech_parse_pss(void **state)
{
    (void)state;
    struct p11_mech pm;
    CK_RSA_PKCS_PSS_PARAMS p = {CKM_SHA384, CKG_MGF1_SHA256, 20};

    /* the raw mechanism signs the application's digest of hashAlg */
    assert_int_equal(parse(CKM_RSA_PKCS_PSS, &p, sizeof(p), P11_OP_SIGN, CKK_RSA, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_RSA_PSS);
    assert_int_equal(pm.prm.hash, OHSM_H_SHA384);
    assert_int_equal(pm.prm.mgf_hash, OHSM_H_SHA256);
    assert_int_equal(pm.prm.salt_len, 20);
    assert_true(pm.prm.prehashed);
    assert_int_equal(pm.local_hash, 0);
    assert_false(pm.multipart);
    /* the hashing ones: the library hashes */
    static const struct {
        CK_MECHANISM_TYPE t;
        CK_MECHANISM_TYPE h;
        uint32_t oh;
    } hs[] = {
        {CKM_SHA1_RSA_PKCS_PSS, CKM_SHA_1, OHSM_H_SHA1},
        {CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, OHSM_H_SHA224},
        {CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, OHSM_H_SHA256},
        {CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, OHSM_H_SHA384},
        {CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, OHSM_H_SHA512},
    };
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        p.hashAlg = hs[i].h;
        p.sLen = 0;
        assert_int_equal(parse(hs[i].t, &p, sizeof(p), P11_OP_VERIFY, CKK_RSA, &pm), CKR_OK);
        assert_int_equal(pm.prm.hash, hs[i].oh);
        assert_int_equal(pm.local_hash, hs[i].oh);
        assert_int_equal(pm.prm.salt_len, 0);
        assert_true(pm.prm.prehashed);
        assert_true(pm.multipart);
        /* another hash than the mechanism's */
        p.hashAlg = hs[(i + 1) % 5].h;
        assert_int_equal(parse1(hs[i].t, &p, sizeof(p), P11_OP_SIGN, CKK_RSA),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    p.hashAlg = CKM_SHA256;
    p.sLen = 512;
    assert_int_equal(parse1(CKM_SHA256_RSA_PKCS_PSS, &p, sizeof(p), P11_OP_SIGN, CKK_RSA), CKR_OK);
    p.sLen = 513;
    assert_int_equal(parse1(CKM_SHA256_RSA_PKCS_PSS, &p, sizeof(p), P11_OP_SIGN, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    p.sLen = 32;
    p.mgf = 0;
    assert_int_equal(parse1(CKM_RSA_PKCS_PSS, &p, sizeof(p), P11_OP_SIGN, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    p.mgf = CKG_MGF1_SHA256;
    p.hashAlg = CKM_MD5;
    assert_int_equal(parse1(CKM_RSA_PKCS_PSS, &p, sizeof(p), P11_OP_SIGN, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    p.hashAlg = CKM_SHA256;
    assert_int_equal(parse1(CKM_RSA_PKCS_PSS, &p, sizeof(p) - 1, P11_OP_SIGN, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_RSA_PKCS_PSS, NULL, 0, P11_OP_SIGN, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_SHA256_RSA_PKCS_PSS, NULL, 0, P11_OP_SIGN, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
}

/* AES key wrap: only the RFCs' default IVs may be named; RSA-AES: AES-256 and OAEP params. */
static void test_p11_mech_parse_wrap(void **state)
{
    (void)state;
    struct p11_mech pm;
    uint8_t kw[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};
    uint8_t kwp[4] = {0xA6, 0x59, 0x59, 0xA6};

    assert_int_equal(parse(CKM_AES_KEY_WRAP, kw, 8, P11_OP_WRAP, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.iv_len, 0);
    assert_int_equal(pm.prm.mech, OHSM_M_AES_KW);
    assert_int_equal(parse1(CKM_AES_KEY_WRAP, kwp, 4, P11_OP_WRAP, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_AES_KEY_WRAP, kw, 7, P11_OP_WRAP, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    kw[7] = 0xA7;
    assert_int_equal(parse1(CKM_AES_KEY_WRAP, kw, 8, P11_OP_UNWRAP, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse(CKM_AES_KEY_WRAP_PAD, kwp, 4, P11_OP_WRAP, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_AES_KWP);
    assert_int_equal(parse(CKM_AES_KEY_WRAP_KWP, kwp, 4, P11_OP_UNWRAP, CKK_AES, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_AES_KWP);
    kwp[0] = 0;
    assert_int_equal(parse1(CKM_AES_KEY_WRAP_KWP, kwp, 4, P11_OP_UNWRAP, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_AES_KEY_WRAP_PAD, kw, 8, P11_OP_UNWRAP, CKK_AES),
                     CKR_MECHANISM_PARAM_INVALID);

    uint8_t label[2] = {1, 2};
    CK_RSA_PKCS_OAEP_PARAMS o = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, label, 2};
    CK_RSA_AES_KEY_WRAP_PARAMS ra = {256, &o};
    assert_int_equal(parse(CKM_RSA_AES_KEY_WRAP, &ra, sizeof(ra), P11_OP_WRAP, CKK_RSA, &pm),
                     CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_RSA_AES_KW);
    assert_int_equal(pm.prm.hash, OHSM_H_SHA256);
    assert_int_equal(pm.prm.mgf_hash, OHSM_H_SHA256);
    assert_ptr_equal(pm.prm.label, label);
    static const CK_ULONG bits_bad[] = {0, 128, 192, 512};
    for (size_t i = 0; i < sizeof(bits_bad) / sizeof(bits_bad[0]); i++) {
        ra.ulAESKeyBits = bits_bad[i];
        assert_int_equal(parse1(CKM_RSA_AES_KEY_WRAP, &ra, sizeof(ra), P11_OP_WRAP, CKK_RSA),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    ra.ulAESKeyBits = 256;
    ra.pOAEPParams = NULL;
    assert_int_equal(parse1(CKM_RSA_AES_KEY_WRAP, &ra, sizeof(ra), P11_OP_UNWRAP, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    ra.pOAEPParams = &o;
    o.mgf = 0;
    assert_int_equal(parse1(CKM_RSA_AES_KEY_WRAP, &ra, sizeof(ra), P11_OP_UNWRAP, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    o.mgf = CKG_MGF1_SHA256;
    assert_int_equal(parse1(CKM_RSA_AES_KEY_WRAP, &ra, sizeof(ra) - 1, P11_OP_UNWRAP, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_RSA_AES_KEY_WRAP, NULL, 0, P11_OP_UNWRAP, CKK_RSA),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_RSA_AES_KEY_WRAP, &ra, sizeof(ra), P11_OP_ENCRYPT, CKK_RSA),
                     CKR_MECHANISM_INVALID);
}

/* ECDH1: KDF CKD_NULL (no shared data) or CKD_SHAx_KDF; the peer's uncompressed point, raw or in
 * a DER OCTET STRING. */
static void test_p11_mech_parse_ecdh(void **state)
{
    (void)state;
    struct p11_mech pm;
    uint8_t pt[140];
    uint8_t der[140];
    uint8_t shared[4] = {9, 9, 9, 9};
    CK_ECDH1_DERIVE_PARAMS e = {CKD_NULL, 0, NULL, 65, pt};

    memset(pt, 0x11, sizeof(pt));
    pt[0] = 0x04;
    assert_int_equal(parse(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC, &pm), CKR_OK);
    assert_int_equal(pm.prm.mech, OHSM_M_ECDH);
    assert_int_equal(pm.ecdh.kdf_hash, OHSM_H_NONE);
    assert_ptr_equal(pm.ecdh.pub, pt);
    assert_int_equal(pm.ecdh.pub_len, 65);
    assert_null(pm.ecdh.shared);
    assert_int_equal(pm.gen_ktype, NONE);
    /* every supported curve's raw length */
    static const size_t lens[] = {57, 65, 97, 133};
    for (size_t i = 0; i < 4; i++) {
        e.ulPublicDataLen = lens[i];
        assert_int_equal(parse(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC, &pm),
                         CKR_OK);
        assert_int_equal(pm.ecdh.pub_len, lens[i]);
        /* and wrapped in an OCTET STRING */
        size_t h = lens[i] < 0x80 ? 2 : 3;
        der[0] = 0x04;
        if (h == 3) {
            der[1] = 0x81;
            der[2] = (uint8_t)lens[i];
        } else {
            der[1] = (uint8_t)lens[i];
        }
        memcpy(der + h, pt, lens[i]);
        CK_ECDH1_DERIVE_PARAMS w = {CKD_SHA256_KDF, 4, shared, h + lens[i], der};
        assert_int_equal(parse(CKM_ECDH1_DERIVE, &w, sizeof(w), P11_OP_DERIVE, CKK_EC, &pm),
                         CKR_OK);
        assert_ptr_equal(pm.ecdh.pub, der + h);
        assert_int_equal(pm.ecdh.pub_len, lens[i]);
        assert_int_equal(pm.ecdh.kdf_hash, OHSM_H_SHA256);
        assert_int_equal(pm.prm.hash, OHSM_H_SHA256);
        assert_ptr_equal(pm.ecdh.shared, shared);
        assert_int_equal(pm.ecdh.shared_len, 4);
        /* a DER length that does not match, or an inner value that is not a point */
        w.ulPublicDataLen = h + lens[i] - 1;
        assert_int_equal(parse1(CKM_ECDH1_DERIVE, &w, sizeof(w), P11_OP_DERIVE, CKK_EC),
                         CKR_MECHANISM_PARAM_INVALID);
        w.ulPublicDataLen = h + lens[i];
        der[h] = 0x02;
        assert_int_equal(parse1(CKM_ECDH1_DERIVE, &w, sizeof(w), P11_OP_DERIVE, CKK_EC),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    /* the KDFs */
    static const struct {
        ck_ec_kdf_t k;
        uint32_t h;
    } kdfs[] = {{CKD_SHA1_KDF, OHSM_H_SHA1},
                {CKD_SHA224_KDF, OHSM_H_SHA224},
                {CKD_SHA256_KDF, OHSM_H_SHA256},
                {CKD_SHA384_KDF, OHSM_H_SHA384},
                {CKD_SHA512_KDF, OHSM_H_SHA512}};
    e.ulPublicDataLen = 65;
    for (size_t i = 0; i < 5; i++) {
        e.kdf = kdfs[i].k;
        assert_int_equal(parse(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC, &pm),
                         CKR_OK);
        assert_int_equal(pm.ecdh.kdf_hash, kdfs[i].h);
    }
    static const ck_ec_kdf_t kdf_bad[] = {0, CKD_SHA1_KDF_ASN1, CKD_SHA1_KDF_CONCATENATE,
                                          CKD_CPDIVERSIFY_KDF, 0x99};
    for (size_t i = 0; i < sizeof(kdf_bad) / sizeof(kdf_bad[0]); i++) {
        e.kdf = kdf_bad[i];
        assert_int_equal(parse1(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    /* shared data: not with CKD_NULL; not a length without a pointer */
    e.kdf = CKD_NULL;
    e.ulSharedDataLen = 4;
    e.pSharedData = shared;
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC),
                     CKR_MECHANISM_PARAM_INVALID);
    e.kdf = CKD_SHA1_KDF;
    e.pSharedData = NULL;
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC),
                     CKR_MECHANISM_PARAM_INVALID);
    e.ulSharedDataLen = 0;
    /* points of the wrong shape */
    static const size_t bad_len[] = {0, 1, 33, 64, 66, 96, 132, 134};
    for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
        e.ulPublicDataLen = bad_len[i];
        assert_int_equal(parse1(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC),
                         CKR_MECHANISM_PARAM_INVALID);
    }
    e.ulPublicDataLen = 65;
    pt[0] = 0x02; /* compressed */
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC),
                     CKR_MECHANISM_PARAM_INVALID);
    pt[0] = 0x04;
    e.pPublicData = NULL;
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_EC),
                     CKR_MECHANISM_PARAM_INVALID);
    e.pPublicData = pt;
    /* a long-form DER length that is not the shortest */
    der[0] = 0x04;
    der[1] = 0x81;
    der[2] = 65;
    memcpy(der + 3, pt, 65);
    CK_ECDH1_DERIVE_PARAMS w = {CKD_NULL, 0, NULL, 68, der};
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, &w, sizeof(w), P11_OP_DERIVE, CKK_EC),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, &e, sizeof(e) - 1, P11_OP_DERIVE, CKK_EC),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, NULL, 0, P11_OP_DERIVE, CKK_EC),
                     CKR_MECHANISM_PARAM_INVALID);
    assert_int_equal(parse1(CKM_ECDH1_DERIVE, &e, sizeof(e), P11_OP_DERIVE, CKK_RSA),
                     CKR_KEY_TYPE_INCONSISTENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p11_mech_list_and_info),
        cmocka_unit_test(test_p11_mech_unknown),
        cmocka_unit_test(test_p11_mech_listed_ones_run),
        cmocka_unit_test(test_p11_mech_parse_results),
        cmocka_unit_test(test_p11_mech_parse_refusals),
        cmocka_unit_test(test_p11_mech_parse_iv),
        cmocka_unit_test(test_p11_mech_parse_ctr),
        cmocka_unit_test(test_p11_mech_parse_gcm),
        cmocka_unit_test(test_p11_mech_parse_oaep),
        cmocka_unit_test(test_p11_mech_parse_pss),
        cmocka_unit_test(test_p11_mech_parse_wrap),
        cmocka_unit_test(test_p11_mech_parse_ecdh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
