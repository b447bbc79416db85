/* SPDX-License-Identifier: Apache-2.0
 *
 * cloudhsm_mgmt_util's quorum (M of N) commands on libopenhsm's quorum calls: getToken writes a
 * quorum token (every HSM's approval record, the bytes approvers sign with `openssl dgst -sha256
 * -sign`), approveToken reads the guide's token approval file (the token file and each approver's
 * signature file) and keeps that approval for this session's next quorum-guarded command
 * (createUser, deleteUser, changePswd, setMValue), whose HSMs check every signature; listTokens,
 * delToken, getMValue and setMValue ask or change each HSM; registerQuorumPubKey registers the
 * logged-in user's RSA-2048 public key with a registration token they signed. Service numbers are
 * the guide's: 3 USER_MGMT, 4 MISC_CO (the quorum values themselves), and 5 REGISTRATION (the
 * registration token openhsm's HSMs want as proof of possession).
 * Files and their contents are untrusted: sizes are capped before reading, the approval file is
 * parsed line by line with bounded fields, and nothing is sent when any part is wrong.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "client/outfile.h"
#include "cmu/apfile.h"
#include "cmu/cmu.h"
#include "openhsm/token.h"

#define SIG_MAX 1024  /* an RSA signature file: 256 bytes for RSA-2048 */
#define PUB_MAX 16384 /* a PEM public key */
#define APPROVAL_FILE_MAX 65536

struct ohsm_cmu_approval {
    uint8_t *data; /* the token file: approval records */
    size_t len;
    char names[OHSM_APPROVAL_SIGS_MAX][OHSM_USERNAME_MAX + 1];
    uint8_t *sig[OHSM_APPROVAL_SIGS_MAX];
    struct ohsm_approval_sig sigs[OHSM_APPROVAL_SIGS_MAX];
    size_t n;
    struct ohsm_approval ap;
};

static const struct {
    unsigned number;
    int service; /* enum ohsm_qservice */
    const char *name;
} services[] = {
    {3, OHSM_QS_USER, "USER_MGMT"},
    {4, OHSM_QS_QUORUM, "MISC_CO"},
    {5, OHSM_QS_REGISTRATION, "REGISTRATION"},
};

static int qservice(unsigned number)
{
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        if (services[i].number == number) {
            return services[i].service;
        }
    }
    return OHSM_QS_NONE;
}

static const char *service_name(unsigned number)
{
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        if (services[i].number == number) {
            return services[i].name;
        }
    }
    return "?";
}

/* The CMU number of an HSM service; 0 for the key services, which CMU has no number for. */
static unsigned cmu_number(int service)
{
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
        if (services[i].service == service) {
            return services[i].number;
        }
    }
    return 0;
}

static void approval_destroy(struct ohsm_cmu_approval *a)
{
    if (a == NULL) {
        return;
    }
    for (size_t i = 0; i < a->n; i++) {
        free(a->sig[i]);
    }
    free(a->data);
    free(a);
}

void ohsm_cmu_approval_free(struct ohsm_cmu *c)
{
    approval_destroy(c->approval);
    c->approval = NULL;
}

const struct ohsm_approval *ohsm_cmu_approval_get(struct ohsm_cmu *c)
{
    return c->approval != NULL ? &c->approval->ap : NULL;
}

void ohsm_cmu_approval_spent(struct ohsm_cmu *c, const struct ohsm_approval *ap, ohsm_rv rv)
{
    /* As the guide: a token serves one operation; once it succeeded, the token is gone. */
    if (ap != NULL && rv == OHSM_OK) {
        ohsm_cmu_approval_free(c);
    }
}

/* Reads a whole regular file of at most max bytes; false with why set. Caller frees *out. */
static bool slurp(const char *path, size_t max, uint8_t **out, size_t *len, char *why, size_t cap)
{
    struct stat st;
    FILE *f = fopen(path, "rbe");

    *out = NULL;
    *len = 0;
    if (f == NULL) {
        (void)snprintf(why, cap, "cannot read '%s': %s", path, strerror(errno));
        return false;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > max) {
        (void)snprintf(why, cap, "'%s' is not a file of 1 to %zu bytes", path, max);
        (void)fclose(f);
        return false;
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t got = buf != NULL ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    (void)fclose(f);
    if (buf == NULL || got != (size_t)st.st_size) {
        (void)snprintf(why, cap, "cannot read '%s'", path);
        free(buf);
        return false;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return true;
}

static bool logged_in_as(struct ohsm_cmu *c, const char *user)
{
    struct ohsm_hsm_status st;
    for (size_t i = 0; i < c->n; i++) {
        memset(&st, 0, sizeof(st));
        if (ohsm_client_hsm_status(c->client, i, &st) == OHSM_OK && st.logged_in) {
            st.username[sizeof(st.username) - 1] = '\0';
            return strcmp(st.username, user) == 0;
        }
    }
    return false;
}

static void failed(struct ohsm_cmu *c, const char *cmd, const char *why)
{
    (void)fprintf(c->out, "%s failed: %s\n", cmd, why);
    c->failed = true;
}

/* ---- getToken <service> <user name> <token file> ---- */

/* The Id getToken shows for the token rec names on HSM i: its place (from 1) among the HSM's live
 * tokens, the Id listTokens shows for it; the last one of rec's user, service and key when the
 * user holds several. 0 when the HSM does not list it. */
static size_t token_id(struct ohsm_cmu *c, size_t i, const struct ohsm_approval_rec *rec)
{
    struct ohsm_qtoken_info *t = NULL;
    size_t n = 0, id = 0;
    if (ohsm_client_quorum_list(c->client, i, &t, &n) != OHSM_OK) {
        return 0;
    }
    for (size_t k = 0; k < n; k++) {
        t[k].username[sizeof(t[k].username) - 1] = '\0';
        if (strcmp(t[k].username, rec->username) == 0 && t[k].service == (int)rec->service &&
            t[k].key_handle == rec->key_handle) {
            id = k + 1;
        }
    }
    free(t);
    return id;
}

void ohsm_cmu_get_token(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char why[256];
    struct ohsm_result *res = NULL;

    if (!logged_in_as(c, p->user)) {
        failed(c, "getToken", "the token is for the user who is logged in; log in as that user");
        return;
    }
    res = ohsm_cmu_results_new(c);
    if (res == NULL) {
        return;
    }
    ohsm_rv rv =
        ohsm_client_quorum_generate(c->client, qservice(p->service), 0, &data, &len, res);
    if (data != NULL && len > 0 &&
        ohsm_outfile_write(p->file, data, len, 0600, why, sizeof(why)) != OHSM_OK) {
        failed(c, "getToken", why);
        goto out;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct ohsm_hsm_status st;
        struct ohsm_approval_rec rec;
        memset(&st, 0, sizeof(st));
        memset(&rec, 0, sizeof(rec));
        ohsm_rv one = res[i].rv;
        if (one == OHSM_OK && (ohsm_client_hsm_status(c->client, i, &st) != OHSM_OK ||
                               data == NULL ||
                               ohsm_approval_find(data, len, st.id, &rec) != OHSM_OK)) {
            one = rv != OHSM_OK ? rv : OHSM_DEVICE_ERROR;
        }
        ohsm_cmu_report_one(c, "getToken", i, one);
        if (one == OHSM_OK) {
            (void)fprintf(c->out,
                          "Token:\nId:%zu\nService:%u\nNode:%zu\nKey Handle:%" PRIu64
                          "\nUser:%s\n",
                          token_id(c, i, &rec), p->service, i, rec.key_handle, rec.username);
        }
    }
out:
    free(data);
    free(res);
}

/* ---- approveToken <approval file> ---- */

/* Loads the approval file's token and signatures into a (all checked); false with why set. */
static bool read_approval(const char *text, size_t len, struct ohsm_cmu_approval *a, char *why,
                          size_t cap)
{
    struct ohsm_cmu_apfile *f = malloc(sizeof(*f));
    bool ok = f != NULL && ohsm_cmu_apfile_parse(text, len, f, why, cap);

    if (f == NULL) {
        (void)snprintf(why, cap, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
    }
    for (size_t i = 0; ok && i < f->n; i++) {
        size_t sig_len = 0;
        ok = slurp(f->sig_path[i], SIG_MAX, &a->sig[i], &sig_len, why, cap);
        if (ok) {
            (void)snprintf(a->names[i], sizeof(a->names[i]), "%s", f->name[i]);
            a->sigs[i].username = a->names[i];
            a->sigs[i].sig = a->sig[i];
            a->sigs[i].len = sig_len;
            a->n = i + 1;
        }
    }
    ok = ok && slurp(f->token_path, (size_t)OHSM_APPROVAL_REC_LEN * OHSM_APPROVAL_MAX_RECS,
                     &a->data, &a->len, why, cap);
    if (ok && a->len % OHSM_APPROVAL_REC_LEN != 0) {
        (void)snprintf(why, cap, "'%.200s' is not a quorum token (getToken writes one)",
                       f->token_path);
        ok = false;
    }
    free(f);
    if (ok) {
        a->ap.data = a->data;
        a->ap.len = a->len;
        a->ap.sigs = a->sigs;
        a->ap.n = a->n;
    }
    return ok;
}

void ohsm_cmu_approve_token(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    uint8_t *text = NULL;
    size_t len = 0;
    char why[512];
    struct ohsm_cmu_approval *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        failed(c, "approveToken", ohsm_rv_str(OHSM_HOST_MEMORY));
        return;
    }
    if (!slurp(p->in[0], APPROVAL_FILE_MAX, &text, &len, why, sizeof(why)) ||
        !read_approval((const char *)text, len, a, why, sizeof(why))) {
        failed(c, "approveToken", why);
        approval_destroy(a);
        free(text);
        return;
    }
    free(text);
    /* Each HSM must have its record in the token; the HSM checks the signatures when the
     * approval is used (the next quorum-guarded command of this session). */
    bool all = true;
    for (size_t i = 0; i < c->n; i++) {
        struct ohsm_hsm_status st;
        struct ohsm_approval_rec rec;
        memset(&st, 0, sizeof(st));
        ohsm_rv rv = ohsm_client_hsm_status(c->client, i, &st);
        if (rv == OHSM_OK) {
            st.id[sizeof(st.id) - 1] = '\0';
            rv = ohsm_approval_find(a->data, a->len, st.id, &rec);
        }
        all = all && rv == OHSM_OK;
        ohsm_cmu_report_one(c, "approveToken", i, rv);
    }
    /* The new approval replaces any earlier one; a token some HSM has no record in is kept by
     * none. */
    ohsm_cmu_approval_free(c);
    if (all) {
        c->approval = a;
    } else {
        approval_destroy(a);
    }
}

/* ---- listTokens ---- */

void ohsm_cmu_list_tokens(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    size_t lo, hi;
    bool ok = true;
    (void)p;

    ohsm_cmu_scope(c, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        struct ohsm_hsm_status st;
        struct ohsm_qtoken_info *t = NULL;
        size_t n = 0;

        memset(&st, 0, sizeof(st));
        if (ohsm_client_hsm_status(c->client, i, &st) != OHSM_OK) {
            (void)snprintf(st.host, sizeof(st.host), "?");
        }
        st.host[sizeof(st.host) - 1] = '\0';
        st.id[sizeof(st.id) - 1] = '\0';
        (void)fprintf(c->out, "\n=====================\n    Server %zu(%s)\n=====================\n",
                      i, st.host);
        ohsm_rv rv = ohsm_client_quorum_list(c->client, i, &t, &n);
        if (rv != OHSM_OK) {
            ohsm_cmu_report_one(c, "listTokens", i, rv);
            ok = false;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            t[k].username[sizeof(t[k].username) - 1] = '\0';
            /* Approvals this session holds for the token (approveToken), else the HSM's count. */
            const struct ohsm_cmu_approval *a = c->approval;
            struct ohsm_approval_rec rec;
            bool mine = a != NULL && ohsm_approval_find(a->data, a->len, st.id, &rec) == OHSM_OK &&
                        strcmp(rec.username, t[k].username) == 0 &&
                        (int)rec.service == t[k].service;
            (void)fprintf(c->out,
                          "-------- Token - %zu ----------\nToken:\nId:%zu\nService:%u\n"
                          "Node:%zu\nKey Handle:%" PRIu64 "\nUser:%s\nToken Validity: %" PRIu32
                          " sec\nRequired num of approvers : %" PRIu32
                          "\nCurrent num of approvals : %zu\n",
                          k, k + 1, cmu_number(t[k].service), i, t[k].key_handle,
                          t[k].username, t[k].timeout_seconds, t[k].approvals_required,
                          mine ? a->n : (size_t)t[k].approvals);
            for (size_t j = 0; mine && j < a->n; j++) {
                (void)fprintf(c->out, "Approver-%zu: %s\n", j, a->names[j]);
            }
        }
        (void)fprintf(c->out, "Num of tokens = %zu\n", n);
        free(t);
    }
    if (ok) {
        (void)fprintf(c->out, "\nlistTokens success\n");
    }
}

/* ---- delToken [all] ---- */

void ohsm_cmu_del_token(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    struct ohsm_result *res = ohsm_cmu_results_new(c);
    if (res == NULL) {
        return;
    }
    ohsm_rv rv = ohsm_client_quorum_delete(c->client, p->keyword, res);
    ohsm_cmu_finish(c, "delToken", rv, res);
    ohsm_cmu_approval_free(c); /* its token is gone */
}

/* ---- getMValue <service>, setMValue <service> <value> ---- */

void ohsm_cmu_get_mvalue(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    size_t lo, hi;
    ohsm_cmu_scope(c, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        struct ohsm_quorum_values v;
        memset(&v, 0, sizeof(v));
        ohsm_rv rv = ohsm_client_quorum_values(c->client, i, &v);
        if (rv != OHSM_OK) {
            ohsm_cmu_report_one(c, "getMValue", i, rv);
            continue;
        }
        (void)fprintf(c->out, "MValue of service %u[%s] on server %zu : [%" PRIu32 "]\n",
                      p->service, service_name(p->service), i,
                      p->service == 3 ? v.user : v.quorum);
    }
}

void ohsm_cmu_set_mvalue(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    struct ohsm_result *res = ohsm_cmu_results_new(c);
    if (res == NULL) {
        return;
    }
    (void)fprintf(c->out, "Setting M Value(%" PRIu32 ") for %u on %zu nodes\n", p->value,
                  p->service, c->n);
    const struct ohsm_approval *ap = ohsm_cmu_approval_get(c);
    ohsm_rv rv = ohsm_client_quorum_set(c->client, qservice(p->service), p->value, ap, res);
    ohsm_cmu_finish(c, "setMValue", rv, res);
    ohsm_cmu_approval_spent(c, ap, rv);
}

/* ---- registerQuorumPubKey <type> <user> <token> <signed token> <public key> ---- */

void ohsm_cmu_register_quorum_key(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    uint8_t *token = NULL, *sig = NULL, *pem = NULL, *der = NULL;
    size_t token_len = 0, sig_len = 0, pem_len = 0;
    char why[256];
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    struct ohsm_result *res = NULL;

    if (!logged_in_as(c, p->user)) {
        failed(c, "registerQuorumPubKey", "the key is registered for the user who is logged in");
        return;
    }
    if (!slurp(p->in[0], (size_t)OHSM_APPROVAL_REC_LEN * OHSM_APPROVAL_MAX_RECS, &token,
               &token_len, why, sizeof(why)) ||
        !slurp(p->in[1], SIG_MAX, &sig, &sig_len, why, sizeof(why)) ||
        !slurp(p->in[2], PUB_MAX, &pem, &pem_len, why, sizeof(why))) {
        failed(c, "registerQuorumPubKey", why);
        goto out;
    }
    bio = BIO_new_mem_buf(pem, (int)pem_len);
    pk = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    int der_len = pk != NULL ? i2d_PUBKEY(pk, &der) : -1;
    if (der_len <= 0) {
        (void)snprintf(why, sizeof(why), "'%s' is not a PEM public key", p->in[2]);
        failed(c, "registerQuorumPubKey", why);
        goto out;
    }
    res = ohsm_cmu_results_new(c);
    if (res == NULL) {
        goto out;
    }
    ohsm_rv rv = ohsm_client_quorum_register(c->client, token, token_len, sig, sig_len, der,
                                             (size_t)der_len, res);
    ohsm_cmu_finish(c, "registerQuorumPubKey", rv, res);
    res = NULL;
out:
    free(res);
    OPENSSL_free(der);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    free(token);
    free(sig);
    free(pem);
}
