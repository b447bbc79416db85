/* SPDX-License-Identifier: Apache-2.0
 * pkcs11/mech: the parameters of OAEP, PSS, the key wraps (AES KW/KWP IVs, RSA-AES) and ECDH1
 * derivation: what each becomes and every error path. */
#include "p11_fixture.h"

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
        cmocka_unit_test(test_p11_mech_parse_oaep),
        cmocka_unit_test(test_p11_mech_parse_pss),
        cmocka_unit_test(test_p11_mech_parse_wrap),
        cmocka_unit_test(test_p11_mech_parse_ecdh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
