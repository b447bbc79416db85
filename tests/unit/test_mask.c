/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "openhsm/mask.h"

/* Placeholder until src/core/mask.c lands: the header compiles on its own. */
static void test_mask_header(void **state)
{
    (void)state;
    assert_true(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mask_header)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
