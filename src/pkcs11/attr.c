/* SPDX-License-Identifier: Apache-2.0
 *
 * PKCS#11 attributes of openhsm keys: the attribute table (which key classes and types have each
 * attribute, how templates treat it, its HSM attribute id), shape checks of application
 * attributes, EC parameters, and the templates of C_SetAttributeValue / C_CopyObject and
 * C_FindObjectsInit with matching. Application templates are untrusted: every length is checked
 * before a value is read. C_GetAttributeValue is attr_get.c, object-making templates attr_make.c,
 * key material attr_key.c.
 */
#include "attr.h"

#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NONE UINT32_MAX
#define PP (P11C_PUB | P11C_PRIV)
#define PS (P11C_PUB | P11C_SEC)
#define VS (P11C_PRIV | P11C_SEC)

/* Every PKCS#11 attribute of the key classes the HSM holds (PKCS#11 v2.40 §4.4-4.9 and the RSA
 * and EC key objects of the mechanisms document), as CloudHSM's PKCS#11 library supports them. */
static const struct p11_adef defs[] = {
    {CKA_CLASS, P11K_ULONG, P11C_KEYS, 0, P11R_SHAPE, OHSM_A_CLASS},
    {CKA_TOKEN, P11K_BOOL, P11C_KEYS, 0, P11R_PLAIN, OHSM_A_TOKEN},
    {CKA_PRIVATE, P11K_BOOL, P11C_KEYS, 0, P11R_PLAIN, OHSM_A_PRIVATE},
    {CKA_LABEL, P11K_BYTES, P11C_KEYS, 0, P11R_PLAIN, OHSM_A_LABEL},
    {CKA_MODIFIABLE, P11K_BOOL, P11C_KEYS, 0, P11R_PLAIN, OHSM_A_MODIFIABLE},
    {CKA_COPYABLE, P11K_BOOL, P11C_KEYS, 0, P11R_FIXED, NONE},
    {CKA_DESTROYABLE, P11K_BOOL, P11C_KEYS, 0, P11R_PLAIN, OHSM_A_DESTROYABLE},
    {CKA_KEY_TYPE, P11K_ULONG, P11C_KEYS, 0, P11R_SHAPE, OHSM_A_KEY_TYPE},
    {CKA_ID, P11K_BYTES, P11C_KEYS, 0, P11R_PLAIN, OHSM_A_ID},
    {CKA_START_DATE, P11K_DATE, P11C_KEYS, 0, P11R_FIXED, NONE},
    {CKA_END_DATE, P11K_DATE, P11C_KEYS, 0, P11R_FIXED, NONE},
    {CKA_DERIVE, P11K_BOOL, P11C_KEYS, 0, P11R_PLAIN, OHSM_A_DERIVE},
    {CKA_LOCAL, P11K_BOOL, P11C_KEYS, 0, P11R_READONLY, OHSM_A_LOCAL},
    {CKA_KEY_GEN_MECHANISM, P11K_ULONG, P11C_KEYS, 0, P11R_READONLY, NONE},
    {CKA_CHECK_VALUE, P11K_BYTES, P11C_KEYS, 0, P11R_READONLY, OHSM_A_KCV},
    {CKA_SUBJECT, P11K_BYTES, PP, 0, P11R_FIXED, NONE},
    {CKA_PUBLIC_KEY_INFO, P11K_BYTES, PP, 0, P11R_READONLY, OHSM_A_SPKI},
    {CKA_ENCRYPT, P11K_BOOL, PS, 0, P11R_PLAIN, OHSM_A_ENCRYPT},
    {CKA_VERIFY, P11K_BOOL, PS, 0, P11R_PLAIN, OHSM_A_VERIFY},
    {CKA_VERIFY_RECOVER, P11K_BOOL, P11C_PUB, 0, P11R_FIXED, NONE},
    {CKA_WRAP, P11K_BOOL, PS, 0, P11R_PLAIN, OHSM_A_WRAP},
    {CKA_TRUSTED, P11K_BOOL, PS, 0, P11R_PLAIN, OHSM_A_TRUSTED},
    {CKA_SENSITIVE, P11K_BOOL, VS, 0, P11R_PLAIN, OHSM_A_SENSITIVE},
    {CKA_DECRYPT, P11K_BOOL, VS, 0, P11R_PLAIN, OHSM_A_DECRYPT},
    {CKA_SIGN, P11K_BOOL, VS, 0, P11R_PLAIN, OHSM_A_SIGN},
    {CKA_SIGN_RECOVER, P11K_BOOL, P11C_PRIV, 0, P11R_FIXED, NONE},
    {CKA_UNWRAP, P11K_BOOL, VS, 0, P11R_PLAIN, OHSM_A_UNWRAP},
    {CKA_EXTRACTABLE, P11K_BOOL, VS, 0, P11R_PLAIN, OHSM_A_EXTRACTABLE},
    {CKA_ALWAYS_SENSITIVE, P11K_BOOL, VS, 0, P11R_READONLY, OHSM_A_ALWAYS_SENSITIVE},
    {CKA_NEVER_EXTRACTABLE, P11K_BOOL, VS, 0, P11R_READONLY, OHSM_A_NEVER_EXTRACTABLE},
    {CKA_WRAP_WITH_TRUSTED, P11K_BOOL, VS, 0, P11R_PLAIN, OHSM_A_WRAP_WITH_TRUSTED},
    {CKA_ALWAYS_AUTHENTICATE, P11K_BOOL, P11C_PRIV, 0, P11R_FIXED, NONE},
    /* Secret keys; EC private keys (the scalar): see p11_attr_value. */
    {CKA_VALUE, P11K_BYTES, VS, 0, P11R_COMPONENT, NONE},
    {CKA_VALUE_LEN, P11K_ULONG, P11C_SEC, 0, P11R_SHAPE, OHSM_A_VALUE_LEN},
    {CKA_MODULUS, P11K_BYTES, PP, P11T_RSA, P11R_COMPONENT, OHSM_A_MODULUS},
    /* Both halves answer it (the HSM knows it); only a public template may give it. */
    {CKA_MODULUS_BITS, P11K_ULONG, PP, P11T_RSA, P11R_SHAPE, OHSM_A_MODULUS_BITS},
    {CKA_PUBLIC_EXPONENT, P11K_BYTES, PP, P11T_RSA, P11R_COMPONENT, OHSM_A_PUBLIC_EXPONENT},
    {CKA_PRIVATE_EXPONENT, P11K_BYTES, P11C_PRIV, P11T_RSA, P11R_COMPONENT, NONE},
    {CKA_PRIME_1, P11K_BYTES, P11C_PRIV, P11T_RSA, P11R_COMPONENT, NONE},
    {CKA_PRIME_2, P11K_BYTES, P11C_PRIV, P11T_RSA, P11R_COMPONENT, NONE},
    {CKA_EXPONENT_1, P11K_BYTES, P11C_PRIV, P11T_RSA, P11R_COMPONENT, NONE},
    {CKA_EXPONENT_2, P11K_BYTES, P11C_PRIV, P11T_RSA, P11R_COMPONENT, NONE},
    {CKA_COEFFICIENT, P11K_BYTES, P11C_PRIV, P11T_RSA, P11R_COMPONENT, NONE},
    {CKA_EC_PARAMS, P11K_BYTES, PP, P11T_EC, P11R_SHAPE, OHSM_A_EC_PARAMS},
    {CKA_EC_POINT, P11K_BYTES, P11C_PUB, P11T_EC, P11R_COMPONENT, OHSM_A_EC_POINT},
};

/* The largest byte string read from an application (an RSA-8192 number is 1024 bytes; nothing
 * the HSM takes is longer than an SPKI). */
#define BYTES_MAX 4096

const struct p11_adef *p11_attr_def(CK_ATTRIBUTE_TYPE type)
{
    for (size_t i = 0; i < COUNT(defs); i++) {
        if (defs[i].type == type) {
            return &defs[i];
        }
    }
    return NULL;
}

size_t p11_attr_index(const struct p11_adef *d)
{
    return (size_t)(d - defs);
}

size_t p11_attr_count(void)
{
    return COUNT(defs);
}

uint8_t p11_class_bit(uint32_t cls)
{
    switch (cls) {
    case OHSM_CLASS_PUBLIC:
        return P11C_PUB;
    case OHSM_CLASS_PRIVATE:
        return P11C_PRIV;
    case OHSM_CLASS_SECRET:
        return P11C_SEC;
    default:
        return 0;
    }
}

uint8_t p11_ktype_bit(uint32_t ktype)
{
    return ktype == OHSM_KT_RSA ? P11T_RSA : ktype == OHSM_KT_EC ? P11T_EC : 0;
}

CK_RV p11_attr_shape(const CK_ATTRIBUTE *a, const struct p11_adef **d)
{
    const struct p11_adef *def = p11_attr_def(a->type);

    *d = def;
    if (def == NULL) {
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
    if (a->pValue == NULL && a->ulValueLen != 0) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    switch (def->kind) {
    case P11K_BOOL:
        return a->ulValueLen == sizeof(CK_BBOOL) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case P11K_ULONG:
        return a->ulValueLen == sizeof(CK_ULONG) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case P11K_DATE:
        return a->ulValueLen == 0 || a->ulValueLen == sizeof(CK_DATE) ? CKR_OK
                                                                      : CKR_ATTRIBUTE_VALUE_INVALID;
    case P11K_BYTES:
        return a->ulValueLen <= BYTES_MAX ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    }
    return CKR_ATTRIBUTE_VALUE_INVALID;
}

bool p11_attr_bool(const CK_ATTRIBUTE *a)
{
    /* PKCS#11 defines CK_TRUE as 1; any other non-zero byte is read as true as well. */
    return *(const CK_BBOOL *)a->pValue != CK_FALSE;
}

CK_ULONG p11_attr_ulong(const CK_ATTRIBUTE *a)
{
    CK_ULONG v;
    memcpy(&v, a->pValue, sizeof(v)); /* the application's buffer need not be aligned */
    return v;
}

static bool all_zero(const CK_ATTRIBUTE *a)
{
    const uint8_t *p = a->pValue;
    for (CK_ULONG i = 0; i < a->ulValueLen; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

bool p11_attr_fixed_ok(const CK_ATTRIBUTE *a, bool sign, bool verify)
{
    switch (a->type) {
    case CKA_COPYABLE:
        return p11_attr_bool(a); /* objects are always copyable */
    case CKA_START_DATE:
    case CKA_END_DATE:
        return all_zero(a); /* empty, or the all-zero date some tools send for "none" */
    case CKA_SUBJECT:
        return a->ulValueLen == 0;
    case CKA_SIGN_RECOVER:
        return p11_attr_bool(a) == sign;
    case CKA_VERIFY_RECOVER:
        return p11_attr_bool(a) == verify;
    case CKA_ALWAYS_AUTHENTICATE:
        return !p11_attr_bool(a);
    default:
        return false;
    }
}

bool p11_attr_same(const CK_ATTRIBUTE *a, const CK_ATTRIBUTE *b)
{
    const struct p11_adef *d = p11_attr_def(a->type);
    if (a->type != b->type) {
        return false;
    }
    if (d != NULL && d->kind == P11K_BOOL) {
        return p11_attr_bool(a) == p11_attr_bool(b);
    }
    return a->ulValueLen == b->ulValueLen &&
           (a->ulValueLen == 0 || memcmp(a->pValue, b->pValue, a->ulValueLen) == 0);
}

const CK_ATTRIBUTE *p11_make_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; t != NULL && i < n; i++) {
        if (t[i].type == type) {
            return &t[i];
        }
    }
    return NULL;
}

bool p11_label_ok(const CK_ATTRIBUTE *a)
{
    return a->ulValueLen <= OHSM_LABEL_MAX &&
           (a->ulValueLen == 0 || memchr(a->pValue, 0, a->ulValueLen) == NULL);
}

/* ---- EC parameters ---- */

/* DER OIDs of the named curves (SEC 2 §A.2, RFC 5480 §2.1.1.1): CKA_EC_PARAMS. */
static const struct {
    uint32_t curve;
    uint8_t len;
    uint8_t der[10];
} oids[] = {
    {OHSM_CURVE_P256, 10, {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}},
    {OHSM_CURVE_P384, 7, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}},
    {OHSM_CURVE_P521, 7, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}},
    {OHSM_CURVE_SECP256K1, 7, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}},
    {OHSM_CURVE_P224, 7, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21}},
};

/* NIST names some tools print (FIPS 186-4 §D.1.2). */
static const struct {
    const char *name;
    uint32_t curve;
} nist[] = {
    {"P-224", OHSM_CURVE_P224},
    {"P-256", OHSM_CURVE_P256},
    {"P-384", OHSM_CURVE_P384},
    {"P-521", OHSM_CURVE_P521},
};

uint32_t p11_curve_from_params(const uint8_t *p, size_t n)
{
    char name[32];

    if (p == NULL || n < 2) {
        return OHSM_CURVE_NONE;
    }
    for (size_t i = 0; i < COUNT(oids); i++) {
        if (n == oids[i].len && memcmp(p, oids[i].der, n) == 0) {
            return oids[i].curve;
        }
    }
    /* PKCS#11 v2.40 §2.3.3 allows a PrintableString with the curve's name (short form only). */
    if (p[0] != 0x13 || p[1] != n - 2 || n - 2 >= sizeof(name) || n - 2 == 0) {
        return OHSM_CURVE_NONE;
    }
    memcpy(name, p + 2, n - 2);
    name[n - 2] = '\0';
    if (memchr(name, 0, n - 2) != NULL) {
        return OHSM_CURVE_NONE;
    }
    for (size_t i = 0; i < COUNT(nist); i++) {
        if (strcmp(nist[i].name, name) == 0) {
            return nist[i].curve;
        }
    }
    int c = ohsm_curve_from_name(name);
    return c > 0 ? (uint32_t)c : OHSM_CURVE_NONE;
}

const uint8_t *p11_curve_params(uint32_t curve, size_t *n)
{
    for (size_t i = 0; i < COUNT(oids); i++) {
        if (oids[i].curve == curve) {
            if (n != NULL) {
                *n = oids[i].len;
            }
            return oids[i].der;
        }
    }
    if (n != NULL) {
        *n = 0;
    }
    return NULL;
}

/* ---- C_SetAttributeValue / C_CopyObject ---- */

/* Checks a and, the first time its type is seen, remembers it in first[] (by table index);
 * a later one of the same type must agree. *dup: a was seen before. */
CK_RV p11_attr_take(const CK_ATTRIBUTE *a, const CK_ATTRIBUTE **first, const struct p11_adef **d,
                    bool *dup)
{
    CK_RV rv = p11_attr_shape(a, d);
    if (rv != CKR_OK) {
        return rv;
    }
    size_t i = p11_attr_index(*d);
    *dup = first[i] != NULL;
    if (*dup) {
        return p11_attr_same(first[i], a) ? CKR_OK : CKR_TEMPLATE_INCONSISTENT;
    }
    first[i] = a;
    return CKR_OK;
}

/* Puts a label or id (PLAIN bytes) checked against the HSM's limits. */
static CK_RV put_bytes(struct ohsm_tmpl_buf *out, const struct p11_adef *d, const CK_ATTRIBUTE *a)
{
    if (d->type == CKA_LABEL ? !p11_label_ok(a) : a->ulValueLen > OHSM_OBJ_ID_MAX) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    ohsm_tmpl_put_bytes(out, d->ohsm, a->pValue, a->ulValueLen);
    return CKR_OK;
}

CK_RV p11_attr_set_parse(const CK_ATTRIBUTE *t, CK_ULONG n, struct ohsm_tmpl_buf *out,
                         bool *token_set, bool *token_val)
{
    const CK_ATTRIBUTE *first[COUNT(defs)] = {0};
    const struct p11_adef *d = NULL;
    bool dup = false;

    if (out == NULL || token_set == NULL || token_val == NULL || (t == NULL && n > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    ohsm_tmpl_init(out);
    *token_set = false;
    *token_val = false;
    for (CK_ULONG i = 0; i < n; i++) {
        const CK_ATTRIBUTE *a = &t[i];
        CK_RV rv = p11_attr_take(a, first, &d, &dup);
        if (rv != CKR_OK || dup) {
            if (rv != CKR_OK) {
                ohsm_tmpl_init(out);
                return rv;
            }
            continue;
        }
        switch (d->role) {
        case P11R_SHAPE:
        case P11R_COMPONENT:
        case P11R_READONLY:
            rv = CKR_ATTRIBUTE_READ_ONLY;
            break;
        case P11R_FIXED: {
            /* *_RECOVER follow SIGN / VERIFY: only with the same value set alongside. */
            const CK_ATTRIBUTE *s = p11_make_find(t, n, CKA_SIGN);
            const CK_ATTRIBUTE *v = p11_make_find(t, n, CKA_VERIFY);
            const struct p11_adef *sd = NULL;
            bool sign = s != NULL && p11_attr_shape(s, &sd) == CKR_OK && p11_attr_bool(s);
            bool verify = v != NULL && p11_attr_shape(v, &sd) == CKR_OK && p11_attr_bool(v);
            if ((a->type == CKA_SIGN_RECOVER && s == NULL) ||
                (a->type == CKA_VERIFY_RECOVER && v == NULL) ||
                !p11_attr_fixed_ok(a, sign, verify)) {
                rv = CKR_ATTRIBUTE_VALUE_INVALID;
            }
            break;
        }
        case P11R_PLAIN:
            if (a->type == CKA_TOKEN) {
                *token_set = true;
                *token_val = p11_attr_bool(a);
            } else if (d->kind == P11K_BOOL) {
                ohsm_tmpl_put_bool(out, d->ohsm, p11_attr_bool(a));
            } else {
                rv = put_bytes(out, d, a);
            }
            break;
        }
        if (rv != CKR_OK) {
            ohsm_tmpl_init(out);
            return rv;
        }
    }
    if (out->overflow) {
        ohsm_tmpl_init(out);
        return CKR_HOST_MEMORY;
    }
    return CKR_OK;
}

/* ---- C_FindObjectsInit and matching ---- */

CK_RV p11_attr_find_parse(const CK_ATTRIBUTE *t, CK_ULONG n, struct ohsm_tmpl_buf *prefilter)
{
    bool put[COUNT(defs)] = {0};

    if (prefilter == NULL || (t == NULL && n > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    ohsm_tmpl_init(prefilter);
    for (CK_ULONG i = 0; i < n; i++) {
        const struct p11_adef *d = NULL;
        CK_RV rv = p11_attr_shape(&t[i], &d);
        if (d == NULL) {
            continue; /* unknown: matches nothing, the module's p11_attr_match says so */
        }
        if (rv != CKR_OK) {
            ohsm_tmpl_init(prefilter);
            return rv;
        }
        size_t k = p11_attr_index(d);
        /* The HSM filters on what it stores as a template attribute of the same value; a
         * second occurrence (same or different) is left to p11_attr_match. */
        if (put[k] || d->ohsm == NONE) {
            continue;
        }
        if (d->kind == P11K_BOOL) {
            ohsm_tmpl_put_bool(prefilter, d->ohsm, p11_attr_bool(&t[i]));
            put[k] = true;
        } else if (d->type == CKA_CLASS || d->type == CKA_KEY_TYPE) {
            CK_ULONG v = p11_attr_ulong(&t[i]);
            bool known = d->type == CKA_CLASS ? p11_class_bit((uint32_t)v) != 0 && v <= UINT32_MAX
                                              : v <= UINT32_MAX && ohsm_ktype_name((uint32_t)v);
            if (known) {
                ohsm_tmpl_put_u32(prefilter, d->ohsm, (uint32_t)v);
                put[k] = true;
            }
        } else if ((d->type == CKA_LABEL && p11_label_ok(&t[i])) ||
                   (d->type == CKA_ID && t[i].ulValueLen <= OHSM_OBJ_ID_MAX)) {
            ohsm_tmpl_put_bytes(prefilter, d->ohsm, t[i].pValue, t[i].ulValueLen);
            put[k] = true;
        }
    }
    if (prefilter->overflow) {
        ohsm_tmpl_init(prefilter);
        return CKR_HOST_MEMORY;
    }
    return CKR_OK;
}

bool p11_attr_match(const struct ohsm_obj *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    uint8_t v[P11_VAL_MAX];
    size_t len = 0;

    if (o == NULL || (t == NULL && n > 0)) {
        return false;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        const struct p11_adef *d = NULL;
        if (p11_attr_shape(&t[i], &d) != CKR_OK ||
            p11_attr_value(o, t[i].type, v, sizeof(v), &len) != CKR_OK) {
            return false;
        }
        if (d->kind == P11K_BOOL) {
            if ((v[0] != 0) != p11_attr_bool(&t[i])) {
                return false;
            }
        } else if (len != t[i].ulValueLen || (len > 0 && memcmp(v, t[i].pValue, len) != 0)) {
            return false;
        }
    }
    return true;
}
