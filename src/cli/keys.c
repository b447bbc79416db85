/* SPDX-License-Identifier: Apache-2.0
 *
 * Helpers shared by openhsm-cli's key and crypto handlers: reading data given as base64 or as a
 * file, writing result files, hex and number options, the key quorum values, crypto users to
 * share with, error messages of calls answered by one HSM, and finding keys by filter on every HSM
 * (merged, with coverage), including the rule that a filter naming one key must match exactly one.
 * Files and option values are user input: sizes are capped, files are read to the end and no
 * further, and buffers that held data are wiped before they are freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli/cli.h"
#include "client/outfile.h"

const char *ohsm_cli_last_word(const struct ohsm_cli_args *a)
{
    const char *sp = strrchr(a->cmd->path, ' ');
    return sp != NULL ? sp + 1 : a->cmd->path;
}

bool ohsm_cli_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
                        struct ohsm_cli_out *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *p = NULL;
    size_t n = 0;
    bool ok = false;

    *buf = NULL;
    *len = 0;
    if (fd < 0) {
        ohsm_cli_out_err(out, "Cannot open %s: %s", path, strerror(errno));
        return false;
    }
    /* One byte more than allowed tells an over-long file; one more for a NUL. */
    p = malloc(max + 2);
    if (p == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, p + n, max + 1 - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            ohsm_cli_out_err(out, "Cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
        if (n > max) {
            ohsm_cli_out_err(out, "%s is too large (at most %zu bytes)", path, max);
            goto out;
        }
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    p = NULL;
    ok = true;
out:
    if (p != NULL) {
        OPENSSL_cleanse(p, max + 2);
        free(p);
    }
    (void)close(fd);
    return ok;
}

bool ohsm_cli_write_file(const char *path, const uint8_t *p, size_t n, unsigned mode,
                         struct ohsm_cli_out *out)
{
    char why[256];
    /* A new file renamed over the old one: never through a symlink, never an old file's mode
     * (client/outfile.h). */
    if (ohsm_outfile_write(path, p, n, (mode_t)mode, why, sizeof(why)) != OHSM_OK) {
        ohsm_cli_out_err(out, "Cannot write %s: %s", path != NULL ? path : "", why);
        return false;
    }
    return true;
}

bool ohsm_cli_input(const struct ohsm_cli_args *a, const char *b64_opt, const char *path_opt,
                    size_t max, uint8_t **buf, size_t *len, struct ohsm_cli_out *out)
{
    const char *b64 = ohsm_cli_arg(a, b64_opt);
    const char *path = ohsm_cli_arg(a, path_opt);

    *buf = NULL;
    *len = 0;
    if ((b64 == NULL) == (path == NULL)) {
        ohsm_cli_out_err(out, "Give exactly one of --%s and --%s", b64_opt, path_opt);
        return false;
    }
    if (path != NULL) {
        return ohsm_cli_read_file(path, max, buf, len, out);
    }
    size_t cap = strlen(b64) / 4 * 3;
    if (cap > max) {
        ohsm_cli_out_err(out, "--%s is too long (at most %zu bytes)", b64_opt, max);
        return false;
    }
    uint8_t *p = malloc(cap > 0 ? cap : 1);
    if (p == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return false;
    }
    if (!ohsm_cli_b64_decode(b64, p, cap, len)) {
        free(p);
        ohsm_cli_out_err(out, "--%s must be base64", b64_opt);
        return false;
    }
    *buf = p;
    return true;
}

bool ohsm_cli_hex_arg(const struct ohsm_cli_args *a, const char *opt, uint8_t *buf, size_t cap,
                      size_t *len, struct ohsm_cli_out *out)
{
    const char *v = ohsm_cli_arg(a, opt);
    *len = 0;
    if (v == NULL) {
        return true;
    }
    if (!ohsm_cli_hex_decode(v, buf, cap, len)) {
        ohsm_cli_out_err(out, "--%s must be hex (an even number of digits, at most %zu bytes)", opt,
                         cap);
        return false;
    }
    return true;
}

bool ohsm_cli_num_arg(const struct ohsm_cli_args *a, const char *opt, uint64_t min, uint64_t max,
                      uint64_t def, uint64_t *v, struct ohsm_cli_out *out)
{
    const char *s = ohsm_cli_arg(a, opt);
    if (s == NULL) {
        *v = def;
        return true;
    }
    if (!ohsm_cli_parse_u64(s, min, max, v)) {
        ohsm_cli_out_err(out, "--%s must be a number from %llu to %llu", opt,
                         (unsigned long long)min, (unsigned long long)max);
        return false;
    }
    return true;
}

bool ohsm_cli_quorum_args(const struct ohsm_cli_args *a, struct ohsm_tmpl_buf *b, uint32_t *ids,
                          size_t *nids, struct ohsm_cli_out *out)
{
    char err[256];
    if (ohsm_cli_quorum_put(b, ohsm_cli_arg(a, "manage-key-quorum-value"),
                            ohsm_cli_arg(a, "use-key-quorum-value"), ids, nids, err,
                            sizeof(err)) != OHSM_OK) {
        ohsm_cli_out_err(out, "%s", err);
        return false;
    }
    return true;
}

void ohsm_cli_rv_err(struct ohsm_cli_out *out, const char *action, ohsm_rv rv)
{
    /* As ohsm_cli_fanout_msg: a quorum refusal is the CloudHSM CLI's message alone. */
    if (rv == OHSM_QUORUM_REQUIRED || rv == OHSM_QUORUM_INSUFFICIENT) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(rv));
        return;
    }
    ohsm_cli_out_err(out, "%s failed: %s", action, ohsm_rv_str(rv));
}

bool ohsm_cli_share_list(const struct ohsm_cli_args *a,
                         char store[OHSM_SHARE_MAX][OHSM_USERNAME_MAX + 1],
                         const char *names[OHSM_SHARE_MAX], size_t *n, struct ohsm_cli_out *out)
{
    const char *given[OHSM_CLI_MAX_KV];
    size_t k = ohsm_cli_arg_values(a, "share-crypto-users", given, OHSM_CLI_MAX_KV);
    *n = 0;
    if (k > OHSM_SHARE_MAX) {
        ohsm_cli_out_err(out, "A key can be shared with at most %d crypto users", OHSM_SHARE_MAX);
        return false;
    }
    for (size_t i = 0; i < k; i++) {
        if (!ohsm_cli_username(given[i], store[i], OHSM_USERNAME_MAX + 1, out)) {
            return false;
        }
        names[i] = store[i];
    }
    *n = k;
    return true;
}

/* Keeps the rows of one HSM's answer that also match the filter's attribute terms (a key found
 * by reference is checked here, as the HSM was asked only for that handle). */
static bool keep_matching(const struct ohsm_cli_filter *f, struct ohsm_obj *objs, size_t *n,
                          struct ohsm_cli_out *out)
{
    struct ohsm_tmpl t;
    if (f->nterms == 0) {
        return true;
    }
    if (ohsm_tmpl_parse(f->tmpl.buf, f->tmpl.len, &t) != OHSM_OK) {
        ohsm_cli_out_err(out, "Invalid filter: %s", ohsm_rv_str(OHSM_TEMPLATE_INCONSISTENT));
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (ohsm_obj_match(&objs[i], &t)) {
            objs[k++] = objs[i];
        }
    }
    *n = k;
    return true;
}

/* One HSM's keys for f: *objs malloc'd (NULL when none). A key reference the HSM does not know
 * (or will not show this session) is an empty answer, not a failure. */
static ohsm_rv find_on(struct ohsm_cli_ctx *ctx, size_t i, const struct ohsm_cli_filter *f,
                       struct ohsm_obj **objs, size_t *n)
{
    *objs = NULL;
    *n = 0;
    if (!f->by_ref) {
        return ohsm_client_key_find_on(ctx->client, i, f->tmpl.buf, f->tmpl.len, objs, n);
    }
    struct ohsm_obj *o = malloc(sizeof(*o));
    if (o == NULL) {
        return OHSM_HOST_MEMORY;
    }
    ohsm_rv rv = ohsm_client_key_get_on(ctx->client, i, f->handle, o);
    if (rv == OHSM_KEY_HANDLE_INVALID) {
        free(o);
        return OHSM_OK;
    }
    if (rv != OHSM_OK) {
        free(o);
        return rv;
    }
    *objs = o;
    *n = 1;
    return OHSM_OK;
}

bool ohsm_cli_keys_find(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_filter *f,
                        struct ohsm_cli_keyset *ks, struct ohsm_cli_out *out)
{
    size_t nhsm = ohsm_client_hsm_count(ctx->client);
    struct ohsm_result *res = ohsm_cli_results(ctx, out);
    size_t answered = 0;
    bool ok = res != NULL;

    memset(ks, 0, sizeof(*ks));
    for (size_t i = 0; ok && i < nhsm; i++) {
        struct ohsm_obj *objs = NULL;
        size_t n = 0;
        res[i].rv = find_on(ctx, i, f, &objs, &n);
        if (res[i].rv == OHSM_OK) {
            answered++;
            ok = keep_matching(f, objs, &n, out);
            if (ok && !ohsm_cli_keyset_add(ks, objs, n)) {
                ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
                ok = false;
            }
        }
        free(objs);
    }
    if (ok && answered == 0) {
        ohsm_cli_fanout_err(ctx, out, "Keys found", "Finding keys", res);
        ok = false;
    }
    if (ok) {
        ohsm_cli_keyset_finish(ks, answered, nhsm);
    } else {
        ohsm_cli_keyset_free(ks);
    }
    free(res);
    return ok;
}

bool ohsm_cli_key_one(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a, const char *opt,
                      struct ohsm_obj *obj, struct ohsm_cli_out *out)
{
    const char *terms[OHSM_CLI_MAX_KV];
    char what[64];
    char err[512];
    struct ohsm_cli_filter *f = malloc(sizeof(*f));
    struct ohsm_cli_keyset ks = {0};
    bool ok = false;

    if (f == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        return false;
    }
    size_t n = ohsm_cli_arg_values(a, opt, terms, OHSM_CLI_MAX_KV);
    (void)ohsm_cli_fmt(what, sizeof(what), "--%s", opt);
    if (ohsm_cli_filter_parse(what, terms, n < OHSM_CLI_MAX_KV ? n : OHSM_CLI_MAX_KV, f, err,
                              sizeof(err)) != OHSM_OK) {
        ohsm_cli_out_err(out, "%s", err);
        goto out;
    }
    if (!ohsm_cli_keys_find(ctx, f, &ks, out)) {
        goto out;
    }
    if (ks.n == 0) {
        ohsm_cli_out_err(out, "No key matches %s", what);
        goto out;
    }
    if (ks.n > 1) {
        /* The guide's words (Filter keys using CloudHSM CLI, "Filtration Errors"). */
        ohsm_cli_out_err(out,
                         "Key selection criteria matched %zu keys. Refine selection criteria to "
                         "select a single key.",
                         ks.n);
        goto out;
    }
    *obj = ks.rows[0].obj;
    ok = true;
out:
    ohsm_cli_keyset_free(&ks);
    free(f);
    return ok;
}

void ohsm_cli_create_err(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out, const char *action,
                         ohsm_rv rv, const struct ohsm_obj *obj, size_t nobj,
                         const struct ohsm_result *res)
{
    char ref[OHSM_CLI_KEYREF_LEN];
    char done[64];
    if (nobj == 0) {
        ohsm_cli_rv_err(out, action, rv);
        return;
    }
    /* The key exists, on some HSMs: name it, so it can be used, repaired or deleted. */
    ohsm_cli_keyref(obj->handle, ref);
    (void)ohsm_cli_fmt(done, sizeof(done), "Key %s created", ref);
    ohsm_cli_fanout_err(ctx, out, done, action, res);
}
