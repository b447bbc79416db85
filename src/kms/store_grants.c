/* SPDX-License-Identifier: Apache-2.0
 *
 * What the KMS store keeps beside a key (store.h): aliases, grants, tags, key policies and import
 * parameters, in SQLite (store_sqlite.c has the connection and the helpers). Every table refers to
 * its key with ON DELETE CASCADE, so deleting a key removes all of it in one statement. Rows read
 * back pass the same shape checks as writes, or the call fails with OHSM_DB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kms/store_int.h"

/* ---- aliases ---- */

/* "alias/" and 1..250 more of [A-Za-z0-9:/_-] (AliasNameType: 1-256, that pattern). */
static bool alias_name_ok(const char *name)
{
    return kst_name_ok(name, 7, OHSM_KMS_ALIAS_MAX) && strncmp(name, "alias/", 6) == 0;
}

static bool region_ok(const char *region)
{
    return kst_name_ok(region, 1, sizeof(((struct ohsm_kms_alias *)0)->region) - 1);
}

static const char *alias_bad(const struct ohsm_kms_alias *a)
{
    if (!alias_name_ok(a->name)) {
        return "name";
    }
    if (!kst_uuid_ok(a->key_id)) {
        return "key_id";
    }
    if (!region_ok(a->region)) {
        return "region";
    }
    return a->created < 0 || a->updated < 0 ? "time" : NULL;
}

#define ALIAS_COLS "name, key_id, region, created, updated"

ohsm_rv ohsm_kms_store_alias_add(struct ohsm_kms_store *s, const struct ohsm_kms_alias *a)
{
    sqlite3_stmt *st = NULL;
    const char *bad = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && a != NULL, OHSM_ARGUMENTS_BAD);
    if ((bad = alias_bad(a)) != NULL) {
        return kst_err(s, OHSM_ARGUMENTS_BAD, "alias_add: bad %s", bad);
    }
    kst_lock(s);
    rv = kst_prep(s, KST_ALIAS_ADD,
                  "INSERT INTO aliases (" ALIAS_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, a->name)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 2, a->key_id)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 3, a->region)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 4, a->created)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 5, a->updated)) == OHSM_OK) {
        rv = kst_run(s, st, "alias_add", NULL);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_alias_update(struct ohsm_kms_store *s, const char *region, const char *name,
                                    const char *key_id, int64_t updated)
{
    sqlite3_stmt *st = NULL;
    int changed = 0;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && region_ok(region) && alias_name_ok(name) && kst_uuid_ok(key_id) &&
                    updated >= 0,
                OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    /* A key_id that is no key fails the foreign key: OHSM_KEY_HANDLE_INVALID. */
    rv = kst_prep(s, KST_ALIAS_UPDATE,
                  "UPDATE aliases SET key_id = ?3, updated = ?4 WHERE region = ?1 AND name = ?2",
                  &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, region)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 2, name)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 3, key_id)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 4, updated)) == OHSM_OK) {
        rv = kst_run(s, st, "alias_update", &changed);
    }
    if (rv == OHSM_OK && changed == 0) {
        rv = kst_err(s, OHSM_KEY_HANDLE_INVALID, "alias_update: no alias %s in %s", name, region);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

/* arg: the region the row must be in. */
static const char *row_alias(sqlite3_stmt *st, void *rec, const void *arg)
{
    struct ohsm_kms_alias *a = rec;
    memset(a, 0, sizeof(*a));
    if (!kst_col_text(st, 0, a->name, sizeof(a->name)) ||
        !kst_col_text(st, 1, a->key_id, sizeof(a->key_id)) ||
        !kst_col_text(st, 2, a->region, sizeof(a->region)) ||
        !kst_col_int(st, 3, 0, INT64_MAX, &a->created) ||
        !kst_col_int(st, 4, 0, INT64_MAX, &a->updated)) {
        return "a field of the wrong type or length";
    }
    const char *bad = alias_bad(a);
    if (bad != NULL) {
        return bad;
    }
    return strcmp(a->region, arg) != 0 ? "region differs from the one asked for" : NULL;
}

static void clear_plain(void *rec)
{
    (void)rec; /* nothing malloc'd */
}

static const struct kst_rows alias_rows = {"aliases", sizeof(struct ohsm_kms_alias), row_alias,
                                           clear_plain};

ohsm_rv ohsm_kms_store_alias_get(struct ohsm_kms_store *s, const char *region, const char *name,
                                 struct ohsm_kms_alias *out)
{
    sqlite3_stmt *st = NULL;
    char absent[128];
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    OHSM_ENSURE(region_ok(region) && alias_name_ok(name), OHSM_ARGUMENTS_BAD);
    (void)snprintf(absent, sizeof(absent), "alias_get: no alias %.64s in %s", name, region);
    kst_lock(s);
    rv = kst_prep(s, KST_ALIAS_GET,
                  "SELECT " ALIAS_COLS " FROM aliases WHERE region = ?1 AND name = ?2", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, region)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 2, name)) == OHSM_OK) {
        rv = kst_one(s, st, &alias_rows, region, out, absent);
        if (rv == OHSM_OK && strcmp(out->name, name) != 0) {
            rv = kst_bad_row(s, "aliases", "name differs from the one asked for");
        }
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_alias_delete(struct ohsm_kms_store *s, const char *region, const char *name)
{
    sqlite3_stmt *st = NULL;
    int changed = 0;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && region_ok(region) && alias_name_ok(name), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    rv = kst_prep(s, KST_ALIAS_DELETE, "DELETE FROM aliases WHERE region = ?1 AND name = ?2", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, region)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 2, name)) == OHSM_OK) {
        rv = kst_run(s, st, "alias_delete", &changed);
    }
    if (rv == OHSM_OK && changed == 0) {
        rv = kst_err(s, OHSM_KEY_HANDLE_INVALID, "alias_delete: no alias %s in %s", name, region);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_alias_list(struct ohsm_kms_store *s, const char *region, const char *key_id,
                                  struct ohsm_kms_alias **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *arr = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *n = 0;
    OHSM_ENSURE(region_ok(region) && (key_id == NULL || kst_uuid_ok(key_id)), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    /* ?2 IS NULL: every alias of the region. */
    rv = kst_prep(s, KST_ALIAS_LIST,
                  "SELECT " ALIAS_COLS " FROM aliases WHERE region = ?1 "
                  "AND (?2 IS NULL OR key_id = ?2) ORDER BY name",
                  &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, region)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 2, key_id)) == OHSM_OK &&
        (rv = kst_collect(s, st, &alias_rows, region, &arr, n)) == OHSM_OK) {
        *out = arr;
    }
    kst_reset(st);
    kst_unlock(s);
    /* The key filter is SQL's; a row of another key is a row this code did not ask for. */
    for (size_t i = 0; rv == OHSM_OK && key_id != NULL && i < *n; i++) {
        if (strcmp((*out)[i].key_id, key_id) != 0) {
            free(*out);
            *out = NULL;
            *n = 0;
            rv = kst_bad_row(s, "aliases", "key differs from the one asked for");
        }
    }
    return rv;
}

/* ---- grants ---- */

void ohsm_kms_grant_clear(struct ohsm_kms_grant *g)
{
    if (g == NULL) {
        return;
    }
    if (g->token != NULL) {
        /* A grant token is a bearer credential for the grant. */
        OPENSSL_cleanse(g->token, strlen(g->token));
    }
    free(g->token);
    free(g->name);
    free(g->grantee);
    free(g->retiring);
    free(g->issuing_account);
    free(g->operations_json);
    free(g->constraints_json);
    memset(g, 0, sizeof(*g));
}

static const char *grant_bad(const struct ohsm_kms_grant *g)
{
    if (!kst_hex_ok(g->grant_id, 64)) {
        return "grant_id";
    }
    if (!kst_uuid_ok(g->key_id)) {
        return "key_id";
    }
    if (!kst_text_ok(g->token, 1, KST_TOKEN_MAX)) {
        return "token";
    }
    if (!kst_text_ok(g->name, 0, KST_PRINCIPAL_MAX) ||
        !kst_text_ok(g->grantee, 1, KST_PRINCIPAL_MAX) ||
        !kst_text_ok(g->retiring, 0, KST_PRINCIPAL_MAX) ||
        !kst_text_ok(g->issuing_account, 1, KST_PRINCIPAL_MAX)) {
        return "name or principal";
    }
    if (!kst_text_ok(g->operations_json, 1, KST_OPS_MAX) ||
        !kst_text_ok(g->constraints_json, 0, KST_CONSTRAINTS_MAX)) {
        return "operations or constraints";
    }
    return g->created < 0 ? "created" : NULL;
}

#define GRANT_COLS                                                                                 \
    "grant_id, key_id, token, name, grantee, retiring, issuing_account, operations, constraints, " \
    "created"

ohsm_rv ohsm_kms_store_grant_add(struct ohsm_kms_store *s, const struct ohsm_kms_grant *g)
{
    sqlite3_stmt *st = NULL;
    const char *bad = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && g != NULL, OHSM_ARGUMENTS_BAD);
    if ((bad = grant_bad(g)) != NULL) {
        return kst_err(s, OHSM_ARGUMENTS_BAD, "grant_add: bad %s", bad);
    }
    kst_lock(s);
    rv = kst_prep(s, KST_GRANT_ADD,
                  "INSERT INTO grants (" GRANT_COLS ") "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                  &st);
    const char *const txt[] = {
        g->grant_id,        g->key_id,   g->token,           g->name,
        g->grantee,         g->retiring, g->issuing_account, g->operations_json,
        g->constraints_json};
    for (int i = 0; rv == OHSM_OK && i < 9; i++) {
        rv = kst_bind_text(s, st, i + 1, txt[i]);
    }
    if (rv == OHSM_OK && (rv = kst_bind_int(s, st, 10, g->created)) == OHSM_OK) {
        rv = kst_run(s, st, "grant_add", NULL);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

/* arg: the key id the row must have (NULL: any). */
static const char *row_grant(sqlite3_stmt *st, void *rec, const void *arg)
{
    struct ohsm_kms_grant *g = rec;
    int64_t created = 0;
    memset(g, 0, sizeof(*g));
    if (!kst_col_text(st, 0, g->grant_id, sizeof(g->grant_id)) ||
        !kst_col_text(st, 1, g->key_id, sizeof(g->key_id)) ||
        !kst_col_dup(st, 2, KST_TOKEN_MAX, &g->token) ||
        !kst_col_dup(st, 3, KST_PRINCIPAL_MAX, &g->name) ||
        !kst_col_dup(st, 4, KST_PRINCIPAL_MAX, &g->grantee) ||
        !kst_col_dup(st, 5, KST_PRINCIPAL_MAX, &g->retiring) ||
        !kst_col_dup(st, 6, KST_PRINCIPAL_MAX, &g->issuing_account) ||
        !kst_col_dup(st, 7, KST_OPS_MAX, &g->operations_json) ||
        !kst_col_dup(st, 8, KST_CONSTRAINTS_MAX, &g->constraints_json) ||
        !kst_col_int(st, 9, 0, INT64_MAX, &created)) {
        return "a field of the wrong type or length";
    }
    g->created = created;
    const char *bad = grant_bad(g);
    if (bad != NULL) {
        return bad;
    }
    return arg != NULL && strcmp(g->key_id, arg) != 0 ? "key differs from the one asked for" : NULL;
}

static void clear_grant(void *rec)
{
    ohsm_kms_grant_clear(rec);
}

static const struct kst_rows grant_rows = {"grants", sizeof(struct ohsm_kms_grant), row_grant,
                                           clear_grant};

ohsm_rv ohsm_kms_store_grant_get(struct ohsm_kms_store *s, const char *key_id, const char *grant_id,
                                 const char *token, struct ohsm_kms_grant *out)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    OHSM_ENSURE(key_id == NULL || kst_uuid_ok(key_id), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(grant_id != NULL ? kst_hex_ok(grant_id, 64) : kst_text_ok(token, 1, KST_TOKEN_MAX),
                OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    if (grant_id != NULL) {
        rv = kst_prep(s, KST_GRANT_GET_ID,
                      "SELECT " GRANT_COLS " FROM grants WHERE grant_id = ?1 "
                      "AND (?2 IS NULL OR key_id = ?2)",
                      &st);
        if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, grant_id)) == OHSM_OK &&
            (rv = kst_bind_text(s, st, 2, key_id)) == OHSM_OK) {
            rv = kst_one(s, st, &grant_rows, key_id, out, "grant_get: no such grant");
        }
        if (rv == OHSM_OK && strcmp(out->grant_id, grant_id) != 0) {
            ohsm_kms_grant_clear(out);
            rv = kst_bad_row(s, "grants", "grant id differs from the one asked for");
        }
    } else {
        rv = kst_prep(s, KST_GRANT_GET_TOKEN,
                      "SELECT " GRANT_COLS " FROM grants WHERE token = ?1 "
                      "AND (?2 IS NULL OR key_id = ?2)",
                      &st);
        if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, token)) == OHSM_OK &&
            (rv = kst_bind_text(s, st, 2, key_id)) == OHSM_OK) {
            /* The token is a credential: not in errstr. */
            rv = kst_one(s, st, &grant_rows, key_id, out, "grant_get: no grant with that token");
        }
        if (rv == OHSM_OK && (strlen(out->token) != strlen(token) ||
                              CRYPTO_memcmp(out->token, token, strlen(token)) != 0)) {
            ohsm_kms_grant_clear(out);
            rv = kst_bad_row(s, "grants", "token differs from the one asked for");
        }
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_grant_delete(struct ohsm_kms_store *s, const char *grant_id)
{
    sqlite3_stmt *st = NULL;
    int changed = 0;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && kst_hex_ok(grant_id, 64), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    rv = kst_prep(s, KST_GRANT_DELETE, "DELETE FROM grants WHERE grant_id = ?1", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, grant_id)) == OHSM_OK) {
        rv = kst_run(s, st, "grant_delete", &changed);
    }
    if (rv == OHSM_OK && changed == 0) {
        rv = kst_err(s, OHSM_KEY_HANDLE_INVALID, "grant_delete: no grant %s", grant_id);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_grant_list(struct ohsm_kms_store *s, const char *key_id,
                                  const char *retiring, struct ohsm_kms_grant **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *arr = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *n = 0;
    OHSM_ENSURE(key_id != NULL ? kst_uuid_ok(key_id) : kst_text_ok(retiring, 1, KST_PRINCIPAL_MAX),
                OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    if (key_id != NULL) {
        rv = kst_prep(s, KST_GRANT_LIST_KEY,
                      "SELECT " GRANT_COLS " FROM grants WHERE key_id = ?1 "
                      "ORDER BY created, rowid",
                      &st);
    } else {
        rv = kst_prep(s, KST_GRANT_LIST_RETIRING,
                      "SELECT " GRANT_COLS " FROM grants WHERE retiring = ?1 "
                      "ORDER BY created, rowid",
                      &st);
    }
    if (rv == OHSM_OK &&
        (rv = kst_bind_text(s, st, 1, key_id != NULL ? key_id : retiring)) == OHSM_OK &&
        (rv = kst_collect(s, st, &grant_rows, key_id, &arr, n)) == OHSM_OK) {
        *out = arr;
    }
    kst_reset(st);
    kst_unlock(s);
    for (size_t i = 0; rv == OHSM_OK && key_id == NULL && i < *n; i++) {
        if (strcmp((*out)[i].retiring, retiring) != 0) {
            for (size_t j = 0; j < *n; j++) {
                ohsm_kms_grant_clear(&(*out)[j]);
            }
            free(*out);
            *out = NULL;
            *n = 0;
            rv = kst_bad_row(s, "grants", "retiring principal differs from the one asked for");
        }
    }
    return rv;
}

/* ---- tags ---- */

static bool tag_ok(const struct ohsm_kms_tag *t)
{
    return kst_text_ok(t->key, 1, sizeof(t->key) - 1) &&
           kst_text_ok(t->value, 0, sizeof(t->value) - 1);
}

ohsm_rv ohsm_kms_store_tag_set(struct ohsm_kms_store *s, const char *key_id,
                               const struct ohsm_kms_tag *tags, size_t n)
{
    sqlite3_stmt *st = NULL;
    bool own = false;

    OHSM_ENSURE(s != NULL && kst_uuid_ok(key_id) && (tags != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    for (size_t i = 0; i < n; i++) {
        if (!tag_ok(&tags[i])) {
            return kst_err(s, OHSM_ARGUMENTS_BAD, "tag_set: bad tag %zu", i);
        }
    }
    OHSM_TRY(kst_wbegin(s, &own));
    ohsm_rv rv = kst_key_exists(s, key_id);
    if (rv == OHSM_OK) {
        rv = kst_prep(s, KST_TAG_SET,
                      "INSERT INTO tags (key_id, k, v) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (key_id, k) DO UPDATE SET v = ?3",
                      &st);
    }
    for (size_t i = 0; rv == OHSM_OK && i < n; i++) {
        if ((rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK &&
            (rv = kst_bind_text(s, st, 2, tags[i].key)) == OHSM_OK &&
            (rv = kst_bind_text(s, st, 3, tags[i].value)) == OHSM_OK) {
            rv = kst_run(s, st, "tag_set", NULL);
        }
    }
    kst_reset(st);
    return kst_wend(s, own, rv);
}

ohsm_rv ohsm_kms_store_tag_remove(struct ohsm_kms_store *s, const char *key_id,
                                  const char *const *keys, size_t n)
{
    sqlite3_stmt *st = NULL;
    bool own = false;

    OHSM_ENSURE(s != NULL && kst_uuid_ok(key_id) && (keys != NULL || n == 0), OHSM_ARGUMENTS_BAD);
    for (size_t i = 0; i < n; i++) {
        if (!kst_text_ok(keys[i], 1, 128)) {
            return kst_err(s, OHSM_ARGUMENTS_BAD, "tag_remove: bad tag key %zu", i);
        }
    }
    OHSM_TRY(kst_wbegin(s, &own));
    ohsm_rv rv = kst_key_exists(s, key_id);
    if (rv == OHSM_OK) {
        rv = kst_prep(s, KST_TAG_REMOVE, "DELETE FROM tags WHERE key_id = ?1 AND k = ?2", &st);
    }
    for (size_t i = 0; rv == OHSM_OK && i < n; i++) {
        if ((rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK &&
            (rv = kst_bind_text(s, st, 2, keys[i])) == OHSM_OK) {
            rv = kst_run(s, st, "tag_remove", NULL);
        }
    }
    kst_reset(st);
    return kst_wend(s, own, rv);
}

static const char *row_tag(sqlite3_stmt *st, void *rec, const void *arg)
{
    struct ohsm_kms_tag *t = rec;
    char key_id[OHSM_KMS_ID_LEN + 1];
    memset(t, 0, sizeof(*t));
    if (!kst_col_text(st, 0, key_id, sizeof(key_id)) ||
        !kst_col_text(st, 1, t->key, sizeof(t->key)) ||
        !kst_col_text(st, 2, t->value, sizeof(t->value)) || !tag_ok(t)) {
        return "a field of the wrong type or length";
    }
    return strcmp(key_id, arg) != 0 ? "key differs from the one asked for" : NULL;
}

static const struct kst_rows tag_rows = {"tags", sizeof(struct ohsm_kms_tag), row_tag, clear_plain};

ohsm_rv ohsm_kms_store_tag_list(struct ohsm_kms_store *s, const char *key_id,
                                struct ohsm_kms_tag **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *arr = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *n = 0;
    OHSM_ENSURE(kst_uuid_ok(key_id), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    rv = kst_prep(s, KST_TAG_LIST, "SELECT key_id, k, v FROM tags WHERE key_id = ?1 ORDER BY k",
                  &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK &&
        (rv = kst_collect(s, st, &tag_rows, key_id, &arr, n)) == OHSM_OK) {
        *out = arr;
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

/* ---- key policies ---- */

/* PolicyNameType: 1-128 of \w. */
static bool policy_name_ok(const char *name)
{
    if (!kst_text_ok(name, 1, KST_POLICY_NAME_MAX)) {
        return false;
    }
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

ohsm_rv ohsm_kms_store_policy_put(struct ohsm_kms_store *s, const char *key_id, const char *name,
                                  const char *policy)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && kst_uuid_ok(key_id) && policy_name_ok(name) &&
                    kst_text_ok(policy, 1, KST_POLICY_BYTES),
                OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    rv = kst_prep(s, KST_POLICY_PUT,
                  "INSERT INTO policies (key_id, name, policy) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT (key_id, name) DO UPDATE SET policy = ?3",
                  &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 2, name)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 3, policy)) == OHSM_OK) {
        rv = kst_run(s, st, "policy_put", NULL);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

static const char *row_policy(sqlite3_stmt *st, void *rec, const void *arg)
{
    char **p = rec;
    *p = NULL;
    if (!kst_col_dup(st, 0, KST_POLICY_BYTES, p) || (*p)[0] == '\0') {
        return "policy: not text of 1..262144 bytes";
    }
    (void)arg;
    return NULL;
}

static void clear_policy(void *rec)
{
    char **p = rec;
    free(*p);
    *p = NULL;
}

static const struct kst_rows policy_rows = {"policies", sizeof(char *), row_policy, clear_policy};

ohsm_rv ohsm_kms_store_policy_get(struct ohsm_kms_store *s, const char *key_id, const char *name,
                                  char **out)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    OHSM_ENSURE(kst_uuid_ok(key_id) && policy_name_ok(name), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    rv = kst_prep(s, KST_POLICY_GET, "SELECT policy FROM policies WHERE key_id = ?1 AND name = ?2",
                  &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 2, name)) == OHSM_OK) {
        rv = kst_one(s, st, &policy_rows, NULL, out, "policy_get: no such policy");
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

/* ---- import parameters ---- */

void ohsm_kms_import_clear(struct ohsm_kms_import *p)
{
    if (p == NULL) {
        return;
    }
    if (p->sealed_private != NULL) {
        OPENSSL_cleanse(p->sealed_private, p->sealed_private_len);
    }
    free(p->sealed_private);
    memset(p, 0, sizeof(*p));
}

static const char *import_bad(const struct ohsm_kms_import *p)
{
    if (!kst_uuid_ok(p->key_id)) {
        return "key_id";
    }
    if (!kst_hex_ok(p->token_id, 64)) {
        return "token_id";
    }
    /* RSA bits of the wrapping key; the algorithm is the caller's enum (any value). */
    if (p->wrapping_spec < 1024 || p->wrapping_spec > 16384) {
        return "wrapping_spec";
    }
    if (p->sealed_private == NULL || p->sealed_private_len == 0 ||
        p->sealed_private_len > KST_SEALED_MAX) {
        return "sealed_private";
    }
    return p->expires < 0 ? "expires" : NULL;
}

ohsm_rv ohsm_kms_store_import_put(struct ohsm_kms_store *s, const struct ohsm_kms_import *p)
{
    sqlite3_stmt *st = NULL;
    const char *bad = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && p != NULL, OHSM_ARGUMENTS_BAD);
    if ((bad = import_bad(p)) != NULL) {
        return kst_err(s, OHSM_ARGUMENTS_BAD, "import_put: bad %s", bad);
    }
    kst_lock(s);
    rv = kst_prep(s, KST_IMPORT_PUT,
                  "INSERT INTO imports (key_id, token_id, wrapping_alg, wrapping_spec, "
                  "sealed_private, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                  "ON CONFLICT (key_id) DO UPDATE SET token_id = ?2, wrapping_alg = ?3, "
                  "wrapping_spec = ?4, sealed_private = ?5, expires = ?6",
                  &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, p->key_id)) == OHSM_OK &&
        (rv = kst_bind_text(s, st, 2, p->token_id)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 3, p->wrapping_alg)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 4, p->wrapping_spec)) == OHSM_OK &&
        (rv = kst_bind_blob(s, st, 5, p->sealed_private, p->sealed_private_len)) == OHSM_OK &&
        (rv = kst_bind_int(s, st, 6, p->expires)) == OHSM_OK) {
        rv = kst_run(s, st, "import_put", NULL);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

static const char *row_import(sqlite3_stmt *st, void *rec, const void *arg)
{
    struct ohsm_kms_import *p = rec;
    memset(p, 0, sizeof(*p));
    if (!kst_col_text(st, 0, p->key_id, sizeof(p->key_id)) ||
        !kst_col_text(st, 1, p->token_id, sizeof(p->token_id)) ||
        !kst_col_u32(st, 2, &p->wrapping_alg) || !kst_col_u32(st, 3, &p->wrapping_spec) ||
        !kst_col_blob(st, 4, KST_SEALED_MAX, &p->sealed_private, &p->sealed_private_len) ||
        !kst_col_int(st, 5, 0, INT64_MAX, &p->expires)) {
        return "a field of the wrong type or length";
    }
    const char *bad = import_bad(p);
    if (bad != NULL) {
        return bad;
    }
    return strcmp(p->key_id, arg) != 0 ? "key differs from the one asked for" : NULL;
}

static void clear_import(void *rec)
{
    ohsm_kms_import_clear(rec);
}

static const struct kst_rows import_rows = {"imports", sizeof(struct ohsm_kms_import), row_import,
                                            clear_import};

ohsm_rv ohsm_kms_store_import_get(struct ohsm_kms_store *s, const char *key_id,
                                  struct ohsm_kms_import *out)
{
    sqlite3_stmt *st = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    OHSM_ENSURE(kst_uuid_ok(key_id), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    rv = kst_prep(s, KST_IMPORT_GET,
                  "SELECT key_id, token_id, wrapping_alg, wrapping_spec, sealed_private, expires "
                  "FROM imports WHERE key_id = ?1",
                  &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK) {
        rv = kst_one(s, st, &import_rows, key_id, out, "import_get: no import parameters");
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}

ohsm_rv ohsm_kms_store_import_delete(struct ohsm_kms_store *s, const char *key_id)
{
    sqlite3_stmt *st = NULL;
    int changed = 0;
    ohsm_rv rv;

    OHSM_ENSURE(s != NULL && kst_uuid_ok(key_id), OHSM_ARGUMENTS_BAD);
    kst_lock(s);
    rv = kst_prep(s, KST_IMPORT_DELETE, "DELETE FROM imports WHERE key_id = ?1", &st);
    if (rv == OHSM_OK && (rv = kst_bind_text(s, st, 1, key_id)) == OHSM_OK) {
        rv = kst_run(s, st, "import_delete", &changed);
    }
    if (rv == OHSM_OK && changed == 0) {
        rv = kst_err(s, OHSM_KEY_HANDLE_INVALID, "import_delete: no import parameters for %s",
                     key_id);
    }
    kst_reset(st);
    kst_unlock(s);
    return rv;
}
