/* SPDX-License-Identifier: Apache-2.0
 *
 * The CK_RV a PKCS#11 caller sees for an ohsm_rv. Core's table (ohsm_rv_ckr) gives one value per
 * code; PKCS#11 names some failures after the call that saw them (a key handle is an object
 * handle to C_GetAttributeValue, a wrapping key's to C_WrapKey), so the caller says which kind of
 * call it is. Pure and thread-safe. Include after ck.h (mech.h's rule).
 */
#ifndef OHSM_P11_CKR_H
#define OHSM_P11_CKR_H

#include <stdbool.h>

#include "ck.h"
#include "openhsm/rv.h"

enum p11_ckr_ctx {
    P11_CTX_OBJECT = 1, /* C_CreateObject, C_CopyObject, C_DestroyObject, C_*AttributeValue,
                         * C_FindObjects*, C_GetObjectSize */
    P11_CTX_CRYPTO,     /* C_Encrypt*, C_Decrypt*, C_Sign*, C_Verify*, C_Digest* */
    P11_CTX_LOGIN,      /* C_Login, C_Logout, C_SetPIN, C_InitPIN */
    P11_CTX_WRAP,       /* C_WrapKey: key errors are the wrapping key's */
    P11_CTX_UNWRAP,     /* C_UnwrapKey: key errors are the unwrapping key's, data errors the
                         * wrapped key's */
    P11_CTX_GENERATE,   /* C_GenerateKey, C_GenerateKeyPair, C_DeriveKey, C_GenerateRandom */
};

/* The CK_RV for rv in a call of kind ctx. Never CKR_OK for an error; an unknown rv or ctx is
 * CKR_GENERAL_ERROR. Transport failures (OHSM_TIMEOUT, OHSM_NOT_CONNECTED, OHSM_IO, OHSM_TLS,
 * OHSM_PROTOCOL) are CKR_DEVICE_ERROR: a caller that knows no HSM of the cluster is reachable says
 * CKR_DEVICE_REMOVED instead (p11_ckr_is_transport tells which codes these are). */
CK_RV p11_ckr(ohsm_rv rv, enum p11_ckr_ctx ctx);

/* True for the codes of a failed connection to an HSM (not of an HSM's answer). */
bool p11_ckr_is_transport(ohsm_rv rv);

#endif
