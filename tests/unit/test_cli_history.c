/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-cli's shell habits (src/cli/complete.c) against the real grammar table:
 * the history rule keeps plain command lines and refuses every line that names an option the
 * grammar marks secret (--password, --password=..., --change-password, --data), a line that
 * does not split or parse, and an empty one; Tab offers the next command words, the resolved
 * command's option names (not the ones already given) and an option's allowed values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/complete.h"
#include "offered.h"

static const struct ohsm_cli_grammar *G = &ohsm_cli_grammar;

static bool offered(const char *before, const char *word)
{
    return ohsm_test_offered(ohsm_cli_complete, G, before, word);
}

/* Harmless commands are kept. */
static void test_cli_history_keeps_plain_lines(void **state)
{
    (void)state;
    assert_true(ohsm_cli_hist_keep(G, "user list"));
    assert_true(ohsm_cli_hist_keep(G, "login --username alice --role crypto-user"));
    assert_true(ohsm_cli_hist_keep(G, "key list --verbose"));
    assert_true(ohsm_cli_hist_keep(G, "help user"));
}

/* A line naming a secret option in any form is never kept. */
static void test_cli_history_refuses_secrets(void **state)
{
    (void)state;
    assert_false(ohsm_cli_hist_keep(G, "login --username alice --role crypto-user --password p4ss"
                                       "word"));
    assert_false(ohsm_cli_hist_keep(G, "login --username alice --role crypto-user "
                                       "--password=p4ssword"));
    assert_false(ohsm_cli_hist_keep(G, "user create --username bob --role crypto-user "
                                       "--password 'a b c d e f'"));
    assert_false(ohsm_cli_hist_keep(G, "user change-password --username bob --role crypto-user "
                                       "--password x1234567"));
    /* Refused even where the command is wrong: the option name alone decides. */
    assert_false(ohsm_cli_hist_keep(G, "user list --password p4ssword"));
    assert_false(ohsm_cli_hist_keep(G, "nosuch --password p4ssword"));
}

/* Lines that cannot be vetted (no split, no parse, nothing) are not kept. */
static void test_cli_history_refuses_unvetted(void **state)
{
    (void)state;
    assert_false(ohsm_cli_hist_keep(G, ""));
    assert_false(ohsm_cli_hist_keep(G, "   "));
    assert_false(ohsm_cli_hist_keep(G, "login --username 'alice"));
    assert_false(ohsm_cli_hist_keep(G, "lgoin --username alice --pasword p4ssword"));
    assert_false(ohsm_cli_hist_keep(G, "login --username alice --role crypto-user --pasword x"));
}

/* Tab offers command words, then subcommands from the table. */
static void test_cli_history_completes_commands(void **state)
{
    (void)state;
    assert_true(offered("", "user"));
    assert_true(offered("", "key"));
    assert_true(offered("", "login"));
    assert_true(offered("user ", "list"));
    assert_true(offered("user ", "create"));
    assert_false(offered("user ", "user"));
    assert_true(offered("  key ", "generate-symmetric"));
    assert_false(offered("nosuch ", "list"));
}

/* Tab offers the command's options not yet given, and an option's allowed values. */
static void test_cli_history_completes_options(void **state)
{
    (void)state;
    assert_true(offered("login ", "--username"));
    assert_true(offered("login ", "--password"));
    assert_true(offered("login --username alice ", "--role"));
    assert_false(offered("login --username alice ", "--username"));
    assert_true(offered("login --role ", "crypto-user"));
    assert_true(offered("login --role ", "admin"));
    assert_false(offered("login --username ", "--role")); /* the cursor is at a value */
    assert_false(offered("user ", "--username"));         /* a group takes no options */
    assert_false(offered("login --username 'al", "--role")); /* inside a quote */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_history_keeps_plain_lines),
        cmocka_unit_test(test_cli_history_refuses_secrets),
        cmocka_unit_test(test_cli_history_refuses_unvetted),
        cmocka_unit_test(test_cli_history_completes_commands),
        cmocka_unit_test(test_cli_history_completes_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
