/* SPDX-License-Identifier: Apache-2.0
 *
 * The cluster of the first start (`make run`), made through the control plane's own handlers, as
 * a user would make one with the aws CLI: CreateCluster on the default subnets, CreateHsm in
 * turn over the AZs, the first HSM's CSR signed by a local CA that openhsmd makes in the owner's
 * place, InitializeCluster with it. The result is an initialized cluster, not yet activated, like
 * a new CloudHSM cluster after initialization.
 *
 * The CSR is signed before the HSM processes start, so they start once, already presenting the
 * cluster certificate. The local CA's key stays in DIR/private/<cluster-id>/customerCA.key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cloud/cp_int.h"
#include "cloud/files.h"
#include "cloud/pki.h"
#include "cloud/provision.h"
#include "cloud/vpc.h"

/* Calls the handler of op in the control plane's table. */
static json_t *call_op(struct ohsm_cloud *c, const char *op, json_t *in, struct ohsm_aws_err *err)
{
    const struct ohsm_json_service *svc = ohsm_cp_service(c);
    struct ohsm_http_call call = {"", "", c->region, c->account_id};
    for (size_t i = 0; i < svc->n_ops; i++) {
        if (strcmp(svc->ops[i].name, op) == 0) {
            return svc->ops[i].fn(c, &call, in, err);
        }
    }
    ohsm_aws_errf(err, 500, "InternalFailure", "no operation %s", op);
    return NULL;
}

/* The local CA: its certificate PEM into *ca_pem, the key written to the private directory. */
static ohsm_rv local_ca(struct ohsm_cloud *c, const char *cid, const char *csr, char **signed_pem,
                        char **ca_pem)
{
    char pdir[4096], path[4096];
    EVP_PKEY *key = NULL;
    X509 *ca = NULL;
    ohsm_rv rv = ohsm_provision_private_dir(c->data_dir, cid, pdir, sizeof(pdir));
    if (rv == OHSM_OK) {
        rv = ohsm_files_path(path, sizeof(path), "%s/" OHSM_PROVISION_CA_KEY, pdir);
    }
    if (rv == OHSM_OK && (rv = ohsm_pki_keygen(&key)) == OHSM_OK &&
        (rv = ohsm_pki_ca_cert(key, cid, &ca)) == OHSM_OK &&
        (rv = ohsm_pki_write_key(path, key)) == OHSM_OK &&
        (rv = ohsm_pki_sign_csr(csr, ca, key, signed_pem)) == OHSM_OK) {
        rv = ohsm_pki_cert_pem(ca, ca_pem);
    }
    EVP_PKEY_free(key);
    X509_free(ca);
    return rv;
}

ohsm_rv ohsm_cloud_bootstrap(struct ohsm_cloud *c, uint32_t n_hsms, char *cid_out, char *err,
                             size_t cap)
{
    struct ohsm_aws_err e;
    struct ohsm_vpc_subnet *sn = NULL;
    size_t n = 0, k = 0;
    json_t *in = NULL, *out = NULL;
    char cid[OHSM_IDS_MAX] = "", first[OHSM_IDS_MAX] = "";
    const char *az[OHSM_VPC_AZ_COUNT];
    char *csr = NULL, *signed_pem = NULL, *ca_pem = NULL;
    ohsm_rv rv = OHSM_DB;

    memset(&e, 0, sizeof(e));
    (void)pthread_mutex_lock(&c->lock);
    json_t *ids = json_array();
    if (ohsm_vpc_ensure_region(ohsm_meta_sqlite(c->meta), c->region, c->account_id, &e) ==
            OHSM_OK &&
        ohsm_vpc_subnet_list(ohsm_meta_sqlite(c->meta), c->region, &sn, &n, &e) == OHSM_OK) {
        for (size_t i = 0; i < n && k < OHSM_VPC_AZ_COUNT; i++) {
            if (sn[i].default_for_az) {
                az[k++] = sn[i].az;
                (void)json_array_append_new(ids, json_string(sn[i].id));
            }
        }
    }
    (void)pthread_mutex_unlock(&c->lock);
    if (k == 0) {
        (void)snprintf(err, cap, "no default subnets in %s: %s", c->region, e.msg);
        json_decref(ids);
        goto out;
    }
    in = json_pack("{s:s, s:o}", "HsmType", OHSM_META_HSM_TYPE_DEFAULT, "SubnetIds", ids);
    out = in != NULL ? call_op(c, "CreateCluster", in, &e) : NULL;
    if (out == NULL) {
        (void)snprintf(err, cap, "CreateCluster: %s", e.msg);
        goto out;
    }
    (void)snprintf(cid, sizeof(cid), "%s",
                   json_string_value(json_object_get(json_object_get(out, "Cluster"),
                                                     "ClusterId")));
    json_decref(in);
    json_decref(out);
    in = out = NULL;
    ohsm_cloud_reconcile(c); /* its files: UNINITIALIZED */
    for (uint32_t i = 0; i < n_hsms; i++) {
        in = json_pack("{s:s, s:s}", "ClusterId", cid, "AvailabilityZone", az[i % k]);
        out = in != NULL ? call_op(c, "CreateHsm", in, &e) : NULL;
        if (out == NULL) {
            (void)snprintf(err, cap, "CreateHsm: %s", e.msg);
            goto out;
        }
        if (i == 0) {
            (void)snprintf(first, sizeof(first), "%s",
                           json_string_value(json_object_get(json_object_get(out, "Hsm"),
                                                             "HsmId")));
        }
        json_decref(in);
        json_decref(out);
        in = out = NULL;
    }
    /* The first HSM's identity (cluster key and CSR), signed by the local CA, then installed. */
    if ((rv = ohsm_cp_hsm_tls(c, cid, first)) != OHSM_OK) {
        (void)snprintf(err, cap, "the cluster's identity: %s", ohsm_rv_str(rv));
        goto out;
    }
    (void)pthread_mutex_lock(&c->lock);
    rv = ohsm_meta_attr_get(c->meta, cid, OHSM_CA_CSR, &csr);
    (void)pthread_mutex_unlock(&c->lock);
    if (rv != OHSM_OK || csr == NULL || (rv = local_ca(c, cid, csr, &signed_pem, &ca_pem)) != OHSM_OK) {
        (void)snprintf(err, cap, "the local CA: %s", ohsm_rv_str(rv));
        rv = rv == OHSM_OK ? OHSM_DB : rv;
        goto out;
    }
    rv = OHSM_DB;
    in = json_pack("{s:s, s:s, s:s}", "ClusterId", cid, "SignedCert", signed_pem, "TrustAnchor",
                   ca_pem);
    out = in != NULL ? call_op(c, "InitializeCluster", in, &e) : NULL;
    if (out == NULL) {
        (void)snprintf(err, cap, "InitializeCluster: %s", e.msg);
        goto out;
    }
    ohsm_cloud_reconcile(c); /* HSMs started, the cluster INITIALIZED */
    struct ohsm_meta_cluster cl;
    struct ohsm_meta_hsm *hs = NULL;
    size_t nh = 0, up = 0;
    (void)pthread_mutex_lock(&c->lock);
    rv = ohsm_cp_find_cluster(c, NULL, cid, &cl);
    if (rv == OHSM_OK) {
        rv = ohsm_meta_hsm_list(c->meta, cid, &hs, &nh);
    }
    (void)pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < nh; i++) {
        up += hs[i].state == OHSM_HS_ACTIVE ? 1 : 0;
    }
    free(hs);
    if (rv == OHSM_OK && up != n_hsms) {
        (void)snprintf(err, cap, "%zu of its %u HSMs did not start", n_hsms - up, n_hsms);
        rv = OHSM_DEVICE_ERROR;
        goto out;
    }
    if (rv != OHSM_OK || cl.state != OHSM_CS_INITIALIZED) {
        (void)snprintf(err, cap, "cluster %s did not come up (state %s)", cid,
                       rv == OHSM_OK ? ohsm_meta_cstate_name(cl.state) : "unknown");
        rv = OHSM_DEVICE_ERROR;
        goto out;
    }
    (void)snprintf(cid_out, OHSM_IDS_MAX, "%s", cid);
    rv = OHSM_OK;
out:
    json_decref(in);
    json_decref(out);
    free(sn);
    free(csr);
    free(signed_pem);
    free(ca_pem);
    return rv;
}
