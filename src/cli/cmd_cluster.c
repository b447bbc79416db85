/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli handlers for the cluster commands. `cluster activate` sets the first admin password
 * as CloudHSM's does: it logs in as the unactivated admin with the default password, sets the new
 * one (which turns the unactivated admin into an admin on every HSM and the cluster ACTIVE), and
 * logs out again, so the user then logs in with the new password. `cluster hsm-info` reports every
 * HSM of the configuration, marking those that did not answer. The new password is wiped on every
 * path.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"

/* The unactivated admin of a new cluster and its default password (CloudHSM's). */
#define PRECO_NAME "admin"
#define PRECO_DEFAULT_PASSWORD "password"

/* OHSM_OK when some HSM answered and not every answering HSM is activated yet;
 * OHSM_ALREADY_ACTIVATED when all answering HSMs are; otherwise res says why none answered. */
static ohsm_rv activation_state(struct ohsm_cli_ctx *ctx, struct ohsm_result *res)
{
    size_t n = ohsm_client_hsm_count(ctx->client);
    size_t answered = 0;
    size_t active = 0;
    for (size_t i = 0; i < n; i++) {
        struct ohsm_hsm_info info;
        res[i].rv = ohsm_client_hsm_info(ctx->client, i, &info);
        if (res[i].rv == OHSM_OK) {
            answered++;
            active += info.activated;
        }
    }
    if (answered == 0) {
        return OHSM_NOT_CONNECTED;
    }
    return active == answered ? OHSM_ALREADY_ACTIVATED : OHSM_OK;
}

void ohsm_cli_cmd_cluster_activate(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                   struct ohsm_cli_out *out)
{
    char pw[OHSM_CLI_PW_CAP];
    struct ohsm_result *res = ohsm_cli_results(ctx, out);
    enum ohsm_utype actual;
    bool activated = false;
    ohsm_rv rv;

    pw[0] = '\0';
    if (res == NULL) {
        goto out;
    }
    rv = activation_state(ctx, res);
    if (rv == OHSM_ALREADY_ACTIVATED) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(rv));
        goto out;
    }
    if (rv != OHSM_OK) {
        ohsm_cli_fanout_err(ctx, out, "Cluster activated", "Cluster activation", res);
        goto out;
    }
    if (!ohsm_cli_new_password(ohsm_cli_arg(a, "password"), pw, sizeof(pw), out)) {
        goto out;
    }
    if (!ohsm_cli_login(ctx, OHSM_UT_CO, PRECO_NAME, PRECO_DEFAULT_PASSWORD, &actual, out)) {
        goto out;
    }
    if (actual != OHSM_UT_PRECO) {
        ohsm_cli_logout_quiet(ctx);
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_ALREADY_ACTIVATED));
        goto out;
    }
    rv = ohsm_client_change_password(ctx->client, OHSM_UT_PRECO, PRECO_NAME, pw, res, &activated);
    ohsm_cli_logout_quiet(ctx);
    if (rv == OHSM_OK) {
        ohsm_cli_out_msg(out, "Cluster activation successful");
    } else {
        ohsm_cli_fanout_err(ctx, out, "Cluster activated", "Cluster activation", res);
    }
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    free(res);
}

void ohsm_cli_cmd_cluster_hsm_info(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                   struct ohsm_cli_out *out)
{
    (void)a;
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_result *res = ohsm_cli_results(ctx, out);
    json_t *hsms = json_array();
    json_t *data = json_object();
    size_t answered = 0;

    if (res == NULL || hsms == NULL || data == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct ohsm_hsm_status st;
        struct ohsm_hsm_info info;
        memset(&st, 0, sizeof(st));
        if (ohsm_client_hsm_status(ctx->client, i, &st) != OHSM_OK) {
            (void)ohsm_cli_fmt(st.id, sizeof(st.id), "hsm #%zu", i);
        }
        res[i].rv = ohsm_client_hsm_info(ctx->client, i, &info);
        answered += res[i].rv == OHSM_OK;
        json_t *h = ohsm_cli_hsm_json(&st, ohsm_cfg_cluster_id(ctx->cfg),
                                      res[i].rv == OHSM_OK ? &info : NULL, res[i].rv);
        if (h == NULL || json_array_append_new(hsms, h) != 0) {
            ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
            goto out;
        }
    }
    if (answered == 0) {
        ohsm_cli_fanout_err(ctx, out, "HSM info read", "Reading HSM info", res);
        goto out;
    }
    if (json_object_set(data, "hsms", hsms) != 0) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    ohsm_cli_out_ok(out, data);
    data = NULL;
out:
    json_decref(hsms);
    json_decref(data);
    free(res);
}
