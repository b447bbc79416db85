/* SPDX-License-Identifier: Apache-2.0
 * openhsmd --seed (src/kms/seed*.c): YAML and JSON documents into a tree (types, JSON detection,
 * anchors/aliases/tags/second documents/depth/size refused with line numbers), the tree into a
 * plan (every field's check and its message, which never quotes material), and the whole seed
 * into a KMS in a temp data dir with the in-memory sealer: keys, versions, tags, policy, aliases,
 * idempotency, and bad files or alias conflicts changing nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cloud/files.h"
#include "kms/kms_int.h"
#include "kms/seed.h"

#define ID1 "0d5c1a1e-1111-4a4a-8b8b-123456789abc"
#define ID2 "0d5c1a1e-2222-4a4a-8b8b-123456789abc"
#define ID3 "0d5c1a1e-3333-4a4a-8b8b-123456789abc"
#define HEX32 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define HEX32B "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"

static char err[1024];

static json_t *parse_ok(const char *doc)
{
    json_t *t = NULL;
    err[0] = '\0';
    assert_int_equal(ohsm_kms_seed_parse(doc, strlen(doc), &t, err, sizeof(err)), OHSM_OK);
    assert_non_null(t);
    return t;
}

/* Parse fails with OHSM_CONFIG and a message containing want. */
static void parse_bad(const char *doc, const char *want)
{
    json_t *t = (json_t *)1;
    err[0] = '\0';
    assert_int_equal(ohsm_kms_seed_parse(doc, strlen(doc), &t, err, sizeof(err)), OHSM_CONFIG);
    assert_null(t);
    if (strstr(err, want) == NULL) {
        fail_msg("message '%s' lacks '%s'", err, want);
    }
}

static struct ohsm_kms_seed_plan *check_ok(const char *doc)
{
    struct ohsm_kms_seed_plan *p = NULL;
    json_t *t = parse_ok(doc);
    if (ohsm_kms_seed_check(t, &p, err, sizeof(err)) != OHSM_OK) {
        fail_msg("check: %s", err);
    }
    assert_non_null(p);
    return p;
}

/* Check fails with OHSM_CONFIG, a message containing want, and never the material's hex. */
static void check_bad(const char *doc, const char *want)
{
    struct ohsm_kms_seed_plan *p = (struct ohsm_kms_seed_plan *)1;
    json_t *t = parse_ok(doc);
    err[0] = '\0';
    assert_int_equal(ohsm_kms_seed_check(t, &p, err, sizeof(err)), OHSM_CONFIG);
    assert_null(p);
    if (strstr(err, want) == NULL) {
        fail_msg("message '%s' lacks '%s'", err, want);
    }
    assert_null(strstr(err, "0001020304"));
    assert_null(strstr(err, "BEGIN"));
}

/* ---- documents ---- */

/* YAML mappings, sequences and scalars become objects, arrays and strings (true stays "true"). */
static void test_kms_seed_yaml_tree(void **state)
{
    (void)state;
    json_t *t = parse_ok("Keys:\n  - KeyId: a\n    Enabled: true\n    BackingKeys: [x, 'y']\n"
                         "    PrivateKeyPem: |\n      line1\n      line2\n");
    json_t *k = json_array_get(json_object_get(t, "Keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k, "KeyId")), "a");
    assert_string_equal(json_string_value(json_object_get(k, "Enabled")), "true");
    assert_int_equal(json_array_size(json_object_get(k, "BackingKeys")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(k, "BackingKeys"), 1)),
                        "y");
    assert_string_equal(json_string_value(json_object_get(k, "PrivateKeyPem")), "line1\nline2\n");
    ohsm_kms_seed_tree_free(t);
}

/* A first non-space '{' means JSON (its booleans kept); anything else is YAML (also a flow
 * mapping after a comment). */
static void test_kms_seed_json_detected(void **state)
{
    (void)state;
    json_t *t = parse_ok(" \n\t{\"Keys\": [{\"KeyId\": \"a\", \"Enabled\": false}]}");
    json_t *k = json_array_get(json_object_get(t, "Keys"), 0);
    assert_true(json_is_false(json_object_get(k, "Enabled")));
    ohsm_kms_seed_tree_free(t);
    t = parse_ok("# yaml\n{Keys: [{KeyId: a, Enabled: false}]}");
    k = json_array_get(json_object_get(t, "Keys"), 0);
    assert_string_equal(json_string_value(json_object_get(k, "Enabled")), "false");
    ohsm_kms_seed_tree_free(t);
    parse_bad("{\"Keys\": [}", "line 1: not valid JSON");
    parse_bad("{\"Keys\": [], \"Keys\": []}", "not valid JSON");
}

/* Anchors, aliases, tags, %TAG, a second document, complex keys and duplicate keys are refused
 * with the line. */
static void test_kms_seed_yaml_refused(void **state)
{
    (void)state;
    parse_bad("a: &x 1\nb: *x\n", "line 1: YAML anchors and aliases");
    parse_bad("a: 1\nb: *x\n", "line 2");
    parse_bad("a: !!str 1\n", "line 1: YAML tags");
    parse_bad("a: !custom 1\n", "YAML tags");
    parse_bad("%TAG !e! tag:example.com,2000:\n---\na: 1\n", "%TAG");
    parse_bad("a: 1\n---\nb: 2\n", "line 2: more than one document");
    parse_bad("? [a]\n: 1\n", "a mapping key must be a plain string");
    parse_bad("a: 1\nb: 2\na: 3\n", "line 3: duplicate key a");
    parse_bad("a: [1, 2\n", "line");
    parse_bad("", "empty");
    parse_bad("  \n# only a comment\n", "empty");
    parse_bad("a: \"x\\0y\"\n", "NUL");
}

/* Depth 16 passes, 17 fails, in YAML and JSON; over 1 MiB fails before parsing. */
static void test_kms_seed_bounds(void **state)
{
    char doc[256];
    size_t n = 0;
    (void)state;
    for (int i = 0; i < 16; i++) {
        doc[n++] = '[';
    }
    for (int i = 0; i < 16; i++) {
        doc[n++] = ']';
    }
    doc[n] = '\0';
    ohsm_kms_seed_tree_free(parse_ok(doc));
    memmove(doc + 1, doc, n + 1);
    doc[0] = '[';
    strcat(doc, "]");
    parse_bad(doc, "nested deeper than 16");
    n = 0;
    doc[n++] = '{';
    for (int i = 0; i < 16; i++) {
        memcpy(doc + n, "\"a\":{", 5);
        n += 5;
    }
    for (int i = 0; i < 17; i++) {
        doc[n++] = '}';
    }
    doc[n] = '\0';
    parse_bad(doc, "nested deeper than 16");

    size_t big = OHSM_KMS_SEED_FILE_MAX + 1;
    char *b = malloc(big + 1);
    assert_non_null(b);
    memset(b, ' ', big);
    b[big] = '\0';
    json_t *t = (json_t *)1;
    assert_int_equal(ohsm_kms_seed_parse(b, big, &t, err, sizeof(err)), OHSM_CONFIG);
    assert_non_null(strstr(err, "larger than"));
    free(b);
}

/* ---- checks ---- */

/* A full entry: canonical id, spec, usage, Enabled false, versions in order, tags, aliases;
 * absent fields take their defaults. */
static void test_kms_seed_check_plan(void **state)
{
    (void)state;
    struct ohsm_kms_seed_plan *p =
        check_ok("Keys:\n"
                 "  - KeyId: 0D5C1A1E-1111-4A4A-8B8B-123456789ABC\n"
                 "    KeySpec: SYMMETRIC_DEFAULT\n    KeyUsage: ENCRYPT_DECRYPT\n"
                 "    Description: dev key\n    Enabled: false\n"
                 "    BackingKeys: [" HEX32 ", " HEX32B "]\n"
                 "    Tags: [{TagKey: team, TagValue: dev}]\n"
                 "  - KeyId: " ID2 "\n"
                 "  - KeyId: " ID3 "\n    KeySpec: HMAC_384\n    KeyUsage: GENERATE_VERIFY_MAC\n"
                 "    BackingKeys: [" HEX32 HEX32 "]\n"
                 "Aliases:\n  - {AliasName: alias/dev, TargetKeyId: " ID1 "}\n");
    assert_int_equal(p->n_keys, 3);
    assert_string_equal(p->keys[0].id, ID1);
    assert_int_equal(p->keys[0].spec, OHSM_KSPEC_SYMMETRIC_DEFAULT);
    assert_int_equal(p->keys[0].usage, OHSM_KUSE_ENCRYPT_DECRYPT);
    assert_false(p->keys[0].enabled);
    assert_string_equal(p->keys[0].description, "dev key");
    assert_int_equal(p->keys[0].n_mats, 2);
    assert_int_equal(p->keys[0].mat_lens[1], 32);
    assert_int_equal(p->keys[0].mats[0][1], 0x01);
    assert_int_equal(p->keys[0].mats[1][0], 0x1f);
    assert_int_equal(json_array_size(p->keys[0].tags), 1);
    assert_true(p->keys[1].enabled);
    assert_string_equal(p->keys[1].description, "");
    assert_int_equal(p->keys[1].n_mats, 0);
    assert_null(p->keys[1].tags);
    assert_int_equal(p->keys[2].spec, OHSM_KSPEC_HMAC_384);
    assert_int_equal(p->keys[2].mat_lens[0], 64);
    assert_int_equal(p->n_aliases, 1);
    assert_string_equal(p->aliases[0].name, "alias/dev");
    assert_string_equal(p->aliases[0].target, ID1);
    ohsm_kms_seed_plan_free(p);
    /* Lengths are in characters: as many two-byte characters as the store's tag (and AWS's 128)
     * hold make a valid TagKey. */
    struct ohsm_kms_tag tag;
    int most = (int)(sizeof(tag.key) - 1) / 2 < 128 ? (int)(sizeof(tag.key) - 1) / 2 : 128;
    char doc[1024];
    size_t n = (size_t)snprintf(doc, sizeof(doc), "Keys: [{KeyId: " ID1 ", Tags: [{TagKey: ");
    for (int i = 0; i < most; i++) {
        n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\xc3\xa9");
    }
    (void)snprintf(doc + n, sizeof(doc) - n, ", TagValue: v}]}]\n");
    ohsm_kms_seed_plan_free(check_ok(doc));
    p = check_ok("{}");
    assert_int_equal(p->n_keys + p->n_aliases, 0);
    ohsm_kms_seed_plan_free(p);
}

/* Every kind of bad entry names the entry and the problem. */
static void test_kms_seed_check_refused(void **state)
{
    (void)state;
    check_bad("- a\n", "the document must be a mapping");
    check_bad("Keys: []\nAliasses: []\n", "unknown field Aliasses");
    check_bad("Keys: x\n", "Keys and Aliases must be lists");
    check_bad("Keys: [x]\n", "Keys[0] must be a mapping");
    check_bad("Keys: [{KeySpec: HMAC_256}]\n", "Keys[0]: KeyId is required");
    check_bad("Keys: [{KeyId: 0d5c1a1e-1111-4a4a-8b8b-123456789ab}]\n",
              "Keys[0]: KeyId "
              "0d5c1a1e-1111-4a4a-8b8b-"
              "123456789ab is not a UUID");
    check_bad("Keys: [{KeyId: " ID1 "}, {KeyId: " ID2 ", KeySpec: AES_256}]\n",
              "Keys[1] (KeyId " ID2 "): unknown KeySpec AES_256");
    check_bad("Keys: [{KeyId: " ID1 ", KeyUsage: WRAP}]\n", "unknown KeyUsage WRAP");
    check_bad("Keys: [{KeyId: " ID1 ", KeySpec: HMAC_256}]\n",
              "KeyUsage ENCRYPT_DECRYPT is not allowed for KeySpec HMAC_256 (KeyUsage is "
              "required");
    check_bad("Keys: [{KeyId: " ID1 ", Colour: red}]\n",
              "Keys[0] (KeyId " ID1 "): unknown field Colour");
    check_bad("Keys: [{KeyId: " ID1 ", Description: [a]}]\n", "Description must be a string");
    check_bad("Keys: [{KeyId: " ID1 ", Enabled: yes}]\n", "Enabled must be true or false");
    check_bad("Keys: [{KeyId: " ID1 ", BackingKeys: [" HEX32 "00]}]\n",
              "Keys[0] (KeyId " ID1 "): BackingKeys[0] is 33 bytes; SYMMETRIC_DEFAULT material is "
              "32 bytes");
    check_bad("Keys: [{KeyId: " ID1 ", BackingKeys: [" HEX32 ", 0" HEX32 "]}]\n",
              "BackingKeys[1] is not an even number");
    check_bad("Keys: [{KeyId: " ID1 ", BackingKeys: [" HEX32 ", zz" HEX32 "]}]\n",
              "BackingKeys[1] has a character that is not a hex digit");
    check_bad("Keys: [{KeyId: " ID1 ", BackingKeys: []}]\n", "BackingKeys must be a list of 1");
    check_bad("Keys: [{KeyId: " ID1 ", KeySpec: HMAC_256, KeyUsage: GENERATE_VERIFY_MAC, "
              "BackingKeys: [000102030405060708090a0b0c0d0e]}]\n",
              "BackingKeys[0] is 15 bytes; HMAC_256 material is 32 to 64 bytes");
    check_bad("Keys: [{KeyId: " ID1 ", KeySpec: RSA_2048, KeyUsage: SIGN_VERIFY, "
              "BackingKeys: [" HEX32 "]}]\n",
              "BackingKeys is for SYMMETRIC_DEFAULT and HMAC keys");
    check_bad("Keys: [{KeyId: " ID1 ", PrivateKeyPem: x}]\n", "PrivateKeyPem is for RSA and ECC");
    check_bad("Keys: [{KeyId: " ID1 ", KeySpec: ECC_NIST_P256, KeyUsage: SIGN_VERIFY, "
              "PrivateKeyPem: not a pem}]\n",
              "PrivateKeyPem is not an unencrypted PEM");
    check_bad("Keys: [{KeyId: " ID1 ", Tags: [{TagKey: a}]}]\n", "Tags[0] must be");
    check_bad("Keys: [{KeyId: " ID1 ", Tags: [{TagKey: aws:x, TagValue: b}]}]\n", "reserved");
    check_bad("Keys: [{KeyId: " ID1 ", Tags: [{TagKey: '', TagValue: b}]}]\n",
              "Tags[0]: TagKey is 1-128 characters");
    check_bad("Keys: [{KeyId: " ID1
              ", Tags: [{TagKey: a, TagValue: b}, {TagKey: a, TagValue: c}]}]\n",
              "Tags[1]: duplicate TagKey a");
    check_bad("Keys: [{KeyId: " ID1 "}, {KeyId: 0D5C1A1E-1111-4A4A-8B8B-123456789ABC}]\n",
              "Keys[1] (KeyId " ID1 "): the same KeyId as Keys[0]");
    check_bad("Aliases: [{AliasName: dev, TargetKeyId: " ID1 "}]\n",
              "Aliases[0]: AliasName must be alias/NAME");
    check_bad("Aliases: [{AliasName: alias/aws/s3, TargetKeyId: " ID1 "}]\n", "reserved");
    check_bad("Aliases: [{AliasName: alias/a.b, TargetKeyId: " ID1 "}]\n", "may hold only");
    check_bad("Aliases: [{AliasName: alias/a, TargetKeyId: alias/b}]\n",
              "Aliases[0] (alias/a): TargetKeyId must be a key id");
    check_bad("Aliases: [{AliasName: alias/a, TargetKeyId: " ID1 "}, {AliasName: alias/a, "
              "TargetKeyId: " ID2 "}]\n",
              "Aliases[1] (alias/a): the same AliasName as Aliases[0]");
}

static char *pem_of(EVP_PKEY *pk, bool private_part)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL, *out;
    assert_non_null(b);
    assert_int_equal(private_part ? PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL)
                                  : PEM_write_bio_PUBKEY(b, pk),
                     1);
    long n = BIO_get_mem_data(b, &p);
    out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    memcpy(out, p, (size_t)n);
    BIO_free(b);
    return out;
}

/* A seed document with one key of spec/usage and pem as PrivateKeyPem (JSON: the PEM's newlines
 * escaped by jansson). */
static char *pem_doc(const char *spec, const char *usage, const char *pem)
{
    json_t *d = json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "Keys", "KeyId", ID1, "KeySpec", spec,
                          "KeyUsage", usage, "PrivateKeyPem", pem);
    char *s = json_dumps(d, 0);
    json_decref(d);
    assert_non_null(s);
    return s;
}

/* PrivateKeyPem: the right key passes (as PKCS#8 DER); a public key, a key of the other family,
 * and an RSA key of another size are refused with what is wrong. */
static void test_kms_seed_check_pem(void **state)
{
    (void)state;
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(rsa);
    assert_non_null(ec);
    char *rsa_pem = pem_of(rsa, true), *ec_pem = pem_of(ec, true), *ec_pub = pem_of(ec, false);
    char *doc;

    doc = pem_doc("RSA_2048", "SIGN_VERIFY", rsa_pem);
    struct ohsm_kms_seed_plan *p = check_ok(doc);
    assert_int_equal(p->keys[0].n_mats, 1);
    assert_int_equal(p->keys[0].mats[0][0], 0x30); /* DER SEQUENCE */
    ohsm_kms_seed_plan_free(p);
    free(doc);
    doc = pem_doc("ECC_NIST_P256", "SIGN_VERIFY", ec_pem);
    ohsm_kms_seed_plan_free(check_ok(doc));
    free(doc);
    doc = pem_doc("ECC_NIST_P256", "SIGN_VERIFY", ec_pub);
    check_bad(doc, "PrivateKeyPem holds a public key");
    free(doc);
    doc = pem_doc("RSA_2048", "ENCRYPT_DECRYPT", ec_pem);
    check_bad(doc, "PrivateKeyPem holds an EC key; KeySpec RSA_2048 needs an RSA key");
    free(doc);
    doc = pem_doc("ECC_NIST_P384", "SIGN_VERIFY", ec_pem);
    check_bad(doc, "PrivateKeyPem is not a ECC_NIST_P384 key");
    free(doc);
    doc = pem_doc("RSA_3072", "SIGN_VERIFY", rsa_pem);
    check_bad(doc, "PrivateKeyPem is not a RSA_3072 key (another modulus size)");
    free(doc);
    free(rsa_pem);
    free(ec_pem);
    free(ec_pub);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

/* ---- the whole seed into a KMS ---- */

struct fx {
    char dir[64];
    char file[128];
    struct ohsm_kms_sealer sealer;
    struct ohsm_kms *k;
};

static int64_t fixed_now(void *ctx)
{
    (void)ctx;
    return 1796583600; /* 2026-12-06T19:00:00Z */
}

static void open_kms(struct fx *f)
{
    struct ohsm_kms_cfg cfg = {.data_dir = f->dir,
                               .region = "us-east-1",
                               .account_id = "111122223333",
                               .sealer = f->sealer,
                               .now = fixed_now};
    assert_int_equal(ohsm_kms_open(&cfg, &f->k, err, sizeof(err)), OHSM_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-kseed-XXXXXX");
    if (mkdtemp(f->dir) == NULL || ohsm_kms_sealer_mem(&f->sealer) != OHSM_OK) {
        return -1;
    }
    snprintf(f->file, sizeof(f->file), "%s/seed.yaml", f->dir);
    open_kms(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ohsm_kms_close(f->k);
    ohsm_kms_sealer_mem_free(&f->sealer);
    int r = ohsm_files_remove_tree(f->dir) == OHSM_OK ? 0 : -1;
    free(f);
    return r;
}

static ohsm_rv seed(struct fx *f, const char *doc)
{
    FILE *fp = fopen(f->file, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(doc, 1, strlen(doc), fp), strlen(doc));
    assert_int_equal(fclose(fp), 0);
    err[0] = '\0';
    return ohsm_kms_seed(f->k, f->file, err, sizeof(err));
}

static bool has_key(struct fx *f, const char *id)
{
    struct ohsm_kms_key key;
    if (ohsm_kms_tab_get(f->k, id, &key) != OHSM_OK) {
        return false;
    }
    ohsm_kms_key_clear(&key);
    return true;
}

#define DOC1                                                                                       \
    "Keys:\n"                                                                                      \
    "  - KeyId: " ID1 "\n    Description: dev key\n    BackingKeys: [" HEX32 ", " HEX32B "]\n"     \
    "    Tags: [{TagKey: team, TagValue: dev}]\n"                                                  \
    "  - KeyId: " ID2 "\n    KeySpec: HMAC_256\n    KeyUsage: GENERATE_VERIFY_MAC\n"               \
    "    Enabled: false\n    BackingKeys: [" HEX32 "]\n"                                           \
    "  - KeyId: " ID3 "\n    KeySpec: ECC_NIST_P256\n    KeyUsage: SIGN_VERIFY\n"                  \
    "Aliases:\n  - {AliasName: alias/dev, TargetKeyId: " ID1 "}\n"

/* Keys with their versions (the last current, the material as given), state, tags, policy and
 * alias; a key without material gets a fresh one; all of it after a reopen too. */
static void test_kms_seed_applies(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_key key;
    struct ohsm_kms_material *ms = NULL;
    struct ohsm_kms_tag *tags = NULL;
    struct ohsm_kms_alias a;
    struct ohsm_kms_cached *c = NULL;
    char *policy = NULL;
    size_t n = 0, raw_len = 0;

    assert_int_equal(seed(f, DOC1), OHSM_OK);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(ohsm_kms_tab_get(f->k, ID1, &key), OHSM_OK);
        assert_int_equal(key.state, OHSM_KSTATE_ENABLED);
        assert_int_equal(key.origin, OHSM_KORIGIN_AWS_KMS);
        assert_int_equal(key.cur_version, 2);
        assert_string_equal(key.description, "dev key");
        assert_string_equal(key.region, "us-east-1");
        assert_string_equal(key.account, "111122223333");
        assert_int_equal(ohsm_kms_mat_get(f->k, &key, 0, &c), OHSM_OK);
        const uint8_t *raw = ohsm_kms_kmat_raw(ohsm_kms_mat_kmat(c), &raw_len);
        assert_int_equal(raw_len, 32);
        assert_int_equal(raw[0], 0x1f); /* the last of BackingKeys is current */
        ohsm_kms_mat_release(f->k, c);
        assert_int_equal(ohsm_kms_mat_get(f->k, &key, 1, &c), OHSM_OK);
        raw = ohsm_kms_kmat_raw(ohsm_kms_mat_kmat(c), &raw_len);
        assert_int_equal(raw[31], 0x1f);
        ohsm_kms_mat_release(f->k, c);
        ohsm_kms_key_clear(&key);
        assert_int_equal(ohsm_kms_store_material_list(f->k->store, ID1, &ms, &n), OHSM_OK);
        assert_int_equal(n, 2);
        assert_int_equal(ms[0].kind, OHSM_MKIND_CREATED);
        assert_int_equal(ms[1].kind, OHSM_MKIND_AUTOMATIC);
        for (size_t i = 0; i < n; i++) {
            ohsm_kms_material_clear(&ms[i]);
        }
        free(ms);
        assert_int_equal(ohsm_kms_store_tag_list(f->k->store, ID1, &tags, &n), OHSM_OK);
        assert_int_equal(n, 1);
        assert_string_equal(tags[0].key, "team");
        assert_string_equal(tags[0].value, "dev");
        free(tags);
        assert_int_equal(ohsm_kms_store_policy_get(f->k->store, ID1, "default", &policy), OHSM_OK);
        assert_non_null(strstr(policy, "arn:aws:iam::111122223333:root"));
        free(policy);
        assert_int_equal(ohsm_kms_store_alias_get(f->k->store, "us-east-1", "alias/dev", &a),
                         OHSM_OK);
        assert_string_equal(a.key_id, ID1);

        assert_int_equal(ohsm_kms_tab_get(f->k, ID2, &key), OHSM_OK);
        assert_int_equal(key.state, OHSM_KSTATE_DISABLED);
        assert_int_equal(key.spec, OHSM_KSPEC_HMAC_256);
        assert_int_equal(key.cur_version, 1);
        ohsm_kms_key_clear(&key);
        assert_int_equal(ohsm_kms_tab_get(f->k, ID3, &key), OHSM_OK);
        assert_int_equal(key.cur_version, 1);
        assert_int_equal(ohsm_kms_mat_get(f->k, &key, 0, &c), OHSM_OK); /* fresh, loadable */
        ohsm_kms_mat_release(f->k, c);
        ohsm_kms_key_clear(&key);

        ohsm_kms_close(f->k); /* the store, not the table, is the truth */
        f->k = NULL;
        open_kms(f);
    }
}

/* The same file again changes nothing (same creation time and material); a key id that exists
 * keeps its record even when the file now says otherwise. */
static void test_kms_seed_idempotent(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_key before, after;
    struct ohsm_kms_material *ms = NULL;
    size_t n = 0;

    assert_int_equal(seed(f, DOC1), OHSM_OK);
    assert_int_equal(ohsm_kms_tab_get(f->k, ID1, &before), OHSM_OK);
    assert_int_equal(seed(f, DOC1), OHSM_OK);
    assert_int_equal(seed(f, "Keys: [{KeyId: " ID1 ", Description: changed, Enabled: false}]\n"),
                     OHSM_OK);
    assert_int_equal(ohsm_kms_tab_get(f->k, ID1, &after), OHSM_OK);
    assert_int_equal(after.created_ms, before.created_ms);
    assert_string_equal(after.description, "dev key");
    assert_int_equal(after.state, OHSM_KSTATE_ENABLED);
    assert_int_equal(ohsm_kms_store_material_list(f->k->store, ID1, &ms, &n), OHSM_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_material_clear(&ms[i]);
    }
    free(ms);
    ohsm_kms_key_clear(&before);
    ohsm_kms_key_clear(&after);
}

/* An alias of the store pointing elsewhere, a target in neither file nor store, a bad entry
 * late in the file, a missing file: OHSM_CONFIG naming the file and entry, and none of the
 * file's new keys or aliases exist afterwards. */
static void test_kms_seed_nothing_on_error(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_alias a;

    assert_int_equal(seed(f, DOC1), OHSM_OK);
    assert_int_equal(seed(f, "Keys: [{KeyId: " ID2 "0}]\n"), OHSM_CONFIG);
    assert_non_null(strstr(err, f->file));
    assert_int_equal(seed(f, "Keys:\n  - KeyId: aaaaaaaa-1111-4a4a-8b8b-123456789abc\n"
                             "Aliases:\n  - {AliasName: alias/new, TargetKeyId: "
                             "aaaaaaaa-1111-4a4a-8b8b-123456789abc}\n"
                             "  - {AliasName: alias/dev, TargetKeyId: "
                             "aaaaaaaa-1111-4a4a-8b8b-123456789abc}\n"),
                     OHSM_CONFIG);
    assert_non_null(strstr(err, "Aliases[1] (alias/dev): the alias exists and points at another "
                                "key (" ID1 ")"));
    assert_false(has_key(f, "aaaaaaaa-1111-4a4a-8b8b-123456789abc"));
    assert_int_equal(ohsm_kms_store_alias_get(f->k->store, "us-east-1", "alias/new", &a),
                     OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(seed(f, "Aliases: [{AliasName: alias/x, TargetKeyId: "
                             "bbbbbbbb-1111-4a4a-8b8b-123456789abc}]\n"),
                     OHSM_CONFIG);
    assert_non_null(strstr(err, "TargetKeyId bbbbbbbb-1111-4a4a-8b8b-123456789abc is neither in "
                                "the file nor a key"));
    assert_int_equal(seed(f, "Keys:\n  - KeyId: cccccccc-1111-4a4a-8b8b-123456789abc\n"
                             "  - KeyId: dddddddd-1111-4a4a-8b8b-123456789abc\n"
                             "    BackingKeys: [abcd]\n"),
                     OHSM_CONFIG);
    assert_non_null(strstr(err, "Keys[1] (KeyId dddddddd-1111-4a4a-8b8b-123456789abc): "
                                "BackingKeys[0] is 2 bytes"));
    assert_false(has_key(f, "cccccccc-1111-4a4a-8b8b-123456789abc"));
    /* An alias already pointing at the same key, and a target only in the store, are fine. */
    assert_int_equal(seed(f, "Aliases: [{AliasName: alias/dev, TargetKeyId: " ID1 "}, "
                             "{AliasName: alias/mac, TargetKeyId: " ID2 "}]\n"),
                     OHSM_OK);
    assert_int_equal(ohsm_kms_store_alias_get(f->k->store, "us-east-1", "alias/mac", &a), OHSM_OK);
    assert_string_equal(a.key_id, ID2);
    err[0] = '\0';
    assert_int_equal(ohsm_kms_seed(f->k, "/nonexistent/seed.yaml", err, sizeof(err)), OHSM_CONFIG);
    assert_non_null(strstr(err, "/nonexistent/seed.yaml: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kms_seed_yaml_tree),
        cmocka_unit_test(test_kms_seed_json_detected),
        cmocka_unit_test(test_kms_seed_yaml_refused),
        cmocka_unit_test(test_kms_seed_bounds),
        cmocka_unit_test(test_kms_seed_check_plan),
        cmocka_unit_test(test_kms_seed_check_refused),
        cmocka_unit_test(test_kms_seed_check_pem),
        cmocka_unit_test_setup_teardown(test_kms_seed_applies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seed_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_seed_nothing_on_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
