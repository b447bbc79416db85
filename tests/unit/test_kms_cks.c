/* SPDX-License-Identifier: Apache-2.0
 * CloudHSM key stores' operations in-process (op_cks.c, cks_cluster.c) over the in-memory sealer,
 * a temp data dir and a fake view of the control plane's clusters (the table and the sealed
 * password alone: test_kms_cks_store.c): each of the six operations follows AWS's rules (every
 * exception, the idempotent retry of CreateCustomKeyStore, the limit of 10, names unique,
 * clusters used once per backup lineage, related clusters only, no deletion with keys, the
 * connection-state rules) and a refused call changes nothing; the password is in no response
 * and not in the audit trail. */
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

static const char CA2_pem[] = "-----BEGIN CERTIFICATE-----\n"
                              "MIIBcjCCARegAwIBAgIUdvkwOB0bedumMUBRScOWRgodtGQwCgYIKoZIzj0EAwIw\n"
                              "DjEMMAoGA1UEAwwDY2EyMB4XDTI2MTIwNzAxNDU1NVoXDTM2MTIwNDAxNDU1NVow\n"
                              "DjEMMAoGA1UEAwwDY2EyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9SAzP4Vu\n"
                              "2uf1wq20JRUh0C8VRkQ+sHZvo7lzE/bMDV24clieTuN3kq2yXOZo2eiop8z24UWw\n"
                              "nmWXhJTGNuBTGKNTMFEwHQYDVR0OBBYEFJqh0Cr3PMpyfVHm0o1/vCvAWuoLMB8G\n"
                              "A1UdIwQYMBaAFJqh0Cr3PMpyfVHm0o1/vCvAWuoLMA8GA1UdEwEB/wQFMAMBAf8w\n"
                              "CgYIKoZIzj0EAwIDSQAwRgIhAI2dR4YDVYP8GrhJjYqRtxtO4iXqkysukDGkvQuy\n"
                              "N5DGAiEA8L5wl0cOotNKhuGXQZksml2XQd/3FkEA+nT5Xmm1dZU=\n"
                              "-----END CERTIFICATE-----\n";

static const char CC1_pem[] = "-----BEGIN CERTIFICATE-----\n"
                              "MIIBcTCCARegAwIBAgIUatlPNmloTT9O5NfnvpT90tGF4jswCgYIKoZIzj0EAwIw\n"
                              "DjEMMAoGA1UEAwwDY2MxMB4XDTI2MTIwNzAxNDU1NVoXDTM2MTIwNDAxNDU1NVow\n"
                              "DjEMMAoGA1UEAwwDY2MxMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkramy1tp\n"
                              "Mfi9hTxZb855USKa2M+HV2TTQxRkv9Lzc7ZznIXLGWe9CtWEvpAePyKjJ6PmgcEu\n"
                              "ee2wVCbJROd+b6NTMFEwHQYDVR0OBBYEFHab49KF4Z2hoVILMrSsT89ueyenMB8G\n"
                              "A1UdIwQYMBaAFHab49KF4Z2hoVILMrSsT89ueyenMA8GA1UdEwEB/wQFMAMBAf8w\n"
                              "CgYIKoZIzj0EAwIDSAAwRQIhANqVRd35sNKsxBvwTLDenQ4JNvUi1Y9FqrwZtJVq\n"
                              "OjAVAiAt8n4c0lfKvyuIZYlZcty3BCiT2MIrQ8lu/koECN9/4Q==\n"
                              "-----END CERTIFICATE-----\n";

static const char CC2_pem[] = "-----BEGIN CERTIFICATE-----\n"
                              "MIIBcDCCARegAwIBAgIUVm95wTOJ3LKnLMJmx2CcFikXkFswCgYIKoZIzj0EAwIw\n"
                              "DjEMMAoGA1UEAwwDY2MyMB4XDTI2MTIwNzAxNDU1NVoXDTM2MTIwNDAxNDU1NVow\n"
                              "DjEMMAoGA1UEAwwDY2MyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmm18pywr\n"
                              "WfmvaSRLHAjoOY3MZuO2IDEd+GEMEJVHDtsvxHKTIA3LMJTxv+fIpesJetpBw3yX\n"
                              "QXbNyIvzrotc6qNTMFEwHQYDVR0OBBYEFIYDr/Jl/WVs2pRAqzRmya+JDmEEMB8G\n"
                              "A1UdIwQYMBaAFIYDr/Jl/WVs2pRAqzRmya+JDmEEMA8GA1UdEwEB/wQFMAMBAf8w\n"
                              "CgYIKoZIzj0EAwIDRwAwRAIgFCHJNCBf4mwQLT/jE8Wcfwz+oIFGEgoPzVNB8yMY\n"
                              "d08CICyJPmrWFLRGGX1DPrZikhu93r6+PfomzK1BDRKjUhMD\n"
                              "-----END CERTIFICATE-----\n";

#define PW "kmsPassw0rd"
#define CL_A "cluster-aaaaaaaaaaa"
#define CL_B "cluster-bbbbbbbbbbb" /* made from a backup of A: same cluster certificate */
#define CL_C "cluster-ccccccccccc" /* unrelated */
#define CL_NONE "cluster-zzzzzzzzzzz"

static int64_t fake_now(void *ctx)
{
    (void)ctx;
    return 1800000000;
}

/* ---- the fake control plane ---- */

struct fake_cluster {
    char id[32];
    char region[32];
    bool exists;
    char state[32];
    const char *anchor;
    const char *cert;
    size_t n_subnets;
    const char *subnet_az[4];
    size_t n_hsms;
    const char *hsm_az[4];
    const char *hsm_state[4];
};

struct fake_cp {
    struct fake_cluster c[16];
    size_t n;
    bool fail;
};

static ohsm_rv fake_view(void *ctx, const char *region, const char *cluster_id,
                         struct ohsm_kms_cv *out)
{
    struct fake_cp *cp = ctx;
    memset(out, 0, sizeof(*out));
    if (cp->fail) {
        return OHSM_DB;
    }
    for (size_t i = 0; i < cp->n; i++) {
        const struct fake_cluster *c = &cp->c[i];
        if (strcmp(c->id, cluster_id) != 0 || strcmp(c->region, region) != 0) {
            continue;
        }
        out->exists = c->exists;
        (void)snprintf(out->state, sizeof(out->state), "%s", c->state);
        out->trust_anchor = c->anchor != NULL ? strdup(c->anchor) : NULL;
        out->cluster_cert = c->cert != NULL ? strdup(c->cert) : NULL;
        out->n_subnets = c->n_subnets;
        for (size_t j = 0; j < c->n_subnets; j++) {
            (void)snprintf(out->subnets[j].id, sizeof(out->subnets[j].id), "subnet-%zu", j);
            (void)snprintf(out->subnets[j].az, sizeof(out->subnets[j].az), "%s", c->subnet_az[j]);
            out->subnets[j].exists = true;
            out->subnets[j].free = 10;
        }
        out->n_hsms = c->n_hsms;
        for (size_t j = 0; j < c->n_hsms; j++) {
            (void)snprintf(out->hsms[j].id, sizeof(out->hsms[j].id), "hsm-%zu", j);
            (void)snprintf(out->hsms[j].az, sizeof(out->hsms[j].az), "%s", c->hsm_az[j]);
            (void)snprintf(out->hsms[j].state, sizeof(out->hsms[j].state), "%s", c->hsm_state[j]);
        }
        return OHSM_OK;
    }
    return OHSM_OK; /* not found: exists false */
}

/* An ACTIVE cluster ready for a key store: subnets and active HSMs in two AZs. */
static struct fake_cluster *add_cluster(struct fake_cp *cp, const char *id, const char *anchor,
                                        const char *cert)
{
    assert_true(cp->n < 16);
    struct fake_cluster *c = &cp->c[cp->n++];
    memset(c, 0, sizeof(*c));
    (void)snprintf(c->id, sizeof(c->id), "%s", id);
    (void)snprintf(c->region, sizeof(c->region), "us-east-1");
    c->exists = true;
    (void)snprintf(c->state, sizeof(c->state), "ACTIVE");
    c->anchor = anchor;
    c->cert = cert;
    c->n_subnets = 2;
    c->subnet_az[0] = "us-east-1a";
    c->subnet_az[1] = "us-east-1b";
    c->n_hsms = 2;
    c->hsm_az[0] = "us-east-1a";
    c->hsm_az[1] = "us-east-1b";
    c->hsm_state[0] = "ACTIVE";
    c->hsm_state[1] = "ACTIVE";
    return c;
}

static struct fake_cluster *cluster(struct fake_cp *cp, const char *id)
{
    for (size_t i = 0; i < cp->n; i++) {
        if (strcmp(cp->c[i].id, id) == 0) {
            return &cp->c[i];
        }
    }
    fail_msg("no fake cluster %s", id);
    return &cp->c[0]; /* not reached */
}

/* ---- the fixture ---- */

struct fx {
    char dir[64];
    struct ohsm_kms_sealer sealer;
    struct fake_cp cp;
    struct ohsm_kms *k;
};

static struct ohsm_kms *open_kms(struct fx *f, bool with_view)
{
    char err[256];
    struct ohsm_kms_cfg cfg = {.data_dir = f->dir,
                               .region = "us-east-1",
                               .account_id = "111122223333",
                               .sealer = f->sealer,
                               .now = fake_now};
    if (with_view) {
        cfg.clusters.ctx = &f->cp;
        cfg.clusters.view = fake_view;
    }
    struct ohsm_kms *k = NULL;
    assert_int_equal(ohsm_kms_open(&cfg, &k, err, sizeof(err)), OHSM_OK);
    return k;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-kms-cks-XXXXXX");
    if (mkdtemp(f->dir) == NULL || ohsm_kms_sealer_mem(&f->sealer) != OHSM_OK) {
        return -1;
    }
    add_cluster(&f->cp, CL_A, CA1_pem, CC1_pem);
    add_cluster(&f->cp, CL_B, CA1_pem, CC1_pem);
    add_cluster(&f->cp, CL_C, CA2_pem, CC2_pem);
    f->k = open_kms(f, true);
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

static json_t *call_in(struct ohsm_kms *k, const char *region, const char *op, json_t *in,
                       struct ohsm_aws_err *err)
{
    const struct ohsm_json_service *svc = ohsm_kms_service(k);
    struct ohsm_http_call c = {"req", "AKID", region, "111122223333"};
    memset(err, 0, sizeof(*err));
    assert_non_null(in);
    for (size_t i = 0; i < svc->n_ops; i++) {
        if (strcmp(svc->ops[i].name, op) == 0) {
            json_t *out = svc->ops[i].fn(svc->ctx, &c, in, err);
            json_decref(in);
            return out;
        }
    }
    fail_msg("no operation %s", op);
    return NULL;
}

static json_t *call(struct ohsm_kms *k, const char *op, json_t *in, struct ohsm_aws_err *err)
{
    return call_in(k, "us-east-1", op, in, err);
}

/* The call fails with exception type; the reply never carries the password. */
static void fails(struct ohsm_kms *k, const char *op, json_t *in, const char *type)
{
    struct ohsm_aws_err e;
    json_t *out = call(k, op, in, &e);
    if (out != NULL) {
        char *s = json_dumps(out, 0);
        fail_msg("%s succeeded (%s), expected %s", op, s, type);
    }
    if (strcmp(e.type, type) != 0) {
        fail_msg("%s: %s (%s), expected %s", op, e.type, e.msg, type);
    }
    assert_null(strstr(e.msg, PW));
    assert_int_equal(e.status, strcmp(type, "KMSInternalException") == 0 ? 500 : 400);
}

static json_t *ok(struct ohsm_kms *k, const char *op, json_t *in)
{
    struct ohsm_aws_err e;
    json_t *out = call(k, op, in, &e);
    if (out == NULL) {
        fail_msg("%s: %s %s", op, e.type, e.msg);
    }
    char *s = json_dumps(out, 0);
    assert_null(strstr(s, PW));
    free(s);
    return out;
}

static json_t *create_req(const char *name, const char *cluster_id, const char *anchor,
                          const char *pw)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "CustomKeyStoreName", name, "CloudHsmClusterId",
                     cluster_id, "TrustAnchorCertificate", anchor, "KeyStorePassword", pw);
}

/* Creates a store; its id into id. */
static void create(struct ohsm_kms *k, const char *name, const char *cluster_id, const char *anchor,
                   char id[OHSM_KMS_CKS_ID_MAX])
{
    json_t *out = ok(k, "CreateCustomKeyStore", create_req(name, cluster_id, anchor, PW));
    const char *s = json_string_value(json_object_get(out, "CustomKeyStoreId"));
    assert_non_null(s);
    assert_int_equal(strlen(s), 21);
    assert_memory_equal(s, "cks-", 4);
    for (size_t i = 4; i < 21; i++) {
        assert_true((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'));
    }
    (void)snprintf(id, OHSM_KMS_CKS_ID_MAX, "%s", s);
    json_decref(out);
}

/* Every store of the call's region as Describe shows them, as one JSON text (caller frees). */
static char *snapshot(struct ohsm_kms *k)
{
    json_t *out = ok(k, "DescribeCustomKeyStores", json_object());
    char *s = json_dumps(out, JSON_SORT_KEYS);
    json_decref(out);
    return s;
}

static size_t n_stores(struct ohsm_kms *k)
{
    json_t *out = ok(k, "DescribeCustomKeyStores", json_object());
    size_t n = json_array_size(json_object_get(out, "CustomKeyStores"));
    json_decref(out);
    return n;
}

static void set_state(struct ohsm_kms *k, const char *id, uint32_t state, uint32_t error)
{
    struct ohsm_kms_cks s;
    assert_int_equal(ohsm_kms_store_cks_get(k->store, id, &s), OHSM_OK);
    s.state = state;
    s.error = error;
    assert_int_equal(ohsm_kms_store_cks_put(k->store, &s), OHSM_OK);
    ohsm_kms_cks_clear(&s);
}

static uint32_t get_state(struct ohsm_kms *k, const char *id)
{
    struct ohsm_kms_cks s;
    assert_int_equal(ohsm_kms_store_cks_get(k->store, id, &s), OHSM_OK);
    uint32_t v = s.state;
    ohsm_kms_cks_clear(&s);
    return v;
}

static json_t *by_id(const char *id)
{
    return json_pack("{s:s}", "CustomKeyStoreId", id);
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

#define ID1 "cks-0123456789abcdef0"
#define ID2 "cks-00000000000000001"

/* ---- CreateCustomKeyStore, DescribeCustomKeyStores ---- */

/* A new store is DISCONNECTED and described by id, by name and in the list, with every field of
 * a CustomKeyStoresListEntry and never the password; the trail has the call without it. */
static void test_kms_cks_create_describe(void **state)
{
    struct fx *f = *state;
    char id[OHSM_KMS_CKS_ID_MAX];

    create(f->k, "store-a", CL_A, CA1_pem, id);
    json_t *queries[] = {by_id(id), json_pack("{s:s}", "CustomKeyStoreName", "store-a"),
                         json_object()};
    for (size_t i = 0; i < 3; i++) {
        json_t *out = ok(f->k, "DescribeCustomKeyStores", queries[i]);
        json_t *list = json_object_get(out, "CustomKeyStores");
        assert_int_equal(json_array_size(list), 1);
        json_t *e = json_array_get(list, 0);
        assert_string_equal(json_string_value(json_object_get(e, "CustomKeyStoreId")), id);
        assert_string_equal(json_string_value(json_object_get(e, "CustomKeyStoreName")), "store-a");
        assert_string_equal(json_string_value(json_object_get(e, "CustomKeyStoreType")),
                            "AWS_CLOUDHSM");
        assert_string_equal(json_string_value(json_object_get(e, "CloudHsmClusterId")), CL_A);
        assert_string_equal(json_string_value(json_object_get(e, "TrustAnchorCertificate")),
                            CA1_pem);
        assert_string_equal(json_string_value(json_object_get(e, "ConnectionState")),
                            "DISCONNECTED");
        assert_null(json_object_get(e, "ConnectionErrorCode"));
        assert_null(json_object_get(e, "KeyStorePassword"));
        assert_true(json_is_real(json_object_get(e, "CreationDate")));
        assert_true(json_real_value(json_object_get(e, "CreationDate")) >= 1800000000.0);
        assert_int_equal(json_object_size(e), 7);
        assert_true(json_is_false(json_object_get(out, "Truncated")));
        json_decref(out);
    }
    /* FAILED shows its code */
    set_state(f->k, id, OHSM_CKS_FAILED, OHSM_CKSE_SUBNET_NOT_FOUND);
    json_t *out = ok(f->k, "DescribeCustomKeyStores", by_id(id));
    json_t *e = json_array_get(json_object_get(out, "CustomKeyStores"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "ConnectionState")), "FAILED");
    assert_string_equal(json_string_value(json_object_get(e, "ConnectionErrorCode")),
                        "SUBNET_NOT_FOUND");
    json_decref(out);
    /* another region sees nothing */
    struct ohsm_aws_err err;
    out = call_in(f->k, "eu-west-1", "DescribeCustomKeyStores", json_object(), &err);
    assert_non_null(out);
    assert_int_equal(json_array_size(json_object_get(out, "CustomKeyStores")), 0);
    json_decref(out);
    assert_null(call_in(f->k, "eu-west-1", "DescribeCustomKeyStores", by_id(id), &err));
    assert_string_equal(err.type, "CustomKeyStoreNotFoundException");

    /* the trail: the call is there, the password is not */
    ohsm_kms_close(f->k);
    f->k = NULL;
    const char *files[] = {"trail.jsonl", "trail.wal"};
    bool seen = false;
    for (size_t i = 0; i < 2; i++) {
        char path[128];
        (void)snprintf(path, sizeof(path), "%s/kms/%s", f->dir, files[i]);
        FILE *fp = fopen(path, "rb");
        if (fp == NULL) {
            continue;
        }
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        assert_null(memmem(buf, n, PW, strlen(PW)));
        seen = seen || memmem(buf, n, "CreateCustomKeyStore", 20) != NULL;
    }
    assert_true(seen);
    f->k = open_kms(f, true);
    assert_int_equal(n_stores(f->k), 1); /* durable */
}

/* Describe: both id and name, an unknown id or name, a bad marker; pages of Limit with markers
 * that walk every store once. */
static void test_kms_cks_describe_pages(void **state)
{
    struct fx *f = *state;
    char ids[3][OHSM_KMS_CKS_ID_MAX];

    add_cluster(&f->cp, "cluster-ddddddddddd", CA2_pem, CA1_pem);
    create(f->k, "s0", CL_A, CA1_pem, ids[0]);
    create(f->k, "s1", CL_C, CA2_pem, ids[1]);
    create(f->k, "s2", "cluster-ddddddddddd", CA2_pem, ids[2]);
    fails(f->k, "DescribeCustomKeyStores",
          json_pack("{s:s, s:s}", "CustomKeyStoreId", ids[0], "CustomKeyStoreName", "s0"),
          "ValidationException");
    fails(f->k, "DescribeCustomKeyStores", by_id("cks-11111111111111111"),
          "CustomKeyStoreNotFoundException");
    fails(f->k, "DescribeCustomKeyStores", json_pack("{s:s}", "CustomKeyStoreName", "nope"),
          "CustomKeyStoreNotFoundException");
    fails(f->k, "DescribeCustomKeyStores", json_pack("{s:s}", "Marker", "x1"),
          "InvalidMarkerException");
    fails(f->k, "DescribeCustomKeyStores", json_pack("{s:s}", "Marker", "4"),
          "InvalidMarkerException");
    char marker[64] = "";
    for (size_t page = 0; page < 3; page++) {
        json_t *in = json_pack("{s:i}", "Limit", 1);
        if (marker[0] != '\0') {
            json_object_set_new(in, "Marker", json_string(marker));
        }
        json_t *out = ok(f->k, "DescribeCustomKeyStores", in);
        json_t *list = json_object_get(out, "CustomKeyStores");
        assert_int_equal(json_array_size(list), 1);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(list, 0), "CustomKeyStoreId")),
            ids[page]);
        if (page < 2) {
            assert_true(json_is_true(json_object_get(out, "Truncated")));
            (void)snprintf(marker, sizeof(marker), "%s",
                           json_string_value(json_object_get(out, "NextMarker")));
        } else {
            assert_true(json_is_false(json_object_get(out, "Truncated")));
            assert_null(json_object_get(out, "NextMarker"));
        }
        json_decref(out);
    }
}

/* The same values as a DISCONNECTED store return its id and make nothing; a different password,
 * or the same values while the store is not DISCONNECTED, is a name in use. */
static void test_kms_cks_create_idempotent(void **state)
{
    struct fx *f = *state;
    char id[OHSM_KMS_CKS_ID_MAX], again[OHSM_KMS_CKS_ID_MAX];

    create(f->k, "store-a", CL_A, CA1_pem, id);
    char *before = snapshot(f->k);
    create(f->k, "store-a", CL_A, CA1_pem, again);
    assert_string_equal(id, again);
    char *after = snapshot(f->k);
    assert_string_equal(before, after);
    free(after);
    fails(f->k, "CreateCustomKeyStore", create_req("store-a", CL_A, CA1_pem, "otherPassw0rd"),
          "CustomKeyStoreNameInUseException");
    set_state(f->k, id, OHSM_CKS_CONNECTED, OHSM_CKSE_NONE);
    fails(f->k, "CreateCustomKeyStore", create_req("store-a", CL_A, CA1_pem, PW),
          "CustomKeyStoreNameInUseException");
    set_state(f->k, id, OHSM_CKS_DISCONNECTED, OHSM_CKSE_NONE);
    after = snapshot(f->k);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* Each refusal of CreateCustomKeyStore with AWS's exception; none makes a store. */
static void test_kms_cks_create_errors(void **state)
{
    struct fx *f = *state;
    char id[OHSM_KMS_CKS_ID_MAX];

    create(f->k, "store-a", CL_A, CA1_pem, id);
    char *before = snapshot(f->k);
    /* the request's own fields */
    fails(f->k, "CreateCustomKeyStore",
          json_pack("{s:s, s:s, s:s}", "CustomKeyStoreName", "n", "TrustAnchorCertificate", CA2_pem,
                    "KeyStorePassword", PW),
          "ValidationException");
    struct ohsm_aws_err e;
    assert_null(call(f->k, "CreateCustomKeyStore",
                     json_pack("{s:s, s:s, s:s}", "CustomKeyStoreName", "n", "CloudHsmClusterId",
                               CL_C, "TrustAnchorCertificate", CA2_pem),
                     &e));
    assert_string_equal(e.type, "ValidationException");
    assert_non_null(strstr(e.msg, "KeyStorePassword"));
    assert_null(call(f->k, "CreateCustomKeyStore",
                     json_pack("{s:s, s:s, s:s}", "CustomKeyStoreName", "n", "CloudHsmClusterId",
                               CL_C, "KeyStorePassword", PW),
                     &e));
    assert_non_null(strstr(e.msg, "TrustAnchorCertificate"));
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA2_pem, "short"),
          "ValidationException");
    json_t *nul = create_req("n", CL_C, CA2_pem, PW);
    json_object_set_new(nul, "CustomKeyStoreName", json_stringn("a\0b", 3));
    fails(f->k, "CreateCustomKeyStore", nul, "ValidationException");
    json_t *ext = create_req("n", CL_C, CA2_pem, PW);
    json_object_set_new(ext, "CustomKeyStoreType", json_string("EXTERNAL_KEY_STORE"));
    fails(f->k, "CreateCustomKeyStore", ext, "UnsupportedOperationException");
    ext = create_req("n", CL_C, CA2_pem, PW);
    json_object_set_new(ext, "XksProxyUriPath", json_string("/kms/xks/v1"));
    fails(f->k, "CreateCustomKeyStore", ext, "UnsupportedOperationException");
    ext = create_req("n", CL_C, CA2_pem, PW);
    json_object_set_new(ext, "CustomKeyStoreType", json_string("AWS_CLOUDHSM"));
    /* (succeeds below as the last check) */
    /* name in use */
    fails(f->k, "CreateCustomKeyStore", create_req("store-a", CL_C, CA2_pem, PW),
          "CustomKeyStoreNameInUseException");
    /* the cluster */
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_NONE, CA2_pem, PW),
          "CloudHsmClusterNotFoundException");
    struct fake_cluster *c = cluster(&f->cp, CL_C);
    c->exists = false;
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA2_pem, PW),
          "CloudHsmClusterNotFoundException");
    c->exists = true;
    (void)snprintf(c->state, sizeof(c->state), "UNINITIALIZED");
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA2_pem, PW),
          "CloudHsmClusterNotActiveException");
    (void)snprintf(c->state, sizeof(c->state), "ACTIVE");
    c->subnet_az[1] = "us-east-1a";
    c->hsm_az[1] = "us-east-1a";
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA2_pem, PW),
          "CloudHsmClusterInvalidConfigurationException");
    c->subnet_az[1] = "us-east-1b"; /* two AZs, both HSMs in one */
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA2_pem, PW),
          "CloudHsmClusterInvalidConfigurationException");
    c->hsm_az[1] = "us-east-1b";
    c->hsm_state[1] = "CREATE_IN_PROGRESS"; /* one active HSM */
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA2_pem, PW),
          "CloudHsmClusterInvalidConfigurationException");
    c->n_hsms = 1;
    c->hsm_state[1] = "ACTIVE";
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA2_pem, PW),
          "CloudHsmClusterInvalidConfigurationException");
    c->n_hsms = 2;
    /* the trust anchor: another certificate, or none */
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA1_pem, PW),
          "IncorrectTrustAnchorException");
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, "not a certificate", PW),
          "IncorrectTrustAnchorException");
    /* in use: the same cluster, or one of its backup lineage */
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_A, CA1_pem, PW),
          "CloudHsmClusterInUseException");
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_B, CA1_pem, PW),
          "CloudHsmClusterInUseException");
    /* the control plane failing */
    f->cp.fail = true;
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_C, CA2_pem, PW), "KMSInternalException");
    f->cp.fail = false;
    char *after = snapshot(f->k);
    assert_string_equal(before, after);
    free(after);
    free(before);
    json_decref(ok(f->k, "CreateCustomKeyStore", ext));
    assert_int_equal(n_stores(f->k), 2);
}

/* Without a control plane (view NULL) no cluster exists. */
static void test_kms_cks_no_view(void **state)
{
    struct fx *f = *state;
    ohsm_kms_close(f->k);
    f->k = open_kms(f, false);
    fails(f->k, "CreateCustomKeyStore", create_req("n", CL_A, CA1_pem, PW),
          "CloudHsmClusterNotFoundException");
    assert_int_equal(n_stores(f->k), 0);
}

/* At most 10 stores per account and Region; another Region has its own 10. */
static void test_kms_cks_limit(void **state)
{
    struct fx *f = *state;
    char id[OHSM_KMS_CKS_ID_MAX];
    f->cp.n = 0;
    for (int i = 0; i < 11; i++) {
        char cid[32], name[16];
        (void)snprintf(cid, sizeof(cid), "cluster-%caaaaaaaaaa", 'a' + i);
        (void)snprintf(name, sizeof(name), "s%d", i);
        /* no cluster certificate: no lineage to share */
        add_cluster(&f->cp, cid, CA1_pem, NULL);
        if (i < 10) {
            create(f->k, name, cid, CA1_pem, id);
        } else {
            fails(f->k, "CreateCustomKeyStore", create_req(name, cid, CA1_pem, PW),
                  "LimitExceededException");
        }
    }
    assert_int_equal(n_stores(f->k), 10);
    struct fake_cluster *c = add_cluster(&f->cp, "cluster-eueueueueue", CA1_pem, NULL);
    (void)snprintf(c->region, sizeof(c->region), "eu-west-1");
    struct ohsm_aws_err e;
    json_t *out = call_in(f->k, "eu-west-1", "CreateCustomKeyStore",
                          create_req("s0", "cluster-eueueueueue", CA1_pem, PW), &e);
    assert_non_null(out);
    json_decref(out);
}

/* ---- UpdateCustomKeyStore ---- */

static json_t *upd(const char *id, const char *field, const char *v)
{
    return json_pack("{s:s, s:s}", "CustomKeyStoreId", id, field, v);
}

/* The name changes when CONNECTED or DISCONNECTED, the password and the cluster only when
 * DISCONNECTED; a taken name, an unknown, unrelated, inactive or used cluster and Xks fields
 * are refused; a refused update changes nothing. */
static void test_kms_cks_update(void **state)
{
    struct fx *f = *state;
    char id[OHSM_KMS_CKS_ID_MAX], other[OHSM_KMS_CKS_ID_MAX];
    char pw[OHSM_KMS_CKS_PW_MAX + 1];
    struct ohsm_kms_cks s;

    add_cluster(&f->cp, "cluster-ddddddddddd", CA2_pem, CC2_pem); /* C's lineage */
    create(f->k, "store-a", CL_A, CA1_pem, id);
    create(f->k, "store-c", CL_C, CA2_pem, other);
    fails(f->k, "UpdateCustomKeyStore", upd("cks-11111111111111111", "NewCustomKeyStoreName", "x"),
          "CustomKeyStoreNotFoundException");
    fails(f->k, "UpdateCustomKeyStore", upd("bogus", "KeyStorePassword", "newPassw0rd"),
          "CustomKeyStoreNotFoundException");
    char *before = snapshot(f->k);
    fails(f->k, "UpdateCustomKeyStore", upd(id, "NewCustomKeyStoreName", "store-c"),
          "CustomKeyStoreNameInUseException");
    fails(f->k, "UpdateCustomKeyStore", upd(id, "XksProxyUriPath", "/kms/xks/v1"),
          "ValidationException");
    fails(f->k, "UpdateCustomKeyStore", upd(id, "KeyStorePassword", "short"),
          "ValidationException");
    fails(f->k, "UpdateCustomKeyStore", upd(id, "NewCustomKeyStoreName", ""),
          "ValidationException");
    json_t *nul = by_id(id);
    json_object_set_new(nul, "NewCustomKeyStoreName", json_stringn("a\0b", 3));
    fails(f->k, "UpdateCustomKeyStore", nul, "ValidationException");
    nul = by_id(id);
    json_object_set_new(nul, "KeyStorePassword", json_stringn("passw\0rd1", 9));
    fails(f->k, "UpdateCustomKeyStore", nul, "ValidationException");
    fails(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_NONE),
          "CloudHsmClusterNotFoundException");
    fails(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_C),
          "CloudHsmClusterNotRelatedException");
    struct fake_cluster *b = cluster(&f->cp, CL_B);
    (void)snprintf(b->state, sizeof(b->state), "DEGRADED");
    fails(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_B),
          "CloudHsmClusterNotActiveException");
    (void)snprintf(b->state, sizeof(b->state), "ACTIVE");
    b->hsm_state[0] = "DELETED";
    fails(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_B),
          "CloudHsmClusterInvalidConfigurationException");
    b->hsm_state[0] = "ACTIVE";
    /* store-c may not move to another lineage */
    fails(f->k, "UpdateCustomKeyStore", upd(other, "CloudHsmClusterId", CL_A),
          "CloudHsmClusterNotRelatedException");
    /* the state rules */
    uint32_t not_disc[] = {OHSM_CKS_CONNECTING, OHSM_CKS_CONNECTED, OHSM_CKS_DISCONNECTING,
                           OHSM_CKS_FAILED};
    for (size_t i = 0; i < 4; i++) {
        uint32_t st = not_disc[i];
        set_state(f->k, id, st, st == OHSM_CKS_FAILED ? OHSM_CKSE_INTERNAL_ERROR : 0);
        fails(f->k, "UpdateCustomKeyStore", upd(id, "KeyStorePassword", "newPassw0rd"),
              "CustomKeyStoreInvalidStateException");
        fails(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_B),
              "CustomKeyStoreInvalidStateException");
        if (st != OHSM_CKS_CONNECTED) {
            fails(f->k, "UpdateCustomKeyStore", upd(id, "NewCustomKeyStoreName", "renamed"),
                  "CustomKeyStoreInvalidStateException");
        }
        assert_int_equal(get_state(f->k, id), st);
    }
    set_state(f->k, id, OHSM_CKS_DISCONNECTED, 0);
    char *after = snapshot(f->k);
    assert_string_equal(before, after);
    free(after);
    free(before);

    /* what is allowed */
    set_state(f->k, id, OHSM_CKS_CONNECTED, 0);
    json_decref(ok(f->k, "UpdateCustomKeyStore", upd(id, "NewCustomKeyStoreName", "renamed")));
    assert_int_equal(get_state(f->k, id), OHSM_CKS_CONNECTED);
    set_state(f->k, id, OHSM_CKS_DISCONNECTED, 0);
    json_decref(ok(f->k, "UpdateCustomKeyStore", upd(id, "NewCustomKeyStoreName", "renamed")));
    json_decref(ok(f->k, "UpdateCustomKeyStore", upd(id, "KeyStorePassword", "newPassw0rd")));
    json_decref(ok(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_B)));
    assert_int_equal(ohsm_kms_store_cks_get(f->k->store, id, &s), OHSM_OK);
    assert_string_equal(s.name, "renamed");
    assert_string_equal(s.cluster_id, CL_B);
    assert_int_equal(ohsm_kms_cks_unseal_pw(f->k, id, "pw", s.pw_sealed, s.pw_sealed_len, pw),
                     OHSM_OK);
    assert_string_equal(pw, "newPassw0rd");
    OPENSSL_cleanse(pw, sizeof(pw));
    ohsm_kms_cks_clear(&s);
    /* back to A (same lineage) */
    json_decref(ok(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_A)));
    /* the store's cluster deleted: still related by its cluster certificate while the control
     * plane knows it, else by the store's trust anchor */
    struct fake_cluster *a = cluster(&f->cp, CL_A);
    a->exists = false;
    fails(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", "cluster-ddddddddddd"),
          "CloudHsmClusterNotRelatedException"); /* CA2's D, C's lineage */
    json_decref(ok(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_B)));
    (void)snprintf(b->id, sizeof(b->id), "cluster-gonegonegone"); /* B unknown now */
    fails(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", "cluster-ddddddddddd"),
          "CloudHsmClusterNotRelatedException");
    a->exists = true; /* A has the store's trust anchor */
    json_decref(ok(f->k, "UpdateCustomKeyStore", upd(id, "CloudHsmClusterId", CL_A)));
    /* a related cluster used by another store (put in the table directly) is in use */
    record(f->k, &s, ID2, 1);
    (void)snprintf(s.cluster_id, sizeof(s.cluster_id), "cluster-ddddddddddd");
    s.region[0] = 'x'; /* another region's store does not count... */
    assert_int_equal(ohsm_kms_store_cks_add(f->k->store, &s), OHSM_OK);
    json_decref(
        ok(f->k, "UpdateCustomKeyStore", upd(other, "CloudHsmClusterId", "cluster-ddddddddddd")));
    json_decref(ok(f->k, "UpdateCustomKeyStore", upd(other, "CloudHsmClusterId", CL_C)));
    s.region[0] = 'u'; /* ...this one does */
    assert_int_equal(ohsm_kms_store_cks_put(f->k->store, &s), OHSM_OK);
    ohsm_kms_cks_clear(&s);
    fails(f->k, "UpdateCustomKeyStore", upd(other, "CloudHsmClusterId", "cluster-ddddddddddd"),
          "CloudHsmClusterInUseException");
    assert_int_equal(ohsm_kms_store_cks_get(f->k->store, other, &s), OHSM_OK);
    assert_string_equal(s.cluster_id, CL_C);
    ohsm_kms_cks_clear(&s);
}

/* ---- DeleteCustomKeyStore, ConnectCustomKeyStore, DisconnectCustomKeyStore ---- */

/* Only a DISCONNECTED store without KMS keys (PendingDeletion included) is deleted. */
static void test_kms_cks_delete(void **state)
{
    struct fx *f = *state;
    char id[OHSM_KMS_CKS_ID_MAX];
    struct ohsm_aws_err e;

    create(f->k, "store-a", CL_A, CA1_pem, id);
    fails(f->k, "DeleteCustomKeyStore", by_id("cks-11111111111111111"),
          "CustomKeyStoreNotFoundException");
    for (uint32_t st = OHSM_CKS_CONNECTING; st < OHSM_CKS_STATE_COUNT_; st++) {
        set_state(f->k, id, st, st == OHSM_CKS_FAILED ? OHSM_CKSE_USER_NOT_FOUND : 0);
        fails(f->k, "DeleteCustomKeyStore", by_id(id), "CustomKeyStoreInvalidStateException");
    }
    set_state(f->k, id, OHSM_CKS_DISCONNECTED, 0);
    /* a key of the store, pending deletion */
    json_t *out = call(f->k, "CreateKey", json_object(), &e);
    assert_non_null(out);
    struct ohsm_kms_key key;
    assert_int_equal(
        ohsm_kms_tab_get(
            f->k, json_string_value(json_object_get(json_object_get(out, "KeyMetadata"), "KeyId")),
            &key),
        OHSM_OK);
    json_decref(out);
    (void)snprintf(key.custom_key_store_id, sizeof(key.custom_key_store_id), "%s", id);
    key.state = OHSM_KSTATE_PENDING_DELETION;
    (void)pthread_mutex_lock(&f->k->write_lock);
    assert_int_equal(ohsm_kms_tab_put(f->k, &key), OHSM_OK);
    (void)pthread_mutex_unlock(&f->k->write_lock);
    fails(f->k, "DeleteCustomKeyStore", by_id(id), "CustomKeyStoreHasCMKsException");
    assert_int_equal(n_stores(f->k), 1);
    (void)pthread_mutex_lock(&f->k->write_lock);
    assert_int_equal(ohsm_kms_tab_delete(f->k, key.id), OHSM_OK);
    (void)pthread_mutex_unlock(&f->k->write_lock);
    ohsm_kms_key_clear(&key);
    json_decref(ok(f->k, "DeleteCustomKeyStore", by_id(id)));
    fails(f->k, "DescribeCustomKeyStores", by_id(id), "CustomKeyStoreNotFoundException");
    fails(f->k, "DeleteCustomKeyStore", by_id(id), "CustomKeyStoreNotFoundException");
    /* the cluster is free again */
    create(f->k, "store-a", CL_A, CA1_pem, id);
}

/* Connect: DISCONNECTING and FAILED refused, CONNECTED and CONNECTING unchanged, quick cluster
 * failures leave DISCONNECTED; a missing cluster is not a quick failure. Disconnect:
 * DISCONNECTED and DISCONNECTING refused. */
static void test_kms_cks_connect_disconnect(void **state)
{
    struct fx *f = *state;
    char id[OHSM_KMS_CKS_ID_MAX];
    struct ohsm_aws_err e;

    create(f->k, "store-a", CL_A, CA1_pem, id);
    fails(f->k, "ConnectCustomKeyStore", by_id("cks-11111111111111111"),
          "CustomKeyStoreNotFoundException");
    fails(f->k, "DisconnectCustomKeyStore", by_id("cks-11111111111111111"),
          "CustomKeyStoreNotFoundException");
    fails(f->k, "DisconnectCustomKeyStore", by_id(id), "CustomKeyStoreInvalidStateException");
    set_state(f->k, id, OHSM_CKS_DISCONNECTING, 0);
    fails(f->k, "ConnectCustomKeyStore", by_id(id), "CustomKeyStoreInvalidStateException");
    fails(f->k, "DisconnectCustomKeyStore", by_id(id), "CustomKeyStoreInvalidStateException");
    set_state(f->k, id, OHSM_CKS_FAILED, OHSM_CKSE_NETWORK_ERRORS);
    fails(f->k, "ConnectCustomKeyStore", by_id(id), "CustomKeyStoreInvalidStateException");
    assert_int_equal(get_state(f->k, id), OHSM_CKS_FAILED);
    set_state(f->k, id, OHSM_CKS_CONNECTED, 0);
    json_decref(ok(f->k, "ConnectCustomKeyStore", by_id(id)));
    assert_int_equal(get_state(f->k, id), OHSM_CKS_CONNECTED);
    set_state(f->k, id, OHSM_CKS_CONNECTING, 0);
    json_decref(ok(f->k, "ConnectCustomKeyStore", by_id(id)));
    assert_int_equal(get_state(f->k, id), OHSM_CKS_CONNECTING);

    set_state(f->k, id, OHSM_CKS_DISCONNECTED, 0);
    struct fake_cluster *a = cluster(&f->cp, CL_A);
    (void)snprintf(a->state, sizeof(a->state), "UNINITIALIZED");
    fails(f->k, "ConnectCustomKeyStore", by_id(id), "CloudHsmClusterNotActiveException");
    assert_int_equal(get_state(f->k, id), OHSM_CKS_DISCONNECTED);
    /* DEGRADED (activated, an HSM unhealthy) is not a quick failure: the worker finds out */
    (void)snprintf(a->state, sizeof(a->state), "DEGRADED");
    {
        struct ohsm_aws_err e2;
        json_t *out = call(f->k, "ConnectCustomKeyStore", by_id(id), &e2);
        assert_true(out != NULL || strcmp(e2.type, "KMSInternalException") == 0);
        assert_true(out == NULL || get_state(f->k, id) == OHSM_CKS_CONNECTING);
        json_decref(out);
    }
    set_state(f->k, id, OHSM_CKS_DISCONNECTED, 0);
    (void)snprintf(a->state, sizeof(a->state), "ACTIVE");
    a->n_subnets = 1;
    fails(f->k, "ConnectCustomKeyStore", by_id(id), "CloudHsmClusterInvalidConfigurationException");
    assert_int_equal(get_state(f->k, id), OHSM_CKS_DISCONNECTED);
    a->n_subnets = 2;
    a->hsm_state[0] = a->hsm_state[1] = "DELETED"; /* no HSM: the worker's failure, not quick */
    for (int missing = 0; missing < 2; missing++) {
        a->exists = missing == 0; /* then a missing cluster: the worker's CLUSTER_NOT_FOUND */
        json_t *out = call(f->k, "ConnectCustomKeyStore", by_id(id), &e);
        if (out != NULL) { /* the connection manager took it */
            json_decref(out);
            assert_int_not_equal(get_state(f->k, id), OHSM_CKS_DISCONNECTED);
            set_state(f->k, id, OHSM_CKS_DISCONNECTED, 0);
        } else { /* no worker yet: refused, nothing changed */
            assert_string_equal(e.type, "KMSInternalException");
            assert_int_equal(get_state(f->k, id), OHSM_CKS_DISCONNECTED);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_cks_create_describe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_describe_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_create_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_create_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_no_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_cks_connect_disconnect, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
