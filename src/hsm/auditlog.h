/* SPDX-License-Identifier: Apache-2.0
 *
 * The HSM's audit log (issue 16): an append-only file of hash-chained records (core/audit.h),
 * one per management command, next to the database ("<db>.audit", 0600).
 *
 * - Numbering: the reboot counter comes from the store (one more per start); sequence numbers
 *   start at 0 per boot and have no gaps (a number is used only by a record that was written).
 * - Durability: a record is written before the command's answer leaves the HSM, and a durable
 *   one is on disk (fdatasync) by then, so a crash never leaves an acknowledged change without its
 *   record. Records of session objects are written but not synced: a crash takes the session
 *   objects with it. Threads that append at once share one fdatasync (group commit).
 * - At start the log is checked (ohsm_audit_verify). A torn last line (a crash in the middle of a
 *   write, never acknowledged) is cut off. Any other break is reported and left in place, and new
 *   records chain to the last line as it stands, so the break stays where it happened.
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

/* Opens (creating) the log at path for hsm_id, in boot `reboot`. Problems found in an existing
 * log are written to stderr (never a secret: records hold none). Errors: OHSM_IO (cannot open,
 * read or repair the file), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_auditlog_open(const char *path, const char *hsm_id, uint32_t reboot,
                                          struct ohsm_auditlog **out);
void ohsm_auditlog_free(struct ohsm_auditlog *a); /* NULL ok */

/* Appends r (its reboot, seq and time are filled in here); durable: on disk before return.
 * Thread-safe. Errors: OHSM_IO (the log is broken from then on). */
OHSM_NODISCARD ohsm_rv ohsm_auditlog_append(struct ohsm_auditlog *a, struct ohsm_audit_rec *r,
                                            bool durable);

/* Whether a write has failed (commands that need a record are refused). */
bool ohsm_auditlog_broken(struct ohsm_auditlog *a);

#endif
