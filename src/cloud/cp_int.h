/* SPDX-License-Identifier: Apache-2.0
 *
 * Shared parts of the control plane's handlers (cp.c clusters, cp_hsm.c HSMs and tags). Every
 * function here is called with c->lock held unless it says otherwise.
 */
#ifndef OHSM_CLOUD_CP_INT_H
#define OHSM_CLOUD_CP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cloud/cloud.h"
#include "http/http.h"

/* The cluster cid of region (NULL: any region). Errors: OHSM_ARGUMENTS_BAD (none), OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_cp_find_cluster(struct ohsm_cloud *c, const char *region,
                                            const char *cid, struct ohsm_meta_cluster *out);
/* The Cluster shape of botocore's model (new reference; NULL when out of memory). */
json_t *ohsm_cp_cluster_json(struct ohsm_cloud *c, const struct ohsm_meta_cluster *cl);
/* Certificates of a cluster (new reference). */
json_t *ohsm_cp_certificates(struct ohsm_cloud *c, const struct ohsm_meta_cluster *cl);
/* 0 when SourceBackupId names a READY backup of region, else -1 with err. */
int ohsm_cp_source_backup(struct ohsm_cloud *c, const char *region, const char *id,
                          struct ohsm_aws_err *err);

/* Pagination over total items: [*from, *to) from NextToken/MaxResults. -1 with err on a bad
 * token. */
int ohsm_cp_page(json_t *in, size_t total, size_t max_default, size_t *from, size_t *to,
                 struct ohsm_aws_err *err);
void ohsm_cp_next_token(json_t *out, size_t to, size_t total);
/* {key: one page of the array all, NextToken when more follow} (new reference), or NULL with
 * err on a bad token. */
json_t *ohsm_cp_paged(json_t *in, json_t *all, const char *key, size_t max_default,
                      struct ohsm_aws_err *err);
/* Filters: only names allowed, each a list of strings. */
int ohsm_cp_filters(json_t *in, const char *const *names, size_t n, struct ohsm_aws_err *err);
bool ohsm_cp_filter_has(json_t *f, const char *v);
int ohsm_cp_check_tags(json_t *tags, struct ohsm_aws_err *err);

/* The handle slot of an HSM (0..31). */
uint32_t ohsm_cp_hsm_slot(struct ohsm_cloud *c, const struct ohsm_meta_hsm *h);
/* Is id a backup of region that is not DELETED? */
bool ohsm_cp_backup_exists(struct ohsm_cloud *c, const char *region, const char *id);

/* Writes client.json of cid unless it has no trust anchor yet. c->lock held. */
OHSM_NODISCARD ohsm_rv ohsm_cp_client_json(struct ohsm_cloud *c, const char *cid);

/* The model's validation hook (src/model), without the lock. */
int ohsm_cp_validate(const char *op, json_t *in, char *msg, size_t cap);

/* cp_init.c: InitializeCluster (a handler); an HSM's key and certificate for its cluster's PKI
 * (c->lock not held); the worker's step of an INITIALIZE_IN_PROGRESS cluster. */
json_t *ohsm_cp_initialize_cluster(void *ctx, const struct ohsm_http_call *call, json_t *in,
                                   struct ohsm_aws_err *err);
OHSM_NODISCARD ohsm_rv ohsm_cp_hsm_tls(struct ohsm_cloud *c, const char *cid, const char *hid);
void ohsm_cp_initialized(struct ohsm_cloud *c, const char *cid);

/* Backups (cp_bak.c: the handlers; bak_work.c: the worker's part). */
#define OHSM_CP_BACKUP_OPS 5
extern const struct ohsm_json_op ohsm_cp_backup_ops[OHSM_CP_BACKUP_OPS];
OHSM_NODISCARD ohsm_rv ohsm_cp_backup_find(struct ohsm_cloud *c, const char *region,
                                           const char *id, struct ohsm_meta_backup *out);
json_t *ohsm_cp_backup_json(struct ohsm_cloud *c, const struct ohsm_meta_backup *b,
                            const char *account);
/* Copies the lineage attributes (HSM type, PKI, cluster certificate, trust anchor) of one id to
 * another (c->lock held, inside the caller's transaction). */
OHSM_NODISCARD ohsm_rv ohsm_cp_backup_inherit(struct ohsm_cloud *c, const char *from,
                                              const char *to);
/* Takes a backup of HSM hid of cluster cid (c->lock not held); its id goes to bid
 * (OHSM_IDS_MAX). It is READY on OHSM_OK, DELETED otherwise. */
OHSM_NODISCARD ohsm_rv ohsm_cp_backup_take(struct ohsm_cloud *c, const char *cid, const char *hid,
                                           char *bid);
/* Restores backup bid as HSM hid of cluster cid (its hsm.db; and the masking key to mask_out
 * when not NULL); hid NULL: only the masking key. c->lock not held. */
OHSM_NODISCARD ohsm_rv ohsm_cp_backup_restore(struct ohsm_cloud *c, const char *bid,
                                              const char *cid, const char *hid,
                                              const char *mask_out);
/* Gives cluster cid the cluster key kept with backup bid (if any). */
OHSM_NODISCARD ohsm_rv ohsm_cp_lineage_key(struct ohsm_cloud *c, const char *bid, const char *cid);
/* A running, not paused ACTIVE HSM of cid other than skip, into out (OHSM_IDS_MAX; "" none).
 * c->lock held. */
void ohsm_cp_running_hsm(struct ohsm_cloud *c, const char *cid, const char *skip, char *out);
/* The worker's backup pass: copies, cut-short backups, retention, purges, daily backups. */
void ohsm_cp_backups_pass(struct ohsm_cloud *c);

/* Handlers of cp_hsm.c (take the lock themselves). */
json_t *ohsm_cp_create_hsm(void *ctx, const struct ohsm_http_call *call, json_t *in,
                           struct ohsm_aws_err *err);
json_t *ohsm_cp_delete_hsm(void *ctx, const struct ohsm_http_call *call, json_t *in,
                           struct ohsm_aws_err *err);
json_t *ohsm_cp_tag_resource(void *ctx, const struct ohsm_http_call *call, json_t *in,
                             struct ohsm_aws_err *err);
json_t *ohsm_cp_untag_resource(void *ctx, const struct ohsm_http_call *call, json_t *in,
                               struct ohsm_aws_err *err);
json_t *ohsm_cp_list_tags(void *ctx, const struct ohsm_http_call *call, json_t *in,
                          struct ohsm_aws_err *err);

#endif
