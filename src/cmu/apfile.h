/* SPDX-License-Identifier: Apache-2.0
 *
 * The token approval file of cloudhsm_mgmt_util's approveToken, as the CloudHSM guide writes it:
 * "Key = value;" lines ('#' starts a comment) naming the token file (Multi Token File Path, else
 * Token File Path), the Number of Approvals, and for each approver its Approver Type (2 CO, 1 CU),
 * Approver Name and Approval File (the signature). Pure: paths are returned, not opened. The text
 * is untrusted: lines and fields are bounded, names are checked with the user-name rules, every
 * approver must be complete and their count must match.
 * Thread-safe: no shared state.
 */
#ifndef OHSM_CMU_APFILE_H
#define OHSM_CMU_APFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "openhsm/token.h"
#include "openhsm/user.h"

#define OHSM_CMU_APFILE_FIELD 1024 /* longest value (a path), with its NUL */
#define OHSM_CMU_APFILE_LINE 2048  /* longest line */

struct ohsm_cmu_apfile {
    char token_path[OHSM_CMU_APFILE_FIELD];
    size_t n; /* approvers, 1..OHSM_APPROVAL_SIGS_MAX */
    char name[OHSM_APPROVAL_SIGS_MAX][OHSM_USERNAME_MAX + 1]; /* canonical user names */
    char sig_path[OHSM_APPROVAL_SIGS_MAX][OHSM_CMU_APFILE_FIELD];
};

/* Parses len bytes of text into *out (filled only as far as it got on failure). false: why (cap
 * > 0) holds one line for the user. */
bool ohsm_cmu_apfile_parse(const char *text, size_t len, struct ohsm_cmu_apfile *out, char *why,
                           size_t cap);

#endif
