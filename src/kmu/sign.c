/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's public-key commands: sign and verify (key_mgmt_util's -m mechanism numbers), and
 * exportPubKey / importPubKey (PEM files). The message is hashed and signed by the HSM. ECDSA
 * signatures travel as r || s (PKCS#11's form); the signature file holds the DER encoding that
 * OpenSSL and most tools read, and verify accepts either form. Files are untrusted: a PEM file is
 * parsed by the core (mech.c), a signature file only through OpenSSL's DER decoder or as raw
 * bytes of the curve's size.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "kmu/attrs.h"
#include "kmu/kmu.h"
#include "openhsm/mech.h"

/* key_mgmt_util's sign/verify -m numbers. */
struct sigmech {
    uint32_t mech;
    uint32_t hash;
};

static bool sigmech(uint64_t m, struct sigmech *s)
{
    static const uint32_t hashes[5] = {OHSM_H_SHA1, OHSM_H_SHA256, OHSM_H_SHA384, OHSM_H_SHA512,
                                       OHSM_H_SHA224};
    static const uint32_t ec_hashes[5] = {OHSM_H_SHA1, OHSM_H_SHA224, OHSM_H_SHA256, OHSM_H_SHA384,
                                          OHSM_H_SHA512};
    if (m <= 4) {
        *s = (struct sigmech){OHSM_M_RSA_PKCS, hashes[m]};
    } else if (m <= 9) {
        *s = (struct sigmech){OHSM_M_RSA_PSS, hashes[m - 5]};
    } else if (m >= 15 && m <= 19) {
        *s = (struct sigmech){OHSM_M_ECDSA, ec_hashes[m - 15]};
    } else {
        return false;
    }
    return true;
}

static void params(const struct sigmech *s, struct ohsm_mech_params *m)
{
    memset(m, 0, sizeof(*m));
    m->mech = s->mech;
    m->hash = s->hash;
    m->salt_len = UINT32_MAX; /* PSS: salt as long as the hash, as CloudHSM's mechanisms */
}

/* Bytes of r (and of s) in an ECDSA signature on the curve. 0 when unknown. */
static size_t field_bytes(uint32_t curve)
{
    switch (curve) {
    case OHSM_CURVE_P224:
        return 28;
    case OHSM_CURVE_P256:
    case OHSM_CURVE_SECP256K1:
        return 32;
    case OHSM_CURVE_P384:
        return 48;
    case OHSM_CURVE_P521:
        return 66;
    default:
        return 0;
    }
}

/* r || s -> DER ECDSA-Sig-Value. *der malloc'd by OpenSSL (OPENSSL_free). */
static bool raw_to_der(const uint8_t *sig, size_t len, uint8_t **der, size_t *der_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *out = NULL;
    bool ok = false;

    if (es == NULL || len == 0 || len % 2 != 0 || len > INT32_MAX) {
        goto out;
    }
    r = BN_bin2bn(sig, (int)(len / 2), NULL);
    s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
    if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        goto out;
    }
    r = s = NULL; /* owned by es now */
    int n = i2d_ECDSA_SIG(es, &out);
    if (n <= 0) {
        goto out;
    }
    *der = out;
    *der_len = (size_t)n;
    ok = true;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ok;
}

/* DER ECDSA-Sig-Value -> r || s of the curve's size into out (cap >= 2 * fb). False when sig is
 * not exactly one DER signature whose numbers fit. */
static bool der_to_raw(const uint8_t *sig, size_t len, size_t fb, uint8_t *out, size_t cap)
{
    const unsigned char *q = sig;
    const BIGNUM *r = NULL, *s = NULL;
    bool ok = false;

    if (fb == 0 || cap < 2 * fb || len > INT32_MAX) {
        return false;
    }
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)len);
    if (es == NULL) {
        return false;
    }
    ECDSA_SIG_get0(es, &r, &s);
    ok = (size_t)(q - sig) == len && BN_num_bytes(r) <= (int)fb && BN_num_bytes(s) <= (int)fb &&
         BN_bn2binpad(r, out, (int)fb) == (int)fb && BN_bn2binpad(s, out + fb, (int)fb) == (int)fb;
    ECDSA_SIG_free(es);
    return ok;
}

int ohsm_kmu_sign(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "k")->num, mn = ohsm_kmu_get(p, "m")->num;
    const char *in = ohsm_kmu_get(p, "f")->text, *outp = ohsm_kmu_get(p, "out")->text;
    struct sigmech s;
    struct ohsm_mech_params m;
    uint8_t *msg = NULL, *sig = NULL, *der = NULL;
    size_t msg_len = 0, sig_len = 0, der_len = 0;
    int done = OHSM_KMU_FAILED;

    if (!sigmech(mn, &s)) {
        return ohsm_kmu_error(k, "Invalid signature mechanism %" PRIu64 " for -m: see 'sign -h'",
                              mn);
    }
    if (!ohsm_kmu_read_file(k, in, OHSM_KMU_DATA_MAX, &msg, &msg_len)) {
        return OHSM_KMU_FAILED;
    }
    params(&s, &m);
    ohsm_rv rv = ohsm_client_sign(k->client, h, &m, msg, msg_len, &sig, &sig_len);
    ohsm_kmu_returned(k, "Cfm3Sign", rv);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (s.mech == OHSM_M_ECDSA) {
        if (!raw_to_der(sig, sig_len, &der, &der_len)) {
            (void)ohsm_kmu_error(k, "The HSM's ECDSA signature is malformed");
            goto out;
        }
    }
    if (!ohsm_kmu_write_file(k, outp, der != NULL ? der : sig, der != NULL ? der_len : sig_len)) {
        goto out;
    }
    (void)fprintf(k->out, "\n\tsignature is written to file %s\n", outp);
    done = OHSM_KMU_DONE;
out:
    OPENSSL_free(der);
    free(sig);
    ohsm_kmu_free_secret(msg, msg_len); /* a message may be confidential */
    return done;
}

int ohsm_kmu_verify(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "k")->num, mn = ohsm_kmu_get(p, "m")->num;
    const char *in = ohsm_kmu_get(p, "f")->text, *sp = ohsm_kmu_get(p, "s")->text;
    struct sigmech s;
    struct ohsm_mech_params m;
    uint8_t *msg = NULL, *sig = NULL, raw[2 * 66];
    size_t msg_len = 0, sig_len = 0;
    const uint8_t *use = NULL;
    size_t use_len = 0;
    int done = OHSM_KMU_FAILED;

    if (!sigmech(mn, &s)) {
        return ohsm_kmu_error(k, "Invalid signature mechanism %" PRIu64 " for -m: see 'verify -h'",
                              mn);
    }
    if (!ohsm_kmu_read_file(k, in, OHSM_KMU_DATA_MAX, &msg, &msg_len) ||
        !ohsm_kmu_read_file(k, sp, OHSM_KMU_KEYFILE_MAX, &sig, &sig_len)) {
        goto out;
    }
    use = sig;
    use_len = sig_len;
    if (s.mech == OHSM_M_ECDSA) {
        struct ohsm_obj o;
        memset(&o, 0, sizeof(o));
        ohsm_rv rv = ohsm_client_key_get(k->client, h, &o);
        if (rv != OHSM_OK) {
            ohsm_kmu_returned(k, "Cfm3Verify", rv);
            goto out;
        }
        size_t fb = field_bytes(o.curve);
        if (der_to_raw(sig, sig_len, fb, raw, sizeof(raw))) {
            use = raw;
            use_len = 2 * fb;
        }
    }
    params(&s, &m);
    ohsm_rv rv = ohsm_client_verify(k->client, h, &m, msg, msg_len, use, use_len);
    if (rv == OHSM_OK) {
        (void)fprintf(k->out, "\n\tSignature verification successful\n");
        done = OHSM_KMU_DONE;
    } else if (rv == OHSM_SIGNATURE_INVALID) {
        (void)fprintf(k->out, "\n\tSignature verification failed\n");
    }
    ohsm_kmu_returned(k, "Cfm3Verify", rv);
out:
    free(sig);
    ohsm_kmu_free_secret(msg, msg_len);
    return done;
}

int ohsm_kmu_export_pub(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t h = ohsm_kmu_get(p, "k")->num;
    const char *path = ohsm_kmu_get(p, "out")->text;
    uint8_t *der = NULL;
    size_t der_len = 0;
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    char *pem = NULL;
    int done = OHSM_KMU_FAILED;

    ohsm_rv rv = ohsm_client_key_export_public(k->client, h, &der, &der_len);
    if (rv != OHSM_OK) {
        ohsm_kmu_returned(k, "Cfm3ExportPubKey", rv);
        goto out;
    }
    /* The HSM's answer is data: it must be one well-formed SubjectPublicKeyInfo. */
    const unsigned char *q = der;
    pk = der_len <= INT32_MAX ? d2i_PUBKEY(NULL, &q, (long)der_len) : NULL;
    bio = BIO_new(BIO_s_mem());
    if (pk == NULL || (size_t)(q - der) != der_len || bio == NULL ||
        PEM_write_bio_PUBKEY(bio, pk) != 1) {
        ohsm_kmu_returned(k, "Cfm3ExportPubKey", OHSM_PROTOCOL);
        goto out;
    }
    long n = BIO_get_mem_data(bio, &pem);
    if (n <= 0 || !ohsm_kmu_write_file(k, path, pem, (size_t)n)) {
        goto out;
    }
    (void)fprintf(k->out, "\nPEM formatted public key is written to %s\n", path);
    ohsm_kmu_returned(k, "Cfm3ExportPubKey", OHSM_OK);
    done = OHSM_KMU_DONE;
out:
    BIO_free(bio);
    EVP_PKEY_free(pk);
    free(der);
    return done;
}

int ohsm_kmu_import_pub(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    const char *path = ohsm_kmu_get(p, "f")->text;
    const struct ohsm_kmu_val *id = ohsm_kmu_get(p, "id");
    struct ohsm_kmu_keyopts o;
    struct ohsm_tmpl_buf t;
    uint8_t *pem = NULL, *der = NULL;
    size_t pem_len = 0, der_len = 0;
    uint32_t cls = 0, ktype = 0;
    struct ohsm_result *res = NULL;
    struct ohsm_obj obj;
    int done = OHSM_KMU_FAILED;

    if (!ohsm_kmu_check_counts(k, p)) {
        return OHSM_KMU_FAILED;
    }
    if (!ohsm_kmu_read_file(k, path, OHSM_KMU_KEYFILE_MAX, &pem, &pem_len)) {
        return OHSM_KMU_FAILED;
    }
    if (ohsm_mech_pem_to_der((const char *)pem, pem_len, &cls, &ktype, &der, &der_len) != OHSM_OK ||
        cls != OHSM_CLASS_PUBLIC) {
        /* A private key in the file is refused without being sent anywhere. */
        (void)ohsm_kmu_error(k, "File \"%s\" does not hold a PEM RSA or EC public key", path);
        goto out;
    }
    memset(&o, 0, sizeof(o));
    o.label = ohsm_kmu_get(p, "l")->text;
    o.id = id != NULL ? (const uint8_t *)id->text : NULL;
    o.id_len = id != NULL ? strlen(id->text) : 0;
    o.token = !ohsm_kmu_has(p, "sess");
    o.extractable = true;
    ohsm_kmu_tmpl_public(&t, ktype, &o);
    res = ohsm_kmu_results(k);
    if (t.overflow || res == NULL) {
        goto out;
    }
    memset(&obj, 0, sizeof(obj));
    ohsm_rv rv = ohsm_client_key_import(k->client, OHSM_CLASS_PUBLIC, ktype, der, der_len, t.buf,
                                        t.len, NULL, 0, &obj, res);
    ohsm_kmu_results_fill(k, res, rv);
    ohsm_rv top = ohsm_kmu_overall(k, res, rv);
    ohsm_kmu_returned(k, "Cfm3CreatePublicKey", top);
    if (obj.handle != 0) {
        (void)fprintf(k->out, "\n\tPublic Key Handle: %" PRIu64 "\n", obj.handle);
    }
    ohsm_kmu_cluster(k, res);
    done = top == OHSM_OK ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
out:
    free(res);
    ohsm_mech_der_free(der, der_len);
    ohsm_kmu_free_secret(pem, pem_len); /* the file might have held a private key */
    return done;
}
