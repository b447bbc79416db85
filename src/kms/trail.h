/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS audit trail: every KMS call and service event, one CloudTrail-shaped JSON object per
 * line in DIR/kms/trail.jsonl, durable before the call is answered and hash-chained so a removed,
 * edited or reordered line is detected.
 *
 * Each line is a CloudTrail event (eventVersion "1.08", userIdentity, eventTime, eventSource
 * "kms.amazonaws.com", eventName, awsRegion, sourceIPAddress, userAgent, requestParameters,
 * responseElements, additionalEventData, requestID, eventID, readOnly, resources, eventType
 * ("AwsApiCall" / "AwsServiceEvent"), managementEvent, recipientAccountId, eventCategory
 * "Management", errorCode/errorMessage on failure) plus one member of ours, "openhsmChain": the
 * hex SHA-256 of (the previous line's openhsmChain as 32 bytes, zeros for the first line || this
 * line's bytes with the openhsmChain member removed). Lines are compact JSON.
 *
 * Durability by group commit: appenders queue their line and wait; one of them writes every queued
 * line with one write to trail.jsonl and makes them durable with one record and one fdatasync of
 * the trail's write-ahead log (DIR/kms/trail.wal, trail_wal.h), then wakes all of them.
 * trail.jsonl itself is synced at the log's checkpoints (when it fills, at open and at close);
 * opening after a crash first writes back from the log what the trail lost. A crash can leave a
 * torn last line that no caller was told about: opening drops it (and says so on stderr).
 *
 * What the caller passes must already be free of secrets (plaintext, data keys, passwords,
 * key material): the trail writes what it is given.
 *
 * Thread-safe after open.
 */
#ifndef OHSM_KMS_TRAIL_H
#define OHSM_KMS_TRAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "openhsm/rv.h"

struct ohsm_kms_trail;

/* One event. Everything borrowed for the call. */
struct ohsm_kms_event {
    const char *name;          /* eventName: "Encrypt", "DeleteKey", "RotateKey", ... */
    int64_t time_ms;           /* eventTime (service clock), printed as ISO 8601 "...Z" */
    const char *region;        /* awsRegion */
    const char *account;       /* recipientAccountId and userIdentity's account */
    const char *access_key_id; /* caller's access key ("" unsigned); NULL for service events */
    const char *request_id;    /* requestID; NULL for service events */
    const char *source_ip;     /* NULL: "kms.amazonaws.com" for service events, else "" */
    const char *user_agent;    /* may be NULL */
    json_t *request;           /* requestParameters (object or NULL) */
    json_t *response;          /* responseElements (object or NULL) */
    json_t *additional;        /* additionalEventData (object or NULL) */
    const char *key_arn;       /* resources: [{accountId, type "AWS::KMS::Key", ARN}] or none */
    bool read_only;
    bool service_event;     /* eventType AwsServiceEvent (deletion, rotation, expiry) */
    const char *error_code; /* the exception name when the call failed; else NULL */
    const char *error_message;
};

/* Opens (creating, 0600) the trail at path, reading its tail to continue the chain. Errors:
 * OHSM_IO. A file whose last complete line does not parse: OHSM_DATA_INVALID. */
OHSM_NODISCARD ohsm_rv ohsm_kms_trail_open(const char *path, struct ohsm_kms_trail **out);
void ohsm_kms_trail_close(struct ohsm_kms_trail *t); /* NULL ok */

/* Appends e (with a fresh eventID) and returns once it is on disk. Errors: OHSM_IO (the write or
 * fdatasync failed: the caller must not acknowledge the call), OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_kms_trail_record(struct ohsm_kms_trail *t,
                                             const struct ohsm_kms_event *e);

/* Checks the chain of the trail at path: *n gets the number of good lines; on a break returns
 * OHSM_DATA_INVALID with *bad_line (1-based) and why (cap bytes). Errors: OHSM_IO. */
OHSM_NODISCARD ohsm_rv ohsm_kms_trail_verify(const char *path, size_t *n, size_t *bad_line,
                                             char *why, size_t cap);

/* `openhsmd events [--data-dir DIR] [--name NAME] [--key ID|ARN] [--since TIME] [--verify]`:
 * prints matching events (one JSON line each) or, with --verify, checks the chain and prints
 * "trail ok: N events" or the first break (exit 1). TIME: ISO 8601 or Unix seconds. Returns the
 * process exit status. */
int ohsm_kms_events_main(int argc, char **argv);

#endif
