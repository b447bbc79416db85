/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for the KMS handlers (src/kms/op_*.c, rotate.c, through svc.c's dispatcher and the
 * audit trail): the input's first byte picks an operation of the TrentService table, the rest is
 * its JSON body. As the front door does, a body that does not parse as an object or fails
 * botocore's model (ohsm_model_kms_validate) is refused before a handler runs; what passes goes to
 * the handler.
 *
 * State: one KMS per process in a temp directory under /dev/shm (fsync is cheap there), with the
 * in-memory sealer, made once: a symmetric key, an RSA signing key, an HMAC key, an EXTERNAL key
 * and an alias, under fixed ids so the seeds can name them (the store is rewritten to them).
 * Later inputs act on that state, as a hostile client would across calls.
 *
 * Invariants (any broken one aborts): a handler returns a JSON object or NULL with an error
 * whose type is set and whose status is 4xx or 5xx, never a 500 KMSInternalException for input
 * the model accepted (that would be a bug or an unhandled case). Seeds: fuzz/corpus/kms_ops.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "http/http.h"
#include "kms/kms.h"
#include "kms/seal.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ohsm_kms *kms;
static const struct ohsm_json_service *svc;
static struct ohsm_kms_sealer sealer;
static char dir[] = "/dev/shm/ohsm-fuzz-kms-XXXXXX";

/* Closes the KMS and removes its files (the only ones it makes), so runs leave nothing behind. */
static void cleanup(void)
{
    static const char *const files[] = {"kms/kms.db", "kms/kms.db-wal", "kms/kms.db-shm",
                                        "kms/trail.jsonl", "kms"};
    char path[sizeof(dir) + 32];

    ohsm_kms_close(kms);
    kms = NULL;
    ohsm_kms_sealer_mem_free(&sealer);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        (void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        (void)remove(path);
    }
    (void)remove(dir);
}

static int64_t now(void *ctx)
{
    (void)ctx;
    return (int64_t)time(NULL);
}

static json_t *call(const char *op, json_t *in, struct ohsm_aws_err *err)
{
    struct ohsm_http_call c = {"00000000-0000-4000-8000-000000000000", "AKIDFUZZ", "us-east-1",
                               "111122223333"};
    for (size_t i = 0; i < svc->n_ops; i++) {
        if (strcmp(svc->ops[i].name, op) == 0) {
            return svc->ops[i].fn(svc->ctx, &c, in, err);
        }
    }
    abort();
}

static void setup(void)
{
    char err[256];
    struct ohsm_kms_cfg cfg = {0};
    struct ohsm_aws_err e;

    if (mkdtemp(dir) == NULL || ohsm_kms_sealer_mem(&sealer) != OHSM_OK) {
        abort();
    }
    cfg.data_dir = dir;
    cfg.region = "us-east-1";
    cfg.account_id = "111122223333";
    cfg.sealer = sealer;
    cfg.now = now;
    if (ohsm_kms_open(&cfg, &kms, err, sizeof(err)) != OHSM_OK) {
        fprintf(stderr, "fuzz_kms_ops: %s\n", err);
        abort();
    }
    svc = ohsm_kms_service(kms);
    (void)atexit(cleanup);
    /* A few keys to act on; their ids are random, so seeds name them by alias. */
    static const char *const keys[][3] = {
        {"SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "alias/sym"},
        {"ECC_NIST_P256", "SIGN_VERIFY", "alias/ecc"},
        {"HMAC_256", "GENERATE_VERIFY_MAC", "alias/mac"},
        {"RSA_2048", "ENCRYPT_DECRYPT", "alias/rsa"},
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *in = json_pack("{s:s, s:s}", "KeySpec", keys[i][0], "KeyUsage", keys[i][1]);
        json_t *out = call("CreateKey", in, &e);
        if (out == NULL) {
            abort();
        }
        json_t *a = json_pack("{s:s, s:O}", "AliasName", keys[i][2], "TargetKeyId",
                              json_object_get(json_object_get(out, "KeyMetadata"), "KeyId"));
        json_t *r = call("CreateAlias", a, &e);
        if (r == NULL) {
            abort();
        }
        json_decref(r);
        json_decref(a);
        json_decref(out);
        json_decref(in);
    }
    json_t *in = json_pack("{s:s}", "Origin", "EXTERNAL");
    json_t *out = call("CreateKey", in, &e);
    json_t *a = json_pack("{s:s, s:O}", "AliasName", "alias/ext", "TargetKeyId",
                          json_object_get(json_object_get(out, "KeyMetadata"), "KeyId"));
    json_decref(call("CreateAlias", a, &e));
    json_decref(a);
    json_decref(out);
    json_decref(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct ohsm_aws_err err;
    char msg[512];
    json_error_t je;

    if (!ready) {
        setup();
        ready = true;
    }
    if (size < 1 || size > 16384) {
        return 0;
    }
    const struct ohsm_json_op *op = &svc->ops[data[0] % svc->n_ops];
    /* Mass deletion would empty the state the seeds rely on; the scheduler's path is tested
     * elsewhere. */
    if (strcmp(op->name, "ScheduleKeyDeletion") == 0) {
        return 0;
    }
    json_t *in = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(in) || ohsm_model_kms_validate(op->name, in, msg, sizeof(msg)) != 0) {
        json_decref(in);
        return 0;
    }
    memset(&err, 0, sizeof(err));
    json_t *out = op->fn(
        svc->ctx, &(struct ohsm_http_call){"r", "AKIDFUZZ", "us-east-1", "111122223333"}, in, &err);
    if (out != NULL) {
        if (!json_is_object(out)) {
            abort();
        }
    } else if (err.type[0] == '\0' || err.status < 400 || err.status > 599 ||
               strcmp(err.type, "KMSInternalException") == 0) {
        fprintf(stderr, "fuzz_kms_ops: %s -> %u %s: %s\n", op->name, err.status, err.type, err.msg);
        abort();
    }
    json_decref(out);
    json_decref(in);
    return 0;
}
