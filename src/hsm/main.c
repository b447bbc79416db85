/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-hsm: one HSM. Parses its command line (untrusted text: numbers via strtoull with range
 * checks), opens its store (creating it with the new-cluster users on first start), loads the
 * cluster masking key (refusing one that is not its cluster's) and opens every stored object with
 * it, sets up TLS 1.3, listens, and serves until SIGTERM/SIGINT. On stop it takes the store lock
 * before closing, so no transaction is cut in half (SQLite's WAL makes even a kill -9 safe).
 *
 * The masking key file holds exactly 32 bytes and must not be accessible to group or others.
 * Without --masking-key the HSM keeps its own next to its database ("<db>.mask"), created on
 * first start (O_EXCL|O_NOFOLLOW, 0600).
 *
 * MFA and quorum tokens live --token-lifetime seconds (else OPENHSM_TOKEN_LIFETIME from the
 * environment, so that openhsmd's HSMs inherit it; else OHSM_TOKEN_LIFETIME_DEFAULT).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "hsm/auditlog.h"
#include "hsm/hsm.h"
#include "openhsm/token.h"
#include "openhsm/user.h"

#define OHSM_HSM_ID_TOKEN_MAX OHSM_APPROVAL_HSM_ID_MAX /* approval records name their HSM */

/* Self-pipe for signals (the only mutable global; written from the handler with write(2)). */
static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t n = write(stop_pipe[1], "x", 1);
    (void)n;
    errno = saved;
}

#define UNAUTH_MAX 65536 /* --max-unauth and --max-unauth-per-source */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: openhsm-hsm --db FILE --cert PEM --key PEM [--listen 127.0.0.1:PORT]\n"
            "                   [--hsm-id ID] [--cluster-id ID] [--lockout-attempts N]\n"
            "                   [--au-password-file FILE] [--max-sessions N]\n"
            "                   [--masking-key FILE] [--slot 0..31]\n"
            "                   [--token-lifetime SECONDS]\n"
            "                   [--max-unauth N] [--max-unauth-per-source N]\n"
            "  --token-lifetime  lifetime of MFA and quorum tokens, 1..%u seconds (default %u;\n"
            "                    else from the environment variable OPENHSM_TOKEN_LIFETIME)\n"
            "  --max-sessions    logged-in sessions, 1..%u (default %u)\n"
            "  --max-unauth      connections without a login, 1..%u (default %u); past it, or\n"
            "                    past --max-unauth-per-source from one address (default %u), the\n"
            "                    least recently active of them is closed for the newcomer\n",
            OHSM_TOKEN_LIFETIME_MAX, OHSM_TOKEN_LIFETIME_DEFAULT, OHSM_HSM_MAX_SESSIONS,
            OHSM_HSM_DEFAULT_SESSIONS, UNAUTH_MAX, OHSM_HSM_DEFAULT_UNAUTH,
            OHSM_HSM_DEFAULT_UNAUTH_PER_SOURCE);
}

static int parse_u32(const char *s, unsigned long long lo, unsigned long long hi, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    if (s == NULL || *s == '\0' || *s == '-') {
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

struct opts {
    const char *db, *cert, *key, *listen, *hsm_id, *cluster_id, *au_file, *mask_file;
    uint32_t lockout, max_sessions, slot;
    uint32_t token_lifetime;    /* 0: not given */
    uint32_t unauth;            /* --max-unauth; 0: not given */
    uint32_t unauth_per_source; /* 0: not given */
};

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"db", required_argument, NULL, 'd'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"listen", required_argument, NULL, 'l'},
        {"hsm-id", required_argument, NULL, 'i'},
        {"cluster-id", required_argument, NULL, 'C'},
        {"lockout-attempts", required_argument, NULL, 'L'},
        {"au-password-file", required_argument, NULL, 'a'},
        {"max-sessions", required_argument, NULL, 's'},
        {"masking-key", required_argument, NULL, 'm'},
        {"slot", required_argument, NULL, 'S'},
        {"token-lifetime", required_argument, NULL, 'T'},
        {"max-unauth", required_argument, NULL, 'U'},
        {"max-unauth-per-source", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'd':
            o->db = optarg;
            break;
        case 'c':
            o->cert = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'i':
            o->hsm_id = optarg;
            break;
        case 'C':
            o->cluster_id = optarg;
            break;
        case 'a':
            o->au_file = optarg;
            break;
        case 'm':
            o->mask_file = optarg;
            break;
        case 'S':
            if (parse_u32(optarg, 0, OHSM_SLOT_MAX, &o->slot) != 0) {
                fprintf(stderr, "openhsm-hsm: --slot must be 0..%u\n", OHSM_SLOT_MAX);
                return -1;
            }
            break;
        case 'T':
            if (parse_u32(optarg, 1, OHSM_TOKEN_LIFETIME_MAX, &o->token_lifetime) != 0) {
                fprintf(stderr, "openhsm-hsm: --token-lifetime must be 1..%u seconds\n",
                        OHSM_TOKEN_LIFETIME_MAX);
                return -1;
            }
            break;
        case 'L':
            if (parse_u32(optarg, 1, 100, &o->lockout) != 0) {
                fprintf(stderr, "openhsm-hsm: --lockout-attempts must be 1..100\n");
                return -1;
            }
            break;
        case 's':
            if (parse_u32(optarg, 1, OHSM_HSM_MAX_SESSIONS, &o->max_sessions) != 0) {
                fprintf(stderr, "openhsm-hsm: --max-sessions must be 1..%u\n",
                        OHSM_HSM_MAX_SESSIONS);
                return -1;
            }
            break;
        case 'U':
            if (parse_u32(optarg, 1, UNAUTH_MAX, &o->unauth) != 0) {
                fprintf(stderr, "openhsm-hsm: --max-unauth must be 1..%u\n", UNAUTH_MAX);
                return -1;
            }
            break;
        case 'P':
            if (parse_u32(optarg, 1, UNAUTH_MAX, &o->unauth_per_source) != 0) {
                fprintf(stderr, "openhsm-hsm: --max-unauth-per-source must be 1..%u\n", UNAUTH_MAX);
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || o->db == NULL || o->cert == NULL || o->key == NULL) {
        usage(stderr);
        return -1;
    }
    /* Not given: the defaults, the per-source one no larger than the total. */
    if (o->unauth == 0) {
        o->unauth = OHSM_HSM_DEFAULT_UNAUTH;
    }
    if (o->unauth_per_source == 0) {
        o->unauth_per_source = o->unauth < OHSM_HSM_DEFAULT_UNAUTH_PER_SOURCE
                                   ? o->unauth
                                   : OHSM_HSM_DEFAULT_UNAUTH_PER_SOURCE;
    }
    if (o->unauth_per_source > o->unauth) {
        fprintf(stderr, "openhsm-hsm: --max-unauth-per-source must not exceed --max-unauth (%u)\n",
                o->unauth);
        return -1;
    }
    /* The flag wins over the environment; a bad value in either is an error, not a default. */
    const char *env = getenv("OPENHSM_TOKEN_LIFETIME");
    if (o->token_lifetime == 0 && env != NULL &&
        parse_u32(env, 1, OHSM_TOKEN_LIFETIME_MAX, &o->token_lifetime) != 0) {
        fprintf(stderr, "openhsm-hsm: OPENHSM_TOKEN_LIFETIME must be 1..%u seconds\n",
                OHSM_TOKEN_LIFETIME_MAX);
        return -1;
    }
    if (o->token_lifetime == 0) {
        o->token_lifetime = OHSM_TOKEN_LIFETIME_DEFAULT;
    }
    return 0;
}

/* Reads the appliance user's password (first line of a file) into a secret. */
static ohsm_rv read_secret_file(const char *path, struct ohsm_secret **out)
{
    char buf[OHSM_PASSWORD_MAX + 2];
    ohsm_rv rv = OHSM_CONFIG;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return OHSM_CONFIG;
    }
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n > 0) {
        size_t len = (size_t)n;
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
            len--;
        }
        if (ohsm_password_check(buf, len) == OHSM_OK) {
            rv = ohsm_secret_new(buf, len, out);
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rv;
}

/* Creates a new masking-key file with 32 random bytes; fails if the file exists. */
static int mask_create(const char *path)
{
    uint8_t mk[OHSM_MASKING_KEY_LEN];
    int rc = -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -1;
    }
    if (RAND_priv_bytes(mk, sizeof(mk)) == 1 && write(fd, mk, sizeof(mk)) == (ssize_t)sizeof(mk) &&
        fsync(fd) == 0) {
        rc = 0;
    }
    OPENSSL_cleanse(mk, sizeof(mk));
    if (close(fd) != 0 || rc != 0) {
        (void)unlink(path);
        return -1;
    }
    return 0;
}

/* Reads the masking key: a regular file of exactly 32 bytes, no access for group or others.
 * Prints why not on failure. */
static ohsm_rv mask_load(const char *path, struct ohsm_mask_key **out)
{
    uint8_t buf[OHSM_MASKING_KEY_LEN + 1];
    struct stat st;
    ohsm_rv rv = OHSM_CONFIG;
    ssize_t n = -1;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "openhsm-hsm: cannot open masking key %s: %s\n", path, strerror(errno));
        return OHSM_CONFIG;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "openhsm-hsm: masking key %s is not a regular file\n", path);
    } else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        fprintf(stderr,
                "openhsm-hsm: masking key %s is accessible by group or others (chmod 600 it)\n",
                path);
    } else if ((n = read(fd, buf, sizeof(buf))) != OHSM_MASKING_KEY_LEN) {
        fprintf(stderr, "openhsm-hsm: masking key %s must hold exactly %d bytes\n", path,
                OHSM_MASKING_KEY_LEN);
    } else {
        rv = ohsm_mask_key_new(buf, out);
    }
    close(fd);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rv;
}

/* Opens the audit log next to the database ("<db>.audit") in a new boot (the store's reboot
 * counter, one more than at the last start). */
static ohsm_rv audit_setup(struct ohsm_hsm *h, const struct opts *o)
{
    char path[4096];
    uint32_t reboot = 0;
    int n = snprintf(path, sizeof(path), "%s.audit", o->db);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "openhsm-hsm: database path too long\n");
        return OHSM_CONFIG;
    }
    ohsm_rv rv = ohsm_store_reboot_next(h->store, &reboot);
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsm-hsm: cannot count this start in %s: %s\n", o->db, ohsm_rv_str(rv));
        return rv;
    }
    rv = ohsm_auditlog_open(path, h->meta.hsm_id, reboot, &h->audit);
    if (rv != OHSM_OK) {
        fprintf(stderr, "openhsm-hsm: cannot open audit log %s: %s\n", path, ohsm_rv_str(rv));
    }
    return rv;
}

/* Loads (or, without --masking-key, creates on first start) the masking key, and checks it is the
 * key this HSM's objects were sealed with: its fingerprint is recorded at first start. */
static ohsm_rv mask_setup(struct ohsm_hsm *h, const struct opts *o)
{
    char own[4096];
    const char *path = o->mask_file;
    uint8_t fp[8];
    uint8_t have[8];
    bool present = false;

    if (path == NULL) {
        int n = snprintf(own, sizeof(own), "%s.mask", o->db);
        if (n < 0 || (size_t)n >= sizeof(own)) {
            fprintf(stderr, "openhsm-hsm: database path too long\n");
            return OHSM_CONFIG;
        }
        path = own;
        if (access(path, F_OK) != 0 && mask_create(path) != 0) {
            fprintf(stderr, "openhsm-hsm: cannot create masking key %s: %s\n", path,
                    strerror(errno));
            return OHSM_CONFIG;
        }
    }
    OHSM_TRY(mask_load(path, &h->mk));
    ohsm_mask_key_fingerprint(h->mk, fp);
    OHSM_TRY(ohsm_store_mask_fp(h->store, have, &present));
    if (!present) {
        return ohsm_store_set_mask_fp(h->store, fp);
    }
    if (CRYPTO_memcmp(fp, have, sizeof(fp)) != 0) {
        fprintf(stderr, "openhsm-hsm: masking key %s does not belong to this HSM's cluster\n",
                path);
        return OHSM_CONFIG;
    }
    return OHSM_OK;
}

static int listen_on(const char *spec, char *host, size_t host_cap, uint16_t *port_out)
{
    uint32_t port = 0;
    const char *colon = strrchr(spec, ':');
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    if (colon == NULL || (size_t)(colon - spec) >= host_cap ||
        parse_u32(colon + 1, 0, 65535, &port) != 0) {
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port_out = ntohs(a.sin_port);
    return fd;
}

static SSL_CTX *tls_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    (void)SSL_CTX_set_num_tickets(ctx, 0);
    return ctx;
}

/* Every connection thread holds one descriptor: make sure the soft limit has room for all of
 * them (and the store, log and listener) when the hard limit allows. */
static void raise_nofile(uint32_t threads)
{
    struct rlimit r;
    rlim_t want = (rlim_t)threads + 64;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= want) {
        return;
    }
    r.rlim_cur = r.rlim_max != RLIM_INFINITY && r.rlim_max < want ? r.rlim_max : want;
    (void)setrlimit(RLIMIT_NOFILE, &r);
}

int main(int argc, char **argv)
{
    struct opts o = {.listen = "127.0.0.1:0",
                     .hsm_id = "hsm-local",
                     .cluster_id = "cluster-local",
                     .lockout = OHSM_LOCKOUT_DEFAULT,
                     .max_sessions = OHSM_HSM_DEFAULT_SESSIONS};
    struct ohsm_hsm h;
    struct ohsm_secret *au = NULL;
    struct rlimit nocore = {0, 0};
    struct sigaction sa;
    uint16_t port = 0;
    size_t skipped = 0;
    char host[64] = "";
    int lfd = -1;
    int status = 1;
    ohsm_rv rv;

    (void)setrlimit(RLIMIT_CORE, &nocore); /* keys and passwords must not reach a core file */
    if (parse_args(argc, argv, &o) != 0) {
        return 2;
    }
    memset(&h, 0, sizeof(h));
    (void)pthread_mutex_init(&h.lock, NULL);
    h.cost = ohsm_pwhash_default;
    h.max_sessions = o.max_sessions;
    h.unauth_max = o.unauth;
    h.unauth_per_source = o.unauth_per_source;
    raise_nofile(ohsm_hsm_thread_cap(&h));
    h.slot = o.slot;
    h.token_lifetime = o.token_lifetime;
    if (o.au_file != NULL && read_secret_file(o.au_file, &au) != OHSM_OK) {
        fprintf(stderr, "openhsm-hsm: cannot read a 7..32 character password from %s\n", o.au_file);
        return 1;
    }
    struct ohsm_store_init init = {o.cluster_id,
                                   o.hsm_id,
                                   o.lockout,
                                   au != NULL ? ohsm_secret_data(au) : NULL,
                                   au != NULL ? ohsm_secret_len(au) : 0,
                                   &h.cost};
    rv = ohsm_store_open(o.db, &init, &h.store);
    ohsm_secret_free(au);
    if (rv != OHSM_OK || (rv = ohsm_store_meta(h.store, &h.meta)) != OHSM_OK) {
        fprintf(stderr, "openhsm-hsm: cannot open store %s: %s\n", o.db, ohsm_rv_str(rv));
        goto out;
    }
    /* Approval records name their HSM in at most 15 characters (include/openhsm/token.h). */
    if (strlen(h.meta.hsm_id) > OHSM_HSM_ID_TOKEN_MAX) {
        fprintf(stderr, "openhsm-hsm: HSM id %s is longer than %d characters\n", h.meta.hsm_id,
                OHSM_HSM_ID_TOKEN_MAX);
        goto out;
    }
    if (mask_setup(&h, &o) != OHSM_OK) {
        goto out;
    }
    if ((rv = ohsm_hsm_load(&h, &skipped)) != OHSM_OK) {
        fprintf(stderr, "openhsm-hsm: cannot load objects from %s: %s\n", o.db, ohsm_rv_str(rv));
        goto out;
    }
    if (skipped > 0) {
        fprintf(stderr, "openhsm-hsm: %zu stored objects do not open and were skipped\n", skipped);
    }
    if (audit_setup(&h, &o) != OHSM_OK) {
        goto out;
    }
    h.tls = tls_ctx(o.cert, o.key);
    if (h.tls == NULL) {
        fprintf(stderr, "openhsm-hsm: cannot load TLS certificate %s / key %s\n", o.cert, o.key);
        goto out;
    }
    lfd = listen_on(o.listen, host, sizeof(host), &port);
    if (lfd < 0) {
        fprintf(stderr, "openhsm-hsm: cannot listen on %s: %s\n", o.listen, strerror(errno));
        goto out;
    }
    if (pipe2(stop_pipe, O_CLOEXEC) != 0) {
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGTERM, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)signal(SIGPIPE, SIG_IGN);
    fprintf(stderr,
            "openhsm-hsm: %s of %s listening on %s:%u (slot %u, %zu objects, lockout after %u "
            "failed logins, tokens live %u s)\n",
            h.meta.hsm_id, h.meta.cluster_id, host, port, h.slot, ohsm_objtab_count(h.objs),
            h.meta.lockout_attempts, h.token_lifetime);
    fflush(stderr);
    rv = ohsm_hsm_serve(&h, lfd, stop_pipe[0]);
    status = rv == OHSM_OK ? 0 : 1;
    fprintf(stderr, "openhsm-hsm: %s stopping\n", h.meta.hsm_id);
out:
    if (lfd >= 0) {
        close(lfd);
    }
    /* Session threads are detached; holding the lock means none is inside the store. */
    (void)pthread_mutex_lock(&h.lock);
    ohsm_auditlog_flush(h.audit); /* records waiting in memory (session keys) */
    ohsm_store_close(h.store);
    SSL_CTX_free(h.tls);
    /* The object table and masking key are not freed: detached session threads may still hold
     * references. Memory goes with the process (no core dumps: RLIMIT_CORE is 0). */
    _exit(status);
}
