/* SPDX-License-Identifier: Apache-2.0
 * The VPC model on an in-memory SQLite: regions and AZ ids, the default VPC, subnet rules
 * (range, conflict), ENI addressing (a /28 holds 11), DeleteSubnet's dependency rule,
 * requester-managed ENIs, security groups, all-or-nothing failures and tampered rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cloud/vpc.h"
#include "http/http.h"

#define ACCT "111122223333"
#define R1 "us-east-1"

static sqlite3 *db;

static int setup(void **state)
{
    (void)state;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
        return -1;
    }
    return ohsm_vpc_init(db) == OHSM_OK && ohsm_vpc_init(db) == OHSM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sqlite3_close(db);
    db = NULL;
    return 0;
}

static void sql(const char *s)
{
    assert_int_equal(sqlite3_exec(db, s, NULL, NULL, NULL), SQLITE_OK);
}

static struct ohsm_cidr cidr(const char *s)
{
    struct ohsm_cidr c;
    assert_int_equal(ohsm_cidr_parse(s, &c, NULL), OHSM_OK);
    return c;
}

static int64_t count(const char *table)
{
    char q[128];
    sqlite3_stmt *st = NULL;
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s", table);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Region names and AZ ids follow AWS's forms; anything else is refused. */
static void test_vpc_regions_and_azs(void **state)
{
    (void)state;
    static const char *const good[] = {"us-east-1",     "eu-central-1",   "ap-southeast-2",
                                       "us-gov-west-1", "ap-northeast-3", "sa-east-1"};
    static const char *const bad[] = {"",          "us-east",    "us-east-12", "US-east-1",
                                      "us-up-1",   "use-east-1", "us-east-1a", "us-gov-1",
                                      "u1-east-1", "us-east-1 ", NULL};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_true(ohsm_vpc_region_valid(good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(ohsm_vpc_region_valid(bad[i]));
    }
    struct {
        const char *region;
        unsigned idx;
        const char *name, *id;
    } const cases[] = {
        {"us-east-1", 0, "us-east-1a", "use1-az1"},
        {"ap-southeast-1", 1, "ap-southeast-1b", "apse1-az2"},
        {"eu-central-1", 2, "eu-central-1c", "euc1-az3"},
        {"us-west-2", 0, "us-west-2a", "usw2-az1"},
        {"us-gov-west-1", 0, "us-gov-west-1a", "usgw1-az1"},
        {"ap-northeast-2", 0, "ap-northeast-2a", "apne2-az1"},
    };
    char name[OHSM_VPC_AZ_MAX], id[OHSM_VPC_AZ_ID_MAX];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(
            ohsm_vpc_az(cases[i].region, cases[i].idx, name, sizeof(name), id, sizeof(id)),
            OHSM_OK);
        assert_string_equal(name, cases[i].name);
        assert_string_equal(id, cases[i].id);
        assert_int_equal(ohsm_vpc_az_index(cases[i].region, cases[i].name), (int)cases[i].idx);
        assert_int_equal(ohsm_vpc_az_index(cases[i].region, cases[i].id), (int)cases[i].idx);
    }
    assert_int_equal(ohsm_vpc_az("us-east-1", 3, name, sizeof(name), id, sizeof(id)),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_vpc_az_index("us-east-1", "us-east-1d"), -1);
    assert_int_equal(ohsm_vpc_az_index("us-east-1", "us-west-2a"), -1);
    assert_int_equal(ohsm_vpc_az_index("us-east-1", NULL), -1);
}

/* The first touch of a region makes the default VPC and one default /20 per AZ, once. */
static void test_vpc_default_region(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    struct ohsm_vpc_vpc *v = NULL;
    struct ohsm_vpc_subnet *s = NULL;
    size_t nv = 0, ns = 0;
    assert_int_equal(ohsm_vpc_ensure_region(db, R1, ACCT, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_ensure_region(db, R1, ACCT, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_list(db, R1, &v, &nv, &err), OHSM_OK);
    assert_int_equal(nv, 1);
    assert_true(v[0].is_default);
    assert_true(ohsm_vpc_id_valid("vpc-", v[0].id));
    assert_string_equal(v[0].owner, ACCT);
    char t[OHSM_CIDR_TEXT_MAX];
    assert_int_equal(ohsm_cidr_format(&v[0].cidr, t, sizeof(t)), OHSM_OK);
    assert_string_equal(t, "172.31.0.0/16");
    assert_int_equal(ohsm_vpc_subnet_list(db, R1, &s, &ns, &err), OHSM_OK);
    assert_int_equal(ns, 3);
    static const char *const blocks[] = {"172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"};
    static const char *const azs[] = {"us-east-1a", "us-east-1b", "us-east-1c"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ohsm_cidr_format(&s[i].cidr, t, sizeof(t)), OHSM_OK);
        assert_string_equal(t, blocks[i]);
        assert_string_equal(s[i].az, azs[i]);
        assert_true(s[i].default_for_az);
        assert_string_equal(s[i].vpc_id, v[0].id);
        assert_int_equal(s[i].available, 4096 - 5);
    }
    assert_string_equal(s[0].az_id, "use1-az1");
    free(v);
    free(s);
    /* another region: its own default VPC; the first region's is not visible there */
    v = NULL;
    assert_int_equal(ohsm_vpc_ensure_region(db, "eu-west-1", ACCT, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_list(db, "eu-west-1", &v, &nv, &err), OHSM_OK);
    assert_int_equal(nv, 1);
    struct ohsm_vpc_vpc one;
    assert_int_equal(ohsm_vpc_get(db, R1, v[0].id, &one, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidVpcID.NotFound");
    free(v);
    assert_int_equal(count("vpc_vpcs"), 2);
    assert_int_equal(count("vpc_subnets"), 6);
    assert_int_equal(ohsm_vpc_ensure_region(db, "moon-1", ACCT, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidParameterValue");
    assert_int_equal(count("vpc_vpcs"), 2);
}

/* Subnet blocks: inside the VPC, /16../28, canonical, no overlap; the AZ picked when absent. */
static void test_vpc_subnet_rules(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    struct ohsm_vpc_vpc v;
    struct ohsm_vpc_subnet s;
    struct ohsm_cidr c = cidr("10.0.0.0/16");
    assert_int_equal(ohsm_vpc_create(db, R1, ACCT, &c, &v, &err), OHSM_OK);
    assert_false(v.is_default);
    c = cidr("10.0.0.0/29");
    assert_int_equal(ohsm_vpc_create(db, R1, ACCT, &c, NULL, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidVpc.Range");
    assert_int_equal(err.status, 400);
    c = cidr("10.0.0.0/15");
    assert_int_equal(ohsm_vpc_create(db, R1, ACCT, &c, NULL, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidVpc.Range");

    c = cidr("10.0.1.0/24");
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, 1, &s, &err), OHSM_OK);
    assert_string_equal(s.az, "us-east-1b");
    assert_int_equal(s.available, 251);
    assert_false(s.default_for_az);
    c = cidr("10.0.1.128/25");
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, 0, NULL, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnet.Conflict");
    assert_string_equal(err.msg, "The CIDR '10.0.1.128/25' conflicts with another subnet");
    c = cidr("10.1.0.0/24");
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, 0, NULL, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnet.Range");
    assert_string_equal(err.msg, "The CIDR '10.1.0.0/24' is invalid.");
    c = cidr("10.0.2.0/29");
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, 0, NULL, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnet.Range");
    c = cidr("10.0.0.0/8");
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, 0, NULL, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnet.Range");
    c = cidr("10.0.2.0/24");
    assert_int_equal(
        ohsm_vpc_subnet_create(db, R1, ACCT, "vpc-0123456789abcdef0", &c, 0, NULL, &err),
        OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidVpcID.NotFound");
    assert_int_equal(count("vpc_subnets"), 1);
    /* no AZ given: the AZ with the fewest subnets of this VPC (a, since b has one) */
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, -1, &s, &err), OHSM_OK);
    assert_string_equal(s.az, "us-east-1a");
    /* the whole VPC block as a subnet conflicts with both */
    c = cidr("10.0.0.0/16");
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, -1, NULL, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnet.Conflict");
    /* the same block in another VPC is fine */
    struct ohsm_vpc_vpc v2;
    assert_int_equal(ohsm_vpc_create(db, R1, ACCT, &c, &v2, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v2.id, &c, 2, &s, &err), OHSM_OK);
    assert_int_equal(s.available, 65531);
}

/* A /28 yields exactly 11 ENIs (lowest addresses first), then InsufficientFreeAddressesInSubnet;
 * deleting one frees its address for the next; DeleteSubnet waits for the last ENI. */
static void test_vpc_slash28_fills(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    struct ohsm_vpc_vpc v;
    struct ohsm_vpc_subnet s;
    struct ohsm_vpc_eni e[11], x;
    struct ohsm_cidr c = cidr("10.0.0.0/16");
    assert_int_equal(ohsm_vpc_create(db, R1, ACCT, &c, &v, &err), OHSM_OK);
    c = cidr("10.0.5.16/28");
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, 0, &s, &err), OHSM_OK);
    assert_int_equal(s.available, 11);
    struct ohsm_vpc_eni_req req = {.subnet_id = s.id, .description = "hsm"};
    for (unsigned i = 0; i < 11; i++) {
        assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &e[i], &err), OHSM_OK);
        char want[OHSM_CIDR_IP_MAX];
        snprintf(want, sizeof(want), "10.0.5.%u", (20 + i) & 0xffu);
        assert_string_equal(e[i].ip_text, want);
        assert_string_equal(e[i].vpc_id, v.id);
        assert_string_equal(e[i].az, "us-east-1a");
        assert_string_equal(e[i].status, "available");
        assert_int_equal(strncmp(e[i].mac, "02:", 3), 0);
    }
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InsufficientFreeAddressesInSubnet");
    assert_int_equal(ohsm_vpc_subnet_get(db, R1, s.id, &s, &err), OHSM_OK);
    assert_int_equal(s.available, 0);
    assert_int_equal(count("vpc_enis"), 11);

    /* delete the 4th: its address is the next one given */
    assert_int_equal(ohsm_vpc_eni_delete(db, R1, e[3].id, false, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_eni_get(db, R1, e[3].id, &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidNetworkInterfaceID.NotFound");
    assert_int_equal(ohsm_vpc_eni_delete(db, R1, e[3].id, false, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidNetworkInterfaceID.NotFound");
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &e[3], &err), OHSM_OK);
    assert_string_equal(e[3].ip_text, "10.0.5.23");

    /* DependencyViolation while any ENI is left; nothing deleted */
    assert_int_equal(ohsm_vpc_subnet_delete(db, R1, s.id, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "DependencyViolation");
    for (int i = 0; i < 10; i++) {
        assert_int_equal(ohsm_vpc_eni_delete(db, R1, e[i].id, false, &err), OHSM_OK);
    }
    assert_int_equal(ohsm_vpc_subnet_delete(db, R1, s.id, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "DependencyViolation");
    assert_int_equal(ohsm_vpc_subnet_get(db, R1, s.id, &s, &err), OHSM_OK);
    assert_int_equal(s.available, 10);
    assert_int_equal(ohsm_vpc_eni_delete(db, R1, e[10].id, false, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_subnet_delete(db, R1, s.id, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_subnet_get(db, R1, s.id, &s, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnetID.NotFound");
    assert_int_equal(ohsm_vpc_subnet_delete(db, R1, "subnet-0123456789abcdef0", &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnetID.NotFound");
    req.subnet_id = "subnet-0123456789abcdef0";
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnetID.NotFound");
}

/* Requested addresses: taken, outside, reserved and malformed are refused with AWS's codes;
 * lookup by (subnet, ip) finds the holder. */
static void test_vpc_eni_addresses(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    struct ohsm_vpc_vpc v;
    struct ohsm_vpc_subnet s;
    struct ohsm_vpc_eni e, x;
    struct ohsm_cidr c = cidr("10.0.0.0/24");
    assert_int_equal(ohsm_vpc_create(db, R1, ACCT, &c, &v, &err), OHSM_OK);
    c = cidr("10.0.0.0/28");
    assert_int_equal(ohsm_vpc_subnet_create(db, R1, ACCT, v.id, &c, 2, &s, &err), OHSM_OK);
    struct ohsm_vpc_eni_req req = {.subnet_id = s.id, .ip = "10.0.0.9"};
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &e, &err), OHSM_OK);
    assert_string_equal(e.ip_text, "10.0.0.9");
    assert_string_equal(e.description, "");
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidIPAddress.InUse");
    static const char *const reserved[] = {"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3",
                                           "10.0.0.15"};
    for (size_t i = 0; i < 5; i++) {
        req.ip = reserved[i];
        assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_ARGUMENTS_BAD);
        assert_string_equal(err.type, "InvalidParameterValue");
    }
    req.ip = "10.0.0.16";
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidParameterValue");
    assert_string_equal(err.msg, "Address 10.0.0.16 does not fall within the subnet's address "
                                 "range");
    req.ip = "10.0.0.09";
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidParameterValue");
    char longd[300];
    memset(longd, 'd', sizeof(longd) - 1);
    longd[sizeof(longd) - 1] = '\0';
    req.ip = NULL;
    req.description = longd;
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidParameterValue");
    assert_int_equal(count("vpc_enis"), 1);
    /* the lowest free address skips the taken .9 only when reached */
    req.description = "x";
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_OK);
    assert_string_equal(x.ip_text, "10.0.0.4");

    assert_int_equal(ohsm_vpc_eni_find(db, R1, s.id, "10.0.0.9", &x, &err), OHSM_OK);
    assert_string_equal(x.id, e.id);
    assert_int_equal(ohsm_vpc_eni_find(db, R1, s.id, "10.0.0.5", &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidNetworkInterfaceID.NotFound");
    assert_int_equal(ohsm_vpc_eni_find(db, R1, s.id, "10.0.0", &x, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidParameterValue");
    assert_int_equal(ohsm_vpc_eni_find(db, "eu-west-1", s.id, "10.0.0.9", &x, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidSubnetID.NotFound");
}

/* A service's ENI (requester-managed) is refused to users, deleted by the service; security
 * groups are made per cluster and deleted only without ENIs. */
static void test_vpc_requester_managed_and_groups(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    struct ohsm_vpc_subnet *s = NULL;
    struct ohsm_vpc_eni e, x;
    size_t n = 0;
    char sg[OHSM_VPC_ID_MAX], sg2[OHSM_VPC_ID_MAX];
    assert_int_equal(ohsm_vpc_ensure_region(db, R1, ACCT, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_subnet_list(db, R1, &s, &n, &err), OHSM_OK);
    assert_int_equal(n, 3);
    assert_int_equal(
        ohsm_vpc_sg_create(db, R1, ACCT, s[0].vpc_id, "cluster-abcdefghijk", sg, sizeof(sg), &err),
        OHSM_OK);
    assert_true(ohsm_vpc_id_valid("sg-", sg));
    assert_int_equal(ohsm_vpc_sg_create(db, R1, ACCT, s[0].vpc_id, "cluster-abcdefghijk", sg2,
                                        sizeof(sg2), &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidGroup.Duplicate");
    assert_int_equal(
        ohsm_vpc_sg_create(db, R1, ACCT, s[0].vpc_id, "Bad Id", sg2, sizeof(sg2), &err),
        OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_vpc_sg_create(db, R1, ACCT, "vpc-0123456789abcdef0", "cluster-x", sg2,
                                        sizeof(sg2), &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidVpcID.NotFound");

    struct ohsm_vpc_eni_req req = {.subnet_id = s[1].id,
                                   .description = "CloudHSM ENI",
                                   .group_id = sg,
                                   .requester_managed = true};
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &e, &err), OHSM_OK);
    assert_true(e.requester_managed);
    assert_string_equal(e.status, "in-use");
    assert_string_equal(e.group_id, sg);
    assert_string_equal(e.group_name, "cloudhsm-cluster-abcdefghijk-sg");
    assert_string_equal(e.ip_text, "172.31.16.4");
    assert_int_equal(ohsm_vpc_eni_delete(db, R1, e.id, false, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidParameterValue");
    char want[128];
    snprintf(want, sizeof(want), "Network interface '%s' is currently in use.", e.id);
    assert_string_equal(err.msg, want);
    assert_int_equal(ohsm_vpc_eni_get(db, R1, e.id, &x, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_sg_delete(db, R1, sg, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "DependencyViolation");
    assert_int_equal(ohsm_vpc_eni_delete(db, R1, e.id, true, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_sg_delete(db, R1, sg, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_sg_delete(db, R1, sg, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidGroup.NotFound");
    /* a group of another VPC (or none) cannot be given */
    req.group_id = "sg-0123456789abcdef0";
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &e, &err), OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidGroup.NotFound");
    assert_int_equal(count("vpc_enis"), 0);
    free(s);
}

/* ClientToken: a repeat returns the first ENI (no second address); another request with the
 * same token is IdempotentParameterMismatch; once the ENI is deleted the token starts over. */
static void test_vpc_client_token(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    struct ohsm_vpc_subnet *s = NULL;
    struct ohsm_vpc_eni a, b;
    size_t n = 0;
    assert_int_equal(ohsm_vpc_ensure_region(db, R1, ACCT, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_subnet_list(db, R1, &s, &n, &err), OHSM_OK);
    struct ohsm_vpc_eni_req req = {.subnet_id = s[0].id, .description = "d"};
    const char *tok = "t1";
    assert_int_equal(ohsm_vpc_eni_create_token(db, R1, ACCT, &req, tok, &a, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_eni_create_token(db, R1, ACCT, &req, tok, &b, &err), OHSM_OK);
    assert_string_equal(a.id, b.id);
    assert_string_equal(b.ip_text, "172.31.0.4");
    assert_int_equal(count("vpc_enis"), 1);
    req.description = "other";
    assert_int_equal(ohsm_vpc_eni_create_token(db, R1, ACCT, &req, tok, &b, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "IdempotentParameterMismatch");
    req.description = "d";
    req.subnet_id = s[1].id;
    assert_int_equal(ohsm_vpc_eni_create_token(db, R1, ACCT, &req, tok, &b, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "IdempotentParameterMismatch");
    req.subnet_id = s[0].id;
    tok = "bad token";
    assert_int_equal(ohsm_vpc_eni_create_token(db, R1, ACCT, &req, tok, &b, &err),
                     OHSM_ARGUMENTS_BAD);
    assert_string_equal(err.type, "InvalidParameterValue");
    tok = "t1";
    assert_int_equal(ohsm_vpc_eni_delete(db, R1, a.id, false, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_eni_create_token(db, R1, ACCT, &req, tok, &b, &err), OHSM_OK);
    assert_string_not_equal(a.id, b.id);
    assert_int_equal(count("vpc_enis"), 1);
    assert_int_equal(count("vpc_eni_tokens"), 1);
    free(s);
}

/* Rows changed behind the model's back are refused on read (500 InternalError), not used. */
static void test_vpc_tampered_rows(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    struct ohsm_vpc_subnet *s = NULL, one;
    struct ohsm_vpc_vpc *v = NULL;
    struct ohsm_vpc_eni *e = NULL, x;
    size_t n = 0;
    assert_int_equal(ohsm_vpc_ensure_region(db, R1, ACCT, &err), OHSM_OK);
    assert_int_equal(ohsm_vpc_subnet_list(db, R1, &s, &n, &err), OHSM_OK);
    struct ohsm_vpc_eni_req req = {.subnet_id = s[0].id};
    assert_int_equal(ohsm_vpc_eni_create(db, R1, ACCT, &req, &x, &err), OHSM_OK);

    static const char *const breaks[] = {
        "UPDATE vpc_subnets SET cidr = '172.31.0.1/20' WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET cidr = '172.31.0.0/8' WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET cidr = 'x' WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET az = 'us-east-1z' WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET state = 'gone' WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET id = 'subnet-XYZ' WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET default_for_az = 7 WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET owner = '12' WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET cidr = 12 WHERE az = 'us-east-1a'",
        "UPDATE vpc_subnets SET cidr = '10.0.0.0/20' WHERE az = 'us-east-1a'", /* outside VPC */
        "UPDATE vpc_subnets SET vpc_id = 'vpc-00000000000000000' WHERE az = 'us-east-1a'",
        "UPDATE vpc_vpcs SET region = 'eu-west-1'",
    };
    for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        sql("SAVEPOINT t");
        sql(breaks[i]);
        struct ohsm_vpc_subnet *t = NULL;
        assert_int_equal(ohsm_vpc_subnet_list(db, R1, &t, &n, &err), OHSM_DB);
        assert_null(t);
        assert_string_equal(err.type, "InternalError");
        assert_int_equal(err.status, 500);
        sql("ROLLBACK TO t");
        sql("RELEASE t");
    }
    assert_int_equal(ohsm_vpc_subnet_get(db, R1, s[0].id, &one, &err), OHSM_OK);

    static const char *const eni_breaks[] = {
        "UPDATE vpc_enis SET ip = ip - 4", /* the network address: reserved */
        "UPDATE vpc_enis SET ip = 1",      /* outside the subnet */
        "UPDATE vpc_enis SET ip = '10'",   /* text */
        "UPDATE vpc_enis SET mac = 'zz'",  /* malformed */
        "UPDATE vpc_enis SET group_id = 'sg-1'",
        "UPDATE vpc_enis SET requester_managed = 2",
        "DELETE FROM vpc_subnets WHERE az = 'us-east-1a'", /* ENI without its subnet */
    };
    for (size_t i = 0; i < sizeof(eni_breaks) / sizeof(eni_breaks[0]); i++) {
        sql("SAVEPOINT t");
        sql(eni_breaks[i]);
        assert_int_equal(ohsm_vpc_eni_list(db, R1, &e, &n, &err), OHSM_DB);
        assert_int_equal(ohsm_vpc_eni_get(db, R1, x.id, &x, &err), OHSM_DB);
        sql("ROLLBACK TO t");
        sql("RELEASE t");
    }
    sql("SAVEPOINT t");
    sql("UPDATE vpc_vpcs SET region = 'eu-west-1' WHERE is_default = 1");
    sql("UPDATE vpc_vpcs SET region = 'mars' WHERE is_default = 1");
    assert_int_equal(ohsm_vpc_list(db, "mars", &v, &n, &err), OHSM_DB);
    sql("ROLLBACK TO t");
    sql("RELEASE t");
    assert_int_equal(ohsm_vpc_list(db, R1, &v, &n, &err), OHSM_OK);
    assert_int_equal(n, 1);
    free(v);
    free(s);
}

/* A failure in the middle of a change leaves nothing behind, inside an outer transaction too. */
static void test_vpc_all_or_nothing(void **state)
{
    (void)state;
    struct ohsm_aws_err err;
    /* make the third default subnet's insert fail: a trigger refuses az c */
    sql("CREATE TRIGGER no_c BEFORE INSERT ON vpc_subnets WHEN NEW.az = 'us-east-1c' "
        "BEGIN SELECT RAISE(ABORT, 'no'); END");
    sql("BEGIN");
    assert_int_equal(ohsm_vpc_ensure_region(db, R1, ACCT, &err), OHSM_DB);
    assert_string_equal(err.type, "InternalError");
    assert_int_equal(count("vpc_regions"), 0);
    assert_int_equal(count("vpc_vpcs"), 0);
    assert_int_equal(count("vpc_subnets"), 0);
    sql("COMMIT");
    sql("DROP TRIGGER no_c");
    assert_int_equal(ohsm_vpc_ensure_region(db, R1, ACCT, &err), OHSM_OK);
    assert_int_equal(count("vpc_subnets"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vpc_regions_and_azs),
        cmocka_unit_test_setup_teardown(test_vpc_default_region, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vpc_subnet_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vpc_slash28_fills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vpc_eni_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vpc_requester_managed_and_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vpc_client_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vpc_tampered_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vpc_all_or_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
