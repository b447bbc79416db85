/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli handlers for the cluster commands. `cluster activate` sets the first admin password
 * as CloudHSM's does: it logs in as the unactivated admin with the default password, sets the new
 * one (which turns the unactivated admin into an admin on every HSM and the cluster ACTIVE), and
 * logs out again, so the user then logs in with the new password. `cluster hsm-info` reports every
 * HSM of the configuration, marking those that did not answer. `cluster sync-status` and
 * `cluster sync-repair` (openhsm extensions) show how the HSMs' keys and users compare and copy
 * the newest masked objects to HSMs that lag. The new password is wiped on every path.
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

/* The sync report of every HSM as JSON (NULL and out filled on failure). */
static json_t *sync_report(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out)
{
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_hsm_status *st = calloc(n > 0 ? n : 1, sizeof(*st));
    const char **ids = calloc(n > 0 ? n : 1, sizeof(*ids));
    struct ohsm_sync_report *rep = NULL;
    json_t *j = NULL;

    if (st == NULL || ids == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (ohsm_client_hsm_status(ctx->client, i, &st[i]) != OHSM_OK) {
            (void)ohsm_cli_fmt(st[i].id, sizeof(st[i].id), "hsm #%zu", i);
        }
        ids[i] = st[i].id;
    }
    ohsm_rv rv = ohsm_client_sync_status(ctx->client, &rep);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Reading the sync status failed: %s", ohsm_rv_str(rv));
        goto out;
    }
    j = ohsm_cli_sync_json(rep, ids, n);
    if (j == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
    }
out:
    ohsm_sync_report_free(rep);
    free(ids);
    free(st);
    return j;
}

void ohsm_cli_cmd_cluster_sync_status(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                      struct ohsm_cli_out *out)
{
    (void)a;
    json_t *j = sync_report(ctx, out);
    if (j != NULL) {
        ohsm_cli_out_ok(out, j);
    }
}

void ohsm_cli_cmd_cluster_sync_repair(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                      struct ohsm_cli_out *out)
{
    (void)a;
    size_t repaired = 0;
    ohsm_rv rv = ohsm_client_sync_repair(ctx->client, &repaired);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "Repair failed after %zu fixes: %s", repaired, ohsm_rv_str(rv));
        return;
    }
    /* What the cluster looks like now, so the user sees the repair took. */
    json_t *j = sync_report(ctx, out);
    if (j == NULL) {
        return;
    }
    if (json_object_set_new(j, "repaired", json_integer((json_int_t)repaired)) != 0) {
        json_decref(j);
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return;
    }
    ohsm_cli_out_ok(out, j);
}
