/* SPDX-License-Identifier: Apache-2.0
 *
 * bench_p11: measures a PKCS#11 module (any, loaded by path with dlopen) for the bench/p11 runner,
 * which runs it against SoftHSM2 and openhsm's libopenhsm-pkcs11.so and compares them with each
 * other and with `openssl speed`. One process per module:
 *
 *   bench_p11 --module PATH [--seconds S] [--threads 1,2,8] [--ops LIST] [--gcm-iv caller|module]
 *             [--pingpong]
 *
 * C_GetFunctionList through dlsym; C_Initialize with CKF_OS_LOCKING_OK; the first slot with a token
 * (C_GetSlotList(CK_TRUE, ...)), an initialized one if there is one; C_Login(CKU_USER) once with
 * the PIN from OHSM_BENCH_PIN (for openhsm "user:password"); one session, kept open to the end (it
 * holds the login and the keys), makes the keys once as session objects: an RSA-2048 pair, an EC
 * P-256 pair and an AES-256 key. A check follows: each signature verifies (and one over a changed
 * message does not), a GCM ciphertext decrypts to its plaintext. Then for each operation and each
 * thread count, each thread with a session of its own, calls for S seconds, counting successful
 * calls; any failed call aborts the run with its CKR. One line per figure:
 *
 *   RESULT op=rsa2048 threads=2 ops=12345 seconds=3.001 rate=4113.6 lat_us=486.1
 *
 * Operations (a "call" is one operation, its *Init included):
 *   rsa2048    C_SignInit(CKM_SHA256_RSA_PKCS) + C_Sign of a 32-byte message
 *   ecdsap256  C_SignInit(CKM_ECDSA) + C_Sign of a 32-byte SHA-256 digest (what `openssl speed
 *              ecdsap256` signs)
 *   aes256gcm  C_EncryptInit(CKM_AES_GCM, 96-bit IV, 128-bit tag, no AAD) + C_Encrypt of 1 KiB.
 *              --gcm-iv module: pIv points to a zeroed 12-byte buffer that receives the IV the
 *              module makes (CloudHSM's rule, openhsm's); --gcm-iv caller (the default): a fresh
 *              IV of the caller's per call (SoftHSM2)
 *   aeskeygen  C_GenerateKey(CKM_AES_KEY_GEN, 32 bytes, session object) + C_DestroyObject of it;
 *              lat_us is the C_GenerateKey alone, destroy_us the C_DestroyObject
 * lat_us is the mean time a thread spends in one call (its time over its calls).
 *
 * --pingpong: the floor of a call over the network, in the same run: a plain TCP ping-pong
 * (loopback, TCP_NODELAY, PINGPONG_LEN bytes each way, one round trip at a time) to a child forked
 * before the module is loaded. With 1 and 2 threads the calls then run in PAIRED_ROUNDS slices that
 * alternate with ping-pong slices (together S seconds each), and the line gets the ping-pong's time
 * per round trip in those slices (rtt_us=29.85): this machine drifts, and a floor measured a
 * minute earlier says little about the calls of now. With 2 threads each round also has a slice of
 * two ping-pongs at once (a second peer), as two callers meet each other on the machine's cores:
 * rtt2_us is their mean time per round trip, reported beside the target, which keeps rtt_us.
 *
 * Trusts its command line and environment as the operator's; prints no secret.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <p11-kit/pkcs11.h>

#define MAX_THREADS 64
#define MSG_LEN 1024  /* aes256gcm payload, as openssl speed -bytes 1024 */
#define DIGEST_LEN 32 /* SHA-256 */
#define OUT_CAP 2048  /* room for any signature here, or 1 KiB + GCM tag */
#define GCM_IV_LEN 12
#define PIN_ENV "OHSM_BENCH_PIN"
#define PINGPONG_LEN 64  /* bytes each way, about the size of a small request */
#define WARMUP_S 0.3     /* seconds of uncounted calls by every thread before the figure */
#define PAIRED_ROUNDS 10 /* ping-pong/call slice pairs with 1 and 2 threads */
#define MAX_SLOTS 64

enum op { OP_RSA, OP_EC, OP_AES, OP_KEYGEN, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"rsa2048", "ecdsap256", "aes256gcm", "aeskeygen"};

static CK_FUNCTION_LIST_PTR P; /* the module's functions */
static bool iv_by_module;      /* --gcm-iv module */

struct keys {
    CK_OBJECT_HANDLE rsa_priv, rsa_pub, ec_priv, ec_pub, aes;
};

/* ---- errors ---- */

static const char *ckr_name(CK_RV rv)
{
    static const struct {
        CK_RV rv;
        const char *name;
    } t[] = {
#define N(x) {x, #x}
        N(CKR_OK),
        N(CKR_HOST_MEMORY),
        N(CKR_SLOT_ID_INVALID),
        N(CKR_GENERAL_ERROR),
        N(CKR_FUNCTION_FAILED),
        N(CKR_ARGUMENTS_BAD),
        N(CKR_CANT_LOCK),
        N(CKR_ATTRIBUTE_READ_ONLY),
        N(CKR_ATTRIBUTE_TYPE_INVALID),
        N(CKR_ATTRIBUTE_VALUE_INVALID),
        N(CKR_DATA_INVALID),
        N(CKR_DATA_LEN_RANGE),
        N(CKR_DEVICE_ERROR),
        N(CKR_DEVICE_MEMORY),
        N(CKR_DEVICE_REMOVED),
        N(CKR_ENCRYPTED_DATA_INVALID),
        N(CKR_FUNCTION_CANCELED),
        N(CKR_FUNCTION_NOT_SUPPORTED),
        N(CKR_KEY_HANDLE_INVALID),
        N(CKR_KEY_SIZE_RANGE),
        N(CKR_KEY_TYPE_INCONSISTENT),
        N(CKR_KEY_FUNCTION_NOT_PERMITTED),
        N(CKR_MECHANISM_INVALID),
        N(CKR_MECHANISM_PARAM_INVALID),
        N(CKR_OBJECT_HANDLE_INVALID),
        N(CKR_OPERATION_ACTIVE),
        N(CKR_OPERATION_NOT_INITIALIZED),
        N(CKR_PIN_INCORRECT),
        N(CKR_PIN_LOCKED),
        N(CKR_SESSION_CLOSED),
        N(CKR_SESSION_COUNT),
        N(CKR_SESSION_HANDLE_INVALID),
        N(CKR_SESSION_READ_ONLY),
        N(CKR_SIGNATURE_INVALID),
        N(CKR_SIGNATURE_LEN_RANGE),
        N(CKR_TEMPLATE_INCOMPLETE),
        N(CKR_TEMPLATE_INCONSISTENT),
        N(CKR_TOKEN_NOT_PRESENT),
        N(CKR_TOKEN_NOT_RECOGNIZED),
        N(CKR_USER_ALREADY_LOGGED_IN),
        N(CKR_USER_NOT_LOGGED_IN),
        N(CKR_USER_PIN_NOT_INITIALIZED),
        N(CKR_USER_TYPE_INVALID),
        N(CKR_BUFFER_TOO_SMALL),
        N(CKR_CRYPTOKI_NOT_INITIALIZED),
        N(CKR_CRYPTOKI_ALREADY_INITIALIZED),
        N(CKR_DOMAIN_PARAMS_INVALID),
        N(CKR_CURVE_NOT_SUPPORTED),
        N(CKR_RANDOM_NO_RNG),
#undef N
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].rv == rv) {
            return t[i].name;
        }
    }
    return "CKR_?";
}

/* A failed call ends the run: from any thread, without running the module's exit handlers under
 * the other threads' feet. */
static void fail(const char *what, const char *op, CK_RV rv)
{
    (void)fflush(stdout);
    (void)fprintf(stderr, "bench_p11: %s%s%s: %s (0x%lx)\n", what, op != NULL ? " " : "",
                  op != NULL ? op : "", ckr_name(rv), (unsigned long)rv);
    _exit(1);
}

static void die(const char *msg)
{
    (void)fflush(stdout);
    (void)fprintf(stderr, "bench_p11: %s\n", msg);
    _exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- plain TCP ping-pong (as bench_crypto's) ---- */

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

struct pingpong {
    pid_t pid;
    int fd;
};

/* Forks an echo peer (it echoes until the connection closes) and connects to it. */
static void pp_open(struct pingpong *pp)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0) {
        die("ping-pong peer: cannot listen on 127.0.0.1");
    }
    (void)fflush(stdout);
    pp->pid = fork();
    if (pp->pid < 0) {
        die("ping-pong peer: fork failed");
    }
    if (pp->pid == 0) {
        uint8_t m[PINGPONG_LEN];
        /* Not an earlier peer's connection: its peer must see its close (pp_close). */
        for (int o = 3; o < 256; o++) {
            if (o != lfd) {
                (void)close(o);
            }
        }
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0) {
            nodelay(fd);
            while (io_full(fd, m, sizeof(m), false) && io_full(fd, m, sizeof(m), true)) {
            }
            close(fd);
        }
        _exit(0);
    }
    close(lfd);
    pp->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (pp->fd < 0 || connect(pp->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        die("ping-pong peer: cannot connect");
    }
    nodelay(pp->fd);
}

static void pp_close(struct pingpong *pp)
{
    if (pp->fd >= 0) {
        close(pp->fd); /* the child's recv ends, it exits */
        (void)waitpid(pp->pid, NULL, 0);
        pp->fd = -1;
    }
}

/* Round trips for `seconds`; adds to *ops and *elapsed. */
static void pp_slice(struct pingpong *pp, double seconds, uint64_t *ops, double *elapsed)
{
    uint8_t m[PINGPONG_LEN];
    memset(m, 0x5a, sizeof(m));
    double t0 = now_s(), end = t0 + seconds, t = t0;
    while (t < end) {
        if (!io_full(pp->fd, m, sizeof(m), true) || !io_full(pp->fd, m, sizeof(m), false)) {
            die("ping-pong: the peer went away");
        }
        (*ops)++;
        t = now_s();
    }
    *elapsed += t - t0;
}

/* Two ping-pongs at once for `seconds` (pp[1] on a thread of its own): adds both pairs' round
 * trips and times. */
struct pp_job {
    struct pingpong *pp;
    double seconds, elapsed;
    uint64_t ops;
};

static void *pp_job_run(void *arg)
{
    struct pp_job *j = arg;
    pp_slice(j->pp, j->seconds, &j->ops, &j->elapsed);
    return NULL;
}

static void pp_slice2(struct pingpong pp[2], double seconds, uint64_t *ops, double *elapsed)
{
    struct pp_job j = {&pp[1], seconds, 0, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, pp_job_run, &j) != 0) {
        die("pthread_create failed");
    }
    pp_slice(&pp[0], seconds, ops, elapsed);
    (void)pthread_join(t, NULL);
    *ops += j.ops;
    *elapsed += j.elapsed;
}

/* ---- one run: an operation with a number of threads ---- */

struct run {
    enum op op;
    double seconds;
    int rounds; /* slices of seconds / rounds, each after a barrier */
    const struct keys *keys;
    CK_SLOT_ID slot;
    pthread_barrier_t bar; /* the workers and the main thread */
};

struct worker {
    struct run *run;
    size_t idx;
    pthread_t tid;
    uint64_t ops;
    double elapsed, in_gen, in_destroy; /* seconds in calls; aeskeygen: in each of its two */
};

/* One call of the run's operation; CKR_OK or the first failure. iv: the caller's 12 bytes. */
static CK_RV one(struct worker *w, CK_SESSION_HANDLE s, const uint8_t *in, uint8_t *out,
                 uint8_t *iv)
{
    const struct keys *k = w->run->keys;
    CK_ULONG out_len = OUT_CAP;
    CK_RV rv;

    switch (w->run->op) {
    case OP_RSA:
    case OP_EC: {
        CK_MECHANISM m = {w->run->op == OP_RSA ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, NULL, 0};
        rv = P->C_SignInit(s, &m, w->run->op == OP_RSA ? k->rsa_priv : k->ec_priv);
        if (rv == CKR_OK) {
            rv = P->C_Sign(s, (CK_BYTE_PTR)in, DIGEST_LEN, out, &out_len);
        }
        return rv;
    }
    case OP_AES: {
        uint8_t ivbuf[GCM_IV_LEN];
        if (iv_by_module) {
            memset(ivbuf, 0, sizeof(ivbuf)); /* the module writes its IV here */
        } else {
            /* A fresh IV per call: the thread's random start, counting up in its last 8 bytes. */
            for (int i = GCM_IV_LEN - 1; i >= GCM_IV_LEN - 8; i--) {
                iv[i]++;
                if (iv[i] != 0) {
                    break; /* no carry */
                }
            }
            memcpy(ivbuf, iv, sizeof(ivbuf));
        }
        CK_GCM_PARAMS g = {ivbuf, GCM_IV_LEN, GCM_IV_LEN * 8, NULL, 0, 128};
        CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof(g)};
        rv = P->C_EncryptInit(s, &m, k->aes);
        if (rv == CKR_OK) {
            rv = P->C_Encrypt(s, (CK_BYTE_PTR)in, MSG_LEN, out, &out_len);
        }
        return rv;
    }
    case OP_KEYGEN:
    case OP_COUNT:
        break;
    }
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &no, sizeof(no)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},   {CKA_DECRYPT, &yes, sizeof(yes)},
    };
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    double t0 = now_s();
    rv = P->C_GenerateKey(s, &m, t, sizeof(t) / sizeof(t[0]), &h);
    double t1 = now_s();
    w->in_gen += t1 - t0;
    if (rv == CKR_OK) {
        rv = P->C_DestroyObject(s, h);
        w->in_destroy += now_s() - t1;
    }
    return rv;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    uint8_t in[MSG_LEN], out[OUT_CAP], iv[GCM_IV_LEN];

    if (RAND_bytes(in, sizeof(in)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1) {
        die("RAND_bytes failed");
    }
    CK_RV rv = P->C_OpenSession(r->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        fail("C_OpenSession (worker)", op_names[r->op], rv);
    }
    /* Warm-up, all threads at once, not counted: the module's connections and logins that this
     * many threads need are made now, not in the measured time. */
    for (double t = now_s(), end = t + WARMUP_S; t < end; t = now_s()) {
        rv = one(w, s, in, out, iv);
        if (rv != CKR_OK) {
            fail("warm-up:", op_names[r->op], rv);
        }
    }
    w->in_gen = w->in_destroy = 0;
    (void)pthread_barrier_wait(&r->bar); /* every thread warmed up */
    for (int i = 0; i < r->rounds; i++) {
        (void)pthread_barrier_wait(&r->bar); /* the main thread's ping-pong slice is over */
        double t0 = now_s(), end = t0 + r->seconds / r->rounds, t = t0;
        while (t < end) {
            rv = one(w, s, in, out, iv);
            if (rv != CKR_OK) {
                char what[64];
                (void)snprintf(what, sizeof(what), "thread %zu, call %" PRIu64 ":", w->idx,
                               w->ops + 1);
                fail(what, op_names[r->op], rv);
            }
            w->ops++;
            t = now_s();
        }
        w->elapsed += t - t0;
        (void)pthread_barrier_wait(&r->bar);
    }
    rv = P->C_CloseSession(s);
    if (rv != CKR_OK) {
        fail("C_CloseSession (worker)", op_names[r->op], rv);
    }
    return NULL;
}

static void run_one(struct run *r, size_t nthreads, struct pingpong pp[2])
{
    static struct worker w[MAX_THREADS];
    uint64_t ops = 0, pp_ops = 0, pp2_ops = 0;
    double elapsed = 0, busy = 0, in_gen = 0, in_destroy = 0, pp_elapsed = 0, pp2_elapsed = 0;
    bool paired = pp != NULL && pp[0].fd >= 0 && nthreads <= 2;
    bool paired2 = paired && nthreads == 2 && pp[1].fd >= 0;

    r->rounds = paired ? PAIRED_ROUNDS : 1;
    memset(w, 0, sizeof(w));
    if (pthread_barrier_init(&r->bar, NULL, (unsigned)nthreads + 1) != 0) {
        die("pthread_barrier_init failed");
    }
    for (size_t i = 0; i < nthreads; i++) {
        w[i].run = r;
        w[i].idx = i;
        if (pthread_create(&w[i].tid, NULL, work, &w[i]) != 0) {
            die("pthread_create failed");
        }
    }
    (void)pthread_barrier_wait(&r->bar); /* the workers' warm-up is over */
    for (int i = 0; i < r->rounds; i++) {
        if (paired) {
            pp_slice(&pp[0], r->seconds / r->rounds, &pp_ops, &pp_elapsed);
        }
        if (paired2) {
            pp_slice2(pp, r->seconds / r->rounds, &pp2_ops, &pp2_elapsed);
        }
        (void)pthread_barrier_wait(&r->bar); /* the calls' slice starts */
        (void)pthread_barrier_wait(&r->bar); /* and is over */
    }
    for (size_t i = 0; i < nthreads; i++) {
        (void)pthread_join(w[i].tid, NULL);
        ops += w[i].ops;
        busy += w[i].elapsed;
        in_gen += w[i].in_gen;
        in_destroy += w[i].in_destroy;
        elapsed = w[i].elapsed > elapsed ? w[i].elapsed : elapsed;
    }
    (void)pthread_barrier_destroy(&r->bar);
    double lat = r->op == OP_KEYGEN ? in_gen : busy;
    (void)printf("RESULT op=%s threads=%zu ops=%" PRIu64 " seconds=%.3f rate=%.1f lat_us=%.2f",
                 op_names[r->op], nthreads, ops, elapsed, elapsed > 0 ? (double)ops / elapsed : 0.0,
                 ops > 0 ? lat * 1e6 / (double)ops : 0.0);
    if (r->op == OP_KEYGEN && ops > 0) {
        (void)printf(" destroy_us=%.2f", in_destroy * 1e6 / (double)ops);
    }
    if (paired && pp_ops > 0) {
        (void)printf(" rtt_us=%.2f", pp_elapsed * 1e6 / (double)pp_ops);
    }
    if (paired2 && pp2_ops > 0) {
        (void)printf(" rtt2_us=%.2f", pp2_elapsed * 1e6 / (double)pp2_ops);
    }
    (void)printf("\n");
    (void)fflush(stdout);
}

/* ---- keys ---- */

static void make_keys(CK_SESSION_HANDLE s, struct keys *k)
{
    static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_BYTE e[] = {0x01, 0x00, 0x01};
    CK_ULONG bits = 2048, len = 32;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    char label[] = "bench-p11";
    CK_ATTRIBUTE rsa_pub[] = {
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_MODULUS_BITS, &bits, sizeof(bits)},
        {CKA_PUBLIC_EXPONENT, e, sizeof(e)},
        {CKA_LABEL, label, sizeof(label) - 1},
    };
    CK_ATTRIBUTE ec_pub[] = {
        {CKA_TOKEN, &no, sizeof(no)},
        {CKA_VERIFY, &yes, sizeof(yes)},
        {CKA_EC_PARAMS, (CK_VOID_PTR)p256, sizeof(p256)},
        {CKA_LABEL, label, sizeof(label) - 1},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &no, sizeof(no)},          {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},    {CKA_SIGN, &yes, sizeof(yes)},
        {CKA_LABEL, label, sizeof(label) - 1},
    };
    CK_ATTRIBUTE sec[] = {
        {CKA_TOKEN, &no, sizeof(no)},          {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},      {CKA_DECRYPT, &yes, sizeof(yes)},
        {CKA_LABEL, label, sizeof(label) - 1},
    };
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
    CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_RV rv = P->C_GenerateKeyPair(s, &m, rsa_pub, COUNT(rsa_pub), priv, COUNT(priv), &k->rsa_pub,
                                    &k->rsa_priv);
    if (rv != CKR_OK) {
        fail("C_GenerateKeyPair", "rsa2048", rv);
    }
    m.mechanism = CKM_EC_KEY_PAIR_GEN;
    rv = P->C_GenerateKeyPair(s, &m, ec_pub, COUNT(ec_pub), priv, COUNT(priv), &k->ec_pub,
                              &k->ec_priv);
    if (rv != CKR_OK) {
        fail("C_GenerateKeyPair", "ec p256", rv);
    }
    m.mechanism = CKM_AES_KEY_GEN;
    rv = P->C_GenerateKey(s, &m, sec, COUNT(sec), &k->aes);
    if (rv != CKR_OK) {
        fail("C_GenerateKey", "aes256", rv);
    }
#undef COUNT
}

/* Each operation once, checked: what the timed loops count is real work. */
static void check(CK_SESSION_HANDLE s, const struct keys *k)
{
    uint8_t in[MSG_LEN], sig[OUT_CAP], ct[OUT_CAP], pt[OUT_CAP], iv[GCM_IV_LEN];

    if (RAND_bytes(in, sizeof(in)) != 1) {
        die("RAND_bytes failed");
    }
    for (int i = 0; i < 2; i++) {
        CK_MECHANISM m = {i == 0 ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, NULL, 0};
        const char *name = op_names[i == 0 ? OP_RSA : OP_EC];
        CK_ULONG sig_len = sizeof(sig);
        CK_RV rv = P->C_SignInit(s, &m, i == 0 ? k->rsa_priv : k->ec_priv);
        if (rv == CKR_OK) {
            rv = P->C_Sign(s, in, DIGEST_LEN, sig, &sig_len);
        }
        if (rv != CKR_OK) {
            fail("check: C_Sign", name, rv);
        }
        for (int bad = 0; bad < 2; bad++) {
            in[0] ^= (uint8_t)bad; /* a changed message must not verify */
            rv = P->C_VerifyInit(s, &m, i == 0 ? k->rsa_pub : k->ec_pub);
            if (rv == CKR_OK) {
                rv = P->C_Verify(s, in, DIGEST_LEN, sig, sig_len);
            }
            in[0] ^= (uint8_t)bad;
            if (rv != (bad ? CKR_SIGNATURE_INVALID : CKR_OK)) {
                fail(bad ? "check: C_Verify of a changed message" : "check: C_Verify", name, rv);
            }
        }
    }

    if (RAND_bytes(iv, sizeof(iv)) != 1) {
        die("RAND_bytes failed");
    }
    if (iv_by_module) {
        memset(iv, 0, sizeof(iv));
    }
    CK_GCM_PARAMS g = {iv, GCM_IV_LEN, GCM_IV_LEN * 8, NULL, 0, 128};
    CK_MECHANISM m = {CKM_AES_GCM, &g, sizeof(g)};
    CK_ULONG ct_len = sizeof(ct), pt_len = sizeof(pt);
    CK_RV rv = P->C_EncryptInit(s, &m, k->aes);
    if (rv == CKR_OK) {
        rv = P->C_Encrypt(s, in, MSG_LEN, ct, &ct_len);
    }
    if (rv != CKR_OK) {
        fail("check: C_Encrypt", "aes256gcm", rv);
    }
    static const uint8_t zero[GCM_IV_LEN];
    if (iv_by_module && memcmp(iv, zero, sizeof(iv)) == 0) {
        die("check: aes256gcm: --gcm-iv module, but the module returned no IV (still zero)");
    }
    rv = P->C_DecryptInit(s, &m, k->aes);
    if (rv == CKR_OK) {
        rv = P->C_Decrypt(s, ct, ct_len, pt, &pt_len);
    }
    if (rv != CKR_OK) {
        fail("check: C_Decrypt", "aes256gcm", rv);
    }
    if (ct_len != MSG_LEN + 16 || pt_len != MSG_LEN || CRYPTO_memcmp(pt, in, MSG_LEN) != 0) {
        die("check: aes256gcm: the decryption is not the plaintext");
    }
    OPENSSL_cleanse(pt, sizeof(pt));
}

/* ---- the module ---- */

static void text(char *dst, size_t cap, const CK_UTF8CHAR *src, size_t n)
{
    while (n > 0 && src[n - 1] == ' ') {
        n--;
    }
    n = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i] >= 0x20 && src[i] < 0x7f && src[i] != '"' ? (char)src[i] : '?';
    }
    dst[n] = '\0';
}

/* The first slot with a token, preferring an initialized one (SoftHSM2 also lists a free token);
 * prints what it found. */
static CK_SLOT_ID pick_slot(void)
{
    CK_SLOT_ID slots[MAX_SLOTS];
    CK_ULONG n = MAX_SLOTS, pick = MAX_SLOTS;
    CK_INFO info;
    CK_TOKEN_INFO ti, picked;
    char man[40], lib[40], label[40];

    CK_RV rv = P->C_GetInfo(&info);
    if (rv != CKR_OK) {
        fail("C_GetInfo", NULL, rv);
    }
    rv = P->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
        fail("C_GetSlotList", NULL, rv);
    }
    for (CK_ULONG i = 0; i < n; i++) {
        rv = P->C_GetTokenInfo(slots[i], &ti);
        if (rv != CKR_OK) {
            fail("C_GetTokenInfo", NULL, rv);
        }
        if (pick == MAX_SLOTS || ((ti.flags & CKF_TOKEN_INITIALIZED) != 0 &&
                                  (picked.flags & CKF_TOKEN_INITIALIZED) == 0)) {
            pick = i;
            picked = ti;
        }
    }
    if (pick == MAX_SLOTS) {
        die("C_GetSlotList: no slot with a token");
    }
    text(man, sizeof(man), info.manufacturerID, sizeof(info.manufacturerID));
    text(lib, sizeof(lib), info.libraryDescription, sizeof(info.libraryDescription));
    text(label, sizeof(label), picked.label, sizeof(picked.label));
    (void)printf(
        "MODULE manufacturer=\"%s\" library=\"%s\" version=%u.%u slot=%lu token=\"%s\"%s\n", man,
        lib, info.libraryVersion.major, info.libraryVersion.minor, (unsigned long)slots[pick],
        label, (picked.flags & CKF_TOKEN_INITIALIZED) != 0 ? "" : " (not initialized)");
    (void)fflush(stdout);
    return slots[pick];
}

/* ---- command line ---- */

static void usage(FILE *f)
{
    (void)fprintf(f,
                  "usage: bench_p11 --module PATH [--seconds S] [--threads 1,2,8]\n"
                  "                 [--ops rsa2048,ecdsap256,aes256gcm,aeskeygen]\n"
                  "                 [--gcm-iv caller|module] [--pingpong]\n"
                  "The PIN for C_Login(CKU_USER) comes from %s.\n",
                  PIN_ENV);
}

struct opts {
    const char *module;
    double seconds;
    size_t threads[8], nthreads;
    bool ops[OP_COUNT];
    bool pingpong;
};

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

static bool parse_list(char *s, struct opts *o, bool threads)
{
    char *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        bool hit = false;
        if (threads) {
            unsigned long v = 0;
            if (!num(t, 1, MAX_THREADS, &v) || o->nthreads == 8) {
                return false;
            }
            o->threads[o->nthreads++] = v;
            continue;
        }
        for (int i = 0; i < OP_COUNT; i++) {
            if (strcmp(t, op_names[i]) == 0) {
                o->ops[i] = hit = true;
            }
        }
        if (!hit) {
            return false;
        }
    }
    return true;
}

static bool parse_args(int argc, char **argv, struct opts *o)
{
    char tbuf[64] = "1,2,8", obuf[128] = "rsa2048,ecdsap256,aes256gcm,aeskeygen";
    unsigned long v = 0;

    memset(o, 0, sizeof(*o));
    o->seconds = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--pingpong") == 0) {
            o->pingpong = true;
            continue;
        }
        if (val == NULL) {
            return false;
        }
        i++;
        if (strcmp(a, "--module") == 0) {
            o->module = val;
        } else if (strcmp(a, "--seconds") == 0 && num(val, 1, 3600, &v)) {
            o->seconds = (double)v;
        } else if (strcmp(a, "--threads") == 0 && strlen(val) < sizeof(tbuf)) {
            (void)snprintf(tbuf, sizeof(tbuf), "%s", val);
        } else if (strcmp(a, "--ops") == 0 && strlen(val) < sizeof(obuf)) {
            (void)snprintf(obuf, sizeof(obuf), "%s", val);
        } else if (strcmp(a, "--gcm-iv") == 0 &&
                   (strcmp(val, "caller") == 0 || strcmp(val, "module") == 0)) {
            iv_by_module = strcmp(val, "module") == 0;
        } else {
            return false;
        }
    }
    return o->module != NULL && parse_list(tbuf, o, true) && parse_list(obuf, o, false) &&
           o->nthreads > 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    struct pingpong pp[2] = {{-1, -1}, {-1, -1}};
    char pin[256];
    const char *env = getenv(PIN_ENV);
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    struct keys k;

    if (!parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    if (env == NULL || env[0] == '\0' || strlen(env) >= sizeof(pin)) {
        (void)fprintf(stderr, "bench_p11: set %s to the user PIN\n", PIN_ENV);
        return 2;
    }
    (void)snprintf(pin, sizeof(pin), "%s", env);
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM); /* the runner's end is this run's */
    if (o.pingpong) {
        /* Before the module is loaded: the children inherit nothing of it. */
        pp_open(&pp[0]);
        pp_open(&pp[1]);
    }

    void *lib = dlopen(o.module, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        (void)fprintf(stderr, "bench_p11: dlopen %s: %s\n", o.module, dlerror());
        return 1;
    }
    CK_C_GetFunctionList get = NULL;
    void *sym = dlsym(lib, "C_GetFunctionList");
    memcpy(&get, &sym, sizeof(get)); /* POSIX: a function pointer from dlsym */
    if (get == NULL) {
        (void)fprintf(stderr, "bench_p11: %s has no C_GetFunctionList\n", o.module);
        return 1;
    }
    CK_RV rv = get(&P);
    if (rv != CKR_OK || P == NULL) {
        fail("C_GetFunctionList", NULL, rv != CKR_OK ? rv : CKR_GENERAL_ERROR);
    }
    CK_C_INITIALIZE_ARGS ia;
    memset(&ia, 0, sizeof(ia));
    ia.flags = CKF_OS_LOCKING_OK;
    rv = P->C_Initialize(&ia);
    if (rv != CKR_OK) {
        fail("C_Initialize", NULL, rv);
    }
    CK_SLOT_ID slot = pick_slot();
    rv = P->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        fail("C_OpenSession", NULL, rv);
    }
    rv = P->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
    OPENSSL_cleanse(pin, sizeof(pin));
    if (rv != CKR_OK) {
        fail("C_Login", NULL, rv);
    }
    memset(&k, 0, sizeof(k));
    make_keys(s, &k);
    check(s, &k);
    (void)printf("KEYS rsa2048=%lu ecdsap256=%lu aes256gcm=%lu gcm_iv=%s\n",
                 (unsigned long)k.rsa_priv, (unsigned long)k.ec_priv, (unsigned long)k.aes,
                 iv_by_module ? "module" : "caller");
    (void)fflush(stdout);

    for (int op = 0; op < OP_COUNT; op++) {
        for (size_t t = 0; o.ops[op] && t < o.nthreads; t++) {
            struct run r;
            memset(&r, 0, sizeof(r));
            r.op = (enum op)op;
            r.seconds = o.seconds;
            r.keys = &k;
            r.slot = slot;
            run_one(&r, o.threads[t], pp);
        }
    }
    pp_close(&pp[0]);
    pp_close(&pp[1]);

    const CK_OBJECT_HANDLE hs[] = {k.rsa_priv, k.rsa_pub, k.ec_priv, k.ec_pub, k.aes};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
        rv = P->C_DestroyObject(s, hs[i]);
        if (rv != CKR_OK) {
            fail("C_DestroyObject (a key of the run)", NULL, rv);
        }
    }
    rv = P->C_Logout(s);
    if (rv != CKR_OK) {
        fail("C_Logout", NULL, rv);
    }
    rv = P->C_CloseSession(s);
    if (rv != CKR_OK) {
        fail("C_CloseSession", NULL, rv);
    }
    rv = P->C_Finalize(NULL);
    if (rv != CKR_OK) {
        fail("C_Finalize", NULL, rv);
    }
    (void)dlclose(lib);
    return 0;
}
