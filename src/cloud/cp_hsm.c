/* SPDX-License-Identifier: Apache-2.0
 *
 * CreateHsm, DeleteHsm and the tag operations of the CloudHSM v2 control plane. An HSM takes one
 * address of its AZ's subnet through a service-managed ENI (vpc.h), so a full or deleted subnet
 * stops CreateHsm as it stops AWS's; its process is started by the worker (work.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cloud/cp_int.h"
#include "cloud/ids.h"
#include "cloud/provision.h"
#include "cloud/vpc.h"

#define NOT_FOUND "CloudHsmResourceNotFoundException"
#define INVALID "CloudHsmInvalidRequestException"
#define INTERNAL "CloudHsmInternalFailureException"

static bool live(enum ohsm_meta_hstate s)
{
    return s != OHSM_HS_DELETED;
}

/* The handle slot an HSM uses (its attribute; HSMs of older versions: seq & 31). */
static uint32_t slot_of(struct ohsm_cloud *c, const struct ohsm_meta_hsm *h)
{
    char *v = NULL;
    uint32_t slot = h->seq & 31u;
    if (ohsm_meta_attr_get(c->meta, h->id, OHSM_HA_SLOT, &v) == OHSM_OK && v != NULL) {
        char *end = NULL;
        unsigned long s = strtoul(v, &end, 10);
        if (*v >= '0' && *v <= '9' && *end == '\0' && s <= 31) {
            slot = (uint32_t)s;
        }
    }
    free(v);
    return slot;
}

uint32_t ohsm_cp_hsm_slot(struct ohsm_cloud *c, const struct ohsm_meta_hsm *h)
{
    return slot_of(c, h);
}

/* Maps a VPC error of the HSM's ENI to the control plane's answer. */
static void eni_error(const struct ohsm_aws_err *e, const char *subnet, const char *az,
                      struct ohsm_aws_err *err)
{
    if (strcmp(e->type, "InvalidSubnetID.NotFound") == 0) {
        ohsm_aws_errf(err, 400, INVALID,
                      "The subnet %s of Availability Zone %s no longer exists.", subnet, az);
    } else if (strcmp(e->type, "InsufficientFreeAddressesInSubnet") == 0) {
        ohsm_aws_errf(err, 400, INVALID,
                      "Insufficient free addresses in subnet %s to create an HSM.", subnet);
    } else if (e->status < 500) {
        ohsm_aws_errf(err, 400, INVALID, "%s", e->msg);
    } else {
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot create the HSM's network interface.");
    }
}

json_t *ohsm_cp_create_hsm(void *ctx, const struct ohsm_http_call *call, json_t *in,
                           struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_cluster cl;
    struct ohsm_meta_hsm *hs = NULL, h;
    size_t nh = 0, nlive = 0;
    json_t *out = NULL, *map = NULL;
    bool tx = false;
    char port_s[8], slot_s[8];
    const char *cid = json_string_value(json_object_get(in, "ClusterId"));
    const char *az = json_string_value(json_object_get(in, "AvailabilityZone"));
    const char *ip = json_string_value(json_object_get(in, "IpAddress"));

    memset(&h, 0, sizeof(h));
    (void)pthread_mutex_lock(&c->lock);
    sqlite3 *db = ohsm_meta_sqlite(c->meta);
    if (cid == NULL || az == NULL ||
        ohsm_cp_find_cluster(c, call->region, cid, &cl) != OHSM_OK ||
        cl.state == OHSM_CS_DELETED) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Cluster %s not found.", cid != NULL ? cid : "");
        goto out;
    }
    if (cl.state != OHSM_CS_UNINITIALIZED && cl.state != OHSM_CS_INITIALIZED &&
        cl.state != OHSM_CS_ACTIVE && cl.state != OHSM_CS_DEGRADED) {
        ohsm_aws_errf(err, 400, INVALID, "Cannot create an HSM in a cluster in state %s.",
                      ohsm_meta_cstate_name(cl.state));
        goto out;
    }
    if (ohsm_meta_hsm_list(c->meta, cid, &hs, &nh) != OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "The state is unreadable.");
        goto out;
    }
    uint32_t used_slots = 0, seq = 0;
    for (size_t i = 0; i < nh; i++) {
        seq = hs[i].seq >= seq ? hs[i].seq + 1 : seq;
        if (live(hs[i].state)) {
            nlive++;
            used_slots |= 1u << slot_of(c, &hs[i]);
        }
    }
    if (nlive >= OHSM_CLOUD_HSMS_PER_CLUSTER) {
        ohsm_aws_errf(err, 400, INVALID, "A cluster holds at most %d HSMs.",
                      OHSM_CLOUD_HSMS_PER_CLUSTER);
        goto out;
    }
    char *msm = NULL;
    if (ohsm_meta_attr_get(c->meta, cid, OHSM_CA_SUBNETS, &msm) == OHSM_OK && msm != NULL) {
        map = json_loads(msm, JSON_REJECT_DUPLICATES, NULL);
    }
    free(msm);
    const char *subnet = json_string_value(json_object_get(map, az));
    if (subnet == NULL) {
        ohsm_aws_errf(err, 400, INVALID,
                      "The cluster has no subnet in Availability Zone %s; see its SubnetMapping.",
                      az);
        goto out;
    }
    uint32_t slot = 0;
    while (slot < 32 && (used_slots & (1u << slot)) != 0) {
        slot++;
    }
    uint16_t port = 0;
    if (slot >= 32 || ohsm_provision_pick_port(c->meta, &port) != OHSM_OK ||
        ohsm_ids_make(OHSM_IDS_HSM_PREFIX, h.id, sizeof(h.id)) != OHSM_OK ||
        ohsm_meta_begin(c->meta) != OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot allocate the HSM.");
        goto out;
    }
    tx = true;
    char sg[32] = "";
    char *sgv = NULL;
    if (ohsm_meta_attr_get(c->meta, cid, OHSM_CA_SG, &sgv) == OHSM_OK && sgv != NULL &&
        strlen(sgv) < sizeof(sg)) {
        memcpy(sg, sgv, strlen(sgv) + 1);
    }
    free(sgv);
    char desc[96];
    (void)snprintf(desc, sizeof(desc), "CloudHSM Managed Interface (%s)", h.id);
    struct ohsm_vpc_eni_req req = {subnet, ip, desc, sg[0] != '\0' ? sg : NULL, true};
    struct ohsm_vpc_eni eni;
    struct ohsm_aws_err e2;
    memset(&e2, 0, sizeof(e2));
    if (ohsm_vpc_eni_create(db, call->region, c->account_id, &req, &eni, &e2) != OHSM_OK) {
        eni_error(&e2, subnet, az, err);
        goto out;
    }
    memcpy(h.cluster_id, cid, sizeof(h.cluster_id));
    h.seq = seq;
    memcpy(h.host, "127.0.0.1", sizeof("127.0.0.1"));
    h.port = port;
    h.state = OHSM_HS_CREATE_IN_PROGRESS;
    h.created_at = (int64_t)time(NULL);
    (void)snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
    (void)snprintf(slot_s, sizeof(slot_s), "%u", (unsigned)slot);
    if (ohsm_meta_hsm_add(c->meta, &h) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, h.id, OHSM_HA_AZ, az) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, h.id, OHSM_HA_SUBNET, subnet) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, h.id, OHSM_HA_ENI, eni.id) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, h.id, OHSM_HA_ENI_IP, eni.ip_text) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, h.id, OHSM_HA_SLOT, slot_s) != OHSM_OK ||
        ohsm_meta_commit(c->meta) != OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot record the HSM.");
        goto out;
    }
    tx = false;
    out = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}", "Hsm", "HsmId", h.id,
                    "ClusterId", cid, "AvailabilityZone", az, "SubnetId", subnet, "EniId", eni.id,
                    "EniIp", eni.ip_text, "HsmType", cl.hsm_type, "State", "CREATE_IN_PROGRESS");
out:
    if (tx) {
        ohsm_meta_rollback(c->meta);
    }
    (void)pthread_mutex_unlock(&c->lock);
    free(hs);
    json_decref(map);
    if (out != NULL) {
        ohsm_cloud_kick(c);
    }
    return out;
}

json_t *ohsm_cp_delete_hsm(void *ctx, const struct ohsm_http_call *call, json_t *in,
                           struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_cluster cl;
    struct ohsm_meta_hsm *hs = NULL;
    size_t nh = 0;
    json_t *out = NULL;
    const char *cid = json_string_value(json_object_get(in, "ClusterId"));
    const char *by[3] = {"HsmId", "EniId", "EniIp"};
    const char *attr[3] = {NULL, OHSM_HA_ENI, OHSM_HA_ENI_IP};
    const char *want = NULL;
    int which = -1;

    for (int i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(in, by[i]));
        if (v != NULL) {
            if (want != NULL) {
                ohsm_aws_errf(err, 400, INVALID,
                              "Specify exactly one of HsmId, EniId and EniIp.");
                return NULL;
            }
            want = v;
            which = i;
        }
    }
    if (want == NULL) {
        ohsm_aws_errf(err, 400, INVALID, "Specify exactly one of HsmId, EniId and EniIp.");
        return NULL;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (cid == NULL || ohsm_cp_find_cluster(c, call->region, cid, &cl) != OHSM_OK ||
        cl.state == OHSM_CS_DELETED) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Cluster %s not found.", cid != NULL ? cid : "");
        goto out;
    }
    if (ohsm_meta_hsm_list(c->meta, cid, &hs, &nh) != OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "The state is unreadable.");
        goto out;
    }
    for (size_t i = 0; i < nh && out == NULL; i++) {
        char *v = NULL;
        bool match = false;
        if (!live(hs[i].state)) {
            continue;
        }
        if (which == 0) {
            match = strcmp(hs[i].id, want) == 0;
        } else if (ohsm_meta_attr_get(c->meta, hs[i].id, attr[which], &v) == OHSM_OK &&
                   v != NULL) {
            match = strcmp(v, want) == 0;
        }
        free(v);
        if (!match) {
            continue;
        }
        if (hs[i].state != OHSM_HS_DELETE_IN_PROGRESS &&
            ohsm_meta_hsm_set_state(c->meta, hs[i].id, OHSM_HS_DELETE_IN_PROGRESS) != OHSM_OK) {
            ohsm_aws_errf(err, 500, INTERNAL, "Cannot record the change.");
            goto out;
        }
        out = json_pack("{s:s}", "HsmId", hs[i].id);
    }
    if (out == NULL) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "No HSM with %s %s in cluster %s.", by[which], want,
                      cid);
    }
out:
    (void)pthread_mutex_unlock(&c->lock);
    free(hs);
    if (out != NULL) {
        ohsm_cloud_kick(c);
    }
    return out;
}

/* ---- tags (clusters; backups join when they exist) ---- */

#define TAGS_MAX 50

/* The tag list of a resource id of the caller's region; -1 with NotFound. New reference in *out. */
static int load_tags(struct ohsm_cloud *c, const char *region, const char *id, json_t **out,
                     struct ohsm_aws_err *err)
{
    struct ohsm_meta_cluster cl;
    char *v = NULL;
    *out = NULL;
    if (id == NULL || ((strncmp(id, "cluster-", 8) != 0 ||
                        ohsm_cp_find_cluster(c, region, id, &cl) != OHSM_OK ||
                        cl.state == OHSM_CS_DELETED) &&
                       !ohsm_cp_backup_exists(c, region, id))) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Resource %s not found.", id != NULL ? id : "");
        return -1;
    }
    if (ohsm_meta_attr_get(c->meta, id, OHSM_CA_TAGS, &v) == OHSM_OK && v != NULL) {
        *out = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
    }
    free(v);
    if (!json_is_array(*out)) {
        json_decref(*out);
        *out = json_array();
    }
    return *out != NULL ? 0 : -1;
}

static int store_tags(struct ohsm_cloud *c, const char *id, json_t *tags, struct ohsm_aws_err *err)
{
    char *s = json_dumps(tags, JSON_COMPACT);
    ohsm_rv rv = s != NULL ? ohsm_meta_attr_set(c->meta, id, OHSM_CA_TAGS, s) : OHSM_HOST_MEMORY;
    free(s);
    if (rv != OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot record the tags.");
        return -1;
    }
    return 0;
}

static json_t *find_tag(json_t *tags, const char *key, size_t *at)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        const char *k = json_string_value(json_object_get(t, "Key"));
        if (k != NULL && strcmp(k, key) == 0) {
            *at = i;
            return t;
        }
    }
    return NULL;
}

json_t *ohsm_cp_tag_resource(void *ctx, const struct ohsm_http_call *call, json_t *in,
                             struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    json_t *tags = NULL, *out = NULL, *add = json_object_get(in, "TagList");
    const char *id = json_string_value(json_object_get(in, "ResourceId"));
    size_t i, at;
    json_t *t;

    if (!json_is_array(add) || json_array_size(add) == 0 || ohsm_cp_check_tags(add, err) != 0) {
        if (err->type[0] == '\0') {
            ohsm_aws_errf(err, 400, INVALID, "TagList must hold 1 to 50 tags.");
        }
        return NULL;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (load_tags(c, call->region, id, &tags, err) != 0) {
        goto out;
    }
    json_array_foreach(add, i, t) {
        json_t *old = find_tag(tags, json_string_value(json_object_get(t, "Key")), &at);
        if (old != NULL) {
            (void)json_object_set(old, "Value", json_object_get(t, "Value"));
        } else {
            (void)json_array_append_new(
                tags, json_pack("{s:O, s:O}", "Key", json_object_get(t, "Key"), "Value",
                                json_object_get(t, "Value")));
        }
    }
    if (json_array_size(tags) > TAGS_MAX) {
        ohsm_aws_errf(err, 400, "CloudHsmResourceLimitExceededException",
                      "A resource holds at most %d tags.", TAGS_MAX);
        goto out;
    }
    if (store_tags(c, id, tags, err) == 0) {
        out = json_object();
    }
out:
    (void)pthread_mutex_unlock(&c->lock);
    json_decref(tags);
    return out;
}

json_t *ohsm_cp_untag_resource(void *ctx, const struct ohsm_http_call *call, json_t *in,
                               struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    json_t *tags = NULL, *out = NULL, *keys = json_object_get(in, "TagKeyList");
    const char *id = json_string_value(json_object_get(in, "ResourceId"));
    size_t i, at;
    json_t *k;

    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        ohsm_aws_errf(err, 400, INVALID, "TagKeyList must hold 1 to 50 keys.");
        return NULL;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (load_tags(c, call->region, id, &tags, err) != 0) {
        goto out;
    }
    json_array_foreach(keys, i, k) {
        if (json_is_string(k) && find_tag(tags, json_string_value(k), &at) != NULL) {
            (void)json_array_remove(tags, at);
        }
    }
    if (store_tags(c, id, tags, err) == 0) {
        out = json_object();
    }
out:
    (void)pthread_mutex_unlock(&c->lock);
    json_decref(tags);
    return out;
}

json_t *ohsm_cp_list_tags(void *ctx, const struct ohsm_http_call *call, json_t *in,
                          struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    json_t *tags = NULL, *out = NULL;
    const char *id = json_string_value(json_object_get(in, "ResourceId"));

    (void)pthread_mutex_lock(&c->lock);
    if (load_tags(c, call->region, id, &tags, err) == 0) {
        out = ohsm_cp_paged(in, tags, "TagList", 100, err);
    }
    (void)pthread_mutex_unlock(&c->lock);
    json_decref(tags);
    return out;
}

/* ---- clusters of the first start ---- */

static ohsm_rv adopt_cluster(struct ohsm_cloud *c, const struct ohsm_meta_cluster *cl)
{
    sqlite3 *db = ohsm_meta_sqlite(c->meta);
    struct ohsm_vpc_subnet *sn = NULL;
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0, nh = 0, k = 0;
    struct ohsm_aws_err e;
    char sg[32], desc[96], slot[8];
    const char *az[OHSM_VPC_AZ_COUNT], *sid[OHSM_VPC_AZ_COUNT];
    json_t *map = json_object();
    char *sm = NULL;
    ohsm_rv rv = OHSM_DB;

    memset(&e, 0, sizeof(e));
    if (map == NULL || ohsm_vpc_ensure_region(db, c->region, c->account_id, &e) != OHSM_OK ||
        ohsm_vpc_subnet_list(db, c->region, &sn, &n, &e) != OHSM_OK ||
        ohsm_meta_hsm_list(c->meta, cl->id, &hs, &nh) != OHSM_OK) {
        goto out;
    }
    for (size_t i = 0; i < n && k < OHSM_VPC_AZ_COUNT; i++) {
        if (sn[i].default_for_az) {
            az[k] = sn[i].az;
            sid[k] = sn[i].id;
            (void)json_object_set_new(map, sn[i].az, json_string(sn[i].id));
            k++;
        }
    }
    sm = json_dumps(map, JSON_COMPACT | JSON_SORT_KEYS);
    if (k == 0 || sm == NULL || ohsm_meta_begin(c->meta) != OHSM_OK) {
        goto out;
    }
    if (ohsm_vpc_sg_create(db, c->region, c->account_id, sn[0].vpc_id, cl->id, sg, sizeof(sg),
                           &e) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, cl->id, OHSM_CA_REGION, c->region) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, cl->id, OHSM_CA_VPC, sn[0].vpc_id) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, cl->id, OHSM_CA_SG, sg) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, cl->id, OHSM_CA_SUBNETS, sm) != OHSM_OK) {
        goto rollback;
    }
    for (size_t i = 0, j = 0; i < nh; i++) {
        if (!live(hs[i].state)) {
            continue;
        }
        struct ohsm_vpc_eni eni;
        (void)snprintf(desc, sizeof(desc), "CloudHSM Managed Interface (%s)", hs[i].id);
        (void)snprintf(slot, sizeof(slot), "%u", (unsigned)(hs[i].seq & 31u));
        struct ohsm_vpc_eni_req req = {sid[j % k], NULL, desc, sg, true};
        if (ohsm_vpc_eni_create(db, c->region, c->account_id, &req, &eni, &e) != OHSM_OK ||
            ohsm_meta_attr_set(c->meta, hs[i].id, OHSM_HA_AZ, az[j % k]) != OHSM_OK ||
            ohsm_meta_attr_set(c->meta, hs[i].id, OHSM_HA_SUBNET, sid[j % k]) != OHSM_OK ||
            ohsm_meta_attr_set(c->meta, hs[i].id, OHSM_HA_ENI, eni.id) != OHSM_OK ||
            ohsm_meta_attr_set(c->meta, hs[i].id, OHSM_HA_ENI_IP, eni.ip_text) != OHSM_OK ||
            ohsm_meta_attr_set(c->meta, hs[i].id, OHSM_HA_SLOT, slot) != OHSM_OK) {
            goto rollback;
        }
        j++;
    }
    rv = ohsm_meta_commit(c->meta);
    if (rv == OHSM_OK) {
        goto out;
    }
rollback:
    if (e.msg[0] != '\0') {
        fprintf(stderr, "openhsmd: cluster %s: %s\n", cl->id, e.msg);
    }
    ohsm_meta_rollback(c->meta);
    rv = OHSM_DB;
out:
    free(sm);
    free(sn);
    free(hs);
    json_decref(map);
    return rv;
}

ohsm_rv ohsm_cp_adopt(struct ohsm_cloud *c)
{
    struct ohsm_meta_cluster *cs = NULL;
    size_t n = 0;
    ohsm_rv rv = OHSM_OK;
    OHSM_TRY(ohsm_meta_cluster_list(c->meta, &cs, &n));
    for (size_t i = 0; i < n && rv == OHSM_OK; i++) {
        char *r = NULL;
        if (cs[i].state == OHSM_CS_DELETED) {
            continue;
        }
        rv = ohsm_meta_attr_get(c->meta, cs[i].id, OHSM_CA_REGION, &r);
        if (rv == OHSM_OK && r == NULL) {
            rv = adopt_cluster(c, &cs[i]);
        }
        free(r);
    }
    free(cs);
    return rv;
}
