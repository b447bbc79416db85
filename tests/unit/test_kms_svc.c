/* SPDX-License-Identifier: Apache-2.0
 * The KMS service in-process (src/kms/svc.c, keytab.c, op_*.c, rotate.c, sched.c) over the
 * in-memory sealer and a temp data dir, calling handlers through the service table as the front
 * door does: the material cache stays within its bound while every key keeps working and wipes
 * what it drops; KeyId resolves by id, ARN, alias and alias ARN and nothing else; a rotation keeps
 * old ciphertexts; the scheduler deletes a key at its date on the injected clock, not before; a
 * reopened service has every key back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kms/kms_int.h"

static int64_t clock_now = 1800000000;

static int64_t fake_now(void *ctx)
{
    (void)ctx;
    return clock_now;
}

struct fx {
    char dir[64];
    struct ohsm_kms_sealer sealer;
    struct ohsm_kms *k;
};

static struct ohsm_kms *open_kms(struct fx *f, size_t cache_max)
{
    char err[256];
    struct ohsm_kms_cfg cfg = {.data_dir = f->dir,
                               .region = "us-east-1",
                               .account_id = "111122223333",
                               .sealer = f->sealer,
                               .now = fake_now,
                               .cache_max = cache_max};
    struct ohsm_kms *k = NULL;
    assert_int_equal(ohsm_kms_open(&cfg, &k, err, sizeof(err)), OHSM_OK);
    return k;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-kms-svc-XXXXXX");
    if (mkdtemp(f->dir) == NULL || ohsm_kms_sealer_mem(&f->sealer) != OHSM_OK) {
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

static json_t *call(struct ohsm_kms *k, const char *op, json_t *in, struct ohsm_aws_err *err)
{
    const struct ohsm_json_service *svc = ohsm_kms_service(k);
    struct ohsm_http_call c = {"req", "AKID", "us-east-1", "111122223333"};
    memset(err, 0, sizeof(*err));
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

static char *create(struct ohsm_kms *k)
{
    struct ohsm_aws_err e;
    json_t *out = call(k, "CreateKey", json_object(), &e);
    assert_non_null(out);
    char *id =
        strdup(json_string_value(json_object_get(json_object_get(out, "KeyMetadata"), "KeyId")));
    json_decref(out);
    return id;
}

static char *encrypt(struct ohsm_kms *k, const char *key, const char *pt_b64)
{
    struct ohsm_aws_err e;
    json_t *out =
        call(k, "Encrypt", json_pack("{s:s, s:s}", "KeyId", key, "Plaintext", pt_b64), &e);
    assert_non_null(out);
    char *ct = strdup(json_string_value(json_object_get(out, "CiphertextBlob")));
    json_decref(out);
    return ct;
}

static void decrypts_to(struct ohsm_kms *k, const char *ct, const char *pt_b64)
{
    struct ohsm_aws_err e;
    json_t *out = call(k, "Decrypt", json_pack("{s:s}", "CiphertextBlob", ct), &e);
    if (out == NULL) {
        fail_msg("Decrypt: %s %s", e.type, e.msg);
    }
    assert_string_equal(json_string_value(json_object_get(out, "Plaintext")), pt_b64);
    json_decref(out);
}

/* Five keys through a cache of two: all work, the cache never holds more than two unused. */
static void test_kms_svc_cache_bound(void **state)
{
    struct fx *f = *state;
    char *ids[5], *cts[5];
    f->k = open_kms(f, 2);
    for (int i = 0; i < 5; i++) {
        ids[i] = create(f->k);
        cts[i] = encrypt(f->k, ids[i], "aGVsbG8=");
        assert_true(f->k->cache_n <= 2);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5; i++) {
            decrypts_to(f->k, cts[i], "aGVsbG8=");
            assert_true(f->k->cache_n <= 2);
        }
    }
    /* Reopened (a restart): the keys are back and unseal again. */
    ohsm_kms_close(f->k);
    f->k = open_kms(f, 2);
    assert_int_equal(f->k->n_keys, 5);
    for (int i = 0; i < 5; i++) {
        decrypts_to(f->k, cts[i], "aGVsbG8=");
        free(ids[i]);
        free(cts[i]);
    }
}

/* KeyId forms: id (any case), ARN, alias, alias ARN; a wrong account, region or shape is not
 * found, a malformed ARN is InvalidArnException. */
static void test_kms_svc_resolve(void **state)
{
    struct fx *f = *state;
    struct ohsm_aws_err e;
    struct ohsm_kms_key key;
    char arn[160], upper[40];
    struct ohsm_http_call c = {"req", "AKID", "us-east-1", "111122223333"};
    f->k = open_kms(f, 0);
    char *id = create(f->k);
    json_decref(call(f->k, "CreateAlias",
                     json_pack("{s:s, s:s}", "AliasName", "alias/x", "TargetKeyId", id), &e));
    (void)snprintf(arn, sizeof(arn), "arn:aws:kms:us-east-1:111122223333:key/%s", id);
    for (size_t i = 0; i < strlen(id) + 1; i++) {
        upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
    }
    const char *good[] = {id, upper, arn, "alias/x", "arn:aws:kms:us-east-1:111122223333:alias/x"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(ohsm_kms_resolve(f->k, &c, good[i], &key, &e), 0);
        assert_string_equal(key.id, id);
        ohsm_kms_key_clear(&key);
    }
    char other[160];
    (void)snprintf(other, sizeof(other), "arn:aws:kms:us-west-2:111122223333:key/%s", id);
    const char *missing[] = {"alias/y", "alias/", other, "x",
                             "arn:aws:kms:us-east-1:111122223333:alias/y"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(ohsm_kms_resolve(f->k, &c, missing[i], &key, &e), -1);
        assert_string_equal(e.type, "NotFoundException");
    }
    assert_int_equal(ohsm_kms_resolve(f->k, &c, "arn:aws:kms:us-east-1:1:key/x", &key, &e), -1);
    assert_string_equal(e.type, "InvalidArnException");
    assert_int_equal(ohsm_kms_resolve(f->k, &c, "arn:aws:s3:::bucket", &key, &e), -1);
    assert_string_equal(e.type, "InvalidArnException");
    free(id);
}

/* Rotation: a new version is current, the old ciphertext still decrypts. */
static void test_kms_svc_rotation(void **state)
{
    struct fx *f = *state;
    struct ohsm_aws_err e;
    f->k = open_kms(f, 0);
    char *id = create(f->k);
    char *old = encrypt(f->k, id, "b2xk");
    json_t *out = call(f->k, "RotateKeyOnDemand", json_pack("{s:s}", "KeyId", id), &e);
    assert_non_null(out);
    json_decref(out);
    char *newer = encrypt(f->k, id, "bmV3");
    decrypts_to(f->k, old, "b2xk");
    decrypts_to(f->k, newer, "bmV3");
    struct ohsm_kms_key key;
    assert_int_equal(ohsm_kms_tab_get(f->k, id, &key), OHSM_OK);
    assert_int_equal(key.cur_version, 2);
    ohsm_kms_key_clear(&key);
    free(id);
    free(old);
    free(newer);
}

/* The scheduler deletes at the deletion date of the injected clock, not a second before. */
static void test_kms_svc_scheduled_deletion(void **state)
{
    struct fx *f = *state;
    struct ohsm_aws_err e;
    struct ohsm_kms_key key;
    f->k = open_kms(f, 0);
    char *id = create(f->k);
    json_t *out = call(f->k, "ScheduleKeyDeletion",
                       json_pack("{s:s, s:i}", "KeyId", id, "PendingWindowInDays", 7), &e);
    assert_non_null(out);
    json_decref(out);
    clock_now += 7 * 86400 - 1;
    ohsm_kms_tick(f->k);
    assert_int_equal(ohsm_kms_tab_get(f->k, id, &key), OHSM_OK);
    assert_int_equal(key.state, OHSM_KSTATE_PENDING_DELETION);
    ohsm_kms_key_clear(&key);
    clock_now += 1;
    ohsm_kms_tick(f->k);
    assert_int_equal(ohsm_kms_tab_get(f->k, id, &key), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_kms_store_key_get(f->k->store, id, &key), OHSM_KEY_HANDLE_INVALID);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kms_svc_cache_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_svc_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_svc_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kms_svc_scheduled_deletion, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
