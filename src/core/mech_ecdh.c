/* SPDX-License-Identifier: Apache-2.0
 *
 * Key derivation: elliptic-curve Diffie-Hellman (PKCS#11 CKM_ECDH1_DERIVE) over OpenSSL 3 EVP,
 * with the ANSI X9.63 KDF (PKCS#11 CKD_SHAx_KDF) or none (CKD_NULL). The peer's point comes from
 * the wire and is untrusted: its length and form are checked here and OpenSSL checks that it is on
 * the curve (EVP_PKEY_fromdata, then EVP_PKEY_derive_set_peer_ex with validation). The private key
 * is trusted (loaded through ohsm_mech_pkey_load) and only read. The shared secret lives in a stack
 * buffer wiped on every path. Stateless and thread-safe.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "openhsm/mech.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "core/mech_int.h"

#define ECDH_FIELD_MAX 66 /* P-521: the largest shared secret, in bytes */
#define GROUP_NAME_MAX 64

static bool is_ec_private(const struct ohsm_mech_key *k)
{
    return k->cls == OHSM_CLASS_PRIVATE && k->ktype == OHSM_KT_EC && k->pkey != NULL &&
           EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_EC;
}

ohsm_rv ohsm_mech_x963_kdf(uint32_t hash, const uint8_t *z, size_t z_len, const uint8_t *info,
                           size_t info_len, uint8_t *out, size_t out_len)
{
    const EVP_MD *md = ohsm_mech_md_of(hash);
    OSSL_PARAM p[4];
    size_t n = 0;

    OHSM_ENSURE(md != NULL, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(z != NULL && z_len > 0 && out != NULL && out_len > 0 &&
                    (info != NULL || info_len == 0),
                OHSM_ARGUMENTS_BAD);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "X963KDF", NULL);
    EVP_KDF_CTX *ctx = kdf == NULL ? NULL : EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf); /* the context holds its own reference */
    if (ctx == NULL) {
        return ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
    }
    /* The params borrow; the casts drop const only for OpenSSL's generic OSSL_PARAM type. */
    p[n++] =
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0);
    p[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len);
    if (info_len > 0) {
        p[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    }
    p[n] = OSSL_PARAM_construct_end();
    ohsm_rv rv = EVP_KDF_derive(ctx, out, out_len, p) == 1 ? OHSM_OK
                                                           : ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
    EVP_KDF_CTX_free(ctx); /* OpenSSL wipes the key it copied */
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(out, out_len);
    }
    return rv;
}

/* The peer's point as a public key on own's curve. Only the uncompressed form is taken (PKCS#11
 * passes the point as CKA_EC_POINT's value; the provider unwraps any DER OCTET STRING). */
static ohsm_rv peer_key(EVP_PKEY *own, const uint8_t *pt, size_t len, EVP_PKEY **out)
{
    char group[GROUP_NAME_MAX];
    size_t glen = 0;
    size_t field = ((size_t)EVP_PKEY_get_bits(own) + 7) / 8;
    EVP_PKEY *pk = NULL;

    OHSM_ENSURE(field > 0 && field <= ECDH_FIELD_MAX, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(len == 1 + 2 * field && pt[0] == 0x04, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(EVP_PKEY_get_utf8_string_param(own, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                               sizeof(group), &glen) == 1,
                ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
    OSSL_PARAM p[3] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, glen),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, len),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OHSM_ENSURE(ctx != NULL, ohsm_mech_ossl_fail(OHSM_HOST_MEMORY));
    /* fromdata decodes the point, refusing one that is not on the curve. */
    bool ok = EVP_PKEY_fromdata_init(ctx) == 1 &&
              EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, p) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(pk);
        return ohsm_mech_ossl_fail(OHSM_MECHANISM_PARAM_INVALID);
    }
    *out = pk;
    return OHSM_OK;
}

/* Z = x coordinate of d * peer, field-size bytes (OpenSSL pads it: SEC 1 §3.3.1 step 3). */
static ohsm_rv shared_secret(const struct ohsm_mech_key *k, const uint8_t *pt, size_t len,
                             uint8_t z[ECDH_FIELD_MAX], size_t *z_len)
{
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    ohsm_rv rv;

    OHSM_TRY(peer_key(k->pkey, pt, len, &peer));
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1) {
        rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    /* validate = 1: the full public-key check (SP 800-56A §5.6.2.3.3) on top of fromdata's. */
    if (EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) != 1) {
        rv = ohsm_mech_ossl_fail(OHSM_MECHANISM_PARAM_INVALID);
        goto out;
    }
    size_t n = ECDH_FIELD_MAX;
    if (EVP_PKEY_derive(ctx, z, &n) != 1 || n == 0) {
        OPENSSL_cleanse(z, ECDH_FIELD_MAX);
        rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    *z_len = n;
    rv = OHSM_OK;
out:
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return rv;
}

ohsm_rv ohsm_mech_ecdh(const struct ohsm_mech_key *k, const uint8_t *peer_point, size_t peer_len,
                       uint32_t kdf_hash, const uint8_t *shared_info, size_t shared_len,
                       uint8_t *out, size_t out_len)
{
    uint8_t z[ECDH_FIELD_MAX];
    size_t z_len = 0;
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE((peer_point != NULL || peer_len == 0) && (shared_info != NULL || shared_len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(is_ec_private(k), OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(kdf_hash == OHSM_H_NONE || ohsm_mech_md_of(kdf_hash) != NULL,
                OHSM_MECHANISM_PARAM_INVALID);
    /* PKCS#11 3.0 §2.3.16: with CKD_NULL there is no shared data. */
    OHSM_ENSURE(kdf_hash != OHSM_H_NONE || shared_len == 0, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(out_len > 0 && out_len <= OHSM_GENERIC_SECRET_MAX, OHSM_KEY_SIZE_RANGE);
    OHSM_ENSURE(peer_len > 0, OHSM_MECHANISM_PARAM_INVALID);
    rv = shared_secret(k, peer_point, peer_len, z, &z_len);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (kdf_hash == OHSM_H_NONE) {
        /* CKD_NULL: the secret itself; a shorter key takes its leading bytes. */
        if (out_len > z_len) {
            rv = OHSM_KEY_SIZE_RANGE;
            goto out;
        }
        memcpy(out, z, out_len);
    } else {
        rv = ohsm_mech_x963_kdf(kdf_hash, z, z_len, shared_info, shared_len, out, out_len);
    }
out:
    OPENSSL_cleanse(z, sizeof(z));
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(out, out_len);
    }
    return rv;
}
