/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for the PKCS#11 attribute-template layer (src/pkcs11/attr*.c): the bytes make a
 * CK_ATTRIBUTE array with arbitrary types (PKCS#11's, unknown ones, vendor ones), lengths (bounded
 * to the data) and values, some with a NULL pValue. The array goes to p11_make_parse for every
 * kind, p11_attr_set_parse, p11_attr_find_parse, p11_attr_match and p11_attr_get on fixed objects
 * (an AES key, an EC pair made from a fixed scalar). Invariants checked: every HSM template the
 * layer gives parses as the HSM parses it; C_CreateObject material loads as a key of its class;
 * the find prefilter passes every object the template matches; get never writes past a buffer.
 *
 * Input: byte 0 picks the implied class and key type; then attributes, each a tag byte (bit 7:
 * pValue NULL; bits 0-6: a type from the list below, or the next 4 bytes as the type when the
 * index is past the list), a 2-byte big-endian length and that many value bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "pkcs11/attr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ATTRS 64

static const CK_ATTRIBUTE_TYPE types[] = {
    CKA_CLASS,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_LABEL,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_DERIVE,
    CKA_LOCAL,
    CKA_KEY_GEN_MECHANISM,
    CKA_CHECK_VALUE,
    CKA_SUBJECT,
    CKA_PUBLIC_KEY_INFO,
    CKA_ENCRYPT,
    CKA_VERIFY,
    CKA_VERIFY_RECOVER,
    CKA_WRAP,
    CKA_TRUSTED,
    CKA_SENSITIVE,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_SIGN_RECOVER,
    CKA_UNWRAP,
    CKA_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_VALUE,
    CKA_VALUE_LEN,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_APPLICATION,
    CKA_ALLOWED_MECHANISMS,
    CKA_VENDOR_DEFINED,
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static const CK_ULONG classes[] = {CKO_SECRET_KEY, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY,
                                   CK_UNAVAILABLE_INFORMATION};
static const CK_ULONG ktypes[] = {
    CKK_AES, CKK_RSA, CKK_EC, CKK_GENERIC_SECRET, CKK_DES3, CK_UNAVAILABLE_INFORMATION,
    CKK_DSA, CKK_AES};

/* The fixed objects: an AES key and both halves of an EC P-256 pair from a fixed scalar. */
static struct ohsm_obj objs[3];
static bool have_objs;

static void make_objects(void)
{
    static const uint8_t d[32] = {0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88, 0x97, 0xa6, 0xb5,
                                  0xc4, 0xd3, 0xe2, 0xf1, 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67,
                                  0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde, 0xef, 0xf0, 0x07};
    CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
    CK_KEY_TYPE ec = CKK_EC;
    size_t pl = 0;
    const uint8_t *params = p11_curve_params(OHSM_CURVE_P256, &pl);
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &priv, sizeof(priv)},
                        {CKA_KEY_TYPE, &ec, sizeof(ec)},
                        {CKA_EC_PARAMS, (void *)params, pl},
                        {CKA_VALUE, (void *)d, sizeof(d)}};
    struct p11_make_out out;
    void *pkey = NULL;

    ohsm_obj_defaults(&objs[0], OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    objs[0].value_len = 32;
    objs[0].has_kcv = true;
    memcpy(objs[0].label, "fuzz", 5);
    if (p11_make_parse(P11_MAKE_CREATE, t, 4, CK_UNAVAILABLE_INFORMATION,
                       CK_UNAVAILABLE_INFORMATION, &out) != CKR_OK ||
        ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_EC, out.material, out.material_len,
                            &pkey) != OHSM_OK) {
        abort();
    }
    ohsm_obj_defaults(&objs[1], OHSM_CLASS_PRIVATE, OHSM_KT_EC, false);
    ohsm_obj_defaults(&objs[2], OHSM_CLASS_PUBLIC, OHSM_KT_EC, false);
    if (ohsm_mech_fill_public(&objs[1], pkey) != OHSM_OK ||
        ohsm_mech_fill_public(&objs[2], pkey) != OHSM_OK) {
        abort();
    }
    ohsm_mech_pkey_free(pkey);
    p11_make_clear(&out);
    have_objs = true;
}

/* Bytes -> attributes whose values point into buf (a writable copy of the data). */
static CK_ULONG decode(const uint8_t *p, size_t n, uint8_t *buf, CK_ATTRIBUTE *t)
{
    size_t off = 0;
    CK_ULONG count = 0;

    while (count < MAX_ATTRS && n - off >= 3) {
        uint8_t tag = p[off++];
        size_t idx = tag & 0x7f;
        CK_ATTRIBUTE_TYPE type;
        if (idx < NTYPES) {
            type = types[idx];
        } else {
            if (n - off < 4) {
                break;
            }
            type = (CK_ULONG)p[off] << 24 | (CK_ULONG)p[off + 1] << 16 | (CK_ULONG)p[off + 2] << 8 |
                   p[off + 3];
            if (idx & 1) {
                type |= CKA_VENDOR_DEFINED;
            }
            off += 4;
        }
        if (n - off < 2) {
            break;
        }
        size_t len = (size_t)p[off] << 8 | p[off + 1];
        off += 2;
        if (len > n - off) {
            len = n - off;
        }
        t[count].type = type;
        t[count].pValue = (tag & 0x80) ? NULL : buf + off;
        t[count].ulValueLen = len;
        off += len;
        count++;
    }
    return count;
}

static void check_tmpl(const struct ohsm_tmpl_buf *b)
{
    struct ohsm_tmpl t;
    if (b->overflow || ohsm_tmpl_parse(b->buf, b->len, &t) != OHSM_OK) {
        abort(); /* the layer gave the HSM a template it refuses to parse */
    }
}

static void make_all(const CK_ATTRIBUTE *t, CK_ULONG n, uint8_t sel)
{
    for (int k = P11_MAKE_GENERATE; k <= P11_MAKE_DERIVE; k++) {
        struct p11_make_out out;
        CK_ULONG cls = classes[sel & 3], kt = ktypes[(sel >> 2) & 7];
        if (p11_make_parse((enum p11_make)k, t, n, cls, kt, &out) != CKR_OK) {
            if (out.material != NULL || out.tmpl.len != 0) {
                abort(); /* an error leaves nothing behind */
            }
            continue;
        }
        check_tmpl(&out.tmpl);
        if (k == P11_MAKE_CREATE) {
            void *pkey = NULL;
            if (out.material == NULL) {
                abort();
            }
            if (out.cls != CKO_SECRET_KEY) {
                /* The HSM's size policy (RSA 2048..4096 bits) is its own to enforce: a key the
                 * layer made well but of another size is refused there, whole. */
                ohsm_rv lrv = ohsm_mech_pkey_load((uint32_t)out.cls, (uint32_t)out.ktype,
                                                  out.material, out.material_len, &pkey);
                if (lrv != OHSM_OK && lrv != OHSM_KEY_SIZE_RANGE) {
                    abort(); /* material we made does not load */
                }
                ohsm_mech_pkey_free(pkey);
            }
        } else if (out.material != NULL) {
            abort();
        }
        p11_make_clear(&out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CK_ATTRIBUTE t[MAX_ATTRS];
    struct ohsm_tmpl_buf b;
    bool ts = false, tv = false;
    uint8_t *buf = NULL;

    if (size < 1) {
        return 0;
    }
    if (!have_objs) {
        make_objects();
    }
    buf = malloc(size);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    CK_ULONG n = decode(data + 1, size - 1, buf + 1, t);

    make_all(t, n, data[0]);
    if (p11_attr_set_parse(t, n, &b, &ts, &tv) == CKR_OK) {
        check_tmpl(&b);
    }
    bool find_ok = p11_attr_find_parse(t, n, &b) == CKR_OK;
    if (find_ok) {
        check_tmpl(&b);
    }
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
        if (p11_attr_match(&objs[i], t, n) && find_ok) {
            struct ohsm_tmpl pre;
            if (ohsm_tmpl_parse(b.buf, b.len, &pre) != OHSM_OK || !ohsm_obj_match(&objs[i], &pre)) {
                abort(); /* the prefilter dropped an object the template matches */
            }
        }
    }
    /* get writes into the values' own bytes (inside buf), never past ulValueLen. */
    for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
        CK_ATTRIBUTE g[MAX_ATTRS];
        memcpy(g, t, n * sizeof(t[0]));
        (void)p11_attr_get(&objs[i], g, n);
    }
    (void)p11_attr_size(&objs[data[0] % 3]);
    free(buf);
    return 0;
}
