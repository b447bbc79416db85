/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the shell habits of openhsm-cmu (src/cmu/complete.c) on a table shaped as
 * cmds.c's rows, and for the history file shared by the three shells (src/cmu/hist.c) in a temp
 * home: the rule refuses every line of a command with a password argument or of a critical
 * command naming a user type (loginHSM, createUser, changePswd, registerQuorumPubKey, with or
 * without -hpswd, abbreviated or not) and lines naming no single command; the file is created
 * 0600, read back through the rule, bounded, replaced atomically, and never followed through a
 * symbolic link nor used when another user could write it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmu/complete.h"
#include "offered.h"
#include "cmu/hist.h"

#define A_TYPE {OHSM_CMU_ARG_UTYPE, "<CO|CU|AU|PRECO>", 0x1e, false}
#define A_USER {OHSM_CMU_ARG_USER, "<user name>", 0, false}
#define A_PW {OHSM_CMU_ARG_PASSWORD, "<password | -hpswd>", 0, false}
#define A_IN {OHSM_CMU_ARG_IN_FILE, "<file>", 0, false}

static const struct ohsm_cmu_cmd rows[] = {
    {"changePswd", {A_TYPE, A_USER, A_PW}, OHSM_CMU_F_CRITICAL, OHSM_OP_COUNT_, NULL, "", NULL,
     NULL},
    {"createUser", {A_TYPE, A_USER, A_PW}, OHSM_CMU_F_CRITICAL, OHSM_OP_COUNT_, NULL, "", NULL,
     NULL},
    {"deleteUser", {A_TYPE, A_USER}, 0, OHSM_OP_COUNT_, NULL, "", NULL, NULL},
    {"getKeyInfo", {{OHSM_CMU_ARG_KEYWORD, "-k", 0, true}, {OHSM_CMU_ARG_HANDLE, "<h>", 0, false}},
     0, OHSM_OP_COUNT_, NULL, "", NULL, NULL},
    {"help", {{OHSM_CMU_ARG_COMMAND, "<command>", 0, true}}, 0, OHSM_OP_COUNT_, NULL, "", NULL,
     NULL},
    {"listTokens", {{0}}, 0, OHSM_OP_COUNT_, NULL, "", NULL, NULL},
    {"listUsers", {{0}}, 0, OHSM_OP_COUNT_, NULL, "", NULL, NULL},
    {"loginHSM", {A_TYPE, A_USER, A_PW}, 0, OHSM_OP_COUNT_, NULL, "", NULL, NULL},
    {"registerQuorumPubKey", {A_TYPE, A_USER, A_IN, A_IN, A_IN}, OHSM_CMU_F_CRITICAL,
     OHSM_OP_COUNT_, NULL, "", NULL, NULL},
};
static const struct ohsm_cmu_table T = {rows, sizeof(rows) / sizeof(rows[0])};

static bool offered(const char *before, const char *word)
{
    return ohsm_test_offered(ohsm_cmu_complete, &T, before, word);
}

/* Plain commands are kept, abbreviated or in any case. */
static void test_cmu_history_keeps_plain_lines(void **state)
{
    (void)state;
    assert_true(ohsm_cmu_hist_keep(&T, "listUsers"));
    assert_true(ohsm_cmu_hist_keep(&T, "listU"));
    assert_true(ohsm_cmu_hist_keep(&T, "deleteUser CU bob"));
    assert_true(ohsm_cmu_hist_keep(&T, "getKeyInfo -k 6"));
}

/* Credential commands never enter the history, whatever their arguments. */
static void test_cmu_history_refuses_credentials(void **state)
{
    (void)state;
    assert_false(ohsm_cmu_hist_keep(&T, "loginHSM CO admin s3cretpw"));
    assert_false(ohsm_cmu_hist_keep(&T, "loginH CO admin s3cretpw"));
    assert_false(ohsm_cmu_hist_keep(&T, "LOGINHSM CO admin s3cretpw"));
    assert_false(ohsm_cmu_hist_keep(&T, "loginHSM CO admin -hpswd"));
    assert_false(ohsm_cmu_hist_keep(&T, "createUser CU bob s3cretpw"));
    assert_false(ohsm_cmu_hist_keep(&T, "changePswd CU bob s3cretpw"));
    assert_false(ohsm_cmu_hist_keep(&T, "registerQuorumPubKey CU bob t s k.pem"));
}

/* A line naming no single command may be a mistyped credential command: not kept. */
static void test_cmu_history_refuses_unknown(void **state)
{
    (void)state;
    assert_false(ohsm_cmu_hist_keep(&T, ""));
    assert_false(ohsm_cmu_hist_keep(&T, "logniHSM CO admin s3cretpw"));
    assert_false(ohsm_cmu_hist_keep(&T, "list")); /* listTokens or listUsers */
}

/* Tab offers command names, then each argument's words. */
static void test_cmu_history_completes(void **state)
{
    (void)state;
    assert_true(offered("", "listUsers"));
    assert_true(offered("", "loginHSM"));
    assert_true(offered("loginHSM ", "CO"));
    assert_true(offered("loginHSM ", "PRECO"));
    assert_false(offered("loginHSM CO ", "CO")); /* the user name: nothing to offer */
    assert_true(offered("loginHSM CO admin ", "-hpswd"));
    assert_true(offered("getKeyInfo ", "-k"));
    assert_true(offered("help ", "listUsers"));
    assert_false(offered("nosuch ", "CO"));
}

/* --- the history file --- */

static char home[256];
static char path[512];

static int setup_home(void **state)
{
    (void)state;
    snprintf(home, sizeof(home), "/tmp/ohsm-hist-XXXXXX");
    assert_non_null(mkdtemp(home));
    snprintf(path, sizeof(path), "%s/.h", home);
    return 0;
}

static int teardown_home(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *p, const char *text, mode_t mode)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static size_t read_file(const char *p, char *buf, size_t cap)
{
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* Absent: created 0600 and empty; lines added are saved and read back in order. */
static void test_cmu_history_file_created_0600(void **state)
{
    (void)state;
    struct ohsm_hist h;
    char why[256], buf[256];
    struct stat st;

    assert_true(ohsm_hist_open(&h, home, ".h", NULL, NULL, why, sizeof(why)));
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(ohsm_hist_add(&h, "listUsers"));
    assert_false(ohsm_hist_add(&h, "listUsers")); /* a repeat of the newest */
    assert_false(ohsm_hist_add(&h, ""));
    assert_true(ohsm_hist_add(&h, "getHSMInfo"));
    assert_true(ohsm_hist_save(&h, why, sizeof(why)));
    ohsm_hist_free(&h);
    read_file(path, buf, sizeof(buf));
    assert_string_equal(buf, "listUsers\ngetHSMInfo\n");
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_true(ohsm_hist_open(&h, home, ".h", NULL, NULL, why, sizeof(why)));
    assert_int_equal(h.n, 2);
    assert_string_equal(h.lines[0], "listUsers");
    assert_string_equal(h.lines[1], "getHSMInfo");
    ohsm_hist_free(&h);
}

/* Lines the rule refuses are dropped on load, and gone from the file at the next save. */
static void test_cmu_history_file_filtered(void **state)
{
    (void)state;
    struct ohsm_hist h;
    char why[256], buf[512];

    write_file(path, "listUsers\nloginHSM CO admin s3cretpw\ndeleteUser CU bob\ncut", 0600);
    assert_true(ohsm_hist_open(&h, home, ".h", ohsm_cmu_hist_keep, &T, why, sizeof(why)));
    assert_int_equal(h.n, 2);
    assert_true(ohsm_hist_add(&h, "listTokens"));
    assert_true(ohsm_hist_save(&h, why, sizeof(why)));
    ohsm_hist_free(&h);
    read_file(path, buf, sizeof(buf));
    assert_string_equal(buf, "listUsers\ndeleteUser CU bob\nlistTokens\n");
    assert_null(strstr(buf, "s3cretpw"));
}

/* At most OHSM_HIST_MAX lines, the newest. */
static void test_cmu_history_file_bounded(void **state)
{
    (void)state;
    struct ohsm_hist h;
    char why[256], line[32];

    assert_true(ohsm_hist_open(&h, home, ".h", NULL, NULL, why, sizeof(why)));
    for (int i = 0; i < OHSM_HIST_MAX + 100; i++) {
        snprintf(line, sizeof(line), "cmd %d", i);
        assert_true(ohsm_hist_add(&h, line));
    }
    assert_int_equal(h.n, OHSM_HIST_MAX);
    assert_string_equal(h.lines[0], "cmd 100");
    assert_true(ohsm_hist_save(&h, why, sizeof(why)));
    ohsm_hist_free(&h);
    assert_true(ohsm_hist_open(&h, home, ".h", NULL, NULL, why, sizeof(why)));
    assert_int_equal(h.n, OHSM_HIST_MAX);
    assert_string_equal(h.lines[OHSM_HIST_MAX - 1], "cmd 599");
    ohsm_hist_free(&h);
}

/* A symbolic link is not followed, at open or at save: the target stays as it was. */
static void test_cmu_history_file_symlink(void **state)
{
    (void)state;
    struct ohsm_hist h;
    char why[256], target[600], buf[64];

    snprintf(target, sizeof(target), "%s/target", home);
    write_file(target, "ORIGINAL\n", 0600);
    assert_int_equal(symlink(target, path), 0);
    assert_false(ohsm_hist_open(&h, home, ".h", NULL, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "symbolic link"));
    assert_false(h.on);
    (void)ohsm_hist_add(&h, "listUsers");
    assert_false(ohsm_hist_save(&h, why, sizeof(why)));
    ohsm_hist_free(&h);
    read_file(target, buf, sizeof(buf));
    assert_string_equal(buf, "ORIGINAL\n");

    /* A link planted after the open is not written through either. */
    assert_int_equal(unlink(path), 0);
    assert_true(ohsm_hist_open(&h, home, ".h", NULL, NULL, why, sizeof(why)));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink(target, path), 0);
    assert_true(ohsm_hist_add(&h, "listUsers"));
    assert_false(ohsm_hist_save(&h, why, sizeof(why)));
    assert_non_null(strstr(why, "symbolic link"));
    ohsm_hist_free(&h);
    read_file(target, buf, sizeof(buf));
    assert_string_equal(buf, "ORIGINAL\n");
}

/* A file others may write, or a directory in its place, is left alone. */
static void test_cmu_history_file_hostile(void **state)
{
    (void)state;
    struct ohsm_hist h;
    char why[256], buf[64];

    write_file(path, "listUsers\n", 0620);
    assert_false(ohsm_hist_open(&h, home, ".h", NULL, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "writable by group or others"));
    assert_int_equal(h.n, 0);
    ohsm_hist_free(&h);
    read_file(path, buf, sizeof(buf));
    assert_string_equal(buf, "listUsers\n");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_false(ohsm_hist_open(&h, home, ".h", NULL, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "not a regular file"));
    ohsm_hist_free(&h);
    assert_int_equal(rmdir(path), 0);
}

/* No usable home: history is off with a reason; nothing is created. */
static void test_cmu_history_file_no_home(void **state)
{
    (void)state;
    struct ohsm_hist h;
    char why[256], missing[600];

    assert_false(ohsm_hist_open(&h, NULL, ".h", NULL, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "HOME"));
    assert_false(ohsm_hist_open(&h, "relative", ".h", NULL, NULL, why, sizeof(why)));
    snprintf(missing, sizeof(missing), "%s/missing", home);
    assert_false(ohsm_hist_open(&h, missing, ".h", NULL, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "cannot create"));
    ohsm_hist_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmu_history_keeps_plain_lines),
        cmocka_unit_test(test_cmu_history_refuses_credentials),
        cmocka_unit_test(test_cmu_history_refuses_unknown),
        cmocka_unit_test(test_cmu_history_completes),
        cmocka_unit_test_setup_teardown(test_cmu_history_file_created_0600, setup_home,
                                        teardown_home),
        cmocka_unit_test_setup_teardown(test_cmu_history_file_filtered, setup_home, teardown_home),
        cmocka_unit_test_setup_teardown(test_cmu_history_file_bounded, setup_home, teardown_home),
        cmocka_unit_test_setup_teardown(test_cmu_history_file_symlink, setup_home, teardown_home),
        cmocka_unit_test_setup_teardown(test_cmu_history_file_hostile, setup_home, teardown_home),
        cmocka_unit_test_setup_teardown(test_cmu_history_file_no_home, setup_home, teardown_home),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
