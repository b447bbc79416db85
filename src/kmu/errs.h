/* SPDX-License-Identifier: Apache-2.0
 *
 * key_mgmt_util's return codes: one table maps every ohsm_rv to the hexadecimal code and text the
 * KMU prints ("Cfm3DeleteKey returned: 0xc6 : HSM Error: Key Access is denied"), and back for
 * Error2String. Codes the AWS CloudHSM user guide shows are used as shown; codes for conditions
 * the guide never shows are openhsm's own, 0x40000000 + the ohsm_rv value, so they cannot be
 * mistaken for a CloudHSM code. Pure data.
 */
#ifndef OHSM_KMU_ERRS_H
#define OHSM_KMU_ERRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

/* Base of openhsm's own codes. */
#define OHSM_KMU_OWN_BASE 0x40000000u

/* The KMU code of rv (OHSM_OK -> 0). Out-of-range values map to OHSM_KMU_OWN_BASE + rv. */
uint32_t ohsm_kmu_code(ohsm_rv rv);
/* The text after the code ("HSM Return: SUCCESS", "HSM Error: Key Access is denied"). Never NULL.
 */
const char *ohsm_kmu_text(ohsm_rv rv);
/* "0x00", "0xc6" (codes up to 0xff) or "0x30000085" into buf; the KMU's returned-line form. */
void ohsm_kmu_code_str(uint32_t code, char *buf, size_t cap);
/* Error2String: the text of a code. False when no row has that code. */
bool ohsm_kmu_text_of(uint32_t code, const char **text);

#endif
