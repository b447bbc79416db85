/* SPDX-License-Identifier: Apache-2.0
 *
 * One deadline per request on CLOCK_MONOTONIC, and the poll(2) wait that honours it. Trusts
 * nothing from the peer: only readiness is looked at here, never data.
 */
#include "client/deadline.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <time.h>

#include <openssl/err.h>

int64_t ohsm_deadline_now(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ohsm_deadline_in(int timeout_ms)
{
    return ohsm_deadline_now() + (timeout_ms > 0 ? timeout_ms : 0);
}

int ohsm_deadline_left(int64_t deadline, int64_t now)
{
    if (deadline <= now) {
        return 0;
    }
    int64_t left = deadline - now;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

ohsm_rv ohsm_deadline_wait(int fd, short events, int64_t deadline)
{
    OHSM_ENSURE(fd >= 0, OHSM_NOT_CONNECTED);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int left = ohsm_deadline_left(deadline, ohsm_deadline_now());
        int n = poll(&p, 1, left);
        if (n > 0) {
            return OHSM_OK;
        }
        if (n == 0) {
            return OHSM_TIMEOUT;
        }
        if (errno != EINTR) {
            return OHSM_NOT_CONNECTED;
        }
    }
}

ohsm_rv ohsm_deadline_ssl(SSL *ssl, int ret, int fd, int64_t deadline)
{
    int e = SSL_get_error(ssl, ret);
    int err = errno;
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return ohsm_deadline_wait(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
    }
    /* The socket BIO turns EAGAIN into WANT_*; should one slip through, wait for input (what a
     * client mostly waits for) rather than call a live connection broken. */
    if (e == SSL_ERROR_SYSCALL && (err == EAGAIN || err == EWOULDBLOCK)) {
        return ohsm_deadline_wait(fd, POLLIN, deadline);
    }
    return e == SSL_ERROR_SSL ? OHSM_TLS : OHSM_NOT_CONNECTED;
}
