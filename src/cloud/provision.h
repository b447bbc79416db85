/* SPDX-License-Identifier: Apache-2.0
 *
 * Creating a cluster on disk and in the metadata, and the files layout it follows:
 *
 *   DIR/openhsmd.db                                   metadata (meta.h)
 *   DIR/clusters/<cluster-id>/customerCA.crt          the cluster's local CA (trust anchor)
 *   DIR/clusters/<cluster-id>/app_user.secret         appliance user's password (0600)
 *   DIR/clusters/<cluster-id>/client.json             client configuration
 *   DIR/clusters/<cluster-id>/hsms/<hsm-id>/          hsm.crt, hsm.key, and the HSM's own
 *                                                     hsm.db, hsm.log, hsm.pid
 *   DIR/private/<cluster-id>/customerCA.key           the local CA's private key (0600, in a
 *                                                     0700 directory only openhsmd uses)
 *
 * The CA key is kept, not dropped: openhsmd signs the certificates of HSMs added to the cluster
 * later with it (until InitializeCluster brings the owner's own CA). It lives outside the cluster
 * directory, which is what HSMs and clients are pointed at, so a client config and trust anchor
 * can be handed out without the key that mints HSM certificates. Data directories made before
 * this layout have the key moved on start (ohsm_provision_move_ca_key).
 *
 * Not thread-safe (uses the caller's struct ohsm_meta).
 */
#ifndef OHSM_CLOUD_PROVISION_H
#define OHSM_CLOUD_PROVISION_H

#include <stddef.h>
#include <stdint.h>

#include "cloud/ids.h"
#include "cloud/meta.h"
#include "openhsm/rv.h"

#define OHSM_PROVISION_TRUST_ANCHOR "customerCA.crt"
#define OHSM_PROVISION_TIMEOUT_MS 5000

/* DIR/clusters/<cid> and DIR/clusters/<cid>/hsms/<hid>. Errors: OHSM_BUFFER_TOO_SMALL. */
/* The cluster masking key: 32 random bytes in <cluster dir>/masking.key (0600), shared by all the
 * cluster's HSMs (openhsm-hsm --masking-key); masked objects move only between HSMs that hold it. */
#define OHSM_PROVISION_MASKING_KEY "masking.key"
#define OHSM_PROVISION_MASKING_KEY_LEN 32

/* Creates the masking key file of cluster directory cdir unless it exists (clusters made before
 * masking keys existed get one on their next start). Errors: OHSM_IO (errno set; an existing path
 * that is not a 32-byte regular file), OHSM_DEVICE_ERROR (no randomness). */
OHSM_NODISCARD ohsm_rv ohsm_provision_masking_key(const char *cdir);

/* DIR/private/<cid>: openhsmd's own files of a cluster (the CA key). Errors:
 * OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD ohsm_rv ohsm_provision_private_dir(const char *data_dir, const char *cid, char *out,
                                                  size_t cap);
#define OHSM_PROVISION_CA_KEY "customerCA.key"

/* Moves the CA key of a cluster made by an older openhsmd out of its cluster directory into its
 * private directory (made 0700 when missing); nothing to do when there is none. A key in both
 * places is refused (OHSM_IO, errno EEXIST): which one is right cannot be told. err (may be NULL)
 * says what failed, naming the path. Errors: OHSM_IO, OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD ohsm_rv ohsm_provision_move_ca_key(const char *data_dir, const char *cid, char *err,
                                                  size_t err_cap);

OHSM_NODISCARD ohsm_rv ohsm_provision_cluster_dir(const char *data_dir, const char *cid, char *out,
                                                  size_t cap);
OHSM_NODISCARD ohsm_rv ohsm_provision_hsm_dir(const char *data_dir, const char *cid,
                                              const char *hid, char *out, size_t cap);

/* Creates a cluster of n_hsms HSMs (1..28) whose users lock after lockout failed logins: ids, CA,
 * HSM keys and certificates, a free 127.0.0.1 port per HSM, the appliance user's password, and
 * the metadata rows (committed last, so a crash before that leaves no cluster behind in the
 * metadata). On failure the cluster's directory is removed. The new id goes to cid_out (at least
 * OHSM_IDS_MAX bytes); err (may be NULL) says what failed. Errors: OHSM_IO, OHSM_DB,
 * OHSM_DEVICE_ERROR, OHSM_ARGUMENTS_BAD, OHSM_BUFFER_TOO_SMALL, OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_provision_cluster(struct ohsm_meta *m, const char *data_dir,
                                              uint32_t n_hsms, uint32_t lockout, char *cid_out,
                                              char *err, size_t err_cap);

/* (Re)writes DIR/clusters/<cid>/client.json atomically from the metadata:
 * {"cluster_id", "trust_anchor" (relative to the file), "timeout_ms", "hsms": [{id, host, port}]}
 * in seq order, pretty-printed with a 2-space indent. The path written goes to path_out (cap
 * bytes, may be NULL). Errors: OHSM_IO, OHSM_DB, OHSM_HOST_MEMORY, OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD ohsm_rv ohsm_provision_client_json(struct ohsm_meta *m, const char *data_dir,
                                                  const char *cid, char *path_out, size_t cap);

/* A free 127.0.0.1 port no HSM of the metadata uses. Errors: OHSM_IO, OHSM_DB. */
OHSM_NODISCARD ohsm_rv ohsm_provision_pick_port(struct ohsm_meta *m, uint16_t *port);

/* The files of a cluster made through the control plane: its directories, local CA, appliance
 * user's password and masking key, and with local_ca a local CA (clusters of the first start;
 * others get their trust anchor from InitializeCluster). Idempotent (what exists is kept; a CA with one of its two
 * files missing is made anew), so the worker can run it again after a crash.
 * Errors: OHSM_IO, OHSM_DEVICE_ERROR, OHSM_BUFFER_TOO_SMALL. */
OHSM_NODISCARD ohsm_rv ohsm_provision_cluster_files(const char *data_dir, const char *cid,
                                                    bool local_ca, char *err, size_t err_cap);
/* One HSM's directory, key and certificate (signed by the cluster CA). Idempotent as above. */
OHSM_NODISCARD ohsm_rv ohsm_provision_hsm_files(const char *data_dir, const char *cid,
                                                const char *hid, char *err, size_t err_cap);

#endif
