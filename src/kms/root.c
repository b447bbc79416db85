/* SPDX-License-Identifier: Apache-2.0
 *
 * The KMS service root key in a hidden cluster of one openhsm-hsm that openhsmd runs for itself
 * (root.h). Files:
 *
 *   DIR/kms/root/clusters/<cid>/...          the hidden cluster, made by ohsm_provision_*_files
 *                                            with DIR/kms/root as their data directory (CA,
 *                                            masking key, appliance user, hsms/<hid>/hsm.db ...),
 *                                            plus a client.json for libopenhsm rewritten at every
 *                                            start with a fresh free port
 *   DIR/kms/root/private/<cid>/customerCA.key that cluster's CA key
 *   DIR/private/kms/root.json                openhsmd's credentials there (0600, in 0700)
 *
 * Crash safety: root.json is written first, before the HSM exists, with every id and password it
 * will ever use and "ready": false. Each later step is idempotent and found out from the HSM
 * itself: activation (hsm_info says whether the precrypto officer's password was changed), the
 * crypto user (the admin lists users), the key (the crypto user finds it by label). Only after
 * the key exists does root.json say "ready": true; from then on a start logs in as the crypto
 * user directly, and a key that is then missing is OHSM_KEY_HANDLE_INVALID rather than made anew
 * (a new root key would orphan every sealed blob).
 *
 * A sealed blob is version (1 byte, 1) || iv (12, made by the HSM) || ciphertext || tag (16):
 * AES-256-GCM under the root key with the caller's aad. The version byte leaves room for another
 * root key or algorithm later without guessing.
 *
 * Trusts: root.json only when it is openhsmd's own secret file (owner, mode), and then parses it
 * strictly; the HSM through TLS against the hidden cluster's CA. Sealed blobs given to unseal are
 * untrusted: version byte and lengths are checked before the HSM sees them.
 *
 * Speed: one struct ohsm_client serialises its calls, so the root keeps ROOT_POOL clients, each
 * logged in as the crypto user with its own session, and spreads calls over them.
 * Heap copies of the passwords that jansson makes while parsing root.json are freed by jansson
 * without wiping (its allocator is process-global, which this module does not change); every
 * copy this module holds is wiped.
 */
#include "kms/root.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "cloud/files.h"
#include "cloud/ids.h"
#include "cloud/provision.h"
#include "cloud/supervise.h"
#include "core/errf.h"
#include "kms/kcrypto.h"
#include "openhsm/client.h"
#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "openhsm/user.h"

#define ROOT_LABEL "kms-root"
#define ROOT_CO "admin" /* the precrypto officer's name, kept after activation */
#define ROOT_CU "kms_root"
#define PRECO_DEFAULT_PASSWORD "password"
#define ROOT_PW_LEN 32 /* OHSM_PASSWORD_MAX */
#define ROOT_POOL 4
#define ROOT_LOCKOUT 100 /* the HSM's maximum: only openhsmd logs in here */
#define ROOT_FILE_MAX 4096
#define PORT_TRIES 3

#define BLOB_VERSION 1
#define BLOB_IV 12
#define BLOB_TAG 16
#define BLOB_HEAD (1 + BLOB_IV)

struct creds {
    char cid[OHSM_IDS_MAX];
    char hid[OHSM_IDS_MAX];
    char co_pw[ROOT_PW_LEN + 1];
    char cu_pw[ROOT_PW_LEN + 1];
    bool ready;
};

struct ohsm_kms_root {
    struct ohsm_sup *sup; /* borrowed */
    char hid[OHSM_IDS_MAX];
    bool registered; /* the HSM is the supervisor's (removed by close) */
    struct ohsm_cfg *cfg;
    struct ohsm_client *pool[ROOT_POOL];
    atomic_uint next;
    uint64_t key;
    char cu_pw[ROOT_PW_LEN + 1]; /* for logging in again after the HSM restarted */
};

/* ---- credentials file ---- */

_Static_assert(ROOT_PW_LEN == OHSM_KMS_PASSWORD_LEN, "root passwords are KMS passwords");

static bool password_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < OHSM_PASSWORD_MIN || n > ROOT_PW_LEN) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return true;
}

static void wipe_json_str(json_t *v)
{
    if (json_is_string(v)) {
        /* jansson's own copy of a password: wiped before json_decref frees it. */
        OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
    }
}

static void copy_field(json_t *root, const char *name, char *out, size_t cap, bool *ok)
{
    json_t *v = json_object_get(root, name);
    const char *s = json_string_value(v);
    if (s == NULL || json_string_length(v) >= cap || strlen(s) != json_string_length(v)) {
        *ok = false;
        return;
    }
    memcpy(out, s, json_string_length(v) + 1);
}

/* Reads root.json (openhsmd's secret: owned by us, no group/other access). *found false: none. */
static ohsm_rv creds_load(const char *path, struct creds *c, bool *found, char *err, size_t cap)
{
    char buf[ROOT_FILE_MAX];
    char why[512];
    struct stat st;
    ssize_t got = 0;
    size_t len = 0;
    json_t *root = NULL;
    ohsm_rv rv = OHSM_IO;
    int fd = -1;

    memset(c, 0, sizeof(*c));
    *found = false;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) {
            return OHSM_OK;
        }
        ohsm_errf(err, cap, "cannot read %s: %s", path, strerror(errno));
        return OHSM_IO;
    }
    if (ohsm_files_check_owned(path, geteuid(), true, why, sizeof(why)) != OHSM_OK) {
        ohsm_errf(err, cap, "%s", why);
        return OHSM_IO;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        ohsm_errf(err, cap, "cannot read %s: %s", path, strerror(errno));
        return OHSM_IO;
    }
    while (len < sizeof(buf)) {
        got = read(fd, buf + len, sizeof(buf) - len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        len += (size_t)got;
    }
    if (got < 0 || len == sizeof(buf)) {
        ohsm_errf(err, cap, "cannot read %s: %s", path, got < 0 ? strerror(errno) : "too long");
        goto out;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(root) && json_object_size(root) == 7;
    json_t *ready = json_object_get(root, "ready");
    json_t *ver = json_object_get(root, "version");
    ok = ok && json_is_boolean(ready) && json_is_integer(ver) && json_integer_value(ver) == 1;
    copy_field(root, "cluster_id", c->cid, sizeof(c->cid), &ok);
    copy_field(root, "hsm_id", c->hid, sizeof(c->hid), &ok);
    copy_field(root, "admin_password", c->co_pw, sizeof(c->co_pw), &ok);
    copy_field(root, "crypto_user_password", c->cu_pw, sizeof(c->cu_pw), &ok);
    json_t *cu = json_object_get(root, "crypto_user");
    ok = ok && json_is_string(cu) && strcmp(json_string_value(cu), ROOT_CU) == 0;
    ok = ok && ohsm_ids_valid(OHSM_IDS_CLUSTER_PREFIX, c->cid) &&
         ohsm_ids_valid(OHSM_IDS_HSM_PREFIX, c->hid) && password_ok(c->co_pw) &&
         password_ok(c->cu_pw);
    if (!ok) {
        ohsm_errf(err, cap, "%s is damaged (not the credentials openhsmd wrote)", path);
        goto out;
    }
    c->ready = json_is_true(ready);
    *found = true;
    rv = OHSM_OK;
out:
    if (root != NULL) {
        wipe_json_str(json_object_get(root, "admin_password"));
        wipe_json_str(json_object_get(root, "crypto_user_password"));
    }
    json_decref(root);
    OPENSSL_cleanse(buf, sizeof(buf));
    (void)close(fd);
    if (rv != OHSM_OK) {
        OPENSSL_cleanse(c, sizeof(*c));
    }
    return rv;
}

/* Writes root.json atomically (temp file, fsync, rename), 0600. */
static ohsm_rv creds_save(const char *path, const struct creds *c, char *err, size_t cap)
{
    ohsm_rv rv = OHSM_HOST_MEMORY;
    char *text = NULL;
    size_t len = 0;
    json_t *root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:b}", "version", 1, "cluster_id",
                             c->cid, "hsm_id", c->hid, "admin_password", c->co_pw, "crypto_user",
                             ROOT_CU, "crypto_user_password", c->cu_pw, "ready", (int)c->ready);
    if (root == NULL) {
        goto out;
    }
    text = json_dumps(root, JSON_INDENT(2));
    if (text == NULL) {
        goto out;
    }
    len = strlen(text);
    rv = ohsm_files_write_atomic(path, text, len, 0600);
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "cannot write %s: %s", path, strerror(errno));
    }
out:
    if (text != NULL) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    if (root != NULL) {
        wipe_json_str(json_object_get(root, "admin_password"));
        wipe_json_str(json_object_get(root, "crypto_user_password"));
    }
    json_decref(root);
    return rv;
}

static ohsm_rv creds_new(struct creds *c)
{
    ohsm_rv rv;
    memset(c, 0, sizeof(*c));
    if ((rv = ohsm_ids_make(OHSM_IDS_CLUSTER_PREFIX, c->cid, sizeof(c->cid))) != OHSM_OK ||
        (rv = ohsm_ids_make(OHSM_IDS_HSM_PREFIX, c->hid, sizeof(c->hid))) != OHSM_OK ||
        (rv = ohsm_kms_random_password(c->co_pw)) != OHSM_OK || (rv = ohsm_kms_random_password(c->cu_pw)) != OHSM_OK) {
        OPENSSL_cleanse(c, sizeof(*c));
    }
    return rv;
}

/* ---- files of the hidden cluster ---- */

/* Does rdir/clusters hold anything? root.json is written before any of it, so a hidden cluster
 * without root.json is a damaged data directory: making a new root key then would orphan every
 * blob sealed under the old one, so open refuses instead. */
static bool has_cluster(const char *rdir, char *name, size_t cap)
{
    char path[4096];
    bool found = false;
    if (ohsm_files_path(path, sizeof(path), "%s/clusters", rdir) != OHSM_OK) {
        return true; /* cannot tell: refuse rather than start over */
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        return errno != ENOENT;
    }
    for (struct dirent *e = readdir(d); e != NULL && !found; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            found = true;
            ohsm_errf(name, cap, "%s/%s", path, e->d_name);
        }
    }
    (void)closedir(d);
    return found;
}

static ohsm_rv mkdir_at(const char *path, char *err, size_t cap)
{
    if (ohsm_files_mkdir(path) != OHSM_OK) {
        ohsm_errf(err, cap, "cannot create %s: %s", path, strerror(errno));
        return OHSM_IO;
    }
    return OHSM_OK;
}

/* A port that was free a moment ago (the kernel's pick for 127.0.0.1:0). */
static ohsm_rv free_port(uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    OHSM_ENSURE(fd >= 0, OHSM_IO);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &alen) == 0 && a.sin_port != 0;
    (void)close(fd);
    OHSM_ENSURE(ok, OHSM_IO);
    *port = ntohs(a.sin_port);
    return OHSM_OK;
}

/* cdir/client.json in the shape of ohsm_provision_client_json: the one HSM on port. */
static ohsm_rv write_client_json(const char *cdir, const struct creds *c, uint16_t port, char *path,
                                 size_t path_cap)
{
    ohsm_rv rv = OHSM_HOST_MEMORY;
    char *text = NULL;
    json_t *root = NULL;

    OHSM_TRY(ohsm_files_path(path, path_cap, "%s/client.json", cdir));
    root = json_pack("{s:s, s:s, s:i, s:[{s:s, s:s, s:i}]}", "cluster_id", c->cid, "trust_anchor",
                     OHSM_PROVISION_TRUST_ANCHOR, "timeout_ms", OHSM_PROVISION_TIMEOUT_MS, "hsms",
                     "id", c->hid, "host", "127.0.0.1", "port", (int)port);
    text = root != NULL ? json_dumps(root, JSON_INDENT(2)) : NULL;
    if (text != NULL) {
        rv = ohsm_files_write_atomic(path, text, strlen(text), 0644);
    }
    free(text);
    json_decref(root);
    return rv;
}

/* Registers the HSM on a fresh free port and starts it; a port taken meanwhile by someone else
 * is tried again on another. */
static ohsm_rv start_hsm(struct ohsm_kms_root *r, const char *rdir, const struct creds *c,
                         char *cfg_path, size_t cfg_cap, char *err, size_t cap)
{
    char cdir[4096], hdir[4096];
    ohsm_rv rv = OHSM_IO;

    OHSM_TRY(ohsm_provision_cluster_dir(rdir, c->cid, cdir, sizeof(cdir)));
    OHSM_TRY(ohsm_provision_hsm_dir(rdir, c->cid, c->hid, hdir, sizeof(hdir)));
    for (int i = 0; i < PORT_TRIES && rv == OHSM_IO; i++) {
        uint16_t port = 0;
        rv = free_port(&port);
        if (rv != OHSM_OK) {
            ohsm_errf(err, cap, "no free port on 127.0.0.1: %s", strerror(errno));
            return rv;
        }
        rv = write_client_json(cdir, c, port, cfg_path, cfg_cap);
        if (rv != OHSM_OK) {
            ohsm_errf(err, cap, "cannot write %s/client.json: %s", cdir, strerror(errno));
            return rv;
        }
        const struct ohsm_sup_hsm h = {c->hid, c->cid, hdir, cdir, port, ROOT_LOCKOUT, 0};
        rv = ohsm_sup_add(r->sup, &h);
        if (rv != OHSM_OK) {
            ohsm_errf(err, cap, "cannot register the root HSM %s: %s", c->hid, ohsm_rv_str(rv));
            return rv;
        }
        r->registered = true;
        rv = ohsm_sup_launch(r->sup, c->hid);
        if (rv == OHSM_IO) {
            ohsm_rv gone = ohsm_sup_remove(r->sup, c->hid);
            r->registered = gone != OHSM_OK; /* still its: close removes it */
        }
    }
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "the root HSM %s did not start: %s (see %s/hsm.log)", c->hid,
                  ohsm_rv_str(rv), hdir);
    }
    return rv;
}

/* ---- the HSM: activation, crypto user, key ---- */

/* Best effort: a logout that fails leaves a session the HSM ends when the connection goes. */
static void logout_quiet(struct ohsm_client *cl)
{
    struct ohsm_result res[1];
    ohsm_rv rv = ohsm_client_logout(cl, res);
    (void)rv;
}

static bool user_exists(struct ohsm_client *cl, const char *name, ohsm_rv *rv)
{
    struct ohsm_user_info *u = NULL;
    size_t n = 0;
    bool found = false;
    *rv = ohsm_client_list_users(cl, 0, &u, &n);
    for (size_t i = 0; *rv == OHSM_OK && i < n; i++) {
        found = found || (u[i].type == OHSM_UT_CU && strcmp(u[i].username, name) == 0);
    }
    free(u);
    return found;
}

/* First-start steps, each skipped when the HSM shows it done: activation with the admin password
 * of root.json, then the crypto user. Ends logged out. */
static ohsm_rv setup_users(struct ohsm_client *cl, const struct creds *c, char *err, size_t cap)
{
    struct ohsm_hsm_info info;
    struct ohsm_result res[1];
    enum ohsm_utype actual = OHSM_UT_NONE;
    ohsm_rv rv;

    rv = ohsm_client_hsm_info(cl, 0, &info);
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "the root HSM does not answer: %s", ohsm_rv_str(rv));
        return rv;
    }
    if (!info.activated) {
        rv = ohsm_client_login(cl, OHSM_UT_CO, ROOT_CO, PRECO_DEFAULT_PASSWORD, res, &actual);
        if (rv == OHSM_OK) {
            rv = actual == OHSM_UT_PRECO
                     ? ohsm_client_change_password(cl, OHSM_UT_PRECO, ROOT_CO, c->co_pw, res, NULL)
                     : OHSM_DEVICE_ERROR;
            logout_quiet(cl);
        }
        if (rv != OHSM_OK) {
            ohsm_errf(err, cap, "cannot activate the root HSM: %s", ohsm_rv_str(rv));
            return rv;
        }
    }
    rv = ohsm_client_login(cl, OHSM_UT_CO, ROOT_CO, c->co_pw, res, &actual);
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "cannot log in to the root HSM as its admin: %s", ohsm_rv_str(rv));
        return rv;
    }
    if (!user_exists(cl, ROOT_CU, &rv) && rv == OHSM_OK) {
        rv = ohsm_client_create_user(cl, OHSM_UT_CU, ROOT_CU, c->cu_pw, res);
    }
    logout_quiet(cl);
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "cannot create the root HSM's crypto user: %s", ohsm_rv_str(rv));
    }
    return rv;
}

static ohsm_rv login_cu(struct ohsm_client *cl, const char *pw)
{
    struct ohsm_result res[1];
    ohsm_rv rv = ohsm_client_login(cl, OHSM_UT_CU, ROOT_CU, pw, res, NULL);
    return rv == OHSM_USER_ALREADY_LOGGED_IN ? OHSM_OK : rv;
}

/* The key labelled ROOT_LABEL (the lowest handle if ever several); with make, generated when
 * there is none: AES-256, token, never extractable, encrypt and decrypt only. */
static ohsm_rv find_key(struct ohsm_client *cl, bool make, uint64_t *key)
{
    struct ohsm_tmpl_buf t;
    struct ohsm_obj *objs = NULL;
    size_t n = 0;
    ohsm_rv rv;

    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_u32(&t, OHSM_A_CLASS, OHSM_CLASS_SECRET);
    ohsm_tmpl_put_u32(&t, OHSM_A_KEY_TYPE, OHSM_KT_AES);
    ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, ROOT_LABEL, strlen(ROOT_LABEL));
    OHSM_ENSURE(!t.overflow, OHSM_DEVICE_ERROR);
    rv = ohsm_client_key_find(cl, t.buf, t.len, &objs, &n);
    if (rv == OHSM_OK && n > 0) {
        *key = objs[0].handle;
    }
    free(objs);
    OHSM_TRY(rv);
    if (n > 0) {
        return OHSM_OK;
    }
    OHSM_ENSURE(make, OHSM_KEY_HANDLE_INVALID);

    struct ohsm_keygen g;
    struct ohsm_obj made[2];
    struct ohsm_result res[1];
    size_t nobj = 0;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, ROOT_LABEL, strlen(ROOT_LABEL));
    ohsm_tmpl_put_bool(&t, OHSM_A_TOKEN, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_EXTRACTABLE, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_ENCRYPT, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_DECRYPT, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_SIGN, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_VERIFY, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_WRAP, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_UNWRAP, false);
    OHSM_ENSURE(!t.overflow, OHSM_DEVICE_ERROR);
    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_AES;
    g.length = 32;
    g.tmpl = t.buf;
    g.tmpl_len = t.len;
    OHSM_TRY(ohsm_client_key_generate(cl, &g, made, &nobj, res));
    OHSM_ENSURE(nobj == 1, OHSM_DEVICE_ERROR);
    *key = made[0].handle;
    return OHSM_OK;
}

/* ---- sealing ---- */

static struct ohsm_client *pick(struct ohsm_kms_root *r)
{
    unsigned i = atomic_fetch_add_explicit(&r->next, 1u, memory_order_relaxed);
    return r->pool[i % ROOT_POOL];
}

/* After the HSM restarted (the supervisor brings it back on the same port) a client reconnects
 * but is logged out: log in again and retry once. */
static bool relogin(struct ohsm_kms_root *r, struct ohsm_client *cl, ohsm_rv rv)
{
    if (rv != OHSM_USER_NOT_LOGGED_IN && rv != OHSM_NOT_CONNECTED) {
        return false;
    }
    return login_cu(cl, r->cu_pw) == OHSM_OK;
}

static ohsm_rv root_seal(void *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                         size_t in_len, uint8_t **out, size_t *out_len)
{
    struct ohsm_kms_root *r = ctx;
    struct ohsm_mech_params m;
    uint8_t *ct = NULL, *blob = NULL;
    size_t ct_len = 0, iv_len = 0;
    uint8_t iv[16];
    ohsm_rv rv;

    OHSM_ENSURE(r != NULL && out != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(in != NULL || in_len == 0, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(aad != NULL || aad_len == 0, OHSM_ARGUMENTS_BAD);
    memset(&m, 0, sizeof(m));
    m.mech = OHSM_M_AES_GCM;
    m.aad = aad;
    m.aad_len = aad_len;
    struct ohsm_client *cl = pick(r);
    rv = ohsm_client_encrypt(cl, r->key, &m, in, in_len, &ct, &ct_len, iv, &iv_len);
    if (rv != OHSM_OK && relogin(r, cl, rv)) {
        rv = ohsm_client_encrypt(cl, r->key, &m, in, in_len, &ct, &ct_len, iv, &iv_len);
    }
    if (rv != OHSM_OK) {
        goto out;
    }
    if (iv_len != BLOB_IV || ct_len != in_len + BLOB_TAG) {
        rv = OHSM_DEVICE_ERROR; /* not AES-GCM as asked: never store such a blob */
        goto out;
    }
    blob = malloc(BLOB_HEAD + ct_len);
    if (blob == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    blob[0] = BLOB_VERSION;
    memcpy(blob + 1, iv, BLOB_IV);
    memcpy(blob + BLOB_HEAD, ct, ct_len);
    *out = blob;
    *out_len = BLOB_HEAD + ct_len;
out:
    free(ct); /* ciphertext: not a secret */
    return rv;
}

static ohsm_rv root_unseal(void *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                           size_t in_len, uint8_t *out, size_t cap, size_t *out_len)
{
    struct ohsm_kms_root *r = ctx;
    struct ohsm_mech_params m;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    ohsm_rv rv;

    OHSM_ENSURE(r != NULL && out_len != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(aad != NULL || aad_len == 0, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(in != NULL && in_len >= BLOB_HEAD + BLOB_TAG && in[0] == BLOB_VERSION,
                OHSM_ENCRYPTED_DATA_INVALID);
    const size_t need = in_len - BLOB_HEAD - BLOB_TAG;
    if (cap < need || (out == NULL && need > 0)) {
        *out_len = need;
        return OHSM_BUFFER_TOO_SMALL;
    }
    memset(&m, 0, sizeof(m));
    m.mech = OHSM_M_AES_GCM;
    m.iv = in + 1;
    m.iv_len = BLOB_IV;
    m.aad = aad;
    m.aad_len = aad_len;
    struct ohsm_client *cl = pick(r);
    rv = ohsm_client_decrypt(cl, r->key, &m, in + BLOB_HEAD, in_len - BLOB_HEAD, &pt, &pt_len);
    if (rv != OHSM_OK && relogin(r, cl, rv)) {
        rv = ohsm_client_decrypt(cl, r->key, &m, in + BLOB_HEAD, in_len - BLOB_HEAD, &pt, &pt_len);
    }
    if (rv == OHSM_ENCRYPTED_DATA_LEN_RANGE || rv == OHSM_WRAPPED_KEY_INVALID) {
        rv = OHSM_ENCRYPTED_DATA_INVALID; /* a blob is either whole and authentic or not */
    }
    if (rv == OHSM_OK && pt_len != need) {
        rv = OHSM_DEVICE_ERROR;
    }
    if (rv == OHSM_OK) {
        if (pt_len > 0) {
            memcpy(out, pt, pt_len);
        }
        *out_len = pt_len;
    }
    if (pt != NULL) {
        OPENSSL_cleanse(pt, pt_len);
        free(pt);
    }
    return rv;
}

/* ---- open / close ---- */

ohsm_rv ohsm_kms_root_open(const struct ohsm_kms_root_cfg *cfg, struct ohsm_kms_root **out,
                           char *err, size_t cap)
{
    char path[4096], rdir[4096], creds_path[4096], cfg_path[4096];
    struct ohsm_kms_root *r = NULL;
    struct creds c;
    bool found = false;
    ohsm_rv rv;

    ohsm_errf(err, cap, "%s", "");
    memset(&c, 0, sizeof(c));
    OHSM_ENSURE(cfg != NULL && cfg->data_dir != NULL && cfg->sup != NULL && out != NULL,
                OHSM_ARGUMENTS_BAD);
    *out = NULL;
    OHSM_ENSURE(cfg->data_dir[0] == '/', OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/private", cfg->data_dir));
    OHSM_TRY(mkdir_at(path, err, cap));
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/private/kms", cfg->data_dir));
    OHSM_TRY(mkdir_at(path, err, cap));
    OHSM_TRY(ohsm_files_path(creds_path, sizeof(creds_path), "%s/root.json", path));
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/kms", cfg->data_dir));
    OHSM_TRY(mkdir_at(path, err, cap));
    OHSM_TRY(ohsm_files_path(rdir, sizeof(rdir), "%s/kms/root", cfg->data_dir));
    OHSM_TRY(mkdir_at(rdir, err, cap));

    r = calloc(1, sizeof(*r));
    OHSM_ENSURE(r != NULL, OHSM_HOST_MEMORY);
    r->sup = cfg->sup;
    atomic_init(&r->next, 0u);

    rv = creds_load(creds_path, &c, &found, err, cap);
    if (rv == OHSM_OK && !found && has_cluster(rdir, path, sizeof(path))) {
        ohsm_errf(err, cap, "%s is missing but the root HSM's cluster %s exists: restore it",
                  creds_path, path);
        rv = OHSM_IO;
    } else if (rv == OHSM_OK && !found) {
        /* Everything the first start will use is on disk before the HSM exists. */
        rv = creds_new(&c);
        if (rv == OHSM_OK) {
            rv = creds_save(creds_path, &c, err, cap);
        }
    }
    if (rv != OHSM_OK) {
        goto out;
    }
    memcpy(r->hid, c.hid, sizeof(r->hid));
    memcpy(r->cu_pw, c.cu_pw, sizeof(r->cu_pw));
    rv = ohsm_provision_cluster_files(rdir, c.cid, true, err, cap);
    if (rv == OHSM_OK) {
        rv = ohsm_provision_hsm_files(rdir, c.cid, c.hid, err, cap);
    }
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = start_hsm(r, rdir, &c, cfg_path, sizeof(cfg_path), err, cap);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = ohsm_cfg_load(cfg_path, &r->cfg, err, cap);
    for (size_t i = 0; rv == OHSM_OK && i < ROOT_POOL; i++) {
        rv = ohsm_client_new(r->cfg, &r->pool[i]);
        if (rv == OHSM_OK) {
            ohsm_client_set_auto_repair(r->pool[i], false); /* one HSM: nothing to repair */
        }
    }
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "cannot connect to the root HSM: %s", ohsm_rv_str(rv));
        goto out;
    }
    if (!c.ready) {
        rv = setup_users(r->pool[0], &c, err, cap);
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    for (size_t i = 0; rv == OHSM_OK && i < ROOT_POOL; i++) {
        rv = login_cu(r->pool[i], c.cu_pw);
    }
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "cannot log in to the root HSM as its crypto user: %s",
                  ohsm_rv_str(rv));
        goto out;
    }
    rv = find_key(r->pool[0], !c.ready, &r->key);
    if (rv != OHSM_OK) {
        ohsm_errf(err, cap, "the root key \"%s\" %s: %s", ROOT_LABEL,
                  c.ready ? "is missing from the root HSM" : "cannot be made", ohsm_rv_str(rv));
        goto out;
    }
    if (!c.ready) {
        c.ready = true;
        rv = creds_save(creds_path, &c, err, cap);
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    *out = r;
    r = NULL;
out:
    OPENSSL_cleanse(&c, sizeof(c));
    ohsm_kms_root_close(r);
    return rv;
}

void ohsm_kms_root_sealer(struct ohsm_kms_root *r, struct ohsm_kms_sealer *out)
{
    out->seal = root_seal;
    out->unseal = root_unseal;
    out->ctx = r;
}

void ohsm_kms_root_close(struct ohsm_kms_root *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < ROOT_POOL; i++) {
        if (r->pool[i] != NULL) {
            logout_quiet(r->pool[i]);
            ohsm_client_free(r->pool[i]);
        }
    }
    ohsm_cfg_free(r->cfg);
    if (r->registered) {
        ohsm_rv gone = ohsm_sup_remove(r->sup, r->hid);
        (void)gone; /* it would not die: nothing more to do here; openhsmd's exit kills it */
    }
    OPENSSL_cleanse(r, sizeof(*r));
    free(r);
}
