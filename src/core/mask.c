/* SPDX-License-Identifier: Apache-2.0
 *
 * Masked objects (format in mask.h): AES-256-GCM under a key derived from the cluster masking key
 * with HKDF-SHA256 (RFC 5869), a fresh random 96-bit nonce per seal (NIST SP 800-38D §8.2.2), and
 * the header and record as AAD, so neither the attributes nor the material can be edited or
 * swapped. A second HKDF output keys the HMAC-SHA256 sync digest, and a third gives the public
 * fingerprint: no derived key is used for two jobs. Input to ohsm_mask_open is untrusted (wire,
 * databases) and parsed with struct ohsm_rd; every failure is the one code
 * OHSM_MASKED_OBJECT_INVALID, so a prober learns nothing about which check failed.
 */
#include "openhsm/mask.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "openhsm/rd.h"

#define MAGIC "OHMO"
#define MASK_VERSION 1
#define NONCE_LEN 12
#define TAG_LEN 16
#define HDR_LEN 10 /* magic, version, kind, rec_len */
#define TOMBSTONE_LEN 16

struct ohsm_mask_key {
    uint8_t seal[32];
    uint8_t mac[32];
    uint8_t fp[8];
};

static ohsm_rv hkdf(const uint8_t mk[OHSM_MASKING_KEY_LEN], const char *info, uint8_t *out,
                    size_t len)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)mk, OHSM_MASKING_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    if (ctx != NULL && EVP_KDF_derive(ctx, out, len, params) == 1) {
        rv = OHSM_OK;
    }
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rv;
}

ohsm_rv ohsm_mask_key_new(const uint8_t mk[OHSM_MASKING_KEY_LEN], struct ohsm_mask_key **out)
{
    ohsm_rv rv;
    OHSM_ENSURE(mk != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    struct ohsm_mask_key *k = OPENSSL_secure_zalloc(sizeof(*k));
    OHSM_ENSURE(k != NULL, OHSM_HOST_MEMORY);
    rv = hkdf(mk, "openhsm mask v1", k->seal, sizeof(k->seal));
    if (rv == OHSM_OK) {
        rv = hkdf(mk, "openhsm mask digest v1", k->mac, sizeof(k->mac));
    }
    if (rv == OHSM_OK) {
        rv = hkdf(mk, "openhsm mask fingerprint v1", k->fp, sizeof(k->fp));
    }
    if (rv != OHSM_OK) {
        ohsm_mask_key_free(k);
        return rv;
    }
    *out = k;
    return OHSM_OK;
}

void ohsm_mask_key_free(struct ohsm_mask_key *k)
{
    if (k != NULL) {
        OPENSSL_secure_clear_free(k, sizeof(*k));
    }
}

void ohsm_mask_key_fingerprint(const struct ohsm_mask_key *k, uint8_t fp[8])
{
    memcpy(fp, k->fp, sizeof(k->fp));
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool kind_ok(enum ohsm_mask_kind kind)
{
    return kind == OHSM_MASK_KEY || kind == OHSM_MASK_USER || kind == OHSM_MASK_TOMBSTONE;
}

/* A tombstone is exactly handle | version and seals no secret. */
static bool shape_ok(enum ohsm_mask_kind kind, size_t rec_len, size_t secret_len)
{
    return kind != OHSM_MASK_TOMBSTONE || (rec_len == TOMBSTONE_LEN && secret_len == 0);
}

/* AES-256-GCM over in (len bytes) into out, AAD aad; enc selects direction. For decryption the
 * tag is checked and a mismatch is OHSM_MASKED_OBJECT_INVALID. */
static ohsm_rv gcm(const struct ohsm_mask_key *k, bool enc, const uint8_t nonce[NONCE_LEN],
                   const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                   uint8_t tag[TAG_LEN])
{
    ohsm_rv rv = enc ? OHSM_DEVICE_ERROR : OHSM_MASKED_OBJECT_INVALID;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;

    if (c == NULL || len > INT32_MAX || aad_len > INT32_MAX ||
        EVP_CipherInit_ex2(c, EVP_aes_256_gcm(), k->seal, nonce, enc ? 1 : 0, NULL) != 1 ||
        EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) != 1) {
        goto out;
    }
    if (len > 0 && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1) {
        goto out;
    }
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1) {
        goto out;
    }
    if (EVP_CipherFinal_ex(c, out + len, &n) != 1) {
        goto out;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) {
        goto out;
    }
    rv = OHSM_OK;
out:
    EVP_CIPHER_CTX_free(c);
    return rv;
}

ohsm_rv ohsm_mask_seal(const struct ohsm_mask_key *k, enum ohsm_mask_kind kind, const uint8_t *rec,
                       size_t rec_len, const uint8_t *secret, size_t secret_len, uint8_t **out,
                       size_t *out_len)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    uint8_t *buf = NULL;

    OHSM_ENSURE(k != NULL && out != NULL && out_len != NULL && kind_ok(kind), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE((rec != NULL || rec_len == 0) && (secret != NULL || secret_len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(shape_ok(kind, rec_len, secret_len), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(rec_len <= OHSM_MASK_MAX && secret_len <= OHSM_MASK_MAX, OHSM_DATA_LEN_RANGE);
    size_t total = HDR_LEN + rec_len + NONCE_LEN + 4 + secret_len + TAG_LEN;
    OHSM_ENSURE(total <= OHSM_MASK_MAX, OHSM_DATA_LEN_RANGE);
    buf = malloc(total);
    OHSM_ENSURE(buf != NULL, OHSM_HOST_MEMORY);

    memcpy(buf, MAGIC, 4);
    buf[4] = MASK_VERSION;
    buf[5] = (uint8_t)kind;
    put32(buf + 6, (uint32_t)rec_len);
    if (rec_len > 0) {
        memcpy(buf + HDR_LEN, rec, rec_len);
    }
    size_t aad_len = HDR_LEN + rec_len;
    uint8_t *nonce = buf + aad_len;
    uint8_t *ct = nonce + NONCE_LEN + 4;
    if (RAND_bytes(nonce, NONCE_LEN) != 1) {
        goto out;
    }
    put32(nonce + NONCE_LEN, (uint32_t)secret_len);
    rv = gcm(k, true, nonce, buf, aad_len, secret, secret_len, ct, ct + secret_len);
    if (rv != OHSM_OK) {
        goto out;
    }
    *out = buf;
    *out_len = total;
    buf = NULL;
out:
    free(buf);
    return rv;
}

ohsm_rv ohsm_mask_open(const struct ohsm_mask_key *k, enum ohsm_mask_kind kind, const uint8_t *in,
                       size_t in_len, const uint8_t **rec, size_t *rec_len,
                       struct ohsm_secret **secret)
{
    ohsm_rv rv = OHSM_MASKED_OBJECT_INVALID;
    struct ohsm_rd r;
    const uint8_t *magic = NULL, *rp = NULL, *nonce = NULL, *ct = NULL, *tag = NULL;
    uint8_t ver = 0, kd = 0;
    uint32_t rl = 0, cl = 0;
    uint8_t *pt = NULL;
    size_t pt_cap = 0;
    uint8_t tagbuf[TAG_LEN];

    OHSM_ENSURE(k != NULL && rec != NULL && rec_len != NULL && secret != NULL, OHSM_ARGUMENTS_BAD);
    *rec = NULL;
    *rec_len = 0;
    *secret = NULL;
    OHSM_ENSURE(in != NULL && in_len <= OHSM_MASK_MAX && kind_ok(kind), OHSM_MASKED_OBJECT_INVALID);
    ohsm_rd_init(&r, in, in_len);
    (void)(ohsm_rd_bytes(&r, 4, &magic) || ohsm_rd_u8(&r, &ver) || ohsm_rd_u8(&r, &kd) ||
           ohsm_rd_u32(&r, &rl) || ohsm_rd_bytes(&r, rl, &rp) ||
           ohsm_rd_bytes(&r, NONCE_LEN, &nonce) || ohsm_rd_u32(&r, &cl) ||
           ohsm_rd_bytes(&r, cl, &ct) || ohsm_rd_bytes(&r, TAG_LEN, &tag));
    if (ohsm_rd_done(&r) != OHSM_OK || memcmp(magic, MAGIC, 4) != 0 || ver != MASK_VERSION ||
        kd != (uint8_t)kind || !shape_ok(kind, rl, cl)) {
        return OHSM_MASKED_OBJECT_INVALID;
    }
    /* Plaintext lands in the secure heap; +1 so an empty secret still gets a buffer. */
    pt_cap = (size_t)cl + 1;
    pt = OPENSSL_secure_malloc(pt_cap);
    OHSM_ENSURE(pt != NULL, OHSM_HOST_MEMORY);
    memcpy(tagbuf, tag, TAG_LEN);
    rv = gcm(k, false, nonce, in, HDR_LEN + (size_t)rl, ct, cl, pt, tagbuf);
    if (rv != OHSM_OK) {
        rv = OHSM_MASKED_OBJECT_INVALID;
        goto out;
    }
    rv = ohsm_secret_new(pt, cl, secret);
    if (rv != OHSM_OK) {
        goto out;
    }
    *rec = rp;
    *rec_len = rl;
out:
    OPENSSL_secure_clear_free(pt, pt_cap);
    return rv;
}

ohsm_rv ohsm_mask_seal_obj(const struct ohsm_mask_key *k, const struct ohsm_obj *o,
                           const uint8_t *material, size_t len, uint8_t **out, size_t *out_len)
{
    uint8_t rec[OHSM_OBJ_ENC_MAX];
    size_t n = 0;

    OHSM_ENSURE(o != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_obj_encode(o, rec, sizeof(rec), &n));
    return ohsm_mask_seal(k, OHSM_MASK_KEY, rec, n, material, len, out, out_len);
}

ohsm_rv ohsm_mask_open_obj(const struct ohsm_mask_key *k, const uint8_t *in, size_t in_len,
                           struct ohsm_obj *o, struct ohsm_secret **material)
{
    const uint8_t *rec = NULL;
    size_t rec_len = 0;
    struct ohsm_secret *s = NULL;

    OHSM_ENSURE(o != NULL && material != NULL, OHSM_ARGUMENTS_BAD);
    *material = NULL;
    OHSM_TRY(ohsm_mask_open(k, OHSM_MASK_KEY, in, in_len, &rec, &rec_len, &s));
    /* Authentic but undecodable: sealed by a different (newer or broken) encoder. Either way
     * this HSM cannot use it, and it must not half-apply. */
    if (ohsm_obj_decode(rec, rec_len, o) != OHSM_OK) {
        ohsm_secret_free(s);
        return OHSM_MASKED_OBJECT_INVALID;
    }
    *material = s;
    return OHSM_OK;
}

ohsm_rv ohsm_mask_digest(const struct ohsm_mask_key *k, const uint8_t *rec, size_t rec_len,
                         const uint8_t *secret, size_t secret_len, uint8_t out[32])
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    uint8_t len[8];
    size_t n = 0;

    OHSM_ENSURE(k != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE((rec != NULL || rec_len == 0) && (secret != NULL || secret_len == 0),
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(rec_len <= UINT32_MAX && secret_len <= UINT32_MAX, OHSM_DATA_LEN_RANGE);
    /* Length-prefixed fields: (rec, secret) pairs map to distinct messages. */
    put32(len, (uint32_t)rec_len);
    put32(len + 4, (uint32_t)secret_len);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    if (ctx == NULL || EVP_MAC_init(ctx, k->mac, sizeof(k->mac), params) != 1 ||
        EVP_MAC_update(ctx, len, 4) != 1 || EVP_MAC_update(ctx, rec, rec_len) != 1 ||
        EVP_MAC_update(ctx, len + 4, 4) != 1 || EVP_MAC_update(ctx, secret, secret_len) != 1 ||
        EVP_MAC_final(ctx, out, &n, 32) != 1 || n != 32) {
        goto out;
    }
    rv = OHSM_OK;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rv;
}
