/* SPDX-License-Identifier: Apache-2.0
 *
 * Unwrapping of imported key material (ImportKeyMaterial; KMS developer guide "Encrypt the key
 * material"): RSAES_OAEP_SHA_1/256 is OAEP (MGF1 of the same hash, empty label) of the material
 * itself; RSA_AES_KEY_WRAP_SHA_1/256 is OAEP of a fresh AES-256 key followed by the material
 * wrapped with that key by AES key wrap with padding (RFC 5649), the layout `openssl pkeyutl
 * -encrypt -pkeyopt rsa_padding_mode:oaep` + `openssl enc -id-aes256-wrap-pad` produce. Both are
 * src/core mechanisms (OHSM_M_RSA_OAEP, OHSM_M_RSA_AES_KW). EncryptedKeyMaterial is untrusted:
 * every way it can fail to unwrap is one error, so nothing about it leaks through the error.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <string.h>

#include <openssl/crypto.h>

#include "kms/kcrypto.h"
#include "kms/kcrypto_int.h"
#include "openhsm/mech.h"

/* The largest material we unwrap: an RSA-4096 PKCS#8 is about 2.4 KB. */
#define IMPORT_MAX 8192u
#define RSA_WRAP_SLACK (512u + 8u) /* OAEP block of a 4096-bit key, RFC 5649 integrity block */

ohsm_rv ohsm_kms_import_unwrap(const uint8_t *priv, size_t priv_len, uint32_t alg,
                               const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
    struct ohsm_mech_params p;
    struct ohsm_mech_key k;
    void *pkey = NULL;
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(priv != NULL && out != NULL && out_len != NULL && (in != NULL || len == 0),
                OHSM_ARGUMENTS_BAD);
    memset(&p, 0, sizeof(p));
    switch (alg) {
    case OHSM_KALG_WRAP_RSAES_OAEP_SHA_1:
    case OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_1:
        p.hash = OHSM_H_SHA1;
        break;
    case OHSM_KALG_WRAP_RSAES_OAEP_SHA_256:
    case OHSM_KALG_WRAP_RSA_AES_KEY_WRAP_SHA_256:
        p.hash = OHSM_H_SHA256;
        break;
    default: /* RSAES_PKCS1_V1_5 included: AWS no longer accepts it */
        return OHSM_ARGUMENTS_BAD;
    }
    bool oaep = alg == OHSM_KALG_WRAP_RSAES_OAEP_SHA_1 || alg == OHSM_KALG_WRAP_RSAES_OAEP_SHA_256;
    p.mech = oaep ? OHSM_M_RSA_OAEP : OHSM_M_RSA_AES_KW;
    p.mgf_hash = p.hash;
    OHSM_ENSURE(len > 0 && len <= IMPORT_MAX + RSA_WRAP_SLACK, OHSM_ENCRYPTED_DATA_INVALID);
    OHSM_TRY(ohsm_mech_pkey_load(OHSM_CLASS_PRIVATE, OHSM_KT_RSA, priv, priv_len, &pkey));
    memset(&k, 0, sizeof(k));
    k.cls = OHSM_CLASS_PRIVATE;
    k.ktype = OHSM_KT_RSA;
    k.pkey = pkey;
    cap = len; /* OAEP output and RFC 5649 output are both shorter than their input */
    buf = OPENSSL_secure_malloc(cap);
    if (buf == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    rv = ohsm_mech_unwrap(&k, &p, in, len, buf, cap, &n);
    if (rv == OHSM_WRAPPED_KEY_INVALID || rv == OHSM_ENCRYPTED_DATA_INVALID ||
        rv == OHSM_ENCRYPTED_DATA_LEN_RANGE || rv == OHSM_DATA_LEN_RANGE ||
        rv == OHSM_BUFFER_TOO_SMALL || (rv == OHSM_OK && n == 0)) {
        rv = OHSM_ENCRYPTED_DATA_INVALID;
    }
    if (rv != OHSM_OK) {
        goto out;
    }
    *out = ohsm_kms_secure_dup(buf, n);
    if (*out == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    *out_len = n;
out:
    ohsm_kms_bytes_free(buf, cap);
    ohsm_mech_pkey_free(pkey);
    return rv;
}
