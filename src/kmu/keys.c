/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's key management commands: genSymKey, genRSAKeyPair, genECCKeyPair, findKey,
 * getAttribute, setAttribute, deleteKey, getKeyInfo, exportPubKey and importPubKey. Each checks
 * what it can before anything is sent (key types, sizes and curves with the core's rules, user ids
 * against the HSM's user list), so bad input changes nothing; the HSMs check everything again.
 * Keys made here carry the KMU's attribute templates (attrs.c). Output follows the guide's shapes.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kmu/attest.h"
#include "kmu/attrs.h"
#include "kmu/kmu.h"
#include "openhsm/mech.h"

/* Options every key-making command shares (-l, -id, -sess, -nex, -u, -m_value, -min_srv,
 * -timeout, -attest). */
struct newkey {
    struct ohsm_kmu_keyopts o;
    char store[OHSM_KMU_MAX_IDS][OHSM_USERNAME_MAX + 1];
    const char *share[OHSM_KMU_MAX_IDS];
    size_t nshare;
    uint32_t m_value; /* key quorum (-m_value): approvals to use and to manage the key; 0 none */
};

bool ohsm_kmu_check_counts(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    const struct ohsm_kmu_val *mv = ohsm_kmu_get(p, "m_value"), *ms = ohsm_kmu_get(p, "min_srv");
    if (mv != NULL && mv->num > p->nids + 1) {
        /* Guide: the m_value cannot exceed the number of users of the key (-u ids + owner). */
        (void)ohsm_kmu_error(k,
                             "-m_value %" PRIu64 " is more than the %zu users of the key: share "
                             "it with enough users (-u)",
                             mv->num, p->nids + 1);
        return false;
    }
    if (ms != NULL && ms->num > k->n) {
        (void)ohsm_kmu_error(k, "-min_srv %" PRIu64 " is more than the %zu HSMs of the cluster",
                             ms->num, k->n);
        return false;
    }
    return true;
}

static bool newkey(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p, struct newkey *nk)
{
    const struct ohsm_kmu_val *l = ohsm_kmu_get(p, "l"), *id = ohsm_kmu_get(p, "id");
    const struct ohsm_kmu_val *mv = ohsm_kmu_get(p, "m_value");

    memset(nk, 0, sizeof(*nk));
    nk->o.label = l != NULL ? l->text : "";
    nk->o.id = id != NULL ? (const uint8_t *)id->text : NULL;
    nk->o.id_len = id != NULL ? strlen(id->text) : 0;
    nk->o.token = !ohsm_kmu_has(p, "sess");
    nk->o.extractable = !ohsm_kmu_has(p, "nex");
    if (!ohsm_kmu_check_counts(k, p)) {
        return false;
    }
    nk->m_value = mv != NULL ? (uint32_t)mv->num : 0;
    /* Every key goes to every HSM: the client inserts it everywhere it can and repairs the
     * others when they are back, so -min_srv and -timeout ask for nothing more. */
    return ohsm_kmu_share_names(k, p, nk->store, nk->share, &nk->nshare);
}

/* -attest's outcome: none asked, passed, failed. */
enum attest { ATTEST_NONE, ATTEST_PASS, ATTEST_FAIL };

/* Prints the creation result block: the returned line, the handle line(s), the attestation line
 * (guide: "Attestation Check : [PASS]" between the handles and the cluster block), the cluster
 * block. A failed attestation fails the command (the key stays, as the guide's tool leaves it). */
static int created(struct ohsm_kmu *k, const char *fn, ohsm_rv rv, struct ohsm_result *res,
                   const char *what, enum attest at)
{
    ohsm_kmu_results_fill(k, res, rv);
    ohsm_rv top = ohsm_kmu_overall(k, res, rv);
    ohsm_kmu_returned(k, fn, top);
    if (what != NULL) {
        (void)fprintf(k->out, "\n\t%s\n", what);
    }
    if (at != ATTEST_NONE) {
        (void)fprintf(k->out, "\n\tAttestation Check : [%s]\n",
                      at == ATTEST_PASS ? "PASS" : "FAIL");
    }
    ohsm_kmu_cluster(k, res);
    return top == OHSM_OK && at != ATTEST_FAIL ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
}

/* Key quorum (-m_value): the secret or private key's use and management need m approvals. */
static void put_quorum(struct ohsm_tmpl_buf *t, uint32_t m)
{
    if (m > 0) {
        ohsm_tmpl_put_u32(t, OHSM_A_QUORUM_MANAGE, m);
        ohsm_tmpl_put_u32(t, OHSM_A_QUORUM_USE, m);
    }
}

static int generate(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p, struct ohsm_keygen *g,
                    bool pair)
{
    struct newkey nk;
    struct ohsm_tmpl_buf t, pt;
    struct ohsm_obj objs[2];
    size_t nobj = 0;
    char what[160];
    struct ohsm_result *res = NULL;
    int done = OHSM_KMU_FAILED;

    if (!newkey(k, p, &nk)) {
        return OHSM_KMU_FAILED;
    }
    if (pair) {
        ohsm_kmu_tmpl_private(&t, g->ktype, &nk.o);
        put_quorum(&t, nk.m_value);
        ohsm_kmu_tmpl_public(&pt, g->ktype, &nk.o);
        g->pub_tmpl = pt.buf;
        g->pub_tmpl_len = pt.len;
    } else {
        ohsm_kmu_tmpl_secret(&t, g->ktype, &nk.o);
        put_quorum(&t, nk.m_value);
    }
    if (t.overflow || (pair && pt.overflow)) {
        return ohsm_kmu_error(k, "Key attributes too long");
    }
    g->tmpl = t.buf;
    g->tmpl_len = t.len;
    g->share = nk.share;
    g->nshare = nk.nshare;
    res = ohsm_kmu_results(k);
    if (res == NULL) {
        return OHSM_KMU_FAILED;
    }
    memset(objs, 0, sizeof(objs));
    ohsm_rv rv = ohsm_client_key_generate(k->client, g, objs, &nobj, res);
    bool made = nobj == (pair ? 2u : 1u);
    if (made && pair) {
        (void)snprintf(what, sizeof(what),
                       "Cfm3GenerateKeyPair:    public key handle: %" PRIu64
                       "    private key handle: %" PRIu64,
                       objs[1].handle, objs[0].handle);
    } else if (made) {
        (void)snprintf(what, sizeof(what), "Symmetric Key Created.  Key Handle: %" PRIu64,
                       objs[0].handle);
    }
    enum attest at = ATTEST_NONE;
    if (ohsm_kmu_has(p, "attest") && made) {
        at = ohsm_kmu_attest(k->client, k->n, objs, nobj, &nk.o, true) ? ATTEST_PASS : ATTEST_FAIL;
    }
    done = created(k, pair ? "Cfm3GenerateKeyPair" : "Cfm3GenerateSymmetricKey", rv, res,
                   made ? what : NULL, at);
    free(res);
    return done;
}

const char *ohsm_kmu_sym_sizes(uint32_t t)
{
    switch (t) {
    case OHSM_KT_AES:
        return "AES keys are 16, 24 or 32 bytes";
    case OHSM_KT_DES3:
        return "3DES keys are 24 bytes";
    default:
        return "generic secrets are 1 to 3583 bytes";
    }
}

int ohsm_kmu_gen_sym(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t t = ohsm_kmu_get(p, "t")->num, s = ohsm_kmu_get(p, "s")->num;
    struct ohsm_keygen g;

    if (t == 18) {
        return ohsm_kmu_error(k, "Key type 18 (RC4) is not supported: use 16 (generic secret), 21 "
                                 "(3DES) or 31 (AES)");
    }
    if (t != OHSM_KT_AES && t != OHSM_KT_DES3 && t != OHSM_KT_GENERIC_SECRET) {
        return ohsm_kmu_error(k,
                              "Invalid key type %" PRIu64 " for -t: use 16 (generic secret), 21 "
                              "(3DES) or 31 (AES)",
                              t);
    }
    if (s > UINT32_MAX || ohsm_mech_check_size((uint32_t)t, (uint32_t)s, 0) != OHSM_OK) {
        return ohsm_kmu_error(k, "Invalid key size %" PRIu64 " for -s: %s", s,
                              ohsm_kmu_sym_sizes((uint32_t)t));
    }
    memset(&g, 0, sizeof(g));
    g.ktype = (uint32_t)t;
    g.length = (uint32_t)s;
    return generate(k, p, &g, false);
}

int ohsm_kmu_gen_rsa(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t m = ohsm_kmu_get(p, "m")->num, e = ohsm_kmu_get(p, "e")->num;
    struct ohsm_keygen g;

    if (m > UINT32_MAX || ohsm_mech_check_size(OHSM_KT_RSA, (uint32_t)m, 65537) != OHSM_OK) {
        return ohsm_kmu_error(
            k, "Invalid modulus length %" PRIu64 " for -m: 2048 to 4096 bits, a multiple of 8", m);
    }
    if (ohsm_mech_check_size(OHSM_KT_RSA, (uint32_t)m, e) != OHSM_OK) {
        return ohsm_kmu_error(
            k, "Invalid public exponent %" PRIu64 " for -e: it must be odd and at least 65537", e);
    }
    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_RSA;
    g.length = (uint32_t)m;
    g.public_exponent = e;
    return generate(k, p, &g, true);
}

/* key_mgmt_util curve ids (OpenSSL NID order of the Cavium tool). */
static uint32_t curve_of(uint64_t id)
{
    switch (id) {
    case 2:
        return OHSM_CURVE_P256;
    case 13:
        return OHSM_CURVE_P224;
    case 14:
        return OHSM_CURVE_P384;
    case 15:
        return OHSM_CURVE_P521;
    case 16:
        return OHSM_CURVE_SECP256K1;
    default:
        return OHSM_CURVE_NONE;
    }
}

int ohsm_kmu_gen_ecc(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    uint64_t id = ohsm_kmu_get(p, "i")->num;
    uint32_t curve = curve_of(id);
    struct ohsm_keygen g;

    if (curve == OHSM_CURVE_NONE || ohsm_mech_check_size(OHSM_KT_EC, curve, 0) != OHSM_OK) {
        /* The guide answers a curve outside the policy (-i 1, prime192v1) with 0xb3 and, in the
         * cluster block, 0x30000085 for every node: the request is refused before any HSM makes
         * a key (the guide: "this does not typically indicate a problem with the HSMs"). The
         * supported curves are in `genECCKeyPair -h`. */
        struct ohsm_result *res = ohsm_kmu_results(k);
        if (res == NULL) {
            return OHSM_KMU_FAILED;
        }
        ohsm_kmu_results_fill(k, res, OHSM_NOT_CONNECTED);
        ohsm_kmu_returned(k, "Cfm3GenerateKeyPair", OHSM_KEY_SIZE_RANGE);
        ohsm_kmu_cluster(k, res);
        free(res);
        return OHSM_KMU_FAILED;
    }
    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_EC;
    g.curve = curve;
    return generate(k, p, &g, true);
}

/* ---- findKey ---- */

/* Does every user of -u (by name) have use of o? Public keys are everyone's. */
static bool usable_by(const struct ohsm_obj *o, char names[][OHSM_USERNAME_MAX + 1], size_t n)
{
    if (o->cls == OHSM_CLASS_PUBLIC) {
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        bool ok = strncmp(o->owner, names[i], sizeof(o->owner)) == 0;
        for (uint32_t j = 0; j < o->nshared && j < OHSM_SHARE_MAX && !ok; j++) {
            ok = strncmp(o->shared[j], names[i], sizeof(o->shared[j])) == 0;
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* The -m modulus file: the hex the getAttribute file shows (optionally 0x-prefixed, with line
 * breaks), else the raw bytes. */
static bool modulus_file(struct ohsm_kmu *k, const char *path, uint8_t *out, size_t cap,
                         size_t *len)
{
    uint8_t *buf = NULL;
    size_t n = 0, h = 0;
    char *text = NULL;
    bool ok = false;

    if (!ohsm_kmu_read_file(k, path, OHSM_KMU_KEYFILE_MAX, &buf, &n)) {
        return false;
    }
    text = malloc(n + 1);
    if (text != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (buf[i] != '\n' && buf[i] != '\r' && buf[i] != ' ') {
                text[h++] = (char)buf[i];
            }
        }
        text[h] = '\0';
        ok = ohsm_kmu_hex_bytes(text, out, cap, len);
        if (!ok && n <= cap) {
            memcpy(out, buf, n);
            *len = n;
            ok = n > 0;
        }
    }
    if (!ok) {
        (void)ohsm_kmu_error(k, "File \"%s\" does not hold a modulus", path);
    }
    free(text);
    free(buf);
    return ok;
}

static int cmp_handle(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ohsm_kmu_find_key(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p)
{
    const struct ohsm_kmu_val *c = ohsm_kmu_get(p, "c"), *t = ohsm_kmu_get(p, "t");
    const struct ohsm_kmu_val *l = ohsm_kmu_get(p, "l"), *id = ohsm_kmu_get(p, "id");
    const struct ohsm_kmu_val *sess = ohsm_kmu_get(p, "sess"), *m = ohsm_kmu_get(p, "m");
    const struct ohsm_kmu_val *kcv = ohsm_kmu_get(p, "kcv");
    char names[OHSM_KMU_MAX_IDS][OHSM_USERNAME_MAX + 1];
    const char *ptrs[OHSM_KMU_MAX_IDS];
    size_t nnames = 0, nh = 0;
    uint8_t kv[8], mod[OHSM_SPKI_MAX];
    size_t kv_len = 0, mod_len = 0;
    struct ohsm_tmpl_buf b;
    struct ohsm_result *res = NULL;
    uint64_t *h = NULL;
    int done = OHSM_KMU_FAILED;

    ohsm_tmpl_init(&b);
    if (c != NULL) {
        if (c->num != OHSM_CLASS_PUBLIC && c->num != OHSM_CLASS_PRIVATE &&
            c->num != OHSM_CLASS_SECRET) {
            return ohsm_kmu_error(
                k, "Invalid key class %" PRIu64 " for -c: 2 public, 3 private, 4 secret", c->num);
        }
        ohsm_tmpl_put_u32(&b, OHSM_A_CLASS, (uint32_t)c->num);
    }
    if (t != NULL) {
        if (ohsm_ktype_name((uint32_t)t->num) == NULL || t->num > UINT32_MAX) {
            return ohsm_kmu_error(
                k, "Invalid key type %" PRIu64 " for -t: 0 RSA, 3 EC, 16 generic secret, 31 AES",
                t->num);
        }
        ohsm_tmpl_put_u32(&b, OHSM_A_KEY_TYPE, (uint32_t)t->num);
    }
    if (l != NULL) {
        ohsm_tmpl_put_bytes(&b, OHSM_A_LABEL, l->text, strlen(l->text));
    }
    if (id != NULL) {
        ohsm_tmpl_put_bytes(&b, OHSM_A_ID, id->text, strlen(id->text));
    }
    if (sess != NULL) {
        ohsm_tmpl_put_bool(&b, OHSM_A_TOKEN, sess->num == 0);
    }
    if (kcv != NULL) {
        if (!ohsm_kmu_hex_bytes(kcv->text, kv, sizeof(kv), &kv_len) || kv_len != 3) {
            return ohsm_kmu_error(k, "Invalid key check value for -kcv: expected 3 bytes in hex, "
                                     "as getAttribute shows (0x1a4b31)");
        }
        ohsm_tmpl_put_bytes(&b, OHSM_A_KCV, kv, kv_len);
    }
    if (m != NULL) {
        if (!modulus_file(k, m->text, mod, sizeof(mod), &mod_len)) {
            return OHSM_KMU_FAILED;
        }
        ohsm_tmpl_put_bytes(&b, OHSM_A_MODULUS, mod, mod_len);
    }
    if (b.overflow) {
        return ohsm_kmu_error(k, "Search attributes too long");
    }
    if (p->nids > 0 && !ohsm_kmu_share_names(k, p, names, ptrs, &nnames)) {
        return OHSM_KMU_FAILED;
    }
    res = ohsm_kmu_results(k);
    if (res == NULL) {
        return OHSM_KMU_FAILED;
    }
    /* Ask every HSM: the list is the union of what they hold (session keys live on one), and
     * each HSM's answer is its node line. */
    for (size_t i = 0; i < k->n; i++) {
        struct ohsm_obj *objs = NULL;
        size_t n = 0;
        res[i].rv = ohsm_client_key_find_on(k->client, i, b.buf, b.len, &objs, &n);
        if (res[i].rv == OHSM_OK && n > 0) {
            uint64_t *more = realloc(h, (nh + n) * sizeof(*h));
            if (more == NULL) {
                free(objs);
                res[i].rv = OHSM_HOST_MEMORY;
                continue;
            }
            h = more;
            for (size_t j = 0; j < n; j++) {
                if (usable_by(&objs[j], names, nnames)) {
                    h[nh++] = objs[j].handle;
                }
            }
        }
        free(objs);
    }
    if (nh > 1) {
        qsort(h, nh, sizeof(*h), cmp_handle);
    }
    size_t uniq = 0;
    for (size_t i = 0; i < nh; i++) {
        if (uniq == 0 || h[uniq - 1] != h[i]) {
            h[uniq++] = h[i];
        }
    }
    ohsm_rv top = ohsm_kmu_overall(k, res, OHSM_NOT_CONNECTED);
    if (top == OHSM_OK) {
        (void)fprintf(k->out, "\nTotal number of keys present %zu\n", uniq);
        if (uniq > 0) {
            (void)fprintf(k->out, "\n number of keys matched from start index 0::%zu\n", uniq - 1);
            for (size_t i = 0; i < uniq; i++) {
                (void)fprintf(k->out, "%s%" PRIu64, i == 0 ? "" : ", ", h[i]);
            }
            (void)fputc('\n', k->out);
        }
    }
    ohsm_kmu_cluster(k, res);
    ohsm_kmu_returned(k, "Cfm3FindKey", top);
    done = top == OHSM_OK ? OHSM_KMU_DONE : OHSM_KMU_FAILED;
    free(h);
    free(res);
    return done;
}
