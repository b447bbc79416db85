/* SPDX-License-Identifier: Apache-2.0
 * The KMS store (kms/store.h) in SQLite: file mode and schema, round trips of every field of every
 * record, ordering, not-found and duplicate codes, bad input refused without a change, cascade on
 * key delete, transactions (rollback, commit, a failed call inside one, the hold on other
 * threads), reopening, rows tampered with through raw SQLite, and four threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cloud/files.h"
#include "kms/store.h"

static char dir[64];
static char db[128];

#define ID1 "11111111-2222-4333-8444-555555555555"
#define ID2 "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define ID3 "01234567-89ab-4cde-8f01-23456789abcd"
#define MID1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define GID1 "a000000000000000000000000000000000000000000000000000000000000001"
#define GID2 "b000000000000000000000000000000000000000000000000000000000000002"
#define REGION "us-east-1"

static int setup(void **state)
{
    struct ohsm_kms_store *s = NULL;
    snprintf(dir, sizeof(dir), "/tmp/ohsm-kstore-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    snprintf(db, sizeof(db), "%s/kms.db", dir);
    if (ohsm_kms_store_open(db, &s) != OHSM_OK) {
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    ohsm_kms_store_close(*state);
    return ohsm_files_remove_tree(dir) == OHSM_OK ? 0 : -1;
}

/* A key with every field set to a value distinct from its zero. */
static struct ohsm_kms_key key(const char *id, int64_t created_ms)
{
    struct ohsm_kms_key k;
    memset(&k, 0, sizeof(k));
    snprintf(k.id, sizeof(k.id), "%s", id);
    snprintf(k.region, sizeof(k.region), REGION);
    snprintf(k.account, sizeof(k.account), "111122223333");
    k.created_ms = created_ms;
    k.spec = OHSM_KSPEC_RSA_3072;
    k.usage = OHSM_KUSE_SIGN_VERIFY;
    k.origin = OHSM_KORIGIN_EXTERNAL;
    k.state = OHSM_KSTATE_PENDING_DELETION;
    k.saved_state = OHSM_KSTATE_DISABLED;
    k.description = (char *)"d\xc3\xa9scription \"quoted\"";
    k.deletion_date = 1800000000;
    k.pending_window_days = 7;
    k.expiration = OHSM_KEXP_EXPIRES;
    k.valid_to = 1900000000;
    k.rotation_enabled = true;
    k.rotation_period_days = 2560;
    k.next_rotation = 1700000123;
    k.on_demand_rotation_started = 1700000456;
    k.cur_version = 3;
    snprintf(k.custom_key_store_id, sizeof(k.custom_key_store_id), "cks-1234567890abcdef0");
    snprintf(k.cluster_id, sizeof(k.cluster_id), "cluster-abcdefghijk");
    k.backing_handle = UINT64_MAX - 5;
    snprintf(k.import_id, sizeof(k.import_id), "%s", MID1);
    return k;
}

static void key_equal(const struct ohsm_kms_key *a, const struct ohsm_kms_key *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->region, b->region);
    assert_string_equal(a->account, b->account);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->spec, b->spec);
    assert_int_equal(a->usage, b->usage);
    assert_int_equal(a->origin, b->origin);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->saved_state, b->saved_state);
    assert_string_equal(a->description, b->description);
    assert_int_equal(a->deletion_date, b->deletion_date);
    assert_int_equal(a->pending_window_days, b->pending_window_days);
    assert_int_equal(a->expiration, b->expiration);
    assert_int_equal(a->valid_to, b->valid_to);
    assert_int_equal(a->rotation_enabled, b->rotation_enabled);
    assert_int_equal(a->rotation_period_days, b->rotation_period_days);
    assert_int_equal(a->next_rotation, b->next_rotation);
    assert_int_equal(a->on_demand_rotation_started, b->on_demand_rotation_started);
    assert_int_equal(a->cur_version, b->cur_version);
    assert_string_equal(a->custom_key_store_id, b->custom_key_store_id);
    assert_string_equal(a->cluster_id, b->cluster_id);
    assert_true(a->backing_handle == b->backing_handle);
    assert_string_equal(a->import_id, b->import_id);
}

static uint8_t sealed_bytes[48];

static struct ohsm_kms_material material(const char *key_id, uint32_t version)
{
    struct ohsm_kms_material m;
    memset(&m, 0, sizeof(m));
    snprintf(m.key_id, sizeof(m.key_id), "%s", key_id);
    m.version = version;
    snprintf(m.material_id, sizeof(m.material_id), "%s", MID1);
    m.kind = OHSM_MKIND_ON_DEMAND;
    m.created = 1700000000 + version;
    for (size_t i = 0; i < sizeof(sealed_bytes); i++) {
        sealed_bytes[i] = (uint8_t)(i * 7 + version);
    }
    m.sealed = sealed_bytes;
    m.sealed_len = sizeof(sealed_bytes);
    return m;
}

static struct ohsm_kms_alias alias(const char *name, const char *key_id, int64_t t)
{
    struct ohsm_kms_alias a;
    memset(&a, 0, sizeof(a));
    snprintf(a.name, sizeof(a.name), "%s", name);
    snprintf(a.key_id, sizeof(a.key_id), "%s", key_id);
    snprintf(a.region, sizeof(a.region), REGION);
    a.created = t;
    a.updated = t + 1;
    return a;
}

static struct ohsm_kms_grant grant(const char *gid, const char *key_id, const char *token,
                                   int64_t created)
{
    struct ohsm_kms_grant g;
    memset(&g, 0, sizeof(g));
    snprintf(g.grant_id, sizeof(g.grant_id), "%s", gid);
    snprintf(g.key_id, sizeof(g.key_id), "%s", key_id);
    g.token = (char *)token;
    g.name = (char *)"my-grant";
    g.grantee = (char *)"arn:aws:iam::111122223333:role/app";
    g.retiring = (char *)"arn:aws:iam::111122223333:role/ops";
    g.issuing_account = (char *)"arn:aws:iam::111122223333:root";
    g.operations_json = (char *)"[\"Encrypt\",\"Decrypt\"]";
    g.constraints_json = (char *)"{\"EncryptionContextSubset\":{\"a\":\"b\"}}";
    g.created = created;
    return g;
}

static uint8_t import_priv[100];

static struct ohsm_kms_import import(const char *key_id, int64_t expires)
{
    struct ohsm_kms_import p;
    memset(&p, 0, sizeof(p));
    snprintf(p.key_id, sizeof(p.key_id), "%s", key_id);
    snprintf(p.token_id, sizeof(p.token_id), "%s", GID2);
    p.wrapping_alg = 3;
    p.wrapping_spec = 4096;
    memset(import_priv, 0x5a, sizeof(import_priv));
    p.sealed_private = import_priv;
    p.sealed_private_len = sizeof(import_priv);
    p.expires = expires;
    return p;
}

static void put_key(struct ohsm_kms_store *s, const char *id, int64_t created_ms)
{
    struct ohsm_kms_key k = key(id, created_ms);
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_OK);
}

/* Runs SQL on the database through a connection of its own (the tamperer). */
static void raw_sql(const char *sql)
{
    sqlite3 *r = NULL;
    assert_int_equal(sqlite3_open(db, &r), SQLITE_OK);
    sqlite3_busy_timeout(r, 5000);
    char *err = NULL;
    int rc = sqlite3_exec(r, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "raw sql %s: %s\n", sql, err != NULL ? err : "?");
    }
    sqlite3_free(err);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(r);
}

static int64_t raw_count(const char *sql)
{
    sqlite3 *r = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(db, &r), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(r, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(r);
    return v;
}

/* NULL and malformed arguments are refused; a path that is no file fails with OHSM_DB and a
 * reason. */
static void test_kms_store_open_args(void **state)
{
    struct ohsm_kms_store *s = *state, *t = (struct ohsm_kms_store *)1;
    char path[160];
    assert_int_equal(ohsm_kms_store_open(NULL, &t), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_open(db, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_open("", &t), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_open(dir, &t), OHSM_DB); /* a directory */
    assert_null(t);
    assert_non_null(strstr(ohsm_kms_store_errstr(NULL), dir));
    snprintf(path, sizeof(path), "%s/missing/kms.db", dir);
    assert_int_equal(ohsm_kms_store_open(path, &t), OHSM_DB);
    ohsm_kms_store_close(NULL);
    ohsm_kms_store_rollback(NULL);
    assert_int_equal(ohsm_kms_store_begin(NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_commit(NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_key_put(s, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_key_put(NULL, NULL), OHSM_ARGUMENTS_BAD);
    assert_string_equal(ohsm_kms_store_errstr(s), "kms store: no error");
}

/* The file is created 0600 whatever the umask, WAL files too; the schema is the current version, in WAL. */
static void test_kms_store_file_mode_and_schema(void **state)
{
    (void)state;
    struct ohsm_kms_store *s = NULL;
    struct stat sb;
    char path[160], wal[170];
    snprintf(path, sizeof(path), "%s/other.db", dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    mode_t old = umask(0);
    assert_int_equal(ohsm_kms_store_open(path, &s), OHSM_OK);
    put_key(s, ID1, 1);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    ohsm_kms_store_close(s);
    umask(old);
    /* An existing store readable by others is tightened. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(ohsm_kms_store_open(path, &s), OHSM_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    ohsm_kms_store_close(s);
    assert_int_equal(raw_count("PRAGMA user_version"), 3);
    sqlite3 *r = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(db, &r), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(r, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(r);
}

/* A database of a newer schema is refused, not misread. */
static void test_kms_store_newer_schema(void **state)
{
    struct ohsm_kms_store *s = *state;
    put_key(s, ID1, 1);
    raw_sql("PRAGMA user_version = 4");
    struct ohsm_kms_store *t = NULL;
    assert_int_equal(ohsm_kms_store_open(db, &t), OHSM_DB);
    assert_null(t);
    assert_non_null(strstr(ohsm_kms_store_errstr(NULL), "schema version 4"));
}

/* A version 1 database (before import_id) is migrated on open: its keys get import_id "". */
static void test_kms_store_migrate_v1(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_key k;
    put_key(s, ID1, 1);
    ohsm_kms_store_close(s);
    *state = NULL;
    raw_sql("ALTER TABLE keys DROP COLUMN import_id; DROP TABLE custom_key_stores; "
            "PRAGMA user_version = 1");
    assert_int_equal(ohsm_kms_store_open(db, &s), OHSM_OK);
    *state = s;
    assert_int_equal(raw_count("PRAGMA user_version"), 3);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &k), OHSM_OK);
    assert_string_equal(k.import_id, "");
    assert_int_equal(k.spec, OHSM_KSPEC_RSA_3072);
    ohsm_kms_key_clear(&k);
    k = key(ID1, 1);
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_OK);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &k), OHSM_OK);
    assert_string_equal(k.import_id, MID1);
    ohsm_kms_key_clear(&k);
}

/* Every field of a key comes back as written; a put of an existing id replaces it in place
 * without touching what belongs to it. */
static void test_kms_store_key_round_trip(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_key k = key(ID1, 1700000000123), out;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_OK);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &out), OHSM_OK);
    key_equal(&k, &out);
    ohsm_kms_key_clear(&out);
    assert_null(out.description);

    struct ohsm_kms_material m = material(ID1, 1);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_OK);
    /* Replace with other values, longest description and zeros. */
    char *desc = malloc(4 * 8192 + 1);
    assert_non_null(desc);
    memset(desc, 'x', 4 * 8192);
    desc[4 * 8192] = '\0';
    struct ohsm_kms_key k2;
    memset(&k2, 0, sizeof(k2));
    snprintf(k2.id, sizeof(k2.id), ID1);
    snprintf(k2.region, sizeof(k2.region), "eu-west-3");
    snprintf(k2.account, sizeof(k2.account), "000000000000");
    k2.spec = OHSM_KSPEC_HMAC_512;
    k2.usage = OHSM_KUSE_GENERATE_VERIFY_MAC;
    k2.origin = OHSM_KORIGIN_AWS_KMS;
    k2.state = OHSM_KSTATE_ENABLED;
    k2.description = desc;
    assert_int_equal(ohsm_kms_store_key_put(s, &k2), OHSM_OK);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &out), OHSM_OK);
    key_equal(&k2, &out);
    ohsm_kms_key_clear(&out);
    free(desc);
    /* The material survived the replace (no REPLACE-triggered cascade). */
    struct ohsm_kms_material mo;
    assert_int_equal(ohsm_kms_store_material_get(s, ID1, 1, &mo), OHSM_OK);
    ohsm_kms_material_clear(&mo);
    assert_int_equal(raw_count("SELECT count(*) FROM keys"), 1);
}

/* Keys that this store could not read back are refused on put, and nothing is written. */
static void test_kms_store_key_bad_input(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_key k = key(ID1, 1), out;
    const char *bad_ids[] = {"",
                             "11111111-2222-4333-8444-55555555555",
                             "11111111+2222-4333-8444-555555555555",
                             "11111111-2222-4333-8444-55555555555G",
                             "11111111-2222-4333-8444-55555555555A",
                             "111111112-222-4333-8444-555555555555"};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        k = key(ID1, 1);
        snprintf(k.id, sizeof(k.id), "%s", bad_ids[i]);
        assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    }
    k = key(ID1, 1);
    k.spec = 0;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    assert_non_null(strstr(ohsm_kms_store_errstr(s), "spec"));
    k = key(ID1, 1);
    k.spec = OHSM_KSPEC_HMAC_512 + 1;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    k.state = OHSM_KSTATE_UNAVAILABLE + 1;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    k.usage = 4;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    k.origin = 0;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    k.description = NULL;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    k.import_id[10] = 'g';
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    k.import_id[63] = '\0';
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    k.created_ms = -1;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    k.region[0] = '\0';
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    k = key(ID1, 1);
    memset(k.cluster_id, 'c', sizeof(k.cluster_id)); /* not NUL-terminated */
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    char *desc = malloc(4 * 8192 + 2);
    assert_non_null(desc);
    memset(desc, 'x', 4 * 8192 + 1);
    desc[4 * 8192 + 1] = '\0';
    k = key(ID1, 1);
    k.description = desc;
    assert_int_equal(ohsm_kms_store_key_put(s, &k), OHSM_ARGUMENTS_BAD);
    free(desc);
    assert_int_equal(raw_count("SELECT count(*) FROM keys"), 0);
    assert_int_equal(ohsm_kms_store_key_get(s, "not-a-uuid", &out), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_key_get(s, NULL, &out), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_key_delete(s, "x"), OHSM_ARGUMENTS_BAD);
}

/* Absent keys: KEY_HANDLE_INVALID from get and delete; the list is ordered by creation, then id;
 * an empty list is NULL and 0. */
static void test_kms_store_key_list_order(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_key out, *list = (struct ohsm_kms_key *)1;
    size_t n = 99;
    assert_int_equal(ohsm_kms_store_key_list(s, &list, &n), OHSM_OK);
    assert_null(list);
    assert_int_equal(n, 0);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &out), OHSM_KEY_HANDLE_INVALID);
    assert_non_null(strstr(ohsm_kms_store_errstr(s), ID1));
    assert_int_equal(ohsm_kms_store_key_delete(s, ID1), OHSM_KEY_HANDLE_INVALID);
    put_key(s, ID2, 5);
    put_key(s, ID1, 5);
    put_key(s, ID3, 3);
    assert_int_equal(ohsm_kms_store_key_list(s, &list, &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, ID3);
    assert_string_equal(list[1].id, ID1);
    assert_string_equal(list[2].id, ID2);
    struct ohsm_kms_key want = key(ID2, 5);
    key_equal(&list[2], &want);
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_key_clear(&list[i]);
    }
    free(list);
    assert_int_equal(ohsm_kms_store_key_delete(s, ID1), OHSM_OK);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &out), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_key_delete(s, ID1), OHSM_KEY_HANDLE_INVALID);
}

/* Material versions: round trip, duplicates, missing key, version order, delete_all. */
static void test_kms_store_material(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_material m = material(ID1, 2), out, *list = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_KEY_HANDLE_INVALID);
    put_key(s, ID1, 1);
    put_key(s, ID2, 2);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_OK);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_ATTRIBUTE_VALUE_INVALID);
    m = material(ID1, 3);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_OK);
    m = material(ID1, 1);
    m.kind = OHSM_MKIND_CREATED;
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_OK);
    m = material(ID2, 1);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_OK);

    assert_int_equal(ohsm_kms_store_material_get(s, ID1, 3, &out), OHSM_OK);
    m = material(ID1, 3);
    assert_string_equal(out.key_id, ID1);
    assert_int_equal(out.version, 3);
    assert_string_equal(out.material_id, MID1);
    assert_int_equal(out.kind, OHSM_MKIND_ON_DEMAND);
    assert_int_equal(out.created, 1700000003);
    assert_int_equal(out.sealed_len, sizeof(sealed_bytes));
    assert_memory_equal(out.sealed, m.sealed, sizeof(sealed_bytes));
    ohsm_kms_material_clear(&out);
    assert_int_equal(ohsm_kms_store_material_get(s, ID1, 4, &out), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_material_get(s, ID3, 1, &out), OHSM_KEY_HANDLE_INVALID);

    assert_int_equal(ohsm_kms_store_material_list(s, ID1, &list, &n), OHSM_OK);
    assert_int_equal(n, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(list[i].version, i + 1);
        ohsm_kms_material_clear(&list[i]);
    }
    assert_int_equal(list[0].kind, OHSM_MKIND_CREATED);
    free(list);

    /* Bad input changes nothing. */
    m = material(ID1, 9);
    m.material_id[63] = 'g';
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_ARGUMENTS_BAD);
    m = material(ID1, 9);
    m.material_id[63] = '\0';
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_ARGUMENTS_BAD);
    m = material(ID1, 0);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_ARGUMENTS_BAD);
    m = material(ID1, 9);
    m.kind = 4;
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_ARGUMENTS_BAD);
    m = material(ID1, 9);
    m.sealed_len = 0;
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_ARGUMENTS_BAD);
    m = material(ID1, 9);
    m.sealed_len = 64 * 1024 + 1;
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_ARGUMENTS_BAD);
    assert_int_equal(raw_count("SELECT count(*) FROM materials"), 4);

    assert_int_equal(ohsm_kms_store_material_delete_all(s, ID3), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_material_delete_all(s, ID1), OHSM_OK);
    assert_int_equal(ohsm_kms_store_material_list(s, ID1, &list, &n), OHSM_OK);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(ohsm_kms_store_material_delete_all(s, ID1), OHSM_OK); /* none left: fine */
    assert_int_equal(raw_count("SELECT count(*) FROM materials WHERE key_id = '" ID2 "'"), 1);
}

/* Aliases: add, duplicates per region, get, update (sets updated), list by region and key in
 * name order, delete, and the codes for absent aliases and keys. */
static void test_kms_store_alias(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_alias a = alias("alias/b", ID1, 10), out, *list = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_KEY_HANDLE_INVALID);
    put_key(s, ID1, 1);
    put_key(s, ID2, 2);
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_OK);
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_ATTRIBUTE_VALUE_INVALID);
    a = alias("alias/b", ID2, 10);
    snprintf(a.region, sizeof(a.region), "eu-west-1"); /* same name, another region */
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_OK);
    a = alias("alias/a", ID2, 11);
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_OK);
    a = alias("alias/aws/c:d_e-f", ID1, 12);
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_OK);

    assert_int_equal(ohsm_kms_store_alias_get(s, REGION, "alias/b", &out), OHSM_OK);
    assert_string_equal(out.name, "alias/b");
    assert_string_equal(out.key_id, ID1);
    assert_string_equal(out.region, REGION);
    assert_int_equal(out.created, 10);
    assert_int_equal(out.updated, 11);
    assert_int_equal(ohsm_kms_store_alias_get(s, REGION, "alias/none", &out),
                     OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_alias_get(s, "ap-south-1", "alias/b", &out),
                     OHSM_KEY_HANDLE_INVALID);

    assert_int_equal(ohsm_kms_store_alias_update(s, REGION, "alias/b", ID2, 99), OHSM_OK);
    assert_int_equal(ohsm_kms_store_alias_get(s, REGION, "alias/b", &out), OHSM_OK);
    assert_string_equal(out.key_id, ID2);
    assert_int_equal(out.created, 10);
    assert_int_equal(out.updated, 99);
    assert_int_equal(ohsm_kms_store_alias_update(s, REGION, "alias/none", ID2, 99),
                     OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_alias_update(s, REGION, "alias/b", ID3, 100),
                     OHSM_KEY_HANDLE_INVALID); /* no such key */
    assert_int_equal(ohsm_kms_store_alias_get(s, REGION, "alias/b", &out), OHSM_OK);
    assert_string_equal(out.key_id, ID2);

    assert_int_equal(ohsm_kms_store_alias_list(s, REGION, NULL, &list, &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].name, "alias/a");
    assert_string_equal(list[1].name, "alias/aws/c:d_e-f");
    assert_string_equal(list[2].name, "alias/b");
    free(list);
    assert_int_equal(ohsm_kms_store_alias_list(s, REGION, ID2, &list, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "alias/a");
    assert_string_equal(list[1].name, "alias/b");
    free(list);
    assert_int_equal(ohsm_kms_store_alias_list(s, "eu-west-1", ID1, &list, &n), OHSM_OK);
    assert_int_equal(n, 0);
    assert_null(list);

    /* Bad names and regions. */
    a = alias("b", ID1, 1);
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_ARGUMENTS_BAD);
    a = alias("alias/", ID1, 1);
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_ARGUMENTS_BAD);
    a = alias("alias/sp ace", ID1, 1);
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_ARGUMENTS_BAD);
    a = alias("alias/x", ID1, 1);
    a.region[0] = '\0';
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_alias_list(s, NULL, NULL, &list, &n), OHSM_ARGUMENTS_BAD);
    assert_int_equal(raw_count("SELECT count(*) FROM aliases"), 4);

    assert_int_equal(ohsm_kms_store_alias_delete(s, REGION, "alias/b"), OHSM_OK);
    assert_int_equal(ohsm_kms_store_alias_delete(s, REGION, "alias/b"), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_alias_get(s, REGION, "alias/b", &out), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_alias_get(s, "eu-west-1", "alias/b", &out), OHSM_OK);
}

static void grant_list_clear(struct ohsm_kms_grant *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_grant_clear(&list[i]);
    }
    free(list);
}

/* Grants: every field round trips; get by id (any key or one key) and by token; duplicates of id
 * or token; lists by key and by retiring principal in creation order; delete. */
static void test_kms_store_grant(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_grant g = grant(GID1, ID1, "token-one", 20), out, *list = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_KEY_HANDLE_INVALID);
    put_key(s, ID1, 1);
    put_key(s, ID2, 2);
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_OK);
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_ATTRIBUTE_VALUE_INVALID);
    g = grant(GID2, ID1, "token-one", 10);
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_ATTRIBUTE_VALUE_INVALID); /* token */
    g = grant(GID2, ID1, "token-two", 10);
    g.name = (char *)"";
    g.retiring = (char *)"";
    g.constraints_json = (char *)"";
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_OK);

    assert_int_equal(ohsm_kms_store_grant_get(s, NULL, GID1, NULL, &out), OHSM_OK);
    g = grant(GID1, ID1, "token-one", 20);
    assert_string_equal(out.grant_id, g.grant_id);
    assert_string_equal(out.key_id, g.key_id);
    assert_string_equal(out.token, g.token);
    assert_string_equal(out.name, g.name);
    assert_string_equal(out.grantee, g.grantee);
    assert_string_equal(out.retiring, g.retiring);
    assert_string_equal(out.issuing_account, g.issuing_account);
    assert_string_equal(out.operations_json, g.operations_json);
    assert_string_equal(out.constraints_json, g.constraints_json);
    assert_int_equal(out.created, 20);
    ohsm_kms_grant_clear(&out);
    assert_null(out.token);
    assert_int_equal(ohsm_kms_store_grant_get(s, ID1, GID1, NULL, &out), OHSM_OK);
    ohsm_kms_grant_clear(&out);
    assert_int_equal(ohsm_kms_store_grant_get(s, ID2, GID1, NULL, &out), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_grant_get(s, NULL, NULL, "token-two", &out), OHSM_OK);
    assert_string_equal(out.grant_id, GID2);
    assert_string_equal(out.name, "");
    assert_string_equal(out.constraints_json, "");
    ohsm_kms_grant_clear(&out);
    assert_int_equal(ohsm_kms_store_grant_get(s, NULL, NULL, "token-none", &out),
                     OHSM_KEY_HANDLE_INVALID);
    assert_null(strstr(ohsm_kms_store_errstr(s), "token-none")); /* a credential */
    assert_int_equal(ohsm_kms_store_grant_get(s, NULL, NULL, NULL, &out), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_grant_get(s, NULL, "abc", NULL, &out), OHSM_ARGUMENTS_BAD);

    assert_int_equal(ohsm_kms_store_grant_list(s, ID1, NULL, &list, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].grant_id, GID2); /* created 10 */
    assert_string_equal(list[1].grant_id, GID1); /* created 20 */
    grant_list_clear(list, n);
    assert_int_equal(ohsm_kms_store_grant_list(s, ID2, NULL, &list, &n), OHSM_OK);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(
        ohsm_kms_store_grant_list(s, NULL, "arn:aws:iam::111122223333:role/ops", &list, &n),
        OHSM_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].grant_id, GID1);
    grant_list_clear(list, n);
    assert_int_equal(ohsm_kms_store_grant_list(s, NULL, NULL, &list, &n), OHSM_ARGUMENTS_BAD);

    /* Bad input. */
    g = grant("a0", ID1, "t", 1);
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_ARGUMENTS_BAD);
    g = grant(GID1, ID1, "", 1);
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_ARGUMENTS_BAD);
    g = grant(GID1, ID1, "t", 1);
    g.grantee = NULL;
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_ARGUMENTS_BAD);
    g = grant(GID1, ID1, "t", 1);
    g.operations_json = (char *)"";
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_ARGUMENTS_BAD);
    assert_int_equal(raw_count("SELECT count(*) FROM grants"), 2);

    assert_int_equal(ohsm_kms_store_grant_delete(s, GID1), OHSM_OK);
    assert_int_equal(ohsm_kms_store_grant_delete(s, GID1), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_grant_get(s, NULL, GID1, NULL, &out), OHSM_KEY_HANDLE_INVALID);
    ohsm_kms_grant_clear(NULL);
}

/* Tags: set (an existing tag key gets the new value), remove (absent keys are fine), list in tag
 * key order; a missing key is KEY_HANDLE_INVALID; a bad tag in a batch sets none. */
static void test_kms_store_tags(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_tag tags[3], *list = NULL;
    size_t n = 0;
    memset(tags, 0, sizeof(tags));
    snprintf(tags[0].key, sizeof(tags[0].key), "zeta");
    snprintf(tags[0].value, sizeof(tags[0].value), "1");
    snprintf(tags[1].key, sizeof(tags[1].key), "alpha");
    snprintf(tags[2].key, sizeof(tags[2].key), "mid");
    snprintf(tags[2].value, sizeof(tags[2].value), "v");
    assert_int_equal(ohsm_kms_store_tag_set(s, ID1, tags, 3), OHSM_KEY_HANDLE_INVALID);
    put_key(s, ID1, 1);
    assert_int_equal(ohsm_kms_store_tag_set(s, ID1, tags, 3), OHSM_OK);
    snprintf(tags[0].value, sizeof(tags[0].value), "2");
    assert_int_equal(ohsm_kms_store_tag_set(s, ID1, tags, 1), OHSM_OK);
    assert_int_equal(ohsm_kms_store_tag_list(s, ID1, &list, &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].key, "alpha");
    assert_string_equal(list[0].value, "");
    assert_string_equal(list[1].key, "mid");
    assert_string_equal(list[1].value, "v");
    assert_string_equal(list[2].key, "zeta");
    assert_string_equal(list[2].value, "2");
    free(list);

    struct ohsm_kms_tag bad[2];
    memset(bad, 0, sizeof(bad));
    snprintf(bad[0].key, sizeof(bad[0].key), "new");
    /* bad[1].key empty: refused, and "new" is not set either */
    assert_int_equal(ohsm_kms_store_tag_set(s, ID1, bad, 2), OHSM_ARGUMENTS_BAD);
    assert_int_equal(raw_count("SELECT count(*) FROM tags"), 3);
    assert_int_equal(ohsm_kms_store_tag_set(s, ID1, NULL, 1), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_tag_set(s, ID1, NULL, 0), OHSM_OK);

    const char *rm[] = {"mid", "absent"};
    assert_int_equal(ohsm_kms_store_tag_remove(s, ID1, rm, 2), OHSM_OK);
    assert_int_equal(ohsm_kms_store_tag_remove(s, ID2, rm, 2), OHSM_KEY_HANDLE_INVALID);
    const char *rm_bad[] = {"alpha", ""};
    assert_int_equal(ohsm_kms_store_tag_remove(s, ID1, rm_bad, 2), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_tag_list(s, ID1, &list, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].key, "alpha");
    assert_string_equal(list[1].key, "zeta");
    free(list);
    assert_int_equal(ohsm_kms_store_tag_list(s, ID2, &list, &n), OHSM_OK);
    assert_int_equal(n, 0);
    assert_null(list);
}

/* Policies: put, get, replace; absent policy or key. */
static void test_kms_store_policy(void **state)
{
    struct ohsm_kms_store *s = *state;
    char *p = NULL;
    assert_int_equal(ohsm_kms_store_policy_put(s, ID1, "default", "{}"), OHSM_KEY_HANDLE_INVALID);
    put_key(s, ID1, 1);
    assert_int_equal(ohsm_kms_store_policy_get(s, ID1, "default", &p), OHSM_KEY_HANDLE_INVALID);
    assert_null(p);
    assert_int_equal(ohsm_kms_store_policy_put(s, ID1, "default", "{\"Version\":\"2012-10-17\"}"),
                     OHSM_OK);
    assert_int_equal(ohsm_kms_store_policy_get(s, ID1, "default", &p), OHSM_OK);
    assert_string_equal(p, "{\"Version\":\"2012-10-17\"}");
    free(p);
    assert_int_equal(ohsm_kms_store_policy_put(s, ID1, "default", "{\"x\":1}"), OHSM_OK);
    assert_int_equal(ohsm_kms_store_policy_get(s, ID1, "default", &p), OHSM_OK);
    assert_string_equal(p, "{\"x\":1}");
    free(p);
    assert_int_equal(ohsm_kms_store_policy_get(s, ID1, "other", &p), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_policy_put(s, ID1, "bad name", "{}"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_policy_put(s, ID1, "default", ""), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_policy_put(s, ID1, "default", NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(raw_count("SELECT count(*) FROM policies"), 1);
}

/* Import parameters: one set per key (a put replaces), get, delete, absent ones. */
static void test_kms_store_import(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_import p = import(ID1, 500), out;
    assert_int_equal(ohsm_kms_store_import_put(s, &p), OHSM_KEY_HANDLE_INVALID);
    put_key(s, ID1, 1);
    assert_int_equal(ohsm_kms_store_import_get(s, ID1, &out), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_import_put(s, &p), OHSM_OK);
    p.expires = 600;
    p.wrapping_spec = 2048;
    p.wrapping_alg = 1;
    assert_int_equal(ohsm_kms_store_import_put(s, &p), OHSM_OK);
    assert_int_equal(ohsm_kms_store_import_get(s, ID1, &out), OHSM_OK);
    assert_string_equal(out.key_id, ID1);
    assert_string_equal(out.token_id, GID2);
    assert_int_equal(out.wrapping_alg, 1);
    assert_int_equal(out.wrapping_spec, 2048);
    assert_int_equal(out.expires, 600);
    assert_int_equal(out.sealed_private_len, sizeof(import_priv));
    assert_memory_equal(out.sealed_private, import_priv, sizeof(import_priv));
    ohsm_kms_import_clear(&out);
    assert_null(out.sealed_private);
    ohsm_kms_import_clear(NULL);
    assert_int_equal(raw_count("SELECT count(*) FROM imports"), 1);
    p.sealed_private_len = 0;
    assert_int_equal(ohsm_kms_store_import_put(s, &p), OHSM_ARGUMENTS_BAD);
    p = import(ID1, 1);
    p.token_id[0] = 'x';
    assert_int_equal(ohsm_kms_store_import_put(s, &p), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_import_delete(s, ID1), OHSM_OK);
    assert_int_equal(ohsm_kms_store_import_delete(s, ID1), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_import_get(s, ID1, &out), OHSM_KEY_HANDLE_INVALID);
}

/* Writes one of everything for key id. */
static void fill_key(struct ohsm_kms_store *s, const char *id, const char *gid, const char *tok,
                     const char *alias_name)
{
    put_key(s, id, 1);
    struct ohsm_kms_material m = material(id, 1);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_OK);
    m = material(id, 2);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_OK);
    struct ohsm_kms_alias a = alias(alias_name, id, 1);
    assert_int_equal(ohsm_kms_store_alias_add(s, &a), OHSM_OK);
    struct ohsm_kms_grant g = grant(gid, id, tok, 1);
    assert_int_equal(ohsm_kms_store_grant_add(s, &g), OHSM_OK);
    struct ohsm_kms_tag t;
    memset(&t, 0, sizeof(t));
    snprintf(t.key, sizeof(t.key), "k");
    assert_int_equal(ohsm_kms_store_tag_set(s, id, &t, 1), OHSM_OK);
    assert_int_equal(ohsm_kms_store_policy_put(s, id, "default", "{}"), OHSM_OK);
    struct ohsm_kms_import p = import(id, 1);
    assert_int_equal(ohsm_kms_store_import_put(s, &p), OHSM_OK);
}

static int64_t rows_of(const char *id)
{
    static const char sql[] = "SELECT (SELECT count(*) FROM keys WHERE id = ?1) + "
                              "(SELECT count(*) FROM materials WHERE key_id = ?1) + "
                              "(SELECT count(*) FROM aliases WHERE key_id = ?1) + "
                              "(SELECT count(*) FROM grants WHERE key_id = ?1) + "
                              "(SELECT count(*) FROM tags WHERE key_id = ?1) + "
                              "(SELECT count(*) FROM policies WHERE key_id = ?1) + "
                              "(SELECT count(*) FROM imports WHERE key_id = ?1)";
    sqlite3 *r = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(db, &r), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(r, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(r);
    return v;
}

/* Deleting a key removes everything that belongs to it and nothing of another key. */
static void test_kms_store_key_delete_cascades(void **state)
{
    struct ohsm_kms_store *s = *state;
    fill_key(s, ID1, GID1, "tok1", "alias/one");
    fill_key(s, ID2, GID2, "tok2", "alias/two");
    assert_int_equal(rows_of(ID1), 8);
    assert_int_equal(ohsm_kms_store_key_delete(s, ID1), OHSM_OK);
    assert_int_equal(rows_of(ID1), 0);
    assert_int_equal(rows_of(ID2), 8);
    struct ohsm_kms_alias a;
    struct ohsm_kms_grant g;
    assert_int_equal(ohsm_kms_store_alias_get(s, REGION, "alias/one", &a), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_grant_get(s, NULL, NULL, "tok1", &g), OHSM_KEY_HANDLE_INVALID);
}

/* Rollback leaves nothing of a transaction; commit keeps all; a failed call inside one changes
 * nothing and leaves the rest of the transaction intact; misuse is refused. */
static void test_kms_store_transactions(void **state)
{
    struct ohsm_kms_store *s = *state;
    assert_int_equal(ohsm_kms_store_commit(s), OHSM_ARGUMENTS_BAD);
    ohsm_kms_store_rollback(s); /* nothing open: harmless */

    assert_int_equal(ohsm_kms_store_begin(s), OHSM_OK);
    assert_int_equal(ohsm_kms_store_begin(s), OHSM_ARGUMENTS_BAD);
    fill_key(s, ID1, GID1, "tok1", "alias/one");
    ohsm_kms_store_rollback(s);
    assert_int_equal(rows_of(ID1), 0);
    struct ohsm_kms_key k;
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &k), OHSM_KEY_HANDLE_INVALID);

    assert_int_equal(ohsm_kms_store_begin(s), OHSM_OK);
    fill_key(s, ID1, GID1, "tok1", "alias/one");
    /* Failures inside: a duplicate, and a tag batch that fails half-way (missing key). */
    struct ohsm_kms_material m = material(ID1, 1);
    assert_int_equal(ohsm_kms_store_material_put(s, &m), OHSM_ATTRIBUTE_VALUE_INVALID);
    struct ohsm_kms_tag t;
    memset(&t, 0, sizeof(t));
    snprintf(t.key, sizeof(t.key), "k2");
    assert_int_equal(ohsm_kms_store_tag_set(s, ID2, &t, 1), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &k), OHSM_OK); /* reads see the tx */
    ohsm_kms_key_clear(&k);
    assert_int_equal(ohsm_kms_store_commit(s), OHSM_OK);
    assert_int_equal(rows_of(ID1), 8);
    assert_int_equal(ohsm_kms_store_commit(s), OHSM_ARGUMENTS_BAD);

    /* close with an open transaction rolls it back */
    assert_int_equal(ohsm_kms_store_begin(s), OHSM_OK);
    put_key(s, ID3, 1);
    ohsm_kms_store_close(s);
    *state = NULL;
    assert_int_equal(rows_of(ID3), 0);
    assert_int_equal(rows_of(ID1), 8);
}

/* Everything written is there after close and reopen. */
static void test_kms_store_reopen(void **state)
{
    struct ohsm_kms_store *s = *state;
    fill_key(s, ID1, GID1, "tok1", "alias/one");
    ohsm_kms_store_close(s);
    *state = NULL;
    assert_int_equal(ohsm_kms_store_open(db, &s), OHSM_OK);
    *state = s;
    struct ohsm_kms_key k, want = key(ID1, 1);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &k), OHSM_OK);
    key_equal(&k, &want);
    ohsm_kms_key_clear(&k);
    struct ohsm_kms_material *ml = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_kms_store_material_list(s, ID1, &ml, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(ml[1].sealed, material(ID1, 2).sealed, sizeof(sealed_bytes));
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_material_clear(&ml[i]);
    }
    free(ml);
    struct ohsm_kms_alias a;
    assert_int_equal(ohsm_kms_store_alias_get(s, REGION, "alias/one", &a), OHSM_OK);
    struct ohsm_kms_grant g;
    assert_int_equal(ohsm_kms_store_grant_get(s, ID1, NULL, "tok1", &g), OHSM_OK);
    assert_string_equal(g.grant_id, GID1);
    ohsm_kms_grant_clear(&g);
    char *p = NULL;
    assert_int_equal(ohsm_kms_store_policy_get(s, ID1, "default", &p), OHSM_OK);
    free(p);
    struct ohsm_kms_import im;
    assert_int_equal(ohsm_kms_store_import_get(s, ID1, &im), OHSM_OK);
    ohsm_kms_import_clear(&im);
    struct ohsm_kms_tag *tl = NULL;
    assert_int_equal(ohsm_kms_store_tag_list(s, ID1, &tl, &n), OHSM_OK);
    assert_int_equal(n, 1);
    free(tl);
}

/* Applies a tampering statement, expects the read to be refused with OHSM_DB and a reason, then
 * restores the database from a pristine copy of its rows. */
static void expect_refused(struct ohsm_kms_store *s, const char *tamper, const char *restore,
                           ohsm_rv (*read)(struct ohsm_kms_store *))
{
    raw_sql(tamper);
    ohsm_rv rv = read(s);
    if (rv != OHSM_DB) {
        fprintf(stderr, "not refused after: %s\n", tamper);
    }
    assert_int_equal(rv, OHSM_DB);
    assert_non_null(strstr(ohsm_kms_store_errstr(s), "refusing"));
    raw_sql(restore);
    assert_int_equal(read(s), OHSM_OK);
}

static ohsm_rv read_key(struct ohsm_kms_store *s)
{
    struct ohsm_kms_key k;
    ohsm_rv rv = ohsm_kms_store_key_get(s, ID1, &k);
    ohsm_kms_key_clear(&k);
    if (rv == OHSM_OK) {
        struct ohsm_kms_key *l = NULL;
        size_t n = 0;
        rv = ohsm_kms_store_key_list(s, &l, &n);
        for (size_t i = 0; i < n; i++) {
            ohsm_kms_key_clear(&l[i]);
        }
        free(l);
    }
    return rv;
}

static ohsm_rv read_list_keys(struct ohsm_kms_store *s)
{
    struct ohsm_kms_key *l = NULL;
    size_t n = 0;
    ohsm_rv rv = ohsm_kms_store_key_list(s, &l, &n);
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_key_clear(&l[i]);
    }
    free(l);
    return rv;
}

static ohsm_rv read_material(struct ohsm_kms_store *s)
{
    struct ohsm_kms_material m;
    ohsm_rv rv = ohsm_kms_store_material_get(s, ID1, 1, &m);
    ohsm_kms_material_clear(&m);
    return rv;
}

static ohsm_rv read_alias(struct ohsm_kms_store *s)
{
    struct ohsm_kms_alias a;
    return ohsm_kms_store_alias_get(s, REGION, "alias/one", &a);
}

static ohsm_rv read_grant(struct ohsm_kms_store *s)
{
    struct ohsm_kms_grant g;
    ohsm_rv rv = ohsm_kms_store_grant_get(s, NULL, GID1, NULL, &g);
    ohsm_kms_grant_clear(&g);
    return rv;
}

static ohsm_rv read_tags(struct ohsm_kms_store *s)
{
    struct ohsm_kms_tag *t = NULL;
    size_t n = 0;
    ohsm_rv rv = ohsm_kms_store_tag_list(s, ID1, &t, &n);
    free(t);
    return rv;
}

static ohsm_rv read_policy(struct ohsm_kms_store *s)
{
    char *p = NULL;
    ohsm_rv rv = ohsm_kms_store_policy_get(s, ID1, "default", &p);
    free(p);
    return rv;
}

static ohsm_rv read_import(struct ohsm_kms_store *s)
{
    struct ohsm_kms_import p;
    ohsm_rv rv = ohsm_kms_store_import_get(s, ID1, &p);
    ohsm_kms_import_clear(&p);
    return rv;
}

/* A row changed behind the store's back (wrong type, length, shape or enum) is refused with
 * OHSM_DB and a reason, by gets and lists alike. */
static void test_kms_store_tampered_rows(void **state)
{
    struct ohsm_kms_store *s = *state;
    fill_key(s, ID1, GID1, "tok1", "alias/one");
    put_key(s, ID2, 2);
#define K(set) "UPDATE keys SET " set " WHERE id = '" ID1 "'"
    expect_refused(s, K("spec = 99"), K("spec = 3"), read_key);
    expect_refused(s, K("spec = 0"), K("spec = 3"), read_key);
    expect_refused(s, K("state = 6"), K("state = 3"), read_key);
    expect_refused(s, K("saved_state = -1"), K("saved_state = 2"), read_key);
    expect_refused(s, K("usage = 'one'"), K("usage = 2"), read_key);
    expect_refused(s, K("created_ms = 1.5"), K("created_ms = 1"), read_key);
    expect_refused(s, K("rotation_enabled = 2"), K("rotation_enabled = 1"), read_key);
    expect_refused(s, K("description = x'00'"), K("description = 'd'"), read_key);
    expect_refused(s, K("description = x'6869'"), K("description = 'd'"), read_key);
    expect_refused(s, K("region = 'x y'"), K("region = 'us-east-1'"), read_key);
    expect_refused(s, K("cluster_id = 'cluster-0123456789012345678901234567'"),
                   K("cluster_id = ''"), read_key);
    expect_refused(s, K("cur_version = 4294967296"), K("cur_version = 1"), read_key);
    expect_refused(s, K("import_id = 'abc'"), K("import_id = ''"), read_key);
    expect_refused(s, K("import_id = '" MID1 "0'"), K("import_id = '" MID1 "'"), read_key);
    /* The id of another row, shortened: caught by the list. */
    expect_refused(s, "UPDATE keys SET id = '" ID2 "x' WHERE id = '" ID2 "'",
                   "UPDATE keys SET id = '" ID2 "' WHERE id = '" ID2 "x'", read_list_keys);
#undef K
#define M(set) "UPDATE materials SET " set " WHERE key_id = '" ID1 "' AND version = 1"
    expect_refused(s, M("material_id = 'zz'"), M("material_id = '" MID1 "'"), read_material);
    expect_refused(s, M("material_id = '" MID1 "0'"), M("material_id = '" MID1 "'"), read_material);
    expect_refused(s, M("kind = 7"), M("kind = 0"), read_material);
    expect_refused(s, M("sealed = 'text'"), M("sealed = x'0102'"), read_material);
    expect_refused(s, M("sealed = zeroblob(0)"), M("sealed = x'0102'"), read_material);
    expect_refused(s, M("created = -5"), M("created = 1"), read_material);
#undef M
    expect_refused(s, "UPDATE aliases SET key_id = 'short'",
                   "UPDATE aliases SET key_id = '" ID1 "'", read_alias);
    expect_refused(s, "UPDATE aliases SET updated = 'x'", "UPDATE aliases SET updated = 1",
                   read_alias);
    expect_refused(s, "UPDATE grants SET token = ''", "UPDATE grants SET token = 'tok1'",
                   read_grant);
    expect_refused(s, "UPDATE grants SET operations = x'41'",
                   "UPDATE grants SET operations = '[\"Encrypt\"]'", read_grant);
    expect_refused(s, "UPDATE grants SET key_id = replace(key_id, '-', '_')",
                   "UPDATE grants SET key_id = replace(key_id, '_', '-')", read_grant);
    expect_refused(s, "UPDATE tags SET k = ''", "UPDATE tags SET k = 'k'", read_tags);
    expect_refused(s, "UPDATE tags SET v = printf('%.257c', 'v')", "UPDATE tags SET v = ''",
                   read_tags);
    expect_refused(s, "UPDATE policies SET policy = ''", "UPDATE policies SET policy = '{}'",
                   read_policy);
    expect_refused(s, "UPDATE imports SET wrapping_spec = 5",
                   "UPDATE imports SET wrapping_spec = 4096", read_import);
    expect_refused(s, "UPDATE imports SET token_id = 'nothex'",
                   "UPDATE imports SET token_id = '" GID2 "'", read_import);
    expect_refused(s, "UPDATE imports SET sealed_private = 'x'",
                   "UPDATE imports SET sealed_private = x'01'", read_import);
}

/* ---- threads ---- */

#define PER_THREAD 20

struct worker {
    struct ohsm_kms_store *s;
    int n;
    int failures;
};

/* Puts keys with material, reads each back, lists. */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char id[OHSM_KMS_ID_LEN + 1];
        snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012x", (unsigned)w->n, (unsigned)i);
        struct ohsm_kms_key k = key(id, i), out;
        struct ohsm_kms_material m, mo;
        /* Not material(): it writes the shared sealed_bytes. */
        memset(&m, 0, sizeof(m));
        snprintf(m.key_id, sizeof(m.key_id), "%s", id);
        m.version = 1;
        snprintf(m.material_id, sizeof(m.material_id), "%s", MID1);
        m.sealed = malloc(16);
        if (m.sealed == NULL) {
            w->failures++;
            continue;
        }
        memset(m.sealed, w->n, 16);
        m.sealed_len = 16;
        if (ohsm_kms_store_key_put(w->s, &k) != OHSM_OK ||
            ohsm_kms_store_material_put(w->s, &m) != OHSM_OK) {
            w->failures++;
        }
        if (ohsm_kms_store_key_get(w->s, id, &out) != OHSM_OK || strcmp(out.id, id) != 0) {
            w->failures++;
        }
        ohsm_kms_key_clear(&out);
        if (ohsm_kms_store_material_get(w->s, id, 1, &mo) != OHSM_OK || mo.sealed_len != 16 ||
            memcmp(mo.sealed, m.sealed, 16) != 0) {
            w->failures++;
        }
        ohsm_kms_material_clear(&mo);
        free(m.sealed);
        /* Every other round, a transaction of two writes. */
        if (i % 2 == 0) {
            struct ohsm_kms_tag t;
            memset(&t, 0, sizeof(t));
            snprintf(t.key, sizeof(t.key), "t%d", i);
            if (ohsm_kms_store_begin(w->s) != OHSM_OK) {
                w->failures++;
                continue;
            }
            if (ohsm_kms_store_tag_set(w->s, id, &t, 1) != OHSM_OK ||
                ohsm_kms_store_policy_put(w->s, id, "default", "{}") != OHSM_OK) {
                w->failures++;
            }
            if (ohsm_kms_store_commit(w->s) != OHSM_OK) {
                w->failures++;
            }
        }
        if (read_list_keys(w->s) != OHSM_OK) {
            w->failures++;
        }
    }
    return NULL;
}

/* Four threads putting, getting, listing and running transactions at once: no error, and
 * everything is there afterwards. */
static void test_kms_store_threads(void **state)
{
    struct ohsm_kms_store *s = *state;
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){s, i + 1, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    assert_int_equal(raw_count("SELECT count(*) FROM keys"), 4 * PER_THREAD);
    assert_int_equal(raw_count("SELECT count(*) FROM materials"), 4 * PER_THREAD);
    assert_int_equal(raw_count("SELECT count(*) FROM tags"), 4 * PER_THREAD / 2);
    assert_int_equal(raw_count("SELECT count(*) FROM policies"), 4 * PER_THREAD / 2);
}

struct holder {
    struct ohsm_kms_store *s;
    atomic_int started;
    atomic_int done;
    ohsm_rv rv;
};

static void *other_put(void *arg)
{
    struct holder *h = arg;
    struct ohsm_kms_key k = key(ID2, 2);
    atomic_store(&h->started, 1);
    h->rv = ohsm_kms_store_key_put(h->s, &k);
    atomic_store(&h->done, 1);
    return NULL;
}

/* A transaction holds the store for its thread: another thread's call waits until it ends and is
 * not part of it (a rollback does not undo it). */
static void test_kms_store_tx_holds_store(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct holder h = {.s = s};
    pthread_t th;
    assert_int_equal(ohsm_kms_store_begin(s), OHSM_OK);
    put_key(s, ID1, 1);
    assert_int_equal(pthread_create(&th, NULL, other_put, &h), 0);
    for (int i = 0; i < 5000 && !atomic_load(&h.started); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(atomic_load(&h.started));
    /* Give the other thread time to reach the store: it must still be waiting. */
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    assert_false(atomic_load(&h.done));
    struct ohsm_kms_key k;
    assert_int_equal(ohsm_kms_store_key_get(s, ID2, &k), OHSM_KEY_HANDLE_INVALID);
    ohsm_kms_store_rollback(s);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(h.rv, OHSM_OK);
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &k), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_key_get(s, ID2, &k), OHSM_OK);
    ohsm_kms_key_clear(&k);
}

static void *errstr_other(void *arg)
{
    struct ohsm_kms_key k;
    const char **msg = arg;
    /* This thread's failure... */
    if (ohsm_kms_store_key_get((struct ohsm_kms_store *)msg[0], ID2, &k) ==
        OHSM_KEY_HANDLE_INVALID) {
        msg[1] = strstr(ohsm_kms_store_errstr((struct ohsm_kms_store *)msg[0]), ID2) != NULL
                     ? "ok"
                     : "bad";
    }
    return NULL;
}

/* errstr is the calling thread's last failure: another thread's failure does not replace it. */
static void test_kms_store_errstr_per_thread(void **state)
{
    struct ohsm_kms_store *s = *state;
    struct ohsm_kms_key k;
    pthread_t th;
    const char *msg[2] = {(const char *)s, NULL};
    assert_int_equal(ohsm_kms_store_key_get(s, ID1, &k), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(pthread_create(&th, NULL, errstr_other, msg), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_non_null(msg[1]);
    assert_string_equal(msg[1], "ok");
    assert_non_null(strstr(ohsm_kms_store_errstr(s), ID1));
    assert_null(strstr(ohsm_kms_store_errstr(s), ID2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_store_open_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_file_mode_and_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_migrate_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_key_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_key_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_key_list_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_material, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_grant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_key_delete_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_tampered_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_tx_holds_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_store_errstr_per_thread, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
