/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-kmu's flag grammar (src/kmu/parse.c): splitting, command lookup, flags in
 * any order, switches, numbers and their ranges, handles, user id lists, hex values, unknown,
 * repeated and missing flags, exactly-one-of groups, -h, passwords never echoed, singlecmd's
 * stop-at-the-next-command, and usage lines. A small table of the tool's shape is used; nothing
 * here touches a cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kmu/parse.h"

/* clang-format off */
static const struct ohsm_kmu_cmd tab[] = {
    {"genSymKey",
     {{"t", OHSM_KMU_V_UINT, "<key type>", true, 0, 0, UINT32_MAX},
      {"s", OHSM_KMU_V_UINT, "<key size>", true, 0, 1, 65536},
      {"l", OHSM_KMU_V_TEXT, "<label>", true, 0, 0, 127},
      {"id", OHSM_KMU_V_TEXT, "<key ID>", false, 0, 0, 128},
      {"nex", OHSM_KMU_V_SWITCH, "", false, 0, 0, 0},
      {"sess", OHSM_KMU_V_SWITCH, "", false, 0, 0, 0},
      {"m_value", OHSM_KMU_V_UINT, "<0..8>", false, 0, 0, 8},
      {"u", OHSM_KMU_V_IDS, "<user-ids>", false, 0, 0, 0}},
     NULL, "gen", NULL},
    {"deleteKey", {{"k", OHSM_KMU_V_HANDLE, "<key handle>", true, 0, 0, 0}}, NULL, "del", NULL},
    {"loginHSM",
     {{"u", OHSM_KMU_V_TEXT, "<user type>", true, 0, 0, 8},
      {"s", OHSM_KMU_V_TEXT, "<username>", true, 0, 0, 64},
      {"p", OHSM_KMU_V_SECRET, "<password>", false, 'p', 0, 64},
      {"hpswd", OHSM_KMU_V_SWITCH, "", false, 'p', 0, 0}},
     NULL, "login", NULL},
    {"Error2String", {{"r", OHSM_KMU_V_HEX, "<response code>", true, 0, 0, UINT32_MAX}}, NULL,
     "e2s", NULL},
    {"exit", {{0}}, NULL, "exit", NULL},
};
/* clang-format on */
#define NTAB (sizeof(tab) / sizeof(tab[0]))

struct line {
    char buf[512];
    char *tok[OHSM_KMU_MAX_TOKENS];
    size_t n;
    struct ohsm_kmu_parsed p;
    char err[256];
    size_t used;
};

static enum ohsm_kmu_status parse(struct line *l, const char *s, bool all)
{
    (void)snprintf(l->buf, sizeof(l->buf), "%s", s);
    l->n = ohsm_kmu_split(l->buf, l->tok, OHSM_KMU_MAX_TOKENS);
    return ohsm_kmu_parse(tab, NTAB, l->tok, l->n, all, &l->p, &l->used, l->err, sizeof(l->err));
}

/* Blanks of any kind separate words; an empty line has none. */
static void test_kmu_parse_split(void **state)
{
    (void)state;
    char buf[64] = "  genSymKey\t-t 31\r\n";
    char *tok[2];
    assert_int_equal(ohsm_kmu_split(buf, tok, 2), 3); /* counts past cap */
    assert_string_equal(tok[0], "genSymKey");
    assert_string_equal(tok[1], "-t");
    char empty[8] = " \t ";
    assert_int_equal(ohsm_kmu_split(empty, tok, 2), 0);
}

/* Commands are found by exact name, then case-insensitively; nothing else matches. */
static void test_kmu_parse_find(void **state)
{
    (void)state;
    assert_ptr_equal(ohsm_kmu_find(tab, NTAB, "genSymKey"), &tab[0]);
    assert_ptr_equal(ohsm_kmu_find(tab, NTAB, "gensymkey"), &tab[0]);
    assert_null(ohsm_kmu_find(tab, NTAB, "genSym"));
    assert_null(ohsm_kmu_find(tab, NTAB, ""));
}

/* Flags in any order, switches, and values land in their slots. */
static void test_kmu_parse_flags_any_order(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "genSymKey -l aes256 -nex -s 32 -t 31 -id wrap01", true),
                     OHSM_KMU_OK);
    assert_ptr_equal(l.p.cmd, &tab[0]);
    assert_int_equal(ohsm_kmu_get(&l.p, "t")->num, 31);
    assert_int_equal(ohsm_kmu_get(&l.p, "s")->num, 32);
    assert_string_equal(ohsm_kmu_get(&l.p, "l")->text, "aes256");
    assert_string_equal(ohsm_kmu_get(&l.p, "id")->text, "wrap01");
    assert_true(ohsm_kmu_has(&l.p, "nex"));
    assert_false(ohsm_kmu_has(&l.p, "sess"));
    assert_null(ohsm_kmu_get(&l.p, "no-such-flag"));
}

/* An unknown flag is named in the error. */
static void test_kmu_parse_unknown_flag(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "genSymKey -t 31 -s 32 -l x -bogus", true), OHSM_KMU_BAD);
    assert_non_null(strstr(l.err, "Unknown flag -bogus"));
    assert_ptr_equal(l.p.cmd, &tab[0]); /* so the usage can be printed */
}

/* A flag given twice is refused. */
static void test_kmu_parse_duplicate_flag(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "genSymKey -t 31 -s 32 -t 16 -l x", true), OHSM_KMU_BAD);
    assert_non_null(strstr(l.err, "-t given more than once"));
    assert_int_equal(parse(&l, "genSymKey -t 31 -s 32 -l x -nex -nex", true), OHSM_KMU_BAD);
}

/* A required flag left out is named with its metavar. */
static void test_kmu_parse_missing_flag(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "genSymKey -t 31 -s 32", true), OHSM_KMU_BAD);
    assert_non_null(strstr(l.err, "Missing required flag -l <label>"));
    assert_int_equal(parse(&l, "deleteKey", true), OHSM_KMU_BAD);
    assert_non_null(strstr(l.err, "-k"));
}

/* A value-taking flag at the end of the line has no value. */
static void test_kmu_parse_flag_without_value(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "genSymKey -s 32 -l x -t", true), OHSM_KMU_BAD);
    assert_non_null(strstr(l.err, "-t needs a value"));
}

/* Numbers are plain decimals inside their range: no sign, hex, blanks, suffix or overflow. */
static void test_kmu_parse_numbers(void **state)
{
    (void)state;
    struct line l;
    static const char *bad[] = {"-1",   "+5", "0x10", "12abc", "", "99999999999999999999999",
                                "65537"};
    char s[128];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        (void)snprintf(s, sizeof(s), "genSymKey -t 31 -l x -s %s", bad[i]);
        enum ohsm_kmu_status st = parse(&l, s, true);
        assert_int_not_equal(st, OHSM_KMU_OK);
    }
    assert_int_equal(parse(&l, "genSymKey -t 31 -l x -s 0", true), OHSM_KMU_BAD); /* min 1 */
    assert_non_null(strstr(l.err, "from 1 to 65536"));
    assert_int_equal(parse(&l, "genSymKey -t 31 -l x -s 65536", true), OHSM_KMU_OK);
    assert_int_equal(parse(&l, "genSymKey -t 31 -l x -s 32 -m_value 9", true), OHSM_KMU_BAD);
    assert_int_equal(parse(&l, "genSymKey -t 4294967296 -l x -s 32", true), OHSM_KMU_BAD);
}

/* Handles are decimal, non-zero, up to 2^64-1. */
static void test_kmu_parse_handles(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "deleteKey -k 262162", true), OHSM_KMU_OK);
    assert_int_equal(ohsm_kmu_get(&l.p, "k")->num, 262162);
    assert_int_equal(parse(&l, "deleteKey -k 18446744073709551615", true), OHSM_KMU_OK);
    assert_true(ohsm_kmu_get(&l.p, "k")->num == UINT64_MAX);
    assert_int_equal(parse(&l, "deleteKey -k 18446744073709551616", true), OHSM_KMU_BAD);
    assert_int_equal(parse(&l, "deleteKey -k 0", true), OHSM_KMU_BAD);
    assert_int_equal(parse(&l, "deleteKey -k 0x40", true), OHSM_KMU_BAD);
    assert_non_null(strstr(l.err, "Invalid key handle '0x40'"));
}

/* -u takes distinct decimal ids separated by commas. */
static void test_kmu_parse_ids(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "genSymKey -t 31 -s 32 -l x -u 4,5,17", true), OHSM_KMU_OK);
    assert_int_equal(l.p.nids, 3);
    assert_int_equal(l.p.ids[0], 4);
    assert_int_equal(l.p.ids[2], 17);
    static const char *bad[] = {"4,,5", ",4", "4,", "a", "4,4", "-4", "4;5"};
    char s[128];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        (void)snprintf(s, sizeof(s), "genSymKey -t 31 -s 32 -l x -u %s", bad[i]);
        assert_int_equal(parse(&l, s, true), OHSM_KMU_BAD);
    }
    /* More ids than a key can be shared with. */
    char many[256] = "genSymKey -t 31 -s 32 -l x -u 1";
    for (int i = 2; i <= OHSM_KMU_MAX_IDS + 1; i++) {
        size_t off = strlen(many);
        (void)snprintf(many + off, sizeof(many) - off, ",%d", i);
    }
    assert_int_equal(parse(&l, many, true), OHSM_KMU_BAD);
}

/* Hex values take an optional 0x and stay in range. */
static void test_kmu_parse_hex(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "Error2String -r 0xdb", true), OHSM_KMU_OK);
    assert_int_equal(ohsm_kmu_get(&l.p, "r")->num, 0xdb);
    assert_int_equal(parse(&l, "Error2String -r C6", true), OHSM_KMU_OK);
    assert_int_equal(ohsm_kmu_get(&l.p, "r")->num, 0xc6);
    assert_int_equal(parse(&l, "Error2String -r 0x", true), OHSM_KMU_BAD);
    assert_int_equal(parse(&l, "Error2String -r 0xzz", true), OHSM_KMU_BAD);
    assert_int_equal(parse(&l, "Error2String -r 0x100000000", true), OHSM_KMU_BAD);
    uint8_t b[4];
    size_t n = 0;
    assert_true(ohsm_kmu_hex_bytes("0x1a4b31", b, sizeof(b), &n));
    assert_int_equal(n, 3);
    assert_int_equal(b[0], 0x1a);
    assert_int_equal(b[2], 0x31);
    assert_false(ohsm_kmu_hex_bytes("0x1a4", b, sizeof(b), &n));      /* odd */
    assert_false(ohsm_kmu_hex_bytes("0102030405", b, sizeof(b), &n)); /* too long */
    assert_false(ohsm_kmu_hex_bytes("", b, sizeof(b), &n));
}

/* Text values are bounded; an empty value is refused. */
static void test_kmu_parse_text_bounds(void **state)
{
    (void)state;
    struct line l;
    char s[400];
    char label[200];
    memset(label, 'a', 128);
    label[128] = '\0';
    (void)snprintf(s, sizeof(s), "genSymKey -t 31 -s 32 -l %s", label);
    assert_int_equal(parse(&l, s, true), OHSM_KMU_BAD);
    label[127] = '\0';
    (void)snprintf(s, sizeof(s), "genSymKey -t 31 -s 32 -l %s", label);
    assert_int_equal(parse(&l, s, true), OHSM_KMU_OK);
}

/* Exactly one of -p and -hpswd; a bad password is never shown back. */
static void test_kmu_parse_groups_and_secrets(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "loginHSM -u CU -s alice -p Secret-pass1", true), OHSM_KMU_OK);
    assert_string_equal(ohsm_kmu_get(&l.p, "p")->text, "Secret-pass1");
    assert_int_equal(parse(&l, "loginHSM -u CU -s alice -hpswd", true), OHSM_KMU_OK);
    assert_int_equal(parse(&l, "loginHSM -u CU -s alice", true), OHSM_KMU_BAD);
    assert_non_null(strstr(l.err, "-p or -hpswd"));
    assert_int_equal(parse(&l, "loginHSM -u CU -s alice -p Secret-pass1 -hpswd", true),
                     OHSM_KMU_BAD);
    assert_null(strstr(l.err, "Secret-pass1"));
    char s[256];
    char pw[80];
    memset(pw, 'Z', 70);
    pw[70] = '\0';
    (void)snprintf(s, sizeof(s), "loginHSM -u CU -s alice -p %s", pw);
    assert_int_equal(parse(&l, s, true), OHSM_KMU_BAD);
    assert_null(strstr(l.err, "ZZZZ"));
}

/* -h asks for the usage, even with other flags; an unknown command is reported. */
static void test_kmu_parse_help_and_unknown(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(parse(&l, "genSymKey -h", true), OHSM_KMU_HELP);
    assert_ptr_equal(l.p.cmd, &tab[0]);
    assert_int_equal(parse(&l, "frobnicate -x", true), OHSM_KMU_UNKNOWN);
    assert_non_null(strstr(l.err, "Unknown command: frobnicate"));
    assert_int_equal(parse(&l, "", true), OHSM_KMU_EMPTY);
    assert_int_equal(parse(&l, "exit now", true), OHSM_KMU_BAD);
    assert_non_null(strstr(l.err, "Unexpected argument 'now'"));
}

/* singlecmd: parsing stops at the next command word, even after a value. */
static void test_kmu_parse_singlecmd_prefix(void **state)
{
    (void)state;
    struct line l;
    assert_int_equal(
        parse(&l, "loginHSM -u CU -s alice -p pw-secret1 genSymKey -t 31 -s 32 -l k", false),
        OHSM_KMU_OK);
    assert_ptr_equal(l.p.cmd, &tab[2]);
    assert_int_equal(l.used, 7);
    assert_string_equal(l.tok[l.used], "genSymKey");
    /* A value that looks like a flag is still the value. */
    assert_int_equal(parse(&l, "loginHSM -u CU -s alice -p -dash-pw exit", false), OHSM_KMU_OK);
    assert_string_equal(ohsm_kmu_get(&l.p, "p")->text, "-dash-pw");
    assert_int_equal(l.used, 7);
    /* A bad command skips its own words up to the next command. */
    assert_int_equal(parse(&l, "deleteKey -k x -z 5 exit", false), OHSM_KMU_BAD);
    assert_string_equal(l.tok[l.used], "exit");
}

/* Usage lines come from the row: required flags bare, optional ones bracketed, groups joined. */
static void test_kmu_parse_usage(void **state)
{
    (void)state;
    char buf[1024];
    assert_true(ohsm_kmu_usage(&tab[2], buf, sizeof(buf)));
    assert_non_null(strstr(buf, "loginHSM -u <user type>"));
    assert_non_null(strstr(buf, "-s <username>"));
    assert_non_null(strstr(buf, "(-p <password> | -hpswd)"));
    assert_true(ohsm_kmu_usage(&tab[0], buf, sizeof(buf)));
    assert_non_null(strstr(buf, "[-nex]"));
    assert_non_null(strstr(buf, "[-u <user-ids>]"));
    assert_false(ohsm_kmu_usage(&tab[0], buf, 20)); /* truncation is reported */
    assert_true(ohsm_kmu_usage(&tab[4], buf, sizeof(buf)));
    assert_string_equal(buf, "exit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmu_parse_split),
        cmocka_unit_test(test_kmu_parse_find),
        cmocka_unit_test(test_kmu_parse_flags_any_order),
        cmocka_unit_test(test_kmu_parse_unknown_flag),
        cmocka_unit_test(test_kmu_parse_duplicate_flag),
        cmocka_unit_test(test_kmu_parse_missing_flag),
        cmocka_unit_test(test_kmu_parse_flag_without_value),
        cmocka_unit_test(test_kmu_parse_numbers),
        cmocka_unit_test(test_kmu_parse_handles),
        cmocka_unit_test(test_kmu_parse_ids),
        cmocka_unit_test(test_kmu_parse_hex),
        cmocka_unit_test(test_kmu_parse_text_bounds),
        cmocka_unit_test(test_kmu_parse_groups_and_secrets),
        cmocka_unit_test(test_kmu_parse_help_and_unknown),
        cmocka_unit_test(test_kmu_parse_singlecmd_prefix),
        cmocka_unit_test(test_kmu_parse_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
