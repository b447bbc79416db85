/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the HSM's per-user volatile state: login-attempt slots and live sessions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "hsm/ustate.h"

static struct ohsm_ustate *fresh(void)
{
    struct ohsm_ustate *u = calloc(1, sizeof(*u));
    assert_non_null(u);
    return u;
}

/* Attempts in flight count toward the limit with the stored failures: never more than limit. */
static void test_ustate_attempts_capped(void **state)
{
    (void)state;
    struct ohsm_ustate *u = fresh();
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ohsm_ustate_attempt_take(u, 7, 0, 5, NULL), OHSM_OK);
    }
    bool busy = false;
    assert_int_equal(ohsm_ustate_attempt_take(u, 7, 0, 5, &busy), OHSM_PIN_LOCKED);
    assert_true(busy); /* all five slots in flight: worth waiting for */
    assert_int_equal(ohsm_ustate_attempt_take(u, 8, 0, 5, NULL), OHSM_OK); /* another user: own slots */
    ohsm_ustate_attempt_put(u, 7);
    assert_int_equal(ohsm_ustate_attempt_take(u, 7, 0, 5, NULL), OHSM_OK);
    /* stored failures and in-flight attempts add up */
    assert_int_equal(ohsm_ustate_attempt_take(u, 9, 3, 5, NULL), OHSM_OK);
    assert_int_equal(ohsm_ustate_attempt_take(u, 9, 3, 5, NULL), OHSM_OK);
    assert_int_equal(ohsm_ustate_attempt_take(u, 9, 3, 5, NULL), OHSM_PIN_LOCKED);
    /* a locked user gets no slot at all */
    assert_int_equal(ohsm_ustate_attempt_take(u, 10, 5, 5, &busy), OHSM_PIN_LOCKED);
    assert_false(busy); /* locked for good: no waiting */
    assert_int_equal(ohsm_ustate_attempt_take(u, 10, 99, 5, NULL), OHSM_PIN_LOCKED);
    free(u);
}

/* Sessions are counted per user; removing more than were added is harmless; id 0 is refused. */
static void test_ustate_sessions(void **state)
{
    (void)state;
    struct ohsm_ustate *u = fresh();
    assert_int_equal(ohsm_ustate_sessions(u, 3), 0);
    assert_int_equal(ohsm_ustate_session_add(u, 3), OHSM_OK);
    assert_int_equal(ohsm_ustate_session_add(u, 3), OHSM_OK);
    assert_int_equal(ohsm_ustate_session_add(u, 4), OHSM_OK);
    assert_int_equal(ohsm_ustate_sessions(u, 3), 2);
    assert_int_equal(ohsm_ustate_sessions(u, 4), 1);
    ohsm_ustate_session_del(u, 3);
    ohsm_ustate_session_del(u, 4);
    ohsm_ustate_session_del(u, 4);
    ohsm_ustate_session_del(u, 5);
    assert_int_equal(ohsm_ustate_sessions(u, 3), 1);
    assert_int_equal(ohsm_ustate_sessions(u, 4), 0);
    assert_int_equal(u->n, 1); /* entries that count nothing are dropped */
    assert_int_equal(ohsm_ustate_session_add(u, 0), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_ustate_attempt_take(u, 0, 0, 5, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_ustate_session_add(NULL, 1), OHSM_ARGUMENTS_BAD);
    ohsm_ustate_session_del(NULL, 1);
    ohsm_ustate_attempt_put(NULL, 1);
    assert_int_equal(ohsm_ustate_sessions(NULL, 1), 0);
    free(u);
}

/* A full table refuses new users (fail closed) but still serves the ones it holds. */
static void test_ustate_full(void **state)
{
    (void)state;
    struct ohsm_ustate *u = fresh();
    for (uint32_t i = 1; i <= OHSM_USTATE_MAX; i++) {
        assert_int_equal(ohsm_ustate_session_add(u, i), OHSM_OK);
    }
    assert_int_equal(ohsm_ustate_session_add(u, OHSM_USTATE_MAX + 1), OHSM_SESSION_COUNT);
    assert_int_equal(ohsm_ustate_attempt_take(u, OHSM_USTATE_MAX + 1, 0, 5, NULL), OHSM_SESSION_COUNT);
    assert_int_equal(ohsm_ustate_session_add(u, 1), OHSM_OK);
    assert_int_equal(ohsm_ustate_attempt_take(u, 2, 0, 5, NULL), OHSM_OK);
    ohsm_ustate_session_del(u, 17);
    assert_int_equal(ohsm_ustate_session_add(u, OHSM_USTATE_MAX + 1), OHSM_OK);
    assert_int_equal(ohsm_ustate_sessions(u, OHSM_USTATE_MAX), 1);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ustate_attempts_capped),
        cmocka_unit_test(test_ustate_sessions),
        cmocka_unit_test(test_ustate_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
