/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cmu, also installed as cloudhsm_mgmt_util: the CloudHSM management utility for HSM
 * users. Finds the cluster configuration (first argument, else --cluster-config PATH, else
 * $OPENHSM_CLUSTER_CONFIG), connects to every HSM of it and says which it reached, then reads
 * commands at the `aws-cloudhsm>` prompt (libedit on a terminal, plain lines from a script) until
 * quit or end of input. A failing command never ends the session: the commands after it still
 * run. Exit status: 0 after quit or end of input, 1 when the configuration is unusable, 2 for a bad
 * command line, and, when the commands came from a script (standard input not a terminal), 3 when
 * any of them failed on any server (a person at a terminal sees each failure as it happens, and
 * gets 0 as before). Trusts nothing from argv or the environment beyond a path to try.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cmu/cmu.h"
#include "cmu/complete.h"

/* Exit status of a script in which a command failed. */
#define OHSM_CMU_EXIT_FAILED 3

#ifndef OHSM_VERSION
#define OHSM_VERSION "0"
#endif

static void usage(FILE *f, const char *prog)
{
    (void)fprintf(f,
                  "Usage: %s [CONFIG]\n"
                  "       %s --cluster-config PATH\n\n"
                  "Manages the users of an openhsm cluster, as AWS CloudHSM's cloudhsm_mgmt_util.\n"
                  "CONFIG is the cluster's client configuration (client.json); without it, the\n"
                  "path in $%s is used. Type 'help' at the prompt for the commands.\n\n"
                  "Commands may be piped in, one a line. A failing command does not stop the\n"
                  "script; the exit status tells whether every command succeeded.\n\n"
                  "Options:\n"
                  "  --cluster-config PATH  the cluster configuration\n"
                  "  -h, --help             this help\n"
                  "  --version              the version\n\n"
                  "Exit status:\n"
                  "  0  every command succeeded (always 0 when typed at a terminal)\n"
                  "  1  the cluster configuration is unusable\n"
                  "  2  bad command line\n"
                  "  3  commands from a script (stdin not a terminal): at least one failed on at\n"
                  "     least one server (unknown command, bad argument, error from an HSM)\n",
                  prog, prog, OHSM_CLUSTER_CONFIG_ENV);
}

/* Finds the config path in argv or the environment. Returns 0 with *path set (borrowed), -1 to
 * exit 0 (help or version printed), or 2 on a bad command line (message printed). */
static int args(int argc, char **argv, const char *prog, const char **path)
{
    const char *positional = NULL, *option = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, prog);
            return -1;
        }
        if (strcmp(a, "--version") == 0) {
            (void)printf("%s (openhsm) %s\n", prog, OHSM_VERSION);
            return -1;
        }
        if (strcmp(a, "--cluster-config") == 0) {
            if (i + 1 >= argc) {
                (void)fprintf(stderr, "%s: --cluster-config needs a PATH\n", prog);
                return 2;
            }
            option = argv[++i];
        } else if (strncmp(a, "--cluster-config=", 17) == 0) {
            option = a + 17;
        } else if (a[0] == '-' && a[1] != '\0') {
            (void)fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
            usage(stderr, prog);
            return 2;
        } else if (positional == NULL) {
            positional = a;
        } else {
            (void)fprintf(stderr, "%s: unexpected argument '%s'\n", prog, a);
            usage(stderr, prog);
            return 2;
        }
    }
    if (positional != NULL && option != NULL) {
        (void)fprintf(stderr, "%s: give the configuration once: CONFIG or --cluster-config\n",
                      prog);
        return 2;
    }
    *path = positional != NULL ? positional : option;
    if (*path == NULL) {
        *path = getenv(OHSM_CLUSTER_CONFIG_ENV);
    }
    if (*path == NULL || (*path)[0] == '\0') {
        (void)fprintf(stderr,
                      "%s: no cluster configuration: give CONFIG or --cluster-config PATH, or "
                      "set %s\n",
                      prog, OHSM_CLUSTER_CONFIG_ENV);
        return 2;
    }
    return 0;
}

static void session(struct ohsm_cmu *c)
{
    char line[OHSM_CMU_LINE_MAX];
    char prompt[32];

    while (!c->quit) {
        /* In server mode the prompt names the server, as "server0>". */
        if (c->in_server) {
            (void)snprintf(prompt, sizeof(prompt), "server%zu>", c->server);
        } else {
            (void)snprintf(prompt, sizeof(prompt), "%s", OHSM_CMU_PROMPT);
        }
        enum ohsm_cmu_read st = ohsm_cmu_io_command(&c->io, prompt, line, sizeof(line));
        if (st == OHSM_CMU_READ_EOF) {
            break;
        }
        if (st == OHSM_CMU_READ_LONG) {
            (void)fprintf(c->out, "Line too long: at most %d characters\n", OHSM_CMU_LINE_MAX - 1);
            c->failed = true;
            continue;
        }
        ohsm_cmu_run_line(c, line);
        OPENSSL_cleanse(line, sizeof(line)); /* it may have held a password */
    }
    (void)fprintf(c->out, "\ndisconnecting from servers, please wait...\n");
    (void)fflush(c->out);
}

int main(int argc, char **argv)
{
    const char *prog = argc > 0 && argv[0] != NULL ? argv[0] : "openhsm-cmu";
    const char *path = NULL;
    char err[256] = "";
    struct ohsm_cfg *cfg = NULL;
    struct ohsm_client *client = NULL;
    struct ohsm_cmu c;
    int status = 1;

    const char *slash = strrchr(prog, '/');
    prog = slash != NULL ? slash + 1 : prog;
    /* Line by line even into a pipe, so a script's transcript interleaves as typed. */
    (void)setvbuf(stdout, NULL, _IOLBF, 0);

    int a = args(argc, argv, prog, &path);
    if (a != 0) {
        return a < 0 ? 0 : a;
    }
    ohsm_rv rv = ohsm_cfg_load(path, &cfg, err, sizeof(err));
    if (rv != OHSM_OK) {
        if (err[0] != '\0' && strstr(err, path) != NULL) {
            (void)fprintf(stderr, "%s: cannot use cluster configuration: %s\n", prog, err);
        } else {
            (void)fprintf(stderr, "%s: cannot use cluster configuration '%s': %s\n", prog, path,
                          err[0] != '\0' ? err : ohsm_rv_str(rv));
        }
        goto out;
    }
    (void)printf("Connecting to the server(s), it may take time\n"
                 "depending on the server(s) load, please wait...\n\n");
    (void)fflush(stdout);
    rv = ohsm_client_new(cfg, &client);
    if (rv != OHSM_OK) {
        (void)fprintf(stderr, "%s: %s\n", prog, ohsm_rv_str(rv));
        goto out;
    }
    memset(&c, 0, sizeof(c));
    c.client = client;
    c.n = ohsm_client_hsm_count(client);
    /* This is the tool that shows HSMs drifting apart (findAllKeys' key hash, getKeyInfo per
     * server) and repairs them on request (syncKey, syncUser), as cloudhsm_mgmt_util: it must
     * not quietly repair what it is asked to look at. */
    ohsm_client_set_auto_repair(client, false);
    c.out = stdout;
    ohsm_cmu_io_init(&c.io, stdout, prog);
    struct ohsm_cmu_table tab; /* borrowed by the shell until ohsm_cmu_io_end */
    tab.cmds = ohsm_cmu_commands(&tab.n);
    ohsm_cmu_io_habits(&c.io, prog, ".openhsm_cmu_history", ohsm_cmu_complete, &tab,
                       ohsm_cmu_hist_keep, &tab);
    ohsm_cmu_print_connections(&c);
    session(&c);
    ohsm_cmu_io_end(&c.io);
    ohsm_cmu_approval_free(&c);
    status = c.failed && !c.io.tty ? OHSM_CMU_EXIT_FAILED : 0;
out:
    ohsm_client_free(client);
    ohsm_cfg_free(cfg);
    return status;
}
