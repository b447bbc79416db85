/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS store's keys and their sealed key material (store.h), in SQLite (store_sqlite.c has
 * the connection and the helpers). Each row read back passes the same checks as a write (ids of
 * 36 characters, material ids of 64 hex digits, enums in range) or the call fails with OHSM_DB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/store_int.h"

/* ---- keys ---- */

#define KEY_COLS                                                                                   \
    "id, region, account, created_ms, spec, usage, origin, state, saved_state, description, "      \
    "deletion_date, pending_window_days, expiration, valid_to, rotation_enabled, "                 \
    "rotation_period_days, next_rotation, on_demand_rotation_started, cur_version, "               \
    "custom_key_store_id, cluster_id, backing_handle"

/* region / account as stored text: 1..cap-1 printable characters without spaces. */
static bool word_ok(const char *s, size_t cap)
{
    if (!kst_text_ok(s, 1, cap - 1)) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            return false;
        }
    }
    return true;
}

/* NULL when k is a key this store writes and reads; else the first field that is not. */
static const char *key_bad(const struct ohsm_kms_key *k)
{
    if (!kst_uuid_ok(k->id)) {
        return "id";
    }
    if (!word_ok(k->region, sizeof(k->region)) || !word_ok(k->account, sizeof(k->account))) {
        return "region/account";
    }
    if (k->created_ms < 0 || k->deletion_date < 0 || k->valid_to < 0 || k->next_rotation < 0 ||
        k->on_demand_rotation_started < 0) {
        return "time";
    }
    if (k->spec < OHSM_KSPEC_SYMMETRIC_DEFAULT || k->spec > OHSM_KSPEC_HMAC_512) {
        return "spec";
    }
    if (k->usage < OHSM_KUSE_ENCRYPT_DECRYPT || k->usage > OHSM_KUSE_GENERATE_VERIFY_MAC) {
        return "usage";
    }
    if (k->origin < OHSM_KORIGIN_AWS_KMS || k->origin > OHSM_KORIGIN_AWS_CLOUDHSM) {
        return "origin";
    }
    if (k->state < OHSM_KSTATE_ENABLED || k->state > OHSM_KSTATE_UNAVAILABLE ||
        k->saved_state > OHSM_KSTATE_UNAVAILABLE) {
        return "state";
    }
    if (!kst_text_ok(k->description, 0, KST_DESC_BYTES)) {
        return "description";
    }
    if (k->pending_window_days > 30 || k->expiration > OHSM_KEXP_DOES_NOT_EXPIRE ||
        k->rotation_period_days > 2560) {
        return "window/expiration/period";
    }
    if (!kst_text_ok(k->custom_key_store_id, 0, sizeof(k->custom_key_store_id) - 1) ||
        !kst_text_ok(k->cluster_id, 0, sizeof(k->cluster_id) - 1)) {
        return "custom key store";
    }
    return NULL;
}

ohsm_rv ohsm_kms_store_key_put(struct ohsm_kms_store *s, const struct ohsm_kms_key *k)
{
    sqlite3_stmt *st = NULL;
    const char *bad = NULL;
    int64_t handle = 0;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && k != NULL, OHSM_ARGUMENTS_BAD);
    if ((bad = key_bad(k)) != NULL) {
        return kst_err(s, OHSM_ARGUMENTS_BAD, "key_put: bad %s", bad);
    }
    memcpy(&handle, &k->backing_handle, sizeof(handle)); /* all 64 bits, as SQLite's int64 */
    kst_lock(s);
    /* An upsert, not INSERT OR REPLACE: a replace deletes the row, and the delete would cascade
     * to the key's material, aliases, grants, ... */
    rv =
        kst_prep(s, KST_KEY_PUT,
                 "INSERT INTO keys (" KEY_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                 "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22) "
                 "ON CONFLICT (id) DO UPDATE SET region = ?2, account = ?3, created_ms = ?4, "
                 "spec = ?5, usage = ?6, origin = ?7, state = ?8, saved_state = ?9, "
                 "description = ?10, deletion_date = ?11, pending_window_days = ?12, "
                 "expiration = ?13, valid_to = ?14, rotation_enabled = ?15, "
                 "rotation_period_days = ?16, next_rotation = ?17, "
                 "on_demand_rotation_started = ?18, cur_version = ?19, "
                 "custom_key_store_id = ?20, cluster_id = ?21, backing_handle = ?22",
                 &st);
    const char *const txt[] = {k->id, k->region, k->account};
    for (int i = 0; rv == OHSM_OK && i < 3; i++) {
        rv = kst_bind_text(s, st, i + 1, txt[i]);
    }
    const int64_t num[] = {k->created_ms, k->spec, k->usage, k->origin, k->state, k->saved_state};
    for (int i = 0; rv == OHSM_OK && i < 6; i++) {
        rv = kst_bind_int(s, st, i + 4, num[i]);
    }
    if (rv == OHSM_OK) {
        rv = kst_bind_text(s, st, 10, k->description);
    }
    const int64_t num2[] = {
        k->deletion_date, k->pending_window_days,        k->expiration,
        k->valid_to,      k->rotation_enabled ? 1 : 0,   k->rotation_period_days,
        k->next_rotation, k->on_demand_rotation_started, k->cur_version};
    for (int i = 0; rv == OHSM_OK && i < 9; i++) {
        rv = kst_bind_int(s, st, i + 11, num2[i]);
    }
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 20, k->custom_key_store_id)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 21, k->cluster_id)) == OHSM_OK) {
        rv = kst_bind_int(s, st, 22, handle);
    }
    if (rv == OHSM_OK) {
        rv = kst_run(s, st, "key_put", NULL);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

/* Reads a key row (KEY_COLS order): NULL when it is good, else why not. arg: the id it must have
 * (NULL: any). */
static const char *row_key(sqlite3_stmt *st, void *rec, const void *arg)
{
    struct ohsm_kms_key *k = rec;
    int64_t rot = 0, handle = 0;
    memset(k, 0, sizeof(*k));
    if (!kst_col_text(st, 0, k->id, sizeof(k->id)) ||
        !kst_col_text(st, 1, k->region, sizeof(k->region)) ||
        !kst_col_text(st, 2, k->account, sizeof(k->account))) {
        return "id/region/account: not text of the right length";
    }
    if (!kst_col_int(st, 3, 0, INT64_MAX, &k->created_ms) || !kst_col_u32(st, 4, &k->spec) ||
        !kst_col_u32(st, 5, &k->usage) || !kst_col_u32(st, 6, &k->origin) ||
        !kst_col_u32(st, 7, &k->state) || !kst_col_u32(st, 8, &k->saved_state)) {
        return "created/spec/usage/origin/state: not an integer in range";
    }
    if (!kst_col_dup(st, 9, KST_DESC_BYTES, &k->description)) {
        return "description: not text of at most 32768 bytes";
    }
    if (!kst_col_int(st, 10, 0, INT64_MAX, &k->deletion_date) ||
        !kst_col_u32(st, 11, &k->pending_window_days) || !kst_col_u32(st, 12, &k->expiration) ||
        !kst_col_int(st, 13, 0, INT64_MAX, &k->valid_to) || !kst_col_int(st, 14, 0, 1, &rot) ||
        !kst_col_u32(st, 15, &k->rotation_period_days) ||
        !kst_col_int(st, 16, 0, INT64_MAX, &k->next_rotation) ||
        !kst_col_int(st, 17, 0, INT64_MAX, &k->on_demand_rotation_started) ||
        !kst_col_u32(st, 18, &k->cur_version)) {
        return "deletion/expiration/rotation: not an integer in range";
    }
    if (!kst_col_text(st, 19, k->custom_key_store_id, sizeof(k->custom_key_store_id)) ||
        !kst_col_text(st, 20, k->cluster_id, sizeof(k->cluster_id)) ||
        !kst_col_int(st, 21, INT64_MIN, INT64_MAX, &handle)) {
        return "custom key store fields";
    }
    k->rotation_enabled = rot != 0;
    memcpy(&k->backing_handle, &handle, sizeof(handle));
    const char *bad = key_bad(k);
    if (bad != NULL) {
        return bad;
    }
    return arg != NULL && strcmp(k->id, arg) != 0 ? "id differs from the one asked for" : NULL;
}

static void clear_key(void *rec)
{
    ohsm_kms_key_clear(rec);
}

static const struct kst_rows key_rows = {"keys", sizeof(struct ohsm_kms_key), row_key, clear_key};

ohsm_rv ohsm_kms_store_key_get(struct ohsm_kms_store *s, const char *id, struct ohsm_kms_key *out)
{
    sqlite3_stmt *st = NULL;
    char absent[64];
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    OHSM_ENSURE(kst_uuid_ok(id), OHSM_ARGUMENTS_BAD);
    (void)snprintf(absent, sizeof(absent), "key_get: no key %s", id);
    kst_lock(s);
    rv = kst_prep(s, KST_KEY_GET, "SELECT " KEY_COLS " FROM keys WHERE id = ?1", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, id)) == OHSM_OK) {
        rv = kst_one(s, st, &key_rows, id, out, absent);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_key_list(struct ohsm_kms_store *s, struct ohsm_kms_key **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *n = 0;
    kst_lock(s);
    rv = kst_prep(s, KST_KEY_LIST, "SELECT " KEY_COLS " FROM keys ORDER BY created_ms, id", &st);
    void *arr = NULL;
    if (rv == OHSM_OK && (rv = kst_collect(s, st, &key_rows, NULL, &arr, n)) == OHSM_OK) {
        *out = arr;
    }
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_key_delete(struct ohsm_kms_store *s, const char *id)
{
    sqlite3_stmt *st = NULL;
    int changed = 0;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && kst_uuid_ok(id), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    /* One statement: ON DELETE CASCADE removes material, aliases, grants, tags, policies and
     * import parameters in the same (statement) transaction. */
    rv = kst_prep(s, KST_KEY_DELETE, "DELETE FROM keys WHERE id = ?1", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, id)) == OHSM_OK) {
        rv = kst_run(s, st, "key_delete", &changed);
    }
    if (rv == OHSM_OK && changed == 0) {
        rv = kst_err(s, OHSM_KEY_HANDLE_INVALID, "key_delete: no key %s", id);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv kst_key_exists(struct ohsm_kms_store *s, const char *id)
{
    sqlite3_stmt *st = NULL;
    OHSM_TRY(kst_prep(s, KST_KEY_EXISTS, "SELECT 1 FROM keys WHERE id = ?1", &st));
    ohsm_rv rv = kst_bind_text(s, st, 1, id);
    if (rv == OHSM_OK) {
        int rc = sqlite3_step(st);
        rv = rc == SQLITE_ROW    ? OHSM_OK
             : rc == SQLITE_DONE ? kst_err(s, OHSM_KEY_HANDLE_INVALID, "no key %s", id)
                                 : kst_fail(s, sqlite3_extended_errcode(s->db), "key lookup");
    }
    kst_reset(st);
    return rv;
}

/* ---- key material ---- */

#define MAT_COLS "key_id, version, material_id, kind, created, sealed"

static const char *material_bad(const struct ohsm_kms_material *m)
{
    if (!kst_uuid_ok(m->key_id)) {
        return "key_id";
    }
    if (m->version == 0) {
        return "version";
    }
    if (!kst_hex_ok(m->material_id, OHSM_KMS_MATERIAL_ID_LEN)) {
        return "material_id";
    }
    if (m->kind > OHSM_MKIND_ON_DEMAND) {
        return "kind";
    }
    if (m->created < 0) {
        return "created";
    }
    if (m->sealed == NULL || m->sealed_len == 0 || m->sealed_len > KST_SEALED_MAX) {
        return "sealed";
    }
    return NULL;
}

ohsm_rv ohsm_kms_store_material_put(struct ohsm_kms_store *s, const struct ohsm_kms_material *m)
{
    sqlite3_stmt *st = NULL;
    const char *bad = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && m != NULL, OHSM_ARGUMENTS_BAD);
    if ((bad = material_bad(m)) != NULL) {
        return kst_err(s, OHSM_ARGUMENTS_BAD, "material_put: bad %s", bad);
    }
    kst_lock(s);
    rv = kst_prep(s, KST_MAT_PUT,
                  "INSERT INTO materials (" MAT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, m->key_id)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 2, m->version)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 3, m->material_id)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 4, m->kind)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 5, m->created)) == OHSM_OK &&
        (rv = kst_bind_blob(s, st, 6, m->sealed, m->sealed_len)) == OHSM_OK) {
        rv = kst_run(s, st, "material_put", NULL);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

/* Reads a material row (MAT_COLS order): NULL when good, else why not. arg: the key id it must
 * have. */
static const char *row_material(sqlite3_stmt *st, void *rec, const void *arg)
{
    struct ohsm_kms_material *m = rec;
    memset(m, 0, sizeof(*m));
    if (!kst_col_text(st, 0, m->key_id, sizeof(m->key_id)) || !kst_col_u32(st, 1, &m->version) ||
        !kst_col_text(st, 2, m->material_id, sizeof(m->material_id)) ||
        !kst_col_u32(st, 3, &m->kind) || !kst_col_int(st, 4, 0, INT64_MAX, &m->created)) {
        return "a field of the wrong type or length";
    }
    if (!kst_col_blob(st, 5, KST_SEALED_MAX, &m->sealed, &m->sealed_len)) {
        return "sealed: not a blob of 1..65536 bytes";
    }
    const char *bad = material_bad(m);
    if (bad != NULL) {
        return bad;
    }
    return strcmp(m->key_id, arg) != 0 ? "key differs from the one asked for" : NULL;
}

static void clear_material(void *rec)
{
    ohsm_kms_material_clear(rec);
}

static const struct kst_rows material_rows = {"materials", sizeof(struct ohsm_kms_material),
                                              row_material, clear_material};

ohsm_rv ohsm_kms_store_material_get(struct ohsm_kms_store *s, const char *key_id, uint32_t version,
                                    struct ohsm_kms_material *out)
{
    sqlite3_stmt *st = NULL;
    char absent[96];
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    OHSM_ENSURE(kst_uuid_ok(key_id), OHSM_ARGUMENTS_BAD);
    (void)snprintf(absent, sizeof(absent), "material_get: no version %u of key %s", version,
                   key_id);
    kst_lock(s);
    rv = kst_prep(s, KST_MAT_GET,
                  "SELECT " MAT_COLS " FROM materials WHERE key_id = ?1 AND version = ?2", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 2, version)) == OHSM_OK) {
        rv = kst_one(s, st, &material_rows, key_id, out, absent);
        if (rv == OHSM_OK && out->version != version) {
            ohsm_kms_material_clear(out);
            rv = kst_bad_row(s, "materials", "version differs from the one asked for");
        }
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_material_list(struct ohsm_kms_store *s, const char *key_id,
                                     struct ohsm_kms_material **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *n = 0;
    OHSM_ENSURE(kst_uuid_ok(key_id), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    rv = kst_prep(s, KST_MAT_LIST,
                  "SELECT " MAT_COLS " FROM materials WHERE key_id = ?1 ORDER BY version", &st);
    void *arr = NULL;
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK &&
        (rv = kst_collect(s, st, &material_rows, key_id, &arr, n)) == OHSM_OK) {
        *out = arr;
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_material_delete_all(struct ohsm_kms_store *s, const char *key_id)
{
    sqlite3_stmt *st = NULL;
    bool own = false;

    OHSM_ENSURE(s != NULL && kst_uuid_ok(key_id), OHSM_ARGUMENTS_BAD);
    OHSM_TRY(kst_wbegin(s, &own));
    ohsm_rv rv = kst_key_exists(s, key_id);
    if (rv == OHSM_OK) {
        rv = kst_prep(s, KST_MAT_DELETE_ALL, "DELETE FROM materials WHERE key_id = ?1", &st);
    }
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK) {
        rv = kst_run(s, st, "material_delete_all", NULL);
    }
    kst_reset(st);
    return kst_wend(s, own, rv);
}
