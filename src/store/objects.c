/* SPDX-License-Identifier: Apache-2.0
 *
 * Key objects and tombstones of one HSM in SQLite: rows of (handle, version, sealed bytes). The
 * sealed bytes are masked objects (include/openhsm/mask.h), so the file never holds key material
 * in the clear, and this module never opens them. Rows read back are untrusted: sizes and ranges
 * are checked here, contents by whoever opens them. Handles are u64 kept in SQLite's signed
 * INTEGER by a two's-complement cast.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "openhsm/mask.h"
#include "openhsm/obj.h"
#include "store/store_int.h"
#include "core/hex.h"

/* A meta value that may be absent. */
static ohsm_rv meta_opt(struct ohsm_store *s, const char *k, char *v, size_t cap, bool *present)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    int rc;

    *present = false;
    OHSM_TRY(sql_prep(s, "SELECT v FROM meta WHERE k = ?1", &st));
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (t != NULL && n >= 0 && (size_t)n < cap) {
            memcpy(v, t, (size_t)n);
            v[n] = '\0';
            *present = true;
            rv = OHSM_OK;
        }
    } else if (rc == SQLITE_DONE) {
        rv = OHSM_OK;
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_store_mask_fp(struct ohsm_store *s, uint8_t fp[8], bool *present)
{
    char hex[24];
    OHSM_TRY(meta_opt(s, "mask_fp", hex, sizeof(hex), present));
    if (!*present) {
        return OHSM_OK;
    }
    OHSM_ENSURE(strlen(hex) == 16, OHSM_DB);
    for (size_t i = 0; i < 8; i++) {
        int hi = ohsm_hex_digit(hex[2 * i]);
        int lo = ohsm_hex_digit(hex[2 * i + 1]);
        OHSM_ENSURE(hi >= 0 && lo >= 0, OHSM_DB);
        fp[i] = (uint8_t)(hi << 4 | lo);
    }
    return OHSM_OK;
}

ohsm_rv ohsm_store_set_mask_fp(struct ohsm_store *s, const uint8_t fp[8])
{
    char hex[17];
    for (size_t i = 0; i < 8; i++) {
        (void)snprintf(hex + 2 * i, 3, "%02x", fp[i]);
    }
    return ohsm_store_meta_put(s, "mask_fp", hex);
}

ohsm_rv ohsm_store_reboot_next(struct ohsm_store *s, uint32_t *out)
{
    char v[24];
    bool present = false;
    uint64_t n = 0;
    OHSM_TRY(meta_opt(s, "reboots", v, sizeof(v), &present));
    if (present) {
        char *end = NULL;
        errno = 0;
        n = strtoull(v, &end, 10);
        OHSM_ENSURE(errno == 0 && end != v && *end == '\0' && n < UINT32_MAX, OHSM_DB);
        n++;
    }
    char buf[24];
    (void)snprintf(buf, sizeof(buf), "%llu", (unsigned long long)n);
    OHSM_TRY(ohsm_store_meta_put(s, "reboots", buf));
    *out = (uint32_t)n;
    return OHSM_OK;
}

ohsm_rv ohsm_store_begin(struct ohsm_store *s)
{
    return sql_exec(s, "BEGIN IMMEDIATE");
}

ohsm_rv ohsm_store_commit(struct ohsm_store *s)
{
    return sql_exec(s, "COMMIT");
}

void ohsm_store_rollback(struct ohsm_store *s)
{
    (void)sql_exec(s, "ROLLBACK");
}

static ohsm_rv exists_in(struct ohsm_store *s, const char *sql, uint64_t handle, bool *yes)
{
    sqlite3_stmt *st = NULL;
    int rc;
    OHSM_TRY(sql_prep(s, sql, &st));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    OHSM_ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, OHSM_DB);
    *yes = rc == SQLITE_ROW;
    return OHSM_OK;
}

static ohsm_rv handle_used(struct ohsm_store *s, uint64_t handle, bool *used)
{
    OHSM_TRY(exists_in(s, "SELECT 1 FROM objects WHERE handle = ?1", handle, used));
    if (!*used) {
        OHSM_TRY(exists_in(s, "SELECT 1 FROM tombstones WHERE handle = ?1", handle, used));
    }
    return OHSM_OK;
}

/* seq stays below 2^58 so that handles stay positive as SQLite integers. */
#define SEQ_MAX (UINT64_C(1) << 58)

static ohsm_rv next_seq(struct ohsm_store *s, uint64_t *seq)
{
    char buf[32];
    bool present = false;
    char *end = NULL;
    OHSM_TRY(meta_opt(s, "next_seq", buf, sizeof(buf), &present));
    if (!present) {
        *seq = 1;
        return OHSM_OK;
    }
    unsigned long long v = strtoull(buf, &end, 10);
    OHSM_ENSURE(end != buf && *end == '\0' && v >= 1 && v < SEQ_MAX, OHSM_DB);
    *seq = v;
    return OHSM_OK;
}

static ohsm_rv set_next_seq(struct ohsm_store *s, uint64_t seq)
{
    char buf[32];
    (void)snprintf(buf, sizeof(buf), "%" PRIu64, seq);
    return ohsm_store_meta_put(s, "next_seq", buf);
}

ohsm_rv ohsm_store_handle_next(struct ohsm_store *s, uint32_t slot, uint64_t *handle)
{
    uint64_t seq = 0;
    bool used = true;

    OHSM_ENSURE(slot <= OHSM_SLOT_MAX && handle != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(next_seq(s, &seq));
    /* Skips handles a restored or repaired database already holds (bounded: at most the
     * number of rows). */
    for (uint32_t tries = 0; used; tries++) {
        OHSM_ENSURE(seq < SEQ_MAX && tries <= 2 * OHSM_STORE_OBJECTS_MAX + 2 * 65536,
                    OHSM_OBJECT_TOO_MANY);
        OHSM_TRY(handle_used(s, ohsm_handle_make(slot, seq), &used));
        if (used) {
            seq++;
        }
    }
    OHSM_TRY(set_next_seq(s, seq + 1));
    *handle = ohsm_handle_make(slot, seq);
    return OHSM_OK;
}

ohsm_rv ohsm_store_handle_seen(struct ohsm_store *s, uint64_t handle)
{
    uint64_t seq = 0;
    uint64_t theirs = handle >> OHSM_HANDLE_SLOT_BITS;
    OHSM_ENSURE(theirs < SEQ_MAX, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(next_seq(s, &seq));
    if (theirs >= seq) {
        OHSM_TRY(set_next_seq(s, theirs + 1));
    }
    return OHSM_OK;
}

static ohsm_rv row_put(struct ohsm_store *s, const char *sql, uint64_t handle, uint64_t version,
                       const uint8_t *sealed, size_t len)
{
    sqlite3_stmt *st = NULL;
    OHSM_ENSURE(handle != 0 && sealed != NULL && len > 0 && len <= OHSM_MASK_MAX &&
                    version <= INT64_MAX,
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(sql_prep(s, sql, &st));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)version);
    sqlite3_bind_blob(st, 3, sealed, (int)len, SQLITE_STATIC);
    return sql_done(st);
}

ohsm_rv ohsm_store_obj_count(struct ohsm_store *s, uint32_t *n)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_DB;
    OHSM_TRY(sql_prep(s, "SELECT count(*) FROM objects", &st));
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

ohsm_rv ohsm_store_obj_put(struct ohsm_store *s, uint64_t handle, uint64_t version,
                           const uint8_t *sealed, size_t len)
{
    bool exists = false;
    uint32_t n = 0;
    OHSM_ENSURE(handle != 0, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(exists_in(s, "SELECT 1 FROM objects WHERE handle = ?1", handle, &exists));
    if (!exists) {
        OHSM_TRY(ohsm_store_obj_count(s, &n));
        OHSM_ENSURE(n < OHSM_STORE_OBJECTS_MAX, OHSM_OBJECT_TOO_MANY);
    }
    return row_put(s, "INSERT OR REPLACE INTO objects(handle, version, sealed) VALUES(?1, ?2, ?3)",
                   handle, version, sealed, len);
}

ohsm_rv ohsm_store_tomb_put(struct ohsm_store *s, uint64_t handle, uint64_t version,
                            const uint8_t *sealed, size_t len)
{
    return row_put(s,
                   "INSERT OR REPLACE INTO tombstones(handle, version, sealed) VALUES(?1, ?2, ?3)",
                   handle, version, sealed, len);
}

/* Checks one row's shape and hands it to fn. */
static ohsm_rv row_take(sqlite3_stmt *st, ohsm_store_row_fn fn, void *arg)
{
    sqlite3_int64 h = sqlite3_column_int64(st, 0);
    sqlite3_int64 v = sqlite3_column_int64(st, 1);
    const void *b = sqlite3_column_blob(st, 2);
    int n = sqlite3_column_bytes(st, 2);
    OHSM_ENSURE(h != 0 && v >= 0 && b != NULL && n > 0 && n <= OHSM_MASK_MAX, OHSM_DB);
    return fn(arg, (uint64_t)h, (uint64_t)v, b, (size_t)n);
}

struct copy_out {
    uint64_t *version;
    uint8_t **sealed;
    size_t *len;
};

static ohsm_rv copy_row(void *arg, uint64_t handle, uint64_t version, const uint8_t *sealed,
                        size_t len)
{
    struct copy_out *c = arg;
    (void)handle;
    uint8_t *p = malloc(len);
    OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
    memcpy(p, sealed, len);
    *c->version = version;
    *c->sealed = p;
    *c->len = len;
    return OHSM_OK;
}

static ohsm_rv row_get(struct ohsm_store *s, const char *sql, uint64_t handle, uint64_t *version,
                       uint8_t **sealed, size_t *len)
{
    sqlite3_stmt *st = NULL;
    struct copy_out c = {version, sealed, len};
    ohsm_rv rv;
    int rc;

    OHSM_ENSURE(version != NULL && sealed != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(sql_prep(s, sql, &st));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rv = row_take(st, copy_row, &c);
    } else {
        rv = rc == SQLITE_DONE ? OHSM_KEY_HANDLE_INVALID : OHSM_DB;
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_store_obj_get(struct ohsm_store *s, uint64_t handle, uint64_t *version,
                           uint8_t **sealed, size_t *len)
{
    return row_get(s, "SELECT handle, version, sealed FROM objects WHERE handle = ?1", handle,
                   version, sealed, len);
}

ohsm_rv ohsm_store_tomb_get(struct ohsm_store *s, uint64_t handle, uint64_t *version,
                            uint8_t **sealed, size_t *len)
{
    return row_get(s, "SELECT handle, version, sealed FROM tombstones WHERE handle = ?1", handle,
                   version, sealed, len);
}

static ohsm_rv row_del(struct ohsm_store *s, const char *sql, uint64_t handle)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(sql_prep(s, sql, &st));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)handle);
    return sql_done(st);
}

ohsm_rv ohsm_store_obj_del(struct ohsm_store *s, uint64_t handle)
{
    return row_del(s, "DELETE FROM objects WHERE handle = ?1", handle);
}

ohsm_rv ohsm_store_tomb_del(struct ohsm_store *s, uint64_t handle)
{
    return row_del(s, "DELETE FROM tombstones WHERE handle = ?1", handle);
}

static ohsm_rv each(struct ohsm_store *s, const char *sql, ohsm_store_row_fn fn, void *arg)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv = OHSM_OK;
    int rc;

    OHSM_ENSURE(fn != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(sql_prep(s, sql, &st));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rv = row_take(st, fn, arg);
        if (rv != OHSM_OK) {
            break;
        }
    }
    if (rv == OHSM_OK && rc != SQLITE_DONE) {
        rv = OHSM_DB;
    }
    sqlite3_finalize(st);
    return rv;
}

ohsm_rv ohsm_store_obj_each(struct ohsm_store *s, ohsm_store_row_fn fn, void *arg)
{
    return each(s, "SELECT handle, version, sealed FROM objects", fn, arg);
}

ohsm_rv ohsm_store_tomb_each(struct ohsm_store *s, ohsm_store_row_fn fn, void *arg)
{
    return each(s, "SELECT handle, version, sealed FROM tombstones", fn, arg);
}
