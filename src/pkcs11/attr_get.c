/* SPDX-License-Identifier: Apache-2.0
 *
 * C_GetAttributeValue and C_GetObjectSize of openhsm keys: each PKCS#11 attribute's value from the
 * object record (ohsm_obj_attr_get gives the HSM's value forms, converted here to PKCS#11's).
 * Trusts the record (it comes from the HSM, decoded by ohsm_obj_decode) but not the application's
 * template: lengths and NULL buffers are checked per attribute, PKCS#11 v2.40 §5.7.
 */
#include "attr.h"

#include <string.h>

#include <openssl/crypto.h>

static CK_RV give_ulong(CK_ULONG v, uint8_t *buf, size_t cap, size_t *len)
{
    if (cap < sizeof(v)) {
        return CKR_FUNCTION_FAILED;
    }
    memcpy(buf, &v, sizeof(v));
    *len = sizeof(v);
    return CKR_OK;
}

static CK_RV give_bool(bool v, uint8_t *buf, size_t cap, size_t *len)
{
    if (cap < 1) {
        return CKR_FUNCTION_FAILED;
    }
    buf[0] = v ? CK_TRUE : CK_FALSE;
    *len = 1;
    return CKR_OK;
}

static bool has_flag(const struct ohsm_obj *o, uint32_t id)
{
    const struct ohsm_attr_def *h = ohsm_attr_by_id(id);
    return h != NULL && h->kind == OHSM_AK_BOOL && (o->flags & h->flag) != 0;
}

/* The mechanism that made a local key (PKCS#11 v2.40 §4.7: CKA_KEY_GEN_MECHANISM). */
static CK_ULONG gen_mechanism(const struct ohsm_obj *o)
{
    if ((o->flags & OHSM_F_LOCAL) == 0) {
        return CK_UNAVAILABLE_INFORMATION;
    }
    switch (o->ktype) {
    case OHSM_KT_AES:
        return CKM_AES_KEY_GEN;
    case OHSM_KT_DES3:
        return CKM_DES3_KEY_GEN;
    case OHSM_KT_GENERIC_SECRET:
        return CKM_GENERIC_SECRET_KEY_GEN;
    case OHSM_KT_RSA:
        return CKM_RSA_PKCS_KEY_PAIR_GEN;
    case OHSM_KT_EC:
        return CKM_EC_KEY_PAIR_GEN;
    default:
        return CK_UNAVAILABLE_INFORMATION;
    }
}

/* Key material: secret values of every secret and private key. The HSM never gives it in clear,
 * so it is sensitive whatever CKA_SENSITIVE / CKA_EXTRACTABLE say (PKCS#11 v2.40 §4.9-4.10). */
static bool is_material(CK_ATTRIBUTE_TYPE type)
{
    switch (type) {
    case CKA_VALUE:
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
        return true;
    default:
        return false;
    }
}

CK_RV p11_attr_value(const struct ohsm_obj *o, CK_ATTRIBUTE_TYPE type, uint8_t *buf, size_t cap,
                     size_t *len)
{
    const struct p11_adef *d = p11_attr_def(type);
    uint8_t v[8];
    size_t n = 0;

    *len = 0;
    if (d == NULL || (d->classes & p11_class_bit(o->cls)) == 0 ||
        (d->ktypes != 0 && (d->ktypes & p11_ktype_bit(o->ktype)) == 0)) {
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
    /* CKA_VALUE of a private key is the EC scalar; RSA private keys have none. */
    if (type == CKA_VALUE && o->cls == OHSM_CLASS_PRIVATE && o->ktype != OHSM_KT_EC) {
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
    if (is_material(type)) {
        return CKR_ATTRIBUTE_SENSITIVE;
    }
    switch (type) {
    case CKA_CLASS:
        return give_ulong(o->cls, buf, cap, len);
    case CKA_KEY_TYPE:
        return give_ulong(o->ktype, buf, cap, len);
    case CKA_COPYABLE:
        return give_bool(true, buf, cap, len);
    case CKA_SIGN_RECOVER:
        return give_bool(has_flag(o, OHSM_A_SIGN), buf, cap, len);
    case CKA_VERIFY_RECOVER:
        return give_bool(has_flag(o, OHSM_A_VERIFY), buf, cap, len);
    case CKA_ALWAYS_AUTHENTICATE:
        return give_bool(false, buf, cap, len);
    case CKA_START_DATE:
    case CKA_END_DATE:
    case CKA_SUBJECT:
        return CKR_OK; /* empty */
    case CKA_KEY_GEN_MECHANISM:
        return give_ulong(gen_mechanism(o), buf, cap, len);
    case CKA_VALUE_LEN:
    case CKA_MODULUS_BITS:
        if (ohsm_obj_attr_get(o, d->ohsm, v, sizeof(v), &n) != OHSM_OK || n != 4) {
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
        return give_ulong((CK_ULONG)v[0] << 24 | (CK_ULONG)v[1] << 16 | (CK_ULONG)v[2] << 8 | v[3],
                          buf, cap, len);
    default:
        break;
    }
    if (d->kind == P11K_BOOL) {
        return give_bool(has_flag(o, d->ohsm), buf, cap, len);
    }
    /* Label, id, check value, modulus, exponent, EC parameters and point, SPKI: the HSM's value
     * forms are PKCS#11's. Absent (no check value, no SPKI in an old record): not an attribute. */
    if (d->ohsm == UINT32_MAX || ohsm_obj_attr_get(o, d->ohsm, buf, cap, len) != OHSM_OK) {
        *len = 0;
        return CKR_ATTRIBUTE_TYPE_INVALID;
    }
    return CKR_OK;
}

CK_RV p11_attr_get(const struct ohsm_obj *o, CK_ATTRIBUTE *t, CK_ULONG n)
{
    uint8_t v[P11_VAL_MAX];
    CK_RV ret = CKR_OK;

    if (o == NULL || (t == NULL && n > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        size_t len = 0;
        CK_RV rv = p11_attr_value(o, t[i].type, v, sizeof(v), &len);
        if (rv == CKR_OK && t[i].pValue != NULL && t[i].ulValueLen < len) {
            rv = CKR_BUFFER_TOO_SMALL;
        }
        if (rv != CKR_OK) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            ret = ret == CKR_OK ? rv : ret;
            continue;
        }
        if (t[i].pValue != NULL && len > 0) {
            memcpy(t[i].pValue, v, len);
        }
        t[i].ulValueLen = len;
    }
    OPENSSL_cleanse(v, sizeof(v));
    return ret;
}

CK_ULONG p11_attr_size(const struct ohsm_obj *o)
{
    uint8_t buf[OHSM_OBJ_ENC_MAX];
    size_t len = 0;

    if (o == NULL || ohsm_obj_encode(o, buf, sizeof(buf), &len) != OHSM_OK) {
        return CK_UNAVAILABLE_INFORMATION;
    }
    return len;
}
