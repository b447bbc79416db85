/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsmd's KMS: the TrentService API on the front door (src/http), over the KMS model (keys,
 * aliases, grants, material sealed under the service root key), its store (store.h) and its audit
 * trail (trail.h). This header is what openhsmd's main uses; the handlers' shared internals are in
 * kms_int.h.
 *
 * Files: DIR/kms/kms.db (the store), DIR/kms/trail.jsonl (the audit trail).
 *
 * Thread-safe after ohsm_kms_open: handlers run on the HTTP server's threads.
 */
#ifndef OHSM_KMS_KMS_H
#define OHSM_KMS_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "kms/cks.h"
#include "kms/seal.h"
#include "openhsm/rv.h"

struct ohsm_json_service;
struct ohsm_kms;

struct ohsm_kms_cfg {
    const char *data_dir;          /* absolute; borrowed */
    const char *region;            /* default region (unsigned requests) */
    const char *account_id;        /* 12 digits */
    struct ohsm_kms_sealer sealer; /* seals key material (root.h in openhsmd) */
    /* The service clock in Unix seconds (openhsmd's: real time + --clock-offset + AdvanceClock). */
    int64_t (*now)(void *ctx);
    void *now_ctx;
    size_t cache_max; /* unsealed key materials kept in memory; 0: 4096 */
    /* openhsmd's clusters as CloudHSM key stores see them (cks.h); view NULL: every
     * CustomKeyStore operation finds no cluster. */
    struct ohsm_kms_clusters clusters;
};

/* Opens the store and the trail under DIR/kms (made 0700 when missing) and loads the keys.
 * err (cap bytes) says what failed. Caller frees with ohsm_kms_close. Errors: OHSM_IO, OHSM_DB,
 * OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_kms_open(const struct ohsm_kms_cfg *cfg, struct ohsm_kms **out,
                                     char *err, size_t cap);
/* The TrentService service for ohsm_http_add_json (ctx is k). */
const struct ohsm_json_service *ohsm_kms_service(struct ohsm_kms *k);
/* Starts the scheduler thread (key deletion after its window, automatic rotation, expiry of
 * imported material), which runs ohsm_kms_tick every second, and the connection worker of the
 * CloudHSM key stores (cks.h). Errors: OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_kms_start(struct ohsm_kms *k);
/* One scheduler pass at the service clock's now (also run by OpenHsmAdmin.AdvanceClock so a test
 * sees its effect when the call returns). */
void ohsm_kms_tick(struct ohsm_kms *k);
/* Stops the scheduler, closes the trail and the store, wipes every cached key. NULL ok. */
void ohsm_kms_close(struct ohsm_kms *k);

/* Seeds keys, aliases and known material from FILE (JSON or YAML) on first start, idempotently
 * (seed.c). err says what is wrong with the file. Errors: OHSM_CONFIG, and as the store. */
OHSM_NODISCARD ohsm_rv ohsm_kms_seed(struct ohsm_kms *k, const char *path, char *err, size_t cap);

#endif
