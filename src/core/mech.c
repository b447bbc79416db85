/* SPDX-License-Identifier: Apache-2.0
 *
 * Mechanism entry points: encrypt/decrypt, sign/verify and wrap/unwrap pick the implementation
 * by mechanism (AES and HMAC in mech_sym.c, RSA and ECDSA in mech_pk.c); key generation and key
 * material encodings are in mech_key.c. Also the hash table and the OpenSSL helpers the mech_*.c
 * files share. Parameters, inputs and signatures come from the wire; the implementations check
 * them. Stateless and thread-safe. Deprecated OpenSSL APIs are compiled out below.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "openhsm/mech.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/mech_int.h"

/* OpenSSL failed: its error queue explains why, but core does not print; drain it so the next
 * caller on this thread does not see stale errors. */
ohsm_rv ohsm_mech_ossl_fail(ohsm_rv rv)
{
    ERR_clear_error();
    return rv;
}

ohsm_rv ohsm_mech_too_small(size_t needed, size_t cap, size_t *out_len)
{
    if (cap < needed) {
        *out_len = needed;
        return OHSM_BUFFER_TOO_SMALL;
    }
    return OHSM_OK;
}

/* ---- context caches ---- */

/* Enough for the threads that use one key at the same time in practice; more make their own. */
#define CACHE_SLOTS 8

struct cache_slot {
    atomic_flag busy; /* held by the thread using ctx (or filling the slot) */
    uint64_t tag;     /* what ctx was set up for (0: empty) */
    void *ctx;
};

struct ohsm_mech_cache {
    struct cache_slot s[CACHE_SLOTS];
};

static void ctx_free(uint64_t tag, void *ctx)
{
    if ((tag & 0xffu) == OHSM_MECH_CTX_PKEY) {
        EVP_PKEY_CTX_free(ctx);
    } else if ((tag & 0xffu) == OHSM_MECH_CTX_CIPHER) {
        EVP_CIPHER_CTX_free(ctx); /* wipes the key schedule */
    }
}

ohsm_rv ohsm_mech_cache_new(struct ohsm_mech_cache **out)
{
    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    struct ohsm_mech_cache *c = calloc(1, sizeof(*c));
    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        atomic_flag_clear(&c->s[i].busy);
    }
    *out = c;
    return OHSM_OK;
}

void ohsm_mech_cache_free(struct ohsm_mech_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        ctx_free(c->s[i].tag, c->s[i].ctx);
    }
    free(c);
}

void *ohsm_mech_cache_take(struct ohsm_mech_cache *c, uint64_t tag, size_t *slot)
{
    size_t spare = OHSM_MECH_NO_SLOT;

    *slot = OHSM_MECH_NO_SLOT;
    if (c == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct cache_slot *e = &c->s[i];
        if (atomic_flag_test_and_set(&e->busy)) {
            continue; /* another thread's */
        }
        if (e->tag == tag && e->ctx != NULL) {
            if (spare != OHSM_MECH_NO_SLOT) {
                atomic_flag_clear(&c->s[spare].busy);
            }
            *slot = i;
            return e->ctx;
        }
        if (spare == OHSM_MECH_NO_SLOT) {
            spare = i; /* kept reserved in case no slot has this tag */
        } else {
            atomic_flag_clear(&e->busy);
        }
    }
    if (spare != OHSM_MECH_NO_SLOT) {
        /* Refilled by put; what it held was set up for something else. */
        struct cache_slot *e = &c->s[spare];
        ctx_free(e->tag, e->ctx);
        e->tag = 0;
        e->ctx = NULL;
        *slot = spare;
    }
    return NULL;
}

void ohsm_mech_cache_put(struct ohsm_mech_cache *c, size_t slot, uint64_t tag, void *ctx, bool ok)
{
    if (c == NULL || slot >= CACHE_SLOTS) {
        ctx_free(tag, ctx);
        return;
    }
    struct cache_slot *e = &c->s[slot];
    if (!ok) {
        /* A failed operation may leave the context in any state: not used again. */
        ctx_free(tag, ctx);
        tag = 0;
        ctx = NULL;
    }
    e->tag = tag;
    e->ctx = ctx;
    atomic_flag_clear(&e->busy); /* seq_cst: the stores above are seen by the next taker */
}

/* ---- hashes ---- */

static const struct {
    const char *name;
    size_t len;
} hashes[] = {
    [OHSM_H_SHA1] = {"sha1", 20},     [OHSM_H_SHA224] = {"sha224", 28},
    [OHSM_H_SHA256] = {"sha256", 32}, [OHSM_H_SHA384] = {"sha384", 48},
    [OHSM_H_SHA512] = {"sha512", 64},
};
#define HASH_COUNT (sizeof(hashes) / sizeof(hashes[0]))

const char *ohsm_hash_name(uint32_t h)
{
    return h > OHSM_H_NONE && h < HASH_COUNT ? hashes[h].name : NULL;
}

int ohsm_hash_from_name(const char *name)
{
    for (size_t h = 1; name != NULL && h < HASH_COUNT; h++) {
        if (strcasecmp(name, hashes[h].name) == 0) {
            return (int)h;
        }
    }
    return -1;
}

size_t ohsm_hash_len(uint32_t h)
{
    return h > OHSM_H_NONE && h < HASH_COUNT ? hashes[h].len : 0;
}

/* The static EVP_MDs, not EVP_MD_fetch: no allocation per call, nothing to free. */
const EVP_MD *ohsm_mech_md_of(uint32_t h)
{
    switch (h) {
    case OHSM_H_SHA1:
        return EVP_sha1();
    case OHSM_H_SHA224:
        return EVP_sha224();
    case OHSM_H_SHA256:
        return EVP_sha256();
    case OHSM_H_SHA384:
        return EVP_sha384();
    case OHSM_H_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

/* ---- encrypt / decrypt ---- */

ohsm_rv ohsm_mech_encrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                          const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                          size_t *out_len, uint8_t *iv_out, size_t iv_cap, size_t *iv_len)
{
    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL && (in != NULL || in_len == 0),
                OHSM_ARGUMENTS_BAD);
    if (iv_len != NULL) {
        *iv_len = 0;
    }
    switch (m->mech) {
    case OHSM_M_AES_GCM:
    case OHSM_M_AES_CBC_PAD:
    case OHSM_M_AES_CBC:
    case OHSM_M_AES_CTR:
    case OHSM_M_AES_ECB:
        return ohsm_mech_aes_encrypt(k, m, in, in_len, out, cap, out_len, iv_out, iv_cap, iv_len);
    case OHSM_M_DES3_ECB:
    case OHSM_M_DES3_CBC:
    case OHSM_M_DES3_CBC_PAD:
        return ohsm_mech_des3_encrypt(k, m, in, in_len, out, cap, out_len, iv_out, iv_cap, iv_len);
    case OHSM_M_RSA_OAEP:
    case OHSM_M_RSA_PKCS:
        return ohsm_mech_rsa_encrypt(k, m, in, in_len, out, cap, out_len);
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

ohsm_rv ohsm_mech_decrypt(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                          const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                          size_t *out_len)
{
    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL && (in != NULL || in_len == 0),
                OHSM_ARGUMENTS_BAD);
    switch (m->mech) {
    case OHSM_M_AES_GCM:
    case OHSM_M_AES_CBC_PAD:
    case OHSM_M_AES_CBC:
    case OHSM_M_AES_CTR:
    case OHSM_M_AES_ECB:
        return ohsm_mech_aes_decrypt(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_DES3_ECB:
    case OHSM_M_DES3_CBC:
    case OHSM_M_DES3_CBC_PAD:
        return ohsm_mech_des3_decrypt(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_RSA_OAEP:
    case OHSM_M_RSA_PKCS:
        return ohsm_mech_rsa_decrypt(k, m, in, in_len, out, cap, out_len);
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

/* ---- sign / verify ---- */

ohsm_rv ohsm_mech_sign(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                       const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t tag[EVP_MAX_MD_SIZE];
    size_t n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    switch (m->mech) {
    case OHSM_M_RSA_PKCS:
    case OHSM_M_RSA_PSS:
    case OHSM_M_ECDSA:
        return ohsm_mech_pk_sign(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_HMAC:
        OHSM_TRY(ohsm_mech_too_small(ohsm_hash_len(m->hash), out == NULL ? 0 : cap, out_len));
        rv = ohsm_mech_hmac_tag(k, m, in, in_len, tag, &n);
        if (rv == OHSM_OK) {
            memcpy(out, tag, n);
            *out_len = n;
        }
        OPENSSL_cleanse(tag, sizeof(tag));
        return rv;
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

ohsm_rv ohsm_mech_verify(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                         const uint8_t *in, size_t in_len, const uint8_t *sig, size_t sig_len)
{
    uint8_t tag[EVP_MAX_MD_SIZE];
    size_t n = 0;
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && m != NULL, OHSM_ARGUMENTS_BAD);
    switch (m->mech) {
    case OHSM_M_RSA_PKCS:
    case OHSM_M_RSA_PSS:
    case OHSM_M_ECDSA:
        return ohsm_mech_pk_verify(k, m, in, in_len, sig, sig_len);
    case OHSM_M_HMAC:
        OHSM_ENSURE(sig != NULL || sig_len == 0, OHSM_ARGUMENTS_BAD);
        rv = ohsm_mech_hmac_tag(k, m, in, in_len, tag, &n);
        if (rv == OHSM_OK && (sig_len != n || CRYPTO_memcmp(tag, sig, n) != 0)) {
            rv = OHSM_SIGNATURE_INVALID;
        }
        OPENSSL_cleanse(tag, sizeof(tag));
        return rv;
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

/* ---- wrap / unwrap ---- */

ohsm_rv ohsm_mech_wrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                       const uint8_t *material, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len)
{
    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL && material != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(len > 0, OHSM_DATA_LEN_RANGE);
    switch (m->mech) {
    case OHSM_M_AES_KW:
    case OHSM_M_AES_KWP:
    case OHSM_M_AES_KW_PKCS5:
    case OHSM_M_AES_KW_ZERO:
        return ohsm_mech_kw_wrap(k, m, material, len, out, cap, out_len);
    case OHSM_M_AES_GCM:
        return ohsm_mech_gcm_wrap(k, m, material, len, out, cap, out_len);
    case OHSM_M_RSA_OAEP:
    case OHSM_M_RSA_PKCS:
        return ohsm_mech_rsa_encrypt(k, m, material, len, out, cap, out_len);
    case OHSM_M_RSA_AES_KW:
        return ohsm_mech_rsa_aes_wrap(k, m, material, len, out, cap, out_len);
    default:
        return OHSM_MECHANISM_INVALID;
    }
}

ohsm_rv ohsm_mech_unwrap(const struct ohsm_mech_key *k, const struct ohsm_mech_params *m,
                         const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    ohsm_rv rv;

    OHSM_ENSURE(k != NULL && m != NULL && out_len != NULL && (in != NULL || in_len == 0),
                OHSM_ARGUMENTS_BAD);
    switch (m->mech) {
    case OHSM_M_AES_KW:
    case OHSM_M_AES_KWP:
    case OHSM_M_AES_KW_PKCS5:
    case OHSM_M_AES_KW_ZERO:
        return ohsm_mech_kw_unwrap(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_AES_GCM:
        return ohsm_mech_gcm_unwrap(k, m, in, in_len, out, cap, out_len);
    case OHSM_M_RSA_OAEP:
    case OHSM_M_RSA_PKCS:
        rv = ohsm_mech_rsa_decrypt(k, m, in, in_len, out, cap, out_len);
        if (rv == OHSM_ENCRYPTED_DATA_INVALID || rv == OHSM_ENCRYPTED_DATA_LEN_RANGE) {
            rv = OHSM_WRAPPED_KEY_INVALID;
        }
        return rv;
    case OHSM_M_RSA_AES_KW:
        return ohsm_mech_rsa_aes_unwrap(k, m, in, in_len, out, cap, out_len);
    default:
        return OHSM_MECHANISM_INVALID;
    }
}
