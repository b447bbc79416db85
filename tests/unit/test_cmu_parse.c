/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-cmu's grammar machinery (src/cmu/parse.c): line splitting, command
 * lookup by name and unique prefix, positional argument checks (user types per command, user
 * name and password rules, -hpswd, keywords, server ids, key handles, user ids, 0/1 flags,
 * attribute ids, output files, getKeyInfo's optional -k), usage lines and the y/n answer. A small
 * table of the same shape as the tool's is used; nothing here touches a cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmu/parse.h"

#define T_ALL                                                                                      \
    (OHSM_CMU_T(OHSM_UT_CO) | OHSM_CMU_T(OHSM_UT_CU) | OHSM_CMU_T(OHSM_UT_AU) |                    \
     OHSM_CMU_T(OHSM_UT_PRECO))
#define T_NEW (OHSM_CMU_T(OHSM_UT_CO) | OHSM_CMU_T(OHSM_UT_CU) | OHSM_CMU_T(OHSM_UT_AU))

/* clang-format off */
static const struct ohsm_cmu_cmd tab[] = {
    {"createUser",
     {{OHSM_CMU_ARG_UTYPE, "<CO|CU|AU>", T_NEW, false},
      {OHSM_CMU_ARG_USER, "<user name>", 0, false},
      {OHSM_CMU_ARG_PASSWORD, "<password | -hpswd>", 0, false}},
     OHSM_CMU_F_CRITICAL | OHSM_CMU_F_NEW_PW, OHSM_OP_MANAGE_USERS, NULL, "create", NULL, NULL},
    {"help", {{OHSM_CMU_ARG_COMMAND, "<command>", 0, true}}, 0, OHSM_OP_COUNT_, NULL, "help", NULL,
     NULL},
    {"info",
     {{OHSM_CMU_ARG_KEYWORD, "server", 0, false}, {OHSM_CMU_ARG_SERVER, "<server id>", 0, false}},
     0, OHSM_OP_COUNT_, NULL, "info", NULL, NULL},
    {"listUsers", {{0}}, 0, OHSM_OP_CLUSTER_INFO, NULL, "list", NULL, NULL},
    {"loginHSM",
     {{OHSM_CMU_ARG_UTYPE, "<CO|CU|AU|PRECO>", T_ALL, false},
      {OHSM_CMU_ARG_USER, "<user name>", 0, false},
      {OHSM_CMU_ARG_PASSWORD, "<password | -hpswd>", 0, false}},
     0, OHSM_OP_CHANGE_OWN_PW, NULL, "login", NULL, NULL},
    {"logoutHSM", {{0}}, 0, OHSM_OP_COUNT_, NULL, "logout", NULL, NULL},
    /* 6.. the key commands' shapes */
    {"getKeyInfo",
     {{OHSM_CMU_ARG_KEYWORD, "-k", 0, true}, {OHSM_CMU_ARG_HANDLE, "<key handle>", 0, false},
      {OHSM_CMU_ARG_FILE, "<output file>", 0, true}},
     0, OHSM_OP_KEY_MGMT, NULL, "key info", NULL, NULL},
    {"shareKey",
     {{OHSM_CMU_ARG_HANDLE, "<key handle>", 0, false},
      {OHSM_CMU_ARG_USER_ID, "<user id>", 0, false},
      {OHSM_CMU_ARG_BOOL01, "<share 1 | unshare 0>", 0, false}},
     OHSM_CMU_F_CRITICAL, OHSM_OP_KEY_MGMT, NULL, "share", NULL, NULL},
    {"getAttribute",
     {{OHSM_CMU_ARG_HANDLE, "<key handle>", 0, false},
      {OHSM_CMU_ARG_ATTR_ID, "<attribute id>", 0, false},
      {OHSM_CMU_ARG_FILE, "<output file>", 0, true}},
     0, OHSM_OP_KEY_MGMT, NULL, "attribute", NULL, NULL},
    {"findAllKeys",
     {{OHSM_CMU_ARG_USER_ID, "<user id>", 0, false},
      {OHSM_CMU_ARG_BOOL01, "<key hash (0/1)>", 0, false},
      {OHSM_CMU_ARG_FILE, "<output file>", 0, true}},
     0, OHSM_OP_SYNC_STATUS, NULL, "find", NULL, "CO or AU"},
    {"syncKey",
     {{OHSM_CMU_ARG_HANDLE, "<key handle>", 0, false},
      {OHSM_CMU_ARG_SERVER, "<destination server>", 0, false}},
     0, OHSM_OP_MASKED_OBJECTS, NULL, "sync", NULL, NULL},
    /* the quorum commands' shapes */
    {"setMValue",
     {{OHSM_CMU_ARG_SERVICE, "<service>", (1u << 3) | (1u << 4), false},
      {OHSM_CMU_ARG_MVALUE, "<value 1..8>", 0, false}},
     OHSM_CMU_F_CRITICAL | OHSM_CMU_F_TIGHT, OHSM_OP_COUNT_, NULL, "set m", NULL, NULL},
    {"registerQuorumPubKey",
     {{OHSM_CMU_ARG_UTYPE, "<CO|CU>", OHSM_CMU_T(OHSM_UT_CO) | OHSM_CMU_T(OHSM_UT_CU), false},
      {OHSM_CMU_ARG_USER, "<user name>", 0, false},
      {OHSM_CMU_ARG_IN_FILE, "<registration token>", 0, false},
      {OHSM_CMU_ARG_IN_FILE, "<signed registration token>", 0, false},
      {OHSM_CMU_ARG_IN_FILE, "<public key>", 0, false}},
     OHSM_CMU_F_CRITICAL, OHSM_OP_COUNT_, NULL, "register", NULL, NULL},
    {"delToken", {{OHSM_CMU_ARG_KEYWORD, "all", 0, true}}, 0, OHSM_OP_COUNT_, NULL, "del", NULL,
     NULL},
};
/* clang-format on */
#define NTAB (sizeof(tab) / sizeof(tab[0]))

struct line {
    char buf[512];
    char *tok[OHSM_CMU_MAX_TOKENS];
    size_t n;
};

/* Splits a copy of s the way the tool does. */
static void split(struct line *l, const char *s)
{
    (void)snprintf(l->buf, sizeof(l->buf), "%s", s);
    l->n = ohsm_cmu_split(l->buf, l->tok, OHSM_CMU_MAX_TOKENS);
}

static enum ohsm_cmu_status parse(const char *s, size_t nservers, struct ohsm_cmu_parsed *p,
                                  char *err, size_t cap)
{
    static struct line l; /* tokens must outlive the call: p borrows them */
    split(&l, s);
    return ohsm_cmu_parse(tab, NTAB, l.tok, l.n, nservers, p, err, cap);
}

/* Blank-only lines have no tokens; blanks of every kind separate words. */
static void test_cmu_split_blanks(void **state)
{
    (void)state;
    struct line l;
    split(&l, "");
    assert_int_equal(l.n, 0);
    split(&l, " \t \r\n");
    assert_int_equal(l.n, 0);
    split(&l, "  loginHSM\tCU  bob\r\n");
    assert_int_equal(l.n, 3);
    assert_string_equal(l.tok[0], "loginHSM");
    assert_string_equal(l.tok[1], "CU");
    assert_string_equal(l.tok[2], "bob");
}

/* The count says how many words there are even past the cap; only cap are stored. */
static void test_cmu_split_over_cap(void **state)
{
    (void)state;
    char buf[64] = "a b c d e";
    char *tok[2] = {NULL, NULL};
    assert_int_equal(ohsm_cmu_split(buf, tok, 2), 5);
    assert_string_equal(tok[0], "a");
    assert_string_equal(tok[1], "b");
}

/* Exact names win, case does not matter, a unique prefix names its command. */
static void test_cmu_find_names_and_prefixes(void **state)
{
    (void)state;
    bool amb = true;
    assert_ptr_equal(ohsm_cmu_find(tab, NTAB, "listUsers", &amb), &tab[3]);
    assert_false(amb);
    assert_ptr_equal(ohsm_cmu_find(tab, NTAB, "LISTUSERS", NULL), &tab[3]);
    assert_ptr_equal(ohsm_cmu_find(tab, NTAB, "listU", NULL), &tab[3]);
    assert_ptr_equal(ohsm_cmu_find(tab, NTAB, "logi", NULL), &tab[4]);
    assert_ptr_equal(ohsm_cmu_find(tab, NTAB, "info", NULL), &tab[2]);
}

/* A prefix of several commands is ambiguous; a word matching none is unknown. */
static void test_cmu_find_ambiguous_unknown(void **state)
{
    (void)state;
    bool amb = false;
    assert_null(ohsm_cmu_find(tab, NTAB, "log", &amb));
    assert_true(amb);
    assert_null(ohsm_cmu_find(tab, NTAB, "frobnicate", &amb));
    assert_false(amb);
    assert_null(ohsm_cmu_find(tab, NTAB, "", &amb));
    assert_null(ohsm_cmu_find(tab, NTAB, "listUsersX", &amb));
}

/* Nothing typed is not an error; an unknown word is, and says which word. */
static void test_cmu_parse_empty_and_unknown(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("   ", 2, &p, err, sizeof(err)), OHSM_CMU_EMPTY);
    assert_int_equal(parse("foo bar", 2, &p, err, sizeof(err)), OHSM_CMU_UNKNOWN);
    assert_string_equal(err, "Unknown command: foo");
    assert_null(p.cmd);
    assert_int_equal(parse("lo", 2, &p, err, sizeof(err)), OHSM_CMU_AMBIGUOUS);
    assert_string_equal(err, "Ambiguous command: lo (loginHSM, logoutHSM)");
    /* A message cut by a small buffer is still a terminated string. */
    assert_int_equal(parse("lo", 2, &p, err, 24), OHSM_CMU_AMBIGUOUS);
    assert_int_equal(strlen(err), 23);
}

/* Too few, too many and far too many words give the usage, with the row found. */
static void test_cmu_parse_arg_count(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("loginHSM CU bob", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    assert_ptr_equal(p.cmd, &tab[4]);
    assert_int_equal(parse("loginHSM CU bob password1 -2fa /tmp/x", 2, &p, err, sizeof(err)),
                     OHSM_CMU_USAGE);
    assert_int_equal(parse("listUsers now", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    assert_int_equal(parse("listUsers a b c d e f g h i", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    assert_int_equal(parse("logoutHSM", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
}

/* A good login line: type parsed, user name lower-cased, password borrowed. */
static void test_cmu_parse_login_ok(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("loginHSM cu Bob_1 s3cret-pw", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.type, OHSM_UT_CU);
    assert_string_equal(p.user, "bob_1");
    assert_string_equal(p.password, "s3cret-pw");
    assert_false(p.hidden);
    assert_int_equal(parse("loginHSM PCO admin password", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.type, OHSM_UT_CO);
    assert_int_equal(parse("loginHSM PRECO admin password", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.type, OHSM_UT_PRECO);
}

/* -hpswd asks for a prompt: no password is taken from the line. */
static void test_cmu_parse_hpswd(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("createUser CU alice -hpswd", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_true(p.hidden);
    assert_null(p.password);
}

/* Unknown types and types a command does not take are refused, naming the allowed ones. */
static void test_cmu_parse_bad_type(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("loginHSM XX bob password1", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "Invalid user type 'XX'"));
    assert_non_null(strstr(err, "CO, CU, AU or PRECO"));
    assert_int_equal(parse("createUser PRECO bob password1", 2, &p, err, sizeof(err)),
                     OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "CO, CU or AU"));
}

/* User names: 31 characters pass, 32 do not; only letters, digits and '_'. */
static void test_cmu_parse_user_names(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[256];
    assert_int_equal(
        parse("createUser CU abcdefghijklmnopqrstuvwxyz01234 password1", 2, &p, err, sizeof(err)),
        OHSM_CMU_OK);
    assert_int_equal(strlen(p.user), 31);
    assert_int_equal(
        parse("createUser CU abcdefghijklmnopqrstuvwxyz012345 password1", 2, &p, err, sizeof(err)),
        OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "Invalid user name"));
    assert_int_equal(parse("createUser CU bob-smith password1", 2, &p, err, sizeof(err)),
                     OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("createUser CU bob.smith password1", 2, &p, err, sizeof(err)),
                     OHSM_CMU_BAD_ARG);
}

/* Passwords: 7 and 32 characters pass, 6 and 33 do not; the error never shows the password. */
static void test_cmu_parse_password_lengths(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[256];
    assert_int_equal(parse("createUser CU bob Abcdef7", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(parse("createUser CU bob Abcde6", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_null(strstr(err, "Abcde6"));
    assert_non_null(strstr(err, "Invalid password"));
    assert_int_equal(
        parse("createUser CU bob 0123456789abcdef0123456789abcdef", 2, &p, err, sizeof(err)),
        OHSM_CMU_OK);
    assert_int_equal(
        parse("createUser CU bob 0123456789abcdef0123456789abcdefX", 2, &p, err, sizeof(err)),
        OHSM_CMU_BAD_ARG);
    assert_null(strstr(err, "0123456789"));
    assert_int_equal(ohsm_cmu_check_password(NULL), OHSM_ARGUMENTS_BAD);
}

/* info takes the keyword "server" and a number below the server count. */
static void test_cmu_parse_server_ids(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("info server 1", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.server, 1);
    assert_int_equal(parse("info server 2", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "0 to 1"));
    assert_int_equal(parse("info server -1", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("info server +1", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("info server 1x", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("info server 99999999999999999999999", 2, &p, err, sizeof(err)),
                     OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("info servers 1", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    assert_int_equal(parse("info server", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
}

/* help's optional topic is resolved like a command word. */
static void test_cmu_parse_help_topic(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("help", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_null(p.topic);
    assert_int_equal(parse("help listU", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_ptr_equal(p.topic, &tab[3]);
    assert_int_equal(parse("help nothing", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
}

/* Usage lines come from the row; optional words are bracketed; truncation is reported. */
static void test_cmu_usage_lines(void **state)
{
    (void)state;
    char buf[128];
    assert_true(ohsm_cmu_usage(&tab[0], buf, sizeof(buf)));
    assert_string_equal(buf, "createUser <CO|CU|AU> <user name> <password | -hpswd>");
    assert_true(ohsm_cmu_usage(&tab[1], buf, sizeof(buf)));
    assert_string_equal(buf, "help [<command>]");
    assert_true(ohsm_cmu_usage(&tab[3], buf, sizeof(buf)));
    assert_string_equal(buf, "listUsers");
    assert_false(ohsm_cmu_usage(&tab[0], buf, 20));
}

/* getKeyInfo: -k may be given or left off; the handle is decimal or 0x-hex; a file may follow. */
static void test_cmu_parse_key_info_forms(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("getKeyInfo -k 262162", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.handle, 262162);
    assert_null(p.file);
    assert_int_equal(parse("getKeyInfo 262162", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.handle, 262162);
    assert_int_equal(parse("getKeyInfo -k 0x00000000002e06bf out.txt", 2, &p, err, sizeof(err)),
                     OHSM_CMU_OK);
    assert_int_equal(p.handle, 0x2e06bf);
    assert_string_equal(p.file, "out.txt");
    assert_int_equal(parse("getKeyInfo 7 out.txt", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.handle, 7);
    assert_string_equal(p.file, "out.txt");
    /* The keyword alone, or a handle and two more words, do not fit. */
    assert_int_equal(parse("getKeyInfo -k", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    assert_int_equal(parse("getKeyInfo", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    assert_int_equal(parse("getKeyInfo 7 a b", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    assert_int_equal(parse("getKeyInfo -k 7 a b", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    /* A file name that looks like an option is refused. */
    assert_int_equal(parse("getKeyInfo 7 -x", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "Invalid file name '-x'"));
}

/* Key handles: decimal or 0x-hex, not 0, no sign, no junk, no overflow. */
static void test_cmu_parse_handles(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("getKeyInfo 18446744073709551615", 2, &p, err, sizeof(err)),
                     OHSM_CMU_OK);
    assert_true(p.handle == UINT64_MAX);
    assert_int_equal(parse("getKeyInfo 0xFFFFFFFFFFFFFFFF", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_true(p.handle == UINT64_MAX);
    static const char *const bad[] = {
        "getKeyInfo 0",
        "getKeyInfo 0x0",
        "getKeyInfo -5",
        "getKeyInfo +5",
        "getKeyInfo 5x",
        "getKeyInfo 0x",
        "getKeyInfo 0xg1",
        "getKeyInfo x5",
        "getKeyInfo 18446744073709551616",
        "getKeyInfo 0x10000000000000000",
        "getKeyInfo 0x-1",
        "getKeyInfo 0x 5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
        assert_non_null(strstr(err, "Invalid key handle"));
    }
}

/* shareKey: handle, a user id (1..2^32-1) and exactly 0 or 1. */
static void test_cmu_parse_share_key(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("shareKey 262177 4 1", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.handle, 262177);
    assert_int_equal(p.uid, 4);
    assert_true(p.flag);
    assert_true((p.cmd->flags & OHSM_CMU_F_CRITICAL) != 0);
    assert_int_equal(parse("shareKey 6 4294967295 0", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.uid, UINT32_MAX);
    assert_false(p.flag);
    assert_int_equal(parse("shareKey 6 4294967296 0", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "Invalid user id"));
    assert_int_equal(parse("shareKey 6 0 1", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("shareKey 6 bob 1", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("shareKey 6 0x4 1", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("shareKey 6 4 2", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "expected 1 or 0"));
    assert_int_equal(parse("shareKey 6 4 01", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("shareKey 6 4 yes", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("shareKey 6 4", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
}

/* getAttribute and findAllKeys: attribute numbers and the hash flag, an optional file. */
static void test_cmu_parse_attr_and_find(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("getAttribute 262170 354", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.attr, 354);
    assert_int_equal(parse("getAttribute 262170 512 /tmp/a", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.attr, 512);
    assert_string_equal(p.file, "/tmp/a");
    assert_int_equal(parse("getAttribute 262170 0", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.attr, 0);
    assert_int_equal(parse("getAttribute 262170 -1", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "Invalid attribute id"));
    assert_int_equal(parse("getAttribute 262170 4294967296", 2, &p, err, sizeof(err)),
                     OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("findAllKeys 4 0", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.uid, 4);
    assert_false(p.flag);
    assert_int_equal(parse("findAllKeys 6 1 keys.txt", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_true(p.flag);
    assert_string_equal(p.file, "keys.txt");
    assert_int_equal(parse("findAllKeys 6 2", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("findAllKeys 6", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
    assert_int_equal(parse("syncKey 9 1", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.server, 1);
    assert_int_equal(parse("syncKey 9 2", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
}

/* Quorum services and values: only the row's services, values 1..8; input files in order;
 * five positional words fit; an optional keyword is recorded when given. */
static void test_cmu_parse_quorum_args(void **state)
{
    (void)state;
    struct ohsm_cmu_parsed p;
    char err[128];
    assert_int_equal(parse("setMValue 3 2", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(p.service, 3);
    assert_int_equal(p.value, 2);
    assert_int_equal(parse("setMValue 4 8", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_int_equal(parse("setMValue 5 2", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "Invalid service '5': expected 3 (USER_MGMT) or 4 (MISC_CO)"));
    assert_int_equal(parse("setMValue 99 2", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("setMValue 3 0", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_non_null(strstr(err, "Invalid quorum value '0': expected a number from 1 to 8"));
    assert_int_equal(parse("setMValue 3 9", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("setMValue 3 x", 2, &p, err, sizeof(err)), OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("registerQuorumPubKey CO officer1 t.tok t.sig k.pub", 2, &p, err,
                           sizeof(err)),
                     OHSM_CMU_OK);
    assert_int_equal(p.nin, 3);
    assert_string_equal(p.in[0], "t.tok");
    assert_string_equal(p.in[1], "t.sig");
    assert_string_equal(p.in[2], "k.pub");
    assert_string_equal(p.user, "officer1");
    assert_int_equal(parse("registerQuorumPubKey AU officer1 t.tok t.sig k.pub", 2, &p, err,
                           sizeof(err)),
                     OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("registerQuorumPubKey CO officer1 t.tok -x k.pub", 2, &p, err,
                           sizeof(err)),
                     OHSM_CMU_BAD_ARG);
    assert_int_equal(parse("registerQuorumPubKey CO officer1 t.tok t.sig", 2, &p, err,
                           sizeof(err)),
                     OHSM_CMU_USAGE);
    assert_int_equal(parse("delToken", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_false(p.keyword);
    assert_int_equal(parse("delToken all", 2, &p, err, sizeof(err)), OHSM_CMU_OK);
    assert_true(p.keyword);
    assert_int_equal(parse("delToken some", 2, &p, err, sizeof(err)), OHSM_CMU_USAGE);
}

/* The key commands' usage lines bracket the optional keyword and file. */
static void test_cmu_usage_key_lines(void **state)
{
    (void)state;
    char buf[128];
    assert_true(ohsm_cmu_usage(&tab[6], buf, sizeof(buf)));
    assert_string_equal(buf, "getKeyInfo [-k] <key handle> [<output file>]");
    assert_true(ohsm_cmu_usage(&tab[7], buf, sizeof(buf)));
    assert_string_equal(buf, "shareKey <key handle> <user id> <share 1 | unshare 0>");
    assert_true(ohsm_cmu_usage(&tab[9], buf, sizeof(buf)));
    assert_string_equal(buf, "findAllKeys <user id> <key hash (0/1)> [<output file>]");
}

/* Who may run a command comes from the permission table, unless the row says more. */
static void test_cmu_who_from_perm_table(void **state)
{
    (void)state;
    char buf[96];
    ohsm_cmu_who(&tab[0], buf, sizeof(buf)); /* add, remove users */
    assert_string_equal(buf, "CO");
    ohsm_cmu_who(&tab[3], buf, sizeof(buf)); /* cluster info */
    assert_string_equal(buf, "anyone, no login needed");
    ohsm_cmu_who(&tab[2], buf, sizeof(buf)); /* no row: local */
    assert_string_equal(buf, "anyone, no login needed");
    ohsm_cmu_who(&tab[4], buf, sizeof(buf)); /* change own password (a stand-in row) */
    assert_string_equal(buf, "CO, CU, AU or PRECO");
    ohsm_cmu_who(&tab[7], buf, sizeof(buf)); /* key management */
    assert_string_equal(buf, "CU");
    ohsm_cmu_who(&tab[9], buf, sizeof(buf)); /* the row's own text */
    assert_string_equal(buf, "CO or AU");
}

/* Only y/Y and n/N answer the caution prompt. */
static void test_cmu_answers(void **state)
{
    (void)state;
    assert_int_equal(ohsm_cmu_answer("y"), OHSM_CMU_ANSWER_YES);
    assert_int_equal(ohsm_cmu_answer(" Y \r"), OHSM_CMU_ANSWER_YES);
    assert_int_equal(ohsm_cmu_answer("n"), OHSM_CMU_ANSWER_NO);
    assert_int_equal(ohsm_cmu_answer("N"), OHSM_CMU_ANSWER_NO);
    assert_int_equal(ohsm_cmu_answer(""), OHSM_CMU_ANSWER_INVALID);
    assert_int_equal(ohsm_cmu_answer("yes"), OHSM_CMU_ANSWER_INVALID);
    assert_int_equal(ohsm_cmu_answer("x"), OHSM_CMU_ANSWER_INVALID);
    assert_int_equal(ohsm_cmu_answer("yn"), OHSM_CMU_ANSWER_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmu_split_blanks),
        cmocka_unit_test(test_cmu_split_over_cap),
        cmocka_unit_test(test_cmu_find_names_and_prefixes),
        cmocka_unit_test(test_cmu_find_ambiguous_unknown),
        cmocka_unit_test(test_cmu_parse_empty_and_unknown),
        cmocka_unit_test(test_cmu_parse_arg_count),
        cmocka_unit_test(test_cmu_parse_login_ok),
        cmocka_unit_test(test_cmu_parse_hpswd),
        cmocka_unit_test(test_cmu_parse_bad_type),
        cmocka_unit_test(test_cmu_parse_user_names),
        cmocka_unit_test(test_cmu_parse_password_lengths),
        cmocka_unit_test(test_cmu_parse_server_ids),
        cmocka_unit_test(test_cmu_parse_help_topic),
        cmocka_unit_test(test_cmu_usage_lines),
        cmocka_unit_test(test_cmu_parse_key_info_forms),
        cmocka_unit_test(test_cmu_parse_handles),
        cmocka_unit_test(test_cmu_parse_share_key),
        cmocka_unit_test(test_cmu_parse_attr_and_find),
        cmocka_unit_test(test_cmu_usage_key_lines),
        cmocka_unit_test(test_cmu_parse_quorum_args),
        cmocka_unit_test(test_cmu_who_from_perm_table),
        cmocka_unit_test(test_cmu_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
