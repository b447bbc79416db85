/* SPDX-License-Identifier: Apache-2.0
 *
 * EC2 Query handlers of the VPC subset. Each handler reads its parameters strictly
 * (ec2_args.c) and checks what it can without state; then, under the database lock, makes sure
 * the caller's region exists (default VPC), calls the model (vpc.c) and, after the lock, writes
 * the payload (ec2_view.c). The operation table below is both the router's list and the list of
 * what this service supports.
 *
 * DryRun: a mutating call runs in a SAVEPOINT that is always rolled back, so a dry run goes
 * through exactly the checks of a real one and answers DryRunOperation (412) when they pass.
 */
#include "cloud/ec2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cloud/ec2_args.h"
#include "cloud/ec2_view.h"
#include "cloud/vpc.h"
#include "http/http.h"

/* ---- helpers ---- */

static int internal(struct ohsm_aws_err *err)
{
    return ohsm_ec2_fail(err, 500, "InternalError", "An internal error has occurred");
}

static int missing(struct ohsm_aws_err *err, const char *name)
{
    return ohsm_ec2_fail(err, 400, "MissingParameter", "The request must contain the parameter %s",
                         name);
}

static int dry_run_ok(struct ohsm_aws_err *err)
{
    return ohsm_ec2_fail(err, 412, "DryRunOperation",
                         "Request would have succeeded, but DryRun flag is set.");
}

/* Under the lock: the caller's region, with its default VPC (the model fills err). */
static int region_ready(struct ohsm_ec2_ctx *c, const struct ohsm_http_call *call,
                        struct ohsm_aws_err *err)
{
    return ohsm_vpc_ensure_region(c->db, call->region, c->account_id, err) == OHSM_OK ? 0 : -1;
}

static int dry_begin(struct ohsm_ec2_ctx *c, bool dry, struct ohsm_aws_err *err)
{
    if (dry && sqlite3_exec(c->db, "SAVEPOINT ohsm_ec2_dry", NULL, NULL, NULL) != SQLITE_OK) {
        return internal(err);
    }
    return 0;
}

/* Ends a mutating call: a dry run is rolled back and answers 412 if it would have succeeded. */
static int dry_end(struct ohsm_ec2_ctx *c, bool dry, int r, struct ohsm_aws_err *err)
{
    if (!dry) {
        return r;
    }
    (void)sqlite3_exec(c->db, "ROLLBACK TO ohsm_ec2_dry; RELEASE ohsm_ec2_dry", NULL, NULL, NULL);
    return r == 0 ? dry_run_ok(err) : r;
}

/* Parses a CIDR parameter (canonicalising it, as EC2 does). */
static int cidr_param(const char *v, struct ohsm_cidr *c, struct ohsm_aws_err *err)
{
    if (ohsm_cidr_parse(v, c, NULL) != OHSM_OK) {
        return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                             "Value (%.64s) for parameter cidrBlock is invalid. This is not a "
                             "valid CIDR block.",
                             v);
    }
    return 0;
}

/* Reads the args of a request with no list/filters beyond spec; -1 with err on failure. */
static struct ohsm_ec2_args *args_new(const struct ohsm_form *in, const struct ohsm_ec2_spec *sp,
                                      struct ohsm_aws_err *err)
{
    struct ohsm_ec2_args *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        (void)internal(err);
        return NULL;
    }
    if (ohsm_ec2_args_read(in, sp, a, err) != 0) {
        free(a);
        return NULL;
    }
    return a;
}

/* ---- Describe* ---- */

typedef ohsm_rv (*list_fn)(sqlite3 *db, const char *region, void **out, size_t *n,
                           struct ohsm_aws_err *err);

static ohsm_rv list_vpcs(sqlite3 *db, const char *region, void **out, size_t *n,
                         struct ohsm_aws_err *err)
{
    struct ohsm_vpc_vpc *a = NULL;
    ohsm_rv rv = ohsm_vpc_list(db, region, &a, n, err);
    *out = a;
    return rv;
}

static ohsm_rv list_subnets(sqlite3 *db, const char *region, void **out, size_t *n,
                            struct ohsm_aws_err *err)
{
    struct ohsm_vpc_subnet *a = NULL;
    ohsm_rv rv = ohsm_vpc_subnet_list(db, region, &a, n, err);
    *out = a;
    return rv;
}

static ohsm_rv list_enis(sqlite3 *db, const char *region, void **out, size_t *n,
                         struct ohsm_aws_err *err)
{
    struct ohsm_vpc_eni *a = NULL;
    ohsm_rv rv = ohsm_vpc_eni_list(db, region, &a, n, err);
    *out = a;
    return rv;
}

static int describe_op(struct ohsm_ec2_ctx *c, const struct ohsm_http_call *call,
                       const struct ohsm_form *in, struct ohsm_xml *out, struct ohsm_aws_err *err,
                       const struct ohsm_ec2_spec *sp, const struct ohsm_ec2_kind *k, list_fn list)
{
    struct ohsm_ec2_args *a = args_new(in, sp, err);
    void *items = NULL;
    size_t n = 0;
    int r = -1;
    if (a == NULL || ohsm_ec2_check_filters(k, a, err) != 0) {
        goto out;
    }
    pthread_mutex_lock(c->lock);
    if (region_ready(c, call, err) == 0 && list(c->db, call->region, &items, &n, err) == OHSM_OK) {
        r = 0;
    }
    pthread_mutex_unlock(c->lock);
    if (r == 0) {
        r = ohsm_ec2_describe(k, a, items, n, call->region, out, err);
    }
    if (r == 0 && a->dry_run) {
        r = dry_run_ok(err);
    }
out:
    free(items);
    free(a);
    return r;
}

static const char *const no_scalars[] = {NULL};

static int describe_vpcs(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                         struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    static const struct ohsm_ec2_spec sp = {no_scalars, "VpcId", NULL, true, true};
    return describe_op(ctx, call, in, out, err, &sp, &ohsm_ec2_k_vpc, list_vpcs);
}

static int describe_subnets(void *ctx, const struct ohsm_http_call *call,
                            const struct ohsm_form *in, struct ohsm_xml *out,
                            struct ohsm_aws_err *err)
{
    static const struct ohsm_ec2_spec sp = {no_scalars, "SubnetId", NULL, true, true};
    return describe_op(ctx, call, in, out, err, &sp, &ohsm_ec2_k_subnet, list_subnets);
}

static int describe_enis(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                         struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    static const struct ohsm_ec2_spec sp = {no_scalars, "NetworkInterfaceId", NULL, true, true};
    return describe_op(ctx, call, in, out, err, &sp, &ohsm_ec2_k_eni, list_enis);
}

static int describe_azs(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                        struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    static const char *const scalars[] = {"AllAvailabilityZones", NULL};
    static const struct ohsm_ec2_spec sp = {scalars, "ZoneName", "ZoneId", true, false};
    struct ohsm_ec2_az z[OHSM_VPC_AZ_COUNT];
    struct ohsm_ec2_args *a = args_new(in, &sp, err);
    const char *all = ohsm_form_get(in, "AllAvailabilityZones");
    int r = -1;
    (void)ctx;
    if (a == NULL || ohsm_ec2_check_filters(&ohsm_ec2_k_az, a, err) != 0) {
        goto out;
    }
    if (all != NULL && strcmp(all, "true") != 0 && strcmp(all, "false") != 0) {
        (void)ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                            "Value (%.64s) for parameter allAvailabilityZones is invalid.", all);
        goto out;
    }
    for (unsigned i = 0; i < OHSM_VPC_AZ_COUNT; i++) {
        memset(&z[i], 0, sizeof(z[i]));
        if (ohsm_vpc_az(call->region, i, z[i].name, sizeof(z[i].name), z[i].id, sizeof(z[i].id)) !=
            OHSM_OK) {
            (void)ohsm_ec2_fail(err, 400, "InvalidParameterValue", "Invalid region: '%.64s'",
                                call->region);
            goto out;
        }
        snprintf(z[i].region, sizeof(z[i].region), "%s", call->region);
        z[i].seq = (int64_t)i + 1;
    }
    r = ohsm_ec2_describe(&ohsm_ec2_k_az, a, z, OHSM_VPC_AZ_COUNT, call->region, out, err);
    if (r == 0 && a->dry_run) {
        r = dry_run_ok(err);
    }
out:
    free(a);
    return r;
}

/* ---- Create / Delete ---- */

static int create_vpc(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                      struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    static const char *const scalars[] = {"CidrBlock", "InstanceTenancy",
                                          "AmazonProvidedIpv6CidrBlock", NULL};
    static const struct ohsm_ec2_spec sp = {scalars, NULL, NULL, false, false};
    struct ohsm_ec2_ctx *c = ctx;
    struct ohsm_vpc_vpc v;
    struct ohsm_cidr cidr;
    struct ohsm_ec2_args *a = args_new(in, &sp, err);
    const char *block = ohsm_form_get(in, "CidrBlock");
    const char *ten = ohsm_form_get(in, "InstanceTenancy");
    const char *v6 = ohsm_form_get(in, "AmazonProvidedIpv6CidrBlock");
    int r = -1;
    if (a == NULL) {
        goto out;
    }
    if (block == NULL) {
        (void)ohsm_ec2_fail(err, 400, "MissingParameter",
                            "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.");
        goto out;
    }
    if (cidr_param(block, &cidr, err) != 0) {
        goto out;
    }
    if (ten != NULL && strcmp(ten, "default") != 0) {
        (void)ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                            "Value (%.64s) for parameter instanceTenancy is invalid: only "
                            "'default' is supported here.",
                            ten);
        goto out;
    }
    if (v6 != NULL && strcmp(v6, "false") != 0) {
        (void)ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                            "Value (%.64s) for parameter amazonProvidedIpv6CidrBlock is invalid: "
                            "IPv6 is not supported here.",
                            v6);
        goto out;
    }
    pthread_mutex_lock(c->lock);
    r = region_ready(c, call, err);
    if (r == 0 && (r = dry_begin(c, a->dry_run, err)) == 0) {
        r = ohsm_vpc_create(c->db, call->region, c->account_id, &cidr, &v, err) == OHSM_OK ? 0 : -1;
        r = dry_end(c, a->dry_run, r, err);
    }
    pthread_mutex_unlock(c->lock);
    if (r == 0) {
        ohsm_xml_open(out, "vpc");
        ohsm_ec2_write_vpc(out, &v, call->region);
        ohsm_xml_close(out, "vpc");
    }
out:
    free(a);
    return r;
}

/* The AZ index named by AvailabilityZone or AvailabilityZoneId (-1: neither given). */
static int az_param(const struct ohsm_http_call *call, const char *az, const char *az_id, int *idx,
                    struct ohsm_aws_err *err)
{
    char names[3 * OHSM_VPC_AZ_MAX + 8] = "", n[OHSM_VPC_AZ_MAX], id[OHSM_VPC_AZ_ID_MAX];
    const char *given = az != NULL ? az : az_id;
    *idx = -1;
    if (az != NULL && az_id != NULL) {
        return ohsm_ec2_fail(err, 400, "InvalidParameterCombination",
                             "Only one of availabilityZone or availabilityZoneId may be given.");
    }
    if (given == NULL) {
        return 0;
    }
    *idx = ohsm_vpc_az_index(call->region, given);
    if (*idx >= 0 && az != NULL && strncmp(given, call->region, strlen(call->region)) != 0) {
        *idx = -1; /* an AZ id given as AvailabilityZone */
    }
    if (*idx >= 0) {
        return 0;
    }
    for (unsigned i = 0; i < OHSM_VPC_AZ_COUNT; i++) {
        if (ohsm_vpc_az(call->region, i, n, sizeof(n), id, sizeof(id)) == OHSM_OK) {
            size_t l = strlen(names);
            snprintf(names + l, sizeof(names) - l, "%s%s", i > 0 ? ", " : "", az != NULL ? n : id);
        }
    }
    return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                         "Value (%.64s) for parameter %s is invalid. Subnets can currently only "
                         "be created in the following availability zones: %s.",
                         given, az != NULL ? "availabilityZone" : "availabilityZoneId", names);
}

static int create_subnet(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                         struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    static const char *const scalars[] = {"VpcId", "CidrBlock", "AvailabilityZone",
                                          "AvailabilityZoneId", NULL};
    static const struct ohsm_ec2_spec sp = {scalars, NULL, NULL, false, false};
    struct ohsm_ec2_ctx *c = ctx;
    struct ohsm_vpc_subnet s;
    struct ohsm_cidr cidr;
    struct ohsm_ec2_args *a = args_new(in, &sp, err);
    const char *vpc = ohsm_form_get(in, "VpcId"), *block = ohsm_form_get(in, "CidrBlock");
    int az = -1, r = -1;
    if (a == NULL) {
        goto out;
    }
    if (vpc == NULL || block == NULL) {
        (void)missing(err, vpc == NULL ? "VpcId" : "CidrBlock");
        goto out;
    }
    if (cidr_param(block, &cidr, err) != 0) {
        goto out;
    }
    pthread_mutex_lock(c->lock);
    r = region_ready(c, call, err);
    if (r == 0) {
        r = az_param(call, ohsm_form_get(in, "AvailabilityZone"),
                     ohsm_form_get(in, "AvailabilityZoneId"), &az, err);
    }
    if (r == 0 && (r = dry_begin(c, a->dry_run, err)) == 0) {
        r = ohsm_vpc_subnet_create(c->db, call->region, c->account_id, vpc, &cidr, az, &s, err) ==
                    OHSM_OK
                ? 0
                : -1;
        r = dry_end(c, a->dry_run, r, err);
    }
    pthread_mutex_unlock(c->lock);
    if (r == 0) {
        ohsm_xml_open(out, "subnet");
        ohsm_ec2_write_subnet(out, &s, call->region);
        ohsm_xml_close(out, "subnet");
    }
out:
    free(a);
    return r;
}

/* DeleteSubnet / DeleteNetworkInterface: one required id, <return>true</return>. */
static int delete_op(struct ohsm_ec2_ctx *c, const struct ohsm_http_call *call,
                     const struct ohsm_form *in, struct ohsm_xml *out, struct ohsm_aws_err *err,
                     const char *param, bool eni)
{
    const char *const scalars[] = {param, NULL};
    const struct ohsm_ec2_spec sp = {scalars, NULL, NULL, false, false};
    struct ohsm_ec2_args *a = args_new(in, &sp, err);
    const char *id = ohsm_form_get(in, param);
    int r = -1;
    if (a == NULL) {
        goto out;
    }
    if (id == NULL) {
        (void)missing(err, param);
        goto out;
    }
    pthread_mutex_lock(c->lock);
    r = region_ready(c, call, err);
    if (r == 0 && (r = dry_begin(c, a->dry_run, err)) == 0) {
        ohsm_rv rv = eni ? ohsm_vpc_eni_delete(c->db, call->region, id, false, err)
                         : ohsm_vpc_subnet_delete(c->db, call->region, id, err);
        r = dry_end(c, a->dry_run, rv == OHSM_OK ? 0 : -1, err);
    }
    pthread_mutex_unlock(c->lock);
    if (r == 0) {
        ohsm_xml_bool(out, "return", true);
    }
out:
    free(a);
    return r;
}

static int delete_subnet(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                         struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    return delete_op(ctx, call, in, out, err, "SubnetId", false);
}

static int delete_eni(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                      struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    return delete_op(ctx, call, in, out, err, "NetworkInterfaceId", true);
}

static int create_eni(void *ctx, const struct ohsm_http_call *call, const struct ohsm_form *in,
                      struct ohsm_xml *out, struct ohsm_aws_err *err)
{
    static const char *const scalars[] = {"SubnetId", "PrivateIpAddress", "Description",
                                          "ClientToken", NULL};
    static const struct ohsm_ec2_spec sp = {scalars, "SecurityGroupId", NULL, false, false};
    struct ohsm_ec2_ctx *c = ctx;
    struct ohsm_vpc_eni e;
    struct ohsm_ec2_args *a = args_new(in, &sp, err);
    const char *token = ohsm_form_get(in, "ClientToken");
    struct ohsm_vpc_eni_req req = {
        .subnet_id = ohsm_form_get(in, "SubnetId"),
        .ip = ohsm_form_get(in, "PrivateIpAddress"),
        .description = ohsm_form_get(in, "Description"),
    };
    int r = -1;
    if (a == NULL) {
        goto out;
    }
    if (req.subnet_id == NULL) {
        (void)missing(err, "SubnetId");
        goto out;
    }
    if (a->n_ids > 1) {
        (void)ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                            "At most one security group per network interface is supported here.");
        goto out;
    }
    req.group_id = a->n_ids == 1 ? a->ids[0] : NULL;
    pthread_mutex_lock(c->lock);
    r = region_ready(c, call, err);
    if (r == 0 && (r = dry_begin(c, a->dry_run, err)) == 0) {
        r = ohsm_vpc_eni_create_token(c->db, call->region, c->account_id, &req, token, &e, err) ==
                    OHSM_OK
                ? 0
                : -1;
        r = dry_end(c, a->dry_run, r, err);
    }
    pthread_mutex_unlock(c->lock);
    if (r == 0) {
        ohsm_xml_open(out, "networkInterface");
        ohsm_ec2_write_eni(out, &e, call->region);
        ohsm_xml_close(out, "networkInterface");
        if (token != NULL) {
            ohsm_xml_text(out, "clientToken", token);
        }
    }
out:
    free(a);
    return r;
}

/* ---- the service ---- */

static const struct ohsm_query_op ops[] = {
    {"CreateNetworkInterface", create_eni},
    {"CreateSubnet", create_subnet},
    {"CreateVpc", create_vpc},
    {"DeleteNetworkInterface", delete_eni},
    {"DeleteSubnet", delete_subnet},
    {"DescribeAvailabilityZones", describe_azs},
    {"DescribeNetworkInterfaces", describe_enis},
    {"DescribeSubnets", describe_subnets},
    {"DescribeVpcs", describe_vpcs},
};

void ohsm_ec2_service(struct ohsm_ec2_ctx *ctx, struct ohsm_query_service *out)
{
    memset(out, 0, sizeof(*out));
    out->signing_name = "ec2";
    out->version = "2016-11-15";
    out->xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/";
    out->ops = ops;
    out->n_ops = sizeof(ops) / sizeof(ops[0]);
    out->ctx = ctx;
}
