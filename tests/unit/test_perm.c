/* SPDX-License-Identifier: Apache-2.0
 * The permission table, cell by cell: all 40 cells of the CloudHSM CLI guide's table (10 operations
 * x admin, crypto user, appliance user, unauthenticated), plus our PRECO column and bad inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "openhsm/perm.h"

struct cell {
    enum ohsm_op op;
    enum ohsm_utype who;
    bool allowed;
};

#define Y true
#define N false
/* Transcribed from the guide, row by row: admin, CU, AU, unauthenticated. */
static const struct cell guide[] = {
    {OHSM_OP_CLUSTER_INFO, OHSM_UT_CO, Y},    {OHSM_OP_CLUSTER_INFO, OHSM_UT_CU, Y},
    {OHSM_OP_CLUSTER_INFO, OHSM_UT_AU, Y},    {OHSM_OP_CLUSTER_INFO, OHSM_UT_NONE, Y},
    {OHSM_OP_CHANGE_OWN_PW, OHSM_UT_CO, Y},   {OHSM_OP_CHANGE_OWN_PW, OHSM_UT_CU, Y},
    {OHSM_OP_CHANGE_OWN_PW, OHSM_UT_AU, Y},   {OHSM_OP_CHANGE_OWN_PW, OHSM_UT_NONE, N},
    {OHSM_OP_CHANGE_ANY_PW, OHSM_UT_CO, Y},   {OHSM_OP_CHANGE_ANY_PW, OHSM_UT_CU, N},
    {OHSM_OP_CHANGE_ANY_PW, OHSM_UT_AU, N},   {OHSM_OP_CHANGE_ANY_PW, OHSM_UT_NONE, N},
    {OHSM_OP_MANAGE_USERS, OHSM_UT_CO, Y},    {OHSM_OP_MANAGE_USERS, OHSM_UT_CU, N},
    {OHSM_OP_MANAGE_USERS, OHSM_UT_AU, N},    {OHSM_OP_MANAGE_USERS, OHSM_UT_NONE, N},
    {OHSM_OP_SYNC_STATUS, OHSM_UT_CO, Y},     {OHSM_OP_SYNC_STATUS, OHSM_UT_CU, Y},
    {OHSM_OP_SYNC_STATUS, OHSM_UT_AU, Y},     {OHSM_OP_SYNC_STATUS, OHSM_UT_NONE, N},
    {OHSM_OP_MASKED_OBJECTS, OHSM_UT_CO, Y},  {OHSM_OP_MASKED_OBJECTS, OHSM_UT_CU, Y},
    {OHSM_OP_MASKED_OBJECTS, OHSM_UT_AU, Y},  {OHSM_OP_MASKED_OBJECTS, OHSM_UT_NONE, N},
    {OHSM_OP_KEY_MGMT, OHSM_UT_CO, N},        {OHSM_OP_KEY_MGMT, OHSM_UT_CU, Y},
    {OHSM_OP_KEY_MGMT, OHSM_UT_AU, N},        {OHSM_OP_KEY_MGMT, OHSM_UT_NONE, N},
    {OHSM_OP_ENCRYPT_DECRYPT, OHSM_UT_CO, N}, {OHSM_OP_ENCRYPT_DECRYPT, OHSM_UT_CU, Y},
    {OHSM_OP_ENCRYPT_DECRYPT, OHSM_UT_AU, N}, {OHSM_OP_ENCRYPT_DECRYPT, OHSM_UT_NONE, N},
    {OHSM_OP_SIGN_VERIFY, OHSM_UT_CO, N},     {OHSM_OP_SIGN_VERIFY, OHSM_UT_CU, Y},
    {OHSM_OP_SIGN_VERIFY, OHSM_UT_AU, N},     {OHSM_OP_SIGN_VERIFY, OHSM_UT_NONE, N},
    {OHSM_OP_DIGEST_HMAC, OHSM_UT_CO, N},     {OHSM_OP_DIGEST_HMAC, OHSM_UT_CU, Y},
    {OHSM_OP_DIGEST_HMAC, OHSM_UT_AU, N},     {OHSM_OP_DIGEST_HMAC, OHSM_UT_NONE, N},
};

/* Every one of the guide's 40 cells holds, and together they cover every (op, role) pair. */
static void test_perm_guide_cells(void **state)
{
    (void)state;
    bool seen[OHSM_OP_COUNT_][5] = {{false}};
    assert_int_equal(sizeof(guide) / sizeof(guide[0]), 40);
    for (size_t i = 0; i < 40; i++) {
        const struct cell *c = &guide[i];
        if (ohsm_perm_allowed(c->op, c->who) != c->allowed) {
            fail_msg("cell %s / %s: expected %s", ohsm_op_name(c->op),
                     ohsm_utype_cli_name(c->who), c->allowed ? "yes" : "no");
        }
        assert_int_equal(ohsm_perm_check(c->op, c->who) == OHSM_OK, c->allowed);
        assert_false(seen[c->op][c->who]);
        seen[c->op][c->who] = true;
    }
}

/* The unactivated admin may only read cluster info and change its own password. */
static void test_perm_preco_column(void **state)
{
    (void)state;
    for (int op = 0; op < OHSM_OP_COUNT_; op++) {
        bool want = op == OHSM_OP_CLUSTER_INFO || op == OHSM_OP_CHANGE_OWN_PW;
        assert_int_equal(ohsm_perm_allowed((enum ohsm_op)op, OHSM_UT_PRECO), want);
        if (!want) {
            assert_int_equal(ohsm_perm_check((enum ohsm_op)op, OHSM_UT_PRECO), OHSM_NOT_ACTIVATED);
        }
    }
}

/* A refusal says why: not logged in, not activated, or not this role's right. */
static void test_perm_check_reasons(void **state)
{
    (void)state;
    assert_int_equal(ohsm_perm_check(OHSM_OP_MANAGE_USERS, OHSM_UT_NONE), OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(ohsm_perm_check(OHSM_OP_MANAGE_USERS, OHSM_UT_CU), OHSM_ACCESS_DENIED);
    assert_int_equal(ohsm_perm_check(OHSM_OP_KEY_MGMT, OHSM_UT_CO), OHSM_ACCESS_DENIED);
    assert_int_equal(ohsm_perm_check(OHSM_OP_KEY_MGMT, OHSM_UT_CU), OHSM_OK);
}

/* Out-of-range operations and user types are refused, never read out of bounds. */
static void test_perm_out_of_range(void **state)
{
    (void)state;
    assert_false(ohsm_perm_allowed(OHSM_OP_COUNT_, OHSM_UT_CO));
    assert_false(ohsm_perm_allowed((enum ohsm_op)-1, OHSM_UT_CO));
    assert_false(ohsm_perm_allowed(OHSM_OP_CLUSTER_INFO, (enum ohsm_utype)5));
    assert_false(ohsm_perm_allowed(OHSM_OP_CLUSTER_INFO, (enum ohsm_utype)-1));
    assert_string_equal(ohsm_op_name(OHSM_OP_COUNT_), "unknown operation");
    assert_string_equal(ohsm_op_name(OHSM_OP_MANAGE_USERS), "add, remove users");
}

/* Our key-metadata row (not the guide's): admin, CU and AU yes; unauthenticated and PRECO no. */
static void test_perm_key_info_row(void **state)
{
    (void)state;
    assert_true(ohsm_perm_allowed(OHSM_OP_KEY_INFO, OHSM_UT_CO));
    assert_true(ohsm_perm_allowed(OHSM_OP_KEY_INFO, OHSM_UT_CU));
    assert_true(ohsm_perm_allowed(OHSM_OP_KEY_INFO, OHSM_UT_AU));
    assert_false(ohsm_perm_allowed(OHSM_OP_KEY_INFO, OHSM_UT_NONE));
    assert_int_equal(ohsm_perm_check(OHSM_OP_KEY_INFO, OHSM_UT_NONE), OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(ohsm_perm_check(OHSM_OP_KEY_INFO, OHSM_UT_PRECO), OHSM_NOT_ACTIVATED);
    assert_string_equal(ohsm_op_name(OHSM_OP_KEY_INFO), "view key metadata");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perm_out_of_range),
        cmocka_unit_test(test_perm_guide_cells),
        cmocka_unit_test(test_perm_preco_column),
        cmocka_unit_test(test_perm_check_reasons),
        cmocka_unit_test(test_perm_key_info_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
