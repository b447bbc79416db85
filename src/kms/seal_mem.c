/* SPDX-License-Identifier: Apache-2.0
 *
 * The in-memory sealer (seal.h): AES-256-GCM under a random key that lives only in this process's
 * secure heap, for the model's unit tests and the fuzz targets, which need a sealer but no HSM.
 * A blob is iv (12) || ciphertext || tag (16); the iv is made by src/core's AES-GCM (never
 * given), so it is fresh for every seal. Blobs are untrusted input to unseal: every length is
 * checked before use, and any blob that does not authenticate under the aad is
 * OHSM_ENCRYPTED_DATA_INVALID. Thread-safe: the key is read-only after creation and the mech
 * cache hands each thread its own GCM context.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "kms/seal.h"
#include "openhsm/mech.h"

#define MEM_KEY_LEN 32
#define MEM_IV_LEN 12
#define MEM_TAG_LEN 16

struct mem_ctx {
    uint8_t *key; /* MEM_KEY_LEN bytes, OPENSSL_secure_malloc'd */
    struct ohsm_mech_cache *cache;
};

static void mech_key(const struct mem_ctx *c, struct ohsm_mech_key *k)
{
    memset(k, 0, sizeof(*k));
    k->cls = OHSM_CLASS_SECRET;
    k->ktype = OHSM_KT_AES;
    k->raw = c->key;
    k->raw_len = MEM_KEY_LEN;
    k->cache = c->cache;
}

static ohsm_rv mem_seal(void *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                        size_t in_len, uint8_t **out, size_t *out_len)
{
    const struct mem_ctx *c = ctx;
    struct ohsm_mech_key k;
    struct ohsm_mech_params m;
    uint8_t *blob = NULL;
    size_t ct_len = 0, iv_len = 0;
    uint8_t iv[16];
    ohsm_rv rv;

    OHSM_ENSURE(c != NULL && out != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(in != NULL || in_len == 0, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(aad != NULL || aad_len == 0, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(in_len <= SIZE_MAX - MEM_IV_LEN - MEM_TAG_LEN, OHSM_DATA_LEN_RANGE);
    mech_key(c, &k);
    memset(&m, 0, sizeof(m));
    m.mech = OHSM_M_AES_GCM;
    m.aad = aad;
    m.aad_len = aad_len;
    blob = malloc(MEM_IV_LEN + in_len + MEM_TAG_LEN);
    OHSM_ENSURE(blob != NULL, OHSM_HOST_MEMORY);
    rv = ohsm_mech_encrypt(&k, &m, in, in_len, blob + MEM_IV_LEN, in_len + MEM_TAG_LEN, &ct_len, iv,
                           sizeof(iv), &iv_len);
    if (rv == OHSM_OK && (iv_len != MEM_IV_LEN || ct_len != in_len + MEM_TAG_LEN)) {
        rv = OHSM_DEVICE_ERROR; /* not the GCM of the header: never hand out such a blob */
    }
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(blob, MEM_IV_LEN + in_len + MEM_TAG_LEN);
        free(blob);
        return rv;
    }
    memcpy(blob, iv, MEM_IV_LEN);
    *out = blob;
    *out_len = MEM_IV_LEN + ct_len;
    return OHSM_OK;
}

static ohsm_rv mem_unseal(void *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                          size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    const struct mem_ctx *c = ctx;
    struct ohsm_mech_key k;
    struct ohsm_mech_params m;
    uint8_t none[1]; /* where an empty plaintext goes when the caller gave no buffer */
    ohsm_rv rv;

    OHSM_ENSURE(c != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(aad != NULL || aad_len == 0, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(in != NULL && in_len >= MEM_IV_LEN + MEM_TAG_LEN, OHSM_ENCRYPTED_DATA_INVALID);
    const size_t pt_len = in_len - MEM_IV_LEN - MEM_TAG_LEN;
    if (cap < pt_len || (out == NULL && pt_len > 0)) {
        *out_len = pt_len;
        return OHSM_BUFFER_TOO_SMALL;
    }
    if (out == NULL) {
        out = none;
        cap = 0;
    }
    mech_key(c, &k);
    memset(&m, 0, sizeof(m));
    m.mech = OHSM_M_AES_GCM;
    m.iv = in;
    m.iv_len = MEM_IV_LEN;
    m.aad = aad;
    m.aad_len = aad_len;
    rv = ohsm_mech_decrypt(&k, &m, in + MEM_IV_LEN, in_len - MEM_IV_LEN, out, cap, out_len);
    if (rv == OHSM_ENCRYPTED_DATA_LEN_RANGE) {
        rv = OHSM_ENCRYPTED_DATA_INVALID; /* a blob is either whole and authentic or not */
    }
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(out, cap);
    }
    return rv;
}

ohsm_rv ohsm_kms_sealer_mem(struct ohsm_kms_sealer *out)
{
    struct mem_ctx *c = NULL;
    ohsm_rv rv = OHSM_HOST_MEMORY;

    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    c = calloc(1, sizeof(*c));
    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    c->key = OPENSSL_secure_malloc(MEM_KEY_LEN);
    if (c->key == NULL) {
        goto out;
    }
    rv = ohsm_mech_gen_secret(c->key, MEM_KEY_LEN);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_mech_cache_new(&c->cache);
    if (rv != OHSM_OK) {
        goto out;
    }
    out->seal = mem_seal;
    out->unseal = mem_unseal;
    out->ctx = c;
    c = NULL;
out:
    if (c != NULL) {
        if (c->key != NULL) {
            OPENSSL_secure_clear_free(c->key, MEM_KEY_LEN);
        }
        free(c);
    }
    return rv;
}

void ohsm_kms_sealer_mem_free(struct ohsm_kms_sealer *s)
{
    if (s == NULL) {
        return;
    }
    struct mem_ctx *c = s->ctx;
    if (c != NULL) {
        ohsm_mech_cache_free(c->cache); /* before the key: its contexts hold the key schedule */
        OPENSSL_secure_clear_free(c->key, MEM_KEY_LEN);
        free(c);
    }
    memset(s, 0, sizeof(*s));
}
