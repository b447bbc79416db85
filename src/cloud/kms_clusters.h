/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd's side of struct ohsm_kms_clusters (kms/cks.h): how KMS's CloudHSM key stores see the
 * control plane's clusters, and the network a key store connection makes in a cluster's VPC
 * (the security group "kms-<store id>" and one requester-managed ENI in each subnet of the
 * cluster), so src/kms never reads the control plane's tables.
 *
 * Thread-safety: the callbacks run on KMS's threads (HTTP handlers, the connection worker). Each
 * takes c->lock itself for its reads and writes of the metadata and returns copies; none holds it
 * across slow work, and none is called with c->lock held. c must outlive every use (openhsmd
 * closes KMS before it destroys the cloud).
 */
#ifndef OHSM_CLOUD_KMS_CLUSTERS_H
#define OHSM_CLOUD_KMS_CLUSTERS_H

#include "kms/cks.h"

struct ohsm_cloud;

/* The security group of a connection is "kms-" + the store's id; its ENIs are described
 * "KMS managed ENI for cluster " + the cluster's id (AWS KMS developer guide, "Connecting and
 * disconnecting an AWS CloudHSM key store"). */
#define OHSM_KMS_NET_SG_PREFIX "kms-"
#define OHSM_KMS_NET_ENI_DESC "KMS managed ENI for cluster "

/* Fills out's callbacks with c as ctx (c borrowed). */
void ohsm_cloud_kms_clusters(struct ohsm_cloud *c, struct ohsm_kms_clusters *out);

#endif
