/* SPDX-License-Identifier: Apache-2.0
 *
 * Token-sign MFA and quorum tokens (include/openhsm/token.h): token hashing, RSA-2048 public key
 * checks, signature verification and the fixed-size approval record. Everything that comes in
 * (public keys, PEM text, signatures, approval data) is untrusted: it arrives from the wire, from
 * users' files or from the store. Approval records are parsed with struct ohsm_rd and refused on
 * any deviation from the one canonical encoding; public keys must be canonical DER, so the bytes an
 * HSM stores are the bytes every HSM stores. Pure: no I/O, no clock, no global state; thread-safe.
 * Deprecated OpenSSL APIs are compiled out below.
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED

#include "openhsm/token.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "openhsm/rd.h"

#define MFA_DOMAIN "openhsm-mfa-v1"
#define REC_MAGIC "OHQ1"
#define REC_HSM_ID_LEN (OHSM_APPROVAL_HSM_ID_MAX + 1)
#define REC_NONCE_LEN 16
#define REC_USER_LEN (OHSM_APPROVAL_USERNAME_MAX + 1)
#define REC_RESERVED_LEN 8
#define RSA_BITS 2048

/* ---- services ---- */

static const char *const qs_names[OHSM_QS_MAX_ + 1] = {
    [OHSM_QS_USER] = "user",
    [OHSM_QS_QUORUM] = "quorum",
    [OHSM_QS_CLUSTER] = "cluster",
    [OHSM_QS_REGISTRATION] = "registration",
    [OHSM_QS_KEY_MGMT] = "key-management",
    [OHSM_QS_KEY_USAGE] = "key-usage",
};

static bool qs_valid(unsigned s)
{
    return s >= OHSM_QS_USER && s <= OHSM_QS_MAX_;
}

const char *ohsm_qservice_name(enum ohsm_qservice s)
{
    return qs_valid((unsigned)s) ? qs_names[s] : NULL;
}

bool ohsm_qservice_parse(const char *name, enum ohsm_qservice *out)
{
    if (name == NULL || out == NULL) {
        return false;
    }
    for (unsigned s = OHSM_QS_USER; s <= OHSM_QS_MAX_; s++) {
        if (strcmp(name, qs_names[s]) == 0) {
            *out = (enum ohsm_qservice)s;
            return true;
        }
    }
    return false;
}

/* ---- MFA token ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Hashes a string as u16 BE length | bytes, so that ("ab", "c") and ("a", "bc") differ. */
static bool hash_str(EVP_MD_CTX *md, const char *s, size_t len)
{
    uint8_t n[2];
    put16(n, (uint16_t)len);
    return EVP_DigestUpdate(md, n, sizeof(n)) == 1 && EVP_DigestUpdate(md, s, len) == 1;
}

/* Exact bytes hashed (SHA-256, FIPS 180-4):
 *   "openhsm-mfa-v1" (14 bytes, no length, no NUL) | kind u8 |
 *   u16 BE strlen(hsm_id) | hsm_id | u16 BE strlen(username) | username |
 *   nonce[32] | expires u64 BE.
 * Every variable-length field is length-prefixed and every other field has a fixed size, so two
 * different sets of inputs never hash the same byte string. */
ohsm_rv ohsm_mfa_token(enum ohsm_mfa_kind kind, const char *hsm_id, const char *username,
                       const uint8_t nonce[32], uint64_t expires, uint8_t out[OHSM_TOKEN_LEN])
{
    OHSM_ENSURE(hsm_id != NULL && username != NULL && nonce != NULL && out != NULL,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(kind == OHSM_MFA_LOGIN || kind == OHSM_MFA_REGISTER, OHSM_ARGUMENTS_BAD);
    size_t id_len = strnlen(hsm_id, OHSM_MFA_STR_MAX + 1);
    size_t user_len = strnlen(username, OHSM_MFA_STR_MAX + 1);
    OHSM_ENSURE(id_len >= 1 && id_len <= OHSM_MFA_STR_MAX, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(user_len >= 1 && user_len <= OHSM_MFA_STR_MAX, OHSM_ARGUMENTS_BAD);

    ohsm_rv rv = OHSM_DEVICE_ERROR;
    uint8_t k = (uint8_t)kind;
    uint8_t exp[8];
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    put64(exp, expires);
    if (md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(md, MFA_DOMAIN, strlen(MFA_DOMAIN)) == 1 &&
        EVP_DigestUpdate(md, &k, 1) == 1 && hash_str(md, hsm_id, id_len) &&
        hash_str(md, username, user_len) && EVP_DigestUpdate(md, nonce, 32) == 1 &&
        EVP_DigestUpdate(md, exp, sizeof(exp)) == 1 && EVP_DigestFinal_ex(md, out, &n) == 1 &&
        n == OHSM_TOKEN_LEN) {
        rv = OHSM_OK;
    }
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(out, OHSM_TOKEN_LEN);
        ERR_clear_error();
    }
    EVP_MD_CTX_free(md);
    return rv;
}

/* ---- public keys ---- */

/* The public exponent must be odd and at least 3 (RFC 8017 §3.1: 3 <= e <= n - 1; even e is no
 * RSA permutation), and the modulus odd. */
static bool rsa_params_ok(const EVP_PKEY *pk)
{
    BIGNUM *e = NULL, *n = NULL;
    bool ok = EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
              EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) == 1 && !BN_is_negative(e) &&
              BN_is_odd(e) && !BN_is_one(e) && !BN_is_negative(n) && BN_is_odd(n) &&
              BN_num_bits(n) == RSA_BITS && BN_cmp(e, n) < 0;
    BN_free(e);
    BN_free(n);
    return ok;
}

/* Parses and checks a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RSA per RFC 8017 A.1.1): RSA
 * (not RSA-PSS), exactly 2048 bits, sane exponent, no trailing bytes, and canonical: re-encoding
 * gives the same bytes, so BER variants (long-form lengths, missing NULL parameters) are refused
 * and a key has one stored form. *out is the caller's on success. */
static ohsm_rv pub_parse(const uint8_t *der, size_t len, EVP_PKEY **out)
{
    ohsm_rv rv = OHSM_PUBLIC_KEY_INVALID;
    const uint8_t *p = der;
    uint8_t *enc = NULL;
    EVP_PKEY *pk = NULL;
    int enc_len;

    *out = NULL;
    OHSM_ENSURE(der != NULL && len > 0 && len <= OHSM_TOKEN_PUBKEY_MAX, OHSM_PUBLIC_KEY_INVALID);
    pk = d2i_PUBKEY(NULL, &p, (long)len);
    if (pk == NULL || (size_t)(p - der) != len || EVP_PKEY_get_id(pk) != EVP_PKEY_RSA ||
        EVP_PKEY_get_bits(pk) != RSA_BITS || !rsa_params_ok(pk)) {
        goto out;
    }
    enc_len = i2d_PUBKEY(pk, &enc);
    if (enc_len <= 0 || (size_t)enc_len != len || memcmp(enc, der, len) != 0) {
        goto out;
    }
    *out = pk;
    pk = NULL;
    rv = OHSM_OK;
out:
    OPENSSL_free(enc);
    EVP_PKEY_free(pk);
    if (rv != OHSM_OK) {
        ERR_clear_error();
    }
    return rv;
}

ohsm_rv ohsm_token_pubkey_check(const uint8_t *der, size_t len)
{
    EVP_PKEY *pk = NULL;
    ohsm_rv rv = pub_parse(der, len, &pk);
    EVP_PKEY_free(pk);
    return rv;
}

/* Decodes the first PEM block of text: "PUBLIC KEY" (SubjectPublicKeyInfo, RFC 7468 §13) or
 * "RSA PUBLIC KEY" (PKCS#1 RSAPublicKey, RFC 8017 A.1.1). Any other label (private keys,
 * certificates), encryption headers, or bytes that do not decode entirely are OHSM_DATA_INVALID.
 * The block's bytes are wiped: a private key given by mistake leaves nothing behind. */
static ohsm_rv pem_decode(const char *pem, size_t len, EVP_PKEY **out)
{
    ohsm_rv rv = OHSM_DATA_INVALID;
    BIO *bio = NULL;
    char *name = NULL, *header = NULL;
    uint8_t *data = NULL;
    long dlen = 0;
    const uint8_t *p;

    *out = NULL;
    OHSM_ENSURE(pem != NULL && len > 0 && len <= INT_MAX, OHSM_DATA_INVALID);
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1 || header == NULL ||
        header[0] != '\0' || dlen <= 0) {
        goto out;
    }
    p = data;
    if (strcmp(name, PEM_STRING_PUBLIC) == 0) {
        *out = d2i_PUBKEY(NULL, &p, dlen);
    } else if (strcmp(name, PEM_STRING_RSA_PUBLIC) == 0) {
        *out = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, dlen);
    }
    if (*out != NULL && p - data == dlen) {
        rv = OHSM_OK;
    }
out:
    if (rv != OHSM_OK) {
        EVP_PKEY_free(*out);
        *out = NULL;
        ERR_clear_error();
    }
    if (data != NULL) {
        OPENSSL_clear_free(data, dlen > 0 ? (size_t)dlen : 0);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(bio);
    return rv;
}

ohsm_rv ohsm_token_pubkey_from_pem(const char *pem, size_t len, uint8_t **der, size_t *der_len)
{
    ohsm_rv rv;
    EVP_PKEY *pk = NULL;
    uint8_t *enc = NULL, *copy = NULL;
    int enc_len;

    OHSM_ENSURE(der != NULL && der_len != NULL, OHSM_ARGUMENTS_BAD);
    *der = NULL;
    *der_len = 0;
    rv = pem_decode(pem, len, &pk);
    if (rv != OHSM_OK) {
        goto out;
    }
    /* Re-encode as SubjectPublicKeyInfo: one canonical form whatever the PEM flavour. */
    rv = OHSM_PUBLIC_KEY_INVALID;
    enc_len = i2d_PUBKEY(pk, &enc);
    if (enc_len <= 0) {
        goto out;
    }
    rv = ohsm_token_pubkey_check(enc, (size_t)enc_len);
    if (rv != OHSM_OK) {
        goto out;
    }
    copy = malloc((size_t)enc_len);
    if (copy == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    memcpy(copy, enc, (size_t)enc_len);
    *der = copy;
    *der_len = (size_t)enc_len;
out:
    OPENSSL_free(enc);
    EVP_PKEY_free(pk);
    if (rv != OHSM_OK) {
        ERR_clear_error();
    }
    return rv;
}

/* ---- signatures ---- */

/* RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2) where the 32 token bytes are taken as the
 * SHA-256 value in the DigestInfo: with a signature md set, EVP_PKEY_verify does not hash its
 * input, exactly like `openssl pkeyutl -sign -pkeyopt digest:sha256`. */
ohsm_rv ohsm_token_verify(const uint8_t *pub_der, size_t pub_len,
                          const uint8_t token[OHSM_TOKEN_LEN], const uint8_t *sig, size_t sig_len)
{
    ohsm_rv rv;
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = NULL;

    OHSM_ENSURE(token != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(pub_parse(pub_der, pub_len, &pk));
    rv = OHSM_TOKEN_INVALID;
    if (sig == NULL || sig_len == 0 || sig_len > OHSM_TOKEN_SIG_MAX ||
        sig_len != (size_t)EVP_PKEY_get_size(pk)) {
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1) {
        rv = OHSM_DEVICE_ERROR;
        goto out;
    }
    if (EVP_PKEY_verify(ctx, sig, sig_len, token, OHSM_TOKEN_LEN) == 1) {
        rv = OHSM_OK;
    }
out:
    if (rv != OHSM_OK) {
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return rv;
}

ohsm_rv ohsm_approval_digest(const uint8_t *data, size_t len, uint8_t out[OHSM_TOKEN_LEN])
{
    OHSM_ENSURE(out != NULL && (data != NULL || len == 0), OHSM_ARGUMENTS_BAD);
    unsigned int n = 0;
    static const uint8_t empty[1] = {0};
    if (EVP_Digest(data != NULL ? data : empty, len, out, &n, EVP_sha256(), NULL) != 1 ||
        n != OHSM_TOKEN_LEN) {
        ERR_clear_error();
        OPENSSL_cleanse(out, OHSM_TOKEN_LEN);
        return OHSM_DEVICE_ERROR;
    }
    return OHSM_OK;
}

/* ---- approval records ---- */

/* Record strings are 1..cap-1 graphic ASCII characters (no space), so each is NUL-terminated
 * within its field and cannot smuggle bytes that print or compare surprisingly. */
static bool str_ok(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == 0 || n >= cap) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* A field of cap bytes: a valid string, then NUL padding to the end. */
static bool field_ok(const uint8_t *f, size_t cap)
{
    char tmp[REC_USER_LEN];
    memcpy(tmp, f, cap);
    if (!str_ok(tmp, cap)) {
        return false;
    }
    for (size_t i = strnlen(tmp, cap); i < cap; i++) {
        if (f[i] != 0) {
            return false;
        }
    }
    return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

ohsm_rv ohsm_approval_rec_encode(const struct ohsm_approval_rec *r,
                                 uint8_t out[OHSM_APPROVAL_REC_LEN])
{
    OHSM_ENSURE(r != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(qs_valid((unsigned)r->service), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(str_ok(r->hsm_id, REC_HSM_ID_LEN), OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(str_ok(r->username, REC_USER_LEN), OHSM_ARGUMENTS_BAD);

    uint8_t *p = out;
    memset(out, 0, OHSM_APPROVAL_REC_LEN);
    memcpy(p, REC_MAGIC, 4);
    p[4] = (uint8_t)r->service;
    p[5] = r->slot;
    /* p[6..7] reserved, zero */
    p += 8;
    memcpy(p, r->hsm_id, strlen(r->hsm_id));
    p += REC_HSM_ID_LEN;
    memcpy(p, r->nonce, REC_NONCE_LEN);
    p += REC_NONCE_LEN;
    memcpy(p, r->username, strlen(r->username));
    p += REC_USER_LEN;
    put64(p, r->expires);
    p += 8;
    put64(p, r->key_handle);
    /* last 8 bytes reserved, zero */
    return OHSM_OK;
}

ohsm_rv ohsm_approval_rec_decode(const uint8_t *p, size_t len, struct ohsm_approval_rec *out)
{
    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));

    struct ohsm_rd rd;
    const uint8_t *magic = NULL, *resv1 = NULL, *id = NULL, *nonce = NULL, *user = NULL;
    const uint8_t *exp = NULL, *kh = NULL, *resv2 = NULL;
    uint8_t svc = 0, slot = 0;
    ohsm_rd_init(&rd, p, len);
    /* Sticky reader: a short input fails ohsm_rd_done below. */
    (void)(ohsm_rd_bytes(&rd, 4, &magic) || ohsm_rd_u8(&rd, &svc) || ohsm_rd_u8(&rd, &slot) ||
           ohsm_rd_bytes(&rd, 2, &resv1) || ohsm_rd_bytes(&rd, REC_HSM_ID_LEN, &id) ||
           ohsm_rd_bytes(&rd, REC_NONCE_LEN, &nonce) || ohsm_rd_bytes(&rd, REC_USER_LEN, &user) ||
           ohsm_rd_bytes(&rd, 8, &exp) || ohsm_rd_bytes(&rd, 8, &kh) ||
           ohsm_rd_bytes(&rd, REC_RESERVED_LEN, &resv2));
    if (ohsm_rd_done(&rd) != OHSM_OK || memcmp(magic, REC_MAGIC, 4) != 0 || !qs_valid(svc) ||
        !all_zero(resv1, 2) || !all_zero(resv2, REC_RESERVED_LEN) ||
        !field_ok(id, REC_HSM_ID_LEN) || !field_ok(user, REC_USER_LEN)) {
        return OHSM_DATA_INVALID;
    }
    out->service = (enum ohsm_qservice)svc;
    out->slot = slot;
    memcpy(out->hsm_id, id, REC_HSM_ID_LEN); /* NUL-terminated: field_ok */
    memcpy(out->nonce, nonce, REC_NONCE_LEN);
    memcpy(out->username, user, REC_USER_LEN);
    out->expires = get64(exp);
    out->key_handle = get64(kh);
    return OHSM_OK;
}

ohsm_rv ohsm_approval_find(const uint8_t *data, size_t len, const char *hsm_id,
                           struct ohsm_approval_rec *out)
{
    OHSM_ENSURE(hsm_id != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    OHSM_ENSURE(data != NULL && len > 0 && len % OHSM_APPROVAL_REC_LEN == 0 &&
                    len / OHSM_APPROVAL_REC_LEN <= OHSM_APPROVAL_MAX_RECS,
                OHSM_DATA_INVALID);

    struct ohsm_approval_rec rec;
    unsigned found = 0;
    for (size_t off = 0; off < len; off += OHSM_APPROVAL_REC_LEN) {
        ohsm_rv rv = ohsm_approval_rec_decode(data + off, OHSM_APPROVAL_REC_LEN, &rec);
        if (rv != OHSM_OK) {
            memset(out, 0, sizeof(*out));
            return rv;
        }
        if (strcmp(rec.hsm_id, hsm_id) == 0) {
            found++;
            *out = rec;
        }
    }
    if (found != 1) {
        /* Two records for one HSM: which nonce counts would be ambiguous, so neither does. */
        memset(out, 0, sizeof(*out));
        return OHSM_TOKEN_NOT_FOUND;
    }
    return OHSM_OK;
}
