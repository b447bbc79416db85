/* SPDX-License-Identifier: Apache-2.0
 *
 * Test-only hooks of the KMS audit trail (trail.c). Not for the daemon: unit tests and the fuzz
 * target use them to observe group commit and to inject a failed write.
 */
#ifndef OHSM_KMS_TRAIL_TEST_H
#define OHSM_KMS_TRAIL_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

struct ohsm_kms_trail;

/* The number of fdatasync calls made so far (one per committed batch). */
uint64_t ohsm_kms_trail_test_syncs(struct ohsm_kms_trail *t);

/* The next batch fails as if write(2) had failed (nothing is written): every append of that batch
 * gets OHSM_IO and the trail refuses further appends. */
void ohsm_kms_trail_test_fail_next(struct ohsm_kms_trail *t);

/* ohsm_kms_trail_open with a write-ahead log of wal_size bytes (0: the default), so that tests
 * fill it quickly. */
OHSM_NODISCARD ohsm_rv ohsm_kms_trail_test_open_sized(const char *path, size_t wal_size,
                                                      struct ohsm_kms_trail **out);

/* Frees t as a crash would leave things: no last checkpoint (trail.jsonl unsynced past the last
 * one, the log holding the batches since). */
void ohsm_kms_trail_test_crash(struct ohsm_kms_trail *t);

/* Checkpoints of t's write-ahead log (one at open, one whenever it fills). */
uint64_t ohsm_kms_trail_test_checkpoints(struct ohsm_kms_trail *t);

#endif
