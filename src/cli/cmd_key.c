/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli handlers for key management: key generate-symmetric (aes, generic-secret), key
 * generate-asymmetric-pair (rsa, ec), key import pem, key list, key delete, key set-attribute,
 * key share / unshare and key generate-file. Creation takes the key quorum values; set-attribute,
 * share and unshare take a key-management --approval. Each parses its options (filters and
 * attribute lists through keyarg.c), calls libopenhsm and shapes the result (keyshape.c). Token
 * keys are made on one HSM and copied to the others by the library; a change goes to every HSM and
 * succeeds only when every HSM took it, otherwise the message names the HSMs that did not. The HSM
 * enforces every rule (ownership, attributes, roles); nothing here decides who may do what.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cli/cli.h"
#include "core/fakepem.h"

/* Longest PEM file accepted by key import pem. */
#define PEM_MAX (64u * 1024u)

/* A creation template: label (through the attribute parser, which checks its length), token
 * false for --session, the user's attribute list, then the key quorum values. */
static bool creation_tmpl(const struct ohsm_cli_args *a, const char *label, bool session,
                          const char *attrs_opt, struct ohsm_tmpl_buf *b, struct ohsm_cli_out *out)
{
    const char *terms[OHSM_CLI_MAX_KV];
    uint32_t ids[OHSM_TMPL_MAX];
    size_t nids = 0;
    char err[512];
    char what[64];

    ohsm_tmpl_init(b);
    size_t n = ohsm_cli_arg_values(a, attrs_opt, terms, OHSM_CLI_MAX_KV);
    (void)ohsm_cli_fmt(what, sizeof(what), "--%s", attrs_opt);
    if ((label != NULL && ohsm_cli_attr_put(b, OHSM_CLI_ATTR_CREATE, "label", label, ids, &nids,
                                            err, sizeof(err)) != OHSM_OK) ||
        (session && ohsm_cli_attr_put(b, OHSM_CLI_ATTR_CREATE, "token", "false", ids, &nids, err,
                                      sizeof(err)) != OHSM_OK) ||
        ohsm_cli_attrs_parse(what, OHSM_CLI_ATTR_CREATE, terms,
                             n < OHSM_CLI_MAX_KV ? n : OHSM_CLI_MAX_KV, b, ids, &nids, err,
                             sizeof(err)) != OHSM_OK) {
        ohsm_cli_out_err(out, "%s", err);
        return false;
    }
    return ohsm_cli_quorum_args(a, b, ids, &nids, out);
}

/* {"key": {...}} */
static json_t *one_key(const struct ohsm_obj *o, bool full)
{
    json_t *d = json_object();
    if (d == NULL || !ohsm_cli_jput(d, "key", ohsm_cli_key_json(o, false, full))) {
        json_decref(d);
        return NULL;
    }
    return d;
}

void ohsm_cli_cmd_key_gen_symmetric(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                    struct ohsm_cli_out *out)
{
    char store[OHSM_SHARE_MAX][OHSM_USERNAME_MAX + 1];
    const char *share[OHSM_SHARE_MAX];
    struct ohsm_tmpl_buf *b = malloc(sizeof(*b));
    struct ohsm_obj *objs = calloc(2, sizeof(*objs));
    struct ohsm_result *res = NULL;
    struct ohsm_keygen g;
    size_t nshare = 0;
    size_t nobj = 0;
    uint64_t len;

    memset(&g, 0, sizeof(g));
    g.ktype = strcmp(ohsm_cli_last_word(a), "aes") == 0 ? OHSM_KT_AES : OHSM_KT_GENERIC_SECRET;
    if (b == NULL || objs == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    /* The size rule itself (16/24/32) is the HSM's; here only a number is required, and the
     * CloudHSM CLI's own limit for generic secrets ("1 to 800"; key_mgmt_util allows more). */
    if (!ohsm_cli_num_arg(a, "key-length-bytes", 1, UINT32_MAX, 0, &len, out)) {
        goto out;
    }
    if (g.ktype == OHSM_KT_GENERIC_SECRET && len > 800) {
        ohsm_cli_rv_err(out, "Generating the key", OHSM_KEY_SIZE_RANGE);
        goto out;
    }
    if (!creation_tmpl(a, ohsm_cli_arg(a, "label"), ohsm_cli_flag(a, "session"), "attributes", b,
                       out) ||
        !ohsm_cli_share_list(a, store, share, &nshare, out)) {
        goto out;
    }
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        goto out;
    }
    g.length = (uint32_t)len;
    g.tmpl = b->buf;
    g.tmpl_len = b->len;
    g.share = share;
    g.nshare = nshare;
    ohsm_rv rv = ohsm_client_key_generate(ctx->client, &g, objs, &nobj, res);
    if (rv == OHSM_OK && nobj >= 1) {
        ohsm_cli_out_ok(out, one_key(&objs[0], true));
    } else {
        ohsm_cli_create_err(ctx, out, "Generating the key", rv, &objs[0], nobj, res);
    }
out:
    free(b);
    free(objs);
    free(res);
}

void ohsm_cli_cmd_key_gen_pair(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                               struct ohsm_cli_out *out)
{
    char store[OHSM_SHARE_MAX][OHSM_USERNAME_MAX + 1];
    const char *share[OHSM_SHARE_MAX];
    struct ohsm_tmpl_buf *priv = malloc(sizeof(*priv));
    struct ohsm_tmpl_buf *pub = malloc(sizeof(*pub));
    struct ohsm_obj *objs = calloc(2, sizeof(*objs));
    struct ohsm_result *res = NULL;
    struct ohsm_keygen g;
    bool session = ohsm_cli_flag(a, "session");
    size_t nshare = 0;
    size_t nobj = 0;
    json_t *d = NULL;

    memset(&g, 0, sizeof(g));
    if (priv == NULL || pub == NULL || objs == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    if (strcmp(ohsm_cli_last_word(a), "rsa") == 0) {
        uint64_t bits;
        uint64_t e;
        g.ktype = OHSM_KT_RSA;
        if (!ohsm_cli_num_arg(a, "modulus-size-bits", 1, UINT32_MAX, 0, &bits, out) ||
            !ohsm_cli_num_arg(a, "public-exponent", 1, UINT64_MAX, 0, &e, out)) {
            goto out;
        }
        g.length = (uint32_t)bits;
        g.public_exponent = e;
    } else {
        int c = ohsm_curve_from_name(ohsm_cli_arg(a, "curve"));
        if (c < 0) {
            ohsm_cli_out_err(out, "Unknown curve");
            goto out;
        }
        g.ktype = OHSM_KT_EC;
        g.curve = (uint32_t)c;
    }
    /* Both halves get the quorum values (and the shares). */
    if (!creation_tmpl(a, ohsm_cli_arg(a, "private-label"), session, "private-attributes", priv,
                       out) ||
        !creation_tmpl(a, ohsm_cli_arg(a, "public-label"), session, "public-attributes", pub,
                       out) ||
        !ohsm_cli_share_list(a, store, share, &nshare, out)) {
        goto out;
    }
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        goto out;
    }
    g.tmpl = priv->buf;
    g.tmpl_len = priv->len;
    g.pub_tmpl = pub->buf;
    g.pub_tmpl_len = pub->len;
    g.share = share;
    g.nshare = nshare;
    ohsm_rv rv = ohsm_client_key_generate(ctx->client, &g, objs, &nobj, res);
    if (rv != OHSM_OK || nobj != 2) {
        ohsm_cli_create_err(ctx, out, "Generating the key pair", rv == OHSM_OK ? OHSM_PROTOCOL : rv,
                            &objs[0], nobj, res);
        goto out;
    }
    d = json_object();
    if (d != NULL && ohsm_cli_jput(d, "public_key", ohsm_cli_key_json(&objs[1], false, true)) &&
        ohsm_cli_jput(d, "private_key", ohsm_cli_key_json(&objs[0], false, true))) {
        ohsm_cli_out_ok(out, d);
        d = NULL;
    } else {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
    }
out:
    json_decref(d);
    free(priv);
    free(pub);
    free(objs);
    free(res);
}

void ohsm_cli_cmd_key_import_pem(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                 struct ohsm_cli_out *out)
{
    char store[OHSM_SHARE_MAX][OHSM_USERNAME_MAX + 1];
    const char *share[OHSM_SHARE_MAX];
    size_t nshare = 0;
    struct ohsm_tmpl_buf *b = malloc(sizeof(*b));
    struct ohsm_obj *obj = calloc(1, sizeof(*obj));
    struct ohsm_result *res = NULL;
    uint8_t *pem = NULL;
    size_t pem_len = 0;
    uint8_t *der = NULL;
    size_t der_len = 0;
    uint32_t want_cls, want_kt, cls, kt;

    if (b == NULL || obj == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    if (!ohsm_cli_key_type_class(ohsm_cli_arg(a, "key-type-class"), &want_cls, &want_kt)) {
        ohsm_cli_out_err(out, "Invalid --key-type-class");
        goto out;
    }
    if (!creation_tmpl(a, ohsm_cli_arg(a, "label"), false, "attributes", b, out) ||
        !ohsm_cli_share_list(a, store, share, &nshare, out) ||
        !ohsm_cli_read_file(ohsm_cli_arg(a, "path"), PEM_MAX, &pem, &pem_len, out)) {
        goto out;
    }
    ohsm_rv rv = ohsm_mech_pem_to_der((const char *)pem, pem_len, &cls, &kt, &der, &der_len);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "%s does not hold a PEM key the HSM supports: %s",
                         ohsm_cli_arg(a, "path"), ohsm_rv_str(rv));
        goto out;
    }
    if (cls != want_cls || kt != want_kt) {
        ohsm_cli_out_err(out, "%s holds a %s %s, not what --key-type-class %s names",
                         ohsm_cli_arg(a, "path"), ohsm_ktype_name(kt), ohsm_class_name(cls),
                         ohsm_cli_arg(a, "key-type-class"));
        goto out;
    }
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        goto out;
    }
    rv = ohsm_client_key_import(ctx->client, cls, kt, der, der_len, b->buf, b->len,
                                nshare > 0 ? share : NULL, nshare, obj, res);
    if (rv == OHSM_OK) {
        ohsm_cli_out_ok(out, one_key(obj, true));
    } else {
        ohsm_cli_create_err(ctx, out, "Importing the key", rv, obj, obj->handle != 0 ? 1 : 0, res);
    }
out:
    ohsm_mech_der_free(der, der_len);
    if (pem != NULL) {
        OPENSSL_cleanse(pem, pem_len);
        free(pem);
    }
    free(b);
    free(obj);
    free(res);
}

void ohsm_cli_cmd_key_list(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                           struct ohsm_cli_out *out)
{
    const char *terms[OHSM_CLI_MAX_KV];
    char err[512];
    struct ohsm_cli_filter *f = malloc(sizeof(*f));
    struct ohsm_cli_keyset ks = {0};
    uint64_t max;
    uint64_t start;

    if (f == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return;
    }
    memset(f, 0, sizeof(*f));
    ohsm_tmpl_init(&f->tmpl);
    size_t n = ohsm_cli_arg_values(a, "filter", terms, OHSM_CLI_MAX_KV);
    if (n > 0 && ohsm_cli_filter_parse("--filter", terms, n < OHSM_CLI_MAX_KV ? n : OHSM_CLI_MAX_KV,
                                       f, err, sizeof(err)) != OHSM_OK) {
        ohsm_cli_out_err(out, "%s", err);
        goto out;
    }
    if (!ohsm_cli_num_arg(a, "max-items", 1, UINT32_MAX, 10, &max, out) ||
        !ohsm_cli_num_arg(a, "starting-token", 0, UINT32_MAX, 0, &start, out) ||
        !ohsm_cli_keys_find(ctx, f, &ks, out)) {
        goto out;
    }
    if (start > ks.n) {
        ohsm_cli_out_err(out, "--starting-token %llu is past the last key (%zu keys match)",
                         (unsigned long long)start, ks.n);
        goto out;
    }
    ohsm_cli_out_ok(
        out, ohsm_cli_key_list_json(&ks, (size_t)start, (size_t)max, ohsm_cli_flag(a, "verbose")));
out:
    ohsm_cli_keyset_free(&ks);
    free(f);
}

/* delete / set-attribute / share: find the one key, change it on every HSM, report. */
enum key_change { KC_DELETE, KC_SET, KC_SHARE, KC_UNSHARE };

static void key_change(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                       struct ohsm_cli_out *out, enum key_change kc)
{
    static const char *const ok_msg[] = {"Key deleted successfully", "Attribute set successfully",
                                         "Key shared successfully", "Key unshared successfully"};
    static const char *const done[] = {"Key deleted", "Attribute set", "Key shared",
                                       "Key unshared"};
    static const char *const action[] = {"Deleting the key", "Setting the attribute",
                                         "Sharing the key", "Unsharing the key"};
    struct ohsm_obj *obj = malloc(sizeof(*obj));
    struct ohsm_tmpl_buf *b = malloc(sizeof(*b));
    struct ohsm_result *res = NULL;
    struct ohsm_cli_approval h;
    const struct ohsm_approval *ap = NULL;
    char name[OHSM_USERNAME_MAX + 1];
    char err[512];
    ohsm_rv rv;

    memset(&h, 0, sizeof(h));
    if (obj == NULL || b == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    ohsm_tmpl_init(b);
    /* Check the input before looking anything up. */
    if (kc == KC_SET) {
        uint32_t ids[OHSM_TMPL_MAX];
        size_t nids = 0;
        if (ohsm_cli_attr_put(b, OHSM_CLI_ATTR_SET, ohsm_cli_arg(a, "name"),
                              ohsm_cli_arg(a, "value"), ids, &nids, err, sizeof(err)) != OHSM_OK) {
            ohsm_cli_out_err(out, "%s", err);
            goto out;
        }
    }
    if ((kc == KC_SHARE || kc == KC_UNSHARE) &&
        !ohsm_cli_username(ohsm_cli_arg(a, "username"), name, sizeof(name), out)) {
        goto out;
    }
    /* key delete takes no approval (no key-management quorum in the CloudHSM CLI). */
    if (kc != KC_DELETE && !ohsm_cli_approval_arg(a, &h, &ap, out)) {
        goto out;
    }
    if (!ohsm_cli_key_one(ctx, a, "filter", obj, out)) {
        goto out;
    }
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        goto out;
    }
    switch (kc) {
    case KC_DELETE:
        rv = ohsm_client_key_delete(ctx->client, obj->handle, res);
        break;
    case KC_SET:
        rv = ohsm_client_key_set_attrs_q(ctx->client, obj->handle, b->buf, b->len, ap, NULL, res);
        break;
    default:
        rv = ohsm_client_key_share_q(ctx->client, obj->handle, name, kc == KC_SHARE, ap, res);
        break;
    }
    if (rv == OHSM_OK) {
        json_t *d = json_object();
        if (d != NULL && !ohsm_cli_jput(d, "message", json_string(ok_msg[kc]))) {
            json_decref(d);
            d = NULL;
        }
        ohsm_cli_out_ok(out, d);
    } else {
        ohsm_cli_fanout_err(ctx, out, done[kc], action[kc], res);
    }
out:
    ohsm_cli_approval_free(&h);
    free(obj);
    free(b);
    free(res);
}

void ohsm_cli_cmd_key_delete(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                             struct ohsm_cli_out *out)
{
    key_change(ctx, a, out, KC_DELETE);
}

void ohsm_cli_cmd_key_set_attribute(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                    struct ohsm_cli_out *out)
{
    key_change(ctx, a, out, KC_SET);
}

void ohsm_cli_cmd_key_share(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                            struct ohsm_cli_out *out)
{
    key_change(ctx, a, out, strcmp(a->cmd->path, "key share") == 0 ? KC_SHARE : KC_UNSHARE);
}

/* DER SubjectPublicKeyInfo as a PEM "PUBLIC KEY" block (RFC 7468 §13), malloc'd. */
static char *spki_pem(const uint8_t *der, size_t len)
{
    static const char head[] = "-----BEGIN PUBLIC KEY-----\n";
    static const char tail[] = "-----END PUBLIC KEY-----\n";
    char *b64 = ohsm_cli_b64_encode(der, len);
    if (b64 == NULL) {
        return NULL;
    }
    size_t n = strlen(b64);
    size_t cap = sizeof(head) + n + n / 64 + 2 + sizeof(tail);
    char *pem = malloc(cap);
    if (pem == NULL) {
        free(b64);
        return NULL;
    }
    size_t o = 0;
    memcpy(pem, head, sizeof(head) - 1);
    o += sizeof(head) - 1;
    for (size_t i = 0; i < n; i += 64) {
        size_t l = n - i < 64 ? n - i : 64;
        memcpy(pem + o, b64 + i, l);
        o += l;
        pem[o++] = '\n';
    }
    memcpy(pem + o, tail, sizeof(tail));
    free(b64);
    return pem;
}

/* --encoding reference-pem: the fake PEM of a private key (core/fakepem.h, the bytes
 * openhsm-kmu's getCaviumPrivKey writes): its real public part and the handle, no key material. */
static char *reference_pem(const struct ohsm_obj *obj, struct ohsm_cli_out *out)
{
    char *pem = NULL;
    size_t n = 0;
    if (obj->cls != OHSM_CLASS_PRIVATE || (obj->ktype != OHSM_KT_RSA && obj->ktype != OHSM_KT_EC)) {
        ohsm_cli_out_err(out, "reference-pem supports RSA and EC private keys only");
        return NULL;
    }
    ohsm_rv rv = obj->spki_len <= sizeof(obj->spki)
                     ? ohsm_fake_pem(obj->spki, obj->spki_len, obj->handle, &pem, &n)
                     : OHSM_DATA_INVALID;
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Generating the key file failed: %s", ohsm_rv_str(rv));
        return NULL;
    }
    return pem;
}

void ohsm_cli_cmd_key_generate_file(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                    struct ohsm_cli_out *out)
{
    struct ohsm_obj *obj = malloc(sizeof(*obj));
    const char *enc = ohsm_cli_arg(a, "encoding");
    bool ref = enc != NULL && strcmp(enc, "reference-pem") == 0;
    uint8_t *der = NULL;
    size_t der_len = 0;
    char *pem = NULL;

    if (obj == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    if (!ohsm_cli_key_one(ctx, a, "filter", obj, out)) {
        goto out;
    }
    if (ref) {
        pem = reference_pem(obj, out);
        if (pem == NULL) {
            goto out;
        }
    } else {
        ohsm_rv rv = ohsm_client_key_export_public(ctx->client, obj->handle, &der, &der_len);
        if (rv != OHSM_OK) {
            ohsm_cli_out_err(out, "Exporting the public key failed: %s", ohsm_rv_str(rv));
            goto out;
        }
        pem = spki_pem(der, der_len);
        if (pem == NULL) {
            ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
            goto out;
        }
    }
    /* A public key: readable by others, as `openssl pkey -pubout` writes it; a reference PEM is
     * a private key file to the programs that read it: the owner's only. */
    if (!ohsm_cli_write_file(ohsm_cli_arg(a, "path"), (const uint8_t *)pem, strlen(pem),
                             ref ? 0600 : 0644, out)) {
        goto out;
    }
    json_t *d = json_object();
    if (d != NULL && !ohsm_cli_jput(d, "message", json_string("Successfully generated key file"))) {
        json_decref(d);
        d = NULL;
    }
    ohsm_cli_out_ok(out, d);
out:
    free(der);
    free(pem);
    free(obj);
}
