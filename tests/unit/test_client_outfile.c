/* SPDX-License-Identifier: Apache-2.0
 * Output files of the front ends: new files get exactly the mode asked for; an existing file is
 * replaced whole and loses its old mode; symlinks, directories and FIFOs are refused and left
 * alone; failures and aborts leave no temporary file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/outfile.h"

static char dir[64];
static char err[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ohsm-outfile-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static size_t entries(void)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static void slurp(const char *p, char *out, size_t cap)
{
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static mode_t mode_of(const char *p)
{
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode & 07777;
}

/* A new file: the content, exactly the mode asked for whatever the umask, no temp left. */
static void test_client_outfile_new(void **state)
{
    (void)state;
    char p[128], text[64];
    path_of(p, sizeof(p), "a.key");
    mode_t old = umask(0);
    assert_int_equal(ohsm_outfile_write(p, "secret", 6, 0600, err, sizeof(err)), OHSM_OK);
    (void)umask(old);
    slurp(p, text, sizeof(text));
    assert_string_equal(text, "secret");
    assert_int_equal(mode_of(p), 0600);
    path_of(p, sizeof(p), "pub.pem");
    old = umask(077);
    assert_int_equal(ohsm_outfile_write(p, "", 0, 0644, err, sizeof(err)), OHSM_OK);
    (void)umask(old);
    assert_int_equal(mode_of(p), 0644);
    assert_int_equal(entries(), 2);
}

/* An existing 0644 (or read-only) file is replaced whole and ends up with the mode asked for. */
static void test_client_outfile_replace(void **state)
{
    (void)state;
    char p[128], text[64];
    path_of(p, sizeof(p), "tok.json");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("a much longer old content that must go", f);
    fclose(f);
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(ohsm_outfile_write(p, "{}", 2, 0600, err, sizeof(err)), OHSM_OK);
    slurp(p, text, sizeof(text));
    assert_string_equal(text, "{}");
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(chmod(p, 0400), 0);
    assert_int_equal(ohsm_outfile_write(p, "[1]", 3, 0600, err, sizeof(err)), OHSM_OK);
    slurp(p, text, sizeof(text));
    assert_string_equal(text, "[1]");
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(entries(), 1);
}

/* A symlink (dangling or not), a directory and a FIFO are refused; each is left as it was and
 * the symlink's target is untouched. */
static void test_client_outfile_refused(void **state)
{
    (void)state;
    char p[128], t[128], text[64];
    path_of(t, sizeof(t), "victim");
    assert_int_equal(ohsm_outfile_write(t, "keep", 4, 0644, err, sizeof(err)), OHSM_OK);
    path_of(p, sizeof(p), "link");
    assert_int_equal(symlink(t, p), 0);
    assert_int_equal(ohsm_outfile_write(p, "evil", 4, 0600, err, sizeof(err)), OHSM_IO);
    assert_non_null(strstr(err, "symbolic link"));
    slurp(t, text, sizeof(text));
    assert_string_equal(text, "keep");
    assert_int_equal(mode_of(t), 0644);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    path_of(p, sizeof(p), "dangling");
    path_of(t, sizeof(t), "would-be-created");
    assert_int_equal(symlink(t, p), 0);
    assert_int_equal(ohsm_outfile_write(p, "evil", 4, 0600, err, sizeof(err)), OHSM_IO);
    assert_int_equal(access(t, F_OK), -1);
    assert_int_equal(ohsm_outfile_write(dir, "x", 1, 0600, err, sizeof(err)), OHSM_IO);
    assert_non_null(strstr(err, "Is a directory"));
    path_of(p, sizeof(p), "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(ohsm_outfile_write(p, "x", 1, 0600, err, sizeof(err)), OHSM_IO);
    assert_non_null(strstr(err, "not a regular file"));
    path_of(p, sizeof(p), "no/such/dir/f");
    assert_int_equal(ohsm_outfile_write(p, "x", 1, 0600, err, sizeof(err)), OHSM_IO);
    assert_non_null(strstr(err, "No such file or directory"));
    assert_int_equal(ohsm_outfile_write("", "x", 1, 0600, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_outfile_write(NULL, "x", 1, 0600, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_outfile_write(p, NULL, 1, 0600, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
    assert_int_equal(entries(), 4); /* victim, link, dangling, fifo: no temp files */
}

/* Streaming: the target changes only at commit; abort leaves it (and the directory) as before. */
static void test_client_outfile_stream(void **state)
{
    (void)state;
    char p[128], text[64];
    struct ohsm_outfile f;
    path_of(p, sizeof(p), "out.txt");
    assert_int_equal(ohsm_outfile_write(p, "old", 3, 0600, err, sizeof(err)), OHSM_OK);
    assert_int_equal(ohsm_outfile_open(&f, p, 0600, err, sizeof(err)), OHSM_OK);
    assert_int_equal(write(f.fd, "new", 3), 3);
    slurp(p, text, sizeof(text));
    assert_string_equal(text, "old");
    ohsm_outfile_abort(&f);
    ohsm_outfile_abort(&f);
    slurp(p, text, sizeof(text));
    assert_string_equal(text, "old");
    assert_int_equal(entries(), 1);
    assert_int_equal(ohsm_outfile_open(&f, p, 0600, err, sizeof(err)), OHSM_OK);
    assert_int_equal(write(f.fd, "new", 3), 3);
    assert_int_equal(ohsm_outfile_commit(&f, err, sizeof(err)), OHSM_OK);
    slurp(p, text, sizeof(text));
    assert_string_equal(text, "new");
    assert_int_equal(entries(), 1);
    assert_int_equal(ohsm_outfile_commit(&f, err, sizeof(err)), OHSM_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_outfile_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_outfile_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_outfile_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_outfile_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
