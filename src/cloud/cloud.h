/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd's cloud: the state every service of the front door shares (metadata, VPC tables,
 * supervisor), the lock that serialises it, and the worker that carries out transitions.
 *
 * Every state change is made in two halves. A request handler checks the request, writes the new
 * *_IN_PROGRESS state in one transaction and returns at once, as AWS does. The worker
 * (ohsm_cloud_reconcile) then does the real work -- files, keys, processes -- and commits the
 * state that follows. The worker only ever reads the metadata to learn what to do, so after a
 * crash at any point the same reconcile, run at start, finishes or undoes what was begun: no HSM
 * is counted ACTIVE before its process accepts connections.
 *
 * Lock order: c->lock, then the supervisor's own lock (taken inside ohsm_sup_*). Long work
 * (starting or stopping a process) runs without c->lock.
 */
#ifndef OHSM_CLOUD_CLOUD_H
#define OHSM_CLOUD_CLOUD_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cloud/meta.h"
#include "cloud/supervise.h"
#include "openhsm/rv.h"

struct ohsm_json_service;

struct ohsm_cloud {
    pthread_mutex_t lock; /* meta, the VPC tables, and the fields below */
    struct ohsm_meta *meta;
    struct ohsm_sup *sup;
    char data_dir[PATH_MAX];
    char region[32];     /* default region: unsigned requests, clusters of older versions */
    char account_id[16]; /* 12 digits */
    uint32_t lockout;    /* lockout setting of new clusters */
    /* the worker */
    pthread_mutex_t pass; /* one reconcile pass at a time (worker, admin requests) */
    pthread_t worker;
    bool worker_running;
    atomic_bool stopping; /* read without the lock by long passes, to stop early */
    bool kicked;
    pthread_cond_t kick;
    _Atomic int64_t clock_offset; /* seconds added to the real clock (--clock-offset,
                                     OpenHsmAdmin.AdvanceClock); read without the lock */
    /* Called (without c->lock) after AdvanceClock moved the clock, so services driven by it
     * (the KMS scheduler) act before the call returns. NULL: none. */
    void (*on_clock)(void *ctx);
    void *on_clock_ctx;
};

/* Cluster attributes kept in the metadata (ohsm_meta_attr_*). */
#define OHSM_CA_REGION "region"
#define OHSM_CA_VPC "vpc"
#define OHSM_CA_SG "sg"
#define OHSM_CA_SUBNETS "subnets" /* JSON object: AZ -> subnet id */
#define OHSM_CA_RETENTION "retention_days"
#define OHSM_CA_TAGS "tags" /* JSON array of {Key, Value} */
#define OHSM_CA_SOURCE_BACKUP "source_backup"
#define OHSM_CA_MESSAGE "state_message"
#define OHSM_CA_PKI                                                                                \
    "pki" /* "csr": made through the API (CSR, InitializeCluster); absent: local CA */
#define OHSM_CA_CSR "csr"
#define OHSM_CA_HSM_CERT "hsm_cert"
#define OHSM_CA_AWS_HW_CERT "aws_hw_cert"
#define OHSM_CA_MFR_HW_CERT "mfr_hw_cert"
#define OHSM_CA_CLUSTER_CERT "cluster_cert"
#define OHSM_CA_TRUST_ANCHOR "trust_anchor"
#define OHSM_CA_NEED_BACKUP "need_backup" /* "1": the worker takes one (activation) */
/* Backup attributes (besides OHSM_CA_TAGS, _PKI, _CLUSTER_CERT, _TRUST_ANCHOR: the lineage) */
#define OHSM_BA_HSM_TYPE "hsm_type"
#define OHSM_BA_SOURCE_HSM "source_hsm"
#define OHSM_BA_NEVER_EXPIRES "never_expires"
#define OHSM_BA_DELETE_TS "delete_ts"
#define OHSM_BA_COPY_TS "copy_ts"
#define OHSM_BA_SOURCE_REGION "source_region"
#define OHSM_BA_SOURCE_BACKUP "source_backup"
#define OHSM_BA_SOURCE_CLUSTER "source_cluster"
#define OHSM_BA_TAKEN_REAL "taken_real" /* real Unix time it was taken (daily backups) */
/* HSM attributes */
#define OHSM_HA_AZ "az"
#define OHSM_HA_SUBNET "subnet"
#define OHSM_HA_ENI "eni"
#define OHSM_HA_ENI_IP "eni_ip"
#define OHSM_HA_SLOT "slot"

#define OHSM_CLOUD_HSMS_PER_CLUSTER 28
#define OHSM_CLOUD_RETENTION_DEFAULT 90

/* Sets up c (meta and sup are borrowed and stay the caller's) and the VPC tables. */
OHSM_NODISCARD ohsm_rv ohsm_cloud_init(struct ohsm_cloud *c, struct ohsm_meta *meta,
                                       struct ohsm_sup *sup, const char *data_dir,
                                       const char *region, const char *account_id,
                                       uint32_t lockout);
/* The cloud's clock: Unix seconds plus clock_offset (drives backup retention and purges). */
int64_t ohsm_cloud_now(struct ohsm_cloud *c);

/* Starts / stops the worker thread (stop waits for it). */
OHSM_NODISCARD ohsm_rv ohsm_cloud_start(struct ohsm_cloud *c);
void ohsm_cloud_stop(struct ohsm_cloud *c);
void ohsm_cloud_destroy(struct ohsm_cloud *c);
/* Wakes the worker: a handler wrote a state that needs work. */
void ohsm_cloud_kick(struct ohsm_cloud *c);
/* One pass of the worker over every cluster and HSM (also run once at start, before serving). */
void ohsm_cloud_reconcile(struct ohsm_cloud *c);

/* The region of a cluster (its attribute, else c->region) into out (cap >= 32). c->lock held. */
void ohsm_cloud_cluster_region(struct ohsm_cloud *c, const char *cid, char *out, size_t cap);

/* Gives clusters made before the control plane existed (first-start clusters of older data
 * directories, and the first-start cluster itself) their region, VPC, subnets, security group and
 * one ENI per HSM in the region's default subnets, round robin over the AZs. c->lock held. */
OHSM_NODISCARD ohsm_rv ohsm_cp_adopt(struct ohsm_cloud *c);

/* Makes the cluster of the first start through the control plane's handlers: CreateCluster on
 * the region's default subnets, n_hsms CreateHsm over the AZs, the CSR signed by a local CA,
 * InitializeCluster; returns once it is INITIALIZED with every HSM running. Its id goes to
 * cid_out (OHSM_IDS_MAX); err (cap bytes) says what failed. Run before the worker starts.
 * Errors: OHSM_DB, OHSM_IO, OHSM_DEVICE_ERROR, ... */
OHSM_NODISCARD ohsm_rv ohsm_cloud_bootstrap(struct ohsm_cloud *c, uint32_t n_hsms, char *cid_out,
                                            char *err, size_t cap);

/* The services (cp.c: BaldrApiService, admin.c: OpenHsmAdmin); ctx is c. */
const struct ohsm_json_service *ohsm_cp_service(struct ohsm_cloud *c);
const struct ohsm_json_service *ohsm_admin_service(struct ohsm_cloud *c);

#endif
