/* SPDX-License-Identifier: Apache-2.0
 * openhsmd metadata: state names, schema creation and reopening, round trips, uniqueness, and
 * refusal of rows or databases that are not what openhsmd wrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cloud/files.h"
#include "cloud/meta.h"

static char dir[64];
static char db[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ohsm-meta-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(db, sizeof(db), "%s/openhsmd.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return ohsm_files_remove_tree(dir) == OHSM_OK ? 0 : -1;
}

static struct ohsm_meta_cluster cluster(const char *id, int64_t t)
{
    struct ohsm_meta_cluster c;
    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", id);
    c.state = OHSM_CS_INITIALIZED;
    snprintf(c.hsm_type, sizeof(c.hsm_type), "%s", OHSM_META_HSM_TYPE_DEFAULT);
    c.lockout_attempts = 5;
    c.created_at = t;
    return c;
}

static struct ohsm_meta_hsm hsm(const char *id, const char *cid, uint32_t seq, uint16_t port)
{
    struct ohsm_meta_hsm h;
    memset(&h, 0, sizeof(h));
    snprintf(h.id, sizeof(h.id), "%s", id);
    snprintf(h.cluster_id, sizeof(h.cluster_id), "%s", cid);
    h.seq = seq;
    snprintf(h.host, sizeof(h.host), "127.0.0.1");
    h.port = port;
    h.state = OHSM_HS_ACTIVE;
    h.created_at = 1700000000;
    return h;
}

/* State names are the CloudHSM API strings; out-of-range values and unknown names are refused. */
static void test_meta_state_names(void **state)
{
    (void)state;
    enum ohsm_meta_cstate c;
    enum ohsm_meta_hstate h;
    assert_null(ohsm_meta_cstate_name(OHSM_CS_COUNT_));
    assert_null(ohsm_meta_cstate_name((enum ohsm_meta_cstate) - 1));
    assert_null(ohsm_meta_hstate_name(OHSM_HS_COUNT_));
    assert_int_equal(ohsm_meta_cstate_parse(NULL, &c), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_cstate_parse("", &c), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_cstate_parse("active", &c), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_hstate_parse("ACTIVE ", &h), OHSM_ARGUMENTS_BAD);
    for (unsigned i = 0; i < OHSM_CS_COUNT_; i++) {
        assert_int_equal(ohsm_meta_cstate_parse(ohsm_meta_cstate_name(i), &c), OHSM_OK);
        assert_int_equal(c, i);
    }
    for (unsigned i = 0; i < OHSM_HS_COUNT_; i++) {
        assert_int_equal(ohsm_meta_hstate_parse(ohsm_meta_hstate_name(i), &h), OHSM_OK);
        assert_int_equal(h, i);
    }
    assert_string_equal(ohsm_meta_cstate_name(OHSM_CS_INITIALIZED), "INITIALIZED");
    assert_string_equal(ohsm_meta_hstate_name(OHSM_HS_ACTIVE), "ACTIVE");
}

/* A new database is empty; invalid rows are refused without being stored. */
static void test_meta_empty_and_invalid(void **state)
{
    (void)state;
    struct ohsm_meta *m = NULL;
    struct ohsm_meta_cluster *cs = NULL;
    size_t n = 99;
    assert_int_equal(ohsm_meta_open(NULL, &m), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
    assert_int_equal(ohsm_meta_cluster_list(m, &cs, &n), OHSM_OK);
    assert_int_equal(n, 0);
    assert_null(cs);

    struct ohsm_meta_cluster c = cluster("cluster-aaaaaaaaaaa", 1);
    c.lockout_attempts = 0;
    assert_int_equal(ohsm_meta_cluster_add(m, &c), OHSM_ARGUMENTS_BAD);
    c = cluster("cluster-AAAAAAAAAAA", 1);
    assert_int_equal(ohsm_meta_cluster_add(m, &c), OHSM_ARGUMENTS_BAD);
    c = cluster("cluster-aaaaaaaaaaa", 1);
    c.state = OHSM_CS_COUNT_;
    assert_int_equal(ohsm_meta_cluster_add(m, &c), OHSM_ARGUMENTS_BAD);
    struct ohsm_meta_hsm h = hsm("hsm-aaaaaaaaaaa", "cluster-aaaaaaaaaaa", 0, 0);
    assert_int_equal(ohsm_meta_hsm_add(m, &h), OHSM_ARGUMENTS_BAD); /* port 0 */
    h = hsm("hsm-aaaaaaaaaaa", "cluster-aaaaaaaaaaa", 0, 4000);
    assert_int_equal(ohsm_meta_hsm_add(m, &h), OHSM_DB); /* no such cluster (foreign key) */
    assert_int_equal(ohsm_meta_cluster_list(m, &cs, &n), OHSM_OK);
    assert_int_equal(n, 0);
    ohsm_meta_close(m);
}

/* What is written is read back field for field, in order, across a close and reopen; duplicate
 * ids and ports are refused; a rolled-back transaction leaves nothing. */
static void test_meta_round_trip(void **state)
{
    (void)state;
    struct ohsm_meta *m = NULL;
    struct ohsm_meta_cluster *cs = NULL;
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;

    assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
    assert_int_equal(ohsm_meta_begin(m), OHSM_OK);
    assert_int_equal(ohsm_meta_begin(m), OHSM_ARGUMENTS_BAD); /* no nesting */
    struct ohsm_meta_cluster c1 = cluster("cluster-bbbbbbbbbbb", 200);
    struct ohsm_meta_cluster c2 = cluster("cluster-ccccccccccc", 100);
    c2.lockout_attempts = 20;
    assert_int_equal(ohsm_meta_cluster_add(m, &c1), OHSM_OK);
    assert_int_equal(ohsm_meta_cluster_add(m, &c2), OHSM_OK);
    struct ohsm_meta_hsm h1 = hsm("hsm-bbbbbbbbbbd", c1.id, 1, 40001);
    struct ohsm_meta_hsm h0 = hsm("hsm-bbbbbbbbbbc", c1.id, 0, 40000);
    struct ohsm_meta_hsm h2 = hsm("hsm-ccccccccccc", c2.id, 0, 40002);
    assert_int_equal(ohsm_meta_hsm_add(m, &h1), OHSM_OK);
    assert_int_equal(ohsm_meta_hsm_add(m, &h0), OHSM_OK);
    assert_int_equal(ohsm_meta_hsm_add(m, &h2), OHSM_OK);
    assert_int_equal(ohsm_meta_commit(m), OHSM_OK);

    struct ohsm_meta_hsm dup_port = hsm("hsm-ddddddddddd", c1.id, 2, 40000);
    assert_int_equal(ohsm_meta_hsm_add(m, &dup_port), OHSM_DB);
    struct ohsm_meta_hsm dup_seq = hsm("hsm-ddddddddddd", c1.id, 0, 40003);
    assert_int_equal(ohsm_meta_hsm_add(m, &dup_seq), OHSM_DB);
    assert_int_equal(ohsm_meta_cluster_add(m, &c1), OHSM_DB);

    assert_int_equal(ohsm_meta_begin(m), OHSM_OK);
    struct ohsm_meta_cluster gone = cluster("cluster-ddddddddddd", 300);
    assert_int_equal(ohsm_meta_cluster_add(m, &gone), OHSM_OK);
    ohsm_meta_rollback(m);
    ohsm_meta_rollback(m); /* outside a transaction: no-op */
    assert_int_equal(ohsm_meta_cluster_set_state(m, c1.id, OHSM_CS_ACTIVE), OHSM_OK);
    assert_int_equal(ohsm_meta_cluster_set_state(m, gone.id, OHSM_CS_ACTIVE), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_hsm_set_state(m, h2.id, OHSM_HS_DEGRADED), OHSM_OK);
    ohsm_meta_close(m);

    assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
    assert_int_equal(ohsm_meta_cluster_list(m, &cs, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(cs[0].id, c2.id); /* creation order */
    assert_int_equal(cs[0].lockout_attempts, 20);
    assert_int_equal(cs[0].created_at, 100);
    assert_int_equal(cs[0].state, OHSM_CS_INITIALIZED);
    assert_string_equal(cs[0].hsm_type, "hsm1.medium");
    assert_string_equal(cs[1].id, c1.id);
    assert_int_equal(cs[1].state, OHSM_CS_ACTIVE);
    free(cs);

    assert_int_equal(ohsm_meta_hsm_list(m, c1.id, &hs, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(hs[0].id, h0.id); /* seq order */
    assert_int_equal(hs[0].port, 40000);
    assert_string_equal(hs[0].host, "127.0.0.1");
    assert_string_equal(hs[0].cluster_id, c1.id);
    assert_string_equal(hs[1].id, h1.id);
    free(hs);
    assert_int_equal(ohsm_meta_hsm_list(m, NULL, &hs, &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(hs[0].id, h2.id); /* cluster c2 was created first */
    assert_int_equal(hs[0].state, OHSM_HS_DEGRADED);
    free(hs);
    assert_int_equal(ohsm_meta_hsm_list(m, "cluster-zzzzzzzzzzz", &hs, &n), OHSM_OK);
    assert_int_equal(n, 0);
    ohsm_meta_close(m);
}

static void sql(const char *stmt)
{
    sqlite3 *d = NULL;
    assert_int_equal(sqlite3_open(db, &d), SQLITE_OK);
    assert_int_equal(sqlite3_exec(d, stmt, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(d);
}

/* Rows damaged behind openhsmd's back make the list fail with OHSM_DB instead of returning them. */
static void test_meta_damaged_rows(void **state)
{
    (void)state;
    struct ohsm_meta *m = NULL;
    struct ohsm_meta_cluster *cs = NULL;
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    const char *damage[] = {
        "UPDATE hsms SET port = 70000 WHERE seq = 0",
        "UPDATE hsms SET port = '4x' WHERE seq = 0",
        "UPDATE hsms SET state = 'BROKEN' WHERE seq = 0",
        "UPDATE hsms SET id = 'hsm-aa/../aaaaa' WHERE seq = 0",
        "UPDATE hsms SET host = '' WHERE seq = 0",
        "UPDATE clusters SET lockout_attempts = 0",
    };
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        assert_int_equal(teardown(NULL), 0);
        assert_int_equal(setup(NULL), 0);
        assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
        struct ohsm_meta_cluster c = cluster("cluster-eeeeeeeeeee", 1);
        struct ohsm_meta_hsm h = hsm("hsm-eeeeeeeeeee", c.id, 0, 40000);
        assert_int_equal(ohsm_meta_cluster_add(m, &c), OHSM_OK);
        assert_int_equal(ohsm_meta_hsm_add(m, &h), OHSM_OK);
        ohsm_meta_close(m);
        sql(damage[i]);
        assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
        ohsm_rv a = ohsm_meta_hsm_list(m, NULL, &hs, &n);
        ohsm_rv b = ohsm_meta_cluster_list(m, &cs, &n);
        assert_true(a == OHSM_DB || b == OHSM_DB);
        if (a == OHSM_OK) {
            free(hs);
        }
        if (b == OHSM_OK) {
            free(cs);
        }
        ohsm_meta_close(m);
    }
}

/* A database of an unknown (newer) schema version is refused, not misread. */
static void test_meta_newer_schema(void **state)
{
    (void)state;
    struct ohsm_meta *m = NULL;
    assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
    ohsm_meta_close(m);
    sql("PRAGMA user_version = 3");
    m = NULL;
    assert_int_equal(ohsm_meta_open(db, &m), OHSM_DB);
    assert_null(m);
}

/* A version 1 database (before issue 12) is upgraded in place: its clusters stay, attributes
 * work, and the upgrade is not repeated. */
static void test_meta_upgrade_v1(void **state)
{
    (void)state;
    struct ohsm_meta *m = NULL;
    struct ohsm_meta_cluster c = {.state = OHSM_CS_ACTIVE, .hsm_type = "hsm1.medium",
                                  .lockout_attempts = 5, .created_at = 1};
    char *v = NULL;
    memcpy(c.id, "cluster-abcdefghijk", sizeof("cluster-abcdefghijk"));
    assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
    assert_int_equal(ohsm_meta_cluster_add(m, &c), OHSM_OK);
    ohsm_meta_close(m);
    sql("DROP TABLE attrs; PRAGMA user_version = 1");
    m = NULL;
    assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
    struct ohsm_meta_cluster *cs = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_meta_cluster_list(m, &cs, &n), OHSM_OK);
    assert_int_equal(n, 1);
    free(cs);
    assert_int_equal(ohsm_meta_attr_get(m, c.id, "region", &v), OHSM_OK);
    assert_null(v);
    assert_int_equal(ohsm_meta_attr_set(m, c.id, "region", "us-west-2"), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_get(m, c.id, "region", &v), OHSM_OK);
    assert_string_equal(v, "us-west-2");
    free(v);
    assert_int_equal(ohsm_meta_attr_set(m, c.id, "region", NULL), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_get(m, c.id, "region", &v), OHSM_OK);
    assert_null(v);
    assert_int_equal(ohsm_meta_attr_set(m, "", "region", "x"), OHSM_ARGUMENTS_BAD);
    ohsm_meta_close(m);
    m = NULL;
    assert_int_equal(ohsm_meta_open(db, &m), OHSM_OK);
    ohsm_meta_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_state_names),
        cmocka_unit_test_setup_teardown(test_meta_empty_and_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_damaged_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_upgrade_v1, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
