/* SPDX-License-Identifier: Apache-2.0
 *
 * Token files of the CLI (src/cli/tokfile.c). Being written (issue 5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/tokfile.h"

static void test_placeholder(void **state)
{
    (void)state;
    assert_true(OHSM_TOKFILE_MAX > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_placeholder)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
