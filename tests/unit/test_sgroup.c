/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the HSM's session-object groups: join or make by token, bound to one user,
 * counted sessions, the last leave, a full table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hsm/sgroup.h"

static struct ohsm_sgroups *fresh(void)
{
    struct ohsm_sgroups *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    return g;
}

static void tok(uint8_t *t, uint32_t n)
{
    memset(t, 0, OHSM_SGROUP_TOKEN_LEN);
    memcpy(t, &n, sizeof(n));
    t[OHSM_SGROUP_TOKEN_LEN - 1] = 0xA5;
}

/* The first login with a token makes the group with its id, the next ones join it; the group ends
 * with its last session only. */
static void test_sgroup_join_and_leave(void **state)
{
    (void)state;
    struct ohsm_sgroups *g = fresh();
    uint8_t t[OHSM_SGROUP_TOKEN_LEN];
    uint64_t id = 0;
    tok(t, 1);
    assert_int_equal(ohsm_sgroups_join(g, t, 7, 100, &id), OHSM_OK);
    assert_int_equal(id, 100);
    assert_int_equal(ohsm_sgroups_join(g, t, 7, 101, &id), OHSM_OK);
    assert_int_equal(id, 100); /* joined, not made */
    tok(t, 2);
    assert_int_equal(ohsm_sgroups_join(g, t, 7, 102, &id), OHSM_OK);
    assert_int_equal(id, 102);
    assert_int_equal(ohsm_sgroups_count(g), 2);
    assert_false(ohsm_sgroups_leave(g, 100));
    assert_true(ohsm_sgroups_leave(g, 100));
    assert_int_equal(ohsm_sgroups_count(g), 1);
    assert_true(ohsm_sgroups_leave(g, 102));
    assert_int_equal(ohsm_sgroups_count(g), 0);
    assert_true(ohsm_sgroups_leave(g, 555)); /* unknown: nothing keeps its objects */
    free(g);
}

/* Another user presenting a live group's token is refused and changes nothing; once the group is
 * gone the token is free again. Bad arguments are refused. */
static void test_sgroup_other_user_refused(void **state)
{
    (void)state;
    struct ohsm_sgroups *g = fresh();
    uint8_t t[OHSM_SGROUP_TOKEN_LEN];
    uint64_t id = 0;
    tok(t, 3);
    assert_int_equal(ohsm_sgroups_join(g, t, 7, 100, &id), OHSM_OK);
    id = 0;
    assert_int_equal(ohsm_sgroups_join(g, t, 8, 101, &id), OHSM_ARGUMENTS_BAD);
    assert_int_equal(id, 0);
    assert_int_equal(g->e[0].refs, 1);
    assert_true(ohsm_sgroups_leave(g, 100));
    assert_int_equal(ohsm_sgroups_join(g, t, 8, 101, &id), OHSM_OK);
    assert_int_equal(id, 101);
    assert_int_equal(ohsm_sgroups_join(g, NULL, 8, 102, &id), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sgroups_join(g, t, 8, 0, &id), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_sgroups_count(g), 1);
    free(g);
}

/* A full table refuses a new group but still lets sessions join live ones; a freed entry is
 * wiped and reused. */
static void test_sgroup_full_table(void **state)
{
    (void)state;
    struct ohsm_sgroups *g = fresh();
    uint8_t t[OHSM_SGROUP_TOKEN_LEN];
    uint64_t id = 0;
    for (uint32_t i = 0; i < OHSM_SGROUPS_MAX; i++) {
        tok(t, i);
        assert_int_equal(ohsm_sgroups_join(g, t, 7, 1000 + i, &id), OHSM_OK);
    }
    tok(t, OHSM_SGROUPS_MAX);
    assert_int_equal(ohsm_sgroups_join(g, t, 7, 99999, &id), OHSM_SESSION_COUNT);
    tok(t, 5);
    assert_int_equal(ohsm_sgroups_join(g, t, 7, 99999, &id), OHSM_OK);
    assert_int_equal(id, 1005);
    assert_false(ohsm_sgroups_leave(g, 1005));
    assert_true(ohsm_sgroups_leave(g, 1005));
    static const uint8_t zero[sizeof(struct ohsm_sgroup)];
    assert_memory_equal(&g->e[OHSM_SGROUPS_MAX - 1], zero, sizeof(zero));
    tok(t, OHSM_SGROUPS_MAX);
    assert_int_equal(ohsm_sgroups_join(g, t, 7, 99999, &id), OHSM_OK);
    assert_int_equal(id, 99999);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgroup_join_and_leave),
        cmocka_unit_test(test_sgroup_other_user_refused),
        cmocka_unit_test(test_sgroup_full_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
