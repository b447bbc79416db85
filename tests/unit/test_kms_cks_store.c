/* SPDX-License-Identifier: Apache-2.0
 * The CloudHSM key stores' table and sealed password (store_cks.c) over the in-memory sealer and
 * a temp data dir: every field round-trips; add refuses an existing id, put and delete an absent
 * one; records this code would not write are refused; rows damaged behind the store's back are
 * refused on read (and through DescribeCustomKeyStores as KMSInternalException); the sealed
 * password unseals only for its store and slot and a refused unseal leaves no byte of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "kms/kms_int.h"

static const char CA1_pem[] = "-----BEGIN CERTIFICATE-----\n"
                              "MIIBcjCCARegAwIBAgIUGu1o4uD2Rsi9FQI3voS7XXJIAAswCgYIKoZIzj0EAwIw\n"
                              "DjEMMAoGA1UEAwwDY2ExMB4XDTI2MTIwNzAxNDU1NVoXDTM2MTIwNDAxNDU1NVow\n"
                              "DjEMMAoGA1UEAwwDY2ExMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESJFnxBk6\n"
                              "/kYVjoE/isJyMDtYHtdngi0K0Elrdc74btGSYqJNV8mV30ZPDOC4rRzzl7IeffOz\n"
                              "6yPrxKQuhyxkkqNTMFEwHQYDVR0OBBYEFA+kardxqBWXHisRqxaVQCZ3qM4CMB8G\n"
                              "A1UdIwQYMBaAFA+kardxqBWXHisRqxaVQCZ3qM4CMA8GA1UdEwEB/wQFMAMBAf8w\n"
                              "CgYIKoZIzj0EAwIDSQAwRgIhAOJVBsAPBsJyzHLV0EQCg+7CcR84ZvIY7HDqQxiN\n"
                              "Gt+SAiEAtckCqWHkahM5SYuQowMDO+yIY64iN59tFYQlTIE1tpM=\n"
                              "-----END CERTIFICATE-----\n";

#define PW "kmsPassw0rd"
#define CL_A "cluster-aaaaaaaaaaa"
#define ID1 "cks-0123456789abcdef0"
#define ID2 "cks-00000000000000001"

static int64_t fake_now(void *ctx)
{
    (void)ctx;
    return 1800000000;
}

struct fx {
    char dir[64];
    struct ohsm_kms_sealer sealer;
    struct ohsm_kms *k;
};

static int setup(void **state)
{
    char err[256];
    struct fx *f = calloc(1, sizeof(*f));
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-kms-cks-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL || ohsm_kms_sealer_mem(&f->sealer) != OHSM_OK) {
        return -1;
    }
    struct ohsm_kms_cfg cfg = {.data_dir = f->dir,
                               .region = "us-east-1",
                               .account_id = "111122223333",
                               .sealer = f->sealer,
                               .now = fake_now};
    if (ohsm_kms_open(&cfg, &f->k, err, sizeof(err)) != OHSM_OK) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    ohsm_kms_close(f->k);
    ohsm_kms_sealer_mem_free(&f->sealer);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* DescribeCustomKeyStores fails with type. */
static void fails(struct ohsm_kms *k, const char *op, json_t *in, const char *type)
{
    const struct ohsm_json_service *svc = ohsm_kms_service(k);
    struct ohsm_http_call c = {"req", "AKID", "us-east-1", "111122223333"};
    struct ohsm_aws_err e;
    memset(&e, 0, sizeof(e));
    for (size_t i = 0; i < svc->n_ops; i++) {
        if (strcmp(svc->ops[i].name, op) == 0) {
            assert_null(svc->ops[i].fn(svc->ctx, &c, in, &e));
            assert_string_equal(e.type, type);
        }
    }
    json_decref(in);
}

/* A record for the table tests. */
static void record(struct ohsm_kms *k, struct ohsm_kms_cks *s, const char *id, int64_t created)
{
    memset(s, 0, sizeof(*s));
    (void)snprintf(s->id, sizeof(s->id), "%s", id);
    (void)snprintf(s->region, sizeof(s->region), "us-east-1");
    (void)snprintf(s->account, sizeof(s->account), "111122223333");
    (void)snprintf(s->name, sizeof(s->name), "store %s", id);
    (void)snprintf(s->cluster_id, sizeof(s->cluster_id), CL_A);
    s->trust_anchor = strdup(CA1_pem);
    s->created_ms = created;
    assert_int_equal(ohsm_kms_cks_seal_pw(k, id, "pw", PW, &s->pw_sealed, &s->pw_sealed_len),
                     OHSM_OK);
}

/* Every field round-trips; add refuses an existing id, put and delete an absent one; list is in
 * creation order; records this code would not write are refused. */
static void test_kms_cks_store_roundtrip(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_store *st = f->k->store;
    struct ohsm_kms_cks a, b, g;
    struct ohsm_kms_cks *list = NULL;
    size_t n = 0;

    record(f->k, &a, ID1, 2000);
    record(f->k, &b, ID2, 1000);
    assert_int_equal(ohsm_kms_store_cks_add(st, &a), OHSM_OK);
    assert_int_equal(ohsm_kms_store_cks_add(st, &a), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(ohsm_kms_store_cks_put(st, &b), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_cks_add(st, &b), OHSM_OK);
    assert_int_equal(ohsm_kms_store_cks_get(st, ID1, &g), OHSM_OK);
    assert_string_equal(g.id, ID1);
    assert_string_equal(g.region, "us-east-1");
    assert_string_equal(g.account, "111122223333");
    assert_string_equal(g.name, a.name);
    assert_string_equal(g.cluster_id, CL_A);
    assert_string_equal(g.trust_anchor, CA1_pem);
    assert_int_equal(g.created_ms, 2000);
    assert_int_equal(g.state, OHSM_CKS_DISCONNECTED);
    assert_int_equal(g.error, OHSM_CKSE_NONE);
    assert_int_equal(g.pw_sealed_len, a.pw_sealed_len);
    assert_memory_equal(g.pw_sealed, a.pw_sealed, a.pw_sealed_len);
    assert_null(g.next_sealed);
    ohsm_kms_cks_clear(&g);

    /* FAILED with its code and a pending rotation */
    a.state = OHSM_CKS_FAILED;
    a.error = OHSM_CKSE_USER_LOGGED_IN;
    assert_int_equal(
        ohsm_kms_cks_seal_pw(f->k, ID1, "next", "nextPassw0rd", &a.next_sealed, &a.next_sealed_len),
        OHSM_OK);
    assert_int_equal(ohsm_kms_store_cks_put(st, &a), OHSM_OK);
    assert_int_equal(ohsm_kms_store_cks_get(st, ID1, &g), OHSM_OK);
    assert_int_equal(g.state, OHSM_CKS_FAILED);
    assert_int_equal(g.error, OHSM_CKSE_USER_LOGGED_IN);
    assert_int_equal(g.next_sealed_len, a.next_sealed_len);
    assert_memory_equal(g.next_sealed, a.next_sealed, a.next_sealed_len);
    ohsm_kms_cks_clear(&g);

    assert_int_equal(ohsm_kms_store_cks_list(st, &list, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, ID2); /* created first */
    assert_string_equal(list[1].id, ID1);
    for (size_t i = 0; i < n; i++) {
        ohsm_kms_cks_clear(&list[i]);
    }
    free(list);

    /* what this code never writes */
    struct {
        uint32_t state, error;
    } bad_states[] = {{OHSM_CKS_FAILED, OHSM_CKSE_NONE},
                      {OHSM_CKS_CONNECTED, OHSM_CKSE_NETWORK_ERRORS},
                      {OHSM_CKS_STATE_COUNT_, OHSM_CKSE_NONE},
                      {OHSM_CKS_FAILED, OHSM_CKSE_COUNT_}};
    for (size_t i = 0; i < 4; i++) {
        a.state = bad_states[i].state;
        a.error = bad_states[i].error;
        assert_int_equal(ohsm_kms_store_cks_put(st, &a), OHSM_ARGUMENTS_BAD);
    }
    a.state = OHSM_CKS_DISCONNECTED;
    a.error = OHSM_CKSE_NONE;
    (void)snprintf(a.cluster_id, sizeof(a.cluster_id), "cluster-1111111111");
    assert_int_equal(ohsm_kms_store_cks_put(st, &a), OHSM_ARGUMENTS_BAD);
    (void)snprintf(a.cluster_id, sizeof(a.cluster_id), CL_A);
    a.name[0] = '\0';
    assert_int_equal(ohsm_kms_store_cks_put(st, &a), OHSM_ARGUMENTS_BAD);
    (void)snprintf(a.name, sizeof(a.name), "n");
    (void)snprintf(a.id, sizeof(a.id), "cks-0123456789ABCDEF0");
    assert_int_equal(ohsm_kms_store_cks_add(st, &a), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_store_cks_get(st, "cks-0123456789ABCDEF0", &g),
                     OHSM_KEY_HANDLE_INVALID);

    assert_int_equal(ohsm_kms_store_cks_delete(st, ID1), OHSM_OK);
    assert_int_equal(ohsm_kms_store_cks_delete(st, ID1), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_cks_get(st, ID1, &g), OHSM_KEY_HANDLE_INVALID);
    ohsm_kms_cks_clear(&a);
    ohsm_kms_cks_clear(&b);
}

static void raw_sql(struct fx *f, const char *sql)
{
    char db[128];
    sqlite3 *r = NULL;
    (void)snprintf(db, sizeof(db), "%s/kms/kms.db", f->dir);
    assert_int_equal(sqlite3_open(db, &r), SQLITE_OK);
    sqlite3_busy_timeout(r, 5000);
    assert_int_equal(sqlite3_exec(r, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(r);
}

/* Rows damaged behind the store's back are refused (OHSM_DB) by get and list, and through the
 * API as KMSInternalException; the row put back is read again. */
static void test_kms_cks_store_damaged_rows(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_cks a, g;
    struct ohsm_kms_cks *list = NULL;
    size_t n = 0;
    static const char *const damage[] = {
        "UPDATE custom_key_stores SET state = 9",
        "UPDATE custom_key_stores SET state = 4", /* FAILED without a code */
        "UPDATE custom_key_stores SET error = 6", /* a code while DISCONNECTED */
        "UPDATE custom_key_stores SET state = 'x'",
        "UPDATE custom_key_stores SET cluster_id = 'cluster-0'",
        "UPDATE custom_key_stores SET name = ''",
        "UPDATE custom_key_stores SET trust_anchor = zeroblob(10)",
        "UPDATE custom_key_stores SET trust_anchor = printf('%.6000c', 'x')",
        "UPDATE custom_key_stores SET pw_sealed = 'text'",
        "UPDATE custom_key_stores SET pw_sealed = x''",
        "UPDATE custom_key_stores SET next_sealed = 5",
        "UPDATE custom_key_stores SET created_ms = -1",
        "UPDATE custom_key_stores SET region = ''",
    };

    record(f->k, &a, ID1, 1000);
    assert_int_equal(ohsm_kms_store_cks_add(f->k->store, &a), OHSM_OK);
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        raw_sql(f, damage[i]);
        assert_int_equal(ohsm_kms_store_cks_get(f->k->store, ID1, &g), OHSM_DB);
        assert_int_equal(ohsm_kms_store_cks_list(f->k->store, &list, &n), OHSM_DB);
        assert_null(list);
        assert_int_equal(n, 0);
        fails(f->k, "DescribeCustomKeyStores", json_object(), "KMSInternalException");
        assert_int_equal(ohsm_kms_store_cks_put(f->k->store, &a), OHSM_OK);
        assert_int_equal(ohsm_kms_store_cks_get(f->k->store, ID1, &g), OHSM_OK);
        ohsm_kms_cks_clear(&g);
    }
    /* a row whose id is not ours */
    raw_sql(f, "UPDATE custom_key_stores SET id = 'cks-x'");
    assert_int_equal(ohsm_kms_store_cks_list(f->k->store, &list, &n), OHSM_DB);
    ohsm_kms_cks_clear(&a);
}

/* The sealed password unseals only for its store and slot; a refused unseal leaves no byte of
 * the password in the buffer. */
static void test_kms_cks_seal(void **state)
{
    struct fx *f = *state;
    uint8_t *blob = NULL;
    size_t len = 0;
    char pw[OHSM_KMS_CKS_PW_MAX + 1];
    static const char zero[OHSM_KMS_CKS_PW_MAX + 1];

    assert_int_equal(ohsm_kms_cks_seal_pw(f->k, ID1, "pw", PW, &blob, &len), OHSM_OK);
    assert_null(memmem(blob, len, PW, strlen(PW)));
    assert_int_equal(ohsm_kms_cks_unseal_pw(f->k, ID1, "pw", blob, len, pw), OHSM_OK);
    assert_string_equal(pw, PW);
    memset(pw, 'x', sizeof(pw));
    assert_int_equal(ohsm_kms_cks_unseal_pw(f->k, ID1, "next", blob, len, pw),
                     OHSM_ENCRYPTED_DATA_INVALID);
    assert_memory_equal(pw, zero, sizeof(pw));
    memset(pw, 'x', sizeof(pw));
    assert_int_equal(ohsm_kms_cks_unseal_pw(f->k, ID2, "pw", blob, len, pw),
                     OHSM_ENCRYPTED_DATA_INVALID);
    assert_memory_equal(pw, zero, sizeof(pw));
    blob[len - 1] ^= 1;
    assert_int_equal(ohsm_kms_cks_unseal_pw(f->k, ID1, "pw", blob, len, pw),
                     OHSM_ENCRYPTED_DATA_INVALID);
    free(blob);
    blob = NULL;
    assert_int_equal(ohsm_kms_cks_unseal_pw(f->k, ID1, "other", (const uint8_t *)"x", 1, pw),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_cks_seal_pw(f->k, ID1, "other", PW, &blob, &len), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_cks_seal_pw(f->k, "cks-1", "pw", PW, &blob, &len),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_kms_cks_seal_pw(f->k, ID1, "pw", "short", &blob, &len),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(
        ohsm_kms_cks_seal_pw(f->k, ID1, "pw", "123456789012345678901234567890123", &blob, &len),
        OHSM_ARGUMENTS_BAD);
    assert_null(blob);
    /* 7 and 32 characters are fine */
    assert_int_equal(ohsm_kms_cks_seal_pw(f->k, ID1, "next", "1234567", &blob, &len), OHSM_OK);
    assert_int_equal(ohsm_kms_cks_unseal_pw(f->k, ID1, "next", blob, len, pw), OHSM_OK);
    assert_string_equal(pw, "1234567");
    free(blob);
    assert_int_equal(
        ohsm_kms_cks_seal_pw(f->k, ID1, "pw", "12345678901234567890123456789012", &blob, &len),
        OHSM_OK);
    assert_int_equal(ohsm_kms_cks_unseal_pw(f->k, ID1, "pw", blob, len, pw), OHSM_OK);
    assert_string_equal(pw, "12345678901234567890123456789012");
    OPENSSL_cleanse(pw, sizeof(pw));
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_cks_store_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_store_damaged_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_seal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
