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

/* Schema version 3 (issue 10). A new database gets every table and column here; older ones are
 * brought up to date by migrate(). */
#define SCHEMA_VERSION 3

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
    " mofn_pub BLOB,"
    " version INTEGER NOT NULL DEFAULT 1);"
    /* Issue 10 (user_version 3): deleted users, so that no older record brings one back and no
     * id is used twice. */
    "CREATE TABLE IF NOT EXISTS user_tombs("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL);"
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
/* Issue 10 (user_version 3): every user starts at record version 1. */
static const char *const migrate_v3 = "ALTER TABLE users ADD COLUMN version INTEGER NOT NULL "
                                      "DEFAULT 1;";

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
ohsm_rv ohsm_store_tx_open(struct ohsm_store *s, bool *own)
{
    *own = sqlite3_get_autocommit(s->db) != 0;
    return *own ? sql_exec(s, "BEGIN IMMEDIATE") : OHSM_OK;
}

ohsm_rv ohsm_store_tx_close(struct ohsm_store *s, bool own, ohsm_rv rv)
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
    sqlite3_int64 has_version = 0;
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
            rv = sql_int(s,
                         "SELECT count(*) FROM pragma_table_info('users') WHERE name = 'version'",
                         &has_version);
        }
        if (rv == OHSM_OK && has_version == 0) {
            rv = sql_exec(s, migrate_v3);
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
    uint8_t salt[OHSM_PWHASH_SALT_LEN];
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
    /* Salts derived from (cluster, id, version): every HSM of the cluster seeds the same records
     * (see ohsm_pwhash_user_salt). */
    if ((rv = ohsm_pwhash_user_salt(in->cluster_id, 1, 1, salt)) != OHSM_OK ||
        (rv = ohsm_pwhash_make_salted(in->cost, salt, (const uint8_t *)"password", 8, rec)) !=
            OHSM_OK ||
        (rv = add_user_raw(s, 1, "admin", OHSM_UT_PRECO, rec)) != OHSM_OK) {
        goto rollback;
    }
    if ((rv = ohsm_pwhash_user_salt(in->cluster_id, 2, 1, salt)) != OHSM_OK ||
        (rv = ohsm_pwhash_make_salted(in->cost, salt, au, au_len, rec)) != OHSM_OK ||
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

/* An id that fits struct ohsm_store_meta: 1..31 printable ASCII characters, no spaces. */
static bool id_ok(const char *id)
{
    size_t n = id != NULL ? strnlen(id, 32) : 0;
    if (n == 0 || n >= 32) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (id[i] <= 0x20 || id[i] >= 0x7f) {
            return false;
        }
    }
    return true;
}

/* UPDATE of one existing meta row: a database without it is not a store (OHSM_DB). */
static ohsm_rv meta_update(struct ohsm_store *s, const char *k, const char *v)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(sql_prep(s, "UPDATE meta SET v = ?2 WHERE k = ?1", &st));
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, v, -1, SQLITE_STATIC);
    OHSM_TRY(sql_done(st));
    return sqlite3_changes(s->db) == 1 ? OHSM_OK : OHSM_DB;
}

ohsm_rv ohsm_store_rebind(const char *db_path, const char *cluster_id, const char *hsm_id)
{
    struct ohsm_store s = {NULL};
    char old[32] = "", serial[32] = "";
    uint8_t sn[4];
    ohsm_rv rv = OHSM_DB;

    OHSM_ENSURE(db_path != NULL && id_ok(cluster_id) && id_ok(hsm_id), OHSM_ARGUMENTS_BAD);
    /* No SQLITE_OPEN_CREATE: a missing file is an error, not a new empty database. */
    if (sqlite3_open_v2(db_path, &s.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        goto out;
    }
    sqlite3_busy_timeout(s.db, 5000);
    if ((rv = sql_exec(&s, "PRAGMA synchronous=FULL; BEGIN IMMEDIATE")) != OHSM_OK) {
        goto out;
    }
    rv = ohsm_store_meta_get(&s, "serial", old, sizeof(old));
    /* A new serial, never the old one (the restored HSM is another device). Bounded: a repeat
     * of 32 random bits eight times over means the generator is broken. */
    for (int i = 0; rv == OHSM_OK && i < 8 && (serial[0] == '\0' || strcmp(serial, old) == 0);
         i++) {
        if (RAND_bytes(sn, sizeof(sn)) != 1) {
            rv = OHSM_DEVICE_ERROR;
            break;
        }
        (void)snprintf(serial, sizeof(serial), "%02x%02x%02x%02x", sn[0], sn[1], sn[2], sn[3]);
    }
    if (rv == OHSM_OK && strcmp(serial, old) == 0) {
        rv = OHSM_DEVICE_ERROR;
    }
    if (rv == OHSM_OK) {
        rv = meta_update(&s, "cluster_id", cluster_id);
    }
    if (rv == OHSM_OK) {
        rv = meta_update(&s, "hsm_id", hsm_id);
    }
    if (rv == OHSM_OK) {
        rv = meta_update(&s, "serial", serial);
    }
    if (rv == OHSM_OK) {
        rv = sql_exec(&s, "COMMIT");
    }
    if (rv != OHSM_OK) {
        (void)sql_exec(&s, "ROLLBACK");
    }
out:
    /* Closing the last connection checkpoints and removes the -wal file, so the database is one
     * file again when this returns OK. */
    if (s.db != NULL && sqlite3_close(s.db) != SQLITE_OK && rv == OHSM_OK) {
        rv = OHSM_DB;
    }
    return rv;
}
