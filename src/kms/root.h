/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS service root key and the hidden cluster that holds it. openhsmd runs, for itself, one
 * openhsm-hsm of an internal cluster that no API lists (DIR/kms/root/: its own CA, certificate,
 * masking key, hsm.db; openhsmd's private files in DIR/private/kms/, 0700). On first start it
 * activates that HSM (the precrypto officer's password changed to a random one), creates a crypto
 * user with a random password, logs in as it and generates a non-extractable AES-256 key labelled
 * "kms-root". The credentials are kept 0600 in DIR/private/kms/root.json; the root key never
 * leaves the HSM: sealing and unsealing are AES-GCM encrypt/decrypt calls to it over libopenhsm
 * (TLS 1.3), with the HSM choosing every IV.
 *
 * Thread-safe after ohsm_kms_root_open: the sealer's functions may run on many threads at once
 * (libopenhsm pipelines them over its connections).
 */
#ifndef OHSM_KMS_ROOT_H
#define OHSM_KMS_ROOT_H

#include <stddef.h>

#include "kms/seal.h"
#include "openhsm/rv.h"

struct ohsm_sup;
struct ohsm_kms_root;

struct ohsm_kms_root_cfg {
    const char *data_dir; /* openhsmd's data directory (absolute); borrowed */
    struct ohsm_sup *sup; /* openhsmd's supervisor: runs and restarts the root HSM; borrowed */
};

/* Makes (first start) or reopens the hidden cluster, starts its HSM under the supervisor, waits
 * for it, logs in and finds the root key. err (cap bytes) says what failed. Caller frees.
 * Errors: OHSM_IO, OHSM_TIMEOUT, OHSM_DEVICE_ERROR, OHSM_PIN_INCORRECT (credentials do not match
 * the HSM's: a damaged data directory), OHSM_KEY_HANDLE_INVALID (the root key is missing). */
OHSM_NODISCARD ohsm_rv ohsm_kms_root_open(const struct ohsm_kms_root_cfg *cfg,
                                          struct ohsm_kms_root **out, char *err, size_t cap);
/* The sealer backed by the root key (valid while r lives). */
void ohsm_kms_root_sealer(struct ohsm_kms_root *r, struct ohsm_kms_sealer *out);
/* Logs out, closes the connections and stops the root HSM. NULL ok. */
void ohsm_kms_root_close(struct ohsm_kms_root *r);

#endif
