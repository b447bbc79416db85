/* SPDX-License-Identifier: Apache-2.0
 *
 * Running commands in openhsm-cli: one parsed command in either mode (connect when the row needs
 * the cluster, log in with CLOUDHSM_ROLE / CLOUDHSM_PIN in single-command mode, call the handler,
 * print its one JSON object), and the interactive shell (prompt "aws-cloudhsm > ", libedit line
 * editing on a terminal, plain lines otherwise) with the help, quit and interactive handlers.
 * On a terminal, Tab completes from the grammar and lines are kept in ~/.openhsm_cli_history
 * (complete.c decides which, edit.c keeps them). Input lines are untrusted and go through the
 * splitter and the grammar parser; secret option values are wiped in place after each command,
 * and lines that carried a secret are never added to the history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>
#include <openssl/crypto.h>

#include "cli/cli.h"
#include "cli/complete.h"
#include "cmu/edit.h"

#define MAX_TOKENS 128

/* Prints a command's result; returns the exit status it implies. */
static int emit(const struct ohsm_cli_out *out)
{
    if (out->silent) {
        return out->error_code != 0 ? 1 : 0;
    }
    char *s = ohsm_cli_out_dump(out);
    if (s != NULL) {
        fputs(s, stdout);
        fputc('\n', stdout);
        if (out->secret) {
            OPENSSL_cleanse(s, strlen(s));
        }
        free(s);
    } else {
        fputs("{\n  \"error_code\": 1,\n  \"data\": \"Out of memory\"\n}\n", stdout);
    }
    fflush(stdout);
    return out->error_code != 0 ? 1 : 0;
}

int ohsm_cli_emit_err(const char *msg)
{
    struct ohsm_cli_out out = {0};
    ohsm_cli_out_err(&out, "%s", msg);
    int status = emit(&out);
    ohsm_cli_out_clear(&out);
    return status;
}

int ohsm_cli_run(struct ohsm_cli_ctx *ctx, struct ohsm_cli_args *a)
{
    struct ohsm_cli_out out = {0};
    const struct ohsm_cli_cmd *c = a->cmd;
    const char *cid = ohsm_cli_arg(a, "cluster-id");
    bool env_login = false;
    int status;

    if (ctx->shell && (c->flags & OHSM_CLI_C_ARGV_ONLY) != 0) {
        ohsm_cli_out_err(&out, "'%s' cannot be used inside the interactive shell", c->path);
    } else if (ctx->shell && ohsm_cli_flag(a, "cluster-config")) {
        ohsm_cli_out_err(&out, "--cluster-config can only be given when the CLI starts");
    } else if (ctx->shell && cid != NULL && strcmp(cid, ohsm_cfg_cluster_id(ctx->cfg)) != 0) {
        ohsm_cli_out_err(&out, "Unknown cluster id '%s': this shell runs against cluster %s", cid,
                         ohsm_cfg_cluster_id(ctx->cfg));
    } else if ((c->flags & OHSM_CLI_C_NO_CLUSTER) == 0 && !ohsm_cli_connect(ctx, &out)) {
        /* out says why */
    } else if (!ctx->shell && (c->flags & OHSM_CLI_C_OWN_SESSION) == 0 &&
               !ohsm_cli_env_login(ctx, &env_login, &out)) {
        /* out says why */
    } else {
        c->handler(ctx, a, &out);
    }
    if (env_login) {
        ohsm_cli_logout_quiet(ctx);
    }
    ohsm_cli_args_wipe(a);
    status = emit(&out);
    ohsm_cli_out_clear(&out);
    return status;
}

void ohsm_cli_cmd_help(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                       struct ohsm_cli_out *out)
{
    char err[256];
    if (ohsm_cli_help(stdout, ctx->g, (const char *const *)a->pos, a->npos, err, sizeof(err))) {
        fflush(stdout);
        out->silent = true;
    } else {
        ohsm_cli_out_err(out, "%s", err);
    }
}

void ohsm_cli_cmd_quit(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                       struct ohsm_cli_out *out)
{
    (void)a;
    ctx->quit = true;
    out->silent = true;
}

/* Handles one shell line: split, parse, then help or run. line is wiped by the caller. */
static void shell_line(struct ohsm_cli_ctx *ctx, char *line, bool tty)
{
    char *tok[MAX_TOKENS];
    size_t n = 0;
    char err[512];
    struct ohsm_cli_args a;
    char *hist = tty ? strdup(line) : NULL;

    if (ohsm_cli_split(line, tok, MAX_TOKENS, &n, err, sizeof(err)) != OHSM_OK) {
        (void)ohsm_cli_emit_err(err);
        goto out;
    }
    if (n == 0) {
        goto out;
    }
    if (ohsm_cli_parse(ctx->g, tok, n, &a, err, sizeof(err)) != OHSM_OK) {
        (void)ohsm_cli_emit_err(err);
        goto out;
    }
    if (hist != NULL) {
        ohsm_edit_remember(hist); /* through ohsm_cli_hist_keep: never a line with a secret */
    }
    if (a.help) {
        if (!ohsm_cli_help(stdout, ctx->g, a.words, a.nwords, err, sizeof(err))) {
            (void)ohsm_cli_emit_err(err);
        }
        fflush(stdout);
        goto out;
    }
    (void)ohsm_cli_run(ctx, &a);
out:
    if (hist != NULL) {
        OPENSSL_cleanse(hist, strlen(hist));
        free(hist);
    }
}

void ohsm_cli_cmd_interactive(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out)
{
    (void)a;
    static const char prompt[] = "aws-cloudhsm > ";
    bool tty = isatty(STDIN_FILENO) != 0;
    char *buf = NULL;

    /* Fail at the start, not at the first command, when there is no usable configuration. */
    if (!ohsm_cli_connect(ctx, out)) {
        return;
    }
    if (!tty) {
        buf = malloc(OHSM_CLI_LINE_MAX);
        if (buf == NULL) {
            ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
            return;
        }
    }
    if (tty) {
        rl_readline_name = "openhsm-cli";
        ohsm_edit_complete_with(ohsm_cli_complete, ctx->g);
        ohsm_edit_history("openhsm-cli", ".openhsm_cli_history", ohsm_cli_hist_keep, ctx->g);
    }
    ctx->shell = true;
    while (!ctx->quit) {
        char *line;
        size_t len = 0;
        if (tty) {
            line = readline(prompt);
            if (line == NULL) {
                fputc('\n', stdout);
                break;
            }
            len = strlen(line);
        } else {
            int r = ohsm_cli_read_line(STDIN_FILENO, buf, OHSM_CLI_LINE_MAX, &len);
            if (r == 0 || r == -1) {
                break;
            }
            if (r == -2) {
                OPENSSL_cleanse(buf, OHSM_CLI_LINE_MAX);
                (void)ohsm_cli_emit_err("Input line too long");
                continue;
            }
            line = buf;
        }
        shell_line(ctx, line, tty);
        OPENSSL_cleanse(line, len);
        if (tty) {
            free(line);
        }
    }
    ctx->shell = false;
    if (tty) {
        ohsm_edit_end();
    }
    if (buf != NULL) {
        OPENSSL_cleanse(buf, OHSM_CLI_LINE_MAX);
        free(buf);
    }
    out->silent = true;
}
