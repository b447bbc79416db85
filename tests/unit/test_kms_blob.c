/* SPDX-License-Identifier: Apache-2.0
 * KMS ciphertext blobs and the key-state table (src/kms/blob.c, state.c): UUIDs round trip and
 * refuse every malformed form; a header names key and version; the parser refuses every
 * truncation, a wrong format or version byte, version 0 and over-long ciphertext; the canonical
 * encryption context is independent of member order and tells apart contexts that differ by one
 * byte, by a split between key and value, or by case; the key-state table gives AWS's verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kms/blob.h"
#include "kms/state.h"
#include "kms/types.h"

static const char ID[] = "0d5c1a1e-1111-4a4a-8b8b-123456789abc";

/* A UUID parses, formats back lower-case, and every malformed form is refused. */
static void test_kms_blob_uuid(void **state)
{
    uint8_t b[16];
    char s[37];
    (void)state;
    assert_int_equal(ohsm_kms_uuid_parse(ID, b), OHSM_OK);
    ohsm_kms_uuid_format(b, s);
    assert_string_equal(s, ID);
    assert_int_equal(ohsm_kms_uuid_parse("0D5C1A1E-1111-4A4A-8B8B-123456789ABC", b), OHSM_OK);
    ohsm_kms_uuid_format(b, s);
    assert_string_equal(s, ID);
    const char *bad[] = {"",
                         "0d5c1a1e",
                         "0d5c1a1e-1111-4a4a-8b8b-123456789abcd",
                         "0d5c1a1e-1111-4a4a-8b8b-123456789ab",
                         "0d5c1a1ex1111-4a4a-8b8b-123456789abc",
                         "0d5c1a1e-1111-4a4a-8b8b-12345678zabc",
                         NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_equal(ohsm_kms_uuid_parse(bad[i], b), OHSM_ARGUMENTS_BAD);
    }
    assert_int_equal(ohsm_kms_uuid_parse(NULL, b), OHSM_ARGUMENTS_BAD);
    char a[37], c[37];
    assert_int_equal(ohsm_kms_uuid_new(a), OHSM_OK);
    assert_int_equal(ohsm_kms_uuid_new(c), OHSM_OK);
    assert_string_not_equal(a, c);
    assert_int_equal(a[14], '4'); /* version 4 */
    assert_int_equal(ohsm_kms_uuid_parse(a, b), OHSM_OK);
}

static size_t make_blob(uint8_t *out, uint32_t version, size_t ct)
{
    assert_int_equal(ohsm_kms_blob_header(ID, version, out), OHSM_OK);
    memset(out + OHSM_KMS_BLOB_HDR, 0xa5, OHSM_KMS_BLOB_IV + ct + OHSM_KMS_BLOB_TAG);
    return OHSM_KMS_BLOB_OVERHEAD + ct;
}

/* A blob parses into key id, version, iv and ciphertext||tag pointing into the input. */
static void test_kms_blob_parse(void **state)
{
    uint8_t buf[OHSM_KMS_PLAINTEXT_MAX + OHSM_KMS_BLOB_OVERHEAD + 1];
    struct ohsm_kms_blob b;
    (void)state;
    size_t n = make_blob(buf, 7, 5);
    assert_int_equal(ohsm_kms_blob_parse(buf, n, &b), OHSM_OK);
    assert_string_equal(b.key_id, ID);
    assert_int_equal(b.version, 7);
    assert_ptr_equal(b.hdr, buf);
    assert_ptr_equal(b.iv, buf + 22);
    assert_ptr_equal(b.ct, buf + 34);
    assert_int_equal(b.ct_len, 5 + 16);
    /* every truncation down to nothing is refused */
    for (size_t len = 0; len < OHSM_KMS_BLOB_OVERHEAD + 1; len++) {
        assert_int_equal(ohsm_kms_blob_parse(buf, len, &b), OHSM_ENCRYPTED_DATA_INVALID);
    }
    /* format, version byte and material version 0 */
    buf[0] ^= 1;
    assert_int_equal(ohsm_kms_blob_parse(buf, n, &b), OHSM_ENCRYPTED_DATA_INVALID);
    buf[0] ^= 1;
    buf[1] = 2;
    assert_int_equal(ohsm_kms_blob_parse(buf, n, &b), OHSM_ENCRYPTED_DATA_INVALID);
    n = make_blob(buf, 0, 5);
    assert_int_equal(ohsm_kms_blob_parse(buf, n, &b), OHSM_ENCRYPTED_DATA_INVALID);
    /* the largest plaintext is fine, one byte more is not */
    n = make_blob(buf, 1, OHSM_KMS_PLAINTEXT_MAX);
    assert_int_equal(ohsm_kms_blob_parse(buf, n, &b), OHSM_OK);
    assert_int_equal(ohsm_kms_blob_parse(buf, n + 1, &b), OHSM_ENCRYPTED_DATA_INVALID);
    assert_int_equal(ohsm_kms_blob_parse(NULL, 40, &b), OHSM_ENCRYPTED_DATA_INVALID);
}

static void encode(const char *json, uint8_t **out, size_t *len)
{
    json_error_t e;
    json_t *v = json_loads(json, 0, &e);
    assert_non_null(v);
    assert_int_equal(ohsm_kms_context_encode(v, out, len), OHSM_OK);
    json_decref(v);
}

static bool same(const char *a, const char *b)
{
    uint8_t *x, *y;
    size_t xl, yl;
    encode(a, &x, &xl);
    encode(b, &y, &yl);
    bool eq = xl == yl && (xl == 0 || memcmp(x, y, xl) == 0);
    free(x);
    free(y);
    return eq;
}

/* The canonical context: order free, everything else significant. */
static void test_kms_blob_context(void **state)
{
    uint8_t *p;
    size_t n;
    (void)state;
    assert_true(same("{\"a\":\"1\",\"b\":\"2\"}", "{\"b\":\"2\",\"a\":\"1\"}"));
    assert_true(same("{}", "{}"));
    assert_false(same("{\"a\":\"1\"}", "{\"a\":\"2\"}"));
    assert_false(same("{\"a\":\"1\"}", "{\"A\":\"1\"}"));
    assert_false(same("{\"ab\":\"c\"}", "{\"a\":\"bc\"}"));
    assert_false(same("{\"a\":\"1\"}", "{}"));
    assert_false(same("{\"a\":\"1\",\"b\":\"\"}", "{\"a\":\"1\"}"));
    assert_int_equal(ohsm_kms_context_encode(NULL, &p, &n), OHSM_OK);
    assert_null(p);
    assert_int_equal(n, 0);
    json_t *bad = json_pack("{s:i}", "a", 1);
    assert_int_equal(ohsm_kms_context_encode(bad, &p, &n), OHSM_ARGUMENTS_BAD);
    json_decref(bad);
}

/* The key-state table, cell by cell for the states and origins this service has. */
static void test_kms_blob_state_table(void **state)
{
    (void)state;
    const uint32_t AWS = OHSM_KORIGIN_AWS_KMS, EXT = OHSM_KORIGIN_EXTERNAL;
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_ENCRYPT, OHSM_KSTATE_ENABLED, AWS), OHSM_KV_OK);
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_ENCRYPT, OHSM_KSTATE_DISABLED, AWS),
                     OHSM_KV_DISABLED);
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_DECRYPT, OHSM_KSTATE_PENDING_DELETION, AWS),
                     OHSM_KV_PENDING_DELETION);
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_DECRYPT, OHSM_KSTATE_PENDING_IMPORT, EXT),
                     OHSM_KV_PENDING_IMPORT);
    assert_int_equal(
        ohsm_kms_state_check(OHSM_KOP_ENCRYPT, OHSM_KSTATE_UNAVAILABLE, OHSM_KORIGIN_AWS_CLOUDHSM),
        OHSM_KV_UNAVAILABLE);
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_CANCEL_KEY_DELETION, OHSM_KSTATE_ENABLED, AWS),
                     OHSM_KV_NOT_PENDING);
    assert_int_equal(
        ohsm_kms_state_check(OHSM_KOP_CANCEL_KEY_DELETION, OHSM_KSTATE_PENDING_DELETION, AWS),
        OHSM_KV_OK);
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_DESCRIBE_KEY, OHSM_KSTATE_PENDING_DELETION, AWS),
                     OHSM_KV_OK);
    assert_int_equal(
        ohsm_kms_state_check(OHSM_KOP_SCHEDULE_KEY_DELETION, OHSM_KSTATE_PENDING_DELETION, AWS),
        OHSM_KV_PENDING_DELETION);
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_ENABLE_KEY, OHSM_KSTATE_PENDING_IMPORT, EXT),
                     OHSM_KV_PENDING_IMPORT);
    /* rotation: not for imported material ([6]/[7]), fine when pending deletion for status */
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_ENABLE_KEY_ROTATION, OHSM_KSTATE_ENABLED, EXT),
                     OHSM_KV_UNSUPPORTED);
    assert_int_equal(
        ohsm_kms_state_check(OHSM_KOP_GET_KEY_ROTATION_STATUS, OHSM_KSTATE_PENDING_IMPORT, EXT),
        OHSM_KV_EXTERNAL);
    assert_int_equal(
        ohsm_kms_state_check(OHSM_KOP_GET_KEY_ROTATION_STATUS, OHSM_KSTATE_PENDING_DELETION, AWS),
        OHSM_KV_OK);
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_ENABLE_KEY_ROTATION, OHSM_KSTATE_DISABLED, AWS),
                     OHSM_KV_DISABLED);
    /* import: only EXTERNAL keys ([9]) */
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_IMPORT_KEY_MATERIAL, OHSM_KSTATE_ENABLED, AWS),
                     OHSM_KV_UNSUPPORTED);
    assert_int_equal(
        ohsm_kms_state_check(OHSM_KOP_IMPORT_KEY_MATERIAL, OHSM_KSTATE_PENDING_IMPORT, EXT),
        OHSM_KV_OK);
    assert_int_equal(
        ohsm_kms_state_check(OHSM_KOP_IMPORT_KEY_MATERIAL, OHSM_KSTATE_PENDING_DELETION, EXT),
        OHSM_KV_PENDING_DELETION);
    /* out of range */
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_COUNT_, OHSM_KSTATE_ENABLED, AWS),
                     OHSM_KV_UNSUPPORTED);
    assert_int_equal(ohsm_kms_state_check(OHSM_KOP_ENCRYPT, 0, AWS), OHSM_KV_UNSUPPORTED);
    char type[64], msg[256];
    ohsm_kms_state_error(OHSM_KV_DISABLED, "arn:x", type, sizeof(type), msg, sizeof(msg));
    assert_string_equal(type, "DisabledException");
    assert_string_equal(msg, "arn:x is disabled.");
    ohsm_kms_state_error(OHSM_KV_PENDING_DELETION, "arn:x", type, sizeof(type), msg, sizeof(msg));
    assert_string_equal(type, "KMSInvalidStateException");
    assert_string_equal(msg, "arn:x is pending deletion.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kms_blob_uuid),
        cmocka_unit_test(test_kms_blob_parse),
        cmocka_unit_test(test_kms_blob_context),
        cmocka_unit_test(test_kms_blob_state_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
