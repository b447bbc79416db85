/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for the EC2 Query handlers of the VPC subset (src/cloud/ec2*.c over the model
 * src/cloud/vpc*.c): the input is a form-encoded request body, decoded by the front door's real
 * decoder (src/http/form.c, as route.c does) and given to the handler its Action names in
 * ohsm_ec2_service's table, with the real XML writer (src/http/xml.c).
 *
 * State: one in-memory SQLite database per process, made once at start: region us-east-1 with
 * its default VPC and subnets, plus a second VPC with a /28 subnet, a security group and two
 * ENIs (one with a ClientToken, one requester-managed). The ids are then rewritten to fixed values
 * (below) so the seeds can name existing resources. Every input runs inside a transaction that is
 * rolled back afterwards, so each run starts from the same state and a crash reproduces.
 *
 * Invariants checked (any broken one aborts): a handler returns 0 or -1; on -1 the error has a
 * type and an HTTP status of 4xx/5xx, and the database is exactly as before (a refused request,
 * a dry run included, changes nothing); on 0 the payload is balanced XML; the handler leaves the
 * ctx lock free and leaves no transaction of its own open. Seeds: fuzz/corpus/ec2. With
 * OHSM_FUZZ_EC2_TRACE set, each run prints its action and outcome (to check what seeds reach).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cloud/cidr.h"
#include "cloud/ec2.h"
#include "cloud/vpc.h"
#include "http/form.h"
#include "http/http.h"
#include "http/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ACCOUNT "111122223333"
#define REGION "us-east-1"

/* The fixed ids of the start state (what the seeds name). */
#define ID_VPC_DEFAULT "vpc-0000000000000000d"
#define ID_VPC_2 "vpc-00000000000000002"
#define ID_SUBNET_A "subnet-0000000000000000a"
#define ID_SUBNET_B "subnet-0000000000000000b"
#define ID_SUBNET_C "subnet-0000000000000000c"
#define ID_SUBNET_28 "subnet-00000000000000028"
#define ID_SG "sg-00000000000000001"
#define ID_ENI_USER "eni-00000000000000001"
#define ID_ENI_MANAGED "eni-00000000000000002"

static sqlite3 *db;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct ohsm_ec2_ctx ctx;
static struct ohsm_query_service svc;
static sqlite3_stmt *dump[8]; /* SELECT * of every table, for the fingerprint */
static size_t n_dump;

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void exec(const char *sql)
{
    check(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
}

/* Rewrites id old to new in every column that holds that kind of id (foreign keys are off on
 * this connection, so the order of the updates does not matter). */
static void rename_id(const char *old, const char *new_id, const char *const *cols)
{
    for (size_t i = 0; cols[i] != NULL; i++) {
        char sql[160];
        sqlite3_stmt *st = NULL;
        const char *dot = strchr(cols[i], '.');
        check(dot != NULL);
        int n = snprintf(sql, sizeof(sql), "UPDATE %.*s SET %s = ?1 WHERE %s = ?2",
                         (int)(dot - cols[i]), cols[i], dot + 1, dot + 1);
        check(n > 0 && (size_t)n < sizeof(sql));
        check(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
        check(sqlite3_bind_text(st, 1, new_id, -1, SQLITE_STATIC) == SQLITE_OK);
        check(sqlite3_bind_text(st, 2, old, -1, SQLITE_STATIC) == SQLITE_OK);
        check(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_finalize(st);
    }
}

static const char *const vpc_cols[] = {"vpc_vpcs.id", "vpc_subnets.vpc_id", "vpc_sgs.vpc_id", NULL};
static const char *const subnet_cols[] = {"vpc_subnets.id", "vpc_enis.subnet_id", NULL};
static const char *const sg_cols[] = {"vpc_sgs.id", "vpc_enis.group_id", NULL};
static const char *const eni_cols[] = {"vpc_enis.id", "vpc_eni_tokens.eni_id", NULL};

static void make_state(void)
{
    struct ohsm_aws_err e;
    struct ohsm_vpc_vpc *vs = NULL, v2;
    struct ohsm_vpc_subnet *ss = NULL, s28;
    struct ohsm_vpc_eni e1, e2;
    struct ohsm_cidr c;
    size_t n = 0;
    char sg[OHSM_VPC_ID_MAX];
    static const char *const subnet_ids[] = {ID_SUBNET_A, ID_SUBNET_B, ID_SUBNET_C};

    check(ohsm_vpc_ensure_region(db, REGION, ACCOUNT, &e) == OHSM_OK);
    check(ohsm_vpc_list(db, REGION, &vs, &n, &e) == OHSM_OK && n == 1);
    check(ohsm_vpc_subnet_list(db, REGION, &ss, &n, &e) == OHSM_OK && n == 3);
    check(ohsm_cidr_parse("10.0.0.0/16", &c, NULL) == OHSM_OK);
    check(ohsm_vpc_create(db, REGION, ACCOUNT, &c, &v2, &e) == OHSM_OK);
    check(ohsm_cidr_parse("10.0.0.0/28", &c, NULL) == OHSM_OK);
    check(ohsm_vpc_subnet_create(db, REGION, ACCOUNT, v2.id, &c, 1, &s28, &e) == OHSM_OK);
    check(ohsm_vpc_sg_create(db, REGION, ACCOUNT, vs[0].id, "cluster-fuzzfuzzfuz", sg, sizeof(sg),
                             &e) == OHSM_OK);
    struct ohsm_vpc_eni_req r1 = {.subnet_id = ss[0].id, .description = "user eni"};
    check(ohsm_vpc_eni_create_token(db, REGION, ACCOUNT, &r1, "token-1", &e1, &e) == OHSM_OK);
    struct ohsm_vpc_eni_req r2 = {.subnet_id = ss[1].id, .group_id = sg, .requester_managed = true};
    check(ohsm_vpc_eni_create(db, REGION, ACCOUNT, &r2, &e2, &e) == OHSM_OK);

    rename_id(vs[0].id, ID_VPC_DEFAULT, vpc_cols);
    rename_id(v2.id, ID_VPC_2, vpc_cols);
    for (size_t i = 0; i < 3; i++) {
        rename_id(ss[i].id, subnet_ids[i], subnet_cols);
    }
    rename_id(s28.id, ID_SUBNET_28, subnet_cols);
    rename_id(sg, ID_SG, sg_cols);
    rename_id(e1.id, ID_ENI_USER, eni_cols);
    rename_id(e2.id, ID_ENI_MANAGED, eni_cols);
    free(vs);
    free(ss);

    /* The model must see the renamed state as whole (else the fixture is out of date). */
    struct ohsm_vpc_subnet s;
    struct ohsm_vpc_eni en;
    check(ohsm_vpc_subnet_get(db, REGION, ID_SUBNET_28, &s, &e) == OHSM_OK &&
          strcmp(s.vpc_id, ID_VPC_2) == 0 && s.available == 11);
    check(ohsm_vpc_eni_get(db, REGION, ID_ENI_MANAGED, &en, &e) == OHSM_OK &&
          strcmp(en.group_id, ID_SG) == 0 && strcmp(en.subnet_id, ID_SUBNET_B) == 0);
    check(ohsm_vpc_get(db, REGION, ID_VPC_DEFAULT, &v2, &e) == OHSM_OK && v2.is_default);
}

static void init(void)
{
    sqlite3_stmt *st = NULL;
    check(sqlite3_open(":memory:", &db) == SQLITE_OK);
    check(ohsm_vpc_init(db) == OHSM_OK);
    make_state();
    check(sqlite3_prepare_v2(db,
                             "SELECT name FROM sqlite_master WHERE type = 'table' "
                             "AND name NOT LIKE 'sqlite_%' ORDER BY name",
                             -1, &st, NULL) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char sql[128];
        int k = snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"",
                         (const char *)sqlite3_column_text(st, 0));
        check(k > 0 && (size_t)k < sizeof(sql) && n_dump < sizeof(dump) / sizeof(dump[0]));
        check(sqlite3_prepare_v2(db, sql, -1, &dump[n_dump++], NULL) == SQLITE_OK);
    }
    sqlite3_finalize(st);
    check(n_dump >= 5);
    ctx.db = db;
    ctx.lock = &mu;
    ctx.account_id = ACCOUNT;
    ohsm_ec2_service(&ctx, &svc);
}

/* FNV-1a over every row of every table (types and bytes): equal before and after means the
 * database did not change. */
static uint64_t fingerprint(void)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t t = 0; t < n_dump; t++) {
        sqlite3_stmt *st = dump[t];
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(st); i++) {
                const unsigned char *p = sqlite3_column_blob(st, i);
                int len = sqlite3_column_bytes(st, i);
                h = (h ^ (uint64_t)sqlite3_column_type(st, i)) * 1099511628211ull;
                for (int j = 0; p != NULL && j < len; j++) {
                    h = (h ^ p[j]) * 1099511628211ull;
                }
                h = (h ^ 0xffu) * 1099511628211ull;
            }
        }
        check(r == SQLITE_DONE);
        sqlite3_reset(st);
    }
    return h;
}

/* The payload is a sequence of balanced elements: names as the handlers' constants (no
 * attributes), text escaped (no raw '<' or '>' outside tags). */
static void check_xml(const char *s, size_t len)
{
    const char *stack[64];
    size_t depth = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] == '>') {
            abort();
        }
        if (s[i] != '<') {
            check((unsigned char)s[i] >= 0x20 || s[i] == '\t' || s[i] == '\n' || s[i] == '\r');
            i++;
            continue;
        }
        const char *end = memchr(s + i, '>', len - i);
        check(end != NULL);
        bool closing = s[i + 1] == '/';
        const char *name = s + i + (closing ? 2 : 1);
        size_t nl = (size_t)(end - name);
        check(nl > 0);
        for (size_t k = 0; k < nl; k++) {
            check((name[k] >= 'a' && name[k] <= 'z') || (name[k] >= 'A' && name[k] <= 'Z') ||
                  (name[k] >= '0' && name[k] <= '9'));
        }
        if (closing) {
            check(depth > 0);
            depth--;
            check(strncmp(stack[depth], name, nl) == 0 && stack[depth][nl] == '>');
        } else {
            check(depth < sizeof(stack) / sizeof(stack[0]));
            stack[depth++] = name;
        }
        i = (size_t)(end - s) + 1;
    }
    check(depth == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready, trace;
    struct ohsm_form *f = NULL;
    struct ohsm_aws_err err;
    struct ohsm_xml x;
    char msg[256];

    if (!ready) {
        init();
        trace = getenv("OHSM_FUZZ_EC2_TRACE") != NULL;
        ready = true;
    }
    if (size > 64 * 1024 ||
        ohsm_form_parse((const char *)data, size, 0, &f, msg, sizeof(msg)) != OHSM_OK) {
        return 0;
    }
    const char *action = ohsm_form_get(f, "Action");
    const struct ohsm_query_op *op = NULL;
    for (size_t i = 0; action != NULL && i < svc.n_ops; i++) {
        if (strcmp(svc.ops[i].action, action) == 0) {
            op = &svc.ops[i];
        }
    }
    if (op == NULL) {
        ohsm_form_free(f);
        return 0;
    }
    const struct ohsm_http_call call = {"fuzz-request", "", REGION, ACCOUNT};
    memset(&err, 0, sizeof(err));
    ohsm_xml_init(&x, OHSM_XML_MAX_DEFAULT);
    exec("BEGIN");
    const uint64_t before = fingerprint();
    int r = op->fn(svc.ctx, &call, f, &x, &err);
    check(r == 0 || r == -1);
    check(pthread_mutex_trylock(&mu) == 0);
    (void)pthread_mutex_unlock(&mu);
    check(sqlite3_get_autocommit(db) == 0); /* still inside our transaction */
    if (r == -1) {
        check(err.type[0] != '\0' && err.msg[0] != '\0' && err.status >= 400 && err.status <= 599);
        check(fingerprint() == before);
    } else {
        check(!x.failed);
        check_xml(x.buf != NULL ? x.buf : "", x.len);
        if (strncmp(op->action, "Describe", 8) == 0) {
            check(fingerprint() == before);
        }
    }
    if (trace) {
        fprintf(stderr, "%s -> %d %u %s: %s\n", op->action, r, err.status, err.type, err.msg);
    }
    exec("ROLLBACK");
    ohsm_xml_done(&x);
    ohsm_form_free(f);
    return 0;
}
