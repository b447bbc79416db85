/* SPDX-License-Identifier: Apache-2.0
 *
 * The pure part of sync status: given what each HSM says it holds (objects by handle with version,
 * digest and tombstones; users by name with digest), which HSMs differ and how. No I/O; the input
 * comes from HSM answers (untrusted, but already bounded by the wire decoder) and is only compared.
 *
 * Rules for objects, per handle. The reference is the newest entry any HSM has: the highest
 * version, a tombstone winning a tie (a deletion is the last event of a version); among live
 * entries of that version with different digests, the digest most HSMs hold (a tie goes to the
 * lowest HSM index). Then for each HSM that answered:
 *   - reference alive, HSM has nothing or an older tombstone: MISSING;
 *   - reference alive, HSM has an older version or another digest: STALE;
 *   - reference a tombstone, HSM has the object alive: EXTRA;
 *   - reference a tombstone, HSM has nothing or a tombstone: in sync (nothing to prove).
 * An object that only one HSM has (and nobody deleted) is therefore MISSING on the others: a key is
 * never reported for deletion without a sealed tombstone to prove it was deleted.
 * Users (issue 10), per user id, by the same rules with one difference: a deletion is final, so a
 * tombstone is the reference whatever the versions (a user changed on an HSM that missed its
 * deletion is EXTRA there). A user that only some HSMs have is MISSING on the others (never EXTRA
 * without a tombstone); the same id under another name, or another record at the same version,
 * shows as STALE (a conflict that an insert then refuses). HSMs that did not answer are never compared (and make nothing missing elsewhere).
 */
#ifndef OHSM_SYNCDIFF_H
#define OHSM_SYNCDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/client.h"

struct ohsm_syncdiff_obj {
    uint64_t handle;
    uint64_t version;
    uint8_t digest[32];
    bool deleted;
};

struct ohsm_syncdiff_user {
    struct ohsm_syncdiff_obj o; /* handle: the user id; version, digest, deleted: the record's */
    char name[OHSM_USERNAME_MAX + 1];
};

/* One HSM's answer. rv != OHSM_OK: it did not answer (the lists are ignored). Borrowed. */
struct ohsm_syncdiff_hsm {
    ohsm_rv rv;
    const struct ohsm_syncdiff_obj *obj;
    size_t nobj;
    const struct ohsm_syncdiff_user *user;
    size_t nuser;
};

struct ohsm_syncdiff_item {
    struct ohsm_sync_item it;
    size_t src;       /* an HSM holding the reference */
    uint64_t version; /* objects: the reference version */
};

/* Compares n HSMs. *items (malloc'd, caller frees; NULL when *nitems is 0) lists the differences,
 * objects in handle order then users in id order, each by HSM index. Errors: OHSM_HOST_MEMORY,
 * OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_syncdiff_compare(const struct ohsm_syncdiff_hsm *h, size_t n,
                                             struct ohsm_syncdiff_item **items, size_t *nitems);

#endif
