/* SPDX-License-Identifier: Apache-2.0
 *
 * Deadlines for client I/O. Every request (and every connect: TCP, TLS handshake and hello) gets
 * ONE absolute deadline on CLOCK_MONOTONIC, computed once; each read, write and handshake step on
 * the connection's non-blocking socket waits in poll(2) only when it would block, for at most
 * what is left of that deadline. A peer that trickles one byte at a time
 * therefore costs at most the configured timeout (a per-read socket timeout would restart with
 * every byte). Thread-safe (no state).
 */
#ifndef OHSM_CLIENT_DEADLINE_H
#define OHSM_CLIENT_DEADLINE_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "openhsm/rv.h"

/* Now, in milliseconds on CLOCK_MONOTONIC (never jumps with the wall clock). */
int64_t ohsm_deadline_now(void);
/* The deadline timeout_ms from now (negative timeouts count as 0). */
int64_t ohsm_deadline_in(int timeout_ms);
/* Milliseconds left until deadline as seen at now: 0 when it has passed, at most INT32_MAX. */
int ohsm_deadline_left(int64_t deadline, int64_t now);

/* Waits until fd is ready for events (POLLIN and/or POLLOUT), or the deadline passes. A deadline
 * already past still checks readiness once (data that is already there is never refused).
 * Signals (EINTR) do not extend the wait. Error and hang-up conditions count as ready: the next
 * read or write reports them. Errors: OHSM_TIMEOUT, OHSM_NOT_CONNECTED (poll failed). */
OHSM_NODISCARD ohsm_rv ohsm_deadline_wait(int fd, short events, int64_t deadline);

/* After an SSL call (SSL_connect, SSL_read_ex, SSL_write_ex) on ssl, whose socket fd is
 * non-blocking, returned ret != 1: OHSM_OK when the call only wanted I/O and fd became ready
 * before the deadline (call it again with the same arguments); else why it failed:
 * OHSM_TIMEOUT, OHSM_TLS (protocol or certificate failure), OHSM_NOT_CONNECTED (closed, reset).
 * The thread's OpenSSL error queue is cleared on failure. */
OHSM_NODISCARD ohsm_rv ohsm_deadline_ssl(SSL *ssl, int ret, int fd, int64_t deadline);

#endif
