/* SPDX-License-Identifier: Apache-2.0
 *
 * A sealer over the service root key (root.h) that starts the hidden root HSM on first use
 * instead of at openhsmd's start. Thread-safe.
 */
#ifndef OHSM_KMS_LAZYROOT_H
#define OHSM_KMS_LAZYROOT_H

#include <stdio.h>

#include "kms/seal.h"
#include "openhsm/rv.h"

struct ohsm_sup;
struct ohsm_kms_lazy_root;

/* data_dir is copied; sup and log (failures of an open, may be NULL) are borrowed. Caller
 * frees. Errors: OHSM_ARGUMENTS_BAD, OHSM_HOST_MEMORY. */
OHSM_NODISCARD ohsm_rv ohsm_kms_lazy_root_new(const char *data_dir, struct ohsm_sup *sup, FILE *log,
                                              struct ohsm_kms_lazy_root **out);
/* The sealer (valid while l lives). Its calls open the root first when needed: they fail with
 * the open's error while it cannot be opened. */
void ohsm_kms_lazy_root_sealer(struct ohsm_kms_lazy_root *l, struct ohsm_kms_sealer *out);
/* Opens the root now (ohsm_kms_root_open's errors). */
OHSM_NODISCARD ohsm_rv ohsm_kms_lazy_root_open(struct ohsm_kms_lazy_root *l);
/* Closes the root if it was opened (stopping its HSM). NULL ok. */
void ohsm_kms_lazy_root_free(struct ohsm_kms_lazy_root *l);

#endif
