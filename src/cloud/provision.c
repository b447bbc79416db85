/* SPDX-License-Identifier: Apache-2.0
 *
 * Cluster creation. The order matters for crash safety: every file is written first, into a
 * directory named after a fresh random id, and the metadata rows are committed last in one
 * transaction; a cluster exists once (and only once) its rows do. Ports are picked by binding
 * 127.0.0.1:0 for every HSM at once (so the kernel hands out distinct free ports), skipping any
 * port the metadata already gives another HSM; they are persisted and reused on every start.
 */
#include "cloud/provision.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cloud/args.h"
#include "cloud/files.h"
#include "core/errf.h"
#include "cloud/pki.h"

#define PORT_TRIES 256

ohsm_rv ohsm_provision_cluster_dir(const char *data_dir, const char *cid, char *out, size_t cap)
{
    return ohsm_files_path(out, cap, "%s/clusters/%s", data_dir, cid);
}

ohsm_rv ohsm_provision_hsm_dir(const char *data_dir, const char *cid, const char *hid, char *out,
                               size_t cap)
{
    return ohsm_files_path(out, cap, "%s/clusters/%s/hsms/%s", data_dir, cid, hid);
}

ohsm_rv ohsm_provision_private_dir(const char *data_dir, const char *cid, char *out, size_t cap)
{
    return ohsm_files_path(out, cap, "%s/private/%s", data_dir, cid);
}

/* Creates DIR/private and DIR/private/<cid> (0700; existing ones are kept). */
static ohsm_rv make_private_dir(const char *data_dir, const char *cid, char *pdir, size_t cap,
                                char *err, size_t err_cap)
{
    char path[4096];

    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/private", data_dir));
    OHSM_TRY(ohsm_provision_private_dir(data_dir, cid, pdir, cap));
    if (ohsm_files_mkdir(path) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot create %s: %s", path, strerror(errno));
        return OHSM_IO;
    }
    if (ohsm_files_mkdir(pdir) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot create %s: %s", pdir, strerror(errno));
        return OHSM_IO;
    }
    return OHSM_OK;
}

ohsm_rv ohsm_provision_move_ca_key(const char *data_dir, const char *cid, char *err, size_t err_cap)
{
    char cdir[4096], pdir[4096], from[4096], to[4096];
    struct stat st;

    ohsm_errf(err, err_cap, "%s", "");
    OHSM_ENSURE(data_dir != NULL && cid != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_provision_cluster_dir(data_dir, cid, cdir, sizeof(cdir)));
    OHSM_TRY(ohsm_files_path(from, sizeof(from), "%s/" OHSM_PROVISION_CA_KEY, cdir));
    if (lstat(from, &st) != 0) {
        if (errno == ENOENT) {
            return OHSM_OK;
        }
        ohsm_errf(err, err_cap, "cannot inspect %s: %s", from, strerror(errno));
        return OHSM_IO;
    }
    OHSM_TRY(make_private_dir(data_dir, cid, pdir, sizeof(pdir), err, err_cap));
    OHSM_TRY(ohsm_files_path(to, sizeof(to), "%s/" OHSM_PROVISION_CA_KEY, pdir));
    if (lstat(to, &st) == 0 || errno != ENOENT) {
        ohsm_errf(err, err_cap, "the CA key is both in %s and in %s; keep the right one only", from,
                  to);
        errno = EEXIST;
        return OHSM_IO;
    }
    /* Same file system (both under DIR): rename is atomic, the key is never in two places or
     * none. */
    if (rename(from, to) != 0) {
        ohsm_errf(err, err_cap, "cannot move %s to %s: %s", from, to, strerror(errno));
        return OHSM_IO;
    }
    ohsm_files_sync_dir(pdir);
    ohsm_files_sync_dir(cdir);
    return OHSM_OK;
}

/* Binds one socket to 127.0.0.1:0 and reports the port; the socket stays open (caller closes) so
 * the next bind cannot get the same port. */
static int bind_free_port(uint16_t *port)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static bool port_taken(const struct ohsm_meta_hsm *hs, size_t n, uint16_t port)
{
    for (size_t i = 0; i < n; i++) {
        if (hs[i].port == port) {
            return true;
        }
    }
    return false;
}

/* Picks n distinct free ports that no HSM in the metadata uses. */
static ohsm_rv pick_ports(struct ohsm_meta *m, uint16_t *ports, size_t n)
{
    ohsm_rv rv = OHSM_IO;
    struct ohsm_meta_hsm *known = NULL;
    size_t nknown = 0, got = 0, nfd = 0;
    int fds[PORT_TRIES];

    OHSM_TRY(ohsm_meta_hsm_list(m, NULL, &known, &nknown));
    while (got < n && nfd < PORT_TRIES) {
        uint16_t p = 0;
        int fd = bind_free_port(&p);
        if (fd < 0) {
            goto out;
        }
        fds[nfd++] = fd; /* kept open even when skipped, so it is not offered again */
        if (!port_taken(known, nknown, p)) {
            ports[got++] = p;
        }
    }
    rv = got == n ? OHSM_OK : OHSM_IO;
out:
    for (size_t i = 0; i < nfd; i++) {
        close(fds[i]);
    }
    free(known);
    return rv;
}

/* Writes the appliance user's password file: one line, 0600, created exclusively. */
static ohsm_rv write_au_secret(const char *cdir)
{
    char path[4096];
    char pw[OHSM_IDS_PASSWORD_LEN + 2];
    ohsm_rv rv;

    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/app_user.secret", cdir));
    rv = ohsm_ids_password(pw, sizeof(pw));
    if (rv == OHSM_OK) {
        pw[OHSM_IDS_PASSWORD_LEN] = '\n';
        rv = ohsm_files_write_new(path, pw, OHSM_IDS_PASSWORD_LEN + 1, 0600);
    }
    OPENSSL_cleanse(pw, sizeof(pw));
    return rv;
}

ohsm_rv ohsm_provision_masking_key(const char *cdir)
{
    char path[4096];
    uint8_t mk[OHSM_PROVISION_MASKING_KEY_LEN];
    struct stat st;
    ohsm_rv rv;

    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/" OHSM_PROVISION_MASKING_KEY, cdir));
    if (lstat(path, &st) == 0) {
        /* Kept from an earlier start: the cluster's lineage. Only a regular file will do. */
        return S_ISREG(st.st_mode) && st.st_size == (off_t)sizeof(mk) ? OHSM_OK : OHSM_IO;
    }
    OHSM_ENSURE(errno == ENOENT, OHSM_IO);
    OHSM_ENSURE(RAND_priv_bytes(mk, (int)sizeof(mk)) == 1, OHSM_DEVICE_ERROR);
    rv = ohsm_files_write_new(path, mk, sizeof(mk), 0600);
    OPENSSL_cleanse(mk, sizeof(mk));
    return rv;
}

/* Creates one HSM's directory, key and certificate. */
static ohsm_rv make_hsm(const char *data_dir, const char *cid, const char *hid, X509 *ca,
                        EVP_PKEY *ca_key, char *err, size_t err_cap)
{
    ohsm_rv rv;
    char hdir[4096], path[4096];
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;

    OHSM_TRY(ohsm_provision_hsm_dir(data_dir, cid, hid, hdir, sizeof(hdir)));
    rv = ohsm_files_mkdir(hdir);
    if (rv != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot create %s: %s", hdir, strerror(errno));
        goto out;
    }
    if ((rv = ohsm_pki_keygen(&key)) != OHSM_OK ||
        (rv = ohsm_pki_hsm_cert(key, hid, ca, ca_key, &cert)) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot issue the certificate of %s", hid);
        goto out;
    }
    if ((rv = ohsm_files_path(path, sizeof(path), "%s/hsm.key", hdir)) != OHSM_OK ||
        (rv = ohsm_pki_write_key(path, key)) != OHSM_OK ||
        (rv = ohsm_files_path(path, sizeof(path), "%s/hsm.crt", hdir)) != OHSM_OK ||
        (rv = ohsm_pki_write_cert(path, cert, 0644)) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
out:
    EVP_PKEY_free(key);
    X509_free(cert);
    return rv;
}

/* Creates the CA: customerCA.crt into cdir, its key into pdir. */
static ohsm_rv make_ca(const char *cdir, const char *pdir, const char *cid, EVP_PKEY **key,
                       X509 **cert, char *err, size_t err_cap)
{
    char path[4096];
    ohsm_rv rv;

    if ((rv = ohsm_pki_keygen(key)) != OHSM_OK ||
        (rv = ohsm_pki_ca_cert(*key, cid, cert)) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot create the cluster CA");
        return rv;
    }
    if ((rv = ohsm_files_path(path, sizeof(path), "%s/" OHSM_PROVISION_CA_KEY, pdir)) != OHSM_OK ||
        (rv = ohsm_pki_write_key(path, *key)) != OHSM_OK ||
        (rv = ohsm_files_path(path, sizeof(path), "%s/" OHSM_PROVISION_TRUST_ANCHOR, cdir)) !=
            OHSM_OK ||
        (rv = ohsm_pki_write_cert(path, *cert, 0644)) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot write %s: %s", path, strerror(errno));
    }
    return rv;
}

/* A fresh HSM id, distinct from the n already drawn for this cluster. */
static ohsm_rv new_hsm_id(char (*hids)[OHSM_IDS_MAX], size_t n)
{
    for (;;) {
        bool dup = false;
        OHSM_TRY(ohsm_ids_make(OHSM_IDS_HSM_PREFIX, hids[n], OHSM_IDS_MAX));
        for (size_t i = 0; i < n && !dup; i++) {
            dup = strcmp(hids[i], hids[n]) == 0;
        }
        if (!dup) {
            return OHSM_OK;
        }
    }
}

/* Inserts the cluster and its HSMs; the caller holds the transaction. */
static ohsm_rv add_rows(struct ohsm_meta *m, const char *cid, uint32_t lockout,
                        char (*hids)[OHSM_IDS_MAX], const uint16_t *ports, size_t n, int64_t now)
{
    struct ohsm_meta_cluster c;
    struct ohsm_meta_hsm h;

    memset(&c, 0, sizeof(c));
    memcpy(c.id, cid, strlen(cid) + 1);
    /* The local CA has signed the cluster certificate, so the cluster starts INITIALIZED: ready
     * for its admin to activate, as a new CloudHSM cluster after InitializeCluster. */
    c.state = OHSM_CS_INITIALIZED;
    memcpy(c.hsm_type, OHSM_META_HSM_TYPE_DEFAULT, sizeof(OHSM_META_HSM_TYPE_DEFAULT));
    c.lockout_attempts = lockout;
    c.created_at = now;
    OHSM_TRY(ohsm_meta_cluster_add(m, &c));
    for (size_t i = 0; i < n; i++) {
        memset(&h, 0, sizeof(h));
        memcpy(h.id, hids[i], strlen(hids[i]) + 1);
        memcpy(h.cluster_id, cid, strlen(cid) + 1);
        h.seq = (uint32_t)i;
        memcpy(h.host, "127.0.0.1", sizeof("127.0.0.1"));
        h.port = ports[i];
        h.state = OHSM_HS_ACTIVE;
        h.created_at = now;
        OHSM_TRY(ohsm_meta_hsm_add(m, &h));
    }
    return OHSM_OK;
}

ohsm_rv ohsm_provision_cluster(struct ohsm_meta *m, const char *data_dir, uint32_t n_hsms,
                               uint32_t lockout, char *cid_out, char *err, size_t err_cap)
{
    ohsm_rv rv = OHSM_OK;
    char cid[OHSM_IDS_MAX];
    char hids[OHSM_ARGS_HSMS_MAX][OHSM_IDS_MAX];
    char cdir[4096], pdir[4096], path[4096];
    uint16_t ports[OHSM_ARGS_HSMS_MAX];
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL;
    bool made_dir = false, made_pdir = false, in_tx = false;
    const int64_t now = (int64_t)time(NULL);

    ohsm_errf(err, err_cap, "%s", "");
    OHSM_ENSURE(m != NULL && data_dir != NULL && cid_out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(n_hsms >= 1 && n_hsms <= OHSM_ARGS_HSMS_MAX, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(lockout >= 1 && lockout <= OHSM_ARGS_LOCKOUT_MAX, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_ids_make(OHSM_IDS_CLUSTER_PREFIX, cid, sizeof(cid)));
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/clusters", data_dir));
    OHSM_TRY(ohsm_provision_cluster_dir(data_dir, cid, cdir, sizeof(cdir)));
    if (ohsm_files_mkdir(path) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot create %s: %s", path, strerror(errno));
        return OHSM_IO;
    }
    /* A new directory, never an existing one: the id is fresh, so EEXIST means something odd. */
    if (mkdir(cdir, 0700) != 0) {
        ohsm_errf(err, err_cap, "cannot create %s: %s", cdir, strerror(errno));
        return OHSM_IO;
    }
    made_dir = true;
    if ((rv = ohsm_files_path(path, sizeof(path), "%s/hsms", cdir)) != OHSM_OK ||
        (rv = ohsm_files_mkdir(path)) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    rv = make_private_dir(data_dir, cid, pdir, sizeof(pdir), err, err_cap);
    if (rv != OHSM_OK) {
        goto out;
    }
    made_pdir = true;
    rv = make_ca(cdir, pdir, cid, &ca_key, &ca, err, err_cap);
    if (rv != OHSM_OK) {
        goto out;
    }
    for (size_t i = 0; i < n_hsms; i++) {
        if ((rv = new_hsm_id(hids, i)) != OHSM_OK ||
            (rv = make_hsm(data_dir, cid, hids[i], ca, ca_key, err, err_cap)) != OHSM_OK) {
            goto out;
        }
    }
    rv = write_au_secret(cdir);
    if (rv != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot write %s/app_user.secret: %s", cdir, strerror(errno));
        goto out;
    }
    rv = ohsm_provision_masking_key(cdir);
    if (rv != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot write %s/" OHSM_PROVISION_MASKING_KEY ": %s", cdir,
                  strerror(errno));
        goto out;
    }
    rv = ohsm_meta_begin(m);
    if (rv != OHSM_OK) {
        ohsm_errf(err, err_cap, "metadata: %s", ohsm_meta_errstr(m));
        goto out;
    }
    in_tx = true;
    rv = pick_ports(m, ports, n_hsms);
    if (rv != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot find %u free TCP ports on 127.0.0.1", n_hsms);
        goto out;
    }
    if ((rv = add_rows(m, cid, lockout, hids, ports, n_hsms, now)) != OHSM_OK ||
        (rv = ohsm_meta_commit(m)) != OHSM_OK) {
        ohsm_errf(err, err_cap, "metadata: %s", ohsm_meta_errstr(m));
        goto out;
    }
    in_tx = false;
    memcpy(cid_out, cid, sizeof(cid));
out:
    if (in_tx) {
        ohsm_meta_rollback(m);
    }
    if (rv != OHSM_OK && made_dir) {
        /* Best effort: the metadata never named this directory, so a leftover is inert. */
        ohsm_rv rm = ohsm_files_remove_tree(cdir);
        (void)rm;
    }
    if (rv != OHSM_OK && made_pdir) {
        ohsm_rv rm = ohsm_files_remove_tree(pdir);
        (void)rm;
    }
    EVP_PKEY_free(ca_key);
    X509_free(ca);
    return rv;
}

ohsm_rv ohsm_provision_client_json(struct ohsm_meta *m, const char *data_dir, const char *cid,
                                   char *path_out, size_t cap)
{
    ohsm_rv rv = OHSM_HOST_MEMORY;
    char cdir[4096], path[4096];
    struct ohsm_meta_hsm *hs = NULL;
    size_t n = 0;
    json_t *root = NULL, *arr = NULL;
    char *text = NULL;

    OHSM_ENSURE(m != NULL && data_dir != NULL && cid != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_provision_cluster_dir(data_dir, cid, cdir, sizeof(cdir)));
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/client.json", cdir));
    OHSM_TRY(ohsm_meta_hsm_list(m, cid, &hs, &n));
    arr = json_array();
    if (arr == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        /* Only HSMs that run: one being created or deleted is not there to be reached. */
        if (hs[i].state != OHSM_HS_ACTIVE && hs[i].state != OHSM_HS_DEGRADED) {
            continue;
        }
        json_t *h = json_pack("{s:s, s:s, s:i}", "id", hs[i].id, "host", hs[i].host, "port",
                              (int)hs[i].port);
        if (h == NULL || json_array_append_new(arr, h) != 0) {
            goto out;
        }
    }
    /* Keys in this order (jansson keeps insertion order): the shape the client and docs show. */
    root = json_pack("{s:s, s:s, s:i, s:O}", "cluster_id", cid, "trust_anchor",
                     OHSM_PROVISION_TRUST_ANCHOR, "timeout_ms", OHSM_PROVISION_TIMEOUT_MS, "hsms",
                     arr);
    text = root != NULL ? json_dumps(root, JSON_INDENT(2)) : NULL;
    if (text == NULL) {
        goto out;
    }
    size_t len = strlen(text);
    char *nl = realloc(text, len + 2);
    if (nl == NULL) {
        goto out;
    }
    text = nl;
    text[len] = '\n';
    text[len + 1] = '\0';
    rv = ohsm_files_write_atomic(path, text, len + 1, 0644);
    if (rv == OHSM_OK && path_out != NULL) {
        rv = ohsm_files_path(path_out, cap, "%s", path);
    }
out:
    free(text);
    json_decref(root);
    json_decref(arr);
    free(hs);
    return rv;
}

ohsm_rv ohsm_provision_pick_port(struct ohsm_meta *m, uint16_t *port)
{
    OHSM_ENSURE(m != NULL && port != NULL, OHSM_ARGUMENTS_BAD);
    return pick_ports(m, port, 1);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

ohsm_rv ohsm_provision_cluster_files(const char *data_dir, const char *cid, bool local_ca,
                                     char *err, size_t err_cap)
{
    char cdir[4096], pdir[4096], path[4096], crt[4096], key[4096];
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL;
    ohsm_rv rv;

    ohsm_errf(err, err_cap, "%s", "");
    OHSM_ENSURE(data_dir != NULL && cid != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/clusters", data_dir));
    OHSM_TRY(ohsm_provision_cluster_dir(data_dir, cid, cdir, sizeof(cdir)));
    if (ohsm_files_mkdir(path) != OHSM_OK || ohsm_files_mkdir(cdir) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot create %s: %s", cdir, strerror(errno));
        return OHSM_IO;
    }
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/hsms", cdir));
    if (ohsm_files_mkdir(path) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot create %s: %s", path, strerror(errno));
        return OHSM_IO;
    }
    OHSM_TRY(make_private_dir(data_dir, cid, pdir, sizeof(pdir), err, err_cap));
    OHSM_TRY(ohsm_files_path(crt, sizeof(crt), "%s/" OHSM_PROVISION_TRUST_ANCHOR, cdir));
    OHSM_TRY(ohsm_files_path(key, sizeof(key), "%s/" OHSM_PROVISION_CA_KEY, pdir));
    if (local_ca && (!exists(crt) || !exists(key))) {
        /* A crash between the two writes: neither half is usable alone. */
        (void)unlink(crt);
        (void)unlink(key);
        rv = make_ca(cdir, pdir, cid, &ca_key, &ca, err, err_cap);
        EVP_PKEY_free(ca_key);
        X509_free(ca);
        OHSM_TRY(rv);
    }
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/app_user.secret", cdir));
    if (!exists(path) && write_au_secret(cdir) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot write %s: %s", path, strerror(errno));
        return OHSM_IO;
    }
    if (ohsm_provision_masking_key(cdir) != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot write %s/" OHSM_PROVISION_MASKING_KEY ": %s", cdir,
                  strerror(errno));
        return OHSM_IO;
    }
    ohsm_files_sync_dir(cdir);
    return OHSM_OK;
}

/* Reads the cluster CA (certificate and key) back from its files. */
static ohsm_rv load_ca(const char *data_dir, const char *cid, X509 **ca, EVP_PKEY **key)
{
    char cdir[4096], pdir[4096], path[4096];
    FILE *f = NULL;

    OHSM_TRY(ohsm_provision_cluster_dir(data_dir, cid, cdir, sizeof(cdir)));
    OHSM_TRY(ohsm_provision_private_dir(data_dir, cid, pdir, sizeof(pdir)));
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/" OHSM_PROVISION_TRUST_ANCHOR, cdir));
    f = fopen(path, "re");
    OHSM_ENSURE(f != NULL, OHSM_IO);
    *ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    OHSM_ENSURE(*ca != NULL, OHSM_IO);
    OHSM_TRY(ohsm_files_path(path, sizeof(path), "%s/" OHSM_PROVISION_CA_KEY, pdir));
    f = fopen(path, "re");
    OHSM_ENSURE(f != NULL, OHSM_IO);
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    OHSM_ENSURE(*key != NULL, OHSM_IO);
    return OHSM_OK;
}

ohsm_rv ohsm_provision_hsm_files(const char *data_dir, const char *cid, const char *hid,
                                 char *err, size_t err_cap)
{
    char hdir[4096], crt[4096], key[4096];
    X509 *ca = NULL;
    EVP_PKEY *ca_key = NULL;
    ohsm_rv rv;

    ohsm_errf(err, err_cap, "%s", "");
    OHSM_ENSURE(data_dir != NULL && cid != NULL && hid != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_provision_hsm_dir(data_dir, cid, hid, hdir, sizeof(hdir)));
    OHSM_TRY(ohsm_files_path(crt, sizeof(crt), "%s/hsm.crt", hdir));
    OHSM_TRY(ohsm_files_path(key, sizeof(key), "%s/hsm.key", hdir));
    if (exists(crt) && exists(key)) {
        return OHSM_OK;
    }
    (void)unlink(crt);
    (void)unlink(key);
    rv = load_ca(data_dir, cid, &ca, &ca_key);
    if (rv != OHSM_OK) {
        ohsm_errf(err, err_cap, "cannot read the CA of %s", cid);
    } else {
        rv = make_hsm(data_dir, cid, hid, ca, ca_key, err, err_cap);
    }
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rv;
}
