/* SPDX-License-Identifier: Apache-2.0
 *
 * Persistent state of one HSM in SQLite (WAL, synchronous=FULL: a call that returns OHSM_OK has
 * been committed durably). Holds the users (with scrypt password records and failed-login
 * counters) and the HSM's metadata. Not thread-safe: the caller serialises access.
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
    uint32_t lockout_attempts;      /* failed logins that lock a user */
    const uint8_t *au_password;     /* app_user's password; NULL: random, nobody can log in */
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

/* By canonical (lower-case) name / by id. Errors: OHSM_USER_NOT_FOUND, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_by_name(struct ohsm_store *s, const char *name,
                                               struct ohsm_store_user *out);
OHSM_NODISCARD ohsm_rv ohsm_store_user_by_id(struct ohsm_store *s, uint32_t id,
                                             struct ohsm_store_user *out);
/* All users in id order; *out malloc'd (caller frees; it holds password records: wipe). */
OHSM_NODISCARD ohsm_rv ohsm_store_user_list(struct ohsm_store *s, struct ohsm_store_user **out,
                                            size_t *n);
OHSM_NODISCARD ohsm_rv ohsm_store_user_count(struct ohsm_store *s, int type, uint32_t *n);

/* Errors: OHSM_USER_EXISTS, OHSM_USER_TOO_MANY, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_add(struct ohsm_store *s, const char *name,
                                           enum ohsm_utype type,
                                           const uint8_t pwrec[OHSM_PWHASH_LEN], uint32_t *id);
/* Deletes user id unless that would leave no CO: OHSM_LAST_ADMIN (checked in the same
 * transaction). Errors: OHSM_USER_NOT_FOUND, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_store_user_del(struct ohsm_store *s, uint32_t id);
/* Sets a password record, clears the failed-login counter and sets the type (PRECO -> CO marks the
 * HSM activated in the same transaction). */
OHSM_NODISCARD ohsm_rv ohsm_store_user_set_password(struct ohsm_store *s, uint32_t id,
                                                    const uint8_t pwrec[OHSM_PWHASH_LEN],
                                                    enum ohsm_utype new_type);
/* Adds one to the failed-login counter; *count gets the new value. */
OHSM_NODISCARD ohsm_rv ohsm_store_fail_inc(struct ohsm_store *s, uint32_t id, uint32_t *count);
OHSM_NODISCARD ohsm_rv ohsm_store_fail_reset(struct ohsm_store *s, uint32_t id);

#endif
