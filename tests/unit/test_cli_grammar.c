/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-cli's generic command-line parser and shell-line splitter (src/cli/
 * grammar.c, lex.c), against a small grammar of their own: command resolution, named options,
 * flags, repeated and multi-valued options, required options, allowed values, one-of groups,
 * numbers, subcommands after their parent's options, global options anywhere, help requests, and
 * the refusals (unknown, duplicate, missing value, stray words), with secret values never echoed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "cli/grammar.h"

static void nop(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a, struct ohsm_cli_out *out)
{
    (void)ctx;
    (void)a;
    (void)out;
}

static const struct ohsm_cli_choice colors[] = {{"red", "r"}, {"blue", "b"}, {NULL, NULL}};

static const struct ohsm_cli_opt make_opts[] = {
    {"name", '\0', "NAME", OHSM_CLI_O_REQUIRED, NULL, "name"},
    {"color", '\0', "COLOR", 0, colors, "color"},
    {"secret", '\0', "SECRET", OHSM_CLI_O_SECRET, NULL, "secret"},
    {"verbose", 'v', NULL, OHSM_CLI_O_FLAG, NULL, "verbose"},
    {"tag", '\0', "TAG", OHSM_CLI_O_REPEAT, NULL, "tag"},
    {"attrs", '\0', "K=V", OHSM_CLI_O_MULTI, NULL, "attributes"},
    {NULL, '\0', NULL, 0, NULL, NULL},
};

static const struct ohsm_cli_opt mfa_opts[] = {
    {"name", '\0', "NAME", OHSM_CLI_O_REQUIRED, NULL, "name"},
    {"token", '\0', "TOKEN", OHSM_CLI_O_ONE_OF, NULL, "token"},
    {"deregister", '\0', NULL, OHSM_CLI_O_FLAG | OHSM_CLI_O_ONE_OF, NULL, "deregister"},
    {"value", '\0', "VALUE", OHSM_CLI_O_NUMBER, NULL, "value"},
    {NULL, '\0', NULL, 0, NULL, NULL},
};

static const struct ohsm_cli_opt sign_opts[] = {
    {"user", '\0', "USER", OHSM_CLI_O_REQUIRED, NULL, "user"},
    {"level", '\0', "LEVEL", 0, colors, "level"},
    {"quiet", 'q', NULL, OHSM_CLI_O_FLAG, NULL, "quiet"},
    {NULL, '\0', NULL, 0, NULL, NULL},
};

/* The subcommand takes its parent's options but --quiet, and --level as a number. */
static const struct ohsm_cli_opt sign_sub_opts[] = {
    {"user", '\0', "USER", OHSM_CLI_O_REQUIRED, NULL, "user"},
    {"token", '\0', "TOKEN", OHSM_CLI_O_REQUIRED, NULL, "token"},
    {"level", '\0', "LEVEL", OHSM_CLI_O_NUMBER, NULL, "level"},
    {NULL, '\0', NULL, 0, NULL, NULL},
};

static const struct ohsm_cli_opt global[] = {
    {"config", '\0', "PATH", 0, NULL, "config"},
    {NULL, '\0', NULL, 0, NULL, NULL},
};

static const struct ohsm_cli_cmd cmds[] = {
    {"thing", "things", NULL, NULL, NULL, 0, OHSM_OP_COUNT_, NULL},
    {"thing make", "make a thing", NULL, make_opts, NULL, 0, OHSM_OP_COUNT_, nop},
    {"thing list", "list things", NULL, NULL, NULL, 0, OHSM_OP_COUNT_, nop},
    {"login", "log in", NULL, NULL, NULL, 0, OHSM_OP_COUNT_, nop},
    {"login extra", "log in more", NULL, NULL, NULL, 0, OHSM_OP_COUNT_, nop},
    {"help", "help", NULL, NULL, "COMMAND", 0, OHSM_OP_COUNT_, nop},
    {"mfa", "one of two", NULL, mfa_opts, NULL, 0, OHSM_OP_COUNT_, nop},
    {"sign", "sign", NULL, sign_opts, NULL, 0, OHSM_OP_COUNT_, nop},
    {"sign token", "sign with a token", NULL, sign_sub_opts, NULL, 0, OHSM_OP_COUNT_, nop},
};

static const struct ohsm_cli_grammar g = {"prog", "test", cmds, sizeof(cmds) / sizeof(cmds[0]),
                                          global};

/* Parses a space-separated line (no quoting) into a, keeping the token copy in buf. */
static ohsm_rv parse(const char *line, struct ohsm_cli_args *a, char *buf, size_t cap, char *err,
                     size_t errcap)
{
    char *tok[32];
    size_t n = 0;
    snprintf(buf, cap, "%s", line);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        tok[n++] = t;
    }
    return ohsm_cli_parse(&g, tok, n, a, err, errcap);
}

#define PARSE(line) parse((line), &a, buf, sizeof(buf), err, sizeof(err))

/* A full command with required and optional options resolves and exposes values. */
static void test_cli_grammar_basic(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing make --name x --color red -v"), OHSM_OK);
    assert_non_null(a.cmd);
    assert_string_equal(a.cmd->path, "thing make");
    assert_string_equal(ohsm_cli_arg(&a, "name"), "x");
    assert_string_equal(ohsm_cli_arg(&a, "color"), "red");
    assert_true(ohsm_cli_flag(&a, "verbose"));
    assert_false(ohsm_cli_flag(&a, "secret"));
    assert_null(ohsm_cli_arg(&a, "secret"));
    assert_false(a.help);
}

/* --name=value works like --name value. */
static void test_cli_grammar_inline_value(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing make --name=a=b"), OHSM_OK);
    assert_string_equal(ohsm_cli_arg(&a, "name"), "a=b");
    assert_int_equal(PARSE("thing make --name="), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "--name"));
    assert_int_equal(PARSE("thing make --name x --verbose=1"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "takes no value"));
}

/* A missing required option is refused and named. */
static void test_cli_grammar_required(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing make --color red"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "missing required option '--name <NAME>'"));
}

/* An option given twice is refused unless it may repeat. */
static void test_cli_grammar_duplicate(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    const char *v[4];
    assert_int_equal(PARSE("thing make --name x --name y"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "'--name' given more than once"));
    assert_int_equal(PARSE("thing make --name x -v --verbose"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(PARSE("thing make --name x --tag a --tag b"), OHSM_OK);
    assert_int_equal(ohsm_cli_arg_values(&a, "tag", v, 4), 2);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b");
}

/* A multi-valued option takes words up to the next option. */
static void test_cli_grammar_multi(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    const char *v[4];
    assert_int_equal(PARSE("thing make --attrs a=1 b=2 c=3 --name x"), OHSM_OK);
    assert_int_equal(ohsm_cli_arg_values(&a, "attrs", v, 4), 3);
    assert_string_equal(v[2], "c=3");
    assert_string_equal(ohsm_cli_arg(&a, "name"), "x");
    assert_int_equal(ohsm_cli_arg_values(&a, "attrs", v, 1), 3); /* count beyond cap */
}

/* A value option at the end, or followed by another long option, lacks its value. */
static void test_cli_grammar_missing_value(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing make --name"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "'--name' needs a value <NAME>"));
    assert_int_equal(PARSE("thing make --name --color red"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "'--name' needs a value"));
    /* A single-dash value (e.g. a password) is a value. */
    assert_int_equal(PARSE("thing make --name -x"), OHSM_OK);
    assert_string_equal(ohsm_cli_arg(&a, "name"), "-x");
}

/* Values outside the allowed set are refused with the allowed values listed. */
static void test_cli_grammar_choices(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing make --name x --color green"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "invalid value 'green' for '--color'"));
    assert_non_null(strstr(err, "red, blue"));
}

/* Unknown options, commands and subcommands are refused; an unknown "--x=v" is not echoed. */
static void test_cli_grammar_unknown(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing make --name x --bogus 1"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "unexpected option '--bogus'"));
    assert_int_equal(PARSE("thing make --name x --pasword=hunter22"), OHSM_ARGUMENTS_BAD);
    assert_null(strstr(err, "hunter22"));
    assert_int_equal(PARSE("nothing"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "unrecognized command 'nothing'"));
    assert_int_equal(PARSE("thing frob"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "unrecognized subcommand 'frob' for 'thing'"));
    assert_non_null(strstr(err, "make, list"));
    /* The option of one command is unknown to another. */
    assert_int_equal(PARSE("thing list --name x"), OHSM_ARGUMENTS_BAD);
}

/* A group alone, or nothing at all, needs a subcommand. */
static void test_cli_grammar_group(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "'thing' needs a subcommand (one of: make, list)"));
    assert_int_equal(PARSE(""), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "no command given"));
}

/* Stray words are refused unless the row takes positional words. */
static void test_cli_grammar_positional(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing list extra"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "unexpected argument 'extra' for 'thing list'"));
    assert_int_equal(PARSE("help thing make"), OHSM_OK);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[1], "make");
    /* A word after a secret's value may be part of the secret: it is not echoed. */
    assert_int_equal(PARSE("thing make --name x --secret pass word"), OHSM_ARGUMENTS_BAD);
    assert_null(strstr(err, "word"));
    assert_non_null(strstr(err, "after '--secret'"));
}

/* A row can be both a command and the parent of another ("login" / "login extra"). */
static void test_cli_grammar_leaf_and_parent(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("login"), OHSM_OK);
    assert_string_equal(a.cmd->path, "login");
    assert_int_equal(PARSE("login extra"), OHSM_OK);
    assert_string_equal(a.cmd->path, "login extra");
}

/* Global options are accepted before, between and after the command words. */
static void test_cli_grammar_global(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("--config c thing list"), OHSM_OK);
    assert_string_equal(ohsm_cli_arg(&a, "config"), "c");
    assert_int_equal(PARSE("thing --config c list"), OHSM_OK);
    assert_string_equal(a.cmd->path, "thing list");
    assert_int_equal(PARSE("thing list --config c"), OHSM_OK);
    assert_int_equal(PARSE("thing list --config c --config d"), OHSM_ARGUMENTS_BAD);
}

/* -h/--help anywhere asks for help and skips required-option checks. */
static void test_cli_grammar_help(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing make --help"), OHSM_OK);
    assert_true(a.help);
    assert_string_equal(a.cmd->path, "thing make");
    assert_int_equal(PARSE("thing -h"), OHSM_OK);
    assert_true(a.help);
    assert_int_equal(a.nwords, 1);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_true(ohsm_cli_help(f, &g, a.words, a.nwords, err, sizeof(err)));
    const char *none[] = {"nope"};
    assert_false(ohsm_cli_help(f, &g, none, 1, err, sizeof(err)));
    fclose(f);
}

/* The usage line lists required options, then optional valued ones, from the table. */
static void test_cli_grammar_usage(void **state)
{
    (void)state;
    char buf[256];
    assert_true(ohsm_cli_usage_line(&g, &cmds[1], buf, sizeof(buf)));
    assert_string_equal(buf, "prog thing make [OPTIONS] --name <NAME> [--color <COLOR>] "
                             "[--secret <SECRET>] [--tag <TAG>] [--attrs <K=V>...]");
    assert_false(ohsm_cli_usage_line(&g, &cmds[1], buf, 20));
}

/* Secret values are wiped in place; others are left. */
static void test_cli_grammar_wipe(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("thing make --name x --secret hunter22"), OHSM_OK);
    char *s = ohsm_cli_arg(&a, "secret");
    ohsm_cli_args_wipe(&a);
    assert_int_equal(s[0], 0);
    assert_string_equal(ohsm_cli_arg(&a, "name"), "x");
}

/* Exactly one option of a ONE_OF group: neither or both are refused, each alone is fine. */
static void test_cli_grammar_one_of(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("mfa --name x --token f"), OHSM_OK);
    assert_string_equal(ohsm_cli_arg(&a, "token"), "f");
    assert_int_equal(PARSE("mfa --deregister --name x"), OHSM_OK);
    assert_true(ohsm_cli_flag(&a, "deregister"));
    assert_int_equal(PARSE("mfa --name x"), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err, "'mfa' needs one of '--token' or '--deregister'");
    assert_int_equal(PARSE("mfa --name x --token f --deregister"), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err, "options '--token' and '--deregister' cannot be used together");
    assert_int_equal(PARSE("mfa --deregister --token f --name x"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "cannot be used together"));
    /* Required options are checked first; help needs neither. */
    assert_int_equal(PARSE("mfa --token f"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "missing required option '--name <NAME>'"));
    assert_int_equal(PARSE("mfa --help"), OHSM_OK);
    assert_true(a.help);
}

/* A NUMBER option takes 1 to 19 decimal digits and nothing else. */
static void test_cli_grammar_number(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("mfa --name x --token f --value 2"), OHSM_OK);
    assert_string_equal(ohsm_cli_arg(&a, "value"), "2");
    assert_int_equal(PARSE("mfa --name x --token f --value 0009999999999999999"), OHSM_OK);
    const char *bad[] = {"two", "2x", "-1", "+1", "0x10", "1.5", "12345678901234567890"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "mfa --name x --token f --value %s", bad[i]);
        assert_int_equal(PARSE(line), OHSM_ARGUMENTS_BAD);
        assert_non_null(strstr(err, "for '--value': expected a number"));
    }
    assert_int_equal(PARSE("mfa --name x --token f --value="), OHSM_ARGUMENTS_BAD);
}

/* A subcommand may follow its parent's options when it declares them too ("login --username U
 * --role R mfa-token-sign --token F"); the values then belong to the subcommand's options. */
static void test_cli_grammar_sub_after_options(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char buf[256], err[256];
    assert_int_equal(PARSE("sign --user u"), OHSM_OK);
    assert_string_equal(a.cmd->path, "sign");
    assert_int_equal(PARSE("sign --user u token --token t"), OHSM_OK);
    assert_string_equal(a.cmd->path, "sign token");
    assert_string_equal(ohsm_cli_arg(&a, "user"), "u");
    assert_string_equal(ohsm_cli_arg(&a, "token"), "t");
    assert_ptr_equal(a.kv[0].opt, &sign_sub_opts[0]);
    assert_int_equal(PARSE("sign --config c --user=u token --token t"), OHSM_OK);
    assert_string_equal(ohsm_cli_arg(&a, "config"), "c");
    assert_string_equal(a.cmd->path, "sign token");
    /* The usual order works too. */
    assert_int_equal(PARSE("sign token --user u --token t"), OHSM_OK);
    /* An option the subcommand lacks, or a value its option refuses, is refused. */
    assert_int_equal(PARSE("sign --user u -q token --token t"), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err, "unexpected option '--quiet' for 'sign token'");
    assert_int_equal(PARSE("sign --user u --level red token --token t"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "expected a number"));
    /* The subcommand's required options still apply. */
    assert_int_equal(PARSE("sign --user u token"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "missing required option '--token <TOKEN>' for 'sign token'"));
    /* Any other word after options stays an error. */
    assert_int_equal(PARSE("sign --user u other"), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "unexpected argument 'other' for 'sign'"));
}

/* The usage line shows a ONE_OF group as <--a <A>|--b>, after the required options. */
static void test_cli_grammar_usage_one_of(void **state)
{
    (void)state;
    char buf[256];
    const char *w[] = {"mfa"};
    assert_true(ohsm_cli_usage_line(&g, ohsm_cli_find(&g, w, 1), buf, sizeof(buf)));
    assert_string_equal(buf, "prog mfa [OPTIONS] --name <NAME> <--token <TOKEN>|--deregister> "
                             "[--value <VALUE>]");
}

/* Too many options overflow cleanly. */
static void test_cli_grammar_too_many(void **state)
{
    (void)state;
    struct ohsm_cli_args a;
    char err[256];
    char *tok[OHSM_CLI_MAX_KV * 2 + 8];
    size_t n = 0;
    char name[] = "x";
    char t1[] = "thing", t2[] = "make", o[] = "--tag", on[] = "--name";
    tok[n++] = t1;
    tok[n++] = t2;
    tok[n++] = on;
    tok[n++] = name;
    for (int i = 0; i < OHSM_CLI_MAX_KV; i++) {
        tok[n++] = o;
        tok[n++] = name;
    }
    assert_int_equal(ohsm_cli_parse(&g, tok, n, &a, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "too many options"));
}

/* Error messages that do not fit are cut with "...". */
static void test_cli_grammar_fmt_truncation(void **state)
{
    (void)state;
    char b[8];
    assert_true(ohsm_cli_fmt(b, sizeof(b), "%s", "abc"));
    assert_false(ohsm_cli_fmt(b, sizeof(b), "%s", "abcdefghij"));
    assert_string_equal(b, "abcd...");
}

/* Blanks split words; quotes and backslashes keep blanks; output is in place. */
static void test_cli_grammar_split(void **state)
{
    (void)state;
    char line[] = "  login --password 'a b'\"c \\\" d\" e\\ f \"\"  ";
    char *argv[8];
    size_t n;
    char err[64];
    assert_int_equal(ohsm_cli_split(line, argv, 8, &n, err, sizeof(err)), OHSM_OK);
    assert_int_equal(n, 5);
    assert_string_equal(argv[0], "login");
    assert_string_equal(argv[1], "--password");
    assert_string_equal(argv[2], "a bc \" d");
    assert_string_equal(argv[3], "e f");
    assert_string_equal(argv[4], "");
}

/* Unterminated quotes, a trailing backslash and too many words are refused. */
static void test_cli_grammar_split_errors(void **state)
{
    (void)state;
    char *argv[2];
    size_t n;
    char err[64];
    char l1[] = "a 'b";
    char l2[] = "a \"b";
    char l3[] = "a b\\";
    char l4[] = "a b c";
    char l5[] = "   ";
    assert_int_equal(ohsm_cli_split(l1, argv, 2, &n, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "unterminated single quote"));
    assert_int_equal(ohsm_cli_split(l2, argv, 2, &n, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_cli_split(l3, argv, 2, &n, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(err, "trailing backslash"));
    assert_int_equal(ohsm_cli_split(l4, argv, 2, &n, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_cli_split(l5, argv, 2, &n, err, sizeof(err)), OHSM_OK);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_grammar_basic),
        cmocka_unit_test(test_cli_grammar_inline_value),
        cmocka_unit_test(test_cli_grammar_required),
        cmocka_unit_test(test_cli_grammar_duplicate),
        cmocka_unit_test(test_cli_grammar_multi),
        cmocka_unit_test(test_cli_grammar_missing_value),
        cmocka_unit_test(test_cli_grammar_choices),
        cmocka_unit_test(test_cli_grammar_unknown),
        cmocka_unit_test(test_cli_grammar_group),
        cmocka_unit_test(test_cli_grammar_positional),
        cmocka_unit_test(test_cli_grammar_leaf_and_parent),
        cmocka_unit_test(test_cli_grammar_global),
        cmocka_unit_test(test_cli_grammar_help),
        cmocka_unit_test(test_cli_grammar_usage),
        cmocka_unit_test(test_cli_grammar_wipe),
        cmocka_unit_test(test_cli_grammar_one_of),
        cmocka_unit_test(test_cli_grammar_number),
        cmocka_unit_test(test_cli_grammar_sub_after_options),
        cmocka_unit_test(test_cli_grammar_usage_one_of),
        cmocka_unit_test(test_cli_grammar_too_many),
        cmocka_unit_test(test_cli_grammar_fmt_truncation),
        cmocka_unit_test(test_cli_grammar_split),
        cmocka_unit_test(test_cli_grammar_split_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
