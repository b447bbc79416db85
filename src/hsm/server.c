/* SPDX-License-Identifier: Apache-2.0
 *
 * Connection handling for openhsm-hsm: accept on the listening socket, one thread per session, a
 * TLS 1.3 handshake with a deadline, then frames in and out until the peer leaves. Everything a
 * peer sends is untrusted: a bad length or a message that does not decode gets one error reply
 * (rv OHSM_PROTOCOL / OHSM_DATA_LEN_RANGE, id 0) and the connection is closed. Sessions beyond
 * max_sessions are answered OHSM_SESSION_COUNT and closed.
 *
 * Pipelining: a client may send many requests before reading. While more request bytes are
 * already here (buffered in TLS, or readable on the socket right now), responses are appended to
 * an output buffer instead of written one by one; the buffer goes out in one SSL_write when the
 * input is drained or it passes OUT_FLUSH. Responses stay in request order. The buffer may hold
 * plaintexts (decrypt): it is wiped after every write.
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
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "hsm/hsm.h"
#include "openhsm/frame.h"
#include "wire/wire.h"

#define HANDSHAKE_SECONDS 10
/* A session idle this long is closed; clients reconnect on their next call. */
#define IDLE_SECONDS 3600
/* Coalesced responses are written once they reach this size. */
#define OUT_FLUSH (64 * 1024)

struct conn {
    struct ohsm_hsm *h;
    int fd;
    bool over_limit;
};

static void set_timeout(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
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

/* Are more request bytes here already, so that answering can wait for them? */
static bool more_input(SSL *ssl)
{
    if (SSL_pending(ssl) > 0) {
        return true;
    }
    struct pollfd p = {.fd = SSL_get_fd(ssl), .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

static void serve_session(struct ohsm_hsm *h, SSL *ssl, bool over_limit)
{
    struct ohsm_session s;
    struct outbuf out = {NULL, 0, 0};

    ohsm_session_init(h, &s);
    for (;;) {
        uint8_t *buf = NULL;
        size_t len = 0;
        Ohsm__Request *q = NULL;
        struct ohsm_reply r;
        ohsm_rv rv = ohsm_wire_read(ssl, &buf, &len);

        if (rv == OHSM_DATA_LEN_RANGE) {
            (void)out_flush(ssl, &out);
            send_error(ssl, 0, OHSM_DATA_LEN_RANGE);
            break;
        }
        if (rv != OHSM_OK) {
            break; /* closed, timed out or broken */
        }
        rv = ohsm_wire_req_decode(buf, len, &q);
        OPENSSL_clear_free(buf, len);
        if (rv != OHSM_OK) {
            (void)out_flush(ssl, &out);
            send_error(ssl, 0, rv);
            break;
        }
        if (over_limit) {
            send_error(ssl, q->id, OHSM_SESSION_COUNT);
            ohsm_wire_req_free(q);
            break;
        }
        ohsm_reply_init(&r, q->id);
        ohsm_dispatch(h, &s, q, &r);
        ohsm_wire_req_free(q);
        rv = out_append(&out, &r.resp.base);
        if (rv == OHSM_DATA_LEN_RANGE) {
            /* The answer does not fit a frame: say so instead. */
            Ohsm__Response e = OHSM__RESPONSE__INIT;
            e.id = r.resp.id;
            e.rv = (uint32_t)OHSM_DATA_LEN_RANGE;
            rv = out_append(&out, &e.base);
        }
        ohsm_reply_clear(&r);
        if (rv == OHSM_OK && (out.len >= OUT_FLUSH || !more_input(ssl))) {
            rv = out_flush(ssl, &out);
        }
        if (rv != OHSM_OK || atomic_load(&h->stopping)) {
            break;
        }
    }
    (void)out_flush(ssl, &out);
    if (out.p != NULL) {
        OPENSSL_clear_free(out.p, out.cap);
    }
    ohsm_session_end(h, &s);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct ohsm_hsm *h = c->h;
    SSL *ssl = SSL_new(h->tls);

    set_timeout(c->fd, HANDSHAKE_SECONDS);
    if (ssl != NULL && SSL_set_fd(ssl, c->fd) == 1 && SSL_accept(ssl) == 1) {
        set_timeout(c->fd, IDLE_SECONDS);
        serve_session(h, ssl, c->over_limit);
        (void)SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(c->fd);
    atomic_fetch_sub(&h->sessions, 1);
    free(c);
    OPENSSL_thread_stop();
    return NULL;
}

static void spawn(struct ohsm_hsm *h, int fd)
{
    pthread_attr_t attr;
    pthread_t t;
    struct conn *c = calloc(1, sizeof(*c));
    int one = 1;

    if (c == NULL) {
        close(fd);
        return;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->h = h;
    c->fd = fd;
    /* Counted before the handshake so that a flood of half-open connections is bounded too. */
    c->over_limit = atomic_fetch_add(&h->sessions, 1) >= h->max_sessions;
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
    atomic_fetch_sub(&h->sessions, 1);
    close(fd);
    free(c);
}

ohsm_rv ohsm_hsm_serve(struct ohsm_hsm *h, int lfd, int stop_fd)
{
    struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};

    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return OHSM_IO;
        }
        if (p[1].revents != 0) {
            atomic_store(&h->stopping, true);
            return OHSM_OK;
        }
        if (p[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                spawn(h, fd);
            } else if (errno == EMFILE || errno == ENFILE) {
                (void)poll(NULL, 0, 100); /* out of descriptors: back off instead of spinning */
            }
        }
    }
}
