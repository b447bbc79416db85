/* SPDX-License-Identifier: Apache-2.0
 *
 * PKCS#11 attribute templates <-> openhsm key objects: the pure translation layer of
 * libopenhsm-pkcs11.so. Parses application templates (CK_ATTRIBUTE arrays, untrusted: every type,
 * length and pointer is checked) into HSM templates (struct ohsm_tmpl_buf, obj.h) and key
 * material, and answers C_GetAttributeValue / C_FindObjects from an object record. No I/O, no
 * libopenhsm calls; thread-safe (no state). Rules: PKCS#11 v2.40 §4 (object classes) and §5.7
 * (object management), with AWS CloudHSM's PKCS#11 defaults.
 *
 * Value forms given to applications: CK_ULONG native (class, key type, modulus bits, value len,
 * key gen mechanism), CK_BBOOL for booleans, raw bytes for label/id/check value, big-endian
 * integers without leading zeros for RSA numbers, DER for EC parameters, EC points and
 * CKA_PUBLIC_KEY_INFO. Key material is never given: secret and private values are sensitive on
 * every key, since the HSM never releases them in clear.
 */
#ifndef OHSM_P11_ATTR_H
#define OHSM_P11_ATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck.h"
#include "openhsm/obj.h"

/* What the template of an object-making call is for. */
enum p11_make {
    P11_MAKE_GENERATE,     /* C_GenerateKey: a secret key */
    P11_MAKE_PAIR_PUBLIC,  /* C_GenerateKeyPair, public template */
    P11_MAKE_PAIR_PRIVATE, /* C_GenerateKeyPair, private template */
    P11_MAKE_CREATE,       /* C_CreateObject: a key with its material in the template */
    P11_MAKE_UNWRAP,       /* C_UnwrapKey: the new key's template */
    P11_MAKE_DERIVE,       /* C_DeriveKey: the new secret key's template */
};

struct p11_make_out {
    CK_OBJECT_CLASS cls; /* from the template, else the implied class */
    CK_KEY_TYPE ktype;   /* from the template, else the implied type */
    bool has_value_len;
    CK_ULONG value_len; /* CKA_VALUE_LEN (bytes) */
    bool has_modulus_bits;
    CK_ULONG modulus_bits;
    uint64_t public_exponent; /* CKA_PUBLIC_EXPONENT (big-endian bytes, <= 8 of them); 0 = absent */
    uint32_t curve;           /* enum ohsm_curve from CKA_EC_PARAMS; 0 = absent */
    bool token;               /* CKA_TOKEN (default false) */
    struct ohsm_tmpl_buf tmpl; /* the HSM creation template */
    uint8_t *material;         /* P11_MAKE_CREATE only: raw secret / PKCS#8 DER / SPKI DER */
    size_t material_len;       /* (wiped and freed by p11_make_clear) */
};

/* Parses an application template t of n attributes (untrusted; t may be NULL when n is 0).
 * implied_cls / implied_ktype: what the mechanism makes (e.g. CKO_SECRET_KEY/CKK_AES for
 * CKM_AES_KEY_GEN), or CK_UNAVAILABLE_INFORMATION when the template must say it (CREATE, UNWRAP).
 * A template value that contradicts the implied one: CKR_TEMPLATE_INCONSISTENT.
 *
 * out->tmpl gets every boolean the HSM stores (the template's value or CloudHSM's PKCS#11
 * default: token false, private true, usages false, modifiable/destroyable/extractable true,
 * sensitive true for secret and private keys, wrap-with-trusted false), plus class, key type,
 * label, id and the sizes the HSM checks (value len of secret keys; modulus bits, exponent, curve
 * of the template they came from). Attributes the HSM model keeps fixed (copyable true, empty
 * dates and subject, *_RECOVER equal to SIGN/VERIFY, always-authenticate false, trusted false)
 * are accepted with those values only (else CKR_ATTRIBUTE_VALUE_INVALID) and not put.
 *
 * Errors: CKR_ARGUMENTS_BAD (out NULL, t NULL with n > 0, an unknown kind, an implied class or
 * key type the HSM does not hold), CKR_ATTRIBUTE_TYPE_INVALID (unknown type),
 * CKR_ATTRIBUTE_VALUE_INVALID (bad size, NULL value with a length, unsupported class or key type,
 * malformed number or DER, key components that do not make a key, a value the model cannot
 * honour), CKR_CURVE_NOT_SUPPORTED (a named curve the HSM lacks), CKR_ATTRIBUTE_READ_ONLY (an
 * attribute no template of this kind may set), CKR_TEMPLATE_INCOMPLETE (class/key type, modulus
 * bits, EC params, AES/generic value length, key components missing), CKR_TEMPLATE_INCONSISTENT
 * (duplicates with different values, contradictions, an attribute not of this class or key type),
 * CKR_HOST_MEMORY, CKR_FUNCTION_FAILED (OpenSSL). On error *out is cleared (nothing to free). */
CK_RV p11_make_parse(enum p11_make kind, const CK_ATTRIBUTE *t, CK_ULONG n,
                     CK_OBJECT_CLASS implied_cls, CK_KEY_TYPE implied_ktype,
                     struct p11_make_out *out);
/* Wipes and frees the material, clears *out. Safe on a cleared struct and on NULL. */
void p11_make_clear(struct p11_make_out *out);

/* C_GetAttributeValue of object o (PKCS#11 v2.40 §5.7): every attribute is processed; for each:
 * not an attribute of this object -> ulValueLen = CK_UNAVAILABLE_INFORMATION and
 * CKR_ATTRIBUTE_TYPE_INVALID; sensitive (key material of every secret and private key) ->
 * CK_UNAVAILABLE_INFORMATION, CKR_ATTRIBUTE_SENSITIVE; pValue NULL -> the length; too small ->
 * CK_UNAVAILABLE_INFORMATION, CKR_BUFFER_TOO_SMALL; else the value. Returns CKR_OK or the first
 * of those codes that applied (CKR_ARGUMENTS_BAD: o NULL, or t NULL with n > 0). */
CK_RV p11_attr_get(const struct ohsm_obj *o, CK_ATTRIBUTE *t, CK_ULONG n);
/* The encoded size of o's record (C_GetObjectSize); CK_UNAVAILABLE_INFORMATION if it has none. */
CK_ULONG p11_attr_size(const struct ohsm_obj *o);

/* C_SetAttributeValue / C_CopyObject: the template as an HSM template (what
 * ohsm_client_key_set_attrs takes); out is initialised here. Shape checks only (the HSM applies
 * the rules): unknown type -> CKR_ATTRIBUTE_TYPE_INVALID, bad size or a value the model cannot
 * honour -> CKR_ATTRIBUTE_VALUE_INVALID, attributes that can never change ->
 * CKR_ATTRIBUTE_READ_ONLY, the same attribute twice with different values ->
 * CKR_TEMPLATE_INCONSISTENT. *token_set / *token_val report CKA_TOKEN (not put into out).
 * Attributes fixed by the model given their fixed value (copyable true, empty dates ...) are
 * accepted and not put. */
CK_RV p11_attr_set_parse(const CK_ATTRIBUTE *t, CK_ULONG n, struct ohsm_tmpl_buf *out,
                         bool *token_set, bool *token_val);

/* C_FindObjectsInit: validates the template's shape (a known attribute of the wrong size ->
 * CKR_ATTRIBUTE_VALUE_INVALID; unknown types are fine: they match nothing) and puts what the HSM
 * can filter on (class, key type, label, id, the booleans it stores) into prefilter (initialised
 * here). Every object p11_attr_match accepts passes the prefilter. */
CK_RV p11_attr_find_parse(const CK_ATTRIBUTE *t, CK_ULONG n, struct ohsm_tmpl_buf *prefilter);
/* Does o have every attribute of t with exactly that value (as p11_attr_get would give it)? An
 * attribute o lacks, a sensitive one, or a malformed one matches nothing. An empty t matches. */
bool p11_attr_match(const struct ohsm_obj *o, const CK_ATTRIBUTE *t, CK_ULONG n);

/* CKA_EC_PARAMS (DER OID of a named curve, or the printable-string form some tools send) ->
 * enum ohsm_curve (0 when unknown), and back (DER OID, static; NULL when unknown). */
uint32_t p11_curve_from_params(const uint8_t *p, size_t n);
const uint8_t *p11_curve_params(uint32_t curve, size_t *n);

/* ---- internals shared by attr.c, attr_make.c and attr_get.c (not for the module) ---- */

/* Value kinds of PKCS#11 attributes. */
enum p11_kind { P11K_ULONG, P11K_BOOL, P11K_BYTES, P11K_DATE };

/* Class bits (which key classes have an attribute). */
#define P11C_PUB 1u
#define P11C_PRIV 2u
#define P11C_SEC 4u
#define P11C_KEYS (P11C_PUB | P11C_PRIV | P11C_SEC)
/* Key type bits (0 = every key type). */
#define P11T_RSA 1u
#define P11T_EC 2u

/* How templates treat an attribute. */
enum p11_role {
    P11R_PLAIN,     /* stored by the HSM as a template attribute (booleans, label, id) */
    P11R_FIXED,     /* the model keeps one value: accepted with it, else VALUE_INVALID */
    P11R_SHAPE,     /* class, key type, sizes: creation only, never changed later */
    P11R_COMPONENT, /* key material or its public parts: C_CreateObject only */
    P11R_READONLY,  /* set by the HSM only */
};

struct p11_adef {
    CK_ATTRIBUTE_TYPE type;
    enum p11_kind kind;
    uint8_t classes; /* P11C_ bits of the keys that have it */
    uint8_t ktypes;  /* P11T_ bits, 0 = any */
    enum p11_role role;
    uint32_t ohsm; /* the HSM attribute id, or UINT32_MAX when the HSM has none */
};

/* The definition of type, NULL when unknown. */
const struct p11_adef *p11_attr_def(CK_ATTRIBUTE_TYPE type);
/* P11C_ bit of an HSM class (0 when not a key class), P11T_ bit of an HSM key type. */
uint8_t p11_class_bit(uint32_t cls);
uint8_t p11_ktype_bit(uint32_t ktype);
/* Checks one attribute's shape: known (CKR_ATTRIBUTE_TYPE_INVALID), pValue NULL with a length,
 * CK_BBOOL of 1 byte, CK_ULONG of sizeof(CK_ULONG), dates empty or 8 bytes
 * (CKR_ATTRIBUTE_VALUE_INVALID). *d gets the definition. */
CK_RV p11_attr_shape(const CK_ATTRIBUTE *a, const struct p11_adef **d);
/* A CK_BBOOL / CK_ULONG value of a shape-checked attribute. */
bool p11_attr_bool(const CK_ATTRIBUTE *a);
CK_ULONG p11_attr_ulong(const CK_ATTRIBUTE *a);
/* Is the value of a fixed attribute (P11R_FIXED) the one the model keeps? sign / verify: the
 * template's final CKA_SIGN / CKA_VERIFY (for the *_RECOVER attributes). */
bool p11_attr_fixed_ok(const CK_ATTRIBUTE *a, bool sign, bool verify);
/* Do two shape-checked values of one attribute agree (booleans by truth, others by bytes)? */
bool p11_attr_same(const CK_ATTRIBUTE *a, const CK_ATTRIBUTE *b);
/* The value of attribute type of o as p11_attr_get gives it, into buf (cap bytes; P11_VAL_MAX is
 * always enough). CKR_OK, CKR_ATTRIBUTE_TYPE_INVALID or CKR_ATTRIBUTE_SENSITIVE. */
#define P11_VAL_MAX (OHSM_SPKI_MAX + 16)
CK_RV p11_attr_value(const struct ohsm_obj *o, CK_ATTRIBUTE_TYPE type, uint8_t *buf, size_t cap,
                     size_t *len);
/* Key material of a C_CreateObject template of a key of this class and type (attr_key.c; curve
 * from CKA_EC_PARAMS for EC keys): raw secret, PKCS#8 or SPKI DER, OPENSSL_secure_malloc'd (free
 * with ohsm_mech_der_free). Errors as p11_make_parse. */
CK_RV p11_make_material(const CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_CLASS cls, CK_KEY_TYPE ktype,
                        uint32_t curve, uint8_t **material, size_t *len);
/* The table: index of a definition, number of definitions (arrays indexed by definition). */
size_t p11_attr_index(const struct p11_adef *d);
size_t p11_attr_count(void);
/* Shape-checks a and remembers the first attribute of each type in first[] (p11_attr_count()
 * entries, by table index); a repeated type must agree with the first (else
 * CKR_TEMPLATE_INCONSISTENT) and sets *dup. Errors as p11_attr_shape. */
CK_RV p11_attr_take(const CK_ATTRIBUTE *a, const CK_ATTRIBUTE **first, const struct p11_adef **d,
                    bool *dup);
/* A label the HSM takes: at most OHSM_LABEL_MAX bytes, no NUL. */
bool p11_label_ok(const CK_ATTRIBUTE *a);
/* The first attribute of type in t, NULL if none. */
const CK_ATTRIBUTE *p11_make_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type);

#endif
