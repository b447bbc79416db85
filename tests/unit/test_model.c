/* SPDX-License-Identifier: Apache-2.0
 * The CloudHSM v2 input validator generated from botocore's model: every operation accepts a
 * valid input; each kind of constraint refuses, with AWS's message, naming the member in lower
 * camel case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/model.h"

static char msg[1024];

/* Validates op's input given as JSON text; msg holds the message. */
static int val(const char *op, const char *text)
{
    json_error_t e;
    json_t *in = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    if (in == NULL) {
        fail_msg("test JSON does not parse: %s: %s", e.text, text);
    }
    memset(msg, 'X', sizeof(msg));
    int rc = ohsm_model_cloudhsmv2_validate(op, in, msg, sizeof(msg));
    json_decref(in);
    return rc;
}

/* Asserts that op refuses text with exactly want as message. */
static void refuses(const char *op, const char *text, const char *want)
{
    assert_int_equal(val(op, text), -1);
    assert_string_equal(msg, want);
}

#define CID "cluster-igklspoyj5v"
#define BID "backup-ro5c4er4aac"
#define ONE "1 validation error detected: "

static const struct {
    const char *op;
    const char *in;
} valid[] = {
    {"CopyBackupToRegion", "{\"DestinationRegion\":\"us-west-2\",\"BackupId\":\"" BID "\","
                           "\"TagList\":[{\"Key\":\"k\",\"Value\":\"v\"}]}"},
    {"CreateCluster",
     "{\"HsmType\":\"hsm2m.medium\",\"SubnetIds\":[\"subnet-0123abcd\",\"subnet-"
     "0123456789abcdef0\"],"
     "\"SourceBackupId\":\"arn:aws:cloudhsm:us-east-1:111122223333:backup/" BID "\","
     "\"BackupRetentionPolicy\":{\"Type\":\"DAYS\",\"Value\":\"90\"},\"NetworkType\":\"IPV4\","
     "\"Mode\":\"FIPS\",\"TagList\":[{\"Key\":\"Name\",\"Value\":\"caf\\u00e9 \\u4e2d @ "
     "a+b=c\"}]}"},
    {"CreateHsm", "{\"ClusterId\":\"" CID "\",\"AvailabilityZone\":\"us-east-1a\","
                  "\"IpAddress\":\"10.0.0.5\"}"},
    {"DeleteBackup", "{\"BackupId\":\"" BID "\"}"},
    {"DeleteCluster", "{\"ClusterId\":\"" CID "\"}"},
    {"DeleteHsm",
     "{\"ClusterId\":\"" CID "\",\"HsmId\":\"hsm-abcdefghijk\",\"EniId\":\"eni-0123abcd\","
     "\"EniIp\":\"10.0.0.5\"}"},
    {"DeleteResourcePolicy",
     "{\"ResourceArn\":\"arn:aws:cloudhsm:us-east-1:111122223333:backup/" BID "\"}"},
    {"DescribeBackups",
     "{\"Filters\":{\"clusterIds\":[\"" CID
     "\"],\"states\":[\"READY\"],\"neverExpires\":[\"true\"]},"
     "\"SortAscending\":true,\"MaxResults\":50,\"NextToken\":\"abc\",\"Shared\":false}"},
    {"DescribeClusters", "{\"Filters\":{\"clusterIds\":[\"" CID "\"],\"vpcIds\":[]},"
                         "\"MaxResults\":25,\"NextToken\":\"\"}"},
    {"GetResourcePolicy",
     "{\"ResourceArn\":\"arn:aws:cloudhsm:us-east-1:111122223333:cluster/" CID "\"}"},
    {"InitializeCluster",
     "{\"ClusterId\":\"" CID "\",\"SignedCert\":\"-----BEGIN CERTIFICATE-----\\nMIIB+/a=\\n"
     "-----END CERTIFICATE-----\\n\",\"TrustAnchor\":\"-----BEGIN CERTIFICATE-----\\r\\n\"}"},
    {"ListTags", "{\"ResourceId\":\"" BID "\",\"NextToken\":\"t\",\"MaxResults\":100}"},
    {"ModifyBackupAttributes", "{\"BackupId\":\"" BID "\",\"NeverExpires\":false}"},
    {"ModifyCluster", "{\"ClusterId\":\"" CID "\",\"HsmType\":\"hsm1.medium\","
                      "\"BackupRetentionPolicy\":{\"Type\":\"DAYS\",\"Value\":\"7\"}}"},
    {"PutResourcePolicy",
     "{\"ResourceArn\":\"arn:aws-us-gov:cloudhsm:us-gov-west-1:111122223333:hsm/hsm-abcdefghijk\","
     "\"Policy\":\"{}\"}"},
    {"RestoreBackup", "{\"BackupId\":\"" BID "\"}"},
    {"TagResource", "{\"ResourceId\":\"" CID "\",\"TagList\":[{\"Key\":\"a\",\"Value\":\"\"}]}"},
    {"UntagResource", "{\"ResourceId\":\"" CID "\",\"TagKeyList\":[\"a\",\"b c\"]}"},
};

/* Every operation of the model has a valid input here, and each is accepted with no message. */
static void test_model_every_operation_accepts_valid_input(void **state)
{
    (void)state;
    assert_int_equal(ohsm_model_cloudhsmv2.n_ops, sizeof(valid) / sizeof(valid[0]));
    for (size_t i = 0; i < ohsm_model_cloudhsmv2.n_ops; i++) {
        const char *name = ohsm_model_cloudhsmv2.ops[i].name;
        bool found = false;
        for (size_t j = 0; j < sizeof(valid) / sizeof(valid[0]) && !found; j++) {
            found = strcmp(valid[j].op, name) == 0;
        }
        if (!found) {
            fail_msg("no valid input for %s", name);
        }
    }
    for (size_t j = 0; j < sizeof(valid) / sizeof(valid[0]); j++) {
        if (val(valid[j].op, valid[j].in) != 0) {
            fail_msg("%s refused: %s", valid[j].op, msg);
        }
        assert_string_equal(msg, "");
    }
}

/* Only the required members are needed; optional ones may be null; unknown ones are ignored. */
static void test_model_minimal_null_and_unknown_members(void **state)
{
    (void)state;
    assert_int_equal(val("DescribeClusters", "{}"), 0);
    assert_int_equal(val("DescribeBackups", "{\"Filters\":null,\"NextToken\":null}"), 0);
    assert_int_equal(val("DeleteCluster", "{\"ClusterId\":\"" CID "\",\"Future\":[1,{}]}"), 0);
    assert_int_equal(val("CreateHsm", "{\"ClusterId\":\"" CID "\",\"AvailabilityZone\":"
                                      "\"us-gov-west-1b\",\"clusterid\":5}"),
                     0);
}

/* Unknown operations are the router's to report: 0 and no message. */
static void test_model_unknown_operation_passes(void **state)
{
    (void)state;
    assert_int_equal(val("NoSuchOperation", "{\"x\":1}"), 0);
    assert_string_equal(msg, "");
    assert_int_equal(ohsm_model_cloudhsmv2_validate(NULL, NULL, NULL, 0), 0);
    assert_null(ohsm_model_find(&ohsm_model_cloudhsmv2, "describeclusters"));
    assert_non_null(ohsm_model_find(&ohsm_model_cloudhsmv2, "DescribeClusters"));
}

/* A required member absent or null: "Value null ... Member must not be null". */
static void test_model_missing_required(void **state)
{
    (void)state;
    refuses("DeleteCluster", "{}",
            ONE "Value null at 'clusterId' failed to satisfy constraint: Member must not be null");
    refuses("DeleteCluster", "{\"ClusterId\":null}",
            ONE "Value null at 'clusterId' failed to satisfy constraint: Member must not be null");
    refuses("TagResource", "{\"ResourceId\":\"" CID "\",\"TagList\":[{\"Key\":\"k\"}]}",
            ONE "Value null at 'tagList.1.member.value' failed to satisfy constraint: "
                "Member must not be null");
    refuses("InitializeCluster", "{\"ClusterId\":\"" CID "\"}",
            "2 validation errors detected: Value null at 'signedCert' failed to satisfy "
            "constraint: Member must not be null; Value null at 'trustAnchor' failed to satisfy "
            "constraint: Member must not be null");
}

/* Each member's JSON type follows its shape type. */
static void test_model_wrong_types(void **state)
{
    (void)state;
    refuses("DeleteCluster", "{\"ClusterId\":5}",
            ONE "Value '5' at 'clusterId' failed to satisfy constraint: Member must be of type "
                "string");
    refuses("DescribeClusters", "{\"MaxResults\":\"5\"}",
            ONE "Value '5' at 'maxResults' failed to satisfy constraint: Member must be of type "
                "integer");
    refuses("DescribeClusters", "{\"MaxResults\":5.0}",
            ONE "Value '5' at 'maxResults' failed to satisfy constraint: Member must be of type "
                "integer");
    refuses("ModifyBackupAttributes", "{\"BackupId\":\"" BID "\",\"NeverExpires\":\"true\"}",
            ONE "Value 'true' at 'neverExpires' failed to satisfy constraint: Member must be of "
                "type boolean");
    refuses("CreateCluster", "{\"HsmType\":\"hsm1.medium\",\"SubnetIds\":\"subnet-0123abcd\"}",
            ONE "Value 'subnet-0123abcd' at 'subnetIds' failed to satisfy constraint: Member must "
                "be of type list");
    refuses("DescribeClusters", "{\"Filters\":[[\"a\"]]}",
            ONE "Value '[[a]]' at 'filters' failed to satisfy constraint: Member must be of type "
                "map");
    refuses("ModifyCluster", "{\"ClusterId\":\"" CID "\",\"BackupRetentionPolicy\":[]}",
            ONE "Value '[]' at 'backupRetentionPolicy' failed to satisfy constraint: Member must "
                "be of type structure");
    refuses("DescribeClusters", "{\"Filters\":{\"clusterIds\":[1]}}",
            ONE "Value '1' at 'filters.clusterIds.1.member' failed to satisfy constraint: Member "
                "must be of type string");
    /* 2^31 does not fit a Java int: a type error, not a range error. */
    refuses("DescribeClusters", "{\"MaxResults\":2147483648}",
            ONE "Value '2147483648' at 'maxResults' failed to satisfy constraint: Member must be "
                "of type integer");
    assert_int_equal(ohsm_model_cloudhsmv2_validate("DescribeClusters", NULL, msg, sizeof(msg)),
                     -1);
    json_t *arr = json_array();
    assert_int_equal(ohsm_model_cloudhsmv2_validate("DescribeClusters", arr, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "Start of structure or map found where not expected.");
    json_decref(arr);
}

/* String lengths are counted in code points; 33 characters of HsmType are one too many. */
static void test_model_too_long(void **state)
{
    char in[2048];
    char v[1200];
    (void)state;
    refuses(
        "CreateCluster",
        "{\"HsmType\":\"hsm1.aaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"SubnetIds\":[\"subnet-0123abcd\"]}",
        ONE "Value 'hsm1.aaaaaaaaaaaaaaaaaaaaaaaaaaaa' at 'hsmType' failed to satisfy "
            "constraint: Member must have length less than or equal to 32");
    /* 256 two-byte characters (512 bytes) are a valid TagValue; 257 are not. */
    memset(v, 0, sizeof(v));
    for (size_t i = 0; i < 256; i++) {
        memcpy(v + 2 * i, "\xc3\xa9", 2);
    }
    (void)snprintf(in, sizeof(in),
                   "{\"ResourceId\":\"" CID "\",\"TagList\":[{\"Key\":\"k\","
                   "\"Value\":\"%s\"}]}",
                   v);
    assert_int_equal(val("TagResource", in), 0);
    memcpy(v + 512, "\xc3\xa9", 2);
    (void)snprintf(in, sizeof(in),
                   "{\"ResourceId\":\"" CID "\",\"TagList\":[{\"Key\":\"k\","
                   "\"Value\":\"%s\"}]}",
                   v);
    assert_int_equal(val("TagResource", in), -1);
    assert_non_null(strstr(msg, "...' at 'tagList.1.member.value' failed to satisfy constraint: "
                                "Member must have length less than or equal to 256"));
    assert_true(strncmp(msg, ONE "Value '\xc3\xa9\xc3\xa9", strlen(ONE) + 11) == 0);
    /* TagKey has a minimum of 1. */
    refuses("UntagResource", "{\"ResourceId\":\"" CID "\",\"TagKeyList\":[\"\"]}",
            ONE "Value '' at 'tagKeyList.1.member' failed to satisfy constraint: Member must have "
                "length greater than or equal to 1");
}

/* Patterns match the whole value (ClusterId, BackupId, SubnetId, Tag key). */
static void test_model_bad_pattern(void **state)
{
    (void)state;
    refuses("DeleteCluster", "{\"ClusterId\":\"cluster-1\"}",
            ONE "Value 'cluster-1' at 'clusterId' failed to satisfy constraint: Member must "
                "satisfy regular expression pattern: cluster-[2-7a-zA-Z]{11,16}");
    refuses("DeleteCluster", "{\"ClusterId\":\"x" CID "\"}",
            ONE "Value 'x" CID "' at 'clusterId' failed to satisfy constraint: Member must "
                "satisfy regular expression pattern: cluster-[2-7a-zA-Z]{11,16}");
    assert_int_equal(val("DeleteCluster", "{\"ClusterId\":\"" CID "!\"}"), -1);
    assert_int_equal(val("DeleteCluster", "{\"ClusterId\":\"cluster-igklspoyj1v\"}"), -1);
    refuses("RestoreBackup", "{\"BackupId\":\"backup-abc\"}",
            ONE "Value 'backup-abc' at 'backupId' failed to satisfy constraint: Member must "
                "satisfy regular expression pattern: backup-[2-7a-zA-Z]{11,16}");
    refuses("CreateCluster",
            "{\"HsmType\":\"hsm1.medium\",\"SubnetIds\":[\"subnet-0123abcd\","
            "\"subnet-xyz\"]}",
            ONE "Value 'subnet-xyz' at 'subnetIds.2.member' failed to satisfy constraint: Member "
                "must satisfy regular expression pattern: subnet-[0-9a-fA-F]{8,17}");
    refuses("TagResource",
            "{\"ResourceId\":\"" CID "\",\"TagList\":[{\"Key\":\"bad*key\","
            "\"Value\":\"v\"}]}",
            ONE "Value 'bad*key' at 'tagList.1.member.key' failed to satisfy constraint: Member "
                "must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$");
    /* A control character is no letter, number or separator; a tab is not \p{Z}. */
    assert_int_equal(
        val("UntagResource", "{\"ResourceId\":\"" CID "\",\"TagKeyList\":[\"a\\tb\"]}"), -1);
    assert_int_equal(val("UntagResource",
                         "{\"ResourceId\":\"" CID "\",\"TagKeyList\":[\"Gr\\u00f6\\u00dfe"
                         " \\u0661\"]}"),
                     0);
    /* (p|)hsm: the empty alternative; (?:cluster|backup); a pattern with its own ^ but no $. */
    assert_int_equal(val("ModifyCluster", "{\"ClusterId\":\"" CID "\",\"HsmType\":\"phsm3.x\"}"),
                     0);
    assert_int_equal(val("ModifyCluster", "{\"ClusterId\":\"" CID "\",\"HsmType\":\"xhsm3.x\"}"),
                     -1);
    assert_int_equal(val("ListTags", "{\"ResourceId\":\"hsm-abcdefghijk\"}"), -1);
    assert_int_equal(val("CreateCluster",
                         "{\"HsmType\":\"hsm1.medium\",\"SubnetIds\":"
                         "[\"subnet-0123abcd\"],\"SourceBackupId\":\"" BID "x!\"}"),
                     -1);
    /* NextToken is '.*': Java's '.' does not match a line terminator. */
    assert_int_equal(val("DescribeClusters", "{\"NextToken\":\"a\\nb\"}"), -1);
    /* An embedded NUL matches no pattern. */
    json_t *in = json_pack("{s:s%}", "ClusterId", CID "\0", sizeof(CID));
    assert_non_null(in);
    assert_int_equal(ohsm_model_cloudhsmv2_validate("DeleteCluster", in, msg, sizeof(msg)), -1);
    json_decref(in);
}

/* Enum values are exact (case-sensitive) members of the set, listed in the message. */
static void test_model_enum(void **state)
{
    (void)state;
    refuses("CreateCluster",
            "{\"HsmType\":\"hsm1.medium\",\"SubnetIds\":[\"subnet-0123abcd\"],"
            "\"NetworkType\":\"ipv4\"}",
            ONE "Value 'ipv4' at 'networkType' failed to satisfy constraint: Member must satisfy "
                "enum value set: [IPV4, DUALSTACK]");
    refuses("ModifyCluster",
            "{\"ClusterId\":\"" CID "\",\"BackupRetentionPolicy\":{\"Type\":"
            "\"WEEKS\",\"Value\":\"1000\"}}",
            "2 validation errors detected: Value 'WEEKS' at 'backupRetentionPolicy.type' failed "
            "to satisfy constraint: Member must satisfy enum value set: [DAYS]; Value '1000' at "
            "'backupRetentionPolicy.value' failed to satisfy constraint: Member must have length "
            "less than or equal to 3");
}

/* List and map counts: SubnetIds holds at most 10, TagList at least 1, Filters at most 30. */
static void test_model_list_and_map_counts(void **state)
{
    char in[1024];
    size_t off;
    (void)state;
    off = (size_t)snprintf(in, sizeof(in), "{\"HsmType\":\"hsm1.medium\",\"SubnetIds\":[");
    for (int i = 0; i < 11; i++) {
        off += (size_t)snprintf(in + off, sizeof(in) - off, "%s\"subnet-%08d\"", i ? "," : "", i);
    }
    (void)snprintf(in + off, sizeof(in) - off, "]}");
    assert_int_equal(val("CreateCluster", in), -1);
    assert_true(strncmp(msg, ONE "Value '[subnet-00000000, subnet-00000001, ", 70) == 0);
    assert_non_null(strstr(msg, "...' at 'subnetIds' failed to satisfy constraint: Member must "
                                "have length less than or equal to 10"));
    refuses("CreateCluster", "{\"HsmType\":\"hsm1.medium\",\"SubnetIds\":[]}",
            ONE "Value '[]' at 'subnetIds' failed to satisfy constraint: Member must have length "
                "greater than or equal to 1");
    refuses("TagResource", "{\"ResourceId\":\"" CID "\",\"TagList\":[]}",
            ONE "Value '[]' at 'tagList' failed to satisfy constraint: Member must have length "
                "greater than or equal to 1");
    off = (size_t)snprintf(in, sizeof(in), "{\"Filters\":{");
    for (int i = 0; i < 31; i++) {
        off += (size_t)snprintf(in + off, sizeof(in) - off, "%s\"f%d\":[]", i ? "," : "", i);
    }
    (void)snprintf(in + off, sizeof(in) - off, "}}");
    assert_int_equal(val("DescribeClusters", in), -1);
    assert_non_null(strstr(msg, "' at 'filters' failed to satisfy constraint: Member must have "
                                "length less than or equal to 30"));
    /* Map keys have a pattern: reported once per map, with all of the key's constraints. */
    refuses("DescribeClusters", "{\"Filters\":{\"bad key\":[],\"worse key\":[]}}",
            ONE "Value '{bad key=[], worse key=[]}' at 'filters' failed to satisfy constraint: "
                "Map keys must satisfy constraint: [Member must satisfy regular expression "
                "pattern: [a-zA-Z0-9_-]+]");
}

/* Integer ranges: DescribeClusters' MaxResults is 1..25. */
static void test_model_integer_range(void **state)
{
    (void)state;
    refuses("DescribeClusters", "{\"MaxResults\":26}",
            ONE "Value '26' at 'maxResults' failed to satisfy constraint: Member must have value "
                "less than or equal to 25");
    refuses("DescribeClusters", "{\"MaxResults\":0}",
            ONE "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value "
                "greater than or equal to 1");
    assert_int_equal(val("DescribeClusters", "{\"MaxResults\":1}"), 0);
    assert_int_equal(val("DescribeBackups", "{\"MaxResults\":50}"), 0);
    assert_int_equal(val("DescribeBackups", "{\"MaxResults\":51}"), -1);
}

/* The message is cut to the caller's buffer at a UTF-8 boundary and always terminated. */
static void test_model_message_bounds(void **state)
{
    char small[12];
    json_t *in = json_loads("{\"ClusterId\":\"\\u00e9\\u00e9\\u00e9\"}", 0, NULL);
    (void)state;
    assert_non_null(in);
    assert_int_equal(ohsm_model_cloudhsmv2_validate("DeleteCluster", in, NULL, 0), -1);
    memset(small, 'X', sizeof(small));
    assert_int_equal(ohsm_model_cloudhsmv2_validate("DeleteCluster", in, small, 1), -1);
    assert_int_equal(small[0], '\0');
    assert_int_equal(small[1], 'X');
    assert_int_equal(ohsm_model_cloudhsmv2_validate("DeleteCluster", in, small, sizeof(small)), -1);
    assert_string_equal(small, "1 validatio");
    json_decref(in);
    /* Many errors: all counted, as many whole ones shown as fit. */
    char big[8192];
    size_t off = (size_t)snprintf(big, sizeof(big), "{\"ResourceId\":\"" CID "\",\"TagKeyList\":[");
    for (int i = 0; i < 50; i++) {
        off +=
            (size_t)snprintf(big + off, sizeof(big) - off, "%s\"bad*key*%02d\"", i ? "," : "", i);
    }
    (void)snprintf(big + off, sizeof(big) - off, "]}");
    assert_int_equal(val("UntagResource", big), -1);
    assert_true(strncmp(msg,
                        "50 validation errors detected: Value 'bad*key*00' at "
                        "'tagKeyList.1.member'",
                        70) == 0);
    assert_true(strlen(msg) < sizeof(msg));
    assert_null(strstr(msg, "; ;"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_every_operation_accepts_valid_input),
        cmocka_unit_test(test_model_minimal_null_and_unknown_members),
        cmocka_unit_test(test_model_unknown_operation_passes),
        cmocka_unit_test(test_model_missing_required),
        cmocka_unit_test(test_model_wrong_types),
        cmocka_unit_test(test_model_too_long),
        cmocka_unit_test(test_model_bad_pattern),
        cmocka_unit_test(test_model_enum),
        cmocka_unit_test(test_model_list_and_map_counts),
        cmocka_unit_test(test_model_integer_range),
        cmocka_unit_test(test_model_message_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
