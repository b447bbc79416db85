/* SPDX-License-Identifier: Apache-2.0
 * The control plane's shared request helpers (cp.c via cp_int.h): pagination (NextToken is the
 * decimal index of the next item; garbage, a sign, an overflow or an index past the end refused),
 * Filters (known names only, each a list of strings) and TagList rules (Key and Value, no
 * duplicates, no aws: prefix). And the metadata the control plane keeps beside the clusters
 * (meta.c): the backups table (add, set_state, order, rows that are not what openhsmd wrote) and
 * the attributes of an id (set, get, replace, delete, drop, bounds, damaged rows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "cloud/cp_int.h"
#include "cloud/files.h"
#include "cloud/meta.h"
#include "http/http.h"

#define INVALID "CloudHsmInvalidRequestException"
#define TAG_ERR "CloudHsmTagException"

/* ---- pagination ---- */

static json_t *req(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    assert_non_null(j);
    return j;
}

/* Runs ohsm_cp_page on the JSON request text; returns its result, the range in from and to. */
static int page(const char *text, size_t total, size_t *from, size_t *to, struct ohsm_aws_err *err)
{
    json_t *in = req(text);
    memset(err, 0, sizeof(*err));
    *from = *to = 12345;
    int r = ohsm_cp_page(in, total, 25, from, to, err);
    json_decref(in);
    return r;
}

/* Without NextToken or MaxResults: the first max_default items, or all when fewer. */
static void test_cp_page_defaults(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    size_t from, to;
    assert_int_equal(page("{}", 0, &from, &to, &err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, 0);
    assert_int_equal(page("{}", 7, &from, &to, &err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, 7);
    assert_int_equal(page("{}", 60, &from, &to, &err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, 25);
    /* An empty token is no token. */
    assert_int_equal(page("{\"NextToken\": \"\"}", 60, &from, &to, &err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, 25);
}

/* MaxResults bounds the page; the token of a page resumes where it ended; the last page has no
 * NextToken; a token equal to the total is an empty last page. */
static void test_cp_page_walk(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    size_t from, to;
    char text[96];
    const char *tok = NULL;
    size_t seen = 0, pages = 0;
    json_t *out = NULL;

    assert_int_equal(page("{\"MaxResults\": 1000}", 5, &from, &to, &err), 0);
    assert_int_equal(to, 5);
    snprintf(text, sizeof(text), "{\"MaxResults\": 2}");
    for (;;) {
        assert_true(pages < 10);
        assert_int_equal(page(text, 5, &from, &to, &err), 0);
        assert_int_equal(from, seen);
        assert_int_equal(to - from, seen + 2 <= 5 ? 2 : 5 - seen);
        seen = to;
        pages++;
        out = json_object();
        assert_non_null(out);
        ohsm_cp_next_token(out, to, 5);
        tok = json_string_value(json_object_get(out, "NextToken"));
        if (tok == NULL) {
            assert_null(json_object_get(out, "NextToken"));
            json_decref(out);
            break;
        }
        snprintf(text, sizeof(text), "{\"MaxResults\": 2, \"NextToken\": \"%s\"}", tok);
        json_decref(out);
    }
    assert_int_equal(pages, 3);
    assert_int_equal(seen, 5);
    out = json_object();
    ohsm_cp_next_token(out, 2, 5);
    assert_string_equal(json_string_value(json_object_get(out, "NextToken")), "2");
    json_decref(out);
    assert_int_equal(page("{\"NextToken\": \"5\"}", 5, &from, &to, &err), 0);
    assert_int_equal(from, 5);
    assert_int_equal(to, 5);
    assert_int_equal(page("{\"NextToken\": \"0\", \"MaxResults\": 3}", 5, &from, &to, &err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, 3);
}

/* Every token we did not make is refused with CloudHsmInvalidRequestException (400). */
static void test_cp_page_bad_tokens(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "abc",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1x",
        "0x1",
        "6",
        "99999999999999999999",
        "18446744073709551615",
        "1.5",
        "\\u0661",
    };
    struct ohsm_aws_err err;
    size_t from, to;
    char text[96];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "{\"NextToken\": \"%s\"}", bad[i]);
        assert_int_equal(page(text, 5, &from, &to, &err), -1);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.type, INVALID);
        assert_string_equal(err.msg, "The NextToken is not valid.");
    }
    /* A token past the end of an empty list. */
    assert_int_equal(page("{\"NextToken\": \"1\"}", 0, &from, &to, &err), -1);
    assert_string_equal(err.type, INVALID);
}

/* ---- filters ---- */

static const char *const names[] = {"clusterIds", "states", "vpcIds"};

static int filters(const char *text, struct ohsm_aws_err *err)
{
    json_t *in = req(text);
    memset(err, 0, sizeof(*err));
    int r = ohsm_cp_filters(in, names, 3, err);
    json_decref(in);
    return r;
}

/* Known names with lists of strings (empty lists too) pass; no Filters at all passes. */
static void test_cp_filters_ok(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    assert_int_equal(filters("{}", &err), 0);
    assert_int_equal(filters("{\"Filters\": {}}", &err), 0);
    assert_int_equal(filters("{\"Filters\": {\"clusterIds\": [\"cluster-aaaaaaaaaaa\"], "
                             "\"states\": [], \"vpcIds\": [\"vpc-1\", \"vpc-2\"]}}",
                             &err),
                     0);
    assert_string_equal(err.type, "");
}

/* An unknown name, a map that is not a map, a value that is not a list, an item that is not a
 * string: CloudHsmInvalidRequestException with a message naming the problem. */
static void test_cp_filters_bad(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    assert_int_equal(filters("{\"Filters\": {\"clusterIds\": [], \"nope\": [\"x\"]}}", &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, INVALID);
    assert_string_equal(err.msg, "Invalid filter: nope");
    /* Names are exact (case matters), as botocore's model spells them. */
    assert_int_equal(filters("{\"Filters\": {\"ClusterIds\": []}}", &err), -1);
    assert_string_equal(err.msg, "Invalid filter: ClusterIds");
    assert_int_equal(filters("{\"Filters\": [\"clusterIds\"]}", &err), -1);
    assert_string_equal(err.msg, "Filters must be a map.");
    assert_int_equal(filters("{\"Filters\": \"clusterIds\"}", &err), -1);
    assert_string_equal(err.msg, "Filters must be a map.");
    assert_int_equal(filters("{\"Filters\": {\"states\": \"ACTIVE\"}}", &err), -1);
    assert_string_equal(err.msg, "Filter states must be a list of strings.");
    assert_int_equal(filters("{\"Filters\": {\"states\": {\"a\": \"ACTIVE\"}}}", &err), -1);
    assert_string_equal(err.msg, "Filter states must be a list of strings.");
    assert_int_equal(filters("{\"Filters\": {\"vpcIds\": [\"vpc-1\", 2]}}", &err), -1);
    assert_string_equal(err.type, INVALID);
    assert_string_equal(err.msg, "Filter vpcIds must be a list of strings.");
    assert_int_equal(filters("{\"Filters\": {\"vpcIds\": [null]}}", &err), -1);
    assert_int_equal(filters("{\"Filters\": {\"vpcIds\": [[\"vpc-1\"]]}}", &err), -1);
}

/* No filter matches everything; a list matches exactly its strings. */
static void test_cp_filter_has(void **state)
{
    (void)state;
    json_t *f = req("[\"ACTIVE\", \"DEGRADED\"]");
    json_t *empty = req("[]");
    assert_true(ohsm_cp_filter_has(NULL, "ACTIVE"));
    assert_true(ohsm_cp_filter_has(f, "ACTIVE"));
    assert_true(ohsm_cp_filter_has(f, "DEGRADED"));
    assert_false(ohsm_cp_filter_has(f, "active"));
    assert_false(ohsm_cp_filter_has(f, "ACTIVE "));
    assert_false(ohsm_cp_filter_has(f, ""));
    assert_false(ohsm_cp_filter_has(empty, "ACTIVE"));
    json_decref(f);
    json_decref(empty);
}

/* ---- tags ---- */

static int tags(const char *text, struct ohsm_aws_err *err)
{
    json_t *t = req(text);
    memset(err, 0, sizeof(*err));
    int r = ohsm_cp_check_tags(t, err);
    json_decref(t);
    return r;
}

/* Distinct keys with values (an empty value too) pass; keys differing only in case are
 * distinct. */
static void test_cp_tags_ok(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    assert_int_equal(tags("[]", &err), 0);
    assert_int_equal(tags("[{\"Key\": \"env\", \"Value\": \"test\"}, "
                          "{\"Key\": \"Env\", \"Value\": \"\"}, "
                          "{\"Key\": \"awsome\", \"Value\": \"x\"}]",
                          &err),
                     0);
    assert_string_equal(err.type, "");
}

/* A repeated key (wherever it repeats), the reserved aws: prefix, a missing or non-string Key
 * or Value, an item that is not an object: CloudHsmTagException (400). */
static void test_cp_tags_bad(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    assert_int_equal(
        tags("[{\"Key\": \"a\", \"Value\": \"1\"}, {\"Key\": \"b\", \"Value\": \"2\"}, "
             "{\"Key\": \"a\", \"Value\": \"3\"}]",
             &err),
        -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, TAG_ERR);
    assert_string_equal(err.msg, "Duplicate tag key: a");
    assert_int_equal(
        tags("[{\"Key\": \"a\", \"Value\": \"1\"}, {\"Key\": \"a\", \"Value\": \"1\"}]", &err), -1);
    assert_string_equal(err.msg, "Duplicate tag key: a");
    assert_int_equal(tags("[{\"Key\": \"aws:owner\", \"Value\": \"me\"}]", &err), -1);
    assert_string_equal(err.type, TAG_ERR);
    assert_string_equal(err.msg, "Tag keys may not begin with aws:");
    assert_int_equal(tags("[{\"Key\": \"aws:\", \"Value\": \"\"}]", &err), -1);
    static const char *const missing[] = {
        "[{\"Key\": \"a\"}]",
        "[{\"Value\": \"a\"}]",
        "[{\"Key\": \"a\", \"Value\": null}]",
        "[{\"Key\": \"a\", \"Value\": 1}]",
        "[{\"Key\": 1, \"Value\": \"a\"}]",
        "[{\"Key\": \"a\", \"Value\": \"1\"}, \"b\"]",
        "[[\"Key\", \"Value\"]]",
    };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        assert_int_equal(tags(missing[i], &err), -1);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.type, TAG_ERR);
        assert_string_equal(err.msg, "Each tag needs a Key and a Value.");
    }
}

/* ---- metadata: backups and attributes ---- */

static char dir[64];
static char dbpath[128];
static struct ohsm_meta *meta;

static int meta_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ohsm-cp-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(dbpath, sizeof(dbpath), "%s/openhsmd.db", dir);
    return ohsm_meta_open(dbpath, &meta) == OHSM_OK ? 0 : -1;
}

static int meta_teardown(void **state)
{
    (void)state;
    ohsm_meta_close(meta);
    meta = NULL;
    return ohsm_files_remove_tree(dir) == OHSM_OK ? 0 : -1;
}

static void sql(const char *q)
{
    assert_int_equal(sqlite3_exec(ohsm_meta_sqlite(meta), q, NULL, NULL, NULL), SQLITE_OK);
}

static struct ohsm_meta_backup backup(const char *id, const char *cid, int64_t at)
{
    struct ohsm_meta_backup b;
    memset(&b, 0, sizeof(b));
    snprintf(b.id, sizeof(b.id), "%s", id);
    snprintf(b.region, sizeof(b.region), "us-east-1");
    snprintf(b.cluster_id, sizeof(b.cluster_id), "%s", cid);
    b.state = OHSM_BS_CREATE_IN_PROGRESS;
    b.created_at = at;
    return b;
}

#define B1 "backup-aaaaaaaaaaa"
#define B2 "backup-bbbbbbbbbbb"
#define B3 "backup-ccccccccccc"
#define C1 "cluster-ccccccccccc"

/* Backups come back as written, oldest first (ties in insertion order), with their states;
 * set_state changes one row; reopening the database keeps them. */
static void test_cp_meta_backups_round_trip(void **state)
{
    (void)state;
    struct ohsm_meta_backup *l = NULL;
    size_t n = 99;
    struct ohsm_meta_backup b1 = backup(B1, C1, 200), b2 = backup(B2, C1, 100),
                            b3 = backup(B3, C1, 200);
    assert_int_equal(ohsm_meta_backup_list(meta, &l, &n), OHSM_OK);
    assert_int_equal(n, 0);
    assert_null(l);
    snprintf(b3.region, sizeof(b3.region), "eu-west-1");
    assert_int_equal(ohsm_meta_backup_add(meta, &b1), OHSM_OK);
    assert_int_equal(ohsm_meta_backup_add(meta, &b2), OHSM_OK);
    assert_int_equal(ohsm_meta_backup_add(meta, &b3), OHSM_OK);
    assert_int_equal(ohsm_meta_backup_set_state(meta, B1, OHSM_BS_READY), OHSM_OK);
    assert_int_equal(ohsm_meta_backup_set_state(meta, B3, OHSM_BS_PENDING_DELETION), OHSM_OK);
    ohsm_meta_close(meta);
    assert_int_equal(ohsm_meta_open(dbpath, &meta), OHSM_OK);
    assert_int_equal(ohsm_meta_backup_list(meta, &l, &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(l[0].id, B2);
    assert_int_equal(l[0].state, OHSM_BS_CREATE_IN_PROGRESS);
    assert_int_equal(l[0].created_at, 100);
    assert_string_equal(l[1].id, B1);
    assert_int_equal(l[1].state, OHSM_BS_READY);
    assert_string_equal(l[1].region, "us-east-1");
    assert_string_equal(l[1].cluster_id, C1);
    assert_string_equal(l[2].id, B3);
    assert_int_equal(l[2].state, OHSM_BS_PENDING_DELETION);
    assert_string_equal(l[2].region, "eu-west-1");
    free(l);
    assert_string_equal(ohsm_meta_bstate_name(OHSM_BS_DELETED), "DELETED");
    assert_null(ohsm_meta_bstate_name(OHSM_BS_COUNT_));
}

/* Invalid backups are refused before SQL and change nothing: a duplicate id, a malformed id or
 * cluster id, an unknown state, a negative time; set_state of an unknown id or to no state. */
static void test_cp_meta_backups_bad(void **state)
{
    (void)state;
    struct ohsm_meta_backup *l = NULL;
    size_t n = 0;
    struct ohsm_meta_backup b = backup(B1, C1, 1);
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_OK);
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_DB);
    b = backup("backup-AAAAAAAAAAA", C1, 1);
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_ARGUMENTS_BAD);
    b = backup("backup-aaaa", C1, 1);
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_ARGUMENTS_BAD);
    b = backup("hsm-aaaaaaaaaaa", C1, 1);
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_ARGUMENTS_BAD);
    b = backup(B2, "cluster-x", 1);
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_ARGUMENTS_BAD);
    b = backup(B2, C1, -1);
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_ARGUMENTS_BAD);
    b = backup(B2, C1, 1);
    b.state = OHSM_BS_COUNT_;
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_ARGUMENTS_BAD);
    b = backup(B2, C1, 1);
    b.region[0] = '\0';
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_backup_set_state(meta, B2, OHSM_BS_READY), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_backup_set_state(meta, B1, OHSM_BS_COUNT_), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_backup_set_state(meta, NULL, OHSM_BS_READY), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_backup_list(meta, &l, &n), OHSM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].id, B1);
    assert_int_equal(l[0].state, OHSM_BS_CREATE_IN_PROGRESS);
    free(l);
}

/* A row that openhsmd did not write (edited by hand or damaged) makes the list OHSM_DB, never a
 * half-trusted value; each fixed row lists again. */
static void test_cp_meta_backups_tampered(void **state)
{
    (void)state;
    static const char *const damage[] = {
        "UPDATE backups SET state = 'READYISH'",
        "UPDATE backups SET state = 'ready'",
        "UPDATE backups SET id = 'backup-AAAAAAAAAAA'",
        "UPDATE backups SET id = 'cluster-aaaaaaaaaaa'",
        "UPDATE backups SET cluster_id = 'cluster-'",
        "UPDATE backups SET region = ''",
        "UPDATE backups SET region = 'us-east-1-and-a-region-name-far-too-long-to-fit'",
        "UPDATE backups SET created_at = -5",
        "UPDATE backups SET created_at = 'yesterday'",
        "UPDATE backups SET id = CAST('backup-aaaaaaaaaaa' AS BLOB)",
        "UPDATE backups SET region = 'us-east-1' || char(0) || 'x'",
    };
    struct ohsm_meta_backup *l = NULL;
    size_t n = 0;
    struct ohsm_meta_backup b = backup(B1, C1, 10);
    assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_OK);
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        sql("DELETE FROM backups");
        assert_int_equal(ohsm_meta_backup_add(meta, &b), OHSM_OK);
        assert_int_equal(ohsm_meta_backup_list(meta, &l, &n), OHSM_OK);
        assert_int_equal(n, 1);
        free(l);
        l = NULL;
        sql(damage[i]);
        print_message("damage: %s\n", damage[i]);
        assert_int_equal(ohsm_meta_backup_list(meta, &l, &n), OHSM_DB);
        assert_null(l);
    }
}

#define H1 "hsm-aaaaaaaaaaa"

/* Attributes: absent is NULL; set, replace, delete one (v NULL), drop every one of an id; other
 * ids are untouched. */
static void test_cp_meta_attrs(void **state)
{
    (void)state;
    char *v = (char *)"sentinel";
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "region", &v), OHSM_OK);
    assert_null(v);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "region", "us-east-1"), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "tags", "[]"), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_set(meta, H1, "region", "eu-west-1"), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "empty", ""), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "region", &v), OHSM_OK);
    assert_string_equal(v, "us-east-1");
    free(v);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "empty", &v), OHSM_OK);
    assert_string_equal(v, "");
    free(v);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "region", "us-west-2"), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "region", &v), OHSM_OK);
    assert_string_equal(v, "us-west-2");
    free(v);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "region", NULL), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "region", &v), OHSM_OK);
    assert_null(v);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "region", NULL), OHSM_OK); /* absent already */
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "tags", &v), OHSM_OK);
    assert_string_equal(v, "[]");
    free(v);
    assert_int_equal(ohsm_meta_attr_drop(meta, C1), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "tags", &v), OHSM_OK);
    assert_null(v);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "empty", &v), OHSM_OK);
    assert_null(v);
    assert_int_equal(ohsm_meta_attr_drop(meta, C1), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_get(meta, H1, "region", &v), OHSM_OK);
    assert_string_equal(v, "eu-west-1");
    free(v);
}

/* Bounds: an empty or over-long id or key, a value of 256 KiB or more, NULLs: refused and
 * nothing stored; just under the bound is kept whole. A damaged row (a blob, an embedded NUL)
 * reads as OHSM_DB. */
static void test_cp_meta_attrs_bad(void **state)
{
    (void)state;
    char *v = NULL;
    char long_key[80];
    const size_t max = 256u * 1024u;
    char *big = malloc(max + 1);
    assert_non_null(big);
    memset(big, 'x', max);
    big[max] = '\0';
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(ohsm_meta_attr_set(meta, "", "k", "v"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "", "v"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, long_key, "v"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(
        ohsm_meta_attr_set(meta, "cluster-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "k", "v"),
        OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_attr_set(meta, NULL, "k", "v"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, NULL, "v"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "big", big), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "big", &v), OHSM_OK);
    assert_null(v);
    big[max - 1] = '\0';
    assert_int_equal(ohsm_meta_attr_set(meta, C1, "big", big), OHSM_OK);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "big", &v), OHSM_OK);
    assert_non_null(v);
    assert_int_equal(strlen(v), max - 1);
    free(v);
    free(big);
    assert_int_equal(ohsm_meta_attr_get(meta, NULL, "k", &v), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "k", NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_meta_attr_drop(meta, NULL), OHSM_ARGUMENTS_BAD);

    assert_int_equal(ohsm_meta_attr_set(meta, C1, "region", "us-east-1"), OHSM_OK);
    sql("UPDATE attrs SET v = CAST('us-east-1' AS BLOB) WHERE k = 'region'");
    v = (char *)"sentinel";
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "region", &v), OHSM_DB);
    assert_null(v);
    sql("UPDATE attrs SET v = 'us-east-1' || char(0) || 'x' WHERE k = 'region'");
    assert_int_equal(ohsm_meta_attr_get(meta, C1, "region", &v), OHSM_DB);
    assert_null(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cp_page_defaults),
        cmocka_unit_test(test_cp_page_walk),
        cmocka_unit_test(test_cp_page_bad_tokens),
        cmocka_unit_test(test_cp_filters_ok),
        cmocka_unit_test(test_cp_filters_bad),
        cmocka_unit_test(test_cp_filter_has),
        cmocka_unit_test(test_cp_tags_ok),
        cmocka_unit_test(test_cp_tags_bad),
        cmocka_unit_test_setup_teardown(test_cp_meta_backups_round_trip, meta_setup, meta_teardown),
        cmocka_unit_test_setup_teardown(test_cp_meta_backups_bad, meta_setup, meta_teardown),
        cmocka_unit_test_setup_teardown(test_cp_meta_backups_tampered, meta_setup, meta_teardown),
        cmocka_unit_test_setup_teardown(test_cp_meta_attrs, meta_setup, meta_teardown),
        cmocka_unit_test_setup_teardown(test_cp_meta_attrs_bad, meta_setup, meta_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
