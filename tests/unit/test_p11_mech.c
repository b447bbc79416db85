/* SPDX-License-Identifier: Apache-2.0
 * pkcs11/mech: the parse results of each mechanism and the parameter error paths of the IV, CTR
 * and GCM parameters (the OAEP, PSS, key-wrap and ECDH ones: test_p11_mech_params.c; the list, the
 * info and every listed mechanism running in the HSM's code: test_p11_mech_run.c). */
#include "p11_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p11_mech_unknown),
        cmocka_unit_test(test_p11_mech_parse_results),
        cmocka_unit_test(test_p11_mech_parse_refusals),
        cmocka_unit_test(test_p11_mech_parse_iv),
        cmocka_unit_test(test_p11_mech_parse_ctr),
        cmocka_unit_test(test_p11_mech_parse_gcm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
