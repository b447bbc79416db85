/* SPDX-License-Identifier: Apache-2.0
 *
 * Internal to the vpc*.c files: error filling, id making, savepoints and checked column reads
 * shared by the VPC/subnet part (vpc.c) and the ENI part (vpc_eni.c). Not a public interface.
 */
#ifndef OHSM_CLOUD_VPC_DB_H
#define OHSM_CLOUD_VPC_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "cloud/cidr.h"
#include "openhsm/rv.h"

struct ohsm_aws_err;

/* Fills e (NULL ok) with code and message; status 400 for OHSM_ARGUMENTS_BAD, else 500. Returns
 * rv. */
ohsm_rv ohsm_vpc_fail(struct ohsm_aws_err *e, ohsm_rv rv, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fills e with 500 InternalError and returns rv (OHSM_DB when rv is OHSM_OK). */
ohsm_rv ohsm_vpc_internal(struct ohsm_aws_err *e, ohsm_rv rv);
/* prefix + 17 random lower-case hex characters. */
ohsm_rv ohsm_vpc_make_id(const char *prefix, char *out, size_t cap, struct ohsm_aws_err *e);
bool ohsm_vpc_account_valid(const char *s);

/* SAVEPOINT ohsm_vpc / RELEASE on success, ROLLBACK TO + RELEASE on failure (returns rv or
 * OHSM_DB when the release fails). */
ohsm_rv ohsm_vpc_sp_begin(sqlite3 *db);
ohsm_rv ohsm_vpc_sp_end(sqlite3 *db, ohsm_rv rv);

/* Checked column reads: type, length (< cap, no NUL), range, canonical /16../28 CIDR text. */
bool ohsm_vpc_col_text(sqlite3_stmt *st, int i, char *out, size_t cap);
bool ohsm_vpc_col_int(sqlite3_stmt *st, int i, int64_t lo, int64_t hi, int64_t *out);
bool ohsm_vpc_col_cidr(sqlite3_stmt *st, int i, struct ohsm_cidr *out);

/* Prepares sql binding the text arguments that follow, up to a NULL. */
ohsm_rv ohsm_vpc_prep(sqlite3 *db, sqlite3_stmt **st, const char *sql, ...);
/* Steps a statement returning one count, finalizes it. */
ohsm_rv ohsm_vpc_count(sqlite3_stmt *st, int64_t *n);
/* Steps a statement to completion, finalizes it. */
ohsm_rv ohsm_vpc_run(sqlite3_stmt *st);
/* Makes room for one more element of size bytes in *a (capacity *cap, used elements used). */
bool ohsm_vpc_grow(void **a, size_t size, size_t *cap, size_t used);
/* Every row of sql (bound to region) read by row into an array of elements of size bytes;
 * row checks the row (and that it is of region). *out malloc'd (caller frees; NULL when *n is
 * 0). Errors (in err): OHSM_DB (query failed or a row refused), OHSM_HOST_MEMORY. */
ohsm_rv ohsm_vpc_collect(sqlite3 *db, const char *sql, const char *region, size_t size,
                         bool (*row)(sqlite3_stmt *st, void *out, const char *region),
                         void **out, size_t *n, struct ohsm_aws_err *err);

#endif
