/* SPDX-License-Identifier: Apache-2.0
 *
 * Asymmetric and MAC handlers: Sign, Verify, GetPublicKey, GenerateDataKeyPair(WithoutPlaintext),
 * GenerateMac, VerifyMac. The cryptography is kcrypto.c's; here are the rules between fields: the
 * key's usage, the algorithm against the key spec, MessageType, and AWS's failure exceptions
 * (Verify: KMSInvalidSignatureException; VerifyMac: KMSInvalidMacException, never "false").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/blob.h"
#include "kms/kms_int.h"

static bool alg_in(const uint32_t *algs, size_t n, uint32_t alg)
{
    for (size_t i = 0; i < n && algs[i] != 0; i++) {
        if (algs[i] == alg) {
            return alg != 0;
        }
    }
    return false;
}

/* Key (usage SIGN_VERIFY), signing algorithm and MessageType of a Sign/Verify request. */
static int sign_setup(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,
                      uint32_t op, struct ohsm_kms_key *key, uint32_t *alg, bool *digest,
                      struct ohsm_kms_ctx *x, struct ohsm_aws_err *err)
{
    const char *alg_s = ohsm_kms_str(in, "SigningAlgorithm");
    const char *mt = ohsm_kms_str(in, "MessageType");

    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), op, key, x, err) != 0) {
        return -1;
    }
    if (ohsm_kms_need_usage(key, OHSM_KUSE_SIGN_VERIFY, err) != 0) {
        goto fail;
    }
    *alg = ohsm_kms_sign_alg_from(alg_s);
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(key->spec);
    if (si == NULL || !alg_in(si->sign_algs, 7, *alg)) {
        ohsm_kms_fail(err, "InvalidKeyUsageException",
                      "Algorithm %s is incompatible with key spec %s.", alg_s != NULL ? alg_s : "",
                      ohsm_kms_spec_name(key->spec));
        goto fail;
    }
    *digest = mt != NULL && strcmp(mt, "DIGEST") == 0;
    return 0;
fail:
    ohsm_kms_key_clear(key);
    return -1;
}

OHSM_KMS_HANDLER(ohsm_kms_op_sign)
{
    struct ohsm_kms_key key;
    uint32_t alg = 0;
    bool digest = false;
    uint8_t *msg = NULL, *sig = NULL;
    size_t msg_len = 0, sig_len = 0;
    struct ohsm_kms_cached *c = NULL;
    json_t *out = NULL;
    ohsm_rv rv;

    if (sign_setup(k, call, in, OHSM_KOP_SIGN, &key, &alg, &digest, x, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_b64_get(in, "Message", false, &msg, &msg_len, err) != 0 ||
        ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    rv = ohsm_kms_mat_get(k, &key, 0, &c);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "the key material could not be loaded", rv);
        goto done;
    }
    rv = ohsm_kms_sign(ohsm_kms_mat_kmat(c), alg, digest, msg, msg_len, &sig, &sig_len);
    if (rv == OHSM_DATA_LEN_RANGE) {
        ohsm_kms_fail(err, "ValidationException", "Digest is invalid length for algorithm %s.",
                      ohsm_kms_alg_name(alg));
        goto done;
    }
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "signing", rv);
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    ohsm_kms_b64_set(out, "Signature", sig, sig_len);
    json_object_set_new(out, "SigningAlgorithm", json_string(ohsm_kms_alg_name(alg)));
done:
    ohsm_kms_mat_release(k, c);
    free(msg);
    free(sig);
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_verify)
{
    struct ohsm_kms_key key;
    uint32_t alg = 0;
    bool digest = false;
    uint8_t *msg = NULL, *sig = NULL;
    size_t msg_len = 0, sig_len = 0;
    struct ohsm_kms_cached *c = NULL;
    json_t *out = NULL;
    ohsm_rv rv;

    if (sign_setup(k, call, in, OHSM_KOP_VERIFY, &key, &alg, &digest, x, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_b64_get(in, "Message", false, &msg, &msg_len, err) != 0 ||
        ohsm_kms_b64_get(in, "Signature", false, &sig, &sig_len, err) != 0 ||
        ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    rv = ohsm_kms_mat_get(k, &key, 0, &c);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "the key material could not be loaded", rv);
        goto done;
    }
    rv = ohsm_kms_verify(ohsm_kms_mat_kmat(c), alg, digest, msg, msg_len, sig, sig_len);
    if (rv == OHSM_DATA_LEN_RANGE) {
        ohsm_kms_fail(err, "ValidationException", "Digest is invalid length for algorithm %s.",
                      ohsm_kms_alg_name(alg));
        goto done;
    }
    if (rv != OHSM_OK) {
        ohsm_kms_fail(err, "KMSInvalidSignatureException", "%s", "");
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    json_object_set_new(out, "SignatureValid", json_true());
    json_object_set_new(out, "SigningAlgorithm", json_string(ohsm_kms_alg_name(alg)));
done:
    ohsm_kms_mat_release(k, c);
    free(msg);
    free(sig);
    ohsm_kms_key_clear(&key);
    return out;
}

static json_t *alg_list(const uint32_t *algs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n && algs[i] != 0; i++) {
        json_array_append_new(a, json_string(ohsm_kms_alg_name(algs[i])));
    }
    return a;
}

OHSM_KMS_HANDLER(ohsm_kms_op_get_public_key)
{
    struct ohsm_kms_key key;
    struct ohsm_kms_cached *c = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0;
    json_t *out = NULL;
    ohsm_rv rv;

    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_GET_PUBLIC_KEY, &key, x, err) !=
        0) {
        return NULL;
    }
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(key.spec);
    if (key.spec == OHSM_KSPEC_SYMMETRIC_DEFAULT || key.usage == OHSM_KUSE_GENERATE_VERIFY_MAC ||
        si == NULL) {
        ohsm_kms_fail(err, "UnsupportedOperationException", "%s key spec %s has no public key.",
                      x->key_arn, ohsm_kms_spec_name(key.spec));
        goto done;
    }
    rv = ohsm_kms_mat_get(k, &key, 0, &c);
    if (rv == OHSM_OK) {
        rv = ohsm_kms_public_der(ohsm_kms_mat_kmat(c), &der, &der_len);
    }
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "the public key could not be read", rv);
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    ohsm_kms_b64_set(out, "PublicKey", der, der_len);
    json_object_set_new(out, "CustomerMasterKeySpec", json_string(ohsm_kms_spec_name(key.spec)));
    json_object_set_new(out, "KeySpec", json_string(ohsm_kms_spec_name(key.spec)));
    json_object_set_new(out, "KeyUsage", json_string(ohsm_kms_usage_name(key.usage)));
    if (key.usage == OHSM_KUSE_ENCRYPT_DECRYPT) {
        json_object_set_new(out, "EncryptionAlgorithms", alg_list(si->enc_algs, 3));
    } else {
        json_object_set_new(out, "SigningAlgorithms", alg_list(si->sign_algs, 7));
    }
done:
    ohsm_kms_mat_release(k, c);
    free(der);
    ohsm_kms_key_clear(&key);
    return out;
}

static json_t *data_key_pair(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,
                             struct ohsm_kms_ctx *x, struct ohsm_aws_err *err, bool plaintext)
{
    struct ohsm_kms_key key;
    const char *spec_s = ohsm_kms_str(in, "KeyPairSpec");
    uint32_t spec = ohsm_kms_spec_from(spec_s);
    uint8_t *priv = NULL, *pub = NULL, *blob = NULL;
    size_t priv_len = 0, pub_len = 0, blob_len = 0;
    char material_id[OHSM_KMS_MATERIAL_ID_LEN + 1];
    json_t *out = NULL;
    ohsm_rv rv;

    if (ohsm_kms_no_recipient(in, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_GENERATE_DATA_KEY_PAIR, &key, x,
                     err) != 0) {
        return NULL;
    }
    if (key.spec != OHSM_KSPEC_SYMMETRIC_DEFAULT || key.usage != OHSM_KUSE_ENCRYPT_DECRYPT) {
        ohsm_kms_fail(err, "InvalidKeyUsageException",
                      "%s key spec is %s which is not valid for GenerateDataKeyPair. Only "
                      "symmetric encryption KMS keys can generate data key pairs.",
                      x->key_arn, ohsm_kms_spec_name(key.spec));
        goto done;
    }
    if (key.origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
        ohsm_kms_fail(err, "UnsupportedOperationException",
                      "%s is in a custom key store: KMS keys in a custom key store cannot "
                      "generate data key pairs.",
                      x->key_arn);
        goto done;
    }
    if (spec == OHSM_KSPEC_NONE || spec == OHSM_KSPEC_SYMMETRIC_DEFAULT ||
        spec >= OHSM_KSPEC_HMAC_224) {
        ohsm_kms_fail(err, "UnsupportedOperationException",
                      "KeyPairSpec %s is not supported by openhsm.", spec_s != NULL ? spec_s : "");
        goto done;
    }
    if (ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    rv = ohsm_kms_data_key_pair(spec, &priv, &priv_len, &pub, &pub_len);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "data key pair", rv);
        goto done;
    }
    blob = malloc(priv_len + OHSM_KMS_BLOB_OVERHEAD);
    if (blob == NULL) {
        ohsm_kms_internal(err, "blob", OHSM_HOST_MEMORY);
        goto done;
    }
    if (ohsm_kms_sym_encrypt(k, &key, json_object_get(in, "EncryptionContext"), priv, priv_len,
                             blob, &blob_len, material_id, err) != 0) {
        goto done;
    }
    out = json_object();
    ohsm_kms_b64_set(out, "PrivateKeyCiphertextBlob", blob, blob_len);
    if (plaintext) {
        ohsm_kms_b64_set(out, "PrivateKeyPlaintext", priv, priv_len);
    }
    ohsm_kms_b64_set(out, "PublicKey", pub, pub_len);
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    json_object_set_new(out, "KeyPairSpec", json_string(spec_s));
    json_object_set_new(out, "KeyMaterialId", json_string(material_id));
done:
    ohsm_kms_bytes_free(priv, priv_len);
    free(pub);
    free(blob);
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_generate_data_key_pair)
{
    return data_key_pair(k, call, in, x, err, true);
}

OHSM_KMS_HANDLER(ohsm_kms_op_generate_data_key_pair_without_plaintext)
{
    return data_key_pair(k, call, in, x, err, false);
}

static int mac_setup(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in, uint32_t op,
                     struct ohsm_kms_key *key, uint32_t *alg, struct ohsm_kms_ctx *x,
                     struct ohsm_aws_err *err)
{
    const char *alg_s = ohsm_kms_str(in, "MacAlgorithm");

    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), op, key, x, err) != 0) {
        return -1;
    }
    if (ohsm_kms_need_usage(key, OHSM_KUSE_GENERATE_VERIFY_MAC, err) != 0) {
        ohsm_kms_key_clear(key);
        return -1;
    }
    *alg = ohsm_kms_mac_alg_from(alg_s);
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(key->spec);
    if (si == NULL || !alg_in(si->mac_algs, 2, *alg)) {
        ohsm_kms_fail(err, "InvalidKeyUsageException",
                      "Algorithm %s is incompatible with key spec %s.", alg_s != NULL ? alg_s : "",
                      ohsm_kms_spec_name(key->spec));
        ohsm_kms_key_clear(key);
        return -1;
    }
    return 0;
}

OHSM_KMS_HANDLER(ohsm_kms_op_generate_mac)
{
    struct ohsm_kms_key key;
    struct ohsm_kms_cached *c = NULL;
    uint32_t alg = 0;
    uint8_t *msg = NULL, mac[64];
    size_t msg_len = 0, mac_len = 0;
    json_t *out = NULL;
    ohsm_rv rv;

    if (mac_setup(k, call, in, OHSM_KOP_GENERATE_MAC, &key, &alg, x, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_b64_get(in, "Message", false, &msg, &msg_len, err) != 0 ||
        ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    rv = ohsm_kms_mat_get(k, &key, 0, &c);
    if (rv == OHSM_OK) {
        rv = ohsm_kms_mac(ohsm_kms_mat_kmat(c), alg, msg, msg_len, mac, sizeof(mac), &mac_len);
    }
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "MAC", rv);
        goto done;
    }
    out = json_object();
    ohsm_kms_b64_set(out, "Mac", mac, mac_len);
    json_object_set_new(out, "MacAlgorithm", json_string(ohsm_kms_alg_name(alg)));
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
done:
    ohsm_kms_mat_release(k, c);
    free(msg);
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_verify_mac)
{
    struct ohsm_kms_key key;
    struct ohsm_kms_cached *c = NULL;
    uint32_t alg = 0;
    uint8_t *msg = NULL, *mac = NULL;
    size_t msg_len = 0, mac_len = 0;
    json_t *out = NULL;
    ohsm_rv rv;

    if (mac_setup(k, call, in, OHSM_KOP_VERIFY_MAC, &key, &alg, x, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_b64_get(in, "Message", false, &msg, &msg_len, err) != 0 ||
        ohsm_kms_b64_get(in, "Mac", false, &mac, &mac_len, err) != 0 ||
        ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    rv = ohsm_kms_mat_get(k, &key, 0, &c);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "the key material could not be loaded", rv);
        goto done;
    }
    rv = ohsm_kms_mac_verify(ohsm_kms_mat_kmat(c), alg, msg, msg_len, mac, mac_len);
    if (rv != OHSM_OK) {
        ohsm_kms_fail(err, "KMSInvalidMacException", "%s", "");
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    json_object_set_new(out, "MacValid", json_true());
    json_object_set_new(out, "MacAlgorithm", json_string(ohsm_kms_alg_name(alg)));
done:
    ohsm_kms_mat_release(k, c);
    free(msg);
    free(mac);
    ohsm_kms_key_clear(&key);
    return out;
}
