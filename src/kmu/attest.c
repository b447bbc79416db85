/* SPDX-License-Identifier: Apache-2.0
 *
 * key_mgmt_util's -attest on key creation ("Attestation Check : [PASS]" after the key handle
 * lines). A software HSM has no firmware to measure, so the check is what openhsm can prove about
 * the key it just made, from this client, over channels each authenticated against the cluster's
 * trust anchor (client/conn.c verifies every HSM's certificate and address):
 *   1. every HSM that answers holds the key (a session key: the one HSM that made it), and each
 *      HSM's record is the same as the record the creation returned: class, type, every flag,
 *      owner, shares, label, id, size, key check value, public key and quorum values;
 *   2. the record is what was asked: the label and id given, made in the HSM (OBJ_ATTR_LOCAL) or
 *      imported (not local),
 *      token or session and extractable or not as the flags said;
 *   3. for a key pair, both halves carry the same public key, and the private key is proven to
 *      belong to it: the HSM signs a fresh random challenge with the private key and the signature
 *      is verified here, with OpenSSL, against the public key the HSM reported (skipped only when
 *      the key's use needs quorum approval, which a creation cannot have).
 * The HSMs' answers are untrusted: records are compared field by field with bounded lengths, the
 * public key is parsed only by OpenSSL's DER decoder.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "kmu/attest.h"
#include "openhsm/mech.h"

#define CHALLENGE_LEN 32

/* Every HSM that answers holds the same record of o. */
static bool replicated(struct ohsm_client *c, size_t n, const struct ohsm_obj *o, bool token)
{
    size_t held = 0;
    struct ohsm_obj got;

    for (size_t i = 0; i < n; i++) {
        memset(&got, 0, sizeof(got));
        ohsm_rv rv = ohsm_client_key_get_on(c, i, o->handle, &got);
        if (rv == OHSM_NOT_CONNECTED || rv == OHSM_TIMEOUT) {
            continue; /* the client brings it up to date when it is back */
        }
        if (rv == OHSM_KEY_HANDLE_INVALID && !token) {
            continue; /* a session key lives on the HSM that made it */
        }
        if (rv != OHSM_OK || !ohsm_kmu_attest_same(o, &got)) {
            return false;
        }
        held++;
    }
    return held > 0;
}

/* r || s -> DER, for OpenSSL's ECDSA verification. *der OPENSSL_free'd by the caller. */
static bool ecdsa_der(const uint8_t *sig, size_t len, uint8_t **der, int *der_len)
{
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    bool ok = false;

    *der = NULL;
    if (len == 0 || len % 2 != 0) {
        return false;
    }
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int)(len / 2), NULL);
    s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        goto out;
    }
    r = s = NULL; /* owned by es */
    *der_len = i2d_ECDSA_SIG(es, der);
    ok = *der_len > 0;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ok;
}

/* The private key signs a fresh challenge that verifies here with the reported public key. */
static bool pair_proven(struct ohsm_client *c, const struct ohsm_obj *priv,
                        const struct ohsm_obj *pub)
{
    uint8_t challenge[CHALLENGE_LEN];
    uint8_t *sig = NULL, *der = NULL;
    size_t sig_len = 0;
    int der_len = 0;
    const unsigned char *p = pub->spki;
    EVP_PKEY *pk = NULL;
    EVP_MD_CTX *md = NULL;
    struct ohsm_mech_params m;
    bool ok = false;

    if (pub->spki_len == 0 || pub->spki_len > OHSM_SPKI_MAX ||
        RAND_bytes(challenge, sizeof(challenge)) != 1) {
        return false;
    }
    memset(&m, 0, sizeof(m));
    m.mech = priv->ktype == OHSM_KT_RSA ? OHSM_M_RSA_PKCS : OHSM_M_ECDSA;
    m.hash = OHSM_H_SHA256;
    if (ohsm_client_sign(c, priv->handle, &m, challenge, sizeof(challenge), &sig, &sig_len) !=
        OHSM_OK) {
        goto out;
    }
    pk = d2i_PUBKEY(NULL, &p, (long)pub->spki_len);
    md = EVP_MD_CTX_new();
    if (pk == NULL || md == NULL || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) != 1) {
        goto out;
    }
    if (priv->ktype == OHSM_KT_RSA) {
        ok = EVP_DigestVerify(md, sig, sig_len, challenge, sizeof(challenge)) == 1;
    } else if (ecdsa_der(sig, sig_len, &der, &der_len)) {
        ok = EVP_DigestVerify(md, der, (size_t)der_len, challenge, sizeof(challenge)) == 1;
    }
out:
    OPENSSL_free(der);
    free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    return ok;
}

bool ohsm_kmu_attest(struct ohsm_client *c, size_t n, const struct ohsm_obj *objs, size_t nobj,
                     const struct ohsm_kmu_keyopts *want, bool generated)
{
    if (nobj == 0 || nobj > 2) {
        return false;
    }
    for (size_t i = 0; i < nobj; i++) {
        struct ohsm_kmu_keyopts w = *want;
        if (objs[i].cls == OHSM_CLASS_PUBLIC) {
            w.extractable = true; /* public keys are always extractable */
        }
        if (!ohsm_kmu_attest_as_asked(&objs[i], &w, generated) ||
            !replicated(c, n, &objs[i], (objs[i].flags & OHSM_F_TOKEN) != 0)) {
            return false;
        }
    }
    if (nobj == 2) {
        const struct ohsm_obj *priv = &objs[0], *pub = &objs[1];
        if (priv->cls != OHSM_CLASS_PRIVATE || pub->cls != OHSM_CLASS_PUBLIC ||
            priv->ktype != pub->ktype || priv->spki_len != pub->spki_len ||
            memcmp(priv->spki, pub->spki, pub->spki_len) != 0) {
            return false;
        }
        if (priv->quorum_use <= 1 && !pair_proven(c, priv, pub)) {
            return false;
        }
    }
    return true;
}
