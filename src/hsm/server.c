/* SPDX-License-Identifier: Apache-2.0
 *
 * Connection handling for openhsm-hsm: accept on the listening socket, one thread per connection,
 * a TLS 1.3 handshake with a deadline, then frames in and out until the peer leaves. Everything a
 * peer sends is untrusted: a bad length or a message that does not decode gets one error reply
 * (rv OHSM_PROTOCOL / OHSM_DATA_LEN_RANGE, id 0) and the connection is closed.
 *
 * Sessions only for real clients (a flood of idle connections must not lock clients out):
 * - A connection counts against max_sessions only once a user has logged in on it:
 *   ohsm_hsm_session_login takes a slot with a compare-and-increment and refuses a login beyond
 *   the limit with OHSM_SESSION_COUNT; logout or the end of the session gives the slot back.
 * - Until then (in the TLS handshake, or through it without a login: TLS does not authenticate
 *   clients, so anyone gets that far) a connection lives in h->conns (conntab.c), bounded in
 *   total (OHSM_HSM_DEFAULT_UNAUTH, --max-unauth) and per source address
 *   (OHSM_HSM_DEFAULT_UNAUTH_PER_SOURCE, --max-unauth-per-source). A bound reached never refuses
 *   the newcomer, as a flood and a real client may share an address: the least recently active
 *   idle connection of that source (for the total: of the source holding the most) is evicted
 *   instead, so a fresh client always gets in and can log in at once.
 * - Deadlines: HANDSHAKE_MS for the whole handshake (a peer trickling bytes does not extend it);
 *   LOGIN_IDLE_MS of idleness after it without a login (after step 1 of an MFA login: until the
 *   token expires, as its user signs it meanwhile); IDLE_SECONDS for logged-in sessions, as
 *   before. A session that logs out goes back into the table. Clients reconnect on their next
 *   call (libopenhsm checks an idle connection before using it).
 * - The accept thread evicts and expires connections with shutdown(fd, SHUT_RDWR), which wakes
 *   their thread out of its blocking read. It does so under h->conn_lock, and a thread leaves the
 *   table under that lock before closing its descriptor, so a shutdown never hits a reused one.
 * - Threads: at most max_sessions + the table's total + those evicted and not yet gone (they wake
 *   at once). Past that bound plus THREADS_SLACK the accept thread stops accepting until some
 *   exit (the kernel's backlog waits); main.c raises RLIMIT_NOFILE to match.
 *
 * Pipelining: a client may send many requests before reading. The connection reads ahead (one
 * read(2) takes whatever has arrived, up to a TLS buffer: a request, or many pipelined ones,
 * rather than a read per record header and one per body). While more request bytes are already
 * in that buffer, responses are appended to an output buffer instead of written one by one; the
 * buffer goes out in one SSL_write when the buffer is drained, it passes OUT_FLUSH, or its oldest
 * response has waited OUT_FLUSH_US (slow operations: see there). Responses stay in request order.
 * Whether more input waits is asked of TLS only, without a system call: a lone request (the
 * common case) costs one read and one write, and a pipeline's responses go out once per read (or
 * per OUT_FLUSH_US). The output buffer may hold plaintexts (decrypt): it is wiped after every
 * write.
 *
 * Lone clients: after answering, a connection thread would sleep in read(2) until the next
 * request, and on a virtual machine the wake-up costs more than a fast operation. When its
 * connection is the only one in use (no other served a request between its last two requests or
 * since, none works on one now), the thread polls its socket for up to SPIN_US before it blocks
 * (spin_for_next); one whose spins find nothing backs off. With several busy connections nobody
 * spins: the cores are better spent on their requests.
 *
 * Busy clients on this host: a connection thread serving a loopback peer alongside other busy
 * connections runs on the CPU its requests arrive on, so each client thread and its HSM thread
 * wake each other on one CPU (affinity.h); it is unpinned again when its connection is lone.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "hsm/affinity.h"
#include "hsm/auditlog.h"
#include "hsm/conntab.h"
#include "hsm/handlers.h"
#include "hsm/hsm.h"
#include "openhsm/frame.h"
#include "wire/wire.h"

/* An unfinished TLS handshake is closed this long after the connection was accepted. */
#define HANDSHAKE_MS 3000
/* Through the handshake without a login: closed after this long without a request. */
#define LOGIN_IDLE_MS 20000
/* A logged-in session idle this long is closed; clients reconnect on their next call. */
#define IDLE_SECONDS 3600
/* How often the accept thread looks for expired connections. */
#define REAP_MS 200
/* Threads beyond max_sessions + the table's total: evicted connections not yet gone. */
#define THREADS_SLACK 64
/* Coalesced responses are written once they reach this size... */
#define OUT_FLUSH (64 * 1024)
/* ...or once the oldest has waited this long: a client keeping a window of pipelined requests
 * full gets answers (and sends more) while the HSM works on the rest, instead of the HSM going
 * idle after a whole window while the client catches up. */
#define OUT_FLUSH_US 100
/* spin_for_next: how long, and the longest back-off (requests) after fruitless spins. */
#define SPIN_US 50
#define NOSPIN_MAX 64u

/* Connection threads working on a request now (this process is one HSM), whether one spins, and
 * requests served (all connections): a connection whose last request was the last one served is
 * the only one in use. */
static atomic_int g_working;
static atomic_bool g_spinning;
static atomic_uint_fast64_t g_served;

struct conn {
    struct ohsm_hsm *h;
    int fd;
    uint64_t id; /* its entry in h->conns while not logged in; 0: none (logged in, or evicted) */
    long rcv_ms; /* the socket's read timeout now */
    uint8_t src[OHSM_CONNTAB_SRC_LEN];
};

static void set_timeout_ms(int fd, long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static uint64_t now_us(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_lock(struct ohsm_hsm *h)
{
    (void)pthread_mutex_lock(&h->conn_lock);
}

static void conn_unlock(struct ohsm_hsm *h)
{
    (void)pthread_mutex_unlock(&h->conn_lock);
}

/* Wakes and ends a connection's thread. Caller holds conn_lock, and fd left the table under it
 * just now: its thread closes it only after leaving the table, so it is still that connection's. */
static void kick(int fd)
{
    if (fd >= 0) {
        (void)shutdown(fd, SHUT_RDWR);
    }
}

static void conn_timeout(struct conn *c, long ms)
{
    if (c->rcv_ms != ms) {
        set_timeout_ms(c->fd, ms);
        c->rcv_ms = ms;
    }
}

/* A request starts (busy) or ended on a connection without a login. */
static void conn_touch(struct conn *c, bool busy, uint64_t until)
{
    if (c->id == 0) {
        return;
    }
    conn_lock(c->h);
    if (!ohsm_conntab_touch(c->h->conns, c->id, busy, now_ms(), until)) {
        c->id = 0; /* evicted or expired: its socket is shut down and the next read ends it */
    }
    conn_unlock(c->h);
}

/* A request ended on a connection without a login. After step 1 of an MFA login the user signs
 * the token, which may take minutes (openhsm-cli waits for the signed file): the connection, which
 * holds the token, is kept until the token expires instead of LOGIN_IDLE_MS. */
static void conn_idle(struct conn *c, const struct ohsm_session *s)
{
    long ms = LOGIN_IDLE_MS;
    uint64_t until = 0;
    if (s->mfa.kind == OHSM_MFA_LOGIN) {
        uint64_t wall = ohsm_hsm_now(c->h);
        uint64_t left = s->mfa.expires > wall ? (s->mfa.expires - wall) * 1000u : 0;
        if (left > (uint64_t)ms) {
            ms = (long)left;
            until = now_ms() + left;
        }
    }
    conn_touch(c, false, until);
    conn_timeout(c, ms);
}

/* A user logged in: the connection leaves the table and gets the session idle limit. */
static void conn_logged_in(struct conn *c)
{
    conn_lock(c->h);
    ohsm_conntab_remove(c->h->conns, c->id);
    conn_unlock(c->h);
    c->id = 0;
    conn_timeout(c, IDLE_SECONDS * 1000L);
}

/* The session logged out (or its user was deleted): back into the table, like a newcomer. */
static void conn_logged_out(struct conn *c)
{
    int victim = -1;
    conn_lock(c->h);
    ohsm_conntab_admit(c->h->conns, c->src, c->fd, true, now_ms(), &c->id, &victim);
    kick(victim);
    conn_unlock(c->h);
    conn_timeout(c, LOGIN_IDLE_MS);
}

static void send_error(SSL *ssl, uint64_t id, ohsm_rv rv)
{
    Ohsm__Response resp = OHSM__RESPONSE__INIT;
    resp.id = id;
    resp.rv = (uint32_t)rv;
    if (ohsm_wire_write(ssl, &resp.base) != OHSM_OK) {
        return; /* the peer is gone; the caller closes the session either way */
    }
}

/* Responses waiting to be written. */
struct outbuf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

static void out_wipe(struct outbuf *o)
{
    if (o->p != NULL) {
        OPENSSL_cleanse(o->p, o->len);
    }
    o->len = 0;
}

/* Appends one response frame. */
static ohsm_rv out_append(struct outbuf *o, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    OHSM_ENSURE(n > 0 && n <= OHSM_FRAME_MAX, OHSM_DATA_LEN_RANGE);
    size_t need = o->len + OHSM_FRAME_HDR + n;
    if (need > o->cap) {
        size_t ncap = o->cap == 0 ? 16384 : o->cap;
        while (ncap < need) {
            ncap *= 2;
        }
        /* Not realloc: the old buffer may hold plaintexts and must be wiped. */
        uint8_t *np = malloc(ncap);
        OHSM_ENSURE(np != NULL, OHSM_HOST_MEMORY);
        if (o->len > 0) {
            memcpy(np, o->p, o->len);
        }
        if (o->p != NULL) {
            OPENSSL_clear_free(o->p, o->cap);
        }
        o->p = np;
        o->cap = ncap;
    }
    OHSM_TRY(ohsm_frame_hdr_write(n, o->p + o->len));
    (void)protobuf_c_message_pack(msg, o->p + o->len + OHSM_FRAME_HDR);
    o->len = need;
    return OHSM_OK;
}

static ohsm_rv out_flush(SSL *ssl, struct outbuf *o)
{
    size_t written = 0;
    ohsm_rv rv = OHSM_OK;
    if (o->len > 0 && SSL_write_ex(ssl, o->p, o->len, &written) != 1) {
        ERR_clear_error();
        rv = OHSM_IO;
    }
    out_wipe(o);
    return rv;
}

struct spin {
    uint32_t skip, next; /* requests to wait for without spinning; the next back-off */
    uint64_t mine;       /* g_served after this connection's last request */
    bool lone;           /* no other connection served a request between its last two */
};

static bool several_cpus(void)
{
    static atomic_int n; /* 0: not asked yet */
    int v = atomic_load(&n);
    if (v == 0) {
        v = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
        atomic_store(&n, v);
    }
    return v > 1;
}

/* Before the blocking read of the next request: when nothing is buffered, no other connection
 * thread works on a request and none spins, polls the socket for up to SPIN_US (stopping as soon
 * as another thread gets work), so a lone client's next request, which follows its answer within
 * microseconds, finds this thread awake. */
static void spin_for_next(struct conn *c, SSL *ssl, struct spin *sp)
{
    if (SSL_has_pending(ssl) == 1) {
        return;
    }
    if (sp->skip > 0) {
        sp->skip--;
        return;
    }
    bool f = false;
    if (!sp->lone || atomic_load(&g_served) != sp->mine || atomic_load(&g_working) != 0 ||
        !several_cpus() || !atomic_compare_exchange_strong(&g_spinning, &f, true)) {
        return;
    }
    uint64_t end = now_us() + SPIN_US;
    bool got = false;
    do {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        got = poll(&p, 1, 0) != 0; /* readable, closed or failed: the read sees which */
    } while (!got && now_us() < end && atomic_load(&g_working) == 0);
    atomic_store(&g_spinning, false);
    if (got) {
        sp->next = 0;
    } else {
        sp->next = sp->next == 0 ? 1 : sp->next * 2 > NOSPIN_MAX ? NOSPIN_MAX : sp->next * 2;
        sp->skip = sp->next;
    }
}

/* Are more request bytes here already (decrypted, or read ahead and not yet processed), so that
 * answering can wait for them? No system call: what is still in the socket is taken by the next
 * read, after this batch's responses went out. */
static bool more_input(SSL *ssl)
{
    return SSL_has_pending(ssl) == 1;
}

static void serve_session(struct conn *c, SSL *ssl)
{
    struct ohsm_affinity aff;
    ohsm_affinity_init(&aff, c->src);
    struct ohsm_hsm *h = c->h;
    struct ohsm_session s;
    struct outbuf out = {NULL, 0, 0};
    uint64_t held_since = 0; /* when the oldest response in out was held back; 0: none */
    struct spin sp = {0, 0, 0, false};

    ohsm_session_init(h, &s);
    for (;;) {
        uint8_t *buf = NULL;
        size_t len = 0;
        Ohsm__Request *q = NULL;
        struct ohsm_reply r;
        if (s.logged_in && aff.pinned < 0) {
            spin_for_next(c, ssl, &sp);
        }
        /* A request already read with the one before it (the rest of a pipelined burst) came
         * from the same CPU and says nothing about other connections: only a request this thread
         * waited for moves the affinity or the lone test. */
        bool waited = !more_input(ssl);
        ohsm_rv rv = ohsm_wire_read(ssl, &buf, &len);
        int working = atomic_fetch_add(&g_working, 1) + 1;
        if (rv == OHSM_OK && waited) {
            /* A session logged out is no busy client's: unpinned like a lone one. */
            ohsm_affinity_follow(&aff, c->fd, sp.lone || !s.logged_in, working);
        }

        if (rv == OHSM_DATA_LEN_RANGE) {
            atomic_fetch_sub(&g_working, 1);
            (void)out_flush(ssl, &out);
            send_error(ssl, 0, OHSM_DATA_LEN_RANGE);
            break;
        }
        if (rv != OHSM_OK) {
            atomic_fetch_sub(&g_working, 1);
            break; /* closed, timed out, evicted or broken */
        }
        rv = ohsm_wire_req_decode(buf, len, &q);
        OPENSSL_clear_free(buf, len);
        if (rv != OHSM_OK) {
            atomic_fetch_sub(&g_working, 1);
            (void)out_flush(ssl, &out);
            send_error(ssl, 0, rv);
            break;
        }
        /* Logged-in sessions (the hot path) touch no shared state here. */
        bool was = s.logged_in;
        if (!was) {
            conn_touch(c, true, 0);
        }
        ohsm_reply_init(&r, q->id);
        ohsm_dispatch(h, &s, q, &r);
        ohsm_wire_req_free(q);
        if (s.logged_in && !was) {
            conn_logged_in(c);
        } else if (!s.logged_in && was) {
            conn_logged_out(c);
        } else if (!was) {
            conn_idle(c, &s);
        }
        rv = out_append(&out, &r.resp.base);
        if (rv == OHSM_DATA_LEN_RANGE) {
            /* The answer does not fit a frame: say so instead. */
            Ohsm__Response e = OHSM__RESPONSE__INIT;
            e.id = r.resp.id;
            e.rv = (uint32_t)OHSM_DATA_LEN_RANGE;
            rv = out_append(&out, &e.base);
        }
        ohsm_reply_clear(&r);
        if (rv == OHSM_OK) {
            bool flush = out.len >= OUT_FLUSH || !more_input(ssl);
            if (!flush) {
                uint64_t t = now_us();
                held_since = held_since == 0 ? t : held_since;
                flush = t - held_since >= OUT_FLUSH_US;
            }
            if (flush) {
                rv = out_flush(ssl, &out);
                held_since = 0;
            }
        }
        uint64_t served = atomic_fetch_add(&g_served, 1) + 1;
        if (waited) {
            sp.lone = served == sp.mine + 1;
        }
        sp.mine = served;
        atomic_fetch_sub(&g_working, 1);
        if (rv != OHSM_OK || atomic_load(&h->stopping)) {
            break;
        }
    }
    (void)out_flush(ssl, &out);
    if (out.p != NULL) {
        OPENSSL_clear_free(out.p, out.cap);
    }
    ohsm_hsm_audit_session_end(h, &s);
    ohsm_session_end(h, &s);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct ohsm_hsm *h = c->h;
    SSL *ssl = SSL_new(h->tls);

    /* The accept thread also ends the handshake at its deadline (a trickling peer resets this
     * per-read timeout, not that). */
    conn_timeout(c, HANDSHAKE_MS);
    if (ssl != NULL) {
        SSL_set_read_ahead(ssl, 1); /* see "Pipelining" above */
    }
    if (ssl != NULL && SSL_set_fd(ssl, c->fd) == 1 && SSL_accept(ssl) == 1) {
        conn_touch(c, false, 0); /* through the handshake: the idle limit runs from now */
        if (c->id != 0) {
            conn_timeout(c, LOGIN_IDLE_MS);
            serve_session(c, ssl);
        }
        (void)SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    /* Leave the table before closing: see kick(). */
    conn_lock(h);
    ohsm_conntab_remove(h->conns, c->id);
    conn_unlock(h);
    close(c->fd);
    free(c);
    atomic_fetch_sub(&h->threads, 1);
    OPENSSL_thread_stop();
    return NULL;
}

/* The peer's address as a table key: IPv6 as is, IPv4 as ::ffff:a.b.c.d. */
static void source_of(const struct sockaddr_storage *sa, uint8_t src[OHSM_CONNTAB_SRC_LEN])
{
    memset(src, 0, OHSM_CONNTAB_SRC_LEN);
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        src[10] = 0xff;
        src[11] = 0xff;
        memcpy(src + 12, &a->sin_addr, 4);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        memcpy(src, &a->sin6_addr, OHSM_CONNTAB_SRC_LEN);
    }
}

static void spawn(struct ohsm_hsm *h, int fd, const struct sockaddr_storage *sa)
{
    pthread_attr_t attr;
    pthread_t t;
    struct conn *c = calloc(1, sizeof(*c));
    int one = 1;
    int victim = -1;

    if (c == NULL) {
        close(fd);
        return;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->h = h;
    c->fd = fd;
    source_of(sa, c->src);
    conn_lock(h);
    ohsm_conntab_admit(h->conns, c->src, fd, false, now_ms(), &c->id, &victim);
    kick(victim);
    conn_unlock(h);
    atomic_fetch_add(&h->threads, 1);
    if (pthread_attr_init(&attr) != 0) {
        goto fail;
    }
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    (void)pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&t, &attr, conn_main, c) != 0) {
        pthread_attr_destroy(&attr);
        goto fail;
    }
    pthread_attr_destroy(&attr);
    return;
fail:
    conn_lock(h);
    ohsm_conntab_remove(h->conns, c->id);
    conn_unlock(h);
    atomic_fetch_sub(&h->threads, 1);
    close(fd);
    free(c);
}

/* Ends connections past their deadline (handshake or idle without a login). */
static void reap(struct ohsm_hsm *h)
{
    int fds[64];
    size_t n;
    conn_lock(h);
    do {
        n = ohsm_conntab_expire(h->conns, now_ms(), fds, sizeof(fds) / sizeof(fds[0]));
        for (size_t i = 0; i < n; i++) {
            kick(fds[i]);
        }
    } while (n == sizeof(fds) / sizeof(fds[0]));
    conn_unlock(h);
}

static ohsm_rv conns_setup(struct ohsm_hsm *h)
{
    struct ohsm_conntab_limits lim = {
        .total = h->unauth_max != 0 ? h->unauth_max : OHSM_HSM_DEFAULT_UNAUTH,
        .per_source =
            h->unauth_per_source != 0 ? h->unauth_per_source : OHSM_HSM_DEFAULT_UNAUTH_PER_SOURCE,
        .handshake_ms = HANDSHAKE_MS,
        .idle_ms = LOGIN_IDLE_MS,
    };
    OHSM_ENSURE(h->conns == NULL, OHSM_ARGUMENTS_BAD);
    if (lim.per_source > lim.total) {
        lim.per_source = lim.total;
    }
    OHSM_ENSURE(pthread_mutex_init(&h->conn_lock, NULL) == 0, OHSM_HOST_MEMORY);
    return ohsm_conntab_new(&lim, &h->conns);
}

uint32_t ohsm_hsm_thread_cap(const struct ohsm_hsm *h)
{
    uint32_t unauth = h->unauth_max != 0 ? h->unauth_max : OHSM_HSM_DEFAULT_UNAUTH;
    return h->max_sessions + unauth + THREADS_SLACK;
}

ohsm_rv ohsm_hsm_serve(struct ohsm_hsm *h, int lfd, int stop_fd)
{
    uint64_t next_reap = 0;

    /* Not freed on return: detached connection threads may still use the table (the process
     * exits after this). */
    OHSM_TRY(conns_setup(h));
    const uint32_t cap = ohsm_hsm_thread_cap(h);
    for (;;) {
        bool room = atomic_load(&h->threads) < cap;
        /* Without room, lfd is left out (-1 is ignored) and the loop wakes soon to look again. */
        struct pollfd p[2] = {{.fd = stop_fd, .events = POLLIN},
                              {.fd = room ? lfd : -1, .events = POLLIN}};
        int n = poll(p, 2, room ? REAP_MS : 10);
        if (n < 0 && errno != EINTR) {
            return OHSM_IO;
        }
        if (n > 0 && p[0].revents != 0) {
            atomic_store(&h->stopping, true);
            return OHSM_OK;
        }
        uint64_t now = now_ms();
        if (now >= next_reap) {
            reap(h);
            ohsm_auditlog_flush_due(h->audit); /* records of session keys reach the file */
            next_reap = now + REAP_MS;
        }
        if (n > 0 && (p[1].revents & POLLIN) != 0) {
            struct sockaddr_storage sa;
            socklen_t sl = sizeof(sa);
            memset(&sa, 0, sizeof(sa));
            int fd = accept4(lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
            if (fd >= 0) {
                spawn(h, fd, &sa);
            } else if (errno == EMFILE || errno == ENFILE) {
                (void)poll(NULL, 0, 100); /* out of descriptors: back off instead of spinning */
            }
        }
    }
}
