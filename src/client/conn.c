/* SPDX-License-Identifier: Apache-2.0
 *
 * One client connection to one HSM: TCP connect, TLS 1.3 with the HSM's certificate verified
 * against the cluster trust anchor and the configured host (IP SAN or DNS name), and a hello that
 * confirms the HSM's identity, all against one deadline; then requests and answers, each against
 * the deadline its caller computed once (deadline.h). Every write and handshake step is
 * non-blocking (MSG_DONTWAIT): tried first, polled only when it would block. Reading an answer
 * blocks in recv(2) itself, each recv bounded by SO_RCVTIMEO set no later than the deadline (set
 * again only when the time left drops below it), so an answer costs one recv (with read-ahead it
 * takes the whole answer) instead of a poll and a read, and a trickling peer still costs at most
 * the timeout: a recv that times out early goes back to polling against the deadline.
 * A lone caller first spins briefly for its answer (spin_wait) instead of sleeping in recv: on a
 * fast operation the answer comes within microseconds, and a sleep and wake-up cost more than the
 * operation itself. Not when the HSM thread answering runs on the caller's own CPU (an HSM on
 * this host keeps a busy client's thread and its own on one CPU): the spin would keep it off.
 * Requests can be queued and written together (one SSL_write for many frames: pipelining); the
 * write buffer and every received frame are wiped, as they carry plaintexts, key material and
 * passwords. Responses are untrusted and validated by the wire decoder.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "client/deadline.h"
#include "client/internal.h"
#include "openhsm/frame.h"

/* Queued frames beyond this are written before more are queued (bounds memory and keeps the
 * peer's receive buffer moving). */
#define WBUF_FLUSH_AT (256u * 1024u)

struct ohsm_conn {
    int fd;
    int rcv_ms;          /* the socket's SO_RCVTIMEO now; 0: none set (a recv would wait forever) */
    int64_t rd_deadline; /* while read_all runs: recv may block until then */
    SSL *ssl;
    uint64_t next_id;
    uint32_t slot;
    BIO_METHOD *bio_method; /* outlives the SSL's BIO */
    uint8_t *wbuf;
    size_t wlen, wcap;
    /* spin_wait: answers this connection waits for without spinning (after spins that found
     * nothing: slow operations such as RSA do not burn a core), and the next such back-off. */
    uint32_t nospin, nospin_next;
    /* Deferred requests (ohsm_conn_queue_deferred): queued or sent, their answers not read yet,
     * oldest first in a ring; each answer goes to on_deferred when a later read meets it. */
    struct {
        uint64_t id, tag;
    } dq[OHSM_CONN_DEFERRED_MAX];
    size_t dq_head, dq_n;
    ohsm_conn_deferred_fn on_deferred;
    void *on_deferred_arg;
};

/* Spin-then-block. Threads of this process waiting for an answer now, and whether one spins. */
static atomic_int g_waiting;
static atomic_bool g_spinning;
#define SPIN_NS 50000L /* how long a lone caller polls for its answer */
#define NOSPIN_MAX 64u /* longest back-off (answers) after fruitless spins */

/* A forked child has only the thread that forked, which was waiting for no answer. */
static void spin_atfork_child(void)
{
    atomic_store(&g_waiting, 0);
    atomic_store(&g_spinning, false);
}

static pthread_once_t spin_once = PTHREAD_ONCE_INIT;

static void spin_setup(void)
{
    (void)pthread_atfork(NULL, NULL, spin_atfork_child);
}

/* The HSM's name is checked against the host of client.json when its certificate names hosts
 * (subjectAltName): the certificates of openhsmd's own local CA do. A cluster initialized with
 * its owner's CA presents the cluster certificate the owner signed from the cluster's CSR, as
 * CloudHSM's HSMs do; `openssl x509 -req` gives it no extensions, so it names no host. Such a
 * certificate is accepted on its chain to the trust anchor alone (the owner's CA signs only its
 * clusters), as CloudHSM's client accepts it; nothing else is relaxed. */
static int verify_cb(int ok, X509_STORE_CTX *st)
{
    int err = X509_STORE_CTX_get_error(st);
    if (ok || X509_STORE_CTX_get_error_depth(st) != 0 ||
        (err != X509_V_ERR_IP_ADDRESS_MISMATCH && err != X509_V_ERR_HOSTNAME_MISMATCH)) {
        return ok;
    }
    X509 *leaf = X509_STORE_CTX_get_current_cert(st);
    int crit = 0;
    GENERAL_NAMES *san =
        leaf != NULL ? X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL) : NULL;
    if (san != NULL) {
        GENERAL_NAMES_free(san);
        return 0;
    }
    /* crit -1: no such extension; anything else (-2: several, or a broken one) is refused. */
    return leaf != NULL && crit == -1 ? 1 : 0;
}

ohsm_rv ohsm_conn_ctx(const char *trust_anchor, SSL_CTX **out)
{
    (void)pthread_once(&spin_once, spin_setup);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, trust_anchor, NULL) != 1) {
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return OHSM_CONFIG;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    /* An HSM that goes away (killed, restarted) closes without close_notify; that is "not
     * connected", not a TLS failure. Frames carry their length, so truncation is still seen. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Read-ahead: one read(2) takes whatever has arrived (a whole answer, or several pipelined
     * ones) instead of a read per record header and one per record body. */
    SSL_CTX_set_read_ahead(ctx, 1);
    *out = ctx;
    return OHSM_OK;
}

/* Writing to a connection the HSM closed raises SIGPIPE, whose default action kills the
 * application; a library must not. The connection's BIO is OpenSSL's socket BIO with its write
 * replaced by send(MSG_NOSIGNAL), which covers every write TLS makes (records, alerts, the
 * handshake) at no cost per call; MSG_DONTWAIT keeps every write non-blocking on the (blocking)
 * socket. */
static int nosig_write(BIO *b, const char *buf, int len)
{
    int fd = -1;
    if (BIO_get_fd(b, &fd) < 0 || fd < 0 || len < 0) {
        return -1;
    }
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    BIO_clear_retry_flags(b);
    if (n <= 0 && BIO_sock_should_retry((int)n)) {
        BIO_set_retry_write(b);
    }
    return (int)n;
}

/* The connection whose answer this thread is reading now (read_all), if any: only its reads may
 * block, and only until its rd_deadline. Every other read (the handshake, the hello's, any read
 * TLS makes elsewhere) is non-blocking as before. */
static _Thread_local struct ohsm_conn *tl_reading;

/* May this read block, and for how long? Makes SO_RCVTIMEO no later than the deadline (one
 * setsockopt on a connection's first answer, then only when the time left drops below it). */
static bool may_block(struct ohsm_conn *c, int fd)
{
    if (c == NULL || c->fd != fd) {
        return false;
    }
    int left = ohsm_deadline_left(c->rd_deadline, ohsm_deadline_now());
    if (left <= 0) {
        return false; /* the would-block answer leads to the deadline's poll, and its timeout */
    }
    if (c->rcv_ms == 0 || c->rcv_ms > left) {
        int ms = left > 20 ? left - 10 : left; /* slack: no new setsockopt per request */
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
            return false;
        }
        c->rcv_ms = ms;
    }
    return true;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static bool several_cpus(void)
{
    static atomic_int n; /* 0: not asked yet */
    int v = atomic_load(&n);
    if (v == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        v = c > 1 ? 2 : 1;
        atomic_store(&n, v);
    }
    return v > 1;
}

/* Does the HSM thread answering on fd run on this thread's CPU? On loopback the CPU that
 * received its last answer is the one its HSM thread ran on; spinning there would keep it from
 * the CPU it needs to answer. */
static bool server_here(int fd)
{
    int cpu = -1;
    socklen_t l = sizeof(cpu);
    return getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &l) == 0 && cpu >= 0 &&
           cpu == sched_getcpu();
}

/* Before a blocking recv: when this thread is the only one of the process waiting for an answer,
 * no other spins and the machine has a core for the HSM, polls the socket (MSG_DONTWAIT) for up
 * to SPIN_NS. Returns recv's result when data (or an error) came, else -2 (block as usual). A
 * connection whose spin found nothing skips spinning for a growing number of answers. */
static ssize_t spin_wait(struct ohsm_conn *c, int fd, char *buf, int len)
{
    if (c->nospin > 0) {
        c->nospin--;
        return -2;
    }
    bool f = false;
    if (atomic_load(&g_waiting) != 1 || !several_cpus() || server_here(fd) ||
        !atomic_compare_exchange_strong(&g_spinning, &f, true)) {
        return -2;
    }
    int64_t end = mono_ns() + SPIN_NS;
    ssize_t n = -2;
    do {
        ssize_t r = recv(fd, buf, (size_t)len, MSG_DONTWAIT);
        if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            n = r;
            break;
        }
    } while (mono_ns() < end && atomic_load(&g_waiting) == 1);
    atomic_store(&g_spinning, false);
    if (n == -2) {
        c->nospin_next = c->nospin_next == 0 ? 1 : c->nospin_next * 2;
        c->nospin = c->nospin_next = c->nospin_next > NOSPIN_MAX ? NOSPIN_MAX : c->nospin_next;
    } else {
        c->nospin_next = 0;
    }
    return n;
}

/* The socket BIO's read, as recv(2): blocking (bounded, see may_block) while read_all reads this
 * connection's answer, else MSG_DONTWAIT. End of stream sets BIO_FLAGS_IN_EOF as OpenSSL's own
 * socket BIO does. */
static int dl_read(BIO *b, char *buf, int len)
{
    int fd = -1;
    if (buf == NULL || len <= 0) {
        return 0;
    }
    if (BIO_get_fd(b, &fd) < 0 || fd < 0) {
        return -1;
    }
    int flags = may_block(tl_reading, fd) ? 0 : MSG_DONTWAIT;
    errno = 0;
    ssize_t n = flags == 0 ? spin_wait(tl_reading, fd, buf, len) : -2;
    if (n == -2) {
        errno = 0;
        n = recv(fd, buf, (size_t)len, flags);
    }
    BIO_clear_retry_flags(b);
    if (n <= 0) {
        if (BIO_sock_should_retry((int)n)) {
            BIO_set_retry_read(b);
        } else if (n == 0) {
            BIO_set_flags(b, BIO_FLAGS_IN_EOF);
        }
    }
    return (int)n;
}

static int nosig_puts(BIO *b, const char *str)
{
    size_t n = strlen(str);
    return nosig_write(b, str, n > INT32_MAX ? INT32_MAX : (int)n);
}

static BIO_METHOD *nosig_method(void)
{
    const BIO_METHOD *sock = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "openhsm socket");
    if (m == NULL || BIO_meth_set_write(m, nosig_write) != 1 ||
        BIO_meth_set_puts(m, nosig_puts) != 1 || BIO_meth_set_read(m, dl_read) != 1 ||
        BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock)) != 1 ||
        BIO_meth_set_create(m, BIO_meth_get_create(sock)) != 1 ||
        BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock)) != 1) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* Non-blocking connect bounded by the deadline; then the socket blocks (see dl_read). */
static ohsm_rv tcp_connect(const struct ohsm_cfg_hsm *e, int64_t deadline, int *out)
{
    struct addrinfo hints;
    struct addrinfo *ai = NULL;
    char port[8];
    ohsm_rv rv = OHSM_NOT_CONNECTED;
    int fd = -1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    (void)snprintf(port, sizeof(port), "%u", e->port);
    if (getaddrinfo(e->host, port, &hints, &ai) != 0 || ai == NULL) {
        return OHSM_CONFIG;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        goto out;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (errno != EINPROGRESS) {
            goto out;
        }
        rv = ohsm_deadline_wait(fd, POLLOUT, deadline);
        if (rv != OHSM_OK) {
            goto out;
        }
        rv = OHSM_NOT_CONNECTED;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            goto out;
        }
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* From now on every write says MSG_DONTWAIT and every read decides (dl_read): the socket
     * itself blocks, so that an answer's recv can wait for it. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        goto out;
    }
    *out = fd;
    fd = -1;
    rv = OHSM_OK;
out:
    if (fd >= 0) {
        close(fd);
    }
    freeaddrinfo(ai);
    return rv;
}

static ohsm_rv hello(struct ohsm_conn *c, const struct ohsm_cfg_hsm *e, int64_t deadline)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__HelloReq h = OHSM__HELLO_REQ__INIT;
    Ohsm__Response *r = NULL;
    ohsm_rv rv;

    h.version = 1;
    q.id = ohsm_conn_next_id(c);
    q.op_case = OHSM__REQUEST__OP_HELLO;
    q.hello = &h;
    OHSM_TRY(ohsm_conn_send(c, &q, deadline));
    OHSM_TRY(ohsm_conn_recv(c, q.id, deadline, &r));
    rv = (ohsm_rv)r->rv;
    if (rv == OHSM_OK && (r->body_case != OHSM__RESPONSE__BODY_HELLO ||
                          (e->id[0] != '\0' && strcmp(r->hello->hsm_id, e->id) != 0))) {
        rv = OHSM_CONFIG; /* another HSM answers at this address */
    }
    if (rv == OHSM_OK && r->hello->slot > OHSM_SLOT_MAX) {
        rv = OHSM_PROTOCOL; /* handles carry the slot in 5 bits */
    }
    if (rv == OHSM_OK) {
        c->slot = r->hello->slot;
    }
    ohsm__response__free_unpacked(r, NULL);
    return rv;
}

ohsm_rv ohsm_conn_open(SSL_CTX *ctx, const struct ohsm_cfg_hsm *e, int timeout_ms,
                       struct ohsm_conn **out)
{
    struct ohsm_conn *c = calloc(1, sizeof(*c));
    ohsm_rv rv;
    X509_VERIFY_PARAM *vp;
    struct in6_addr tmp;
    /* One deadline for the whole connect: TCP, every handshake step, and the hello. */
    const int64_t deadline = ohsm_deadline_in(timeout_ms);

    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    c->fd = -1;
    c->next_id = 1;
    rv = tcp_connect(e, deadline, &c->fd);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = OHSM_TLS;
    c->ssl = SSL_new(ctx);
    c->bio_method = nosig_method();
    BIO *bio = c->bio_method != NULL ? BIO_new(c->bio_method) : NULL;
    if (c->ssl == NULL || bio == NULL) {
        BIO_free(bio);
        goto out;
    }
    BIO_set_fd(bio, c->fd, BIO_NOCLOSE);
    SSL_set_bio(c->ssl, bio, bio); /* the SSL owns the BIO now */
    vp = SSL_get0_param(c->ssl);
    if (inet_pton(AF_INET, e->host, &tmp) == 1 || inet_pton(AF_INET6, e->host, &tmp) == 1) {
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, e->host) != 1) {
            goto out;
        }
    } else if (SSL_set1_host(c->ssl, e->host) != 1 ||
               SSL_set_tlsext_host_name(c->ssl, e->host) != 1) {
        goto out;
    }
    for (;;) {
        int ret = SSL_connect(c->ssl);
        if (ret == 1) {
            break;
        }
        rv = ohsm_deadline_ssl(c->ssl, ret, c->fd, deadline);
        if (rv != OHSM_OK) {
            goto out;
        }
    }
    rv = hello(c, e, deadline);
    if (rv != OHSM_OK) {
        goto out;
    }
    *out = c;
    c = NULL;
out:
    ERR_clear_error();
    ohsm_conn_free(c);
    return rv;
}

/* Hands the oldest deferred request's outcome to the callback and forgets it. */
static void deferred_pop(struct ohsm_conn *c, ohsm_rv rv)
{
    uint64_t tag = c->dq[c->dq_head].tag;
    c->dq_head = (c->dq_head + 1) % OHSM_CONN_DEFERRED_MAX;
    c->dq_n--;
    if (c->on_deferred != NULL) {
        c->on_deferred(c->on_deferred_arg, tag, rv);
    }
}

void ohsm_conn_free(struct ohsm_conn *c)
{
    if (c == NULL) {
        return;
    }
    while (c->dq_n > 0) {
        deferred_pop(c, OHSM_NOT_CONNECTED); /* no answer will come: the outcome is unknown */
    }
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
    }
    BIO_meth_free(c->bio_method);
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->wbuf != NULL) {
        OPENSSL_clear_free(c->wbuf, c->wcap);
    }
    free(c);
}

uint32_t ohsm_conn_slot(const struct ohsm_conn *c)
{
    return c->slot;
}

int ohsm_conn_fd(const struct ohsm_conn *c)
{
    return c->fd;
}

size_t ohsm_conn_queued(const struct ohsm_conn *c)
{
    return c->wlen;
}

uint64_t ohsm_conn_next_id(struct ohsm_conn *c)
{
    return c->next_id++;
}

/* Grows the write buffer to hold need bytes. A plain realloc could leave a copy of queued
 * secrets behind in freed memory, so the old buffer is wiped by hand. */
static ohsm_rv wbuf_reserve(struct ohsm_conn *c, size_t need)
{
    if (need <= c->wcap) {
        return OHSM_OK;
    }
    size_t cap = c->wcap == 0 ? 4096 : c->wcap;
    while (cap < need) {
        cap *= 2;
    }
    uint8_t *p = malloc(cap);
    OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
    if (c->wbuf != NULL) {
        memcpy(p, c->wbuf, c->wlen);
        OPENSSL_clear_free(c->wbuf, c->wcap);
    }
    c->wbuf = p;
    c->wcap = cap;
    return OHSM_OK;
}

ohsm_rv ohsm_conn_flush(struct ohsm_conn *c, int64_t deadline)
{
    size_t written = 0;
    ohsm_rv rv = OHSM_OK;

    if (c->wlen == 0) {
        return OHSM_OK;
    }
    /* Without SSL_MODE_ENABLE_PARTIAL_WRITE a would-block write is retried with the same
     * arguments until all of it is out (SSL_write(3)). */
    for (;;) {
        int ret = SSL_write_ex(c->ssl, c->wbuf, c->wlen, &written);
        if (ret == 1) {
            break;
        }
        rv = ohsm_deadline_ssl(c->ssl, ret, c->fd, deadline);
        if (rv != OHSM_OK) {
            break;
        }
    }
    OPENSSL_cleanse(c->wbuf, c->wlen);
    c->wlen = 0;
    return rv;
}

ohsm_rv ohsm_conn_queue(struct ohsm_conn *c, const Ohsm__Request *q, int64_t deadline)
{
    size_t n = protobuf_c_message_get_packed_size(&q->base);

    /* Requests always carry an op, so they never pack to nothing. */
    OHSM_ENSURE(n > 0 && n <= OHSM_FRAME_MAX, OHSM_DATA_LEN_RANGE);
    if (c->wlen > 0 && c->wlen + OHSM_FRAME_HDR + n > WBUF_FLUSH_AT) {
        OHSM_TRY(ohsm_conn_flush(c, deadline));
    }
    OHSM_TRY(wbuf_reserve(c, c->wlen + OHSM_FRAME_HDR + n));
    OHSM_TRY(ohsm_frame_hdr_write(n, c->wbuf + c->wlen));
    (void)protobuf_c_message_pack(&q->base, c->wbuf + c->wlen + OHSM_FRAME_HDR);
    c->wlen += OHSM_FRAME_HDR + n;
    return OHSM_OK;
}

ohsm_rv ohsm_conn_send(struct ohsm_conn *c, const Ohsm__Request *q, int64_t deadline)
{
    OHSM_TRY(ohsm_conn_queue(c, q, deadline));
    return ohsm_conn_flush(c, deadline);
}

void ohsm_conn_on_deferred(struct ohsm_conn *c, ohsm_conn_deferred_fn fn, void *arg)
{
    c->on_deferred = fn;
    c->on_deferred_arg = arg;
}

size_t ohsm_conn_deferred(const struct ohsm_conn *c)
{
    return c->dq_n;
}

ohsm_rv ohsm_conn_queue_deferred(struct ohsm_conn *c, const Ohsm__Request *q, uint64_t tag,
                                 int64_t deadline)
{
    OHSM_ENSURE(c->dq_n < OHSM_CONN_DEFERRED_MAX, OHSM_BUFFER_TOO_SMALL);
    OHSM_TRY(ohsm_conn_queue(c, q, deadline));
    size_t at = (c->dq_head + c->dq_n) % OHSM_CONN_DEFERRED_MAX;
    c->dq[at].id = q->id;
    c->dq[at].tag = tag;
    c->dq_n++;
    return OHSM_OK;
}

bool ohsm_conn_readable(struct ohsm_conn *c)
{
    if (SSL_has_pending(c->ssl)) {
        return true;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* Reads exactly n bytes. What TLS already holds (read-ahead, see ohsm_conn_ctx) is taken without
 * a system call; otherwise TLS's recv blocks for the answer, no later than the deadline (dl_read),
 * so an answer costs one recv rather than a poll and a read. A recv that timed out (or was
 * interrupted) before the deadline comes back as a would-block: the deadline's poll then waits
 * for what is left of it. */
static ohsm_rv read_all(struct ohsm_conn *c, uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        size_t got = 0;
        c->rd_deadline = deadline;
        tl_reading = c;
        atomic_fetch_add(&g_waiting, 1);
        int ret = SSL_read_ex(c->ssl, p, n, &got);
        atomic_fetch_sub(&g_waiting, 1);
        tl_reading = NULL;
        if (ret == 1) {
            p += got;
            n -= got;
            continue;
        }
        OHSM_TRY(ohsm_deadline_ssl(c->ssl, ret, c->fd, deadline));
    }
    return OHSM_OK;
}

/* One whole frame (the length is checked before anything is allocated); *buf is malloc'd. */
static ohsm_rv read_frame(struct ohsm_conn *c, int64_t deadline, uint8_t **buf, size_t *len)
{
    uint8_t hdr[OHSM_FRAME_HDR];
    uint32_t n = 0;

    OHSM_TRY(read_all(c, hdr, sizeof(hdr), deadline));
    OHSM_TRY(ohsm_frame_hdr_parse(hdr, sizeof(hdr), &n));
    uint8_t *p = malloc(n);
    OHSM_ENSURE(p != NULL, OHSM_HOST_MEMORY);
    ohsm_rv rv = read_all(c, p, n, deadline);
    if (rv != OHSM_OK) {
        OPENSSL_clear_free(p, n);
        return rv;
    }
    *buf = p;
    *len = n;
    return OHSM_OK;
}

ohsm_rv ohsm_conn_recv(struct ohsm_conn *c, uint64_t id, int64_t deadline, Ohsm__Response **out)
{
    for (;;) {
        uint8_t *buf = NULL;
        size_t len = 0;
        Ohsm__Response *r = NULL;
        ohsm_rv rv = read_frame(c, deadline, &buf, &len);

        OHSM_TRY(rv);
        rv = ohsm_wire_resp_decode(buf, len, &r);
        OPENSSL_clear_free(buf, len);
        OHSM_TRY(rv);
        /* Answers come in request order: those of deferred requests sent before this one come
         * first, and go to their callback. */
        if (c->dq_n > 0 && r->id != 0 && r->id == c->dq[c->dq_head].id && r->id != id) {
            ohsm_rv drv = (ohsm_rv)r->rv;
            ohsm_wire_resp_free(r);
            deferred_pop(c, drv);
            continue;
        }
        /* id 0: the HSM refused the connection itself (e.g. no sessions available). */
        if (r->id != id && !(r->id == 0 && r->rv != OHSM_OK)) {
            ohsm__response__free_unpacked(r, NULL);
            return OHSM_PROTOCOL;
        }
        *out = r;
        return OHSM_OK;
    }
}
