/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli handlers for `key wrap <mechanism>` and `key unwrap <mechanism>`: AES key wrap
 * (RFC 3394 with no, PKCS#5 or zero padding; RFC 5649 as the openhsm extension aes-kwp), AES-GCM,
 * RSA-OAEP and RSA PKCS#1 v1.5. The mechanism is the last word of the command; its parameters
 * (tag length, AAD and IV in hex, OAEP hash and MGF) come from options. For aes-gcm the wrapped
 * blob is IV || ciphertext || tag with an IV the HSM draws; the IV is also printed, as unwrap
 * takes it as an option. cloudhsm-aes-gcm (CloudHSM's CKM_CLOUDHSM_AES_GCM) is the same blob, but
 * the IV is not printed and unwrap reads it from the blob (no --iv). rsa-aes (PKCS#11
 * CKM_RSA_AES_KEY_WRAP) is OAEP(fresh AES key) || RFC 5649 wrap of the key with it; its page
 * prints the references with dashes (payload-key-reference, ...), the other pages with
 * underscores, and each mechanism prints as its page does. Wrapped key data
 * is not secret (it is encrypted), but the parameters and files are user input and checked; the
 * HSM enforces extractable, wrap/unwrap and ownership, and the key-management quorum of keys
 * whose manage-key-quorum-value is above 1 (--payload-approval / --wrapping-approval on wrap,
 * --approval on unwrap; an unwrapped key takes its own quorum values).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"

#define GCM_IV_LEN 12
#define AAD_MAX 4096

static bool is_cloudhsm_gcm(const struct ohsm_cli_args *a)
{
    const char *w = ohsm_cli_last_word(a);
    return w != NULL && strcmp(w, "cloudhsm-aes-gcm") == 0;
}

/* Mechanism parameters shared by wrap and unwrap. iv/aad are the caller's buffers. */
static bool mech_params(const struct ohsm_cli_args *a, struct ohsm_mech_params *m, uint8_t *aad,
                        struct ohsm_cli_out *out)
{
    memset(m, 0, sizeof(*m));
    m->mech = ohsm_cli_mech(OHSM_CLI_MF_WRAP, ohsm_cli_last_word(a));
    if (m->mech == OHSM_M_NONE) {
        ohsm_cli_out_err(out, "Unknown wrapping mechanism");
        return false;
    }
    if (m->mech == OHSM_M_AES_GCM) {
        uint64_t bits;
        if (!ohsm_cli_num_arg(a, "tag-length-bits", 1, 1024, 128, &bits, out) ||
            !ohsm_cli_hex_arg(a, "aad", aad, AAD_MAX, &m->aad_len, out)) {
            return false;
        }
        m->tag_bits = (uint32_t)bits;
        m->aad = m->aad_len > 0 ? aad : NULL;
    }
    if (m->mech == OHSM_M_RSA_OAEP || m->mech == OHSM_M_RSA_AES_KW) {
        int h = ohsm_hash_from_name(ohsm_cli_arg(a, "hash-function"));
        uint32_t mgf = ohsm_cli_mgf(ohsm_cli_arg(a, "mgf"));
        if (h <= 0 || mgf == OHSM_H_NONE) {
            ohsm_cli_out_err(out, "%s needs --hash-function and --mgf", ohsm_cli_last_word(a));
            return false;
        }
        /* The rsa-aes page: the MGF's hash must match the hash function. */
        if (m->mech == OHSM_M_RSA_AES_KW && mgf != (uint32_t)h) {
            ohsm_cli_out_err(out, "The --mgf hash must match --hash-function");
            return false;
        }
        m->hash = (uint32_t)h;
        m->mgf_hash = mgf;
    }
    return true;
}

void ohsm_cli_cmd_key_wrap(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                           struct ohsm_cli_out *out)
{
    char pref[OHSM_CLI_KEYREF_LEN];
    char wref[OHSM_CLI_KEYREF_LEN];
    char ivhex[2 * GCM_IV_LEN + 1];
    struct ohsm_obj *payload = malloc(sizeof(*payload));
    struct ohsm_obj *wrapping = malloc(sizeof(*wrapping));
    uint8_t *aad = malloc(AAD_MAX);
    struct ohsm_cli_approval ph;
    struct ohsm_cli_approval wh;
    const struct ohsm_approval *pap = NULL;
    const struct ohsm_approval *wap = NULL;
    struct ohsm_mech_params m;
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    char *b64 = NULL;
    json_t *d = NULL;
    const char *path = ohsm_cli_arg(a, "path");

    memset(&ph, 0, sizeof(ph));
    memset(&wh, 0, sizeof(wh));
    if (payload == NULL || wrapping == NULL || aad == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    if (!mech_params(a, &m, aad, out) ||
        !ohsm_cli_approval_opt(a, "payload-approval", &ph, &pap, out) ||
        !ohsm_cli_approval_opt(a, "wrapping-approval", &wh, &wap, out) ||
        !ohsm_cli_key_one(ctx, a, "payload-filter", payload, out) ||
        !ohsm_cli_key_one(ctx, a, "wrapping-filter", wrapping, out)) {
        goto out;
    }
    ohsm_rv rv = ohsm_client_key_wrap_q(ctx->client, wrapping->handle, payload->handle, &m, pap,
                                        wap, &wrapped, &wrapped_len);
    if (rv != OHSM_OK) {
        ohsm_cli_rv_err(out, "Wrapping the key", rv);
        goto out;
    }
    if (path != NULL && !ohsm_cli_write_file(path, wrapped, wrapped_len, 0600, out)) {
        goto out;
    }
    ohsm_cli_keyref(payload->handle, pref);
    ohsm_cli_keyref(wrapping->handle, wref);
    bool dash = m.mech == OHSM_M_RSA_AES_KW;
    d = json_object();
    bool ok = d != NULL &&
              ohsm_cli_jput(d, dash ? "payload-key-reference" : "payload_key_reference",
                            json_string(pref)) &&
              ohsm_cli_jput(d, dash ? "wrapping-key-reference" : "wrapping_key_reference",
                            json_string(wref));
    if (ok && path == NULL) {
        b64 = ohsm_cli_b64_encode(wrapped, wrapped_len);
        ok = b64 != NULL &&
             ohsm_cli_jput(d, dash ? "wrapped-key-data" : "wrapped_key_data", json_string(b64));
    }
    if (ok && m.mech == OHSM_M_AES_GCM && !is_cloudhsm_gcm(a)) {
        /* The HSM draws the IV and puts it first in the wrapped blob; unwrap asks for it. */
        ok = wrapped_len >= GCM_IV_LEN &&
             ohsm_cli_hex_encode(wrapped, GCM_IV_LEN, false, ivhex, sizeof(ivhex)) &&
             ohsm_cli_jput(d, "iv", json_string(ivhex));
    }
    if (ok) {
        ohsm_cli_out_ok(out, d);
        d = NULL;
    } else {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
    }
out:
    ohsm_cli_approval_free(&ph);
    ohsm_cli_approval_free(&wh);
    json_decref(d);
    free(b64);
    free(wrapped);
    free(payload);
    free(wrapping);
    free(aad);
}

void ohsm_cli_cmd_key_unwrap(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                             struct ohsm_cli_out *out)
{
    const char *terms[OHSM_CLI_MAX_KV];
    char store[OHSM_SHARE_MAX][OHSM_USERNAME_MAX + 1];
    const char *share[OHSM_SHARE_MAX];
    uint32_t ids[OHSM_TMPL_MAX];
    char err[512];
    struct ohsm_obj *key = malloc(sizeof(*key));
    struct ohsm_obj *obj = calloc(1, sizeof(*obj));
    struct ohsm_tmpl_buf *b = malloc(sizeof(*b));
    uint8_t *aad = malloc(AAD_MAX);
    uint8_t iv[16];
    struct ohsm_result *res = NULL;
    struct ohsm_cli_approval h;
    const struct ohsm_approval *ap = NULL;
    struct ohsm_mech_params m;
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    size_t nshare = 0;
    size_t nids = 0;
    uint32_t cls, kt;

    memset(&h, 0, sizeof(h));
    if (key == NULL || obj == NULL || b == NULL || aad == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    if (!mech_params(a, &m, aad, out)) {
        goto out;
    }
    if (m.mech == OHSM_M_AES_GCM && !is_cloudhsm_gcm(a)) {
        if (!ohsm_cli_hex_arg(a, "iv", iv, sizeof(iv), &m.iv_len, out)) {
            goto out;
        }
        if (m.iv_len == 0) {
            ohsm_cli_out_err(out, "aes-gcm needs --iv (the IV key wrap printed, in hex)");
            goto out;
        }
        m.iv = iv;
    }
    if (!ohsm_cli_key_type_class(ohsm_cli_arg(a, "key-type-class"), &cls, &kt)) {
        ohsm_cli_out_err(out, "Invalid --key-type-class");
        goto out;
    }
    ohsm_tmpl_init(b);
    size_t n = ohsm_cli_arg_values(a, "attributes", terms, OHSM_CLI_MAX_KV);
    if (ohsm_cli_attr_put(b, OHSM_CLI_ATTR_CREATE, "label", ohsm_cli_arg(a, "label"), ids, &nids,
                          err, sizeof(err)) != OHSM_OK ||
        (ohsm_cli_flag(a, "session") &&
         ohsm_cli_attr_put(b, OHSM_CLI_ATTR_CREATE, "token", "false", ids, &nids, err,
                           sizeof(err)) != OHSM_OK) ||
        ohsm_cli_attrs_parse("--attributes", OHSM_CLI_ATTR_CREATE, terms,
                             n < OHSM_CLI_MAX_KV ? n : OHSM_CLI_MAX_KV, b, ids, &nids, err,
                             sizeof(err)) != OHSM_OK) {
        ohsm_cli_out_err(out, "%s", err);
        goto out;
    }
    if (!ohsm_cli_quorum_args(a, b, ids, &nids, out) ||
        !ohsm_cli_share_list(a, store, share, &nshare, out) ||
        !ohsm_cli_input(a, "data", "data-path", OHSM_CLI_DATA_MAX, &wrapped, &wrapped_len, out) ||
        !ohsm_cli_approval_arg(a, &h, &ap, out) || !ohsm_cli_key_one(ctx, a, "filter", key, out)) {
        goto out;
    }
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        goto out;
    }
    ohsm_rv rv =
        ohsm_client_key_unwrap_q(ctx->client, key->handle, &m, wrapped, wrapped_len, cls, kt,
                                 b->buf, b->len, nshare > 0 ? share : NULL, nshare, ap, obj, res);
    if (rv == OHSM_OK) {
        json_t *d = json_object();
        if (d != NULL && !ohsm_cli_jput(d, "key", ohsm_cli_key_json(obj, false, true))) {
            json_decref(d);
            d = NULL;
        }
        ohsm_cli_out_ok(out, d);
    } else {
        ohsm_cli_create_err(ctx, out, "Unwrapping the key", rv, obj, obj->handle != 0 ? 1 : 0, res);
    }
out:
    ohsm_cli_approval_free(&h);
    free(wrapped);
    free(key);
    free(obj);
    free(b);
    free(aad);
    free(res);
}
