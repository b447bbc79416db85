/* SPDX-License-Identifier: Apache-2.0
 *
 * Internal to ec2.c: the strict reading of one EC2 Query request (which parameters an operation
 * takes, indexed lists such as SubnetId.N, Filter.N.Name / Filter.N.Value.M, MaxResults,
 * NextToken, DryRun) and the filter matching (AWS's * and ? wildcards). Everything here trusts
 * nothing of the form and bounds every count.
 */
#ifndef OHSM_CLOUD_EC2_ARGS_H
#define OHSM_CLOUD_EC2_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ohsm_form;
struct ohsm_aws_err;

#define OHSM_EC2_MAX_IDS 1000
#define OHSM_EC2_MAX_FILTERS 50
#define OHSM_EC2_MAX_FILTER_VALUES 1000 /* over all filters of a request */
#define OHSM_EC2_MAX_FILTER_TEXT 1024   /* characters of a filter name or value */

/* Which parameters an operation takes. */
struct ohsm_ec2_spec {
    const char *const *scalars; /* NULL-terminated list of plain parameter names */
    const char *list;           /* "SubnetId" for SubnetId.N, or NULL */
    const char *list2;          /* a second list ("ZoneId", "SecurityGroupId"), or NULL */
    bool filters;               /* Filter.N.Name / Filter.N.Value.M */
    bool paged;                 /* MaxResults, NextToken */
};

struct ohsm_ec2_filter {
    unsigned n;          /* the N of Filter.N */
    const char *name;    /* borrowed from the form */
    size_t first, count; /* its values: vals[first .. first+count) after ohsm_ec2_args_read */
};

struct ohsm_ec2_fval {
    unsigned f, m; /* filter N, value M */
    const char *v; /* borrowed from the form */
};

struct ohsm_ec2_args {
    const char *ids[OHSM_EC2_MAX_IDS];
    size_t n_ids;
    const char *ids2[OHSM_EC2_MAX_IDS];
    size_t n_ids2;
    struct ohsm_ec2_filter f[OHSM_EC2_MAX_FILTERS];
    size_t n_f;
    struct ohsm_ec2_fval vals[OHSM_EC2_MAX_FILTER_VALUES]; /* sorted by filter, then M */
    size_t n_vals;
    size_t max;    /* page size: MaxResults, or SIZE_MAX without it */
    int64_t token; /* first seq of the page (0: from the start) */
    bool dry_run;
};

/* Reads the form against spec into *a (values borrowed from f). Errors (-1 with err filled):
 * UnknownParameter, InvalidParameterValue (bad DryRun/MaxResults/index, too many values, a value
 * without its filter name), InvalidPaginationToken. */
int ohsm_ec2_args_read(const struct ohsm_form *f, const struct ohsm_ec2_spec *spec,
                       struct ohsm_ec2_args *a, struct ohsm_aws_err *err);

/* Does text match the AWS filter pattern pat (* any run, ? one character, \ escapes)? */
bool ohsm_ec2_glob(const char *pat, const char *text);

/* Fills err (status 400 unless DryRunOperation's 412) and returns -1. */
int ohsm_ec2_fail(struct ohsm_aws_err *err, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
