/* SPDX-License-Identifier: Apache-2.0
 *
 * AWS's names of the KMS model's enums (types.h), and the clearing of records. Names come from
 * botocore's KMS model (KeySpec, KeyUsageType, OriginType, KeyState).
 */
#include "kms/types.h"

#include <stdlib.h>
#include <string.h>

static const char *const spec_names[] = {
    NULL,
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
};
static const char *const usage_names[] = {NULL, "ENCRYPT_DECRYPT", "SIGN_VERIFY",
                                          "GENERATE_VERIFY_MAC"};
static const char *const origin_names[] = {NULL, "AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM"};
static const char *const state_names[] = {
    NULL, "Enabled", "Disabled", "PendingDeletion", "PendingImport", "Unavailable"};

#define NAMES(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, uint32_t v)
{
    return v < n ? names[v] : NULL;
}

static uint32_t value_of(const char *const *names, size_t n, const char *s)
{
    if (s == NULL) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if (strcmp(names[i], s) == 0) {
            return (uint32_t)i;
        }
    }
    return 0;
}

const char *ohsm_kms_spec_name(uint32_t v)
{
    return name_of(spec_names, NAMES(spec_names), v);
}

uint32_t ohsm_kms_spec_from(const char *s)
{
    return value_of(spec_names, NAMES(spec_names), s);
}

const char *ohsm_kms_usage_name(uint32_t v)
{
    return name_of(usage_names, NAMES(usage_names), v);
}

uint32_t ohsm_kms_usage_from(const char *s)
{
    return value_of(usage_names, NAMES(usage_names), s);
}

const char *ohsm_kms_origin_name(uint32_t v)
{
    return name_of(origin_names, NAMES(origin_names), v);
}

uint32_t ohsm_kms_origin_from(const char *s)
{
    return value_of(origin_names, NAMES(origin_names), s);
}

const char *ohsm_kms_state_name(uint32_t v)
{
    return name_of(state_names, NAMES(state_names), v);
}

void ohsm_kms_key_clear(struct ohsm_kms_key *k)
{
    if (k == NULL) {
        return;
    }
    free(k->description);
    k->description = NULL;
}

void ohsm_kms_material_clear(struct ohsm_kms_material *m)
{
    if (m == NULL) {
        return;
    }
    free(m->sealed);
    m->sealed = NULL;
    m->sealed_len = 0;
}
