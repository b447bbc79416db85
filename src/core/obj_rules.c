/* SPDX-License-Identifier: Apache-2.0
 *
 * Key object rules (PKCS#11 3.0 §4.4-4.9 as CloudHSM applies them): creation defaults, applying a
 * template, setting one attribute, sharing, which uses and wraps a key permits, template matching
 * and the attributes derived from the public key (modulus, exponent, EC point and parameters).
 * Templates and attribute values come from the wire; their shapes are checked here again
 * (ohsm_obj_value_ok) before they touch an object. Pure: no I/O, no key material.
 */
#include "openhsm/obj.h"

#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/obj_int.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- role classes (issue 15) ---- */

/* The flags a key of this role class may never have. Tookan's attacks (Bortolozzo, Centenaro,
 * Focardi, Steel, CCS 2010) need one key with both roles: wrap a sensitive key, then decrypt the
 * blob; or encrypt a value of one's choosing, then unwrap it as a key. Unknown classes forbid
 * everything: a record or template that carries one is refused before it gets here. */
static uint32_t role_forbidden(uint32_t role)
{
    switch (role) {
    case OHSM_ROLE_NONE:
        return 0;
    case OHSM_ROLE_DATA:
        return OHSM_F_WRAP | OHSM_F_UNWRAP;
    case OHSM_ROLE_WRAPPING:
        return OHSM_F_ENCRYPT | OHSM_F_DECRYPT;
    default:
        return UINT32_MAX;
    }
}

bool ohsm_obj_roles_ok(const struct ohsm_obj *o)
{
    return (o->flags & role_forbidden(o->role_class)) == 0;
}

static uint32_t be32v(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- creation defaults ---- */

void ohsm_obj_defaults(struct ohsm_obj *o, uint32_t cls, uint32_t ktype, bool local)
{
    memset(o, 0, sizeof(*o));
    o->version = 1;
    o->cls = cls;
    o->ktype = ktype;
    o->flags =
        OHSM_F_TOKEN | OHSM_F_PRIVATE | OHSM_F_DESTROYABLE | OHSM_F_MODIFIABLE | OHSM_F_EXTRACTABLE;
    if (cls == OHSM_CLASS_SECRET || cls == OHSM_CLASS_PRIVATE) {
        o->flags |= OHSM_F_SENSITIVE | OHSM_F_ALWAYS_SENSITIVE;
    }
    /* The CloudHSM CLI's generate-symmetric output shows sign and verify true for AES. */
    if (ktype == OHSM_KT_AES || ktype == OHSM_KT_GENERIC_SECRET) {
        o->flags |= OHSM_F_SIGN | OHSM_F_VERIFY;
    }
    if (local) {
        o->flags |= OHSM_F_LOCAL;
    }
}

/* ---- derived attributes ---- */

/* DER OIDs of the curves (SEC 2 §A.2; RFC 5480 §2.1.1.1), the value of CKA_EC_PARAMS. */
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

static const uint8_t *curve_oid(uint32_t curve, size_t *len)
{
    for (size_t i = 0; i < COUNT(oids); i++) {
        if (oids[i].curve == curve) {
            *len = oids[i].len;
            return oids[i].der;
        }
    }
    *len = 0;
    return NULL;
}

static ohsm_rv bn_param(const struct ohsm_obj *o, const char *name, uint8_t *out, size_t cap,
                        size_t *out_len)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    const uint8_t *p = o->spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)o->spki_len);
    BIGNUM *bn = NULL;

    if (k == NULL || !EVP_PKEY_is_a(k, "RSA") || !EVP_PKEY_get_bn_param(k, name, &bn)) {
        goto out;
    }
    size_t n = (size_t)BN_num_bytes(bn);
    *out_len = n;
    rv = OHSM_BUFFER_TOO_SMALL;
    if (n <= cap && out != NULL) {
        rv = BN_bn2binpad(bn, out, (int)n) == (int)n ? OHSM_OK : OHSM_DEVICE_ERROR;
    }
out:
    BN_free(bn);
    EVP_PKEY_free(k);
    return rv;
}

/* The public point as CKA_EC_POINT wants it: a DER OCTET STRING around the X9.62 encoding. */
static ohsm_rv ec_point(const struct ohsm_obj *o, uint8_t *out, size_t cap, size_t *out_len)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    const uint8_t *p = o->spki;
    EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)o->spki_len);
    uint8_t pt[160];
    size_t n = 0;

    if (k == NULL || !EVP_PKEY_is_a(k, "EC") ||
        !EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
                                         &n) ||
        n > 255) {
        goto out;
    }
    size_t hdr = n < 128 ? 2 : 3;
    *out_len = hdr + n;
    rv = OHSM_BUFFER_TOO_SMALL;
    if (out != NULL && hdr + n <= cap) {
        out[0] = 0x04;
        if (hdr == 2) {
            out[1] = (uint8_t)n;
        } else {
            out[1] = 0x81;
            out[2] = (uint8_t)n;
        }
        memcpy(out + hdr, pt, n);
        rv = OHSM_OK;
    }
out:
    EVP_PKEY_free(k);
    return rv;
}

/* Issue 11: the key check value of an RSA or EC key. AWS's key attribute reference: "Asymmetric
 * key pairs: First 3 bytes of the SHA-1 hash of the public key". The public key hashed is its DER
 * SubjectPublicKeyInfo: that reproduces the guide's examples (CloudHSM CLI tls_rsa_pub 0x01fe6e
 * from its modulus and exponent; ec-public-key-example 0xd7c1a7 from its secp224r1 point). Both
 * halves of a pair have it; it depends on the record's SPKI alone, so every HSM gives the same
 * value, and records made before it have it too. */
static ohsm_rv public_kcv(const struct ohsm_obj *o, uint8_t kcv[3])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    OHSM_ENSURE(o->spki_len > 0 && o->spki_len <= OHSM_SPKI_MAX, OHSM_ATTRIBUTE_TYPE_INVALID);
    OHSM_ENSURE(EVP_Digest(o->spki, o->spki_len, md, &n, EVP_sha1(), NULL) == 1 && n >= 3,
                OHSM_DEVICE_ERROR);
    memcpy(kcv, md, 3);
    return OHSM_OK;
}

/* PKCS#8 length of an EC private key of each curve as OpenSSL encodes it (the scalar padded to
 * the order's length, the public point inside, the curve in the algorithm identifier only):
 * fixed per curve. */
static uint32_t ec_pkcs8_len(uint32_t curve)
{
    switch (curve) {
    case OHSM_CURVE_P224:
        return 122;
    case OHSM_CURVE_P256:
        return 138;
    case OHSM_CURVE_SECP256K1:
        return 135;
    case OHSM_CURVE_P384:
        return 185;
    case OHSM_CURVE_P521:
        return 241;
    default:
        return 0;
    }
}

/* key-length-bytes as shown. Records made before issue 11 hold the RSA modulus length or 0 for EC
 * keys; what ohsm_obj_set_key_len would give is shown for them where it follows from the record
 * (EC keys, RSA public keys). An old RSA private key keeps its modulus length: its PKCS#8 length
 * depends on the private numbers. */
static uint32_t shown_key_len(const struct ohsm_obj *o)
{
    uint8_t pt[160];
    size_t n = 0;

    if (o->ktype == OHSM_KT_EC && o->value_len == 0) {
        if (o->cls == OHSM_CLASS_PRIVATE) {
            return ec_pkcs8_len(o->curve);
        }
        if (ec_point(o, pt, sizeof(pt), &n) == OHSM_OK && n > 3) {
            return (uint32_t)(n - (pt[1] == 0x81 ? 3 : 2));
        }
    }
    if (o->ktype == OHSM_KT_RSA && o->cls == OHSM_CLASS_PUBLIC && o->modulus_bits > 0 &&
        o->value_len == (o->modulus_bits + 7) / 8) {
        return 2 * o->value_len;
    }
    return o->value_len;
}

static ohsm_rv give(const void *v, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    *out_len = n;
    OHSM_ENSURE(n <= cap && (out != NULL || n == 0), OHSM_BUFFER_TOO_SMALL);
    if (n > 0) {
        memcpy(out, v, n);
    }
    return OHSM_OK;
}

ohsm_rv ohsm_obj_attr_get(const struct ohsm_obj *o, uint32_t id, uint8_t *out, size_t cap,
                          size_t *out_len)
{
    uint8_t v[8];
    size_t n = 0;
    const uint8_t *oid = NULL;
    bool rsa = o != NULL && o->ktype == OHSM_KT_RSA;
    bool ec = o != NULL && o->ktype == OHSM_KT_EC;

    OHSM_ENSURE(o != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    const struct ohsm_attr_def *d = ohsm_attr_by_id(id);
    if (d != NULL && d->kind == OHSM_AK_BOOL) {
        v[0] = ohsm_obj_has(o, d->flag) ? 1 : 0;
        return give(v, 1, out, cap, out_len);
    }
    switch (id) {
    case OHSM_A_CLASS:
        ohsm_obj_put32(v, o->cls);
        return give(v, 4, out, cap, out_len);
    case OHSM_A_KEY_TYPE:
        ohsm_obj_put32(v, o->ktype);
        return give(v, 4, out, cap, out_len);
    case OHSM_A_LABEL:
        return give(o->label, strnlen(o->label, OHSM_LABEL_MAX), out, cap, out_len);
    case OHSM_A_ID:
        return give(o->id, o->id_len, out, cap, out_len);
    case OHSM_A_KCV:
        if (o->has_kcv) {
            return give(o->kcv, 3, out, cap, out_len);
        }
        OHSM_ENSURE(rsa || ec, OHSM_ATTRIBUTE_TYPE_INVALID);
        OHSM_TRY(public_kcv(o, v));
        return give(v, 3, out, cap, out_len);
    case OHSM_A_VALUE_LEN:
        ohsm_obj_put32(v, shown_key_len(o));
        return give(v, 4, out, cap, out_len);
    case OHSM_A_MODULUS_BITS:
        OHSM_ENSURE(rsa, OHSM_ATTRIBUTE_TYPE_INVALID);
        ohsm_obj_put32(v, o->modulus_bits);
        return give(v, 4, out, cap, out_len);
    case OHSM_A_MODULUS:
    case OHSM_A_PUBLIC_EXPONENT:
        OHSM_ENSURE(rsa && o->spki_len > 0, OHSM_ATTRIBUTE_TYPE_INVALID);
        return bn_param(o, id == OHSM_A_MODULUS ? OSSL_PKEY_PARAM_RSA_N : OSSL_PKEY_PARAM_RSA_E,
                        out, cap, out_len);
    case OHSM_A_EC_POINT:
        OHSM_ENSURE(ec && o->spki_len > 0, OHSM_ATTRIBUTE_TYPE_INVALID);
        return ec_point(o, out, cap, out_len);
    case OHSM_A_EC_PARAMS:
        OHSM_ENSURE(ec, OHSM_ATTRIBUTE_TYPE_INVALID);
        oid = curve_oid(o->curve, &n);
        OHSM_ENSURE(oid != NULL, OHSM_ATTRIBUTE_TYPE_INVALID);
        return give(oid, n, out, cap, out_len);
    case OHSM_A_CURVE:
        OHSM_ENSURE(ec, OHSM_ATTRIBUTE_TYPE_INVALID);
        ohsm_obj_put32(v, o->curve);
        return give(v, 4, out, cap, out_len);
    case OHSM_A_QUORUM_MANAGE:
        ohsm_obj_put32(v, o->quorum_manage);
        return give(v, 4, out, cap, out_len);
    case OHSM_A_QUORUM_USE:
        ohsm_obj_put32(v, o->quorum_use);
        return give(v, 4, out, cap, out_len);
    case OHSM_A_ROLE_CLASS:
        ohsm_obj_put32(v, o->role_class);
        return give(v, 4, out, cap, out_len);
    case OHSM_A_HANDLE:
        ohsm_obj_put64(v, o->handle);
        return give(v, 8, out, cap, out_len);
    case OHSM_A_VERSION:
        ohsm_obj_put64(v, o->version);
        return give(v, 8, out, cap, out_len);
    case OHSM_A_OWNER:
        return give(o->owner, strnlen(o->owner, OHSM_USERNAME_MAX), out, cap, out_len);
    case OHSM_A_SPKI:
        OHSM_ENSURE(o->spki_len > 0 && o->spki_len <= OHSM_SPKI_MAX, OHSM_ATTRIBUTE_TYPE_INVALID);
        return give(o->spki, o->spki_len, out, cap, out_len);
    default:
        return OHSM_ATTRIBUTE_TYPE_INVALID;
    }
}

ohsm_rv ohsm_obj_set_key_len(struct ohsm_obj *o, size_t private_der_len)
{
    uint8_t pt[160];
    size_t n = 0;

    OHSM_ENSURE(o != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(o->ktype == OHSM_KT_RSA || o->ktype == OHSM_KT_EC, OHSM_KEY_TYPE_INCONSISTENT);
    if (o->cls == OHSM_CLASS_PRIVATE) {
        OHSM_ENSURE(private_der_len > 0 && private_der_len <= OHSM_OBJ_ENC_MAX, OHSM_ARGUMENTS_BAD);
        o->value_len = (uint32_t)private_der_len;
        return OHSM_OK;
    }
    OHSM_ENSURE(o->cls == OHSM_CLASS_PUBLIC, OHSM_KEY_TYPE_INCONSISTENT);
    if (o->ktype == OHSM_KT_RSA) {
        OHSM_ENSURE(o->modulus_bits > 0 && o->modulus_bits <= 8 * OHSM_SPKI_MAX,
                    OHSM_KEY_SIZE_RANGE);
        o->value_len = 2 * ((o->modulus_bits + 7) / 8);
        return OHSM_OK;
    }
    /* The X9.62 point inside CKA_EC_POINT's OCTET STRING (2- or 3-byte header). */
    OHSM_TRY(ec_point(o, pt, sizeof(pt), &n));
    OHSM_ENSURE(n > 3, OHSM_DEVICE_ERROR);
    o->value_len = (uint32_t)(n - (pt[1] == 0x81 ? 3 : 2));
    return OHSM_OK;
}

bool ohsm_obj_match(const struct ohsm_obj *o, const struct ohsm_tmpl *t)
{
    uint8_t v[600];
    size_t n = 0;

    if (o == NULL || t == NULL) {
        return false;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (ohsm_obj_attr_get(o, t->a[i].id, v, sizeof(v), &n) != OHSM_OK || n != t->a[i].len ||
            (n > 0 && memcmp(v, t->a[i].val, n) != 0)) {
            return false;
        }
    }
    return true;
}

/* ---- rules ---- */

/* Attributes a template may give only to confirm what the object already is (its class, type,
 * sizes, curve, exponent): a different value contradicts the object. */
static bool is_shape(uint32_t id)
{
    return id == OHSM_A_CLASS || id == OHSM_A_KEY_TYPE || id == OHSM_A_VALUE_LEN ||
           id == OHSM_A_MODULUS_BITS || id == OHSM_A_CURVE || id == OHSM_A_EC_PARAMS ||
           id == OHSM_A_PUBLIC_EXPONENT;
}

/* Sets a plain (non-shape, non-derived) attribute. The value is already shape-checked. */
static void set_value(struct ohsm_obj *o, const struct ohsm_attr_def *d,
                      const struct ohsm_tmpl_attr *a)
{
    if (d->kind == OHSM_AK_BOOL) {
        o->flags = a->val[0] ? (o->flags | d->flag) : (o->flags & ~d->flag);
    } else if (d->id == OHSM_A_LABEL) {
        memcpy(o->label, a->val, a->len);
        o->label[a->len] = '\0';
    } else if (d->id == OHSM_A_ID) {
        if (a->len > 0) {
            memcpy(o->id, a->val, a->len);
        }
        o->id_len = a->len;
    } else if (d->id == OHSM_A_QUORUM_MANAGE || d->id == OHSM_A_QUORUM_USE) {
        *(d->id == OHSM_A_QUORUM_MANAGE ? &o->quorum_manage : &o->quorum_use) = be32v(a->val);
    } else if (d->id == OHSM_A_ROLE_CLASS) {
        o->role_class = be32v(a->val);
    }
}

ohsm_rv ohsm_obj_apply_template(struct ohsm_obj *o, const struct ohsm_tmpl *t)
{
    OHSM_ENSURE(o != NULL && t != NULL && t->n <= OHSM_TMPL_MAX, OHSM_ARGUMENTS_BAD);
    struct ohsm_obj c = *o; /* all or nothing: work on a copy */
    uint8_t v[600];
    size_t n = 0;

    for (size_t i = 0; i < t->n; i++) {
        const struct ohsm_tmpl_attr *a = &t->a[i];
        const struct ohsm_attr_def *d = ohsm_attr_by_id(a->id);
        OHSM_ENSURE(d != NULL, OHSM_ATTRIBUTE_TYPE_INVALID);
        OHSM_ENSURE(a->val != NULL || a->len == 0, OHSM_ARGUMENTS_BAD);
        OHSM_ENSURE(ohsm_obj_value_ok(d, a->len, a->val), OHSM_ATTRIBUTE_VALUE_INVALID);
        OHSM_ENSURE(d->at_create, OHSM_ATTRIBUTE_READ_ONLY);
        if (is_shape(a->id)) {
            /* An exponent not yet known (no public key yet) cannot be contradicted. */
            if (a->id == OHSM_A_PUBLIC_EXPONENT && o->ktype == OHSM_KT_RSA && o->spki_len == 0) {
                continue;
            }
            ohsm_rv rv = ohsm_obj_attr_get(o, a->id, v, sizeof(v), &n);
            OHSM_ENSURE(rv == OHSM_OK && n == a->len && memcmp(v, a->val, n) == 0,
                        OHSM_TEMPLATE_INCONSISTENT);
            continue;
        }
        /* PKCS#11 §4.8: public keys have no sensitive attribute to turn on. */
        OHSM_ENSURE(!(a->id == OHSM_A_SENSITIVE && a->val[0] && o->cls == OHSM_CLASS_PUBLIC),
                    OHSM_TEMPLATE_INCONSISTENT);
        /* A role class is given once, when the key is made. */
        OHSM_ENSURE(a->id != OHSM_A_ROLE_CLASS || o->role_class == OHSM_ROLE_NONE ||
                        o->role_class == be32v(a->val),
                    OHSM_TEMPLATE_INCONSISTENT);
        set_value(&c, d, a);
    }
    /* Checked on the result, so the template's order does not matter. */
    OHSM_ENSURE(ohsm_obj_roles_ok(&c), OHSM_TEMPLATE_INCONSISTENT);
    c.flags &= ~(uint32_t)(OHSM_F_ALWAYS_SENSITIVE | OHSM_F_NEVER_EXTRACTABLE);
    if (ohsm_obj_has(&c, OHSM_F_SENSITIVE)) {
        c.flags |= OHSM_F_ALWAYS_SENSITIVE;
    }
    if (!ohsm_obj_has(&c, OHSM_F_EXTRACTABLE)) {
        c.flags |= OHSM_F_NEVER_EXTRACTABLE;
    }
    *o = c;
    return OHSM_OK;
}

ohsm_rv ohsm_obj_set_check(const struct ohsm_obj *o, const struct ohsm_tmpl_attr *a,
                           enum ohsm_utype t, bool is_owner)
{
    OHSM_ENSURE(o != NULL && a != NULL && (a->val != NULL || a->len == 0), OHSM_ARGUMENTS_BAD);
    const struct ohsm_attr_def *d = ohsm_attr_by_id(a->id);
    OHSM_ENSURE(d != NULL, OHSM_ATTRIBUTE_TYPE_INVALID);
    OHSM_ENSURE(d->settable, OHSM_ATTRIBUTE_READ_ONLY);
    OHSM_ENSURE(ohsm_obj_value_ok(d, a->len, a->val), OHSM_ATTRIBUTE_VALUE_INVALID);
    if (a->id == OHSM_A_TRUSTED) {
        /* Only an admin marks keys trusted (PKCS#11 §4.8: CKA_TRUSTED needs the SO). */
        OHSM_ENSURE(t == OHSM_UT_CO, OHSM_ACCESS_DENIED);
        return OHSM_OK;
    }
    OHSM_ENSURE(t == OHSM_UT_CU, OHSM_ACCESS_DENIED);
    OHSM_ENSURE(is_owner, OHSM_KEY_NOT_OWNER);
    bool now = d->kind == OHSM_AK_BOOL && ohsm_obj_has(o, d->flag);
    bool want = d->kind == OHSM_AK_BOOL && a->val[0] != 0;
    if (a->id == OHSM_A_MODIFIABLE) {
        OHSM_ENSURE(!want || now, OHSM_ATTRIBUTE_READ_ONLY); /* true -> false only */
        return OHSM_OK;
    }
    OHSM_ENSURE(ohsm_obj_has(o, OHSM_F_MODIFIABLE), OHSM_ATTRIBUTE_READ_ONLY);
    /* Issue 15: the immutable role class decides, not the key's other flags now (which may differ
     * between HSMs that got a set-attribute each): one key never gets both roles anywhere. */
    OHSM_ENSURE(!want || (d->flag & role_forbidden(o->role_class)) == 0,
                OHSM_TEMPLATE_INCONSISTENT);
    switch (a->id) {
    case OHSM_A_SENSITIVE:
        OHSM_ENSURE(o->cls != OHSM_CLASS_PUBLIC, OHSM_ATTRIBUTE_READ_ONLY);
        OHSM_ENSURE(want || !now, OHSM_ATTRIBUTE_READ_ONLY); /* false -> true only */
        break;
    case OHSM_A_WRAP_WITH_TRUSTED:
        OHSM_ENSURE(want || !now, OHSM_ATTRIBUTE_READ_ONLY); /* false -> true only */
        break;
    case OHSM_A_TOKEN:
        /* key_mgmt_util's setAttribute makes a session key persistent, never the reverse. */
        OHSM_ENSURE(want || !now, OHSM_ATTRIBUTE_READ_ONLY);
        break;
    default:
        break;
    }
    return OHSM_OK;
}

ohsm_rv ohsm_obj_set_apply(struct ohsm_obj *o, const struct ohsm_tmpl_attr *a)
{
    OHSM_ENSURE(o != NULL && a != NULL && (a->val != NULL || a->len == 0), OHSM_ARGUMENTS_BAD);
    const struct ohsm_attr_def *d = ohsm_attr_by_id(a->id);
    OHSM_ENSURE(d != NULL, OHSM_ATTRIBUTE_TYPE_INVALID);
    OHSM_ENSURE(d->settable, OHSM_ATTRIBUTE_READ_ONLY);
    OHSM_ENSURE(ohsm_obj_value_ok(d, a->len, a->val), OHSM_ATTRIBUTE_VALUE_INVALID);
    struct ohsm_obj c = *o;
    set_value(&c, d, a);
    /* ohsm_obj_set_check refuses this first; kept here too so no caller can skip it. */
    OHSM_ENSURE(ohsm_obj_roles_ok(&c), OHSM_TEMPLATE_INCONSISTENT);
    /* always-sensitive stays as it was: a key made sensitive later was not always so. */
    c.version++;
    *o = c;
    return OHSM_OK;
}

ohsm_rv ohsm_obj_quorum_check(const struct ohsm_obj *o)
{
    OHSM_ENSURE(o != NULL, OHSM_ARGUMENTS_BAD);
    uint32_t users = 1 + o->nshared; /* the owner and the crypto users it is shared with */
    uint32_t need = o->quorum_manage > o->quorum_use ? o->quorum_manage : o->quorum_use;
    /* 0 and 1 both mean no quorum; above 1 the key's own users must be able to reach it. */
    OHSM_ENSURE(need <= 1 || need <= users, OHSM_QUORUM_VALUE_INVALID);
    return OHSM_OK;
}

bool ohsm_obj_is_owner(const struct ohsm_obj *o, const char *username)
{
    return o != NULL && username != NULL && username[0] != '\0' &&
           strcasecmp(o->owner, username) == 0;
}

bool ohsm_obj_may_use(const struct ohsm_obj *o, const char *username)
{
    if (ohsm_obj_is_owner(o, username)) {
        return true;
    }
    for (uint32_t i = 0; o != NULL && username != NULL && i < o->nshared; i++) {
        if (strcasecmp(o->shared[i], username) == 0) {
            return true;
        }
    }
    return false;
}

bool ohsm_obj_owned_by(const struct ohsm_obj *o, uint32_t uid, const char *username)
{
    if (o == NULL) {
        return false;
    }
    return o->owner_id != 0 ? uid != 0 && o->owner_id == uid : ohsm_obj_is_owner(o, username);
}

bool ohsm_obj_usable_by(const struct ohsm_obj *o, uint32_t uid, const char *username)
{
    if (o == NULL || o->owner_id == 0) {
        return ohsm_obj_may_use(o, username);
    }
    if (uid == 0) {
        return false;
    }
    if (o->owner_id == uid) {
        return true;
    }
    for (uint32_t i = 0; i < o->nshared && i < OHSM_SHARE_MAX; i++) {
        if (o->shared_id[i] == uid) {
            return true;
        }
    }
    return false;
}

static void drop_share(struct ohsm_obj *o, uint32_t i)
{
    uint32_t rest = o->nshared - i - 1;
    memmove(o->shared[i], o->shared[i + 1], rest * sizeof(o->shared[0]));
    memmove(&o->shared_id[i], &o->shared_id[i + 1], rest * sizeof(o->shared_id[0]));
    o->nshared--;
    memset(o->shared[o->nshared], 0, sizeof(o->shared[0]));
    o->shared_id[o->nshared] = 0;
}

bool ohsm_obj_forget_user(struct ohsm_obj *o, uint32_t uid, const char *username)
{
    bool changed = false;
    for (uint32_t i = 0; o != NULL && i < o->nshared && i < OHSM_SHARE_MAX;) {
        bool match = o->owner_id != 0 ? uid != 0 && o->shared_id[i] == uid
                                      : username != NULL && strcasecmp(o->shared[i], username) == 0;
        if (match) {
            drop_share(o, i);
            changed = true;
        } else {
            i++;
        }
    }
    if (changed) {
        o->version++;
    }
    return changed;
}

ohsm_rv ohsm_obj_share_user(struct ohsm_obj *o, uint32_t uid, const char *username, bool share)
{
    char u[OHSM_USERNAME_MAX + 1];
    uint32_t i = 0;

    OHSM_ENSURE(o != NULL && username != NULL, OHSM_ARGUMENTS_BAD);
    if (o->owner_id == 0) {
        return ohsm_obj_share(o, username, share); /* a record of before ids: names only */
    }
    OHSM_ENSURE(uid != 0 && uid != o->owner_id, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_username_canon(username, u, sizeof(u)));
    OHSM_ENSURE(o->nshared <= OHSM_SHARE_MAX, OHSM_ARGUMENTS_BAD);
    for (uint32_t k = 0; k < o->nshared; k++) {
        if (o->shared_id[k] == uid) {
            if (!share) {
                drop_share(o, k);
                o->version++;
            }
            return OHSM_OK;
        }
    }
    if (!share) {
        return OHSM_OK;
    }
    while (i < o->nshared && strcmp(o->shared[i], u) < 0) {
        i++;
    }
    /* Another id under this name: a deleted user's leftover share; the live user replaces it. */
    if (i < o->nshared && strcmp(o->shared[i], u) == 0) {
        drop_share(o, i);
    }
    OHSM_ENSURE(o->nshared < OHSM_SHARE_MAX, OHSM_DATA_LEN_RANGE);
    memmove(o->shared[i + 1], o->shared[i], (o->nshared - i) * sizeof(o->shared[0]));
    memmove(&o->shared_id[i + 1], &o->shared_id[i], (o->nshared - i) * sizeof(o->shared_id[0]));
    memcpy(o->shared[i], u, sizeof(u));
    o->shared_id[i] = uid;
    o->nshared++;
    o->version++;
    return OHSM_OK;
}

ohsm_rv ohsm_obj_share(struct ohsm_obj *o, const char *username, bool share)
{
    char u[OHSM_USERNAME_MAX + 1];
    uint32_t i = 0;

    OHSM_ENSURE(o != NULL && username != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_username_canon(username, u, sizeof(u)));
    OHSM_ENSURE(strcmp(u, o->owner) != 0, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(o->nshared <= OHSM_SHARE_MAX, OHSM_ARGUMENTS_BAD);
    while (i < o->nshared && strcmp(o->shared[i], u) < 0) {
        i++;
    }
    bool present = i < o->nshared && strcmp(o->shared[i], u) == 0;
    if (share == present) {
        return OHSM_OK;
    }
    if (share) {
        OHSM_ENSURE(o->nshared < OHSM_SHARE_MAX, OHSM_DATA_LEN_RANGE);
        memmove(o->shared[i + 1], o->shared[i], (o->nshared - i) * sizeof(o->shared[0]));
        memcpy(o->shared[i], u, sizeof(u));
        o->nshared++;
    } else {
        memmove(o->shared[i], o->shared[i + 1], (o->nshared - i - 1) * sizeof(o->shared[0]));
        o->nshared--;
        memset(o->shared[o->nshared], 0, sizeof(o->shared[0]));
    }
    o->version++;
    return OHSM_OK;
}

/* Which uses each class and type allows at all (before looking at the key's flags). */
static bool use_fits(const struct ohsm_obj *o, enum ohsm_use u)
{
    bool pub = o->cls == OHSM_CLASS_PUBLIC, priv = o->cls == OHSM_CLASS_PRIVATE;
    switch (o->ktype) {
    case OHSM_KT_AES:
    case OHSM_KT_DES3:
        return u == OHSM_USE_ENCRYPT || u == OHSM_USE_DECRYPT || u == OHSM_USE_WRAP ||
               u == OHSM_USE_UNWRAP;
    case OHSM_KT_GENERIC_SECRET:
        return u == OHSM_USE_SIGN || u == OHSM_USE_VERIFY || u == OHSM_USE_DERIVE;
    case OHSM_KT_RSA:
        return (pub && (u == OHSM_USE_ENCRYPT || u == OHSM_USE_VERIFY || u == OHSM_USE_WRAP)) ||
               (priv && (u == OHSM_USE_DECRYPT || u == OHSM_USE_SIGN || u == OHSM_USE_UNWRAP));
    case OHSM_KT_EC:
        /* derive: ECDH with the private key (PKCS#11 CKM_ECDH1_DERIVE, issue 15) */
        return (pub && u == OHSM_USE_VERIFY) ||
               (priv && (u == OHSM_USE_SIGN || u == OHSM_USE_DERIVE));
    default:
        return false;
    }
}

static const uint32_t use_flag[] = {
    [OHSM_USE_ENCRYPT] = OHSM_F_ENCRYPT, [OHSM_USE_DECRYPT] = OHSM_F_DECRYPT,
    [OHSM_USE_SIGN] = OHSM_F_SIGN,       [OHSM_USE_VERIFY] = OHSM_F_VERIFY,
    [OHSM_USE_WRAP] = OHSM_F_WRAP,       [OHSM_USE_UNWRAP] = OHSM_F_UNWRAP,
    [OHSM_USE_DERIVE] = OHSM_F_DERIVE,
};

ohsm_rv ohsm_obj_check_use(const struct ohsm_obj *o, enum ohsm_use u)
{
    OHSM_ENSURE(o != NULL && (unsigned)u < COUNT(use_flag), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(use_fits(o, u), OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(ohsm_obj_has(o, use_flag[u]), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    /* No record holds a flag outside its role class (creation, set-attribute and decode refuse
     * one); checked again where the key is used. */
    OHSM_ENSURE((use_flag[u] & role_forbidden(o->role_class)) == 0,
                OHSM_KEY_FUNCTION_NOT_PERMITTED);
    return OHSM_OK;
}

ohsm_rv ohsm_obj_check_wrap(const struct ohsm_obj *payload, const struct ohsm_obj *wrapping)
{
    OHSM_ENSURE(payload != NULL && wrapping != NULL, OHSM_ARGUMENTS_BAD);
    /* Only secret and private keys are wrapped (PKCS#11 §5.18); public keys are exported. */
    OHSM_ENSURE(payload->cls != OHSM_CLASS_PUBLIC, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(ohsm_obj_has(payload, OHSM_F_EXTRACTABLE), OHSM_KEY_UNEXTRACTABLE);
    OHSM_TRY(ohsm_obj_check_use(wrapping, OHSM_USE_WRAP));
    if (ohsm_obj_has(payload, OHSM_F_WRAP_WITH_TRUSTED)) {
        OHSM_ENSURE(ohsm_obj_has(wrapping, OHSM_F_TRUSTED), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    }
    /* Issue 15: a sensitive key made with a role class leaves only under a wrapping-class key,
     * which can never decrypt the blob: else any key without a class (which anyone may make with
     * wrap and decrypt, on the raw wire or with the CLI) would take it out in clear. And only
     * under one whose value nobody outside knows: generated in the HSM (local), or vouched for by
     * an admin (trusted, PKCS#11 §4.8). An imported or unwrapped wrapping key may have a value of
     * the caller's choosing, who would unwrap the blob outside. */
    if (payload->role_class != OHSM_ROLE_NONE && ohsm_obj_has(payload, OHSM_F_SENSITIVE)) {
        OHSM_ENSURE(wrapping->role_class == OHSM_ROLE_WRAPPING &&
                        ohsm_obj_has(wrapping, OHSM_F_LOCAL | OHSM_F_TRUSTED),
                    OHSM_KEY_FUNCTION_NOT_PERMITTED);
    }
    return OHSM_OK;
}

ohsm_rv ohsm_obj_check_unwrap(const struct ohsm_obj *unwrapping, const struct ohsm_tmpl *t)
{
    bool classed = false;

    OHSM_ENSURE(unwrapping != NULL && t != NULL && t->n <= OHSM_TMPL_MAX, OHSM_ARGUMENTS_BAD);
    if (unwrapping->role_class == OHSM_ROLE_NONE) {
        return OHSM_OK; /* as before issue 15 */
    }
    /* What a wrapping-class key wrapped was a sensitive key with a class (or may have been): its
     * copy gets a class and stays sensitive, so only ohsm_obj_check_wrap's keys take it out again.
     * Without this, unwrapping it as a key of no class, or not sensitive, would launder it. */
    for (size_t i = 0; i < t->n; i++) {
        const struct ohsm_tmpl_attr *a = &t->a[i];
        OHSM_ENSURE(a->val != NULL || a->len == 0, OHSM_ARGUMENTS_BAD);
        if (a->id == OHSM_A_ROLE_CLASS && a->len == 4) {
            classed = be32v(a->val) != OHSM_ROLE_NONE;
        }
        OHSM_ENSURE(!(a->id == OHSM_A_SENSITIVE && a->len == 1 && a->val[0] == 0),
                    OHSM_TEMPLATE_INCONSISTENT);
    }
    OHSM_ENSURE(classed, OHSM_TEMPLATE_INCONSISTENT);
    return OHSM_OK;
}
