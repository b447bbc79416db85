/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm internals shared by its modules: the parsed config and one TLS connection to an HSM.
 */
#ifndef OHSM_CLIENT_INTERNAL_H
#define OHSM_CLIENT_INTERNAL_H

#include <openssl/ssl.h>

#include "openhsm/client.h"
#include "wire/wire.h"

struct ohsm_cfg_hsm {
    char id[32];
    char host[64];
    uint16_t port;
};

struct ohsm_cfg {
    char cluster_id[32];
    char trust_anchor[512];
    int timeout_ms;
    size_t n;
    struct ohsm_cfg_hsm *hsms;
};

struct ohsm_conn;

/* A TLS 1.3 client context trusting only the cluster's trust anchor. */
OHSM_NODISCARD ohsm_rv ohsm_conn_ctx(const char *trust_anchor, SSL_CTX **out);
/* Connects, verifies the HSM's certificate (chain to the anchor, and the host name or IP), and
 * says hello; an HSM whose id differs from the config's is refused (OHSM_CONFIG). */
OHSM_NODISCARD ohsm_rv ohsm_conn_open(SSL_CTX *ctx, const struct ohsm_cfg_hsm *e, int timeout_ms,
                                      struct ohsm_conn **out);
void ohsm_conn_free(struct ohsm_conn *c); /* NULL ok */
OHSM_NODISCARD ohsm_rv ohsm_conn_send(struct ohsm_conn *c, const Ohsm__Request *q);
/* Reads the response to request id. */
OHSM_NODISCARD ohsm_rv ohsm_conn_recv(struct ohsm_conn *c, uint64_t id, Ohsm__Response **out);
/* Monotonic request ids for this connection. */
uint64_t ohsm_conn_next_id(struct ohsm_conn *c);

#endif
