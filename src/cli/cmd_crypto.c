/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli handlers for cryptography: `crypto sign` / `crypto verify` (rsa-pkcs, rsa-pkcs-pss,
 * ecdsa as the CloudHSM CLI has them; hmac as an openhsm extension) and the openhsm extensions
 * `crypto encrypt` / `crypto decrypt` (aes-gcm, aes-cbc with PKCS#7 padding, aes-ctr, aes-ecb,
 * rsa-oaep), `crypto digest` and `crypto random`. Data comes base64 on the command line or from a
 * file and results print base64 (IVs in hex, as --iv takes them; the HSM makes every AES-GCM
 * encryption IV and refuses one given, CBC and CTR take the caller's). The HSM checks the key's
 * attributes and the user's rights (and, for crypto sign, the key-usage quorum of a key whose
 * use-key-quorum-value is above 1: --approval); the library balances the work across HSMs.
 * Plaintexts are wiped from every buffer here, and the printed result of a decryption is marked
 * secret so the output layer wipes it too.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"

#define AAD_MAX 4096
#define SIG_MAX 1024
/* Most bytes crypto random returns at once (RandomReq allows 1..65536). */
#define RANDOM_MAX 65536u

static void wipe_free(uint8_t *p, size_t n)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

/* Hash options of a signature: --hash-function, --data-type, and for PSS --mgf, --salt-length. */
static bool sign_params(const struct ohsm_cli_args *a, struct ohsm_mech_params *m,
                        struct ohsm_cli_out *out)
{
    memset(m, 0, sizeof(*m));
    m->mech = ohsm_cli_mech(OHSM_CLI_MF_SIGN, ohsm_cli_last_word(a));
    int h = ohsm_hash_from_name(ohsm_cli_arg(a, "hash-function"));
    if (m->mech == OHSM_M_NONE || h <= 0) {
        ohsm_cli_out_err(out, "Unknown signing mechanism or hash function");
        return false;
    }
    m->hash = (uint32_t)h;
    const char *dt = ohsm_cli_arg(a, "data-type");
    m->prehashed = dt != NULL && strcmp(dt, "digest") == 0;
    if (m->mech == OHSM_M_RSA_PSS) {
        uint64_t salt;
        m->mgf_hash = ohsm_cli_mgf(ohsm_cli_arg(a, "mgf"));
        if (m->mgf_hash == OHSM_H_NONE ||
            !ohsm_cli_num_arg(a, "salt-length", 0, 1024, 0, &salt, out)) {
            if (m->mgf_hash == OHSM_H_NONE) {
                ohsm_cli_out_err(out, "rsa-pkcs-pss needs --mgf");
            }
            return false;
        }
        m->salt_len = (uint32_t)salt;
    }
    return true;
}

static json_t *ref_and(const struct ohsm_obj *key, const char *k, const char *v)
{
    char ref[OHSM_CLI_KEYREF_LEN];
    json_t *d = json_object();
    ohsm_cli_keyref(key->handle, ref);
    if (d == NULL || !ohsm_cli_jput(d, "key-reference", json_string(ref)) ||
        (k != NULL && !ohsm_cli_jput(d, k, json_string(v)))) {
        json_decref(d);
        return NULL;
    }
    return d;
}

void ohsm_cli_cmd_crypto_sign(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out)
{
    struct ohsm_obj *key = malloc(sizeof(*key));
    struct ohsm_cli_approval h;
    const struct ohsm_approval *ap = NULL;
    struct ohsm_mech_params m;
    uint8_t *data = NULL;
    size_t data_len = 0;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    char *b64 = NULL;

    memset(&h, 0, sizeof(h));
    if (key == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return;
    }
    if (!sign_params(a, &m, out) ||
        !ohsm_cli_input(a, "data", "data-path", OHSM_CLI_DATA_MAX, &data, &data_len, out) ||
        !ohsm_cli_approval_arg(a, &h, &ap, out) ||
        !ohsm_cli_key_one(ctx, a, "key-filter", key, out)) {
        goto out;
    }
    /* A key-usage approval is consumed where the sign runs; the library withdraws it from the
     * other HSMs so that it cannot be used again there. */
    ohsm_rv rv =
        ohsm_client_sign_q(ctx->client, key->handle, &m, data, data_len, ap, &sig, &sig_len);
    if (rv != OHSM_OK) {
        ohsm_cli_rv_err(out, "Signing", rv);
        goto out;
    }
    b64 = ohsm_cli_b64_encode(sig, sig_len);
    /* An HMAC tag is keyed material of the caller's: wipe its copies like a plaintext. */
    out->secret = m.mech == OHSM_M_HMAC;
    ohsm_cli_out_ok(out, b64 != NULL ? ref_and(key, "signature", b64) : NULL);
out:
    if (b64 != NULL) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    ohsm_cli_approval_free(&h);
    wipe_free(sig, sig_len);
    wipe_free(data, data_len);
    free(key);
}

void ohsm_cli_cmd_crypto_verify(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out)
{
    struct ohsm_obj *key = malloc(sizeof(*key));
    struct ohsm_mech_params m;
    uint8_t *data = NULL;
    size_t data_len = 0;
    uint8_t *sig = NULL;
    size_t sig_len = 0;

    if (key == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return;
    }
    if (!sign_params(a, &m, out) ||
        !ohsm_cli_input(a, "data", "data-path", OHSM_CLI_DATA_MAX, &data, &data_len, out) ||
        !ohsm_cli_input(a, "signature", "signature-path", SIG_MAX, &sig, &sig_len, out) ||
        !ohsm_cli_key_one(ctx, a, "key-filter", key, out)) {
        goto out;
    }
    ohsm_rv rv = ohsm_client_verify(ctx->client, key->handle, &m, data, data_len, sig, sig_len);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Signature verification failed: %s", ohsm_rv_str(rv));
        goto out;
    }
    json_t *d = json_object();
    if (d != NULL && !ohsm_cli_jput(d, "message", json_string("Signature verified successfully"))) {
        json_decref(d);
        d = NULL;
    }
    ohsm_cli_out_ok(out, d);
out:
    wipe_free(sig, sig_len);
    wipe_free(data, data_len);
    free(key);
}

/* Parameters of an encryption mechanism: --iv, --aad, --tag-length-bits (AES-GCM), --iv
 * (CBC, CTR), --hash-function and --mgf (RSA-OAEP). An --iv for AES-GCM encryption is passed
 * on for the HSM to refuse (it makes every GCM IV itself, as CloudHSM does). */
static bool cipher_params(const struct ohsm_cli_args *a, struct ohsm_mech_params *m, uint8_t *iv,
                          uint8_t *aad, struct ohsm_cli_out *out)
{
    memset(m, 0, sizeof(*m));
    m->mech = ohsm_cli_mech(OHSM_CLI_MF_CIPHER, ohsm_cli_last_word(a));
    if (m->mech == OHSM_M_NONE) {
        ohsm_cli_out_err(out, "Unknown encryption mechanism");
        return false;
    }
    if (m->mech == OHSM_M_AES_GCM) {
        uint64_t bits;
        if (!ohsm_cli_num_arg(a, "tag-length-bits", 1, 128, 128, &bits, out) ||
            !ohsm_cli_hex_arg(a, "aad", aad, AAD_MAX, &m->aad_len, out)) {
            return false;
        }
        m->tag_bits = (uint32_t)bits;
        m->aad = m->aad_len > 0 ? aad : NULL;
    }
    if (m->mech == OHSM_M_AES_GCM || m->mech == OHSM_M_AES_CBC_PAD || m->mech == OHSM_M_AES_CTR) {
        if (!ohsm_cli_hex_arg(a, "iv", iv, 16, &m->iv_len, out)) {
            return false;
        }
        m->iv = m->iv_len > 0 ? iv : NULL;
    }
    if (m->mech == OHSM_M_RSA_OAEP) {
        int h = ohsm_hash_from_name(ohsm_cli_arg(a, "hash-function"));
        m->mgf_hash = ohsm_cli_mgf(ohsm_cli_arg(a, "mgf"));
        if (h <= 0 || m->mgf_hash == OHSM_H_NONE) {
            ohsm_cli_out_err(out, "rsa-oaep needs --hash-function and --mgf");
            return false;
        }
        m->hash = (uint32_t)h;
    }
    return true;
}

static void cipher(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                   struct ohsm_cli_out *out, bool enc)
{
    struct ohsm_obj *key = malloc(sizeof(*key));
    uint8_t *aad = malloc(AAD_MAX);
    uint8_t iv[16];
    uint8_t iv_out[16];
    size_t iv_out_len = 0;
    char ivhex[2 * sizeof(iv) + 1];
    struct ohsm_mech_params m;
    uint8_t *in = NULL;
    size_t in_len = 0;
    uint8_t *res = NULL;
    size_t res_len = 0;
    char *b64 = NULL;
    json_t *d = NULL;
    ohsm_rv rv;

    if (key == NULL || aad == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    if (!cipher_params(a, &m, iv, aad, out) ||
        !ohsm_cli_input(a, "data", "data-path", OHSM_CLI_DATA_MAX, &in, &in_len, out) ||
        !ohsm_cli_key_one(ctx, a, "key-filter", key, out)) {
        goto out;
    }
    if (!enc && m.iv == NULL &&
        (m.mech == OHSM_M_AES_GCM || m.mech == OHSM_M_AES_CBC_PAD || m.mech == OHSM_M_AES_CTR)) {
        ohsm_cli_out_err(out, "Decrypting needs --iv (the IV the encryption used, in hex)");
        goto out;
    }
    if (enc) {
        rv = ohsm_client_encrypt(ctx->client, key->handle, &m, in, in_len, &res, &res_len, iv_out,
                                 &iv_out_len);
    } else {
        rv = ohsm_client_decrypt(ctx->client, key->handle, &m, in, in_len, &res, &res_len);
    }
    if (rv == OHSM_MECHANISM_PARAM_INVALID && enc && m.mech == OHSM_M_AES_GCM && m.iv != NULL) {
        /* The HSM refused the caller's IV: say why, the code alone does not. */
        ohsm_cli_out_err(out,
                         "Encryption failed: %s: AES-GCM encryption takes no --iv: the HSM "
                         "generates the IV of every encryption and prints it (iv) with the "
                         "ciphertext; give that IV to crypto decrypt aes-gcm",
                         ohsm_rv_str(rv));
        goto out;
    }
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "%s failed: %s", enc ? "Encryption" : "Decryption", ohsm_rv_str(rv));
        goto out;
    }
    b64 = ohsm_cli_b64_encode(res, res_len);
    d = b64 != NULL ? ref_and(key, NULL, NULL) : NULL;
    bool ok = d != NULL;
    /* The IV the encryption used: the one given (CBC, CTR), or the one the HSM made. */
    const uint8_t *used = iv_out_len > 0 ? iv_out : m.iv;
    size_t used_len = iv_out_len > 0 ? iv_out_len : m.iv_len;
    if (ok && enc && used != NULL && used_len > 0) {
        ok = ohsm_cli_hex_encode(used, used_len, false, ivhex, sizeof(ivhex)) &&
             ohsm_cli_jput(d, "iv", json_string(ivhex));
    }
    ok = ok && ohsm_cli_jput(d, "data", json_string(b64));
    if (ok) {
        out->secret = !enc;
        ohsm_cli_out_ok(out, d);
        d = NULL;
    } else {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
    }
out:
    if (d != NULL) {
        ohsm_cli_json_wipe(d);
        json_decref(d);
    }
    if (b64 != NULL) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    wipe_free(res, res_len);
    wipe_free(in, in_len);
    OPENSSL_cleanse(iv, sizeof(iv));
    free(key);
    free(aad);
}

void ohsm_cli_cmd_crypto_encrypt(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                 struct ohsm_cli_out *out)
{
    cipher(ctx, a, out, true);
}

void ohsm_cli_cmd_crypto_decrypt(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                 struct ohsm_cli_out *out)
{
    cipher(ctx, a, out, false);
}

void ohsm_cli_cmd_crypto_digest(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out)
{
    uint8_t *in = NULL;
    size_t in_len = 0;
    uint8_t *dg = NULL;
    size_t dg_len = 0;
    char *b64 = NULL;
    const char *hname = ohsm_cli_arg(a, "hash-function");
    int h = ohsm_hash_from_name(hname);

    if (h <= 0) {
        ohsm_cli_out_err(out, "Unknown hash function");
        return;
    }
    if (!ohsm_cli_input(a, "data", "data-path", OHSM_CLI_DATA_MAX, &in, &in_len, out)) {
        return;
    }
    ohsm_rv rv = ohsm_client_digest(ctx->client, (uint32_t)h, in, in_len, &dg, &dg_len);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Digest failed: %s", ohsm_rv_str(rv));
        goto out;
    }
    b64 = ohsm_cli_b64_encode(dg, dg_len);
    json_t *d = json_object();
    if (d != NULL && (b64 == NULL || !ohsm_cli_jput(d, "hash-function", json_string(hname)) ||
                      !ohsm_cli_jput(d, "digest", json_string(b64)))) {
        json_decref(d);
        d = NULL;
    }
    ohsm_cli_out_ok(out, d);
out:
    free(b64);
    free(dg);
    wipe_free(in, in_len);
}

void ohsm_cli_cmd_crypto_random(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out)
{
    uint64_t n;
    uint8_t *buf = NULL;
    char *b64 = NULL;

    if (!ohsm_cli_num_arg(a, "length-bytes", 1, RANDOM_MAX, 0, &n, out)) {
        return;
    }
    buf = malloc((size_t)n);
    if (buf == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return;
    }
    ohsm_rv rv = ohsm_client_random(ctx->client, buf, (size_t)n);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Generating random bytes failed: %s", ohsm_rv_str(rv));
        goto out;
    }
    b64 = ohsm_cli_b64_encode(buf, (size_t)n);
    json_t *d = json_object();
    if (d != NULL && (b64 == NULL || !ohsm_cli_jput(d, "data", json_string(b64)))) {
        json_decref(d);
        d = NULL;
    }
    /* Random bytes are often used as keys or nonces: wipe the printed copies. */
    out->secret = true;
    ohsm_cli_out_ok(out, d);
out:
    if (b64 != NULL) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    wipe_free(buf, (size_t)n);
}
