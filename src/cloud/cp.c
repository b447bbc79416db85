/* SPDX-License-Identifier: Apache-2.0
 *
 * The CloudHSM v2 control plane (X-Amz-Target: BaldrApiService.*): clusters, HSMs and tags.
 * Handlers check the request against the state and write the next state; the work behind a
 * transition is the worker's (work.c). Shapes and names follow botocore's cloudhsmv2 model; the
 * input has passed the model's validation (src/model) before a handler runs, so handlers check
 * only what the model cannot: existence, state and cross-field rules.
 *
 * Exceptions: an id of the right form that names nothing in the caller's region is
 * CloudHsmResourceNotFoundException; a request that the state forbids (an HSM in a cluster that
 * is being deleted, a cluster that still has HSMs, a full subnet) is
 * CloudHsmInvalidRequestException, the only modelled exception for it (AWS publishes no finer
 * rule; REFERENCE-CONTROL-PLANE.md 1.3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cloud/cloud.h"
#include "cloud/cp_int.h"
#include "cloud/ids.h"
#include "cloud/provision.h"
#include "cloud/vpc.h"
#include "http/http.h"

#define NOT_FOUND "CloudHsmResourceNotFoundException"
#define INVALID "CloudHsmInvalidRequestException"
#define TAG_ERR "CloudHsmTagException"

/* ---- reading the state ---- */

static json_t *attr_json(struct ohsm_cloud *c, const char *id, const char *k)
{
    char *v = NULL;
    json_t *j = NULL;
    if (ohsm_meta_attr_get(c->meta, id, k, &v) == OHSM_OK && v != NULL) {
        j = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
    }
    free(v);
    return j;
}

static void attr_text(struct ohsm_cloud *c, const char *id, const char *k, char *out, size_t cap)
{
    char *v = NULL;
    out[0] = '\0';
    if (ohsm_meta_attr_get(c->meta, id, k, &v) == OHSM_OK && v != NULL && strlen(v) < cap) {
        memcpy(out, v, strlen(v) + 1);
    }
    free(v);
}

void ohsm_cloud_cluster_region(struct ohsm_cloud *c, const char *cid, char *out, size_t cap)
{
    attr_text(c, cid, OHSM_CA_REGION, out, cap);
    if (out[0] == '\0' && strlen(c->region) < cap) {
        memcpy(out, c->region, strlen(c->region) + 1);
    }
}

ohsm_rv ohsm_cp_find_cluster(struct ohsm_cloud *c, const char *region, const char *cid,
                             struct ohsm_meta_cluster *out)
{
    struct ohsm_meta_cluster *cs = NULL;
    size_t n = 0;
    char r[32];
    ohsm_rv rv = OHSM_ARGUMENTS_BAD;

    OHSM_TRY(ohsm_meta_cluster_list(c->meta, &cs, &n));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cs[i].id, cid) != 0) {
            continue;
        }
        ohsm_cloud_cluster_region(c, cs[i].id, r, sizeof(r));
        if (region == NULL || strcmp(r, region) == 0) {
            *out = cs[i];
            rv = OHSM_OK;
        }
    }
    free(cs);
    return rv;
}

static json_t *hsm_json(struct ohsm_cloud *c, const struct ohsm_meta_hsm *h, const char *hsm_type)
{
    char az[32], subnet[32], eni[32], ip[32];
    attr_text(c, h->id, OHSM_HA_AZ, az, sizeof(az));
    attr_text(c, h->id, OHSM_HA_SUBNET, subnet, sizeof(subnet));
    attr_text(c, h->id, OHSM_HA_ENI, eni, sizeof(eni));
    attr_text(c, h->id, OHSM_HA_ENI_IP, ip, sizeof(ip));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "HsmId", h->id, "ClusterId", h->cluster_id,
                          "State", ohsm_meta_hstate_name(h->state), "HsmType", hsm_type);
    if (o == NULL) {
        return NULL;
    }
    const char *k[] = {"AvailabilityZone", "SubnetId", "EniId", "EniIp"};
    const char *v[] = {az, subnet, eni, ip};
    for (size_t i = 0; i < 4; i++) {
        if (v[i][0] != '\0') {
            (void)json_object_set_new(o, k[i], json_string(v[i]));
        }
    }
    if (h->state == OHSM_HS_DEGRADED) {
        (void)json_object_set_new(o, "StateMessage", json_string("The HSM is unreachable."));
    }
    return o;
}

json_t *ohsm_cp_cluster_json(struct ohsm_cloud *c, const struct ohsm_meta_cluster *cl)
{
    struct ohsm_meta_hsm *hs = NULL;
    size_t nh = 0;
    char vpc[32], sg[32], msg[320], days[8], src[64];

    attr_text(c, cl->id, OHSM_CA_VPC, vpc, sizeof(vpc));
    attr_text(c, cl->id, OHSM_CA_SG, sg, sizeof(sg));
    attr_text(c, cl->id, OHSM_CA_MESSAGE, msg, sizeof(msg));
    attr_text(c, cl->id, OHSM_CA_RETENTION, days, sizeof(days));
    attr_text(c, cl->id, OHSM_CA_SOURCE_BACKUP, src, sizeof(src));
    json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:s, s:f, s:s, s:s, s:s, s:s}", "BackupPolicy",
                          "DEFAULT", "BackupRetentionPolicy", "Type", "DAYS", "Value",
                          days[0] != '\0' ? days : "90", "ClusterId", cl->id, "CreateTimestamp",
                          (double)cl->created_at, "HsmType", cl->hsm_type, "State",
                          ohsm_meta_cstate_name(cl->state), "NetworkType", "IPV4", "Mode",
                          "FIPS");
    json_t *hl = json_array();
    if (o == NULL || hl == NULL) {
        json_decref(o);
        json_decref(hl);
        return NULL;
    }
    if (ohsm_meta_hsm_list(c->meta, cl->id, &hs, &nh) == OHSM_OK) {
        for (size_t i = 0; i < nh; i++) {
            if (hs[i].state != OHSM_HS_DELETED) {
                (void)json_array_append_new(hl, hsm_json(c, &hs[i], cl->hsm_type));
            }
        }
    }
    free(hs);
    (void)json_object_set_new(o, "Hsms", hl);
    if (vpc[0] != '\0') {
        (void)json_object_set_new(o, "VpcId", json_string(vpc));
    }
    if (sg[0] != '\0') {
        (void)json_object_set_new(o, "SecurityGroup", json_string(sg));
    }
    if (msg[0] != '\0') {
        (void)json_object_set_new(o, "StateMessage", json_string(msg));
    }
    if (src[0] != '\0') {
        (void)json_object_set_new(o, "SourceBackupId", json_string(src));
    }
    json_t *sm = attr_json(c, cl->id, OHSM_CA_SUBNETS);
    (void)json_object_set_new(o, "SubnetMapping", json_is_object(sm) ? sm : json_object());
    if (!json_is_object(sm)) {
        json_decref(sm);
    }
    json_t *certs = ohsm_cp_certificates(c, cl);
    (void)json_object_set_new(o, "Certificates", certs != NULL ? certs : json_object());
    json_t *tags = attr_json(c, cl->id, OHSM_CA_TAGS);
    if (json_is_array(tags) && json_array_size(tags) > 0) {
        (void)json_object_set_new(o, "TagList", tags);
    } else {
        json_decref(tags);
    }
    return o;
}

/* ---- pagination: NextToken is the decimal index of the next item ---- */

int ohsm_cp_page(json_t *in, size_t total, size_t max_default, size_t *from, size_t *to,
                 struct ohsm_aws_err *err)
{
    json_t *t = json_object_get(in, "NextToken");
    json_t *m = json_object_get(in, "MaxResults");
    size_t start = 0, max = max_default;
    if (json_is_string(t) && json_string_length(t) > 0) {
        const char *s = json_string_value(t);
        char *end = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || end == NULL || *end != '\0' || v > total) {
            ohsm_aws_errf(err, 400, INVALID, "The NextToken is not valid.");
            return -1;
        }
        start = (size_t)v;
    }
    if (json_is_integer(m) && json_integer_value(m) > 0) {
        max = (size_t)json_integer_value(m);
    }
    *from = start;
    *to = total - start > max ? start + max : total;
    return 0;
}

void ohsm_cp_next_token(json_t *out, size_t to, size_t total)
{
    if (to < total) {
        char b[24];
        (void)snprintf(b, sizeof(b), "%zu", to);
        (void)json_object_set_new(out, "NextToken", json_string(b));
    }
}

json_t *ohsm_cp_paged(json_t *in, json_t *all, const char *key, size_t max_default,
                      struct ohsm_aws_err *err)
{
    size_t from = 0, to = 0;
    if (ohsm_cp_page(in, json_array_size(all), max_default, &from, &to, err) != 0) {
        return NULL;
    }
    json_t *page = json_array();
    for (size_t i = from; i < to && page != NULL; i++) {
        (void)json_array_append(page, json_array_get(all, i));
    }
    json_t *out = page != NULL ? json_pack("{s:o}", key, page) : NULL;
    if (out != NULL) {
        ohsm_cp_next_token(out, to, json_array_size(all));
    }
    return out;
}

/* Does the string array filter f (NULL: no filter) contain v? */
bool ohsm_cp_filter_has(json_t *f, const char *v)
{
    size_t i;
    json_t *e;
    if (f == NULL) {
        return true;
    }
    json_array_foreach(f, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), v) == 0) {
            return true;
        }
    }
    return false;
}

/* Checks Filters: an object whose keys are among names and whose values are string arrays. */
int ohsm_cp_filters(json_t *in, const char *const *names, size_t n, struct ohsm_aws_err *err)
{
    json_t *f = json_object_get(in, "Filters");
    const char *k;
    json_t *v;
    if (f == NULL) {
        return 0;
    }
    if (!json_is_object(f)) {
        ohsm_aws_errf(err, 400, INVALID, "Filters must be a map.");
        return -1;
    }
    json_object_foreach(f, k, v) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++) {
            known = strcmp(k, names[i]) == 0;
        }
        if (!known) {
            ohsm_aws_errf(err, 400, INVALID, "Invalid filter: %s", k);
            return -1;
        }
        size_t i;
        json_t *e;
        if (!json_is_array(v)) {
            ohsm_aws_errf(err, 400, INVALID, "Filter %s must be a list of strings.", k);
            return -1;
        }
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                ohsm_aws_errf(err, 400, INVALID, "Filter %s must be a list of strings.", k);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- DescribeClusters ---- */

static json_t *describe_clusters(void *ctx, const struct ohsm_http_call *call, json_t *in,
                                 struct ohsm_aws_err *err)
{
    static const char *const names[] = {"clusterIds", "states", "vpcIds"};
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_cluster *cs = NULL;
    size_t n = 0;
    json_t *out = NULL, *all = json_array();

    if (all == NULL || ohsm_cp_filters(in, names, 3, err) != 0) {
        json_decref(all);
        return NULL;
    }
    json_t *f = json_object_get(in, "Filters");
    json_t *ids = json_object_get(f, "clusterIds");
    json_t *states = json_object_get(f, "states");
    json_t *vpcs = json_object_get(f, "vpcIds");
    (void)pthread_mutex_lock(&c->lock);
    if (ohsm_meta_cluster_list(c->meta, &cs, &n) != OHSM_OK) {
        ohsm_aws_errf(err, 500, "CloudHsmInternalFailureException", "The state is unreadable.");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char r[32], vpc[32];
        ohsm_cloud_cluster_region(c, cs[i].id, r, sizeof(r));
        attr_text(c, cs[i].id, OHSM_CA_VPC, vpc, sizeof(vpc));
        const char *st = ohsm_meta_cstate_name(cs[i].state);
        if (strcmp(r, call->region) != 0 || !ohsm_cp_filter_has(ids, cs[i].id) ||
            !ohsm_cp_filter_has(states, st) || !ohsm_cp_filter_has(vpcs, vpc) ||
            (cs[i].state == OHSM_CS_DELETED && states == NULL && ids == NULL)) {
            continue;
        }
        (void)json_array_append_new(all, ohsm_cp_cluster_json(c, &cs[i]));
    }
    out = ohsm_cp_paged(in, all, "Clusters", 25, err);
out:
    (void)pthread_mutex_unlock(&c->lock);
    free(cs);
    json_decref(all);
    return out;
}

/* ---- CreateCluster ---- */

/* Checks TagList (model-valid already): no duplicate keys, no aws: prefix. */
int ohsm_cp_check_tags(json_t *tags, struct ohsm_aws_err *err)
{
    size_t i, k;
    json_t *t, *u;
    json_array_foreach(tags, i, t) {
        const char *key = json_string_value(json_object_get(t, "Key"));
        if (key == NULL || !json_is_string(json_object_get(t, "Value"))) {
            ohsm_aws_errf(err, 400, TAG_ERR, "Each tag needs a Key and a Value.");
            return -1;
        }
        if (strncmp(key, "aws:", 4) == 0) {
            ohsm_aws_errf(err, 400, TAG_ERR, "Tag keys may not begin with aws:");
            return -1;
        }
        json_array_foreach(tags, k, u) {
            if (k < i && strcmp(key, json_string_value(json_object_get(u, "Key"))) == 0) {
                ohsm_aws_errf(err, 400, TAG_ERR, "Duplicate tag key: %s", key);
                return -1;
            }
        }
    }
    return 0;
}

static int retention_days(json_t *in, char *out, size_t cap, struct ohsm_aws_err *err)
{
    json_t *p = json_object_get(in, "BackupRetentionPolicy");
    (void)snprintf(out, cap, "%d", OHSM_CLOUD_RETENTION_DEFAULT);
    if (p == NULL) {
        return 0;
    }
    const char *type = json_string_value(json_object_get(p, "Type"));
    const char *v = json_string_value(json_object_get(p, "Value"));
    char *end = NULL;
    unsigned long d = v != NULL ? strtoul(v, &end, 10) : 0;
    if (type == NULL || strcmp(type, "DAYS") != 0 || v == NULL || *v < '0' || *v > '9' ||
        *end != '\0' || d < 7 || d > 379) {
        ohsm_aws_errf(err, 400, INVALID,
                      "BackupRetentionPolicy must be {Type: DAYS, Value: 7..379}.");
        return -1;
    }
    (void)snprintf(out, cap, "%lu", d);
    return 0;
}

/* A cluster made from a backup takes the backup's lineage: its PKI, cluster certificate and
 * trust anchor (the worker gives it the masking key and cluster key). In the caller's
 * transaction. */
static ohsm_rv from_backup(struct ohsm_cloud *c, const char *src, const char *cid)
{
    const char *slash = strrchr(src, '/');
    const char *bid = slash != NULL ? slash + 1 : src;
    OHSM_TRY(ohsm_meta_attr_set(c->meta, cid, OHSM_CA_SOURCE_BACKUP, bid));
    OHSM_TRY(ohsm_meta_attr_set(c->meta, cid, OHSM_CA_PKI, NULL));
    return ohsm_cp_backup_inherit(c, bid, cid);
}

static bool hsm_type_ok(const char *t)
{
    return t != NULL && (strcmp(t, "hsm1.medium") == 0 || strcmp(t, "hsm2m.medium") == 0);
}

static json_t *create_cluster(void *ctx, const struct ohsm_http_call *call, json_t *in,
                              struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    json_t *subnets = json_object_get(in, "SubnetIds");
    json_t *tags = json_object_get(in, "TagList");
    const char *type = json_string_value(json_object_get(in, "HsmType"));
    const char *src = json_string_value(json_object_get(in, "SourceBackupId"));
    json_t *map = json_object(), *out = NULL;
    char days[8], vpc[32] = "", sg[32], cid[OHSM_IDS_MAX];
    size_t i;
    json_t *s;
    bool tx = false;

    if (map == NULL) {
        return NULL;
    }
    if (!hsm_type_ok(type)) {
        ohsm_aws_errf(err, 400, INVALID, "HsmType must be hsm1.medium or hsm2m.medium.");
        goto fail;
    }
    if (!json_is_array(subnets) || json_array_size(subnets) < 1 ||
        json_array_size(subnets) > 10) {
        ohsm_aws_errf(err, 400, INVALID, "SubnetIds must list 1 to 10 subnets.");
        goto fail;
    }
    if (retention_days(in, days, sizeof(days), err) != 0 ||
        (tags != NULL && ohsm_cp_check_tags(tags, err) != 0)) {
        goto fail;
    }
    (void)pthread_mutex_lock(&c->lock);
    sqlite3 *db = ohsm_meta_sqlite(c->meta);
    if (ohsm_vpc_ensure_region(db, call->region, c->account_id, err) != OHSM_OK) {
        goto unlock;
    }
    json_array_foreach(subnets, i, s) {
        struct ohsm_vpc_subnet sn;
        struct ohsm_aws_err e2;
        const char *sid = json_string_value(s);
        if (sid == NULL || ohsm_vpc_subnet_get(db, call->region, sid, &sn, &e2) != OHSM_OK) {
            ohsm_aws_errf(err, 400, INVALID, "The subnet %s does not exist.",
                          sid != NULL ? sid : "?");
            goto unlock;
        }
        if (vpc[0] != '\0' && strcmp(vpc, sn.vpc_id) != 0) {
            ohsm_aws_errf(err, 400, INVALID, "All subnets must be in the same VPC.");
            goto unlock;
        }
        memcpy(vpc, sn.vpc_id, sizeof(sn.vpc_id) < sizeof(vpc) ? sizeof(sn.vpc_id) : sizeof(vpc));
        vpc[sizeof(vpc) - 1] = '\0';
        if (json_object_get(map, sn.az) != NULL) {
            ohsm_aws_errf(err, 400, INVALID,
                          "You can specify only one subnet per Availability Zone (%s).", sn.az);
            goto unlock;
        }
        (void)json_object_set_new(map, sn.az, json_string(sid));
    }
    if (src != NULL && ohsm_cp_source_backup(c, call->region, src, err) != 0) {
        goto unlock;
    }
    if (ohsm_ids_make(OHSM_IDS_CLUSTER_PREFIX, cid, sizeof(cid)) != OHSM_OK ||
        ohsm_meta_begin(c->meta) != OHSM_OK) {
        ohsm_aws_errf(err, 500, "CloudHsmInternalFailureException", "Cannot create the cluster.");
        goto unlock;
    }
    tx = true;
    struct ohsm_meta_cluster cl;
    memset(&cl, 0, sizeof(cl));
    memcpy(cl.id, cid, sizeof(cl.id));
    cl.state = OHSM_CS_CREATE_IN_PROGRESS;
    (void)snprintf(cl.hsm_type, sizeof(cl.hsm_type), "%s", type);
    cl.lockout_attempts = c->lockout;
    cl.created_at = (int64_t)time(NULL);
    char *sm = json_dumps(map, JSON_COMPACT | JSON_SORT_KEYS);
    char *tl = tags != NULL ? json_dumps(tags, JSON_COMPACT) : NULL;
    bool ok = sm != NULL && ohsm_meta_cluster_add(c->meta, &cl) == OHSM_OK &&
              ohsm_vpc_sg_create(db, call->region, c->account_id, vpc, cid, sg, sizeof(sg),
                                 err) == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, cid, OHSM_CA_REGION, call->region) == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, cid, OHSM_CA_PKI, "csr") == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, cid, OHSM_CA_VPC, vpc) == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, cid, OHSM_CA_SG, sg) == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, cid, OHSM_CA_SUBNETS, sm) == OHSM_OK &&
              ohsm_meta_attr_set(c->meta, cid, OHSM_CA_RETENTION, days) == OHSM_OK &&
              (tl == NULL || ohsm_meta_attr_set(c->meta, cid, OHSM_CA_TAGS, tl) == OHSM_OK) &&
              (src == NULL || from_backup(c, src, cid) == OHSM_OK) &&
              ohsm_meta_commit(c->meta) == OHSM_OK;
    free(sm);
    free(tl);
    if (!ok) {
        if (err->type[0] == '\0') {
            ohsm_aws_errf(err, 500, "CloudHsmInternalFailureException",
                          "Cannot record the cluster.");
        }
        goto unlock;
    }
    tx = false;
    out = json_pack("{s:o}", "Cluster", ohsm_cp_cluster_json(c, &cl));
unlock:
    if (tx) {
        ohsm_meta_rollback(c->meta);
    }
    (void)pthread_mutex_unlock(&c->lock);
    if (out != NULL) {
        ohsm_cloud_kick(c);
    }
fail:
    json_decref(map);
    return out;
}

/* ---- DeleteCluster ---- */

static json_t *delete_cluster(void *ctx, const struct ohsm_http_call *call, json_t *in,
                              struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_cluster cl;
    struct ohsm_meta_hsm *hs = NULL;
    size_t nh = 0;
    json_t *out = NULL;
    const char *cid = json_string_value(json_object_get(in, "ClusterId"));

    (void)pthread_mutex_lock(&c->lock);
    if (cid == NULL || ohsm_cp_find_cluster(c, call->region, cid, &cl) != OHSM_OK ||
        cl.state == OHSM_CS_DELETED) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Cluster %s not found.", cid != NULL ? cid : "");
        goto out;
    }
    if (ohsm_meta_hsm_list(c->meta, cid, &hs, &nh) != OHSM_OK) {
        ohsm_aws_errf(err, 500, "CloudHsmInternalFailureException", "The state is unreadable.");
        goto out;
    }
    for (size_t i = 0; i < nh; i++) {
        if (hs[i].state != OHSM_HS_DELETED) {
            ohsm_aws_errf(err, 400, INVALID,
                          "Before you can delete a cluster, you must delete all HSMs in the "
                          "cluster.");
            goto out;
        }
    }
    if (cl.state == OHSM_CS_CREATE_IN_PROGRESS || cl.state == OHSM_CS_DELETE_IN_PROGRESS) {
        ohsm_aws_errf(err, 400, INVALID, "Cluster %s is in state %s.", cid,
                      ohsm_meta_cstate_name(cl.state));
        goto out;
    }
    if (ohsm_meta_cluster_set_state(c->meta, cid, OHSM_CS_DELETE_IN_PROGRESS) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, cid, OHSM_CA_MESSAGE, "The cluster is being deleted.") !=
            OHSM_OK) {
        ohsm_aws_errf(err, 500, "CloudHsmInternalFailureException", "Cannot record the change.");
        goto out;
    }
    cl.state = OHSM_CS_DELETE_IN_PROGRESS;
    out = json_pack("{s:o}", "Cluster", ohsm_cp_cluster_json(c, &cl));
out:
    (void)pthread_mutex_unlock(&c->lock);
    free(hs);
    if (out != NULL) {
        ohsm_cloud_kick(c);
    }
    return out;
}

/* ---- ModifyCluster ---- */

static json_t *modify_cluster(void *ctx, const struct ohsm_http_call *call, json_t *in,
                              struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_cluster cl;
    json_t *out = NULL;
    char days[8];
    const char *cid = json_string_value(json_object_get(in, "ClusterId"));
    const char *type = json_string_value(json_object_get(in, "HsmType"));

    if (retention_days(in, days, sizeof(days), err) != 0) {
        return NULL;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (cid == NULL || ohsm_cp_find_cluster(c, call->region, cid, &cl) != OHSM_OK ||
        cl.state == OHSM_CS_DELETED) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Cluster %s not found.", cid != NULL ? cid : "");
        goto out;
    }
    if (type != NULL && strcmp(type, cl.hsm_type) != 0) {
        /* An hsm1 -> hsm2m migration is AWS's long-running operation; openhsm's HSMs are one
         * kind, so there is nothing to migrate to. */
        ohsm_aws_errf(err, 400, INVALID,
                      "Changing the HSM type of a cluster is not supported by openhsm.");
        goto out;
    }
    if (json_object_get(in, "BackupRetentionPolicy") != NULL &&
        ohsm_meta_attr_set(c->meta, cid, OHSM_CA_RETENTION, days) != OHSM_OK) {
        ohsm_aws_errf(err, 500, "CloudHsmInternalFailureException", "Cannot record the change.");
        goto out;
    }
    out = json_pack("{s:o}", "Cluster", ohsm_cp_cluster_json(c, &cl));
out:
    (void)pthread_mutex_unlock(&c->lock);
    return out;
}

static const struct ohsm_json_op ops[] = {
    {"CreateCluster", create_cluster},
    {"DeleteCluster", delete_cluster},
    {"DescribeClusters", describe_clusters},
    {"ModifyCluster", modify_cluster},
    {"InitializeCluster", ohsm_cp_initialize_cluster},
    {"CreateHsm", ohsm_cp_create_hsm},
    {"DeleteHsm", ohsm_cp_delete_hsm},
    {"TagResource", ohsm_cp_tag_resource},
    {"UntagResource", ohsm_cp_untag_resource},
    {"ListTags", ohsm_cp_list_tags},
};

#define N_OPS (sizeof(ops) / sizeof(ops[0]))

const struct ohsm_json_service *ohsm_cp_service(struct ohsm_cloud *c)
{
    static struct ohsm_json_op all[N_OPS + OHSM_CP_BACKUP_OPS];
    static struct ohsm_json_service svc = {
        .target_prefix = "BaldrApiService",
        .signing_name = "cloudhsm",
        .invalid_request_type = INVALID,
        .unknown_op_type = "UnknownOperationException",
        .ops = all,
        .n_ops = N_OPS + OHSM_CP_BACKUP_OPS,
        .validate = NULL,
    };
    memcpy(all, ops, sizeof(ops));
    memcpy(all + N_OPS, ohsm_cp_backup_ops, sizeof(ohsm_cp_backup_ops));
    svc.ctx = c;
    svc.validate = ohsm_cp_validate;
    return &svc;
}
