/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli (also installed as cloudhsm-cli): the CloudHSM CLI for openhsm clusters. Runs the
 * command given as arguments (single-command mode; `interactive` starts the shell). The cluster
 * configuration comes from --cluster-config or OPENHSM_CLUSTER_CONFIG. argv is untrusted and goes
 * through the grammar parser; secret values in it are wiped in place once used.
 */
#include <stdlib.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    struct ohsm_cli_ctx ctx = {.g = &ohsm_cli_grammar};
    struct ohsm_cli_args a;
    char err[512];
    int status;

    if (argc < 2) {
        ohsm_cli_help_top(stderr, ctx.g);
        return 2;
    }
    if (ohsm_cli_parse(ctx.g, argv + 1, (size_t)(argc - 1), &a, err, sizeof(err)) != OHSM_OK) {
        ohsm_cli_args_wipe(&a);
        return ohsm_cli_emit_err(err);
    }
    if (a.help) {
        ohsm_cli_args_wipe(&a);
        if (!ohsm_cli_help(stdout, ctx.g, a.words, a.nwords, err, sizeof(err))) {
            return ohsm_cli_emit_err(err);
        }
        return 0;
    }
    ctx.config_path = ohsm_cli_arg(&a, "cluster-config");
    if (ctx.config_path == NULL) {
        ctx.config_path = getenv(OHSM_CLUSTER_CONFIG_ENV);
    }
    ctx.cluster_id = ohsm_cli_arg(&a, "cluster-id");
    status = ohsm_cli_run(&ctx, &a);
    ohsm_client_free(ctx.client);
    ohsm_cfg_free(ctx.cfg);
    return status;
}
