/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS store (store.h) in SQLite: the connection, its schema and migrations, transactions,
 * keys and sealed key material. Aliases, grants, tags, policies and import parameters are in
 * store_grants.c. SQL uses bound parameters only; statements are prepared once and cached.
 *
 * The database file is trusted no more than any input: every row read back is checked (types,
 * lengths, id shapes, enum ranges) with the same checks a write passes, and a row that fails is
 * refused with OHSM_DB and an errstr naming the table and the field.
 *
 * Mutable state outside a store: tl_err, the calling thread's last error text (thread-local, so
 * no lock: each thread reads only its own).
 */
#include "kms/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* PRAGMA user_version of the schema this code writes. A later issue adds a step to migrations[]
 * and bumps this; a newer database is refused, not misread. */
#define SCHEMA_VERSION 3

/* migrations[v] takes a database from user_version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
    /* 0 -> 1 (issue 13): the KMS as AWS_KMS / EXTERNAL keys. Enum columns hold types.h values. */
    "CREATE TABLE keys ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " region TEXT NOT NULL,"
    " account TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " spec INTEGER NOT NULL,"
    " usage INTEGER NOT NULL,"
    " origin INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " saved_state INTEGER NOT NULL,"
    " description TEXT NOT NULL,"
    " deletion_date INTEGER NOT NULL,"
    " pending_window_days INTEGER NOT NULL,"
    " expiration INTEGER NOT NULL,"
    " valid_to INTEGER NOT NULL,"
    " rotation_enabled INTEGER NOT NULL,"
    " rotation_period_days INTEGER NOT NULL,"
    " next_rotation INTEGER NOT NULL,"
    " on_demand_rotation_started INTEGER NOT NULL,"
    " cur_version INTEGER NOT NULL,"
    " custom_key_store_id TEXT NOT NULL,"
    " cluster_id TEXT NOT NULL,"
    " backing_handle INTEGER NOT NULL);"
    "CREATE INDEX keys_created ON keys (created_ms, id);"
    "CREATE TABLE materials ("
    " key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,"
    " version INTEGER NOT NULL,"
    " material_id TEXT NOT NULL,"
    " kind INTEGER NOT NULL,"
    " created INTEGER NOT NULL,"
    " sealed BLOB NOT NULL,"
    " PRIMARY KEY (key_id, version));"
    "CREATE TABLE aliases ("
    " region TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,"
    " created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL,"
    " PRIMARY KEY (region, name));"
    "CREATE INDEX aliases_key ON aliases (key_id);"
    "CREATE TABLE grants ("
    " grant_id TEXT PRIMARY KEY NOT NULL,"
    " key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,"
    " token TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " grantee TEXT NOT NULL,"
    " retiring TEXT NOT NULL,"
    " issuing_account TEXT NOT NULL,"
    " operations TEXT NOT NULL,"
    " constraints TEXT NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX grants_key ON grants (key_id, created);"
    "CREATE INDEX grants_retiring ON grants (retiring, created);"
    "CREATE TABLE tags ("
    " key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,"
    " k TEXT NOT NULL,"
    " v TEXT NOT NULL,"
    " PRIMARY KEY (key_id, k));"
    "CREATE TABLE policies ("
    " key_id TEXT NOT NULL REFERENCES keys (id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " policy TEXT NOT NULL,"
    " PRIMARY KEY (key_id, name));"
    "CREATE TABLE imports ("
    " key_id TEXT PRIMARY KEY NOT NULL REFERENCES keys (id) ON DELETE CASCADE,"
    " token_id TEXT NOT NULL,"
    " wrapping_alg INTEGER NOT NULL,"
    " wrapping_spec INTEGER NOT NULL,"
    " sealed_private BLOB NOT NULL,"
    " expires INTEGER NOT NULL);",
    /* 1 -> 2: the KeyMaterialId of a key's first imported material (types.h import_id). */
    "ALTER TABLE keys ADD COLUMN import_id TEXT NOT NULL DEFAULT '';",
    /* 2 -> 3 (issue 14): CloudHSM key stores (cks.h, store_cks.c). state and error hold cks.h
     * values; next_sealed is NULL when no rotation is pending. A name is unique per account and
     * region by the rule of the handlers (op_cks.c), not by the table. */
    "CREATE TABLE custom_key_stores ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " region TEXT NOT NULL,"
    " account TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " cluster_id TEXT NOT NULL,"
    " trust_anchor TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " error INTEGER NOT NULL,"
    " pw_sealed BLOB NOT NULL,"
    " next_sealed BLOB);"
    "CREATE INDEX custom_key_stores_created ON custom_key_stores (created_ms, id);",
};

static _Thread_local struct {
    const struct ohsm_kms_store *s; /* the store the text is about; NULL: a failed open */
    char msg[256];
} tl_err;

ohsm_rv ohsm_kst_err(const struct ohsm_kms_store *s, ohsm_rv rv, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(tl_err.msg, sizeof(tl_err.msg), "kms store: ");
    va_start(ap, fmt);
    /* Truncation only shortens the message. */
    (void)vsnprintf(tl_err.msg + n, sizeof(tl_err.msg) - (size_t)n, fmt, ap);
    va_end(ap);
    tl_err.s = s;
    return rv;
}

const char *ohsm_kms_store_errstr(const struct ohsm_kms_store *s)
{
    return tl_err.s == s && tl_err.msg[0] != '\0' ? tl_err.msg : "kms store: no error";
}

ohsm_rv ohsm_kst_bad_row(struct ohsm_kms_store *s, const char *what, const char *why)
{
    return ohsm_kst_err(s, OHSM_DB, "refusing a %s row that this code did not write: %s", what,
                        why);
}

void ohsm_kst_lock(struct ohsm_kms_store *s)
{
    /* A recursive mutex fails only on misuse (too deep recursion, not initialised). */
    if (pthread_mutex_lock(&s->mu) != 0) {
        abort();
    }
}

void ohsm_kst_unlock(struct ohsm_kms_store *s)
{
    if (pthread_mutex_unlock(&s->mu) != 0) {
        abort();
    }
}

ohsm_rv ohsm_kst_enter(struct ohsm_kms_store *s)
{
    ohsm_kst_lock(s);
    if (s->in_tx && sqlite3_get_autocommit(s->db)) {
        ohsm_kst_unlock(s);
        return ohsm_kst_err(s, OHSM_DB, "the transaction was rolled back after an error");
    }
    return OHSM_OK;
}

ohsm_rv ohsm_kst_prep(struct ohsm_kms_store *s, enum ohsm_kst_id id, const char *sql,
                      sqlite3_stmt **st)
{
    if (s->st[id] == NULL && sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                                &s->st[id], NULL) != SQLITE_OK) {
        return ohsm_kst_err(s, OHSM_DB, "prepare: %s", sqlite3_errmsg(s->db));
    }
    *st = s->st[id];
    return OHSM_OK;
}

void ohsm_kst_reset(sqlite3_stmt *st)
{
    if (st != NULL) {
        (void)sqlite3_reset(st);
        (void)sqlite3_clear_bindings(st);
    }
}

ohsm_rv ohsm_kst_fail(struct ohsm_kms_store *s, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return ohsm_kst_err(s, OHSM_KEY_HANDLE_INVALID, "%s: no such key", what);
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return ohsm_kst_err(s, OHSM_ATTRIBUTE_VALUE_INVALID, "%s: exists", what);
    case SQLITE_NOMEM:
        return ohsm_kst_err(s, OHSM_HOST_MEMORY, "%s: out of memory", what);
    default:
        return ohsm_kst_err(s, OHSM_DB, "%s: %s", what, sqlite3_errmsg(s->db));
    }
}

ohsm_rv ohsm_kst_run(struct ohsm_kms_store *s, sqlite3_stmt *st, const char *what, int *changes)
{
    int rc = sqlite3_step(st);
    ohsm_rv rv =
        rc == SQLITE_DONE ? OHSM_OK : ohsm_kst_fail(s, sqlite3_extended_errcode(s->db), what);
    if (rv == OHSM_OK && changes != NULL) {
        *changes = sqlite3_changes(s->db);
    }
    ohsm_kst_reset(st);
    return rv;
}

ohsm_rv ohsm_kst_bind_text(struct ohsm_kms_store *s, sqlite3_stmt *st, int i, const char *v)
{
    int rc = sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    return rc == SQLITE_OK ? OHSM_OK : ohsm_kst_fail(s, rc, "bind");
}

ohsm_rv ohsm_kst_bind_int(struct ohsm_kms_store *s, sqlite3_stmt *st, int i, int64_t v)
{
    int rc = sqlite3_bind_int64(st, i, v);
    return rc == SQLITE_OK ? OHSM_OK : ohsm_kst_fail(s, rc, "bind");
}

ohsm_rv ohsm_kst_bind_blob(struct ohsm_kms_store *s, sqlite3_stmt *st, int i, const uint8_t *v,
                           size_t len)
{
    int rc = len <= OHSM_KST_SEALED_MAX ? sqlite3_bind_blob(st, i, v, (int)len, SQLITE_STATIC)
                                        : SQLITE_TOOBIG;
    return rc == SQLITE_OK ? OHSM_OK : ohsm_kst_fail(s, rc, "bind");
}

/* Runs one of the cached transaction-control statements. */
static ohsm_rv control(struct ohsm_kms_store *s, enum ohsm_kst_id id)
{
    /* BEGIN IMMEDIATE takes the write lock now: no SQLITE_BUSY in the middle of a transaction. */
    static const char *const sql[] = {
        [OHSM_KST_BEGIN] = "BEGIN IMMEDIATE", [OHSM_KST_COMMIT] = "COMMIT",
        [OHSM_KST_ROLLBACK] = "ROLLBACK",     [OHSM_KST_SAVEPOINT] = "SAVEPOINT kst",
        [OHSM_KST_RELEASE] = "RELEASE kst",   [OHSM_KST_ROLLBACK_TO] = "ROLLBACK TO kst",
    };
    sqlite3_stmt *st = NULL;
    OHSM_TRY(ohsm_kst_prep(s, id, sql[id], &st));
    return ohsm_kst_run(s, st, sql[id], NULL);
}

/* Ends the transaction (own) or savepoint that SQLite may already have rolled back by itself
 * (it does so on some errors, e.g. SQLITE_FULL): then there is nothing left to undo. */
static void undo(struct ohsm_kms_store *s, bool own)
{
    if (sqlite3_get_autocommit(s->db)) {
        return;
    }
    if (own) {
        (void)control(s, OHSM_KST_ROLLBACK);
    } else {
        (void)control(s, OHSM_KST_ROLLBACK_TO);
        (void)control(s, OHSM_KST_RELEASE);
    }
}

ohsm_rv ohsm_kst_wbegin(struct ohsm_kms_store *s, bool *own)
{
    OHSM_TRY(ohsm_kst_enter(s));
    *own = !s->in_tx;
    ohsm_rv rv = control(s, *own ? OHSM_KST_BEGIN : OHSM_KST_SAVEPOINT);
    if (rv != OHSM_OK) {
        ohsm_kst_unlock(s);
    }
    return rv;
}

ohsm_rv ohsm_kst_wend(struct ohsm_kms_store *s, bool own, ohsm_rv rv)
{
    if (rv == OHSM_OK) {
        rv = control(s, own ? OHSM_KST_COMMIT : OHSM_KST_RELEASE);
    }
    if (rv != OHSM_OK) {
        /* Keep the first failure's errstr: the undo's own errors say less. */
        char keep[sizeof(tl_err.msg)];
        memcpy(keep, tl_err.msg, sizeof(keep));
        undo(s, own);
        memcpy(tl_err.msg, keep, sizeof(keep));
        tl_err.s = s;
    }
    ohsm_kst_unlock(s);
    return rv;
}

/* ---- shapes and column readers ---- */

bool ohsm_kst_uuid_ok(const char *s)
{
    if (s == NULL || strnlen(s, OHSM_KMS_ID_LEN + 1) != OHSM_KMS_ID_LEN) {
        return false;
    }
    for (size_t i = 0; i < OHSM_KMS_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool ohsm_kst_hex_ok(const char *s, size_t len)
{
    if (s == NULL || strnlen(s, len + 1) != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

bool ohsm_kst_text_ok(const char *s, size_t min, size_t max)
{
    if (s == NULL) {
        return false;
    }
    size_t n = strnlen(s, max + 1);
    return n >= min && n <= max;
}

bool ohsm_kst_name_ok(const char *s, size_t min, size_t max)
{
    if (!ohsm_kst_text_ok(s, min, max)) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == ':' || c == '/' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* The column's text when it is TEXT without an embedded NUL and at most max bytes. */
static const char *col_str(sqlite3_stmt *st, int i, size_t max, size_t *len)
{
    if (sqlite3_column_type(st, i) != SQLITE_TEXT) {
        return NULL;
    }
    const char *t = (const char *)sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (t == NULL || n < 0 || (size_t)n > max || strlen(t) != (size_t)n) {
        return NULL;
    }
    *len = (size_t)n;
    return t;
}

bool ohsm_kst_col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    size_t n = 0;
    const char *t = col_str(st, i, cap - 1, &n);
    if (t == NULL) {
        return false;
    }
    memcpy(dst, t, n + 1);
    return true;
}

bool ohsm_kst_col_dup(sqlite3_stmt *st, int i, size_t max, char **out)
{
    size_t n = 0;
    const char *t = col_str(st, i, max, &n);
    *out = t != NULL ? malloc(n + 1) : NULL;
    if (*out == NULL) {
        return false;
    }
    memcpy(*out, t, n + 1);
    return true;
}

bool ohsm_kst_col_int(sqlite3_stmt *st, int i, int64_t lo, int64_t hi, int64_t *v)
{
    if (sqlite3_column_type(st, i) != SQLITE_INTEGER) {
        return false;
    }
    *v = sqlite3_column_int64(st, i);
    return *v >= lo && *v <= hi;
}

bool ohsm_kst_col_u32(sqlite3_stmt *st, int i, uint32_t *v)
{
    int64_t x = 0;
    if (!ohsm_kst_col_int(st, i, 0, UINT32_MAX, &x)) {
        return false;
    }
    *v = (uint32_t)x;
    return true;
}

bool ohsm_kst_col_blob(sqlite3_stmt *st, int i, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    if (sqlite3_column_type(st, i) != SQLITE_BLOB) {
        return false;
    }
    const void *b = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (b == NULL || n <= 0 || (size_t)n > max) {
        return false;
    }
    *out = malloc((size_t)n);
    if (*out == NULL) {
        return false;
    }
    memcpy(*out, b, (size_t)n);
    *len = (size_t)n;
    return true;
}

ohsm_rv ohsm_kst_collect(struct ohsm_kms_store *s, sqlite3_stmt *st,
                         const struct ohsm_kst_rows *how, const void *arg, void **out, size_t *n)
{
    unsigned char *arr = NULL;
    size_t cnt = 0, cap = 0;
    ohsm_rv rv = OHSM_OK;
    int rc;

    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            unsigned char *na =
                ncap <= SIZE_MAX / how->elem ? realloc(arr, ncap * how->elem) : NULL;
            if (na == NULL) {
                rv = ohsm_kst_err(s, OHSM_HOST_MEMORY, "%s: out of memory", how->table);
                break;
            }
            arr = na;
            cap = ncap;
        }
        const char *why = how->conv(st, arr + cnt * how->elem, arg);
        if (why != NULL) {
            how->clear(arr + cnt * how->elem);
            rv = ohsm_kst_bad_row(s, how->table, why);
            break;
        }
        cnt++;
    }
    if (rv == OHSM_OK && rc != SQLITE_DONE) {
        rv = ohsm_kst_fail(s, sqlite3_extended_errcode(s->db), how->table);
    }
    ohsm_kst_reset(st);
    if (rv != OHSM_OK || cnt == 0) {
        for (size_t i = 0; i < cnt; i++) {
            how->clear(arr + i * how->elem);
        }
        free(arr);
        return rv;
    }
    *out = arr;
    *n = cnt;
    return OHSM_OK;
}

ohsm_rv ohsm_kst_one(struct ohsm_kms_store *s, sqlite3_stmt *st, const struct ohsm_kst_rows *how,
                     const void *arg, void *rec, const char *absent)
{
    ohsm_rv rv = OHSM_OK;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rv = ohsm_kst_err(s, OHSM_KEY_HANDLE_INVALID, "%s", absent);
    } else if (rc != SQLITE_ROW) {
        rv = ohsm_kst_fail(s, sqlite3_extended_errcode(s->db), how->table);
    } else {
        const char *why = how->conv(st, rec, arg);
        if (why != NULL) {
            how->clear(rec);
            rv = ohsm_kst_bad_row(s, how->table, why);
        }
    }
    ohsm_kst_reset(st);
    return rv;
}

/* ---- open, close, transactions ---- */

/* Creates the file 0600 before SQLite opens it (SQLite would use 0644 minus the umask; its -wal
 * and -shm files take the database file's mode). An existing file is tightened to 0600. */
static ohsm_rv create_private(const char *path)
{
    struct stat sb;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return ohsm_kst_err(NULL, OHSM_DB, "open %s: %s", path, strerror(errno));
    }
    ohsm_rv rv = OHSM_OK;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rv = ohsm_kst_err(NULL, OHSM_DB, "%s: not a regular file", path);
    } else if ((sb.st_mode & 0077) != 0 && fchmod(fd, 0600) != 0) {
        rv = ohsm_kst_err(NULL, OHSM_DB, "chmod %s: %s", path, strerror(errno));
    }
    (void)close(fd);
    return rv;
}

static ohsm_rv int_query(struct ohsm_kms_store *s, const char *sql, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        *v = sqlite3_column_int64(st, 0);
        rv = OHSM_OK;
    }
    sqlite3_finalize(st);
    return rv != OHSM_OK ? ohsm_kst_err(NULL, rv, "%s: %s", sql, sqlite3_errmsg(s->db)) : OHSM_OK;
}

static ohsm_rv exec(struct ohsm_kms_store *s, const char *sql)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return ohsm_kst_err(NULL, OHSM_DB, "%.40s: %s", sql, sqlite3_errmsg(s->db));
    }
    return OHSM_OK;
}

/* Settings of the connection: WAL + FULL makes a change durable when the call returns. */
static ohsm_rv configure(struct ohsm_kms_store *s)
{
    sqlite3_stmt *st = NULL;
    bool wal = false;
    sqlite3_busy_timeout(s->db, 5000);
    (void)sqlite3_extended_result_codes(s->db, 1);
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        wal = m != NULL && strcmp(m, "wal") == 0;
    }
    sqlite3_finalize(st);
    if (!wal) {
        return ohsm_kst_err(NULL, OHSM_DB, "cannot switch to WAL: %s", sqlite3_errmsg(s->db));
    }
    return exec(s, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;");
}

/* Brings the schema to SCHEMA_VERSION in one transaction. */
static ohsm_rv migrate(struct ohsm_kms_store *s)
{
    int64_t v = 0, fk = 0;
    char sql[48];
    ohsm_rv rv;

    OHSM_TRY(exec(s, "BEGIN IMMEDIATE"));
    rv = int_query(s, "PRAGMA user_version", &v);
    if (rv == OHSM_OK && (v < 0 || v > SCHEMA_VERSION)) {
        rv = ohsm_kst_err(NULL, OHSM_DB, "schema version %lld is not one this code knows (<= %d)",
                          (long long)v, SCHEMA_VERSION);
    }
    for (; rv == OHSM_OK && v < SCHEMA_VERSION; v++) {
        rv = exec(s, migrations[v]);
    }
    if (rv == OHSM_OK) {
        (void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
        rv = exec(s, sql);
    }
    if (rv == OHSM_OK) {
        rv = exec(s, "COMMIT");
    }
    if (rv != OHSM_OK) {
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    /* PRAGMA foreign_keys is silently a no-op inside a transaction or without FK support: check
     * that cascades will happen. */
    if (rv == OHSM_OK && ((rv = int_query(s, "PRAGMA foreign_keys", &fk)) == OHSM_OK && fk != 1)) {
        rv = ohsm_kst_err(NULL, OHSM_DB, "foreign keys cannot be enabled");
    }
    return rv;
}

ohsm_rv ohsm_kms_store_open(const char *path, struct ohsm_kms_store **out)
{
    struct ohsm_kms_store *s = NULL;
    pthread_mutexattr_t ma;
    ohsm_rv rv;

    OHSM_ENSURE(path != NULL && out != NULL && path[0] != '\0', OHSM_ARGUMENTS_BAD);
    *out = NULL;
    OHSM_TRY(create_private(path));
    s = calloc(1, sizeof(*s));
    OHSM_ENSURE(s != NULL, OHSM_HOST_MEMORY);
    if (pthread_mutexattr_init(&ma) != 0) {
        free(s);
        return OHSM_HOST_MEMORY;
    }
    int mrc = pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    if (mrc == 0) {
        mrc = pthread_mutex_init(&s->mu, &ma);
    }
    (void)pthread_mutexattr_destroy(&ma);
    if (mrc != 0) {
        free(s);
        return OHSM_HOST_MEMORY;
    }
    /* NOMUTEX: s->mu serialises every use of the connection. */
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rv = ohsm_kst_err(NULL, OHSM_DB, "open %s: %s", path,
                          s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
        goto out;
    }
    if ((rv = configure(s)) != OHSM_OK || (rv = migrate(s)) != OHSM_OK) {
        goto out;
    }
    *out = s;
    s = NULL;
out:
    ohsm_kms_store_close(s);
    return rv;
}

void ohsm_kms_store_close(struct ohsm_kms_store *s)
{
    if (s == NULL) {
        return;
    }
    ohsm_kms_store_rollback(s); /* the caller's own unfinished transaction, if any */
    for (size_t i = 0; i < OHSM_KST_COUNT_; i++) {
        sqlite3_finalize(s->st[i]);
    }
    /* The last connection's close checkpoints the WAL into the database file. */
    (void)sqlite3_close(s->db);
    (void)pthread_mutex_destroy(&s->mu);
    free(s);
}

ohsm_rv ohsm_kms_store_begin(struct ohsm_kms_store *s)
{
    OHSM_ENSURE(s != NULL, OHSM_ARGUMENTS_BAD);
    ohsm_kst_lock(s);
    if (s->in_tx) { /* ours: another thread's transaction would have made us wait */
        ohsm_kst_unlock(s);
        return ohsm_kst_err(s, OHSM_ARGUMENTS_BAD, "begin: a transaction is already open");
    }
    ohsm_rv rv = control(s, OHSM_KST_BEGIN);
    if (rv != OHSM_OK) {
        ohsm_kst_unlock(s);
        return rv;
    }
    s->in_tx = true; /* mu stays held until commit / rollback */
    return OHSM_OK;
}

ohsm_rv ohsm_kms_store_commit(struct ohsm_kms_store *s)
{
    OHSM_ENSURE(s != NULL, OHSM_ARGUMENTS_BAD);
    ohsm_kst_lock(s);
    if (!s->in_tx) {
        ohsm_kst_unlock(s);
        return ohsm_kst_err(s, OHSM_ARGUMENTS_BAD, "commit: no transaction is open");
    }
    /* A failed commit rolls back: the transaction is over either way, and a later rollback
     * call is harmless. */
    ohsm_rv rv = control(s, OHSM_KST_COMMIT);
    if (rv != OHSM_OK) {
        undo(s, true);
    }
    s->in_tx = false;
    ohsm_kst_unlock(s);
    ohsm_kst_unlock(s); /* begin's hold */
    return rv;
}

void ohsm_kms_store_rollback(struct ohsm_kms_store *s)
{
    if (s == NULL) {
        return;
    }
    ohsm_kst_lock(s);
    if (s->in_tx) {
        undo(s, true);
        s->in_tx = false;
        ohsm_kst_unlock(s); /* begin's hold */
    }
    ohsm_kst_unlock(s);
}
