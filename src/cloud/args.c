/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd's command-line parser: one static table of options (name, value placeholder, range,
 * help), walked by both the parser and the usage printer so they cannot drift. Input is argv,
 * untrusted text; a value is taken either from "--opt=VALUE" or from the next argument.
 */
#include "cloud/args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/errf.h"
#include "openhsm/user.h"

enum opt_id {
    O_DATA,
    O_HSMS,
    O_LOCKOUT,
    O_SESSIONS,
    O_EXIT_WITH_PARENT,
    O_HSM_BIN,
    O_LISTEN,
    O_REGION,
    O_ACCOUNT,
    O_CREDENTIALS,
    O_CLOCK_OFFSET,
    O_SEED,
    O_HELP
};

struct opt {
    const char *name;  /* without the leading "--" */
    const char *value; /* placeholder in usage; NULL: the option takes no value */
    enum opt_id id;
    uint64_t lo, hi; /* range of a numeric value (hi 0: not numeric) */
    const char *help;
};

static const struct opt opts[] = {
    {"data", "DIR", O_DATA, 0, 0, "data directory (created 0700 on first start; required)"},
    {"hsms", "N", O_HSMS, 1, OHSM_ARGS_HSMS_MAX, "HSMs in a new cluster, 1..28 (default 2)"},
    {"lockout-attempts", "N", O_LOCKOUT, 1, OHSM_ARGS_LOCKOUT_MAX,
     "failed logins that lock a user (new clusters), 1..100 (default 5)"},
    {"max-sessions", "N", O_SESSIONS, 1, OHSM_ARGS_SESSIONS_MAX,
     "sessions each HSM accepts, 1..4096 (default: the HSM's own)"},
    {"exit-with-parent", NULL, O_EXIT_WITH_PARENT, 0, 0,
     "stop (as on SIGTERM) when the parent process dies"},
    {"hsm-bin", "PATH", O_HSM_BIN, 0, 0, "HSM executable (default: openhsm-hsm next to openhsmd)"},
    {"listen", "ADDR:PORT", O_LISTEN, 0, 0,
     "the AWS API endpoint (default 127.0.0.1:4599; port 0 picks a free one)"},
    {"region", "REGION", O_REGION, 0, 0,
     "region of unsigned requests and the first cluster "
     "(default us-east-1)"},
    {"account-id", "ID", O_ACCOUNT, 0, 0,
     "the account id in ARNs and owner ids, 12 digits "
     "(default 111122223333)"},
    {"credentials", "FILE", O_CREDENTIALS, 0, 0,
     "verify SigV4 signatures with these keys (AWS credentials file format); default: any key"},
    {"clock-offset", "SECONDS", O_CLOCK_OFFSET, 0, 10ull * 366 * 86400,
     "start the service clock this far ahead (key deletion, rotation, backups; tests)"},
    {"seed", "FILE", O_SEED, 0, 0,
     "create the KMS keys, aliases and material of FILE (JSON or YAML) once"},
    {"help", NULL, O_HELP, 0, 0, "print this help and exit"},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

ohsm_rv ohsm_args_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;

    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    /* strtoull skips spaces and accepts a sign ("-1" wraps to ULLONG_MAX): allow digits only. */
    OHSM_ENSURE(s[0] >= '0' && s[0] <= '9', OHSM_ARGUMENTS_BAD);
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    OHSM_ENSURE(*end == '\0', OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(errno != ERANGE && v >= lo && v <= hi, OHSM_DATA_LEN_RANGE);
    *out = (uint64_t)v;
    return OHSM_OK;
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

/* [a-z]{2}(-gov)?-<direction>-[0-9], as AWS region names are (the VPC model checks the same). */
static bool region_ok(const char *r)
{
    size_t n = strlen(r);
    if (n < 6 || n > 23 || strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") != n || r[2] != '-' ||
        r[n - 2] != '-' || r[n - 1] < '0' || r[n - 1] > '9') {
        return false;
    }
    return r[0] >= 'a' && r[0] <= 'z' && r[1] >= 'a' && r[1] <= 'z';
}

/* Stores one option's value. Returns false (err set) when the value is unusable. */
static bool apply(const struct opt *o, const char *val, struct ohsm_args *a, char *err, size_t cap)
{
    uint64_t v = 0;

    if (o->hi != 0 && ohsm_args_uint(val, o->lo, o->hi, &v) != OHSM_OK) {
        ohsm_errf(err, cap, "--%s must be a whole number from %llu to %llu (got '%s')", o->name,
                  (unsigned long long)o->lo, (unsigned long long)o->hi, val);
        return false;
    }
    if (o->value != NULL && val[0] == '\0') {
        ohsm_errf(err, cap, "--%s needs a non-empty %s", o->name, o->value);
        return false;
    }
    switch (o->id) {
    case O_DATA:
        a->data_dir = val;
        break;
    case O_HSM_BIN:
        a->hsm_bin = val;
        break;
    case O_HSMS:
        a->hsms = (uint32_t)v;
        a->hsms_given = true;
        break;
    case O_LOCKOUT:
        a->lockout = (uint32_t)v;
        a->lockout_given = true;
        break;
    case O_SESSIONS:
        a->max_sessions = (uint32_t)v;
        break;
    case O_EXIT_WITH_PARENT:
        a->exit_with_parent = true;
        break;
    case O_LISTEN:
        a->listen = val;
        break;
    case O_REGION:
        if (!region_ok(val)) {
            ohsm_errf(err, cap, "--region must look like us-east-1 (got '%s')", val);
            return false;
        }
        a->region = val;
        break;
    case O_ACCOUNT:
        if (strlen(val) != 12 || strspn(val, "0123456789") != 12) {
            ohsm_errf(err, cap, "--account-id must be 12 digits (got '%s')", val);
            return false;
        }
        a->account_id = val;
        break;
    case O_CREDENTIALS:
        a->credentials = val;
        break;
    case O_CLOCK_OFFSET:
        a->clock_offset = (int64_t)v;
        break;
    case O_SEED:
        a->seed = val;
        break;
    case O_HELP:
        break;
    }
    return true;
}

enum ohsm_args_result ohsm_args_parse(int argc, char *const argv[], struct ohsm_args *out,
                                      char *err, size_t cap)
{
    struct ohsm_args a = {.hsms = OHSM_ARGS_HSMS_DEFAULT,
                          .lockout = OHSM_LOCKOUT_DEFAULT,
                          .listen = OHSM_ARGS_LISTEN_DEFAULT,
                          .region = OHSM_ARGS_REGION_DEFAULT,
                          .account_id = OHSM_ARGS_ACCOUNT_DEFAULT};
    bool seen[N_OPTS] = {false};

    ohsm_errf(err, cap, "%s", "");
    if (out == NULL || argc < 0 || (argc > 0 && argv == NULL)) {
        ohsm_errf(err, cap, "internal error: no arguments");
        return OHSM_ARGS_ERROR;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg == NULL) {
            break;
        }
        if (strcmp(arg, "-h") == 0) {
            return OHSM_ARGS_HELP;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            ohsm_errf(err, cap, "unexpected argument '%s'", arg);
            return OHSM_ARGS_ERROR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        const struct opt *o = find_opt(name, eq != NULL ? (size_t)(eq - name) : strlen(name));
        if (o == NULL) {
            ohsm_errf(err, cap, "unknown option '%s'", arg);
            return OHSM_ARGS_ERROR;
        }
        if (o->id == O_HELP) {
            return OHSM_ARGS_HELP;
        }
        size_t k = (size_t)(o - opts);
        if (seen[k]) {
            ohsm_errf(err, cap, "--%s given more than once", o->name);
            return OHSM_ARGS_ERROR;
        }
        seen[k] = true;
        const char *val = NULL;
        if (o->value == NULL) {
            if (eq != NULL) {
                ohsm_errf(err, cap, "--%s takes no value", o->name);
                return OHSM_ARGS_ERROR;
            }
        } else if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc && argv[i + 1] != NULL && strncmp(argv[i + 1], "--", 2) != 0) {
            val = argv[++i];
        } else {
            ohsm_errf(err, cap, "--%s needs a value (%s)", o->name, o->value);
            return OHSM_ARGS_ERROR;
        }
        if (!apply(o, val != NULL ? val : "", &a, err, cap)) {
            return OHSM_ARGS_ERROR;
        }
    }
    if (a.data_dir == NULL) {
        ohsm_errf(err, cap, "--data DIR is required");
        return OHSM_ARGS_ERROR;
    }
    *out = a;
    return OHSM_ARGS_RUN;
}

void ohsm_args_usage(FILE *f)
{
    char left[64];
    static const char head[] = "usage: openhsmd --data DIR";
    static const char indent[] = "               "; /* lines up under "--data" */
    size_t col = sizeof(head) - 1;

    fputs(head, f);
    for (size_t i = 0; i < N_OPTS; i++) {
        if (opts[i].id == O_DATA || opts[i].id == O_HELP) {
            continue;
        }
        int n =
            snprintf(left, sizeof(left), "[--%s%s%s]", opts[i].name,
                     opts[i].value != NULL ? " " : "", opts[i].value != NULL ? opts[i].value : "");
        if (n < 0 || (size_t)n >= sizeof(left)) {
            continue; /* cannot happen with the names above */
        }
        if (col + 1 + (size_t)n > 80) {
            fprintf(f, "\n%s", indent);
            col = sizeof(indent) - 1;
        }
        fprintf(f, " %s", left);
        col += 1 + (size_t)n;
    }
    fprintf(f, "\n\nRuns a local CloudHSM-like cluster: one openhsm-hsm process per HSM, "
               "restarted when it dies.\n\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        int n =
            snprintf(left, sizeof(left), "--%s%s%s", opts[i].name, opts[i].value != NULL ? " " : "",
                     opts[i].value != NULL ? opts[i].value : "");
        if (n < 0 || (size_t)n >= sizeof(left)) {
            left[0] = '\0'; /* cannot happen with the names above */
        }
        fprintf(f, "  %-24s %s\n", left, opts[i].help);
    }
}
