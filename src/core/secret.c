/* SPDX-License-Identifier: Apache-2.0
 *
 * Secret buffers and password hashing. A password record is
 *   u8 version(1) | u8 log2 N | u8 r | u8 p | salt[16] | scrypt(pw, salt, N, r, p)[32]
 * and is compared with CRYPTO_memcmp. Every temporary that held key material is cleansed.
 */
#include "openhsm/secret.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "openhsm/rd.h"

struct ohsm_secret {
    size_t len;
    uint8_t data[]; /* len bytes, then a NUL */
};

ohsm_rv ohsm_secret_new(const void *buf, size_t len, struct ohsm_secret **out)
{
    OHSM_ENSURE(out != NULL && (buf != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(len < (1u << 20), OHSM_DATA_LEN_RANGE);
    struct ohsm_secret *s = OPENSSL_secure_zalloc(sizeof(*s) + len + 1);
    OHSM_ENSURE(s != NULL, OHSM_HOST_MEMORY);
    s->len = len;
    if (len > 0) {
        memcpy(s->data, buf, len);
    }
    *out = s;
    return OHSM_OK;
}

void ohsm_secret_free(struct ohsm_secret *s)
{
    if (s != NULL) {
        OPENSSL_secure_clear_free(s, sizeof(*s) + s->len + 1);
    }
}

const uint8_t *ohsm_secret_data(const struct ohsm_secret *s)
{
    return s->data;
}

size_t ohsm_secret_len(const struct ohsm_secret *s)
{
    return s->len;
}

#define PWHASH_VERSION 1
#define SALT_LEN 16
#define DK_LEN 32

/* scrypt N=2^14, r=8, p=1: 16 MiB and tens of milliseconds per guess (RFC 7914 §2). */
const struct ohsm_pwhash_cost ohsm_pwhash_default = {14, 8, 1};

static ohsm_rv derive(const struct ohsm_pwhash_cost *c, const uint8_t *pw, size_t pw_len,
                      const uint8_t *salt, uint8_t dk[DK_LEN])
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    uint64_t n = (uint64_t)1 << c->log2_n;
    uint32_t r = c->r;
    uint32_t p = c->p;
    /* OpenSSL takes the password as an octet string; a zero-length one must not be NULL. */
    static const uint8_t empty[1] = {0};
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                          (void *)(pw_len > 0 ? pw : empty), pw_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, SALT_LEN),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_end(),
    };

    if (c->log2_n < 1 || c->log2_n > 20 || c->r < 1 || c->p < 1 || c->p > 4) {
        return OHSM_DB;
    }
    kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    if (kdf == NULL) {
        goto out;
    }
    ctx = EVP_KDF_CTX_new(kdf);
    if (ctx == NULL || EVP_KDF_derive(ctx, dk, DK_LEN, params) != 1) {
        goto out;
    }
    rv = OHSM_OK;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rv;
}

ohsm_rv ohsm_pwhash_make(const struct ohsm_pwhash_cost *cost, const uint8_t *pw, size_t pw_len,
                         uint8_t rec[OHSM_PWHASH_LEN])
{
    ohsm_rv rv;
    uint8_t dk[DK_LEN];

    OHSM_ENSURE(cost != NULL && rec != NULL && (pw != NULL || pw_len == 0), OHSM_ARGUMENTS_BAD);
    rec[0] = PWHASH_VERSION;
    rec[1] = cost->log2_n;
    rec[2] = cost->r;
    rec[3] = cost->p;
    if (RAND_bytes(rec + 4, SALT_LEN) != 1) {
        return OHSM_DEVICE_ERROR;
    }
    rv = derive(cost, pw, pw_len, rec + 4, dk);
    if (rv == OHSM_OK) {
        memcpy(rec + 4 + SALT_LEN, dk, DK_LEN);
    }
    OPENSSL_cleanse(dk, sizeof(dk));
    return rv;
}

ohsm_rv ohsm_pwhash_make_salted(const struct ohsm_pwhash_cost *cost,
                                const uint8_t salt[OHSM_PWHASH_SALT_LEN], const uint8_t *pw,
                                size_t pw_len, uint8_t rec[OHSM_PWHASH_LEN])
{
    ohsm_rv rv;
    uint8_t dk[DK_LEN];

    OHSM_ENSURE(cost != NULL && salt != NULL && rec != NULL && (pw != NULL || pw_len == 0),
                OHSM_ARGUMENTS_BAD);
    rec[0] = PWHASH_VERSION;
    rec[1] = cost->log2_n;
    rec[2] = cost->r;
    rec[3] = cost->p;
    memcpy(rec + 4, salt, SALT_LEN);
    rv = derive(cost, pw, pw_len, rec + 4, dk);
    if (rv == OHSM_OK) {
        memcpy(rec + 4 + SALT_LEN, dk, DK_LEN);
    }
    OPENSSL_cleanse(dk, sizeof(dk));
    return rv;
}

ohsm_rv ohsm_pwhash_user_salt(const char *cluster_id, uint32_t id, uint64_t version,
                              uint8_t salt[OHSM_PWHASH_SALT_LEN])
{
    static const char tag[] = "openhsm user salt 1";
    uint8_t md[32];
    uint8_t num[12];
    unsigned int n = 0;
    bool ok;

    OHSM_ENSURE(cluster_id != NULL && salt != NULL, OHSM_ARGUMENTS_BAD);
    for (int i = 0; i < 4; i++) {
        num[i] = (uint8_t)(id >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; i++) {
        num[4 + i] = (uint8_t)(version >> (56 - 8 * i));
    }
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    /* The NULs keep the fields apart: no (cluster, id) pair can pose as another. */
    ok = md_ctx != NULL && EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(md_ctx, tag, sizeof(tag)) == 1 &&
         EVP_DigestUpdate(md_ctx, cluster_id, strlen(cluster_id) + 1) == 1 &&
         EVP_DigestUpdate(md_ctx, num, sizeof(num)) == 1 &&
         EVP_DigestFinal_ex(md_ctx, md, &n) == 1 && n == sizeof(md);
    EVP_MD_CTX_free(md_ctx);
    OHSM_ENSURE(ok, OHSM_DEVICE_ERROR);
    memcpy(salt, md, OHSM_PWHASH_SALT_LEN);
    return OHSM_OK;
}

bool ohsm_pwhash_has_salt(const uint8_t *rec, const uint8_t salt[OHSM_PWHASH_SALT_LEN])
{
    return rec != NULL && salt != NULL && rec[0] == PWHASH_VERSION &&
           memcmp(rec + 4, salt, SALT_LEN) == 0;
}

ohsm_rv ohsm_pwhash_verify(const uint8_t *rec, size_t rec_len, const uint8_t *pw, size_t pw_len)
{
    struct ohsm_rd r;
    uint8_t version = 0;
    struct ohsm_pwhash_cost c = {0, 0, 0};
    const uint8_t *salt = NULL;
    const uint8_t *want = NULL;
    uint8_t dk[DK_LEN];
    ohsm_rv rv;

    OHSM_ENSURE(pw != NULL || pw_len == 0, OHSM_ARGUMENTS_BAD);
    ohsm_rd_init(&r, rec, rec_len);
    if (ohsm_rd_u8(&r, &version) != OHSM_OK || ohsm_rd_u8(&r, &c.log2_n) != OHSM_OK ||
        ohsm_rd_u8(&r, &c.r) != OHSM_OK || ohsm_rd_u8(&r, &c.p) != OHSM_OK ||
        ohsm_rd_bytes(&r, SALT_LEN, &salt) != OHSM_OK ||
        ohsm_rd_bytes(&r, DK_LEN, &want) != OHSM_OK || ohsm_rd_done(&r) != OHSM_OK ||
        version != PWHASH_VERSION) {
        return OHSM_DB;
    }
    rv = derive(&c, pw, pw_len, salt, dk);
    if (rv == OHSM_OK && CRYPTO_memcmp(dk, want, DK_LEN) != 0) {
        rv = OHSM_PIN_INCORRECT;
    }
    OPENSSL_cleanse(dk, sizeof(dk));
    return rv;
}
