/* SPDX-License-Identifier: Apache-2.0
 *
 * Internals shared by the SQLite KMS store's modules (store_sqlite.c: connection, schema,
 * transactions; store_keys.c: keys, key material; store_grants.c: aliases, grants, tags,
 * policies, import parameters; store_cks.c: CloudHSM key stores). Not for use outside them.
 *
 * Locking: s->mu is a recursive mutex. Every public function holds it for its whole run;
 * ohsm_kms_store_begin takes it once more and keeps it until commit/rollback, so the calling
 * thread's later calls re-enter while other threads wait.
 */
#ifndef OHSM_KMS_STORE_INT_H
#define OHSM_KMS_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "kms/store.h"

/* Every cached statement has one slot; the SQL text lives with the function that uses it. */
enum ohsm_kst_id {
    OHSM_KST_BEGIN,
    OHSM_KST_COMMIT,
    OHSM_KST_ROLLBACK,
    OHSM_KST_SAVEPOINT,
    OHSM_KST_RELEASE,
    OHSM_KST_ROLLBACK_TO,
    OHSM_KST_KEY_PUT,
    OHSM_KST_KEY_GET,
    OHSM_KST_KEY_LIST,
    OHSM_KST_KEY_DELETE,
    OHSM_KST_KEY_EXISTS,
    OHSM_KST_MAT_PUT,
    OHSM_KST_MAT_GET,
    OHSM_KST_MAT_LIST,
    OHSM_KST_MAT_DELETE_ALL,
    OHSM_KST_ALIAS_ADD,
    OHSM_KST_ALIAS_UPDATE,
    OHSM_KST_ALIAS_GET,
    OHSM_KST_ALIAS_DELETE,
    OHSM_KST_ALIAS_LIST,
    OHSM_KST_GRANT_ADD,
    OHSM_KST_GRANT_GET_ID,
    OHSM_KST_GRANT_GET_TOKEN,
    OHSM_KST_GRANT_DELETE,
    OHSM_KST_GRANT_LIST_KEY,
    OHSM_KST_GRANT_LIST_RETIRING,
    OHSM_KST_TAG_SET,
    OHSM_KST_TAG_REMOVE,
    OHSM_KST_TAG_LIST,
    OHSM_KST_POLICY_PUT,
    OHSM_KST_POLICY_GET,
    OHSM_KST_IMPORT_PUT,
    OHSM_KST_IMPORT_GET,
    OHSM_KST_IMPORT_DELETE,
    OHSM_KST_CKS_ADD,
    OHSM_KST_CKS_PUT,
    OHSM_KST_CKS_GET,
    OHSM_KST_CKS_LIST,
    OHSM_KST_CKS_DELETE,
    OHSM_KST_COUNT_
};

struct ohsm_kms_store {
    pthread_mutex_t mu; /* recursive; guards everything below */
    sqlite3 *db;
    bool in_tx; /* between begin and commit/rollback (the holder of mu owns it) */
    sqlite3_stmt *st[OHSM_KST_COUNT_];
};

/* Size caps of stored text and blobs (bytes). AWS counts characters; UTF-8 needs up to 4 bytes
 * each (policies: U+0009..U+00FF, 2 bytes). */
#define OHSM_KST_DESC_BYTES (4u * OHSM_KMS_DESC_MAX)
#define OHSM_KST_SEALED_MAX (64u * 1024u)
#define OHSM_KST_TOKEN_MAX 8192u
#define OHSM_KST_PRINCIPAL_MAX 256u
#define OHSM_KST_OPS_MAX 4096u
#define OHSM_KST_CONSTRAINTS_MAX (64u * 1024u)
#define OHSM_KST_POLICY_NAME_MAX 128u
#define OHSM_KST_POLICY_BYTES (2u * 131072u)

void ohsm_kst_lock(struct ohsm_kms_store *s);
void ohsm_kst_unlock(struct ohsm_kms_store *s);
/* ohsm_kst_lock for a data call: fails (OHSM_DB, mu released) when the calling thread's transaction
 * was rolled back by SQLite after an error (e.g. a full disk): every call then fails until the
 * thread ends it with commit (which fails) or rollback. */
OHSM_NODISCARD ohsm_rv ohsm_kst_enter(struct ohsm_kms_store *s);

/* Records why the calling thread's last call on s failed (ohsm_kms_store_errstr); returns rv. */
ohsm_rv ohsm_kst_err(const struct ohsm_kms_store *s, ohsm_rv rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* OHSM_DB for a row that is not what this code writes: "refusing <what> row: <why>". */
ohsm_rv ohsm_kst_bad_row(struct ohsm_kms_store *s, const char *what, const char *why);

/* The cached statement id (prepared on first use), reset and unbound. Caller holds mu and ends
 * with ohsm_kst_reset. */
OHSM_NODISCARD ohsm_rv ohsm_kst_prep(struct ohsm_kms_store *s, enum ohsm_kst_id id, const char *sql,
                                     sqlite3_stmt **st);
void ohsm_kst_reset(sqlite3_stmt *st);
/* Steps a statement that returns no rows and resets it. SQLITE_DONE: OK; a foreign key violation
 * (no such key): OHSM_KEY_HANDLE_INVALID; a primary key / unique violation:
 * OHSM_ATTRIBUTE_VALUE_INVALID; else OHSM_DB (errstr: what and SQLite's message). *changes
 * (may be NULL) gets the number of rows changed. */
OHSM_NODISCARD ohsm_rv ohsm_kst_run(struct ohsm_kms_store *s, sqlite3_stmt *st, const char *what,
                                    int *changes);
/* Maps a failed sqlite3_step/bind result code as ohsm_kst_run does. */
ohsm_rv ohsm_kst_fail(struct ohsm_kms_store *s, int rc, const char *what);

/* Binders: OHSM_OK or OHSM_DB (errstr set). Text and blobs are SQLITE_STATIC (the caller keeps
 * them alive until ohsm_kst_reset). */
OHSM_NODISCARD ohsm_rv ohsm_kst_bind_text(struct ohsm_kms_store *s, sqlite3_stmt *st, int i,
                                          const char *v);
OHSM_NODISCARD ohsm_rv ohsm_kst_bind_int(struct ohsm_kms_store *s, sqlite3_stmt *st, int i,
                                         int64_t v);
OHSM_NODISCARD ohsm_rv ohsm_kst_bind_blob(struct ohsm_kms_store *s, sqlite3_stmt *st, int i,
                                          const uint8_t *v, size_t len);

/* A write of several statements: its own transaction (BEGIN IMMEDIATE ... COMMIT) or, inside
 * the caller's (begin/commit), a savepoint, so that a failed call changes nothing either way.
 * wbegin takes mu (released by wend whatever happens); wend commits when rv is OK, rolls back
 * otherwise, and returns the outcome. */
OHSM_NODISCARD ohsm_rv ohsm_kst_wbegin(struct ohsm_kms_store *s, bool *own);
OHSM_NODISCARD ohsm_rv ohsm_kst_wend(struct ohsm_kms_store *s, bool own, ohsm_rv rv);

/* OHSM_OK when key id exists, OHSM_KEY_HANDLE_INVALID when not, OHSM_DB on failure. Caller
 * holds mu. */
OHSM_NODISCARD ohsm_rv ohsm_kst_key_exists(struct ohsm_kms_store *s, const char *id);

/* Shapes. */
bool ohsm_kst_uuid_ok(const char *s);                         /* 36 characters, lower-case UUID */
bool ohsm_kst_hex_ok(const char *s, size_t len);              /* exactly len hex digits */
bool ohsm_kst_text_ok(const char *s, size_t min, size_t max); /* min..max bytes, NUL-terminated */
bool ohsm_kst_name_ok(const char *s, size_t min, size_t max); /* text of [A-Za-z0-9:/_-] */

/* Column readers for untrusted rows: false when the column has another type, an embedded NUL,
 * or a length / value outside the bounds. */
bool ohsm_kst_col_text(sqlite3_stmt *st, int i, char *dst, size_t cap);
bool ohsm_kst_col_dup(sqlite3_stmt *st, int i, size_t max, char **out); /* malloc'd copy */
bool ohsm_kst_col_int(sqlite3_stmt *st, int i, int64_t lo, int64_t hi, int64_t *v);
bool ohsm_kst_col_u32(sqlite3_stmt *st, int i, uint32_t *v);
bool ohsm_kst_col_blob(sqlite3_stmt *st, int i, size_t max, uint8_t **out, size_t *len);

/* How to read the rows of one table into records. conv fills rec from the current row and
 * returns NULL, or why the row is refused (rec is then cleared with clear); arg is the caller's
 * (e.g. the key id the rows must have). */
struct ohsm_kst_rows {
    const char *table;
    size_t elem;
    const char *(*conv)(sqlite3_stmt *st, void *rec, const void *arg);
    void (*clear)(void *rec);
};

/* Steps st (bound by the caller, who holds mu) to its end, collecting every row into a malloc'd
 * array (*out NULL when *n is 0); resets st. A refused row fails the whole call (OHSM_DB). */
OHSM_NODISCARD ohsm_rv ohsm_kst_collect(struct ohsm_kms_store *s, sqlite3_stmt *st,
                                        const struct ohsm_kst_rows *how, const void *arg,
                                        void **out, size_t *n);
/* Reads the one row st answers into rec; resets st. No row: OHSM_KEY_HANDLE_INVALID with errstr
 * absent. */
OHSM_NODISCARD ohsm_rv ohsm_kst_one(struct ohsm_kms_store *s, sqlite3_stmt *st,
                                    const struct ohsm_kst_rows *how, const void *arg, void *rec,
                                    const char *absent);

#endif
