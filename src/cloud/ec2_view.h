/* SPDX-License-Identifier: Apache-2.0
 *
 * Internal to the EC2 handlers (ec2.c): the XML of VPCs, subnets and ENIs, and the Describe
 * engine shared by DescribeVpcs/Subnets/NetworkInterfaces/AvailabilityZones.
 */
#ifndef OHSM_CLOUD_EC2_VIEW_H
#define OHSM_CLOUD_EC2_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "cloud/ec2_args.h"
#include "cloud/vpc.h"

struct ohsm_xml;
struct ohsm_aws_err;

/* An AZ of a region as DescribeAvailabilityZones lists it. */
struct ohsm_ec2_az {
    char name[OHSM_VPC_AZ_MAX];
    char id[OHSM_VPC_AZ_ID_MAX];
    char region[OHSM_VPC_REGION_MAX];
    int64_t seq; /* 1..3 */
};

/* What a Describe operation lists: item size, filters, NotFound error, set element, writer. */
struct ohsm_ec2_kind;
extern const struct ohsm_ec2_kind ohsm_ec2_k_vpc;    /* struct ohsm_vpc_vpc items */
extern const struct ohsm_ec2_kind ohsm_ec2_k_subnet; /* struct ohsm_vpc_subnet items */
extern const struct ohsm_ec2_kind ohsm_ec2_k_eni;    /* struct ohsm_vpc_eni items */
extern const struct ohsm_ec2_kind ohsm_ec2_k_az;     /* struct ohsm_ec2_az items */

/* 0, or -1 with err = InvalidParameterValue "The filter 'x' is invalid" for an unknown name. */
int ohsm_ec2_check_filters(const struct ohsm_ec2_kind *k, const struct ohsm_ec2_args *a,
                           struct ohsm_aws_err *err);
/* Writes <set><item>..</item>..</set> and <nextToken> for the n items (in seq order) that the
 * ids, filters and page of a select. -1 with the kind's NotFound error for an unknown id. */
int ohsm_ec2_describe(const struct ohsm_ec2_kind *k, const struct ohsm_ec2_args *a,
                      const void *items, size_t n, const char *region, struct ohsm_xml *out,
                      struct ohsm_aws_err *err);

/* The members of one resource (inside the caller's element). */
void ohsm_ec2_write_vpc(struct ohsm_xml *x, const void *vpc, const char *region);
void ohsm_ec2_write_subnet(struct ohsm_xml *x, const void *subnet, const char *region);
void ohsm_ec2_write_eni(struct ohsm_xml *x, const void *eni, const char *region);

#endif
