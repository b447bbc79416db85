/* SPDX-License-Identifier: Apache-2.0
 * openhsmd's command line: number parsing at its edges, then whole command lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cloud/args.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static enum ohsm_args_result parse(int argc, char **argv, struct ohsm_args *a, char *err)
{
    memset(a, 0xa5, sizeof(*a));
    return ohsm_args_parse(argc, argv, a, err, 256);
}

/* Empty, signs, spaces, suffixes, hex and NULL are garbage; *out is left alone. */
static void test_args_uint_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"", " 1", "1 ", "+1", "-1", "-0", "1x", "0x10", "1.0", "abc", "1e3", "٣"};
    uint64_t v = 77;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ohsm_args_uint(bad[i], 0, UINT64_MAX, &v), OHSM_ARGUMENTS_BAD);
        assert_int_equal(v, 77);
    }
    assert_int_equal(ohsm_args_uint(NULL, 0, 10, &v), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_args_uint("1", 0, 10, NULL), OHSM_ARGUMENTS_BAD);
}

/* Overflow past 2^64-1 is a range error, not a wrapped or clamped value. */
static void test_args_uint_overflow(void **state)
{
    (void)state;
    uint64_t v = 77;
    assert_int_equal(ohsm_args_uint("18446744073709551615", 0, UINT64_MAX, &v), OHSM_OK);
    assert_true(v == UINT64_MAX);
    v = 77;
    assert_int_equal(ohsm_args_uint("18446744073709551616", 0, UINT64_MAX, &v),
                     OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_args_uint("99999999999999999999999", 0, UINT64_MAX, &v),
                     OHSM_DATA_LEN_RANGE);
    assert_int_equal(v, 77);
}

/* The range is inclusive at both ends: lo-1 and hi+1 are refused, lo and hi accepted. */
static void test_args_uint_range(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(ohsm_args_uint("0", 1, 28, &v), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_args_uint("29", 1, 28, &v), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_args_uint("1", 1, 28, &v), OHSM_OK);
    assert_int_equal(v, 1);
    assert_int_equal(ohsm_args_uint("28", 1, 28, &v), OHSM_OK);
    assert_int_equal(v, 28);
    assert_int_equal(ohsm_args_uint("007", 1, 28, &v), OHSM_OK);
    assert_int_equal(v, 7);
}

/* No arguments at all, or no --data: an error naming --data. */
static void test_args_data_required(void **state)
{
    (void)state;
    struct ohsm_args a;
    char err[256];
    char *none[] = {"openhsmd"};
    assert_int_equal(parse(ARGC(none), none, &a, err), OHSM_ARGS_ERROR);
    assert_non_null(strstr(err, "--data"));
    char *only_hsms[] = {"openhsmd", "--hsms", "3"};
    assert_int_equal(parse(ARGC(only_hsms), only_hsms, &a, err), OHSM_ARGS_ERROR);
    char *empty[] = {"openhsmd", "--data="};
    assert_int_equal(parse(ARGC(empty), empty, &a, err), OHSM_ARGS_ERROR);
    char *missing[] = {"openhsmd", "--data"};
    assert_int_equal(parse(ARGC(missing), missing, &a, err), OHSM_ARGS_ERROR);
    assert_non_null(strstr(err, "needs a value"));
    char *eaten[] = {"openhsmd", "--data", "--hsms", "2"};
    assert_int_equal(parse(ARGC(eaten), eaten, &a, err), OHSM_ARGS_ERROR);
    assert_int_equal(ohsm_args_parse(0, NULL, &a, err, sizeof(err)), OHSM_ARGS_ERROR);
    assert_int_equal(ohsm_args_parse(1, none, NULL, err, sizeof(err)), OHSM_ARGS_ERROR);
}

/* Only --data: the spec's defaults (2 HSMs, lockout 5, no max-sessions, nothing "given"). */
static void test_args_defaults(void **state)
{
    (void)state;
    struct ohsm_args a;
    char err[256];
    char *argv[] = {"openhsmd", "--data", "d"};
    assert_int_equal(parse(ARGC(argv), argv, &a, err), OHSM_ARGS_RUN);
    assert_string_equal(a.data_dir, "d");
    assert_null(a.hsm_bin);
    assert_int_equal(a.hsms, 2);
    assert_int_equal(a.lockout, 5);
    assert_int_equal(a.max_sessions, 0);
    assert_false(a.exit_with_parent);
    assert_false(a.hsms_given);
    assert_false(a.lockout_given);
}

/* Every option, in both spellings, lands in its field. */
static void test_args_all_options(void **state)
{
    (void)state;
    struct ohsm_args a;
    char err[256];
    char *argv[] = {"openhsmd",
                    "--hsms=28",
                    "--data",
                    "/x/y",
                    "--lockout-attempts",
                    "100",
                    "--max-sessions=4096",
                    "--exit-with-parent",
                    "--hsm-bin",
                    "/bin/true"};
    assert_int_equal(parse(ARGC(argv), argv, &a, err), OHSM_ARGS_RUN);
    assert_string_equal(a.data_dir, "/x/y");
    assert_string_equal(a.hsm_bin, "/bin/true");
    assert_int_equal(a.hsms, 28);
    assert_int_equal(a.lockout, 100);
    assert_int_equal(a.max_sessions, 4096);
    assert_true(a.exit_with_parent);
    assert_true(a.hsms_given);
    assert_true(a.lockout_given);
}

/* Out-of-range and garbage numbers are refused with a message naming the option and value. */
static void test_args_bad_numbers(void **state)
{
    (void)state;
    struct ohsm_args a;
    char err[256];
    const char *cases[][2] = {
        {"--hsms", "0"},
        {"--hsms", "29"},
        {"--hsms", "abc"},
        {"--hsms", "-1"},
        {"--hsms", "99999999999999999999"},
        {"--lockout-attempts", "0"},
        {"--lockout-attempts", "101"},
        {"--max-sessions", "0"},
        {"--max-sessions", "4097"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = {"openhsmd", "--data", "d", (char *)cases[i][0], (char *)cases[i][1]};
        assert_int_equal(parse(ARGC(argv), argv, &a, err), OHSM_ARGS_ERROR);
        assert_non_null(strstr(err, cases[i][0]));
        if (cases[i][1][0] != '-') {
            assert_non_null(strstr(err, cases[i][1]));
        }
    }
}

/* Unknown options, prefixes of options, positionals, repeats and values on flags are errors. */
static void test_args_refusals(void **state)
{
    (void)state;
    struct ohsm_args a;
    char err[256];
    char *unknown[] = {"openhsmd", "--data", "d", "--frobnicate"};
    assert_int_equal(parse(ARGC(unknown), unknown, &a, err), OHSM_ARGS_ERROR);
    assert_non_null(strstr(err, "--frobnicate"));
    char *prefix[] = {"openhsmd", "--data", "d", "--hsm", "2"};
    assert_int_equal(parse(ARGC(prefix), prefix, &a, err), OHSM_ARGS_ERROR);
    char *single[] = {"openhsmd", "-d", "x"};
    assert_int_equal(parse(ARGC(single), single, &a, err), OHSM_ARGS_ERROR);
    char *positional[] = {"openhsmd", "--data", "d", "extra"};
    assert_int_equal(parse(ARGC(positional), positional, &a, err), OHSM_ARGS_ERROR);
    assert_non_null(strstr(err, "extra"));
    char *dashdash[] = {"openhsmd", "--data", "d", "--"};
    assert_int_equal(parse(ARGC(dashdash), dashdash, &a, err), OHSM_ARGS_ERROR);
    char *twice[] = {"openhsmd", "--data", "d", "--hsms", "1", "--hsms=2"};
    assert_int_equal(parse(ARGC(twice), twice, &a, err), OHSM_ARGS_ERROR);
    assert_non_null(strstr(err, "more than once"));
    char *flagval[] = {"openhsmd", "--data", "d", "--exit-with-parent=yes"};
    assert_int_equal(parse(ARGC(flagval), flagval, &a, err), OHSM_ARGS_ERROR);
}

/* --help and -h win wherever they appear, even with otherwise missing --data. */
static void test_args_help(void **state)
{
    (void)state;
    struct ohsm_args a;
    char err[256];
    char *h1[] = {"openhsmd", "--help"};
    char *h2[] = {"openhsmd", "--data", "d", "-h"};
    assert_int_equal(parse(ARGC(h1), h1, &a, err), OHSM_ARGS_HELP);
    assert_int_equal(parse(ARGC(h2), h2, &a, err), OHSM_ARGS_HELP);
}

/* The usage text names every option the parser accepts. */
static void test_args_usage_lists_options(void **state)
{
    (void)state;
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
    assert_non_null(f);
    ohsm_args_usage(f);
    fclose(f);
    const char *names[] = {"--data DIR",
                           "--hsms N",
                           "--lockout-attempts N",
                           "--max-sessions N",
                           "--exit-with-parent",
                           "--hsm-bin PATH",
                           "--help"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_non_null(strstr(buf, names[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_uint_garbage), cmocka_unit_test(test_args_uint_overflow),
        cmocka_unit_test(test_args_uint_range),   cmocka_unit_test(test_args_data_required),
        cmocka_unit_test(test_args_defaults),     cmocka_unit_test(test_args_all_options),
        cmocka_unit_test(test_args_bad_numbers),  cmocka_unit_test(test_args_refusals),
        cmocka_unit_test(test_args_help),         cmocka_unit_test(test_args_usage_lists_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
