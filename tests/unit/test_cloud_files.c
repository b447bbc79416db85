/* SPDX-License-Identifier: Apache-2.0
 * File helpers: path truncation, private directories, exclusive and atomic writes, tree removal
 * that never follows symlinks, and log tails that start on a line boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cloud/files.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ohsm-files-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return ohsm_files_remove_tree(dir) == OHSM_OK ? 0 : -1;
}

static void slurp(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* A path that does not fit is an error and leaves "" behind, never a truncated path; one that
 * fits exactly (cap - 1 characters) is fine. */
static void test_files_path_truncation(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(ohsm_files_path(buf, sizeof(buf), "%s/%s", "abc", "def"), OHSM_OK);
    assert_string_equal(buf, "abc/def");
    assert_int_equal(ohsm_files_path(buf, sizeof(buf), "%s/%s", "abc", "defg"),
                     OHSM_BUFFER_TOO_SMALL);
    assert_string_equal(buf, "");
    assert_int_equal(ohsm_files_path(NULL, 8, "x"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_files_path(buf, 0, "x"), OHSM_ARGUMENTS_BAD);
}

/* mkdir makes 0700 directories, accepts an existing directory of ours, refuses an existing file,
 * a symlink, and a directory others can write to (left as it was). */
static void test_files_mkdir(void **state)
{
    (void)state;
    char p[128], f[128];
    struct stat st;
    snprintf(p, sizeof(p), "%s/d", dir);
    snprintf(f, sizeof(f), "%s/f", dir);
    assert_int_equal(ohsm_files_mkdir(p), OHSM_OK);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(ohsm_files_mkdir(p), OHSM_OK);
    assert_int_equal(ohsm_files_write_new(f, "x", 1, 0600), OHSM_OK);
    assert_int_equal(ohsm_files_mkdir(f), OHSM_IO);
    assert_int_equal(errno, ENOTDIR);
    snprintf(p, sizeof(p), "%s/no/such", dir);
    assert_int_equal(ohsm_files_mkdir(p), OHSM_IO);
    snprintf(p, sizeof(p), "%s/open", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(chmod(p, 0777), 0);
    assert_int_equal(ohsm_files_mkdir(p), OHSM_IO);
    assert_int_equal(errno, EPERM);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0777);
    assert_int_equal(chmod(p, 0755), 0);
    assert_int_equal(ohsm_files_mkdir(p), OHSM_OK);
    snprintf(f, sizeof(f), "%s/link", dir);
    assert_int_equal(symlink(p, f), 0);
    assert_int_equal(ohsm_files_mkdir(f), OHSM_IO);
    assert_int_equal(errno, ELOOP);
}

/* write_atomic replaces content and mode, leaves no temp file, and writes over a stale temp file
 * left by a crash; write_new never replaces. */
static void test_files_atomic_replace(void **state)
{
    (void)state;
    char p[128], tmp[160], text[64];
    struct stat st;
    snprintf(p, sizeof(p), "%s/hsm.pid", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    assert_int_equal(ohsm_files_write_atomic(p, "1\n", 2, 0644), OHSM_OK);
    assert_int_equal(ohsm_files_write_new(tmp, "junk", 4, 0600), OHSM_OK);
    assert_int_equal(ohsm_files_write_atomic(p, "22\n", 3, 0600), OHSM_OK);
    slurp(p, text, sizeof(text));
    assert_string_equal(text, "22\n");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(ohsm_files_write_new(p, "3\n", 2, 0600), OHSM_IO);
    assert_int_equal(errno, EEXIST);
    slurp(p, text, sizeof(text));
    assert_string_equal(text, "22\n");
}

/* remove_tree deletes a nested tree but only the link, not the target, of a symlink in it; a
 * missing path is fine. */
static void test_files_remove_tree(void **state)
{
    (void)state;
    char t[128], p[160], outside[128];
    snprintf(t, sizeof(t), "%s/tree", dir);
    snprintf(outside, sizeof(outside), "%s/outside", dir);
    assert_int_equal(ohsm_files_mkdir(t), OHSM_OK);
    assert_int_equal(ohsm_files_mkdir(outside), OHSM_OK);
    snprintf(p, sizeof(p), "%s/a", t);
    assert_int_equal(ohsm_files_mkdir(p), OHSM_OK);
    snprintf(p, sizeof(p), "%s/a/file", t);
    assert_int_equal(ohsm_files_write_new(p, "x", 1, 0600), OHSM_OK);
    snprintf(p, sizeof(p), "%s/keep", outside);
    assert_int_equal(ohsm_files_write_new(p, "x", 1, 0600), OHSM_OK);
    snprintf(p, sizeof(p), "%s/link", t);
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(ohsm_files_remove_tree(t), OHSM_OK);
    assert_int_equal(access(t, F_OK), -1);
    snprintf(p, sizeof(p), "%s/keep", outside);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(ohsm_files_remove_tree(t), OHSM_OK);
}

/* tail: a missing file is an error; an empty file gives ""; a short file comes whole; a long one
 * gives its end starting at a line boundary and never more than cap - 1 bytes. */
static void test_files_tail(void **state)
{
    (void)state;
    char p[128], out[32], big[4096];
    snprintf(p, sizeof(p), "%s/hsm.log", dir);
    assert_int_equal(ohsm_files_tail(p, out, sizeof(out)), OHSM_IO);
    assert_int_equal(ohsm_files_tail(p, out, 1), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_files_write_new(p, "", 0, 0600), OHSM_OK);
    assert_int_equal(ohsm_files_tail(p, out, sizeof(out)), OHSM_OK);
    assert_string_equal(out, "");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(ohsm_files_write_new(p, "one\ntwo\n", 8, 0600), OHSM_OK);
    assert_int_equal(ohsm_files_tail(p, out, sizeof(out)), OHSM_OK);
    assert_string_equal(out, "one\ntwo\n");
    assert_int_equal(unlink(p), 0);
    size_t n = 0;
    for (int i = 0; n + 16 < sizeof(big); i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "line %04d\n", i);
    }
    assert_int_equal(ohsm_files_write_new(p, big, n, 0600), OHSM_OK);
    assert_int_equal(ohsm_files_tail(p, out, sizeof(out)), OHSM_OK);
    assert_true(strlen(out) < sizeof(out));
    assert_memory_equal(out, "line ", 5);
    size_t len = strlen(out);
    assert_memory_equal(out, big + n - len, len);
}

/* check_owned: our 0700/0755 directories and 0600/0644 files pass; group/other-writable ones,
 * another owner, symlinks, and secrets open to others are refused with the path named. */
static void test_files_check_owned(void **state)
{
    (void)state;
    char p[128], l[128], why[512];
    const uid_t me = geteuid();
    assert_int_equal(ohsm_files_check_owned(NULL, me, false, why, sizeof(why)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_files_check_owned(dir, me, false, why, sizeof(why)), OHSM_OK);
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(ohsm_files_check_owned(dir, me, false, why, sizeof(why)), OHSM_OK);
    assert_int_equal(chmod(dir, 0770), 0);
    assert_int_equal(ohsm_files_check_owned(dir, me, false, why, sizeof(why)), OHSM_ACCESS_DENIED);
    assert_non_null(strstr(why, dir));
    assert_non_null(strstr(why, "writable by group or others (mode 0770"));
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(ohsm_files_check_owned(dir, me, false, NULL, 0), OHSM_ACCESS_DENIED);
    assert_int_equal(chmod(dir, 0700), 0);
    /* Another owner (simulated by asking for another uid). */
    assert_int_equal(ohsm_files_check_owned(dir, me + 1, false, why, sizeof(why)),
                     OHSM_ACCESS_DENIED);
    assert_non_null(strstr(why, "not by openhsmd's user"));
    snprintf(p, sizeof(p), "%s/hsm.key", dir);
    assert_int_equal(ohsm_files_write_new(p, "k", 1, 0600), OHSM_OK);
    assert_int_equal(ohsm_files_check_owned(p, me, true, why, sizeof(why)), OHSM_OK);
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(ohsm_files_check_owned(p, me, true, why, sizeof(why)), OHSM_ACCESS_DENIED);
    assert_non_null(strstr(why, "holds a secret"));
    assert_int_equal(ohsm_files_check_owned(p, me, false, why, sizeof(why)), OHSM_OK);
    assert_int_equal(chmod(p, 0602), 0);
    assert_int_equal(ohsm_files_check_owned(p, me, false, why, sizeof(why)), OHSM_ACCESS_DENIED);
    snprintf(l, sizeof(l), "%s/link", dir);
    assert_int_equal(symlink(p, l), 0);
    assert_int_equal(ohsm_files_check_owned(l, me, false, why, sizeof(why)), OHSM_ACCESS_DENIED);
    assert_non_null(strstr(why, "a symbolic link"));
    snprintf(l, sizeof(l), "%s/missing", dir);
    assert_int_equal(ohsm_files_check_owned(l, me, false, why, sizeof(why)), OHSM_IO);
    assert_int_equal(errno, ENOENT);
    assert_true(ohsm_files_is_secret("masking.key"));
    assert_true(ohsm_files_is_secret("app_user.secret"));
    assert_false(ohsm_files_is_secret(".key"));
    assert_false(ohsm_files_is_secret("hsm.crt"));
    assert_false(ohsm_files_is_secret(NULL));
}

/* check_tree: a clean tree passes; any bad entry at any depth is refused and named; the walk
 * creates nothing. */
static void test_files_check_tree(void **state)
{
    (void)state;
    char a[128], b[128], k[160], why[512];
    const uid_t me = geteuid();
    snprintf(a, sizeof(a), "%s/clusters", dir);
    snprintf(b, sizeof(b), "%s/clusters/c1", dir);
    snprintf(k, sizeof(k), "%s/clusters/c1/masking.key", dir);
    assert_int_equal(ohsm_files_mkdir(a), OHSM_OK);
    assert_int_equal(ohsm_files_mkdir(b), OHSM_OK);
    assert_int_equal(ohsm_files_write_new(k, "k", 1, 0600), OHSM_OK);
    assert_int_equal(ohsm_files_check_tree(dir, me, why, sizeof(why)), OHSM_OK);
    assert_int_equal(ohsm_files_check_tree(dir, me + 1, why, sizeof(why)), OHSM_ACCESS_DENIED);
    assert_int_equal(chmod(b, 0777), 0);
    assert_int_equal(ohsm_files_check_tree(dir, me, why, sizeof(why)), OHSM_ACCESS_DENIED);
    assert_non_null(strstr(why, b));
    assert_int_equal(chmod(b, 0700), 0);
    assert_int_equal(chmod(k, 0644), 0);
    assert_int_equal(ohsm_files_check_tree(dir, me, why, sizeof(why)), OHSM_ACCESS_DENIED);
    assert_non_null(strstr(why, k));
    assert_int_equal(chmod(k, 0600), 0);
    assert_int_equal(ohsm_files_check_tree(dir, me, why, sizeof(why)), OHSM_OK);
    assert_int_equal(ohsm_files_check_tree(NULL, me, why, sizeof(why)), OHSM_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_path_truncation),
        cmocka_unit_test_setup_teardown(test_files_mkdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_atomic_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_remove_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_check_owned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_check_tree, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
