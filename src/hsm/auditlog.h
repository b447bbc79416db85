/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM's audit log (issue 16): an append-only file of hash-chained records (core/audit.h),
 * one per management command, next to the database ("<db>.audit", 0600).
 *
 * - Numbering: the reboot counter comes from the store (one more per start); sequence numbers
 *   start at 0 per boot and have no gaps (a number is used only by a record that was written).
 * - Durability: a durable record (a lasting change) is written and on disk (fdatasync) before the
 *   command's answer leaves the HSM, so a crash never leaves an acknowledged change without its
 *   record; threads that append at once share one fdatasync (group commit). Records of session
 *   objects (and logouts, session ends) wait in memory and go out with the next durable record,
 *   or within about FLUSH_MS + the flusher's period (ohsm_auditlog_flush_due), or at 64 KiB: a
 *   crash takes the session objects with it, and a session key's generation and deletion cost
 *   no write of their own. The order of records in the file is always the order of appends.
 * - At start only the log's end is read, whatever its size: a torn last line (a crash in the
 *   middle of a write, never acknowledged) is cut off, and new records chain to the hash the last
 *   line states. Checking the whole chain is `openhsmd audit verify`'s job: a break left by
 *   tampering stays where it happened.
 * - Fail closed: once a write fails the log is broken, and commands that would need a record are
 *   refused (OHSM_DEVICE_ERROR) until the HSM restarts.
 */
#ifndef OHSM_HSM_AUDITLOG_H
#define OHSM_HSM_AUDITLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/audit.h"

struct ohsm_auditlog;

/* Opens (creating) the log at path for hsm_id, in boot `reboot`. What was found at the log's end
 * (a torn line cut, a last line that is no record) goes to stderr (never a secret: records hold
 * none). Errors: OHSM_IO (cannot open, read or repair the file, or its end is more than a torn
 * record), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_auditlog_open(const char *path, const char *hsm_id, uint32_t reboot,
                                          struct ohsm_auditlog **out);
void ohsm_auditlog_free(struct ohsm_auditlog *a); /* NULL ok */

/* Appends r (its reboot, seq and time are filled in here); durable: written and on disk before
 * return, else it may wait in memory (see above). Thread-safe. Errors: OHSM_IO (the log is
 * broken from then on). */
OHSM_NODISCARD ohsm_rv ohsm_auditlog_append(struct ohsm_auditlog *a, struct ohsm_audit_rec *r,
                                            bool durable);

/* Writes what waits in memory: now (at stop), or if its oldest record has waited FLUSH_MS. */
void ohsm_auditlog_flush(struct ohsm_auditlog *a);
void ohsm_auditlog_flush_due(struct ohsm_auditlog *a);

/* Whether a write has failed (commands that need a record are refused). */
bool ohsm_auditlog_broken(struct ohsm_auditlog *a);

#endif
