/* SPDX-License-Identifier: Apache-2.0
 *
 * The cluster side of the CloudHSM key stores' rules (cks.h), for their operations (op_cks.c):
 * AWS's cluster requirements (ohsm_kms_cks_check_cluster), the trust anchor and cluster
 * certificates compared as certificates (parsed PEM, DER compared: a PEM re-wrapped or with
 * other whitespace is the same certificate), and the backup lineage (a cluster in use by a store,
 * a cluster related to a store's). Clusters are read through k->clusters, openhsmd's view of its
 * control plane; a NULL view means no cluster exists. Certificates are untrusted text: what does
 * not parse is no certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kms/kms_int.h"

/* ---- certificates ---- */

/* The DER of the first certificate of PEM text pem (*der malloc'd by OpenSSL: OPENSSL_free).
 * Returns the length, or -1 when pem holds no certificate. */
static int pem_der(const char *pem, unsigned char **der)
{
    BIO *b;
    X509 *x = NULL;
    int n = -1;

    *der = NULL;
    if (pem == NULL || strlen(pem) > INT32_MAX) {
        return -1;
    }
    b = BIO_new_mem_buf(pem, (int)strlen(pem));
    if (b != NULL) {
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    }
    if (x != NULL) {
        n = i2d_X509(x, der);
    }
    if (n <= 0) {
        ERR_clear_error(); /* not a certificate: an answer, not an error to leave queued */
    }
    X509_free(x);
    BIO_free(b);
    return n;
}

/* Whether two PEM certificates are the same certificate (their DER compared). */
bool ohsm_kms_cks_same_cert(const char *a, const char *b)
{
    unsigned char *da = NULL, *db = NULL;
    int na = pem_der(a, &da);
    int nb = pem_der(b, &db);
    bool same = na > 0 && na == nb && memcmp(da, db, (size_t)na) == 0;
    OPENSSL_free(da);
    OPENSSL_free(db);
    return same;
}

/* ---- the cluster requirements ---- */

ohsm_rv ohsm_kms_cks_view(struct ohsm_kms *k, const char *region, const char *cluster_id,
                          struct ohsm_kms_cv *v)
{
    memset(v, 0, sizeof(*v));
    if (k->clusters.view == NULL) {
        return OHSM_OK; /* no control plane: no cluster exists */
    }
    ohsm_rv rv = k->clusters.view(k->clusters.ctx, region, cluster_id, v);
    if (rv != OHSM_OK) {
        ohsm_kms_cv_clear(v);
        memset(v, 0, sizeof(*v));
    }
    return rv;
}

static bool two_azs(const struct ohsm_kms_cv *v)
{
    size_t n = v->n_subnets < OHSM_KMS_CV_SUBNETS ? v->n_subnets : OHSM_KMS_CV_SUBNETS;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(v->subnets[i].az, v->subnets[j].az) != 0) {
                return true;
            }
        }
    }
    return false;
}

static bool two_active_hsms(const struct ohsm_kms_cv *v)
{
    size_t n = v->n_hsms < OHSM_KMS_CV_HSMS ? v->n_hsms : OHSM_KMS_CV_HSMS;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v->hsms[i].state, "ACTIVE") != 0) {
            continue;
        }
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(v->hsms[j].state, "ACTIVE") == 0 &&
                strcmp(v->hsms[i].az, v->hsms[j].az) != 0) {
                return true;
            }
        }
    }
    return false;
}

int ohsm_kms_cks_check_cluster(struct ohsm_kms *k, const char *region, const char *cluster_id,
                               uint32_t need, struct ohsm_kms_cv *view, struct ohsm_aws_err *err)
{
    struct ohsm_kms_cv v;
    int rc = -1;

    ohsm_rv rv = ohsm_kms_cks_view(k, region, cluster_id, &v);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "reading the cluster", rv);
        return -1;
    }
    if (!v.exists) {
        ohsm_kms_fail(err, "CloudHsmClusterNotFoundException",
                      "AWS KMS cannot find the AWS CloudHSM cluster %s.", cluster_id);
    } else if ((need & OHSM_CKS_NEED_ACTIVE) != 0 && strcmp(v.state, "ACTIVE") != 0 &&
               !((need & OHSM_CKS_ALLOW_DEGRADED) != 0 && strcmp(v.state, "DEGRADED") == 0)) {
        ohsm_kms_fail(err, "CloudHsmClusterNotActiveException",
                      "The AWS CloudHSM cluster %s is not active (its state is %s). Initialize "
                      "and activate the cluster and try again.",
                      cluster_id, v.state[0] != '\0' ? v.state : "unknown");
    } else if ((need & OHSM_CKS_NEED_TWO_AZ) != 0 && !two_azs(&v)) {
        ohsm_kms_fail(err, "CloudHsmClusterInvalidConfigurationException",
                      "The AWS CloudHSM cluster %s must be configured with private subnets in at "
                      "least two different Availability Zones in the Region.",
                      cluster_id);
    } else if ((need & OHSM_CKS_NEED_TWO_HSMS) != 0 && !two_active_hsms(&v)) {
        ohsm_kms_fail(err, "CloudHsmClusterInvalidConfigurationException",
                      "The AWS CloudHSM cluster %s must contain at least two active HSMs, each in "
                      "a different Availability Zone.",
                      cluster_id);
    } else {
        rc = 0;
    }
    if (view != NULL) {
        *view = v; /* the caller clears */
    } else {
        ohsm_kms_cv_clear(&v);
    }
    return rc;
}

/* Whether cluster_id, or a cluster sharing its cluster certificate (new_cert, may be NULL), is
 * the cluster of a store of the list other than except_id. Returns 0 (free), 1 (in use), or -1
 * with KMSInternalException. */
int ohsm_kms_cks_in_use(struct ohsm_kms *k, const char *region, const struct ohsm_kms_cks *stores,
                        size_t n, const char *except_id, const char *cluster_id,
                        const char *new_cert, struct ohsm_aws_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct ohsm_kms_cks *s = &stores[i];
        if (except_id != NULL && strcmp(s->id, except_id) == 0) {
            continue;
        }
        if (strcmp(s->cluster_id, cluster_id) == 0) {
            return 1;
        }
        if (new_cert == NULL) {
            continue;
        }
        struct ohsm_kms_cv v;
        ohsm_rv rv = ohsm_kms_cks_view(k, region, s->cluster_id, &v);
        if (rv != OHSM_OK) {
            ohsm_kms_internal(err, "reading a cluster", rv);
            return -1;
        }
        bool same = v.cluster_cert != NULL && ohsm_kms_cks_same_cert(v.cluster_cert, new_cert);
        ohsm_kms_cv_clear(&v);
        if (same) {
            return 1;
        }
    }
    return 0;
}

/* Whether cluster (view nv) is related to s's current cluster: the same cluster, or one with the
 * same cluster certificate. When the current cluster is gone (its certificate unknown), a
 * cluster whose trust anchor is s's is taken as related: a cluster made from a backup keeps the
 * trust anchor of the cluster it came from. */
int ohsm_kms_cks_related(struct ohsm_kms *k, const char *region, const struct ohsm_kms_cks *s,
                         const char *cluster_id, const struct ohsm_kms_cv *nv, bool *rel,
                         struct ohsm_aws_err *err)
{
    struct ohsm_kms_cv ov;

    *rel = strcmp(cluster_id, s->cluster_id) == 0;
    if (*rel) {
        return 0;
    }
    ohsm_rv rv = ohsm_kms_cks_view(k, region, s->cluster_id, &ov);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "reading the current cluster", rv);
        return -1;
    }
    if (ov.cluster_cert != NULL) {
        *rel =
            nv->cluster_cert != NULL && ohsm_kms_cks_same_cert(ov.cluster_cert, nv->cluster_cert);
    } else {
        *rel =
            nv->trust_anchor != NULL && ohsm_kms_cks_same_cert(s->trust_anchor, nv->trust_anchor);
    }
    ohsm_kms_cv_clear(&ov);
    return 0;
}
