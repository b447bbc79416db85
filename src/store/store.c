/* SPDX-License-Identifier: Apache-2.0
 *
 * SQLite persistence for one HSM. Rows read back from the file are treated as untrusted: types
 * and lengths are checked before use (public keys: NULL or 1 .. OHSM_TOKEN_PUBKEY_MAX bytes).
 * Only bound parameters reach SQL.
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "openhsm/token.h"
#include "store/store_int.h"

/* Schema version 2 (issue 5). A new database gets every table and column here; older ones are
 * brought up to date by migrate(). */
#define SCHEMA_VERSION 2

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " type INTEGER NOT NULL,"
    " pwrec BLOB NOT NULL,"
    " fail_count INTEGER NOT NULL DEFAULT 0,"
    " mfa INTEGER NOT NULL DEFAULT 0,"
    " mofn INTEGER NOT NULL DEFAULT 0,"
    " mfa_pub BLOB,"
    " mofn_pub BLOB);"
    /* Issue 4 (user_version 1): key objects, each in its sealed (masked) form, and the sealed
     * tombstones of deleted ones. CREATE IF NOT EXISTS also migrates an issue-3 database. */
    "CREATE TABLE IF NOT EXISTS objects("
    " handle INTEGER PRIMARY KEY,"
    " version INTEGER NOT NULL,"
    " sealed BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tombstones("
    " handle INTEGER PRIMARY KEY,"
    " version INTEGER NOT NULL,"
    " sealed BLOB NOT NULL);";

/* Issue 5 (user_version 2): the users' MFA and quorum public keys. Before it the mfa / mofn
 * flags could only be set without a key, which means nothing now (the flags follow the keys):
 * they are cleared. */
static const char *const migrate_v2 = "ALTER TABLE users ADD COLUMN mfa_pub BLOB;"
                                      "ALTER TABLE users ADD COLUMN mofn_pub BLOB;"
                                      "UPDATE users SET mfa = 0, mofn = 0;";

ohsm_rv ohsm_store_sql_exec(struct ohsm_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? OHSM_OK : OHSM_DB;
}

ohsm_rv ohsm_store_sql_prep(struct ohsm_store *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? OHSM_OK : OHSM_DB;
}

ohsm_rv ohsm_store_sql_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? OHSM_OK : OHSM_DB;
}

ohsm_rv ohsm_store_meta_put(struct ohsm_store *s, const char *k, const char *v)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(sql_prep(s, "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)", &st));
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
    return sql_done(st);
}

/* *found says whether key k exists; v gets its value. A value longer than cap - 1: OHSM_DB. */
static ohsm_rv meta_find(struct ohsm_store *s, const char *k, char *v, size_t cap, bool *found)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    int rc;
    OHSM_TRY(sql_prep(s, "SELECT v FROM meta WHERE k = ?1", &st));
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (t != NULL && n >= 0 && (size_t)n < cap) {
            memcpy(v, t, (size_t)n);
            v[n] = '\0';
            rv = OHSM_OK;
        }
    } else if (rc == SQLITE_DONE) {
        rv = OHSM_OK;
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_store_meta_get(struct ohsm_store *s, const char *k, char *v, size_t cap)
{
    bool found = false;
    OHSM_TRY(meta_find(s, k, v, cap, &found));
    return found ? OHSM_OK : OHSM_DB;
}

/* A query answering one integer. */
static ohsm_rv sql_int(struct ohsm_store *s, const char *sql, sqlite3_int64 *v)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    OHSM_TRY(sql_prep(s, sql, &st));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        *v = sqlite3_column_int64(st, 0);
        rv = OHSM_OK;
    }
    sqlite3_finalize(st);
    return rv;
}

/* Functions that write more than one statement run in their own transaction, or join the
 * caller's (ohsm_store_begin) so that the HSM can, say, set a password and a key atomically.
 * *own says which: only the owner commits or rolls back. */
static ohsm_rv tx_open(struct ohsm_store *s, bool *own)
{
    *own = sqlite3_get_autocommit(s->db) != 0;
    return *own ? sql_exec(s, "BEGIN IMMEDIATE") : OHSM_OK;
}

static ohsm_rv tx_close(struct ohsm_store *s, bool own, ohsm_rv rv)
{
    if (own && rv == OHSM_OK) {
        rv = sql_exec(s, "COMMIT");
    }
    if (own && rv != OHSM_OK) {
        (void)sql_exec(s, "ROLLBACK");
    }
    return rv;
}

/* Creates what is missing and migrates older databases, in one transaction. A database written
 * by a newer openhsm (user_version above ours) is refused rather than misread. */
static ohsm_rv migrate(struct ohsm_store *s)
{
    sqlite3_int64 ver = 0;
    sqlite3_int64 has_keys = 0;
    char sql[40];
    ohsm_rv rv;

    OHSM_TRY(sql_exec(s, "BEGIN IMMEDIATE"));
    rv = sql_int(s, "PRAGMA user_version", &ver);
    if (rv == OHSM_OK && (ver < 0 || ver > SCHEMA_VERSION)) {
        rv = OHSM_DB;
    }
    if (rv == OHSM_OK && ver < SCHEMA_VERSION) {
        rv = sql_exec(s, schema);
        if (rv == OHSM_OK) {
            rv =
                sql_int(s, "SELECT count(*) FROM pragma_table_info('users') WHERE name = 'mfa_pub'",
                        &has_keys);
        }
        if (rv == OHSM_OK && has_keys == 0) {
            rv = sql_exec(s, migrate_v2);
        }
        if (rv == OHSM_OK) {
            (void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
            rv = sql_exec(s, sql);
        }
    }
    if (rv == OHSM_OK) {
        rv = sql_exec(s, "COMMIT");
    }
    if (rv != OHSM_OK) {
        (void)sql_exec(s, "ROLLBACK");
    }
    return rv;
}

static ohsm_rv add_user_raw(struct ohsm_store *s, uint32_t id, const char *name,
                            enum ohsm_utype type, const uint8_t *pwrec)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(sql_prep(s, "INSERT INTO users(id, name, type, pwrec) VALUES(?1, ?2, ?3, ?4)", &st));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)type);
    sqlite3_bind_blob(st, 4, pwrec, OHSM_PWHASH_LEN, SQLITE_STATIC);
    return sql_done(st);
}

/* Serial number: 8 hex digits, random at creation, like a device serial. */
static ohsm_rv seed(struct ohsm_store *s, const struct ohsm_store_init *in)
{
    ohsm_rv rv;
    uint8_t rec[OHSM_PWHASH_LEN];
    uint8_t rnd[24];
    uint8_t sn[4];
    char buf[32];
    const uint8_t *au = in->au_password;
    size_t au_len = in->au_password_len;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1 || RAND_bytes(sn, sizeof(sn)) != 1) {
        return OHSM_DEVICE_ERROR;
    }
    if (au == NULL) {
        au = rnd; /* a password nobody knows: the appliance user stays internal */
        au_len = sizeof(rnd);
    }
    rv = sql_exec(s, "BEGIN IMMEDIATE");
    if (rv != OHSM_OK) {
        goto out;
    }
    if ((rv = ohsm_store_meta_put(s, "cluster_id", in->cluster_id)) != OHSM_OK ||
        (rv = ohsm_store_meta_put(s, "hsm_id", in->hsm_id)) != OHSM_OK) {
        goto rollback;
    }
    (void)snprintf(buf, sizeof(buf), "%u", in->lockout_attempts);
    if ((rv = ohsm_store_meta_put(s, "lockout_attempts", buf)) != OHSM_OK ||
        (rv = ohsm_store_meta_put(s, "activated", "0")) != OHSM_OK) {
        goto rollback;
    }
    (void)snprintf(buf, sizeof(buf), "%02x%02x%02x%02x", sn[0], sn[1], sn[2], sn[3]);
    if ((rv = ohsm_store_meta_put(s, "serial", buf)) != OHSM_OK) {
        goto rollback;
    }
    /* The new-cluster users of the CloudHSM guide: admin (PRECO, "password") is user 1 and the
     * appliance user app_user is user 2. */
    if ((rv = ohsm_pwhash_make(in->cost, (const uint8_t *)"password", 8, rec)) != OHSM_OK ||
        (rv = add_user_raw(s, 1, "admin", OHSM_UT_PRECO, rec)) != OHSM_OK) {
        goto rollback;
    }
    if ((rv = ohsm_pwhash_make(in->cost, au, au_len, rec)) != OHSM_OK ||
        (rv = add_user_raw(s, 2, "app_user", OHSM_UT_AU, rec)) != OHSM_OK) {
        goto rollback;
    }
    rv = sql_exec(s, "COMMIT");
    if (rv == OHSM_OK) {
        goto out;
    }
rollback:
    (void)sql_exec(s, "ROLLBACK");
out:
    OPENSSL_cleanse(rnd, sizeof(rnd));
    OPENSSL_cleanse(rec, sizeof(rec));
    return rv;
}

ohsm_rv ohsm_store_open(const char *path, const struct ohsm_store_init *init,
                        struct ohsm_store **out)
{
    struct ohsm_store *s = NULL;
    ohsm_rv rv = OHSM_DB;
    char v[8];

    OHSM_ENSURE(path != NULL && init != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(init->cluster_id != NULL && init->hsm_id != NULL && init->cost != NULL,
                OHSM_ARGUMENTS_BAD);
    s = calloc(1, sizeof(*s));
    OHSM_ENSURE(s != NULL, OHSM_HOST_MEMORY);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        goto out;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL + FULL: a commit is on disk before the HSM acknowledges the mutation. */
    if ((rv = sql_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                          "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;")) != OHSM_OK ||
        (rv = migrate(s)) != OHSM_OK) {
        goto out;
    }
    if (ohsm_store_meta_get(s, "activated", v, sizeof(v)) != OHSM_OK) {
        rv = seed(s, init);
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    *out = s;
    s = NULL;
    rv = OHSM_OK;
out:
    ohsm_store_close(s);
    return rv;
}

void ohsm_store_close(struct ohsm_store *s)
{
    if (s != NULL) {
        sqlite3_close(s->db);
        free(s);
    }
}

static ohsm_rv parse_u32(const char *t, uint32_t *v)
{
    char *end = NULL;
    unsigned long long x = strtoull(t, &end, 10);
    OHSM_ENSURE(end != t && *end == '\0' && x <= UINT32_MAX, OHSM_DB);
    *v = (uint32_t)x;
    return OHSM_OK;
}

ohsm_rv ohsm_store_meta(struct ohsm_store *s, struct ohsm_store_meta *out)
{
    char buf[16];
    uint32_t act = 0;
    memset(out, 0, sizeof(*out));
    OHSM_TRY(ohsm_store_meta_get(s, "cluster_id", out->cluster_id, sizeof(out->cluster_id)));
    OHSM_TRY(ohsm_store_meta_get(s, "hsm_id", out->hsm_id, sizeof(out->hsm_id)));
    OHSM_TRY(ohsm_store_meta_get(s, "serial", out->serial, sizeof(out->serial)));
    OHSM_TRY(ohsm_store_meta_get(s, "lockout_attempts", buf, sizeof(buf)));
    OHSM_TRY(parse_u32(buf, &out->lockout_attempts));
    OHSM_TRY(ohsm_store_meta_get(s, "activated", buf, sizeof(buf)));
    OHSM_TRY(parse_u32(buf, &act));
    out->activated = act != 0;
    return OHSM_OK;
}

#define USER_COLS "id, name, type, pwrec, fail_count, mfa_pub, mofn_pub"

/* A public key column: NULL (none) or a blob of 1 .. OHSM_TOKEN_PUBKEY_MAX bytes. */
static ohsm_rv pubkey_col(sqlite3_stmt *st, int col, bool *present)
{
    int t = sqlite3_column_type(st, col);
    int n = sqlite3_column_bytes(st, col);
    *present = t != SQLITE_NULL;
    OHSM_ENSURE(t == SQLITE_NULL || (t == SQLITE_BLOB && n > 0 && n <= OHSM_TOKEN_PUBKEY_MAX),
                OHSM_DB);
    return OHSM_OK;
}

static ohsm_rv row_user(sqlite3_stmt *st, struct ohsm_store_user *u)
{
    sqlite3_int64 id = sqlite3_column_int64(st, 0);
    const unsigned char *name = sqlite3_column_text(st, 1);
    int name_len = sqlite3_column_bytes(st, 1);
    int type = sqlite3_column_int(st, 2);
    const void *rec = sqlite3_column_blob(st, 3);
    int rec_len = sqlite3_column_bytes(st, 3);
    sqlite3_int64 fails = sqlite3_column_int64(st, 4);
    bool mfa = false;
    bool mofn = false;

    OHSM_ENSURE(id > 0 && id <= UINT32_MAX && name != NULL && name_len > 0 &&
                    name_len <= OHSM_USERNAME_MAX && type > OHSM_UT_NONE && type <= OHSM_UT_MAX &&
                    rec != NULL && rec_len == OHSM_PWHASH_LEN && fails >= 0 && fails <= UINT32_MAX,
                OHSM_DB);
    OHSM_TRY(pubkey_col(st, 5, &mfa));
    OHSM_TRY(pubkey_col(st, 6, &mofn));
    memset(u, 0, sizeof(*u));
    u->id = (uint32_t)id;
    memcpy(u->name, name, (size_t)name_len);
    u->type = (enum ohsm_utype)type;
    memcpy(u->pwrec, rec, OHSM_PWHASH_LEN);
    u->fail_count = (uint32_t)fails;
    /* The flags are what the keys say (the flag columns are kept in step, but not read). */
    u->mfa = mfa;
    u->mofn = mofn;
    return OHSM_OK;
}

static ohsm_rv user_one(sqlite3_stmt *st, struct ohsm_store_user *out)
{
    ohsm_rv rv = OHSM_USER_NOT_FOUND;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rv = row_user(st, out);
    } else if (rc != SQLITE_DONE) {
        rv = OHSM_DB;
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_store_user_by_name(struct ohsm_store *s, const char *name, struct ohsm_store_user *out)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(sql_prep(s, "SELECT " USER_COLS " FROM users WHERE name = ?1", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    return user_one(st, out);
}

ohsm_rv ohsm_store_user_by_id(struct ohsm_store *s, uint32_t id, struct ohsm_store_user *out)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(sql_prep(s, "SELECT " USER_COLS " FROM users WHERE id = ?1", &st));
    sqlite3_bind_int64(st, 1, id);
    return user_one(st, out);
}

ohsm_rv ohsm_store_user_list(struct ohsm_store *s, struct ohsm_store_user **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    struct ohsm_store_user *arr = NULL;
    size_t cnt = 0;
    size_t cap = 0;
    ohsm_rv rv = OHSM_OK;
    int rc;

    OHSM_TRY(sql_prep(s, "SELECT " USER_COLS " FROM users ORDER BY id", &st));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            struct ohsm_store_user *na = NULL;
            if (ncap > OHSM_MAX_USERS * 2) {
                rv = OHSM_DB;
                break;
            }
            na = realloc(arr, ncap * sizeof(*arr));
            if (na == NULL) {
                rv = OHSM_HOST_MEMORY;
                break;
            }
            arr = na;
            cap = ncap;
        }
        rv = row_user(st, &arr[cnt]);
        if (rv != OHSM_OK) {
            break;
        }
        cnt++;
    }
    if (rv == OHSM_OK && rc != SQLITE_DONE) {
        rv = OHSM_DB;
    }
    sqlite3_finalize(st);
    if (rv != OHSM_OK) {
        if (arr != NULL) {
            OPENSSL_cleanse(arr, cap * sizeof(*arr));
        }
        free(arr);
        return rv;
    }
    *out = arr;
    *n = cnt;
    return OHSM_OK;
}

ohsm_rv ohsm_store_user_count(struct ohsm_store *s, int type, uint32_t *n)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    OHSM_TRY(sql_prep(s, "SELECT count(*) FROM users WHERE ?1 < 0 OR type = ?1", &st));
    sqlite3_bind_int(st, 1, type);
    if (sqlite3_step(st) == SQLITE_ROW) {
        sqlite3_int64 c = sqlite3_column_int64(st, 0);
        if (c >= 0 && c <= UINT32_MAX) {
            *n = (uint32_t)c;
            rv = OHSM_OK;
        }
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_store_user_add(struct ohsm_store *s, const char *name, enum ohsm_utype type,
                            const uint8_t pwrec[OHSM_PWHASH_LEN], uint32_t *id)
{
    sqlite3_stmt *st = NULL;
    struct ohsm_store_user u;
    uint32_t n = 0;
    bool own = false;
    ohsm_rv rv;

    OHSM_TRY(tx_open(s, &own));
    rv = ohsm_store_user_by_name(s, name, &u);
    if (rv == OHSM_OK) {
        rv = OHSM_USER_EXISTS;
    } else if (rv == OHSM_USER_NOT_FOUND) {
        rv = ohsm_store_user_count(s, -1, &n);
        if (rv == OHSM_OK && n >= OHSM_MAX_USERS) {
            rv = OHSM_USER_TOO_MANY;
        }
        if (rv == OHSM_OK) {
            rv = sql_prep(s, "INSERT INTO users(name, type, pwrec) VALUES(?1, ?2, ?3)", &st);
        }
        if (rv == OHSM_OK) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 2, (int)type);
            sqlite3_bind_blob(st, 3, pwrec, OHSM_PWHASH_LEN, SQLITE_STATIC);
            rv = sql_done(st);
        }
        if (rv == OHSM_OK) {
            *id = (uint32_t)sqlite3_last_insert_rowid(s->db);
        }
    }
    OPENSSL_cleanse(&u, sizeof(u));
    return tx_close(s, own, rv);
}

/* The user's keys go with the row. */
ohsm_rv ohsm_store_user_del(struct ohsm_store *s, uint32_t id)
{
    sqlite3_stmt *st = NULL;
    struct ohsm_store_user u;
    uint32_t cos = 0;
    bool own = false;
    ohsm_rv rv;

    OHSM_TRY(tx_open(s, &own));
    rv = ohsm_store_user_by_id(s, id, &u);
    if (rv == OHSM_OK && u.type == OHSM_UT_CO) {
        rv = ohsm_store_user_count(s, OHSM_UT_CO, &cos);
        if (rv == OHSM_OK && cos <= 1) {
            rv = OHSM_LAST_ADMIN;
        }
    }
    if (rv == OHSM_OK) {
        rv = sql_prep(s, "DELETE FROM users WHERE id = ?1", &st);
    }
    if (rv == OHSM_OK) {
        sqlite3_bind_int64(st, 1, id);
        rv = sql_done(st);
    }
    OPENSSL_cleanse(&u, sizeof(u));
    return tx_close(s, own, rv);
}

ohsm_rv ohsm_store_user_set_password(struct ohsm_store *s, uint32_t id,
                                     const uint8_t pwrec[OHSM_PWHASH_LEN], enum ohsm_utype new_type)
{
    sqlite3_stmt *st = NULL;
    bool own = false;
    ohsm_rv rv;

    OHSM_TRY(tx_open(s, &own));
    rv = sql_prep(s, "UPDATE users SET pwrec = ?2, fail_count = 0, type = ?3 WHERE id = ?1", &st);
    if (rv == OHSM_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_blob(st, 2, pwrec, OHSM_PWHASH_LEN, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, (int)new_type);
        rv = sql_done(st);
    }
    if (rv == OHSM_OK && sqlite3_changes(s->db) != 1) {
        rv = OHSM_USER_NOT_FOUND;
    }
    if (rv == OHSM_OK && new_type == OHSM_UT_CO) {
        rv = ohsm_store_meta_put(s, "activated", "1");
    }
    return tx_close(s, own, rv);
}

ohsm_rv ohsm_store_fail_inc(struct ohsm_store *s, uint32_t id, uint32_t *count)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    OHSM_TRY(sql_prep(s,
                      "UPDATE users SET fail_count = fail_count + 1 WHERE id = ?1 "
                      "RETURNING fail_count",
                      &st));
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        sqlite3_int64 c = sqlite3_column_int64(st, 0);
        if (c >= 0 && c <= UINT32_MAX) {
            *count = (uint32_t)c;
            rv = OHSM_OK;
        }
        /* RETURNING: the statement must run to completion for the change to stick. */
        if (sqlite3_step(st) != SQLITE_DONE) {
            rv = OHSM_DB;
        }
    } else {
        rv = OHSM_USER_NOT_FOUND;
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_store_fail_reset(struct ohsm_store *s, uint32_t id)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(sql_prep(s, "UPDATE users SET fail_count = 0 WHERE id = ?1", &st));
    sqlite3_bind_int64(st, 1, id);
    return sql_done(st);
}

/* A key argument: none (NULL, 0) or 1 .. OHSM_TOKEN_PUBKEY_MAX bytes. */
static bool key_arg_ok(const uint8_t *der, size_t len)
{
    return der == NULL ? len == 0 : len > 0 && len <= OHSM_TOKEN_PUBKEY_MAX;
}

static void bind_key(sqlite3_stmt *st, int i, const uint8_t *der, size_t len)
{
    if (der == NULL) {
        sqlite3_bind_null(st, i);
    } else {
        sqlite3_bind_blob(st, i, der, (int)len, SQLITE_STATIC);
    }
}

ohsm_rv ohsm_store_user_put_keys(struct ohsm_store *s, const char *name, enum ohsm_utype type,
                                 const uint8_t pwrec[OHSM_PWHASH_LEN], const uint8_t *mfa_pub,
                                 size_t mfa_len, const uint8_t *mofn_pub, size_t mofn_len,
                                 bool replace, uint32_t *id)
{
    sqlite3_stmt *st = NULL;
    struct ohsm_store_user u;
    uint32_t n = 0;
    bool existed = false;
    bool own = false;
    ohsm_rv rv;

    OHSM_ENSURE(name != NULL && pwrec != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(key_arg_ok(mfa_pub, mfa_len) && key_arg_ok(mofn_pub, mofn_len), OHSM_ARGUMENTS_BAD);
    memset(&u, 0, sizeof(u));
    OHSM_TRY(tx_open(s, &own));
    rv = ohsm_store_user_by_name(s, name, &u);
    if (rv == OHSM_OK) {
        existed = true;
        /* Replacing keeps the id and the failed-login counter, which are this HSM's own. */
        rv = !replace         ? OHSM_USER_EXISTS
             : u.type != type ? OHSM_USER_TYPE_INVALID
                              : sql_prep(s,
                                         "UPDATE users SET pwrec = ?2, mfa = ?3, mofn = ?4, "
                                         "mfa_pub = ?6, mofn_pub = ?7 WHERE id = ?1",
                                         &st);
        if (rv == OHSM_OK) {
            sqlite3_bind_int64(st, 1, u.id);
        }
    } else if (rv == OHSM_USER_NOT_FOUND) {
        rv = ohsm_store_user_count(s, -1, &n);
        if (rv == OHSM_OK && n >= OHSM_MAX_USERS) {
            rv = OHSM_USER_TOO_MANY;
        }
        if (rv == OHSM_OK) {
            rv = sql_prep(s,
                          "INSERT INTO users(name, type, pwrec, mfa, mofn, mfa_pub, mofn_pub) "
                          "VALUES(?1, ?5, ?2, ?3, ?4, ?6, ?7)",
                          &st);
        }
        if (rv == OHSM_OK) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 5, (int)type);
        }
    }
    if (rv == OHSM_OK) {
        sqlite3_bind_blob(st, 2, pwrec, OHSM_PWHASH_LEN, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, mfa_pub != NULL ? 1 : 0);
        sqlite3_bind_int(st, 4, mofn_pub != NULL ? 1 : 0);
        bind_key(st, 6, mfa_pub, mfa_len);
        bind_key(st, 7, mofn_pub, mofn_len);
        rv = sql_done(st);
    }
    if (rv == OHSM_OK) {
        *id = existed ? u.id : (uint32_t)sqlite3_last_insert_rowid(s->db);
    }
    OPENSSL_cleanse(&u, sizeof(u));
    return tx_close(s, own, rv);
}

/* Since issue 5 the flags follow the keys: a record without keys has neither, so mfa and mofn
 * are ignored (a replaced user loses any keys it had). */
ohsm_rv ohsm_store_user_put(struct ohsm_store *s, const char *name, enum ohsm_utype type,
                            const uint8_t pwrec[OHSM_PWHASH_LEN], bool mfa, bool mofn, bool replace,
                            uint32_t *id)
{
    (void)mfa;
    (void)mofn;
    return ohsm_store_user_put_keys(s, name, type, pwrec, NULL, 0, NULL, 0, replace, id);
}

/* Column names per key: constants, never built from input. */
static const char *key_sql(enum ohsm_store_pubkey which, bool set)
{
    switch (which) {
    case OHSM_STORE_MFA_KEY:
        return set ? "UPDATE users SET mfa_pub = ?2, mfa = ?3 WHERE id = ?1"
                   : "SELECT mfa_pub FROM users WHERE id = ?1";
    case OHSM_STORE_QUORUM_KEY:
        return set ? "UPDATE users SET mofn_pub = ?2, mofn = ?3 WHERE id = ?1"
                   : "SELECT mofn_pub FROM users WHERE id = ?1";
    default:
        return NULL;
    }
}

ohsm_rv ohsm_store_user_set_pubkey(struct ohsm_store *s, uint32_t id, enum ohsm_store_pubkey which,
                                   const uint8_t *der, size_t len)
{
    sqlite3_stmt *st = NULL;
    const char *sql = key_sql(which, true);
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && sql != NULL && key_arg_ok(der, len), OHSM_ARGUMENTS_BAD);
    OHSM_TRY(sql_prep(s, sql, &st));
    sqlite3_bind_int64(st, 1, id);
    bind_key(st, 2, der, len);
    sqlite3_bind_int(st, 3, der != NULL ? 1 : 0);
    rv = sql_done(st);
    if (rv == OHSM_OK && sqlite3_changes(s->db) != 1) {
        rv = OHSM_USER_NOT_FOUND;
    }
    return rv;
}

ohsm_rv ohsm_store_user_pubkey(struct ohsm_store *s, uint32_t id, enum ohsm_store_pubkey which,
                               uint8_t **der, size_t *len)
{
    sqlite3_stmt *st = NULL;
    const char *sql = key_sql(which, false);
    bool present = false;
    ohsm_rv rv = OHSM_USER_NOT_FOUND;
    int rc;

    OHSM_ENSURE(s != NULL && sql != NULL && der != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    *der = NULL;
    *len = 0;
    OHSM_TRY(sql_prep(s, sql, &st));
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rv = pubkey_col(st, 0, &present);
        if (rv == OHSM_OK && present) {
            const void *p = sqlite3_column_blob(st, 0);
            size_t n = (size_t)sqlite3_column_bytes(st, 0);
            *der = p != NULL ? malloc(n) : NULL;
            if (*der == NULL) {
                rv = p != NULL ? OHSM_HOST_MEMORY : OHSM_DB;
            } else {
                memcpy(*der, p, n);
                *len = n;
            }
        }
    } else if (rc != SQLITE_DONE) {
        rv = OHSM_DB;
    }
    sqlite3_finalize(st);
    return rv;
}

/* Quorum values live in meta as "quorum.<service>" (decimal); absent means 1. */
static const char *quorum_key(int service)
{
    static const char *const keys[] = {NULL, "quorum.user", "quorum.quorum", "quorum.cluster"};
    return service >= OHSM_QS_USER && service <= OHSM_QS_CLUSTER ? keys[service] : NULL;
}

ohsm_rv ohsm_store_quorum_get(struct ohsm_store *s, int service, uint32_t *value)
{
    const char *k = quorum_key(service);
    char buf[16];
    bool found = false;
    uint32_t v = 0;

    OHSM_ENSURE(s != NULL && k != NULL && value != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(meta_find(s, k, buf, sizeof(buf), &found));
    if (!found) {
        *value = 1;
        return OHSM_OK;
    }
    OHSM_TRY(parse_u32(buf, &v));
    OHSM_ENSURE(v >= 1 && v <= OHSM_QUORUM_MAX, OHSM_DB);
    *value = v;
    return OHSM_OK;
}

ohsm_rv ohsm_store_quorum_set(struct ohsm_store *s, int service, uint32_t value)
{
    const char *k = quorum_key(service);
    char buf[16];

    OHSM_ENSURE(s != NULL && k != NULL && value >= 1 && value <= OHSM_QUORUM_MAX,
                OHSM_ARGUMENTS_BAD);
    (void)snprintf(buf, sizeof(buf), "%u", value);
    return ohsm_store_meta_put(s, k, buf);
}
