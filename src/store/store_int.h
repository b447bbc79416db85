/* SPDX-License-Identifier: Apache-2.0
 *
 * Internals shared by the store's modules (users and metadata in store.c, key objects and
 * tombstones in objects.c). Not for use outside src/store.
 */
#ifndef OHSM_STORE_INT_H
#define OHSM_STORE_INT_H

#include <sqlite3.h>

#include "store/store.h"

struct ohsm_store {
    sqlite3 *db;
};

/* Runs SQL without parameters or rows. Errors: OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_sql_exec(struct ohsm_store *s, const char *sql);
OHSM_NODISCARD ohsm_rv ohsm_store_sql_prep(struct ohsm_store *s, const char *sql,
                                           sqlite3_stmt **st);
/* Steps a statement that returns no rows, then finalizes it. */
OHSM_NODISCARD ohsm_rv ohsm_store_sql_done(sqlite3_stmt *st);

/* Text metadata. get: OHSM_DB when absent or longer than cap - 1. */
OHSM_NODISCARD ohsm_rv ohsm_store_meta_put(struct ohsm_store *s, const char *k, const char *v);
OHSM_NODISCARD ohsm_rv ohsm_store_meta_get(struct ohsm_store *s, const char *k, char *v,
                                           size_t cap);

/* Writers of more than one statement run in their own transaction or join the caller's
 * (ohsm_store_begin): *own says which; only the owner commits (rv OK) or rolls back. */
OHSM_NODISCARD ohsm_rv ohsm_store_tx_open(struct ohsm_store *s, bool *own);
OHSM_NODISCARD ohsm_rv ohsm_store_tx_close(struct ohsm_store *s, bool own, ohsm_rv rv);

static inline ohsm_rv tx_open(struct ohsm_store *s, bool *own)
{
    return ohsm_store_tx_open(s, own);
}
static inline ohsm_rv tx_close(struct ohsm_store *s, bool own, ohsm_rv rv)
{
    return ohsm_store_tx_close(s, own, rv);
}
static inline ohsm_rv sql_exec(struct ohsm_store *s, const char *sql)
{
    return ohsm_store_sql_exec(s, sql);
}
static inline ohsm_rv sql_prep(struct ohsm_store *s, const char *sql, sqlite3_stmt **st)
{
    return ohsm_store_sql_prep(s, sql, st);
}
static inline ohsm_rv sql_done(sqlite3_stmt *st)
{
    return ohsm_store_sql_done(st);
}

#endif
