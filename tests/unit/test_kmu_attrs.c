/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-kmu's attribute module (src/kmu/attrs.c): the getAttribute file (guide
 * order, short forms in the -a 512 dump, 8-digit forms for one attribute, text only when
 * printable, errors for attributes a key lacks), listAttributes, the creation templates (parsed
 * back with the core's template parser), and the wrapped-key file format (round trip, then every
 * kind of damage: bad magic, truncation at every length, trailing bytes, over-long fields).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kmu/attrs.h"
#include "openhsm/mech.h"

static void aes_key(struct ohsm_obj *o)
{
    memset(o, 0, sizeof(*o));
    ohsm_obj_defaults(o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    (void)snprintf(o->label, sizeof(o->label), "aes256");
    memcpy(o->id, "test_01", 7);
    o->id_len = 7;
    o->value_len = 32;
    o->kcv[0] = 0x1a;
    o->kcv[1] = 0x4b;
    o->kcv[2] = 0x31;
    o->has_kcv = true;
    o->handle = 6;
}

/* The size the last dump() reported for the console line. */
static size_t dumped_size;

/* Runs ohsm_kmu_attr_write into a string (caller frees). */
static char *dump(const struct ohsm_obj *o, uint32_t id, ohsm_rv *rv, size_t *count)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    *rv = ohsm_kmu_attr_write(f, o, id, count, &dumped_size);
    assert_int_equal(fclose(f), 0);
    return text;
}

/* -a 512 of an AES key: the guide's file (getAttribute's example) line for line, 17 attributes,
 * with AES's key type (the example's 0x15 is 3DES's, contradicting its own 32-byte length) and
 * this fixture's flags (the defaults: sign and verify, no encrypt). */
static void test_kmu_attrs_dump_all(void **state)
{
    (void)state;
    struct ohsm_obj o;
    ohsm_rv rv;
    size_t count = 0;
    aes_key(&o);
    char *t = dump(&o, OHSM_KMU_ATTR_ALL, &rv, &count);
    assert_int_equal(rv, OHSM_OK);
    assert_int_equal(count, 17);
    assert_string_equal(t,
                        "\nOBJ_ATTR_CLASS\n0x04\nOBJ_ATTR_KEY_TYPE\n0x1f\nOBJ_ATTR_TOKEN\n0x01\n"
                        "OBJ_ATTR_PRIVATE\n0x01\nOBJ_ATTR_ENCRYPT\n0x00\nOBJ_ATTR_DECRYPT\n0x00\n"
                        "OBJ_ATTR_WRAP\n0x00\nOBJ_ATTR_UNWRAP\n0x00\nOBJ_ATTR_SIGN\n0x01\n"
                        "OBJ_ATTR_VERIFY\n0x01\nOBJ_ATTR_LOCAL\n0x01\nOBJ_ATTR_SENSITIVE\n0x01\n"
                        "OBJ_ATTR_EXTRACTABLE\n0x01\nOBJ_ATTR_LABEL\naes256\nOBJ_ATTR_ID\n"
                        "test_01\nOBJ_ATTR_VALUE_LEN\n0x00000020\nOBJ_ATTR_KCV\n0x1a4b31\n");
    /* The guide's console line: "got all attributes of size 444 attr cnt 17". */
    assert_int_equal(dumped_size, 444);
    free(t);
    /* genSymKey's 3DES example prints 444 too, with a label and id of other lengths. */
    (void)snprintf(o.label, sizeof(o.label), "3DES_shared");
    memcpy(o.id, "IT-02", 5);
    o.id_len = 5;
    t = dump(&o, OHSM_KMU_ATTR_ALL, &rv, &count);
    assert_int_equal(rv, OHSM_OK);
    assert_int_equal(dumped_size, 444);
    free(t);
}

/* -a 512 of an RSA public key: genRSAKeyPair's example (26 attributes; the modulus as "0x" and
 * hex in lines of 80 characters; the exponent as 0x010001). */
static void test_kmu_attrs_dump_rsa(void **state)
{
    (void)state;
    struct ohsm_obj o;
    void *pk = NULL;
    ohsm_rv rv;
    size_t count = 0;
    ohsm_obj_defaults(&o, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, true);
    assert_int_equal(ohsm_mech_gen_rsa(2048, 65537, &pk), OHSM_OK);
    assert_int_equal(ohsm_mech_fill_public(&o, pk), OHSM_OK);
    ohsm_mech_pkey_free(pk);
    assert_int_equal(ohsm_obj_set_key_len(&o, 0), OHSM_OK);
    char *t = dump(&o, OHSM_KMU_ATTR_ALL, &rv, &count);
    assert_int_equal(rv, OHSM_OK);
    assert_int_equal(count, 26);
    /* 444 + modulus (8 + 256) + bits (8 + 4) + exponent (8 + 3) = 731, the guide's 20-attribute
     * RSA public example; then six booleans of 8 + 1. */
    assert_int_equal(dumped_size, 731 + 6 * 9);
    assert_non_null(strstr(t, "\nOBJ_ATTR_VALUE_LEN\n0x00000200\nOBJ_ATTR_KCV\n0x"));
    const char *m = strstr(t, "\nOBJ_ATTR_MODULUS\n");
    assert_non_null(m);
    m += strlen("\nOBJ_ATTR_MODULUS\n");
    /* 514 characters ("0x" + 512 digits): six lines of 80 and one of 34. */
    assert_memory_equal(m, "0x", 2);
    for (int i = 0; i < 6; i++) {
        const char *nl = strchr(m, '\n');
        assert_non_null(nl);
        assert_int_equal(nl - m, 80);
        m = nl + 1;
    }
    assert_int_equal(strchr(m, '\n') - m, 34);
    assert_non_null(strstr(t,
                           "\nOBJ_ATTR_MODULUS_BITS\n0x00000800\nOBJ_ATTR_PUBLIC_EXPONENT\n"
                           "0x010001\nOBJ_ATTR_TRUSTED\n0x00\nOBJ_ATTR_WRAP_WITH_TRUSTED\n0x00\n"
                           "OBJ_ATTR_DESTROYABLE\n0x01\nOBJ_ATTR_DERIVE\n0x00\n"
                           "OBJ_ATTR_ALWAYS_SENSITIVE\n0x00\nOBJ_ATTR_NEVER_EXTRACTABLE\n0x00\n"));
    assert_int_equal(t[strlen(t) - 1], '\n');
    free(t);
}

/* -a 512 of an EC private key: genECCKeyPair's example (19 attributes; the point as bare hex on
 * one line under OBJ_ATTR_MODULUS, the curve's size under OBJ_ATTR_MODULUS_BITS). */
static void test_kmu_attrs_dump_ec(void **state)
{
    (void)state;
    struct ohsm_obj o;
    void *pk = NULL;
    ohsm_rv rv;
    size_t count = 0;
    ohsm_obj_defaults(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, true);
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P256, &pk), OHSM_OK);
    assert_int_equal(ohsm_mech_fill_public(&o, pk), OHSM_OK);
    ohsm_mech_pkey_free(pk);
    assert_int_equal(ohsm_obj_set_key_len(&o, 138), OHSM_OK);
    char *t = dump(&o, OHSM_KMU_ATTR_ALL, &rv, &count);
    assert_int_equal(rv, OHSM_OK);
    assert_int_equal(count, 19);
    /* The guide's EC P-256 private example: 444 + point (8 + 65) + bits (8 + 4) = 529. */
    assert_int_equal(dumped_size, 529);
    assert_non_null(strstr(t, "\nOBJ_ATTR_VALUE_LEN\n0x0000008a\nOBJ_ATTR_KCV\n0x"));
    const char *m = strstr(t, "\nOBJ_ATTR_MODULUS\n04");
    assert_non_null(m);
    m += strlen("\nOBJ_ATTR_MODULUS\n");
    assert_int_equal(strchr(m, '\n') - m, 130);
    assert_string_equal(strchr(m, '\n'), "\nOBJ_ATTR_MODULUS_BITS\n0x00000100\n");
    free(t);
}

/* One attribute: 8-digit numbers and booleans, as the guide's single-attribute files. */
static void test_kmu_attrs_dump_one(void **state)
{
    (void)state;
    struct ohsm_obj o;
    ohsm_rv rv;
    size_t count = 0;
    aes_key(&o);
    char *t = dump(&o, OHSM_A_KEY_TYPE, &rv, &count);
    assert_int_equal(rv, OHSM_OK);
    assert_int_equal(count, 1);
    assert_string_equal(t, "OBJ_ATTR_KEY_TYPE\n0x0000001f\n");
    free(t);
    o.flags &= ~(uint32_t)OHSM_F_LOCAL;
    t = dump(&o, OHSM_A_LOCAL, &rv, &count);
    assert_string_equal(t, "OBJ_ATTR_LOCAL\n0x00000000\n");
    free(t);
    t = dump(&o, OHSM_A_KCV, &rv, &count);
    assert_string_equal(t, "OBJ_ATTR_KCV\n0x1a4b31\n");
    free(t);
}

/* Attributes the key lacks, and ids that are not attributes, are errors and write nothing. */
static void test_kmu_attrs_dump_missing(void **state)
{
    (void)state;
    struct ohsm_obj o;
    ohsm_rv rv;
    size_t count = 9;
    aes_key(&o);
    char *t = dump(&o, OHSM_A_MODULUS, &rv, &count);
    assert_int_equal(rv, OHSM_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(count, 0);
    assert_string_equal(t, "");
    free(t);
    t = dump(&o, 0x7777, &rv, &count);
    assert_int_equal(rv, OHSM_ATTRIBUTE_TYPE_INVALID);
    free(t);
}

/* A label or id that is not printable is written in hex, so it cannot add lines to the file. */
static void test_kmu_attrs_dump_unprintable(void **state)
{
    (void)state;
    struct ohsm_obj o;
    ohsm_rv rv;
    size_t count = 0;
    aes_key(&o);
    memcpy(o.label, "a\nOBJ", 6);
    o.id[0] = 0x00;
    o.id[1] = 0xff;
    o.id_len = 2;
    char *t = dump(&o, OHSM_A_LABEL, &rv, &count);
    assert_string_equal(t, "OBJ_ATTR_LABEL\n0x610a4f424a\n");
    free(t);
    t = dump(&o, OHSM_A_ID, &rv, &count);
    assert_string_equal(t, "OBJ_ATTR_ID\n0x00ff\n");
    free(t);
    o.id_len = 0;
    t = dump(&o, OHSM_A_ID, &rv, &count);
    assert_string_equal(t, "OBJ_ATTR_ID\n\n"); /* empty, as the guide shows */
    free(t);
}

/* listAttributes: the guide page's header and list, exactly. */
static void test_kmu_attrs_list(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    ohsm_kmu_attr_list(f);
    assert_int_equal(fclose(f), 0);
    assert_string_equal(text, "Following are the possible attribute values for getAttributes:\n\n"
                              "      OBJ_ATTR_CLASS                  = 0\n"
                              "      OBJ_ATTR_TOKEN                  = 1\n"
                              "      OBJ_ATTR_PRIVATE                = 2\n"
                              "      OBJ_ATTR_LABEL                  = 3\n"
                              "      OBJ_ATTR_KEY_TYPE               = 256\n"
                              "      OBJ_ATTR_ENCRYPT                = 260\n"
                              "      OBJ_ATTR_DECRYPT                = 261\n"
                              "      OBJ_ATTR_WRAP                   = 262\n"
                              "      OBJ_ATTR_UNWRAP                 = 263\n"
                              "      OBJ_ATTR_SIGN                   = 264\n"
                              "      OBJ_ATTR_VERIFY                 = 266\n"
                              "      OBJ_ATTR_LOCAL                  = 355\n"
                              "      OBJ_ATTR_MODULUS                = 288\n"
                              "      OBJ_ATTR_MODULUS_BITS           = 289\n"
                              "      OBJ_ATTR_PUBLIC_EXPONENT        = 290\n"
                              "      OBJ_ATTR_VALUE_LEN              = 353\n"
                              "      OBJ_ATTR_EXTRACTABLE            = 354\n"
                              "      OBJ_ATTR_KCV                    = 371\n");
    free(text);
}

/* The value of boolean attribute id in an encoded template; -1 when absent. */
static int tbool(const struct ohsm_tmpl_buf *b, uint32_t id)
{
    struct ohsm_tmpl t;
    assert_int_equal(ohsm_tmpl_parse(b->buf, b->len, &t), OHSM_OK);
    for (size_t i = 0; i < t.n; i++) {
        if (t.a[i].id == id) {
            return t.a[i].val[0];
        }
    }
    return -1;
}

/* Templates: the KMU's defaults per class and type, -sess, -nex, label and id; each one parses. */
static void test_kmu_attrs_templates(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf b;
    const uint8_t id[] = {'k', '1'};
    struct ohsm_kmu_keyopts o = {"lbl", id, sizeof(id), true, true};

    ohsm_kmu_tmpl_secret(&b, OHSM_KT_AES, &o);
    assert_false(b.overflow);
    assert_int_equal(tbool(&b, OHSM_A_ENCRYPT), 1);
    assert_int_equal(tbool(&b, OHSM_A_WRAP), 1);
    assert_int_equal(tbool(&b, OHSM_A_UNWRAP), 1);
    assert_int_equal(tbool(&b, OHSM_A_SIGN), 0);
    assert_int_equal(tbool(&b, OHSM_A_TOKEN), 1);
    assert_int_equal(tbool(&b, OHSM_A_EXTRACTABLE), 1);

    ohsm_kmu_tmpl_secret(&b, OHSM_KT_GENERIC_SECRET, &o);
    assert_int_equal(tbool(&b, OHSM_A_SIGN), 1);
    assert_int_equal(tbool(&b, OHSM_A_ENCRYPT), 0);

    o.token = false;
    o.extractable = false;
    ohsm_kmu_tmpl_private(&b, OHSM_KT_RSA, &o);
    assert_int_equal(tbool(&b, OHSM_A_TOKEN), 0);
    assert_int_equal(tbool(&b, OHSM_A_EXTRACTABLE), 0);
    assert_int_equal(tbool(&b, OHSM_A_SIGN), 1);
    assert_int_equal(tbool(&b, OHSM_A_UNWRAP), 1);
    ohsm_kmu_tmpl_private(&b, OHSM_KT_EC, &o);
    assert_int_equal(tbool(&b, OHSM_A_DECRYPT), 0);

    /* Public keys stay extractable even with -nex. */
    ohsm_kmu_tmpl_public(&b, OHSM_KT_RSA, &o);
    assert_int_equal(tbool(&b, OHSM_A_EXTRACTABLE), 1);
    assert_int_equal(tbool(&b, OHSM_A_VERIFY), 1);
    assert_int_equal(tbool(&b, OHSM_A_SIGN), 0);
    assert_int_equal(tbool(&b, OHSM_A_ENCRYPT), 1);
    ohsm_kmu_tmpl_public(&b, OHSM_KT_EC, &o);
    assert_int_equal(tbool(&b, OHSM_A_ENCRYPT), 0);

    /* Label and id are there; no id when none is given. */
    struct ohsm_tmpl t;
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
    bool label = false, has_id = false;
    for (size_t i = 0; i < t.n; i++) {
        label |= t.a[i].id == OHSM_A_LABEL && t.a[i].len == 3 && memcmp(t.a[i].val, "lbl", 3) == 0;
        has_id |= t.a[i].id == OHSM_A_ID;
    }
    assert_true(label && has_id);
    o.id = NULL;
    o.id_len = 0;
    ohsm_kmu_tmpl_secret(&b, OHSM_KT_AES, &o);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
    for (size_t i = 0; i < t.n; i++) {
        assert_int_not_equal(t.a[i].id, OHSM_A_ID);
    }
}

static uint8_t *sample_file(size_t *len)
{
    static const uint8_t wrapped[40] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct ohsm_kmu_wrapfile h;
    uint8_t *out = NULL;
    memset(&h, 0, sizeof(h));
    h.mech = 8;
    h.hash = 3;
    h.cls = OHSM_CLASS_SECRET;
    h.ktype = OHSM_KT_AES;
    (void)snprintf(h.label, sizeof(h.label), "wrapped-aes");
    memcpy(h.id, "id7", 3);
    h.id_len = 3;
    h.tag_bits = 128;
    h.wrapped = wrapped;
    h.wrapped_len = sizeof(wrapped);
    assert_int_equal(ohsm_kmu_wrapfile_encode(&h, &out, len), OHSM_OK);
    return out;
}

/* A wrapped-key file decodes to what was encoded. */
static void test_kmu_attrs_wrapfile_round_trip(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = sample_file(&len);
    struct ohsm_kmu_wrapfile h;
    assert_true(ohsm_kmu_wrapfile_is(buf, len));
    assert_int_equal(ohsm_kmu_wrapfile_decode(buf, len, &h), OHSM_OK);
    assert_int_equal(h.mech, 8);
    assert_int_equal(h.cls, OHSM_CLASS_SECRET);
    assert_int_equal(h.ktype, OHSM_KT_AES);
    assert_string_equal(h.label, "wrapped-aes");
    assert_int_equal(h.id_len, 3);
    assert_memory_equal(h.id, "id7", 3);
    assert_int_equal(h.hash, 3);
    assert_int_equal(h.tag_bits, 128);
    assert_int_equal(h.wrapped_len, 40);
    assert_int_equal(h.wrapped[0], 1);
    assert_ptr_equal(h.wrapped, buf + len - 40); /* borrowed, not copied */
    free(buf);
}

/* Every truncation, a trailing byte and a bad magic are refused. */
static void test_kmu_attrs_wrapfile_damage(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = sample_file(&len);
    struct ohsm_kmu_wrapfile h;
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(ohsm_kmu_wrapfile_decode(buf, n, &h), OHSM_DATA_INVALID);
    }
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(ohsm_kmu_wrapfile_decode(longer, len + 1, &h), OHSM_DATA_INVALID);
    free(longer);
    buf[0] ^= 1;
    assert_false(ohsm_kmu_wrapfile_is(buf, len));
    assert_int_equal(ohsm_kmu_wrapfile_decode(buf, len, &h), OHSM_DATA_INVALID);
    buf[0] ^= 1;
    /* The label length field (after magic, mech, hash, class, type) claims more than the limit. */
    buf[8 + 16] = 0x7f;
    assert_int_equal(ohsm_kmu_wrapfile_decode(buf, len, &h), OHSM_DATA_INVALID);
    free(buf);
}

/* A label that is not printable text is refused; an empty wrapped part too. */
static void test_kmu_attrs_wrapfile_bad_fields(void **state)
{
    (void)state;
    struct ohsm_kmu_wrapfile h, back;
    uint8_t *out = NULL;
    size_t len = 0;
    static const uint8_t w[16] = {0};
    memset(&h, 0, sizeof(h));
    h.cls = OHSM_CLASS_SECRET;
    memcpy(h.label, "a\tb", 3);
    h.wrapped = w;
    h.wrapped_len = sizeof(w);
    assert_int_equal(ohsm_kmu_wrapfile_encode(&h, &out, &len), OHSM_OK);
    assert_int_equal(ohsm_kmu_wrapfile_decode(out, len, &back), OHSM_DATA_INVALID);
    free(out);
    memcpy(h.label, "ok", 3);
    h.wrapped_len = 0;
    assert_int_equal(ohsm_kmu_wrapfile_encode(&h, &out, &len), OHSM_OK);
    assert_int_equal(ohsm_kmu_wrapfile_decode(out, len, &back), OHSM_DATA_INVALID);
    free(out);
    h.id_len = OHSM_OBJ_ID_MAX + 1;
    assert_int_equal(ohsm_kmu_wrapfile_encode(&h, &out, &len), OHSM_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmu_attrs_dump_all),
        cmocka_unit_test(test_kmu_attrs_dump_rsa),
        cmocka_unit_test(test_kmu_attrs_dump_ec),
        cmocka_unit_test(test_kmu_attrs_dump_one),
        cmocka_unit_test(test_kmu_attrs_dump_missing),
        cmocka_unit_test(test_kmu_attrs_dump_unprintable),
        cmocka_unit_test(test_kmu_attrs_list),
        cmocka_unit_test(test_kmu_attrs_templates),
        cmocka_unit_test(test_kmu_attrs_wrapfile_round_trip),
        cmocka_unit_test(test_kmu_attrs_wrapfile_damage),
        cmocka_unit_test(test_kmu_attrs_wrapfile_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
