/* SPDX-License-Identifier: Apache-2.0
 *
 * Helpers of the VPC model shared by vpc.c and vpc_eni.c: AWS error filling, random ids,
 * savepoints, bound statements and checked column reads (see vpc_db.h).
 */
#include "cloud/vpc_db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cloud/vpc.h"
#include "http/http.h"

ohsm_rv ohsm_vpc_fail(struct ohsm_aws_err *e, ohsm_rv rv, const char *code, const char *fmt, ...)
{
    if (e != NULL) {
        va_list ap;
        e->status = rv == OHSM_ARGUMENTS_BAD ? 400u : 500u;
        snprintf(e->type, sizeof(e->type), "%s", code);
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return rv;
}

ohsm_rv ohsm_vpc_internal(struct ohsm_aws_err *e, ohsm_rv rv)
{
    /* The detail stays out of the reply: a peer learns only that the server failed. */
    return ohsm_vpc_fail(e, rv == OHSM_OK ? OHSM_DB : rv, "InternalError",
                         "An internal error has occurred");
}

ohsm_rv ohsm_vpc_make_id(const char *prefix, char *out, size_t cap, struct ohsm_aws_err *e)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t r[(OHSM_VPC_HEX_CHARS + 1) / 2];
    size_t pl = strlen(prefix);
    if (cap < pl + OHSM_VPC_HEX_CHARS + 1) {
        return ohsm_vpc_internal(e, OHSM_BUFFER_TOO_SMALL);
    }
    if (RAND_bytes(r, (int)sizeof(r)) != 1) {
        return ohsm_vpc_internal(e, OHSM_DEVICE_ERROR);
    }
    memcpy(out, prefix, pl);
    for (size_t i = 0; i < OHSM_VPC_HEX_CHARS; i++) {
        out[pl + i] = hex[(r[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
    }
    out[pl + OHSM_VPC_HEX_CHARS] = '\0';
    return OHSM_OK;
}

bool ohsm_vpc_account_valid(const char *s)
{
    if (s == NULL || strlen(s) != OHSM_VPC_ACCOUNT_MAX - 1) {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
    }
    return true;
}

ohsm_rv ohsm_vpc_sp_begin(sqlite3 *db)
{
    return sqlite3_exec(db, "SAVEPOINT ohsm_vpc", NULL, NULL, NULL) == SQLITE_OK ? OHSM_OK
                                                                                 : OHSM_DB;
}

ohsm_rv ohsm_vpc_sp_end(sqlite3 *db, ohsm_rv rv)
{
    if (rv == OHSM_OK) {
        if (sqlite3_exec(db, "RELEASE ohsm_vpc", NULL, NULL, NULL) == SQLITE_OK) {
            return OHSM_OK;
        }
        rv = OHSM_DB;
    }
    (void)sqlite3_exec(db, "ROLLBACK TO ohsm_vpc; RELEASE ohsm_vpc", NULL, NULL, NULL);
    return rv;
}

bool ohsm_vpc_col_text(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    if (sqlite3_column_type(st, i) != SQLITE_TEXT) {
        return false;
    }
    const unsigned char *t = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (t == NULL || n < 0 || (size_t)n >= cap || memchr(t, '\0', (size_t)n) != NULL) {
        return false;
    }
    memcpy(out, t, (size_t)n);
    out[n] = '\0';
    return true;
}

bool ohsm_vpc_col_int(sqlite3_stmt *st, int i, int64_t lo, int64_t hi, int64_t *out)
{
    if (sqlite3_column_type(st, i) != SQLITE_INTEGER) {
        return false;
    }
    int64_t v = sqlite3_column_int64(st, i);
    if (v < lo || v > hi) {
        return false;
    }
    *out = v;
    return true;
}

bool ohsm_vpc_col_cidr(sqlite3_stmt *st, int i, struct ohsm_cidr *out)
{
    char t[OHSM_CIDR_TEXT_MAX];
    bool canon = false;
    return ohsm_vpc_col_text(st, i, t, sizeof(t)) && ohsm_cidr_parse(t, out, &canon) == OHSM_OK &&
           canon && out->prefix >= 16 && out->prefix <= 28;
}

/* Prepares sql and binds the text arguments (NULL-terminated list) in order. */
ohsm_rv ohsm_vpc_prep(sqlite3 *db, sqlite3_stmt **st, const char *sql, ...)
{
    va_list ap;
    int i = 1;
    *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        return OHSM_DB;
    }
    va_start(ap, sql);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        if (sqlite3_bind_text(*st, i++, a, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
            va_end(ap);
            sqlite3_finalize(*st);
            *st = NULL;
            return OHSM_DB;
        }
    }
    va_end(ap);
    return OHSM_OK;
}

/* Runs a statement that returns one integer (a count). */
ohsm_rv ohsm_vpc_count(sqlite3_stmt *st, int64_t *n)
{
    ohsm_rv rv = OHSM_DB;
    if (sqlite3_step(st) == SQLITE_ROW && ohsm_vpc_col_int(st, 0, 0, INT64_MAX, n)) {
        rv = OHSM_OK;
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_vpc_run(sqlite3_stmt *st)
{
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? OHSM_OK : OHSM_DB;
}

bool ohsm_vpc_grow(void **a, size_t size, size_t *cap, size_t used)
{
    if (used < *cap) {
        return true;
    }
    size_t nc = *cap == 0 ? 8 : *cap * 2;
    void *p = nc > SIZE_MAX / size ? NULL : realloc(*a, nc * size);
    if (p == NULL) {
        return false;
    }
    *a = p;
    *cap = nc;
    return true;
}

ohsm_rv ohsm_vpc_collect(sqlite3 *db, const char *sql, const char *region, size_t size,
                         bool (*row)(sqlite3_stmt *st, void *out, const char *region),
                         void **out, size_t *n, struct ohsm_aws_err *err)
{
    sqlite3_stmt *st = NULL;
    unsigned char *a = NULL;
    size_t k = 0, cap = 0;
    ohsm_rv rv = OHSM_OK;
    int r;
    OHSM_ENSURE(db != NULL && region != NULL && out != NULL && n != NULL,
                ohsm_vpc_internal(err, OHSM_ARGUMENTS_BAD));
    if (ohsm_vpc_prep(db, &st, sql, region, NULL) != OHSM_OK) {
        return ohsm_vpc_internal(err, OHSM_DB);
    }
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (!ohsm_vpc_grow((void **)&a, size, &cap, k)) {
            rv = ohsm_vpc_internal(err, OHSM_HOST_MEMORY);
            goto out;
        }
        if (!row(st, a + k * size, region)) {
            rv = ohsm_vpc_internal(err, OHSM_DB);
            goto out;
        }
        k++;
    }
    if (r != SQLITE_DONE) {
        rv = ohsm_vpc_internal(err, OHSM_DB);
        goto out;
    }
    *out = a;
    *n = k;
    a = NULL;
out:
    sqlite3_finalize(st);
    free(a);
    return rv;
}
