/* SPDX-License-Identifier: Apache-2.0
 *
 * Makes jansson wipe every block it frees (process-wide: call once at start, before any JSON is
 * made, and never mix with jansson objects made before the call).
 */
#ifndef OHSM_KMS_JALLOC_H
#define OHSM_KMS_JALLOC_H

void ohsm_kms_json_wipe_on_free(void);

#endif
