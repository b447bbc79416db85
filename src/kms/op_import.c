/* SPDX-License-Identifier: Apache-2.0
 *
 * Imported key material: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.
 * GetParametersForImport makes a fresh RSA wrapping key pair per call (private half sealed under
 * the service root key, valid 24 hours) and an import token naming the key and that pair.
 * ImportKeyMaterial unwraps (RSAES_OAEP_SHA_1/256 or RSA_AES_KEY_WRAP_SHA_1/256), checks the
 * material against the key spec, and stores it sealed; a key takes only the material first
 * imported into it (its KeyMaterialId is derived from the key id and the material, as AWS does).
 * Expiry (ValidTo) is the scheduler's (sched.c).
 *
 * Import token (base64 in JSON): "OHIT" || 0x01 || key id (16) || token id (32 random bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "kms/blob.h"
#include "kms/kms_int.h"

#define TOKEN_LEN (4 + 1 + 16 + 32)
#define PARAMS_TTL 86400             /* import parameters are valid for 24 hours */
#define VALID_TO_MAX (365LL * 86400) /* ValidTo at most 365 days ahead */

static const char hex[] = "0123456789abcdef";

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static size_t import_aad(const char *key_id, const char *token_id, uint8_t *out, size_t cap)
{
    int n = snprintf((char *)out, cap, "openhsm-kms-import:%s:%s", key_id, token_id);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* The KeyMaterialId of imported material: SHA-256 over a domain label, the key id and the
 * material, in hex. */
static ohsm_rv import_id(const char *key_id, const uint8_t *m, size_t len, char out[65])
{
    static const char label[] = "openhsm-kms-imported-material-v1";
    uint8_t d[32];
    unsigned dl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ohsm_rv rv = OHSM_DEVICE_ERROR;

    if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(c, label, sizeof(label)) == 1 &&
        EVP_DigestUpdate(c, key_id, strlen(key_id)) == 1 && EVP_DigestUpdate(c, m, len) == 1 &&
        EVP_DigestFinal_ex(c, d, &dl) == 1 && dl == 32) {
        to_hex(d, 32, out);
        rv = OHSM_OK;
    }
    EVP_MD_CTX_free(c);
    return rv;
}

OHSM_KMS_HANDLER(ohsm_kms_op_get_parameters_for_import)
{
    struct ohsm_kms_key key;
    struct ohsm_kms_import p;
    const char *alg_s = ohsm_kms_str(in, "WrappingAlgorithm");
    const char *spec_s = ohsm_kms_str(in, "WrappingKeySpec");
    uint8_t *priv = NULL, *pub = NULL, token[TOKEN_LEN], aad[160];
    size_t priv_len = 0, pub_len = 0;
    uint32_t bits, alg;
    json_t *out = NULL;
    ohsm_rv rv;

    memset(&p, 0, sizeof(p));
    alg = ohsm_kms_wrap_alg_from(alg_s);
    bits = spec_s == NULL                    ? 0
           : strcmp(spec_s, "RSA_2048") == 0 ? 2048
           : strcmp(spec_s, "RSA_3072") == 0 ? 3072
           : strcmp(spec_s, "RSA_4096") == 0 ? 4096
                                             : 0;
    if (alg == OHSM_KALG_NONE || bits == 0) {
        return ohsm_kms_fail(err, "UnsupportedOperationException",
                             "WrappingAlgorithm %s with WrappingKeySpec %s is not supported by "
                             "openhsm.",
                             alg_s != NULL ? alg_s : "", spec_s != NULL ? spec_s : "");
    }
    if (alg == OHSM_KALG_WRAP_RSAES_PKCS1_V1_5) {
        return ohsm_kms_fail(err, "ValidationException",
                             "The RSAES_PKCS1_V1_5 wrapping algorithm is deprecated and no longer "
                             "supported.");
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_GET_PARAMETERS_FOR_IMPORT, &key,
                     x, err) != 0) {
        goto unlock;
    }
    memcpy(token, "OHIT\x01", 5);
    if (ohsm_kms_uuid_parse(key.id, token + 5) != OHSM_OK || RAND_bytes(token + 21, 32) != 1) {
        ohsm_kms_internal(err, "import token", OHSM_DEVICE_ERROR);
        goto done;
    }
    memcpy(p.key_id, key.id, sizeof(p.key_id));
    to_hex(token + 21, 32, p.token_id);
    p.wrapping_alg = alg;
    p.wrapping_spec = bits;
    p.expires = ohsm_kms_now(k) + PARAMS_TTL;
    rv = ohsm_kms_wrapping_pair(bits, &priv, &priv_len, &pub, &pub_len);
    if (rv == OHSM_OK) {
        size_t aad_len = import_aad(key.id, p.token_id, aad, sizeof(aad));
        rv = k->sealer.seal(k->sealer.ctx, aad, aad_len, priv, priv_len, &p.sealed_private,
                            &p.sealed_private_len);
    }
    if (rv == OHSM_OK) {
        rv = ohsm_kms_store_import_put(k->store, &p);
    }
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "import parameters", rv);
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    ohsm_kms_b64_set(out, "ImportToken", token, sizeof(token));
    ohsm_kms_b64_set(out, "PublicKey", pub, pub_len);
    json_object_set_new(out, "ParametersValidTo", json_integer(p.expires));
    x->response_trail = json_pack("{s:I}", "parametersValidTo", (json_int_t)p.expires);
done:
    ohsm_kms_bytes_free(priv, priv_len);
    free(pub);
    ohsm_kms_import_clear(&p);
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

/* Checks the token against the key's stored parameters and unwraps the material. */
static int unwrap(struct ohsm_kms *k, const struct ohsm_kms_key *key, json_t *in, uint8_t **mat,
                  size_t *mat_len, struct ohsm_aws_err *err)
{
    struct ohsm_kms_import p;
    uint8_t *token = NULL, *wrapped = NULL, *priv = NULL, aad[160], kid[16];
    size_t token_len = 0, wrapped_len = 0, priv_len = 0;
    char token_id[65];
    int ret = -1;
    ohsm_rv rv;

    memset(&p, 0, sizeof(p));
    if (ohsm_kms_b64_get(in, "ImportToken", false, &token, &token_len, err) != 0 ||
        ohsm_kms_b64_get(in, "EncryptedKeyMaterial", false, &wrapped, &wrapped_len, err) != 0) {
        goto out;
    }
    if (token_len != TOKEN_LEN || memcmp(token, "OHIT\x01", 5) != 0 ||
        ohsm_kms_uuid_parse(key->id, kid) != OHSM_OK || memcmp(kid, token + 5, 16) != 0) {
        ohsm_kms_fail(err, "InvalidImportTokenException",
                      "The import token is not valid for this KMS key.");
        goto out;
    }
    to_hex(token + 21, 32, token_id);
    if (ohsm_kms_store_import_get(k->store, key->id, &p) != OHSM_OK ||
        CRYPTO_memcmp(p.token_id, token_id, 64) != 0) {
        ohsm_kms_fail(err, "InvalidImportTokenException",
                      "The import token is not valid for this KMS key (a newer "
                      "GetParametersForImport replaced it).");
        goto out;
    }
    if (p.expires <= ohsm_kms_now(k)) {
        ohsm_kms_fail(err, "ExpiredImportTokenException",
                      "The import token has expired. Call GetParametersForImport again.");
        goto out;
    }
    priv = OPENSSL_secure_malloc(p.sealed_private_len);
    if (priv == NULL) {
        ohsm_kms_internal(err, "unwrap", OHSM_HOST_MEMORY);
        goto out;
    }
    size_t aad_len = import_aad(key->id, p.token_id, aad, sizeof(aad));
    rv = k->sealer.unseal(k->sealer.ctx, aad, aad_len, p.sealed_private, p.sealed_private_len, priv,
                          p.sealed_private_len, &priv_len);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "the wrapping key could not be unsealed", rv);
        goto out;
    }
    rv = ohsm_kms_import_unwrap(priv, priv_len, p.wrapping_alg, wrapped, wrapped_len, mat, mat_len);
    if (rv != OHSM_OK) {
        ohsm_kms_fail(err, "InvalidCiphertextException",
                      "The encrypted key material could not be decrypted with the wrapping key "
                      "and algorithm of this import token.");
        goto out;
    }
    ret = 0;
out:
    if (priv != NULL) {
        OPENSSL_secure_clear_free(priv, p.sealed_private_len);
    }
    ohsm_kms_import_clear(&p);
    free(token);
    free(wrapped);
    return ret;
}

OHSM_KMS_HANDLER(ohsm_kms_op_import_key_material)
{
    struct ohsm_kms_key key;
    const char *model = ohsm_kms_str(in, "ExpirationModel");
    const char *itype = ohsm_kms_str(in, "ImportType");
    const char *want_id = ohsm_kms_str(in, "KeyMaterialId");
    json_t *vt = json_object_get(in, "ValidTo");
    bool expires = model == NULL || strcmp(model, "KEY_MATERIAL_EXPIRES") == 0;
    uint8_t *mat = NULL;
    size_t mat_len = 0;
    char mid[65];
    int64_t now, valid_to = 0;
    json_t *out = NULL;
    ohsm_rv rv;

    if (itype != NULL && strcmp(itype, "EXISTING_KEY_MATERIAL") != 0) {
        return ohsm_kms_fail(err, "UnsupportedOperationException",
                             "ImportType %s (on-demand rotation with imported material) is not "
                             "supported by openhsm.",
                             itype);
    }
    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_IMPORT_KEY_MATERIAL, &key, x,
                     err) != 0) {
        goto unlock;
    }
    now = ohsm_kms_now(k);
    if (expires) {
        if (!json_is_number(vt)) {
            ohsm_kms_fail(err, "ValidationException",
                          "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.");
            goto done;
        }
        valid_to = (int64_t)json_number_value(vt);
        if (valid_to <= now || valid_to > now + VALID_TO_MAX) {
            ohsm_kms_fail(err, "ValidationException",
                          "ValidTo must be in the future and at most 365 days from now.");
            goto done;
        }
    } else if (vt != NULL) {
        ohsm_kms_fail(err, "ValidationException",
                      "ValidTo is allowed only when ExpirationModel is KEY_MATERIAL_EXPIRES.");
        goto done;
    }
    if (unwrap(k, &key, in, &mat, &mat_len, err) != 0) {
        goto done;
    }
    if (ohsm_kms_material_check(key.spec, mat, mat_len) != OHSM_OK) {
        ohsm_kms_fail(err, "IncorrectKeyMaterialException",
                      "The key material does not fit key spec %s.", ohsm_kms_spec_name(key.spec));
        goto done;
    }
    if (import_id(key.id, mat, mat_len, mid) != OHSM_OK) {
        ohsm_kms_internal(err, "key material id", OHSM_DEVICE_ERROR);
        goto done;
    }
    if ((key.import_id[0] != '\0' && strcmp(key.import_id, mid) != 0) ||
        (want_id != NULL && strcmp(want_id, mid) != 0)) {
        ohsm_kms_fail(err, "IncorrectKeyMaterialException",
                      "The key material is not the key material previously imported into %s.",
                      x->key_arn);
        goto done;
    }
    /* One version: a reimport of the same material replaces it, so every ciphertext made under
     * it decrypts again. */
    rv = ohsm_kms_store_begin(k->store);
    if (rv == OHSM_OK) {
        rv = ohsm_kms_store_material_delete_all(k->store, key.id);
        if (rv == OHSM_OK) {
            rv = ohsm_kms_mat_store(k, key.id, 1, OHSM_MKIND_IMPORTED, mat, mat_len, mid, NULL);
        }
        if (rv == OHSM_OK) {
            memcpy(key.import_id, mid, sizeof(key.import_id));
            key.cur_version = 1;
            key.expiration = expires ? OHSM_KEXP_EXPIRES : OHSM_KEXP_DOES_NOT_EXPIRE;
            key.valid_to = valid_to;
            if (key.state == OHSM_KSTATE_PENDING_IMPORT) {
                key.state = key.saved_state = OHSM_KSTATE_ENABLED;
            }
            rv = ohsm_kms_store_key_put(k->store, &key);
        }
        if (rv == OHSM_OK) {
            rv = ohsm_kms_store_commit(k->store);
        } else {
            ohsm_kms_store_rollback(k->store);
        }
    }
    if (rv == OHSM_OK) {
        ohsm_kms_mat_forget(k, key.id);
        rv = ohsm_kms_tab_remember(k, &key);
    }
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "storing the key material", rv);
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    json_object_set_new(out, "KeyMaterialId", json_string(mid));
done:
    ohsm_kms_bytes_free(mat, mat_len);
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_delete_imported_key_material)
{
    struct ohsm_kms_key key;
    const char *want_id = ohsm_kms_str(in, "KeyMaterialId");
    json_t *out = NULL;
    ohsm_rv rv;

    (void)pthread_mutex_lock(&k->write_lock);
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_DELETE_IMPORTED_KEY_MATERIAL,
                     &key, x, err) != 0) {
        goto unlock;
    }
    if (want_id != NULL && strcmp(want_id, key.import_id) != 0) {
        ohsm_kms_fail(err, "NotFoundException", "Key material %s is not found in %s.", want_id,
                      x->key_arn);
        goto done;
    }
    if (key.cur_version != 0) {
        /* The material and the key record change in one transaction: a crash between them
         * must not leave a key that names material it no longer has. */
        key.cur_version = 0;
        key.valid_to = 0;
        if (key.state != OHSM_KSTATE_PENDING_DELETION) {
            key.state = OHSM_KSTATE_PENDING_IMPORT;
        }
        key.saved_state = OHSM_KSTATE_PENDING_IMPORT;
        rv = ohsm_kms_store_begin(k->store);
        if (rv == OHSM_OK) {
            rv = ohsm_kms_store_material_delete_all(k->store, key.id);
            if (rv == OHSM_OK) {
                rv = ohsm_kms_store_key_put(k->store, &key);
            }
            if (rv == OHSM_OK) {
                rv = ohsm_kms_store_commit(k->store);
            } else {
                ohsm_kms_store_rollback(k->store);
            }
        }
        if (rv == OHSM_OK) {
            /* The table first (new callers see PendingImport), then the cached material. */
            rv = ohsm_kms_tab_remember(k, &key);
            ohsm_kms_mat_forget(k, key.id);
        }
        if (rv != OHSM_OK) {
            ohsm_kms_internal(err, "deleting the key material", rv);
            goto done;
        }
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    if (key.import_id[0] != '\0') {
        json_object_set_new(out, "KeyMaterialId", json_string(key.import_id));
    }
done:
    ohsm_kms_key_clear(&key);
unlock:
    (void)pthread_mutex_unlock(&k->write_lock);
    return out;
}
