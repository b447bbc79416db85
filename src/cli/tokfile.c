/* SPDX-License-Identifier: Apache-2.0
 *
 * The CloudHSM CLI's token files (see tokfile.h): MFA, registration and quorum token files parsed
 * from and written to disk. Everything read here is untrusted (the user, or whoever signed the
 * file, wrote it): the JSON is parsed by jansson with duplicate keys refused and no trailing bytes,
 * then every member is checked for presence, type and size before anything is decoded, base64 is
 * the strict decoder of keyarg.c, and unknown members are refused. Error messages name the entry
 * and the member; they echo at most a short, sanitised piece of the input (a version string, a
 * member name), never a whole file. Nothing here is secret: tokens and signatures are public.
 */
#include "cli/tokfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cli/keyarg.h"
#include "client/outfile.h"
#include "core/errf.h"
#include "openhsm/user.h"

/* The longest approval data: one record per HSM. */
#define APPROVAL_MAX ((size_t)OHSM_APPROVAL_REC_LEN * OHSM_APPROVAL_MAX_RECS)
/* The most input a sanitised echo shows: of a value or name, of a path. */
#define ECHO_MAX 40
#define PATH_ECHO_MAX 200

/* Copies at most cap - 4 bytes of s into out, printable ASCII only (others become '?'), so an
 * error message stays short, valid UTF-8 and free of control characters; "..." marks a cut. */
static void echo(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    size_t i = 0;
    for (; s[i] != '\0' && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (s[i] != '\0') {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static bool sha256(const uint8_t *in, size_t len, uint8_t out[OHSM_TOKEN_LEN])
{
    unsigned int n = 0;
    return EVP_Digest(in, len, out, &n, EVP_sha256(), NULL) == 1 && n == OHSM_TOKEN_LEN;
}

/* Parses buf as one JSON object (duplicate keys, trailing bytes and NUL refused). */
static json_t *load_object(const char *buf, size_t len, const char *what, char *err, size_t cap)
{
    json_error_t je;
    char text[100];
    if (len > OHSM_TOKFILE_MAX) {
        ohsm_errf(err, cap, "%s is larger than %d bytes", what, OHSM_TOKFILE_MAX);
        return NULL;
    }
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        echo(je.text, text, sizeof(text));
        ohsm_errf(err, cap, "%s is not valid JSON (line %d: %s)", what, je.line, text);
        return NULL;
    }
    if (!json_is_object(root)) {
        ohsm_errf(err, cap, "%s is not a JSON object", what);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Refuses members of o not in names. where names o in the message. */
static bool only_members(const json_t *o, const char *const *names, size_t n, const char *where,
                         char *err, size_t cap)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++) {
            known = strcmp(key, names[i]) == 0;
        }
        if (!known) {
            char shown[ECHO_MAX + 4];
            echo(key, shown, sizeof(shown));
            ohsm_errf(err, cap, "%s: unknown member \"%s\"", where, shown);
            return false;
        }
    }
    return true;
}

/* The string member name of o (NUL-free: jansson refuses \u0000 without JSON_ALLOW_NUL). */
static const char *get_str(const json_t *o, const char *name, const char *where, char *err,
                           size_t cap)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL) {
        ohsm_errf(err, cap, "%s: \"%s\" is missing", where, name);
        return NULL;
    }
    if (!json_is_string(v)) {
        ohsm_errf(err, cap, "%s: \"%s\" is not a string", where, name);
        return NULL;
    }
    return json_string_value(v);
}

/* The array member name of o with 1..max (or 0..max when may_be_empty) entries. */
static json_t *get_array(const json_t *o, const char *name, size_t max, bool may_be_empty,
                         const char *where, char *err, size_t cap)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL) {
        ohsm_errf(err, cap, "%s: \"%s\" is missing", where, name);
        return NULL;
    }
    if (!json_is_array(v)) {
        ohsm_errf(err, cap, "%s: \"%s\" is not an array", where, name);
        return NULL;
    }
    size_t n = json_array_size(v);
    if (n == 0 && !may_be_empty) {
        ohsm_errf(err, cap, "%s: \"%s\" is empty", where, name);
        return NULL;
    }
    if (n > max) {
        ohsm_errf(err, cap, "%s: \"%s\" has %zu entries; at most %zu", where, name, n, max);
        return NULL;
    }
    return v;
}

static bool check_version(const json_t *root, const char *where, char *err, size_t cap)
{
    const char *v = get_str(root, "version", where, err, cap);
    if (v == NULL) {
        return false;
    }
    if (strcmp(v, OHSM_TOKFILE_VERSION) != 0) {
        char shown[ECHO_MAX + 4];
        echo(v, shown, sizeof(shown));
        ohsm_errf(err, cap, "unsupported token file version \"%s\"; expected \"%s\"", shown,
                  OHSM_TOKFILE_VERSION);
        return false;
    }
    return true;
}

/* Decodes the base64 member name into exactly OHSM_TOKEN_LEN bytes. */
static bool get_token(const json_t *o, const char *name, const char *where,
                      uint8_t out[OHSM_TOKEN_LEN], char *err, size_t cap)
{
    const char *s = get_str(o, name, where, err, cap);
    size_t n = 0;
    if (s == NULL) {
        return false;
    }
    if (strlen(s) != OHSM_TOKFILE_B64_LEN(OHSM_TOKEN_LEN) ||
        !ohsm_cli_b64_decode(s, out, OHSM_TOKEN_LEN, &n) || n != OHSM_TOKEN_LEN) {
        ohsm_errf(err, cap, "%s: \"%s\" is not %d bytes of base64", where, name, OHSM_TOKEN_LEN);
        return false;
    }
    return true;
}

/* Decodes the base64 member name: 0..max bytes (1..max unless may_be_empty); *out malloc'd,
 * NULL when empty. */
static bool get_bytes(const json_t *o, const char *name, size_t max, bool may_be_empty,
                      const char *where, uint8_t **out, size_t *out_len, char *err, size_t cap)
{
    const char *s = get_str(o, name, where, err, cap);
    uint8_t *buf = NULL;
    size_t n = 0;
    *out = NULL;
    *out_len = 0;
    if (s == NULL) {
        return false;
    }
    size_t slen = strlen(s);
    if (slen == 0) {
        if (!may_be_empty) {
            ohsm_errf(err, cap, "%s: \"%s\" is empty", where, name);
        }
        return may_be_empty;
    }
    if (slen > OHSM_TOKFILE_B64_LEN(max)) {
        ohsm_errf(err, cap, "%s: \"%s\" is longer than %zu bytes", where, name, max);
        return false;
    }
    /* Up to B64_LEN(max) characters decode to at most max + 2 bytes: decode, then judge. */
    buf = malloc(max + 2);
    if (buf == NULL) {
        ohsm_errf(err, cap, "out of memory");
        return false;
    }
    if (!ohsm_cli_b64_decode(s, buf, max + 2, &n)) {
        ohsm_errf(err, cap, "%s: \"%s\" is not valid base64", where, name);
        free(buf);
        return false;
    }
    if (n > max) {
        ohsm_errf(err, cap, "%s: \"%s\" is longer than %zu bytes", where, name, max);
        free(buf);
        return false;
    }
    *out = buf;
    *out_len = n;
    return true;
}

/* Approval data: a non-empty whole number of records, at most one per HSM of a cluster. */
static bool check_approval(size_t len, const char *where, char *err, size_t cap)
{
    if (len == 0 || len % OHSM_APPROVAL_REC_LEN != 0) {
        ohsm_errf(err, cap, "%s: \"approval_data\" is not a whole number of %d-byte records", where,
                  OHSM_APPROVAL_REC_LEN);
        return false;
    }
    return true;
}

/* Decodes approval_data and checks that digest_member holds its SHA-256. */
static bool get_approval(const json_t *o, const char *digest_member, const char *where,
                         const uint8_t digest[OHSM_TOKEN_LEN], uint8_t **out, size_t *out_len,
                         char *err, size_t cap)
{
    uint8_t want[OHSM_TOKEN_LEN];
    if (!get_bytes(o, "approval_data", APPROVAL_MAX, false, where, out, out_len, err, cap)) {
        return false;
    }
    if (!check_approval(*out_len, where, err, cap)) {
        goto bad;
    }
    if (!sha256(*out, *out_len, want)) {
        ohsm_errf(err, cap, "cannot compute SHA-256");
        goto bad;
    }
    if (CRYPTO_memcmp(want, digest, OHSM_TOKEN_LEN) != 0) {
        ohsm_errf(err, cap, "%s: \"%s\" does not match \"approval_data\"", where, digest_member);
        goto bad;
    }
    return true;
bad:
    free(*out);
    *out = NULL;
    *out_len = 0;
    return false;
}

static const char *const mfa_top[] = {"version", "tokens"};
static const char *const mfa_pair[] = {"unsigned", "signed"};
static const char *const reg_pair[] = {"approval_data", "unsigned", "signed"};
static const char *const q_top[] = {"version", "approval_data", "token", "signatures"};
static const char *const q_sig[] = {"username", "signature"};

static bool parse_pair(const json_t *e, size_t idx, bool with_approval, struct ohsm_tokpair *p,
                       char *err, size_t cap)
{
    char where[32];
    (void)snprintf(where, sizeof(where), "token %zu", idx + 1);
    if (!json_is_object(e)) {
        ohsm_errf(err, cap, "%s is not an object", where);
        return false;
    }
    bool ok = with_approval ? only_members(e, reg_pair, 3, where, err, cap)
                            : only_members(e, mfa_pair, 2, where, err, cap);
    ok = ok && get_token(e, "unsigned", where, p->unsigned_tok, err, cap);
    ok = ok &&
         get_bytes(e, "signed", OHSM_TOKEN_SIG_MAX, true, where, &p->sig, &p->sig_len, err, cap);
    if (ok && with_approval) {
        ok = get_approval(e, "unsigned", where, p->unsigned_tok, &p->approval, &p->approval_len,
                          err, cap);
    }
    return ok;
}

ohsm_rv ohsm_tokfile_parse(const char *buf, size_t len, bool with_approval,
                           struct ohsm_tokfile *out, char *err, size_t err_cap)
{
    OHSM_ENSURE(buf != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    ohsm_rv rv = OHSM_DATA_INVALID;
    struct ohsm_tokfile f = {NULL, 0};
    const char *where = "token file";
    out->pairs = NULL;
    out->n = 0;

    json_t *root = load_object(buf, len, where, err, err_cap);
    if (root == NULL || !check_version(root, where, err, err_cap) ||
        !only_members(root, mfa_top, 2, where, err, err_cap)) {
        goto out;
    }
    json_t *arr = get_array(root, "tokens", OHSM_APPROVAL_MAX_RECS, false, where, err, err_cap);
    if (arr == NULL) {
        goto out;
    }
    f.pairs = calloc(json_array_size(arr), sizeof(*f.pairs));
    if (f.pairs == NULL) {
        ohsm_errf(err, err_cap, "out of memory");
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        f.n = i + 1; /* so that free sees what this entry allocated */
        if (!parse_pair(json_array_get(arr, i), i, with_approval, &f.pairs[i], err, err_cap)) {
            goto out;
        }
    }
    *out = f;
    f.pairs = NULL;
    f.n = 0;
    rv = OHSM_OK;
out:
    ohsm_tokfile_free(&f);
    json_decref(root);
    return rv;
}

void ohsm_tokfile_free(struct ohsm_tokfile *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; f->pairs != NULL && i < f->n; i++) {
        free(f->pairs[i].approval);
        free(f->pairs[i].sig);
    }
    free(f->pairs);
    f->pairs = NULL;
    f->n = 0;
}

static bool parse_sig(const json_t *e, size_t idx, struct ohsm_qsig *s, char *err, size_t cap)
{
    char where[32];
    (void)snprintf(where, sizeof(where), "signature %zu", idx + 1);
    if (!json_is_object(e)) {
        ohsm_errf(err, cap, "%s is not an object", where);
        return false;
    }
    if (!only_members(e, q_sig, 2, where, err, cap)) {
        return false;
    }
    const char *name = get_str(e, "username", where, err, cap);
    if (name == NULL) {
        return false;
    }
    if (ohsm_username_canon(name, s->username, sizeof(s->username)) != OHSM_OK) {
        ohsm_errf(err, cap, "%s: \"username\" is not a valid username", where);
        return false;
    }
    return get_bytes(e, "signature", OHSM_TOKEN_SIG_MAX, false, where, &s->sig, &s->sig_len, err,
                     cap);
}

ohsm_rv ohsm_qtokfile_parse(const char *buf, size_t len, struct ohsm_qtokfile *out, char *err,
                            size_t err_cap)
{
    OHSM_ENSURE(buf != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    ohsm_rv rv = OHSM_DATA_INVALID;
    struct ohsm_qtokfile f;
    const char *where = "quorum token file";
    memset(&f, 0, sizeof(f));
    memset(out, 0, sizeof(*out));

    json_t *root = load_object(buf, len, where, err, err_cap);
    if (root == NULL || !check_version(root, where, err, err_cap) ||
        !only_members(root, q_top, 4, where, err, err_cap) ||
        !get_token(root, "token", where, f.token, err, err_cap) ||
        !get_approval(root, "token", where, f.token, &f.approval, &f.approval_len, err, err_cap)) {
        goto out;
    }
    json_t *arr = get_array(root, "signatures", OHSM_APPROVAL_SIGS_MAX, true, where, err, err_cap);
    if (arr == NULL) {
        goto out;
    }
    if (json_array_size(arr) > 0) {
        f.sigs = calloc(json_array_size(arr), sizeof(*f.sigs));
        if (f.sigs == NULL) {
            ohsm_errf(err, err_cap, "out of memory");
            rv = OHSM_HOST_MEMORY;
            goto out;
        }
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        f.n = i + 1;
        if (!parse_sig(json_array_get(arr, i), i, &f.sigs[i], err, err_cap)) {
            goto out;
        }
    }
    *out = f;
    memset(&f, 0, sizeof(f));
    rv = OHSM_OK;
out:
    ohsm_qtokfile_free(&f);
    json_decref(root);
    return rv;
}

void ohsm_qtokfile_free(struct ohsm_qtokfile *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; f->sigs != NULL && i < f->n; i++) {
        free(f->sigs[i].sig);
    }
    free(f->sigs);
    free(f->approval);
    memset(f, 0, sizeof(*f));
}

/* Sets o[name] = base64(in); false on failure (o keeps what it had). */
static bool put_b64(json_t *o, const char *name, const uint8_t *in, size_t len)
{
    char *s = ohsm_cli_b64_encode(in, len);
    if (s == NULL) {
        return false;
    }
    json_t *v = json_string(s);
    free(s);
    return v != NULL && json_object_set_new(o, name, v) == 0;
}

static bool put_str(json_t *o, const char *name, const char *s)
{
    json_t *v = json_string(s);
    return v != NULL && json_object_set_new(o, name, v) == 0;
}

/* Pretty-prints root (2-space indentation, members in insertion order) with a final newline. */
static ohsm_rv dump(const json_t *root, char **json)
{
    const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
    size_t n = json_dumpb(root, NULL, 0, flags);
    OHSM_ENSURE(n > 0, OHSM_HOST_MEMORY);
    char *s = malloc(n + 2);
    OHSM_ENSURE(s != NULL, OHSM_HOST_MEMORY);
    if (json_dumpb(root, s, n, flags) != n) {
        free(s);
        return OHSM_HOST_MEMORY;
    }
    s[n] = '\n';
    s[n + 1] = '\0';
    *json = s;
    return OHSM_OK;
}

/* {"version":"2.0","tokens":[]} with the array returned borrowed in *arr. */
static json_t *new_tokens_file(json_t **arr)
{
    json_t *root = json_object();
    *arr = json_array();
    if (root == NULL || *arr == NULL || !put_str(root, "version", OHSM_TOKFILE_VERSION) ||
        json_object_set(root, "tokens", *arr) != 0) {
        json_decref(*arr);
        json_decref(root);
        return NULL;
    }
    json_decref(*arr); /* root holds it */
    return root;
}

ohsm_rv ohsm_tokfile_format_mfa(const uint8_t (*tokens)[OHSM_TOKEN_LEN], size_t n, char **json)
{
    OHSM_ENSURE(tokens != NULL && json != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(n >= 1 && n <= OHSM_APPROVAL_MAX_RECS, OHSM_ARGUMENTS_BAD);
    ohsm_rv rv = OHSM_HOST_MEMORY;
    json_t *arr = NULL;
    json_t *root = new_tokens_file(&arr);
    *json = NULL;
    if (root == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object();
        if (e == NULL || json_array_append_new(arr, e) != 0 ||
            !put_b64(e, "unsigned", tokens[i], OHSM_TOKEN_LEN) || !put_str(e, "signed", "")) {
            goto out;
        }
    }
    rv = dump(root, json);
out:
    json_decref(root);
    return rv;
}

/* Arguments of the approval-data formatters, and the digest of the data. */
static ohsm_rv approval_in(const uint8_t *approval, size_t len, char **json,
                           uint8_t digest[OHSM_TOKEN_LEN])
{
    OHSM_ENSURE(approval != NULL && json != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(len > 0 && len % OHSM_APPROVAL_REC_LEN == 0 && len <= APPROVAL_MAX,
                OHSM_ARGUMENTS_BAD);
    *json = NULL;
    OHSM_ENSURE(sha256(approval, len, digest), OHSM_DEVICE_ERROR);
    return OHSM_OK;
}

ohsm_rv ohsm_tokfile_format_registration(const uint8_t *approval, size_t len, char **json)
{
    uint8_t digest[OHSM_TOKEN_LEN];
    OHSM_TRY(approval_in(approval, len, json, digest));
    ohsm_rv rv = OHSM_HOST_MEMORY;
    json_t *arr = NULL;
    json_t *root = new_tokens_file(&arr);
    json_t *e = json_object();
    if (root == NULL || e == NULL || json_array_append(arr, e) != 0 ||
        !put_b64(e, "approval_data", approval, len) ||
        !put_b64(e, "unsigned", digest, sizeof(digest)) || !put_str(e, "signed", "")) {
        goto out;
    }
    rv = dump(root, json);
out:
    json_decref(e);
    json_decref(root);
    return rv;
}

ohsm_rv ohsm_qtokfile_format(const uint8_t *approval, size_t len, char **json)
{
    uint8_t digest[OHSM_TOKEN_LEN];
    OHSM_TRY(approval_in(approval, len, json, digest));
    ohsm_rv rv = OHSM_HOST_MEMORY;
    json_t *root = json_object();
    json_t *sigs = json_array();
    if (root == NULL || sigs == NULL || !put_str(root, "version", OHSM_TOKFILE_VERSION) ||
        !put_b64(root, "approval_data", approval, len) ||
        !put_b64(root, "token", digest, sizeof(digest)) ||
        json_object_set(root, "signatures", sigs) != 0) {
        goto out;
    }
    rv = dump(root, json);
out:
    json_decref(sigs);
    json_decref(root);
    return rv;
}

ohsm_rv ohsm_tokfile_read(const char *path, char **buf, size_t *len, char *err, size_t err_cap)
{
    OHSM_ENSURE(path != NULL && buf != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    ohsm_rv rv = OHSM_DATA_INVALID;
    char shown[PATH_ECHO_MAX + 4];
    char *data = NULL;
    size_t n = 0;
    struct stat st;
    *buf = NULL;
    *len = 0;
    echo(path, shown, sizeof(shown));
    if (path[0] == '\0') {
        ohsm_errf(err, err_cap, "no token file path given");
        return OHSM_DATA_INVALID;
    }
    /* O_NONBLOCK: a FIFO must not hang the CLI; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        ohsm_errf(err, err_cap, "cannot open token file \"%s\": %s", shown, strerror(errno));
        return OHSM_DATA_INVALID;
    }
    if (fstat(fd, &st) != 0) {
        ohsm_errf(err, err_cap, "cannot read token file \"%s\": %s", shown, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        ohsm_errf(err, err_cap, "token file \"%s\" is a directory", shown);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ohsm_errf(err, err_cap, "token file \"%s\" is not a regular file", shown);
        goto out;
    }
    if (st.st_size > OHSM_TOKFILE_MAX) {
        ohsm_errf(err, err_cap, "token file \"%s\" is larger than %d bytes", shown,
                  OHSM_TOKFILE_MAX);
        goto out;
    }
    /* Read until EOF into room for one byte more than allowed: a file that grew since fstat is
     * still caught. */
    data = malloc((size_t)OHSM_TOKFILE_MAX + 2);
    if (data == NULL) {
        ohsm_errf(err, err_cap, "out of memory");
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, data + n, (size_t)OHSM_TOKFILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            ohsm_errf(err, err_cap, "cannot read token file \"%s\": %s", shown, strerror(errno));
            goto out;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
        if (n > OHSM_TOKFILE_MAX) {
            ohsm_errf(err, err_cap, "token file \"%s\" is larger than %d bytes", shown,
                      OHSM_TOKFILE_MAX);
            goto out;
        }
    }
    data[n] = '\0';
    *buf = data;
    *len = n;
    data = NULL;
    rv = OHSM_OK;
out:
    free(data);
    (void)close(fd);
    return rv;
}

ohsm_rv ohsm_tokfile_write(const char *path, const char *json, char *err, size_t err_cap)
{
    OHSM_ENSURE(path != NULL && json != NULL, OHSM_ARGUMENTS_BAD);
    char shown[PATH_ECHO_MAX + 4];
    char why[256];
    echo(path, shown, sizeof(shown));
    if (path[0] == '\0') {
        ohsm_errf(err, err_cap, "no token file path given");
        return OHSM_DATA_INVALID;
    }
    /* A new 0600 file renamed over the path (client/outfile.h): a planted symlink is refused,
     * never written through; an old file's mode is not kept; a reader (an approver's script
     * waiting for the file) sees the whole file or none. */
    if (ohsm_outfile_write(path, json, strlen(json), 0600, why, sizeof(why)) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot write token file \"%s\": %s", shown, why);
        return OHSM_DATA_INVALID;
    }
    return OHSM_OK;
}
