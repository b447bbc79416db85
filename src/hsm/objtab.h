/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM's objects in memory: every token object opened from the store at start, and the session
 * objects of live sessions, each with its record, its material (in an ohsm_secret) and, for RSA/EC
 * keys, a loaded EVP_PKEY. Entries are immutable and reference-counted: a change makes a new entry
 * and swaps it in (copy-on-write), so cryptography takes a reference under a short read lock and
 * runs without any lock, and the key is never re-parsed per request.
 *
 * Thread-safety: every function may be called from any thread. The table is sorted by handle
 * under a pthread rwlock; readers (get, walk) take it shared, writers exclusive. Lock order:
 * callers may hold the HSM's store mutex when calling in, never the other way round.
 */
#ifndef OHSM_HSM_OBJTAB_H
#define OHSM_HSM_OBJTAB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/mask.h"
#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "openhsm/secret.h"
#include "store/store.h"

struct ohsm_objent {
    atomic_uint refs;
    uint64_t session;    /* 0: token object; else the serial of the session it belongs to */
    struct ohsm_obj rec; /* the record (no material) */
    struct ohsm_secret *material; /* raw secret key, PKCS#8 private key or SPKI public key */
    void *pkey;                   /* EVP_PKEY * of RSA/EC keys, else NULL */
    /* RSA, EC and AES keys: set-up OpenSSL contexts of this key, reused by requests (one thread
     * at a time each; mech.h), freed with the entry. Else NULL. */
    struct ohsm_mech_cache *cache;
    uint8_t digest[32]; /* token objects: ohsm_mask_digest(record, material) */
};

/* Makes an entry with one reference: copies material, loads the EVP_PKEY of RSA/EC keys
 * (checking the material is of the record's class and type) and, for token objects
 * (session == 0), computes the sync digest with mk. Errors: those of ohsm_mech_pkey_load,
 * OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_objent_new(const struct ohsm_mask_key *mk, const struct ohsm_obj *o,
                                       const uint8_t *material, size_t len, uint64_t session,
                                       struct ohsm_objent **out);
/* Drops a reference; the last one wipes and frees. NULL ok. */
void ohsm_objent_put(struct ohsm_objent *e);

struct ohsm_objtab;

OHSM_NODISCARD ohsm_rv ohsm_objtab_new(struct ohsm_objtab **out);
void ohsm_objtab_free(struct ohsm_objtab *t); /* NULL ok; drops every entry */

/* The entry with this handle, with a new reference (caller puts it), or NULL. */
struct ohsm_objent *ohsm_objtab_get(struct ohsm_objtab *t, uint64_t handle);
/* Inserts e, or replaces the entry with its handle (the old one is put). Takes the caller's
 * reference to e. */
OHSM_NODISCARD ohsm_rv ohsm_objtab_set(struct ohsm_objtab *t, struct ohsm_objent *e);
/* Removes the entry with this handle, if any. */
void ohsm_objtab_del(struct ohsm_objtab *t, uint64_t handle);
/* Removes every session object of this session. */
void ohsm_objtab_end_session(struct ohsm_objtab *t, uint64_t session);
/* Number of entries (token and session). */
size_t ohsm_objtab_count(struct ohsm_objtab *t);

/* Calls fn for every entry with a handle above `after`, in handle order, under the read lock
 * (fn must not call back into the table), until fn returns false. */
typedef bool (*ohsm_objtab_fn)(void *arg, const struct ohsm_objent *e);
void ohsm_objtab_walk(struct ohsm_objtab *t, uint64_t after, ohsm_objtab_fn fn, void *arg);

/* Opens every object of the store with mk into t. Objects that do not open (damaged rows) are
 * skipped and counted in *skipped (sync status shows them missing; repair restores them).
 * Errors: OHSM_DB, OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_objtab_load(struct ohsm_objtab *t, struct ohsm_store *s,
                                        const struct ohsm_mask_key *mk, size_t *skipped);

#endif
