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
#include <pthread.h>
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
#include "cloud/cloud.h"
#include "cloud/audit_cmd.h"
#include "cloud/ctl.h"
#include "cloud/ec2.h"
#include "cloud/files.h"
#include "cloud/kms_clusters.h"
#include "cloud/meta.h"
#include "cloud/provision.h"
#include "cloud/supervise.h"
#include "http/http.h"
#include "kms/jalloc.h"
#include "kms/kms.h"
#include "kms/lazyroot.h"
#include "kms/trail.h"

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

/* Says whether the first cluster is still to be made (*fresh), or notes that cluster options
 * apply only to new clusters. */
static int ensure_cluster(struct ohsm_meta *m, const struct ohsm_args *a, const char *abs,
                          bool *fresh)
{
    struct ohsm_meta_cluster *cs = NULL;
    struct ohsm_meta_hsm *hs = NULL;
    size_t nc = 0, nh = 0;
    int ret = -1;

    if (ohsm_meta_cluster_list(m, &cs, &nc) != OHSM_OK) {
        fprintf(stderr, "openhsmd: %s/openhsmd.db is unreadable or damaged\n", abs);
        goto out;
    }
    *fresh = nc == 0;
    if (nc == 0) {
        ret = 0; /* made through the control plane once it runs (ohsm_cloud_bootstrap) */
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

/* The handle slot of an HSM: its attribute (HSMs made through the control plane), else its place
 * in the cluster (HSMs of clusters made at first start). */
static uint32_t slot_of(struct ohsm_meta *m, const struct ohsm_meta_hsm *h)
{
    char *v = NULL;
    uint64_t s = h->seq & 31u;
    if (ohsm_meta_attr_get(m, h->id, OHSM_HA_SLOT, &v) == OHSM_OK && v != NULL &&
        ohsm_args_uint(v, 0, 31, &s) != OHSM_OK) {
        s = h->seq & 31u;
    }
    free(v);
    return (uint32_t)s;
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
        /* Only HSMs that were running: the worker finishes those being created or deleted. */
        if (hs[i].state != OHSM_HS_ACTIVE && hs[i].state != OHSM_HS_DEGRADED) {
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
        struct ohsm_sup_hsm h = {
            hs[i].id, c->id, hdir, cdir, hs[i].port, c->lockout_attempts, slot_of(m, &hs[i])};
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
        /* A cluster being created has no files yet, one being deleted may have none left: the
         * worker finishes both. */
        if (cs[i].state == OHSM_CS_DELETED || cs[i].state == OHSM_CS_CREATE_IN_PROGRESS ||
            cs[i].state == OHSM_CS_DELETE_IN_PROGRESS) {
            continue;
        }
        if (ohsm_provision_move_ca_key(abs, cs[i].id, err, sizeof(err)) != OHSM_OK) {
            fprintf(stderr, "openhsmd: %s\n", err);
            goto out;
        }
        /* Tools get a client.json once the cluster has a trust anchor (InitializeCluster). */
        bool anchored =
            cs[i].state != OHSM_CS_UNINITIALIZED && cs[i].state != OHSM_CS_INITIALIZE_IN_PROGRESS;
        if (anchored && ohsm_provision_client_json(m, abs, cs[i].id, NULL, 0) != OHSM_OK) {
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
static void print_banner(struct ohsm_meta *m, const char *abs, uint16_t api_port,
                         const struct ohsm_args *a)
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
        if (cs[i].state == OHSM_CS_DELETED || cs[i].state == OHSM_CS_DELETE_IN_PROGRESS ||
            ohsm_meta_hsm_list(m, cs[i].id, &hs, &nh) != OHSM_OK) {
            continue;
        }
        printf("openhsmd: cluster %s (%zu HSM%s, users lock after %u failed logins)\n", cs[i].id,
               nh, nh == 1 ? "" : "s", cs[i].lockout_attempts);
        for (size_t k = 0; k < nh; k++) {
            if (hs[k].state == OHSM_HS_DELETED) {
                continue;
            }
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
    printf("openhsmd: endpoint http://127.0.0.1:%u (CloudHSM v2, KMS, EC2 VPC subset; "
           "region %s)\n",
           (unsigned)api_port, a->region);
    printf("  try:          aws --endpoint-url http://127.0.0.1:%u --region %s cloudhsmv2 "
           "describe-clusters\n",
           (unsigned)api_port, a->region);
    printf("                aws --endpoint-url http://127.0.0.1:%u --region %s kms create-key\n",
           (unsigned)api_port, a->region);
    printf("openhsmd: ready\n");
    fflush(stdout);
}

/* The control plane and its front door: the shared state, the worker, and the HTTP server with
 * its services. On failure it has said why on stderr. */
static int64_t kms_now(void *ctx)
{
    return ohsm_cloud_now(ctx);
}

static void kms_tick(void *ctx)
{
    ohsm_kms_tick(ctx);
}

/* KMS: the service over the root key, whose hidden HSM starts when KMS first needs it (a run
 * that never uses KMS never makes it). */
static int start_kms(const struct ohsm_args *a, struct ohsm_sup *sup, const char *abs,
                     struct ohsm_cloud *cloud, struct ohsm_kms_lazy_root **root,
                     struct ohsm_kms **kms)
{
    char err[512];
    struct ohsm_kms_cfg kc = {.data_dir = abs,
                              .region = a->region,
                              .account_id = a->account_id,
                              .now = kms_now,
                              .now_ctx = cloud};

    /* The cloud is set up (start_cloud) before KMS opens, and KMS is closed before the cloud is
     * destroyed (main), so the view outlives every KMS thread that uses it. */
    ohsm_cloud_kms_clusters(cloud, &kc.clusters);

    if (ohsm_kms_lazy_root_new(abs, sup, stderr, root) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot set up the KMS root key\n");
        return -1;
    }
    ohsm_kms_lazy_root_sealer(*root, &kc.sealer);
    if (ohsm_kms_open(&kc, kms, err, sizeof(err)) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot open the KMS: %s\n", err);
        return -1;
    }
    if (a->seed != NULL && ohsm_kms_seed(*kms, a->seed, err, sizeof(err)) != OHSM_OK) {
        fprintf(stderr, "openhsmd: --seed: %s\n", err);
        return -1;
    }
    cloud->on_clock = kms_tick;
    cloud->on_clock_ctx = *kms;
    return 0;
}

static int start_cloud(const struct ohsm_args *a, struct ohsm_meta *m, struct ohsm_sup *sup,
                       const char *abs, bool fresh, struct ohsm_cloud *cloud, bool *cloud_up,
                       struct ohsm_http **http, uint16_t *port, struct ohsm_kms_lazy_root **root,
                       struct ohsm_kms **kms)
{
    char cid[OHSM_IDS_MAX], err[512];
    static struct ohsm_ec2_ctx ec2;
    static struct ohsm_query_service ec2_svc;
    struct ohsm_http_cfg hc = {.listen = a->listen,
                               .region = a->region,
                               .account_id = a->account_id,
                               .credentials_file = a->credentials};
    ohsm_rv rv;

    if (ohsm_cloud_init(cloud, m, sup, abs, a->region, a->account_id, a->lockout) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot set up the control plane's state in %s/openhsmd.db\n",
                abs);
        return -1;
    }
    *cloud_up = true;
    cloud->clock_offset = a->clock_offset;
    (void)pthread_mutex_lock(&cloud->lock);
    rv = ohsm_cp_adopt(cloud);
    (void)pthread_mutex_unlock(&cloud->lock);
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot give the clusters their place in the VPC model: %s\n",
                ohsm_rv_str(rv));
        return -1;
    }
    if (fresh) {
        if (ohsm_cloud_bootstrap(cloud, a->hsms, cid, err, sizeof(err)) != OHSM_OK) {
            fprintf(stderr, "openhsmd: cannot create a cluster: %s\n", err);
            return -1;
        }
        printf("openhsmd: created cluster %s in %s\n", cid, abs);
    }
    if (start_kms(a, sup, abs, cloud, root, kms) != 0) {
        return -1;
    }
    ec2.db = ohsm_meta_sqlite(m);
    ec2.lock = &cloud->lock;
    ec2.account_id = a->account_id;
    ohsm_ec2_service(&ec2, &ec2_svc);
    rv = ohsm_http_new(&hc, http);
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: %s\n",
                rv == OHSM_CONFIG ? "the --credentials file is unreadable, not private (0600), "
                                    "or malformed"
                                  : "cannot set up the HTTP server");
        return -1;
    }
    if (ohsm_http_add_json(*http, ohsm_cp_service(cloud)) != OHSM_OK ||
        ohsm_http_add_json(*http, ohsm_admin_service(cloud)) != OHSM_OK ||
        ohsm_http_add_query(*http, &ec2_svc) != OHSM_OK ||
        ohsm_http_add_json(*http, ohsm_kms_service(*kms)) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot register the API services\n");
        return -1;
    }
    if (ohsm_http_start(*http, port) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot listen on %s: %s (another openhsmd? use --listen)\n",
                a->listen, strerror(errno));
        return -1;
    }
    if (ohsm_cloud_start(cloud) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot start the control plane's worker\n");
        return -1;
    }
    if (ohsm_kms_start(*kms) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot start the KMS scheduler\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ohsm_args a;
    struct rlimit nocore = {0, 0};
    char err[256], hsm_bin[PATH_MAX], abs[PATH_MAX], dbpath[PATH_MAX];
    struct ohsm_sup_cfg sc = {NULL, 0, 0, 0, stdout, stderr};
    struct ohsm_meta *m = NULL;
    struct ohsm_sup *sup = NULL;
    struct ohsm_cloud cloud;
    bool cloud_up = false;
    struct ohsm_http *http = NULL;
    struct ohsm_kms_lazy_root *kms_root = NULL;
    struct ohsm_kms *kms = NULL;
    uint16_t api_port = 0;
    bool stop_asked = false, fresh = false;
    int lock_fd = -1;
    int status = 1;
    ohsm_rv rv;
    const pid_t parent = getppid();

    if (argc >= 2 && strcmp(argv[1], "ctl") == 0) {
        return ohsm_ctl_main(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "audit") == 0) {
        return ohsm_audit_cmd_main(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "events") == 0) {
        return ohsm_kms_events_main(argc, argv);
    }
    /* Plaintexts and data keys pass through jansson's strings: wipe them when freed. Before
     * any JSON is made (ctl and events above make their own and hold no secrets). */
    ohsm_kms_json_wipe_on_free();
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
    if (ensure_cluster(m, &a, abs, &fresh) != 0) {
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
        if (start_cloud(&a, m, sup, abs, fresh, &cloud, &cloud_up, &http, &api_port, &kms_root,
                        &kms) != 0) {
            goto out;
        }
        (void)pthread_mutex_lock(&cloud.lock);
        print_banner(m, abs, api_port, &a);
        (void)pthread_mutex_unlock(&cloud.lock);
        if (ohsm_sup_run(sup) != OHSM_OK) {
            fprintf(stderr, "openhsmd: signal handling failed: %s\n", strerror(errno));
            goto out;
        }
    }
    /* In order: no new requests, no worker pass, then the HSMs. */
    ohsm_http_free(http);
    http = NULL;
    ohsm_kms_close(kms);
    kms = NULL;
    ohsm_kms_lazy_root_free(kms_root);
    kms_root = NULL;
    ohsm_cloud_stop(&cloud);
    ohsm_sup_stop(sup);
    printf("openhsmd: stopped\n");
    fflush(stdout);
    status = 0;
out:
    ohsm_http_free(http);
    ohsm_kms_close(kms);
    ohsm_kms_lazy_root_free(kms_root);
    if (cloud_up) {
        ohsm_cloud_destroy(&cloud);
    }
    ohsm_sup_free(sup); /* stops whatever still runs */
    ohsm_meta_close(m);
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    return status;
}
