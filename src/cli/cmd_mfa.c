/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli handlers for token-sign MFA: `login ... mfa-token-sign` and `user change-mfa
 * token-sign`. Both ask every HSM for a fresh token, write the unsigned token file (one token per
 * HSM that issued one, in config order), get the signed file (its path asked for, or waited for
 * with --signed-token), and send each signature to the HSM that issued its token. The signed file
 * is untrusted: it is parsed strictly (tokfile.h) and matched token by token against what was
 * issued. A login whose signed file is unusable is first abandoned on every HSM (the HSMs have
 * charged the attempt toward lockout already); a registration checks every signature against the
 * public key before sending anything. Passwords are wiped on every path.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cli/cli.h"
#include "openhsm/token.h"

#define SIGNED_PROMPT                                                                              \
    "Enter signed token file path (press enter if same as the unsigned token file):"
#define PUBKEY_PROMPT "Enter public key PEM file path:"
#define PEM_MAX (16u * 1024u) /* longest public key PEM file read */
#define PATH_CAP 4096
#define POLL_NS 100000000L /* --signed-token: look for the file every 100 ms */

/* What step 1 (login or registration begin) gave: HSM i's token in tok[i]; the file lists the
 * n tokens issued, file position k holding HSM hsm[k]'s. */
struct issued {
    size_t nhsm;
    struct ohsm_token *tok;
    struct ohsm_result *res; /* step 1's results */
    size_t *hsm;
    size_t n;
    uint32_t lifetime; /* the smallest lifetime of the tokens issued, seconds */
};

static bool issued_new(struct ohsm_cli_ctx *ctx, struct issued *t, struct ohsm_cli_out *out)
{
    size_t m;
    memset(t, 0, sizeof(*t));
    t->nhsm = ohsm_client_hsm_count(ctx->client);
    m = t->nhsm > 0 ? t->nhsm : 1;
    t->tok = calloc(m, sizeof(*t->tok));
    t->res = calloc(m, sizeof(*t->res));
    t->hsm = calloc(m, sizeof(*t->hsm));
    if (t->tok == NULL || t->res == NULL || t->hsm == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return false;
    }
    return true;
}

static void issued_free(struct issued *t)
{
    free(t->tok);
    free(t->res);
    free(t->hsm);
    memset(t, 0, sizeof(*t));
}

/* Notes which HSMs issued a token. Step 1 succeeded when every HSM that could be reached issued
 * one, and one did (the result policy of plain login). */
static bool issued_collect(struct issued *t)
{
    bool ok = true;
    t->n = 0;
    for (size_t i = 0; i < t->nhsm; i++) {
        if (t->res[i].rv == OHSM_OK && t->tok[i].len != OHSM_TOKEN_LEN) {
            t->res[i].rv = OHSM_PROTOCOL; /* an answer without a token of the right size */
        }
        if (t->res[i].rv == OHSM_OK) {
            if (t->n == 0 || t->tok[i].lifetime < t->lifetime) {
                t->lifetime = t->tok[i].lifetime;
            }
            t->hsm[t->n++] = i;
        } else if (!ohsm_cli_rv_unreachable(t->res[i].rv)) {
            ok = false;
        }
    }
    return ok && t->n > 0;
}

/* The results of step 2 for the report: an HSM that issued no token in step 1 keeps its step-1
 * answer (it was not asked again). */
static void merge_results(const struct issued *t, struct ohsm_result *res)
{
    for (size_t i = 0; i < t->nhsm; i++) {
        if (t->res[i].rv != OHSM_OK) {
            res[i].rv = t->res[i].rv;
        }
    }
}

static bool write_unsigned(const char *path, const struct issued *t, struct ohsm_cli_out *out)
{
    uint8_t(*toks)[OHSM_TOKEN_LEN] = calloc(t->n, sizeof(*toks));
    char *json = NULL;
    bool ok;
    ohsm_rv rv;

    if (toks == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return false;
    }
    for (size_t k = 0; k < t->n; k++) {
        memcpy(toks[k], t->tok[t->hsm[k]].data, OHSM_TOKEN_LEN);
    }
    rv = ohsm_tokfile_format_mfa((const uint8_t(*)[OHSM_TOKEN_LEN])toks, t->n, &json);
    ok = ohsm_cli_tokfile_save(rv, json, path, out);
    free(json);
    free(toks);
    return ok;
}

/* Where the signed tokens are: --signed-token (to be waited for), else the path typed at the
 * prompt (empty: the unsigned token file itself). */
static bool signed_path(const struct ohsm_cli_args *a, const char *unsigned_path, char *buf,
                        size_t cap, const char **path, bool *wait, struct ohsm_cli_out *out)
{
    const char *given = ohsm_cli_arg(a, "signed-token");
    *wait = given != NULL;
    if (given != NULL) {
        *path = given;
        return true;
    }
    ohsm_rv rv = ohsm_cli_read_text(SIGNED_PROMPT, buf, cap);
    if (rv != OHSM_OK) {
        ohsm_cli_out_err(out, "%s",
                         rv == OHSM_DATA_LEN_RANGE ? "The signed token file path is too long"
                                                   : "No signed token file path was entered");
        return false;
    }
    *path = buf[0] != '\0' ? buf : unsigned_path;
    return true;
}

static ohsm_rv read_signed(const char *path, struct ohsm_tokfile *f, char *err, size_t cap)
{
    char *buf = NULL;
    size_t len = 0;
    ohsm_rv rv = ohsm_tokfile_read(path, &buf, &len, err, cap);
    if (rv == OHSM_OK) {
        rv = ohsm_tokfile_parse(buf, len, false, f, err, cap);
    }
    free(buf);
    return rv;
}

static bool all_signed(const struct ohsm_tokfile *f)
{
    for (size_t k = 0; k < f->n; k++) {
        if (f->pairs[k].sig_len == 0) {
            return false;
        }
    }
    return true;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* --signed-token: waits until the file exists and parses with every token signed, up to the
 * tokens' lifetime (a script signs in the background and renames its result into place). */
static bool wait_signed(const char *path, const struct issued *t, struct ohsm_tokfile *f,
                        struct ohsm_cli_out *out)
{
    struct timespec now;
    struct timespec end;
    char err[512];

    (void)ohsm_cli_fmt(err, sizeof(err), "it does not exist");
    if (clock_gettime(CLOCK_MONOTONIC, &end) != 0) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_DEVICE_ERROR));
        return false;
    }
    end.tv_sec += (time_t)(t->lifetime > 0 ? t->lifetime : 1);
    for (;;) {
        struct stat sb;
        if (stat(path, &sb) == 0) {
            if (read_signed(path, f, err, sizeof(err)) == OHSM_OK) {
                if (all_signed(f)) {
                    return true;
                }
                ohsm_tokfile_free(f);
                (void)ohsm_cli_fmt(err, sizeof(err), "not every token is signed");
            }
        }
        if (clock_gettime(CLOCK_MONOTONIC, &now) != 0 || !before(&now, &end)) {
            ohsm_cli_out_err(out, "Timed out waiting for the signed token file %s: %s", path, err);
            return false;
        }
        struct timespec nap = {0, POLL_NS};
        (void)nanosleep(&nap, NULL);
    }
}

/* Reads the signed token file and checks it holds exactly the tokens issued, in order. */
static bool load_signed(const char *path, bool wait, const struct issued *t, struct ohsm_tokfile *f,
                        struct ohsm_cli_out *out)
{
    char err[512];
    err[0] = '\0';
    if (wait) {
        if (!wait_signed(path, t, f, out)) {
            return false;
        }
    } else {
        ohsm_rv rv = read_signed(path, f, err, sizeof(err));
        if (rv != OHSM_OK) {
            ohsm_cli_out_err(out, "Invalid signed token file %s: %s", path,
                             err[0] != '\0' ? err : ohsm_rv_str(rv));
            return false;
        }
    }
    if (f->n != t->n) {
        ohsm_cli_out_err(out,
                         "Invalid signed token file %s: it has %zu tokens; %zu were issued (one "
                         "per HSM)",
                         path, f->n, t->n);
        goto fail;
    }
    for (size_t k = 0; k < t->n; k++) {
        if (memcmp(f->pairs[k].unsigned_tok, t->tok[t->hsm[k]].data, OHSM_TOKEN_LEN) != 0) {
            ohsm_cli_out_err(out,
                             "Invalid signed token file %s: the \"unsigned\" of token %zu does "
                             "not match the token its HSM issued (moved, or from another attempt)",
                             path, k + 1);
            goto fail;
        }
    }
    return true;
fail:
    ohsm_tokfile_free(f);
    return false;
}

/* Signature k of the file for the HSM that issued token k; none for the others. */
static void fill_sigs(const struct issued *t, const struct ohsm_tokfile *f, const uint8_t **sigs,
                      size_t *lens)
{
    for (size_t k = 0; k < t->n; k++) {
        sigs[t->hsm[k]] = f->pairs[k].sig;
        lens[t->hsm[k]] = f->pairs[k].sig_len;
    }
}

/* Ends a login attempt without signatures: every HSM drops its pending token (the HSM counted
 * the attempt when it issued the token). */
static void abandon(struct ohsm_cli_ctx *ctx, const struct issued *t)
{
    size_t m = t->nhsm > 0 ? t->nhsm : 1;
    const uint8_t **sigs = calloc(m, sizeof(*sigs));
    size_t *lens = calloc(m, sizeof(*lens));
    struct ohsm_result *res = calloc(m, sizeof(*res));
    enum ohsm_utype actual = OHSM_UT_NONE;

    if (sigs != NULL && lens != NULL && res != NULL) {
        ohsm_rv rv = ohsm_client_login_mfa_finish(ctx->client, sigs, lens, res, &actual);
        (void)rv; /* every HSM refuses an empty signature: that is the point */
    }
    free(sigs);
    free(lens);
    free(res);
}

/* The login password: --password; in single-command mode CLOUDHSM_PIN's when it names this
 * user; else asked for. */
static bool mfa_password(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a, const char *name,
                         char *pw, size_t cap, struct ohsm_cli_out *out)
{
    const char *given = ohsm_cli_arg(a, "password");
    const char *pin = ctx->shell ? NULL : getenv("CLOUDHSM_PIN");
    char buf[OHSM_CLI_PW_CAP];
    char user[OHSM_USERNAME_MAX + 1];
    bool ok;

    buf[0] = '\0';
    if (given == NULL && pin != NULL && strlen(pin) < sizeof(buf)) {
        memcpy(buf, pin, strlen(pin) + 1);
        char *colon = strchr(buf, ':');
        if (colon != NULL) {
            *colon = '\0';
            if (ohsm_username_canon(buf, user, sizeof(user)) == OHSM_OK &&
                strcmp(user, name) == 0) {
                given = colon + 1;
            }
        }
    }
    ok = ohsm_cli_password(given, pw, cap, out);
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}

void ohsm_cli_cmd_login_mfa(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                            struct ohsm_cli_out *out)
{
    const char *path = ohsm_cli_arg(a, "token");
    char name[OHSM_USERNAME_MAX + 1];
    char pw[OHSM_CLI_PW_CAP];
    char pathbuf[PATH_CAP];
    struct issued t;
    struct ohsm_tokfile f = {NULL, 0};
    const uint8_t **sigs = NULL;
    size_t *lens = NULL;
    struct ohsm_result *res = NULL;
    const char *spath = NULL;
    bool wait = false;
    enum ohsm_utype type;
    enum ohsm_utype actual = OHSM_UT_NONE;
    size_t accepted = 0;
    bool ok = true;
    ohsm_rv rv;

    pw[0] = '\0';
    memset(&t, 0, sizeof(t));
    if (!ohsm_cli_username(ohsm_cli_arg(a, "username"), name, sizeof(name), out) ||
        !ohsm_cli_role_type(a, &type, out) || !mfa_password(ctx, a, name, pw, sizeof(pw), out) ||
        !issued_new(ctx, &t, out)) {
        goto out;
    }
    sigs = calloc(t.nhsm > 0 ? t.nhsm : 1, sizeof(*sigs));
    lens = calloc(t.nhsm > 0 ? t.nhsm : 1, sizeof(*lens));
    res = ohsm_cli_results(ctx, out);
    if (sigs == NULL || lens == NULL || res == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    rv = ohsm_client_login_mfa_begin(ctx->client, type, name, pw, t.tok, t.res);
    (void)rv; /* judged per HSM below */
    OPENSSL_cleanse(pw, sizeof(pw));
    if (!issued_collect(&t)) {
        if (t.n > 0) {
            abandon(ctx, &t);
        }
        ohsm_cli_fanout_err(ctx, out, "Login token issued", "Login", t.res);
        goto out;
    }
    if (!write_unsigned(path, &t, out) ||
        !signed_path(a, path, pathbuf, sizeof(pathbuf), &spath, &wait, out) ||
        !load_signed(spath, wait, &t, &f, out)) {
        abandon(ctx, &t); /* before the error is printed: nothing is left pending */
        goto out;
    }
    fill_sigs(&t, &f, sigs, lens);
    rv = ohsm_client_login_mfa_finish(ctx->client, sigs, lens, res, &actual);
    (void)rv;
    merge_results(&t, res);
    for (size_t i = 0; i < t.nhsm; i++) {
        accepted += res[i].rv == OHSM_OK;
        ok = ok && (res[i].rv == OHSM_OK || ohsm_cli_rv_unreachable(res[i].rv));
    }
    if (ok && accepted > 0) {
        ohsm_cli_out_ok(out, ohsm_cli_user_data(
                                 name, ohsm_cli_role_name(actual != OHSM_UT_NONE ? actual : type)));
    } else {
        if (accepted > 0) {
            /* Some HSM refused: leave no half-open session behind. */
            ohsm_cli_logout_quiet(ctx);
        }
        ohsm_cli_fanout_err(ctx, out, "Login succeeded", "Login", res);
    }
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    ohsm_tokfile_free(&f);
    issued_free(&t);
    free(sigs);
    free(lens);
    free(res);
}

bool ohsm_cli_pubkey_load(const char *path, uint8_t **der, size_t *len, struct ohsm_cli_out *out)
{
    uint8_t *pem = NULL;
    size_t pem_len = 0;
    ohsm_rv rv;

    *der = NULL;
    *len = 0;
    if (!ohsm_cli_read_file(path, PEM_MAX, &pem, &pem_len, out)) {
        return false;
    }
    rv = ohsm_token_pubkey_from_pem((const char *)pem, pem_len, der, len);
    free(pem);
    if (rv == OHSM_OK) {
        return true;
    }
    *der = NULL;
    *len = 0;
    if (rv == OHSM_PUBLIC_KEY_INVALID) {
        ohsm_cli_out_err(out,
                         "The public key in %s is not an RSA-2048 key (MFA and quorum keys "
                         "must be RSA-2048)",
                         path);
    } else if (rv == OHSM_DATA_INVALID) {
        ohsm_cli_out_err(out, "%s does not hold a PEM public key", path);
    } else {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(rv));
    }
    return false;
}

/* The public key file: --public-key, else asked for. */
static bool pubkey_path(const struct ohsm_cli_args *a, char *buf, size_t cap, const char **path,
                        struct ohsm_cli_out *out)
{
    const char *given = ohsm_cli_arg(a, "public-key");
    if (given != NULL) {
        *path = given;
        return true;
    }
    if (ohsm_cli_read_text(PUBKEY_PROMPT, buf, cap) != OHSM_OK || buf[0] == '\0') {
        ohsm_cli_out_err(out, "No public key PEM file path was entered");
        return false;
    }
    *path = buf;
    return true;
}

/* Every token must carry a signature that the public key verifies, before anything is sent. */
static bool verify_all(const struct issued *t, const struct ohsm_tokfile *f, const uint8_t *der,
                       size_t der_len, const char *spath, const char *pem, struct ohsm_cli_out *out)
{
    for (size_t k = 0; k < t->n; k++) {
        if (f->pairs[k].sig_len == 0) {
            ohsm_cli_out_err(out, "Token %zu of %zu in %s is not signed", k + 1, t->n, spath);
            return false;
        }
        if (ohsm_token_verify(der, der_len, t->tok[t->hsm[k]].data, f->pairs[k].sig,
                              f->pairs[k].sig_len) != OHSM_OK) {
            ohsm_cli_out_err(out,
                             "The signature of token %zu of %zu in %s does not verify with the "
                             "public key %s",
                             k + 1, t->n, spath, pem);
            return false;
        }
    }
    return true;
}

void ohsm_cli_cmd_user_change_mfa(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                  struct ohsm_cli_out *out)
{
    const char *path = ohsm_cli_arg(a, "token");
    bool dereg = ohsm_cli_flag(a, "deregister");
    bool change_quorum = ohsm_cli_flag(a, "change-quorum");
    char name[OHSM_USERNAME_MAX + 1];
    char pw[OHSM_CLI_PW_CAP];
    char pathbuf[PATH_CAP];
    char pembuf[PATH_CAP];
    struct ohsm_cli_approval h;
    const struct ohsm_approval *ap = NULL;
    struct issued t;
    struct ohsm_tokfile f = {NULL, 0};
    const uint8_t **sigs = NULL;
    size_t *lens = NULL;
    struct ohsm_result *res = NULL;
    const char *spath = NULL;
    const char *pem = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0;
    bool wait = false;
    enum ohsm_utype type;
    ohsm_rv rv;

    pw[0] = '\0';
    memset(&t, 0, sizeof(t));
    if (!ohsm_cli_approval_arg(a, &h, &ap, out) ||
        !ohsm_cli_username(ohsm_cli_arg(a, "username"), name, sizeof(name), out) ||
        !ohsm_cli_role_type(a, &type, out)) {
        goto out;
    }
    /* The grammar already requires exactly one of the two. */
    if (dereg == (path != NULL)) {
        ohsm_cli_out_err(out, "Give either --token or --deregister");
        goto out;
    }
    if (dereg && (ohsm_cli_flag(a, "signed-token") || ohsm_cli_flag(a, "public-key"))) {
        ohsm_cli_out_err(out, "--signed-token and --public-key go with --token, not --deregister");
        goto out;
    }
    if (!ohsm_cli_new_password(ohsm_cli_arg(a, "change-password"), pw, sizeof(pw), out) ||
        !issued_new(ctx, &t, out)) {
        goto out;
    }
    sigs = calloc(t.nhsm > 0 ? t.nhsm : 1, sizeof(*sigs));
    lens = calloc(t.nhsm > 0 ? t.nhsm : 1, sizeof(*lens));
    res = ohsm_cli_results(ctx, out);
    if (sigs == NULL || lens == NULL || res == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    if (dereg) {
        rv = ohsm_client_mfa_deregister(ctx->client, type, name, pw, change_quorum, ap, res);
        goto report;
    }
    rv = ohsm_client_mfa_register_begin(ctx->client, type, name, t.tok, t.res);
    (void)rv; /* judged per HSM by issued_collect */
    if (!issued_collect(&t)) {
        ohsm_cli_fanout_err(ctx, out, "MFA token issued", "Changing MFA", t.res);
        goto out;
    }
    if (!write_unsigned(path, &t, out) ||
        !signed_path(a, path, pathbuf, sizeof(pathbuf), &spath, &wait, out) ||
        !load_signed(spath, wait, &t, &f, out) ||
        !pubkey_path(a, pembuf, sizeof(pembuf), &pem, out) ||
        !ohsm_cli_pubkey_load(pem, &der, &der_len, out) ||
        !verify_all(&t, &f, der, der_len, spath, pem, out)) {
        goto out;
    }
    fill_sigs(&t, &f, sigs, lens);
    rv = ohsm_client_mfa_register_finish(ctx->client, type, name, pw, der, der_len, sigs, lens,
                                         change_quorum, ap, res);
    merge_results(&t, res);
report:
    if (rv == OHSM_OK) {
        ohsm_cli_out_ok(out, ohsm_cli_user_data(name, ohsm_cli_arg(a, "role")));
    } else {
        ohsm_cli_fanout_err(ctx, out, "MFA changed", "Changing MFA", res);
    }
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    ohsm_cli_approval_free(&h);
    ohsm_tokfile_free(&f);
    issued_free(&t);
    free(der);
    free(sigs);
    free(lens);
    free(res);
}
