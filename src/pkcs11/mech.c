/* SPDX-License-Identifier: Apache-2.0
 *
 * The mechanism table of libopenhsm-pkcs11.so and the parser of CK_MECHANISM parameters. The
 * table is data: one row per mechanism with what the HSM does with it (src/core/mech*.c is the
 * truth: a mechanism is listed, and a flag set, only when the HSM runs it), key types, key sizes
 * (ohsm_mech_check_size's ranges) and the shape of its parameter. The CK_MECHANISM comes from the
 * application and is untrusted: every length is checked against the structure it must hold
 * before the structure is read. Facts: PKCS#11 v2.40 current mechanisms §2.1.8 (OAEP), §2.1.14
 * (PSS), §2.3 (ECDH1, KDFs), §2.14 (AES, CTR, GCM, key wrap); CloudHSM's PKCS#11 library for the
 * GCM IV rule. Stateless and thread-safe.
 */
#include "mech.h"

#include <string.h>

#define KT_NONE CK_UNAVAILABLE_INFORMATION
#define F_ED (CKF_ENCRYPT | CKF_DECRYPT)
#define F_SV (CKF_SIGN | CKF_VERIFY)
#define F_WU (CKF_WRAP | CKF_UNWRAP)
#define F_EC (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

#define RSA_MIN 2048
#define RSA_MAX 4096
#define EC_MIN 224 /* P-224 */
#define EC_MAX 521 /* P-521 */
#define RSA_MAX_BYTES (RSA_MAX / 8)
#define GCM_IV_LEN 12

/* The shape of a mechanism's parameter. */
enum pkind {
    PK_NONE = 0, /* none may be given */
    PK_IV16,     /* a 16-byte IV (AES CBC) */
    PK_IV8,      /* an 8-byte IV (DES3 CBC) */
    PK_CTR,      /* CK_AES_CTR_PARAMS */
    PK_GCM,      /* CK_GCM_PARAMS */
    PK_OAEP,     /* CK_RSA_PKCS_OAEP_PARAMS */
    PK_PSS,      /* CK_RSA_PKCS_PSS_PARAMS */
    PK_KW,       /* optional 8-byte IV: only RFC 3394's default */
    PK_KWP,      /* optional 4-byte IV: only RFC 5649's default */
    PK_RSA_AES,  /* CK_RSA_AES_KEY_WRAP_PARAMS */
    PK_ECDH,     /* CK_ECDH1_DERIVE_PARAMS */
};

struct row {
    CK_MECHANISM_TYPE type;
    uint32_t mech;  /* enum ohsm_mech; OHSM_M_NONE: key generation */
    uint32_t hash;  /* enum ohsm_hash the mechanism names (SHA256_RSA_PKCS, SHA256_HMAC...) */
    CK_FLAGS flags; /* what it does (CKF_HW is added for all) */
    CK_ULONG min;   /* key sizes, PKCS#11's unit for the mechanism */
    CK_ULONG max;
    CK_KEY_TYPE kt;  /* the key type it uses (generation: makes); KT_NONE: no key */
    CK_KEY_TYPE kt2; /* a second key type it uses, or KT_NONE */
    enum pkind param;
    uint8_t block; /* cipher block of the multi-part engine (stream.c) */
    bool multi;    /* C_*Update / C_*Final allowed */
    bool local;    /* sign/verify: the library hashes, the HSM signs the digest */
};

#define GEN(t, k, lo, hi, f)                                                                       \
    {                                                                                              \
        t, OHSM_M_NONE, OHSM_H_NONE, f, lo, hi, k, KT_NONE, PK_NONE, 0, false, false               \
    }
#define AES(t, m, f, p, b, mu)                                                                     \
    {                                                                                              \
        t, m, OHSM_H_NONE, f, 16, 32, CKK_AES, KT_NONE, p, b, mu, false                            \
    }
#define DES3(t, m, p)                                                                              \
    {                                                                                              \
        t, m, OHSM_H_NONE, F_ED, 24, 24, CKK_DES3, KT_NONE, p, 8, true, false                      \
    }
#define RSA(t, m, h, f, p, mu)                                                                     \
    {                                                                                              \
        t, m, h, f, RSA_MIN, RSA_MAX, CKK_RSA, KT_NONE, p, 0, mu, mu                               \
    }
#define ECDSA(t, h, mu)                                                                            \
    {                                                                                              \
        t, OHSM_M_ECDSA, h, F_SV | F_EC, EC_MIN, EC_MAX, CKK_EC, KT_NONE, PK_NONE, 0, mu, mu       \
    }
#define DIGEST(t, h)                                                                               \
    {                                                                                              \
        t, OHSM_M_DIGEST, h, CKF_DIGEST, 0, 0, KT_NONE, KT_NONE, PK_NONE, 0, true, false           \
    }
/* HMAC keys: generic secrets (1..3583 bytes) and AES keys (16..32), as the HSM takes them. The
 * data goes to the HSM whole: multi-part HMAC is buffered by the caller (P11_STREAM_MAX). */
#define HMAC(t, h)                                                                                 \
    {                                                                                              \
        t, OHSM_M_HMAC, h, F_SV, 1, OHSM_GENERIC_SECRET_MAX, CKK_GENERIC_SECRET, CKK_AES, PK_NONE, \
            0, true, false                                                                         \
    }

#define ECDH(t, p)                                                                                 \
    {                                                                                              \
        t, OHSM_M_ECDH, OHSM_H_NONE, CKF_DERIVE | F_EC, EC_MIN, EC_MAX, CKK_EC, KT_NONE, p, 0, \
            false, false                                                                           \
    }

/* C_GetMechanismList order. CKM_AES_KEY_WRAP_PAD (0x210A) is RFC 5649 here, as SoftHSM2 and
 * p11-kit users expect it; PKCS#11 v3.0 names that CKM_AES_KEY_WRAP_KWP (also listed). The HSM's
 * wrap does not take CBC_PAD (src/core/mech.c ohsm_mech_wrap): AES_CBC_PAD has no CKF_WRAP. */
#define MECH_TABLE(X)                                                                              \
    X(GEN, CKM_AES_KEY_GEN, CKK_AES, 16, 32, CKF_GENERATE)                                         \
    X(GEN, CKM_DES3_KEY_GEN, CKK_DES3, 24, 24, CKF_GENERATE)                                       \
    X(GEN, CKM_GENERIC_SECRET_KEY_GEN, CKK_GENERIC_SECRET, 1, OHSM_GENERIC_SECRET_MAX,             \
      CKF_GENERATE)                                                                                \
    X(GEN, CKM_RSA_PKCS_KEY_PAIR_GEN, CKK_RSA, RSA_MIN, RSA_MAX, CKF_GENERATE_KEY_PAIR)            \
    X(GEN, CKM_RSA_X9_31_KEY_PAIR_GEN, CKK_RSA, RSA_MIN, RSA_MAX, CKF_GENERATE_KEY_PAIR)           \
    X(GEN, CKM_EC_KEY_PAIR_GEN, CKK_EC, EC_MIN, EC_MAX, CKF_GENERATE_KEY_PAIR | F_EC)              \
    X(AES, CKM_AES_ECB, OHSM_M_AES_ECB, F_ED, PK_NONE, 16, true)                                   \
    X(AES, CKM_AES_CBC, OHSM_M_AES_CBC, F_ED, PK_IV16, 16, true)                                   \
    X(AES, CKM_AES_CBC_PAD, OHSM_M_AES_CBC_PAD, F_ED, PK_IV16, 16, true)                           \
    X(AES, CKM_AES_CTR, OHSM_M_AES_CTR, F_ED, PK_CTR, 16, true)                                    \
    X(AES, CKM_AES_GCM, OHSM_M_AES_GCM, F_ED | F_WU, PK_GCM, 0, true)                              \
    X(DES3, CKM_DES3_ECB, OHSM_M_DES3_ECB, PK_NONE)                                                \
    X(DES3, CKM_DES3_CBC, OHSM_M_DES3_CBC, PK_IV8)                                                 \
    X(DES3, CKM_DES3_CBC_PAD, OHSM_M_DES3_CBC_PAD, PK_IV8)                                         \
    X(RSA, CKM_RSA_PKCS, OHSM_M_RSA_PKCS, OHSM_H_NONE, F_ED | F_SV | F_WU, PK_NONE, false)         \
    X(RSA, CKM_RSA_PKCS_OAEP, OHSM_M_RSA_OAEP, OHSM_H_NONE, F_ED | F_WU, PK_OAEP, false)           \
    X(RSA, CKM_RSA_PKCS_PSS, OHSM_M_RSA_PSS, OHSM_H_NONE, F_SV, PK_PSS, false)                     \
    X(RSA, CKM_SHA1_RSA_PKCS, OHSM_M_RSA_PKCS, OHSM_H_SHA1, F_SV, PK_NONE, true)                   \
    X(RSA, CKM_SHA224_RSA_PKCS, OHSM_M_RSA_PKCS, OHSM_H_SHA224, F_SV, PK_NONE, true)               \
    X(RSA, CKM_SHA256_RSA_PKCS, OHSM_M_RSA_PKCS, OHSM_H_SHA256, F_SV, PK_NONE, true)               \
    X(RSA, CKM_SHA384_RSA_PKCS, OHSM_M_RSA_PKCS, OHSM_H_SHA384, F_SV, PK_NONE, true)               \
    X(RSA, CKM_SHA512_RSA_PKCS, OHSM_M_RSA_PKCS, OHSM_H_SHA512, F_SV, PK_NONE, true)               \
    X(RSA, CKM_SHA1_RSA_PKCS_PSS, OHSM_M_RSA_PSS, OHSM_H_SHA1, F_SV, PK_PSS, true)                 \
    X(RSA, CKM_SHA224_RSA_PKCS_PSS, OHSM_M_RSA_PSS, OHSM_H_SHA224, F_SV, PK_PSS, true)             \
    X(RSA, CKM_SHA256_RSA_PKCS_PSS, OHSM_M_RSA_PSS, OHSM_H_SHA256, F_SV, PK_PSS, true)             \
    X(RSA, CKM_SHA384_RSA_PKCS_PSS, OHSM_M_RSA_PSS, OHSM_H_SHA384, F_SV, PK_PSS, true)             \
    X(RSA, CKM_SHA512_RSA_PKCS_PSS, OHSM_M_RSA_PSS, OHSM_H_SHA512, F_SV, PK_PSS, true)             \
    X(ECDSA, CKM_ECDSA, OHSM_H_NONE, false)                                                        \
    X(ECDSA, CKM_ECDSA_SHA1, OHSM_H_SHA1, true)                                                    \
    X(ECDSA, CKM_ECDSA_SHA224, OHSM_H_SHA224, true)                                                \
    X(ECDSA, CKM_ECDSA_SHA256, OHSM_H_SHA256, true)                                                \
    X(ECDSA, CKM_ECDSA_SHA384, OHSM_H_SHA384, true)                                                \
    X(ECDSA, CKM_ECDSA_SHA512, OHSM_H_SHA512, true)                                                \
    X(DIGEST, CKM_SHA_1, OHSM_H_SHA1)                                                              \
    X(DIGEST, CKM_SHA224, OHSM_H_SHA224)                                                           \
    X(DIGEST, CKM_SHA256, OHSM_H_SHA256)                                                           \
    X(DIGEST, CKM_SHA384, OHSM_H_SHA384)                                                           \
    X(DIGEST, CKM_SHA512, OHSM_H_SHA512)                                                           \
    X(HMAC, CKM_SHA_1_HMAC, OHSM_H_SHA1)                                                           \
    X(HMAC, CKM_SHA224_HMAC, OHSM_H_SHA224)                                                        \
    X(HMAC, CKM_SHA256_HMAC, OHSM_H_SHA256)                                                        \
    X(HMAC, CKM_SHA384_HMAC, OHSM_H_SHA384)                                                        \
    X(HMAC, CKM_SHA512_HMAC, OHSM_H_SHA512)                                                        \
    X(AES, CKM_AES_KEY_WRAP, OHSM_M_AES_KW, F_WU, PK_KW, 0, false)                                 \
    X(AES, CKM_AES_KEY_WRAP_PAD, OHSM_M_AES_KWP, F_WU, PK_KWP, 0, false)                           \
    X(AES, CKM_AES_KEY_WRAP_KWP, OHSM_M_AES_KWP, F_WU, PK_KWP, 0, false)                           \
    X(RSA, CKM_RSA_AES_KEY_WRAP, OHSM_M_RSA_AES_KW, OHSM_H_NONE, F_WU, PK_RSA_AES, false)          \
    X(ECDH, CKM_ECDH1_DERIVE, PK_ECDH)

#define AS_ROW(kind, ...) kind(__VA_ARGS__),
#define AS_TYPE(kind, t, ...) t,

static const struct row rows[] = {MECH_TABLE(AS_ROW)};
#define ROW_COUNT (sizeof(rows) / sizeof(rows[0]))

/* The rows' types, in the same order: both come from MECH_TABLE. */
static const CK_MECHANISM_TYPE list[] = {MECH_TABLE(AS_TYPE)};
_Static_assert(sizeof(list) / sizeof(list[0]) == ROW_COUNT, "list and rows differ");

const CK_MECHANISM_TYPE *p11_mech_list(CK_ULONG *n)
{
    if (n != NULL) {
        *n = ROW_COUNT;
    }
    return list;
}

static const struct row *find(CK_MECHANISM_TYPE t)
{
    for (size_t i = 0; i < ROW_COUNT; i++) {
        if (rows[i].type == t) {
            return &rows[i];
        }
    }
    return NULL;
}

CK_RV p11_mech_info(CK_MECHANISM_TYPE t, CK_MECHANISM_INFO *out)
{
    if (out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    const struct row *r = find(t);
    if (r == NULL) {
        return CKR_MECHANISM_INVALID;
    }
    out->ulMinKeySize = r->min;
    out->ulMaxKeySize = r->max;
    out->flags = CKF_HW | r->flags;
    return CKR_OK;
}

void p11_mech_rebind(struct p11_mech *m)
{
    if (m != NULL && m->prm.iv_len > 0) {
        m->prm.iv = m->iv;
    }
}

/* ---- parameters ---- */

static CK_FLAGS op_flag(enum p11_op op)
{
    switch (op) {
    case P11_OP_ENCRYPT:
        return CKF_ENCRYPT;
    case P11_OP_DECRYPT:
        return CKF_DECRYPT;
    case P11_OP_SIGN:
        return CKF_SIGN;
    case P11_OP_VERIFY:
        return CKF_VERIFY;
    case P11_OP_DIGEST:
        return CKF_DIGEST;
    case P11_OP_WRAP:
        return CKF_WRAP;
    case P11_OP_UNWRAP:
        return CKF_UNWRAP;
    case P11_OP_DERIVE:
        return CKF_DERIVE;
    case P11_OP_GENKEY:
        return CKF_GENERATE;
    case P11_OP_GENPAIR:
        return CKF_GENERATE_KEY_PAIR;
    default:
        return 0;
    }
}

/* The parameter as a structure of exactly size bytes. */
static const void *param_of(const CK_MECHANISM *m, size_t size)
{
    return m->pParameter != NULL && m->ulParameterLen == size ? m->pParameter : NULL;
}

static uint32_t hash_of_ckm(CK_MECHANISM_TYPE t)
{
    switch (t) {
    case CKM_SHA_1:
        return OHSM_H_SHA1;
    case CKM_SHA224:
        return OHSM_H_SHA224;
    case CKM_SHA256:
        return OHSM_H_SHA256;
    case CKM_SHA384:
        return OHSM_H_SHA384;
    case CKM_SHA512:
        return OHSM_H_SHA512;
    default:
        return OHSM_H_NONE;
    }
}

static uint32_t hash_of_mgf(CK_RSA_PKCS_MGF_TYPE g)
{
    switch (g) {
    case CKG_MGF1_SHA1:
        return OHSM_H_SHA1;
    case CKG_MGF1_SHA224:
        return OHSM_H_SHA224;
    case CKG_MGF1_SHA256:
        return OHSM_H_SHA256;
    case CKG_MGF1_SHA384:
        return OHSM_H_SHA384;
    case CKG_MGF1_SHA512:
        return OHSM_H_SHA512;
    default:
        return OHSM_H_NONE;
    }
}

static uint32_t hash_of_kdf(ck_ec_kdf_t k)
{
    switch (k) {
    case CKD_SHA1_KDF:
        return OHSM_H_SHA1;
    case CKD_SHA224_KDF:
        return OHSM_H_SHA224;
    case CKD_SHA256_KDF:
        return OHSM_H_SHA256;
    case CKD_SHA384_KDF:
        return OHSM_H_SHA384;
    case CKD_SHA512_KDF:
        return OHSM_H_SHA512;
    default:
        return OHSM_H_NONE;
    }
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

static CK_RV take_iv(const CK_MECHANISM *m, size_t n, struct p11_mech *out)
{
    const uint8_t *iv = param_of(m, n);
    if (iv == NULL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    memcpy(out->iv, iv, n);
    out->iv_len = n;
    out->prm.iv = out->iv;
    out->prm.iv_len = n;
    return CKR_OK;
}

/* PKCS#11 v2.40 §2.1.8: hashAlg and mgf name SHA-1..SHA-512; the label is the data of source
 * CKZ_DATA_SPECIFIED. Source 0 with no data is taken too: OpenSC's pkcs11-tool sends it for the
 * empty label. */
static CK_RV take_oaep(const CK_RSA_PKCS_OAEP_PARAMS *p, struct p11_mech *out)
{
    uint32_t h = hash_of_ckm(p->hashAlg);
    uint32_t mh = hash_of_mgf(p->mgf);
    if (h == OHSM_H_NONE || mh == OHSM_H_NONE) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (p->source == CKZ_DATA_SPECIFIED) {
        if ((p->ulSourceDataLen > 0 && p->pSourceData == NULL) ||
            p->ulSourceDataLen > P11_STREAM_MAX) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
    } else if (p->source != 0 || p->ulSourceDataLen != 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    out->prm.hash = h;
    out->prm.mgf_hash = mh;
    out->prm.label = p->ulSourceDataLen > 0 ? p->pSourceData : NULL;
    out->prm.label_len = p->ulSourceDataLen;
    return CKR_OK;
}

/* PKCS#11 v2.40 §2.1.14: CKM_RSA_PKCS_PSS signs a digest of hashAlg; CKM_SHAx_RSA_PKCS_PSS
 * hashes with x, which hashAlg must name. sLen is bounded by the largest modulus (the HSM checks
 * it against the key's). */
static CK_RV take_pss(const CK_MECHANISM *m, const struct row *r, struct p11_mech *out)
{
    const CK_RSA_PKCS_PSS_PARAMS *p = param_of(m, sizeof(*p));
    if (p == NULL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    uint32_t h = hash_of_ckm(p->hashAlg);
    uint32_t mh = hash_of_mgf(p->mgf);
    if (h == OHSM_H_NONE || mh == OHSM_H_NONE || (r->hash != OHSM_H_NONE && h != r->hash) ||
        p->sLen > RSA_MAX_BYTES) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    out->prm.hash = h;
    out->prm.mgf_hash = mh;
    out->prm.salt_len = (uint32_t)p->sLen;
    out->prm.prehashed = true;
    return CKR_OK;
}

/* CloudHSM's rule, kept here because the HSM makes every GCM IV (SP 800-38D §8): encryption and
 * wrapping take a zeroed 12-byte pIv that receives the HSM's IV. Decryption needs the IV;
 * unwrapping reads it from the blob (a zeroed pIv, as at wrap time, means "take the blob's"). */
static CK_RV take_gcm(const CK_MECHANISM *m, enum p11_op op, struct p11_mech *out)
{
    const CK_GCM_PARAMS *p = param_of(m, sizeof(*p));
    if (p == NULL || p->pIv == NULL || p->ulIvLen != GCM_IV_LEN ||
        (p->ulIvBits != 0 && p->ulIvBits != 8 * GCM_IV_LEN) || p->ulTagBits < 96 ||
        p->ulTagBits > 128 || p->ulTagBits % 8 != 0 || (p->ulAADLen > 0 && p->pAAD == NULL) ||
        p->ulAADLen > P11_STREAM_MAX) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    bool zero = all_zero(p->pIv, GCM_IV_LEN);
    if (op == P11_OP_ENCRYPT || op == P11_OP_WRAP) {
        if (!zero) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        out->gcm_iv_out = p->pIv;
    } else if (op == P11_OP_DECRYPT || !zero) {
        memcpy(out->iv, p->pIv, GCM_IV_LEN);
        out->iv_len = GCM_IV_LEN;
        out->prm.iv = out->iv;
        out->prm.iv_len = GCM_IV_LEN;
    }
    out->prm.aad = p->ulAADLen > 0 ? p->pAAD : NULL;
    out->prm.aad_len = p->ulAADLen;
    out->prm.tag_bits = (uint32_t)p->ulTagBits;
    return CKR_OK;
}

static CK_RV take_ctr(const CK_MECHANISM *m, struct p11_mech *out)
{
    const CK_AES_CTR_PARAMS *p = param_of(m, sizeof(*p));
    if (p == NULL || p->ulCounterBits < 1 || p->ulCounterBits > 128) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    memcpy(out->iv, p->cb, 16);
    out->iv_len = 16;
    out->prm.iv = out->iv;
    out->prm.iv_len = 16;
    out->ctr_bits = p->ulCounterBits;
    return CKR_OK;
}

/* AES key wrap's optional IV: the HSM uses the RFC's default only, so only that may be named. */
static CK_RV take_kw_iv(const CK_MECHANISM *m, bool pad)
{
    static const uint8_t kw[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}; /* RFC 3394 */
    static const uint8_t kwp[4] = {0xA6, 0x59, 0x59, 0xA6};                        /* RFC 5649 */
    const uint8_t *want = pad ? kwp : kw;
    size_t n = pad ? sizeof(kwp) : sizeof(kw);
    if (m->ulParameterLen == 0) {
        return CKR_OK;
    }
    const uint8_t *iv = param_of(m, n);
    return iv != NULL && memcmp(iv, want, n) == 0 ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
}

/* The HSM makes an AES-256 key for each RSA-AES wrap (src/core/mech_wrap.c). */
static CK_RV take_rsa_aes(const CK_MECHANISM *m, struct p11_mech *out)
{
    const CK_RSA_AES_KEY_WRAP_PARAMS *p = param_of(m, sizeof(*p));
    if (p == NULL || p->ulAESKeyBits != 256 || p->pOAEPParams == NULL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    return take_oaep(p->pOAEPParams, out);
}

/* An uncompressed X9.62 point of a supported curve: 04 || X || Y with X, Y of 28 (P-224), 32
 * (P-256, secp256k1), 48 (P-384) or 66 (P-521) bytes. */
static bool point_len_ok(size_t n)
{
    return n == 57 || n == 65 || n == 97 || n == 133;
}

/* The peer's point, raw or wrapped in a DER OCTET STRING (PKCS#11 v2.40 §2.3.12 allows both
 * readings of CKA_EC_POINT). The two forms have disjoint lengths for every supported curve, so the
 * length decides which one this is. */
static bool take_point(const uint8_t *p, size_t n, const uint8_t **pt, size_t *pt_len)
{
    if (n > 0 && p[0] == 0x04 && point_len_ok(n)) {
        *pt = p;
        *pt_len = n;
        return true;
    }
    if (n < 3 || p[0] != 0x04) {
        return false;
    }
    size_t h = 2;
    size_t body = p[1];
    if (p[1] == 0x81) {
        h = 3;
        body = p[2];
        if (body < 0x80) {
            return false; /* DER: the shortest length form */
        }
    } else if (p[1] >= 0x80) {
        return false;
    }
    if (n - h != body || !point_len_ok(body) || p[h] != 0x04) {
        return false;
    }
    *pt = p + h;
    *pt_len = body;
    return true;
}

static CK_RV take_ecdh(const CK_MECHANISM *m, struct p11_mech *out)
{
    const CK_ECDH1_DERIVE_PARAMS *p = param_of(m, sizeof(*p));
    if (p == NULL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    uint32_t h = hash_of_kdf(p->kdf);
    if ((p->kdf != CKD_NULL && h == OHSM_H_NONE) ||
        (p->kdf == CKD_NULL && p->ulSharedDataLen > 0) ||
        (p->ulSharedDataLen > 0 && p->pSharedData == NULL) || p->ulSharedDataLen > P11_STREAM_MAX ||
        p->pPublicData == NULL ||
        !take_point(p->pPublicData, p->ulPublicDataLen, &out->ecdh.pub, &out->ecdh.pub_len)) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    out->ecdh.kdf_hash = h;
    out->ecdh.shared = p->ulSharedDataLen > 0 ? p->pSharedData : NULL;
    out->ecdh.shared_len = p->ulSharedDataLen;
    out->prm.hash = h;
    return CKR_OK;
}

static CK_RV take_param(const CK_MECHANISM *m, const struct row *r, enum p11_op op,
                        struct p11_mech *out)
{
    if (m->ulParameterLen > 0 && m->pParameter == NULL) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    switch (r->param) {
    case PK_NONE:
        return m->ulParameterLen == 0 ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
    case PK_IV16:
        return take_iv(m, 16, out);
    case PK_IV8:
        return take_iv(m, 8, out);
    case PK_CTR:
        return take_ctr(m, out);
    case PK_GCM:
        return take_gcm(m, op, out);
    case PK_OAEP: {
        const CK_RSA_PKCS_OAEP_PARAMS *p = param_of(m, sizeof(*p));
        return p == NULL ? CKR_MECHANISM_PARAM_INVALID : take_oaep(p, out);
    }
    case PK_PSS:
        return take_pss(m, r, out);
    case PK_KW:
        return take_kw_iv(m, false);
    case PK_KWP:
        return take_kw_iv(m, true);
    case PK_RSA_AES:
        return take_rsa_aes(m, out);
    case PK_ECDH:
        return take_ecdh(m, out);
    default:
        return CKR_MECHANISM_PARAM_INVALID;
    }
}

static bool keyless(enum p11_op op)
{
    return op == P11_OP_DIGEST || op == P11_OP_GENKEY || op == P11_OP_GENPAIR;
}

CK_RV p11_mech_parse(const CK_MECHANISM *m, enum p11_op op, CK_KEY_TYPE key_type,
                     struct p11_mech *out)
{
    if (out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    memset(out, 0, sizeof(*out));
    if (m == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    const struct row *r = find(m->mechanism);
    CK_FLAGS f = op_flag(op);
    if (r == NULL || f == 0 || (r->flags & f) == 0) {
        return CKR_MECHANISM_INVALID;
    }
    if (keyless(op)) {
        if (key_type != KT_NONE && key_type != r->kt) {
            return CKR_TEMPLATE_INCONSISTENT;
        }
    } else if (key_type == KT_NONE || (key_type != r->kt && key_type != r->kt2)) {
        return CKR_KEY_TYPE_INCONSISTENT;
    }
    out->type = r->type;
    out->op = op;
    out->prm.mech = r->mech;
    out->prm.hash = r->hash;
    out->prm.salt_len = UINT32_MAX;
    out->gen_ktype = keyless(op) && op != P11_OP_DIGEST ? r->kt : KT_NONE;
    bool crypt = op == P11_OP_ENCRYPT || op == P11_OP_DECRYPT;
    bool sv = op == P11_OP_SIGN || op == P11_OP_VERIFY;
    out->multipart = r->multi && (crypt || sv || op == P11_OP_DIGEST);
    out->block = crypt ? r->block : 0;
    if (sv && r->hash != OHSM_H_NONE && r->mech != OHSM_M_HMAC) {
        out->prm.prehashed = true;
        out->local_hash = r->local ? r->hash : 0;
    }
    CK_RV rv = take_param(m, r, op, out);
    if (rv != CKR_OK) {
        memset(out, 0, sizeof(*out));
    }
    return rv;
}
