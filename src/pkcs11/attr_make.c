/* SPDX-License-Identifier: Apache-2.0
 *
 * Templates of the object-making calls (C_GenerateKey, C_GenerateKeyPair, C_CreateObject,
 * C_UnwrapKey, C_DeriveKey) -> the HSM's creation template, sizes and key material. The template
 * is the application's (untrusted): shapes are checked before values are read, and the rules of
 * PKCS#11 v2.40 §4.1 (object creation: read-only, incomplete, inconsistent templates) and §5.7
 * apply. The HSM applies the template over its own defaults (CloudHSM CLI's: token, sign/verify
 * on...), so every boolean it stores is given explicitly with PKCS#11's default as CloudHSM's
 * PKCS#11 library has it.
 */
#include "attr.h"

#include <string.h>

#include "openhsm/mech.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The booleans the HSM stores and accepts at creation, with their PKCS#11 defaults. Trusted is
 * not among them: only an admin sets it, after creation. Sensitive is put for secret and private
 * keys only (public keys have none; the HSM refuses sensitive=true on one). */
static const struct {
    CK_ATTRIBUTE_TYPE type;
    uint32_t ohsm;
    bool dflt;
} bools[] = {
    {CKA_TOKEN, OHSM_A_TOKEN, false},
    {CKA_PRIVATE, OHSM_A_PRIVATE, true},
    {CKA_MODIFIABLE, OHSM_A_MODIFIABLE, true},
    {CKA_DESTROYABLE, OHSM_A_DESTROYABLE, true},
    {CKA_ENCRYPT, OHSM_A_ENCRYPT, false},
    {CKA_DECRYPT, OHSM_A_DECRYPT, false},
    {CKA_SIGN, OHSM_A_SIGN, false},
    {CKA_VERIFY, OHSM_A_VERIFY, false},
    {CKA_WRAP, OHSM_A_WRAP, false},
    {CKA_UNWRAP, OHSM_A_UNWRAP, false},
    {CKA_DERIVE, OHSM_A_DERIVE, false},
    {CKA_EXTRACTABLE, OHSM_A_EXTRACTABLE, true},
    {CKA_WRAP_WITH_TRUSTED, OHSM_A_WRAP_WITH_TRUSTED, false},
    {CKA_SENSITIVE, OHSM_A_SENSITIVE, true},
};

/* What one parse works with: the template by table index (first occurrence of each type). */
struct mk {
    enum p11_make kind;
    const CK_ATTRIBUTE **at;
    uint8_t cb; /* P11C_ bit of the class */
    uint8_t tb; /* P11T_ bit of the key type */
    struct p11_make_out *out;
};

static const CK_ATTRIBUTE *at(const struct mk *m, CK_ATTRIBUTE_TYPE type)
{
    const struct p11_adef *d = p11_attr_def(type);
    return d != NULL ? m->at[p11_attr_index(d)] : NULL;
}

static bool flag(const struct mk *m, CK_ATTRIBUTE_TYPE type, bool dflt)
{
    const CK_ATTRIBUTE *a = at(m, type);
    return a != NULL ? p11_attr_bool(a) : dflt;
}

static bool class_supported(CK_ULONG c)
{
    return c == CKO_PUBLIC_KEY || c == CKO_PRIVATE_KEY || c == CKO_SECRET_KEY;
}

static bool ktype_supported(CK_ULONG k)
{
    return k == CKK_RSA || k == CKK_EC || k == CKK_GENERIC_SECRET || k == CKK_DES3 || k == CKK_AES;
}

/* The class or key type: the template's, checked against what the mechanism implies. */
static CK_RV resolve(const CK_ATTRIBUTE *a, CK_ULONG implied, bool (*supported)(CK_ULONG),
                     CK_ULONG *v)
{
    if (a == NULL) {
        *v = implied;
        if (implied == CK_UNAVAILABLE_INFORMATION) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        return supported(implied) ? CKR_OK : CKR_ARGUMENTS_BAD;
    }
    *v = p11_attr_ulong(a);
    if (!supported(*v)) {
        return CKR_ATTRIBUTE_VALUE_INVALID; /* CKO_DATA, CKO_CERTIFICATE, CKK_DSA ... */
    }
    return implied == CK_UNAVAILABLE_INFORMATION || implied == *v ? CKR_OK
                                                                  : CKR_TEMPLATE_INCONSISTENT;
}

/* Which classes each call makes, and does the class fit the key type? */
static CK_RV class_fits(enum p11_make kind, CK_ULONG cls, CK_ULONG kt)
{
    bool ok;
    switch (kind) {
    case P11_MAKE_GENERATE:
    case P11_MAKE_DERIVE:
        ok = cls == CKO_SECRET_KEY;
        break;
    case P11_MAKE_PAIR_PUBLIC:
        ok = cls == CKO_PUBLIC_KEY;
        break;
    case P11_MAKE_PAIR_PRIVATE:
        ok = cls == CKO_PRIVATE_KEY;
        break;
    case P11_MAKE_UNWRAP:
        ok = cls != CKO_PUBLIC_KEY; /* only secret and private keys are wrapped */
        break;
    default:
        ok = true;
        break;
    }
    bool asym = kt == CKK_RSA || kt == CKK_EC;
    return ok && asym == (cls != CKO_SECRET_KEY) ? CKR_OK : CKR_TEMPLATE_INCONSISTENT;
}

/* CKA_PUBLIC_EXPONENT (big-endian, leading zeros allowed) -> a number of at most 8 bytes; the
 * minimal encoding into min[] (the HSM's form). */
static CK_RV exponent(const CK_ATTRIBUTE *a, uint64_t *e, uint8_t min[8], size_t *min_len)
{
    const uint8_t *p = a->pValue;
    size_t n = a->ulValueLen;
    while (n > 0 && p[0] == 0) {
        p++;
        n--;
    }
    if (n == 0 || n > 8) {
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    *e = 0;
    for (size_t i = 0; i < n; i++) {
        *e = *e << 8 | p[i];
    }
    memcpy(min, p, n);
    *min_len = n;
    return CKR_OK;
}

/* CKA_EC_PARAMS -> curve. A well-formed OID the HSM lacks is CKR_CURVE_NOT_SUPPORTED. */
static CK_RV curve_of(const CK_ATTRIBUTE *a, uint32_t *curve)
{
    const uint8_t *p = a->pValue;
    *curve = p11_curve_from_params(p, a->ulValueLen);
    if (*curve != OHSM_CURVE_NONE) {
        return CKR_OK;
    }
    bool oid =
        a->ulValueLen >= 3 && a->ulValueLen < 130 && p[0] == 0x06 && p[1] == a->ulValueLen - 2;
    return oid ? CKR_CURVE_NOT_SUPPORTED : CKR_ATTRIBUTE_VALUE_INVALID;
}

/* Bits of a big-endian number (leading zeros skipped). */
static CK_ULONG num_bits(const CK_ATTRIBUTE *a)
{
    const uint8_t *p = a->pValue;
    size_t n = a->ulValueLen;
    while (n > 0 && p[0] == 0) {
        p++;
        n--;
    }
    if (n == 0) {
        return 0;
    }
    CK_ULONG bits = (CK_ULONG)(n - 1) * 8;
    for (uint8_t b = p[0]; b != 0; b >>= 1) {
        bits++;
    }
    return bits;
}

/* One attribute of the template (its first occurrence), by role. */
static CK_RV one(struct mk *m, const struct p11_adef *d, const CK_ATTRIBUTE *a)
{
    struct p11_make_out *out = m->out;
    bool create = m->kind == P11_MAKE_CREATE;
    uint8_t min[8];
    size_t min_len = 0;

    if ((d->classes & m->cb) == 0 || (d->ktypes != 0 && (d->ktypes & m->tb) == 0) ||
        (a->type == CKA_VALUE && m->cb == P11C_PRIV && m->tb != P11T_EC) ||
        (a->type == CKA_MODULUS_BITS && m->cb != P11C_PUB) ||
        (a->type == CKA_PUBLIC_EXPONENT && m->kind == P11_MAKE_PAIR_PRIVATE)) {
        /* Not an attribute of this class and type (PKCS#11 v2.40 §5.7: modulus bits and
         * exponent belong to the public template of a pair). */
        return CKR_TEMPLATE_INCONSISTENT;
    }
    switch (d->role) {
    case P11R_READONLY:
        /* A check value given with a secret's value is checked against it (material()). */
        return create && a->type == CKA_CHECK_VALUE && m->cb == P11C_SEC ? CKR_OK
                                                                         : CKR_ATTRIBUTE_READ_ONLY;
    case P11R_FIXED:
        return p11_attr_fixed_ok(a, flag(m, CKA_SIGN, false), flag(m, CKA_VERIFY, false))
                   ? CKR_OK
                   : CKR_ATTRIBUTE_VALUE_INVALID;
    case P11R_COMPONENT:
        if (a->type == CKA_PUBLIC_EXPONENT && m->kind == P11_MAKE_PAIR_PUBLIC) {
            CK_RV rv = exponent(a, &out->public_exponent, min, &min_len);
            if (rv == CKR_OK) {
                ohsm_tmpl_put_bytes(&out->tmpl, OHSM_A_PUBLIC_EXPONENT, min, min_len);
            }
            return rv;
        }
        if (a->type == CKA_PUBLIC_EXPONENT && create) {
            return exponent(a, &out->public_exponent, min, &min_len);
        }
        return create ? CKR_OK : CKR_ATTRIBUTE_READ_ONLY; /* the mechanism makes the key */
    case P11R_SHAPE:
        if (a->type == CKA_VALUE_LEN) {
            out->has_value_len = true;
            out->value_len = p11_attr_ulong(a);
            if (out->value_len == 0 || out->value_len > UINT32_MAX) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            ohsm_tmpl_put_u32(&out->tmpl, OHSM_A_VALUE_LEN, (uint32_t)out->value_len);
        } else if (a->type == CKA_MODULUS_BITS) {
            out->has_modulus_bits = true;
            out->modulus_bits = p11_attr_ulong(a);
            if (out->modulus_bits == 0 || out->modulus_bits > UINT32_MAX) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            ohsm_tmpl_put_u32(&out->tmpl, OHSM_A_MODULUS_BITS, (uint32_t)out->modulus_bits);
        } else if (a->type == CKA_EC_PARAMS) {
            CK_RV rv = curve_of(a, &out->curve);
            if (rv != CKR_OK) {
                return rv;
            }
            ohsm_tmpl_put_u32(&out->tmpl, OHSM_A_CURVE, out->curve);
        }
        return CKR_OK; /* class and key type: put by the caller */
    case P11R_PLAIN:
        break;
    }
    if (a->type == CKA_TRUSTED) {
        /* PKCS#11 v2.40 §4.8: only the SO sets trusted; CloudHSM: an admin, after creation. */
        return p11_attr_bool(a) ? CKR_ATTRIBUTE_READ_ONLY : CKR_OK;
    }
    /* CKA_DERIVE=true on a public key is kept (CloudHSM's table wants it false, but pkcs11-tool's
     * default EC key pair template sets it on both halves, and the HSM stores it harmlessly). */
    if (a->type == CKA_LABEL) {
        if (!p11_label_ok(a)) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        ohsm_tmpl_put_bytes(&out->tmpl, OHSM_A_LABEL, a->pValue, a->ulValueLen);
    } else if (a->type == CKA_ID) {
        if (a->ulValueLen > OHSM_OBJ_ID_MAX) {
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
        ohsm_tmpl_put_bytes(&out->tmpl, OHSM_A_ID, a->pValue, a->ulValueLen);
    }
    return CKR_OK; /* booleans: put with the defaults */
}

/* What the class and key type need that the template lacks (PKCS#11 v2.40 §2.1.4, §2.3.4 of the
 * mechanisms: modulus bits / EC params for a pair; the value length of AES and generic secret
 * keys generated; the components of a key created). */
static CK_RV required(const struct mk *m)
{
    const struct p11_make_out *out = m->out;
    switch (m->kind) {
    case P11_MAKE_PAIR_PUBLIC:
        if (out->ktype == CKK_RSA && !out->has_modulus_bits) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        if (out->ktype == CKK_EC && out->curve == OHSM_CURVE_NONE) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        return CKR_OK;
    case P11_MAKE_GENERATE:
        if ((out->ktype == CKK_AES || out->ktype == CKK_GENERIC_SECRET) && !out->has_value_len) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        return CKR_OK;
    case P11_MAKE_CREATE:
        if (out->ktype == CKK_EC && out->curve == OHSM_CURVE_NONE) {
            return CKR_TEMPLATE_INCOMPLETE;
        }
        return CKR_OK;
    default:
        return CKR_OK;
    }
}

/* C_CreateObject: the material, and the sizes and check value the template gave, which must
 * agree with it. */
static CK_RV material(struct mk *m, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    struct p11_make_out *out = m->out;
    CK_RV rv = p11_make_material(t, n, out->cls, out->ktype, out->curve, &out->material,
                                 &out->material_len);
    if (rv != CKR_OK) {
        return rv;
    }
    if (out->cls == CKO_SECRET_KEY) {
        const CK_ATTRIBUTE *kcv = at(m, CKA_CHECK_VALUE);
        uint8_t mine[3];
        if (out->has_value_len && out->value_len != out->material_len) {
            return CKR_TEMPLATE_INCONSISTENT;
        }
        if (kcv != NULL) {
            /* PKCS#11 v2.40 §4.10: a check value given must be the key's (KCV of any length up
             * to 3 bytes, as its first bytes). */
            if (ohsm_mech_kcv((uint32_t)out->ktype, out->material, out->material_len, mine) !=
                OHSM_OK) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
            if (kcv->ulValueLen > 3 ||
                (kcv->ulValueLen > 0 && memcmp(kcv->pValue, mine, kcv->ulValueLen) != 0)) {
                return CKR_ATTRIBUTE_VALUE_INVALID;
            }
        }
    }
    const CK_ATTRIBUTE *mod = at(m, CKA_MODULUS);
    if (out->has_modulus_bits && mod != NULL && num_bits(mod) != out->modulus_bits) {
        return CKR_TEMPLATE_INCONSISTENT;
    }
    return CKR_OK;
}

void p11_make_clear(struct p11_make_out *out)
{
    if (out == NULL) {
        return;
    }
    ohsm_mech_der_free(out->material, out->material_len);
    memset(out, 0, sizeof(*out));
    ohsm_tmpl_init(&out->tmpl);
}

static CK_RV make(struct mk *m, const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_CLASS implied_cls,
                  CK_KEY_TYPE implied_ktype)
{
    struct p11_make_out *out = m->out;
    const struct p11_adef *d = NULL;
    bool dup = false;
    CK_RV rv;

    for (CK_ULONG i = 0; i < n; i++) {
        rv = p11_attr_take(&t[i], m->at, &d, &dup);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    rv = resolve(at(m, CKA_CLASS), implied_cls, class_supported, &out->cls);
    if (rv == CKR_OK) {
        rv = resolve(at(m, CKA_KEY_TYPE), implied_ktype, ktype_supported, &out->ktype);
    }
    if (rv == CKR_OK) {
        rv = class_fits(m->kind, out->cls, out->ktype);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    m->cb = p11_class_bit((uint32_t)out->cls);
    m->tb = p11_ktype_bit((uint32_t)out->ktype);
    ohsm_tmpl_put_u32(&out->tmpl, OHSM_A_CLASS, (uint32_t)out->cls);
    ohsm_tmpl_put_u32(&out->tmpl, OHSM_A_KEY_TYPE, (uint32_t)out->ktype);
    for (size_t i = 0; i < p11_attr_count(); i++) {
        if (m->at[i] != NULL) {
            rv = one(m, p11_attr_def(m->at[i]->type), m->at[i]);
            if (rv != CKR_OK) {
                return rv;
            }
        }
    }
    for (size_t i = 0; i < COUNT(bools); i++) {
        if (bools[i].type == CKA_SENSITIVE && m->cb == P11C_PUB) {
            continue;
        }
        ohsm_tmpl_put_bool(&out->tmpl, bools[i].ohsm, flag(m, bools[i].type, bools[i].dflt));
    }
    out->token = flag(m, CKA_TOKEN, false);
    rv = required(m);
    if (rv == CKR_OK && m->kind == P11_MAKE_CREATE) {
        rv = material(m, t, n);
    }
    if (rv == CKR_OK && out->tmpl.overflow) {
        rv = CKR_HOST_MEMORY;
    }
    return rv;
}

CK_RV p11_make_parse(enum p11_make kind, const CK_ATTRIBUTE *t, CK_ULONG n,
                     CK_OBJECT_CLASS implied_cls, CK_KEY_TYPE implied_ktype,
                     struct p11_make_out *out)
{
    const CK_ATTRIBUTE *first[64] = {0};

    if (out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    memset(out, 0, sizeof(*out));
    ohsm_tmpl_init(&out->tmpl);
    if ((t == NULL && n > 0) || (unsigned)kind > P11_MAKE_DERIVE ||
        p11_attr_count() > COUNT(first)) {
        return CKR_ARGUMENTS_BAD;
    }
    struct mk m = {.kind = kind, .at = first, .out = out};
    CK_RV rv = make(&m, t, n, implied_cls, implied_ktype);
    if (rv != CKR_OK) {
        p11_make_clear(out);
    }
    return rv;
}
