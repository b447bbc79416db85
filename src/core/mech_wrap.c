/* SPDX-License-Identifier: Apache-2.0
 *
 * Composite wrap mechanisms (CloudHSM's rsa-aes, PKCS#11 CKM_RSA_AES_KEY_WRAP): a fresh AES-256
 * key drawn for the one wrapping is encrypted with the RSA wrapping key and OAEP (the caller's
 * hash and MGF1 hash), then the key material is wrapped with that AES key and AES key wrap with
 * padding (RFC 5649). The blob is OAEP(aes key) (modulus length) || KWP(material). The AES key
 * lives in a stack buffer that is wiped on every path; nothing here keeps state.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/mech_int.h"
#include "openhsm/mech.h"

#define RSA_AES_KEY_LEN 32 /* AES-256, as AWS KMS's RSA_AES_KEY_WRAP imports expect */
#define KW_BLOCK 8

static ohsm_rv rsa_parts(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                         struct ohsm_mech_params *oaep, size_t *kb)
{
    OHSM_ENSURE(k->ktype == OHSM_KT_RSA && k->pkey != NULL, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(m->iv_len == 0 && m->aad_len == 0, OHSM_MECHANISM_PARAM_INVALID);
    int size = EVP_PKEY_get_size(k->pkey);
    OHSM_ENSURE(size > 0, OHSM_KEY_TYPE_INCONSISTENT);
    *kb = (size_t)size;
    *oaep = *m;
    oaep->mech = OHSM_M_RSA_OAEP;
    return OHSM_OK;
}

static void aes_parts(const uint8_t *key, size_t len, struct ohsm_mech_key *ak,
                      struct ohsm_mech_params *kwp)
{
    memset(ak, 0, sizeof(*ak));
    memset(kwp, 0, sizeof(*kwp));
    ak->cls = OHSM_CLASS_SECRET;
    ak->ktype = OHSM_KT_AES;
    ak->raw = key;
    ak->raw_len = len;
    kwp->mech = OHSM_M_AES_KWP;
}

ohsm_rv ohsm_mech_rsa_aes_wrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                               const uint8_t *material, size_t len, uint8_t *out, size_t cap,
                               size_t *out_len)
{
    uint8_t aes[RSA_AES_KEY_LEN];
    struct ohsm_mech_params oaep;
    struct ohsm_mech_params kwp;
    struct ohsm_mech_key ak;
    size_t kb = 0;
    size_t n1 = 0;
    size_t n2 = 0;
    ohsm_rv rv;

    OHSM_TRY(rsa_parts(k, m, &oaep, &kb));
    OHSM_ENSURE(len > 0 && len <= SIZE_MAX / 2 - kb, OHSM_DATA_LEN_RANGE);
    size_t needed = kb + (len + KW_BLOCK - 1) / KW_BLOCK * KW_BLOCK + KW_BLOCK;
    OHSM_TRY(ohsm_mech_too_small(needed, out == NULL ? 0 : cap, out_len));
    OHSM_ENSURE(RAND_priv_bytes(aes, sizeof(aes)) == 1, ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
    rv = ohsm_mech_rsa_encrypt(k, &oaep, aes, sizeof(aes), out, kb, &n1);
    if (rv == OHSM_OK && n1 != kb) {
        rv = OHSM_DEVICE_ERROR;
    }
    if (rv == OHSM_OK) {
        aes_parts(aes, sizeof(aes), &ak, &kwp);
        rv = ohsm_mech_kw_wrap(&ak, &kwp, material, len, out + kb, cap - kb, &n2);
    }
    if (rv == OHSM_OK) {
        *out_len = kb + n2;
    } else if (rv != OHSM_BUFFER_TOO_SMALL) {
        OPENSSL_cleanse(out, cap);
    }
    OPENSSL_cleanse(aes, sizeof(aes));
    return rv;
}

ohsm_rv ohsm_mech_rsa_aes_unwrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                                 const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    uint8_t aes[64];
    struct ohsm_mech_params oaep;
    struct ohsm_mech_params kwp;
    struct ohsm_mech_key ak;
    size_t kb = 0;
    size_t alen = 0;
    ohsm_rv rv;

    OHSM_TRY(rsa_parts(k, m, &oaep, &kb));
    OHSM_ENSURE(k->cls == OHSM_CLASS_PRIVATE, OHSM_KEY_TYPE_INCONSISTENT);
    /* RFC 5649 output is at least two blocks. */
    OHSM_ENSURE(in != NULL && in_len >= kb + 2 * KW_BLOCK, OHSM_WRAPPED_KEY_INVALID);
    rv = ohsm_mech_rsa_decrypt(k, &oaep, in, kb, aes, sizeof(aes), &alen);
    if (rv == OHSM_ENCRYPTED_DATA_INVALID || rv == OHSM_ENCRYPTED_DATA_LEN_RANGE ||
        rv == OHSM_BUFFER_TOO_SMALL || (rv == OHSM_OK && alen != 16 && alen != 24 && alen != 32)) {
        rv = OHSM_WRAPPED_KEY_INVALID;
    }
    if (rv == OHSM_OK) {
        aes_parts(aes, alen, &ak, &kwp);
        rv = ohsm_mech_kw_unwrap(&ak, &kwp, in + kb, in_len - kb, out, cap, out_len);
    }
    OPENSSL_cleanse(aes, sizeof(aes));
    return rv;
}
