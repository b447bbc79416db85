/* SPDX-License-Identifier: Apache-2.0
 *
 * Names and record helpers of the CloudHSM key stores (cks.h).
 */
#include "kms/cks.h"

#include <stdlib.h>

static const char *const state_names[OHSM_CKS_STATE_COUNT_] = {
    "DISCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING", "FAILED"};

static const char *const error_names[OHSM_CKSE_COUNT_] = {
    NULL,
    "CLUSTER_NOT_FOUND",
    "INSUFFICIENT_CLOUDHSM_HSMS",
    "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET",
    "INTERNAL_ERROR",
    "INVALID_CREDENTIALS",
    "NETWORK_ERRORS",
    "SUBNET_NOT_FOUND",
    "USER_LOCKED_OUT",
    "USER_LOGGED_IN",
    "USER_NOT_FOUND",
};

const char *ohsm_kms_cks_state_name(uint32_t s)
{
    return s < OHSM_CKS_STATE_COUNT_ ? state_names[s] : NULL;
}

const char *ohsm_kms_cks_error_name(uint32_t e)
{
    return e < OHSM_CKSE_COUNT_ ? error_names[e] : NULL;
}

void ohsm_kms_cks_clear(struct ohsm_kms_cks *s)
{
    if (s == NULL) {
        return;
    }
    free(s->trust_anchor);
    s->trust_anchor = NULL;
    free(s->pw_sealed); /* sealed: not secret, but not kept either */
    s->pw_sealed = NULL;
    s->pw_sealed_len = 0;
    free(s->next_sealed);
    s->next_sealed = NULL;
    s->next_sealed_len = 0;
}

void ohsm_kms_cv_clear(struct ohsm_kms_cv *v)
{
    if (v == NULL) {
        return;
    }
    free(v->trust_anchor);
    v->trust_anchor = NULL;
    free(v->cluster_cert);
    v->cluster_cert = NULL;
}
