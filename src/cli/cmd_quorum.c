/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli handlers for quorum (M of N) authentication with signed tokens: quorum token-sign
 * generate (admin services, registration, and the key services for the one key --filter names) /
 * list / list-quorum-values / set-quorum-value / delete, user change-quorum token-sign register,
 * and the approval files that guarded commands take (--approval, --payload-approval ...). Token
 * files are untrusted input: they go through the strict parsers of tokfile.h, and a registration
 * signature is checked here against the public key before anything is sent. The HSMs decide who may
 * do what and count the approvals; nothing here judges them.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"
#include "openhsm/token.h"

void ohsm_cli_approval_free(struct ohsm_cli_approval *h)
{
    ohsm_qtokfile_free(&h->f);
    free(h->sigs);
    memset(h, 0, sizeof(*h));
}

bool ohsm_cli_approval_arg(const struct ohsm_cli_args *a, struct ohsm_cli_approval *h,
                           const struct ohsm_approval **ap, struct ohsm_cli_out *out)
{
    return ohsm_cli_approval_opt(a, "approval", h, ap, out);
}

bool ohsm_cli_approval_opt(const struct ohsm_cli_args *a, const char *opt,
                           struct ohsm_cli_approval *h, const struct ohsm_approval **ap,
                           struct ohsm_cli_out *out)
{
    const char *path = ohsm_cli_arg(a, opt);
    char err[512];
    char *buf = NULL;
    size_t len = 0;
    ohsm_rv rv;

    memset(h, 0, sizeof(*h));
    *ap = NULL;
    if (path == NULL) {
        return true;
    }
    err[0] = '\0';
    rv = ohsm_tokfile_read(path, &buf, &len, err, sizeof(err));
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Invalid approval: %s", err[0] != '\0' ? err : ohsm_rv_str(rv));
        return false;
    }
    rv = ohsm_qtokfile_parse(buf, len, &h->f, err, sizeof(err));
    free(buf);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Invalid approval file %s: %s", path,
                         err[0] != '\0' ? err : ohsm_rv_str(rv));
        return false;
    }
    h->sigs = calloc(h->f.n > 0 ? h->f.n : 1, sizeof(*h->sigs));
    if (h->sigs == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return false;
    }
    for (size_t k = 0; k < h->f.n; k++) {
        h->sigs[k].username = h->f.sigs[k].username;
        h->sigs[k].sig = h->f.sigs[k].sig;
        h->sigs[k].len = h->f.sigs[k].sig_len;
    }
    h->ap.data = h->f.approval;
    h->ap.len = h->f.approval_len;
    h->ap.sigs = h->sigs;
    h->ap.n = h->f.n;
    *ap = &h->ap;
    return true;
}

/* Did the call succeed where it could, i.e. on every HSM that could be reached (and one at
 * least)? */
static bool reached_all_ok(const struct ohsm_result *res, size_t n)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (res[i].rv == OHSM_OK) {
            ok++;
        } else if (!ohsm_cli_rv_unreachable(res[i].rv)) {
            return false;
        }
    }
    return ok > 0;
}

static bool service_arg(const struct ohsm_cli_args *a, enum ohsm_qservice *s,
                        struct ohsm_cli_out *out)
{
    const char *v = ohsm_cli_arg(a, "service");
    if (v == NULL || !ohsm_qservice_parse(v, s)) {
        ohsm_cli_out_err(out, "Invalid service: expected user, quorum, cluster, registration, "
                              "key-usage or key-management");
        return false;
    }
    return true;
}

/* The key a key-usage / key-management token is for (--filter, exactly one key); the other
 * services take no --filter. *handle is 0 for them. */
static bool token_key(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                      enum ohsm_qservice svc, uint64_t *handle, struct ohsm_cli_out *out)
{
    bool key_svc = svc == OHSM_QS_KEY_USAGE || svc == OHSM_QS_KEY_MGMT;
    bool given = ohsm_cli_flag(a, "filter");

    *handle = 0;
    if (!key_svc && given) {
        ohsm_cli_out_err(out,
                         "--filter is only for the key-usage and key-management services, not %s",
                         ohsm_qservice_name(svc));
        return false;
    }
    if (key_svc && !given) {
        ohsm_cli_out_err(out, "The %s service needs --filter naming the key the token is for",
                         ohsm_qservice_name(svc));
        return false;
    }
    if (!key_svc) {
        return true;
    }
    struct ohsm_obj *obj = malloc(sizeof(*obj));
    if (obj == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return false;
    }
    bool ok = ohsm_cli_key_one(ctx, a, "filter", obj, out);
    if (ok) {
        *handle = obj->handle;
    }
    free(obj);
    return ok;
}

bool ohsm_cli_tokfile_save(ohsm_rv format_rv, const char *json, const char *path,
                           struct ohsm_cli_out *out)
{
    char err[512];
    if (format_rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Cannot write the token file: %s", ohsm_rv_str(format_rv));
        return false;
    }
    err[0] = '\0';
    ohsm_rv rv = ohsm_tokfile_write(path, json, err, sizeof(err));
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "%s", err[0] != '\0' ? err : ohsm_rv_str(rv));
        return false;
    }
    return true;
}

void ohsm_cli_cmd_quorum_generate(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                  struct ohsm_cli_out *out)
{
    const char *path = ohsm_cli_arg(a, "token");
    struct ohsm_result *res = NULL;
    enum ohsm_qservice svc;
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t handle = 0;
    char *json = NULL;
    ohsm_rv rv;

    if (!service_arg(a, &svc, out) || !token_key(ctx, a, svc, &handle, out)) {
        return;
    }
    size_t n = ohsm_client_hsm_count(ctx->client);
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        return;
    }
    rv = ohsm_client_quorum_generate(ctx->client, (int)svc, handle, &data, &len, res);
    /* An HSM out of reach has no record in the file; the token still serves the others. */
    if (rv != OHSM_OK && (!reached_all_ok(res, n) || len == 0)) {
        ohsm_cli_fanout_err(ctx, out, "Token generated", "Generating the token", res);
        goto out;
    }
    if (len == 0 || len % OHSM_APPROVAL_REC_LEN != 0) {
        ohsm_cli_out_err(out, "Generating the token failed: %s", ohsm_rv_str(OHSM_PROTOCOL));
        goto out;
    }
    rv = svc == OHSM_QS_REGISTRATION ? ohsm_tokfile_format_registration(data, len, &json)
                                     : ohsm_qtokfile_format(data, len, &json);
    if (!ohsm_cli_tokfile_save(rv, json, path, out)) {
        goto out;
    }
    json_t *d = json_object();
    if (d != NULL && !ohsm_cli_jput(d, "filepath", ohsm_cli_jstr(path))) {
        json_decref(d);
        d = NULL;
    }
    ohsm_cli_out_ok(out, d);
out:
    free(json);
    free(data);
    free(res);
}

void ohsm_cli_cmd_quorum_list(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out)
{
    (void)a;
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_cli_qtoken_list *l = calloc(n > 0 ? n : 1, sizeof(*l));
    struct ohsm_qtoken_info **tok = calloc(n > 0 ? n : 1, sizeof(*tok));
    struct ohsm_result *res = ohsm_cli_results(ctx, out);
    size_t answered = 0;

    if (l == NULL || tok == NULL || res == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t cnt = 0;
        res[i].rv = ohsm_client_quorum_list(ctx->client, i, &tok[i], &cnt);
        if (res[i].rv != OHSM_OK) {
            tok[i] = NULL;
            continue;
        }
        l[i].answered = true;
        l[i].tokens = tok[i];
        l[i].n = cnt;
        answered++;
    }
    if (answered == 0) {
        ohsm_cli_fanout_err(ctx, out, "Tokens listed", "Listing tokens", res);
        goto out;
    }
    ohsm_cli_out_ok(out, ohsm_cli_qtokens_json(l, n));
out:
    for (size_t i = 0; tok != NULL && i < n; i++) {
        free(tok[i]);
    }
    free(tok);
    free(l);
    free(res);
}

void ohsm_cli_cmd_quorum_values(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out)
{
    (void)a;
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_result *res = ohsm_cli_results(ctx, out);
    struct ohsm_quorum_values v;

    if (res == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        res[i].rv = ohsm_client_quorum_values(ctx->client, i, &v);
        if (res[i].rv != OHSM_OK) {
            continue;
        }
        /* Values are set on every HSM together: the first answer stands for the cluster. */
        json_t *d = json_object();
        if (d != NULL && (!ohsm_cli_jput(d, "user", json_integer(v.user)) ||
                          !ohsm_cli_jput(d, "quorum", json_integer(v.quorum)) ||
                          !ohsm_cli_jput(d, "cluster", json_integer(v.cluster)))) {
            json_decref(d);
            d = NULL;
        }
        ohsm_cli_out_ok(out, d);
        free(res);
        return;
    }
    ohsm_cli_fanout_err(ctx, out, "Quorum values listed", "Listing quorum values", res);
    free(res);
}

void ohsm_cli_cmd_quorum_set(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                             struct ohsm_cli_out *out)
{
    struct ohsm_cli_approval h;
    const struct ohsm_approval *ap = NULL;
    struct ohsm_result *res = NULL;
    enum ohsm_qservice svc;
    uint64_t value = 0;

    if (!ohsm_cli_approval_arg(a, &h, &ap, out)) {
        goto out;
    }
    if (!service_arg(a, &svc, out) || svc == OHSM_QS_REGISTRATION) {
        ohsm_cli_out_err(out, "Invalid service: expected user, quorum or cluster");
        goto out;
    }
    if (!ohsm_cli_num_arg(a, "value", 1, OHSM_QUORUM_MAX, 0, &value, out)) {
        goto out;
    }
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        goto out;
    }
    if (ohsm_client_quorum_set(ctx->client, (int)svc, (uint32_t)value, ap, res) == OHSM_OK) {
        ohsm_cli_out_msg(out, "Set quorum value successful");
    } else {
        ohsm_cli_fanout_err(ctx, out, "Quorum value set", "Setting the quorum value", res);
    }
out:
    ohsm_cli_approval_free(&h);
    free(res);
}

void ohsm_cli_cmd_quorum_delete(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out)
{
    const char *scope = ohsm_cli_arg(a, "scope");
    struct ohsm_result *res = NULL;
    bool all;

    if (scope == NULL || (strcmp(scope, "user") != 0 && strcmp(scope, "all") != 0)) {
        ohsm_cli_out_err(out, "Invalid scope: expected user or all");
        return;
    }
    all = strcmp(scope, "all") == 0;
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        return;
    }
    if (ohsm_client_quorum_delete(ctx->client, all, res) == OHSM_OK) {
        ohsm_cli_out_msg(out, "Deletion of quorum token(s) successful");
    } else {
        ohsm_cli_fanout_err(ctx, out, "Tokens deleted", "Deleting tokens", res);
    }
    free(res);
}

/* The user this client is logged in as (from the first HSM with a live login). */
static bool session_user(struct ohsm_cli_ctx *ctx, struct ohsm_hsm_status *st)
{
    size_t n = ohsm_client_hsm_count(ctx->client);
    for (size_t i = 0; i < n; i++) {
        if (ohsm_client_hsm_status(ctx->client, i, st) == OHSM_OK && st->logged_in) {
            return true;
        }
    }
    return false;
}

void ohsm_cli_cmd_user_quorum_register(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                       struct ohsm_cli_out *out)
{
    const char *pem_path = ohsm_cli_arg(a, "public-key");
    const char *tok_path = ohsm_cli_arg(a, "signed-token");
    struct ohsm_tokfile f = {NULL, 0};
    struct ohsm_result *res = NULL;
    struct ohsm_hsm_status st;
    uint8_t *der = NULL;
    size_t der_len = 0;
    char *buf = NULL;
    size_t len = 0;
    char err[512];
    ohsm_rv rv;

    err[0] = '\0';
    if (!ohsm_cli_pubkey_load(pem_path, &der, &der_len, out)) {
        goto out;
    }
    rv = ohsm_tokfile_read(tok_path, &buf, &len, err, sizeof(err));
    if (rv == OHSM_OK) {
        rv = ohsm_tokfile_parse(buf, len, true, &f, err, sizeof(err));
    }
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Invalid signed token file %s: %s", tok_path,
                         err[0] != '\0' ? err : ohsm_rv_str(rv));
        goto out;
    }
    if (f.n != 1) {
        ohsm_cli_out_err(out,
                         "Invalid signed token file %s: a registration token file holds one "
                         "token, not %zu",
                         tok_path, f.n);
        goto out;
    }
    if (f.pairs[0].sig_len == 0) {
        ohsm_cli_out_err(out, "The registration token in %s is not signed", tok_path);
        goto out;
    }
    /* Checked here first so that a wrong key or file is named clearly and nothing is sent. */
    rv = ohsm_token_verify(der, der_len, f.pairs[0].unsigned_tok, f.pairs[0].sig,
                           f.pairs[0].sig_len);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "The signature in %s does not verify with the public key %s",
                         tok_path, pem_path);
        goto out;
    }
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        goto out;
    }
    rv = ohsm_client_quorum_register(ctx->client, f.pairs[0].approval, f.pairs[0].approval_len,
                                     f.pairs[0].sig, f.pairs[0].sig_len, der, der_len, res);
    if (rv != OHSM_OK) {
        ohsm_cli_fanout_err(ctx, out, "Quorum key registered", "Registering the quorum key", res);
        goto out;
    }
    if (!session_user(ctx, &st)) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_USER_NOT_LOGGED_IN));
        goto out;
    }
    ohsm_cli_out_ok(out, ohsm_cli_user_data(st.username, ohsm_cli_role_name(st.user_type)));
out:
    ohsm_tokfile_free(&f);
    free(buf);
    free(der);
    free(res);
}
