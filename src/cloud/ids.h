/* SPDX-License-Identifier: Apache-2.0
 *
 * Identifiers and generated secrets of the local cloud: cluster ids ("cluster-" + 11 characters)
 * and HSM ids ("hsm-" + 11 characters) in the shape AWS CloudHSM uses, drawn from the lower-case
 * RFC 4648 base32 alphabet [a-z2-7]; and the appliance user's random password. Randomness is
 * OpenSSL's RAND_bytes. Thread-safe (no state).
 */
#ifndef OHSM_CLOUD_IDS_H
#define OHSM_CLOUD_IDS_H

#include <stdbool.h>
#include <stddef.h>

#include "openhsm/rv.h"

#define OHSM_IDS_RAND_CHARS 11
#define OHSM_IDS_CLUSTER_PREFIX "cluster-"
#define OHSM_IDS_HSM_PREFIX "hsm-"
#define OHSM_IDS_CLUSTER_LEN 19 /* strlen("cluster-") + 11 */
#define OHSM_IDS_HSM_LEN 15     /* strlen("hsm-") + 11 */
#define OHSM_IDS_MAX 32         /* buffer size that holds any id and its NUL */

#define OHSM_IDS_PASSWORD_LEN 24

/* Writes prefix + 11 random base32 characters and a NUL into out (cap bytes).
 * Errors: OHSM_ARGUMENTS_BAD (NULL), OHSM_BUFFER_TOO_SMALL, OHSM_DEVICE_ERROR (RAND_bytes). */
OHSM_NODISCARD ohsm_rv ohsm_ids_make(const char *prefix, char *out, size_t cap);

/* Is s exactly prefix followed by 11 characters of [a-z2-7]? (For ids read back from storage.) */
bool ohsm_ids_valid(const char *prefix, const char *s);

/* Writes OHSM_IDS_PASSWORD_LEN random characters of [A-Za-z0-9] and a NUL into out (cap bytes),
 * each character uniform over the 62 (rejection sampling). The caller cleanses out.
 * Errors: OHSM_ARGUMENTS_BAD, OHSM_BUFFER_TOO_SMALL, OHSM_DEVICE_ERROR. */
OHSM_NODISCARD ohsm_rv ohsm_ids_password(char *out, size_t cap);

#endif
