/* SPDX-License-Identifier: Apache-2.0
 * pkcs11/mech: the list and every mechanism's info against a table written from PKCS#11 and the
 * HSM's limits; every listed mechanism, for every operation its flags claim, runs in the HSM's own
 * code (src/core/mech*.c) with what the parser made (a listed mechanism never fails). */
#include "p11_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p11_mech_list_and_info),
        cmocka_unit_test(test_p11_mech_listed_ones_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
