/* SPDX-License-Identifier: Apache-2.0
 *
 * The TrentService table and what every handler shares (kms_int.h): the one array of operations
 * (the router and the list of supported operations are the same table), the dispatcher that
 * records each call in the audit trail before the reply leaves, key resolution (id, ARN, alias,
 * alias ARN) with the key-state table, field readers, KeyMetadata, pagination, and the service's
 * life (open, scheduler, close).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kms/blob.h"
#include "kms/kms_int.h"
#include "model/model.h"

/* ---- clock ---- */

int64_t ohsm_kms_now(struct ohsm_kms *k)
{
    return k->now(k->now_ctx);
}

int64_t ohsm_kms_now_ms(struct ohsm_kms *k)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return ohsm_kms_now(k) * 1000 + ts.tv_nsec / 1000000;
}

void ohsm_kms_key_arn(const struct ohsm_kms_key *key, char *out, size_t cap)
{
    (void)snprintf(out, cap, "arn:aws:kms:%s:%s:key/%s", key->region, key->account, key->id);
}

/* ---- errors ---- */

json_t *ohsm_kms_fail(struct ohsm_aws_err *err, const char *type, const char *fmt, ...)
{
    va_list ap;

    err->status =
        strcmp(type, "KMSInternalException") == 0 || strcmp(type, "KeyUnavailableException") == 0
            ? 500
        : strcmp(type, "DependencyTimeoutException") == 0 ? 503
                                                          : 400;
    (void)snprintf(err->type, sizeof(err->type), "%s", type);
    va_start(ap, fmt);
    (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return NULL;
}

json_t *ohsm_kms_internal(struct ohsm_aws_err *err, const char *what, ohsm_rv rv)
{
    fprintf(stderr, "openhsmd: kms: %s: %s\n", what, ohsm_rv_str(rv));
    return ohsm_kms_fail(err, "KMSInternalException", "The request could not be completed: %s.",
                         what);
}

int ohsm_kms_dry_run(json_t *in, struct ohsm_aws_err *err)
{
    if (json_is_true(json_object_get(in, "DryRun"))) {
        ohsm_kms_fail(err, "DryRunOperationException",
                      "The request would have succeeded, but the DryRun flag is set.");
        err->status = 412;
        return -1;
    }
    return 0;
}

int ohsm_kms_no_recipient(json_t *in, struct ohsm_aws_err *err)
{
    if (json_object_get(in, "Recipient") != NULL) {
        ohsm_kms_fail(err, "UnsupportedOperationException",
                      "Recipient (AWS Nitro Enclaves attestation) is not supported by openhsm.");
        return -1;
    }
    return 0;
}

/* ---- fields ---- */

const char *ohsm_kms_str(json_t *in, const char *name)
{
    json_t *v = json_object_get(in, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int ohsm_kms_b64_get(json_t *in, const char *name, bool secret, uint8_t **out, size_t *len,
                     struct ohsm_aws_err *err)
{
    json_t *v = json_object_get(in, name);
    const char *s;
    size_t n, pad = 0, cap;
    uint8_t *buf;
    int got;

    *out = NULL;
    *len = 0;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    s = json_string_value(v);
    n = json_string_length(v);
    if (s == NULL || n % 4 != 0 || n > INT32_MAX) {
        ohsm_kms_fail(err, "ValidationException", "Value at '%c%s' is not valid base64.",
                      name[0] + 32, name + 1);
        return -1;
    }
    if (n >= 1 && s[n - 1] == '=') {
        pad++;
    }
    if (n >= 2 && s[n - 2] == '=') {
        pad++;
    }
    cap = n / 4 * 3 + 1;
    buf = secret ? OPENSSL_secure_malloc(cap) : malloc(cap);
    if (buf == NULL) {
        ohsm_kms_fail(err, "KMSInternalException", "Out of memory.");
        return -1;
    }
    got = n == 0 ? 0 : EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
    if (got < 0 || (size_t)got < pad) {
        if (secret) {
            OPENSSL_secure_clear_free(buf, cap);
        } else {
            free(buf);
        }
        ohsm_kms_fail(err, "ValidationException", "Value at '%c%s' is not valid base64.",
                      name[0] + 32, name + 1);
        return -1;
    }
    *out = buf;
    *len = (size_t)got - pad;
    return 0;
}

int ohsm_kms_b64_set(json_t *obj, const char *name, const uint8_t *p, size_t len)
{
    size_t cap = (len + 2) / 3 * 4 + 1;
    char stackbuf[8192];
    char *buf = cap <= sizeof(stackbuf) ? stackbuf : malloc(cap);
    int rc = -1;

    if (buf == NULL || len > INT32_MAX) {
        goto out;
    }
    int n = EVP_EncodeBlock((unsigned char *)buf, p, (int)len);
    if (n < 0) {
        goto out;
    }
    rc = json_object_set_new(obj, name, json_stringn(buf, (size_t)n));
out:
    if (buf != stackbuf) {
        free(buf);
    }
    return rc;
}

/* ---- keys ---- */

static bool is_uuid(const char *s)
{
    uint8_t b[16];
    return ohsm_kms_uuid_parse(s, b) == OHSM_OK;
}

static int not_found(struct ohsm_aws_err *err, const char *ref, const struct ohsm_http_call *call)
{
    if (strncmp(ref, "arn:", 4) == 0 && strstr(ref, ":alias/") != NULL) {
        ohsm_kms_fail(err, "NotFoundException", "Alias %s is not found.", ref);
    } else if (strncmp(ref, "alias/", 6) == 0) {
        ohsm_kms_fail(err, "NotFoundException", "Alias arn:aws:kms:%s:%s:%s is not found.",
                      call->region, call->account_id, ref);
    } else if (strncmp(ref, "arn:", 4) == 0) {
        ohsm_kms_fail(err, "NotFoundException", "Key '%s' does not exist", ref);
    } else if (is_uuid(ref)) {
        ohsm_kms_fail(err, "NotFoundException", "Key 'arn:aws:kms:%s:%s:key/%s' does not exist",
                      call->region, call->account_id, ref);
    } else {
        ohsm_kms_fail(err, "NotFoundException", "Invalid keyId '%s'", ref);
    }
    return -1;
}

int ohsm_kms_resolve(struct ohsm_kms *k, const struct ohsm_http_call *call, const char *ref,
                     struct ohsm_kms_key *out, struct ohsm_aws_err *err)
{
    char region[32], account[16], id[OHSM_KMS_ID_LEN + 1];
    const char *rest = ref;

    memset(out, 0, sizeof(*out));
    (void)snprintf(region, sizeof(region), "%s", call->region);
    (void)snprintf(account, sizeof(account), "%s", call->account_id);
    if (strncmp(ref, "arn:", 4) == 0) {
        /* arn:aws:kms:REGION:ACCOUNT:key/ID | arn:aws:kms:REGION:ACCOUNT:alias/NAME */
        const char *p = ref + 4;
        const char *f[4];
        size_t fl[4];
        for (int i = 0; i < 4; i++) {
            const char *c = strchr(p, ':');
            if (c == NULL) {
                ohsm_kms_fail(err, "InvalidArnException", "Invalid arn %s", ref);
                return -1;
            }
            f[i] = p;
            fl[i] = (size_t)(c - p);
            p = c + 1;
        }
        if (fl[0] != 3 || strncmp(f[0], "aws", 3) != 0 || fl[1] != 3 ||
            strncmp(f[1], "kms", 3) != 0 || fl[2] == 0 || fl[2] >= sizeof(region) || fl[3] != 12) {
            ohsm_kms_fail(err, "InvalidArnException", "Invalid arn %s", ref);
            return -1;
        }
        memcpy(region, f[2], fl[2]);
        region[fl[2]] = '\0';
        memcpy(account, f[3], 12);
        account[12] = '\0';
        rest = p;
        if (strncmp(rest, "key/", 4) != 0 && strncmp(rest, "alias/", 6) != 0) {
            ohsm_kms_fail(err, "InvalidArnException", "Invalid arn %s", ref);
            return -1;
        }
        if (strncmp(rest, "key/", 4) == 0) {
            rest += 4;
            if (!is_uuid(rest)) {
                return not_found(err, ref, call);
            }
        }
    }
    if (strcmp(account, call->account_id) != 0) {
        return not_found(err, ref, call);
    }
    if (strncmp(rest, "alias/", 6) == 0) {
        struct ohsm_kms_alias a;
        if (ohsm_kms_store_alias_get(k->store, region, rest, &a) != OHSM_OK) {
            return not_found(err, ref, call);
        }
        memcpy(id, a.key_id, sizeof(id));
    } else if (is_uuid(rest)) {
        size_t i;
        for (i = 0; i < OHSM_KMS_ID_LEN; i++) {
            id[i] = (char)(rest[i] >= 'A' && rest[i] <= 'F' ? rest[i] + 32 : rest[i]);
        }
        id[i] = '\0';
    } else {
        return not_found(err, ref, call);
    }
    if (ohsm_kms_tab_get(k, id, out) != OHSM_OK) {
        return not_found(err, ref, call);
    }
    if (strcmp(out->region, region) != 0) {
        ohsm_kms_key_clear(out);
        return not_found(err, ref, call);
    }
    return 0;
}

int ohsm_kms_check(const struct ohsm_kms_key *key, uint32_t op, struct ohsm_aws_err *err)
{
    enum ohsm_kms_verdict v = ohsm_kms_state_check(op, key->state, key->origin);
    char arn[OHSM_KMS_ARN_MAX];

    if (v == OHSM_KV_OK) {
        return 0;
    }
    ohsm_kms_key_arn(key, arn, sizeof(arn));
    ohsm_kms_state_error(v, arn, err->type, sizeof(err->type), err->msg, sizeof(err->msg));
    err->status = 400;
    return -1;
}

int ohsm_kms_use(struct ohsm_kms *k, const struct ohsm_http_call *call, const char *ref,
                 uint32_t op, struct ohsm_kms_key *out, struct ohsm_kms_ctx *x,
                 struct ohsm_aws_err *err)
{
    if (ohsm_kms_resolve(k, call, ref, out, err) != 0) {
        return -1;
    }
    if (x != NULL) {
        ohsm_kms_key_arn(out, x->key_arn, sizeof(x->key_arn));
    }
    if (ohsm_kms_check(out, op, err) != 0) {
        ohsm_kms_key_clear(out);
        return -1;
    }
    return 0;
}

int ohsm_kms_need_usage(const struct ohsm_kms_key *key, uint32_t usage, struct ohsm_aws_err *err)
{
    char arn[OHSM_KMS_ARN_MAX];

    if (key->usage == usage) {
        return 0;
    }
    ohsm_kms_key_arn(key, arn, sizeof(arn));
    ohsm_kms_fail(err, "InvalidKeyUsageException", "%s key usage is %s which is not valid for %s.",
                  arn, ohsm_kms_usage_name(key->usage), ohsm_kms_usage_name(usage));
    return -1;
}

static json_t *alg_array(const uint32_t *algs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n && algs[i] != 0; i++) {
        (void)json_array_append_new(a, json_string(ohsm_kms_alg_name(algs[i])));
    }
    return a;
}

json_t *ohsm_kms_key_metadata(struct ohsm_kms *k, const struct ohsm_kms_key *key)
{
    char arn[OHSM_KMS_ARN_MAX];
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(key->spec);
    json_t *m = json_object();

    if (m == NULL) {
        return NULL;
    }
    ohsm_kms_key_arn(key, arn, sizeof(arn));
    json_object_set_new(m, "AWSAccountId", json_string(key->account));
    json_object_set_new(m, "KeyId", json_string(key->id));
    json_object_set_new(m, "Arn", json_string(arn));
    json_object_set_new(m, "CreationDate", json_real((double)key->created_ms / 1000.0));
    json_object_set_new(m, "Enabled", json_boolean(key->state == OHSM_KSTATE_ENABLED));
    json_object_set_new(m, "Description",
                        json_string(key->description != NULL ? key->description : ""));
    json_object_set_new(m, "KeyUsage", json_string(ohsm_kms_usage_name(key->usage)));
    json_object_set_new(m, "KeyState", json_string(ohsm_kms_state_name(key->state)));
    if (key->state == OHSM_KSTATE_PENDING_DELETION) {
        json_object_set_new(m, "DeletionDate", json_integer(key->deletion_date));
        json_object_set_new(m, "PendingDeletionWindowInDays",
                            json_integer(key->pending_window_days));
    }
    if (key->expiration == OHSM_KEXP_EXPIRES && key->valid_to != 0) {
        json_object_set_new(m, "ValidTo", json_integer(key->valid_to));
    }
    json_object_set_new(m, "Origin", json_string(ohsm_kms_origin_name(key->origin)));
    if (key->origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
        json_object_set_new(m, "CustomKeyStoreId", json_string(key->custom_key_store_id));
        json_object_set_new(m, "CloudHsmClusterId", json_string(key->cluster_id));
    }
    if (key->expiration != OHSM_KEXP_NONE) {
        json_object_set_new(m, "ExpirationModel",
                            json_string(key->expiration == OHSM_KEXP_EXPIRES
                                            ? "KEY_MATERIAL_EXPIRES"
                                            : "KEY_MATERIAL_DOES_NOT_EXPIRE"));
    }
    json_object_set_new(m, "KeyManager", json_string("CUSTOMER"));
    json_object_set_new(m, "CustomerMasterKeySpec", json_string(ohsm_kms_spec_name(key->spec)));
    json_object_set_new(m, "KeySpec", json_string(ohsm_kms_spec_name(key->spec)));
    if (si != NULL) {
        if (key->usage == OHSM_KUSE_ENCRYPT_DECRYPT) {
            json_object_set_new(m, "EncryptionAlgorithms", alg_array(si->enc_algs, 3));
        } else if (key->usage == OHSM_KUSE_SIGN_VERIFY) {
            json_object_set_new(m, "SigningAlgorithms", alg_array(si->sign_algs, 7));
        } else if (key->usage == OHSM_KUSE_GENERATE_VERIFY_MAC) {
            json_object_set_new(m, "MacAlgorithms", alg_array(si->mac_algs, 2));
        }
    }
    json_object_set_new(m, "MultiRegion", json_false());
    if (key->cur_version != 0 && key->origin != OHSM_KORIGIN_AWS_CLOUDHSM) {
        struct ohsm_kms_material mat = {0};
        if (ohsm_kms_store_material_get(k->store, key->id, key->cur_version, &mat) == OHSM_OK) {
            json_object_set_new(m, "CurrentKeyMaterialId", json_string(mat.material_id));
        }
        ohsm_kms_material_clear(&mat);
    }
    return m;
}

char *ohsm_kms_default_policy(const char *account)
{
    char root[64];
    char *p;
    json_t *doc;

    (void)snprintf(root, sizeof(root), "arn:aws:iam::%s:root", account);
    doc = json_pack("{s:s, s:s, s:[{s:s, s:s, s:{s:s}, s:s, s:s}]}", "Version", "2012-10-17", "Id",
                    "key-default-1", "Statement", "Sid", "Enable IAM User Permissions", "Effect",
                    "Allow", "Principal", "AWS", root, "Action", "kms:*", "Resource", "*");
    if (doc == NULL) {
        return NULL;
    }
    p = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return p;
}

/* ---- pagination ---- */

int ohsm_kms_page(json_t *in, size_t *limit, size_t *offset, struct ohsm_aws_err *err)
{
    json_t *l = json_object_get(in, "Limit");
    const char *marker = ohsm_kms_str(in, "Marker");

    *limit = 100;
    *offset = 0;
    if (json_is_integer(l) && json_integer_value(l) > 0) {
        *limit = (size_t)json_integer_value(l);
    }
    if (marker != NULL) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(marker, &end, 10);
        if (marker[0] < '0' || marker[0] > '9' || end == NULL || *end != '\0' || errno != 0 ||
            v > SIZE_MAX) {
            ohsm_kms_fail(err, "InvalidMarkerException", "Invalid marker: %s", marker);
            return -1;
        }
        *offset = (size_t)v;
    }
    return 0;
}

void ohsm_kms_page_end(json_t *out, size_t end, size_t total)
{
    if (end < total) {
        char m[32];
        (void)snprintf(m, sizeof(m), "%zu", end);
        json_object_set_new(out, "NextMarker", json_string(m));
        json_object_set_new(out, "Truncated", json_true());
    } else {
        json_object_set_new(out, "Truncated", json_false());
    }
}

/* ---- the dispatcher: every call is in the audit trail before it is answered ---- */

/* Members never written to the trail: secrets and bulk data. */
static const char *const redacted[] = {
    "Plaintext",
    "CiphertextBlob",
    "CiphertextForRecipient",
    "PrivateKeyPlaintext",
    "PrivateKeyCiphertextBlob",
    "EncryptedKeyMaterial",
    "ImportToken",
    "Message",
    "Signature",
    "Mac",
    "PublicKey",
    "GrantToken",
    "GrantTokens",
    "KeyStorePassword",
    "Recipient",
    "KeyMaterial",
};

/* A copy of obj for the trail: top-level names in CloudTrail's lower camel case, secrets out. */
static json_t *for_trail(json_t *obj)
{
    const char *name;
    json_t *v;
    json_t *out;

    if (!json_is_object(obj)) {
        return NULL;
    }
    out = json_object();
    json_object_foreach(obj, name, v)
    {
        bool skip = false;
        for (size_t i = 0; i < sizeof(redacted) / sizeof(redacted[0]); i++) {
            if (strcmp(name, redacted[i]) == 0) {
                skip = true;
                break;
            }
        }
        if (skip || name[0] == '\0') {
            continue;
        }
        char lc[128];
        (void)snprintf(lc, sizeof(lc), "%s", name);
        if (lc[0] >= 'A' && lc[0] <= 'Z') {
            lc[0] = (char)(lc[0] + 32);
        }
        json_object_set(out, lc, v);
    }
    return out;
}

static json_t *dispatch(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,
                        struct ohsm_aws_err *err, ohsm_kms_fn fn, const char *name, bool ro)
{
    struct ohsm_kms_ctx x;
    json_t *out, *req, *resp = NULL;

    memset(&x, 0, sizeof(x));
    out = fn(k, call, in, &x, err);
    req = for_trail(in);
    if (out != NULL && !ro) {
        resp = x.response_trail != NULL ? json_incref(x.response_trail) : for_trail(out);
    }
    struct ohsm_kms_event ev = {
        .name = name,
        .time_ms = ohsm_kms_now_ms(k),
        .region = call->region,
        .account = call->account_id,
        .access_key_id = call->access_key_id,
        .request_id = call->request_id,
        .request = req,
        .response = resp,
        .additional = x.additional,
        .key_arn = x.key_arn[0] != '\0' ? x.key_arn : NULL,
        .read_only = ro,
        .service_event = false,
        .error_code = out == NULL ? err->type : NULL,
        .error_message = out == NULL ? err->msg : NULL,
    };
    ohsm_rv rv = ohsm_kms_trail_record(k->trail, &ev);
    json_decref(req);
    json_decref(resp);
    json_decref(x.additional);
    json_decref(x.response_trail);
    if (rv != OHSM_OK) {
        json_decref(out);
        return ohsm_kms_internal(err, "the audit trail could not be written", rv);
    }
    return out;
}

/* Records a service event (deletion, rotation, expiry) for key. */
void ohsm_kms_service_event(struct ohsm_kms *k, const struct ohsm_kms_key *key, const char *name,
                            json_t *additional)
{
    char arn[OHSM_KMS_ARN_MAX];
    ohsm_kms_key_arn(key, arn, sizeof(arn));
    struct ohsm_kms_event ev = {
        .name = name,
        .time_ms = ohsm_kms_now_ms(k),
        .region = key->region,
        .account = key->account,
        .additional = additional,
        .key_arn = arn,
        .read_only = false,
        .service_event = true,
    };
    if (ohsm_kms_trail_record(k->trail, &ev) != OHSM_OK) {
        fprintf(stderr, "openhsmd: kms: the audit trail could not record %s of %s\n", name,
                key->id);
    }
}

#define OP(name, fn, ro)                                                                           \
    static json_t *w_##fn(void *ctx, const struct ohsm_http_call *call, json_t *in,                \
                          struct ohsm_aws_err *err)                                                \
    {                                                                                              \
        return dispatch(ctx, call, in, err, fn, name, ro);                                         \
    }
#include "kms/ops_list.h"
#undef OP

static const struct ohsm_json_op ops[] = {
#define OP(name, fn, ro) {name, w_##fn},
#include "kms/ops_list.h"
#undef OP
};

/* ---- life ---- */

static int validate(const char *op, json_t *in, char *msg, size_t cap)
{
    return ohsm_model_kms_validate(op, in, msg, cap);
}

ohsm_rv ohsm_kms_open(const struct ohsm_kms_cfg *cfg, struct ohsm_kms **out, char *err, size_t cap)
{
    struct ohsm_kms *k = NULL;
    char dir[4200], path[4300];
    ohsm_rv rv;

    OHSM_ENSURE(cfg != NULL && cfg->data_dir != NULL && cfg->now != NULL && out != NULL,
                OHSM_ARGUMENTS_BAD);
    k = calloc(1, sizeof(*k));
    OHSM_ENSURE(k != NULL, OHSM_HOST_MEMORY);
    (void)snprintf(k->data_dir, sizeof(k->data_dir), "%s", cfg->data_dir);
    (void)snprintf(k->region, sizeof(k->region), "%s", cfg->region);
    (void)snprintf(k->account, sizeof(k->account), "%s", cfg->account_id);
    k->sealer = cfg->sealer;
    k->now = cfg->now;
    k->now_ctx = cfg->now_ctx;
    k->cache_max = cfg->cache_max != 0 ? cfg->cache_max : 4096;
    (void)pthread_rwlock_init(&k->lock, NULL);
    (void)pthread_mutex_init(&k->cache_lock, NULL);
    (void)pthread_mutex_init(&k->write_lock, NULL);
    (void)pthread_mutex_init(&k->cks_lock, NULL);
    k->clusters = cfg->clusters;
    (void)pthread_mutex_init(&k->sched_lock, NULL);
    (void)pthread_cond_init(&k->sched_cond, NULL);
    (void)snprintf(dir, sizeof(dir), "%s/kms", cfg->data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        (void)snprintf(err, cap, "cannot create %s: %s", dir, strerror(errno));
        rv = OHSM_IO;
        goto fail;
    }
    (void)snprintf(path, sizeof(path), "%s/kms.db", dir);
    rv = ohsm_kms_store_open(path, &k->store);
    if (rv != OHSM_OK) {
        (void)snprintf(err, cap, "cannot open the KMS store %s", path);
        goto fail;
    }
    (void)snprintf(path, sizeof(path), "%s/trail.jsonl", dir);
    rv = ohsm_kms_trail_open(path, &k->trail);
    if (rv != OHSM_OK) {
        (void)snprintf(err, cap, "cannot open the KMS audit trail %s: %s", path, ohsm_rv_str(rv));
        goto fail;
    }
    rv = ohsm_kms_tab_load(k);
    if (rv != OHSM_OK) {
        (void)snprintf(err, cap, "cannot load the KMS keys: %s", ohsm_kms_store_errstr(k->store));
        goto fail;
    }
    rv = ohsm_kms_cksm_new(k, &k->cksm);
    if (rv != OHSM_OK) {
        (void)snprintf(err, cap, "cannot set up the CloudHSM key stores: %s", ohsm_rv_str(rv));
        goto fail;
    }
    k->svc = (struct ohsm_json_service){
        .target_prefix = "TrentService",
        .signing_name = "kms",
        .invalid_request_type = "ValidationException",
        .unknown_op_type = "UnknownOperationException",
        .ops = ops,
        .n_ops = sizeof(ops) / sizeof(ops[0]),
        .validate = validate,
        .ctx = k,
    };
    *out = k;
    return OHSM_OK;
fail:
    ohsm_kms_close(k);
    return rv;
}

const struct ohsm_json_service *ohsm_kms_service(struct ohsm_kms *k)
{
    return &k->svc;
}

static void *sched_main(void *arg)
{
    struct ohsm_kms *k = arg;

    (void)pthread_mutex_lock(&k->sched_lock);
    while (!atomic_load(&k->stopping)) {
        struct timespec ts;
        (void)clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        (void)pthread_cond_timedwait(&k->sched_cond, &k->sched_lock, &ts);
        if (atomic_load(&k->stopping)) {
            break;
        }
        (void)pthread_mutex_unlock(&k->sched_lock);
        ohsm_kms_tick(k);
        (void)pthread_mutex_lock(&k->sched_lock);
    }
    (void)pthread_mutex_unlock(&k->sched_lock);
    return NULL;
}

ohsm_rv ohsm_kms_start(struct ohsm_kms *k)
{
    OHSM_ENSURE(pthread_create(&k->sched, NULL, sched_main, k) == 0, OHSM_HOST_MEMORY);
    k->sched_running = true;
    return ohsm_kms_cksm_start(k->cksm);
}

void ohsm_kms_close(struct ohsm_kms *k)
{
    if (k == NULL) {
        return;
    }
    if (k->sched_running) {
        (void)pthread_mutex_lock(&k->sched_lock);
        atomic_store(&k->stopping, true);
        (void)pthread_cond_broadcast(&k->sched_cond);
        (void)pthread_mutex_unlock(&k->sched_lock);
        (void)pthread_join(k->sched, NULL);
    }
    ohsm_kms_cksm_free(k->cksm);
    ohsm_kms_tab_free(k);
    ohsm_kms_trail_close(k->trail);
    ohsm_kms_store_close(k->store);
    (void)pthread_rwlock_destroy(&k->lock);
    (void)pthread_mutex_destroy(&k->cache_lock);
    (void)pthread_mutex_destroy(&k->write_lock);
    (void)pthread_mutex_destroy(&k->cks_lock);
    (void)pthread_mutex_destroy(&k->sched_lock);
    (void)pthread_cond_destroy(&k->sched_cond);
    free(k);
}
