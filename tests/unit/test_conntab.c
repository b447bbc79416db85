/* SPDX-License-Identifier: Apache-2.0
 * The table of connections without a login: bounds in total and per source never refuse a
 * newcomer but evict the least recently active idle connection (of that source, or of the source
 * holding the most), busy connections are spared and never expire, deadlines follow the state,
 * and ids are never reused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hsm/conntab.h"

static const uint8_t A[OHSM_CONNTAB_SRC_LEN] = {[10] = 0xff, [11] = 0xff, 127, 0, 0, 1};
static const uint8_t B[OHSM_CONNTAB_SRC_LEN] = {[10] = 0xff, [11] = 0xff, 127, 0, 0, 2};
static const uint8_t C[OHSM_CONNTAB_SRC_LEN] = {[10] = 0xff, [11] = 0xff, 10, 0, 0, 3};

static struct ohsm_conntab *table(uint32_t total, uint32_t per_source)
{
    struct ohsm_conntab_limits lim = {total, per_source, 3000, 20000};
    struct ohsm_conntab *t = NULL;
    assert_int_equal(ohsm_conntab_new(&lim, &t), OHSM_OK);
    return t;
}

/* Admits fd from src at now; returns the evicted descriptor (-1: none). */
static int admit(struct ohsm_conntab *t, const uint8_t *src, int fd, uint64_t now, uint64_t *id)
{
    uint64_t dummy = 0;
    int victim = -2;
    ohsm_conntab_admit(t, src, fd, false, now, id != NULL ? id : &dummy, &victim);
    return victim;
}

/* Limits out of range are refused. */
static void test_conntab_bad_limits(void **state)
{
    (void)state;
    struct ohsm_conntab *t = NULL;
    const struct ohsm_conntab_limits bad[] = {
        {0, 0, 1, 1}, {4, 0, 1, 1}, {4, 5, 1, 1}, {4, 4, 0, 1}, {4, 4, 1, 0}, {65537, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ohsm_conntab_new(&bad[i], &t), OHSM_ARGUMENTS_BAD);
        assert_null(t);
    }
    assert_int_equal(ohsm_conntab_new(NULL, &t), OHSM_ARGUMENTS_BAD);
    ohsm_conntab_free(NULL);
}

/* Past the per-source bound the source's least recently active connection is evicted; other
 * sources are untouched and the newcomer is always in. */
static void test_conntab_per_source_evicts_oldest_of_source(void **state)
{
    (void)state;
    struct ohsm_conntab *t = table(8, 3);
    uint64_t ids[5];
    assert_int_equal(admit(t, B, 100, 0, NULL), -1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(admit(t, A, 10 + i, 0, &ids[i]), -1);
    }
    assert_int_equal(ohsm_conntab_count(t, A), 3);
    /* fd 10 was touched last, so fd 11 is now the least recently active of A */
    assert_true(ohsm_conntab_touch(t, ids[0], false, 1, 0));
    assert_int_equal(admit(t, A, 13, 2, &ids[3]), 11);
    assert_int_equal(admit(t, A, 14, 3, &ids[4]), 12);
    assert_int_equal(admit(t, A, 15, 4, NULL), 10);
    assert_int_equal(ohsm_conntab_count(t, A), 3);
    assert_int_equal(ohsm_conntab_count(t, B), 1);
    assert_int_equal(ohsm_conntab_count(t, NULL), 4);
    /* an evicted id is gone for good */
    assert_false(ohsm_conntab_touch(t, ids[0], false, 5, 0));
    ohsm_conntab_free(t);
}

/* Past the total bound the largest source pays, not a small one. */
static void test_conntab_total_evicts_from_largest_source(void **state)
{
    (void)state;
    struct ohsm_conntab *t = table(6, 4);
    assert_int_equal(admit(t, C, 1, 0, NULL), -1); /* oldest of all, but C is small */
    assert_int_equal(admit(t, B, 2, 0, NULL), -1);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(admit(t, A, 10 + i, 0, NULL), -1);
    }
    assert_int_equal(ohsm_conntab_count(t, NULL), 6);
    assert_int_equal(admit(t, B, 3, 1, NULL), 10); /* A holds the most: its oldest goes */
    assert_int_equal(ohsm_conntab_count(t, NULL), 6);
    assert_int_equal(ohsm_conntab_count(t, C), 1);
    assert_int_equal(ohsm_conntab_count(t, B), 2);
    assert_int_equal(ohsm_conntab_count(t, A), 3);
    ohsm_conntab_free(t);
}

/* A busy connection is evicted only when every candidate is busy. */
static void test_conntab_busy_spared(void **state)
{
    (void)state;
    struct ohsm_conntab *t = table(4, 2);
    uint64_t a = 0, b = 0;
    assert_int_equal(admit(t, A, 1, 0, &a), -1);
    assert_int_equal(admit(t, A, 2, 0, &b), -1);
    assert_true(ohsm_conntab_touch(t, a, true, 1, 0));
    assert_int_equal(admit(t, A, 3, 2, NULL), 2); /* fd 1 is older but busy */
    assert_int_equal(admit(t, A, 4, 3, NULL), 3);
    uint64_t c = 0;
    assert_int_equal(admit(t, A, 5, 4, &c), 4);
    assert_true(ohsm_conntab_touch(t, c, true, 5, 0));
    assert_int_equal(admit(t, A, 6, 6, NULL), 1); /* all busy: the least recently active */
    ohsm_conntab_free(t);
}

/* Deadlines: the handshake one from admission, the idle one from the last request; busy entries
 * never expire; expiry hands back each descriptor once, in batches of cap. */
static void test_conntab_expire(void **state)
{
    (void)state;
    struct ohsm_conntab *t = table(8, 8);
    int fds[2];
    uint64_t hs = 0, idle = 0, busy = 0, back = 0;
    assert_int_equal(admit(t, A, 1, 1000, &hs), -1);   /* deadline 4000 */
    assert_int_equal(admit(t, A, 2, 1000, &idle), -1); /* touched at 2000: 22000 */
    assert_int_equal(admit(t, A, 3, 1000, &busy), -1);
    int victim = -2;
    ohsm_conntab_admit(t, B, 4, true, 1000, &back, &victim); /* logged out: 21000 */
    assert_int_equal(victim, -1);
    assert_true(ohsm_conntab_touch(t, idle, false, 2000, 0));
    assert_true(ohsm_conntab_touch(t, busy, true, 2000, 0));
    assert_int_equal(ohsm_conntab_expire(t, 3999, fds, 2), 0);
    assert_int_equal(ohsm_conntab_expire(t, 4000, fds, 2), 1);
    assert_int_equal(fds[0], 1);
    assert_int_equal(ohsm_conntab_expire(t, 20999, fds, 2), 0);
    assert_int_equal(ohsm_conntab_expire(t, 1000000, fds, 1), 1);
    assert_int_equal(ohsm_conntab_expire(t, 1000000, fds, 2), 1);
    assert_int_equal(ohsm_conntab_expire(t, 1000000, fds, 2), 0);
    assert_int_equal(ohsm_conntab_count(t, NULL), 1); /* the busy one */
    assert_true(ohsm_conntab_touch(t, busy, false, 1000000, 0));
    assert_int_equal(ohsm_conntab_expire(t, 1019999, fds, 2), 0);
    assert_int_equal(ohsm_conntab_expire(t, 1020000, fds, 2), 1);
    assert_int_equal(fds[0], 3);
    assert_int_equal(ohsm_conntab_count(t, NULL), 0);
    ohsm_conntab_free(t);
}

/* A later deadline (a pending MFA login) extends the idle one; an earlier one does not shorten
 * it, and the next request without one brings the idle deadline back. */
static void test_conntab_hold_until(void **state)
{
    (void)state;
    struct ohsm_conntab *t = table(8, 8);
    int fds[2];
    uint64_t a = 0, b = 0;
    assert_int_equal(admit(t, A, 1, 0, &a), -1);
    assert_int_equal(admit(t, A, 2, 0, &b), -1);
    assert_true(ohsm_conntab_touch(t, a, false, 1000, 600000)); /* held to 600000 */
    assert_true(ohsm_conntab_touch(t, b, false, 1000, 5000));   /* 21000 wins */
    assert_int_equal(ohsm_conntab_expire(t, 20999, fds, 2), 0);
    assert_int_equal(ohsm_conntab_expire(t, 21000, fds, 2), 1);
    assert_int_equal(fds[0], 2);
    assert_int_equal(ohsm_conntab_expire(t, 599999, fds, 2), 0);
    assert_true(ohsm_conntab_touch(t, a, false, 599999, 0)); /* token used: back to idle */
    assert_int_equal(ohsm_conntab_expire(t, 619998, fds, 2), 0);
    assert_int_equal(ohsm_conntab_expire(t, 619999, fds, 2), 1);
    assert_int_equal(fds[0], 1);
    ohsm_conntab_free(t);
}

/* Removing (a login, or the connection closing) frees the room; unknown and 0 ids are ignored;
 * ids are not reused. */
static void test_conntab_remove(void **state)
{
    (void)state;
    struct ohsm_conntab *t = table(2, 2);
    uint64_t a = 0, b = 0, c = 0;
    assert_int_equal(admit(t, A, 1, 0, &a), -1);
    assert_int_equal(admit(t, A, 2, 0, &b), -1);
    ohsm_conntab_remove(t, a);
    ohsm_conntab_remove(t, a);
    ohsm_conntab_remove(t, 0);
    ohsm_conntab_remove(t, 999);
    assert_int_equal(ohsm_conntab_count(t, NULL), 1);
    assert_int_equal(admit(t, A, 3, 0, &c), -1);
    assert_true(c != a && c != b && c != 0);
    assert_false(ohsm_conntab_touch(t, a, false, 0, 0));
    ohsm_conntab_free(t);
}

/* A flood of 1,000 from one source with a per-source bound: the table never holds more than the
 * bound, and the last comer is always in. */
static void test_conntab_flood(void **state)
{
    (void)state;
    struct ohsm_conntab *t = table(256, 128);
    uint64_t id = 0;
    int evicted = 0;
    for (int i = 0; i < 1000; i++) {
        if (admit(t, A, 1000 + i, (uint64_t)i, &id) >= 0) {
            evicted++;
        }
        assert_true(ohsm_conntab_count(t, A) <= 128);
    }
    assert_int_equal(evicted, 1000 - 128);
    assert_true(ohsm_conntab_touch(t, id, false, 2000, 0));
    ohsm_conntab_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conntab_bad_limits),
        cmocka_unit_test(test_conntab_per_source_evicts_oldest_of_source),
        cmocka_unit_test(test_conntab_total_evicts_from_largest_source),
        cmocka_unit_test(test_conntab_busy_spared),
        cmocka_unit_test(test_conntab_expire),
        cmocka_unit_test(test_conntab_hold_until),
        cmocka_unit_test(test_conntab_remove),
        cmocka_unit_test(test_conntab_flood),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
