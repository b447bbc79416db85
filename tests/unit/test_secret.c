/* SPDX-License-Identifier: Apache-2.0
 * Password records: scrypt round trip, wrong passwords, tampering and malformed records, and the
 * secret buffer. Uses a cheap cost so the suite stays fast; the KDF is OpenSSL's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "openhsm/secret.h"

static const struct ohsm_pwhash_cost cheap = {4, 8, 1};

/* The right password verifies; a wrong or differently-cased one does not. */
static void test_secret_pwhash_roundtrip(void **state)
{
    (void)state;
    uint8_t rec[OHSM_PWHASH_LEN];
    assert_int_equal(ohsm_pwhash_make(&cheap, (const uint8_t *)"password", 8, rec), OHSM_OK);
    assert_int_equal(ohsm_pwhash_verify(rec, sizeof(rec), (const uint8_t *)"password", 8), OHSM_OK);
    assert_int_equal(ohsm_pwhash_verify(rec, sizeof(rec), (const uint8_t *)"Password", 8),
                     OHSM_PIN_INCORRECT);
    assert_int_equal(ohsm_pwhash_verify(rec, sizeof(rec), (const uint8_t *)"passwor", 7),
                     OHSM_PIN_INCORRECT);
}

/* Two records of the same password differ (fresh salt) and both verify. */
static void test_secret_pwhash_salted(void **state)
{
    (void)state;
    uint8_t a[OHSM_PWHASH_LEN], b[OHSM_PWHASH_LEN];
    assert_int_equal(ohsm_pwhash_make(&cheap, (const uint8_t *)"samepass", 8, a), OHSM_OK);
    assert_int_equal(ohsm_pwhash_make(&cheap, (const uint8_t *)"samepass", 8, b), OHSM_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(ohsm_pwhash_verify(b, sizeof(b), (const uint8_t *)"samepass", 8), OHSM_OK);
}

/* A flipped hash bit fails as a wrong password; bad versions, lengths and costs are DB errors. */
static void test_secret_pwhash_malformed(void **state)
{
    (void)state;
    uint8_t rec[OHSM_PWHASH_LEN];
    const uint8_t *pw = (const uint8_t *)"password";
    assert_int_equal(ohsm_pwhash_make(&cheap, pw, 8, rec), OHSM_OK);
    rec[OHSM_PWHASH_LEN - 1] ^= 1;
    assert_int_equal(ohsm_pwhash_verify(rec, sizeof(rec), pw, 8), OHSM_PIN_INCORRECT);
    rec[OHSM_PWHASH_LEN - 1] ^= 1;
    assert_int_equal(ohsm_pwhash_verify(rec, sizeof(rec) - 1, pw, 8), OHSM_DB);
    assert_int_equal(ohsm_pwhash_verify(NULL, 0, pw, 8), OHSM_DB);
    rec[0] = 2;
    assert_int_equal(ohsm_pwhash_verify(rec, sizeof(rec), pw, 8), OHSM_DB);
    rec[0] = 1;
    rec[1] = 60; /* absurd N must not be attempted */
    assert_int_equal(ohsm_pwhash_verify(rec, sizeof(rec), pw, 8), OHSM_DB);
}

/* Secrets copy their bytes, NUL-terminate, allow empty, and free(NULL) is fine. */
static void test_secret_buffer(void **state)
{
    (void)state;
    struct ohsm_secret *s = NULL;
    assert_int_equal(ohsm_secret_new("abc", 3, &s), OHSM_OK);
    assert_int_equal(ohsm_secret_len(s), 3);
    assert_string_equal((const char *)ohsm_secret_data(s), "abc");
    ohsm_secret_free(s);
    assert_int_equal(ohsm_secret_new(NULL, 0, &s), OHSM_OK);
    assert_int_equal(ohsm_secret_len(s), 0);
    ohsm_secret_free(s);
    assert_int_equal(ohsm_secret_new(NULL, 1, &s), OHSM_ARGUMENTS_BAD);
    ohsm_secret_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_pwhash_malformed),
        cmocka_unit_test(test_secret_pwhash_roundtrip),
        cmocka_unit_test(test_secret_pwhash_salted),
        cmocka_unit_test(test_secret_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
