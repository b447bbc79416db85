/* SPDX-License-Identifier: Apache-2.0
 *
 * Connection handling for openhsm-hsm: accept on the listening socket, one thread per session, a
 * TLS 1.3 handshake with a deadline, then frames in and out until the peer leaves. Everything a
 * peer sends is untrusted: a bad length or a message that does not decode gets one error reply
 * (rv OHSM_PROTOCOL / OHSM_DATA_LEN_RANGE, id 0) and the connection is closed. Sessions beyond
 * max_sessions are answered OHSM_SESSION_COUNT and closed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "hsm/hsm.h"
#include "wire/wire.h"

#define HANDSHAKE_SECONDS 10
/* A session idle this long is closed; clients reconnect on their next call. */
#define IDLE_SECONDS 3600

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

static void serve_session(struct ohsm_hsm *h, SSL *ssl, bool over_limit)
{
    struct ohsm_session s = {false, 0};

    for (;;) {
        uint8_t *buf = NULL;
        size_t len = 0;
        Ohsm__Request *q = NULL;
        struct ohsm_reply r;
        ohsm_rv rv = ohsm_wire_read(ssl, &buf, &len);

        if (rv == OHSM_DATA_LEN_RANGE) {
            send_error(ssl, 0, OHSM_DATA_LEN_RANGE);
            return;
        }
        if (rv != OHSM_OK) {
            return; /* closed, timed out or broken */
        }
        rv = ohsm_wire_req_decode(buf, len, &q);
        OPENSSL_clear_free(buf, len);
        if (rv != OHSM_OK) {
            send_error(ssl, 0, rv);
            return;
        }
        if (over_limit) {
            send_error(ssl, q->id, OHSM_SESSION_COUNT);
            ohsm_wire_req_free(q);
            return;
        }
        ohsm_reply_init(&r, q->id);
        ohsm_dispatch(h, &s, q, &r);
        ohsm_wire_req_free(q);
        rv = ohsm_wire_write(ssl, &r.resp.base);
        ohsm_reply_clear(&r);
        if (rv != OHSM_OK || atomic_load(&h->stopping)) {
            return;
        }
    }
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
