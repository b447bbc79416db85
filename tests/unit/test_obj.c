/* SPDX-License-Identifier: Apache-2.0
 * Key objects: the attribute table and names, templates (text syntax, builder, parser), the
 * canonical record codec and every decoder rejection, creation defaults, template application,
 * the set-attribute rules, sharing, the use and wrap matrices and derived attributes; issue 5's
 * key quorum values (table rows, range, records old and new, creation only, the users check). */
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

#include "openhsm/obj.h"
#include "openhsm/token.h"

/* ---- helpers ---- */

static void set_name(char *dst, size_t cap, const char *s)
{
    int n = snprintf(dst, cap, "%s", s);
    assert_true(n >= 0 && (size_t)n < cap);
}

static struct ohsm_obj aes_key(void)
{
    struct ohsm_obj o;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    set_name(o.owner, sizeof(o.owner), "alice");
    set_name(o.label, sizeof(o.label), "k1");
    o.handle = ohsm_handle_make(3, 42);
    o.value_len = 32;
    o.kcv[0] = 0x9b, o.kcv[1] = 0x94, o.kcv[2] = 0xbd;
    o.has_kcv = true;
    return o;
}

static EVP_PKEY *ec_pkey;
static EVP_PKEY *rsa_pkey;

static void pair(struct ohsm_obj *o, uint32_t cls, uint32_t kt, EVP_PKEY *k)
{
    ohsm_obj_defaults(o, cls, kt, true);
    set_name(o->owner, sizeof(o->owner), "alice");
    uint8_t *p = o->spki;
    int n = i2d_PUBKEY(k, &p);
    assert_true(n > 0 && n <= OHSM_SPKI_MAX);
    o->spki_len = (uint32_t)n;
    if (kt == OHSM_KT_EC) {
        o->curve = OHSM_CURVE_P256;
    } else {
        o->modulus_bits = 2048;
        o->value_len = 256;
    }
}

static int setup(void **state)
{
    (void)state;
    ec_pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    rsa_pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    return ec_pkey != NULL && rsa_pkey != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(ec_pkey);
    EVP_PKEY_free(rsa_pkey);
    return 0;
}

/* Raw attribute lists, to build encodings the codec would never produce. */
struct raw {
    uint32_t id;
    uint32_t len;
    uint8_t v[1200];
};
struct rawlist {
    size_t n;
    struct raw a[96];
};

static void raw_from(const uint8_t *p, size_t n, struct rawlist *l)
{
    size_t off = 0;
    l->n = 0;
    while (off < n) {
        struct raw *r = &l->a[l->n++];
        r->id = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 | (uint32_t)p[off + 2] << 8 |
                p[off + 3];
        r->len = (uint32_t)p[off + 4] << 24 | (uint32_t)p[off + 5] << 16 |
                 (uint32_t)p[off + 6] << 8 | p[off + 7];
        memcpy(r->v, p + off + 8, r->len);
        off += 8 + r->len;
    }
}

static size_t raw_to(const struct rawlist *l, uint8_t *out)
{
    size_t off = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct raw *r = &l->a[i];
        uint8_t h[8] = {(uint8_t)(r->id >> 24), (uint8_t)(r->id >> 16),  (uint8_t)(r->id >> 8),
                        (uint8_t)r->id,         (uint8_t)(r->len >> 24), (uint8_t)(r->len >> 16),
                        (uint8_t)(r->len >> 8), (uint8_t)r->len};
        memcpy(out + off, h, 8);
        memcpy(out + off + 8, r->v, r->len);
        off += 8 + r->len;
    }
    return off;
}

static struct raw *raw_find(struct rawlist *l, uint32_t id)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->a[i].id == id) {
            return &l->a[i];
        }
    }
    fail_msg("attribute 0x%x not in the record", id);
    abort(); /* not reached: tells the compiler nobody gets NULL */
}

static void raw_append(struct rawlist *l, uint32_t id, const void *v, uint32_t len)
{
    struct raw *r = &l->a[l->n++];
    r->id = id;
    r->len = len;
    memcpy(r->v, v, len);
}

static uint8_t g_enc[OHSM_OBJ_ENC_MAX * 2];

static ohsm_rv decode_list(const struct rawlist *l)
{
    struct ohsm_obj o;
    size_t n = raw_to(l, g_enc);
    return ohsm_obj_decode(g_enc, n, &o);
}

static void valid_list(struct rawlist *l)
{
    struct ohsm_obj o = aes_key();
    uint8_t enc[OHSM_OBJ_ENC_MAX];
    size_t n = 0;
    assert_int_equal(ohsm_obj_share(&o, "bob", true), OHSM_OK);
    assert_int_equal(ohsm_obj_encode(&o, enc, sizeof(enc), &n), OHSM_OK);
    raw_from(enc, n, l);
    assert_int_equal(decode_list(l), OHSM_OK);
}

static struct ohsm_tmpl_attr tattr(uint32_t id, const uint8_t *v, uint32_t len)
{
    struct ohsm_tmpl_attr a = {id, len, v};
    return a;
}

static const uint8_t T[] = {1}, F[] = {0};

/* ---- table and names ---- */

/* The table is in CLI print order, ids and names are unique, and each lookup finds its row. */
static void test_obj_table_lookup(void **state)
{
    (void)state;
    size_t n = 0;
    const struct ohsm_attr_def *t = ohsm_attr_table(&n);
    assert_true(n >= 29);
    assert_string_equal(t[0].cli, "key-type");
    assert_string_equal(t[1].cli, "label");
    assert_string_equal(t[3].cli, "check-value");
    assert_string_equal(t[4].cli, "class");
    assert_string_equal(t[22].cli, "wrap-with-trusted");
    assert_string_equal(t[23].cli, "key-length-bytes");
    for (size_t i = 0; i < n; i++) {
        /* Only the role class (issue 15, PKCS#11's alone) has no tool name at all. */
        assert_true(t[i].cli != NULL || t[i].kmu != NULL || t[i].id == OHSM_A_ROLE_CLASS);
        assert_ptr_equal(ohsm_attr_by_id(t[i].id), &t[i]);
        if (t[i].cli != NULL) {
            assert_ptr_equal(ohsm_attr_by_cli(t[i].cli), &t[i]);
        }
        if (t[i].kmu != NULL) {
            assert_ptr_equal(ohsm_attr_by_kmu(t[i].kmu), &t[i]);
        }
        assert_true((t[i].kind == OHSM_AK_BOOL) == (t[i].flag != 0));
        for (size_t j = 0; j < i; j++) {
            assert_true(t[i].id != t[j].id);
        }
    }
    assert_int_equal(ohsm_attr_by_kmu("OBJ_ATTR_KCV")->id, 371);
    assert_int_equal(ohsm_attr_by_kmu("OBJ_ATTR_WRAP_WITH_TRUSTED")->id, 528);
    assert_int_equal(ohsm_attr_by_cli("wrap-with-trusted")->flag, OHSM_F_WRAP_WITH_TRUSTED);
    assert_null(ohsm_attr_by_cli("no-such"));
    assert_null(ohsm_attr_by_cli(NULL));
    assert_null(ohsm_attr_by_kmu(NULL));
    assert_null(ohsm_attr_by_id(OHSM_A_OWNER));
    assert_null(ohsm_attr_by_id(OHSM_A_HANDLE));
}

/* Read-only and create-only attributes are marked as the CloudHSM CLI guide lists them. */
static void test_obj_table_rules(void **state)
{
    (void)state;
    const char *never[] = {
        "always-sensitive",  "check-value",     "class",           "curve",   "ec-point",
        "extractable",       "key-type",        "local",           "modulus", "modulus-size-bits",
        "never-extractable", "public-exponent", "key-length-bytes"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        assert_false(ohsm_attr_by_cli(never[i])->settable);
    }
    assert_true(ohsm_attr_by_cli("label")->settable);
    assert_true(ohsm_attr_by_cli("trusted")->settable);
    assert_false(ohsm_attr_by_cli("trusted")->at_create);
    assert_true(ohsm_attr_by_cli("extractable")->at_create);
    assert_false(ohsm_attr_by_cli("local")->at_create);
}

/* Enum names go both ways; unknown values give NULL / -1; prime256v1 is P-256. */
static void test_obj_enum_names(void **state)
{
    (void)state;
    assert_string_equal(ohsm_ktype_name(OHSM_KT_AES), "aes");
    assert_string_equal(ohsm_ktype_name(OHSM_KT_GENERIC_SECRET), "generic-secret");
    assert_string_equal(ohsm_class_name(OHSM_CLASS_PRIVATE), "private-key");
    assert_string_equal(ohsm_curve_name(OHSM_CURVE_P256), "secp256r1");
    assert_string_equal(ohsm_curve_name(OHSM_CURVE_SECP256K1), "secp256k1");
    assert_int_equal(ohsm_curve_from_name("prime256v1"), OHSM_CURVE_P256);
    assert_int_equal(ohsm_curve_from_name("secp521r1"), OHSM_CURVE_P521);
    assert_int_equal(ohsm_ktype_from_name("rsa"), OHSM_KT_RSA);
    assert_int_equal(ohsm_class_from_name("secret-key"), OHSM_CLASS_SECRET);
    assert_null(ohsm_ktype_name(1));
    assert_null(ohsm_class_name(0));
    assert_null(ohsm_curve_name(OHSM_CURVE_NONE));
    assert_int_equal(ohsm_ktype_from_name("des"), -1);
    assert_int_equal(ohsm_class_from_name(NULL), -1);
    assert_int_equal(ohsm_curve_from_name(""), -1);
}

/* Handles put the slot in the low five bits. */
static void test_obj_handle(void **state)
{
    (void)state;
    uint64_t h = ohsm_handle_make(7, 1000);
    assert_int_equal(h, 1000u * 32 + 7);
    assert_int_equal(ohsm_handle_slot(h), 7);
    assert_int_equal(ohsm_handle_slot(ohsm_handle_make(31, 1)), 31);
}

/* ---- defaults ---- */

/* AES keys: token, private, sensitive, extractable, modifiable, destroyable, sign, verify. */
static void test_obj_defaults_aes(void **state)
{
    (void)state;
    struct ohsm_obj o;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    uint32_t want = OHSM_F_TOKEN | OHSM_F_PRIVATE | OHSM_F_SENSITIVE | OHSM_F_EXTRACTABLE |
                    OHSM_F_MODIFIABLE | OHSM_F_DESTROYABLE | OHSM_F_SIGN | OHSM_F_VERIFY |
                    OHSM_F_LOCAL | OHSM_F_ALWAYS_SENSITIVE;
    assert_int_equal(o.flags, want);
    assert_int_equal(o.version, 1);
    assert_int_equal(o.nshared, 0);
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_GENERIC_SECRET, false);
    assert_int_equal(o.flags, want & ~(uint32_t)OHSM_F_LOCAL);
}

/* Key pairs: no sign/verify by default; sensitive for private keys only. */
static void test_obj_defaults_pairs(void **state)
{
    (void)state;
    struct ohsm_obj o;
    uint32_t base = OHSM_F_TOKEN | OHSM_F_PRIVATE | OHSM_F_EXTRACTABLE | OHSM_F_MODIFIABLE |
                    OHSM_F_DESTROYABLE | OHSM_F_LOCAL;
    ohsm_obj_defaults(&o, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, true);
    assert_int_equal(o.flags, base | OHSM_F_SENSITIVE | OHSM_F_ALWAYS_SENSITIVE);
    ohsm_obj_defaults(&o, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, true);
    assert_int_equal(o.flags, base);
    ohsm_obj_defaults(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, false);
    assert_int_equal(o.flags,
                     (base & ~(uint32_t)OHSM_F_LOCAL) | OHSM_F_SENSITIVE | OHSM_F_ALWAYS_SENSITIVE);
    ohsm_obj_defaults(&o, OHSM_CLASS_PUBLIC, OHSM_KT_EC, true);
    assert_int_equal(o.flags, base);
}

/* ---- templates ---- */

/* CLI text values: booleans, label, id (text or hex), enum names, numbers, exponent. */
static void test_obj_tmpl_text(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    ohsm_tmpl_init(&b);
    assert_int_equal(ohsm_tmpl_put_text(&b, "encrypt", "true"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "decrypt", "0"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "label", "my key"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "id", "0x0aFF"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "class", "private-key"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "key-length-bytes", "24"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "curve", "prime256v1"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "public-exponent", "65537"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "check-value", "0x9b94bd"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
    assert_int_equal(t.n, 9);
    assert_int_equal(t.a[0].id, OHSM_A_ENCRYPT);
    assert_int_equal(t.a[0].val[0], 1);
    assert_int_equal(t.a[1].val[0], 0);
    assert_int_equal(t.a[2].len, 6);
    assert_memory_equal(t.a[2].val, "my key", 6);
    assert_int_equal(t.a[3].len, 2);
    assert_memory_equal(t.a[3].val, "\x0a\xff", 2);
    assert_memory_equal(t.a[4].val, "\0\0\0\3", 4);
    assert_memory_equal(t.a[5].val, "\0\0\0\x18", 4);
    assert_memory_equal(t.a[6].val, "\0\0\0\1", 4);
    assert_int_equal(t.a[7].len, 3);
    assert_memory_equal(t.a[7].val, "\x01\x00\x01", 3);
    assert_memory_equal(t.a[8].val, "\x9b\x94\xbd", 3);
    /* an id given as plain text is its bytes */
    ohsm_tmpl_init(&b);
    assert_int_equal(ohsm_tmpl_put_text(&b, "id", "abc"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
    assert_memory_equal(t.a[0].val, "abc", 3);
}

/* Bad CLI text: unknown names, unparsable or out-of-range values; nothing is appended. */
static void test_obj_tmpl_text_rejects(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf b;
    char label[OHSM_LABEL_MAX + 2];
    memset(label, 'x', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    ohsm_tmpl_init(&b);
    assert_int_equal(ohsm_tmpl_put_text(&b, "colour", "red"), OHSM_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, NULL, "1"), OHSM_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "encrypt", "yes"), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "encrypt", ""), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "label", label), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "id", "0x0g"), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "class", "secret"), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "key-type", "rc4"), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "curve", "p-999"), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "key-length-bytes", "-1"),
                     OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "key-length-bytes", " 16"),
                     OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "key-length-bytes", "16x"),
                     OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "key-length-bytes", "99999999999"),
                     OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_tmpl_put_text(&b, "check-value", "0x01"), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(b.len, 0);
    label[OHSM_LABEL_MAX] = '\0'; /* exactly 127 bytes fits */
    assert_int_equal(ohsm_tmpl_put_text(&b, "label", label), OHSM_OK);
}

/* The builder's overflow flag is sticky and put_text reports it. */
static void test_obj_tmpl_overflow(void **state)
{
    (void)state;
    static struct ohsm_tmpl_buf b;
    static uint8_t big[OHSM_OBJ_ENC_MAX];
    ohsm_tmpl_init(&b);
    ohsm_tmpl_put_bytes(&b, OHSM_A_ID, big, sizeof(big) - 8);
    assert_false(b.overflow);
    assert_int_equal(b.len, sizeof(big));
    ohsm_tmpl_put_bool(&b, OHSM_A_SIGN, true);
    assert_true(b.overflow);
    assert_int_equal(b.len, sizeof(big));
    assert_int_equal(ohsm_tmpl_put_text(&b, "sign", "true"), OHSM_DATA_LEN_RANGE);
}

/* The parser refuses unknown and record-only ids, bad sizes and values, duplicates, too many
 * attributes, truncation and trailing bytes. Empty templates are fine. */
static void test_obj_tmpl_parse_rejects(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    uint8_t v2[2] = {1, 0};

    assert_int_equal(ohsm_tmpl_parse(NULL, 0, &t), OHSM_OK);
    assert_int_equal(t.n, 0);
#define PARSE_ONE(stmt, want)                                                                      \
    do {                                                                                           \
        ohsm_tmpl_init(&b);                                                                        \
        stmt;                                                                                      \
        assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), want);                                 \
    } while (0)
    PARSE_ONE(ohsm_tmpl_put_bool(&b, 0x999, true), OHSM_ATTRIBUTE_TYPE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_OWNER, "bob", 3), OHSM_ATTRIBUTE_TYPE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_HANDLE, "12345678", 8), OHSM_ATTRIBUTE_TYPE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_SPKI, "x", 1), OHSM_ATTRIBUTE_TYPE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_SIGN, v2, 2), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_SIGN, "\2", 1), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_SIGN, "", 0), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_u32(&b, OHSM_A_CLASS, 1), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_u32(&b, OHSM_A_KEY_TYPE, 18), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_u32(&b, OHSM_A_CURVE, 0), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_VALUE_LEN, v2, 2), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_LABEL, "a\0b", 3), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_KCV, "ab", 2), OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(
        (ohsm_tmpl_put_bool(&b, OHSM_A_SIGN, true), ohsm_tmpl_put_bool(&b, OHSM_A_SIGN, true)),
        OHSM_TEMPLATE_INCONSISTENT);
    static uint8_t longid[OHSM_OBJ_ID_MAX + 1];
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_ID, longid, sizeof(longid)),
              OHSM_ATTRIBUTE_VALUE_INVALID);
    PARSE_ONE(ohsm_tmpl_put_bytes(&b, OHSM_A_ID, longid, OHSM_OBJ_ID_MAX), OHSM_OK);
#undef PARSE_ONE
    /* more than OHSM_TMPL_MAX attributes: counted before anything else is looked at */
    ohsm_tmpl_init(&b);
    for (int i = 0; i < OHSM_TMPL_MAX + 1; i++) {
        ohsm_tmpl_put_bool(&b, OHSM_A_SIGN, true);
    }
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_DATA_LEN_RANGE);
    /* truncated and trailing */
    ohsm_tmpl_init(&b);
    ohsm_tmpl_put_bytes(&b, OHSM_A_LABEL, "abcd", 4);
    for (size_t cut = 1; cut < b.len; cut++) {
        assert_int_equal(ohsm_tmpl_parse(b.buf, cut, &t), OHSM_PROTOCOL);
    }
    b.buf[b.len] = 0;
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len + 1, &t), OHSM_PROTOCOL);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, NULL), OHSM_ARGUMENTS_BAD);
}

/* ---- records ---- */

/* Encode then decode gives back every field, and re-encoding gives the same bytes. */
static void test_obj_record_roundtrip(void **state)
{
    (void)state;
    struct ohsm_obj o, d;
    uint8_t a[OHSM_OBJ_ENC_MAX], b[OHSM_OBJ_ENC_MAX];
    size_t na = 0, nb = 0;
    pair(&o, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec_pkey);
    o.handle = UINT64_MAX - 5;
    o.version = 77;
    o.id_len = 3;
    memcpy(o.id, "\0\1\2", 3);
    set_name(o.label, sizeof(o.label), "pub label");
    o.has_kcv = true;
    o.kcv[0] = 1;
    assert_int_equal(ohsm_obj_share(&o, "carol", true), OHSM_OK);
    assert_int_equal(ohsm_obj_share(&o, "bob", true), OHSM_OK);
    assert_int_equal(ohsm_obj_encode(&o, a, sizeof(a), &na), OHSM_OK);
    memset(&d, 0xa5, sizeof(d));
    assert_int_equal(ohsm_obj_decode(a, na, &d), OHSM_OK);
    assert_int_equal(d.handle, o.handle);
    assert_int_equal(d.version, o.version);
    assert_int_equal(d.cls, o.cls);
    assert_int_equal(d.ktype, o.ktype);
    assert_int_equal(d.flags, o.flags);
    assert_string_equal(d.owner, "alice");
    assert_int_equal(d.nshared, 2);
    assert_string_equal(d.shared[0], "bob");
    assert_string_equal(d.shared[1], "carol");
    assert_string_equal(d.label, "pub label");
    assert_int_equal(d.id_len, 3);
    assert_memory_equal(d.id, "\0\1\2", 3);
    assert_int_equal(d.curve, OHSM_CURVE_P256);
    assert_true(d.has_kcv);
    assert_int_equal(d.spki_len, o.spki_len);
    assert_memory_equal(d.spki, o.spki, o.spki_len);
    assert_int_equal(ohsm_obj_encode(&d, b, sizeof(b), &nb), OHSM_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
}

/* Equal objects encode to equal bytes whatever order shares were added in; small buffers fail. */
static void test_obj_record_canonical(void **state)
{
    (void)state;
    struct ohsm_obj x = aes_key(), y = aes_key();
    uint8_t a[OHSM_OBJ_ENC_MAX], b[OHSM_OBJ_ENC_MAX];
    size_t na = 0, nb = 0;
    const char *u[] = {"dave", "bob", "zed", "amy"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ohsm_obj_share(&x, u[i], true), OHSM_OK);
        assert_int_equal(ohsm_obj_share(&y, u[3 - i], true), OHSM_OK);
    }
    assert_int_equal(ohsm_obj_encode(&x, a, sizeof(a), &na), OHSM_OK);
    assert_int_equal(ohsm_obj_encode(&y, b, sizeof(b), &nb), OHSM_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    assert_int_equal(ohsm_obj_encode(&x, a, na - 1, &nb), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(ohsm_obj_encode(&x, NULL, 0, &nb), OHSM_BUFFER_TOO_SMALL);
    /* an owner set in capitals is encoded lower-case, as usernames are kept */
    set_name(y.owner, sizeof(y.owner), "ALICE");
    assert_int_equal(ohsm_obj_encode(&y, b, sizeof(b), &nb), OHSM_OK);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    /* a different label gives different bytes */
    set_name(y.label, sizeof(y.label), "k2");
    assert_int_equal(ohsm_obj_encode(&y, b, sizeof(b), &nb), OHSM_OK);
    assert_true(na != nb || memcmp(a, b, na) != 0);
}

/* Unknown ids, derived attributes, wrong sizes and boolean values are refused. */
static void test_obj_decode_rejects_attrs(void **state)
{
    (void)state;
    static struct rawlist l;
    uint32_t derived[] = {OHSM_A_MODULUS, OHSM_A_EC_POINT, OHSM_A_EC_PARAMS,
                          OHSM_A_PUBLIC_EXPONENT};
    valid_list(&l);
    raw_append(&l, 0x999, "x", 1);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    for (size_t i = 0; i < 4; i++) {
        valid_list(&l);
        raw_append(&l, derived[i], "\6\1\1", 3);
        assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    }
    valid_list(&l);
    raw_find(&l, OHSM_A_SIGN)->v[0] = 2;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_SIGN)->len = 2;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_VALUE_LEN)->len = 3;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_HANDLE)->len = 4;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_KCV)->len = 4;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
}

/* Duplicates, reordering and missing attributes are refused: one object, one encoding. */
static void test_obj_decode_rejects_noncanonical(void **state)
{
    (void)state;
    static struct rawlist l;
    valid_list(&l);
    struct raw dup = *raw_find(&l, OHSM_A_LABEL);
    raw_append(&l, dup.id, dup.v, dup.len);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    struct raw first = l.a[0];
    l.a[0] = l.a[1];
    l.a[1] = first;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    l.n--; /* drop the last attribute (the KCV) */
    assert_int_equal(decode_list(&l), OHSM_OK);
    valid_list(&l);
    memmove(&l.a[0], &l.a[1], (l.n - 1) * sizeof(l.a[0])); /* drop the handle */
    l.n--;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    struct raw sh = *raw_find(&l, OHSM_A_SHARED);
    raw_append(&l, sh.id, sh.v, sh.len); /* the same user shared twice */
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
}

/* Over-long strings, too many shares, bad usernames and an oversized SPKI are refused. */
static void test_obj_decode_rejects_lengths(void **state)
{
    (void)state;
    static struct rawlist l;
    static uint8_t big[OHSM_SPKI_MAX + 1];
    valid_list(&l);
    raw_find(&l, OHSM_A_LABEL)->len = OHSM_LABEL_MAX + 1;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_ID)->len = OHSM_OBJ_ID_MAX + 1;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_OWNER)->len = OHSM_USERNAME_MAX + 1;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    memcpy(raw_find(&l, OHSM_A_OWNER)->v, "Alice", 5); /* not canonical */
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    memcpy(raw_find(&l, OHSM_A_SHARED)->v, "b-b", 3);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    struct raw *sh = raw_find(&l, OHSM_A_SHARED);
    memcpy(sh->v, "alice", 5); /* shared with its owner */
    sh->len = 5;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_LABEL)->v[0] = 0;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_append(&l, OHSM_A_SPKI, big, sizeof(big));
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);

    /* OHSM_SHARE_MAX shares decode, one more does not */
    struct ohsm_obj o = aes_key(), d;
    char name[16];
    for (int i = 0; i < OHSM_SHARE_MAX; i++) {
        snprintf(name, sizeof(name), "u%02d", i);
        assert_int_equal(ohsm_obj_share(&o, name, true), OHSM_OK);
    }
    assert_int_equal(ohsm_obj_share(&o, "toomany", true), OHSM_DATA_LEN_RANGE);
    size_t n = 0;
    assert_int_equal(ohsm_obj_encode(&o, g_enc, sizeof(g_enc), &n), OHSM_OK);
    assert_int_equal(ohsm_obj_decode(g_enc, n, &d), OHSM_OK);
    raw_from(g_enc, n, &l);
    size_t last = 0;
    for (size_t i = 0; i < l.n; i++) {
        last = l.a[i].id == OHSM_A_SHARED ? i : last;
    }
    memmove(&l.a[last + 2], &l.a[last + 1], (l.n - last - 1) * sizeof(l.a[0]));
    l.a[last + 1].id = OHSM_A_SHARED;
    l.a[last + 1].len = 2;
    memcpy(l.a[last + 1].v, "zz", 2); /* sorts last: only the count is wrong */
    l.n++;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
}

/* Invalid class, type, curve and class/type combinations are refused; so are truncation and
 * trailing bytes at every length. */
static void test_obj_decode_rejects_values(void **state)
{
    (void)state;
    static struct rawlist l;
    struct ohsm_obj d;
    uint8_t enc[OHSM_OBJ_ENC_MAX];
    size_t n = 0;
    valid_list(&l);
    raw_find(&l, OHSM_A_CLASS)->v[3] = 1;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_KEY_TYPE)->v[3] = 18; /* RC4: not a key type of ours */
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_KEY_TYPE)->v[3] = OHSM_KT_RSA; /* an RSA secret key */
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_find(&l, OHSM_A_CURVE)->v[3] = OHSM_CURVE_P256; /* a curve on an AES key */
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    struct ohsm_obj e;
    pair(&e, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec_pkey);
    assert_int_equal(ohsm_obj_encode(&e, enc, sizeof(enc), &n), OHSM_OK);
    raw_from(enc, n, &l);
    raw_find(&l, OHSM_A_CURVE)->v[3] = 9;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    raw_find(&l, OHSM_A_CURVE)->v[3] = 0;
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);

    struct ohsm_obj o = aes_key();
    o.has_kcv = false; /* the optional KCV last would make one prefix a valid record */
    assert_int_equal(ohsm_obj_encode(&o, enc, sizeof(enc), &n), OHSM_OK);
    for (size_t cut = 0; cut < n; cut++) {
        assert_int_equal(ohsm_obj_decode(enc, cut, &d), OHSM_PROTOCOL);
    }
    enc[n] = 0;
    assert_int_equal(ohsm_obj_decode(enc, n + 1, &d), OHSM_PROTOCOL);
    assert_int_equal(ohsm_obj_decode(enc, n, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_obj_decode(NULL, 4, &d), OHSM_ARGUMENTS_BAD);
}

/* ---- creation templates ---- */

static void build(struct ohsm_tmpl_buf *b, struct ohsm_tmpl *t)
{
    assert_false(b->overflow);
    assert_int_equal(ohsm_tmpl_parse(b->buf, b->len, t), OHSM_OK);
}

/* A template sets flags, label and id; always-sensitive and never-extractable follow. */
static void test_obj_apply_template(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    struct ohsm_obj o = aes_key();
    ohsm_tmpl_init(&b);
    ohsm_tmpl_put_bool(&b, OHSM_A_ENCRYPT, true);
    ohsm_tmpl_put_bool(&b, OHSM_A_SIGN, false);
    ohsm_tmpl_put_bool(&b, OHSM_A_EXTRACTABLE, false);
    ohsm_tmpl_put_bool(&b, OHSM_A_SENSITIVE, false);
    ohsm_tmpl_put_bool(&b, OHSM_A_TOKEN, false);
    ohsm_tmpl_put_bytes(&b, OHSM_A_LABEL, "new", 3);
    ohsm_tmpl_put_bytes(&b, OHSM_A_ID, "\1\2", 2);
    ohsm_tmpl_put_u32(&b, OHSM_A_CLASS, OHSM_CLASS_SECRET); /* agrees: fine */
    ohsm_tmpl_put_u32(&b, OHSM_A_VALUE_LEN, 32);
    build(&b, &t);
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_OK);
    assert_true(o.flags & OHSM_F_ENCRYPT);
    assert_false(o.flags & OHSM_F_SIGN);
    assert_false(o.flags & OHSM_F_EXTRACTABLE);
    assert_true(o.flags & OHSM_F_NEVER_EXTRACTABLE);
    assert_false(o.flags & OHSM_F_SENSITIVE);
    assert_false(o.flags & OHSM_F_ALWAYS_SENSITIVE);
    assert_false(o.flags & OHSM_F_TOKEN);
    assert_string_equal(o.label, "new");
    assert_int_equal(o.id_len, 2);
    assert_int_equal(o.version, 1);
}

/* Attributes not settable at creation, and values contradicting the object, change nothing. */
static void test_obj_apply_template_rejects(void **state)
{
    (void)state;
    struct {
        uint32_t id;
        uint8_t v[4];
        uint32_t len;
        ohsm_rv want;
    } cases[] = {
        {OHSM_A_LOCAL, {1}, 1, OHSM_ATTRIBUTE_READ_ONLY},
        {OHSM_A_TRUSTED, {1}, 1, OHSM_ATTRIBUTE_READ_ONLY},
        {OHSM_A_ALWAYS_SENSITIVE, {0}, 1, OHSM_ATTRIBUTE_READ_ONLY},
        {OHSM_A_NEVER_EXTRACTABLE, {1}, 1, OHSM_ATTRIBUTE_READ_ONLY},
        {OHSM_A_KCV, {1, 2, 3}, 3, OHSM_ATTRIBUTE_READ_ONLY},
        {OHSM_A_CLASS, {0, 0, 0, 3}, 4, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_A_KEY_TYPE, {0, 0, 0, 16}, 4, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_A_VALUE_LEN, {0, 0, 0, 16}, 4, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_A_MODULUS_BITS, {0, 0, 8, 0}, 4, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_A_CURVE, {0, 0, 0, 1}, 4, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_A_PUBLIC_EXPONENT, {1, 0, 1}, 3, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_A_SIGN, {2}, 1, OHSM_ATTRIBUTE_VALUE_INVALID},
        {0x999, {1}, 1, OHSM_ATTRIBUTE_TYPE_INVALID},
        {OHSM_A_OWNER, {'b'}, 1, OHSM_ATTRIBUTE_TYPE_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ohsm_obj o = aes_key(), before;
        memcpy(&before, &o, sizeof(o));
        struct ohsm_tmpl t = {.n = 2};
        t.a[0] = tattr(OHSM_A_ENCRYPT, T, 1); /* applied before the bad one: must not stick */
        t.a[1] = tattr(cases[i].id, cases[i].v, cases[i].len);
        assert_int_equal(ohsm_obj_apply_template(&o, &t), cases[i].want);
        assert_memory_equal(&o, &before, sizeof(o));
    }
    /* public keys cannot be made sensitive; EC keys check the curve and its OID */
    struct ohsm_obj p, before;
    pair(&p, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec_pkey);
    memcpy(&before, &p, sizeof(p));
    struct ohsm_tmpl t = {.n = 1};
    t.a[0] = tattr(OHSM_A_SENSITIVE, T, 1);
    assert_int_equal(ohsm_obj_apply_template(&p, &t), OHSM_TEMPLATE_INCONSISTENT);
    assert_memory_equal(&p, &before, sizeof(p));
    static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    static const uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
    t.a[0] = tattr(OHSM_A_EC_PARAMS, p256, sizeof(p256));
    assert_int_equal(ohsm_obj_apply_template(&p, &t), OHSM_OK);
    t.a[0] = tattr(OHSM_A_EC_PARAMS, p384, sizeof(p384));
    assert_int_equal(ohsm_obj_apply_template(&p, &t), OHSM_TEMPLATE_INCONSISTENT);
    uint8_t c1[4] = {0, 0, 0, OHSM_CURVE_P256}, c2[4] = {0, 0, 0, OHSM_CURVE_P384};
    t.a[0] = tattr(OHSM_A_CURVE, c1, 4);
    assert_int_equal(ohsm_obj_apply_template(&p, &t), OHSM_OK);
    t.a[0] = tattr(OHSM_A_CURVE, c2, 4);
    assert_int_equal(ohsm_obj_apply_template(&p, &t), OHSM_TEMPLATE_INCONSISTENT);
    /* an RSA exponent is checked once the public key exists */
    struct ohsm_obj r;
    pair(&r, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, rsa_pkey);
    t.a[0] = tattr(OHSM_A_PUBLIC_EXPONENT, (const uint8_t *)"\1\0\1", 3);
    assert_int_equal(ohsm_obj_apply_template(&r, &t), OHSM_OK);
    t.a[0] = tattr(OHSM_A_PUBLIC_EXPONENT, (const uint8_t *)"\3", 1);
    assert_int_equal(ohsm_obj_apply_template(&r, &t), OHSM_TEMPLATE_INCONSISTENT);
}

/* ---- set-attribute rules ---- */

/* Unknown attributes, bad values and read-only attributes are refused for everyone. */
static void test_obj_set_readonly(void **state)
{
    (void)state;
    struct ohsm_obj o = aes_key();
    uint32_t ro[] = {OHSM_A_CLASS,     OHSM_A_KEY_TYPE,         OHSM_A_EXTRACTABLE,
                     OHSM_A_LOCAL,     OHSM_A_ALWAYS_SENSITIVE, OHSM_A_NEVER_EXTRACTABLE,
                     OHSM_A_VALUE_LEN, OHSM_A_MODULUS_BITS,     OHSM_A_CURVE};
    uint8_t v4[4] = {0, 0, 0, 4};
    for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
        const struct ohsm_attr_def *d = ohsm_attr_by_id(ro[i]);
        struct ohsm_tmpl_attr a =
            d->kind == OHSM_AK_BOOL ? tattr(ro[i], F, 1) : tattr(ro[i], v4, 4);
        assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
    }
    struct ohsm_tmpl_attr kcv = tattr(OHSM_A_KCV, (const uint8_t *)"abc", 3);
    assert_int_equal(ohsm_obj_set_check(&o, &kcv, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
    struct ohsm_tmpl_attr unk = tattr(0x999, T, 1);
    assert_int_equal(ohsm_obj_set_check(&o, &unk, OHSM_UT_CU, true), OHSM_ATTRIBUTE_TYPE_INVALID);
    struct ohsm_tmpl_attr own = tattr(OHSM_A_OWNER, (const uint8_t *)"bob", 3);
    assert_int_equal(ohsm_obj_set_check(&o, &own, OHSM_UT_CU, true), OHSM_ATTRIBUTE_TYPE_INVALID);
    struct ohsm_tmpl_attr bad = tattr(OHSM_A_ENCRYPT, (const uint8_t *)"\2", 1);
    assert_int_equal(ohsm_obj_set_check(&o, &bad, OHSM_UT_CU, true), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_obj_set_apply(&o, &kcv), OHSM_ATTRIBUTE_READ_ONLY);
    assert_int_equal(o.version, 1);
}

/* Who may set: CU owners everything settable but trusted; admins only trusted; others nothing. */
static void test_obj_set_who(void **state)
{
    (void)state;
    struct ohsm_obj o = aes_key();
    struct ohsm_tmpl_attr enc = tattr(OHSM_A_ENCRYPT, T, 1);
    struct ohsm_tmpl_attr tr = tattr(OHSM_A_TRUSTED, T, 1);
    assert_int_equal(ohsm_obj_set_check(&o, &enc, OHSM_UT_CU, true), OHSM_OK);
    assert_int_equal(ohsm_obj_set_check(&o, &enc, OHSM_UT_CU, false), OHSM_KEY_NOT_OWNER);
    assert_int_equal(ohsm_obj_set_check(&o, &enc, OHSM_UT_CO, true), OHSM_ACCESS_DENIED);
    assert_int_equal(ohsm_obj_set_check(&o, &enc, OHSM_UT_AU, true), OHSM_ACCESS_DENIED);
    assert_int_equal(ohsm_obj_set_check(&o, &enc, OHSM_UT_NONE, true), OHSM_ACCESS_DENIED);
    assert_int_equal(ohsm_obj_set_check(&o, &tr, OHSM_UT_CO, false), OHSM_OK);
    assert_int_equal(ohsm_obj_set_check(&o, &tr, OHSM_UT_CU, true), OHSM_ACCESS_DENIED);
    assert_int_equal(ohsm_obj_set_check(&o, &tr, OHSM_UT_PRECO, false), OHSM_ACCESS_DENIED);
    /* even on a key that is no longer modifiable, the admin may set trusted */
    o.flags &= ~(uint32_t)OHSM_F_MODIFIABLE;
    assert_int_equal(ohsm_obj_set_check(&o, &tr, OHSM_UT_CO, false), OHSM_OK);
}

/* One-way attributes move one way only; setting the current value is fine. */
static void test_obj_set_one_way(void **state)
{
    (void)state;
    struct ohsm_obj o = aes_key(); /* sensitive, modifiable, token, not wrap-with-trusted */
    struct ohsm_tmpl_attr a;
    a = tattr(OHSM_A_SENSITIVE, F, 1);
    assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
    a = tattr(OHSM_A_SENSITIVE, T, 1);
    assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_OK);
    a = tattr(OHSM_A_TOKEN, F, 1);
    assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
    a = tattr(OHSM_A_WRAP_WITH_TRUSTED, T, 1);
    assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_OK);
    assert_int_equal(ohsm_obj_set_apply(&o, &a), OHSM_OK);
    a = tattr(OHSM_A_WRAP_WITH_TRUSTED, F, 1);
    assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);

    struct ohsm_obj s = aes_key();
    s.flags &= ~(uint32_t)(OHSM_F_SENSITIVE | OHSM_F_ALWAYS_SENSITIVE | OHSM_F_TOKEN);
    a = tattr(OHSM_A_SENSITIVE, T, 1);
    assert_int_equal(ohsm_obj_set_check(&s, &a, OHSM_UT_CU, true), OHSM_OK);
    assert_int_equal(ohsm_obj_set_apply(&s, &a), OHSM_OK);
    assert_true(s.flags & OHSM_F_SENSITIVE);
    assert_false(s.flags & OHSM_F_ALWAYS_SENSITIVE); /* it was not always sensitive */
    a = tattr(OHSM_A_TOKEN, T, 1);                   /* session -> token */
    assert_int_equal(ohsm_obj_set_check(&s, &a, OHSM_UT_CU, true), OHSM_OK);

    /* public keys have no sensitive to turn on */
    struct ohsm_obj p;
    pair(&p, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, rsa_pkey);
    assert_int_equal(ohsm_obj_set_check(&p, &a, OHSM_UT_CU, true), OHSM_OK);
    a = tattr(OHSM_A_SENSITIVE, T, 1);
    assert_int_equal(ohsm_obj_set_check(&p, &a, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
}

/* modifiable=false freezes a key: only modifiable=false (again) and the admin's trusted pass. */
static void test_obj_set_modifiable(void **state)
{
    (void)state;
    struct ohsm_obj o = aes_key();
    struct ohsm_tmpl_attr off = tattr(OHSM_A_MODIFIABLE, F, 1);
    struct ohsm_tmpl_attr on = tattr(OHSM_A_MODIFIABLE, T, 1);
    struct ohsm_tmpl_attr lab = tattr(OHSM_A_LABEL, (const uint8_t *)"x", 1);
    assert_int_equal(ohsm_obj_set_check(&o, &on, OHSM_UT_CU, true), OHSM_OK); /* already true */
    assert_int_equal(ohsm_obj_set_check(&o, &off, OHSM_UT_CU, true), OHSM_OK);
    assert_int_equal(ohsm_obj_set_check(&o, &off, OHSM_UT_CU, false), OHSM_KEY_NOT_OWNER);
    assert_int_equal(ohsm_obj_set_apply(&o, &off), OHSM_OK);
    assert_false(o.flags & OHSM_F_MODIFIABLE);
    assert_int_equal(ohsm_obj_set_check(&o, &on, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
    assert_int_equal(ohsm_obj_set_check(&o, &lab, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
    assert_int_equal(ohsm_obj_set_check(&o, &off, OHSM_UT_CU, true), OHSM_OK);
}

/* set_apply changes the value and bumps the version each time. */
static void test_obj_set_apply(void **state)
{
    (void)state;
    struct ohsm_obj o = aes_key();
    struct ohsm_tmpl_attr lab = tattr(OHSM_A_LABEL, (const uint8_t *)"renamed", 7);
    struct ohsm_tmpl_attr id = tattr(OHSM_A_ID, NULL, 0);
    struct ohsm_tmpl_attr dec = tattr(OHSM_A_DECRYPT, T, 1);
    assert_int_equal(ohsm_obj_set_apply(&o, &lab), OHSM_OK);
    assert_string_equal(o.label, "renamed");
    assert_int_equal(o.version, 2);
    assert_int_equal(ohsm_obj_set_apply(&o, &id), OHSM_OK);
    assert_int_equal(o.id_len, 0);
    assert_int_equal(ohsm_obj_set_apply(&o, &dec), OHSM_OK);
    assert_true(o.flags & OHSM_F_DECRYPT);
    assert_int_equal(o.version, 4);
}

/* ---- ownership and sharing ---- */

/* Shares stay sorted, are idempotent, case-insensitive, and bump the version only on change. */
static void test_obj_share(void **state)
{
    (void)state;
    struct ohsm_obj o = aes_key();
    assert_true(ohsm_obj_is_owner(&o, "alice"));
    assert_true(ohsm_obj_is_owner(&o, "ALICE"));
    assert_false(ohsm_obj_is_owner(&o, "bob"));
    assert_false(ohsm_obj_is_owner(&o, ""));
    assert_false(ohsm_obj_may_use(&o, "bob"));
    assert_int_equal(ohsm_obj_share(&o, "Bob", true), OHSM_OK);
    assert_int_equal(o.version, 2);
    assert_int_equal(ohsm_obj_share(&o, "bob", true), OHSM_OK);
    assert_int_equal(o.version, 2);
    assert_int_equal(ohsm_obj_share(&o, "al", true), OHSM_OK);
    assert_string_equal(o.shared[0], "al");
    assert_string_equal(o.shared[1], "bob");
    assert_true(ohsm_obj_may_use(&o, "bob"));
    assert_true(ohsm_obj_may_use(&o, "alice"));
    assert_false(ohsm_obj_is_owner(&o, "bob"));
    assert_int_equal(ohsm_obj_share(&o, "al", false), OHSM_OK);
    assert_int_equal(o.nshared, 1);
    assert_string_equal(o.shared[0], "bob");
    assert_int_equal(o.version, 4);
    assert_int_equal(ohsm_obj_share(&o, "nobody", false), OHSM_OK);
    assert_int_equal(o.version, 4);
    assert_int_equal(ohsm_obj_share(&o, "alice", true), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_obj_share(&o, "b b", true), OHSM_USERNAME_INVALID);
    assert_int_equal(ohsm_obj_share(&o, NULL, true), OHSM_ARGUMENTS_BAD);
    assert_int_equal(o.nshared, 1);
}

/* ---- use and wrap ---- */

/* The use matrix per class and type, with every flag on; then each allowed use needs its flag. */
static void test_obj_check_use(void **state)
{
    (void)state;
#define E OHSM_OK
#define X OHSM_KEY_TYPE_INCONSISTENT
    struct {
        uint32_t cls, kt;
        ohsm_rv want[7]; /* encrypt decrypt sign verify wrap unwrap derive */
    } m[] = {
        {OHSM_CLASS_SECRET, OHSM_KT_AES, {E, E, X, X, E, E, X}},
        {OHSM_CLASS_SECRET, OHSM_KT_GENERIC_SECRET, {X, X, E, E, X, X, E}},
        {OHSM_CLASS_PUBLIC, OHSM_KT_RSA, {E, X, X, E, E, X, X}},
        {OHSM_CLASS_PRIVATE, OHSM_KT_RSA, {X, E, E, X, X, E, X}},
        {OHSM_CLASS_PUBLIC, OHSM_KT_EC, {X, X, X, E, X, X, X}},
        {OHSM_CLASS_PRIVATE, OHSM_KT_EC, {X, X, E, X, X, X, E}},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        struct ohsm_obj o;
        ohsm_obj_defaults(&o, m[i].cls, m[i].kt, true);
        o.flags = 0xffffffffu;
        for (int u = 0; u <= OHSM_USE_DERIVE; u++) {
            assert_int_equal(ohsm_obj_check_use(&o, (enum ohsm_use)u), m[i].want[u]);
        }
        o.flags = 0;
        for (int u = 0; u <= OHSM_USE_DERIVE; u++) {
            ohsm_rv want = m[i].want[u] == E ? OHSM_KEY_FUNCTION_NOT_PERMITTED : X;
            assert_int_equal(ohsm_obj_check_use(&o, (enum ohsm_use)u), want);
        }
    }
#undef E
#undef X
    struct ohsm_obj o = aes_key();
    assert_int_equal(ohsm_obj_check_use(&o, (enum ohsm_use)99), OHSM_ARGUMENTS_BAD);
}

/* Wrapping needs an extractable payload, a wrap-capable wrapping key, and a trusted one when the
 * payload asks for wrap-with-trusted. */
static void test_obj_check_wrap(void **state)
{
    (void)state;
    struct ohsm_obj p = aes_key(), w = aes_key(), pub, ec;
    w.flags |= OHSM_F_WRAP;
    assert_int_equal(ohsm_obj_check_wrap(&p, &w), OHSM_OK);
    p.flags &= ~(uint32_t)OHSM_F_EXTRACTABLE;
    assert_int_equal(ohsm_obj_check_wrap(&p, &w), OHSM_KEY_UNEXTRACTABLE);
    p.flags |= OHSM_F_EXTRACTABLE;
    w.flags &= ~(uint32_t)OHSM_F_WRAP;
    assert_int_equal(ohsm_obj_check_wrap(&p, &w), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    w.flags |= OHSM_F_WRAP;
    p.flags |= OHSM_F_WRAP_WITH_TRUSTED;
    assert_int_equal(ohsm_obj_check_wrap(&p, &w), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    w.flags |= OHSM_F_TRUSTED;
    assert_int_equal(ohsm_obj_check_wrap(&p, &w), OHSM_OK);
    pair(&ec, OHSM_CLASS_PRIVATE, OHSM_KT_EC, ec_pkey);
    ec.flags |= OHSM_F_WRAP;
    assert_int_equal(ohsm_obj_check_wrap(&p, &ec), OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(ohsm_obj_check_wrap(&ec, &w), OHSM_OK); /* a private key as payload */
    pair(&pub, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, rsa_pkey);
    pub.flags |= OHSM_F_WRAP;
    assert_int_equal(ohsm_obj_check_wrap(&p, &pub), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    p.flags &= ~(uint32_t)OHSM_F_WRAP_WITH_TRUSTED;
    assert_int_equal(ohsm_obj_check_wrap(&p, &pub), OHSM_OK); /* RSA-OAEP wrapping */
    assert_int_equal(ohsm_obj_check_wrap(&pub, &w), OHSM_KEY_TYPE_INCONSISTENT);
}

/* ---- derived attributes and matching ---- */

/* Modulus and exponent come from the RSA SPKI; attributes a type lacks are TYPE_INVALID. */
static void test_obj_attr_get_rsa(void **state)
{
    (void)state;
    struct ohsm_obj r;
    uint8_t v[600], n_bin[256];
    size_t n = 0;
    BIGNUM *bn = NULL;
    pair(&r, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, rsa_pkey);
    assert_true(EVP_PKEY_get_bn_param(rsa_pkey, OSSL_PKEY_PARAM_RSA_N, &bn));
    assert_int_equal(BN_bn2binpad(bn, n_bin, sizeof(n_bin)), 256);
    BN_free(bn);
    assert_int_equal(ohsm_obj_attr_get(&r, OHSM_A_MODULUS, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 256);
    assert_memory_equal(v, n_bin, 256);
    assert_int_equal(ohsm_obj_attr_get(&r, OHSM_A_PUBLIC_EXPONENT, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "\1\0\1", 3);
    assert_int_equal(ohsm_obj_attr_get(&r, OHSM_A_MODULUS_BITS, v, sizeof(v), &n), OHSM_OK);
    assert_memory_equal(v, "\0\0\x08\0", 4);
    assert_int_equal(ohsm_obj_attr_get(&r, OHSM_A_MODULUS, v, 255, &n), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(n, 256);
    assert_int_equal(ohsm_obj_attr_get(&r, OHSM_A_EC_POINT, v, sizeof(v), &n),
                     OHSM_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(ohsm_obj_attr_get(&r, OHSM_A_CURVE, v, sizeof(v), &n),
                     OHSM_ATTRIBUTE_TYPE_INVALID);
    /* Issue 11: RSA keys have a check value, SHA-1 of the SPKI (more in test_obj_keylen.c). */
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdn = 0;
    assert_int_equal(EVP_Digest(r.spki, r.spki_len, md, &mdn, EVP_sha1(), NULL), 1);
    assert_int_equal(ohsm_obj_attr_get(&r, OHSM_A_KCV, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, md, 3);
    struct ohsm_obj a = aes_key();
    assert_int_equal(ohsm_obj_attr_get(&a, OHSM_A_MODULUS, v, sizeof(v), &n),
                     OHSM_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(ohsm_obj_attr_get(&a, OHSM_A_KCV, v, sizeof(v), &n), OHSM_OK);
    assert_memory_equal(v, "\x9b\x94\xbd", 3);
    assert_int_equal(ohsm_obj_attr_get(&a, OHSM_A_SHARED, v, sizeof(v), &n),
                     OHSM_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(ohsm_obj_attr_get(&a, OHSM_A_HANDLE, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 8);
    assert_int_equal(ohsm_obj_attr_get(&a, OHSM_A_OWNER, v, sizeof(v), &n), OHSM_OK);
    assert_memory_equal(v, "alice", 5);
    /* a corrupt SPKI is a device error, not a value */
    r.spki[0] ^= 0xff;
    assert_int_equal(ohsm_obj_attr_get(&r, OHSM_A_MODULUS, v, sizeof(v), &n), OHSM_DEVICE_ERROR);
}

/* ec-point is the DER OCTET STRING around the SPKI's point; ec-params is the curve OID. */
static void test_obj_attr_get_ec(void **state)
{
    (void)state;
    struct ohsm_obj e;
    uint8_t v[600], pt[80];
    size_t n = 0, ptn = 0;
    pair(&e, OHSM_CLASS_PRIVATE, OHSM_KT_EC, ec_pkey);
    assert_true(EVP_PKEY_get_octet_string_param(ec_pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
                                                sizeof(pt), &ptn));
    assert_int_equal(ptn, 65);
    assert_int_equal(ohsm_obj_attr_get(&e, OHSM_A_EC_POINT, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 67);
    assert_int_equal(v[0], 0x04);
    assert_int_equal(v[1], 65);
    assert_memory_equal(v + 2, pt, 65);
    assert_int_equal(ohsm_obj_attr_get(&e, OHSM_A_EC_PARAMS, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 10);
    assert_memory_equal(v, "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10);
    assert_int_equal(ohsm_obj_attr_get(&e, OHSM_A_CURVE, v, sizeof(v), &n), OHSM_OK);
    assert_memory_equal(v, "\0\0\0\1", 4);
    assert_int_equal(ohsm_obj_attr_get(&e, OHSM_A_MODULUS, v, sizeof(v), &n),
                     OHSM_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(ohsm_obj_attr_get(&e, OHSM_A_SIGN, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0], 0);
}

/* Matching compares stored and derived attributes; an empty template matches everything. */
static void test_obj_match(void **state)
{
    (void)state;
    struct ohsm_obj e, a = aes_key();
    struct ohsm_tmpl t = {.n = 0};
    uint8_t pt[80];
    size_t n = 0;
    pair(&e, OHSM_CLASS_PUBLIC, OHSM_KT_EC, ec_pkey);
    assert_true(ohsm_obj_match(&a, &t));
    assert_int_equal(ohsm_obj_attr_get(&e, OHSM_A_EC_POINT, pt, sizeof(pt), &n), OHSM_OK);
    t.n = 1;
    t.a[0] = tattr(OHSM_A_EC_POINT, pt, (uint32_t)n);
    assert_true(ohsm_obj_match(&e, &t));
    assert_false(ohsm_obj_match(&a, &t)); /* AES keys have no ec-point */
    pt[n - 1] ^= 1;
    assert_false(ohsm_obj_match(&e, &t));

    struct ohsm_tmpl_buf b;
    ohsm_tmpl_init(&b);
    assert_int_equal(ohsm_tmpl_put_text(&b, "label", "k1"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "class", "secret-key"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "sign", "true"), OHSM_OK);
    build(&b, &t);
    assert_true(ohsm_obj_match(&a, &t));
    assert_false(ohsm_obj_match(&e, &t));
    ohsm_tmpl_init(&b);
    assert_int_equal(ohsm_tmpl_put_text(&b, "label", "k"), OHSM_OK); /* prefixes do not match */
    build(&b, &t);
    assert_false(ohsm_obj_match(&a, &t));
    ohsm_tmpl_init(&b);
    assert_int_equal(ohsm_tmpl_put_text(&b, "curve", "secp256r1"), OHSM_OK);
    build(&b, &t);
    assert_true(ohsm_obj_match(&e, &t));
    assert_false(ohsm_obj_match(&a, &t));
    assert_false(ohsm_obj_match(NULL, &t));
}

/* ---- key quorum values (issue 5) ---- */

/* Both values are table rows: CLI names, no key_mgmt_util name, u32, at creation only. */
static void test_obj_quorum_table(void **state)
{
    (void)state;
    const struct ohsm_attr_def *m = ohsm_attr_by_cli("manage-key-quorum-value");
    const struct ohsm_attr_def *u = ohsm_attr_by_cli("use-key-quorum-value");
    assert_non_null(m);
    assert_non_null(u);
    assert_ptr_equal(ohsm_attr_by_id(OHSM_A_QUORUM_MANAGE), m);
    assert_ptr_equal(ohsm_attr_by_id(OHSM_A_QUORUM_USE), u);
    assert_int_equal(m->id, OHSM_A_QUORUM_MANAGE);
    assert_int_equal(u->id, OHSM_A_QUORUM_USE);
    assert_null(m->kmu);
    assert_null(u->kmu);
    assert_int_equal(m->kind, OHSM_AK_U32);
    assert_int_equal(u->kind, OHSM_AK_U32);
    assert_true(m->at_create && u->at_create);
    assert_false(m->settable || u->settable);
    size_t n = 0;
    const struct ohsm_attr_def *t = ohsm_attr_table(&n);
    assert_null(t[n - 1].cli); /* ec-params stays last */
}

/* Templates take 0..OHSM_QUORUM_MAX (text and binary); anything above is
 * OHSM_ATTRIBUTE_VALUE_INVALID and appends nothing. */
static void test_obj_quorum_range(void **state)
{
    (void)state;
    static struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    char v[8];
    for (uint32_t i = 0; i <= OHSM_QUORUM_MAX; i++) {
        snprintf(v, sizeof(v), "%u", i);
        ohsm_tmpl_init(&b);
        assert_int_equal(ohsm_tmpl_put_text(&b, "manage-key-quorum-value", v), OHSM_OK);
        assert_int_equal(ohsm_tmpl_put_text(&b, "use-key-quorum-value", v), OHSM_OK);
        assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
        assert_int_equal(t.n, 2);
    }
    const char *bad[] = {"9", "10", "4294967295", "-1", "x", "", " 2", "2 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ohsm_tmpl_init(&b);
        assert_int_equal(ohsm_tmpl_put_text(&b, "use-key-quorum-value", bad[i]),
                         OHSM_ATTRIBUTE_VALUE_INVALID);
        assert_int_equal(b.len, 0);
    }
    ohsm_tmpl_init(&b);
    ohsm_tmpl_put_u32(&b, OHSM_A_QUORUM_MANAGE, OHSM_QUORUM_MAX + 1);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_ATTRIBUTE_VALUE_INVALID);
    ohsm_tmpl_init(&b);
    ohsm_tmpl_put_u32(&b, OHSM_A_QUORUM_USE, UINT32_MAX);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_ATTRIBUTE_VALUE_INVALID);
    /* applied directly (not through the parser), a bad value is refused all the same */
    struct ohsm_obj o = aes_key(), c;
    uint8_t nine[4] = {0, 0, 0, 9};
    t.n = 1;
    t.a[0] = tattr(OHSM_A_QUORUM_USE, nine, 4);
    c = o;
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_memory_equal(&o, &c, sizeof(o));
}

/* A creation template sets them (read back through attr_get and matched by filters); set-attribute
 * never changes them, for anyone. */
static void test_obj_quorum_create_only(void **state)
{
    (void)state;
    static struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    struct ohsm_obj o = aes_key();
    uint8_t v[4];
    size_t n = 0;
    assert_int_equal(ohsm_obj_attr_get(&o, OHSM_A_QUORUM_MANAGE, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(v, "\0\0\0\0", 4); /* a key without quorum shows 0 */
    ohsm_tmpl_init(&b);
    assert_int_equal(ohsm_tmpl_put_text(&b, "manage-key-quorum-value", "2"), OHSM_OK);
    assert_int_equal(ohsm_tmpl_put_text(&b, "use-key-quorum-value", "3"), OHSM_OK);
    build(&b, &t);
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_OK);
    assert_int_equal(o.quorum_manage, 2);
    assert_int_equal(o.quorum_use, 3);
    assert_true(ohsm_obj_match(&o, &t));
    assert_false(ohsm_obj_match(&(struct ohsm_obj){0}, &t));
    assert_int_equal(ohsm_obj_attr_get(&o, OHSM_A_QUORUM_USE, v, sizeof(v), &n), OHSM_OK);
    assert_memory_equal(v, "\0\0\0\3", 4);
    assert_int_equal(ohsm_obj_attr_get(&o, OHSM_A_QUORUM_USE, v, 3, &n), OHSM_BUFFER_TOO_SMALL);
    uint8_t one[4] = {0, 0, 0, 1};
    struct ohsm_tmpl_attr a = tattr(OHSM_A_QUORUM_MANAGE, one, 4);
    assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
    assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CO, false), OHSM_ATTRIBUTE_READ_ONLY);
    a.id = OHSM_A_QUORUM_USE;
    assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
    assert_int_equal(ohsm_obj_set_apply(&o, &a), OHSM_ATTRIBUTE_READ_ONLY);
    assert_int_equal(o.quorum_use, 3);
}

/* A value above 1 needs that many users (owner + shares); 0 and 1 need nobody. */
static void test_obj_quorum_check(void **state)
{
    (void)state;
    struct ohsm_obj o = aes_key();
    assert_int_equal(ohsm_obj_quorum_check(NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_obj_quorum_check(&o), OHSM_OK);
    o.quorum_manage = 1;
    o.quorum_use = 1;
    assert_int_equal(ohsm_obj_quorum_check(&o), OHSM_OK);
    o.quorum_use = 2;
    assert_int_equal(ohsm_obj_quorum_check(&o), OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(ohsm_obj_share(&o, "bob", true), OHSM_OK);
    assert_int_equal(ohsm_obj_quorum_check(&o), OHSM_OK);
    o.quorum_manage = 3;
    assert_int_equal(ohsm_obj_quorum_check(&o), OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(ohsm_obj_share(&o, "carol", true), OHSM_OK);
    assert_int_equal(ohsm_obj_quorum_check(&o), OHSM_OK);
    assert_int_equal(ohsm_obj_share(&o, "bob", false), OHSM_OK);
    assert_int_equal(ohsm_obj_quorum_check(&o), OHSM_QUORUM_VALUE_INVALID);
    o.quorum_manage = OHSM_QUORUM_MAX;
    for (int i = 0; i < OHSM_QUORUM_MAX - 2; i++) {
        char u[8];
        snprintf(u, sizeof(u), "u%d", i);
        assert_int_equal(ohsm_obj_share(&o, u, true), OHSM_OK);
    }
    assert_int_equal(o.nshared, OHSM_QUORUM_MAX - 1);
    assert_int_equal(ohsm_obj_quorum_check(&o), OHSM_OK);
}

/* Values round-trip through records, each one on its own; records carry them only when not 0,
 * so a record made before issue 5 still decodes (with 0) to the same bytes. */
static void test_obj_quorum_record(void **state)
{
    (void)state;
    /* ohsm_obj_encode of issue 4 (commit 67cedc3's codec): aes_key() labelled "old", shared
     * with bob. */
    static const char old_hex[] = "8000000100000008000000000000054380000005000000080000000000000002"
                                  "00000000000000040000000400000100"
                                  "000000040000001f000001040000000100000001050000000100000000010000"
                                  "0001010000016500000001010000010c"
                                  "0000000100000001720000000101000001620000000101000001630000000101"
                                  "00000170000000010100000164000000"
                                  "0100000000020000000101000001030000000101000001080000000101000000"
                                  "86000000010000000107000000010000"
                                  "00010a0000000101000001060000000100000002100000000100800000020000"
                                  "0005616c696365800000030000000362"
                                  "6f6200000003000000036f6c6400000102000000000000016100000004000000"
                                  "20000001210000000400000000800000"
                                  "06000000040000000000000173000000039b94bd";
    uint8_t old[sizeof(old_hex) / 2];
    uint8_t a[OHSM_OBJ_ENC_MAX], b[OHSM_OBJ_ENC_MAX];
    size_t na = 0, nb = 0;
    struct ohsm_obj o, d;
    for (size_t i = 0; i < sizeof(old); i++) {
        char byte[3] = {old_hex[2 * i], old_hex[2 * i + 1], '\0'};
        old[i] = (uint8_t)strtoul(byte, NULL, 16);
    }
    memset(&d, 0xa5, sizeof(d));
    assert_int_equal(ohsm_obj_decode(old, sizeof(old), &d), OHSM_OK);
    assert_int_equal(d.quorum_manage, 0);
    assert_int_equal(d.quorum_use, 0);
    assert_string_equal(d.label, "old");
    assert_int_equal(ohsm_obj_encode(&d, a, sizeof(a), &na), OHSM_OK);
    assert_int_equal(na, sizeof(old));
    assert_memory_equal(a, old, na); /* the same bytes: the same sync digest */
    /* each value alone, both, the maximum */
    uint32_t vals[][2] = {{2, 0}, {0, 5}, {1, 1}, {OHSM_QUORUM_MAX, OHSM_QUORUM_MAX}};
    for (size_t i = 0; i < 4; i++) {
        o = d;
        o.quorum_manage = vals[i][0];
        o.quorum_use = vals[i][1];
        assert_int_equal(ohsm_obj_encode(&o, a, sizeof(a), &na), OHSM_OK);
        assert_int_equal(na, sizeof(old) + 12u * (size_t)((vals[i][0] != 0) + (vals[i][1] != 0)));
        assert_memory_equal(a, old, sizeof(old)); /* appended after everything else */
        memset(&d, 0, sizeof(d));
        assert_int_equal(ohsm_obj_decode(a, na, &d), OHSM_OK);
        assert_int_equal(d.quorum_manage, vals[i][0]);
        assert_int_equal(d.quorum_use, vals[i][1]);
        assert_int_equal(ohsm_obj_encode(&d, b, sizeof(b), &nb), OHSM_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
    }
}

/* Decoding refuses a value out of range, an explicit 0 (not canonical), a wrong size, a
 * duplicate and the wrong order. */
static void test_obj_quorum_decode_rejects(void **state)
{
    (void)state;
    static struct rawlist l;
    uint8_t nine[4] = {0, 0, 0, OHSM_QUORUM_MAX + 1};
    uint8_t two[4] = {0, 0, 0, 2};
    uint8_t zero[4] = {0};
    valid_list(&l);
    raw_append(&l, OHSM_A_QUORUM_MANAGE, two, 4);
    raw_append(&l, OHSM_A_QUORUM_USE, two, 4);
    assert_int_equal(decode_list(&l), OHSM_OK);
    valid_list(&l);
    raw_append(&l, OHSM_A_QUORUM_MANAGE, nine, 4);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_append(&l, OHSM_A_QUORUM_USE, nine, 4);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_append(&l, OHSM_A_QUORUM_USE, zero, 4);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_append(&l, OHSM_A_QUORUM_USE, two, 3);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_append(&l, OHSM_A_QUORUM_USE, two, 4);
    raw_append(&l, OHSM_A_QUORUM_USE, two, 4);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
    valid_list(&l);
    raw_append(&l, OHSM_A_QUORUM_USE, two, 4);
    raw_append(&l, OHSM_A_QUORUM_MANAGE, two, 4);
    assert_int_equal(decode_list(&l), OHSM_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_obj_table_lookup),
        cmocka_unit_test(test_obj_table_rules),
        cmocka_unit_test(test_obj_enum_names),
        cmocka_unit_test(test_obj_handle),
        cmocka_unit_test(test_obj_defaults_aes),
        cmocka_unit_test(test_obj_defaults_pairs),
        cmocka_unit_test(test_obj_tmpl_text),
        cmocka_unit_test(test_obj_tmpl_text_rejects),
        cmocka_unit_test(test_obj_tmpl_overflow),
        cmocka_unit_test(test_obj_tmpl_parse_rejects),
        cmocka_unit_test(test_obj_record_roundtrip),
        cmocka_unit_test(test_obj_record_canonical),
        cmocka_unit_test(test_obj_decode_rejects_attrs),
        cmocka_unit_test(test_obj_decode_rejects_noncanonical),
        cmocka_unit_test(test_obj_decode_rejects_lengths),
        cmocka_unit_test(test_obj_decode_rejects_values),
        cmocka_unit_test(test_obj_apply_template),
        cmocka_unit_test(test_obj_apply_template_rejects),
        cmocka_unit_test(test_obj_set_readonly),
        cmocka_unit_test(test_obj_set_who),
        cmocka_unit_test(test_obj_set_one_way),
        cmocka_unit_test(test_obj_set_modifiable),
        cmocka_unit_test(test_obj_set_apply),
        cmocka_unit_test(test_obj_share),
        cmocka_unit_test(test_obj_check_use),
        cmocka_unit_test(test_obj_check_wrap),
        cmocka_unit_test(test_obj_attr_get_rsa),
        cmocka_unit_test(test_obj_attr_get_ec),
        cmocka_unit_test(test_obj_match),
        cmocka_unit_test(test_obj_quorum_table),
        cmocka_unit_test(test_obj_quorum_range),
        cmocka_unit_test(test_obj_quorum_create_only),
        cmocka_unit_test(test_obj_quorum_check),
        cmocka_unit_test(test_obj_quorum_record),
        cmocka_unit_test(test_obj_quorum_decode_rejects),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
