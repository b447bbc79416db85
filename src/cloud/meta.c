/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd metadata in SQLite. SQL lives only in this file and uses bound parameters only. The
 * database is trusted no more than any file: every row is checked (id shape, state name, ranges)
 * when read. Schema changes bump PRAGMA user_version; a database from a newer openhsmd is refused
 * rather than misread.
 */
#include "cloud/meta.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define SCHEMA_VERSION 2

struct ohsm_meta {
    sqlite3 *db;
    bool in_tx;
};

static const char *const cstate_names[OHSM_CS_COUNT_] = {
    [OHSM_CS_CREATE_IN_PROGRESS] = "CREATE_IN_PROGRESS",
    [OHSM_CS_UNINITIALIZED] = "UNINITIALIZED",
    [OHSM_CS_INITIALIZE_IN_PROGRESS] = "INITIALIZE_IN_PROGRESS",
    [OHSM_CS_INITIALIZED] = "INITIALIZED",
    [OHSM_CS_ACTIVE] = "ACTIVE",
    [OHSM_CS_UPDATE_IN_PROGRESS] = "UPDATE_IN_PROGRESS",
    [OHSM_CS_MODIFY_IN_PROGRESS] = "MODIFY_IN_PROGRESS",
    [OHSM_CS_ROLLBACK_IN_PROGRESS] = "ROLLBACK_IN_PROGRESS",
    [OHSM_CS_DELETE_IN_PROGRESS] = "DELETE_IN_PROGRESS",
    [OHSM_CS_DELETED] = "DELETED",
    [OHSM_CS_DEGRADED] = "DEGRADED",
};

static const char *const hstate_names[OHSM_HS_COUNT_] = {
    [OHSM_HS_CREATE_IN_PROGRESS] = "CREATE_IN_PROGRESS",
    [OHSM_HS_ACTIVE] = "ACTIVE",
    [OHSM_HS_DEGRADED] = "DEGRADED",
    [OHSM_HS_DELETE_IN_PROGRESS] = "DELETE_IN_PROGRESS",
    [OHSM_HS_DELETED] = "DELETED",
};

static const char schema[] = "CREATE TABLE clusters ("
                             " id TEXT PRIMARY KEY NOT NULL,"
                             " state TEXT NOT NULL,"
                             " hsm_type TEXT NOT NULL,"
                             " lockout_attempts INTEGER NOT NULL,"
                             " created_at INTEGER NOT NULL);"
                             "CREATE TABLE hsms ("
                             " id TEXT PRIMARY KEY NOT NULL,"
                             " cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,"
                             " seq INTEGER NOT NULL,"
                             " host TEXT NOT NULL,"
                             " port INTEGER NOT NULL UNIQUE,"
                             " state TEXT NOT NULL,"
                             " created_at INTEGER NOT NULL,"
                             " UNIQUE (cluster_id, seq));"
                             "PRAGMA user_version = 1;";

/* Version 2 (issue 12): the control plane's further facts of clusters, HSMs and backups (region,
 * subnets, ENIs, certificates, tags, ...) as text attributes of an id, interpreted and validated
 * by their reader (cloud/cp*.c). */
static const char schema_v2[] = "CREATE TABLE attrs ("
                                " id TEXT NOT NULL,"
                                " k TEXT NOT NULL,"
                                " v TEXT NOT NULL,"
                                " PRIMARY KEY (id, k));"
                                "CREATE TABLE backups ("
                                " id TEXT PRIMARY KEY NOT NULL,"
                                " region TEXT NOT NULL,"
                                " cluster_id TEXT NOT NULL,"
                                " state TEXT NOT NULL,"
                                " created_at INTEGER NOT NULL);"
                                "PRAGMA user_version = 2;";

const char *ohsm_meta_cstate_name(enum ohsm_meta_cstate s)
{
    return (unsigned)s < OHSM_CS_COUNT_ ? cstate_names[s] : NULL;
}

const char *ohsm_meta_hstate_name(enum ohsm_meta_hstate s)
{
    return (unsigned)s < OHSM_HS_COUNT_ ? hstate_names[s] : NULL;
}

ohsm_rv ohsm_meta_cstate_parse(const char *name, enum ohsm_meta_cstate *out)
{
    OHSM_ENSURE(name != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    for (unsigned i = 0; i < OHSM_CS_COUNT_; i++) {
        if (strcmp(name, cstate_names[i]) == 0) {
            *out = (enum ohsm_meta_cstate)i;
            return OHSM_OK;
        }
    }
    return OHSM_ARGUMENTS_BAD;
}

ohsm_rv ohsm_meta_hstate_parse(const char *name, enum ohsm_meta_hstate *out)
{
    OHSM_ENSURE(name != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    for (unsigned i = 0; i < OHSM_HS_COUNT_; i++) {
        if (strcmp(name, hstate_names[i]) == 0) {
            *out = (enum ohsm_meta_hstate)i;
            return OHSM_OK;
        }
    }
    return OHSM_ARGUMENTS_BAD;
}

static ohsm_rv exec(struct ohsm_meta *m, const char *sql)
{
    return sqlite3_exec(m->db, sql, NULL, NULL, NULL) == SQLITE_OK ? OHSM_OK : OHSM_DB;
}

static ohsm_rv schema_version(struct ohsm_meta *m, int *v)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    if (sqlite3_prepare_v2(m->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rv = OHSM_OK;
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_meta_open(const char *path, struct ohsm_meta **out)
{
    ohsm_rv rv = OHSM_DB;
    struct ohsm_meta *m = NULL;
    int v = -1;

    OHSM_ENSURE(path != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    m = calloc(1, sizeof(*m));
    OHSM_ENSURE(m != NULL, OHSM_HOST_MEMORY);
    if (sqlite3_open_v2(path, &m->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        goto out;
    }
    sqlite3_busy_timeout(m->db, 5000);
    /* WAL + FULL: a metadata change is on disk before anything acts on it. */
    if ((rv = exec(m, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                      "PRAGMA foreign_keys=ON;")) != OHSM_OK ||
        (rv = ohsm_meta_begin(m)) != OHSM_OK) {
        goto out;
    }
    if ((rv = schema_version(m, &v)) != OHSM_OK) {
        goto out;
    }
    if (v == 0) {
        rv = exec(m, schema);
        v = 1;
    }
    if (rv == OHSM_OK && v == 1) {
        rv = exec(m, schema_v2);
        v = 2;
    }
    if (rv == OHSM_OK && v != SCHEMA_VERSION) {
        rv = OHSM_DB; /* written by another version of openhsmd: do not guess */
    }
    if (rv != OHSM_OK || (rv = ohsm_meta_commit(m)) != OHSM_OK) {
        goto out;
    }
    *out = m;
    m = NULL;
out:
    ohsm_meta_close(m);
    return rv;
}

void ohsm_meta_close(struct ohsm_meta *m)
{
    if (m != NULL) {
        ohsm_meta_rollback(m);
        sqlite3_close(m->db);
        free(m);
    }
}

const char *ohsm_meta_errstr(const struct ohsm_meta *m)
{
    return m != NULL && m->db != NULL ? sqlite3_errmsg(m->db) : "no database";
}

struct sqlite3 *ohsm_meta_sqlite(struct ohsm_meta *m)
{
    return m != NULL ? m->db : NULL;
}

ohsm_rv ohsm_meta_begin(struct ohsm_meta *m)
{
    OHSM_ENSURE(m != NULL && !m->in_tx, OHSM_ARGUMENTS_BAD);
    /* IMMEDIATE: take the write lock now, so a later statement cannot fail on SQLITE_BUSY. */
    OHSM_TRY(exec(m, "BEGIN IMMEDIATE"));
    m->in_tx = true;
    return OHSM_OK;
}

ohsm_rv ohsm_meta_commit(struct ohsm_meta *m)
{
    OHSM_ENSURE(m != NULL && m->in_tx, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(exec(m, "COMMIT"));
    m->in_tx = false;
    return OHSM_OK;
}

void ohsm_meta_rollback(struct ohsm_meta *m)
{
    if (m != NULL && m->in_tx) {
        (void)exec(m, "ROLLBACK");
        m->in_tx = false;
    }
}

static bool text_ok(const char *s, size_t cap)
{
    return s != NULL && s[0] != '\0' && strnlen(s, cap) < cap;
}

static bool cluster_ok(const struct ohsm_meta_cluster *c)
{
    return ohsm_ids_valid(OHSM_IDS_CLUSTER_PREFIX, c->id) &&
           ohsm_meta_cstate_name(c->state) != NULL && text_ok(c->hsm_type, sizeof(c->hsm_type)) &&
           c->lockout_attempts >= 1 && c->lockout_attempts <= 100 && c->created_at >= 0;
}

static bool hsm_ok(const struct ohsm_meta_hsm *h)
{
    return ohsm_ids_valid(OHSM_IDS_HSM_PREFIX, h->id) &&
           ohsm_ids_valid(OHSM_IDS_CLUSTER_PREFIX, h->cluster_id) &&
           text_ok(h->host, sizeof(h->host)) && h->port != 0 &&
           ohsm_meta_hstate_name(h->state) != NULL && h->created_at >= 0;
}

/* Binds text parameters 1..n then runs a statement that returns no rows. *changes (may be NULL)
 * receives the number of rows it changed. */
static ohsm_rv run(struct ohsm_meta *m, const char *sql, const char *const *txt, size_t ntxt,
                   const int64_t *num, size_t nnum, int *changes)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    int ok = sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < ntxt; i++) {
        ok = sqlite3_bind_text(st, (int)i + 1, txt[i], -1, SQLITE_STATIC) == SQLITE_OK;
    }
    for (size_t i = 0; ok && i < nnum; i++) {
        ok = sqlite3_bind_int64(st, (int)(ntxt + i) + 1, num[i]) == SQLITE_OK;
    }
    if (ok && sqlite3_step(st) == SQLITE_DONE) {
        rv = OHSM_OK;
        if (changes != NULL) {
            *changes = sqlite3_changes(m->db);
        }
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_meta_cluster_add(struct ohsm_meta *m, const struct ohsm_meta_cluster *c)
{
    OHSM_ENSURE(m != NULL && c != NULL && cluster_ok(c), OHSM_ARGUMENTS_BAD);
    const char *t[] = {c->id, ohsm_meta_cstate_name(c->state), c->hsm_type};
    const int64_t n[] = {c->lockout_attempts, c->created_at};
    return run(m,
               "INSERT INTO clusters (id, state, hsm_type, lockout_attempts, created_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5)",
               t, 3, n, 2, NULL);
}

ohsm_rv ohsm_meta_hsm_add(struct ohsm_meta *m, const struct ohsm_meta_hsm *h)
{
    OHSM_ENSURE(m != NULL && h != NULL && hsm_ok(h), OHSM_ARGUMENTS_BAD);
    const char *t[] = {h->id, h->cluster_id, h->host, ohsm_meta_hstate_name(h->state)};
    const int64_t n[] = {h->seq, h->port, h->created_at};
    return run(m,
               "INSERT INTO hsms (id, cluster_id, host, state, seq, port, created_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
               t, 4, n, 3, NULL);
}

ohsm_rv ohsm_meta_cluster_set_state(struct ohsm_meta *m, const char *id, enum ohsm_meta_cstate s)
{
    int changed = 0;
    OHSM_ENSURE(m != NULL && id != NULL && ohsm_meta_cstate_name(s) != NULL, OHSM_ARGUMENTS_BAD);
    const char *t[] = {ohsm_meta_cstate_name(s), id};
    OHSM_TRY(run(m, "UPDATE clusters SET state = ?1 WHERE id = ?2", t, 2, NULL, 0, &changed));
    return changed == 1 ? OHSM_OK : OHSM_ARGUMENTS_BAD;
}

ohsm_rv ohsm_meta_hsm_set_state(struct ohsm_meta *m, const char *id, enum ohsm_meta_hstate s)
{
    int changed = 0;
    OHSM_ENSURE(m != NULL && id != NULL && ohsm_meta_hstate_name(s) != NULL, OHSM_ARGUMENTS_BAD);
    const char *t[] = {ohsm_meta_hstate_name(s), id};
    OHSM_TRY(run(m, "UPDATE hsms SET state = ?1 WHERE id = ?2", t, 2, NULL, 0, &changed));
    return changed == 1 ? OHSM_OK : OHSM_ARGUMENTS_BAD;
}

/* Copies a TEXT column into dst (cap bytes). Fails on NULL, non-text, embedded NUL or overlong
 * values (emptiness is the row validator's check). */
static bool col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    if (sqlite3_column_type(st, i) != SQLITE_TEXT) {
        return false;
    }
    const unsigned char *s = sqlite3_column_text(st, i);
    int len = sqlite3_column_bytes(st, i);
    if (s == NULL || len < 0 || (size_t)len >= cap || strlen((const char *)s) != (size_t)len) {
        return false;
    }
    memcpy(dst, s, (size_t)len + 1);
    return true;
}

static bool col_int(sqlite3_stmt *st, int i, int64_t lo, int64_t hi, int64_t *v)
{
    if (sqlite3_column_type(st, i) != SQLITE_INTEGER) {
        return false;
    }
    *v = sqlite3_column_int64(st, i);
    return *v >= lo && *v <= hi;
}

static bool row_cluster(sqlite3_stmt *st, struct ohsm_meta_cluster *c)
{
    char state[32];
    int64_t lockout = 0;
    memset(c, 0, sizeof(*c));
    if (!col_text(st, 0, c->id, sizeof(c->id)) || !col_text(st, 1, state, sizeof(state)) ||
        ohsm_meta_cstate_parse(state, &c->state) != OHSM_OK ||
        !col_text(st, 2, c->hsm_type, sizeof(c->hsm_type)) || !col_int(st, 3, 1, 100, &lockout) ||
        !col_int(st, 4, 0, INT64_MAX, &c->created_at)) {
        return false;
    }
    c->lockout_attempts = (uint32_t)lockout;
    return cluster_ok(c);
}

static bool row_hsm(sqlite3_stmt *st, struct ohsm_meta_hsm *h)
{
    char state[32];
    int64_t seq = 0, port = 0;
    memset(h, 0, sizeof(*h));
    if (!col_text(st, 0, h->id, sizeof(h->id)) ||
        !col_text(st, 1, h->cluster_id, sizeof(h->cluster_id)) ||
        !col_int(st, 2, 0, UINT32_MAX, &seq) || !col_text(st, 3, h->host, sizeof(h->host)) ||
        !col_int(st, 4, 1, 65535, &port) || !col_text(st, 5, state, sizeof(state)) ||
        ohsm_meta_hstate_parse(state, &h->state) != OHSM_OK ||
        !col_int(st, 6, 0, INT64_MAX, &h->created_at)) {
        return false;
    }
    h->seq = (uint32_t)seq;
    h->port = (uint16_t)port;
    return hsm_ok(h);
}

/* Runs a query and collects its rows with conv into a malloc'd array of elem-byte records. */
static ohsm_rv collect(sqlite3_stmt *st, size_t elem, bool (*conv)(sqlite3_stmt *, void *),
                       void **out, size_t *n)
{
    ohsm_rv rv = OHSM_DB;
    unsigned char *arr = NULL;
    size_t cnt = 0, cap = 0;
    int sr;

    while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            unsigned char *na = ncap <= SIZE_MAX / elem ? realloc(arr, ncap * elem) : NULL;
            if (na == NULL) {
                rv = OHSM_HOST_MEMORY;
                goto out;
            }
            arr = na;
            cap = ncap;
        }
        if (!conv(st, arr + cnt * elem)) {
            goto out; /* an invalid row: the database is not what we wrote */
        }
        cnt++;
    }
    if (sr != SQLITE_DONE) {
        goto out;
    }
    if (cnt == 0) {
        free(arr);
        arr = NULL;
    }
    *out = arr;
    *n = cnt;
    arr = NULL;
    rv = OHSM_OK;
out:
    free(arr);
    return rv;
}

static bool conv_cluster(sqlite3_stmt *st, void *p)
{
    return row_cluster(st, p);
}

static bool conv_hsm(sqlite3_stmt *st, void *p)
{
    return row_hsm(st, p);
}

ohsm_rv ohsm_meta_cluster_list(struct ohsm_meta *m, struct ohsm_meta_cluster **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *arr = NULL;

    OHSM_ENSURE(m != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    if (sqlite3_prepare_v2(m->db,
                           "SELECT id, state, hsm_type, lockout_attempts, created_at FROM clusters "
                           "ORDER BY created_at, rowid",
                           -1, &st, NULL) != SQLITE_OK) {
        return OHSM_DB;
    }
    ohsm_rv rv = collect(st, sizeof(**out), conv_cluster, &arr, n);
    sqlite3_finalize(st);
    if (rv == OHSM_OK) {
        *out = arr;
    }
    return rv;
}

ohsm_rv ohsm_meta_hsm_list(struct ohsm_meta *m, const char *cluster_id, struct ohsm_meta_hsm **out,
                           size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *arr = NULL;

    OHSM_ENSURE(m != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    /* ?1 IS NULL selects every cluster's HSMs, grouped by cluster in creation order. */
    if (sqlite3_prepare_v2(
            m->db,
            "SELECT h.id, h.cluster_id, h.seq, h.host, h.port, h.state, h.created_at "
            "FROM hsms h JOIN clusters c ON c.id = h.cluster_id "
            "WHERE ?1 IS NULL OR h.cluster_id = ?1 "
            "ORDER BY c.created_at, c.rowid, h.seq",
            -1, &st, NULL) != SQLITE_OK) {
        return OHSM_DB;
    }
    if (sqlite3_bind_text(st, 1, cluster_id, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return OHSM_DB;
    }
    ohsm_rv rv = collect(st, sizeof(**out), conv_hsm, &arr, n);
    sqlite3_finalize(st);
    if (rv == OHSM_OK) {
        *out = arr;
    }
    return rv;
}

#define ATTR_MAX (256u * 1024u)

ohsm_rv ohsm_meta_attr_set(struct ohsm_meta *m, const char *id, const char *k, const char *v)
{
    OHSM_ENSURE(m != NULL && text_ok(id, OHSM_IDS_MAX) && text_ok(k, 64), OHSM_ARGUMENTS_BAD);
    if (v == NULL) {
        const char *t[] = {id, k};
        return run(m, "DELETE FROM attrs WHERE id = ?1 AND k = ?2", t, 2, NULL, 0, NULL);
    }
    OHSM_ENSURE(strnlen(v, ATTR_MAX) < ATTR_MAX, OHSM_ARGUMENTS_BAD);
    const char *t[] = {id, k, v};
    return run(m, "INSERT OR REPLACE INTO attrs (id, k, v) VALUES (?1, ?2, ?3)", t, 3, NULL, 0,
               NULL);
}

ohsm_rv ohsm_meta_attr_get(struct ohsm_meta *m, const char *id, const char *k, char **out)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;

    OHSM_ENSURE(m != NULL && id != NULL && k != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    if (sqlite3_prepare_v2(m->db, "SELECT v FROM attrs WHERE id = ?1 AND k = ?2", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, k, -1, SQLITE_STATIC) != SQLITE_OK) {
        goto out;
    }
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rv = OHSM_OK;
        goto out;
    }
    if (r != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_TEXT) {
        goto out;
    }
    const unsigned char *s = sqlite3_column_text(st, 0);
    int len = sqlite3_column_bytes(st, 0);
    if (s == NULL || len < 0 || (size_t)len >= ATTR_MAX || strlen((const char *)s) != (size_t)len) {
        goto out;
    }
    *out = malloc((size_t)len + 1);
    if (*out == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    memcpy(*out, s, (size_t)len + 1);
    rv = OHSM_OK;
out:
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_meta_attr_drop(struct ohsm_meta *m, const char *id)
{
    OHSM_ENSURE(m != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    const char *t[] = {id};
    return run(m, "DELETE FROM attrs WHERE id = ?1", t, 1, NULL, 0, NULL);
}

static const char *const bstate_names[OHSM_BS_COUNT_] = {
    [OHSM_BS_CREATE_IN_PROGRESS] = "CREATE_IN_PROGRESS",
    [OHSM_BS_READY] = "READY",
    [OHSM_BS_DELETED] = "DELETED",
    [OHSM_BS_PENDING_DELETION] = "PENDING_DELETION",
};

const char *ohsm_meta_bstate_name(enum ohsm_meta_bstate s)
{
    return (unsigned)s < OHSM_BS_COUNT_ ? bstate_names[s] : NULL;
}

static bool backup_ok(const struct ohsm_meta_backup *b)
{
    return strncmp(b->id, "backup-", 7) == 0 && ohsm_ids_valid("backup-", b->id) &&
           text_ok(b->region, sizeof(b->region)) &&
           ohsm_ids_valid(OHSM_IDS_CLUSTER_PREFIX, b->cluster_id) &&
           ohsm_meta_bstate_name(b->state) != NULL && b->created_at >= 0;
}

ohsm_rv ohsm_meta_backup_add(struct ohsm_meta *m, const struct ohsm_meta_backup *b)
{
    OHSM_ENSURE(m != NULL && b != NULL && backup_ok(b), OHSM_ARGUMENTS_BAD);
    const char *t[] = {b->id, b->region, b->cluster_id, ohsm_meta_bstate_name(b->state)};
    const int64_t n[] = {b->created_at};
    return run(m,
               "INSERT INTO backups (id, region, cluster_id, state, created_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5)",
               t, 4, n, 1, NULL);
}

ohsm_rv ohsm_meta_backup_set_state(struct ohsm_meta *m, const char *id, enum ohsm_meta_bstate s)
{
    int changed = 0;
    OHSM_ENSURE(m != NULL && id != NULL && ohsm_meta_bstate_name(s) != NULL, OHSM_ARGUMENTS_BAD);
    const char *t[] = {ohsm_meta_bstate_name(s), id};
    OHSM_TRY(run(m, "UPDATE backups SET state = ?1 WHERE id = ?2", t, 2, NULL, 0, &changed));
    return changed == 1 ? OHSM_OK : OHSM_ARGUMENTS_BAD;
}

static bool conv_backup(sqlite3_stmt *st, void *p)
{
    struct ohsm_meta_backup *b = p;
    char state[32];
    int64_t at = 0;
    memset(b, 0, sizeof(*b));
    if (!col_text(st, 0, b->id, sizeof(b->id)) || !col_text(st, 1, b->region, sizeof(b->region)) ||
        !col_text(st, 2, b->cluster_id, sizeof(b->cluster_id)) ||
        !col_text(st, 3, state, sizeof(state)) || !col_int(st, 4, 0, INT64_MAX, &at)) {
        return false;
    }
    b->created_at = at;
    for (unsigned i = 0; i < OHSM_BS_COUNT_; i++) {
        if (strcmp(state, bstate_names[i]) == 0) {
            b->state = (enum ohsm_meta_bstate)i;
            return backup_ok(b);
        }
    }
    return false;
}

ohsm_rv ohsm_meta_backup_list(struct ohsm_meta *m, struct ohsm_meta_backup **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    OHSM_ENSURE(m != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    if (sqlite3_prepare_v2(m->db,
                           "SELECT id, region, cluster_id, state, created_at FROM backups "
                           "ORDER BY created_at, rowid",
                           -1, &st, NULL) == SQLITE_OK) {
        rv = collect(st, sizeof(**out), conv_backup, (void **)out, n);
    }
    sqlite3_finalize(st);
    return rv;
}
