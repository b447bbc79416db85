/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd: the local cloud. This first part creates a cluster on first start (metadata, local CA,
 * HSM certificates, ports, appliance user's password, client.json), then on every start runs one
 * openhsm-hsm per HSM, says where the client configuration is, prints "openhsmd: ready", and
 * supervises the HSMs until SIGINT/SIGTERM. Trusts: its command line only as validated by args.c;
 * the data directory is the operator's and is read back through meta.c's validation.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloud/args.h"
#include "cloud/files.h"
#include "cloud/meta.h"
#include "cloud/provision.h"
#include "cloud/supervise.h"

#define HSM_BIN_NAME "openhsm-hsm"

/* --hsm-bin, else openhsm-hsm in the directory of /proc/self/exe. */
static int find_hsm_bin(const char *given, char *out, size_t cap)
{
    char self[PATH_MAX];

    if (given != NULL) {
        if (ohsm_files_path(out, cap, "%s", given) != OHSM_OK) {
            return -1;
        }
    } else {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0 || (size_t)n >= sizeof(self) - 1) {
            fprintf(stderr, "openhsmd: cannot read /proc/self/exe: %s\n", strerror(errno));
            return -1;
        }
        self[n] = '\0';
        if (ohsm_files_path(out, cap, "%s/" HSM_BIN_NAME, dirname(self)) != OHSM_OK) {
            return -1;
        }
    }
    if (access(out, X_OK) != 0) {
        fprintf(stderr, "openhsmd: HSM executable %s: %s (build it, or give --hsm-bin PATH)\n", out,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Creates the data directory if needed (0700), resolves it to an absolute path, checks that it
 * and everything in it is openhsmd's own, and locks it, so two openhsmd never run the same HSMs.
 * Returns the lock's fd (kept open for the process's life). A directory someone else owns or can
 * write to is refused before anything is written into it: whoever can write there can plant the
 * keys, CA and HSM database openhsmd would then run with. */
static int open_data_dir(const char *dir, char *abs, size_t cap)
{
    char lock[PATH_MAX], why[PATH_MAX + 160];

    struct stat st;
    /* Only a missing directory is made here; an existing one (or a symlink to one: the
     * operator's layout) is resolved and checked below, with a message that says what is
     * wrong. */
    if (stat(dir, &st) != 0 && (errno != ENOENT || ohsm_files_mkdir(dir) != OHSM_OK)) {
        fprintf(stderr, "openhsmd: cannot create data directory %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (cap < PATH_MAX || realpath(dir, abs) == NULL) {
        fprintf(stderr, "openhsmd: cannot resolve %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (ohsm_files_check_tree(abs, geteuid(), why, sizeof(why)) != OHSM_OK) {
        fprintf(stderr, "openhsmd: refusing data directory %s: %s\n", abs, why);
        return -1;
    }
    if (ohsm_files_path(lock, sizeof(lock), "%s/openhsmd.lock", abs) != OHSM_OK) {
        fprintf(stderr, "openhsmd: data directory path too long\n");
        return -1;
    }
    int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "openhsmd: cannot open %s: %s\n", lock, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "openhsmd: %s is in use by another openhsmd\n", abs);
        close(fd);
        return -1;
    }
    return fd;
}

/* Creates the first cluster, or notes that cluster options apply only to new clusters. */
static int ensure_cluster(struct ohsm_meta *m, const struct ohsm_args *a, const char *abs)
{
    struct ohsm_meta_cluster *cs = NULL;
    struct ohsm_meta_hsm *hs = NULL;
    size_t nc = 0, nh = 0;
    char cid[OHSM_IDS_MAX], err[512];
    int ret = -1;

    if (ohsm_meta_cluster_list(m, &cs, &nc) != OHSM_OK) {
        fprintf(stderr, "openhsmd: %s/openhsmd.db is unreadable or damaged\n", abs);
        goto out;
    }
    if (nc == 0) {
        if (ohsm_provision_cluster(m, abs, a->hsms, a->lockout, cid, err, sizeof(err)) != OHSM_OK) {
            fprintf(stderr, "openhsmd: cannot create a cluster: %s\n", err);
            goto out;
        }
        printf("openhsmd: created cluster %s in %s\n", cid, abs);
        ret = 0;
        goto out;
    }
    if (ohsm_meta_hsm_list(m, cs[0].id, &hs, &nh) != OHSM_OK) {
        fprintf(stderr, "openhsmd: %s/openhsmd.db is unreadable or damaged\n", abs);
        goto out;
    }
    if ((a->hsms_given && a->hsms != nh) ||
        (a->lockout_given && a->lockout != cs[0].lockout_attempts)) {
        printf("openhsmd: note: --hsms and --lockout-attempts apply only to new clusters; "
               "%s keeps %zu HSM%s and a lockout after %u failed logins\n",
               cs[0].id, nh, nh == 1 ? "" : "s", cs[0].lockout_attempts);
    }
    ret = 0;
out:
    free(cs);
    free(hs);
    return ret;
}

/* Registers one cluster's HSMs with the supervisor. */
static int add_cluster_hsms(struct ohsm_meta *m, struct ohsm_sup *sup, const char *abs,
                            const struct ohsm_meta_cluster *c)
{
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    char hdir[PATH_MAX], cdir[PATH_MAX];
    int ret = -1;

    if (ohsm_meta_hsm_list(m, c->id, &hs, &n) != OHSM_OK) {
        fprintf(stderr, "openhsmd: %s/openhsmd.db is unreadable or damaged\n", abs);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (hs[i].state == OHSM_HS_DELETED) {
            continue;
        }
        if (ohsm_provision_cluster_dir(abs, c->id, cdir, sizeof(cdir)) != OHSM_OK ||
            ohsm_provision_hsm_dir(abs, c->id, hs[i].id, hdir, sizeof(hdir)) != OHSM_OK) {
            fprintf(stderr, "openhsmd: data directory path too long\n");
            goto out;
        }
        if (ohsm_provision_masking_key(cdir) != OHSM_OK) {
            fprintf(stderr, "openhsmd: cannot create %s/" OHSM_PROVISION_MASKING_KEY ": %s\n", cdir,
                    strerror(errno));
            goto out;
        }
        struct ohsm_sup_hsm h = {hs[i].id,   c->id,
                                 hdir,       cdir,
                                 hs[i].port, c->lockout_attempts,
                                 hs[i].seq & 31u};
        if (ohsm_sup_add(sup, &h) != OHSM_OK) {
            fprintf(stderr, "openhsmd: cannot register %s\n", hs[i].id);
            goto out;
        }
    }
    ret = 0;
out:
    free(hs);
    return ret;
}

/* For every live cluster: (re)writes client.json from the metadata and registers its HSMs. */
static int load_clusters(struct ohsm_meta *m, struct ohsm_sup *sup, const char *abs)
{
    struct ohsm_meta_cluster *cs = NULL;
    size_t nc = 0;
    char err[PATH_MAX * 2 + 80];
    int ret = -1;

    if (ohsm_meta_cluster_list(m, &cs, &nc) != OHSM_OK) {
        fprintf(stderr, "openhsmd: %s/openhsmd.db is unreadable or damaged\n", abs);
        goto out;
    }
    for (size_t i = 0; i < nc; i++) {
        if (cs[i].state == OHSM_CS_DELETED) {
            continue;
        }
        if (ohsm_provision_move_ca_key(abs, cs[i].id, err, sizeof(err)) != OHSM_OK) {
            fprintf(stderr, "openhsmd: %s\n", err);
            goto out;
        }
        if (ohsm_provision_client_json(m, abs, cs[i].id, NULL, 0) != OHSM_OK) {
            fprintf(stderr, "openhsmd: cannot write the client config of %s: %s\n", cs[i].id,
                    strerror(errno));
            goto out;
        }
        if (add_cluster_hsms(m, sup, abs, &cs[i]) != 0) {
            goto out;
        }
    }
    ret = 0;
out:
    free(cs);
    return ret;
}

/* The banner: clusters, endpoints, and how to point the tools at the client config. */
static void print_banner(struct ohsm_meta *m, const char *abs)
{
    struct ohsm_meta_cluster *cs = NULL;
    struct ohsm_meta_hsm *hs = NULL;
    size_t nc = 0, nh = 0;
    char cfg[PATH_MAX], cdir[PATH_MAX];

    printf("openhsmd: data directory %s\n", abs);
    if (ohsm_meta_cluster_list(m, &cs, &nc) != OHSM_OK) {
        nc = 0;
    }
    for (size_t i = 0; i < nc; i++) {
        if (cs[i].state == OHSM_CS_DELETED ||
            ohsm_meta_hsm_list(m, cs[i].id, &hs, &nh) != OHSM_OK) {
            continue;
        }
        printf("openhsmd: cluster %s (%zu HSM%s, users lock after %u failed logins)\n", cs[i].id,
               nh, nh == 1 ? "" : "s", cs[i].lockout_attempts);
        for (size_t k = 0; k < nh; k++) {
            printf("  %s  %s:%u\n", hs[k].id, hs[k].host, (unsigned)hs[k].port);
        }
        free(hs);
        hs = NULL;
        if (ohsm_provision_cluster_dir(abs, cs[i].id, cdir, sizeof(cdir)) == OHSM_OK &&
            ohsm_files_path(cfg, sizeof(cfg), "%s/client.json", cdir) == OHSM_OK) {
            printf("client config: %s\n", cfg);
            printf("  use it with:  openhsm-cmu %s   |   openhsm-cli --cluster-config %s "
                   "interactive\n",
                   cfg, cfg);
            printf("  or:           export OPENHSM_CLUSTER_CONFIG=%s\n", cfg);
        }
    }
    free(cs);
    printf("openhsmd: ready\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct ohsm_args a;
    struct rlimit nocore = {0, 0};
    char err[256], hsm_bin[PATH_MAX], abs[PATH_MAX], dbpath[PATH_MAX];
    struct ohsm_sup_cfg sc = {NULL, 0, 0, 0, stdout, stderr};
    struct ohsm_meta *m = NULL;
    struct ohsm_sup *sup = NULL;
    bool stop_asked = false;
    int lock_fd = -1;
    int status = 1;
    ohsm_rv rv;
    const pid_t parent = getppid();

    /* The daemon holds CA keys and a password: none of it may reach a core file. */
    (void)setrlimit(RLIMIT_CORE, &nocore);
    umask(077);
    switch (ohsm_args_parse(argc, argv, &a, err, sizeof(err))) {
    case OHSM_ARGS_HELP:
        ohsm_args_usage(stdout);
        return 0;
    case OHSM_ARGS_ERROR:
        fprintf(stderr, "openhsmd: %s\n", err);
        ohsm_args_usage(stderr);
        return 2;
    case OHSM_ARGS_RUN:
        break;
    }
    /* A closed stdout (the reader went away) must not kill the supervisor mid-stop. */
    (void)signal(SIGPIPE, SIG_IGN);
    /* prctl(2): a parent that died before PR_SET_PDEATHSIG took effect sends nothing; it shows
     * as a changed parent pid. */
    if (a.exit_with_parent && (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)) {
        fprintf(stderr, "openhsmd: --exit-with-parent: the parent is gone or prctl failed\n");
        return 1;
    }
    if (find_hsm_bin(a.hsm_bin, hsm_bin, sizeof(hsm_bin)) != 0) {
        return 1;
    }
    lock_fd = open_data_dir(a.data_dir, abs, sizeof(abs));
    if (lock_fd < 0) {
        return 1;
    }
    if (ohsm_files_path(dbpath, sizeof(dbpath), "%s/openhsmd.db", abs) != OHSM_OK ||
        ohsm_meta_open(dbpath, &m) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot open metadata %s/openhsmd.db\n", abs);
        goto out;
    }
    /* From here SIGINT/SIGTERM wait in the signalfd, so a stop request during cluster creation
     * lets the creation finish (or fail cleanly) instead of cutting it short. */
    sc.hsm_bin = hsm_bin;
    sc.max_sessions = a.max_sessions;
    if (ohsm_sup_new(&sc, &sup) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot set up signal handling: %s\n", strerror(errno));
        goto out;
    }
    if (ensure_cluster(m, &a, abs) != 0) {
        goto out;
    }
    if (load_clusters(m, sup, abs) != 0) {
        goto out;
    }
    rv = ohsm_sup_start(sup, &stop_asked);
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: the cluster did not start; stopping its HSMs\n");
        goto out;
    }
    if (!stop_asked) {
        print_banner(m, abs);
        if (ohsm_sup_run(sup) != OHSM_OK) {
            fprintf(stderr, "openhsmd: signal handling failed: %s\n", strerror(errno));
            goto out;
        }
    }
    ohsm_sup_stop(sup);
    printf("openhsmd: stopped\n");
    fflush(stdout);
    status = 0;
out:
    ohsm_sup_free(sup); /* stops whatever still runs */
    ohsm_meta_close(m);
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    return status;
}
