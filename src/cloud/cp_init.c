/* SPDX-License-Identifier: Apache-2.0
 *
 * A cluster's identity and initialization, as CloudHSM's: the first HSM makes the cluster key and
 * its CSR (with the HSM's identity certificates, pki.h); DescribeClusters shows them while the
 * cluster is UNINITIALIZED; the owner signs the CSR with their CA; InitializeCluster checks the
 * signed certificate and the trust anchor (ohsm_pki_check_init) and the worker installs them:
 * the trust anchor becomes the cluster's customerCA.crt, every HSM presents the signed cluster
 * certificate with the cluster key, and client.json is written for the tools.
 *
 * Files: DIR/private/<cid>/cluster.key (the cluster key, 0600); each HSM's hsm.key is a copy,
 * hsm.crt the HsmCertificate until initialization, the cluster certificate after.
 * DIR/pki/openhsm_{Manufacturer,Hardware}_Root.crt are the roots of the identity certificates
 * (their keys in DIR/private/pki/).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "cloud/cp_int.h"
#include "cloud/files.h"
#include "cloud/pki.h"
#include "cloud/provision.h"

#define NOT_FOUND "CloudHsmResourceNotFoundException"
#define INVALID "CloudHsmInvalidRequestException"
#define INTERNAL "CloudHsmInternalFailureException"
#define INIT_MSG "Cluster is initializing. State will change to INITIALIZED upon completion."

#define KEY_MAX 16384

static char *attr(struct ohsm_cloud *c, const char *id, const char *k)
{
    char *v = NULL;
    if (ohsm_meta_attr_get(c->meta, id, k, &v) != OHSM_OK) {
        return NULL;
    }
    return v;
}

json_t *ohsm_cp_certificates(struct ohsm_cloud *c, const struct ohsm_meta_cluster *cl)
{
    json_t *o = json_object();
    static const char *const before[][2] = {{OHSM_CA_CSR, "ClusterCsr"},
                                            {OHSM_CA_HSM_CERT, "HsmCertificate"},
                                            {OHSM_CA_AWS_HW_CERT, "AwsHardwareCertificate"},
                                            {OHSM_CA_MFR_HW_CERT,
                                             "ManufacturerHardwareCertificate"}};
    if (o == NULL) {
        return NULL;
    }
    /* The CSR and the identity certificates exist only until the cluster is initialized (UG:
     * verifying the HSM identity works only before initialization). */
    if (cl->state == OHSM_CS_UNINITIALIZED) {
        for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
            char *v = attr(c, cl->id, before[i][0]);
            if (v != NULL) {
                (void)json_object_set_new(o, before[i][1], json_string(v));
            }
            free(v);
        }
    }
    char *cc = attr(c, cl->id, OHSM_CA_CLUSTER_CERT);
    if (cc != NULL) {
        (void)json_object_set_new(o, "ClusterCertificate", json_string(cc));
    }
    free(cc);
    return o;
}

/* ---- InitializeCluster ---- */

json_t *ohsm_cp_initialize_cluster(void *ctx, const struct ohsm_http_call *call, json_t *in,
                                   struct ohsm_aws_err *err)
{
    struct ohsm_cloud *c = ctx;
    struct ohsm_meta_cluster cl;
    json_t *out = NULL;
    char why[256];
    char *csr = NULL;
    const char *cid = json_string_value(json_object_get(in, "ClusterId"));
    const char *signed_pem = json_string_value(json_object_get(in, "SignedCert"));
    const char *anchor = json_string_value(json_object_get(in, "TrustAnchor"));

    if (signed_pem == NULL || anchor == NULL) {
        ohsm_aws_errf(err, 400, INVALID, "SignedCert and TrustAnchor are required.");
        return NULL;
    }
    (void)pthread_mutex_lock(&c->lock);
    if (cid == NULL || ohsm_cp_find_cluster(c, call->region, cid, &cl) != OHSM_OK ||
        cl.state == OHSM_CS_DELETED) {
        ohsm_aws_errf(err, 400, NOT_FOUND, "Cluster %s not found.", cid != NULL ? cid : "");
        goto out;
    }
    if (cl.state != OHSM_CS_UNINITIALIZED) {
        ohsm_aws_errf(err, 400, INVALID, "Cluster %s is in state %s, not UNINITIALIZED.", cid,
                      ohsm_meta_cstate_name(cl.state));
        goto out;
    }
    csr = attr(c, cid, OHSM_CA_CSR);
    if (csr == NULL) {
        ohsm_aws_errf(err, 400, INVALID,
                      "Cluster %s has no CSR yet: create an HSM in it first.", cid);
        goto out;
    }
    if (ohsm_pki_check_init(csr, signed_pem, anchor, why, sizeof(why)) != OHSM_OK) {
        ohsm_aws_errf(err, 400, INVALID, "%s", why);
        goto out;
    }
    if (ohsm_meta_begin(c->meta) != OHSM_OK) {
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot record the change.");
        goto out;
    }
    if (ohsm_meta_attr_set(c->meta, cid, OHSM_CA_CLUSTER_CERT, signed_pem) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, cid, OHSM_CA_TRUST_ANCHOR, anchor) != OHSM_OK ||
        ohsm_meta_attr_set(c->meta, cid, OHSM_CA_MESSAGE, INIT_MSG) != OHSM_OK ||
        ohsm_meta_cluster_set_state(c->meta, cid, OHSM_CS_INITIALIZE_IN_PROGRESS) != OHSM_OK ||
        ohsm_meta_commit(c->meta) != OHSM_OK) {
        ohsm_meta_rollback(c->meta);
        ohsm_aws_errf(err, 500, INTERNAL, "Cannot record the change.");
        goto out;
    }
    out = json_pack("{s:s, s:s}", "State", "INITIALIZE_IN_PROGRESS", "StateMessage", INIT_MSG);
out:
    (void)pthread_mutex_unlock(&c->lock);
    free(csr);
    if (out != NULL) {
        ohsm_cloud_kick(c);
    }
    return out;
}

/* ---- the worker's part ---- */

static ohsm_rv cluster_key_path(struct ohsm_cloud *c, const char *cid, char *out, size_t cap)
{
    char pdir[4096];
    OHSM_TRY(ohsm_provision_private_dir(c->data_dir, cid, pdir, sizeof(pdir)));
    return ohsm_files_path(out, cap, "%s/cluster.key", pdir);
}

/* Copies a secret file (at most KEY_MAX bytes) to a new 0600 file, replacing to. */
static ohsm_rv copy_secret(const char *from, const char *to)
{
    unsigned char *buf = OPENSSL_secure_malloc(KEY_MAX);
    ohsm_rv rv = OHSM_IO;
    size_t n = 0;
    FILE *f = NULL;
    if (buf == NULL) {
        return OHSM_HOST_MEMORY;
    }
    f = fopen(from, "rbe");
    if (f != NULL) {
        n = fread(buf, 1, KEY_MAX, f);
        if (n > 0 && n < KEY_MAX && !ferror(f)) {
            rv = ohsm_files_write_atomic(to, buf, n, 0600);
        }
        fclose(f);
    }
    OPENSSL_secure_clear_free(buf, KEY_MAX);
    return rv;
}

/* The first HSM of a CSR cluster makes the cluster's identity (once: kept in the attributes,
 * the key in the private directory). c->lock not held. */
static ohsm_rv make_identity(struct ohsm_cloud *c, const char *cid, const char *hid)
{
    char keydir[4096], certdir[4096], kpath[4096], path[4096];
    struct ohsm_pki_roots roots;
    struct ohsm_pki_identity id;
    char *pem[4] = {NULL, NULL, NULL, NULL};
    ohsm_rv rv;

    memset(&roots, 0, sizeof(roots));
    memset(&id, 0, sizeof(id));
    OHSM_TRY(ohsm_files_path(keydir, sizeof(keydir), "%s/private/pki", c->data_dir));
    OHSM_TRY(ohsm_files_path(certdir, sizeof(certdir), "%s/pki", c->data_dir));
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/private", c->data_dir));
    OHSM_TRY(cluster_key_path(c, cid, kpath, sizeof(kpath)));
    if (ohsm_files_mkdir(path) != OHSM_OK || ohsm_files_mkdir(keydir) != OHSM_OK ||
        ohsm_files_mkdir(certdir) != OHSM_OK) {
        return OHSM_IO;
    }
    rv = ohsm_pki_roots_open(keydir, certdir, &roots);
    if (rv == OHSM_OK) {
        rv = ohsm_pki_hsm_identity(&roots, hid, 1, &id);
    }
    if (rv == OHSM_OK) {
        (void)unlink(kpath); /* a key of an identity never recorded (crash): replaced */
        rv = ohsm_pki_write_key(kpath, id.cluster_key);
    }
    if (rv == OHSM_OK && (rv = ohsm_pki_csr_pem(id.csr, &pem[0])) == OHSM_OK &&
        (rv = ohsm_pki_cert_pem(id.hsm_cert, &pem[1])) == OHSM_OK &&
        (rv = ohsm_pki_cert_pem(id.aws_hw_cert, &pem[2])) == OHSM_OK) {
        rv = ohsm_pki_cert_pem(id.mfr_hw_cert, &pem[3]);
    }
    if (rv == OHSM_OK) {
        (void)pthread_mutex_lock(&c->lock);
        if (ohsm_meta_begin(c->meta) != OHSM_OK ||
            ohsm_meta_attr_set(c->meta, cid, OHSM_CA_HSM_CERT, pem[1]) != OHSM_OK ||
            ohsm_meta_attr_set(c->meta, cid, OHSM_CA_AWS_HW_CERT, pem[2]) != OHSM_OK ||
            ohsm_meta_attr_set(c->meta, cid, OHSM_CA_MFR_HW_CERT, pem[3]) != OHSM_OK ||
            /* the CSR last: its presence says the identity is whole */
            ohsm_meta_attr_set(c->meta, cid, OHSM_CA_CSR, pem[0]) != OHSM_OK ||
            ohsm_meta_commit(c->meta) != OHSM_OK) {
            ohsm_meta_rollback(c->meta);
            rv = OHSM_DB;
        }
        (void)pthread_mutex_unlock(&c->lock);
    }
    for (size_t i = 0; i < 4; i++) {
        free(pem[i]);
    }
    ohsm_pki_identity_clear(&id);
    ohsm_pki_roots_clear(&roots);
    return rv;
}

ohsm_rv ohsm_cp_hsm_tls(struct ohsm_cloud *c, const char *cid, const char *hid)
{
    char hdir[4096], kpath[4096], crt[4096], key[4096];
    char *csr = NULL, *cert = NULL, *pki = NULL;
    ohsm_rv rv;

    (void)pthread_mutex_lock(&c->lock);
    pki = attr(c, cid, OHSM_CA_PKI);
    csr = attr(c, cid, OHSM_CA_CSR);
    (void)pthread_mutex_unlock(&c->lock);
    bool local = pki == NULL || strcmp(pki, "csr") != 0;
    free(pki);
    if (local) {
        /* Clusters of the first start (and of older data directories): one certificate per HSM
         * from openhsmd's local CA. */
        free(csr);
        char err[512];
        rv = ohsm_provision_hsm_files(c->data_dir, cid, hid, err, sizeof(err));
        if (rv != OHSM_OK) {
            fprintf(stderr, "openhsmd: %s: %s\n", hid, err);
        }
        return rv;
    }
    (void)pthread_mutex_lock(&c->lock);
    char *have_cert = attr(c, cid, OHSM_CA_CLUSTER_CERT);
    (void)pthread_mutex_unlock(&c->lock);
    /* A cluster of a backup's lineage has its certificate and key already. */
    bool need = csr == NULL && have_cert == NULL;
    free(have_cert);
    if (need) {
        rv = make_identity(c, cid, hid);
        if (rv != OHSM_OK) {
            fprintf(stderr, "openhsmd: %s: cannot make the cluster's identity: %s\n", hid,
                    ohsm_rv_str(rv));
            return rv;
        }
    }
    free(csr);
    (void)pthread_mutex_lock(&c->lock);
    cert = attr(c, cid, OHSM_CA_CLUSTER_CERT);
    if (cert == NULL) {
        cert = attr(c, cid, OHSM_CA_HSM_CERT);
    }
    (void)pthread_mutex_unlock(&c->lock);
    if (cert == NULL) {
        return OHSM_DB;
    }
    rv = ohsm_provision_hsm_dir(c->data_dir, cid, hid, hdir, sizeof(hdir));
    if (rv == OHSM_OK && (ohsm_files_mkdir(hdir) != OHSM_OK)) {
        rv = OHSM_IO;
    }
    if (rv == OHSM_OK && (rv = cluster_key_path(c, cid, kpath, sizeof(kpath))) == OHSM_OK &&
        (rv = ohsm_files_path(key, sizeof(key), "%s/hsm.key", hdir)) == OHSM_OK &&
        (rv = ohsm_files_path(crt, sizeof(crt), "%s/hsm.crt", hdir)) == OHSM_OK &&
        (rv = copy_secret(kpath, key)) == OHSM_OK) {
        rv = ohsm_files_write_atomic(crt, cert, strlen(cert), 0644);
    }
    free(cert);
    return rv;
}

void ohsm_cp_initialized(struct ohsm_cloud *c, const char *cid)
{
    char cdir[4096], path[4096];
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    char *anchor = NULL;

    (void)pthread_mutex_lock(&c->lock);
    anchor = attr(c, cid, OHSM_CA_TRUST_ANCHOR);
    ohsm_rv rv = ohsm_meta_hsm_list(c->meta, cid, &hs, &n);
    (void)pthread_mutex_unlock(&c->lock);
    if (anchor == NULL || rv != OHSM_OK ||
        ohsm_provision_cluster_dir(c->data_dir, cid, cdir, sizeof(cdir)) != OHSM_OK ||
        ohsm_files_path(path, sizeof(path), "%s/" OHSM_PROVISION_TRUST_ANCHOR, cdir) != OHSM_OK ||
        ohsm_files_write_atomic(path, anchor, strlen(anchor), 0644) != OHSM_OK) {
        fprintf(stderr, "openhsmd: cluster %s: cannot install its trust anchor\n", cid);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (hs[i].state != OHSM_HS_ACTIVE && hs[i].state != OHSM_HS_DEGRADED) {
            continue;
        }
        struct ohsm_sup_status st;
        bool was_held = ohsm_sup_status(c->sup, hs[i].id, &st) == OHSM_OK && st.held;
        /* The HSM presents its new certificate from its next start. */
        if (ohsm_cp_hsm_tls(c, cid, hs[i].id) != OHSM_OK ||
            ohsm_sup_hold(c->sup, hs[i].id) != OHSM_OK ||
            (!was_held && ohsm_sup_launch(c->sup, hs[i].id) != OHSM_OK)) {
            fprintf(stderr, "openhsmd: %s: cannot restart it with the cluster certificate\n",
                    hs[i].id);
            goto out;
        }
    }
    (void)pthread_mutex_lock(&c->lock);
    struct ohsm_meta_cluster cl;
    if (ohsm_cp_find_cluster(c, NULL, cid, &cl) == OHSM_OK &&
        cl.state == OHSM_CS_INITIALIZE_IN_PROGRESS &&
        (ohsm_meta_cluster_set_state(c->meta, cid, OHSM_CS_INITIALIZED) != OHSM_OK ||
         ohsm_cp_client_json(c, cid) != OHSM_OK ||
         ohsm_meta_attr_set(c->meta, cid, OHSM_CA_MESSAGE, NULL) != OHSM_OK)) {
        fprintf(stderr, "openhsmd: cluster %s: cannot record its state\n", cid);
    }
    (void)pthread_mutex_unlock(&c->lock);
out:
    free(anchor);
    free(hs);
}
