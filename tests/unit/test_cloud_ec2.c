/* SPDX-License-Identifier: Apache-2.0
 * The EC2 Query handlers of the VPC subset, driven through their operation table with a small
 * stand-in for the front door's form and XML writer (defined here, so this test needs no HTTP
 * server): strict parameters, AWS's error codes, DryRun, filters, paging and the XML shape. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cloud/ec2.h"
#include "cloud/ec2_args.h"
#include "cloud/vpc.h"
#include "http/http.h"

/* ---- stand-in form and XML writer (the contract of http.h) ---- */

#define MAXP 64
struct ohsm_form {
    size_t n;
    char *names[MAXP];
    char *values[MAXP];
};

const char *ohsm_form_get(const struct ohsm_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->names[i], name) == 0) {
            return f->values[i];
        }
    }
    return NULL;
}
size_t ohsm_form_count(const struct ohsm_form *f)
{
    return f->n;
}
const char *ohsm_form_name(const struct ohsm_form *f, size_t i)
{
    return f->names[i];
}
const char *ohsm_form_value(const struct ohsm_form *f, size_t i)
{
    return f->values[i];
}

struct ohsm_xml {
    char buf[1 << 17];
    size_t len;
};

static void put(struct ohsm_xml *x, const char *s)
{
    size_t l = strlen(s);
    assert_true(x->len + l < sizeof(x->buf));
    memcpy(x->buf + x->len, s, l + 1);
    x->len += l;
}
void ohsm_xml_open(struct ohsm_xml *x, const char *el)
{
    put(x, "<");
    put(x, el);
    put(x, ">");
}
void ohsm_xml_close(struct ohsm_xml *x, const char *el)
{
    put(x, "</");
    put(x, el);
    put(x, ">");
}
void ohsm_xml_text(struct ohsm_xml *x, const char *el, const char *text)
{
    ohsm_xml_open(x, el);
    put(x, text); /* the tests use no characters that need escaping */
    ohsm_xml_close(x, el);
}
void ohsm_xml_textf(struct ohsm_xml *x, const char *el, const char *fmt, ...)
{
    char t[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t, sizeof(t), fmt, ap);
    va_end(ap);
    ohsm_xml_text(x, el, t);
}
void ohsm_xml_bool(struct ohsm_xml *x, const char *el, bool v)
{
    ohsm_xml_text(x, el, v ? "true" : "false");
}

/* ---- harness ---- */

static sqlite3 *db;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct ohsm_ec2_ctx ctx;
static struct ohsm_query_service svc;
static struct ohsm_xml xml;
static struct ohsm_aws_err err;
static const char *region = "us-east-1";

static int setup(void **state)
{
    (void)state;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || ohsm_vpc_init(db) != OHSM_OK) {
        return -1;
    }
    ctx.db = db;
    ctx.lock = &mu;
    ctx.account_id = "111122223333";
    ohsm_ec2_service(&ctx, &svc);
    region = "us-east-1";
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sqlite3_close(db);
    return 0;
}

/* Calls action with "name=value" pairs (NULL-terminated); returns the handler's result. The
 * payload is in xml.buf, the error in err. */
static int call(const char *action, ...)
{
    struct ohsm_form f = {0};
    struct ohsm_http_call c = {"req-1", "", region, "111122223333"};
    va_list ap;
    f.names[f.n] = strdup("Action");
    f.values[f.n++] = strdup(action);
    f.names[f.n] = strdup("Version");
    f.values[f.n++] = strdup("2016-11-15");
    va_start(ap, action);
    for (const char *p = va_arg(ap, const char *); p != NULL; p = va_arg(ap, const char *)) {
        const char *eq = strchr(p, '=');
        assert_non_null(eq);
        assert_true(f.n < MAXP);
        f.names[f.n] = strndup(p, (size_t)(eq - p));
        f.values[f.n++] = strdup(eq + 1);
    }
    va_end(ap);
    memset(&err, 0, sizeof(err));
    xml.len = 0;
    xml.buf[0] = '\0';
    int r = -2;
    for (size_t i = 0; i < svc.n_ops; i++) {
        if (strcmp(svc.ops[i].action, action) == 0) {
            r = svc.ops[i].fn(svc.ctx, &c, &f, &xml, &err);
        }
    }
    for (size_t i = 0; i < f.n; i++) {
        free(f.names[i]);
        free(f.values[i]);
    }
    assert_int_not_equal(r, -2); /* the action is in the table */
    return r;
}

static void expect_err(int r, unsigned status, const char *code)
{
    assert_int_equal(r, -1);
    assert_int_equal(err.status, status);
    assert_string_equal(err.type, code);
}

/* Copies the text of the first <el>..</el> at or after from into out. */
static const char *elem(const char *from, const char *el, char *out, size_t cap)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", el);
    snprintf(close, sizeof(close), "</%s>", el);
    const char *a = strstr(from, open);
    assert_non_null(a);
    a += strlen(open);
    const char *b = strstr(a, close);
    assert_non_null(b);
    assert_true((size_t)(b - a) < cap);
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    return b;
}

static size_t count_of(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static int64_t rows(const char *table)
{
    char q[96];
    sqlite3_stmt *st = NULL;
    snprintf(q, sizeof(q), "SELECT count(*) FROM %s", table);
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* ---- tests ---- */

/* The default VPC and its three default subnets are there on first use, per region. */
static void test_ec2_defaults(void **state)
{
    (void)state;
    char t[64];
    assert_int_equal(call("DescribeVpcs", NULL), 0);
    assert_int_equal(count_of(xml.buf, "<item><vpcId>"), 1);
    elem(xml.buf, "isDefault", t, sizeof(t));
    assert_string_equal(t, "true");
    elem(xml.buf, "cidrBlock", t, sizeof(t));
    assert_string_equal(t, "172.31.0.0/16");
    assert_non_null(strstr(xml.buf, "<cidrBlockState><state>associated</state></cidrBlockState>"));
    assert_int_equal(
        call("DescribeSubnets", "Filter.1.Name=default-for-az", "Filter.1.Value.1=true", NULL), 0);
    assert_int_equal(count_of(xml.buf, "<item><subnetId>"), 3);
    assert_non_null(strstr(xml.buf, "<availabilityZone>us-east-1b</availabilityZone>"));
    assert_non_null(strstr(xml.buf, "<availabilityZoneId>use1-az3</availabilityZoneId>"));
    assert_non_null(strstr(xml.buf, "<availableIpAddressCount>4091</availableIpAddressCount>"));
    assert_int_equal(call("DescribeAvailabilityZones", NULL), 0);
    assert_int_equal(count_of(xml.buf, "<zoneState>available</zoneState>"), 3);
    assert_non_null(strstr(xml.buf, "<availabilityZoneInfo><item><zoneName>us-east-1a</zoneName>"
                                    "<zoneId>use1-az1</zoneId>"));
    region = "ap-southeast-1";
    assert_int_equal(call("DescribeAvailabilityZones", "ZoneName.1=ap-southeast-1c", NULL), 0);
    assert_int_equal(count_of(xml.buf, "<item>"), 1);
    assert_non_null(strstr(xml.buf, "<zoneId>apse1-az3</zoneId>"));
    expect_err(call("DescribeAvailabilityZones", "ZoneName.1=us-east-1a", NULL), 400,
               "InvalidParameterValue");
    assert_int_equal(call("DescribeVpcs", NULL), 0);
    assert_int_equal(count_of(xml.buf, "<item><vpcId>"), 1);
    assert_int_equal(rows("vpc_vpcs"), 2);
}

/* CreateVpc: canonical block, bad blocks refused, DryRun changes nothing. */
static void test_ec2_create_vpc(void **state)
{
    (void)state;
    char t[64];
    expect_err(call("CreateVpc", "CidrBlock=10.0.0.0/33", NULL), 400, "InvalidParameterValue");
    assert_string_equal(err.msg, "Value (10.0.0.0/33) for parameter cidrBlock is invalid. This is "
                                 "not a valid CIDR block.");
    expect_err(call("CreateVpc", "CidrBlock=10.0.0.0/8", NULL), 400, "InvalidVpc.Range");
    expect_err(call("CreateVpc", NULL), 400, "MissingParameter");
    expect_err(call("CreateVpc", "CidrBlock=10.0.0.0/16", "Bogus=1", NULL), 400,
               "UnknownParameter");
    expect_err(call("CreateVpc", "CidrBlock=10.0.0.0/16", "DryRun=true", NULL), 412,
               "DryRunOperation");
    expect_err(call("CreateVpc", "CidrBlock=10.0.0.0/16", "DryRun=maybe", NULL), 400,
               "InvalidParameterValue");
    assert_int_equal(rows("vpc_vpcs"), 1); /* the default VPC only */
    assert_int_equal(call("CreateVpc", "CidrBlock=10.0.7.9/16", "DryRun=false", NULL), 0);
    elem(xml.buf, "cidrBlock", t, sizeof(t));
    assert_string_equal(t, "10.0.0.0/16");
    assert_non_null(strstr(xml.buf, "<vpc><vpcId>vpc-"));
    assert_int_equal(rows("vpc_vpcs"), 2);
}

/* A /28 subnet takes 11 ENIs, the 12th fails; DeleteSubnet is refused until they are gone,
 * after which the subnet is not found. */
static void test_ec2_subnet_lifecycle(void **state)
{
    (void)state;
    char vpc[64], subnet[64], arg[128], enis[11][40], t[64];
    assert_int_equal(call("CreateVpc", "CidrBlock=10.0.0.0/16", NULL), 0);
    elem(xml.buf, "vpcId", vpc, sizeof(vpc));
    char vpc_arg[96];
    snprintf(vpc_arg, sizeof(vpc_arg), "VpcId=%s", vpc);
    expect_err(
        call("CreateSubnet", vpc_arg, "CidrBlock=10.0.0.0/28", "AvailabilityZone=us-east-1z", NULL),
        400, "InvalidParameterValue");
    assert_string_equal(err.msg, "Value (us-east-1z) for parameter availabilityZone is invalid. "
                                 "Subnets can currently only be created in the following "
                                 "availability zones: us-east-1a, us-east-1b, us-east-1c.");
    expect_err(call("CreateSubnet", vpc_arg, "CidrBlock=10.1.0.0/28", NULL), 400,
               "InvalidSubnet.Range");
    expect_err(call("CreateSubnet", "VpcId=vpc-0000000000000000f", "CidrBlock=10.0.0.0/28", NULL),
               400, "InvalidVpcID.NotFound");
    expect_err(call("CreateSubnet", vpc_arg, NULL), 400, "MissingParameter");
    expect_err(call("CreateSubnet", vpc_arg, "CidrBlock=10.0.0.0/28", "DryRun=true", NULL), 412,
               "DryRunOperation");
    assert_int_equal(rows("vpc_subnets"), 3);
    assert_int_equal(
        call("CreateSubnet", vpc_arg, "CidrBlock=10.0.0.0/28", "AvailabilityZoneId=use1-az2", NULL),
        0);
    elem(xml.buf, "subnetId", subnet, sizeof(subnet));
    elem(xml.buf, "availabilityZone", t, sizeof(t));
    assert_string_equal(t, "us-east-1b");
    elem(xml.buf, "availableIpAddressCount", t, sizeof(t));
    assert_string_equal(t, "11");
    expect_err(call("CreateSubnet", vpc_arg, "CidrBlock=10.0.0.8/29", NULL), 400,
               "InvalidSubnet.Range");
    expect_err(call("CreateSubnet", vpc_arg, "CidrBlock=10.0.0.0/24", NULL), 400,
               "InvalidSubnet.Conflict");

    snprintf(arg, sizeof(arg), "SubnetId=%s", subnet);
    for (int i = 0; i < 11; i++) {
        char tok[32], want[64];
        snprintf(tok, sizeof(tok), "ClientToken=abc%d", i);
        assert_int_equal(call("CreateNetworkInterface", arg, "Description=test eni", tok, NULL), 0);
        elem(xml.buf, "networkInterfaceId", enis[i], sizeof(enis[i]));
        snprintf(want, sizeof(want), "<privateIpAddress>10.0.0.%d</privateIpAddress>", 4 + i);
        assert_non_null(strstr(xml.buf, want));
        snprintf(want, sizeof(want), "<clientToken>abc%d</clientToken>", i);
        assert_non_null(strstr(xml.buf, want));
    }
    /* a retry with the same token gets the same ENI, not the 12th */
    assert_int_equal(
        call("CreateNetworkInterface", arg, "Description=test eni", "ClientToken=abc3", NULL), 0);
    assert_non_null(strstr(xml.buf, enis[3]));
    expect_err(call("CreateNetworkInterface", arg, NULL), 400, "InsufficientFreeAddressesInSubnet");
    expect_err(call("DeleteSubnet", arg, NULL), 400, "DependencyViolation");
    char want[128];
    snprintf(want, sizeof(want), "The subnet '%s' has dependencies and cannot be deleted.", subnet);
    assert_string_equal(err.msg, want);
    /* the subnet's ENIs, by filter */
    assert_int_equal(call("DescribeNetworkInterfaces", "Filter.1.Name=subnet-id",
                          (snprintf(want, sizeof(want), "Filter.1.Value.1=%s", subnet), want),
                          NULL),
                     0);
    assert_int_equal(count_of(xml.buf, "<item><networkInterfaceId>"), 11);
    for (int i = 0; i < 11; i++) {
        char id[128];
        assert_true((size_t)snprintf(id, sizeof(id), "NetworkInterfaceId=%s", enis[i]) <
                    sizeof(id));
        expect_err(call("DeleteNetworkInterface", id, "DryRun=true", NULL), 412, "DryRunOperation");
        assert_int_equal(call("DeleteNetworkInterface", id, NULL), 0);
        assert_string_equal(xml.buf, "<return>true</return>");
        expect_err(call("DeleteNetworkInterface", id, NULL), 400,
                   "InvalidNetworkInterfaceID.NotFound");
    }
    assert_int_equal(call("DeleteSubnet", arg, NULL), 0);
    assert_string_equal(xml.buf, "<return>true</return>");
    snprintf(arg, sizeof(arg), "SubnetId.1=%s", subnet);
    expect_err(call("DescribeSubnets", arg, NULL), 400, "InvalidSubnetID.NotFound");
    snprintf(want, sizeof(want), "The subnet ID '%s' does not exist", subnet);
    assert_string_equal(err.msg, want);
}

/* Filters: unknown names refused, values OR'd, filters AND'd, wildcards; tag filters match
 * nothing. */
static void test_ec2_filters(void **state)
{
    (void)state;
    expect_err(call("DescribeSubnets", "Filter.1.Name=colour", "Filter.1.Value.1=x", NULL), 400,
               "InvalidParameterValue");
    assert_string_equal(err.msg, "The filter 'colour' is invalid");
    expect_err(call("DescribeSubnets", "Filter.1.Value.1=x", NULL), 400, "InvalidParameterValue");
    expect_err(call("DescribeVpcs", "Filter.1.Name=zone-name", "Filter.1.Value.1=x", NULL), 400,
               "InvalidParameterValue");
    assert_int_equal(call("DescribeSubnets", "Filter.1.Name=availability-zone",
                          "Filter.1.Value.1=us-east-1a", "Filter.1.Value.2=us-east-1c", NULL),
                     0);
    assert_int_equal(count_of(xml.buf, "<item>"), 2);
    assert_int_equal(call("DescribeSubnets", "Filter.1.Name=cidr-block",
                          "Filter.1.Value.1=172.31.1?.0/20", NULL),
                     0);
    assert_int_equal(count_of(xml.buf, "<item>"), 1);
    assert_int_equal(call("DescribeSubnets", "Filter.1.Name=cidr-block",
                          "Filter.1.Value.1=172.31.*", "Filter.2.Name=availability-zone",
                          "Filter.2.Value.1=*b", NULL),
                     0);
    assert_int_equal(count_of(xml.buf, "<item>"), 1);
    assert_int_equal(call("DescribeSubnets", "Filter.1.Name=tag:Name", "Filter.1.Value.1=*", NULL),
                     0);
    assert_string_equal(xml.buf, "<subnetSet></subnetSet>");
    assert_int_equal(
        call("DescribeVpcs", "Filter.1.Name=is-default", "Filter.1.Value.1=false", NULL), 0);
    assert_string_equal(xml.buf, "<vpcSet></vpcSet>");
    expect_err(call("DescribeVpcs", "VpcId.1=vpc-00000000000000000", NULL), 400,
               "InvalidVpcID.NotFound");
    expect_err(call("DescribeNetworkInterfaces", "NetworkInterfaceId.1=eni-1", NULL), 400,
               "InvalidNetworkInterfaceID.NotFound");
    expect_err(call("DescribeSubnets", "SubnetId.01=subnet-1", NULL), 400, "UnknownParameter");
    char longv[1100] = "Filter.1.Value.1=";
    memset(longv + strlen(longv), '*', sizeof(longv) - strlen(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    expect_err(call("DescribeSubnets", "Filter.1.Name=subnet-id", longv, NULL), 400,
               "InvalidParameterValue");
}

/* AWS filter wildcards: * any run, ? one character, backslash escapes; whole-string match. */
static void test_ec2_glob(void **state)
{
    (void)state;
    assert_true(ohsm_ec2_glob("*", ""));
    assert_true(ohsm_ec2_glob("*", "anything"));
    assert_true(ohsm_ec2_glob("a?c", "abc"));
    assert_false(ohsm_ec2_glob("a?c", "ac"));
    assert_true(ohsm_ec2_glob("172.31.*", "172.31.16.0/20"));
    assert_false(ohsm_ec2_glob("172.31.*", "10.172.31.0/24"));
    assert_true(ohsm_ec2_glob("*b*", "abc"));
    assert_false(ohsm_ec2_glob("*b*", "ac"));
    assert_true(ohsm_ec2_glob("a*b*c", "aXbYbZc"));
    assert_false(ohsm_ec2_glob("a*b*c", "aXbYbZ"));
    assert_true(ohsm_ec2_glob("\\*", "*"));
    assert_false(ohsm_ec2_glob("\\*", "x"));
    assert_true(ohsm_ec2_glob("\\?", "?"));
    assert_false(ohsm_ec2_glob("abc", "abcd"));
    assert_false(ohsm_ec2_glob("", "a"));
    assert_true(ohsm_ec2_glob("", ""));
    /* many stars against a long miss: bounded work, no recursion */
    char pat[1025], text[256];
    memset(pat, '*', sizeof(pat) - 2);
    pat[sizeof(pat) - 2] = 'x';
    pat[sizeof(pat) - 1] = '\0';
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    assert_false(ohsm_ec2_glob(pat, text));
}

/* MaxResults pages with an opaque NextToken; out-of-range values and foreign tokens refused. */
static void test_ec2_paging(void **state)
{
    (void)state;
    char vpc[64], va[96], tok[64], ta[96];
    assert_int_equal(call("CreateVpc", "CidrBlock=10.0.0.0/16", NULL), 0);
    elem(xml.buf, "vpcId", vpc, sizeof(vpc));
    snprintf(va, sizeof(va), "VpcId=%s", vpc);
    for (int i = 0; i < 4; i++) {
        char c[64];
        snprintf(c, sizeof(c), "CidrBlock=10.0.%d.0/24", i);
        assert_int_equal(call("CreateSubnet", va, c, NULL), 0);
    }
    assert_int_equal(call("DescribeSubnets", "MaxResults=5", NULL), 0); /* 7 subnets */
    assert_int_equal(count_of(xml.buf, "<item>"), 5);
    elem(xml.buf, "nextToken", tok, sizeof(tok));
    snprintf(ta, sizeof(ta), "NextToken=%s", tok);
    assert_int_equal(call("DescribeSubnets", "MaxResults=5", ta, NULL), 0);
    assert_int_equal(count_of(xml.buf, "<item>"), 2);
    assert_null(strstr(xml.buf, "nextToken"));
    expect_err(call("DescribeSubnets", "MaxResults=4", NULL), 400, "InvalidParameterValue");
    expect_err(call("DescribeSubnets", "MaxResults=1001", NULL), 400, "InvalidParameterValue");
    expect_err(call("DescribeSubnets", "MaxResults=5x", NULL), 400, "InvalidParameterValue");
    expect_err(call("DescribeSubnets", "NextToken=abc", NULL), 400, "InvalidPaginationToken");
    expect_err(call("DescribeAvailabilityZones", "MaxResults=5", NULL), 400, "UnknownParameter");
}

/* ENI addresses and the requester-managed rule as users see them. */
static void test_ec2_eni_rules(void **state)
{
    (void)state;
    char subnet[64], sa[96], eni[64], ea[96];
    assert_int_equal(call("DescribeSubnets", "Filter.1.Name=availability-zone",
                          "Filter.1.Value.1=us-east-1a", NULL),
                     0);
    elem(xml.buf, "subnetId", subnet, sizeof(subnet));
    snprintf(sa, sizeof(sa), "SubnetId=%s", subnet);
    assert_int_equal(call("CreateNetworkInterface", sa, "PrivateIpAddress=172.31.0.10", NULL), 0);
    elem(xml.buf, "networkInterfaceId", eni, sizeof(eni));
    assert_non_null(strstr(xml.buf, "<requesterManaged>false</requesterManaged>"));
    assert_non_null(
        strstr(xml.buf, "<privateDnsName>ip-172-31-0-10.ec2.internal</privateDnsName>"));
    expect_err(call("CreateNetworkInterface", sa, "PrivateIpAddress=172.31.0.10", NULL), 400,
               "InvalidIPAddress.InUse");
    expect_err(call("CreateNetworkInterface", sa, "PrivateIpAddress=172.31.0.1", NULL), 400,
               "InvalidParameterValue");
    expect_err(call("CreateNetworkInterface", sa, "PrivateIpAddress=10.0.0.10", NULL), 400,
               "InvalidParameterValue");
    expect_err(call("CreateNetworkInterface", "SubnetId=subnet-0000000000000000a", NULL), 400,
               "InvalidSubnetID.NotFound");
    expect_err(call("CreateNetworkInterface", NULL), 400, "MissingParameter");
    assert_int_equal(rows("vpc_enis"), 1);
    /* an ENI a service made (as CloudHSM's HSMs do) */
    struct ohsm_vpc_eni_req req = {.subnet_id = subnet, .requester_managed = true};
    struct ohsm_vpc_eni e;
    struct ohsm_aws_err e2;
    assert_int_equal(ohsm_vpc_eni_create(db, "us-east-1", "111122223333", &req, &e, &e2), OHSM_OK);
    snprintf(ea, sizeof(ea), "NetworkInterfaceId=%s", e.id);
    expect_err(call("DeleteNetworkInterface", ea, NULL), 400, "InvalidParameterValue");
    assert_int_equal(call("DescribeNetworkInterfaces", "Filter.1.Name=requester-managed",
                          "Filter.1.Value.1=true", NULL),
                     0);
    assert_int_equal(count_of(xml.buf, "<item><networkInterfaceId>"), 1);
    assert_non_null(strstr(xml.buf, "<status>in-use</status>"));
    assert_int_equal(rows("vpc_enis"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ec2_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ec2_create_vpc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ec2_subnet_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ec2_filters, setup, teardown),
        cmocka_unit_test(test_ec2_glob),
        cmocka_unit_test_setup_teardown(test_ec2_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ec2_eni_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
