/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu, also installed as key_mgmt_util: the CloudHSM key management utility for crypto
 * users. Finds the cluster configuration (--cluster-config PATH, else $OPENHSM_CLUSTER_CONFIG),
 * connects to every HSM of it, then either reads commands at the `Command: ` prompt (libedit on a
 * terminal, plain lines from a script, no prompt then) until exit or end of input, or, with
 * `singlecmd` (optionally after the AWS tool's `Cfm3Util` word), runs the commands that follow on
 * the command line, e.g. `singlecmd loginHSM -u CU -s alice -p secret genSymKey -t 31 -s 32 -l k`.
 * Exit status: at a terminal 0 after exit or end of input; a script read from a pipe or file
 * runs every command and exits 0 when every command succeeded, OHSM_KMU_EXIT_FAILED (3, as
 * openhsm-cmu) when any failed (so a script written for the AWS tool can be checked with
 * `|| ...`); singlecmd 0 when every command succeeded, 3 when one failed (the rest are not run);
 * 1 when the configuration is unusable; 2 for a bad command line. Trusts nothing from argv or the environment beyond a path to try; a
 * password on the command line is wiped from argv once used.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kmu/complete.h"
#include "kmu/kmu.h"

#ifndef OHSM_VERSION
#define OHSM_VERSION "0"
#endif

static void usage(FILE *f, const char *prog)
{
    (void)fprintf(f,
                  "Usage: %s [--cluster-config PATH] [Cfm3Util] [singlecmd COMMAND...]\n\n"
                  "Manages keys in an openhsm cluster as a crypto user, as AWS CloudHSM's\n"
                  "key_mgmt_util. Without singlecmd, commands are read at the 'Command:' prompt\n"
                  "(type 'help'). The cluster configuration is PATH, else $%s.\n\n"
                  "Exit status: at a terminal, 0. Commands read from a pipe or file all run;\n"
                  "the status is 0 when every one succeeded, 3 when any failed. singlecmd stops\n"
                  "at the first failed command and exits 3 (0 when all succeeded). 2 means a bad\n"
                  "command line, 1 an unusable cluster configuration.\n\n"
                  "Options:\n"
                  "  --cluster-config PATH  the cluster configuration (client.json)\n"
                  "  -h, --help             this help\n"
                  "  --version              the version\n",
                  prog, OHSM_CLUSTER_CONFIG_ENV);
}

struct args {
    const char *config;
    bool single;
    int first; /* argv index of singlecmd's first word */
};

/* Returns 0 to go on, -1 to exit 0 (help or version printed), 2 on a bad command line. */
static int args(int argc, char **argv, const char *prog, struct args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
            usage(stdout, prog);
            return -1;
        }
        if (strcmp(s, "--version") == 0) {
            (void)printf("%s (openhsm) %s\n", prog, OHSM_VERSION);
            return -1;
        }
        if (strcmp(s, "--cluster-config") == 0) {
            if (i + 1 >= argc) {
                (void)fprintf(stderr, "%s: --cluster-config needs a PATH\n", prog);
                return 2;
            }
            a->config = argv[++i];
        } else if (strncmp(s, "--cluster-config=", 17) == 0) {
            a->config = s + 17;
        } else if (strcmp(s, "Cfm3Util") == 0) {
            continue; /* the AWS tool's sub-tool name, accepted for scripts written for it */
        } else if (strcmp(s, "singlecmd") == 0) {
            a->single = true;
            a->first = i + 1;
            break;
        } else {
            (void)fprintf(stderr, "%s: unexpected argument '%s'\n", prog, s);
            usage(stderr, prog);
            return 2;
        }
    }
    if (a->config == NULL) {
        a->config = getenv(OHSM_CLUSTER_CONFIG_ENV);
    }
    if (a->config == NULL || a->config[0] == '\0') {
        (void)fprintf(stderr,
                      "%s: no cluster configuration: give --cluster-config PATH or set %s\n", prog,
                      OHSM_CLUSTER_CONFIG_ENV);
        return 2;
    }
    return 0;
}

/* Runs commands until exit or end of input. Returns true when every command succeeded. */
static bool session(struct ohsm_kmu *k)
{
    char line[OHSM_KMU_LINE_MAX];
    bool all_ok = true;

    while (!k->quit) {
        enum ohsm_cmu_read st = ohsm_cmu_io_command(&k->io, OHSM_KMU_PROMPT, line, sizeof(line));
        if (st == OHSM_CMU_READ_EOF) {
            break;
        }
        if (st == OHSM_CMU_READ_LONG) {
            (void)fprintf(k->out, "\n\tLine too long: at most %d characters\n",
                          OHSM_KMU_LINE_MAX - 1);
            all_ok = false;
            continue;
        }
        if (ohsm_kmu_run_line(k, line) != OHSM_KMU_DONE) {
            all_ok = false;
        }
        OPENSSL_cleanse(line, sizeof(line)); /* it may have held a password */
    }
    return all_ok;
}

int main(int argc, char **argv)
{
    const char *prog = argc > 0 && argv[0] != NULL ? argv[0] : "openhsm-kmu";
    char err[256] = "";
    struct ohsm_cfg *cfg = NULL;
    struct ohsm_client *client = NULL;
    struct ohsm_kmu k;
    struct args a;
    int status = 1;

    const char *slash = strrchr(prog, '/');
    prog = slash != NULL ? slash + 1 : prog;
    /* Line by line even into a pipe, so a script's transcript interleaves as typed. */
    (void)setvbuf(stdout, NULL, _IOLBF, 0);

    int r = args(argc, argv, prog, &a);
    if (r != 0) {
        return r < 0 ? 0 : r;
    }
    ohsm_rv rv = ohsm_cfg_load(a.config, &cfg, err, sizeof(err));
    if (rv != OHSM_OK) {
        (void)fprintf(stderr, "%s: cannot use cluster configuration '%s': %s\n", prog, a.config,
                      err[0] != '\0' ? err : ohsm_rv_str(rv));
        goto out;
    }
    rv = ohsm_client_new(cfg, &client);
    if (rv != OHSM_OK) {
        (void)fprintf(stderr, "%s: %s\n", prog, ohsm_rv_str(rv));
        goto out;
    }
    memset(&k, 0, sizeof(k));
    k.client = client;
    k.n = ohsm_client_hsm_count(client);
    k.out = stdout;
    ohsm_cmu_io_init(&k.io, stdout, prog);
    if (a.single) {
        status = ohsm_kmu_run_argv(&k, argv + a.first, (size_t)(argc - a.first));
        for (int i = a.first; i < argc; i++) {
            /* Passwords given with -p: no longer needed. */
            if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
                OPENSSL_cleanse(argv[i + 1], strlen(argv[i + 1]));
            }
        }
    } else {
        struct ohsm_kmu_table tab; /* borrowed by the shell until ohsm_cmu_io_end */
        tab.cmds = ohsm_kmu_commands(&tab.n);
        ohsm_cmu_io_habits(&k.io, prog, ".openhsm_kmu_history", ohsm_kmu_complete, &tab,
                           ohsm_kmu_hist_keep, &tab);
        bool all_ok = session(&k);
        ohsm_cmu_io_end(&k.io);
        /* At a terminal the user saw each result; a script's caller sees only the status. */
        status = k.io.tty || all_ok ? 0 : OHSM_KMU_EXIT_FAILED;
    }
out:
    ohsm_client_free(client);
    ohsm_cfg_free(cfg);
    return status;
}
