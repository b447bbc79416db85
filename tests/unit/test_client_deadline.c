/* SPDX-License-Identifier: Apache-2.0
 * Client deadlines: the arithmetic (clamped, monotonic), the poll wait (ready data is taken even
 * past the deadline, silence ends at the deadline), and a TLS handshake against a peer that
 * trickles bytes: it ends at the one deadline, however often a byte arrives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "client/deadline.h"

/* left: 0 once passed, exact before, capped at INT32_MAX. */
static void test_client_deadline_left(void **state)
{
    (void)state;
    assert_int_equal(ohsm_deadline_left(100, 100), 0);
    assert_int_equal(ohsm_deadline_left(100, 250), 0);
    assert_int_equal(ohsm_deadline_left(INT64_MIN, INT64_MAX), 0);
    assert_int_equal(ohsm_deadline_left(150, 100), 50);
    assert_int_equal(ohsm_deadline_left(INT64_MAX, 0), INT32_MAX);
}

/* in: now + timeout; a negative timeout is "now"; now never goes back. */
static void test_client_deadline_in(void **state)
{
    (void)state;
    int64_t a = ohsm_deadline_now();
    int64_t d = ohsm_deadline_in(5000);
    int64_t b = ohsm_deadline_now();
    assert_true(b >= a);
    assert_true(d >= a + 5000 && d <= b + 5000);
    assert_true(ohsm_deadline_in(-7) <= ohsm_deadline_now());
}

/* wait: silence ends at the deadline; data already there is reported even past it; a bad fd is
 * not connected. */
static void test_client_deadline_wait(void **state)
{
    int sv[2];
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int64_t t0 = ohsm_deadline_now();
    assert_int_equal(ohsm_deadline_wait(sv[0], POLLIN, t0 + 120), OHSM_TIMEOUT);
    int64_t took = ohsm_deadline_now() - t0;
    assert_true(took >= 119 && took < 1000);
    /* Past deadline, nothing there: at once. */
    t0 = ohsm_deadline_now();
    assert_int_equal(ohsm_deadline_wait(sv[0], POLLIN, t0 - 10), OHSM_TIMEOUT);
    assert_true(ohsm_deadline_now() - t0 < 100);
    /* Past deadline, data there: ready. */
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(ohsm_deadline_wait(sv[0], POLLIN, t0 - 10), OHSM_OK);
    /* Hang-up counts as ready: the read that follows reports it. */
    close(sv[1]);
    char c;
    assert_int_equal(read(sv[0], &c, 1), 1);
    assert_int_equal(ohsm_deadline_wait(sv[0], POLLIN, ohsm_deadline_in(5000)), OHSM_OK);
    close(sv[0]);
    assert_int_equal(ohsm_deadline_wait(-1, POLLIN, ohsm_deadline_in(10)), OHSM_NOT_CONNECTED);
}

struct trickle {
    int fd;
    atomic_bool stop;
    int sent;
};

/* A peer that looks like a TLS server starting a 16 KiB handshake record, one byte per 40 ms. */
static void *trickler(void *p)
{
    struct trickle *t = p;
    static const unsigned char rec[] = {0x16, 0x03, 0x03, 0x40, 0x00};
    struct timespec gap = {0, 40 * 1000 * 1000};
    for (size_t i = 0; !atomic_load(&t->stop) && i < 1000; i++) {
        unsigned char b = i < sizeof(rec) ? rec[i] : 0x02;
        if (send(t->fd, &b, 1, MSG_NOSIGNAL) != 1) {
            break;
        }
        t->sent++;
        nanosleep(&gap, NULL);
    }
    return NULL;
}

/* A handshake with a trickling peer ends at the deadline (300 ms) although a byte arrives every
 * 40 ms (a per-read timeout would never fire). */
static void test_client_deadline_ssl_trickle(void **state)
{
    int sv[2];
    pthread_t th;
    struct trickle t = {.fd = -1, .stop = false, .sent = 0};
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    t.fd = sv[1];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    assert_int_equal(SSL_set_fd(ssl, sv[0]), 1);
    assert_int_equal(pthread_create(&th, NULL, trickler, &t), 0);

    int64_t t0 = ohsm_deadline_now();
    const int64_t deadline = t0 + 300;
    ohsm_rv rv = OHSM_OK;
    int rounds = 0;
    while (rv == OHSM_OK && rounds < 100000) {
        int ret = SSL_connect(ssl);
        assert_int_not_equal(ret, 1);
        rv = ohsm_deadline_ssl(ssl, ret, sv[0], deadline);
        rounds++;
    }
    int64_t took = ohsm_deadline_now() - t0;
    atomic_store(&t.stop, true);
    pthread_join(th, NULL);
    assert_int_equal(rv, OHSM_TIMEOUT);
    assert_true(took >= 299 && took < 1500);
    assert_true(t.sent >= 5); /* bytes did arrive while it waited */
    assert_true(rounds > 2);

    /* A peer that closes: not connected, at once. */
    SSL_free(ssl);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    ssl = SSL_new(ctx);
    assert_int_equal(SSL_set_fd(ssl, sv[0]), 1);
    close(sv[1]);
    t0 = ohsm_deadline_now();
    rv = OHSM_OK;
    for (rounds = 0; rv == OHSM_OK && rounds < 100; rounds++) {
        rv = ohsm_deadline_ssl(ssl, SSL_connect(ssl), sv[0], ohsm_deadline_in(5000));
    }
    assert_int_equal(rv, OHSM_NOT_CONNECTED);
    assert_true(ohsm_deadline_now() - t0 < 1000);
    SSL_free(ssl);
    close(sv[0]);
    SSL_CTX_free(ctx);
}

int main(void)
{
    /* The closed-peer case writes a ClientHello into a closed socket (libopenhsm's own BIO sends
     * with MSG_NOSIGNAL; this bare one does not). */
    (void)signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_deadline_left),
        cmocka_unit_test(test_client_deadline_in),
        cmocka_unit_test(test_client_deadline_wait),
        cmocka_unit_test(test_client_deadline_ssl_trickle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
