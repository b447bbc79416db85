/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-kmu's shell habits (src/kmu/complete.c) on a table shaped as cmds.c's
 * rows: the history rule refuses any line in which a word names a flag some command declares
 * secret (loginHSM's -p, in any case) and lines naming no command; Tab offers command names, then
 * the command's flags not yet given (-p and -hpswd are alternatives), and nothing where a flag's
 * value is due.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kmu/complete.h"
#include "offered.h"

static const struct ohsm_kmu_cmd rows[] = {
    {"genSymKey",
     {{"t", OHSM_KMU_V_UINT, "<key type>", true, 0, 0, 100},
      {"s", OHSM_KMU_V_UINT, "<key size>", true, 0, 1, 64},
      {"l", OHSM_KMU_V_TEXT, "<label>", true, 0, 0, 0},
      {"nex", OHSM_KMU_V_SWITCH, "", false, 0, 0, 0}},
     NULL, "", NULL},
    {"listUsers", {{0}}, NULL, "", NULL},
    {"loginHSM",
     {{"u", OHSM_KMU_V_TEXT, "<user type>", true, 0, 0, 8},
      {"s", OHSM_KMU_V_TEXT, "<username>", true, 0, 0, 64},
      {"p", OHSM_KMU_V_SECRET, "<password>", false, 'p', 0, 64},
      {"hpswd", OHSM_KMU_V_SWITCH, "", false, 'p', 0, 0}},
     NULL, "", NULL},
};
static const struct ohsm_kmu_table T = {rows, sizeof(rows) / sizeof(rows[0])};

static bool offered(const char *before, const char *word)
{
    return ohsm_test_offered(ohsm_kmu_complete, &T, before, word);
}

/* Plain commands are kept, a -hpswd login too (it carries no password). */
static void test_kmu_history_keeps_plain_lines(void **state)
{
    (void)state;
    assert_true(ohsm_kmu_hist_keep(&T, "listUsers"));
    assert_true(ohsm_kmu_hist_keep(&T, "genSymKey -t 31 -s 32 -l k"));
    assert_true(ohsm_kmu_hist_keep(&T, "loginHSM -u CU -s alice -hpswd"));
}

/* A secret flag anywhere on the line keeps it out. */
static void test_kmu_history_refuses_secrets(void **state)
{
    (void)state;
    assert_false(ohsm_kmu_hist_keep(&T, "loginHSM -u CU -s alice -p s3cretpw"));
    assert_false(ohsm_kmu_hist_keep(&T, "loginhsm -u CU -s alice -P s3cretpw"));
    assert_false(ohsm_kmu_hist_keep(&T, "genSymKey -t 31 -p s3cretpw"));
    assert_false(ohsm_kmu_hist_keep(&T, "logniHSM -u CU -s alice"));
    assert_false(ohsm_kmu_hist_keep(&T, ""));
}

/* Tab offers command names, then flags not yet given. */
static void test_kmu_history_completes(void **state)
{
    (void)state;
    assert_true(offered("", "genSymKey"));
    assert_true(offered("genSymKey ", "-t"));
    assert_true(offered("genSymKey ", "-nex"));
    assert_false(offered("genSymKey -t 31 ", "-t"));
    assert_true(offered("genSymKey -t 31 ", "-s"));
    assert_false(offered("genSymKey -t ", "-s")); /* -t's value is due */
    assert_true(offered("genSymKey -nex ", "-s")); /* a switch takes no value */
    assert_true(offered("loginHSM ", "-hpswd"));
    assert_false(offered("loginHSM -hpswd ", "-p"));
    assert_false(offered("nosuch ", "-t"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmu_history_keeps_plain_lines),
        cmocka_unit_test(test_kmu_history_refuses_secrets),
        cmocka_unit_test(test_kmu_history_completes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
