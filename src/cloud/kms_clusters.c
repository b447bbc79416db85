/* SPDX-License-Identifier: Apache-2.0
 *
 * The control plane as KMS's CloudHSM key stores see it (kms_clusters.h): a copy of a cluster's
 * state, certificates, subnets and HSMs (view), and the network of a key store connection
 * (net_up, net_down) made the way AWS KMS makes it on ConnectCustomKeyStore. The metadata and the
 * VPC tables are read as untrusted input (attributes are parsed and bounded), and every change of
 * a connection's network is one metadata transaction: a crash never leaves half of it.
 */
#include "cloud/kms_clusters.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cloud/cloud.h"
#include "cloud/cp_int.h"
#include "cloud/files.h"
#include "cloud/meta.h"
#include "cloud/provision.h"
#include "cloud/vpc.h"
#include "http/http.h"

/* What net_up and net_down work with: the group's name of a store. */
#define SG_NAME_MAX (sizeof(OHSM_KMS_NET_SG_PREFIX) + OHSM_KMS_CKS_ID_MAX)

/* Is s a store id openhsmd makes ("cks-" + 17 lower-case hex)? */
static bool cks_id_valid(const char *s)
{
    return s != NULL && strnlen(s, OHSM_KMS_CKS_ID_MAX) < OHSM_KMS_CKS_ID_MAX &&
           ohsm_vpc_id_valid(OHSM_KMS_CKS_ID_PREFIX, s);
}

static void cv_free(struct ohsm_kms_cv *v)
{
    free(v->trust_anchor);
    free(v->cluster_cert);
    v->trust_anchor = NULL;
    v->cluster_cert = NULL;
}

/* Copies src into dst (cap bytes); false when it does not fit. */
static bool copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap);
    if (n >= cap) {
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

/* ---- the cluster, c->lock held ---- */

/* The subnets of cid (OHSM_CA_SUBNETS: a JSON object AZ -> subnet id) into v, ordered by AZ,
 * each without its VPC facts yet. Errors: OHSM_DB (malformed, too many). */
static ohsm_rv read_subnets(struct ohsm_cloud *c, const char *cid, struct ohsm_kms_cv *v)
{
    char *text = NULL;
    json_t *map = NULL, *val;
    const char *az;
    ohsm_rv rv = OHSM_DB;

    v->n_subnets = 0;
    OHSM_TRY(ohsm_meta_attr_get(c->meta, cid, OHSM_CA_SUBNETS, &text));
    if (text == NULL) {
        return OHSM_OK; /* a cluster without subnets: KMS finds it misconfigured */
    }
    map = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    if (!json_is_object(map) || json_object_size(map) > OHSM_KMS_CV_SUBNETS) {
        goto out;
    }
    json_object_foreach(map, az, val) {
        struct ohsm_kms_cv_subnet s;
        memset(&s, 0, sizeof(s));
        const char *sid = json_string_value(val);
        if (sid == NULL || !copy_text(s.id, sizeof(s.id), sid) ||
            !ohsm_vpc_id_valid("subnet-", s.id) || !copy_text(s.az, sizeof(s.az), az) ||
            s.az[0] == '\0') {
            goto out;
        }
        /* Insertion in AZ order (at most OHSM_KMS_CV_SUBNETS). */
        size_t k = v->n_subnets;
        while (k > 0 && strcmp(v->subnets[k - 1].az, s.az) > 0) {
            v->subnets[k] = v->subnets[k - 1];
            k--;
        }
        v->subnets[k] = s;
        v->n_subnets++;
    }
    rv = OHSM_OK;
out:
    json_decref(map);
    if (rv != OHSM_OK) {
        v->n_subnets = 0;
    }
    return rv;
}

/* Is ENI e one of a KMS connection (in a group "kms-cks-...", made by the service)? */
static bool is_kms_eni(const struct ohsm_vpc_eni *e)
{
    static const char pre[] = OHSM_KMS_NET_SG_PREFIX OHSM_KMS_CKS_ID_PREFIX;
    return e->requester_managed && strncmp(e->group_name, pre, sizeof(pre) - 1) == 0;
}

/* Each subnet's VPC facts: exists, free addresses, a KMS ENI in it. */
static ohsm_rv subnet_facts(struct ohsm_cloud *c, const char *region, struct ohsm_kms_cv *v)
{
    sqlite3 *db = ohsm_meta_sqlite(c->meta);
    struct ohsm_vpc_eni *enis = NULL;
    size_t ne = 0;
    struct ohsm_aws_err e;
    ohsm_rv rv = OHSM_OK;

    memset(&e, 0, sizeof(e));
    OHSM_TRY(ohsm_vpc_eni_list(db, region, &enis, &ne, &e) == OHSM_OK ? OHSM_OK : OHSM_DB);
    for (size_t i = 0; i < v->n_subnets; i++) {
        struct ohsm_kms_cv_subnet *s = &v->subnets[i];
        struct ohsm_vpc_subnet vs;
        rv = ohsm_vpc_subnet_get(db, region, s->id, &vs, &e);
        if (rv == OHSM_ARGUMENTS_BAD) { /* InvalidSubnetID.NotFound: deleted */
            rv = OHSM_OK;
            continue;
        }
        if (rv != OHSM_OK) {
            rv = OHSM_DB;
            break;
        }
        s->exists = true;
        s->free = vs.available;
        for (size_t k = 0; k < ne && !s->kms_eni; k++) {
            s->kms_eni = strcmp(enis[k].subnet_id, s->id) == 0 && is_kms_eni(&enis[k]);
        }
    }
    free(enis);
    return rv;
}

/* The HSMs of cid not DELETED, in client.json order, with their AZ and state. */
static ohsm_rv read_hsms(struct ohsm_cloud *c, const char *cid, struct ohsm_kms_cv *v)
{
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    ohsm_rv rv = OHSM_OK;

    v->n_hsms = 0;
    OHSM_TRY(ohsm_meta_hsm_list(c->meta, cid, &hs, &n));
    for (size_t i = 0; i < n; i++) {
        if (hs[i].state == OHSM_HS_DELETED) {
            continue;
        }
        if (v->n_hsms >= OHSM_KMS_CV_HSMS) {
            rv = OHSM_DB;
            break;
        }
        struct ohsm_kms_cv_hsm *h = &v->hsms[v->n_hsms];
        char *az = NULL;
        const char *st = ohsm_meta_hstate_name(hs[i].state);
        rv = ohsm_meta_attr_get(c->meta, hs[i].id, OHSM_HA_AZ, &az);
        bool ok = rv == OHSM_OK && st != NULL && copy_text(h->id, sizeof(h->id), hs[i].id) &&
                  copy_text(h->state, sizeof(h->state), st) &&
                  (az == NULL || copy_text(h->az, sizeof(h->az), az));
        free(az);
        if (!ok) {
            rv = rv == OHSM_OK ? OHSM_DB : rv;
            break;
        }
        v->n_hsms++;
    }
    free(hs);
    if (rv != OHSM_OK) {
        v->n_hsms = 0;
    }
    return rv;
}

/* Everything of the view the metadata holds (c->lock held). */
static ohsm_rv view_locked(struct ohsm_cloud *c, const char *region, const char *cid,
                           struct ohsm_kms_cv *v)
{
    struct ohsm_meta_cluster cl;
    char *sg = NULL;
    ohsm_rv rv = ohsm_cp_find_cluster(c, region, cid, &cl);
    if (rv == OHSM_ARGUMENTS_BAD) {
        return OHSM_OK; /* not in this region (or anywhere): exists stays false */
    }
    OHSM_TRY(rv);
    const char *st = ohsm_meta_cstate_name(cl.state);
    if (cl.state == OHSM_CS_DELETED) {
        return OHSM_OK;
    }
    OHSM_ENSURE(st != NULL && copy_text(v->state, sizeof(v->state), st), OHSM_DB);
    OHSM_TRY(ohsm_meta_attr_get(c->meta, cid, OHSM_CA_TRUST_ANCHOR, &v->trust_anchor));
    OHSM_TRY(ohsm_meta_attr_get(c->meta, cid, OHSM_CA_CLUSTER_CERT, &v->cluster_cert));
    OHSM_TRY(ohsm_meta_attr_get(c->meta, cid, OHSM_CA_SG, &sg));
    bool sg_ok =
        sg == NULL || (copy_text(v->sg, sizeof(v->sg), sg) && ohsm_vpc_id_valid("sg-", v->sg));
    free(sg);
    OHSM_ENSURE(sg_ok, OHSM_DB);
    OHSM_TRY(read_subnets(c, cid, v));
    OHSM_TRY(subnet_facts(c, region, v));
    OHSM_TRY(read_hsms(c, cid, v));
    v->exists = true;
    return OHSM_OK;
}

static ohsm_rv kc_view(void *ctx, const char *region, const char *cluster_id,
                       struct ohsm_kms_cv *out)
{
    struct ohsm_cloud *c = ctx;
    char dir[4096], path[4096];

    OHSM_ENSURE(c != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    OHSM_ENSURE(region != NULL && cluster_id != NULL, OHSM_ARGUMENTS_BAD);
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = view_locked(c, region, cluster_id, out);
    (void)pthread_mutex_unlock(&c->lock);
    if (rv != OHSM_OK) {
        cv_free(out);
        memset(out, 0, sizeof(*out));
        return rv == OHSM_HOST_MEMORY ? rv : OHSM_DB;
    }
    /* client.json is written by the worker once the cluster has a trust anchor. */
    if (out->exists &&
        ohsm_provision_cluster_dir(c->data_dir, cluster_id, dir, sizeof(dir)) == OHSM_OK &&
        ohsm_files_path(path, sizeof(path), "%s/client.json", dir) == OHSM_OK &&
        access(path, F_OK) == 0) {
        (void)copy_text(out->client_json, sizeof(out->client_json), path);
    }
    return OHSM_OK;
}

/* ---- the network of a connection, c->lock held, inside the caller's transaction ---- */

/* Deletes every ENI of group sg_id (as the service), then the group. */
static ohsm_rv drop_group(sqlite3 *db, const char *region, const char *sg_id,
                          const struct ohsm_vpc_eni *enis, size_t ne, struct ohsm_aws_err *e)
{
    for (size_t i = 0; i < ne; i++) {
        if (strcmp(enis[i].group_id, sg_id) == 0) {
            OHSM_TRY(ohsm_vpc_eni_delete(db, region, enis[i].id, true, e));
        }
    }
    return ohsm_vpc_sg_delete(db, region, sg_id, e);
}

/* Removes every group named name in region (any VPC) with its ENIs, except the one of vpc keep
 * (NULL: none kept), whose id goes to kept ("" when there is none). */
static ohsm_rv drop_groups(sqlite3 *db, const char *region, const char *name, const char *keep,
                           char kept[OHSM_VPC_ID_MAX], struct ohsm_aws_err *e)
{
    struct ohsm_vpc_sg *gs = NULL;
    struct ohsm_vpc_eni *enis = NULL;
    size_t ng = 0, ne = 0;
    ohsm_rv rv;

    kept[0] = '\0';
    rv = ohsm_vpc_sg_list(db, region, &gs, &ng, e);
    if (rv == OHSM_OK) {
        rv = ohsm_vpc_eni_list(db, region, &enis, &ne, e);
    }
    for (size_t i = 0; rv == OHSM_OK && i < ng; i++) {
        if (strcmp(gs[i].name, name) != 0) {
            continue;
        }
        if (keep != NULL && kept[0] == '\0' && strcmp(gs[i].vpc_id, keep) == 0) {
            memcpy(kept, gs[i].id, sizeof(gs[i].id));
            continue;
        }
        rv = drop_group(db, region, gs[i].id, enis, ne, e);
    }
    free(gs);
    free(enis);
    return rv;
}

/* The cluster's ENI code of a failed ohsm_vpc_eni_create / subnet lookup. */
static uint32_t eni_code(const struct ohsm_aws_err *e)
{
    if (strcmp(e->type, "InsufficientFreeAddressesInSubnet") == 0) {
        return OHSM_CKSE_INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET;
    }
    if (strcmp(e->type, "InvalidSubnetID.NotFound") == 0) {
        return OHSM_CKSE_SUBNET_NOT_FOUND;
    }
    return OHSM_CKSE_INTERNAL_ERROR;
}

/* Makes group name in vpc (or keeps it) and exactly one ENI of it, described desc, in each
 * subnet of v; ENIs of the group elsewhere or described otherwise are removed. */
static ohsm_rv build_net(struct ohsm_cloud *c, const char *region, const char *vpc,
                         const char *name, const char *desc, const struct ohsm_kms_cv *v,
                         uint32_t *code)
{
    sqlite3 *db = ohsm_meta_sqlite(c->meta);
    struct ohsm_vpc_eni *enis = NULL;
    size_t ne = 0;
    char sg[OHSM_VPC_ID_MAX];
    bool have[OHSM_KMS_CV_SUBNETS] = {false};
    struct ohsm_aws_err e;
    ohsm_rv rv;

    memset(&e, 0, sizeof(e));
    *code = OHSM_CKSE_INTERNAL_ERROR;
    /* Every subnet first: SUBNET_NOT_FOUND whatever else would fail. */
    for (size_t i = 0; i < v->n_subnets; i++) {
        struct ohsm_vpc_subnet s;
        rv = ohsm_vpc_subnet_get(db, region, v->subnets[i].id, &s, &e);
        if (rv == OHSM_OK && strcmp(s.vpc_id, vpc) != 0) {
            rv = OHSM_DB; /* the cluster's subnets are of its VPC */
        }
        if (rv != OHSM_OK) {
            *code = eni_code(&e);
            return rv;
        }
    }
    rv = drop_groups(db, region, name, vpc, sg, &e);
    if (rv == OHSM_OK && sg[0] == '\0') {
        rv = ohsm_vpc_sg_create_named(db, region, c->account_id, vpc, name, sg, sizeof(sg), &e);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_vpc_eni_list(db, region, &enis, &ne, &e);
    }
    /* Keep one ENI per subnet of the cluster, made for this cluster; remove the rest. */
    for (size_t i = 0; rv == OHSM_OK && i < ne; i++) {
        if (strcmp(enis[i].group_id, sg) != 0) {
            continue;
        }
        bool keep = false;
        for (size_t k = 0; k < v->n_subnets && !keep; k++) {
            if (!have[k] && strcmp(enis[i].subnet_id, v->subnets[k].id) == 0 &&
                strcmp(enis[i].description, desc) == 0 && enis[i].requester_managed) {
                have[k] = keep = true;
            }
        }
        if (!keep) {
            rv = ohsm_vpc_eni_delete(db, region, enis[i].id, true, &e);
        }
    }
    for (size_t k = 0; rv == OHSM_OK && k < v->n_subnets; k++) {
        struct ohsm_vpc_eni_req req = {.subnet_id = v->subnets[k].id,
                                       .description = desc,
                                       .group_id = sg,
                                       .requester_managed = true};
        if (!have[k]) {
            rv = ohsm_vpc_eni_create(db, region, c->account_id, &req, NULL, &e);
        }
    }
    free(enis);
    if (rv != OHSM_OK) {
        *code = eni_code(&e);
    }
    return rv;
}

/* Removes the network of store name (every group of that name in region, with its ENIs) in one
 * transaction; says why on stderr when it cannot. c->lock held, no transaction open. */
static void remove_net(struct ohsm_cloud *c, const char *region, const char *name)
{
    char kept[OHSM_VPC_ID_MAX];
    struct ohsm_aws_err e;
    memset(&e, 0, sizeof(e));
    ohsm_rv rv = ohsm_meta_begin(c->meta);
    if (rv == OHSM_OK) {
        rv = drop_groups(ohsm_meta_sqlite(c->meta), region, name, NULL, kept, &e);
        rv = rv == OHSM_OK ? ohsm_meta_commit(c->meta) : rv;
        if (rv != OHSM_OK) {
            ohsm_meta_rollback(c->meta);
        }
    }
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsmd: cannot remove the KMS network %s in %s: %s%s%s\n", name, region,
                ohsm_rv_str(rv), e.type[0] != '\0' ? ": " : "", e.type);
    }
}

static ohsm_rv kc_net_up(void *ctx, const char *region, const char *cluster_id, const char *cks_id,
                         uint32_t *code)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_kms_cv v;
    char name[SG_NAME_MAX], desc[OHSM_VPC_DESC_MAX];
    char *vpc = NULL;
    bool tx = false;
    ohsm_rv rv;

    OHSM_ENSURE(code != NULL, OHSM_ARGUMENTS_BAD);
    *code = OHSM_CKSE_INTERNAL_ERROR;
    OHSM_ENSURE(c != NULL && ohsm_vpc_region_valid(region) && cluster_id != NULL &&
                    cks_id_valid(cks_id),
                OHSM_DB);
    memset(&v, 0, sizeof(v));
    (void)snprintf(name, sizeof(name), "%s%s", OHSM_KMS_NET_SG_PREFIX, cks_id);
    (void)pthread_mutex_lock(&c->lock);
    rv = ohsm_meta_begin(c->meta);
    if (rv != OHSM_OK) {
        goto out;
    }
    tx = true;
    rv = view_locked(c, region, cluster_id, &v);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (!v.exists) {
        *code = OHSM_CKSE_CLUSTER_NOT_FOUND;
        rv = OHSM_DEVICE_ERROR;
        goto out;
    }
    rv = ohsm_meta_attr_get(c->meta, cluster_id, OHSM_CA_VPC, &vpc);
    if (rv != OHSM_OK || vpc == NULL || !ohsm_vpc_id_valid("vpc-", vpc)) {
        rv = OHSM_DB;
        goto out;
    }
    int n = snprintf(desc, sizeof(desc), "%s%s", OHSM_KMS_NET_ENI_DESC, cluster_id);
    if (n < 0 || (size_t)n >= sizeof(desc)) {
        rv = OHSM_DB;
        goto out;
    }
    rv = build_net(c, region, vpc, name, desc, &v, code);
    if (rv == OHSM_OK) {
        rv = ohsm_meta_commit(c->meta);
        tx = rv != OHSM_OK;
    }
out:
    if (tx) {
        ohsm_meta_rollback(c->meta);
    }
    if (rv != OHSM_OK) {
        /* Nothing of this store's network is left: also not what an earlier connect made. */
        remove_net(c, region, name);
        bool cause = *code == OHSM_CKSE_CLUSTER_NOT_FOUND || *code == OHSM_CKSE_SUBNET_NOT_FOUND ||
                     *code == OHSM_CKSE_INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET;
        rv = cause ? OHSM_DEVICE_ERROR : OHSM_DB;
        *code = cause ? *code : OHSM_CKSE_INTERNAL_ERROR;
    } else {
        *code = OHSM_CKSE_NONE;
    }
    (void)pthread_mutex_unlock(&c->lock);
    free(vpc);
    cv_free(&v);
    return rv;
}

static void kc_net_down(void *ctx, const char *region, const char *cks_id)
{
    struct ohsm_cloud *c = ctx;
    char name[SG_NAME_MAX];
    if (c == NULL || !ohsm_vpc_region_valid(region) || !cks_id_valid(cks_id)) {
        fprintf(stderr, "openhsmd: KMS network: refused a malformed region or key store id\n");
        return;
    }
    (void)snprintf(name, sizeof(name), "%s%s", OHSM_KMS_NET_SG_PREFIX, cks_id);
    (void)pthread_mutex_lock(&c->lock);
    remove_net(c, region, name);
    (void)pthread_mutex_unlock(&c->lock);
}

void ohsm_cloud_kms_clusters(struct ohsm_cloud *c, struct ohsm_kms_clusters *out)
{
    out->ctx = c;
    out->view = kc_view;
    out->net_up = kc_net_up;
    out->net_down = kc_net_down;
}
