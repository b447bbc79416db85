/* SPDX-License-Identifier: Apache-2.0
 *
 * Backups in the CloudHSM v2 API: DescribeBackups, DeleteBackup, RestoreBackup,
 * ModifyBackupAttributes and CopyBackupToRegion. A backup is a row (meta backups) with its facts
 * as attributes and a sealed file DIR/backups/<id>.bak (backup.h); the worker (bak_work.c) takes,
 * copies, expires and purges them.
 *
 * States: CREATE_IN_PROGRESS -> READY (file sealed and verified) -> PENDING_DELETION (DeleteBackup
 * or retention; RestoreBackup undoes it within 7 days) -> DELETED (file removed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cloud/cp_int.h"
#include "cloud/ids.h"
#include "cloud/vpc.h"

#define NOT_FOUND "CloudHsmResourceNotFoundException"
#define INVALID "CloudHsmInvalidRequestException"
#define INTERNAL "CloudHsmInternalFailureException"

int64_t ohsm_cloud_now(struct ohsm_cloud *c)
{
    return (int64_t)time(NULL) + c->clock_offset;
}

static char *battr(struct ohsm_cloud *c, const char *id, const char *k)
{
    char *v = NULL;
    return ohsm_meta_attr_get(c->meta, id, k, &v) == OHSM_OK ? v : NULL;
}

static int64_t battr_int(struct ohsm_cloud *c, const char *id, const char *k)
{
    char *v = battr(c, id, k);
    int64_t n = -1;
    if (v != NULL && *v >= '0' && *v <= '9') {
        char *end = NULL;
        long long x = strtoll(v, &end, 10);
        n = *end == '\0' ? (int64_t)x : -1;
    }
    free(v);
    return n;
}

ohsm_rv ohsm_cp_backup_find(struct ohsm_cloud *c, const char *region, const char *id,
                            struct ohsm_meta_backup *out)
{
    struct ohsm_meta_backup *bs = NULL;
    size_t n = 0;
    ohsm_rv rv = OHSM_ARGUMENTS_BAD;
    OHSM_TRY(ohsm_meta_backup_list(c->meta, &bs, &n));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(bs[i].id, id) == 0 && (region == NULL || strcmp(bs[i].region, region) == 0)) {
            *out = bs[i];
            rv = OHSM_OK;
        }
    }
    free(bs);
    return rv;
}

bool ohsm_cp_backup_exists(struct ohsm_cloud *c, const char *region, const char *id)
{
    struct ohsm_meta_backup b;
    return id != NULL && ohsm_cp_backup_find(c, region, id, &b) == OHSM_OK &&
           b.state != OHSM_BS_DELETED;
}

/* A backup's id may come as an ARN (CreateCluster SourceBackupId): the id is its last part. */
static const char *backup_id_of(const char *s)
{
    const char *slash = strrchr(s, '/');
    return slash != NULL ? slash + 1 : s;
}

int ohsm_cp_source_backup(struct ohsm_cloud *c, const char *region, const char *id,
                          struct ohsm_aws_err *err)
{
    struct ohsm_meta_backup b;
    const char *bid = backup_id_of(id);
    if (ohsm_cp_backup_find(c, region, bid, &b) != OHSM_OK || b.state == OHSM_BS_DELETED) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Backup %s not found.", bid);
        return -1;
    }
    if (b.state != OHSM_BS_READY) {
        ohsm_aws_errf(err, 400, INVALID, "Backup %s is in state %s, not READY.", bid,
                      ohsm_meta_bstate_name(b.state));
        return -1;
    }
    return 0;
}

json_t *ohsm_cp_backup_json(struct ohsm_cloud *c, const struct ohsm_meta_backup *b,
                            const char *account)
{
    char arn[160];
    (void)snprintf(arn, sizeof(arn), "arn:aws:cloudhsm:%s:%s:backup/%s", b->region, account,
                   b->id);
    char *type = battr(c, b->id, OHSM_BA_HSM_TYPE);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:f, s:b, s:s, s:s}", "BackupId", b->id,
                          "BackupArn", arn, "BackupState", ohsm_meta_bstate_name(b->state),
                          "ClusterId", b->cluster_id, "CreateTimestamp", (double)b->created_at,
                          "NeverExpires", battr_int(c, b->id, OHSM_BA_NEVER_EXPIRES) == 1,
                          "HsmType", type != NULL ? type : "hsm1.medium", "Mode", "FIPS");
    free(type);
    if (o == NULL) {
        return NULL;
    }
    int64_t del = battr_int(c, b->id, OHSM_BA_DELETE_TS);
    if (b->state == OHSM_BS_PENDING_DELETION && del >= 0) {
        (void)json_object_set_new(o, "DeleteTimestamp", json_real((double)del));
    }
    int64_t copy = battr_int(c, b->id, OHSM_BA_COPY_TS);
    if (copy >= 0) {
        (void)json_object_set_new(o, "CopyTimestamp", json_real((double)copy));
    }
    static const char *const src[][2] = {{OHSM_BA_SOURCE_REGION, "SourceRegion"},
                                         {OHSM_BA_SOURCE_BACKUP, "SourceBackup"},
                                         {OHSM_BA_SOURCE_CLUSTER, "SourceCluster"}};
    for (size_t i = 0; i < 3; i++) {
        char *v = battr(c, b->id, src[i][0]);
        if (v != NULL) {
            (void)json_object_set_new(o, src[i][1], json_string(v));
        }
        free(v);
    }
    char *tags = battr(c, b->id, OHSM_CA_TAGS);
    json_t *t = tags != NULL ? json_loads(tags, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(tags);
    if (json_is_array(t) && json_array_size(t) > 0) {
        (void)json_object_set_new(o, "TagList", t);
    } else {
        json_decref(t);
    }
    return o;
}

/* ---- DescribeBackups ---- */

static json_t *describe_backups(void *ctx, const struct ohsm_http_call *call, json_t *in,
                                struct ohsm_aws_err *err)
{
    static const char *const names[] = {"backupIds", "sourceBackupIds", "clusterIds", "states",
                                        "neverExpires"};
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_backup *bs = NULL;
    size_t n = 0;
    json_t *out = NULL, *all = json_array();

    if (all == NULL || ohsm_cp_filters(in, names, 5, err) != 0) {
        json_decref(all);
        return NULL;
    }
    json_t *f = json_object_get(in, "Filters");
    json_t *ids = json_object_get(f, "backupIds");
    json_t *srcs = json_object_get(f, "sourceBackupIds");
    json_t *cids = json_object_get(f, "clusterIds");
    json_t *states = json_object_get(f, "states");
    json_t *never = json_object_get(f, "neverExpires");
    bool asc = json_is_true(json_object_get(in, "SortAscending"));
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_backup_list(c->meta, &bs, &n) != OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "The state is unreadable.");
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = asc ? k : n - 1 - k; /* the list is oldest first */
        char *src = battr(c, bs[i].id, OHSM_BA_SOURCE_BACKUP);
        bool ne = battr_int(c, bs[i].id, OHSM_BA_NEVER_EXPIRES) == 1;
        bool keep = strcmp(bs[i].region, call->region) == 0 && ohsm_cp_filter_has(ids, bs[i].id) &&
                    ohsm_cp_filter_has(cids, bs[i].cluster_id) &&
                    ohsm_cp_filter_has(states, ohsm_meta_bstate_name(bs[i].state)) &&
                    (srcs == NULL || (src != NULL && ohsm_cp_filter_has(srcs, src))) &&
                    ohsm_cp_filter_has(never, ne ? "true" : "false") &&
                    (bs[i].state != OHSM_BS_DELETED || states != NULL || ids != NULL);
        free(src);
        if (keep) {
            (void)json_array_append_new(all, ohsm_cp_backup_json(c, &bs[i], call->account_id));
        }
    }
    out = ohsm_cp_paged(in, all, "Backups", 50, err);
out:
    (void)pthread_mutex_unlock(&c->lock);
    free(bs);
    json_decref(all);
    return out;
}

/* The backup of the request in the caller's region, or -1 with NotFound. c->lock held. */
static int req_backup(struct ohsm_cloud *c, const struct ohsm_http_call *call, json_t *in,
                      struct ohsm_meta_backup *b, struct ohsm_aws_err *err)
{
    const char *id = json_string_value(json_object_get(in, "BackupId"));
    if (id == NULL || ohsm_cp_backup_find(c, call->region, id, b) != OHSM_OK ||
        b->state == OHSM_BS_DELETED) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Backup %s not found.", id != NULL ? id : "");
        return -1;
    }
    return 0;
}

static json_t *reply(struct ohsm_cloud *c, const struct ohsm_http_call *call, const char *id)
{
    struct ohsm_meta_backup b;
    if (ohsm_cp_backup_find(c, NULL, id, &b) != OHSM_OK) {
        return NULL;
    }
    return json_pack("{s:o}", "Backup", ohsm_cp_backup_json(c, &b, call->account_id));
}

/* ---- DeleteBackup / RestoreBackup / ModifyBackupAttributes ---- */

/* Moves the request's backup from state `from` to `to`: PENDING_DELETION records when (the 7 days
 * count from then), READY forgets it. */
static json_t *move(struct ohsm_cloud *c, const struct ohsm_http_call *call, json_t *in,
                    enum ohsm_meta_bstate from, enum ohsm_meta_bstate to,
                    struct ohsm_aws_err *err)
{
    struct ohsm_meta_backup b;
    json_t *out = NULL;
    char ts[24];
    (void)pthread_mutex_lock(&c->lock);
    if (req_backup(c, call, in, &b, err) != 0) {
        goto out;
    }
    if (b.state != from) {
        ohsm_aws_errf(err, 400, INVALID, "Backup %s is in state %s, not %s.", b.id,
                      ohsm_meta_bstate_name(b.state), ohsm_meta_bstate_name(from));
        goto out;
    }
    (void)snprintf(ts, sizeof(ts), "%lld", (long long)ohsm_cloud_now(c));
    if (ohsm_meta_begin(c->meta) != OHSM_OK ||
        ohsm_meta_backup_set_state(c->meta, b.id, to) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, b.id, OHSM_BA_DELETE_TS,
                           to == OHSM_BS_PENDING_DELETION ? ts : NULL) != OHSM_OK ||
        ohsm_meta_commit(c->meta) != OHSM_OK) {
        ohsm_meta_rollback(c->meta);
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot record the change.");
        goto out;
    }
    out = reply(c, call, b.id);
out:
    (void)pthread_mutex_unlock(&c->lock);
    return out;
}

static json_t *delete_backup(void *ctx, const struct ohsm_http_call *call, json_t *in,
                             struct ohsm_aws_err *err)
{
    return move(ctx, call, in, OHSM_BS_READY, OHSM_BS_PENDING_DELETION, err);
}

static json_t *restore_backup(void *ctx, const struct ohsm_http_call *call, json_t *in,
                              struct ohsm_aws_err *err)
{
    return move(ctx, call, in, OHSM_BS_PENDING_DELETION, OHSM_BS_READY, err);
}

static json_t *modify_backup(void *ctx, const struct ohsm_http_call *call, json_t *in,
                             struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_backup b;
    json_t *out = NULL;
    json_t *ne = json_object_get(in, "NeverExpires");
    if (!json_is_boolean(ne)) {
        ohsm_aws_errf(err, 400, INVALID, "NeverExpires must be true or false.");
        return NULL;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (req_backup(c, call, in, &b, err) != 0) {
        goto out;
    }
    if (ohsm_meta_attr_set(c->meta, b.id, OHSM_BA_NEVER_EXPIRES, json_is_true(ne) ? "1" : NULL) !=
        OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot record the change.");
        goto out;
    }
    out = reply(c, call, b.id);
out:
    (void)pthread_mutex_unlock(&c->lock);
    return out;
}

/* ---- CopyBackupToRegion ---- */

static json_t *copy_backup(void *ctx, const struct ohsm_http_call *call, json_t *in,
                           struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_backup b, nb;
    json_t *out = NULL;
    json_t *tags = json_object_get(in, "TagList");
    const char *dest = json_string_value(json_object_get(in, "DestinationRegion"));
    char ts[24];

    if (dest == NULL || !ohsm_vpc_region_valid(dest)) {
        ohsm_aws_errf(err, 400, INVALID, "DestinationRegion is not a region.");
        return NULL;
    }
    if (tags != NULL && ohsm_cp_check_tags(tags, err) != 0) {
        return NULL;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (req_backup(c, call, in, &b, err) != 0) {
        goto out;
    }
    if (strcmp(dest, call->region) == 0) {
        ohsm_aws_errf(err, 400, INVALID, "The destination region must differ from %s.", dest);
        goto out;
    }
    if (b.state != OHSM_BS_READY) {
        ohsm_aws_errf(err, 400, INVALID, "Backup %s is in state %s, not READY.", b.id,
                      ohsm_meta_bstate_name(b.state));
        goto out;
    }
    memset(&nb, 0, sizeof(nb));
    if (ohsm_ids_make("backup-", nb.id, sizeof(nb.id)) != OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot make a backup id.");
        goto out;
    }
    (void)snprintf(nb.region, sizeof(nb.region), "%s", dest);
    memcpy(nb.cluster_id, b.cluster_id, sizeof(nb.cluster_id));
    nb.state = OHSM_BS_CREATE_IN_PROGRESS;
    nb.created_at = b.created_at; /* the copy is the same snapshot */
    (void)snprintf(ts, sizeof(ts), "%lld", (long long)ohsm_cloud_now(c));
    char *t = NULL;
    if (tags != NULL) {
        t = json_dumps(tags, JSON_COMPACT);
    } else {
        t = battr(c, b.id, OHSM_CA_TAGS);
    }
    bool ok = ohsm_meta_begin(c->meta) == OHSM_OK && ohsm_meta_backup_add(c->meta, &nb) == OHSM_OK &&
              ohsm_cp_backup_inherit(c, b.id, nb.id) == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, nb.id, OHSM_BA_SOURCE_REGION, b.region) == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, nb.id, OHSM_BA_SOURCE_BACKUP, b.id) == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, nb.id, OHSM_BA_SOURCE_CLUSTER, b.cluster_id) ==
                  OHSM_OK &&
              ohsm_meta_attr_set(c->meta, nb.id, OHSM_BA_COPY_TS, ts) == OHSM_OK &&
              (t == NULL || ohsm_meta_attr_set(c->meta, nb.id, OHSM_CA_TAGS, t) == OHSM_OK) &&
              ohsm_meta_commit(c->meta) == OHSM_OK;
    free(t);
    if (!ok) {
        ohsm_meta_rollback(c->meta);
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot record the copy.");
        goto out;
    }
    out = json_pack("{s:{s:f, s:s, s:s, s:s}}", "DestinationBackup", "CreateTimestamp",
                    (double)b.created_at, "SourceRegion", b.region, "SourceBackup", b.id,
                    "SourceCluster", b.cluster_id);
out:
    (void)pthread_mutex_unlock(&c->lock);
    if (out != NULL) {
        ohsm_cloud_kick(c);
    }
    return out;
}

const struct ohsm_json_op ohsm_cp_backup_ops[OHSM_CP_BACKUP_OPS] = {
    {"DescribeBackups", describe_backups},
    {"DeleteBackup", delete_backup},
    {"RestoreBackup", restore_backup},
    {"ModifyBackupAttributes", modify_backup},
    {"CopyBackupToRegion", copy_backup},
};
