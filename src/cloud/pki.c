/* SPDX-License-Identifier: Apache-2.0
 *
 * Certificate issuance with OpenSSL 3 (X509 + X509V3_EXT_conf_nid, profile per RFC 5280 §4.2).
 * Inputs are ids this process generated; nothing here parses outside data. Serial numbers are 16
 * random bytes, positive and non-zero (RFC 5280 §4.1.2.2 allows up to 20 octets).
 */
#include "cloud/pki.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cloud/files.h"

ohsm_rv ohsm_pki_keygen(EVP_PKEY **out)
{
    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    OHSM_ENSURE(k != NULL, OHSM_DEVICE_ERROR);
    *out = k;
    return OHSM_OK;
}

static int set_serial(X509 *x)
{
    unsigned char r[16];
    int ok = 0;
    BIGNUM *bn = NULL;

    if (RAND_bytes(r, (int)sizeof(r)) != 1) {
        return 0;
    }
    r[0] = (unsigned char)((r[0] & 0x7fu) | 0x40u); /* positive, and never zero */
    bn = BN_bin2bn(r, (int)sizeof(r), NULL);
    if (bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL) {
        ok = 1;
    }
    BN_free(bn);
    return ok;
}

static int set_cn(X509_NAME *name, const char *cn)
{
    return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                      0);
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (e == NULL) {
        return 0;
    }
    int ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* A v3 certificate with serial, validity, subject CN and public key; issuer and extensions are
 * the caller's. */
static X509 *new_cert(EVP_PKEY *pub, const char *cn, long days)
{
    X509 *x = X509_new();
    X509_NAME *subj = NULL;

    if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL ||
        X509_set_pubkey(x, pub) != 1) {
        goto fail;
    }
    subj = X509_NAME_new();
    if (subj == NULL || set_cn(subj, cn) != 1 || X509_set_subject_name(x, subj) != 1) {
        goto fail;
    }
    X509_NAME_free(subj);
    return x;
fail:
    X509_NAME_free(subj);
    X509_free(x);
    return NULL;
}

ohsm_rv ohsm_pki_ca_cert(EVP_PKEY *key, const char *cluster_id, X509 **out)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    char cn[64]; /* ub-common-name is 64 (RFC 5280 appendix A) */
    X509V3_CTX ctx;
    X509 *x = NULL;

    OHSM_ENSURE(key != NULL && cluster_id != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_files_path(cn, sizeof(cn), "openhsm local CA for %s", cluster_id));
    x = new_cert(key, cn, OHSM_PKI_CA_DAYS);
    if (x == NULL || X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) {
        goto out;
    }
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") != 1 ||
        add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != 1 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 1 ||
        X509_sign(x, key, EVP_sha256()) <= 0) {
        goto out;
    }
    *out = x;
    x = NULL;
    rv = OHSM_OK;
out:
    X509_free(x);
    ERR_clear_error();
    return rv;
}

ohsm_rv ohsm_pki_hsm_cert(EVP_PKEY *hsm_key, const char *hsm_id, X509 *ca, EVP_PKEY *ca_key,
                          X509 **out)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    X509V3_CTX ctx;
    X509 *x = NULL;

    OHSM_ENSURE(hsm_key != NULL && hsm_id != NULL && ca != NULL && ca_key != NULL && out != NULL,
                OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(strlen(hsm_id) > 0 && strlen(hsm_id) < 64, OHSM_ARGUMENTS_BAD);
    x = new_cert(hsm_key, hsm_id, OHSM_PKI_HSM_DAYS);
    if (x == NULL || X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1) {
        goto out;
    }
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 1 ||
        add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 1 ||
        add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") != 1 ||
        add_ext(x, &ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost") != 1 ||
        add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 1 ||
        add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 1 ||
        X509_sign(x, ca_key, EVP_sha256()) <= 0) {
        goto out;
    }
    *out = x;
    x = NULL;
    rv = OHSM_OK;
out:
    X509_free(x);
    ERR_clear_error();
    return rv;
}

/* Writes what a PEM writer put into a memory BIO to a new file. */
static ohsm_rv bio_to_file(BIO *b, const char *path, mode_t mode)
{
    BUF_MEM *bm = NULL;
    if (BIO_get_mem_ptr(b, &bm) != 1 || bm == NULL) {
        return OHSM_DEVICE_ERROR;
    }
    return ohsm_files_write_new(path, bm->data, bm->length, mode);
}

ohsm_rv ohsm_pki_write_key(const char *path, EVP_PKEY *key)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    BUF_MEM *bm = NULL;

    OHSM_ENSURE(path != NULL && key != NULL, OHSM_ARGUMENTS_BAD);
    /* secmem BIO: the PEM text lives in the secure heap when one is set up, and is cleared on
     * free either way; the explicit cleanse below keeps that true whatever BIO_free does. */
    BIO *b = BIO_new(BIO_s_secmem());
    OHSM_ENSURE(b != NULL, OHSM_HOST_MEMORY);
    if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
        goto out;
    }
    rv = bio_to_file(b, path, 0600);
out:
    if (BIO_get_mem_ptr(b, &bm) == 1 && bm != NULL && bm->data != NULL) {
        OPENSSL_cleanse(bm->data, bm->max);
    }
    BIO_free(b);
    ERR_clear_error();
    return rv;
}

ohsm_rv ohsm_pki_write_cert(const char *path, X509 *cert, mode_t mode)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;

    OHSM_ENSURE(path != NULL && cert != NULL, OHSM_ARGUMENTS_BAD);
    BIO *b = BIO_new(BIO_s_mem());
    OHSM_ENSURE(b != NULL, OHSM_HOST_MEMORY);
    if (PEM_write_bio_X509(b, cert) == 1) {
        rv = bio_to_file(b, path, mode);
    }
    BIO_free(b);
    ERR_clear_error();
    return rv;
}
