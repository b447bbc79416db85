/* SPDX-License-Identifier: Apache-2.0
 *
 * Encryption handlers: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
 * GenerateRandom. Symmetric keys use the blob format of blob.h (AES-256-GCM, the encryption
 * context bound as additional data); RSA keys use RSAES_OAEP_SHA_1/256 with standard ciphertext
 * (no metadata, as AWS: Decrypt then needs KeyId and EncryptionAlgorithm).
 *
 * Plaintexts and data keys live in secure buffers and are wiped on every path; the dispatcher
 * keeps them out of the audit trail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kms/blob.h"
#include "kms/kms_int.h"
#include "openhsm/mech.h"

#define BLOB_MAX (OHSM_KMS_PLAINTEXT_MAX + OHSM_KMS_BLOB_OVERHEAD)

static void secret_free(uint8_t *p, size_t len)
{
    ohsm_kms_bytes_free(p, len);
}

/* The additional data of a symmetric blob: header || canonical context. *aad malloc'd. */
static ohsm_rv make_aad(const uint8_t hdr[OHSM_KMS_BLOB_HDR], json_t *ctx, uint8_t **aad,
                        size_t *aad_len)
{
    uint8_t *enc = NULL, *a;
    size_t enc_len = 0;

    OHSM_TRY(ohsm_kms_context_encode(ctx, &enc, &enc_len));
    a = malloc(OHSM_KMS_BLOB_HDR + enc_len);
    if (a == NULL) {
        free(enc);
        return OHSM_HOST_MEMORY;
    }
    memcpy(a, hdr, OHSM_KMS_BLOB_HDR);
    if (enc_len > 0) {
        memcpy(a + OHSM_KMS_BLOB_HDR, enc, enc_len);
    }
    free(enc);
    *aad = a;
    *aad_len = OHSM_KMS_BLOB_HDR + enc_len;
    return OHSM_OK;
}

int ohsm_kms_sym_encrypt(struct ohsm_kms *k, const struct ohsm_kms_key *key, json_t *ctx,
                         const uint8_t *pt, size_t len, uint8_t *blob, size_t *blob_len,
                         char *material_id, struct ohsm_aws_err *err)
{
    struct ohsm_kms_cached *c = NULL;
    uint8_t *aad = NULL;
    size_t aad_len = 0, n = 0, iv_len = 0;
    uint8_t iv[16];
    int ret = -1;
    ohsm_rv rv;

    if (key->origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
        /* the backing key in the store's cluster: the HSM makes the iv */
        if (ohsm_kms_blob_header(key->id, 1, blob) != OHSM_OK ||
            make_aad(blob, ctx, &aad, &aad_len) != OHSM_OK) {
            ohsm_kms_internal(err, "blob header", OHSM_HOST_MEMORY);
            goto out;
        }
        if (ohsm_kms_cks_encrypt(k, key, aad, aad_len, pt, len, blob + OHSM_KMS_BLOB_HDR, &n,
                                 err) != 0) {
            goto out;
        }
        *blob_len = OHSM_KMS_BLOB_HDR + n;
        if (material_id != NULL) {
            material_id[0] = '\0'; /* no KeyMaterialId for AWS_CLOUDHSM keys */
        }
        ret = 0;
        goto out;
    }
    rv = ohsm_kms_mat_get(k, key, 0, &c);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "the key material could not be loaded", rv);
        goto out;
    }
    if (ohsm_kms_blob_header(key->id, ohsm_kms_mat_version(c), blob) != OHSM_OK ||
        make_aad(blob, ctx, &aad, &aad_len) != OHSM_OK) {
        ohsm_kms_internal(err, "blob header", OHSM_HOST_MEMORY);
        goto out;
    }
    struct ohsm_mech_params p = {.mech = OHSM_M_AES_GCM, .aad = aad, .aad_len = aad_len};
    rv = ohsm_mech_encrypt(ohsm_kms_kmat_mech(ohsm_kms_mat_kmat(c)), &p, pt, len,
                           blob + OHSM_KMS_BLOB_HDR + OHSM_KMS_BLOB_IV,
                           BLOB_MAX - OHSM_KMS_BLOB_HDR - OHSM_KMS_BLOB_IV, &n, iv, sizeof(iv),
                           &iv_len);
    if (rv != OHSM_OK || iv_len != OHSM_KMS_BLOB_IV) {
        ohsm_kms_internal(err, "encryption", rv);
        goto out;
    }
    memcpy(blob + OHSM_KMS_BLOB_HDR, iv, OHSM_KMS_BLOB_IV);
    *blob_len = OHSM_KMS_BLOB_HDR + OHSM_KMS_BLOB_IV + n;
    if (material_id != NULL) {
        memcpy(material_id, ohsm_kms_mat_id(c), OHSM_KMS_MATERIAL_ID_LEN + 1);
    }
    ret = 0;
out:
    free(aad);
    ohsm_kms_mat_release(k, c);
    return ret;
}

static json_t *invalid_ciphertext(struct ohsm_aws_err *err)
{
    return ohsm_kms_fail(err, "InvalidCiphertextException", "%s", "");
}

/* Opens a symmetric blob of key into *pt (secure buffer, caller frees with secret_free). */
static int sym_decrypt(struct ohsm_kms *k, const struct ohsm_kms_key *key,
                       const struct ohsm_kms_blob *b, json_t *ctx, uint8_t **pt, size_t *pt_len,
                       char *material_id, struct ohsm_aws_err *err)
{
    struct ohsm_kms_cached *c = NULL;
    uint8_t *aad = NULL, *out = NULL;
    size_t aad_len = 0, n = 0, cap = b->ct_len;
    int ret = -1;
    ohsm_rv rv;

    *pt = NULL;
    *pt_len = 0;
    if (b->version > key->cur_version) {
        invalid_ciphertext(err);
        goto out;
    }
    if (key->origin == OHSM_KORIGIN_AWS_CLOUDHSM) {
        if (make_aad(b->hdr, ctx, &aad, &aad_len) != OHSM_OK) {
            ohsm_kms_internal(err, "aad", OHSM_HOST_MEMORY);
            goto out;
        }
        out = OPENSSL_secure_malloc(cap);
        if (out == NULL) {
            ohsm_kms_internal(err, "plaintext buffer", OHSM_HOST_MEMORY);
            goto out;
        }
        /* the blob holds iv || ciphertext || tag contiguously from b->iv */
        if (ohsm_kms_cks_decrypt(k, key, aad, aad_len, b->iv, OHSM_KMS_BLOB_IV + b->ct_len, out,
                                 &n, err) != 0) {
            goto out;
        }
        if (material_id != NULL) {
            material_id[0] = '\0';
        }
        *pt = out;
        *pt_len = n;
        out = NULL;
        ret = 0;
        goto out;
    }
    rv = ohsm_kms_mat_get(k, key, b->version, &c);
    if (rv == OHSM_KEY_HANDLE_INVALID) {
        invalid_ciphertext(err); /* material deleted (DeleteImportedKeyMaterial) or never made */
        goto out;
    }
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "the key material could not be loaded", rv);
        goto out;
    }
    if (make_aad(b->hdr, ctx, &aad, &aad_len) != OHSM_OK) {
        ohsm_kms_internal(err, "aad", OHSM_HOST_MEMORY);
        goto out;
    }
    out = OPENSSL_secure_malloc(cap);
    if (out == NULL) {
        ohsm_kms_internal(err, "plaintext buffer", OHSM_HOST_MEMORY);
        goto out;
    }
    struct ohsm_mech_params p = {.mech = OHSM_M_AES_GCM,
                                 .iv = b->iv,
                                 .iv_len = OHSM_KMS_BLOB_IV,
                                 .aad = aad,
                                 .aad_len = aad_len};
    rv = ohsm_mech_decrypt(ohsm_kms_kmat_mech(ohsm_kms_mat_kmat(c)), &p, b->ct, b->ct_len, out, cap,
                           &n);
    if (rv != OHSM_OK) {
        invalid_ciphertext(err);
        goto out;
    }
    if (material_id != NULL) {
        memcpy(material_id, ohsm_kms_mat_id(c), OHSM_KMS_MATERIAL_ID_LEN + 1);
    }
    *pt = out;
    *pt_len = n;
    out = NULL;
    ret = 0;
out:
    if (out != NULL) {
        OPENSSL_secure_clear_free(out, cap);
    }
    free(aad);
    ohsm_kms_mat_release(k, c);
    return ret;
}

/* The EncryptionAlgorithm of a request for key (default SYMMETRIC_DEFAULT), checked against the
 * key's algorithms. */
static int enc_alg(const struct ohsm_kms_key *key, const char *name, uint32_t *alg,
                   struct ohsm_aws_err *err)
{
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(key->spec);
    char arn[OHSM_KMS_ARN_MAX];

    *alg = ohsm_kms_enc_alg_from(name != NULL ? name : "SYMMETRIC_DEFAULT");
    for (size_t i = 0; si != NULL && i < 3 && si->enc_algs[i] != 0; i++) {
        if (si->enc_algs[i] == *alg) {
            return 0;
        }
    }
    ohsm_kms_key_arn(key, arn, sizeof(arn));
    ohsm_kms_fail(err, "InvalidKeyUsageException",
                  "%s is not a supported encryption algorithm for the KMS key %s.",
                  name != NULL ? name : "SYMMETRIC_DEFAULT", arn);
    return -1;
}

static int no_context_for_asym(json_t *in, const char *field, struct ohsm_aws_err *err)
{
    json_t *c = json_object_get(in, field);
    if (json_is_object(c) && json_object_size(c) > 0) {
        ohsm_kms_fail(err, "ValidationException", "%s is not supported with asymmetric KMS keys.",
                      field);
        return -1;
    }
    return 0;
}

/* Encrypts pt with key (symmetric or RSA) into a new malloc'd *ct. */
static int encrypt_any(struct ohsm_kms *k, const struct ohsm_kms_key *key, uint32_t alg,
                       json_t *ctx, const uint8_t *pt, size_t len, uint8_t **ct, size_t *ct_len,
                       char *material_id, struct ohsm_aws_err *err)
{
    char arn[OHSM_KMS_ARN_MAX];
    const struct ohsm_kms_spec_info *si = ohsm_kms_spec_info(key->spec);

    *ct = NULL;
    if (alg == OHSM_KALG_SYMMETRIC_DEFAULT) {
        uint8_t *blob = malloc(BLOB_MAX);
        if (blob == NULL) {
            ohsm_kms_internal(err, "blob", OHSM_HOST_MEMORY);
            return -1;
        }
        if (len > OHSM_KMS_PLAINTEXT_MAX) {
            free(blob);
            ohsm_kms_fail(err, "ValidationException",
                          "1 validation error detected: Value at 'plaintext' failed to satisfy "
                          "constraint: Member must have length less than or equal to 4096");
            return -1;
        }
        if (ohsm_kms_sym_encrypt(k, key, ctx, pt, len, blob, ct_len, material_id, err) != 0) {
            free(blob);
            return -1;
        }
        *ct = blob;
        return 0;
    }
    size_t limit = si != NULL ? si->max_plaintext[alg == si->enc_algs[0] ? 0 : 1] : 0;
    if (len > limit) {
        ohsm_kms_key_arn(key, arn, sizeof(arn));
        ohsm_kms_fail(err, "ValidationException",
                      "Plaintext of %zu bytes is too long for %s with %s (at most %zu bytes).", len,
                      arn, ohsm_kms_alg_name(alg), limit);
        return -1;
    }
    struct ohsm_kms_cached *c = NULL;
    ohsm_rv rv = ohsm_kms_mat_get(k, key, 0, &c);
    if (rv == OHSM_OK) {
        rv = ohsm_kms_asym_encrypt(ohsm_kms_mat_kmat(c), alg, pt, len, ct, ct_len);
    }
    ohsm_kms_mat_release(k, c);
    if (rv != OHSM_OK) {
        ohsm_kms_internal(err, "RSA encryption", rv);
        return -1;
    }
    return 0;
}

OHSM_KMS_HANDLER(ohsm_kms_op_encrypt)
{
    struct ohsm_kms_key key;
    uint8_t *pt = NULL, *ct = NULL;
    size_t pt_len = 0, ct_len = 0;
    uint32_t alg;
    json_t *out = NULL;

    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_ENCRYPT, &key, x, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_need_usage(&key, OHSM_KUSE_ENCRYPT_DECRYPT, err) != 0 ||
        enc_alg(&key, ohsm_kms_str(in, "EncryptionAlgorithm"), &alg, err) != 0 ||
        (alg != OHSM_KALG_SYMMETRIC_DEFAULT &&
         no_context_for_asym(in, "EncryptionContext", err) != 0) ||
        ohsm_kms_b64_get(in, "Plaintext", true, &pt, &pt_len, err) != 0) {
        goto done;
    }
    if (pt_len == 0) {
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value at 'plaintext' failed to satisfy "
                      "constraint: Member must have length greater than or equal to 1");
        goto done;
    }
    if (ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    if (encrypt_any(k, &key, alg, json_object_get(in, "EncryptionContext"), pt, pt_len, &ct,
                    &ct_len, NULL, err) != 0) {
        goto done;
    }
    out = json_object();
    ohsm_kms_b64_set(out, "CiphertextBlob", ct, ct_len);
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    json_object_set_new(out, "EncryptionAlgorithm", json_string(ohsm_kms_alg_name(alg)));
done:
    secret_free(pt, pt_len);
    free(ct);
    ohsm_kms_key_clear(&key);
    return out;
}

/* Decrypts ct for Decrypt and ReEncrypt: finds the key (from the blob, or key_ref which must
 * match it), checks its state for op, and returns the plaintext (secure buffer) with the key
 * record, algorithm and material id. */
static int decrypt_any(struct ohsm_kms *k, const struct ohsm_http_call *call, const char *key_ref,
                       const char *alg_name, json_t *ctx, const uint8_t *ct, size_t ct_len,
                       uint32_t op, struct ohsm_kms_key *key, uint32_t *alg, uint8_t **pt,
                       size_t *pt_len, char *material_id, char *arn, size_t arn_cap,
                       struct ohsm_aws_err *err)
{
    struct ohsm_kms_blob b;
    bool have_key = false;
    uint32_t a = ohsm_kms_enc_alg_from(alg_name != NULL ? alg_name : "SYMMETRIC_DEFAULT");

    *pt = NULL;
    material_id[0] = '\0';
    if (ct == NULL || ct_len == 0) {
        ohsm_kms_fail(err, "ValidationException", "CiphertextBlob is required.");
        return -1;
    }
    if (a == OHSM_KALG_SYMMETRIC_DEFAULT) {
        if (ohsm_kms_blob_parse(ct, ct_len, &b) != OHSM_OK) {
            invalid_ciphertext(err);
            return -1;
        }
        if (key_ref != NULL) {
            if (ohsm_kms_resolve(k, call, key_ref, key, err) != 0) {
                return -1;
            }
            have_key = true;
            if (strcmp(key->id, b.key_id) != 0) {
                ohsm_kms_key_clear(key);
                ohsm_kms_fail(err, "IncorrectKeyException",
                              "The key ID in the request does not identify a CMK that can "
                              "perform this operation.");
                return -1;
            }
        }
        if (!have_key) {
            struct ohsm_http_call c2 = *call;
            if (ohsm_kms_resolve(k, &c2, b.key_id, key, err) != 0) {
                invalid_ciphertext(err);
                return -1;
            }
        }
        ohsm_kms_key_arn(key, arn, arn_cap);
        if (ohsm_kms_check(key, op, err) != 0) {
            ohsm_kms_key_clear(key);
            return -1;
        }
        if (key->spec != OHSM_KSPEC_SYMMETRIC_DEFAULT || key->usage != OHSM_KUSE_ENCRYPT_DECRYPT) {
            ohsm_kms_key_clear(key);
            invalid_ciphertext(err);
            return -1;
        }
        *alg = a;
        if (sym_decrypt(k, key, &b, ctx, pt, pt_len, material_id, err) != 0) {
            ohsm_kms_key_clear(key);
            return -1;
        }
        return 0;
    }
    /* Asymmetric: the caller names the key and the algorithm. */
    if (key_ref == NULL) {
        ohsm_kms_fail(
            err, "ValidationException",
            "KeyId is required to decrypt with an asymmetric KMS key (EncryptionAlgorithm "
            "%s).",
            alg_name);
        return -1;
    }
    if (ohsm_kms_resolve(k, call, key_ref, key, err) != 0) {
        return -1;
    }
    ohsm_kms_key_arn(key, arn, arn_cap);
    if (ohsm_kms_check(key, op, err) != 0 ||
        ohsm_kms_need_usage(key, OHSM_KUSE_ENCRYPT_DECRYPT, err) != 0 ||
        enc_alg(key, alg_name, alg, err) != 0) {
        ohsm_kms_key_clear(key);
        return -1;
    }
    struct ohsm_kms_cached *c = NULL;
    ohsm_rv rv = ohsm_kms_mat_get(k, key, 0, &c);
    if (rv == OHSM_OK) {
        rv = ohsm_kms_asym_decrypt(ohsm_kms_mat_kmat(c), *alg, ct, ct_len, pt, pt_len);
        if (rv != OHSM_OK) {
            ohsm_kms_mat_release(k, c);
            ohsm_kms_key_clear(key);
            invalid_ciphertext(err);
            return -1;
        }
    }
    ohsm_kms_mat_release(k, c);
    if (rv != OHSM_OK) {
        ohsm_kms_key_clear(key);
        ohsm_kms_internal(err, "the key material could not be loaded", rv);
        return -1;
    }
    return 0;
}

OHSM_KMS_HANDLER(ohsm_kms_op_decrypt)
{
    struct ohsm_kms_key key;
    uint8_t *ct = NULL, *pt = NULL;
    size_t ct_len = 0, pt_len = 0;
    uint32_t alg = 0;
    char material_id[OHSM_KMS_MATERIAL_ID_LEN + 1];
    json_t *out = NULL;

    if (ohsm_kms_no_recipient(in, err) != 0 ||
        ohsm_kms_b64_get(in, "CiphertextBlob", false, &ct, &ct_len, err) != 0) {
        return NULL;
    }
    if (decrypt_any(k, call, ohsm_kms_str(in, "KeyId"), ohsm_kms_str(in, "EncryptionAlgorithm"),
                    json_object_get(in, "EncryptionContext"), ct, ct_len, OHSM_KOP_DECRYPT, &key,
                    &alg, &pt, &pt_len, material_id, x->key_arn, sizeof(x->key_arn), err) != 0) {
        goto done_nokey;
    }
    if (ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    out = json_object();
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    ohsm_kms_b64_set(out, "Plaintext", pt, pt_len);
    json_object_set_new(out, "EncryptionAlgorithm", json_string(ohsm_kms_alg_name(alg)));
    if (material_id[0] != '\0') {
        json_object_set_new(out, "KeyMaterialId", json_string(material_id));
    }
done:
    ohsm_kms_key_clear(&key);
done_nokey:
    secret_free(pt, pt_len);
    free(ct);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_re_encrypt)
{
    struct ohsm_kms_key src, dst;
    uint8_t *ct = NULL, *pt = NULL, *nct = NULL;
    size_t ct_len = 0, pt_len = 0, nct_len = 0;
    uint32_t salg = 0, dalg = 0;
    char smat[OHSM_KMS_MATERIAL_ID_LEN + 1], dmat[OHSM_KMS_MATERIAL_ID_LEN + 1];
    char src_arn[OHSM_KMS_ARN_MAX];
    json_t *out = NULL;

    if (ohsm_kms_b64_get(in, "CiphertextBlob", false, &ct, &ct_len, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "DestinationKeyId"), OHSM_KOP_RE_ENCRYPT, &dst, x,
                     err) != 0) {
        free(ct);
        return NULL;
    }
    if (ohsm_kms_need_usage(&dst, OHSM_KUSE_ENCRYPT_DECRYPT, err) != 0 ||
        enc_alg(&dst, ohsm_kms_str(in, "DestinationEncryptionAlgorithm"), &dalg, err) != 0 ||
        (dalg != OHSM_KALG_SYMMETRIC_DEFAULT &&
         no_context_for_asym(in, "DestinationEncryptionContext", err) != 0)) {
        goto done_dst;
    }
    if (decrypt_any(k, call, ohsm_kms_str(in, "SourceKeyId"),
                    ohsm_kms_str(in, "SourceEncryptionAlgorithm"),
                    json_object_get(in, "SourceEncryptionContext"), ct, ct_len, OHSM_KOP_RE_ENCRYPT,
                    &src, &salg, &pt, &pt_len, smat, src_arn, sizeof(src_arn), err) != 0) {
        goto done_dst;
    }
    if (ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    dmat[0] = '\0';
    if (encrypt_any(k, &dst, dalg, json_object_get(in, "DestinationEncryptionContext"), pt, pt_len,
                    &nct, &nct_len, dmat, err) != 0) {
        goto done;
    }
    out = json_object();
    ohsm_kms_b64_set(out, "CiphertextBlob", nct, nct_len);
    json_object_set_new(out, "SourceKeyId", json_string(src_arn));
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    json_object_set_new(out, "SourceEncryptionAlgorithm", json_string(ohsm_kms_alg_name(salg)));
    json_object_set_new(out, "DestinationEncryptionAlgorithm",
                        json_string(ohsm_kms_alg_name(dalg)));
    if (smat[0] != '\0') {
        json_object_set_new(out, "SourceKeyMaterialId", json_string(smat));
    }
    if (dmat[0] != '\0') {
        json_object_set_new(out, "DestinationKeyMaterialId", json_string(dmat));
    }
done:
    ohsm_kms_key_clear(&src);
done_dst:
    ohsm_kms_key_clear(&dst);
    secret_free(pt, pt_len);
    free(ct);
    free(nct);
    return out;
}

static json_t *data_key(struct ohsm_kms *k, const struct ohsm_http_call *call, json_t *in,
                        struct ohsm_kms_ctx *x, struct ohsm_aws_err *err, bool with_plaintext)
{
    struct ohsm_kms_key key;
    const char *spec = ohsm_kms_str(in, "KeySpec");
    json_t *nb = json_object_get(in, "NumberOfBytes");
    uint8_t *dk = NULL, blob[BLOB_MAX];
    size_t n = 0, blob_len = 0;
    char material_id[OHSM_KMS_MATERIAL_ID_LEN + 1];
    json_t *out = NULL;

    if (ohsm_kms_no_recipient(in, err) != 0) {
        return NULL;
    }
    if (ohsm_kms_use(k, call, ohsm_kms_str(in, "KeyId"), OHSM_KOP_GENERATE_DATA_KEY, &key, x,
                     err) != 0) {
        return NULL;
    }
    if ((spec == NULL) == (nb == NULL)) {
        ohsm_kms_fail(err, "ValidationException",
                      "Please specify either number of bytes or key spec.");
        goto done;
    }
    if (key.spec != OHSM_KSPEC_SYMMETRIC_DEFAULT || key.usage != OHSM_KUSE_ENCRYPT_DECRYPT) {
        ohsm_kms_fail(err, "InvalidKeyUsageException",
                      "%s key spec is %s which is not valid for GenerateDataKey. Only symmetric "
                      "encryption KMS keys can generate data keys.",
                      x->key_arn, ohsm_kms_spec_name(key.spec));
        goto done;
    }
    if (spec != NULL) {
        n = strcmp(spec, "AES_128") == 0 ? 16 : strcmp(spec, "AES_256") == 0 ? 32 : 0;
    } else {
        json_int_t v = json_integer_value(nb);
        n = v >= 1 && v <= 1024 ? (size_t)v : 0;
    }
    if (n == 0) {
        ohsm_kms_fail(err, "ValidationException",
                      "1 validation error detected: Value at 'numberOfBytes' failed to satisfy "
                      "constraint: Member must have value between 1 and 1024");
        goto done;
    }
    if (ohsm_kms_dry_run(in, err) != 0) {
        goto done;
    }
    dk = OPENSSL_secure_malloc(n);
    if (dk == NULL || RAND_priv_bytes(dk, (int)n) != 1) {
        ohsm_kms_internal(err, "data key", OHSM_DEVICE_ERROR);
        goto done;
    }
    if (ohsm_kms_sym_encrypt(k, &key, json_object_get(in, "EncryptionContext"), dk, n, blob,
                             &blob_len, material_id, err) != 0) {
        goto done;
    }
    out = json_object();
    ohsm_kms_b64_set(out, "CiphertextBlob", blob, blob_len);
    if (with_plaintext) {
        ohsm_kms_b64_set(out, "Plaintext", dk, n);
    }
    json_object_set_new(out, "KeyId", json_string(x->key_arn));
    if (material_id[0] != '\0') {
        json_object_set_new(out, "KeyMaterialId", json_string(material_id));
    }
done:
    if (dk != NULL) {
        OPENSSL_secure_clear_free(dk, n);
    }
    ohsm_kms_key_clear(&key);
    return out;
}

OHSM_KMS_HANDLER(ohsm_kms_op_generate_data_key)
{
    return data_key(k, call, in, x, err, true);
}

OHSM_KMS_HANDLER(ohsm_kms_op_generate_data_key_without_plaintext)
{
    return data_key(k, call, in, x, err, false);
}

OHSM_KMS_HANDLER(ohsm_kms_op_generate_random)
{
    json_t *nb = json_object_get(in, "NumberOfBytes");
    const char *cks = ohsm_kms_str(in, "CustomKeyStoreId");
    uint8_t buf[1024];
    json_t *out;

    (void)x;
    if (ohsm_kms_no_recipient(in, err) != 0) {
        return NULL;
    }
    json_int_t n = json_is_integer(nb) ? json_integer_value(nb) : 0;
    if (n < 1 || n > 1024) {
        return ohsm_kms_fail(err, "ValidationException",
                             "1 validation error detected: Value at 'numberOfBytes' failed to "
                             "satisfy constraint: Member must have value between 1 and 1024");
    }
    if (cks != NULL) {
        /* the bytes come from the store's cluster */
        if (ohsm_kms_cks_find(k, call->region, call->account_id, cks, true, NULL, err) != 0 ||
            ohsm_kms_cks_random(k, cks, buf, (size_t)n, err) != 0) {
            OPENSSL_cleanse(buf, sizeof(buf));
            return NULL;
        }
    } else if (RAND_bytes(buf, (int)n) != 1) {
        return ohsm_kms_internal(err, "random", OHSM_DEVICE_ERROR);
    }
    out = json_object();
    ohsm_kms_b64_set(out, "Plaintext", buf, (size_t)n);
    OPENSSL_cleanse(buf, sizeof(buf));
    return out;
}
