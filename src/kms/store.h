/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS store: every durable fact of openhsmd's KMS (keys, sealed key material, aliases, grants,
 * tags, key policies, import parameters) behind one interface, so a networked database can serve
 * several openhsmd instances later by implementing this header. Now: SQLite in DIR/kms.db (WAL,
 * synchronous=FULL: a change is durable when a call returns OHSM_OK), in store_sqlite.c.
 *
 * The store keeps no rules: the model (keys.c) decides, the store records. It never holds key
 * material in clear: material arrives sealed (seal.h) and stays opaque bytes here.
 *
 * Atomicity: every function is one transaction, except between ohsm_kms_store_begin and
 * ohsm_kms_store_commit/rollback, where all calls of the calling thread form one transaction
 * (CreateKey writes the key, its material, tags and policy together).
 *
 * Thread-safe: calls are serialised on one connection inside the store; a transaction begun by
 * one thread holds the store until that thread commits or rolls back.
 *
 * Errors common to all: OHSM_DB (SQLite failed; the store's errstr says why), OHSM_HOST_MEMORY,
 * OHSM_ARGUMENTS_BAD (a NULL or over-long argument). A lookup of something absent returns
 * OHSM_KEY_HANDLE_INVALID; an insert of something that exists OHSM_ATTRIBUTE_VALUE_INVALID.
 */
#ifndef OHSM_KMS_STORE_H
#define OHSM_KMS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kms/types.h"
#include "openhsm/rv.h"

struct ohsm_kms_store;

/* Opens (creating when missing, file mode 0600) the SQLite store at path. Caller frees with
 * ohsm_kms_store_close. Errors: OHSM_DB (cannot open, schema newer than this code). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_open(const char *path, struct ohsm_kms_store **out);
void ohsm_kms_store_close(struct ohsm_kms_store *s); /* NULL ok */
const char *ohsm_kms_store_errstr(const struct ohsm_kms_store *s);

OHSM_NODISCARD ohsm_rv ohsm_kms_store_begin(struct ohsm_kms_store *s);
OHSM_NODISCARD ohsm_rv ohsm_kms_store_commit(struct ohsm_kms_store *s);
void ohsm_kms_store_rollback(struct ohsm_kms_store *s);

/* ---- keys ---- */

/* Inserts or replaces the key k->id (every field). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_key_put(struct ohsm_kms_store *s,
                                              const struct ohsm_kms_key *k);
/* Errors: OHSM_KEY_HANDLE_INVALID when there is no such key. out is filled (caller clears). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_key_get(struct ohsm_kms_store *s, const char *id,
                                              struct ohsm_kms_key *out);
/* Every key, ordered by creation (then id). *out malloc'd array (caller clears each and frees);
 * NULL when *n is 0. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_key_list(struct ohsm_kms_store *s, struct ohsm_kms_key **out,
                                               size_t *n);
/* Removes the key and everything that belongs to it: material, aliases, grants, tags, policy,
 * import parameters. Errors: OHSM_KEY_HANDLE_INVALID when there is no such key. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_key_delete(struct ohsm_kms_store *s, const char *id);

/* ---- key material (sealed) ---- */

/* Inserts a version (key_id, version unique). Errors: OHSM_KEY_HANDLE_INVALID (no such key),
 * OHSM_ATTRIBUTE_VALUE_INVALID (that version exists). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_material_put(struct ohsm_kms_store *s,
                                                   const struct ohsm_kms_material *m);
/* Errors: OHSM_KEY_HANDLE_INVALID (no such version). out filled (caller clears). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_material_get(struct ohsm_kms_store *s, const char *key_id,
                                                   uint32_t version, struct ohsm_kms_material *out);
/* A key's versions in version order (sealed bytes included). *out malloc'd (caller clears each
 * and frees); NULL when *n is 0. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_material_list(struct ohsm_kms_store *s, const char *key_id,
                                                    struct ohsm_kms_material **out, size_t *n);
/* Deletes every version of a key's material (DeleteImportedKeyMaterial). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_material_delete_all(struct ohsm_kms_store *s,
                                                          const char *key_id);

/* ---- aliases ---- */

struct ohsm_kms_alias {
    char name[OHSM_KMS_ALIAS_MAX + 1]; /* "alias/..." */
    char key_id[OHSM_KMS_ID_LEN + 1];
    char region[32];
    int64_t created; /* seconds */
    int64_t updated;
};

/* Inserts a new alias. Errors: OHSM_ATTRIBUTE_VALUE_INVALID (the name exists in a->region). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_alias_add(struct ohsm_kms_store *s,
                                                const struct ohsm_kms_alias *a);
/* Points an existing alias at another key (sets updated). Errors: OHSM_KEY_HANDLE_INVALID. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_alias_update(struct ohsm_kms_store *s, const char *region,
                                                   const char *name, const char *key_id,
                                                   int64_t updated);
/* Errors: OHSM_KEY_HANDLE_INVALID (no such alias). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_alias_get(struct ohsm_kms_store *s, const char *region,
                                                const char *name, struct ohsm_kms_alias *out);
OHSM_NODISCARD ohsm_rv ohsm_kms_store_alias_delete(struct ohsm_kms_store *s, const char *region,
                                                   const char *name);
/* Aliases of a region ordered by name; of one key only when key_id is not NULL. *out malloc'd. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_alias_list(struct ohsm_kms_store *s, const char *region,
                                                 const char *key_id, struct ohsm_kms_alias **out,
                                                 size_t *n);

/* ---- grants ---- */

struct ohsm_kms_grant {
    char grant_id[65]; /* 64 hex characters */
    char key_id[OHSM_KMS_ID_LEN + 1];
    char *token;            /* malloc'd grant token; freed by ohsm_kms_grant_clear */
    char *name;             /* malloc'd; "" when none */
    char *grantee;          /* malloc'd principal */
    char *retiring;         /* malloc'd principal; "" when none */
    char *issuing_account;  /* malloc'd "arn:aws:iam::ACCOUNT:root" */
    char *operations_json;  /* malloc'd JSON array of operation names */
    char *constraints_json; /* malloc'd JSON object, "" when none */
    int64_t created;
};
void ohsm_kms_grant_clear(struct ohsm_kms_grant *g); /* NULL ok */

/* Errors: OHSM_ATTRIBUTE_VALUE_INVALID (the grant id exists). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_grant_add(struct ohsm_kms_store *s,
                                                const struct ohsm_kms_grant *g);
/* By id (key_id NULL: any key) or, when grant_id is NULL, by token. Errors:
 * OHSM_KEY_HANDLE_INVALID. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_grant_get(struct ohsm_kms_store *s, const char *key_id,
                                                const char *grant_id, const char *token,
                                                struct ohsm_kms_grant *out);
OHSM_NODISCARD ohsm_rv ohsm_kms_store_grant_delete(struct ohsm_kms_store *s, const char *grant_id);
/* Grants of one key (key_id), or whose retiring principal is retiring (key_id NULL), in creation
 * order. *out malloc'd (caller clears each and frees). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_grant_list(struct ohsm_kms_store *s, const char *key_id,
                                                 const char *retiring, struct ohsm_kms_grant **out,
                                                 size_t *n);

/* ---- tags ---- */

struct ohsm_kms_tag {
    char key[513];    /* TagKey: 1-128 characters of UTF-8, so up to 512 bytes */
    char value[1025]; /* TagValue: 0-256 characters, up to 1024 bytes */
};
/* Sets each tag (an existing tag key gets the new value). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_tag_set(struct ohsm_kms_store *s, const char *key_id,
                                              const struct ohsm_kms_tag *tags, size_t n);
/* Removes the named tag keys (absent ones are no error). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_tag_remove(struct ohsm_kms_store *s, const char *key_id,
                                                 const char *const *keys, size_t n);
/* A key's tags ordered by tag key. *out malloc'd; NULL when *n is 0. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_tag_list(struct ohsm_kms_store *s, const char *key_id,
                                               struct ohsm_kms_tag **out, size_t *n);

/* ---- key policies (stored and returned, never evaluated) ---- */

/* Sets policy name ("default") of a key. */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_policy_put(struct ohsm_kms_store *s, const char *key_id,
                                                 const char *name, const char *policy);
/* *out malloc'd. Errors: OHSM_KEY_HANDLE_INVALID (none). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_policy_get(struct ohsm_kms_store *s, const char *key_id,
                                                 const char *name, char **out);

/* ---- import parameters (GetParametersForImport) ---- */

struct ohsm_kms_import {
    char key_id[OHSM_KMS_ID_LEN + 1];
    char token_id[65];       /* hex id carried in the import token */
    uint32_t wrapping_alg;   /* the caller's enum (op_import.c) */
    uint32_t wrapping_spec;  /* RSA bits */
    uint8_t *sealed_private; /* the wrapping private key (PKCS#8), sealed; malloc'd */
    size_t sealed_private_len;
    int64_t expires; /* seconds: ParametersValidTo */
};
void ohsm_kms_import_clear(struct ohsm_kms_import *p); /* NULL ok */
/* Replaces the key's import parameters (one set per key: a new call invalidates the last). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_import_put(struct ohsm_kms_store *s,
                                                 const struct ohsm_kms_import *p);
/* Errors: OHSM_KEY_HANDLE_INVALID (none for the key). */
OHSM_NODISCARD ohsm_rv ohsm_kms_store_import_get(struct ohsm_kms_store *s, const char *key_id,
                                                 struct ohsm_kms_import *out);
OHSM_NODISCARD ohsm_rv ohsm_kms_store_import_delete(struct ohsm_kms_store *s, const char *key_id);

#endif
