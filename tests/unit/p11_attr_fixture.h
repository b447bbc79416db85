/* SPDX-License-Identifier: Apache-2.0
 * The shared fixture of the PKCS#11 attribute unit tests (tests/unit/test_p11_attr*.c): attribute
 * constants and template macros, the HSM template of a make result (tmpl_of, tmpl_find), make()
 * with its error-path checks, C_GetAttributeValue helpers (get_ulong, get_bool, get_code,
 * get_bytes) and the HSM's own object making (hsm_secret, hsm_half, hsm_import). Each test file
 * gets its own copy (static). Self-contained: it includes cmocka and its prerequisites, the
 * OpenSSL headers the tests use and the openhsm / p11 attribute headers. */
#ifndef OHSM_P11_ATTR_FIXTURE_H
#define OHSM_P11_ATTR_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "pkcs11/attr.h"

/* Objects some including files do not use. */
#define P11_AFX_UNUSED __attribute__((unused))

/* ---- helpers ---- */

static P11_AFX_UNUSED CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static P11_AFX_UNUSED CK_OBJECT_CLASS c_pub = CKO_PUBLIC_KEY, c_priv = CKO_PRIVATE_KEY,
                                      c_sec = CKO_SECRET_KEY, c_data = CKO_DATA;
static P11_AFX_UNUSED CK_KEY_TYPE k_rsa = CKK_RSA, k_ec = CKK_EC, k_aes = CKK_AES,
                                  k_gen = CKK_GENERIC_SECRET, k_dsa = CKK_DSA;
static P11_AFX_UNUSED CK_ULONG len32 = 32, len16 = 16, bits2048 = 2048;
static P11_AFX_UNUSED uint8_t e65537[] = {0x01, 0x00, 0x01};
static P11_AFX_UNUSED uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
#define UNAV CK_UNAVAILABLE_INFORMATION

#define BOOL(t, v)                                                                                 \
    {                                                                                              \
        (t), (v) ? &yes : &no, sizeof(CK_BBOOL)                                                    \
    }
#define ULONG(t, var)                                                                              \
    {                                                                                              \
        (t), &(var), sizeof(CK_ULONG)                                                              \
    }
#define BYTES(t, p, n)                                                                             \
    {                                                                                              \
        (t), (void *)(p), (n)                                                                      \
    }
#define STR(t, s)                                                                                  \
    {                                                                                              \
        (t), (void *)(s), sizeof(s) - 1                                                            \
    }
#define N(a) ((CK_ULONG)(sizeof(a) / sizeof((a)[0])))

/* The HSM template of out, parsed as the HSM parses it. */
static inline struct ohsm_tmpl tmpl_of(const struct p11_make_out *out)
{
    struct ohsm_tmpl t;
    assert_false(out->tmpl.overflow);
    assert_int_equal(ohsm_tmpl_parse(out->tmpl.buf, out->tmpl.len, &t), OHSM_OK);
    return t;
}

/* The value of HSM attribute id in t (NULL when absent). */
static inline const struct ohsm_tmpl_attr *tmpl_find(const struct ohsm_tmpl *t, uint32_t id)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->a[i].id == id) {
            return &t->a[i];
        }
    }
    return NULL;
}

static inline CK_RV make(enum p11_make kind, CK_ATTRIBUTE *t, CK_ULONG n, CK_ULONG cls, CK_ULONG kt)
{
    struct p11_make_out out;
    CK_RV rv = p11_make_parse(kind, t, n, cls, kt, &out);
    if (rv != CKR_OK) {
        /* On error nothing is left to free and no template is given. */
        assert_null(out.material);
        assert_int_equal(out.tmpl.len, 0);
    }
    p11_make_clear(&out);
    return rv;
}

/* C_GetAttributeValue of one CK_ULONG / CK_BBOOL attribute. */
static inline CK_ULONG get_ulong(const struct ohsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
    CK_ULONG v = 0;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};
    assert_int_equal(p11_attr_get(o, &a, 1), CKR_OK);
    assert_int_equal(a.ulValueLen, sizeof(v));
    return v;
}

static inline bool get_bool(const struct ohsm_obj *o, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL v = 7;
    CK_ATTRIBUTE a = {type, &v, sizeof(v)};
    assert_int_equal(p11_attr_get(o, &a, 1), CKR_OK);
    assert_int_equal(a.ulValueLen, 1);
    assert_true(v == CK_TRUE || v == CK_FALSE);
    return v == CK_TRUE;
}

/* The attribute's code and length when asked with a large buffer. */
static inline CK_RV get_code(const struct ohsm_obj *o, CK_ATTRIBUTE_TYPE type, CK_ULONG *len)
{
    uint8_t buf[2048];
    CK_ATTRIBUTE a = {type, buf, sizeof(buf)};
    CK_RV rv = p11_attr_get(o, &a, 1);
    *len = a.ulValueLen;
    return rv;
}

static inline void get_bytes(const struct ohsm_obj *o, CK_ATTRIBUTE_TYPE type, const void *want,
                             size_t n)
{
    uint8_t buf[2048];
    CK_ATTRIBUTE a = {type, buf, sizeof(buf)};
    assert_int_equal(p11_attr_get(o, &a, 1), CKR_OK);
    assert_int_equal(a.ulValueLen, n);
    if (n > 0) {
        assert_memory_equal(buf, want, n);
    }
}

/* As the HSM makes a secret key (src/hsm/keys.c gen_secret): defaults, size, KCV, template. */
static inline struct ohsm_obj hsm_secret(const struct p11_make_out *out, uint32_t ktype, bool local,
                                         const uint8_t *key, size_t len)
{
    struct ohsm_obj o;
    struct ohsm_tmpl t = tmpl_of(out);
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, ktype, local);
    o.value_len = (uint32_t)len;
    assert_int_equal(ohsm_mech_kcv(ktype, key, len, o.kcv), OHSM_OK);
    o.has_kcv = true;
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_OK);
    return o;
}

/* As the HSM makes one half of a pair (gen_pair): defaults, public facts, template. */
static inline struct ohsm_obj hsm_half(const struct p11_make_out *out, uint32_t cls, uint32_t ktype,
                                       void *pkey, bool local)
{
    struct ohsm_obj o;
    struct ohsm_tmpl t = tmpl_of(out);
    ohsm_obj_defaults(&o, cls, ktype, local);
    assert_int_equal(ohsm_mech_fill_public(&o, pkey), OHSM_OK);
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_OK);
    return o;
}

/* As the HSM imports C_CreateObject material (src/hsm/keycore.c load_material + template):
 * the material loads, gives the public facts and the key length, and the template applies. */
static inline struct ohsm_obj hsm_import(const struct p11_make_out *out)
{
    struct ohsm_obj o;
    struct ohsm_tmpl t = tmpl_of(out);
    void *pkey = NULL;
    uint32_t cls = (uint32_t)out->cls, kt = (uint32_t)out->ktype;
    ohsm_obj_defaults(&o, cls, kt, false);
    assert_int_equal(ohsm_mech_pkey_load(cls, kt, out->material, out->material_len, &pkey),
                     OHSM_OK);
    assert_int_equal(ohsm_mech_fill_public(&o, pkey), OHSM_OK);
    assert_int_equal(ohsm_obj_set_key_len(&o, out->material_len), OHSM_OK);
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_OK);
    /* Material from outside was never guaranteed sensitive (ohsm_hsm_import). */
    o.flags &= ~(uint32_t)(OHSM_F_ALWAYS_SENSITIVE | OHSM_F_NEVER_EXTRACTABLE | OHSM_F_LOCAL);
    ohsm_mech_pkey_free(pkey);
    return o;
}

static inline size_t bn_bytes(void *pkey, const char *name, uint8_t *out, size_t cap)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(pkey, name, &bn), 1);
    int n = BN_bn2bin(bn, out);
    assert_true(n > 0 && (size_t)n <= cap);
    BN_clear_free(bn);
    return (size_t)n;
}

static P11_AFX_UNUSED CK_ATTRIBUTE label_k[] = {STR(CKA_LABEL, "k")};

#endif /* OHSM_P11_ATTR_FIXTURE_H */
