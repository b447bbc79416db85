/* SPDX-License-Identifier: Apache-2.0
 *
 * Names and record helpers of the CloudHSM key stores (cks.h), backing key ids and kmsuser's
 * generated passwords.
 */
#include "kms/cks.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kms/cks_int.h"

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

void ohsm_kms_cks_backing_id(const char *key_id, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    static const char tag[] = "openhsm-kms-backing:";
    uint8_t d[32];
    unsigned dl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(c, tag, strlen(tag)) == 1 &&
              EVP_DigestUpdate(c, key_id, strlen(key_id)) == 1 &&
              EVP_DigestFinal_ex(c, d, &dl) == 1 && dl == sizeof(d);
    EVP_MD_CTX_free(c);
    if (!ok) {
        memset(d, 0, sizeof(d)); /* never reached in practice; a fixed id still finds nothing */
    }
    for (size_t i = 0; i < sizeof(d); i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}
