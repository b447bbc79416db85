/* SPDX-License-Identifier: Apache-2.0
 *
 * Certificate issuance with OpenSSL 3 (X509 + X509V3_EXT_conf_nid, profile per RFC 5280 §4.2).
 * Issuance inputs are ids this process generated. Serial numbers are 16 random bytes, positive and
 * non-zero (RFC 5280 §4.1.2.2 allows up to 20 octets). The one parser of outside data is
 * ohsm_pki_check_init (InitializeCluster's PEM text, untrusted): lengths are bounded before
 * OpenSSL sees it, and every refusal says why.
 */
#include "cloud/pki.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
#include <stdarg.h>
#include <stdbool.h>

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

/* ==== issue 12: identity certificates and InitializeCluster's checks ==== */

static void whyf(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void whyf(char *why, size_t cap, const char *fmt, ...)
{
    if (why == NULL || cap == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* Adds "field=value" entries to name. */
static int name_add(X509_NAME *name, const char *field, const char *value)
{
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)value, -1,
                                      -1, 0);
}

/* A v3 certificate for pub with the given subject, issued under issuer_name, valid from now for
 * days; extensions from exts (NULL-terminated pairs of nid, value) with issuer as the context
 * (NULL: self-signed); signed by sign_key with SHA-256. */
struct ext {
    int nid;
    const char *value;
};
static X509 *issue(EVP_PKEY *pub, const X509_NAME *subject, X509 *issuer, EVP_PKEY *sign_key,
                   long days, const struct ext *exts)
{
    X509V3_CTX ctx;
    X509 *x = X509_new();

    if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) == NULL ||
        X509_set_pubkey(x, pub) != 1 || X509_set_subject_name(x, subject) != 1 ||
        X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : subject) != 1) {
        goto fail;
    }
    X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    for (const struct ext *e = exts; e->value != NULL; e++) {
        if (add_ext(x, &ctx, e->nid, e->value) != 1) {
            goto fail;
        }
    }
    if (X509_sign(x, sign_key, EVP_sha256()) <= 0) {
        goto fail;
    }
    return x;
fail:
    X509_free(x);
    return NULL;
}

static const struct ext root_exts[] = {{NID_basic_constraints, "critical,CA:TRUE"},
                                       {NID_key_usage, "critical,keyCertSign,cRLSign"},
                                       {NID_subject_key_identifier, "hash"},
                                       {0, NULL}};

static X509 *root_cert(EVP_PKEY *key, const char *cn)
{
    X509 *x = NULL;
    X509_NAME *n = X509_NAME_new();
    if (n != NULL && name_add(n, "O", "openhsm") == 1 && name_add(n, "CN", cn) == 1) {
        x = issue(key, n, NULL, key, OHSM_PKI_ROOT_DAYS, root_exts);
    }
    X509_NAME_free(n);
    return x;
}

/* Is x key's self-signed certificate, valid now? */
static bool root_ok(X509 *x, EVP_PKEY *key)
{
    return x != NULL && EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1 && X509_verify(x, key) == 1 &&
           X509_cmp_current_time(X509_get0_notBefore(x)) < 0 &&
           X509_cmp_current_time(X509_get0_notAfter(x)) > 0;
}

static ohsm_rv write_cert_atomic(const char *path, X509 *x)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    BUF_MEM *bm = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    OHSM_ENSURE(b != NULL, OHSM_HOST_MEMORY);
    if (PEM_write_bio_X509(b, x) == 1 && BIO_get_mem_ptr(b, &bm) == 1 && bm != NULL) {
        rv = ohsm_files_write_atomic(path, bm->data, bm->length, 0644);
    }
    BIO_free(b);
    return rv;
}

/* Loads or makes one root (see ohsm_pki_roots_open). */
static ohsm_rv root_open(const char *key_dir, const char *cert_dir, const char *name,
                         const char *cn, EVP_PKEY **key, X509 **cert)
{
    char kpath[4096], cpath[4096];
    ohsm_rv rv = OHSM_OK;
    BIO *b = NULL;

    OHSM_TRY(ohsm_files_path(kpath, sizeof(kpath), "%s/%s.key", key_dir, name));
    OHSM_TRY(ohsm_files_path(cpath, sizeof(cpath), "%s/%s.crt", cert_dir, name));
    if (access(kpath, F_OK) != 0 && errno == ENOENT) {
        /* A certificate without its key is stale (a crash between the two): replaced below. */
        if ((rv = ohsm_pki_keygen(key)) != OHSM_OK ||
            (rv = ohsm_pki_write_key(kpath, *key)) != OHSM_OK) {
            return rv;
        }
    } else {
        OHSM_TRY(ohsm_files_check_owned(kpath, geteuid(), true, NULL, 0));
        b = BIO_new_file(kpath, "r");
        OHSM_ENSURE(b != NULL, OHSM_IO);
        *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
        ERR_clear_error();
        OHSM_ENSURE(*key != NULL, OHSM_DATA_INVALID);
    }
    b = BIO_new_file(cpath, "r");
    if (b != NULL) {
        *cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
    }
    ERR_clear_error();
    if (!root_ok(*cert, *key)) {
        X509_free(*cert);
        *cert = root_cert(*key, cn);
        OHSM_ENSURE(*cert != NULL, OHSM_DEVICE_ERROR);
        rv = write_cert_atomic(cpath, *cert);
    }
    return rv;
}

ohsm_rv ohsm_pki_roots_open(const char *key_dir, const char *cert_dir, struct ohsm_pki_roots *out)
{
    struct ohsm_pki_roots r = {NULL, NULL, NULL, NULL};
    ohsm_rv rv;

    OHSM_ENSURE(key_dir != NULL && cert_dir != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    rv = root_open(key_dir, cert_dir, OHSM_PKI_MFR_ROOT, "openhsm manufacturer root", &r.mfr_key,
                   &r.mfr);
    if (rv == OHSM_OK) {
        rv = root_open(key_dir, cert_dir, OHSM_PKI_HW_ROOT, "openhsm hardware root", &r.hw_key,
                       &r.hw);
    }
    if (rv != OHSM_OK) {
        int saved = errno;
        ohsm_pki_roots_clear(&r);
        errno = saved;
        return rv;
    }
    *out = r;
    return OHSM_OK;
}

void ohsm_pki_roots_clear(struct ohsm_pki_roots *r)
{
    if (r != NULL) {
        EVP_PKEY_free(r->mfr_key);
        X509_free(r->mfr);
        EVP_PKEY_free(r->hw_key);
        X509_free(r->hw);
        memset(r, 0, sizeof(*r));
    }
}

static bool printable_id(const char *id, size_t max)
{
    size_t n = id != NULL ? strnlen(id, max + 1) : 0;
    if (n == 0 || n > max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (id[i] <= 0x20 || id[i] >= 0x7f) {
            return false;
        }
    }
    return true;
}

/* CloudHSM's CSR subject (UG initialize-cluster, sign-csr):
 * /C=US/ST=CA/O=Cavium/OU=N3FIPS/L=SanJose/CN=HSM:<HSM identifier>:PARTN:<n>, for FIPS mode */
static X509_NAME *hsm_subject(const char *hsm_id, unsigned partition)
{
    char cn[65];
    X509_NAME *n = X509_NAME_new();
    if (n == NULL ||
        ohsm_files_path(cn, sizeof(cn), "HSM:%s:PARTN:%u, for FIPS mode", hsm_id, partition) !=
            OHSM_OK ||
        name_add(n, "C", "US") != 1 || name_add(n, "ST", "CA") != 1 ||
        name_add(n, "O", "Cavium") != 1 || name_add(n, "OU", "N3FIPS") != 1 ||
        name_add(n, "L", "SanJose") != 1 || name_add(n, "CN", cn) != 1) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

static const struct ext hw_exts[] = {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                     {NID_key_usage, "critical,keyCertSign,digitalSignature"},
                                     {NID_subject_key_identifier, "hash"},
                                     {NID_authority_key_identifier, "keyid:always"},
                                     {0, NULL}};
static const struct ext hsm_exts[] = {{NID_basic_constraints, "critical,CA:FALSE"},
                                      {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                                      {NID_subject_key_identifier, "hash"},
                                      {NID_authority_key_identifier, "keyid:always"},
                                      {0, NULL}};

ohsm_rv ohsm_pki_hsm_identity(const struct ohsm_pki_roots *roots, const char *hsm_id,
                              unsigned partition, struct ohsm_pki_identity *out)
{
    struct ohsm_pki_identity id = {NULL, NULL, NULL, NULL, NULL};
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    EVP_PKEY *hw_key = NULL;
    X509_NAME *subj = NULL, *hw_name = NULL;

    OHSM_ENSURE(roots != NULL && roots->mfr_key != NULL && roots->mfr != NULL &&
                    roots->hw_key != NULL && roots->hw != NULL && out != NULL &&
                    printable_id(hsm_id, 32),
                OHSM_ARGUMENTS_BAD);
    subj = hsm_subject(hsm_id, partition);
    hw_name = X509_NAME_new();
    id.cluster_key = EVP_RSA_gen(2048);
    if (subj == NULL || hw_name == NULL || id.cluster_key == NULL ||
        ohsm_pki_keygen(&hw_key) != OHSM_OK || name_add(hw_name, "O", "openhsm") != 1 ||
        name_add(hw_name, "OU", "HSM hardware") != 1 || name_add(hw_name, "CN", hsm_id) != 1) {
        goto out;
    }
    id.csr = X509_REQ_new();
    if (id.csr == NULL || X509_REQ_set_version(id.csr, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_subject_name(id.csr, subj) != 1 ||
        X509_REQ_set_pubkey(id.csr, id.cluster_key) != 1 ||
        X509_REQ_sign(id.csr, id.cluster_key, EVP_sha256()) <= 0) {
        goto out;
    }
    id.aws_hw_cert = issue(hw_key, hw_name, roots->hw, roots->hw_key, OHSM_PKI_CA_DAYS, hw_exts);
    id.mfr_hw_cert = issue(hw_key, hw_name, roots->mfr, roots->mfr_key, OHSM_PKI_CA_DAYS, hw_exts);
    if (id.aws_hw_cert == NULL || id.mfr_hw_cert == NULL) {
        goto out;
    }
    /* The hardware key signs; either hardware certificate gives the issuer name and key id
     * (both have the same subject and key). */
    id.hsm_cert = issue(id.cluster_key, subj, id.aws_hw_cert, hw_key, OHSM_PKI_CA_DAYS, hsm_exts);
    if (id.hsm_cert == NULL) {
        goto out;
    }
    *out = id;
    memset(&id, 0, sizeof(id));
    rv = OHSM_OK;
out:
    ohsm_pki_identity_clear(&id);
    EVP_PKEY_free(hw_key); /* the hardware key never leaves the "device" */
    X509_NAME_free(subj);
    X509_NAME_free(hw_name);
    ERR_clear_error();
    return rv;
}

void ohsm_pki_identity_clear(struct ohsm_pki_identity *id)
{
    if (id != NULL) {
        EVP_PKEY_free(id->cluster_key);
        X509_REQ_free(id->csr);
        X509_free(id->hsm_cert);
        X509_free(id->aws_hw_cert);
        X509_free(id->mfr_hw_cert);
        memset(id, 0, sizeof(*id));
    }
}

static ohsm_rv bio_to_string(BIO *b, char **out)
{
    BUF_MEM *bm = NULL;
    OHSM_ENSURE(BIO_get_mem_ptr(b, &bm) == 1 && bm != NULL, OHSM_DEVICE_ERROR);
    char *s = malloc(bm->length + 1);
    OHSM_ENSURE(s != NULL, OHSM_HOST_MEMORY);
    memcpy(s, bm->data, bm->length);
    s[bm->length] = '\0';
    *out = s;
    return OHSM_OK;
}

ohsm_rv ohsm_pki_cert_pem(X509 *x, char **out)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    OHSM_ENSURE(x != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    BIO *b = BIO_new(BIO_s_mem());
    OHSM_ENSURE(b != NULL, OHSM_HOST_MEMORY);
    if (PEM_write_bio_X509(b, x) == 1) {
        rv = bio_to_string(b, out);
    }
    BIO_free(b);
    return rv;
}

ohsm_rv ohsm_pki_csr_pem(X509_REQ *r, char **out)
{
    ohsm_rv rv = OHSM_DEVICE_ERROR;
    OHSM_ENSURE(r != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    BIO *b = BIO_new(BIO_s_mem());
    OHSM_ENSURE(b != NULL, OHSM_HOST_MEMORY);
    if (PEM_write_bio_X509_REQ(b, r) == 1) {
        rv = bio_to_string(b, out);
    }
    BIO_free(b);
    return rv;
}

/* ---- InitializeCluster ---- */

/* Parses one PEM certificate (or request when req is set) of a bounded text. */
static void *parse_pem(const char *pem, bool req)
{
    BIO *b = BIO_new_mem_buf(pem, (int)strlen(pem));
    void *x = NULL;
    if (b != NULL) {
        x = req ? (void *)PEM_read_bio_X509_REQ(b, NULL, NULL, NULL)
                : (void *)PEM_read_bio_X509(b, NULL, NULL, NULL);
    }
    BIO_free(b);
    ERR_clear_error();
    return x;
}

/* The guide's key sizes: RSA 2048 or 4096; EC P-256 or P-384. Describes the key in desc. */
static bool anchor_key_ok(EVP_PKEY *k, char *desc, size_t cap)
{
    char curve[32] = "";
    size_t len = 0;
    int bits = EVP_PKEY_get_bits(k);
    if (EVP_PKEY_is_a(k, "RSA")) {
        (void)snprintf(desc, cap, "RSA %d", bits);
        return bits == 2048 || bits == 4096;
    }
    if (EVP_PKEY_is_a(k, "EC") &&
        EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), &len) == 1) {
        (void)snprintf(desc, cap, "EC %s", curve);
        return strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0 ||
               strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0;
    }
    (void)snprintf(desc, cap, "%s",
                   EVP_PKEY_get0_type_name(k) != NULL ? EVP_PKEY_get0_type_name(k) : "unknown");
    return false;
}

/* Validity of x now: NULL when fine, else the reason. */
static const char *validity(X509 *x)
{
    if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
        return "is not yet valid";
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        return "has expired";
    }
    return NULL;
}

/* The TrustAnchor rules: self-signed, extensions, key. */
static bool anchor_ok(X509 *ta, char *why, size_t cap)
{
    char desc[48] = "";
    int crit = 0;

    if (X509_NAME_cmp(X509_get_subject_name(ta), X509_get_issuer_name(ta)) != 0 ||
        X509_verify(ta, X509_get0_pubkey(ta)) != 1) {
        ERR_clear_error();
        whyf(why, cap,
             "TrustAnchor is not self-signed (its issuer is not its subject, or its "
             "signature does not verify with its own key)");
        return false;
    }
    if (X509_get_ext_count(ta) > 0) {
        if ((X509_get_extension_flags(ta) & EXFLAG_INVALID) != 0) {
            whyf(why, cap, "TrustAnchor has X509v3 extensions that do not parse or repeat");
            return false;
        }
        BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ta, NID_basic_constraints, &crit, NULL);
        bool ca = bc != NULL && bc->ca != 0;
        BASIC_CONSTRAINTS_free(bc);
        if (!ca) {
            whyf(why, cap,
                 crit == -1 ? "TrustAnchor has X509v3 extensions but no "
                              "basicConstraints extension"
                            : "TrustAnchor's basicConstraints is not CA:TRUE");
            return false;
        }
        if ((X509_get_extension_flags(ta) & EXFLAG_KUSAGE) != 0 &&
            (X509_get_key_usage(ta) & KU_KEY_CERT_SIGN) == 0) {
            whyf(why, cap,
                 "TrustAnchor's keyUsage does not allow keyCertSign, which conflicts "
                 "with CA:TRUE");
            return false;
        }
    }
    EVP_PKEY *k = X509_get0_pubkey(ta);
    if (k == NULL || !anchor_key_ok(k, desc, sizeof(desc))) {
        whyf(why, cap,
             "TrustAnchor's key is %s; RSA 2048 or 4096, or EC P-256 or P-384, is "
             "required",
             k != NULL ? desc : "unreadable");
        return false;
    }
    return true;
}

ohsm_rv ohsm_pki_check_init(const char *csr_pem, const char *signed_pem, const char *anchor_pem,
                            char *why, size_t cap)
{
    ohsm_rv rv = OHSM_DATA_INVALID;
    X509_REQ *csr = NULL;
    X509 *sc = NULL, *ta = NULL;
    X509_STORE *st = NULL;
    X509_STORE_CTX *ctx = NULL;
    const char *bad = NULL;
    const char *names[2] = {"SignedCert", "TrustAnchor"};
    const char *texts[2] = {signed_pem, anchor_pem};

    whyf(why, cap, "%s", "");
    OHSM_ENSURE(csr_pem != NULL && signed_pem != NULL && anchor_pem != NULL, OHSM_ARGUMENTS_BAD);
    for (int i = 0; i < 2; i++) {
        size_t n = strnlen(texts[i], OHSM_PKI_CERT_MAX + 1);
        if (n == 0 || n > OHSM_PKI_CERT_MAX) {
            whyf(why, cap, "%s must be 1 to %d characters", names[i], OHSM_PKI_CERT_MAX);
            return OHSM_DATA_INVALID;
        }
    }
    OHSM_ENSURE(strnlen(csr_pem, OHSM_PKI_CERT_MAX + 1) <= OHSM_PKI_CERT_MAX, OHSM_ARGUMENTS_BAD);
    csr = parse_pem(csr_pem, true);
    sc = parse_pem(signed_pem, false);
    ta = parse_pem(anchor_pem, false);
    if (csr == NULL) {
        whyf(why, cap, "the cluster has no readable CSR");
        goto out;
    }
    if (sc == NULL || ta == NULL) {
        whyf(why, cap, "%s is not a PEM certificate", sc == NULL ? names[0] : names[1]);
        goto out;
    }
    if (!anchor_ok(ta, why, cap)) {
        goto out;
    }
    if ((bad = validity(ta)) != NULL) {
        whyf(why, cap, "TrustAnchor %s", bad);
        goto out;
    }
    if ((bad = validity(sc)) != NULL) {
        whyf(why, cap, "SignedCert %s", bad);
        goto out;
    }
    if (X509_REQ_get0_pubkey(csr) == NULL ||
        EVP_PKEY_eq(X509_get0_pubkey(sc), X509_REQ_get0_pubkey(csr)) != 1) {
        whyf(why, cap, "SignedCert is not for the cluster's CSR (its public key differs)");
        goto out;
    }
    st = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    if (st == NULL || ctx == NULL || X509_STORE_add_cert(st, ta) != 1 ||
        X509_STORE_CTX_init(ctx, st, sc, NULL) != 1 ||
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY) != 1) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    if (X509_verify_cert(ctx) != 1) {
        whyf(why, cap, "SignedCert does not verify against TrustAnchor: %s",
             X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    rv = OHSM_OK;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    X509_REQ_free(csr);
    X509_free(sc);
    X509_free(ta);
    ERR_clear_error();
    return rv;
}
