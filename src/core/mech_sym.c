/* SPDX-License-Identifier: Apache-2.0
 *
 * Symmetric mechanisms over OpenSSL 3 EVP: AES-GCM/CBC/CTR/ECB and 3DES-ECB/CBC/CBC-PAD
 * encryption, AES key wrap (RFC
 * 3394, RFC 5649, the CloudHSM padded variants, AES-GCM wrapping), HMAC, digests and key check
 * values. Key bytes are the caller's (borrowed, never copied outside the secure heap); sizes,
 * IVs, tags, ciphertexts and wrapped keys come from the wire and are all checked here.
 * Thread-safe (a key's AES-GCM context may come from its cache: mech.h). The one mutable global
 * (an exception to src/core's rule): iv_pool, the generated-IV bytes drawn ahead from OpenSSL's
 * DRBG, thread-local (no lock), each byte handed out once, emptied in a forked child (fresh_iv).
 * Deprecated OpenSSL APIs are compiled out below.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "openhsm/mech.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/mech_int.h"

#define GCM_IV_LEN 12
#define AES_BLOCK 16
#define KW_BLOCK 8
#define DES_BLOCK 8
#define DES3_KEY 24

/* ---- generated IVs ---- */

/* IVs are public but must never repeat under one key (GCM above all): they come from OpenSSL's
 * DRBG as before, drawn IV_POOL bytes at a time into a per-thread pool (one RAND_bytes, and its
 * fork check, per IV_POOL / 12 GCM IVs instead of one per message). A forked child must not hand
 * out its parent's pooled bytes again: an atfork handler empties the forking thread's pool in the
 * child (the only thread a child has). */
#define IV_POOL 384

static _Thread_local struct {
    uint8_t b[IV_POOL];
    size_t used; /* bytes of b handed out (or never filled) */
    bool filled;
} iv_pool;

static pthread_once_t iv_once = PTHREAD_ONCE_INIT;
static bool iv_atfork_ok;

static void iv_pool_forget(void)
{
    OPENSSL_cleanse(iv_pool.b, sizeof(iv_pool.b));
    iv_pool.used = IV_POOL;
    iv_pool.filled = false;
}

static void iv_init(void)
{
    iv_atfork_ok = pthread_atfork(NULL, NULL, iv_pool_forget) == 0;
}

/* n fresh random bytes (n <= AES_BLOCK) for an IV. */
static ohsm_rv fresh_iv(uint8_t *iv, size_t n)
{
    (void)pthread_once(&iv_once, iv_init);
    if (!iv_atfork_ok) { /* no fork protection: no pool */
        OHSM_ENSURE(RAND_bytes(iv, (int)n) == 1, ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
        return OHSM_OK;
    }
    if (!iv_pool.filled || iv_pool.used + n > IV_POOL) {
        OHSM_ENSURE(RAND_bytes(iv_pool.b, IV_POOL) == 1, ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
        iv_pool.used = 0;
        iv_pool.filled = true;
    }
    memcpy(iv, iv_pool.b + iv_pool.used, n);
    OPENSSL_cleanse(iv_pool.b + iv_pool.used, n); /* handed out once only */
    iv_pool.used += n;
    return OHSM_OK;
}

/* ---- AES primitives ---- */

static const EVP_CIPHER *aes_cipher(uint32_t mech, size_t klen)
{
    size_t i = klen / 8 - 2; /* 16, 24, 32 -> 0, 1, 2; klen checked by aes_key */
    switch (mech) {
    case OHSM_M_AES_GCM:
        return (const EVP_CIPHER *[]){EVP_aes_128_gcm(), EVP_aes_192_gcm(), EVP_aes_256_gcm()}[i];
    case OHSM_M_AES_CBC_PAD:
    case OHSM_M_AES_CBC:
        return (const EVP_CIPHER *[]){EVP_aes_128_cbc(), EVP_aes_192_cbc(), EVP_aes_256_cbc()}[i];
    case OHSM_M_AES_CTR:
        return (const EVP_CIPHER *[]){EVP_aes_128_ctr(), EVP_aes_192_ctr(), EVP_aes_256_ctr()}[i];
    case OHSM_M_AES_ECB:
        return (const EVP_CIPHER *[]){EVP_aes_128_ecb(), EVP_aes_192_ecb(), EVP_aes_256_ecb()}[i];
    case OHSM_M_AES_KWP:
        return (const EVP_CIPHER *[]){EVP_aes_128_wrap_pad(), EVP_aes_192_wrap_pad(),
                                      EVP_aes_256_wrap_pad()}[i];
    default: /* RFC 3394 and the padded-then-3394 variants */
        return (const EVP_CIPHER *[]){EVP_aes_128_wrap(), EVP_aes_192_wrap(),
                                      EVP_aes_256_wrap()}[i];
    }
}

static ohsm_rv aes_key(const struct ohsm_mech_key *k)
{
    OHSM_ENSURE(k->cls == OHSM_CLASS_SECRET && k->ktype == OHSM_KT_AES, OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(k->raw != NULL && (k->raw_len == 16 || k->raw_len == 24 || k->raw_len == 32),
                OHSM_KEY_SIZE_RANGE);
    return OHSM_OK;
}

/* One pass of cipher c under k over in (whole message), writing at most in_len + one block.
 * pad: 1 or 0 sets a block mode's PKCS#7 padding on or off, -1 leaves a mode that has none.
 * Decryption failures (padding, unwrap integrity) are OHSM_ENCRYPTED_DATA_INVALID. */
static ohsm_rv evp_run(const EVP_CIPHER *c, const struct ohsm_mech_key *k, int pad, bool enc,
                       const uint8_t *iv, const uint8_t *in, size_t in_len, uint8_t *out,
                       size_t *out_len)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    int n1 = 0;
    int n2 = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    OHSM_ENSURE(ctx != NULL, ohsm_mech_ossl_fail(OHSM_HOST_MEMORY));
    /* The wrap modes refuse to run unless asked for by name (a guard against misuse). */
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex(ctx, c, NULL, k->raw, iv, enc) != 1 ||
        (pad >= 0 && EVP_CIPHER_CTX_set_padding(ctx, pad) != 1)) {
        rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    if (EVP_CipherUpdate(ctx, out, &n1, in, (int)in_len) != 1 ||
        EVP_CipherFinal_ex(ctx, out + n1, &n2) != 1) {
        rv = ohsm_mech_ossl_fail(enc ? OHSM_DEVICE_ERROR : OHSM_ENCRYPTED_DATA_INVALID);
        goto out;
    }
    *out_len = (size_t)n1 + (size_t)n2;
    rv = OHSM_OK;
out:
    EVP_CIPHER_CTX_free(ctx); /* wipes the key schedule */
    return rv;
}

/* AES in mode mech (a whole message; evp_run's contract). */
static ohsm_rv aes_run(const struct ohsm_mech_key *k, uint32_t mech, bool enc, const uint8_t *iv,
                       const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
    bool block = mech == OHSM_M_AES_CBC_PAD || mech == OHSM_M_AES_CBC || mech == OHSM_M_AES_ECB;
    int pad = block ? mech == OHSM_M_AES_CBC_PAD : -1;
    return evp_run(aes_cipher(mech, k->raw_len), k, pad, enc, iv, in, in_len, out, out_len);
}

/* The IV of an encryption in a mode with an ivn-byte IV (0: none): the caller's (exactly ivn
 * bytes) or, when the caller gave none, a fresh one written to iv_out (iv_cap bytes) and *iv_len.
 * Checks first that need bytes of output fit in cap (ohsm_mech_too_small's contract), so a size
 * query spends no IV. */
static ohsm_rv enc_iv(const struct ohsm_mech_params *m, size_t ivn, size_t need, size_t cap,
                      size_t *out_len, uint8_t *iv_out, size_t iv_cap, size_t *iv_len,
                      const uint8_t **iv)
{
    if (m->iv_len == 0 && ivn > 0) {
        OHSM_ENSURE(iv_out != NULL && iv_len != NULL && iv_cap >= ivn, OHSM_ARGUMENTS_BAD);
    } else {
        OHSM_ENSURE(m->iv_len == ivn && (ivn == 0 || m->iv != NULL), OHSM_MECHANISM_PARAM_INVALID);
    }
    OHSM_TRY(ohsm_mech_too_small(need, cap, out_len));
    *iv = m->iv;
    if (m->iv_len == 0 && ivn > 0) {
        OHSM_TRY(fresh_iv(iv_out, ivn));
        *iv = iv_out;
        *iv_len = ivn;
    }
    return OHSM_OK;
}

/* The cache's AES-GCM context of this key (one kind per key: the cache belongs to the key). */
#define GCM_TAG ((uint64_t)OHSM_MECH_CTX_CIPHER | (uint64_t)OHSM_M_AES_GCM << 8)

/* A GCM context for k with iv set, direction enc: the key's cached one (key schedule and GHASH
 * table in place, only the IV and direction set again) or a new one. */
static EVP_CIPHER_CTX *gcm_ctx(const struct ohsm_mech_key *k, bool enc, const uint8_t *iv,
                               size_t *slot)
{
    EVP_CIPHER_CTX *ctx = ohsm_mech_cache_take(k->cache, GCM_TAG, slot);
    if (ctx != NULL) {
        if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) == 1) {
            return ctx;
        }
        ohsm_mech_cache_put(k->cache, *slot, GCM_TAG, ctx, false);
        *slot = OHSM_MECH_NO_SLOT;
        return NULL;
    }
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_CipherInit_ex(ctx, aes_cipher(OHSM_M_AES_GCM, k->raw_len), NULL, k->raw,
                                         iv, enc) != 1) {
        ohsm_mech_cache_put(k->cache, *slot, GCM_TAG, ctx, false);
        *slot = OHSM_MECH_NO_SLOT;
        return NULL;
    }
    return ctx;
}

/* AES-GCM (NIST SP 800-38D). enc: out = ct || tag; dec: in = ct || tag, out = pt, wiped when the
 * tag does not verify. */
static ohsm_rv gcm_run(const struct ohsm_mech_key *k, bool enc, const uint8_t *iv,
                       const uint8_t *aad, size_t aad_len, size_t tag, const uint8_t *in,
                       size_t in_len, uint8_t *out)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    int n = 0;
    size_t body = enc ? in_len : in_len - tag;
    size_t slot = OHSM_MECH_NO_SLOT;
    EVP_CIPHER_CTX *ctx = gcm_ctx(k, enc, iv, &slot);

    OHSM_ENSURE(ctx != NULL, ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
    if ((aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
        EVP_CipherUpdate(ctx, out, &n, in, (int)body) != 1) {
        rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
        goto out;
    }
    if (enc) {
        if (EVP_CipherFinal_ex(ctx, out + body, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, (int)tag, out + body) != 1) {
            rv = ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
            goto out;
        }
    } else if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, (int)tag, (void *)(in + body)) != 1 ||
               EVP_CipherFinal_ex(ctx, out + body, &n) != 1) {
        OPENSSL_cleanse(out, body);
        rv = ohsm_mech_ossl_fail(OHSM_ENCRYPTED_DATA_INVALID);
        goto out;
    }
    rv = OHSM_OK;
out:
    /* A context whose tag did not verify is dropped too: nothing of a failed run is reused. */
    ohsm_mech_cache_put(k->cache, slot, GCM_TAG, ctx, rv == OHSM_OK);
    return rv;
}

static ohsm_rv gcm_tag_len(const struct ohsm_mech_params *m, size_t *tag)
{
    uint32_t bits = m->tag_bits == 0 ? 128 : m->tag_bits;
    OHSM_ENSURE(bits >= 96 && bits <= 128 && bits % 8 == 0, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(m->aad_len == 0 || (m->aad != NULL && m->aad_len <= INT_MAX),
                OHSM_MECHANISM_PARAM_INVALID);
    *tag = bits / 8;
    return OHSM_OK;
}

static size_t mode_iv_len(uint32_t mech)
{
    return mech == OHSM_M_AES_GCM ? GCM_IV_LEN : mech == OHSM_M_AES_ECB ? 0 : AES_BLOCK;
}

/* ---- AES encrypt / decrypt ---- */

ohsm_rv ohsm_mech_aes_encrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                              const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                              size_t *out_len, uint8_t *iv_out, size_t iv_cap, size_t *iv_len)
{
    size_t ivn = mode_iv_len(m->mech);
    size_t tag = 0;
    size_t need = in_len;
    const uint8_t *iv = m->iv;

    OHSM_TRY(aes_key(k));
    OHSM_ENSURE(in_len <= INT_MAX - 2 * AES_BLOCK, OHSM_DATA_LEN_RANGE);
    if (m->mech == OHSM_M_AES_GCM) {
        OHSM_TRY(gcm_tag_len(m, &tag));
        need = in_len + tag;
    } else if (m->mech == OHSM_M_AES_CBC_PAD) {
        need = (in_len / AES_BLOCK + 1) * AES_BLOCK; /* PKCS#7 always adds 1..16 bytes */
    } else if (m->mech == OHSM_M_AES_CTR) {
        OHSM_ENSURE(in_len > 0, OHSM_DATA_LEN_RANGE);
    } else {
        OHSM_ENSURE(in_len > 0 && in_len % AES_BLOCK == 0, OHSM_DATA_LEN_RANGE);
    }
    /* GCM's security rests on never using an IV twice under one key (SP 800-38D §8): a repeated
     * IV gives away the XOR of two plaintexts and the authentication key. The HSM cannot know
     * what IVs a caller used before, so it makes every GCM IV itself (as CloudHSM does) and
     * refuses the caller's. CBC and CTR may take the caller's IV. */
    OHSM_ENSURE(m->mech != OHSM_M_AES_GCM || m->iv_len == 0, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_TRY(enc_iv(m, ivn, need, out == NULL ? 0 : cap, out_len, iv_out, iv_cap, iv_len, &iv));
    if (m->mech == OHSM_M_AES_GCM) {
        OHSM_TRY(gcm_run(k, true, iv, m->aad, m->aad_len, tag, in, in_len, out));
        *out_len = need;
        return OHSM_OK;
    }
    return aes_run(k, m->mech, true, iv, in, in_len, out, out_len);
}

/* CBC with PKCS#7 padding: the plaintext length is known only after decrypting, so the last
 * block goes through a stack buffer and a caller may pass a buffer of exactly the plaintext's
 * size. */
static ohsm_rv cbc_pad_decrypt(const struct ohsm_mech_key *k, const uint8_t *iv, const uint8_t *in,
                               size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    ohsm_rv rv;
    uint8_t last[2 * AES_BLOCK];
    size_t head = in_len - AES_BLOCK;
    size_t n = 0;
    const uint8_t *iv2 = head > 0 ? in + head - AES_BLOCK : iv;

    if (cap >= in_len) {
        return aes_run(k, OHSM_M_AES_CBC_PAD, false, iv, in, in_len, out, out_len);
    }
    if (cap < head) {
        /* At most in_len - 1 bytes of plaintext: a retry with that much room succeeds. */
        *out_len = in_len - 1;
        return OHSM_BUFFER_TOO_SMALL;
    }
    rv = aes_run(k, OHSM_M_AES_CBC_PAD, false, iv2, in + head, AES_BLOCK, last, &n);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_mech_too_small(head + n, cap, out_len);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (head > 0) {
        rv = aes_run(k, OHSM_M_AES_CBC, false, iv, in, head, out, out_len);
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    memcpy(out + head, last, n);
    *out_len = head + n;
out:
    OPENSSL_cleanse(last, sizeof(last));
    return rv;
}

ohsm_rv ohsm_mech_aes_decrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                              const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                              size_t *out_len)
{
    size_t ivn = mode_iv_len(m->mech);
    size_t tag = 0;

    OHSM_TRY(aes_key(k));
    OHSM_ENSURE(m->iv_len == ivn && (ivn == 0 || m->iv != NULL), OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in_len <= INT_MAX, OHSM_ENCRYPTED_DATA_LEN_RANGE);
    cap = out == NULL ? 0 : cap;
    switch (m->mech) {
    case OHSM_M_AES_GCM:
        OHSM_TRY(gcm_tag_len(m, &tag));
        OHSM_ENSURE(in_len >= tag, OHSM_ENCRYPTED_DATA_LEN_RANGE);
        OHSM_TRY(ohsm_mech_too_small(in_len - tag, cap, out_len));
        OHSM_TRY(gcm_run(k, false, m->iv, m->aad, m->aad_len, tag, in, in_len, out));
        *out_len = in_len - tag;
        return OHSM_OK;
    case OHSM_M_AES_CBC_PAD:
        OHSM_ENSURE(in_len > 0 && in_len % AES_BLOCK == 0, OHSM_ENCRYPTED_DATA_LEN_RANGE);
        return cbc_pad_decrypt(k, m->iv, in, in_len, out, cap, out_len);
    case OHSM_M_AES_CTR:
        OHSM_ENSURE(in_len > 0, OHSM_ENCRYPTED_DATA_LEN_RANGE);
        break;
    default:
        OHSM_ENSURE(in_len > 0 && in_len % AES_BLOCK == 0, OHSM_ENCRYPTED_DATA_LEN_RANGE);
        break;
    }
    OHSM_TRY(ohsm_mech_too_small(in_len, cap, out_len));
    return aes_run(k, m->mech, false, m->iv, in, in_len, out, out_len);
}

/* ---- Triple DES encrypt / decrypt ---- */

static ohsm_rv des3_key(const struct ohsm_mech_key *k)
{
    OHSM_ENSURE(k->cls == OHSM_CLASS_SECRET && k->ktype == OHSM_KT_DES3,
                OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(k->raw != NULL && k->raw_len == DES3_KEY, OHSM_KEY_SIZE_RANGE);
    return OHSM_OK;
}

/* One pass of 3DES over the whole message into out (room for in_len + DES_BLOCK bytes). Bad
 * padding on decryption is OHSM_ENCRYPTED_DATA_INVALID. */
static ohsm_rv des3_run(const struct ohsm_mech_key *k, uint32_t mech, bool enc, const uint8_t *iv,
                        const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len)
{
    const EVP_CIPHER *c = mech == OHSM_M_DES3_ECB ? EVP_des_ede3_ecb() : EVP_des_ede3_cbc();
    return evp_run(c, k, mech == OHSM_M_DES3_CBC_PAD, enc, iv, in, in_len, out, out_len);
}

/* 3DES-ECB/CBC/CBC-PAD (ohsm_mech_encrypt's contract). CBC takes the caller's 8-byte IV or
 * generates one into iv_out; ECB takes none. */
ohsm_rv ohsm_mech_des3_encrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                               const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                               size_t *out_len, uint8_t *iv_out, size_t iv_cap, size_t *iv_len)
{
    size_t ivn = m->mech == OHSM_M_DES3_ECB ? 0 : DES_BLOCK;
    size_t need = in_len;
    const uint8_t *iv = m->iv;

    OHSM_TRY(des3_key(k));
    OHSM_ENSURE(in_len <= INT_MAX - 2 * DES_BLOCK, OHSM_DATA_LEN_RANGE);
    if (m->mech == OHSM_M_DES3_CBC_PAD) {
        need = (in_len / DES_BLOCK + 1) * DES_BLOCK; /* PKCS#7 always adds 1..8 bytes */
    } else {
        OHSM_ENSURE(in_len > 0 && in_len % DES_BLOCK == 0, OHSM_DATA_LEN_RANGE);
    }
    OHSM_TRY(enc_iv(m, ivn, need, out == NULL ? 0 : cap, out_len, iv_out, iv_cap, iv_len, &iv));
    return des3_run(k, m->mech, true, iv, in, in_len, out, out_len);
}

/* Decrypts into a secure scratch buffer first, so a caller may pass room for exactly the
 * plaintext (CBC_PAD learns its length only at the end). */
ohsm_rv ohsm_mech_des3_decrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                               const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                               size_t *out_len)
{
    size_t ivn = m->mech == OHSM_M_DES3_ECB ? 0 : DES_BLOCK;
    uint8_t *tmp = NULL;
    size_t n = 0;
    ohsm_rv rv;

    OHSM_TRY(des3_key(k));
    OHSM_ENSURE(m->iv_len == ivn && (ivn == 0 || m->iv != NULL), OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in_len > 0 && in_len % DES_BLOCK == 0 && in_len <= INT_MAX - 2 * DES_BLOCK,
                OHSM_ENCRYPTED_DATA_LEN_RANGE);
    cap = out == NULL ? 0 : cap;
    if (m->mech != OHSM_M_DES3_CBC_PAD || cap < in_len - DES_BLOCK) {
        /* Unpadded: exactly in_len; padded: at most in_len - 1 (a retry with that succeeds). */
        OHSM_TRY(ohsm_mech_too_small(m->mech == OHSM_M_DES3_CBC_PAD ? in_len - 1 : in_len, cap,
                                     out_len));
    }
    tmp = OPENSSL_secure_malloc(in_len + DES_BLOCK);
    OHSM_ENSURE(tmp != NULL, OHSM_HOST_MEMORY);
    rv = des3_run(k, m->mech, false, m->iv, in, in_len, tmp, &n);
    if (rv == OHSM_OK) {
        rv = ohsm_mech_too_small(n, cap, out_len);
    }
    if (rv == OHSM_OK) {
        memcpy(out, tmp, n);
        *out_len = n;
    }
    OPENSSL_secure_clear_free(tmp, in_len + DES_BLOCK);
    return rv;
}

void ohsm_mech_des_parity(uint8_t *key, size_t len)
{
    for (size_t i = 0; key != NULL && i < len; i++) {
        uint8_t b = key[i] & 0xfe;
        uint8_t ones = 0;
        for (uint8_t v = b; v != 0; v &= (uint8_t)(v - 1)) {
            ones++;
        }
        key[i] = (uint8_t)(b | ((ones & 1) == 0));
    }
}

/* ---- HMAC ---- */

/* HMAC (RFC 2104) with a generic secret or AES key; tag = the full hash length. */
ohsm_rv ohsm_mech_hmac_tag(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           const uint8_t *in, size_t in_len, uint8_t tag[EVP_MAX_MD_SIZE],
                           size_t *tag_len)
{
    const EVP_MD *md = ohsm_mech_md_of(m->hash);
    unsigned int n = 0;

    OHSM_ENSURE(k->cls == OHSM_CLASS_SECRET &&
                    (k->ktype == OHSM_KT_GENERIC_SECRET || k->ktype == OHSM_KT_AES),
                OHSM_KEY_TYPE_INCONSISTENT);
    OHSM_ENSURE(k->raw != NULL && k->raw_len > 0 && k->raw_len <= INT_MAX, OHSM_KEY_SIZE_RANGE);
    OHSM_ENSURE(md != NULL && !m->prehashed, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in != NULL || in_len == 0, OHSM_ARGUMENTS_BAD);
    if (HMAC(md, k->raw, (int)k->raw_len, in_len > 0 ? in : (const uint8_t *)"", in_len, tag, &n) ==
        NULL) {
        OPENSSL_cleanse(tag, EVP_MAX_MD_SIZE);
        return ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR);
    }
    *tag_len = n;
    return OHSM_OK;
}

/* ---- AES key wrap ---- */

static size_t round8(size_t n)
{
    return (n + KW_BLOCK - 1) / KW_BLOCK * KW_BLOCK;
}

/* RFC 3394 / RFC 5649, and the CloudHSM variants that pad (PKCS#5 or zeros) to a multiple of 8
 * and then use RFC 3394. RFC 3394 needs at least two 64-bit blocks. */
ohsm_rv ohsm_mech_kw_wrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                          const uint8_t *material, size_t len, uint8_t *out, size_t cap,
                          size_t *out_len)
{
    uint8_t *padded = NULL;
    size_t plen = len;
    ohsm_rv rv;

    OHSM_TRY(aes_key(k));
    OHSM_ENSURE(m->iv_len == 0, OHSM_MECHANISM_PARAM_INVALID); /* default RFC IVs only */
    OHSM_ENSURE(len <= INT_MAX - 2 * AES_BLOCK, OHSM_DATA_LEN_RANGE);
    if (m->mech == OHSM_M_AES_KW_PKCS5) {
        plen = len + (KW_BLOCK - len % KW_BLOCK);
    } else if (m->mech == OHSM_M_AES_KW_ZERO || m->mech == OHSM_M_AES_KWP) {
        plen = round8(len);
    }
    OHSM_ENSURE(m->mech == OHSM_M_AES_KWP ? len > 0 : plen == round8(plen) && plen >= 16,
                OHSM_DATA_LEN_RANGE);
    OHSM_TRY(ohsm_mech_too_small(plen + KW_BLOCK, out == NULL ? 0 : cap, out_len));
    if (m->mech == OHSM_M_AES_KW || m->mech == OHSM_M_AES_KWP) {
        return aes_run(k, m->mech, true, NULL, material, len, out, out_len);
    }
    padded = OPENSSL_secure_malloc(plen);
    OHSM_ENSURE(padded != NULL, OHSM_HOST_MEMORY);
    memcpy(padded, material, len);
    memset(padded + len, m->mech == OHSM_M_AES_KW_PKCS5 ? (int)(plen - len) : 0, plen - len);
    rv = aes_run(k, OHSM_M_AES_KW, true, NULL, padded, plen, out, out_len);
    OPENSSL_secure_clear_free(padded, plen);
    return rv;
}

ohsm_rv ohsm_mech_kw_unwrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                            const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                            size_t *out_len)
{
    uint8_t *tmp = NULL;
    size_t n = 0;
    ohsm_rv rv;

    OHSM_TRY(aes_key(k));
    OHSM_ENSURE(m->iv_len == 0, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in_len >= (m->mech == OHSM_M_AES_KWP ? 16u : 24u) && in_len % KW_BLOCK == 0 &&
                    in_len <= INT_MAX - 2 * AES_BLOCK,
                OHSM_WRAPPED_KEY_INVALID);
    tmp = OPENSSL_secure_malloc(in_len + 2 * AES_BLOCK);
    OHSM_ENSURE(tmp != NULL, OHSM_HOST_MEMORY);
    rv = aes_run(k, m->mech == OHSM_M_AES_KWP ? OHSM_M_AES_KWP : OHSM_M_AES_KW, false, NULL, in,
                 in_len, tmp, &n);
    if (rv != OHSM_OK) {
        rv = OHSM_WRAPPED_KEY_INVALID;
        goto out;
    }
    if (m->mech == OHSM_M_AES_KW_PKCS5) {
        /* The RFC 3394 integrity check passed, so this is what the wrapper wrote: no oracle. */
        uint8_t pad = tmp[n - 1];
        rv = pad >= 1 && pad <= KW_BLOCK ? OHSM_OK : OHSM_WRAPPED_KEY_INVALID;
        for (size_t i = n - pad; rv == OHSM_OK && i < n; i++) {
            rv = tmp[i] == pad ? OHSM_OK : OHSM_WRAPPED_KEY_INVALID;
        }
        n -= rv == OHSM_OK ? pad : 0;
    }
    if (rv == OHSM_OK) {
        rv = ohsm_mech_too_small(n, out == NULL ? 0 : cap, out_len);
    }
    if (rv == OHSM_OK) {
        memcpy(out, tmp, n);
        *out_len = n;
    }
out:
    OPENSSL_secure_clear_free(tmp, in_len + 2 * AES_BLOCK);
    return rv;
}

/* AES-GCM wrapping: out = iv || ct || tag, so the blob is all an unwrap needs. The IV is always
 * a fresh random one: two wraps under one key with one IV would let the caller XOR a key it
 * knows against one it must never see (the same rule as ohsm_mech_aes_encrypt). */
ohsm_rv ohsm_mech_gcm_wrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                           const uint8_t *material, size_t len, uint8_t *out, size_t cap,
                           size_t *out_len)
{
    size_t tag = 0;

    OHSM_TRY(aes_key(k));
    OHSM_TRY(gcm_tag_len(m, &tag));
    OHSM_ENSURE(m->iv_len == 0, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(len <= INT_MAX - 2 * AES_BLOCK - GCM_IV_LEN, OHSM_DATA_LEN_RANGE);
    OHSM_TRY(ohsm_mech_too_small(GCM_IV_LEN + len + tag, out == NULL ? 0 : cap, out_len));
    OHSM_TRY(fresh_iv(out, GCM_IV_LEN));
    OHSM_TRY(gcm_run(k, true, out, m->aad, m->aad_len, tag, material, len, out + GCM_IV_LEN));
    *out_len = GCM_IV_LEN + len + tag;
    return OHSM_OK;
}

ohsm_rv ohsm_mech_gcm_unwrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                             const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                             size_t *out_len)
{
    size_t tag = 0;

    OHSM_TRY(aes_key(k));
    OHSM_TRY(gcm_tag_len(m, &tag));
    OHSM_ENSURE(m->iv_len == 0 || (m->iv_len == GCM_IV_LEN && m->iv != NULL),
                OHSM_MECHANISM_PARAM_INVALID);
    OHSM_ENSURE(in_len > GCM_IV_LEN + tag && in_len <= INT_MAX, OHSM_WRAPPED_KEY_INVALID);
    /* An IV given with the request must be the one the blob carries. */
    OHSM_ENSURE(m->iv_len == 0 || CRYPTO_memcmp(m->iv, in, GCM_IV_LEN) == 0,
                OHSM_WRAPPED_KEY_INVALID);
    size_t n = in_len - GCM_IV_LEN - tag;
    OHSM_TRY(ohsm_mech_too_small(n, out == NULL ? 0 : cap, out_len));
    ohsm_rv rv =
        gcm_run(k, false, in, m->aad, m->aad_len, tag, in + GCM_IV_LEN, in_len - GCM_IV_LEN, out);
    OHSM_ENSURE(rv == OHSM_OK, rv == OHSM_ENCRYPTED_DATA_INVALID ? OHSM_WRAPPED_KEY_INVALID : rv);
    *out_len = n;
    return OHSM_OK;
}

/* DER length of the TLV at p (a SEQUENCE for key material); 0 when it does not parse. */
static size_t der_tlv_len(const uint8_t *p, size_t n)
{
    if (n < 2 || p[0] != 0x30) {
        return 0;
    }
    if (p[1] < 0x80) {
        return 2 + (size_t)p[1] <= n ? 2 + (size_t)p[1] : 0;
    }
    size_t nb = p[1] & 0x7f;
    size_t body = 0;
    if (nb == 0 || nb > 3 || n < 2 + nb) {
        return 0;
    }
    for (size_t i = 0; i < nb; i++) {
        body = body << 8 | p[2 + i];
    }
    return body <= n - 2 - nb ? 2 + nb + body : 0;
}

ohsm_rv ohsm_mech_zero_unpad(uint32_t cls, uint32_t value_len, const uint8_t *p, size_t *len)
{
    OHSM_ENSURE(p != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    size_t want = cls == OHSM_CLASS_SECRET ? value_len : der_tlv_len(p, *len);
    /* At most 7 bytes of padding, all zero. */
    OHSM_ENSURE(want > 0 && want <= *len && *len - want < KW_BLOCK, OHSM_WRAPPED_KEY_INVALID);
    for (size_t i = want; i < *len; i++) {
        OHSM_ENSURE(p[i] == 0, OHSM_WRAPPED_KEY_INVALID);
    }
    *len = want;
    return OHSM_OK;
}

/* ---- digests and check values ---- */

ohsm_rv ohsm_mech_digest(uint32_t hash, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    const EVP_MD *md = ohsm_mech_md_of(hash);
    unsigned int n = 0;

    OHSM_ENSURE(out_len != NULL && (in != NULL || in_len == 0), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(md != NULL, OHSM_MECHANISM_PARAM_INVALID);
    OHSM_TRY(ohsm_mech_too_small(ohsm_hash_len(hash), out == NULL ? 0 : cap, out_len));
    OHSM_ENSURE(EVP_Digest(in_len > 0 ? in : (const uint8_t *)"", in_len, out, &n, md, NULL) == 1,
                ohsm_mech_ossl_fail(OHSM_DEVICE_ERROR));
    *out_len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_mech_kcv(uint32_t ktype, const uint8_t *key, size_t len, uint8_t kcv[3])
{
    static const uint8_t zero[AES_BLOCK];
    uint8_t buf[EVP_MAX_MD_SIZE];
    size_t n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(key != NULL && kcv != NULL, OHSM_ARGUMENTS_BAD);
    if (ktype == OHSM_KT_AES) {
        struct ohsm_mech_key k = {
            .cls = OHSM_CLASS_SECRET, .ktype = OHSM_KT_AES, .raw = key, .raw_len = len};
        OHSM_TRY(aes_key(&k));
        rv = aes_run(&k, OHSM_M_AES_ECB, true, NULL, zero, sizeof(zero), buf, &n);
    } else if (ktype == OHSM_KT_DES3) {
        struct ohsm_mech_key k = {
            .cls = OHSM_CLASS_SECRET, .ktype = OHSM_KT_DES3, .raw = key, .raw_len = len};
        OHSM_TRY(des3_key(&k));
        rv = des3_run(&k, OHSM_M_DES3_ECB, true, NULL, zero, DES_BLOCK, buf, &n);
    } else if (ktype == OHSM_KT_GENERIC_SECRET) {
        OHSM_ENSURE(len > 0, OHSM_KEY_SIZE_RANGE);
        rv = ohsm_mech_digest(OHSM_H_SHA1, key, len, buf, sizeof(buf), &n);
    } else {
        return OHSM_KEY_TYPE_INCONSISTENT;
    }
    if (rv == OHSM_OK) {
        memcpy(kcv, buf, 3);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rv;
}
