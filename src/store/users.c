/* SPDX-License-Identifier: Apache-2.0
 *
 * Users of one HSM in SQLite: rows (name, type, scrypt password record, failed-login counter,
 * MFA and quorum public keys, record version), their tombstones, and user records received from
 * other HSMs. Rows read back are untrusted: types and lengths are checked before use (public
 * keys: NULL or 1 .. OHSM_TOKEN_PUBKEY_MAX bytes). Only bound parameters reach SQL.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "openhsm/token.h"
#include "store/store_int.h"

#define USER_COLS "id, name, type, pwrec, fail_count, mfa_pub, mofn_pub, version"

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
    sqlite3_int64 version = sqlite3_column_int64(st, 7);
    bool mfa = false;
    bool mofn = false;

    OHSM_ENSURE(id > 0 && id <= UINT32_MAX && name != NULL && name_len > 0 &&
                    name_len <= OHSM_USERNAME_MAX && type > OHSM_UT_NONE && type <= OHSM_UT_MAX &&
                    rec != NULL && rec_len == OHSM_PWHASH_LEN && fails >= 0 && fails <= UINT32_MAX &&
                    version >= 1,
                OHSM_DB);
    OHSM_TRY(pubkey_col(st, 5, &mfa));
    OHSM_TRY(pubkey_col(st, 6, &mofn));
    memset(u, 0, sizeof(*u));
    u->id = (uint32_t)id;
    memcpy(u->name, name, (size_t)name_len);
    u->type = (enum ohsm_utype)type;
    memcpy(u->pwrec, rec, OHSM_PWHASH_LEN);
    u->fail_count = (uint32_t)fails;
    u->version = (uint64_t)version;
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

/* Is id used by a user or a tombstone, or name by a user? */
static ohsm_rv taken(struct ohsm_store *s, uint32_t id, const char *name)
{
    struct ohsm_store_user u;
    struct ohsm_store_utomb t;
    ohsm_rv rv = ohsm_store_user_by_name(s, name, &u);
    if (rv == OHSM_USER_NOT_FOUND) {
        rv = ohsm_store_user_by_id(s, id, &u);
    }
    if (rv == OHSM_USER_NOT_FOUND) {
        rv = ohsm_store_user_tomb_get(s, id, &t);
    }
    OPENSSL_cleanse(&u, sizeof(u));
    return rv == OHSM_OK ? OHSM_USER_EXISTS : rv == OHSM_USER_NOT_FOUND ? OHSM_OK : rv;
}

static ohsm_rv count_ok(struct ohsm_store *s)
{
    uint32_t n = 0;
    OHSM_TRY(ohsm_store_user_count(s, -1, &n));
    return n >= OHSM_MAX_USERS ? OHSM_USER_TOO_MANY : OHSM_OK;
}

ohsm_rv ohsm_store_user_next_id(struct ohsm_store *s, uint32_t *id)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    OHSM_ENSURE(s != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    /* AUTOINCREMENT's high-water mark covers deleted rows; tombstones cover ids that came from
     * other HSMs and were deleted. */
    OHSM_TRY(sql_prep(s,
                      "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'users'),"
                      " 0), coalesce((SELECT max(id) FROM users), 0),"
                      " coalesce((SELECT max(id) FROM user_tombs), 0)) + 1",
                      &st));
    if (sqlite3_step(st) == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(st, 0);
        if (v >= 1 && v <= UINT32_MAX) {
            *id = (uint32_t)v;
            rv = OHSM_OK;
        } else {
            rv = OHSM_USER_TOO_MANY;
        }
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_store_user_add_id(struct ohsm_store *s, uint32_t id, const char *name,
                               enum ohsm_utype type, const uint8_t pwrec[OHSM_PWHASH_LEN])
{
    sqlite3_stmt *st = NULL;
    bool own = false;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && id != 0 && name != NULL && pwrec != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(tx_open(s, &own));
    rv = taken(s, id, name);
    if (rv == OHSM_OK) {
        rv = count_ok(s);
    }
    if (rv == OHSM_OK) {
        rv = sql_prep(s, "INSERT INTO users(id, name, type, pwrec, version) VALUES(?1, ?2, ?3, ?4, 1)",
                      &st);
    }
    if (rv == OHSM_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, (int)type);
        sqlite3_bind_blob(st, 4, pwrec, OHSM_PWHASH_LEN, SQLITE_STATIC);
        rv = sql_done(st);
    }
    return tx_close(s, own, rv);
}

ohsm_rv ohsm_store_user_add(struct ohsm_store *s, const char *name, enum ohsm_utype type,
                            const uint8_t pwrec[OHSM_PWHASH_LEN], uint32_t *id)
{
    bool own = false;
    uint32_t next = 0;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(tx_open(s, &own));
    rv = ohsm_store_user_next_id(s, &next);
    if (rv == OHSM_OK) {
        rv = ohsm_store_user_add_id(s, next, name, type, pwrec);
    }
    if (rv == OHSM_OK) {
        *id = next;
    }
    return tx_close(s, own, rv);
}

static ohsm_rv tomb_put(struct ohsm_store *s, uint32_t id, const char *name, uint64_t version)
{
    sqlite3_stmt *st = NULL;
    OHSM_ENSURE(version >= 1 && version <= INT64_MAX, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(sql_prep(s, "INSERT OR REPLACE INTO user_tombs(id, name, version) VALUES(?1, ?2, ?3)",
                      &st));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
    return sql_done(st);
}

/* The user's keys go with the row; a tombstone one version above the user's last stays. */
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
    if (rv == OHSM_OK) {
        rv = tomb_put(s, id, u.name, u.version + 1);
    }
    OPENSSL_cleanse(&u, sizeof(u));
    return tx_close(s, own, rv);
}

ohsm_rv ohsm_store_user_bump(struct ohsm_store *s, uint32_t id, uint64_t from)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;
    OHSM_ENSURE(s != NULL && from >= 1 && from < INT64_MAX, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(sql_prep(s, "UPDATE users SET version = ?2 WHERE id = ?1 AND version = ?3", &st));
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(from + 1));
    sqlite3_bind_int64(st, 3, (sqlite3_int64)from);
    rv = sql_done(st);
    if (rv == OHSM_OK && sqlite3_changes(s->db) != 1) {
        rv = OHSM_USER_RECORD_STALE; /* changed (or deleted) since the caller read it */
    }
    return rv;
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

/* ---- user tombstones and records from other HSMs (issue 10) ---- */

static ohsm_rv row_tomb(sqlite3_stmt *st, struct ohsm_store_utomb *t)
{
    sqlite3_int64 id = sqlite3_column_int64(st, 0);
    const unsigned char *name = sqlite3_column_text(st, 1);
    int name_len = sqlite3_column_bytes(st, 1);
    sqlite3_int64 version = sqlite3_column_int64(st, 2);
    OHSM_ENSURE(id > 0 && id <= UINT32_MAX && name != NULL && name_len > 0 &&
                    name_len <= OHSM_USERNAME_MAX && version >= 1,
                OHSM_DB);
    memset(t, 0, sizeof(*t));
    t->id = (uint32_t)id;
    memcpy(t->name, name, (size_t)name_len);
    t->version = (uint64_t)version;
    return OHSM_OK;
}

ohsm_rv ohsm_store_user_tomb_get(struct ohsm_store *s, uint32_t id, struct ohsm_store_utomb *out)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_USER_NOT_FOUND;
    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(sql_prep(s, "SELECT id, name, version FROM user_tombs WHERE id = ?1", &st));
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rv = row_tomb(st, out);
    } else if (rc != SQLITE_DONE) {
        rv = OHSM_DB;
    }
    sqlite3_finalize(st);
    return rv;
}

/* Tombstones listed at most (a deleted user's id is never reused, so they only grow). */
#define UTOMBS_MAX (16 * OHSM_MAX_USERS)

ohsm_rv ohsm_store_user_tombs(struct ohsm_store *s, struct ohsm_store_utomb **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    struct ohsm_store_utomb *arr = NULL;
    size_t cnt = 0;
    size_t cap = 0;
    ohsm_rv rv = OHSM_OK;
    int rc;

    OHSM_ENSURE(s != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(sql_prep(s, "SELECT id, name, version FROM user_tombs ORDER BY id DESC", &st));
    while (cnt < UTOMBS_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            struct ohsm_store_utomb *na = realloc(arr, ncap * sizeof(*arr));
            if (na == NULL) {
                rv = OHSM_HOST_MEMORY;
                break;
            }
            arr = na;
            cap = ncap;
        }
        rv = row_tomb(st, &arr[cnt]);
        if (rv != OHSM_OK) {
            break;
        }
        cnt++;
    }
    sqlite3_finalize(st);
    if (rv != OHSM_OK) {
        free(arr);
        return rv;
    }
    *out = arr;
    *n = cnt;
    return OHSM_OK;
}

ohsm_rv ohsm_store_user_put_rec(struct ohsm_store *s, const struct ohsm_store_user *u,
                                const uint8_t *mfa_pub, size_t mfa_len, const uint8_t *mofn_pub,
                                size_t mofn_len, bool deleted)
{
    sqlite3_stmt *st = NULL;
    struct ohsm_store_user cur;
    bool own = false;
    bool exists = false;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && u != NULL && u->id != 0 && u->version >= 1 &&
                    u->version <= INT64_MAX && key_arg_ok(mfa_pub, mfa_len) &&
                    key_arg_ok(mofn_pub, mofn_len),
                OHSM_ARGUMENTS_BAD);
    memset(&cur, 0, sizeof(cur));
    OHSM_TRY(tx_open(s, &own));
    rv = ohsm_store_user_by_id(s, u->id, &cur);
    exists = rv == OHSM_OK;
    if (rv == OHSM_USER_NOT_FOUND) {
        rv = OHSM_OK;
    }
    if (rv == OHSM_OK && deleted) {
        rv = exists ? sql_prep(s, "DELETE FROM users WHERE id = ?1", &st) : OHSM_OK;
        if (rv == OHSM_OK && exists) {
            sqlite3_bind_int64(st, 1, u->id);
            rv = sql_done(st);
        }
        if (rv == OHSM_OK) {
            rv = tomb_put(s, u->id, u->name, u->version);
        }
        goto out;
    }
    if (rv == OHSM_OK && !exists) {
        rv = taken(s, u->id, u->name);
        if (rv == OHSM_OK) {
            rv = count_ok(s);
        }
        if (rv == OHSM_OK) {
            rv = sql_prep(s,
                          "INSERT INTO users(id, name, type, pwrec, mfa, mofn, mfa_pub, mofn_pub,"
                          " version) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                          &st);
        }
    } else if (rv == OHSM_OK) {
        /* The id and name are the user's; the failed-login counter is this HSM's own. */
        rv = strcmp(cur.name, u->name) != 0
                 ? OHSM_USER_EXISTS
                 : sql_prep(s,
                            "UPDATE users SET name = ?2, type = ?3, pwrec = ?4, mfa = ?5, mofn = ?6,"
                            " mfa_pub = ?7, mofn_pub = ?8, version = ?9 WHERE id = ?1",
                            &st);
    }
    if (rv == OHSM_OK) {
        sqlite3_bind_int64(st, 1, u->id);
        sqlite3_bind_text(st, 2, u->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, (int)u->type);
        sqlite3_bind_blob(st, 4, u->pwrec, OHSM_PWHASH_LEN, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, mfa_pub != NULL ? 1 : 0);
        sqlite3_bind_int(st, 6, mofn_pub != NULL ? 1 : 0);
        bind_key(st, 7, mfa_pub, mfa_len);
        bind_key(st, 8, mofn_pub, mofn_len);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)u->version);
        rv = sql_done(st);
    }
    if (rv == OHSM_OK && u->type == OHSM_UT_CO) {
        rv = ohsm_store_meta_put(s, "activated", "1"); /* an admin's record: the HSM is active */
    }
out:
    OPENSSL_cleanse(&cur, sizeof(cur));
    return tx_close(s, own, rv);
}
