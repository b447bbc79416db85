/* SPDX-License-Identifier: Apache-2.0
 *
 * One client connection to one HSM: TCP connect with a deadline, TLS 1.3 with the HSM's
 * certificate verified against the cluster trust anchor and the configured host (IP SAN or DNS
 * name), socket timeouts on every read and write, and a hello that confirms the HSM's identity.
 * Responses are untrusted and validated by the wire decoder.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "client/internal.h"

struct ohsm_conn {
    int fd;
    SSL *ssl;
    uint64_t next_id;
};

ohsm_rv ohsm_conn_ctx(const char *trust_anchor, SSL_CTX **out)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_load_verify_locations(ctx, trust_anchor, NULL) != 1) {
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return OHSM_CONFIG;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    *out = ctx;
    return OHSM_OK;
}

static void set_timeout(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Non-blocking connect bounded by timeout_ms, then back to blocking with socket timeouts. */
static ohsm_rv tcp_connect(const struct ohsm_cfg_hsm *e, int timeout_ms, int *out)
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
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof(err);
        if (errno != EINPROGRESS) {
            goto out;
        }
        int n = poll(&p, 1, timeout_ms);
        if (n == 0) {
            rv = OHSM_TIMEOUT;
            goto out;
        }
        if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            goto out;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        goto out;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    set_timeout(fd, timeout_ms);
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

static ohsm_rv hello(struct ohsm_conn *c, const struct ohsm_cfg_hsm *e)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__HelloReq h = OHSM__HELLO_REQ__INIT;
    Ohsm__Response *r = NULL;
    ohsm_rv rv;

    h.version = 1;
    q.id = ohsm_conn_next_id(c);
    q.op_case = OHSM__REQUEST__OP_HELLO;
    q.hello = &h;
    OHSM_TRY(ohsm_conn_send(c, &q));
    OHSM_TRY(ohsm_conn_recv(c, q.id, &r));
    rv = (ohsm_rv)r->rv;
    if (rv == OHSM_OK && (r->body_case != OHSM__RESPONSE__BODY_HELLO ||
                          (e->id[0] != '\0' && strcmp(r->hello->hsm_id, e->id) != 0))) {
        rv = OHSM_CONFIG; /* another HSM answers at this address */
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

    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    c->fd = -1;
    c->next_id = 1;
    rv = tcp_connect(e, timeout_ms, &c->fd);
    if (rv != OHSM_OK) {
        goto out;
    }
    rv = OHSM_TLS;
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        goto out;
    }
    vp = SSL_get0_param(c->ssl);
    if (inet_pton(AF_INET, e->host, &tmp) == 1 || inet_pton(AF_INET6, e->host, &tmp) == 1) {
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, e->host) != 1) {
            goto out;
        }
    } else if (SSL_set1_host(c->ssl, e->host) != 1 ||
               SSL_set_tlsext_host_name(c->ssl, e->host) != 1) {
        goto out;
    }
    int ret = SSL_connect(c->ssl);
    if (ret != 1) {
        int err = SSL_get_error(c->ssl, ret);
        /* A socket timeout surfaces as WANT_READ/WANT_WRITE on a blocking socket (the BIO
         * treats EAGAIN as retryable), or as SYSCALL with EAGAIN. */
        bool timed_out = err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ||
                         (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
        rv = timed_out                     ? OHSM_TIMEOUT
             : err == SSL_ERROR_SYSCALL    ? OHSM_NOT_CONNECTED
                                           : OHSM_TLS;
        goto out;
    }
    rv = hello(c, e);
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

void ohsm_conn_free(struct ohsm_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c);
}

uint64_t ohsm_conn_next_id(struct ohsm_conn *c)
{
    return c->next_id++;
}

ohsm_rv ohsm_conn_send(struct ohsm_conn *c, const Ohsm__Request *q)
{
    return ohsm_wire_write(c->ssl, &q->base);
}

ohsm_rv ohsm_conn_recv(struct ohsm_conn *c, uint64_t id, Ohsm__Response **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    Ohsm__Response *r = NULL;
    ohsm_rv rv = ohsm_wire_read(c->ssl, &buf, &len);

    if (rv != OHSM_OK) {
        return rv == OHSM_IO ? OHSM_NOT_CONNECTED : rv;
    }
    rv = ohsm_wire_resp_decode(buf, len, &r);
    free(buf);
    OHSM_TRY(rv);
    /* id 0: the HSM refused the connection itself (e.g. no sessions available). */
    if (r->id != id && !(r->id == 0 && r->rv != OHSM_OK)) {
        ohsm__response__free_unpacked(r, NULL);
        return OHSM_PROTOCOL;
    }
    *out = r;
    return OHSM_OK;
}
