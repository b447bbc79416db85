/* SPDX-License-Identifier: Apache-2.0
 *
 * Session helpers of openhsm-cli: loading the cluster configuration and connecting, logging in
 * (the result policy: usable when every HSM that answered accepted), single-command credentials
 * from CLOUDHSM_ROLE / CLOUDHSM_PIN, username and password input (given, or prompted for and
 * confirmed), and turning per-HSM results into one message. Environment values and typed input are
 * untrusted and checked against the library's rules before anything is sent; every buffer that
 * held a password is wiped on every path.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"

bool ohsm_cli_connect(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out)
{
    char err[256];
    ohsm_rv rv;

    if (ctx->client != NULL) {
        return true;
    }
    if (ctx->config_path == NULL || ctx->config_path[0] == '\0') {
        ohsm_cli_out_err(out, "No cluster configuration: give --cluster-config <PATH> or set %s",
                         OHSM_CLUSTER_CONFIG_ENV);
        return false;
    }
    if (ctx->cfg == NULL) {
        err[0] = '\0';
        rv = ohsm_cfg_load(ctx->config_path, &ctx->cfg, err, sizeof(err));
        if (rv != OHSM_OK) {
            ctx->cfg = NULL;
            ohsm_cli_out_err(out, "Cannot load the cluster configuration %s: %s", ctx->config_path,
                             err[0] != '\0' ? err : ohsm_rv_str(rv));
            return false;
        }
    }
    if (ctx->cluster_id != NULL && strcmp(ctx->cluster_id, ohsm_cfg_cluster_id(ctx->cfg)) != 0) {
        ohsm_cli_out_err(out, "Unknown cluster id '%s': the configuration is for cluster %s",
                         ctx->cluster_id, ohsm_cfg_cluster_id(ctx->cfg));
        return false;
    }
    rv = ohsm_client_new(ctx->cfg, &ctx->client);
    if (rv != OHSM_OK) {
        ctx->client = NULL;
        ohsm_cli_out_err(out, "Cannot start the client: %s", ohsm_rv_str(rv));
        return false;
    }
    return true;
}

struct ohsm_result *ohsm_cli_results(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out)
{
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_result *res = calloc(n > 0 ? n : 1, sizeof(*res));
    if (res == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
    }
    return res;
}

void ohsm_cli_fanout_err(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out, const char *done,
                         const char *action, const struct ohsm_result *res)
{
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_hsm_status *st = calloc(n > 0 ? n : 1, sizeof(*st));
    struct ohsm_cli_hsm_result *r = calloc(n > 0 ? n : 1, sizeof(*r));
    char msg[1024];

    if (st == NULL || r == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (ohsm_client_hsm_status(ctx->client, i, &st[i]) != OHSM_OK) {
            (void)ohsm_cli_fmt(st[i].id, sizeof(st[i].id), "hsm #%zu", i);
        }
        r[i].id = st[i].id;
        r[i].host = st[i].host;
        r[i].port = st[i].port;
        r[i].rv = res[i].rv;
    }
    ohsm_cli_fanout_msg(msg, sizeof(msg), done, action, r, n);
    ohsm_cli_out_err(out, "%s", msg);
out:
    free(st);
    free(r);
}

bool ohsm_cli_login(struct ohsm_cli_ctx *ctx, enum ohsm_utype type, const char *username,
                    const char *password, enum ohsm_utype *actual, struct ohsm_cli_out *out)
{
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_result *res = ohsm_cli_results(ctx, out);
    size_t accepted = 0;
    bool ok = false;

    if (res == NULL) {
        return false;
    }
    *actual = OHSM_UT_NONE;
    ohsm_rv rv = ohsm_client_login(ctx->client, type, username, password, res, actual);
    ok = true;
    for (size_t i = 0; i < n; i++) {
        accepted += res[i].rv == OHSM_OK;
        ok = ok && (res[i].rv == OHSM_OK || ohsm_cli_rv_unreachable(res[i].rv));
    }
    ok = rv == OHSM_OK || (ok && accepted > 0);
    if (!ok) {
        if (accepted > 0) {
            /* Some HSM refused: leave no half-open session behind. */
            ohsm_cli_logout_quiet(ctx);
        }
        ohsm_cli_fanout_err(ctx, out, "Login succeeded", "Login", res);
    }
    if (*actual == OHSM_UT_NONE) {
        *actual = type;
    }
    free(res);
    return ok;
}

void ohsm_cli_logout_quiet(struct ohsm_cli_ctx *ctx)
{
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_result *res = calloc(n > 0 ? n : 1, sizeof(*res));
    if (res != NULL) {
        /* Best effort: an HSM without a session, or out of reach, has nothing to undo. */
        ohsm_rv rv = ohsm_client_logout(ctx->client, res);
        (void)rv;
        free(res);
    }
}

json_t *ohsm_cli_user_data(const char *name, const char *role)
{
    json_t *o = json_object();
    if (o == NULL || !ohsm_cli_jput(o, "username", ohsm_cli_jstr(name)) ||
        !ohsm_cli_jput(o, "role", json_string(role))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

bool ohsm_cli_role_type(const struct ohsm_cli_args *a, enum ohsm_utype *t, struct ohsm_cli_out *out)
{
    const char *role = ohsm_cli_arg(a, "role");
    if (role == NULL || ohsm_utype_from_cli(role, t) != OHSM_OK) {
        ohsm_cli_out_err(out, "Invalid role: expected admin or crypto-user");
        return false;
    }
    return true;
}

bool ohsm_cli_username(const char *in, char *name, size_t cap, struct ohsm_cli_out *out)
{
    if (ohsm_username_canon(in, name, cap) != OHSM_OK) {
        ohsm_cli_out_err(out, "Invalid username: %s", ohsm_rv_str(OHSM_USERNAME_INVALID));
        return false;
    }
    return true;
}

static bool check_password(const char *pw, struct ohsm_cli_out *out)
{
    if (ohsm_password_check(pw, strlen(pw)) != OHSM_OK) {
        ohsm_cli_out_err(out, "Invalid password: %s", ohsm_rv_str(OHSM_PIN_LEN_RANGE));
        return false;
    }
    return true;
}

/* Copies a given password, refusing one that does not fit. */
static bool copy_password(const char *given, char *pw, size_t cap, struct ohsm_cli_out *out)
{
    size_t len = strlen(given);
    if (len >= cap) {
        ohsm_cli_out_err(out, "Invalid password: %s", ohsm_rv_str(OHSM_PIN_LEN_RANGE));
        return false;
    }
    memcpy(pw, given, len + 1);
    return true;
}

static bool prompt(const char *text, char *pw, size_t cap, struct ohsm_cli_out *out)
{
    ohsm_rv rv = ohsm_cli_read_secret(text, pw, cap);
    if (rv == OHSM_PIN_LEN_RANGE) {
        ohsm_cli_out_err(out, "Invalid password: %s", ohsm_rv_str(rv));
        return false;
    }
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "No password was entered");
        return false;
    }
    return true;
}

bool ohsm_cli_password(const char *given, char *pw, size_t cap, struct ohsm_cli_out *out)
{
    bool ok = given != NULL ? copy_password(given, pw, cap, out)
                            : prompt("Enter password:", pw, cap, out);
    return ok && check_password(pw, out);
}

bool ohsm_cli_new_password(const char *given, char *pw, size_t cap, struct ohsm_cli_out *out)
{
    char again[OHSM_CLI_PW_CAP];
    bool ok;

    if (given != NULL) {
        return copy_password(given, pw, cap, out) && check_password(pw, out);
    }
    ok = prompt("Enter password:", pw, cap, out) &&
         prompt("Confirm password:", again, sizeof(again), out);
    if (ok) {
        size_t l1 = strlen(pw);
        size_t l2 = strlen(again);
        ok = l1 == l2 && CRYPTO_memcmp(pw, again, l1) == 0;
        if (!ok) {
            ohsm_cli_out_err(out, "Passwords do not match");
        }
    }
    OPENSSL_cleanse(again, sizeof(again));
    return ok && check_password(pw, out);
}

bool ohsm_cli_env_login(struct ohsm_cli_ctx *ctx, bool *logged_in, struct ohsm_cli_out *out)
{
    const char *role = getenv("CLOUDHSM_ROLE");
    const char *pin = getenv("CLOUDHSM_PIN");
    char buf[OHSM_CLI_PW_CAP];
    char name[OHSM_USERNAME_MAX + 1];
    enum ohsm_utype type;
    enum ohsm_utype actual;
    bool ok = false;

    *logged_in = false;
    if (role == NULL && pin == NULL) {
        return true;
    }
    if (role == NULL || pin == NULL) {
        ohsm_cli_out_err(out, "Single-command mode needs both CLOUDHSM_ROLE and CLOUDHSM_PIN "
                              "(or neither)");
        return false;
    }
    if ((strcmp(role, "admin") != 0 && strcmp(role, "crypto-user") != 0) ||
        ohsm_utype_from_cli(role, &type) != OHSM_OK) {
        ohsm_cli_out_err(out, "CLOUDHSM_ROLE must be 'admin' or 'crypto-user'");
        return false;
    }
    size_t len = strlen(pin);
    if (len >= sizeof(buf)) {
        ohsm_cli_out_err(out, "CLOUDHSM_PIN must have the form <username>:<password>");
        return false;
    }
    memcpy(buf, pin, len + 1);
    char *colon = strchr(buf, ':');
    if (colon == NULL || colon == buf) {
        ohsm_cli_out_err(out, "CLOUDHSM_PIN must have the form <username>:<password>");
        goto out;
    }
    *colon = '\0';
    if (!ohsm_cli_username(buf, name, sizeof(name), out) || !check_password(colon + 1, out)) {
        goto out;
    }
    ok = ohsm_cli_login(ctx, type, name, colon + 1, &actual, out);
    *logged_in = ok;
out:
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}
