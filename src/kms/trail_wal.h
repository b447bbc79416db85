/* SPDX-License-Identifier: Apache-2.0
 *
 * The audit trail's write-ahead log (internal to trail.c): what makes a trail line durable before
 * the call is answered without an fdatasync of trail.jsonl itself.
 *
 * Why. trail.jsonl grows with every batch, and an fdatasync after an append must also write the
 * inode (its size changed); on the project's VM that second write nearly doubles the cost of each
 * sync. The log is a file of fixed size, zero-filled once, that is only ever overwritten, so its
 * fdatasync writes the data blocks and flushes, nothing else. trail.jsonl stays plain JSON lines
 * (grep and jq read it as before); it is written without a sync and synced at checkpoints.
 *
 * Format (DIR/kms/trail.wal, OHSM_KMS_WAL_SIZE bytes). Records at 8-byte aligned positions:
 *   header (64 bytes): magic "OTWL", kind (1 checkpoint, 2 batch), 3 zero bytes, payload length
 *   (u32 LE), generation (u64 LE), trail offset (u64 LE), SHA-256 of the header's first 32 bytes
 *   and the payload; then the payload, zero-padded to 8 bytes.
 * Position 0 holds the checkpoint of the current generation g: "trail.jsonl is durable up to
 * offset S", with the last min(S, 64) bytes of the trail before S as its payload. Batch records of
 * generation g follow it, each holding the bytes appended to the trail at its offset, the first at
 * S and each next one where the last ended. A checkpoint (when the log is full, at open and at
 * close) syncs the trail, then writes generation g+1's checkpoint at position 0 and syncs the log:
 * older records are then covered by the trail and are told apart by their generation.
 *
 * Recovery (at open): if the checkpoint is valid and the trail's bytes before S match its
 * payload (this log belongs to this trail), every valid batch record of its generation that
 * continues the run is written back at its offset and the trail is cut where the run ends: bytes
 * past it were never acknowledged (their record was not durable). A missing, torn or foreign
 * checkpoint replays nothing and cuts nothing (the trail was synced before the checkpoint was
 * written), and says so on stderr.
 *
 * Not thread-safe: trail.c calls append and checkpoint from one leader at a time.
 */
#ifndef OHSM_KMS_TRAIL_WAL_H
#define OHSM_KMS_TRAIL_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

#define OHSM_KMS_WAL_SIZE (8u << 20)
#define OHSM_KMS_WAL_MIN_SIZE 4096u

struct ohsm_kms_wal;

/* Opens the log at wal_path for the trail open as trail_fd (read-write, named trail_path in
 * messages), replaying into the trail what the log holds beyond its checkpoint. A missing log, or
 * one of another size, is (re)created zero-filled at size bytes (OHSM_KMS_WAL_MIN_SIZE .. 1 GiB;
 * 0: OHSM_KMS_WAL_SIZE). The caller then reads the trail's tail and calls
 * ohsm_kms_wal_checkpoint. Errors: OHSM_IO, OHSM_HOST_MEMORY, OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_kms_wal_open(const char *wal_path, int trail_fd, const char *trail_path,
                                         size_t size, struct ohsm_kms_wal **out);

/* Makes trail bytes [off, off + len), just written to trail_fd, durable: one record and one
 * fdatasync of the log, or, when the log is full, a checkpoint at off + len. Errors: OHSM_IO,
 * OHSM_HOST_MEMORY. After OHSM_IO the log may hold anything: the caller stops appending. */
OHSM_NODISCARD ohsm_rv ohsm_kms_wal_append(struct ohsm_kms_wal *w, int trail_fd, uint64_t off,
                                           const void *buf, size_t len);

/* Syncs the trail, whose end is end, and starts a new generation at it. Errors: OHSM_IO. */
OHSM_NODISCARD ohsm_rv ohsm_kms_wal_checkpoint(struct ohsm_kms_wal *w, int trail_fd, uint64_t end);

/* Checkpoints made so far (for tests). */
uint64_t ohsm_kms_wal_checkpoints(const struct ohsm_kms_wal *w);

void ohsm_kms_wal_close(struct ohsm_kms_wal *w); /* NULL ok; does not checkpoint */

#endif
