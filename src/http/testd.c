/* SPDX-License-Identifier: Apache-2.0
 *
 * ohsm-http-testd: the front door with toy services, for tests/e2e/test_http.py only (built with
 * OHSM_TESTS). JSON 1.1 under BaldrApiService (signing name cloudhsm):
 *   DescribeClusters  echoes {"Clusters": [], "NextToken": <the NextToken it got, if any>};
 *                     the service's validation refuses a NextToken that is not a string
 *   DeleteCluster     always CloudHsmResourceNotFoundException
 *   DescribeBackups   returns nothing and no error: the server must answer InternalFailure
 * EC2 Query (2016-11-15, signing name ec2):
 *   DescribeAvailabilityZones  one zone of the call's region
 *   DescribeVpcs               writes past the reply bound: the server must answer InternalError
 * Flags: --listen ADDR:PORT (default 127.0.0.1:0), --credentials FILE, --region R, --max-body N.
 * Prints "listening on 127.0.0.1:PORT" and serves until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static json_t *toy_describe_clusters(void *ctx, const struct ohsm_http_call *call, json_t *in,
                                     struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)err;
    json_t *out = json_pack("{s:[]}", "Clusters");
    json_t *tok = json_object_get(in, "NextToken");
    if (out != NULL && tok != NULL) {
        json_object_set(out, "NextToken", tok);
    }
    return out;
}

static json_t *toy_delete_cluster(void *ctx, const struct ohsm_http_call *call, json_t *in,
                                  struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    const char *id = json_string_value(json_object_get(in, "ClusterId"));
    ohsm_aws_errf(err, 400, "CloudHsmResourceNotFoundException", "Cluster %.64s not found",
                  id != NULL ? id : "(none)");
    return NULL;
}

static json_t *toy_describe_backups(void *ctx, const struct ohsm_http_call *call, json_t *in,
                                    struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)in;
    (void)err;
    return NULL;
}

static int toy_validate(const char *op, json_t *in, char *msg, size_t cap)
{
    json_t *tok = json_object_get(in, "NextToken");
    if (strcmp(op, "DescribeClusters") == 0 && tok != NULL && !json_is_string(tok)) {
        snprintf(msg, cap, "NextToken must be a string");
        return -1;
    }
    return 0;
}

static int toy_describe_azs(void *ctx, const struct ohsm_http_call *call,
                            const struct ohsm_form *in, struct ohsm_xml *out,
                            struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)in;
    (void)err;
    ohsm_xml_open(out, "availabilityZoneInfo");
    ohsm_xml_open(out, "item");
    ohsm_xml_textf(out, "zoneName", "%sa", call->region);
    ohsm_xml_text(out, "zoneState", "available");
    ohsm_xml_text(out, "regionName", call->region);
    ohsm_xml_text(out, "zoneId", "toy-az1");
    ohsm_xml_close(out, "item");
    ohsm_xml_close(out, "availabilityZoneInfo");
    return 0;
}

static int toy_describe_vpcs(void *ctx, const struct ohsm_http_call *call,
                             const struct ohsm_form *in, struct ohsm_xml *out,
                             struct ohsm_aws_err *err)
{
    (void)ctx;
    (void)call;
    (void)in;
    (void)err;
    static const char pad[] = "0123456789012345678901234567890123456789012345678901234567890123";
    ohsm_xml_open(out, "vpcSet");
    for (int i = 0; i < 100000; i++) { /* ~10 MB: over the 4 MiB reply bound */
        ohsm_xml_text(out, "item", pad);
    }
    ohsm_xml_close(out, "vpcSet");
    return 0;
}

static const struct ohsm_json_op toy_json_ops[] = {
    {"DescribeClusters", toy_describe_clusters},
    {"DeleteCluster", toy_delete_cluster},
    {"DescribeBackups", toy_describe_backups},
};

static const struct ohsm_query_op toy_query_ops[] = {
    {"DescribeAvailabilityZones", toy_describe_azs},
    {"DescribeVpcs", toy_describe_vpcs},
};

static int usage(void)
{
    fprintf(stderr, "usage: ohsm-http-testd [--listen ADDR:PORT] [--credentials FILE] "
                    "[--region R] [--max-body N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct ohsm_http_cfg cfg = {
        .listen = "127.0.0.1:0",
        .region = "us-east-1",
        .account_id = "111122223333",
        .log = stderr,
    };
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            return usage();
        }
        if (strcmp(argv[i], "--listen") == 0) {
            cfg.listen = argv[++i];
        } else if (strcmp(argv[i], "--credentials") == 0) {
            cfg.credentials_file = argv[++i];
        } else if (strcmp(argv[i], "--region") == 0) {
            cfg.region = argv[++i];
        } else if (strcmp(argv[i], "--max-body") == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(argv[++i], &end, 10);
            if (errno != 0 || end == argv[i] || *end != '\0' || n == 0 || n > (1ull << 30)) {
                return usage();
            }
            cfg.max_body = (size_t)n;
        } else {
            return usage();
        }
    }
    static const struct ohsm_json_service cloudhsm = {
        .target_prefix = "BaldrApiService",
        .signing_name = "cloudhsm",
        .invalid_request_type = "CloudHsmInvalidRequestException",
        .unknown_op_type = "UnknownOperationException",
        .ops = toy_json_ops,
        .n_ops = sizeof(toy_json_ops) / sizeof(toy_json_ops[0]),
        .validate = toy_validate,
    };
    static const struct ohsm_query_service ec2 = {
        .signing_name = "ec2",
        .version = "2016-11-15",
        .xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/",
        .ops = toy_query_ops,
        .n_ops = sizeof(toy_query_ops) / sizeof(toy_query_ops[0]),
    };
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Blocked before the server's threads start, so they inherit the mask and sigwait gets it. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct ohsm_http *h = NULL;
    uint16_t port = 0;
    ohsm_rv rv = ohsm_http_new(&cfg, &h);
    if (rv != OHSM_OK) {
        fprintf(stderr, "ohsm-http-testd: cannot set up the server (%s)\n", ohsm_rv_name(rv));
        return 1;
    }
    if (ohsm_http_add_json(h, &cloudhsm) != OHSM_OK || ohsm_http_add_query(h, &ec2) != OHSM_OK) {
        fprintf(stderr, "ohsm-http-testd: cannot register the services\n");
        ohsm_http_free(h);
        return 1;
    }
    rv = ohsm_http_start(h, &port);
    if (rv != OHSM_OK) {
        fprintf(stderr, "ohsm-http-testd: cannot listen on %s: %s\n", cfg.listen, strerror(errno));
        ohsm_http_free(h);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)port);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    ohsm_http_free(h);
    return 0;
}
