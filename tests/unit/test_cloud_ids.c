/* SPDX-License-Identifier: Apache-2.0
 * openhsmd identifiers and generated passwords: shape, alphabet, buffer limits, uniqueness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloud/ids.h"

#define DRAWS 20000

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static bool in_b32(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

/* NULL arguments and buffers one byte too small are refused; the exact size works. */
static void test_ids_make_edges(void **state)
{
    (void)state;
    char buf[OHSM_IDS_MAX];
    assert_int_equal(ohsm_ids_make(NULL, buf, sizeof(buf)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_ids_make("hsm-", NULL, sizeof(buf)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_ids_make("hsm-", buf, 0), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(ohsm_ids_make("hsm-", buf, OHSM_IDS_HSM_LEN), OHSM_BUFFER_TOO_SMALL);
    assert_int_equal(ohsm_ids_make("hsm-", buf, OHSM_IDS_HSM_LEN + 1), OHSM_OK);
    assert_int_equal(strlen(buf), OHSM_IDS_HSM_LEN);
    assert_int_equal(ohsm_ids_make("cluster-", buf, OHSM_IDS_CLUSTER_LEN), OHSM_BUFFER_TOO_SMALL);
}

/* Every cluster id is "cluster-" + 11 of [a-z2-7] (19 chars), every HSM id "hsm-" + 11 (15). */
static void test_ids_shape(void **state)
{
    (void)state;
    char c[OHSM_IDS_MAX], h[OHSM_IDS_MAX];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ohsm_ids_make(OHSM_IDS_CLUSTER_PREFIX, c, sizeof(c)), OHSM_OK);
        assert_int_equal(ohsm_ids_make(OHSM_IDS_HSM_PREFIX, h, sizeof(h)), OHSM_OK);
        assert_int_equal(strlen(c), 19);
        assert_int_equal(strlen(h), 15);
        assert_memory_equal(c, "cluster-", 8);
        assert_memory_equal(h, "hsm-", 4);
        for (size_t k = 8; k < 19; k++) {
            assert_true(in_b32(c[k]));
        }
        for (size_t k = 4; k < 15; k++) {
            assert_true(in_b32(h[k]));
        }
        assert_true(ohsm_ids_valid(OHSM_IDS_CLUSTER_PREFIX, c));
        assert_true(ohsm_ids_valid(OHSM_IDS_HSM_PREFIX, h));
    }
}

/* Over many draws every one of the 32 symbols appears (the low 5 bits are all used). */
static void test_ids_alphabet_covered(void **state)
{
    (void)state;
    bool seen[128] = {false};
    char h[OHSM_IDS_MAX];
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(ohsm_ids_make(OHSM_IDS_HSM_PREFIX, h, sizeof(h)), OHSM_OK);
        for (size_t k = 4; k < 15; k++) {
            seen[(unsigned char)h[k]] = true;
        }
    }
    for (const char *p = "abcdefghijklmnopqrstuvwxyz234567"; *p != '\0'; p++) {
        assert_true(seen[(unsigned char)*p]);
    }
    assert_false(seen['0'] || seen['1'] || seen['8'] || seen['9'] || seen['A']);
}

/* 20000 draws give 20000 distinct ids (55 random bits each: a repeat would mean a broken RNG). */
static void test_ids_unique(void **state)
{
    (void)state;
    char(*ids)[OHSM_IDS_MAX] = calloc(DRAWS, OHSM_IDS_MAX);
    assert_non_null(ids);
    for (size_t i = 0; i < DRAWS; i++) {
        assert_int_equal(ohsm_ids_make(OHSM_IDS_HSM_PREFIX, ids[i], OHSM_IDS_MAX), OHSM_OK);
    }
    qsort(ids, DRAWS, OHSM_IDS_MAX, cmp_str);
    for (size_t i = 1; i < DRAWS; i++) {
        assert_true(strcmp(ids[i - 1], ids[i]) != 0);
    }
    free(ids);
}

/* The validator refuses wrong prefixes, lengths, upper case and symbols outside base32. */
static void test_ids_valid_rejects(void **state)
{
    (void)state;
    assert_false(ohsm_ids_valid(NULL, "hsm-abcdefghijk"));
    assert_false(ohsm_ids_valid("hsm-", NULL));
    assert_false(ohsm_ids_valid("hsm-", ""));
    assert_false(ohsm_ids_valid("hsm-", "hsm-"));
    assert_false(ohsm_ids_valid("hsm-", "hsm-abcdefghij"));   /* 10 */
    assert_false(ohsm_ids_valid("hsm-", "hsm-abcdefghijkl")); /* 12 */
    assert_false(ohsm_ids_valid("hsm-", "hsm-abcdefghij1"));  /* '1' is not base32 */
    assert_false(ohsm_ids_valid("hsm-", "hsm-abcdefghij8"));
    assert_false(ohsm_ids_valid("hsm-", "hsm-Abcdefghijk"));
    assert_false(ohsm_ids_valid("hsm-", "hsm-abcde/ghijk"));
    assert_false(ohsm_ids_valid("hsm-", "cluster-abcdefghijk"));
    assert_false(ohsm_ids_valid("cluster-", "hsm-abcdefghijk"));
    assert_true(ohsm_ids_valid("hsm-", "hsm-abcdefghij7"));
    assert_true(ohsm_ids_valid("cluster-", "cluster-22222222222"));
}

/* Passwords: buffer limits first, then 24 alphanumerics, all 62 symbols reachable, distinct. */
static void test_ids_password(void **state)
{
    (void)state;
    char pw[OHSM_IDS_PASSWORD_LEN + 1], prev[OHSM_IDS_PASSWORD_LEN + 1] = "";
    bool seen[128] = {false};
    assert_int_equal(ohsm_ids_password(NULL, 64), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_ids_password(pw, OHSM_IDS_PASSWORD_LEN), OHSM_BUFFER_TOO_SMALL);
    for (int i = 0; i < 500; i++) {
        assert_int_equal(ohsm_ids_password(pw, sizeof(pw)), OHSM_OK);
        assert_int_equal(strlen(pw), OHSM_IDS_PASSWORD_LEN);
        for (size_t k = 0; k < OHSM_IDS_PASSWORD_LEN; k++) {
            char ch = pw[k];
            assert_true((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9'));
            seen[(unsigned char)ch] = true;
        }
        assert_string_not_equal(pw, prev);
        memcpy(prev, pw, sizeof(pw));
    }
    int distinct = 0;
    for (int c = 0; c < 128; c++) {
        distinct += seen[c] ? 1 : 0;
    }
    assert_int_equal(distinct, 62);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_make_edges), cmocka_unit_test(test_ids_valid_rejects),
        cmocka_unit_test(test_ids_shape),      cmocka_unit_test(test_ids_alphabet_covered),
        cmocka_unit_test(test_ids_unique),     cmocka_unit_test(test_ids_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
