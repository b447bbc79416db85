/* SPDX-License-Identifier: Apache-2.0
 * Cluster configuration parsing: a good file, and each way a file can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/internal.h"

static char dir[64];

static ohsm_rv load_text(const char *text, struct ohsm_cfg **cfg, char *err, size_t cap)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/client.json", dir);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return ohsm_cfg_load(p, cfg, err, cap);
}

/* A good file loads; the trust anchor resolves next to it; timeout defaults to 5000 ms. */
static void test_cfg_good(void **state)
{
    (void)state;
    struct ohsm_cfg *c = NULL;
    char err[256] = "";
    assert_int_equal(load_text("{\"cluster_id\":\"cluster-abc\",\"trust_anchor\":\"ca.crt\","
                               "\"hsms\":[{\"id\":\"hsm-a\",\"host\":\"127.0.0.1\",\"port\":1234},"
                               "{\"host\":\"localhost\",\"port\":65535}]}",
                               &c, err, sizeof(err)),
                     OHSM_OK);
    assert_int_equal(ohsm_cfg_hsm_count(c), 2);
    assert_string_equal(ohsm_cfg_cluster_id(c), "cluster-abc");
    assert_int_equal(c->timeout_ms, 5000);
    assert_int_equal(c->hsms[1].port, 65535);
    assert_string_equal(c->hsms[1].id, "");
    char want[128];
    snprintf(want, sizeof(want), "%s/ca.crt", dir);
    assert_string_equal(c->trust_anchor, want);
    ohsm_cfg_free(c);
}

/* Each malformed file is refused with a message, and nothing is returned. */
static void test_cfg_bad(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[]",
        "{\"cluster_id\":\"c\"}",
        "{\"cluster_id\":\"c\",\"trust_anchor\":\"a\",\"hsms\":[]}",
        "{\"cluster_id\":\"c\",\"trust_anchor\":\"a\",\"hsms\":[{\"host\":\"h\",\"port\":0}]}",
        "{\"cluster_id\":\"c\",\"trust_anchor\":\"a\",\"hsms\":[{\"host\":\"h\",\"port\":70000}]}",
        "{\"cluster_id\":\"c\",\"trust_anchor\":\"a\",\"hsms\":[{\"host\":\"h\",\"port\":\"1\"}]}",
        "{\"cluster_id\":\"c\",\"trust_anchor\":\"a\",\"hsms\":[{\"port\":1}]}",
        "{\"cluster_id\":\"c\",\"trust_anchor\":\"a\",\"timeout_ms\":5,"
        "\"hsms\":[{\"host\":\"h\",\"port\":1}]}",
        "{\"cluster_id\":\"c\",\"cluster_id\":\"d\",\"trust_anchor\":\"a\","
        "\"hsms\":[{\"host\":\"h\",\"port\":1}]}",
        "{\"cluster_id\":\"0123456789012345678901234567890123\",\"trust_anchor\":\"a\","
        "\"hsms\":[{\"host\":\"h\",\"port\":1}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ohsm_cfg *c = NULL;
        char err[256] = "";
        assert_int_equal(load_text(bad[i], &c, err, sizeof(err)), OHSM_CONFIG);
        assert_null(c);
        assert_true(strlen(err) > 0);
    }
    struct ohsm_cfg *c = NULL;
    assert_int_equal(ohsm_cfg_load(NULL, &c, NULL, 0), OHSM_CONFIG);
    assert_int_equal(ohsm_cfg_load("/nonexistent/x.json", &c, NULL, 0), OHSM_CONFIG);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "%s", "/tmp/ohsm-cfg-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_bad),
        cmocka_unit_test(test_cfg_good),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        rc = 1;
    }
    return rc;
}
