/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's key transport commands: wrapKey and unWrapKey (a key wrapped by another key, in a
 * file with the key_mgmt_util-style header of attrs.c or bare with -noheader), exSymKey (a
 * symmetric key out in plaintext: wrapped by the HSM, unwrapped on this host) and imSymKey (a
 * plaintext key in: wrapped, then unwrapped by the HSM into a new key). Without a -wk key file the
 * host never holds the wrapping key, so the host-side half is done by the HSM with the same key
 * (AES-GCM encrypt/decrypt); with -wk the host wraps or unwraps with the file's AES key (RFC 3394
 * with PKCS#5 padding, key_mgmt_util's mechanism 4). Plaintext keys live in buffers wiped on every
 * path; the output file is 0600.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kmu/attest.h"
#include "kmu/attrs.h"
#include "kmu/kmu.h"
#include "openhsm/mech.h"

#define GCM_IV 12
/* Largest wrapped key: an RSA-4096 PKCS#8 plus padding and tag, with room to spare. */
#define WRAPPED_MAX 8192

/* key_mgmt_util's wrapping mechanism numbers (wrapKey/unWrapKey -m). */
enum {
    KMU_AES_KEY_WRAP_PAD_PKCS5 = 4,
    KMU_NIST_AES_WRAP_NO_PAD = 5,
    KMU_NIST_AES_WRAP_PAD = 6,
    KMU_RSA_AES = 7,
    KMU_RSA_OAEP = 8,
    KMU_AES_GCM = 10,
    KMU_CLOUDHSM_AES_GCM = 11,
    KMU_RSA_PKCS = 12,
};

/* -m -> our mechanism; false (message printed) when not one we do. */
static bool wrap_mech(struct ohsm_kmu *k, uint64_t m, uint32_t *mech)
{
    switch (m) {
    case KMU_AES_KEY_WRAP_PAD_PKCS5:
        *mech = OHSM_M_AES_KW_PKCS5;
        return true;
    case KMU_NIST_AES_WRAP_NO_PAD:
        *mech = OHSM_M_AES_KW;
        return true;
    case KMU_NIST_AES_WRAP_PAD:
        *mech = OHSM_M_AES_KWP;
        return true;
    case KMU_RSA_OAEP:
        *mech = OHSM_M_RSA_OAEP;
        return true;
    case KMU_AES_GCM:
        *mech = OHSM_M_AES_GCM;
        return true;
    case KMU_RSA_PKCS:
        *mech = OHSM_M_RSA_PKCS;
        return true;
    case KMU_RSA_AES:
    case KMU_CLOUDHSM_AES_GCM:
        (void)ohsm_kmu_error(k, "Wrapping mechanism %" PRIu64 " (%s) is not supported", m,
                             m == KMU_RSA_AES ? "RSA_AES" : "CLOUDHSM_AES_GCM");
        return false;
    default:
        (void)ohsm_kmu_error(k,
                             "Invalid wrapping mechanism %" PRIu64
                             " for -m: 4, 5, 6, 8, 10 or 12 (see 'wrapKey -h')",
                             m);
        return false;
    }
}

/* -t for RSA_OAEP: 2 SHA1, 3 SHA256, 4 SHA384, 5 SHA512, 6 SHA224. */
#define KMU_HASH_SHA1 2
static bool oaep_hash(struct ohsm_kmu *k, uint64_t t, uint32_t *hash)
{
    static const uint32_t tab[] = {OHSM_H_SHA1, OHSM_H_SHA256, OHSM_H_SHA384, OHSM_H_SHA512,
                                   OHSM_H_SHA224};
    if (t < 2 || t > 6) {
        (void)ohsm_kmu_error(k,
                             "Invalid hash type %" PRIu64
                             " for -t: 2 SHA1, 3 SHA256, 4 SHA384, 5 SHA512, 6 SHA224",
                             t);
        return false;
    }
    *hash = tab[t - 2];
    return true;
}

/* Mechanism parameters from -m, -t (or kmu_hash, a file header's -t, when not given; 0 for
 * none), -aad, -tag_size, shared by wrapKey and unWrapKey. *aad is read from the -aad file
 * (caller frees). */
static bool mech_params(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p, uint64_t kmu_mech,
                        uint64_t kmu_hash, struct ohsm_mech_params *m, uint8_t **aad,
                        size_t *aad_len)
{
    const struct ohsm_kmu_val *t = ohsm_kmu_get(p, "t"), *a = ohsm_kmu_get(p, "aad");
    uint64_t tnum = t != NULL ? t->num : kmu_hash;
    const struct ohsm_kmu_val *tag = ohsm_kmu_get(p, "tag_size");

    memset(m, 0, sizeof(*m));
    *aad = NULL;
    *aad_len = 0;
    if (!wrap_mech(k, kmu_mech, &m->mech)) {
        return false;
    }
    if (ohsm_kmu_has(p, "i")) {
        (void)ohsm_kmu_error(k, "-i: custom wrapping IVs are not supported: the HSM generates "
                                "every AES_GCM IV (kept in the wrapped key, or in -iv_file) and "
                                "the other mechanisms use their default IVs");
        return false;
    }
    if (t != NULL && m->mech != OHSM_M_RSA_OAEP) {
        (void)ohsm_kmu_error(k, "-t applies to RSA_OAEP (8) only");
        return false;
    }
    if (m->mech == OHSM_M_RSA_OAEP) {
        m->hash = OHSM_H_SHA1; /* PKCS#11's default */
        if (tnum != 0 && !oaep_hash(k, tnum, &m->hash)) {
            return false;
        }
    }
    if ((a != NULL || tag != NULL || ohsm_kmu_has(p, "iv_file")) && m->mech != OHSM_M_AES_GCM) {
        (void)ohsm_kmu_error(k, "-aad, -tag_size and -iv_file apply to AES_GCM (10) only");
        return false;
    }
    if (tag != NULL) {
        m->tag_bits = (uint32_t)tag->num * 8;
    }
    if (a != NULL) {
        if (!ohsm_kmu_read_file(k, a->text, OHSM_KMU_KEYFILE_MAX, aad, aad_len)) {
            return false;
        }
        m->aad = *aad;
        m->aad_len = *aad_len;
    }
    return true;
}

int ohsm_kmu_wrap_key(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t payload = ohsm_kmu_get(p, "k")->num, wrapping = ohsm_kmu_get(p, "w")->num;
    const struct ohsm_kmu_val *mv = ohsm_kmu_get(p, "m"), *ivf = ohsm_kmu_get(p, "iv_file");
    const char *path = ohsm_kmu_get(p, "out")->text;
    uint64_t kmu_mech = mv != NULL ? mv->num : KMU_AES_KEY_WRAP_PAD_PKCS5;
    bool noheader = ohsm_kmu_has(p, "noheader");
    struct ohsm_mech_params m;
    struct ohsm_kmu_wrapfile h;
    struct ohsm_obj o;
    uint8_t *aad = NULL, *wrapped = NULL, *file = NULL;
    size_t aad_len = 0, wrapped_len = 0, file_len = 0;
    int done = OHSM_KMU_FAILED;

    if (!mech_params(k, p, kmu_mech, 0, &m, &aad, &aad_len)) {
        goto out;
    }
    if (ivf != NULL && !noheader) {
        (void)ohsm_kmu_error(k, "-iv_file applies with -noheader only (the header keeps the IV)");
        goto out;
    }
    memset(&o, 0, sizeof(o));
    ohsm_rv rv = ohsm_client_key_get(k->client, payload, &o);
    if (rv == OHSM_OK) {
        rv = ohsm_client_key_wrap(k->client, wrapping, payload, &m, &wrapped, &wrapped_len);
    }
    if (rv != OHSM_OK) {
        ohsm_kmu_returned(k, "Cfm2WrapKey", rv);
        goto out;
    }
    if (m.mech == OHSM_M_AES_GCM && wrapped_len <= GCM_IV) {
        ohsm_kmu_returned(k, "Cfm2WrapKey", OHSM_PROTOCOL);
        goto out;
    }
    if (noheader) {
        /* With -iv_file the IV goes there and the file gets ciphertext || tag. */
        size_t skip = ivf != NULL ? GCM_IV : 0;
        if (ivf != NULL && !ohsm_kmu_write_file(k, ivf->text, wrapped, GCM_IV)) {
            goto out;
        }
        if (!ohsm_kmu_write_file(k, path, wrapped + skip, wrapped_len - skip)) {
            goto out;
        }
        file_len = wrapped_len - skip;
    } else {
        memset(&h, 0, sizeof(h));
        h.mech = (uint32_t)kmu_mech;
        h.cls = o.cls;
        h.ktype = o.ktype;
        (void)snprintf(h.label, sizeof(h.label), "%.*s", OHSM_LABEL_MAX, o.label);
        h.id_len = o.id_len <= sizeof(h.id) ? o.id_len : 0;
        memcpy(h.id, o.id, h.id_len);
        if (m.mech == OHSM_M_RSA_OAEP) {
            /* unWrapKey needs the OAEP hash: the header keeps it. */
            const struct ohsm_kmu_val *t = ohsm_kmu_get(p, "t");
            h.hash = t != NULL ? (uint32_t)t->num : KMU_HASH_SHA1;
        }
        h.tag_bits = m.tag_bits;
        h.wrapped = wrapped;
        h.wrapped_len = wrapped_len;
        if (ohsm_kmu_wrapfile_encode(&h, &file, &file_len) != OHSM_OK) {
            (void)ohsm_kmu_error(k, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
            goto out;
        }
        if (!ohsm_kmu_write_file(k, path, file, file_len)) {
            goto out;
        }
    }
    (void)fprintf(k->out, "\n\tKey Wrapped.\n\n\tWrapped Key written to file \"%s\" length %zu\n",
                  path, file_len);
    ohsm_kmu_returned(k, "Cfm2WrapKey", OHSM_OK);
    done = OHSM_KMU_DONE;
out:
    free(file);
    free(wrapped);
    free(aad);
    return done;
}

/* The creation template and shares of a key made by unwrapping (unWrapKey, imSymKey). */
struct newkey {
    struct ohsm_tmpl_buf t;
    struct ohsm_kmu_keyopts o; /* what was asked, for -attest */
    bool attest;
    char store[OHSM_KMU_MAX_IDS][OHSM_USERNAME_MAX + 1];
    const char *share[OHSM_KMU_MAX_IDS];
    size_t nshare;
};

static bool newkey(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p, uint32_t cls,
                   uint32_t ktype, const char *label, const uint8_t *id, size_t id_len,
                   struct newkey *nk)
{
    const struct ohsm_kmu_val *mv = ohsm_kmu_get(p, "m_value");
    struct ohsm_kmu_keyopts o = {label, id, id_len, !ohsm_kmu_has(p, "sess"),
                                 !ohsm_kmu_has(p, "nex")};

    memset(nk, 0, sizeof(*nk));
    nk->o = o;
    nk->attest = ohsm_kmu_has(p, "attest");
    if (!ohsm_kmu_check_counts(k, p)) {
        return false;
    }
    if (cls == OHSM_CLASS_SECRET) {
        ohsm_kmu_tmpl_secret(&nk->t, ktype, &o);
    } else if (cls == OHSM_CLASS_PRIVATE) {
        ohsm_kmu_tmpl_private(&nk->t, ktype, &o);
    } else {
        (void)ohsm_kmu_error(k, "Invalid key class %" PRIu32 ": 3 private or 4 secret", cls);
        return false;
    }
    if (mv != NULL && mv->num > 0) {
        /* Key quorum: the new key's use and management need m approvals. */
        ohsm_tmpl_put_u32(&nk->t, OHSM_A_QUORUM_MANAGE, (uint32_t)mv->num);
        ohsm_tmpl_put_u32(&nk->t, OHSM_A_QUORUM_USE, (uint32_t)mv->num);
    }
    if (nk->t.overflow) {
        (void)ohsm_kmu_error(k, "Key attributes too long");
        return false;
    }
    return ohsm_kmu_share_names(k, p, nk->store, nk->share, &nk->nshare);
}

/* Unwraps into a new key and prints the result block. */
static int unwrap_into(struct ohsm_kmu *k, uint64_t w, const struct ohsm_mech_params *m,
                       const uint8_t *blob, size_t len, uint32_t cls, uint32_t ktype,
                       const struct newkey *nk, const char *what)
{
    struct ohsm_result *res = ohsm_kmu_results(k);
    struct ohsm_obj obj;

    if (res == NULL) {
        return OHSM_KMU_FAILED;
    }
    memset(&obj, 0, sizeof(obj));
    ohsm_rv rv = ohsm_client_key_unwrap(k->client, w, m, blob, len, cls, ktype, nk->t.buf,
                                        nk->t.len, nk->share, nk->nshare, &obj, res);
    ohsm_kmu_results_fill(k, res, rv);
    ohsm_rv top = ohsm_kmu_overall(k, res, rv);
    ohsm_kmu_returned(k, "Cfm3UnWrapKey", top);
    bool attest_ok = true;
    if (obj.handle != 0) {
        (void)fprintf(k->out, "\n\t%s  Key Handle: %" PRIu64 "\n", what, obj.handle);
        if (nk->attest) {
            /* The guide's imSymKey -attest: the check's line after the handle (attest.c). */
            attest_ok = ohsm_kmu_attest(k->client, k->n, &obj, 1, &nk->o, false);
            (void)fprintf(k->out, "\n\tAttestation Check : [%s]\n", attest_ok ? "PASS" : "FAIL");
        }
    }
    ohsm_kmu_cluster(k, res);
    free(res);
    return top == OHSM_OK && attest_ok ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
}

int ohsm_kmu_unwrap_key(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t w = ohsm_kmu_get(p, "w")->num;
    const struct ohsm_kmu_val *mv = ohsm_kmu_get(p, "m"), *l = ohsm_kmu_get(p, "l");
    const struct ohsm_kmu_val *id = ohsm_kmu_get(p, "id"), *kt = ohsm_kmu_get(p, "kt");
    const struct ohsm_kmu_val *kc = ohsm_kmu_get(p, "kc"), *ivf = ohsm_kmu_get(p, "iv_file");
    bool noheader = ohsm_kmu_has(p, "noheader");
    struct ohsm_kmu_wrapfile h;
    struct ohsm_mech_params m;
    struct newkey nk;
    uint8_t *file = NULL, *aad = NULL, *iv = NULL, *joined = NULL;
    size_t file_len = 0, aad_len = 0, iv_len = 0;
    const uint8_t *blob = NULL;
    size_t blob_len = 0;
    int done = OHSM_KMU_FAILED;

    if (!ohsm_kmu_read_file(k, ohsm_kmu_get(p, "f")->text, OHSM_KMU_DATA_MAX, &file, &file_len)) {
        return OHSM_KMU_FAILED;
    }
    memset(&h, 0, sizeof(h));
    if (noheader) {
        if (l == NULL || kc == NULL || kt == NULL) {
            (void)ohsm_kmu_error(k, "-noheader needs -l <label>, -kc <key class> and "
                                    "-kt <key type>");
            goto out;
        }
        h.mech = mv != NULL ? (uint32_t)mv->num : KMU_AES_KEY_WRAP_PAD_PKCS5;
        h.cls = (uint32_t)kc->num;
        h.ktype = (uint32_t)kt->num;
        h.wrapped = file;
        h.wrapped_len = file_len;
    } else {
        if (ohsm_kmu_wrapfile_decode(file, file_len, &h) != OHSM_OK) {
            (void)ohsm_kmu_error(k, "The file has no valid key_mgmt_util header; for a key "
                                    "wrapped elsewhere use -noheader with -l, -kc and -kt");
            goto out;
        }
        if (mv != NULL && mv->num != h.mech) {
            (void)ohsm_kmu_error(k, "-m %" PRIu64 " does not match the file's mechanism %" PRIu32,
                                 mv->num, h.mech);
            goto out;
        }
        if (kc != NULL || kt != NULL) {
            (void)ohsm_kmu_error(k, "-kc and -kt apply with -noheader only");
            goto out;
        }
        if (ivf != NULL) {
            (void)ohsm_kmu_error(k, "-iv_file applies with -noheader only (the header keeps it)");
            goto out;
        }
    }
    if (ohsm_ktype_name(h.ktype) == NULL) {
        (void)ohsm_kmu_error(k,
                             "Invalid key type %" PRIu32 ": 0 RSA, 3 EC, 16 generic secret, "
                             "31 AES",
                             h.ktype);
        goto out;
    }
    if (!noheader && ohsm_kmu_has(p, "t") && ohsm_kmu_get(p, "t")->num != h.hash) {
        (void)ohsm_kmu_error(k, "-t %" PRIu64 " does not match the file's hash type %" PRIu32,
                             ohsm_kmu_get(p, "t")->num, h.hash);
        goto out;
    }
    if (!mech_params(k, p, h.mech, h.hash, &m, &aad, &aad_len)) {
        goto out;
    }
    if (!noheader && h.tag_bits != 0 && m.tag_bits == 0) {
        m.tag_bits = h.tag_bits;
    }
    blob = h.wrapped;
    blob_len = h.wrapped_len;
    if (ivf != NULL) {
        /* -noheader -iv_file: the IV was written apart; the HSM wants iv || ciphertext || tag. */
        if (!ohsm_kmu_read_file(k, ivf->text, 64, &iv, &iv_len)) {
            goto out;
        }
        if (iv_len != GCM_IV || blob_len > WRAPPED_MAX) {
            (void)ohsm_kmu_error(k, "The IV file must hold the %d-byte GCM IV", GCM_IV);
            goto out;
        }
        joined = malloc(iv_len + blob_len);
        if (joined == NULL) {
            (void)ohsm_kmu_error(k, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
            goto out;
        }
        memcpy(joined, iv, iv_len);
        memcpy(joined + iv_len, blob, blob_len);
        blob = joined;
        blob_len += iv_len;
    }
    const char *label = l != NULL ? l->text : h.label;
    const uint8_t *idb = id != NULL ? (const uint8_t *)id->text : h.id;
    size_t id_len = id != NULL ? strlen(id->text) : h.id_len;
    if (label[0] == '\0') {
        (void)ohsm_kmu_error(k, "The key needs a label: give -l <label>");
        goto out;
    }
    if (!newkey(k, p, h.cls, h.ktype, label, idb, id_len, &nk)) {
        goto out;
    }
    done = unwrap_into(k, w, &m, blob, blob_len, h.cls, h.ktype, &nk, "Key Unwrapped.");
out:
    free(joined);
    free(iv);
    free(aad);
    free(file);
    return done;
}

/* ---- plaintext export and import ---- */

/* RFC 3394 with PKCS#5 padding on this host, with an AES key from a -wk file (key_mgmt_util's
 * mechanism 4). wrap: in -> out (in_len rounded up to 8, plus 8); unwrap: in -> out, padding
 * removed. out has cap bytes. */
bool ohsm_kmu_host_kw(bool wrap, const uint8_t *key, size_t key_len, const uint8_t *in,
                      size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    const char *name = key_len == 16   ? "AES-128-WRAP"
                       : key_len == 24 ? "AES-192-WRAP"
                       : key_len == 32 ? "AES-256-WRAP"
                                       : NULL;
    uint8_t padded[WRAPPED_MAX];
    size_t n = in_len;
    const uint8_t *src = in;
    EVP_CIPHER *c = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int w = 0, f = 0;
    bool ok = false;

    if (name == NULL || in_len == 0 || in_len > WRAPPED_MAX - 8 || in_len > INT32_MAX) {
        return false;
    }
    if (wrap) {
        /* PKCS#5: 1..8 bytes, each the pad length. */
        size_t pad = 8 - in_len % 8;
        memcpy(padded, in, in_len);
        memset(padded + in_len, (int)pad, pad);
        n = in_len + pad;
        src = padded;
    }
    if (cap < n + 8 || (!wrap && (n < 16 || n % 8 != 0))) {
        goto out;
    }
    c = EVP_CIPHER_fetch(NULL, name, NULL);
    ctx = EVP_CIPHER_CTX_new();
    if (c == NULL || ctx == NULL) {
        goto out;
    }
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex2(ctx, c, key, NULL, wrap ? 1 : 0, NULL) != 1 ||
        EVP_CipherUpdate(ctx, out, &w, src, (int)n) != 1 || w < 0 ||
        EVP_CipherFinal_ex(ctx, out + w, &f) != 1) {
        goto out;
    }
    *out_len = (size_t)w + (size_t)f;
    if (!wrap) {
        uint8_t pad = *out_len > 0 ? out[*out_len - 1] : 0;
        uint8_t bad = (uint8_t)(pad == 0 || pad > 8 || pad > *out_len);
        for (size_t i = 0; bad == 0 && i < pad; i++) {
            bad |= (uint8_t)(out[*out_len - 1 - i] ^ pad);
        }
        if (bad != 0) {
            OPENSSL_cleanse(out, cap);
            goto out;
        }
        *out_len -= pad;
    }
    ok = true;
out:
    OPENSSL_cleanse(padded, sizeof(padded));
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
    return ok;
}

/* Reads a -wk AES key file (16, 24 or 32 bytes). */
bool ohsm_kmu_key_file(struct ohsm_kmu *k, const char *path, uint8_t **key, size_t *len)
{
    if (!ohsm_kmu_read_file(k, path, OHSM_KMU_KEYFILE_MAX, key, len)) {
        return false;
    }
    if (*len != 16 && *len != 24 && *len != 32) {
        (void)ohsm_kmu_error(k, "File \"%s\" must hold a 16, 24 or 32-byte AES key", path);
        ohsm_kmu_free_secret(*key, *len);
        *key = NULL;
        return false;
    }
    return true;
}

/* A key the HSM wrapped with the -w key (exSymKey, exportPrivateKey), in clear on this host: with
 * a -wk key file (the same AES key) this host unwraps mechanism 4 itself into host (cap bytes);
 * without one the HSM that wrapped it (AES-GCM, IV first) opens it with the -w key into a new
 * buffer. *plain is host or that buffer (the caller frees it if it is not host). Prints the
 * guide's Cfm3UnWrapHostKey line for the HSM's opening, and for the host's own unwrap too when
 * report_host (exportPrivateKey's page prints it, exSymKey's does not). */
ohsm_rv ohsm_kmu_open_wrapped(struct ohsm_kmu *k, uint64_t w, const uint8_t *kek, size_t kek_len,
                              const uint8_t *wrapped, size_t wrapped_len, uint8_t *host, size_t cap,
                              uint8_t **plain, size_t *plain_len, bool report_host)
{
    if (kek != NULL) {
        bool ok = ohsm_kmu_host_kw(false, kek, kek_len, wrapped, wrapped_len, host, cap, plain_len);
        if (report_host) {
            ohsm_kmu_returned(k, "Cfm3UnWrapHostKey", ok ? OHSM_OK : OHSM_WRAPPED_KEY_INVALID);
        }
        if (!ok) {
            (void)ohsm_kmu_error(k, "The -wk key does not unwrap the key: it must be the same "
                                    "AES key as the -w key");
            return OHSM_WRAPPED_KEY_INVALID;
        }
        *plain = host;
        return OHSM_OK;
    }
    if (wrapped_len <= GCM_IV) {
        ohsm_kmu_returned(k, "Cfm3UnWrapHostKey", OHSM_PROTOCOL);
        return OHSM_PROTOCOL;
    }
    struct ohsm_mech_params d;
    memset(&d, 0, sizeof(d));
    d.mech = OHSM_M_AES_GCM;
    d.iv = wrapped;
    d.iv_len = GCM_IV;
    ohsm_rv rv = ohsm_client_decrypt(k->client, w, &d, wrapped + GCM_IV, wrapped_len - GCM_IV,
                                     plain, plain_len);
    ohsm_kmu_returned(k, "Cfm3UnWrapHostKey", rv);
    return rv;
}

int ohsm_kmu_ex_sym(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t key = ohsm_kmu_get(p, "k")->num, w = ohsm_kmu_get(p, "w")->num;
    const struct ohsm_kmu_val *wk = ohsm_kmu_get(p, "wk");
    const char *path = ohsm_kmu_get(p, "out")->text;
    struct ohsm_mech_params m;
    struct ohsm_obj o;
    uint8_t *wrapped = NULL, *plain = NULL, *kek = NULL, host[WRAPPED_MAX];
    size_t wrapped_len = 0, plain_len = 0, kek_len = 0;
    int done = OHSM_KMU_FAILED;

    memset(&o, 0, sizeof(o));
    ohsm_rv rv = ohsm_client_key_get(k->client, key, &o);
    if (rv == OHSM_OK && o.cls != OHSM_CLASS_SECRET) {
        return ohsm_kmu_error(k,
                              "exSymKey exports symmetric keys only: key %" PRIu64 " is a %s key",
                              key, o.cls == OHSM_CLASS_PUBLIC ? "public" : "private");
    }
    if (wk != NULL && !ohsm_kmu_key_file(k, wk->text, &kek, &kek_len)) {
        return OHSM_KMU_FAILED;
    }
    memset(&m, 0, sizeof(m));
    /* With a -wk file the host unwraps mechanism 4 itself; without one the HSM that wrapped
     * (AES-GCM) also opens the wrapped key for this host, with the same -w key. */
    m.mech = kek != NULL ? OHSM_M_AES_KW_PKCS5 : OHSM_M_AES_GCM;
    if (rv == OHSM_OK) {
        rv = ohsm_client_key_wrap(k->client, w, key, &m, &wrapped, &wrapped_len);
    }
    ohsm_kmu_returned(k, "Cfm3WrapKey", rv);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_kmu_open_wrapped(k, w, kek, kek_len, wrapped, wrapped_len, host, sizeof(host), &plain,
                               &plain_len, false);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (!ohsm_kmu_write_file(k, path, plain, plain_len)) {
        goto out;
    }
    (void)fprintf(k->out, "\n\nWrapped Symmetric Key written to file \"%s\"\n", path);
    done = OHSM_KMU_DONE;
out:
    if (plain != host) {
        ohsm_kmu_free_secret(plain, plain_len);
    }
    OPENSSL_cleanse(host, sizeof(host));
    ohsm_kmu_free_secret(kek, kek_len);
    free(wrapped);
    return done;
}

int ohsm_kmu_im_sym(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t w = ohsm_kmu_get(p, "w")->num, t = ohsm_kmu_get(p, "t")->num;
    const struct ohsm_kmu_val *wk = ohsm_kmu_get(p, "wk"), *id = ohsm_kmu_get(p, "id");
    const char *path = ohsm_kmu_get(p, "f")->text;
    struct ohsm_mech_params m;
    struct newkey nk;
    uint8_t *key = NULL, *kek = NULL, *ct = NULL, *blob = NULL, host[WRAPPED_MAX], iv[16];
    size_t key_len = 0, kek_len = 0, ct_len = 0, blob_len = 0, iv_len = 0;
    int done = OHSM_KMU_FAILED;

    if (t != OHSM_KT_AES && t != OHSM_KT_DES3 && t != OHSM_KT_GENERIC_SECRET) {
        return ohsm_kmu_error(k,
                              "Invalid key type %" PRIu64 " for -t: 16 (generic secret), 21 "
                              "(3DES) or 31 (AES)",
                              t);
    }
    if (!ohsm_kmu_read_file(k, path, OHSM_KMU_KEYFILE_MAX, &key, &key_len)) {
        return OHSM_KMU_FAILED;
    }
    if (key_len > UINT32_MAX ||
        ohsm_mech_check_size((uint32_t)t, (uint32_t)key_len, 0) != OHSM_OK) {
        (void)ohsm_kmu_error(k, "File \"%s\" holds %zu bytes: %s", path, key_len,
                             ohsm_kmu_sym_sizes((uint32_t)t));
        goto out;
    }
    if (wk != NULL && !ohsm_kmu_key_file(k, wk->text, &kek, &kek_len)) {
        goto out;
    }
    if (!newkey(k, p, OHSM_CLASS_SECRET, (uint32_t)t, ohsm_kmu_get(p, "l")->text,
                id != NULL ? (const uint8_t *)id->text : NULL, id != NULL ? strlen(id->text) : 0,
                &nk)) {
        goto out;
    }
    memset(&m, 0, sizeof(m));
    if (kek != NULL) {
        m.mech = OHSM_M_AES_KW_PKCS5;
        bool ok = ohsm_kmu_host_kw(true, kek, kek_len, key, key_len, host, sizeof(host), &blob_len);
        ohsm_kmu_returned(k, "Cfm3WrapHostKey", ok ? OHSM_OK : OHSM_DATA_INVALID);
        if (!ok) {
            goto out;
        }
        blob = host;
    } else {
        /* The HSM wraps for this host with the -w key (AES-GCM, its own IV) ... */
        m.mech = OHSM_M_AES_GCM;
        ohsm_rv rv = ohsm_client_encrypt(k->client, w, &m, key, key_len, &ct, &ct_len, iv, &iv_len);
        if (rv == OHSM_OK && (iv_len != GCM_IV || ct_len > sizeof(host) - GCM_IV)) {
            rv = OHSM_PROTOCOL;
        }
        ohsm_kmu_returned(k, "Cfm3WrapHostKey", rv);
        if (rv != OHSM_OK) {
            goto out;
        }
        /* ... and unwraps iv || ciphertext || tag into the new key. */
        memcpy(host, iv, GCM_IV);
        memcpy(host + GCM_IV, ct, ct_len);
        blob = host;
        blob_len = GCM_IV + ct_len;
    }
    ohsm_kmu_returned(k, "Cfm3CreateUnwrapTemplate", OHSM_OK);
    done = unwrap_into(k, w, &m, blob, blob_len, OHSM_CLASS_SECRET, (uint32_t)t, &nk,
                       "Symmetric Key Unwrapped.");
out:
    OPENSSL_cleanse(host, sizeof(host));
    free(ct);
    ohsm_kmu_free_secret(kek, kek_len);
    ohsm_kmu_free_secret(key, key_len);
    return done;
}
