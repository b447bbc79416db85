/* SPDX-License-Identifier: Apache-2.0
 *
 * The VPC subset of EC2 on openhsmd's front door (EC2 Query protocol, API version 2016-11-15):
 * DescribeVpcs, CreateVpc, DescribeSubnets, CreateSubnet, DeleteSubnet, CreateNetworkInterface,
 * DeleteNetworkInterface, DescribeNetworkInterfaces, DescribeAvailabilityZones. The handlers
 * (moto's responses.py) read the form strictly (an unknown parameter is UnknownParameter),
 * validate everything before changing anything, call the model (cloud/vpc.h) and write the XML
 * payload with the element names of botocore's EC2 model. Describe* take id lists (SubnetId.N,
 * ...; an unknown id is the NotFound error), Filter.N.Name/Value.M (values may use * and ?
 * wildcards; an unknown filter name is InvalidParameterValue) and MaxResults (5..1000) with an
 * opaque NextToken. DryRun=true answers DryRunOperation (HTTP 412) after the same checks,
 * changing nothing.
 *
 * Thread-safety: handlers run on the server's threads; each takes ctx->lock around its use of
 * ctx->db (the same lock every other user of that database takes).
 */
#ifndef OHSM_CLOUD_EC2_H
#define OHSM_CLOUD_EC2_H

#include <pthread.h>

struct sqlite3;
struct ohsm_query_service;

struct ohsm_ec2_ctx {
    struct sqlite3 *db;     /* borrowed: openhsmd's database (ohsm_meta_sqlite), vpc tables made */
    pthread_mutex_t *lock;  /* borrowed: serialises every use of db */
    const char *account_id; /* borrowed: 12 digits, owner of what the handlers create */
};

/* Fills *out with the EC2 service (signing name "ec2", version 2016-11-15, its xmlns and the
 * operation table) bound to ctx. ctx is borrowed and must outlive the server. */
void ohsm_ec2_service(struct ohsm_ec2_ctx *ctx, struct ohsm_query_service *out);

#endif
