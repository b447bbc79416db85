/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for the PKCS#11 mechanism-parameter parser (src/pkcs11/mech.c,
 * p11_mech_parse): the bytes make a CK_MECHANISM as a well-behaved application lays it out in
 * memory (every pointer points at as many bytes as the length beside it says) with hostile values
 * in it: a mechanism type among every listed one and a few unlisted ones; a parameter of any
 * shape (raw bytes, CK_AES_CTR_PARAMS, CK_GCM_PARAMS, CK_RSA_PKCS_OAEP_PARAMS,
 * CK_RSA_PKCS_PSS_PARAMS, CK_RSA_AES_KEY_WRAP_PARAMS with its OAEP block, CK_ECDH1_DERIVE_PARAMS)
 * given to any mechanism, with ulParameterLen right or wrong for that shape (but a parameter as
 * long as the mechanism's own structure with pointers is that structure: its pointers are real,
 * as PKCS#11 lets a library assume); embedded pointer/length pairs (pIv/ulIvLen, pAAD/ulAADLen,
 * pSourceData, pSharedData, pPublicData) into the input or, for lengths past it, ending exactly
 * at the end of a larger buffer; NULL pointers.
 * The parse runs for every operation and every key type; an accepted encryption/decryption also
 * makes a stream (which copies the borrowed AAD and label). Every allocation is exactly sized, so
 * ASan sees any read past what the application gave.
 *
 * Invariants checked: a refused parse leaves *out zeroed and answers one of the documented
 * CK_RVs; an accepted one names the mechanism and operation, the mechanism's info claims the
 * operation, its IV is its own copy (at most 16 bytes), every borrowed pointer (AAD, label, GCM
 * IV out, ECDH point and shared data) lies inside what the application gave, with the lengths
 * the parser promises (GCM tag 96..128 step 8, AAD and label at most P11_STREAM_MAX, CTR counter
 * bits 1..128, an uncompressed point of a supported curve); the same input parses the same way
 * twice.
 *
 * Input: byte 0 picks the mechanism, byte 1 the parameter shape (bits 0-2) and the way
 * ulParameterLen is given (bits 3-5), byte 2 NULL flags; then the shape's fields, each CK_ULONG
 * as 1 byte (< 0xF0: that value), 0xF0-0xFD + 4 bytes big-endian, 0xFE + 8 bytes, 0xFF (all ones),
 * each pointer as a 2-byte offset into the input. Everything past the fields is still reachable
 * by the pointers (the whole input is the application's memory).
 */
#include "pkcs11/mech.h"
#include "pkcs11/stream.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Mechanisms the HSM does not run, and values no one defines. */
static const CK_MECHANISM_TYPE unlisted[] = {
    CKM_RSA_X_509,
    CKM_AES_CMAC,
    CKM_ECDH1_COFACTOR_DERIVE,
    CKM_AES_CCM,
    CKM_SHA256_HMAC_GENERAL,
    CKM_DES_CBC,
    CKM_VENDOR_DEFINED,
    0xFFFFFFFFUL,
    ~0UL,
};
#define NUNLISTED (sizeof(unlisted) / sizeof(unlisted[0]))

static const enum p11_op ops[] = {
    P11_OP_ENCRYPT, P11_OP_DECRYPT, P11_OP_SIGN,   P11_OP_VERIFY,  P11_OP_DIGEST,  P11_OP_WRAP,
    P11_OP_UNWRAP,  P11_OP_DERIVE,  P11_OP_GENKEY, P11_OP_GENPAIR, (enum p11_op)0, (enum p11_op)99,
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static const CK_KEY_TYPE ktypes[] = {
    CKK_AES, CKK_DES3, CKK_GENERIC_SECRET, CKK_RSA, CKK_EC, CK_UNAVAILABLE_INFORMATION, CKK_DSA,
};
#define NKTYPES (sizeof(ktypes) / sizeof(ktypes[0]))

enum shape { SH_RAW, SH_CTR, SH_GCM, SH_OAEP, SH_PSS, SH_RSA_AES, SH_ECDH, SH_NONE };

/* Lengths past the input point at the end of this buffer (one larger than any limit the parser
 * has, so a limit off by one shows); larger lengths are cut to it. Allocated once, never freed. */
#define BIG (P11_STREAM_MAX + 64)
static uint8_t *big;

struct in {
    const uint8_t *p;
    size_t n;
    size_t off;
    uint8_t *mem; /* the application's memory: a copy of the whole input, exactly sized */
};

static uint8_t get_u8(struct in *in)
{
    return in->off < in->n ? in->p[in->off++] : 0;
}

static CK_ULONG get_ulong(struct in *in)
{
    uint8_t t = get_u8(in);
    if (t < 0xF0) {
        return t;
    }
    if (t == 0xFF) {
        return ~(CK_ULONG)0;
    }
    size_t k = t == 0xFE ? 8 : 4;
    CK_ULONG v = 0;
    for (size_t i = 0; i < k; i++) {
        v = v << 8 | get_u8(in);
    }
    return v;
}

/* A pointer to *len bytes of the application's memory (or NULL when null is set, *len kept). */
static void *get_region(struct in *in, CK_ULONG *len, bool null)
{
    size_t off = (size_t)get_u8(in) << 8;
    off |= get_u8(in);
    if (null) {
        return NULL;
    }
    if (*len <= in->n) {
        return in->mem + off % (in->n - *len + 1);
    }
    if (*len > BIG) {
        *len = BIG;
    }
    return big + BIG - *len;
}

/* A copy of the struct (n bytes) as a parameter of plen bytes: the struct's bytes first, the
 * input's after it. Caller frees. */
static void *param_block(struct in *in, const void *s, size_t n, size_t plen)
{
    uint8_t *b = malloc(plen > 0 ? plen : 1);
    if (b == NULL) {
        abort();
    }
    size_t k = n < plen ? n : plen;
    memcpy(b, s, k);
    for (size_t i = k; i < plen; i++) {
        b[i] = get_u8(in);
    }
    return b;
}

static bool inside(const void *p, size_t len, const uint8_t *base, size_t n)
{
    const uint8_t *q = p;
    return q >= base && (size_t)(q - base) <= n && len <= n - (size_t)(q - base);
}

/* Borrowed bytes lie in what the application gave; reading them all lets ASan check. */
static void check_borrowed(const void *p, size_t len, const struct in *in)
{
    if (len == 0) {
        return;
    }
    if (p == NULL || !(inside(p, len, in->mem, in->n) || inside(p, len, big, BIG))) {
        abort();
    }
    volatile uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        acc ^= ((const uint8_t *)p)[i];
    }
    (void)acc;
}

static bool is_rv(CK_RV rv)
{
    return rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID ||
           rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_TEMPLATE_INCONSISTENT;
}

static CK_FLAGS flag_of(enum p11_op op)
{
    static const CK_FLAGS f[] = {
        0,        CKF_ENCRYPT, CKF_DECRYPT, CKF_SIGN,     CKF_VERIFY,           CKF_DIGEST,
        CKF_WRAP, CKF_UNWRAP,  CKF_DERIVE,  CKF_GENERATE, CKF_GENERATE_KEY_PAIR};
    return (size_t)op < sizeof(f) / sizeof(f[0]) ? f[op] : 0;
}

static void check(const CK_MECHANISM *m, enum p11_op op, CK_RV rv, const struct p11_mech *pm,
                  const struct in *in)
{
    static const struct p11_mech zero;
    if (rv != CKR_OK) {
        if (!is_rv(rv) || memcmp(pm, &zero, sizeof(zero)) != 0) {
            abort();
        }
        return;
    }
    CK_MECHANISM_INFO info;
    if (pm->type != m->mechanism || pm->op != op || p11_mech_info(pm->type, &info) != CKR_OK ||
        (info.flags & flag_of(op)) == 0 || pm->iv_len > sizeof(pm->iv) ||
        pm->prm.iv_len != pm->iv_len || (pm->iv_len > 0 && pm->prm.iv != pm->iv) ||
        (pm->iv_len == 0 && pm->prm.iv != NULL) || pm->prm.aad_len > P11_STREAM_MAX ||
        pm->prm.label_len > P11_STREAM_MAX || pm->ecdh.shared_len > P11_STREAM_MAX) {
        abort();
    }
    check_borrowed(pm->prm.aad, pm->prm.aad_len, in);
    check_borrowed(pm->prm.label, pm->prm.label_len, in);
    check_borrowed(pm->ecdh.shared, pm->ecdh.shared_len, in);
    if (pm->gcm_iv_out != NULL) {
        if (m->mechanism != CKM_AES_GCM || (op != P11_OP_ENCRYPT && op != P11_OP_WRAP)) {
            abort();
        }
        check_borrowed(pm->gcm_iv_out, 12, in);
    }
    if (m->mechanism == CKM_AES_GCM &&
        (pm->prm.tag_bits < 96 || pm->prm.tag_bits > 128 || pm->prm.tag_bits % 8 != 0)) {
        abort();
    }
    if (m->mechanism == CKM_AES_CTR && (pm->ctr_bits < 1 || pm->ctr_bits > 128)) {
        abort();
    }
    if (op == P11_OP_DERIVE) {
        size_t n = pm->ecdh.pub_len;
        if ((n != 57 && n != 65 && n != 97 && n != 133) || pm->ecdh.pub[0] != 0x04) {
            abort();
        }
        check_borrowed(pm->ecdh.pub, n, in);
    }
    /* A copy by value is used as the original (what the session code does). */
    struct p11_mech copy = *pm;
    p11_mech_rebind(&copy);
    if (copy.prm.iv_len > 0 && copy.prm.iv != copy.iv) {
        abort();
    }
    OPENSSL_cleanse(&copy, sizeof(copy));
    if (op == P11_OP_ENCRYPT || op == P11_OP_DECRYPT) {
        struct p11_stream *s = NULL;
        CK_RV srv = p11_stream_new(pm, op == P11_OP_ENCRYPT, &s);
        if ((srv == CKR_OK) != (s != NULL) || (srv != CKR_OK && srv != CKR_HOST_MEMORY)) {
            abort();
        }
        p11_stream_free(s);
    }
}

/* A parameter of one shape, as the application lays it out. */
struct param {
    union {
        CK_AES_CTR_PARAMS ctr;
        CK_GCM_PARAMS gcm;
        CK_RSA_PKCS_OAEP_PARAMS oaep;
        CK_RSA_PKCS_PSS_PARAMS pss;
        CK_RSA_AES_KEY_WRAP_PARAMS rsa_aes;
        CK_ECDH1_DERIVE_PARAMS ecdh;
    } u;
    size_t ssize;     /* the struct's size; 0 for SH_RAW and SH_NONE */
    CK_ULONG raw_len; /* SH_RAW: bytes of the application's memory */
    void *raw;
    CK_RSA_PKCS_OAEP_PARAMS *inner; /* SH_RSA_AES: the OAEP block it points at (exactly sized) */
};

static void build(enum shape sh, struct in *in, uint8_t nulls, struct param *p)
{
    memset(p, 0, sizeof(*p));
    switch (sh) {
    case SH_RAW: /* an IV, a key-wrap IV: bytes of the application's memory */
        p->raw_len = get_ulong(in);
        p->raw = get_region(in, &p->raw_len, nulls & 1);
        break;
    case SH_CTR:
        p->u.ctr.ulCounterBits = get_ulong(in);
        for (size_t i = 0; i < 16; i++) {
            p->u.ctr.cb[i] = get_u8(in);
        }
        p->ssize = sizeof(p->u.ctr);
        break;
    case SH_GCM:
        p->u.gcm.ulIvLen = get_ulong(in);
        p->u.gcm.pIv = get_region(in, &p->u.gcm.ulIvLen, nulls & 1);
        p->u.gcm.ulIvBits = get_ulong(in);
        p->u.gcm.ulAADLen = get_ulong(in);
        p->u.gcm.pAAD = get_region(in, &p->u.gcm.ulAADLen, nulls & 2);
        p->u.gcm.ulTagBits = get_ulong(in);
        p->ssize = sizeof(p->u.gcm);
        break;
    case SH_OAEP:
    case SH_RSA_AES: {
        CK_RSA_PKCS_OAEP_PARAMS o;
        o.hashAlg = get_ulong(in);
        o.mgf = get_ulong(in);
        o.source = get_ulong(in);
        o.ulSourceDataLen = get_ulong(in);
        o.pSourceData = get_region(in, &o.ulSourceDataLen, nulls & 1);
        if (sh == SH_OAEP) {
            p->u.oaep = o;
            p->ssize = sizeof(p->u.oaep);
        } else {
            p->u.rsa_aes.ulAESKeyBits = get_ulong(in);
            if ((nulls & 2) == 0) {
                p->inner = malloc(sizeof(*p->inner));
                if (p->inner == NULL) {
                    abort();
                }
                *p->inner = o;
            }
            p->u.rsa_aes.pOAEPParams = p->inner;
            p->ssize = sizeof(p->u.rsa_aes);
        }
        break;
    }
    case SH_PSS:
        p->u.pss.hashAlg = get_ulong(in);
        p->u.pss.mgf = get_ulong(in);
        p->u.pss.sLen = get_ulong(in);
        p->ssize = sizeof(p->u.pss);
        break;
    case SH_ECDH:
        p->u.ecdh.kdf = get_ulong(in);
        p->u.ecdh.ulSharedDataLen = get_ulong(in);
        p->u.ecdh.pSharedData = get_region(in, &p->u.ecdh.ulSharedDataLen, nulls & 1);
        p->u.ecdh.ulPublicDataLen = get_ulong(in);
        p->u.ecdh.pPublicData = get_region(in, &p->u.ecdh.ulPublicDataLen, nulls & 2);
        p->ssize = sizeof(p->u.ecdh);
        break;
    default: /* SH_NONE */
        break;
    }
}

static void param_clear(struct param *p)
{
    if (p->inner != NULL) {
        OPENSSL_cleanse(p->inner, sizeof(*p->inner));
        free(p->inner);
    }
    OPENSSL_cleanse(p, sizeof(*p));
}

/* The structure PKCS#11 defines for the mechanism's parameter, where it holds pointers. */
static enum shape pointer_shape(CK_MECHANISM_TYPE t)
{
    switch (t) {
    case CKM_AES_GCM:
        return SH_GCM;
    case CKM_RSA_PKCS_OAEP:
        return SH_OAEP;
    case CKM_RSA_AES_KEY_WRAP:
        return SH_RSA_AES;
    case CKM_ECDH1_DERIVE:
    case CKM_ECDH1_COFACTOR_DERIVE:
        return SH_ECDH;
    default:
        return SH_NONE;
    }
}

static size_t size_of(enum shape sh)
{
    switch (sh) {
    case SH_GCM:
        return sizeof(CK_GCM_PARAMS);
    case SH_OAEP:
        return sizeof(CK_RSA_PKCS_OAEP_PARAMS);
    case SH_RSA_AES:
        return sizeof(CK_RSA_AES_KEY_WRAP_PARAMS);
    case SH_ECDH:
        return sizeof(CK_ECDH1_DERIVE_PARAMS);
    default:
        return 0;
    }
}

/* ulParameterLen for a struct of ssize bytes: right, one short, one long, zero, a CK_ULONG's
 * size, a neighbour's size, from the input. */
static size_t param_len(unsigned lmode, size_t ssize, struct in *in)
{
    switch (lmode) {
    case 1:
        return ssize - 1;
    case 2:
        return ssize + 1;
    case 3:
        return 0;
    case 4:
        return sizeof(CK_ULONG);
    case 5:
        return ssize == sizeof(CK_GCM_PARAMS) ? sizeof(CK_ECDH1_DERIVE_PARAMS)
                                              : sizeof(CK_GCM_PARAMS);
    case 6:
        return get_u8(in);
    default:
        return ssize;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 65536) {
        return 0;
    }
    if (big == NULL) {
        big = calloc(1, BIG);
        if (big == NULL) {
            abort();
        }
    }
    struct in in = {data, size, 0, malloc(size)};
    if (in.mem == NULL) {
        abort();
    }
    memcpy(in.mem, data, size);

    CK_ULONG nlist = 0;
    const CK_MECHANISM_TYPE *list = p11_mech_list(&nlist);
    uint8_t pick = get_u8(&in);
    CK_MECHANISM_TYPE type = pick % (nlist + NUNLISTED) < nlist
                                 ? list[pick % (nlist + NUNLISTED)]
                                 : unlisted[pick % (nlist + NUNLISTED) - nlist];
    uint8_t how = get_u8(&in);
    uint8_t nulls = get_u8(&in);
    enum shape sh = (enum shape)(how & 7);
    unsigned lmode = (how >> 3) & 7;

    struct param p;
    build(sh, &in, nulls, &p);
    size_t plen = sh == SH_RAW ? p.raw_len : sh == SH_NONE ? 0 : param_len(lmode, p.ssize, &in);
    /* Any shape may go to any mechanism, but a parameter whose length is that of the mechanism's
     * structure with pointers is that structure: the parser must trust those pointers, as any
     * PKCS#11 library must, so the application's are real ones (a well-behaved memory layout). */
    enum shape ps = pointer_shape(type);
    if (ps != SH_NONE && sh != ps && plen == size_of(ps)) {
        param_clear(&p);
        sh = ps;
        build(sh, &in, nulls, &p);
    }

    CK_MECHANISM m = {type, NULL, 0};
    void *block = NULL;
    if (sh == SH_RAW) {
        /* Copied to its own block: the application's structures are aligned, and bytes as long as
         * a CK_AES_CTR_PARAMS or CK_RSA_PKCS_PSS_PARAMS are read as one. */
        if (p.raw != NULL) {
            block = param_block(&in, p.raw, p.raw_len, p.raw_len);
        }
        m.pParameter = block;
        m.ulParameterLen = p.raw_len;
    } else if (sh != SH_NONE) {
        block = param_block(&in, &p.u, p.ssize, plen);
        m.pParameter = (nulls & 4) ? NULL : block;
        m.ulParameterLen = plen;
    } else if (nulls & 4) {
        m.pParameter = in.mem; /* a pointer with length 0 */
    }

    for (size_t i = 0; i < NOPS; i++) {
        for (size_t j = 0; j < NKTYPES; j++) {
            struct p11_mech a;
            struct p11_mech b;
            CK_RV rv = p11_mech_parse(&m, ops[i], ktypes[j], &a);
            check(&m, ops[i], rv, &a, &in);
            CK_RV rv2 = p11_mech_parse(&m, ops[i], ktypes[j], &b);
            if (b.prm.iv == b.iv) {
                b.prm.iv = a.iv; /* each points at its own copy */
            }
            if (rv2 != rv || memcmp(&a, &b, sizeof(a)) != 0) {
                abort();
            }
            OPENSSL_cleanse(&a, sizeof(a));
            OPENSSL_cleanse(&b, sizeof(b));
        }
    }
    struct p11_mech c;
    if (p11_mech_parse(NULL, P11_OP_ENCRYPT, CKK_AES, &c) != CKR_ARGUMENTS_BAD ||
        p11_mech_parse(&m, P11_OP_ENCRYPT, CKK_AES, NULL) != CKR_ARGUMENTS_BAD) {
        abort();
    }

    param_clear(&p);
    free(block);
    OPENSSL_cleanse(in.mem, size);
    free(in.mem);
    return 0;
}
