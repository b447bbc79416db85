/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for approveToken's approval file (src/cmu/apfile.c): the guide's example parses to
 * its token path and approvers; every malformed shape (no token path, counts that disagree,
 * approvers out of order or incomplete, bad types and names, over-long lines, NUL bytes) is
 * refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmu/apfile.h"

static struct ohsm_cmu_apfile f;
static char why[256];

static bool parse(const char *s)
{
    why[0] = '\0';
    return ohsm_cmu_apfile_parse(s, strlen(s), &f, why, sizeof(why));
}

/* The guide's file: comments, an empty Token File Path, two CO approvers. */
static void test_cmu_apfile_guide_example(void **state)
{
    (void)state;
    assert_true(parse("# For \"Multi Token File Path\", type the path\n"
                      "Multi Token File Path = officer1.token;\n"
                      "Token File Path = ;\n\n"
                      "# Total number of approvals\n"
                      "Number of Approvals = 2;\n\n"
                      "# Approver 1\n"
                      "Approver Type = 2; # 2 for CO, 1 for CU\n"
                      "Approver Name = officer1;\n"
                      "Approval File = officer1.token.sig1;\n\n"
                      "Approver Type = 2; # 2 for CO, 1 for CU\r\n"
                      "Approver Name = Officer2;\n"
                      "Approval File = officer1.token.sig2;"));
    assert_string_equal(f.token_path, "officer1.token");
    assert_int_equal(f.n, 2);
    assert_string_equal(f.name[0], "officer1");
    assert_string_equal(f.name[1], "officer2"); /* names are not case-sensitive */
    assert_string_equal(f.sig_path[0], "officer1.token.sig1");
    assert_string_equal(f.sig_path[1], "officer1.token.sig2");
}

/* Token File Path serves when Multi Token File Path is empty; neither is an error. */
static void test_cmu_apfile_token_path(void **state)
{
    (void)state;
    assert_true(parse("Token File Path = t;\nNumber of Approvals = 1;\nApprover Type = 1;\n"
                      "Approver Name = u;\nApproval File = s;\n"));
    assert_string_equal(f.token_path, "t");
    assert_false(parse("Number of Approvals = 1;\nApprover Type = 1;\nApprover Name = u;\n"
                       "Approval File = s;\n"));
    assert_non_null(strstr(why, "Token File Path"));
    assert_false(parse(""));
}

/* Counts must match and be 1..32; approvers come whole and in order. */
static void test_cmu_apfile_counts_and_order(void **state)
{
    (void)state;
    const char *head = "Multi Token File Path = t;\n";
    char buf[512];
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 2;\nApprover Type = 2;\n"
                                     "Approver Name = a;\nApproval File = s;\n", head);
    assert_false(parse(buf));
    assert_non_null(strstr(why, "Number of Approvals is 2 but 1"));
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 0;\n", head);
    assert_false(parse(buf));
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 33;\n", head);
    assert_false(parse(buf));
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 1x;\n", head);
    assert_false(parse(buf));
    (void)snprintf(buf, sizeof(buf), "%sApprover Type = 2;\nApprover Name = a;\nApproval File = s;\n",
                   head);
    assert_false(parse(buf)); /* no Number of Approvals */
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 1;\nApprover Name = a;\n", head);
    assert_false(parse(buf)); /* name before type */
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 1;\nApproval File = s;\n", head);
    assert_false(parse(buf)); /* file before name */
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 1;\nApprover Type = 2;\n"
                                     "Approver Type = 2;\n", head);
    assert_false(parse(buf)); /* a second type before the first approver's file */
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 1;\nApprover Type = 2;\n"
                                     "Approver Name = a;\n", head);
    assert_false(parse(buf));
    assert_non_null(strstr(why, "no Approval File"));
    (void)snprintf(buf, sizeof(buf), "%sNumber of Approvals = 1;\nApprover Type = 2;\n"
                                     "Approver Name = a;\nApproval File = ;\n", head);
    assert_false(parse(buf));
}

/* Approver types are 1 or 2; names follow the user-name rules. */
static void test_cmu_apfile_types_and_names(void **state)
{
    (void)state;
    assert_false(parse("Multi Token File Path = t;\nNumber of Approvals = 1;\nApprover Type = 3;\n"
                       "Approver Name = a;\nApproval File = s;\n"));
    assert_non_null(strstr(why, "Approver Type must be"));
    assert_false(parse("Multi Token File Path = t;\nNumber of Approvals = 1;\nApprover Type = 2;\n"
                       "Approver Name = a-b;\nApproval File = s;\n"));
    assert_false(parse("Multi Token File Path = t;\nNumber of Approvals = 1;\nApprover Type = 2;\n"
                       "Approver Name = abcdefghijklmnopqrstuvwxyz0123456;\nApproval File = s;\n"));
}

/* Over-long lines and values and NUL bytes are refused, not cut. */
static void test_cmu_apfile_bounds(void **state)
{
    (void)state;
    size_t n = OHSM_CMU_APFILE_LINE + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    memcpy(big, "Token File Path = ", 18);
    big[n] = '\0';
    assert_false(parse(big));
    assert_non_null(strstr(why, "longer than"));
    /* A value just over the field size on a line that fits. */
    memset(big, 'a', n);
    memcpy(big, "Token File Path = ", 18);
    big[18 + OHSM_CMU_APFILE_FIELD] = '\0';
    assert_false(parse(big));
    assert_non_null(strstr(why, "too long"));
    free(big);
    static const char nul[] = "Token File Path = t\0;\n";
    why[0] = '\0';
    assert_false(ohsm_cmu_apfile_parse(nul, sizeof(nul) - 1, &f, why, sizeof(why)));
    assert_non_null(strstr(why, "NUL"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmu_apfile_guide_example),
        cmocka_unit_test(test_cmu_apfile_token_path),
        cmocka_unit_test(test_cmu_apfile_counts_and_order),
        cmocka_unit_test(test_cmu_apfile_types_and_names),
        cmocka_unit_test(test_cmu_apfile_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
