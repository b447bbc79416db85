/* SPDX-License-Identifier: Apache-2.0
 *
 * Strict reading of EC2 Query parameters. An index is a decimal 1..100000 without a leading zero
 * (botocore numbers lists from 1); a name that is neither one of the operation's parameters nor
 * one of its indexed lists is refused as EC2 refuses it (UnknownParameter), so a typo never passes
 * as "not given".
 */
#include "cloud/ec2_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int ohsm_ec2_fail(struct ohsm_aws_err *err, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    snprintf(err->type, sizeof(err->type), "%s", code);
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads "N" or "N." at *p: 1..100000, no leading zero. Advances *p past the digits. */
static bool index_at(const char **p, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == 6) {
            return false;
        }
        v = v * 10u + (unsigned)(s[n] - '0');
        n++;
    }
    if (n == 0 || s[0] == '0' || v > 100000u) {
        return false;
    }
    *p = s + n;
    *out = v;
    return true;
}

/* Is name "<prefix>.N"? */
static bool is_list(const char *name, const char *prefix)
{
    size_t l;
    unsigned n;
    if (prefix == NULL) {
        return false;
    }
    l = strlen(prefix);
    if (strncmp(name, prefix, l) != 0 || name[l] != '.') {
        return false;
    }
    const char *p = name + l + 1;
    return index_at(&p, &n) && *p == '\0';
}

static struct ohsm_ec2_filter *filter_slot(struct ohsm_ec2_args *a, unsigned n)
{
    for (size_t i = 0; i < a->n_f; i++) {
        if (a->f[i].n == n) {
            return &a->f[i];
        }
    }
    if (a->n_f == OHSM_EC2_MAX_FILTERS) {
        return NULL;
    }
    struct ohsm_ec2_filter *f = &a->f[a->n_f++];
    memset(f, 0, sizeof(*f));
    f->n = n;
    return f;
}

/* Filter.N.Name or Filter.N.Value.M: 1 taken, 0 not a filter parameter, -1 error. */
static int filter_param(const char *name, const char *value, struct ohsm_ec2_args *a,
                        struct ohsm_aws_err *err)
{
    unsigned n, m;
    const char *p = name + 7;
    if (strncmp(name, "Filter.", 7) != 0 || !index_at(&p, &n) || *p != '.') {
        return 0;
    }
    p++;
    /* Bounded, so that matching a wildcard pattern (O(pattern * text)) stays cheap. */
    if (strnlen(value, OHSM_EC2_MAX_FILTER_TEXT + 1) > OHSM_EC2_MAX_FILTER_TEXT) {
        return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                             "The value of %.64s is longer than %d characters", name,
                             OHSM_EC2_MAX_FILTER_TEXT);
    }
    if (strcmp(p, "Name") == 0) {
        struct ohsm_ec2_filter *f = filter_slot(a, n);
        if (f == NULL) {
            return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                                 "The request has more than %d filters", OHSM_EC2_MAX_FILTERS);
        }
        f->name = value;
        return 1;
    }
    if (strncmp(p, "Value.", 6) != 0) {
        return 0;
    }
    p += 6;
    if (!index_at(&p, &m) || *p != '\0') {
        return 0;
    }
    if (a->n_vals == OHSM_EC2_MAX_FILTER_VALUES || filter_slot(a, n) == NULL) {
        return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                             "The request has too many filter values");
    }
    a->vals[a->n_vals].f = n;
    a->vals[a->n_vals].m = m;
    a->vals[a->n_vals].v = value;
    a->n_vals++;
    return 1;
}

static int cmp_vals(const void *x, const void *y)
{
    const struct ohsm_ec2_fval *a = x, *b = y;
    if (a->f != b->f) {
        return a->f < b->f ? -1 : 1;
    }
    return a->m < b->m ? -1 : a->m > b->m;
}

/* Groups the values by filter and checks that every filter has a name and a value. */
static int filters_finish(struct ohsm_ec2_args *a, struct ohsm_aws_err *err)
{
    qsort(a->vals, a->n_vals, sizeof(a->vals[0]), cmp_vals);
    for (size_t i = 0; i < a->n_f; i++) {
        struct ohsm_ec2_filter *f = &a->f[i];
        if (f->name == NULL) {
            return ohsm_ec2_fail(err, 400, "InvalidParameterValue", "The filter 'null' is invalid");
        }
        f->count = 0;
        for (size_t k = 0; k < a->n_vals; k++) {
            if (a->vals[k].f == f->n) {
                if (f->count == 0) {
                    f->first = k;
                }
                f->count++;
            }
        }
        if (f->count == 0) {
            return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                                 "The filter '%.64s' has no values", f->name);
        }
    }
    return 0;
}

static int read_bool(const char *name, const char *v, bool *out, struct ohsm_aws_err *err)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        *out = v[0] == 't';
        return 0;
    }
    return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                         "Value (%.64s) for parameter %s is invalid. Expected: 'true' or 'false'.",
                         v, name);
}

static int read_paging(const char *name, const char *v, struct ohsm_ec2_args *a,
                       struct ohsm_aws_err *err)
{
    char *end = NULL;
    if (strcmp(name, "MaxResults") == 0) {
        unsigned long long n = v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
        if (end == NULL || *end != '\0' || n < 5 || n > 1000) {
            return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                                 "Value ( %.32s ) for parameter maxResults is invalid. Expecting a "
                                 "value greater than 5 and less than 1000.",
                                 v);
        }
        a->max = (size_t)n;
        return 0;
    }
    /* NextToken: our own decimal seq; anything else was not made by us. */
    unsigned long long t = v[0] >= '1' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
    if (end == NULL || *end != '\0' || t == 0 || t > (unsigned long long)INT64_MAX) {
        return ohsm_ec2_fail(err, 400, "InvalidPaginationToken",
                             "Invalid pagination token: '%.64s'", v);
    }
    a->token = (int64_t)t;
    return 0;
}

int ohsm_ec2_args_read(const struct ohsm_form *f, const struct ohsm_ec2_spec *spec,
                       struct ohsm_ec2_args *a, struct ohsm_aws_err *err)
{
    memset(a, 0, sizeof(*a));
    a->max = SIZE_MAX;
    for (size_t i = 0; i < ohsm_form_count(f); i++) {
        const char *name = ohsm_form_name(f, i), *v = ohsm_form_value(f, i);
        bool scalar = false;
        if (strcmp(name, "Action") == 0 || strcmp(name, "Version") == 0) {
            continue;
        }
        if (strcmp(name, "DryRun") == 0) {
            if (read_bool(name, v, &a->dry_run, err) != 0) {
                return -1;
            }
            continue;
        }
        for (size_t k = 0; spec->scalars != NULL && spec->scalars[k] != NULL; k++) {
            scalar = scalar || strcmp(name, spec->scalars[k]) == 0;
        }
        if (scalar) {
            continue; /* read by the handler with ohsm_form_get */
        }
        if (spec->paged && (strcmp(name, "MaxResults") == 0 || strcmp(name, "NextToken") == 0)) {
            if (read_paging(name, v, a, err) != 0) {
                return -1;
            }
            continue;
        }
        if (is_list(name, spec->list) || is_list(name, spec->list2)) {
            bool first = is_list(name, spec->list);
            size_t *n = first ? &a->n_ids : &a->n_ids2;
            if (*n == OHSM_EC2_MAX_IDS) {
                return ohsm_ec2_fail(err, 400, "InvalidParameterValue",
                                     "The request has more than %d ids", OHSM_EC2_MAX_IDS);
            }
            (first ? a->ids : a->ids2)[(*n)++] = v;
            continue;
        }
        if (spec->filters) {
            int r = filter_param(name, v, a, err);
            if (r < 0) {
                return -1;
            }
            if (r == 1) {
                continue;
            }
        }
        return ohsm_ec2_fail(err, 400, "UnknownParameter", "The parameter %.64s is not recognized",
                             name);
    }
    return filters_finish(a, err);
}

bool ohsm_ec2_glob(const char *pat, const char *text)
{
    /* Iterative matcher with one backtrack point: O(len(pat) * len(text)) at worst, no
     * recursion, so a hostile pattern costs at most a bounded loop. */
    const char *star = NULL, *resume = NULL;
    while (*text != '\0') {
        if (*pat == '*') {
            star = ++pat;
            resume = text;
            continue;
        }
        if (*pat == '\\' && pat[1] != '\0' && pat[1] == *text) {
            pat += 2;
            text++;
            continue;
        }
        if (*pat != '\0' && *pat != '\\' && (*pat == '?' || *pat == *text)) {
            pat++;
            text++;
            continue;
        }
        if (star == NULL) {
            return false;
        }
        pat = star;
        text = ++resume;
    }
    while (*pat == '*') {
        pat++;
    }
    return *pat == '\0';
}
