/* SPDX-License-Identifier: Apache-2.0
 *
 * The CloudHSM key stores' table in the KMS store (cks.h) and kmsuser's sealed password. Rows
 * read back are as untrusted as any input: each passes the same checks as a write (id "cks-" +
 * 17 lower-case hex, a cluster id of AWS's pattern, lengths, known state and error code, error
 * code present exactly when FAILED, sealed blobs of 1..OHSM_KST_SEALED_MAX bytes) or the call
 * fails with OHSM_DB naming the table and the field.
 *
 * The password is sealed by the KMS sealer (seal.h) under the additional data
 * "openhsm-kms-cks:<id>:<which>", so a blob copied to another store or to the other slot does
 * not unseal. Every clear copy is wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kms/kms_int.h"
#include "kms/store_int.h"

#define CKS_COLS                                                                                   \
    "id, region, account, name, cluster_id, trust_anchor, created_ms, state, error, pw_sealed, "   \
    "next_sealed"

#define CKS_HEX 17 /* hex digits after "cks-" */

static bool cks_id_ok(const char *id)
{
    size_t plen = sizeof(OHSM_KMS_CKS_ID_PREFIX) - 1;
    if (id == NULL || strnlen(id, plen + CKS_HEX + 1) != plen + CKS_HEX ||
        strncmp(id, OHSM_KMS_CKS_ID_PREFIX, plen) != 0) {
        return false;
    }
    for (size_t i = plen; i < plen + CKS_HEX; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* cluster-[2-7a-zA-Z]{11,16} (botocore's CloudHsmClusterIdType). */
static bool cluster_id_ok(const char *s)
{
    size_t n = strnlen(s, OHSM_KMS_CLUSTER_ID_MAX);
    if (n < 19 || n > 24 || strncmp(s, "cluster-", 8) != 0) {
        return false;
    }
    for (size_t i = 8; i < n; i++) {
        char c = s[i];
        if (!((c >= '2' && c <= '7') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            return false;
        }
    }
    return true;
}

/* region / account: 1..cap-1 printable characters without spaces. */
static bool word_ok(const char *s, size_t cap)
{
    if (!ohsm_kst_text_ok(s, 1, cap - 1)) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            return false;
        }
    }
    return true;
}

/* NULL when s is a record this store writes and reads; else the first field that is not. */
static const char *cks_bad(const struct ohsm_kms_cks *s)
{
    if (!cks_id_ok(s->id)) {
        return "id";
    }
    if (!word_ok(s->region, sizeof(s->region)) || !word_ok(s->account, sizeof(s->account))) {
        return "region/account";
    }
    if (!ohsm_kst_text_ok(s->name, 1, OHSM_KMS_CKS_NAME_MAX - 1)) {
        return "name";
    }
    if (!cluster_id_ok(s->cluster_id)) {
        return "cluster_id";
    }
    if (!ohsm_kst_text_ok(s->trust_anchor, 1, OHSM_KMS_CKS_ANCHOR_MAX)) {
        return "trust_anchor";
    }
    if (s->created_ms < 0) {
        return "created_ms";
    }
    if (s->state >= OHSM_CKS_STATE_COUNT_ || s->error >= OHSM_CKSE_COUNT_ ||
        (s->state == OHSM_CKS_FAILED) != (s->error != OHSM_CKSE_NONE)) {
        return "state/error";
    }
    if (s->pw_sealed == NULL || s->pw_sealed_len == 0 || s->pw_sealed_len > OHSM_KST_SEALED_MAX) {
        return "pw_sealed";
    }
    if ((s->next_sealed == NULL) != (s->next_sealed_len == 0) ||
        s->next_sealed_len > OHSM_KST_SEALED_MAX) {
        return "next_sealed";
    }
    return NULL;
}

/* Binds s to ?1..?11 in CKS_COLS order. */
static ohsm_rv bind_cks(struct ohsm_kms_store *st_, sqlite3_stmt *st, const struct ohsm_kms_cks *s)
{
    ohsm_rv rv = OHSM_OK;
    const char *const txt[] = {s->id,   s->region,     s->account,
                               s->name, s->cluster_id, s->trust_anchor};
    for (int i = 0; rv == OHSM_OK && i < 6; i++) {
        rv = ohsm_kst_bind_text(st_, st, i + 1, txt[i]);
    }
    const int64_t num[] = {s->created_ms, s->state, s->error};
    for (int i = 0; rv == OHSM_OK && i < 3; i++) {
        rv = ohsm_kst_bind_int(st_, st, i + 7, num[i]);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_kst_bind_blob(st_, st, 10, s->pw_sealed, s->pw_sealed_len);
    }
    if (rv == OHSM_OK && s->next_sealed != NULL) {
        rv = ohsm_kst_bind_blob(st_, st, 11, s->next_sealed, s->next_sealed_len);
    }
    /* an unbound ?11 is NULL: no rotation pending */
    return rv;
}

static ohsm_rv write_cks(struct ohsm_kms_store *st_, const struct ohsm_kms_cks *s, bool insert)
{
    sqlite3_stmt *st = NULL;
    const char *bad;
    int changed = 0;
    ohsm_rv rv;

    OHSM_ENSURE(st_ != NULL && s != NULL, OHSM_ARGUMENTS_BAD);
    if ((bad = cks_bad(s)) != NULL) {
        return ohsm_kst_err(st_, OHSM_ARGUMENTS_BAD, "cks_%s: bad %s", insert ? "add" : "put", bad);
    }
    OHSM_TRY(ohsm_kst_enter(st_));
    if (insert) {
        rv = ohsm_kst_prep(st_, OHSM_KST_CKS_ADD,
                           "INSERT INTO custom_key_stores (" CKS_COLS
                           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           &st);
    } else {
        rv = ohsm_kst_prep(st_, OHSM_KST_CKS_PUT,
                           "UPDATE custom_key_stores SET region = ?2, account = ?3, name = ?4, "
                           "cluster_id = ?5, trust_anchor = ?6, created_ms = ?7, state = ?8, "
                           "error = ?9, pw_sealed = ?10, next_sealed = ?11 WHERE id = ?1",
                           &st);
    }
    if (rv == OHSM_OK && (rv = bind_cks(st_, st, s)) == OHSM_OK) {
        rv = ohsm_kst_run(st_, st, insert ? "cks_add" : "cks_put", &changed);
    }
    if (rv == OHSM_OK && !insert && changed == 0) {
        rv = ohsm_kst_err(st_, OHSM_KEY_HANDLE_INVALID, "cks_put: no custom key store %s", s->id);
    }
    ohsm_kst_reset(st);
    ohsm_kst_unlock(st_);
    return rv;
}

ohsm_rv ohsm_kms_store_cks_add(struct ohsm_kms_store *st, const struct ohsm_kms_cks *s)
{
    return write_cks(st, s, true);
}

ohsm_rv ohsm_kms_store_cks_put(struct ohsm_kms_store *st, const struct ohsm_kms_cks *s)
{
    return write_cks(st, s, false);
}

/* Reads a row (CKS_COLS order): NULL when it is good, else why not. arg: the id it must have
 * (NULL: any). */
static const char *row_cks(sqlite3_stmt *st, void *rec, const void *arg)
{
    struct ohsm_kms_cks *s = rec;
    memset(s, 0, sizeof(*s));
    if (!ohsm_kst_col_text(st, 0, s->id, sizeof(s->id)) ||
        !ohsm_kst_col_text(st, 1, s->region, sizeof(s->region)) ||
        !ohsm_kst_col_text(st, 2, s->account, sizeof(s->account)) ||
        !ohsm_kst_col_text(st, 3, s->name, sizeof(s->name)) ||
        !ohsm_kst_col_text(st, 4, s->cluster_id, sizeof(s->cluster_id))) {
        return "id/region/account/name/cluster_id: not text of the right length";
    }
    if (!ohsm_kst_col_dup(st, 5, OHSM_KMS_CKS_ANCHOR_MAX, &s->trust_anchor)) {
        return "trust_anchor: not text of at most 5000 bytes";
    }
    if (!ohsm_kst_col_int(st, 6, 0, INT64_MAX, &s->created_ms) ||
        !ohsm_kst_col_u32(st, 7, &s->state) || !ohsm_kst_col_u32(st, 8, &s->error)) {
        return "created_ms/state/error: not an integer in range";
    }
    if (!ohsm_kst_col_blob(st, 9, OHSM_KST_SEALED_MAX, &s->pw_sealed, &s->pw_sealed_len)) {
        return "pw_sealed: not a blob of 1..65536 bytes";
    }
    if (sqlite3_column_type(st, 10) != SQLITE_NULL &&
        !ohsm_kst_col_blob(st, 10, OHSM_KST_SEALED_MAX, &s->next_sealed, &s->next_sealed_len)) {
        return "next_sealed: neither NULL nor a blob of 1..65536 bytes";
    }
    const char *bad = cks_bad(s);
    if (bad != NULL) {
        return bad;
    }
    return arg != NULL && strcmp(s->id, arg) != 0 ? "id differs from the one asked for" : NULL;
}

static void clear_cks(void *rec)
{
    ohsm_kms_cks_clear(rec);
}

static const struct ohsm_kst_rows cks_rows = {"custom_key_stores", sizeof(struct ohsm_kms_cks),
                                              row_cks, clear_cks};

ohsm_rv ohsm_kms_store_cks_get(struct ohsm_kms_store *st_, const char *id, struct ohsm_kms_cks *out)
{
    sqlite3_stmt *st = NULL;
    char absent[96];
    ohsm_rv rv;

    OHSM_ENSURE(st_ != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    if (!cks_id_ok(id)) {
        /* not an id this store ever made: absent, as AWS answers an unknown id */
        return ohsm_kst_err(st_, OHSM_KEY_HANDLE_INVALID, "cks_get: no custom key store");
    }
    (void)snprintf(absent, sizeof(absent), "cks_get: no custom key store %s", id);
    OHSM_TRY(ohsm_kst_enter(st_));
    rv = ohsm_kst_prep(st_, OHSM_KST_CKS_GET,
                       "SELECT " CKS_COLS " FROM custom_key_stores WHERE id = ?1", &st);
    if (rv == OHSM_OK && (rv = ohsm_kst_bind_text(st_, st, 1, id)) == OHSM_OK) {
        rv = ohsm_kst_one(st_, st, &cks_rows, id, out, absent);
    }
    ohsm_kst_reset(st);
    ohsm_kst_unlock(st_);
    return rv;
}

ohsm_rv ohsm_kms_store_cks_list(struct ohsm_kms_store *st_, struct ohsm_kms_cks **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    void *arr = NULL;
    ohsm_rv rv;

    OHSM_ENSURE(st_ != NULL && out != NULL && n != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *n = 0;
    OHSM_TRY(ohsm_kst_enter(st_));
    rv = ohsm_kst_prep(st_, OHSM_KST_CKS_LIST,
                       "SELECT " CKS_COLS " FROM custom_key_stores ORDER BY created_ms, id", &st);
    if (rv == OHSM_OK && (rv = ohsm_kst_collect(st_, st, &cks_rows, NULL, &arr, n)) == OHSM_OK) {
        *out = arr;
    }
    ohsm_kst_unlock(st_);
    return rv;
}

ohsm_rv ohsm_kms_store_cks_delete(struct ohsm_kms_store *st_, const char *id)
{
    sqlite3_stmt *st = NULL;
    int changed = 0;
    ohsm_rv rv;

    OHSM_ENSURE(st_ != NULL && id != NULL, OHSM_ARGUMENTS_BAD);
    if (!cks_id_ok(id)) {
        return ohsm_kst_err(st_, OHSM_KEY_HANDLE_INVALID, "cks_delete: no custom key store");
    }
    OHSM_TRY(ohsm_kst_enter(st_));
    rv =
        ohsm_kst_prep(st_, OHSM_KST_CKS_DELETE, "DELETE FROM custom_key_stores WHERE id = ?1", &st);
    if (rv == OHSM_OK && (rv = ohsm_kst_bind_text(st_, st, 1, id)) == OHSM_OK) {
        rv = ohsm_kst_run(st_, st, "cks_delete", &changed);
    }
    if (rv == OHSM_OK && changed == 0) {
        rv = ohsm_kst_err(st_, OHSM_KEY_HANDLE_INVALID, "cks_delete: no custom key store %s", id);
    }
    ohsm_kst_reset(st);
    ohsm_kst_unlock(st_);
    return rv;
}

/* ---- kmsuser's password, sealed ---- */

/* "openhsm-kms-cks:<id>:<which>" into aad; 0 when id or which is not one we seal for. */
static size_t pw_aad(const char *id, const char *which, uint8_t *aad, size_t cap)
{
    if (!cks_id_ok(id) || which == NULL ||
        (strcmp(which, "pw") != 0 && strcmp(which, "next") != 0)) {
        return 0;
    }
    int n = snprintf((char *)aad, cap, "openhsm-kms-cks:%s:%s", id, which);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

ohsm_rv ohsm_kms_cks_seal_pw(struct ohsm_kms *k, const char *id, const char *which, const char *pw,
                             uint8_t **out, size_t *out_len)
{
    uint8_t aad[64];
    size_t aad_len, n;

    OHSM_ENSURE(k != NULL && pw != NULL && out != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    *out = NULL;
    *out_len = 0;
    aad_len = pw_aad(id, which, aad, sizeof(aad));
    n = strnlen(pw, OHSM_KMS_CKS_PW_MAX + 1);
    OHSM_ENSURE(aad_len != 0 && n >= OHSM_KMS_CKS_PW_MIN && n <= OHSM_KMS_CKS_PW_MAX,
                OHSM_ARGUMENTS_BAD);
    return k->sealer.seal(k->sealer.ctx, aad, aad_len, (const uint8_t *)pw, n, out, out_len);
}

ohsm_rv ohsm_kms_cks_unseal_pw(struct ohsm_kms *k, const char *id, const char *which,
                               const uint8_t *blob, size_t len, char pw[OHSM_KMS_CKS_PW_MAX + 1])
{
    uint8_t aad[64];
    size_t aad_len, n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && pw != NULL, OHSM_ARGUMENTS_BAD);
    OPENSSL_cleanse(pw, OHSM_KMS_CKS_PW_MAX + 1);
    aad_len = pw_aad(id, which, aad, sizeof(aad));
    OHSM_ENSURE(aad_len != 0 && blob != NULL && len != 0, OHSM_ARGUMENTS_BAD);
    rv = k->sealer.unseal(k->sealer.ctx, aad, aad_len, blob, len, (uint8_t *)pw,
                          OHSM_KMS_CKS_PW_MAX, &n);
    if (rv == OHSM_OK &&
        (n < OHSM_KMS_CKS_PW_MIN || n > OHSM_KMS_CKS_PW_MAX || memchr(pw, '\0', n) != NULL)) {
        rv = OHSM_ENCRYPTED_DATA_INVALID; /* authentic but not a password we sealed */
    }
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(pw, OHSM_KMS_CKS_PW_MAX + 1);
        return rv;
    }
    pw[n] = '\0';
    return OHSM_OK;
}
