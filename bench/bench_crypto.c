/* SPDX-License-Identifier: Apache-2.0
 *
 * bench_crypto: measures cryptography through libopenhsm against a running cluster, for the
 * bench/crypto runner (which starts the cluster and compares with `openssl speed`). As a crypto
 * user (OHSM_BENCH_PIN=user:password), it generates an RSA-2048 pair, an EC P-256 pair and an
 * AES-256 key (token keys, so every HSM has them), checks once that each operation really works
 * (a signature verifies, a GCM ciphertext decrypts to its plaintext), then for each operation,
 * each thread count and each mode runs for the given seconds and prints one line:
 *
 *   RESULT op=rsa2048 mode=batch threads=2 ops=12345 seconds=3.001 rate=4113.6 errors=0
 *
 * Operations: rsa2048 (PKCS#1 v1.5 signature over a SHA-256 digest), ecdsap256 (ECDSA over a
 * SHA-256 digest), aes256gcm (AES-256-GCM encryption of 1 KiB, IV made by the HSM), the work
 * `openssl speed rsa2048 / ecdsap256 / -evp aes-256-gcm -bytes 1024` does. Modes: single (one
 * call at a time) and batch (ohsm_client_batch with a window of requests in flight per HSM).
 * Each thread has its own client and login. Only operations that succeeded are counted; errors
 * are counted apart and the first one is named. Trusts its command line and the environment as
 * the operator's; prints no secret.
 *
 * Also the floor every single call stands on, measured in the same run: a plain TCP ping-pong
 * (loopback, TCP_NODELAY on both ends) between this process and a forked child, PINGPONG_LEN
 * bytes each way, one round trip at a time:
 *
 *   RESULT op=pingpong mode=single threads=1 ops=123456 seconds=3.000 rate=41152.0 errors=0
 *
 * The peer stays up for the whole run: a single-call run with one thread alternates
 * PAIRED_ROUNDS slices of calls with as many ping-pong slices (together the given seconds each)
 * and adds the ping-pong's time per round trip in those slices to its line (rtt_us=29.85), the
 * figure its target is computed from: the machine drifts, and a floor measured a minute earlier
 * says little about the calls of now.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "openhsm/client.h"

#define MAX_THREADS 64
#define MSG_LEN 1024  /* aes256gcm payload, as openssl speed -bytes 1024 */
#define DIGEST_LEN 32 /* SHA-256 */
#define OUT_CAP 2048  /* room for any signature here, or 1 KiB + GCM tag */
#define PIN_ENV "OHSM_BENCH_PIN"
#define PINGPONG_LEN 64  /* bytes each way, about the size of a small request */
#define PAIRED_ROUNDS 10 /* ping-pong/call slice pairs of a single-call run */

enum op { OP_RSA, OP_EC, OP_AES, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"rsa2048", "ecdsap256", "aes256gcm"};

struct keys {
    uint64_t rsa_priv, rsa_pub, ec_priv, ec_pub, aes;
};

/* What every thread of one run shares (read-only while it runs, except `ready`). */
struct run {
    const struct ohsm_cfg *cfg;
    const char *user, *pw;
    enum op op;
    bool batch;
    size_t window;
    double seconds;
    const struct keys *keys;
    struct pingpong *pp; /* single calls, one thread: alternate with ping-pong slices */
    struct tlspong *tp;  /* and with TLS ping-pong slices, when there is a TLS peer */
    pthread_barrier_t start;
};

struct worker {
    struct run *run;
    pthread_t tid;
    uint64_t ops, errors;
    ohsm_rv first_err;
    double elapsed;
    uint64_t pp_ops, tls_ops; /* paired ping-pong round trips and their time */
    double pp_elapsed, tls_elapsed;
    ohsm_rv setup_rv; /* login failed: the run is void */
};

static double now_s(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, ohsm_rv rv)
{
    (void)fprintf(stderr, "bench_crypto: %s: %s (%s)\n", what, ohsm_rv_str(rv), ohsm_rv_name(rv));
    exit(1);
}

/* ---- plain TCP ping-pong ---- */

static bool io_full(int fd, uint8_t *p, size_t n, bool wr)
{
    while (n > 0) {
        ssize_t k = wr ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static void nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The child: echoes every message until the parent closes. */
static void echo_child(int lfd)
{
    uint8_t m[PINGPONG_LEN];
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0) {
        nodelay(fd);
        while (io_full(fd, m, sizeof(m), false) && io_full(fd, m, sizeof(m), true)) {
        }
        close(fd);
    }
    _exit(0);
}

/* The echo peer: a forked process and the connection to it, alive for the whole run so that
 * ping-pong slices can alternate with the single-call slices they are compared with. */
struct pingpong {
    pid_t pid;
    int fd;
};

/* Forks a peer that runs child(listening socket) and returns a connection to it (TCP_NODELAY). */
static int fork_peer(void (*child)(int lfd), const char *what, pid_t *pid)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0) {
        die(what, OHSM_IO);
    }
    (void)fflush(stdout);
    *pid = fork();
    if (*pid < 0) {
        die(what, OHSM_HOST_MEMORY);
    }
    if (*pid == 0) {
        child(lfd);
    }
    close(lfd);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        die(what, OHSM_IO);
    }
    nodelay(fd);
    return fd;
}

static void pp_open(struct pingpong *pp)
{
    pp->fd = fork_peer(echo_child, "ping-pong peer", &pp->pid);
}

static void pp_close(struct pingpong *pp)
{
    if (pp->fd >= 0) {
        close(pp->fd); /* the child's recv ends, it exits */
        (void)waitpid(pp->pid, NULL, 0);
        pp->fd = -1;
    }
}

/* Round trips of PINGPONG_LEN bytes for `seconds`; adds to *ops and *elapsed. */
static void pp_slice(struct pingpong *pp, double seconds, uint64_t *ops, double *elapsed)
{
    uint8_t m[PINGPONG_LEN];
    memset(m, 0x5a, sizeof(m));
    double t0 = now_s(), end = t0 + seconds, t = t0;
    while (t < end) {
        if (!io_full(pp->fd, m, sizeof(m), true) || !io_full(pp->fd, m, sizeof(m), false)) {
            die("ping-pong", OHSM_IO);
        }
        (*ops)++;
        t = now_s();
    }
    *elapsed += t - t0;
}

static void pp_result(uint64_t ops, double elapsed)
{
    (void)printf("RESULT op=pingpong mode=single threads=1 ops=%" PRIu64 " seconds=%.3f rate=%.1f "
                 "errors=0\n",
                 ops, elapsed, elapsed > 0 ? (double)ops / elapsed : 0.0);
    (void)fflush(stdout);
}

/* ---- TLS ping-pong ---- */

/* The same exchange over TLS 1.3 (OpenSSL's defaults, as between libopenhsm and an HSM, read-ahead
 * on both ends): a frame of a 4-byte length and that many bytes each way, echoed by a forked
 * process with a throwaway self-signed P-256 certificate. The floor of any request/response over
 * TLS with that payload: what a call costs beyond it is the stack's own (protobuf, dispatch,
 * locks, the operation). */
struct tlspong {
    pid_t pid;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
};

static bool tls_io(SSL *ssl, uint8_t *p, size_t n, bool wr)
{
    while (n > 0) {
        size_t k = 0;
        if ((wr ? SSL_write_ex(ssl, p, n, &k) : SSL_read_ex(ssl, p, n, &k)) != 1) {
            return false;
        }
        p += k;
        n -= k;
    }
    return true;
}

static SSL_CTX *tls_echo_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = x == NULL ? NULL : X509_get_subject_name(x);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    bool ok = key != NULL && name != NULL && ctx != NULL &&
              X509_set_version(x, X509_VERSION_3) == 1 &&
              ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
              X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
              X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"bench",
                                         -1, -1, 0) == 1 &&
              X509_set_issuer_name(x, name) == 1 && X509_set_pubkey(x, key) == 1 &&
              X509_sign(x, key, EVP_sha256()) > 0 &&
              SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
              SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    X509_free(x);
    EVP_PKEY_free(key);
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
}

/* The child: echoes every frame until the parent closes. */
static void tls_echo_child(int lfd)
{
    static uint8_t m[4 + MSG_LEN];
    SSL_CTX *ctx = tls_echo_ctx();
    int fd = accept(lfd, NULL, NULL);
    SSL *ssl = ctx == NULL || fd < 0 ? NULL : SSL_new(ctx);
    if (ssl != NULL && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
        nodelay(fd);
        for (;;) {
            if (!tls_io(ssl, m, 4, false)) {
                break;
            }
            uint32_t n = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 | (uint32_t)m[2] << 8 | m[3];
            if (n > MSG_LEN || !tls_io(ssl, m + 4, n, false) || !tls_io(ssl, m, 4 + n, true)) {
                break;
            }
        }
    }
    _exit(0);
}

static void tls_open(struct tlspong *tp)
{
    tp->fd = fork_peer(tls_echo_child, "TLS ping-pong peer", &tp->pid);
    tp->ctx = SSL_CTX_new(TLS_client_method());
    if (tp->ctx == NULL || SSL_CTX_set_min_proto_version(tp->ctx, TLS1_3_VERSION) != 1) {
        die("TLS ping-pong context", OHSM_TLS);
    }
    SSL_CTX_set_read_ahead(tp->ctx, 1);
    SSL_CTX_set_verify(tp->ctx, SSL_VERIFY_NONE, NULL); /* a throwaway peer of this process's */
    tp->ssl = SSL_new(tp->ctx);
    if (tp->ssl == NULL || SSL_set_fd(tp->ssl, tp->fd) != 1 || SSL_connect(tp->ssl) != 1) {
        die("TLS ping-pong handshake", OHSM_TLS);
    }
}

static void tls_close(struct tlspong *tp)
{
    if (tp->fd >= 0) {
        SSL_free(tp->ssl);
        SSL_CTX_free(tp->ctx);
        close(tp->fd);
        (void)waitpid(tp->pid, NULL, 0);
        tp->fd = -1;
    }
}

/* Round trips of frames with n payload bytes (n <= MSG_LEN) for `seconds`. */
static void tls_slice(struct tlspong *tp, size_t n, double seconds, uint64_t *ops, double *elapsed)
{
    uint8_t m[4 + MSG_LEN];
    memset(m, 0x5a, sizeof(m));
    m[0] = 0;
    m[1] = 0;
    m[2] = (uint8_t)(n >> 8);
    m[3] = (uint8_t)n;
    double t0 = now_s(), end = t0 + seconds, t = t0;
    while (t < end) {
        if (!tls_io(tp->ssl, m, 4 + n, true) || !tls_io(tp->ssl, m, 4 + n, false)) {
            die("TLS ping-pong", OHSM_IO);
        }
        (*ops)++;
        t = now_s();
    }
    *elapsed += t - t0;
}

/* A logged-in client of its own. */
static ohsm_rv session(const struct ohsm_cfg *cfg, const char *user, const char *pw,
                       struct ohsm_client **out)
{
    struct ohsm_client *c = NULL;
    struct ohsm_result *res = NULL;
    ohsm_rv rv = ohsm_client_new(cfg, &c);

    if (rv == OHSM_OK) {
        res = calloc(ohsm_client_hsm_count(c), sizeof(*res));
        rv = res == NULL ? OHSM_HOST_MEMORY : ohsm_client_login(c, OHSM_UT_CU, user, pw, res, NULL);
    }
    free(res);
    if (rv != OHSM_OK) {
        ohsm_client_free(c);
        return rv;
    }
    *out = c;
    return OHSM_OK;
}

static void mech_for(enum op op, struct ohsm_mech_params *m)
{
    memset(m, 0, sizeof(*m));
    switch (op) {
    case OP_RSA:
        m->mech = OHSM_M_RSA_PKCS;
        m->hash = OHSM_H_SHA256;
        m->prehashed = true;
        break;
    case OP_EC:
        m->mech = OHSM_M_ECDSA;
        m->hash = OHSM_H_SHA256;
        m->prehashed = true;
        break;
    case OP_AES:
    case OP_COUNT:
        m->mech = OHSM_M_AES_GCM; /* no IV: the HSM makes a fresh one per message */
        break;
    }
}

static uint64_t key_for(enum op op, const struct keys *k)
{
    return op == OP_RSA ? k->rsa_priv : op == OP_EC ? k->ec_priv : k->aes;
}

/* One operation at a time. */
static ohsm_rv one(struct ohsm_client *c, enum op op, uint64_t h, const struct ohsm_mech_params *m,
                   const uint8_t *in, size_t in_len)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    ohsm_rv rv;

    if (op == OP_AES) {
        uint8_t iv[16];
        size_t iv_len = 0;
        rv = ohsm_client_encrypt(c, h, m, in, in_len, &out, &out_len, iv, &iv_len);
    } else {
        rv = ohsm_client_sign(c, h, m, in, in_len, &out, &out_len);
    }
    free(out);
    return rv;
}

/* Calls for `seconds`; adds to w->ops, w->errors and w->elapsed. */
static void timed(struct worker *w, struct ohsm_client *c, uint64_t h,
                  const struct ohsm_mech_params *m, const uint8_t *in, size_t in_len,
                  struct ohsm_cop *ops, uint8_t *outs, size_t nops, double seconds)
{
    const struct run *r = w->run;
    double t0 = now_s(), end = t0 + seconds, t = t0;
    while (t < end) {
        if (!r->batch) {
            ohsm_rv rv = one(c, r->op, h, m, in, in_len);
            if (rv == OHSM_OK) {
                w->ops++;
            } else if (w->errors++ == 0) {
                w->first_err = rv;
            }
        } else {
            for (size_t i = 0; i < nops; i++) {
                ops[i] = (struct ohsm_cop){
                    .kind = r->op == OP_AES ? OHSM_COP_ENCRYPT : OHSM_COP_SIGN,
                    .handle = h,
                    .m = m,
                    .in = in,
                    .in_len = in_len,
                    .out = outs + i * OUT_CAP,
                    .out_cap = OUT_CAP,
                };
            }
            ohsm_rv rv = ohsm_client_batch(c, ops, nops, r->window, SIZE_MAX);
            for (size_t i = 0; i < nops; i++) {
                ohsm_rv one_rv = rv == OHSM_OK ? ops[i].rv : rv;
                if (one_rv == OHSM_OK && ops[i].out_len > 0) {
                    w->ops++;
                } else if (w->errors++ == 0) {
                    w->first_err = one_rv != OHSM_OK ? one_rv : OHSM_DEVICE_ERROR;
                }
            }
        }
        t = now_s();
    }
    w->elapsed += t - t0;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    struct ohsm_client *c = NULL;
    struct ohsm_mech_params m;
    uint8_t in[MSG_LEN];
    size_t in_len = r->op == OP_AES ? MSG_LEN : DIGEST_LEN;
    uint64_t h = key_for(r->op, r->keys);
    struct ohsm_cop *ops = NULL;
    uint8_t *outs = NULL;
    size_t nops = 0;

    mech_for(r->op, &m);
    if (RAND_bytes(in, sizeof(in)) != 1) {
        w->setup_rv = OHSM_DEVICE_ERROR;
    } else {
        w->setup_rv = session(r->cfg, r->user, r->pw, &c);
    }
    if (w->setup_rv == OHSM_OK && r->batch) {
        /* Enough per call that the pipeline's fill and drain are a small part of it. */
        nops = r->window * ohsm_client_hsm_count(c) * 8;
        ops = calloc(nops, sizeof(*ops));
        outs = malloc(nops * OUT_CAP);
        if (ops == NULL || outs == NULL) {
            w->setup_rv = OHSM_HOST_MEMORY;
        }
    }
    (void)pthread_barrier_wait(&r->start);
    if (w->setup_rv != OHSM_OK) {
        goto out;
    }
    if (r->pp == NULL) {
        timed(w, c, h, &m, in, in_len, ops, outs, nops, r->seconds);
    } else {
        /* Paired: ping-pong and calls alternate in short slices, so both see the same machine
         * (a figure of this 2-CPU VM drifts by 10-20 % within a minute). */
        for (int i = 0; i < PAIRED_ROUNDS; i++) {
            pp_slice(r->pp, r->seconds / PAIRED_ROUNDS, &w->pp_ops, &w->pp_elapsed);
            if (r->tp != NULL) {
                tls_slice(r->tp, in_len, r->seconds / PAIRED_ROUNDS, &w->tls_ops, &w->tls_elapsed);
            }
            timed(w, c, h, &m, in, in_len, ops, outs, nops, r->seconds / PAIRED_ROUNDS);
        }
    }
out:
    free(ops);
    free(outs);
    ohsm_client_free(c);
    return NULL;
}

static void run_one(struct run *r, size_t nthreads)
{
    struct worker w[MAX_THREADS];
    uint64_t ops = 0, errors = 0;
    double elapsed = 0;
    ohsm_rv first = OHSM_OK;

    memset(w, 0, sizeof(w));
    if (pthread_barrier_init(&r->start, NULL, (unsigned)nthreads) != 0) {
        die("barrier", OHSM_HOST_MEMORY);
    }
    for (size_t i = 0; i < nthreads; i++) {
        w[i].run = r;
        if (pthread_create(&w[i].tid, NULL, work, &w[i]) != 0) {
            die("thread", OHSM_HOST_MEMORY);
        }
    }
    for (size_t i = 0; i < nthreads; i++) {
        (void)pthread_join(w[i].tid, NULL);
        if (w[i].setup_rv != OHSM_OK) {
            die("thread login", w[i].setup_rv);
        }
        ops += w[i].ops;
        errors += w[i].errors;
        if (first == OHSM_OK && w[i].errors > 0) {
            first = w[i].first_err;
        }
        elapsed = w[i].elapsed > elapsed ? w[i].elapsed : elapsed;
    }
    (void)pthread_barrier_destroy(&r->start);
    (void)printf("RESULT op=%s mode=%s threads=%zu ops=%" PRIu64 " seconds=%.3f rate=%.1f "
                 "errors=%" PRIu64 "%s%s",
                 op_names[r->op], r->batch ? "batch" : "single", nthreads, ops, elapsed,
                 elapsed > 0 ? (double)ops / elapsed : 0.0, errors, errors > 0 ? " first=" : "",
                 errors > 0 ? ohsm_rv_name(first) : "");
    if (r->pp != NULL && w[0].pp_ops > 0) {
        (void)printf(" rtt_us=%.2f", w[0].pp_elapsed * 1e6 / (double)w[0].pp_ops);
    }
    if (r->tp != NULL && w[0].tls_ops > 0) {
        (void)printf(" tls_us=%.2f", w[0].tls_elapsed * 1e6 / (double)w[0].tls_ops);
    }
    (void)printf("\n");
    (void)fflush(stdout);
}

/* ---- keys ---- */

static uint64_t gen(struct ohsm_client *c, const struct ohsm_keygen *g, uint64_t *pub)
{
    struct ohsm_obj objs[2];
    size_t nobj = 0;
    struct ohsm_result *res = calloc(ohsm_client_hsm_count(c), sizeof(*res));
    if (res == NULL) {
        die("memory", OHSM_HOST_MEMORY);
    }
    memset(objs, 0, sizeof(objs));
    ohsm_rv rv = ohsm_client_key_generate(c, g, objs, &nobj, res);
    free(res);
    if (rv != OHSM_OK) {
        die("key generation", rv);
    }
    if (pub != NULL) {
        *pub = nobj > 1 ? objs[1].handle : 0;
    }
    return objs[0].handle;
}

static void make_keys(struct ohsm_client *c, struct keys *k)
{
    struct ohsm_tmpl_buf priv, pub, sec;
    struct ohsm_keygen g;
    char label[64];

    (void)snprintf(label, sizeof(label), "bench-%ld", (long)time(NULL));
    ohsm_tmpl_init(&priv);
    ohsm_tmpl_put_bool(&priv, OHSM_A_SIGN, true);
    ohsm_tmpl_put_bytes(&priv, OHSM_A_LABEL, label, strlen(label));
    ohsm_tmpl_init(&pub);
    ohsm_tmpl_put_bool(&pub, OHSM_A_VERIFY, true);
    ohsm_tmpl_put_bytes(&pub, OHSM_A_LABEL, label, strlen(label));
    ohsm_tmpl_init(&sec);
    ohsm_tmpl_put_bool(&sec, OHSM_A_ENCRYPT, true);
    ohsm_tmpl_put_bool(&sec, OHSM_A_DECRYPT, true);
    ohsm_tmpl_put_bytes(&sec, OHSM_A_LABEL, label, strlen(label));
    if (priv.overflow || pub.overflow || sec.overflow) {
        die("template", OHSM_BUFFER_TOO_SMALL);
    }

    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_RSA;
    g.length = 2048;
    g.tmpl = priv.buf;
    g.tmpl_len = priv.len;
    g.pub_tmpl = pub.buf;
    g.pub_tmpl_len = pub.len;
    k->rsa_priv = gen(c, &g, &k->rsa_pub);

    g.ktype = OHSM_KT_EC;
    g.length = 0;
    g.curve = OHSM_CURVE_P256;
    k->ec_priv = gen(c, &g, &k->ec_pub);

    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_AES;
    g.length = 32;
    g.tmpl = sec.buf;
    g.tmpl_len = sec.len;
    k->aes = gen(c, &g, NULL);
}

/* Each operation once, checked: what the timed loops count is real work. */
static void check(struct ohsm_client *c, const struct keys *k)
{
    uint8_t in[MSG_LEN];
    struct ohsm_mech_params m;

    if (RAND_bytes(in, sizeof(in)) != 1) {
        die("random", OHSM_DEVICE_ERROR);
    }
    for (int i = 0; i < 2; i++) {
        enum op op = i == 0 ? OP_RSA : OP_EC;
        uint8_t *sig = NULL;
        size_t sig_len = 0;
        mech_for(op, &m);
        uint64_t priv = op == OP_RSA ? k->rsa_priv : k->ec_priv;
        uint64_t pub = op == OP_RSA ? k->rsa_pub : k->ec_pub;
        ohsm_rv rv = ohsm_client_sign(c, priv, &m, in, DIGEST_LEN, &sig, &sig_len);
        if (rv == OHSM_OK) {
            rv = ohsm_client_verify(c, pub, &m, in, DIGEST_LEN, sig, sig_len);
        }
        if (rv == OHSM_OK && sig_len > 0) {
            /* A changed digest must not verify. */
            in[0] ^= 1;
            ohsm_rv bad = ohsm_client_verify(c, pub, &m, in, DIGEST_LEN, sig, sig_len);
            in[0] ^= 1;
            rv = bad == OHSM_SIGNATURE_INVALID ? OHSM_OK : OHSM_DEVICE_ERROR;
        }
        free(sig);
        if (rv != OHSM_OK) {
            die(op == OP_RSA ? "rsa2048 sign/verify check" : "ecdsap256 sign/verify check", rv);
        }
    }

    uint8_t *ct = NULL, *pt = NULL, iv[16];
    size_t ct_len = 0, pt_len = 0, iv_len = 0;
    mech_for(OP_AES, &m);
    ohsm_rv rv = ohsm_client_encrypt(c, k->aes, &m, in, MSG_LEN, &ct, &ct_len, iv, &iv_len);
    if (rv == OHSM_OK) {
        m.iv = iv;
        m.iv_len = iv_len;
        rv = ohsm_client_decrypt(c, k->aes, &m, ct, ct_len, &pt, &pt_len);
    }
    if (rv == OHSM_OK && (pt_len != MSG_LEN || CRYPTO_memcmp(pt, in, MSG_LEN) != 0)) {
        rv = OHSM_DEVICE_ERROR;
    }
    if (pt != NULL) {
        OPENSSL_cleanse(pt, pt_len);
    }
    free(pt);
    free(ct);
    if (rv != OHSM_OK) {
        die("aes256gcm encrypt/decrypt check", rv);
    }
}

static void drop_keys(struct ohsm_client *c, const struct keys *k)
{
    const uint64_t hs[] = {k->rsa_priv, k->rsa_pub, k->ec_priv, k->ec_pub, k->aes};
    struct ohsm_result *res = calloc(ohsm_client_hsm_count(c), sizeof(*res));
    for (size_t i = 0; res != NULL && i < sizeof(hs) / sizeof(hs[0]); i++) {
        if (hs[i] != 0) {
            ohsm_rv rv = ohsm_client_key_delete(c, hs[i], res);
            if (rv != OHSM_OK) {
                (void)fprintf(stderr, "bench_crypto: deleting key %" PRIu64 ": %s\n", hs[i],
                              ohsm_rv_str(rv));
            }
        }
    }
    free(res);
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    (void)fprintf(f,
                  "usage: bench_crypto --config CLIENT_JSON [--seconds S] [--threads 1,2]\n"
                  "                    [--ops rsa2048,ecdsap256,aes256gcm] [--modes single,batch]\n"
                  "                    [--window N] [--no-pingpong]\n"
                  "The crypto user's credentials come from %s=user:password.\n",
                  PIN_ENV);
}

static bool num(const char *s, unsigned long lo, unsigned long hi, unsigned long *v)
{
    char *end = NULL;
    if (s == NULL || s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    *v = strtoul(s, &end, 10);
    return errno == 0 && *end == '\0' && *v >= lo && *v <= hi;
}

struct opts {
    const char *config;
    double seconds;
    size_t threads[8], nthreads;
    bool ops[OP_COUNT];
    bool single, batch;
    bool no_pingpong;
    size_t window;
};

static bool parse_list(char *s, struct opts *o, int which)
{
    char *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (which == 0) {
            unsigned long v = 0;
            if (!num(t, 1, MAX_THREADS, &v) || o->nthreads == 8) {
                return false;
            }
            o->threads[o->nthreads++] = v;
        } else if (which == 1) {
            bool hit = false;
            for (int i = 0; i < OP_COUNT; i++) {
                if (strcmp(t, op_names[i]) == 0) {
                    o->ops[i] = hit = true;
                }
            }
            if (!hit) {
                return false;
            }
        } else if (strcmp(t, "single") == 0) {
            o->single = true;
        } else if (strcmp(t, "batch") == 0) {
            o->batch = true;
        } else {
            return false;
        }
    }
    return true;
}

static bool parse_args(int argc, char **argv, struct opts *o)
{
    char tbuf[64] = "1,2", obuf[128] = "rsa2048,ecdsap256,aes256gcm", mbuf[32] = "single,batch";
    unsigned long v = 0;

    memset(o, 0, sizeof(*o));
    o->seconds = 3;
    o->window = 32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--no-pingpong") == 0) {
            o->no_pingpong = true;
            continue;
        }
        if (val == NULL) {
            return false;
        }
        i++;
        if (strcmp(a, "--config") == 0) {
            o->config = val;
        } else if (strcmp(a, "--seconds") == 0 && num(val, 1, 3600, &v)) {
            o->seconds = (double)v;
        } else if (strcmp(a, "--window") == 0 && num(val, 1, 1024, &v)) {
            o->window = v;
        } else if (strcmp(a, "--threads") == 0 && strlen(val) < sizeof(tbuf)) {
            (void)snprintf(tbuf, sizeof(tbuf), "%s", val);
        } else if (strcmp(a, "--ops") == 0 && strlen(val) < sizeof(obuf)) {
            (void)snprintf(obuf, sizeof(obuf), "%s", val);
        } else if (strcmp(a, "--modes") == 0 && strlen(val) < sizeof(mbuf)) {
            (void)snprintf(mbuf, sizeof(mbuf), "%s", val);
        } else {
            return false;
        }
    }
    return o->config != NULL && parse_list(tbuf, o, 0) && parse_list(obuf, o, 1) &&
           parse_list(mbuf, o, 2) && o->nthreads > 0 && (o->single || o->batch);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct ohsm_cfg *cfg = NULL;
    struct ohsm_client *c = NULL;
    struct keys k;
    char err[256] = "", pin[128];
    const char *env = getenv(PIN_ENV);

    if (!parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (env == NULL || strchr(env, ':') == NULL || strlen(env) >= sizeof(pin)) {
        (void)fprintf(stderr, "bench_crypto: set %s=user:password\n", PIN_ENV);
        return 2;
    }
    (void)snprintf(pin, sizeof(pin), "%s", env);
    char *colon = strchr(pin, ':');
    *colon = '\0';
    const char *user = pin, *pw = colon + 1;

    ohsm_rv rv = ohsm_cfg_load(o.config, &cfg, err, sizeof(err));
    if (rv != OHSM_OK) {
        (void)fprintf(stderr, "bench_crypto: %s\n", err[0] != '\0' ? err : ohsm_rv_str(rv));
        return 1;
    }
    struct pingpong pp = {-1, -1};
    struct tlspong tp = {-1, -1, NULL, NULL};
    if (!o.no_pingpong) {
        /* Before any client exists: the child inherits nothing of it. */
        uint64_t pp_ops = 0;
        double pp_elapsed = 0;
        pp_open(&pp);
        pp_slice(&pp, o.seconds, &pp_ops, &pp_elapsed);
        pp_result(pp_ops, pp_elapsed);
        tls_open(&tp);
    }
    rv = session(cfg, user, pw, &c);
    if (rv != OHSM_OK) {
        die("login", rv);
    }
    memset(&k, 0, sizeof(k));
    make_keys(c, &k);
    check(c, &k);
    (void)printf("KEYS rsa2048=%" PRIu64 " ecdsap256=%" PRIu64 " aes256gcm=%" PRIu64 " hsms=%zu\n",
                 k.rsa_priv, k.ec_priv, k.aes, ohsm_client_hsm_count(c));
    (void)fflush(stdout);

    for (int op = 0; op < OP_COUNT; op++) {
        if (!o.ops[op]) {
            continue;
        }
        for (int mode = 0; mode < 2; mode++) {
            if ((mode == 0 && !o.single) || (mode == 1 && !o.batch)) {
                continue;
            }
            for (size_t t = 0; t < o.nthreads; t++) {
                struct run r;
                memset(&r, 0, sizeof(r));
                r.cfg = cfg;
                r.user = user;
                r.pw = pw;
                r.op = (enum op)op;
                r.batch = mode == 1;
                r.window = o.window;
                r.seconds = o.seconds;
                r.keys = &k;
                r.pp = mode == 0 && o.threads[t] == 1 && pp.fd >= 0 ? &pp : NULL;
                r.tp = r.pp != NULL && tp.fd >= 0 ? &tp : NULL;
                run_one(&r, o.threads[t]);
            }
        }
    }
    tls_close(&tp);
    pp_close(&pp);
    drop_keys(c, &k);
    ohsm_client_free(c);
    ohsm_cfg_free(cfg);
    OPENSSL_cleanse(pin, sizeof(pin));
    return 0;
}
