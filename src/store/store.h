/* SPDX-License-Identifier: Apache-2.0
 *
 * Persistent state of one HSM in SQLite (WAL, synchronous=FULL: a call that returns OHSM_OK has
 * been committed durably). Holds the users (with scrypt password records and failed-login
 * counters), the HSM's metadata, and its token key objects in their masked (sealed) form with the
 * sealed tombstones of deleted ones: key material never reaches the file in the clear. Not
 * thread-safe: the caller serialises access.
 */
#ifndef OHSM_STORE_H
#define OHSM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"
#include "openhsm/secret.h"
#include "openhsm/user.h"

struct ohsm_store;

/* Used only when the database is created. */
struct ohsm_store_init {
    const char *cluster_id;
    const char *hsm_id;
    uint32_t lockout_attempts;  /* failed logins that lock a user */
    const uint8_t *au_password; /* app_user's password; NULL: random, nobody can log in */
    size_t au_password_len;
    const struct ohsm_pwhash_cost *cost;
};

struct ohsm_store_user {
    uint32_t id;
    enum ohsm_utype type;
    char name[OHSM_USERNAME_MAX + 1];
    uint8_t pwrec[OHSM_PWHASH_LEN];
    uint32_t fail_count;
    bool mfa;
    bool mofn;
    uint64_t version; /* issue 10: bumped by every change of the user (not by failed logins) */
};

/* A deleted user: its id is never used again, and no older record of it comes back. */
struct ohsm_store_utomb {
    uint32_t id;
    char name[OHSM_USERNAME_MAX + 1];
    uint64_t version; /* one above the user's last */
};

struct ohsm_store_meta {
    char cluster_id[32];
    char hsm_id[32];
    char serial[32];
    uint32_t lockout_attempts;
    bool activated;
};

/* Opens (creating and seeding with admin/PRECO and app_user/AU when new) the database at path.
 * Errors: OHSM_DB, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_store_open(const char *path, const struct ohsm_store_init *init,
                                       struct ohsm_store **out);
void ohsm_store_close(struct ohsm_store *s); /* NULL ok */

OHSM_NODISCARD ohsm_rv ohsm_store_meta(struct ohsm_store *s, struct ohsm_store_meta *out);

/* Issue 12: rebinds the (closed) database at db_path, which must exist and be an HSM store, to a
 * new cluster and HSM: sets meta cluster_id and hsm_id and gives the HSM a new random serial, in
 * one transaction. Nothing else changes (users, failed-login counters, activation, objects,
 * tombstones, handle counters, quorum values, the masking-key fingerprint). Used when a backup is
 * restored onto a new HSM. Ids: 1..31 printable ASCII characters without spaces.
 * Errors: OHSM_ARGUMENTS_BAD (bad id), OHSM_DB (no such file, not a store, write failed). */
OHSM_NODISCARD ohsm_rv ohsm_store_rebind(const char *db_path, const char *cluster_id,
                                         const char *hsm_id);

/* By canonical (lower-case) name / by id. Errors: OHSM_USER_NOT_FOUND, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_by_name(struct ohsm_store *s, const char *name,
                                               struct ohsm_store_user *out);
OHSM_NODISCARD ohsm_rv ohsm_store_user_by_id(struct ohsm_store *s, uint32_t id,
                                             struct ohsm_store_user *out);
/* All users in id order; *out malloc'd (caller frees; it holds password records: wipe). */
OHSM_NODISCARD ohsm_rv ohsm_store_user_list(struct ohsm_store *s, struct ohsm_store_user **out,
                                            size_t *n);
OHSM_NODISCARD ohsm_rv ohsm_store_user_count(struct ohsm_store *s, int type, uint32_t *n);

/* Adds a user with the next id (ohsm_store_user_next_id), version 1. Errors: OHSM_USER_EXISTS,
 * OHSM_USER_TOO_MANY, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_add(struct ohsm_store *s, const char *name,
                                           enum ohsm_utype type,
                                           const uint8_t pwrec[OHSM_PWHASH_LEN], uint32_t *id);
/* Issue 10: one user id on every HSM. The id this HSM would give a new user: above every id it
 * ever used (users, deleted users, tombstones), so ids are never reused. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_next_id(struct ohsm_store *s, uint32_t *id);
/* Adds a user with the given id (another HSM gave it), version 1. Errors: OHSM_USER_EXISTS (id
 * taken by a user or a tombstone, or name taken), OHSM_USER_TOO_MANY, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_add_id(struct ohsm_store *s, uint32_t id, const char *name,
                                              enum ohsm_utype type,
                                              const uint8_t pwrec[OHSM_PWHASH_LEN]);
/* Deletes user id unless that would leave no CO: OHSM_LAST_ADMIN (checked in the same
 * transaction); leaves a tombstone at the user's version + 1. Errors: OHSM_USER_NOT_FOUND,
 * OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_del(struct ohsm_store *s, uint32_t id);
/* Moves user id from version `from` to from + 1: every change of a user calls it in the
 * transaction that makes the change. OHSM_USER_RECORD_STALE when the user is no longer at `from`
 * (changed or deleted since the caller read it). */
OHSM_NODISCARD ohsm_rv ohsm_store_user_bump(struct ohsm_store *s, uint32_t id, uint64_t from);
/* Sets a password record, clears the failed-login counter and sets the type (PRECO -> CO marks the
 * HSM activated in the same transaction). Like user_add, user_del and user_set_pubkey, it joins a
 * transaction opened with ohsm_store_begin (so a password and keys can change atomically). */
OHSM_NODISCARD ohsm_rv ohsm_store_user_set_password(struct ohsm_store *s, uint32_t id,
                                                    const uint8_t pwrec[OHSM_PWHASH_LEN],
                                                    enum ohsm_utype new_type);
/* A deleted user's tombstone. Errors: OHSM_USER_NOT_FOUND (none), OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_tomb_get(struct ohsm_store *s, uint32_t id,
                                                struct ohsm_store_utomb *out);
/* All tombstones, newest ids first; *out malloc'd (caller frees). */
OHSM_NODISCARD ohsm_rv ohsm_store_user_tombs(struct ohsm_store *s, struct ohsm_store_utomb **out,
                                             size_t *n);
/* Stores a user record received from another HSM as it is (id, name, type, password record,
 * version, keys), keeping this HSM's failed-login counter; deleted: removes the user (if here) and
 * leaves a tombstone at u->version. Version rules are the caller's; here: a new id must be free
 * (no user, tombstone or user of that name: OHSM_USER_EXISTS), an existing id must keep its name
 * (OHSM_USER_EXISTS). Errors also: OHSM_USER_TOO_MANY, OHSM_ARGUMENTS_BAD, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_put_rec(struct ohsm_store *s,
                                               const struct ohsm_store_user *u,
                                               const uint8_t *mfa_pub, size_t mfa_len,
                                               const uint8_t *mofn_pub, size_t mofn_len,
                                               bool deleted);
/* Adds one to the failed-login counter; *count gets the new value. */
OHSM_NODISCARD ohsm_rv ohsm_store_fail_inc(struct ohsm_store *s, uint32_t id, uint32_t *count);
OHSM_NODISCARD ohsm_rv ohsm_store_fail_reset(struct ohsm_store *s, uint32_t id);

/* ---- issue 5: MFA and quorum keys, quorum values (schema user_version 2) ----
 * users gains mfa_pub and mofn_pub (DER SubjectPublicKeyInfo or NULL); the mfa / mofn flags stay
 * in step with them (flag = key present). Quorum values live in meta (default 1). */
enum ohsm_store_pubkey { OHSM_STORE_MFA_KEY = 1, OHSM_STORE_QUORUM_KEY = 2 };

/* Sets (der != NULL) or removes (der NULL) a user's MFA or quorum public key, and its flag.
 * Errors: OHSM_USER_NOT_FOUND, OHSM_DB. Joins an open transaction. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_set_pubkey(struct ohsm_store *s, uint32_t id,
                                                  enum ohsm_store_pubkey which,
                                                  const uint8_t *der, size_t len);
/* A user's key: *der malloc'd (caller frees), NULL with *len 0 when none. Errors:
 * OHSM_USER_NOT_FOUND, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_pubkey(struct ohsm_store *s, uint32_t id,
                                              enum ohsm_store_pubkey which, uint8_t **der,
                                              size_t *len);
/* Quorum value of a service (enum ohsm_qservice USER, QUORUM, CLUSTER): 1 when never set.
 * Errors: OHSM_ARGUMENTS_BAD (other services), OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_quorum_get(struct ohsm_store *s, int service, uint32_t *value);
OHSM_NODISCARD ohsm_rv ohsm_store_quorum_set(struct ohsm_store *s, int service, uint32_t value);

/* ---- key objects and tombstones (src/store/objects.c) ----
 * A row holds a handle, its version and the sealed bytes (ohsm_mask_seal_obj / a sealed
 * tombstone); the store never sees key material or opens what it holds. Handles are u64. */

/* Token objects one HSM holds at most (the hsm2m.medium figure). */
#define OHSM_STORE_OBJECTS_MAX 16666

/* The masking-key fingerprint recorded at first start; *present false when none yet. */
OHSM_NODISCARD ohsm_rv ohsm_store_mask_fp(struct ohsm_store *s, uint8_t fp[8], bool *present);
OHSM_NODISCARD ohsm_rv ohsm_store_set_mask_fp(struct ohsm_store *s, const uint8_t fp[8]);

/* Explicit transactions, so that a caller can allocate a handle, seal and insert (or delete and
 * leave a tombstone) atomically. Functions below join an open transaction. */
/* Issue 16: the HSM's reboot counter, one more than at the last start (0 at the first), stored. */
OHSM_NODISCARD ohsm_rv ohsm_store_reboot_next(struct ohsm_store *s, uint32_t *out);
OHSM_NODISCARD ohsm_rv ohsm_store_begin(struct ohsm_store *s);
OHSM_NODISCARD ohsm_rv ohsm_store_commit(struct ohsm_store *s);
void ohsm_store_rollback(struct ohsm_store *s);

/* Allocates the next handle of this slot (seq << 5 | slot, seq from meta next_seq), skipping any
 * handle already used by an object or tombstone. Call inside a transaction. */
OHSM_NODISCARD ohsm_rv ohsm_store_handle_next(struct ohsm_store *s, uint32_t slot,
                                              uint64_t *handle);
/* Makes sure later allocations of this slot stay above handle (after inserting an object made
 * elsewhere with this HSM's slot, e.g. from a backup). */
OHSM_NODISCARD ohsm_rv ohsm_store_handle_seen(struct ohsm_store *s, uint64_t handle);

/* Inserts or replaces an object. A new handle beyond OHSM_STORE_OBJECTS_MAX objects:
 * OHSM_OBJECT_TOO_MANY. Errors: OHSM_ARGUMENTS_BAD (handle 0, empty), OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_obj_put(struct ohsm_store *s, uint64_t handle, uint64_t version,
                                          const uint8_t *sealed, size_t len);
/* *sealed malloc'd (caller frees). Errors: OHSM_KEY_HANDLE_INVALID (none), OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_obj_get(struct ohsm_store *s, uint64_t handle, uint64_t *version,
                                          uint8_t **sealed, size_t *len);
/* Deletes an object; absent is not an error. */
OHSM_NODISCARD ohsm_rv ohsm_store_obj_del(struct ohsm_store *s, uint64_t handle);
OHSM_NODISCARD ohsm_rv ohsm_store_obj_count(struct ohsm_store *s, uint32_t *n);

/* Tombstones: same shapes as objects (insert or replace; get; delete). */
OHSM_NODISCARD ohsm_rv ohsm_store_tomb_put(struct ohsm_store *s, uint64_t handle, uint64_t version,
                                           const uint8_t *sealed, size_t len);
OHSM_NODISCARD ohsm_rv ohsm_store_tomb_get(struct ohsm_store *s, uint64_t handle, uint64_t *version,
                                           uint8_t **sealed, size_t *len);
OHSM_NODISCARD ohsm_rv ohsm_store_tomb_del(struct ohsm_store *s, uint64_t handle);

/* Calls fn for every object / tombstone (any order; sealed borrowed for the call). A non-OK
 * return from fn stops the walk and is returned. Rows of the wrong shape: OHSM_DB. */
typedef ohsm_rv (*ohsm_store_row_fn)(void *arg, uint64_t handle, uint64_t version,
                                     const uint8_t *sealed, size_t len);
OHSM_NODISCARD ohsm_rv ohsm_store_obj_each(struct ohsm_store *s, ohsm_store_row_fn fn, void *arg);
OHSM_NODISCARD ohsm_rv ohsm_store_tomb_each(struct ohsm_store *s, ohsm_store_row_fn fn, void *arg);

#endif
