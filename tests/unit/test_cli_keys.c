/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-cli's key argument parsing (src/cli/keyarg.c) and key JSON shaping
 * (src/cli/keyshape.c): key references, numbers, filters and attribute lists (with every kind of
 * bad input refused with a message), key-type-class, MGF and mechanism names, hex and base64
 * (RFC 4648 vectors, non-canonical input refused), one key printed exactly as the CloudHSM CLI
 * guide's example (field names, order, types), RSA and EC attributes, key-info, the merge of
 * several HSMs' answers (coverage), key list pages and the sync report, and the key quorum
 * values (parsed into templates; shown from the record under key-info).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/keyarg.h"
#include "cli/keyshape.h"
#include "openhsm/mech.h"

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(s);
    return s;
}

/* The attribute of id in an encoded template, or NULL. */
static const struct ohsm_tmpl_attr *tmpl_get(const struct ohsm_tmpl *t, uint32_t id)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->a[i].id == id) {
            return &t->a[i];
        }
    }
    return NULL;
}

/* Key references print as 0x + 16 hex digits. */
static void test_cli_keys_keyref(void **state)
{
    (void)state;
    char buf[OHSM_CLI_KEYREF_LEN];
    ohsm_cli_keyref(0x2e06bf, buf);
    assert_string_equal(buf, "0x00000000002e06bf");
    ohsm_cli_keyref(UINT64_MAX, buf);
    assert_string_equal(buf, "0xffffffffffffffff");
    ohsm_cli_keyref(0, buf);
    assert_string_equal(buf, "0x0000000000000000");
}

/* Numbers are decimal or 0x-hex, whole strings only, in range. */
static void test_cli_keys_numbers(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_true(ohsm_cli_parse_u64("31", 0, UINT64_MAX, &v));
    assert_int_equal(v, 31);
    assert_true(ohsm_cli_parse_u64("0x1f", 0, UINT64_MAX, &v));
    assert_int_equal(v, 31);
    assert_true(ohsm_cli_parse_u64("0X1F", 0, UINT64_MAX, &v));
    assert_true(ohsm_cli_parse_u64("18446744073709551615", 0, UINT64_MAX, &v));
    assert_true(v == UINT64_MAX);
    const char *bad[] = {"",
                         "0x",
                         "-1",
                         "+1",
                         " 1",
                         "1 ",
                         "1x",
                         "0x1g",
                         "1e3",
                         "18446744073709551616",
                         "0x10000000000000000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(ohsm_cli_parse_u64(bad[i], 0, UINT64_MAX, &v));
    }
    assert_false(ohsm_cli_parse_u64(NULL, 0, 1, &v));
    assert_false(ohsm_cli_parse_u64("0", 1, 10, &v));
    assert_false(ohsm_cli_parse_u64("11", 1, 10, &v));
    assert_true(ohsm_cli_parse_u64("10", 1, 10, &v));
}

/* A filter takes a key reference and attr.* terms; the terms become a template the core parses. */
static void test_cli_keys_filter_ok(void **state)
{
    (void)state;
    struct ohsm_cli_filter f;
    struct ohsm_tmpl t;
    char err[256];

    const char *ref[] = {"key-reference=0x00000000002e06bf"};
    assert_int_equal(ohsm_cli_filter_parse("--filter", ref, 1, &f, err, sizeof(err)), OHSM_OK);
    assert_true(f.by_ref);
    assert_true(f.handle == 0x2e06bf);
    assert_int_equal(f.nterms, 0);
    assert_int_equal(f.tmpl.len, 0);

    const char *dec[] = {"key-reference=3016383"};
    assert_int_equal(ohsm_cli_filter_parse("--filter", dec, 1, &f, err, sizeof(err)), OHSM_OK);
    assert_true(f.handle == 0x2e06bf);

    const char *attrs[] = {"attr.label=my key", "attr.class=private-key", "attr.sign=true",
                           "attr.key-type=rsa", "key-reference=7"};
    assert_int_equal(ohsm_cli_filter_parse("--filter", attrs, 5, &f, err, sizeof(err)), OHSM_OK);
    assert_true(f.by_ref);
    assert_true(f.handle == 7);
    assert_int_equal(f.nterms, 4);
    assert_int_equal(ohsm_tmpl_parse(f.tmpl.buf, f.tmpl.len, &t), OHSM_OK);
    assert_int_equal(t.n, 4);
    const struct ohsm_tmpl_attr *l = tmpl_get(&t, OHSM_A_LABEL);
    assert_non_null(l);
    assert_int_equal(l->len, 6);
    assert_memory_equal(l->val, "my key", 6);
    const struct ohsm_tmpl_attr *c = tmpl_get(&t, OHSM_A_CLASS);
    assert_non_null(c);
    assert_int_equal(c->len, 4);
    assert_int_equal(c->val[3], OHSM_CLASS_PRIVATE);
    const struct ohsm_tmpl_attr *s = tmpl_get(&t, OHSM_A_SIGN);
    assert_non_null(s);
    assert_int_equal(s->val[0], 1);
    /* A value may itself contain '='. */
    const char *eq[] = {"attr.label=a=b"};
    assert_int_equal(ohsm_cli_filter_parse("--filter", eq, 1, &f, err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_tmpl_parse(f.tmpl.buf, f.tmpl.len, &t), OHSM_OK);
    assert_int_equal(tmpl_get(&t, OHSM_A_LABEL)->len, 3);
}

/* Bad filters are refused with a message naming the option, and never half-parsed. */
static void test_cli_keys_filter_bad(void **state)
{
    (void)state;
    struct ohsm_cli_filter f;
    char err[256];
    static const struct {
        const char *terms[2];
        size_t n;
        ohsm_rv rv;
        const char *msg;
    } cases[] = {
        {{NULL}, 0, OHSM_ARGUMENTS_BAD, "at least one term"},
        {{"key-reference=1", "key-reference=2"}, 2, OHSM_ARGUMENTS_BAD, "more than one"},
        {{"key-reference=zz"}, 1, OHSM_ARGUMENTS_BAD, "Invalid key-reference"},
        {{"key-reference=0"}, 1, OHSM_ARGUMENTS_BAD, "Invalid key-reference"},
        {{"key-reference="}, 1, OHSM_ARGUMENTS_BAD, "Invalid key-reference"},
        {{"label=x"}, 1, OHSM_ARGUMENTS_BAD, "expected key-reference"},
        {{"attr.label"}, 1, OHSM_ARGUMENTS_BAD, "attr.KEY_ATTRIBUTE_NAME"},
        {{"attr.=x"}, 1, OHSM_ARGUMENTS_BAD, "attr.KEY_ATTRIBUTE_NAME"},
        {{"attr.colour=blue"}, 1, OHSM_ATTRIBUTE_TYPE_INVALID, "Unknown key attribute 'colour'"},
        {{"attr.sign=maybe"}, 1, OHSM_ATTRIBUTE_VALUE_INVALID, "Invalid value for key attribute"},
        {{"attr.class=round"}, 1, OHSM_ATTRIBUTE_VALUE_INVALID, "'class'"},
        {{"attr.label="}, 1, OHSM_ATTRIBUTE_VALUE_INVALID, "needs a value"},
        {{"attr.label=a", "attr.label=b"}, 2, OHSM_TEMPLATE_INCONSISTENT, "more than once"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        ohsm_rv rv =
            ohsm_cli_filter_parse("--key-filter", cases[i].terms, cases[i].n, &f, err, sizeof(err));
        assert_int_equal(rv, cases[i].rv);
        if (strstr(err, cases[i].msg) == NULL) {
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        }
    }
}

/* Creation and set-attribute lists only take what the attribute table allows for them. */
static void test_cli_keys_attr_uses(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf b;
    uint32_t ids[OHSM_TMPL_MAX];
    size_t nids = 0;
    char err[256];
    struct ohsm_tmpl t;

    ohsm_tmpl_init(&b);
    const char *ok[] = {"encrypt=true", "extractable=false", "id=0x0102"};
    assert_int_equal(ohsm_cli_attrs_parse("--attributes", OHSM_CLI_ATTR_CREATE, ok, 3, &b, ids,
                                          &nids, err, sizeof(err)),
                     OHSM_OK);
    assert_int_equal(nids, 3);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
    assert_int_equal(tmpl_get(&t, OHSM_A_ID)->len, 2);
    /* local is the HSM's to say; trusted is the admin's, later. */
    const char *local[] = {"local=true"};
    assert_int_equal(ohsm_cli_attrs_parse("--attributes", OHSM_CLI_ATTR_CREATE, local, 1, &b, ids,
                                          &nids, err, sizeof(err)),
                     OHSM_ATTRIBUTE_READ_ONLY);
    assert_non_null(strstr(err, "'local'"));
    /* The same attribute as an earlier term of the same list. */
    const char *again[] = {"encrypt=false"};
    assert_int_equal(ohsm_cli_attrs_parse("--attributes", OHSM_CLI_ATTR_CREATE, again, 1, &b, ids,
                                          &nids, err, sizeof(err)),
                     OHSM_TEMPLATE_INCONSISTENT);
    const char *noeq[] = {"encrypt"};
    assert_int_equal(ohsm_cli_attrs_parse("--attributes", OHSM_CLI_ATTR_CREATE, noeq, 1, &b, ids,
                                          &nids, err, sizeof(err)),
                     OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "KEY_ATTRIBUTE_NAME=KEY_ATTRIBUTE_VALUE"));

    nids = 0;
    ohsm_tmpl_init(&b);
    assert_int_equal(
        ohsm_cli_attr_put(&b, OHSM_CLI_ATTR_SET, "label", "new", ids, &nids, err, sizeof(err)),
        OHSM_OK);
    assert_int_equal(ohsm_cli_attr_put(&b, OHSM_CLI_ATTR_SET, "class", "secret-key", ids, &nids,
                                       err, sizeof(err)),
                     OHSM_ATTRIBUTE_READ_ONLY);
    assert_non_null(strstr(err, "cannot be changed"));
    assert_int_equal(ohsm_cli_attr_put(&b, OHSM_CLI_ATTR_SET, "key-length-bytes", "32", ids, &nids,
                                       err, sizeof(err)),
                     OHSM_ATTRIBUTE_READ_ONLY);
    /* A label longer than 127 bytes. */
    char longl[200];
    memset(longl, 'a', sizeof(longl) - 1);
    longl[sizeof(longl) - 1] = '\0';
    assert_int_equal(
        ohsm_cli_attr_put(&b, OHSM_CLI_ATTR_SET, "wrap", "true", ids, &nids, err, sizeof(err)),
        OHSM_OK);
    nids = 0;
    ohsm_tmpl_init(&b);
    assert_int_equal(
        ohsm_cli_attr_put(&b, OHSM_CLI_ATTR_CREATE, "label", longl, ids, &nids, err, sizeof(err)),
        OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(b.len, 0);
}

/* Key type/class, MGF and mechanism words map to the core's enums; anything else is refused. */
static void test_cli_keys_names(void **state)
{
    (void)state;
    uint32_t cls = 0;
    uint32_t kt = 0;
    assert_true(ohsm_cli_key_type_class("aes", &cls, &kt));
    assert_int_equal(cls, OHSM_CLASS_SECRET);
    assert_int_equal(kt, OHSM_KT_AES);
    assert_true(ohsm_cli_key_type_class("ec-public", &cls, &kt));
    assert_int_equal(cls, OHSM_CLASS_PUBLIC);
    assert_int_equal(kt, OHSM_KT_EC);
    assert_true(ohsm_cli_key_type_class("rsa-private", &cls, &kt));
    assert_int_equal(cls, OHSM_CLASS_PRIVATE);
    assert_int_equal(kt, OHSM_KT_RSA);
    assert_true(ohsm_cli_key_type_class("des3", &cls, &kt));
    assert_int_equal(cls, OHSM_CLASS_SECRET);
    assert_int_equal(kt, OHSM_KT_DES3);
    assert_false(ohsm_cli_key_type_class("3des", &cls, &kt));
    assert_false(ohsm_cli_key_type_class(NULL, &cls, &kt));
    assert_int_equal(ohsm_cli_mgf("mgf1-sha256"), OHSM_H_SHA256);
    assert_int_equal(ohsm_cli_mgf("mgf1-sha1"), OHSM_H_SHA1);
    assert_int_equal(ohsm_cli_mgf("sha256"), OHSM_H_NONE);
    assert_int_equal(ohsm_cli_mgf("mgf1-md5"), OHSM_H_NONE);
    assert_int_equal(ohsm_cli_mgf(NULL), OHSM_H_NONE);
    assert_int_equal(ohsm_cli_mech(OHSM_CLI_MF_WRAP, "aes-no-pad"), OHSM_M_AES_KW);
    assert_int_equal(ohsm_cli_mech(OHSM_CLI_MF_WRAP, "aes-kwp"), OHSM_M_AES_KWP);
    assert_int_equal(ohsm_cli_mech(OHSM_CLI_MF_WRAP, "aes-pkcs5-pad"), OHSM_M_AES_KW_PKCS5);
    assert_int_equal(ohsm_cli_mech(OHSM_CLI_MF_SIGN, "rsa-pkcs-pss"), OHSM_M_RSA_PSS);
    assert_int_equal(ohsm_cli_mech(OHSM_CLI_MF_CIPHER, "aes-cbc"), OHSM_M_AES_CBC_PAD);
    /* A word of one family is not a mechanism of another. */
    assert_int_equal(ohsm_cli_mech(OHSM_CLI_MF_CIPHER, "ecdsa"), OHSM_M_NONE);
    assert_int_equal(ohsm_cli_mech(OHSM_CLI_MF_SIGN, "aes-gcm"), OHSM_M_NONE);
}

/* Hex: optional 0x, even length, capacity; encode is lower case. */
static void test_cli_keys_hex(void **state)
{
    (void)state;
    uint8_t b[4];
    size_t n = 99;
    char s[16];
    assert_true(ohsm_cli_hex_decode("0xA6a6", b, sizeof(b), &n));
    assert_int_equal(n, 2);
    assert_int_equal(b[0], 0xa6);
    assert_true(ohsm_cli_hex_decode("", b, sizeof(b), &n));
    assert_int_equal(n, 0);
    assert_false(ohsm_cli_hex_decode("abc", b, sizeof(b), &n));
    assert_false(ohsm_cli_hex_decode("zz", b, sizeof(b), &n));
    assert_false(ohsm_cli_hex_decode("0011223344", b, sizeof(b), &n));
    assert_true(ohsm_cli_hex_encode(b, 2, true, s, sizeof(s)));
    assert_string_equal(s, "0xa6a6");
    assert_true(ohsm_cli_hex_encode(b, 2, false, s, 5));
    assert_string_equal(s, "a6a6");
    assert_false(ohsm_cli_hex_encode(b, 2, true, s, 6));
}

/* Base64: the RFC 4648 §10 vectors both ways; anything non-canonical is refused. */
static void test_cli_keys_base64(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    uint8_t b[16];
    size_t n;
    for (size_t i = 0; i < 7; i++) {
        char *e = ohsm_cli_b64_encode((const uint8_t *)plain[i], strlen(plain[i]));
        assert_non_null(e);
        assert_string_equal(e, enc[i]);
        free(e);
        assert_true(ohsm_cli_b64_decode(enc[i], b, sizeof(b), &n));
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(b, plain[i], n);
    }
    const char *bad[] = {
        "Zg=", "Zg", "Z===", "Zm=v", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n", "Zm-v", "=Zg=", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ohsm_cli_b64_decode(bad[i], b, sizeof(b), &n)) {
            fail_msg("'%s' was accepted", bad[i]);
        }
    }
    assert_false(ohsm_cli_b64_decode("Zm9vYmFy", b, 5, &n));
}

static void aes_key(struct ohsm_obj *o)
{
    static const uint8_t kcv[3] = {0x9b, 0x94, 0xbd};
    ohsm_obj_defaults(o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    o->handle = 0x2e06bf;
    o->value_len = 24;
    snprintf(o->label, sizeof(o->label), "%s", "example-aes");
    snprintf(o->owner, sizeof(o->owner), "%s", "cu1");
    memcpy(o->kcv, kcv, 3);
    o->has_kcv = true;
}

/* A new AES key prints exactly as the CloudHSM CLI guide's generate-symmetric example. */
static void test_cli_keys_aes_json(void **state)
{
    (void)state;
    struct ohsm_obj o;
    aes_key(&o);
    json_t *j = ohsm_cli_key_json(&o, false, true);
    assert_non_null(j);
    char *s = dump(j);
    assert_string_equal(
        s, "{\"key-reference\":\"0x00000000002e06bf\",\"key-info\":{\"key-owners\":[{\"username\":"
           "\"cu1\",\"key-coverage\":\"full\"}],\"shared-users\":[],\"key-quorum-values\":{"
           "\"manage-key-quorum-value\":0,\"use-key-quorum-value\":0},\"cluster-coverage\":"
           "\"full\"},\"attributes\":{\"key-type\":\"aes\",\"label\":\"example-aes\",\"id\":\"\","
           "\"check-value\":\"0x9b94bd\",\"class\":\"secret-key\",\"encrypt\":false,\"decrypt\":"
           "false,\"token\":true,\"always-sensitive\":true,\"derive\":false,\"destroyable\":true,"
           "\"extractable\":true,\"local\":true,\"modifiable\":true,\"never-extractable\":false,"
           "\"private\":true,\"sensitive\":true,\"sign\":true,\"trusted\":false,\"unwrap\":false,"
           "\"verify\":true,\"wrap\":false,\"wrap-with-trusted\":false,\"key-length-bytes\":24}}");
    free(s);
    json_decref(j);
}

/* key-info lists shares; coverage partial shows on every user; brief is reference + label. */
static void test_cli_keys_info_and_brief(void **state)
{
    (void)state;
    struct ohsm_obj o;
    aes_key(&o);
    o.nshared = 2;
    snprintf(o.shared[0], sizeof(o.shared[0]), "%s", "alice");
    snprintf(o.shared[1], sizeof(o.shared[1]), "%s", "bob");
    o.id_len = 2;
    o.id[0] = 0xca;
    o.id[1] = 0xfe;
    json_t *j = ohsm_cli_key_json(&o, false, false);
    assert_non_null(j);
    char *s = dump(json_object_get(j, "key-info"));
    assert_string_equal(s, "{\"key-owners\":[{\"username\":\"cu1\",\"key-coverage\":\"partial\"}],"
                           "\"shared-users\":[{\"username\":\"alice\",\"key-coverage\":"
                           "\"partial\"},{\"username\":\"bob\",\"key-coverage\":\"partial\"}],"
                           "\"key-quorum-values\":{\"manage-key-quorum-value\":0,"
                           "\"use-key-quorum-value\":0},\"cluster-coverage\":\"partial\"}");
    free(s);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "attributes"), "id")),
                        "0xcafe");
    json_decref(j);
    j = ohsm_cli_key_json(&o, true, true);
    s = dump(j);
    assert_string_equal(
        s, "{\"key-reference\":\"0x00000000002e06bf\",\"attributes\":{\"label\":\"example-aes\"}}");
    free(s);
    json_decref(j);
}

/* RSA keys show exponent, modulus and size; EC keys the point and the curve; both a check value. */
static void test_cli_keys_pair_attrs(void **state)
{
    (void)state;
    struct ohsm_obj o;
    void *pk = NULL;

    ohsm_obj_defaults(&o, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, true);
    assert_int_equal(ohsm_mech_gen_rsa(2048, 65537, &pk), OHSM_OK);
    assert_int_equal(ohsm_mech_fill_public(&o, pk), OHSM_OK);
    ohsm_mech_pkey_free(pk);
    json_t *a = ohsm_cli_attrs_json(&o);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "key-type")), "rsa");
    assert_string_equal(json_string_value(json_object_get(a, "class")), "public-key");
    assert_string_equal(json_string_value(json_object_get(a, "public-exponent")), "0x010001");
    assert_int_equal(json_integer_value(json_object_get(a, "modulus-size-bits")), 2048);
    const char *mod = json_string_value(json_object_get(a, "modulus"));
    assert_non_null(mod);
    assert_int_equal(strlen(mod), 2 + 512);
    assert_memory_equal(mod, "0x", 2);
    assert_null(json_object_get(a, "ec-point"));
    /* Issue 11: RSA and EC keys carry check-value (SHA-1 of the SPKI, test_obj_keylen.c), and
     * the attributes end as the guide prints them. */
    const char *kcv = json_string_value(json_object_get(a, "check-value"));
    assert_non_null(kcv);
    assert_int_equal(strlen(kcv), 8);
    assert_false(json_boolean_value(json_object_get(a, "sensitive")));
    char *text = json_dumps(a, JSON_PRESERVE_ORDER);
    assert_non_null(text);
    const char *tail[] = {"\"wrap-with-trusted\"", "\"key-length-bytes\"", "\"public-exponent\"",
                          "\"modulus\"", "\"modulus-size-bits\""};
    const char *at = text;
    for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
        const char *next = strstr(at, tail[i]);
        assert_non_null(next);
        at = next;
    }
    assert_ptr_equal(strstr(text, "\"check-value\"") < strstr(text, "\"class\""), true);
    free(text);
    json_decref(a);

    ohsm_obj_defaults(&o, OHSM_CLASS_PRIVATE, OHSM_KT_EC, true);
    assert_int_equal(ohsm_mech_gen_ec(OHSM_CURVE_P256, &pk), OHSM_OK);
    assert_int_equal(ohsm_mech_fill_public(&o, pk), OHSM_OK);
    ohsm_mech_pkey_free(pk);
    a = ohsm_cli_attrs_json(&o);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "key-type")), "ec");
    assert_string_equal(json_string_value(json_object_get(a, "curve")), "secp256r1");
    const char *pt = json_string_value(json_object_get(a, "ec-point"));
    assert_non_null(pt);
    /* The uncompressed point itself (04 x y), as the guide prints it: no OCTET STRING header. */
    assert_int_equal(strlen(pt), 2 + 2 * 65);
    assert_memory_equal(pt, "0x04", 4);
    /* ... and a filter given that value matches the key (the records keep the DER form). */
    struct ohsm_tmpl_buf fb;
    struct ohsm_tmpl ft;
    uint32_t ids[OHSM_TMPL_MAX];
    size_t nids = 0;
    char err[256];
    ohsm_tmpl_init(&fb);
    assert_int_equal(
        ohsm_cli_attr_put(&fb, OHSM_CLI_ATTR_FILTER, "ec-point", pt, ids, &nids, err, sizeof(err)),
        OHSM_OK);
    assert_int_equal(ohsm_tmpl_parse(fb.buf, fb.len, &ft), OHSM_OK);
    assert_true(ohsm_obj_match(&o, &ft));
    /* The DER form (what earlier versions printed) still filters; bad hex is refused. */
    char der[2 + 2 * 67 + 1];
    memcpy(der, "0x0441", 6);
    memcpy(der + 6, pt + 2, 2 * 65 + 1);
    ohsm_tmpl_init(&fb);
    nids = 0;
    assert_int_equal(
        ohsm_cli_attr_put(&fb, OHSM_CLI_ATTR_FILTER, "ec-point", der, ids, &nids, err, sizeof(err)),
        OHSM_OK);
    assert_int_equal(ohsm_tmpl_parse(fb.buf, fb.len, &ft), OHSM_OK);
    assert_true(ohsm_obj_match(&o, &ft));
    ohsm_tmpl_init(&fb);
    nids = 0;
    assert_int_equal(ohsm_cli_attr_put(&fb, OHSM_CLI_ATTR_FILTER, "ec-point", "0x04zz", ids, &nids,
                                       err, sizeof(err)),
                     OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(fb.len, 0);
    assert_null(json_object_get(a, "modulus"));
    assert_non_null(json_object_get(a, "check-value"));
    json_decref(a);
}

static struct ohsm_obj key(uint64_t h, uint64_t version, bool token)
{
    struct ohsm_obj o;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    o.handle = h;
    o.version = version;
    if (!token) {
        o.flags &= ~(uint32_t)OHSM_F_TOKEN;
    }
    snprintf(o.label, sizeof(o.label), "k%llu.%llu", (unsigned long long)h,
             (unsigned long long)version);
    return o;
}

/* Merging HSM answers: one row per handle, newest record kept, coverage only when every HSM
 * answered with that version; session keys count as full; rows sorted by handle. */
static void test_cli_keys_keyset(void **state)
{
    (void)state;
    struct ohsm_cli_keyset ks = {0};
    struct ohsm_obj h0[] = {key(0x41, 1, true), key(0x21, 2, true)};
    struct ohsm_obj h1[] = {key(0x21, 1, true), key(0x41, 1, true), key(0x62, 1, false)};
    assert_true(ohsm_cli_keyset_add(&ks, h0, 2));
    assert_true(ohsm_cli_keyset_add(&ks, h1, 3));
    ohsm_cli_keyset_finish(&ks, 2, 2);
    assert_int_equal(ks.n, 3);
    assert_true(ks.rows[0].obj.handle == 0x21);
    assert_string_equal(ks.rows[0].obj.label, "k33.2"); /* the newer version */
    assert_false(ks.rows[0].full);                      /* HSM 1 is stale */
    assert_true(ks.rows[1].obj.handle == 0x41);
    assert_true(ks.rows[1].full);
    assert_true(ks.rows[2].obj.handle == 0x62);
    assert_true(ks.rows[2].full); /* a session key, on its one HSM */
    ohsm_cli_keyset_free(&ks);
    assert_null(ks.rows);
    assert_int_equal(ks.n, 0);

    /* One HSM did not answer: no token key can be said to be on every HSM. */
    assert_true(ohsm_cli_keyset_add(&ks, h0, 2));
    ohsm_cli_keyset_finish(&ks, 1, 2);
    assert_false(ks.rows[0].full);
    assert_false(ks.rows[1].full);
    /* A newer version arriving later replaces the row and restarts its count. */
    struct ohsm_obj newer[] = {key(0x41, 5, true)};
    assert_true(ohsm_cli_keyset_add(&ks, newer, 1));
    assert_true(ohsm_cli_keyset_add(&ks, newer, 1));
    ohsm_cli_keyset_finish(&ks, 2, 2);
    assert_string_equal(ks.rows[1].obj.label, "k65.5");
    assert_true(ks.rows[1].full);
    ohsm_cli_keyset_free(&ks);
    ohsm_cli_keyset_free(NULL);
}

/* key list pages: counts, next_token only when more follow, brief rows unless verbose. */
static void test_cli_keys_list_pages(void **state)
{
    (void)state;
    struct ohsm_cli_keyset ks = {0};
    for (uint64_t i = 1; i <= 25; i++) {
        struct ohsm_obj o = key(i << 5, 1, true);
        assert_true(ohsm_cli_keyset_add(&ks, &o, 1));
    }
    ohsm_cli_keyset_finish(&ks, 1, 1);
    json_t *j = ohsm_cli_key_list_json(&ks, 0, 10, false);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "matched_keys")), 10);
    assert_int_equal(json_integer_value(json_object_get(j, "total_key_count")), 25);
    assert_int_equal(json_integer_value(json_object_get(j, "returned_key_count")), 10);
    assert_string_equal(json_string_value(json_object_get(j, "next_token")), "10");
    char *s = dump(json_array_get(json_object_get(j, "matched_keys"), 0));
    assert_string_equal(s, "{\"key-reference\":\"0x0000000000000020\",\"attributes\":{\"label\":"
                           "\"k32.1\"}}");
    free(s);
    json_decref(j);
    j = ohsm_cli_key_list_json(&ks, 20, 10, true);
    assert_int_equal(json_integer_value(json_object_get(j, "returned_key_count")), 5);
    assert_null(json_object_get(j, "next_token"));
    json_t *k = json_array_get(json_object_get(j, "matched_keys"), 4);
    assert_non_null(json_object_get(k, "key-info"));
    assert_true(json_boolean_value(json_object_get(json_object_get(k, "attributes"), "token")));
    json_decref(j);
    j = ohsm_cli_key_list_json(&ks, 25, 10, false);
    assert_int_equal(json_integer_value(json_object_get(j, "returned_key_count")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "matched_keys")), 0);
    json_decref(j);
    ohsm_cli_keyset_free(&ks);
}

/* The sync report: per-HSM state and digests, differences with key references or usernames. */
static void test_cli_keys_sync_json(void **state)
{
    (void)state;
    struct ohsm_sync_hsm hsm[2];
    struct ohsm_sync_item items[2];
    memset(hsm, 0, sizeof(hsm));
    memset(items, 0, sizeof(items));
    hsm[0].rv = OHSM_OK;
    snprintf(hsm[0].objects_digest, sizeof(hsm[0].objects_digest), "%064d", 0);
    snprintf(hsm[0].users_digest, sizeof(hsm[0].users_digest), "%064d", 1);
    hsm[0].objects = 3;
    hsm[0].users = 4;
    hsm[1].rv = OHSM_NOT_CONNECTED;
    items[0].hsm = 1;
    items[0].kind = OHSM_SYNC_MISSING;
    items[0].handle = 0x21;
    items[1].hsm = 0;
    items[1].kind = OHSM_SYNC_STALE;
    items[1].is_user = true;
    snprintf(items[1].username, sizeof(items[1].username), "%s", "bob");
    items[1].handle = 6; /* users: the id */
    struct ohsm_sync_report r = {false, 2, hsm, 2, items};
    const char *ids[] = {"hsm-aaaaaaaaaaa"};
    json_t *j = ohsm_cli_sync_json(&r, ids, 1);
    assert_non_null(j);
    char *s = dump(j);
    assert_string_equal(
        s, "{\"in-sync\":false,\"hsms\":[{\"hsm-id\":\"hsm-aaaaaaaaaaa\",\"state\":\"connected\","
           "\"objects\":3,\"objects-digest\":\"000000000000000000000000000000000000000000000000000"
           "0000000000000\",\"users\":4,\"users-digest\":\"00000000000000000000000000000000000000"
           "00000000000000000000000001\"},{\"hsm-id\":\"hsm #1\",\"state\":\"unreachable\","
           "\"error\":\"Not connected to the HSM\"}],\"differences\":[{\"hsm-id\":\"hsm #1\","
           "\"kind\":\"missing\",\"key-reference\":\"0x0000000000000021\"},{\"hsm-id\":"
           "\"hsm-aaaaaaaaaaa\",\"kind\":\"stale\",\"username\":\"bob\",\"user-id\":6}]}");
    free(s);
    json_decref(j);
}

/* Wiping a result clears every string inside it, in place. */
static void test_cli_keys_wipe(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:s, s:[s]}", "data", "c2VjcmV0", "more", "plaintext");
    assert_non_null(j);
    const char *a = json_string_value(json_object_get(j, "data"));
    const char *b = json_string_value(json_array_get(json_object_get(j, "more"), 0));
    ohsm_cli_json_wipe(j);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(a[i], 0);
        assert_int_equal(b[i], 0);
    }
    json_decref(j);
    ohsm_cli_json_wipe(NULL);
}

/* The key quorum values: 0 to 8 appended as u32 attributes; anything else (and a value also given
 * as a key attribute) refused with nothing appended. */
static void test_cli_keys_quorum_put(void **state)
{
    (void)state;
    struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    uint32_t ids[OHSM_TMPL_MAX];
    size_t nids = 0;
    char err[256];

    ohsm_tmpl_init(&b);
    assert_int_equal(ohsm_cli_quorum_put(&b, NULL, NULL, ids, &nids, err, sizeof(err)), OHSM_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(nids, 0);

    assert_int_equal(ohsm_cli_quorum_put(&b, "2", "0", ids, &nids, err, sizeof(err)), OHSM_OK);
    assert_int_equal(nids, 2);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
    assert_int_equal(t.n, 2);
    const struct ohsm_tmpl_attr *m = tmpl_get(&t, OHSM_A_QUORUM_MANAGE);
    const struct ohsm_tmpl_attr *u = tmpl_get(&t, OHSM_A_QUORUM_USE);
    assert_non_null(m);
    assert_non_null(u);
    assert_int_equal(m->len, 4);
    assert_int_equal(u->len, 4);
    static const uint8_t two[4] = {0, 0, 0, 2};
    static const uint8_t zero[4] = {0, 0, 0, 0};
    assert_memory_equal(m->val, two, 4);
    assert_memory_equal(u->val, zero, 4);

    /* Only one given: only that one appended. The largest value is 8. */
    ohsm_tmpl_init(&b);
    nids = 0;
    assert_int_equal(ohsm_cli_quorum_put(&b, NULL, "8", ids, &nids, err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
    assert_int_equal(t.n, 1);
    assert_null(tmpl_get(&t, OHSM_A_QUORUM_MANAGE));
    static const uint8_t eight[4] = {0, 0, 0, 8};
    assert_memory_equal(tmpl_get(&t, OHSM_A_QUORUM_USE)->val, eight, 4);

    /* Bad values; a bad second value leaves the good first one out too. */
    const char *bad[] = {"9", "-1", "", "two", "1 ", " 1", "4294967298", "0x", "+2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ohsm_tmpl_init(&b);
        nids = 0;
        err[0] = '\0';
        assert_int_equal(ohsm_cli_quorum_put(&b, bad[i], NULL, ids, &nids, err, sizeof(err)),
                         OHSM_ARGUMENTS_BAD);
        assert_string_equal(err, "--manage-key-quorum-value must be a number from 0 to 8");
        assert_int_equal(ohsm_cli_quorum_put(&b, "2", bad[i], ids, &nids, err, sizeof(err)),
                         OHSM_ARGUMENTS_BAD);
        assert_string_equal(err, "--use-key-quorum-value must be a number from 0 to 8");
        assert_int_equal(b.len, 0);
        assert_int_equal(nids, 0);
    }

    /* Already given as a key attribute (--attributes use-key-quorum-value=2): refused. */
    ohsm_tmpl_init(&b);
    nids = 0;
    assert_int_equal(ohsm_cli_attr_put(&b, OHSM_CLI_ATTR_CREATE, "use-key-quorum-value", "2", ids,
                                       &nids, err, sizeof(err)),
                     OHSM_OK);
    size_t len = b.len;
    assert_int_equal(ohsm_cli_quorum_put(&b, "2", "2", ids, &nids, err, sizeof(err)),
                     OHSM_TEMPLATE_INCONSISTENT);
    assert_non_null(strstr(err, "--use-key-quorum-value"));
    assert_int_equal(b.len, len);
    assert_int_equal(nids, 1);
    /* The manage value alone still fits beside it. */
    assert_int_equal(ohsm_cli_quorum_put(&b, "3", NULL, ids, &nids, err, sizeof(err)), OHSM_OK);
    assert_int_equal(nids, 2);

    /* No room left for both: refused whole. */
    ohsm_tmpl_init(&b);
    nids = OHSM_TMPL_MAX - 1;
    for (size_t i = 0; i < nids; i++) {
        ids[i] = (uint32_t)i;
    }
    assert_int_equal(ohsm_cli_quorum_put(&b, "1", "1", ids, &nids, err, sizeof(err)),
                     OHSM_DATA_LEN_RANGE);
    assert_int_equal(b.len, 0);
    assert_int_equal(nids, OHSM_TMPL_MAX - 1);
}

/* key-info shows the key's own quorum values; they are not repeated among the attributes. */
static void test_cli_keys_quorum_json(void **state)
{
    (void)state;
    struct ohsm_obj o;
    aes_key(&o);
    o.quorum_manage = 2;
    o.quorum_use = 3;
    o.nshared = 2;
    snprintf(o.shared[0], sizeof(o.shared[0]), "%s", "alice");
    snprintf(o.shared[1], sizeof(o.shared[1]), "%s", "bob");
    json_t *j = ohsm_cli_key_json(&o, false, true);
    assert_non_null(j);
    char *s = dump(json_object_get(json_object_get(j, "key-info"), "key-quorum-values"));
    assert_string_equal(s, "{\"manage-key-quorum-value\":2,\"use-key-quorum-value\":3}");
    free(s);
    json_t *attrs = json_object_get(j, "attributes");
    assert_non_null(attrs);
    assert_null(json_object_get(attrs, "manage-key-quorum-value"));
    assert_null(json_object_get(attrs, "use-key-quorum-value"));
    assert_non_null(json_object_get(attrs, "key-length-bytes"));
    json_decref(j);
    /* The largest value, and a key list page (verbose) carries them too. */
    o.quorum_manage = 8;
    o.quorum_use = 0;
    struct ohsm_cli_keyset ks = {0};
    assert_true(ohsm_cli_keyset_add(&ks, &o, 1));
    ohsm_cli_keyset_finish(&ks, 1, 1);
    j = ohsm_cli_key_list_json(&ks, 0, 10, true);
    assert_non_null(j);
    json_t *k0 = json_array_get(json_object_get(j, "matched_keys"), 0);
    s = dump(json_object_get(json_object_get(k0, "key-info"), "key-quorum-values"));
    assert_string_equal(s, "{\"manage-key-quorum-value\":8,\"use-key-quorum-value\":0}");
    free(s);
    json_decref(j);
    ohsm_cli_keyset_free(&ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_keys_keyref),      cmocka_unit_test(test_cli_keys_numbers),
        cmocka_unit_test(test_cli_keys_filter_ok),   cmocka_unit_test(test_cli_keys_filter_bad),
        cmocka_unit_test(test_cli_keys_attr_uses),   cmocka_unit_test(test_cli_keys_names),
        cmocka_unit_test(test_cli_keys_hex),         cmocka_unit_test(test_cli_keys_base64),
        cmocka_unit_test(test_cli_keys_aes_json),    cmocka_unit_test(test_cli_keys_info_and_brief),
        cmocka_unit_test(test_cli_keys_pair_attrs),  cmocka_unit_test(test_cli_keys_keyset),
        cmocka_unit_test(test_cli_keys_list_pages),  cmocka_unit_test(test_cli_keys_sync_json),
        cmocka_unit_test(test_cli_keys_wipe),        cmocka_unit_test(test_cli_keys_quorum_put),
        cmocka_unit_test(test_cli_keys_quorum_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
