/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd's command line. Parsing is pure (no I/O, no globals, no getopt state) so it can be
 * unit-tested; the option table is the single source of both the parser and the usage text.
 * Everything in argv is untrusted: numbers go through strtoull with an explicit range.
 */
#ifndef OHSM_CLOUD_ARGS_H
#define OHSM_CLOUD_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "openhsm/rv.h"

#define OHSM_ARGS_HSMS_DEFAULT 2
#define OHSM_ARGS_HSMS_MAX 28 /* CloudHSM's per-cluster HSM limit */
#define OHSM_ARGS_LOCKOUT_MAX 100
#define OHSM_ARGS_SESSIONS_MAX 4096
#define OHSM_ARGS_LISTEN_DEFAULT "127.0.0.1:4599"
#define OHSM_ARGS_REGION_DEFAULT "us-east-1"
#define OHSM_ARGS_ACCOUNT_DEFAULT "111122223333"

struct ohsm_args {
    const char *data_dir;  /* borrowed from argv */
    const char *hsm_bin;   /* borrowed; NULL: openhsm-hsm next to this executable */
    uint32_t hsms;         /* HSMs of a new cluster, 1..28 */
    uint32_t lockout;      /* failed logins that lock a user (new clusters), 1..100 */
    uint32_t max_sessions; /* passed to each HSM; 0: not given (the HSM's default) */
    bool exit_with_parent;
    bool hsms_given; /* --hsms was on the command line */
    bool lockout_given;
    const char *listen;      /* the AWS API endpoint, ADDR:PORT */
    const char *region;      /* default region */
    const char *account_id;  /* 12 digits */
    const char *credentials; /* NULL: signatures are not checked */
    int64_t clock_offset;    /* seconds added to the service clock at start */
    const char *seed;        /* KMS seed file; NULL: none */
};

enum ohsm_args_result {
    OHSM_ARGS_RUN = 0,   /* *out is filled in */
    OHSM_ARGS_HELP = 1,  /* --help: print usage to stdout, exit 0 */
    OHSM_ARGS_ERROR = 2, /* err holds a one-line message; print it and usage, exit 2 */
};

/* Parses argv[1..argc-1] into *out (which borrows from argv). Accepts "--opt VALUE" and
 * "--opt=VALUE"; refuses unknown options, positional arguments, repeated options, missing or
 * out-of-range values and a missing --data. err (cap bytes, may be NULL) gets the reason. */
enum ohsm_args_result ohsm_args_parse(int argc, char *const argv[], struct ohsm_args *out,
                                      char *err, size_t cap);

/* Parses a whole decimal number in [lo, hi]: digits only (no sign, space or suffix), no overflow.
 * Errors: OHSM_ARGUMENTS_BAD (NULL, empty, garbage), OHSM_DATA_LEN_RANGE (overflow or out of
 * range). *out is untouched on error. */
OHSM_NODISCARD ohsm_rv ohsm_args_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* Writes the usage text, built from the option table. */
void ohsm_args_usage(FILE *f);

#endif
