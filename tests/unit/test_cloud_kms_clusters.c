/* SPDX-License-Identifier: Apache-2.0
 * openhsmd's view of its clusters for KMS's CloudHSM key stores (cloud/kms_clusters.c) over a real
 * metadata database with the VPC tables: a cluster's state, certificates (the backup lineage),
 * subnets (deleted ones, free addresses, KMS ENIs) and HSMs; a cluster of another region, a
 * DELETED or missing one is not found. The network of a connection: net_up makes the group
 * "kms-<store id>" and one requester-managed ENI per subnet with AWS's description, again and
 * again without making more; each failure (cluster gone, subnet deleted, subnet full) is its code
 * and leaves nothing of the store; net_down removes it all. And the named security groups of the
 * VPC model (cloud/vpc.c) the connection's group is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cloud/cloud.h"
#include "cloud/cp_int.h"
#include "cloud/files.h"
#include "cloud/kms_clusters.h"
#include "cloud/meta.h"
#include "cloud/vpc.h"
#include "http/http.h"

#define ACCOUNT "111122223333"
#define REGION "us-east-1"
#define CID "cluster-abcdefghijk"
#define CID_WEST "cluster-westwestwes"
#define CID_GONE "cluster-gonegonegon"
#define CKS "cks-0123456789abcdef0"
#define CKS2 "cks-fedcba98765432100"
#define DESC "KMS managed ENI for cluster " CID
#define ANCHOR "-----BEGIN CERTIFICATE-----\nanchor\n-----END CERTIFICATE-----\n"
#define CERT "-----BEGIN CERTIFICATE-----\ncluster\n-----END CERTIFICATE-----\n"

struct fx {
    char dir[64];
    struct ohsm_meta *meta;
    struct ohsm_cloud c;
    struct ohsm_kms_clusters kc;
    sqlite3 *db;
    char vpc[OHSM_VPC_ID_MAX];
    char sub[3][OHSM_VPC_ID_MAX]; /* /28s in us-east-1a, b, c (c is not the cluster's) */
    char sg[OHSM_VPC_ID_MAX];
};

static void subnet(struct fx *f, const char *cidr, int az, char *out)
{
    struct ohsm_cidr c;
    struct ohsm_vpc_subnet s;
    struct ohsm_aws_err e;
    assert_int_equal(ohsm_cidr_parse(cidr, &c, NULL), OHSM_OK);
    assert_int_equal(ohsm_vpc_subnet_create(f->db, REGION, ACCOUNT, f->vpc, &c, az, &s, &e),
                     OHSM_OK);
    memcpy(out, s.id, sizeof(s.id));
}

static void attr(struct fx *f, const char *id, const char *k, const char *v)
{
    assert_int_equal(ohsm_meta_attr_set(f->meta, id, k, v), OHSM_OK);
}

static void add_cluster(struct fx *f, const char *cid, enum ohsm_meta_cstate st)
{
    struct ohsm_meta_cluster cl;
    memset(&cl, 0, sizeof(cl));
    snprintf(cl.id, sizeof(cl.id), "%s", cid);
    cl.state = st;
    snprintf(cl.hsm_type, sizeof(cl.hsm_type), "hsm1.medium");
    cl.lockout_attempts = 5;
    assert_int_equal(ohsm_meta_cluster_add(f->meta, &cl), OHSM_OK);
}

static void add_hsm(struct fx *f, const char *hid, uint32_t seq, enum ohsm_meta_hstate st,
                    const char *az)
{
    struct ohsm_meta_hsm h;
    memset(&h, 0, sizeof(h));
    snprintf(h.id, sizeof(h.id), "%s", hid);
    snprintf(h.cluster_id, sizeof(h.cluster_id), "%s", CID);
    snprintf(h.host, sizeof(h.host), "127.0.0.1");
    h.seq = seq;
    h.port = (uint16_t)(41000 + seq);
    h.state = st;
    assert_int_equal(ohsm_meta_hsm_add(f->meta, &h), OHSM_OK);
    attr(f, hid, OHSM_HA_AZ, az);
}

/* A user's ENI (not requester-managed) in subnet sid. */
static void user_eni(struct fx *f, const char *sid, char *id_out)
{
    struct ohsm_vpc_eni_req req = {.subnet_id = sid};
    struct ohsm_vpc_eni e;
    struct ohsm_aws_err err;
    assert_int_equal(ohsm_vpc_eni_create(f->db, REGION, ACCOUNT, &req, &e, &err), OHSM_OK);
    if (id_out != NULL) {
        memcpy(id_out, e.id, sizeof(e.id));
    }
}

/* The cluster CID of REGION: ACTIVE, initialized, on subnets a and b of its own VPC (the JSON
 * names b first), HSMs in a, b and a DELETED one, an HSM ENI in subnet a. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct ohsm_cidr c;
    struct ohsm_vpc_vpc v;
    struct ohsm_aws_err e;
    char path[128], json[256];
    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "/tmp/ohsm-kc-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/openhsmd.db", f->dir);
    assert_int_equal(ohsm_meta_open(path, &f->meta), OHSM_OK);
    f->db = ohsm_meta_sqlite(f->meta);
    /* What ohsm_cloud_init sets that the view uses (it needs no supervisor). */
    f->c.meta = f->meta;
    snprintf(f->c.data_dir, sizeof(f->c.data_dir), "%s", f->dir);
    snprintf(f->c.region, sizeof(f->c.region), REGION);
    snprintf(f->c.account_id, sizeof(f->c.account_id), ACCOUNT);
    assert_int_equal(pthread_mutex_init(&f->c.lock, NULL), 0);
    assert_int_equal(ohsm_vpc_init(f->db), OHSM_OK);
    assert_int_equal(ohsm_vpc_ensure_region(f->db, REGION, ACCOUNT, &e), OHSM_OK);
    assert_int_equal(ohsm_cidr_parse("10.0.0.0/16", &c, NULL), OHSM_OK);
    assert_int_equal(ohsm_vpc_create(f->db, REGION, ACCOUNT, &c, &v, &e), OHSM_OK);
    memcpy(f->vpc, v.id, sizeof(v.id));
    subnet(f, "10.0.1.0/28", 0, f->sub[0]);
    subnet(f, "10.0.2.0/28", 1, f->sub[1]);
    subnet(f, "10.0.3.0/28", 2, f->sub[2]);
    add_cluster(f, CID, OHSM_CS_ACTIVE);
    assert_int_equal(
        ohsm_vpc_sg_create(f->db, REGION, ACCOUNT, f->vpc, CID, f->sg, sizeof(f->sg), &e), OHSM_OK);
    snprintf(json, sizeof(json), "{\"us-east-1b\":\"%s\",\"us-east-1a\":\"%s\"}", f->sub[1],
             f->sub[0]);
    attr(f, CID, OHSM_CA_REGION, REGION);
    attr(f, CID, OHSM_CA_VPC, f->vpc);
    attr(f, CID, OHSM_CA_SG, f->sg);
    attr(f, CID, OHSM_CA_SUBNETS, json);
    attr(f, CID, OHSM_CA_TRUST_ANCHOR, ANCHOR);
    attr(f, CID, OHSM_CA_CLUSTER_CERT, CERT);
    add_hsm(f, "hsm-bbbbbbbbbbb", 2, OHSM_HS_CREATE_IN_PROGRESS, "us-east-1b");
    add_hsm(f, "hsm-aaaaaaaaaaa", 0, OHSM_HS_ACTIVE, "us-east-1a");
    add_hsm(f, "hsm-ddddddddddd", 1, OHSM_HS_DELETED, "us-east-1b");
    user_eni(f, f->sub[0], NULL); /* stands for the HSM's ENI: one address fewer */
    ohsm_cloud_kms_clusters(&f->c, &f->kc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ohsm_meta_close(f->meta);
    pthread_mutex_destroy(&f->c.lock);
    if (ohsm_files_remove_tree(f->dir) != OHSM_OK) {
        fprintf(stderr, "cannot remove %s\n", f->dir);
    }
    free(f);
    return 0;
}

static ohsm_rv view(struct fx *f, const char *region, const char *cid, struct ohsm_kms_cv *v)
{
    return f->kc.view(f->kc.ctx, region, cid, v);
}

static void cv_free(struct ohsm_kms_cv *v)
{
    free(v->trust_anchor);
    free(v->cluster_cert);
    memset(v, 0, sizeof(*v));
}

/* Everything of the VPC tables: groups and ENIs, as one text, to compare before and after. */
static void snapshot(struct fx *f, char *out, size_t cap)
{
    struct ohsm_vpc_sg *gs = NULL;
    struct ohsm_vpc_eni *es = NULL;
    size_t ng = 0, ne = 0, k = 0;
    struct ohsm_aws_err e;
    assert_int_equal(ohsm_vpc_sg_list(f->db, REGION, &gs, &ng, &e), OHSM_OK);
    assert_int_equal(ohsm_vpc_eni_list(f->db, REGION, &es, &ne, &e), OHSM_OK);
    out[0] = '\0';
    for (size_t i = 0; i < ng; i++) {
        k += (size_t)snprintf(out + k, cap - k, "%s %s %s;", gs[i].id, gs[i].vpc_id, gs[i].name);
        assert_true(k < cap);
    }
    for (size_t i = 0; i < ne; i++) {
        k += (size_t)snprintf(out + k, cap - k, "%s %s %s %s;", es[i].id, es[i].subnet_id,
                              es[i].group_id, es[i].ip_text);
        assert_true(k < cap);
    }
    free(gs);
    free(es);
}

/* The groups named name (ids into ids, at most 4) and the ENIs of those groups (into enis). */
static size_t groups_named(struct fx *f, const char *name, char ids[4][OHSM_VPC_ID_MAX])
{
    struct ohsm_vpc_sg *gs = NULL;
    size_t ng = 0, n = 0;
    struct ohsm_aws_err e;
    assert_int_equal(ohsm_vpc_sg_list(f->db, REGION, &gs, &ng, &e), OHSM_OK);
    for (size_t i = 0; i < ng; i++) {
        if (strcmp(gs[i].name, name) == 0) {
            assert_true(n < 4);
            memcpy(ids[n++], gs[i].id, sizeof(gs[i].id));
        }
    }
    free(gs);
    return n;
}

static size_t enis_of(struct fx *f, const char *sg, struct ohsm_vpc_eni out[8])
{
    struct ohsm_vpc_eni *es = NULL;
    size_t ne = 0, n = 0;
    struct ohsm_aws_err e;
    assert_int_equal(ohsm_vpc_eni_list(f->db, REGION, &es, &ne, &e), OHSM_OK);
    for (size_t i = 0; i < ne; i++) {
        if (strcmp(es[i].group_id, sg) == 0) {
            assert_true(n < 8);
            out[n++] = es[i];
        }
    }
    free(es);
    return n;
}

/* ---- view ---- */

/* An existing cluster: its state, certificate copies, group, subnets in AZ order with their free
 * addresses, HSMs not DELETED in seq order with AZ and state; client.json once it exists. */
static void test_kc_view_existing(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_cv v;
    char dir[128], path[160];

    assert_int_equal(view(f, REGION, CID, &v), OHSM_OK);
    assert_true(v.exists);
    assert_string_equal(v.state, "ACTIVE");
    assert_string_equal(v.trust_anchor, ANCHOR);
    assert_string_equal(v.cluster_cert, CERT);
    assert_string_equal(v.sg, f->sg);
    assert_int_equal(v.n_subnets, 2);
    assert_string_equal(v.subnets[0].az, "us-east-1a");
    assert_string_equal(v.subnets[0].id, f->sub[0]);
    assert_true(v.subnets[0].exists);
    assert_int_equal(v.subnets[0].free, 10); /* 11 in a /28, one ENI */
    assert_false(v.subnets[0].kms_eni);
    assert_string_equal(v.subnets[1].az, "us-east-1b");
    assert_string_equal(v.subnets[1].id, f->sub[1]);
    assert_true(v.subnets[1].exists);
    assert_int_equal(v.subnets[1].free, 11);
    assert_int_equal(v.n_hsms, 2);
    assert_string_equal(v.hsms[0].id, "hsm-aaaaaaaaaaa");
    assert_string_equal(v.hsms[0].az, "us-east-1a");
    assert_string_equal(v.hsms[0].state, "ACTIVE");
    assert_string_equal(v.hsms[1].id, "hsm-bbbbbbbbbbb");
    assert_string_equal(v.hsms[1].az, "us-east-1b");
    assert_string_equal(v.hsms[1].state, "CREATE_IN_PROGRESS");
    assert_string_equal(v.client_json, "");
    cv_free(&v);

    snprintf(dir, sizeof(dir), "%s/clusters", f->dir);
    assert_int_equal(ohsm_files_mkdir(dir), OHSM_OK);
    snprintf(dir, sizeof(dir), "%s/clusters/" CID, f->dir);
    assert_int_equal(ohsm_files_mkdir(dir), OHSM_OK);
    snprintf(path, sizeof(path), "%s/client.json", dir);
    assert_int_equal(ohsm_files_write_atomic(path, "{}", 2, 0644), OHSM_OK);
    assert_int_equal(view(f, REGION, CID, &v), OHSM_OK);
    assert_string_equal(v.client_json, path);
    cv_free(&v);

    /* A cluster before InitializeCluster has neither certificate. */
    attr(f, CID, OHSM_CA_TRUST_ANCHOR, NULL);
    attr(f, CID, OHSM_CA_CLUSTER_CERT, NULL);
    assert_int_equal(view(f, REGION, CID, &v), OHSM_OK);
    assert_true(v.exists);
    assert_null(v.trust_anchor);
    assert_null(v.cluster_cert);
    cv_free(&v);
}

/* Missing, of another region, DELETED: exists false and nothing else; bad arguments refused. */
static void test_kc_view_not_found(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_cv v;

    assert_int_equal(view(f, REGION, "cluster-zzzzzzzzzzz", &v), OHSM_OK);
    assert_false(v.exists);
    assert_null(v.trust_anchor);
    assert_int_equal(v.n_subnets, 0);
    assert_int_equal(view(f, REGION, "", &v), OHSM_OK);
    assert_false(v.exists);
    assert_int_equal(view(f, REGION, "not a cluster id'; --", &v), OHSM_OK);
    assert_false(v.exists);

    add_cluster(f, CID_WEST, OHSM_CS_ACTIVE);
    attr(f, CID_WEST, OHSM_CA_REGION, "us-west-2");
    attr(f, CID_WEST, OHSM_CA_TRUST_ANCHOR, ANCHOR);
    assert_int_equal(view(f, REGION, CID_WEST, &v), OHSM_OK);
    assert_false(v.exists);
    assert_null(v.trust_anchor);
    assert_int_equal(view(f, "us-west-2", CID_WEST, &v), OHSM_OK);
    assert_true(v.exists);
    assert_int_equal(v.n_subnets, 0); /* no subnets recorded */
    cv_free(&v);
    assert_int_equal(view(f, "us-west-2", CID, &v), OHSM_OK);
    assert_false(v.exists);

    add_cluster(f, CID_GONE, OHSM_CS_DELETE_IN_PROGRESS);
    attr(f, CID_GONE, OHSM_CA_REGION, REGION);
    assert_int_equal(view(f, REGION, CID_GONE, &v), OHSM_OK);
    assert_true(v.exists);
    assert_string_equal(v.state, "DELETE_IN_PROGRESS");
    cv_free(&v);
    assert_int_equal(ohsm_meta_cluster_set_state(f->meta, CID_GONE, OHSM_CS_DELETED), OHSM_OK);
    assert_int_equal(view(f, REGION, CID_GONE, &v), OHSM_OK);
    assert_false(v.exists);
    assert_string_equal(v.state, "");

    assert_int_equal(f->kc.view(f->kc.ctx, NULL, CID, &v), OHSM_ARGUMENTS_BAD);
    assert_int_equal(f->kc.view(f->kc.ctx, REGION, NULL, &v), OHSM_ARGUMENTS_BAD);
    assert_int_equal(f->kc.view(f->kc.ctx, REGION, CID, NULL), OHSM_ARGUMENTS_BAD);
}

/* A subnet deleted with ec2 delete-subnet (it had no ENI) is reported, not hidden. */
static void test_kc_view_subnet_deleted(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_cv v;
    struct ohsm_aws_err e;
    assert_int_equal(ohsm_vpc_subnet_delete(f->db, REGION, f->sub[1], &e), OHSM_OK);
    assert_int_equal(view(f, REGION, CID, &v), OHSM_OK);
    assert_true(v.exists);
    assert_int_equal(v.n_subnets, 2);
    assert_true(v.subnets[0].exists);
    assert_string_equal(v.subnets[1].id, f->sub[1]);
    assert_false(v.subnets[1].exists);
    assert_int_equal(v.subnets[1].free, 0);
    cv_free(&v);
}

/* Damaged attributes are OHSM_DB, never half-trusted; the view is left empty. */
static void test_kc_view_damaged(void **state)
{
    struct fx *f = *state;
    struct ohsm_kms_cv v;
    static const char *const bad[] = {
        "not json",
        "[\"subnet-0123456789abcdef0\"]",
        "{\"us-east-1a\": 5}",
        "{\"us-east-1a\": \"subnet-x\"}",
        "{\"\": \"subnet-0123456789abcdef0\"}",
        "{\"a\":\"subnet-0123456789abcdef0\",\"b\":\"subnet-0123456789abcdef1\","
        "\"c\":\"subnet-0123456789abcdef2\",\"d\":\"subnet-0123456789abcdef3\","
        "\"e\":\"subnet-0123456789abcdef4\",\"f\":\"subnet-0123456789abcdef5\","
        "\"g\":\"subnet-0123456789abcdef6\",\"h\":\"subnet-0123456789abcdef7\","
        "\"i\":\"subnet-0123456789abcdef8\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        attr(f, CID, OHSM_CA_SUBNETS, bad[i]);
        assert_int_equal(view(f, REGION, CID, &v), OHSM_DB);
        assert_false(v.exists);
        assert_null(v.trust_anchor);
        assert_null(v.cluster_cert);
    }
    attr(f, CID, OHSM_CA_SUBNETS, "{}");
    attr(f, CID, OHSM_CA_SG, "not-a-group");
    assert_int_equal(view(f, REGION, CID, &v), OHSM_DB);
    assert_false(v.exists);
}

/* A cluster made from a backup of CID (CreateCluster --source-backup-id) reports CID's
 * certificate: the lineage KMS compares. */
static void test_kc_view_backup_lineage(void **state)
{
    struct fx *f = *state;
    struct ohsm_cloud *c = &f->c;
    struct ohsm_meta_backup b;
    struct ohsm_kms_cv v;
    memset(&b, 0, sizeof(b));
    snprintf(b.id, sizeof(b.id), "backup-bbbbbbbbbbb");
    snprintf(b.region, sizeof(b.region), REGION);
    snprintf(b.cluster_id, sizeof(b.cluster_id), CID);
    b.state = OHSM_BS_READY;
    assert_int_equal(ohsm_meta_backup_add(f->meta, &b), OHSM_OK);
    assert_int_equal(ohsm_cp_backup_inherit(c, CID, b.id), OHSM_OK); /* as a backup is taken */
    add_cluster(f, CID_WEST, OHSM_CS_UNINITIALIZED);
    attr(f, CID_WEST, OHSM_CA_REGION, REGION);
    attr(f, CID_WEST, OHSM_CA_SOURCE_BACKUP, b.id);
    assert_int_equal(ohsm_cp_backup_inherit(c, b.id, CID_WEST), OHSM_OK); /* as cp.c does */
    assert_int_equal(view(f, REGION, CID_WEST, &v), OHSM_OK);
    assert_true(v.exists);
    assert_string_equal(v.cluster_cert, CERT);
    assert_string_equal(v.trust_anchor, ANCHOR);
    cv_free(&v);
}

/* ---- net_up / net_down ---- */

/* net_up makes "kms-<id>" in the cluster's VPC and one requester-managed ENI per subnet of the
 * cluster, described as AWS describes it; again, it keeps them and makes nothing. */
static void test_kc_net_up_makes_and_keeps(void **state)
{
    struct fx *f = *state;
    char ids[4][OHSM_VPC_ID_MAX], before[4096], after[4096];
    struct ohsm_vpc_eni e1[8], e2[8];
    struct ohsm_vpc_sg *gs = NULL;
    struct ohsm_kms_cv v;
    struct ohsm_aws_err err;
    size_t ng = 0;
    uint32_t code = 99;

    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, &code), OHSM_OK);
    assert_int_equal(code, OHSM_CKSE_NONE);
    assert_int_equal(groups_named(f, "kms-" CKS, ids), 1);
    assert_int_equal(ohsm_vpc_sg_list(f->db, REGION, &gs, &ng, &err), OHSM_OK);
    for (size_t i = 0; i < ng; i++) {
        if (strcmp(gs[i].id, ids[0]) == 0) {
            assert_string_equal(gs[i].vpc_id, f->vpc);
            assert_string_equal(gs[i].owner, ACCOUNT);
        }
    }
    free(gs);
    assert_int_equal(enis_of(f, ids[0], e1), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(e1[i].description, DESC);
        assert_true(e1[i].requester_managed);
        assert_string_equal(e1[i].group_name, "kms-" CKS);
        assert_string_equal(e1[i].subnet_id, f->sub[i]); /* AZ order: a, then b */
        /* A user cannot delete them (EC2's in-use answer). */
        assert_int_equal(ohsm_vpc_eni_delete(f->db, REGION, e1[i].id, false, &err),
                         OHSM_ARGUMENTS_BAD);
    }
    assert_int_equal(view(f, REGION, CID, &v), OHSM_OK);
    assert_true(v.subnets[0].kms_eni && v.subnets[1].kms_eni);
    assert_int_equal(v.subnets[0].free, 9);
    assert_int_equal(v.subnets[1].free, 10);
    cv_free(&v);

    snapshot(f, before, sizeof(before));
    code = 99;
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, &code), OHSM_OK);
    assert_int_equal(code, OHSM_CKSE_NONE);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(enis_of(f, ids[0], e2), 2);
    assert_string_equal(e1[0].id, e2[0].id);
    assert_string_equal(e1[1].id, e2[1].id);

    /* Another store on the same cluster has its own group and ENIs. */
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS2, &code), OHSM_OK);
    assert_int_equal(groups_named(f, "kms-" CKS2, ids), 1);
    assert_int_equal(enis_of(f, ids[0], e2), 2);
}

/* What a crash or another cluster's connection left is repaired: an ENI of the store missing in
 * one subnet is made, a stray one (another subnet, another description) removed, a group of the
 * store in another VPC removed with its ENIs. */
static void test_kc_net_up_repairs(void **state)
{
    struct fx *f = *state;
    struct ohsm_cidr c;
    struct ohsm_vpc_vpc other;
    struct ohsm_vpc_subnet os;
    struct ohsm_aws_err err;
    char ids[4][OHSM_VPC_ID_MAX], sg[OHSM_VPC_ID_MAX], old_sg[OHSM_VPC_ID_MAX];
    struct ohsm_vpc_eni es[8];
    uint32_t code = 99;

    /* A group of the store in another VPC, with an ENI. */
    assert_int_equal(ohsm_cidr_parse("10.1.0.0/16", &c, NULL), OHSM_OK);
    assert_int_equal(ohsm_vpc_create(f->db, REGION, ACCOUNT, &c, &other, &err), OHSM_OK);
    assert_int_equal(ohsm_cidr_parse("10.1.1.0/28", &c, NULL), OHSM_OK);
    assert_int_equal(ohsm_vpc_subnet_create(f->db, REGION, ACCOUNT, other.id, &c, 0, &os, &err),
                     OHSM_OK);
    assert_int_equal(ohsm_vpc_sg_create_named(f->db, REGION, ACCOUNT, other.id, "kms-" CKS, old_sg,
                                              sizeof(old_sg), &err),
                     OHSM_OK);
    struct ohsm_vpc_eni_req r0 = {.subnet_id = os.id,
                                  .description = "KMS managed ENI for cluster cluster-other",
                                  .group_id = old_sg,
                                  .requester_managed = true};
    assert_int_equal(ohsm_vpc_eni_create(f->db, REGION, ACCOUNT, &r0, NULL, &err), OHSM_OK);
    /* The store's group in the cluster's VPC: a right ENI in a, a stray one in c, a wrongly
     * described one in b. */
    assert_int_equal(
        ohsm_vpc_sg_create_named(f->db, REGION, ACCOUNT, f->vpc, "kms-" CKS, sg, sizeof(sg), &err),
        OHSM_OK);
    struct ohsm_vpc_eni_req r1 = {
        .subnet_id = f->sub[0], .description = DESC, .group_id = sg, .requester_managed = true};
    struct ohsm_vpc_eni kept;
    assert_int_equal(ohsm_vpc_eni_create(f->db, REGION, ACCOUNT, &r1, &kept, &err), OHSM_OK);
    r1.subnet_id = f->sub[2];
    assert_int_equal(ohsm_vpc_eni_create(f->db, REGION, ACCOUNT, &r1, NULL, &err), OHSM_OK);
    r1.subnet_id = f->sub[1];
    r1.description = "something else";
    assert_int_equal(ohsm_vpc_eni_create(f->db, REGION, ACCOUNT, &r1, NULL, &err), OHSM_OK);

    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, &code), OHSM_OK);
    assert_int_equal(code, OHSM_CKSE_NONE);
    assert_int_equal(groups_named(f, "kms-" CKS, ids), 1);
    assert_string_equal(ids[0], sg);
    assert_int_equal(enis_of(f, old_sg, es), 0);
    assert_int_equal(enis_of(f, sg, es), 2);
    assert_string_equal(es[0].id, kept.id);
    assert_string_equal(es[1].subnet_id, f->sub[1]);
    assert_string_equal(es[1].description, DESC);
}

/* Each failure is its code (OHSM_DEVICE_ERROR) and leaves the VPC as it was. */
static void test_kc_net_up_failures(void **state)
{
    struct fx *f = *state;
    struct ohsm_aws_err err;
    char before[4096], after[4096], ids[4][OHSM_VPC_ID_MAX];
    uint32_t code = 99;

    snapshot(f, before, sizeof(before));
    /* No such cluster; one of another region. */
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, "cluster-zzzzzzzzzzz", CKS, &code),
                     OHSM_DEVICE_ERROR);
    assert_int_equal(code, OHSM_CKSE_CLUSTER_NOT_FOUND);
    code = 99;
    assert_int_equal(f->kc.net_up(f->kc.ctx, "us-west-2", CID, CKS, &code), OHSM_DEVICE_ERROR);
    assert_int_equal(code, OHSM_CKSE_CLUSTER_NOT_FOUND);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);

    /* Subnet b full: nothing is made in a either. */
    for (int i = 0; i < 11; i++) {
        user_eni(f, f->sub[1], NULL);
    }
    snapshot(f, before, sizeof(before));
    code = 99;
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, &code), OHSM_DEVICE_ERROR);
    assert_int_equal(code, OHSM_CKSE_INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(groups_named(f, "kms-" CKS, ids), 0);

    /* Subnet b emptied and deleted (as ec2 delete-subnet may, while the cluster exists). */
    struct ohsm_vpc_eni *es = NULL;
    size_t ne = 0;
    assert_int_equal(ohsm_vpc_eni_list(f->db, REGION, &es, &ne, &err), OHSM_OK);
    for (size_t i = 0; i < ne; i++) {
        if (strcmp(es[i].subnet_id, f->sub[1]) == 0) {
            assert_int_equal(ohsm_vpc_eni_delete(f->db, REGION, es[i].id, false, &err), OHSM_OK);
        }
    }
    free(es);
    assert_int_equal(ohsm_vpc_subnet_delete(f->db, REGION, f->sub[1], &err), OHSM_OK);
    snapshot(f, before, sizeof(before));
    code = 99;
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, &code), OHSM_DEVICE_ERROR);
    assert_int_equal(code, OHSM_CKSE_SUBNET_NOT_FOUND);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);

    /* Malformed store id or region: an internal error, nothing made. */
    code = 99;
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, "cks-1", &code), OHSM_DB);
    assert_int_equal(code, OHSM_CKSE_INTERNAL_ERROR);
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, "kms-0123456789abcdef0", &code), OHSM_DB);
    assert_int_equal(f->kc.net_up(f->kc.ctx, "nowhere", CID, CKS, &code), OHSM_DB);
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, NULL, CKS, &code), OHSM_DB);
    assert_int_equal(code, OHSM_CKSE_INTERNAL_ERROR);
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, NULL), OHSM_ARGUMENTS_BAD);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);
}

/* A connect that fails after an earlier one succeeded (the cluster was deleted meanwhile) leaves
 * nothing of the store either. */
static void test_kc_net_up_failure_removes_earlier(void **state)
{
    struct fx *f = *state;
    char before[4096], after[4096], ids[4][OHSM_VPC_ID_MAX];
    uint32_t code = 99;
    snapshot(f, before, sizeof(before));
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, &code), OHSM_OK);
    assert_int_equal(ohsm_meta_cluster_set_state(f->meta, CID, OHSM_CS_DELETED), OHSM_OK);
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, &code), OHSM_DEVICE_ERROR);
    assert_int_equal(code, OHSM_CKSE_CLUSTER_NOT_FOUND);
    assert_int_equal(groups_named(f, "kms-" CKS, ids), 0);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);
}

/* net_down removes the store's ENIs and group (also with the cluster gone), touches no other
 * store's, and is quiet when there is nothing. */
static void test_kc_net_down(void **state)
{
    struct fx *f = *state;
    char before[4096], mid[4096], after[4096], ids[4][OHSM_VPC_ID_MAX];
    struct ohsm_vpc_eni es[8];
    struct ohsm_kms_cv v;
    uint32_t code = 99;

    snapshot(f, before, sizeof(before));
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS2, &code), OHSM_OK);
    snapshot(f, mid, sizeof(mid));
    assert_int_equal(f->kc.net_up(f->kc.ctx, REGION, CID, CKS, &code), OHSM_OK);
    assert_int_equal(ohsm_meta_cluster_set_state(f->meta, CID, OHSM_CS_DELETED), OHSM_OK);
    f->kc.net_down(f->kc.ctx, REGION, CKS);
    assert_int_equal(groups_named(f, "kms-" CKS, ids), 0);
    snapshot(f, after, sizeof(after));
    assert_string_equal(mid, after);
    f->kc.net_down(f->kc.ctx, REGION, CKS);       /* nothing left: nothing happens */
    f->kc.net_down(f->kc.ctx, "us-west-2", CKS2); /* another region: nothing of it there */
    f->kc.net_down(f->kc.ctx, REGION, "cks-bad");
    f->kc.net_down(f->kc.ctx, NULL, CKS2);
    snapshot(f, after, sizeof(after));
    assert_string_equal(mid, after);
    assert_int_equal(groups_named(f, "kms-" CKS2, ids), 1);
    assert_int_equal(enis_of(f, ids[0], es), 2);
    assert_int_equal(ohsm_meta_cluster_set_state(f->meta, CID, OHSM_CS_ACTIVE), OHSM_OK);
    f->kc.net_down(f->kc.ctx, REGION, CKS2);
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);
    assert_int_equal(view(f, REGION, CID, &v), OHSM_OK);
    assert_false(v.subnets[0].kms_eni || v.subnets[1].kms_eni);
    cv_free(&v);
}

/* Threads racing net_up of one store and view of its cluster (KMS's handler threads and its
 * connection worker) end with exactly one group and one ENI per subnet, and every view whole. */
struct racer {
    struct fx *f;
    int fails;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < 10; i++) {
        struct ohsm_kms_cv v;
        uint32_t code = 99;
        if (r->f->kc.net_up(r->f->kc.ctx, REGION, CID, CKS, &code) != OHSM_OK ||
            code != OHSM_CKSE_NONE) {
            r->fails++;
        }
        if (view(r->f, REGION, CID, &v) != OHSM_OK || !v.exists || v.n_subnets != 2 ||
            v.n_hsms != 2 || v.trust_anchor == NULL) {
            r->fails++;
        }
        cv_free(&v);
    }
    return NULL;
}

static void test_kc_net_up_races(void **state)
{
    struct fx *f = *state;
    pthread_t t[4];
    struct racer r[4];
    char ids[4][OHSM_VPC_ID_MAX];
    struct ohsm_vpc_eni es[8];
    for (int i = 0; i < 4; i++) {
        r[i].f = f;
        r[i].fails = 0;
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(r[i].fails, 0);
    }
    assert_int_equal(groups_named(f, "kms-" CKS, ids), 1);
    assert_int_equal(enis_of(f, ids[0], es), 2);
    assert_string_equal(es[0].subnet_id, f->sub[0]);
    assert_string_equal(es[1].subnet_id, f->sub[1]);
}

/* ---- the VPC model's named groups ---- */

/* EC2's GroupName rules; a name is unique per VPC, not per region; the list is in creation
 * order with the facts of each group. */
static void test_kc_vpc_named_groups(void **state)
{
    struct fx *f = *state;
    struct ohsm_aws_err err;
    struct ohsm_vpc_sg *gs = NULL;
    size_t n = 0;
    char sg[OHSM_VPC_ID_MAX], sg2[OHSM_VPC_ID_MAX], before[4096], after[4096], long_name[300];
    memset(long_name, 'a', 255);
    long_name[255] = '\0';

    assert_true(ohsm_vpc_sg_name_valid("kms-cks-0123456789abcdef0"));
    assert_true(ohsm_vpc_sg_name_valid("My group ._-:/()#,@[]+=&;{}!$*"));
    assert_true(ohsm_vpc_sg_name_valid(long_name));
    long_name[255] = 'a';
    long_name[256] = '\0';
    assert_false(ohsm_vpc_sg_name_valid(long_name));
    assert_false(ohsm_vpc_sg_name_valid(""));
    assert_false(ohsm_vpc_sg_name_valid(NULL));
    assert_false(ohsm_vpc_sg_name_valid("sg-mine"));
    assert_false(ohsm_vpc_sg_name_valid("tab\there"));
    assert_false(ohsm_vpc_sg_name_valid("quote'"));
    assert_false(ohsm_vpc_sg_name_valid("caf\xc3\xa9"));

    snapshot(f, before, sizeof(before));
    memset(&err, 0, sizeof(err));
    assert_int_equal(
        ohsm_vpc_sg_create_named(f->db, REGION, ACCOUNT, f->vpc, "sg-mine", sg, sizeof(sg), &err),
        OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidParameterValue");
    assert_int_equal(ohsm_vpc_sg_create_named(f->db, REGION, ACCOUNT, "vpc-0123456789abcdef0", "x",
                                              sg, sizeof(sg), &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidVpcID.NotFound");
    assert_int_equal(ohsm_vpc_sg_create_named(f->db, REGION, ACCOUNT, f->vpc, "cloudhsm-" CID "-sg",
                                              sg, sizeof(sg), &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidGroup.Duplicate");
    snapshot(f, after, sizeof(after));
    assert_string_equal(before, after);

    assert_int_equal(
        ohsm_vpc_sg_create_named(f->db, REGION, ACCOUNT, f->vpc, "web", sg, sizeof(sg), &err),
        OHSM_OK);
    assert_true(ohsm_vpc_id_valid("sg-", sg));
    assert_int_equal(
        ohsm_vpc_sg_create_named(f->db, REGION, ACCOUNT, f->vpc, "web", sg2, sizeof(sg2), &err),
        OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidGroup.Duplicate");
    struct ohsm_vpc_vpc defv;
    struct ohsm_vpc_vpc *vs = NULL;
    size_t nv = 0;
    assert_int_equal(ohsm_vpc_list(f->db, REGION, &vs, &nv, &err), OHSM_OK);
    assert_true(nv >= 1 && vs[0].is_default);
    defv = vs[0];
    free(vs);
    assert_int_equal(
        ohsm_vpc_sg_create_named(f->db, REGION, ACCOUNT, defv.id, "web", sg2, sizeof(sg2), &err),
        OHSM_OK);

    assert_int_equal(ohsm_vpc_sg_list(f->db, REGION, &gs, &n, &err), OHSM_OK);
    assert_int_equal(n, 3);
    assert_string_equal(gs[0].id, f->sg);
    assert_string_equal(gs[0].name, "cloudhsm-" CID "-sg");
    assert_string_equal(gs[1].id, sg);
    assert_string_equal(gs[1].vpc_id, f->vpc);
    assert_string_equal(gs[2].id, sg2);
    assert_string_equal(gs[2].vpc_id, defv.id);
    assert_string_equal(gs[2].name, "web");
    assert_string_equal(gs[2].region, REGION);
    assert_true(gs[0].seq < gs[1].seq && gs[1].seq < gs[2].seq);
    free(gs);
    assert_int_equal(ohsm_vpc_sg_list(f->db, "us-west-2", &gs, &n, &err), OHSM_OK);
    assert_int_equal(n, 0);

    /* A row openhsmd did not write is refused. */
    assert_int_equal(sqlite3_exec(f->db, "UPDATE vpc_sgs SET name = 'sg-evil' WHERE name = 'web'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(ohsm_vpc_sg_list(f->db, REGION, &gs, &n, &err), OHSM_DB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kc_view_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_view_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_view_subnet_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_view_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_view_backup_lineage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_net_up_makes_and_keeps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_net_up_repairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_net_up_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_net_up_failure_removes_earlier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_net_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_net_up_races, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kc_vpc_named_groups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
