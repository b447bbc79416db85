/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's private key transport: exportPrivateKey (an extractable RSA or EC private key out
 * as an unencrypted PKCS#8 PEM file: wrapped by the HSM with the -w AES key, unwrapped on this
 * host) and importPrivateKey (a PEM private key in: PKCS#8, PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC
 * PRIVATE KEY", wrapped, then unwrapped by the HSM into a new private key). As with exSymKey and
 * imSymKey, without a -wk file the host never holds the wrapping key: the HSM does the host's half
 * with the same -w key (AES-GCM); with -wk the host wraps or unwraps with the file's AES key
 * (mechanism 4, RFC 3394 with PKCS#5 padding). The key file is untrusted: it is read with a size
 * cap and parsed only by OpenSSL's PEM decoder (an encrypted PEM is refused, never prompted for).
 * Key material lives in buffers wiped on every path; the PEM file written is 0600. Output lines
 * are the guide pages' (flush left where the pages print them so).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kmu/attest.h"
#include "kmu/attrs.h"
#include "kmu/kmu.h"
#include "openhsm/mech.h"

#define GCM_IV 12
/* Largest wrapped private key: an RSA-4096 PKCS#8 (about 2.4 KB) plus padding and tag. */
#define WRAPPED_MAX 8192

/* The PKCS#8 DER in `der` as a "PRIVATE KEY" PEM (malloc'd, wiped and freed by the caller). */
static bool to_pem(const uint8_t *der, size_t len, char **pem, size_t *pem_len)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    BIO *b = NULL;
    char *data = NULL;
    bool ok = false;

    *pem = NULL;
    if (len > LONG_MAX) {
        return false;
    }
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    b = BIO_new(BIO_s_secmem());
    if (p8 == NULL || p != der + len || b == NULL ||
        PEM_write_bio_PKCS8_PRIV_KEY_INFO(b, p8) != 1) {
        goto out;
    }
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || data == NULL) {
        goto out;
    }
    *pem = malloc((size_t)n);
    if (*pem == NULL) {
        goto out;
    }
    memcpy(*pem, data, (size_t)n);
    *pem_len = (size_t)n;
    ok = true;
out:
    BIO_free(b); /* secure memory: cleared on free */
    PKCS8_PRIV_KEY_INFO_free(p8);
    return ok;
}

/* Never asked: an encrypted PEM is refused. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* The PEM private key in text as PKCS#8 DER (malloc'd; wipe and free) and its key type. */
static bool from_pem(const uint8_t *text, size_t len, uint8_t **der, size_t *der_len,
                     uint32_t *ktype)
{
    BIO *b = NULL;
    EVP_PKEY *pk = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *q = NULL;
    bool ok = false;

    *der = NULL;
    if (len == 0 || len > INT32_MAX) {
        return false;
    }
    b = BIO_new_mem_buf(text, (int)len);
    pk = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, no_password, NULL) : NULL;
    if (pk == NULL) {
        goto out;
    }
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_RSA:
        *ktype = OHSM_KT_RSA;
        break;
    case EVP_PKEY_EC:
        *ktype = OHSM_KT_EC;
        break;
    default:
        goto out;
    }
    p8 = EVP_PKEY2PKCS8(pk);
    int n = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
    if (n <= 0) {
        goto out;
    }
    *der = malloc((size_t)n);
    q = *der;
    if (*der == NULL || i2d_PKCS8_PRIV_KEY_INFO(p8, &q) != n) {
        ohsm_kmu_free_secret(*der, (size_t)n);
        *der = NULL;
        goto out;
    }
    *der_len = (size_t)n;
    ok = true;
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(pk);
    BIO_free(b);
    return ok;
}

int ohsm_kmu_export_priv(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t key = ohsm_kmu_get(p, "k")->num, w = ohsm_kmu_get(p, "w")->num;
    const struct ohsm_kmu_val *wk = ohsm_kmu_get(p, "wk");
    const char *path = ohsm_kmu_get(p, "out")->text;
    struct ohsm_mech_params m;
    struct ohsm_obj o;
    uint8_t *wrapped = NULL, *plain = NULL, *kek = NULL, host[WRAPPED_MAX];
    size_t wrapped_len = 0, plain_len = 0, kek_len = 0, pem_len = 0;
    char *pem = NULL;
    int done = OHSM_KMU_FAILED;

    memset(&o, 0, sizeof(o));
    ohsm_rv rv = ohsm_client_key_get(k->client, key, &o);
    if (rv == OHSM_OK && o.cls != OHSM_CLASS_PRIVATE) {
        return ohsm_kmu_error(
            k, "exportPrivateKey exports private keys only: key %" PRIu64 " is a %s key", key,
            o.cls == OHSM_CLASS_PUBLIC ? "public" : "secret");
    }
    if (wk != NULL && !ohsm_kmu_key_file(k, wk->text, &kek, &kek_len)) {
        return OHSM_KMU_FAILED;
    }
    memset(&m, 0, sizeof(m));
    m.mech = kek != NULL ? OHSM_M_AES_KW_PKCS5 : OHSM_M_AES_GCM;
    if (rv == OHSM_OK) {
        rv = ohsm_client_key_wrap(k->client, w, key, &m, &wrapped, &wrapped_len);
    }
    ohsm_kmu_returned_ind(k, "", "Cfm3WrapKey", rv);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_kmu_open_wrapped(k, w, kek, kek_len, wrapped, wrapped_len, host, sizeof(host), &plain,
                               &plain_len, true);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (!to_pem(plain, plain_len, &pem, &pem_len)) {
        (void)ohsm_kmu_error(k, "The HSM's answer is not a private key");
        goto out;
    }
    if (!ohsm_kmu_write_file(k, path, pem, pem_len)) {
        goto out;
    }
    (void)fprintf(k->out, "\nPEM formatted private key is written to %s\n", path);
    done = OHSM_KMU_DONE;
out:
    if (plain != host) {
        ohsm_kmu_free_secret(plain, plain_len);
    }
    ohsm_kmu_free_secret((uint8_t *)pem, pem_len);
    OPENSSL_cleanse(host, sizeof(host));
    ohsm_kmu_free_secret(kek, kek_len);
    free(wrapped);
    return done;
}

/* The new key's template (-l, -id, -sess, -m_value; always extractable, as the guide notes) and
 * shares (-u). */
static bool import_tmpl(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p, uint32_t ktype,
                        struct ohsm_kmu_keyopts *o, struct ohsm_tmpl_buf *t,
                        char store[][OHSM_USERNAME_MAX + 1], const char *share[], size_t *nshare)
{
    const struct ohsm_kmu_val *id = ohsm_kmu_get(p, "id"), *mv = ohsm_kmu_get(p, "m_value");

    *o = (struct ohsm_kmu_keyopts){
        ohsm_kmu_get(p, "l")->text, id != NULL ? (const uint8_t *)id->text : NULL,
        id != NULL ? strlen(id->text) : 0, !ohsm_kmu_has(p, "sess"), true};

    if (!ohsm_kmu_check_counts(k, p)) {
        return false;
    }
    ohsm_kmu_tmpl_private(t, ktype, o);
    if (mv != NULL && mv->num > 0) {
        ohsm_tmpl_put_u32(t, OHSM_A_QUORUM_MANAGE, (uint32_t)mv->num);
        ohsm_tmpl_put_u32(t, OHSM_A_QUORUM_USE, (uint32_t)mv->num);
    }
    if (t->overflow) {
        (void)ohsm_kmu_error(k, "Key attributes too long");
        return false;
    }
    return ohsm_kmu_share_names(k, p, store, share, nshare);
}

int ohsm_kmu_import_priv(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t w = ohsm_kmu_get(p, "w")->num;
    const struct ohsm_kmu_val *wk = ohsm_kmu_get(p, "wk");
    const char *path = ohsm_kmu_get(p, "f")->text;
    char store[OHSM_KMU_MAX_IDS][OHSM_USERNAME_MAX + 1];
    const char *share[OHSM_KMU_MAX_IDS];
    size_t nshare = 0;
    struct ohsm_kmu_keyopts o;
    struct ohsm_tmpl_buf t;
    struct ohsm_mech_params m;
    struct ohsm_result *res = NULL;
    struct ohsm_obj obj;
    uint8_t *file = NULL, *der = NULL, *kek = NULL, *ct = NULL, host[WRAPPED_MAX], iv[16];
    size_t file_len = 0, der_len = 0, kek_len = 0, ct_len = 0, blob_len = 0, iv_len = 0;
    uint32_t ktype = 0;
    int done = OHSM_KMU_FAILED;

    if (!ohsm_kmu_read_file(k, path, OHSM_KMU_KEYFILE_MAX, &file, &file_len)) {
        return OHSM_KMU_FAILED;
    }
    if (!from_pem(file, file_len, &der, &der_len, &ktype)) {
        (void)ohsm_kmu_error(
            k, "File \"%s\" does not hold an unencrypted PEM RSA or EC private key", path);
        goto out;
    }
    if (wk != NULL && !ohsm_kmu_key_file(k, wk->text, &kek, &kek_len)) {
        goto out;
    }
    if (!import_tmpl(k, p, ktype, &o, &t, store, share, &nshare)) {
        goto out;
    }
    (void)fprintf(k->out, "\nBER encoded key length is %zu\n", der_len);
    memset(&m, 0, sizeof(m));
    if (kek != NULL) {
        m.mech = OHSM_M_AES_KW_PKCS5;
        bool ok = ohsm_kmu_host_kw(true, kek, kek_len, der, der_len, host, sizeof(host), &blob_len);
        ohsm_kmu_returned_ind(k, "", "Cfm3WrapHostKey", ok ? OHSM_OK : OHSM_DATA_INVALID);
        if (!ok) {
            goto out;
        }
    } else {
        /* The HSM wraps for this host with the -w key (AES-GCM, its own IV) ... */
        m.mech = OHSM_M_AES_GCM;
        ohsm_rv rv = ohsm_client_encrypt(k->client, w, &m, der, der_len, &ct, &ct_len, iv, &iv_len);
        if (rv == OHSM_OK && (iv_len != GCM_IV || ct_len > sizeof(host) - GCM_IV)) {
            rv = OHSM_PROTOCOL;
        }
        ohsm_kmu_returned_ind(k, "", "Cfm3WrapHostKey", rv);
        if (rv != OHSM_OK) {
            goto out;
        }
        /* ... and unwraps iv || ciphertext || tag into the new key. */
        memcpy(host, iv, GCM_IV);
        memcpy(host + GCM_IV, ct, ct_len);
        blob_len = GCM_IV + ct_len;
    }
    ohsm_kmu_returned_ind(k, "", "Cfm3CreateUnwrapTemplate", OHSM_OK);
    res = ohsm_kmu_results(k);
    if (res == NULL) {
        goto out;
    }
    memset(&obj, 0, sizeof(obj));
    ohsm_rv rv = ohsm_client_key_unwrap(k->client, w, &m, host, blob_len, OHSM_CLASS_PRIVATE, ktype,
                                        t.buf, t.len, nshare > 0 ? share : NULL, nshare, &obj, res);
    ohsm_kmu_results_fill(k, res, rv);
    ohsm_rv top = ohsm_kmu_overall(k, res, rv);
    ohsm_kmu_returned_ind(k, "", "Cfm3UnWrapKey", top);
    bool attest_ok = true;
    if (obj.handle != 0) {
        (void)fprintf(k->out, "\nPrivate Key Unwrapped.  Key Handle: %" PRIu64 "\n", obj.handle);
        if (ohsm_kmu_has(p, "attest")) {
            /* As imSymKey's guide page: the check's line after the handle. */
            attest_ok = ohsm_kmu_attest(k->client, k->n, &obj, 1, &o, false);
            (void)fprintf(k->out, "\nAttestation Check : [%s]\n", attest_ok ? "PASS" : "FAIL");
        }
    }
    ohsm_kmu_cluster_ind(k, "", res);
    done = top == OHSM_OK && attest_ok ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
out:
    free(res);
    OPENSSL_cleanse(host, sizeof(host));
    free(ct);
    ohsm_kmu_free_secret(kek, kek_len);
    ohsm_kmu_free_secret(der, der_len);
    ohsm_kmu_free_secret(file, file_len);
    return done;
}
