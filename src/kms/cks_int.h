/* SPDX-License-Identifier: Apache-2.0
 *
 * Pieces of the CloudHSM key stores' connections (cks_conn.c) that unit tests check directly.
 */
#ifndef OHSM_KMS_CKS_INT_H
#define OHSM_KMS_CKS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "kms/cks.h"
#include "openhsm/client.h"

/* kmsuser's new password: 32 characters of [A-Za-z0-9], each uniform over the 62 (rejection
 * sampling from RAND_priv_bytes), NUL-terminated. Errors: OHSM_DEVICE_ERROR (out wiped). */
OHSM_NODISCARD ohsm_rv ohsm_kms_cks_make_password(char out[OHSM_KMS_CKS_PW_MAX + 1]);

/* The ConnectionErrorCode of a refused kmsuser login from the per-HSM results res[0..n) and the
 * call's rv: the first refusal that is not a lost connection decides (wrong password ->
 * INVALID_CREDENTIALS, locked -> USER_LOCKED_OUT, no such user or not a crypto user ->
 * USER_NOT_FOUND, 2FA -> INVALID_CREDENTIALS, else INTERNAL_ERROR); only lost connections ->
 * NETWORK_ERRORS. */
uint32_t ohsm_kms_cks_login_code(const struct ohsm_result *res, size_t n, ohsm_rv rv);

#endif
