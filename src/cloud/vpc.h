/* SPDX-License-Identifier: Apache-2.0
 *
 * The VPC subset of EC2 behind openhsmd: VPCs, subnets, network interfaces (ENIs) and the
 * security groups services make (CloudHSM clusters', KMS connections'), per region, in openhsmd's
 * SQLite database (tables vpc_*).
 * This is the model (moto's models.py): it knows AWS's rules and error codes, nothing of HTTP or
 * XML. The EC2 handlers (ec2.c) and the CloudHSM control plane both call it.
 *
 * Rules kept here (VPC user guide "Subnet CIDR blocks", EC2 API reference):
 *  - a region's first use creates its default VPC 172.31.0.0/16 with a default subnet in each of
 *    its three AZs (<region>a/b/c: 172.31.0.0/20, .16.0/20, .32.0/20);
 *  - VPC and subnet blocks are /16../28, canonical; a subnet lies inside its VPC and overlaps no
 *    other subnet of that VPC;
 *  - a subnet keeps 5 addresses (the first four and the last), so a /28 holds 11 ENIs;
 *  - a subnet with ENIs cannot be deleted (DependencyViolation); an ENI a service manages
 *    (requester_managed, e.g. an HSM's or a KMS connection's) is deleted only by that service;
 *  - a security group name is unique within its VPC; a group an ENI uses cannot be deleted.
 *
 * Errors: every fallible call returns OHSM_OK, or an ohsm_rv with *err filled with the EC2 error
 * (HTTP status, Code such as "InvalidSubnetID.NotFound", message): OHSM_ARGUMENTS_BAD for a
 * request AWS refuses (400), OHSM_DB for a database failure or a row that fails validation
 * (500 InternalError), OHSM_HOST_MEMORY, OHSM_DEVICE_ERROR (RAND_bytes). A failed call changes
 * nothing: every multi-statement change runs in a SAVEPOINT, so it nests inside the caller's
 * transaction or stands alone.
 *
 * Trust: the database is read as untrusted input; ids, regions, CIDRs, addresses and states of
 * every row are checked before use. Not thread-safe: the caller serialises all use of db (one lock
 * for the database). Strings in the structs are NUL-terminated copies.
 */
#ifndef OHSM_CLOUD_VPC_H
#define OHSM_CLOUD_VPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/cidr.h"
#include "openhsm/rv.h"

struct sqlite3;
struct ohsm_aws_err;

#define OHSM_VPC_ID_MAX 32      /* "subnet-" + 17 hex + NUL fits */
#define OHSM_VPC_HEX_CHARS 17   /* random part of every id */
#define OHSM_VPC_REGION_MAX 24  /* "us-gov-northwest-1" and more */
#define OHSM_VPC_AZ_MAX 28      /* region + letter */
#define OHSM_VPC_AZ_ID_MAX 16   /* "usgnw1-az3" */
#define OHSM_VPC_ACCOUNT_MAX 13 /* 12 digits */
#define OHSM_VPC_DESC_MAX 256   /* ENI Description: at most 255 characters */
#define OHSM_VPC_MAC_MAX 18     /* "02:ab:cd:ef:01:23" */
#define OHSM_VPC_SG_NAME_MAX 256
#define OHSM_VPC_AZ_COUNT 3 /* AZs per region: <region>a, b, c */

/* Quotas (AWS's defaults are 5 VPCs per region, 200 subnets per VPC and 5000 ENIs per region;
 * the VPC quota is raised here because a local cloud is shared by many test clusters). */
#define OHSM_VPC_MAX_VPCS 20
#define OHSM_VPC_MAX_SUBNETS 200
#define OHSM_VPC_MAX_ENIS 5000

struct ohsm_vpc_vpc {
    char id[OHSM_VPC_ID_MAX]; /* vpc-<17 hex> */
    char region[OHSM_VPC_REGION_MAX];
    char owner[OHSM_VPC_ACCOUNT_MAX];
    struct ohsm_cidr cidr; /* canonical, /16../28 */
    bool is_default;
    const char *state; /* "available" (static string) */
    int64_t seq;       /* creation order, > 0, never reused */
};

struct ohsm_vpc_subnet {
    char id[OHSM_VPC_ID_MAX]; /* subnet-<17 hex> */
    char region[OHSM_VPC_REGION_MAX];
    char vpc_id[OHSM_VPC_ID_MAX];
    char az[OHSM_VPC_AZ_MAX];       /* us-east-1a */
    char az_id[OHSM_VPC_AZ_ID_MAX]; /* use1-az1 */
    char owner[OHSM_VPC_ACCOUNT_MAX];
    struct ohsm_cidr cidr;
    bool default_for_az;
    const char *state;  /* "available" (static string) */
    uint64_t available; /* free addresses: usable - ENIs */
    int64_t seq;
};

struct ohsm_vpc_eni {
    char id[OHSM_VPC_ID_MAX]; /* eni-<17 hex> */
    char region[OHSM_VPC_REGION_MAX];
    char subnet_id[OHSM_VPC_ID_MAX];
    char vpc_id[OHSM_VPC_ID_MAX];
    char az[OHSM_VPC_AZ_MAX];
    char owner[OHSM_VPC_ACCOUNT_MAX];
    uint32_t ip;
    char ip_text[OHSM_CIDR_IP_MAX];
    char mac[OHSM_VPC_MAC_MAX];
    char description[OHSM_VPC_DESC_MAX];
    char group_id[OHSM_VPC_ID_MAX]; /* "" when in no security group */
    char group_name[OHSM_VPC_SG_NAME_MAX];
    bool requester_managed;
    const char *status; /* "in-use" when requester_managed (attached to a service), else
                           "available" (static string) */
    int64_t seq;
};

/* What ohsm_vpc_eni_create makes. All borrowed for the call. */
struct ohsm_vpc_eni_req {
    const char *subnet_id;
    const char *ip; /* dotted quad, or NULL: the lowest free address after the 4 reserved */
    const char *description; /* NULL: "" */
    const char *group_id;    /* NULL: none; else a security group of the subnet's VPC */
    bool requester_managed;  /* made by a service (CloudHSM): users cannot delete it */
};

/* Is region of the form [a-z]{2}(-gov)?-(east|west|north|south|central|northeast|southeast|
 * northwest|southwest)-[0-9]? */
bool ohsm_vpc_region_valid(const char *region);
/* Writes the AZ name and AWS-style AZ id of the region's AZ idx (0..2): "us-east-1a", "use1-az1"
 * (country + initials of the words after it + number; "apse1", "euc1", "usgw1").
 * Errors: OHSM_ARGUMENTS_BAD (invalid region or idx), OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_az(const char *region, unsigned idx, char *name, size_t name_cap,
                                   char *id, size_t id_cap);
/* The AZ index (0..2) of name (an AZ of region) or of an AZ id; -1 when it is neither. */
int ohsm_vpc_az_index(const char *region, const char *name_or_id);

/* Creates the tables if absent. Errors: OHSM_DB, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_init(struct sqlite3 *db);

/* Creates region's default VPC and subnets (owned by account_id, 12 digits) the first time the
 * region is touched; does nothing afterwards (deleted default subnets stay deleted). */
OHSM_NODISCARD ohsm_rv ohsm_vpc_ensure_region(struct sqlite3 *db, const char *region,
                                              const char *account_id, struct ohsm_aws_err *err);

/* ---- VPCs ---- */

/* Creates a VPC with block cidr (canonical; /16../28 else InvalidVpc.Range). VpcLimitExceeded
 * past OHSM_VPC_MAX_VPCS. out may be NULL. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_create(struct sqlite3 *db, const char *region,
                                       const char *account_id, const struct ohsm_cidr *cidr,
                                       struct ohsm_vpc_vpc *out, struct ohsm_aws_err *err);
/* The VPC id of region. InvalidVpcID.NotFound. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_get(struct sqlite3 *db, const char *region, const char *id,
                                    struct ohsm_vpc_vpc *out, struct ohsm_aws_err *err);
/* All VPCs of region in creation order. *out is malloc'd (caller frees; NULL when *n is 0). */
OHSM_NODISCARD ohsm_rv ohsm_vpc_list(struct sqlite3 *db, const char *region,
                                     struct ohsm_vpc_vpc **out, size_t *n,
                                     struct ohsm_aws_err *err);

/* ---- subnets ---- */

/* Creates a subnet of vpc_id with block cidr in AZ az_index (0..2), or, when az_index < 0, in
 * the AZ where that VPC has the fewest subnets. InvalidVpcID.NotFound, InvalidSubnet.Range (not
 * /16../28, not canonical, or not inside the VPC), InvalidSubnet.Conflict (overlaps a subnet of
 * the VPC), SubnetLimitExceeded. out may be NULL. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_subnet_create(struct sqlite3 *db, const char *region,
                                              const char *account_id, const char *vpc_id,
                                              const struct ohsm_cidr *cidr, int az_index,
                                              struct ohsm_vpc_subnet *out,
                                              struct ohsm_aws_err *err);
/* The subnet id of region (with its free address count). InvalidSubnetID.NotFound. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_subnet_get(struct sqlite3 *db, const char *region, const char *id,
                                           struct ohsm_vpc_subnet *out, struct ohsm_aws_err *err);
/* All subnets of region in creation order; ownership as ohsm_vpc_list. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_subnet_list(struct sqlite3 *db, const char *region,
                                            struct ohsm_vpc_subnet **out, size_t *n,
                                            struct ohsm_aws_err *err);
/* Deletes a subnet without ENIs. InvalidSubnetID.NotFound, DependencyViolation. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_subnet_delete(struct sqlite3 *db, const char *region,
                                              const char *id, struct ohsm_aws_err *err);

/* ---- network interfaces ---- */

/* Creates an ENI in req->subnet_id of region. InvalidSubnetID.NotFound,
 * InsufficientFreeAddressesInSubnet (no free address, req->ip NULL), InvalidIPAddress.InUse,
 * InvalidParameterValue (req->ip malformed, outside the subnet or reserved; description too long
 * or not text), InvalidGroup.NotFound (group_id not in the subnet's VPC),
 * NetworkInterfaceLimitExceeded. out may be NULL. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_eni_create(struct sqlite3 *db, const char *region,
                                           const char *account_id,
                                           const struct ohsm_vpc_eni_req *req,
                                           struct ohsm_vpc_eni *out, struct ohsm_aws_err *err);
/* ohsm_vpc_eni_create with EC2's ClientToken (NULL: none; else 1..64 printable ASCII, else
 * InvalidParameterValue): a repeat with the same token and request returns the ENI the first
 * call made (while it exists) and makes nothing; with another request,
 * IdempotentParameterMismatch. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_eni_create_token(struct sqlite3 *db, const char *region,
                                                 const char *account_id,
                                                 const struct ohsm_vpc_eni_req *req,
                                                 const char *client_token, struct ohsm_vpc_eni *out,
                                                 struct ohsm_aws_err *err);
/* The ENI id of region. InvalidNetworkInterfaceID.NotFound. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_eni_get(struct sqlite3 *db, const char *region, const char *id,
                                        struct ohsm_vpc_eni *out, struct ohsm_aws_err *err);
/* The ENI holding address ip (dotted quad) in subnet_id. InvalidSubnetID.NotFound,
 * InvalidParameterValue (ip malformed), InvalidNetworkInterfaceID.NotFound (address free). */
OHSM_NODISCARD ohsm_rv ohsm_vpc_eni_find(struct sqlite3 *db, const char *region,
                                         const char *subnet_id, const char *ip,
                                         struct ohsm_vpc_eni *out, struct ohsm_aws_err *err);
/* All ENIs of region in creation order; ownership as ohsm_vpc_list. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_eni_list(struct sqlite3 *db, const char *region,
                                         struct ohsm_vpc_eni **out, size_t *n,
                                         struct ohsm_aws_err *err);
/* Deletes an ENI and frees its address. A requester-managed ENI only when as_service (a user's
 * DeleteNetworkInterface gets AWS's InvalidParameterValue "Network interface '<id>' is currently
 * in use."). InvalidNetworkInterfaceID.NotFound. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_eni_delete(struct sqlite3 *db, const char *region, const char *id,
                                           bool as_service, struct ohsm_aws_err *err);

/* ---- security groups ---- */

struct ohsm_vpc_sg {
    char id[OHSM_VPC_ID_MAX]; /* sg-<17 hex> */
    char region[OHSM_VPC_REGION_MAX];
    char vpc_id[OHSM_VPC_ID_MAX];
    char name[OHSM_VPC_SG_NAME_MAX];
    char owner[OHSM_VPC_ACCOUNT_MAX];
    int64_t seq;
};

/* Is name a GroupName EC2 accepts: 1..255 characters of a-z A-Z 0-9, space and
 * ._-:/()#,@[]+=&;{}!$*, not starting with "sg-"? */
bool ohsm_vpc_sg_name_valid(const char *name);
/* Creates the group name in vpc_id (as a service makes one: KMS's "kms-<store id>") and writes
 * its id (sg-<17 hex>) into sg_id (cap >= OHSM_VPC_ID_MAX). InvalidParameterValue (name not
 * ohsm_vpc_sg_name_valid), InvalidVpcID.NotFound, InvalidGroup.Duplicate (the VPC has a group of
 * that name). */
OHSM_NODISCARD ohsm_rv ohsm_vpc_sg_create_named(struct sqlite3 *db, const char *region,
                                                const char *account_id, const char *vpc_id,
                                                const char *name, char *sg_id, size_t cap,
                                                struct ohsm_aws_err *err);
/* All security groups of region in creation order; ownership as ohsm_vpc_list. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_sg_list(struct sqlite3 *db, const char *region,
                                        struct ohsm_vpc_sg **out, size_t *n,
                                        struct ohsm_aws_err *err);

/* Creates the group of a CloudHSM cluster, "cloudhsm-cluster-<cluster_id>-sg", in vpc_id and writes
 * its id (sg-<17 hex>) into sg_id (cap >= OHSM_VPC_ID_MAX). InvalidVpcID.NotFound,
 * InvalidGroup.Duplicate, InvalidParameterValue (cluster_id not [a-z0-9-], 1..64 characters). */
OHSM_NODISCARD ohsm_rv ohsm_vpc_sg_create(struct sqlite3 *db, const char *region,
                                          const char *account_id, const char *vpc_id,
                                          const char *cluster_id, char *sg_id, size_t cap,
                                          struct ohsm_aws_err *err);
/* Deletes a group no ENI uses. InvalidGroup.NotFound, DependencyViolation. */
OHSM_NODISCARD ohsm_rv ohsm_vpc_sg_delete(struct sqlite3 *db, const char *region, const char *sg_id,
                                          struct ohsm_aws_err *err);

/* Is s prefix followed by exactly 17 lower-case hex characters? (ids we make) */
bool ohsm_vpc_id_valid(const char *prefix, const char *s);

#endif
