/* SPDX-License-Identifier: Apache-2.0
 * The credentials file: INI shape, both keys per section, repeats and strays refused, file
 * permissions checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/creds.h"

static struct ohsm_creds *parse(const char *s, ohsm_rv want)
{
    struct ohsm_creds *c = NULL;
    char msg[160] = "";
    assert_int_equal(ohsm_creds_parse(s, strlen(s), &c, msg, sizeof(msg)), want);
    if (want != OHSM_OK) {
        assert_null(c);
        assert_true(msg[0] != '\0');
    }
    return c;
}

/* Two profiles with comments, spaces and unrelated keys; secrets land byte for byte. */
static void test_creds_parse(void **state)
{
    (void)state;
    struct ohsm_creds *c =
        parse("# comment\n[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\r\n"
              "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \n"
              "region = us-east-1\n\n; other\n[other]\n"
              "aws_secret_access_key = s2\naws_access_key_id = test\n"
              "[empty]\nregion=eu-west-1\n",
              OHSM_OK);
    assert_int_equal(ohsm_creds_count(c), 2);
    const struct ohsm_secret *s = ohsm_creds_find(c, "AKIAIOSFODNN7EXAMPLE");
    assert_non_null(s);
    assert_int_equal(ohsm_secret_len(s), 40);
    assert_memory_equal(ohsm_secret_data(s), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 40);
    s = ohsm_creds_find(c, "test");
    assert_non_null(s);
    assert_memory_equal(ohsm_secret_data(s), "s2", 2);
    assert_null(ohsm_creds_find(c, "AKIAIOSFODNN7EXAMPLf"));
    assert_null(ohsm_creds_find(c, ""));
    ohsm_creds_free(c);
}

/* Each malformed file is refused as OHSM_CONFIG with a message. */
static void test_creds_refuses(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "[default]\n",
        "aws_access_key_id = A\naws_secret_access_key = s\n",
        "[default]\naws_access_key_id = A\n",
        "[default]\naws_secret_access_key = s\n",
        "[default]\naws_access_key_id = A\naws_access_key_id = B\naws_secret_access_key = s\n",
        "[a]\naws_access_key_id = A\naws_secret_access_key = s\n[b]\naws_access_key_id = A\n"
        "aws_secret_access_key = t\n",
        "[default\naws_access_key_id = A\naws_secret_access_key = s\n",
        "[default]\naws_access_key_id A\naws_secret_access_key = s\n",
        "[default]\naws_access_key_id = A-B\naws_secret_access_key = s\n",
        "[default]\naws_access_key_id = A\naws_secret_access_key =\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("bad[%zu]\n", i);
        (void)parse(bad[i], OHSM_CONFIG);
    }
    struct ohsm_creds *c = NULL;
    char msg[64];
    assert_int_equal(ohsm_creds_parse("[d]\naws_access_key_id = A\0B\naws_secret_access_key = s\n",
                                      50, &c, msg, sizeof(msg)),
                     OHSM_CONFIG);
    assert_null(c);
}

static void write_file(const char *path, const char *s, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(s, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* 0600 loads; group- or other-readable files, symlinks and missing files are refused. */
static void test_creds_file_mode(void **state)
{
    (void)state;
    char dir[] = "/tmp/ohsm-creds-XXXXXX";
    char path[128], link[128];
    char msg[200];
    struct ohsm_creds *c = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/credentials", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    write_file(path, "[default]\naws_access_key_id = AKID\naws_secret_access_key = s\n", 0600);
    assert_int_equal(ohsm_creds_load(path, &c, msg, sizeof(msg)), OHSM_OK);
    assert_int_equal(ohsm_creds_count(c), 1);
    ohsm_creds_free(c);
    c = NULL;
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(ohsm_creds_load(path, &c, msg, sizeof(msg)), OHSM_CONFIG);
    assert_non_null(strstr(msg, "chmod 600"));
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(ohsm_creds_load(path, &c, msg, sizeof(msg)), OHSM_CONFIG);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(ohsm_creds_load(link, &c, msg, sizeof(msg)), OHSM_CONFIG);
    assert_int_equal(ohsm_creds_load("/nonexistent/credentials", &c, msg, sizeof(msg)),
                     OHSM_CONFIG);
    assert_int_equal(ohsm_creds_load(dir, &c, msg, sizeof(msg)), OHSM_CONFIG);
    assert_null(c);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creds_parse),
        cmocka_unit_test(test_creds_refuses),
        cmocka_unit_test(test_creds_file_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
